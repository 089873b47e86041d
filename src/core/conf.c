/*
 * conf.c - the configuration file: tokenizer, directive table, validation,
 * site lookup by Host, and publication of snapshots (see conf.h).
 *
 * Format (docs/CONFIG.md): `directive arg ...;` statements and
 * `site NAME ... { ... }` blocks, `#` comments, "quoted strings".  Every
 * directive is one row of the table below: the parser, the error messages,
 * `bulwark --help-config` and the docs all come from it.
 */
#include "core/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "shield/policy.h"

/* ---- built-in texts ---------------------------------------------------- */

const char bw_conf_builtin_text[] =
    "# bulwark built-in configuration (used when no -c FILE is given)\n"
    "listen 0.0.0.0:8080;\n"
    "admin 127.0.0.1:9090;\n"
    "access_log stdout;\n"
    "site _ {\n"
    "    origin 127.0.0.1:9000;\n"
    "    health_check path=/healthz;\n"
    "}\n";

#define PAGE(title, text)                                                                      \
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"                         \
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"                  \
    "<title>" title "</title><style>"                                                          \
    "body{margin:0;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;"            \
    "background:#0f172a;color:#e2e8f0;display:flex;min-height:100vh;align-items:center;"       \
    "justify-content:center}"                                                                  \
    ".card{max-width:34rem;padding:2.5rem;border-radius:14px;background:#1e293b;"              \
    "box-shadow:0 10px 30px rgba(0,0,0,.4)}"                                                   \
    "h1{margin:0 0 .75rem;font-size:1.6rem;color:#f8fafc}p{line-height:1.55;margin:.5rem 0}"   \
    "footer{margin-top:1.5rem;font-size:.8rem;color:#94a3b8}"                                  \
    "</style></head><body><div class=\"card\"><h1>" title "</h1>" text                         \
    "<footer>bulwark edge node</footer></div></body></html>\n"

static const char page_502[] = PAGE(
    "502 Bad Gateway",
    "<p>The site's origin server could not be reached, or it sent an invalid answer.</p>"
    "<p>This is usually temporary. Please try again in a few moments.</p>");
static const char page_503[] = PAGE(
    "503 Service Unavailable",
    "<p>The site is temporarily unavailable: none of its origin servers can take the request "
    "right now.</p><p>Please try again in a few moments.</p>");
static const char page_504[] = PAGE(
    "504 Gateway Timeout",
    "<p>The site's origin server did not answer in time.</p>"
    "<p>This is usually temporary. Please try again in a few moments.</p>");

/* ---- parse state ----------------------------------------------------------- */

#define MAX_ARGS 16

typedef struct conf_parser {
    const char *name;      /* file name for messages */
    const char *dir;       /* directory of the file, for relative paths ("" = cwd) */
    const char *p, *end;   /* tokenizer position */
    unsigned line;
    char *err;
    size_t errlen;
    bool failed;
    bw_conf *conf;
    /* growable arrays, fixed up into conf at the end */
    size_t cap_listens, cap_sites, cap_servers;
    unsigned *site_line;   /* line of each site block, for post-parse errors */
    unsigned **site_srv;   /* per site: indices into conf->servers */
    size_t *site_nsrv;
    unsigned admin_line, default_line;
    bool seen_admin;
    /* main-context error pages (NULL: built-in) */
    const char *page[3];
    size_t page_len[3];
} conf_parser;

typedef struct conf_token {
    enum { TOK_EOF, TOK_WORD, TOK_SEMI, TOK_LBRACE, TOK_RBRACE, TOK_ERROR } type;
    char *text; /* TOK_WORD: malloc'd, unescaped */
    unsigned line;
    bool quoted;
} conf_token;

__attribute__((format(printf, 3, 4))) static int conf_error(conf_parser *ps, unsigned line,
                                                           const char *fmt, ...)
{
    if (ps->failed)
        return -1;
    ps->failed = true;
    int n = snprintf(ps->err, ps->errlen, "%s:%u: ", ps->name, line);
    if (n < 0 || (size_t)n >= ps->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void *xrealloc_array(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(p, ncap * size);
    if (!q)
        return NULL;
    memset((char *)q + *cap * size, 0, (ncap - *cap) * size);
    *cap = ncap;
    return q;
}

/* ---- tokenizer --------------------------------------------------------------- */

static void skip_space_and_comments(conf_parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\n') {
            ps->line++;
            ps->p++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            ps->p++;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else {
            break;
        }
    }
}

static conf_token read_quoted(conf_parser *ps)
{
    conf_token t = {.type = TOK_WORD, .line = ps->line, .quoted = true};
    const char *s = ++ps->p;
    size_t n = 0;
    char *out = malloc((size_t)(ps->end - s) + 1);
    if (!out) {
        conf_error(ps, t.line, "out of memory");
        t.type = TOK_ERROR;
        return t;
    }
    while (ps->p < ps->end && *ps->p != '"') {
        char c = *ps->p++;
        if (c == '\n') {
            ps->line++;
        } else if (c == '\\' && ps->p < ps->end) {
            c = *ps->p++;
            if (c != '"' && c != '\\') {
                free(out);
                conf_error(ps, ps->line, "unknown escape \"\\%c\" in a quoted string (only \\\" and \\\\)", c);
                t.type = TOK_ERROR;
                return t;
            }
        }
        out[n++] = c;
    }
    if (ps->p >= ps->end) {
        free(out);
        conf_error(ps, t.line, "unterminated quoted string (expected a closing '\"')");
        t.type = TOK_ERROR;
        return t;
    }
    ps->p++;
    out[n] = '\0';
    t.text = out;
    return t;
}

static conf_token next_token(conf_parser *ps)
{
    skip_space_and_comments(ps);
    conf_token t = {.type = TOK_EOF, .line = ps->line};
    if (ps->p >= ps->end)
        return t;
    char c = *ps->p;
    if (c == ';' || c == '{' || c == '}') {
        ps->p++;
        t.type = c == ';' ? TOK_SEMI : c == '{' ? TOK_LBRACE : TOK_RBRACE;
        return t;
    }
    if (c == '"')
        return read_quoted(ps);
    const char *s = ps->p;
    while (ps->p < ps->end && !strchr(" \t\r\n;{}#\"", *ps->p))
        ps->p++;
    t.type = TOK_WORD;
    t.text = strndup(s, (size_t)(ps->p - s));
    if (!t.text) {
        conf_error(ps, t.line, "out of memory");
        t.type = TOK_ERROR;
    }
    return t;
}

/* ---- value parsers --------------------------------------------------------- */

/* A number with an optional unit suffix; suffix "" is the bare number. */
typedef struct conf_unit {
    const char *suffix;
    uint64_t mul;
} conf_unit;

/* Digits then one of units[] (NULL-terminated); the product must not
 * exceed max.  Returns 0 or -1. */
static int parse_scaled(const char *s, const conf_unit *units, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (const conf_unit *u = units; u->suffix; u++) {
        if (strcmp(end, u->suffix) != 0)
            continue;
        if (v > max / u->mul)
            return -1;
        *out = (uint64_t)v * u->mul;
        return 0;
    }
    return -1;
}

/* "10s", "500ms", "2m", "1h", bare number = seconds. */
static int parse_duration_ms(const char *s, unsigned *out)
{
    static const conf_unit units[] = {
        {"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}, {NULL, 0},
    };
    uint64_t v;
    if (parse_scaled(s, units, UINT_MAX, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* "16k", "1m", "2g", bare number = bytes. */
static int parse_size(const char *s, uint64_t *out)
{
    static const conf_unit units[] = {
        {"", 1}, {"k", 1ull << 10}, {"K", 1ull << 10}, {"m", 1ull << 20},
        {"M", 1ull << 20}, {"g", 1ull << 30}, {"G", 1ull << 30}, {NULL, 0},
    };
    return parse_scaled(s, units, UINT64_MAX, out);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int bw_addr_parse(const char *text, bw_addr *out)
{
    memset(out, 0, sizeof(*out));
    const char *colon = strrchr(text, ':');
    if (!colon || colon[1] == '\0')
        return -1;
    unsigned port;
    if (parse_uint(colon + 1, 1, 65535, &port) < 0)
        return -1;
    size_t hlen = (size_t)(colon - text);
    char host[64];
    if (hlen >= sizeof(host))
        return -1;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            return -1;
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*a6);
        char t[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6->sin6_addr, t, sizeof(t));
        snprintf(out->text, sizeof(out->text), "[%s]:%u", t, port);
        return 0;
    }
    if (strchr(host, ':'))
        return -1; /* IPv6 needs brackets */
    struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
    if (hlen == 0 || strcmp(host, "*") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    out->len = sizeof(*a4);
    char t[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a4->sin_addr, t, sizeof(t));
    snprintf(out->text, sizeof(out->text), "%s:%u", t, port);
    return 0;
}

bool bw_conf_admin_unprotected(const bw_conf *c)
{
    return c->admin_enabled && !c->admin_token && !bw_addr_is_loopback(&c->admin);
}

bool bw_addr_is_loopback(const bw_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->ss;
        return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->ss;
    return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
}

/* ---- defaults ------------------------------------------------------------------ */

static void conf_defaults(bw_conf *c)
{
    c->workers = 0;
    bw_addr_parse("127.0.0.1:9090", &c->admin);
    c->admin_enabled = true;
    c->error_log = strdup("stderr");
    c->log_level = BW_LOG_INFO;
    c->client_header_timeout_ms = 10000;
    c->client_body_timeout_ms = 30000;
    c->client_body_min_rate = 1024;
    c->client_keepalive_ms = 60000;
    c->client_send_timeout_ms = 30000;
    c->shutdown_timeout_ms = 10000;
    c->max_request_line = 8192;
    c->max_headers = 100;
    c->max_header_bytes = 16384;
    c->max_body_bytes = 0;
    c->max_connections = 10000;
    c->conn_reserve_pct = 10;
    c->overload_wait_ms = 50;
    c->event_coalesce_us = 100;
    c->shield_sigma = 6;
    c->shield_floor = 200;
    c->shield_quiet_ms = 10000;
    c->shield_max_fp = 0.01;
    c->pow_bits = 16;
    c->clearance_ttl_s = 3600;
}

static void pool_defaults(bw_pool_conf *p)
{
    p->balance = BW_BALANCE_RR;
    p->retries = 2;
    p->connect_timeout_ms = 3000;
    p->read_timeout_ms = 60000;
    p->send_timeout_ms = 60000;
    p->keepalive_idle_ms = 30000;
    p->keepalive_max = 64;
    p->fail_timeout_ms = 5000;
    p->capped = false;
    p->max_fails = 5;
    p->queue_timeout_ms = 5000;
    p->max_queue = 256;
    p->hc_interval_ms = 2000;
    p->hc_timeout_ms = 1000;
    p->hc_rise = 2;
    p->hc_fall = 3;
    p->hc_path = NULL;
}

/* ---- directives ------------------------------------------------------------------ */

enum { CTX_MAIN = 1, CTX_SITE = 2 };

typedef struct directive {
    const char *name;
    int ctx;
    int min_args, max_args;
    /* Returns 0, or -1 after conf_error().  site is NULL in the main context. */
    int (*set)(conf_parser *ps, bw_site_conf *site, size_t site_idx, char **args, int nargs,
               unsigned line);
    const char *syntax;  /* arguments, for messages and --help-config */
    const char *deflt;   /* default, "-" if none */
    const char *help;
} directive;

#define BAD_VALUE(what) conf_error(ps, line, "\"%s\" expects %s, got \"%s\"", args[-1], what, args[0])

/* Setters receive args[] with args[-1] = the directive name. */

static int set_workers(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    if (strcmp(args[0], "auto") == 0) {
        ps->conf->workers = 0;
        return 0;
    }
    if (parse_uint(args[0], 1, 64, &ps->conf->workers) < 0)
        return BAD_VALUE("a number of worker threads from 1 to 64, or auto");
    return 0;
}

static int set_listen(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si;
    bw_conf *c = ps->conf;
    bw_listen_conf l = {0};
    if (bw_addr_parse(args[0], &l.addr) < 0)
        return BAD_VALUE("an address like 0.0.0.0:80, 127.0.0.1:8080 or [::]:80");
    if (n == 2) {
        if (strcmp(args[1], "proxy_protocol") != 0)
            return conf_error(ps, line, "\"listen\" accepts only \"proxy_protocol\" after the address, got \"%s\"",
                              args[1]);
        l.proxy_protocol = true;
    }
    for (size_t i = 0; i < c->nlistens; i++)
        if (strcmp(c->listens[i].addr.text, l.addr.text) == 0)
            return conf_error(ps, line, "duplicate \"listen %s\"", l.addr.text);
    if (c->nlistens == BW_CONF_MAX_LISTENS)
        return conf_error(ps, line, "too many \"listen\" addresses (at most %d)", BW_CONF_MAX_LISTENS);
    bw_listen_conf *arr = xrealloc_array(c->listens, &ps->cap_listens, c->nlistens + 1, sizeof(*arr));
    if (!arr)
        return conf_error(ps, line, "out of memory");
    c->listens = arr;
    c->listens[c->nlistens++] = l;
    return 0;
}

static int set_admin(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    ps->admin_line = line;
    ps->seen_admin = true;
    if (strcmp(args[0], "off") == 0) {
        ps->conf->admin_enabled = false;
        return 0;
    }
    if (bw_addr_parse(args[0], &ps->conf->admin) < 0)
        return BAD_VALUE("an address like 127.0.0.1:9090, or off");
    ps->conf->admin_enabled = true;
    return 0;
}

static int set_admin_token(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    if (strlen(args[0]) < 16)
        return conf_error(ps, line, "\"admin_token\" must be at least 16 characters long");
    free(ps->conf->admin_token);
    ps->conf->admin_token = strdup(args[0]);
    return 0;
}

static int set_error_log(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si;
    if (n == 2) {
        int lvl = bw_log_level_parse(args[1]);
        if (lvl < 0)
            return conf_error(ps, line, "\"error_log\" level must be debug, info, notice, warn or error, got \"%s\"",
                              args[1]);
        ps->conf->log_level = lvl;
    }
    free(ps->conf->error_log);
    ps->conf->error_log = strdup(args[0]);
    return 0;
}

static int set_access_log(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n, (void)line;
    free(ps->conf->access_log);
    ps->conf->access_log = strcmp(args[0], "off") == 0 ? NULL : strdup(args[0]);
    return 0;
}

/* Duration directives share one setter: the table row says which field.
 * A timer armed with 0 is not armed at all (core/loop.c), so for a timeout
 * 0 would mean "wait forever": only fail_timeout and shutdown_timeout, where
 * 0 means "not at all", accept it. */
#define DURATION_SETTER(fn, field, ctx_expr, zero_ok)                                              \
    static int fn(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line) \
    {                                                                                              \
        (void)si, (void)n, (void)site;                                                             \
        unsigned v;                                                                                \
        if (parse_duration_ms(args[0], &v) < 0)                                                    \
            return BAD_VALUE("a duration like 10s, 500ms, 2m or 1h");                              \
        if (v == 0 && !(zero_ok))                                                                  \
            return BAD_VALUE("a duration of at least 1ms (0 would disable the timeout)");          \
        (ctx_expr)->field = v;                                                                     \
        return 0;                                                                                  \
    }

DURATION_SETTER(set_client_header_timeout, client_header_timeout_ms, ps->conf, false)
DURATION_SETTER(set_client_body_timeout, client_body_timeout_ms, ps->conf, false)
DURATION_SETTER(set_keepalive_timeout, client_keepalive_ms, ps->conf, false)
DURATION_SETTER(set_send_timeout, client_send_timeout_ms, ps->conf, false)
DURATION_SETTER(set_shutdown_timeout, shutdown_timeout_ms, ps->conf, true)
DURATION_SETTER(set_connect_timeout, connect_timeout_ms, &site->pool, false)
DURATION_SETTER(set_read_timeout, read_timeout_ms, &site->pool, false)
DURATION_SETTER(set_origin_send_timeout, send_timeout_ms, &site->pool, false)
DURATION_SETTER(set_keepalive_idle, keepalive_idle_ms, &site->pool, false)
DURATION_SETTER(set_fail_timeout, fail_timeout_ms, &site->pool, true)
DURATION_SETTER(set_queue_timeout, queue_timeout_ms, &site->pool, false)

static int set_size_field(conf_parser *ps, char **args, unsigned line, uint64_t min, uint64_t max,
                          uint64_t *out)
{
    uint64_t v;
    if (parse_size(args[0], &v) < 0 || v < min || v > max)
        return BAD_VALUE("a size like 8k, 16k or 1m (bytes; k, m, g multiply by 1024)");
    *out = v;
    return 0;
}

/* Head limits: the request line and the whole head must fit one 16 KiB
 * read buffer (core/buf.h), hence the ceilings. */
#define HEAD_SIZE_SETTER(fn, field, min)                                                            \
    static int fn(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line) \
    {                                                                                              \
        (void)site, (void)si, (void)n;                                                             \
        uint64_t v = 0;                                                                              \
        if (set_size_field(ps, args, line, (min), 16384, &v) < 0)                                  \
            return -1;                                                                             \
        ps->conf->field = (unsigned)v;                                                             \
        return 0;                                                                                  \
    }

HEAD_SIZE_SETTER(set_max_request_line, max_request_line, 256)
HEAD_SIZE_SETTER(set_max_header_bytes, max_header_bytes, 1024)

static int set_max_body_size(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    return set_size_field(ps, args, line, 0, UINT64_MAX >> 1, &ps->conf->max_body_bytes);
}

static int set_client_body_min_rate(conf_parser *ps, bw_site_conf *site, size_t si, char **args,
                                    int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    return set_size_field(ps, args, line, 0, 1ull << 30, &ps->conf->client_body_min_rate);
}

static int set_max_fails(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (parse_uint(args[0], 0, 1000, &site->pool.max_fails) < 0)
        return BAD_VALUE("a number of consecutive failures from 0 (off) to 1000");
    return 0;
}

static int set_max_queue(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (parse_uint(args[0], 0, 1000000, &site->pool.max_queue) < 0)
        return BAD_VALUE("a number of waiting requests from 0 to 1000000");
    return 0;
}

static int set_max_headers(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    if (parse_uint(args[0], 1, 256, &ps->conf->max_headers) < 0)
        return BAD_VALUE("a number of header fields from 1 to 256");
    return 0;
}

static int set_max_conns_per_ip(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                                unsigned line)
{
    (void)site, (void)si, (void)n;
    if (parse_uint(args[0], 0, 1000000, &ps->conf->max_conns_per_ip) < 0)
        return BAD_VALUE("a number of connections from 0 (no cap) to 1000000");
    return 0;
}

static int set_max_conns_per_prefix(conf_parser *ps, bw_site_conf *site, size_t si, char **args,
                                    int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    if (parse_uint(args[0], 0, 1000000, &ps->conf->max_conns_per_prefix) < 0)
        return BAD_VALUE("a number of connections from 0 (no cap) to 1000000");
    return 0;
}

static int set_max_connections(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    if (parse_uint(args[0], 1, 1000000, &ps->conf->max_connections) < 0)
        return BAD_VALUE("a number of client connections per worker from 1 to 1000000");
    return 0;
}

static int set_connection_reserve(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                                  unsigned line)
{
    (void)site, (void)si, (void)n;
    size_t len = strlen(args[0]);
    char num[8];
    if (len < 2 || len > sizeof num || args[0][len - 1] != '%')
        return BAD_VALUE("a share of max_connections from 0% to 50%, like 10%");
    memcpy(num, args[0], len - 1);
    num[len - 1] = '\0';
    if (parse_uint(num, 0, 50, &ps->conf->conn_reserve_pct) < 0)
        return BAD_VALUE("a share of max_connections from 0% to 50%, like 10%");
    return 0;
}

static int set_overload_wait(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                             unsigned line)
{
    (void)site, (void)si, (void)n;
    if (strcmp(args[0], "off") == 0) {
        ps->conf->overload_wait_ms = 0;
        return 0;
    }
    unsigned v;
    if (parse_duration_ms(args[0], &v) < 0 || v < 5 || v > 60000)
        return BAD_VALUE("off, or a duration from 5ms to 1m, like 50ms");
    ps->conf->overload_wait_ms = v;
    return 0;
}

static int set_event_coalesce(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                              unsigned line)
{
    (void)site, (void)si, (void)n;
    static const conf_unit units[] = { {"us", 1}, {"ms", 1000}, {NULL, 0} };
    uint64_t v;
    if (strcmp(args[0], "off") == 0 || strcmp(args[0], "0") == 0)
        v = 0;
    else if (parse_scaled(args[0], units, 1000, &v) < 0 || v == 0)
        return BAD_VALUE("off, or microseconds up to 1ms, like 100us");
    ps->conf->event_coalesce_us = (unsigned)v;
    return 0;
}

static char *path_join(const char *dir, const char *file)
{
    if (file[0] == '/' || !dir || !dir[0])
        return strdup(file);
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int conf_own(bw_conf *c, char *block)
{
    char **arr = realloc(c->owned, (c->nowned + 1) * sizeof(*arr));
    if (!arr)
        return -1;
    c->owned = arr;
    c->owned[c->nowned++] = block;
    return 0;
}

/* A local response (head and page) is built in one 16 KiB buffer
 * (core/buf.h, stream.c) and a larger one closes the connection instead of
 * answering, so a page must leave room for the head. */
#define PAGE_MAX_BYTES 12288

/* Read an error page file into a block owned by the conf. */
static int load_page(conf_parser *ps, const char *file, unsigned line, const char **out, size_t *out_len)
{
    char *path = path_join(ps->dir, file);
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        int e = errno;
        conf_error(ps, line, "cannot read error page \"%s\": %s", path ? path : file, strerror(e));
        free(path);
        return -1;
    }
    char *buf = malloc(PAGE_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, PAGE_MAX_BYTES + 1, f) : 0;
    int rerr = buf && ferror(f) ? errno : 0; /* e.g. EISDIR: fopen() opens directories */
    fclose(f);
    if (!buf || rerr || n > PAGE_MAX_BYTES) {
        free(buf);
        if (rerr)
            conf_error(ps, line, "cannot read error page \"%s\": %s", path, strerror(rerr));
        else
            conf_error(ps, line, "error page \"%s\" is larger than %u bytes (a page is sent from one "
                                 "16 KiB buffer)", path, PAGE_MAX_BYTES);
        free(path);
        return -1;
    }
    free(path);
    buf[n] = '\0';
    if (conf_own(ps->conf, buf) < 0) {
        free(buf);
        return conf_error(ps, line, "out of memory");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static int page_index(const char *code)
{
    return strcmp(code, "502") == 0 ? 0 : strcmp(code, "503") == 0 ? 1 : strcmp(code, "504") == 0 ? 2 : -1;
}

static int set_error_page(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    int idx = page_index(args[0]);
    if (idx < 0)
        return conf_error(ps, line, "\"error_page\" expects 502, 503 or 504 then a file, got \"%s\"", args[0]);
    const char *text = NULL;
    size_t len = 0;
    if (load_page(ps, args[1], line, &text, &len) < 0)
        return -1;
    if (!site) {
        ps->page[idx] = text;
        ps->page_len[idx] = len;
        return 0;
    }
    char **slot = idx == 0 ? &site->page_502 : idx == 1 ? &site->page_503 : &site->page_504;
    size_t *lslot = idx == 0 ? &site->page_502_len : idx == 1 ? &site->page_503_len : &site->page_504_len;
    *slot = (char *)text;
    *lslot = len;
    return 0;
}

static int set_default(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)args, (void)n;
    if (ps->default_line)
        return conf_error(ps, line, "a second \"default\" site (the first is at line %u)", ps->default_line);
    ps->default_line = line;
    site->is_default = true;
    return 0;
}

static int set_origin(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    bw_conf *c = ps->conf;
    bw_server_conf srv = {0};
    if (bw_addr_parse(args[0], &srv.addr) < 0)
        return BAD_VALUE("an address like 10.0.0.5:8080 or [2001:db8::5]:80 (numeric; no DNS)");
    srv.weight = 1;
    for (int a = 1; a < n; a++) {
        if (strncmp(args[a], "weight=", 7) == 0 && parse_uint(args[a] + 7, 1, 1000, &srv.weight) == 0)
            continue;
        if (strncmp(args[a], "max_conns=", 10) == 0 &&
            parse_uint(args[a] + 10, 0, 1000000, &srv.max_conns) == 0) {
            if (srv.max_conns)
                site->pool.capped = true;
            continue;
        }
        return conf_error(ps, line,
                          "\"origin\" accepts \"weight=N\" (1 to 1000) and \"max_conns=N\" (0 to "
                          "1000000) after the address, got \"%s\"",
                          args[a]);
    }
    for (size_t i = 0; i < ps->site_nsrv[si]; i++)
        if (strcmp(c->servers[ps->site_srv[si][i]].addr.text, srv.addr.text) == 0)
            return conf_error(ps, line, "duplicate \"origin %s\" in this site", srv.addr.text);
    if (ps->site_nsrv[si] == 32)
        return conf_error(ps, line, "too many origins in one site (at most 32)");
    bw_server_conf *arr = xrealloc_array(c->servers, &ps->cap_servers, c->nservers + 1, sizeof(*arr));
    unsigned *idx = realloc(ps->site_srv[si], (ps->site_nsrv[si] + 1) * sizeof(unsigned));
    if (!arr || !idx) {
        if (arr)
            c->servers = arr;
        if (idx)
            ps->site_srv[si] = idx;
        return conf_error(ps, line, "out of memory");
    }
    c->servers = arr;
    ps->site_srv[si] = idx;
    srv.index = (unsigned)c->nservers;
    atomic_init(&srv.healthy, 1);
    atomic_init(&srv.down_until_ms, 0);
    atomic_init(&srv.fails, 0);
    atomic_init(&srv.open_until_ms, 0);
    idx[ps->site_nsrv[si]++] = (unsigned)c->nservers;
    c->servers[c->nservers++] = srv;
    return 0;
}

static int set_balance(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (strcmp(args[0], "round_robin") == 0)
        site->pool.balance = BW_BALANCE_RR;
    else if (strcmp(args[0], "least_conn") == 0)
        site->pool.balance = BW_BALANCE_LEASTCONN;
    else
        return BAD_VALUE("round_robin or least_conn");
    return 0;
}

static int set_retries(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (parse_uint(args[0], 0, 10, &site->pool.retries) < 0)
        return BAD_VALUE("a number of retries from 0 to 10");
    return 0;
}

static int set_keepalive_max(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (parse_uint(args[0], 0, 10000, &site->pool.keepalive_max) < 0)
        return BAD_VALUE("a number of idle origin connections from 0 to 10000");
    return 0;
}

static int hc_option(conf_parser *ps, bw_pool_conf *pool, const char *arg, unsigned line)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        goto bad;
    size_t klen = (size_t)(eq - arg);
    const char *v = eq + 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(arg, k, klen) == 0)
    if (KEY("interval")) {
        if (parse_duration_ms(v, &pool->hc_interval_ms) < 0 || pool->hc_interval_ms < 100)
            return conf_error(ps, line, "health_check interval= expects a duration of at least 100ms, got \"%s\"", v);
    } else if (KEY("timeout")) {
        if (parse_duration_ms(v, &pool->hc_timeout_ms) < 0 || pool->hc_timeout_ms < 10)
            return conf_error(ps, line, "health_check timeout= expects a duration like 1s, got \"%s\"", v);
    } else if (KEY("rise")) {
        if (parse_uint(v, 1, 100, &pool->hc_rise) < 0)
            return conf_error(ps, line, "health_check rise= expects a number from 1 to 100, got \"%s\"", v);
    } else if (KEY("fall")) {
        if (parse_uint(v, 1, 100, &pool->hc_fall) < 0)
            return conf_error(ps, line, "health_check fall= expects a number from 1 to 100, got \"%s\"", v);
    } else if (KEY("path")) {
        if (v[0] != '/' || strpbrk(v, " \t\r\n"))
            return conf_error(ps, line, "health_check path= expects a path starting with '/', got \"%s\"", v);
        free(pool->hc_path);
        pool->hc_path = strdup(v);
    } else {
        goto bad;
    }
#undef KEY
    return 0;
bad:
    return conf_error(ps, line,
                      "\"health_check\" expects off, or options interval=DURATION timeout=DURATION rise=N "
                      "fall=N path=/PATH, got \"%s\"", arg);
}

static int set_health_check(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si;
    if (n == 1 && strcmp(args[0], "off") == 0) {
        site->pool.hc_interval_ms = 0;
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (hc_option(ps, &site->pool, args[i], line) < 0)
            return -1;
    return 0;
}

/* ---- shield ------------------------------------------------------------- */

static int parse_on_off(const char *s, bool *out)
{
    if (strcmp(s, "on") == 0)
        *out = true;
    else if (strcmp(s, "off") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int set_shield(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (parse_on_off(args[0], &site->shield) < 0)
        return BAD_VALUE("on or off");
    return 0;
}

static int set_under_attack(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                            unsigned line)
{
    (void)si, (void)n;
    if (strcmp(args[0], "off") == 0)
        site->under_attack = BW_UNDER_ATTACK_OFF;
    else if (strcmp(args[0], "on") == 0)
        site->under_attack = BW_UNDER_ATTACK_ON;
    else if (strcmp(args[0], "auto") == 0)
        site->under_attack = BW_UNDER_ATTACK_AUTO;
    else
        return BAD_VALUE("on, off or auto");
    return 0;
}

static int set_challenge(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si, (void)n;
    if (strcmp(args[0], "cookie") == 0)
        site->challenge_kind = 1;
    else if (strcmp(args[0], "pow") == 0)
        site->challenge_kind = 2;
    else
        return BAD_VALUE("cookie or pow");
    return 0;
}

static int set_rule(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si;
    if (!site->policy && !(site->policy = bw_policy_new()))
        return conf_error(ps, line, "out of memory");
    char err[256];
    if (bw_policy_add(site->policy, args, (size_t)n, err, sizeof err) < 0)
        return conf_error(ps, line, "%s", err);
    return 0;
}

static bool copy_word(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

static int login_option(conf_parser *ps, bw_login_route *r, const char *a, unsigned line)
{
    const char *v = strchr(a, '=');
    if (!v)
        return conf_error(ps, line, "\"login\" expects options method=M user=form:F|json:F|header:H "
                                    "password=F fail=CODES fail_location=PATH, got \"%s\"", a);
    size_t k = (size_t)(v++ - a);
    if (k == 6 && memcmp(a, "method", 6) == 0 && copy_word(r->method, sizeof r->method, v)) {
        for (char *m = r->method; *m; m++)
            if (*m < 'A' || *m > 'Z')
                return conf_error(ps, line, "\"login\" method must be an upper-case token, got \"%s\"", v);
        return 0;
    }
    if (k == 4 && memcmp(a, "user", 4) == 0) {
        static const char *const kinds[] = { "form:", "json:", "header:" };
        for (uint8_t i = 0; i < 3; i++) {
            size_t kl = strlen(kinds[i]);
            if (strncmp(v, kinds[i], kl) == 0 && copy_word(r->user_field, sizeof r->user_field, v + kl)) {
                r->user_kind = i;
                return 0;
            }
        }
        return conf_error(ps, line, "\"login\" user= expects form:FIELD, json:FIELD or header:NAME, got \"%s\"", v);
    }
    if (k == 8 && memcmp(a, "password", 8) == 0 && copy_word(r->pass_field, sizeof r->pass_field, v))
        return 0;
    if (k == 4 && memcmp(a, "fail", 4) == 0) {
        r->nfail = 0;
        for (const char *p = v; *p;) {
            char *end;
            unsigned long code = strtoul(p, &end, 10);
            if (end == p || code < 200 || code > 599 || r->nfail == 8 || (*end && *end != ','))
                return conf_error(ps, line, "\"login\" fail= expects up to 8 status codes like 401,403, got \"%s\"", v);
            r->fail[r->nfail++] = (uint16_t)code;
            p = *end ? end + 1 : end;
        }
        return r->nfail ? 0 : conf_error(ps, line, "\"login\" fail= expects status codes like 401,403");
    }
    if (k == 13 && memcmp(a, "fail_location", 13) == 0 && v[0] == '/' &&
        copy_word(r->fail_location, sizeof r->fail_location, v))
        return 0;
    return conf_error(ps, line, "\"login\" expects options method=M user=form:F|json:F|header:H "
                                "password=F fail=CODES fail_location=/PATH, got \"%s\"", a);
}

static int set_login(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)si;
    if (site->nlogins == BW_LOGIN_ROUTES_MAX)
        return conf_error(ps, line, "at most %d \"login\" routes per site", BW_LOGIN_ROUTES_MAX);
    size_t plen = strlen(args[0]);
    if (args[0][0] != '/' || plen + 2 > sizeof(((bw_login_route *)0)->path))
        return BAD_VALUE("a path starting with / (at most 253 characters), like /login");
    bw_login_route r = { .user_kind = BW_LOGIN_USER_FORM, .fail = { 401, 403 }, .nfail = 2 };
    strcpy(r.method, "POST");
    strcpy(r.user_field, "username");
    strcpy(r.pass_field, "password");
    size_t len = bw_policy_path_norm(args[0], plen, r.path);
    if (len > 1 && r.path[len - 1] == '/')
        len--;
    r.path[len] = '\0';
    for (int i = 1; i < n; i++)
        if (login_option(ps, &r, args[i], line) < 0)
            return -1;
    bw_login_route *grown = realloc(site->logins, (site->nlogins + 1) * sizeof *grown);
    if (!grown)
        return conf_error(ps, line, "out of memory");
    site->logins = grown;
    site->logins[site->nlogins++] = r;
    return 0;
}

static int set_challenge_key(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                             unsigned line)
{
    (void)site, (void)si, (void)n;
    if (strlen(args[0]) < 16)
        return conf_error(ps, line, "\"challenge_key\" expects a secret of at least 16 characters");
    free(ps->conf->challenge_key);
    ps->conf->challenge_key = strdup(args[0]);
    return 0;
}

static int set_geoip_db(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n, unsigned line)
{
    (void)site, (void)si, (void)n;
    char *path = path_join(ps->dir, args[0]);
    if (!path || access(path, R_OK) < 0) {
        int e = errno;
        conf_error(ps, line, "cannot read GeoIP database \"%s\": %s", path ? path : args[0], strerror(e));
        free(path);
        return -1;
    }
    free(ps->conf->geoip_db);
    ps->conf->geoip_db = path;
    return 0;
}

static int set_shield_sensitivity(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                                  unsigned line)
{
    (void)site, (void)si;
    unsigned sigma, floor;
    if (parse_uint(args[0], 1, 100, &sigma) < 0)
        return BAD_VALUE("a number of standard deviations from 1 to 100");
    ps->conf->shield_sigma = sigma;
    if (n > 1) {
        if (strncmp(args[1], "floor=", 6) != 0 || parse_uint(args[1] + 6, 1, 100000000, &floor) < 0)
            return conf_error(ps, line, "\"shield_sensitivity\" expects floor=N (requests/s) after the "
                                        "number of standard deviations, got \"%s\"", args[1]);
        ps->conf->shield_floor = floor;
    }
    return 0;
}

static int set_shield_max_fp(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                             unsigned line)
{
    (void)site, (void)si, (void)n;
    char *end;
    double v = strtod(args[0], &end);
    if (end == args[0] || *end != '%' || end[1] || !(v >= 0 && v <= 50))
        return BAD_VALUE("a percentage from 0% to 50%, like 1%");
    ps->conf->shield_max_fp = v / 100;
    return 0;
}

static int set_pow_difficulty(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                              unsigned line)
{
    (void)site, (void)si, (void)n;
    if (parse_uint(args[0], 1, 32, &ps->conf->pow_bits) < 0)
        return BAD_VALUE("a number of leading zero bits from 1 to 32 (16 takes a browser about 0.1 s)");
    return 0;
}

static int set_clearance_ttl(conf_parser *ps, bw_site_conf *site, size_t si, char **args, int n,
                             unsigned line)
{
    (void)site, (void)si, (void)n;
    unsigned ms;
    if (parse_duration_ms(args[0], &ms) < 0 || ms < 60000)
        return BAD_VALUE("a duration of at least 1m, like 1h");
    ps->conf->clearance_ttl_s = ms / 1000;
    return 0;
}

DURATION_SETTER(set_shield_quiet, shield_quiet_ms, ps->conf, false)

static const directive directives[] = {
    {"workers", CTX_MAIN, 1, 1, set_workers, "N | auto", "auto",
     "worker threads, each with its own event loop (auto: one per CPU core)"},
    {"listen", CTX_MAIN, 1, 2, set_listen, "ADDR [proxy_protocol]", "0.0.0.0:8080",
     "client listener; repeatable; proxy_protocol expects a PROXY v1/v2 header first"},
    {"admin", CTX_MAIN, 1, 1, set_admin, "ADDR | off", "127.0.0.1:9090",
     "admin listener (/metrics, /healthz, /api/v1/stats); non-loopback needs admin_token"},
    {"admin_token", CTX_MAIN, 1, 1, set_admin_token, "TOKEN", "-",
     "require \"Authorization: Bearer TOKEN\" on the admin listener (16+ characters)"},
    {"error_log", CTX_MAIN, 1, 2, set_error_log, "stderr | PATH [debug|info|notice|warn|error]",
     "stderr info", "where the error log goes, and its level"},
    {"access_log", CTX_MAIN, 1, 1, set_access_log, "off | stdout | PATH", "off",
     "JSON access log, one line per request, buffered per worker"},
    {"client_header_timeout", CTX_MAIN, 1, 1, set_client_header_timeout, "DURATION", "10s",
     "a request head must arrive within this time (else 408)"},
    {"client_body_timeout", CTX_MAIN, 1, 1, set_client_body_timeout, "DURATION", "30s",
     "longest wait between two reads of a request body"},
    {"keepalive_timeout", CTX_MAIN, 1, 1, set_keepalive_timeout, "DURATION", "60s",
     "idle client keep-alive connections are closed after this"},
    {"send_timeout", CTX_MAIN, 1, 1, set_send_timeout, "DURATION", "30s",
     "a client that reads nothing of its response for this long is dropped"},
    {"shutdown_timeout", CTX_MAIN, 1, 1, set_shutdown_timeout, "DURATION", "10s",
     "SIGTERM: longest wait for requests in flight before exiting"},
    {"max_request_line", CTX_MAIN, 1, 1, set_max_request_line, "SIZE", "8k",
     "longest request line (else 414)"},
    {"max_headers", CTX_MAIN, 1, 1, set_max_headers, "N", "100", "most header fields in a request (else 431)"},
    {"max_header_bytes", CTX_MAIN, 1, 1, set_max_header_bytes, "SIZE", "16k",
     "largest request head, request line included (else 431); at most 16k"},
    {"max_body_size", CTX_MAIN, 1, 1, set_max_body_size, "SIZE", "0",
     "largest request body (else 413); 0 = no limit (bodies are streamed)"},
    {"client_body_min_rate", CTX_MAIN, 1, 1, set_client_body_min_rate, "SIZE", "1k",
     "bytes per second a request body must average once it has taken 10 s (slow-post); 0 = off"},
    {"max_connections", CTX_MAIN, 1, 1, set_max_connections, "N", "10000",
     "client connections per worker; when full, the slowest head or longest idle connection is shed for a newcomer"},
    {"max_connections_per_ip", CTX_MAIN, 1, 1, set_max_conns_per_ip, "N", "0",
     "client connections per worker from one address; more are closed at once; 0 = no cap"},
    {"max_connections_per_prefix", CTX_MAIN, 1, 1, set_max_conns_per_prefix, "N", "0",
     "client connections per worker from one /24 (IPv4) or /64 (IPv6); 0 = no cap"},
    {"connection_reserve", CTX_MAIN, 1, 1, set_connection_reserve, "PERCENT", "10%",
     "share of max_connections kept for clients with a clearance token: past it, a newcomer without one gets 503"},
    {"overload_wait", CTX_MAIN, 1, 1, set_overload_wait, "DURATION | off", "50ms",
     "a worker whose clients wait this long in the kernel is overloaded: it challenges, then sheds (503) visitors without a clearance token"},
    {"event_coalesce", CTX_MAIN, 1, 1, set_event_coalesce, "DURATION | off", "100us",
     "a worker busy 30% of the time or more sleeps this long before waiting, to handle what comes as one batch"},
    {"error_page", CTX_MAIN | CTX_SITE, 2, 2, set_error_page, "502|503|504 FILE", "built-in page",
     "HTML page sent when the origin fails, at most 12 KiB (relative paths: to the config file)"},
    {"default", CTX_SITE, 0, 0, set_default, "", "first site",
     "this site answers requests whose Host matches no site"},
    {"origin", CTX_SITE, 1, 3, set_origin, "ADDR [weight=N] [max_conns=N]", "-",
     "an origin server of the site; repeatable; at least one"},
    {"balance", CTX_SITE, 1, 1, set_balance, "round_robin | least_conn", "round_robin",
     "how requests are spread over the origins (both honour weight=)"},
    {"retries", CTX_SITE, 1, 1, set_retries, "N", "2",
     "other origins tried when a connect fails"},
    {"connect_timeout", CTX_SITE, 1, 1, set_connect_timeout, "DURATION", "3s",
     "connecting to an origin (then: next origin, or 502)"},
    {"read_timeout", CTX_SITE, 1, 1, set_read_timeout, "DURATION", "60s",
     "longest wait for bytes from the origin (then 504)"},
    {"origin_send_timeout", CTX_SITE, 1, 1, set_origin_send_timeout, "DURATION", "60s",
     "an origin that reads nothing of a request body for this long is dropped"},
    {"keepalive_idle", CTX_SITE, 1, 1, set_keepalive_idle, "DURATION", "30s",
     "idle origin connections are closed after this"},
    {"keepalive_max", CTX_SITE, 1, 1, set_keepalive_max, "N", "64",
     "idle connections kept per origin server and worker"},
    {"fail_timeout", CTX_SITE, 1, 1, set_fail_timeout, "DURATION", "5s",
     "an origin that refused a connect is skipped for this long"},
    {"max_fails", CTX_SITE, 1, 1, set_max_fails, "N", "5",
     "circuit breaker: after N failed exchanges in a row (5xx, timeouts, errors) an origin gets no requests for fail_timeout; 0 = off"},
    {"queue_timeout", CTX_SITE, 1, 1, set_queue_timeout, "DURATION", "5s",
     "with max_conns= origins all busy, how long a request waits for a slot (then 503)"},
    {"max_queue", CTX_SITE, 1, 1, set_max_queue, "N", "256",
     "requests waiting for an origin slot, per worker; more get 503 at once"},
    {"health_check", CTX_SITE, 1, 5, set_health_check,
     "off | [interval=2s] [timeout=1s] [rise=2] [fall=3] [path=/PATH]", "on, TCP connect every 2s",
     "active checks: TCP connect, or GET path expecting 2xx/3xx"},
    {"shield", CTX_SITE, 1, 1, set_shield, "on | off", "on",
     "check this site's requests for attacks (detection, rules, challenges, rate limits)"},
    {"under_attack", CTX_SITE, 1, 1, set_under_attack, "on | off | auto", "auto",
     "challenge every visitor without a clearance token: always (on), never, or when an attack has no narrow signature (auto)"},
    {"challenge", CTX_SITE, 1, 1, set_challenge, "cookie | pow", "cookie",
     "the challenge under_attack uses: a cookie redirect, or a JavaScript proof of work"},
    {"rule", CTX_SITE, 1, 15, set_rule, "ACTION [OPTIONS] [FIELD=VALUE ...]", "-",
     "a policy rule, checked in order before the automatic ones (docs/POLICY.md)"},
    {"login", CTX_SITE, 1, 7, set_login,
     "PATH [method=M] [user=form:F|json:F|header:H] [password=F] [fail=CODES] [fail_location=/PATH]", "-",
     "a login route: failed logins are counted per account, source and client, and guessing is challenged, then blocked (docs/LOGIN.md)"},
    {"challenge_key", CTX_MAIN, 1, 1, set_challenge_key, "SECRET", "random at start",
     "signs clearance tokens; set it to keep tokens valid across restarts (16+ characters; never logged)"},
    {"geoip_db", CTX_MAIN, 1, 1, set_geoip_db, "PATH", "-",
     "MaxMind country database (.mmdb) for country= rules"},
    {"shield_sensitivity", CTX_MAIN, 1, 2, set_shield_sensitivity, "SIGMA [floor=N]", "6 floor=200",
     "an attack is declared when a site's passed requests/s exceed mean + SIGMA x sd of its baseline and the floor"},
    {"shield_quiet", CTX_MAIN, 1, 1, set_shield_quiet, "DURATION", "10s",
     "an attack ends, and its rules expire, after this long back at baseline"},
    {"shield_max_fp", CTX_MAIN, 1, 1, set_shield_max_fp, "PERCENT", "1%",
     "an automatic rule may match at most this share of a site's normal traffic"},
    {"pow_difficulty", CTX_MAIN, 1, 1, set_pow_difficulty, "BITS", "16",
     "proof-of-work difficulty in leading zero bits of SHA-256"},
    {"clearance_ttl", CTX_MAIN, 1, 1, set_clearance_ttl, "DURATION", "1h",
     "how long a passed challenge counts"},
};

#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

/* ---- statements and blocks ---------------------------------------------------------- */

static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 31 || lb > 31)
        return 99;
    unsigned d[32][32];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    }
    return d[la][lb];
}

static const directive *find_directive(const char *name)
{
    for (size_t i = 0; i < NDIRECTIVES; i++)
        if (strcmp(directives[i].name, name) == 0)
            return &directives[i];
    return NULL;
}

static int unknown_directive(conf_parser *ps, const char *name, unsigned line)
{
    const char *best = NULL;
    unsigned best_d = 3;
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        unsigned d = edit_distance(name, directives[i].name);
        if (d < best_d) {
            best_d = d;
            best = directives[i].name;
        }
    }
    if (!best && edit_distance(name, "site") < 2)
        best = "site";
    if (best)
        return conf_error(ps, line, "unknown directive \"%s\" (did you mean \"%s\"?)", name, best);
    return conf_error(ps, line, "unknown directive \"%s\" (bulwark --help-config lists them all)", name);
}

static void free_args(char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
}

static int run_directive(conf_parser *ps, int ctx, size_t si, char **argv, int argc, unsigned line)
{
    const directive *d = find_directive(argv[0]);
    if (!d)
        return unknown_directive(ps, argv[0], line);
    if (!(d->ctx & ctx))
        return conf_error(ps, line, "\"%s\" is not allowed here: it belongs %s", argv[0],
                          d->ctx == CTX_SITE ? "inside a site block" : "outside site blocks");
    int nargs = argc - 1;
    if (nargs > d->max_args) {
        /* "retries 2" then a line "connect_timeout 1s;": the ';' was
         * forgotten, which says more than "retries expects N". */
        for (int i = 1; i < argc; i++)
            if (find_directive(argv[i]))
                return conf_error(ps, line, "expected ';' after \"%s%s%s%s\" (\"%s\" starts the next "
                                  "directive)", argv[0], i > 1 ? " " : "", i > 1 ? argv[1] : "",
                                  i > 2 ? " ..." : "", argv[i]);
    }
    if (nargs < d->min_args || nargs > d->max_args) {
        if (d->max_args == 0)
            return conf_error(ps, line, "\"%s\" takes no arguments", argv[0]);
        return conf_error(ps, line, "\"%s\" expects %s", argv[0], d->syntax);
    }
    bw_site_conf *site = ctx == CTX_SITE ? &ps->conf->sites[si] : NULL;
    return d->set(ps, site, si, argv + 1, nargs, line);
}

static bool valid_site_name(const char *n)
{
    if (strcmp(n, "_overflow") == 0)
        return false; /* reserved: the metrics slot of requests without a site */
    if (strcmp(n, "_") == 0)
        return true;
    const char *p = n;
    if (p[0] == '*') {
        if (p[1] != '.' || p[2] == '\0')
            return false;
        p += 2;
    }
    /* bw_conf_find_site() sends a Host that starts with a dot or is longer
     * than 255 to the default site and strips one trailing dot: a name like
     * that could never be matched (found by test/fuzz/fuzz_conf.c). */
    size_t len = strlen(n);
    if (!*p || *p == '.' || n[len - 1] == '.' || len > 255)
        return false;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return true;
}

static int parse_block(conf_parser *ps, int ctx, size_t si, unsigned open_line);

static int open_site(conf_parser *ps, char **argv, int argc, unsigned line)
{
    bw_conf *c = ps->conf;
    if (argc < 2)
        return conf_error(ps, line, "\"site\" expects one or more names (example.com, *.example.com or _) "
                                    "before '{'");
    size_t si = c->nsites;
    size_t cap = ps->cap_sites;
    bw_site_conf *sites = xrealloc_array(c->sites, &cap, si + 1, sizeof(*sites));
    if (!sites)
        return conf_error(ps, line, "out of memory");
    c->sites = sites;
    if (cap != ps->cap_sites) {
        size_t ocap = ps->cap_sites;
        unsigned *sl = realloc(ps->site_line, cap * sizeof(*sl));
        unsigned **ss = realloc(ps->site_srv, cap * sizeof(*ss));
        size_t *sn = realloc(ps->site_nsrv, cap * sizeof(*sn));
        if (sl)
            ps->site_line = sl;
        if (ss)
            ps->site_srv = ss;
        if (sn)
            ps->site_nsrv = sn;
        if (!sl || !ss || !sn)
            return conf_error(ps, line, "out of memory");
        for (size_t i = ocap; i < cap; i++) {
            ps->site_srv[i] = NULL;
            ps->site_nsrv[i] = 0;
        }
        ps->cap_sites = cap;
    }
    bw_site_conf *site = &c->sites[si];
    memset(site, 0, sizeof(*site));
    c->nsites++;
    ps->site_line[si] = line;
    pool_defaults(&site->pool);
    site->shield = true;
    site->under_attack = BW_UNDER_ATTACK_AUTO;
    site->challenge_kind = 1;
    site->names = calloc((size_t)argc - 1, sizeof(char *));
    if (!site->names)
        return conf_error(ps, line, "out of memory");
    for (int i = 1; i < argc; i++) {
        if (!valid_site_name(argv[i]))
            return conf_error(ps, line, "invalid site name \"%s\" (expected a host name like example.com, "
                                        "a wildcard like *.example.com, or _)", argv[i]);
        char *n = strdup(argv[i]);
        if (!n)
            return conf_error(ps, line, "out of memory");
        for (char *p = n; *p; p++)
            *p = bw_ascii_lower(*p);
        site->names[site->nnames++] = n;
    }
    site->name = strdup(site->names[0]);
    if (!site->name)
        return conf_error(ps, line, "out of memory");
    return parse_block(ps, CTX_SITE, si, line);
}

/* Reads statements until '}' (site context) or end of file (main). */
static int parse_block(conf_parser *ps, int ctx, size_t si, unsigned open_line)
{
    for (;;) {
        conf_token t = next_token(ps);
        switch (t.type) {
        case TOK_ERROR:
            return -1;
        case TOK_EOF:
            if (ctx == CTX_SITE)
                return conf_error(ps, t.line, "unexpected end of file: the site block opened at line %u "
                                              "is not closed (expected '}')", open_line);
            return 0;
        case TOK_RBRACE:
            if (ctx == CTX_SITE)
                return 0;
            return conf_error(ps, t.line, "unexpected '}' (no block is open)");
        case TOK_SEMI:
            return conf_error(ps, t.line, "unexpected ';' (expected a directive name)");
        case TOK_LBRACE:
            return conf_error(ps, t.line, "unexpected '{' (expected a directive name)");
        case TOK_WORD:
            break;
        }
        char *argv[MAX_ARGS + 1];
        int argc = 0;
        argv[argc++] = t.text;
        unsigned line = t.line;
        int rc = 0;
        for (;;) {
            conf_token a = next_token(ps);
            if (a.type == TOK_WORD) {
                if (argc == MAX_ARGS + 1) {
                    free(a.text);
                    rc = conf_error(ps, line, "too many arguments for \"%s\"", argv[0]);
                    break;
                }
                argv[argc++] = a.text;
                continue;
            }
            if (a.type == TOK_ERROR) {
                rc = -1;
            } else if (a.type == TOK_SEMI) {
                if (strcmp(argv[0], "site") == 0)
                    rc = conf_error(ps, line, "\"site\" expects names then a block: site NAME { ... }");
                else
                    rc = run_directive(ps, ctx, si, argv, argc, line);
            } else if (a.type == TOK_LBRACE) {
                if (strcmp(argv[0], "site") != 0)
                    rc = conf_error(ps, line, "\"%s\" does not take a block (expected ';')", argv[0]);
                else if (ctx != CTX_MAIN)
                    rc = conf_error(ps, line, "a site block cannot be nested in another site");
                else
                    rc = open_site(ps, argv, argc, line);
            } else {
                rc = conf_error(ps, line, "expected ';' after \"%s%s\"", argv[0], argc > 1 ? " ..." : "");
            }
            break;
        }
        free_args(argv, argc);
        if (rc < 0)
            return -1;
    }
}

/* ---- validation and finishing touches -------------------------------------------------- */

typedef struct bw_conf_name {
    const char *name; /* lower-case; a wildcard "*.x.com" is stored as ".x.com" */
    size_t len;
    uint64_t hash;
    bw_site_conf *site;
} conf_name;

static conf_name *name_slot(const bw_conf *c, const char *p, size_t len, uint64_t h, bool *found)
{
    size_t mask = c->name_table_size - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        conf_name *e = &c->name_table[i];
        if (!e->name) {
            *found = false;
            return e;
        }
        if (e->hash == h && e->len == len && bw_str_ieq(bw_str_make(e->name, len), bw_str_make(p, len))) {
            *found = true;
            return e;
        }
    }
}

static int build_name_table(conf_parser *ps)
{
    bw_conf *c = ps->conf;
    size_t total = 0;
    for (size_t i = 0; i < c->nsites; i++)
        total += c->sites[i].nnames;
    size_t size = 8;
    while (size < total * 2)
        size *= 2;
    c->name_table = calloc(size, sizeof(conf_name));
    if (!c->name_table)
        return conf_error(ps, 0, "out of memory");
    c->name_table_size = size;
    const bw_site_conf *catch_all = NULL;
    for (size_t i = 0; i < c->nsites; i++) {
        bw_site_conf *site = &c->sites[i];
        for (size_t j = 0; j < site->nnames; j++) {
            const char *n = site->names[j];
            if (strcmp(n, "_") == 0) {
                /* "_" matches no Host, but two such sites would still share
                 * one name in metrics, and one of them could never answer. */
                if (catch_all)
                    return conf_error(ps, ps->site_line[i], "site name \"_\" is already used by site \"%s\"",
                                      catch_all->name);
                catch_all = site;
                continue;
            }
            if (n[0] == '*') {
                n++; /* ".example.com" */
                c->has_wildcards = true;
            }
            size_t len = strlen(n);
            uint64_t h = bw_fnv1a_lower(BW_FNV_OFFSET, n, len);
            bool found;
            conf_name *e = name_slot(c, n, len, h, &found);
            if (found)
                return conf_error(ps, ps->site_line[i], "site name \"%s\" is already used by site \"%s\"",
                                  site->names[j], e->site->name);
            *e = (conf_name){.name = n, .len = len, .hash = h, .site = site};
        }
    }
    return 0;
}

static int finish_pools(conf_parser *ps)
{
    bw_conf *c = ps->conf;
    for (size_t i = 0; i < c->nsites; i++) {
        bw_site_conf *site = &c->sites[i];
        if (ps->site_nsrv[i] == 0)
            return conf_error(ps, ps->site_line[i], "site \"%s\" has no origin (expected at least one "
                                                    "\"origin ADDR;\")", site->name);
        if (site->policy && bw_policy_needs_geoip(site->policy) && !c->geoip_db)
            return conf_error(ps, ps->site_line[i], "site \"%s\" has country= rules but no \"geoip_db "
                                                    "PATH;\" is set (a MaxMind country .mmdb)", site->name);
        site->pool.servers = calloc(ps->site_nsrv[i], sizeof(bw_server_conf *));
        if (!site->pool.servers)
            return conf_error(ps, ps->site_line[i], "out of memory");
        for (size_t j = 0; j < ps->site_nsrv[i]; j++)
            site->pool.servers[j] = &c->servers[ps->site_srv[i][j]];
        site->pool.nservers = ps->site_nsrv[i];
        if (site->pool.hc_interval_ms && site->pool.hc_timeout_ms > site->pool.hc_interval_ms)
            site->pool.hc_timeout_ms = site->pool.hc_interval_ms;
    }
    return 0;
}

static void finish_pages(conf_parser *ps)
{
    static const char *const builtin[3] = {page_502, page_503, page_504};
    static const size_t builtin_len[3] = {sizeof(page_502) - 1, sizeof(page_503) - 1, sizeof(page_504) - 1};
    for (int k = 0; k < 3; k++) {
        if (!ps->page[k]) {
            ps->page[k] = builtin[k];
            ps->page_len[k] = builtin_len[k];
        }
    }
    /* Page texts are either static or in conf->owned: sites only borrow. */
    for (size_t i = 0; i < ps->conf->nsites; i++) {
        bw_site_conf *s = &ps->conf->sites[i];
        if (!s->page_502) {
            s->page_502 = (char *)ps->page[0];
            s->page_502_len = ps->page_len[0];
        }
        if (!s->page_503) {
            s->page_503 = (char *)ps->page[1];
            s->page_503_len = ps->page_len[1];
        }
        if (!s->page_504) {
            s->page_504 = (char *)ps->page[2];
            s->page_504_len = ps->page_len[2];
        }
    }
}

static int finish_conf(conf_parser *ps)
{
    bw_conf *c = ps->conf;
    if (c->nsites == 0)
        return conf_error(ps, ps->line, "no site defined (expected a block like: site example.com { origin "
                                        "127.0.0.1:9000; })");
    if (c->nlistens == 0) {
        c->listens = calloc(1, sizeof(*c->listens));
        if (!c->listens)
            return conf_error(ps, ps->line, "out of memory");
        bw_addr_parse("0.0.0.0:8080", &c->listens[0].addr);
        c->nlistens = 1;
    }
    if (bw_conf_admin_unprotected(c))
        return conf_error(ps, ps->admin_line, "admin on a non-loopback address (%s) requires admin_token",
                          c->admin.text);
    if (finish_pools(ps) < 0)
        return -1;
    c->default_site = &c->sites[0];
    for (size_t i = 0; i < c->nsites; i++)
        if (c->sites[i].is_default)
            c->default_site = &c->sites[i];
    c->default_site->is_default = true;
    finish_pages(ps);
    return build_name_table(ps);
}

static void parser_cleanup(conf_parser *ps)
{
    for (size_t i = 0; i < ps->cap_sites; i++)
        free(ps->site_srv ? ps->site_srv[i] : NULL);
    free(ps->site_srv);
    free(ps->site_nsrv);
    free(ps->site_line);
}

static _Atomic uint64_t generation;

static bw_conf *parse_text(const char *text, size_t len, const char *name, const char *dir, char *err,
                           size_t errlen)
{
    bw_conf *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    conf_defaults(c);
    conf_parser ps = {.name = name, .dir = dir, .p = text, .end = text + len, .line = 1,
                      .err = err, .errlen = errlen, .conf = c, .admin_line = 1};
    int rc = parse_block(&ps, CTX_MAIN, 0, 0);
    if (rc == 0)
        rc = finish_conf(&ps);
    parser_cleanup(&ps);
    if (rc < 0) {
        bw_conf_free(c);
        return NULL;
    }
    c->path = strdup(name);
    c->generation = atomic_fetch_add(&generation, 1) + 1;
    return c;
}

bw_conf *bw_conf_parse_string(const char *text, const char *name, char *err, size_t errlen)
{
    return parse_text(text, strlen(text), name, "", err, errlen);
}

bw_conf *bw_conf_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, len;
    char *text = malloc(cap + 1);
    len = text ? fread(text, 1, cap + 1, f) : 0;
    bool too_big = len > cap;
    fclose(f);
    if (!text || too_big) {
        snprintf(err, errlen, "%s: %s", path, text ? "larger than 1 MiB" : "out of memory");
        free(text);
        return NULL;
    }
    text[len] = '\0';
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: contains a NUL byte (not a text file?)", path);
        free(text);
        return NULL;
    }
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else if (dir)
        dir[0] = '\0';
    bw_conf *c = parse_text(text, len, path, dir ? dir : "", err, errlen);
    free(dir);
    free(text);
    return c;
}

bw_conf *bw_conf_quick(const char *listen, const char *origins, char *err, size_t errlen)
{
    bw_addr a;
    if (!listen || bw_addr_parse(listen, &a) < 0) {
        snprintf(err, errlen, "--listen: expected an address like 127.0.0.1:8080, got \"%s\"",
                 listen ? listen : "");
        return NULL;
    }
    if (!origins)
        origins = "";
    size_t olen = strlen(origins);
    size_t cap = 128 + strlen(listen) + olen * 2 + 16 * (olen + 1);
    char *text = malloc(cap);
    char *list = strdup(origins);
    if (!text || !list) {
        free(text);
        free(list);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = (size_t)snprintf(text, cap, "listen %s;\nsite _ {\n", listen);
    char *save = NULL;
    size_t norigins = 0;
    for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (bw_addr_parse(o, &a) < 0) {
            snprintf(err, errlen, "--origin: expected addresses like 127.0.0.1:9000[,10.0.0.2:80], got \"%s\"", o);
            free(text);
            free(list);
            return NULL;
        }
        n += (size_t)snprintf(text + n, cap - n, "origin %s;\n", o);
        norigins++;
    }
    free(list);
    if (!norigins) {
        snprintf(err, errlen, "--origin: expected at least one address");
        free(text);
        return NULL;
    }
    snprintf(text + n, cap - n, "}\n");
    bw_conf *c = parse_text(text, strlen(text), "<quick>", "", err, errlen);
    free(text);
    if (c) {
        free(c->sites[0].name);
        c->sites[0].name = strdup("default");
        if (!c->sites[0].name) {
            bw_conf_free(c);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    return c;
}

/* ---- lookup --------------------------------------------------------------------------- */

static const bw_site_conf *lookup_name(const bw_conf *c, const char *p, size_t len)
{
    bool found;
    conf_name *e = name_slot(c, p, len, bw_fnv1a_lower(BW_FNV_OFFSET, p, len), &found);
    return found ? e->site : NULL;
}

const bw_site_conf *bw_conf_find_site(const bw_conf *c, bw_str host)
{
    const char *p = host.p;
    size_t len = host.len;
    if (len && p[0] == '[') { /* IPv6 literal: only an exact name can match */
        const char *rb = memchr(p, ']', len);
        len = rb ? (size_t)(rb - p) + 1 : len;
    } else {
        const char *colon = len ? memchr(p, ':', len) : NULL;
        if (colon)
            len = (size_t)(colon - p);
    }
    if (len && p[len - 1] == '.')
        len--;
    /* A leading dot would match the ".example.com" key of a wildcard as if
     * it were an exact name; no valid host starts with one. */
    if (len == 0 || len > 255 || p[0] == '.')
        return c->default_site;
    const bw_site_conf *s = lookup_name(c, p, len);
    if (s)
        return s;
    if (c->has_wildcards) {
        /* Longest wildcard first: suffixes from the first dot on. */
        for (size_t i = 1; i < len; i++) {
            if (p[i] != '.')
                continue;
            s = lookup_name(c, p + i, len - i);
            if (s)
                return s;
        }
    }
    return c->default_site;
}

/* ---- help ---------------------------------------------------------------------------------- */

void bw_conf_print_directives(int fd)
{
    dprintf(fd, "bulwark configuration directives (format: docs/CONFIG.md)\n\n");
    for (int pass = 0; pass < 2; pass++) {
        dprintf(fd, pass == 0 ? "Main context:\n" : "\nInside  site NAME [NAME...] { ... }:\n");
        for (size_t i = 0; i < NDIRECTIVES; i++) {
            const directive *d = &directives[i];
            bool in = pass == 0 ? (d->ctx & CTX_MAIN) : (d->ctx & CTX_SITE);
            if (!in)
                continue;
            dprintf(fd, "  %s%s%s;\n      %s (default: %s)\n", d->name, d->syntax[0] ? " " : "", d->syntax,
                    d->help, d->deflt);
        }
    }
    dprintf(fd, "\nDurations: 500ms, 10s, 2m, 1h (a bare number is seconds).  Sizes: 512, 8k, 1m, 1g.\n");
}

/* ---- publication and freeing ------------------------------------------------------------- */

static _Atomic(bw_conf *) current_conf;

void bw_conf_publish(bw_conf *conf)
{
    bw_conf *old = atomic_load_explicit(&current_conf, memory_order_relaxed);
    if (old == conf)
        return; /* else conf->prev == conf and bw_conf_free_all() would loop */
    conf->prev = old;
    atomic_store_explicit(&current_conf, conf, memory_order_release);
}

bw_conf *bw_conf_current(void)
{
    return atomic_load_explicit(&current_conf, memory_order_acquire);
}

void bw_conf_free(bw_conf *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsites; i++) {
        bw_site_conf *s = &c->sites[i];
        free(s->name);
        for (size_t j = 0; j < s->nnames; j++)
            free(s->names[j]);
        free(s->names);
        free(s->pool.servers);
        free(s->pool.hc_path);
        bw_policy_free(s->policy);
        free(s->logins);
    }
    for (size_t i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    free(c->owned);
    free(c->sites);
    free(c->servers);
    free(c->listens);
    free(c->name_table);
    free(c->admin_token);
    free(c->challenge_key);
    free(c->geoip_db);
    free(c->error_log);
    free(c->access_log);
    free(c->path);
    free(c);
}

void bw_conf_free_all(void)
{
    bw_conf *c = atomic_exchange(&current_conf, NULL);
    while (c) {
        bw_conf *prev = c->prev;
        bw_conf_free(c);
        c = prev;
    }
}
