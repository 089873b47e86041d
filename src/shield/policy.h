/*
 * policy.h - the operator's rules of one site: an ordered list of
 * `rule ACTION [OPTIONS] CONDITION...;` directives (docs/POLICY.md), parsed
 * at config time, matched against every request.
 *
 * The config parser hands each `rule` directive's words to bw_policy_add
 * (quoting already undone).  bw_policy_match finds the first rule whose
 * conditions all hold; what the action then does (answer 403, a challenge,
 * count a rate, ...) is the shield's business, not this module's.  This
 * module needs no GeoIP itself: the caller looks the country up (only when
 * bw_policy_needs_geoip says a rule asks for it) and passes it in.
 *
 * Memory: a bw_policy owns everything its rules point to (one arena, freed
 * by bw_policy_free); it is built once and then only read, so any number of
 * workers may match against it concurrently.  Matching allocates nothing and
 * makes no syscall; it costs O(rules x conditions), each condition a compare
 * or a glob over one request field.
 */
#ifndef BW_SHIELD_POLICY_H
#define BW_SHIELD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "http/parser.h"

typedef enum bw_policy_action {
    BW_POL_ALLOW,      /* skip the shield's other checks */
    BW_POL_BLOCK,      /* 403 */
    BW_POL_CHALLENGE,  /* cookie challenge */
    BW_POL_POW,        /* proof-of-work challenge */
    BW_POL_RATE_LIMIT, /* count against rate/burst per key; 429 beyond */
    BW_POL_TARPIT,     /* hold, then close */
    BW_POL_LOG,        /* log-only: record the match, change nothing */
} bw_policy_action;

/* What a rate-limit rule counts by (key=...). */
typedef enum bw_policy_key {
    BW_POL_KEY_IP,     /* the client address (default) */
    BW_POL_KEY_PREFIX, /* its /24 (IPv4) or /64 (IPv6) */
    BW_POL_KEY_FP,     /* the client's fingerprint */
    BW_POL_KEY_HEADER, /* a header's value (key_name) */
    BW_POL_KEY_COOKIE, /* a cookie's value (key_name) */
} bw_policy_key;

typedef struct bw_policy bw_policy;

bw_policy *bw_policy_new(void);
void bw_policy_free(bw_policy *p); /* NULL is fine */

/*
 * Parse one `rule` directive's words (args[0] is the action) and append the
 * rule.  0, or -1 with a message in err naming the offending word, e.g.
 * "rule: unknown field 'paht' in 'paht=/x' (path, method, host, query, ip,
 * country, header:NAME, cookie:NAME)"; the policy is unchanged on error.
 * The words are copied: args may be freed afterwards.
 */
int bw_policy_add(bw_policy *p, char *const *args, size_t nargs, char *err, size_t errlen);

size_t bw_policy_count(const bw_policy *p);

/* True if some rule has a country condition (the caller then needs a GeoIP
 * database and a lookup per request that reaches such a rule). */
bool bw_policy_needs_geoip(const bw_policy *p);

typedef struct bw_policy_req {
    const bw_http_request *req;   /* method, path, query, host, headers; NULL: all empty/absent */
    int family;                   /* AF_INET (addr[0..3]) or AF_INET6; ::ffff:a.b.c.d counts as IPv4 */
    uint8_t addr[16];             /* client address */
    const char *country;          /* "CN", or NULL if unknown / no GeoIP */
} bw_policy_req;

typedef struct bw_policy_rule_info {
    bw_policy_action action;
    unsigned index;   /* 0-based rule number (the order of the config) */
    double rate;      /* rate-limit: requests per second (rate=10/m -> 0.1667) */
    unsigned burst;   /* rate-limit: burst=N, 0 if not given */
    int key_kind;     /* rate-limit: bw_policy_key */
    bw_str key_name;  /* BW_POL_KEY_HEADER/COOKIE: the name (points into the policy) */
} bw_policy_rule_info;

/* The first rule whose conditions all hold, or false if none.  No
 * allocation, no syscall. */
bool bw_policy_match(const bw_policy *p, const bw_policy_req *r, bw_policy_rule_info *out);

/* The same, starting at rule `from`: after a rule that does not end the
 * evaluation (log-only, a rate-limit within its rate, a challenge the
 * client has passed), the shield goes on with match_from(info.index + 1). */
bool bw_policy_match_from(const bw_policy *p, const bw_policy_req *r, unsigned from,
                          bw_policy_rule_info *out);

/*
 * One line describing rule i (for logs and the admin API), the rule as it
 * would be written in the config without `rule` and `;`, e.g.
 * "block path=/register* country!=CN"; words that need it are quoted the
 * config's way.  snprintf's convention: the length of the whole line is
 * returned, out (if cap > 0) always NUL-terminated; an i out of range gives "".
 */
size_t bw_policy_describe(const bw_policy *p, unsigned i, char *out, size_t cap);

/* The action's config word ("rate-limit", "log-only", ...). */
const char *bw_policy_action_name(bw_policy_action a);

/* The normal form of an origin-form path, as rules compare paths (out has
 * room for n + 2 bytes; returns its length): escapes of unreserved
 * characters decoded, empty and "." segments dropped, ".." resolved. */
size_t bw_policy_path_norm(const char *path, size_t n, char *out);

#endif
