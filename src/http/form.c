/*
 * form.c - a form field or a JSON string field out of a body (see form.h).
 */
#include "http/form.h"

#include <string.h>

#include "core/str.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = bw_ascii_lower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* application/x-www-form-urlencoded value -> dst.  False if malformed or
 * longer than cap. */
static bool form_decode(bw_str v, char *dst, size_t cap, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.p[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= v.len)
                return false;
            int hi = hexval(v.p[i + 1]), lo = hexval(v.p[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n == cap)
            return false;
        dst[n++] = ch;
    }
    *len = n;
    return true;
}

bool bw_form_field(bw_str body, const char *key, char *dst, size_t cap, size_t *len)
{
    size_t klen = strlen(key), i = 0;
    while (i < body.len) {
        const char *amp = memchr(body.p + i, '&', body.len - i);
        size_t end = amp ? (size_t)(amp - body.p) : body.len;
        if (end - i > klen && memcmp(body.p + i, key, klen) == 0 && body.p[i + klen] == '=')
            return form_decode(bw_str_make(body.p + i + klen + 1, end - i - klen - 1), dst, cap,
                               len);
        i = end + 1;
    }
    return false;
}

bool bw_json_field(bw_str body, const char *key, char *dst, size_t cap, size_t *len)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 2 <= body.len; i++) {
        if (body.p[i] != '"' || memcmp(body.p + i + 1, key, klen) != 0 ||
            body.p[i + 1 + klen] != '"')
            continue;
        size_t j = i + klen + 2;
        while (j < body.len && (body.p[j] == ' ' || body.p[j] == '\t' || body.p[j] == '\r' ||
                                body.p[j] == '\n'))
            j++;
        if (j >= body.len || body.p[j] != ':')
            continue;
        j++;
        while (j < body.len && (body.p[j] == ' ' || body.p[j] == '\t' || body.p[j] == '\r' ||
                                body.p[j] == '\n'))
            j++;
        if (j >= body.len || body.p[j] != '"')
            return false;
        size_t n = 0;
        for (j++; j < body.len && body.p[j] != '"'; j++) {
            char ch = body.p[j];
            if (ch == '\\') {
                if (++j >= body.len)
                    return false;
                switch (body.p[j]) {
                case 'n': ch = '\n'; break;
                case 't': ch = '\t'; break;
                case 'r': ch = '\r'; break;
                case 'b': ch = '\b'; break;
                case 'f': ch = '\f'; break;
                case 'u': {
                    if (j + 4 >= body.len)
                        return false;
                    int v = 0;
                    for (int k = 1; k <= 4; k++) {
                        int h = hexval(body.p[j + (size_t)k]);
                        if (h < 0)
                            return false;
                        v = v * 16 + h;
                    }
                    if (v >= 0x80)
                        return false;
                    ch = (char)v;
                    j += 4;
                    break;
                }
                default: ch = body.p[j]; break; /* \" \\ \/ */
                }
            }
            if (n == cap)
                return false;
            dst[n++] = ch;
        }
        if (j >= body.len)
            return false;
        *len = n;
        return true;
    }
    return false;
}

