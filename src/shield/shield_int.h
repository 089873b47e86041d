/*
 * shield_int.h - what shield.c (the workers' side) and detect.c (the
 * shield thread) share: the per-worker ring of request records, the
 * per-worker counters, and the published rule set.  Private to src/shield.
 */
#ifndef BW_SHIELD_SHIELD_INT_H
#define BW_SHIELD_SHIELD_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin/stats.h"
#include "shield/features.h"
#include "shield/shield.h"

#define SH_TICK_MS 100
#define SH_RING 16384        /* records per worker between two ticks (a power of two) */
#define SH_MAX_WORKERS BW_STATS_MAX_WORKERS
#define SH_MAX_SITES BW_STATS_MAX_SITES
#define SH_MAX_RULES 64      /* automatic rules alive at once, all sites */
#define SH_ANY_ATTR 255      /* an automatic rule that matches every request of its site */

/* One passed request, as the detector sees it. */
typedef struct sh_record {
    uint64_t attr[BW_ATTR_COUNT];
    uint32_t site;           /* stats slot */
    uint8_t family;
    bool mitigated;          /* answered by the shield: only counted for the attack's origins */
    uint8_t prefix[8];       /* /24 (first 3 bytes) or /64 (8 bytes), for the events' top prefixes */
} sh_record;

/* Per worker, per site: single writer (the worker), read by the shield
 * thread and the admin API (bw_counter: relaxed atomics). */
typedef struct sh_site_counters {
    bw_counter seen;                     /* every request checked */
    bw_counter passed;                   /* went on to the origin */
    bw_counter verdict[BW_SHIELD_VERDICT_COUNT]; /* by verdict (PASS unused) */
    bw_counter reason[BW_REASON_COUNT];  /* mitigated, by reason */
    bw_counter logged;                   /* log-only policy matches */
    bw_counter clean_requests;           /* passed and finished (clean-traffic metering) */
    bw_counter clean_bytes_in, clean_bytes_out;
    bw_counter login_ok, login_failed;   /* login attempts by the origin's answer */
    bw_counter login_class[4];           /* attempts met as bw_login_class (CLEAN unused) */
} sh_site_counters;

struct bw_shield_worker {
    unsigned id;
    /* ring: the worker writes rec[head], the shield thread reads up to head */
    _Atomic uint32_t head;
    _Atomic uint32_t tail;
    bw_counter ring_dropped;             /* full ring: the record was skipped (sampling) */
    uint64_t last_log_ms;                /* log-only lines: at most one a second */
    _Atomic uint64_t qs;                 /* loop rounds done: a rule set retired before the
                                            count moved on may still be in use by this worker */
    sh_record rec[SH_RING];
    sh_site_counters site[SH_MAX_SITES];
};

/* An automatic rule: site + attribute value -> action. */
typedef struct sh_rule {
    uint32_t id;
    uint32_t site;           /* stats slot */
    uint8_t attr;            /* enum bw_shield_attr, or SH_ANY_ATTR */
    _Atomic uint8_t action;  /* BW_SHIELD_BLOCK / CHALLENGE / POW; a challenge the bots pass
                                is raised to pow in place */
    uint64_t value;
    _Atomic uint64_t hits;   /* updated by every worker (relaxed) */
} sh_rule;

/* An immutable (but for hits) set of rules, swapped as a whole. */
typedef struct sh_ruleset {
    unsigned n;
    sh_rule *rules[SH_MAX_RULES];   /* rules are shared between successive sets */
} sh_ruleset;

/* Published by the shield thread, read by workers. */
extern _Atomic(sh_ruleset *) sh_current_rules;

/* Registered workers (shield.c). */
extern bw_shield_worker *sh_workers[SH_MAX_WORKERS];
extern _Atomic unsigned sh_nworkers;

/* detect.c: the shield thread */
int sh_detect_start(void); /* the tick reads bw_conf_current() */
void sh_detect_stop(void);
char *sh_render_attacks_json(size_t *len);
/* The country of an address, if a GeoIP database is loaded (shield.c). */
bool sh_country(int family, const uint8_t addr[16], char cc[3]);
void sh_render_detector_metrics(struct bw_sbuf *b);
/* `metric{site="NAME"` of a stats slot, for the next label or the value (shield.c). */
void sh_site_label(struct bw_sbuf *b, const char *metric, unsigned slot);

/* loginguard.c: login protection (docs/LOGIN.md) */
struct bw_login_view;
int sh_login_start(void);
void sh_login_stop(void);
int sh_login_route(const bw_site_conf *site, const bw_http_request *req); /* index or -1 */
void sh_login_ticket(const bw_site_conf *site, int route, const bw_http_request *req, bw_str body,
                     const bw_shield_feat *f, bw_login_ticket *t);
void sh_login_view(const bw_login_ticket *t, uint64_t now_ms, struct bw_login_view *v,
                   double *challenged);
void sh_login_challenged(const bw_login_ticket *t, uint64_t now_ms);
bool sh_login_is_failure(const bw_site_conf *site, const bw_login_ticket *t, int status,
                         bw_str location);
void sh_login_note(const bw_login_ticket *t, bool failed, uint64_t now_ms);

#endif
