/*
 * signature.c - surge threshold and signature choice (see signature.h).
 */
#include "shield/signature.h"

#include <math.h>

double bw_sig_threshold(const bw_ewma *rate, double age_s, double tick_s, double sigma, double floor)
{
    double mean = rate->primed ? rate->mean : 0;
    double sd = bw_ewma_sd(rate);
    double noise = sqrt(mean / tick_s);
    if (sd < noise)
        sd = noise;
    double t = mean + sigma * sd;
    if (age_s < BW_SIG_WARMUP_S)
        floor *= 5;
    return t > floor ? t : floor;
}

bw_signature bw_sig_choose(const bw_topk *const *win, const bw_cms *const *base, int nattr,
                           double passed, double expected, double recorded, double max_fp)
{
    bw_signature best = { .attr = -1 };
    double surge = passed - expected;
    if (surge <= 0 || recorded <= 0 || nattr <= 0)
        return best;
    double scale = passed / recorded;
    double base_total = bw_cms_total(base[0]);
    best.baseline_known = base_total >= BW_SIG_BASELINE_KNOWN;
    double best_score = -1e9;
    for (int a = 0; a < nattr; a++) {
        bw_topk_item items[BW_SIG_CANDIDATES];
        size_t n = bw_topk_list(win[a], items, BW_SIG_CANDIDATES);
        for (size_t i = 0; i < n; i++) {
            double share = base_total > 0 ? bw_cms_get(base[a], items[i].key) / base_total : 0;
            double w = (double)(items[i].count - items[i].err) * scale;
            double cover = (w - share * expected) / surge;
            if (cover < BW_SIG_MIN_COVER || share > max_fp)
                continue;
            double score = cover - 5 * share;
            if (score > best_score + 1e-9) {
                best_score = score;
                best.attr = a;
                best.value = items[i].key;
                best.cover = cover > 1 ? 1 : cover;
                best.fp = share;
            }
        }
    }
    return best;
}
