/*
 * token.c - clearance tokens (see token.h): format, keys, the MAC, and the
 * Cookie header lookup.
 *
 * The MAC is the hot part: every request that carries the cookie pays one.
 * OpenSSL 3's HMAC() one-shot fetches the digest and allocates 13 times per
 * call (~1150 ns on the dev box); an EVP_MAC context keyed once and
 * duplicated per call still allocates 11 times (~510 ns).  HMAC's key only
 * decides the first block of the inner and of the outer hash, so each thread
 * keeps, for the few keys it used lately, the SHA-256 states after those
 * blocks; a MAC is then two context copies, two short updates and two finals
 * (~160 ns; ~200 ns for a whole verify), with no lock and no shared counter
 * touched.  The two copies are the only allocations left: OpenSSL 3.0
 * duplicates the provider's digest context on every copy, and
 * re-initialising a reused context allocates just as much (and hashes two
 * more blocks, ~230 ns); no non-deprecated API we tried avoids them.
 *
 * Those states live in a per-thread cache rather than in bw_token_keys, so
 * the keys stay plain values: copied, rotated and published by the caller,
 * read by any number of threads, never freed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "shield/token.h"

enum {
    VERSION = 1,
    HEAD_LEN = 10, /* version, key id, expiry, level: the part in clear */
    MAC_LEN = 16,
    RAW_LEN = HEAD_LEN + MAC_LEN,
    BOUND_LEN = 4 + 8 + 8, /* site, prefix, fp: only in the MAC */
    SHA256_LEN = 32,
    SHA256_BLOCK = 64,
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- per-thread HMAC states ---- */

#define MAC_SLOTS 4 /* current and previous key, with room for a rotation or two */

typedef struct mac_slot {
    bool used;
    uint8_t key[BW_TOKEN_KEY_LEN];
    EVP_MD_CTX *inner, *outer; /* SHA-256 after key^ipad, after key^opad */
} mac_slot;

typedef struct mac_cache {
    EVP_MD *sha256; /* fetched once: an implicit fetch per init would take a lock */
    EVP_MD_CTX *work;
    mac_slot slot[MAC_SLOTS];
    unsigned next; /* slot to refill on a miss: the oldest filled */
} mac_cache;

static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static bool cache_key_ok;

/* Thread exit (pthread key destructor). */
static void cache_free(void *p)
{
    mac_cache *c = p;
    for (int i = 0; i < MAC_SLOTS; i++) {
        EVP_MD_CTX_free(c->slot[i].inner);
        EVP_MD_CTX_free(c->slot[i].outer);
    }
    EVP_MD_CTX_free(c->work);
    EVP_MD_free(c->sha256);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void cache_key_create(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0;
}

static mac_cache *cache_get(void)
{
    if (pthread_once(&cache_once, cache_key_create) != 0 || !cache_key_ok)
        return NULL;
    mac_cache *c = pthread_getspecific(cache_key);
    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->work = EVP_MD_CTX_new();
    if (!c->sha256 || !c->work || pthread_setspecific(cache_key, c) != 0) {
        cache_free(c);
        return NULL;
    }
    return c;
}

/* The SHA-256 state after the block key ^ pad (HMAC's key, zero-padded to
 * the block size, then xored with 0x36 for the inner hash, 0x5c outer). */
static bool keyed_state(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t key[BW_TOKEN_KEY_LEN],
                        uint8_t pad)
{
    uint8_t block[SHA256_BLOCK];
    memset(block, pad, sizeof(block));
    for (size_t i = 0; i < BW_TOKEN_KEY_LEN; i++)
        block[i] ^= key[i];
    bool ok = EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, block, sizeof(block));
    OPENSSL_cleanse(block, sizeof(block));
    return ok;
}

static const mac_slot *slot_for(mac_cache *c, const uint8_t key[BW_TOKEN_KEY_LEN])
{
    for (int i = 0; i < MAC_SLOTS; i++)
        if (c->slot[i].used && memcmp(c->slot[i].key, key, BW_TOKEN_KEY_LEN) == 0)
            return &c->slot[i];
    mac_slot *s = &c->slot[c->next];
    c->next = (c->next + 1) % MAC_SLOTS;
    s->used = false;
    if (!s->inner)
        s->inner = EVP_MD_CTX_new();
    if (!s->outer)
        s->outer = EVP_MD_CTX_new();
    if (!s->inner || !s->outer || !keyed_state(s->inner, c->sha256, key, 0x36) ||
        !keyed_state(s->outer, c->sha256, key, 0x5c))
        return NULL;
    memcpy(s->key, key, BW_TOKEN_KEY_LEN);
    s->used = true;
    return s;
}

/* HMAC-SHA256(key, head | site | prefix | fp), truncated to MAC_LEN. */
static bool mac(const uint8_t key[BW_TOKEN_KEY_LEN], const uint8_t head[HEAD_LEN], uint32_t site,
                uint64_t prefix, uint64_t fp, uint8_t out[MAC_LEN])
{
    mac_cache *c = cache_get();
    const mac_slot *s = c ? slot_for(c, key) : NULL;
    if (!s)
        return false;
    uint8_t msg[HEAD_LEN + BOUND_LEN], inner[SHA256_LEN], outer[SHA256_LEN];
    memcpy(msg, head, HEAD_LEN);
    put32(msg + HEAD_LEN, site);
    put64(msg + HEAD_LEN + 4, prefix);
    put64(msg + HEAD_LEN + 12, fp);
    bool ok = EVP_MD_CTX_copy_ex(c->work, s->inner) && EVP_DigestUpdate(c->work, msg, sizeof(msg)) &&
              EVP_DigestFinal_ex(c->work, inner, NULL) && EVP_MD_CTX_copy_ex(c->work, s->outer) &&
              EVP_DigestUpdate(c->work, inner, sizeof(inner)) &&
              EVP_DigestFinal_ex(c->work, outer, NULL);
    if (ok)
        memcpy(out, outer, MAC_LEN);
    return ok;
}

/* ---- base64url, no padding ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* out gets (n * 8 + 5) / 6 characters (no NUL); returns that. */
static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = b64url[(acc << (6 - bits)) & 63];
    return o;
}

/* 1 + the value of each base64url character; 0 for any other byte. */
static const uint8_t b64url_rev[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

static uint32_t sextet(unsigned char ch, unsigned *bad)
{
    unsigned v = b64url_rev[ch];
    *bad |= v == 0;
    return (v - 1) & 63;
}

/* Exactly n bytes from exactly their encoding: any other length, character
 * or nonzero unused low bits in the last character fail, so each byte
 * string has one text and no edit of the text decodes to the same bytes.
 * Four characters make three bytes with no state carried across groups,
 * which more than halves the time of a bit-at-a-time loop (verify runs it on
 * every request with the cookie). */
static bool b64url_decode(const char *in, size_t len, uint8_t *out, size_t n)
{
    if (len != (n * 8 + 5) / 6)
        return false;
    const unsigned char *s = (const unsigned char *)in;
    unsigned bad = 0;
    size_t i = 0;
    for (; len - i >= 4; i += 4, out += 3) {
        uint32_t v = sextet(s[i], &bad) << 18 | sextet(s[i + 1], &bad) << 12 |
                     sextet(s[i + 2], &bad) << 6 | sextet(s[i + 3], &bad);
        out[0] = (uint8_t)(v >> 16);
        out[1] = (uint8_t)(v >> 8);
        out[2] = (uint8_t)v;
    }
    uint32_t v = 0;
    for (size_t j = i; j < len; j++)
        v = v << 6 | sextet(s[j], &bad);
    switch (len - i) { /* never 1: n bytes leave 0, 2 or 3 characters */
    case 2:
        out[0] = (uint8_t)(v >> 4);
        bad |= v & 0xf;
        break;
    case 3:
        out[0] = (uint8_t)(v >> 10);
        out[1] = (uint8_t)(v >> 2);
        bad |= v & 0x3;
        break;
    }
    return !bad;
}

/* ---- keys ---- */

int bw_token_keys_init(bw_token_keys *k)
{
    bw_token_keys n;
    memset(&n, 0, sizeof(n));
    uint8_t id[4];
    int rc = -1;
    if (RAND_bytes(n.cur, sizeof(n.cur)) == 1 && RAND_bytes(id, sizeof(id)) == 1) {
        n.cur_id = get32(id);
        *k = n;
        rc = 0;
    }
    OPENSSL_cleanse(&n, sizeof(n));
    return rc;
}

int bw_token_keys_rotate(bw_token_keys *k)
{
    uint8_t fresh[BW_TOKEN_KEY_LEN];
    if (RAND_bytes(fresh, sizeof(fresh)) != 1)
        return -1;
    memcpy(k->prev, k->cur, sizeof(k->prev));
    k->prev_id = k->cur_id;
    k->has_prev = true;
    memcpy(k->cur, fresh, sizeof(k->cur));
    k->cur_id++;
    OPENSSL_cleanse(fresh, sizeof(fresh));
    return 0;
}

/* SHA-256(label, NUL, secret): one secret, unrelated values per label. */
static bool derive(const char *label, const void *secret, size_t len, uint8_t out[SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(ctx, label, strlen(label) + 1) && EVP_DigestUpdate(ctx, secret, len) &&
              EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    return ok;
}

int bw_token_keys_from_secret(bw_token_keys *k, const void *secret, size_t len)
{
    bw_token_keys n;
    memset(&n, 0, sizeof(n));
    uint8_t id[SHA256_LEN];
    int rc = -1;
    if (derive("bulwark clearance key", secret, len, n.cur) &&
        derive("bulwark clearance key id", secret, len, id)) {
        n.cur_id = get32(id);
        *k = n;
        rc = 0;
    }
    OPENSSL_cleanse(&n, sizeof(n));
    return rc;
}

void bw_token_keys_wipe(bw_token_keys *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

/* ---- tokens ---- */

size_t bw_token_sign(const bw_token_keys *k, const bw_token_claims *c, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    if (cap < BW_TOKEN_TEXT_LEN + 1)
        return 0;
    uint8_t raw[RAW_LEN];
    raw[0] = VERSION;
    put32(raw + 1, k->cur_id);
    put32(raw + 5, c->expiry_s);
    raw[9] = c->level;
    if (!mac(k->cur, raw, c->site, c->prefix, c->fp, raw + HEAD_LEN))
        return 0;
    size_t n = b64url_encode(raw, sizeof(raw), out);
    out[n] = '\0';
    return n;
}

int bw_token_verify(const bw_token_keys *k, bw_str tok, uint32_t now_s, uint32_t site,
                    uint64_t prefix, uint64_t fp, uint8_t *level)
{
    uint8_t raw[RAW_LEN];
    if (!b64url_decode(tok.p, tok.len, raw, sizeof(raw)) || raw[0] != VERSION)
        return BW_TOKEN_MALFORMED;
    uint32_t id = get32(raw + 1);
    const uint8_t *key;
    if (id == k->cur_id)
        key = k->cur;
    else if (k->has_prev && id == k->prev_id)
        key = k->prev;
    else
        return BW_TOKEN_UNKNOWN_KEY;
    uint8_t want[MAC_LEN];
    if (!mac(key, raw, site, prefix, fp, want))
        return BW_TOKEN_ERROR;
    if (CRYPTO_memcmp(want, raw + HEAD_LEN, MAC_LEN) != 0)
        return BW_TOKEN_BAD_MAC;
    if (now_s > get32(raw + 5))
        return BW_TOKEN_EXPIRED;
    if (level)
        *level = raw[9];
    return BW_TOKEN_OK;
}

const char *bw_token_result_name(int r)
{
    switch (r) {
    case BW_TOKEN_OK:
        return "ok";
    case BW_TOKEN_MALFORMED:
        return "malformed";
    case BW_TOKEN_UNKNOWN_KEY:
        return "unknown_key";
    case BW_TOKEN_BAD_MAC:
        return "bad_mac";
    case BW_TOKEN_EXPIRED:
        return "expired";
    default:
        return "error";
    }
}

/* ---- Cookie header ---- */

static bw_str trim(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return bw_str_make(p, (size_t)(end - p));
}

bool bw_token_cookie_find(bw_str cookie_header, const char *name, bw_str *value)
{
    if (!cookie_header.len)
        return false;
    bw_str want = bw_str_cstr(name);
    const char *p = cookie_header.p, *end = p + cookie_header.len;
    for (;;) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        bw_str pair = trim(p, semi ? semi : end);
        const char *eq = pair.len ? memchr(pair.p, '=', pair.len) : NULL;
        if (eq && bw_str_eq(trim(pair.p, eq), want)) {
            bw_str v = trim(eq + 1, pair.p + pair.len);
            if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"')
                v = bw_str_make(v.p + 1, v.len - 2);
            *value = v;
            return true;
        }
        if (!semi)
            return false;
        p = semi + 1;
    }
}
