/*
 * routes.c - what bulwark-origin answers: the route table and its handlers.
 *
 * Every handler is called once the request head is parsed and before any
 * body byte is read, so it may look at c->req first and then stream the body
 * with bw_origin_body_read() (after which the head slices are gone).  A
 * handler that ignores the body need not drain it: origin.c does.
 *
 * The byte pattern of /bytes and /chunked is byte i = 'a' + i % 26, so a
 * test can check any slice of a download without keeping the whole of it.
 * /sink hashes with CRC-32 (the zlib/IEEE polynomial), which Python's
 * zlib.crc32 computes fast enough for 64 MiB tests.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "origin.h"

#define MAX_SLOW_MS 600000
#define MAX_CHUNK BW_ORIGIN_PIECE

/* ------------------------------------------------------------------ */
/* shared tables, built once                                           */
/* ------------------------------------------------------------------ */

static char pattern[BW_ORIGIN_PIECE + 26];
static uint32_t crc_table[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (char)('a' + i % 26);
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* CRC-32 as zlib computes it: start with crc = 0, feed pieces in order. */
static uint32_t crc32_update(uint32_t crc, const char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ (unsigned char)p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------------ */
/* a growable string for JSON and HTML bodies                          */
/* ------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_mem(sbuf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s) { sb_mem(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_mem(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string literal; bytes outside printable ASCII become \u00XX so the
 * output is valid JSON whatever the client sent. */
static void sb_json(sbuf *b, bw_str s)
{
    sb_mem(b, "\"", 1);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '"' || ch == '\\') {
            char esc[2] = { '\\', (char)ch };
            sb_mem(b, esc, 2);
        } else if (ch < 0x20 || ch >= 0x7f) {
            sb_printf(b, "\\u%04x", ch);
        } else {
            sb_mem(b, (const char *)&ch, 1);
        }
    }
    sb_mem(b, "\"", 1);
}

static void sb_html(sbuf *b, bw_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        switch (ch) {
        case '&': sb_str(b, "&amp;"); break;
        case '<': sb_str(b, "&lt;"); break;
        case '>': sb_str(b, "&gt;"); break;
        case '"': sb_str(b, "&quot;"); break;
        case '\'': sb_str(b, "&#39;"); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                sb_str(b, "?");
            else
                sb_mem(b, (const char *)&ch, 1);
        }
    }
}

/* Send b as the whole response body and free it. */
static void respond_sb(bw_origin_conn *c, int status, const char *ctype, sbuf *b)
{
    if (b->oom)
        bw_origin_respond(c, 500, "text/plain", "out of memory\n", 14);
    else
        bw_origin_respond(c, status, ctype, b->p, b->len);
    free(b->p);
}

static void respond_text(bw_origin_conn *c, int status, const char *text)
{
    bw_origin_respond(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* ------------------------------------------------------------------ */
/* handlers                                                            */
/* ------------------------------------------------------------------ */

static const char page_style[] =
    "<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#0f172a;color:#e2e8f0}"
    "main{max-width:860px;margin:40px auto;padding:0 20px}"
    "h1{font-size:2.2em;margin:.2em 0;color:#38bdf8}"
    ".lead{font-size:1.2em}.card{background:#1e293b;border-radius:10px;padding:16px 20px;margin:20px 0}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;"
    "border-bottom:1px solid #334155;vertical-align:top;word-break:break-all}"
    "th{color:#94a3b8;font-weight:600}code{color:#fbbf24}a{color:#38bdf8}</style>";

static void route_index(bw_origin_conn *c)
{
    bool proxied = bw_origin_header(c, "X-Forwarded-For").p != NULL ||
                   bw_origin_header(c, "Forwarded").p != NULL;
    sbuf b = { 0 };
    bw_str name = bw_str_cstr(bw_origin_options.name);
    sb_str(&b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
               "<title>It works - bulwark-origin</title>");
    sb_str(&b, page_style);
    sb_str(&b, "</head><body><main>\n<h1>It works</h1>\n<p class=\"lead\">");
    if (proxied)
        sb_str(&b, "It works: this page came from the origin <b>");
    else
        sb_str(&b, "It works: this page came straight from the origin <b>");
    sb_html(&b, name);
    sb_str(&b, proxied ? "</b> through bulwark.</p>\n"
                       : "</b> (no proxy in between: open it through bulwark to see the "
                         "forwarding headers).</p>\n");
    sb_printf(&b, "<p>Connection #%" PRIu64 " at the origin, request #%" PRIu64 " on it.</p>\n",
              c->serial, c->nreq);
    sb_str(&b, "<div class=\"card\"><h2>The request as the origin received it</h2>\n<p><code>");
    sb_html(&b, c->req.method);
    sb_str(&b, " ");
    sb_html(&b, c->req.target);
    sb_printf(&b, " HTTP/%d.%d</code></p>\n<table><tr><th>header</th><th>value</th></tr>\n",
              c->version / 10, c->version % 10);
    for (size_t i = 0; i < c->req.nheaders; i++) {
        sb_str(&b, "<tr><td>");
        sb_html(&b, c->req.headers[i].name);
        sb_str(&b, "</td><td>");
        sb_html(&b, c->req.headers[i].value);
        sb_str(&b, "</td></tr>\n");
    }
    sb_str(&b, "</table></div>\n<div class=\"card\"><h2>More to try</h2><p>"
               "<a href=\"/api/hello\">/api/hello</a> &middot; <a href=\"/headers\">/headers</a>"
               " &middot; <a href=\"/bytes?n=1000\">/bytes?n=1000</a> &middot; "
               "<a href=\"/chunked?n=5000&amp;size=1000\">/chunked</a> &middot; "
               "<a href=\"/slow?ms=500\">/slow?ms=500</a> &middot; "
               "<a href=\"/status/503\">/status/503</a></p></div>\n</main></body></html>\n");
    respond_sb(c, 200, "text/html; charset=utf-8", &b);
}

static void route_healthz(bw_origin_conn *c) { respond_text(c, 200, "ok"); }

static void route_hello(bw_origin_conn *c)
{
    sbuf b = { 0 };
    sb_str(&b, "{\"hello\":\"world\",\"origin\":");
    sb_json(&b, bw_str_cstr(bw_origin_options.name));
    sb_str(&b, "}\n");
    respond_sb(c, 200, "application/json", &b);
}

/* Read the whole body (into the CRC if crc is set).  Returns the byte count,
 * or -1 if the body could not be read (the connection is broken). */
static int64_t consume_body(bw_origin_conn *c, uint32_t *crc)
{
    uint64_t total = 0;
    bw_str piece;
    ssize_t r;
    while ((r = bw_origin_body_read(c, &piece)) > 0) {
        total += (uint64_t)r;
        if (crc)
            *crc = crc32_update(*crc, piece.p, piece.len);
    }
    return r < 0 ? -1 : (int64_t)total;
}

/* The stand-in for an expensive AI endpoint: it only counts the prompt. */
static void route_chat(bw_origin_conn *c)
{
    int64_t n = consume_body(c, NULL);
    if (n < 0)
        return;
    sbuf b = { 0 };
    sb_printf(&b, "{\"object\":\"chat.completion\",\"prompt_bytes\":%" PRId64 ",\"origin\":", n);
    sb_json(&b, bw_str_cstr(bw_origin_options.name));
    sb_str(&b, ",\"reply\":\"This demo endpoint does no real work.\"}\n");
    respond_sb(c, 200, "application/json", &b);
}

static void route_headers(bw_origin_conn *c)
{
    sbuf b = { 0 };
    sb_str(&b, "{\"method\":");
    sb_json(&b, c->req.method);
    sb_str(&b, ",\"target\":");
    sb_json(&b, c->req.target);
    sb_printf(&b, ",\"version\":\"HTTP/%d.%d\",\"headers\":[", c->version / 10, c->version % 10);
    for (size_t i = 0; i < c->req.nheaders; i++) {
        sb_str(&b, i ? ",[" : "[");
        sb_json(&b, c->req.headers[i].name);
        sb_str(&b, ",");
        sb_json(&b, c->req.headers[i].value);
        sb_str(&b, "]");
    }
    sb_printf(&b, "],\"conn\":%" PRIu64 ",\"req\":%" PRIu64 "}\n", c->serial, c->nreq);
    respond_sb(c, 200, "application/json", &b);
}

/* The body goes back as it arrives, framed like the request's. */
static void route_echo(bw_origin_conn *c)
{
    int64_t len = c->body_chunked ? -1 : (int64_t)c->body_left;
    if (bw_origin_begin(c, 200, "application/octet-stream", len, NULL) < 0)
        return;
    bw_str piece;
    ssize_t r;
    while ((r = bw_origin_body_read(c, &piece)) > 0)
        if (bw_origin_body(c, piece.p, piece.len) < 0 || bw_origin_flush(c) < 0)
            return;
    if (r == 0)
        bw_origin_end(c);
}

static void route_sink(bw_origin_conn *c)
{
    uint32_t crc = 0;
    int64_t n = consume_body(c, &crc);
    if (n < 0)
        return;
    char body[96];
    int k = snprintf(body, sizeof(body), "{\"bytes\":%" PRId64 ",\"crc32\":\"%08" PRIx32 "\"}\n", n,
                     crc);
    bw_origin_respond(c, 200, "application/json", body, (size_t)k);
}

/* n pattern bytes starting at pattern offset off, in pieces of at most
 * size bytes (each piece is one chunk when the response is chunked). */
static int send_pattern(bw_origin_conn *c, uint64_t n, size_t size)
{
    uint64_t off = 0;
    while (off < n) {
        size_t k = n - off < size ? (size_t)(n - off) : size;
        if (bw_origin_body(c, pattern + off % 26, k) < 0)
            return -1;
        off += k;
    }
    return bw_origin_end(c);
}

static void route_bytes(bw_origin_conn *c)
{
    uint64_t n = bw_origin_query_u64(c, "n", 1024);
    if (n > INT64_MAX)
        n = INT64_MAX;
    if (bw_origin_begin(c, 200, "application/octet-stream", (int64_t)n, NULL) == 0)
        send_pattern(c, n, BW_ORIGIN_PIECE);
}

static void route_chunked(bw_origin_conn *c)
{
    uint64_t n = bw_origin_query_u64(c, "n", 1024);
    uint64_t size = bw_origin_query_u64(c, "size", 1000);
    if (size == 0)
        size = 1000;
    if (size > MAX_CHUNK)
        size = MAX_CHUNK;
    if (bw_origin_begin(c, 200, "application/octet-stream", -1, NULL) == 0)
        send_pattern(c, n, (size_t)size);
}

static void route_slow(bw_origin_conn *c)
{
    uint64_t ms = bw_origin_query_u64(c, "ms", 1000);
    if (ms > MAX_SLOW_MS)
        ms = MAX_SLOW_MS;
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
    respond_text(c, 200, "slow");
}

/* /status/NNN: any final status from 200 to 599. */
static void route_status(bw_origin_conn *c)
{
    bw_str p = c->req.path;
    const char *d = p.p + 8; /* after "/status/" */
    if (p.len != 11 || d[0] < '2' || d[0] > '5' || d[1] < '0' || d[1] > '9' || d[2] < '0' ||
        d[2] > '9') {
        respond_text(c, 400, "expected /status/NNN with NNN from 200 to 599\n");
        return;
    }
    int status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    char body[96];
    int k = snprintf(body, sizeof(body), "%d %s\n", status, bw_origin_reason(status));
    bw_origin_respond(c, status, "text/plain; charset=utf-8", body, (size_t)k);
}

/* ------------------------------------------------------------------ */
/* the table                                                           */
/* ------------------------------------------------------------------ */

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_OTHER = 8, M_ANY = 15 };

static const struct route {
    const char *path;
    bool prefix;      /* path is a prefix (ends in '/') */
    unsigned methods; /* M_*; M_GET admits HEAD too */
    void (*fn)(bw_origin_conn *c);
} routes[] = {
    { "/", false, M_GET, route_index },
    { "/healthz", false, M_GET, route_healthz },
    { "/api/hello", false, M_GET, route_hello },
    { "/api/chat", false, M_POST, route_chat },
    { "/headers", false, M_ANY, route_headers },
    { "/echo", false, M_POST | M_PUT, route_echo },
    { "/sink", false, M_POST | M_PUT, route_sink },
    { "/bytes", false, M_GET, route_bytes },
    { "/chunked", false, M_GET, route_chunked },
    { "/slow", false, M_GET, route_slow },
    { "/status/", true, M_ANY, route_status },
    { "/ws", false, M_GET, bw_origin_ws },
};

static unsigned method_bit(bw_http_method m)
{
    switch (m) {
    case BW_HTTP_GET:
    case BW_HTTP_HEAD: return M_GET;
    case BW_HTTP_POST: return M_POST;
    case BW_HTTP_PUT: return M_PUT;
    default: return M_OTHER;
    }
}

static bool path_matches(const struct route *r, bw_str path)
{
    size_t n = strlen(r->path);
    if (r->prefix)
        return path.len >= n && memcmp(path.p, r->path, n) == 0;
    return path.len == n && memcmp(path.p, r->path, n) == 0;
}

static void respond_405(bw_origin_conn *c, unsigned methods)
{
    char allow[64];
    snprintf(allow, sizeof(allow), "Allow: %s%s%s\r\n",
             (methods & M_GET) ? "GET, HEAD" : "",
             (methods & M_POST) ? ((methods & M_GET) ? ", POST" : "POST") : "",
             (methods & M_PUT) ? ", PUT" : "");
    static const char body[] = "method not allowed\n";
    if (bw_origin_begin(c, 405, "text/plain; charset=utf-8", sizeof(body) - 1, allow) == 0 &&
        bw_origin_body(c, body, sizeof(body) - 1) == 0)
        bw_origin_end(c);
}

void bw_origin_route(bw_origin_conn *c)
{
    pthread_once(&tables_once, tables_init);
    unsigned bit = method_bit(c->req.method_id);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (!path_matches(r, c->req.path))
            continue;
        if (r->methods & bit)
            r->fn(c);
        else
            respond_405(c, r->methods);
        return;
    }
    respond_text(c, 404, "not found\n");
}
