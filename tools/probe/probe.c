/*
 * probe.c - bulwark-probe: command line, listeners, connections, request
 * framing, the response writer and the arrival ledger (see probe.h).
 *
 *   bulwark-probe [--listen HOST:PORT ...] [--chat-cost US] [--quiet]
 *
 * Life of a connection: accept4 (level-triggered listener, loop until
 * EAGAIN), register edge-triggered for in+out, then conn_run() whenever the
 * socket has news.  conn_run reads into the probe's scratch block, serves
 * every complete request found there (head by bw_http_head_end +
 * bw_http_parse_request, body discarded or kept, then the route's handler
 * appends its response to p->out), sends p->out in one send(), and copies
 * only what is left (a partial head, unsent output) into the connection.
 * While output is pending no further request is served: a client that does
 * not read stops being read.
 *
 * Timeouts: one timer per connection on the loop's FIFO lists, re-armed for
 * PROBE_IDLE_MS at accept and at each request head.  A close with unread
 * input (errors, a pipelined request after "Connection: close") shuts the
 * write side and drains input for LINGER_MS first: close() with unread data
 * would send a RST that can destroy the response before the client reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/fdlimit.h"
#include "probe.h"

#define MAX_LISTENERS 16
#define IDLE_MS 60000u  /* no complete request for this long: closed */
#define LINGER_MS 2000u /* lingering close: input drained at most this long */
#define OUT_FLUSH (64 * 1024) /* send pipelined responses once this much is queued */
#define SLAB_CONNS 256

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

enum { ST_HEAD = 0, ST_BODY, ST_READY };

static volatile sig_atomic_t stop_signal;

/* ------------------------------------------------------------------ */
/* growable buffer                                                     */
/* ------------------------------------------------------------------ */

void probe_buf_put(probe_buf *b, const void *p, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
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

void probe_buf_str(probe_buf *b, const char *s)
{
    probe_buf_put(b, s, strlen(s));
}

void probe_buf_u64(probe_buf *b, uint64_t v)
{
    char d[BW_U64_DEC_MAX];
    probe_buf_put(b, d, bw_u64_dec(v, d));
}

/* ------------------------------------------------------------------ */
/* the arrival ledger                                                  */
/* ------------------------------------------------------------------ */

static void update_clock(probe *p)
{
    if (p->clock_ms == p->loop.now_ms)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p->now = (int64_t)ts.tv_sec;
    p->clock_ms = p->loop.now_ms;
}

static size_t ring_slot(int64_t second)
{
    return (size_t)((uint64_t)second % PROBE_RING);
}

uint32_t probe_ledger_get(const probe_ledger *l, int64_t second, unsigned octet)
{
    size_t slot = ring_slot(second);
    return l->stamp[slot] == second ? l->count[slot][octet & 0xff] : 0;
}

static void ledger_count(probe *p, unsigned octet)
{
    probe_ledger *l = p->ledger;
    size_t slot = ring_slot(p->now);
    if (l->stamp[slot] != p->now) {
        memset(l->count[slot], 0, sizeof(l->count[slot]));
        l->stamp[slot] = p->now;
    }
    l->count[slot][octet]++;
    l->total[octet]++;
    l->requests++;
}

/* Ledger octet of a dotted-quad address ("127.N.x.y", optionally ":port"
 * or IPv4-mapped "::ffff:"); 0 for anything else. */
static unsigned addr_octet(bw_str s)
{
    static const char mapped[] = "::ffff:";
    if (s.len > sizeof(mapped) - 1 && bw_str_ieq(bw_str_make(s.p, sizeof(mapped) - 1),
                                                 BW_STR_LIT(mapped))) {
        s.p += sizeof(mapped) - 1;
        s.len -= sizeof(mapped) - 1;
    }
    unsigned part[4];
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (i >= s.len || s.p[i] != '.')
                return 0;
            i++;
        }
        unsigned v = 0, digits = 0;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(s.p[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return 0;
        part[k] = v;
    }
    if (i < s.len && s.p[i] != ':')
        return 0;
    return part[0] == 127 ? part[1] : 0;
}

static unsigned sockaddr_octet(const struct sockaddr_storage *ss)
{
    const unsigned char *a;
    if (ss->ss_family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
    } else if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(a6))
            return 0;
        a = a6->s6_addr + 12;
    } else {
        return 0;
    }
    return a[0] == 127 ? a[1] : 0;
}

/* The client's octet: the last X-Forwarded-For entry, else the peer. */
static unsigned client_octet(const probe_conn *c, const bw_http_request *req)
{
    const bw_http_header *xff = NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name.len == 15 && bw_str_ieq_lit(req->headers[i].name, "x-forwarded-for"))
            xff = &req->headers[i];
    if (!xff)
        return c->peer_octet;
    bw_str v = xff->value;
    const char *comma = v.len ? memrchr(v.p, ',', v.len) : NULL;
    if (comma) {
        v.len -= (size_t)(comma + 1 - v.p);
        v.p = comma + 1;
    }
    while (v.len && (v.p[0] == ' ' || v.p[0] == '\t')) {
        v.p++;
        v.len--;
    }
    while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
        v.len--;
    return addr_octet(v);
}

/* ------------------------------------------------------------------ */
/* the response writer                                                 */
/* ------------------------------------------------------------------ */

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
    }
}

void probe_reply(probe *p, probe_conn *c, int status, const char *ctype, const char *extra,
                 const void *body, size_t len)
{
    probe_buf *o = &p->out;
    char num[4] = { (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' ' };
    probe_buf_put(o, "HTTP/1.1 ", 9);
    probe_buf_put(o, num, 4);
    probe_buf_str(o, reason(status));
    probe_buf_str(o, "\r\nServer: bulwark-probe\r\nX-Probe: 1\r\n");
    if (ctype) {
        probe_buf_put(o, "Content-Type: ", 14);
        probe_buf_str(o, ctype);
        probe_buf_put(o, "\r\n", 2);
    }
    probe_buf_put(o, "Content-Length: ", 16);
    probe_buf_u64(o, len);
    probe_buf_put(o, "\r\n", 2);
    if (!c->keepalive)
        probe_buf_str(o, "Connection: close\r\n");
    else if (c->version == 10)
        probe_buf_str(o, "Connection: keep-alive\r\n");
    if (extra)
        probe_buf_str(o, extra);
    probe_buf_put(o, "\r\n", 2);
    if (!c->head_only)
        probe_buf_put(o, body, len);
}

/* Answer an unusable request with status and close after it. */
static void fail(probe *p, probe_conn *c, int status)
{
    static const char page[] = "<!doctype html><title>error</title><h1>request refused</h1>\n";
    c->keepalive = false;
    probe_reply(p, c, status, "text/html; charset=utf-8", NULL, page, sizeof(page) - 1);
    c->close_after = true;
    c->linger = true;
}

/*
 * Send p->out on c.  Whatever the kernel does not take is appended to
 * c->wbuf (the caller then waits for EPOLLOUT).  Returns true if nothing is
 * left pending.
 */
static bool flush_out(probe *p, probe_conn *c)
{
    probe_buf *o = &p->out;
    size_t off = 0;
    if (o->oom) {
        c->dead = true; /* a response was lost: the connection cannot go on */
        o->oom = false;
        o->len = 0;
        return false;
    }
    while (c->wlen == 0 && off < o->len) {
        ssize_t n = send(c->io.fd, o->p + off, o->len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            c->dead = true;
            o->len = 0;
            return false;
        }
    }
    if (off < o->len) {
        size_t rest = o->len - off, keep = c->wlen - c->woff;
        char *w = malloc(keep + rest);
        if (!w) {
            c->dead = true;
            o->len = 0;
            return false;
        }
        if (keep)
            memcpy(w, c->wbuf + c->woff, keep);
        memcpy(w + keep, o->p + off, rest);
        free(c->wbuf);
        c->wbuf = w;
        c->woff = 0;
        c->wlen = keep + rest;
    }
    o->len = 0;
    return c->wlen == 0;
}

/* Send c->wbuf.  Returns true once it is all gone. */
static bool write_pending(probe_conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->io.fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0)
            c->woff += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        else {
            c->dead = true;
            return false;
        }
    }
    free(c->wbuf);
    c->wbuf = NULL;
    c->woff = c->wlen = 0;
    return true;
}

/* ------------------------------------------------------------------ */
/* request framing                                                     */
/* ------------------------------------------------------------------ */

static bool header_has(const bw_http_request *req, const char *name, const char *needle)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!bw_str_ieq_lit(req->headers[i].name, name))
            continue;
        bw_str v = req->headers[i].value;
        size_t n = strlen(needle);
        for (size_t k = 0; k + n <= v.len; k++)
            if (bw_str_ieq(bw_str_make(v.p + k, n), bw_str_make(needle, n)))
                return true;
    }
    return false;
}

/* Copy what the request's handler will need out of the head, count the
 * request, and set up the body framing. */
static void begin_request(probe *p, probe_conn *c, const bw_http_request *req, bool body_buffered)
{
    const probe_route *r = probe_route_find(req);
    c->route = r;
    c->version = (uint8_t)req->version;
    c->keepalive = (req->flags & BW_HTTP_F_KEEPALIVE) != 0;
    c->head_only = req->method_id == BW_HTTP_HEAD;
    c->octet = (uint8_t)client_octet(c, req);
    if (probe_path_counted(req->path))
        ledger_count(p, c->octet);
    bw_timer_arm(&p->loop, &c->timer, IDLE_MS);

    c->arglen = 0;
    c->arg_bad = false;
    if (r->wants_query) {
        if (req->query.len <= sizeof(c->arg)) {
            memcpy(c->arg, req->query.p, req->query.len);
            c->arglen = (uint16_t)req->query.len;
        } else {
            c->arg_bad = true;
        }
    }

    c->chunked = (req->flags & BW_HTTP_F_CHUNKED) != 0;
    c->body_left = (req->flags & BW_HTTP_F_HAS_CL) ? req->content_length : 0;
    c->state = c->chunked || c->body_left ? ST_BODY : ST_READY;
    if (c->chunked)
        bw_chunked_init(&c->dec);
    c->blen = 0;
    if (r->body == PROBE_BODY_KEEP) {
        c->body_json = header_has(req, "content-type", "json");
        if (c->body_left > PROBE_MAX_BODY) {
            fail(p, c, 413);
            return;
        }
    }
    if (c->state == ST_BODY && (req->flags & BW_HTTP_F_EXPECT_CONTINUE) && req->version == 11 &&
        !body_buffered)
        probe_buf_str(&p->out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Parse the head at buf[in.start..]; false if it is not complete yet (or
 * the request was refused). */
static bool take_head(probe *p, probe_conn *c, char *buf)
{
    const char *h = buf + c->in.start;
    size_t avail = c->in.end - c->in.start;
    if (avail == 0)
        return false;
    bw_http_request req;
    bw_http_header hdrs[PROBE_MAX_HEADERS];
    bool first_look = c->scan == 0;
    size_t end = bw_http_head_end(h, avail, &c->scan);
    if (end == 0) {
        /* Refuse garbage at once rather than after the idle timeout; only on
         * the first look, so a head sent byte by byte is not re-parsed. */
        int rc = avail >= BW_BUF_SIZE ? -431 : 0;
        if (rc == 0 && first_look)
            rc = bw_http_parse_request(h, avail, NULL, &req, hdrs, PROBE_MAX_HEADERS);
        if (rc < 0)
            fail(p, c, -rc);
        return false;
    }
    int rc = bw_http_parse_request(h, end, NULL, &req, hdrs, PROBE_MAX_HEADERS);
    if (rc <= 0) {
        fail(p, c, rc < 0 ? -rc : 400);
        return false;
    }
    c->in.start += (uint32_t)rc;
    c->scan = 0;
    begin_request(p, c, &req, c->in.start < c->in.end);
    return !c->close_after;
}

/* Consume body bytes (keeping them at buf[0..blen) for PROBE_BODY_KEEP
 * routes: they only move backwards, over bytes already consumed).  Returns
 * true once the body is complete. */
static bool take_body(probe *p, probe_conn *c, char *buf)
{
    bool keep = c->route->body == PROBE_BODY_KEEP;
    while (c->in.start < c->in.end) {
        const char *src = buf + c->in.start;
        size_t avail = c->in.end - c->in.start, used;
        bw_str data;
        if (c->chunked) {
            ssize_t n = bw_chunked_decode(&c->dec, src, avail, &data);
            if (n < 0) {
                fail(p, c, 400);
                return false;
            }
            used = (size_t)n;
        } else {
            used = avail < c->body_left ? avail : (size_t)c->body_left;
            data = bw_str_make(src, used);
            c->body_left -= used;
        }
        if (keep && data.len) {
            if (c->blen + data.len > PROBE_MAX_BODY) {
                fail(p, c, 413);
                return false;
            }
            memmove(buf + c->blen, data.p, data.len);
            c->blen += (uint32_t)data.len;
        }
        c->in.start += (uint32_t)used;
        if (c->chunked ? c->dec.done : c->body_left == 0)
            return true;
        if (used == 0)
            break;
    }
    return c->chunked ? c->dec.done : c->body_left == 0;
}

/* Serve every complete request buffered at buf, in order. */
static void serve_buffered(probe *p, probe_conn *c, char *buf)
{
    while (!c->close_after && !c->dead && c->wlen == 0) {
        if (c->state == ST_HEAD && !take_head(p, c, buf))
            return;
        if (c->state == ST_BODY && !take_body(p, c, buf))
            return;
        c->route->fn(p, c, bw_str_make(buf, c->blen));
        c->blen = 0;
        c->state = ST_HEAD;
        c->head_only = false;
        if (!c->keepalive)
            c->close_after = true;
        if (p->out.len >= OUT_FLUSH)
            flush_out(p, c);
    }
}

/* ------------------------------------------------------------------ */
/* connections                                                         */
/* ------------------------------------------------------------------ */

static void conn_event(bw_loop *loop, bw_io *io, uint32_t events);
static void conn_timeout(bw_loop *loop, bw_timer *t);

static probe_conn *conn_alloc(probe *p)
{
    if (!p->free_conns) {
        probe_conn *slab = calloc(SLAB_CONNS, sizeof(*slab));
        probe_conn **slabs = realloc(p->slabs, (p->nslabs + 1) * sizeof(*slabs));
        if (!slab || !slabs) {
            free(slab);
            if (slabs)
                p->slabs = slabs;
            return NULL;
        }
        p->slabs = slabs;
        p->slabs[p->nslabs++] = slab;
        for (size_t i = SLAB_CONNS; i-- > 0;) {
            slab[i].next_free = p->free_conns;
            p->free_conns = &slab[i];
        }
    }
    probe_conn *c = p->free_conns;
    p->free_conns = c->next_free;
    memset(c, 0, sizeof(*c));
    c->live = true;
    c->version = 11;
    c->keepalive = true;
    return c;
}

static void conn_close(probe *p, probe_conn *c)
{
    bw_timer_cancel(&c->timer);
    close(c->io.fd); /* also leaves the epoll set */
    bw_buf_put(&p->pool, &c->in);
    free(c->wbuf);
    c->wbuf = NULL;
    c->live = false;
    c->next_free = p->free_conns;
    p->free_conns = c;
    p->conns_open--;
}

/* Keep the unconsumed input (and kept body) of c in its own block, or give
 * the block back when there is none. */
static bool stash_input(probe *p, probe_conn *c, char *buf)
{
    uint32_t start = c->in.start, end = c->in.end;
    bool need = c->blen > 0 || start < end;
    if (buf == p->in) {
        if (!need)
            return true;
        if (!bw_buf_get(&p->pool, &c->in))
            return false;
        memcpy(c->in.data, p->in, c->blen);
        memcpy(c->in.data + c->blen, p->in + start, end - start);
        c->in.start = c->blen;
        c->in.end = c->blen + (end - start);
    } else if (!need) {
        bw_buf_put(&p->pool, &c->in);
    }
    return true;
}

static void linger_drain(probe *p, probe_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->io.fd, p->in, sizeof(p->in), 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(p, c); /* FIN or error: the client has it all */
        return;
    }
}

/* The connection is done: close it, or shut the write side and drain what
 * the client still sends (see the top of the file). */
static void conn_finish(probe *p, probe_conn *c)
{
    bool unread = c->linger || c->in.start < c->in.end || c->state != ST_HEAD;
    if (c->peer_eof || !unread) {
        conn_close(p, c);
        return;
    }
    shutdown(c->io.fd, SHUT_WR);
    bw_buf_put(&p->pool, &c->in);
    c->lingering = true;
    bw_timer_arm(&p->loop, &c->timer, LINGER_MS);
    linger_drain(p, c); /* input that is already there raises no new edge */
}

/*
 * Serve what is buffered and read more, until the socket is drained, the
 * peer must read our output first, or the connection ends.
 */
static void conn_run(probe *p, probe_conn *c)
{
    if (c->wlen && !write_pending(c)) {
        if (c->dead)
            conn_close(p, c);
        return;
    }
    char *buf = c->in.data ? c->in.data : p->in;
    if (!c->in.data)
        c->in.start = c->in.end = c->blen = 0;
    for (;;) {
        serve_buffered(p, c, buf);
        if (c->close_after || c->dead || c->wlen || !c->rd_ready)
            break;
        /* Compact: unconsumed input goes right after the kept body. */
        if (c->in.start > c->blen) {
            uint32_t n = c->in.end - c->in.start;
            memmove(buf + c->blen, buf + c->in.start, n);
            c->in.start = c->blen;
            c->in.end = c->blen + n;
        }
        size_t room = BW_BUF_SIZE - c->in.end;
        if (room == 0) { /* only a head that fills the block gets here */
            fail(p, c, 431);
            break;
        }
        ssize_t n = recv(c->io.fd, buf + c->in.end, room, 0);
        if (n > 0) {
            c->in.end += (uint32_t)n;
            /* Edge-triggered: a short read drained the socket, and any later
             * data raises a new edge.  Not so for a FIN that came with the
             * data (EPOLLRDHUP): read on until recv says 0. */
            if ((size_t)n < room && !c->rdhup)
                c->rd_ready = false;
        } else if (n == 0) {
            c->peer_eof = true;
            c->rd_ready = false;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->rd_ready = false;
        } else if (errno != EINTR) {
            c->dead = true;
        }
    }
    if (c->peer_eof && !c->close_after && !c->dead) {
        if (c->state != ST_HEAD || c->in.start < c->in.end)
            c->dead = true; /* the peer gave up in the middle of a request */
        else
            c->close_after = true;
    }
    if (!c->dead && !stash_input(p, c, buf))
        c->dead = true;
    if (!c->dead && (p->out.len || p->out.oom))
        flush_out(p, c);
    p->out.len = 0;
    p->out.oom = false;
    if (c->dead)
        conn_close(p, c);
    else if (c->close_after && c->wlen == 0)
        conn_finish(p, c);
}

static void conn_event(bw_loop *loop, bw_io *io, uint32_t events)
{
    probe *p = container_of(loop, probe, loop);
    probe_conn *c = container_of(io, probe_conn, io);
    update_clock(p);
    if (events & (EPOLLERR | EPOLLHUP)) {
        conn_close(p, c);
        return;
    }
    if (c->lingering) {
        linger_drain(p, c);
        return;
    }
    if (events & EPOLLRDHUP)
        c->rdhup = true;
    if (events & (EPOLLIN | EPOLLRDHUP))
        c->rd_ready = true;
    else if (c->wlen == 0)
        return; /* writable, but nothing to write */
    conn_run(p, c);
}

static void conn_timeout(bw_loop *loop, bw_timer *t)
{
    probe *p = container_of(loop, probe, loop);
    conn_close(p, container_of(t, probe_conn, timer));
}

/* ------------------------------------------------------------------ */
/* listeners                                                           */
/* ------------------------------------------------------------------ */

/* At EMFILE the pending connection would keep the level-triggered listener
 * firing: give up the spare fd, accept and close it, take the spare back. */
static void shed_one(probe *p, int lfd)
{
    if (!p->warned_emfile && !p->opts.quiet)
        fprintf(stderr, "bulwark-probe: out of file descriptors, refusing connections\n");
    p->warned_emfile = true;
    if (p->reserve_fd >= 0)
        close(p->reserve_fd);
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        close(fd);
    p->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void listener_event(bw_loop *loop, bw_io *io, uint32_t events)
{
    probe *p = container_of(loop, probe, loop);
    (void)events;
    update_clock(p);
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                shed_one(p, io->fd);
                if (p->reserve_fd < 0)
                    return;
                continue;
            }
            return; /* EAGAIN, or nothing we can do here */
        }
        probe_conn *c = conn_alloc(p);
        if (!c) {
            close(fd);
            continue;
        }
        c->io.fd = fd;
        c->io.cb = conn_event;
        c->peer_octet = (uint8_t)sockaddr_octet(&ss);
        bw_timer_init(&c->timer, conn_timeout);
        p->conns_open++;
        p->conns_total++;
        if (bw_loop_add(&p->loop, &c->io) < 0) {
            conn_close(p, c);
            continue;
        }
        bw_timer_arm(&p->loop, &c->timer, IDLE_MS);
    }
}

/* Open a listening socket on "HOST:PORT" ("[v6]:PORT", ":PORT" = any).
 * Returns the fd or -1 (with a message on stderr). */
static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon[1] == '\0' || (size_t)(colon - spec) >= sizeof(host)) {
        fprintf(stderr, "bulwark-probe: --listen %s: expected HOST:PORT\n", spec);
        return -1;
    }
    size_t hl = (size_t)(colon - spec);
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "bulwark-probe: --listen %s: %s\n", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* TCP_NODELAY here: Linux copies it to every accepted socket, which
     * saves a setsockopt per connection (a few % at 15,000 accepts/s). */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 65535) < 0) {
        fprintf(stderr, "bulwark-probe: --listen %s: %s\n", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *f)
{
    fputs("NAME\n"
          "    bulwark-probe - an origin server that counts the requests reaching it\n"
          "\n"
          "SYNOPSIS\n"
          "    bulwark-probe [--listen HOST:PORT ...] [--chat-cost US] [--quiet]\n"
          "\n"
          "DESCRIPTION\n"
          "    The target site of bulwark-siege: pages, static files, /api/hello,\n"
          "    POST /api/chat (burns CPU), POST /login (accounts user0..user99999 and\n"
          "    admin, password \"pw-\" + name), /account, /healthz.  Every request is\n"
          "    counted per unix second and per second octet of the client address\n"
          "    (last X-Forwarded-For entry, else the peer; outside 127/8 -> 0).\n"
          "\n"
          "    GET /__probe/counts?from=U1&to=U2   lines \"SECOND OCTET COUNT\"\n"
          "                                        (default: the last 60 seconds)\n"
          "    GET /__probe/stats                  totals as JSON\n"
          "\n"
          "OPTIONS\n"
          "    -l, --listen HOST:PORT  listen there (repeatable; default 127.0.0.1:9000)\n"
          "    -c, --chat-cost US      CPU microseconds per POST /api/chat (default 200)\n"
          "    -q, --quiet             print nothing but fatal errors\n"
          "    -h, --help              this text\n"
          "\n"
          "    SIGTERM or SIGINT ends it with status 0.\n",
          f);
}

static void raise_fd_limit(const probe *p)
{
    uint64_t n = bw_fd_limit_raise();
    if (n < 19100 && !p->opts.quiet)
        fprintf(stderr, "bulwark-probe: warning: only %llu file descriptors\n",
                (unsigned long long)n);
}

static void probe_free(probe *p, bw_io *ls, int nls)
{
    for (size_t i = 0; i < p->nslabs; i++) {
        for (size_t k = 0; k < SLAB_CONNS; k++)
            if (p->slabs[i][k].live)
                conn_close(p, &p->slabs[i][k]);
        free(p->slabs[i]);
    }
    free(p->slabs);
    for (int i = 0; i < nls; i++)
        close(ls[i].fd);
    if (p->reserve_fd >= 0)
        close(p->reserve_fd);
    bw_bufpool_destroy(&p->pool);
    bw_loop_destroy(&p->loop);
    free(p->out.p);
    free(p->tmp.p);
    free(p->ledger);
    free(p);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "chat-cost", required_argument, NULL, 'c' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *specs[MAX_LISTENERS];
    int nspecs = 0, ch;
    probe_opts opts = { .chat_cost_us = 200, .quiet = false };
    while ((ch = getopt_long(argc, argv, "l:c:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (nspecs == MAX_LISTENERS) {
                fprintf(stderr, "bulwark-probe: at most %d --listen\n", MAX_LISTENERS);
                return 2;
            }
            specs[nspecs++] = optarg;
            break;
        case 'c': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || v > 10000000ul) {
                fprintf(stderr, "bulwark-probe: --chat-cost: 0..10000000 microseconds\n");
                return 2;
            }
            opts.chat_cost_us = (unsigned)v;
            break;
        }
        case 'q': opts.quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (nspecs == 0)
        specs[nspecs++] = "127.0.0.1:9000";

    probe *p = calloc(1, sizeof(*p));
    if (!p || bw_loop_init(&p->loop) < 0) {
        fprintf(stderr, "bulwark-probe: out of memory\n");
        return 1;
    }
    p->opts = opts;
    p->ledger = calloc(1, sizeof(*p->ledger));
    if (!p->ledger) {
        fprintf(stderr, "bulwark-probe: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < PROBE_RING; i++)
        p->ledger->stamp[i] = -1;
    bw_bufpool_init(&p->pool, 1024);
    p->clock_ms = p->loop.now_ms + 1; /* force the first read */
    update_clock(p);
    raise_fd_limit(p);
    p->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: epoll_wait returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    bw_io ls[MAX_LISTENERS];
    char names[MAX_LISTENERS * 80] = "";
    for (int i = 0; i < nspecs; i++) {
        ls[i].fd = listen_on(specs[i]);
        ls[i].cb = listener_event;
        if (ls[i].fd < 0 || bw_loop_add_in(&p->loop, &ls[i]) < 0) {
            probe_free(p, ls, ls[i].fd < 0 ? i : i + 1);
            return 1;
        }
        if (i)
            strcat(names, ", ");
        strncat(names, specs[i], 78);
    }
    if (!opts.quiet)
        fprintf(stderr, "bulwark-probe: listening on %s (chat-cost %u us)\n", names,
                opts.chat_cost_us);

    while (!stop_signal)
        if (bw_loop_run_once(&p->loop, 1000) < 0 && errno != EINTR) {
            fprintf(stderr, "bulwark-probe: epoll_wait: %s\n", strerror(errno));
            break;
        }
    int status = stop_signal ? 0 : 1;
    probe_free(p, ls, nspecs);
    return status;
}
