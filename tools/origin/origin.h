/*
 * origin.h - bulwark-origin, the demo and test origin server.
 *
 * A deliberately simple HTTP/1.1 server: one thread per TCP connection,
 * blocking sockets.  It exists so that the end-to-end tests (test/e2e) and
 * `make run` have an origin whose behaviour is known byte for byte: every
 * response says which origin, which origin-side connection and which request
 * on that connection produced it (X-Origin-Name, X-Origin-Conn,
 * X-Origin-Req), so a test can see keep-alive reuse and load balancing from
 * the outside.
 *
 * Files:
 *   origin.c  command line, listeners, the per-connection loop, request
 *             framing (heads through the project's parser, bodies streamed)
 *             and the buffered response writer
 *   routes.c  the route table and one handler per route
 *   ws.c      the WebSocket echo endpoint (RFC 6455)
 *
 * Memory: a bw_origin_conn owns its read and write buffers; it is created by
 * the accept loop and freed by its thread when the connection ends.  Request
 * head slices (c->req) point into c->rbuf and stay valid only until the first
 * body read: handlers take what they need from the head first.
 */
#ifndef BW_ORIGIN_H
#define BW_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/str.h"
#include "http/parser.h"

#define BW_ORIGIN_RBUF (128 * 1024)  /* request heads up to 64 KiB + pipelined data */
#define BW_ORIGIN_WBUF (64 * 1024)   /* response bytes are written in pieces this big */
#define BW_ORIGIN_PIECE (64 * 1024)  /* body bytes read per recv() */
#define BW_ORIGIN_MAX_HEADERS 256
#define BW_ORIGIN_MAX_HEAD (64 * 1024)

/* Process-wide settings, fixed before the first connection is accepted. */
typedef struct bw_origin_opts {
    const char *name; /* X-Origin-Name */
    bool quiet;       /* no per-request log lines */
} bw_origin_opts;

extern bw_origin_opts bw_origin_options;

typedef struct bw_origin_conn {
    int fd;
    uint64_t serial; /* X-Origin-Conn: 1, 2, ... in accept order */
    uint64_t nreq;   /* X-Origin-Req of the current request */

    /* Input: unconsumed bytes are rbuf[rpos..rend). */
    char *rbuf;
    size_t rpos, rend;

    /* The current request head (slices into rbuf). */
    bw_http_request req;
    bw_http_header hdrs[BW_ORIGIN_MAX_HEADERS];
    int version;       /* copy of req.version, valid for the whole request */
    bool head_only;    /* HEAD: headers as for GET, no body bytes */

    /* The current request body. */
    bool body_chunked;
    uint64_t body_left; /* Content-Length bytes not read yet */
    bw_chunked dec;
    bool body_done;

    /* Output: buffered; flushed when full and at the end of each response. */
    char *wbuf;
    size_t wlen;
    bool resp_chunked;
    bool resp_nobody;
    int status;
    uint64_t bytes_out; /* response body bytes, for the log line */

    bool keepalive; /* false: close once this response is out */
    bool broken;    /* an I/O or framing error: close now */
} bw_origin_conn;

/* ---- output (origin.c) ---- */

/* Append raw bytes to the output (flushes as needed).  Returns 0 or -1. */
int bw_origin_out(bw_origin_conn *c, const void *p, size_t n);
int bw_origin_flush(bw_origin_conn *c);

/*
 * Write a response head.  len is the body length for Content-Length, or -1
 * for a chunked body (close-delimited for an HTTP/1.0 client).  extra is
 * more header lines, each ending in CRLF, or NULL.  1xx, 204 and 304 carry
 * no body and no length.  Returns 0 or -1.
 */
int bw_origin_begin(bw_origin_conn *c, int status, const char *ctype, int64_t len,
                    const char *extra);

/* Body bytes, framed as the head announced (chunks if chunked). */
int bw_origin_body(bw_origin_conn *c, const void *p, size_t n);

/* End of the body (the last chunk if chunked) and flush. */
int bw_origin_end(bw_origin_conn *c);

/* A whole small response in one call. */
int bw_origin_respond(bw_origin_conn *c, int status, const char *ctype, const void *body,
                      size_t len);

const char *bw_origin_reason(int status);

/* ---- input (origin.c) ---- */

/*
 * Next run of request body bytes as a slice into c->rbuf (valid until the
 * next call).  Returns its length (> 0), 0 at the end of the body, or -1 on
 * an I/O or chunked framing error (c->broken is set).
 */
ssize_t bw_origin_body_read(bw_origin_conn *c, bw_str *out);

/* Read exactly n raw bytes (after the head: WebSocket frames).  0 or -1. */
int bw_origin_read_exact(bw_origin_conn *c, void *dst, size_t n);

/* Header value by name (case-insensitive), or a NULL slice. */
bw_str bw_origin_header(const bw_origin_conn *c, const char *name);

/* Value of a numeric query parameter, or def if absent or invalid. */
uint64_t bw_origin_query_u64(const bw_origin_conn *c, const char *key, uint64_t def);

/* ---- routes (routes.c) and WebSocket (ws.c) ---- */

/* Answer the parsed request in c (the body, if any, is not read yet). */
void bw_origin_route(bw_origin_conn *c);

/* GET /ws: the handshake, then echo frames until close.  The connection
 * ends after it returns. */
void bw_origin_ws(bw_origin_conn *c);

#endif
