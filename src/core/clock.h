/*
 * clock.h - monotonic time in ms and µs.  Workers read it once per loop
 * iteration and pass the cached value around (bw_loop.now_ms).
 */
#ifndef BW_CORE_CLOCK_H
#define BW_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bw_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t bw_clock_ms(void)
{
    return bw_clock_us() / 1000u;
}

#endif
