/*
 * scenario.c - scenario specs and the seed-replay expansion (see scenario.h).
 *
 * seed-replay follows the seed document's story on a compressed clock of
 * `duration` seconds (default 60), with `rate` (default 5000 req/s) as the
 * size of the first flood and `users` real users throughout:
 *   0    - 15%  legit only: the baseline any detector must learn first
 *   15%  - 40%  p1-proxy-flood: many bots behind 500 proxy addresses
 *   40%  - 55%  quiet at L7 (the seed's SSDP/NTP reflection phase is L3/4)
 *   55%  - 100% p3-http-flood at 2 x rate from rotating addresses (3 each),
 *   60%  - 95%  with p3-brute-force and p3-cred-stuffing (rate / 20 each)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

/* Per-kind defaults: rate, per_ip, conns. */
static void kind_defaults(sg_scenario *s, const sg_defaults *d)
{
    s->attack = s->kind != SG_LEGIT;
    s->duration_s = d->duration_s;
    s->per_ip = 3;
    s->ips = 200;
    s->conns = 4096;
    s->users = 20;
    s->think_ms = 1000;
    s->interval_ms = 5000;
    s->mimic_browser = d->mimic_browser && s->attack;
    switch (s->kind) {
    case SG_LEGIT: s->rate = 0; s->per_ip = 0; break;
    case SG_HTTP_FLOOD: case SG_PROXY_FLOOD: case SG_CACHE_BUST: s->rate = 1000; break;
    case SG_POST_FLOOD: s->rate = 200; break;
    case SG_CRED_STUFFING: case SG_BRUTE_FORCE: s->rate = 100; break;
    case SG_SLOWLORIS: case SG_SLOW_POST: s->rate = 500; s->conns = 1000; s->per_ip = 1; break;
    default: break;
    }
}

static int set_err(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(err, n, fmt, a, b);
    return -1;
}

static int parse_num(const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

/* One key=value into s.  0 or -1. */
static int apply_key(sg_scenario *s, const char *k, const char *v, char *err, size_t errlen)
{
    double x;
    if (strcmp(k, "mimic") == 0) {
        if (strcmp(v, "browser") && strcmp(v, "bot"))
            return set_err(err, errlen, "mimic=%s: expected 'bot' or 'browser'%s", v, "");
        s->mimic_browser = strcmp(v, "browser") == 0;
        return 0;
    }
    if (strcmp(k, "name") == 0) {
        if (!*v || strlen(v) >= sizeof s->name)
            return set_err(err, errlen, "name=%s: 1 to 31 characters%s", v, "");
        snprintf(s->name, sizeof s->name, "%s", v);
        return 0;
    }
    static const struct { const char *key; double lo, hi; } keys[] = {
        { "rate", 0, 1e7 }, { "start", 0, SG_MAX_SECONDS }, { "duration", 0.001, SG_MAX_SECONDS },
        { "per-ip", 0, 1e9 }, { "ips", 1, 1e7 }, { "conns", 1, 19000 },
        { "users", 1, 10000 }, { "think", 0, 600000 }, { "interval", 1, 600000 },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(k, keys[i].key))
            continue;
        if (parse_num(v, keys[i].lo, keys[i].hi, &x) < 0) {
            snprintf(err, errlen, "%s=%s: expected a number from %g to %g", k, v, keys[i].lo,
                     keys[i].hi);
            return -1;
        }
        switch (i) {
        case 0: s->rate = x; break;
        case 1: s->start_s = x; break;
        case 2: s->duration_s = x; break;
        case 3: s->per_ip = (uint32_t)x; break;
        case 4: s->ips = (uint32_t)x; break;
        case 5: s->conns = (uint32_t)x; break;
        case 6: s->users = (uint32_t)x; break;
        case 7: s->think_ms = (uint32_t)x; break;
        default: s->interval_ms = (uint32_t)x; break;
        }
        return 0;
    }
    return set_err(err, errlen,
                   "unknown key '%s'%s (known: rate, start, duration, per-ip, ips, conns, users, "
                   "think, interval, mimic, name)",
                   k, "");
}

/* "k=v,k=v" into s. */
static int apply_keys(sg_scenario *s, char *list, char *err, size_t errlen)
{
    for (char *save = NULL, *kv = strtok_r(list, ",", &save); kv;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return set_err(err, errlen, "'%s': expected key=value%s", kv, "");
        *eq = 0;
        if (apply_key(s, kv, eq + 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static bool name_taken(const sg_run *r, const char *name)
{
    for (int i = 0; i < r->nscen; i++)
        if (strcmp(r->scen[i].name, name) == 0)
            return true;
    return false;
}

static sg_scenario *push(sg_run *r, sg_kind k, const char *name, const sg_defaults *d)
{
    if (r->nscen >= SG_MAX_SCENARIOS)
        return NULL;
    sg_scenario *s = &r->scen[r->nscen++];
    memset(s, 0, sizeof *s);
    s->kind = k;
    snprintf(s->name, sizeof s->name, "%s", name);
    kind_defaults(s, d);
    return s;
}

static int add_phase(sg_run *r, sg_kind k, const char *name, double from, double to, double rate,
                     const sg_defaults *d, double dur)
{
    sg_scenario *s = push(r, k, name, d);
    if (!s)
        return -1;
    s->start_s = from * dur;
    s->duration_s = (to - from) * dur;
    if (k == SG_LEGIT)
        return 0;
    s->rate = rate;
    return 0;
}

/* seed-replay: the phases above; keys: duration, rate, users, mimic. */
static int add_seed_replay(sg_run *r, char *keys, const sg_defaults *d, char *err, size_t errlen)
{
    sg_scenario opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = SG_HTTP_FLOOD;
    kind_defaults(&opt, d);
    opt.duration_s = d->duration_s > 1 ? d->duration_s : 60;
    opt.rate = 5000;
    if (keys && apply_keys(&opt, keys, err, errlen) < 0)
        return -1;
    double dur = opt.duration_s, R = opt.rate;
    int n0 = r->nscen;
    if (!name_taken(r, "legit") &&
        add_phase(r, SG_LEGIT, "legit", 0, 1, 0, d, dur) == 0)
        r->scen[r->nscen - 1].users = opt.users;
    if (add_phase(r, SG_PROXY_FLOOD, "p1-proxy-flood", 0.15, 0.40, R, d, dur) < 0 ||
        add_phase(r, SG_HTTP_FLOOD, "p3-http-flood", 0.55, 1.0, 2 * R, d, dur) < 0 ||
        add_phase(r, SG_BRUTE_FORCE, "p3-brute-force", 0.60, 0.95, R / 20, d, dur) < 0 ||
        add_phase(r, SG_CRED_STUFFING, "p3-cred-stuffing", 0.60, 0.95, R / 20, d, dur) < 0) {
        snprintf(err, errlen, "seed-replay: too many scenarios (at most %d)", SG_MAX_SCENARIOS);
        return -1;
    }
    for (int i = n0; i < r->nscen; i++) {
        r->scen[i].mimic_browser = r->scen[i].attack && opt.mimic_browser;
        if (r->scen[i].kind == SG_PROXY_FLOOD)
            r->scen[i].ips = 500;
    }
    return 0;
}

int sg_scenario_add(sg_run *r, const char *spec, const sg_defaults *d, char *err, size_t errlen)
{
    char buf[512];
    if (strlen(spec) >= sizeof buf)
        return set_err(err, errlen, "scenario spec too long: %.40s%s...", spec, "");
    snprintf(buf, sizeof buf, "%s", spec);
    char *keys = strchr(buf, ':');
    if (keys)
        *keys++ = 0;
    if (strcmp(buf, "seed-replay") == 0)
        return add_seed_replay(r, keys, d, err, errlen);
    int k = sg_kind_from_name(buf);
    if (k < 0)
        return set_err(err, errlen,
                       "unknown scenario '%s'%s (known: legit, http-flood, proxy-flood, "
                       "cache-bust, post-flood, cred-stuffing, brute-force, slowloris, "
                       "slow-post, seed-replay)",
                       buf, "");
    sg_scenario *s = push(r, (sg_kind)k, buf, d);
    if (!s)
        return set_err(err, errlen, "too many scenarios (at most 14)%s%s", "", "");
    if (keys && apply_keys(s, keys, err, errlen) < 0) {
        r->nscen--;
        return -1;
    }
    for (int i = 0; i < r->nscen - 1; i++) /* a second one of a kind gets a number */
        if (strcmp(r->scen[i].name, s->name) == 0) {
            char base[32];
            snprintf(base, sizeof base, "%s", s->name);
            snprintf(s->name, sizeof s->name, "%.26s-%d", base, r->nscen);
            break;
        }
    return 0;
}

uint32_t sg_run_seconds(const sg_run *r)
{
    double end = 1;
    for (int i = 0; i < r->nscen; i++)
        end = fmax(end, r->scen[i].start_s + r->scen[i].duration_s);
    uint32_t n = (uint32_t)ceil(end - 1e-9);
    return n > SG_MAX_SECONDS ? SG_MAX_SECONDS : n;
}
