/*
 * overload.c - the worker's overload level from samples of client waits
 * (see overload.h for the signal and the levels).
 */
#include "proxy/overload.h"

static uint8_t level_for(uint32_t wait_ms, uint32_t threshold_ms)
{
    if (threshold_ms == 0 || wait_ms < threshold_ms)
        return 0;
    return (uint64_t)wait_ms >= (uint64_t)threshold_ms * BW_OVERLOAD_SHED_FACTOR ? 2 : 1;
}

static bool set_level(bw_overload *o, uint8_t level, uint64_t now_ms)
{
    if (level == o->level)
        return false;
    /* escalation counts from the start of the current level 1, also one
     * stepped down to from 2 (else 2 -> 1 -> 2 would flap every sample) */
    if (o->level == 0 || level < o->level)
        o->behind_since_ms = now_ms;
    o->level = level;
    return true;
}

bool bw_overload_note(bw_overload *o, uint32_t wait_ms, uint32_t threshold_ms, uint64_t now_ms)
{
    o->next_sample_ms = now_ms + BW_OVERLOAD_SAMPLE_MS;
    o->last_wait_ms = wait_ms;
    uint8_t want = level_for(wait_ms, threshold_ms);
    /* the challenges of level 1 did not bring the waits down in time */
    if (want == 1 && o->level == 1 && now_ms >= o->behind_since_ms + BW_OVERLOAD_ESCALATE_MS)
        want = 2;
    if (want > 0 && want >= o->level) {
        o->hold_until_ms = now_ms + BW_OVERLOAD_HOLD_MS;
        return set_level(o, want, now_ms);
    }
    if (want < o->level && now_ms >= o->hold_until_ms)
        return set_level(o, want, now_ms);
    return false;
}

bool bw_overload_tick(bw_overload *o, uint64_t now_ms)
{
    if (o->level == 0 || now_ms < o->hold_until_ms + BW_OVERLOAD_HOLD_MS)
        return false;
    return set_level(o, 0, now_ms);
}
