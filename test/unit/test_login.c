/*
 * test_login.c - the failed-login tables (shield/login.c): counts add up
 * and halve every half-life, distinct accounts are estimated, a table
 * keeps its size and the key that matters under millions of others, a
 * success forgets, and the classification's thresholds.  Time is passed
 * in, never read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hash.h"
#include "shield/login.h"

#define H BW_LOGIN_HALF_LIFE_MS

static void test_failures_add_up_and_decay(void **state)
{
    (void)state;
    bw_login_table *t = bw_login_table_new(1024);
    assert_non_null(t);
    for (int i = 0; i < 8; i++)
        bw_login_fail(t, 42, bw_mix64(7), 1000);
    bw_login_count c = bw_login_get(t, 42, 1000);
    assert_true(c.failures > 7.99 && c.failures < 8.01);
    assert_int_equal(c.accounts, 1);
    c = bw_login_get(t, 42, 1000 + H);
    assert_true(c.failures > 3.99 && c.failures < 4.01);
    c = bw_login_get(t, 42, 1000 + 2 * H);
    assert_true(c.failures > 1.99 && c.failures < 2.01);
    /* below half a failure: as good as unknown */
    c = bw_login_get(t, 42, 1000 + 5 * H);
    assert_int_equal(c.accounts, 0);
    assert_true(c.failures == 0);
    assert_true(bw_login_get(t, 43, 1000).failures == 0);
    bw_login_table_free(t);
}

static void test_a_count_that_died_out_starts_over(void **state)
{
    (void)state;
    bw_login_table *t = bw_login_table_new(1024);
    for (int a = 0; a < 30; a++)
        bw_login_fail(t, 5, bw_mix64((uint64_t)a + 1), 0);
    assert_true(bw_login_get(t, 5, 0).accounts >= 20);
    bw_login_fail(t, 5, bw_mix64(1), 10 * H);
    bw_login_count c = bw_login_get(t, 5, 10 * H);
    assert_int_equal(c.accounts, 1); /* the old accounts were forgotten with their count */
    assert_true(c.failures > 0.99 && c.failures < 1.01);
    bw_login_table_free(t);
}

static void test_distinct_accounts_estimated(void **state)
{
    (void)state;
    bw_login_table *t = bw_login_table_new(1024);
    const int ns[] = { 1, 5, 20, 40 };
    for (int k = 0; k < 4; k++) {
        uint64_t key = 100 + (uint64_t)k;
        for (int rep = 0; rep < 3; rep++)
            for (int a = 0; a < ns[k]; a++)
                bw_login_fail(t, key, bw_mix64(((uint64_t)k << 32) | (uint64_t)a), 0);
        unsigned est = bw_login_get(t, key, 0).accounts;
        assert_true(est >= (unsigned)ns[k] * 7 / 10 && est <= (unsigned)ns[k] * 13 / 10 + 1);
    }
    bw_login_table_free(t);
}

static void test_bounded_memory_keeps_what_matters(void **state)
{
    (void)state;
    bw_login_table *t = bw_login_table_new(1 << 16);
    size_t bytes = bw_login_table_bytes(t);
    assert_true(bytes < (8u << 20));
    uint64_t hammered = bw_mix64(123456789);
    for (int i = 0; i < 50; i++)
        bw_login_fail(t, hammered, bw_mix64(1), 0);
    /* a million one-off keys (a botnet's addresses): each evicts the least
     * failed slot of its bucket, never the hammered key */
    for (uint64_t i = 0; i < 1000000; i++)
        bw_login_fail(t, bw_mix64(i + 1000), bw_mix64(i), 0);
    assert_int_equal(bw_login_table_bytes(t), bytes);
    assert_true(bw_login_get(t, hammered, 0).failures >= 49.9);
    bw_login_table_free(t);
}

static void test_forget(void **state)
{
    (void)state;
    bw_login_table *t = bw_login_table_new(64);
    bw_login_fail(t, 9, 1, 0);
    bw_login_fail(t, 0, 1, 0); /* a zero key is a key like the others */
    bw_login_forget(t, 9);
    assert_true(bw_login_get(t, 9, 0).failures == 0);
    assert_true(bw_login_get(t, 0, 0).failures > 0.9);
    bw_login_forget(t, 0);
    assert_true(bw_login_get(t, 0, 0).failures == 0);
    bw_login_forget(t, 77); /* unknown: nothing happens */
    bw_login_table_free(t);
}

static void test_classify(void **state)
{
    (void)state;
    bw_login_view v = { 0 };
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_CLEAN);
    v.account = (bw_login_count){ BW_LOGIN_BRUTE_FAILS - 1, 1 };
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_CLEAN); /* a user who forgot */
    v.account.failures = BW_LOGIN_BRUTE_FAILS;
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_BRUTE_FORCE);
    v = (bw_login_view){ 0 };
    v.password = (bw_login_count){ 25, BW_LOGIN_MANY_ACCOUNTS };
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_SPRAYING);
    v.fp = (bw_login_count){ 30, BW_LOGIN_MANY_ACCOUNTS };
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_STUFFING); /* the client first */
    v = (bw_login_view){ 0 };
    v.source = (bw_login_count){ 30, BW_LOGIN_MANY_ACCOUNTS - 1 };
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_CLEAN);
    v.source.accounts = BW_LOGIN_MANY_ACCOUNTS;
    assert_int_equal(bw_login_classify(&v), BW_LOGIN_STUFFING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failures_add_up_and_decay),
        cmocka_unit_test(test_a_count_that_died_out_starts_over),
        cmocka_unit_test(test_distinct_accounts_estimated),
        cmocka_unit_test(test_bounded_memory_keeps_what_matters),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
