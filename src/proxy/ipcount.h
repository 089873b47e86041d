/*
 * ipcount.h - open client connections per address and per prefix, for the
 * per-IP and per-prefix connection caps (max_connections_per_ip,
 * max_connections_per_prefix).
 *
 * One table per worker (share-nothing, like everything on the request
 * path): open addressing with linear probing and backward-shift deletion,
 * so there are no tombstones and an entry exists only while its count is
 * above zero.  The table never grows: it is sized at start for the worker's
 * max_connections (at most that many distinct keys can be live), so a
 * botnet of millions of addresses costs nothing more than the connections
 * it actually holds.  Keys: the full address, or its /24 (IPv4) or /64
 * (IPv6) prefix.
 */
#ifndef BW_PROXY_IPCOUNT_H
#define BW_PROXY_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bw_ipkey {
    uint8_t family;  /* AF_INET or AF_INET6; 0 = empty slot */
    uint8_t a[16];
} bw_ipkey;

typedef struct bw_ipcount_slot {
    bw_ipkey key;
    uint32_t count;
} bw_ipcount_slot;

typedef struct bw_ipcount {
    bw_ipcount_slot *slots; /* owned */
    size_t mask;            /* slots - 1 (a power of two) */
    size_t used;
} bw_ipcount;

/* A table for up to max_keys live keys (sized at twice that).  0 or -1. */
int bw_ipcount_init(bw_ipcount *t, size_t max_keys);
void bw_ipcount_free(bw_ipcount *t);

/* Key of an address (family, 4 or 16 bytes), whole or as its prefix. */
bw_ipkey bw_ipkey_make(uint8_t family, const uint8_t *addr, bool prefix);

/* Count one more connection for key unless it already has cap (0 = no
 * cap).  true if counted, false if at the cap (or the table is full). */
bool bw_ipcount_take(bw_ipcount *t, const bw_ipkey *key, uint32_t cap);

/* One connection of key closed. */
void bw_ipcount_give(bw_ipcount *t, const bw_ipkey *key);

uint32_t bw_ipcount_get(const bw_ipcount *t, const bw_ipkey *key);

#endif
