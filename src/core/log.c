/*
 * log.c - the error log.  One formatted line, one write(2): lines from
 * several threads never interleave (O_APPEND files and pipes write short
 * lines atomically).  The level is a relaxed atomic so a reload can change it
 * while workers log.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_fd = STDERR_FILENO;
static _Atomic int log_min_level = BW_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "notice", "warn", "error" };

int bw_log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int bw_log_open(const char *target, int level)
{
    int fd = STDERR_FILENO;
    if (target && strcmp(target, "stderr") != 0) {
        fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -1;
    }
    int old = atomic_exchange(&log_fd, fd);
    if (old != STDERR_FILENO && old != fd)
        close(old);
    bw_log_set_level(level);
    return 0;
}

void bw_log_set_level(int level)
{
    atomic_store_explicit(&log_min_level, level, memory_order_relaxed);
}

int bw_log_level(void)
{
    return atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

void bw_logv(int level, const char *fmt, va_list ap)
{
    if (level < bw_log_level())
        return;
    if (level < BW_LOG_DEBUG || level > BW_LOG_ERROR)
        level = BW_LOG_ERROR;

    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';

    int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
    ssize_t w;
    do {
        w = write(fd, line, len);
    } while (w < 0 && errno == EINTR);
}

void bw_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bw_logv(level, fmt, ap);
    va_end(ap);
}
