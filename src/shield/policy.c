/*
 * policy.c - operator rules: parsing `rule` directives and matching requests
 * against them (see policy.h, docs/POLICY.md).
 *
 * A rule is its action, the rate-limit options, and a list of conditions;
 * each condition is one word FIELD OP VALUE, parsed once into a field id,
 * an operator and a ready-to-use value (a glob pattern, a list of CIDRs or
 * country codes).  Everything a policy points to lives in its arena, so
 * freeing it is one walk over a few chunks.
 *
 * Matching walks the rules in order and stops at the first whose conditions
 * all hold.  `=` is a glob where `*` stands for any run of bytes: the
 * pattern is split at its stars, the parts before the first and after the
 * last star must be the subject's prefix and suffix, and the parts between
 * are found left to right (leftmost match is always right for `*`-only
 * globs), so a match costs a few substring searches, never backtracking.
 *
 * Paths are compared in a normal form, so that a rule on /register* also
 * holds for /%72egister, //register and /x/../register, which origins take
 * for the same resource: percent-encoded unreserved characters decoded, the
 * other escapes' hex digits upper-cased, empty and "." segments dropped,
 * ".." segments applied (RFC 3986 6.2.2, plus merged slashes as nginx does).
 * Path patterns get the same treatment when they are parsed.
 */
#include "shield/policy.h"

#include <arpa/inet.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- arena ---------------------------------------------------------------- */

typedef struct pol_chunk {
    struct pol_chunk *next;
    size_t used, cap;
    max_align_t data[];
} pol_chunk;

#define POL_CHUNK_MIN 4096

/* ---- rules ------------------------------------------------------------------ */

enum pol_field { F_PATH, F_METHOD, F_HOST, F_QUERY, F_IP, F_COUNTRY, F_HEADER, F_COOKIE };
enum pol_op { OP_EQ, OP_NE, OP_SUB, OP_NSUB };

typedef struct pol_cidr {
    int family;    /* AF_INET or AF_INET6 */
    unsigned bits; /* prefix length */
    uint8_t a[16]; /* network, host bits zero */
} pol_cidr;

typedef struct pol_cond {
    enum pol_field field;
    enum pol_op op;
    bool ci;          /* compare case-insensitively (method, host, header) */
    bool any;         /* country=* : any known country */
    bw_str name;      /* header / cookie name */
    bw_str value;     /* pattern or substring (paths in normal form) */
    size_t n;         /* entries of cidrs or codes */
    pol_cidr *cidrs;  /* ip */
    char *codes;      /* country: n two-letter upper-case codes, packed */
} pol_cond;

typedef struct pol_rule {
    bw_policy_action action;
    double rate;
    unsigned burst;
    int key_kind;
    bw_str key_name;
    pol_cond *conds;
    size_t nconds;
    bw_str *words; /* the rule as written (words[0] is the action), for describe */
    size_t nwords;
} pol_rule;

struct bw_policy {
    pol_rule *rules;
    size_t n, cap;
    bool geoip;
    pol_chunk *arena;
};

static const char *const action_names[] = {
    [BW_POL_ALLOW] = "allow",         [BW_POL_BLOCK] = "block",   [BW_POL_CHALLENGE] = "challenge",
    [BW_POL_POW] = "pow",             [BW_POL_RATE_LIMIT] = "rate-limit",
    [BW_POL_TARPIT] = "tarpit",       [BW_POL_LOG] = "log-only",
};
#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))

#define ACTIONS_HELP "allow, block, challenge, pow, rate-limit, tarpit, log-only"
#define FIELDS_HELP "path, method, host, query, ip, country, header:NAME, cookie:NAME"
#define OPS_HELP "=, !=, ~, !~"
#define RATE_MAX 1000000u
#define BURST_MAX 1000000u

/* The longest path a request can carry (max_request_line's ceiling) plus
 * room for the normal form's slashes; a longer one is matched as is. */
#define PATH_BUF (16384 + 2)

static const struct {
    const char *name;
    enum pol_field field;
} field_names[] = {
    { "path", F_PATH }, { "method", F_METHOD }, { "host", F_HOST },
    { "query", F_QUERY }, { "ip", F_IP },       { "country", F_COUNTRY },
};

bw_policy *bw_policy_new(void)
{
    return calloc(1, sizeof(bw_policy));
}

void bw_policy_free(bw_policy *p)
{
    if (!p)
        return;
    for (pol_chunk *c = p->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(p->rules);
    free(p);
}

static void *arena_alloc(bw_policy *p, size_t size)
{
    const size_t al = alignof(max_align_t);
    size = (size + al - 1) / al * al;
    if (size == 0)
        size = al;
    pol_chunk *c = p->arena;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > POL_CHUNK_MIN ? size : POL_CHUNK_MIN;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = p->arena;
        p->arena = c;
    }
    void *m = (char *)c->data + c->used;
    c->used += size;
    return m;
}

/* A NUL-terminated copy of s[0..len). */
static char *arena_strndup(bw_policy *p, const char *s, size_t len)
{
    char *d = arena_alloc(p, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

size_t bw_policy_count(const bw_policy *p)
{
    return p ? p->n : 0;
}

bool bw_policy_needs_geoip(const bw_policy *p)
{
    return p && p->geoip;
}

const char *bw_policy_action_name(bw_policy_action a)
{
    return (unsigned)a < N_ACTIONS ? action_names[a] : "?";
}

/* ---- parsing helpers --------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char lower(char c)
{
    return bw_ascii_lower(c);
}

static char upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* RFC 9110 tchar: what a header or cookie name may hold. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* Digits only, value <= max.  0 or -1. */
static int parse_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 10)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* ---- path normal form ---------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Percent-escapes of unreserved characters decoded, the others' hex digits
 * upper-cased (RFC 3986 6.2.2.1-2).  out holds at least n bytes; returns
 * the length written (<= n). */
static size_t pct_norm(const char *p, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (p[i] == '%' && i + 2 < n && (h = hexval(p[i + 1])) >= 0 && (l = hexval(p[i + 2])) >= 0) {
            unsigned char c = (unsigned char)(h << 4 | l);
            if (is_unreserved(c)) {
                out[o++] = (char)c;
            } else {
                out[o++] = '%';
                out[o++] = hex[h];
                out[o++] = hex[l];
            }
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    return o;
}

/*
 * The normal form of an origin-form path into out (room for n + 2 bytes):
 * pct_norm'ed segments, empty and "." segments dropped, ".." removing the
 * segment before it (never above the root).  A trailing slash (or a final
 * "." or "..") is kept as a trailing slash.  A path that does not start
 * with '/' (the "*" of OPTIONS) only gets pct_norm.
 */
static size_t path_norm(const char *p, size_t n, char *out)
{
    if (n == 0 || p[0] != '/')
        return pct_norm(p, n, out);
    size_t o = 1, i = 1;
    bool dir = true; /* out ends with a directory's slash, to keep */
    out[0] = '/';
    for (;;) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t s = o;
        o += pct_norm(p + i, j - i, out + o);
        size_t len = o - s;
        if (len == 0 || (len == 1 && out[s] == '.')) {
            o = s;
            dir = true;
        } else if (len == 2 && out[s] == '.' && out[s + 1] == '.') {
            o = s;
            if (o > 1) { /* out[0..o) ends with '/': drop the segment before it */
                o--;
                while (out[o - 1] != '/')
                    o--;
            }
            dir = true;
        } else {
            out[o++] = '/';
            dir = false;
        }
        if (j >= n)
            break;
        i = j + 1;
    }
    return dir ? o : o - 1;
}

/* ---- parsing conditions and options ---------------------------------------------- */

/* "10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1".  0; -1 malformed; -2
 * host bits set (hint gets the network it was probably meant to be). */
static int parse_cidr(const char *s, size_t len, pol_cidr *c, char *hint, size_t hintlen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(c, 0, sizeof(*c));
    c->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(c->family, buf, c->a) != 1)
        return -1;
    unsigned max = c->family == AF_INET6 ? 128 : 32;
    c->bits = max;
    if (slash && parse_uint(slash + 1, strlen(slash + 1), max, &c->bits) < 0)
        return -1;
    if (slash && slash[1] == '0' && slash[2] != '\0')
        return -1; /* "/08": no leading zeros */
    bool host_bits = false;
    for (unsigned b = c->bits; b < max; b++) {
        uint8_t m = (uint8_t)(0x80u >> (b % 8));
        if (c->a[b / 8] & m) {
            host_bits = true;
            c->a[b / 8] &= (uint8_t)~m;
        }
    }
    if (host_bits) {
        char net[INET6_ADDRSTRLEN];
        inet_ntop(c->family, c->a, net, sizeof(net));
        snprintf(hint, hintlen, "%s/%u", net, c->bits);
        return -2;
    }
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (c->family == AF_INET6 && c->bits >= 96 && memcmp(c->a, v4mapped, 12) == 0) {
        c->family = AF_INET; /* ::ffff:10.0.0.0/104 is 10.0.0.0/8: clients are compared as IPv4 */
        memmove(c->a, c->a + 12, 4);
        memset(c->a + 4, 0, 12);
        c->bits -= 96;
    }
    return 0;
}

/* Number of comma-separated items in s (at least 1). */
static size_t count_items(const char *s)
{
    size_t n = 1;
    for (; *s; s++)
        n += *s == ',';
    return n;
}

static int parse_ip_value(bw_policy *p, pol_cond *c, const char *word, const char *v, char *err,
                          size_t errlen)
{
    c->n = 0;
    c->cidrs = arena_alloc(p, count_items(v) * sizeof(pol_cidr));
    if (!c->cidrs)
        return fail(err, errlen, "rule: out of memory");
    for (const char *s = v;;) {
        size_t len = strcspn(s, ",");
        char hint[INET6_ADDRSTRLEN + 8];
        int rc = parse_cidr(s, len, &c->cidrs[c->n], hint, sizeof(hint));
        if (rc == -2)
            return fail(err, errlen, "rule: '%.*s' in '%s' has host bits set (did you mean %s?)",
                        (int)len, s, word, hint);
        if (rc < 0)
            return fail(err, errlen,
                        "rule: bad address or CIDR '%.*s' in '%s' (e.g. 10.0.0.0/8, 192.0.2.1, "
                        "2001:db8::/32)",
                        (int)len, s, word);
        c->n++;
        if (!s[len])
            return 0;
        s += len + 1;
    }
}

static int parse_country_value(bw_policy *p, pol_cond *c, const char *word, const char *v,
                               char *err, size_t errlen)
{
    if (strcmp(v, "*") == 0) {
        c->any = true;
        return 0;
    }
    c->n = 0;
    c->codes = arena_alloc(p, 2 * count_items(v));
    if (!c->codes)
        return fail(err, errlen, "rule: out of memory");
    for (const char *s = v;;) {
        size_t len = strcspn(s, ",");
        bool ok = len == 2;
        for (size_t i = 0; ok && i < 2; i++) {
            char ch = upper(s[i]);
            ok = ch >= 'A' && ch <= 'Z';
            c->codes[2 * c->n + i] = ch;
        }
        if (!ok)
            return fail(err, errlen,
                        "rule: bad country code '%.*s' in '%s' (two-letter ISO 3166 codes: "
                        "country=CN or country=CN,HK; country=* for any known country)",
                        (int)len, s, word);
        c->n++;
        if (!s[len])
            return 0;
        s += len + 1;
    }
}

/* One condition word FIELD OP VALUE (word is the arena's copy). */
static int parse_cond(bw_policy *p, pol_cond *c, const char *word, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    size_t flen = strcspn(word, "=!~");
    const char *opp = word + flen;
    if (*opp == '\0') {
        size_t k = 0;
        while (word[k] >= 'a' && word[k] <= 'z')
            k++;
        bool known = strncmp(word, "header:", 7) == 0 || strncmp(word, "cookie:", 7) == 0;
        for (size_t i = 0; !known && i < sizeof(field_names) / sizeof(field_names[0]); i++)
            known = k && strlen(field_names[i].name) == k && memcmp(word, field_names[i].name, k) == 0;
        if (known)
            return fail(err, errlen, "rule: missing or unknown operator in '%s' (" OPS_HELP ")", word);
        return fail(err, errlen,
                    "rule: '%s' is not a condition FIELD OP VALUE (e.g. path=/login*; fields "
                    FIELDS_HELP "; operators " OPS_HELP ")",
                    word);
    }
    const char *v;
    if (*opp == '=') {
        c->op = OP_EQ;
        v = opp + 1;
    } else if (*opp == '~') {
        c->op = OP_SUB;
        v = opp + 1;
    } else if (opp[1] == '=' || opp[1] == '~') {
        c->op = opp[1] == '=' ? OP_NE : OP_NSUB;
        v = opp + 2;
    } else {
        return fail(err, errlen, "rule: unknown operator '!%.1s' in '%s' (" OPS_HELP ")", opp + 1, word);
    }

    if (flen == 0)
        return fail(err, errlen, "rule: missing field before the operator in '%s' (" FIELDS_HELP ")",
                    word);
    bool found = false;
    if (strncmp(word, "header:", 7) == 0 || strncmp(word, "cookie:", 7) == 0) {
        bool hdr = word[0] == 'h';
        c->field = hdr ? F_HEADER : F_COOKIE;
        c->name = bw_str_make(word + 7, flen - 7);
        if (c->name.len == 0)
            return fail(err, errlen, "rule: missing %s name in '%s' (%s:NAME, e.g. %s)",
                        hdr ? "header" : "cookie", word, hdr ? "header" : "cookie",
                        hdr ? "header:User-Agent~curl" : "cookie:session=*");
        if (!is_token(c->name.p, c->name.len))
            return fail(err, errlen, "rule: bad %s name '%.*s' in '%s'", hdr ? "header" : "cookie",
                        (int)c->name.len, c->name.p, word);
        found = true;
    }
    for (size_t i = 0; !found && i < sizeof(field_names) / sizeof(field_names[0]); i++)
        if (strlen(field_names[i].name) == flen && memcmp(word, field_names[i].name, flen) == 0) {
            c->field = field_names[i].field;
            found = true;
        }
    if (!found)
        return fail(err, errlen, "rule: unknown field '%.*s' in '%s' (" FIELDS_HELP ")", (int)flen, word,
                    word);
    if (*v == '\0')
        return fail(err, errlen, "rule: missing value in '%s' (FIELD OP VALUE; * matches any value)",
                    word);

    c->ci = c->field == F_METHOD || c->field == F_HOST || c->field == F_HEADER;
    c->value = bw_str_cstr(v);
    switch (c->field) {
    case F_IP:
    case F_COUNTRY:
        if (c->op != OP_EQ && c->op != OP_NE)
            return fail(err, errlen,
                        "rule: operator '%s' does not apply to %s in '%s' (ip and country take = and "
                        "!= only)",
                        c->op == OP_SUB ? "~" : "!~", c->field == F_IP ? "ip" : "country", word);
        if (c->field == F_IP)
            return parse_ip_value(p, c, word, v, err, errlen);
        p->geoip = true; /* bw_policy_add undoes it if the rule is refused */
        return parse_country_value(p, c, word, v, err, errlen);
    case F_PATH: {
        char *norm = arena_alloc(p, c->value.len + 2);
        if (!norm)
            return fail(err, errlen, "rule: out of memory");
        size_t n = c->op == OP_EQ || c->op == OP_NE ? path_norm(c->value.p, c->value.len, norm)
                                                    : pct_norm(c->value.p, c->value.len, norm);
        c->value = bw_str_make(norm, n);
        return 0;
    }
    default:
        return 0;
    }
}

enum { O_RATE = 1, O_BURST = 2, O_KEY = 4 }; /* options seen, a bit each */

/* rate=N/s|m|h  burst=N  key=ip|prefix|fp|header:NAME|cookie:NAME.
 * Returns 1 if word is an option (parsed into r), 0 if not, -1 on error. */
static int parse_option(pol_rule *r, const char *word, unsigned *seen, char *err, size_t errlen)
{
    unsigned which;
    const char *v;
    if (strncmp(word, "rate=", 5) == 0) {
        which = O_RATE;
        v = word + 5;
    } else if (strncmp(word, "burst=", 6) == 0) {
        which = O_BURST;
        v = word + 6;
    } else if (strncmp(word, "key=", 4) == 0) {
        which = O_KEY;
        v = word + 4;
    } else {
        return 0;
    }
    if (r->action != BW_POL_RATE_LIMIT)
        return fail(err, errlen, "rule: option '%s' applies to rate-limit only", word);
    if (*seen & which)
        return fail(err, errlen, "rule: option '%s' given twice", word);
    *seen |= which;
    size_t len = strlen(v);
    if (which == O_RATE) {
        const char *slash = strchr(v, '/');
        unsigned n;
        static const struct {
            const char *unit;
            double secs;
        } units[] = { { "s", 1 }, { "m", 60 }, { "h", 3600 } };
        if (slash && parse_uint(v, (size_t)(slash - v), RATE_MAX, &n) == 0 && n > 0)
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (strcmp(slash + 1, units[i].unit) == 0) {
                    r->rate = n / units[i].secs;
                    return 1;
                }
        return fail(err, errlen,
                    "rule: bad rate '%s' in '%s' (N/s, N/m or N/h with N from 1 to %u, e.g. rate=10/s)",
                    v, word, RATE_MAX);
    }
    if (which == O_BURST) {
        if (parse_uint(v, len, BURST_MAX, &r->burst) < 0)
            return fail(err, errlen, "rule: bad burst '%s' in '%s' (a whole number from 0 to %u)", v,
                        word, BURST_MAX);
        return 1;
    }
    if (strcmp(v, "ip") == 0) {
        r->key_kind = BW_POL_KEY_IP;
    } else if (strcmp(v, "prefix") == 0) {
        r->key_kind = BW_POL_KEY_PREFIX;
    } else if (strcmp(v, "fp") == 0) {
        r->key_kind = BW_POL_KEY_FP;
    } else if ((strncmp(v, "header:", 7) == 0 || strncmp(v, "cookie:", 7) == 0) &&
               is_token(v + 7, len - 7)) {
        r->key_kind = v[0] == 'h' ? BW_POL_KEY_HEADER : BW_POL_KEY_COOKIE;
        r->key_name = bw_str_make(v + 7, len - 7);
    } else {
        return fail(err, errlen, "rule: bad key '%s' in '%s' (ip, prefix, fp, header:NAME, cookie:NAME)",
                    v, word);
    }
    return 1;
}

int bw_policy_add(bw_policy *p, char *const *args, size_t nargs, char *err, size_t errlen)
{
    if (nargs == 0 || !args[0])
        return fail(err, errlen, "rule: missing action (" ACTIONS_HELP ")");
    pol_rule r;
    memset(&r, 0, sizeof(r));
    size_t a = 0;
    while (a < N_ACTIONS && strcmp(args[0], action_names[a]) != 0)
        a++;
    if (a == N_ACTIONS)
        return fail(err, errlen, "rule: unknown action '%s' (" ACTIONS_HELP ")", args[0]);
    if (p->n >= (unsigned)-1)
        return fail(err, errlen, "rule: too many rules");
    r.action = (bw_policy_action)a;
    r.key_kind = BW_POL_KEY_IP;
    r.words = arena_alloc(p, nargs * sizeof(bw_str));
    r.conds = arena_alloc(p, nargs * sizeof(pol_cond));
    if (!r.words || !r.conds)
        return fail(err, errlen, "rule: out of memory");
    for (size_t i = 0; i < nargs; i++) {
        char *w = arena_strndup(p, args[i], strlen(args[i]));
        if (!w)
            return fail(err, errlen, "rule: out of memory");
        r.words[i] = bw_str_make(w, strlen(w));
    }
    r.nwords = nargs;

    bool geoip = p->geoip;
    unsigned seen = 0;
    for (size_t i = 1; i < nargs; i++) {
        const char *w = r.words[i].p;
        int rc = parse_option(&r, w, &seen, err, errlen);
        if (rc == 0)
            rc = parse_cond(p, &r.conds[r.nconds++], w, err, errlen);
        if (rc < 0) {
            p->geoip = geoip;
            return -1;
        }
    }
    if (r.action == BW_POL_RATE_LIMIT && !(seen & O_RATE)) {
        p->geoip = geoip;
        return fail(err, errlen, "rule: rate-limit needs rate=N/s, rate=N/m or rate=N/h");
    }

    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        pol_rule *rules = realloc(p->rules, cap * sizeof(*rules));
        if (!rules) {
            p->geoip = geoip;
            return fail(err, errlen, "rule: out of memory");
        }
        p->rules = rules;
        p->cap = cap;
    }
    p->rules[p->n++] = r;
    return 0;
}

/* ---- matching ------------------------------------------------------------------ */

static bool bytes_eq(const char *a, const char *b, size_t n, bool ci)
{
    if (!ci)
        return n == 0 || memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

/* Leftmost occurrence of needle in hay, or NULL. */
static const char *find(const char *hay, size_t hn, const char *needle, size_t nn, bool ci)
{
    if (nn == 0)
        return hay;
    if (nn > hn)
        return NULL;
    if (!ci)
        return memmem(hay, hn, needle, nn);
    char first = lower(needle[0]);
    for (size_t i = 0; i + nn <= hn; i++)
        if (lower(hay[i]) == first && bytes_eq(hay + i + 1, needle + 1, nn - 1, true))
            return hay + i;
    return NULL;
}

/* s matches pat, where '*' is any run of bytes (see the top of the file). */
static bool glob(bw_str pat, bw_str s, bool ci)
{
    const char *star = memchr(pat.p, '*', pat.len);
    if (!star)
        return pat.len == s.len && bytes_eq(pat.p, s.p, s.len, ci);
    size_t head = (size_t)(star - pat.p);
    size_t tail_at = pat.len; /* first byte after the last star */
    while (pat.p[tail_at - 1] != '*')
        tail_at--;
    size_t tail = pat.len - tail_at;
    if (s.len < head + tail || !bytes_eq(pat.p, s.p, head, ci) ||
        !bytes_eq(pat.p + tail_at, s.p + s.len - tail, tail, ci))
        return false;
    const char *h = s.p + head;
    size_t hn = s.len - head - tail;
    for (size_t k = head + 1; k < tail_at;) {
        size_t e = k;
        while (pat.p[e] != '*')
            e++;
        if (e > k) {
            const char *f = find(h, hn, pat.p + k, e - k, ci);
            if (!f)
                return false;
            size_t skip = (size_t)(f - h) + (e - k);
            h += skip;
            hn -= skip;
        }
        k = e + 1;
    }
    return true;
}

static bool negated(const pol_cond *c)
{
    return c->op == OP_NE || c->op == OP_NSUB;
}

/* The positive form of c's test (= or ~) on one value. */
static bool value_holds(const pol_cond *c, bw_str s)
{
    if (!s.p)
        s = bw_str_make("", 0);
    if (c->op == OP_EQ || c->op == OP_NE)
        return glob(c->value, s, c->ci);
    return find(s.p, s.len, c->value.p, c->value.len, c->ci) != NULL;
}

static bool cidr_holds(const pol_cidr *c, int family, const uint8_t *a)
{
    if (c->family != family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->a, a, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t m = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & m) == c->a[full];
}

size_t bw_policy_path_norm(const char *path, size_t n, char *out)
{
    return path_norm(path, n, out);
}

/* Per-request inputs, derived once per match call. */
typedef struct pol_ctx {
    const bw_policy_req *r;
    int family;
    const uint8_t *addr; /* IPv4-mapped IPv6 seen as IPv4 */
    bw_str host;         /* without :port and trailing dot */
    bw_str raw_path;
    bw_str path;         /* normal form, made on first use */
    bool path_done;
    char *path_buf;      /* PATH_BUF bytes */
} pol_ctx;

static bw_str ctx_path(pol_ctx *x)
{
    if (!x->path_done) {
        x->path_done = true;
        x->path = x->raw_path;
        if (x->raw_path.len + 2 <= PATH_BUF)
            x->path = bw_str_make(x->path_buf, path_norm(x->raw_path.p, x->raw_path.len, x->path_buf));
    }
    return x->path;
}

/* Host without ":port" and a trailing dot: "Example.com.:8080" -> "Example.com",
 * "[2001:db8::1]:443" -> "[2001:db8::1]". */
static bw_str host_norm(bw_str h)
{
    size_t n = h.len, i = h.len;
    while (i > 0 && h.p[i - 1] >= '0' && h.p[i - 1] <= '9')
        i--;
    if (i > 0 && h.p[i - 1] == ':') {
        size_t colon = i - 1;
        if (h.p[0] == '[' ? colon > 0 && h.p[colon - 1] == ']' : !memchr(h.p, ':', colon))
            n = colon;
    }
    if (n > 1 && h.p[n - 1] == '.')
        n--;
    return bw_str_make(h.p, n);
}

static bool header_holds(const pol_ctx *x, const pol_cond *c)
{
    const bw_http_request *req = x->r->req;
    if (!req)
        return false;
    for (size_t i = 0; i < req->nheaders; i++)
        if (bw_str_ieq(req->headers[i].name, c->name) && value_holds(c, req->headers[i].value))
            return true;
    return false;
}

static bw_str trim(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return bw_str_make(s, (size_t)(e - s));
}

/* Some cookie named c->name, in any Cookie header ("a=1; b=2"), passes. */
static bool cookie_holds(const pol_ctx *x, const pol_cond *c)
{
    const bw_http_request *req = x->r->req;
    if (!req)
        return false;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!bw_str_ieq_lit(req->headers[i].name, "cookie"))
            continue;
        const char *s = req->headers[i].value.p, *end = s + req->headers[i].value.len;
        while (s && s < end) {
            const char *semi = memchr(s, ';', (size_t)(end - s));
            const char *pe = semi ? semi : end;
            const char *eq = memchr(s, '=', (size_t)(pe - s));
            if (eq && bw_str_eq(trim(s, eq), c->name) && value_holds(c, trim(eq + 1, pe)))
                return true;
            s = semi ? semi + 1 : end;
        }
    }
    return false;
}

static bool country_holds(const pol_ctx *x, const pol_cond *c)
{
    const char *cc = x->r->country;
    if (!cc || !cc[0] || !cc[1] || cc[2])
        return false;
    if (c->any)
        return true;
    char u0 = upper(cc[0]), u1 = upper(cc[1]);
    for (size_t i = 0; i < c->n; i++)
        if (c->codes[2 * i] == u0 && c->codes[2 * i + 1] == u1)
            return true;
    return false;
}

static bool cond_holds(pol_ctx *x, const pol_cond *c)
{
    const bw_http_request *req = x->r->req;
    bool pos;
    switch (c->field) {
    case F_PATH:
        pos = value_holds(c, ctx_path(x));
        break;
    case F_METHOD:
        pos = value_holds(c, req ? req->method : BW_STR_NULL);
        break;
    case F_HOST:
        pos = value_holds(c, x->host);
        break;
    case F_QUERY:
        pos = value_holds(c, req ? req->query : BW_STR_NULL);
        break;
    case F_HEADER:
        pos = header_holds(x, c);
        break;
    case F_COOKIE:
        pos = cookie_holds(x, c);
        break;
    case F_IP:
        pos = false;
        for (size_t i = 0; i < c->n && !pos; i++)
            pos = cidr_holds(&c->cidrs[i], x->family, x->addr);
        break;
    case F_COUNTRY:
        pos = country_holds(x, c);
        break;
    default:
        pos = false;
    }
    return negated(c) ? !pos : pos;
}

bool bw_policy_match_from(const bw_policy *p, const bw_policy_req *r, unsigned from,
                          bw_policy_rule_info *out)
{
    if (!p || from >= p->n)
        return false;
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    char path_buf[PATH_BUF];
    pol_ctx x = { .r = r, .family = r->family, .addr = r->addr, .path_buf = path_buf };
    if (r->family == AF_INET6 && memcmp(r->addr, v4mapped, sizeof(v4mapped)) == 0) {
        x.family = AF_INET;
        x.addr = r->addr + 12;
    }
    if (r->req) {
        x.host = host_norm(r->req->host);
        x.raw_path = r->req->path;
    }
    for (size_t i = from; i < p->n; i++) {
        const pol_rule *rule = &p->rules[i];
        size_t k = 0;
        while (k < rule->nconds && cond_holds(&x, &rule->conds[k]))
            k++;
        if (k < rule->nconds)
            continue;
        if (out) {
            out->action = rule->action;
            out->index = (unsigned)i;
            out->rate = rule->rate;
            out->burst = rule->burst;
            out->key_kind = rule->key_kind;
            out->key_name = rule->key_name;
        }
        return true;
    }
    return false;
}

bool bw_policy_match(const bw_policy *p, const bw_policy_req *r, bw_policy_rule_info *out)
{
    return bw_policy_match_from(p, r, 0, out);
}

/* ---- describe ------------------------------------------------------------------ */

typedef struct pol_out {
    char *p;
    size_t cap, len; /* len counts what would have been written */
} pol_out;

static void put(pol_out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->p[o->len] = c;
    o->len++;
}

/* A word as the config tokenizer reads it back: quoted (with \" and \\)
 * when empty or holding a space or one of ;{}#" . */
static void put_word(pol_out *o, bw_str w)
{
    bool quote = w.len == 0;
    for (size_t i = 0; i < w.len && !quote; i++)
        quote = strchr(" \t\r\n;{}#\"", w.p[i]) != NULL;
    if (quote)
        put(o, '"');
    for (size_t i = 0; i < w.len; i++) {
        if (quote && (w.p[i] == '"' || w.p[i] == '\\'))
            put(o, '\\');
        put(o, w.p[i]);
    }
    if (quote)
        put(o, '"');
}

size_t bw_policy_describe(const bw_policy *p, unsigned i, char *out, size_t cap)
{
    pol_out o = { out, cap, 0 };
    if (p && i < p->n) {
        const pol_rule *r = &p->rules[i];
        for (size_t k = 0; k < r->nwords; k++) {
            if (k)
                put(&o, ' ');
            put_word(&o, r->words[k]);
        }
    }
    if (cap)
        out[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}
