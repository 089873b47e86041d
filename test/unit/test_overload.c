/*
 * test_overload.c - a worker's overload level (proxy/overload.c) from
 * samples of how long clients waited: the thresholds, the hold that keeps
 * a level from flapping, the escalation when challenging is not enough,
 * the return to normal with or without samples, and "off".  Time is
 * passed in, never read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/overload.h"

#define T 50 /* overload_wait, ms */

static void test_keeping_up_stays_normal(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    for (uint64_t now = 1000; now < 20000; now += 100) {
        assert_true(bw_overload_sample_due(&o, now));
        assert_false(bw_overload_note(&o, now % 7 ? 1 : T - 1, T, now));
        assert_false(bw_overload_tick(&o, now + 50));
        assert_int_equal(o.level, 0);
    }
}

static void test_one_sample_per_interval(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    assert_true(bw_overload_sample_due(&o, 5000));
    bw_overload_note(&o, 0, T, 5000);
    assert_false(bw_overload_sample_due(&o, 5000));
    assert_false(bw_overload_sample_due(&o, 5000 + BW_OVERLOAD_SAMPLE_MS - 1));
    assert_true(bw_overload_sample_due(&o, 5000 + BW_OVERLOAD_SAMPLE_MS));
}

static void test_thresholds(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    assert_true(bw_overload_note(&o, T, T, 1000));
    assert_int_equal(o.level, 1);
    assert_int_equal(o.last_wait_ms, T);
    bw_overload p = { 0 };
    assert_true(bw_overload_note(&p, T * BW_OVERLOAD_SHED_FACTOR - 1, T, 1000));
    assert_int_equal(p.level, 1);
    bw_overload q = { 0 };
    assert_true(bw_overload_note(&q, T * BW_OVERLOAD_SHED_FACTOR, T, 1000));
    assert_int_equal(q.level, 2); /* far behind: straight to shedding */
}

static void test_off_never_leaves_normal(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    assert_false(bw_overload_note(&o, 60000, 0, 1000));
    assert_int_equal(o.level, 0);
}

static void test_level_holds_then_drops(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    bw_overload_note(&o, 2 * T, T, 1000);
    assert_int_equal(o.level, 1);
    /* good samples inside the hold do not end it */
    assert_false(bw_overload_note(&o, 0, T, 1000 + BW_OVERLOAD_HOLD_MS - 1));
    assert_int_equal(o.level, 1);
    /* after it, the first good sample does */
    assert_true(bw_overload_note(&o, 0, T, 1000 + BW_OVERLOAD_HOLD_MS));
    assert_int_equal(o.level, 0);
}

static void test_shedding_steps_down_to_challenging(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    bw_overload_note(&o, 10 * T, T, 1000);
    assert_int_equal(o.level, 2);
    uint64_t now = 1000 + BW_OVERLOAD_HOLD_MS;
    assert_true(bw_overload_note(&o, 2 * T, T, now)); /* still behind, less so */
    assert_int_equal(o.level, 1);
    /* a level 1 reached from above counts its escalation time afresh:
     * no flapping back to 2 on the next sample */
    assert_false(bw_overload_note(&o, 2 * T, T, now + 100));
    assert_int_equal(o.level, 1);
}

static void test_challenging_that_does_not_help_escalates(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    uint64_t start = 1000, now = start;
    bw_overload_note(&o, 2 * T, T, now);
    for (now += 100; now < start + BW_OVERLOAD_ESCALATE_MS; now += 100) {
        assert_false(bw_overload_note(&o, 2 * T, T, now));
        assert_int_equal(o.level, 1);
    }
    assert_true(bw_overload_note(&o, 2 * T, T, now));
    assert_int_equal(o.level, 2);
}

static void test_challenging_that_helps_does_not_escalate(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    bw_overload_note(&o, 2 * T, T, 1000);
    for (uint64_t now = 1100; now < 5000; now += 100) {
        bw_overload_note(&o, T / 2, T, now);
        assert_true(o.level <= 1);
    }
    assert_int_equal(o.level, 0);
}

static void test_no_samples_means_nobody_waits(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    bw_overload_note(&o, 10 * T, T, 1000);
    uint64_t hold_end = 1000 + BW_OVERLOAD_HOLD_MS;
    assert_false(bw_overload_tick(&o, hold_end));
    assert_false(bw_overload_tick(&o, hold_end + BW_OVERLOAD_HOLD_MS - 1));
    assert_int_equal(o.level, 2);
    assert_true(bw_overload_tick(&o, hold_end + BW_OVERLOAD_HOLD_MS));
    assert_int_equal(o.level, 0);
    assert_false(bw_overload_tick(&o, hold_end + 10 * BW_OVERLOAD_HOLD_MS));
}

static void test_a_new_bad_sample_renews_the_hold(void **state)
{
    (void)state;
    bw_overload o = { 0 };
    bw_overload_note(&o, 10 * T, T, 1000);
    bw_overload_note(&o, 10 * T, T, 1900);
    assert_false(bw_overload_note(&o, 0, T, 1000 + BW_OVERLOAD_HOLD_MS + 100));
    assert_int_equal(o.level, 2);
    assert_true(bw_overload_note(&o, 0, T, 1900 + BW_OVERLOAD_HOLD_MS));
    assert_int_equal(o.level, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeping_up_stays_normal),
        cmocka_unit_test(test_one_sample_per_interval),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_off_never_leaves_normal),
        cmocka_unit_test(test_level_holds_then_drops),
        cmocka_unit_test(test_shedding_steps_down_to_challenging),
        cmocka_unit_test(test_challenging_that_does_not_help_escalates),
        cmocka_unit_test(test_challenging_that_helps_does_not_escalate),
        cmocka_unit_test(test_no_samples_means_nobody_waits),
        cmocka_unit_test(test_a_new_bad_sample_renews_the_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
