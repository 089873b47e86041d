/*
 * login.c - the failed-login tables and the classification (see login.h).
 */
#include "shield/login.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 4

typedef struct slot {
    uint64_t key;      /* 0: empty (keys are hashes; a zero key is stored as 1) */
    uint64_t seen;     /* distinct accounts: one bit per account hash mod 64 */
    double failures;   /* decayed to updated_ms */
    uint64_t updated_ms;
} slot;

struct bw_login_table {
    size_t nbuckets; /* power of two */
    slot *slots;     /* nbuckets * WAYS */
};

bw_login_table *bw_login_table_new(size_t entries)
{
    size_t nb = 1;
    while (nb * WAYS < entries)
        nb <<= 1;
    bw_login_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->nbuckets = nb;
    t->slots = calloc(nb * WAYS, sizeof(slot));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void bw_login_table_free(bw_login_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

size_t bw_login_table_bytes(const bw_login_table *t)
{
    return sizeof *t + t->nbuckets * WAYS * sizeof(slot);
}

static uint64_t stored_key(uint64_t key)
{
    return key ? key : 1;
}

static double decayed(const slot *s, uint64_t now_ms)
{
    if (now_ms <= s->updated_ms)
        return s->failures;
    return s->failures * exp2(-(double)(now_ms - s->updated_ms) / BW_LOGIN_HALF_LIFE_MS);
}

static slot *bucket(bw_login_table *t, uint64_t key)
{
    /* the low bits pick the bucket; keys are already mixed hashes */
    return &t->slots[(key & (t->nbuckets - 1)) * WAYS];
}

static slot *find(bw_login_table *t, uint64_t key)
{
    key = stored_key(key);
    slot *b = bucket(t, key);
    for (int i = 0; i < WAYS; i++)
        if (b[i].key == key)
            return &b[i];
    return NULL;
}

/* The key's slot, or the bucket's least valuable one taken over for it. */
static slot *find_or_take(bw_login_table *t, uint64_t key, uint64_t now_ms)
{
    key = stored_key(key);
    slot *b = bucket(t, key), *victim = &b[0];
    double least = INFINITY;
    for (int i = 0; i < WAYS; i++) {
        if (b[i].key == key)
            return &b[i];
        double v = b[i].key ? decayed(&b[i], now_ms) : -1;
        if (v < least) {
            least = v;
            victim = &b[i];
        }
    }
    *victim = (slot){ .key = key, .updated_ms = now_ms };
    return victim;
}

/* A count that has decayed below one failure starts over, distinct
 * accounts too (their register cannot decay). */
static void refresh(slot *s, uint64_t now_ms)
{
    s->failures = decayed(s, now_ms);
    s->updated_ms = now_ms;
    if (s->failures < 0.5) {
        s->failures = 0;
        s->seen = 0;
    }
}

void bw_login_fail(bw_login_table *t, uint64_t key, uint64_t account, uint64_t now_ms)
{
    slot *s = find_or_take(t, key, now_ms);
    refresh(s, now_ms);
    s->failures += 1;
    s->seen |= 1ull << ((account ^ (account >> 32)) & 63);
}

/* Linear counting over 64 bits: n = -64 ln(empty / 64); a full register
 * says "at least 64 x ln 64" (~266). */
static unsigned distinct(uint64_t seen)
{
    int ones = __builtin_popcountll(seen);
    if (ones == 0)
        return 0;
    if (ones == 64)
        return 266;
    return (unsigned)lround(-64.0 * log((64.0 - ones) / 64.0));
}

bw_login_count bw_login_get(bw_login_table *t, uint64_t key, uint64_t now_ms)
{
    const slot *s = find(t, key);
    if (!s)
        return (bw_login_count){ 0, 0 };
    double f = decayed(s, now_ms);
    if (f < 0.5)
        return (bw_login_count){ 0, 0 };
    return (bw_login_count){ f, distinct(s->seen) };
}

void bw_login_forget(bw_login_table *t, uint64_t key)
{
    slot *s = find(t, key);
    if (s)
        *s = (slot){ 0 };
}

bw_login_class bw_login_classify(const bw_login_view *v)
{
    if (v->source.accounts >= BW_LOGIN_MANY_ACCOUNTS || v->fp.accounts >= BW_LOGIN_MANY_ACCOUNTS)
        return BW_LOGIN_STUFFING;
    if (v->password.accounts >= BW_LOGIN_MANY_ACCOUNTS)
        return BW_LOGIN_SPRAYING;
    if (bw_login_at_least(v->account.failures, BW_LOGIN_BRUTE_FAILS))
        return BW_LOGIN_BRUTE_FORCE;
    return BW_LOGIN_CLEAN;
}
