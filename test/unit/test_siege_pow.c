/*
 * test_siege_pow.c - how bulwark-siege's users read a proof-of-work page
 * (tools/siege/powmeta.c): the meta in bulwark's own page and in variants,
 * malformed contents refused, and the whole way round: page, meta, solve,
 * answer, and the shield's parser and check accepting that answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "shield/pow.h"
#include "siege/powmeta.h"

static bool parse(const char *body, sg_pow_meta *m)
{
    return sg_pow_meta_parse(body, strlen(body), m);
}

static void test_reads_bulwarks_page(void **state)
{
    (void)state;
    static char page[BW_POW_PAGE_MAX];
    size_t n = bw_pow_page(page, sizeof page, BW_STR_LIT("Zm9v-_bar"), 14,
                           BW_STR_LIT("/page/3?q=a b"));
    assert_true(n > 0);
    sg_pow_meta m;
    assert_true(sg_pow_meta_parse(page, n, &m));
    assert_true(bw_str_eq(m.challenge, BW_STR_LIT("Zm9v-_bar")));
    assert_int_equal(m.bits, 14);
    assert_true(bw_str_eq(m.ret, BW_STR_LIT("/page/3?q=a%20b")));
    /* cut before the meta's end: nothing to read */
    const char *cut = strstr(page, " 14 ");
    assert_non_null(cut);
    assert_false(sg_pow_meta_parse(page, (size_t)(cut - page) + 6, &m));
}

static void test_reads_variants(void **state)
{
    (void)state;
    sg_pow_meta m;
    /* the script's own selector comes first and is not a tag */
    assert_true(parse("<script>q('meta[name=\"bulwark-pow\"]')</script>\n"
                      "<meta name=\"bulwark-pow\" content=\"abc 8 /x\">", &m));
    assert_true(bw_str_eq(m.challenge, BW_STR_LIT("abc")) && m.bits == 8);
    assert_true(bw_str_eq(m.ret, BW_STR_LIT("/x")));
    assert_true(parse("<META content='A_b 0 /' NAME='bulwark-pow'/>", &m));
    assert_true(bw_str_eq(m.challenge, BW_STR_LIT("A_b")) && m.bits == 0);
    assert_true(parse("<meta name=\"bulwark-pow\" id=x content=\"c= 256 /%22?a=b\">", &m));
    assert_true(m.bits == 256 && bw_str_eq(m.ret, BW_STR_LIT("/%22?a=b")));
}

static void test_refuses_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "<p>bulwark-pow abc 8 /</p>",
        "<meta name=\"bulwark-pow\">",
        "<meta name=\"bulwark-pow\" content=\"abc 8 /",   /* no closing quote or '>' */
        "<meta name=\"bulwark-pow\" content=\"abc 8\">",
        "<meta name=\"bulwark-pow\" content=\"abc  8 /\">", /* split(' ') gives 4 */
        "<meta name=\"bulwark-pow\" content=\"abc 8 / x\">",
        "<meta name=\"bulwark-pow\" content=\" abc 8 /\">",
        "<meta name=\"bulwark-pow\" content=\"abc 257 /\">",
        "<meta name=\"bulwark-pow\" content=\"abc 1000 /\">",
        "<meta name=\"bulwark-pow\" content=\"abc 8a /\">",
        "<meta name=\"bulwark-pow\" content=\"abc  /\">",
        "<meta name=\"bulwark-pow\" content=\"a<b 8 /\">",
        "<meta name=\"bulwark-pow\" content=\"abc 8 x/\">",
        "<meta name=\"bulwark-pow\" content=\"abc 8 \">",
        "<meta name=\"bulwark-pow\" content=\"abc 8 /\x01\">",
        "<meta name=\"bulwark-powx\" content=\"abc 8 /\">",
        "<meta name=\"x-bulwark-pow\" content=\"abc 8 /\">",
        "<link name=\"bulwark-pow\" content=\"abc 8 /\">",
        "<meta name=bulwark-pow content=\"abc 8 /\">",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sg_pow_meta m;
        if (parse(bad[i], &m))
            fail_msg("accepted: %s", bad[i]);
    }
    char long_ch[BW_POW_CHALLENGE_MAX + 64];
    int n = snprintf(long_ch, sizeof long_ch, "<meta name=\"bulwark-pow\" content=\"");
    memset(long_ch + n, 'a', BW_POW_CHALLENGE_MAX + 1);
    strcpy(long_ch + n + BW_POW_CHALLENGE_MAX + 1, " 8 /\">");
    sg_pow_meta m;
    assert_false(parse(long_ch, &m));
}

static void test_answer_path(void **state)
{
    (void)state;
    sg_pow_meta m = { BW_STR_LIT("abc"), 8, BW_STR_LIT("/a%20b?x=1") };
    char out[64];
    size_t n = sg_pow_answer_path(&m, "287", out, sizeof out);
    assert_string_equal(out, "/.bulwark/pow?c=abc&n=287&r=/a%20b?x=1");
    assert_int_equal(n, strlen(out));
    assert_int_equal(sg_pow_answer_path(&m, "287", out, n), 0);
    assert_int_equal(sg_pow_answer_path(&m, "287", out, n + 1), n);
}

/* What a siege user sends is what the shield accepts, for a hostile but
 * local return path. */
static void test_round_trip_with_the_shield(void **state)
{
    (void)state;
    static const char ret[] = "/search?q=\"<b>\"&lang=en#top";
    static char page[BW_POW_PAGE_MAX];
    size_t n = bw_pow_page(page, sizeof page, BW_STR_LIT("dGVzdC1jaGFsbGVuZ2U"), 10,
                           bw_str_cstr(ret));
    sg_pow_meta m;
    assert_true(sg_pow_meta_parse(page, n, &m));
    char nonce[BW_POW_NONCE_MAX + 1], path[512];
    assert_true(bw_pow_solve(m.challenge, m.bits, nonce, sizeof nonce) > 0);
    assert_true(sg_pow_answer_path(&m, nonce, path, sizeof path) > 0);
    assert_memory_equal(path, BW_POW_PATH "?", sizeof BW_POW_PATH);
    bw_str c, nv;
    char r[256];
    size_t rlen = 0;
    assert_true(bw_pow_parse_query(bw_str_cstr(path + sizeof BW_POW_PATH), &c, &nv, r,
                                   sizeof r, &rlen));
    assert_string_equal(r, ret);
    assert_true(bw_pow_check(c, nv, 10));
    assert_true(bw_str_eq(c, BW_STR_LIT("dGVzdC1jaGFsbGVuZ2U")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_bulwarks_page),
        cmocka_unit_test(test_reads_variants),
        cmocka_unit_test(test_refuses_malformed),
        cmocka_unit_test(test_answer_path),
        cmocka_unit_test(test_round_trip_with_the_shield),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
