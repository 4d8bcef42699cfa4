/*
 * clock.c - interpolated record timestamps (see clock.h).
 */
#include "clock.h"

#include <fcntl.h>
#include <string.h>

#include "os.h"

#if defined(__x86_64__)
#include <x86intrin.h>
static uint64_t read_counter(void)
{
    return __rdtsc();
}

/* The kernel chose the TSC as its clock source only if it found it stable
 * and synchronised across CPUs; we trust it exactly then. Where that cannot
 * be read (no /sys, or the read fails), timestamps come from clock_gettime
 * alone: as right, a little slower to take, so nothing is reported. */
static int counter_is_trusted(void)
{
    char buf[32] = { 0 };
    int fd = dl_openat(AT_FDCWD, "/sys/devices/system/clocksource/clocksource0/"
                       "current_clocksource", O_RDONLY, 0);
    if (fd < 0)
        return 0;
    ssize_t n = dl_read(fd, buf, sizeof buf - 1);
    dl_close(fd);
    return n >= 3 && strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == '\0');
}
#else
static uint64_t read_counter(void)
{
    return 0;
}

static int counter_is_trusted(void)
{
    return 0;
}
#endif

/* Re-anchor after this many counts (about 1 ms at 3 GHz; the measured rate
 * turns it into time once known)... */
#define DL_CLOCK_ANCHOR_COUNTS 3000000u
/* ...or after this much interpolated time. */
#define DL_CLOCK_ANCHOR_NS 1000000u
/* A rate is learned only over at least this many counts (~30 us), so that
 * clock_gettime's own jitter is a small part of it... */
#define DL_CLOCK_MIN_CALIBRATION 100000u
/* ...and only from an anchor whose counter and clock readings were taken
 * within this many counts of each other (no preemption in between). */
#define DL_CLOCK_MAX_ANCHOR_SPREAD 20000u

void dl_clock_init(struct dl_clock *c)
{
    memset(c, 0, sizeof *c);
    c->use_counter = counter_is_trusted();
}

static uint64_t monotonic(struct dl_clock *c, uint64_t ns)
{
    if (ns < c->last_ns)
        ns = c->last_ns;
    c->last_ns = ns;
    return ns;
}

uint64_t dl_clock_now(struct dl_clock *c)
{
    if (!c->use_counter)
        return monotonic(c, dl_now_ns());
    uint64_t count = read_counter();
    uint64_t elapsed = count - c->anchor_count; /* huge if the counter went back */
    if (c->rate && elapsed < DL_CLOCK_ANCHOR_COUNTS) {
        uint64_t ns = (elapsed * c->rate) >> 32;
        if (ns < DL_CLOCK_ANCHOR_NS)
            return monotonic(c, c->anchor_ns + ns);
    }
    uint64_t now = dl_now_ns();
    uint64_t after = read_counter();
    if (after - count > DL_CLOCK_MAX_ANCHOR_SPREAD)
        return monotonic(c, now); /* preempted between the readings: no anchor */
    /* (The ns difference is shifted by 32 bits: calibrate only over gaps
     * below 2^31 ns, about two seconds.) */
    if (c->anchor_ns && now > c->anchor_ns && now - c->anchor_ns < ((uint64_t)1 << 31) &&
        elapsed >= DL_CLOCK_MIN_CALIBRATION && elapsed < ((uint64_t)1 << 40))
        c->rate = ((now - c->anchor_ns) << 32) / elapsed;
    else if (c->anchor_ns && elapsed < DL_CLOCK_MIN_CALIBRATION)
        return monotonic(c, now); /* too soon to measure a rate: keep the anchor */
    c->anchor_count = count;
    c->anchor_ns = now;
    return monotonic(c, now);
}
