/*
 * token.h - the shield's clearance tokens: a client that passed a challenge
 * (cookie redirect or proof of work) gets one in the BW_TOKEN_COOKIE cookie,
 * and every worker checks it on every request without shared state.
 *
 * A token is 26 bytes in base64url (35 characters):
 *
 *   version(1)=1 | key id(4) | expiry(4, unix s) | level(1) | mac(16)
 *
 * mac is HMAC-SHA256, truncated to 128 bits, over those first 10 bytes
 * followed by site(4), prefix(8) and fingerprint(8), all big-endian.  Site,
 * client prefix (the caller's hash of the /24 or /64) and fingerprint are not
 * in the token: they are bound through the MAC, so a token replayed for
 * another site, from another prefix or with another fingerprint fails as
 * BAD_MAC.  Keys rotate: the current and the previous key both verify, told
 * apart by the key id carried in the token.
 *
 * This module owns the token format, the keys and the Cookie header lookup;
 * what a level clears and how long a token lives are the caller's policy.
 * Key material is never logged.
 */
#ifndef BW_SHIELD_TOKEN_H
#define BW_SHIELD_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define BW_TOKEN_KEY_LEN 32
#define BW_TOKEN_TEXT_LEN 35  /* base64url of the 26 bytes, no padding */
#define BW_TOKEN_TEXT_MAX 64  /* room for the text form and its NUL */
#define BW_TOKEN_COOKIE "__bw_clr"

/* Plain values, no pointers: copy the struct, rotate the copy and publish it
 * (readers on other threads must never see one being rotated in place).
 * Verifying only reads it, from any number of threads. */
typedef struct bw_token_keys {
    uint8_t cur[BW_TOKEN_KEY_LEN], prev[BW_TOKEN_KEY_LEN];
    uint32_t cur_id, prev_id;
    bool has_prev;
} bw_token_keys;

/* A random key with a random id, no previous key.  0 or -1. */
int bw_token_keys_init(bw_token_keys *k);

/* The current key becomes the previous one (the old previous key is gone:
 * its tokens now fail as UNKNOWN_KEY); a new random key with id cur_id + 1
 * becomes current.  0 or -1 (k unchanged). */
int bw_token_keys_rotate(bw_token_keys *k);

/* Keys from an operator's secret (config challenge_key; any bytes, any
 * length): key and id are derived from it with SHA-256, so every process
 * given the same secret signs and accepts the same tokens.  No previous
 * key.  0 or -1 (out of memory inside OpenSSL). */
int bw_token_keys_from_secret(bw_token_keys *k, const void *secret, size_t len);

/* Zero the key material (before the memory is reused or freed). */
void bw_token_keys_wipe(bw_token_keys *k);

typedef struct bw_token_claims {
    uint32_t expiry_s; /* unix seconds; valid up to and including it */
    uint8_t level;     /* 1 cookie challenge, 2 proof of work */
    uint32_t site;
    uint64_t prefix;
    uint64_t fp;
} bw_token_claims;

/* The text token (base64url, no padding, NUL-terminated) into out; returns
 * its length (BW_TOKEN_TEXT_LEN), or 0 if cap is too small or OpenSSL
 * failed. */
size_t bw_token_sign(const bw_token_keys *k, const bw_token_claims *c, char *out, size_t cap);

enum {
    BW_TOKEN_OK = 0,
    BW_TOKEN_MALFORMED,   /* not base64url of the right length, or unknown version */
    BW_TOKEN_UNKNOWN_KEY, /* key id neither current nor previous */
    BW_TOKEN_BAD_MAC,     /* forged, tampered, or for another site/prefix/fp */
    BW_TOKEN_EXPIRED,     /* authentic but now_s > expiry */
    BW_TOKEN_ERROR,       /* could not compute the MAC (out of memory): not cleared */
};

/* Verify tok for (site, prefix, fp) at now_s.  On OK, *level (if not NULL)
 * gets the level.  The MAC is checked before the expiry, so EXPIRED is only
 * said of tokens we signed; the compare is constant-time.  No lock and, in
 * the steady state, only the allocations OpenSSL 3.0 makes per digest copy
 * (see token.c). */
int bw_token_verify(const bw_token_keys *k, bw_str tok, uint32_t now_s, uint32_t site,
                    uint64_t prefix, uint64_t fp, uint8_t *level);

/* Name of a bw_token_verify result, for logs and metrics labels. */
const char *bw_token_result_name(int r);

/* The value of cookie `name` (case-sensitive, exact) in a Cookie header
 * value ("a=1; __bw_clr=xyz; b=2"), trimmed of blanks and of a pair of
 * double quotes; the first one if repeated.  true if found (the value may be
 * empty).  *value points into cookie_header. */
bool bw_token_cookie_find(bw_str cookie_header, const char *name, bw_str *value);

#endif
