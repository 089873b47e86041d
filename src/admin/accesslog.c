/*
 * accesslog.c - JSON access log lines buffered per worker (see accesslog.h).
 *
 * The worker appends to its own 64 KiB buffer; write(2) happens only when the
 * buffer is nearly full or once a second from bw_alog_tick.  now_ms is the
 * worker's monotonic clock, so wall-clock time for "ts" is read with
 * CLOCK_REALTIME_COARSE (a vDSO read, no syscall) per line.
 *
 * Writes to a pipe or terminal on stdout may block the worker when the
 * reader is slow; that is the operator's choice of target (a file never
 * blocks for long).  Bytes that cannot be written are dropped (counted in
 * `dropped`; not exported yet).
 */
#include "admin/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define ALOG_BUF 65536
/* A line never exceeds this: variable parts are bounded (path 1 KiB, the
 * others 64 bytes) and each byte escapes to at most 6. */
#define ALOG_LINE_MAX 8192
#define ALOG_PATH_MAX 1024
/* path + client, site, upstream, rid (64 each) + method (32), each byte at
 * most 6 once escaped, + keys, quotes, ts and 6 numbers (under 256). */
_Static_assert(6 * (ALOG_PATH_MAX + 4 * 64 + 32) + 256 <= ALOG_LINE_MAX,
               "ALOG_LINE_MAX must hold the longest possible line");
_Static_assert(ALOG_LINE_MAX < ALOG_BUF, "a line must fit the buffer");

struct bw_alog {
    int fd;
    int own_fd;
    size_t len;
    uint64_t last_flush_ms;
    uint64_t dropped;
    time_t ts_sec;     /* second cached in ts_text */
    char ts_text[24];  /* "2026-11-25T06:50:01" */
    char buf[ALOG_BUF];
};

bw_alog *bw_alog_open(const char *target)
{
    if (!target || strcmp(target, "off") == 0)
        return NULL;
    bw_alog *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    if (strcmp(target, "stdout") == 0) {
        l->fd = STDOUT_FILENO;
    } else {
        l->fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (l->fd < 0) {
            /* The caller treats NULL as "logging off": say why, once per
             * worker, or the operator only sees an empty log. */
            bw_log(BW_LOG_ERROR, "access_log %s: %s (access logging disabled)", target,
                   strerror(errno));
            free(l);
            return NULL;
        }
        l->own_fd = 1;
    }
    l->ts_sec = -1;
    return l;
}

static void alog_flush(bw_alog *l)
{
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(l->fd, l->buf + off, l->len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            l->dropped += l->len - off; /* EAGAIN or an error: drop, never spin */
            break;
        }
    }
    l->len = 0;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* JSON string body: quotes, backslash, control and non-ASCII bytes escaped,
 * so the line is valid JSON whatever a client sent. */
static char *put_json(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            *p++ = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            p = put(p, "\\u00", 4);
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        } else {
            *p++ = (char)ch;
        }
    }
    return p;
}

static char *put_field(char *p, const char *key, const char *s, size_t n)
{
    p = put(p, key, strlen(key));
    *p++ = '"';
    p = put_json(p, s, n);
    *p++ = '"';
    return p;
}

static char *put_num(char *p, const char *key, uint64_t v)
{
    p = put(p, key, strlen(key));
    return p + bw_u64_dec(v, p);
}

static char *put_ts(bw_alog *l, char *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != l->ts_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(l->ts_text, sizeof(l->ts_text), "%Y-%m-%dT%H:%M:%S", &tm);
        l->ts_sec = ts.tv_sec;
    }
    p = put(p, "{\"ts\":\"", 7);
    p = put(p, l->ts_text, strlen(l->ts_text));
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    return put(p, "Z\"", 2);
}

void bw_alog_write(bw_alog *l, const bw_alog_entry *e, uint64_t now_ms)
{
    if (!l)
        return;
    if (l->len + ALOG_LINE_MAX > ALOG_BUF)
        alog_flush(l);
    if (l->len == 0 && l->last_flush_ms == 0)
        l->last_flush_ms = now_ms;
    char *p = l->buf + l->len;
    const char *client = e->client ? e->client : "-";
    const char *site = e->site ? e->site : "-";
    size_t path_len = e->path.len > ALOG_PATH_MAX ? ALOG_PATH_MAX : e->path.len;
    size_t method_len = e->method.len > 32 ? 32 : e->method.len;
    size_t rid_len = e->request_id.len > 64 ? 64 : e->request_id.len;
    p = put_ts(l, p);
    p = put_field(p, ",\"client\":", client, strnlen(client, 64));
    p = put_field(p, ",\"site\":", site, strnlen(site, 64));
    p = put_field(p, ",\"method\":", e->method.p, method_len);
    p = put_field(p, ",\"path\":", e->path.p, path_len);
    p = put_num(p, ",\"status\":", (uint64_t)(e->status < 0 ? 0 : e->status));
    p = put_num(p, ",\"bytes_in\":", e->bytes_in);
    p = put_num(p, ",\"bytes_out\":", e->bytes_out);
    p = put_num(p, ",\"dur_us\":", e->dur_us);
    if (e->upstream)
        p = put_field(p, ",\"upstream\":", e->upstream, strnlen(e->upstream, 64));
    else
        p = put(p, ",\"upstream\":null", 16);
    p = put_num(p, ",\"upstream_us\":", e->upstream_us);
    p = put_field(p, ",\"rid\":", e->request_id.p, rid_len);
    p = put(p, "}\n", 2);
    l->len = (size_t)(p - l->buf);
}

void bw_alog_tick(bw_alog *l, uint64_t now_ms)
{
    if (!l || l->len == 0)
        return;
    if (now_ms - l->last_flush_ms >= 1000) {
        alog_flush(l);
        l->last_flush_ms = now_ms;
    }
}

void bw_alog_close(bw_alog *l)
{
    if (!l)
        return;
    alog_flush(l);
    if (l->own_fd)
        close(l->fd);
    free(l);
}
