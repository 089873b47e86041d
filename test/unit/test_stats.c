/*
 * test_stats.c - per-worker counters (admin/stats.c) and how the admin
 * renderers (admin/admin.c) merge them across workers.
 *
 * Stats are process-global: every test starts with bw_stats_free_all().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/stats.h"

static int code_pos(int code)
{
    for (int i = 0; i < BW_STATS_CODES; i++)
        if (bw_stats_codes[i] == code)
            return i;
    return -1;
}

static uint64_t get(bw_counter *c)
{
    return bw_counter_get(c);
}

static uint64_t lat_total(bw_site_stats *st)
{
    uint64_t n = 0;
    for (int b = 0; b <= BW_STATS_LAT_BUCKETS; b++)
        n += get(&st->lat_bucket[b]);
    return n;
}

/* The value after "PREFIX" at the start of a line of text, or -1. */
static long long metric_value(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
    }
    return -1;
}

static void test_known_codes(void **state)
{
    (void)state;
    bw_stats_free_all();
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    unsigned slot = bw_stats_site_slot("a.test");
    for (int i = 0; i < BW_STATS_CODES; i++) {
        for (int k = 0; k <= i % 3; k++)
            bw_stats_request_done(ws, slot, bw_stats_codes[i], 0, 0, 0);
    }
    bw_site_stats *st = &ws->sites[slot];
    uint64_t total = 0;
    for (int i = 0; i < BW_STATS_CODES; i++) {
        assert_int_equal(get(&st->status[i]), (uint64_t)(i % 3 + 1));
        total += (uint64_t)(i % 3 + 1);
    }
    for (int c = 0; c < 6; c++)
        assert_int_equal(get(&st->status_other[c]), 0);
    assert_int_equal(get(&st->requests), total);
    assert_int_equal(lat_total(st), 0);
    /* a known code lands at its own index */
    bw_stats_request_done(ws, slot, 404, 0, 0, 0);
    assert_int_equal(get(&st->status[code_pos(404)]), (uint64_t)(code_pos(404) % 3 + 2));
    /* nothing leaked into another slot */
    assert_int_equal(get(&ws->sites[slot + 1].requests), 0);
    bw_stats_free_all();
}

static void test_other_codes(void **state)
{
    (void)state;
    bw_stats_free_all();
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_site_stats *st = &ws->sites[0];
    static const struct {
        int code, cls;
    } cases[] = {
        {418, 4}, {103, 1}, {299, 2}, {399, 3}, {451, 4}, {599, 5}, {501, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(code_pos(cases[i].code), -1);
        uint64_t before = get(&st->status_other[cases[i].cls]);
        bw_stats_request_done(ws, 0, cases[i].code, 0, 0, 0);
        assert_int_equal(get(&st->status_other[cases[i].cls]), before + 1);
    }
    assert_int_equal(get(&st->status_other[4]), 2);
    assert_int_equal(get(&st->status_other[5]), 2);
    assert_int_equal(get(&st->status_other[0]), 0);
    /* out-of-range statuses do not index outside the arrays: class 5 */
    bw_stats_request_done(ws, 0, 0, 0, 0, 0);
    bw_stats_request_done(ws, 0, 600, 0, 0, 0);
    bw_stats_request_done(ws, 0, -1, 0, 0, 0);
    bw_stats_request_done(ws, 0, 99999, 0, 0, 0);
    assert_int_equal(get(&st->status_other[5]), 6);
    for (int i = 0; i < BW_STATS_CODES; i++)
        assert_int_equal(get(&st->status[i]), 0);
    assert_int_equal(get(&st->requests), 11);
    bw_stats_free_all();
}

static void test_latency_buckets(void **state)
{
    (void)state;
    bw_stats_free_all();
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_site_stats *st = &ws->sites[3];
    uint64_t sum = 0;
    for (int b = 0; b < BW_STATS_LAT_BUCKETS; b++) {
        uint64_t bound = bw_stats_lat_bounds_us[b];
        if (b)
            assert_true(bound > bw_stats_lat_bounds_us[b - 1]);
        /* equal to a bound: that bound's bucket */
        bw_stats_request_done(ws, 3, 200, 0, 0, bound);
        assert_int_equal(get(&st->lat_bucket[b]), 1);
        /* one above: the next bucket */
        bw_stats_request_done(ws, 3, 200, 0, 0, bound + 1);
        assert_int_equal(get(&st->lat_bucket[b + 1]), 1);
        sum += bound + bound + 1;
        /* reset the two buckets through the counters themselves */
        atomic_store(&st->lat_bucket[b], 0);
        atomic_store(&st->lat_bucket[b + 1], 0);
    }
    assert_int_equal(get(&st->lat_sum_us), sum);
    /* smallest value in the first bucket, huge in +Inf */
    bw_stats_request_done(ws, 3, 200, 0, 0, 1);
    bw_stats_request_done(ws, 3, 200, 0, 0, UINT64_MAX / 4);
    assert_int_equal(get(&st->lat_bucket[0]), 1);
    assert_int_equal(get(&st->lat_bucket[BW_STATS_LAT_BUCKETS]), 1);
    /* upstream_us 0: no origin answered, no latency counted */
    uint64_t before_sum = get(&st->lat_sum_us), before_n = lat_total(st);
    bw_stats_request_done(ws, 3, 502, 0, 0, 0);
    assert_int_equal(lat_total(st), before_n);
    assert_int_equal(get(&st->lat_sum_us), before_sum);
    assert_int_equal(get(&st->requests), 2 * BW_STATS_LAT_BUCKETS + 3);
    bw_stats_free_all();
}

static void test_bytes_and_slot_clamp(void **state)
{
    (void)state;
    bw_stats_free_all();
    bw_worker_stats *ws = bw_stats_worker_new();
    assert_non_null(ws);
    bw_stats_request_done(ws, 1, 200, 100, 1000, 0);
    bw_stats_request_done(ws, 1, 200, 23, 4, 0);
    bw_stats_request_done(ws, 1, 204, 0, 0, 0);
    assert_int_equal(get(&ws->sites[1].bytes_in), 123);
    assert_int_equal(get(&ws->sites[1].bytes_out), 1004);
    assert_int_equal(get(&ws->sites[1].requests), 3);
    /* a slot out of range goes to the overflow slot */
    bw_stats_request_done(ws, BW_STATS_MAX_SITES + 5, 200, 7, 8, 0);
    assert_int_equal(get(&ws->sites[BW_STATS_MAX_SITES - 1].requests), 1);
    assert_int_equal(get(&ws->sites[BW_STATS_MAX_SITES - 1].bytes_in), 7);
    bw_stats_free_all();
}

static void test_site_slots(void **state)
{
    (void)state;
    bw_stats_free_all();
    assert_int_equal(bw_stats_nsites(), 0);
    unsigned a = bw_stats_site_slot("a.test");
    unsigned b = bw_stats_site_slot("b.test");
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(bw_stats_site_slot("a.test"), a); /* same name, same slot */
    assert_int_equal(bw_stats_site_slot("A.test"), 2); /* names are exact */
    assert_int_equal(bw_stats_nsites(), 3);
    assert_string_equal(bw_stats_site_name(a), "a.test");
    assert_string_equal(bw_stats_site_name(b), "b.test");
    assert_null(bw_stats_site_name(3));
    assert_string_equal(bw_stats_site_name(BW_STATS_MAX_SITES - 1), "_overflow");
    assert_int_equal(bw_stats_site_slot(NULL), BW_STATS_MAX_SITES - 1);

    /* fill up: the last usable slot is MAX - 2, then everything overflows */
    char name[32];
    for (unsigned i = 3; i < BW_STATS_MAX_SITES - 1; i++) {
        snprintf(name, sizeof name, "s%u.test", i);
        assert_int_equal(bw_stats_site_slot(name), i);
    }
    assert_int_equal(bw_stats_nsites(), BW_STATS_MAX_SITES - 1);
    assert_int_equal(bw_stats_site_slot("one-too-many.test"), BW_STATS_MAX_SITES - 1);
    assert_int_equal(bw_stats_site_slot("a.test"), a); /* existing names still found */
    assert_string_equal(bw_stats_site_name(BW_STATS_MAX_SITES - 2), "s254.test");

    bw_stats_free_all();
    assert_int_equal(bw_stats_nsites(), 0);
    assert_null(bw_stats_site_name(0));
    assert_int_equal(bw_stats_site_slot("b.test"), 0); /* fresh numbering */
    bw_stats_free_all();
}

static void test_workers(void **state)
{
    (void)state;
    bw_stats_free_all();
    assert_int_equal(bw_stats_nworkers(), 0);
    bw_worker_stats *w1 = bw_stats_worker_new();
    bw_worker_stats *w2 = bw_stats_worker_new();
    assert_non_null(w1);
    assert_non_null(w2);
    assert_ptr_not_equal(w1, w2);
    assert_int_equal(bw_stats_nworkers(), 2);
    assert_ptr_equal(bw_stats_worker(0), w1);
    assert_ptr_equal(bw_stats_worker(1), w2);
    assert_null(bw_stats_worker(2));
    assert_int_equal((uintptr_t)w1 % 64, 0);
    bw_stats_request_done(w1, 0, 200, 1, 1, 0);
    assert_int_equal(get(&w2->sites[0].requests), 0);
    bw_stats_free_all();
    assert_int_equal(bw_stats_nworkers(), 0);
    assert_null(bw_stats_worker(0));
}

static void test_render_metrics_merged(void **state)
{
    (void)state;
    bw_stats_free_all();
    bw_worker_stats *w1 = bw_stats_worker_new();
    bw_worker_stats *w2 = bw_stats_worker_new();
    assert_non_null(w1);
    assert_non_null(w2);
    unsigned a = bw_stats_site_slot("a.test");
    unsigned b = bw_stats_site_slot("b.test");
    bw_stats_request_done(w1, a, 200, 10, 100, 400);     /* bucket 0.0005 */
    bw_stats_request_done(w1, a, 200, 10, 100, 3000);    /* bucket 0.005 */
    bw_stats_request_done(w2, a, 200, 10, 100, 20000000); /* +Inf */
    bw_stats_request_done(w2, a, 418, 1, 2, 0);          /* no latency */
    bw_stats_request_done(w2, b, 502, 5, 6, 0);

    size_t len = 0;
    char *m = bw_admin_render_metrics(&len);
    assert_non_null(m);
    assert_int_equal(strlen(m), len);
    assert_non_null(strstr(m, "bulwark_workers 2\n"));
    assert_non_null(strstr(m, "bulwark_requests_total{site=\"a.test\",code=\"200\"} 3\n"));
    assert_non_null(strstr(m, "bulwark_requests_total{site=\"a.test\",code=\"4xx\"} 1\n"));
    assert_non_null(strstr(m, "bulwark_requests_total{site=\"b.test\",code=\"502\"} 1\n"));
    assert_null(strstr(m, "{site=\"a.test\",code=\"502\"}"));
    assert_null(strstr(m, "_overflow")); /* no data there */
    assert_int_equal(metric_value(m, "bulwark_received_bytes_total{site=\"a.test\"}"), 31);
    assert_int_equal(metric_value(m, "bulwark_sent_bytes_total{site=\"a.test\"}"), 302);

    long long inf = metric_value(m, "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"+Inf\"}");
    long long count = metric_value(m, "bulwark_upstream_latency_seconds_count{site=\"a.test\"}");
    assert_int_equal(count, 3);
    assert_int_equal(inf, count);
    assert_int_equal(
        metric_value(m, "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.0005\"}"), 1);
    assert_int_equal(
        metric_value(m, "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.005\"}"), 2);
    assert_int_equal(metric_value(m, "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"10\"}"),
                     2);
    /* b.test: no latency at all, +Inf == count == 0 */
    assert_int_equal(
        metric_value(m, "bulwark_upstream_latency_seconds_bucket{site=\"b.test\",le=\"+Inf\"}"), 0);
    assert_int_equal(metric_value(m, "bulwark_upstream_latency_seconds_count{site=\"b.test\"}"), 0);
    assert_non_null(strstr(m, "bulwark_upstream_latency_seconds_sum{site=\"a.test\"} 20.003400\n"));
    free(m);

    /* the overflow slot is reported once it has data */
    bw_stats_request_done(w1, BW_STATS_MAX_SITES - 1, 400, 0, 0, 0);
    m = bw_admin_render_metrics(&len);
    assert_non_null(m);
    assert_non_null(strstr(m, "bulwark_requests_total{site=\"_overflow\",code=\"400\"} 1\n"));
    free(m);
    bw_stats_free_all();
}

static void test_render_stats_json(void **state)
{
    (void)state;
    bw_stats_free_all();
    bw_worker_stats *w1 = bw_stats_worker_new();
    bw_worker_stats *w2 = bw_stats_worker_new();
    assert_non_null(w1);
    assert_non_null(w2);
    unsigned a = bw_stats_site_slot("a.test");
    bw_stats_request_done(w1, a, 200, 10, 20, 1000);
    bw_stats_request_done(w1, a, 200, 10, 20, 1000);
    bw_stats_request_done(w2, a, 200, 10, 20, 1000);
    size_t len = 0;
    char *j = bw_admin_render_stats_json(&len);
    assert_non_null(j);
    assert_int_equal(strlen(j), len);
    assert_non_null(strstr(j, "\"workers\":2"));
    assert_non_null(strstr(j, "{\"name\":\"a.test\",\"requests\":3,\"status\":{\"200\":3}"));
    assert_non_null(strstr(j, "\"requests\":3"));
    assert_non_null(strstr(j, "\"bytes_in\":30,\"bytes_out\":60"));
    assert_int_equal(j[len - 1], '\n');
    free(j);
    bw_stats_free_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_codes),
        cmocka_unit_test(test_other_codes),
        cmocka_unit_test(test_latency_buckets),
        cmocka_unit_test(test_bytes_and_slot_clamp),
        cmocka_unit_test(test_site_slots),
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_render_metrics_merged),
        cmocka_unit_test(test_render_stats_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
