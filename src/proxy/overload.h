/*
 * overload.h - is this worker keeping up?  One worker's view of its own load.
 *
 * The signal is the time a client waited in the kernel before the worker
 * got to it: a freshly accepted connection's time in the accept queue, or
 * the age of a new request's bytes on a keep-alive connection (both read
 * from TCP_INFO's last_data_recv, one getsockopt at most every 100 ms).
 * A worker that keeps up reads everything within a loop round, a
 * millisecond or two; one that is saturated lets the queues grow.  CPU
 * busy time would not tell the two apart: a worker can be 100 % busy and
 * still answer at once.
 *
 * Levels, in the order the worker degrades (docs/LIMITS.md):
 *   0  normal
 *   1  a wait of overload_wait or more: visitors without a clearance token
 *      are challenged (cheaper than proxying, and it keeps the origin out of it)
 *   2  a wait of 4x that, or level 1 still not enough after a second:
 *      visitors without a clearance token get a fast 503 with Retry-After
 * A level holds for at least BW_OVERLOAD_HOLD_MS after the last sample that
 * called for it, and falls back to 0 when no sample has come for longer.
 *
 * Pure state, owned by one worker: no clock reads, no syscalls (the worker
 * takes the samples; see worker.c).
 */
#ifndef BW_PROXY_OVERLOAD_H
#define BW_PROXY_OVERLOAD_H

#include <stdbool.h>
#include <stdint.h>

#define BW_OVERLOAD_SAMPLE_MS 100  /* at most one sample per interval */
#define BW_OVERLOAD_HOLD_MS 1000   /* a level lasts at least this long */
#define BW_OVERLOAD_ESCALATE_MS 1000 /* level 1 this long and still behind: level 2 */
#define BW_OVERLOAD_SHED_FACTOR 4  /* a wait this many times the threshold: level 2 at once */

typedef struct bw_overload {
    uint8_t level;
    uint32_t last_wait_ms;   /* the latest sample (for the log and the admin API) */
    uint64_t behind_since_ms; /* when the level left 0 */
    uint64_t hold_until_ms;  /* the level stays at least until then */
    uint64_t next_sample_ms;
} bw_overload;

/* Is a sample due (one per BW_OVERLOAD_SAMPLE_MS)? */
static inline bool bw_overload_sample_due(const bw_overload *o, uint64_t now_ms)
{
    return now_ms >= o->next_sample_ms;
}

/* A client waited wait_ms before the worker read it.  threshold_ms is
 * overload_wait (0: off, the level stays 0).  Returns true if the level
 * changed. */
bool bw_overload_note(bw_overload *o, uint32_t wait_ms, uint32_t threshold_ms, uint64_t now_ms);

/* Once a loop round: no sample for a while means nobody is waiting.
 * Returns true if the level changed. */
bool bw_overload_tick(bw_overload *o, uint64_t now_ms);

#endif
