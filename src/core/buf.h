/*
 * buf.h - fixed-size I/O buffers and the per-worker pool they come from.
 *
 * A bw_buf is 16 bytes embedded in a connection; its data block is borrowed
 * from the worker's pool only while there is work in flight, and given back
 * as soon as the connection goes idle, so an idle keep-alive socket costs no
 * buffer memory.  The pool is a free list (no locks: one per worker) that
 * keeps at most `max_free` blocks and returns the rest to malloc.
 *
 * Layout: bytes [start, end) of data hold unconsumed input or unsent output.
 */
#ifndef BW_CORE_BUF_H
#define BW_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BW_BUF_SIZE 16384u

typedef struct bw_buf {
    char *data; /* NULL when no block is held */
    uint32_t start, end;
} bw_buf;

typedef struct bw_bufpool {
    void *free_list;  /* singly linked through the first word of each block */
    size_t nfree;
    size_t max_free;
    size_t in_use;
} bw_bufpool;

void bw_bufpool_init(bw_bufpool *p, size_t max_free);
void bw_bufpool_destroy(bw_bufpool *p);

/* Make sure b holds a block.  Returns false if memory is exhausted. */
bool bw_buf_get(bw_bufpool *p, bw_buf *b);
/* Give b's block back (b must be empty, or its content is dropped). */
void bw_buf_put(bw_bufpool *p, bw_buf *b);

static inline uint32_t bw_buf_len(const bw_buf *b) { return b->end - b->start; }
static inline bool bw_buf_empty(const bw_buf *b) { return b->end == b->start; }
static inline char *bw_buf_head(const bw_buf *b) { return b->data + b->start; }

/* Free space at the tail, after moving the content to the front if that
 * helps.  Returns the number of bytes that can be appended at data+end. */
static inline uint32_t bw_buf_room(bw_buf *b)
{
    if (b->start == b->end) {
        b->start = b->end = 0;
    } else if (b->start > 0 && b->end == BW_BUF_SIZE) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return BW_BUF_SIZE - b->end;
}

static inline void bw_buf_consume(bw_buf *b, uint32_t n)
{
    b->start += n;
    if (b->start == b->end)
        b->start = b->end = 0;
}

/* Append n bytes; the caller checked bw_buf_room(). */
static inline void bw_buf_append(bw_buf *b, const void *p, size_t n)
{
    memcpy(b->data + b->end, p, n);
    b->end += (uint32_t)n;
}

#endif
