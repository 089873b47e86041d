/*
 * test_parser.c - the HTTP/1 head parser and the chunked decoder.
 *
 * The malformed-request table is the list of smuggling and abuse vectors
 * bulwark must refuse before a byte reaches an origin; each row names the
 * exact status it must get.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parser.h"

static bw_http_header hdrs[128];

static int parse(const char *s, bw_http_request *req)
{
    return bw_http_parse_request(s, strlen(s), NULL, req, hdrs, 128);
}

static int parse_lim(const char *s, size_t len, const bw_http_limits *lim, bw_http_request *req)
{
    return bw_http_parse_request(s, len, lim, req, hdrs, 128);
}

static void assert_str(bw_str s, const char *want)
{
    char got[256];
    size_t n = s.len < sizeof(got) - 1 ? s.len : sizeof(got) - 1;
    memcpy(got, s.p ? s.p : "", n);
    got[n] = '\0';
    assert_string_equal(got, want);
}

/* ---- valid requests ---- */

static void test_simple_get(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    bw_http_request req;
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.method_id, BW_HTTP_GET);
    assert_str(req.method, "GET");
    assert_str(req.target, "/");
    assert_str(req.path, "/");
    assert_int_equal(req.query.len, 0);
    assert_int_equal(req.version, 11);
    assert_str(req.host, "a.test");
    assert_int_equal(req.nheaders, 1);
    assert_ptr_equal(req.headers, hdrs);
    assert_true(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_false(req.flags & (BW_HTTP_F_CHUNKED | BW_HTTP_F_HAS_CL | BW_HTTP_F_UPGRADE));
    assert_null(req.error);
}

static void test_all_fields(void **state)
{
    (void)state;
    const char *s = "POST /a/b.php?x=1&y=%20 HTTP/1.1\r\n"
                    "Host:  example.com:8080  \r\n"
                    "User-Agent:\tcurl/8.0\t\r\n"
                    "X-Empty:\r\n"
                    "X-Obs: caf\xc3\xa9\r\n"
                    "Content-Length: 42\r\n"
                    "Connection: keep-alive, Upgrade\r\n"
                    "Upgrade: websocket\r\n"
                    "Expect: 100-Continue\r\n"
                    "\r\n";
    bw_http_request req;
    assert_int_equal(parse(s, &req), (int)strlen(s));
    assert_int_equal(req.method_id, BW_HTTP_POST);
    assert_str(req.path, "/a/b.php");
    assert_str(req.query, "x=1&y=%20");
    assert_str(req.target, "/a/b.php?x=1&y=%20");
    assert_str(req.host, "example.com:8080");
    assert_int_equal(req.nheaders, 8);
    assert_str(req.headers[0].name, "Host");
    assert_str(req.headers[0].value, "example.com:8080");
    assert_str(req.headers[1].value, "curl/8.0");
    assert_str(req.headers[2].name, "X-Empty");
    assert_int_equal(req.headers[2].value.len, 0);
    assert_str(req.headers[3].value, "caf\xc3\xa9");
    assert_true(req.flags & BW_HTTP_F_HAS_CL);
    assert_int_equal(req.content_length, 42);
    assert_true(req.flags & BW_HTTP_F_HAS_CONNECTION);
    assert_true(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_true(req.flags & BW_HTTP_F_UPGRADE);
    assert_true(req.flags & BW_HTTP_F_EXPECT_CONTINUE);
    assert_str(req.connection, "keep-alive, Upgrade");
    assert_str(req.upgrade, "websocket");
}

static uint64_t order_hash(const char *s)
{
    bw_http_request req;
    assert_true(parse(s, &req) > 0);
    return req.header_order_hash;
}

/* RFC 9110 6.2: a later minor version of 1.x is read as 1.1, not refused. */
static void test_later_minor_version_is_1_1(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.2\r\nHost: a.test\r\n\r\n";
    bw_http_request req;
    bw_http_header hdrs[8];
    assert_int_equal(bw_http_parse_request(s, strlen(s), NULL, &req, hdrs, 8), (int)strlen(s));
    assert_int_equal(req.version, 11);
    assert_true(req.flags & BW_HTTP_F_KEEPALIVE);
}

/* Connection is a list: several field lines are one list (RFC 9110 5.3),
 * and a "close" in any of them counts. */
static void test_connection_in_several_lines(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: x-a\r\nConnection: close\r\n\r\n";
    bw_http_request req;
    bw_http_header hdrs[8];
    assert_int_equal(bw_http_parse_request(s, strlen(s), NULL, &req, hdrs, 8), (int)strlen(s));
    assert_true(req.flags & BW_HTTP_F_HAS_CONNECTION);
    assert_false(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_int_equal(req.connection.len, 3); /* the first line's value */
}

static void test_header_order_hash(void **state)
{
    (void)state;
    uint64_t a = order_hash("GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: x\r\n\r\n");
    uint64_t b = order_hash("GET /other HTTP/1.1\r\nhost: b\r\nACCEPT: text/html\r\nuser-agent: y\r\n\r\n");
    uint64_t c = order_hash("GET / HTTP/1.1\r\nAccept: */*\r\nHost: a\r\nUser-Agent: x\r\n\r\n");
    assert_true(a == b); /* same names, same order, any case and values */
    assert_true(a != c);
    /* The definition: FNV-1a over "host:accept:user-agent:". */
    const char *names = "host:accept:user-agent:";
    assert_true(a == bw_fnv1a_lower(BW_FNV_OFFSET, names, strlen(names)));
}

static void test_keepalive_rules(void **state)
{
    (void)state;
    bw_http_request req;
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_true(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", &req) > 0);
    assert_false(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo , close\r\n\r\n", &req) > 0);
    assert_false(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &req) > 0);
    assert_int_equal(req.version, 10);
    assert_false(req.flags & BW_HTTP_F_KEEPALIVE);
    assert_int_equal(req.host.len, 0);
    assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req) > 0);
    assert_true(req.flags & BW_HTTP_F_KEEPALIVE);
    /* Upgrade and Expect mean nothing in HTTP/1.0. */
    assert_true(parse("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: ws\r\n"
                      "Expect: 100-continue\r\n\r\n", &req) > 0);
    assert_false(req.flags & (BW_HTTP_F_UPGRADE | BW_HTTP_F_EXPECT_CONTINUE));
    /* Upgrade header without the Connection token is not an upgrade. */
    assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &req) > 0);
    assert_false(req.flags & BW_HTTP_F_UPGRADE);
}

static void test_pipelined(void **state)
{
    (void)state;
    const char *one = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    char buf[256];
    snprintf(buf, sizeof(buf), "%sGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", one);
    bw_http_request req;
    assert_int_equal(parse(buf, &req), (int)strlen(one));
    assert_str(req.path, "/1");
    size_t scan = 0;
    assert_int_equal(bw_http_head_end(buf, strlen(buf), &scan), strlen(one));
    assert_int_equal(parse(buf + strlen(one), &req), (int)strlen(one));
    assert_str(req.path, "/2");
}

static void test_incomplete(void **state)
{
    (void)state;
    const char *s = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    bw_http_request req;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(parse_lim(s, i, NULL, &req), 0);
    assert_int_equal(parse_lim(s, n, NULL, &req), (int)n);
}

static void test_head_end_bytewise(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\nGET";
    size_t want = strlen(s) - 3;
    size_t scan = 0;
    for (size_t i = 0; i <= strlen(s); i++) {
        size_t end = bw_http_head_end(s, i, &scan);
        assert_int_equal(end, i >= want ? want : 0);
        assert_true(scan <= i);
    }
    scan = 0;
    assert_int_equal(bw_http_head_end("\r\n\r\n", 4, &scan), 4);
    scan = 0;
    assert_int_equal(bw_http_head_end("a\n\n\r\n\n", 6, &scan), 0);
}

static void test_target_forms(void **state)
{
    (void)state;
    bw_http_request req;
    assert_true(parse("GET http://Example.com:81/p/q?z=1 HTTP/1.1\r\nHost: other\r\n\r\n", &req) > 0);
    assert_true(req.flags & BW_HTTP_F_ABSOLUTE_FORM);
    assert_str(req.host, "Example.com:81");
    assert_str(req.path, "/p/q");
    assert_str(req.query, "z=1");
    assert_true(parse("GET HTTPS://example.com HTTP/1.1\r\nHost: x\r\n\r\n", &req) > 0);
    assert_str(req.host, "example.com");
    assert_str(req.path, "/");
    assert_true(parse("GET http://example.com?a HTTP/1.1\r\nHost: x\r\n\r\n", &req) > 0);
    assert_str(req.path, "/");
    assert_str(req.query, "a");
    assert_true(parse("GET http://h/ HTTP/1.0\r\n\r\n", &req) > 0);
    assert_str(req.host, "h");

    assert_true(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &req) > 0);
    assert_int_equal(req.method_id, BW_HTTP_CONNECT);
    assert_str(req.target, "example.com:443");
    assert_true(parse("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", &req) > 0);

    assert_true(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_int_equal(req.method_id, BW_HTTP_OPTIONS);
    assert_str(req.target, "*");
    assert_str(req.path, "*");

    assert_true(parse("GET /?a=b?c HTTP/1.1\r\nHost: a\r\n\r\n", &req) > 0);
    assert_str(req.path, "/");
    assert_str(req.query, "a=b?c");
    /* one leading empty line is ignored (RFC 9112 2.2) */
    assert_int_equal(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &req), 29);
}

static void test_te_variants_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding:chunked\r\n",
        "Transfer-Encoding:  chunked  \r\n",
        "Transfer-Encoding:\tchunked\r\n",
        "Transfer-Encoding: Chunked\r\n",
        "Transfer-Encoding: CHUNKED\r\n",
        "Transfer-Encoding: , chunked\r\n",
        "transfer-encoding: chunked\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n", ok[i]);
        bw_http_request req;
        int r = parse(buf, &req);
        if (r != (int)strlen(buf))
            fail_msg("%s -> %d (%s)", ok[i], r, req.error ? req.error : "");
        assert_true(req.flags & BW_HTTP_F_CHUNKED);
        assert_false(req.flags & BW_HTTP_F_HAS_CL);
    }
}

static void test_content_length(void **state)
{
    (void)state;
    bw_http_request req;
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &req) > 0);
    assert_true(req.flags & BW_HTTP_F_HAS_CL);
    assert_int_equal(req.content_length, 0);
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", &req) > 0);
    assert_true(req.content_length == 9999999999999999999ULL);
    /* the same value twice is one value */
    assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n", &req) > 0);
    assert_int_equal(req.content_length, 7);
}

static void test_limits(void **state)
{
    (void)state;
    bw_http_request req;
    bw_http_limits lim = { 32, 3, 128 };
    /* request line of exactly 32 bytes is fine, 33 is not */
    const char *l32 = "GET /0123456789abcdefgh HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(strchr(l32, '\r') - l32, 32);
    assert_true(parse_lim(l32, strlen(l32), &lim, &req) > 0);
    const char *l33 = "GET /0123456789abcdefghij HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse_lim(l33, strlen(l33), &lim, &req), -414);
    /* incomplete but already too long: once the target is known, the
     * version's 8 bytes are counted in advance */
    assert_int_equal(parse_lim(l33, 20, &lim, &req), 0);
    assert_int_equal(parse_lim(l33, 26, &lim, &req), -414);
    const char *endless = "GET /0123456789abcdefghijklmnopqrstuvwxyz";
    assert_int_equal(parse_lim(endless, 32, &lim, &req), 0);
    assert_int_equal(parse_lim(endless, 33, &lim, &req), -414);
    /* three headers fine, four too many */
    const char *h3 = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_true(parse_lim(h3, strlen(h3), &lim, &req) > 0);
    const char *h4 = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(parse_lim(h4, strlen(h4), &lim, &req), -431);
    /* head over 128 bytes, complete or not */
    char big[300];
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0120d\r\n\r\n", 0);
    assert_int_equal(parse_lim(big, strlen(big), &lim, &req), -431);
    assert_int_equal(parse_lim(big, 200, &lim, &req), -431);
    assert_int_equal(parse_lim(big, 127, &lim, &req), 0);
    /* the cap of the header array is a limit too */
    assert_int_equal(bw_http_parse_request(h3, strlen(h3), NULL, &req, hdrs, 2), -431);
}

/* The built-in limits (8192 / 100 / 16384) when none are given. */
static void test_default_limits(void **state)
{
    (void)state;
    static char buf[40000];
    bw_http_request req;
    size_t n;

    /* request line: 8192 bytes pass, 8193 do not */
    n = (size_t)sprintf(buf, "GET /");
    memset(buf + n, 'a', 8192 - 5 - 9);
    n = 8192 - 9;
    n += (size_t)sprintf(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(parse_lim(buf, n, NULL, &req), (int)n);
    memmove(buf + 6, buf + 5, n - 5);
    buf[5] = 'a';
    assert_int_equal(parse_lim(buf, n + 1, NULL, &req), -414);
    /* incomplete: refused as soon as the line cannot fit any more */
    assert_int_equal(parse_lim(buf, 8185, NULL, &req), -414); /* SP + 8 > limit */
    assert_int_equal(parse_lim(buf, 8184, NULL, &req), 0);
    memset(buf + 5, 'a', 8300);
    assert_int_equal(parse_lim(buf, 8192, NULL, &req), 0);
    assert_int_equal(parse_lim(buf, 8193, NULL, &req), -414);

    /* 100 fields pass, 101 do not */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 99; i++)
        n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
    size_t mark = n;
    n += (size_t)sprintf(buf + n, "\r\n");
    assert_int_equal(parse_lim(buf, n, NULL, &req), (int)n);
    assert_int_equal(req.nheaders, 100);
    n = mark + (size_t)sprintf(buf + mark, "X-last: v\r\n\r\n");
    assert_int_equal(parse_lim(buf, n, NULL, &req), -431);

    /* a head of 16384 bytes passes, 16385 does not, complete or not */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'v', 16384 - n - 4);
    n = 16384 - 4;
    n += (size_t)sprintf(buf + n, "\r\n\r\n");
    assert_int_equal(parse_lim(buf, n, NULL, &req), 16384);
    memmove(buf + 31, buf + 30, n - 30);
    assert_int_equal(parse_lim(buf, n + 1, NULL, &req), -431);
    assert_int_equal(parse_lim(buf, 16384, NULL, &req), -431);
    assert_int_equal(parse_lim(buf, 16383, NULL, &req), 0);
}

/* An incomplete head shows its errors early (a client using "\n\n" must
 * not wait for a CRLFCRLF that never comes). */
static void test_incomplete_errors(void **state)
{
    (void)state;
    bw_http_request req;
    assert_int_equal(parse("GET / HTTP/1.1\n", &req), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\n\n", &req), -400);
    assert_int_equal(parse("GET / HTTP/1.1\rX", &req), -400);
    assert_int_equal(parse("http/1.1", &req), -400);
    assert_int_equal(parse("GET / http", &req), -400);
    assert_int_equal(parse("GET / HTTP/1.1 ", &req), -400);
    assert_int_equal(parse("\x16\x03\x01\x02\x00\x01", &req), -400); /* TLS to a plain port */
    assert_int_equal(parse("GET / HTT", &req), 0);
}

/* ---- the malformed-request table ---- */

struct bad {
    const char *name;
    const char *raw;
    int want;
};

#define H "Host: a.test\r\n"
#define NUL_CASE "GET / HTTP/1.1\r\n" H "Foo: a\0b\r\n\r\n"

static const char bad_requests_nul[] = NUL_CASE;

static const struct bad bad_requests[] = {
    { "CL+TE", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400 },
    { "TE+CL", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", -400 },
    { "duplicate differing CL", "POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", -400 },
    { "CL list", "POST / HTTP/1.1\r\n" H "Content-Length: 1,1\r\n\r\n", -400 },
    { "CL list spaced", "POST / HTTP/1.1\r\n" H "Content-Length: 1, 1\r\n\r\n", -400 },
    { "CL plus", "POST / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", -400 },
    { "CL minus", "POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", -400 },
    { "CL hex", "POST / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", -400 },
    { "CL empty", "POST / HTTP/1.1\r\n" H "Content-Length: \r\n\r\n", -400 },
    { "CL inner space", "POST / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n", -400 },
    { "CL overflow", "POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n", -400 },
    { "CL 2^64", "POST / HTTP/1.1\r\n" H "Content-Length: 18446744073709551616\r\n\r\n", -400 },
    { "TE chunked, gzip", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n", -400 },
    { "TE chunked then gzip line", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
      "Transfer-Encoding: gzip\r\n\r\n", -400 },
    { "TE chunked twice", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n", -400 },
    { "TE gzip", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", -501 },
    { "TE gzip, chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n", -501 },
    { "TE identity", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", -501 },
    { "TE chunkedx", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunkedx\r\n\r\n", -501 },
    { "TE empty", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: \r\n\r\n", -400 },
    { "TE quoted", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: \"chunked\"\r\n\r\n", -400 },
    { "TE params", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;q=1\r\n\r\n", -400 },
    { "TE vertical tab", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: \x0b" "chunked\r\n\r\n", -400 },
    { "TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400 },
    { "TE space before colon", "POST / HTTP/1.1\r\n" H "Transfer-Encoding : chunked\r\n\r\n", -400 },
    { "obs-fold", "GET / HTTP/1.1\r\n" H "X-Folded: a\r\n b\r\n\r\n", -400 },
    { "obs-fold tab", "GET / HTTP/1.1\r\n" H "X-Folded: a\r\n\tb\r\n\r\n", -400 },
    { "space before first field", "GET / HTTP/1.1\r\n " H "\r\n", -400 },
    { "space before colon", "GET / HTTP/1.1\r\n" H "Foo : bar\r\n\r\n", -400 },
    { "tab before colon", "GET / HTTP/1.1\r\n" H "Foo\t: bar\r\n\r\n", -400 },
    { "empty name", "GET / HTTP/1.1\r\n" H ": bar\r\n\r\n", -400 },
    { "bad char in name", "GET / HTTP/1.1\r\n" H "Fo@o: bar\r\n\r\n", -400 },
    { "no colon", "GET / HTTP/1.1\r\n" H "Foo\r\n\r\n", -400 },
    { "obs-text in name", "GET / HTTP/1.1\r\n" H "F\xc3\xa9: bar\r\n\r\n", -400 },
    { "NUL in value", bad_requests_nul, -400 },
    { "CTL in value", "GET / HTTP/1.1\r\n" H "Foo: a\x01" "b\r\n\r\n", -400 },
    { "DEL in value", "GET / HTTP/1.1\r\n" H "Foo: a\x7f" "b\r\n\r\n", -400 },
    { "bare CR in value", "GET / HTTP/1.1\r\n" H "Foo: a\rb\r\n\r\n", -400 },
    { "bare LF in value", "GET / HTTP/1.1\r\n" H "Foo: a\nb\r\n\r\n", -400 },
    { "bare LF line ending", "GET / HTTP/1.1\r\n" H "Foo: bar\n\r\n", -400 },
    { "bare LF request line", "GET / HTTP/1.1\n" H "\r\n", -400 },
    { "bare LF empty line", "GET / HTTP/1.1\r\n" H "\n", -400 },
    { "bare CR end", "GET / HTTP/1.1\r\n" H "\rX\r\n\r\n", -400 },
    { "missing Host 1.1", "GET / HTTP/1.1\r\nFoo: bar\r\n\r\n", -400 },
    { "two Hosts", "GET / HTTP/1.1\r\n" H "Host: b.test\r\n\r\n", -400 },
    { "two Hosts same", "GET / HTTP/1.1\r\n" H H "\r\n", -400 },
    { "empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", -400 },
    { "Host with quote", "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", -400 },
    { "Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400 },
    { "Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -400 },
    { "Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -400 },
    { "absolute-form without Host", "GET http://a/ HTTP/1.1\r\n\r\n", -400 },
    { "Expect other", "GET / HTTP/1.1\r\n" H "Expect: 200-ok\r\n\r\n", -417 },
    { "HTTP/2.0", "GET / HTTP/2.0\r\n" H "\r\n", -505 },
    { "HTTP/0.9", "GET / HTTP/0.9\r\n" H "\r\n", -505 },
    { "HTTP/1.10", "GET / HTTP/1.10\r\n" H "\r\n", -400 },
    { "HTTP/11", "GET / HTTP/11\r\n" H "\r\n", -400 },
    { "version trailing space", "GET / HTTP/1.1 \r\n" H "\r\n", -400 },
    { "version trailing garbage", "GET / HTTP/1.1 x\r\n" H "\r\n", -400 },
    { "lowercase version", "GET / http/1.1\r\n" H "\r\n", -400 },
    { "no version", "GET /\r\n" H "\r\n", -400 },
    { "double space after method", "GET  / HTTP/1.1\r\n" H "\r\n", -400 },
    { "double space after target", "GET /  HTTP/1.1\r\n" H "\r\n", -400 },
    { "tab separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", -400 },
    { "leading space", " GET / HTTP/1.1\r\n" H "\r\n", -400 },
    { "empty method", " / HTTP/1.1\r\n" H "\r\n", -400 },
    { "bad char in method", "G(T / HTTP/1.1\r\n" H "\r\n", -400 },
    { "two leading CRLF", "\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", -400 },
    { "CTL in target", "GET /a\x01 HTTP/1.1\r\n" H "\r\n", -400 },
    { "DEL in target", "GET /a\x7f HTTP/1.1\r\n" H "\r\n", -400 },
    { "obs-text in target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n", -400 },
    { "GET *", "GET * HTTP/1.1\r\n" H "\r\n", -400 },
    { "OPTIONS *x", "OPTIONS *x HTTP/1.1\r\n" H "\r\n", -400 },
    { "relative target", "GET a/b HTTP/1.1\r\n" H "\r\n", -400 },
    { "authority-form for GET", "GET a.test:80 HTTP/1.1\r\n" H "\r\n", -400 },
    { "CONNECT origin-form", "CONNECT / HTTP/1.1\r\n" H "\r\n", -400 },
    { "CONNECT without port", "CONNECT a.test HTTP/1.1\r\n" H "\r\n", -400 },
    { "CONNECT bad port", "CONNECT a.test:8x HTTP/1.1\r\n" H "\r\n", -400 },
    { "absolute ftp", "GET ftp://a/ HTTP/1.1\r\n" H "\r\n", -400 },
    { "absolute empty authority", "GET http:///x HTTP/1.1\r\n" H "\r\n", -400 },
    { "absolute userinfo", "GET http://u:p@a/ HTTP/1.1\r\n" H "\r\n", -400 },
};

static void test_malformed_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
        const struct bad *b = &bad_requests[i];
        /* strlen would stop at the NUL */
        size_t len = b->raw == bad_requests_nul ? sizeof(NUL_CASE) - 1 : strlen(b->raw);
        bw_http_request req;
        int r = parse_lim(b->raw, len, NULL, &req);
        if (r != b->want) {
            print_error("%s: got %d (%s), want %d\n", b->name, r, req.error ? req.error : "-", b->want);
            failures++;
        } else if (!req.error) {
            print_error("%s: no error reason\n", b->name);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_method_ids(void **state)
{
    (void)state;
    static const struct { const char *m; bw_http_method id; } t[] = {
        { "GET", BW_HTTP_GET },         { "HEAD", BW_HTTP_HEAD },       { "POST", BW_HTTP_POST },
        { "PUT", BW_HTTP_PUT },         { "DELETE", BW_HTTP_DELETE },   { "CONNECT", BW_HTTP_CONNECT },
        { "OPTIONS", BW_HTTP_OPTIONS }, { "TRACE", BW_HTTP_TRACE },     { "PATCH", BW_HTTP_PATCH },
        { "get", BW_HTTP_OTHER },       { "PROPFIND", BW_HTTP_OTHER },  { "GETS", BW_HTTP_OTHER },
        { "", BW_HTTP_OTHER },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(bw_http_method_id(bw_str_cstr(t[i].m)), t[i].id);
}

static void test_token_list(void **state)
{
    (void)state;
    assert_true(bw_http_token_list_has(BW_STR_LIT("keep-alive, Upgrade"), "upgrade"));
    assert_true(bw_http_token_list_has(BW_STR_LIT("Close"), "close"));
    assert_true(bw_http_token_list_has(BW_STR_LIT(" ,\tclose\t, "), "close"));
    assert_false(bw_http_token_list_has(BW_STR_LIT("closed"), "close"));
    assert_false(bw_http_token_list_has(BW_STR_LIT("x-close"), "close"));
    assert_false(bw_http_token_list_has(BW_STR_LIT(""), "close"));
    assert_false(bw_http_token_list_has(BW_STR_LIT("clo se"), "close"));
}

/* ---- responses ---- */

static int parse_resp(const char *s, bw_http_response *resp)
{
    return bw_http_parse_response(s, strlen(s), NULL, resp, hdrs, 128);
}

static void test_response_cl(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nhello world!";
    bw_http_response resp;
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s) - 12);
    assert_int_equal(resp.version, 11);
    assert_int_equal(resp.status, 200);
    assert_str(resp.reason, "OK");
    assert_true(resp.flags & BW_HTTP_F_HAS_CL);
    assert_true(resp.flags & BW_HTTP_F_KEEPALIVE);
    assert_int_equal(resp.content_length, 12);
    assert_int_equal(resp.nheaders, 2);
    assert_str(resp.headers[1].value, "text/plain");
    for (size_t i = 0; i < strlen(s) - 12; i++)
        assert_int_equal(bw_http_parse_response(s, i, NULL, &resp, hdrs, 128), 0);
}

static void test_response_chunked(void **state)
{
    (void)state;
    bw_http_response resp;
    const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s));
    assert_true(resp.flags & BW_HTTP_F_CHUNKED);
    /* both: Transfer-Encoding wins (RFC 9112 6.3) */
    s = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s));
    assert_true(resp.flags & BW_HTTP_F_CHUNKED);
    assert_false(resp.flags & BW_HTTP_F_HAS_CL);
    assert_int_equal(resp.content_length, 0);
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &resp), -502);
    assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &resp), -502);
}

static void test_response_misc(void **state)
{
    (void)state;
    bw_http_response resp;
    const char *s = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s));
    assert_int_equal(resp.status, 204);
    assert_false(resp.flags & BW_HTTP_F_KEEPALIVE);
    assert_true(resp.flags & BW_HTTP_F_HAS_CONNECTION);
    assert_str(resp.connection, "close");

    s = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody until close";
    assert_true(parse_resp(s, &resp) > 0);
    assert_int_equal(resp.version, 10);
    assert_false(resp.flags & (BW_HTTP_F_KEEPALIVE | BW_HTTP_F_HAS_CL | BW_HTTP_F_CHUNKED));

    s = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    assert_true(parse_resp(s, &resp) > 0);
    assert_true(resp.flags & BW_HTTP_F_KEEPALIVE);

    s = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s));
    assert_int_equal(resp.status, 101);
    assert_str(resp.reason, "Switching Protocols");

    s = "HTTP/1.1 200\r\n\r\n";
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s));
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.reason.len, 0);
    s = "HTTP/1.1 404 \r\n\r\n";
    assert_int_equal(parse_resp(s, &resp), (int)strlen(s));
    assert_int_equal(resp.status, 404);
    assert_int_equal(resp.reason.len, 0);
    s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert_int_equal(parse_resp(s, &resp), 25);
    assert_int_equal(resp.status, 100);
}

static void test_response_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\n\n",
        "HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bw_http_response resp;
        int r = parse_resp(bad[i], &resp);
        if (r != -502)
            fail_msg("response %zu: got %d, want -502", i, r);
        assert_non_null(resp.error);
    }
}

/* ---- chunked ---- */

/* Decode all of in (in calls of at most step bytes) into out. */
static ssize_t dechunk(bw_chunked *d, const char *in, size_t len, size_t step, char *out, size_t *outlen)
{
    size_t off = 0;
    while (off < len && !d->done) {
        size_t n = len - off < step ? len - off : step;
        size_t used = 0;
        while (used < n && !d->done) {
            bw_str data;
            ssize_t r = bw_chunked_decode(d, in + off + used, n - used, &data);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
            assert_true(data.len <= (size_t)r);
            if (data.len) {
                assert_true(data.p >= in + off + used && data.p + data.len <= in + off + used + (size_t)r);
                memcpy(out + *outlen, data.p, data.len);
                *outlen += data.len;
            }
            used += (size_t)r;
        }
        off += used;
        if (used < n)
            break;
    }
    return (ssize_t)off;
}

static void check_body(const char *in, size_t len, const char *want, size_t consumed_want)
{
    for (size_t step = 1; step <= len; step++) {
        bw_chunked d;
        bw_chunked_init(&d);
        char out[512];
        size_t outlen = 0;
        ssize_t r = dechunk(&d, in, len, step, out, &outlen);
        if (r != (ssize_t)consumed_want || !d.done)
            fail_msg("step %zu: consumed %zd, done %d", step, r, d.done);
        assert_int_equal(outlen, strlen(want));
        assert_memory_equal(out, want, outlen);
    }
}

static void test_chunked_simple(void **state)
{
    (void)state;
    const char *in = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    check_body(in, strlen(in), "hello world", strlen(in));
    /* one call returns one run of data */
    bw_chunked d;
    bw_chunked_init(&d);
    bw_str data;
    assert_int_equal(bw_chunked_decode(&d, in, strlen(in), &data), 8);
    assert_int_equal(data.len, 5);
    assert_ptr_equal(data.p, in + 3);
}

static void test_chunked_split_everywhere(void **state)
{
    (void)state;
    const char *in = "1a;name=val\r\nabcdefghijklmnopqrstuvwxyz\r\n00A \t;x;y=\"q s\"\r\n0123456789\r\n"
                     "0\r\nTrailer-One: v\r\nT2:\r\n\r\nNEXT";
    size_t body = strlen(in) - 4; /* the pipelined "NEXT" is not consumed */
    /* every split point, two pieces */
    for (size_t k = 0; k <= strlen(in); k++) {
        bw_chunked d;
        bw_chunked_init(&d);
        char out[512];
        size_t outlen = 0;
        ssize_t a = dechunk(&d, in, k, k ? k : 1, out, &outlen);
        assert_int_equal(a, k < body ? k : body);
        ssize_t b = dechunk(&d, in + a, strlen(in) - (size_t)a, 1000, out, &outlen);
        assert_int_equal((size_t)(a + b), body);
        assert_true(d.done);
        assert_int_equal(outlen, 36);
        assert_memory_equal(out, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
    }
    check_body(in, strlen(in), "abcdefghijklmnopqrstuvwxyz0123456789", body);
    /* after done nothing more is consumed */
    bw_chunked d;
    bw_chunked_init(&d);
    char out[512];
    size_t outlen = 0;
    assert_int_equal(dechunk(&d, in, strlen(in), 1000, out, &outlen), body);
    bw_str data;
    assert_int_equal(bw_chunked_decode(&d, in + body, 4, &data), 0);
}

static void test_chunked_large_size(void **state)
{
    (void)state;
    bw_chunked d;
    bw_chunked_init(&d);
    bw_str data;
    const char *in = "FFFFFFFFFFFFFFFF\r\nabc";
    assert_int_equal(bw_chunked_decode(&d, in, 18, &data), 18);
    assert_int_equal(data.len, 0);
    assert_true(d.remaining == UINT64_MAX);
    assert_int_equal(bw_chunked_decode(&d, in + 18, 3, &data), 3);
    assert_int_equal(data.len, 3);
    assert_true(d.remaining == UINT64_MAX - 3);
}

static void test_chunked_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "g\r\n",                          /* not hex */
        "\r\n",                           /* no digits */
        "-1\r\n",
        "+1\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",       /* leading space */
        "5 \r\nhello\r\n0\r\n\r\n",       /* BWS without extension */
        "10000000000000000\r\n",          /* 17 digits */
        "00000000000000001\r\n",          /* 17 digits even if small */
        "5\r\nhelloX\r\n",                /* data longer than size */
        "5\r\nhello\n0\r\n\r\n",          /* bare LF after data */
        "5\r\nhello\r0\r\n\r\n",          /* bare CR after data */
        "5\nhello\r\n0\r\n\r\n",          /* bare LF after size */
        "5\rhello\r\n",                   /* bare CR after size */
        "5;a\nb\r\nhello\r\n",            /* bare LF in extension */
        "5;a\x01\r\nhello\r\n",           /* CTL in extension */
        "0\r\nX: y\n\r\n",                /* bare LF in trailer */
        "0\r\nX y\r\n\r\n",               /* trailer without colon */
        "0\r\n y\r\n\r\n",                /* folded trailer */
        "0\r\n\rX",                       /* bare CR at the end */
        "0\r\n\n",                        /* bare LF at the end */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t step = 1; step <= 64; step *= 4) {
            bw_chunked d;
            bw_chunked_init(&d);
            char out[512];
            size_t outlen = 0;
            ssize_t r = dechunk(&d, bad[i], strlen(bad[i]), step, out, &outlen);
            if (r != -1)
                fail_msg("chunked case %zu (step %zu): got %zd, want -1", i, step, r);
        }
    }
    /* once failed, always failed */
    bw_chunked d;
    bw_chunked_init(&d);
    bw_str data;
    assert_int_equal(bw_chunked_decode(&d, "x", 1, &data), -1);
    assert_int_equal(bw_chunked_decode(&d, "5\r\n", 3, &data), -1);
}

static void test_chunked_limits(void **state)
{
    (void)state;
    /* extension bytes are bounded for the whole body */
    static char buf[20000];
    size_t n = 0;
    n += (size_t)sprintf(buf + n, "1;");
    memset(buf + n, 'e', 5000);
    n += 5000;
    n += (size_t)sprintf(buf + n, "\r\nx\r\n0\r\n\r\n");
    bw_chunked d;
    bw_chunked_init(&d);
    char out[512];
    size_t outlen = 0;
    assert_int_equal(dechunk(&d, buf, n, n, out, &outlen), -1);

    /* many small extensions add up */
    n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)sprintf(buf + n, "1;%040d\r\nx\r\n", i);
    n += (size_t)sprintf(buf + n, "0\r\n\r\n");
    bw_chunked_init(&d);
    outlen = 0;
    assert_int_equal(dechunk(&d, buf, n, n, out, &outlen), -1);

    /* a small one is fine */
    const char *ok = "1;a=b\r\nx\r\n0;last\r\n\r\n";
    check_body(ok, strlen(ok), "x", strlen(ok));

    /* trailers over 16 KiB */
    n = (size_t)sprintf(buf, "0\r\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(buf + n, "X-Trailer-%03d: %040d\r\n", i, i);
    n += (size_t)sprintf(buf + n, "\r\n");
    bw_chunked_init(&d);
    outlen = 0;
    assert_int_equal(dechunk(&d, buf, n, n, out, &outlen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_all_fields),
        cmocka_unit_test(test_later_minor_version_is_1_1),
        cmocka_unit_test(test_connection_in_several_lines),
        cmocka_unit_test(test_header_order_hash),
        cmocka_unit_test(test_keepalive_rules),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_head_end_bytewise),
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_te_variants_accepted),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_incomplete_errors),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_method_ids),
        cmocka_unit_test(test_token_list),
        cmocka_unit_test(test_response_cl),
        cmocka_unit_test(test_response_chunked),
        cmocka_unit_test(test_response_misc),
        cmocka_unit_test(test_response_invalid),
        cmocka_unit_test(test_chunked_simple),
        cmocka_unit_test(test_chunked_split_everywhere),
        cmocka_unit_test(test_chunked_large_size),
        cmocka_unit_test(test_chunked_invalid),
        cmocka_unit_test(test_chunked_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
