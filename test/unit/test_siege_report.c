/*
 * test_siege_report.c - bulwark-siege's histogram, time to mitigate and
 * report writers (tools/siege/report.c, siege.c), on hand-made runs.
 *
 * Each test gets a zeroed sg_run from setup (freed in teardown); output is
 * captured with open_memstream.  JSON output is checked by a small strict
 * parser below, so "valid JSON" is a real assertion, not a substring hope.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siege/report.h"

static int setup(void **state)
{
    sg_run *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    sg_run_free(*state);
    free(*state);
    return 0;
}

static sg_scenario *add_scen(sg_run *r, const char *name, sg_kind kind, double start,
                             double dur)
{
    sg_scenario *s = &r->scen[r->nscen++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->attack = kind != SG_LEGIT;
    s->rate = 1000;
    s->start_s = start;
    s->duration_s = dur;
    return s;
}

/* Fill seconds [from, to) of s with sent/reached per second, keeping the
 * totals in step. */
static void fill(sg_scenario *s, uint32_t from, uint32_t to, uint32_t sent, uint32_t reached)
{
    for (uint32_t i = from; i < to; i++) {
        s->timeline[i].sent += sent;
        s->timeline[i].reached += reached;
        s->tot.sent += sent;
        s->tot.reached += reached;
    }
}

/* A run of nsec seconds: "legit" all along, "http-flood" from 5 s for 10 s
 * blocked from its third second on.  probe: reached counted or -1. */
static void demo_run(sg_run *r, uint32_t nsec, bool probe)
{
    snprintf(r->label, sizeof r->label, "bulwark");
    snprintf(r->target, sizeof r->target, "127.0.0.1:8080");
    snprintf(r->host, sizeof r->host, "shop.test");
    r->nsec = nsec;
    sg_scenario *l = add_scen(r, "legit", SG_LEGIT, 0, nsec);
    sg_scenario *a = add_scen(r, "http-flood", SG_HTTP_FLOOD, 5, 10);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    fill(l, 0, nsec, 20, 20);
    l->tot.ok = l->tot.sent - 2;
    l->tot.failed = 2;
    for (uint64_t us = 1000; us <= 5000; us += 100)
        sg_hist_add(&l->latency, us);
    fill(a, 5, 7, 5000, 5000);
    fill(a, 7, 15, 5000, 0);
    a->tot.blocked = 40000;
    for (uint32_t i = 7; i < 15; i++)
        a->timeline[i].blocked = 5000;
    if (!probe) {
        l->tot.reached = a->tot.reached = -1;
        for (uint32_t i = 0; i < nsec; i++)
            l->timeline[i].reached = a->timeline[i].reached = 0;
    }
}

typedef int (*writer)(const sg_run *, FILE *);

/* The writer's output as a NUL-terminated string (caller frees). */
static char *capture(const sg_run *r, writer w)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(w(r, f), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static int table_writer(const sg_run *r, FILE *f)
{
    sg_report_table(r, f);
    return 0;
}

/* ---- a strict JSON checker (RFC 8259 grammar, no semantics) ---- */

static void ws(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
        (*p)++;
}

static bool value(const char **p);

static bool string(const char **p)
{
    if (*(*p)++ != '"')
        return false;
    for (;;) {
        unsigned char c = (unsigned char)*(*p)++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            c = (unsigned char)*(*p)++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)*(*p)++))
                        return false;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return false;
            }
        }
    }
}

static bool number(const char **p)
{
    const char *s = *p;
    if (**p == '-')
        (*p)++;
    if (**p == '0')
        (*p)++;
    else if (isdigit((unsigned char)**p))
        while (isdigit((unsigned char)**p))
            (*p)++;
    else
        return false;
    if (**p == '.') {
        (*p)++;
        if (!isdigit((unsigned char)**p))
            return false;
        while (isdigit((unsigned char)**p))
            (*p)++;
    }
    if (**p == 'e' || **p == 'E') {
        (*p)++;
        if (**p == '+' || **p == '-')
            (*p)++;
        if (!isdigit((unsigned char)**p))
            return false;
        while (isdigit((unsigned char)**p))
            (*p)++;
    }
    return *p > s;
}

static bool items(const char **p, char close, bool keyed)
{
    (*p)++;
    ws(p);
    if (**p == close) {
        (*p)++;
        return true;
    }
    for (;;) {
        ws(p);
        if (keyed) {
            if (!string(p))
                return false;
            ws(p);
            if (*(*p)++ != ':')
                return false;
        }
        if (!value(p))
            return false;
        ws(p);
        char c = *(*p)++;
        if (c == close)
            return true;
        if (c != ',')
            return false;
    }
}

static bool value(const char **p)
{
    ws(p);
    switch (**p) {
    case '{': return items(p, '}', true);
    case '[': return items(p, ']', false);
    case '"': return string(p);
    case 't': return strncmp(*p, "true", 4) == 0 && (*p += 4);
    case 'f': return strncmp(*p, "false", 5) == 0 && (*p += 5);
    case 'n': return strncmp(*p, "null", 4) == 0 && (*p += 4);
    default: return number(p);
    }
}

static bool valid_json(const char *s)
{
    if (!value(&s))
        return false;
    ws(&s);
    return *s == 0;
}

/* ---- kinds and timelines ---- */

static void test_kind_names(void **state)
{
    (void)state;
    for (int k = 0; k < SG_KIND_COUNT; k++)
        assert_int_equal(sg_kind_from_name(sg_kind_name(k)), k);
    assert_string_equal(sg_kind_name(SG_LEGIT), "legit");
    assert_string_equal(sg_kind_name(SG_CRED_STUFFING), "cred-stuffing");
    assert_string_equal(sg_kind_name(SG_SLOW_POST), "slow-post");
    assert_int_equal(sg_kind_from_name("http-flood"), SG_HTTP_FLOOD);
    assert_int_equal(sg_kind_from_name("HTTP-FLOOD"), -1);
    assert_int_equal(sg_kind_from_name("nope"), -1);
    assert_int_equal(sg_kind_from_name(""), -1);
    assert_int_equal(sg_kind_from_name(NULL), -1);
}

static void test_alloc_timelines(void **state)
{
    sg_run *r = *state;
    r->nsec = 100;
    add_scen(r, "legit", SG_LEGIT, 0, 100);
    add_scen(r, "slowloris", SG_SLOWLORIS, 0, 100);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    for (int i = 0; i < r->nscen; i++) {
        assert_non_null(r->scen[i].timeline);
        assert_int_equal(r->scen[i].timeline[99].sent, 0); /* zeroed, writable */
        r->scen[i].timeline[99].sent = 1;
    }
    sg_run_free(r);
    assert_null(r->scen[0].timeline);
    assert_null(r->scen[1].timeline);
    sg_run_free(r); /* twice is harmless */
}

/* ---- histogram ---- */

static void test_hist_small_exact(void **state)
{
    (void)state;
    sg_hist h = {0};
    for (uint64_t v = 0; v < 32; v++)
        sg_hist_add(&h, v);
    sg_hist_add(&h, 1000000); /* keeps max_us from capping the answers */
    for (uint64_t k = 0; k < 32; k++)
        assert_int_equal(sg_hist_quantile(&h, (double)(k + 1) / 33), k);
    assert_int_equal(sg_hist_quantile(&h, 1.0), 1000000);
}

static void test_hist_large_within_6pct(void **state)
{
    (void)state;
    const uint64_t vals[] = {17, 33, 100, 999, 1000, 1023, 1024, 12345, 999999, 3000000000ull,
                             1000000000000ull};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        sg_hist h = {0};
        sg_hist_add(&h, vals[i]);
        sg_hist_add(&h, (uint64_t)1 << 50); /* the last bucket, so no cap */
        uint64_t q = sg_hist_quantile(&h, 0.5);
        assert_true(q >= vals[i]);
        assert_true((double)q <= (double)vals[i] * 1.0625);
    }
}

static void test_hist_known_distribution(void **state)
{
    (void)state;
    sg_hist h = {0};
    for (uint64_t v = 1; v <= 1000; v++)
        sg_hist_add(&h, v);
    assert_int_equal(h.count, 1000);
    assert_int_equal(h.max_us, 1000);
    /* upper bounds of the buckets [496, 511], [896, 927], [960, 991] */
    assert_int_equal(sg_hist_quantile(&h, 0.50), 511);
    assert_int_equal(sg_hist_quantile(&h, 0.90), 927);
    assert_int_equal(sg_hist_quantile(&h, 0.99), 991);
    assert_int_equal(sg_hist_quantile(&h, 1.0), 1000); /* capped at max */
    assert_int_equal(sg_hist_quantile(&h, 0.001), 1);
}

static void test_hist_merge(void **state)
{
    (void)state;
    sg_hist a = {0}, b = {0}, all = {0};
    for (uint64_t v = 1; v <= 1000; v++) {
        sg_hist_add(v <= 400 ? &a : &b, v * 37);
        sg_hist_add(&all, v * 37);
    }
    sg_hist_merge(&a, &b);
    assert_int_equal(a.count, 1000);
    assert_int_equal(a.max_us, 37000);
    assert_memory_equal(&a, &all, sizeof a);
    sg_hist empty = {0};
    sg_hist_merge(&a, &empty);
    assert_memory_equal(&a, &all, sizeof a);
}

static void test_hist_empty_and_clamp(void **state)
{
    (void)state;
    sg_hist h = {0};
    assert_int_equal(sg_hist_quantile(&h, 0.5), 0);
    assert_int_equal(sg_hist_quantile(&h, 1.0), 0);
    sg_hist_add(&h, UINT64_MAX); /* beyond the last bucket: clamped, not lost */
    assert_int_equal(h.count, 1);
    assert_int_equal(h.bucket[SG_HIST_BUCKETS - 1], 1);
    assert_true(sg_hist_quantile(&h, 0.5) > ((uint64_t)1 << 42));
}

/* ---- time to mitigate ---- */

static void test_ttm_never(void **state)
{
    sg_run *r = *state;
    r->nsec = 10;
    sg_scenario *a = add_scen(r, "flood", SG_HTTP_FLOOD, 0, 10);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    fill(a, 0, 10, 1000, 100);
    assert_int_equal(sg_time_to_mitigate(r, a), -1);
    /* sent nothing at all */
    sg_scenario *idle = add_scen(r, "idle", SG_HTTP_FLOOD, 0, 10);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    assert_int_equal(sg_time_to_mitigate(r, idle), -1);
}

static void test_ttm_from_second_3(void **state)
{
    sg_run *r = *state;
    r->nsec = 10;
    sg_scenario *a = add_scen(r, "flood", SG_HTTP_FLOOD, 0, 10);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    fill(a, 0, 3, 1000, 1000);
    fill(a, 3, 10, 1000, 0);
    assert_int_equal(sg_time_to_mitigate(r, a), 3);
    /* from the very first second */
    memset(a->timeline, 0, r->nsec * sizeof *a->timeline);
    a->tot = (sg_totals){0};
    fill(a, 0, 10, 1000, 0);
    assert_int_equal(sg_time_to_mitigate(r, a), 0);
}

static void test_ttm_offset_from_start(void **state)
{
    sg_run *r = *state;
    r->nsec = 30;
    sg_scenario *a = add_scen(r, "late", SG_CACHE_BUST, 5, 10);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    fill(a, 5, 8, 1000, 900);
    fill(a, 8, 15, 1000, 0);
    /* traffic outside the window (late arrivals at the origin) is ignored */
    a->timeline[20].reached = 500;
    assert_int_equal(sg_time_to_mitigate(r, a), 3);
    a->start_s = 5.7; /* the window starts at floor(start_s) */
    assert_int_equal(sg_time_to_mitigate(r, a), 3);
}

static void test_ttm_stray_within_budget(void **state)
{
    sg_run *r = *state;
    r->nsec = 10;
    sg_scenario *a = add_scen(r, "flood", SG_HTTP_FLOOD, 0, 10);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    fill(a, 0, 3, 1000, 1000);
    fill(a, 3, 10, 1000, 0);
    a->timeline[8].reached = 1; /* 1 of 7000 from second 3 on: under 0.1% */
    assert_int_equal(sg_time_to_mitigate(r, a), 3);
    a->timeline[8].reached = 0;
    a->timeline[9].reached = 7; /* 7 of 7000: exactly 0.1% still counts */
    assert_int_equal(sg_time_to_mitigate(r, a), 3);
    a->timeline[9].reached = 8; /* over 0.1% of every tail up to the end */
    assert_int_equal(sg_time_to_mitigate(r, a), -1);
}

static void test_ttm_leaking_second_is_not_diluted(void **state)
{
    sg_run *r = *state;
    r->nsec = 20;
    sg_scenario *a = add_scen(r, "flood", SG_HTTP_FLOOD, 0, 20);
    assert_int_equal(sg_run_alloc_timelines(r), 0);
    fill(a, 0, 20, 60000, 0);
    a->timeline[0].reached = 643; /* 1% of second 0, 0.05% of the whole attack */
    assert_int_equal(sg_time_to_mitigate(r, a), 1);
}

static void test_ttm_no_probe(void **state)
{
    sg_run *r = *state;
    demo_run(r, 20, false);
    assert_int_equal(sg_time_to_mitigate(r, &r->scen[1]), -1);
    assert_true(sg_reach_ratio(&r->scen[1]) < 0);
    sg_run_free(r);
    memset(r, 0, sizeof *r);
    demo_run(r, 20, true);
    assert_int_equal(sg_time_to_mitigate(r, &r->scen[1]), 2);
}

static void test_reach_ratio(void **state)
{
    (void)state;
    sg_scenario s = {0};
    s.tot.sent = 2000;
    s.tot.reached = 5;
    assert_true(sg_reach_ratio(&s) > 0.0024 && sg_reach_ratio(&s) < 0.0026);
    s.tot.reached = 0;
    assert_true(sg_reach_ratio(&s) == 0.0);
    s.tot.reached = -1;
    assert_true(sg_reach_ratio(&s) == -1);
    s.tot.reached = 3;
    s.tot.sent = 0;
    assert_true(sg_reach_ratio(&s) == -1);
}

/* ---- JSON ---- */

static void test_json_with_probe(void **state)
{
    sg_run *r = *state;
    demo_run(r, 20, true);
    char *j = capture(r, sg_report_json);
    assert_true(valid_json(j));
    assert_non_null(strstr(j, "\"label\": \"bulwark\""));
    assert_non_null(strstr(j, "\"seconds\": 20"));
    assert_non_null(strstr(j, "\"timeline_columns\": [\"sent\", \"ok\", \"blocked\", "
                              "\"challenged\", \"errors\", \"reached\", \"active\", "
                              "\"p99_us\"]"));
    assert_non_null(strstr(j, "\"kind\": \"http-flood\", \"attack\": true"));
    assert_non_null(strstr(j, "\"time_to_mitigate_s\": 2"));
    assert_non_null(strstr(j, "\"reach_ratio\": 0.2"));   /* 10000 of 50000 */
    assert_non_null(strstr(j, "\"reached\": 10000"));
    assert_non_null(strstr(j, "\"p50_us\": "));
    assert_non_null(strstr(j, "\"success_ratio\": 0.995")); /* 398 of 400 */
    assert_non_null(strstr(j, "[5000, 0, 0, 0, 0, 5000, 0, 0]"));
    assert_null(strstr(j, "null"));
    free(j);
}

static void test_json_nulls_and_escapes(void **state)
{
    sg_run *r = *state;
    demo_run(r, 20, false);
    snprintf(r->label, sizeof r->label, "a \"quoted\"\\ label\n\x01");
    char *j = capture(r, sg_report_json);
    assert_true(valid_json(j));
    assert_non_null(strstr(j, "\"label\": \"a \\\"quoted\\\"\\\\ label\\n\\u0001\""));
    assert_non_null(strstr(j, "\"reached\": null"));
    assert_non_null(strstr(j, "\"time_to_mitigate_s\": null, \"reach_ratio\": null"));
    free(j);
    /* an empty run is still one valid object */
    sg_run_free(r);
    memset(r, 0, sizeof *r);
    j = capture(r, sg_report_json);
    assert_true(valid_json(j));
    assert_non_null(strstr(j, "\"scenarios\": []"));
    free(j);
}

static void test_json_checker_rejects(void **state)
{
    (void)state;
    /* the checker itself must fail bad input, or the tests above prove nothing */
    assert_true(valid_json("{\"a\": [1, 2.5, -3e2, null, true, \"x\\n\"]}"));
    assert_false(valid_json("{\"a\": 1,}"));
    assert_false(valid_json("{\"a\" 1}"));
    assert_false(valid_json("[1, 2"));
    assert_false(valid_json("{\"a\": nan}"));
    assert_false(valid_json("\"tab\there\""));
    assert_false(valid_json("{} {}"));
}

/* ---- table ---- */

static void test_table(void **state)
{
    sg_run *r = *state;
    demo_run(r, 20, true);
    sg_scenario *idle = add_scen(r, "never-stopped", SG_SLOWLORIS, 0, 20);
    idle->timeline = calloc(20, sizeof *idle->timeline);
    assert_non_null(idle->timeline);
    fill(idle, 0, 20, 10, 10);
    char *t = capture(r, table_writer);
    assert_non_null(strstr(t, "chal->ok"));
    assert_non_null(strstr(t, "99.50%"));
    assert_non_null(strstr(t, "10000 (20.000%)"));
    assert_non_null(strstr(t, "2 s\n"));
    assert_non_null(strstr(t, "not mitigated\n"));
    /* p50 of 1000..5000 us in steps of 100: 3000 us, within a bucket */
    assert_non_null(strstr(t, "3.07"));
    free(t);
    sg_run_free(r);
    memset(r, 0, sizeof *r);
    demo_run(r, 20, false);
    t = capture(r, table_writer);
    assert_non_null(strstr(t, "no origin probe"));
    assert_non_null(strstr(t, "n/a"));
    assert_null(strstr(t, "not mitigated"));
    free(t);
}

/* ---- SVG ---- */

static void test_svg(void **state)
{
    sg_run *r = *state;
    demo_run(r, 20, true);
    snprintf(r->label, sizeof r->label, "x<&>y");
    char *s = capture(r, sg_report_svg);
    assert_non_null(strstr(s, "<svg"));
    assert_non_null(strstr(s, "</svg>\n"));
    assert_non_null(strstr(s, "legit at origin"));
    assert_non_null(strstr(s, "attack at origin"));
    assert_non_null(strstr(s, "attack blocked/challenged by proxy"));
    assert_non_null(strstr(s, "attack sent"));
    assert_non_null(strstr(s, "x&lt;&amp;&gt;y"));
    assert_null(strstr(s, "<&>"));
    assert_non_null(strstr(s, ">http-flood</text>")); /* the window's name */
    assert_non_null(strstr(s, ">10k</text>"));        /* 5000/s needs 4 decades */
    assert_null(strstr(s, ">100k</text>"));
    assert_null(strstr(s, "nan"));
    free(s);
}

static void test_svg_no_probe(void **state)
{
    sg_run *r = *state;
    demo_run(r, 20, false);
    char *s = capture(r, sg_report_svg);
    assert_null(strstr(s, "legit at origin"));
    assert_null(strstr(s, "attack at origin"));
    assert_non_null(strstr(s, "attack sent"));
    assert_non_null(strstr(s, "no origin probe"));
    free(s);
    /* an empty run draws axes without dividing by zero */
    sg_run_free(r);
    memset(r, 0, sizeof *r);
    s = capture(r, sg_report_svg);
    assert_non_null(strstr(s, "</svg>"));
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test_setup_teardown(test_alloc_timelines, setup, teardown),
        cmocka_unit_test(test_hist_small_exact),
        cmocka_unit_test(test_hist_large_within_6pct),
        cmocka_unit_test(test_hist_known_distribution),
        cmocka_unit_test(test_hist_merge),
        cmocka_unit_test(test_hist_empty_and_clamp),
        cmocka_unit_test_setup_teardown(test_ttm_never, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttm_from_second_3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttm_offset_from_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttm_stray_within_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttm_leaking_second_is_not_diluted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttm_no_probe, setup, teardown),
        cmocka_unit_test(test_reach_ratio),
        cmocka_unit_test_setup_teardown(test_json_with_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_nulls_and_escapes, setup, teardown),
        cmocka_unit_test(test_json_checker_rejects),
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svg_no_probe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
