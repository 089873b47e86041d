/*
 * pipe.c - moving a message body from a source buffer to a socket.
 *
 * bw_pipe_scan() looks at bytes newly read into the source buffer and marks
 * how many belong to the body ("ready").  For Content-Length, close-delimited
 * and validated chunked bodies the ready bytes are written straight from the
 * source buffer (zero copy), together with any pending head in the
 * destination buffer, by one writev() in bw_pipe_send().  Only when framing
 * must change (a client's chunked request is re-chunked so that extensions
 * and trailers never reach the origin; a chunked response is unframed for an
 * HTTP/1.0 client) are the decoded bytes copied into the destination buffer.
 *
 * Bytes after the body (a pipelined request) are left in the source buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "proxy/proxy.h"

#define PIPE_FAILED 0xff
/* room kept free in the destination for chunk framing: size line, CRLF, last chunk */
#define REFRAME_MARGIN 32u

void bw_pipe_init(bw_pipe *p, int mode, uint64_t len)
{
    memset(p, 0, sizeof(*p));
    p->mode = (uint8_t)mode;
    p->left = len;
    if (mode == BW_BODY_NONE || (mode == BW_BODY_LEN && len == 0))
        p->complete = true;
    bw_chunked_init(&p->dec);
}

static void scan_chunked_raw(bw_pipe *p, bw_buf *src)
{
    while (!p->dec.done) {
        uint32_t len = bw_buf_len(src);
        if (p->ready >= len)
            return;
        bw_str data;
        ssize_t r = bw_chunked_decode(&p->dec, bw_buf_head(src) + p->ready, len - p->ready, &data);
        if (r < 0) {
            p->mode = PIPE_FAILED;
            return;
        }
        if (r == 0)
            return;
        p->decoded += data.len;
        p->ready += (uint32_t)r;
    }
    p->complete = true;
}

/* Decode chunks from src into dst, re-chunked or plain; consumes src. */
static void scan_chunked_copy(bw_pipe *p, bw_buf *src, bw_buf *dst)
{
    bool reframe = p->mode == BW_BODY_CHUNKED_REFRAME;
    while (!p->dec.done && !bw_buf_empty(src)) {
        uint32_t room = bw_buf_room(dst);
        if (room < REFRAME_MARGIN + 1)
            return;
        uint32_t limit = reframe ? room - REFRAME_MARGIN : room;
        uint32_t in = bw_buf_len(src) < limit ? bw_buf_len(src) : limit;
        bw_str data;
        ssize_t r = bw_chunked_decode(&p->dec, bw_buf_head(src), in, &data);
        if (r < 0) {
            p->mode = PIPE_FAILED;
            return;
        }
        if (r == 0)
            return;
        p->decoded += data.len;
        if (data.len) {
            if (reframe) {
                char line[24];
                int n = snprintf(line, sizeof(line), "%zx\r\n", data.len);
                bw_buf_append(dst, line, (size_t)n);
                bw_buf_append(dst, data.p, data.len);
                bw_buf_append(dst, "\r\n", 2);
            } else {
                bw_buf_append(dst, data.p, data.len);
            }
        }
        bw_buf_consume(src, (uint32_t)r);
    }
    if (p->dec.done) {
        if (reframe)
            bw_buf_append(dst, "0\r\n\r\n", 5);
        p->complete = true;
    }
}

void bw_pipe_scan(bw_pipe *p, bw_buf *src, bw_buf *dst)
{
    if (p->complete || !src->data)
        return;
    uint32_t len = bw_buf_len(src);
    switch (p->mode) {
    case BW_BODY_LEN: {
        uint64_t avail = len - p->ready;
        uint64_t n = avail < p->left ? avail : p->left;
        p->ready += (uint32_t)n;
        p->left -= n;
        if (p->left == 0)
            p->complete = true;
        break;
    }
    case BW_BODY_EOF:
        p->ready = len;
        if (p->src_eof)
            p->complete = true;
        break;
    case BW_BODY_CHUNKED_RAW:
        scan_chunked_raw(p, src);
        break;
    case BW_BODY_CHUNKED_REFRAME:
    case BW_BODY_CHUNKED_UNFRAME:
        if (dst->data)
            scan_chunked_copy(p, src, dst);
        break;
    default:
        break;
    }
}

#define BW_PIPE_COALESCE_MAX 4096

int bw_pipe_send(bw_pipe *p, bw_buf *dst, bw_buf *src, int fd, bool *blocked)
{
    struct iovec iov[2];
    int cnt = 0;
    uint32_t from_dst = dst->data ? bw_buf_len(dst) : 0;
    /* A small body behind a head: copying it next to the head lets one
     * plain send() go out instead of a two-part writev (cheaper in the
     * kernel than the iovec import).  Large bodies stay zero-copy. */
    if (from_dst && p->ready && p->ready <= BW_PIPE_COALESCE_MAX && bw_buf_room(dst) >= p->ready) {
        bw_buf_append(dst, bw_buf_head(src), p->ready);
        bw_buf_consume(src, p->ready);
        from_dst += p->ready;
        p->ready = 0;
    }
    if (from_dst)
        iov[cnt++] = (struct iovec){ bw_buf_head(dst), from_dst };
    if (p->ready)
        iov[cnt++] = (struct iovec){ bw_buf_head(src), p->ready };
    if (cnt == 0)
        return 0;
    size_t total = (size_t)from_dst + p->ready;
    ssize_t n;
    do {
        n = cnt == 1 ? send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL) : writev(fd, iov, cnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *blocked = true;
            return 0;
        }
        return -1;
    }
    if ((size_t)n < total)
        *blocked = true;
    size_t k = (size_t)n;
    if (from_dst) {
        uint32_t d = k < from_dst ? (uint32_t)k : from_dst;
        bw_buf_consume(dst, d);
        k -= d;
    }
    if (k) {
        p->ready -= (uint32_t)k;
        bw_buf_consume(src, (uint32_t)k);
    }
    p->moved += (uint64_t)n;
    return (int)(n > 0x7fffffff ? 0x7fffffff : n);
}
