/*
 * health.h - active health checks of origin servers, in a thread of their
 * own.  The checker reads the current config, probes each server of every
 * pool that has checks enabled (TCP connect, or an HTTP GET expecting a 2xx
 * or 3xx status) and flips bw_server_conf.healthy after `rise` successes or
 * `fall` failures in a row.  Workers only read that flag.
 */
#ifndef BW_PROXY_HEALTH_H
#define BW_PROXY_HEALTH_H

int bw_health_start(void);
void bw_health_stop(void);

#endif
