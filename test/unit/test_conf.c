/*
 * test_conf.c - the configuration: every directive and default, units,
 * quoting and comments, the built-in text and quick mode, Host lookup, and
 * the exact "FILE:LINE: message" of each kind of error (the operator reads
 * these, so the line number and wording are part of the contract).
 *
 * Run under ASan/valgrind to check that failed loads free what they built.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"

#define SITE "site a.test { origin 127.0.0.1:9000; }\n"

static bw_conf *parse_ok(const char *text)
{
    char err[512] = "";
    bw_conf *c = bw_conf_parse_string(text, "t.conf", err, sizeof(err));
    if (!c)
        fail_msg("unexpected error: %s\n--- config ---\n%s", err, text);
    return c;
}

static void expect_err(const char *text, const char *want)
{
    char err[512] = "";
    bw_conf *c = bw_conf_parse_string(text, "t.conf", err, sizeof(err));
    if (c) {
        bw_conf_free(c);
        fail_msg("accepted, expected: %s\n--- config ---\n%s", want, text);
    }
    assert_string_equal(err, want);
}

/* A config that must be refused, whatever the wording; returns the error. */
static const char *refused(const char *text)
{
    static char err[512];
    err[0] = '\0';
    bw_conf *c = bw_conf_parse_string(text, "t.conf", err, sizeof(err));
    if (c) {
        bw_conf_free(c);
        fail_msg("accepted, expected an error\n--- config ---\n%s", text);
    }
    assert_true(strncmp(err, "t.conf:", 7) == 0);
    return err;
}

static const bw_site_conf *find(const bw_conf *c, const char *host)
{
    return bw_conf_find_site(c, bw_str_cstr(host));
}

/* ---- temporary files ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/bw-test-conf-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static const char *tmp_path(const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *text)
{
    write_file(tmp_path(name), text, strlen(text));
}

static void remove_tmp(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (unlink(tmp_path(names[i])) < 0)
            rmdir(tmp_path(names[i])); /* a directory listed after its files */
    rmdir(tmpdir);
}

/* ---- tests ---- */

static void test_full_config(void **state)
{
    (void)state;
    make_tmpdir();
    mkdir(tmp_path("pages"), 0755);
    write_text("pages/502.html", "<h1>global 502</h1>");
    write_text("pages/504.html", "<h1>b 504</h1>");
    write_text("site503.html", "<h1>a 503</h1>");
    char text[4096];
    snprintf(text, sizeof(text),
             "workers 4;\n"
             "listen 127.0.0.1:8080;\n"
             "listen [::1]:8443 proxy_protocol;\n"
             "admin 0.0.0.0:9191;\n"
             "admin_token \"0123456789abcdef-token\";\n"
             "error_log /var/log/bw.log warn;\n"
             "access_log /var/log/bw-access.json;\n"
             "client_header_timeout 5s;\n"
             "client_body_timeout 45s;\n"
             "keepalive_timeout 2m;\n"
             "send_timeout 1500ms;\n"
             "shutdown_timeout 1h;\n"
             "max_request_line 4k;\n"
             "max_headers 64;\n"
             "max_header_bytes 12k;\n"
             "max_body_size 10m;\n"
             "max_connections 2000;\n"
             "connection_reserve 25%%;\n"
             "overload_wait 200ms;\n"
             "event_coalesce 1ms;\n"
             "error_page 502 pages/502.html;\n"
             "site a.test WWW.A.test {\n"
             "    origin 10.0.0.1:80 weight=3;\n"
             "    origin [2001:db8::1]:8080;\n"
             "    balance least_conn;\n"
             "    retries 1;\n"
             "    connect_timeout 250ms;\n"
             "    read_timeout 90s;\n"
             "    origin_send_timeout 20s;\n"
             "    keepalive_idle 15s;\n"
             "    keepalive_max 8;\n"
             "    fail_timeout 0;\n"
             "    health_check interval=500ms timeout=200ms rise=1 fall=5 path=/status;\n"
             "    error_page 503 %s;\n"
             "}\n"
             "site *.b.test {\n"
             "    default;\n"
             "    origin localhost:9000;\n"
             "    health_check off;\n"
             "    error_page 504 pages/504.html;\n"
             "}\n",
             tmp_path("site503.html"));
    write_text("full.conf", text);

    char err[512] = "";
    const char *path = tmp_path("full.conf");
    bw_conf *c = bw_conf_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->path, path);
    assert_true(c->generation > 0);
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->nlistens, 2);
    assert_string_equal(c->listens[0].addr.text, "127.0.0.1:8080");
    assert_false(c->listens[0].proxy_protocol);
    assert_string_equal(c->listens[1].addr.text, "[::1]:8443");
    assert_true(c->listens[1].proxy_protocol);
    assert_true(c->admin_enabled);
    assert_string_equal(c->admin.text, "0.0.0.0:9191");
    assert_string_equal(c->admin_token, "0123456789abcdef-token");
    assert_string_equal(c->error_log, "/var/log/bw.log");
    assert_int_equal(c->log_level, BW_LOG_WARN);
    assert_string_equal(c->access_log, "/var/log/bw-access.json");
    assert_int_equal(c->client_header_timeout_ms, 5000);
    assert_int_equal(c->client_body_timeout_ms, 45000);
    assert_int_equal(c->client_keepalive_ms, 120000);
    assert_int_equal(c->client_send_timeout_ms, 1500);
    assert_int_equal(c->shutdown_timeout_ms, 3600000);
    assert_int_equal(c->max_request_line, 4096);
    assert_int_equal(c->max_headers, 64);
    assert_int_equal(c->max_header_bytes, 12288);
    assert_int_equal(c->max_body_bytes, 10 * 1024 * 1024);
    assert_int_equal(c->max_connections, 2000);
    assert_int_equal(c->conn_reserve_pct, 25);
    assert_int_equal(c->overload_wait_ms, 200);
    assert_int_equal(c->event_coalesce_us, 1000);

    assert_int_equal(c->nsites, 2);
    const bw_site_conf *a = &c->sites[0], *b = &c->sites[1];
    assert_string_equal(a->name, "a.test");
    assert_int_equal(a->nnames, 2);
    assert_string_equal(a->names[1], "www.a.test"); /* stored lower-cased */
    assert_false(a->is_default);
    assert_int_equal(a->pool.balance, BW_BALANCE_LEASTCONN);
    assert_int_equal(a->pool.retries, 1);
    assert_int_equal(a->pool.connect_timeout_ms, 250);
    assert_int_equal(a->pool.read_timeout_ms, 90000);
    assert_int_equal(a->pool.send_timeout_ms, 20000);
    assert_int_equal(a->pool.keepalive_idle_ms, 15000);
    assert_int_equal(a->pool.keepalive_max, 8);
    assert_int_equal(a->pool.fail_timeout_ms, 0);
    assert_int_equal(a->pool.hc_interval_ms, 500);
    assert_int_equal(a->pool.hc_timeout_ms, 200);
    assert_int_equal(a->pool.hc_rise, 1);
    assert_int_equal(a->pool.hc_fall, 5);
    assert_string_equal(a->pool.hc_path, "/status");
    assert_int_equal(a->pool.nservers, 2);
    assert_string_equal(a->pool.servers[0]->addr.text, "10.0.0.1:80");
    assert_int_equal(a->pool.servers[0]->weight, 3);
    assert_string_equal(a->pool.servers[1]->addr.text, "[2001:db8::1]:8080");
    assert_int_equal(a->pool.servers[1]->weight, 1);

    assert_string_equal(b->name, "*.b.test");
    assert_true(b->is_default);
    assert_ptr_equal(c->default_site, b);
    assert_int_equal(b->pool.hc_interval_ms, 0);
    assert_int_equal(b->pool.nservers, 1);
    assert_string_equal(b->pool.servers[0]->addr.text, "127.0.0.1:9000");

    /* servers: one flat array, pools point into it */
    assert_int_equal(c->nservers, 3);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(c->servers[i].index, i);
        assert_int_equal(atomic_load(&c->servers[i].healthy), 1);
        assert_int_equal(atomic_load(&c->servers[i].down_until_ms), 0);
    }
    assert_ptr_equal(a->pool.servers[0], &c->servers[0]);
    assert_ptr_equal(a->pool.servers[1], &c->servers[1]);
    assert_ptr_equal(b->pool.servers[0], &c->servers[2]);

    /* pages: site's own, else the top-level one, else built-in */
    assert_string_equal(a->page_502, "<h1>global 502</h1>");
    assert_int_equal(a->page_502_len, strlen("<h1>global 502</h1>"));
    assert_string_equal(a->page_503, "<h1>a 503</h1>");
    assert_non_null(strstr(a->page_504, "504 Gateway Timeout"));
    assert_string_equal(b->page_502, "<h1>global 502</h1>");
    assert_non_null(strstr(b->page_503, "503 Service Unavailable"));
    assert_string_equal(b->page_504, "<h1>b 504</h1>");
    assert_int_equal(b->page_504_len, strlen("<h1>b 504</h1>"));
    bw_conf_free(c);

    static const char *const files[] = { "pages/502.html", "pages/504.html", "pages", "site503.html",
                                         "full.conf" };
    remove_tmp(files, 5);
}

static void test_defaults(void **state)
{
    (void)state;
    bw_conf *c = parse_ok(SITE);
    assert_string_equal(c->path, "t.conf");
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->nlistens, 1);
    assert_string_equal(c->listens[0].addr.text, "0.0.0.0:8080");
    assert_false(c->listens[0].proxy_protocol);
    assert_true(c->admin_enabled);
    assert_string_equal(c->admin.text, "127.0.0.1:9090");
    assert_null(c->admin_token);
    assert_string_equal(c->error_log, "stderr");
    assert_int_equal(c->log_level, BW_LOG_INFO);
    assert_null(c->access_log);
    assert_int_equal(c->client_header_timeout_ms, 10000);
    assert_int_equal(c->client_body_timeout_ms, 30000);
    assert_int_equal(c->client_keepalive_ms, 60000);
    assert_int_equal(c->client_send_timeout_ms, 30000);
    assert_int_equal(c->shutdown_timeout_ms, 10000);
    assert_int_equal(c->max_request_line, 8192);
    assert_int_equal(c->max_headers, 100);
    assert_int_equal(c->max_header_bytes, 16384);
    assert_int_equal(c->max_body_bytes, 0);
    assert_int_equal(c->max_connections, 10000);
    assert_int_equal(c->conn_reserve_pct, 10);
    assert_int_equal(c->overload_wait_ms, 50);
    assert_int_equal(c->event_coalesce_us, 100);

    assert_int_equal(c->nsites, 1);
    const bw_site_conf *s = &c->sites[0];
    assert_true(s->is_default);
    assert_ptr_equal(c->default_site, s);
    assert_int_equal(s->pool.balance, BW_BALANCE_RR);
    assert_int_equal(s->pool.retries, 2);
    assert_int_equal(s->pool.connect_timeout_ms, 3000);
    assert_int_equal(s->pool.read_timeout_ms, 60000);
    assert_int_equal(s->pool.send_timeout_ms, 60000);
    assert_int_equal(s->pool.keepalive_idle_ms, 30000);
    assert_int_equal(s->pool.keepalive_max, 64);
    assert_int_equal(s->pool.fail_timeout_ms, 5000);
    assert_int_equal(s->pool.hc_interval_ms, 2000); /* health check on by default ... */
    assert_int_equal(s->pool.hc_timeout_ms, 1000);
    assert_int_equal(s->pool.hc_rise, 2);
    assert_int_equal(s->pool.hc_fall, 3);
    assert_null(s->pool.hc_path);                    /* ... as a TCP connect */
    assert_int_equal(s->pool.servers[0]->weight, 1);

    /* built-in pages: complete documents, lengths match */
    const char *pages[] = { s->page_502, s->page_503, s->page_504 };
    size_t lens[] = { s->page_502_len, s->page_503_len, s->page_504_len };
    const char *titles[] = { "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout" };
    for (int i = 0; i < 3; i++) {
        assert_non_null(pages[i]);
        assert_int_equal(strlen(pages[i]), lens[i]);
        assert_non_null(strstr(pages[i], titles[i]));
        assert_non_null(strstr(pages[i], "bulwark"));
        assert_true(strncmp(pages[i], "<!doctype html>", 15) == 0);
        assert_true(lens[i] < 4096);
    }
    bw_conf_free(c);
}

static unsigned duration_of(const char *v)
{
    char text[256];
    snprintf(text, sizeof(text), "client_header_timeout %s;\n" SITE, v);
    bw_conf *c = parse_ok(text);
    unsigned ms = c->client_header_timeout_ms;
    bw_conf_free(c);
    return ms;
}

static uint64_t size_of(const char *v)
{
    char text[256];
    snprintf(text, sizeof(text), "max_body_size %s;\n" SITE, v);
    bw_conf *c = parse_ok(text);
    uint64_t b = c->max_body_bytes;
    bw_conf_free(c);
    return b;
}

static void test_units(void **state)
{
    (void)state;
    assert_int_equal(duration_of("500ms"), 500);
    assert_int_equal(duration_of("3s"), 3000);
    assert_int_equal(duration_of("3"), 3000); /* bare number: seconds */
    assert_int_equal(duration_of("2m"), 120000);
    assert_int_equal(duration_of("1h"), 3600000);
    assert_int_equal(duration_of("1ms"), 1);

    assert_int_equal(size_of("0"), 0);
    assert_int_equal(size_of("512"), 512);
    assert_int_equal(size_of("16k"), 16384);
    assert_int_equal(size_of("16K"), 16384);
    assert_int_equal(size_of("2m"), 2 * 1024 * 1024);
    assert_int_equal(size_of("1g"), 1024 * 1024 * 1024);

    expect_err("client_header_timeout fast;\n" SITE,
               "t.conf:1: \"client_header_timeout\" expects a duration like 10s, 500ms, 2m or 1h, got \"fast\"");
    static const char *const bad_durations[] = { "1.5s", "10x", "-1", "s", "ms", "5sec", "2 h", "99999999h" };
    for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "client_header_timeout %s;\n" SITE, bad_durations[i]);
        refused(text);
    }
    static const char *const bad_sizes[] = { "12kb", "k", "1.5m", "-1", "1t", "0x10" };
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "max_body_size %s;\n" SITE, bad_sizes[i]);
        refused(text);
    }
    /* bounds: the head must fit the read buffer, at most 256 header fields */
    refused("max_header_bytes 32k;\n" SITE);
    refused("max_headers 257;\n" SITE);
    refused("max_request_line 100;\n" SITE);
    refused("workers 65;\n" SITE);

    /* 0 would disarm a timer (wait forever): refused where that is not meant */
    expect_err("site a.test {\n    origin 127.0.0.1:1;\n    connect_timeout 0;\n}\n",
               "t.conf:3: \"connect_timeout\" expects a duration of at least 1ms (0 would disable the timeout), "
               "got \"0\"");
    refused("client_header_timeout 0ms;\n" SITE);
    refused("keepalive_timeout 0;\n" SITE);
    bw_conf *c = parse_ok("shutdown_timeout 0;\nsite a { origin 127.0.0.1:1; fail_timeout 0s; }\n");
    assert_int_equal(c->shutdown_timeout_ms, 0);
    assert_int_equal(c->sites[0].pool.fail_timeout_ms, 0);
    bw_conf_free(c);
}

static void test_quoted_strings(void **state)
{
    (void)state;
    bw_conf *c = parse_ok("admin_token \"abc \\\"def\\\" \\\\ ghi-0123\";\n"
                          "access_log \"/tmp/odd name;{}#.log\";\n"
                          "site \"a.test\" { origin \"127.0.0.1:9000\"; }\n");
    assert_string_equal(c->admin_token, "abc \"def\" \\ ghi-0123");
    assert_string_equal(c->access_log, "/tmp/odd name;{}#.log");
    assert_string_equal(c->sites[0].name, "a.test");
    assert_string_equal(c->servers[0].addr.text, "127.0.0.1:9000");
    bw_conf_free(c);

    expect_err("admin_token \"abc\\ndefghijklmnopq\";\n" SITE,
               "t.conf:1: unknown escape \"\\n\" in a quoted string (only \\\" and \\\\)");
    /* a forgotten quote: the error names the line where the string starts */
    expect_err(SITE "\naccess_log \"/tmp/x.log;\n\nworkers 2;\n",
               "t.conf:3: unterminated quoted string (expected a closing '\"')");
}

static void test_comments(void **state)
{
    (void)state;
    bw_conf *c = parse_ok("# leading comment\n"
                          "listen 127.0.0.1:8081; # trailing ; { } \" characters\n"
                          "site a.test { # the block\n"
                          "    origin 127.0.0.1:9000; # origin\n"
                          "    # retries 9;\n"
                          "#   balance least_conn;\n"
                          "}\n"
                          "# end, no newline");
    assert_int_equal(c->nlistens, 1);
    assert_string_equal(c->listens[0].addr.text, "127.0.0.1:8081");
    assert_int_equal(c->sites[0].pool.retries, 2);
    assert_int_equal(c->sites[0].pool.balance, BW_BALANCE_RR);
    bw_conf_free(c);

    /* an error after comments still counts lines right */
    expect_err("# one\n# two\n\nbogus;\n", "t.conf:4: unknown directive \"bogus\" (bulwark --help-config lists them all)");
}

static void test_builtin_text(void **state)
{
    (void)state;
    char err[512] = "";
    bw_conf *c = bw_conf_parse_string(bw_conf_builtin_text, "<builtin>", err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->path, "<builtin>");
    assert_int_equal(c->nlistens, 1);
    assert_string_equal(c->listens[0].addr.text, "0.0.0.0:8080");
    assert_true(c->admin_enabled);
    assert_string_equal(c->admin.text, "127.0.0.1:9090");
    assert_string_equal(c->access_log, "stdout");
    assert_int_equal(c->nsites, 1);
    assert_string_equal(c->sites[0].name, "_");
    assert_ptr_equal(c->default_site, &c->sites[0]);
    assert_int_equal(c->nservers, 1);
    assert_string_equal(c->servers[0].addr.text, "127.0.0.1:9000");
    assert_string_equal(c->sites[0].pool.hc_path, "/healthz");
    assert_int_equal(c->sites[0].pool.hc_interval_ms, 2000);
    assert_ptr_equal(find(c, "anything.example"), &c->sites[0]);
    assert_ptr_equal(find(c, "_"), &c->sites[0]);
    bw_conf_free(c);
}

static void test_example_file(void **state)
{
    (void)state;
    /* conf/bulwark.conf ships as the commented example: it must stay valid */
    const char *path = "conf/bulwark.conf";
    if (access(path, R_OK) != 0)
        skip();
    char err[512] = "";
    bw_conf *c = bw_conf_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_true(c->nsites >= 1);
    assert_non_null(c->default_site);
    bw_conf_free(c);
}

static void test_quick(void **state)
{
    (void)state;
    char err[512] = "";
    bw_conf *c = bw_conf_quick("127.0.0.1:8081", "127.0.0.1:9000,[::1]:9001", err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->path, "<quick>");
    assert_int_equal(c->nlistens, 1);
    assert_string_equal(c->listens[0].addr.text, "127.0.0.1:8081");
    assert_int_equal(c->nsites, 1);
    assert_string_equal(c->sites[0].name, "default");
    assert_true(c->sites[0].is_default);
    assert_ptr_equal(c->default_site, &c->sites[0]);
    assert_null(c->access_log);
    assert_true(c->admin_enabled);
    assert_string_equal(c->admin.text, "127.0.0.1:9090");
    assert_int_equal(c->nservers, 2);
    assert_string_equal(c->servers[1].addr.text, "[::1]:9001");
    assert_int_equal(c->sites[0].pool.nservers, 2);
    assert_int_equal(c->sites[0].pool.hc_interval_ms, 2000);
    assert_null(c->sites[0].pool.hc_path);
    assert_int_equal(c->sites[0].pool.retries, 2);
    assert_ptr_equal(find(c, "whatever.example:8081"), &c->sites[0]);
    bw_conf_free(c);

    assert_null(bw_conf_quick("nope", "127.0.0.1:9000", err, sizeof(err)));
    assert_string_equal(err, "--listen: expected an address like 127.0.0.1:8080, got \"nope\"");
    assert_null(bw_conf_quick("127.0.0.1:8081", "127.0.0.1:9000,backend:80", err, sizeof(err)));
    assert_string_equal(err, "--origin: expected addresses like 127.0.0.1:9000[,10.0.0.2:80], got \"backend:80\"");
    assert_null(bw_conf_quick("127.0.0.1:8081", "", err, sizeof(err)));
    assert_string_equal(err, "--origin: expected at least one address");
    assert_null(bw_conf_quick("127.0.0.1:8081", NULL, err, sizeof(err)));
    assert_null(bw_conf_quick(NULL, "127.0.0.1:9000", err, sizeof(err)));
}

static const char *const routing =
    "site a.test www.a.test { origin 127.0.0.1:1; }\n"
    "site *.b.test { origin 127.0.0.1:2; }\n"
    "site *.x.b.test { origin 127.0.0.1:3; }\n"
    "site C.Test { origin 127.0.0.1:4; }\n";

static void test_find_site(void **state)
{
    (void)state;
    bw_conf *c = parse_ok(routing);
    const bw_site_conf *s = c->sites;
    assert_ptr_equal(c->default_site, &s[0]); /* the first site */
    struct { const char *host; int site; } cases[] = {
        { "a.test", 0 },        { "www.a.test", 0 },     { "WWW.A.Test", 0 },   { "a.test:8080", 0 },
        { "a.test.", 0 },       { "a.test.:80", 0 },     { "c.test", 3 },       { "C.TEST:443", 3 },
        { "y.b.test", 1 },      { "q.y.b.test", 1 },     { "Y.B.TEST:80", 1 },
        { "z.x.b.test", 2 },    { "a.z.x.b.test", 2 },   /* longest wildcard wins */
        { "x.b.test", 1 },      /* *.x.b.test needs a label before x.b.test */
        { "b.test", 0 },        /* a wildcard does not match its bare suffix */
        { "unknown.test", 0 },  { "", 0 },               { "[::1]:8080", 0 },   { "127.0.0.1:80", 0 },
        { ".b.test", 0 },       { "test", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bw_site_conf *got = find(c, cases[i].host);
        if (got != &s[cases[i].site])
            fail_msg("Host \"%s\": got site %s, expected %s", cases[i].host, got ? got->name : "NULL",
                     s[cases[i].site].name);
    }
    /* a slice into a larger buffer: no reliance on a terminating NUL */
    const char buf[] = "c.testXYZ";
    assert_ptr_equal(bw_conf_find_site(c, bw_str_make(buf, 6)), &s[3]);
    assert_ptr_equal(bw_conf_find_site(c, BW_STR_NULL), &s[0]);
    bw_conf_free(c);
}

static void test_explicit_default(void **state)
{
    (void)state;
    bw_conf *c = parse_ok("site a.test { origin 127.0.0.1:1; }\n"
                          "site _ {\n    default;\n    origin 127.0.0.1:2;\n}\n"
                          "site b.test { origin 127.0.0.1:3; }\n");
    assert_false(c->sites[0].is_default);
    assert_true(c->sites[1].is_default);
    assert_false(c->sites[2].is_default);
    assert_ptr_equal(c->default_site, &c->sites[1]);
    assert_string_equal(c->sites[1].name, "_");
    assert_ptr_equal(find(c, "a.test"), &c->sites[0]);
    assert_ptr_equal(find(c, "b.test"), &c->sites[2]);
    assert_ptr_equal(find(c, "other.test"), &c->sites[1]);
    assert_ptr_equal(find(c, "_"), &c->sites[1]); /* "_" is no name: default anyway */
    bw_conf_free(c);
}

static void test_weights(void **state)
{
    (void)state;
    bw_conf *c = parse_ok("site a.test {\n"
                          "    origin 127.0.0.1:1 weight=1;\n"
                          "    origin 127.0.0.1:2 weight=5;\n"
                          "    origin 127.0.0.1:3;\n"
                          "    origin 127.0.0.1:4 weight=1000;\n"
                          "}\n");
    assert_int_equal(c->sites[0].pool.nservers, 4);
    assert_int_equal(c->sites[0].pool.servers[0]->weight, 1);
    assert_int_equal(c->sites[0].pool.servers[1]->weight, 5);
    assert_int_equal(c->sites[0].pool.servers[2]->weight, 1);
    assert_int_equal(c->sites[0].pool.servers[3]->weight, 1000);
    bw_conf_free(c);

    expect_err("site a.test {\n    origin 127.0.0.1:1 weight=0;\n}\n",
               "t.conf:2: \"origin\" accepts \"weight=N\" (1 to 1000) and \"max_conns=N\" (0 to 1000000) after the address, got \"weight=0\"");
    refused("site a.test { origin 127.0.0.1:1 weight=1001; }\n");
    refused("site a.test { origin 127.0.0.1:1 weight=x; }\n");
    refused("site a.test { origin 127.0.0.1:1 wait=2; }\n");
    refused("site a.test { origin 127.0.0.1:1 weight=2 backup; }\n");
    expect_err("site a.test {\n    origin 127.0.0.1:1;\n    origin 127.0.0.1:1;\n}\n",
               "t.conf:3: duplicate \"origin 127.0.0.1:1\" in this site");
}

static void test_err_unknown_directive(void **state)
{
    (void)state;
    expect_err("listen 127.0.0.1:8080;\n"
               "site a.test {\n"
               "    origni 127.0.0.1:9000;\n"
               "}\n",
               "t.conf:3: unknown directive \"origni\" (did you mean \"origin\"?)");
    expect_err("\nconect_timeout 1s;\n", "t.conf:2: unknown directive \"conect_timeout\" (did you mean \"connect_timeout\"?)");
    expect_err("frobnicate 1;\n", "t.conf:1: unknown directive \"frobnicate\" (bulwark --help-config lists them all)");
}

static void test_err_missing_semicolon(void **state)
{
    (void)state;
    /* before the closing brace */
    expect_err("site a.test {\n"
               "    origin 127.0.0.1:1\n"
               "}\n",
               "t.conf:2: expected ';' after \"origin ...\"");
    /* at the end of a line: the next directive became arguments */
    expect_err("listen 127.0.0.1:8080\n"
               "admin 127.0.0.1:9091;\n" SITE,
               "t.conf:1: expected ';' after \"listen 127.0.0.1:8080\" (\"admin\" starts the next directive)");
    expect_err("site a.test {\n"
               "    origin 127.0.0.1:1;\n"
               "    retries 2\n"
               "    connect_timeout 1s;\n"
               "}\n",
               "t.conf:3: expected ';' after \"retries 2\" (\"connect_timeout\" starts the next directive)");
    /* at the end of the file */
    expect_err(SITE "workers 2", "t.conf:2: expected ';' after \"workers ...\"");
}

static void test_err_blocks(void **state)
{
    (void)state;
    expect_err("listen 127.0.0.1:8080;\n"
               "site a.test {\n"
               "    origin 127.0.0.1:1;\n",
               "t.conf:4: unexpected end of file: the site block opened at line 2 is not closed (expected '}')");
    /* the SIGHUP e2e test: a stray brace on the last line */
    expect_err(SITE "}\n", "t.conf:2: unexpected '}' (no block is open)");
    expect_err(SITE ";\n", "t.conf:2: unexpected ';' (expected a directive name)");
    expect_err("site a.test;\n", "t.conf:1: \"site\" expects names then a block: site NAME { ... }");
    expect_err("site {\n origin 127.0.0.1:1;\n}\n",
               "t.conf:1: \"site\" expects one or more names (example.com, *.example.com or _) before '{'");
    expect_err("site a.test {\n    origin 127.0.0.1:1;\n    site b.test {\n",
               "t.conf:3: a site block cannot be nested in another site");
    expect_err("retries 2 {\n", "t.conf:1: \"retries\" does not take a block (expected ';')");
    refused("site a.test:80 { origin 127.0.0.1:1; }\n");
    refused("site * { origin 127.0.0.1:1; }\n");
    refused("site *. { origin 127.0.0.1:1; }\n");
    refused("site http://a.test { origin 127.0.0.1:1; }\n");
}

static void test_err_values(void **state)
{
    (void)state;
    bw_conf *c;
    expect_err("site a.test {\n"
               "    origin 127.0.0.1:1;\n"
               "    connect_timeout fast;\n"
               "}\n",
               "t.conf:3: \"connect_timeout\" expects a duration like 10s, 500ms, 2m or 1h, got \"fast\"");
    expect_err("listen 1.2.3.4;\n" SITE,
               "t.conf:1: \"listen\" expects an address like 0.0.0.0:80, 127.0.0.1:8080 or [::]:80, got \"1.2.3.4\"");
    expect_err("site a.test {\n    origin backend:80;\n}\n",
               "t.conf:2: \"origin\" expects an address like 10.0.0.5:8080 or [2001:db8::5]:80 (numeric; no DNS), "
               "got \"backend:80\"");
    expect_err("listen 127.0.0.1:80 proxy;\n" SITE,
               "t.conf:1: \"listen\" accepts only \"proxy_protocol\" after the address, got \"proxy\"");
    expect_err("listen 127.0.0.1:80;\nlisten 127.0.0.1:80;\n" SITE, "t.conf:2: duplicate \"listen 127.0.0.1:80\"");
    expect_err("site a.test { origin 127.0.0.1:1; balance random; }\n",
               "t.conf:1: \"balance\" expects round_robin or least_conn, got \"random\"");
    expect_err("error_log stderr loud;\n" SITE,
               "t.conf:1: \"error_log\" level must be debug, info, notice, warn or error, got \"loud\"");
    expect_err("workers many;\n" SITE,
               "t.conf:1: \"workers\" expects a number of worker threads from 1 to 64, or auto, got \"many\"");
    expect_err("retries;\n", "t.conf:1: \"retries\" is not allowed here: it belongs inside a site block");
    expect_err("site a.test { origin 127.0.0.1:1; default 1; }\n", "t.conf:1: \"default\" takes no arguments");
    expect_err("site a.test { origin 127.0.0.1:1; retries; }\n", "t.conf:1: \"retries\" expects N");

    expect_err("connection_reserve 10;\n" SITE,
               "t.conf:1: \"connection_reserve\" expects a share of max_connections from 0% to 50%, like 10%, "
               "got \"10\"");
    refused("connection_reserve 51%;\n" SITE);
    refused("connection_reserve %;\n" SITE);
    refused("connection_reserve -1%;\n" SITE);
    expect_err("overload_wait 1ms;\n" SITE,
               "t.conf:1: \"overload_wait\" expects off, or a duration from 5ms to 1m, like 50ms, got \"1ms\"");
    refused("overload_wait 2m;\n" SITE);
    refused("overload_wait on;\n" SITE);
    expect_err("event_coalesce 2ms;\n" SITE,
               "t.conf:1: \"event_coalesce\" expects off, or microseconds up to 1ms, like 100us, got \"2ms\"");
    refused("event_coalesce 100;\n" SITE);
    refused("event_coalesce 1001us;\n" SITE);
    c = parse_ok("event_coalesce 0;\n" SITE);
    assert_int_equal(c->event_coalesce_us, 0);
    bw_conf_free(c);
    c = parse_ok("event_coalesce 250us;\n" SITE);
    assert_int_equal(c->event_coalesce_us, 250);
    bw_conf_free(c);
    /* login routes: defaults, options, the path in the rules' normal form */
    c = parse_ok("site a.test { origin 127.0.0.1:1; login /login; "
                 "login /api/./v1//session/ method=PUT user=json:email password=pw fail=401,429,200 "
                 "fail_location=/login?e=1; }\n");
    assert_int_equal(c->sites[0].nlogins, 2);
    const bw_login_route *lr = &c->sites[0].logins[0];
    assert_string_equal(lr->path, "/login");
    assert_string_equal(lr->method, "POST");
    assert_int_equal(lr->user_kind, BW_LOGIN_USER_FORM);
    assert_string_equal(lr->user_field, "username");
    assert_string_equal(lr->pass_field, "password");
    assert_int_equal(lr->nfail, 2);
    assert_int_equal(lr->fail[0], 401);
    assert_int_equal(lr->fail[1], 403);
    assert_string_equal(lr->fail_location, "");
    lr = &c->sites[0].logins[1];
    assert_string_equal(lr->path, "/api/v1/session");
    assert_string_equal(lr->method, "PUT");
    assert_int_equal(lr->user_kind, BW_LOGIN_USER_JSON);
    assert_string_equal(lr->user_field, "email");
    assert_string_equal(lr->pass_field, "pw");
    assert_int_equal(lr->nfail, 3);
    assert_int_equal(lr->fail[2], 200);
    assert_string_equal(lr->fail_location, "/login?e=1");
    bw_conf_free(c);
    refused("site a.test { origin 127.0.0.1:1; login /l fail=99; }\n");
    refused("site a.test { origin 127.0.0.1:1; login /l fail_location=login; }\n");
    refused("site a.test { origin 127.0.0.1:1; login /l user=form:; }\n");
    refused("site a.test { origin 127.0.0.1:1; login /l colour=red; }\n");
    refused("login /l;\n" SITE);

    c = parse_ok("overload_wait off;\nconnection_reserve 0%;\nevent_coalesce off;\n" SITE);
    assert_int_equal(c->overload_wait_ms, 0);
    assert_int_equal(c->conn_reserve_pct, 0);
    assert_int_equal(c->event_coalesce_us, 0);
    bw_conf_free(c);

    /* health_check parameters */
    c = parse_ok("site a.test { origin 127.0.0.1:1; health_check interval=1s timeout=5s; }\n");
    assert_int_equal(c->sites[0].pool.hc_timeout_ms, 1000); /* never longer than the interval */
    bw_conf_free(c);
    expect_err("site a.test { origin 127.0.0.1:1; health_check intervl=2s; }\n",
               "t.conf:1: \"health_check\" expects off, or options interval=DURATION timeout=DURATION rise=N "
               "fall=N path=/PATH, got \"intervl=2s\"");
    refused("site a.test { origin 127.0.0.1:1; health_check path=healthz; }\n");
    refused("site a.test { origin 127.0.0.1:1; health_check interval=10ms; }\n");
    refused("site a.test { origin 127.0.0.1:1; health_check rise=0; }\n");
    refused("site a.test { origin 127.0.0.1:1; health_check off path=/x; }\n");
}

static void test_err_site_without_origin(void **state)
{
    (void)state;
    expect_err("site a.test { origin 127.0.0.1:1; }\n"
               "\n"
               "site b.test {\n"
               "    retries 1;\n"
               "}\n",
               "t.conf:3: site \"b.test\" has no origin (expected at least one \"origin ADDR;\")");
    expect_err("listen 127.0.0.1:1;\n", "t.conf:2: no site defined (expected a block like: site example.com { "
                                        "origin 127.0.0.1:9000; })");
}

static void test_err_wrong_context(void **state)
{
    (void)state;
    expect_err("listen 127.0.0.1:8080;\n"
               "origin 127.0.0.1:9000;\n",
               "t.conf:2: \"origin\" is not allowed here: it belongs inside a site block");
    expect_err("site a.test {\n"
               "    origin 127.0.0.1:1;\n"
               "    listen 127.0.0.1:8080;\n"
               "}\n",
               "t.conf:3: \"listen\" is not allowed here: it belongs outside site blocks");
    expect_err("default;\n" SITE, "t.conf:1: \"default\" is not allowed here: it belongs inside a site block");
}

static void test_err_two_defaults(void **state)
{
    (void)state;
    expect_err("site a.test { origin 127.0.0.1:1; default; }\n"
               "site b.test {\n"
               "    origin 127.0.0.1:2;\n"
               "    default;\n"
               "}\n",
               "t.conf:4: a second \"default\" site (the first is at line 1)");
}

static void test_err_duplicate_names(void **state)
{
    (void)state;
    expect_err("site x.test a.test { origin 127.0.0.1:1; }\n"
               "site A.TEST { origin 127.0.0.1:2; }\n",
               "t.conf:2: site name \"a.test\" is already used by site \"x.test\"");
    expect_err("site *.a.test { origin 127.0.0.1:1; }\n"
               "\n"
               "site b.test *.a.test { origin 127.0.0.1:2; }\n",
               "t.conf:3: site name \"*.a.test\" is already used by site \"*.a.test\"");
    /* the exact name and the wildcard of the same domain are different names */
    bw_conf *c = parse_ok("site a.test { origin 127.0.0.1:1; }\nsite *.a.test { origin 127.0.0.1:2; }\n");
    assert_ptr_equal(find(c, "a.test"), &c->sites[0]);
    assert_ptr_equal(find(c, "w.a.test"), &c->sites[1]);
    bw_conf_free(c);
}

static void test_admin_exposure(void **state)
{
    (void)state;
    expect_err("listen 0.0.0.0:80;\n"
               "admin 0.0.0.0:9090;\n" SITE,
               "t.conf:2: admin on a non-loopback address (0.0.0.0:9090) requires admin_token");
    expect_err("admin [2001:db8::1]:9090;\n" SITE,
               "t.conf:1: admin on a non-loopback address ([2001:db8::1]:9090) requires admin_token");
    bw_conf *c = parse_ok("admin 0.0.0.0:9090;\nadmin_token 0123456789abcdef;\n" SITE);
    assert_true(c->admin_enabled);
    assert_string_equal(c->admin.text, "0.0.0.0:9090");
    assert_string_equal(c->admin_token, "0123456789abcdef");
    bw_conf_free(c);
    /* loopback (all of 127/8, ::1) and off need no token */
    c = parse_ok("admin 127.3.2.1:9090;\n" SITE);
    bw_conf_free(c);
    c = parse_ok("admin [::1]:9090;\n" SITE);
    assert_string_equal(c->admin.text, "[::1]:9090");
    bw_conf_free(c);
    c = parse_ok("admin off;\n" SITE);
    assert_false(c->admin_enabled);
    bw_conf_free(c);
    expect_err("admin_token short;\n" SITE, "t.conf:1: \"admin_token\" must be at least 16 characters long");
}

static void test_error_page_files(void **state)
{
    (void)state;
    make_tmpdir();
    char text[512];
    /* missing file: the line of the directive, the path that was tried */
    write_text("a.conf", "site a.test {\n    origin 127.0.0.1:1;\n    error_page 502 nope.html;\n}\n");
    char err[512] = "", want[512];
    assert_null(bw_conf_load(tmp_path("a.conf"), err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:3: cannot read error page \"%s\": No such file or directory",
             tmp_path("a.conf"), tmp_path("nope.html"));
    assert_string_equal(err, want);

    /* too large to be sent from one buffer */
    char *big = malloc(13000);
    assert_non_null(big);
    memset(big, 'x', 13000);
    write_file(tmp_path("big.html"), big, 13000);
    free(big);
    write_text("b.conf", "error_page 503 big.html;\n" SITE);
    assert_null(bw_conf_load(tmp_path("b.conf"), err, sizeof(err)));
    assert_non_null(strstr(err, "b.conf:1: error page"));
    assert_non_null(strstr(err, "is larger than 12288 bytes"));

    /* a directory is not a page */
    write_text("c.conf", "error_page 504 .;\n" SITE);
    assert_null(bw_conf_load(tmp_path("c.conf"), err, sizeof(err)));
    assert_non_null(strstr(err, "c.conf:1: cannot read error page"));

    /* wrong status code */
    expect_err("error_page 404 x.html;\n" SITE,
               "t.conf:1: \"error_page\" expects 502, 503 or 504 then a file, got \"404\"");

    /* top-level page shared by every site, site page overrides; freeing
     * the snapshot frees each page once (ASan/valgrind check this) */
    write_text("p502.html", "global");
    write_text("p502b.html", "site b");
    snprintf(text, sizeof(text),
             "error_page 502 p502.html;\n"
             "site a.test { origin 127.0.0.1:1; }\n"
             "site b.test { origin 127.0.0.1:2; error_page 502 p502b.html; }\n"
             "site c.test { origin 127.0.0.1:3; }\n");
    write_text("d.conf", text);
    bw_conf *c = bw_conf_load(tmp_path("d.conf"), err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->sites[0].page_502, "global");
    assert_string_equal(c->sites[1].page_502, "site b");
    assert_string_equal(c->sites[2].page_502, "global");
    assert_int_equal(c->sites[2].page_502_len, 6);
    assert_non_null(strstr(c->sites[1].page_503, "503 Service Unavailable"));
    bw_conf_free(c);

    static const char *const files[] = { "a.conf", "b.conf", "c.conf", "d.conf", "big.html", "p502.html",
                                         "p502b.html" };
    remove_tmp(files, 7);
}

static void test_load_errors(void **state)
{
    (void)state;
    char err[512] = "";
    assert_null(bw_conf_load("/nonexistent/bulwark.conf", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/bulwark.conf: cannot open: No such file or directory");
}

static void test_addr_parse(void **state)
{
    (void)state;
    struct { const char *in, *text; int family; } ok[] = {
        { "1.2.3.4:80", "1.2.3.4:80", AF_INET },
        { "127.0.0.1:65535", "127.0.0.1:65535", AF_INET },
        { "*:80", "0.0.0.0:80", AF_INET },
        { ":8080", "0.0.0.0:8080", AF_INET },
        { "localhost:8080", "127.0.0.1:8080", AF_INET },
        { "[::1]:80", "[::1]:80", AF_INET6 },
        { "[::]:443", "[::]:443", AF_INET6 },
        { "[2001:DB8:0:0::1]:443", "[2001:db8::1]:443", AF_INET6 },
        { "[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.1]:80", AF_INET6 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        bw_addr a;
        if (bw_addr_parse(ok[i].in, &a) != 0)
            fail_msg("\"%s\" refused", ok[i].in);
        assert_string_equal(a.text, ok[i].text);
        assert_int_equal(a.ss.ss_family, ok[i].family);
        assert_int_equal(a.len, ok[i].family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    }
    bw_addr a;
    assert_int_equal(bw_addr_parse("10.1.2.3:8080", &a), 0);
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a.ss;
    assert_int_equal(ntohs(s4->sin_port), 8080);
    assert_int_equal(ntohl(s4->sin_addr.s_addr), 0x0a010203);
    assert_int_equal(bw_addr_parse("[::1]:9", &a), 0);
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a.ss;
    assert_int_equal(ntohs(s6->sin6_port), 9);
    assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));

    static const char *const bad[] = {
        "", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:80x", "1.2.3.4:-1",
        "1.2.3.4:+80", "::1:80", "[::1]", "[::1]80", "[]:80", "[zz::1]:80", "[::1:80",
        "example.com:80", "1.2.3:80", "256.1.1.1:80", "1.2.3.4 :80", "[fe80::1%eth0]:80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (bw_addr_parse(bad[i], &a) == 0)
            fail_msg("\"%s\" accepted as %s", bad[i], a.text);
}

static void test_publish(void **state)
{
    (void)state;
    assert_null(bw_conf_current());
    bw_conf *a = parse_ok(SITE);
    bw_conf *b = parse_ok(SITE);
    assert_true(b->generation > a->generation);
    bw_conf_publish(a);
    assert_ptr_equal(bw_conf_current(), a);
    assert_null(a->prev);
    bw_conf_publish(b);
    assert_ptr_equal(bw_conf_current(), b);
    assert_ptr_equal(b->prev, a); /* the old snapshot stays alive */
    bw_conf_publish(b);           /* again: no self-loop in the chain */
    assert_ptr_equal(b->prev, a);
    bw_conf *c = parse_ok(SITE);
    bw_conf_publish(c);
    assert_ptr_equal(c->prev, b);
    bw_conf_free_all(); /* frees c, b, a: leaks or double frees show under ASan */
    assert_null(bw_conf_current());
    bw_conf_free_all(); /* nothing left: harmless */
}

static void test_print_directives(void **state)
{
    (void)state;
    char path[] = "/tmp/bw-test-help-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    bw_conf_print_directives(fd);
    off_t len = lseek(fd, 0, SEEK_END);
    assert_true(len > 0);
    char *out = calloc(1, (size_t)len + 1);
    assert_non_null(out);
    assert_int_equal(pread(fd, out, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    static const char *const want[] = {
        "  workers N | auto;",  "  listen ADDR [proxy_protocol];", "  admin_token TOKEN;", "  access_log ",
        "  error_page 502|503|504 FILE;", "  default;", "  origin ADDR [weight=N] [max_conns=N];", "  health_check off",
        "  keepalive_max N;",   "  max_body_size SIZE;",           "(default: 10s)",       "(default: 127.0.0.1:9090)",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(out, want[i]))
            fail_msg("--help-config lacks \"%s\":\n%s", want[i], out);
    /* error_page is listed in both contexts */
    char *first = strstr(out, "  error_page ");
    assert_non_null(first);
    assert_non_null(strstr(first + 1, "  error_page "));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_quoted_strings),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_builtin_text),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_quick),
        cmocka_unit_test(test_find_site),
        cmocka_unit_test(test_explicit_default),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_err_unknown_directive),
        cmocka_unit_test(test_err_missing_semicolon),
        cmocka_unit_test(test_err_blocks),
        cmocka_unit_test(test_err_values),
        cmocka_unit_test(test_err_site_without_origin),
        cmocka_unit_test(test_err_wrong_context),
        cmocka_unit_test(test_err_two_defaults),
        cmocka_unit_test(test_err_duplicate_names),
        cmocka_unit_test(test_admin_exposure),
        cmocka_unit_test(test_error_page_files),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_print_directives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
