/*
 * stats.c - per-worker counters and site slots (see stats.h).
 *
 * Registration takes a mutex: it happens once per worker at start-up, never
 * on the request path.  The request path (bw_stats_request_done) touches
 * only the calling worker's own counters.
 */
#include "admin/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const int bw_stats_codes[BW_STATS_CODES] = {
    200, 201, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404,
    405, 408, 413, 414, 417, 421, 429, 431, 500, 502, 503, 504, 505,
};

const uint64_t bw_stats_lat_bounds_us[BW_STATS_LAT_BUCKETS] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static bw_worker_stats *workers[BW_STATS_MAX_WORKERS];
static _Atomic size_t nworkers;
static char *site_names[BW_STATS_MAX_SITES];
static _Atomic size_t nsites;

/* status -> index in bw_stats_codes + 1 (0: not kept individually). Built
 * once; read-only afterwards. */
static uint8_t code_index[600];
static pthread_once_t code_once = PTHREAD_ONCE_INIT;

static void build_code_index(void)
{
    for (int i = 0; i < BW_STATS_CODES; i++)
        code_index[bw_stats_codes[i]] = (uint8_t)(i + 1);
}

bw_worker_stats *bw_stats_worker_new(void)
{
    pthread_once(&code_once, build_code_index);
    bw_worker_stats *ws = aligned_alloc(64, (sizeof(*ws) + 63) & ~(size_t)63);
    if (!ws)
        return NULL;
    memset(ws, 0, sizeof(*ws));
    pthread_mutex_lock(&stats_lock);
    size_t n = atomic_load(&nworkers);
    if (n == BW_STATS_MAX_WORKERS) {
        pthread_mutex_unlock(&stats_lock);
        free(ws);
        return NULL;
    }
    workers[n] = ws;
    atomic_store(&nworkers, n + 1); /* release: readers see workers[n] set */
    pthread_mutex_unlock(&stats_lock);
    return ws;
}

size_t bw_stats_nworkers(void)
{
    return atomic_load(&nworkers);
}

bw_worker_stats *bw_stats_worker(size_t i)
{
    return i < atomic_load(&nworkers) ? workers[i] : NULL;
}

unsigned bw_stats_site_slot(const char *name)
{
    if (!name)
        return BW_STATS_MAX_SITES - 1;
    pthread_mutex_lock(&stats_lock);
    size_t n = atomic_load(&nsites);
    unsigned slot = BW_STATS_MAX_SITES - 1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(site_names[i], name) == 0) {
            slot = (unsigned)i;
            goto out;
        }
    }
    if (n < BW_STATS_MAX_SITES - 1) {
        site_names[n] = strdup(name);
        if (site_names[n]) {
            slot = (unsigned)n;
            atomic_store(&nsites, n + 1);
        }
    }
out:
    pthread_mutex_unlock(&stats_lock);
    return slot;
}

size_t bw_stats_nsites(void)
{
    return atomic_load(&nsites);
}

const char *bw_stats_site_name(unsigned slot)
{
    if (slot < atomic_load(&nsites))
        return site_names[slot];
    return slot == BW_STATS_MAX_SITES - 1 ? "_overflow" : NULL;
}

static void count_latency(bw_site_stats *st, uint64_t us)
{
    unsigned b = 0;
    while (b < BW_STATS_LAT_BUCKETS && us > bw_stats_lat_bounds_us[b])
        b++;
    bw_counter_add(&st->lat_bucket[b], 1);
    bw_counter_add(&st->lat_sum_us, us);
}

void bw_stats_request_done(bw_worker_stats *ws, unsigned slot, int status,
                           uint64_t bytes_in, uint64_t bytes_out, uint64_t upstream_us)
{
    if (slot >= BW_STATS_MAX_SITES)
        slot = BW_STATS_MAX_SITES - 1;
    bw_site_stats *st = &ws->sites[slot];
    bw_counter_add(&st->requests, 1);
    unsigned idx = status > 0 && status < 600 ? code_index[status] : 0;
    if (idx)
        bw_counter_add(&st->status[idx - 1], 1);
    else
        bw_counter_add(&st->status_other[status >= 100 && status < 600 ? status / 100 : 5], 1);
    bw_counter_add(&st->bytes_in, bytes_in);
    bw_counter_add(&st->bytes_out, bytes_out);
    if (upstream_us)
        count_latency(st, upstream_us);
}

void bw_stats_free_all(void)
{
    pthread_mutex_lock(&stats_lock);
    size_t n = atomic_load(&nworkers);
    for (size_t i = 0; i < n; i++) {
        free(workers[i]);
        workers[i] = NULL;
    }
    atomic_store(&nworkers, 0);
    n = atomic_load(&nsites);
    for (size_t i = 0; i < n; i++) {
        free(site_names[i]);
        site_names[i] = NULL;
    }
    atomic_store(&nsites, 0);
    pthread_mutex_unlock(&stats_lock);
}
