/*
 * probe.h - bulwark-probe, the origin that counts what really reached it.
 *
 * bulwark-siege attacks a site through a proxy (bulwark, or anything else)
 * and needs to know, second by second, how much of each scenario got past
 * the proxy.  bulwark-probe is that site: a small "AI service" (HTML pages,
 * static files, a JSON API, an expensive POST /api/chat and a POST /login
 * with 100,000 accounts) that counts every request it receives.  It must be
 * much faster than the proxy in front of it, so that what it counts is what
 * the proxy let through and not what the probe could take: one thread,
 * non-blocking sockets on bulwark's edge-triggered loop (core/loop.h), no
 * allocation per request, no log line per request.
 *
 * Counting rule.  Every request whose head parsed is counted, except the
 * probe's own /__probe/... endpoints and /healthz, in the cell
 * (unix second of arrival, octet) where octet is the SECOND octet of the
 * client's IPv4 address: the last entry of the (last) X-Forwarded-For header
 * if there is one (the address the proxy appended), else the TCP peer.  An
 * address outside 127.0.0.0/8, an IPv6 address or anything unparsable counts
 * as octet 0 (IPv4-mapped IPv6 "::ffff:a.b.c.d" is read as IPv4).  siege
 * gives each scenario its own 127.N.0.0/16, so the octet names the scenario
 * (siege.h).  The clock is CLOCK_REALTIME, read once per loop iteration.
 * The ledger keeps the last PROBE_RING seconds; login successes and failures
 * and all requests are also totalled per octet for the whole run.
 *
 * Contract with tools/siege: GET /__probe/counts?from=U1&to=U2 (unix seconds,
 * both inclusive; default the last 60 seconds up to now; from alone: up to
 * now; to alone: the 60 seconds up to it) answers 200 text/plain with one
 * line per non-zero cell, ascending by second then octet:
 *
 *     SECOND OCTET COUNT\n
 *
 * (decimal, single spaces).  Seconds that fell out of the ring are absent,
 * exactly like seconds without requests; an invalid number is a 400.
 * GET /__probe/stats answers a JSON object: now, requests, logins_ok,
 * logins_failed, connections_open, connections_total, by_octet (object of
 * non-zero octet -> count), logins_ok_by_octet, logins_failed_by_octet.
 *
 * Files:
 *   probe.c   command line, listeners, connections, request framing, the
 *             response writer, the arrival ledger
 *   routes.c  the route table and its handlers (the site and /__probe/)
 *
 * Memory: one probe owns everything.  Connections come from slabs and go
 * back to a free list, never to malloc.  A connection holds a read block
 * (core/buf.h pool, 16 KiB) only while it has unconsumed input: reads go to
 * the probe's scratch block and only leftovers are copied out.  Responses
 * are built in the probe's out buffer and sent at once; only bytes the
 * kernel would not take are copied to a per-connection malloc'd wbuf, freed
 * when sent.  Request head slices point into the read buffer and die with
 * the head: handlers run after the body, so the head's parts a route needs
 * (octet, version, query of /__probe/ routes) are copied into the connection.
 */
#ifndef BW_PROBE_H
#define BW_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/str.h"
#include "http/parser.h"

#define PROBE_RING 4096       /* seconds the ledger remembers */
#define PROBE_OCTETS 256
#define PROBE_MAX_BODY 4096   /* bodies a route keeps (/login); more -> 413 */
#define PROBE_MAX_ARG 256     /* query string kept for /__probe/ routes */
#define PROBE_MAX_HEADERS 100

typedef struct probe probe;
typedef struct probe_conn probe_conn;

/* A growable byte string (the out buffer, report bodies).  On allocation
 * failure it stops growing and sets oom. */
typedef struct probe_buf {
    char *p;
    size_t len, cap;
    bool oom;
} probe_buf;

void probe_buf_put(probe_buf *b, const void *p, size_t n);
void probe_buf_str(probe_buf *b, const char *s);
void probe_buf_u64(probe_buf *b, uint64_t v);

/* The arrival ledger.  count[s % PROBE_RING] holds second stamp[...]; a
 * slot with another stamp reads as zero. */
typedef struct probe_ledger {
    int64_t stamp[PROBE_RING];
    uint32_t count[PROBE_RING][PROBE_OCTETS];
    uint64_t total[PROBE_OCTETS];
    uint64_t login_ok[PROBE_OCTETS];
    uint64_t login_failed[PROBE_OCTETS];
    uint64_t requests;
} probe_ledger;

/* The request count of (second, octet), 0 if that second left the ring. */
uint32_t probe_ledger_get(const probe_ledger *l, int64_t second, unsigned octet);

/* What a route does with a request body. */
enum { PROBE_BODY_DISCARD = 0, PROBE_BODY_KEEP };

/* A handler runs once the whole request (body included) is in; body is the
 * kept body (PROBE_BODY_KEEP routes), else empty. */
typedef void (*probe_handler)(probe *p, probe_conn *c, bw_str body);

typedef struct probe_route {
    const char *path;
    bool prefix;           /* path is a prefix, else the whole path */
    const char *suffix;    /* with prefix: the path must also end so (or NULL) */
    bw_http_method method; /* GET routes answer HEAD too */
    uint8_t body;          /* PROBE_BODY_* */
    bool wants_query;      /* copy the query string into c->arg */
    probe_handler fn;
} probe_route;

struct probe_conn {
    bw_io io;        /* fd and event callback */
    bw_timer timer;  /* idle deadline, then the lingering-close deadline */
    bw_buf in;       /* unconsumed input in.data[in.start..in.end) */
    uint32_t blen;   /* kept body bytes at in.data[0..blen) (blen <= in.start) */
    size_t scan;     /* bw_http_head_end resume offset for the current head */

    /* The current request, copied out of its head. */
    const probe_route *route;
    uint64_t body_left; /* Content-Length bytes still to come */
    bw_chunked dec;
    uint8_t state;      /* reading the head or the body */
    uint8_t octet;      /* ledger octet of the request */
    uint8_t peer_octet; /* ledger octet of the TCP peer */
    uint8_t version;    /* 10 or 11 */
    bool keepalive, head_only, chunked, body_json;
    bool arg_bad;       /* the query did not fit in arg */
    uint16_t arglen;
    char arg[PROBE_MAX_ARG];

    /* Output the kernel did not take yet: wbuf[woff..wlen), malloc'd. */
    char *wbuf;
    size_t woff, wlen;

    bool rd_ready;    /* the socket may hold unread input (edge-triggered) */
    bool rdhup;       /* epoll saw the peer's FIN (recv may not have yet) */
    bool peer_eof;    /* recv returned 0 */
    bool close_after; /* close once the queued output is sent */
    bool linger;      /* close through a lingering close (unread input) */
    bool lingering;   /* write side shut, draining input until FIN */
    bool dead;        /* I/O error: close without more ado */
    bool live;        /* in use (not on the free list) */
    probe_conn *next_free;
};

typedef struct probe_opts {
    unsigned chat_cost_us; /* CPU burnt per POST /api/chat */
    bool quiet;
} probe_opts;

struct probe {
    bw_loop loop; /* first: callbacks get &p->loop back */
    probe_opts opts;
    int64_t now;       /* CLOCK_REALTIME second, cached per loop iteration */
    uint64_t clock_ms; /* loop.now_ms when now was read */
    probe_ledger *ledger;
    uint64_t conns_open, conns_total;
    uint64_t session_seq;

    bw_bufpool pool;       /* connection read blocks */
    char in[BW_BUF_SIZE];  /* scratch read block of the connection being served */
    probe_buf out;         /* responses of the connection being served */
    probe_buf tmp;         /* report bodies */

    probe_conn *free_conns;
    probe_conn **slabs;
    size_t nslabs;
    int reserve_fd; /* spare fd given up to shed a connection at EMFILE */
    bool warned_emfile;
};

/* ---- probe.c ---- */

/*
 * Queue a whole response on c: status line, Server, X-Probe: 1,
 * Content-Type (if ctype), Content-Length, Connection as needed, extra
 * (header lines each ending in CRLF, or NULL), then body (not for HEAD).
 */
void probe_reply(probe *p, probe_conn *c, int status, const char *ctype, const char *extra,
                 const void *body, size_t len);

/* ---- routes.c ---- */

/* The route for a parsed request; never NULL (unknown -> the 404 route). */
const probe_route *probe_route_find(const bw_http_request *req);

/* True if requests to this path are counted (not /__probe/..., /healthz). */
bool probe_path_counted(bw_str path);

#endif
