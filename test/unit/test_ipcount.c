/*
 * test_ipcount.c - per-address and per-prefix connection counts
 * (proxy/ipcount.c): caps, prefixes, and that backward-shift deletion keeps
 * every other key findable (checked against a plain array under random
 * operations).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/ipcount.h"

static bw_ipkey v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, bool prefix)
{
    uint8_t ip[4] = { a, b, c, d };
    return bw_ipkey_make(AF_INET, ip, prefix);
}

static void test_cap_per_address(void **state)
{
    (void)state;
    bw_ipcount t;
    assert_int_equal(bw_ipcount_init(&t, 100), 0);
    bw_ipkey a = v4(10, 0, 0, 1, false), b = v4(10, 0, 0, 2, false);
    for (int i = 0; i < 3; i++)
        assert_true(bw_ipcount_take(&t, &a, 3));
    assert_false(bw_ipcount_take(&t, &a, 3)); /* the 4th from a */
    assert_true(bw_ipcount_take(&t, &b, 3));  /* b is another address */
    assert_int_equal(bw_ipcount_get(&t, &a), 3);
    bw_ipcount_give(&t, &a);
    assert_true(bw_ipcount_take(&t, &a, 3)); /* one closed: room again */
    for (int i = 0; i < 3; i++)
        bw_ipcount_give(&t, &a);
    bw_ipcount_give(&t, &b);
    assert_int_equal(bw_ipcount_get(&t, &a), 0);
    assert_int_equal(t.used, 0); /* entries vanish at zero */
    bw_ipcount_free(&t);
}

static void test_prefix_keys(void **state)
{
    (void)state;
    bw_ipkey p1 = v4(192, 0, 2, 7, true), p2 = v4(192, 0, 2, 200, true), p3 = v4(192, 0, 3, 7, true);
    assert_memory_equal(&p1, &p2, sizeof(p1)); /* same /24 */
    assert_memory_not_equal(&p1, &p3, sizeof(p1));
    uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9 };
    uint8_t b6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8 };
    bw_ipkey k1 = bw_ipkey_make(AF_INET6, a6, true), k2 = bw_ipkey_make(AF_INET6, b6, true);
    assert_memory_equal(&k1, &k2, sizeof(k1)); /* same /64 */
    k1 = bw_ipkey_make(AF_INET6, a6, false);
    k2 = bw_ipkey_make(AF_INET6, b6, false);
    assert_memory_not_equal(&k1, &k2, sizeof(k1));
}

static void test_no_cap_and_full_table(void **state)
{
    (void)state;
    bw_ipcount t;
    assert_int_equal(bw_ipcount_init(&t, 4), 0);
    size_t capacity = t.mask / 2 + 1;
    for (size_t i = 0; i < capacity; i++) {
        bw_ipkey k = v4(10, 1, 0, (uint8_t)i, false);
        assert_true(bw_ipcount_take(&t, &k, 0));
        assert_true(bw_ipcount_take(&t, &k, 0)); /* cap 0: no cap */
    }
    bw_ipkey extra = v4(10, 2, 0, 0, false);
    assert_false(bw_ipcount_take(&t, &extra, 0)); /* refuses rather than grows */
    bw_ipcount_free(&t);
}

static void test_random_against_reference(void **state)
{
    (void)state;
    enum { KEYS = 600, OPS = 200000 };
    bw_ipcount t;
    assert_int_equal(bw_ipcount_init(&t, KEYS), 0);
    static uint32_t ref[KEYS];
    memset(ref, 0, sizeof(ref));
    srand(7);
    for (int op = 0; op < OPS; op++) {
        int i = rand() % KEYS;
        /* keys crowded into few prefixes so probe runs are long */
        bw_ipkey k = v4(10, (uint8_t)(i % 3), (uint8_t)(i / 256), (uint8_t)i, false);
        if (rand() % 2) {
            bool ok = bw_ipcount_take(&t, &k, 5);
            assert_int_equal(ok, ref[i] < 5);
            if (ok)
                ref[i]++;
        } else if (ref[i]) {
            bw_ipcount_give(&t, &k);
            ref[i]--;
        }
        if (op % 1000 == 0)
            for (int j = 0; j < KEYS; j++) {
                bw_ipkey kj = v4(10, (uint8_t)(j % 3), (uint8_t)(j / 256), (uint8_t)j, false);
                assert_int_equal(bw_ipcount_get(&t, &kj), ref[j]);
            }
    }
    size_t live = 0;
    for (int j = 0; j < KEYS; j++)
        live += ref[j] > 0;
    assert_int_equal(t.used, live);
    bw_ipcount_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_per_address),
        cmocka_unit_test(test_prefix_keys),
        cmocka_unit_test(test_no_cap_and_full_table),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
