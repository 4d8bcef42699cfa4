/*
 * measure.c - the clock and the statistics of the benchmarks.
 *
 * Every benchmark repeats its rows, interleaved, and reports medians: on a
 * shared machine a burst of load then hits every row a little instead of
 * one row a lot. The median of an even count is the mean of the middle two,
 * the textbook definition, everywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchlib.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_now_s(void)
{
    return (double)bench_now_ns() / 1e9;
}

void bench_pause_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct bench_spread bench_spread_of(const double *v, int n)
{
    double *sorted = malloc(sizeof *sorted * (size_t)n);
    if (!sorted)
        bench_die("out of memory");
    memcpy(sorted, v, sizeof *sorted * (size_t)n);
    struct bench_spread s;
    s.median = bench_median(sorted, n);
    s.min = sorted[0];
    s.max = sorted[n - 1];
    free(sorted);
    return s;
}

int bench_median_index(const double *v, int n)
{
    /* The one with as many values below it as the middle rank: n is a
     * count of rounds (at most a few dozen), so counting beats sorting. */
    int want = (n - 1) / 2;
    for (int i = 0; i < n; i++) {
        int below = 0, equal_before = 0;
        for (int j = 0; j < n; j++) {
            below += v[j] < v[i];
            equal_before += j < i && v[j] == v[i];
        }
        if (below + equal_before == want)
            return i;
    }
    return 0;
}

void bench_sort_u64(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
}

uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p)
{
    return sorted[(size_t)(p * (double)(n - 1))];
}
