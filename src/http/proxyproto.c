/*
 * proxyproto.c - PROXY protocol v1 and v2 headers (haproxy's spec,
 * "proxy-protocol.txt").
 *
 * v1 is one text line: "PROXY TCP4|TCP6 src dst sport dport\r\n" or
 * "PROXY UNKNOWN...\r\n", at most 107 bytes.  v2 is a 16-byte binary header
 * (12-byte signature, version/command, family/protocol, length) followed by
 * the addresses and optional TLVs, which we skip after checking that they
 * fit.  The first byte tells the versions apart ('P' or '\r').
 *
 * A partial header is checked as far as it goes, so that a client speaking
 * plain HTTP to a PROXY listener is refused at its first bytes instead of
 * waiting for a header that will never come.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/proxyproto.h"

enum {
    PP1_MAX = 107,       /* the spec's bound, CRLF included */
    PP2_HDR = 16,
    /* Addresses plus TLVs.  The spec allows 64 KiB; real balancers send a
     * few hundred bytes, and the client's input buffer is 16 KiB. */
    PP2_MAX_LEN = 4096,
    PP2_CMD_LOCAL = 0x0,
    PP2_CMD_PROXY = 0x1,
    PP2_AF_UNSPEC = 0x0,
    PP2_AF_INET = 0x1,
    PP2_AF_INET6 = 0x2,
    PP2_AF_UNIX = 0x3,
    PP2_STREAM = 0x1,
};

static const char pp2_sig[12] = { '\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n' };

/* Does buf[0..len) agree with the first len bytes of want[0..wlen)? */
static bool prefix_ok(const char *buf, size_t len, const char *want, size_t wlen)
{
    return memcmp(buf, want, len < wlen ? len : wlen) == 0;
}

static void set_in4(struct sockaddr_storage *ss, socklen_t *sl, const void *addr, uint16_t port_be)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = port_be;
    memcpy(&sin.sin_addr, addr, 4);
    memcpy(ss, &sin, sizeof(sin));
    *sl = sizeof(sin);
}

static void set_in6(struct sockaddr_storage *ss, socklen_t *sl, const void *addr, uint16_t port_be)
{
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = port_be;
    memcpy(&sin6.sin6_addr, addr, 16);
    memcpy(ss, &sin6, sizeof(sin6));
    *sl = sizeof(sin6);
}

/* ---- v1 ---- */

/* Next space-separated field of [*p, e) into a NUL-terminated copy. */
static bool v1_field(const char **p, const char *e, char *out, size_t cap)
{
    const char *s = *p, *q = s;
    while (q < e && *q != ' ')
        q++;
    size_t n = (size_t)(q - s);
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = q < e ? q + 1 : q;
    return true;
}

/* Decimal port 0..65535, 1-5 digits. */
static bool v1_port(const char *s, uint16_t *port_be)
{
    unsigned v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *port_be = htons((uint16_t)v);
    return true;
}

/* "TCP4 a b p q" or "TCP6 a b p q": the line after "PROXY ", CRLF excluded. */
static bool v1_addresses(const char *p, const char *e, bw_proxy_info *out)
{
    bool v6;
    if (e - p >= 5 && memcmp(p, "TCP4 ", 5) == 0)
        v6 = false;
    else if (e - p >= 5 && memcmp(p, "TCP6 ", 5) == 0)
        v6 = true;
    else
        return false;
    p += 5;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], sport[8], dport[8];
    if (!v1_field(&p, e, src, sizeof(src)) || !v1_field(&p, e, dst, sizeof(dst)) ||
        !v1_field(&p, e, sport, sizeof(sport)) || !v1_field(&p, e, dport, sizeof(dport)) || p != e ||
        e[-1] == ' ')
        return false;
    uint16_t sp, dp;
    if (!v1_port(sport, &sp) || !v1_port(dport, &dp))
        return false;
    unsigned char sa[16], da[16];
    int af = v6 ? AF_INET6 : AF_INET;
    if (inet_pton(af, src, sa) != 1 || inet_pton(af, dst, da) != 1)
        return false;
    if (v6) {
        set_in6(&out->src, &out->src_len, sa, sp);
        set_in6(&out->dst, &out->dst_len, da, dp);
    } else {
        set_in4(&out->src, &out->src_len, sa, sp);
        set_in4(&out->dst, &out->dst_len, da, dp);
    }
    return true;
}

static int parse_v1(const char *buf, size_t len, bw_proxy_info *out)
{
    if (!prefix_ok(buf, len, "PROXY ", 6))
        return -1;
    size_t n = len < PP1_MAX ? len : PP1_MAX;
    const char *lf = memchr(buf, '\n', n);
    if (!lf)
        return len >= PP1_MAX ? -1 : 0;
    size_t hlen = (size_t)(lf - buf) + 1;
    if (hlen < 8 || lf[-1] != '\r')
        return -1;
    const char *p = buf + 6, *e = lf - 1;
    /* UNKNOWN: the sender could not tell; whatever follows is ignored. */
    if (e - p >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (e - p == 7 || p[7] == ' ')) {
        out->local = 1;
        return (int)hlen;
    }
    return v1_addresses(p, e, out) ? (int)hlen : -1;
}

/* ---- v2 ---- */

/* TLVs are skipped, but each must fit in the header. */
static bool v2_tlvs_fit(const unsigned char *p, size_t len)
{
    while (len) {
        if (len < 3)
            return false;
        size_t l = (size_t)p[1] << 8 | p[2];
        if (l > len - 3)
            return false;
        p += 3 + l;
        len -= 3 + l;
    }
    return true;
}

static int parse_v2(const char *buf, size_t len, bw_proxy_info *out)
{
    if (!prefix_ok(buf, len, pp2_sig, sizeof(pp2_sig)))
        return -1;
    const unsigned char *h = (const unsigned char *)buf;
    if (len > 12 && ((h[12] >> 4) != 2 || (h[12] & 0xf) > PP2_CMD_PROXY))
        return -1;
    if (len < PP2_HDR)
        return 0;
    size_t body = (size_t)h[14] << 8 | h[15];
    if (body > PP2_MAX_LEN)
        return -1;
    if (len < PP2_HDR + body)
        return 0;
    int total = (int)(PP2_HDR + body);
    const unsigned char *a = h + PP2_HDR;
    unsigned fam = h[13] >> 4, proto = h[13] & 0xf;

    /* LOCAL: a health check from the balancer itself; the family and the
     * address block carry nothing we use. */
    if ((h[12] & 0xf) == PP2_CMD_LOCAL) {
        out->local = 1;
        return total;
    }
    /* UNSPEC and UNIX senders cannot be put in an IP peer: keep the
     * socket's addresses, as the spec says for UNSPEC. */
    if (fam == PP2_AF_UNSPEC || fam == PP2_AF_UNIX) {
        out->local = 1;
        return total;
    }
    if (proto != PP2_STREAM || (fam != PP2_AF_INET && fam != PP2_AF_INET6))
        return -1;
    size_t alen = fam == PP2_AF_INET ? 12 : 36;
    if (body < alen || !v2_tlvs_fit(a + alen, body - alen))
        return -1;
    size_t ip = fam == PP2_AF_INET ? 4 : 16;
    uint16_t sp, dp;
    memcpy(&sp, a + 2 * ip, 2); /* already in network order */
    memcpy(&dp, a + 2 * ip + 2, 2);
    if (fam == PP2_AF_INET) {
        set_in4(&out->src, &out->src_len, a, sp);
        set_in4(&out->dst, &out->dst_len, a + 4, dp);
    } else {
        set_in6(&out->src, &out->src_len, a, sp);
        set_in6(&out->dst, &out->dst_len, a + 16, dp);
    }
    return total;
}

int bw_proxyproto_parse(const char *buf, size_t len, bw_proxy_info *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 0;
    if (buf[0] == 'P')
        return parse_v1(buf, len, out);
    if (buf[0] == '\r')
        return parse_v2(buf, len, out);
    return -1;
}
