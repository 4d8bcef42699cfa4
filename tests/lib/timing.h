/*
 * tests/lib/timing.h - the monotonic clock tests measure waits with, and a
 * sleep that signals do not cut short.
 */
#ifndef DURLOG_TEST_LIB_TIMING_H
#define DURLOG_TEST_LIB_TIMING_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tu_now_ms(void)
{
    return tu_now_ns() / 1000000u;
}

static inline void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

#endif
