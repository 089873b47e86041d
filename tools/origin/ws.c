/*
 * ws.c - GET /ws: a WebSocket echo endpoint (RFC 6455), enough to prove
 * that bulwark tunnels upgraded connections.
 *
 * The handshake answers 101 with Sec-WebSocket-Accept = base64(SHA-1(key +
 * GUID)).  After it, each data frame (text, binary, continuation) goes back
 * unmasked with the same FIN bit and opcode, so fragmented messages come back
 * fragmented the same way; ping gets pong; close is answered with close and
 * ends the connection.  Payloads up to 64 KiB; bigger ones close with 1009.
 * Frames are read through bw_origin_read_exact, so frame bytes that arrived
 * together with the handshake are not lost.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_PAYLOAD (64 * 1024)

enum { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* base64(SHA-1(key + GUID)) into out (at least 29 bytes). */
static void ws_accept_value(bw_str key, char *out)
{
    char buf[128];
    unsigned char digest[SHA_DIGEST_LENGTH];
    size_t n = key.len < sizeof(buf) - sizeof(WS_GUID) ? key.len : sizeof(buf) - sizeof(WS_GUID);
    memcpy(buf, key.p, n);
    memcpy(buf + n, WS_GUID, sizeof(WS_GUID) - 1);
    SHA1((const unsigned char *)buf, n + sizeof(WS_GUID) - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

/* One unmasked frame from the server. */
static int ws_send(bw_origin_conn *c, unsigned char b0, const unsigned char *p, size_t n)
{
    unsigned char h[10];
    size_t hl;
    h[0] = b0;
    if (n < 126) {
        h[1] = (unsigned char)n;
        hl = 2;
    } else if (n <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    if (bw_origin_out(c, h, hl) < 0 || bw_origin_out(c, p, n) < 0)
        return -1;
    c->bytes_out += n;
    return bw_origin_flush(c);
}

static void ws_close(bw_origin_conn *c, unsigned code)
{
    unsigned char p[2] = { (unsigned char)(code >> 8), (unsigned char)code };
    ws_send(c, 0x80 | WS_CLOSE, p, 2);
}

/* Read a frame's payload length (after the 2 first bytes).  -1 on EOF. */
static int ws_read_length(bw_origin_conn *c, unsigned char b1, uint64_t *len)
{
    unsigned char ext[8];
    unsigned len7 = b1 & 0x7f;
    *len = len7;
    if (len7 == 126) {
        if (bw_origin_read_exact(c, ext, 2) < 0)
            return -1;
        *len = (uint64_t)ext[0] << 8 | ext[1];
    } else if (len7 == 127) {
        if (bw_origin_read_exact(c, ext, 8) < 0)
            return -1;
        *len = 0;
        for (int i = 0; i < 8; i++)
            *len = *len << 8 | ext[i];
    }
    return 0;
}

/*
 * Read one client frame into buf (unmasked).  Returns 0 with *b0 and *len
 * set, -1 when the connection ended, or a close code (> 0) for a protocol
 * violation.
 */
static int ws_read_frame(bw_origin_conn *c, unsigned char *buf, unsigned char *b0, size_t *len)
{
    unsigned char h[2], mask[4];
    uint64_t n;
    if (bw_origin_read_exact(c, h, 2) < 0 || ws_read_length(c, h[1], &n) < 0)
        return -1;
    unsigned op = h[0] & 0x0f;
    if ((h[0] & 0x70) || !(h[1] & 0x80))
        return 1002; /* reserved bits, or a client frame without a mask */
    if (op >= 8 && (n > 125 || !(h[0] & 0x80)))
        return 1002; /* control frames are short and never fragmented */
    if (n > WS_MAX_PAYLOAD)
        return 1009;
    if (bw_origin_read_exact(c, mask, 4) < 0 || bw_origin_read_exact(c, buf, (size_t)n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        buf[i] ^= mask[i & 3];
    *b0 = h[0];
    *len = (size_t)n;
    return 0;
}

/* Echo frames until close, error or EOF. */
static void ws_echo(bw_origin_conn *c, unsigned char *buf)
{
    for (;;) {
        unsigned char b0;
        size_t n;
        int rc = ws_read_frame(c, buf, &b0, &n);
        if (rc != 0) {
            if (rc > 0)
                ws_close(c, (unsigned)rc);
            return;
        }
        switch (b0 & 0x0f) {
        case WS_CONT:
        case WS_TEXT:
        case WS_BINARY:
            if (ws_send(c, b0, buf, n) < 0)
                return;
            break;
        case WS_CLOSE: ws_send(c, 0x80 | WS_CLOSE, buf, n); return;
        case WS_PING:
            if (ws_send(c, 0x80 | WS_PONG, buf, n) < 0)
                return;
            break;
        case WS_PONG: break;
        default: ws_close(c, 1002); return;
        }
    }
}

static void ws_refuse(bw_origin_conn *c, int status, const char *extra, const char *text)
{
    if (bw_origin_begin(c, status, "text/plain; charset=utf-8", (int64_t)strlen(text), extra) == 0 &&
        bw_origin_body(c, text, strlen(text)) == 0)
        bw_origin_end(c);
}

void bw_origin_ws(bw_origin_conn *c)
{
    bw_str key = bw_origin_header(c, "Sec-WebSocket-Key");
    bw_str version = bw_origin_header(c, "Sec-WebSocket-Version");
    if (!(c->req.flags & BW_HTTP_F_UPGRADE) || !bw_http_token_list_has(c->req.upgrade, "websocket")) {
        ws_refuse(c, 426, "Upgrade: websocket\r\nConnection: Upgrade\r\n",
                  "this is a WebSocket endpoint: send Connection: Upgrade, Upgrade: websocket\n");
        return;
    }
    if (key.len != 24 || !bw_str_eq(version, BW_STR_LIT("13"))) {
        ws_refuse(c, 400, "Sec-WebSocket-Version: 13\r\n",
                  "need Sec-WebSocket-Key (24 characters) and Sec-WebSocket-Version: 13\n");
        return;
    }
    char accept[32], extra[160];
    ws_accept_value(key, accept);
    snprintf(extra, sizeof(extra),
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
    if (bw_origin_begin(c, 101, NULL, 0, extra) < 0 || bw_origin_flush(c) < 0)
        return;
    unsigned char *buf = malloc(WS_MAX_PAYLOAD);
    if (buf)
        ws_echo(c, buf);
    free(buf);
}
