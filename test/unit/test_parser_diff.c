/*
 * test_parser_diff.c - differential test of the request parser.
 *
 * Every request of the corpus below goes through bulwark's parser
 * (bw_http_parse_request, then bw_chunked_decode for a chunked body) and
 * through an independent one, nodejs http_parser 2.9 as Debian ships it
 * (libhttp-parser-dev).  Each parser gives a verdict: accept (a whole
 * request was read), reject, or incomplete (it waits for more bytes).  When
 * both accept, the parsed fields are compared too: bytes consumed, method,
 * target, version, framing (Content-Length / chunked), keep-alive, upgrade,
 * the header fields and the body.
 *
 * The two parsers are meant to disagree: http_parser is lenient by design
 * and bulwark refuses whatever RFC 9112 lets a server refuse (docs/DECISIONS.md
 * D1).  Each row pins both verdicts and, when they differ (or some fields
 * differ), says why in `why`, quoting the RFC clause behind bulwark's
 * choice.  The test fails on a disagreement the table does not list, and
 * on a listed one that has gone away, so the list stays true.  The rows
 * marked `open` are disagreements where bulwark deviates from the RFC and
 * nobody has fixed it yet.  docs/PARSER_DIFF.md is the same list for humans.
 *
 * BW_PARSER_DIFF_DUMP=1 prints what both parsers did with every row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "http/parser.h"

/* ---- what a parser made of one request ---- */

typedef enum verdict { ACCEPT, REJECT, INCOMPLETE } verdict;

static const char *const verdict_name[] = { "accept", "reject", "incomplete" };

/* The fields compared when both accept; a row's `fields` names the ones
 * known to differ. */
enum {
    FD_CONSUMED = 1u << 0,  /* bytes of the input that made the request */
    FD_METHOD = 1u << 1,
    FD_TARGET = 1u << 2,
    FD_VERSION = 1u << 3,
    FD_FRAMING = 1u << 4,   /* Content-Length (and its value) or chunked */
    FD_KEEPALIVE = 1u << 5,
    FD_UPGRADE = 1u << 6,   /* the connection switches protocol after the head */
    FD_HEADERS = 1u << 7,   /* names and values, in order */
    FD_BODY = 1u << 8,      /* the body, chunked framing removed */
};

static const char *const field_name[] = {
    "consumed", "method", "target", "version", "framing", "keep-alive", "upgrade", "headers", "body",
};

enum { MAX_FIELDS = 160, POOL = 64 * 1024 };

/* A string copied into the pool (http_parser hands strings out in pieces). */
typedef struct span {
    size_t off, len;
} span;

typedef struct outcome {
    verdict v;
    int status;         /* bulwark: the HTTP status of a rejected head (0 for a body) */
    const char *error;  /* why it rejected */
    size_t consumed;
    span method, target;
    int major, minor;
    bool has_cl, chunked, keepalive, upgrade;
    uint64_t cl;
    size_t nfields;
    span name[MAX_FIELDS], value[MAX_FIELDS];
    span body;
    /* building */
    bool complete, overflow, in_body;
    int last;           /* kind of the span being appended to */
    size_t used;
    char pool[POOL];
} outcome;

enum { K_NONE, K_METHOD, K_TARGET, K_NAME, K_VALUE, K_BODY };

static void out_reset(outcome *o)
{
    memset(o, 0, offsetof(outcome, pool));
}

static span *out_span(outcome *o, int kind)
{
    switch (kind) {
    case K_METHOD:
        return &o->method;
    case K_TARGET:
        return &o->target;
    case K_NAME:
        return &o->name[o->nfields - 1];
    case K_VALUE:
        return &o->value[o->nfields - 1];
    default:
        return &o->body;
    }
}

/*
 * Append to the span of this kind, or start a new one if another kind came
 * in between: a value can come in pieces (http_parser calls back once per
 * line of an obs-fold).  Each name starts a new field: the input is handed
 * over in one call, so http_parser never splits a name, and a field with an
 * empty value must not glue two names together.
 */
static void out_append(outcome *o, int kind, const char *p, size_t n)
{
    if (kind == K_VALUE && o->nfields == 0)
        return;
    if (o->last != kind || kind == K_NAME) {
        if (kind == K_NAME && o->nfields++ == MAX_FIELDS) {
            o->nfields = MAX_FIELDS;
            o->overflow = true;
            return;
        }
        span *s = out_span(o, kind);
        s->off = o->used;
        s->len = 0;
        o->last = kind;
    }
    if (n > POOL - o->used) {
        o->overflow = true;
        return;
    }
    memcpy(o->pool + o->used, p, n);
    o->used += n;
    out_span(o, kind)->len += n;
}

static bw_str out_str(const outcome *o, span s)
{
    return bw_str_make(o->pool + s.off, s.len);
}

/* ---- bulwark ---- */

static bw_http_header bw_hdrs[MAX_FIELDS];

static void run_bulwark(const char *raw, size_t len, outcome *o)
{
    bw_http_request req;
    out_reset(o);
    int r = bw_http_parse_request(raw, len, NULL, &req, bw_hdrs, MAX_FIELDS);
    if (r < 0) {
        o->v = REJECT;
        o->status = -r;
        o->error = req.error;
        return;
    }
    if (r == 0) {
        o->v = INCOMPLETE;
        return;
    }
    out_append(o, K_METHOD, req.method.p, req.method.len);
    out_append(o, K_TARGET, req.target.p, req.target.len);
    o->major = req.version / 10;
    o->minor = req.version % 10;
    for (size_t i = 0; i < req.nheaders; i++) {
        out_append(o, K_NAME, req.headers[i].name.p, req.headers[i].name.len);
        out_append(o, K_VALUE, req.headers[i].value.p, req.headers[i].value.len);
    }
    o->has_cl = (req.flags & BW_HTTP_F_HAS_CL) != 0;
    o->cl = req.content_length;
    o->chunked = (req.flags & BW_HTTP_F_CHUNKED) != 0;
    o->keepalive = (req.flags & BW_HTTP_F_KEEPALIVE) != 0;
    /* After CONNECT or an upgrade the bytes are another protocol's. */
    o->upgrade = (req.flags & BW_HTTP_F_UPGRADE) || req.method_id == BW_HTTP_CONNECT;
    size_t off = (size_t)r;
    out_append(o, K_BODY, raw, 0);
    if (o->upgrade) {
        /* no body */
    } else if (o->chunked) {
        bw_chunked d;
        bw_chunked_init(&d);
        while (off < len && !d.done) {
            bw_str data;
            ssize_t n = bw_chunked_decode(&d, raw + off, len - off, &data);
            if (n < 0) {
                o->v = REJECT;
                o->error = "chunked framing";
                return;
            }
            out_append(o, K_BODY, data.p, data.len);
            off += (size_t)n;
        }
        if (!d.done) {
            o->v = INCOMPLETE;
            return;
        }
    } else if (o->has_cl) {
        if (len - off < o->cl) {
            o->v = INCOMPLETE;
            return;
        }
        out_append(o, K_BODY, raw + off, (size_t)o->cl);
        off += (size_t)o->cl;
    }
    o->v = ACCEPT;
    o->consumed = off;
}

/* ---- http_parser ---- */

static int hp_url(http_parser *p, const char *at, size_t n)
{
    out_append(p->data, K_TARGET, at, n);
    return 0;
}

/* Trailer fields come through the same callbacks; bulwark's decoder checks
 * them but does not hand them out, so they are not compared. */
static int hp_name(http_parser *p, const char *at, size_t n)
{
    outcome *o = p->data;
    if (!o->in_body)
        out_append(o, K_NAME, at, n);
    return 0;
}

static int hp_value(http_parser *p, const char *at, size_t n)
{
    outcome *o = p->data;
    if (!o->in_body)
        out_append(o, K_VALUE, at, n);
    return 0;
}

static int hp_headers_complete(http_parser *p)
{
    outcome *o = p->data;
    const char *m = http_method_str((enum http_method)p->method);
    out_append(o, K_METHOD, m, strlen(m));
    o->major = p->http_major;
    o->minor = p->http_minor;
    o->has_cl = (p->flags & F_CONTENTLENGTH) != 0;
    o->cl = o->has_cl ? p->content_length : 0;
    o->chunked = (p->flags & F_CHUNKED) != 0;
    o->keepalive = http_should_keep_alive(p) != 0;
    o->upgrade = p->upgrade;
    o->in_body = true;
    out_append(o, K_BODY, "", 0);
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t n)
{
    out_append(p->data, K_BODY, at, n);
    return 0;
}

/* Stop after the first request: what follows would be the next one. */
static int hp_message_complete(http_parser *p)
{
    outcome *o = p->data;
    o->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static void run_http_parser(const char *raw, size_t len, outcome *o)
{
    static http_parser_settings settings;
    settings.on_url = hp_url;
    settings.on_header_field = hp_name;
    settings.on_header_value = hp_value;
    settings.on_headers_complete = hp_headers_complete;
    settings.on_body = hp_body;
    settings.on_message_complete = hp_message_complete;

    http_parser p;
    out_reset(o);
    http_parser_init(&p, HTTP_REQUEST); /* strict framing: no lenient flags */
    p.data = o;
    size_t n = http_parser_execute(&p, &settings, raw, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p);
    if (o->complete) {
        o->v = ACCEPT;
        o->consumed = n;
    } else if (e != HPE_OK) {
        o->v = REJECT;
        o->error = http_errno_name(e);
    } else {
        o->v = INCOMPLETE;
    }
}

/* ---- comparing ---- */

static bw_str trim_ows(bw_str s)
{
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    return s;
}

/* The fields in which two accepted requests differ. */
static unsigned differing_fields(const outcome *a, const outcome *b)
{
    unsigned d = 0;
    if (a->consumed != b->consumed)
        d |= FD_CONSUMED;
    if (!bw_str_eq(out_str(a, a->method), out_str(b, b->method)))
        d |= FD_METHOD;
    if (!bw_str_eq(out_str(a, a->target), out_str(b, b->target)))
        d |= FD_TARGET;
    if (a->major != b->major || a->minor != b->minor)
        d |= FD_VERSION;
    if (a->has_cl != b->has_cl || a->cl != b->cl || a->chunked != b->chunked)
        d |= FD_FRAMING;
    if (a->keepalive != b->keepalive)
        d |= FD_KEEPALIVE;
    if (a->upgrade != b->upgrade)
        d |= FD_UPGRADE;
    if (a->nfields != b->nfields) {
        d |= FD_HEADERS;
    } else {
        for (size_t i = 0; i < a->nfields; i++)
            if (!bw_str_eq(out_str(a, a->name[i]), out_str(b, b->name[i])) ||
                !bw_str_eq(trim_ows(out_str(a, a->value[i])), trim_ows(out_str(b, b->value[i]))))
                d |= FD_HEADERS;
    }
    if (!bw_str_eq(out_str(a, a->body), out_str(b, b->body)))
        d |= FD_BODY;
    return d;
}

/* ---- the corpus ---- */

typedef struct diff_case {
    const char *name;
    const char *raw;
    size_t len;         /* 0: strlen(raw) (generated rows) */
    verdict bw, hp;     /* expected verdicts */
    unsigned fields;    /* FD_* known to differ when both accept */
    const char *why;    /* required iff the parsers disagree */
    bool open;          /* bulwark deviates from the RFC: a bug not fixed yet */
} diff_case;

/* Rows from string literals: sizeof keeps embedded NULs. */
#define SAME(name, raw, v) { name, raw, sizeof(raw) - 1, v, v, 0, NULL, false }
#define DIFF(name, raw, bwv, hpv, fields, why) { name, raw, sizeof(raw) - 1, bwv, hpv, fields, why, false }
#define OPEN(name, raw, bwv, hpv, fields, why) { name, raw, sizeof(raw) - 1, bwv, hpv, fields, why, true }
/* Rows from buffers filled by gen_corpus() before the tests run. */
#define GEN_SAME(name, buf, v) { name, buf, 0, v, v, 0, NULL, false }
#define GEN_DIFF(name, buf, bwv, hpv, why) { name, buf, 0, bwv, hpv, 0, why, false }

#define H "Host: a.test\r\n"
#define GET "GET / HTTP/1.1\r\n" H
#define POST "POST /p HTTP/1.1\r\n" H
#define TE_CHUNKED "Transfer-Encoding: chunked\r\n"
#define BODY5 "5\r\nhello\r\n0\r\n\r\n"

static char gen_100_fields[4096], gen_101_fields[4096], gen_big_head[20000];
static char gen_target_8000[8100], gen_target_9000[9100];

/*
 * Why bulwark parts from http_parser: the RFC 9112 / RFC 9110 clause behind
 * each of bulwark's choices.  Where both choices are allowed (a MAY, a
 * SHOULD, a limit), bulwark takes the strict one: a proxy more lenient than
 * its origin is how request smuggling works (RFC 9112 11.2).
 */
#define WHY_LIMIT "RFC 9110 5.4: \"A server that receives a request header field line, field value, or set of " \
    "fields larger than it wishes to process MUST respond with an appropriate 4xx (Client Error) status code.\""
#define WHY_414 "RFC 9112 3: \"A server that receives a request-target longer than any URI it wishes to parse " \
    "MUST respond with a 414 (URI Too Long) status code\""
#define WHY_WS_COLON "RFC 9112 5.1: \"A server MUST reject, with a response status code of 400 (Bad Request), any " \
    "received request message that contains whitespace between a header field name and colon.\""
#define WHY_WS_FIRST "RFC 9112 2.2: \"A recipient that receives whitespace between the start-line and the first " \
    "header field MUST either reject the message as invalid or consume each whitespace-preceded line without " \
    "further processing of it\""
#define WHY_OBS_FOLD "RFC 9112 5.2: \"A server that receives an obs-fold in a request message that is not within " \
    "a \"message/http\" container MUST either reject the message by sending a 400 (Bad Request) [...] or replace " \
    "each received obs-fold with one or more SP octets\""
#define WHY_BARE_LF "RFC 9112 2.2: \"Although the line terminator for the start-line and fields is the sequence " \
    "CRLF, a recipient MAY recognize a single LF as a line terminator\": a MAY, which bulwark declines"
#define WHY_HOST "RFC 9112 3.2: \"A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 " \
    "request message that lacks a Host header field and to any request message that contains more than one " \
    "Host header field line or a Host header field with an invalid field value.\""
#define WHY_HOST_VALUE WHY_HOST " (Host = uri-host [ \":\" port ], RFC 9110 7.2)"
#define WHY_EMPTY_HOST "RFC 9112 3.3: \"If the target URI's authority component is empty and its URI scheme " \
    "requires a non-empty authority (as is the case for \"http\" and \"https\"), the server can reject the " \
    "request or determine whether a configured default applies\""
#define WHY_ABS_NO_HOST WHY_HOST "; 3.2.2: \"A client MUST send a Host header field in an HTTP/1.1 request " \
    "even if the request-target is in the absolute-form\""
#define WHY_EMPTY_LINES "RFC 9112 2.2: a server \"SHOULD ignore at least one empty line (CRLF) received prior " \
    "to the request-line\": bulwark ignores exactly one, and a bare LF is not an empty line (CRLF)"
#define WHY_METHOD "RFC 9112 3.1: method = token; RFC 9110 9.1: \"The method token is case-sensitive\", and " \
    "\"An origin server that receives a request method that is unrecognized or not implemented SHOULD respond " \
    "with the 501 (Not Implemented) status code\": the origin's call.  http_parser knows a fixed list only"
#define WHY_REQLINE_WS "RFC 9112 3: request-line = method SP request-target SP HTTP-version; recipients " \
    "\"MAY instead parse on whitespace-delimited word boundaries [...] However, lenient parsing can result in " \
    "request smuggling security vulnerabilities\""
#define WHY_NO_VERSION "RFC 9112 3: request-line = method SP request-target SP HTTP-version (no HTTP/0.9 " \
    "simple request); \"Recipients of an invalid request-line SHOULD respond with either a 400 (Bad Request) " \
    "error or a 301 (Moved Permanently) redirect\""
#define WHY_TARGET_CHARS "RFC 9112 3.2: origin-form = absolute-path [ \"?\" query ], RFC 3986 characters " \
    "only; 3: \"Recipients of an invalid request-line SHOULD respond with either a 400 (Bad Request) error " \
    "or a 301 (Moved Permanently) redirect\""
#define WHY_ASTERISK "RFC 9112 3.2.4: \"The asterisk-form of request-target is only used for a server-wide " \
    "OPTIONS request\""
#define WHY_SCHEME "RFC 9110 7.4: once the target URI is known, \"the server decides whether to process the " \
    "request itself, forward the request to another server, redirect the client to a different resource, " \
    "respond with an error, or drop the connection\": bulwark serves http and https targets only"
#define WHY_USERINFO "RFC 9110 4.2.4: \"Before making use of an \"http\" or \"https\" URI reference received " \
    "from an untrusted source, a recipient SHOULD parse for userinfo and treat its presence as an error\""
#define WHY_EMPTY_AUTHORITY "RFC 9110 4.2.1: \"A sender MUST NOT generate an \"http\" URI with an empty host " \
    "identifier. A recipient that processes such a URI reference MUST reject it as invalid.\""
#define WHY_CONNECT "RFC 9112 3.2.3: authority-form = uri-host \":\" port, for CONNECT; RFC 9110 9.3.6: " \
    "\"There is no default port\" and \"A server MUST reject a CONNECT request that targets an empty or " \
    "invalid port number, typically by responding with a 400 (Bad Request) status code.\""
#define WHY_MAJOR "RFC 9110 6.2: \"A server can send a 505 (HTTP Version Not Supported) response if it " \
    "wishes, for any reason, to refuse service of the client's major protocol version.\""
#define WHY_TE_10 "RFC 9112 6.1: \"A server or client that receives an HTTP/1.0 message containing a " \
    "Transfer-Encoding header field MUST treat the message as if the framing is faulty, even if a " \
    "Content-Length is present, and close the connection after processing the message.\""
#define WHY_EXPECT "RFC 9110 10.1.1: \"A server that receives an Expect field value containing a member " \
    "other than 100-continue MAY respond with a 417 (Expectation Failed) status code\""
#define WHY_KEEPALIVE_10 "RFC 9112 9.3: \"If the \"close\" connection option is present (Section 9.6), " \
    "the connection will not persist after the current response\", whatever the version; http_parser lets " \
    "an HTTP/1.0 keep-alive win over close"
#define WHY_UPGRADE_10 "RFC 9110 7.8: \"A server MUST ignore an Upgrade header field that is received in an " \
    "HTTP/1.0 request.\""
#define WHY_CHUNKED_TWICE "RFC 9112 6.1: \"A sender MUST NOT apply the chunked transfer coding more than " \
    "once to a message body (i.e., chunking an already chunked message is not allowed).\"  Two field lines " \
    "are the list \"chunked, chunked\" (RFC 9110 5.3), which http_parser refuses on one line"
#define WHY_TE_501 "RFC 9112 6.1: \"A server that receives a request message with a transfer coding it does " \
    "not understand SHOULD respond with 501 (Not Implemented).\"  bulwark decodes chunked only"
#define WHY_EMPTY_ELEMENT "RFC 9110 5.6.1.2: \"A recipient MUST parse and ignore a reasonable number of " \
    "empty list elements\"; http_parser refuses this one"
#define WHY_SAME_CL "RFC 9110 8.6: \"a recipient of a Content-Length header field value consisting of the " \
    "same decimal value repeated as a comma-separated list [...] MAY either reject the message as invalid or " \
    "replace that invalid field value with a single instance of the decimal value\" (two field lines are that " \
    "list, 5.3); bulwark takes the value"
#define WHY_DIGITS "RFC 9110 2.3: \"a recipient MUST be able to parse and process protocol element lengths " \
    "that are at least as long as the values that it generates\": bulwark reads 16 hex digits of chunk size " \
    "and 19 of Content-Length, more than any length it generates"
#define WHY_CHUNK_MAX "RFC 9112 7.1: \"recipients MUST anticipate potentially large hexadecimal numerals " \
    "and prevent parsing errors due to integer conversion overflows\": 2^64-1 fits, bulwark waits for the " \
    "data; http_parser keeps 2^64-1 as its overflow marker and refuses it"
#define WHY_CHUNK_GRAMMAR "RFC 9112 7.1, 7.1.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, chunk-ext " \
    "= *( BWS \";\" BWS chunk-ext-name [ BWS \"=\" BWS chunk-ext-val ] ), chunked-body ends in CRLF"
#define WHY_CHUNK_EXT "RFC 9112 7.1.1: chunk-ext-name = token, chunk-ext-val = token / quoted-string: no " \
    "control characters"

static const diff_case corpus[] = {
    /* ---- plain requests ---- */
    SAME("GET", GET "\r\n", ACCEPT),
    SAME("GET with query", "GET /a/b.php?x=1&y=%20 HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("GET percent-encoded path", "GET /caf%C3%A9/%2e%2e/x HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("GET with '?' in query", "GET /?a=b?c HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("GET with sub-delims in path", "GET /a;b=c,d!$&'()*+=:@~ HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("GET with empty path segments", "GET //a.test//x HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("HEAD", "HEAD /x HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("POST with Content-Length", POST "Content-Length: 11\r\n\r\nhello world", ACCEPT),
    SAME("POST with Content-Length 0", POST "Content-Length: 0\r\n\r\n", ACCEPT),
    SAME("POST with no body", POST "\r\n", ACCEPT),
    SAME("PUT", "PUT /r HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc", ACCEPT),
    SAME("DELETE", "DELETE /r HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("PATCH", "PATCH /r HTTP/1.1\r\n" H "Content-Length: 2\r\n\r\n{}", ACCEPT),
    SAME("OPTIONS *", "OPTIONS * HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("OPTIONS /", "OPTIONS / HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("TRACE", "TRACE / HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("CONNECT authority-form", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", ACCEPT),
    SAME("extension method PURGE", "PURGE /x HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("WebDAV PROPFIND", "PROPFIND /d HTTP/1.1\r\n" H "Depth: 1\r\n\r\n", ACCEPT),
    SAME("GET with a body", GET "Content-Length: 4\r\n\r\nbody", ACCEPT),
    SAME("Content-Length with OWS", POST "Content-Length:   3  \r\n\r\nabc", ACCEPT),
    SAME("Content-Length leading zeros", POST "Content-Length: 007\r\n\r\n1234567", ACCEPT),
    SAME("CONTENT-LENGTH (case)", POST "CONTENT-LENGTH: 3\r\n\r\nabc", ACCEPT),
    SAME("Content-Length short body", POST "Content-Length: 10\r\n\r\nabc", INCOMPLETE),
    SAME("Content-Length 19 digits", POST "Content-Length: 9999999999999999999\r\n\r\nabc", INCOMPLETE),
    SAME("pipelined after a body", POST "Content-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("pipelined GETs", GET "\r\n" GET "\r\n", ACCEPT),
    SAME("head not finished", GET "X-A: b\r\n", INCOMPLETE),
    GEN_SAME("8000-byte target", gen_target_8000, ACCEPT),
    GEN_DIFF("9000-byte target", gen_target_9000, REJECT, ACCEPT,
             WHY_414 " (bulwark: 8 KiB request line by default)"),

    /* ---- connection management ---- */
    SAME("1.1 Connection: close", GET "Connection: close\r\n\r\n", ACCEPT),
    SAME("1.1 Connection: keep-alive", GET "Connection: keep-alive\r\n\r\n", ACCEPT),
    SAME("1.1 Connection: keep-alive, close", GET "Connection: keep-alive, close\r\n\r\n", ACCEPT),
    SAME("1.1 Connection: CLOSE (case)", GET "Connection: CLOSE\r\n\r\n", ACCEPT),
    SAME("1.0 without Host", "GET / HTTP/1.0\r\n\r\n", ACCEPT),
    SAME("1.0 Connection: keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ACCEPT),
    SAME("1.0 with Host and body", "POST /p HTTP/1.0\r\n" H "Content-Length: 2\r\n\r\nhi", ACCEPT),
    DIFF("1.0 Connection: keep-alive, close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
         ACCEPT, ACCEPT, FD_KEEPALIVE, WHY_KEEPALIVE_10),
    SAME("Upgrade: websocket", GET "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", ACCEPT),
    SAME("Upgrade without the Connection option", GET "Upgrade: websocket\r\n\r\n", ACCEPT),
    DIFF("1.0 Upgrade", "GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
         ACCEPT, ACCEPT, FD_UPGRADE, WHY_UPGRADE_10),
    SAME("Expect: 100-continue", POST "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", ACCEPT),
    DIFF("Expect other than 100-continue", GET "Expect: 200-ok\r\n\r\n", REJECT, ACCEPT, 0, WHY_EXPECT),
    SAME("two Connection fields (a list in two lines, RFC 9110 5.3)",
         GET "Connection: keep-alive\r\nConnection: x-foo\r\n\r\n", ACCEPT),

    /* ---- header fields ---- */
    SAME("field values trimmed", GET "A:  x  \r\nB:\ty\t\r\nC:z\r\n\r\n", ACCEPT),
    SAME("empty field value", GET "X-Empty:\r\nX-Empty2: \r\n\r\n", ACCEPT),
    SAME("obs-text in value", GET "X-Obs: caf\xc3\xa9\r\n\r\n", ACCEPT),
    SAME("every tchar in a name", GET "!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n", ACCEPT),
    SAME("value with inner spaces and quotes", GET "Cookie: a=\"b c\"; d=e\r\n\r\n", ACCEPT),
    SAME("20 fields", GET "A1: 1\r\nA2: 2\r\nA3: 3\r\nA4: 4\r\nA5: 5\r\nA6: 6\r\nA7: 7\r\nA8: 8\r\n"
         "A9: 9\r\nA10: 10\r\nA11: 11\r\nA12: 12\r\nA13: 13\r\nA14: 14\r\nA15: 15\r\nA16: 16\r\n"
         "A17: 17\r\nA18: 18\r\nA19: 19\r\n\r\n", ACCEPT),
    GEN_SAME("100 fields", gen_100_fields, ACCEPT),
    GEN_DIFF("101 fields", gen_101_fields, REJECT, ACCEPT, WHY_LIMIT " (bulwark: 100 fields by default, 431)"),
    GEN_DIFF("20 KB head", gen_big_head, REJECT, ACCEPT, WHY_LIMIT " (bulwark: 16 KiB head by default, 431)"),
    DIFF("space before colon", GET "Foo : bar\r\n\r\n", REJECT, ACCEPT, 0, WHY_WS_COLON),
    SAME("tab before colon", GET "Foo\t: bar\r\n\r\n", REJECT),
    SAME("empty field name", GET ": bar\r\n\r\n", REJECT),
    SAME("field line without colon", GET "Foo\r\n\r\n", REJECT),
    SAME("invalid char in name", GET "Fo@o: bar\r\n\r\n", REJECT),
    SAME("obs-text in name", GET "F\xc3\xa9: bar\r\n\r\n", REJECT),
    DIFF("space before the first field", "GET / HTTP/1.1\r\n " H "\r\n", REJECT, ACCEPT, 0, WHY_WS_FIRST),
    SAME("CTL in value", GET "Foo: a\x01" "b\r\n\r\n", REJECT),
    SAME("DEL in value", GET "Foo: a\x7f" "b\r\n\r\n", REJECT),
    SAME("NUL in value", GET "Foo: a\0b\r\n\r\n", REJECT),
    SAME("NUL in name", GET "Fo\0o: b\r\n\r\n", REJECT),
    DIFF("obs-fold", GET "X-Folded: a\r\n b\r\n\r\n", REJECT, ACCEPT, 0, WHY_OBS_FOLD),
    DIFF("obs-fold with tab", GET "X-Folded: a\r\n\tb\r\n\r\n", REJECT, ACCEPT, 0, WHY_OBS_FOLD),
    SAME("bare CR in value", GET "Foo: a\rb\r\n\r\n", REJECT),
    SAME("bare CR ends a field line", GET "Foo: a\rBar: b\r\n\r\n", REJECT),
    DIFF("bare LF ends a field line", GET "Foo: bar\n\r\n", REJECT, ACCEPT, 0, WHY_BARE_LF),
    DIFF("bare LF line endings", "GET / HTTP/1.1\nHost: a.test\n\n", REJECT, ACCEPT, 0, WHY_BARE_LF),
    DIFF("bare LF after the request line", "GET / HTTP/1.1\n" H "\r\n", REJECT, ACCEPT, 0, WHY_BARE_LF),
    DIFF("bare LF empty line", GET "\n", REJECT, ACCEPT, 0, WHY_BARE_LF),

    /* ---- Host ---- */
    SAME("Host with port", "GET / HTTP/1.1\r\nHost: a.test:8080\r\n\r\n", ACCEPT),
    SAME("Host IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", ACCEPT),
    DIFF("missing Host in 1.1", "GET / HTTP/1.1\r\nFoo: bar\r\n\r\n", REJECT, ACCEPT, 0, WHY_HOST),
    DIFF("two different Hosts", GET "Host: b.test\r\n\r\n", REJECT, ACCEPT, 0, WHY_HOST),
    DIFF("two identical Hosts", GET H "\r\n", REJECT, ACCEPT, 0, WHY_HOST),
    DIFF("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", REJECT, ACCEPT, 0, WHY_EMPTY_HOST),
    DIFF("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", REJECT, ACCEPT, 0, WHY_HOST_VALUE),
    DIFF("Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", REJECT, ACCEPT, 0, WHY_HOST_VALUE),
    DIFF("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a.test\r\n\r\n", REJECT, ACCEPT, 0, WHY_HOST_VALUE),

    /* ---- request line ---- */
    SAME("leading CRLF", "\r\n" GET "\r\n", ACCEPT),
    DIFF("two leading CRLF", "\r\n\r\n" GET "\r\n", REJECT, ACCEPT, 0, WHY_EMPTY_LINES),
    DIFF("leading bare LF", "\n" GET "\r\n", REJECT, ACCEPT, 0, WHY_EMPTY_LINES),
    DIFF("lowercase method", "get / HTTP/1.1\r\n" H "\r\n", ACCEPT, REJECT, 0, WHY_METHOD),
    DIFF("unknown method", "FOO / HTTP/1.1\r\n" H "\r\n", ACCEPT, REJECT, 0, WHY_METHOD),
    SAME("invalid char in method", "G(T / HTTP/1.1\r\n" H "\r\n", REJECT),
    SAME("NUL in method", "GE\0T / HTTP/1.1\r\n" H "\r\n", REJECT),
    SAME("leading space", " GET / HTTP/1.1\r\n" H "\r\n", REJECT),
    DIFF("two spaces after method", "GET  / HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_REQLINE_WS),
    DIFF("two spaces after target", "GET /  HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_REQLINE_WS),
    SAME("tab as separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", REJECT),
    SAME("space in target", "GET /a b HTTP/1.1\r\n" H "\r\n", REJECT),
    SAME("CTL in target", "GET /a\x01 HTTP/1.1\r\n" H "\r\n", REJECT),
    SAME("NUL in target", "GET /a\0b HTTP/1.1\r\n" H "\r\n", REJECT),
    SAME("DEL in target", "GET /a\x7f HTTP/1.1\r\n" H "\r\n", REJECT),
    DIFF("obs-text in target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_TARGET_CHARS),
    SAME("fragment in target", "GET /a#frag HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("ASCII outside RFC 3986 in target", "GET /a\"b<c>d\\e^f`g{h|i}j HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("relative target", "GET a/b HTTP/1.1\r\n" H "\r\n", REJECT),
    DIFF("GET *", "GET * HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_ASTERISK),
    DIFF("M-SEARCH *", "M-SEARCH * HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_ASTERISK),
    SAME("absolute-form", "GET http://a.test/p?q=1 HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("absolute-form https, no path", "GET https://a.test HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("absolute-form with port", "GET http://a.test:8080/ HTTP/1.1\r\nHost: a.test:8080\r\n\r\n", ACCEPT),
    SAME("absolute-form upper-case scheme", "GET HTTP://a.test/ HTTP/1.1\r\n" H "\r\n", ACCEPT),
    SAME("absolute-form overrides Host", "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n", ACCEPT),
    SAME("absolute-form in 1.0", "GET http://a.test/ HTTP/1.0\r\n\r\n", ACCEPT),
    DIFF("absolute-form without Host", "GET http://a.test/ HTTP/1.1\r\n\r\n", REJECT, ACCEPT, 0, WHY_ABS_NO_HOST),
    DIFF("absolute-form ftp", "GET ftp://a.test/ HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_SCHEME),
    DIFF("absolute-form userinfo", "GET http://u:p@a.test/ HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_USERINFO),
    DIFF("absolute-form empty host", "GET http:///x HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0,
         WHY_EMPTY_AUTHORITY),
    DIFF("CONNECT without port", "CONNECT a.test HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_CONNECT),
    DIFF("CONNECT origin-form", "CONNECT / HTTP/1.1\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_CONNECT),
    DIFF("HTTP/2.0", "GET / HTTP/2.0\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_MAJOR),
    DIFF("HTTP/0.9", "GET / HTTP/0.9\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_MAJOR),
    DIFF("HTTP/1.2", "GET / HTTP/1.2\r\n" H "\r\n", ACCEPT, ACCEPT, FD_VERSION,
         "RFC 9110 6.2: a later minor version \"SHOULD [be processed] as if it were in the highest "
         "minor version within that major version to which the recipient is conformant\": bulwark "
         "reads it as 1.1 (http_parser reports 1.2)"),
    SAME("HTTP/1.10", "GET / HTTP/1.10\r\n" H "\r\n", REJECT),
    SAME("lowercase version", "GET / http/1.1\r\n" H "\r\n", REJECT),
    DIFF("no version", "GET /\r\n" H "\r\n", REJECT, ACCEPT, 0, WHY_NO_VERSION),
    SAME("space after version", "GET / HTTP/1.1 \r\n" H "\r\n", REJECT),
    SAME("bare CR after version", "GET / HTTP/1.1\r\r\n" H "\r\n", REJECT),
    SAME("a response, not a request", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", REJECT),
    SAME("TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", REJECT),

    /* ---- framing: Content-Length and Transfer-Encoding ---- */
    SAME("CL + TE", POST "Content-Length: 5\r\n" TE_CHUNKED "\r\n" BODY5, REJECT),
    SAME("TE + CL", POST TE_CHUNKED "Content-Length: 5\r\n\r\n" BODY5, REJECT),
    SAME("CL + TE in HTTP/1.0", "POST /p HTTP/1.0\r\nContent-Length: 5\r\n" TE_CHUNKED "\r\n" BODY5, REJECT),
    SAME("duplicate differing CL", POST "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", REJECT),
    DIFF("identical duplicate CL", POST "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", ACCEPT, REJECT, 0,
         WHY_SAME_CL),
    SAME("CL list, same values", POST "Content-Length: 5, 5\r\n\r\nhello", REJECT),
    SAME("CL plus sign", POST "Content-Length: +5\r\n\r\nhello", REJECT),
    SAME("CL minus sign", POST "Content-Length: -5\r\n\r\nhello", REJECT),
    SAME("CL hex", POST "Content-Length: 0x5\r\n\r\nhello", REJECT),
    SAME("CL inner space", POST "Content-Length: 1 2\r\n\r\nhello", REJECT),
    SAME("CL obs-fold", POST "Content-Length: 5\r\n 6\r\n\r\nhello", REJECT),
    SAME("CL 2^64", POST "Content-Length: 18446744073709551616\r\n\r\nhello", REJECT),
    DIFF("CL 20 digits, leading zeros", POST "Content-Length: 00000000000000000005\r\n\r\nhello", REJECT, ACCEPT, 0,
         WHY_DIGITS),
    SAME("CL letters", POST "Content-Length: five\r\n\r\nhello", REJECT),
    SAME("empty CL", POST "Content-Length:\r\n\r\n", REJECT),
    SAME("TE chunked, identity", POST "Transfer-Encoding: chunked, identity\r\n\r\n" BODY5, REJECT),
    SAME("TE identity", POST "Transfer-Encoding: identity\r\n\r\nhello", REJECT),
    SAME("TE chunked, gzip", POST "Transfer-Encoding: chunked, gzip\r\n\r\n" BODY5, REJECT),
    SAME("TE chunked then gzip line", POST TE_CHUNKED "Transfer-Encoding: gzip\r\n\r\n" BODY5, REJECT),
    SAME("TE chunked then empty line", POST TE_CHUNKED "Transfer-Encoding:\r\n\r\n" BODY5, REJECT),
    SAME("TE chunked twice", POST "Transfer-Encoding: chunked, chunked\r\n\r\n" BODY5, REJECT),
    DIFF("TE chunked on two lines", POST TE_CHUNKED TE_CHUNKED "\r\n" BODY5, REJECT, ACCEPT, 0, WHY_CHUNKED_TWICE),
    DIFF("TE gzip, chunked", POST "Transfer-Encoding: gzip, chunked\r\n\r\n" BODY5, REJECT, ACCEPT, 0, WHY_TE_501),
    DIFF("TE gzip line then chunked line", POST "Transfer-Encoding: gzip\r\n" TE_CHUNKED "\r\n" BODY5,
         REJECT, ACCEPT, 0, WHY_TE_501),
    DIFF("TE empty list element", POST "Transfer-Encoding: , chunked\r\n\r\n" BODY5, ACCEPT, REJECT, 0,
         WHY_EMPTY_ELEMENT),
    SAME("TE chunkedx", POST "Transfer-Encoding: chunkedx\r\n\r\n" BODY5, REJECT),
    SAME("TE quoted", POST "Transfer-Encoding: \"chunked\"\r\n\r\n" BODY5, REJECT),
    SAME("TE with parameter", POST "Transfer-Encoding: chunked;q=1\r\n\r\n" BODY5, REJECT),
    SAME("TE vertical tab", POST "Transfer-Encoding: \x0b" "chunked\r\n\r\n" BODY5, REJECT),
    DIFF("TE space before colon", POST "Transfer-Encoding : chunked\r\n\r\n" BODY5, REJECT, ACCEPT, 0,
         WHY_WS_COLON "  (http_parser reads the field as Transfer-Encoding; a parser that takes it for "
         "another field reads the chunked body as the next request)"),
    DIFF("obs-fold in Transfer-Encoding", POST "Transfer-Encoding:\r\n chunked\r\n\r\n" BODY5, REJECT, ACCEPT, 0,
         WHY_OBS_FOLD),
    DIFF("TE in HTTP/1.0", "POST /p HTTP/1.0\r\n" TE_CHUNKED "\r\n" BODY5, REJECT, ACCEPT, 0, WHY_TE_10),

    /* ---- chunked bodies ---- */
    SAME("chunked", POST TE_CHUNKED "\r\n" BODY5, ACCEPT),
    SAME("chunked, empty body", POST TE_CHUNKED "\r\n0\r\n\r\n", ACCEPT),
    SAME("chunked, several chunks", POST TE_CHUNKED "\r\n3\r\nabc\r\n1\r\nd\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
         ACCEPT),
    SAME("chunked, hex size upper and lower", POST TE_CHUNKED "\r\nA\r\n0123456789\r\nb\r\n0123456789a\r\n0\r\n\r\n",
         ACCEPT),
    SAME("chunked, data holding CRLF", POST TE_CHUNKED "\r\n6\r\na\r\n0\r\n\r\n0\r\n\r\n", ACCEPT),
    SAME("chunked, leading zeros in size", POST TE_CHUNKED "\r\n0005\r\nhello\r\n000\r\n\r\n", ACCEPT),
    SAME("chunked, extension", POST TE_CHUNKED "\r\n5;name=val\r\nhello\r\n0;last\r\n\r\n", ACCEPT),
    SAME("chunked, quoted extension", POST TE_CHUNKED "\r\n5;a=\"b c\"\r\nhello\r\n0\r\n\r\n", ACCEPT),
    SAME("chunked, BWS in extension", POST TE_CHUNKED "\r\n5 ; a = b\r\nhello\r\n0\r\n\r\n", ACCEPT),
    SAME("chunked, trailer fields", POST TE_CHUNKED "\r\n" "5\r\nhello\r\n0\r\nX-T: v\r\nX-U: w\r\n\r\n", ACCEPT),
    SAME("chunked, Content-Length trailer", POST TE_CHUNKED "\r\n" "5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n",
         ACCEPT),
    SAME("Transfer-Encoding: CHUNKED (case)", POST "Transfer-Encoding: CHUNKED\r\n\r\n" BODY5, ACCEPT),
    SAME("Transfer-Encoding with OWS", POST "Transfer-Encoding:  chunked \r\n\r\n" BODY5, ACCEPT),
    SAME("chunked, body not finished", POST TE_CHUNKED "\r\n5\r\nhel", INCOMPLETE),
    SAME("chunked, no last chunk", POST TE_CHUNKED "\r\n5\r\nhello\r\n", INCOMPLETE),
    SAME("chunked, 2^63-1 size", POST TE_CHUNKED "\r\n7FFFFFFFFFFFFFFF\r\nabc", INCOMPLETE),
    DIFF("chunked, 2^64-1 size", POST TE_CHUNKED "\r\nFFFFFFFFFFFFFFFF\r\nabc", INCOMPLETE, REJECT, 0,
         WHY_CHUNK_MAX),
    SAME("chunked, pipelined after", POST TE_CHUNKED "\r\n" BODY5 GET "\r\n", ACCEPT),
    SAME("invalid chunk size", POST TE_CHUNKED "\r\nzz\r\nhello\r\n0\r\n\r\n", REJECT),
    SAME("negative chunk size", POST TE_CHUNKED "\r\n-5\r\nhello\r\n0\r\n\r\n", REJECT),
    SAME("plus sign in chunk size", POST TE_CHUNKED "\r\n+5\r\nhello\r\n0\r\n\r\n", REJECT),
    SAME("0x chunk size", POST TE_CHUNKED "\r\n0x5\r\nhello\r\n0\r\n\r\n", REJECT),
    SAME("empty chunk size", POST TE_CHUNKED "\r\n\r\nhello\r\n0\r\n\r\n", REJECT),
    SAME("chunk size 2^64", POST TE_CHUNKED "\r\n10000000000000000\r\nabc", REJECT),
    DIFF("chunked, 17-digit size", POST TE_CHUNKED "\r\n00000000000000005\r\nhello\r\n0\r\n\r\n", REJECT, ACCEPT, 0,
         WHY_DIGITS),
    DIFF("chunked, 17-digit last chunk", POST TE_CHUNKED "\r\n5\r\nhello\r\n00000000000000000\r\n\r\n",
         REJECT, ACCEPT, 0, WHY_DIGITS),
    SAME("chunk longer than its size", POST TE_CHUNKED "\r\n5\r\nhelloX\r\n0\r\n\r\n", REJECT),
    SAME("bare LF after chunk size", POST TE_CHUNKED "\r\n5\nhello\r\n0\r\n\r\n", REJECT),
    SAME("chunked, bare LF after data", POST TE_CHUNKED "\r\n5\r\nhello\n0\r\n\r\n", REJECT),
    SAME("chunked, bare CR in extension", POST TE_CHUNKED "\r\n5;a\rb\r\nhello\r\n0\r\n\r\n", REJECT),
    SAME("chunked, trailer without colon", POST TE_CHUNKED "\r\n5\r\nhello\r\n0\r\nXy\r\n\r\n", REJECT),
    DIFF("chunked, no CRLF after data", POST TE_CHUNKED "\r\n5\r\nhelloXY0\r\n\r\n", REJECT, ACCEPT, 0,
         WHY_CHUNK_GRAMMAR "  (http_parser takes any two octets after the data for its CRLF)"),
    DIFF("chunked, space after size", POST TE_CHUNKED "\r\n5 \r\nhello\r\n0\r\n\r\n", REJECT, ACCEPT, 0,
         WHY_CHUNK_GRAMMAR "  (BWS only before a \";\")"),
    DIFF("chunked, CTL in extension", POST TE_CHUNKED "\r\n5;a\x01\r\nhello\r\n0\r\n\r\n", REJECT, ACCEPT, 0,
         WHY_CHUNK_EXT),
    DIFF("chunked, NUL in extension", POST TE_CHUNKED "\r\n5;a\0\r\nhello\r\n0\r\n\r\n", REJECT, ACCEPT, 0,
         WHY_CHUNK_EXT),
    DIFF("chunked, bare LF at the end", POST TE_CHUNKED "\r\n5\r\nhello\r\n0\r\n\n", REJECT, ACCEPT, 0,
         WHY_CHUNK_GRAMMAR),
    DIFF("chunked, bare LF in trailer", POST TE_CHUNKED "\r\n5\r\nhello\r\n0\r\nX: y\n\r\n", REJECT, ACCEPT, 0,
         WHY_BARE_LF " (trailer-section = *( field-line CRLF ), RFC 9112 7.1.2)"),
    DIFF("chunked, folded trailer", POST TE_CHUNKED "\r\n5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n", REJECT, ACCEPT, 0,
         WHY_OBS_FOLD),
};

enum { NCASES = sizeof(corpus) / sizeof(corpus[0]) };

static void gen_corpus(void)
{
    char *p = gen_100_fields;
    p += sprintf(p, "GET / HTTP/1.1\r\n" H);
    for (int i = 1; i < 100; i++)
        p += sprintf(p, "X-%d: %d\r\n", i, i);
    strcpy(p, "\r\n");
    strcpy(gen_101_fields, gen_100_fields);
    strcpy(gen_101_fields + strlen(gen_101_fields) - 2, "X-100: 100\r\n\r\n");

    p = gen_big_head;
    p += sprintf(p, "GET / HTTP/1.1\r\n" H "Cookie: ");
    memset(p, 'c', 19000);
    strcpy(p + 19000, "\r\n\r\n");

    char *t[2] = { gen_target_8000, gen_target_9000 };
    size_t n[2] = { 8000, 9000 };
    for (int i = 0; i < 2; i++) {
        p = t[i] + sprintf(t[i], "GET /");
        memset(p, 'a', n[i] - 1);
        strcpy(p + n[i] - 1, " HTTP/1.1\r\n" H "\r\n");
    }
}

static size_t case_len(const diff_case *c)
{
    return c->len ? c->len : strlen(c->raw);
}

/* ---- reporting ---- */

static void print_escaped(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 160; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r')
            fputs("\\r", f);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch == '\\' || ch == '"')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    if (n > 160)
        fputs("...", f);
}

static void fields_str(char *buf, size_t size, unsigned fields)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < sizeof(field_name) / sizeof(field_name[0]); i++)
        if (fields & (1u << i))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "", field_name[i]);
}

static void dump(const diff_case *c, const outcome *bw, const outcome *hp, unsigned fields)
{
    char fs[128];
    fields_str(fs, sizeof(fs), fields);
    printf("%-44s bw=%-10s hp=%-10s %s%-16s %d %s | %s | \"", c->name, verdict_name[bw->v],
           verdict_name[hp->v], bw->v != hp->v || fields ? "DIFF " : "", fs, bw->status,
           bw->error ? bw->error : "-", hp->error ? hp->error : "-");
    print_escaped(stdout, c->raw, case_len(c));
    printf("\"\n");
}

/* ---- the tests ---- */

static outcome out_bw, out_hp;

/* Run one row; returns the number of problems found (printed). */
static int check_case(const diff_case *c, bool dumping)
{
    size_t len = case_len(c);
    run_bulwark(c->raw, len, &out_bw);
    run_http_parser(c->raw, len, &out_hp);
    unsigned fields = 0;
    if (out_bw.v == ACCEPT && out_hp.v == ACCEPT)
        fields = differing_fields(&out_bw, &out_hp);
    if (dumping)
        dump(c, &out_bw, &out_hp, fields);

    int bad = 0;
    if (out_bw.overflow || out_hp.overflow) {
        print_error("%s: outcome buffers overflowed\n", c->name);
        bad++;
    }
    if (out_bw.v != c->bw || out_hp.v != c->hp) {
        bool differ = out_bw.v != out_hp.v;
        print_error("%s: verdicts bulwark %s (%s), http_parser %s (%s); the table says %s, %s%s\n",
                    c->name, verdict_name[out_bw.v], out_bw.error ? out_bw.error : "-",
                    verdict_name[out_hp.v], out_hp.error ? out_hp.error : "-",
                    verdict_name[c->bw], verdict_name[c->hp],
                    differ && !c->why ? " -- a new disagreement: justify it or fix the parser"
                    : !differ && c->why ? " -- a listed disagreement is gone: update the table and "
                                          "docs/PARSER_DIFF.md"
                                        : "");
        bad++;
    }
    if (fields != c->fields) {
        char got[128], want[128];
        fields_str(got, sizeof(got), fields);
        fields_str(want, sizeof(want), c->fields);
        print_error("%s: fields that differ: {%s}; the table says {%s}\n", c->name, got, want);
        bad++;
    }
    return bad;
}

/* Every row: the verdicts and differing fields the table pins. */
static void test_corpus(void **state)
{
    (void)state;
    bool dumping = getenv("BW_PARSER_DIFF_DUMP") != NULL;
    if (dumping) {
        unsigned long v = http_parser_version();
        printf("http_parser %lu.%lu.%lu\n", (v >> 16) & 255, (v >> 8) & 255, v & 255);
    }
    int bad = 0;
    for (size_t i = 0; i < NCASES; i++)
        bad += check_case(&corpus[i], dumping);
    assert_int_equal(bad, 0);
}

/* The table is consistent: a reason exactly where the parsers disagree, and
 * a disagreement always about something (fields only when both accept). */
static void test_table_is_sound(void **state)
{
    (void)state;
    int bad = 0;
    assert_true(NCASES >= 80);
    for (size_t i = 0; i < NCASES; i++) {
        const diff_case *c = &corpus[i];
        bool differ = c->bw != c->hp || c->fields != 0;
        if (differ != (c->why != NULL) || (c->open && !differ)) {
            print_error("%s: a `why` is required exactly for a disagreement\n", c->name);
            bad++;
        }
        if (c->fields && (c->bw != ACCEPT || c->hp != ACCEPT)) {
            print_error("%s: fields are compared only when both accept\n", c->name);
            bad++;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(corpus[j].name, c->name) == 0) {
                print_error("%s: duplicate row name\n", c->name);
                bad++;
            }
    }
    assert_int_equal(bad, 0);
}

/* The adapters themselves: one request whose every field is known. */
static void test_adapters(void **state)
{
    (void)state;
    static const char raw[] = "POST /u?q HTTP/1.1\r\n" H "Connection: close\r\n" TE_CHUNKED
                              "\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nGET";
    outcome *o[2] = { &out_bw, &out_hp };
    run_bulwark(raw, sizeof(raw) - 1, o[0]);
    run_http_parser(raw, sizeof(raw) - 1, o[1]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(o[i]->v, ACCEPT);
        assert_int_equal(o[i]->consumed, sizeof(raw) - 1 - 3);
        assert_true(bw_str_eq(out_str(o[i], o[i]->method), BW_STR_LIT("POST")));
        assert_true(bw_str_eq(out_str(o[i], o[i]->target), BW_STR_LIT("/u?q")));
        assert_int_equal(o[i]->major * 10 + o[i]->minor, 11);
        assert_true(o[i]->chunked);
        assert_false(o[i]->has_cl);
        assert_false(o[i]->keepalive);
        assert_int_equal(o[i]->nfields, 3);
        assert_true(bw_str_eq(out_str(o[i], o[i]->name[2]), BW_STR_LIT("Transfer-Encoding")));
        assert_true(bw_str_eq(out_str(o[i], o[i]->value[0]), BW_STR_LIT("a.test")));
        assert_true(bw_str_eq(out_str(o[i], o[i]->body), BW_STR_LIT("abcde")));
    }
    assert_int_equal(differing_fields(o[0], o[1]), 0);
}

int main(void)
{
    gen_corpus();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adapters),
        cmocka_unit_test(test_table_is_sound),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
