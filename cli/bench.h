/*
 * bench.h - what the files of `durlog bench` share.
 *
 * cmd_bench.c parses the options and runs the rows; bench_work.c holds the
 * workloads (each measures one row); bench_report.c prints the results as a
 * table, JSON or CSV; bench_plot.c draws them as an SVG bar chart. What
 * they share with the benchmarks in bench/ (the clock, medians, the
 * durlog_append loop, scratch directories) is bench/lib/benchlib.h.
 */
#ifndef DURLOG_BENCH_H
#define DURLOG_BENCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "durlog.h"
#include "../bench/lib/benchlib.h"

/* One measured row of the table. */
struct bench_row {
    char name[80];          /* e.g. "write()+fdatasync per line" */
    char group[16];         /* "article", "durlog" or "cap" */
    uint64_t records;       /* records written (the rate's numerator) */
    uint64_t bytes;         /* bytes written */
    double seconds;         /* wall clock of the timed part */
    double rate;            /* records per second */
    double us_per_record;
    double ratio;           /* rate / the fastest row's rate */
    int64_t verified;       /* records read back from the log; -1: n/a */
    long calls;             /* cap rows: write() calls it took; else 0 */
    uint64_t first_call;    /* cap rows: bytes the first write() took */
    char note[160];         /* why fewer records, what was seen, ... */
};

/* Facts about the machine and the run, for JSON/CSV and the plot title. */
struct bench_facts {
    char kernel[128];       /* uname -r */
    char fs_type[32];       /* of the bench directory */
    char cpu[128];          /* model name from /proc/cpuinfo */
    char engine[16];        /* durlog's engine: "io_uring" or "thread" */
    char io[16];            /* durlog's I/O mode: "mmap" or "pwrite" */
    char dir[512];          /* where it ran */
    char date[40];          /* RFC 3339 */
    char warning[160];      /* e.g. tmpfs: the sync rows mean nothing */
    uint64_t records;       /* N (--records) */
    size_t size;            /* record size (--size) */
    int quick;
};

/* Writes an SVG bar chart of the rows' records/s on a log scale to path.
 * Returns 0, or -1 with a message in err. */
int bench_plot(const char *path, const struct bench_row *rows, size_t n,
               const struct bench_facts *facts, char *err, size_t errsize);

/* ---- bench_work.c: the workloads ---- */

/* What every workload needs, and where it reports a failure. */
struct bench_ctx {
    char file[1100];        /* the article rows' plain file */
    char log[1100];         /* the durlog rows' log (removed after each) */
    uint64_t records;       /* N */
    size_t size;            /* bytes per record (a line: the last is '\n') */
    double budget_s;        /* time budget of the fsync and sync rows */
    double min_s;           /* the other rows repeat their N records until
                               they have run this long */
    char engine[16];        /* filled by the first durlog row */
    char io[16];            /* its I/O mode, likewise */
    const volatile sig_atomic_t *stop; /* set by SIGINT/SIGTERM: stop soon */
    char err[2400];         /* why a workload failed (paths + a message) */
};

/* One measurement of one row. */
struct bench_result {
    uint64_t records, bytes;
    double seconds;
    int64_t verified;       /* records read back from the log; -1: n/a */
    long calls;             /* write() calls (the one-write row) */
    uint64_t first_call;    /* bytes the first write() took */
    int by_time;            /* the time budget ended it, not N records */
};

/* Each returns 0, or -1 with a message in c->err. */
int bench_stdio(struct bench_ctx *c, struct bench_result *r);
int bench_write_each(struct bench_ctx *c, struct bench_result *r);
int bench_write_joined(struct bench_ctx *c, struct bench_result *r);
int bench_fsync_each(struct bench_ctx *c, struct bench_result *r);
int bench_durlog_level(struct bench_ctx *c, durlog_level level, struct bench_result *r);
int bench_durlog_sync(struct bench_ctx *c, int threads, struct bench_result *r);
int bench_one_big_write(struct bench_ctx *c, size_t bytes, struct bench_result *r);
int bench_put_big(struct bench_ctx *c, size_t bytes, struct bench_result *r);

/* ---- bench_report.c: printing ---- */

/* "8,612,345" */
void bench_group_thousands(uint64_t value, char *buf, size_t size);

void bench_print_text(const struct bench_row *rows, size_t n, const struct bench_facts *f);
void bench_print_json(const struct bench_row *rows, size_t n, const struct bench_facts *f);
void bench_print_csv(const struct bench_row *rows, size_t n, const struct bench_facts *f);

#endif
