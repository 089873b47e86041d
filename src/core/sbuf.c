/*
 * sbuf.c - growable text buffer (see sbuf.h).
 */
#include "core/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void bw_sb_reserve(bw_sbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void bw_sb_printf(bw_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    bw_sb_reserve(b, (size_t)n);
    if (b->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void bw_sb_escaped(bw_sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            bw_sb_printf(b, "\\%c", *s);
        else if (*s == '\n')
            bw_sb_printf(b, "\\n");
        else if ((unsigned char)*s >= 0x20)
            bw_sb_printf(b, "%c", *s);
    }
}

char *bw_sb_finish(bw_sbuf *b, size_t *len)
{
    if (b->oom) {
        free(b->p);
        *len = 0;
        return NULL;
    }
    bw_sb_reserve(b, 0);
    if (b->oom) {
        free(b->p);
        *len = 0;
        return NULL;
    }
    b->p[b->len] = '\0';
    *len = b->len;
    return b->p;
}
