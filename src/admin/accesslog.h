/*
 * accesslog.h - the structured JSON access log, buffered per worker.
 *
 * Each worker owns one bw_alog: lines are appended to a 64 KiB buffer with no
 * lock and no syscall; the buffer is written out when nearly full and at most
 * once a second (bw_alog_tick), so logging costs a memcpy per request.  One
 * line per request:
 * {"ts":"...","client":"1.2.3.4","site":"example.com","method":"GET",
 *  "path":"/x","status":200,"bytes_in":120,"bytes_out":5120,"dur_us":830,
 *  "upstream":"127.0.0.1:9000","upstream_us":700,"rid":"..."}
 * Strings are JSON-escaped; paths are truncated at 1 KiB.
 */
#ifndef BW_ADMIN_ACCESSLOG_H
#define BW_ADMIN_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

typedef struct bw_alog bw_alog;

typedef struct bw_alog_entry {
    const char *client;    /* text address, NUL-terminated */
    const char *site;      /* site name or "-" */
    bw_str method;
    bw_str path;           /* target as received */
    int status;
    uint64_t bytes_in, bytes_out;
    uint64_t dur_us;
    const char *upstream;  /* "ip:port" or NULL */
    uint64_t upstream_us;
    bw_str request_id;
} bw_alog_entry;

/* target: NULL/"off" (returns NULL: logging disabled), "stdout", or a path. */
bw_alog *bw_alog_open(const char *target);
void bw_alog_write(bw_alog *l, const bw_alog_entry *e, uint64_t now_ms);
void bw_alog_tick(bw_alog *l, uint64_t now_ms); /* flush if >= 1 s since last */
void bw_alog_close(bw_alog *l);                  /* flush and free */

#endif
