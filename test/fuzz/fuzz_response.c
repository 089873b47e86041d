/*
 * fuzz_response.c - libFuzzer harness for bw_http_parse_response()
 * (src/http/parser.h): the heads bulwark reads from its origins.
 *
 * Parsed with the limits the proxy uses (src/proxy/stream.c) and with tiny
 * ones.  Checked besides memory safety: a success ends at the first CRLFCRLF
 * with every slice inside the head, a status of 100..999 and no
 * chunked-plus-Content-Length; errors are always -502; 0 only while no
 * CRLFCRLF has arrived; and an answer other than 0 for a prefix is final.
 */
#include "fuzz.h"

static const bw_http_limits resp_proxy = {0, 256, 16384};
static const bw_http_limits resp_tiny = {32, 4, 256};

static void resp_check(const char *buf, size_t len, const bw_http_limits *lim, int r,
                       const bw_http_response *resp, const bw_http_header *hdrs, size_t cap)
{
    size_t scan = 0, end = bw_http_head_end(buf, len, &scan);
    FUZZ_CHECK(r >= 0 || r == -502);
    FUZZ_CHECK(resp->headers == hdrs && resp->nheaders <= cap);
    if (r < 0) {
        FUZZ_CHECK(resp->error != NULL);
        return;
    }
    FUZZ_CHECK(resp->error == NULL);
    if (r == 0) {
        FUZZ_CHECK(len < lim->max_head_bytes && end == 0);
        return;
    }
    size_t n = (size_t)r;
    FUZZ_CHECK(n <= len && n <= lim->max_head_bytes && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(end == n);
    FUZZ_CHECK(resp->version == 10 || resp->version == 11);
    FUZZ_CHECK(resp->status >= 100 && resp->status <= 999);
    FUZZ_CHECK(fuzz_inside(resp->reason, buf, n) && fuzz_inside(resp->connection, buf, n));
    fuzz_check_fields(hdrs, resp->nheaders, buf, n);
    unsigned f = resp->flags;
    FUZZ_CHECK(!((f & BW_HTTP_F_CHUNKED) && (f & BW_HTTP_F_HAS_CL)));
    FUZZ_CHECK(!(f & BW_HTTP_F_CHUNKED) || resp->version == 11);
    FUZZ_CHECK((f & BW_HTTP_F_HAS_CL) || resp->content_length == 0);
}

static int resp_parse(const uint8_t *data, size_t len, const bw_http_limits *lim, size_t cap,
                      bw_http_response *resp)
{
    char *buf = fuzz_copy(data, len);
    bw_http_header *hdrs = malloc(cap * sizeof(*hdrs));
    FUZZ_CHECK(hdrs != NULL);
    int r = bw_http_parse_response(buf, len, lim, resp, hdrs, cap);
    resp_check(buf, len, lim, r, resp, hdrs, cap);
    free(hdrs);
    free(buf);
    return r;
}

static void resp_run(const uint8_t *data, size_t len, const bw_http_limits *lim, size_t cap)
{
    bw_http_response whole, part;
    int r = resp_parse(data, len, lim, cap, &whole);
    if (len < 2)
        return;
    size_t cuts[2] = {fuzz_split_point(data, len), len - 1};
    for (int i = 0; i < 2; i++) {
        size_t k = cuts[i];
        int rk = resp_parse(data, k, lim, cap, &part);
        if (r > 0)
            FUZZ_CHECK(rk == ((size_t)r <= k ? r : 0));
        else
            FUZZ_CHECK(rk == 0 || rk == r);
        if (rk > 0)
            FUZZ_CHECK(part.status == whole.status && part.flags == whole.flags &&
                       part.nheaders == whole.nheaders && part.content_length == whole.content_length);
    }
}

int fuzz_response_one(const uint8_t *data, size_t len)
{
    resp_run(data, len, &resp_proxy, 256);
    resp_run(data, len, &resp_tiny, 3);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_response_one(data, len);
}
#endif
