/*
 * request.h - the bytes bulwark-siege puts on the wire: request heads in
 * the header order and values of a bot library or of a real browser, and the
 * bodies of the POST scenarios.
 *
 * Two client "fingerprints":
 *   bot      the header set and order of python-requests (what most flood
 *            kits send): Host, User-Agent, Accept-Encoding, Accept, Connection
 *   browser  Chrome's navigation request, in Chrome's order, with a
 *            User-Agent picked from a small list (legit users keep theirs;
 *            bots with mimic=browser pick a new one for every request)
 * Every builder writes into a caller's buffer and returns the length, or 0
 * if it does not fit (the caller counts that as an error; 2 KiB is plenty).
 */
#ifndef SG_REQUEST_H
#define SG_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "sched.h"

#define SG_UA_COUNT 8
extern const char *const sg_user_agents[SG_UA_COUNT];

typedef struct sg_req {
    const char *method;   /* "GET" or "POST" */
    const char *path;     /* request-target */
    const char *host;
    bool browser;         /* browser header set, else bot */
    const char *ua;       /* browser User-Agent */
    const char *cookie;   /* Cookie header value, or NULL */
    const char *ctype;    /* POST body type */
    const char *body;     /* POST body (may be NULL with body_len = declared length) */
    size_t body_len;      /* Content-Length */
    bool body_follows;    /* only the head: the body is sent later (slow-post) */
} sg_req;

/* The head (and body unless body_follows or body is NULL) into buf. */
size_t sg_req_build(const sg_req *q, char *buf, size_t cap);

/* A slowloris head that never ends: request line and two headers, no blank line. */
size_t sg_req_slow_head(const char *host, char *buf, size_t cap);

/* Random scenario paths and bodies, written into buf (NUL-terminated);
 * return the length. */
size_t sg_req_cache_bust_path(sg_rng *r, char *buf, size_t cap);
size_t sg_req_chat_body(sg_rng *r, char *buf, size_t cap);
/* username=...&password=... (form-encoded; no escaping needed for ours) */
size_t sg_req_login_body(const char *user, const char *password, char *buf, size_t cap);

#endif
