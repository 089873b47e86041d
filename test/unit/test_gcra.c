/*
 * test_gcra.c - the shield's GCRA rate limiter (shield/gcra.c): burst and
 * steady rate against the arithmetic, keys kept apart, a table that does
 * not grow under ten million addresses yet keeps limiting the one that
 * hammers, evictions counted only when a live limit is forgotten, and two
 * threads on one key never sharing out more than the burst.  Time is
 * always passed in, never read, so nothing here depends on the machine's
 * speed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "shield/gcra.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define MIB (1024u * 1024u)

/* Under TSan the table's shadow memory fills in as the table is touched,
 * so the process's size says nothing about the table's. */
#if defined(__SANITIZE_THREAD__)
#define CHECK_RSS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_RSS 0
#endif
#endif
#ifndef CHECK_RSS
#define CHECK_RSS 1
#endif

static bw_gcra_limit limit(double rate, unsigned burst)
{
    bw_gcra_limit l;
    bw_gcra_limit_set(&l, rate, burst);
    return l;
}

/* Requests for key at now until one is limited; how many passed. */
static unsigned take_until_limited(bw_gcra_table *t, uint64_t key, const bw_gcra_limit *l,
                                   uint64_t now)
{
    unsigned n = 0;
    while (bw_gcra_take(t, key, l, now, NULL) && n < 1000000)
        n++;
    return n;
}

static void test_limit_set(void **state)
{
    (void)state;
    bw_gcra_limit l = limit(10, 5);
    assert_int_equal(l.interval_ns, 100 * MS);
    assert_int_equal(l.tolerance_ns, 500 * MS);
    l = limit(3, 0);
    assert_int_equal(l.interval_ns, 333333333); /* rounded to the nearest ns */
    assert_int_equal(l.tolerance_ns, 0);
    l = limit(5e9, 2); /* faster than 1 per ns: clamped to 1 ns */
    assert_int_equal(l.interval_ns, 1);
    assert_int_equal(l.tolerance_ns, 2);
    l = limit(0, 1000000); /* no refill; the burst must not overflow into "unlimited" */
    assert_true(l.interval_ns >= 100ull * 365 * 24 * 3600 * SEC);
    assert_true(l.tolerance_ns >= l.interval_ns);
    assert_true(l.tolerance_ns + l.interval_ns > l.tolerance_ns);
}

static void test_burst_then_limit(void **state)
{
    (void)state;
    bw_gcra_table *t = bw_gcra_new(64 * 1024);
    assert_non_null(t);
    bw_gcra_limit l = limit(10, 5);
    uint64_t now = 7 * SEC, retry = 0;
    for (int i = 0; i < 6; i++)
        assert_true(bw_gcra_take(t, 42, &l, now, &retry));
    assert_false(bw_gcra_take(t, 42, &l, now, &retry));
    assert_int_equal(retry, 100 * MS);
    assert_false(bw_gcra_take(t, 42, &l, now + 50 * MS, &retry)); /* half-way: still not */
    assert_int_equal(retry, 50 * MS);
    assert_false(bw_gcra_take(t, 42, &l, now + 100 * MS - 1, &retry));
    assert_int_equal(retry, 1);
    assert_true(bw_gcra_take(t, 42, &l, now + 100 * MS, NULL));  /* retry_after was right */
    assert_false(bw_gcra_take(t, 42, &l, now + 100 * MS, NULL)); /* and only one */
    /* Idle for a long time: the full burst again, not more. */
    assert_int_equal(take_until_limited(t, 42, &l, now + 60 * SEC), 6);

    bw_gcra_limit strict = limit(10, 0); /* burst 0: one per interval */
    assert_true(bw_gcra_take(t, 43, &strict, now, NULL));
    assert_false(bw_gcra_take(t, 43, &strict, now + 99 * MS, &retry));
    assert_int_equal(retry, 1 * MS);
    assert_true(bw_gcra_take(t, 43, &strict, now + 100 * MS, NULL));
    bw_gcra_free(t);
}

/* Requests every millisecond from 0 to 10 s inclusive; how many passed. */
static unsigned steady(double rate, unsigned burst)
{
    bw_gcra_table *t = bw_gcra_new(64 * 1024);
    assert_non_null(t);
    bw_gcra_limit l = limit(rate, burst);
    unsigned allowed = 0;
    for (uint64_t ms = 0; ms <= 10000; ms++)
        allowed += bw_gcra_take(t, 9, &l, 1000 * SEC + ms * MS, NULL);
    bw_gcra_free(t);
    return allowed;
}

static void test_steady_rate(void **state)
{
    (void)state;
    /* burst+1 at once, then one per T up to and including 10 s */
    assert_int_equal(steady(100, 5), 100 * 10 + 5 + 1);
    assert_int_equal(steady(10, 0), 10 * 10 + 0 + 1);
    assert_int_equal(steady(250, 20), 250 * 10 + 20 + 1);
    /* T = 142857143 ns is rounded up, so the last one may not fit by 10 s */
    unsigned n = steady(7, 3);
    assert_true(n >= 7 * 10 + 3 && n <= 7 * 10 + 3 + 1);
}

static void test_keys_independent(void **state)
{
    (void)state;
    bw_gcra_table *t = bw_gcra_new(64 * 1024);
    assert_non_null(t);
    bw_gcra_limit l = limit(1, 2);
    uint64_t now = SEC;
    assert_int_equal(take_until_limited(t, 1, &l, now), 3);
    /* Neighbouring and related keys are untouched by key 1's limit. */
    uint64_t others[] = { 2, 3, 1ull << 32 | 1, 1ull << 63 | 1, UINT64_MAX };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_int_equal(take_until_limited(t, others[i], &l, now), 3);
    assert_false(bw_gcra_take(t, 1, &l, now, NULL)); /* and key 1 is still limited */
    /* Each key may carry its own limit. */
    bw_gcra_limit wide = limit(1, 9);
    assert_int_equal(take_until_limited(t, 77, &wide, now), 10);
    bw_gcra_free(t);
}

static void test_key_zero(void **state)
{
    (void)state;
    bw_gcra_table *t = bw_gcra_new(64 * 1024);
    assert_non_null(t);
    bw_gcra_limit l = limit(10, 2);
    uint64_t now = 5 * SEC, retry = 0;
    assert_int_equal(take_until_limited(t, 0, &l, now), 3); /* 0 is a key, not "empty" */
    assert_false(bw_gcra_take(t, 0, &l, now, &retry));
    assert_int_equal(retry, 100 * MS);
    assert_int_equal(take_until_limited(t, 1, &l, now), 3);
    assert_false(bw_gcra_take(t, 0, &l, now, NULL));
    assert_true(bw_gcra_take(t, 0, &l, now + 100 * MS, NULL));
    bw_gcra_free(t);
}

static void test_sizing(void **state)
{
    (void)state;
    size_t budgets[] = { 0, 1, 4096, 64 * 1024, 100000, MIB, 16 * MIB, 16 * MIB + 8192 };
    size_t min_bytes = 0;
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        bw_gcra_table *t = bw_gcra_new(budgets[i]);
        assert_non_null(t);
        size_t bytes = bw_gcra_bytes(t), slots = bw_gcra_slots(t);
        assert_true(slots >= 64);
        assert_int_equal(slots & (slots - 1), 0); /* a power of two */
        assert_true(slots * 16 <= bytes);
        if (i == 0)
            min_bytes = bytes;
        if (budgets[i] >= min_bytes) {
            assert_true(bytes <= budgets[i]);      /* at most the budget... */
            assert_true(bytes * 2 > budgets[i]);   /* ...and not much less */
        } else {
            assert_int_equal(bytes, min_bytes);    /* too small: the minimum */
        }
        bw_gcra_free(t);
    }
    assert_true(min_bytes < 4096);
}

/* A flood of ten million one-shot addresses, one every microsecond, and
 * one address that sends every tenth request: the table stays the size it
 * was born, the hammering address stays limited, and the eviction policy
 * (oldest TAT first) forgets almost only expired keys. */
static void test_bounded_memory(void **state)
{
    (void)state;
    enum { KEYS = 10000000 };
    const uint64_t hammer = 1ull << 63;
    bw_gcra_table *t = bw_gcra_new(16 * MIB);
    assert_non_null(t);
    size_t bytes = bw_gcra_bytes(t);
    assert_true(bytes <= 16 * MIB);
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    long rss_before_kib = ru.ru_maxrss;

    bw_gcra_limit l = limit(10, 5);
    uint64_t now = SEC;
    unsigned hammer_allowed = 0;
    for (uint64_t i = 1; i <= KEYS; i++) {
        now += 1000;
        /* Plain counters as keys: the table must mix them itself.  A new
         * address always has its first request. */
        assert_true(bw_gcra_take(t, i, &l, now, NULL));
        if (i % 10 == 0)
            hammer_allowed += bw_gcra_take(t, hammer, &l, now, NULL);
    }
    /* 10 s of flood at 10/s with burst 5: 10 * 10 + 5 + 1 at most. */
    assert_true(hammer_allowed <= 10 * 10 + 5 + 1 + 2);
    assert_true(hammer_allowed >= 10 * 10);
    assert_int_equal(bw_gcra_bytes(t), bytes);
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    if (CHECK_RSS) /* the table's pages fault in as keys land; nothing else grew */
        assert_true(ru.ru_maxrss - rss_before_kib < (long)(bytes / 1024) + 4 * 1024);
    /* ~100k keys are live at once (a TAT 100 ms ahead) in 512k slots: a
     * bucket is full of live keys for well under 1% of arrivals.  Evicting
     * any slot but the oldest would forget a live key ~20% of the time. */
    assert_true(bw_gcra_evictions(t) < KEYS / 20);
    bw_gcra_free(t);
}

static void test_evictions_counted(void **state)
{
    (void)state;
    bw_gcra_table *t = bw_gcra_new(0); /* 64 slots */
    assert_non_null(t);
    size_t slots = bw_gcra_slots(t);
    assert_int_equal(slots, 64);
    bw_gcra_limit l = limit(10, 0);

    /* Each key's TAT has passed before the next comes: replacing an
     * expired key forgets nothing and is not an eviction. */
    for (uint64_t k = 1; k <= 1000; k++)
        assert_true(bw_gcra_take(t, k, &l, k * SEC, NULL));
    assert_int_equal(bw_gcra_evictions(t), 0);

    /* 1000 keys at one instant: all live, so beyond 64 each one pushes a
     * live limit out.  A new key is still served. */
    uint64_t now = 5000 * SEC;
    for (uint64_t k = 10001; k <= 11000; k++)
        assert_true(bw_gcra_take(t, k, &l, now, NULL));
    uint64_t ev = bw_gcra_evictions(t);
    assert_true(ev >= 1000 - slots);
    assert_true(ev <= 1000);

    /* A key that is found is not an eviction, limited or not. */
    assert_int_equal(take_until_limited(t, 11000, &l, now), 0);
    assert_int_equal(bw_gcra_evictions(t), ev);
    bw_gcra_free(t);
}

/* Keys that differ only in their high bits (as addresses in one network
 * do in their low bits) must still spread over the buckets. */
static void test_weak_keys_spread(void **state)
{
    (void)state;
    bw_gcra_table *t = bw_gcra_new(1024 * 16 + 2048); /* 1024 slots, 256 buckets */
    assert_non_null(t);
    assert_int_equal(bw_gcra_slots(t), 1024);
    bw_gcra_limit l = limit(1, 0);
    for (uint64_t i = 1; i <= 512; i++)
        assert_true(bw_gcra_take(t, i << 40, &l, SEC, NULL));
    /* Half full, all live: spread evenly, a handful of buckets overflow;
     * crowded into a few, nearly every key would push out another. */
    assert_true(bw_gcra_evictions(t) < 64);
    bw_gcra_free(t);
}

/* A burst long enough that the threads spend it all fighting over the
 * TAT: an update that is not a compare-and-swap loses some of its writes
 * and hands out more than the burst. */
enum { ROUNDS = 200, PER_ROUND = 5000, BURST = 1000 };

typedef struct hammer_arg {
    bw_gcra_table *t;
    _Atomic unsigned *arrived;
    unsigned allowed[ROUNDS];
} hammer_arg;

/* Each round a new key (so the race to claim its slot is exercised too)
 * and time frozen.  The threads meet by spinning, not on a pthread
 * barrier, so that they start within a few hundred ns of each other. */
static void *hammer_thread(void *p)
{
    hammer_arg *a = p;
    bw_gcra_limit l = limit(10, BURST);
    for (unsigned r = 0; r < ROUNDS; r++) {
        atomic_fetch_add(a->arrived, 1);
        while (atomic_load(a->arrived) < 2 * (r + 1))
            ;
        unsigned n = 0;
        for (int i = 0; i < PER_ROUND; i++)
            n += bw_gcra_take(a->t, 1000 + (uint64_t)r, &l, 3 * SEC, NULL);
        a->allowed[r] = n;
    }
    return NULL;
}

static void test_threads_one_key(void **state)
{
    (void)state;
    bw_gcra_table *t = bw_gcra_new(MIB);
    assert_non_null(t);
    static _Atomic unsigned arrived;
    static hammer_arg a[2];
    pthread_t th[2];
    atomic_store(&arrived, 0);
    for (int i = 0; i < 2; i++) {
        a[i] = (hammer_arg){ .t = t, .arrived = &arrived };
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int r = 0; r < ROUNDS; r++)
        assert_int_equal(a[0].allowed[r] + a[1].allowed[r], BURST + 1);
    bw_gcra_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_set),
        cmocka_unit_test(test_burst_then_limit),
        cmocka_unit_test(test_steady_rate),
        cmocka_unit_test(test_keys_independent),
        cmocka_unit_test(test_key_zero),
        cmocka_unit_test(test_sizing),
        cmocka_unit_test(test_bounded_memory),
        cmocka_unit_test(test_evictions_counted),
        cmocka_unit_test(test_weak_keys_spread),
        cmocka_unit_test(test_threads_one_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
