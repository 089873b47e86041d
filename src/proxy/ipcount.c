/*
 * ipcount.c - per-address and per-prefix connection counts (see ipcount.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/ipcount.h"

int bw_ipcount_init(bw_ipcount *t, size_t max_keys)
{
    size_t n = 16;
    while (n < 2 * max_keys)
        n <<= 1;
    t->slots = calloc(n, sizeof(*t->slots));
    t->mask = n - 1;
    t->used = 0;
    return t->slots ? 0 : -1;
}

void bw_ipcount_free(bw_ipcount *t)
{
    free(t->slots);
    t->slots = NULL;
    t->used = 0;
}

bw_ipkey bw_ipkey_make(uint8_t family, const uint8_t *addr, bool prefix)
{
    bw_ipkey k;
    memset(&k, 0, sizeof(k));
    k.family = family;
    size_t n = family == AF_INET6 ? 16 : 4;
    if (prefix)
        n = family == AF_INET6 ? 8 : 3; /* /64, /24 */
    memcpy(k.a, addr, n);
    return k;
}

static size_t key_hash(const bw_ipkey *k)
{
    uint64_t h = 1469598103934665603ull ^ k->family;
    for (size_t i = 0; i < sizeof(k->a); i++)
        h = (h ^ k->a[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

static bool key_eq(const bw_ipkey *a, const bw_ipkey *b)
{
    return a->family == b->family && memcmp(a->a, b->a, sizeof(a->a)) == 0;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const bw_ipcount *t, const bw_ipkey *key)
{
    size_t i = key_hash(key) & t->mask;
    while (t->slots[i].key.family && !key_eq(&t->slots[i].key, key))
        i = (i + 1) & t->mask;
    return i;
}

bool bw_ipcount_take(bw_ipcount *t, const bw_ipkey *key, uint32_t cap)
{
    if (!t->slots)
        return true; /* no table: no caps configured */
    size_t i = find(t, key);
    bw_ipcount_slot *s = &t->slots[i];
    if (s->key.family) {
        if (cap && s->count >= cap)
            return false;
        s->count++;
        return true;
    }
    if (t->used >= t->mask / 2 + 1)
        return false; /* more live keys than it was sized for: refuse, never grow */
    s->key = *key;
    s->count = 1;
    t->used++;
    return true;
}

/* Linear probing without tombstones: after emptying slot i, move back any
 * later entry of the run whose home slot is not between i and itself. */
static void remove_at(bw_ipcount *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (!t->slots[j].key.family)
            break;
        size_t home = key_hash(&t->slots[j].key) & t->mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    memset(&t->slots[i], 0, sizeof(t->slots[i]));
    t->used--;
}

void bw_ipcount_give(bw_ipcount *t, const bw_ipkey *key)
{
    if (!t->slots)
        return;
    size_t i = find(t, key);
    bw_ipcount_slot *s = &t->slots[i];
    if (!s->key.family)
        return;
    if (--s->count == 0)
        remove_at(t, i);
}

uint32_t bw_ipcount_get(const bw_ipcount *t, const bw_ipkey *key)
{
    if (!t->slots)
        return 0;
    const bw_ipcount_slot *s = &t->slots[find(t, key)];
    return s->key.family ? s->count : 0;
}
