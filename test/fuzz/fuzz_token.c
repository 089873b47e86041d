/*
 * fuzz_token.c - libFuzzer harness for the shield's clearance tokens,
 * bw_token_sign(), bw_token_verify() and bw_token_cookie_find()
 * (src/shield/token.h).
 *
 * The keys are fixed, from bw_token_keys_from_secret(): K, another key K2,
 * and the set a rotation from K to K2 leaves (K2 current, K previous).
 * Claims C are read from the input's first 25 bytes and a reference token
 * is signed for them with K; C0 are fixed claims.  The input is then the
 * text of a token (and a cookie's value) and a Cookie header.
 *
 * Checked besides memory safety, leaks and UB:
 *   - the reference for C is 35 base64url characters carrying version 1,
 *     K's id, C's expiry and level and the MAC token.h defines (computed
 *     here with OpenSSL's HMAC()); it verifies (with its level) under K and
 *     under the rotated set, up to and including its expiry; it is EXPIRED
 *     one second later, BAD_MAC for another site, prefix or fingerprint,
 *     UNKNOWN_KEY under K2 alone; sign refuses a buffer one byte short; the
 *     same for a key made from the input, which keeps token.c's per-thread
 *     MAC cache busy;
 *   - the input as a token text, against C's and C0's site, prefix and
 *     fingerprint, under K and under the rotated set, at several times:
 *     bw_token_verify() answers what the format says, i.e. MALFORMED exactly
 *     when the text is not the one base64url encoding (decoded here, a bit
 *     at a time) of 26 bytes starting with version 1, else UNKNOWN_KEY
 *     exactly when the key id is not the set's, else OK or EXPIRED (by the
 *     expiry it carries) exactly when the text is byte for byte what that
 *     key signs for the expiry and level it carries, else BAD_MAC.  So
 *     random input never verifies, nor does any edit of a real token (the
 *     seed corpus holds C0's token, so the fuzzer mutates a real one);
 *   - the input as a Cookie header: bw_token_cookie_find()'s value lies
 *     inside the header, holds no ';', and is the one a plain reading of the
 *     header gives (the first pair so named, blanks and a pair of quotes
 *     taken off);
 *   - the reference for C placed among the input's cookies (plainly, with
 *     blanks, quoted) is found, unless the input names the cookie first, and
 *     verifies.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "shield/token.h"

#define TOK_RAW 26

static const char tok_secret[] = "fuzz: the fixed challenge_key of this harness";
static const char tok_secret2[] = "fuzz: the key it rotates to";

/* C0, whose token is in the seed corpus (test/fuzz/corpus/token/ref0). */
static const bw_token_claims tok_c0 = {
    .expiry_s = 2000000000u, .level = 1, .site = 7, .prefix = 0x0102030405060708ull,
    .fp = 0x1122334455667788ull,
};

typedef struct tok_state {
    bool ready;
    bw_token_keys k, k2, rot; /* rot: k2 current, k previous */
} tok_state;

static tok_state tok_st;

static const tok_state *tok_setup(void)
{
    tok_state *s = &tok_st;
    if (s->ready)
        return s;
    FUZZ_CHECK(bw_token_keys_from_secret(&s->k, tok_secret, sizeof(tok_secret) - 1) == 0);
    FUZZ_CHECK(bw_token_keys_from_secret(&s->k2, tok_secret2, sizeof(tok_secret2) - 1) == 0);
    FUZZ_CHECK(s->k.cur_id != s->k2.cur_id && !s->k.has_prev);
    s->rot = s->k2;
    memcpy(s->rot.prev, s->k.cur, sizeof(s->rot.prev));
    s->rot.prev_id = s->k.cur_id;
    s->rot.has_prev = true;
    s->ready = true;
    return s;
}

static uint64_t tok_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Claims from the first 25 bytes of the input (zeros beyond its end). */
static bw_token_claims tok_claims(const uint8_t *data, size_t len)
{
    uint8_t b[25] = {0};
    memcpy(b, data, len < sizeof(b) ? len : sizeof(b));
    bw_token_claims c = {
        .expiry_s = (uint32_t)tok_be(b, 4), .level = b[4], .site = (uint32_t)tok_be(b + 5, 4),
        .prefix = tok_be(b + 9, 8), .fp = tok_be(b + 17, 8),
    };
    return c;
}

static int tok_verify(const bw_token_keys *k, bw_str t, uint32_t now, const bw_token_claims *c,
                      uint8_t *level)
{
    int r = bw_token_verify(k, t, now, c->site, c->prefix, c->fp, level);
    FUZZ_CHECK(r >= BW_TOKEN_OK && r <= BW_TOKEN_ERROR);
    FUZZ_CHECK(r != BW_TOKEN_ERROR); /* no out-of-memory here */
    FUZZ_CHECK(strcmp(bw_token_result_name(r), "error") != 0);
    return r;
}

/* ---- a base64url decoder of our own, a bit at a time ------------------------------ */

static int tok_sextet(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '-' ? 62 : ch == '_' ? 63 : -1;
}

/* The 26 bytes t encodes, if it is their (only) unpadded base64url text:
 * 35 characters, the last one's 2 unused bits zero. */
static bool tok_decode(bw_str t, uint8_t raw[TOK_RAW])
{
    if (t.len != BW_TOKEN_TEXT_LEN)
        return false;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < t.len; i++) {
        int v = tok_sextet((unsigned char)t.p[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == TOK_RAW && acc == 0;
}

static void tok_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The MAC as token.h defines it, with OpenSSL's one-shot HMAC() (token.c
 * keeps per-thread precomputed states instead): HMAC-SHA256 over the 10
 * head bytes, site, prefix and fingerprint, truncated to 16 bytes. */
static void tok_check_mac(const uint8_t key[BW_TOKEN_KEY_LEN], const uint8_t raw[TOK_RAW],
                          const bw_token_claims *c)
{
    uint8_t msg[10 + 4 + 8 + 8], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    memcpy(msg, raw, 10);
    tok_put(msg + 10, c->site, 4);
    tok_put(msg + 14, c->prefix, 8);
    tok_put(msg + 22, c->fp, 8);
    FUZZ_CHECK(HMAC(EVP_sha256(), key, BW_TOKEN_KEY_LEN, msg, sizeof(msg), md, &mdlen) != NULL);
    FUZZ_CHECK(mdlen == 32 && memcmp(md, raw + 10, 16) == 0);
}

/* What bw_token_verify(k, t, now, c's site, prefix, fp) must answer, from
 * the format alone: a text that decodes, with version 1 and a key id of the
 * set, is authentic exactly when it is the token that key signs for the
 * expiry and level it carries and c's site, prefix and fingerprint. */
static int tok_expected(const bw_token_keys *k, bw_str t, uint32_t now, const bw_token_claims *c)
{
    uint8_t raw[TOK_RAW];
    if (!tok_decode(t, raw) || raw[0] != 1)
        return BW_TOKEN_MALFORMED;
    uint32_t id = (uint32_t)tok_be(raw + 1, 4);
    bw_token_keys one;
    memset(&one, 0, sizeof(one));
    if (id == k->cur_id) {
        memcpy(one.cur, k->cur, sizeof(one.cur));
    } else if (k->has_prev && id == k->prev_id) {
        memcpy(one.cur, k->prev, sizeof(one.cur));
    } else {
        return BW_TOKEN_UNKNOWN_KEY;
    }
    one.cur_id = id;
    bw_token_claims as = *c;
    as.expiry_s = (uint32_t)tok_be(raw + 5, 4);
    as.level = raw[9];
    char want[BW_TOKEN_TEXT_MAX];
    FUZZ_CHECK(bw_token_sign(&one, &as, want, sizeof(want)) == BW_TOKEN_TEXT_LEN);
    bw_token_keys_wipe(&one);
    if (memcmp(want, t.p, BW_TOKEN_TEXT_LEN) != 0)
        return BW_TOKEN_BAD_MAC;
    return now <= as.expiry_s ? BW_TOKEN_OK : BW_TOKEN_EXPIRED;
}

/* The text t against c's site, prefix and fingerprint under k, at a few
 * times around c's expiry and the one t carries. */
static void tok_check_text(const bw_token_keys *k, bw_str t, const bw_token_claims *c)
{
    uint32_t nows[5] = {0, c->expiry_s, UINT32_MAX, 0, 0};
    size_t n = 3;
    uint8_t raw[TOK_RAW];
    if (tok_decode(t, raw)) {
        uint32_t exp = (uint32_t)tok_be(raw + 5, 4);
        nows[n++] = exp;
        nows[n++] = exp + 1; /* wraps to 0 for the last second: fine */
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t level = 0;
        int r = tok_verify(k, t, nows[i], c, &level);
        FUZZ_CHECK(r == tok_expected(k, t, nows[i], c));
        if (r == BW_TOKEN_OK)
            FUZZ_CHECK(tok_decode(t, raw) && level == raw[9]);
    }
}

/* The reference for c: well-formed, verifies where it should, nowhere else. */
static void tok_check_ref(const tok_state *s, const bw_token_claims *c, const char *ref)
{
    FUZZ_CHECK(strlen(ref) == BW_TOKEN_TEXT_LEN);
    for (size_t i = 0; i < BW_TOKEN_TEXT_LEN; i++)
        FUZZ_CHECK(tok_sextet((unsigned char)ref[i]) >= 0);
    bw_str t = bw_str_make(ref, BW_TOKEN_TEXT_LEN);
    uint8_t raw[TOK_RAW];
    FUZZ_CHECK(tok_decode(t, raw) && raw[0] == 1 && tok_be(raw + 1, 4) == s->k.cur_id);
    FUZZ_CHECK(tok_be(raw + 5, 4) == c->expiry_s && raw[9] == c->level);
    tok_check_mac(s->k.cur, raw, c);

    uint8_t level = 0;
    FUZZ_CHECK(tok_verify(&s->k, t, c->expiry_s, c, &level) == BW_TOKEN_OK && level == c->level);
    level = 0;
    FUZZ_CHECK(tok_verify(&s->rot, t, 0, c, &level) == BW_TOKEN_OK && level == c->level);
    if (c->expiry_s < UINT32_MAX) {
        FUZZ_CHECK(tok_verify(&s->k, t, c->expiry_s + 1, c, NULL) == BW_TOKEN_EXPIRED);
        FUZZ_CHECK(tok_verify(&s->rot, t, UINT32_MAX, c, NULL) == BW_TOKEN_EXPIRED);
    }
    FUZZ_CHECK(tok_verify(&s->k2, t, 0, c, NULL) == BW_TOKEN_UNKNOWN_KEY);
    bw_token_claims o = *c;
    o.site ^= 1;
    FUZZ_CHECK(tok_verify(&s->k, t, 0, &o, NULL) == BW_TOKEN_BAD_MAC);
    o = *c;
    o.prefix ^= 1ull << 63;
    FUZZ_CHECK(tok_verify(&s->k, t, 0, &o, NULL) == BW_TOKEN_BAD_MAC);
    o = *c;
    o.fp ^= 0x100;
    FUZZ_CHECK(tok_verify(&s->rot, t, 0, &o, NULL) == BW_TOKEN_BAD_MAC);

    /* Signed with the rotated set: its own key id, unknown to K alone. */
    char other[BW_TOKEN_TEXT_MAX];
    FUZZ_CHECK(bw_token_sign(&s->rot, c, other, sizeof(other)) == BW_TOKEN_TEXT_LEN);
    FUZZ_CHECK(strcmp(other, ref) != 0);
    FUZZ_CHECK(tok_verify(&s->rot, bw_str_cstr(other), 0, c, NULL) == BW_TOKEN_OK);
    FUZZ_CHECK(tok_verify(&s->k, bw_str_cstr(other), 0, c, NULL) == BW_TOKEN_UNKNOWN_KEY);
    FUZZ_CHECK(tok_decode(bw_str_cstr(other), raw) && tok_be(raw + 1, 4) == s->rot.cur_id);
    tok_check_mac(s->rot.cur, raw, c);

    char shortbuf[BW_TOKEN_TEXT_LEN] = "x";
    FUZZ_CHECK(bw_token_sign(&s->k, c, shortbuf, sizeof(shortbuf)) == 0 && shortbuf[0] == '\0');
}

/* ---- Cookie header --------------------------------------------------------------- */

static bool tok_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of cookie name in h as the header comment describes it, read
 * pair by pair: NULL-p slice if absent. */
static bw_str tok_cookie_plain(bw_str h, const char *name)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i <= h.len && h.len) {
        size_t e = i;
        while (e < h.len && h.p[e] != ';')
            e++;
        size_t eq = i;
        while (eq < e && h.p[eq] != '=')
            eq++;
        if (eq < e) {
            size_t a = i, b = eq;
            while (a < b && tok_blank(h.p[a]))
                a++;
            while (b > a && tok_blank(h.p[b - 1]))
                b--;
            if (b - a == nl && memcmp(h.p + a, name, nl) == 0) {
                size_t va = eq + 1, vb = e;
                while (va < vb && tok_blank(h.p[va]))
                    va++;
                while (vb > va && tok_blank(h.p[vb - 1]))
                    vb--;
                if (vb - va >= 2 && h.p[va] == '"' && h.p[vb - 1] == '"')
                    va++, vb--;
                return bw_str_make(h.p + va, vb - va);
            }
        }
        i = e + 1;
    }
    return BW_STR_NULL;
}

/* Looks name up in h (an exact heap block); returns the value or a NULL-p
 * slice. */
static bw_str tok_check_cookie(bw_str h, const char *name)
{
    bw_str v = BW_STR_NULL;
    bool found = bw_token_cookie_find(h, name, &v);
    bw_str want = tok_cookie_plain(h, name);
    FUZZ_CHECK(found == (want.p != NULL));
    if (!found)
        return BW_STR_NULL;
    FUZZ_CHECK(v.p != NULL && fuzz_inside(v, h.p, h.len));
    FUZZ_CHECK(!memchr(v.p, ';', v.len));
    FUZZ_CHECK(v.len == want.len && (v.len == 0 || v.p == want.p)); /* "" may sit anywhere */
    return v;
}

/* h = A "; " PAIR "; " B, PAIR naming the cookie with value ref in one of
 * three spellings. */
static void tok_check_embedded(const tok_state *s, const uint8_t *data, size_t len,
                               const bw_token_claims *c, const char *ref)
{
    static const char *const fmt[3] = {"; %s=%s; ", ";  %s = %s\t; ", "; %s=\"%s\"; "};
    char pair[128];
    int pl = snprintf(pair, sizeof(pair), fmt[len ? data[len - 1] % 3 : 0], BW_TOKEN_COOKIE, ref);
    FUZZ_CHECK(pl > 0 && (size_t)pl < sizeof(pair));
    size_t k = fuzz_split_point(data, len);
    size_t n = len + (size_t)pl;
    char *h = malloc(n);
    FUZZ_CHECK(h != NULL);
    memcpy(h, data, k);
    memcpy(h + k, pair, (size_t)pl);
    memcpy(h + k + (size_t)pl, data + k, len - k);
    bw_str hs = bw_str_make(h, n);
    bw_str v = tok_check_cookie(hs, BW_TOKEN_COOKIE);
    FUZZ_CHECK(v.p != NULL);
    bool named_before = tok_cookie_plain(bw_str_make(h, k), BW_TOKEN_COOKIE).p != NULL;
    if (!named_before) {
        FUZZ_CHECK(v.len == BW_TOKEN_TEXT_LEN && memcmp(v.p, ref, v.len) == 0);
        uint8_t level = 0;
        FUZZ_CHECK(tok_verify(&s->k, v, c->expiry_s, c, &level) == BW_TOKEN_OK &&
                   level == c->level);
    } else {
        FUZZ_CHECK(v.p + v.len <= h + k); /* the first pair so named wins */
    }
    free(h);
}

int fuzz_token_one(const uint8_t *data, size_t len)
{
    const tok_state *s = tok_setup();
    bw_token_claims c = tok_claims(data, len);
    char ref[BW_TOKEN_TEXT_MAX];
    FUZZ_CHECK(bw_token_sign(&s->k, &c, ref, sizeof(ref)) == BW_TOKEN_TEXT_LEN);
    tok_check_ref(s, &c, ref);

    char *buf = fuzz_copy(data, len);
    bw_str t = bw_str_make(buf, len);
    FUZZ_CHECK(tok_expected(&s->k, bw_str_make(ref, BW_TOKEN_TEXT_LEN), 0, &c) == BW_TOKEN_OK);
    tok_check_text(&s->k, t, &c);
    tok_check_text(&s->k, t, &tok_c0);
    tok_check_text(&s->rot, t, &tok_c0);

    tok_check_cookie(t, BW_TOKEN_COOKIE);
    tok_check_cookie(t, "a");
    bw_str v = tok_check_cookie(t, "");
    if (v.p) /* a cookie's value, as the shield would verify it */
        tok_check_text(&s->k, v, &tok_c0);
    v = tok_check_cookie(t, BW_TOKEN_COOKIE);
    if (v.p)
        tok_check_text(&s->rot, v, &tok_c0);
    free(buf);

    tok_check_embedded(s, data, len, &c, ref);

    /* A key from the input as the secret: a new one nearly every time, so
     * token.c's per-thread cache of keyed states keeps being refilled (and
     * K and K2 evicted from it). */
    bw_token_keys kx;
    FUZZ_CHECK(bw_token_keys_from_secret(&kx, data, len < 64 ? len : 64) == 0);
    FUZZ_CHECK(bw_token_sign(&kx, &c, ref, sizeof(ref)) == BW_TOKEN_TEXT_LEN);
    uint8_t raw[TOK_RAW];
    FUZZ_CHECK(tok_decode(bw_str_make(ref, BW_TOKEN_TEXT_LEN), raw) &&
               tok_be(raw + 1, 4) == kx.cur_id);
    tok_check_mac(kx.cur, raw, &c);
    tok_check_text(&kx, bw_str_make(ref, BW_TOKEN_TEXT_LEN), &c);
    if (kx.cur_id != s->k.cur_id)
        FUZZ_CHECK(tok_verify(&s->k, bw_str_make(ref, BW_TOKEN_TEXT_LEN), 0, &c, NULL) ==
                   BW_TOKEN_UNKNOWN_KEY);
    bw_token_keys_wipe(&kx);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_token_one(data, len);
}
#endif
