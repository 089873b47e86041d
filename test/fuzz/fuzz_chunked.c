/*
 * fuzz_chunked.c - libFuzzer harness for the streaming chunked decoder
 * bw_chunked_decode() (src/http/parser.h).
 *
 * The input is decoded as one piece, as two pieces cut at an input-derived
 * point (each an exact heap copy, so a read past a piece is caught), and a
 * byte at a time, the way the proxy calls it: loop until the piece is used
 * up or done is set.  Checked besides memory safety:
 *   - a call never consumes more than it was given, makes progress while
 *     not done, and its data slice lies inside what it consumed and ends it;
 *   - an error is sticky, and nothing is consumed once done is set;
 *   - the three feedings agree: same error / done, same input consumed and
 *     the same decoded body (a streaming decoder must not depend on how
 *     the bytes were split across reads);
 *   - a finished body ends with the final CRLF.
 */
#include <sys/types.h>

#include "fuzz.h"

typedef struct ck_run {
    bw_chunked d;
    size_t used;   /* input consumed by successful calls */
    bool error;
    char *body;    /* decoded data, never more than the input */
    size_t body_len;
} ck_run;

/* One read's worth of input: in[0..n).  Returns the bytes consumed. */
static size_t ck_piece(ck_run *run, const char *in, size_t n)
{
    size_t i = 0;
    while (i < n && !run->d.done) {
        bw_str data;
        ssize_t r = bw_chunked_decode(&run->d, in + i, n - i, &data);
        if (r < 0) {
            FUZZ_CHECK(r == -1);
            FUZZ_CHECK(bw_chunked_decode(&run->d, in + i, n - i, &data) == -1);
            run->error = true;
            return i;
        }
        size_t k = (size_t)r;
        FUZZ_CHECK(k <= n - i);
        FUZZ_CHECK(k > 0); /* else the caller's loop would spin */
        FUZZ_CHECK(fuzz_inside(data, in + i, k));
        FUZZ_CHECK(data.len == 0 || data.p + data.len == in + i + k);
        memcpy(run->body + run->body_len, data.p, data.len);
        run->body_len += data.len;
        i += k;
    }
    if (run->d.done && i < n) {
        bw_str data;
        FUZZ_CHECK(bw_chunked_decode(&run->d, in + i, n - i, &data) == 0 && data.len == 0);
    }
    return i;
}

/* Decode data[0..len) in pieces ending at cut (0: one piece) or, if bytewise,
 * of one byte each (copied to a one-byte stack buffer). */
static void ck_feed(ck_run *run, const uint8_t *data, size_t len, size_t cut, bool bytewise)
{
    memset(run, 0, sizeof(*run));
    bw_chunked_init(&run->d);
    run->body = fuzz_copy(data, len); /* any buffer of len bytes */
    size_t off = 0;
    while (off < len && !run->error && !run->d.done) {
        size_t n = bytewise ? 1 : cut > off ? cut - off : len - off;
        size_t used;
        if (bytewise) {
            char one[1] = {(char)data[off]};
            used = ck_piece(run, one, 1);
        } else {
            char *piece = fuzz_copy(data + off, n);
            used = ck_piece(run, piece, n);
            free(piece);
        }
        run->used += used;
        if (used < n)
            break;
        off += n;
    }
    FUZZ_CHECK(run->used <= len && run->body_len <= run->used);
    FUZZ_CHECK(!run->d.done || (run->used >= 5 && memcmp(data + run->used - 2, "\r\n", 2) == 0));
}

int fuzz_chunked_one(const uint8_t *data, size_t len)
{
    ck_run whole, split, bytes;
    ck_feed(&whole, data, len, 0, false);
    ck_feed(&split, data, len, fuzz_split_point(data, len), false);
    ck_feed(&bytes, data, len, 0, true);
    const ck_run *other[2] = {&split, &bytes};
    for (int i = 0; i < 2; i++) {
        const ck_run *o = other[i];
        FUZZ_CHECK(o->error == whole.error && o->d.done == whole.d.done);
        FUZZ_CHECK(whole.error || o->used == whole.used);
        FUZZ_CHECK(o->body_len == whole.body_len && memcmp(o->body, whole.body, whole.body_len) == 0);
    }
    free(whole.body);
    free(split.body);
    free(bytes.body);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    return fuzz_chunked_one(data, len);
}
#endif
