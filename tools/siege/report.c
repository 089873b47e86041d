/*
 * report.c - bulwark-siege's arithmetic and output (see report.h).
 *
 * The histogram is log-linear: values below 16 us have a bucket each; above,
 * every power of two [2^e, 2^(e+1)) is cut into 16 equal sub-buckets, so a
 * bucket's width is at most 1/16 of its lower bound and a quantile read as
 * the bucket's upper bound is at most 6.25% high.
 *
 * The three outputs only read the run.  They write with plain stdio and
 * report a write error through ferror() at the end, so a full disk or a
 * closed pipe turns into -1 rather than a truncated file passing for good.
 */
#include "siege/report.h"

#include <math.h>
#include <string.h>

#define SUB_BITS 4
_Static_assert(1 << SUB_BITS == SG_HIST_SUB, "SUB_BITS must match SG_HIST_SUB");

/* ---- latency histogram ---- */

static unsigned hist_bucket(uint64_t us)
{
    if (us < SG_HIST_SUB)
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* >= SUB_BITS */
    uint64_t sub = (us >> (e - SUB_BITS)) & (SG_HIST_SUB - 1);
    uint64_t b = (uint64_t)(e - SUB_BITS + 1) * SG_HIST_SUB + sub;
    return b < SG_HIST_BUCKETS ? (unsigned)b : SG_HIST_BUCKETS - 1;
}

/* The largest value that falls into bucket b. */
static uint64_t hist_upper(unsigned b)
{
    if (b < SG_HIST_SUB)
        return b;
    unsigned shift = b / SG_HIST_SUB - 1; /* e - SUB_BITS */
    uint64_t lower = (uint64_t)(SG_HIST_SUB + b % SG_HIST_SUB) << shift;
    return lower + ((uint64_t)1 << shift) - 1;
}

void sg_hist_add(sg_hist *h, uint64_t us)
{
    h->bucket[hist_bucket(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

void sg_hist_merge(sg_hist *dst, const sg_hist *src)
{
    for (unsigned b = 0; b < SG_HIST_BUCKETS; b++)
        dst->bucket[b] += src->bucket[b];
    dst->count += src->count;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t sg_hist_quantile(const sg_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    /* The epsilon keeps 0.99 * 1000 from ranking 991 by rounding. */
    double want = ceil(q * (double)h->count - 1e-9);
    uint64_t rank = !(want >= 1) ? 1 : want >= (double)h->count ? h->count : (uint64_t)want;
    uint64_t cum = 0;
    for (unsigned b = 0; b < SG_HIST_BUCKETS; b++) {
        cum += h->bucket[b];
        if (cum >= rank) {
            uint64_t up = hist_upper(b);
            return up < h->max_us ? up : h->max_us;
        }
    }
    return h->max_us; /* count and buckets disagree (not from sg_hist_add) */
}

/* ---- mitigation ---- */

/* The scenario's window in whole seconds of the run: [*lo, *hi). */
static void scen_window(const sg_run *r, const sg_scenario *s, uint32_t *lo, uint32_t *hi)
{
    double n = r->nsec;
    double a = floor(s->start_s), b = ceil(s->start_s + s->duration_s);
    a = a > 0 ? (a < n ? a : n) : 0; /* NaN ends at 0 */
    b = b < n ? (b > a ? b : a) : n;
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
}

int sg_time_to_mitigate(const sg_run *r, const sg_scenario *s)
{
    if (s->tot.reached < 0 || !s->timeline)
        return -1;
    uint32_t lo, hi;
    scen_window(r, s, &lo, &hi);
    uint64_t sent = 0, reached = 0; /* sums over [i, hi) */
    for (uint32_t i = lo; i < hi; i++) {
        sent += s->timeline[i].sent;
        reached += s->timeline[i].reached;
    }
    for (uint32_t i = lo; i < hi; i++) {
        /* that second itself too: a tail diluted by a long attack must not
         * make the second in which the leak happened its "mitigated" one */
        if (sent > 0 && reached * 1000 <= sent &&
            s->timeline[i].reached * 1000 <= s->timeline[i].sent)
            return (int)(i - lo);
        sent -= s->timeline[i].sent;
        reached -= s->timeline[i].reached;
    }
    return -1;
}

double sg_reach_ratio(const sg_scenario *s)
{
    if (s->tot.reached < 0 || s->tot.sent == 0)
        return -1;
    return (double)s->tot.reached / (double)s->tot.sent;
}

/* ok / sent of a legit scenario, or -1 if it sent nothing. */
static double success_ratio(const sg_scenario *s)
{
    return s->tot.sent ? (double)s->tot.ok / (double)s->tot.sent : -1;
}

static int nscen(const sg_run *r)
{
    return r->nscen < 0 ? 0 : r->nscen > SG_MAX_SCENARIOS ? SG_MAX_SCENARIOS : r->nscen;
}

static bool have_probe(const sg_run *r)
{
    for (int i = 0; i < nscen(r); i++)
        if (r->scen[i].tot.reached >= 0)
            return true;
    return false;
}

/* ---- JSON ---- */

/* A string field of at most max bytes (the run's char arrays may fill up
 * without a NUL), quoted and escaped. */
static void json_str(FILE *f, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A ratio or a count that may be unknown (negative: null). */
static void json_ratio(FILE *f, double v)
{
    if (v < 0 || !isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

static void json_real(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.3f", v);
    else
        fputs("null", f);
}

static const char *const timeline_columns[] = {
    "sent", "ok", "blocked", "challenged", "errors", "reached", "active", "p99_us",
};

static void json_totals(FILE *f, const sg_totals *t)
{
    fprintf(f,
            "{\"sent\": %llu, \"ok\": %llu, \"blocked\": %llu, \"challenged\": %llu, "
            "\"errors\": %llu, \"challenged_ok\": %llu, \"failed\": %llu, \"dropped\": %llu, "
            "\"timeouts\": %llu, \"missed\": %llu, \"reached\": ",
            (unsigned long long)t->sent, (unsigned long long)t->ok,
            (unsigned long long)t->blocked, (unsigned long long)t->challenged,
            (unsigned long long)t->errors, (unsigned long long)t->challenged_ok,
            (unsigned long long)t->failed, (unsigned long long)t->dropped,
            (unsigned long long)t->timeouts, (unsigned long long)t->missed);
    if (t->reached < 0)
        fputs("null", f);
    else
        fprintf(f, "%lld", (long long)t->reached);
    fputs(", \"status\": {", f);
    for (int c = 1; c <= 5; c++)
        fprintf(f, "%s\"%dxx\": %llu", c > 1 ? ", " : "", c, (unsigned long long)t->status[c]);
    fputs("}}", f);
}

static void json_latency(FILE *f, const sg_hist *h)
{
    fprintf(f,
            "{\"p50_us\": %llu, \"p90_us\": %llu, \"p99_us\": %llu, \"max_us\": %llu, "
            "\"count\": %llu}",
            (unsigned long long)sg_hist_quantile(h, 0.50),
            (unsigned long long)sg_hist_quantile(h, 0.90),
            (unsigned long long)sg_hist_quantile(h, 0.99), (unsigned long long)h->max_us,
            (unsigned long long)h->count);
}

/* One row per second, in the order of timeline_columns. */
static void json_timeline(FILE *f, const sg_run *r, const sg_scenario *s)
{
    fputs("[", f);
    for (uint32_t i = 0; s->timeline && i < r->nsec; i++) {
        const sg_second *t = &s->timeline[i];
        fprintf(f, "%s\n        [%u, %u, %u, %u, %u, %u, %u, %u]", i ? "," : "", t->sent,
                t->ok, t->blocked, t->challenged, t->errors, t->reached, t->active, t->p99_us);
    }
    fputs(r->nsec && s->timeline ? "\n      ]" : "]", f);
}

static void json_scenario(FILE *f, const sg_run *r, const sg_scenario *s)
{
    fputs("    {\"name\": ", f);
    json_str(f, s->name, sizeof s->name);
    fprintf(f, ", \"kind\": \"%s\", \"attack\": %s, \"rate\": ", sg_kind_name(s->kind),
            s->attack ? "true" : "false");
    json_real(f, s->rate);
    fputs(", \"start_s\": ", f);
    json_real(f, s->start_s);
    fputs(", \"duration_s\": ", f);
    json_real(f, s->duration_s);
    fputs(",\n      \"totals\": ", f);
    json_totals(f, &s->tot);
    if (s->attack) {
        int ttm = sg_time_to_mitigate(r, s);
        fputs(",\n      \"time_to_mitigate_s\": ", f);
        if (ttm < 0)
            fputs("null", f);
        else
            fprintf(f, "%d", ttm);
        fputs(", \"reach_ratio\": ", f);
        json_ratio(f, sg_reach_ratio(s));
    } else {
        fputs(",\n      \"latency\": ", f);
        json_latency(f, &s->latency);
        fputs(", \"success_ratio\": ", f);
        json_ratio(f, success_ratio(s));
    }
    fputs(",\n      \"timeline\": ", f);
    json_timeline(f, r, s);
    fputs("}", f);
}

int sg_report_json(const sg_run *r, FILE *f)
{
    fputs("{\n  \"label\": ", f);
    json_str(f, r->label, sizeof r->label);
    fputs(", \"target\": ", f);
    json_str(f, r->target, sizeof r->target);
    fputs(", \"host\": ", f);
    json_str(f, r->host, sizeof r->host);
    fputs(", \"probe\": ", f);
    json_str(f, r->probe, sizeof r->probe);
    fprintf(f, ",\n  \"seed\": %llu, \"timeout_ms\": %u, \"t0_unix\": %lld, \"seconds\": %u,\n",
            (unsigned long long)r->seed, r->timeout_ms, (long long)r->t0_unix, r->nsec);
    fputs("  \"timeline_columns\": [", f);
    for (size_t i = 0; i < sizeof timeline_columns / sizeof *timeline_columns; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", timeline_columns[i]);
    fputs("],\n  \"scenarios\": [", f);
    for (int i = 0; i < nscen(r); i++) {
        fputs(i ? ",\n" : "\n", f);
        json_scenario(f, r, &r->scen[i]);
    }
    fputs(nscen(r) ? "\n  ]\n}\n" : "]\n}\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- table ---- */

static int name_width(const sg_run *r, bool attack, int min)
{
    int w = min;
    for (int i = 0; i < nscen(r); i++) {
        int n = (int)strnlen(r->scen[i].name, sizeof r->scen[i].name);
        if (r->scen[i].attack == attack && n > w)
            w = n;
    }
    return w;
}

/* Milliseconds with 2 decimals into buf, or "n/a" for an empty histogram. */
static const char *fmt_ms(char *buf, size_t len, const sg_hist *h, double q)
{
    if (h->count == 0)
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.2f", (double)sg_hist_quantile(h, q) / 1000.0);
    return buf;
}

static void table_legit(const sg_run *r, FILE *f)
{
    int w = name_width(r, false, 5);
    fprintf(f, "%-*s %10s %10s %10s %10s %9s %9s %9s\n", w, "legit", "requests", "ok",
            "chal->ok", "failed", "success", "p50 ms", "p99 ms");
    for (int i = 0; i < nscen(r); i++) {
        const sg_scenario *s = &r->scen[i];
        if (s->attack)
            continue;
        char succ[16], p50[24], p99[24];
        double ok = success_ratio(s);
        if (ok < 0)
            snprintf(succ, sizeof succ, "n/a");
        else
            snprintf(succ, sizeof succ, "%.2f%%", 100.0 * ok);
        fprintf(f, "%-*.*s %10llu %10llu %10llu %10llu %9s %9s %9s\n", w,
                (int)sizeof s->name, s->name, (unsigned long long)s->tot.sent,
                (unsigned long long)s->tot.ok, (unsigned long long)s->tot.challenged_ok,
                (unsigned long long)s->tot.failed, succ,
                fmt_ms(p50, sizeof p50, &s->latency, 0.50),
                fmt_ms(p99, sizeof p99, &s->latency, 0.99));
    }
}

/* "reached origin" cell: "N (x.xxx%)", "N" when nothing was sent, "n/a"
 * without a probe. */
static const char *fmt_reached(char *buf, size_t len, const sg_scenario *s)
{
    double ratio = sg_reach_ratio(s);
    if (s->tot.reached < 0)
        snprintf(buf, len, "n/a");
    else if (ratio < 0)
        snprintf(buf, len, "%lld", (long long)s->tot.reached);
    else
        snprintf(buf, len, "%lld (%.3f%%)", (long long)s->tot.reached, 100.0 * ratio);
    return buf;
}

static const char *fmt_ttm(char *buf, size_t len, const sg_run *r, const sg_scenario *s)
{
    int ttm = sg_time_to_mitigate(r, s);
    if (s->tot.reached < 0 || s->tot.sent == 0)
        snprintf(buf, len, "n/a");
    else if (ttm < 0)
        snprintf(buf, len, "not mitigated");
    else
        snprintf(buf, len, "%d s", ttm);
    return buf;
}

static void table_attacks(const sg_run *r, FILE *f)
{
    int w = name_width(r, true, 6);
    fprintf(f, "%-*s %10s %22s %10s %10s %10s %10s  %s\n", w, "attack", "sent",
            "reached origin", "blocked", "challenged", "errors", "missed", "time to mitigate");
    for (int i = 0; i < nscen(r); i++) {
        const sg_scenario *s = &r->scen[i];
        if (!s->attack)
            continue;
        char reached[48], ttm[24];
        fprintf(f, "%-*.*s %10llu %22s %10llu %10llu %10llu %10llu  %s\n", w,
                (int)sizeof s->name, s->name, (unsigned long long)s->tot.sent,
                fmt_reached(reached, sizeof reached, s), (unsigned long long)s->tot.blocked,
                (unsigned long long)s->tot.challenged, (unsigned long long)s->tot.errors,
                (unsigned long long)s->tot.missed, fmt_ttm(ttm, sizeof ttm, r, s));
    }
}

void sg_report_table(const sg_run *r, FILE *f)
{
    int nlegit = 0, nattack = 0;
    for (int i = 0; i < nscen(r); i++)
        r->scen[i].attack ? nattack++ : nlegit++;
    fprintf(f, "bulwark-siege: %.*s at %.*s, %u s%s\n\n", (int)sizeof r->label, r->label,
            (int)sizeof r->target, r->target, r->nsec,
            have_probe(r) ? "" : " (no origin probe)");
    if (nlegit) {
        table_legit(r, f);
        fputc('\n', f);
    }
    if (nattack) {
        table_attacks(r, f);
        fputc('\n', f);
    }
}

/* ---- SVG ---- */

/* Canvas and plot area, in SVG user units. */
enum { SVG_W = 900, SVG_H = 420, PX0 = 70, PX1 = 880, PY0 = 50, PY1 = 330 };

enum series { S_LEGIT_ORIGIN, S_ATTACK_ORIGIN, S_ATTACK_STOPPED, S_ATTACK_SENT, S_COUNT };

static const struct {
    const char *label, *colour, *dash;
    bool origin; /* needs the probe */
} series_style[S_COUNT] = {
    [S_LEGIT_ORIGIN] = {"legit at origin", "#2ca02c", "", true},
    [S_ATTACK_ORIGIN] = {"attack at origin", "#d62728", "", true},
    [S_ATTACK_STOPPED] = {"attack blocked/challenged by proxy", "#1f77b4", "", false},
    [S_ATTACK_SENT] = {"attack sent", "#7f7f7f", "6,3", false},
};

static uint64_t series_at(const sg_run *r, enum series k, uint32_t sec)
{
    uint64_t v = 0;
    for (int i = 0; i < nscen(r); i++) {
        const sg_scenario *s = &r->scen[i];
        if (!s->timeline || s->attack != (k != S_LEGIT_ORIGIN))
            continue;
        const sg_second *t = &s->timeline[sec];
        if (k == S_LEGIT_ORIGIN || k == S_ATTACK_ORIGIN)
            v += t->reached;
        else if (k == S_ATTACK_STOPPED)
            v += (uint64_t)t->blocked + t->challenged;
        else
            v += t->sent;
    }
    return v;
}

/* Geometry shared by the drawing functions. */
typedef struct plot {
    double nsec;   /* x range: [0, nsec] seconds, at least 1 */
    double top;    /* y range: [0, top] in log10(v + 1) */
    int decades;   /* gridlines at 10^0 .. 10^decades */
} plot;

static double px(const plot *p, double sec)
{
    return PX0 + (PX1 - PX0) * sec / p->nsec;
}

static double py(const plot *p, double v)
{
    return PY1 - (PY1 - PY0) * log10(v + 1) / p->top;
}

static void xml_text(FILE *f, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 allows no other control characters, even escaped */
            fputc(c < 0x20 && c != '\t' ? '?' : c, f);
        }
    }
}

static plot plot_geometry(const sg_run *r, bool probe)
{
    uint64_t max = 0;
    for (uint32_t i = 0; i < r->nsec; i++)
        for (int k = 0; k < S_COUNT; k++) {
            uint64_t v = probe || !series_style[k].origin ? series_at(r, k, i) : 0;
            if (v > max)
                max = v;
        }
    plot p = {.nsec = r->nsec ? r->nsec : 1, .decades = 1};
    while (p.decades < 15 && pow(10, p.decades) < (double)max)
        p.decades++;
    p.top = log10(pow(10, p.decades) + 1);
    return p;
}

static const char *decade_label(char *buf, size_t len, int d)
{
    static const char *const suffix[] = {"", "k", "M", "G", "T", "P"};
    static const char *const mant[] = {"1", "10", "100"};
    snprintf(buf, len, "%s%s", mant[d % 3], suffix[d / 3]);
    return buf;
}

static void svg_y_axis(FILE *f, const plot *p)
{
    fprintf(f, "<g font-size=\"11\" text-anchor=\"end\" fill=\"#444\">\n");
    fprintf(f, "<text x=\"%d\" y=\"%d\">0</text>\n", PX0 - 6, PY1 + 4);
    for (int d = 0; d <= p->decades; d++) {
        char buf[16];
        double y = py(p, pow(10, d));
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%d\" y=\"%.1f\">%s</text>\n",
                PX0, y, PX1, y, PX0 - 6, y + 4, decade_label(buf, sizeof buf, d));
    }
    fprintf(f, "</g>\n<text x=\"16\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 16 %d)\">requests/s (log scale)</text>\n",
            (PY0 + PY1) / 2, (PY0 + PY1) / 2);
}

/* A tick step giving at most ~12 ticks over n seconds. */
static uint32_t tick_step(double n)
{
    static const uint32_t steps[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (n / steps[i] <= 12)
            return steps[i];
    return 3600 * (uint32_t)ceil(n / 3600 / 12);
}

static void svg_x_axis(FILE *f, const plot *p)
{
    uint32_t step = tick_step(p->nsec);
    fprintf(f, "<g font-size=\"11\" text-anchor=\"middle\" fill=\"#444\">\n");
    for (uint32_t t = 0; t <= p->nsec; t += step) {
        double x = px(p, t);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>"
                "<text x=\"%.1f\" y=\"%d\">%u</text>\n",
                x, PY1, x, PY1 + 5, x, PY1 + 18, t);
    }
    fprintf(f, "</g>\n<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">"
               "seconds since the start of the run</text>\n",
            (PX0 + PX1) / 2, PY1 + 36);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#444\"/>\n",
            PX0, PY0, PX1 - PX0, PY1 - PY0);
}

/* A light band over each attack's window, its name at the top; names are
 * staggered so overlapping windows stay readable. */
static void svg_windows(FILE *f, const sg_run *r, const plot *p)
{
    int n = 0;
    for (int i = 0; i < nscen(r); i++) {
        const sg_scenario *s = &r->scen[i];
        if (!s->attack)
            continue;
        double a = s->start_s > 0 ? s->start_s : 0, b = s->start_s + s->duration_s;
        a = a < p->nsec ? a : p->nsec;
        b = b < p->nsec ? (b > a ? b : a) : p->nsec;
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#ff9800\" "
                "fill-opacity=\"0.10\"/>\n<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                "fill=\"#a65c00\">",
                px(p, a), PY0, px(p, b) - px(p, a), PY1 - PY0, px(p, a) + 3,
                PY0 + 13 + 13 * (n++ % 3));
        xml_text(f, s->name, sizeof s->name);
        fputs("</text>\n", f);
    }
}

static void svg_series(FILE *f, const sg_run *r, const plot *p, enum series k)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s%s%s points=\"",
            series_style[k].colour, *series_style[k].dash ? " stroke-dasharray=\"" : "",
            series_style[k].dash, *series_style[k].dash ? "\"" : "");
    for (uint32_t i = 0; i < r->nsec; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(p, i + 0.5),
                py(p, (double)series_at(r, k, i)));
    fputs("\"/>\n", f);
}

static void svg_legend(FILE *f, bool probe)
{
    int x = PX0, y = SVG_H - 22;
    fputs("<g font-size=\"12\">\n", f);
    for (int k = 0; k < S_COUNT; k++) {
        if (series_style[k].origin && !probe)
            continue;
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"3\"%s%s%s/><text x=\"%d\" y=\"%d\">%s</text>\n",
                x, y - 4, x + 24, y - 4, series_style[k].colour,
                *series_style[k].dash ? " stroke-dasharray=\"" : "", series_style[k].dash,
                *series_style[k].dash ? "\"" : "", x + 30, y, series_style[k].label);
        x += 30 + 7 * (int)strlen(series_style[k].label) + 24;
    }
    if (!probe)
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#a00\">no origin probe: arrivals at the "
                   "origin were not measured</text>\n", x, y);
    fputs("</g>\n", f);
}

static void svg_title(FILE *f, const sg_run *r)
{
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"16\" font-weight=\"bold\">", PX0);
    fputs("bulwark-siege: ", f);
    xml_text(f, *r->label ? r->label : "target", sizeof r->label);
    fputs(" at ", f);
    xml_text(f, r->target, sizeof r->target);
    fputs("</text>\n", f);
}

int sg_report_svg(const sg_run *r, FILE *f)
{
    bool probe = have_probe(r);
    plot p = plot_geometry(r, probe);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    svg_title(f, r);
    svg_windows(f, r, &p);
    svg_y_axis(f, &p);
    svg_x_axis(f, &p);
    for (int k = S_COUNT - 1; k >= 0; k--) /* sent first, so the origin lines stay on top */
        if (probe || !series_style[k].origin)
            svg_series(f, r, &p, k);
    svg_legend(f, probe);
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}
