/*
 * loop.c - epoll event loop and per-duration timeout lists (see loop.h).
 */
#include "core/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#define BW_LOOP_BATCH 256

int bw_loop_init(bw_loop *loop)
{
    memset(loop, 0, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return -1;
    bw_loop_update_time(loop);
    loop->window_start_us = loop->now_us;
    return 0;
}

void bw_loop_destroy(bw_loop *loop)
{
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
}

void bw_loop_update_time(bw_loop *loop)
{
    loop->now_us = bw_clock_us();
    loop->now_ms = loop->now_us / 1000u;
}

static int loop_ctl(bw_loop *loop, bw_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int bw_loop_add(bw_loop *loop, bw_io *io)
{
    return loop_ctl(loop, io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

int bw_loop_add_in(bw_loop *loop, bw_io *io)
{
    return loop_ctl(loop, io, EPOLLIN);
}

void bw_loop_del(bw_loop *loop, bw_io *io)
{
    if (io->fd >= 0)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

static bw_tlist *tlist_for(bw_loop *loop, uint32_t duration_ms)
{
    for (unsigned i = 0; i < loop->ntlists; i++)
        if (loop->tlists[i].duration_ms == duration_ms)
            return &loop->tlists[i];
    if (loop->ntlists == BW_LOOP_MAX_TLISTS) {
        /* Too many distinct durations: share the closest list; deadlines
         * stay exact, only the list order may be off a little. */
        bw_tlist *best = &loop->tlists[0];
        for (unsigned i = 1; i < loop->ntlists; i++) {
            uint32_t d = loop->tlists[i].duration_ms;
            uint32_t b = best->duration_ms;
            if ((d > duration_ms ? d - duration_ms : duration_ms - d) <
                (b > duration_ms ? b - duration_ms : duration_ms - b))
                best = &loop->tlists[i];
        }
        return best;
    }
    bw_tlist *l = &loop->tlists[loop->ntlists++];
    l->duration_ms = duration_ms;
    l->head.next = l->head.prev = &l->head;
    return l;
}

void bw_timer_cancel(bw_timer *t)
{
    if (!t->next)
        return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

void bw_timer_arm(bw_loop *loop, bw_timer *t, uint32_t duration_ms)
{
    bw_timer_cancel(t);
    if (duration_ms == 0)
        return;
    bw_tlist *l = tlist_for(loop, duration_ms);
    t->deadline_ms = loop->now_ms + duration_ms;
    t->prev = l->head.prev;
    t->next = &l->head;
    l->head.prev->next = t;
    l->head.prev = t;
}

bw_timer *bw_loop_oldest_timer(bw_loop *loop, uint32_t duration_ms,
                               bool (*match)(const bw_timer *t, void *arg), void *arg,
                               unsigned max_scan)
{
    for (unsigned i = 0; i < loop->ntlists; i++) {
        if (loop->tlists[i].duration_ms != duration_ms)
            continue;
        bw_timer *head = &loop->tlists[i].head;
        for (bw_timer *t = head->next; t != head && max_scan > 0; t = t->next, max_scan--)
            if (match(t, arg))
                return t;
        return NULL;
    }
    return NULL;
}

static int next_timeout(bw_loop *loop, int max_wait_ms)
{
    int wait = max_wait_ms;
    for (unsigned i = 0; i < loop->ntlists; i++) {
        bw_timer *first = loop->tlists[i].head.next;
        if (first == &loop->tlists[i].head)
            continue;
        int64_t d = (int64_t)first->deadline_ms - (int64_t)loop->now_ms;
        if (d < 0)
            d = 0;
        if (wait < 0 || d < wait)
            wait = (int)d;
    }
    return wait;
}

static void expire_timers(bw_loop *loop)
{
    for (unsigned i = 0; i < loop->ntlists; i++) {
        bw_timer *head = &loop->tlists[i].head;
        while (head->next != head && head->next->deadline_ms <= loop->now_ms) {
            bw_timer *t = head->next;
            bw_timer_cancel(t);
            t->cb(loop, t);
        }
    }
}

void bw_loop_set_coalesce(bw_loop *loop, uint32_t us)
{
    if (us && !loop->coalesce_us)
        prctl(PR_SET_TIMERSLACK, 1000ul, 0ul, 0ul, 0ul); /* the default 50 us would dwarf it */
    loop->coalesce_us = us;
    if (!us)
        loop->busy = false;
}

/* Time spent waiting, and once a window is over, whether the loop was
 * busy in it (bw_loop_set_coalesce). */
static void account_wait(bw_loop *loop, uint64_t waited_us)
{
    loop->window_wait_us += waited_us;
    uint64_t span = loop->now_us - loop->window_start_us;
    if (span < BW_LOOP_WINDOW_MS * 1000u)
        return;
    uint64_t busy_us = span > loop->window_wait_us ? span - loop->window_wait_us : 0;
    loop->busy = loop->coalesce_us && busy_us * 100 >= span * BW_LOOP_COALESCE_BUSY_PCT;
    loop->window_start_us = loop->now_us;
    loop->window_wait_us = 0;
}

/* Nothing is ready: sleep a little first so what comes meanwhile is
 * handled as one batch (at most until the next timer). */
static int wait_coalesced(bw_loop *loop, struct epoll_event *evs, int timeout_ms)
{
    int n = epoll_wait(loop->epfd, evs, BW_LOOP_BATCH, 0);
    if (n != 0)
        return n;
    uint64_t ns = (uint64_t)loop->coalesce_us * 1000u;
    if (timeout_ms >= 0 && (uint64_t)timeout_ms * 1000000u < ns)
        ns = (uint64_t)timeout_ms * 1000000u;
    struct timespec ts = { 0, (long)ns };
    nanosleep(&ts, NULL);
    if (timeout_ms > 0)
        timeout_ms = timeout_ms > 1 ? timeout_ms - 1 : 0; /* ms steps: the sleep took < 1 ms */
    return epoll_wait(loop->epfd, evs, BW_LOOP_BATCH, timeout_ms);
}

int bw_loop_run_once(bw_loop *loop, int max_wait_ms)
{
    struct epoll_event evs[BW_LOOP_BATCH];
    int timeout = next_timeout(loop, max_wait_ms);
    uint64_t before_us = timeout != 0 ? bw_clock_us() : 0;
    int n = loop->busy && timeout != 0 ? wait_coalesced(loop, evs, timeout)
                                       : epoll_wait(loop->epfd, evs, BW_LOOP_BATCH, timeout);
    bw_loop_update_time(loop);
    account_wait(loop, before_us ? loop->now_us - before_us : 0);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        bw_io *io = evs[i].data.ptr;
        io->cb(loop, io, evs[i].events);
    }
    expire_timers(loop);
    return n;
}
