/*
 * sched.h - bulwark-siege's pacing and identity rotation: when the next
 * request is due, and which source address it comes from.
 *
 * Pacing is open-loop (arrivals do not wait for answers, as with a real
 * botnet): a pacer knows how many sends are due at time t since its start
 * (rate * t); a sender that falls more than one second behind skips ahead
 * and counts the skipped sends as "missed", so an overloaded siege reports
 * its own shortfall instead of bursting later.
 *
 * An address pool hands out IPv4 source addresses (host byte order) inside
 * a block of second octets of 127.0.0.0/8.  Consecutive draws are spread
 * over the whole block (i -> i * stride mod size, with a golden-ratio
 * stride coprime with the size), so a rotating botnet
 * does not sit in a few /24s unless asked to; x.x.x.0 and x.x.x.255 are never
 * used.  All of it is pure state, no I/O, so it is unit-tested.
 */
#ifndef SG_SCHED_H
#define SG_SCHED_H

#include <stdint.h>

/* xorshift64*: fast, seedable, good enough for load generation. */
typedef struct sg_rng {
    uint64_t s;
} sg_rng;

void sg_rng_seed(sg_rng *r, uint64_t seed);
uint64_t sg_rng_next(sg_rng *r);
uint32_t sg_rng_below(sg_rng *r, uint32_t n); /* uniform in [0, n), n > 0 */
double sg_rng_unit(sg_rng *r);                /* uniform in [0, 1) */
double sg_rng_exp(sg_rng *r, double mean);    /* exponential, for think times */

typedef struct sg_pacer {
    double rate;     /* per second; <= 0 means nothing is ever due */
    uint64_t issued; /* sends done (or skipped) so far */
    uint64_t missed; /* sends skipped because we were > 1 s behind */
} sg_pacer;

void sg_pacer_init(sg_pacer *p, double rate);

/* Sends due now, elapsed_ns after the pacer's start, not yet issued.  If
 * more than one second's worth is due, the excess is skipped (missed). */
uint64_t sg_pacer_due(sg_pacer *p, uint64_t elapsed_ns);

/* Record n sends done. */
static inline void sg_pacer_issue(sg_pacer *p, uint64_t n) { p->issued += n; }

typedef struct sg_addrpool {
    uint32_t base;  /* first address of the block (host order), x.y.0.0 */
    uint32_t size;  /* usable addresses: nblocks * 65536 * 254 / 256 */
    uint32_t limit; /* draw only the first `limit` of the permutation (0: all) */
    uint32_t stride; /* coprime with size, ~0.618 * size: draws spread evenly */
    uint64_t drawn; /* draws so far */
} sg_addrpool;

/* A pool over 127.lo.0.0 .. 127.hi.255.255 (lo <= hi).  limit > 0 makes a
 * small pool (proxy-flood's proxies, the legit population) that is reused
 * cyclically. */
void sg_addrpool_init(sg_addrpool *p, uint8_t lo, uint8_t hi, uint32_t limit);

/* The i-th address of the pool's permutation (i < size). */
uint32_t sg_addrpool_at(const sg_addrpool *p, uint64_t i);

/* The next address (wraps after size or limit draws). */
uint32_t sg_addrpool_next(sg_addrpool *p);

#endif
