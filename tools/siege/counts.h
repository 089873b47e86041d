/*
 * counts.h - what really reached the origin: bulwark-siege asks the origin
 * probe (tools/probe) for its per-second arrival counts and files them under
 * the scenarios whose addresses they came from.
 *
 * The probe answers GET /__probe/counts?from=U1&to=U2 with lines
 * "UNIXSECOND OCTET COUNT" (OCTET = second octet of the client address it
 * saw in X-Forwarded-For).  A scenario owns the octets octet_lo..octet_hi
 * (siege.h); arrivals after the run's last second (late answers) are filed
 * under the last second.
 */
#ifndef SG_COUNTS_H
#define SG_COUNTS_H

#include <stddef.h>

#include "siege.h"

/* Parse one counts body into r's timelines and totals (reached starts at 0
 * for every scenario).  Returns the number of lines used, or -1 on a
 * malformed line. */
int sg_counts_apply(sg_run *r, const char *body, size_t len);

/* Fetch from r->probe and apply.  0, or -1 with a message on stderr (the
 * scenarios' reached then stays -1: unknown, never a guess). */
int sg_counts_fetch(sg_run *r);

#endif
