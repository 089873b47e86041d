/*
 * test_pow.c - the proof-of-work challenge (shield/pow.c): the page's fields,
 * size and escaping, the check against a vector computed independently
 * (Python's hashlib), solve/check round trips, the answer's query parser
 * against open-redirect tricks, and, when node is installed, the page's own
 * script: its SHA-256 on known vectors and its nonce against the C solver.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shield/pow.h"

static char page[BW_POW_PAGE_MAX];

static size_t make_page(const char *challenge, unsigned bits, const char *ret)
{
    return bw_pow_page(page, sizeof page, bw_str_cstr(challenge), bits, bw_str_cstr(ret));
}

/* The content of the bulwark-pow meta in page, into out. */
static void meta_content(char *out, size_t cap)
{
    const char *m = strstr(page, "<meta name=\"bulwark-pow\" content=\"");
    assert_non_null(m);
    m += strlen("<meta name=\"bulwark-pow\" content=\"");
    const char *q = strchr(m, '"');
    assert_non_null(q);
    assert_true((size_t)(q - m) < cap);
    memcpy(out, m, (size_t)(q - m));
    out[q - m] = 0;
}

static size_t count_char(const char *s, char ch)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == ch;
    return n;
}

static void test_page_fields(void **state)
{
    (void)state;
    size_t n = make_page("dGVzdC1jaGFsbGVuZ2U", 16, "/page/7?x=1");
    assert_true(n > 0 && n < 8192);
    assert_int_equal(strlen(page), n);
    char meta[512];
    meta_content(meta, sizeof meta);
    assert_string_equal(meta, "dGVzdC1jaGFsbGVuZ2U 16 /page/7?x=1");
    /* self-contained: no external resource, no link anywhere */
    assert_null(strstr(page, "http"));
    assert_null(strstr(page, "src="));
    assert_null(strstr(page, "href="));
    assert_null(strstr(page, "crypto.subtle"));
    assert_non_null(strstr(page, "role=\"status\""));
    assert_non_null(strstr(page, "Checking your browser"));
    assert_non_null(strstr(page, "<noscript>"));
    assert_non_null(strstr(page, "enable JavaScript"));
    assert_non_null(strstr(page, "location.replace('" BW_POW_PATH "?c='"));
}

static void test_page_encodes_return(void **state)
{
    (void)state;
    make_page("abc", 8, "/");
    size_t quotes = count_char(page, '"'), lts = count_char(page, '<');
    size_t apos = count_char(page, '\'');
    make_page("abc", 8, "/a b?q=\"<x>\"&y='z'#f+%41");
    char meta[512];
    meta_content(meta, sizeof meta);
    assert_string_equal(meta, "abc 8 /a%20b?q=%22%3Cx%3E%22%26y=%27z%27%23f%2B%2541");
    /* nothing of the return path's own quotes or brackets reached the page */
    assert_int_equal(count_char(page, '"'), quotes);
    assert_int_equal(count_char(page, '<'), lts);
    assert_int_equal(count_char(page, '\''), apos);
    assert_null(strstr(page, "<x>"));
    /* and decoding gives it back byte for byte */
    char q[600], r[256];
    snprintf(q, sizeof q, "c=abc&n=1&r=%s", strrchr(meta, ' ') + 1);
    bw_str c, nonce;
    size_t rlen = 0;
    assert_true(bw_pow_parse_query(bw_str_cstr(q), &c, &nonce, r, sizeof r, &rlen));
    assert_string_equal(r, "/a b?q=\"<x>\"&y='z'#f+%41");
    assert_int_equal(rlen, strlen(r));
}

static void test_page_refuses_and_falls_back(void **state)
{
    (void)state;
    char meta[4096];
    static const char *const not_local[] = { "//evil.com/x", "/\\evil.com", "http://x/", "",
                                             "page", "/a\r\nSet-Cookie: x=1", "/\t/evil" };
    for (size_t i = 0; i < sizeof not_local / sizeof not_local[0]; i++) {
        assert_true(make_page("abc", 8, not_local[i]) > 0);
        meta_content(meta, sizeof meta);
        assert_string_equal(meta, "abc 8 /");
    }
    /* too long encoded: the query goes first, then the path */
    static char ret[4000];
    memset(ret, 'q', sizeof ret - 1);
    memcpy(ret, "/p?", 3);
    make_page("abc", 8, ret);
    meta_content(meta, sizeof meta);
    assert_string_equal(meta, "abc 8 /p");
    memset(ret, '"', sizeof ret - 1); /* encodes to three bytes each */
    ret[0] = '/';
    make_page("abc", 8, ret);
    meta_content(meta, sizeof meta);
    assert_string_equal(meta, "abc 8 /");
    /* the largest page still fits BW_POW_PAGE_MAX, under 8 KiB */
    static char ch[BW_POW_CHALLENGE_MAX + 2];
    memset(ch, 'A', BW_POW_CHALLENGE_MAX);
    memset(ret, 'x', BW_POW_RETURN_MAX);
    ret[0] = '/';
    ret[BW_POW_RETURN_MAX] = 0;
    size_t n = make_page(ch, 256, ret);
    assert_true(n > 0 && n < BW_POW_PAGE_MAX);
    assert_int_equal(bw_pow_page(page, n, bw_str_cstr(ch), 256, bw_str_cstr(ret)), 0);
    assert_int_equal(bw_pow_page(page, n + 1, bw_str_cstr(ch), 256, bw_str_cstr(ret)), n);
    /* challenges that cannot go into the page as they are */
    ch[BW_POW_CHALLENGE_MAX] = 'A';
    assert_int_equal(make_page(ch, 8, "/"), 0);
    assert_int_equal(make_page("", 8, "/"), 0);
    assert_int_equal(make_page("ab\"><script>", 8, "/"), 0);
    assert_int_equal(make_page("a b", 8, "/"), 0);
    assert_int_equal(make_page("abc", 257, "/"), 0);
}

/* From Python: the smallest n with sha256("bulwark-test-vector:n") starting
 * with 16 zero bits is 101262, whose digest 000009818eb9... has exactly 20. */
static void test_check_known_vector(void **state)
{
    (void)state;
    bw_str c = bw_str_cstr("bulwark-test-vector");
    assert_true(bw_pow_check(c, bw_str_cstr("101262"), 16));
    assert_true(bw_pow_check(c, bw_str_cstr("101262"), 20));
    assert_false(bw_pow_check(c, bw_str_cstr("101262"), 21));
    assert_false(bw_pow_check(bw_str_cstr("bulwark-test-vectoR"), bw_str_cstr("101262"), 16));
    char out[32];
    assert_int_equal(bw_pow_solve(c, 16, out, sizeof out), 6);
    assert_string_equal(out, "101262");
}

static void test_check_rejects_nonce_below_solution(void **state)
{
    (void)state;
    bw_str c = bw_str_cstr("bulwark-test-vector");
    char out[32];
    size_t n = bw_pow_solve(c, 8, out, sizeof out);
    assert_string_equal(out, "287"); /* Python agrees */
    assert_true(bw_pow_check(c, bw_str_make(out, n), 8));
    /* the smallest solution: 286 is not one */
    assert_false(bw_pow_check(c, bw_str_cstr("286"), 8));
    assert_false(bw_pow_check(c, bw_str_cstr("288"), 8));
}

static void test_check_rejects_malformed_nonces(void **state)
{
    (void)state;
    bw_str c = bw_str_cstr("abc");
    /* bits 0: any well-formed nonce passes, so a refusal is the format's */
    assert_true(bw_pow_check(c, bw_str_cstr("0"), 0));
    assert_true(bw_pow_check(c, bw_str_cstr("12345678901234567890"), 0));
    assert_false(bw_pow_check(c, bw_str_cstr("123456789012345678901"), 0)); /* 21 digits */
    assert_false(bw_pow_check(c, bw_str_cstr(""), 0));
    assert_false(bw_pow_check(c, bw_str_cstr("12a"), 0));
    assert_false(bw_pow_check(c, bw_str_cstr("-1"), 0));
    assert_false(bw_pow_check(c, bw_str_cstr("+1"), 0));
    assert_false(bw_pow_check(c, bw_str_cstr(" 1"), 0));
    assert_false(bw_pow_check(c, bw_str_make("1\0", 2), 0));
    assert_false(bw_pow_check(bw_str_cstr(""), bw_str_cstr("1"), 0));
    assert_false(bw_pow_check(bw_str_cstr("a:b"), bw_str_cstr("1"), 0));
    assert_false(bw_pow_check(c, bw_str_cstr("1"), 257));
}

static void test_solve_check_round_trip(void **state)
{
    (void)state;
    static const char *const chs[] = { "AAAA", "dGVzdC1jaGFsbGVuZ2U", "x_-y", "q" };
    static const unsigned bits[] = { 8, 16 };
    for (size_t i = 0; i < sizeof chs / sizeof chs[0]; i++)
        for (size_t b = 0; b < 2; b++) {
            char out[BW_POW_NONCE_MAX + 1];
            size_t n = bw_pow_solve(bw_str_cstr(chs[i]), bits[b], out, sizeof out);
            assert_true(n > 0 && n == strlen(out));
            assert_true(bw_pow_check(bw_str_cstr(chs[i]), bw_str_make(out, n), bits[b]));
        }
    char small[BW_POW_NONCE_MAX - 1];
    assert_int_equal(bw_pow_solve(bw_str_cstr("q"), 8, small, sizeof small), 0);
    char out[32];
    assert_int_equal(bw_pow_solve(bw_str_cstr("q"), 65, out, sizeof out), 0);
    assert_int_equal(bw_pow_solve(bw_str_cstr("q"), 0, out, sizeof out), 1);
    assert_string_equal(out, "0");
}

static bool parse(const char *q, bw_str *c, bw_str *n, char *r, size_t rcap)
{
    size_t rlen = 0;
    bool ok = bw_pow_parse_query(bw_str_cstr(q), c, n, r, rcap, &rlen);
    if (ok)
        assert_int_equal(rlen, strlen(r));
    return ok;
}

static void test_parse_query_any_order(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "c=Q1-_&n=42&r=/a?b=1",  "c=Q1-_&r=/a?b=1&n=42", "n=42&c=Q1-_&r=/a?b=1",
        "n=42&r=/a?b=1&c=Q1-_",  "r=/a?b=1&c=Q1-_&n=42", "r=/a?b=1&n=42&c=Q1-_",
        "x=1&c=Q1-_&&n=42&r=/a?b=1&utm=&z",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        bw_str c = { 0 }, n = { 0 };
        char r[64];
        assert_true(parse(qs[i], &c, &n, r, sizeof r));
        assert_true(bw_str_eq(c, BW_STR_LIT("Q1-_")));
        assert_true(bw_str_eq(n, BW_STR_LIT("42")));
        assert_string_equal(r, "/a?b=1");
    }
}

static void test_parse_query_missing_or_repeated(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "n=1&r=/",         "c=a&r=/",        "c=a&n=1",     "c=&n=1&r=/",
        "c=a&n=&r=/", "c=a&n=1&r=",      "c&n=1&r=/",      "cc=a&n=1&r=/", "c=a&n=1&r=/&c=b",
        "c=a&n=1&n=2&r=/", "c=a&n=1&r=/&r=/x", "c=a%3D&n=1&r=/", "c=a.b&n=1&r=/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bw_str c, n;
        char r[64];
        if (parse(bad[i], &c, &n, r, sizeof r))
            fail_msg("accepted '%s'", bad[i]);
    }
}

static void test_parse_query_refuses_open_redirects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "//evil.com",     "%2F%2Fevil.com",   "/\\evil.com",     "/%5Cevil.com", "/%5cevil",
        "http://x/",      "http%3A%2F%2Fx",   "evil.com",        "%0d%0a",       "/%0d%0aX:1",
        "/a%0aSet-Cookie", "/%09/evil.com",   "/a%00b",          "/a%7F",        "/%zz",
        "/%4",            "/%",               "%20/evil",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char q[128], r[64];
        bw_str c, n;
        snprintf(q, sizeof q, "c=a&n=1&r=%s", bad[i]);
        if (parse(q, &c, &n, r, sizeof r))
            fail_msg("accepted r=%s as '%s'", bad[i], r);
    }
}

static void test_parse_query_decodes(void **state)
{
    (void)state;
    bw_str c, n;
    char r[64];
    assert_true(parse("c=a&n=1&r=/a%20b%3fx%3D1%26y%2Bz+", &c, &n, r, sizeof r));
    assert_string_equal(r, "/a b?x=1&y+z+"); /* '+' is not a space here */
    assert_true(parse("c=a&n=1&r=/%C3%A9t%C3%A9", &c, &n, r, sizeof r));
    assert_string_equal(r, "/\xc3\xa9t\xc3\xa9");
    assert_true(parse("c=a&n=1&r=/", &c, &n, r, sizeof r));
    assert_string_equal(r, "/");
    /* rbuf must hold the path and its NUL */
    assert_true(parse("c=a&n=1&r=/abc", &c, &n, r, 5));
    assert_false(parse("c=a&n=1&r=/abc", &c, &n, r, 4));
    assert_false(parse("c=a&n=1&r=/abc", &c, &n, r, 0));
}

/* ------------------------------------------------------------------ */
/* the page's script, run by node                                      */
/* ------------------------------------------------------------------ */

/* Runs the page's script in a bare context: document and location are stubs
 * reading the page's meta and recording location.replace(). */
static const char driver_js[] =
    "const fs = require('fs'), vm = require('vm');\n"
    "const html = fs.readFileSync(process.argv[2], 'utf8');\n"
    "const script = html.match(/<script>([\\s\\S]*?)<\\/script>/)[1];\n"
    "const meta = html.match(/<meta name=\"bulwark-pow\" content=\"([^\"]*)\">/)[1];\n"
    "const hex = h => h.map(w => (w >>> 0).toString(16).padStart(8, '0')).join('');\n"
    "let status = {};\n"
    "const ctx = { document: { querySelector: s => s.includes('bulwark-pow') ? "
    "{ content: meta } : null, getElementById: () => status },\n"
    "  location: { replace: u => { console.log('url ' + u); console.log('status ' + "
    "status.textContent); } },\n"
    "  setTimeout: setTimeout, Date: Date, Math: Math };\n"
    "vm.createContext(ctx);\n"
    "vm.runInContext(script, ctx);\n"
    "console.log('sha0 ' + hex(ctx.sha256('')));\n"
    "console.log('sha3 ' + hex(ctx.sha256('abc')));\n"
    "console.log('sha56 ' + hex(ctx.sha256("
    "'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')));\n";

static bool write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fwrite(s, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void test_page_script_under_node(void **state)
{
    (void)state;
    if (system("command -v node >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    static const char challenge[] = "dGVzdC1jaGFsbGVuZ2U";
    static const char ret[] = "/search?q=a b&x=\"<1>\"";
    size_t plen = make_page(challenge, 12, ret);
    assert_true(plen > 0);
    char dir[] = "/tmp/test_pow.XXXXXX", page_path[64], js_path[64], cmd[256];
    assert_non_null(mkdtemp(dir));
    snprintf(page_path, sizeof page_path, "%s/page.html", dir);
    snprintf(js_path, sizeof js_path, "%s/driver.js", dir);
    assert_true(write_file(page_path, page, plen));
    assert_true(write_file(js_path, driver_js, sizeof driver_js - 1));
    snprintf(cmd, sizeof cmd, "node %s %s 2>&1", js_path, page_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    unlink(page_path);
    unlink(js_path);
    rmdir(dir);
    if (rc != 0)
        fail_msg("node failed (%d): %s", rc, out);
    /* FIPS 180-4 vectors: empty, "abc", and a two-block message */
    assert_non_null(strstr(out, "sha0 e3b0c44298fc1c149afbf4c8996fb924"
                                "27ae41e4649b934ca495991b7852b855\n"));
    assert_non_null(strstr(out, "sha3 ba7816bf8f01cfea414140de5dae2223"
                                "b00361a396177a9cb410ff61f20015ad\n"));
    assert_non_null(strstr(out, "sha56 248d6a61d20638b8e5c026930c3e6039"
                                "a33ce45964ff2167f6ecedd419db06c1\n"));
    /* the script's nonce is the C solver's, and its answer parses back */
    char nonce[32], want[256];
    size_t nl = bw_pow_solve(bw_str_cstr(challenge), 12, nonce, sizeof nonce);
    assert_true(nl > 0);
    char meta[256];
    meta_content(meta, sizeof meta);
    snprintf(want, sizeof want, "url " BW_POW_PATH "?c=%s&n=%s&r=%s\n", challenge, nonce,
             strrchr(meta, ' ') + 1);
    const char *url = strstr(out, "url ");
    assert_non_null(url);
    assert_memory_equal(url, want, strlen(want));
    assert_non_null(strstr(out, "status Done"));
    const char *q = strchr(url, '?') + 1;
    bw_str c, nv;
    char r[128];
    size_t rlen;
    assert_true(bw_pow_parse_query(bw_str_make(q, strcspn(q, "\n")), &c, &nv, r, sizeof r,
                                   &rlen));
    assert_string_equal(r, ret);
    assert_true(bw_pow_check(c, nv, 12));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_fields),
        cmocka_unit_test(test_page_encodes_return),
        cmocka_unit_test(test_page_refuses_and_falls_back),
        cmocka_unit_test(test_check_known_vector),
        cmocka_unit_test(test_check_rejects_nonce_below_solution),
        cmocka_unit_test(test_check_rejects_malformed_nonces),
        cmocka_unit_test(test_solve_check_round_trip),
        cmocka_unit_test(test_parse_query_any_order),
        cmocka_unit_test(test_parse_query_missing_or_repeated),
        cmocka_unit_test(test_parse_query_refuses_open_redirects),
        cmocka_unit_test(test_parse_query_decodes),
        cmocka_unit_test(test_page_script_under_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
