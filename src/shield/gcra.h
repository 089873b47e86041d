/*
 * gcra.h - the shield's rate limiter: GCRA (generic cell rate algorithm)
 * per 64-bit key, in one fixed-size table shared by all worker threads.
 *
 * A key is whatever the caller wants limited (an address, a prefix, a
 * fingerprint, an API key), hashed by the caller into 64 bits.  Each key
 * holds a single number, its TAT (theoretical arrival time): a request at
 * now passes if TAT - now <= tau, and then pushes TAT one emission interval
 * further.  So a check is O(1), lock-free (one compare-and-swap), and needs
 * no timer or sweeper.
 *
 * Memory is allocated once, in bw_gcra_new, and never grows: ten million
 * attacker addresses cost what ten thousand do.  When a key's bucket is
 * full, the new key takes the slot with the oldest TAT; a key whose TAT has
 * passed is no longer limited, so forgetting it loses nothing.  Only when
 * every slot of the bucket is still limiting is a live limit forgotten,
 * and that is counted (bw_gcra_evictions) so the table can be sized.
 * Buckets come from a hash seeded at random per table, so keys an attacker
 * chooses (addresses in its own prefix) cannot be aimed at one bucket.
 *
 * The module owns the table and nothing else: no clock (the caller passes
 * now in monotonic ns), no configuration, no policy on what to do with a
 * limited request.
 */
#ifndef BW_SHIELD_GCRA_H
#define BW_SHIELD_GCRA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bw_gcra_limit {
    uint64_t interval_ns;  /* emission interval T = 1e9 / rate */
    uint64_t tolerance_ns; /* burst tolerance tau = T * burst */
} bw_gcra_limit;

/* rate > 0 requests per second, burst >= 0 extra requests allowed at once
 * (burst 0 = strictly one per interval; a new key gets burst+1 at once).
 * T is at least 1 ns (at most 1e9 requests/s); T and tau are at most 2^62
 * ns (~146 years), so a rate <= 0 (or NaN) means one or two requests and
 * then, in practice, never again. */
void bw_gcra_limit_set(bw_gcra_limit *l, double rate_per_s, unsigned burst);

typedef struct bw_gcra_table bw_gcra_table;

/* A table using at most max_bytes, header included (slots rounded down to
 * a power of two, min 64 slots: a smaller max_bytes gets those 64);
 * NULL on allocation failure.  Four slots per 64-byte bucket, one key per
 * slot.  Free with bw_gcra_free. */
bw_gcra_table *bw_gcra_new(size_t max_bytes);
void bw_gcra_free(bw_gcra_table *t);

/* Memory held, constant after new. */
size_t bw_gcra_bytes(const bw_gcra_table *t);

/* Number of keys the table can hold at once. */
size_t bw_gcra_slots(const bw_gcra_table *t);

/* One request for key at now_ns (monotonic ns).  Returns true if allowed
 * (and records it); false if limited, then *retry_after_ns (if not NULL)
 * says when the next one would pass.  Thread-safe, lock-free.  Key 0 is
 * fine (it shares a slot with key 0x9e3779b97f4a7c15, see gcra.c). */
bool bw_gcra_take(bw_gcra_table *t, uint64_t key, const bw_gcra_limit *l, uint64_t now_ns,
                  uint64_t *retry_after_ns);

/* Counters for metrics: evictions so far (a key pushed out to make room
 * while it was still limited). */
uint64_t bw_gcra_evictions(const bw_gcra_table *t);

#endif
