/*
 * fuzz_request.c - libFuzzer harness for bw_http_parse_request() and
 * bw_http_head_end() (src/http/parser.h).
 *
 * Each input is parsed twice: with the default limits and a 128-entry header
 * array, and with tiny limits and a 3-entry array (so the 414 / 431 paths are
 * reached by short inputs).  Checked besides memory safety:
 *   - a success ends at the first CRLFCRLF, i.e. where bw_http_head_end()
 *     says the head ends, and every slice lies inside the head;
 *   - "incomplete" (0) is only returned when there is no CRLFCRLF yet: the
 *     proxy parses as soon as bw_http_head_end() finds one, and treats 0
 *     there as an error;
 *   - the parser.h promise that an incomplete head is checked as far as it
 *     goes: any answer other than 0 for a prefix is final (the whole input
 *     gives the same one);
 *   - bw_http_head_end() resumed from a prefix's scan offset finds the same
 *     end as a fresh search;
 *   - the header-order hash is the FNV-1a of the names it describes.
 */
#include "fuzz.h"

static const bw_http_limits req_tiny = {64, 4, 256};

static bool req_status_ok(int r)
{
    return r >= 0 || r == -400 || r == -414 || r == -417 || r == -431 || r == -501 || r == -505;
}

/* Host is routed on and copied into Forwarded: URI authority bytes only. */
static bool req_host_ok(bw_str h)
{
    for (size_t i = 0; i < h.len; i++) {
        unsigned char c = (unsigned char)h.p[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"\\/?#@<>{}|^`", c))
            return false;
    }
    return true;
}

static void req_check(const char *buf, size_t len, const bw_http_limits *lim, int r,
                      const bw_http_request *req, const bw_http_header *hdrs, size_t cap)
{
    size_t max_head = lim && lim->max_head_bytes ? lim->max_head_bytes : 16384;
    size_t scan = 0, end = bw_http_head_end(buf, len, &scan);
    FUZZ_CHECK(req_status_ok(r));
    FUZZ_CHECK(req->headers == hdrs && req->nheaders <= cap);
    FUZZ_CHECK(end <= len);
    if (r < 0) {
        FUZZ_CHECK(req->error != NULL);
        return;
    }
    FUZZ_CHECK(req->error == NULL);
    if (r == 0) {
        FUZZ_CHECK(len < max_head && end == 0);
        return;
    }
    size_t n = (size_t)r;
    FUZZ_CHECK(n <= len && n <= max_head && n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(end == n);
    FUZZ_CHECK(req->version == 10 || req->version == 11);
    FUZZ_CHECK(req->method.len > 0 && fuzz_inside(req->method, buf, n));
    FUZZ_CHECK(req->method_id == bw_http_method_id(req->method));
    FUZZ_CHECK(req->target.len > 0 && fuzz_inside(req->target, buf, n));
    for (size_t i = 0; i < req->target.len; i++)
        FUZZ_CHECK(req->target.p[i] > 0x20 && req->target.p[i] < 0x7f);
    /* absolute-form without a path gets a static "/" */
    FUZZ_CHECK(fuzz_inside(req->path, buf, n) || (req->path.len == 1 && req->path.p[0] == '/'));
    FUZZ_CHECK(fuzz_inside(req->query, buf, n));
    FUZZ_CHECK(fuzz_inside(req->host, buf, n) && req_host_ok(req->host));
    FUZZ_CHECK(req->version == 10 || req->host.len > 0);
    FUZZ_CHECK(fuzz_inside(req->upgrade, buf, n) && fuzz_inside(req->connection, buf, n));
    fuzz_check_fields(hdrs, req->nheaders, buf, n);

    unsigned f = req->flags;
    FUZZ_CHECK(!((f & BW_HTTP_F_CHUNKED) && (f & BW_HTTP_F_HAS_CL))); /* smuggling */
    FUZZ_CHECK(!(f & BW_HTTP_F_CHUNKED) || req->version == 11);
    FUZZ_CHECK(!(f & BW_HTTP_F_UPGRADE) || req->version == 11);
    FUZZ_CHECK((f & BW_HTTP_F_HAS_CL) || req->content_length == 0);

    uint64_t h = BW_FNV_OFFSET;
    for (size_t i = 0; i < req->nheaders; i++) {
        h = bw_fnv1a_lower(h, hdrs[i].name.p, hdrs[i].name.len);
        h = (h ^ ':') * BW_FNV_PRIME;
    }
    FUZZ_CHECK(h == req->header_order_hash);
}

/* Parse data[0..len) from an exact heap copy, with an exact header array. */
static int req_parse(const uint8_t *data, size_t len, const bw_http_limits *lim, size_t cap,
                     bw_http_request *req)
{
    char *buf = fuzz_copy(data, len);
    bw_http_header *hdrs = malloc(cap * sizeof(*hdrs));
    FUZZ_CHECK(hdrs != NULL);
    int r = bw_http_parse_request(buf, len, lim, req, hdrs, cap);
    req_check(buf, len, lim, r, req, hdrs, cap);
    free(hdrs);
    free(buf);
    return r;
}

static void req_run(const uint8_t *data, size_t len, const bw_http_limits *lim, size_t cap)
{
    bw_http_request whole, part;
    int r = req_parse(data, len, lim, cap, &whole);
    if (len < 2)
        return;
    size_t cuts[2] = {fuzz_split_point(data, len), len - 1};
    for (int i = 0; i < 2; i++) {
        size_t k = cuts[i];
        int rk = req_parse(data, k, lim, cap, &part);
        if (r > 0)
            FUZZ_CHECK(rk == ((size_t)r <= k ? r : 0));
        else
            FUZZ_CHECK(rk == 0 || rk == r);
        if (rk > 0)
            FUZZ_CHECK(part.nheaders == whole.nheaders && part.flags == whole.flags &&
                       part.header_order_hash == whole.header_order_hash &&
                       part.content_length == whole.content_length && part.version == whole.version);
    }
}

int fuzz_request_one(const uint8_t *data, size_t len)
{
    req_run(data, len, NULL, 128);
    req_run(data, len, &req_tiny, 3);

    /* bw_http_head_end() resumed after a prefix = a fresh search */
    const char *buf = (const char *)data;
    size_t scan = 0, fresh = 0;
    bw_http_head_end(buf, fuzz_split_point(data, len), &scan);
    FUZZ_CHECK(bw_http_head_end(buf, len, &scan) == bw_http_head_end(buf, len, &fresh));
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_request_one(data, len);
}
#endif
