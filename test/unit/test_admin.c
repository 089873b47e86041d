/*
 * test_admin.c - the admin listener (admin/admin.c): the Prometheus text and
 * the JSON stats rendered from known counters, then the HTTP side over a
 * real loopback socket (routes, methods, bearer token).
 *
 * Stats and the published config are global: each test builds its "world"
 * in setup and tears it down (admin thread stopped first).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/stats.h"
#include "core/conf.h"

#define TOKEN "0123456789abcdef0123"

static char err[512];
static bw_worker_stats *w1, *w2;
static bw_conf *conf;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Publish a config with two sites (a.test: 2 origins, b.test: 1) and give
 * each site its stats slot, as main.c load_config does. */
static bw_conf *publish(int port, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "admin 127.0.0.1:%d;\n%s"
             "site a.test {\n    origin 127.0.0.1:9001;\n    origin 127.0.0.1:9002 weight=5;\n}\n"
             "site b.test {\n    origin 127.0.0.1:9003;\n}\n",
             port, extra ? extra : "");
    bw_conf *c = bw_conf_parse_string(text, "admin.conf", err, sizeof(err));
    if (!c)
        fail_msg("config: %s", err);
    for (size_t i = 0; i < c->nsites; i++)
        c->sites[i].stats_slot = bw_stats_site_slot(c->sites[i].name);
    bw_conf_publish(c);
    return c;
}

/* Known counters on two workers. */
static void count_requests(void)
{
    unsigned a = conf->sites[0].stats_slot, b = conf->sites[1].stats_slot;
    /* a.test: 200 x3 (two workers), 502, 418; latencies 700us, 3ms, 20s */
    bw_stats_request_done(w1, a, 200, 100, 1000, 700);
    bw_stats_request_done(w1, a, 200, 100, 1000, 3000);
    bw_stats_request_done(w2, a, 200, 100, 1000, 20000000);
    bw_stats_request_done(w2, a, 502, 50, 500, 0);
    bw_stats_request_done(w2, a, 418, 10, 20, 0);
    /* b.test: one 404 answered in exactly 500us (le="0.0005") */
    bw_stats_request_done(w1, b, 404, 7, 9, 500);
    bw_counter_add(&w1->sites[a].upstream_requests, 2);
    bw_counter_add(&w2->sites[a].upstream_requests, 1);
    bw_counter_add(&w2->sites[a].upstream_errors, 1);
    bw_counter_add(&w1->conns_accepted, 5);
    bw_counter_add(&w1->conns_closed, 2);
    bw_counter_add(&w2->conns_accepted, 1);
    bw_counter_add(&w1->conns_shed, 2);
    bw_counter_add(&w2->conns_shed, 1);
    bw_counter_add(&w2->conns_refused, 7);
    bw_counter_add(&w1->slow_bodies, 1);
    bw_counter_add(&w1->requests, 6);
    bw_counter_add(&w2->bad_requests, 4);
    bw_counter_add(&w1->upstream_conns_opened, 3);
    bw_counter_add(&w2->upstream_conns_reused, 8);
}

static int setup(void **state)
{
    (void)state;
    bw_admin_stop();
    bw_conf_free_all();
    bw_stats_free_all();
    w1 = bw_stats_worker_new();
    w2 = bw_stats_worker_new();
    if (!w1 || !w2)
        return -1;
    conf = publish(free_port(), NULL);
    count_requests();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bw_admin_stop();
    bw_conf_free_all();
    bw_stats_free_all();
    conf = NULL;
    return 0;
}

/* ---- text helpers ---- */

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

#define assert_line(text, line)                                                    \
    do {                                                                           \
        if (!has_line((text), (line)))                                             \
            fail_msg("missing line \"%s\" in:\n%s", (line), (text));               \
    } while (0)

#define assert_no_line(text, line)                                                 \
    do {                                                                           \
        if (has_line((text), (line)))                                              \
            fail_msg("unexpected line \"%s\"", (line));                            \
    } while (0)

#define assert_contains(hay, needle)                                               \
    do {                                                                           \
        if (!strstr((hay), (needle)))                                              \
            fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                  \
    } while (0)

static char *metrics(void)
{
    size_t len = 12345;
    char *m = bw_admin_render_metrics(&len);
    assert_non_null(m);
    assert_int_equal(strlen(m), len);
    return m;
}

/* ---- Prometheus text format checks ---- */

static bool name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':';
}

/* Validate one sample line; writes the metric name into name. */
static bool sample_ok(const char *s, size_t len, char *name, size_t cap)
{
    const char *p = s, *end = s + len;
    if (p >= end || !name_start(*p))
        return false;
    while (p < end && name_char(*p))
        p++;
    size_t nlen = (size_t)(p - s);
    if (nlen >= cap)
        return false;
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    if (p < end && *p == '{') {
        p++;
        for (;;) {
            if (p >= end || !(isalpha((unsigned char)*p) || *p == '_'))
                return false;
            while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            if (end - p < 2 || p[0] != '=' || p[1] != '"')
                return false;
            p += 2;
            while (p < end && *p != '"') {
                if (*p == '\\') {
                    if (p + 1 >= end || !strchr("\\\"n", p[1]))
                        return false;
                    p++;
                }
                p++;
            }
            if (p >= end)
                return false;
            p++; /* closing quote */
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return false;
        }
    }
    if (p >= end || *p != ' ')
        return false;
    p++;
    /* value: a float, +Inf, -Inf or NaN */
    size_t vlen = (size_t)(end - p);
    if (vlen == 0)
        return false;
    if ((vlen == 4 && (memcmp(p, "+Inf", 4) == 0 || memcmp(p, "-Inf", 4) == 0)) ||
        (vlen == 3 && memcmp(p, "NaN", 3) == 0))
        return true;
    char buf[64];
    if (vlen >= sizeof(buf))
        return false;
    memcpy(buf, p, vlen);
    buf[vlen] = '\0';
    char *e;
    errno = 0;
    strtod(buf, &e);
    return *e == '\0' && errno == 0 && !isspace((unsigned char)buf[0]);
}

/* Family of a sample name, given the declared type of the current family. */
static bool belongs(const char *sample, const char *family, const char *type)
{
    size_t fl = strlen(family);
    if (strcmp(sample, family) == 0)
        return strcmp(type, "histogram") != 0;
    if (strcmp(type, "histogram") == 0 && strncmp(sample, family, fl) == 0)
        return strcmp(sample + fl, "_bucket") == 0 || strcmp(sample + fl, "_sum") == 0 ||
               strcmp(sample + fl, "_count") == 0;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No series (name and labels) appears twice: Prometheus rejects the scrape. */
static void check_unique_series(const char *text)
{
    size_t cap = 64, n = 0;
    char **keys = malloc(cap * sizeof(*keys));
    assert_non_null(keys);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (*p != '#') {
            const char *sp = memrchr(p, ' ', (size_t)(nl - p)); /* before the value */
            assert_non_null(sp);
            if (n == cap) {
                cap *= 2;
                keys = realloc(keys, cap * sizeof(*keys));
                assert_non_null(keys);
            }
            keys[n++] = strndup(p, (size_t)(sp - p));
        }
        p = nl + 1;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(keys[i], keys[i - 1]) == 0)
            dup = keys[i];
    char msg[512] = "";
    if (dup)
        snprintf(msg, sizeof(msg), "%s", dup);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    if (msg[0])
        fail_msg("series exported twice: %s", msg);
}

/* Every line: "# HELP name text", "# TYPE name type" or a sample of the
 * family last declared; each family declared once, HELP then TYPE. */
static void check_prometheus(const char *text)
{
    check_unique_series(text);
    char family[128] = "", type[32] = "", help_for[128] = "";
    char seen[64][128];
    int nseen = 0;
    assert_true(strlen(text) > 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - p);
        char line[1024];
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        if (strncmp(line, "# HELP ", 7) == 0) {
            char *sp = strchr(line + 7, ' ');
            if (!sp || sp[1] == '\0')
                fail_msg("HELP without text: %s", line);
            *sp = '\0';
            snprintf(help_for, sizeof(help_for), "%.127s", line + 7);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            char *sp = strchr(line + 7, ' ');
            if (!sp)
                fail_msg("bad TYPE line: %s", line);
            *sp = '\0';
            const char *t = sp + 1;
            if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") && strcmp(t, "summary") &&
                strcmp(t, "untyped"))
                fail_msg("bad type in: %s %s", line, t);
            if (strcmp(help_for, line + 7) != 0)
                fail_msg("TYPE %s not preceded by its HELP", line + 7);
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], line + 7) == 0)
                    fail_msg("family %s declared twice", line + 7);
            assert_true(nseen < 64);
            snprintf(seen[nseen++], 128, "%.127s", line + 7);
            snprintf(family, sizeof(family), "%.127s", line + 7);
            snprintf(type, sizeof(type), "%s", t);
            if (strncmp(family, "bulwark_", 8) != 0)
                fail_msg("metric without the bulwark_ prefix: %s", family);
        } else if (line[0] == '#') {
            fail_msg("unexpected comment: %s", line);
        } else {
            char name[128];
            if (!sample_ok(line, len, name, sizeof(name)))
                fail_msg("not Prometheus text format: \"%s\"", line);
            if (!family[0] || !belongs(name, family, type))
                fail_msg("sample \"%s\" outside its family (current: %s %s)", line, family, type);
        }
        p = nl + 1;
    }
}

/* ---- rendering ---- */

static void test_metrics_values(void **state)
{
    (void)state;
    char *m = metrics();
    assert_line(m, "bulwark_build_info{version=\"0.1.0\"} 1");
    assert_line(m, "bulwark_workers 2");
    assert_line(m, "bulwark_connections_accepted_total 6");
    assert_line(m, "bulwark_connections_active 4");
    assert_line(m, "bulwark_bad_requests_total 4");
    assert_line(m, "bulwark_connections_shed_total 3");
    assert_line(m, "bulwark_connections_refused_total 7");
    assert_line(m, "bulwark_slow_bodies_total 1");
    assert_line(m, "bulwark_upstream_connections_opened_total 3");
    assert_line(m, "bulwark_upstream_connections_reused_total 8");
    /* merged across workers */
    assert_line(m, "bulwark_requests_total{site=\"a.test\",code=\"200\"} 3");
    assert_line(m, "bulwark_requests_total{site=\"a.test\",code=\"502\"} 1");
    assert_line(m, "bulwark_requests_total{site=\"a.test\",code=\"4xx\"} 1");
    assert_line(m, "bulwark_requests_total{site=\"b.test\",code=\"404\"} 1");
    assert_null(strstr(m, "code=\"418\""));
    assert_null(strstr(m, "code=\"404\"} 0"));
    assert_no_line(m, "bulwark_requests_total{site=\"b.test\",code=\"200\"} 0"); /* zeros are left out */
    assert_line(m, "bulwark_received_bytes_total{site=\"a.test\"} 360");
    assert_line(m, "bulwark_received_bytes_total{site=\"b.test\"} 7");
    assert_line(m, "bulwark_sent_bytes_total{site=\"a.test\"} 3520");
    assert_line(m, "bulwark_sent_bytes_total{site=\"b.test\"} 9");
    assert_line(m, "bulwark_upstream_requests_total{site=\"a.test\"} 3");
    assert_line(m, "bulwark_upstream_requests_total{site=\"b.test\"} 0");
    assert_line(m, "bulwark_upstream_errors_total{site=\"a.test\"} 1");
    /* no request without a site: no overflow series */
    assert_null(strstr(m, "_overflow"));
    /* uptime is a number */
    const char *up = strstr(m, "\nbulwark_uptime_seconds ");
    assert_non_null(up);
    char *e;
    double v = strtod(up + 24, &e);
    assert_int_equal(*e, '\n');
    assert_true(v >= 0);
    free(m);
}

static void test_metrics_histogram(void **state)
{
    (void)state;
    char *m = metrics();
    /* a.test: 700us, 3ms, 20s -- cumulative, +Inf == _count */
    static const char *const a_lines[] = {
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.0005\"} 0",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.001\"} 1",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.0025\"} 1",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.005\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.01\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.025\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.05\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.1\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.25\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"0.5\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"1\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"2.5\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"5\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"10\"} 2",
        "bulwark_upstream_latency_seconds_bucket{site=\"a.test\",le=\"+Inf\"} 3",
        "bulwark_upstream_latency_seconds_sum{site=\"a.test\"} 20.003700",
        "bulwark_upstream_latency_seconds_count{site=\"a.test\"} 3",
    };
    for (size_t i = 0; i < sizeof(a_lines) / sizeof(a_lines[0]); i++)
        assert_line(m, a_lines[i]);
    /* b.test: exactly 500us is in le="0.0005" */
    assert_line(m, "bulwark_upstream_latency_seconds_bucket{site=\"b.test\",le=\"0.0005\"} 1");
    assert_line(m, "bulwark_upstream_latency_seconds_bucket{site=\"b.test\",le=\"+Inf\"} 1");
    assert_line(m, "bulwark_upstream_latency_seconds_count{site=\"b.test\"} 1");
    assert_line(m, "bulwark_upstream_latency_seconds_sum{site=\"b.test\"} 0.000500");

    /* generic: for every site, buckets never decrease and +Inf == _count */
    for (size_t s = 0; s < conf->nsites; s++) {
        char prefix[128];
        int pl = snprintf(prefix, sizeof(prefix), "bulwark_upstream_latency_seconds_bucket{site=\"%s\",le=\"",
                          conf->sites[s].name);
        unsigned long long prev = 0, inf = 0, count = 0;
        int nb = 0;
        for (const char *p = strstr(m, prefix); p; p = strstr(p + 1, prefix)) {
            const char *sp = strchr(p, ' ');
            unsigned long long v = strtoull(sp + 1, NULL, 10);
            assert_true(v >= prev);
            prev = v;
            nb++;
            if (strncmp(p + pl, "+Inf\"}", 6) == 0)
                inf = v;
        }
        assert_int_equal(nb, BW_STATS_LAT_BUCKETS + 1);
        char cl[128];
        snprintf(cl, sizeof(cl), "bulwark_upstream_latency_seconds_count{site=\"%s\"} ", conf->sites[s].name);
        const char *c = strstr(m, cl);
        assert_non_null(c);
        count = strtoull(c + strlen(cl), NULL, 10);
        assert_int_equal(inf, count);
        assert_int_equal(prev, inf); /* +Inf is the last bucket */
    }
    free(m);
}

static void test_metrics_format(void **state)
{
    (void)state;
    char *m = metrics();
    check_prometheus(m);
    /* the families we expect, each with HELP and TYPE */
    static const char *const fam[][2] = {
        {"bulwark_build_info", "gauge"},
        {"bulwark_workers", "gauge"},
        {"bulwark_uptime_seconds", "gauge"},
        {"bulwark_connections_accepted_total", "counter"},
        {"bulwark_connections_active", "gauge"},
        {"bulwark_bad_requests_total", "counter"},
        {"bulwark_connections_shed_total", "counter"},
        {"bulwark_connections_refused_total", "counter"},
        {"bulwark_slow_bodies_total", "counter"},
        {"bulwark_requests_total", "counter"},
        {"bulwark_received_bytes_total", "counter"},
        {"bulwark_sent_bytes_total", "counter"},
        {"bulwark_upstream_requests_total", "counter"},
        {"bulwark_upstream_errors_total", "counter"},
        {"bulwark_upstream_latency_seconds", "histogram"},
        {"bulwark_upstream_connections_opened_total", "counter"},
        {"bulwark_upstream_connections_reused_total", "counter"},
        {"bulwark_origin_up", "gauge"},
    };
    for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
        char l[256];
        snprintf(l, sizeof(l), "# TYPE %s %s", fam[i][0], fam[i][1]);
        assert_line(m, l);
        snprintf(l, sizeof(l), "# HELP %s ", fam[i][0]);
        assert_contains(m, l);
    }
    free(m);

    /* still valid with no workers, no sites and no config */
    bw_conf_free_all();
    bw_stats_free_all();
    m = metrics();
    check_prometheus(m);
    assert_line(m, "bulwark_workers 0");
    assert_line(m, "# TYPE bulwark_origin_up gauge");
    assert_null(strstr(m, "bulwark_origin_up{"));
    free(m);
}

static void test_origin_up(void **state)
{
    (void)state;
    char *m = metrics();
    assert_line(m, "bulwark_origin_up{site=\"a.test\",server=\"127.0.0.1:9001\"} 1");
    assert_line(m, "bulwark_origin_up{site=\"a.test\",server=\"127.0.0.1:9002\"} 1");
    assert_line(m, "bulwark_origin_up{site=\"b.test\",server=\"127.0.0.1:9003\"} 1");
    free(m);
    atomic_store(&conf->sites[0].pool.servers[0]->healthy, 0);
    m = metrics();
    assert_line(m, "bulwark_origin_up{site=\"a.test\",server=\"127.0.0.1:9001\"} 0");
    assert_line(m, "bulwark_origin_up{site=\"a.test\",server=\"127.0.0.1:9002\"} 1");
    assert_line(m, "bulwark_origin_up{site=\"b.test\",server=\"127.0.0.1:9003\"} 1");
    free(m);
    atomic_store(&conf->sites[0].pool.servers[0]->healthy, 1);
    m = metrics();
    assert_line(m, "bulwark_origin_up{site=\"a.test\",server=\"127.0.0.1:9001\"} 1");
    free(m);

    /* a reload: the current snapshot's origins are reported, counters stay */
    bw_conf *c2 = bw_conf_parse_string("admin 127.0.0.1:1;\nsite a.test {\n origin 127.0.0.1:9009;\n}\n",
                                       "reload.conf", err, sizeof(err));
    assert_non_null(c2);
    c2->sites[0].stats_slot = bw_stats_site_slot("a.test");
    assert_int_equal(c2->sites[0].stats_slot, conf->sites[0].stats_slot);
    bw_conf_publish(c2);
    m = metrics();
    assert_line(m, "bulwark_origin_up{site=\"a.test\",server=\"127.0.0.1:9009\"} 1");
    assert_null(strstr(m, "server=\"127.0.0.1:9001\""));
    assert_line(m, "bulwark_requests_total{site=\"a.test\",code=\"200\"} 3");
    assert_line(m, "bulwark_requests_total{site=\"b.test\",code=\"404\"} 1"); /* slot kept */
    free(m);
}

/*
 * Two `site _` blocks must be refused: both would count into one "_" stats
 * slot and /metrics would export bulwark_origin_up{site="_",...} twice,
 * which Prometheus refuses ("duplicate sample").
 */
static void test_duplicate_catch_all_sites_refused(void **state)
{
    (void)state;
    bw_conf *c = bw_conf_parse_string("admin 127.0.0.1:1;\n"
                                      "site _ {\n origin 127.0.0.1:9000;\n}\n"
                                      "site _ {\n origin 127.0.0.1:9000;\n}\n",
                                      "dup.conf", err, sizeof(err));
    if (!c)
        return; /* refused at load: fixed */
    for (size_t i = 0; i < c->nsites; i++)
        c->sites[i].stats_slot = bw_stats_site_slot(c->sites[i].name);
    bw_conf_publish(c);
    char *m = metrics();
    int n = 0;
    for (const char *p = m; (p = strstr(p, "\nbulwark_origin_up{site=\"_\",server=\"127.0.0.1:9000\"} ")); p++)
        n++;
    free(m);
    if (n != 1)
        fail_msg("two `site _` blocks accepted; bulwark_origin_up{site=\"_\",server=\"127.0.0.1:9000\"} "
                 "exported %d times (conf.c build_name_table skips \"_\" in the duplicate-name check)", n);
}

static void test_overflow_and_escaping(void **state)
{
    (void)state;
    bw_stats_request_done(w1, BW_STATS_MAX_SITES - 1, 400, 1, 2, 0);
    unsigned odd = bw_stats_site_slot("we\"ird\\na\nme");
    bw_stats_request_done(w2, odd, 200, 0, 0, 0);
    char *m = metrics();
    assert_line(m, "bulwark_requests_total{site=\"_overflow\",code=\"400\"} 1");
    assert_line(m, "bulwark_requests_total{site=\"we\\\"ird\\\\na\\nme\",code=\"200\"} 1");
    check_prometheus(m);
    free(m);
    size_t len;
    char *j = bw_admin_render_stats_json(&len);
    assert_non_null(j);
    assert_contains(j, "{\"name\":\"_overflow\",\"requests\":1,\"status\":{\"400\":1}");
    assert_contains(j, "{\"name\":\"we\\\"ird\\\\na\\nme\",\"requests\":1,");
    free(j);
}

/* Validate JSON with python3 when it is there (it is a listed dependency). */
static void check_json_with_python(const char *json, size_t len)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        print_message("python3 not found: JSON syntax not checked\n");
        return;
    }
    char path[] = "/tmp/bw_test_admin_json_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, dict)' %s", path);
    int rc = system(cmd);
    unlink(path);
    if (rc != 0)
        fail_msg("not valid JSON:\n%s", json);
}

static void test_stats_json(void **state)
{
    (void)state;
    size_t len = 0;
    char *j = bw_admin_render_stats_json(&len);
    assert_non_null(j);
    assert_int_equal(strlen(j), len);
    assert_int_equal(j[len - 1], '\n');
    check_json_with_python(j, len);
    assert_contains(j, "{\"version\":\"0.1.0\",\"uptime_s\":");
    assert_contains(j, ",\"workers\":2,");
    char gen[64];
    snprintf(gen, sizeof(gen), ",\"config_generation\":%llu,", (unsigned long long)conf->generation);
    assert_contains(j, gen);
    assert_contains(j, ",\"connections\":{\"active\":4,\"accepted\":6,\"shed\":3,\"refused\":7},\"requests\":6,\"bad_requests\":4,"
                       "\"upstream_connections\":{\"opened\":3,\"reused\":8},\"sites\":[");
    assert_contains(j, "{\"name\":\"a.test\",\"requests\":5,\"status\":{\"200\":3,\"502\":1,\"4xx\":1},"
                       "\"bytes_in\":360,\"bytes_out\":3520,\"upstream_requests\":3,\"upstream_errors\":1,"
                       "\"latency_ms\":{\"p50\":3.750,\"p99\":10000.000},\"origins\":["
                       "{\"addr\":\"127.0.0.1:9001\",\"weight\":1,\"up\":true},"
                       "{\"addr\":\"127.0.0.1:9002\",\"weight\":5,\"up\":true}]}");
    /* b.test: one sample in (0, 500us]: p50 is linear inside the bucket */
    assert_contains(j, "{\"name\":\"b.test\",\"requests\":1,\"status\":{\"404\":1},\"bytes_in\":7,\"bytes_out\":9,"
                       "\"upstream_requests\":0,\"upstream_errors\":0,\"latency_ms\":{\"p50\":0.250,\"p99\":0.495},"
                       "\"origins\":[{\"addr\":\"127.0.0.1:9003\",\"weight\":1,\"up\":true}]}");
    assert_null(strstr(j, "_overflow"));
    free(j);

    atomic_store(&conf->sites[1].pool.servers[0]->healthy, 0);
    j = bw_admin_render_stats_json(&len);
    assert_non_null(j);
    assert_contains(j, "{\"addr\":\"127.0.0.1:9003\",\"weight\":1,\"up\":false}");
    free(j);

    /* no config, no workers: still valid JSON */
    bw_conf_free_all();
    bw_stats_free_all();
    j = bw_admin_render_stats_json(&len);
    assert_non_null(j);
    check_json_with_python(j, len);
    assert_contains(j, ",\"workers\":0,\"config_generation\":0,");
    assert_contains(j, "\"sites\":[]}");
    free(j);
}

/* ---- HTTP ---- */

typedef struct resp {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
    size_t content_length;
    bool has_cl;
} resp;

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

static void send_str(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            fail_msg("send: %s", strerror(errno));
        s += n;
        len -= (size_t)n;
    }
}

/* Read the whole answer (the server closes after it). */
static void read_resp(int fd, resp *r)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("recv: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    memset(r, 0, sizeof(*r));
    char *eoh = strstr(buf, "\r\n\r\n");
    if (!eoh)
        fail_msg("no complete response head: \"%s\"", buf);
    size_t hl = (size_t)(eoh - buf) + 4;
    assert_true(hl < sizeof(r->head));
    memcpy(r->head, buf, hl);
    r->head[hl] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d ", &r->status) != 1)
        fail_msg("bad status line: %s", buf);
    r->body_len = len - hl;
    r->body = malloc(r->body_len + 1);
    assert_non_null(r->body);
    memcpy(r->body, buf + hl, r->body_len);
    r->body[r->body_len] = '\0';
    const char *cl = strstr(r->head, "\r\nContent-Length: ");
    if (cl) {
        r->has_cl = true;
        r->content_length = strtoul(cl + 18, NULL, 10);
    }
    free(buf);
}

static void http(int port, const char *req, resp *r)
{
    int fd = connect_port(port);
    send_str(fd, req, strlen(req));
    read_resp(fd, r);
}

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

static void assert_header(const resp *r, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\r\n%s\r\n", line);
    if (!strstr(r->head, want))
        fail_msg("missing header \"%s\" in:\n%s", line, r->head);
}

static void test_http_endpoints(void **state)
{
    (void)state;
    int port = ntohs(((const struct sockaddr_in *)&conf->admin.ss)->sin_port);
    assert_int_equal(bw_admin_start(conf), 0);
    resp r;

    http(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.head, "HTTP/1.1 200 OK\r\n", 17);
    assert_string_equal(r.body, "ok\n");
    assert_true(r.has_cl);
    assert_int_equal(r.content_length, 3);
    assert_header(&r, "Connection: close");
    assert_header(&r, "Cache-Control: no-store");
    assert_null(strstr(r.head, "WWW-Authenticate"));
    resp_free(&r);

    http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type: text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(r.content_length, r.body_len);
    assert_line(r.body, "bulwark_workers 2");
    assert_line(r.body, "bulwark_requests_total{site=\"a.test\",code=\"200\"} 3");
    check_prometheus(r.body);
    resp_free(&r);

    /* query strings are ignored */
    http(port, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_line(r.body, "bulwark_workers 2");
    resp_free(&r);

    http(port, "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type: application/json");
    assert_int_equal(r.content_length, r.body_len);
    assert_contains(r.body, "\"workers\":2");
    check_json_with_python(r.body, r.body_len);
    resp_free(&r);

    http(port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.content_length, r.body_len);
    assert_contains(r.body, "not found");
    resp_free(&r);

    http(port, "GET /metricsx HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    assert_int_equal(r.content_length, r.body_len);
    resp_free(&r);

    http(port, "get /healthz HTTP/1.1\r\n\r\n", &r); /* methods are case-sensitive */
    assert_int_equal(r.status, 405);
    resp_free(&r);

    /* HEAD: the head with the GET's Content-Length, no body */
    http(port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, 3);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);

    http(port, "garbage\r\n\r\n", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);

    /* a head sent in pieces */
    int fd = connect_port(port);
    send_str(fd, "GET /heal", 9);
    usleep(50000);
    send_str(fd, "thz HTTP/1.1\r\nHost: x\r\n", 23);
    usleep(50000);
    send_str(fd, "\r\n", 2);
    read_resp(fd, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    resp_free(&r);

    /* a head that never ends within the 4 KiB buffer */
    static char big[4095];
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof(big) - 5);
    fd = connect_port(port);
    send_str(fd, big, sizeof(big));
    read_resp(fd, &r);
    assert_int_equal(r.status, 431);
    resp_free(&r);

    /* many clients at once, all answered */
    int fds[20];
    for (int i = 0; i < 20; i++)
        fds[i] = connect_port(port);
    for (int i = 0; i < 20; i++)
        send_str(fds[i], "GET /healthz HTTP/1.1\r\n\r\n", 25);
    for (int i = 0; i < 20; i++) {
        read_resp(fds[i], &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }

    bw_admin_stop();
    /* the listener is closed */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(s);
    bw_admin_stop(); /* twice is harmless */
}

static void test_http_token(void **state)
{
    (void)state;
    /* first without a token, then restart with one */
    int port = ntohs(((const struct sockaddr_in *)&conf->admin.ss)->sin_port);
    assert_int_equal(bw_admin_start(conf), 0);
    resp r;
    http(port, "GET /healthz HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    bw_admin_stop();

    int port2 = free_port();
    bw_conf *tc = publish(port2, "admin_token \"" TOKEN "\";\n");
    assert_string_equal(tc->admin_token, TOKEN);
    assert_int_equal(bw_admin_start(tc), 0);

    http(port2, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 401);
    assert_header(&r, "WWW-Authenticate: Bearer realm=\"bulwark\"");
    assert_int_equal(r.content_length, r.body_len);
    resp_free(&r);

    http(port2, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_line(r.body, "bulwark_workers 2");
    resp_free(&r);

    http(port2, "GET /healthz HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\nHost: x\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    resp_free(&r);

    /* header name and scheme are case-insensitive; spaces around are fine */
    http(port2, "GET /healthz HTTP/1.1\r\nauthorization:   bearer " TOKEN "  \r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    static const char *const bad[] = {
        "Authorization: Bearer 0123456789abcdef0124",  /* wrong last char */
        "Authorization: Bearer 0123456789abcdef012",   /* prefix */
        "Authorization: Bearer 0123456789abcdef01234", /* longer */
        "Authorization: Bearer ",
        "Authorization: Basic MDEyMzQ1Njc4OWFiY2RlZjAxMjM=",
        "Authorization: " TOKEN,
        "X-Authorization: Bearer " TOKEN,
        "Authorization: Bearer 0123456789ABCDEF0123", /* the token is case-sensitive */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char req[512];
        snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n", bad[i]);
        http(port2, req, &r);
        if (r.status != 401)
            fail_msg("\"%s\": got %d, want 401", bad[i], r.status);
        resp_free(&r);
    }
    /* the token in the path or body does not count */
    http(port2, "GET /healthz?Authorization:%20Bearer%20" TOKEN " HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);

    /* method checks come after authentication */
    http(port2, "POST /metrics HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    http(port2, "POST /metrics HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &r);
    assert_int_equal(r.status, 405);
    resp_free(&r);

    bw_admin_stop();

    /* restarting without a token drops the old one */
    bw_conf *nt = publish(port2, NULL);
    assert_null(nt->admin_token);
    assert_int_equal(bw_admin_start(nt), 0);
    http(port2, "GET /healthz HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    bw_admin_stop();
}

static void test_start_port_in_use(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    bw_conf *c = publish(ntohs(a.sin_port), NULL);
    assert_int_equal(bw_admin_start(c), -1);
    bw_admin_stop(); /* nothing running: harmless */
    close(fd);
    /* and it works once the port is free */
    assert_int_equal(bw_admin_start(c), 0);
    resp r;
    http(ntohs(a.sin_port), "GET /healthz HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    bw_admin_stop();
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_metrics_values),
        T(test_metrics_histogram),
        T(test_metrics_format),
        T(test_origin_up),
        T(test_overflow_and_escaping),
        T(test_duplicate_catch_all_sites_refused),
        T(test_stats_json),
        T(test_http_endpoints),
        T(test_http_token),
        T(test_start_port_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
