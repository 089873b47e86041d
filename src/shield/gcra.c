/*
 * gcra.c - GCRA rate limits in one fixed, shared, lock-free table (see
 * gcra.h).
 *
 * Layout: 2^n buckets of one cache line each, four slots of {key, tat} per
 * bucket.  A key lives in any slot of the bucket its mixed hash names, so a
 * request reads one cache line and writes at most one word.  Key 0 marks
 * an empty slot; its TAT is 0, older than any other, so empty slots are
 * the first taken.
 *
 * GCRA, with T the emission interval and tau the burst tolerance: a request
 * at now passes if max(TAT, now) - now <= tau, and then TAT = max(TAT, now)
 * + T.  A new key (TAT <= now) thus gets 1 + tau/T requests at once, and
 * then one per T.  A limited request writes nothing.
 *
 * Concurrency.  All threads share the table with no lock:
 *  - A TAT changes only by compare-and-swap against the value the decision
 *    was made on, so two threads on one key are serialised by the TAT's
 *    own modification order and cannot both get the last token.
 *  - A key takes a slot by compare-and-swap on the slot's key (from the
 *    victim's key to its own), then updates the TAT as above, except that
 *    the victim's TAT, if still there, counts as "no TAT" (a fresh start).
 *  - The TAT is read with acquire and written with release, so a thread
 *    that sees a claimer's TAT also sees its key, finds the key and does
 *    not claim a second slot for it.  Keys need no ordering of their own:
 *    the slot guards no other data.
 * The approximations, all short-lived:
 *  - A thread that found the victim key just before its slot was taken
 *    may judge its request on, and charge it to, the new key's TAT: for a
 *    moment two keys share one TAT.  That errs on limiting (the new key is
 *    limited sooner, and the old key was being forgotten anyway).  So does
 *    a claimer that finds the victim's TAT already changed: it keeps it.
 *  - Two threads bringing the same new key at once see the same bucket,
 *    pick the same victim, and one compare-and-swap fails, so that thread
 *    then finds the key.  Only if a third thread changes the bucket's TATs
 *    between their two reads can they pick different slots; the key then
 *    has two slots, lookups use the first in the bucket, the other ages
 *    out, and what was counted on the other in that moment (a request or
 *    two) is forgotten: this one errs on allowing.
 *  - Eviction counts are per shard, added without ordering; the sum is
 *    exact once the threads are quiet.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shield/gcra.h"

#include "core/hash.h"

#if ATOMIC_LLONG_LOCK_FREE != 2
#error "bw_gcra needs lock-free 64-bit atomics"
#endif

enum {
    WAYS = 4,         /* slots per bucket: 4 x 16 bytes = one cache line */
    MIN_BUCKETS = 16, /* 64 slots */
    SHARDS = 16,      /* eviction counters, one cache line each */
};

/* A caller's key 0 is stored as this (so it shares a slot with a caller's
 * key of this value: one 64-bit key in 2^64, accepted). */
#define KEY_ZERO 0x9e3779b97f4a7c15ull

/* Longest interval or tolerance, ~146 years: keeps TAT + T + tau far from
 * overflow for any monotonic clock, and a rate <= 0 means "never again". */
#define SPAN_MAX (1ull << 62)

typedef struct bw_gcra_slot {
    _Atomic uint64_t key; /* 0 = empty */
    _Atomic uint64_t tat; /* theoretical arrival time, ns */
} bw_gcra_slot;

typedef struct bw_gcra_bucket {
    alignas(64) bw_gcra_slot slot[WAYS];
} bw_gcra_bucket;

_Static_assert(sizeof(bw_gcra_bucket) == 64, "a bucket is one cache line");

/* Eviction counters are sharded by bucket and kept off the line that holds
 * buckets and mask: under a flood every request may evict, and one shared
 * counter would make every core fight over the line every lookup reads. */
typedef struct bw_gcra_shard {
    alignas(64) _Atomic uint64_t n;
} bw_gcra_shard;

struct bw_gcra_table {
    size_t mask;   /* buckets - 1 (a power of two) */
    size_t bytes;  /* the whole allocation */
    uint64_t seed; /* of the bucket hash, random per table */
    bw_gcra_shard evictions[SHARDS];
    bw_gcra_bucket buckets[];
};

/* What one read of a slot saw. */
typedef struct bw_gcra_view {
    bw_gcra_slot *slot;
    uint64_t key;
    uint64_t tat;
} bw_gcra_view;

void bw_gcra_limit_set(bw_gcra_limit *l, double rate_per_s, unsigned burst)
{
    double t = rate_per_s > 0 ? 1e9 / rate_per_s : (double)SPAN_MAX; /* NaN too */
    uint64_t T = t >= (double)SPAN_MAX ? SPAN_MAX : t < 1 ? 1 : (uint64_t)(t + 0.5);
    l->interval_ns = T;
    l->tolerance_ns = burst > SPAN_MAX / T ? SPAN_MAX : T * burst;
}

/* An attacker who could compute buckets could aim a few keys of its own at
 * the bucket of a limited key (its own main address, say), keep them
 * limited too, and so keep pushing that limit out.  A secret seed per
 * table hides the buckets.  Without getrandom: an address and the time,
 * weak, but not known from outside. */
static uint64_t seed_new(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = (uint64_t)(uintptr_t)&s ^ (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
    return s;
}

bw_gcra_table *bw_gcra_new(size_t max_bytes)
{
    size_t head = sizeof(bw_gcra_table);
    size_t room = max_bytes > head ? max_bytes - head : 0;
    size_t n = MIN_BUCKETS;
    while (n <= room / sizeof(bw_gcra_bucket) / 2)
        n <<= 1;
    size_t bytes = head + n * sizeof(bw_gcra_bucket); /* a multiple of 64 */
    /* Anonymous pages read as zero (all slots empty) and cost memory only
     * once a key lands in them: an idle edge keeps its RSS small, a flood
     * of distinct keys faults the table in once (8,192 pages for 32 MiB). */
    bw_gcra_table *t = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return NULL;
    t->mask = n - 1;
    t->bytes = bytes;
    t->seed = seed_new();
    return t;
}

void bw_gcra_free(bw_gcra_table *t)
{
    if (t)
        munmap(t, t->bytes);
}

size_t bw_gcra_bytes(const bw_gcra_table *t)
{
    return t->bytes;
}

size_t bw_gcra_slots(const bw_gcra_table *t)
{
    return (t->mask + 1) * WAYS;
}

uint64_t bw_gcra_evictions(const bw_gcra_table *t)
{
    uint64_t sum = 0;
    for (int i = 0; i < SHARDS; i++)
        sum += atomic_load_explicit(&t->evictions[i].n, memory_order_relaxed);
    return sum;
}


static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* Find key in b.  true: *v is its slot.  false: *v is the slot to take,
 * the one with the oldest TAT (the first of equals).  Each TAT is read
 * before its key, with acquire: see the top of the file. */
static bool scan(bw_gcra_bucket *b, uint64_t key, bw_gcra_view *v)
{
    v->slot = NULL;
    for (int i = 0; i < WAYS; i++) {
        bw_gcra_slot *s = &b->slot[i];
        uint64_t tat = atomic_load_explicit(&s->tat, memory_order_acquire);
        uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
        if (k == key) {
            *v = (bw_gcra_view){ s, k, tat };
            return true;
        }
        if (!v->slot || tat < v->tat)
            *v = (bw_gcra_view){ s, k, tat };
    }
    return false;
}

/* GCRA on slot s whose TAT was last seen as tat.  A TAT equal to forget is
 * a previous owner's and counts as none (forget <= now changes nothing, so
 * 0 means "forget nothing"). */
static bool update(bw_gcra_slot *s, uint64_t tat, uint64_t forget, const bw_gcra_limit *l,
                   uint64_t now, uint64_t *retry_after_ns)
{
    for (;;) {
        uint64_t base = tat == forget || tat < now ? now : tat;
        if (base - now > l->tolerance_ns) {
            if (retry_after_ns)
                *retry_after_ns = base - now - l->tolerance_ns;
            return false;
        }
        if (atomic_compare_exchange_weak_explicit(&s->tat, &tat, add_sat(base, l->interval_ns),
                                                  memory_order_release, memory_order_acquire))
            return true;
    }
}

bool bw_gcra_take(bw_gcra_table *t, uint64_t key, const bw_gcra_limit *l, uint64_t now_ns,
                  uint64_t *retry_after_ns)
{
    if (key == 0)
        key = KEY_ZERO;
    size_t i = (size_t)bw_mix64(key ^ t->seed) & t->mask;
    bw_gcra_bucket *b = &t->buckets[i];
    bw_gcra_view v;
    for (;;) {
        if (scan(b, key, &v))
            return update(v.slot, v.tat, 0, l, now_ns, retry_after_ns);
        /* Fails only if another thread took this slot meanwhile (maybe
         * for this very key): look again. */
        if (atomic_compare_exchange_strong_explicit(&v.slot->key, &v.key, key, memory_order_relaxed,
                                                    memory_order_relaxed))
            break;
    }
    if (v.tat > now_ns) /* the victim was still limited: a limit forgotten */
        atomic_fetch_add_explicit(&t->evictions[i % SHARDS].n, 1, memory_order_relaxed);
    return update(v.slot, v.tat, v.tat, l, now_ns, retry_after_ns);
}
