/*
 * sched.c - pacing, address rotation and the random source (see sched.h).
 */
#include <math.h>

#include "sched.h"

#define NS_PER_S 1000000000ull
#define HOSTS_PER_24 254u       /* .1 .. .254 */

void sg_rng_seed(sg_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t sg_rng_next(sg_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t sg_rng_below(sg_rng *r, uint32_t n)
{
    return (uint32_t)(((sg_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double sg_rng_unit(sg_rng *r)
{
    return (double)(sg_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double sg_rng_exp(sg_rng *r, double mean)
{
    return -mean * log(1.0 - sg_rng_unit(r));
}

void sg_pacer_init(sg_pacer *p, double rate)
{
    p->rate = rate;
    p->issued = 0;
    p->missed = 0;
}

uint64_t sg_pacer_due(sg_pacer *p, uint64_t elapsed_ns)
{
    if (p->rate <= 0)
        return 0;
    /* whole seconds and the remainder separately: exact for long runs */
    double target = p->rate * (double)(elapsed_ns / NS_PER_S) +
                    p->rate * (double)(elapsed_ns % NS_PER_S) / (double)NS_PER_S;
    uint64_t want = (uint64_t)target;
    if (want <= p->issued)
        return 0;
    uint64_t due = want - p->issued;
    uint64_t cap = (uint64_t)ceil(p->rate);
    if (due > cap) {
        p->missed += due - cap;
        p->issued += due - cap;
        due = cap;
    }
    return due;
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void sg_addrpool_init(sg_addrpool *p, uint8_t lo, uint8_t hi, uint32_t limit)
{
    uint32_t nblocks = (uint32_t)(hi - lo) + 1;
    p->base = (127u << 24) | ((uint32_t)lo << 16);
    p->size = nblocks * 256u * HOSTS_PER_24;
    p->limit = limit && limit < p->size ? limit : 0;
    /* a stride coprime with the size makes i -> i * stride a permutation */
    p->stride = (uint32_t)((double)p->size * 0.6180339887) | 1u;
    while (gcd(p->stride, p->size) != 1)
        p->stride += 2;
    p->drawn = 0;
}

uint32_t sg_addrpool_at(const sg_addrpool *p, uint64_t i)
{
    uint64_t j = (i % p->size) * (uint64_t)p->stride % p->size;
    uint32_t block24 = (uint32_t)(j / HOSTS_PER_24);
    uint32_t host = (uint32_t)(j % HOSTS_PER_24) + 1;
    return p->base + (block24 << 8) + host;
}

uint32_t sg_addrpool_next(sg_addrpool *p)
{
    uint64_t n = p->limit ? p->limit : p->size;
    return sg_addrpool_at(p, p->drawn++ % n);
}
