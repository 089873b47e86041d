/*
 * sock.c - small socket helpers shared by the client and origin sides.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "proxy/proxy.h"

ssize_t bw_sock_read(int fd, bw_buf *b, bool *readable, bool *eof)
{
    uint32_t room = bw_buf_room(b);
    if (room == 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, b->data + b->end, room);
        if (n > 0) {
            b->end += (uint32_t)n;
            /* A short read drained the socket: with edge triggering the next
             * arrival raises a new event, so skip the read that would only
             * return EAGAIN. */
            if ((uint32_t)n < room)
                *readable = false;
            return n;
        }
        if (n == 0) {
            *eof = true;
            *readable = false;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *readable = false;
            return 0;
        }
        *readable = false;
        return -1;
    }
}

void bw_ipaddr_from_sa(bw_ipaddr *ip, const struct sockaddr *sa)
{
    memset(ip, 0, sizeof(*ip));
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        ip->family = AF_INET6;
        ip->port = ntohs(s6->sin6_port);
        memcpy(ip->a, &s6->sin6_addr, 16);
        /* Show v4-mapped addresses as plain IPv4. */
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(ip->a, mapped, 12) == 0) {
            ip->family = AF_INET;
            memmove(ip->a, ip->a + 12, 4);
            memset(ip->a + 4, 0, 12);
        }
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        ip->family = AF_INET;
        ip->port = ntohs(s4->sin_port);
        memcpy(ip->a, &s4->sin_addr, 4);
    }
}

/* IPv4 by hand: glibc's inet_ntop formats it with sprintf, which showed up
 * in per-request profiles (the client address goes into X-Forwarded-For). */
static size_t ipv4_text(const uint8_t *a, char *out)
{
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = '.';
    }
    p[-1] = '\0';
    return (size_t)(p - 1 - out);
}

size_t bw_ipaddr_text(const bw_ipaddr *ip, char *out, size_t cap)
{
    if (ip->family == AF_INET && cap >= 16)
        return ipv4_text(ip->a, out);
    if (ip->family != AF_INET && ip->family != AF_INET6) {
        snprintf(out, cap, "unknown");
        return strlen(out);
    }
    if (!inet_ntop(ip->family, ip->a, out, (socklen_t)cap)) {
        snprintf(out, cap, "unknown");
    }
    return strlen(out);
}
