/*
 * bench_util.h - small helpers the benchmarks share: options, the clock,
 * sorting and medians, and a start gate for workers in other processes.
 *
 * Header-only (static inline), so that each benchmark stays one .c file the
 * Makefile builds on its own.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* One command-line option "--name VALUE", stored through `value` as its
 * type says: 's' const char *, 'i' int, 'd' double, 'u' uint64_t, 'z'
 * size_t; or, for 'f', handed to `parse`. */
struct opt {
    const char *name;
    char type;
    void *value;
    void (*parse)(const char *arg);
};

/* Parses argv against `opts` (ended by an entry with a NULL name). An
 * unknown option or one without its value prints `usage` and a newline to
 * stderr and returns 2 (the exit code for bad arguments); otherwise 0. */
static inline int parse_opts(int argc, char **argv, const struct opt *opts,
                             const char *usage)
{
    for (int i = 1; i < argc; i++) {
        const struct opt *o = opts;
        while (o->name && strcmp(argv[i], o->name))
            o++;
        if (!o->name || i + 1 >= argc) {
            fprintf(stderr, "%s\n", usage);
            return 2;
        }
        const char *arg = argv[++i];
        switch (o->type) {
        case 's': *(const char **)o->value = arg; break;
        case 'i': *(int *)o->value = atoi(arg); break;
        case 'd': *(double *)o->value = atof(arg); break;
        case 'u': *(uint64_t *)o->value = strtoull(arg, NULL, 10); break;
        case 'z': *(size_t *)o->value = (size_t)strtoull(arg, NULL, 10); break;
        default: o->parse(arg); break;
        }
    }
    return 0;
}

/* CLOCK_MONOTONIC in nanoseconds: comparable across processes. */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void pause_us(int us)
{
    struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (the upper one of the middle two when n is even);
 * sorts v in place. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Anonymous memory shared with the processes forked after it, or NULL. */
static inline void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/*
 * A start gate: workers (processes forked after gate_init, or their threads)
 * block in gate_wait until the parent calls gate_open, and then all go at
 * once. It is a pipe nobody writes to: closing its last write end wakes
 * every reader with end of file. Each forked child must call gate_child
 * first, to drop its inherited copy of the write end.
 */
struct gate { int fd[2]; };

static inline int gate_init(struct gate *g)
{
    return pipe(g->fd) == 0 ? 0 : -errno;
}

static inline void gate_child(struct gate *g)
{
    close(g->fd[1]);
}

static inline void gate_wait(struct gate *g)
{
    char c;
    while (read(g->fd[0], &c, 1) < 0 && errno == EINTR)
        ;
}

static inline void gate_open(struct gate *g)
{
    close(g->fd[1]);
    close(g->fd[0]);
}

#endif
