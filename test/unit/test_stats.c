/*
 * test_stats.c - per-worker counters and site slots (admin/stats.c).
 *
 * The stats state is global (registered workers, slot names): every test
 * starts from bw_stats_free_all() in its setup and frees in its teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "admin/stats.h"

static int reset(void **state)
{
    (void)state;
    bw_stats_free_all();
    return 0;
}

static uint64_t get(bw_counter *c)
{
    return bw_counter_get(c);
}

static uint64_t sum_status(bw_site_stats *st)
{
    uint64_t n = 0;
    for (int i = 0; i < BW_STATS_CODES; i++)
        n += get(&st->status[i]);
    for (int i = 0; i < 6; i++)
        n += get(&st->status_other[i]);
    return n;
}

static uint64_t sum_lat(bw_site_stats *st)
{
    uint64_t n = 0;
    for (int i = 0; i <= BW_STATS_LAT_BUCKETS; i++)
        n += get(&st->lat_bucket[i]);
    return n;
}

static void test_tables(void **state)
{
    (void)state;
    /* codes are distinct and valid; bounds strictly increase */
    for (int i = 0; i < BW_STATS_CODES; i++) {
        assert_in_range(bw_stats_codes[i], 100, 599);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(bw_stats_codes[i], bw_stats_codes[j]);
    }
    for (int i = 1; i < BW_STATS_LAT_BUCKETS; i++)
        assert_true(bw_stats_lat_bounds_us[i] > bw_stats_lat_bounds_us[i - 1]);
    assert_int_equal(bw_stats_lat_bounds_us[0], 500);
    assert_int_equal(bw_stats_lat_bounds_us[BW_STATS_LAT_BUCKETS - 1], 10000000);
}

static void test_known_codes(void **state)
{
    (void)state;
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    unsigned slot = bw_stats_site_slot("a.test");
    bw_site_stats *st = &ws->sites[slot];
    for (int i = 0; i < BW_STATS_CODES; i++)
        for (int k = 0; k <= i; k++) /* code i counted i+1 times */
            bw_stats_request_done(ws, slot, bw_stats_codes[i], 0, 0, 0);
    for (int i = 0; i < BW_STATS_CODES; i++)
        assert_int_equal(get(&st->status[i]), (uint64_t)i + 1);
    for (int c = 0; c < 6; c++)
        assert_int_equal(get(&st->status_other[c]), 0);
    uint64_t total = (uint64_t)BW_STATS_CODES * (BW_STATS_CODES + 1) / 2;
    assert_int_equal(get(&st->requests), total);
    assert_int_equal(sum_status(st), total);
    assert_int_equal(sum_lat(st), 0);
    /* no other slot touched */
    for (unsigned s = 0; s < BW_STATS_MAX_SITES; s++)
        if (s != slot)
            assert_int_equal(get(&ws->sites[s].requests), 0);
    /* request_done counts site requests only, not the worker totals */
    assert_int_equal(get(&ws->requests), 0);
}

static void test_other_codes(void **state)
{
    (void)state;
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_site_stats *st = &ws->sites[3];
    static const struct {
        int status;
        int cls;
    } cases[] = {
        {418, 4}, {299, 2}, {100, 1}, {101, 1}, {199, 1}, {202, 2}, {303, 3}, {399, 3},
        {402, 4}, {499, 4}, {501, 5}, {599, 5},
        /* out of range: counted as server errors */
        {600, 5}, {0, 5}, {-1, 5}, {99, 5}, {1000, 5}, {-100000, 5}, {65535, 5},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    uint64_t want[6] = {0};
    for (size_t i = 0; i < n; i++) {
        bw_stats_request_done(ws, 3, cases[i].status, 0, 0, 0);
        want[cases[i].cls]++;
        for (int c = 0; c < 6; c++)
            if (get(&st->status_other[c]) != want[c])
                fail_msg("after status %d: status_other[%d] = %llu, want %llu", cases[i].status, c,
                         (unsigned long long)get(&st->status_other[c]), (unsigned long long)want[c]);
    }
    assert_int_equal(get(&st->status_other[0]), 0);
    for (int i = 0; i < BW_STATS_CODES; i++)
        assert_int_equal(get(&st->status[i]), 0);
    assert_int_equal(get(&st->requests), n);
}

static void test_latency_buckets(void **state)
{
    (void)state;
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_site_stats *st = &ws->sites[0];
    uint64_t sum = 0, count = 0;
    for (int k = 0; k < BW_STATS_LAT_BUCKETS; k++) {
        uint64_t bound = bw_stats_lat_bounds_us[k];
        uint64_t before_k = get(&st->lat_bucket[k]);
        /* exactly the bound: in bucket k (us <= bound) */
        bw_stats_request_done(ws, 0, 200, 0, 0, bound);
        sum += bound;
        count++;
        assert_int_equal(get(&st->lat_bucket[k]), before_k + 1);
        /* one more: the next bucket (or +Inf) */
        uint64_t before_next = get(&st->lat_bucket[k + 1]);
        bw_stats_request_done(ws, 0, 200, 0, 0, bound + 1);
        sum += bound + 1;
        count++;
        assert_int_equal(get(&st->lat_bucket[k + 1]), before_next + 1);
        /* one less: still bucket k (above the previous bound) */
        bw_stats_request_done(ws, 0, 200, 0, 0, bound - 1);
        sum += bound - 1;
        count++;
        assert_int_equal(get(&st->lat_bucket[k]), before_k + 2);
    }
    /* bucket k got bound_k and bound_k - 1; bucket k+1 got bound_k + 1 */
    assert_int_equal(get(&st->lat_bucket[0]), 2);
    for (int k = 1; k < BW_STATS_LAT_BUCKETS; k++)
        assert_int_equal(get(&st->lat_bucket[k]), 3);
    assert_int_equal(get(&st->lat_bucket[BW_STATS_LAT_BUCKETS]), 1);
    assert_int_equal(get(&st->lat_sum_us), sum);
    assert_int_equal(sum_lat(st), count);

    /* smallest and huge values */
    bw_stats_request_done(ws, 0, 200, 0, 0, 1);
    assert_int_equal(get(&st->lat_bucket[0]), 3);
    bw_stats_request_done(ws, 0, 200, 0, 0, 3600ull * 1000000);
    assert_int_equal(get(&st->lat_bucket[BW_STATS_LAT_BUCKETS]), 2);
    sum += 1 + 3600ull * 1000000;
    assert_int_equal(get(&st->lat_sum_us), sum);

    /* upstream_us == 0: no origin answered, no latency sample */
    uint64_t buckets_before = sum_lat(st);
    bw_stats_request_done(ws, 0, 502, 10, 20, 0);
    assert_int_equal(sum_lat(st), buckets_before);
    assert_int_equal(get(&st->lat_sum_us), sum);
    assert_int_equal(get(&st->requests), count + 3);
}

static void test_bytes(void **state)
{
    (void)state;
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_stats_request_done(ws, 1, 200, 100, 1000, 5);
    bw_stats_request_done(ws, 1, 404, 23, 0, 0);
    bw_stats_request_done(ws, 1, 200, 0, 5ull << 32, 0); /* beyond 32 bits */
    bw_stats_request_done(ws, 2, 200, 7, 9, 0);
    assert_int_equal(get(&ws->sites[1].bytes_in), 123);
    assert_int_equal(get(&ws->sites[1].bytes_out), 1000 + (5ull << 32));
    assert_int_equal(get(&ws->sites[1].requests), 3);
    assert_int_equal(get(&ws->sites[2].bytes_in), 7);
    assert_int_equal(get(&ws->sites[2].bytes_out), 9);
    assert_int_equal(get(&ws->sites[0].bytes_in), 0);
    /* request_done never touches the upstream request/error counters */
    assert_int_equal(get(&ws->sites[1].upstream_requests), 0);
    assert_int_equal(get(&ws->sites[1].upstream_errors), 0);
}

static void test_slot_out_of_range(void **state)
{
    (void)state;
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_stats_request_done(ws, BW_STATS_MAX_SITES, 200, 1, 1, 0);
    bw_stats_request_done(ws, 100000, 200, 1, 1, 0);
    bw_stats_request_done(ws, BW_STATS_MAX_SITES - 1, 200, 1, 1, 0);
    assert_int_equal(get(&ws->sites[BW_STATS_MAX_SITES - 1].requests), 3);
    assert_int_equal(get(&ws->sites[BW_STATS_MAX_SITES - 1].bytes_in), 3);
}

static void test_site_slots(void **state)
{
    (void)state;
    assert_int_equal(bw_stats_nsites(), 0);
    assert_null(bw_stats_site_name(0));
    char name[32];
    strcpy(name, "a.test");
    unsigned a = bw_stats_site_slot(name);
    strcpy(name, "zzzzzz"); /* the slot keeps its own copy */
    assert_string_equal(bw_stats_site_name(a), "a.test");
    unsigned b = bw_stats_site_slot("b.test");
    unsigned a2 = bw_stats_site_slot("a.test");
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(a2, a);
    assert_int_not_equal(a, b);
    assert_int_equal(bw_stats_nsites(), 2);
    assert_string_equal(bw_stats_site_name(b), "b.test");
    /* case matters: slots are keyed by the exact site name */
    unsigned upper = bw_stats_site_slot("A.test");
    assert_int_equal(upper, 2);
    assert_int_equal(bw_stats_nsites(), 3);
    assert_null(bw_stats_site_name(3));
    assert_null(bw_stats_site_name(BW_STATS_MAX_SITES - 2));
    assert_string_equal(bw_stats_site_name(BW_STATS_MAX_SITES - 1), "_overflow");
    assert_null(bw_stats_site_name(BW_STATS_MAX_SITES));
    assert_null(bw_stats_site_name(100000));
    /* no name: the overflow slot, nothing registered */
    assert_int_equal(bw_stats_site_slot(NULL), BW_STATS_MAX_SITES - 1);
    assert_int_equal(bw_stats_nsites(), 3);
}

static void test_site_slots_full(void **state)
{
    (void)state;
    char name[32];
    for (unsigned i = 0; i < BW_STATS_MAX_SITES - 1; i++) {
        snprintf(name, sizeof(name), "s%u.test", i);
        assert_int_equal(bw_stats_site_slot(name), i);
    }
    assert_int_equal(bw_stats_nsites(), BW_STATS_MAX_SITES - 1);
    /* full: new names share the overflow slot; known names keep theirs */
    assert_int_equal(bw_stats_site_slot("new1.test"), BW_STATS_MAX_SITES - 1);
    assert_int_equal(bw_stats_site_slot("new2.test"), BW_STATS_MAX_SITES - 1);
    assert_int_equal(bw_stats_nsites(), BW_STATS_MAX_SITES - 1);
    assert_int_equal(bw_stats_site_slot("s7.test"), 7);
    assert_int_equal(bw_stats_site_slot("s254.test"), 254);
    assert_string_equal(bw_stats_site_name(254), "s254.test");
    assert_string_equal(bw_stats_site_name(BW_STATS_MAX_SITES - 1), "_overflow");
}

static void test_workers_independent(void **state)
{
    (void)state;
    assert_int_equal(bw_stats_nworkers(), 0);
    assert_null(bw_stats_worker(0));
    bw_worker_stats *w1 = bw_stats_worker_new();
    bw_worker_stats *w2 = bw_stats_worker_new();
    assert_non_null(w1);
    assert_non_null(w2);
    assert_ptr_not_equal(w1, w2);
    assert_int_equal((uintptr_t)w1 % 64, 0); /* cache-line aligned */
    assert_int_equal((uintptr_t)w2 % 64, 0);
    assert_int_equal(bw_stats_nworkers(), 2);
    assert_ptr_equal(bw_stats_worker(0), w1);
    assert_ptr_equal(bw_stats_worker(1), w2);
    assert_null(bw_stats_worker(2));

    unsigned s = bw_stats_site_slot("a.test");
    bw_stats_request_done(w1, s, 200, 10, 100, 700);
    bw_stats_request_done(w1, s, 200, 10, 100, 700);
    bw_stats_request_done(w2, s, 404, 1, 2, 0);
    bw_counter_add(&w1->conns_accepted, 5);
    bw_counter_add(&w2->conns_accepted, 1);
    assert_int_equal(get(&w1->sites[s].requests), 2);
    assert_int_equal(get(&w2->sites[s].requests), 1);
    assert_int_equal(get(&w1->sites[s].status[0]), 2); /* 200 is code 0 */
    assert_int_equal(get(&w2->sites[s].status[0]), 0);
    assert_int_equal(get(&w1->sites[s].bytes_out), 200);
    assert_int_equal(get(&w2->sites[s].bytes_out), 2);
    assert_int_equal(get(&w1->sites[s].lat_bucket[1]), 2); /* 700us: (500, 1000] */
    assert_int_equal(sum_lat(&w2->sites[s]), 0);
    assert_int_equal(get(&w1->conns_accepted), 5);
    assert_int_equal(get(&w2->conns_accepted), 1);

    /* a new worker starts at zero */
    bw_worker_stats *w3 = bw_stats_worker_new();
    assert_non_null(w3);
    assert_int_equal(get(&w3->conns_accepted), 0);
    assert_int_equal(get(&w3->sites[s].requests), 0);
}

static void test_max_workers(void **state)
{
    (void)state;
    bw_worker_stats *ws[BW_STATS_MAX_WORKERS];
    for (int i = 0; i < BW_STATS_MAX_WORKERS; i++) {
        ws[i] = bw_stats_worker_new();
        assert_non_null(ws[i]);
    }
    assert_null(bw_stats_worker_new());
    assert_int_equal(bw_stats_nworkers(), BW_STATS_MAX_WORKERS);
    for (int i = 0; i < BW_STATS_MAX_WORKERS; i++)
        assert_ptr_equal(bw_stats_worker((size_t)i), ws[i]);
}

/* Each worker thread is the only writer of its counters: totals are exact. */
#define THREAD_REQS 100000

static void *hammer(void *arg)
{
    bw_worker_stats *ws = arg;
    for (int i = 0; i < THREAD_REQS; i++)
        bw_stats_request_done(ws, 0, i % 2 ? 200 : 404, 1, 2, (uint64_t)(i % 3));
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    bw_worker_stats *w[4];
    pthread_t t[4];
    assert_int_equal(bw_stats_site_slot("a"), 0);
    for (int i = 0; i < 4; i++) {
        w[i] = bw_stats_worker_new();
        assert_non_null(w[i]);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, w[i]), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    uint64_t req = 0, in = 0, out = 0, lat = 0;
    for (size_t i = 0; i < bw_stats_nworkers(); i++) {
        bw_site_stats *st = &bw_stats_worker(i)->sites[0];
        req += get(&st->requests);
        in += get(&st->bytes_in);
        out += get(&st->bytes_out);
        lat += sum_lat(st);
        assert_int_equal(get(&st->status[0]), THREAD_REQS / 2);
    }
    assert_int_equal(req, 4 * THREAD_REQS);
    assert_int_equal(in, 4 * THREAD_REQS);
    assert_int_equal(out, 8 * THREAD_REQS);
    /* i % 3 != 0 for 2/3 of them (rounded): 66666 per thread */
    assert_int_equal(lat, 4 * 66666);
}

static void test_free_all_resets(void **state)
{
    (void)state;
    bw_worker_stats *w = bw_stats_worker_new();
    assert_non_null(w);
    assert_int_equal(bw_stats_site_slot("x"), 0);
    assert_int_equal(bw_stats_site_slot("y"), 1);
    bw_stats_request_done(w, 1, 200, 1, 1, 1);
    bw_stats_free_all();
    assert_int_equal(bw_stats_nworkers(), 0);
    assert_null(bw_stats_worker(0));
    assert_int_equal(bw_stats_nsites(), 0);
    assert_null(bw_stats_site_name(0));
    /* slots start again from 0 and new workers are zeroed */
    assert_int_equal(bw_stats_site_slot("y"), 0);
    bw_worker_stats *w2 = bw_stats_worker_new();
    assert_non_null(w2);
    assert_int_equal(bw_stats_nworkers(), 1);
    assert_ptr_equal(bw_stats_worker(0), w2);
    assert_int_equal(get(&w2->sites[1].requests), 0);
    bw_stats_free_all();
    bw_stats_free_all(); /* twice is harmless */
    assert_int_equal(bw_stats_nworkers(), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, reset, reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tables),
        T(test_known_codes),
        T(test_other_codes),
        T(test_latency_buckets),
        T(test_bytes),
        T(test_slot_out_of_range),
        T(test_site_slots),
        T(test_site_slots_full),
        T(test_workers_independent),
        T(test_max_workers),
        T(test_threads),
        T(test_free_all_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
