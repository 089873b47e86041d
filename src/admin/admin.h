/*
 * admin.h - the admin listener: /metrics (Prometheus text), /healthz and
 * /api/v1/stats (JSON), served from its own thread and event loop so that it
 * answers even when the workers are saturated.
 *
 * It only reads: worker counters (admin/stats.h), the current config snapshot
 * (server health) and the process start time.  Security: bw_conf_load refuses
 * a non-loopback admin address without admin_token; when a token is set,
 * requests must carry "Authorization: Bearer TOKEN".
 */
#ifndef BW_ADMIN_ADMIN_H
#define BW_ADMIN_ADMIN_H

#include "core/conf.h"

/* Bind the admin address of conf and start the admin thread.  Returns 0, or
 * -1 with a log line (e.g. address in use). */
int bw_admin_start(const bw_conf *conf);

/* Stop the thread and close the listener (at exit). */
void bw_admin_stop(void);

/* Render the Prometheus text into a malloc'd buffer (caller frees); used by
 * the thread and by tests. */
char *bw_admin_render_metrics(size_t *len);
char *bw_admin_render_stats_json(size_t *len);

#endif
