/*
 * loop.h - a small edge-triggered epoll event loop with timeout lists.
 *
 * Each worker thread owns one bw_loop; nothing in it is shared.  File
 * descriptors are registered once (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) and
 * never modified: the owner remembers readiness in its own flags, which
 * saves an epoll_ctl per state change.
 *
 * Timers: almost every timeout in a proxy is "N ms after the last activity"
 * with N taken from a handful of configured values.  So timers live in one
 * FIFO list per distinct duration: arming appends at the tail, which keeps
 * each list sorted by deadline, and expiry only looks at list heads.  Arming,
 * re-arming and cancelling are O(1) (plus a scan over the few lists).
 */
#ifndef BW_CORE_LOOP_H
#define BW_CORE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bw_loop bw_loop;
typedef struct bw_io bw_io;
typedef struct bw_timer bw_timer;

/* events is the epoll mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP). */
typedef void (*bw_io_cb)(bw_loop *loop, bw_io *io, uint32_t events);
typedef void (*bw_timer_cb)(bw_loop *loop, bw_timer *t);

struct bw_io {
    int fd;
    bw_io_cb cb;
};

struct bw_timer {
    bw_timer *prev, *next; /* in its duration list; NULL when not armed */
    uint64_t deadline_ms;
    bw_timer_cb cb;
};

#define BW_LOOP_MAX_TLISTS 32

typedef struct bw_tlist {
    uint32_t duration_ms;
    bw_timer head; /* sentinel of a circular list */
} bw_tlist;

struct bw_loop {
    int epfd;
    uint64_t now_ms;      /* updated after each epoll_wait */
    uint64_t now_us;
    bw_tlist tlists[BW_LOOP_MAX_TLISTS];
    unsigned ntlists;
    /* event coalescing (bw_loop_set_coalesce) */
    uint32_t coalesce_us;    /* 0: off */
    bool busy;               /* the last window was busy enough to coalesce */
    uint64_t window_start_us, window_wait_us;
};

int bw_loop_init(bw_loop *loop);
void bw_loop_destroy(bw_loop *loop);

/* Register io->fd edge-triggered for in+out+rdhup.  Returns 0 or -1. */
int bw_loop_add(bw_loop *loop, bw_io *io);
/* Register for input only (listeners, eventfds), level-triggered. */
int bw_loop_add_in(bw_loop *loop, bw_io *io);
void bw_loop_del(bw_loop *loop, bw_io *io);

/* Wait at most max_wait_ms (or until the next timer) and dispatch events
 * and expired timers.  Returns the number of I/O events, or -1 on error. */
int bw_loop_run_once(bw_loop *loop, int max_wait_ms);

void bw_loop_update_time(bw_loop *loop);

/*
 * Event coalescing, like a NIC's interrupt moderation: when the loop was
 * busy for at least BW_LOOP_COALESCE_BUSY_PCT of the last
 * BW_LOOP_WINDOW_MS and nothing is ready, it sleeps up to us microseconds
 * before it blocks, so the events of that time come in one batch instead
 * of one wake-up each.  Each wake-up of an idle worker costs a context
 * switch, and each answer sent one at a time wakes the peer again; on a
 * loaded worker the batch costs less CPU per request and adds at most us
 * to a request's latency.  An idle or lightly loaded loop never sleeps.
 * 0 turns it off.  (Sets the thread's timer slack to 1 us: call it on the
 * loop's own thread.)
 */
#define BW_LOOP_WINDOW_MS 100
#define BW_LOOP_COALESCE_BUSY_PCT 30
void bw_loop_set_coalesce(bw_loop *loop, uint32_t us);

static inline void bw_timer_init(bw_timer *t, bw_timer_cb cb)
{
    t->prev = t->next = NULL;
    t->deadline_ms = 0;
    t->cb = cb;
}

static inline bool bw_timer_armed(const bw_timer *t)
{
    return t->next != NULL;
}

/* (Re)arm t to fire duration_ms from now.  duration 0 disarms. */
void bw_timer_arm(bw_loop *loop, bw_timer *t, uint32_t duration_ms);
void bw_timer_cancel(bw_timer *t);

/*
 * The earliest-armed timer of duration duration_ms that match() accepts,
 * looking at no more than max_scan of that list's oldest entries (NULL if
 * none).  The lists are FIFO, so this finds "who has waited longest" in
 * O(1) for the common case: the worker uses it to pick the connection to
 * shed when it is full.
 */
bw_timer *bw_loop_oldest_timer(bw_loop *loop, uint32_t duration_ms,
                               bool (*match)(const bw_timer *t, void *arg), void *arg,
                               unsigned max_scan);

#endif
