/*
 * counts.c - fetch and file the origin probe's arrival counts (see counts.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "counts.h"

#define LATE_SECONDS 5   /* ask for this many seconds past the run's end */
#define MAX_BODY (16u << 20)

static sg_scenario *owner_of(sg_run *r, unsigned octet)
{
    for (int i = 0; i < r->nscen; i++)
        if (octet >= r->scen[i].octet_lo && octet <= r->scen[i].octet_hi)
            return &r->scen[i];
    return NULL;
}

int sg_counts_apply(sg_run *r, const char *body, size_t len)
{
    for (int i = 0; i < r->nscen; i++) {
        r->scen[i].tot.reached = 0;
        for (uint32_t s = 0; s < r->nsec; s++)
            r->scen[i].timeline[s].reached = 0;
    }
    int used = 0;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[96];
        if (n >= sizeof line)
            return -1;
        memcpy(line, p, n);
        line[n] = 0;
        p += n + 1;
        if (n == 0)
            continue;
        long long sec;
        unsigned octet;
        unsigned long count;
        char extra;
        if (sscanf(line, "%lld %u %lu %c", &sec, &octet, &count, &extra) != 3 || octet > 255)
            return -1;
        sg_scenario *s = owner_of(r, octet);
        if (!s || sec < r->t0_unix)
            continue;
        long long i = sec - r->t0_unix;
        if (i >= (long long)r->nsec)
            i = r->nsec - 1;
        s->timeline[i].reached += (uint32_t)count;
        s->tot.reached += (int64_t)count;
        used++;
    }
    return used;
}

/* GET path from addr, whole response into *out (malloc'd).  Length or -1. */
static long http_get(const struct sockaddr_in *sa, const char *path, char **out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n",
                     path);
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 ||
        send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    for (ssize_t r = 1; buf && r > 0;) {
        if (len == cap) {
            char *nb = cap < MAX_BODY ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        r = recv(fd, buf + len, cap - len, 0);
        if (r > 0)
            len += (size_t)r;
        else if (r < 0 && errno == EINTR)
            r = 1;
    }
    close(fd);
    *out = buf;
    return buf ? (long)len : -1;
}

int sg_counts_fetch(sg_run *r)
{
    struct sockaddr_in sa;
    if (sg_parse_addr(r->probe, &sa) < 0) {
        fprintf(stderr, "bulwark-siege: bad --probe '%s' (want IPv4:PORT)\n", r->probe);
        return -1;
    }
    char path[128];
    snprintf(path, sizeof path, "/__probe/counts?from=%lld&to=%lld", (long long)r->t0_unix,
             (long long)r->t0_unix + r->nsec - 1 + LATE_SECONDS);
    char *resp = NULL;
    long len = http_get(&sa, path, &resp);
    const char *body = resp ? strstr(resp, "\r\n\r\n") : NULL;
    if (len < 0 || !body || strncmp(resp, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "bulwark-siege: the probe at %s did not answer %s\n", r->probe, path);
        free(resp);
        return -1;
    }
    body += 4;
    int used = sg_counts_apply(r, body, (size_t)(resp + len - body));
    free(resp);
    if (used < 0) {
        fprintf(stderr, "bulwark-siege: the probe's counts are malformed\n");
        for (int i = 0; i < r->nscen; i++)
            r->scen[i].tot.reached = -1;
        return -1;
    }
    return 0;
}
