/*
 * signature.h - the detector's maths, kept apart from its thread so it can
 * be tested on synthetic traffic: when a rate is a surge, and which
 * attribute value describes the surge best.
 */
#ifndef BW_SHIELD_SIGNATURE_H
#define BW_SHIELD_SIGNATURE_H

#include <stdbool.h>
#include <stdint.h>

#include "shield/sketch.h"

#define BW_SIG_CANDIDATES 8        /* top values per attribute considered */
#define BW_SIG_BASELINE_KNOWN 200.0 /* baseline requests before its shares are trusted */
#define BW_SIG_MIN_COVER 0.6       /* a signature explains at least this share of the surge */
#define BW_SIG_WARMUP_S 3.0        /* see bw_sig_threshold */

/*
 * The passed rate (requests/s) above which a tick is a surge:
 * max(floor, mean + sigma x sd).  sd is at least the Poisson noise of one
 * tick's count, sqrt(mean / tick_s), so a young baseline with a falsely
 * tiny variance does not flag normal jitter.  During the first
 * BW_SIG_WARMUP_S of learning (age_s) the floor is five times higher: a
 * crowd of visitors arriving together at start is not an attack, a flood
 * that is there from the start still is.
 */
double bw_sig_threshold(const bw_ewma *rate, double age_s, double tick_s, double sigma, double floor);

typedef struct bw_signature {
    int attr;            /* index into the arrays given to bw_sig_choose; -1: none */
    uint64_t value;
    double cover;        /* share of the surge it explains (0..1) */
    double fp;           /* share of baseline traffic it would match (estimate) */
    bool baseline_known; /* the baseline had enough traffic for fp to mean something */
} bw_signature;

/*
 * The attribute value that explains most of a surge while matching little
 * of the baseline.  win[a]: this tick's heavy hitters of attribute a
 * (recorded requests); base[a]: the baseline counts; passed: requests
 * passed this tick (recorded may be fewer: the rings sample), expected:
 * requests the baseline predicts for the tick.  For value v:
 *   w(v)  = its window count x passed / recorded (lower bound of Space-Saving)
 *   e(v)  = its baseline share x expected
 *   cover = (w(v) - e(v)) / (passed - expected), fp = its baseline share.
 * Candidates need cover >= BW_SIG_MIN_COVER and fp <= max_fp; the best has
 * the largest cover - 5 fp, ties to the lower attribute index (callers put
 * broader attributes first).  Shares are taken against base[0]'s total:
 * every request counts once in every attribute's baseline.
 */
bw_signature bw_sig_choose(const bw_topk *const *win, const bw_cms *const *base, int nattr,
                           double passed, double expected, double recorded, double max_fp);

#endif
