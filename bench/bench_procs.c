/*
 * bench_procs.c - many processes appending to one log at once.
 *
 * Every row forks its workers: each worker process opens the log itself
 * (durlog_open), appends one record outside the timed region, and waits at a
 * start gate; all then append 100-byte records for --seconds and add their
 * count to shared memory. Rows, repeated --repeats times interleaved
 * round-robin in one run, medians:
 *   - kernel: 1, 2, 4 and 8 processes appending DURLOG_KERNEL, and, for
 *     reference, 2 threads sharing one handle in one process; aggregate
 *     records/s and the ratio to 1 process;
 *   - sync: 16 threads sharing one handle in one process, and 16 processes
 *     with a handle each, blocking DURLOG_SYNC appends; records/s and records
 *     per fdatasync (counted through the dl_os seam, in every process).
 * Targets (issue #5): kernel, 2 processes >= 1.0 x 1 process; sync, 16
 * processes >= 0.8 x 16 threads.
 *
 * Usage: bench_procs [--dir DIR] [--seconds S] [--repeats R]
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durlog.h"
#include "lib/benchlib.h"

#define RECORD_SIZE 100
#define MAX_REPEATS 15
#define MAX_THREADS 16
/* Kernel appends look at the clock once per this many records. */
#define CLOCK_EVERY 64

struct row {
    const char *name;
    durlog_level level;
    int procs;    /* worker processes, each with its own handle */
    int threads;  /* threads per process, sharing its handle */
};

enum { K1, K2, K4, K8, K2T, S16T, S16P, NROWS };
static const struct row rows[NROWS] = {
    [K1] = { "kernel, 1 process", DURLOG_KERNEL, 1, 1 },
    [K2] = { "kernel, 2 processes", DURLOG_KERNEL, 2, 1 },
    [K4] = { "kernel, 4 processes", DURLOG_KERNEL, 4, 1 },
    [K8] = { "kernel, 8 processes", DURLOG_KERNEL, 8, 1 },
    [K2T] = { "kernel, 2 threads, one handle", DURLOG_KERNEL, 1, 2 },
    [S16T] = { "sync, 16 threads, one handle", DURLOG_SYNC, 1, 16 },
    [S16P] = { "sync, 16 processes", DURLOG_SYNC, 16, 1 },
};

/* Shared with the workers of the row being run. */
struct run {
    _Atomic int ready;              /* worker processes at the gate */
    _Atomic uint64_t end_ns;        /* when to stop; set before the gate opens */
    _Atomic uint64_t records;       /* appended in the timed region */
    _Atomic uint64_t last_ns;       /* when the last worker stopped */
    _Atomic uint64_t fdatasyncs;    /* fdatasync calls, all processes */
};

static const char *dir = ".";
static double seconds = 1.0;
static int repeats = 5;
static struct run *run;

static void die(const char *what, int rc)
{
    bench_die_code(what, rc, NULL);
}

struct worker {
    pthread_t thread;
    durlog *log;
    durlog_level level;
    struct bench_gate *gate;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    unsigned char rec[RECORD_SIZE];
    memset(rec, 'p', sizeof rec);
    int batch = w->level == DURLOG_KERNEL ? CLOCK_EVERY : 1;
    uint64_t n = 0, t;
    bench_gate_wait(w->gate);
    uint64_t end = atomic_load(&run->end_ns);
    do {
        for (int i = 0; i < batch; i++) {
            int rc = durlog_append(w->log, rec, sizeof rec, w->level, NULL);
            if (rc)
                die("durlog_append", rc);
        }
        n += (uint64_t)batch;
    } while ((t = bench_now_ns()) < end);
    atomic_fetch_add(&run->records, n);
    uint64_t last = atomic_load(&run->last_ns);
    while (last < t && !atomic_compare_exchange_weak(&run->last_ns, &last, t))
        ;
    return NULL;
}

/* One worker process: its own handle, row->threads appenders on it. */
static void worker_process(const struct row *row, const char *path, struct bench_gate *gate)
{
    durlog *log;
    int rc = durlog_open(path, NULL, &log);
    if (rc)
        die("durlog_open", rc);
    /* Outside the timed region: maps the tail, starts the pre-faulter. */
    if ((rc = durlog_append(log, "warm", 4, row->level, NULL)))
        die("durlog_append (warm-up)", rc);
    struct worker w[MAX_THREADS];
    for (int i = 0; i < row->threads; i++) {
        w[i] = (struct worker){ .log = log, .level = row->level, .gate = gate };
        if (i && pthread_create(&w[i].thread, NULL, worker_main, &w[i]))
            die("pthread_create", -EAGAIN);
    }
    atomic_fetch_add(&run->ready, 1);
    worker_main(&w[0]);
    for (int i = 1; i < row->threads; i++)
        pthread_join(w[i].thread, NULL);
    if ((rc = durlog_close(log)))
        die("durlog_close", rc);
}

struct result { double rate, per_sync; };

static struct result run_row(const struct row *row, const char *scratch, int repeat)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/log-%d-%d", scratch, (int)(row - rows), repeat);
    /* Created here, so that the workers all join an existing log. */
    durlog *log;
    int rc = durlog_open(path, NULL, &log);
    if (rc || (rc = durlog_close(log)))
        die("durlog_open (create)", rc);
    memset(run, 0, sizeof *run);
    struct bench_gate gate;
    if ((rc = bench_gate_init(&gate)))
        die("pipe", rc);
    pid_t pids[64];
    for (int p = 0; p < row->procs; p++) {
        fflush(NULL);
        if ((pids[p] = fork()) < 0)
            die("fork", -errno);
        if (pids[p] == 0) {
            bench_gate_child(&gate);
            worker_process(row, path, &gate);
            _exit(0);
        }
    }
    while (atomic_load(&run->ready) < row->procs) {
        int status;
        if (waitpid(-1, &status, WNOHANG) > 0) {
            fprintf(stderr, "bench_procs: a worker exited before the start\n");
            exit(1);
        }
        bench_pause_us(200);
    }
    bench_pause_us(10000); /* let the threads reach the gate */
    atomic_store(&run->fdatasyncs, 0);
    uint64_t start = bench_now_ns();
    atomic_store(&run->end_ns, start + (uint64_t)(seconds * 1e9));
    bench_gate_open(&gate);
    for (int p = 0; p < row->procs; p++) {
        int status;
        if (waitpid(pids[p], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench_procs: a worker failed\n");
            exit(1);
        }
    }
    double elapsed = (double)(atomic_load(&run->last_ns) - start) / 1e9;
    uint64_t n = atomic_load(&run->records), syncs = atomic_load(&run->fdatasyncs);
    if (bench_remove_tree(path) != 0)
        fprintf(stderr, "bench_procs: could not remove %s\n", path);
    return (struct result){ (double)n / elapsed, syncs ? (double)n / (double)syncs : 0 };
}

static const char *verdict(double v, double target)
{
    return v >= target ? "target met" : "MISSED";
}

int main(int argc, char **argv)
{
    static const struct bench_opt opts[] = {
        BENCH_OPT("--dir", 's', &dir),
        BENCH_OPT_RANGE("--seconds", 'd', &seconds, 0.05, 60),
        BENCH_OPT_RANGE("--repeats", 'i', &repeats, 1, MAX_REPEATS),
        BENCH_OPT_END,
    };
    if (bench_parse_opts(argc, argv, opts, "usage: bench_procs [--dir DIR] [--seconds S] [--repeats R]"))
        return 2;
    if (!(run = bench_shared_alloc(sizeof *run)))
        die("mmap", -errno);
    const char *scratch = bench_scratch(dir, "bench-tmp");
    bench_count_fdatasyncs(&run->fdatasyncs);

    double rate[NROWS][MAX_REPEATS], per[NROWS][MAX_REPEATS];
    for (int r = 0; r < repeats; r++) {
        for (int i = 0; i < NROWS; i++) {
            struct result res = run_row(&rows[i], scratch, r);
            rate[i][r] = res.rate;
            per[i][r] = res.per_sync;
        }
        fprintf(stderr, "repeat %d of %d done\n", r + 1, repeats);
    }
    double med[NROWS], med_per[NROWS];
    struct bench_spread spread[NROWS];
    for (int i = 0; i < NROWS; i++) {
        spread[i] = bench_spread_of(rate[i], repeats);
        med[i] = spread[i].median;
        med_per[i] = bench_median(per[i], repeats);
    }

    printf("durlog appends from many processes to one log: %d-byte records, "
           "%d repeats of %.1f s per row (interleaved), medians\n\n",
           RECORD_SIZE, repeats, seconds);
    printf("%-32s %11s %23s %9s %18s\n", "row", "records/s", "spread (min..max)",
           "ratio", "records/fdatasync");
    for (int i = 0; i < NROWS; i++) {
        double base = rows[i].level == DURLOG_KERNEL ? med[K1] : med[S16T];
        char range[32], per_sync[32];
        snprintf(range, sizeof range, "%.0f..%.0f", spread[i].min, spread[i].max);
        if (rows[i].level == DURLOG_SYNC)
            snprintf(per_sync, sizeof per_sync, "%.1f", med_per[i]);
        else
            snprintf(per_sync, sizeof per_sync, "-");
        printf("%-32s %11.0f %23s %9.2f %18s\n", rows[i].name, med[i], range,
               med[i] / base, per_sync);
    }
    printf("\n(ratio: kernel rows to kernel, 1 process; sync rows to sync, 16 threads)\n\n");
    double k = med[K2] / med[K1], s = med[S16P] / med[S16T];
    printf("kernel: 2 processes / 1 process     %.2f (target >= 1.0): %s\n", k,
           verdict(k, 1.0));
    printf("sync: 16 processes / 16 threads     %.2f (target >= 0.8): %s\n", s,
           verdict(s, 0.8));
    return bench_scratch_remove() ? 1 : 0;
}
