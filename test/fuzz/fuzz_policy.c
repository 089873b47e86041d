/*
 * fuzz_policy.c - libFuzzer harness for the shield's operator rules,
 * bw_policy_add(), bw_policy_describe() and bw_policy_match[_from]()
 * (src/shield/policy.h, docs/POLICY.md).
 *
 * The input is one `rule` directive as it would stand in a site block,
 * with or without the leading `rule`: its words are read the config
 * tokenizer's way (src/core/conf.c: blanks and # comments between words, a
 * bare word ends at a blank or at one of ;{}#", "quoted" words with \" and
 * \\ only) up to the first ; { } or the end.  Inputs the config would refuse
 * before bw_policy_add sees them are skipped: a NUL byte, a bad escape or an
 * unterminated quote, more than 15 words.  What follows the directive is a
 * request: parsed with bw_http_parse_request(), or, if it is not one, a
 * fixed request plus a loose one whose method, path, query, host and headers
 * are slices of those bytes.
 *
 * Checked besides memory safety, leaks and UB:
 *   - a refusal writes a NUL-terminated message starting with "rule:" (also
 *     into a tiny buffer) and leaves the policy as it was: no rule, no GeoIP
 *     need, and a valid rule added next is rule 0;
 *   - an accepted rule adds one; bw_policy_needs_geoip() says whether it has
 *     a country condition; bw_policy_describe() follows snprintf's
 *     convention, and its text, read back by the same tokenizer, gives the
 *     same words, which bw_policy_add accepts as a rule with the same text
 *     (the round trip the admin API and logs rely on);
 *   - for several requests (parsed, fixed, loose, none), client addresses
 *     (from the rule's ip= lists, the input, fixed ones; IPv4 also as
 *     ::ffff:a.b.c.d) and countries (none, CN, the rule's, odd ones):
 *     the match is rule 0 or none (the two rules are the same), its info
 *     agrees with the rule, match_from(j) for j <= i gives i again and
 *     match_from(i + 1) gives a later rule or none, match_from(count) none;
 *     an IPv4 client and its ::ffff: form match alike; a country in lower
 *     case matches like in upper case;
 *   - spellings of a request that docs/POLICY.md says are the same request
 *     to a rule match alike: the path in other spellings of its normal form
 *     ("/./", "//", "/x/..", a percent-encoded unreserved character, escapes'
 *     hex digits in the other case), the host with a port or a trailing dot,
 *     method, host and header names in the other case.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "shield/policy.h"

#define POL_MAX_WORDS 15 /* the config's limit for `rule` */
#define POL_MAX_ADDRS 8
#define POL_HDRS 32

typedef struct pol_words {
    char *w[POL_MAX_WORDS];
    size_t n;
} pol_words;

static void pol_words_free(pol_words *ws)
{
    for (size_t i = 0; i < ws->n; i++)
        free(ws->w[i]);
    ws->n = 0;
}

/*
 * The words of the first directive of s[0..len) (no NUL in it), read as
 * src/core/conf.c reads them; *end gets the offset after the ; { or } that
 * ends it (len if none).  With drop_rule, a first word `rule` is dropped.
 * false if the config would refuse the text before bw_policy_add sees it.
 */
static bool pol_split(const char *s, size_t len, bool drop_rule, pol_words *ws, size_t *end)
{
    size_t i = 0;
    bool first = true;
    ws->n = 0;
    for (;;) {
        while (i < len && strchr(" \t\r\n#", s[i])) { /* no NUL in s */
            if (s[i] == '#')
                while (i < len && s[i] != '\n')
                    i++;
            else
                i++;
        }
        if (i >= len) {
            *end = len;
            return true;
        }
        if (s[i] == ';' || s[i] == '{' || s[i] == '}') {
            *end = i + 1;
            return true;
        }
        char *w = malloc(len - i + 1);
        FUZZ_CHECK(w != NULL);
        size_t n = 0;
        if (s[i] == '"') {
            i++;
            while (i < len && s[i] != '"') {
                char c = s[i++];
                if (c == '\\' && i < len) {
                    c = s[i++];
                    if (c != '"' && c != '\\') {
                        free(w);
                        pol_words_free(ws);
                        return false;
                    }
                }
                w[n++] = c;
            }
            if (i >= len) {
                free(w);
                pol_words_free(ws);
                return false;
            }
            i++;
        } else {
            while (i < len && !strchr(" \t\r\n;{}#\"", s[i]))
                w[n++] = s[i++];
        }
        w[n] = '\0';
        if (first && drop_rule && strcmp(w, "rule") == 0) {
            free(w);
        } else if (ws->n == POL_MAX_WORDS) {
            free(w);
            pol_words_free(ws);
            return false;
        } else {
            ws->w[ws->n++] = w;
        }
        first = false;
    }
}

/* ---- requests, addresses, countries --------------------------------------------- */

typedef struct pol_reqs {
    bw_http_request req[3];
    bw_http_header hdrs[3][POL_HDRS];
    size_t n;
} pol_reqs;

static const char pol_fixed_text[] = "GET /index.html?a=1 HTTP/1.1\r\n"
                                     "Host: Example.COM.:8080\r\n"
                                     "User-Agent: curl/8.0\r\n"
                                     "Cookie: session=abc; x=1\r\n"
                                     "\r\n";

static void pol_parse_into(pol_reqs *rs, const char *buf, size_t len)
{
    size_t k = rs->n;
    int r = bw_http_parse_request(buf, len, NULL, &rs->req[k], rs->hdrs[k], POL_HDRS);
    if (r > 0)
        rs->n++;
}

static bw_str pol_trim(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    return bw_str_make(s, (size_t)(e - s));
}

/* A request no parser would hand out, for the matcher's sake: line 1 is
 * "METHOD PATH[?QUERY]", line 2 the host, further lines "NAME: VALUE". */
static void pol_loose_into(pol_reqs *rs, const char *buf, size_t len)
{
    bw_http_request *q = &rs->req[rs->n];
    bw_http_header *h = rs->hdrs[rs->n];
    memset(q, 0, sizeof(*q));
    q->headers = h;
    const char *p = buf, *end = buf + len;
    for (unsigned line = 0; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (line == 0) {
            const char *sp = memchr(p, ' ', (size_t)(e - p));
            q->method = bw_str_make(p, (size_t)((sp ? sp : e) - p));
            if (sp) {
                const char *qm = memchr(sp + 1, '?', (size_t)(e - sp - 1));
                q->path = bw_str_make(sp + 1, (size_t)((qm ? qm : e) - sp - 1));
                if (qm)
                    q->query = bw_str_make(qm + 1, (size_t)(e - qm - 1));
            }
        } else if (line == 1) {
            q->host = bw_str_make(p, (size_t)(e - p));
        } else if (q->nheaders < POL_HDRS) {
            const char *colon = memchr(p, ':', (size_t)(e - p));
            if (colon) {
                h[q->nheaders].name = bw_str_make(p, (size_t)(colon - p));
                h[q->nheaders].value = pol_trim(colon + 1, e);
                q->nheaders++;
            }
        }
        p = nl ? nl + 1 : end;
    }
    rs->n++;
}

typedef struct pol_addr {
    int family;
    uint8_t a[16];
} pol_addr;

typedef struct pol_addrs {
    pol_addr a[POL_MAX_ADDRS];
    size_t n;
} pol_addrs;

static void pol_addr_add(pol_addrs *as, int family, const uint8_t *a)
{
    if (as->n == POL_MAX_ADDRS)
        return;
    pol_addr *x = &as->a[as->n++];
    memset(x, 0, sizeof(*x));
    x->family = family;
    memcpy(x->a, a, family == AF_INET ? 4 : 16);
}

/* The first address of each ip= list of the rule, and one just beside it. */
static void pol_addrs_from_rule(pol_addrs *as, const pol_words *ws)
{
    for (size_t i = 1; i < ws->n; i++) {
        const char *w = ws->w[i];
        const char *v = strncmp(w, "ip=", 3) == 0    ? w + 3
                        : strncmp(w, "ip!=", 4) == 0 ? w + 4
                                                     : NULL;
        if (!v)
            continue;
        char buf[INET6_ADDRSTRLEN + 8];
        size_t l = strcspn(v, ",/");
        if (l >= sizeof(buf))
            continue;
        memcpy(buf, v, l);
        buf[l] = '\0';
        uint8_t a[16];
        int family = strchr(buf, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, buf, a) != 1)
            continue;
        pol_addr_add(as, family, a);
        a[family == AF_INET ? 3 : 15] ^= 1;
        pol_addr_add(as, family, a);
    }
}

/* A country code of the rule (the first of a country= list), or NULL. */
static const char *pol_country_from_rule(const pol_words *ws, char out[3])
{
    for (size_t i = 1; i < ws->n; i++) {
        const char *w = ws->w[i];
        const char *v = strncmp(w, "country=", 8) == 0    ? w + 8
                        : strncmp(w, "country!=", 9) == 0 ? w + 9
                                                          : NULL;
        if (v && v[0] && v[1] && (v[2] == '\0' || v[2] == ',')) {
            out[0] = v[0], out[1] = v[1], out[2] = '\0';
            return out;
        }
    }
    return NULL;
}

static bool pol_has_country(const pol_words *ws)
{
    for (size_t i = 1; i < ws->n; i++)
        if (strncmp(ws->w[i], "country=", 8) == 0 || strncmp(ws->w[i], "country!=", 9) == 0)
            return true;
    return false;
}

/* ---- match checks -------------------------------------------------------------- */

/* What the harness knows of each rule in the policy. */
typedef struct pol_expect {
    const char *action[2]; /* action word of rule 0 and 1 */
    size_t count;
    bool twins;            /* rules 0 and 1 are the same rule */
} pol_expect;

static int pol_first(const bw_policy *p, const bw_policy_req *r)
{
    bw_policy_rule_info info;
    return bw_policy_match(p, r, &info) ? (int)info.index : -1;
}

static void pol_check_info(const bw_policy_rule_info *info, const pol_expect *ex)
{
    FUZZ_CHECK(info->index < ex->count);
    FUZZ_CHECK(strcmp(bw_policy_action_name(info->action), ex->action[info->index]) == 0);
    if (info->action == BW_POL_RATE_LIMIT) {
        FUZZ_CHECK(info->rate >= 1.0 / 3600 - 1e-12 && info->rate <= 1000000);
        FUZZ_CHECK(info->burst <= 1000000);
        FUZZ_CHECK(info->key_kind >= BW_POL_KEY_IP && info->key_kind <= BW_POL_KEY_COOKIE);
        bool named = info->key_kind == BW_POL_KEY_HEADER || info->key_kind == BW_POL_KEY_COOKIE;
        FUZZ_CHECK(named == (info->key_name.len > 0));
    } else {
        FUZZ_CHECK(info->rate == 0 && info->burst == 0 && info->key_kind == BW_POL_KEY_IP &&
                   info->key_name.len == 0);
    }
}

/* Returns the first matching rule's index, or -1. */
static int pol_check_match(const bw_policy *p, const bw_policy_req *r, const pol_expect *ex)
{
    bw_policy_rule_info a, b;
    memset(&a, 0xa5, sizeof(a));
    bool m = bw_policy_match(p, r, &a);
    FUZZ_CHECK(bw_policy_match(p, r, NULL) == m);
    FUZZ_CHECK(!bw_policy_match_from(p, r, (unsigned)ex->count, &b));
    FUZZ_CHECK(!bw_policy_match_from(p, r, UINT_MAX, &b));
    if (!m) {
        for (size_t j = 0; j < ex->count; j++)
            FUZZ_CHECK(!bw_policy_match_from(p, r, (unsigned)j, &b));
        return -1;
    }
    pol_check_info(&a, ex);
    if (ex->twins)
        FUZZ_CHECK(a.index == 0); /* rule 1 is rule 0 again: never first */
    for (unsigned j = 0; j <= a.index; j++) {
        FUZZ_CHECK(bw_policy_match_from(p, r, j, &b));
        FUZZ_CHECK(b.index == a.index && b.action == a.action && b.rate == a.rate &&
                   b.burst == a.burst && b.key_kind == a.key_kind);
    }
    if (bw_policy_match_from(p, r, a.index + 1, &b)) {
        FUZZ_CHECK(b.index > a.index);
        pol_check_info(&b, ex);
    } else {
        FUZZ_CHECK(!ex->twins || a.index != 0); /* the twin holds too */
    }
    return (int)a.index;
}

static char pol_flip(char c)
{
    if (c >= 'a' && c <= 'z')
        return (char)(c - 32);
    if (c >= 'A' && c <= 'Z')
        return (char)(c + 32);
    return c;
}

static bool pol_hex(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static bool pol_unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* r's request with v's path, host, method or headers: the first match must
 * not change. */
static void pol_same(const bw_policy *p, const bw_policy_req *r, const bw_http_request *v, int base)
{
    bw_policy_req rv = *r;
    rv.req = v;
    FUZZ_CHECK(pol_first(p, &rv) == base);
}

/*
 * Spellings of the same request that docs/POLICY.md says every rule treats
 * alike: the path with "/.", "/" or "/zz/.." in front, with an unreserved
 * character percent-encoded, with the hex digits of its escapes in the other
 * case (the path's normal form); the host with a port or a trailing dot
 * (host compares without them); method, host and header names in the other
 * case (compared case-insensitively; cookie and header values are left
 * alone).
 */
static void pol_check_spellings(const bw_policy *p, const bw_policy_req *r)
{
    const bw_http_request *q = r->req;
    if (!q)
        return;
    int base = pol_first(p, r);
    bw_http_request v;
    size_t n = q->path.len;
    if (n && q->path.p[0] == '/' && n + 16 < 16384) { /* policy.c matches longer ones as is */
        char *buf = malloc(n + 16);
        FUZZ_CHECK(buf != NULL);
        static const char *const pre[3] = {"/.", "/", "/zz/.."};
        for (int i = 0; i < 3; i++) {
            size_t pl = strlen(pre[i]);
            memcpy(buf, pre[i], pl);
            memcpy(buf + pl, q->path.p, n);
            v = *q;
            v.path = bw_str_make(buf, pl + n);
            pol_same(p, r, &v, base);
        }
        /* Escapes read as policy.c reads them: '%' and two hex digits. */
        memcpy(buf, q->path.p, n);
        size_t enc = 0;
        bool flipped = false;
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == '%' && i + 2 < n && pol_hex(buf[i + 1]) && pol_hex(buf[i + 2])) {
                flipped |= pol_flip(buf[i + 1]) != buf[i + 1] || pol_flip(buf[i + 2]) != buf[i + 2];
                buf[i + 1] = pol_flip(buf[i + 1]);
                buf[i + 2] = pol_flip(buf[i + 2]);
                i += 2;
            } else if (!enc && pol_unreserved(buf[i])) {
                enc = i + 1;
            }
        }
        v = *q;
        v.path = bw_str_make(buf, n);
        if (flipped)
            pol_same(p, r, &v, base);
        if (enc--) {
            static const char hex[] = "0123456789abcdef";
            unsigned char c = (unsigned char)q->path.p[enc];
            memcpy(buf, q->path.p, enc);
            buf[enc] = '%';
            buf[enc + 1] = hex[c >> 4];
            buf[enc + 2] = hex[c & 15];
            memcpy(buf + enc + 3, q->path.p + enc + 1, n - enc - 1);
            v.path = bw_str_make(buf, n + 2);
            pol_same(p, r, &v, base);
        }
        free(buf);
    }

    bw_str h = q->host;
    if (h.len && h.p[0] != '[' && !memchr(h.p, ':', h.len)) {
        char *buf = malloc(h.len + 8);
        FUZZ_CHECK(buf != NULL);
        memcpy(buf, h.p, h.len);
        memcpy(buf + h.len, ":8080", 5);
        v = *q;
        v.host = bw_str_make(buf, h.len + 5);
        pol_same(p, r, &v, base);
        if (h.p[h.len - 1] != '.') {
            buf[h.len] = '.';
            v.host = bw_str_make(buf, h.len + 1);
            pol_same(p, r, &v, base);
            memcpy(buf + h.len + 1, ":443", 4);
            v.host = bw_str_make(buf, h.len + 5);
            pol_same(p, r, &v, base);
        }
        free(buf);
    }

    size_t total = q->method.len + q->host.len;
    for (size_t i = 0; i < q->nheaders; i++)
        total += q->headers[i].name.len;
    char *buf = malloc(total + 1);
    bw_http_header *hdrs = malloc((q->nheaders + 1) * sizeof(*hdrs));
    FUZZ_CHECK(buf != NULL && hdrs != NULL);
    char *o = buf;
    v = *q;
    bw_str *fields[2] = {&v.method, &v.host};
    for (int f = 0; f < 2; f++) {
        for (size_t i = 0; i < fields[f]->len; i++)
            o[i] = pol_flip(fields[f]->p[i]);
        *fields[f] = bw_str_make(fields[f]->len ? o : NULL, fields[f]->len);
        o += fields[f]->len;
    }
    for (size_t k = 0; k < q->nheaders; k++) {
        hdrs[k] = q->headers[k];
        for (size_t i = 0; i < hdrs[k].name.len; i++)
            o[i] = pol_flip(hdrs[k].name.p[i]);
        hdrs[k].name = bw_str_make(o, hdrs[k].name.len);
        o += hdrs[k].name.len;
    }
    v.headers = hdrs;
    pol_same(p, r, &v, base);
    free(hdrs);
    free(buf);
}

static void pol_match_all(const bw_policy *p, const pol_expect *ex, const pol_reqs *rs,
                          const pol_addrs *as, const char *rule_cc)
{
    const char *countries[5] = {NULL, "cN", "CNX", "CN", rule_cc};
    size_t ncc = rule_cc ? 5 : 4;
    for (size_t q = 0; q <= rs->n; q++) {
        bw_policy_req r;
        memset(&r, 0, sizeof(r));
        r.req = q < rs->n ? &rs->req[q] : NULL;
        for (size_t i = 0; i < as->n; i++) {
            r.family = as->a[i].family;
            memcpy(r.addr, as->a[i].a, sizeof(r.addr));
            for (size_t c = 0; c < ncc; c++) {
                r.country = countries[c];
                int first = pol_check_match(p, &r, ex);
                /* The rule's own addresses (or the input's) come first: the
                 * path, host and headers are looked at when those match. */
                if (i < 2 && (c == 0 || c == ncc - 1))
                    pol_check_spellings(p, &r);
                if (r.country && strlen(r.country) == 2) { /* the code in either case */
                    char other[3] = {r.country[0], r.country[1], '\0'};
                    for (int k = 0; k < 2; k++)
                        other[k] = (char)(other[k] >= 'a' && other[k] <= 'z' ? other[k] - 32
                                          : other[k] >= 'A' && other[k] <= 'Z' ? other[k] + 32
                                                                               : other[k]);
                    bw_policy_req r2 = r;
                    r2.country = other;
                    FUZZ_CHECK(pol_first(p, &r2) == first);
                }
                if (r.family == AF_INET) { /* ::ffff:a.b.c.d is a.b.c.d */
                    bw_policy_req r6 = r;
                    r6.family = AF_INET6;
                    memset(r6.addr, 0, 10);
                    r6.addr[10] = r6.addr[11] = 0xff;
                    memcpy(r6.addr + 12, r.addr, 4);
                    FUZZ_CHECK(pol_check_match(p, &r6, ex) == first);
                }
            }
        }
    }
}

/* ---- the harness --------------------------------------------------------------- */

/* Refused: err says so, and the policy is as if nothing had been tried. */
static void pol_check_refusal(bw_policy *p, const char *err, size_t errlen)
{
    FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
    FUZZ_CHECK(strncmp(err, "rule:", 5) == 0 && strlen(err) > 5);
    FUZZ_CHECK(bw_policy_count(p) == 0 && !bw_policy_needs_geoip(p));
    char d[8] = "x";
    FUZZ_CHECK(bw_policy_describe(p, 0, d, sizeof(d)) == 0 && d[0] == '\0');
    bw_policy_req r;
    memset(&r, 0, sizeof(r));
    r.family = AF_INET;
    FUZZ_CHECK(!bw_policy_match(p, &r, NULL));
    char *next[] = {"log-only", "path=*"};
    char err2[256] = "";
    FUZZ_CHECK(bw_policy_add(p, next, 2, err2, sizeof(err2)) == 0);
    FUZZ_CHECK(bw_policy_count(p) == 1 && !bw_policy_needs_geoip(p));
    FUZZ_CHECK(bw_policy_describe(p, 0, d, sizeof(d)) == 15 && strcmp(d, "log-onl") == 0);
    bw_policy_rule_info info;
    FUZZ_CHECK(bw_policy_match(p, &r, &info) && info.index == 0 && info.action == BW_POL_LOG);
}

/* Accepted as rule 0: describe, re-read, add again as rule 1.  Returns the
 * text (malloc'd). */
static char *pol_check_round_trip(bw_policy *p, const pol_words *ws)
{
    size_t len = bw_policy_describe(p, 0, NULL, 0);
    FUZZ_CHECK(len > 0);
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL);
    memset(text, 'x', len + 1);
    FUZZ_CHECK(bw_policy_describe(p, 0, text, len + 1) == len && strlen(text) == len);
    size_t cap = 1 + (len > 1 ? (size_t)text[0] % len : 0);
    char *part = malloc(cap);
    FUZZ_CHECK(part != NULL);
    FUZZ_CHECK(bw_policy_describe(p, 0, part, cap) == len);
    FUZZ_CHECK(strlen(part) == cap - 1 && memcmp(part, text, cap - 1) == 0);
    free(part);
    char none[4] = "x";
    FUZZ_CHECK(bw_policy_describe(p, 1, none, sizeof(none)) == 0 && none[0] == '\0');

    pol_words again;
    size_t end;
    FUZZ_CHECK(pol_split(text, len, false, &again, &end));
    FUZZ_CHECK(end == len && again.n == ws->n);
    for (size_t i = 0; i < ws->n; i++)
        FUZZ_CHECK(strcmp(again.w[i], ws->w[i]) == 0);
    char err[256] = "";
    FUZZ_CHECK(bw_policy_add(p, again.w, again.n, err, sizeof(err)) == 0);
    pol_words_free(&again);
    FUZZ_CHECK(bw_policy_count(p) == 2);
    char *text2 = malloc(len + 1);
    FUZZ_CHECK(text2 != NULL);
    FUZZ_CHECK(bw_policy_describe(p, 1, text2, len + 1) == len && strcmp(text2, text) == 0);
    free(text2);
    return text;
}

int fuzz_policy_one(const uint8_t *data, size_t len)
{
    if (memchr(data, '\0', len))
        return 0;
    const char *in = (const char *)data;
    pol_words ws;
    size_t end;
    if (!pol_split(in, len, true, &ws, &end))
        return 0;

    bw_policy *p = bw_policy_new();
    FUZZ_CHECK(p != NULL);
    char err[256];
    memset(err, 'x', sizeof(err));
    int rc = bw_policy_add(p, ws.w, ws.n, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);

    /* The same words with a tiny message buffer: the same answer. */
    bw_policy *tiny = bw_policy_new();
    FUZZ_CHECK(tiny != NULL);
    char small[6];
    memset(small, 'x', sizeof(small));
    FUZZ_CHECK(bw_policy_add(tiny, ws.w, ws.n, small, sizeof(small)) == rc);
    if (rc < 0)
        FUZZ_CHECK(strcmp(small, "rule:") == 0);
    bw_policy_free(tiny);

    /* Kept from the words (which bw_policy_add copied) before freeing them. */
    pol_addrs as = {.n = 0};
    pol_addrs_from_rule(&as, &ws);
    char ccbuf[3];
    const char *rule_cc = pol_country_from_rule(&ws, ccbuf);
    char action[16];
    snprintf(action, sizeof(action), "%s", ws.n ? ws.w[0] : "");
    bool geo = pol_has_country(&ws);

    pol_expect ex = {.count = 1, .twins = false};
    char *text = NULL;
    if (rc < 0) {
        pol_check_refusal(p, err, sizeof(err));
        ex.action[0] = "log-only";
    } else {
        FUZZ_CHECK(bw_policy_count(p) == 1);
        FUZZ_CHECK(bw_policy_needs_geoip(p) == geo);
        text = pol_check_round_trip(p, &ws);
        FUZZ_CHECK(strncmp(text, action, strlen(action)) == 0);
        ex.action[0] = ex.action[1] = action;
        ex.count = 2;
        ex.twins = true;
    }
    pol_words_free(&ws); /* the policy holds its own copies */

    /* Requests: the rest of the input if it parses, else a fixed one and the
     * rest cut up loosely (and none at all, in pol_match_all). */
    pol_reqs *rs = calloc(1, sizeof(*rs));
    FUZZ_CHECK(rs != NULL);
    size_t rlen = len - end;
    char *rest = fuzz_copy(data + end, rlen);
    pol_parse_into(rs, rest, rlen);
    if (rs->n == 0) {
        pol_parse_into(rs, pol_fixed_text, sizeof(pol_fixed_text) - 1);
        FUZZ_CHECK(rs->n == 1);
        pol_loose_into(rs, rest, rlen);
    }

    /* Addresses: the rule's, two from the input, fixed ones. */
    uint64_t h = BW_FNV_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = (h ^ data[i]) * BW_FNV_PRIME;
    uint8_t a[16];
    for (int i = 0; i < 16; i++)
        a[i] = (uint8_t)(h >> (8 * (i % 8)) ^ (uint64_t)i);
    pol_addr_add(&as, AF_INET, a);
    pol_addr_add(&as, AF_INET6, a);
    static const uint8_t v4[4] = {192, 0, 2, 1};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    pol_addr_add(&as, AF_INET, v4);
    pol_addr_add(&as, AF_INET6, v6);

    pol_match_all(p, &ex, rs, &as, rule_cc);

    free(rest);
    free(rs);
    free(text);
    bw_policy_free(p);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_policy_one(data, len);
}
#endif
