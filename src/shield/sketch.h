/*
 * sketch.h - bounded-memory counters for the shield's traffic baselines and
 * attack signatures: a Count-Min sketch with decay (the usual share of each
 * value of an attribute), a Space-Saving top-k (the most frequent values in
 * the attack window) and an EWMA with variance (the usual rate per second).
 *
 * Keys are 64-bit hashes of request attributes (fingerprint, path class,
 * /24 prefix, user-agent...) computed by the caller, which should use a
 * keyed hash: the row hashes here are fixed, so that two sketches of the
 * same shape can be merged, and they cannot by themselves stop an attacker
 * who can choose keys from crafting collisions.
 *
 * Memory is fixed at creation and nothing allocates afterwards, whatever
 * the number of distinct keys an attacker sends.  The shield thread owns
 * every sketch: there is no locking.
 */
#ifndef BW_SHIELD_SKETCH_H
#define BW_SHIELD_SKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Count-Min sketch, conservative update, double counters. */

#define BW_CMS_MAX_DEPTH 8
#define BW_CMS_MAX_WIDTH_LOG2 24

typedef struct bw_cms bw_cms;

/* depth rows of 1 << width_log2 counters; width_log2 in 1..24, depth in
 * 1..8.  NULL if out of range or out of memory.  Free with bw_cms_free. */
bw_cms *bw_cms_new(unsigned width_log2, unsigned depth);
void bw_cms_free(bw_cms *s);

/* Count n (> 0; anything else is ignored) more for key, and add n to the
 * total. */
void bw_cms_add(bw_cms *s, uint64_t key, double n);

/* Estimate of key's count: never below the true (decayed) count, and with
 * probability 1 - e^-depth at most total * e / width above it. */
double bw_cms_get(const bw_cms *s, uint64_t key);
double bw_cms_total(const bw_cms *s);

/* Every counter and the total times factor, in (0, 1]: exponential
 * forgetting, called on a timer.  factor <= 0 clears. */
void bw_cms_decay(bw_cms *s, double factor);
void bw_cms_clear(bw_cms *s);

/* Add src's counters and total to dst's (e.g. per-worker sketches into the
 * shield's).  0, or -1 (dst unchanged) if the shapes differ. */
int bw_cms_merge(bw_cms *dst, const bw_cms *src);

/* Bytes held, for the memory metrics. */
size_t bw_cms_bytes(const bw_cms *s);

/* Space-Saving top-k heavy hitters. */

typedef struct bw_topk_item {
    uint64_t key;
    uint64_t count; /* over-estimate: count - err <= true count <= count */
    uint64_t err;
} bw_topk_item;

typedef struct bw_topk bw_topk;

/* Tracks k keys (1..1 << 24).  NULL if out of range or out of memory. */
bw_topk *bw_topk_new(unsigned k);
void bw_topk_free(bw_topk *t);

/* O(1) for a tracked key near the top, O(log k) at worst. */
void bw_topk_add(bw_topk *t, uint64_t key, uint32_t n);

/* Sum of every n added since creation or the last clear. */
uint64_t bw_topk_total(const bw_topk *t);

/* Up to cap items into out, by count descending (ties: smaller err, then
 * smaller key, first); returns how many.  Every key whose true count is
 * above total / k is among the k tracked. */
size_t bw_topk_list(const bw_topk *t, bw_topk_item *out, size_t cap);

/* Count of key if tracked, else 0. */
uint64_t bw_topk_get(const bw_topk *t, uint64_t key);
void bw_topk_clear(bw_topk *t);
size_t bw_topk_bytes(const bw_topk *t);

/* Exponentially weighted mean and variance of a series (a rate sampled
 * once a second).  Zero it to start. */

typedef struct bw_ewma {
    double mean, var;
    bool primed;
} bw_ewma;

/* alpha in (0, 1]: the weight of the new sample. */
void bw_ewma_add(bw_ewma *e, double x, double alpha);

/* Standard deviation; 0 before the first sample. */
double bw_ewma_sd(const bw_ewma *e);

#endif
