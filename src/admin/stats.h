/*
 * stats.h - per-worker counters, merged only when read.
 *
 * Each worker owns one bw_worker_stats and is its only writer; the admin
 * thread reads all of them.  Writes are relaxed atomic load+store (a plain
 * add on x86, no lock prefix), reads are relaxed loads: a reader may see a
 * value a few requests old, never a torn one.
 *
 * Sites are counted in "slots": bw_stats_site_slot() maps a site name to a
 * slot once, at config load (main thread), so reloads keep a site's counters.
 */
#ifndef BW_ADMIN_STATS_H
#define BW_ADMIN_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef _Atomic uint64_t bw_counter;

static inline void bw_counter_add(bw_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t bw_counter_get(bw_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#define BW_STATS_MAX_SITES 256
#define BW_STATS_MAX_WORKERS 64

/* Status codes kept individually; anything else lands in its class' "other". */
#define BW_STATS_CODES 26
extern const int bw_stats_codes[BW_STATS_CODES];

/* Upstream latency histogram upper bounds, in microseconds (+Inf implied). */
#define BW_STATS_LAT_BUCKETS 14
extern const uint64_t bw_stats_lat_bounds_us[BW_STATS_LAT_BUCKETS];

typedef struct bw_site_stats {
    bw_counter requests;
    bw_counter status[BW_STATS_CODES];
    bw_counter status_other[6];      /* index = status / 100 (1..5), 0 unused */
    bw_counter bytes_in;             /* request bytes from clients (head + body) */
    bw_counter bytes_out;            /* response bytes to clients (head + body) */
    bw_counter upstream_requests;    /* requests that got an origin response */
    bw_counter upstream_errors;      /* connect failure / timeout / invalid response */
    bw_counter lat_bucket[BW_STATS_LAT_BUCKETS + 1]; /* last = +Inf (not cumulative) */
    bw_counter lat_sum_us;
} bw_site_stats;

typedef struct bw_worker_stats {
    bw_counter conns_accepted;
    bw_counter conns_closed;         /* active = accepted - closed */
    bw_counter conns_shed;           /* closed to make room for a new client (part of closed) */
    bw_counter conns_refused;        /* not accepted: full, nobody to shed (not in accepted) */
    bw_counter conns_refused_ip;     /* closed at once: over max_connections_per_ip/_prefix */
    bw_counter conns_reserve;        /* accepted into the reserve for clearance tokens */
    bw_counter overload_level;       /* a gauge: the worker's overload level now (0-2) */
    bw_counter slow_bodies;          /* requests cut for a body below client_body_min_rate */
    bw_counter origin_queued;        /* requests that waited for an origin slot (max_conns) */
    bw_counter origin_queue_timeouts; /* ... and got 503 after queue_timeout */
    bw_counter origin_queue_full;    /* 503 at once: max_queue requests already waiting */
    bw_counter requests;             /* all parsed requests, any site */
    bw_counter bad_requests;         /* refused by the parser (4xx) */
    bw_counter upstream_conns_opened;
    bw_counter upstream_conns_reused;
    bw_site_stats sites[BW_STATS_MAX_SITES];
} bw_worker_stats;

/* Registration, at start-up (main thread, before workers run). */
bw_worker_stats *bw_stats_worker_new(void); /* zeroed; registered for reading */
size_t bw_stats_nworkers(void);
bw_worker_stats *bw_stats_worker(size_t i);

/* Slot for a site name; allocates a new one the first time (main thread only).
 * Returns BW_STATS_MAX_SITES - 1 (a shared "overflow" slot) when full. */
unsigned bw_stats_site_slot(const char *name);
size_t bw_stats_nsites(void);
const char *bw_stats_site_name(unsigned slot);

/* Count one finished request (worker thread, its own stats). upstream_us = 0
 * when no origin answered. */
void bw_stats_request_done(bw_worker_stats *ws, unsigned slot, int status,
                           uint64_t bytes_in, uint64_t bytes_out, uint64_t upstream_us);

/* Free all registered workers' stats (exit). */
void bw_stats_free_all(void);

#endif
