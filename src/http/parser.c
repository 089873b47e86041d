/*
 * parser.c - HTTP/1.x message heads and the chunked transfer coding.
 *
 * How it works: one forward pass over the head, driven by a 256-entry table
 * of character classes (cls[] below), with no allocation and no copies.
 * Every string handed out is a slice of the caller's buffer.  The order of
 * header names is hashed in the same loop that validates them.
 *
 * The pass runs as far as the bytes go.  If the head is not complete, the
 * parser still refuses what it has already seen (a bare LF, a bad method, a
 * request line or head over its limit) and otherwise returns 0: a client that
 * ends lines with "\n\n" is answered 400 at once instead of waiting for a
 * CRLFCRLF that never comes.
 *
 * Strictness (RFC 9112 / 9110), because a proxy that is more lenient than
 * its origin is how request smuggling works:
 *   - lines end in CRLF only; a bare LF or bare CR anywhere is refused;
 *   - no obs-fold, no whitespace between a field name and its colon;
 *   - field values: VCHAR, SP, HTAB, obs-text; any other control is refused;
 *   - request-target: visible ASCII only (0x21-0x7e).  Raw bytes >= 0x80
 *     are refused too: RFC 3986 has no place for them (clients percent-
 *     encode), and an origin that decodes them differently from us is one
 *     more way to disagree about what was asked;
 *   - exactly one Host in HTTP/1.1, not empty, made of URI authority
 *     characters only (it is routed on and copied into Forwarded);
 *   - Content-Length: 1..19 digits, no sign, no list; repeated only with
 *     the same value;
 *   - Transfer-Encoding: "chunked" must be the final and only coding of a
 *     request (others: 501); never with Content-Length; never in HTTP/1.0;
 *   - one Connection header per request (its tokens name the hop-by-hop
 *     headers we strip, and we keep one slice of it).
 * Responses come from the operator's origins and are parsed with the same
 * code, with the tolerances of docs/DECISIONS.md D4 (no reason phrase;
 * Transfer-Encoding overrides Content-Length; repeated Connection headers).
 * A response whose codings are not just "chunked" is refused all the same:
 * Transfer-Encoding is hop-by-hop and we strip it, so the client could not
 * decode the body.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "http/parser.h"

/* Character classes of cls[]. */
enum {
    C_TCHAR = 1,  /* token: field names, methods, transfer codings */
    C_VALUE = 2,  /* field value: VCHAR, SP, HTAB, obs-text */
    C_TARGET = 4, /* request-target: 0x21-0x7e */
    C_HOST = 8,   /* Host / authority: unreserved, pct, sub-delims, ':', '[', ']' */
};

/* Generated once; rows are 16 octets, first octet named on the right. */
static const uint8_t cls[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   2,   0,   0,   0,   0,   0,   0,  /* 0x00 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0x10 */
      2,  15,   6,   7,  15,  15,  15,  15,  14,  14,  15,  15,  14,  15,  15,   6,  /* 0x20 */
     15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  14,  14,   6,  14,   6,   6,  /* 0x30 */
      6,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  /* 0x40 */
     15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  14,   6,  14,   7,  15,  /* 0x50 */
      7,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  /* 0x60 */
     15,  15,  15,  15,  15,  15,  15,  15,  15,  15,  15,   6,   7,   6,  15,   0,  /* 0x70 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0x80 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0x90 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xa0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xb0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xc0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xd0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xe0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xf0 */
};
static const uint8_t hexval[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x00 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x10 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x20 */
      0,   1,   2,   3,   4,   5,   6,   7,   8,   9, 255, 255, 255, 255, 255, 255,  /* 0x30 */
    255,  10,  11,  12,  13,  14,  15, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x40 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x50 */
    255,  10,  11,  12,  13,  14,  15, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x60 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x70 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x80 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0x90 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0xa0 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0xb0 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0xc0 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0xd0 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0xe0 */
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  /* 0xf0 */
};

enum {
    DEF_MAX_LINE = 8192,
    DEF_MAX_HEADERS = 100,
    DEF_MAX_HEAD = 16384,
    NEED = 1,             /* internal: the head is not complete yet */
    CONN_CLOSE = 1,       /* tokens seen in Connection headers */
    CONN_KEEPALIVE = 2,
    CONN_UPGRADE = 4,
};

static const bw_str slash = { "/", 1 };

/* What one pass over a head collects besides the public result. */
typedef struct hp {
    const char *end;      /* buf + min(len, max_head_bytes) */
    bool at_limit;        /* end is the head limit: running out means too big */
    bool request;
    int version;
    const char *error;
    bw_http_header *hdrs;
    size_t max_hdrs;      /* min(cap, max_headers) */
    size_t n;
    uint64_t hash;
    unsigned flags;
    unsigned conn;        /* CONN_* */
    uint64_t cl;
    bw_str host, connection, upgrade;
    bool seen_host, seen_conn, seen_upgrade, seen_te;
} hp_t;

static int fail(hp_t *h, int status, const char *why)
{
    h->error = why;
    return -status;
}

static size_t limit_or(size_t v, size_t def)
{
    return v ? v : def;
}

static void hp_init(hp_t *h, const char *buf, size_t len, const bw_http_limits *lim,
                    bw_http_header *hdrs, size_t cap, bool request)
{
    size_t max_head = limit_or(lim ? lim->max_head_bytes : 0, DEF_MAX_HEAD);
    size_t max_hdrs = limit_or(lim ? lim->max_headers : 0, DEF_MAX_HEADERS);
    if (max_head > INT_MAX) /* the head length is returned as an int */
        max_head = INT_MAX;
    memset(h, 0, sizeof(*h));
    h->at_limit = len >= max_head;
    h->end = buf + (h->at_limit ? max_head : len);
    h->request = request;
    h->hdrs = hdrs;
    h->max_hdrs = max_hdrs < cap ? max_hdrs : cap;
    h->hash = BW_FNV_OFFSET;
}

/* The bytes ran out before the head did. */
static int ran_out(hp_t *h)
{
    if (h->at_limit)
        return fail(h, 431, "head too large");
    return NEED;
}

static inline unsigned char lower(unsigned char c)
{
    return (unsigned char)(c + (((unsigned)(c - 'A') < 26u) << 5));
}

/* Does the token at p (len n, known to be tchars) equal lowercase lit?  For
 * tchars, c | 0x20 only folds 'A'-'Z', so this is an exact case-insensitive
 * compare against a literal of lowercase letters and '-'. */
static inline bool name_is(const char *p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != lit[i])
            return false;
    return true;
}

static inline bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Word-at-a-time scans for the two long runs of a head: targets and field
 * values.  8 bytes are tested at once with the classic "has a byte less
 * than n" bit trick (exact for n <= 0x80); a word that may hold a stop byte
 * is finished byte by byte with the table, which has the final say.
 */
static const uint64_t ONES = 0x0101010101010101ULL;
static const uint64_t HIGHS = 0x8080808080808080ULL;

static inline uint64_t load64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint64_t has_less(uint64_t x, uint8_t n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

static inline uint64_t has_byte(uint64_t x, uint8_t b)
{
    return has_less(x ^ (ONES * b), 1);
}

/* First byte in [p, end) that is not of class c (C_VALUE or C_TARGET). */
static inline const char *skip_class(const char *p, const char *end, uint8_t c)
{
    for (;;) {
        if (c == C_VALUE) /* stop: CTLs (HTAB is a false alarm) and DEL */
            while (end - p >= 8 && !(has_less(load64(p), 0x20) | has_byte(load64(p), 0x7f)))
                p += 8;
        else /* C_TARGET; stop: CTLs, SP, DEL, >= 0x80 */
            while (end - p >= 8 &&
                   !(has_less(load64(p), 0x21) | has_byte(load64(p), 0x7f) | (load64(p) & HIGHS)))
                p += 8;
        const char *stop = end - p > 8 ? p + 8 : end;
        while (p < stop && (cls[(unsigned char)*p] & c))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

/* ---- request and status lines ---- */

/* "HTTP/d.d".  A partial version is checked as far as it goes, so that
 * "http/1.1" or "HTTP/1.1 " is refused before the head is complete. */
static int parse_version(hp_t *h, const char **pp)
{
    static const char pat[] = "HTTP/9.9";
    const char *p = *pp;
    size_t avail = (size_t)(h->end - p);
    size_t n = avail < 8 ? avail : 8;
    for (size_t i = 0; i < n; i++) {
        bool ok = pat[i] == '9' ? (p[i] >= '0' && p[i] <= '9') : p[i] == pat[i];
        if (!ok)
            return fail(h, 400, "invalid HTTP version");
    }
    if (avail < 8)
        return ran_out(h);
    if (p[5] == '1' && p[7] == '0')
        h->version = 10;
    else if (p[5] == '1') /* 1.1, or a later 1.x read as 1.1 (RFC 9110 6.2) */
        h->version = 11;
    else
        return fail(h, 505, "unsupported HTTP version");
    *pp = p + 8;
    return 0;
}

static int expect_crlf(hp_t *h, const char **pp, const char *why)
{
    const char *p = *pp;
    if (p == h->end)
        return ran_out(h);
    if (*p != '\r')
        return fail(h, 400, *p == '\n' ? "bare LF" : why);
    if (p + 1 == h->end)
        return ran_out(h);
    if (p[1] != '\n')
        return fail(h, 400, "bare CR");
    *pp = p + 2;
    return 0;
}

/* A scan of the request line stopped at lend without finding its end. */
static int line_ran_out(hp_t *h, const char *p)
{
    if (p < h->end)
        return fail(h, 414, "request line too long");
    return ran_out(h);
}

static int parse_request_line(hp_t *h, const char **pp, size_t max_line, bw_http_request *req)
{
    const char *start = *pp, *p = start;
    /* Scans stop at the line limit, so an endless line costs max_line. */
    const char *lend = (size_t)(h->end - start) > max_line ? start + max_line : h->end;

    while (p < lend && (cls[(unsigned char)*p] & C_TCHAR))
        p++;
    if (p == lend)
        return line_ran_out(h, p);
    if (*p != ' ' || p == start)
        return fail(h, 400, *p == '\n' ? "bare LF" : "invalid method");
    req->method = bw_str_make(start, (size_t)(p - start));

    const char *t = ++p;
    p = skip_class(p, lend, C_TARGET);
    if (p == lend)
        return line_ran_out(h, p);
    if (*p != ' ' || p == t)
        return fail(h, 400, *p == '\n' ? "bare LF" : "invalid request-target");
    req->target = bw_str_make(t, (size_t)(p - t));
    p++;
    if ((size_t)(p - start) + 8 > max_line)
        return fail(h, 414, "request line too long");

    int r = parse_version(h, &p);
    if (r)
        return r;
    r = expect_crlf(h, &p, "garbage after HTTP version");
    if (r)
        return r;
    *pp = p;
    return 0;
}

/* "HTTP/1.x SSS[ reason]".  A missing reason phrase (and its SP) is
 * accepted: origins do send "HTTP/1.1 200\r\n". */
static int parse_status_line(hp_t *h, const char **pp, size_t max_line, bw_http_response *resp)
{
    const char *start = *pp, *p = start;
    int r = parse_version(h, &p);
    if (r)
        return r;
    const char *lend = (size_t)(h->end - start) > max_line ? start + max_line : h->end;
    int status = 0;
    for (int i = 0; i < 5; i++, p++) {
        if (p >= lend) /* > if max_line is shorter than the version */
            return line_ran_out(h, p);
        unsigned d = (unsigned)(*p - '0');
        bool ok = i == 0 ? *p == ' ' : i == 4 ? (*p == ' ' || *p == '\r') : d <= 9 && (i > 1 || d > 0);
        if (!ok)
            return fail(h, 400, "invalid status line");
        if (i >= 1 && i <= 3)
            status = status * 10 + (int)d;
    }
    p--; /* back on the SP or CR after the code */
    const char *reason = p + (*p == ' ');
    p = reason;
    while (p < lend && (cls[(unsigned char)*p] & C_VALUE))
        p++;
    if (p >= lend)
        return line_ran_out(h, p);
    resp->status = status;
    resp->reason = bw_str_make(reason, (size_t)(p - reason));
    r = expect_crlf(h, &p, "invalid reason phrase");
    if (r)
        return r;
    *pp = p;
    return 0;
}

/* ---- request-target ---- */

static void split_query(bw_str *path, bw_str *query, const char *p, const char *e)
{
    const char *q = memchr(p, '?', (size_t)(e - p));
    if (q) {
        *path = bw_str_make(p, (size_t)(q - p));
        *query = bw_str_make(q + 1, (size_t)(e - q - 1));
    } else {
        *path = bw_str_make(p, (size_t)(e - p));
    }
}

static bool all_class(const char *p, size_t n, uint8_t c)
{
    for (size_t i = 0; i < n; i++)
        if (!(cls[(unsigned char)p[i]] & c))
            return false;
    return true;
}

/* authority-form (CONNECT only): host ":" port, port 1-5 digits. */
static bool authority_form_ok(bw_str t)
{
    const char *colon = NULL;
    for (size_t i = 0; i < t.len; i++)
        if (t.p[i] == ':')
            colon = t.p + i;
    if (!colon || colon == t.p || !all_class(t.p, t.len, C_HOST))
        return false;
    size_t plen = (size_t)(t.p + t.len - colon - 1);
    if (plen == 0 || plen > 5)
        return false;
    for (size_t i = 1; i <= plen; i++)
        if (colon[i] < '0' || colon[i] > '9')
            return false;
    return true;
}

/* absolute-form: "http://" or "https://" (scheme case-insensitive), a
 * non-empty authority without userinfo, then an optional path and query. */
static int parse_absolute_form(hp_t *h, bw_http_request *req)
{
    const char *p = req->target.p, *e = p + req->target.len;
    size_t skip;
    if (req->target.len > 7 && name_is(p, "http://", 7))
        skip = 7;
    else if (req->target.len > 8 && name_is(p, "https://", 8))
        skip = 8;
    else
        return fail(h, 400, "invalid request-target");
    const char *a = p + skip, *q = a;
    while (q < e && *q != '/' && *q != '?')
        q++;
    if (q == a || !all_class(a, (size_t)(q - a), C_HOST))
        return fail(h, 400, "invalid authority in request-target");
    req->host = bw_str_make(a, (size_t)(q - a));
    split_query(&req->path, &req->query, q, e);
    if (req->path.len == 0)
        req->path = slash;
    h->flags |= BW_HTTP_F_ABSOLUTE_FORM;
    return 0;
}

static int parse_target(hp_t *h, bw_http_request *req)
{
    bw_str t = req->target;
    bool connect = req->method_id == BW_HTTP_CONNECT;
    if (connect) {
        if (!authority_form_ok(t))
            return fail(h, 400, "CONNECT needs an authority-form target");
        return 0;
    }
    if (t.p[0] == '/') {
        split_query(&req->path, &req->query, t.p, t.p + t.len);
        return 0;
    }
    if (t.len == 1 && t.p[0] == '*') {
        if (req->method_id != BW_HTTP_OPTIONS)
            return fail(h, 400, "asterisk-form is for OPTIONS only");
        req->path = t;
        return 0;
    }
    return parse_absolute_form(h, req);
}

/* ---- header fields with a meaning for framing and routing ---- */

static int on_host(hp_t *h, bw_str v)
{
    if (h->seen_host)
        return fail(h, 400, "duplicate Host");
    h->seen_host = true;
    if (v.len == 0 || !all_class(v.p, v.len, C_HOST))
        return fail(h, 400, "invalid Host");
    h->host = v;
    return 0;
}

static int on_content_length(hp_t *h, bw_str v)
{
    /* 19 digits always fit in 64 bits, so the bound is the overflow check. */
    if (v.len == 0 || v.len > 19)
        return fail(h, 400, "invalid Content-Length");
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned)(v.p[i] - '0');
        if (d > 9)
            return fail(h, 400, "invalid Content-Length");
        n = n * 10 + d;
    }
    if ((h->flags & BW_HTTP_F_HAS_CL) && n != h->cl)
        return fail(h, 400, "conflicting Content-Length");
    h->cl = n;
    h->flags |= BW_HTTP_F_HAS_CL;
    return 0;
}

/* Next element of a comma-separated list (RFC 9110 5.6.1): empty elements
 * are skipped, OWS around an element is not part of it.  Returns false at
 * the end of the list. */
static bool next_element(const char **pp, const char *e, bw_str *el)
{
    const char *p = *pp;
    while (p < e && (is_ows(*p) || *p == ','))
        p++;
    if (p == e)
        return false;
    const char *t = p;
    while (p < e && *p != ',')
        p++;
    const char *te = p;
    while (is_ows(te[-1]))
        te--;
    *el = bw_str_make(t, (size_t)(te - t));
    *pp = p;
    return true;
}

/* Each element must be a bare token (no parameters); "chunked" must come
 * last, across all Transfer-Encoding lines, and only once.  We decode
 * nothing but chunked: any other coding is 501 (it would reach the origin
 * re-framed without its coding). */
static int on_transfer_encoding(hp_t *h, bw_str v)
{
    if (h->request && h->version == 10)
        return fail(h, 400, "Transfer-Encoding in an HTTP/1.0 request");
    const char *p = v.p, *e = v.p + v.len;
    bw_str el;
    bool any = false;
    while (next_element(&p, e, &el)) {
        if (!all_class(el.p, el.len, C_TCHAR))
            return fail(h, 400, "invalid Transfer-Encoding");
        if (h->flags & BW_HTTP_F_CHUNKED)
            return fail(h, 400, "chunked is not the final transfer coding");
        if (el.len != 7 || !name_is(el.p, "chunked", 7))
            return fail(h, 501, "unsupported transfer coding");
        h->flags |= BW_HTTP_F_CHUNKED;
        any = true;
    }
    if (!any)
        return fail(h, 400, "empty Transfer-Encoding");
    h->seen_te = true;
    return 0;
}

/* One pass over a Connection value for the three options we act on. */
static unsigned connection_tokens(bw_str v)
{
    unsigned t = 0;
    const char *p = v.p, *e = v.p + v.len;
    bw_str el;
    while (next_element(&p, e, &el)) {
        if (el.len == 5 && bw_str_ieq_lit(el, "close"))
            t |= CONN_CLOSE;
        else if (el.len == 10 && bw_str_ieq_lit(el, "keep-alive"))
            t |= CONN_KEEPALIVE;
        else if (el.len == 7 && bw_str_ieq_lit(el, "upgrade"))
            t |= CONN_UPGRADE;
    }
    return t;
}

/* Connection is a list (RFC 9110 7.6.1) and a list may come in several
 * field lines (5.3): the tokens of all of them count; the slice kept is the
 * first line's, and users that act on the names (hop-by-hop stripping) look
 * at every Connection line. */
static int on_connection(hp_t *h, bw_str v)
{
    if (!h->seen_conn)
        h->connection = v;
    h->seen_conn = true;
    h->conn |= connection_tokens(v);
    h->flags |= BW_HTTP_F_HAS_CONNECTION;
    return 0;
}

/* Only 100-continue is defined; RFC 9110 10.1.1 allows 417 for the rest.
 * An HTTP/1.0 client cannot expect 100 (RFC 9110 10.1.1): ignored there. */
static int on_expect(hp_t *h, bw_str v)
{
    if (v.len != 12 || !bw_str_ieq_lit(v, "100-continue"))
        return fail(h, 417, "unsupported expectation");
    if (h->version == 11)
        h->flags |= BW_HTTP_F_EXPECT_CONTINUE;
    return 0;
}

static int on_upgrade(hp_t *h, bw_str v)
{
    if (!h->seen_upgrade)
        h->upgrade = v;
    h->seen_upgrade = true;
    return 0;
}

/* Dispatch on the name's length first: most names match no case at all. */
static int on_field(hp_t *h, const char *n, size_t nlen, bw_str v)
{
    switch (nlen) {
    case 4:
        if (h->request && name_is(n, "host", 4))
            return on_host(h, v);
        break;
    case 6:
        if (h->request && name_is(n, "expect", 6))
            return on_expect(h, v);
        break;
    case 7:
        if (h->request && name_is(n, "upgrade", 7))
            return on_upgrade(h, v);
        break;
    case 10:
        if (name_is(n, "connection", 10))
            return on_connection(h, v);
        break;
    case 14:
        if (name_is(n, "content-length", 14))
            return on_content_length(h, v);
        break;
    case 17:
        if (name_is(n, "transfer-encoding", 17))
            return on_transfer_encoding(h, v);
        break;
    }
    return 0;
}

/* ---- the field lines ---- */

static const char *bad_name_reason(const char *name, const char *p, size_t n)
{
    if (*p == '\n')
        return "bare LF";
    if (is_ows(*p))
        return p == name ? (n ? "obs-fold" : "whitespace before the first field")
                         : "whitespace before colon";
    if (p == name && *p == ':')
        return "empty field name";
    return "invalid character in field name";
}

static const char *bad_value_reason(char c)
{
    return c == '\n' ? "bare LF" : "control character in field value";
}

/*
 * Field lines up to and including the empty line.  This loop is the hot
 * path: each byte is looked at once, names are hashed as they are checked.
 */
static int parse_fields(hp_t *h, const char **pp)
{
    const char *p = *pp, *end = h->end;
    uint64_t hash = h->hash;
    for (;;) {
        if (p == end)
            return ran_out(h);
        if (*p == '\r') {
            if (p + 1 == end)
                return ran_out(h);
            if (p[1] != '\n')
                return fail(h, 400, "bare CR");
            h->hash = hash;
            *pp = p + 2;
            return 0;
        }
        const char *name = p;
        if (h->request) {
            while (p < end && (cls[(unsigned char)*p] & C_TCHAR)) {
                hash = (hash ^ lower((unsigned char)*p)) * BW_FNV_PRIME;
                p++;
            }
            hash = (hash ^ ':') * BW_FNV_PRIME;
        } else {
            /* Responses carry no fingerprint: skip the hash. */
            while (p < end && (cls[(unsigned char)*p] & C_TCHAR))
                p++;
        }
        if (p == end)
            return ran_out(h);
        if (*p != ':' || p == name)
            return fail(h, 400, bad_name_reason(name, p, h->n));
        size_t nlen = (size_t)(p - name);

        p++;
        while (p < end && is_ows(*p))
            p++;
        const char *v = p;
        p = skip_class(p, end, C_VALUE);
        if (p == end)
            return ran_out(h);
        if (*p != '\r')
            return fail(h, 400, bad_value_reason(*p));
        if (p + 1 == end)
            return ran_out(h);
        if (p[1] != '\n')
            return fail(h, 400, "bare CR");
        const char *ve = p;
        while (ve > v && is_ows(ve[-1]))
            ve--;
        p += 2;

        if (h->n == h->max_hdrs)
            return fail(h, 431, "too many header fields");
        bw_http_header *f = &h->hdrs[h->n++];
        f->name = bw_str_make(name, nlen);
        f->value = bw_str_make(v, (size_t)(ve - v));
        int r = on_field(h, name, nlen, f->value);
        if (r)
            return r;
    }
}

/* ---- requests ---- */

static unsigned keepalive_flag(int version, unsigned conn)
{
    bool ka = version == 11 ? !(conn & CONN_CLOSE) : (conn & CONN_KEEPALIVE) && !(conn & CONN_CLOSE);
    return ka ? BW_HTTP_F_KEEPALIVE : 0;
}

/* Checks that need the whole head. */
static int finish_request(hp_t *h, bw_http_request *req)
{
    if (h->version == 11 && !h->seen_host)
        return fail(h, 400, "missing Host");
    if (h->seen_te && (h->flags & BW_HTTP_F_HAS_CL))
        return fail(h, 400, "both Content-Length and Transfer-Encoding");
    if (!(h->flags & BW_HTTP_F_ABSOLUTE_FORM))
        req->host = h->host;
    h->flags |= keepalive_flag(h->version, h->conn);
    /* Upgrade is HTTP/1.1 only; a 1.0 server ignores it (RFC 9110 7.8). */
    if (h->version == 11 && h->seen_upgrade && (h->conn & CONN_UPGRADE))
        h->flags |= BW_HTTP_F_UPGRADE;
    req->upgrade = h->upgrade;
    req->connection = h->connection;
    req->content_length = h->cl;
    return 0;
}

static int parse_request(const char *buf, const bw_http_limits *lim, hp_t *h,
                         bw_http_request *req)
{
    size_t max_line = limit_or(lim ? lim->max_request_line : 0, DEF_MAX_LINE);
    const char *p = buf;
    /* RFC 9112 2.2: ignore one empty line before the request line (some
     * clients send a CRLF after a body). */
    if (p < h->end && *p == '\r') {
        int r = expect_crlf(h, &p, "bare CR");
        if (r)
            return r;
    }
    int r = parse_request_line(h, &p, max_line, req);
    if (r)
        return r;
    req->version = h->version;
    req->method_id = bw_http_method_id(req->method);
    r = parse_target(h, req);
    if (r)
        return r;
    r = parse_fields(h, &p);
    if (r)
        return r;
    r = finish_request(h, req);
    if (r)
        return r;
    return (int)(p - buf);
}

int bw_http_parse_request(const char *buf, size_t len, const bw_http_limits *lim,
                          bw_http_request *req, bw_http_header *hdrs, size_t cap)
{
    hp_t h;
    hp_init(&h, buf, len, lim, hdrs, cap, true);
    memset(req, 0, sizeof(*req));
    req->headers = hdrs;
    int r = parse_request(buf, lim, &h, req);
    req->flags = h.flags;
    req->header_order_hash = h.hash;
    req->nheaders = h.n;
    req->error = h.error;
    return r == NEED ? 0 : r;
}

/* ---- responses ---- */

static int parse_response(const char *buf, const bw_http_limits *lim, hp_t *h,
                          bw_http_response *resp)
{
    size_t max_line = limit_or(lim ? lim->max_request_line : 0, DEF_MAX_LINE);
    const char *p = buf;
    int r = parse_status_line(h, &p, max_line, resp);
    if (r)
        return r;
    resp->version = h->version;
    r = parse_fields(h, &p);
    if (r)
        return r;
    if (h->seen_te && h->version == 10)
        return fail(h, 400, "Transfer-Encoding in an HTTP/1.0 response");
    /* RFC 9112 6.3: Transfer-Encoding overrides Content-Length.  Refused in
     * requests; a response comes from the operator's origin (D4). */
    if (h->seen_te) {
        h->flags &= ~(unsigned)BW_HTTP_F_HAS_CL;
        h->cl = 0;
    }
    h->flags |= keepalive_flag(h->version, h->conn);
    resp->connection = h->connection;
    resp->content_length = h->cl;
    return (int)(p - buf);
}

bool bw_http_header_find(const bw_http_header *headers, size_t n, bw_str name, bw_str *value)
{
    for (size_t i = 0; i < n; i++)
        if (bw_str_ieq(headers[i].name, name)) {
            *value = headers[i].value;
            return true;
        }
    return false;
}

int bw_http_parse_response(const char *buf, size_t len, const bw_http_limits *lim,
                           bw_http_response *resp, bw_http_header *hdrs, size_t cap)
{
    hp_t h;
    hp_init(&h, buf, len, lim, hdrs, cap, false);
    memset(resp, 0, sizeof(*resp));
    resp->headers = hdrs;
    int r = parse_response(buf, lim, &h, resp);
    resp->flags = h.flags;
    resp->nheaders = h.n;
    resp->error = h.error;
    if (r == NEED)
        return 0;
    return r < 0 ? -502 : r;
}

/* ---- small helpers ---- */

bw_http_method bw_http_method_id(bw_str m)
{
    const char *p = m.p;
    switch (m.len) {
    case 3:
        if (memcmp(p, "GET", 3) == 0)
            return BW_HTTP_GET;
        if (memcmp(p, "PUT", 3) == 0)
            return BW_HTTP_PUT;
        break;
    case 4:
        if (memcmp(p, "POST", 4) == 0)
            return BW_HTTP_POST;
        if (memcmp(p, "HEAD", 4) == 0)
            return BW_HTTP_HEAD;
        break;
    case 5:
        if (memcmp(p, "PATCH", 5) == 0)
            return BW_HTTP_PATCH;
        if (memcmp(p, "TRACE", 5) == 0)
            return BW_HTTP_TRACE;
        break;
    case 6:
        if (memcmp(p, "DELETE", 6) == 0)
            return BW_HTTP_DELETE;
        break;
    case 7:
        if (memcmp(p, "OPTIONS", 7) == 0)
            return BW_HTTP_OPTIONS;
        if (memcmp(p, "CONNECT", 7) == 0)
            return BW_HTTP_CONNECT;
        break;
    }
    return BW_HTTP_OTHER;
}

int bw_http_token_list_has(bw_str list, const char *tok)
{
    bw_str want = bw_str_cstr(tok), el;
    const char *p = list.p, *e = list.p + list.len;
    while (next_element(&p, e, &el))
        if (bw_str_ieq(el, want))
            return 1;
    return 0;
}

/*
 * The end of a head is the '\n' of CRLFCRLF.  We look for each '\n' (memchr
 * is vectorised) and check the three bytes before it.  Every '\n' before
 * *scan was already checked with its three predecessors in the buffer, so
 * the search resumes exactly at *scan: no byte is looked at twice.
 */
size_t bw_http_head_end(const char *buf, size_t len, size_t *scan)
{
    size_t i = *scan <= len ? *scan : 0;
    while (i < len) {
        const char *q = memchr(buf + i, '\n', len - i);
        if (!q)
            break;
        size_t at = (size_t)(q - buf);
        if (at >= 3 && q[-1] == '\r' && q[-2] == '\n' && q[-3] == '\r') {
            *scan = at; /* a repeated call finds the same end */
            return at + 1;
        }
        i = at + 1;
    }
    *scan = len;
    return 0;
}

/* ---- chunked transfer coding ---- */

/*
 * The decoder is a byte-at-a-time state machine for the framing (a few bytes
 * per chunk) and a bulk step for the data, which is returned as a slice of
 * the input and never copied.  Framing is strict like the heads: CRLF only,
 * 1-16 hex digits, no sign or "0x".  Whitespace is accepted only before a
 * ';' (BWS, RFC 9112 7.1.1), counted with the extensions.  Extension bytes
 * (not interpreted) must be field-value characters, and are bounded for the
 * whole body, not per chunk, so that many tiny chunks cannot smuggle an
 * unbounded amount of them.  Trailer lines must look like field lines.
 */
enum {
    CK_SIZE = 0,     /* hex digits of a chunk size (state after init) */
    CK_SIZE_WS,      /* BWS after the size: only ';' may follow */
    CK_EXT,          /* chunk extensions, up to CR */
    CK_SIZE_LF,      /* CR seen after the size line */
    CK_DATA,
    CK_DATA_CR,      /* CRLF after the data */
    CK_DATA_LF,
    CK_TRAILER,      /* start of a trailer line, or the final CRLF */
    CK_TRAILER_NAME,
    CK_TRAILER_VALUE,
    CK_TRAILER_LF,
    CK_END_LF,       /* CR of the final CRLF seen */
    CK_DONE,
    CK_ERROR,
};

enum {
    CK_MAX_DIGITS = 16,   /* 16 hex digits cannot overflow 64 bits */
    CK_MAX_EXT = 4096,    /* extension bytes per body */
    CK_MAX_TRAILER = 16384,
};

void bw_chunked_init(bw_chunked *d)
{
    memset(d, 0, sizeof(*d));
}

static bool ck_size(bw_chunked *d, unsigned char c)
{
    uint8_t v = hexval[c];
    if (v != 0xff) {
        if (d->digits == CK_MAX_DIGITS)
            return false;
        d->remaining = d->remaining << 4 | v;
        d->digits++;
        return true;
    }
    if (d->digits == 0)
        return false;
    if (c == '\r')
        d->state = CK_SIZE_LF;
    else if (c == ';')
        d->state = CK_EXT;
    else if (is_ows((char)c))
        d->state = CK_SIZE_WS;
    else
        return false;
    return c == '\r' || ++d->ext_len <= CK_MAX_EXT;
}

/* BWS after the size: only more whitespace or the ';' of an extension. */
static bool ck_size_ws(bw_chunked *d, unsigned char c)
{
    if (c == ';')
        d->state = CK_EXT;
    else if (!is_ows((char)c))
        return false;
    return ++d->ext_len <= CK_MAX_EXT;
}

static bool ck_ext(bw_chunked *d, unsigned char c)
{
    if (c == '\r') {
        d->state = CK_SIZE_LF;
        return true;
    }
    if (!(cls[c] & C_VALUE))
        return false;
    return ++d->ext_len <= CK_MAX_EXT;
}

static bool ck_trailer(bw_chunked *d, unsigned char c)
{
    if (++d->trailer_len > CK_MAX_TRAILER)
        return false;
    switch (d->state) {
    case CK_TRAILER:
        if (c == '\r') {
            d->state = CK_END_LF;
            return true;
        }
        d->state = CK_TRAILER_NAME;
        return (cls[c] & C_TCHAR) != 0;
    case CK_TRAILER_NAME:
        if (c == ':') {
            d->state = CK_TRAILER_VALUE;
            return true;
        }
        return (cls[c] & C_TCHAR) != 0;
    case CK_TRAILER_VALUE:
        if (c == '\r') {
            d->state = CK_TRAILER_LF;
            return true;
        }
        return (cls[c] & C_VALUE) != 0;
    default: /* CK_TRAILER_LF */
        d->state = CK_TRAILER;
        return c == '\n';
    }
}

/* One framing byte.  Returns false on a framing error. */
static bool ck_step(bw_chunked *d, unsigned char c)
{
    switch (d->state) {
    case CK_SIZE:
        return ck_size(d, c);
    case CK_SIZE_WS:
        return ck_size_ws(d, c);
    case CK_EXT:
        return ck_ext(d, c);
    case CK_SIZE_LF:
        if (c != '\n')
            return false;
        d->digits = 0;
        d->state = d->remaining ? CK_DATA : CK_TRAILER;
        return true;
    case CK_DATA_CR:
        d->state = CK_DATA_LF;
        return c == '\r';
    case CK_DATA_LF:
        d->state = CK_SIZE;
        return c == '\n';
    case CK_END_LF:
        if (c != '\n')
            return false;
        d->state = CK_DONE;
        d->done = 1;
        return true;
    case CK_TRAILER:
    case CK_TRAILER_NAME:
    case CK_TRAILER_VALUE:
    case CK_TRAILER_LF:
        return ck_trailer(d, c);
    default:
        return false;
    }
}

ssize_t bw_chunked_decode(bw_chunked *d, const char *in, size_t len, bw_str *data)
{
    size_t i = 0;
    *data = bw_str_make(in, 0);
    if (d->state == CK_ERROR)
        return -1;
    while (i < len && !d->done) {
        if (d->state == CK_DATA) {
            size_t n = len - i;
            if (n > d->remaining)
                n = (size_t)d->remaining;
            *data = bw_str_make(in + i, n);
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = CK_DATA_CR;
            return (ssize_t)(i + n);
        }
        if (!ck_step(d, (unsigned char)in[i++])) {
            d->state = CK_ERROR;
            return -1;
        }
    }
    *data = bw_str_make(in + i, 0);
    return (ssize_t)i;
}
