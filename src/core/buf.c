/*
 * buf.c - the per-worker buffer pool (see buf.h).
 */
#include "core/buf.h"

#include <stdlib.h>

void bw_bufpool_init(bw_bufpool *p, size_t max_free)
{
    p->free_list = NULL;
    p->nfree = 0;
    p->max_free = max_free;
    p->in_use = 0;
}

void bw_bufpool_destroy(bw_bufpool *p)
{
    while (p->free_list) {
        void *next = *(void **)p->free_list;
        free(p->free_list);
        p->free_list = next;
    }
    p->nfree = 0;
}

bool bw_buf_get(bw_bufpool *p, bw_buf *b)
{
    if (b->data)
        return true;
    if (p->free_list) {
        b->data = p->free_list;
        p->free_list = *(void **)p->free_list;
        p->nfree--;
    } else {
        b->data = malloc(BW_BUF_SIZE);
        if (!b->data)
            return false;
    }
    p->in_use++;
    b->start = b->end = 0;
    return true;
}

void bw_buf_put(bw_bufpool *p, bw_buf *b)
{
    if (!b->data)
        return;
    p->in_use--;
    if (p->nfree < p->max_free) {
        *(void **)b->data = p->free_list;
        p->free_list = b->data;
        p->nfree++;
    } else {
        free(b->data);
    }
    b->data = NULL;
    b->start = b->end = 0;
}
