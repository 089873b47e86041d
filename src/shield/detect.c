/*
 * detect.c - the shield thread: baselines, attack detection, signatures,
 * rule publication and attack events (see shield.h for the big picture,
 * docs/SHIELD.md for the maths).
 *
 * Every tick (SH_TICK_MS):
 *   1. drain the workers' rings of passed requests into this tick's
 *      heavy-hitter windows (Space-Saving per attribute) and a pending
 *      Count-Min per attribute;
 *   2. per site, the passed rate of the tick against the baseline (EWMA of
 *      the rate with its variance): a surge is passed rate > max(floor,
 *      mean + sigma x sd);
 *   3. quiet tick: the previous tick's counts join the baseline (decayed
 *      Count-Min) and its rate joins the EWMA.  Learning lags one tick so
 *      that the first, partial tick of a flood (below the threshold because
 *      the flood began at its end) never teaches the baseline that the
 *      bots are normal: a surge discards the held tick.  Surge: no learning; a signature is chosen
 *      from the window (the attribute value that covers most of the surge
 *      while matching at most shield_max_fp of the baseline) and published
 *      as a rule; with no such value, automatic under-attack mode;
 *   4. the origin's health counts too: a tick whose mean origin latency is
 *      over 3x its baseline (and 50 ms more), or whose share of origin
 *      errors is over 20 % (and 3x its baseline), is bad; three bad ticks
 *      in a row are an attack even without a surge (a slow POST flood on an
 *      expensive route).  Then a signature is tried if the passed traffic
 *      is clearly above its baseline, else automatic under-attack mode;
 *   5. an attack ends when the site's total rate (mitigated included) has
 *      been back under the threshold, and the origin healthy, for
 *      shield_quiet; its rules go.
 * Only this thread writes the state below; the admin thread reads events
 * and site summaries under `lock`.
 */
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "shield/shield_int.h"
#include "shield/signature.h"
#include "shield/sketch.h"

#define CMS_WIDTH_LOG2 11
#define CMS_DEPTH 4
#define WINDOW_K 64
#define MIN_RECORDS 20        /* fewer in a surge tick: wait for the next */
#define BASELINE_HALF_LIFE_S 300.0
#define RATE_TAU_S 60.0       /* time constant of the rate baseline */
#define RULES_PER_SITE 8
#define MAX_EVENTS 64
#define RETIRE_MS 200         /* a replaced rule set is freed after this, and once every worker has
                                 finished a loop round since (quiescent-state RCU, see reap()) */

typedef struct sh_event {
    uint32_t id;
    uint32_t site;
    uint64_t start_ms, end_ms;   /* wall clock ms; end 0 while ongoing */
    double peak_rps;
    uint64_t mitigated;
    uint64_t seen;
    char vector[160];            /* "fp=9c0f...: block (covers 99.8%, est. false positives 0.000%)" */
    char top_prefixes[3][52];
    char top_countries[3][3];    /* with a GeoIP database: of the top prefixes, by requests */
    char cause[24];              /* "rate surge" or "origin degraded" */
    unsigned nrules;
} sh_event;

/* The origin's health as the proxy sees it (the workers' per-site stats). */
typedef struct origin_watch {
    uint64_t n, err, lat_us;     /* totals at the last tick: answers timed, errors, latency sum */
    bw_ewma lat_ms;              /* mean origin latency per tick, learned on quiet ticks */
    bw_ewma err_share;
    unsigned samples;
    unsigned bad_ticks;          /* in a row */
    double last_lat_ms, last_err;
} origin_watch;

#define ORIGIN_MIN_ANSWERS 5      /* a tick with fewer says nothing about latency */
#define ORIGIN_MIN_SAMPLES 20     /* ticks learned before the baseline is trusted */
#define ORIGIN_BAD_TICKS 3

/* Login guessing of one vector on one site (docs/LOGIN.md): an event of
 * its own while attempts classified so keep coming. */
typedef struct login_watch {
    uint64_t met;                /* the counter's total at the last tick */
    uint64_t last_ms;            /* monotonic: last tick with such attempts */
    bool on;
    sh_event ev;
    uint64_t ev_at;
} login_watch;

typedef struct sh_site {
    bool used;
    origin_watch ow;
    bw_ewma rate;                /* passed requests/s on quiet ticks */
    unsigned samples;            /* quiet ticks learned */
    bw_cms *base[BW_ATTR_COUNT];
    bw_cms *pending[BW_ATTR_COUNT]; /* this tick's counts */
    bw_cms *held[BW_ATTR_COUNT];    /* the previous quiet tick's, learned if this one is quiet too */
    double held_rate;               /* its passed rate; < 0: nothing held */
    bw_topk *win[BW_ATTR_COUNT];
    bw_topk *prefixes;           /* raw /24 or /64 of this tick's records */
    bw_topk *atk_prefixes;       /* ... of the requests mitigated during the ongoing attack */
    uint64_t recorded;           /* records of this tick */
    uint64_t seen, passed;       /* counter totals at the last tick */
    bool attack;
    uint64_t last_high_ms;       /* monotonic: last tick the attack was visibly on (see site_tick) */
    uint64_t rule_hits;          /* hits of its automatic rules at the last tick */
    sh_event ev;                 /* the ongoing attack's event (copied into the ring) */
    uint64_t ev_at;              /* its number in the ring (det.nevents when it started) */
    login_watch login[4];        /* login guessing by bw_login_class (CLEAN unused) */
    uint64_t login_mitigated;    /* login attempts the shield answered, total at the last tick */
    /* what the admin thread may read, under det.lock (the fields above are
     * this thread's alone) */
    double pub_attack, pub_mean, pub_lat; /* attack as a gauge value: 1 or 0 */
} sh_site;

/* A live rule as the detector tracks it (the rule itself is shared with
 * the published sets). */
typedef struct live_rule {
    sh_rule *r;
    uint64_t last_hits, last_hit_ms, created_ms;
} live_rule;

typedef struct retired {
    sh_ruleset *set;
    sh_rule *dead[SH_MAX_RULES]; /* rules no newer set references */
    unsigned ndead;
    uint64_t at_ms;
    uint64_t qs[SH_MAX_WORKERS]; /* each worker's round count when it was retired */
} retired;

static struct {
    pthread_t thread;
    bool running;
    _Atomic int stop;
    pthread_mutex_t lock;        /* events and site summaries vs the admin thread */
    sh_site *sites;              /* [SH_MAX_SITES], allocated on first use */
    live_rule rules[SH_MAX_RULES];
    unsigned nrules;
    uint32_t next_rule_id, next_event_id;
    retired retire[16];          /* one publication per tick at most; a worker may sit 1 s in
                                    epoll_wait before its round ends (then publish waits) */
    unsigned nretire;
    bool publish_pending;        /* the retire list was full: publish next tick */
    unsigned pub_nrules;         /* for the admin thread, under lock */
    sh_event events[MAX_EVENTS]; /* ring, newest at (nevents - 1) % MAX_EVENTS */
    uint64_t nevents;
    uint64_t last_tick_ms;
} det = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- sites ------------------------------------------------------------------ */

static void site_free(sh_site *s)
{
    for (int a = 0; a < BW_ATTR_COUNT; a++) {
        bw_cms_free(s->base[a]);
        bw_cms_free(s->pending[a]);
        bw_cms_free(s->held[a]);
        bw_topk_free(s->win[a]);
    }
    bw_topk_free(s->prefixes);
    bw_topk_free(s->atk_prefixes);
    memset(s, 0, sizeof *s);
}

static sh_site *site_get(uint32_t slot)
{
    if (slot >= SH_MAX_SITES)
        return NULL;
    sh_site *s = &det.sites[slot];
    if (s->used)
        return s;
    bool ok = true;
    for (int a = 0; a < BW_ATTR_COUNT; a++) {
        s->base[a] = bw_cms_new(CMS_WIDTH_LOG2, CMS_DEPTH);
        s->pending[a] = bw_cms_new(CMS_WIDTH_LOG2, CMS_DEPTH);
        s->held[a] = bw_cms_new(CMS_WIDTH_LOG2, CMS_DEPTH);
        s->win[a] = bw_topk_new(WINDOW_K);
        ok = ok && s->base[a] && s->pending[a] && s->held[a] && s->win[a];
    }
    s->prefixes = bw_topk_new(WINDOW_K);
    s->atk_prefixes = bw_topk_new(WINDOW_K);
    if (!ok || !s->prefixes || !s->atk_prefixes) {
        site_free(s);
        return NULL;
    }
    s->used = true;
    s->held_rate = -1;
    return s;
}

static const bw_site_conf *site_conf(const bw_conf *conf, uint32_t slot)
{
    for (size_t i = 0; i < conf->nsites; i++)
        if (conf->sites[i].stats_slot == slot)
            return &conf->sites[i];
    return NULL;
}

/* ---- draining the rings ------------------------------------------------------ */

static uint64_t prefix_key(const sh_record *r)
{
    uint64_t k = 0;
    memcpy(&k, r->prefix, 8);
    return k ^ ((uint64_t)r->family << 56); /* v4 uses 3 bytes: the family byte never collides */
}

/* At most this many records of a worker are counted per tick, spread
 * evenly over what is there: shares are what a signature needs (a value
 * covering 60 % of a surge is never missed in 512 draws), and counting
 * every record cost this thread ~0.6 us per request (12 sketch updates).
 * Rates come from the counters, not from here. */
#define DRAIN_SAMPLE 512

static void drain_one(bw_shield_worker *w)
{
    uint32_t tail = atomic_load_explicit(&w->tail, memory_order_relaxed);
    uint32_t head = atomic_load_explicit(&w->head, memory_order_acquire);
    uint32_t stride = (head - tail + DRAIN_SAMPLE - 1) / DRAIN_SAMPLE;
    if (stride == 0)
        stride = 1;
    for (; tail != head; tail += (head - tail < stride ? head - tail : stride)) {
        const sh_record *r = &w->rec[tail & (SH_RING - 1)];
        sh_site *s = site_get(r->site);
        if (!s)
            continue;
        if (r->mitigated) {
            if (s->attack)
                bw_topk_add(s->atk_prefixes, prefix_key(r), 1);
            continue;
        }
        for (int a = 0; a < BW_ATTR_COUNT; a++) {
            bw_topk_add(s->win[a], r->attr[a], 1);
            bw_cms_add(s->pending[a], r->attr[a], 1);
        }
        bw_topk_add(s->prefixes, prefix_key(r), 1);
        s->recorded++;
    }
    atomic_store_explicit(&w->tail, tail, memory_order_release);
}

static void site_totals(uint32_t slot, uint64_t *seen, uint64_t *passed)
{
    *seen = *passed = 0;
    unsigned n = atomic_load(&sh_nworkers);
    for (unsigned i = 0; i < n; i++) {
        bw_shield_worker *w = sh_workers[i];
        if (!w)
            continue;
        *seen += bw_counter_get(&w->site[slot].seen);
        *passed += bw_counter_get(&w->site[slot].passed);
    }
}

/* ---- rules -------------------------------------------------------------------- */

/* Swap in a rule set made of the live rules.  false if it could not be
 * done now (no memory, or too many old sets still in their grace period):
 * the caller tries again next tick; workers keep the old set meanwhile. */
static bool publish(void)
{
    if (det.nretire == sizeof det.retire / sizeof det.retire[0])
        return false;
    sh_ruleset *set = calloc(1, sizeof *set);
    if (!set)
        return false;
    for (unsigned i = 0; i < det.nrules; i++)
        set->rules[set->n++] = det.rules[i].r;
    sh_ruleset *old = atomic_exchange_explicit(&sh_current_rules, set, memory_order_acq_rel);
    if (!old)
        return true;
    retired *rt = &det.retire[det.nretire++];
    rt->set = old;
    rt->at_ms = mono_ms();
    for (unsigned i = 0; i < SH_MAX_WORKERS; i++)
        rt->qs[i] = sh_workers[i] ? atomic_load_explicit(&sh_workers[i]->qs, memory_order_acquire) : 0;
    rt->ndead = 0;
    for (unsigned i = 0; i < old->n; i++) {
        bool alive = false;
        for (unsigned j = 0; j < set->n; j++)
            alive = alive || set->rules[j] == old->rules[i];
        if (!alive)
            rt->dead[rt->ndead++] = old->rules[i];
    }
    return true;
}

/* Every worker has finished a loop round since the set was retired, so
 * none can still be inside a check that loaded it. */
static bool all_moved_on(const retired *rt)
{
    unsigned n = atomic_load(&sh_nworkers);
    for (unsigned i = 0; i < n; i++)
        if (sh_workers[i] &&
            atomic_load_explicit(&sh_workers[i]->qs, memory_order_acquire) == rt->qs[i])
            return false;
    return true;
}

static void reap(uint64_t now, bool force)
{
    unsigned k = 0;
    for (unsigned i = 0; i < det.nretire; i++) {
        retired *rt = &det.retire[i];
        if (!force && (now - rt->at_ms < RETIRE_MS || !all_moved_on(rt))) {
            det.retire[k++] = *rt;
            continue;
        }
        for (unsigned j = 0; j < rt->ndead; j++)
            free(rt->dead[j]);
        free(rt->set);
    }
    det.nretire = k;
}

static unsigned site_rule_count(uint32_t slot)
{
    unsigned n = 0;
    for (unsigned i = 0; i < det.nrules; i++)
        n += det.rules[i].r->site == slot;
    return n;
}

/* All hits of a site's automatic rules so far. */
static uint64_t site_rule_hits(uint32_t slot)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < det.nrules; i++)
        if (det.rules[i].r->site == slot)
            n += atomic_load_explicit(&det.rules[i].r->hits, memory_order_relaxed);
    return n;
}

static live_rule *rule_find(uint32_t slot, uint8_t attr, uint64_t value)
{
    for (unsigned i = 0; i < det.nrules; i++) {
        sh_rule *r = det.rules[i].r;
        if (r->site == slot && r->attr == attr && (attr == SH_ANY_ATTR || r->value == value))
            return &det.rules[i];
    }
    return NULL;
}

static sh_rule *rule_add(uint32_t slot, uint8_t attr, uint64_t value, uint8_t action, uint64_t now)
{
    if (det.nrules == SH_MAX_RULES || site_rule_count(slot) >= RULES_PER_SITE)
        return NULL;
    sh_rule *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = ++det.next_rule_id;
    r->site = slot;
    r->attr = attr;
    r->value = value;
    atomic_init(&r->action, action);
    det.rules[det.nrules++] = (live_rule){ .r = r, .last_hits = 0, .last_hit_ms = now, .created_ms = now };
    return r;
}

/* Drop the rules of a site (attack over), or those idle for quiet_ms (the
 * attack moved on to another vector).  true if any went. */
static bool rules_expire(uint32_t slot, bool all, uint64_t now, unsigned quiet_ms)
{
    unsigned k = 0;
    bool changed = false;
    for (unsigned i = 0; i < det.nrules; i++) {
        live_rule *lr = &det.rules[i];
        uint64_t hits = atomic_load_explicit(&lr->r->hits, memory_order_relaxed);
        if (hits != lr->last_hits) {
            lr->last_hits = hits;
            lr->last_hit_ms = now;
        }
        bool drop = lr->r->site == slot && (all || now - lr->last_hit_ms >= quiet_ms);
        if (drop)
            changed = true;
        else
            det.rules[k++] = *lr;
    }
    det.nrules = k;
    return changed;
}

/* ---- events -------------------------------------------------------------------- */

static void prefix_text(uint64_t key, char *out, size_t cap)
{
    uint8_t b[8];
    memcpy(b, &key, 8);
    int family = (int)(key >> 56);
    if (family == AF_INET) {
        snprintf(out, cap, "%u.%u.%u.0/24", b[0], b[1], b[2]);
    } else {
        uint8_t a6[16] = {0};
        memcpy(a6, b, 7); /* the top byte carries the family tag */
        char t[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a6, t, sizeof t);
        snprintf(out, cap, "%.40s/64", t); /* byte 8 of the prefix is lost to the tag */
    }
}

/* The address a prefix key stands for (its first address). */
static int prefix_addr(uint64_t key, uint8_t addr[16])
{
    memset(addr, 0, 16);
    memcpy(addr, &key, 8);
    int family = (int)(key >> 56);
    if (family == AF_INET)
        return AF_INET;
    addr[7] = 0; /* the family tag */
    return AF_INET6;
}

/* The prefixes of the attack: the tick's busiest, ranked by how far they
 * are above what the baseline expects of them (real users' /24s recur in
 * the baseline; a botnet's do not).  Fills top[] with the keys in order of
 * excess, the excess in count; returns how many have some. */
static size_t attack_prefixes(const sh_site *s, double expected, bw_topk_item *top, size_t cap)
{
    size_t n = bw_topk_list(s->prefixes, top, cap);
    double total = bw_cms_total(s->base[BW_ATTR_PREFIX]);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t a[16];
        int family = prefix_addr(top[i].key, a);
        double share = total > 0 ? bw_cms_get(s->base[BW_ATTR_PREFIX], bw_shield_prefix_hash(family, a)) / total : 0;
        double excess = (double)(top[i].count - top[i].err) - share * expected;
        if (excess >= 1) {
            top[k] = top[i];
            top[k++].count = (uint64_t)excess;
        }
    }
    for (size_t i = 1; i < k; i++) /* insertion sort by excess, k <= 16 */
        for (size_t j = i; j > 0 && top[j].count > top[j - 1].count; j--) {
            bw_topk_item t = top[j];
            top[j] = top[j - 1];
            top[j - 1] = t;
        }
    return k;
}

/* The countries of the attack's prefixes, most requests first. */
static void top_countries(const bw_topk_item *top, size_t n, sh_event *e)
{
    char cc[16][3];
    uint64_t count[16];
    size_t ncc = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t a[16];
        char c[3];
        if (!sh_country(prefix_addr(top[i].key, a), a, c))
            continue;
        size_t j = 0;
        while (j < ncc && memcmp(cc[j], c, 3) != 0)
            j++;
        if (j == ncc) {
            memcpy(cc[ncc], c, 3);
            count[ncc++] = 0;
        }
        count[j] += top[i].count;
    }
    for (int k = 0; k < 3 && ncc; k++) {
        size_t best = 0;
        for (size_t j = 1; j < ncc; j++)
            if (count[j] > count[best])
                best = j;
        memcpy(e->top_countries[k], cc[best], 3);
        cc[best][0] = cc[ncc - 1][0], cc[best][1] = cc[ncc - 1][1], cc[best][2] = cc[ncc - 1][2];
        count[best] = count[ncc - 1];
        ncc--;
    }
}

static void event_json(bw_sbuf *b, const sh_event *e)
{
    bw_sb_printf(b, "{\"id\":%u,\"site\":\"", e->id);
    bw_sb_escaped(b, bw_stats_site_name(e->site));
    bw_sb_printf(b, "\",\"start_ms\":%llu,\"end_ms\":%llu,\"ongoing\":%s,\"peak_rps\":%.0f,"
                    "\"requests\":%llu,\"mitigated\":%llu,\"rules\":%u,\"vector\":\"",
                 (unsigned long long)e->start_ms, (unsigned long long)e->end_ms,
                 e->end_ms ? "false" : "true", e->peak_rps, (unsigned long long)e->seen,
                 (unsigned long long)e->mitigated, e->nrules);
    bw_sb_escaped(b, e->vector);
    bw_sb_printf(b, "\",\"cause\":\"%s\",\"top_prefixes\":[", e->cause);
    for (int i = 0, k = 0; i < 3; i++)
        if (e->top_prefixes[i][0])
            bw_sb_printf(b, "%s\"%s\"", k++ ? "," : "", e->top_prefixes[i]);
    bw_sb_printf(b, "],\"top_countries\":[");
    for (int i = 0, k = 0; i < 3; i++)
        if (e->top_countries[i][0])
            bw_sb_printf(b, "%s\"%.2s\"", k++ ? "," : "", e->top_countries[i]);
    bw_sb_printf(b, "]}");
}

static void event_log(const char *what, const sh_event *e)
{
    bw_sbuf b = {0};
    event_json(&b, e);
    size_t len;
    char *t = bw_sb_finish(&b, &len);
    if (t)
        bw_log(BW_LOG_NOTICE, "shield: attack %s %s", what, t);
    free(t);
}

/* Put e into the ring: its number there. */
static uint64_t ring_add(const sh_event *e)
{
    pthread_mutex_lock(&det.lock);
    uint64_t at = det.nevents++;
    det.events[at % MAX_EVENTS] = *e;
    pthread_mutex_unlock(&det.lock);
    return at;
}

/* Refresh an event at its number in the ring, unless 64 newer events have
 * taken that place since. */
static void ring_sync(uint64_t at, const sh_event *e)
{
    pthread_mutex_lock(&det.lock);
    if (det.nevents - at <= MAX_EVENTS)
        det.events[at % MAX_EVENTS] = *e;
    pthread_mutex_unlock(&det.lock);
}

/* Copy the site's ongoing event into its place in the ring, unless 64
 * newer events have taken that place since. */
static void event_sync(sh_site *s)
{
    /* once requests are being stopped, they say best where the attack
     * comes from */
    bw_topk_item top[16];
    size_t n = bw_topk_list(s->atk_prefixes, top, 16);
    if (n) {
        memset(s->ev.top_prefixes, 0, sizeof s->ev.top_prefixes);
        memset(s->ev.top_countries, 0, sizeof s->ev.top_countries);
        for (size_t i = 0; i < n && i < 3; i++)
            prefix_text(top[i].key, s->ev.top_prefixes[i], sizeof s->ev.top_prefixes[i]);
        top_countries(top, n, &s->ev);
    }
    ring_sync(s->ev_at, &s->ev);
}

static const char *const login_vectors[] = { "", "brute-force", "credential-stuffing", "password-spraying" };

/* The workers' totals of login attempts met while classified as each
 * class, and of login attempts the shield answered itself (any class). */
static void login_totals(uint32_t slot, uint64_t met[4], uint64_t *mitigated)
{
    memset(met, 0, 4 * sizeof *met);
    *mitigated = 0;
    unsigned n = atomic_load(&sh_nworkers);
    for (unsigned i = 0; i < n; i++) {
        bw_shield_worker *w = sh_workers[i];
        if (!w)
            continue;
        for (int k = 1; k < 4; k++)
            met[k] += bw_counter_get(&w->site[slot].login_class[k]);
        *mitigated += bw_counter_get(&w->site[slot].reason[BW_REASON_LOGIN]);
    }
}

/* Login guessing as attack events: one starts with the first tick that met
 * attempts of its vector, and ends after shield_quiet without any. */
static void login_events_tick(uint32_t slot, sh_site *s, const bw_conf *conf, double dt_s, uint64_t now)
{
    uint64_t met[4], mitigated;
    login_totals(slot, met, &mitigated);
    uint64_t new_mit = mitigated - s->login_mitigated;
    s->login_mitigated = mitigated;
    for (int k = 1; k < 4; k++) {
        login_watch *lw = &s->login[k];
        uint64_t new_met = met[k] - lw->met;
        lw->met = met[k];
        if (new_met) {
            lw->last_ms = now;
            if (!lw->on) {
                lw->on = true;
                memset(&lw->ev, 0, sizeof lw->ev);
                lw->ev.id = ++det.next_event_id;
                lw->ev.site = slot;
                lw->ev.start_ms = wall_ms();
                snprintf(lw->ev.vector, sizeof lw->ev.vector, "%s: challenged, then blocked",
                         login_vectors[k]);
                snprintf(lw->ev.cause, sizeof lw->ev.cause, "%s", login_vectors[k]);
                lw->ev_at = ring_add(&lw->ev);
                event_log("started", &lw->ev);
            }
            double rps = (double)new_met / dt_s;
            if (rps > lw->ev.peak_rps)
                lw->ev.peak_rps = rps;
            lw->ev.seen += new_met;
            lw->ev.mitigated += new_mit;
            ring_sync(lw->ev_at, &lw->ev);
        } else if (lw->on && now - lw->last_ms >= conf->shield_quiet_ms) {
            lw->on = false;
            lw->ev.end_ms = wall_ms();
            ring_sync(lw->ev_at, &lw->ev);
            event_log("ended", &lw->ev);
        }
    }
}

static void event_start(uint32_t slot, sh_site *s, double expected)
{
    sh_event *e = &s->ev;
    memset(e, 0, sizeof *e);
    bw_topk_clear(s->atk_prefixes);
    e->id = ++det.next_event_id;
    e->site = slot;
    e->start_ms = wall_ms();
    bw_topk_item top[16];
    size_t n = attack_prefixes(s, expected, top, 16);
    for (size_t i = 0; i < n && i < 3; i++)
        prefix_text(top[i].key, e->top_prefixes[i], sizeof e->top_prefixes[i]);
    top_countries(top, n, e);
    s->ev_at = ring_add(e);
    event_sync(s);
}

static const char *action_name(int a)
{
    return a == BW_SHIELD_BLOCK ? "block" : a == BW_SHIELD_POW ? "pow" : "challenge";
}

/* ---- the tick -------------------------------------------------------------------- */

static double threshold_of(const sh_site *s, const bw_conf *conf, double dt_s)
{
    return bw_sig_threshold(&s->rate, s->samples * dt_s, dt_s, conf->shield_sigma, conf->shield_floor);
}

/* A quiet tick: learn the held one, hold this one. */
static void learn(sh_site *s, double rate_passed, double dt_s)
{
    if (s->held_rate >= 0) {
        double alpha = dt_s / RATE_TAU_S;
        /* a young baseline is a plain mean of what it has seen, then EWMA */
        if (s->samples < (unsigned)(RATE_TAU_S / dt_s) && 1.0 / (s->samples + 1) > alpha)
            alpha = 1.0 / (s->samples + 1);
        bw_ewma_add(&s->rate, s->held_rate, alpha);
        s->samples++;
        double decay = pow(0.5, dt_s / BASELINE_HALF_LIFE_S);
        for (int a = 0; a < BW_ATTR_COUNT; a++) {
            bw_cms_decay(s->base[a], decay);
            bw_cms_merge(s->base[a], s->held[a]);
        }
    }
    for (int a = 0; a < BW_ATTR_COUNT; a++) {
        bw_cms *t = s->held[a];
        s->held[a] = s->pending[a];
        s->pending[a] = t; /* cleared at the end of the tick */
    }
    s->held_rate = rate_passed;
}

/* A surge (or an attack going on): the held tick is not learned. */
static void forget_held(sh_site *s)
{
    for (int a = 0; a < BW_ATTR_COUNT; a++)
        bw_cms_clear(s->held[a]);
    s->held_rate = -1;
}

/* The surge of passed requests goes on although a challenge rule already
 * covers it: the bots pass the cookie challenge (they keep cookies).  (A
 * degraded origin alone does not count: it takes a while to recover.)  Raise the rule to proof
 * of work in place.  A rule gets two ticks first: requests checked before
 * the swap still show in the tick after it. */
static bool escalate(uint32_t slot, live_rule *lr, uint64_t now)
{
    if (!lr || now - lr->created_ms < 2 * SH_TICK_MS ||
        atomic_load_explicit(&lr->r->action, memory_order_relaxed) != BW_SHIELD_CHALLENGE)
        return false;
    atomic_store_explicit(&lr->r->action, (uint8_t)BW_SHIELD_POW, memory_order_relaxed);
    lr->created_ms = now;
    bw_log(BW_LOG_NOTICE, "shield: site %s rule %u: the surge goes on through the cookie challenge; "
           "now proof of work", bw_stats_site_name(slot), lr->r->id);
    return true;
}

static void add_signature_rule(uint32_t slot, sh_site *s, const bw_site_conf *sc, const bw_conf *conf,
                               double passed, double expected, bool try_signature, bool surge,
                               uint64_t now, bool *changed)
{
    if (try_signature && s->recorded < MIN_RECORDS)
        return;
    const bw_topk *win[BW_ATTR_COUNT];
    const bw_cms *base[BW_ATTR_COUNT];
    for (int a = 0; a < BW_ATTR_COUNT; a++)
        win[a] = s->win[a], base[a] = s->base[a];
    bw_signature sig = { .attr = -1 };
    if (try_signature)
        sig = bw_sig_choose(win, base, BW_ATTR_COUNT, passed, expected, (double)s->recorded,
                            conf->shield_max_fp);
    sh_rule *r = NULL;
    char vec[160];
    if (sig.attr >= 0) {
        if (surge && escalate(slot, rule_find(slot, (uint8_t)sig.attr, sig.value), now))
            *changed = true;
        if (rule_find(slot, (uint8_t)sig.attr, sig.value))
            return;
        /* Block only what the baseline says no real user sends; with no
         * baseline yet (the attack came first), challenge: a browser passes. */
        uint8_t action = sig.baseline_known && sig.fp <= conf->shield_max_fp / 10 ? BW_SHIELD_BLOCK
                                                                                   : BW_SHIELD_CHALLENGE;
        r = rule_add(slot, (uint8_t)sig.attr, sig.value, action, now);
        snprintf(vec, sizeof vec, "%s=%016llx: %s (covers %.1f%% of the surge, est. false positives %.3f%%%s)",
                 bw_shield_attr_name(sig.attr), (unsigned long long)sig.value, action_name(action),
                 sig.cover * 100, sig.fp * 100, sig.baseline_known ? "" : ", no baseline yet");
    } else if (sc && sc->under_attack == BW_UNDER_ATTACK_AUTO) {
        if (surge && escalate(slot, rule_find(slot, SH_ANY_ATTR, 0), now))
            *changed = true;
        if (rule_find(slot, SH_ANY_ATTR, 0))
            return;
        uint8_t action = sc->challenge_kind >= 2 ? BW_SHIELD_POW : BW_SHIELD_CHALLENGE;
        r = rule_add(slot, SH_ANY_ATTR, 0, action, now);
        snprintf(vec, sizeof vec, "no narrow signature: under-attack mode, %s for visitors without a "
                 "clearance token", action_name(action));
    }
    if (!r)
        return;
    *changed = true;
    s->ev.nrules++;
    memcpy(s->ev.vector, vec, sizeof vec);
    bw_log(BW_LOG_NOTICE, "shield: site %s rule %u: %s", bw_stats_site_name(slot), r->id, vec);
}

/* This tick's origin health against its baseline; learns when learn_ok.
 * true once ORIGIN_BAD_TICKS bad ticks came in a row. */
static bool origin_degraded(uint32_t slot, origin_watch *ow, double dt_s, bool learn_ok)
{
    uint64_t n = 0, err = 0, lat = 0;
    size_t nw = bw_stats_nworkers();
    for (size_t i = 0; i < nw; i++) {
        bw_site_stats *st = &bw_stats_worker(i)->sites[slot];
        for (int b = 0; b <= BW_STATS_LAT_BUCKETS; b++)
            n += bw_counter_get(&st->lat_bucket[b]);
        err += bw_counter_get(&st->upstream_errors);
        lat += bw_counter_get(&st->lat_sum_us);
    }
    uint64_t dn = n - ow->n, derr = err - ow->err, dlat = lat - ow->lat_us;
    ow->n = n, ow->err = err, ow->lat_us = lat;
    if (dn + derr < ORIGIN_MIN_ANSWERS) /* idle, or stalled: keep the last verdict */
        return ow->bad_ticks >= ORIGIN_BAD_TICKS;
    double lat_ms = dn ? (double)dlat / (double)dn / 1000.0 : ow->last_lat_ms;
    double share = (double)derr / (double)(dn + derr);
    ow->last_lat_ms = lat_ms, ow->last_err = share;
    bool known = ow->samples >= ORIGIN_MIN_SAMPLES;
    double base_lat = ow->lat_ms.primed ? ow->lat_ms.mean : lat_ms;
    double base_err = ow->err_share.primed ? ow->err_share.mean : 0;
    bool bad = known && ((dn && lat_ms > 3 * base_lat && lat_ms > base_lat + 50) ||
                         (derr >= ORIGIN_MIN_ANSWERS && share > 0.2 && share > 3 * base_err));
    ow->bad_ticks = bad ? ow->bad_ticks + 1 : 0;
    if (!bad && learn_ok) {
        double alpha = dt_s / RATE_TAU_S;
        if (1.0 / (ow->samples + 1) > alpha)
            alpha = 1.0 / (ow->samples + 1);
        if (dn)
            bw_ewma_add(&ow->lat_ms, lat_ms, alpha);
        bw_ewma_add(&ow->err_share, share, alpha);
        ow->samples++;
    }
    return ow->bad_ticks >= ORIGIN_BAD_TICKS;
}

static void attack_end(uint32_t slot, sh_site *s, uint64_t now, bool *changed)
{
    *changed |= rules_expire(slot, true, now, 0);
    s->ev.end_ms = wall_ms();
    event_sync(s);
    event_log("ended", &s->ev);
    s->attack = false;
}

static void site_tick(uint32_t slot, sh_site *s, const bw_conf *conf, double dt_s, uint64_t now,
                      bool *changed)
{
    uint64_t seen, passed;
    site_totals(slot, &seen, &passed);
    double d_seen = (double)(seen - s->seen), d_passed = (double)(passed - s->passed);
    s->seen = seen;
    s->passed = passed;
    double rate_seen = d_seen / dt_s, rate_passed = d_passed / dt_s;
    double thr = threshold_of(s, conf, dt_s);
    const bw_site_conf *sc = site_conf(conf, slot);
    if (sc && !sc->shield) {
        /* nothing recorded, nothing to learn; an attack in course ends */
        if (s->attack)
            attack_end(slot, s, now, changed);
        return;
    }
    bool surge = rate_passed > thr;
    bool degraded = origin_degraded(slot, &s->ow, dt_s, !s->attack && !surge);
    /* The attack is visibly on while the total rate (mitigated included)
     * is above the threshold, the origin is unwell, or its rules still
     * catch requests (a flood below the threshold that only looks small
     * because it is being stopped). */
    uint64_t hits = site_rule_hits(slot);
    bool catching = hits - s->rule_hits >= MIN_RECORDS / 4;
    s->rule_hits = hits;
    if (rate_seen > thr || degraded || catching)
        s->last_high_ms = now;

    if ((surge || degraded) && !s->attack) {
        s->attack = true;
        event_start(slot, s, (s->rate.primed ? s->rate.mean : 0) * dt_s);
        snprintf(s->ev.cause, sizeof s->ev.cause, "%s", surge ? "rate surge" : "origin degraded");
        if (!surge)
            bw_log(BW_LOG_NOTICE, "shield: site %s: origin degraded (mean latency %.1f ms against %.1f, "
                   "errors %.1f%%) at %.0f requests/s passed", bw_stats_site_name(slot),
                   s->ow.last_lat_ms, s->ow.lat_ms.mean, s->ow.last_err * 100, rate_passed);
    }
    if (s->attack) {
        s->ev.seen += (uint64_t)d_seen;
        s->ev.mitigated += (uint64_t)(d_seen - d_passed);
        if (rate_seen > s->ev.peak_rps)
            s->ev.peak_rps = rate_seen;
    }
    if (surge || s->attack)
        forget_held(s);
    if (surge || degraded) {
        double expected = (s->rate.primed ? s->rate.mean : 0) * dt_s;
        /* A degraded origin without a surge: a signature only if the
         * passed traffic is clearly above its baseline (else any jitter
         * "covers" a tiny surge); otherwise under-attack mode. */
        bool clear = surge || d_passed - expected >= fmax(MIN_RECORDS, 0.25 * expected);
        unsigned before = s->ev.nrules;
        add_signature_rule(slot, s, sc, conf, d_passed, expected, clear, surge, now, changed);
        if (before == 0 && s->ev.nrules == 1)
            event_log("started", &s->ev);
    } else if (s->attack && (now - s->last_high_ms >= conf->shield_quiet_ms || (sc && !sc->shield))) {
        attack_end(slot, s, now, changed);
    } else if (!s->attack) {
        learn(s, rate_passed, dt_s);
    } else {
        *changed |= rules_expire(slot, false, now, conf->shield_quiet_ms);
    }
    for (int a = 0; a < BW_ATTR_COUNT; a++) {
        bw_topk_clear(s->win[a]);
        bw_cms_clear(s->pending[a]);
    }
    bw_topk_clear(s->prefixes);
    s->recorded = 0;
    if (s->attack)
        event_sync(s);
    pthread_mutex_lock(&det.lock);
    s->pub_attack = s->attack ? 1 : 0;
    s->pub_mean = s->rate.primed ? s->rate.mean : 0;
    s->pub_lat = s->ow.lat_ms.primed ? s->ow.lat_ms.mean : 0;
    pthread_mutex_unlock(&det.lock);
}

static void tick(void)
{
    uint64_t now = mono_ms();
    double dt_s = (double)(now - det.last_tick_ms) / 1000.0;
    if (dt_s <= 0)
        return;
    det.last_tick_ms = now;
    sh_tick_clock();
    unsigned n = atomic_load(&sh_nworkers);
    for (unsigned i = 0; i < n; i++)
        if (sh_workers[i])
            drain_one(sh_workers[i]);
    const bw_conf *conf = bw_conf_current();
    bool changed = false;
    size_t nsites = bw_stats_nsites();
    for (uint32_t slot = 0; slot < nsites && slot < SH_MAX_SITES; slot++) {
        uint64_t seen, passed;
        sh_site *s = &det.sites[slot];
        if (!s->used) {
            site_totals(slot, &seen, &passed);
            if (seen == 0 || !(s = site_get(slot)))
                continue;
        }
        site_tick(slot, s, conf, dt_s, now, &changed);
        login_events_tick(slot, s, conf, dt_s, now);
    }
    if (changed || det.publish_pending)
        det.publish_pending = !publish();
    reap(now, false);
    pthread_mutex_lock(&det.lock);
    det.pub_nrules = det.nrules;
    pthread_mutex_unlock(&det.lock);
}

static void *detect_main(void *arg)
{
    (void)arg;
    det.last_tick_ms = mono_ms();
    while (!atomic_load(&det.stop)) {
        struct timespec ts = { 0, SH_TICK_MS * 1000000L };
        nanosleep(&ts, NULL);
        tick();
    }
    return NULL;
}

int sh_detect_start(void)
{
    det.sites = calloc(SH_MAX_SITES, sizeof *det.sites);
    if (!det.sites)
        return -1;
    atomic_store(&det.stop, 0);
    if (pthread_create(&det.thread, NULL, detect_main, NULL) != 0) {
        free(det.sites);
        det.sites = NULL;
        return -1;
    }
    det.running = true;
    return 0;
}

void sh_detect_stop(void)
{
    if (!det.running)
        return;
    atomic_store(&det.stop, 1);
    pthread_join(det.thread, NULL);
    det.running = false;
    for (unsigned i = 0; i < SH_MAX_SITES; i++)
        site_free(&det.sites[i]);
    free(det.sites);
    det.sites = NULL;
    sh_ruleset *set = atomic_exchange(&sh_current_rules, NULL);
    free(set);
    for (unsigned i = 0; i < det.nrules; i++)
        free(det.rules[i].r);
    det.nrules = 0;
    reap(0, true); /* the workers have stopped */
}

/* ---- admin ------------------------------------------------------------------------ */

char *sh_render_attacks_json(size_t *len)
{
    bw_sbuf b = {0};
    bw_sb_printf(&b, "{\"attacks\":[");
    pthread_mutex_lock(&det.lock);
    uint64_t first = det.nevents > MAX_EVENTS ? det.nevents - MAX_EVENTS : 0;
    for (uint64_t i = det.nevents; i > first; i--) { /* newest first */
        if (i != det.nevents)
            bw_sb_printf(&b, ",");
        event_json(&b, &det.events[(i - 1) % MAX_EVENTS]);
    }
    pthread_mutex_unlock(&det.lock);
    bw_sb_printf(&b, "]}\n");
    return bw_sb_finish(&b, len);
}

/* One gauge per site from a double that site_tick publishes (under det.lock). */
static void site_gauge(bw_sbuf *b, const char *name, const char *help, size_t field, int prec)
{
    bw_sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    size_t nsites = bw_stats_nsites();
    for (uint32_t i = 0; det.sites && i < nsites && i < SH_MAX_SITES; i++) {
        double v;
        memcpy(&v, (const char *)&det.sites[i] + field, sizeof v);
        sh_site_label(b, name, i);
        bw_sb_printf(b, "} %.*f\n", prec, v);
    }
}

void sh_render_detector_metrics(bw_sbuf *b)
{
    pthread_mutex_lock(&det.lock);
    bw_sb_printf(b, "# HELP bulwark_shield_attacks_total Attacks detected since start.\n"
                    "# TYPE bulwark_shield_attacks_total counter\nbulwark_shield_attacks_total %llu\n",
                 (unsigned long long)det.nevents);
    bw_sb_printf(b, "# HELP bulwark_shield_rules_active Automatic rules in force.\n"
                    "# TYPE bulwark_shield_rules_active gauge\nbulwark_shield_rules_active %u\n", det.pub_nrules);
    site_gauge(b, "bulwark_shield_under_attack", "1 while an attack on the site is ongoing.",
               offsetof(sh_site, pub_attack), 0);
    site_gauge(b, "bulwark_shield_origin_latency_baseline_ms",
               "Learned mean origin latency of the site.", offsetof(sh_site, pub_lat), 2);
    site_gauge(b, "bulwark_shield_baseline_rps", "Learned normal passed requests/s of the site.",
               offsetof(sh_site, pub_mean), 1);
    pthread_mutex_unlock(&det.lock);
}
