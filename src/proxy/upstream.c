/*
 * upstream.c - choosing an origin server and holding connections to it.
 *
 * Selection is per worker, with no shared state but the servers' health
 * flags: smooth weighted round-robin (each pick adds every server's weight
 * to its running score, takes the highest and subtracts the total, which
 * spreads a 3:1 split as A A B A rather than A A A B) or least connections
 * (fewest streams per unit of weight).  Servers that failed a health check,
 * or refused a connection less than fail_timeout ago, are skipped unless
 * every server is down, in which case all are tried: an edge that refuses
 * to try is worse than one that tries a server that may have come back.
 *
 * Keep-alive: after a reusable exchange the connection is parked on its
 * server's idle list (LIFO, bounded by keepalive_max) with its buffers given
 * back.  Any event on an idle connection means the origin closed it or sent
 * something unasked for: it is closed.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/proxy.h"

static void upconn_event(bw_loop *loop, bw_io *io, uint32_t events);
static void upconn_timeout(bw_loop *loop, bw_timer *t);
static void kick_queue(bw_worker *w, const bw_stream *done);

/* Runtime state of s's server in this worker, or NULL when the stream runs
 * on an older config than the worker (after a reload). */
static bw_srv_rt *srv_rt(bw_worker *w, const bw_conf *conf, const bw_server_conf *srv)
{
    if (conf != w->conf || !srv)
        return NULL;
    return &w->srv[srv->index];
}

static bool server_usable(const bw_server_conf *srv, uint64_t now_ms)
{
    return atomic_load_explicit(&srv->healthy, memory_order_relaxed) &&
           atomic_load_explicit(&srv->down_until_ms, memory_order_relaxed) <= now_ms;
}

static bool breaker_open(const bw_server_conf *srv, uint64_t now_ms)
{
    return atomic_load_explicit(&srv->open_until_ms, memory_order_relaxed) > now_ms;
}

void bw_upstream_outcome(bw_stream *s, bool failed)
{
    bw_server_conf *srv = s->server;
    unsigned max = s->site->pool.max_fails;
    if (!srv || !max)
        return;
    if (!failed) {
        if (atomic_load_explicit(&srv->fails, memory_order_relaxed))
            atomic_store_explicit(&srv->fails, 0, memory_order_relaxed);
        return;
    }
    if (atomic_fetch_add_explicit(&srv->fails, 1, memory_order_relaxed) + 1 < max)
        return;
    atomic_store_explicit(&srv->fails, 0, memory_order_relaxed);
    uint64_t now = s->c->w->loop.now_ms;
    atomic_store_explicit(&srv->open_until_ms, now + s->site->pool.fail_timeout_ms,
                          memory_order_relaxed);
    bw_log(BW_LOG_WARN, "origin %s for site %s: %u failures in a row, no requests for %u ms",
           srv->addr.text, s->site->name, max, s->site->pool.fail_timeout_ms);
}

bool bw_upstream_all_open(bw_stream *s)
{
    const bw_pool_conf *pool = &s->site->pool;
    uint64_t now = s->c->w->loop.now_ms;
    for (size_t i = 0; i < pool->nservers; i++)
        if (!breaker_open(pool->servers[i], now))
            return false;
    return pool->nservers > 0;
}

static int pick_server(bw_stream *s, bool only_usable)
{
    bw_worker *w = s->c->w;
    const bw_pool_conf *pool = &s->site->pool;
    int best = -1;
    long total = 0;
    double best_load = 0;
    for (size_t i = 0; i < pool->nservers; i++) {
        bw_server_conf *srv = pool->servers[i];
        if ((s->tried_mask >> (i & 31)) & 1u)
            continue;
        if (only_usable && !server_usable(srv, w->loop.now_ms))
            continue;
        if (breaker_open(srv, w->loop.now_ms))
            continue; /* even as a last resort: the origin asked for rest */
        bw_srv_rt *rt = srv_rt(w, s->conf, srv);
        if (rt && srv->max_conns && rt->active >= srv->max_conns)
            continue; /* at its cap: the origin is protected even from retries */
        if (pool->balance == BW_BALANCE_LEASTCONN) {
            double load = rt ? (double)rt->active / srv->weight : 0;
            if (best < 0 || load < best_load) {
                best = (int)i;
                best_load = load;
            }
        } else {
            if (!rt)
                return (int)i;
            rt->cur_weight += (int)srv->weight;
            total += srv->weight;
            if (best < 0 || rt->cur_weight > srv_rt(w, s->conf, pool->servers[best])->cur_weight)
                best = (int)i;
        }
    }
    if (best >= 0 && pool->balance != BW_BALANCE_LEASTCONN) {
        bw_srv_rt *rt = srv_rt(w, s->conf, pool->servers[best]);
        if (rt)
            rt->cur_weight -= (int)total;
    }
    return best;
}

static bw_upconn *upconn_alloc(bw_worker *w)
{
    bw_upconn *u = w->free_upconns;
    if (u) {
        w->free_upconns = u->next;
        w->nfree_upconns--;
    } else if (!(u = malloc(sizeof(*u))))
        return NULL;
    memset(u, 0, sizeof(*u));
    u->w = w;
    u->io.fd = -1;
    u->io.cb = upconn_event;
    bw_timer_init(&u->timer, upconn_timeout);
    return u;
}

static bw_upconn *idle_pop(bw_srv_rt *rt)
{
    bw_upconn *u = rt->idle;
    if (!u)
        return NULL;
    rt->idle = u->next;
    if (rt->idle)
        rt->idle->prev = NULL;
    rt->nidle--;
    u->prev = u->next = NULL;
    return u;
}

static void idle_remove(bw_srv_rt *rt, bw_upconn *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        rt->idle = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
    rt->nidle--;
}

/* Start a connection to srv.  Returns NULL if it failed at once. */
static bw_upconn *upconn_connect(bw_worker *w, bw_server_conf *srv, const char **why)
{
    int fd = socket(srv->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int r = connect(fd, (const struct sockaddr *)&srv->addr.ss, srv->addr.len);
    if (r < 0 && errno != EINPROGRESS) {
        *why = strerror(errno);
        close(fd);
        return NULL;
    }
    bw_upconn *u = upconn_alloc(w);
    if (!u) {
        close(fd);
        *why = "out of memory";
        return NULL;
    }
    u->io.fd = fd;
    u->server = srv;
    u->conf_gen = w->conf->generation;
    if (bw_loop_add(&w->loop, &u->io) < 0) {
        *why = strerror(errno);
        close(fd);
        u->io.fd = -1;
        u->next = w->free_upconns;
        w->free_upconns = u;
        w->nfree_upconns++;
        return NULL;
    }
    u->state = r == 0 ? BW_UP_ACTIVE : BW_UP_CONNECTING;
    u->writable = r == 0;
    bw_counter_add(&w->stats->upstream_conns_opened, 1);
    return u;
}

/* ---- origin protection: max_conns= and the site queue ---- */

static bw_site_queue *site_queue(bw_worker *w, const bw_stream *s)
{
    if (s->conf != w->conf || !w->queues || !s->site)
        return NULL;
    return &w->queues[s->site - s->conf->sites];
}

bool bw_upstream_must_wait(bw_stream *s)
{
    const bw_pool_conf *pool = &s->site->pool;
    bw_site_queue *q = pool->capped ? site_queue(s->c->w, s) : NULL;
    if (!q)
        return false;
    return q->len > 0 || bw_upstream_full(s); /* first come, first served */
}

bool bw_upstream_full(bw_stream *s)
{
    bw_worker *w = s->c->w;
    const bw_pool_conf *pool = &s->site->pool;
    if (!pool->capped || s->conf != w->conf)
        return false;
    for (size_t i = 0; i < pool->nservers; i++) {
        const bw_server_conf *srv = pool->servers[i];
        bw_srv_rt *rt = srv_rt(w, s->conf, srv);
        if (!srv->max_conns || !rt || rt->active < srv->max_conns)
            return false;
    }
    return true;
}

int bw_upstream_enqueue(bw_stream *s)
{
    bw_site_queue *q = site_queue(s->c->w, s);
    if (!q || q->len >= s->site->pool.max_queue)
        return -1;
    s->q_next = NULL;
    s->q_prev = q->tail;
    if (q->tail)
        q->tail->q_next = s;
    else
        q->head = s;
    q->tail = s;
    q->len++;
    s->queued = true;
    return 0;
}

void bw_upstream_dequeue(bw_stream *s)
{
    if (!s->queued)
        return;
    bw_site_queue *q = site_queue(s->c->w, s);
    s->queued = false;
    if (!q)
        return; /* the config changed: the queues were emptied (queues_release) */
    if (s->q_prev)
        s->q_prev->q_next = s->q_next;
    else
        q->head = s->q_next;
    if (s->q_next)
        s->q_next->q_prev = s->q_prev;
    else
        q->tail = s->q_prev;
    s->q_prev = s->q_next = NULL;
    q->len--;
}

/* A slot of the site of `done` freed up: the oldest waiter goes next.  It is
 * run from the worker's run-again list, not from here (we are inside
 * another stream's code). */
static void kick_queue(bw_worker *w, const bw_stream *done)
{
    bw_site_queue *q = site_queue(w, done);
    if (!q || !q->head)
        return;
    bw_stream *s = q->head;
    bw_upstream_dequeue(s);
    s->resume = true;
    bw_conn_defer(s->c);
}

/* Config switch: every waiter resumes (under its old config, uncapped). */
static void queues_release(bw_worker *w)
{
    if (!w->queues)
        return;
    for (size_t i = 0; i < w->conf->nsites; i++) {
        bw_site_queue *q = &w->queues[i];
        while (q->head) {
            bw_stream *s = q->head;
            q->head = s->q_next;
            s->queued = false;
            s->q_prev = s->q_next = NULL;
            s->resume = true;
            bw_conn_defer(s->c);
        }
        q->tail = NULL;
        q->len = 0;
    }
    free(w->queues);
    w->queues = NULL;
}

bw_upconn *bw_upstream_acquire(bw_stream *s)
{
    bw_worker *w = s->c->w;
    const bw_pool_conf *pool = &s->site->pool;
    while (s->tries <= pool->retries && s->tries < pool->nservers + 1u) {
        int i = pick_server(s, true);
        if (i < 0)
            i = pick_server(s, false);
        if (i < 0)
            return NULL;
        bw_server_conf *srv = pool->servers[i];
        s->tried_mask |= 1u << (i & 31);
        s->tries++;
        s->server = srv;
        bw_srv_rt *rt = srv_rt(w, s->conf, srv);
        bw_upconn *u = rt ? idle_pop(rt) : NULL;
        if (u) {
            bw_timer_cancel(&u->timer);
            u->state = BW_UP_ACTIVE;
            u->reused = true;
            u->writable = true;
            bw_counter_add(&w->stats->upstream_conns_reused, 1);
        } else {
            const char *why = "";
            u = upconn_connect(w, srv, &why);
            if (!u) {
                bw_log(BW_LOG_WARN, "origin %s for site %s: connect: %s", srv->addr.text,
                       s->site->name, why);
                bw_counter_add(&w->stats->sites[s->site->stats_slot].upstream_errors, 1);
                atomic_store_explicit(&srv->down_until_ms, w->loop.now_ms + pool->fail_timeout_ms,
                                      memory_order_relaxed);
                continue;
            }
            if (u->state == BW_UP_CONNECTING)
                bw_timer_arm(&w->loop, &u->timer, pool->connect_timeout_ms);
        }
        if (rt)
            rt->active++;
        u->s = s;
        s->u = u;
        s->upstream_start_us = 0;
        return u;
    }
    return NULL;
}

static void upconn_free(bw_upconn *u)
{
    bw_worker *w = u->w;
    bw_timer_cancel(&u->timer);
    if (u->io.fd >= 0) {
        bw_loop_del(&w->loop, &u->io);
        close(u->io.fd);
        u->io.fd = -1;
    }
    bw_buf_put(&w->pool, &u->in);
    u->dead = true;
    u->s = NULL;
    u->next = w->grave_ups;
    w->grave_ups = u;
}

void bw_upconn_close(bw_upconn *u)
{
    if (u->dead)
        return;
    if (u->state == BW_UP_IDLE) {
        bw_srv_rt *rt = srv_rt(u->w, u->w->conf, u->server);
        if (rt && u->conf_gen == u->w->conf->generation)
            idle_remove(rt, u);
    }
    upconn_free(u);
}

void bw_upstream_release(bw_upconn *u, bool reusable)
{
    bw_worker *w = u->w;
    bw_stream *s = u->s;
    bw_srv_rt *rt = s ? srv_rt(w, s->conf, u->server) : NULL;
    if (rt && rt->active)
        rt->active--;
    if (rt && u->server->max_conns)
        kick_queue(w, s);
    u->s = NULL;
    if (!reusable || !rt || u->conf_gen != w->conf->generation || w->draining ||
        rt->nidle >= s->site->pool.keepalive_max) {
        upconn_free(u);
        return;
    }
    u->state = BW_UP_IDLE;
    u->nrequests++;
    u->reused = false;
    bw_buf_put(&w->pool, &u->in);
    u->prev = NULL;
    u->next = rt->idle;
    if (rt->idle)
        rt->idle->prev = u;
    rt->idle = u;
    rt->nidle++;
    bw_timer_arm(&w->loop, &u->timer, s->site->pool.keepalive_idle_ms);
}

static void upconn_connected(bw_upconn *u)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    bw_stream *s = u->s;
    if (err) {
        bw_stream_upstream_failed(s, 502, strerror(err));
        return;
    }
    bw_timer_cancel(&u->timer);
    u->state = BW_UP_ACTIVE;
}

static void upconn_event(bw_loop *loop, bw_io *io, uint32_t events)
{
    (void)loop;
    bw_upconn *u = (bw_upconn *)io;
    if (u->dead)
        return;
    if (u->state == BW_UP_IDLE) {
        /* Input or a hang-up on an idle connection: the origin closed it
         * (or spoke unasked).  A bare EPOLLOUT edge (ACKs freeing send
         * space) means nothing. */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            bw_upconn_close(u);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        u->readable = true;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        u->writable = true;
    bw_stream *s = u->s;
    if (!s)
        return;
    bw_conn *c = s->c;
    if (u->state == BW_UP_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        upconn_connected(u);
    }
    if (!c->dead)
        bw_conn_run(c);
}

static void upconn_timeout(bw_loop *loop, bw_timer *t)
{
    (void)loop;
    bw_upconn *u = (bw_upconn *)((char *)t - offsetof(bw_upconn, timer));
    if (u->dead)
        return;
    if (u->state == BW_UP_IDLE) {
        bw_upconn_close(u);
        return;
    }
    bw_stream *s = u->s;
    if (!s) {
        bw_upconn_close(u);
        return;
    }
    bw_conn *c = s->c;
    if (u->state == BW_UP_CONNECTING)
        bw_stream_upstream_failed(s, 504, "connect timeout");
    else
        bw_stream_upstream_failed(s, 504, "timeout waiting for the origin");
    if (!c->dead)
        bw_conn_run(c);
}

void bw_upstream_rt_free(bw_worker *w)
{
    queues_release(w);
    if (!w->srv)
        return;
    for (size_t i = 0; i < w->conf->nservers; i++) {
        bw_upconn *u;
        while ((u = idle_pop(&w->srv[i])) != NULL)
            upconn_free(u);
    }
    free(w->srv);
    w->srv = NULL;
}

void bw_upstream_rt_reset(bw_worker *w)
{
    w->srv = calloc(w->conf->nservers ? w->conf->nservers : 1, sizeof(*w->srv));
    w->queues = calloc(w->conf->nsites ? w->conf->nsites : 1, sizeof(*w->queues));
}
