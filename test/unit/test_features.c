/*
 * test_features.c - what the shield computes from one parsed request
 * (shield/features.c), on raw request text run through the real parser:
 * the fingerprint does not depend on the client's address nor on the
 * headers that come and go (Cookie, Referer, conditionals), but does on
 * User-Agent, Accept and header order; the token binding follows only
 * User-Agent and Accept-Language; the path class folds ids and ignores the
 * query; the prefix is the /24 or /64; no attribute is ever 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "shield/features.h"

/* A browser's page view, in its header order. */
#define HOST "Host: a.test\r\n"
#define UA "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
#define ACCEPT "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
#define LANG "Accept-Language: en-US,en;q=0.5\r\n"
#define ENC "Accept-Encoding: gzip, deflate, br\r\n"
#define BROWSER HOST UA ACCEPT LANG ENC
#define GET "GET /index.html HTTP/1.1\r\n"

static const uint8_t ip_a[16] = { 10, 0, 0, 1 };

/* Parse text (which must be one complete head) and compute its features;
 * the slices in the result point into text. */
static bw_shield_feat feat_at(const char *text, int family, const uint8_t addr[16])
{
    bw_http_header hdrs[32];
    bw_http_request req;
    int n = bw_http_parse_request(text, strlen(text), NULL, &req, hdrs, 32);
    if (n != (int)strlen(text))
        fail_msg("parse %d (%s): %s", n, req.error ? req.error : "", text);
    bw_shield_feat f;
    bw_shield_features(&f, &req, family, addr);
    return f;
}

static bw_shield_feat feat(const char *text)
{
    return feat_at(text, AF_INET, ip_a);
}

static bw_shield_feat feat_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    uint8_t addr[16] = { a, b, c, d };
    return feat_at(GET BROWSER "\r\n", AF_INET, addr);
}

static bw_shield_feat feat_v6(const char *text)
{
    uint8_t addr[16];
    assert_int_equal(inet_pton(AF_INET6, text, addr), 1);
    return feat_at(GET BROWSER "\r\n", AF_INET6, addr);
}

static uint64_t path_class(const char *method, const char *path)
{
    return bw_shield_path_class(bw_str_cstr(method), bw_str_cstr(path));
}

/* The same browser from two addresses: every request attribute is the
 * same, the address and its prefix are not. */
static void test_fp_independent_of_address(void **state)
{
    (void)state;
    bw_shield_feat a = feat_v4(10, 0, 0, 1), b = feat_v4(192, 0, 2, 77);
    for (int i = 0; i < BW_ATTR_COUNT; i++)
        if (i != BW_ATTR_PREFIX)
            assert_true(a.attr[i] == b.attr[i]);
    assert_true(a.bind == b.bind);
    assert_true(a.ip != b.ip);
    assert_true(a.attr[BW_ATTR_PREFIX] != b.attr[BW_ATTR_PREFIX]);
    assert_int_equal(a.family, AF_INET);
    assert_memory_equal(a.addr, ((uint8_t[4]){ 10, 0, 0, 1 }), 4);
}

/* The prefix is the /24: the last byte does not count, the third does. */
static void test_ipv4_prefix(void **state)
{
    (void)state;
    bw_shield_feat a = feat_v4(10, 0, 0, 1), b = feat_v4(10, 0, 0, 200), c = feat_v4(10, 0, 1, 1);
    assert_true(a.attr[BW_ATTR_PREFIX] == b.attr[BW_ATTR_PREFIX]);
    assert_true(a.ip != b.ip);
    assert_true(a.attr[BW_ATTR_PREFIX] != c.attr[BW_ATTR_PREFIX]);
    assert_true(a.attr[BW_ATTR_FP] == c.attr[BW_ATTR_FP]);
}

/* The prefix is the /64. */
static void test_ipv6_prefix(void **state)
{
    (void)state;
    bw_shield_feat a = feat_v6("2001:db8:1:2::1"), b = feat_v6("2001:db8:1:2::ffff"),
                   c = feat_v6("2001:db8:1:3::1");
    assert_true(a.attr[BW_ATTR_PREFIX] == b.attr[BW_ATTR_PREFIX]);
    assert_true(a.ip != b.ip);
    assert_true(a.attr[BW_ATTR_PREFIX] != c.attr[BW_ATTR_PREFIX]);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.addr[15], 1);
    assert_int_equal(b.addr[14], 0xff);
    /* 10.0.0.x and an IPv6 /64 that starts with the same bytes differ */
    bw_shield_feat v4 = feat_v4(10, 0, 0, 1);
    uint8_t six[16] = { 10, 0, 0, 1 };
    bw_shield_feat v6 = feat_at(GET BROWSER "\r\n", AF_INET6, six);
    assert_true(v4.attr[BW_ATTR_PREFIX] != v6.attr[BW_ATTR_PREFIX]);
    assert_true(v4.ip != v6.ip);
}

/* Headers a browser adds once it has a cookie, or on a reload: the
 * fingerprint, the header order and the binding stay. */
static void test_volatile_headers_keep_fp(void **state)
{
    (void)state;
    static const char *const with[] = {
        GET HOST UA "Cookie: bw=abc\r\n" ACCEPT LANG ENC "\r\n",
        GET HOST UA ACCEPT "Referer: https://a.test/\r\n" LANG ENC "\r\n",
        GET HOST UA ACCEPT LANG ENC "If-None-Match: \"x1\"\r\n\r\n",
        GET HOST "Cache-Control: no-cache\r\n" UA ACCEPT LANG ENC "\r\n",
        GET HOST UA ACCEPT LANG ENC "If-Modified-Since: Tue, 01 Oct 2024 10:00:00 GMT\r\n\r\n",
        GET HOST "Pragma: no-cache\r\n" UA ACCEPT LANG ENC "Origin: https://a.test\r\n\r\n",
        GET HOST UA ACCEPT LANG ENC "Authorization: Basic dTpw\r\n\r\n",
        GET HOST UA ACCEPT LANG ENC "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
        GET HOST UA "COOKIE: a=1\r\n" ACCEPT "referer: /x\r\n" LANG ENC "Cookie: b=2\r\n\r\n",
    };
    bw_shield_feat base = feat(GET BROWSER "\r\n");
    for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
        bw_shield_feat f = feat(with[i]);
        assert_true(f.attr[BW_ATTR_FP] == base.attr[BW_ATTR_FP]);
        assert_true(f.attr[BW_ATTR_ORDER] == base.attr[BW_ATTR_ORDER]);
        assert_true(f.attr[BW_ATTR_UA] == base.attr[BW_ATTR_UA]);
        assert_true(f.attr[BW_ATTR_FP_PATH] == base.attr[BW_ATTR_FP_PATH]);
        assert_true(f.bind == base.bind);
    }
    /* the control: a header that is not volatile changes both */
    bw_shield_feat x = feat(GET HOST UA ACCEPT LANG ENC "X-Requested-With: XMLHttpRequest\r\n\r\n");
    assert_true(x.attr[BW_ATTR_ORDER] != base.attr[BW_ATTR_ORDER]);
    assert_true(x.attr[BW_ATTR_FP] != base.attr[BW_ATTR_FP]);
    assert_true(x.bind == base.bind);
}

/* Another User-Agent is another client: fp, UA and binding change, the
 * header order does not. */
static void test_user_agent(void **state)
{
    (void)state;
    bw_shield_feat a = feat(GET BROWSER "\r\n");
    bw_shield_feat b = feat(GET HOST "User-Agent: curl/8.5.0\r\n" ACCEPT LANG ENC "\r\n");
    assert_true(a.attr[BW_ATTR_FP] != b.attr[BW_ATTR_FP]);
    assert_true(a.attr[BW_ATTR_UA] != b.attr[BW_ATTR_UA]);
    assert_true(a.bind != b.bind);
    assert_true(a.attr[BW_ATTR_FP_PATH] != b.attr[BW_ATTR_FP_PATH]);
    assert_true(a.attr[BW_ATTR_ORDER] == b.attr[BW_ATTR_ORDER]);
    assert_true(a.attr[BW_ATTR_PATH] == b.attr[BW_ATTR_PATH]);
    assert_true(a.has_ua && b.has_ua);

    bw_shield_feat none = feat(GET HOST ACCEPT LANG ENC "\r\n");
    assert_false(none.has_ua);
    assert_true(none.attr[BW_ATTR_FP] != a.attr[BW_ATTR_FP]);
    assert_true(none.attr[BW_ATTR_UA] != a.attr[BW_ATTR_UA]);
}

/* Accept, Accept-Encoding and the HTTP version are part of fp, not of the
 * binding (a page and an image differ there); Accept-Language is part of
 * both. */
static void test_accept_and_language(void **state)
{
    (void)state;
    bw_shield_feat a = feat(GET BROWSER "\r\n");
    bw_shield_feat img = feat(GET HOST UA "Accept: image/avif,image/webp,*/*\r\n" LANG ENC "\r\n");
    assert_true(img.attr[BW_ATTR_FP] != a.attr[BW_ATTR_FP]);
    assert_true(img.bind == a.bind);
    assert_true(img.attr[BW_ATTR_UA] == a.attr[BW_ATTR_UA]);
    assert_true(img.attr[BW_ATTR_ORDER] == a.attr[BW_ATTR_ORDER]);

    bw_shield_feat enc = feat(GET HOST UA ACCEPT LANG "Accept-Encoding: identity\r\n\r\n");
    assert_true(enc.attr[BW_ATTR_FP] != a.attr[BW_ATTR_FP]);
    assert_true(enc.bind == a.bind);

    bw_shield_feat lang = feat(GET HOST UA ACCEPT "Accept-Language: fr-FR\r\n" ENC "\r\n");
    assert_true(lang.attr[BW_ATTR_FP] != a.attr[BW_ATTR_FP]);
    assert_true(lang.bind != a.bind);
    assert_true(lang.attr[BW_ATTR_ORDER] == a.attr[BW_ATTR_ORDER]);

    bw_shield_feat v10 = feat("GET /index.html HTTP/1.0\r\n" BROWSER "\r\n");
    assert_true(v10.attr[BW_ATTR_FP] != a.attr[BW_ATTR_FP]);
    assert_true(v10.bind == a.bind);

    /* a value moved from one of the three headers to the next is not the same */
    bw_shield_feat m1 = feat(GET HOST UA "Accept: x\r\nAccept-Language: \r\n" ENC "\r\n");
    bw_shield_feat m2 = feat(GET HOST UA "Accept: \r\nAccept-Language: x\r\n" ENC "\r\n");
    assert_true(m1.attr[BW_ATTR_FP] != m2.attr[BW_ATTR_FP]);
}

/* Header order is part of fp; header-name case is not. */
static void test_header_order(void **state)
{
    (void)state;
    bw_shield_feat a = feat(GET BROWSER "\r\n");
    bw_shield_feat b = feat(GET HOST UA LANG ACCEPT ENC "\r\n");
    assert_true(a.attr[BW_ATTR_ORDER] != b.attr[BW_ATTR_ORDER]);
    assert_true(a.attr[BW_ATTR_FP] != b.attr[BW_ATTR_FP]);
    assert_true(a.attr[BW_ATTR_UA] == b.attr[BW_ATTR_UA]);
    assert_true(a.bind == b.bind);

    bw_shield_feat lower = feat(GET "host: a.test\r\nuser-agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) "
                                    "Gecko/20100101 Firefox/128.0\r\nACCEPT: text/html,application/"
                                    "xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" LANG ENC "\r\n");
    assert_true(lower.attr[BW_ATTR_ORDER] == a.attr[BW_ATTR_ORDER]);
    assert_true(lower.attr[BW_ATTR_FP] == a.attr[BW_ATTR_FP]);
    assert_true(lower.bind == a.bind);
}

/* Numbers, hex ids and long tokens with digits fold to one class; words
 * and methods do not. */
static void test_path_class(void **state)
{
    (void)state;
    assert_true(path_class("GET", "/user/123/post/456") == path_class("GET", "/user/7/post/8"));
    assert_true(path_class("GET", "/item/9af3e1c2") == path_class("GET", "/item/00ffab12"));
    assert_true(path_class("GET", "/o/123e4567-e89b-12d3-a456-426614174000") ==
                path_class("GET", "/o/00000000-0000-0000-0000-000000000001"));
    assert_true(path_class("GET", "/blog/my-first-post-2024") == path_class("GET", "/blog/x7x7x7x7x7x7x7x7x7"));
    assert_true(path_class("GET", "/item/42") == path_class("GET", "/item/9af3e1c2"));
    assert_true(path_class("GET", "/about") != path_class("GET", "/contact"));
    assert_true(path_class("GET", "/") != path_class("POST", "/"));
    assert_true(path_class("GET", "/user/123") != path_class("GET", "/user/123/"));
    assert_true(path_class("GET", "/user/123") != path_class("GET", "/post/123"));
    assert_true(path_class("GET", "/a/b") != path_class("GET", "/ab"));
    assert_true(path_class("GET", "/item/cafe") != path_class("GET", "/item/1234")); /* a word */
    assert_true(path_class("GET", "/api/v1/x") != path_class("GET", "/api/v2/x"));   /* too short */

    /* as computed for a request */
    bw_shield_feat a = feat("GET /user/123/post/456 HTTP/1.1\r\n" BROWSER "\r\n");
    bw_shield_feat b = feat("GET /user/7/post/8 HTTP/1.1\r\n" BROWSER "\r\n");
    bw_shield_feat c = feat("POST /user/7/post/8 HTTP/1.1\r\n" BROWSER "Content-Length: 0\r\n\r\n");
    assert_true(a.attr[BW_ATTR_PATH] == path_class("GET", "/user/1/post/2"));
    assert_true(a.attr[BW_ATTR_PATH] == b.attr[BW_ATTR_PATH]);
    assert_true(a.attr[BW_ATTR_FP_PATH] == b.attr[BW_ATTR_FP_PATH]);
    assert_true(c.attr[BW_ATTR_PATH] != b.attr[BW_ATTR_PATH]);
    assert_true(c.attr[BW_ATTR_FP] == b.attr[BW_ATTR_FP]); /* Content-Length is volatile */
    assert_true(c.attr[BW_ATTR_FP_PATH] != b.attr[BW_ATTR_FP_PATH]);
    /* absolute-form is the same path */
    bw_shield_feat abs = feat("GET http://a.test/user/9/post/9 HTTP/1.1\r\n" BROWSER "\r\n");
    assert_true(abs.attr[BW_ATTR_PATH] == a.attr[BW_ATTR_PATH]);
}

/* The query is not part of the class; has_query says it was there. */
static void test_query(void **state)
{
    (void)state;
    bw_shield_feat a = feat("GET /search HTTP/1.1\r\n" BROWSER "\r\n");
    bw_shield_feat b = feat("GET /search?q=cats HTTP/1.1\r\n" BROWSER "\r\n");
    bw_shield_feat c = feat("GET /search?q=dogs&page=2 HTTP/1.1\r\n" BROWSER "\r\n");
    assert_true(a.attr[BW_ATTR_PATH] == b.attr[BW_ATTR_PATH]);
    assert_true(b.attr[BW_ATTR_PATH] == c.attr[BW_ATTR_PATH]);
    assert_true(a.attr[BW_ATTR_FP_PATH] == c.attr[BW_ATTR_FP_PATH]);
    assert_false(a.has_query);
    assert_true(b.has_query);
    assert_true(c.has_query);
}

/* has_cookie and the cookie slice: the first Cookie header's value. */
static void test_cookie(void **state)
{
    (void)state;
    bw_shield_feat a = feat(GET BROWSER "\r\n");
    assert_false(a.has_cookie);
    assert_int_equal(a.cookie.len, 0);

    const char *text = GET BROWSER "Cookie:  bw=tok.123 \r\ncookie: second=2\r\n\r\n";
    bw_shield_feat b = feat(text);
    assert_true(b.has_cookie);
    assert_int_equal(b.cookie.len, strlen("bw=tok.123"));
    assert_memory_equal(b.cookie.p, "bw=tok.123", b.cookie.len);
    assert_true(b.cookie.p > text && b.cookie.p < text + strlen(text)); /* a slice, not a copy */
}

/* 0 means "no value" to sketches and rules: no attribute, binding or
 * address hash is 0, over many requests (empty headers and paths too). */
static void test_never_zero(void **state)
{
    (void)state;
    static const char *const paths[] = { "/", "/a", "/1", "/user/1/x", "/?q", "/%20", "*" };
    static const char *const methods[] = { "GET", "POST", "HEAD", "OPTIONS", "PURGE" };
    char text[512];
    for (int i = 0; i < 4000; i++) {
        const char *m = methods[i % 5];
        const char *p = paths[i % 7];
        if (p[0] == '*')
            m = "OPTIONS";
        snprintf(text, sizeof text, "%s %s HTTP/1.%d\r\nHost: h%d\r\n%sUser-Agent: %s%d\r\nAccept: %.*s\r\n\r\n",
                 m, p, i % 2, i % 13, i % 3 ? "X-A: 1\r\n" : "", i % 4 ? "b" : "", i, i % 3, "abc");
        uint8_t addr[16];
        for (int k = 0; k < 16; k++)
            addr[k] = (uint8_t)(i * 31 + k * 7);
        bw_shield_feat f = feat_at(text, i % 2 ? AF_INET : AF_INET6, addr);
        for (int a = 0; a < BW_ATTR_COUNT; a++)
            assert_true(f.attr[a] != 0);
        assert_true(f.bind != 0 && f.ip != 0);
    }
    assert_true(path_class("", "") != 0);
    uint8_t zero[16] = { 0 };
    bw_shield_feat z = feat_at("GET / HTTP/1.0\r\n\r\n", AF_INET6, zero); /* no header at all */
    for (int a = 0; a < BW_ATTR_COUNT; a++)
        assert_true(z.attr[a] != 0);
    assert_true(z.bind != 0 && z.ip != 0);
}

static void test_attr_names(void **state)
{
    (void)state;
    assert_string_equal(bw_shield_attr_name(BW_ATTR_FP), "fp");
    assert_string_equal(bw_shield_attr_name(BW_ATTR_UA), "ua");
    assert_string_equal(bw_shield_attr_name(BW_ATTR_ORDER), "order");
    assert_string_equal(bw_shield_attr_name(BW_ATTR_PATH), "path");
    assert_string_equal(bw_shield_attr_name(BW_ATTR_PREFIX), "prefix");
    assert_string_equal(bw_shield_attr_name(BW_ATTR_FP_PATH), "fp+path");
    assert_string_equal(bw_shield_attr_name(-1), "?");
    assert_string_equal(bw_shield_attr_name(BW_ATTR_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp_independent_of_address),
        cmocka_unit_test(test_ipv4_prefix),
        cmocka_unit_test(test_ipv6_prefix),
        cmocka_unit_test(test_volatile_headers_keep_fp),
        cmocka_unit_test(test_user_agent),
        cmocka_unit_test(test_accept_and_language),
        cmocka_unit_test(test_header_order),
        cmocka_unit_test(test_path_class),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_never_zero),
        cmocka_unit_test(test_attr_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
