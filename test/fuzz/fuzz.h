/*
 * fuzz.h - what the libFuzzer harnesses (test/fuzz/fuzz_*.c) share.
 *
 * Each harness puts its checks in `int fuzz_NAME_one(const uint8_t *, size_t)`
 * and, unless FUZZ_NO_MAIN is defined, wraps it in LLVMFuzzerTestOneInput.
 * test/unit/test_fuzz_regress.c defines FUZZ_NO_MAIN, #includes every
 * harness and replays the seed corpus and the regression inputs through the
 * same functions with gcc, no libFuzzer needed.
 *
 * A broken invariant prints where and calls abort(): a crash to libFuzzer
 * (which saves the input) and to the cmocka runner alike.
 */
#ifndef BW_TEST_FUZZ_H
#define BW_TEST_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "http/parser.h"

/* Set by the replaying unit test to the file being fed, for the message. */
static const char *fuzz_input_name;

#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s (input: %s)\n", __FILE__,       \
                    __LINE__, #cond, fuzz_input_name ? fuzz_input_name : "this one");         \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* Does the slice lie inside [base, base + len)?  An empty slice may sit at
 * the end; a NULL one counts as outside unless empty. */
static inline bool fuzz_inside(bw_str s, const void *base, size_t len)
{
    const char *b = base;
    if (s.len == 0)
        return s.p == NULL || (s.p >= b && s.p <= b + len);
    return s.p >= b && s.p <= b + len && s.len <= (size_t)(b + len - s.p);
}

/* A split point in [1, len) that depends only on the input (so a saved
 * crash reproduces); 0 if len < 2. */
static inline size_t fuzz_split_point(const uint8_t *data, size_t len)
{
    if (len < 2)
        return 0;
    uint64_t h = BW_FNV_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = (h ^ data[i]) * BW_FNV_PRIME;
    return 1 + (size_t)(h % (len - 1));
}

/* A heap copy of exactly n bytes, so that AddressSanitizer sees a read one
 * byte past a prefix (a slice of the whole input would hide it). */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
    char *p = malloc(n ? n : 1);
    FUZZ_CHECK(p != NULL);
    if (n)
        memcpy(p, data, n);
    return p;
}

/* Field lines of a parsed head buf[0..n): names are non-empty tokens,
 * values hold no CR, LF or other control but HTAB and carry no OWS at
 * either end, and every slice lies inside the head. */
static inline void fuzz_check_fields(const bw_http_header *hdrs, size_t count, const char *buf,
                                     size_t n)
{
    for (size_t i = 0; i < count; i++) {
        bw_str name = hdrs[i].name, value = hdrs[i].value;
        FUZZ_CHECK(name.len > 0 && fuzz_inside(name, buf, n));
        FUZZ_CHECK(fuzz_inside(value, buf, n));
        for (size_t j = 0; j < name.len; j++) {
            unsigned char c = (unsigned char)name.p[j];
            FUZZ_CHECK(c > 0x20 && c < 0x7f && c != ':');
        }
        for (size_t j = 0; j < value.len; j++) {
            unsigned char c = (unsigned char)value.p[j];
            FUZZ_CHECK((c >= 0x20 || c == '\t') && c != 0x7f);
        }
        if (value.len)
            FUZZ_CHECK(value.p[0] != ' ' && value.p[0] != '\t' && value.p[value.len - 1] != ' ' &&
                       value.p[value.len - 1] != '\t');
    }
}

#endif
