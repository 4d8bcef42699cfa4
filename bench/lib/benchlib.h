/*
 * benchlib.h - the benchmark library: what the programs in bench/, the
 * `durlog bench` command (cli/bench_*.c, cli/cmd_bench.c) and the demo
 * (demo/demo.c) share, so that every one of them reads the same clock,
 * takes medians the same way and runs the same baseline workloads.
 *
 *   measure.c   the clock, pauses; medians, spreads, percentiles
 *   files.c     scratch directories, removing a tree; the file system and
 *               the CPU a run is on
 *   program.c   failing with a message (and cleaning up first); "--name
 *               VALUE" options; memory shared with forked workers, and a
 *               start gate for them
 *   workload.c  the workloads several benchmarks compare against: one
 *               write()+fdatasync per record, durlog_append at one level in
 *               a loop; counting the fdatasyncs durlog makes
 *
 * Every name here starts with bench_. The Makefile links these objects into
 * every benchmark, the demo and the durlog command (bench/README.md).
 */
#ifndef DURLOG_BENCHLIB_H
#define DURLOG_BENCHLIB_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "durlog.h"

/* ---- measure.c: time and statistics ---- */

/* CLOCK_MONOTONIC, in nanoseconds or seconds: comparable across processes. */
uint64_t bench_now_ns(void);
double bench_now_s(void);

/* Sleeps us microseconds, the whole of them even if a signal interrupts. */
void bench_pause_us(long us);

/* The median of n >= 1 values: the middle one, or the mean of the two
 * middle ones when n is even. Sorts v in place. */
double bench_median(double *v, int n);

/* A row's repeats summed up: their median (as bench_median), lowest and
 * highest. v is left as it is. */
struct bench_spread {
    double median, min, max;
};
struct bench_spread bench_spread_of(const double *v, int n);

/* The index of the median of n >= 1 values (of an even count, the lower of
 * the middle two): for a caller that must show the sample it belongs to. */
int bench_median_index(const double *v, int n);

/* Latency samples: sort them once, then read any percentile. */
void bench_sort_u64(uint64_t *v, size_t n);
/* The p-quantile (0 <= p <= 1) of n >= 1 sorted values: the one at index
 * p * (n - 1), rounded down. */
uint64_t bench_percentile(const uint64_t *sorted, size_t n, double p);

/* ---- files.c: scratch space and where a run is ---- */

/* Makes a new directory PARENT/PREFIX-XXXXXX (mkdtemp) and puts its name
 * in out. Returns 0 or -errno (-ENAMETOOLONG when it does not fit). */
int bench_make_scratch(char *out, size_t size, const char *parent, const char *prefix);

/* The run's scratch directory, for a benchmark program: makes
 * PARENT/PREFIX-XXXXXX and returns its absolute name, or dies saying why.
 * From then on a failure (bench_die) in this process removes it;
 * bench_scratch_remove removes it at the end (returns 0, or -errno when
 * something was left behind, which it reports). */
const char *bench_scratch(const char *parent, const char *prefix);
int bench_scratch_remove(void);

/* Removes path and everything below it, not following symbolic links; a
 * path that does not exist is no error. Goes on past an entry it cannot
 * remove and returns the first such -errno, else 0. */
int bench_remove_tree(const char *path);

/* The mount a path is on: the one whose mount point is the longest prefix
 * of its real path (/proc/self/mounts). Fields it cannot learn read
 * "unknown". */
struct bench_mount {
    char type[32];          /* "ext4", "tmpfs", ... */
    char device[256];
    char point[4096];
};
void bench_mount_of(const char *path, struct bench_mount *m);

/* Whether a file system of this type keeps files in memory, where
 * fdatasync does nothing and the durable rows say nothing about a disk. */
int bench_fs_in_memory(const char *type);

/* The CPU's model name from /proc/cpuinfo, or "unknown CPU". */
void bench_cpu_model(char *out, size_t size);

/* ---- program.c: the life of a benchmark program ---- */

/* Prints "PROGRAM: message" to stderr (PROGRAM: the name it was run as),
 * and, in the process that set them up (not in a forked worker), calls
 * the function bench_at_failure set and removes the scratch directory;
 * then exits with status 1. */
_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bench_die("WHAT: <durlog_strerror(rc)> (DETAIL)"); no parentheses when
 * detail is NULL or empty. rc is a durlog code or a negative errno. */
_Noreturn void bench_die_code(const char *what, int rc, const char *detail);

/* What else bench_die does before it exits, in this process: e.g. stop a
 * server the run started. */
void bench_at_failure(void (*cleanup)(void));

/* One command-line option "--name VALUE", stored through `value` as its
 * type says: 's' const char *, 'i' int, 'd' double, 'u' uint64_t, 'z'
 * size_t; or, for 'f', handed to `parse`. Type 'b' is a flag without a
 * value (the int it points to becomes 1). An entry named "" takes one
 * argument that is not an option (a directory, say), as 's'. A number
 * must lie in [min, max] (max 0: no upper bound; both 0: any number).
 * Tables are written with the macros below. */
struct bench_opt {
    const char *name;
    char type;
    void *value;
    void (*parse)(const char *arg);
    double min, max;
};
#define BENCH_OPT(name, type, value) { name, type, value, NULL, 0, 0 }
#define BENCH_OPT_RANGE(name, type, value, min, max) { name, type, value, NULL, min, max }
#define BENCH_OPT_FN(name, parse) { name, 'f', NULL, parse, 0, 0 }
#define BENCH_OPT_END { NULL, 0, NULL, NULL, 0, 0 }

/* Parses argv against opts (ended by BENCH_OPT_END). An unknown option, one
 * without its value, a number that does not parse or one outside its range
 * prints why and `usage` to stderr and returns 2 (the exit status for bad
 * arguments); --help or -h prints `usage` to stdout and exits 0; otherwise
 * returns 0. */
int bench_parse_opts(int argc, char **argv, const struct bench_opt *opts, const char *usage);

/* A list of counts such as "1,4,16,64" (thread counts, say): each from lo
 * to hi, at most max of them, none twice. Returns how many it put in out,
 * or -1 when text is not such a list. */
int bench_parse_list(const char *text, int *out, int max, int lo, int hi);

/* Anonymous memory shared with the processes forked after it, or NULL. */
void *bench_shared_alloc(size_t size);

/*
 * A start gate: workers (processes forked after bench_gate_init, or their
 * threads) block in bench_gate_wait until the parent calls bench_gate_open,
 * and then all go at once. It is a pipe nobody writes to: closing its last
 * write end wakes every reader with end of file. Each forked child must
 * call bench_gate_child first, to drop its inherited copy of the write end.
 */
struct bench_gate {
    int fd[2];
};
int bench_gate_init(struct bench_gate *g);     /* 0 or -errno */
void bench_gate_child(struct bench_gate *g);
void bench_gate_wait(struct bench_gate *g);
void bench_gate_open(struct bench_gate *g);

/* ---- workload.c: the shared workloads ---- */

/* Counts, from now on, every fdatasync durlog makes (system calls, and
 * those completed through io_uring) by adding 1 to *counter, which may be
 * in memory shared with forked processes that call this too. Reaches into
 * the library through its dl_os seam (src/os.h). */
void bench_count_fdatasyncs(_Atomic uint64_t *counter);

/* Writes all len bytes to fd (short writes continued, EINTR retried): 0 or
 * -errno. The baselines' write loop, for programs that see only the public
 * header (the durlog command's bench). */
int bench_write_all(int fd, const void *buf, size_t len);

/* The records the workloads write: bench_new_record makes a buffer of the
 * letters 'a' to 'z' repeated (malloc'd; NULL when out of memory), and
 * bench_stamp_record puts record i's index over its first 8 bytes (when it
 * has 8), so that consecutive records differ, as real ones do. Inline: it
 * runs once per record inside the timed loops. */
char *bench_new_record(size_t size);

static inline void bench_stamp_record(char *rec, size_t size, uint64_t i)
{
    if (size >= sizeof i)
        memcpy(rec, &i, sizeof i);
}

/* What a workload did: records, and the seconds they took. */
struct bench_timing {
    uint64_t records;
    double seconds;
};

/*
 * The classic way to make each record durable, the baseline durlog's sync
 * level is measured against: one write() of each record to a new file
 * (created here, O_APPEND; it must not exist), then fdatasync() before the
 * next record (records as bench_stamp_record makes them). Opening and
 * closing are not timed; the file is left for the caller to remove.
 */
struct bench_fsync_run {
    size_t size;            /* bytes per record */
    uint64_t records;       /* at most this many timed records */
    double seconds;         /* and for at most this long (0: no limit); the
                               first record is always written */
    int warmup;             /* records written and synced before the clock
                               starts (the file's first block exists) */
    uint64_t *lat_ns;       /* NULL, or room for `records` latencies: each
                               record's write() and fdatasync() */
};
/* Returns 0, or -errno with "CALL PATH: why" in err. */
int bench_write_fdatasync(const char *path, const struct bench_fsync_run *run,
                          struct bench_timing *out, char *err, size_t errsize);

/*
 * durlog_append at one level in a loop: the workload of every "durlog
 * <level>" row. Appends N records of `size` bytes to an open log, again
 * (another pass of N) until min_seconds have gone by; buffered records are
 * flushed to the kernel at the end, inside the time (they count once the
 * kernel has them, as fwrite's count after fclose).
 */
struct bench_append_run {
    durlog_level level;
    size_t size;            /* bytes per record */
    uint64_t records;       /* N: records per pass */
    double min_seconds;     /* passes of N until this long (0: one pass) */
    /* Fills record i (of its pass); NULL: bench_stamp_record. */
    void (*fill)(char *rec, size_t size, uint64_t i);
    /* If set, no further pass once *stop is (a signal's handler sets it). */
    const volatile sig_atomic_t *stop;
    int warmup;             /* records appended before the clock starts */
};
/* Returns 0, or the negative code of the append or flush that failed
 * (durlog_errmsg(log) says more); out then counts nothing. */
int bench_append_loop(durlog *log, const struct bench_append_run *run, struct bench_timing *out);

/* The same on a new log at path, opened with the default options and
 * closed after; neither is timed. Returns 0, or the negative code with
 * "CALL PATH: why" in err. */
int bench_append_new_log(const char *path, const struct bench_append_run *run,
                         struct bench_timing *out, char *err, size_t errsize);

#endif
