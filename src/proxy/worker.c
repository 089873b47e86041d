/*
 * worker.c - worker threads: listeners, accept, the loop, config switches
 * and graceful drain.
 *
 * Per loop round a worker: waits for events (at most 1 s), dispatches them,
 * recycles the objects closed during the round (the graveyard: an event
 * fetched in the same epoll batch may still name them), and checks two
 * atomics: the published config generation and the stop flag.
 */
#include "proxy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/proxy.h"
#include "shield/shield.h"

#define ACCEPT_BATCH 64
#define FREE_LIST_MAX 4096   /* conns/upconns kept for reuse after a peak */
#define BUF_POOL_MAX 64      /* 1 MiB of idle I/O buffers per worker at most */

static bw_worker *workers[BW_STATS_MAX_WORKERS];
static pthread_t threads[BW_STATS_MAX_WORKERS];
static unsigned nworkers;
static _Atomic int stop_requested;
static _Atomic unsigned workers_ready;
static _Atomic unsigned workers_failed;

static int listener_socket(const bw_addr *a, char *err, size_t errlen)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", a->text, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 4096) < 0) {
        snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int bw_listeners_check(const bw_conf *conf, const bw_conf *running, char *err, size_t errlen)
{
    for (size_t i = 0; i < conf->nlistens; i++) {
        bool already = false;
        for (size_t j = 0; running && j < running->nlistens; j++)
            if (strcmp(running->listens[j].addr.text, conf->listens[i].addr.text) == 0)
                already = true;
        if (already)
            continue;
        int fd = listener_socket(&conf->listens[i].addr, err, errlen);
        if (fd < 0)
            return -1;
        close(fd);
    }
    return 0;
}

/* Make room for one more client: close the connection least worth keeping
 * (bw_conn_shed_victim).  false if every connection is doing real work. */
static bool shed_one(bw_worker *w)
{
    bw_conn *v = bw_conn_shed_victim(w);
    if (!v)
        return false;
    bw_conn_close(v);
    bw_counter_add(&w->stats->conns_shed, 1);
    return true;
}

/* Past this many connections a newcomer is first made room for by
 * shedding; if nobody can be shed it is let into the reserve, where its
 * first request must show a clearance token (else 503), until the worker
 * is full (docs/LIMITS.md). */
static size_t reserve_threshold(const bw_conf *cf)
{
    return cf->max_connections - (size_t)cf->max_connections * cf->conn_reserve_pct / 100;
}

static void overload_changed(bw_worker *w)
{
    static const char *const what[] = {
        "keeping up again",
        "overloaded: visitors without a clearance token are challenged",
        "overloaded: visitors without a clearance token get 503",
    };
    bw_log(w->ovl.level ? BW_LOG_WARN : BW_LOG_NOTICE, "worker %u: %s (clients waited %u ms)", w->id,
           what[w->ovl.level], w->ovl.last_wait_ms);
    atomic_store_explicit(&w->stats->overload_level, w->ovl.level, memory_order_relaxed);
}

void bw_worker_overload_sample(bw_worker *w, int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
        len < offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof ti.tcpi_last_data_recv)
        return;
    /* for a connection not yet read: since its handshake or its latest
     * bytes, whichever came last (the kernel's jiffies, 1-4 ms steps) */
    if (bw_overload_note(&w->ovl, ti.tcpi_last_data_recv, w->conf->overload_wait_ms, w->loop.now_ms))
        overload_changed(w);
}

/* Out of file descriptors with nobody to shed: take the connection off the
 * queue with the spare descriptor and close it at once, so the listener
 * (level-triggered) does not spin and the client learns right away. */
static void refuse_with_spare_fd(bw_worker *w, int lfd)
{
    if (w->spare_fd < 0)
        return;
    close(w->spare_fd);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bw_counter_add(&w->stats->conns_refused, 1);
}

static void on_accept(bw_loop *loop, bw_io *io, uint32_t events)
{
    (void)loop;
    (void)events;
    bw_listener *l = (bw_listener *)io;
    bw_worker *w = l->w;
    unsigned idx = (unsigned)(l - w->listeners);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                if (shed_one(w))
                    continue; /* an fd is free again: retry */
                refuse_with_spare_fd(w, io->fd);
                if (!w->fd_limit_logged) {
                    w->fd_limit_logged = true;
                    bw_log(BW_LOG_ERROR, "worker %u: accept on %s: %s (refusing new clients "
                           "until descriptors are free)", w->id, l->addr.text, strerror(errno));
                }
            }
            return;
        }
        if (w->draining) {
            close(fd);
            continue;
        }
        if (bw_overload_sample_due(&w->ovl, w->loop.now_ms))
            bw_worker_overload_sample(w, fd);
        bool reserve = false;
        if (w->nconns >= reserve_threshold(w->conf) && !shed_one(w)) {
            if (w->nconns >= w->conf->max_connections) {
                close(fd);
                bw_counter_add(&w->stats->conns_refused, 1);
                continue;
            }
            reserve = true;
            bw_counter_add(&w->stats->conns_reserve, 1);
        }
        bw_conn_accepted(w, fd, (struct sockaddr *)&ss, idx, reserve);
    }
}

static void listener_close(bw_worker *w, unsigned i)
{
    bw_listener *l = &w->listeners[i];
    if (l->io.fd >= 0) {
        bw_loop_del(&w->loop, &l->io);
        close(l->io.fd);
        l->io.fd = -1;
    }
}

static const bw_listen_conf *conf_listen(const bw_conf *conf, const char *text)
{
    for (size_t i = 0; i < conf->nlistens; i++)
        if (strcmp(conf->listens[i].addr.text, text) == 0)
            return &conf->listens[i];
    return NULL;
}

/* Make the open listeners match w->conf: close the ones it dropped, open the
 * ones it added.  Slots never move (epoll points at them); closed slots
 * (fd -1) are reused. */
static int listeners_sync(bw_worker *w)
{
    const bw_conf *conf = w->conf;
    int rc = 0;
    for (unsigned j = 0; j < w->nlisteners; j++) {
        bw_listener *l = &w->listeners[j];
        if (l->io.fd < 0)
            continue;
        const bw_listen_conf *lc = conf_listen(conf, l->addr.text);
        if (lc)
            l->proxy_protocol = lc->proxy_protocol;
        else
            listener_close(w, j);
    }
    for (size_t i = 0; i < conf->nlistens; i++) {
        const bw_listen_conf *lc = &conf->listens[i];
        unsigned slot = w->nlisteners;
        bool open = false;
        for (unsigned j = 0; j < w->nlisteners; j++) {
            if (w->listeners[j].io.fd >= 0 && strcmp(w->listeners[j].addr.text, lc->addr.text) == 0)
                open = true;
            else if (w->listeners[j].io.fd < 0 && slot == w->nlisteners)
                slot = j;
        }
        if (open)
            continue;
        if (slot == BW_WORKER_MAX_LISTENERS) {
            bw_log(BW_LOG_ERROR, "worker %u: more than %d listeners", w->id, BW_WORKER_MAX_LISTENERS);
            return -1;
        }
        char err[256];
        int fd = listener_socket(&lc->addr, err, sizeof(err));
        if (fd < 0) {
            bw_log(BW_LOG_ERROR, "worker %u: %s", w->id, err);
            rc = -1;
            continue;
        }
        bw_listener *l = &w->listeners[slot];
        *l = (bw_listener){ .io = { fd, on_accept }, .w = w, .addr = lc->addr,
                            .proxy_protocol = lc->proxy_protocol };
        if (bw_loop_add_in(&w->loop, &l->io) < 0) {
            bw_log(BW_LOG_ERROR, "worker %u: epoll: %s", w->id, strerror(errno));
            listener_close(w, slot);
            rc = -1;
            continue;
        }
        if (slot == w->nlisteners)
            w->nlisteners++;
    }
    return rc;
}

static void reopen_access_log(bw_worker *w)
{
    if (w->alog)
        bw_alog_close(w->alog);
    w->alog = bw_alog_open(w->conf->access_log);
}

/* The per-IP/prefix tables hold at most max_connections live keys: resize
 * (and recount the open connections) when a config raises it. */
static void ipcount_sync(bw_worker *w)
{
    size_t want = w->conf->max_connections;
    if (w->ipcount_keys >= want && w->per_ip.slots)
        return;
    bw_ipcount_free(&w->per_ip);
    bw_ipcount_free(&w->per_prefix);
    if (bw_ipcount_init(&w->per_ip, want) < 0 || bw_ipcount_init(&w->per_prefix, want) < 0) {
        bw_log(BW_LOG_ERROR, "worker %u: no memory for the per-address tables: caps off", w->id);
        bw_ipcount_free(&w->per_ip);
        bw_ipcount_free(&w->per_prefix);
        w->ipcount_keys = 0;
        for (bw_conn *c = w->conns; c; c = c->next)
            c->ip_counted = false;
        return;
    }
    w->ipcount_keys = want;
    for (bw_conn *c = w->conns; c; c = c->next) {
        if (!c->ip_counted)
            continue;
        bw_ipkey ip = bw_conn_peer_key(c, false), pfx = bw_conn_peer_key(c, true);
        bw_ipcount_take(&w->per_ip, &ip, 0);
        bw_ipcount_take(&w->per_prefix, &pfx, 0);
    }
}

static void worker_sync_conf(bw_worker *w)
{
    bw_conf *cur = bw_conf_current();
    if (cur == w->conf)
        return;
    bw_upstream_rt_free(w);
    w->conf = cur;
    bw_upstream_rt_reset(w);
    ipcount_sync(w);
    listeners_sync(w);
    reopen_access_log(w);
    bw_loop_set_coalesce(&w->loop, cur->event_coalesce_us);
    /* Connections already open keep running; their next requests use the
     * new sites and origins. */
}

/* Closed objects go back to the free lists (up to FREE_LIST_MAX each) once
 * the round that closed them is over.  Runs every loop iteration: the list
 * lengths are kept, never counted by walking. */
static void bury(bw_worker *w)
{
    while (w->grave_conns) {
        bw_conn *c = w->grave_conns;
        w->grave_conns = c->next;
        if (w->nfree_conns < FREE_LIST_MAX) {
            c->next = w->free_conns;
            w->free_conns = c;
            w->nfree_conns++;
        } else {
            free(c);
        }
    }
    while (w->grave_ups) {
        bw_upconn *u = w->grave_ups;
        w->grave_ups = u->next;
        if (w->nfree_upconns < FREE_LIST_MAX) {
            u->next = w->free_upconns;
            w->free_upconns = u;
            w->nfree_upconns++;
        } else {
            free(u);
        }
    }
}

static void on_wake(bw_loop *loop, bw_io *io, uint32_t events)
{
    (void)loop;
    (void)events;
    uint64_t v;
    if (read(io->fd, &v, sizeof(v)) < 0) {
        /* nothing: the counter is reset by a successful read only */
    }
}

static void worker_start_drain(bw_worker *w)
{
    w->draining = true;
    w->drain_deadline_ms = w->loop.now_ms + w->conf->shutdown_timeout_ms;
    for (unsigned i = 0; i < w->nlisteners; i++)
        listener_close(w, i);
    w->nlisteners = 0;
    bw_conn *c = w->conns;
    while (c) {
        bw_conn *next = c->next;
        bw_conn_drain(c);
        c = next;
    }
    bw_upstream_rt_free(w);
    bw_upstream_rt_reset(w);
}

static void worker_cleanup(bw_worker *w)
{
    while (w->conns)
        bw_conn_close(w->conns);
    bw_upstream_rt_free(w);
    bury(w);
    while (w->free_conns) {
        bw_conn *c = w->free_conns;
        w->free_conns = c->next;
        free(c);
    }
    while (w->free_upconns) {
        bw_upconn *u = w->free_upconns;
        w->free_upconns = u->next;
        free(u);
    }
    while (w->free_streams) {
        bw_stream *s = w->free_streams;
        w->free_streams = s->next_free;
        free(s);
    }
    for (unsigned i = 0; i < w->nlisteners; i++)
        listener_close(w, i);
    if (w->alog)
        bw_alog_close(w->alog);
    close(w->wake.fd);
    if (w->spare_fd >= 0)
        close(w->spare_fd);
    bw_ipcount_free(&w->per_ip);
    bw_ipcount_free(&w->per_prefix);
    bw_bufpool_destroy(&w->pool);
    bw_loop_destroy(&w->loop);
}

static void *worker_main(void *arg)
{
    bw_worker *w = arg;
    w->conf = bw_conf_current();
    bw_upstream_rt_reset(w);
    ipcount_sync(w);
    int rc = listeners_sync(w);
    reopen_access_log(w);
    bw_loop_set_coalesce(&w->loop, w->conf->event_coalesce_us);
    if (rc < 0)
        atomic_fetch_add(&workers_failed, 1);
    atomic_fetch_add(&workers_ready, 1);

    while (!w->stopped) {
        bw_loop_run_once(&w->loop, w->again ? 0 : 1000);
        bw_worker_run_deferred(w);
        bury(w);
        bw_shield_quiescent(w->shield);
        if (bw_overload_tick(&w->ovl, w->loop.now_ms))
            overload_changed(w);
        worker_sync_conf(w);
        if (atomic_load_explicit(&stop_requested, memory_order_acquire) && !w->draining)
            worker_start_drain(w);
        if (w->draining && (w->nconns == 0 || w->loop.now_ms >= w->drain_deadline_ms))
            w->stopped = true;
        if (w->alog)
            bw_alog_tick(w->alog, w->loop.now_ms);
    }
    if (w->nconns)
        bw_log(BW_LOG_WARN, "worker %u: shutdown timeout, closing %zu connections", w->id, w->nconns);
    worker_cleanup(w);
    return NULL;
}

static bw_worker *worker_new(unsigned id)
{
    bw_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->id = id;
    if (bw_loop_init(&w->loop) < 0) {
        free(w);
        return NULL;
    }
    bw_bufpool_init(&w->pool, BUF_POOL_MAX);
    w->stats = bw_stats_worker_new();
    w->shield = bw_shield_worker_new(id);
    w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->wake.cb = on_wake;
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!w->stats || !w->shield || w->wake.fd < 0 || bw_loop_add_in(&w->loop, &w->wake) < 0) {
        bw_loop_destroy(&w->loop);
        free(w);
        return NULL;
    }
    if (getrandom(&w->rid_seed, sizeof(w->rid_seed), 0) != sizeof(w->rid_seed))
        w->rid_seed = (uint64_t)time(NULL) ^ ((uint64_t)id << 56);
    return w;
}

int bw_workers_start(unsigned n)
{
    if (n > BW_STATS_MAX_WORKERS)
        n = BW_STATS_MAX_WORKERS;
    for (unsigned i = 0; i < n; i++) {
        bw_worker *w = worker_new(i);
        if (!w) {
            bw_log(BW_LOG_ERROR, "worker %u: cannot initialise: %s", i, strerror(errno));
            break;
        }
        char name[16];
        snprintf(name, sizeof(name), "bw-worker-%u", i);
        if (pthread_create(&threads[i], NULL, worker_main, w) != 0) {
            bw_log(BW_LOG_ERROR, "worker %u: cannot start a thread", i);
            break;
        }
        pthread_setname_np(threads[i], name);
        workers[nworkers++] = w;
    }
    while (atomic_load(&workers_ready) < nworkers) {
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    if (nworkers < n || atomic_load(&workers_failed)) {
        bw_workers_stop();
        bw_workers_join();
        return -1;
    }
    return 0;
}

unsigned bw_workers_count(void)
{
    return nworkers;
}

void bw_workers_wake(void)
{
    uint64_t one = 1;
    for (unsigned i = 0; i < nworkers; i++)
        if (write(workers[i]->wake.fd, &one, sizeof(one)) < 0) {
            /* the counter is full: the worker is awake anyway */
        }
}

void bw_workers_stop(void)
{
    atomic_store_explicit(&stop_requested, 1, memory_order_release);
    bw_workers_wake();
}

void bw_workers_join(void)
{
    for (unsigned i = 0; i < nworkers; i++) {
        pthread_join(threads[i], NULL);
        free(workers[i]);
        workers[i] = NULL;
    }
    nworkers = 0;
}
