/* version.h - the release version, shown by -v, /metrics and the stats API. */
#ifndef BW_CORE_VERSION_H
#define BW_CORE_VERSION_H

#define BW_VERSION "0.1.0"

#endif
