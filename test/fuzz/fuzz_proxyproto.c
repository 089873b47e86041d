/*
 * fuzz_proxyproto.c - libFuzzer harness for bw_proxyproto_parse()
 * (src/http/proxyproto.h), the PROXY v1/v2 header an L4 balancer sends.
 *
 * Checked besides memory safety: the result is -1, 0 or a length within the
 * input and within the spec's bounds (107 bytes for v1, 16 + 4096 for v2 as
 * we cap it); a header that is not LOCAL yields two addresses of the same
 * family with matching lengths; and, as the header comment promises that a
 * partial header is checked as far as it goes, an answer other than 0 for a
 * prefix is final (same length and addresses as for the whole input).
 */
#include <netinet/in.h>

#include "fuzz.h"
#include "http/proxyproto.h"

static bool pp_addr_ok(const struct sockaddr_storage *ss, socklen_t len)
{
    if (ss->ss_family == AF_INET)
        return len == sizeof(struct sockaddr_in);
    if (ss->ss_family == AF_INET6)
        return len == sizeof(struct sockaddr_in6);
    return false;
}

static int pp_parse(const uint8_t *data, size_t len, bw_proxy_info *info)
{
    char *buf = fuzz_copy(data, len);
    int r = bw_proxyproto_parse(buf, len, info);
    free(buf);
    FUZZ_CHECK(r >= -1 && (r <= 0 || (size_t)r <= len));
    if (r > 0 && data[0] == 'P')
        FUZZ_CHECK(r <= 107 && data[r - 2] == '\r' && data[r - 1] == '\n');
    if (r > 0 && data[0] != 'P')
        FUZZ_CHECK(r >= 16 && r <= 16 + 4096);
    if (r > 0 && !info->local) {
        FUZZ_CHECK(pp_addr_ok(&info->src, info->src_len) && pp_addr_ok(&info->dst, info->dst_len));
        FUZZ_CHECK(info->src.ss_family == info->dst.ss_family);
    }
    return r;
}

int fuzz_proxyproto_one(const uint8_t *data, size_t len)
{
    bw_proxy_info whole, part;
    int r = pp_parse(data, len, &whole);
    if (len < 2)
        return 0;
    size_t cuts[2] = {fuzz_split_point(data, len), len - 1};
    for (int i = 0; i < 2; i++) {
        size_t k = cuts[i];
        int rk = pp_parse(data, k, &part);
        if (r > 0)
            FUZZ_CHECK(rk == ((size_t)r <= k ? r : 0));
        else
            FUZZ_CHECK(rk == 0 || rk == r);
        if (rk > 0)
            FUZZ_CHECK(memcmp(&part, &whole, sizeof(part)) == 0);
    }
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_proxyproto_one(data, len);
}
#endif
