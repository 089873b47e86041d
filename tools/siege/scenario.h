/*
 * scenario.h - bulwark-siege's scenario specs: `NAME[:key=value,...]` from
 * the command line into sg_scenario entries of a run, with each kind's
 * defaults, and the expansion of `seed-replay` into the seed's phases.
 *
 * Keys: rate, start, duration (seconds, fractions allowed), per-ip, ips,
 * conns, users, think (ms), interval (ms), mimic (bot|browser), name.
 * Errors are written into err (a full sentence naming the bad part).
 */
#ifndef SG_SCENARIO_H
#define SG_SCENARIO_H

#include <stddef.h>

#include "siege.h"

/* Defaults applied to every scenario the spec does not set. */
typedef struct sg_defaults {
    double duration_s;  /* the run's --duration */
    int mimic_browser;  /* --mimic browser */
} sg_defaults;

/* Append the scenario(s) of one spec to r.  0, or -1 with err filled. */
int sg_scenario_add(sg_run *r, const char *spec, const sg_defaults *d, char *err,
                    size_t errlen);

/* The run's length: the end of its last scenario, rounded up (at least 1). */
uint32_t sg_run_seconds(const sg_run *r);

#endif
