/*
 * clock.h - record timestamps, cheaply.
 *
 * Every record carries its append time in ns since the epoch. On this
 * project's machine clock_gettime(CLOCK_REALTIME) costs about 25 ns, a sixth
 * of a buffered append; reading the CPU's time-stamp counter costs about 10.
 * A dl_clock interpolates: it anchors to CLOCK_REALTIME at least every
 * millisecond, measures the counter's rate between anchors, and in between
 * returns anchor + elapsed counts * rate. The error is bounded by how much
 * the clock's rate changes within a millisecond (NTP slews by at most
 * 0.05 %: under a microsecond). Timestamps from one dl_clock never go
 * backwards.
 *
 * The counter is used only where the kernel itself uses it as its clock
 * source (x86-64 with "tsc"); elsewhere dl_clock_now is clock_gettime.
 * Not cheaper ways that break the bound (bench/README.md "bench_crc"):
 * the TSC under another clock source (kvm-clock: nothing says the vCPUs'
 * counters agree, and a disagreement of up to a millisecond would pass as
 * elapsed time until the next anchor), and CLOCK_REALTIME_COARSE (a sixth
 * of the cost, but it moves once per tick: 4 ms on this project's VM).
 * A dl_clock is not thread-safe: each handle guards its own.
 */
#ifndef DL_CLOCK_H
#define DL_CLOCK_H

#include <stdint.h>

struct dl_clock {
    int use_counter;        /* 0: always clock_gettime */
    uint64_t anchor_count;  /* counter at the last anchor */
    uint64_t anchor_ns;     /* CLOCK_REALTIME at the last anchor */
    uint64_t rate;          /* ns per count, as a 32.32 fixed-point number;
                               0 until two anchors have been taken */
    uint64_t last_ns;       /* the last value returned */
};

void dl_clock_init(struct dl_clock *c);
uint64_t dl_clock_now(struct dl_clock *c);

#endif
