/*
 * tests/lib/clockcheck.h - how far the library's interpolating clock
 * (src/clock.h) strays from CLOCK_REALTIME.
 */
#ifndef DURLOG_TEST_LIB_CLOCKCHECK_H
#define DURLOG_TEST_LIB_CLOCKCHECK_H

#include "../harness.h"
#include "clock.h"
#include "os.h"

/* Calls the clock once between two CLOCK_REALTIME readings; returns how far
 * its time is from the interval they span (0 inside it). CHECKs that it did
 * not go back from *prev, which it updates. */
static inline uint64_t clock_distance_ns(struct dl_clock *c, uint64_t *prev)
{
    uint64_t before = dl_now_ns();
    uint64_t t = dl_clock_now(c);
    uint64_t after = dl_now_ns();
    CHECK(t >= *prev);
    *prev = t;
    return t < before ? before - t : t > after ? t - after : 0;
}

#endif
