/*
 * request.c - request heads and bodies on the wire (see request.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "request.h"

const char *const sg_user_agents[SG_UA_COUNT] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 11.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
};

/* Appends formatted text; on overflow the writer is marked full for good. */
typedef struct wbuf {
    char *p;
    size_t len, cap;
    int full;
} wbuf;

static void w_fmt(wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_fmt(wbuf *w, const char *fmt, ...)
{
    if (w->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->p + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= w->cap - w->len)
        w->full = 1;
    else
        w->len += (size_t)n;
}

static void bot_headers(wbuf *w, const sg_req *q)
{
    w_fmt(w,
          "Host: %s\r\nUser-Agent: python-requests/2.31.0\r\n"
          "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n",
          q->host);
}

static void browser_headers(wbuf *w, const sg_req *q)
{
    int nav = strcmp(q->method, "GET") == 0;
    w_fmt(w,
          "Host: %s\r\nConnection: keep-alive\r\n"
          "sec-ch-ua: \"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"8\"\r\n"
          "sec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: \"Linux\"\r\n",
          q->host);
    if (nav)
        w_fmt(w, "Upgrade-Insecure-Requests: 1\r\n");
    w_fmt(w, "User-Agent: %s\r\n", q->ua ? q->ua : sg_user_agents[0]);
    w_fmt(w, "Accept: %s\r\n",
          nav ? "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                "image/webp,*/*;q=0.8"
              : "*/*");
    w_fmt(w, "Sec-Fetch-Site: %s\r\nSec-Fetch-Mode: %s\r\n", nav ? "none" : "same-origin",
          nav ? "navigate" : "cors");
    if (nav)
        w_fmt(w, "Sec-Fetch-User: ?1\r\n");
    w_fmt(w, "Sec-Fetch-Dest: %s\r\n", nav ? "document" : "empty");
    w_fmt(w, "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n");
    if (q->cookie && q->cookie[0])
        w_fmt(w, "Cookie: %s\r\n", q->cookie);
}

size_t sg_req_build(const sg_req *q, char *buf, size_t cap)
{
    wbuf w = { buf, 0, cap, 0 };
    w_fmt(&w, "%s %s HTTP/1.1\r\n", q->method, q->path);
    if (q->browser)
        browser_headers(&w, q);
    else
        bot_headers(&w, q);
    if (q->ctype)
        w_fmt(&w, "Content-Type: %s\r\nContent-Length: %zu\r\n", q->ctype, q->body_len);
    w_fmt(&w, "\r\n");
    if (q->body && !q->body_follows && !w.full) {
        if (q->body_len > cap - w.len)
            return 0;
        memcpy(buf + w.len, q->body, q->body_len);
        w.len += q->body_len;
    }
    return w.full ? 0 : w.len;
}

size_t sg_req_slow_head(const char *host, char *buf, size_t cap)
{
    wbuf w = { buf, 0, cap, 0 };
    w_fmt(&w, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n", host, sg_user_agents[0]);
    return w.full ? 0 : w.len;
}

size_t sg_req_cache_bust_path(sg_rng *r, char *buf, size_t cap)
{
    int n;
    if (sg_rng_below(r, 2))
        n = snprintf(buf, cap, "/page/%u?v=%08x", sg_rng_below(r, 1000000),
                     (unsigned)sg_rng_next(r));
    else
        n = snprintf(buf, cap, "/?%x=%08x", sg_rng_below(r, 65536), (unsigned)sg_rng_next(r));
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t sg_req_chat_body(sg_rng *r, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "{\"model\":\"chat-1\",\"prompt\":\"summarise document %u in %u words\","
                     "\"max_tokens\":%u}",
                     sg_rng_below(r, 1000000), 50 + sg_rng_below(r, 200),
                     256 + sg_rng_below(r, 768));
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t sg_req_login_body(const char *user, const char *password, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "username=%s&password=%s", user, password);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
