/*
 * parser.h - the HTTP/1.x message head parser and chunked decoder.
 *
 * Written for bulwark (see docs/DECISIONS.md): strict RFC 9112 parsing that
 * refuses every request-smuggling vector, never copies (all strings are
 * bw_str slices into the caller's buffer) and records the order of header
 * names as it goes (the fingerprint of how a client speaks HTTP).
 *
 * The parser owns no memory: the caller passes the buffer, the result struct
 * and the header array.  It keeps no state between calls for heads (a head is
 * parsed in one go once its terminating CRLFCRLF has arrived; use
 * bw_http_head_end() to find it incrementally).  The chunked decoder is a
 * small streaming state machine the caller embeds.
 */
#ifndef BW_HTTP_PARSER_H
#define BW_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/str.h"

typedef struct bw_http_header {
    bw_str name;
    bw_str value; /* leading/trailing SP/HTAB trimmed */
} bw_http_header;

typedef enum bw_http_method {
    BW_HTTP_OTHER = 0,
    BW_HTTP_GET,
    BW_HTTP_HEAD,
    BW_HTTP_POST,
    BW_HTTP_PUT,
    BW_HTTP_DELETE,
    BW_HTTP_CONNECT,
    BW_HTTP_OPTIONS,
    BW_HTTP_TRACE,
    BW_HTTP_PATCH,
} bw_http_method;

/* Message flags (request and response). */
enum {
    BW_HTTP_F_CHUNKED = 1u << 0,       /* Transfer-Encoding: chunked (final coding) */
    BW_HTTP_F_HAS_CL = 1u << 1,        /* a valid Content-Length was present */
    BW_HTTP_F_KEEPALIVE = 1u << 2,     /* persistent per version + Connection */
    BW_HTTP_F_UPGRADE = 1u << 3,       /* Connection: upgrade + Upgrade header */
    BW_HTTP_F_EXPECT_CONTINUE = 1u << 4, /* Expect: 100-continue (requests) */
    BW_HTTP_F_HAS_CONNECTION = 1u << 5, /* a Connection header was present */
    BW_HTTP_F_ABSOLUTE_FORM = 1u << 6, /* request-target was absolute-form */
};

/* Limits applied while parsing a request head; 0 means the built-in default. */
typedef struct bw_http_limits {
    size_t max_request_line; /* default 8192; longer -> 414 */
    size_t max_headers;      /* default 100;  more   -> 431 */
    size_t max_head_bytes;   /* default 16384 (whole head); more -> 431 */
} bw_http_limits;

typedef struct bw_http_request {
    bw_str method;
    bw_http_method method_id;
    bw_str target;        /* request-target exactly as received */
    bw_str path;          /* path part of target (for absolute-form: after authority) */
    bw_str query;         /* after '?', without it; len 0 if none */
    int version;          /* 10 or 11 */
    bw_str host;          /* Host header, or authority of absolute-form target */
    bw_str upgrade;       /* Upgrade header value, if any */
    bw_str connection;    /* Connection header value (tokens name hop-by-hop headers) */
    uint64_t content_length; /* valid if BW_HTTP_F_HAS_CL */
    unsigned flags;       /* BW_HTTP_F_* */
    uint64_t header_order_hash; /* FNV-1a of lower-cased names, in order, each followed by ':' */
    bw_http_header *headers; /* = the array passed in, in wire order */
    size_t nheaders;
    const char *error;    /* on failure: a short static reason for the log */
} bw_http_request;

typedef struct bw_http_response {
    int version;          /* 10 or 11 */
    int status;           /* 100..999 */
    bw_str reason;
    bw_str connection;
    uint64_t content_length;
    unsigned flags;
    bw_http_header *headers;
    size_t nheaders;
    const char *error;
} bw_http_response;

/*
 * Find the end of a message head (the byte after CRLFCRLF).  *scan is the
 * caller's resume offset (start at 0): the search restarts near where the
 * previous call stopped, so a head that arrives a byte at a time costs O(n).
 * Returns the head length, or 0 if the head is not complete yet.
 */
size_t bw_http_head_end(const char *buf, size_t len, size_t *scan);

/*
 * Parse a request head.  buf/len should hold at least the whole head (extra
 * bytes after it are ignored).  hdrs/cap is the header array the result
 * points into.
 * Returns the head length (> 0) on success, 0 if the head is incomplete and
 * still within limits, or a negative HTTP status on error: -400 malformed or
 * smuggling attempt, -414 request line too long, -417 an Expect other than
 * 100-continue, -431 too many / too large headers, -501 unsupported transfer
 * coding, -505 unsupported version.  An incomplete head is still checked as
 * far as it goes: errors already visible are returned instead of 0.
 * On error req->error says why.
 */
int bw_http_parse_request(const char *buf, size_t len, const bw_http_limits *lim,
                          bw_http_request *req, bw_http_header *hdrs, size_t cap);

/*
 * Parse a response head from an origin.  Same return convention (errors are
 * -502: the origin spoke invalid HTTP).  Limits as for requests.
 */
int bw_http_parse_response(const char *buf, size_t len, const bw_http_limits *lim,
                           bw_http_response *resp, bw_http_header *hdrs, size_t cap);

/* The value of the first header field named name (any case) among
 * headers[0..n): true and *value if there is one. */
bool bw_http_header_find(const bw_http_header *headers, size_t n, bw_str name, bw_str *value);

/* Method token -> id (BW_HTTP_OTHER if not one of the known ones). */
bw_http_method bw_http_method_id(bw_str method);

/* True if a connection-option token list (e.g. "keep-alive, Upgrade") contains tok. */
int bw_http_token_list_has(bw_str list, const char *tok);

/*
 * Streaming chunked transfer-coding decoder.  Zero-initialise (or
 * bw_chunked_init) before the first call.
 */
typedef struct bw_chunked {
    int state;
    uint64_t remaining;   /* data bytes left in the current chunk */
    unsigned digits;      /* hex digits seen in the current size */
    unsigned ext_len;     /* chunk-extension bytes seen (bounded) */
    unsigned trailer_len; /* trailer bytes seen (bounded) */
    int done;             /* the last chunk and trailers were consumed */
} bw_chunked;

void bw_chunked_init(bw_chunked *d);

/*
 * Decode from in[0..len).  Consumes framing and stops after the first run of
 * data bytes, which it returns as *data (a slice of in; data->len may be 0).
 * Returns the number of input bytes consumed (>= 0; data bytes included), or
 * -1 on a framing error (invalid size, overflow, missing CRLF, bare CR,
 * oversized extension or trailers).  d->done is set once the whole body,
 * trailers included, has been consumed; bytes after that are not consumed.
 * Callers loop until the input is used up or done is set.
 */
ssize_t bw_chunked_decode(bw_chunked *d, const char *in, size_t len, bw_str *data);

#endif
