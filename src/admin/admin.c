/*
 * admin.c - the admin listener (see admin.h).
 *
 * One thread, one poll() loop over the listener, a wake-up eventfd and a few
 * client connections.  It is a low-traffic loopback endpoint, so it keeps to
 * simple code: a request is read into a small per-connection buffer, the
 * answer is rendered into a malloc'd string and written with Connection:
 * close.  It never touches worker state except to read counters.
 */
#include "admin/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/stats.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "core/version.h"
#include "shield/shield.h"

#define ADMIN_MAX_CLIENTS 32
#define ADMIN_REQ_MAX 4096
#define ADMIN_CLIENT_TIMEOUT_MS 5000

typedef struct admin_client {
    int fd;
    size_t len;
    uint64_t started_ms;
    char buf[ADMIN_REQ_MAX];
} admin_client;

static struct {
    pthread_t thread;
    bool running;
    int lfd, wakefd;
    char *token; /* copy of admin_token at start (NULL: none) */
    uint64_t start_ms;
    time_t start_wall;
    admin_client clients[ADMIN_MAX_CLIENTS];
} adm = {.lfd = -1, .wakefd = -1};


/* ---- merged counters ---------------------------------------------------- */

typedef struct merged_site {
    uint64_t requests, status[BW_STATS_CODES], status_other[6];
    uint64_t bytes_in, bytes_out, up_requests, up_errors;
    uint64_t lat[BW_STATS_LAT_BUCKETS + 1], lat_sum_us;
} merged_site;

typedef struct merged {
    uint64_t accepted, closed, shed, refused, slow_bodies, requests, bad_requests, up_opened,
        up_reused, queued, queue_timeouts, queue_full, refused_ip, reserve;
} merged;

static void merge_totals(merged *m)
{
    memset(m, 0, sizeof(*m));
    size_t n = bw_stats_nworkers();
    for (size_t i = 0; i < n; i++) {
        bw_worker_stats *ws = bw_stats_worker(i);
        m->accepted += bw_counter_get(&ws->conns_accepted);
        m->closed += bw_counter_get(&ws->conns_closed);
        m->shed += bw_counter_get(&ws->conns_shed);
        m->refused += bw_counter_get(&ws->conns_refused);
        m->refused_ip += bw_counter_get(&ws->conns_refused_ip);
        m->reserve += bw_counter_get(&ws->conns_reserve);
        m->slow_bodies += bw_counter_get(&ws->slow_bodies);
        m->queued += bw_counter_get(&ws->origin_queued);
        m->queue_timeouts += bw_counter_get(&ws->origin_queue_timeouts);
        m->queue_full += bw_counter_get(&ws->origin_queue_full);
        m->requests += bw_counter_get(&ws->requests);
        m->bad_requests += bw_counter_get(&ws->bad_requests);
        m->up_opened += bw_counter_get(&ws->upstream_conns_opened);
        m->up_reused += bw_counter_get(&ws->upstream_conns_reused);
    }
}

static void merge_site(unsigned slot, merged_site *ms)
{
    memset(ms, 0, sizeof(*ms));
    size_t n = bw_stats_nworkers();
    for (size_t i = 0; i < n; i++) {
        bw_site_stats *st = &bw_stats_worker(i)->sites[slot];
        ms->requests += bw_counter_get(&st->requests);
        for (int c = 0; c < BW_STATS_CODES; c++)
            ms->status[c] += bw_counter_get(&st->status[c]);
        for (int c = 0; c < 6; c++)
            ms->status_other[c] += bw_counter_get(&st->status_other[c]);
        ms->bytes_in += bw_counter_get(&st->bytes_in);
        ms->bytes_out += bw_counter_get(&st->bytes_out);
        ms->up_requests += bw_counter_get(&st->upstream_requests);
        ms->up_errors += bw_counter_get(&st->upstream_errors);
        for (int b = 0; b <= BW_STATS_LAT_BUCKETS; b++)
            ms->lat[b] += bw_counter_get(&st->lat_bucket[b]);
        ms->lat_sum_us += bw_counter_get(&st->lat_sum_us);
    }
}

/* Site slots to report: every registered one, plus the overflow slot (which
 * also counts requests refused before a site was known) when it has data. */
static size_t report_slots(unsigned out[BW_STATS_MAX_SITES])
{
    size_t n = bw_stats_nsites(), k = 0;
    for (size_t i = 0; i < n && i < BW_STATS_MAX_SITES - 1; i++)
        out[k++] = (unsigned)i;
    merged_site ms;
    merge_site(BW_STATS_MAX_SITES - 1, &ms);
    if (ms.requests)
        out[k++] = BW_STATS_MAX_SITES - 1;
    return k;
}

/* 0 until bw_admin_start ran (renders called directly, e.g. by tests). */
static double uptime_s(void)
{
    if (!adm.start_ms)
        return 0;
    return (double)(bw_clock_ms() - adm.start_ms) / 1000.0;
}

/* ---- /metrics ------------------------------------------------------------- */

static void metric_head(bw_sbuf *b, const char *name, const char *type, const char *help)
{
    bw_sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Process-wide counters with one unlabelled sample each, in /metrics order. */
static const struct {
    const char *name, *help;
    size_t off; /* into merged */
} total_metrics[] = {
    { "bulwark_connections_accepted_total", "Client connections accepted.",
      offsetof(merged, accepted) },
    { "bulwark_connections_shed_total",
      "Client connections closed to make room for new ones (slowest head first, then longest "
      "idle).",
      offsetof(merged, shed) },
    { "bulwark_connections_refused_total",
      "Client connections refused: full with nobody to shed, or out of descriptors.",
      offsetof(merged, refused) },
    { "bulwark_connections_over_ip_cap_total",
      "Client connections closed at once: over max_connections_per_ip or _per_prefix.",
      offsetof(merged, refused_ip) },
    { "bulwark_connections_reserve_total",
      "Client connections let into the reserve kept for clearance tokens (connection_reserve).",
      offsetof(merged, reserve) },
    { "bulwark_slow_bodies_total",
      "Requests cut because their body arrived slower than client_body_min_rate.",
      offsetof(merged, slow_bodies) },
    { "bulwark_origin_queued_total",
      "Requests that waited for a free origin slot (origins with max_conns= all busy).",
      offsetof(merged, queued) },
    { "bulwark_bad_requests_total",
      "Requests refused by the HTTP parser (malformed, smuggling, limits).",
      offsetof(merged, bad_requests) },
};

static void render_totals(bw_sbuf *b, const merged *m)
{
    for (size_t i = 0; i < sizeof(total_metrics) / sizeof(total_metrics[0]); i++) {
        uint64_t v;
        memcpy(&v, (const char *)m + total_metrics[i].off, sizeof(v));
        metric_head(b, total_metrics[i].name, "counter", total_metrics[i].help);
        bw_sb_printf(b, "%s %llu\n", total_metrics[i].name, (unsigned long long)v);
    }
}

static void site_label(bw_sbuf *b, const char *name, unsigned slot)
{
    bw_sb_printf(b, "%s{site=\"", name);
    bw_sb_escaped(b, bw_stats_site_name(slot));
    bw_sb_printf(b, "\"");
}

static void render_requests(bw_sbuf *b, const unsigned *slots, size_t n, const merged_site *ms)
{
    metric_head(b, "bulwark_requests_total", "counter", "Requests answered, by site and status code.");
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < BW_STATS_CODES; c++) {
            if (!ms[i].status[c])
                continue;
            site_label(b, "bulwark_requests_total", slots[i]);
            bw_sb_printf(b, ",code=\"%d\"} %llu\n", bw_stats_codes[c], (unsigned long long)ms[i].status[c]);
        }
        for (int c = 1; c < 6; c++) {
            if (!ms[i].status_other[c])
                continue;
            site_label(b, "bulwark_requests_total", slots[i]);
            bw_sb_printf(b, ",code=\"%dxx\"} %llu\n", c, (unsigned long long)ms[i].status_other[c]);
        }
    }
}

static void render_site_counter(bw_sbuf *b, const char *name, const char *help, const unsigned *slots,
                                size_t n, const merged_site *ms, size_t field_off)
{
    metric_head(b, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = *(const uint64_t *)((const char *)&ms[i] + field_off);
        site_label(b, name, slots[i]);
        bw_sb_printf(b, "} %llu\n", (unsigned long long)v);
    }
}

static void render_latency(bw_sbuf *b, const unsigned *slots, size_t n, const merged_site *ms)
{
    const char *name = "bulwark_upstream_latency_seconds";
    metric_head(b, name, "histogram", "Time from sending a request to the origin to its response head.");
    for (size_t i = 0; i < n; i++) {
        uint64_t cum = 0;
        for (int k = 0; k <= BW_STATS_LAT_BUCKETS; k++) {
            cum += ms[i].lat[k];
            site_label(b, "bulwark_upstream_latency_seconds_bucket", slots[i]);
            if (k < BW_STATS_LAT_BUCKETS)
                bw_sb_printf(b, ",le=\"%g\"} %llu\n", (double)bw_stats_lat_bounds_us[k] / 1e6,
                          (unsigned long long)cum);
            else
                bw_sb_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        site_label(b, "bulwark_upstream_latency_seconds_sum", slots[i]);
        bw_sb_printf(b, "} %.6f\n", (double)ms[i].lat_sum_us / 1e6);
        site_label(b, "bulwark_upstream_latency_seconds_count", slots[i]);
        bw_sb_printf(b, "} %llu\n", (unsigned long long)cum);
    }
}

static void render_origins(bw_sbuf *b)
{
    metric_head(b, "bulwark_origin_up", "gauge",
                "1 if the active health check considers the origin server up, else 0.");
    const bw_conf *conf = bw_conf_current();
    if (!conf)
        return;
    for (size_t i = 0; i < conf->nsites; i++) {
        const bw_site_conf *site = &conf->sites[i];
        for (size_t j = 0; j < site->pool.nservers; j++) {
            bw_server_conf *srv = site->pool.servers[j];
            bw_sb_printf(b, "bulwark_origin_up{site=\"");
            bw_sb_escaped(b, site->name);
            bw_sb_printf(b, "\",server=\"%s\"} %d\n", srv->addr.text,
                      atomic_load_explicit(&srv->healthy, memory_order_relaxed) ? 1 : 0);
        }
    }
}

char *bw_admin_render_metrics(size_t *len)
{
    bw_sbuf b = {0};
    merged m;
    merge_totals(&m);
    unsigned slots[BW_STATS_MAX_SITES];
    size_t n = report_slots(slots);
    merged_site *ms = calloc(n ? n : 1, sizeof(*ms));
    if (!ms)
        return NULL;
    for (size_t i = 0; i < n; i++)
        merge_site(slots[i], &ms[i]);

    metric_head(&b, "bulwark_build_info", "gauge", "Build information.");
    bw_sb_printf(&b, "bulwark_build_info{version=\"%s\"} 1\n", BW_VERSION);
    metric_head(&b, "bulwark_workers", "gauge", "Worker threads.");
    bw_sb_printf(&b, "bulwark_workers %zu\n", bw_stats_nworkers());
    metric_head(&b, "bulwark_uptime_seconds", "gauge", "Seconds since the process started.");
    bw_sb_printf(&b, "bulwark_uptime_seconds %.3f\n", uptime_s());
    metric_head(&b, "bulwark_connections_active", "gauge", "Client connections open now.");
    bw_sb_printf(&b, "bulwark_connections_active %llu\n",
              (unsigned long long)(m.accepted > m.closed ? m.accepted - m.closed : 0));
    render_totals(&b, &m);
    metric_head(&b, "bulwark_overload_level", "gauge",
                "Per worker: 0 keeping up, 1 challenging, 2 shedding visitors without a clearance "
                "token (overload_wait).");
    for (size_t i = 0; i < bw_stats_nworkers(); i++)
        bw_sb_printf(&b, "bulwark_overload_level{worker=\"%zu\"} %llu\n", i,
                     (unsigned long long)bw_counter_get(&bw_stats_worker(i)->overload_level));
    metric_head(&b, "bulwark_origin_queue_rejected_total", "counter",
                "Requests answered 503 instead of reaching a busy origin: queue_timeout or max_queue.");
    bw_sb_printf(&b, "bulwark_origin_queue_rejected_total{reason=\"timeout\"} %llu\n",
              (unsigned long long)m.queue_timeouts);
    bw_sb_printf(&b, "bulwark_origin_queue_rejected_total{reason=\"full\"} %llu\n",
              (unsigned long long)m.queue_full);
    render_requests(&b, slots, n, ms);
    render_site_counter(&b, "bulwark_received_bytes_total", "Request bytes received from clients.",
                        slots, n, ms, offsetof(merged_site, bytes_in));
    render_site_counter(&b, "bulwark_sent_bytes_total", "Response bytes sent to clients.", slots, n,
                        ms, offsetof(merged_site, bytes_out));
    render_site_counter(&b, "bulwark_upstream_requests_total", "Requests answered by an origin.",
                        slots, n, ms, offsetof(merged_site, up_requests));
    render_site_counter(&b, "bulwark_upstream_errors_total",
                        "Origin failures: connect refused or timed out, read timeout, invalid response.",
                        slots, n, ms, offsetof(merged_site, up_errors));
    render_latency(&b, slots, n, ms);
    metric_head(&b, "bulwark_upstream_connections_opened_total", "counter",
                "Connections opened to origins.");
    bw_sb_printf(&b, "bulwark_upstream_connections_opened_total %llu\n", (unsigned long long)m.up_opened);
    metric_head(&b, "bulwark_upstream_connections_reused_total", "counter",
                "Requests sent on a kept-alive origin connection.");
    bw_sb_printf(&b, "bulwark_upstream_connections_reused_total %llu\n", (unsigned long long)m.up_reused);
    render_origins(&b);
    bw_shield_render_metrics(&b);
    free(ms);
    return bw_sb_finish(&b, len);
}

/* ---- /api/v1/stats ----------------------------------------------------------- */

/* Quantile estimate from histogram buckets (upper bound of the bucket that
 * holds it, linear inside the bucket), in ms. */
static double lat_quantile_ms(const merged_site *ms, double q)
{
    uint64_t total = 0;
    for (int k = 0; k <= BW_STATS_LAT_BUCKETS; k++)
        total += ms->lat[k];
    if (!total)
        return 0;
    double rank = q * (double)total, cum = 0;
    for (int k = 0; k <= BW_STATS_LAT_BUCKETS; k++) {
        double next = cum + (double)ms->lat[k];
        if (next >= rank && ms->lat[k]) {
            double lo = k ? (double)bw_stats_lat_bounds_us[k - 1] : 0;
            double hi = k < BW_STATS_LAT_BUCKETS ? (double)bw_stats_lat_bounds_us[k] : lo;
            return (lo + (hi - lo) * (rank - cum) / (double)ms->lat[k]) / 1000.0;
        }
        cum = next;
    }
    return (double)bw_stats_lat_bounds_us[BW_STATS_LAT_BUCKETS - 1] / 1000.0;
}

static const bw_site_conf *site_by_name(const bw_conf *conf, const char *name)
{
    for (size_t i = 0; conf && i < conf->nsites; i++)
        if (strcmp(conf->sites[i].name, name) == 0)
            return &conf->sites[i];
    return NULL;
}

static void render_site_json(bw_sbuf *b, unsigned slot, const merged_site *ms, const bw_conf *conf)
{
    const char *name = bw_stats_site_name(slot);
    bw_sb_printf(b, "{\"name\":\"");
    bw_sb_escaped(b, name);
    bw_sb_printf(b, "\",\"requests\":%llu,\"status\":{", (unsigned long long)ms->requests);
    const char *sep = "";
    for (int c = 0; c < BW_STATS_CODES; c++) {
        if (ms->status[c]) {
            bw_sb_printf(b, "%s\"%d\":%llu", sep, bw_stats_codes[c], (unsigned long long)ms->status[c]);
            sep = ",";
        }
    }
    for (int c = 1; c < 6; c++) {
        if (ms->status_other[c]) {
            bw_sb_printf(b, "%s\"%dxx\":%llu", sep, c, (unsigned long long)ms->status_other[c]);
            sep = ",";
        }
    }
    bw_sb_printf(b, "},\"bytes_in\":%llu,\"bytes_out\":%llu,\"upstream_requests\":%llu,"
                 "\"upstream_errors\":%llu,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},\"origins\":[",
              (unsigned long long)ms->bytes_in, (unsigned long long)ms->bytes_out,
              (unsigned long long)ms->up_requests, (unsigned long long)ms->up_errors,
              lat_quantile_ms(ms, 0.5), lat_quantile_ms(ms, 0.99));
    const bw_site_conf *site = site_by_name(conf, name);
    for (size_t j = 0; site && j < site->pool.nservers; j++) {
        bw_server_conf *srv = site->pool.servers[j];
        bw_sb_printf(b, "%s{\"addr\":\"%s\",\"weight\":%u,\"up\":%s}", j ? "," : "", srv->addr.text,
                  srv->weight,
                  atomic_load_explicit(&srv->healthy, memory_order_relaxed) ? "true" : "false");
    }
    bw_sb_printf(b, "]}");
}

char *bw_admin_render_stats_json(size_t *len)
{
    bw_sbuf b = {0};
    merged m;
    merge_totals(&m);
    const bw_conf *conf = bw_conf_current();
    bw_sb_printf(&b,
              "{\"version\":\"%s\",\"uptime_s\":%.3f,\"workers\":%zu,\"config_generation\":%llu,"
              "\"connections\":{\"active\":%llu,\"accepted\":%llu,\"shed\":%llu,\"refused\":%llu},"
              "\"requests\":%llu,"
              "\"bad_requests\":%llu,\"upstream_connections\":{\"opened\":%llu,\"reused\":%llu},"
              "\"sites\":[",
              BW_VERSION, uptime_s(), bw_stats_nworkers(),
              (unsigned long long)(conf ? conf->generation : 0),
              (unsigned long long)(m.accepted > m.closed ? m.accepted - m.closed : 0),
              (unsigned long long)m.accepted, (unsigned long long)m.shed,
              (unsigned long long)m.refused, (unsigned long long)m.requests,
              (unsigned long long)m.bad_requests, (unsigned long long)m.up_opened,
              (unsigned long long)m.up_reused);
    unsigned slots[BW_STATS_MAX_SITES];
    size_t n = report_slots(slots);
    for (size_t i = 0; i < n; i++) {
        merged_site ms;
        merge_site(slots[i], &ms);
        if (i)
            bw_sb_printf(&b, ",");
        render_site_json(&b, slots[i], &ms, conf);
    }
    bw_sb_printf(&b, "],\"shield\":");
    bw_shield_render_stats_json(&b);
    bw_sb_printf(&b, "}\n");
    return bw_sb_finish(&b, len);
}

/* ---- the HTTP side ----------------------------------------------------------- */

static void send_all(int fd, const char *p, size_t len)
{
    uint64_t deadline = bw_clock_ms() + ADMIN_CLIENT_TIMEOUT_MS;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            uint64_t now = bw_clock_ms();
            if (now >= deadline)
                return;
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, (int)(deadline - now));
        } else {
            return;
        }
    }
}

static void respond(int fd, int status, const char *reason, const char *ctype, const char *body,
                    size_t blen, bool head_only)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                     status, reason, ctype, blen,
                     status == 401 ? "WWW-Authenticate: Bearer realm=\"bulwark\"\r\n" : "");
    send_all(fd, head, (size_t)n);
    if (!head_only)
        send_all(fd, body, blen);
}

/* Constant-time comparison, so response timing does not leak the token. */
static bool token_ok(const char *req, size_t len)
{
    if (!adm.token)
        return true;
    static const char key[] = "\r\nauthorization:";
    size_t tlen = strlen(adm.token);
    for (size_t i = 0; i + sizeof(key) - 1 < len; i++) {
        if (strncasecmp(req + i, key, sizeof(key) - 1) != 0)
            continue;
        const char *v = req + i + sizeof(key) - 1;
        const char *end = req + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        if (end - v < 7 || strncasecmp(v, "Bearer ", 7) != 0)
            return false;
        v += 7;
        const char *e = memchr(v, '\r', (size_t)(end - v));
        if (!e)
            return false;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        /* Constant time in the token, whatever the length sent: the
         * answer's timing must not tell how long the token is either. */
        size_t vlen = (size_t)(e - v);
        unsigned char diff = vlen != tlen;
        for (size_t k = 0; k < tlen; k++)
            diff |= (unsigned char)((k < vlen ? v[k] : 0) ^ adm.token[k]);
        return diff == 0;
    }
    return false;
}

static void handle_request(admin_client *cl)
{
    char *sp1 = memchr(cl->buf, ' ', cl->len);
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', cl->len - (size_t)(sp1 + 1 - cl->buf)) : NULL;
    if (!sp1 || !sp2) {
        respond(cl->fd, 400, "Bad Request", "text/plain", "bad request\n", 12, false);
        return;
    }
    bool is_get = sp1 - cl->buf == 3 && memcmp(cl->buf, "GET", 3) == 0;
    bool is_head = sp1 - cl->buf == 4 && memcmp(cl->buf, "HEAD", 4) == 0;
    if (!token_ok(cl->buf, cl->len)) {
        respond(cl->fd, 401, "Unauthorized", "text/plain", "admin token required\n", 21, is_head);
        return;
    }
    if (!is_get && !is_head) {
        respond(cl->fd, 405, "Method Not Allowed", "text/plain", "GET only\n", 9, false);
        return;
    }
    size_t plen = (size_t)(sp2 - sp1 - 1);
    const char *path = sp1 + 1;
    const char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path);
#define PATH_IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
    char *body = NULL;
    size_t blen = 0;
    if (PATH_IS("/healthz")) {
        respond(cl->fd, 200, "OK", "text/plain", "ok\n", 3, is_head);
    } else if (PATH_IS("/metrics")) {
        body = bw_admin_render_metrics(&blen);
        if (body)
            respond(cl->fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, blen, is_head);
        else
            respond(cl->fd, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, false);
    } else if (PATH_IS("/api/v1/stats")) {
        body = bw_admin_render_stats_json(&blen);
        if (body)
            respond(cl->fd, 200, "OK", "application/json", body, blen, is_head);
        else
            respond(cl->fd, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, false);
    } else if (PATH_IS("/api/v1/attacks")) {
        body = bw_shield_render_attacks_json(&blen);
        if (body)
            respond(cl->fd, 200, "OK", "application/json", body, blen, is_head);
        else
            respond(cl->fd, 500, "Internal Server Error", "text/plain", "out of memory\n", 14, false);
    } else {
        static const char nf[] = "not found: try /metrics, /healthz, /api/v1/stats, /api/v1/attacks\n";
        respond(cl->fd, 404, "Not Found", "text/plain", nf, sizeof nf - 1, is_head);
    }
#undef PATH_IS
    free(body);
}

static void client_close(admin_client *cl)
{
    close(cl->fd);
    cl->fd = -1;
    cl->len = 0;
}

/* Read what is there; answer once the head is complete (or too big). */
static void client_read(admin_client *cl)
{
    for (;;) {
        ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len, 0);
        if (n > 0) {
            cl->len += (size_t)n;
            cl->buf[cl->len] = '\0';
            if (memmem(cl->buf, cl->len, "\r\n\r\n", 4)) {
                handle_request(cl);
                client_close(cl);
                return;
            }
            if (cl->len == sizeof(cl->buf) - 1) {
                respond(cl->fd, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10,
                        false);
                client_close(cl);
                return;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else {
            client_close(cl);
            return;
        }
    }
}

static void accept_clients(void)
{
    for (;;) {
        int fd = accept4(adm.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        admin_client *slot = NULL;
        for (int i = 0; i < ADMIN_MAX_CLIENTS && !slot; i++)
            if (adm.clients[i].fd < 0)
                slot = &adm.clients[i];
        if (!slot) {
            close(fd); /* full: a scraper retries */
            continue;
        }
        slot->fd = fd;
        slot->len = 0;
        slot->started_ms = bw_clock_ms();
    }
}

static void *admin_main(void *arg)
{
    (void)arg;
    struct pollfd pfds[ADMIN_MAX_CLIENTS + 2];
    admin_client *owners[ADMIN_MAX_CLIENTS + 2];
    for (;;) {
        int n = 0;
        pfds[n++] = (struct pollfd){.fd = adm.wakefd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = adm.lfd, .events = POLLIN};
        uint64_t now = bw_clock_ms();
        for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
            admin_client *cl = &adm.clients[i];
            if (cl->fd < 0)
                continue;
            if (now - cl->started_ms > ADMIN_CLIENT_TIMEOUT_MS) {
                client_close(cl);
                continue;
            }
            owners[n] = cl;
            pfds[n++] = (struct pollfd){.fd = cl->fd, .events = POLLIN};
        }
        if (poll(pfds, (nfds_t)n, 1000) < 0 && errno != EINTR)
            break;
        if (pfds[0].revents)
            break;
        if (pfds[1].revents)
            accept_clients();
        for (int i = 2; i < n; i++)
            if (pfds[i].revents)
                client_read(owners[i]);
    }
    return NULL;
}

static int admin_listen(const bw_addr *addr)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int bw_admin_start(const bw_conf *conf)
{
    if (!adm.start_ms)
        adm.start_ms = bw_clock_ms();
    if (adm.running)
        bw_admin_stop();
    adm.lfd = admin_listen(&conf->admin);
    if (adm.lfd < 0) {
        bw_log(BW_LOG_ERROR, "admin: cannot listen on %s: %s", conf->admin.text, strerror(errno));
        return -1;
    }
    adm.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    adm.token = conf->admin_token ? strdup(conf->admin_token) : NULL;
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
        adm.clients[i].fd = -1;
    if (adm.wakefd < 0 || pthread_create(&adm.thread, NULL, admin_main, NULL) != 0) {
        bw_log(BW_LOG_ERROR, "admin: cannot start its thread");
        close(adm.lfd);
        if (adm.wakefd >= 0)
            close(adm.wakefd);
        adm.lfd = adm.wakefd = -1;
        free(adm.token);
        adm.token = NULL;
        return -1;
    }
    adm.running = true;
    return 0;
}

void bw_admin_stop(void)
{
    if (!adm.running)
        return;
    uint64_t one = 1;
    if (write(adm.wakefd, &one, sizeof(one)) < 0)
        bw_log(BW_LOG_WARN, "admin: wake-up failed: %s", strerror(errno));
    pthread_join(adm.thread, NULL);
    for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
        if (adm.clients[i].fd >= 0)
            client_close(&adm.clients[i]);
    close(adm.lfd);
    close(adm.wakefd);
    adm.lfd = adm.wakefd = -1;
    free(adm.token);
    adm.token = NULL;
    adm.running = false;
}
