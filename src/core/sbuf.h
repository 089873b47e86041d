/*
 * sbuf.h - a growable, NUL-terminated text buffer for rendering (metrics,
 * JSON answers of the admin API, shield events).  Not for the request
 * path: it allocates.  An allocation failure is sticky (oom) and makes
 * bw_sb_finish return NULL, so callers check once at the end.
 */
#ifndef BW_CORE_SBUF_H
#define BW_CORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bw_sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} bw_sbuf;

void bw_sb_reserve(bw_sbuf *b, size_t more);
__attribute__((format(printf, 2, 3))) void bw_sb_printf(bw_sbuf *b, const char *fmt, ...);
/* A label value or JSON string body: backslash, quote and newline escaped,
 * other control bytes dropped. */
void bw_sb_escaped(bw_sbuf *b, const char *s);
/* The text (caller frees) and its length, or NULL (and the buffer freed)
 * if an allocation failed on the way. */
char *bw_sb_finish(bw_sbuf *b, size_t *len);

#endif
