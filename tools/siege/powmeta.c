/*
 * powmeta.c - reading bulwark's proof-of-work page (see powmeta.h).
 *
 * Mirrors the page's script: the content is split on single spaces, exactly
 * as content.split(' '), and RETURN goes into the answer untouched.
 */
#include <stdio.h>
#include <string.h>

#include "powmeta.h"
#include "shield/pow.h"

static bool b64url(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '=';
}

static bool prefix_ieq(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && bw_str_ieq(bw_str_make(p, n), bw_str_make(lit, n));
}

/* Split "CHALLENGE BITS RETURN" into m. */
static bool split_content(const char *p, const char *end, sg_pow_meta *m)
{
    const char *s1 = memchr(p, ' ', (size_t)(end - p));
    const char *s2 = s1 ? memchr(s1 + 1, ' ', (size_t)(end - s1 - 1)) : NULL;
    if (!s2 || memchr(s2 + 1, ' ', (size_t)(end - s2 - 1)))
        return false;
    bw_str c = { p, (size_t)(s1 - p) }, b = { s1 + 1, (size_t)(s2 - s1 - 1) };
    bw_str r = { s2 + 1, (size_t)(end - s2 - 1) };
    if (c.len == 0 || c.len > BW_POW_CHALLENGE_MAX || b.len == 0 || b.len > 3 || r.len == 0 ||
        r.p[0] != '/')
        return false;
    for (size_t i = 0; i < c.len; i++)
        if (!b64url(c.p[i]))
            return false;
    unsigned bits = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.p[i] < '0' || b.p[i] > '9')
            return false;
        bits = bits * 10 + (unsigned)(b.p[i] - '0');
    }
    for (size_t i = 0; i < r.len; i++)
        if (r.p[i] <= 0x20 || r.p[i] >= 0x7f)
            return false;
    if (bits > 256)
        return false;
    *m = (sg_pow_meta){ c, bits, r };
    return true;
}

/* The content of the tag holding name="bulwark-pow" at p (p points at
 * bulwark-pow; the tag runs from the '<' before it to the '>' after it). */
static bool meta_at(const char *body, const char *end, const char *p, sg_pow_meta *m)
{
    static const char key[] = "bulwark-pow";
    const char *lt = p, *after = p + sizeof key - 1;
    while (lt > body && lt[-1] != '<' && lt[-1] != '>')
        lt--;
    if (lt == body || lt[-1] != '<')
        return false; /* not inside a tag: the script's selector, or text */
    lt--;
    const char *gt = memchr(after, '>', (size_t)(end - after));
    if (!gt || p - lt < 12 || !prefix_ieq(lt, gt, "<meta ") || after >= gt)
        return false;
    char q = p[-1];
    if ((q != '"' && q != '\'') || *after != q || !prefix_ieq(p - 6, p, "name="))
        return false;
    for (const char *a = lt; a + 9 < gt; a++) {
        if (!prefix_ieq(a, gt, " content=") || (a[9] != '"' && a[9] != '\''))
            continue;
        const char *v = a + 10, *ve = memchr(v, a[9], (size_t)(gt - v));
        return ve && split_content(v, ve, m);
    }
    return false;
}

bool sg_pow_meta_parse(const char *body, size_t len, sg_pow_meta *m)
{
    static const char key[] = "bulwark-pow";
    const char *end = body + len;
    for (const char *p = body; p < end; p += sizeof key - 1) {
        p = memmem(p, (size_t)(end - p), key, sizeof key - 1);
        if (!p)
            break;
        if (meta_at(body, end, p, m))
            return true;
    }
    return false;
}

size_t sg_pow_answer_path(const sg_pow_meta *m, const char *nonce, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s?c=%.*s&n=%s&r=%.*s", BW_POW_PATH, (int)m->challenge.len,
                     m->challenge.p, nonce, (int)m->ret.len, m->ret.p);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}
