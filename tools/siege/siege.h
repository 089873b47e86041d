/*
 * siege.h - bulwark-siege, the attack simulator: the run model every siege
 * module shares (scenarios, per-second counters, totals).
 *
 * A run is a set of scenarios (a legitimate population and attacks), each
 * with its own rate, start and duration on one clock that starts at a whole
 * unix second (so second i of the run is unix second t0 + i for the origin
 * probe too).  The engine (engine.c) fills the counters; the probe's counts
 * of requests that really reached the origin are merged in afterwards
 * (probe.c); the report (report.c) turns it all into JSON, a table and an SVG
 * plot.  See docs/SIEGE.md for the user's view.
 *
 * Address plan (all of 127.0.0.0/8 is local on Linux loopback):
 *   127.0.x.x          servers (bulwark, peers, the probe); never a client
 *   127.1.x.x          the legitimate population (scenario "legit")
 *   127.(16k..16k+15)  attack scenario number k (k = 1..14): 2^20 addresses
 * The origin probe counts arrivals per unix second and per second octet of
 * the client address it sees in X-Forwarded-For, so it needs no knowledge
 * of the scenarios and the bots carry no mark.
 *
 * Memory: a sg_run owns its scenarios; each scenario owns its timeline
 * (nsec entries, calloc'd by sg_run_alloc_timelines, freed by sg_run_free).
 */
#ifndef SG_SIEGE_H
#define SG_SIEGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define SG_MAX_SCENARIOS 14
#define SG_MAX_SECONDS 3600
#define SG_LEGIT_OCTET 1 /* 127.1.0.0/16 */

typedef enum sg_kind {
    SG_LEGIT = 0,
    SG_HTTP_FLOOD,
    SG_PROXY_FLOOD,
    SG_CACHE_BUST,
    SG_POST_FLOOD,
    SG_CRED_STUFFING,
    SG_BRUTE_FORCE,
    SG_SLOWLORIS,
    SG_SLOW_POST,
    SG_KIND_COUNT
} sg_kind;

/* Latency histogram: log-linear buckets over microseconds (16 sub-buckets
 * per power of two, so any quantile is within ~6%). */
#define SG_HIST_SUB 16
#define SG_HIST_BUCKETS (40 * SG_HIST_SUB)
typedef struct sg_hist {
    uint64_t count;
    uint64_t max_us;
    uint32_t bucket[SG_HIST_BUCKETS];
} sg_hist;

/* What happened in one second of one scenario.  Requests are counted in the
 * second they were sent (sent) or finished (the outcomes). */
typedef struct sg_second {
    uint32_t sent;       /* requests started (slow scenarios: connections opened) */
    uint32_t ok;         /* answered by the origin side (2xx, 3xx, 4xx other than 403/429) */
    uint32_t blocked;    /* 403, 429, 503, or closed/reset by the proxy before a response */
    uint32_t challenged; /* the response was a bulwark challenge (X-Bulwark-Challenge) */
    uint32_t errors;     /* timeouts, connect failures, other 5xx */
    uint32_t reached;    /* the probe's count of this scenario's requests at the origin */
    uint32_t active;     /* open connections at the end of the second */
    uint32_t p99_us;     /* legit only: p99 latency of requests finished in this second */
} sg_second;

/* Totals of one scenario. */
typedef struct sg_totals {
    uint64_t sent, ok, blocked, challenged, errors;
    uint64_t challenged_ok; /* legit: finished ok after passing a challenge */
    uint64_t failed;        /* legit: finished in anything but success */
    uint64_t dropped;       /* closed/reset without a response (part of blocked) */
    uint64_t timeouts;      /* part of errors */
    uint64_t missed;        /* attack: sends skipped because siege fell behind its rate */
    int64_t reached;        /* -1: no probe was asked */
    uint64_t status[6];     /* responses by class: [1]=1xx .. [5]=5xx */
} sg_totals;

/* Scenario parameters (from --scenario NAME:key=value,...). */
typedef struct sg_scenario {
    char name[32];      /* unique label in the report, e.g. "http-flood" or "phase3-http-flood" */
    sg_kind kind;
    bool attack;        /* false only for legit */
    double rate;        /* requests/s (slow scenarios: new connections/s) */
    double start_s;     /* offset from the run's start */
    double duration_s;
    uint32_t per_ip;    /* requests per address before rotating (0: never rotate) */
    uint32_t ips;       /* proxy-flood: size of the proxy address pool */
    uint32_t conns;     /* max concurrent connections (slowloris: the target count) */
    uint32_t users;     /* legit: population size */
    uint32_t think_ms;  /* legit: mean think time between page views */
    uint32_t interval_ms; /* slow scenarios: one byte every interval */
    bool mimic_browser; /* bots copy browser headers and randomise User-Agent */
    uint8_t octet_lo, octet_hi; /* second octets of this scenario's addresses */

    /* results */
    sg_totals tot;
    sg_hist latency;     /* legit: per logical request (redirects followed) */
    sg_second *timeline; /* [nsec] */
} sg_scenario;

typedef struct sg_run {
    char target[64];    /* HOST:PORT the clients connect to */
    char probe[64];     /* HOST:PORT of the origin probe, "" if none */
    char host[128];     /* Host header */
    char label[64];     /* what is being attacked, e.g. "bulwark" (report title) */
    uint64_t max_requests;
    uint32_t timeout_ms;
    uint64_t seed;
    int64_t t0_unix;    /* unix second at which second 0 of the run starts */
    uint32_t nsec;      /* seconds in the run (timelines have this many entries) */
    int nscen;
    sg_scenario scen[SG_MAX_SCENARIOS];
} sg_run;

const char *sg_kind_name(sg_kind k);
int sg_kind_from_name(const char *name); /* -1 if unknown */

/* "IPv4:PORT" into sa.  0, or -1 if it is not one. */
int sg_parse_addr(const char *spec, struct sockaddr_in *sa);

/* Timelines for every scenario (nsec entries each).  0 or -1 (ENOMEM). */
int sg_run_alloc_timelines(sg_run *r);
void sg_run_free(sg_run *r);

#endif
