/*
 * health.c - the active health checker (see health.h).
 *
 * One probe per server at a time, all in flight together under one poll():
 * a probe is a non-blocking connect, then (with a path) a one-line GET and
 * the status line of the answer.  State is indexed by server index and
 * rebuilt when a new config generation appears; new servers start healthy
 * so a reload never takes a working origin out of rotation.
 */
#include "proxy/health.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/conf.h"
#include "core/log.h"

enum probe_phase { PROBE_IDLE, PROBE_CONNECTING, PROBE_READING };

typedef struct probe {
    bw_server_conf *srv;
    const bw_pool_conf *pool;
    const char *site;
    int fd;
    int phase;
    uint64_t deadline_ms, next_ms;
    unsigned oks, fails;
    size_t got;
    char buf[64];
} probe_t;

static pthread_t thread;
static _Atomic int stopping;
static bool started;

static void probe_close(probe_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->phase = PROBE_IDLE;
}

static void probe_result(probe_t *p, bool ok, const char *why, uint64_t now)
{
    probe_close(p);
    p->next_ms = now + p->pool->hc_interval_ms;
    bool healthy = atomic_load_explicit(&p->srv->healthy, memory_order_relaxed);
    if (ok) {
        p->fails = 0;
        if (!healthy && ++p->oks >= p->pool->hc_rise) {
            atomic_store_explicit(&p->srv->healthy, 1, memory_order_relaxed);
            bw_log(BW_LOG_NOTICE, "origin %s of site %s is up", p->srv->addr.text, p->site);
        }
    } else {
        p->oks = 0;
        if (healthy && ++p->fails >= p->pool->hc_fall) {
            atomic_store_explicit(&p->srv->healthy, 0, memory_order_relaxed);
            bw_log(BW_LOG_WARN, "origin %s of site %s is down: %s", p->srv->addr.text, p->site, why);
        }
    }
}

static void probe_start(probe_t *p, uint64_t now)
{
    p->fd = socket(p->srv->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        probe_result(p, false, strerror(errno), now);
        return;
    }
    p->got = 0;
    p->deadline_ms = now + p->pool->hc_timeout_ms;
    if (connect(p->fd, (const struct sockaddr *)&p->srv->addr.ss, p->srv->addr.len) < 0 &&
        errno != EINPROGRESS) {
        probe_result(p, false, strerror(errno), now);
        return;
    }
    p->phase = PROBE_CONNECTING;
}

static void probe_connected(probe_t *p, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        probe_result(p, false, strerror(err), now);
        return;
    }
    if (!p->pool->hc_path) {
        probe_result(p, true, NULL, now);
        return;
    }
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bulwark-health\r\nConnection: close\r\n\r\n",
                     p->pool->hc_path, p->site[0] == '*' || p->site[0] == '_' ? "localhost" : p->site);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(p->fd, req, (size_t)n) != n) {
        probe_result(p, false, "cannot send the check request", now);
        return;
    }
    p->phase = PROBE_READING;
}

static void probe_read(probe_t *p, uint64_t now)
{
    ssize_t n = read(p->fd, p->buf + p->got, sizeof(p->buf) - 1 - p->got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        probe_result(p, false, "connection closed before a status line", now);
        return;
    }
    p->got += (size_t)n;
    p->buf[p->got] = '\0';
    if (p->got < 12)
        return;
    int status = 0;
    if (strncmp(p->buf, "HTTP/1.", 7) != 0 || sscanf(p->buf + 9, "%3d", &status) != 1) {
        probe_result(p, false, "invalid status line", now);
        return;
    }
    char why[48];
    snprintf(why, sizeof(why), "health check got status %d", status);
    probe_result(p, status >= 200 && status < 400, why, now);
}

static probe_t *probes_build(const bw_conf *conf, size_t *n)
{
    probe_t *ps = calloc(conf->nservers ? conf->nservers : 1, sizeof(*ps));
    if (!ps)
        return NULL;
    for (size_t i = 0; i < conf->nsites; i++) {
        const bw_site_conf *site = &conf->sites[i];
        for (size_t j = 0; j < site->pool.nservers; j++) {
            probe_t *p = &ps[site->pool.servers[j]->index];
            p->srv = site->pool.servers[j];
            p->pool = &site->pool;
            p->site = site->name;
            p->fd = -1;
        }
    }
    *n = conf->nservers;
    return ps;
}

static void *health_main(void *arg)
{
    (void)arg;
    bw_conf *conf = NULL;
    probe_t *ps = NULL;
    size_t n = 0;
    struct pollfd *pfd = NULL;
    while (!atomic_load(&stopping)) {
        bw_conf *cur = bw_conf_current();
        if (cur != conf) {
            for (size_t i = 0; i < n; i++)
                probe_close(&ps[i]);
            free(ps);
            free(pfd);
            conf = cur;
            ps = probes_build(conf, &n);
            pfd = calloc(n ? n : 1, sizeof(*pfd));
            if (!ps || !pfd)
                break;
        }
        uint64_t now = bw_clock_ms();
        int wait = 200;
        for (size_t i = 0; i < n; i++) {
            probe_t *p = &ps[i];
            pfd[i].fd = -1;
            if (!p->srv || p->pool->hc_interval_ms == 0)
                continue;
            if (p->phase == PROBE_IDLE && now >= p->next_ms)
                probe_start(p, now);
            if (p->phase != PROBE_IDLE && now >= p->deadline_ms)
                probe_result(p, false, "health check timed out", now);
            if (p->phase == PROBE_IDLE) {
                int64_t d = (int64_t)p->next_ms - (int64_t)now;
                if (d < wait)
                    wait = d < 0 ? 0 : (int)d;
                continue;
            }
            pfd[i].fd = p->fd;
            pfd[i].events = p->phase == PROBE_CONNECTING ? POLLOUT : POLLIN;
            int64_t d = (int64_t)p->deadline_ms - (int64_t)now;
            if (d < wait)
                wait = d < 0 ? 0 : (int)d;
        }
        if (poll(pfd, n, wait) <= 0)
            continue;
        now = bw_clock_ms();
        for (size_t i = 0; i < n; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            if (ps[i].phase == PROBE_CONNECTING)
                probe_connected(&ps[i], now);
            else if (ps[i].phase == PROBE_READING)
                probe_read(&ps[i], now);
        }
    }
    for (size_t i = 0; i < n; i++)
        probe_close(&ps[i]);
    free(ps);
    free(pfd);
    return NULL;
}

int bw_health_start(void)
{
    if (pthread_create(&thread, NULL, health_main, NULL) != 0)
        return -1;
    pthread_setname_np(thread, "bw-health");
    started = true;
    return 0;
}

void bw_health_stop(void)
{
    if (!started)
        return;
    atomic_store(&stopping, 1);
    pthread_join(thread, NULL);
    started = false;
}
