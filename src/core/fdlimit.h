/*
 * fdlimit.h - every client costs a file descriptor: raise the soft
 * RLIMIT_NOFILE to the hard limit (Debian's soft default of 1024 would cap
 * a server at a thousand clients).  Used by bulwark and by the tools that
 * hold as many connections (bulwark-probe, bulwark-siege); each says in its
 * own words what a low limit means for it.
 */
#ifndef BW_CORE_FDLIMIT_H
#define BW_CORE_FDLIMIT_H

#include <stdint.h>

/* Raise the soft limit to the hard one.  Returns the soft limit now in
 * force (UINT64_MAX: unlimited, or unknown). */
uint64_t bw_fd_limit_raise(void);

#endif
