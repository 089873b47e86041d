/*
 * hash.h - bw_mix64, the one integer mixer bulwark uses (splitmix64's
 * finaliser): request ids, the shield's attribute hashes, rate-limit
 * buckets.  Callers hash addresses, counters and weak hashes whose low bits
 * alone would crowd a few buckets; after this every bit depends on every
 * input bit.  Not a keyed hash: where an attacker picks the inputs, mix a
 * secret seed in first.
 */
#ifndef BW_CORE_HASH_H
#define BW_CORE_HASH_H

#include <stdint.h>

static inline uint64_t bw_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#endif
