/*
 * engine.h - bulwark-siege's event loop: one thread, one epoll set, every
 * simulated client (bots and legitimate users) as a small state machine.
 *
 * Owns: the client connections (a slot array reused through a free list,
 * each with its own read buffer), the timer heap (request timeouts, slow
 * scenarios' byte ticks, users' think times), and the per-scenario run-time
 * state (pacer, address pool, idle keep-alive bots, the legit population).
 * It writes only the results part of each sg_scenario (tot, latency,
 * timeline).  Requests (bytes on the wire) are built by request.c.
 */
#ifndef SG_ENGINE_H
#define SG_ENGINE_H

#include <stdbool.h>

#include "siege.h"

typedef struct sg_engine_opts {
    bool quiet;          /* no progress line on stderr */
    bool rst_bots;       /* bots close with RST (no TIME_WAIT pile-up on our side) */
} sg_engine_opts;

/*
 * Run every scenario of r to the end of the run (r->nsec seconds from the
 * next whole unix second, which becomes r->t0_unix), then drain in-flight
 * requests for up to r->timeout_ms and close everything.  The timelines must
 * be allocated.  Returns 0, or -1 with a message on stderr if the run could
 * not start (bad target address, no epoll).
 */
int sg_engine_run(sg_run *r, const sg_engine_opts *o);

#endif
