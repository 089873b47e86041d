/*
 * proxyproto.h - PROXY protocol v1 (text) and v2 (binary) header parser.
 *
 * An L4 load balancer in front of bulwark prepends one of these headers to
 * each TCP connection so that bulwark learns the real client address.  The
 * parser is pure: buffer in, addresses out; it owns nothing.
 */
#ifndef BW_HTTP_PROXYPROTO_H
#define BW_HTTP_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct bw_proxy_info {
    int local;                 /* v2 LOCAL command or v1 UNKNOWN: keep the socket's addresses */
    struct sockaddr_storage src;
    struct sockaddr_storage dst;
    socklen_t src_len, dst_len;
} bw_proxy_info;

/*
 * Returns the number of header bytes consumed (> 0), 0 if more bytes are
 * needed, or -1 if the data is not a valid PROXY v1/v2 header (the caller
 * closes the connection).  v1 headers are at most 107 bytes; v2 headers are
 * 16 bytes plus their length field (TLVs are skipped).
 */
int bw_proxyproto_parse(const char *buf, size_t len, bw_proxy_info *out);

#endif
