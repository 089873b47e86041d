/*
 * pow.h - the shield's JavaScript proof-of-work challenge: the page a
 * challenged browser gets, the check of its answer, and a solver (for the
 * tests and for bulwark-siege's simulated users).
 *
 * Stateless on the server: the page carries an opaque CHALLENGE (made and
 * authenticated by the caller, e.g. a MAC over the client address and an
 * expiry), the difficulty BITS and the RETURN path.  Its script finds the
 * smallest decimal nonce N such that SHA-256(CHALLENGE ":" N) starts with
 * BITS zero bits and loads
 *     /.bulwark/pow?c=CHALLENGE&n=N&r=RETURN
 * bw_pow_parse_query() takes that query apart and bw_pow_check() verifies the
 * work.  Owns no state and no memory; it neither makes nor authenticates
 * challenges (a nonce proves work on a challenge, so the caller must bind
 * the challenge to the client and to a time, or a solved one can be
 * replayed), and it sets no cookie.
 */
#ifndef BW_SHIELD_POW_H
#define BW_SHIELD_POW_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

#define BW_POW_PATH "/.bulwark/pow"
#define BW_POW_CHALLENGE_MAX 256 /* longer challenges are refused (page, check) */
#define BW_POW_NONCE_MAX 20      /* decimal digits */
#define BW_POW_RETURN_MAX 2048   /* percent-encoded RETURN in the page, at most */
#define BW_POW_PAGE_MAX 8192     /* every page fits (challenge and RETURN at their max) */

/*
 * The challenge page into out (NUL-terminated); returns its length, 0 if cap
 * is too small (BW_POW_PAGE_MAX always suffices), if bits > 256, or if
 * challenge is empty, longer than BW_POW_CHALLENGE_MAX or not base64url
 * (A-Z a-z 0-9 - _, '=' tolerated; checked again here because it goes into
 * the page as is).  ret: the local path (+query) to return to,
 * percent-encoded here so the page's RETURN has no space, quote, '<', '&',
 * '#', '+' or '%' of its own (decoding it gives ret back exactly).  A ret
 * that bw_pow_parse_query() would refuse (not a local path) becomes "/"; one
 * too long when encoded loses its query, then becomes "/".
 */
size_t bw_pow_page(char *out, size_t cap, bw_str challenge, unsigned bits, bw_str ret);

/* True if SHA-256(challenge ":" nonce) has >= bits leading zero bits; nonce
 * must be 1..20 decimal digits, challenge as for bw_pow_page().  Leading
 * zeros in nonce are accepted (each string is its own proof of work). */
bool bw_pow_check(bw_str challenge, bw_str nonce, unsigned bits);

/* Brute-force solver (tests, siege): the smallest nonce, written as decimal
 * into out (NUL-terminated if there is room); returns its length, 0 if cap
 * < BW_POW_NONCE_MAX, bits > 64 or the challenge is refused as above. */
size_t bw_pow_solve(bw_str challenge, unsigned bits, char *out, size_t cap);

/*
 * Parse the query of a /.bulwark/pow request (what follows '?', without it):
 * the c, n and r parameters in any order (others are ignored; a repeated one
 * is refused).  c and n are slices of query: c non-empty, base64url
 * characters (and '='); n non-empty (bw_pow_check judges its digits).  r is
 * percent-decoded into rbuf (NUL-terminated, *rlen its length) and must be a
 * local path: starts with '/', not "//" nor "/\", no control character (CR,
 * LF, NUL, and TAB too: browsers drop TAB and LF from URLs, so "/\t/evil"
 * would be "//evil").  Else false.  r may still hold a space, a quote or
 * non-ASCII bytes (what the page was given): harmless in a Location header,
 * but escape it before putting it in HTML.
 */
bool bw_pow_parse_query(bw_str query, bw_str *c, bw_str *n, char *rbuf, size_t rcap,
                        size_t *rlen);

#endif
