/*
 * test_proxyproto.c - PROXY protocol v1 and v2 headers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "http/proxyproto.h"

static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static int pp(const void *buf, size_t len, bw_proxy_info *info)
{
    return bw_proxyproto_parse((const char *)buf, len, info);
}

static void check_in4(const struct sockaddr_storage *ss, socklen_t len, const char *ip, uint16_t port)
{
    struct sockaddr_in sin;
    assert_int_equal(len, sizeof(sin));
    memcpy(&sin, ss, sizeof(sin));
    assert_int_equal(sin.sin_family, AF_INET);
    assert_int_equal(ntohs(sin.sin_port), port);
    char text[INET_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET, &sin.sin_addr, text, sizeof(text)));
    assert_string_equal(text, ip);
}

static void check_in6(const struct sockaddr_storage *ss, socklen_t len, const char *ip, uint16_t port)
{
    struct sockaddr_in6 sin6;
    assert_int_equal(len, sizeof(sin6));
    memcpy(&sin6, ss, sizeof(sin6));
    assert_int_equal(sin6.sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6.sin6_port), port);
    char text[INET6_ADDRSTRLEN];
    assert_non_null(inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text)));
    assert_string_equal(text, ip);
}

/* ---- v1 ---- */

static void test_v1_tcp4(void **state)
{
    (void)state;
    const char *hdr = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    char buf[128];
    strcpy(buf, hdr);
    strcat(buf, "GET / HTTP/1.1\r\n");
    bw_proxy_info info;
    assert_int_equal(pp(buf, strlen(buf), &info), (int)strlen(hdr));
    assert_int_equal(info.local, 0);
    check_in4(&info.src, info.src_len, "192.0.2.1", 56324);
    check_in4(&info.dst, info.dst_len, "198.51.100.2", 443);
}

static void test_v1_tcp6(void **state)
{
    (void)state;
    const char *hdr = "PROXY TCP6 2001:db8::1 2001:db8::2:ff 65535 0\r\n";
    bw_proxy_info info;
    assert_int_equal(pp(hdr, strlen(hdr), &info), (int)strlen(hdr));
    assert_int_equal(info.local, 0);
    check_in6(&info.src, info.src_len, "2001:db8::1", 65535);
    check_in6(&info.dst, info.dst_len, "2001:db8::2:ff", 0);
}

static void test_v1_unknown(void **state)
{
    (void)state;
    bw_proxy_info info;
    const char *a = "PROXY UNKNOWN\r\n";
    assert_int_equal(pp(a, strlen(a), &info), (int)strlen(a));
    assert_int_equal(info.local, 1);
    const char *b = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
    assert_int_equal(pp(b, strlen(b), &info), (int)strlen(b));
    assert_int_equal(info.local, 1);
}

static void test_v1_incomplete(void **state)
{
    (void)state;
    const char *hdr = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    bw_proxy_info info;
    for (size_t i = 0; i < strlen(hdr); i++)
        assert_int_equal(pp(hdr, i, &info), 0);
    assert_int_equal(pp(hdr, strlen(hdr), &info), (int)strlen(hdr));
}

static void test_v1_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",           /* bare LF */
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",           /* missing port */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",       /* extra field */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",        /* trailing space */
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",        /* double space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 ::2 1 2\r\n",                 /* v6 in TCP4 */
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",         /* v4 in TCP6 */
        "PROXY \r\n",
        "PROXY UNKNOWNX\r\n",
        "\x16\x03\x01",                               /* TLS */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bw_proxy_info info;
        int r = pp(bad[i], strlen(bad[i]), &info);
        if (r != -1)
            fail_msg("v1 case %zu: got %d, want -1", i, r);
    }
}

static void test_v1_too_long(void **state)
{
    (void)state;
    char buf[200];
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "PROXY UNKNOWN", 13);
    bw_proxy_info info;
    assert_int_equal(pp(buf, 106, &info), 0);
    assert_int_equal(pp(buf, 107, &info), -1);
    assert_int_equal(pp(buf, sizeof(buf), &info), -1);
    /* exactly 107 bytes with its CRLF is the longest allowed */
    buf[105] = '\r';
    buf[106] = '\n';
    assert_int_equal(pp(buf, 107, &info), 107);
}

/* ---- v2 ---- */

static size_t v2_header(unsigned char *b, unsigned char ver_cmd, unsigned char fam, const void *body,
                        size_t blen)
{
    memcpy(b, sig, 12);
    b[12] = ver_cmd;
    b[13] = fam;
    b[14] = (unsigned char)(blen >> 8);
    b[15] = (unsigned char)blen;
    memcpy(b + 16, body, blen);
    return 16 + blen;
}

static void test_v2_tcp4_tlvs(void **state)
{
    (void)state;
    unsigned char body[12 + 7 + 4] = {
        192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb,
        0x04, 0x00, 0x04, 'a', 'b', 'c', 'd', /* PP2_TYPE_NOOP, 4 bytes */
        0x05, 0x00, 0x01, 'x',               /* PP2_TYPE_UNIQUE_ID, 1 byte */
    };
    unsigned char buf[128];
    size_t n = v2_header(buf, 0x21, 0x11, body, sizeof(body));
    memcpy(buf + n, "GET", 3);
    bw_proxy_info info;
    assert_int_equal(pp(buf, n + 3, &info), (int)n);
    assert_int_equal(info.local, 0);
    check_in4(&info.src, info.src_len, "192.0.2.1", 0xdc04);
    check_in4(&info.dst, info.dst_len, "198.51.100.2", 443);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pp(buf, i, &info), 0);
    /* a TLV that overruns the header */
    body[14] = 0x09;
    n = v2_header(buf, 0x21, 0x11, body, sizeof(body));
    assert_int_equal(pp(buf, n, &info), -1);
}

static void test_v2_tcp6(void **state)
{
    (void)state;
    unsigned char body[36 + 3];
    struct in6_addr a, b;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &a), 1);
    assert_int_equal(inet_pton(AF_INET6, "fe80::2", &b), 1);
    memcpy(body, &a, 16);
    memcpy(body + 16, &b, 16);
    body[32] = 0x30;
    body[33] = 0x39; /* 12345 */
    body[34] = 0x00;
    body[35] = 0x50; /* 80 */
    body[36] = 0xee; /* empty TLV */
    body[37] = 0;
    body[38] = 0;
    unsigned char buf[128];
    size_t n = v2_header(buf, 0x21, 0x21, body, sizeof(body));
    bw_proxy_info info;
    assert_int_equal(pp(buf, n, &info), (int)n);
    assert_int_equal(info.local, 0);
    check_in6(&info.src, info.src_len, "2001:db8::1", 12345);
    check_in6(&info.dst, info.dst_len, "fe80::2", 80);
}

static void test_v2_local(void **state)
{
    (void)state;
    unsigned char buf[64];
    bw_proxy_info info;
    size_t n = v2_header(buf, 0x20, 0x00, "", 0);
    assert_int_equal(pp(buf, n, &info), 16);
    assert_int_equal(info.local, 1);
    /* LOCAL with an address block: skipped */
    unsigned char body[12] = { 0 };
    n = v2_header(buf, 0x20, 0x11, body, sizeof(body));
    assert_int_equal(pp(buf, n, &info), 28);
    assert_int_equal(info.local, 1);
    /* PROXY with AF_UNSPEC: keep the socket's addresses */
    n = v2_header(buf, 0x21, 0x00, "", 0);
    assert_int_equal(pp(buf, n, &info), 16);
    assert_int_equal(info.local, 1);
}

static void test_v2_invalid(void **state)
{
    (void)state;
    unsigned char body[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2 };
    unsigned char buf[64];
    bw_proxy_info info;

    size_t n = v2_header(buf, 0x21, 0x11, body, sizeof(body));
    buf[7] = 'q'; /* signature */
    assert_int_equal(pp(buf, n, &info), -1);
    assert_int_equal(pp(buf, 8, &info), -1); /* seen before the header is complete */

    n = v2_header(buf, 0x11, 0x11, body, sizeof(body)); /* version 1 */
    assert_int_equal(pp(buf, n, &info), -1);
    assert_int_equal(pp(buf, 13, &info), -1);
    n = v2_header(buf, 0x31, 0x11, body, sizeof(body)); /* version 3 */
    assert_int_equal(pp(buf, n, &info), -1);
    n = v2_header(buf, 0x22, 0x11, body, sizeof(body)); /* command 2 */
    assert_int_equal(pp(buf, n, &info), -1);
    n = v2_header(buf, 0x21, 0x12, body, sizeof(body)); /* UDP */
    assert_int_equal(pp(buf, n, &info), -1);
    n = v2_header(buf, 0x21, 0x41, body, sizeof(body)); /* family 4 */
    assert_int_equal(pp(buf, n, &info), -1);
    n = v2_header(buf, 0x21, 0x21, body, sizeof(body)); /* INET6 in 12 bytes */
    assert_int_equal(pp(buf, n, &info), -1);
    n = v2_header(buf, 0x21, 0x11, body, 8); /* INET in 8 bytes */
    assert_int_equal(pp(buf, n, &info), -1);

    /* a length beyond the bound is refused without waiting for it */
    n = v2_header(buf, 0x21, 0x11, body, sizeof(body));
    buf[14] = 0xff;
    buf[15] = 0xff;
    assert_int_equal(pp(buf, 16, &info), -1);
}

static void test_v2_incomplete(void **state)
{
    (void)state;
    unsigned char body[12] = { 10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x00, 0x50 };
    unsigned char buf[64];
    bw_proxy_info info;
    size_t n = v2_header(buf, 0x21, 0x11, body, sizeof(body));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pp(buf, i, &info), 0);
    assert_int_equal(pp(buf, n, &info), 28);
    check_in4(&info.src, info.src_len, "10.0.0.1", 8080);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4),
        cmocka_unit_test(test_v1_tcp6),
        cmocka_unit_test(test_v1_unknown),
        cmocka_unit_test(test_v1_incomplete),
        cmocka_unit_test(test_v1_invalid),
        cmocka_unit_test(test_v1_too_long),
        cmocka_unit_test(test_v2_tcp4_tlvs),
        cmocka_unit_test(test_v2_tcp6),
        cmocka_unit_test(test_v2_local),
        cmocka_unit_test(test_v2_invalid),
        cmocka_unit_test(test_v2_incomplete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
