/*
 * powmeta.h - what a simulated browser reads from bulwark's proof-of-work
 * page (shield/pow.h): the bulwark-pow meta, and the answer it then loads.
 *
 * The page's script reads <meta name="bulwark-pow" content="CHALLENGE BITS
 * RETURN">, finds the nonce and loads /.bulwark/pow?c=CHALLENGE&n=N&r=RETURN;
 * siege's legit users do the same with bw_pow_solve().  Slices only: nothing
 * here owns memory.
 */
#ifndef SG_POWMETA_H
#define SG_POWMETA_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

typedef struct sg_pow_meta {
    bw_str challenge; /* base64url, a slice of the body */
    unsigned bits;    /* 0..256 */
    bw_str ret;       /* percent-encoded local path, a slice of the body, used as is */
} sg_pow_meta;

/* Find the bulwark-pow meta in body[0..len) and split its content.  false if
 * there is none or it is malformed (three fields separated by spaces: a
 * base64url challenge of at most BW_POW_CHALLENGE_MAX, a decimal bit count
 * up to 256, and a RETURN that starts with '/' and is printable ASCII). */
bool sg_pow_meta_parse(const char *body, size_t len, sg_pow_meta *m);

/* The answer's request-target, BW_POW_PATH "?c=C&n=NONCE&r=RETURN", into out
 * (NUL-terminated); its length, or 0 if it does not fit. */
size_t sg_pow_answer_path(const sg_pow_meta *m, const char *nonce, char *out, size_t cap);

#endif
