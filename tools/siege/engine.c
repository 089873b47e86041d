/*
 * engine.c - bulwark-siege's event loop (see engine.h).
 *
 * One loop iteration: roll the second over (progress line, gauges), let
 * every running attack scenario launch the sends its pacer says are due,
 * fire due timers, then epoll_wait (1 ms while attacks run, so pacing stays
 * smooth) and advance the connections that have events.
 *
 * A connection carries one request at a time.  Attack bots send per_ip
 * requests on one connection from one address, then close (with RST by
 * default: a flood must not fill our own TIME_WAIT table) and the address is
 * never used again by that scenario until the pool wraps.  Legitimate users
 * are state machines driven by their think-time timers (user.c logic lives
 * here too: it needs the same connection plumbing).
 *
 * How a response is judged (the proxy in front cannot fake this): the probe
 * stamps every response it makes with X-Probe, so a response without it was
 * made by the proxy.  Proxy-made 403/429/503/400/408/413/431 count as
 * blocked, X-Bulwark-Challenge marks a challenge, a close or reset before
 * any response byte is "dropped" (blocked), timeouts and 5xx are errors.
 *
 * Legitimate users pass challenges as a browser does: a cookie challenge is
 * a redirect that sets a cookie (the jar and the redirect logic pass it); a
 * proof-of-work page (X-Bulwark-Challenge: pow) is kept in the read buffer,
 * its bulwark-pow meta read (powmeta.c) and solved here with bw_pow_solve(),
 * on the loop's own CPU time, before the answer is sent on the same
 * connection; its 303 back is then an ordinary redirect.  Bots never solve:
 * they run no script.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/fdlimit.h"
#include "engine.h"
#include "http/parser.h"
#include "powmeta.h"
#include "report.h"
#include "request.h"
#include "sched.h"
#include "shield/pow.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define IN_CAP (16 * 1024)  /* a response head must fit; bodies stream through */
#define BODY_KEEP (8 * 1024) /* a PoW page kept for its meta (the page is smaller) */
#define OUT_CAP 2048
#define MAX_HEADERS 64
#define MAX_REDIRECTS 5
#define JAR_MAX 8
#define JAR_COOKIE 256
#define MAX_CONNS 19000    /* under the 20,000 fd limit, with room for the rest */
#define DRAIN_MAX_MS 3000
#define WARM_MAX 1024      /* disconnected bot sockets kept for the next bots */

enum { C_FREE, C_SENDING, C_READING, C_IDLE, C_SLOW };
enum { T_TIMEOUT, T_SLOW_TICK, T_USER };

/* Outcome of one request (how finish() files it). */
enum { O_OK, O_BLOCKED, O_CHALLENGED, O_DROPPED, O_TIMEOUT, O_ERROR };

typedef struct user user;
typedef struct sstate sstate;

typedef struct conn {
    int fd;
    uint8_t state;
    bool keepalive;     /* the last response allows another request */
    bool head_done;
    bool got_bytes;     /* any response byte arrived */
    bool until_close;   /* body delimited by close */
    bool chunked;
    bool from_probe;    /* X-Probe seen: the origin made this response */
    bool challenge;     /* X-Bulwark-Challenge seen */
    bool pow;           /* ... with the value pow: a page to solve */
    bool keep_body;     /* legit PoW page: body bytes are kept after the Location */
    uint32_t seq;       /* timer generation: stale heap entries are ignored */
    uint32_t left;      /* requests this identity still sends */
    int status;
    sstate *ss;
    user *u;            /* legit: the owner */
    uint64_t t_start;   /* when the current request was sent (legit: logical start) */
    uint64_t body_left;
    bw_chunked dec;
    char *in;           /* IN_CAP bytes, owned */
    size_t in_len, scan;
    size_t keep;        /* legit: in[0..keep) holds the Location of the response */
    size_t body_len;    /* in[keep..keep + body_len) holds the kept body */
    uint32_t out_len, out_off;
    uint32_t slow_pos;  /* slow scenarios: bytes of the endless part sent */
    char out[OUT_CAP];
    struct conn *next_idle;
} conn;

struct user {
    uint32_t id, addr, seq;
    conn *c;
    const char *ua;
    int pages_left, assets_left, redirects;
    bool challenged, in_request, login, asset;
    uint64_t t_start;
    char method[8];
    char path[512];    /* room for a PoW answer: challenge, nonce, return path */
    char body[160];
    char jar[JAR_MAX][JAR_COOKIE]; /* "name=value" */
};

struct sstate {
    sg_scenario *sc;
    sg_pacer pacer;
    sg_addrpool pool;
    uint32_t active;    /* open connections */
    conn *idle;         /* connected bots with requests left, LIFO */
    uint64_t counter;   /* brute-force password serial */
    user *users;
    bool running;       /* inside its window */
    bool stopped;       /* window over: connections closed */
};

typedef struct tmr {
    uint64_t when;
    uint32_t id, seq;
    uint8_t kind;
} tmr;

typedef struct engine {
    sg_run *run;
    sg_engine_opts opt;
    int ep;
    struct sockaddr_in target;
    uint64_t t0;        /* monotonic ns of second 0 */
    uint64_t now;
    uint32_t sec;       /* current second of the run */
    uint64_t total_sent;
    bool stop_launch;   /* max_requests reached or run over */
    sg_rng rng;
    conn *conns;        /* [MAX_CONNS] */
    uint32_t *free_ids;
    uint32_t nfree;
    uint32_t *warm_ids; /* free slots that kept a disconnected socket */
    uint32_t nwarm;
    char **inbufs;      /* free read buffers */
    uint32_t ninbufs;
    tmr *heap;
    size_t nheap, capheap;
    sstate ss[SG_MAX_SCENARIOS];
    sg_hist sec_hist;   /* legit latency of the current second */
    uint64_t prev_sent, prev_ok, prev_blocked, prev_chal, prev_err;
} engine;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* timers: a binary min-heap, lazily invalidated by sequence numbers   */
/* ------------------------------------------------------------------ */

static void heap_push(engine *e, uint64_t when, uint32_t id, uint32_t seq, uint8_t kind)
{
    if (e->nheap == e->capheap) {
        size_t cap = e->capheap ? e->capheap * 2 : 4096;
        tmr *h = realloc(e->heap, cap * sizeof *h);
        if (!h)
            return; /* the request then never times out; only under OOM */
        e->heap = h;
        e->capheap = cap;
    }
    size_t i = e->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (e->heap[p].when <= when)
            break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = (tmr){ when, id, seq, kind };
}

static tmr heap_pop(engine *e)
{
    tmr top = e->heap[0], last = e->heap[--e->nheap];
    size_t i = 0, n = e->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && e->heap[c + 1].when < e->heap[c].when)
            c++;
        if (last.when <= e->heap[c].when)
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n)
        e->heap[i] = last;
    return top;
}

/* ------------------------------------------------------------------ */
/* accounting                                                          */
/* ------------------------------------------------------------------ */

static sg_second *cur_second(engine *e, sg_scenario *sc)
{
    uint32_t s = e->sec < e->run->nsec ? e->sec : e->run->nsec - 1;
    return &sc->timeline[s];
}

static void count_sent(engine *e, sstate *ss)
{
    ss->sc->tot.sent++;
    cur_second(e, ss->sc)->sent++;
    e->total_sent++;
    if (e->run->max_requests && e->total_sent >= e->run->max_requests)
        e->stop_launch = true;
}

static void count_outcome(engine *e, sstate *ss, int outcome, int status)
{
    sg_scenario *sc = ss->sc;
    sg_second *sec = cur_second(e, sc);
    if (status >= 100 && status < 600)
        sc->tot.status[status / 100]++;
    switch (outcome) {
    case O_OK:
        sc->tot.ok++, sec->ok++;
        break;
    case O_CHALLENGED:
        sc->tot.challenged++, sec->challenged++;
        break;
    case O_DROPPED:
        sc->tot.dropped++;
        /* fall through */
    case O_BLOCKED:
        sc->tot.blocked++, sec->blocked++;
        break;
    case O_TIMEOUT:
        sc->tot.timeouts++;
        /* fall through */
    default:
        sc->tot.errors++, sec->errors++;
        break;
    }
}

/* The outcome of a complete response (see the file comment). */
static int judge(const conn *c)
{
    if (c->challenge)
        return O_CHALLENGED;
    int st = c->status;
    if (c->from_probe)
        return st >= 500 ? O_ERROR : O_OK;
    switch (st) {
    case 400: case 403: case 408: case 413: case 429: case 431: case 444: case 503:
        return O_BLOCKED;
    default:
        return st >= 500 ? O_ERROR : O_OK;
    }
}

/* ------------------------------------------------------------------ */
/* connections                                                         */
/* ------------------------------------------------------------------ */

static uint32_t conn_id(const engine *e, const conn *c) { return (uint32_t)(c - e->conns); }

static void arm(engine *e, conn *c, uint64_t after_ns, uint8_t kind)
{
    heap_push(e, e->now + after_ns, conn_id(e, c), ++c->seq, kind);
}

static void conn_release_inbuf(engine *e, conn *c)
{
    if (c->in)
        e->inbufs[e->ninbufs++] = c->in;
    c->in = NULL;
}

static void idle_remove(sstate *ss, conn *c)
{
    for (conn **pp = &ss->idle; *pp; pp = &(*pp)->next_idle)
        if (*pp == c) {
            *pp = c->next_idle;
            return;
        }
}

/* Close and free the slot.  Bots reset (see the file comment). */
static void conn_close(engine *e, conn *c, bool rst)
{
    if (c->state == C_FREE)
        return;
    if (c->state == C_IDLE)
        idle_remove(c->ss, c);
    bool warm = false;
    if (rst && !c->u && e->nwarm < WARM_MAX) {
        /* connect(AF_UNSPEC) resets the connection (as SO_LINGER 0 + close
         * would) but keeps the socket, its file and its epoll registration:
         * the next bot binds it to a new address.  That saves socket(),
         * the file teardown and epoll_ctl, a fifth of a bot's cost. */
        struct sockaddr unspec = { .sa_family = AF_UNSPEC };
        warm = connect(c->fd, &unspec, sizeof unspec) == 0;
    } else if (rst) {
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (!warm) {
        close(c->fd);
        c->fd = -1;
    }
    c->state = C_FREE;
    c->seq++;
    c->ss->active--;
    if (c->u && c->u->c == c)
        c->u->c = NULL;
    c->u = NULL;
    conn_release_inbuf(e, c);
    if (warm)
        e->warm_ids[e->nwarm++] = conn_id(e, c);
    else
        e->free_ids[e->nfree++] = conn_id(e, c);
}

/* A bot's socket from the warm stack, bound to src and connecting, or -1
 * (the socket is closed and its slot freed if the kernel refuses). */
static int conn_warm_connect(engine *e, uint32_t src, uint32_t *id)
{
    while (e->nwarm) {
        *id = e->warm_ids[--e->nwarm];
        int fd = e->conns[*id].fd;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            (connect(fd, (struct sockaddr *)&e->target, sizeof e->target) == 0 ||
             errno == EINPROGRESS))
            return fd;
        close(fd);
        e->conns[*id].fd = -1;
        e->free_ids[e->nfree++] = *id;
    }
    return -1;
}

/* A connection from src to the target, in a free slot.  Bots (bot=true)
 * take a warm socket when there is one; users always get a fresh one, as a
 * browser would. */
static conn *conn_open(engine *e, sstate *ss, uint32_t src, bool bot)
{
    uint32_t id;
    int fd = bot ? conn_warm_connect(e, src, &id) : -1;
    bool fresh = fd < 0;
    if (fresh) {
        if (e->nfree == 0)
            return NULL;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return NULL;
        int one = 1;
        /* the port is picked at connect(), per destination: many connections
         * can share one source address (proxy-flood).  No TCP_NODELAY: every
         * request goes out in one send() with nothing unacknowledged before it. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            (connect(fd, (struct sockaddr *)&e->target, sizeof e->target) < 0 &&
             errno != EINPROGRESS)) {
            close(fd);
            return NULL;
        }
        id = e->free_ids[--e->nfree];
    }
    conn *c = &e->conns[id];
    uint32_t seq = c->seq;
    memset(c, 0, offsetof(conn, out));
    c->seq = seq;
    c->fd = fd;
    c->state = C_SENDING; /* the caller queues a request at once (conn_send_request) */
    c->ss = ss;
    ss->active++;
    if (fresh) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                                  .data.u32 = id };
        epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev);
    }
    return c;
}

static void conn_reset_response(conn *c)
{
    c->head_done = c->got_bytes = c->until_close = c->chunked = false;
    c->from_probe = c->challenge = c->pow = c->keep_body = false;
    c->status = 0;
    c->body_left = 0;
    c->in_len = c->scan = c->keep = c->body_len = 0;
    bw_chunked_init(&c->dec);
}

static bool conn_flush(engine *e, conn *c);

/* Queue out[0..len) as the next request and push it out. */
static bool conn_send_request(engine *e, conn *c, uint32_t len)
{
    c->out_len = len;
    c->out_off = 0;
    conn_reset_response(c);
    c->t_start = c->u ? c->u->t_start : e->now;
    arm(e, c, (uint64_t)e->run->timeout_ms * NS_PER_MS, T_TIMEOUT);
    /* even right after connect(): on loopback the handshake is usually done
     * by then, and if not, send() says EAGAIN and EPOLLOUT resumes it */
    c->state = C_SENDING;
    return conn_flush(e, c);
}

/* ------------------------------------------------------------------ */
/* legitimate users                                                    */
/* ------------------------------------------------------------------ */

static void user_next(engine *e, sstate *ss, user *u);
static void user_finish(engine *e, sstate *ss, user *u, int outcome, int status);

static void user_wake_in(engine *e, sstate *ss, user *u, uint64_t ns)
{
    heap_push(e, e->now + ns, (uint32_t)(ss - e->ss) << 24 | u->id, ++u->seq, T_USER);
}

static void jar_cookie_header(const user *u, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < JAR_MAX; i++) {
        if (!u->jar[i][0])
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s", n ? "; " : "", u->jar[i]);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
}

/* Keep "name=value" of a Set-Cookie value (attributes dropped). */
static void jar_store(user *u, bw_str v)
{
    size_t n = 0;
    while (n < v.len && v.p[n] != ';')
        n++;
    const char *eq = memchr(v.p, '=', n);
    if (!eq || n >= JAR_COOKIE)
        return;
    size_t nlen = (size_t)(eq - v.p) + 1; /* with '=' */
    int slot = -1;
    for (int i = 0; i < JAR_MAX; i++) {
        if (u->jar[i][0] && strncmp(u->jar[i], v.p, nlen) == 0) {
            slot = i;
            break;
        }
        if (!u->jar[i][0] && slot < 0)
            slot = i;
    }
    if (slot < 0)
        slot = 0;
    memcpy(u->jar[slot], v.p, n);
    u->jar[slot][n] = 0;
}

/* Build the user's current request into c->out.  0 if it does not fit. */
static uint32_t user_build(engine *e, conn *c, user *u)
{
    char cookie[JAR_MAX * JAR_COOKIE];
    jar_cookie_header(u, cookie, sizeof cookie);
    bool post = strcmp(u->method, "POST") == 0;
    sg_req q = { .method = u->method, .path = u->path, .host = e->run->host, .browser = true,
                 .ua = u->ua, .cookie = cookie,
                 .ctype = post ? "application/x-www-form-urlencoded" : NULL,
                 .body = post ? u->body : NULL, .body_len = post ? strlen(u->body) : 0 };
    return (uint32_t)sg_req_build(&q, c->out, OUT_CAP);
}

/* Send the user's current request, on its connection or a new one. */
static void user_issue(engine *e, sstate *ss, user *u)
{
    conn *c = u->c;
    if (c && c->state != C_IDLE) {
        conn_close(e, c, false);
        c = NULL;
    }
    if (!c) {
        c = conn_open(e, ss, u->addr, false);
        if (!c) {
            user_finish(e, ss, u, O_ERROR, 0);
            return;
        }
        c->u = u;
        u->c = c;
    } else {
        c->state = C_SENDING;
    }
    uint32_t len = user_build(e, c, u);
    if (len == 0) {
        user_finish(e, ss, u, O_ERROR, 0);
        return;
    }
    conn_send_request(e, c, len);
}

static void user_set(user *u, const char *method, const char *path)
{
    snprintf(u->method, sizeof u->method, "%s", method);
    snprintf(u->path, sizeof u->path, "%s", path);
}

/* Start a new logical request (a page view, an asset or a login). */
static void user_start(engine *e, sstate *ss, user *u)
{
    static const char *const assets[] = { "/static/app.css", "/static/app.js", "/favicon.ico" };
    u->redirects = 0;
    u->challenged = false;
    u->login = false;
    u->in_request = true;
    u->t_start = e->now;
    u->asset = u->assets_left > 0;
    if (u->asset) {
        user_set(u, "GET", assets[3 - u->assets_left]);
    } else if (sg_rng_below(&e->rng, 100) < 2) {
        u->login = true;
        user_set(u, "POST", "/login");
        char name[32], pw[40];
        snprintf(name, sizeof name, "user%u", u->id);
        snprintf(pw, sizeof pw, "pw-%s", name);
        sg_req_login_body(name, pw, u->body, sizeof u->body);
    } else {
        char path[64];
        uint32_t pick = sg_rng_below(&e->rng, 10);
        if (u->pages_left == 0 || pick < 3)
            snprintf(path, sizeof path, "/");
        else if (pick < 8)
            snprintf(path, sizeof path, "/page/%u", 1 + sg_rng_below(&e->rng, 50));
        else
            snprintf(path, sizeof path, "/api/hello");
        user_set(u, "GET", path);
    }
    count_sent(e, ss);
    user_issue(e, ss, u);
}

/* Follow a redirect: the Location (absolute or not) as a GET, but for
 * 307 and 308, which repeat the request with its method and body (as
 * browsers do: a cookie challenge on a login POST must not lose the form). */
static bool user_follow(user *u, bw_str loc, int status)
{
    const char *p = loc.p, *end = loc.p + loc.len;
    const char *scheme = memmem(p, loc.len, "://", 3);
    if (scheme) {
        p = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
        if (!p)
            p = end;
    }
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= sizeof u->path)
        return false;
    if (status != 307 && status != 308)
        snprintf(u->method, sizeof u->method, "GET");
    memcpy(u->path, p, n);
    u->path[n] = 0;
    return true;
}

static void user_finish(engine *e, sstate *ss, user *u, int outcome, int status)
{
    sg_scenario *sc = ss->sc;
    u->in_request = false;
    if (outcome == O_OK) {
        uint64_t us = (e->now - u->t_start) / 1000;
        sg_hist_add(&sc->latency, us);
        sg_hist_add(&e->sec_hist, us);
        if (u->challenged)
            sc->tot.challenged_ok++;
    } else {
        sc->tot.failed++;
    }
    count_outcome(e, ss, outcome, status);
    if (outcome != O_OK) {
        u->assets_left = 0; /* a broken page view: think, then go on */
        if (u->c)
            conn_close(e, u->c, false);
    }
    user_next(e, ss, u);
}

/* What the user does after a logical request (or when first woken). */
static void user_next(engine *e, sstate *ss, user *u)
{
    if (!ss->running || e->stop_launch)
        return;
    if (u->assets_left > 0) {
        u->assets_left--;
        if (u->assets_left > 0) {
            user_start(e, ss, u);
            return;
        }
    }
    double think = ss->sc->think_ms * NS_PER_MS;
    if (u->pages_left <= 0) { /* a new visit after a longer pause */
        if (u->c)
            conn_close(e, u->c, false);
        u->pages_left = 2 + (int)sg_rng_below(&e->rng, 4);
        user_wake_in(e, ss, u, (uint64_t)sg_rng_exp(&e->rng, 2 * think));
        return;
    }
    user_wake_in(e, ss, u, (uint64_t)sg_rng_exp(&e->rng, think));
}

/* A think timer fired: the next page view. */
static void user_wake(engine *e, sstate *ss, user *u)
{
    if (!ss->running || e->stop_launch || u->in_request)
        return;
    u->pages_left--;
    u->assets_left = 0;
    user_start(e, ss, u);
    /* an HTML page pulls its three assets next */
    if (u->in_request && !u->login && (strcmp(u->path, "/") == 0 ||
                                       strncmp(u->path, "/page/", 6) == 0))
        u->assets_left = 4; /* decremented once before the first asset */
}

/*
 * A proof-of-work page: read its meta, find the nonce as the page's script
 * would, and make the answer (GET /.bulwark/pow?c=..&n=..&r=..) the user's
 * next request.  The solving time is spent here, inside the logical
 * request's latency, as a browser spends it.  Only a page view (or a login)
 * solves: a page's assets are not documents, and a script in them never
 * runs.  false if the page cannot be passed.
 */
static bool user_solve_pow(engine *e, user *u, const char *body, size_t len)
{
    sg_pow_meta m;
    char nonce[BW_POW_NONCE_MAX + 1], path[sizeof u->path];
    if (u->asset || !sg_pow_meta_parse(body, len, &m) ||
        bw_pow_solve(m.challenge, m.bits, nonce, sizeof nonce) == 0 ||
        sg_pow_answer_path(&m, nonce, path, sizeof path) == 0)
        return false;
    e->now = mono_ns(); /* the answer's timeout starts after the work */
    user_set(u, "GET", path);
    return true;
}

/* A legit response is complete: follow a redirect or solve a PoW page, or
 * file the outcome. */
static void user_response(engine *e, conn *c, bw_str location)
{
    user *u = c->u;
    sstate *ss = c->ss;
    int status = c->status;
    bool redirect = status >= 300 && status < 400 && location.len &&
                    u->redirects < MAX_REDIRECTS && user_follow(u, location, status);
    /* the answer to a PoW page is one more hop, under the same cap */
    if (!redirect && c->pow && u->redirects < MAX_REDIRECTS)
        redirect = user_solve_pow(e, u, c->in + c->keep, c->body_len);
    /* a challenge neither followed nor solved is where the user stops */
    int outcome = c->challenge && !redirect ? O_CHALLENGED
                  : status >= 200 && status < 400 ? O_OK
                                                  : judge(c);
    if (outcome == O_OK && status >= 400)
        outcome = O_ERROR; /* a real user wanted that page: any 4xx is a failure */
    if (c->challenge)
        u->challenged = true;
    if (!c->keepalive) {
        conn_close(e, c, false);
    } else {
        c->state = C_IDLE;
        conn_release_inbuf(e, c);
    }
    if (redirect) {
        u->redirects++;
        user_issue(e, ss, u);
        return;
    }
    user_finish(e, ss, u, outcome, status);
}

/* ------------------------------------------------------------------ */
/* attack bots                                                         */
/* ------------------------------------------------------------------ */

static uint32_t bot_build(engine *e, sstate *ss, conn *c)
{
    sg_scenario *sc = ss->sc;
    char path[96], body[160], user[32], pw[40];
    sg_req q = { .method = "GET", .path = "/", .host = e->run->host,
                 .browser = sc->mimic_browser };
    if (sc->mimic_browser)
        q.ua = sg_user_agents[sg_rng_below(&e->rng, SG_UA_COUNT)];
    switch (sc->kind) {
    case SG_CACHE_BUST:
        sg_req_cache_bust_path(&e->rng, path, sizeof path);
        q.path = path;
        break;
    case SG_POST_FLOOD:
        q.method = "POST", q.path = "/api/chat", q.ctype = "application/json";
        q.body = body, q.body_len = sg_req_chat_body(&e->rng, body, sizeof body);
        break;
    case SG_CRED_STUFFING:
    case SG_BRUTE_FORCE:
        if (sc->kind == SG_CRED_STUFFING)
            snprintf(user, sizeof user, "user%u", sg_rng_below(&e->rng, 100000));
        else
            snprintf(user, sizeof user, "admin");
        snprintf(pw, sizeof pw, "guess%llu", (unsigned long long)++ss->counter);
        q.method = "POST", q.path = "/login", q.ctype = "application/x-www-form-urlencoded";
        q.body = body, q.body_len = sg_req_login_body(user, pw, body, sizeof body);
        break;
    case SG_SLOW_POST:
        q.method = "POST", q.path = "/api/chat", q.ctype = "application/json";
        q.body_len = 100000, q.body_follows = true;
        break;
    default:
        break;
    }
    return (uint32_t)sg_req_build(&q, c->out, OUT_CAP);
}

/* One send of an attack scenario: reuse a connected bot or start a new one. */
static bool bot_launch(engine *e, sstate *ss)
{
    sg_scenario *sc = ss->sc;
    conn *c = ss->idle;
    if (c) {
        ss->idle = c->next_idle;
        c->state = C_SENDING;
    } else {
        if (sc->conns && ss->active >= sc->conns)
            return false;
        c = conn_open(e, ss, sg_addrpool_next(&ss->pool), true);
        if (!c)
            return false;
        c->left = sc->per_ip ? sc->per_ip : UINT32_MAX;
    }
    count_sent(e, ss);
    c->left--;
    uint32_t len;
    if (sc->kind == SG_SLOWLORIS)
        len = (uint32_t)sg_req_slow_head(e->run->host, c->out, OUT_CAP);
    else
        len = bot_build(e, ss, c);
    if (len == 0) {
        count_outcome(e, ss, O_ERROR, 0);
        conn_close(e, c, true);
        return true;
    }
    conn_send_request(e, c, len);
    return true;
}

static void bot_response(engine *e, conn *c)
{
    sstate *ss = c->ss;
    count_outcome(e, ss, judge(c), c->status);
    if (c->keepalive && c->left > 0 && ss->running && !e->stop_launch) {
        c->state = C_IDLE;
        c->seq++; /* no timeout while idle */
        c->next_idle = ss->idle;
        ss->idle = c;
        conn_release_inbuf(e, c);
    } else {
        conn_close(e, c, e->opt.rst_bots);
    }
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */
/* ------------------------------------------------------------------ */

static void conn_fail(engine *e, conn *c, int outcome)
{
    if (c->u) {
        user *u = c->u;
        sstate *ss = c->ss;
        conn_close(e, c, false);
        if (u->in_request)
            user_finish(e, ss, u, outcome, 0);
        return;
    }
    if (c->state == C_SLOW || c->ss->sc->kind == SG_SLOWLORIS ||
        c->ss->sc->kind == SG_SLOW_POST) {
        /* a slow connection ended by the other side is a mitigation */
        count_outcome(e, c->ss, outcome == O_ERROR && !c->got_bytes ? O_DROPPED : outcome,
                      c->status);
    } else if (c->state != C_IDLE) {
        count_outcome(e, c->ss, outcome, c->status);
    }
    conn_close(e, c, e->opt.rst_bots);
}

static const char slow_tail[] = "X-a: b\r\n";

static bool conn_flush(engine *e, conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN)
                return true;
            conn_fail(e, c, O_ERROR);
            return false;
        }
        c->out_off += (uint32_t)w;
    }
    sg_kind k = c->ss->sc->kind;
    if (!c->u && (k == SG_SLOWLORIS || k == SG_SLOW_POST)) {
        if (c->state != C_SLOW) {
            c->state = C_SLOW;
            arm(e, c, (uint64_t)c->ss->sc->interval_ms * NS_PER_MS, T_SLOW_TICK);
        }
        return true;
    }
    c->state = C_READING;
    return true;
}

/* A slow connection's tick: one more byte, then wait again. */
static void slow_tick(engine *e, conn *c)
{
    if (!c->ss->running) {
        conn_close(e, c, true);
        return;
    }
    char b = c->ss->sc->kind == SG_SLOWLORIS ? slow_tail[c->slow_pos % (sizeof slow_tail - 1)]
                                             : 'x';
    ssize_t w = send(c->fd, &b, 1, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
        conn_fail(e, c, O_ERROR);
        return;
    }
    if (w == 1)
        c->slow_pos++;
    arm(e, c, (uint64_t)c->ss->sc->interval_ms * NS_PER_MS, T_SLOW_TICK);
}

/* Find the headers the engine acts on; returns Location (legit) or {0}. */
static bw_str scan_headers(conn *c, const bw_http_response *r)
{
    bw_str loc = { 0 };
    for (size_t i = 0; i < r->nheaders; i++) {
        bw_str n = r->headers[i].name;
        if (bw_str_ieq_lit(n, "x-probe"))
            c->from_probe = true;
        else if (bw_str_ieq_lit(n, "x-bulwark-challenge"))
            c->challenge = true, c->pow = bw_str_ieq_lit(r->headers[i].value, "pow");
        else if (c->u && bw_str_ieq_lit(n, "location"))
            loc = r->headers[i].value;
        else if (c->u && bw_str_ieq_lit(n, "set-cookie"))
            jar_store(c->u, r->headers[i].value);
    }
    return loc;
}

/* Parse the head in c->in.  1: parsed, 0: need more, -1: broken. */
static int parse_head(conn *c, bw_str *location, size_t *head_len)
{
    size_t end = bw_http_head_end(c->in, c->in_len, &c->scan);
    if (end == 0)
        return c->in_len == IN_CAP ? -1 : 0;
    bw_http_header hdrs[MAX_HEADERS];
    bw_http_response r;
    bw_http_limits lim = { 0, MAX_HEADERS, IN_CAP };
    if (bw_http_parse_response(c->in, end, &lim, &r, hdrs, MAX_HEADERS) <= 0)
        return -1;
    c->status = r.status;
    c->keepalive = (r.flags & BW_HTTP_F_KEEPALIVE) != 0;
    *location = scan_headers(c, &r);
    if (r.status < 200) { /* an interim response: drop it, read on */
        memmove(c->in, c->in + end, c->in_len - end);
        c->in_len -= end;
        c->scan = 0;
        return parse_head(c, location, head_len);
    }
    c->head_done = true;
    if (r.status == 204 || r.status == 304)
        c->body_left = 0;
    else if (r.flags & BW_HTTP_F_CHUNKED)
        c->chunked = true;
    else if (r.flags & BW_HTTP_F_HAS_CL)
        c->body_left = r.content_length;
    else
        c->until_close = true, c->keepalive = false;
    *head_len = end;
    return 1;
}

/* Keep body data p[0..n) (it lies at or after the end of what is kept) when
 * the body is a PoW page, up to BODY_KEEP bytes: the rest of IN_CAP stays
 * free for recv(). */
static void body_keep(conn *c, const char *p, size_t n)
{
    if (!c->keep_body)
        return;
    size_t room = BODY_KEEP - c->body_len;
    if (n > room)
        n = room;
    memmove(c->in + c->keep + c->body_len, p, n);
    c->body_len += n;
}

/* Consume body bytes p[0..n) (in c->in, after what is kept).  true once the
 * body is complete. */
static bool eat_body(conn *c, const char *p, size_t n, bool *bad)
{
    if (c->chunked) {
        while (n > 0 && !c->dec.done) {
            bw_str data;
            ssize_t used = bw_chunked_decode(&c->dec, p, n, &data);
            if (used < 0) {
                *bad = true;
                return false;
            }
            body_keep(c, data.p, data.len);
            p += used, n -= (size_t)used;
            if (used == 0 && !c->dec.done)
                break;
        }
        return c->dec.done;
    }
    body_keep(c, p, n);
    if (c->until_close)
        return false;
    c->body_left -= n < c->body_left ? n : c->body_left;
    return c->body_left == 0;
}

static void response_done(engine *e, conn *c, bw_str location)
{
    c->seq++; /* cancel the timeout */
    if (c->u)
        user_response(e, c, location);
    else
        bot_response(e, c);
}

/* Move the body bytes that came with the head to the front of the buffer
 * (after the Location a legit user may need); returns where they start. */
static size_t compact_after_head(conn *c, bw_str loc, size_t head_len)
{
    size_t keep = 0;
    if (c->u && loc.len) {
        keep = loc.len < sizeof c->u->path - 1 ? loc.len : sizeof c->u->path - 1;
        memmove(c->in, loc.p, keep);
    }
    memmove(c->in + keep, c->in + head_len, c->in_len - head_len);
    c->in_len = keep + c->in_len - head_len;
    c->keep = keep;
    return keep;
}

static void conn_read(engine *e, conn *c)
{
    if (!c->in) {
        c->in = e->ninbufs ? e->inbufs[--e->ninbufs] : malloc(IN_CAP);
        if (!c->in) {
            conn_fail(e, c, O_ERROR);
            return;
        }
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            if (c->until_close && c->head_done) {
                c->keepalive = false;
                response_done(e, c, (bw_str){ c->in, c->keep });
            } else {
                conn_fail(e, c, c->got_bytes ? O_ERROR : O_DROPPED);
            }
            return;
        }
        c->got_bytes = true;
        c->in_len += (size_t)r;
        if (!c->head_done) {
            bw_str loc = { 0 };
            size_t head_len = 0;
            int h = parse_head(c, &loc, &head_len);
            if (h < 0) {
                conn_fail(e, c, O_ERROR);
                return;
            }
            if (h == 0)
                continue;
            compact_after_head(c, loc, head_len);
            c->keep_body = c->u && c->pow;
        }
        bool bad = false;
        size_t from = c->keep + c->body_len;
        bool done = eat_body(c, c->in + from, c->in_len - from, &bad);
        if (bad) {
            conn_fail(e, c, O_ERROR);
            return;
        }
        if (done) {
            response_done(e, c, (bw_str){ c->in, c->keep });
            return;
        }
        c->in_len = c->keep + c->body_len; /* other body bytes are dropped as they come */
    }
}

static void conn_event(engine *e, conn *c, uint32_t ev)
{
    if (c->state == C_FREE)
        return;
    /* a refused connect shows as EPOLLERR: the send in conn_flush reports it */
    if (c->state == C_SENDING && (ev & (EPOLLOUT | EPOLLERR)) && !conn_flush(e, c))
        return;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        if (c->state == C_IDLE || c->state == C_SLOW) {
            /* nothing is expected: a close or an early answer from the peer */
            char b[IN_CAP < 4096 ? IN_CAP : 4096];
            ssize_t r = recv(c->fd, b, sizeof b, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                conn_fail(e, c, O_DROPPED);
            } else if (r > 0 && c->state == C_SLOW) {
                c->got_bytes = true; /* e.g. a 408 */
                conn_fail(e, c, O_BLOCKED);
            }
            return;
        }
        if (c->state == C_READING || c->state == C_SENDING)
            conn_read(e, c);
    }
}

/* ------------------------------------------------------------------ */
/* scenarios and the clock                                             */
/* ------------------------------------------------------------------ */

static void scenario_begin(engine *e, sstate *ss)
{
    sg_scenario *sc = ss->sc;
    ss->running = true;
    if (sc->kind != SG_LEGIT)
        return;
    for (uint32_t i = 0; i < sc->users; i++) {
        user *u = &ss->users[i];
        u->pages_left = 2 + (int)sg_rng_below(&e->rng, 4);
        /* spread the first visits over the first think time */
        user_wake_in(e, ss, u, (uint64_t)(sg_rng_unit(&e->rng) * sc->think_ms * NS_PER_MS));
    }
}

static void scenario_end(engine *e, sstate *ss)
{
    ss->running = false;
    ss->stopped = true;
    ss->sc->tot.missed = ss->pacer.missed;
    while (ss->idle)
        conn_close(e, ss->idle, e->opt.rst_bots);
    /* slow connections go at their next tick; requests in flight finish */
}

static void launch_due(engine *e, sstate *ss, uint64_t el)
{
    sg_scenario *sc = ss->sc;
    uint64_t start = (uint64_t)llround(sc->start_s * NS_PER_S);
    uint64_t len = (uint64_t)llround(sc->duration_s * NS_PER_S);
    if (el < start || ss->stopped)
        return;
    if (!ss->running)
        scenario_begin(e, ss);
    /* past the end: still send what came due up to the end exactly, so a
     * scenario sends rate x duration requests, no more, no less */
    bool over = el - start >= len;
    if (sc->kind != SG_LEGIT && !e->stop_launch) {
        uint64_t due = sg_pacer_due(&ss->pacer, over ? len : el - start);
        uint64_t done = 0;
        while (done < due && !e->stop_launch && bot_launch(e, ss))
            done++;
        sg_pacer_issue(&ss->pacer, done);
        if (done < due) {
            /* at the connection cap.  A flood has lost those sends, and says
             * so; a slow scenario holding all its connections is where it
             * wants to be, and tops up at its rate when some are closed. */
            if (sc->kind != SG_SLOWLORIS && sc->kind != SG_SLOW_POST)
                ss->pacer.missed += due - done;
            sg_pacer_issue(&ss->pacer, due - done);
        }
    }
    if (over)
        scenario_end(e, ss);
}

static void fire_timers(engine *e)
{
    while (e->nheap && e->heap[0].when <= e->now) {
        tmr t = heap_pop(e);
        if (t.kind == T_USER) {
            sstate *ss = &e->ss[t.id >> 24];
            user *u = &ss->users[t.id & 0xffffff];
            if (u->seq == t.seq)
                user_wake(e, ss, u);
            continue;
        }
        conn *c = &e->conns[t.id];
        if (c->state == C_FREE || c->seq != t.seq)
            continue;
        if (t.kind == T_SLOW_TICK)
            slow_tick(e, c);
        else
            conn_fail(e, c, O_TIMEOUT);
    }
}

static void progress_line(engine *e, uint32_t sec)
{
    uint64_t sent = 0, ok = 0, blocked = 0, chal = 0, err = 0;
    for (int i = 0; i < e->run->nscen; i++) {
        const sg_totals *t = &e->run->scen[i].tot;
        sent += t->sent, ok += t->ok, blocked += t->blocked, chal += t->challenged;
        err += t->errors;
    }
    if (!e->opt.quiet)
        fprintf(stderr,
                "[%3us] sent %7llu  ok %7llu  blocked %7llu  challenged %6llu  errors %6llu"
                "  legit p99 %.2f ms\n",
                sec, (unsigned long long)(sent - e->prev_sent),
                (unsigned long long)(ok - e->prev_ok),
                (unsigned long long)(blocked - e->prev_blocked),
                (unsigned long long)(chal - e->prev_chal),
                (unsigned long long)(err - e->prev_err),
                (double)sg_hist_quantile(&e->sec_hist, 0.99) / 1000.0);
    e->prev_sent = sent, e->prev_ok = ok, e->prev_blocked = blocked;
    e->prev_chal = chal, e->prev_err = err;
}

/* Close the books on second `sec`: gauges, legit p99, the progress line. */
static void second_over(engine *e, uint32_t sec)
{
    if (sec >= e->run->nsec)
        return;
    for (int i = 0; i < e->run->nscen; i++) {
        sg_second *s = &e->run->scen[i].timeline[sec];
        s->active = e->ss[i].active;
        if (e->run->scen[i].kind == SG_LEGIT)
            s->p99_us = (uint32_t)sg_hist_quantile(&e->sec_hist, 0.99);
    }
    progress_line(e, sec);
    memset(&e->sec_hist, 0, sizeof e->sec_hist);
}

/* ------------------------------------------------------------------ */
/* set-up and the loop                                                 */
/* ------------------------------------------------------------------ */

static int engine_init(engine *e, sg_run *r, const sg_engine_opts *o)
{
    memset(e, 0, sizeof *e);
    e->run = r;
    e->opt = *o;
    if (sg_parse_addr(r->target, &e->target) < 0) {
        fprintf(stderr, "bulwark-siege: bad --target '%s' (want IPv4:PORT)\n", r->target);
        return -1;
    }
    bw_fd_limit_raise(); /* MAX_CONNS stays under the 20,000 of this machine */
    e->ep = epoll_create1(EPOLL_CLOEXEC);
    e->conns = calloc(MAX_CONNS, sizeof *e->conns);
    e->free_ids = calloc(MAX_CONNS, sizeof *e->free_ids);
    e->warm_ids = calloc(WARM_MAX, sizeof *e->warm_ids);
    e->inbufs = calloc(MAX_CONNS, sizeof *e->inbufs);
    if (e->ep < 0 || !e->conns || !e->free_ids || !e->warm_ids || !e->inbufs) {
        fprintf(stderr, "bulwark-siege: out of memory or no epoll\n");
        return -1;
    }
    for (uint32_t i = 0; i < MAX_CONNS; i++)
        e->free_ids[e->nfree++] = MAX_CONNS - 1 - i;
    sg_rng_seed(&e->rng, r->seed);
    int attack_no = 0;
    for (int i = 0; i < r->nscen; i++) {
        sstate *ss = &e->ss[i];
        sg_scenario *sc = &r->scen[i];
        ss->sc = sc;
        sg_pacer_init(&ss->pacer, sc->rate);
        if (sc->kind == SG_LEGIT) {
            sc->octet_lo = sc->octet_hi = SG_LEGIT_OCTET;
            ss->users = calloc(sc->users ? sc->users : 1, sizeof *ss->users);
            if (!ss->users)
                return -1;
            sg_addrpool_init(&ss->pool, SG_LEGIT_OCTET, SG_LEGIT_OCTET, 0);
            for (uint32_t k = 0; k < sc->users; k++) {
                user *u = &ss->users[k];
                u->id = k;
                u->addr = sg_addrpool_next(&ss->pool);
                u->ua = sg_user_agents[k % SG_UA_COUNT];
            }
        } else {
            attack_no++;
            sc->octet_lo = (uint8_t)(16 * attack_no);
            sc->octet_hi = (uint8_t)(16 * attack_no + 15);
            sg_addrpool_init(&ss->pool, sc->octet_lo, sc->octet_hi,
                             sc->kind == SG_PROXY_FLOOD ? sc->ips : 0);
        }
    }
    return 0;
}

static void engine_free(engine *e)
{
    for (uint32_t i = 0; i < MAX_CONNS; i++)
        if (e->conns[i].state != C_FREE)
            conn_close(e, &e->conns[i], e->opt.rst_bots);
    while (e->nwarm) /* after the loop above: it may warm a few more */
        close(e->conns[e->warm_ids[--e->nwarm]].fd);
    for (uint32_t i = 0; i < e->ninbufs; i++)
        free(e->inbufs[i]);
    for (int i = 0; i < e->run->nscen; i++)
        free(e->ss[i].users);
    free(e->inbufs);
    free(e->free_ids);
    free(e->warm_ids);
    free(e->conns);
    free(e->heap);
    if (e->ep >= 0)
        close(e->ep);
}

/* Sleep to the next whole unix second: second i of the run is then unix
 * second t0_unix + i for the probe as well. */
static void align_to_second(engine *e)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    struct timespec nap = { 0, 1000000000L - rt.tv_nsec };
    nanosleep(&nap, NULL);
    e->run->t0_unix = rt.tv_sec + 1;
    e->t0 = mono_ns();
}

static bool any_attack_running(const engine *e)
{
    for (int i = 0; i < e->run->nscen; i++)
        if (e->ss[i].running && e->run->scen[i].kind != SG_LEGIT)
            return true;
    return false;
}

static void poll_once(engine *e, int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(e->ep, evs, 512, timeout_ms);
    e->now = mono_ns();
    for (int i = 0; i < n; i++)
        conn_event(e, &e->conns[evs[i].data.u32], evs[i].events);
}

static bool all_idle(const engine *e)
{
    for (uint32_t i = 0; i < MAX_CONNS; i++) {
        uint8_t st = e->conns[i].state;
        if (st == C_SENDING || st == C_READING)
            return false;
    }
    return true;
}

int sg_engine_run(sg_run *r, const sg_engine_opts *o)
{
    engine *e = malloc(sizeof *e);
    if (!e || engine_init(e, r, o) < 0) {
        if (e && e->conns)
            engine_free(e);
        free(e);
        return -1;
    }
    align_to_second(e);
    uint64_t end = (uint64_t)r->nsec * NS_PER_S;
    e->now = e->t0;
    while (e->now - e->t0 < end) {
        uint64_t el = e->now - e->t0;
        uint32_t sec = (uint32_t)(el / NS_PER_S);
        while (e->sec < sec)
            second_over(e, e->sec++);
        for (int i = 0; i < r->nscen; i++)
            launch_due(e, &e->ss[i], el);
        fire_timers(e);
        poll_once(e, any_attack_running(e) ? 1 : 5);
    }
    while (e->sec < r->nsec)
        second_over(e, e->sec++);
    for (int i = 0; i < r->nscen; i++) /* what is due at the very end, then the end */
        launch_due(e, &e->ss[i], end);
    e->stop_launch = true;
    for (int i = 0; i < r->nscen; i++)
        if (!e->ss[i].stopped)
            scenario_end(e, &e->ss[i]);
    /* drain: answers to requests in flight still count (in the last second) */
    uint64_t drain_end = e->now + (uint64_t)(r->timeout_ms < DRAIN_MAX_MS ? r->timeout_ms
                                                                         : DRAIN_MAX_MS) *
                                      NS_PER_MS;
    e->sec = r->nsec - 1;
    while (e->now < drain_end && !all_idle(e)) {
        fire_timers(e);
        poll_once(e, 5);
    }
    engine_free(e);
    free(e);
    return 0;
}
