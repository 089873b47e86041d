/*
 * client.c - a client connection: PROXY header, request heads, and the
 * hand-over to a stream.
 *
 * bw_conn_run() is the one entry point for "something happened on this
 * connection or its stream": it loops over the connection's state until no
 * more progress is possible, so a pipelined request waiting in the buffer is
 * started as soon as the previous exchange ends, without recursion.
 *
 * An idle keep-alive connection holds no buffer: the input buffer is taken
 * from the worker pool when bytes arrive and given back when it is empty.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "http/proxyproto.h"
#include "proxy/proxy.h"

static void conn_event(bw_loop *loop, bw_io *io, uint32_t events);
static void conn_timeout(bw_loop *loop, bw_timer *t);

static bw_conn *conn_alloc(bw_worker *w)
{
    bw_conn *c = w->free_conns;
    if (c) {
        w->free_conns = c->next;
        w->nfree_conns--;
    } else if (!(c = malloc(sizeof(*c))))
        return NULL;
    memset(c, 0, sizeof(*c));
    return c;
}

/* Count the client's address and prefix against max_connections_per_ip /
 * _per_prefix.  false (nothing counted) if either is at its cap. */
static bool conn_count_peer(bw_conn *c)
{
    bw_worker *w = c->w;
    bw_ipkey ip = bw_conn_peer_key(c, false), pfx = bw_conn_peer_key(c, true);
    if (!bw_ipcount_take(&w->per_ip, &ip, w->conf->max_conns_per_ip))
        return false;
    if (!bw_ipcount_take(&w->per_prefix, &pfx, w->conf->max_conns_per_prefix)) {
        bw_ipcount_give(&w->per_ip, &ip);
        return false;
    }
    c->ip_counted = true;
    return true;
}

/* Over a per-IP/prefix cap: closed at once, counted, logged at debug (a
 * flood would otherwise flood the log). */
static void conn_refuse_peer(bw_conn *c)
{
    char ip[64];
    bw_ipaddr_text(&c->peer, ip, sizeof(ip));
    bw_log(BW_LOG_DEBUG, "client %s: over the per-address connection cap, closing", ip);
    bw_counter_add(&c->w->stats->conns_refused_ip, 1);
    bw_conn_close(c);
}

void bw_conn_accepted(bw_worker *w, int fd, const struct sockaddr *sa, unsigned listener_idx,
                      bool reserve)
{
    bw_conn *c = conn_alloc(w);
    if (!c) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->io.fd = fd;
    c->io.cb = conn_event;
    c->w = w;
    bw_timer_init(&c->timer, conn_timeout);
    bw_ipaddr_from_sa(&c->peer, sa);
    c->listener_idx = (uint8_t)listener_idx;
    c->reserve = reserve;
    c->state = w->listeners[listener_idx].proxy_protocol ? BW_CONN_PROXY_HDR : BW_CONN_HEAD;
    if (bw_loop_add(&w->loop, &c->io) < 0) {
        close(fd);
        c->next = w->free_conns;
        w->free_conns = c;
        w->nfree_conns++;
        return;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    bw_counter_add(&w->stats->conns_accepted, 1);
    /* The first request must arrive within the header timeout. */
    c->head_timer = true;
    bw_timer_arm(&w->loop, &c->timer, w->conf->client_header_timeout_ms);
    /* Behind a PROXY protocol listener the real address comes later. */
    if (c->state == BW_CONN_HEAD && !conn_count_peer(c))
        conn_refuse_peer(c);
}

void bw_conn_close(bw_conn *c)
{
    if (c->dead)
        return;
    bw_worker *w = c->w;
    c->dead = true;
    if (c->stream) {
        bw_stream *s = c->stream;
        c->stream = NULL;
        bw_stream_discard(s);
    }
    bw_timer_cancel(&c->timer);
    if (c->ip_counted) {
        bw_ipkey ip = bw_conn_peer_key(c, false), pfx = bw_conn_peer_key(c, true);
        bw_ipcount_give(&w->per_ip, &ip);
        bw_ipcount_give(&w->per_prefix, &pfx);
        c->ip_counted = false;
    }
    bw_loop_del(&w->loop, &c->io);
    close(c->io.fd);
    c->io.fd = -1;
    bw_buf_put(&w->pool, &c->in);
    bw_buf_put(&w->pool, &c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    bw_counter_add(&w->stats->conns_closed, 1);
    c->prev = NULL;
    c->next = w->grave_conns;
    w->grave_conns = c;
}

/* A response bulwark makes without a stream (the request could not be
 * parsed): send it, then close. */
static void conn_fail(bw_conn *c, int status, const char *why)
{
    bw_worker *w = c->w;
    char ip[64];
    bw_ipaddr_text(&c->peer, ip, sizeof(ip));
    bw_log(BW_LOG_INFO, "client %s: %d %s: %s", ip, status, bw_http_reason(status), why);
    bw_counter_add(&w->stats->bad_requests, 1);
    bw_stats_request_done(w->stats, BW_STATS_MAX_SITES - 1, status, c->in.data ? bw_buf_len(&c->in) : 0,
                          0, 0);
    if (!bw_buf_get(&w->pool, &c->out)) {
        bw_conn_close(c);
        return;
    }
    char msg[256];
    int blen = snprintf(msg, sizeof(msg), "%d %s\n", status, bw_http_reason(status));
    char head[256];
    int hlen = snprintf(head, sizeof(head),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n",
                        status, bw_http_reason(status), blen);
    c->out.start = c->out.end = 0;
    bw_buf_append(&c->out, head, (size_t)hlen);
    bw_buf_append(&c->out, msg, (size_t)blen);
    c->state = BW_CONN_CLOSING;
    bw_timer_arm(&w->loop, &c->timer, w->conf->client_send_timeout_ms);
}

static void conn_flush_and_close(bw_conn *c)
{
    if (c->writable && c->out.data && !bw_buf_empty(&c->out)) {
        ssize_t n = write(c->io.fd, bw_buf_head(&c->out), bw_buf_len(&c->out));
        if (n > 0)
            bw_buf_consume(&c->out, (uint32_t)n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            bw_buf_consume(&c->out, bw_buf_len(&c->out));
        if (c->out.data && !bw_buf_empty(&c->out))
            c->writable = false;
    }
    if (!c->out.data || bw_buf_empty(&c->out)) {
        /* Half-close first so the client reads the response before the
         * reset that unread input would otherwise cause. */
        shutdown(c->io.fd, SHUT_WR);
        bw_conn_close(c);
    }
}

/* Read input if the socket has some.  Returns false if the connection was
 * closed. */
static bool conn_read_input(bw_conn *c)
{
    bw_worker *w = c->w;
    if (!c->readable || c->peer_eof)
        return true;
    if (!bw_buf_get(&w->pool, &c->in)) {
        bw_conn_close(c);
        return false;
    }
    ssize_t n = bw_sock_read(c->io.fd, &c->in, &c->readable, &c->peer_eof);
    if (n < 0) {
        bw_conn_close(c);
        return false;
    }
    return true;
}

static void conn_proxy_header(bw_conn *c)
{
    if (!conn_read_input(c))
        return;
    uint32_t len = c->in.data ? bw_buf_len(&c->in) : 0;
    if (len) {
        bw_proxy_info info;
        int r = bw_proxyproto_parse(bw_buf_head(&c->in), len, &info);
        if (r < 0) {
            char ip[64];
            bw_ipaddr_text(&c->peer, ip, sizeof(ip));
            bw_log(BW_LOG_INFO, "client %s: invalid PROXY protocol header, closing", ip);
            bw_conn_close(c);
            return;
        }
        if (r > 0) {
            if (!info.local)
                bw_ipaddr_from_sa(&c->peer, (const struct sockaddr *)&info.src);
            bw_buf_consume(&c->in, (uint32_t)r);
            c->state = BW_CONN_HEAD;
            if (!conn_count_peer(c))
                conn_refuse_peer(c);
            return;
        }
    }
    if (c->peer_eof)
        bw_conn_close(c);
}

static int parse_limits_status(bw_conn *c, bw_http_request *req, uint32_t len, int *r)
{
    const bw_conf *conf = c->w->conf;
    bw_http_limits lim = { conf->max_request_line, conf->max_headers, conf->max_header_bytes };
    if (lim.max_headers > 256)
        lim.max_headers = 256;
    if (lim.max_head_bytes > BW_BUF_SIZE - 1024)
        lim.max_head_bytes = BW_BUF_SIZE - 1024;
    *r = bw_http_parse_request(bw_buf_head(&c->in), len, &lim, req, c->w->hdrs, 256);
    return *r;
}

/* Waiting for a request head.  Returns true if a stream was started. */
static bool conn_head(bw_conn *c)
{
    bw_worker *w = c->w;
    if (!conn_read_input(c))
        return false;
    uint32_t len = c->in.data ? bw_buf_len(&c->in) : 0;
    if (len == 0) {
        if (c->peer_eof) {
            bw_conn_close(c);
            return false;
        }
        if (c->in.data)
            bw_buf_put(&w->pool, &c->in);
        return false;
    }
    if (!c->head_timer) { /* the first bytes of a request on a kept-alive connection */
        if (bw_overload_sample_due(&w->ovl, w->loop.now_ms))
            bw_worker_overload_sample(w, c->io.fd);
        c->head_timer = true;
        bw_timer_arm(&w->loop, &c->timer, w->conf->client_header_timeout_ms);
    }
    size_t scan = c->head_scan;
    size_t end = bw_http_head_end(bw_buf_head(&c->in), len, &scan);
    c->head_scan = (uint32_t)scan;
    bw_http_request req;
    int r;
    if (end == 0) {
        /* Incomplete: the parser still tells whether limits are already
         * exceeded (414 / 431) or the start is garbage (400).  Checked on
         * the first bytes and then every 1 KiB of growth, so a client that
         * sends its head a byte at a time cannot make us rescan it per byte. */
        bool check = c->head_checked == 0 || len >= (uint32_t)c->head_checked + 1024;
        if (check)
            c->head_checked = len;
        if (check && parse_limits_status(c, &req, len, &r) < 0) {
            conn_fail(c, -r, req.error ? req.error : "invalid request");
            return false;
        }
        if (bw_buf_room(&c->in) == 0) {
            conn_fail(c, 431, "request head larger than the buffer");
            return false;
        }
        if (c->peer_eof)
            bw_conn_close(c);
        return false;
    }
    if (parse_limits_status(c, &req, len, &r) <= 0) {
        conn_fail(c, r < 0 ? -r : 400, req.error ? req.error : "invalid request");
        return false;
    }
    bw_stream_start(c, &req, (uint32_t)r);
    return !c->dead;
}

void bw_conn_run(bw_conn *c)
{
    for (int guard = 0;; guard++) {
        if (c->dead)
            return;
        if (guard == 1024) { /* a long pipeline: let the others run too */
            bw_conn_defer(c);
            return;
        }
        switch (c->state) {
        case BW_CONN_PROXY_HDR:
            conn_proxy_header(c);
            if (c->dead || c->state == BW_CONN_PROXY_HDR)
                return;
            break;
        case BW_CONN_HEAD:
            if (c->w->draining && (!c->in.data || bw_buf_empty(&c->in))) {
                bw_conn_close(c);
                return;
            }
            if (!conn_head(c)) {
                /* A refused head leaves a response to flush. */
                if (c->dead || c->state != BW_CONN_CLOSING)
                    return;
            }
            break;
        case BW_CONN_STREAM:
        case BW_CONN_TUNNEL:
            bw_stream_run(c->stream);
            /* Go on only if the exchange ended and a pipelined request waits. */
            if (c->dead || c->state != BW_CONN_HEAD || !c->in.data || bw_buf_empty(&c->in))
                return;
            break;
        case BW_CONN_CLOSING:
            conn_flush_and_close(c);
            return;
        case BW_CONN_TARPIT:
            return; /* nothing is read or written until the timer */
        }
    }
}

void bw_conn_defer(bw_conn *c)
{
    if (c->again || c->dead)
        return;
    c->again = true;
    c->again_next = c->w->again;
    c->w->again = c;
}

void bw_worker_run_deferred(bw_worker *w)
{
    bw_conn *list = w->again;
    w->again = NULL;
    while (list) {
        bw_conn *c = list;
        list = c->again_next;
        c->again = false;
        if (!c->dead)
            bw_conn_run(c);
    }
    /* Connections deferred again but closed meanwhile must not outlive
     * bury(), which recycles them. */
    bw_conn **pp = &w->again;
    while (*pp) {
        if ((*pp)->dead) {
            (*pp)->again = false;
            *pp = (*pp)->again_next;
        } else {
            pp = &(*pp)->again_next;
        }
    }
}

void bw_conn_drain(bw_conn *c)
{
    if ((c->state == BW_CONN_HEAD && (!c->in.data || bw_buf_empty(&c->in))) ||
        c->state == BW_CONN_TARPIT)
        bw_conn_close(c);
    else if (c->stream)
        c->stream->keepalive = false;
}

static void conn_event(bw_loop *loop, bw_io *io, uint32_t events)
{
    (void)loop;
    bw_conn *c = (bw_conn *)io;
    if (c->dead)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->readable = true;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        c->writable = true;
    if ((events & (EPOLLERR | EPOLLHUP)) && c->state != BW_CONN_CLOSING) {
        /* Reset or fully closed: nothing can be delivered any more. */
        if (!c->stream || (events & EPOLLERR)) {
            bw_conn_close(c);
            return;
        }
    }
    bw_conn_run(c);
}

/* ------------------------------------------------------------------ */
/* shedding: which connection goes when the worker is full             */
/* ------------------------------------------------------------------ */

/* A real client sends its head within a round trip or two; one that has
 * been at it for longer than this while we are full is the one to drop. */
#define SHED_MIN_HEAD_WAIT_MS 1000
#define SHED_MAX_SCAN 64 /* list entries looked at (other timers share lists) */

static bw_conn *timer_conn(const bw_timer *t)
{
    if (t->cb != conn_timeout)
        return NULL; /* an origin-side or health-check timer of the same duration */
    return (bw_conn *)((char *)t - offsetof(bw_conn, timer));
}

/* arg: non-NULL to pass over connections that showed a clearance token */
static bool waiting_for_head(const bw_timer *t, void *arg)
{
    const bw_conn *c = timer_conn(t);
    return c && !c->dead && c->head_timer && !(arg && c->cleared) &&
           (c->state == BW_CONN_HEAD || c->state == BW_CONN_PROXY_HDR ||
            c->state == BW_CONN_TARPIT);
}

static bool idle_keepalive(const bw_timer *t, void *arg)
{
    const bw_conn *c = timer_conn(t);
    return c && !c->dead && !c->head_timer && !(arg && c->cleared) && c->state == BW_CONN_HEAD;
}

static bw_conn *shed_victim(bw_worker *w, void *skip_cleared)
{
    const bw_conf *cf = w->conf;
    bw_timer *t = bw_loop_oldest_timer(&w->loop, cf->client_header_timeout_ms, waiting_for_head,
                                       skip_cleared, SHED_MAX_SCAN);
    if (t) {
        uint64_t since = t->deadline_ms - cf->client_header_timeout_ms;
        if (w->loop.now_ms >= since + SHED_MIN_HEAD_WAIT_MS)
            return timer_conn(t);
    }
    t = bw_loop_oldest_timer(&w->loop, cf->client_keepalive_ms, idle_keepalive, skip_cleared,
                             SHED_MAX_SCAN);
    return t ? timer_conn(t) : NULL;
}

bw_conn *bw_conn_shed_victim(bw_worker *w)
{
    static char skip_cleared;
    bw_conn *v = shed_victim(w, &skip_cleared); /* clients without a clearance token go first */
    return v ? v : shed_victim(w, NULL);
}

static void conn_timeout(bw_loop *loop, bw_timer *t)
{
    (void)loop;
    bw_conn *c = (bw_conn *)((char *)t - offsetof(bw_conn, timer));
    if (c->dead)
        return;
    switch (c->state) {
    case BW_CONN_PROXY_HDR:
        bw_conn_close(c);
        break;
    case BW_CONN_HEAD:
        if (c->in.data && !bw_buf_empty(&c->in)) {
            conn_fail(c, 408, "request head not received in time");
            c->writable = true;
            bw_conn_run(c);
        } else {
            bw_conn_close(c); /* keep-alive timeout */
        }
        break;
    case BW_CONN_STREAM:
        if (c->stream && c->stream->queued) {
            bw_stream_queue_timeout(c->stream);
            break;
        }
        /* fall through */
    case BW_CONN_TUNNEL:
    case BW_CONN_CLOSING:
    case BW_CONN_TARPIT:
        bw_conn_close(c);
        break;
    }
}

void bw_conn_tarpit(bw_conn *c)
{
    bw_worker *w = c->w;
    if (c->stream) {
        bw_stream *s = c->stream;
        c->stream = NULL;
        bw_stream_discard(s);
    }
    bw_buf_put(&w->pool, &c->in);
    bw_buf_put(&w->pool, &c->out);
    c->state = BW_CONN_TARPIT;
    c->head_timer = true; /* a shedding candidate, like a slow head */
    bw_timer_arm(&w->loop, &c->timer, w->conf->client_header_timeout_ms);
}
