/*
 * worker.h - the worker threads, as the main thread sees them.
 *
 * Each worker runs its own event loop with its own SO_REUSEPORT listeners
 * and shares nothing on the request path.  The main thread only publishes
 * configs (core/conf.h) and pokes the workers' eventfds; workers notice a
 * new config generation at the top of their loop.
 */
#ifndef BW_PROXY_WORKER_H
#define BW_PROXY_WORKER_H

#include "core/conf.h"

/* Start n workers on the current config.  Returns 0 once every worker has
 * its listeners bound, or -1 (errors logged) after stopping them. */
int bw_workers_start(unsigned n);
unsigned bw_workers_count(void);

/* Tell the workers that a new config was published. */
void bw_workers_wake(void);

/* Graceful stop: close listeners, finish in-flight exchanges (bounded by
 * shutdown_timeout), then exit.  bw_workers_join waits for all of them. */
void bw_workers_stop(void);
void bw_workers_join(void);

/* Check that every listen address of conf can be bound (used before a
 * reload is accepted).  Returns 0, or -1 with a message in err. */
int bw_listeners_check(const bw_conf *conf, const bw_conf *running, char *err, size_t errlen);

#endif
