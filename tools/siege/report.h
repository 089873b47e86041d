/*
 * report.h - bulwark-siege's arithmetic and output: the latency histogram,
 * time to mitigate, and the report as JSON, as a readable table and as an
 * SVG timeline plot (written directly, no plotting dependency).
 *
 * Everything here is a pure function of a finished sg_run (siege.h), so the
 * unit tests drive it with hand-made runs.
 */
#ifndef SG_REPORT_H
#define SG_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "siege.h"

/* ---- latency histogram ---- */

void sg_hist_add(sg_hist *h, uint64_t us);
void sg_hist_merge(sg_hist *dst, const sg_hist *src);
/* The q-quantile (0 < q <= 1) in microseconds: the upper bound of the bucket
 * that holds it, capped at max_us.  0 for an empty histogram. */
uint64_t sg_hist_quantile(const sg_hist *h, double q);

/*
 * Time to mitigate of an attack scenario, in seconds after its start: the
 * first second s of its window (counted from its start_s) from which on, to
 * the end of its window, the requests that reached the origin are at most
 * 0.1% of those it sent (sum of reached / sum of sent over [s, end]), and
 * at most 0.1% in second s itself.
 * Returns -1 if that never happens (or the scenario sent nothing, or there
 * are no probe counts).  Slow scenarios are judged on the same ratio with
 * "sent" = connections opened.
 */
int sg_time_to_mitigate(const sg_run *r, const sg_scenario *s);

/* Share of an attack's requests that reached the origin over its whole
 * window (reached / sent), or -1 when unknown. */
double sg_reach_ratio(const sg_scenario *s);

/* The report as JSON (one object; layout in docs/SIEGE.md).  0 or -1. */
int sg_report_json(const sg_run *r, FILE *f);

/* The readable table: legit (ok, challenged-then-ok, failed, p50, p99) and
 * one row per attack (sent, reached origin, blocked, challenged, errors,
 * time to mitigate). */
void sg_report_table(const sg_run *r, FILE *f);

/*
 * The timeline plot as a standalone SVG: requests/s per second of the run
 * on a log scale: legit reaching the origin, attack reaching the origin,
 * attack blocked/challenged by the proxy, attack sent; one shaded band per
 * attack window.  0 or -1.
 */
int sg_report_svg(const sg_run *r, FILE *f);

#endif
