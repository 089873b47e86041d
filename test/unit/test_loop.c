/*
 * test_loop.c - the event loop (core/loop.c): events and timers are
 * delivered, timers in deadline order, and event coalescing switches on
 * only after a busy window, never delays a ready event, never sleeps past
 * a timer, and switches off again after an idle window.  Busy and idle
 * windows are made by spinning on the clock or blocking in the loop, so
 * what is asserted is the loop's decision, not anybody's speed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/loop.h"

typedef struct pipe_io {
    bw_io io;
    int wfd;
    int fired;
} pipe_io;

static void on_readable(bw_loop *loop, bw_io *io, uint32_t events)
{
    (void)loop, (void)events;
    pipe_io *p = (pipe_io *)io;
    char buf[64];
    while (read(io->fd, buf, sizeof buf) > 0) {
    }
    p->fired++;
}

static void pipe_open(bw_loop *loop, pipe_io *p)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    p->io.fd = fds[0];
    p->io.cb = on_readable;
    p->wfd = fds[1];
    p->fired = 0;
    assert_int_equal(bw_loop_add_in(loop, &p->io), 0);
}

static void pipe_close(bw_loop *loop, pipe_io *p)
{
    bw_loop_del(loop, &p->io);
    close(p->io.fd);
    close(p->wfd);
}

static int order[4], norder;

static void timer_a(bw_loop *loop, bw_timer *t)
{
    (void)loop, (void)t;
    order[norder++] = 'a';
}

static void timer_b(bw_loop *loop, bw_timer *t)
{
    (void)loop, (void)t;
    order[norder++] = 'b';
}

static void spin_ms(unsigned ms)
{
    uint64_t end = bw_clock_us() + ms * 1000u;
    while (bw_clock_us() < end) {
    }
}

static void test_event_delivered(void **state)
{
    (void)state;
    bw_loop loop;
    assert_int_equal(bw_loop_init(&loop), 0);
    pipe_io p;
    pipe_open(&loop, &p);
    assert_int_equal(write(p.wfd, "x", 1), 1);
    assert_int_equal(bw_loop_run_once(&loop, 1000), 1);
    assert_int_equal(p.fired, 1);
    pipe_close(&loop, &p);
    bw_loop_destroy(&loop);
}

static void test_timers_in_deadline_order(void **state)
{
    (void)state;
    bw_loop loop;
    assert_int_equal(bw_loop_init(&loop), 0);
    bw_timer a, b;
    bw_timer_init(&a, timer_a);
    bw_timer_init(&b, timer_b);
    norder = 0;
    bw_timer_arm(&loop, &a, 20);
    bw_timer_arm(&loop, &b, 5);
    for (int i = 0; i < 100 && norder < 2; i++)
        bw_loop_run_once(&loop, 1000);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 'b');
    assert_int_equal(order[1], 'a');
    assert_false(bw_timer_armed(&a));
    bw_loop_destroy(&loop);
}

static void test_coalescing_needs_a_busy_window(void **state)
{
    (void)state;
    bw_loop loop;
    assert_int_equal(bw_loop_init(&loop), 0);
    bw_loop_set_coalesce(&loop, 100);
    assert_false(loop.busy);
    /* a window spent working: the next waits coalesce */
    spin_ms(BW_LOOP_WINDOW_MS + 10);
    bw_loop_run_once(&loop, 0);
    assert_true(loop.busy);
    /* a window spent waiting: they do not any more */
    bw_loop_run_once(&loop, BW_LOOP_WINDOW_MS + 20);
    assert_false(loop.busy);
    bw_loop_destroy(&loop);
}

static void test_coalescing_off_stays_off(void **state)
{
    (void)state;
    bw_loop loop;
    assert_int_equal(bw_loop_init(&loop), 0);
    spin_ms(BW_LOOP_WINDOW_MS + 10);
    bw_loop_run_once(&loop, 0);
    assert_false(loop.busy);
    bw_loop_set_coalesce(&loop, 100);
    bw_loop_set_coalesce(&loop, 0);
    spin_ms(BW_LOOP_WINDOW_MS + 10);
    bw_loop_run_once(&loop, 0);
    assert_false(loop.busy);
    bw_loop_destroy(&loop);
}

static void test_busy_loop_delivers_ready_events_and_timers(void **state)
{
    (void)state;
    bw_loop loop;
    assert_int_equal(bw_loop_init(&loop), 0);
    bw_loop_set_coalesce(&loop, 1000); /* the longest: 1 ms */
    pipe_io p;
    pipe_open(&loop, &p);
    loop.busy = true;
    /* ready before the round: taken at once, no sleep needed */
    assert_int_equal(write(p.wfd, "x", 1), 1);
    assert_int_equal(bw_loop_run_once(&loop, 1000), 1);
    assert_int_equal(p.fired, 1);
    /* nothing ready: the round still ends with its timer */
    bw_timer a;
    bw_timer_init(&a, timer_a);
    norder = 0;
    bw_timer_arm(&loop, &a, 3);
    for (int i = 0; i < 100 && norder < 1; i++) {
        loop.busy = true;
        bw_loop_run_once(&loop, 1000);
    }
    assert_int_equal(norder, 1);
    pipe_close(&loop, &p);
    bw_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_delivered),
        cmocka_unit_test(test_timers_in_deadline_order),
        cmocka_unit_test(test_coalescing_needs_a_busy_window),
        cmocka_unit_test(test_coalescing_off_stays_off),
        cmocka_unit_test(test_busy_loop_delivers_ready_events_and_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
