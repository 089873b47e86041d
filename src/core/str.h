/*
 * str.h - bw_str, a {pointer, length} slice that points into someone else's
 * buffer (usually a connection's read buffer).  A slice never owns memory: it
 * is valid only while the buffer it points into is unchanged.  The parser
 * hands out slices so header values are never copied.
 */
#ifndef BW_CORE_STR_H
#define BW_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct bw_str {
    const char *p;
    size_t len;
} bw_str;

#define BW_STR_LIT(s) ((bw_str){ (s), sizeof(s) - 1 })
#define BW_STR_NULL ((bw_str){ NULL, 0 })

static inline bw_str bw_str_make(const char *p, size_t len)
{
    return (bw_str){ p, len };
}

static inline bw_str bw_str_cstr(const char *s)
{
    return (bw_str){ s, s ? strlen(s) : 0 };
}

static inline bool bw_str_eq(bw_str a, bw_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline char bw_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

/* Case-insensitive ASCII comparison (header names, tokens, host names). */
static inline bool bw_str_ieq(bw_str a, bw_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (bw_ascii_lower(a.p[i]) != bw_ascii_lower(b.p[i]))
            return false;
    return true;
}

static inline bool bw_str_ieq_lit(bw_str a, const char *lit)
{
    return bw_str_ieq(a, bw_str_cstr(lit));
}

/* Decimal text of v into out (no NUL), without printf: used on per-request
 * paths.  Returns the length (1 to 20). */
#define BW_U64_DEC_MAX 20
static inline size_t bw_u64_dec(uint64_t v, char out[BW_U64_DEC_MAX])
{
    char tmp[BW_U64_DEC_MAX];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, tmp + i, sizeof(tmp) - i);
    return sizeof(tmp) - i;
}

/* FNV-1a, 64 bit; used for fingerprints and hash tables (not for security). */
#define BW_FNV_OFFSET 0xcbf29ce484222325ULL
#define BW_FNV_PRIME 0x100000001b3ULL

static inline uint64_t bw_fnv1a(uint64_t h, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= BW_FNV_PRIME;
    }
    return h;
}

static inline uint64_t bw_fnv1a_lower(uint64_t h, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)bw_ascii_lower(p[i]);
        h *= BW_FNV_PRIME;
    }
    return h;
}

#endif
