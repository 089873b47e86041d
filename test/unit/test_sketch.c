/*
 * test_sketch.c - the shield's sketches (shield/sketch.c), each checked
 * against exact counts kept in plain arrays: Count-Min never under-counts
 * and over-counts within its bound (also for badly mixed keys), decay,
 * merge and clear; Space-Saving keeps every key above total / k with
 * count - err <= true <= count, under skewed and under adversarial churn;
 * EWMA mean and variance against West's update done by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shield/sketch.h"

/* splitmix64: a seeded stream the same on every libc. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return next(s) % n;
}

static double uniform(uint64_t *s)
{
    return (double)(next(s) >> 11) / 9007199254740992.0; /* [0, 1) */
}

/* ---- Count-Min ---- */

static void test_cms_shapes(void **state)
{
    (void)state;
    assert_null(bw_cms_new(0, 4));
    assert_null(bw_cms_new(25, 4));
    assert_null(bw_cms_new(12, 0));
    assert_null(bw_cms_new(12, 9));
    bw_cms *a = bw_cms_new(12, 4), *b = bw_cms_new(12, 3), *c = bw_cms_new(11, 4);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_in_range(bw_cms_bytes(a), 4 * 4096 * sizeof(double), 4 * 4096 * sizeof(double) + 64);
    bw_cms_add(a, 1, 5);
    bw_cms_add(b, 1, 7);
    bw_cms_add(c, 1, 7);
    assert_int_equal(bw_cms_merge(a, b), -1); /* other depth */
    assert_int_equal(bw_cms_merge(a, c), -1); /* other width */
    assert_true(bw_cms_get(a, 1) == 5 && bw_cms_total(a) == 5);
    bw_cms_free(a);
    bw_cms_free(b);
    bw_cms_free(c);
}

/* A narrow sketch so that every counter is shared, weighted adds and decay
 * mixed in: each estimate stays at or above the exact count.  The exact
 * counts see the same floating-point operations, and rounding is monotone,
 * so no tolerance is needed. */
static void test_cms_never_underestimates(void **state)
{
    (void)state;
    enum { KEYS = 5000, ADDS = 200000 };
    static double exact[KEYS];
    memset(exact, 0, sizeof(exact));
    bw_cms *s = bw_cms_new(8, 3);
    assert_non_null(s);
    uint64_t rng = 1, kseed = 99;
    uint64_t keys[KEYS];
    for (int i = 0; i < KEYS; i++)
        keys[i] = next(&kseed);
    double total = 0;
    for (int op = 1; op <= ADDS; op++) {
        int i = (int)below(&rng, KEYS);
        double n = (double)(1 + below(&rng, 4));
        bw_cms_add(s, keys[i], n);
        exact[i] += n;
        total += n;
        if (op % 20000 == 0) {
            bw_cms_decay(s, 0.9);
            for (int j = 0; j < KEYS; j++)
                exact[j] *= 0.9;
            total *= 0.9;
        }
    }
    for (int i = 0; i < KEYS; i++)
        assert_true(bw_cms_get(s, keys[i]) >= exact[i]);
    assert_true(bw_cms_total(s) == total);
    bw_cms_free(s);
}

/* 100k adds over 10k keys in 2^12 x 4: at least 99% of the keys within
 * total * e / width of their count, and the mean error well under what
 * plain Count-Min would give.  Raw keys that differ only in their low
 * or only in their high bits check the remix: without it, multiply-shift
 * would still spread these, but a low-bits index would put all the
 * high-bit keys in one counter. */
static void check_cms_bound(uint64_t (*key_of)(uint64_t))
{
    enum { KEYS = 10000, ADDS = 100000 };
    static uint32_t exact[KEYS];
    memset(exact, 0, sizeof(exact));
    bw_cms *s = bw_cms_new(12, 4);
    assert_non_null(s);
    uint64_t rng = 7;
    for (int op = 0; op < ADDS; op++) {
        uint64_t i = below(&rng, KEYS);
        bw_cms_add(s, key_of(i), 1);
        exact[i]++;
    }
    double bound = bw_cms_total(s) * M_E / 4096;
    double over = 0;
    int within = 0;
    for (uint64_t i = 0; i < KEYS; i++) {
        double est = bw_cms_get(s, key_of(i));
        assert_true(est >= exact[i]);
        within += est - exact[i] <= bound;
        over += est - exact[i];
    }
    assert_true(within >= KEYS * 99 / 100);
    /* Conservative update: about 2.6 on average here, where plain
     * Count-Min's min over rows is about 9. */
    assert_true(over / KEYS <= bw_cms_total(s) / 4096 / 5);
    bw_cms_free(s);
}

static uint64_t key_low(uint64_t i)
{
    return i;
}

static uint64_t key_high(uint64_t i)
{
    return i << 40;
}

static uint64_t key_mixed(uint64_t i)
{
    uint64_t s = i;
    return next(&s);
}

static void test_cms_error_bound(void **state)
{
    (void)state;
    check_cms_bound(key_mixed);
    check_cms_bound(key_low);
    check_cms_bound(key_high);
}

static void test_cms_decay(void **state)
{
    (void)state;
    bw_cms *s = bw_cms_new(10, 4);
    assert_non_null(s);
    double before[100];
    for (uint64_t k = 0; k < 100; k++)
        bw_cms_add(s, k * 7919, (double)(k + 1));
    for (uint64_t k = 0; k < 100; k++)
        before[k] = bw_cms_get(s, k * 7919);
    double total = bw_cms_total(s);
    assert_true(total == 5050);

    bw_cms_decay(s, 0.5);
    for (uint64_t k = 0; k < 100; k++)
        assert_true(bw_cms_get(s, k * 7919) == before[k] / 2);
    assert_true(bw_cms_total(s) == total / 2);

    bw_cms_decay(s, 1); /* no-op */
    assert_true(bw_cms_total(s) == total / 2);

    /* 100 * 2^-1040 would be subnormal: zeroed instead */
    for (int i = 0; i < 1040; i++)
        bw_cms_decay(s, 0.5);
    assert_true(bw_cms_get(s, 99 * 7919) == 0);
    assert_true(bw_cms_total(s) == 0);

    bw_cms_add(s, 1, 3);
    bw_cms_decay(s, 0); /* <= 0 clears */
    assert_true(bw_cms_get(s, 1) == 0 && bw_cms_total(s) == 0);
    bw_cms_free(s);
}

/* Two streams, merged, against one sketch fed both.  Wide and few keys: no
 * key collides in every row, so all three agree exactly.  Narrow: the merge
 * still never under-counts, and (conservative update) it counts at least
 * the two estimates together. */
static void test_cms_merge(void **state)
{
    (void)state;
    bw_cms *a = bw_cms_new(12, 4), *b = bw_cms_new(12, 4), *both = bw_cms_new(12, 4);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(both);
    double exact[150] = { 0 };
    for (uint64_t k = 0; k < 100; k++) {
        bw_cms_add(a, k, (double)(k + 1));
        bw_cms_add(both, k, (double)(k + 1));
        exact[k] += (double)(k + 1);
    }
    for (uint64_t k = 50; k < 150; k++) {
        bw_cms_add(b, k, 2);
        bw_cms_add(both, k, 2);
        exact[k] += 2;
    }
    assert_int_equal(bw_cms_merge(a, b), 0);
    for (uint64_t k = 0; k < 150; k++) {
        assert_true(bw_cms_get(a, k) == exact[k]);
        assert_true(bw_cms_get(both, k) == exact[k]);
    }
    assert_true(bw_cms_total(a) == bw_cms_total(both));
    bw_cms_free(a);
    bw_cms_free(b);
    bw_cms_free(both);

    enum { KEYS = 1000 };
    static double ex[KEYS];
    memset(ex, 0, sizeof(ex));
    a = bw_cms_new(4, 4);
    b = bw_cms_new(4, 4);
    assert_non_null(a);
    assert_non_null(b);
    uint64_t rng = 3;
    for (int op = 0; op < 20000; op++) {
        uint64_t k = below(&rng, KEYS);
        bw_cms_add(op % 3 ? a : b, k, 1);
        ex[k]++;
    }
    double sum[KEYS];
    for (uint64_t k = 0; k < KEYS; k++)
        sum[k] = bw_cms_get(a, k) + bw_cms_get(b, k);
    assert_int_equal(bw_cms_merge(a, b), 0);
    for (uint64_t k = 0; k < KEYS; k++) {
        assert_true(bw_cms_get(a, k) >= ex[k]);
        assert_true(bw_cms_get(a, k) >= sum[k]);
    }
    assert_true(bw_cms_total(a) == 20000);
    bw_cms_free(a);
    bw_cms_free(b);
}

static void test_cms_clear(void **state)
{
    (void)state;
    bw_cms *s = bw_cms_new(6, 2);
    assert_non_null(s);
    for (uint64_t k = 0; k < 1000; k++)
        bw_cms_add(s, k, 1);
    assert_true(bw_cms_get(s, 5) >= 1);
    bw_cms_clear(s);
    for (uint64_t k = 0; k < 1000; k++)
        assert_true(bw_cms_get(s, k) == 0);
    assert_true(bw_cms_total(s) == 0);
    bw_cms_add(s, 5, 2); /* usable again */
    assert_true(bw_cms_get(s, 5) == 2 && bw_cms_total(s) == 2);
    bw_cms_free(s);
}

/* Counts past 2^24 keep counting single adds (they would not in float
 * counters); fractions add; n <= 0 and NaN change nothing. */
static void test_cms_values(void **state)
{
    (void)state;
    bw_cms *s = bw_cms_new(8, 4);
    assert_non_null(s);
    bw_cms_add(s, 42, 1073741824.0);
    for (int i = 0; i < 1000; i++)
        bw_cms_add(s, 42, 1);
    assert_true(bw_cms_get(s, 42) == 1073742824.0);
    for (int i = 0; i < 4; i++)
        bw_cms_add(s, 43, 0.25);
    assert_true(bw_cms_get(s, 43) == 1.0);
    double total = bw_cms_total(s);
    bw_cms_add(s, 43, 0);
    bw_cms_add(s, 43, -5);
    bw_cms_add(s, 43, NAN);
    assert_true(bw_cms_get(s, 43) == 1.0);
    assert_true(bw_cms_total(s) == total);
    bw_cms_free(s);
}

/* ---- Space-Saving top-k ---- */

/* Every listed item within its bounds and findable by get, no key twice,
 * the list in order, and the counts summing to the total (an eviction
 * hands the evicted count on, so none is lost). */
static void check_topk(const bw_topk *t, unsigned k, const uint64_t *keys, const uint64_t *exact,
                       size_t nkeys)
{
    static bw_topk_item items[1024];
    size_t n = bw_topk_list(t, items, 1024);
    assert_true(n <= k);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bw_topk_get(t, items[i].key), items[i].count);
        assert_true(items[i].err < items[i].count);
        if (i)
            assert_true(items[i - 1].count >= items[i].count);
        for (size_t j = 0; j < i; j++)
            assert_true(items[j].key != items[i].key);
        for (size_t j = 0; j < nkeys; j++)
            if (keys[j] == items[i].key) {
                assert_true(items[i].count - items[i].err <= exact[j]);
                assert_true(exact[j] <= items[i].count);
            }
        sum += items[i].count;
    }
    assert_int_equal(sum, bw_topk_total(t));
}

/* 5 heavy keys, 40k down to 8k hits, among 100k light keys hit about
 * twice each, in random order: the 5 come first, in their order. */
static void test_topk_heavy_first(void **state)
{
    (void)state;
    enum { LIGHT = 100000, LIGHT_HITS = 200000 };
    static const uint64_t heavy_hits[5] = { 40000, 30000, 20000, 12000, 8000 };
    uint64_t keys[5], exact[5] = { 0 }, left[5];
    for (int h = 0; h < 5; h++) {
        keys[h] = 0xdead000000000000ull + (uint64_t)h;
        left[h] = heavy_hits[h];
    }
    uint64_t light_left = LIGHT_HITS, remaining = LIGHT_HITS + 110000;
    bw_topk *t = bw_topk_new(256);
    assert_non_null(t);
    uint64_t rng = 11;
    while (remaining) {
        uint64_t r = below(&rng, remaining);
        int h = 0;
        while (h < 5 && r >= left[h])
            r -= left[h++];
        if (h < 5) {
            bw_topk_add(t, keys[h], 1);
            left[h]--;
            exact[h]++;
        } else {
            bw_topk_add(t, 1 + below(&rng, LIGHT), 1);
            light_left--;
        }
        remaining--;
    }
    assert_int_equal(light_left, 0);
    assert_int_equal(bw_topk_total(t), LIGHT_HITS + 110000);
    bw_topk_item items[256];
    assert_int_equal(bw_topk_list(t, items, 256), 256);
    for (int h = 0; h < 5; h++) {
        assert_true(items[h].key == keys[h]);
        assert_true(items[h].count - items[h].err <= exact[h]);
        assert_true(exact[h] <= items[h].count);
    }
    check_topk(t, 256, keys, exact, 5);
    bw_topk_free(t);
}

/* Zipf(1) over 50k keys: every key above total / k is tracked, with a
 * count at or above its true count. */
static void test_topk_guarantee_zipf(void **state)
{
    (void)state;
    enum { KEYS = 50000, EVENTS = 300000, K = 256 };
    static double cdf[KEYS];
    static uint64_t keys[KEYS], exact[KEYS];
    double acc = 0;
    for (int i = 0; i < KEYS; i++) {
        acc += 1.0 / (i + 1);
        cdf[i] = acc;
    }
    uint64_t kseed = 5;
    for (int i = 0; i < KEYS; i++) {
        keys[i] = next(&kseed);
        exact[i] = 0;
    }
    bw_topk *t = bw_topk_new(K);
    assert_non_null(t);
    uint64_t rng = 13;
    for (int e = 0; e < EVENTS; e++) {
        double u = uniform(&rng) * acc;
        int lo = 0, hi = KEYS - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cdf[mid] > u)
                hi = mid;
            else
                lo = mid + 1;
        }
        bw_topk_add(t, keys[lo], 1);
        exact[lo]++;
    }
    assert_int_equal(bw_topk_total(t), EVENTS);
    int above = 0;
    for (int i = 0; i < KEYS; i++)
        if (exact[i] * K > EVENTS) {
            above++;
            assert_true(bw_topk_get(t, keys[i]) >= exact[i]);
        }
    assert_true(above >= 15); /* the check saw a real set */
    check_topk(t, K, keys, exact, KEYS);
    bw_topk_free(t);
}

/* The worst order for Space-Saving: every other key is new, so each of
 * them evicts something.  A key seen once in 50 events (above total / 64)
 * must still be tracked, and first. */
static void test_topk_guarantee_churn(void **state)
{
    (void)state;
    bw_topk *t = bw_topk_new(64);
    assert_non_null(t);
    uint64_t heavy = 1ull << 63, exact = 0, fresh = 1000; /* fresh never reaches heavy */
    for (int e = 0; e < 100000; e++) {
        if (e % 50 == 0) {
            bw_topk_add(t, heavy, 1);
            exact++;
        } else
            bw_topk_add(t, fresh++, 1);
    }
    assert_true(bw_topk_get(t, heavy) >= exact);
    bw_topk_item top;
    assert_int_equal(bw_topk_list(t, &top, 1), 1);
    assert_true(top.key == heavy);
    assert_true(top.count - top.err <= exact);
    check_topk(t, 64, &heavy, &exact, 1);
    bw_topk_free(t);
}

/* Weighted adds over a small key space with k not a power of two: constant
 * evictions and long probe runs, the index checked against the heap (via
 * get) throughout. */
static void test_topk_index_churn(void **state)
{
    (void)state;
    enum { KEYS = 500, K = 37 };
    static uint64_t keys[KEYS], exact[KEYS];
    for (uint64_t i = 0; i < KEYS; i++) {
        keys[i] = i * 0x10000; /* low bits all zero */
        exact[i] = 0;
    }
    bw_topk *t = bw_topk_new(K);
    assert_non_null(t);
    uint64_t rng = 17;
    for (int op = 1; op <= 100000; op++) {
        uint64_t i = below(&rng, KEYS);
        uint32_t n = (uint32_t)(1 + below(&rng, 100));
        bw_topk_add(t, keys[i], n);
        exact[i] += n;
        if (op % 2000 == 0)
            check_topk(t, K, keys, exact, KEYS);
    }
    bw_topk_free(t);
}

static void test_topk_total_get_clear(void **state)
{
    (void)state;
    assert_null(bw_topk_new(0));
    bw_topk *t = bw_topk_new(256);
    assert_non_null(t);
    assert_true(bw_topk_bytes(t) < 17 * 1024);
    bw_topk_add(t, 7, 3);
    bw_topk_add(t, 8, 4000000000u);
    bw_topk_add(t, 8, 4000000000u); /* counts are 64-bit */
    bw_topk_add(t, 0, 1);           /* 0 is a key like any other */
    bw_topk_add(t, 9, 0);           /* adds nothing, tracks nothing */
    assert_int_equal(bw_topk_total(t), 8000000004ull);
    assert_int_equal(bw_topk_get(t, 7), 3);
    assert_int_equal(bw_topk_get(t, 8), 8000000000ull);
    assert_int_equal(bw_topk_get(t, 0), 1);
    assert_int_equal(bw_topk_get(t, 9), 0);
    assert_int_equal(bw_topk_get(t, 12345), 0);
    bw_topk_item items[4];
    assert_int_equal(bw_topk_list(t, items, 4), 3);
    assert_true(items[0].key == 8 && items[1].key == 7 && items[2].key == 0);
    assert_true(items[0].err == 0 && items[1].err == 0); /* never evicted: exact */

    bw_topk_clear(t);
    assert_int_equal(bw_topk_total(t), 0);
    assert_int_equal(bw_topk_get(t, 8), 0);
    assert_int_equal(bw_topk_list(t, items, 4), 0);
    bw_topk_add(t, 8, 2);
    assert_int_equal(bw_topk_get(t, 8), 2);
    assert_int_equal(bw_topk_list(t, items, 4), 1);
    bw_topk_free(t);
}

/* One entry: each new key takes it over, inheriting the count as error. */
static void test_topk_k1(void **state)
{
    (void)state;
    bw_topk *t = bw_topk_new(1);
    assert_non_null(t);
    bw_topk_add(t, 1, 3);
    bw_topk_add(t, 2, 1);
    assert_int_equal(bw_topk_get(t, 1), 0);
    bw_topk_item it[2];
    assert_int_equal(bw_topk_list(t, it, 2), 1);
    assert_true(it[0].key == 2 && it[0].count == 4 && it[0].err == 3);
    bw_topk_add(t, 2, 2);
    assert_int_equal(bw_topk_get(t, 2), 6);
    assert_int_equal(bw_topk_total(t), 6);
    bw_topk_free(t);
}

/* A list shorter than k gets the best cap items, in order. */
static void test_topk_list_cap(void **state)
{
    (void)state;
    bw_topk *t = bw_topk_new(16);
    assert_non_null(t);
    uint64_t order[16] = { 5, 12, 1, 16, 9, 3, 14, 7, 2, 11, 15, 4, 8, 13, 6, 10 };
    for (int i = 0; i < 16; i++)
        bw_topk_add(t, order[i], (uint32_t)(order[i] * 10));
    bw_topk_item it[5];
    assert_int_equal(bw_topk_list(t, it, 5), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(it[i].key, 16 - i);
        assert_int_equal(it[i].count, (16 - i) * 10);
    }
    assert_int_equal(bw_topk_list(t, it, 1), 1);
    assert_int_equal(it[0].key, 16);
    assert_int_equal(bw_topk_list(t, NULL, 0), 0);
    bw_topk_free(t);
}

/* ---- EWMA ---- */

static void test_ewma_constant(void **state)
{
    (void)state;
    bw_ewma e = { 0 };
    assert_true(bw_ewma_sd(&e) == 0);
    for (int i = 0; i < 1000; i++)
        bw_ewma_add(&e, 7.5, 0.1);
    assert_true(e.primed);
    assert_true(e.mean == 7.5);
    assert_true(bw_ewma_sd(&e) < 1e-12);
}

/* The first sample primes; after a step from 0 to 10 the mean covers
 * alpha of the remaining distance per sample. */
static void test_ewma_step(void **state)
{
    (void)state;
    bw_ewma e = { 0 };
    bw_ewma_add(&e, 0, 0.1);
    assert_true(e.mean == 0 && e.var == 0);
    for (int i = 0; i < 100; i++)
        bw_ewma_add(&e, 0, 0.1);
    bw_ewma_add(&e, 10, 0.1);
    assert_float_equal(e.mean, 1.0, 1e-12);
    for (int n = 2; n <= 20; n++) {
        bw_ewma_add(&e, 10, 0.1);
        assert_float_equal(e.mean, 10 * (1 - pow(0.9, n)), 1e-9);
    }
    assert_true(bw_ewma_sd(&e) > 1); /* the jump shows as spread */
}

/* West's update by hand, alpha 0.5 from 0: x = 10 gives d 10, mean 5,
 * var 0.5 * (0 + 10 * 5) = 25; then x = 0 gives d -5, mean 2.5,
 * var 0.5 * (25 + 12.5) = 18.75. */
static void test_ewma_west(void **state)
{
    (void)state;
    bw_ewma e = { 0 };
    bw_ewma_add(&e, 0, 0.5);
    bw_ewma_add(&e, 10, 0.5);
    assert_true(e.mean == 5 && e.var == 25);
    assert_true(bw_ewma_sd(&e) == 5);
    bw_ewma_add(&e, 0, 0.5);
    assert_true(e.mean == 2.5 && e.var == 18.75);
}

/* 0, 10, 0, 10...: mean 5, variance 25 (25 (1 - alpha) in the limit). */
static void test_ewma_alternating(void **state)
{
    (void)state;
    bw_ewma e = { 0 };
    for (int i = 0; i < 20000; i++)
        bw_ewma_add(&e, i % 2 ? 10 : 0, 0.01);
    assert_float_equal(e.mean, 5, 0.06);
    assert_float_equal(e.var, 25, 0.5);
    assert_float_equal(bw_ewma_sd(&e), 5, 0.05);
}

/* The standard deviation is the root of the variance, and never NaN. */
static void test_ewma_sd(void **state)
{
    (void)state;
    bw_ewma e = { .primed = true, .var = 2 };
    assert_true(bw_ewma_sd(&e) == sqrt(2));
    e.var = -1; /* cannot come from bw_ewma_add */
    assert_true(bw_ewma_sd(&e) == 0);
    e.primed = false;
    e.var = 4;
    assert_true(bw_ewma_sd(&e) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cms_shapes),
        cmocka_unit_test(test_cms_never_underestimates),
        cmocka_unit_test(test_cms_error_bound),
        cmocka_unit_test(test_cms_decay),
        cmocka_unit_test(test_cms_merge),
        cmocka_unit_test(test_cms_clear),
        cmocka_unit_test(test_cms_values),
        cmocka_unit_test(test_topk_heavy_first),
        cmocka_unit_test(test_topk_guarantee_zipf),
        cmocka_unit_test(test_topk_guarantee_churn),
        cmocka_unit_test(test_topk_index_churn),
        cmocka_unit_test(test_topk_total_get_clear),
        cmocka_unit_test(test_topk_k1),
        cmocka_unit_test(test_topk_list_cap),
        cmocka_unit_test(test_ewma_constant),
        cmocka_unit_test(test_ewma_step),
        cmocka_unit_test(test_ewma_west),
        cmocka_unit_test(test_ewma_alternating),
        cmocka_unit_test(test_ewma_sd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
