/*
 * test_signature.c - the detector's maths (shield/signature.c) on synthetic
 * traffic.  Three attributes as the detector orders them, broad first:
 * 0 = fingerprint (20 legit values), 1 = path (5 legit values), 2 = /24
 * prefix (500 legit values), each with a Count-Min baseline of 10000
 * requests and a Space-Saving window for one tick.  bw_sig_choose must name
 * the bot's value on the attribute that tells it from the baseline (also
 * when the rings sample, and with no baseline yet), and nothing when there
 * is no surge or no heavy hitter; the max_fp and min-cover limits and the
 * false-positive penalty are checked on both sides, and Space-Saving's
 * inherited error must not pass for evidence.  bw_sig_threshold: the floor, the warm-up floor,
 * sigma times the EWMA's sd, and the Poisson noise floor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "shield/signature.h"

enum { A_FP, A_PATH, A_PREFIX, NATTR };

/* Values are splitmix64 of (tag, index): as well mixed as the real
 * feature hashes, and the same on every machine. */
enum { T_FP = 1, T_PATH, T_PREFIX, T_BOT_FP, T_BOT_PATH, T_BOT_PREFIX, T_RANDOM };

static uint64_t val(uint64_t tag, uint64_t i)
{
    uint64_t z = (tag << 32 | i) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define BOT_FP val(T_BOT_FP, 0)
#define BOT_PATH val(T_BOT_PATH, 0)
#define LEGIT_FPS 20
#define LEGIT_PATHS 5
#define LEGIT_PREFIXES 500
#define BASE_TOTAL 10000.0
#define WINDOW_K 64   /* as the detector's */
#define EXPECTED 50.0 /* requests per tick the baseline predicts */
#define BOTS 5000
#define LEGIT 50

typedef struct traffic {
    bw_cms *base[NATTR];
    bw_topk *win[NATTR];
} traffic;

/* Baseline path shares: 40%, 25%, 15%, 10%, 10%. */
static const double path_share[LEGIT_PATHS] = { 0.40, 0.25, 0.15, 0.10, 0.10 };

static void traffic_init(traffic *t)
{
    for (int a = 0; a < NATTR; a++) {
        t->base[a] = bw_cms_new(14, 4); /* wide: no collision blurs the exact shares */
        t->win[a] = bw_topk_new(WINDOW_K);
        assert_non_null(t->base[a]);
        assert_non_null(t->win[a]);
    }
}

static void traffic_free(traffic *t)
{
    for (int a = 0; a < NATTR; a++) {
        bw_cms_free(t->base[a]);
        bw_topk_free(t->win[a]);
    }
}

/* total requests of baseline: the first fingerprint gets first_fp of them
 * (0: an even share), the other fingerprints share the rest evenly; paths
 * by path_share; prefixes evenly.  Every attribute totals `total`. */
static void baseline(traffic *t, double total, double first_fp)
{
    if (first_fp > 0) {
        bw_cms_add(t->base[A_FP], val(T_FP, 0), first_fp);
        for (int i = 1; i < LEGIT_FPS; i++)
            bw_cms_add(t->base[A_FP], val(T_FP, (uint64_t)i), (total - first_fp) / (LEGIT_FPS - 1));
    } else {
        for (int i = 0; i < LEGIT_FPS; i++)
            bw_cms_add(t->base[A_FP], val(T_FP, (uint64_t)i), total / LEGIT_FPS);
    }
    for (int i = 0; i < LEGIT_PATHS; i++)
        bw_cms_add(t->base[A_PATH], val(T_PATH, (uint64_t)i), total * path_share[i]);
    for (int i = 0; i < LEGIT_PREFIXES; i++)
        bw_cms_add(t->base[A_PREFIX], val(T_PREFIX, (uint64_t)i), total / LEGIT_PREFIXES);
    for (int a = 0; a < NATTR; a++)
        assert_true(fabs(bw_cms_total(t->base[a]) - total) < 1e-6);
}

static void record(traffic *t, uint64_t fp, uint64_t path, uint64_t prefix)
{
    bw_topk_add(t->win[A_FP], fp, 1);
    bw_topk_add(t->win[A_PATH], path, 1);
    bw_topk_add(t->win[A_PREFIX], prefix, 1);
}

/* The i-th legit request of the tick: a baseline value on each attribute. */
static void record_legit(traffic *t, int i)
{
    record(t, val(T_FP, (uint64_t)(i % LEGIT_FPS)), val(T_PATH, (uint64_t)(i % LEGIT_PATHS)),
           val(T_PREFIX, (uint64_t)(i * 7 % LEGIT_PREFIXES)));
}

/* The i-th bot request: fingerprint fp, path (0: the legit paths in turn,
 * as a bot that crawls the site), and one of 2000 /24s no visitor used. */
static void record_bot(traffic *t, int i, uint64_t fp, uint64_t path)
{
    record(t, fp, path ? path : val(T_PATH, (uint64_t)(i % LEGIT_PATHS)), val(T_BOT_PREFIX, (uint64_t)(i % 2000)));
}

/* BOTS bot requests with LEGIT legit ones spread among them: every
 * request recorded when every == 1, one in `every` otherwise.  Returns the
 * number recorded. */
static double tick(traffic *t, uint64_t fp, uint64_t path, int every)
{
    double recorded = 0;
    int bot = 0, legit = 0;
    for (int i = 0; i < BOTS + LEGIT; i++) {
        bool is_legit = i % 101 == 100; /* 50 of 5050 */
        if (i % every == 0) {
            if (is_legit)
                record_legit(t, legit);
            else
                record_bot(t, bot, fp, path);
            recorded++;
        }
        if (is_legit)
            legit++;
        else
            bot++;
    }
    assert_int_equal(bot, BOTS);
    assert_int_equal(legit, LEGIT);
    return recorded;
}

static bw_signature choose(const traffic *t, double passed, double expected, double recorded, double max_fp)
{
    const bw_topk *win[NATTR] = { t->win[0], t->win[1], t->win[2] };
    const bw_cms *base[NATTR] = { t->base[0], t->base[1], t->base[2] };
    return bw_sig_choose(win, base, NATTR, passed, expected, recorded, max_fp);
}

/* (a) a new fingerprint floods: it is the signature, and covers the surge. */
static void test_new_fingerprint(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    double rec = tick(&t, BOT_FP, 0, 1);
    bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.value == BOT_FP);
    assert_true(s.cover > 0.99 && s.cover <= 1.0);
    assert_true(s.fp == 0.0);
    assert_true(s.baseline_known);
    /* fewer legit requests than expected: the bot is more than the surge,
     * the cover says all of it */
    s = choose(&t, BOTS + LEGIT, 2 * EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.cover == 1.0);
    traffic_free(&t);
}

/* (b) the bot's fingerprint is a common browser's (20% of the baseline),
 * its path is new: the path is chosen.  The fingerprint is refused by
 * max_fp; with a lax max_fp the false-positive penalty still prefers the
 * path. */
static void test_common_fingerprint_new_path(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0.2 * BASE_TOTAL);
    uint64_t common = val(T_FP, 0);
    double rec = tick(&t, common, BOT_PATH, 1);
    bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, A_PATH);
    assert_true(s.value == BOT_PATH);
    assert_true(s.cover > 0.99);
    assert_true(s.fp == 0.0);

    s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.5);
    assert_int_equal(s.attr, A_PATH);

    /* the fingerprint alone: refused at max_fp 0.01, taken at 0.5 */
    const bw_topk *win[1] = { t.win[A_FP] };
    const bw_cms *base[1] = { t.base[A_FP] };
    s = bw_sig_choose(win, base, 1, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, -1);
    s = bw_sig_choose(win, base, 1, BOTS + LEGIT, EXPECTED, rec, 0.5);
    assert_int_equal(s.attr, 0);
    assert_true(s.value == common);
    assert_true(fabs(s.fp - 0.2) < 1e-9);
    traffic_free(&t);
}

/* The false-positive penalty: a fingerprint that is 5% of the baseline
 * and in every bot request scores 1 - 5 x 0.05 = 0.75.  A new path in 90%
 * of them (0.9) is preferred; one in 70% of them (0.7) is not. */
static void test_fp_penalty(void **state)
{
    (void)state;
    static const struct {
        int tenths; /* of the bot requests with the new path */
        int attr;
    } cases[] = { { 9, A_PATH }, { 7, A_FP } };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        traffic t;
        traffic_init(&t);
        baseline(&t, BASE_TOTAL, 0.05 * BASE_TOTAL);
        uint64_t common = val(T_FP, 0);
        for (int i = 0; i < BOTS; i++)
            record_bot(&t, i, common, i % 10 < cases[c].tenths ? BOT_PATH : 0);
        bw_signature s = choose(&t, BOTS, 0, BOTS, 0.1);
        assert_int_equal(s.attr, cases[c].attr);
        if (s.attr == A_PATH) {
            assert_true(s.value == BOT_PATH);
            assert_true(fabs(s.cover - 0.9) < 1e-9);
        } else {
            assert_true(s.value == common);
            assert_true(fabs(s.fp - 0.05) < 1e-9);
        }
        traffic_free(&t);
    }
}

/* A modest surge on heavy, evenly spread traffic: Space-Saving's counts
 * for late keys are mostly inherited error (about total / k each), which
 * would look like 75% of a 200-request surge.  Only the lower bound
 * count - err is evidence: no signature. */
static void test_window_lower_bound(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    for (int i = 0; i < 10000; i++)
        record(&t, val(T_RANDOM, (uint64_t)(i % 1000)), val(T_RANDOM, 1000 + (uint64_t)(i * 337 % 1000)),
               val(T_RANDOM, 2000 + (uint64_t)((i * 773 + 11) % 1000)));
    bw_topk_item top;
    assert_int_equal(bw_topk_list(t.win[A_FP], &top, 1), 1);
    assert_true(top.count > 0.6 * 200); /* the trap is there */
    bw_signature s = choose(&t, 10000, 9800, 10000, 1.0);
    assert_int_equal(s.attr, -1);
    traffic_free(&t);
}

/* (c) a flood spread evenly over 1000 values on every attribute: no value
 * explains it, whatever the max_fp. */
static void test_no_heavy_hitter(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    for (int i = 0; i < BOTS; i++) /* 337 and 773 are prime to 1000: 5 of each value per attribute */
        record(&t, val(T_RANDOM, (uint64_t)(i % 1000)), val(T_RANDOM, 1000 + (uint64_t)(i * 337 % 1000)),
               val(T_RANDOM, 2000 + (uint64_t)((i * 773 + 11) % 1000)));
    for (int i = 0; i < LEGIT; i++)
        record_legit(&t, i);
    bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, BOTS + LEGIT, 1.0);
    assert_int_equal(s.attr, -1);
    traffic_free(&t);
}

/* (d) the same flood as (a), but the tick passed no more than expected:
 * no surge, no signature.  Nothing recorded: none either. */
static void test_no_surge(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    double rec = tick(&t, BOT_FP, 0, 1);
    assert_int_equal(choose(&t, BOTS + LEGIT, BOTS + LEGIT, rec, 0.01).attr, -1);
    assert_int_equal(choose(&t, BOTS + LEGIT, BOTS + LEGIT + 1, rec, 0.01).attr, -1);
    assert_int_equal(choose(&t, BOTS + LEGIT, EXPECTED, 0, 0.01).attr, -1);
    assert_int_equal(choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01).attr, A_FP); /* the control */
    traffic_free(&t);
}

/* (e) the rings keep one request in four: the window counts are scaled by
 * passed / recorded, so the cover is still the whole surge. */
static void test_sampled_window(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    double rec = tick(&t, BOT_FP, 0, 4);
    assert_true(rec < (BOTS + LEGIT) / 4.0 + 1 && rec > (BOTS + LEGIT) / 4.0 - 1);
    bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.value == BOT_FP);
    assert_true(s.cover > 0.97 && s.cover <= 1.0);
    assert_true(s.fp == 0.0);
    traffic_free(&t);
}

/* (f) too little baseline to trust its shares (the attack came first): a
 * signature is still chosen, and flagged as such.  The limit itself counts
 * as known. */
static void test_baseline_unknown(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, 0.8 * BW_SIG_BASELINE_KNOWN, 0);
    double rec = tick(&t, BOT_FP, 0, 1);
    bw_signature s = choose(&t, BOTS + LEGIT, 2, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.value == BOT_FP);
    assert_false(s.baseline_known);
    traffic_free(&t);

    traffic_init(&t);
    baseline(&t, BW_SIG_BASELINE_KNOWN, 0);
    rec = tick(&t, BOT_FP, 0, 1);
    s = choose(&t, BOTS + LEGIT, 2, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.baseline_known);
    traffic_free(&t);

    traffic_init(&t); /* no baseline at all */
    rec = tick(&t, BOT_FP, 0, 1);
    s = choose(&t, BOTS + LEGIT, 0, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.value == BOT_FP);
    assert_false(s.baseline_known);
    traffic_free(&t);
}

/* (g) two attributes explain the surge equally well: the lower index (the
 * broader attribute) wins, whichever attribute it is. */
static void test_tie_lower_index(void **state)
{
    (void)state;
    traffic t;
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    uint64_t x = val(T_BOT_FP, 7);
    assert_true(bw_cms_get(t.base[A_FP], x) == 0 && bw_cms_get(t.base[A_PATH], x) == 0);
    double rec = tick(&t, x, x, 1); /* the same value as fingerprint and as path */
    bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.value == x);
    traffic_free(&t);

    /* distinct values, attributes given in both orders */
    traffic_init(&t);
    baseline(&t, BASE_TOTAL, 0);
    rec = tick(&t, BOT_FP, BOT_PATH, 1);
    s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, A_FP);
    assert_true(s.value == BOT_FP);
    const bw_topk *win[NATTR] = { t.win[A_PATH], t.win[A_FP], t.win[A_PREFIX] };
    const bw_cms *base[NATTR] = { t.base[A_PATH], t.base[A_FP], t.base[A_PREFIX] };
    s = bw_sig_choose(win, base, NATTR, BOTS + LEGIT, EXPECTED, rec, 0.01);
    assert_int_equal(s.attr, 0);
    assert_true(s.value == BOT_PATH);
    traffic_free(&t);
}

/* (h) max_fp is a hard limit on the value's baseline share: 1.01% of the
 * baseline is refused at max_fp 1%, 0.99% is taken. */
static void test_max_fp_edge(void **state)
{
    (void)state;
    static const struct {
        double count; /* of the bot's fingerprint in the 10000 of baseline */
        int attr;
    } cases[] = { { 101, -1 }, { 99, A_FP } };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        traffic t;
        traffic_init(&t);
        baseline(&t, BASE_TOTAL - cases[c].count, 0);
        bw_cms_add(t.base[A_FP], BOT_FP, cases[c].count);
        for (int a = 1; a < NATTR; a++) /* keep every attribute's total equal */
            bw_cms_add(t.base[a], val(T_RANDOM, 99), cases[c].count);
        assert_true(bw_cms_get(t.base[A_FP], BOT_FP) == cases[c].count); /* no collision */
        double rec = tick(&t, BOT_FP, 0, 1);
        bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, rec, 0.01);
        assert_int_equal(s.attr, cases[c].attr);
        if (s.attr >= 0) {
            assert_true(s.value == BOT_FP);
            assert_true(fabs(s.fp - cases[c].count / BASE_TOTAL) < 1e-12);
            assert_true(s.cover > 0.99);
        }
        traffic_free(&t);
    }
}

/* A value must explain at least BW_SIG_MIN_COVER of the surge: 5% less
 * is not enough, 5% more is.  The rest of the flood has no heavy hitter. */
static void test_min_cover(void **state)
{
    (void)state;
    int twentieths = (int)(BW_SIG_MIN_COVER * 20 + 0.5);
    const struct {
        int bots; /* of the 5000, with the bot's fingerprint */
        int attr;
    } cases[] = { { (twentieths - 1) * 250, -1 }, { (twentieths + 1) * 250, A_FP } };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        traffic t;
        traffic_init(&t);
        baseline(&t, BASE_TOTAL, 0);
        for (int i = 0; i < BOTS; i++) {
            bool one = i % 20 < cases[c].bots / 250; /* interleaved */
            record(&t, one ? BOT_FP : val(T_RANDOM, (uint64_t)(i % 1000)),
                   val(T_RANDOM, 1000 + (uint64_t)(i * 337 % 1000)),
                   val(T_RANDOM, 2000 + (uint64_t)((i * 773 + 11) % 1000)));
        }
        for (int i = 0; i < LEGIT; i++)
            record_legit(&t, i);
        bw_signature s = choose(&t, BOTS + LEGIT, EXPECTED, BOTS + LEGIT, 0.01);
        assert_int_equal(s.attr, cases[c].attr);
        if (s.attr >= 0) {
            assert_true(s.value == BOT_FP);
            assert_true(fabs(s.cover - cases[c].bots / (double)BOTS) < 0.01);
        }
        traffic_free(&t);
    }
}

/* ---- bw_sig_threshold ---- */

static bw_ewma ewma(double mean, double var)
{
    return (bw_ewma){ .mean = mean, .var = var, .primed = true };
}

/* A quiet site: mean + sigma x sd is far below the floor, the floor holds.
 * Nothing learnt at all: the floor too. */
static void test_threshold_floor(void **state)
{
    (void)state;
    bw_ewma e = ewma(10, 4);
    assert_true(fabs(bw_sig_threshold(&e, 100, 1, 4, 200) - 200) < 1e-9);
    bw_ewma none = { 0 };
    assert_true(fabs(bw_sig_threshold(&none, 100, 1, 4, 200) - 200) < 1e-9);
    /* a busy site: the floor does not lower it */
    e = ewma(10000, 0);
    assert_true(bw_sig_threshold(&e, 100, 1, 4, 200) >= 10000);
}

/* During the first BW_SIG_WARMUP_S the floor is five times higher, from
 * then on it is not. */
static void test_threshold_warmup(void **state)
{
    (void)state;
    bw_ewma e = ewma(10, 4);
    assert_true(fabs(bw_sig_threshold(&e, 0, 1, 4, 200) - 1000) < 1e-9);
    assert_true(fabs(bw_sig_threshold(&e, BW_SIG_WARMUP_S - 0.01, 1, 4, 200) - 1000) < 1e-9);
    assert_true(fabs(bw_sig_threshold(&e, BW_SIG_WARMUP_S, 1, 4, 200) - 200) < 1e-9);
    assert_true(fabs(bw_sig_threshold(&e, 3600, 1, 4, 200) - 200) < 1e-9);
    /* a rate above 5 x floor is not raised by the warm-up */
    e = ewma(5000, 0);
    double thr = bw_sig_threshold(&e, 0, 1, 4, 200);
    assert_true(fabs(thr - (5000 + 4 * sqrt(5000))) < 1e-6);
}

/* Above the floor and the noise: mean + sigma x sd, linear in sigma. */
static void test_threshold_sigma(void **state)
{
    (void)state;
    bw_ewma e = ewma(10000, 500.0 * 500.0); /* sd 500 > Poisson sqrt(10000) = 100 */
    assert_true(fabs(bw_sig_threshold(&e, 100, 1, 3, 100) - 11500) < 1e-6);
    assert_true(fabs(bw_sig_threshold(&e, 100, 1, 6, 100) - 13000) < 1e-6);

    /* primed through bw_ewma_add: 1000 then 2000 at alpha 0.5 is mean 1500,
     * variance 0.5 x (0.5 x 1000^2), sd 500 */
    bw_ewma f = { 0 };
    bw_ewma_add(&f, 1000, 0.5);
    bw_ewma_add(&f, 2000, 0.5);
    assert_true(fabs(bw_sig_threshold(&f, 100, 1, 4, 100) - 3500) < 1e-6);
}

/* A rate of 1000/s with no variance at all (a young baseline) still has
 * the Poisson noise of a 0.1 s tick's count: sd sqrt(1000 / 0.1) = 100. */
static void test_threshold_poisson(void **state)
{
    (void)state;
    bw_ewma e = ewma(1000, 0);
    for (double sigma = 1; sigma <= 8; sigma *= 2) {
        double thr = bw_sig_threshold(&e, 100, 0.1, sigma, 1);
        assert_true(thr >= 1000 + sigma * sqrt(10000) - 1e-6);
        assert_true(thr <= 1000 + sigma * sqrt(10000) + 1e-6);
    }
    /* a longer tick averages more: less noise per second */
    assert_true(fabs(bw_sig_threshold(&e, 100, 1, 4, 1) - (1000 + 4 * sqrt(1000))) < 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_fingerprint),
        cmocka_unit_test(test_common_fingerprint_new_path),
        cmocka_unit_test(test_fp_penalty),
        cmocka_unit_test(test_window_lower_bound),
        cmocka_unit_test(test_no_heavy_hitter),
        cmocka_unit_test(test_no_surge),
        cmocka_unit_test(test_sampled_window),
        cmocka_unit_test(test_baseline_unknown),
        cmocka_unit_test(test_tie_lower_index),
        cmocka_unit_test(test_max_fp_edge),
        cmocka_unit_test(test_min_cover),
        cmocka_unit_test(test_threshold_floor),
        cmocka_unit_test(test_threshold_warmup),
        cmocka_unit_test(test_threshold_sigma),
        cmocka_unit_test(test_threshold_poisson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
