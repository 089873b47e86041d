/*
 * origin.c - bulwark-origin: command line, listeners, and the life of one
 * connection (see origin.h for what the program is for).
 *
 *   bulwark-origin --listen 127.0.0.1:9000 [--listen ADDR ...] [--name NAME] [--quiet]
 *
 * The main thread polls the listening sockets and starts one detached thread
 * (256 KiB stack) per accepted connection.  That thread runs a plain loop:
 * read a head (bw_http_head_end finds its end, bw_http_parse_request
 * validates it), set up the body framing, answer through the route table,
 * drain what the handler left of the body, and start again with whatever
 * pipelined bytes are already buffered.  Bodies are never held in memory:
 * they are read in pieces of at most 64 KiB and handed to the handler.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "origin.h"

#define MAX_LISTENERS 16
#define THREAD_STACK (256 * 1024)
#define IDLE_TIMEOUT_S 300 /* a peer silent (or not reading) this long is dropped */

bw_origin_opts bw_origin_options = { "origin", false };

static _Atomic uint64_t conn_serial;

/* ------------------------------------------------------------------ */
/* output                                                              */
/* ------------------------------------------------------------------ */

static int send_all(bw_origin_conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            c->broken = true;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int bw_origin_flush(bw_origin_conn *c)
{
    if (c->broken)
        return -1;
    int rc = send_all(c, c->wbuf, c->wlen);
    c->wlen = 0;
    return rc;
}

int bw_origin_out(bw_origin_conn *c, const void *p, size_t n)
{
    if (c->broken)
        return -1;
    if (c->wlen + n > BW_ORIGIN_WBUF) {
        if (bw_origin_flush(c) < 0)
            return -1;
        if (n >= BW_ORIGIN_WBUF) /* big pieces go straight out */
            return send_all(c, p, n);
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    return 0;
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 204, "No Content" },
    { 206, "Partial Content" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 413, "Content Too Large" },
    { 414, "URI Too Long" },
    { 418, "I'm a teapot" },
    { 426, "Upgrade Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
};

const char *bw_origin_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Status";
}

/* The Connection header this response needs, if any. */
static const char *connection_line(const bw_origin_conn *c)
{
    if (c->status == 101)
        return ""; /* the handler sends "Connection: Upgrade" itself */
    if (!c->keepalive)
        return "Connection: close\r\n";
    if (c->version == 10)
        return "Connection: keep-alive\r\n";
    return "";
}

int bw_origin_begin(bw_origin_conn *c, int status, const char *ctype, int64_t len,
                    const char *extra)
{
    bool nobody = status < 200 || status == 204 || status == 304;
    char h[2048];
    c->status = status;
    c->resp_chunked = false;
    if (len < 0 && !nobody) {
        if (c->version >= 11)
            c->resp_chunked = true;
        else
            c->keepalive = false; /* HTTP/1.0 has no chunks: the close ends the body */
    }
    int n = snprintf(h, sizeof(h),
                     "HTTP/1.1 %d %s\r\n"
                     "Server: bulwark-origin\r\n"
                     "X-Origin-Name: %s\r\n"
                     "X-Origin-Conn: %" PRIu64 "\r\n"
                     "X-Origin-Req: %" PRIu64 "\r\n",
                     status, bw_origin_reason(status), bw_origin_options.name, c->serial, c->nreq);
    if (!nobody && ctype)
        n += snprintf(h + n, sizeof(h) - (size_t)n, "Content-Type: %s\r\n", ctype);
    if (!nobody && len >= 0)
        n += snprintf(h + n, sizeof(h) - (size_t)n, "Content-Length: %" PRId64 "\r\n", len);
    else if (c->resp_chunked)
        n += snprintf(h + n, sizeof(h) - (size_t)n, "Transfer-Encoding: chunked\r\n");
    n += snprintf(h + n, sizeof(h) - (size_t)n, "%s%s\r\n", connection_line(c), extra ? extra : "");
    if ((size_t)n >= sizeof(h)) {
        c->broken = true;
        return -1;
    }
    c->resp_nobody = nobody || c->head_only;
    return bw_origin_out(c, h, (size_t)n);
}

int bw_origin_body(bw_origin_conn *c, const void *p, size_t n)
{
    if (c->resp_nobody || n == 0)
        return c->broken ? -1 : 0;
    c->bytes_out += n;
    if (!c->resp_chunked)
        return bw_origin_out(c, p, n);
    char size[24];
    int k = snprintf(size, sizeof(size), "%zx\r\n", n);
    if (bw_origin_out(c, size, (size_t)k) < 0 || bw_origin_out(c, p, n) < 0)
        return -1;
    return bw_origin_out(c, "\r\n", 2);
}

int bw_origin_end(bw_origin_conn *c)
{
    if (c->resp_chunked && !c->resp_nobody && bw_origin_out(c, "0\r\n\r\n", 5) < 0)
        return -1;
    return bw_origin_flush(c);
}

int bw_origin_respond(bw_origin_conn *c, int status, const char *ctype, const void *body,
                      size_t len)
{
    if (bw_origin_begin(c, status, ctype, (int64_t)len, NULL) < 0)
        return -1;
    if (bw_origin_body(c, body, len) < 0)
        return -1;
    return bw_origin_end(c);
}

/* ------------------------------------------------------------------ */
/* input                                                               */
/* ------------------------------------------------------------------ */

/* recv() into rbuf at rend, at most max bytes.  Returns bytes read, 0 at
 * EOF, -1 on error or idle timeout. */
static ssize_t fill(bw_origin_conn *c, size_t max)
{
    size_t room = BW_ORIGIN_RBUF - c->rend;
    if (max > room)
        max = room;
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf + c->rend, max, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            c->rend += (size_t)r;
        return r;
    }
}

/* Make rbuf empty when everything in it was consumed (invalidates the
 * head slices: only called once body reading has begun). */
static void reset_if_empty(bw_origin_conn *c)
{
    if (c->rpos == c->rend)
        c->rpos = c->rend = 0;
}

static ssize_t body_read_length(bw_origin_conn *c, bw_str *out)
{
    if (c->rpos == c->rend) {
        reset_if_empty(c);
        size_t want = c->body_left < BW_ORIGIN_PIECE ? (size_t)c->body_left : BW_ORIGIN_PIECE;
        if (fill(c, want) <= 0) {
            c->broken = true;
            return -1;
        }
    }
    size_t n = c->rend - c->rpos;
    if (n > c->body_left)
        n = (size_t)c->body_left;
    if (n > BW_ORIGIN_PIECE)
        n = BW_ORIGIN_PIECE;
    *out = bw_str_make(c->rbuf + c->rpos, n);
    c->rpos += n;
    c->body_left -= n;
    if (c->body_left == 0)
        c->body_done = true;
    return (ssize_t)n;
}

static ssize_t body_read_chunked(bw_origin_conn *c, bw_str *out)
{
    for (;;) {
        if (c->rpos == c->rend) {
            reset_if_empty(c);
            if (fill(c, BW_ORIGIN_PIECE) <= 0) {
                c->broken = true;
                return -1;
            }
        }
        size_t avail = c->rend - c->rpos;
        if (avail > BW_ORIGIN_PIECE)
            avail = BW_ORIGIN_PIECE;
        bw_str data = BW_STR_NULL;
        ssize_t used = bw_chunked_decode(&c->dec, c->rbuf + c->rpos, avail, &data);
        if (used < 0 || (used == 0 && !c->dec.done && data.len == 0)) {
            c->broken = true; /* bad framing, or a decoder that makes no progress */
            c->keepalive = false;
            return -1;
        }
        c->rpos += (size_t)used;
        if (c->dec.done)
            c->body_done = true;
        if (data.len > 0) {
            *out = data;
            return (ssize_t)data.len;
        }
        if (c->body_done)
            return 0;
    }
}

ssize_t bw_origin_body_read(bw_origin_conn *c, bw_str *out)
{
    *out = BW_STR_NULL;
    if (c->broken)
        return -1;
    if (c->body_done)
        return 0;
    return c->body_chunked ? body_read_chunked(c, out) : body_read_length(c, out);
}

/* Read and discard the rest of the request body, so the next pipelined
 * request starts at the right byte. */
static int body_drain(bw_origin_conn *c)
{
    bw_str piece;
    ssize_t r;
    while ((r = bw_origin_body_read(c, &piece)) > 0)
        ;
    return r < 0 ? -1 : 0;
}

int bw_origin_read_exact(bw_origin_conn *c, void *dst, size_t n)
{
    char *d = dst;
    while (n > 0) {
        if (c->rpos == c->rend) {
            reset_if_empty(c);
            if (fill(c, BW_ORIGIN_PIECE) <= 0) {
                c->broken = true;
                return -1;
            }
        }
        size_t k = c->rend - c->rpos;
        if (k > n)
            k = n;
        memcpy(d, c->rbuf + c->rpos, k);
        c->rpos += k;
        d += k;
        n -= k;
    }
    return 0;
}

bw_str bw_origin_header(const bw_origin_conn *c, const char *name)
{
    for (size_t i = 0; i < c->req.nheaders; i++)
        if (bw_str_ieq_lit(c->req.headers[i].name, name))
            return c->req.headers[i].value;
    return BW_STR_NULL;
}

uint64_t bw_origin_query_u64(const bw_origin_conn *c, const char *key, uint64_t def)
{
    size_t klen = strlen(key);
    if (c->req.query.len == 0)
        return def;
    const char *p = c->req.query.p, *end = p + c->req.query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            uint64_t v = 0;
            const char *q = p + klen + 1;
            if (q == stop)
                return def;
            for (; q < stop; q++) {
                if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
                    return def;
                v = v * 10 + (uint64_t)(*q - '0');
            }
            return v;
        }
        p = stop + 1;
    }
    return def;
}

/* ------------------------------------------------------------------ */
/* one connection                                                      */
/* ------------------------------------------------------------------ */

/* RFC 9112 2.2: empty lines before a request line are ignored (some
 * clients send a CRLF after a body). */
static void skip_empty_lines(bw_origin_conn *c)
{
    while (c->rpos < c->rend && (c->rbuf[c->rpos] == '\r' || c->rbuf[c->rpos] == '\n'))
        c->rpos++;
}

/*
 * Wait for a complete head at rbuf[rpos..).  Returns its length, 0 on a
 * clean EOF or error (the connection ends), or -431 when the head does not
 * fit in BW_ORIGIN_MAX_HEAD bytes.
 */
static long read_head(bw_origin_conn *c)
{
    size_t scan = 0;
    for (;;) {
        size_t before = c->rpos;
        skip_empty_lines(c);
        if (c->rpos != before)
            scan = 0;
        if (c->rend > c->rpos) {
            size_t n = bw_http_head_end(c->rbuf + c->rpos, c->rend - c->rpos, &scan);
            if (n > 0)
                return (long)n;
            if (c->rend - c->rpos > BW_ORIGIN_MAX_HEAD)
                return -431;
        }
        if (c->rpos > 0) { /* keep the partial head, drop what came before */
            memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
            c->rend -= c->rpos;
            c->rpos = 0;
        }
        if (fill(c, BW_ORIGIN_RBUF) <= 0)
            return 0;
    }
}

/* A refused request: say why, then close (framing can't be trusted). */
static void respond_error(bw_origin_conn *c, int status, const char *why)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, bw_origin_reason(status),
                     why ? why : "invalid request");
    c->keepalive = false;
    bw_origin_respond(c, status, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Body framing from the head; a 100 Continue first if the client waits. */
static int body_setup(bw_origin_conn *c)
{
    const bw_http_request *r = &c->req;
    c->body_chunked = (r->flags & BW_HTTP_F_CHUNKED) != 0;
    c->body_left = (!c->body_chunked && (r->flags & BW_HTTP_F_HAS_CL)) ? r->content_length : 0;
    bw_chunked_init(&c->dec);
    c->body_done = !c->body_chunked && c->body_left == 0;
    if ((r->flags & BW_HTTP_F_EXPECT_CONTINUE) && r->version >= 11 && !c->body_done) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (bw_origin_out(c, cont, sizeof(cont) - 1) < 0 || bw_origin_flush(c) < 0)
            return -1;
    }
    return 0;
}

static void log_request(const bw_origin_conn *c, const char *method, const char *target,
                        const struct timespec *t0)
{
    if (bw_origin_options.quiet)
        return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
    fprintf(stderr, "%s conn=%" PRIu64 " req=%" PRIu64 " \"%s %s\" %d %" PRIu64 " %.1fms\n",
            bw_origin_options.name, c->serial, c->nreq, method, target, c->status, c->bytes_out, ms);
}

/* Copy a slice into a C string for the log (printable ASCII only). */
static void log_copy(char *dst, size_t cap, bw_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (s.p[i] > 0x20 && s.p[i] < 0x7f) ? s.p[i] : '?';
    dst[n] = '\0';
}

/* Serve one request whose head is at rbuf[rpos..).  Returns 0 to go on with
 * the next request on this connection, -1 to close. */
static int serve_one(bw_origin_conn *c)
{
    static const bw_http_limits limits = { 16384, BW_ORIGIN_MAX_HEADERS, BW_ORIGIN_MAX_HEAD };
    struct timespec t0;
    char method[24], target[256];
    clock_gettime(CLOCK_MONOTONIC, &t0);

    memset(&c->req, 0, sizeof(c->req));
    int rc = bw_http_parse_request(c->rbuf + c->rpos, c->rend - c->rpos, &limits, &c->req,
                                   c->hdrs, BW_ORIGIN_MAX_HEADERS);
    c->nreq++;
    c->status = 0;
    c->bytes_out = 0;
    c->version = 11;
    c->head_only = false;
    if (rc <= 0) {
        respond_error(c, rc < 0 ? -rc : 400, c->req.error);
        log_request(c, "-", "(unparsable request)", &t0);
        return -1;
    }
    c->rpos += (size_t)rc;
    c->version = c->req.version;
    c->keepalive = (c->req.flags & BW_HTTP_F_KEEPALIVE) != 0;
    c->head_only = c->req.method_id == BW_HTTP_HEAD;
    log_copy(method, sizeof(method), c->req.method);
    log_copy(target, sizeof(target), c->req.target);

    if (body_setup(c) < 0)
        return -1;
    bw_origin_route(c);
    if (!c->broken && c->status != 101 && body_drain(c) < 0)
        c->keepalive = false;
    log_request(c, method, target, &t0);
    return (c->broken || !c->keepalive || c->status == 101) ? -1 : 0;
}

/* Close so that the last response is not lost to a reset: stop sending,
 * read and drop what the peer still sends for a moment, then close. */
static void linger_close(int fd)
{
    struct timeval tv = { 0, 300 * 1000 };
    char junk[4096];
    shutdown(fd, SHUT_WR);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < 256 && recv(fd, junk, sizeof(junk), 0) > 0; i++)
        ;
    close(fd);
}

static void conn_free(bw_origin_conn *c)
{
    linger_close(c->fd);
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

static void *conn_thread(void *arg)
{
    bw_origin_conn *c = arg;
    for (;;) {
        long n = read_head(c);
        if (n == 0)
            break;
        if (n < 0) {
            c->nreq++;
            respond_error(c, (int)-n, "request head too large");
            break;
        }
        if (serve_one(c) < 0)
            break;
    }
    conn_free(c);
    return NULL;
}

static bw_origin_conn *conn_new(int fd)
{
    bw_origin_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->rbuf = malloc(BW_ORIGIN_RBUF);
    c->wbuf = malloc(BW_ORIGIN_WBUF);
    if (!c->rbuf || !c->wbuf) {
        free(c->rbuf);
        free(c->wbuf);
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->serial = atomic_fetch_add(&conn_serial, 1) + 1;
    return c;
}

static void conn_start(int fd)
{
    int one = 1;
    struct timeval idle = { IDLE_TIMEOUT_S, 0 };
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle));
    bw_origin_conn *c = conn_new(fd);
    if (!c) {
        close(fd);
        return;
    }
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, conn_thread, c) != 0) {
        fprintf(stderr, "%s: cannot start a thread, connection dropped\n", bw_origin_options.name);
        close(fd);
        free(c->rbuf);
        free(c->wbuf);
        free(c);
    }
    pthread_attr_destroy(&attr);
}

/* ------------------------------------------------------------------ */
/* listeners and main                                                  */
/* ------------------------------------------------------------------ */

/* "127.0.0.1:9000", "[::1]:9000", "localhost:9000" or ":9000". */
static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon[1] == '\0')
        return -1;
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *ai;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void accept_loop(struct pollfd *pfd, int n)
{
    for (;;) {
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("bulwark-origin: poll");
            return;
        }
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            int fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                conn_start(fd);
            else if (errno == EMFILE || errno == ENFILE)
                usleep(10000); /* out of descriptors: let connections finish */
        }
    }
}

static void usage(FILE *f)
{
    fputs("Usage: bulwark-origin --listen ADDR [--listen ADDR ...] [--name NAME] [--quiet]\n"
          "\n"
          "The demo and test origin for bulwark.  Routes:\n"
          "  GET  /                 demo page showing the request headers\n"
          "  GET  /healthz          200 \"ok\"\n"
          "  GET  /api/hello        {\"hello\":\"world\",\"origin\":NAME}\n"
          "  POST /api/chat         JSON with the size of the body (the \"expensive\" endpoint)\n"
          "  GET  /headers          the request as JSON (headers in wire order)\n"
          "  POST /echo             the body echoed back (streamed)\n"
          "  POST /sink             {\"bytes\":N,\"crc32\":\"...\"} of the body (streamed)\n"
          "  GET  /bytes?n=N        N bytes 'abc...z' repeated, Content-Length\n"
          "  GET  /chunked?n=N&size=S  the same bytes, chunked, S bytes per chunk\n"
          "  GET  /slow?ms=N        answers after N ms\n"
          "  GET  /status/NNN       that status\n"
          "  GET  /ws               WebSocket echo\n"
          "Every response carries X-Origin-Name, X-Origin-Conn and X-Origin-Req.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "name", required_argument, NULL, 'n' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct pollfd pfd[MAX_LISTENERS];
    const char *specs[MAX_LISTENERS];
    int n = 0, ch;
    while ((ch = getopt_long(argc, argv, "l:n:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (n == MAX_LISTENERS) {
                fprintf(stderr, "bulwark-origin: at most %d --listen\n", MAX_LISTENERS);
                return 2;
            }
            specs[n++] = optarg;
            break;
        case 'n': bw_origin_options.name = optarg; break;
        case 'q': bw_origin_options.quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (n == 0 || optind < argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < n; i++) {
        pfd[i].fd = listen_on(specs[i]);
        pfd[i].events = POLLIN;
        if (pfd[i].fd < 0) {
            fprintf(stderr, "bulwark-origin: cannot listen on %s: %s\n", specs[i],
                    errno ? strerror(errno) : "bad address");
            return 1;
        }
        if (!bw_origin_options.quiet)
            fprintf(stderr, "bulwark-origin %s listening on %s\n", bw_origin_options.name,
                    specs[i]);
    }
    accept_loop(pfd, n);
    return 1;
}
