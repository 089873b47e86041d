/*
 * test_token.c - clearance tokens (shield/token.c): the byte layout against
 * OpenSSL's own HMAC(), binding of site/prefix/fingerprint through the MAC,
 * expiry, tampering and malformed text, key rotation and secret-derived
 * keys, the per-thread MAC states (eviction, many threads), and the Cookie
 * header lookup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "shield/token.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const bw_token_claims claims = {
    .expiry_s = 1700000000u, .level = 2, .site = 7, .prefix = 0x0123456789abcdefULL, .fp = 0xfeedfacecafebeefULL,
};

static bw_token_keys fresh_keys(void)
{
    bw_token_keys k;
    assert_int_equal(bw_token_keys_init(&k), 0);
    return k;
}

static size_t sign(const bw_token_keys *k, const bw_token_claims *c, char out[BW_TOKEN_TEXT_MAX])
{
    size_t n = bw_token_sign(k, c, out, BW_TOKEN_TEXT_MAX);
    assert_int_equal(n, BW_TOKEN_TEXT_LEN);
    assert_int_equal(strlen(out), n);
    return n;
}

/* Verify tok for the claims' own site, prefix and fp at now_s. */
static int check(const bw_token_keys *k, const char *tok, uint32_t now_s, uint8_t *level)
{
    return bw_token_verify(k, bw_str_cstr(tok), now_s, claims.site, claims.prefix, claims.fp, level);
}

static void test_round_trip(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    for (uint8_t lvl = 1; lvl <= 2; lvl++) {
        bw_token_claims c = claims;
        c.level = lvl;
        sign(&k, &c, tok);
        assert_int_equal(strspn(tok, alphabet), BW_TOKEN_TEXT_LEN);
        uint8_t got = 0;
        assert_int_equal(check(&k, tok, c.expiry_s - 60, &got), BW_TOKEN_OK);
        assert_int_equal(got, lvl);
        assert_int_equal(check(&k, tok, c.expiry_s - 60, NULL), BW_TOKEN_OK);
    }
    assert_string_equal(bw_token_result_name(BW_TOKEN_BAD_MAC), "bad_mac");
}

/* The documented layout, rebuilt here with HMAC() and EVP_EncodeBlock. */
static void test_layout_matches_hmac(void **state)
{
    (void)state;
    bw_token_keys k;
    memset(&k, 0, sizeof(k));
    for (int i = 0; i < BW_TOKEN_KEY_LEN; i++)
        k.cur[i] = (uint8_t)(i * 13 + 5);
    k.cur_id = 0xa1b2c3d4u;
    uint8_t msg[30] = { 1, 0xa1, 0xb2, 0xc3, 0xd4, 0x65, 0x53, 0xf1, 0x00, 2, /* head */
                        0, 0, 0, 7,                                           /* site */
                        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,       /* prefix */
                        0xfe, 0xed, 0xfa, 0xce, 0xca, 0xfe, 0xbe, 0xef };     /* fp */
    uint8_t raw[26], mac[32];
    unsigned mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), k.cur, BW_TOKEN_KEY_LEN, msg, sizeof(msg), mac, &mac_len));
    memcpy(raw, msg, 10);
    memcpy(raw + 10, mac, 16);
    char want[40];
    assert_int_equal(EVP_EncodeBlock((unsigned char *)want, raw, sizeof(raw)), 36);
    want[35] = '\0'; /* drop the '=' */
    for (char *p = want; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    assert_string_equal(tok, want);
}

static void test_expiry(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    assert_int_equal(check(&k, tok, 0, NULL), BW_TOKEN_OK);
    assert_int_equal(check(&k, tok, claims.expiry_s, NULL), BW_TOKEN_OK); /* up to and including */
    assert_int_equal(check(&k, tok, claims.expiry_s + 1, NULL), BW_TOKEN_EXPIRED);
    assert_int_equal(check(&k, tok, UINT32_MAX, NULL), BW_TOKEN_EXPIRED);
    /* The MAC is checked first: EXPIRED only for a token that is ours. */
    assert_int_equal(bw_token_verify(&k, bw_str_cstr(tok), claims.expiry_s + 1, claims.site, claims.prefix + 1,
                                     claims.fp, NULL),
                     BW_TOKEN_BAD_MAC);
    uint8_t level = 99;
    check(&k, tok, claims.expiry_s + 1, &level);
    assert_int_equal(level, 99); /* untouched unless OK */
}

/* Each bit of prefix, fp and site is bound: flipping any one fails. */
static void test_other_prefix(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    for (int b = 0; b < 64; b++)
        assert_int_equal(bw_token_verify(&k, bw_str_cstr(tok), 0, claims.site, claims.prefix ^ (1ULL << b),
                                         claims.fp, NULL),
                         BW_TOKEN_BAD_MAC);
}

static void test_other_fp(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    for (int b = 0; b < 64; b++)
        assert_int_equal(bw_token_verify(&k, bw_str_cstr(tok), 0, claims.site, claims.prefix,
                                         claims.fp ^ (1ULL << b), NULL),
                         BW_TOKEN_BAD_MAC);
}

static void test_other_site(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    for (int b = 0; b < 32; b++)
        assert_int_equal(bw_token_verify(&k, bw_str_cstr(tok), 0, claims.site ^ (1u << b), claims.prefix,
                                         claims.fp, NULL),
                         BW_TOKEN_BAD_MAC);
}

/* Any one character replaced by any other: never OK, including changes
 * that touch only the unused low bits of the last character. */
static void test_every_single_char_tamper(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    for (size_t i = 0; i < BW_TOKEN_TEXT_LEN; i++) {
        char orig = tok[i];
        for (int ch = 0; ch < 256; ch++) {
            if (ch == orig)
                continue;
            tok[i] = (char)ch;
            int r = bw_token_verify(&k, bw_str_make(tok, BW_TOKEN_TEXT_LEN), 0, claims.site, claims.prefix,
                                    claims.fp, NULL);
            assert_int_not_equal(r, BW_TOKEN_OK);
            if (!strchr(alphabet, ch))
                assert_int_equal(r, BW_TOKEN_MALFORMED);
        }
        tok[i] = orig;
    }
    assert_int_equal(check(&k, tok, 0, NULL), BW_TOKEN_OK);
}

static void test_malformed(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    for (size_t n = 0; n < BW_TOKEN_TEXT_LEN; n++) /* every truncation, empty included */
        assert_int_equal(bw_token_verify(&k, bw_str_make(tok, n), 0, claims.site, claims.prefix, claims.fp, NULL),
                         BW_TOKEN_MALFORMED);
    assert_int_equal(bw_token_verify(&k, BW_STR_NULL, 0, claims.site, claims.prefix, claims.fp, NULL),
                     BW_TOKEN_MALFORMED);
    char longer[BW_TOKEN_TEXT_MAX + 8];
    const char *tails[] = { "A", "=", "AAAA", " " };
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        strcpy(longer, tok);
        strcat(longer, tails[i]);
        assert_int_equal(check(&k, longer, 0, NULL), BW_TOKEN_MALFORMED);
    }
    assert_int_equal(check(&k, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", 0, NULL), BW_TOKEN_MALFORMED);
    assert_int_equal(check(&k, "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", 0, NULL), BW_TOKEN_MALFORMED);
    /* Well-formed base64url but version 5 (first character 'A' -> 'B'). */
    assert_int_equal(tok[0], 'A');
    tok[0] = 'B';
    assert_int_equal(check(&k, tok, 0, NULL), BW_TOKEN_MALFORMED);
}

static void test_unknown_key_and_wrong_key(void **state)
{
    (void)state;
    bw_token_keys a = fresh_keys(), b = fresh_keys();
    b.cur_id = a.cur_id + 7;
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&a, &claims, tok);
    assert_int_equal(check(&b, tok, 0, NULL), BW_TOKEN_UNKNOWN_KEY);
    b.cur_id = a.cur_id; /* same id, other key: a forgery */
    assert_int_equal(check(&b, tok, 0, NULL), BW_TOKEN_BAD_MAC);
}

static void test_rotation(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    uint32_t id0 = k.cur_id;
    char t0[BW_TOKEN_TEXT_MAX], t1[BW_TOKEN_TEXT_MAX], t2[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, t0);
    assert_int_equal(bw_token_keys_rotate(&k), 0);
    assert_int_equal(k.cur_id, id0 + 1);
    assert_int_equal(k.prev_id, id0);
    assert_true(k.has_prev);
    assert_int_equal(check(&k, t0, 0, NULL), BW_TOKEN_OK); /* previous key still verifies */
    sign(&k, &claims, t1);
    assert_string_not_equal(t0, t1);
    assert_int_equal(check(&k, t1, 0, NULL), BW_TOKEN_OK);
    assert_int_equal(bw_token_keys_rotate(&k), 0);
    assert_int_equal(check(&k, t0, 0, NULL), BW_TOKEN_UNKNOWN_KEY); /* two rotations: gone */
    assert_int_equal(check(&k, t1, 0, NULL), BW_TOKEN_OK);
    sign(&k, &claims, t2);
    assert_int_equal(check(&k, t2, 0, NULL), BW_TOKEN_OK);
}

static void test_keys_from_secret(void **state)
{
    (void)state;
    static const char secret[] = "correct horse battery staple";
    bw_token_keys a, b, c;
    assert_int_equal(bw_token_keys_from_secret(&a, secret, sizeof(secret) - 1), 0);
    assert_int_equal(bw_token_keys_from_secret(&b, secret, sizeof(secret) - 1), 0);
    assert_int_equal(bw_token_keys_from_secret(&c, secret, sizeof(secret) - 2), 0);
    assert_false(a.has_prev);
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&a, &claims, tok);
    assert_int_equal(check(&b, tok, 0, NULL), BW_TOKEN_OK); /* another process, same secret */
    assert_int_not_equal(a.cur_id, c.cur_id); /* the id comes from the secret too */
    assert_int_equal(check(&c, tok, 0, NULL), BW_TOKEN_UNKNOWN_KEY);
    assert_memory_not_equal(a.cur, c.cur, BW_TOKEN_KEY_LEN);
    c.cur_id = a.cur_id;
    assert_int_equal(check(&c, tok, 0, NULL), BW_TOKEN_BAD_MAC);

    uint8_t big[1000];
    memset(big, 0xab, sizeof(big));
    assert_int_equal(bw_token_keys_from_secret(&c, big, sizeof(big)), 0); /* any length */
    assert_int_equal(bw_token_keys_from_secret(&c, "", 0), 0);
    sign(&c, &claims, tok);
    assert_int_equal(check(&c, tok, 0, NULL), BW_TOKEN_OK);

    bw_token_keys_wipe(&a);
    bw_token_keys zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&a, &zero, sizeof(a));
}

static void test_sign_cap(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char out[BW_TOKEN_TEXT_LEN + 1];
    memset(out, 'x', sizeof(out));
    assert_int_equal(bw_token_sign(&k, &claims, out, BW_TOKEN_TEXT_LEN), 0); /* no room for NUL */
    assert_int_equal(out[0], '\0');
    assert_int_equal(bw_token_sign(&k, &claims, out, sizeof(out)), BW_TOKEN_TEXT_LEN);
    assert_int_equal(out[BW_TOKEN_TEXT_LEN], '\0');
}

/* More keys than a thread keeps MAC states for, used in turn: states are
 * evicted and rebuilt, never mixed up. */
static void test_many_keys_one_thread(void **state)
{
    (void)state;
    enum { N = 9 };
    bw_token_keys k[N];
    char tok[N][BW_TOKEN_TEXT_MAX];
    for (int i = 0; i < N; i++) {
        k[i] = fresh_keys();
        k[i].cur_id = 1; /* same id everywhere: only the key tells them apart */
        sign(&k[i], &claims, tok[i]);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                assert_int_equal(check(&k[j], tok[i], 0, NULL), i == j ? BW_TOKEN_OK : BW_TOKEN_BAD_MAC);
}

/* Many threads share one keys struct, as workers do. */
enum { THREADS = 4, ITER = 2000 };

typedef struct worker_arg {
    const bw_token_keys *k;
    const char *tok;
    int ok, bad, signed_ok;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < ITER; i++) {
        a->ok += check(a->k, a->tok, 0, NULL) == BW_TOKEN_OK;
        a->bad += bw_token_verify(a->k, bw_str_cstr(a->tok), 0, claims.site, claims.prefix + 1, claims.fp, NULL) ==
                  BW_TOKEN_BAD_MAC;
        bw_token_claims c = claims;
        c.fp = (uint64_t)i;
        char mine[BW_TOKEN_TEXT_MAX];
        a->signed_ok += bw_token_sign(a->k, &c, mine, sizeof(mine)) == BW_TOKEN_TEXT_LEN &&
                        bw_token_verify(a->k, bw_str_cstr(mine), 0, c.site, c.prefix, c.fp, NULL) == BW_TOKEN_OK;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX];
    sign(&k, &claims, tok);
    assert_int_equal(bw_token_keys_rotate(&k), 0); /* tok now verifies with the previous key */
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){ .k = &k, .tok = tok };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].ok, ITER);
        assert_int_equal(args[i].bad, ITER);
        assert_int_equal(args[i].signed_ok, ITER);
    }
}

static bool find(const char *header, const char *name, const char *want)
{
    bw_str v = { "unset", 5 };
    bool found = bw_token_cookie_find(bw_str_cstr(header), name, &v);
    if (!want)
        return !found;
    return found && bw_str_eq(v, bw_str_cstr(want));
}

static void test_cookie_find(void **state)
{
    (void)state;
    const char *n = BW_TOKEN_COOKIE;
    assert_true(find("__bw_clr=xyz; a=1; b=2", n, "xyz"));   /* first */
    assert_true(find("a=1; __bw_clr=xyz; b=2", n, "xyz"));   /* middle */
    assert_true(find("a=1; b=2; __bw_clr=xyz", n, "xyz"));   /* last */
    assert_true(find("__bw_clr=xyz", n, "xyz"));             /* only */
    assert_true(find("a=1; b=2", n, NULL));                  /* absent */
    assert_true(find("", n, NULL));                          /* empty header */
    assert_true(find("x__bw_clr=evil; b=2", n, NULL));       /* longer name ending in ours */
    assert_true(find("__bw_clrx=evil", n, NULL));            /* longer name starting with ours */
    assert_true(find("a=__bw_clr=evil", n, NULL));           /* our name inside a value */
    assert_true(find("x__bw_clr=evil; __bw_clr=good", n, "good"));
    assert_true(find("__BW_CLR=evil", n, NULL));             /* names are case-sensitive */
    assert_true(find("  a=1 ;\t__bw_clr = xyz  ;b=2", n, "xyz")); /* blanks */
    assert_true(find("a=1;__bw_clr=xyz;b=2", n, "xyz"));     /* no blanks */
    assert_true(find("a=1; __bw_clr=; b=2", n, ""));         /* empty value */
    assert_true(find("a=1; __bw_clr=", n, ""));              /* empty value, last */
    assert_true(find("__bw_clr=\"xyz\"", n, "xyz"));         /* quoted */
    assert_true(find("__bw_clr=first; __bw_clr=second", n, "first"));
    assert_true(find("__bw_clr; a=1", n, NULL));             /* no '=': not a value */
    assert_true(find(";;; ; a=1;", n, NULL));
    assert_true(find("a=1; __bw_clr=abc=def", n, "abc=def")); /* value keeps later '=' */
    bw_str v;
    assert_false(bw_token_cookie_find(BW_STR_NULL, n, &v));
    /* The value is a slice of the header, not a copy. */
    const char *h = "a=1; __bw_clr=xyz";
    assert_true(bw_token_cookie_find(bw_str_cstr(h), n, &v));
    assert_ptr_equal(v.p, h + 14);
}

/* A token from the Cookie header, as the shield will read it. */
static void test_cookie_then_verify(void **state)
{
    (void)state;
    bw_token_keys k = fresh_keys();
    char tok[BW_TOKEN_TEXT_MAX], header[128];
    sign(&k, &claims, tok);
    strcpy(header, "theme=dark; " BW_TOKEN_COOKIE "=");
    strcat(header, tok);
    strcat(header, "; lang=en");
    bw_str v;
    assert_true(bw_token_cookie_find(bw_str_cstr(header), BW_TOKEN_COOKIE, &v));
    uint8_t level = 0;
    assert_int_equal(bw_token_verify(&k, v, 0, claims.site, claims.prefix, claims.fp, &level), BW_TOKEN_OK);
    assert_int_equal(level, claims.level);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_layout_matches_hmac),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_other_prefix),
        cmocka_unit_test(test_other_fp),
        cmocka_unit_test(test_other_site),
        cmocka_unit_test(test_every_single_char_tamper),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unknown_key_and_wrong_key),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_keys_from_secret),
        cmocka_unit_test(test_sign_cap),
        cmocka_unit_test(test_many_keys_one_thread),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_cookie_then_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
