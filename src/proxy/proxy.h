/*
 * proxy.h - the request path: workers, client connections, streams and
 * origin connections.  Private to src/proxy; main.c uses only worker.h.
 *
 * Ownership (all objects belong to exactly one worker thread):
 *   bw_worker  owns its loop, listeners, buffer pool, free lists, the
 *              per-server runtime state for its current config, and every
 *              connection it accepted or opened.
 *   bw_conn    a client TCP connection.  Holds buffers only while work is in
 *              flight; an idle keep-alive connection is ~200 bytes.
 *   bw_stream  one request/response exchange of a client connection (at most
 *              one at a time: pipelined requests wait in the input buffer).
 *              Taken from a free list when a request head is parsed.
 *   bw_upconn  a connection to an origin server: attached to one stream, or
 *              parked idle in its server's keep-alive list.
 * Closed objects go to a graveyard that is emptied after each loop round,
 * so an event already fetched for them is recognised and ignored.
 */
#ifndef BW_PROXY_PROXY_H
#define BW_PROXY_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "admin/accesslog.h"
#include "admin/stats.h"
#include "core/buf.h"
#include "core/conf.h"
#include "core/loop.h"
#include "proxy/ipcount.h"
#include "proxy/overload.h"
#include "shield/shield.h"
#include "http/parser.h"

#define BW_REQUEST_ID_MAX 64

typedef struct bw_worker bw_worker;
typedef struct bw_conn bw_conn;
typedef struct bw_stream bw_stream;
typedef struct bw_upconn bw_upconn;

/* A client address, compact (the idle connection must stay small). */
typedef struct bw_ipaddr {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint16_t port;
    uint8_t a[16];
} bw_ipaddr;

void bw_ipaddr_from_sa(bw_ipaddr *ip, const struct sockaddr *sa);
/* Text form without port ("1.2.3.4", "2001:db8::1"); returns length. */
size_t bw_ipaddr_text(const bw_ipaddr *ip, char *out, size_t cap);

/*
 * Body framing of one direction of a stream.  The pipe moves body bytes
 * from a source buffer to a destination socket, either zero-copy (the
 * bytes are written straight from the source buffer) or, when the framing
 * must change, by decoding into the destination's output buffer.
 */
enum bw_body_mode {
    BW_BODY_NONE = 0,
    BW_BODY_LEN,             /* Content-Length, zero-copy */
    BW_BODY_EOF,             /* until the source closes (responses, tunnels), zero-copy */
    BW_BODY_CHUNKED_RAW,     /* chunked in, same bytes out after validation, zero-copy */
    BW_BODY_CHUNKED_REFRAME, /* chunked in, decoded and re-chunked (strips extensions, trailers) */
    BW_BODY_CHUNKED_UNFRAME, /* chunked in, plain bytes out (for HTTP/1.0 clients) */
};

typedef struct bw_pipe {
    uint8_t mode;
    bool complete;      /* the whole body has been scanned from the source */
    bool src_eof;       /* the source closed */
    uint32_t ready;     /* scanned body bytes at src->start, not yet sent (zero-copy modes) */
    uint64_t left;      /* LEN: body bytes not yet scanned */
    uint64_t moved;     /* bytes handed to the destination socket (body + framing) */
    uint64_t decoded;   /* chunked modes: body bytes decoded so far (for max_body_size) */
    bw_chunked dec;
} bw_pipe;

enum bw_conn_state {
    BW_CONN_PROXY_HDR, /* waiting for a PROXY protocol header */
    BW_CONN_HEAD,      /* waiting for / reading a request head */
    BW_CONN_STREAM,    /* a request is in flight */
    BW_CONN_TUNNEL,    /* after 101 Switching Protocols: bytes both ways */
    BW_CONN_CLOSING,   /* flushing a final response, then close */
    BW_CONN_TARPIT,    /* the shield's tarpit: held without an answer, then closed */
};

struct bw_conn {
    bw_io io;
    bw_timer timer;
    bw_worker *w;
    bw_stream *stream;
    bw_buf in;          /* bytes from the client */
    bw_buf out;         /* bytes to the client (heads, local responses, re-framed bodies) */
    bw_conn *prev, *next; /* worker's list of all client connections */
    bw_conn *again_next;  /* worker's list of connections to run again */
    bw_ipaddr peer;
    uint32_t head_scan; /* bw_http_head_end resume offset */
    uint32_t head_checked; /* input length when the incomplete head was last parsed */
    uint32_t nrequests;
    uint8_t state;
    uint8_t listener_idx;
    bool readable, writable;
    bool peer_eof;      /* the client closed its sending side */
    bool head_timer;    /* the client-header timer is armed for the current head */
    bool dead;          /* closed; waiting in the graveyard */
    bool again;         /* on the worker's run-again list */
    bool ip_counted;    /* counted in the worker's per-IP/prefix tables (peer is final) */
    bool reserve;       /* accepted into the connection reserve: needs a clearance token */
    bool cleared;       /* a request on it showed a valid clearance token (shed it last) */
};

struct bw_stream {
    bw_conn *c;
    bw_upconn *u;
    const bw_conf *conf;
    const bw_site_conf *site;
    bw_server_conf *server;
    bw_stream *next_free;
    bw_stream *q_prev, *q_next; /* in its site's queue while queued */
    bw_buf reqout;      /* origin-bound head (+ re-chunked body); kept for a retry */
    uint32_t reqout_head_len;
    bw_pipe req;        /* client -> origin */
    bw_pipe resp;       /* origin -> client */
    uint64_t start_us, upstream_start_us, upstream_us;
    uint64_t bytes_in;  /* request head + body from the client */
    uint64_t bytes_out; /* response bytes to the client */
    int status;
    uint8_t method_id;
    uint8_t version;    /* client's: 10 or 11 */
    uint8_t tries;      /* servers tried so far */
    bool keepalive;     /* client connection may be reused after this exchange */
    bool upgrade;       /* client asked for an upgrade (WebSocket) */
    bool head_sent;     /* the response head went to the client (no error page possible now) */
    bool queued;        /* waiting in its site's queue for an origin slot */
    bw_login_ticket login; /* a login attempt: counted when the origin answers (route 0: none) */
    bool resume;        /* a slot freed up: acquire an origin when run next */
    bool resp_head_parsed;
    bool local;         /* bulwark answered itself (error page etc.) */
    bool upstream_reusable;
    bool body_touched;  /* request body bytes were sent: no retry on another server */
    bool idempotent;
    bool mitigated;     /* the shield answered (not clean traffic) */
    uint32_t tried_mask; /* bit i: pool server i already failed for this request */
    char request_id[BW_REQUEST_ID_MAX];
    uint8_t request_id_len;
    char method[16];    /* copies for the access log (the input buffer moves on) */
    char path[256];
    uint16_t path_len;
};

enum bw_upconn_state { BW_UP_CONNECTING, BW_UP_ACTIVE, BW_UP_IDLE };

struct bw_upconn {
    bw_io io;
    bw_timer timer;
    bw_worker *w;
    bw_stream *s;
    bw_server_conf *server;
    uint64_t conf_gen;   /* config generation whose pool it belongs to */
    bw_buf in;           /* bytes from the origin (the request goes out from stream->reqout) */
    bw_upconn *prev, *next; /* idle list of its server, or the worker's active list */
    uint32_t nrequests;
    uint8_t state;
    bool readable, writable;
    bool eof;
    bool dead;
    bool reused;         /* it served a request before this one */
};

/* Per worker, per server of the current config. */
typedef struct bw_srv_rt {
    bw_upconn *idle;     /* LIFO: the most recently used connection is reused first */
    unsigned nidle;
    unsigned active;     /* streams using this server (least_conn) */
    int cur_weight;      /* smooth weighted round-robin state */
} bw_srv_rt;

/* Requests of one site waiting for a free origin slot (origins with
 * max_conns= all busy), oldest first.  Per worker, like everything here. */
typedef struct bw_site_queue {
    bw_stream *head, *tail;
    unsigned len;
} bw_site_queue;

typedef struct bw_listener {
    bw_io io;
    bw_worker *w;
    bw_addr addr;
    bool proxy_protocol;
} bw_listener;

#define BW_WORKER_MAX_LISTENERS BW_CONF_MAX_LISTENS

struct bw_worker {
    unsigned id;
    bw_loop loop;
    bw_bufpool pool;
    bw_worker_stats *stats;
    bw_alog *alog;
    struct bw_shield_worker *shield; /* this worker's side of the shield (owned by src/shield) */
    const bw_conf *conf;   /* the snapshot the worker runs with (see worker_sync_conf) */
    bw_srv_rt *srv;        /* [conf->nservers] */
    bw_site_queue *queues; /* [conf->nsites] */
    bw_listener listeners[BW_WORKER_MAX_LISTENERS];
    unsigned nlisteners;
    bw_io wake;            /* eventfd: the main thread pokes it on reload/stop */
    bw_conn *conns;        /* all client connections */
    size_t nconns;
    bw_conn *free_conns;
    size_t nfree_conns, nfree_upconns; /* lengths of the two free lists */
    bw_stream *free_streams;
    bw_upconn *free_upconns;
    bw_conn *grave_conns;  /* closed this round, linked through ->next */
    bw_conn *again;        /* to run again after this round (bw_conn_defer) */
    bw_upconn *grave_ups;
    uint64_t rid_seed, rid_counter;
    uint64_t drain_deadline_ms;
    bool draining;
    bool stopped;
    bool fd_limit_logged;  /* EMFILE reported once, not per accept */
    int spare_fd;          /* held back for refusing clients when out of fds */
    bw_ipcount per_ip, per_prefix; /* open client connections by address / prefix */
    size_t ipcount_keys;   /* what the tables are sized for (max_connections) */
    bw_overload ovl;       /* is this worker keeping up (overload.h) */
    char scratch_ip[64];
    bw_http_header hdrs[256]; /* parser scratch: heads are processed synchronously */
};

/* client.c */
/* The key of a client's address, or of its /24 (/64) prefix, in the
 * worker's per-IP and per-prefix tables. */
static inline bw_ipkey bw_conn_peer_key(const bw_conn *c, bool prefix)
{
    return bw_ipkey_make(c->peer.family, c->peer.a, prefix);
}
/* reserve: accepted into the connection reserve (bw_conn.reserve). */
void bw_conn_accepted(bw_worker *w, int fd, const struct sockaddr *sa, unsigned listener_idx,
                      bool reserve);
void bw_conn_run(bw_conn *c);
/* A stream runs at most BW_STREAM_ROUNDS read/write rounds per event, so one
 * fast transfer cannot starve the others; if it could go on, it is deferred
 * and run again after the round's other events. */
#define BW_STREAM_ROUNDS 64
void bw_conn_defer(bw_conn *c);
void bw_worker_run_deferred(bw_worker *w); /* worker loop, before bury() */
void bw_conn_close(bw_conn *c);
/* The shield's tarpit: end the exchange without a byte of answer and hold
 * the connection (no buffers, nothing read) for client_header_timeout,
 * then close it.  A held connection is the first to go when the worker is
 * full. */
void bw_conn_tarpit(bw_conn *c);
/* The worker is full: the client connection least worth keeping, or NULL
 * if every one is doing useful work.  First the one that has waited longest
 * for a request head (if more than a second: slowloris), then the longest
 * idle keep-alive connection; connections that showed a clearance token
 * only when no other will do.  A client in the middle of an exchange is
 * never chosen. */
bw_conn *bw_conn_shed_victim(bw_worker *w);
/* worker.c: a client on fd is about to be read; if a sample is due, how
 * long it waited in the kernel feeds the worker's overload level. */
void bw_worker_overload_sample(bw_worker *w, int fd);
void bw_conn_drain(bw_conn *c);   /* worker draining: close if idle, else after this exchange */

/* upstream.c: origin protection (max_conns= and the site queue) */
bool bw_upstream_must_wait(bw_stream *s);  /* every origin at max_conns, or others waiting */
bool bw_upstream_full(bw_stream *s);       /* every origin at max_conns */
/* Circuit breaker (max_fails): the exchange with s->server failed (5xx,
 * timeout, error) or succeeded. */
void bw_upstream_outcome(bw_stream *s, bool failed);
bool bw_upstream_all_open(bw_stream *s);   /* every origin's breaker is open */
int bw_upstream_enqueue(bw_stream *s);     /* 0, or -1 if the queue is full */
void bw_upstream_dequeue(bw_stream *s);    /* leave the queue (timeout, client gone) */

/* stream.c: the exchange itself */
void bw_stream_start(bw_conn *c, const bw_http_request *req, uint32_t head_len);
void bw_stream_run(bw_stream *s);
void bw_stream_abort(bw_stream *s);
void bw_stream_queue_timeout(bw_stream *s); /* waited queue_timeout for an origin slot: 503 */
void bw_stream_discard(bw_stream *s); /* the client connection is closing under it */
void bw_stream_upstream_failed(bw_stream *s, int status, const char *why);
void bw_stream_local_response(bw_stream *s, int status, const char *body, size_t body_len,
                              const char *ctype);
/* The same with extra header lines (each ending in CRLF). */
void bw_stream_local_response_ex(bw_stream *s, int status, const char *extra, size_t extra_len,
                                 const char *body, size_t body_len, const char *ctype);

/* upstream.c: origin selection and connections */
bw_upconn *bw_upstream_acquire(bw_stream *s);  /* NULL: no server could be tried */
void bw_upstream_release(bw_upconn *u, bool reusable);
void bw_upconn_close(bw_upconn *u);
void bw_upstream_rt_reset(bw_worker *w);       /* after the worker switched configs */
void bw_upstream_rt_free(bw_worker *w);

/* pipe.c: body forwarding */
void bw_pipe_init(bw_pipe *p, int mode, uint64_t len);
void bw_pipe_scan(bw_pipe *p, bw_buf *src, bw_buf *dst);  /* -> may set p->complete; error: mode = 0xff */
int bw_pipe_send(bw_pipe *p, bw_buf *dst, bw_buf *src, int fd, bool *blocked);
static inline bool bw_pipe_failed(const bw_pipe *p) { return p->mode == 0xff; }
static inline bool bw_pipe_done(const bw_pipe *p, const bw_buf *dst)
{
    return p->complete && p->ready == 0 && (!dst->data || bw_buf_empty(dst));
}

/* Reason phrase for a status bulwark generates itself. */
const char *bw_http_reason(int status);

/* io helpers */
/* Read into b's free room.  Returns bytes read (> 0), 0 when nothing could
 * be read now (EAGAIN or no room), -1 on error; *eof set on orderly close.
 * *readable is cleared when the socket is known to be drained. */
ssize_t bw_sock_read(int fd, bw_buf *b, bool *readable, bool *eof);

#endif
