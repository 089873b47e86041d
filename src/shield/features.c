/*
 * features.c - request attributes for the shield (see features.h).
 */
#include "shield/features.h"

#include "core/hash.h"

#include <string.h>
#include <sys/socket.h>

#define HASH_SEED 0xcbf29ce484222325ull /* FNV-1a's offset basis, kept as the seed */
#define LOWER8 0x2020202020202020ull

/* One word into the running hash.  Word-at-a-time rather than FNV's byte
 * at a time: a request's User-Agent, Accept* values and header names are
 * some 400 bytes, hashed on every request. */
static inline uint64_t step(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* The last 0-7 bytes, tagged with their count so "ab" and "ab\0" differ. */
static inline uint64_t tail_word(const char *p, size_t n)
{
    uint64_t w = 0;
    if (n) /* p may be NULL for an absent header (memcpy's arguments must not be) */
        memcpy(&w, p, n);
    return w ^ ((uint64_t)n << 56);
}

static uint64_t hash_add(uint64_t h, const char *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = step(h, w);
    }
    return step(h, tail_word(p, n));
}

/* The same, ASCII case folded: setting bit 5 of every byte lower-cases
 * letters and leaves digits, '-' and ':' alone (header names are tokens). */
static uint64_t hash_add_lower(uint64_t h, const char *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = step(h, w | LOWER8);
    }
    uint64_t mask = n ? ~0ull >> (64 - 8 * n) : 0;
    return step(h, tail_word(p, n) | (LOWER8 & mask));
}

/* 0 means "no value" to the sketches and rules: never produce it. */
static uint64_t mix(uint64_t x)
{
    x = bw_mix64(x);
    return x ? x : 1;
}

static uint64_t hash_str(bw_str s, uint64_t seed)
{
    return mix(hash_add(HASH_SEED ^ seed, s.p, s.len));
}

/* Headers whose presence changes from one request of a client to the next
 * (a cookie once set, conditional and body headers): left out of the order
 * so a browser keeps its fingerprint after it gets a clearance cookie. */
static bool volatile_header(bw_str n)
{
    switch (n.len) {
    case 6:
        return bw_str_ieq_lit(n, "cookie") || bw_str_ieq_lit(n, "origin") ||
               bw_str_ieq_lit(n, "pragma");
    case 7:
        return bw_str_ieq_lit(n, "referer");
    case 12:
        return bw_str_ieq_lit(n, "content-type");
    case 13:
        return bw_str_ieq_lit(n, "if-none-match") || bw_str_ieq_lit(n, "cache-control") ||
               bw_str_ieq_lit(n, "authorization");
    case 14:
        return bw_str_ieq_lit(n, "content-length");
    case 17:
        return bw_str_ieq_lit(n, "if-modified-since");
    default:
        return false;
    }
}

static bool is_hexdigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A path segment that names one object among many: a number, a hex id of
 * 8+ characters, or any 16+ character token with digits (UUIDs, slugs
 * with ids). */
static bool is_id_segment(const char *p, size_t n)
{
    if (n == 0)
        return false;
    size_t digits = 0, hex = 0;
    for (size_t i = 0; i < n; i++) {
        digits += p[i] >= '0' && p[i] <= '9';
        hex += is_hexdigit(p[i]) || p[i] == '-';
    }
    if (digits == n)
        return true;
    if (hex == n && n >= 8 && digits > 0)
        return true;
    return n >= 16 && digits > 0;
}

uint64_t bw_shield_path_class(bw_str method, bw_str path)
{
    uint64_t h = hash_add(HASH_SEED, method.p, method.len);
    h = hash_add(h, " ", 1);
    size_t i = 0;
    while (i < path.len) {
        size_t j = i;
        while (j < path.len && path.p[j] != '/')
            j++;
        if (is_id_segment(path.p + i, j - i))
            h = hash_add(h, "#", 1);
        else
            h = hash_add(h, path.p + i, j - i);
        if (j < path.len)
            h = hash_add(h, "/", 1);
        i = j + 1;
    }
    return mix(h);
}

void bw_shield_features(bw_shield_feat *f, const bw_http_request *req, int family,
                        const uint8_t addr[16])
{
    memset(f, 0, sizeof *f);
    uint64_t order = HASH_SEED;
    bw_str ua = BW_STR_NULL, accept = BW_STR_NULL, lang = BW_STR_NULL, enc = BW_STR_NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        bw_str n = req->headers[i].name;
        if (n.len == 10 && bw_str_ieq_lit(n, "user-agent"))
            ua = req->headers[i].value;
        else if (n.len == 6 && bw_str_ieq_lit(n, "accept"))
            accept = req->headers[i].value;
        else if (n.len == 15 && bw_str_ieq_lit(n, "accept-language"))
            lang = req->headers[i].value;
        else if (n.len == 15 && bw_str_ieq_lit(n, "accept-encoding"))
            enc = req->headers[i].value;
        else if (n.len == 6 && bw_str_ieq_lit(n, "cookie") && !f->has_cookie) {
            f->has_cookie = true;
            f->cookie = req->headers[i].value;
        }
        if (!volatile_header(n)) {
            order = hash_add_lower(order, n.p, n.len);
            order = hash_add(order, ":", 1);
        }
    }
    f->has_ua = ua.len > 0;
    f->has_query = req->query.len > 0;
    f->attr[BW_ATTR_ORDER] = mix(order);
    f->attr[BW_ATTR_UA] = hash_str(ua, 1);
    f->attr[BW_ATTR_PATH] = bw_shield_path_class(req->method, req->path);

    uint64_t fp = f->attr[BW_ATTR_ORDER] ^ (f->attr[BW_ATTR_UA] * 3);
    fp = hash_add(fp, accept.p, accept.len);
    fp = hash_add(fp, "\n", 1);
    fp = hash_add(fp, lang.p, lang.len);
    fp = hash_add(fp, "\n", 1);
    fp = hash_add(fp, enc.p, enc.len);
    fp = hash_add(fp, req->version == 10 ? "0" : "1", 1);
    f->attr[BW_ATTR_FP] = mix(fp);
    f->attr[BW_ATTR_FP_PATH] = mix(f->attr[BW_ATTR_FP] ^ (f->attr[BW_ATTR_PATH] * 0x9e3779b97f4a7c15ull));
    f->bind = mix(hash_add(hash_add(f->attr[BW_ATTR_UA], "\n", 1), lang.p, lang.len));

    f->family = (uint8_t)family;
    size_t alen = family == AF_INET6 ? 16 : 4;
    memcpy(f->addr, addr, alen);
    f->ip = mix(hash_add(HASH_SEED ^ (uint64_t)family, (const char *)addr, alen));
    f->attr[BW_ATTR_PREFIX] = bw_shield_prefix_hash(family, addr);
}

uint64_t bw_shield_prefix_hash(int family, const uint8_t addr[16])
{
    size_t plen = family == AF_INET6 ? 8 : 3; /* /64 or /24 */
    return mix(hash_add(HASH_SEED ^ ((uint64_t)family << 8), (const char *)addr, plen));
}

const char *bw_shield_attr_name(int attr)
{
    static const char *const names[BW_ATTR_COUNT] = { "fp", "ua", "order", "path", "prefix", "fp+path" };
    return attr >= 0 && attr < BW_ATTR_COUNT ? names[attr] : "?";
}
