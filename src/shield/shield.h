/*
 * shield.h - L7 attack detection and mitigation, as the proxy sees it.
 *
 * Every request passes bw_shield_check() after its head is parsed and its
 * site found, before anything is sent to the origin.  The check runs on the
 * worker that owns the request and costs a few hashes and compares: the
 * operator's policy rules, the clearance token (if the client has one), the
 * automatic rules, under-attack mode, rate limits.  A request that passes
 * is recorded into the worker's ring for the shield thread.
 *
 * The shield thread (detect.c) owns everything that learns: it drains the
 * workers' rings every tick (100 ms), keeps per-site baselines, declares
 * attacks, derives signatures and publishes rule sets.  Workers see a new
 * rule set through one atomic pointer (quiescent-state RCU: the old set
 * is freed once every worker has finished a loop round since the swap,
 * see bw_shield_quiescent).
 *
 * Ownership: bw_shield_worker belongs to one worker thread (its counters
 * have that single writer; the shield thread and admin read them).
 */
#ifndef BW_SHIELD_SHIELD_H
#define BW_SHIELD_SHIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "http/parser.h"
#include "shield/features.h"

typedef enum bw_shield_verdict {
    BW_SHIELD_PASS = 0,
    BW_SHIELD_BLOCK,       /* 403, no origin work */
    BW_SHIELD_CHALLENGE,   /* cookie challenge: 307 to the same URL with a clearance cookie */
    BW_SHIELD_POW,         /* proof-of-work page (403) */
    BW_SHIELD_POW_PASSED,  /* a solved proof of work: 303 to its return path with a cookie */
    BW_SHIELD_LIMIT,       /* 429 with Retry-After */
    BW_SHIELD_TARPIT,      /* held without an answer, then closed (docs/POLICY.md) */
    BW_SHIELD_UNAVAILABLE, /* 503 with Retry-After, connection closed: the worker sheds load */
    BW_SHIELD_VERDICT_COUNT
} bw_shield_verdict;

/* Why (for logs and metrics). */
typedef enum bw_shield_reason {
    BW_REASON_NONE = 0,
    BW_REASON_POLICY,      /* an operator's rule */
    BW_REASON_AUTO,        /* a rule the detector made */
    BW_REASON_UNDER_ATTACK,/* under-attack mode (manual or automatic) */
    BW_REASON_BAD_POW,     /* a wrong or expired proof of work */
    BW_REASON_OVERLOAD,    /* the worker is overloaded (proxy/overload.h) */
    BW_REASON_RESERVE,     /* a connection of the reserve without a clearance token */
    BW_REASON_LOGIN,       /* login protection: guessing passwords (docs/LOGIN.md) */
    BW_REASON_COUNT
} bw_shield_reason;

/* What the worker's own state asks of visitors without a clearance token
 * (docs/LIMITS.md), applied after the policy and the automatic rules; an
 * operator's allow rule passes them by. */
typedef enum bw_shield_gate {
    BW_GATE_OPEN = 0,
    BW_GATE_CHALLENGE, /* overload level 1: the site's challenge (shield on) */
    BW_GATE_SHED,      /* overload level 2: 503 */
    BW_GATE_RESERVE,   /* the connection is in the reserve: 503 */
} bw_shield_gate;

#define BW_SHIELD_RETRY_AFTER_S 5 /* what a 503 of the gate tells clients */

/* A login attempt (a request to one of the site's `login` routes,
 * docs/LOGIN.md): what its outcome must be counted under, once the
 * origin has answered (bw_shield_login_outcome).  Keys are keyed hashes:
 * no account name or password is kept. */
typedef struct bw_login_ticket {
    uint8_t route;    /* 1 + the route's index; 0: not a login attempt */
    bool cleared;     /* the client showed a valid clearance token */
    uint32_t site;    /* stats slot */
    uint64_t account; /* hash of the account name (for distinct counts) */
    uint64_t k_account, k_source, k_fp, k_password;
} bw_login_ticket;

/* What the proxy needs to answer a verdict other than PASS. */
typedef struct bw_shield_result {
    bw_shield_verdict verdict;
    bw_shield_reason reason;
    uint32_t retry_after_s;   /* LIMIT, UNAVAILABLE */
    bool cleared;             /* the request showed a valid clearance token (if it was checked) */
    bw_login_ticket login;    /* route 0 unless a login attempt that went on to the origin */
    /* CHALLENGE / POW_PASSED: the Set-Cookie value */
    char cookie[96];
    size_t cookie_len;
    char location[512];       /* CHALLENGE / POW_PASSED: where to go next */
    size_t location_len;
    uint64_t prefix, bind;    /* the client's /24 and browser binding (a PoW page binds to them) */
} bw_shield_result;

typedef struct bw_shield_worker bw_shield_worker;

/* Start the shield (main thread, after the config is published, before the
 * workers): keys from conf->challenge_key or random, GeoIP database, the
 * shield thread.  0, or -1 with err set. */
int bw_shield_start(const bw_conf *conf, char *err, size_t errlen);
void bw_shield_stop(void);
/* Before a reload is accepted: 0, or -1 with err set if the new config
 * needs what only a restart gives (another geoip_db).  Warns about a
 * changed challenge_key, which the running process keeps. */
int bw_shield_reload_check(const bw_conf *conf, char *err, size_t errlen);
/* The shield thread refreshes the shield's wall clock every tick. */
void sh_tick_clock(void);

/* One per worker thread, created by the worker (registered for the shield
 * thread and the admin API). */
bw_shield_worker *bw_shield_worker_new(unsigned id);

/* The worker is between two loop rounds and holds no rule set: called once
 * a round, it lets the shield thread free the sets it replaced (RCU). */
void bw_shield_quiescent(bw_shield_worker *sw);

/* The check.  now_ms: the worker loop's clock.  The pow page, when the
 * verdict is POW, is written by bw_shield_pow_page().  gate: see above
 * (it applies also to a site with the shield off). */
bw_shield_verdict bw_shield_check(bw_shield_worker *sw, const bw_conf *conf, const bw_site_conf *site,
                                  const bw_http_request *req, bw_str body, int family,
                                  const uint8_t addr[16], uint64_t now_ms, bw_shield_gate gate,
                                  bw_shield_result *res);

/* The origin answered a login attempt (res->login of its check): count a
 * failure (status in the route's fail= list, or a redirect to its
 * fail_location) or a success.  The worker's thread. */
void bw_shield_login_outcome(bw_shield_worker *sw, const bw_site_conf *site, const bw_login_ticket *t,
                             int status, bw_str location, uint64_t now_ms);

/* The proof-of-work page for a request that got POW: res is the check's
 * result (it carries the client's /24 and binding the challenge is bound to). */
size_t bw_shield_pow_page(const bw_conf *conf, const bw_site_conf *site, const bw_http_request *req,
                          const bw_shield_result *res, char *out, size_t cap);

/* Clean-traffic metering: a request that was passed is over (bytes both ways). */
void bw_shield_account_clean(bw_shield_worker *sw, const bw_site_conf *site, uint64_t bytes_in,
                             uint64_t bytes_out);

/* Admin API.  Metrics and the stats object are appended to the admin's
 * buffer; the attacks list is a whole answer (malloc'd, caller frees; NULL
 * on allocation failure). */
struct bw_sbuf;
void bw_shield_render_metrics(struct bw_sbuf *b);
void bw_shield_render_stats_json(struct bw_sbuf *b); /* per-site clean traffic and mitigation */
char *bw_shield_render_attacks_json(size_t *len);

#endif
