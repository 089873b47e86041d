/*
 * log.h - the error log: leveled, one line per event, safe from any thread.
 *
 * Each line is formatted into a stack buffer and written with a single
 * write(2), so lines from different threads never interleave.  The access
 * log is separate (admin/accesslog.h): it is buffered per worker.
 */
#ifndef BW_CORE_LOG_H
#define BW_CORE_LOG_H

#include <stdarg.h>

enum bw_log_level {
    BW_LOG_DEBUG = 0,
    BW_LOG_INFO = 1,
    BW_LOG_NOTICE = 2,
    BW_LOG_WARN = 3,
    BW_LOG_ERROR = 4,
};

/* "stderr" or a file path (opened O_APPEND).  Returns 0 or -1 (errno set).
 * May be called again on reload; the old fd is closed. */
int bw_log_open(const char *target, int level);
void bw_log_set_level(int level);
int bw_log_level(void);

/* Parse "debug|info|notice|warn|error"; -1 if unknown. */
int bw_log_level_parse(const char *name);

/* Format: "2026-11-25T04:05:06.123Z [warn] message\n" */
void bw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bw_logv(int level, const char *fmt, va_list ap);

#define bw_log_enabled(lvl) ((lvl) >= bw_log_level())

#endif
