/*
 * stream.c - one request/response exchange between a client and an origin.
 *
 * bw_stream_start() turns a parsed request head into the head bulwark sends
 * to the origin (hop-by-hop headers removed, X-Forwarded-For, Forwarded,
 * X-Forwarded-Proto and X-Request-Id set), picks an origin connection and
 * sets up the request body pipe.  bw_stream_run() then moves bytes in both
 * directions until nothing more can be done without waiting for a socket;
 * every event on either socket calls it again (through bw_conn_run).  It is
 * written as "do everything possible, then arm the right timer", so the
 * order in which events arrive does not matter.
 *
 * Errors before the response head reached the client become a local
 * response (branded 502/504 page, 400...); after that the only honest thing
 * left is to close the client connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "proxy/proxy.h"
#include "shield/pow.h"
#include "shield/shield.h"

static const struct {
    int status;
    const char *reason;
} reason_phrases[] = {
    { 100, "Continue" },          { 101, "Switching Protocols" },
    { 200, "OK" },                { 303, "See Other" },
    { 307, "Temporary Redirect" }, { 400, "Bad Request" },
    { 403, "Forbidden" },         { 404, "Not Found" },
    { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
    { 413, "Content Too Large" }, { 414, "URI Too Long" },
    { 417, "Expectation Failed" }, { 421, "Misdirected Request" },
    { 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" }, { 501, "Not Implemented" },
    { 502, "Bad Gateway" },       { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },   { 505, "HTTP Version Not Supported" },
};

const char *bw_http_reason(int status)
{
    for (size_t i = 0; i < sizeof(reason_phrases) / sizeof(reason_phrases[0]); i++)
        if (reason_phrases[i].status == status)
            return reason_phrases[i].reason;
    return "Error";
}

/* ---- small appenders (the caller made sure the buffer holds a block) ---- */

typedef struct out {
    bw_buf *b;
    bool overflow;
} out_t;

static void out_mem(out_t *o, const char *p, size_t n)
{
    if (o->overflow || bw_buf_room(o->b) < n) {
        o->overflow = true;
        return;
    }
    bw_buf_append(o->b, p, n);
}

static void out_str(out_t *o, bw_str s) { out_mem(o, s.p, s.len); }
static void out_lit(out_t *o, const char *s) { out_mem(o, s, strlen(s)); }

static void out_u64(out_t *o, uint64_t v)
{
    char tmp[BW_U64_DEC_MAX];
    out_mem(o, tmp, bw_u64_dec(v, tmp));
}

static void out_header(out_t *o, bw_str name, bw_str value)
{
    out_str(o, name);
    out_mem(o, ": ", 2);
    out_str(o, value);
    out_mem(o, "\r\n", 2);
}

/* Kept header lines are copied as received, a run of consecutive lines at
 * a time: the parser validated them (CRLF-terminated, no obs-fold), and
 * one memcpy per run is far cheaper than rebuilding every line. */
typedef struct hdr_run {
    const char *start, *end;
} hdr_run;

static const char *header_line_end(const bw_http_header *h)
{
    const char *e = h->value.p + h->value.len;
    while (*e != '\n')
        e++;
    return e + 1;
}

static void run_flush(out_t *o, hdr_run *r)
{
    if (r->start)
        out_mem(o, r->start, (size_t)(r->end - r->start));
    r->start = r->end = NULL;
}

static void run_add(out_t *o, hdr_run *r, const bw_http_header *h)
{
    if (r->end != h->name.p) {
        run_flush(o, r);
        r->start = h->name.p;
    }
    r->end = header_line_end(h);
}

/* ---- header filtering ---- */

/* Is `name` one of the tokens of a Connection header value? */
static bool connection_lists_one(bw_str list, bw_str name)
{
    const char *p = list.p, *end = list.p + list.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *t = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p > t && bw_str_ieq(bw_str_make(t, (size_t)(p - t)), name))
            return true;
    }
    return false;
}

/* Does any Connection field line of the message name `name`?  (A list may
 * come in several lines, RFC 9110 5.3; only called when one is present.) */
static bool connection_lists(const bw_http_header *hdrs, size_t n, bw_str name)
{
    for (size_t i = 0; i < n; i++)
        if (hdrs[i].name.len == 10 && bw_str_ieq_lit(hdrs[i].name, "connection") &&
            connection_lists_one(hdrs[i].value, name))
            return true;
    return false;
}

/* Headers bulwark never forwards as received: hop-by-hop ones (RFC 9110
 * 7.6.1), framing it re-creates, and the ones it sets itself. */
static bool request_header_dropped(bw_str n)
{
    switch (n.len) {
    case 2: return bw_str_ieq_lit(n, "te");
    case 4: return bw_str_ieq_lit(n, "host");
    case 6: return bw_str_ieq_lit(n, "expect");
    case 7: return bw_str_ieq_lit(n, "upgrade") || bw_str_ieq_lit(n, "trailer");
    case 9: return bw_str_ieq_lit(n, "forwarded");
    case 10: return bw_str_ieq_lit(n, "connection") || bw_str_ieq_lit(n, "keep-alive");
    case 12: return bw_str_ieq_lit(n, "x-request-id");
    case 14: return bw_str_ieq_lit(n, "content-length");
    case 15: return bw_str_ieq_lit(n, "x-forwarded-for");
    case 16: return bw_str_ieq_lit(n, "proxy-connection");
    case 17: return bw_str_ieq_lit(n, "x-forwarded-proto") || bw_str_ieq_lit(n, "transfer-encoding");
    default: return false;
    }
}

static bool response_header_dropped(bw_str n, bool upgrade)
{
    switch (n.len) {
    case 2: return bw_str_ieq_lit(n, "te");
    case 7: return (!upgrade && bw_str_ieq_lit(n, "upgrade")) || bw_str_ieq_lit(n, "trailer");
    case 10: return bw_str_ieq_lit(n, "connection") || bw_str_ieq_lit(n, "keep-alive");
    case 12: return bw_str_ieq_lit(n, "x-request-id");
    case 16: return bw_str_ieq_lit(n, "proxy-connection");
    case 17: return bw_str_ieq_lit(n, "transfer-encoding");
    default: return false;
    }
}

/* ---- request id ---- */

static bool request_id_valid(bw_str v)
{
    if (v.len == 0 || v.len > BW_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}


static void request_id_set(bw_stream *s, const bw_http_request *req)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name.len == 12 && bw_str_ieq_lit(req->headers[i].name, "x-request-id") &&
            request_id_valid(req->headers[i].value)) {
            memcpy(s->request_id, req->headers[i].value.p, req->headers[i].value.len);
            s->request_id_len = (uint8_t)req->headers[i].value.len;
            return;
        }
    }
    bw_worker *w = s->c->w;
    uint64_t v = bw_mix64(w->rid_seed + ++w->rid_counter);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        s->request_id[i] = hex[(v >> (60 - 4 * i)) & 15];
    s->request_id_len = 16;
}

/* ---- the head sent to the origin ---- */

static bool build_upstream_head(bw_stream *s, const bw_http_request *req, bw_buf *dst)
{
    out_t o = { dst, false };
    bw_worker *w = s->c->w;
    size_t iplen = bw_ipaddr_text(&s->c->peer, w->scratch_ip, sizeof(w->scratch_ip));
    bw_str ip = bw_str_make(w->scratch_ip, iplen);

    out_str(&o, req->method);
    out_mem(&o, " ", 1);
    if (req->flags & BW_HTTP_F_ABSOLUTE_FORM) {
        out_str(&o, req->path.len ? req->path : BW_STR_LIT("/"));
        if (req->query.len) {
            out_mem(&o, "?", 1);
            out_str(&o, req->query);
        }
    } else {
        out_str(&o, req->target);
    }
    out_lit(&o, " HTTP/1.1\r\n");

    bw_str host = req->host.len ? req->host : bw_str_cstr(s->site->name);
    out_header(&o, BW_STR_LIT("Host"), host);

    bool listed = (req->flags & BW_HTTP_F_HAS_CONNECTION) && req->connection.len;
    hdr_run run = { NULL, NULL };
    for (size_t i = 0; i < req->nheaders; i++) {
        const bw_http_header *h = &req->headers[i];
        if (request_header_dropped(h->name) ||
            (listed && connection_lists(req->headers, req->nheaders, h->name)))
            continue;
        run_add(&o, &run, h);
    }
    run_flush(&o, &run);
    if (s->upgrade) {
        out_lit(&o, "Connection: Upgrade\r\n");
        out_header(&o, BW_STR_LIT("Upgrade"), req->upgrade);
    }
    if (s->req.mode == BW_BODY_LEN) {
        out_lit(&o, "Content-Length: ");
        out_u64(&o, req->content_length);
        out_mem(&o, "\r\n", 2);
    } else if (s->req.mode == BW_BODY_CHUNKED_REFRAME) {
        out_lit(&o, "Transfer-Encoding: chunked\r\n");
    }
    out_header(&o, BW_STR_LIT("X-Forwarded-For"), ip);
    out_lit(&o, "X-Forwarded-Proto: http\r\nForwarded: for=");
    if (s->c->peer.family == AF_INET6) {
        out_lit(&o, "\"[");
        out_str(&o, ip);
        out_lit(&o, "]\"");
    } else {
        out_str(&o, ip);
    }
    /* RFC 7239: a token unless it holds a port or an IPv6 literal. The
     * parser admits only authority characters in Host, so no escaping. */
    bool quote = memchr(host.p, ':', host.len) != NULL;
    out_lit(&o, quote ? ";proto=http;host=\"" : ";proto=http;host=");
    out_str(&o, host);
    out_lit(&o, quote ? "\"\r\nX-Request-Id: " : "\r\nX-Request-Id: ");
    out_mem(&o, s->request_id, s->request_id_len);
    out_lit(&o, "\r\n\r\n");
    return !o.overflow;
}

/* ---- the head sent to the client ---- */

static void add_response_trailer_headers(bw_stream *s, out_t *o)
{
    if (!s->keepalive)
        out_lit(o, "Connection: close\r\n");
    else if (s->version == 10)
        out_lit(o, "Connection: keep-alive\r\n");
    out_lit(o, "X-Request-Id: ");
    out_mem(o, s->request_id, s->request_id_len);
    out_lit(o, "\r\n\r\n");
}

static bool build_client_head(bw_stream *s, const bw_http_response *resp, bool tunnel)
{
    out_t o = { &s->c->out, false };
    /* The parser guarantees a 3-digit status. */
    char line[13] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + resp->status / 100);
    line[10] = (char)('0' + resp->status / 10 % 10);
    line[11] = (char)('0' + resp->status % 10);
    out_mem(&o, line, sizeof(line));
    out_str(&o, resp->reason);
    out_mem(&o, "\r\n", 2);
    bool listed = (resp->flags & BW_HTTP_F_HAS_CONNECTION) && resp->connection.len;
    hdr_run run = { NULL, NULL };
    for (size_t i = 0; i < resp->nheaders; i++) {
        const bw_http_header *h = &resp->headers[i];
        if (response_header_dropped(h->name, tunnel) ||
            (listed && connection_lists(resp->headers, resp->nheaders, h->name) &&
             !(tunnel && bw_str_ieq_lit(h->name, "upgrade"))))
            continue;
        run_add(&o, &run, h);
    }
    run_flush(&o, &run);
    if (tunnel) {
        out_lit(&o, "Connection: Upgrade\r\nX-Request-Id: ");
        out_mem(&o, s->request_id, s->request_id_len);
        out_lit(&o, "\r\n\r\n");
        return !o.overflow;
    }
    if (s->resp.mode == BW_BODY_CHUNKED_RAW)
        out_lit(&o, "Transfer-Encoding: chunked\r\n");
    add_response_trailer_headers(s, &o);
    return !o.overflow;
}

/* ---- local responses ---- */

void bw_stream_local_response(bw_stream *s, int status, const char *body, size_t body_len,
                              const char *ctype)
{
    bw_stream_local_response_ex(s, status, NULL, 0, body, body_len, ctype);
}

/* The same with extra header lines (each ending in CRLF). */
void bw_stream_local_response_ex(bw_stream *s, int status, const char *extra, size_t extra_len,
                                 const char *body, size_t body_len, const char *ctype)
{
    bw_conn *c = s->c;
    if (s->u) {
        bw_upstream_release(s->u, false);
        s->u = NULL;
    }
    bw_buf_put(&c->w->pool, &s->reqout);
    /* The rest of a request body we did not read would be taken for the
     * next request: such a connection can only be closed afterwards. */
    if (!s->req.complete || s->req.ready || (c->in.data && s->req.mode != BW_BODY_NONE))
        s->keepalive = false;
    if (status >= 500 && status != 502 && status != 503 && status != 504)
        s->keepalive = false;
    if (!bw_buf_get(&c->w->pool, &c->out)) {
        bw_conn_close(c);
        return;
    }
    out_t o = { &c->out, false };
    char line[64];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %03d %s\r\n", status, bw_http_reason(status));
    out_mem(&o, line, (size_t)n);
    out_lit(&o, "Content-Type: ");
    out_lit(&o, ctype);
    out_lit(&o, "\r\nContent-Length: ");
    out_u64(&o, body_len);
    out_lit(&o, "\r\nCache-Control: no-store\r\n");
    if (status == 503)
        out_lit(&o, "Retry-After: 5\r\n"); /* overload is temporary: come back soon */
    if (extra_len)
        out_mem(&o, extra, extra_len);
    add_response_trailer_headers(s, &o);
    if (s->method_id != BW_HTTP_HEAD)
        out_mem(&o, body, body_len);
    if (o.overflow) {
        bw_conn_close(c);
        return;
    }
    s->status = status;
    s->local = true;
    s->resp_head_parsed = true;
    s->head_sent = true;
    bw_pipe_init(&s->resp, BW_BODY_NONE, 0);
}

static void local_error_page(bw_stream *s, int status);

/* Join the site's queue, or answer 503 if max_queue are waiting already.
 * true if queued. */
static bool enqueue_or_503(bw_stream *s)
{
    if (bw_upstream_enqueue(s) == 0)
        return true;
    bw_counter_add(&s->c->w->stats->origin_queue_full, 1);
    local_error_page(s, 503);
    return false;
}

/* Every origin of the site is at its max_conns: wait in the site's queue
 * (the client timer becomes the queue timer), or get 503 if it is full. */
static void stream_wait(bw_stream *s)
{
    bw_worker *w = s->c->w;
    if (!enqueue_or_503(s))
        return;
    bw_counter_add(&w->stats->origin_queued, 1);
    bw_timer_arm(&w->loop, &s->c->timer, s->site->pool.queue_timeout_ms);
}

void bw_stream_queue_timeout(bw_stream *s)
{
    bw_upstream_dequeue(s);
    bw_counter_add(&s->c->w->stats->origin_queue_timeouts, 1);
    local_error_page(s, 503);
    bw_conn_run(s->c);
}

/* A slot freed up for a queued stream (see kick_queue): take it.  If a
 * newcomer was quicker, wait again (the queue timer keeps running).
 * false if the stream is done with for now. */
static bool stream_resume(bw_stream *s)
{
    s->resume = false;
    if (bw_upstream_full(s))
        return !enqueue_or_503(s);
    if (!bw_upstream_acquire(s))
        local_error_page(s, 502);
    return true;
}

static void local_error_page(bw_stream *s, int status)
{
    const bw_site_conf *site = s->site;
    if (site && status == 502)
        bw_stream_local_response(s, status, site->page_502, site->page_502_len, "text/html; charset=utf-8");
    else if (site && status == 504)
        bw_stream_local_response(s, status, site->page_504, site->page_504_len, "text/html; charset=utf-8");
    else if (site && status == 503)
        bw_stream_local_response(s, status, site->page_503, site->page_503_len, "text/html; charset=utf-8");
    else {
        char body[96];
        int n = snprintf(body, sizeof(body), "%d %s\n", status, bw_http_reason(status));
        bw_stream_local_response(s, status, body, (size_t)n, "text/plain; charset=utf-8");
    }
}

/* ---- life cycle ---- */

static bw_stream *stream_alloc(bw_worker *w)
{
    bw_stream *s = w->free_streams;
    if (s)
        w->free_streams = s->next_free;
    else if (!(s = malloc(sizeof(*s))))
        return NULL;
    memset(s, 0, offsetof(bw_stream, request_id));
    s->request_id_len = 0;
    s->path_len = 0;
    s->method[0] = '\0';
    return s;
}

static void stream_free(bw_worker *w, bw_stream *s)
{
    s->next_free = w->free_streams;
    w->free_streams = s;
}

static void copy_for_log(bw_stream *s, const bw_http_request *req)
{
    size_t m = req->method.len < sizeof(s->method) - 1 ? req->method.len : sizeof(s->method) - 1;
    memcpy(s->method, req->method.p, m);
    s->method[m] = '\0';
    size_t p = req->target.len < sizeof(s->path) ? req->target.len : sizeof(s->path);
    memcpy(s->path, req->target.p, p);
    s->path_len = (uint16_t)p;
}

static void stream_account(bw_stream *s)
{
    bw_worker *w = s->c->w;
    unsigned slot = s->site ? s->site->stats_slot : BW_STATS_MAX_SITES - 1;
    s->bytes_out = s->resp.moved;
    bw_stats_request_done(w->stats, slot, s->status ? s->status : 499, s->bytes_in, s->bytes_out,
                          s->upstream_us);
    if (s->site && !s->mitigated)
        bw_shield_account_clean(w->shield, s->site, s->bytes_in, s->bytes_out);
    if (!w->alog)
        return;
    size_t iplen = bw_ipaddr_text(&s->c->peer, w->scratch_ip, sizeof(w->scratch_ip));
    (void)iplen;
    bw_alog_entry e = {
        .client = w->scratch_ip,
        .site = s->site ? s->site->name : "-",
        .method = bw_str_cstr(s->method),
        .path = bw_str_make(s->path, s->path_len),
        .status = s->status ? s->status : 499,
        .bytes_in = s->bytes_in,
        .bytes_out = s->bytes_out,
        .dur_us = w->loop.now_us - s->start_us,
        .upstream = s->server ? s->server->addr.text : NULL,
        .upstream_us = s->upstream_us,
        .request_id = bw_str_make(s->request_id, s->request_id_len),
    };
    bw_alog_write(w->alog, &e, w->loop.now_ms);
}

/* The exchange is over and everything was sent: recycle the stream, keep
 * or close the client connection. */
static void stream_finish(bw_stream *s)
{
    bw_conn *c = s->c;
    bw_worker *w = c->w;
    if (s->u) {
        bw_upconn *u = s->u;
        bool reusable = s->upstream_reusable && s->req.complete && s->req.ready == 0 &&
                        s->resp.complete && !u->eof && (!u->in.data || bw_buf_empty(&u->in));
        bw_upstream_release(u, reusable);
        s->u = NULL;
    }
    stream_account(s);
    bw_buf_put(&w->pool, &s->reqout);
    bool keep = s->keepalive && s->req.complete && s->req.ready == 0 && !w->draining && !c->peer_eof;
    c->stream = NULL;
    stream_free(w, s);
    if (!keep) {
        bw_conn_close(c);
        return;
    }
    c->state = BW_CONN_HEAD;
    c->nrequests++;
    c->head_scan = 0;
    c->head_checked = 0;
    c->head_timer = false;
    bw_timer_arm(&w->loop, &c->timer, w->conf->client_keepalive_ms);
    if (c->out.data)
        bw_buf_put(&w->pool, &c->out);
    if (c->in.data && bw_buf_empty(&c->in))
        bw_buf_put(&w->pool, &c->in);
}

void bw_stream_abort(bw_stream *s)
{
    bw_conn *c = s->c;
    if (s->u) {
        bw_upstream_release(s->u, false);
        s->u = NULL;
    }
    s->keepalive = false;
    bw_conn_close(c); /* accounts and frees the stream through bw_conn_close */
}

/* Called by bw_conn_close when the connection dies with a stream. */
void bw_stream_discard(bw_stream *s)
{
    bw_upstream_dequeue(s);
    if (s->u) {
        bw_upstream_release(s->u, false);
        s->u = NULL;
    }
    stream_account(s);
    bw_buf_put(&s->c->w->pool, &s->reqout);
    stream_free(s->c->w, s);
}

static bool try_next_server(bw_stream *s)
{
    const bw_pool_conf *pool = &s->site->pool;
    if (s->body_touched || s->tries > pool->retries || s->tries >= pool->nservers)
        return false;
    return bw_upstream_acquire(s) != NULL;
}

void bw_stream_upstream_failed(bw_stream *s, int status, const char *why)
{
    bw_worker *w = s->c->w;
    bw_server_conf *srv = s->server;
    bool connect_failure = s->u && s->u->state == BW_UP_CONNECTING;
    bw_log(BW_LOG_WARN, "origin %s for site %s: %s (request %.*s)", srv ? srv->addr.text : "-",
           s->site ? s->site->name : "-", why, (int)s->request_id_len, s->request_id);
    if (s->site)
        bw_counter_add(&w->stats->sites[s->site->stats_slot].upstream_errors, 1);
    if (s->site)
        bw_upstream_outcome(s, true);
    if (s->u) {
        bw_upstream_release(s->u, false);
        s->u = NULL;
    }
    if (connect_failure && srv) {
        atomic_store_explicit(&srv->down_until_ms, w->loop.now_ms + s->site->pool.fail_timeout_ms,
                              memory_order_relaxed);
        if (try_next_server(s))
            return;
    }
    if (s->head_sent) {
        bw_stream_abort(s);
        return;
    }
    local_error_page(s, status);
}

/* ---- the shield's answers ---- */

static void append(char *buf, size_t cap, size_t *len, const char *a, size_t n)
{
    if (*len + n < cap) {
        memcpy(buf + *len, a, n);
        *len += n;
    }
}

/* Location and Set-Cookie header lines of a challenge answer. */
static size_t challenge_headers(const bw_shield_result *r, const char *kind, char *buf, size_t cap)
{
    size_t n = 0;
    append(buf, cap, &n, "X-Bulwark-Challenge: ", 21);
    append(buf, cap, &n, kind, strlen(kind));
    append(buf, cap, &n, "\r\n", 2);
    if (r->location_len) {
        append(buf, cap, &n, "Location: ", 10);
        append(buf, cap, &n, r->location, r->location_len);
        append(buf, cap, &n, "\r\n", 2);
    }
    if (r->cookie_len) {
        append(buf, cap, &n, "Set-Cookie: ", 12);
        append(buf, cap, &n, r->cookie, r->cookie_len);
        append(buf, cap, &n, "\r\n", 2);
    }
    return n;
}

static const char blocked_body[] = "403 Forbidden: blocked by the site's protection (bulwark)\n";
static const char limited_body[] = "429 Too Many Requests: slow down\n";
static const char busy_body[] = "503 Service Unavailable: the site is very busy right now; "
                                "please try again in a few seconds\n";
static const char cookie_body[] =
    "<!doctype html><title>One moment</title><p>Checking your browser. If this page does not go "
    "on by itself, make sure cookies are enabled and <a href=\"/\">reload</a>.</p>\n";

/* The request body bytes that came with its head (for a login attempt's
 * account name; the head is consumed by then): none for a chunked body. */
static bw_str body_with_head(const bw_conn *c, const bw_http_request *req)
{
    uint32_t len = c->in.data ? bw_buf_len(&c->in) : 0;
    if (!(req->flags & BW_HTTP_F_HAS_CL) || len == 0)
        return BW_STR_NULL;
    uint64_t n = len < req->content_length ? len : req->content_length;
    return bw_str_make((const char *)bw_buf_head(&c->in), (size_t)n);
}

/* Ask the shield about this request.  true if it answered itself (block,
 * challenge, rate limit...): no origin work at all. */
static bool shield_answered(bw_stream *s, const bw_http_request *req)
{
    bw_conn *c = s->c;
    bw_worker *w = c->w;
    bw_shield_result r;
    bw_shield_gate gate = c->reserve        ? BW_GATE_RESERVE
                          : w->ovl.level >= 2 ? BW_GATE_SHED
                          : w->ovl.level == 1 ? BW_GATE_CHALLENGE
                                              : BW_GATE_OPEN;
    bw_shield_verdict v = bw_shield_check(w->shield, s->conf, s->site, req, body_with_head(c, req),
                                          c->peer.family, c->peer.a, w->loop.now_ms, gate, &r);
    s->login = r.login;
    if (r.cleared) {
        c->cleared = true;
        c->reserve = false; /* it has shown its token: an ordinary connection now */
    }
    if (v == BW_SHIELD_PASS)
        return false;
    s->mitigated = true;
    char hdr[768];
    size_t hlen;
    switch (v) {
    case BW_SHIELD_BLOCK:
        bw_stream_local_response(s, 403, blocked_body, sizeof blocked_body - 1, "text/plain; charset=utf-8");
        break;
    case BW_SHIELD_LIMIT:
        hlen = (size_t)snprintf(hdr, sizeof hdr, "Retry-After: %u\r\n", r.retry_after_s);
        bw_stream_local_response_ex(s, 429, hdr, hlen, limited_body, sizeof limited_body - 1,
                                    "text/plain; charset=utf-8");
        break;
    case BW_SHIELD_UNAVAILABLE: /* shedding load: the connection goes too */
        s->keepalive = false;
        hlen = (size_t)snprintf(hdr, sizeof hdr, "Retry-After: %u\r\n", r.retry_after_s);
        bw_stream_local_response_ex(s, 503, hdr, hlen, busy_body, sizeof busy_body - 1,
                                    "text/plain; charset=utf-8");
        break;
    case BW_SHIELD_CHALLENGE:
        hlen = challenge_headers(&r, "cookie", hdr, sizeof hdr);
        bw_stream_local_response_ex(s, 307, hdr, hlen, cookie_body, sizeof cookie_body - 1,
                                    "text/html; charset=utf-8");
        break;
    case BW_SHIELD_POW_PASSED:
        hlen = challenge_headers(&r, "passed", hdr, sizeof hdr);
        bw_stream_local_response_ex(s, 303, hdr, hlen, "", 0, "text/plain; charset=utf-8");
        break;
    case BW_SHIELD_POW: {
        char page[BW_POW_PAGE_MAX];
        size_t plen = bw_shield_pow_page(s->conf, s->site, req, &r, page, sizeof page);
        r.location_len = r.cookie_len = 0;
        hlen = challenge_headers(&r, "pow", hdr, sizeof hdr);
        bw_stream_local_response_ex(s, 403, hdr, hlen, page, plen, "text/html; charset=utf-8");
        break;
    }
    default: /* tarpit: no answer at all; the bot learns nothing and waits for its timeout */
        s->status = 444; /* counted like nginx's "no response" */
        s->local = true;
        bw_conn_tarpit(c);
        break;
    }
    return true;
}

void bw_stream_start(bw_conn *c, const bw_http_request *req, uint32_t head_len)
{
    bw_worker *w = c->w;
    bw_stream *s = stream_alloc(w);
    if (!s) {
        bw_conn_close(c);
        return;
    }
    s->c = c;
    c->stream = s;
    c->state = BW_CONN_STREAM;
    s->conf = w->conf;
    s->start_us = w->loop.now_us;
    s->method_id = (uint8_t)req->method_id;
    s->version = (uint8_t)req->version;
    s->keepalive = (req->flags & BW_HTTP_F_KEEPALIVE) && !w->draining;
    s->upgrade = (req->flags & BW_HTTP_F_UPGRADE) != 0;
    s->idempotent = req->method_id == BW_HTTP_GET || req->method_id == BW_HTTP_HEAD ||
                    req->method_id == BW_HTTP_OPTIONS || req->method_id == BW_HTTP_PUT ||
                    req->method_id == BW_HTTP_DELETE || req->method_id == BW_HTTP_TRACE;
    s->bytes_in = head_len;
    copy_for_log(s, req);
    request_id_set(s, req);
    s->site = bw_conf_find_site(s->conf, req->host);
    bw_counter_add(&w->stats->requests, 1);

    int mode = BW_BODY_NONE;
    if (req->flags & BW_HTTP_F_CHUNKED)
        mode = BW_BODY_CHUNKED_REFRAME;
    else if ((req->flags & BW_HTTP_F_HAS_CL) && req->content_length > 0)
        mode = BW_BODY_LEN;
    bw_pipe_init(&s->req, mode, req->content_length);

    /* The head has been parsed into slices: build what the origin gets
     * before the input buffer is consumed. */
    bw_buf_consume(&c->in, head_len);
    bw_timer_cancel(&c->timer);
    c->head_timer = false;

    if (!s->site) {
        local_error_page(s, 421);
        return;
    }
    if (req->method_id == BW_HTTP_CONNECT) {
        local_error_page(s, 405);
        return;
    }
    if (s->conf->max_body_bytes && (req->flags & BW_HTTP_F_HAS_CL) &&
        req->content_length > s->conf->max_body_bytes) {
        local_error_page(s, 413);
        return;
    }
    if (shield_answered(s, req))
        return;
    if (!bw_buf_get(&w->pool, &s->reqout)) {
        bw_conn_close(c);
        return;
    }
    if (!build_upstream_head(s, req, &s->reqout)) {
        local_error_page(s, 431);
        return;
    }
    s->reqout_head_len = bw_buf_len(&s->reqout);
    /* We answer 100 Continue ourselves (and never forward Expect): the body
     * is only read once the request has passed every check. */
    if ((req->flags & BW_HTTP_F_EXPECT_CONTINUE) && !s->req.complete && bw_buf_empty(&c->in)) {
        if (!bw_buf_get(&w->pool, &c->out)) {
            bw_conn_close(c);
            return;
        }
        bw_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    if (bw_upstream_must_wait(s)) {
        stream_wait(s);
        return;
    }
    if (!bw_upstream_acquire(s)) {
        /* every origin resting after max_fails failures: fail fast */
        local_error_page(s, bw_upstream_all_open(s) ? 503 : 502);
        return;
    }
}

/* A reused keep-alive connection that the origin had closed: the request
 * (head only) can be sent again on a fresh connection. */
static bool retry_stale(bw_stream *s)
{
    if (!s->u || !s->u->reused || s->resp_head_parsed || s->req.mode != BW_BODY_NONE ||
        !s->idempotent || s->tries > s->site->pool.retries + 1)
        return false;
    bw_upstream_release(s->u, false);
    s->u = NULL;
    s->reqout.start = 0;
    s->reqout.end = s->reqout_head_len;
    s->tried_mask = 0; /* the server is fine, only the connection was stale */
    return bw_upstream_acquire(s) != NULL;
}

/* Response head from the origin: choose the body framing towards the
 * client and write the head into the client's output buffer. */
static int on_response_head(bw_stream *s)
{
    bw_conn *c = s->c;
    bw_upconn *u = s->u;
    bw_worker *w = c->w;
    bw_http_response resp;
    bw_http_limits lim = { 0, 256, BW_BUF_SIZE };
    int r = bw_http_parse_response(bw_buf_head(&u->in), bw_buf_len(&u->in), &lim, &resp, w->hdrs, 256);
    if (r == 0) {
        if (bw_buf_room(&u->in) == 0)
            return -1;
        return 0;
    }
    if (r < 0)
        return -1;
    if (resp.status >= 100 && resp.status < 200 && !(resp.status == 101 && s->upgrade)) {
        bw_buf_consume(&u->in, (uint32_t)r); /* interim response: we answered 100 ourselves */
        return 1;
    }
    s->upstream_us = w->loop.now_us - s->upstream_start_us;
    s->status = resp.status;
    bw_upstream_outcome(s, resp.status >= 500);
    if (s->login.route) {
        bw_str location = BW_STR_NULL;
        bw_http_header_find(resp.headers, resp.nheaders, BW_STR_LIT("location"), &location);
        bw_shield_login_outcome(w->shield, s->site, &s->login, resp.status, location, w->loop.now_ms);
    }
    bool tunnel = resp.status == 101;
    int mode;
    if (tunnel) {
        mode = BW_BODY_EOF;
    } else if (s->method_id == BW_HTTP_HEAD || resp.status == 204 || resp.status == 304) {
        mode = BW_BODY_NONE;
    } else if (resp.flags & BW_HTTP_F_CHUNKED) {
        mode = s->version == 11 ? BW_BODY_CHUNKED_RAW : BW_BODY_CHUNKED_UNFRAME;
    } else if (resp.flags & BW_HTTP_F_HAS_CL) {
        mode = BW_BODY_LEN;
    } else {
        mode = BW_BODY_EOF;
    }
    bw_pipe_init(&s->resp, mode, resp.content_length);
    s->upstream_reusable = (resp.flags & BW_HTTP_F_KEEPALIVE) && mode != BW_BODY_EOF;
    if (mode == BW_BODY_EOF || mode == BW_BODY_CHUNKED_UNFRAME)
        s->keepalive = false;
    if (!bw_buf_get(&w->pool, &c->out) || !build_client_head(s, &resp, tunnel))
        return -1;
    bw_buf_consume(&u->in, (uint32_t)r);
    s->resp_head_parsed = true;
    s->head_sent = true;
    if (s->site)
        bw_counter_add(&w->stats->sites[s->site->stats_slot].upstream_requests, 1);
    if (tunnel) {
        c->state = BW_CONN_TUNNEL;
        s->keepalive = false;
        s->upstream_reusable = false;
        bw_pipe_init(&s->req, BW_BODY_EOF, 0);
    }
    return 1;
}

/* Request direction: client -> origin.  Returns -1 if the stream ended. */
static int pump_request(bw_stream *s, bool *progress, bool *client_progress, bool *up_progress,
                        bool *up_blocked)
{
    bw_conn *c = s->c;
    bw_upconn *u = s->u;
    bw_worker *w = c->w;
    if (!s->req.complete && c->readable && !c->peer_eof && bw_buf_get(&w->pool, &c->in)) {
        ssize_t n = bw_sock_read(c->io.fd, &c->in, &c->readable, &c->peer_eof);
        if (n > 0) {
            s->bytes_in += (uint64_t)n;
            *progress = *client_progress = true;
        } else if (n < 0) {
            c->peer_eof = true;
        }
    }
    s->req.src_eof = c->peer_eof;
    bw_pipe_scan(&s->req, &c->in, &s->reqout);
    if (s->conf->max_body_bytes && s->req.decoded > s->conf->max_body_bytes) {
        bw_log(BW_LOG_INFO, "client chunked body over max_body_size (request %.*s)", (int)s->request_id_len,
               s->request_id);
        if (!s->head_sent) {
            local_error_page(s, 413);
            *progress = true;
            return 0;
        }
        bw_stream_abort(s);
        return -1;
    }
    if (bw_pipe_failed(&s->req)) {
        bw_log(BW_LOG_INFO, "client sent an invalid chunked body (request %.*s)",
               (int)s->request_id_len, s->request_id);
        if (!s->head_sent) {
            local_error_page(s, 400);
            *progress = true;
            return 0;
        }
        bw_stream_abort(s);
        return -1;
    }
    if (u->state == BW_UP_ACTIVE && u->writable &&
        (!bw_buf_empty(&s->reqout) || s->req.ready)) {
        bool blocked = false;
        int n = bw_pipe_send(&s->req, &s->reqout, &c->in, u->io.fd, &blocked);
        if (n < 0) {
            if (!retry_stale(s))
                bw_stream_upstream_failed(s, 502, strerror(errno));
            *progress = true;
            return 0;
        }
        if (n > 0) {
            *progress = *up_progress = true;
            if (s->req.mode != BW_BODY_NONE)
                s->body_touched = true;
            if (!s->upstream_start_us)
                s->upstream_start_us = w->loop.now_us;
        }
        if (blocked) {
            u->writable = false;
            *up_blocked = true;
        }
    }
    if (c->peer_eof && !s->req.complete && s->req.mode != BW_BODY_EOF) {
        bw_stream_abort(s); /* client went away in the middle of its body */
        return -1;
    }
    return 0;
}

/* Response direction: origin -> client.  Returns -1 if the stream ended. */
static int pump_response(bw_stream *s, bool *progress, bool *up_progress, bool *client_progress)
{
    bw_conn *c = s->c;
    bw_upconn *u = s->u;
    bw_worker *w = c->w;
    if (u && u->state == BW_UP_ACTIVE && u->readable && !u->eof && bw_buf_get(&w->pool, &u->in)) {
        ssize_t n = bw_sock_read(u->io.fd, &u->in, &u->readable, &u->eof);
        if (n > 0) {
            *progress = *up_progress = true;
        } else if (n < 0) {
            if (!s->resp_head_parsed) {
                if (!retry_stale(s))
                    bw_stream_upstream_failed(s, 502, "connection reset by origin");
                *progress = true;
                return 0;
            }
            u->eof = true;
        }
    }
    while (u && !s->resp_head_parsed) {
        int r = u->in.data ? on_response_head(s) : 0;
        if (r < 0) {
            bw_stream_upstream_failed(s, 502, "invalid response head");
            *progress = true;
            return 0;
        }
        if (r == 0) {
            if (u->eof) {
                if (!retry_stale(s))
                    bw_stream_upstream_failed(s, 502, "origin closed the connection before answering");
                *progress = true;
                return 0;
            }
            break;
        }
        *progress = true;
    }
    /* Before the response head only what bulwark queued itself (100
     * Continue) is in c->out, and resp.ready is 0: the send below moves
     * just that. */
    if (u && s->resp_head_parsed) {
        s->resp.src_eof = u->eof;
        bw_pipe_scan(&s->resp, &u->in, &c->out);
        if (bw_pipe_failed(&s->resp)) {
            bw_log(BW_LOG_WARN, "origin %s sent an invalid chunked body", s->server->addr.text);
            bw_stream_abort(s);
            return -1;
        }
        if (u->eof && !s->resp.complete && s->resp.mode != BW_BODY_EOF) {
            bw_log(BW_LOG_WARN, "origin %s closed the connection in the middle of a response",
                   s->server->addr.text);
            bw_stream_abort(s);
            return -1;
        }
    }
    if (c->writable && ((c->out.data && !bw_buf_empty(&c->out)) || s->resp.ready)) {
        bool blocked = false;
        bw_buf none = { 0 };
        int n = bw_pipe_send(&s->resp, c->out.data ? &c->out : &none, u ? &u->in : &none,
                             c->io.fd, &blocked);
        if (n < 0) {
            bw_stream_abort(s);
            return -1;
        }
        if (n > 0)
            *progress = *client_progress = true; /* a client that reads resets send_timeout */
        if (blocked)
            c->writable = false;
    }
    return 0;
}

/* Slow-post: a body that has been arriving for longer than this must
 * average client_body_min_rate.  (A stalled one is caught by
 * client_body_timeout; this catches the one that trickles to stay alive.) */
#define BODY_RATE_GRACE_US 10000000ull

static bool body_too_slow(const bw_stream *s, uint64_t now_us)
{
    uint64_t min_rate = s->conf->client_body_min_rate;
    uint64_t elapsed = now_us - s->start_us;
    if (min_rate == 0 || elapsed < BODY_RATE_GRACE_US)
        return false;
    return s->bytes_in * 1000000ull < min_rate * elapsed;
}

static void arm_timers(bw_stream *s, bool client_progress, bool up_progress, bool up_blocked)
{
    bw_conn *c = s->c;
    bw_worker *w = c->w;
    const bw_conf *conf = s->conf;
    bool client_send_pending = (c->out.data && !bw_buf_empty(&c->out)) || s->resp.ready;
    if (c->state == BW_CONN_TUNNEL) {
        /* One idle timer for both directions: the origin's read timer set
         * before the 101 must not cut a tunnel that carries data. */
        if (client_progress || up_progress || !bw_timer_armed(&c->timer))
            bw_timer_arm(&w->loop, &c->timer, conf->client_keepalive_ms);
        if (s->u)
            bw_timer_cancel(&s->u->timer);
        return;
    }
    if (client_send_pending && !c->writable) {
        if (!bw_timer_armed(&c->timer) || client_progress)
            bw_timer_arm(&w->loop, &c->timer, conf->client_send_timeout_ms);
    } else if (!s->req.complete && s->u && s->u->state == BW_UP_ACTIVE) {
        if (!bw_timer_armed(&c->timer) || client_progress)
            bw_timer_arm(&w->loop, &c->timer, conf->client_body_timeout_ms);
    } else if (bw_timer_armed(&c->timer)) {
        bw_timer_cancel(&c->timer);
    }
    bw_upconn *u = s->u;
    if (!u || u->state != BW_UP_ACTIVE)
        return;
    if (s->resp.complete && s->resp_head_parsed) {
        bw_timer_cancel(&u->timer);
    } else if (up_blocked) {
        bw_timer_arm(&w->loop, &u->timer, s->site->pool.send_timeout_ms);
    } else if (up_progress || !bw_timer_armed(&u->timer)) {
        bw_timer_arm(&w->loop, &u->timer, s->site->pool.read_timeout_ms);
    }
}

void bw_stream_run(bw_stream *s)
{
    bw_conn *c = s->c;
    bool client_progress = false, up_progress = false, up_blocked = false;
    bool progress = false;
    if (s->queued || (s->resume && !stream_resume(s)))
        return; /* waiting for an origin slot: the client's bytes stay buffered */
    for (int rounds = 0; rounds < BW_STREAM_ROUNDS; rounds++) {
        progress = false;
        if (s->u && !s->local && pump_request(s, &progress, &client_progress, &up_progress, &up_blocked) < 0)
            return;
        if (c->dead || c->stream != s)
            return;
        if (pump_response(s, &progress, &up_progress, &client_progress) < 0)
            return;
        if (c->stream != s || c->dead)
            return;
        if (c->state == BW_CONN_TUNNEL) {
            bool up_eof = s->u && s->u->eof && s->resp.ready == 0 &&
                          (!c->out.data || bw_buf_empty(&c->out));
            bool cl_eof = c->peer_eof && s->req.ready == 0 && bw_buf_empty(&s->reqout);
            if (up_eof || cl_eof) {
                stream_finish(s);
                return;
            }
        } else if (s->resp_head_parsed && bw_pipe_done(&s->resp, &c->out)) {
            stream_finish(s);
            return;
        }
        if (!progress)
            break;
    }
    /* Still moving after the fair share of one loop round: with edge
     * triggering no new event may come (both sockets stay ready), so ask
     * the worker to run this connection again after the other events. */
    if (progress)
        bw_conn_defer(c);
    if (client_progress && !s->req.complete && c->state == BW_CONN_STREAM &&
        body_too_slow(s, c->w->loop.now_us)) {
        char ip[64];
        bw_ipaddr_text(&c->peer, ip, sizeof(ip));
        bw_log(BW_LOG_INFO, "client %s: request body slower than %llu bytes/s: closed", ip,
               (unsigned long long)s->conf->client_body_min_rate);
        bw_counter_add(&c->w->stats->slow_bodies, 1);
        bw_stream_abort(s);
        return;
    }
    arm_timers(s, client_progress, up_progress, up_blocked);
}
