/*
 * sketch.c - Count-Min, Space-Saving top-k and EWMA (see sketch.h).
 *
 * Count-Min: depth rows of 2^w counters.  A key's counter in row r is
 * chosen by multiply-shift (the top w bits of x * seed[r], x the key after
 * one cheap bijective remix), so a key costs 1 + depth multiplications.
 * Updates are conservative: only counters below the key's new estimate
 * are raised to it, which keeps every counter at or above the true count
 * of each key mapped to it (so estimates never fall short) while growing
 * the shared counters far less than plain Count-Min.  Decay and merge keep
 * that invariant: scaling preserves it, and a sum of two counters covers
 * the sum of the two true counts.
 *
 * The counters are doubles, not floats: a float's 24-bit mantissa stops
 * counting +1 past 2^24, and a decayed baseline's steady total is the
 * count per decay period / (1 - factor): 2^24 at 190k requests/s for a
 * one-minute half-life decayed each second.  From there on estimates would
 * fall short of the true count.  At 12/4 the sketch is 128 KiB, not 64.
 *
 * Space-Saving: k entries in a min-heap by count, found by key through an
 * open-addressing index (linear probing, backward-shift deletion as in
 * proxy/ipcount.c, at most half full).  Entry and slot point at each other
 * so moving either is O(1).  An untracked key takes over the least-counted
 * entry and inherits its count as its error bound.  The heap keeps heavy
 * keys at the leaves, where an increment rarely moves anything.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shield/sketch.h"

/* ---- Count-Min ---- */

struct bw_cms {
    unsigned width_log2;
    unsigned depth;
    double total;
    double cells[]; /* depth rows of 1 << width_log2, row after row */
};

/* Odd constants from splitmix64: one multiply-shift hash per row. */
static const uint64_t row_seed[BW_CMS_MAX_DEPTH] = {
    0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull, 0x94d049bb133111ebull, 0xd6e8feb86659fd93ull,
    0xa0761d6478bd642full, 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull, 0x589965cc75374cc3ull,
};

static size_t cms_cells(unsigned width_log2, unsigned depth)
{
    return (size_t)depth << width_log2;
}

bw_cms *bw_cms_new(unsigned width_log2, unsigned depth)
{
    if (width_log2 < 1 || width_log2 > BW_CMS_MAX_WIDTH_LOG2 || depth < 1 || depth > BW_CMS_MAX_DEPTH)
        return NULL;
    bw_cms *s = calloc(1, sizeof(*s) + cms_cells(width_log2, depth) * sizeof(double));
    if (!s)
        return NULL;
    s->width_log2 = width_log2;
    s->depth = depth;
    return s;
}

void bw_cms_free(bw_cms *s)
{
    free(s);
}

/* The index of key's counter in each row.  The caller's hash is already
 * mixed; the remix (xorshift, odd multiply, xorshift: a bijection) is
 * insurance against one that leaves the high bits alone. */
static void cms_index(const bw_cms *s, uint64_t key, size_t *at)
{
    uint64_t x = (key ^ (key >> 32)) * 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    unsigned shift = 64 - s->width_log2;
    for (unsigned r = 0; r < s->depth; r++)
        at[r] = ((size_t)r << s->width_log2) | (size_t)((x * row_seed[r]) >> shift);
}

/* The key's estimate: the least of its counters, one per row. */
static double cms_min(const bw_cms *s, const size_t *at)
{
    double min = s->cells[at[0]];
    for (unsigned r = 1; r < s->depth; r++)
        if (s->cells[at[r]] < min)
            min = s->cells[at[r]];
    return min;
}

void bw_cms_add(bw_cms *s, uint64_t key, double n)
{
    if (!(n > 0))
        return; /* conservative update holds only for growing counts; also drops NaN */
    size_t at[BW_CMS_MAX_DEPTH];
    cms_index(s, key, at);
    double min = cms_min(s, at);
    /* A store every row, as max: a branch on "below want" is a coin toss
     * per row and its mispredictions made the update 4x slower. */
    double want = min + n;
    for (unsigned r = 0; r < s->depth; r++) {
        double c = s->cells[at[r]];
        s->cells[at[r]] = c < want ? want : c;
    }
    s->total += n;
}

double bw_cms_get(const bw_cms *s, uint64_t key)
{
    size_t at[BW_CMS_MAX_DEPTH];
    cms_index(s, key, at);
    return cms_min(s, at);
}

double bw_cms_total(const bw_cms *s)
{
    return s->total;
}

/* Counters that would turn subnormal are zeroed: a rarely hit counter
 * decays there eventually, and subnormal arithmetic is ~100x slower on
 * x86.  A count that small is no count at all. */
void bw_cms_decay(bw_cms *s, double factor)
{
    if (factor >= 1)
        return;
    if (!(factor > 0)) {
        bw_cms_clear(s);
        return;
    }
    size_t n = cms_cells(s->width_log2, s->depth);
    for (size_t i = 0; i < n; i++) {
        double c = s->cells[i] * factor;
        s->cells[i] = c < DBL_MIN ? 0 : c;
    }
    s->total *= factor;
    if (s->total < DBL_MIN)
        s->total = 0;
}

void bw_cms_clear(bw_cms *s)
{
    memset(s->cells, 0, cms_cells(s->width_log2, s->depth) * sizeof(double));
    s->total = 0;
}

int bw_cms_merge(bw_cms *dst, const bw_cms *src)
{
    if (dst->width_log2 != src->width_log2 || dst->depth != src->depth)
        return -1;
    size_t n = cms_cells(dst->width_log2, dst->depth);
    for (size_t i = 0; i < n; i++)
        dst->cells[i] += src->cells[i];
    dst->total += src->total;
    return 0;
}

size_t bw_cms_bytes(const bw_cms *s)
{
    return sizeof(*s) + cms_cells(s->width_log2, s->depth) * sizeof(double);
}

/* ---- Space-Saving top-k ---- */

#define TOPK_MAX (1u << 24)
#define SLOT_EMPTY UINT32_MAX

typedef struct topk_entry {
    uint64_t key, count, err;
    uint32_t slot; /* its index slot */
} topk_entry;

typedef struct topk_slot {
    uint64_t key;
    uint32_t pos; /* its heap entry, or SLOT_EMPTY */
} topk_slot;

struct bw_topk {
    uint32_t k, used;
    size_t mask;    /* index slots - 1 (a power of two, >= 2k) */
    unsigned shift; /* 64 - log2(slots) */
    uint64_t total;
    topk_slot *slots; /* in the same allocation, after heap */
    topk_entry heap[]; /* min-heap by count, used of k */
};

static size_t topk_nslots(unsigned k, unsigned *log2)
{
    size_t n = 4;
    unsigned l = 2;
    while (n < 2 * (size_t)k) {
        n <<= 1;
        l++;
    }
    *log2 = l;
    return n;
}

bw_topk *bw_topk_new(unsigned k)
{
    if (k < 1 || k > TOPK_MAX)
        return NULL;
    unsigned log2;
    size_t nslots = topk_nslots(k, &log2);
    size_t heap_bytes = k * sizeof(topk_entry);
    bw_topk *t = malloc(sizeof(*t) + heap_bytes + nslots * sizeof(topk_slot));
    if (!t)
        return NULL;
    t->k = k;
    t->mask = nslots - 1;
    t->shift = 64 - log2;
    t->slots = (topk_slot *)((char *)t->heap + heap_bytes); /* entries are 8-aligned */
    bw_topk_clear(t);
    return t;
}

void bw_topk_free(bw_topk *t)
{
    free(t);
}

void bw_topk_clear(bw_topk *t)
{
    for (size_t i = 0; i <= t->mask; i++)
        t->slots[i].pos = SLOT_EMPTY;
    t->used = 0;
    t->total = 0;
}

size_t bw_topk_bytes(const bw_topk *t)
{
    return sizeof(*t) + t->k * sizeof(topk_entry) + (t->mask + 1) * sizeof(topk_slot);
}

uint64_t bw_topk_total(const bw_topk *t)
{
    return t->total;
}

static size_t slot_home(const bw_topk *t, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> t->shift);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t slot_find(const bw_topk *t, uint64_t key)
{
    size_t i = slot_home(t, key);
    while (t->slots[i].pos != SLOT_EMPTY && t->slots[i].key != key)
        i = (i + 1) & t->mask;
    return i;
}

/* Backward-shift deletion (see proxy/ipcount.c); a moved slot tells its
 * heap entry where it went. */
static void slot_remove(bw_topk *t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].pos == SLOT_EMPTY)
            break;
        size_t home = slot_home(t, t->slots[j].key);
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            t->heap[t->slots[i].pos].slot = (uint32_t)i;
            i = j;
        }
    }
    t->slots[i].pos = SLOT_EMPTY;
}

/* Put e at heap position i and tell its slot. */
static void heap_place(bw_topk *t, uint32_t i, const topk_entry *e)
{
    t->heap[i] = *e;
    t->slots[e->slot].pos = i;
}

static void sift_up(bw_topk *t, uint32_t i)
{
    topk_entry e = t->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (t->heap[parent].count <= e.count)
            break;
        heap_place(t, i, &t->heap[parent]);
        i = parent;
    }
    heap_place(t, i, &e);
}

/* Counts only grow, so an entry only ever moves down, towards the leaves. */
static void sift_down(bw_topk *t, uint32_t i)
{
    topk_entry e = t->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= t->used)
            break;
        if (c + 1 < t->used)
            c += t->heap[c + 1].count < t->heap[c].count; /* no branch: a coin toss */
        if (e.count <= t->heap[c].count)
            break;
        heap_place(t, i, &t->heap[c]);
        i = c;
    }
    heap_place(t, i, &e);
}

void bw_topk_add(bw_topk *t, uint64_t key, uint32_t n)
{
    if (n == 0)
        return;
    t->total += n;
    size_t s = slot_find(t, key);
    if (t->slots[s].pos != SLOT_EMPTY) {
        uint32_t i = t->slots[s].pos;
        t->heap[i].count += n;
        sift_down(t, i);
        return;
    }
    if (t->used < t->k) {
        t->slots[s] = (topk_slot){ .key = key, .pos = t->used };
        t->heap[t->used] = (topk_entry){ .key = key, .count = n, .err = 0, .slot = (uint32_t)s };
        sift_up(t, t->used++);
        return;
    }
    /* Full: key takes over the least-counted entry (the root).  Its true
     * count may be up to that count, hence err.  key goes into the index
     * before the old key leaves it (k + 1 keys still fit in 2k slots), so
     * that the removal's shifting, which may move key's slot, finds the
     * root already pointing at it and updates it. */
    uint32_t old = t->heap[0].slot;
    uint64_t least = t->heap[0].count;
    t->slots[s] = (topk_slot){ .key = key, .pos = 0 };
    t->heap[0] = (topk_entry){ .key = key, .count = least + n, .err = least, .slot = (uint32_t)s };
    slot_remove(t, old);
    sift_down(t, 0);
}

uint64_t bw_topk_get(const bw_topk *t, uint64_t key)
{
    const topk_slot *s = &t->slots[slot_find(t, key)];
    return s->pos == SLOT_EMPTY ? 0 : t->heap[s->pos].count;
}

/* > 0 if a ranks above b in the list: more counted, then less error, then
 * smaller key (so the order is total and the list deterministic). */
static int rank(const bw_topk_item *a, const bw_topk_item *b)
{
    if (a->count != b->count)
        return a->count > b->count ? 1 : -1;
    if (a->err != b->err)
        return a->err < b->err ? 1 : -1;
    if (a->key != b->key)
        return a->key < b->key ? 1 : -1;
    return 0;
}

static int rank_desc(const void *a, const void *b)
{
    return rank(b, a);
}

/* out[0..n) as a heap whose root ranks lowest: the one to drop. */
static void worst_down(bw_topk_item *out, size_t n, size_t i)
{
    bw_topk_item e = out[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && rank(&out[c + 1], &out[c]) < 0)
            c++;
        if (rank(&e, &out[c]) <= 0)
            break;
        out[i] = out[c];
        i = c;
    }
    out[i] = e;
}

/* Selects the best cap entries with a heap of cap kept in out itself (no
 * scratch memory), then sorts them. */
size_t bw_topk_list(const bw_topk *t, bw_topk_item *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->used && cap; i++) {
        bw_topk_item it = { .key = t->heap[i].key, .count = t->heap[i].count, .err = t->heap[i].err };
        if (n < cap) {
            out[n++] = it;
            if (n == cap)
                for (size_t j = n / 2; j-- > 0;)
                    worst_down(out, n, j);
        } else if (rank(&it, &out[0]) > 0) {
            out[0] = it;
            worst_down(out, n, 0);
        }
    }
    if (n > 1)
        qsort(out, n, sizeof(*out), rank_desc);
    return n;
}

/* ---- EWMA ---- */

/* West's incremental form: the variance is updated with the same weight
 * as the mean, from the deviation to the mean before this sample. */
void bw_ewma_add(bw_ewma *e, double x, double alpha)
{
    if (!e->primed) {
        e->mean = x;
        e->var = 0;
        e->primed = true;
        return;
    }
    double d = x - e->mean;
    double inc = alpha * d;
    e->mean += inc;
    e->var = (1 - alpha) * (e->var + d * inc);
}

double bw_ewma_sd(const bw_ewma *e)
{
    return e->primed && e->var > 0 ? sqrt(e->var) : 0;
}
