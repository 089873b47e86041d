/*
 * loginguard.c - login protection glue (docs/LOGIN.md): which requests are
 * login attempts, the keys their outcome is counted under, the shared
 * failure tables, and the step from classification to an answer.
 *
 * The tables are shared by all workers behind one mutex: login requests
 * are a small share of any traffic (and a bot's rotating connections land
 * on every worker, so per-worker counts would each see a fraction of an
 * attack).  Keys are salted hashes (a random salt per process): the tables
 * hold no account name and no password, and nothing here logs either.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "core/hash.h"
#include "http/form.h"
#include "shield/login.h"
#include "shield/policy.h"
#include "shield/shield_int.h"

#define LOGIN_TABLE_ENTRIES 32768 /* per table: 1 MiB each, made at the first login attempt */
#define FIELD_MAX 256             /* longest account name or password read */
#define BODY_SCAN_MAX 4096        /* only the first bytes of a body are searched */

enum { T_ACCOUNT, T_SOURCE, T_FP, T_PASSWORD, T_CHALLENGED, T_COUNT };

static struct {
    pthread_mutex_t lock;
    bw_login_table *t[T_COUNT];
    uint64_t salt;
} lg = { .lock = PTHREAD_MUTEX_INITIALIZER };

int sh_login_start(void)
{
    if (getrandom(&lg.salt, sizeof lg.salt, 0) != sizeof lg.salt)
        return -1;
    return 0;
}

/* The tables, made at the first login attempt (a config without login
 * routes never pays their 5 MiB); false if memory ran out, and then the
 * attempt is neither checked nor counted.  Called with lg.lock held. */
static bool tables_ready(void)
{
    if (lg.t[T_COUNT - 1])
        return true;
    for (int i = 0; i < T_COUNT; i++)
        if (!lg.t[i] && !(lg.t[i] = bw_login_table_new(LOGIN_TABLE_ENTRIES)))
            return false;
    return true;
}

void sh_login_stop(void)
{
    for (int i = 0; i < T_COUNT; i++) {
        bw_login_table_free(lg.t[i]);
        lg.t[i] = NULL;
    }
    lg.salt = 0;
}

static uint64_t salted(uint64_t x)
{
    return bw_mix64(x ^ lg.salt);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    return salted(bw_fnv1a(BW_FNV_OFFSET, p, n) ^ n);
}

/* The route of the site this request is an attempt on, or -1. */
int sh_login_route(const bw_site_conf *site, const bw_http_request *req)
{
    char norm[258];
    size_t len = 0;
    bool normed = false;
    for (size_t i = 0; i < site->nlogins; i++) {
        const bw_login_route *r = &site->logins[i];
        if (!bw_str_eq(req->method, bw_str_make(r->method, strlen(r->method))))
            continue;
        if (!normed) {
            if (req->path.len + 2 > sizeof norm)
                return -1;
            len = bw_policy_path_norm(req->path.p, req->path.len, norm);
            if (len > 1 && norm[len - 1] == '/')
                len--; /* "/login/" is "/login" */
            normed = true;
        }
        if (strlen(r->path) == len && memcmp(r->path, norm, len) == 0)
            return (int)i;
    }
    return -1;
}

/* A field of the attempt: its value hashed into *h (false if absent: then
 * the one "unknown" key). */
static bool field_hash(const bw_login_route *r, const bw_http_request *req, bw_str body,
                       const char *name, bool header, uint64_t *h)
{
    *h = salted(0x6e6f6e65);
    if (header) { /* an account name, not a secret: hashed where it is */
        bw_str val;
        if (!bw_http_header_find(req->headers, req->nheaders, bw_str_make(name, strlen(name)), &val) ||
            val.len > FIELD_MAX)
            return false;
        *h = hash_bytes(val.p, val.len);
        return true;
    }
    char v[FIELD_MAX];
    size_t n = 0;
    if (body.len > BODY_SCAN_MAX)
        body.len = BODY_SCAN_MAX;
    bool found = r->user_kind == BW_LOGIN_USER_JSON ? bw_json_field(body, name, v, sizeof v, &n)
                                                    : bw_form_field(body, name, v, sizeof v, &n);
    if (found)
        *h = hash_bytes(v, n);
    memset(v, 0, sizeof v); /* the password may have been in it */
    return found;
}

void sh_login_ticket(const bw_site_conf *site, int route, const bw_http_request *req, bw_str body,
                     const bw_shield_feat *f, bw_login_ticket *t)
{
    const bw_login_route *r = &site->logins[route];
    uint64_t slot = site->stats_slot;
    uint64_t pw = 0;
    t->route = (uint8_t)(route + 1);
    t->site = site->stats_slot;
    field_hash(r, req, body, r->user_field, r->user_kind == BW_LOGIN_USER_HEADER, &t->account);
    if (r->user_kind == BW_LOGIN_USER_HEADER)
        pw = salted(0x6e6f7077);
    else
        field_hash(r, req, body, r->pass_field, false, &pw);
    t->k_account = salted(t->account ^ (slot << 56) ^ 1);
    t->k_source = salted(f->attr[BW_ATTR_PREFIX] ^ (slot << 56) ^ 2);
    t->k_fp = salted(f->attr[BW_ATTR_FP] ^ (slot << 56) ^ 3);
    t->k_password = salted(pw ^ (slot << 56) ^ 4);
}

/* What the tables say about this attempt now. */
void sh_login_view(const bw_login_ticket *t, uint64_t now_ms, bw_login_view *v, double *challenged)
{
    pthread_mutex_lock(&lg.lock);
    if (!tables_ready()) {
        pthread_mutex_unlock(&lg.lock);
        *v = (bw_login_view){ 0 };
        *challenged = 0;
        return;
    }
    v->account = bw_login_get(lg.t[T_ACCOUNT], t->k_account, now_ms);
    v->source = bw_login_get(lg.t[T_SOURCE], t->k_source, now_ms);
    v->fp = bw_login_get(lg.t[T_FP], t->k_fp, now_ms);
    v->password = bw_login_get(lg.t[T_PASSWORD], t->k_password, now_ms);
    bw_login_count a = bw_login_get(lg.t[T_CHALLENGED], t->k_source, now_ms);
    bw_login_count b = bw_login_get(lg.t[T_CHALLENGED], t->k_fp, now_ms);
    pthread_mutex_unlock(&lg.lock);
    *challenged = a.failures > b.failures ? a.failures : b.failures;
}

/* The attempt was challenged instead of sent on: a client that keeps
 * trying without passing is blocked (sh_login_decide). */
void sh_login_challenged(const bw_login_ticket *t, uint64_t now_ms)
{
    pthread_mutex_lock(&lg.lock);
    if (!tables_ready()) {
        pthread_mutex_unlock(&lg.lock);
        return;
    }
    bw_login_fail(lg.t[T_CHALLENGED], t->k_source, t->account, now_ms);
    bw_login_fail(lg.t[T_CHALLENGED], t->k_fp, t->account, now_ms);
    pthread_mutex_unlock(&lg.lock);
}

static bool is_failure(const bw_login_route *r, int status, bw_str location)
{
    for (unsigned i = 0; i < r->nfail; i++)
        if (r->fail[i] == status)
            return true;
    size_t fl = strlen(r->fail_location);
    if (fl && status >= 300 && status < 400 && location.len >= fl) {
        /* an absolute URL's path, or the path itself */
        const char *p = location.p, *end = location.p + location.len;
        const char *scheme = memchr(p, ':', location.len);
        if (scheme && scheme + 2 < end && scheme[1] == '/' && scheme[2] == '/') {
            p = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
            if (!p)
                return false;
        }
        return (size_t)(end - p) >= fl && memcmp(p, r->fail_location, fl) == 0;
    }
    return false;
}

bool sh_login_is_failure(const bw_site_conf *site, const bw_login_ticket *t, int status,
                         bw_str location)
{
    return is_failure(&site->logins[t->route - 1], status, location);
}

void sh_login_note(const bw_login_ticket *t, bool failed, uint64_t now_ms)
{
    pthread_mutex_lock(&lg.lock);
    if (!tables_ready()) {
        pthread_mutex_unlock(&lg.lock);
        return;
    }
    if (failed) {
        bw_login_fail(lg.t[T_ACCOUNT], t->k_account, t->account, now_ms);
        bw_login_fail(lg.t[T_SOURCE], t->k_source, t->account, now_ms);
        bw_login_fail(lg.t[T_FP], t->k_fp, t->account, now_ms);
        bw_login_fail(lg.t[T_PASSWORD], t->k_password, t->account, now_ms);
    } else if (t->cleared) {
        /* a known client got in: its earlier typos are forgiven */
        bw_login_forget(lg.t[T_SOURCE], t->k_source);
        bw_login_forget(lg.t[T_FP], t->k_fp);
        bw_login_forget(lg.t[T_CHALLENGED], t->k_source);
        bw_login_forget(lg.t[T_CHALLENGED], t->k_fp);
    }
    pthread_mutex_unlock(&lg.lock);
}
