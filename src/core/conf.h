/*
 * conf.h - the configuration: parsing (file, string, quick mode), the
 * immutable snapshot it produces, and its publication to the workers.
 *
 * A bw_conf is built by the main thread and never modified once published
 * (except the atomic runtime fields of servers, see bw_server_conf).  Workers
 * read the current snapshot with bw_conf_current() when a request starts.
 * Old snapshots are kept (linked through ->prev) until exit, because
 * requests in flight may still point into them; a reload costs a few KiB.
 *
 * All directives live in one table in conf.c (name, context, arguments,
 * setter, help text): the -t errors, `bulwark --help-config` and
 * docs/CONFIG.md come from that one place.
 */
#ifndef BW_CORE_CONF_H
#define BW_CORE_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/str.h"

typedef struct bw_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64]; /* "127.0.0.1:8080" or "[::1]:8080", as written back for logs */
} bw_addr;

/* Parse "host:port", "[v6]:port", "*:port" or ":port" (numeric hosts and
 * "localhost" only; no DNS).  Returns 0 or -1. */
int bw_addr_parse(const char *text, bw_addr *out);

/* True for 127.0.0.0/8 and ::1. */
bool bw_addr_is_loopback(const bw_addr *a);

#define BW_CONF_MAX_LISTENS 32 /* per worker: a fixed array in the worker */

typedef struct bw_listen_conf {
    bw_addr addr;
    bool proxy_protocol; /* expect a PROXY v1/v2 header first */
} bw_listen_conf;

enum bw_balance { BW_BALANCE_RR = 0, BW_BALANCE_LEASTCONN = 1 };

typedef struct bw_server_conf {
    bw_addr addr;
    unsigned weight;   /* >= 1, default 1 */
    unsigned max_conns; /* requests in flight to it per worker; 0 = no cap (default) */
    unsigned index;    /* position in bw_conf.servers (all pools), for per-worker state */
    /* Runtime state shared by all threads (relaxed atomics, any thread writes). */
    _Atomic int healthy;            /* set by the active health checker; starts at 1 */
    _Atomic uint64_t down_until_ms; /* passive: skip until then after a connect failure */
    _Atomic unsigned fails;         /* consecutive failed exchanges (breaker, max_fails) */
    _Atomic uint64_t open_until_ms; /* circuit breaker open: no requests at all until then */
} bw_server_conf;

typedef struct bw_pool_conf {
    bw_server_conf **servers; /* pointers into bw_conf.servers */
    size_t nservers;
    int balance;              /* enum bw_balance */
    unsigned retries;         /* other servers tried after a connect failure (default 2) */
    unsigned connect_timeout_ms;  /* default 3000 */
    unsigned read_timeout_ms;     /* waiting for origin bytes, default 60000 */
    unsigned send_timeout_ms;     /* origin not reading, default 60000 */
    unsigned keepalive_idle_ms;   /* idle origin connection kept, default 30000 */
    unsigned keepalive_max;       /* idle origin connections per server per worker, default 64 */
    unsigned fail_timeout_ms;     /* passive down time after a connect failure, default 5000 */
    unsigned max_fails;           /* consecutive failures that open the breaker; 0 = off, default 5 */
    bool capped;                  /* some server has max_conns: requests may queue */
    unsigned queue_timeout_ms;    /* wait for a free origin slot, default 5000 */
    unsigned max_queue;           /* requests waiting per worker, default 256 */
    /* active health check; interval 0 disables it */
    unsigned hc_interval_ms;      /* default 2000 */
    unsigned hc_timeout_ms;       /* default 1000 */
    unsigned hc_rise, hc_fall;    /* default 2, 3 */
    char *hc_path;                /* NULL: TCP connect check; else "GET path" expecting 2xx/3xx */
} bw_pool_conf;

/* A login route of a site (`login` directive, docs/LOGIN.md). */
#define BW_LOGIN_ROUTES_MAX 8
enum { BW_LOGIN_USER_FORM = 0, BW_LOGIN_USER_JSON, BW_LOGIN_USER_HEADER };
typedef struct bw_login_route {
    char path[256];          /* policy normal form, without a trailing slash */
    char method[16];         /* default POST */
    uint8_t user_kind;       /* BW_LOGIN_USER_*: where the account name is */
    char user_field[64];     /* default "username" */
    char pass_field[64];     /* form/json: the password's field, default "password" */
    uint16_t fail[8];        /* statuses that mean a failed login (default 401, 403) */
    uint8_t nfail;
    char fail_location[128]; /* a redirect there is a failure too; "" none */
} bw_login_route;

typedef struct bw_site_conf {
    char *name;        /* first server name, used in logs and metrics */
    char **names;      /* all names: exact "example.com" or wildcard "*.example.com" */
    size_t nnames;
    bool is_default;   /* the site for unknown Host values */
    bw_pool_conf pool;
    unsigned stats_slot; /* metrics slot (bw_stats_site_slot) */
    /* error pages: full HTML documents, loaded at parse time; never NULL after load */
    char *page_502;
    char *page_504;
    char *page_503;
    size_t page_502_len, page_504_len, page_503_len;
    /* shield (src/shield, docs/SHIELD.md) */
    bool shield;              /* check requests at all (default on) */
    uint8_t under_attack;     /* BW_UNDER_ATTACK_*, default auto */
    uint8_t challenge_kind;   /* 1 cookie (default), 2 proof of work: what under-attack uses */
    struct bw_policy *policy; /* the site's `rule` directives in order; NULL if none */
    bw_login_route *logins;   /* the site's `login` directives (malloc'd, owned) */
    size_t nlogins;
} bw_site_conf;

enum { BW_UNDER_ATTACK_OFF = 0, BW_UNDER_ATTACK_ON, BW_UNDER_ATTACK_AUTO };

typedef struct bw_conf {
    char *path;             /* file it was read from, or "<quick>" / "<builtin>" */
    uint64_t generation;    /* 1, 2, ... in load order */
    unsigned workers;       /* 0 = one per core */

    bw_listen_conf *listens;
    size_t nlistens;

    bw_addr admin;          /* default 127.0.0.1:9090 */
    bool admin_enabled;     /* `admin off` disables */
    char *admin_token;      /* NULL: admin must be on loopback (checked at load) */

    char *error_log;        /* "stderr" (default) or a path */
    int log_level;          /* BW_LOG_* from core/log.h, default info */
    char *access_log;       /* NULL = off; "stdout" or a path (default: off in quick mode) */

    /* client side */
    unsigned client_header_timeout_ms; /* whole head must arrive, default 10000 */
    unsigned client_body_timeout_ms;   /* between body reads, default 30000 */
    unsigned client_keepalive_ms;      /* idle keep-alive, default 60000 */
    unsigned client_send_timeout_ms;   /* client not reading, default 30000 */
    unsigned shutdown_timeout_ms;      /* SIGTERM drain bound, default 10000 */
    unsigned max_request_line;         /* default 8192 */
    unsigned max_headers;              /* default 100 */
    unsigned max_header_bytes;         /* default 16384 */
    uint64_t max_body_bytes;           /* 0 = unlimited (streamed), default 0 */
    uint64_t client_body_min_rate;     /* bytes/s a body must average after 10 s; 0 = off, default 1024 */
    unsigned max_connections;          /* per worker, default 10000 (soft cap on accept) */
    unsigned max_conns_per_ip;         /* per worker, per client address; 0 = off (default) */
    unsigned max_conns_per_prefix;     /* per worker, per /24 or /64; 0 = off (default) */
    unsigned conn_reserve_pct;         /* share of max_connections kept for clearance tokens (10) */
    unsigned overload_wait_ms;         /* a client wait that means "overloaded"; 0 = off (50) */
    unsigned event_coalesce_us;        /* a busy worker's sleep before it waits; 0 = off (100) */

    /* shield (docs/SHIELD.md) */
    char *challenge_key;      /* secret for clearance tokens; NULL: random at start (never logged) */
    char *geoip_db;           /* MaxMind country database for `country=` rules; NULL: none */
    double shield_sigma;      /* an attack: passed rate > mean + sigma x sd ... (default 6) */
    unsigned shield_floor;    /* ... and > this many requests/s (default 200) */
    unsigned shield_quiet_ms; /* an attack ends after this long back at baseline (default 10s) */
    double shield_max_fp;     /* a signature may match at most this share of normal traffic (0.01) */
    unsigned pow_bits;        /* proof-of-work difficulty, leading zero bits (default 16) */
    unsigned clearance_ttl_s; /* lifetime of a clearance token (default 1h) */

    bw_site_conf *sites;
    size_t nsites;
    bw_site_conf *default_site; /* NULL: unknown Host -> 421-style 404 page */

    bw_server_conf *servers; /* every server of every pool, flat */
    size_t nservers;

    /* name lookup: open-addressing table of exact names -> site (built at load) */
    struct bw_conf_name *name_table;
    size_t name_table_size; /* power of two */

    bool has_wildcards;     /* some site has a "*.name": lookups that miss try them */

    char **owned;           /* heap blocks owned by this snapshot (error pages) */
    size_t nowned;

    struct bw_conf *prev; /* older snapshot, freed by bw_conf_free_all() */
} bw_conf;

/*
 * Load and validate a config file.  On failure returns NULL and writes
 * "FILE:LINE: what was expected" into err.  The result is not published.
 */
bw_conf *bw_conf_load(const char *path, char *err, size_t errlen);

/* Same, from text in memory; name is used in error messages. */
bw_conf *bw_conf_parse_string(const char *text, const char *name, char *err, size_t errlen);

/* Quick mode: `--listen ADDR --origin ADDR[,ADDR...]`: one default site. */
bw_conf *bw_conf_quick(const char *listen, const char *origins, char *err, size_t errlen);

/* The default configuration embedded in the binary (used by `make run`). */
extern const char bw_conf_builtin_text[];

/* The security rule for the admin listener: true if it would be reachable
 * from other hosts without a token (such a config must be refused). */
bool bw_conf_admin_unprotected(const bw_conf *conf);

/* Site for a Host header value (port stripped, case-insensitive; exact names
 * first, then the longest matching wildcard, then the default site). */
const bw_site_conf *bw_conf_find_site(const bw_conf *conf, bw_str host);

/* Print the directive table (for --help-config and docs/CONFIG.md). */
void bw_conf_print_directives(int fd);

/* Publication: the main thread publishes, workers read (acquire). */
void bw_conf_publish(bw_conf *conf);
bw_conf *bw_conf_current(void);

void bw_conf_free(bw_conf *conf);     /* one snapshot (never published or at exit) */
void bw_conf_free_all(void);          /* current and all older snapshots, at exit */

#endif
