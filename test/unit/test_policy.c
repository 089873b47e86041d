/*
 * test_policy.c - operator rules (shield/policy.c): every kind of parse
 * error names the offending word; every field and operator matches what it
 * should and nothing else (glob edge cases, path normal form, header and
 * cookie presence, CIDR edges for IPv4 and IPv6, country lists); rules are
 * tried in order and the first that holds wins; describe gives back a line
 * that parses to the same rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shield/policy.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Split line at spaces (no quoting; tests with spaces in a word use
 * add_words) and add it as one rule.  Returns bw_policy_add's result. */
static int add(bw_policy *p, const char *line, char *err, size_t errlen)
{
    char buf[1024];
    char *words[64];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        words[n++] = w;
    return bw_policy_add(p, words, n, err, errlen);
}

static void add_ok(bw_policy *p, const char *line)
{
    char err[256] = "";
    int rc = add(p, line, err, sizeof(err));
    if (rc != 0)
        print_error("rule '%s': %s\n", line, err);
    assert_int_equal(rc, 0);
}

/* line must be refused with a message holding each of the given parts. */
static void expect_error(const char *line, const char *part1, const char *part2)
{
    bw_policy *p = bw_policy_new();
    char err[512] = "";
    assert_int_equal(add(p, line, err, sizeof(err)), -1);
    if (!strstr(err, part1) || (part2 && !strstr(err, part2)))
        print_error("rule '%s' gave: %s\n", line, err);
    assert_non_null(strstr(err, part1));
    if (part2)
        assert_non_null(strstr(err, part2));
    assert_int_equal(strncmp(err, "rule: ", 6), 0);
    assert_int_equal(bw_policy_count(p), 0); /* nothing half-added */
    bw_policy_free(p);
}

typedef struct treq {
    bw_http_request req;
    bw_http_header h[16];
    bw_policy_req r;
} treq;

static void mkreq(treq *t, const char *method, const char *path, const char *query, const char *host)
{
    memset(t, 0, sizeof(*t));
    t->req.method = bw_str_cstr(method);
    t->req.path = bw_str_cstr(path);
    t->req.query = bw_str_cstr(query);
    t->req.host = bw_str_cstr(host);
    t->req.headers = t->h;
    t->r.req = &t->req;
    t->r.family = AF_INET;
    t->r.addr[0] = 192, t->r.addr[1] = 0, t->r.addr[2] = 2, t->r.addr[3] = 1;
}

static void hdr(treq *t, const char *name, const char *value)
{
    assert_true(t->req.nheaders < 16);
    t->h[t->req.nheaders].name = bw_str_cstr(name);
    t->h[t->req.nheaders].value = bw_str_cstr(value);
    t->req.nheaders++;
}

static void set_ip(treq *t, const char *ip)
{
    memset(t->r.addr, 0, sizeof(t->r.addr));
    t->r.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(t->r.family, ip, t->r.addr), 1);
}

/* Index of the rule that matches, -1 if none. */
static int match(const bw_policy *p, const treq *t)
{
    bw_policy_rule_info info;
    memset(&info, 0xab, sizeof(info));
    if (!bw_policy_match(p, &t->r, &info))
        return -1;
    return (int)info.index;
}

/* Does the one condition cond hold for t? */
static bool holds(const char *cond, const treq *t)
{
    bw_policy *p = bw_policy_new();
    char line[512];
    snprintf(line, sizeof(line), "block %s", cond);
    add_ok(p, line);
    bool m = match(p, t) == 0;
    bw_policy_free(p);
    return m;
}

#define HOLDS(cond, t) assert_true(holds((cond), (t)))
#define FAILS(cond, t) assert_false(holds((cond), (t)))

/* ---- parse errors ---------------------------------------------------------------- */

static void test_errors_action(void **state)
{
    (void)state;
    expect_error("blok path=/x", "unknown action 'blok'", "allow, block, challenge, pow, rate-limit");
    expect_error("Block", "unknown action 'Block'", NULL);
    bw_policy *p = bw_policy_new();
    char err[256] = "";
    assert_int_equal(bw_policy_add(p, NULL, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing action"));
    bw_policy_free(p);
}

static void test_errors_field(void **state)
{
    (void)state;
    expect_error("block paht=/x", "rule: unknown field 'paht' in 'paht=/x' (path, method, host, query, "
                                  "ip, country, header:NAME, cookie:NAME)",
                 NULL);
    expect_error("block Path=/x", "unknown field 'Path'", NULL);
    expect_error("block =/x", "missing field", "'=/x'");
    expect_error("block /login", "'/login' is not a condition", NULL);
    expect_error("block header:=x", "missing header name in 'header:=x'", NULL);
    expect_error("block cookie:!=*", "missing cookie name in 'cookie:!=*'", NULL);
    expect_error("block header:a/b=1", "bad header name 'a/b'", NULL);
}

static void test_errors_operator(void **state)
{
    (void)state;
    expect_error("block path!/x", "unknown operator '!/' in 'path!/x'", "=, !=, ~, !~");
    expect_error("block path!", "unknown operator '!' in 'path!'", NULL);
    expect_error("block path>5", "operator in 'path>5'", NULL);
    expect_error("block header:X", "operator in 'header:X'", NULL);
    expect_error("block ip~10.", "operator '~' does not apply to ip in 'ip~10.'", NULL);
    expect_error("block country!~C", "operator '!~' does not apply to country", "'country!~C'");
}

static void test_errors_value(void **state)
{
    (void)state;
    expect_error("block path=", "missing value in 'path='", NULL);
    expect_error("block header:X-A!=", "missing value in 'header:X-A!='", NULL);
    expect_error("block query~", "missing value in 'query~'", NULL);
    expect_error("block ip=10.0.0.0/33", "bad address or CIDR '10.0.0.0/33' in 'ip=10.0.0.0/33'", NULL);
    expect_error("block ip=10.0.0.256", "bad address or CIDR '10.0.0.256'", NULL);
    expect_error("block ip=10.0.0.0/", "bad address or CIDR '10.0.0.0/'", NULL);
    expect_error("block ip=10.0.0.0/08", "bad address or CIDR '10.0.0.0/08'", NULL);
    expect_error("block ip=10.0.0.0/x", "bad address or CIDR", NULL);
    expect_error("block ip=2001:db8::/129", "bad address or CIDR '2001:db8::/129'", NULL);
    expect_error("block ip=example.com", "bad address or CIDR 'example.com'", NULL);
    expect_error("block ip=10.0.0.0/8,", "bad address or CIDR '' in 'ip=10.0.0.0/8,'", NULL);
    expect_error("block ip=10.0.0.1/8", "'10.0.0.1/8' in 'ip=10.0.0.1/8' has host bits set",
                 "did you mean 10.0.0.0/8?");
    expect_error("block ip=2001:db8::1/32", "host bits set", "did you mean 2001:db8::/32?");
    expect_error("block country=CHN", "bad country code 'CHN' in 'country=CHN'", NULL);
    expect_error("block country=CN,H1", "bad country code 'H1' in 'country=CN,H1'", NULL);
    expect_error("block country=CN,", "bad country code '' in 'country=CN,'", NULL);
}

static void test_errors_options(void **state)
{
    (void)state;
    expect_error("rate-limit rate=10 path=/x", "bad rate '10' in 'rate=10'", "N/s, N/m or N/h");
    expect_error("rate-limit rate=0/s", "bad rate '0/s'", NULL);
    expect_error("rate-limit rate=10/d", "bad rate '10/d'", NULL);
    expect_error("rate-limit rate=x/s", "bad rate 'x/s'", NULL);
    expect_error("rate-limit rate=/s", "bad rate '/s'", NULL);
    expect_error("rate-limit rate=1000001/s", "bad rate '1000001/s'", NULL);
    expect_error("rate-limit rate=10/s burst=-1", "bad burst '-1' in 'burst=-1'", NULL);
    expect_error("rate-limit rate=10/s burst=", "bad burst '' in 'burst='", NULL);
    expect_error("rate-limit rate=10/s key=asn", "bad key 'asn' in 'key=asn'",
                 "ip, prefix, fp, header:NAME, cookie:NAME");
    expect_error("rate-limit rate=10/s key=header:", "bad key 'header:'", NULL);
    expect_error("rate-limit path=/api/*", "rate-limit needs rate=", NULL);
    expect_error("rate-limit rate=1/s rate=2/s", "option 'rate=2/s' given twice", NULL);
    expect_error("block burst=5 path=/x", "option 'burst=5' applies to rate-limit only", NULL);
    expect_error("challenge rate=5/s", "option 'rate=5/s' applies to rate-limit only", NULL);
}

/* A refused rule leaves the policy as it was. */
static void test_error_leaves_policy(void **state)
{
    (void)state;
    bw_policy *p = bw_policy_new();
    char err[256];
    add_ok(p, "allow ip=10.0.0.0/8");
    assert_int_equal(add(p, "block country=CN path=/x paht=/y", err, sizeof(err)), -1);
    assert_int_equal(bw_policy_count(p), 1);
    assert_false(bw_policy_needs_geoip(p)); /* the refused country rule does not count */
    add_ok(p, "block country=CN");
    assert_int_equal(bw_policy_count(p), 2);
    assert_true(bw_policy_needs_geoip(p));
    assert_int_equal(add(p, "nope", NULL, 0), -1); /* no err buffer: still refused, no crash */
    bw_policy_free(p);
    bw_policy_free(NULL);
}

/* ---- fields and operators -------------------------------------------------------------- */

/* Glob edge cases, on the query (raw, case-sensitive). */
static void test_glob(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *subject;
        bool match;
    } cases[] = {
        { "*", "", true },        { "*", "anything", true }, { "**", "", true },
        { "x", "x", true },       { "x", "X", false },       { "x", "xx", false },
        { "x", "", false },       { "a*", "", false },       { "a*", "a", true },
        { "a*", "abc", true },    { "a*", "ba", false },     { "*b", "b", true },
        { "*b", "aab", true },    { "*b", "ba", false },     { "*b", "", false },
        { "a*b*c", "abc", true }, { "a*b*c", "aXbYc", true }, { "a*b*c", "ac", false },
        { "a*b*c", "ab", false }, { "a*b*c", "abcb", false }, { "a*b*c", "acbc", true },
        { "a*b*c", "bac", false }, { "a*a", "a", false },     { "a*a", "aa", true },
        { "*ab*ab*", "abab", true }, { "*ab*ab*", "aab", false }, { "*ab*ab*", "xabyabz", true },
        { "a**b", "ab", true },   { "*=1*", "x=1&y=2", true }, { "*=1*", "x=2&y=21", false },
    };
    treq t;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mkreq(&t, "GET", "/", cases[i].subject, "a.test");
        char cond[64];
        snprintf(cond, sizeof(cond), "query=%s", cases[i].pat);
        if (holds(cond, &t) != cases[i].match)
            print_error("glob '%s' on '%s': expected %d\n", cases[i].pat, cases[i].subject,
                        cases[i].match);
        assert_int_equal(holds(cond, &t), cases[i].match);
        snprintf(cond, sizeof(cond), "query!=%s", cases[i].pat);
        assert_int_equal(holds(cond, &t), !cases[i].match); /* != is the negation */
    }
}

/* The glob against a plain recursive matcher, on random patterns and
 * subjects over a small alphabet (where the tricky overlaps happen). */
static bool ref_glob(const char *p, const char *s)
{
    if (!*p)
        return !*s;
    if (*p == '*')
        return ref_glob(p + 1, s) || (*s && ref_glob(p, s + 1));
    return *s == *p && ref_glob(p + 1, s + 1);
}

static void test_glob_against_reference(void **state)
{
    (void)state;
    srand(11);
    treq t;
    for (int iter = 0; iter < 20000; iter++) {
        char pat[10], subj[12], cond[24];
        size_t pn = 1 + (size_t)rand() % 7, sn = (size_t)rand() % 10;
        for (size_t i = 0; i < pn; i++)
            pat[i] = "ab*"[rand() % 3];
        pat[pn] = '\0';
        for (size_t i = 0; i < sn; i++)
            subj[i] = "ab"[rand() % 2];
        subj[sn] = '\0';
        mkreq(&t, "GET", "/", subj, "a.test");
        snprintf(cond, sizeof(cond), "query=%s", pat);
        if (holds(cond, &t) != ref_glob(pat, subj))
            print_error("glob '%s' on '%s': reference says %d\n", pat, subj, ref_glob(pat, subj));
        assert_int_equal(holds(cond, &t), ref_glob(pat, subj));
    }
}

/* Paths up to the longest a request line allows are put in normal form;
 * nothing is written past the buffer (the sanitizer build checks). */
static void test_long_path(void **state)
{
    (void)state;
    enum { MAX = 16384 };
    static char path[MAX + 64];
    treq t;
    memset(path, 'a', sizeof(path));
    memcpy(path, "//register/", 11);
    path[MAX] = '\0';
    mkreq(&t, "GET", path, "", "a.test");
    HOLDS("path=/register/a*", &t); /* 16384 bytes: normal form */
    memcpy(path, "/%72egister/", 12);
    path[MAX] = '\0';
    mkreq(&t, "GET", path, "", "a.test");
    HOLDS("path=/register/a*a", &t);
    path[MAX] = 'a';
    path[MAX + 40] = '\0';
    mkreq(&t, "GET", path, "", "a.test"); /* longer than any request can carry: as is */
    HOLDS("path=/*aaaa", &t);
    FAILS("path=/register/*", &t);
}

static void test_path(void **state)
{
    (void)state;
    treq t;
    mkreq(&t, "GET", "/a", "", "a.test");
    HOLDS("path=/a*", &t);
    HOLDS("path=/a", &t);
    FAILS("path=/a/", &t);
    FAILS("path=/a/*", &t);
    HOLDS("path=*", &t);
    mkreq(&t, "GET", "/abc/def.js", "", "a.test");
    HOLDS("path=/a*", &t);
    HOLDS("path=*.js", &t);
    HOLDS("path=/abc/*", &t);
    FAILS("path=/b*", &t);
    FAILS("path=/ABC*", &t); /* case-sensitive */
    HOLDS("path~/def", &t);
    FAILS("path~DEF", &t);
    HOLDS("path!~DEF", &t);
    FAILS("path!~def", &t);
    FAILS("path!=/abc/*", &t);
    HOLDS("path!=/x*", &t);
}

/* A rule on /register* holds for every spelling an origin takes for it. */
static void test_path_normal_form(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        bool match;
    } cases[] = {
        { "/register", true },          { "/register/step2", true },  { "/%72egister", true },
        { "/%72%65gister", true },      { "//register", true },       { "/./register", true },
        { "/x/../register", true },     { "/x/y/../../register", true }, { "/../register", true },
        { "/a/%2e%2e/register", true }, { "/a/%2E./register", true }, { "/Register", false },
        { "/%2fregister", false },      /* an encoded slash is not a separator */
        { "/x/register", false },       { "/registe", false },
    };
    bw_policy *p = bw_policy_new();
    add_ok(p, "block path=/register*");
    treq t;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mkreq(&t, "POST", cases[i].path, "", "a.test");
        if ((match(p, &t) == 0) != cases[i].match)
            print_error("path '%s': expected %d\n", cases[i].path, cases[i].match);
        assert_int_equal(match(p, &t) == 0, cases[i].match);
    }
    bw_policy_free(p);

    /* the normal form keeps what tells paths apart */
    mkreq(&t, "GET", "/a/b/..", "", "a.test"); /* -> "/a/" */
    HOLDS("path=/a/", &t);
    FAILS("path=/a", &t);
    mkreq(&t, "GET", "/a/%7euser/%2f", "", "a.test"); /* -> "/a/~user/%2F" */
    HOLDS("path=/a/~user/%2F", &t);
    HOLDS("path=/a/%7Euser/%2f", &t); /* the pattern is put in the same form */
    HOLDS("path~%2F", &t);
    mkreq(&t, "OPTIONS", "*", "", "a.test");
    HOLDS("path=*", &t);
    FAILS("path=/*", &t);
}

static void test_method_host_query(void **state)
{
    (void)state;
    treq t;
    mkreq(&t, "POST", "/login", "user=bob&q=1%20union%20select", "Shop.Example.COM:8443");
    HOLDS("method=POST", &t);
    HOLDS("method=post", &t); /* methods compare case-insensitively */
    HOLDS("method=P*", &t);
    FAILS("method=GET", &t);
    HOLDS("method!=GET", &t);
    HOLDS("method~os", &t);
    HOLDS("host=shop.example.com", &t); /* case and port ignored */
    HOLDS("host=*.example.com", &t);
    FAILS("host=example.com", &t);
    HOLDS("host~EXAMPLE", &t);
    FAILS("host~8443", &t);
    HOLDS("query~union%20select", &t);
    FAILS("query~UNION%20SELECT", &t); /* queries are case-sensitive */
    char *decoded[] = { "block", "query~union select" }; /* a word the config quoted */
    bw_policy *p = bw_policy_new();
    assert_int_equal(bw_policy_add(p, decoded, 2, NULL, 0), 0);
    assert_int_equal(match(p, &t), -1); /* queries are compared raw, not decoded */
    bw_policy_free(p);
    HOLDS("query=user=bob*", &t);
    HOLDS("query!~drop", &t);

    mkreq(&t, "GET", "/", "", "example.com.");
    HOLDS("host=example.com", &t); /* trailing dot */
    mkreq(&t, "GET", "/", "", "[2001:db8::1]:443");
    HOLDS("host=[2001:db8::1]", &t);
    mkreq(&t, "GET", "/", "", "[2001:db8::1]");
    HOLDS("host=[2001:db8::1]", &t);
    mkreq(&t, "GET", "/", "", "");
    HOLDS("host=*", &t);
    FAILS("host=?*", &t);
    HOLDS("query=*", &t); /* * matches the empty query too */
}

static void test_header(void **state)
{
    (void)state;
    treq t;
    mkreq(&t, "GET", "/", "", "a.test");
    hdr(&t, "User-Agent", "curl/8.1.2");
    hdr(&t, "X-Multi", "one");
    hdr(&t, "x-multi", "two");
    hdr(&t, "X-Empty", "");
    HOLDS("header:User-Agent~curl", &t);
    HOLDS("header:user-agent~CURL", &t); /* name and value case-insensitive */
    HOLDS("header:User-Agent=curl/*", &t);
    FAILS("header:User-Agent=curl", &t);
    HOLDS("header:User-Agent!~wget", &t);
    HOLDS("header:User-Agent=*", &t);   /* present */
    FAILS("header:User-Agent!=*", &t);
    FAILS("header:Accept=*", &t);       /* absent */
    HOLDS("header:Accept!=*", &t);
    FAILS("header:Accept~x", &t);       /* an absent header holds no substring */
    HOLDS("header:Accept!~x", &t);
    HOLDS("header:X-Empty=*", &t);      /* present, even empty */
    FAILS("header:X-Empty!=*", &t);
    FAILS("header:X-Empty~a", &t);
    /* several instances: = holds if one does, != if none does */
    HOLDS("header:X-Multi=one", &t);
    HOLDS("header:X-Multi=two", &t);
    FAILS("header:X-Multi!=two", &t);
    HOLDS("header:X-Multi!=three", &t);
}

static void test_cookie(void **state)
{
    (void)state;
    treq t;
    mkreq(&t, "GET", "/chat", "", "a.test");
    hdr(&t, "Cookie", "a=1;  session = abc123 ;flag; e=");
    hdr(&t, "Accept", "*/*");
    hdr(&t, "cookie", "b=2");
    HOLDS("cookie:session=*", &t);
    HOLDS("cookie:session=abc123", &t); /* spaces around name and value trimmed */
    HOLDS("cookie:session=abc*", &t);
    FAILS("cookie:session=ABC123", &t); /* values are case-sensitive */
    FAILS("cookie:Session=*", &t);      /* and names too */
    FAILS("cookie:session!=*", &t);
    HOLDS("cookie:a=1", &t);
    HOLDS("cookie:b=2", &t);            /* from the second Cookie header */
    FAILS("cookie:b=1", &t);
    FAILS("cookie:sess=*", &t);         /* a name is not a prefix */
    FAILS("cookie:flag=*", &t);         /* a pair without '=' names no cookie */
    HOLDS("cookie:e=*", &t);            /* present with an empty value */
    FAILS("cookie:e!=*", &t);
    HOLDS("cookie:none!=*", &t);
    FAILS("cookie:none=*", &t);
    HOLDS("cookie:session~123", &t);
    HOLDS("cookie:session!~999", &t);

    mkreq(&t, "GET", "/chat", "", "a.test"); /* no Cookie header at all */
    HOLDS("cookie:session!=*", &t);
    FAILS("cookie:session=*", &t);
}

static void test_ip_v4(void **state)
{
    (void)state;
    static const struct {
        const char *cidr, *ip;
        bool match;
    } cases[] = {
        { "10.0.0.0/8", "9.255.255.255", false },  { "10.0.0.0/8", "10.0.0.0", true },
        { "10.0.0.0/8", "10.255.255.255", true },  { "10.0.0.0/8", "11.0.0.0", false },
        { "192.0.2.0/24", "192.0.1.255", false },  { "192.0.2.0/24", "192.0.2.0", true },
        { "192.0.2.0/24", "192.0.2.255", true },   { "192.0.2.0/24", "192.0.3.0", false },
        { "192.0.2.7/32", "192.0.2.7", true },     { "192.0.2.7/32", "192.0.2.6", false },
        { "192.0.2.7/32", "192.0.2.8", false },    { "192.0.2.7", "192.0.2.7", true },
        { "192.0.2.7", "192.0.2.70", false },      { "0.0.0.0/0", "0.0.0.0", true },
        { "0.0.0.0/0", "255.255.255.255", true },  { "0.0.0.0/0", "2001:db8::1", false },
        { "10.128.0.0/9", "10.127.255.255", false }, { "10.128.0.0/9", "10.128.0.0", true },
        { "10.128.0.0/9", "10.255.255.255", true }, { "10.0.0.0/8", "::ffff:10.1.2.3", true },
        { "10.0.0.0/8", "::ffff:11.1.2.3", false }, { "::ffff:10.0.0.0/104", "10.9.9.9", true },
        { "::ffff:10.0.0.0/104", "11.9.9.9", false }, { "10.0.0.0/8", "::a01:203", false },
        { "10.0.0.0/8,192.0.2.0/24", "192.0.2.9", true },
        { "10.0.0.0/8,192.0.2.0/24", "172.16.0.1", false },
    };
    treq t;
    mkreq(&t, "GET", "/", "", "a.test");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_ip(&t, cases[i].ip);
        char cond[128];
        snprintf(cond, sizeof(cond), "ip=%s", cases[i].cidr);
        if (holds(cond, &t) != cases[i].match)
            print_error("%s vs %s: expected %d\n", cond, cases[i].ip, cases[i].match);
        assert_int_equal(holds(cond, &t), cases[i].match);
        snprintf(cond, sizeof(cond), "ip!=%s", cases[i].cidr);
        assert_int_equal(holds(cond, &t), !cases[i].match);
    }
}

static void test_ip_v6(void **state)
{
    (void)state;
    static const struct {
        const char *cidr, *ip;
        bool match;
    } cases[] = {
        { "2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false },
        { "2001:db8::/32", "2001:db8::", true },
        { "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true },
        { "2001:db8::/32", "2001:db9::", false },
        { "2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff", true },
        { "2001:db8:0:1::/64", "2001:db8:0:2::", false },
        { "2001:db8::8000:0/97", "2001:db8::7fff:ffff", false },
        { "2001:db8::8000:0/97", "2001:db8::8000:0", true },
        { "::1/128", "::1", true },                { "::1", "::2", false },
        { "::/0", "::", true },
        { "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true },
        { "::/0", "10.0.0.1", false },             /* v4 clients are not in ::/0 */
        { "::/0", "::ffff:10.0.0.1", false },      /* nor are IPv4-mapped ones */
        { "2001:db8::/32", "10.0.0.1", false },
    };
    treq t;
    mkreq(&t, "GET", "/", "", "a.test");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_ip(&t, cases[i].ip);
        char cond[128];
        snprintf(cond, sizeof(cond), "ip=%s", cases[i].cidr);
        if (holds(cond, &t) != cases[i].match)
            print_error("%s vs %s: expected %d\n", cond, cases[i].ip, cases[i].match);
        assert_int_equal(holds(cond, &t), cases[i].match);
    }
    t.r.family = AF_UNIX; /* not an IP client: in no network, outside all */
    FAILS("ip=0.0.0.0/0", &t);
    HOLDS("ip!=0.0.0.0/0", &t);
}

static void test_country(void **state)
{
    (void)state;
    treq t;
    mkreq(&t, "GET", "/", "", "a.test");
    t.r.country = "CN";
    HOLDS("country=CN", &t);
    HOLDS("country=CN,HK", &t);
    HOLDS("country=hk,cn", &t); /* codes in the rule are case-insensitive */
    FAILS("country!=CN", &t);
    FAILS("country!=HK,CN", &t);
    HOLDS("country!=US", &t);
    HOLDS("country=*", &t);
    FAILS("country!=*", &t);
    t.r.country = "HK";
    HOLDS("country=CN,HK", &t);
    t.r.country = "US";
    FAILS("country=CN,HK", &t);
    HOLDS("country!=CN,HK", &t);
    t.r.country = NULL; /* unknown: in no list, outside every list */
    FAILS("country=CN", &t);
    HOLDS("country!=CN", &t);
    FAILS("country=*", &t);
    HOLDS("country!=*", &t);
    t.r.country = "CHN"; /* not a two-letter code: unknown */
    FAILS("country=CN", &t);

    bw_policy *p = bw_policy_new();
    add_ok(p, "block path=/x ip=10.0.0.0/8 header:A=*");
    assert_false(bw_policy_needs_geoip(p));
    add_ok(p, "block country!=CN");
    assert_true(bw_policy_needs_geoip(p));
    bw_policy_free(p);
}

/* ---- rules -------------------------------------------------------------------------- */

static void test_all_conditions_must_hold(void **state)
{
    (void)state;
    treq t;
    mkreq(&t, "POST", "/login", "", "a.test");
    HOLDS("method=POST path=/login", &t);
    FAILS("method=POST path=/logout", &t);
    FAILS("method=GET path=/login", &t);
    HOLDS("path=/log* path!=/logout*", &t); /* the same field twice */
}

static void test_first_match_wins(void **state)
{
    (void)state;
    bw_policy *p = bw_policy_new();
    add_ok(p, "allow ip=10.0.0.0/8");
    add_ok(p, "block path=/admin*");
    add_ok(p, "challenge method=POST path=/login");
    add_ok(p, "log-only path=/login");
    add_ok(p, "pow cookie:session!=* path=/chat*");
    assert_int_equal(bw_policy_count(p), 5);

    treq t;
    mkreq(&t, "GET", "/admin/users", "", "a.test");
    assert_int_equal(match(p, &t), 1);
    set_ip(&t, "10.1.1.1");
    assert_int_equal(match(p, &t), 0); /* the allow rule comes first */
    mkreq(&t, "POST", "/login", "", "a.test");
    assert_int_equal(match(p, &t), 2);
    mkreq(&t, "GET", "/login", "", "a.test");
    assert_int_equal(match(p, &t), 3);
    mkreq(&t, "GET", "/chat/room", "", "a.test");
    bw_policy_rule_info info;
    assert_true(bw_policy_match(p, &t.r, &info));
    assert_int_equal(info.action, BW_POL_POW);
    assert_int_equal(info.index, 4);
    hdr(&t, "Cookie", "session=1");
    assert_int_equal(match(p, &t), -1); /* nothing holds */

    /* after a log-only match the shield goes on with the next rules */
    mkreq(&t, "POST", "/login", "", "a.test");
    assert_true(bw_policy_match_from(p, &t.r, 3, &info));
    assert_int_equal(info.action, BW_POL_LOG);
    assert_int_equal(info.index, 3);
    assert_false(bw_policy_match_from(p, &t.r, 4, &info));
    assert_false(bw_policy_match_from(p, &t.r, 99, &info));
    bw_policy_free(p);
}

static void test_rule_without_conditions(void **state)
{
    (void)state;
    bw_policy *p = bw_policy_new();
    add_ok(p, "challenge path=/never");
    add_ok(p, "tarpit");
    treq t;
    mkreq(&t, "GET", "/anything", "x=1", "a.test");
    assert_int_equal(match(p, &t), 1);
    bw_policy_req bare = { .req = NULL, .family = AF_INET }; /* no request at all */
    bw_policy_rule_info info;
    assert_true(bw_policy_match(p, &bare, &info));
    assert_int_equal(info.action, BW_POL_TARPIT);
    assert_true(bw_policy_match(p, &bare, NULL)); /* out is optional */
    bw_policy_free(p);

    p = bw_policy_new(); /* an empty policy matches nothing */
    assert_false(bw_policy_match(p, &t.r, &info));
    bw_policy_free(p);
}

static void test_actions_and_rate_options(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        bw_policy_action action;
        double rate;
        unsigned burst;
        int key;
        const char *key_name;
    } cases[] = {
        { "allow", BW_POL_ALLOW, 0, 0, BW_POL_KEY_IP, NULL },
        { "block", BW_POL_BLOCK, 0, 0, BW_POL_KEY_IP, NULL },
        { "challenge", BW_POL_CHALLENGE, 0, 0, BW_POL_KEY_IP, NULL },
        { "pow", BW_POL_POW, 0, 0, BW_POL_KEY_IP, NULL },
        { "tarpit", BW_POL_TARPIT, 0, 0, BW_POL_KEY_IP, NULL },
        { "log-only", BW_POL_LOG, 0, 0, BW_POL_KEY_IP, NULL },
        { "rate-limit rate=10/s burst=20 key=ip path=/api/*", BW_POL_RATE_LIMIT, 10, 20,
          BW_POL_KEY_IP, NULL },
        { "rate-limit rate=30/m", BW_POL_RATE_LIMIT, 0.5, 0, BW_POL_KEY_IP, NULL },
        { "rate-limit rate=7200/h burst=0", BW_POL_RATE_LIMIT, 2, 0, BW_POL_KEY_IP, NULL },
        { "rate-limit key=prefix rate=1/s", BW_POL_RATE_LIMIT, 1, 0, BW_POL_KEY_PREFIX, NULL },
        { "rate-limit rate=1/s key=fp", BW_POL_RATE_LIMIT, 1, 0, BW_POL_KEY_FP, NULL },
        { "rate-limit rate=5/s key=header:X-Api-Key", BW_POL_RATE_LIMIT, 5, 0, BW_POL_KEY_HEADER,
          "X-Api-Key" },
        { "rate-limit rate=5/s burst=1000000 key=cookie:sid", BW_POL_RATE_LIMIT, 5, 1000000,
          BW_POL_KEY_COOKIE, "sid" },
    };
    treq t;
    mkreq(&t, "GET", "/api/v1", "", "a.test");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bw_policy *p = bw_policy_new();
        add_ok(p, cases[i].line);
        bw_policy_rule_info info;
        assert_true(bw_policy_match(p, &t.r, &info));
        assert_int_equal(info.action, cases[i].action);
        assert_int_equal(info.index, 0);
        assert_true(info.rate > cases[i].rate - 1e-9 && info.rate < cases[i].rate + 1e-9);
        assert_int_equal(info.burst, cases[i].burst);
        assert_int_equal(info.key_kind, cases[i].key);
        if (cases[i].key_name)
            assert_true(bw_str_eq(info.key_name, bw_str_cstr(cases[i].key_name)));
        else
            assert_int_equal(info.key_name.len, 0);
        const char *name = bw_policy_action_name(info.action);
        assert_int_equal(strlen(name), strcspn(cases[i].line, " "));
        assert_memory_equal(name, cases[i].line, strlen(name));
        bw_policy_free(p);
    }
}

/* ---- describe ------------------------------------------------------------------------- */

/* Split a line into words the config tokenizer's way: spaces separate,
 * "..." quotes with \" and \\ escapes.  Words land in store. */
static size_t conf_split(const char *line, char *store, char **words, size_t max)
{
    size_t n = 0;
    const char *s = line;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        assert_true(n < max);
        words[n++] = store;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\')
                    s++;
                *store++ = *s;
            }
            assert_int_equal(*s, '"');
            s++;
        } else {
            while (*s && *s != ' ')
                *store++ = *s++;
        }
        *store++ = '\0';
    }
    return n;
}

static void test_describe_round_trip(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "block path=/register* country!=CN",
        "challenge method=POST path=/login",
        "allow ip=10.0.0.0/8,2001:db8::/32",
        "rate-limit rate=10/s burst=20 key=ip path=/api/*",
        "block header:User-Agent~curl",
        "pow cookie:session!=* path=/chat*",
        "log-only query~union%20select",
        "tarpit",
    };
    bw_policy *p = bw_policy_new();
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        add_ok(p, lines[i]);
    /* words the config had to quote */
    char *quoted[] = { "block", "header:User-Agent~Mozilla/5.0 (X11", "path=/a;b#c{d}",
                       "header:X-Q=say \"hi\\\"" };
    char err[256];
    assert_int_equal(bw_policy_add(p, quoted, 4, err, sizeof(err)), 0);

    bw_policy *q = bw_policy_new();
    for (unsigned i = 0; i < bw_policy_count(p); i++) {
        char line[512], again[512], store[512];
        size_t n = bw_policy_describe(p, i, line, sizeof(line));
        assert_int_equal(n, strlen(line));
        if (i < sizeof(lines) / sizeof(lines[0]))
            assert_string_equal(line, lines[i]); /* as written */
        char *words[16];
        size_t nw = conf_split(line, store, words, 16);
        assert_int_equal(bw_policy_add(q, words, nw, err, sizeof(err)), 0);
        bw_policy_describe(q, i, again, sizeof(again));
        assert_string_equal(again, line);
    }
    char line[512];
    bw_policy_describe(p, 8, line, sizeof(line));
    assert_string_equal(line, "block \"header:User-Agent~Mozilla/5.0 (X11\" \"path=/a;b#c{d}\" "
                              "\"header:X-Q=say \\\"hi\\\\\\\"\"");

    /* the re-parsed rules match as the originals do */
    treq t;
    mkreq(&t, "GET", "/a;b#c{d}", "", "a.test");
    hdr(&t, "User-Agent", "Mozilla/5.0 (X11; Linux)");
    hdr(&t, "X-Q", "say \"hi\\\"");
    bw_policy_rule_info info;
    assert_true(bw_policy_match_from(q, &t.r, 8, &info));
    assert_int_equal(info.index, 8);
    assert_true(bw_policy_match_from(p, &t.r, 8, &info));
    t.req.nheaders = 1; /* without X-Q */
    assert_false(bw_policy_match_from(q, &t.r, 8, &info));

    /* snprintf's convention */
    char small[8];
    size_t full = bw_policy_describe(p, 0, small, sizeof(small));
    assert_int_equal(full, strlen(lines[0]));
    assert_string_equal(small, "block p");
    assert_int_equal(bw_policy_describe(p, 0, NULL, 0), full);
    assert_int_equal(bw_policy_describe(p, 99, line, sizeof(line)), 0);
    assert_string_equal(line, "");
    bw_policy_free(q);
    bw_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_action),
        cmocka_unit_test(test_errors_field),
        cmocka_unit_test(test_errors_operator),
        cmocka_unit_test(test_errors_value),
        cmocka_unit_test(test_errors_options),
        cmocka_unit_test(test_error_leaves_policy),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_glob_against_reference),
        cmocka_unit_test(test_long_path),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_path_normal_form),
        cmocka_unit_test(test_method_host_query),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_ip_v4),
        cmocka_unit_test(test_ip_v6),
        cmocka_unit_test(test_country),
        cmocka_unit_test(test_all_conditions_must_hold),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_rule_without_conditions),
        cmocka_unit_test(test_actions_and_rate_options),
        cmocka_unit_test(test_describe_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
