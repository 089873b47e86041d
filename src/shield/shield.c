/*
 * shield.c - the per-request check on the workers (see shield.h), the
 * challenges' answers and the shield's part of the admin API.
 *
 * Order of the check, first decision wins:
 *   1. a solved proof of work (GET /.bulwark/pow?c=..&n=..&r=..)
 *   2. the operator's policy rules of the site (allow skips all the rest)
 *   3. the clearance token, if the client sends one: its level exempts it
 *      from challenges up to that level (never from block rules)
 *   4. automatic rules from the detector
 *   5. manual under-attack mode
 * A request that gets through is counted and recorded for the detector.
 */
#include "shield/shield.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "shield/gcra.h"
#include "shield/geoip.h"
#include "shield/login.h"
#include "shield/policy.h"
#include "shield/pow.h"
#include "shield/shield_int.h"
#include "shield/token.h"

/* Rate-limit state for the whole shield: 32 MiB whatever the number of keys
 * (2 M slots); with the rings and sketches the shield stays under 64 MiB. */
#define GCRA_BYTES (32u << 20)
#define POW_CHALLENGE_TTL_S 120

_Atomic(sh_ruleset *) sh_current_rules;
bw_shield_worker *sh_workers[SH_MAX_WORKERS];
_Atomic unsigned sh_nworkers;

static struct {
    bw_token_keys keys;
    bw_gcra_table *gcra;
    bw_geoip *geoip;
    char *geoip_path;       /* geoip_db at start (NULL: none) */
    char *key_secret;       /* challenge_key at start, to tell a reload that changes it */
    _Atomic uint32_t now_s; /* wall clock seconds, refreshed by the shield thread */
} sh;

static uint32_t wall_s(void)
{
    uint32_t s = atomic_load_explicit(&sh.now_s, memory_order_relaxed);
    return s ? s : (uint32_t)time(NULL);
}

bool sh_country(int family, const uint8_t addr[16], char cc[3])
{
    return sh.geoip && bw_geoip_country(sh.geoip, family, addr, cc);
}

void sh_tick_clock(void)
{
    atomic_store_explicit(&sh.now_s, (uint32_t)time(NULL), memory_order_relaxed);
}

/* ---- start, stop --------------------------------------------------------- */

int bw_shield_start(const bw_conf *conf, char *err, size_t errlen)
{
    int rc = conf->challenge_key
                 ? bw_token_keys_from_secret(&sh.keys, conf->challenge_key, strlen(conf->challenge_key))
                 : bw_token_keys_init(&sh.keys);
    if (rc < 0) {
        snprintf(err, errlen, "shield: cannot make the challenge key");
        return -1;
    }
    sh.gcra = bw_gcra_new(GCRA_BYTES);
    if (!sh.gcra) {
        snprintf(err, errlen, "shield: out of memory for the rate-limit table");
        return -1;
    }
    if (conf->geoip_db) {
        sh.geoip = bw_geoip_open(conf->geoip_db, err, errlen);
        if (!sh.geoip)
            return -1;
        sh.geoip_path = strdup(conf->geoip_db);
    }
    sh.key_secret = conf->challenge_key ? strdup(conf->challenge_key) : NULL;
    if (sh_login_start() < 0) {
        snprintf(err, errlen, "shield: out of memory for the login tables");
        return -1;
    }
    sh_tick_clock();
    return sh_detect_start();
}

void bw_shield_stop(void)
{
    sh_detect_stop();
    sh_login_stop();
    bw_gcra_free(sh.gcra);
    sh.gcra = NULL;
    bw_geoip_close(sh.geoip);
    sh.geoip = NULL;
    free(sh.geoip_path);
    sh.geoip_path = NULL;
    if (sh.key_secret)
        memset(sh.key_secret, 0, strlen(sh.key_secret));
    free(sh.key_secret);
    sh.key_secret = NULL;
    bw_token_keys_wipe(&sh.keys);
    for (unsigned i = 0; i < SH_MAX_WORKERS; i++) {
        free(sh_workers[i]);
        sh_workers[i] = NULL;
    }
    atomic_store(&sh_nworkers, 0);
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int bw_shield_reload_check(const bw_conf *conf, char *err, size_t errlen)
{
    /* A reload that brings country= rules the running process cannot
     * answer would make "country!=X" match everyone: refuse it. */
    if (!same_text(conf->geoip_db, sh.geoip_path)) {
        snprintf(err, errlen, "geoip_db changes only on restart (running: %s)",
                 sh.geoip_path ? sh.geoip_path : "none");
        return -1;
    }
    if (!same_text(conf->challenge_key, sh.key_secret))
        bw_log(BW_LOG_WARN, "challenge_key changes only on restart (tokens stay signed with the "
                            "running key)");
    return 0;
}

bw_shield_worker *bw_shield_worker_new(unsigned id)
{
    if (id >= SH_MAX_WORKERS)
        return NULL;
    bw_shield_worker *sw = calloc(1, sizeof *sw);
    if (!sw)
        return NULL;
    sw->id = id;
    sh_workers[id] = sw;
    unsigned n = atomic_load(&sh_nworkers);
    while (n < id + 1 && !atomic_compare_exchange_weak(&sh_nworkers, &n, id + 1))
        ;
    return sw;
}

void bw_shield_quiescent(bw_shield_worker *sw)
{
    atomic_store_explicit(&sw->qs, atomic_load_explicit(&sw->qs, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* ---- the check ------------------------------------------------------------ */

static void record(bw_shield_worker *sw, uint32_t slot, const bw_shield_feat *f, bool mitigated)
{
    uint32_t head = atomic_load_explicit(&sw->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&sw->tail, memory_order_acquire);
    if (head - tail >= SH_RING) {
        bw_counter_add(&sw->ring_dropped, 1);
        return;
    }
    sh_record *r = &sw->rec[head & (SH_RING - 1)];
    memcpy(r->attr, f->attr, sizeof r->attr);
    r->site = slot;
    r->family = f->family;
    r->mitigated = mitigated;
    memset(r->prefix, 0, sizeof r->prefix);
    memcpy(r->prefix, f->addr, f->family == AF_INET6 ? 8 : 3);
    atomic_store_explicit(&sw->head, head + 1, memory_order_release);
}

/* The level of the client's valid clearance token, 0 if none. */
static uint8_t token_level(const bw_shield_feat *f, uint32_t slot)
{
    bw_str tok;
    if (!f->has_cookie || !bw_token_cookie_find(f->cookie, BW_TOKEN_COOKIE, &tok))
        return 0;
    uint8_t level = 0;
    if (bw_token_verify(&sh.keys, tok, wall_s(), slot, f->attr[BW_ATTR_PREFIX], f->bind, &level) !=
        BW_TOKEN_OK)
        return 0;
    return level;
}

/* The token level, verified (an HMAC) only when a decision depends on it:
 * a browser sends its cookie with every request, most of which meet no
 * challenge at all. */
typedef struct lazy_level {
    int v; /* -1: not verified yet */
    const bw_shield_feat *f;
    uint32_t slot;
} lazy_level;

static uint8_t level_of(lazy_level *l)
{
    if (l->v < 0)
        l->v = token_level(l->f, l->slot);
    return (uint8_t)l->v;
}

static void set_cookie(bw_shield_result *res, const bw_conf *conf, uint32_t slot,
                       const bw_shield_feat *f, uint8_t level)
{
    bw_token_claims c = {
        .expiry_s = wall_s() + conf->clearance_ttl_s,
        .level = level,
        .site = slot,
        .prefix = f->attr[BW_ATTR_PREFIX],
        .fp = f->bind,
    };
    char tok[BW_TOKEN_TEXT_MAX];
    size_t n = bw_token_sign(&sh.keys, &c, tok, sizeof tok);
    int len = snprintf(res->cookie, sizeof res->cookie, "%s=%.*s; Path=/; Max-Age=%u; HttpOnly; SameSite=Lax",
                       BW_TOKEN_COOKIE, (int)n, tok, conf->clearance_ttl_s);
    res->cookie_len = len > 0 && (size_t)len < sizeof res->cookie ? (size_t)len : 0;
}

/* Only a local path: "//host" and "/\\host" are taken by browsers as
 * another site (an open redirect on every challenged page otherwise). */
static void set_location(bw_shield_result *res, const char *p, size_t n)
{
    if (n == 0 || n >= sizeof res->location || p[0] != '/' ||
        (n > 1 && (p[1] == '/' || p[1] == '\\'))) {
        p = "/";
        n = 1;
    }
    memcpy(res->location, p, n);
    res->location_len = n;
}

/* Where a challenged client comes back to: its own request target (the
 * parser guarantees no CR/LF), or "/" for an absolute-form or overlong one. */
static void location_of(bw_shield_result *res, const bw_http_request *req)
{
    set_location(res, req->target.p, req->target.len);
}

static bw_shield_verdict mitigate(bw_shield_worker *sw, uint32_t slot, bw_shield_result *res,
                                  bw_shield_verdict v, bw_shield_reason why)
{
    res->verdict = v;
    res->reason = why;
    bw_counter_add(&sw->site[slot].verdict[v], 1);
    bw_counter_add(&sw->site[slot].reason[why], 1);
    return v;
}

static bw_shield_verdict challenge(bw_shield_worker *sw, const bw_conf *conf, uint32_t slot,
                                   const bw_shield_feat *f, const bw_http_request *req,
                                   bw_shield_result *res, bw_shield_verdict kind, bw_shield_reason why)
{
    if (kind == BW_SHIELD_CHALLENGE) {
        set_cookie(res, conf, slot, f, 1);
        location_of(res, req);
    }
    return mitigate(sw, slot, res, kind, why);
}

/* GET /.bulwark/pow?c=..&n=..&r=..: a solved proof of work earns a level 2
 * token and goes back to r; anything else gets the page again. */
static bw_shield_verdict pow_answer(bw_shield_worker *sw, const bw_conf *conf, uint32_t slot,
                                    const bw_shield_feat *f, const bw_http_request *req,
                                    bw_shield_result *res)
{
    bw_str c, n;
    size_t rlen = 0;
    uint8_t level = 9;
    bool parsed = bw_pow_parse_query(req->query, &c, &n, res->location, sizeof res->location, &rlen);
    /* where to go next, right or wrong: never back to this endpoint (a
     * stale answer would loop on itself) */
    if (parsed && !(rlen >= sizeof(BW_POW_PATH) - 1 &&
                    memcmp(res->location, BW_POW_PATH, sizeof(BW_POW_PATH) - 1) == 0))
        set_location(res, res->location, rlen);
    else
        set_location(res, "/", 1);
    if (parsed &&
        bw_token_verify(&sh.keys, c, wall_s(), slot, f->attr[BW_ATTR_PREFIX], f->bind, &level) ==
            BW_TOKEN_OK &&
        level == 0 && bw_pow_check(c, n, conf->pow_bits)) {
        set_cookie(res, conf, slot, f, 2);
        return mitigate(sw, slot, res, BW_SHIELD_POW_PASSED, BW_REASON_NONE);
    }
    return mitigate(sw, slot, res, BW_SHIELD_POW, BW_REASON_BAD_POW);
}

/* The value a header or cookie rate-limit key names, hashed (0 if absent:
 * all requests without it share one bucket). */
static uint64_t named_value_hash(const bw_policy_rule_info *ri, const bw_http_request *req)
{
    bw_str v = BW_STR_NULL;
    bool cookie = ri->key_kind == BW_POL_KEY_COOKIE;
    for (size_t i = 0; i < req->nheaders && !v.len; i++) {
        const bw_http_header *h = &req->headers[i];
        if (cookie && bw_str_ieq_lit(h->name, "cookie")) {
            char name[64];
            if (ri->key_name.len >= sizeof name)
                break;
            memcpy(name, ri->key_name.p, ri->key_name.len);
            name[ri->key_name.len] = '\0';
            bw_token_cookie_find(h->value, name, &v);
        } else if (!cookie && bw_str_ieq(h->name, ri->key_name)) {
            v = h->value;
        }
    }
    return v.len ? bw_fnv1a(BW_FNV_OFFSET, v.p, v.len) : 0;
}

/* The GCRA key of a rate-limit rule for this request: the rule's key kind
 * (address, prefix, fingerprint, a header or cookie value), salted with
 * the site and the rule so two rules never share a bucket. */
static uint64_t limit_key(const bw_policy_rule_info *ri, const bw_policy_req *pr,
                          const bw_shield_feat *f, uint32_t slot)
{
    uint64_t k;
    switch (ri->key_kind) {
    case BW_POL_KEY_PREFIX: k = f->attr[BW_ATTR_PREFIX]; break;
    case BW_POL_KEY_FP: k = f->attr[BW_ATTR_FP]; break;
    case BW_POL_KEY_HEADER:
    case BW_POL_KEY_COOKIE: k = named_value_hash(ri, pr->req); break;
    default: k = f->ip; break;
    }
    return bw_mix64(k ^ ((uint64_t)slot << 40) ^ ((uint64_t)ri->index << 20));
}

/* Apply a matched policy rule.  PASS means "go on" for log-only and a
 * rate limit that was not exceeded; allow is told apart by *allowed. */
static bw_shield_verdict policy_verdict(bw_shield_worker *sw, const bw_conf *conf,
                                        const bw_site_conf *site, uint32_t slot,
                                        const bw_shield_feat *f, const bw_http_request *req,
                                        const bw_policy_rule_info *ri, const bw_policy_req *pr,
                                        lazy_level *lv, uint64_t now_ms, bw_shield_result *res,
                                        bool *allowed)
{
    switch (ri->action) {
    case BW_POL_ALLOW:
        *allowed = true;
        return BW_SHIELD_PASS;
    case BW_POL_BLOCK:
        return mitigate(sw, slot, res, BW_SHIELD_BLOCK, BW_REASON_POLICY);
    case BW_POL_TARPIT:
        return mitigate(sw, slot, res, BW_SHIELD_TARPIT, BW_REASON_POLICY);
    case BW_POL_CHALLENGE:
        if (level_of(lv) >= 1)
            return BW_SHIELD_PASS;
        return challenge(sw, conf, slot, f, req, res, BW_SHIELD_CHALLENGE, BW_REASON_POLICY);
    case BW_POL_POW:
        if (level_of(lv) >= 2)
            return BW_SHIELD_PASS;
        return challenge(sw, conf, slot, f, req, res, BW_SHIELD_POW, BW_REASON_POLICY);
    case BW_POL_RATE_LIMIT: {
        bw_gcra_limit lim;
        bw_gcra_limit_set(&lim, ri->rate, ri->burst);
        uint64_t retry_ns = 0;
        if (bw_gcra_take(sh.gcra, limit_key(ri, pr, f, slot), &lim, now_ms * 1000000ull, &retry_ns))
            return BW_SHIELD_PASS;
        res->retry_after_s = (uint32_t)(retry_ns / 1000000000ull) + 1;
        return mitigate(sw, slot, res, BW_SHIELD_LIMIT, BW_REASON_POLICY);
    }
    default: /* log-only: counted, logged (at most once a second per worker), then on */
        bw_counter_add(&sw->site[slot].logged, 1);
        if (now_ms - sw->last_log_ms >= 1000) {
            sw->last_log_ms = now_ms;
            char desc[256];
            bw_policy_describe(site->policy, ri->index, desc, sizeof desc);
            bw_log(BW_LOG_INFO, "shield: site %s: rule %u matched (%s): %.*s %.*s", bw_stats_site_name(slot),
                   ri->index + 1, desc, (int)req->method.len, req->method.p,
                   (int)(req->target.len > 200 ? 200 : req->target.len), req->target.p);
        }
        return BW_SHIELD_PASS;
    }
}

/* The first automatic rule of the site that applies to this client (its
 * token level exempts it from challenges up to that level; lv NULL: only
 * block rules count). */
static bw_shield_verdict auto_rules(bw_shield_worker *sw, const bw_conf *conf, uint32_t slot,
                                    const bw_shield_feat *f, const bw_http_request *req,
                                    lazy_level *lv, bw_shield_result *res)
{
    sh_ruleset *rs = atomic_load_explicit(&sh_current_rules, memory_order_acquire);
    if (!rs)
        return BW_SHIELD_PASS;
    for (unsigned i = 0; i < rs->n; i++) {
        sh_rule *r = rs->rules[i];
        if (r->site != slot || (r->attr != SH_ANY_ATTR && f->attr[r->attr] != r->value))
            continue;
        uint8_t action = atomic_load_explicit(&r->action, memory_order_relaxed);
        if (action != BW_SHIELD_BLOCK &&
            (!lv || level_of(lv) >= (action == BW_SHIELD_POW ? 2 : 1)))
            continue;
        atomic_fetch_add_explicit(&r->hits, 1, memory_order_relaxed);
        bw_shield_reason why = r->attr == SH_ANY_ATTR ? BW_REASON_UNDER_ATTACK : BW_REASON_AUTO;
        return challenge(sw, conf, slot, f, req, res, (bw_shield_verdict)action, why);
    }
    return BW_SHIELD_PASS;
}

/* Failures (decayed) of one client after which guessing is blocked, not
 * challenged; and challenged login attempts a client may ignore. */
#define LOGIN_BLOCK_FAILURES 50
#define LOGIN_BLOCK_CHALLENGED 20

/* A login attempt (docs/LOGIN.md): counted under its keys once the origin
 * answers; guessing is challenged (an attacked account asks for proof of
 * work past 3x the brute-force threshold, so its owner still gets in),
 * and a client that goes on failing, or ignores the challenges, is
 * blocked. */
static bw_shield_verdict login_decide(bw_shield_worker *sw, const bw_conf *conf, const bw_site_conf *site,
                                      int route, const bw_shield_feat *f, const bw_http_request *req,
                                      bw_str body, lazy_level *lv, uint64_t now_ms, bw_shield_result *res)
{
    uint32_t slot = site->stats_slot;
    bw_login_ticket *t = &res->login;
    sh_login_ticket(site, route, req, body, f, t);
    bw_login_view v;
    double challenged;
    sh_login_view(t, now_ms, &v, &challenged);
    bw_login_class k = bw_login_classify(&v);
    if (k == BW_LOGIN_CLEAN)
        return BW_SHIELD_PASS;
    bw_counter_add(&sw->site[slot].login_class[k], 1);
    double client = v.source.failures > v.fp.failures ? v.source.failures : v.fp.failures;
    if (bw_login_at_least(challenged, LOGIN_BLOCK_CHALLENGED) ||
        (k != BW_LOGIN_BRUTE_FORCE && bw_login_at_least(client, LOGIN_BLOCK_FAILURES)))
        return mitigate(sw, slot, res, BW_SHIELD_BLOCK, BW_REASON_LOGIN);
    uint8_t need = k == BW_LOGIN_BRUTE_FORCE && bw_login_at_least(v.account.failures, 3 * BW_LOGIN_BRUTE_FAILS)
                       ? 2 : 1;
    t->cleared = level_of(lv) >= 1;
    if (level_of(lv) >= need)
        return BW_SHIELD_PASS;
    sh_login_challenged(t, now_ms);
    return challenge(sw, conf, slot, f, req, res, need >= 2 ? BW_SHIELD_POW : BW_SHIELD_CHALLENGE,
                     BW_REASON_LOGIN);
}

void bw_shield_login_outcome(bw_shield_worker *sw, const bw_site_conf *site, const bw_login_ticket *t,
                             int status, bw_str location, uint64_t now_ms)
{
    if (!t->route || t->route > site->nlogins || status >= 500)
        return; /* the origin failed: that says nothing about the password */
    bool failed = sh_login_is_failure(site, t, status, location);
    bw_counter_add(failed ? &sw->site[t->site].login_failed : &sw->site[t->site].login_ok, 1);
    sh_login_note(t, failed, now_ms);
}

/* The worker's gate for a visitor the rules let through (shield.h). */
static bw_shield_verdict gate_verdict(bw_shield_worker *sw, const bw_conf *conf, const bw_site_conf *site,
                                      const bw_shield_feat *f, const bw_http_request *req,
                                      lazy_level *lv, bw_shield_gate gate, bw_shield_result *res)
{
    uint32_t slot = site->stats_slot;
    switch (gate) {
    case BW_GATE_CHALLENGE:
        if (!site->shield || level_of(lv) >= site->challenge_kind)
            return BW_SHIELD_PASS;
        return challenge(sw, conf, slot, f, req, res,
                         site->challenge_kind >= 2 ? BW_SHIELD_POW : BW_SHIELD_CHALLENGE, BW_REASON_OVERLOAD);
    case BW_GATE_SHED:
    case BW_GATE_RESERVE:
        if (level_of(lv) >= 1)
            return BW_SHIELD_PASS;
        res->retry_after_s = BW_SHIELD_RETRY_AFTER_S;
        return mitigate(sw, slot, res, BW_SHIELD_UNAVAILABLE,
                        gate == BW_GATE_SHED ? BW_REASON_OVERLOAD : BW_REASON_RESERVE);
    default:
        return BW_SHIELD_PASS;
    }
}

/* The decision, first match wins (see the top of this file).  With the
 * shield off for the site, only the gate applies. */
static bw_shield_verdict decide(bw_shield_worker *sw, const bw_conf *conf, const bw_site_conf *site,
                                const bw_http_request *req, bw_str body, const bw_shield_feat *f,
                                int family, const uint8_t addr[16], uint64_t now_ms, bw_shield_gate gate,
                                lazy_level *lv, bw_shield_result *res)
{
    uint32_t slot = site->stats_slot;
    if (!site->shield)
        return gate_verdict(sw, conf, site, f, req, lv, gate, res);
    bool pow_path = req->path.len == sizeof(BW_POW_PATH) - 1 &&
                    memcmp(req->path.p, BW_POW_PATH, req->path.len) == 0;
    bool allowed = false;
    if (site->policy) {
        char cc[3];
        bw_policy_req pr = { .req = req, .family = family, .country = NULL };
        memcpy(pr.addr, addr, 16);
        if (sh.geoip && bw_policy_needs_geoip(site->policy) && bw_geoip_country(sh.geoip, family, addr, cc))
            pr.country = cc;
        bw_policy_rule_info ri;
        /* log-only, a rate limit not exceeded and a challenge already
         * passed do not end the evaluation: the next rule gets its say */
        for (unsigned from = 0; !allowed && bw_policy_match_from(site->policy, &pr, from, &ri);
             from = ri.index + 1) {
            bw_shield_verdict v = policy_verdict(sw, conf, site, slot, f, req, &ri, &pr, lv, now_ms, res,
                                                 &allowed);
            if (v != BW_SHIELD_PASS)
                return v;
        }
    }
    /* The proof-of-work answer comes after the rules that stop a client
     * outright (policy, automatic blocks): a blocked bot must not get
     * HMAC work and a page out of bulwark through this door. */
    if (pow_path) {
        if (!allowed && auto_rules(sw, conf, slot, f, req, NULL, res) == BW_SHIELD_BLOCK)
            return BW_SHIELD_BLOCK;
        /* shedding load: no HMAC work for visitors without a token */
        if (!allowed && gate >= BW_GATE_SHED && gate_verdict(sw, conf, site, f, req, lv, gate, res))
            return res->verdict;
        return pow_answer(sw, conf, slot, f, req, res);
    }
    if (!allowed) {
        bw_shield_verdict v = auto_rules(sw, conf, slot, f, req, lv, res);
        if (v != BW_SHIELD_PASS)
            return v;
        int route = site->nlogins ? sh_login_route(site, req) : -1;
        if (route >= 0 && (v = login_decide(sw, conf, site, route, f, req, body, lv, now_ms, res)))
            return v;
        if (gate != BW_GATE_OPEN && (v = gate_verdict(sw, conf, site, f, req, lv, gate, res)))
            return v;
        if (site->under_attack == BW_UNDER_ATTACK_ON && level_of(lv) < site->challenge_kind)
            return challenge(sw, conf, slot, f, req, res,
                             site->challenge_kind >= 2 ? BW_SHIELD_POW : BW_SHIELD_CHALLENGE,
                             BW_REASON_UNDER_ATTACK);
    }
    return BW_SHIELD_PASS;
}

bw_shield_verdict bw_shield_check(bw_shield_worker *sw, const bw_conf *conf, const bw_site_conf *site,
                                  const bw_http_request *req, bw_str body, int family,
                                  const uint8_t addr[16], uint64_t now_ms, bw_shield_gate gate,
                                  bw_shield_result *res)
{
    res->verdict = BW_SHIELD_PASS;
    res->reason = BW_REASON_NONE;
    res->cookie_len = res->location_len = 0;
    res->cleared = false;
    res->login.route = 0;
    uint32_t slot = site->stats_slot;
    sh_site_counters *sc = &sw->site[slot];
    bw_counter_add(&sc->seen, 1);
    if (!site->shield && gate == BW_GATE_OPEN) {
        bw_counter_add(&sc->passed, 1);
        return BW_SHIELD_PASS;
    }
    bw_shield_feat f;
    bw_shield_features(&f, req, family, addr);
    res->prefix = f.attr[BW_ATTR_PREFIX];
    res->bind = f.bind;
    lazy_level lv = { -1, &f, slot };
    bw_shield_verdict v = decide(sw, conf, site, req, body, &f, family, addr, now_ms, gate, &lv, res);
    res->cleared = lv.v >= 1;
    if (v != BW_SHIELD_PASS)
        res->login.route = 0; /* answered here: no outcome to count */
    if (v == BW_SHIELD_PASS)
        bw_counter_add(&sc->passed, 1);
    /* passed requests teach the detector; mitigated ones tell the attack
     * event where they came from (the shield's own load shedding is no
     * attack signature: left out) */
    if (site->shield && v != BW_SHIELD_POW_PASSED && res->reason != BW_REASON_OVERLOAD &&
        res->reason != BW_REASON_RESERVE)
        record(sw, slot, &f, v != BW_SHIELD_PASS);
    return v;
}

size_t bw_shield_pow_page(const bw_conf *conf, const bw_site_conf *site, const bw_http_request *req,
                          const bw_shield_result *res, char *out, size_t cap)
{
    bw_token_claims c = {
        .expiry_s = wall_s() + POW_CHALLENGE_TTL_S,
        .level = 0, /* a challenge, not a clearance */
        .site = site->stats_slot,
        .prefix = res->prefix,
        .fp = res->bind,
    };
    char tok[BW_TOKEN_TEXT_MAX];
    size_t n = bw_token_sign(&sh.keys, &c, tok, sizeof tok);
    /* A failed proof of work goes back where it was headed (r=), a
     * first visit to the page it asked for. */
    bw_str ret = res->reason == BW_REASON_BAD_POW && res->location_len
                     ? bw_str_make(res->location, res->location_len)
                     : (req->target.len && req->target.p[0] == '/' ? req->target : BW_STR_LIT("/"));
    return bw_pow_page(out, cap, bw_str_make(tok, n), conf->pow_bits, ret);
}

void bw_shield_account_clean(bw_shield_worker *sw, const bw_site_conf *site, uint64_t bytes_in,
                             uint64_t bytes_out)
{
    sh_site_counters *sc = &sw->site[site->stats_slot];
    bw_counter_add(&sc->clean_requests, 1);
    bw_counter_add(&sc->clean_bytes_in, bytes_in);
    bw_counter_add(&sc->clean_bytes_out, bytes_out);
}

/* ---- admin API -------------------------------------------------------------- */

typedef struct site_sum {
    uint64_t seen, passed, clean, clean_in, clean_out, logged, login_ok, login_failed;
    uint64_t login_class[4];
    uint64_t verdict[BW_SHIELD_VERDICT_COUNT];
    uint64_t reason[BW_REASON_COUNT];
} site_sum;

static void sum_site(unsigned slot, site_sum *s)
{
    memset(s, 0, sizeof *s);
    unsigned n = atomic_load(&sh_nworkers);
    for (unsigned i = 0; i < n; i++) {
        bw_shield_worker *w = sh_workers[i];
        if (!w)
            continue;
        sh_site_counters *c = &w->site[slot];
        s->seen += bw_counter_get(&c->seen);
        s->passed += bw_counter_get(&c->passed);
        s->clean += bw_counter_get(&c->clean_requests);
        s->logged += bw_counter_get(&c->logged);
        s->login_ok += bw_counter_get(&c->login_ok);
        s->login_failed += bw_counter_get(&c->login_failed);
        for (int k = 0; k < 4; k++)
            s->login_class[k] += bw_counter_get(&c->login_class[k]);
        s->clean_in += bw_counter_get(&c->clean_bytes_in);
        s->clean_out += bw_counter_get(&c->clean_bytes_out);
        for (int v = 0; v < BW_SHIELD_VERDICT_COUNT; v++)
            s->verdict[v] += bw_counter_get(&c->verdict[v]);
        for (int r = 0; r < BW_REASON_COUNT; r++)
            s->reason[r] += bw_counter_get(&c->reason[r]);
    }
}

static const char *const verdict_names[] = {
    "pass", "block", "challenge", "pow", "pow_passed", "rate_limit", "tarpit", "unavailable",
};
static const char *const reason_names[] = {
    "none", "policy", "auto", "under_attack", "bad_pow", "overload", "reserve", "login",
};
/* a verdict or reason added to shield.h needs its metric label here */
_Static_assert(sizeof verdict_names / sizeof *verdict_names == BW_SHIELD_VERDICT_COUNT, "verdict_names");
_Static_assert(sizeof reason_names / sizeof *reason_names == BW_REASON_COUNT, "reason_names");

void sh_site_label(bw_sbuf *b, const char *metric, unsigned slot)
{
    bw_sb_printf(b, "%s{site=\"", metric);
    bw_sb_escaped(b, bw_stats_site_name(slot));
    bw_sb_printf(b, "\"");
}

/* Two samples of a per-site metric that differ by one label's value. */
static void two_samples(bw_sbuf *b, const char *metric, unsigned slot, const char *label, const char *a,
                        uint64_t x, const char *bv, uint64_t y)
{
    sh_site_label(b, metric, slot);
    bw_sb_printf(b, ",%s=\"%s\"} %llu\n", label, a, (unsigned long long)x);
    sh_site_label(b, metric, slot);
    bw_sb_printf(b, ",%s=\"%s\"} %llu\n", label, bv, (unsigned long long)y);
}

void bw_shield_render_metrics(bw_sbuf *b)
{
    size_t nsites = bw_stats_nsites();
    site_sum *sums = calloc(nsites ? nsites : 1, sizeof *sums);
    if (!sums) {
        b->oom = true;
        return;
    }
    for (unsigned s = 0; s < nsites; s++)
        sum_site(s, &sums[s]);
    bw_sb_printf(b, "# HELP bulwark_shield_requests_total Requests checked by the shield, by outcome "
                     "(pass = sent on to the origin).\n# TYPE bulwark_shield_requests_total counter\n");
    for (unsigned s = 0; s < nsites; s++) {
        for (int v = 0; v < BW_SHIELD_VERDICT_COUNT; v++) {
            uint64_t x = v == BW_SHIELD_PASS ? sums[s].passed : sums[s].verdict[v];
            sh_site_label(b, "bulwark_shield_requests_total", s);
            bw_sb_printf(b, ",outcome=\"%s\"} %llu\n", verdict_names[v], (unsigned long long)x);
        }
    }
    bw_sb_printf(b, "# HELP bulwark_shield_mitigated_total Requests the shield answered itself, by "
                     "reason.\n# TYPE bulwark_shield_mitigated_total counter\n");
    for (unsigned s = 0; s < nsites; s++)
        for (int r = 1; r < BW_REASON_COUNT; r++) {
            sh_site_label(b, "bulwark_shield_mitigated_total", s);
            bw_sb_printf(b, ",reason=\"%s\"} %llu\n", reason_names[r], (unsigned long long)sums[s].reason[r]);
        }
    bw_sb_printf(b, "# HELP bulwark_login_attempts_total Login attempts the origin answered, by outcome "
                     "(login routes, docs/LOGIN.md).\n# TYPE bulwark_login_attempts_total counter\n");
    for (unsigned s = 0; s < nsites; s++)
        two_samples(b, "bulwark_login_attempts_total", s, "outcome", "ok", sums[s].login_ok, "failed",
                    sums[s].login_failed);
    static const char *const vectors[] = { "", "brute-force", "credential-stuffing", "password-spraying" };
    bw_sb_printf(b, "# HELP bulwark_login_guessing_total Login attempts met while their account or "
                     "client was classified as guessing, by vector.\n# TYPE bulwark_login_guessing_total counter\n");
    for (unsigned s = 0; s < nsites; s++)
        for (int k = 1; k < 4; k++) {
            sh_site_label(b, "bulwark_login_guessing_total", s);
            bw_sb_printf(b, ",vector=\"%s\"} %llu\n", vectors[k], (unsigned long long)sums[s].login_class[k]);
        }
    bw_sb_printf(b, "# HELP bulwark_shield_policy_logged_total Requests that matched a log-only "
                     "policy rule.\n# TYPE bulwark_shield_policy_logged_total counter\n");
    for (unsigned s = 0; s < nsites; s++) {
        sh_site_label(b, "bulwark_shield_policy_logged_total", s);
        bw_sb_printf(b, "} %llu\n", (unsigned long long)sums[s].logged);
    }
    bw_sb_printf(b, "# HELP bulwark_clean_requests_total Clean traffic: requests passed by the shield "
                     "and answered (billing basis).\n# TYPE bulwark_clean_requests_total counter\n");
    for (unsigned s = 0; s < nsites; s++) {
        sh_site_label(b, "bulwark_clean_requests_total", s);
        bw_sb_printf(b, "} %llu\n", (unsigned long long)sums[s].clean);
    }
    bw_sb_printf(b, "# HELP bulwark_clean_bytes_total Clean traffic bytes, by direction.\n"
                     "# TYPE bulwark_clean_bytes_total counter\n");
    for (unsigned s = 0; s < nsites; s++)
        two_samples(b, "bulwark_clean_bytes_total", s, "direction", "in", sums[s].clean_in, "out",
                    sums[s].clean_out);
    uint64_t dropped = 0;
    for (unsigned i = 0; i < atomic_load(&sh_nworkers); i++)
        if (sh_workers[i])
            dropped += bw_counter_get(&sh_workers[i]->ring_dropped);
    bw_sb_printf(b, "# HELP bulwark_shield_samples_dropped_total Passed requests the detector did not "
                     "see (its ring was full: it samples).\n# TYPE bulwark_shield_samples_dropped_total "
                     "counter\nbulwark_shield_samples_dropped_total %llu\n", (unsigned long long)dropped);
    bw_sb_printf(b, "# HELP bulwark_shield_ratelimit_evictions_total Rate-limit keys forgotten while "
                     "still limited (the table is full).\n# TYPE bulwark_shield_ratelimit_evictions_total "
                     "counter\nbulwark_shield_ratelimit_evictions_total %llu\n",
                 (unsigned long long)(sh.gcra ? bw_gcra_evictions(sh.gcra) : 0));
    sh_render_detector_metrics(b);
    free(sums);
}

void bw_shield_render_stats_json(bw_sbuf *b)
{
    size_t nsites = bw_stats_nsites();
    bw_sb_printf(b, "{\"sites\":[");
    for (unsigned s = 0; s < nsites; s++) {
        site_sum m;
        sum_site(s, &m);
        bw_sb_printf(b, "%s{\"site\":\"", s ? "," : "");
        bw_sb_escaped(b, bw_stats_site_name(s));
        bw_sb_printf(b, "\",\"checked\":%llu,\"passed\":%llu,\"clean_requests\":%llu,"
                         "\"clean_bytes_in\":%llu,\"clean_bytes_out\":%llu,\"mitigated\":{",
                     (unsigned long long)m.seen, (unsigned long long)m.passed,
                     (unsigned long long)m.clean, (unsigned long long)m.clean_in,
                     (unsigned long long)m.clean_out);
        for (int v = 1; v < BW_SHIELD_VERDICT_COUNT; v++)
            bw_sb_printf(b, "%s\"%s\":%llu", v > 1 ? "," : "", verdict_names[v],
                         (unsigned long long)m.verdict[v]);
        bw_sb_printf(b, "}}");
    }
    bw_sb_printf(b, "]}");
}

char *bw_shield_render_attacks_json(size_t *len)
{
    return sh_render_attacks_json(len);
}
