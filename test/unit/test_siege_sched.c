/*
 * test_siege_sched.c - bulwark-siege's own logic: rate pacing, address
 * rotation, scenario specs (with seed-replay) and the filing of the origin
 * probe's counts under the scenarios they belong to.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "siege/counts.h"
#include "siege/request.h"
#include "siege/scenario.h"
#include "siege/sched.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* ---- pacing ---- */

static void test_pacer_exact_rate(void **state)
{
    (void)state;
    sg_pacer p;
    sg_pacer_init(&p, 1000);
    uint64_t total = 0;
    for (uint64_t t = 0; t <= 10 * SEC; t += MS) { /* a 1 ms loop for 10 s */
        uint64_t d = sg_pacer_due(&p, t);
        sg_pacer_issue(&p, d);
        total += d;
    }
    assert_int_equal(total, 10000);
    assert_int_equal(p.missed, 0);
}

static void test_pacer_fractional_rate(void **state)
{
    (void)state;
    sg_pacer p;
    sg_pacer_init(&p, 2.5);
    uint64_t total = 0;
    for (uint64_t t = 0; t <= 4 * SEC; t += 100 * MS) {
        uint64_t d = sg_pacer_due(&p, t);
        sg_pacer_issue(&p, d);
        total += d;
    }
    assert_int_equal(total, 10);
}

static void test_pacer_falls_behind_counts_missed(void **state)
{
    (void)state;
    sg_pacer p;
    sg_pacer_init(&p, 100);
    /* nobody asked for 5 s: at most one second's worth goes out at once */
    uint64_t d = sg_pacer_due(&p, 5 * SEC);
    assert_int_equal(d, 100);
    assert_int_equal(p.missed, 400);
    sg_pacer_issue(&p, d);
    assert_int_equal(sg_pacer_due(&p, 5 * SEC), 0);
    assert_int_equal(sg_pacer_due(&p, 5 * SEC + 10 * MS), 1);
}

static void test_pacer_zero_rate(void **state)
{
    (void)state;
    sg_pacer p;
    sg_pacer_init(&p, 0);
    assert_int_equal(sg_pacer_due(&p, 100 * SEC), 0);
}

/* ---- address rotation ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void test_addrpool_distinct_and_in_block(void **state)
{
    (void)state;
    sg_addrpool p;
    sg_addrpool_init(&p, 16, 31, 0);
    assert_int_equal(p.size, 16u * 256 * 254);
    enum { N = 200000 };
    uint32_t *a = malloc(N * sizeof *a);
    assert_non_null(a);
    for (int i = 0; i < N; i++) {
        a[i] = sg_addrpool_next(&p);
        assert_int_equal(a[i] >> 24, 127);
        uint32_t o2 = (a[i] >> 16) & 255, o4 = a[i] & 255;
        assert_true(o2 >= 16 && o2 <= 31);
        assert_true(o4 >= 1 && o4 <= 254); /* never .0 or .255 */
    }
    qsort(a, N, sizeof *a, cmp_u32);
    for (int i = 1; i < N; i++)
        assert_true(a[i] != a[i - 1]); /* never reused before the pool wraps */
    free(a);
}

static void test_addrpool_spreads_over_prefixes(void **state)
{
    (void)state;
    sg_addrpool p;
    sg_addrpool_init(&p, 16, 31, 0);
    /* 1000 consecutive bots: a /24 must not hold more than a handful */
    static uint16_t per24[16 * 256];
    memset(per24, 0, sizeof per24);
    int worst = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t a = sg_addrpool_next(&p);
        uint32_t k = ((a >> 8) & 0xffff) - 16 * 256;
        if (++per24[k] > worst)
            worst = per24[k];
    }
    assert_true(worst <= 3);
}

static void test_addrpool_whole_cycle_is_a_permutation(void **state)
{
    (void)state;
    sg_addrpool p;
    sg_addrpool_init(&p, 1, 1, 0);
    uint32_t n = p.size;
    uint8_t *seen = calloc(1u << 16, 1);
    assert_non_null(seen);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = sg_addrpool_next(&p);
        assert_int_equal(seen[a & 0xffff], 0);
        seen[a & 0xffff] = 1;
    }
    assert_int_equal(sg_addrpool_next(&p), sg_addrpool_at(&p, 0)); /* wraps */
    free(seen);
}

static void test_addrpool_limit_cycles(void **state)
{
    (void)state;
    sg_addrpool p;
    sg_addrpool_init(&p, 32, 47, 200); /* proxy-flood: 200 proxies */
    uint32_t first[200];
    for (int i = 0; i < 200; i++)
        first[i] = sg_addrpool_next(&p);
    for (int i = 0; i < 200; i++)
        assert_int_equal(sg_addrpool_next(&p), first[i]);
}

static void test_rng_ranges(void **state)
{
    (void)state;
    sg_rng r;
    sg_rng_seed(&r, 42);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        assert_true(sg_rng_below(&r, 7) < 7);
        double u = sg_rng_unit(&r);
        assert_true(u >= 0 && u < 1);
        sum += sg_rng_exp(&r, 10.0);
    }
    double mean = sum / 100000;
    assert_true(mean > 9.5 && mean < 10.5);
}

/* ---- scenario specs ---- */

static const sg_defaults defs = { 10, 0 };

static void test_scenario_defaults_and_keys(void **state)
{
    (void)state;
    static sg_run r;
    memset(&r, 0, sizeof r);
    char err[256];
    assert_int_equal(sg_scenario_add(&r, "http-flood", &defs, err, sizeof err), 0);
    assert_int_equal(sg_scenario_add(&r, "http-flood:rate=20000,start=5,duration=2.5,per-ip=1,"
                                         "mimic=browser,name=wave2",
                                     &defs, err, sizeof err),
                     0);
    assert_int_equal(r.nscen, 2);
    assert_int_equal(r.scen[0].kind, SG_HTTP_FLOOD);
    assert_true(r.scen[0].attack);
    assert_true(r.scen[0].rate == 1000 && r.scen[0].per_ip == 3 && r.scen[0].duration_s == 10);
    assert_string_equal(r.scen[1].name, "wave2");
    assert_true(r.scen[1].rate == 20000 && r.scen[1].start_s == 5);
    assert_true(r.scen[1].duration_s == 2.5 && r.scen[1].per_ip == 1);
    assert_true(r.scen[1].mimic_browser);
    assert_int_equal(sg_run_seconds(&r), 10);
}

static void test_scenario_same_kind_twice_gets_unique_names(void **state)
{
    (void)state;
    static sg_run r;
    memset(&r, 0, sizeof r);
    char err[256];
    assert_int_equal(sg_scenario_add(&r, "cache-bust", &defs, err, sizeof err), 0);
    assert_int_equal(sg_scenario_add(&r, "cache-bust:start=20", &defs, err, sizeof err), 0);
    assert_string_not_equal(r.scen[0].name, r.scen[1].name);
    assert_int_equal(sg_run_seconds(&r), 30);
}

static void test_scenario_errors_name_the_problem(void **state)
{
    (void)state;
    static sg_run r;
    memset(&r, 0, sizeof r);
    char err[256];
    assert_int_equal(sg_scenario_add(&r, "ddos", &defs, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown scenario 'ddos'"));
    assert_int_equal(sg_scenario_add(&r, "http-flood:rate=fast", &defs, err, sizeof err), -1);
    assert_non_null(strstr(err, "rate=fast"));
    assert_int_equal(sg_scenario_add(&r, "http-flood:speed=1", &defs, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key 'speed'"));
    assert_int_equal(sg_scenario_add(&r, "legit:users", &defs, err, sizeof err), -1);
    assert_non_null(strstr(err, "key=value"));
    assert_int_equal(sg_scenario_add(&r, "slowloris:conns=50000", &defs, err, sizeof err), -1);
    assert_int_equal(r.nscen, 0); /* nothing half-added */
}

static void test_seed_replay_phases(void **state)
{
    (void)state;
    static sg_run r;
    memset(&r, 0, sizeof r);
    char err[256];
    assert_int_equal(sg_scenario_add(&r, "seed-replay:duration=100,rate=1000,users=30", &defs,
                                     err, sizeof err),
                     0);
    assert_int_equal(r.nscen, 5);
    assert_int_equal(r.scen[0].kind, SG_LEGIT);
    assert_false(r.scen[0].attack);
    assert_int_equal(r.scen[0].users, 30);
    assert_true(r.scen[0].start_s == 0 && r.scen[0].duration_s == 100);
    assert_int_equal(r.scen[1].kind, SG_PROXY_FLOOD);
    assert_true(r.scen[1].start_s > 14.999 && r.scen[1].start_s < 15.001);
    assert_true(r.scen[1].duration_s > 24.999 && r.scen[1].duration_s < 25.001);
    assert_true(r.scen[1].rate == 1000);
    assert_int_equal(r.scen[2].kind, SG_HTTP_FLOOD);
    assert_true(r.scen[2].start_s > 54.999 && r.scen[2].start_s < 55.001);
    assert_true(r.scen[2].rate == 2000);
    assert_int_equal(r.scen[3].kind, SG_BRUTE_FORCE);
    assert_int_equal(r.scen[4].kind, SG_CRED_STUFFING);
    assert_true(r.scen[4].rate == 50);
    /* the quiet phase: no attack runs in 40..55 */
    for (int i = 1; i < r.nscen; i++)
        assert_true(r.scen[i].start_s + r.scen[i].duration_s <= 40.0 + 1e-9 ||
                    r.scen[i].start_s >= 55.0 - 1e-9);
    assert_int_equal(sg_run_seconds(&r), 100);
}

/* ---- probe counts ---- */

static void make_run(sg_run *r)
{
    memset(r, 0, sizeof *r);
    r->nscen = 2;
    r->scen[0].kind = SG_LEGIT;
    r->scen[0].octet_lo = r->scen[0].octet_hi = 1;
    r->scen[1].kind = SG_HTTP_FLOOD;
    r->scen[1].attack = true;
    r->scen[1].octet_lo = 16;
    r->scen[1].octet_hi = 31;
    r->nsec = 5;
    r->t0_unix = 1000;
    assert_int_equal(sg_run_alloc_timelines(r), 0);
}

static void test_counts_filed_by_octet_and_second(void **state)
{
    (void)state;
    static sg_run r;
    make_run(&r);
    const char body[] = "999 1 7\n"        /* before the run: ignored */
                        "1000 1 10\n"
                        "1000 16 300\n"
                        "1001 31 200\n"    /* same scenario, other octet */
                        "1002 0 99\n"      /* nobody's (health checks): ignored */
                        "1003 200 5\n"     /* an octet no scenario owns */
                        "1009 1 4\n";      /* late: filed under the last second */
    assert_int_equal(sg_counts_apply(&r, body, sizeof body - 1), 4);
    assert_int_equal(r.scen[0].tot.reached, 14);
    assert_int_equal(r.scen[0].timeline[0].reached, 10);
    assert_int_equal(r.scen[0].timeline[4].reached, 4);
    assert_int_equal(r.scen[1].tot.reached, 500);
    assert_int_equal(r.scen[1].timeline[0].reached, 300);
    assert_int_equal(r.scen[1].timeline[1].reached, 200);
    sg_run_free(&r);
}

static void test_counts_malformed_refused(void **state)
{
    (void)state;
    static sg_run r;
    make_run(&r);
    const char body[] = "1000 1 10\nhello world\n";
    assert_int_equal(sg_counts_apply(&r, body, sizeof body - 1), -1);
    const char body2[] = "1000 300 10\n";
    assert_int_equal(sg_counts_apply(&r, body2, sizeof body2 - 1), -1);
    sg_run_free(&r);
}

/* ---- requests ---- */

static void test_request_bot_and_browser_heads(void **state)
{
    (void)state;
    char buf[2048];
    sg_req q = { .method = "GET", .path = "/x", .host = "site" };
    size_t n = sg_req_build(&q, buf, sizeof buf);
    assert_true(n > 0);
    buf[n] = 0;
    assert_non_null(strstr(buf, "GET /x HTTP/1.1\r\nHost: site\r\nUser-Agent: python-requests"));
    assert_non_null(strstr(buf, "\r\n\r\n"));
    q.browser = true;
    q.ua = sg_user_agents[2];
    q.cookie = "a=1; b=2";
    n = sg_req_build(&q, buf, sizeof buf);
    buf[n] = 0;
    assert_non_null(strstr(buf, sg_user_agents[2]));
    assert_non_null(strstr(buf, "Cookie: a=1; b=2\r\n\r\n"));
    assert_true(strstr(buf, "sec-ch-ua:") < strstr(buf, "User-Agent:")); /* Chrome's order */
    char body[128];
    size_t bl = sg_req_login_body("user7", "pw-user7", body, sizeof body);
    sg_req post = { .method = "POST", .path = "/login", .host = "h", .browser = true,
                    .ctype = "application/x-www-form-urlencoded", .body = body, .body_len = bl };
    n = sg_req_build(&post, buf, sizeof buf);
    buf[n] = 0;
    assert_non_null(strstr(buf, "Content-Length: 32\r\n\r\nusername=user7&password=pw-user7"));
    assert_int_equal(sg_req_build(&q, buf, 40), 0); /* does not fit: refused, not cut */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pacer_exact_rate),
        cmocka_unit_test(test_pacer_fractional_rate),
        cmocka_unit_test(test_pacer_falls_behind_counts_missed),
        cmocka_unit_test(test_pacer_zero_rate),
        cmocka_unit_test(test_addrpool_distinct_and_in_block),
        cmocka_unit_test(test_addrpool_spreads_over_prefixes),
        cmocka_unit_test(test_addrpool_whole_cycle_is_a_permutation),
        cmocka_unit_test(test_addrpool_limit_cycles),
        cmocka_unit_test(test_rng_ranges),
        cmocka_unit_test(test_scenario_defaults_and_keys),
        cmocka_unit_test(test_scenario_same_kind_twice_gets_unique_names),
        cmocka_unit_test(test_scenario_errors_name_the_problem),
        cmocka_unit_test(test_seed_replay_phases),
        cmocka_unit_test(test_counts_filed_by_octet_and_second),
        cmocka_unit_test(test_counts_malformed_refused),
        cmocka_unit_test(test_request_bot_and_browser_heads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
