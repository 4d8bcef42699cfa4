/*
 * bench_sync.c - group commit: DURLOG_SYNC appends from many threads.
 *
 * In one run, so that ratios hold on a noisy machine:
 *   - the bare cost of durability: one write()+fdatasync per 100-byte record
 *     on one thread, as latency percentiles and records/s;
 *   - one durlog writer waiting on each DURLOG_SYNC record: latency p50/p99;
 *   - N threads (default 1,4,16,64) appending DURLOG_SYNC on one handle:
 *     records/s and records per fdatasync, against the best N threads could
 *     do if every fdatasync carried N records: N / (bare p50).
 *
 * Peers, when installed (skipped with a note otherwise):
 *   - RocksDB through its C API, WriteOptions sync=1, the same thread counts
 *     (compiled in when the Makefile finds <rocksdb/c.h>);
 *   - Redis with appendonly yes / appendfsync always, driven by
 *     redis-benchmark (SET, 100-byte values) with 1 and 64 clients, on its
 *     own server on a loopback port.
 *
 * Usage: bench_sync [--dir DIR] [--seconds S] [--threads LIST] [--repeats R]
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durlog.h"
#include "lib/benchlib.h"

#ifdef DURLOG_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif

#define RECORD_SIZE 100
#define MAX_THREADS 256
#define MAX_SAMPLES 200000

static const char *dir = ".";
static double seconds = 2.0;
static int repeats = 3;
static int thread_counts[16] = { 1, 4, 16, 64 };
static int nthread_counts = 4;
static const char *scratch;
static _Atomic uint64_t fdatasync_calls;

static void fresh_path(char *buf, size_t size, const char *name)
{
    static int counter;
    snprintf(buf, size, "%s/%s-%d", scratch, name, counter++);
}

static void remove_path(const char *path)
{
    if (bench_remove_tree(path) != 0)
        fprintf(stderr, "bench_sync: could not remove %s\n", path);
}

/* The record every row writes. */
static char record[RECORD_SIZE];

/* Per-record latencies of the one-writer rows, in ns. */
static uint64_t lat_ns[MAX_SAMPLES];

struct latency { double p50, p99, rate; };

/* p50 and p99 of n latencies in lat_ns (sorted here), in seconds, and n
 * records over `elapsed` seconds. */
static struct latency latency_of(size_t n, double elapsed)
{
    bench_sort_u64(lat_ns, n);
    return (struct latency){ (double)bench_percentile(lat_ns, n, 0.5) / 1e9,
                             (double)bench_percentile(lat_ns, n, 0.99) / 1e9,
                             (double)n / elapsed };
}

/* Bare durability: write() the next 100 bytes, fdatasync, for seconds/2. */
static struct latency bare_fdatasync(void)
{
    struct bench_fsync_run run = { .size = RECORD_SIZE, .records = MAX_SAMPLES,
                                   .seconds = seconds / 2, .lat_ns = lat_ns };
    struct bench_timing t;
    char path[PATH_MAX + 32], err[PATH_MAX + 100];
    fresh_path(path, sizeof path, "bare");
    if (bench_write_fdatasync(path, &run, &t, err, sizeof err) != 0)
        bench_die("%s", err);
    unlink(path);
    return latency_of(t.records, t.seconds);
}

/* A new log in the scratch directory, its path in path. */
static durlog *open_fresh_log(char *path, size_t size, const char *name)
{
    durlog *log;
    fresh_path(path, size, name);
    int rc = durlog_open(path, NULL, &log);
    if (rc)
        bench_die_code("durlog_open", rc, path);
    return log;
}

/* One durlog writer waiting on each sync record, for seconds/2. */
static struct latency durlog_one_writer(void)
{
    char path[PATH_MAX + 32];
    durlog *log = open_fresh_log(path, sizeof path, "one");
    int rc;
    size_t n = 0;
    uint64_t start = bench_now_ns(), end = start + (uint64_t)(seconds / 2 * 1e9), t = start;
    while (n < MAX_SAMPLES && (n == 0 || t < end)) {
        uint64_t t0 = t;
        if ((rc = durlog_append(log, record, sizeof record, DURLOG_SYNC, NULL)))
            bench_die_code("durlog_append", rc, NULL);
        t = bench_now_ns();
        lat_ns[n++] = t - t0;
    }
    durlog_close(log);
    remove_path(path);
    return latency_of(n, (double)(t - start) / 1e9);
}

/* One thread of a group row: puts durable records until `end`. */
struct worker {
    pthread_t thread;
    void (*put)(struct worker *w);  /* one durable record, or the run dies */
    void *target;                   /* the durlog handle, the RocksDB database */
    int id;
    double end;
    uint64_t records;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (bench_now_s() < w->end) {
        w->put(w);
        w->records++;
    }
    return NULL;
}

/* n threads putting records for `seconds` at once: records/s; *records
 * says how many they put. */
static double run_workers(int n, void (*put)(struct worker *w), void *target,
                          uint64_t *records)
{
    static struct worker workers[MAX_THREADS];
    double start = bench_now_s();
    for (int i = 0; i < n; i++) {
        workers[i] = (struct worker){ .put = put, .target = target, .id = i,
                                      .end = start + seconds };
        int rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (rc)
            bench_die("pthread_create: %s", strerror(rc));
    }
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].records;
    }
    *records = total;
    return (double)total / (bench_now_s() - start);
}

static void durlog_put_one(struct worker *w)
{
    int rc = durlog_append(w->target, record, sizeof record, DURLOG_SYNC, NULL);
    if (rc)
        bench_die_code("durlog_append (threads)", rc, NULL);
}

struct group { double rate, per_sync; };

static struct group durlog_threads(int n)
{
    char path[PATH_MAX + 32];
    durlog *log = open_fresh_log(path, sizeof path, "group");
    uint64_t calls0 = atomic_load(&fdatasync_calls), records;
    double rate = run_workers(n, durlog_put_one, log, &records);
    uint64_t calls = atomic_load(&fdatasync_calls) - calls0;
    durlog_close(log);
    remove_path(path);
    return (struct group){ rate, calls ? (double)records / (double)calls : 0 };
}

#ifdef DURLOG_HAVE_ROCKSDB
static rocksdb_writeoptions_t *rocksdb_sync;

static void rocksdb_put_one(struct worker *w)
{
    char key[32], *err = NULL;
    int klen = snprintf(key, sizeof key, "%d:%llu", w->id, (unsigned long long)w->records);
    rocksdb_put(w->target, rocksdb_sync, key, (size_t)klen, record, sizeof record, &err);
    if (err)
        bench_die("rocksdb_put: %s", err);
}

/* RocksDB, sync=1 writes from n threads: records/s. */
static double rocksdb_threads(int n)
{
    char path[PATH_MAX + 32];
    char *err = NULL;
    fresh_path(path, sizeof path, "rocksdb");
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_t *db = rocksdb_open(opts, path, &err);
    if (err)
        bench_die("rocksdb_open: %s", err);
    rocksdb_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(rocksdb_sync, 1);
    uint64_t records;
    double rate = run_workers(n, rocksdb_put_one, db, &records);
    rocksdb_writeoptions_destroy(rocksdb_sync);
    rocksdb_close(db);
    rocksdb_options_destroy(opts);
    remove_path(path);
    return rate;
}
#endif

/* Redis with appendfsync always: SET requests/s from redis-benchmark with
 * `clients` connections, or -1 when Redis is not installed. */
static double redis_sync(int clients, int port)
{
    char cmd[512], line[512];
    double rate = -1;
    snprintf(cmd, sizeof cmd,
             "redis-benchmark -p %d -t set -d 100 -c %d -n %d -r 1000000 -q 2>/dev/null",
             port, clients, clients == 1 ? 3000 : 20000);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof line, p)) {
        /* "SET: 1234.56 requests per second, p50=..." (lines may carry
         * carriage-return progress before the final figures) */
        char *q = strstr(line, "SET:");
        char *last = q;
        while (q && (q = strstr(q + 1, "SET:")))
            last = q;
        if (last)
            rate = atof(last + 4);
    }
    pclose(p);
    return rate;
}

static int redis_start(int port, char *rdir, size_t size)
{
    char cmd[24000];
    if (system("command -v redis-server >/dev/null 2>&1 && "
               "command -v redis-benchmark >/dev/null 2>&1") != 0)
        return 0;
    snprintf(rdir, size, "%s/redis", scratch);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && redis-server --port %d --bind 127.0.0.1 --dir '%s' "
             "--appendonly yes --appendfsync always --save '' --daemonize yes "
             "--pidfile '%s/redis.pid' --logfile '%s/redis.log' && "
             "for i in $(seq 50); do redis-cli -p %d ping >/dev/null 2>&1 && exit 0; "
             "sleep 0.1; done; exit 1", rdir, port, rdir, rdir, rdir, port);
    return system(cmd) == 0;
}

static void redis_stop(int port, const char *rdir)
{
    char cmd[24000];
    snprintf(cmd, sizeof cmd, "redis-cli -p %d shutdown nosave >/dev/null 2>&1; "
             "for i in $(seq 50); do [ -e '%s/redis.pid' ] || exit 0; sleep 0.1; done",
             port, rdir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sync: redis did not stop\n");
}

static void parse_threads(const char *s)
{
    nthread_counts = bench_parse_list(s, thread_counts, 16, 1, MAX_THREADS);
    if (nthread_counts <= 0) {
        fprintf(stderr, "bench_sync: --threads takes up to 16 different counts from 1 to %d, "
                "separated by commas (e.g. 1,4,16,64)\n", MAX_THREADS);
        exit(2);
    }
}

/* The private Redis server, while it runs. */
static int redis_port;
static char redis_dir[PATH_MAX + 16];
static int have_redis;

/* On a failure: no server left behind. */
static void stop_redis(void)
{
    if (have_redis)
        redis_stop(redis_port, redis_dir);
}

int main(int argc, char **argv)
{
    static const struct bench_opt opts[] = {
        BENCH_OPT("--dir", 's', &dir),
        BENCH_OPT_RANGE("--seconds", 'd', &seconds, 0.001, 0),
        BENCH_OPT_FN("--threads", parse_threads),
        BENCH_OPT_RANGE("--repeats", 'i', &repeats, 1, 15),
        BENCH_OPT_END,
    };
    if (bench_parse_opts(argc, argv, opts, "usage: bench_sync [--dir DIR] [--seconds S] "
                                           "[--threads 1,4,16,64] [--repeats R]"))
        return 2;
    /* Absolute (bench_scratch's is): Redis resolves its file names after
     * changing directory. */
    scratch = bench_scratch(dir, "bench-sync");
    bench_at_failure(stop_redis);
    bench_count_fdatasyncs(&fdatasync_calls);
    memset(record, 'z', sizeof record);

    double bare50[15], bare99[15], bare_rate[15], one50[15], one99[15];
    double rate[16][15], per[16][15];
#ifdef DURLOG_HAVE_ROCKSDB
    double rocks[16][15];
#endif
    double redis1[15], redis64[15];
    redis_port = 16379 + (int)(getpid() % 1000);
    have_redis = redis_start(redis_port, redis_dir, sizeof redis_dir);
    for (int r = 0; r < repeats; r++) {
        struct latency b = bare_fdatasync();
        bare50[r] = b.p50; bare99[r] = b.p99; bare_rate[r] = b.rate;
        struct latency o = durlog_one_writer();
        one50[r] = o.p50; one99[r] = o.p99;
        for (int t = 0; t < nthread_counts; t++) {
            struct group g = durlog_threads(thread_counts[t]);
            rate[t][r] = g.rate;
            per[t][r] = g.per_sync;
#ifdef DURLOG_HAVE_ROCKSDB
            rocks[t][r] = rocksdb_threads(thread_counts[t]);
#endif
        }
        if (have_redis) {
            redis1[r] = redis_sync(1, redis_port);
            redis64[r] = redis_sync(64, redis_port);
        }
        fprintf(stderr, "repeat %d of %d done\n", r + 1, repeats);
    }
    double p50 = bench_median(bare50, repeats), p99 = bench_median(bare99, repeats);
    printf("durlog group commit: 100-byte records, DURLOG_SYNC, %d repeats of %.1f s "
           "per row (interleaved), medians\n\n", repeats, seconds);
    printf("bare write()+fdatasync, one thread: p50 %.1f us, p99 %.1f us, %.0f records/s\n",
           p50 * 1e6, p99 * 1e6, bench_median(bare_rate, repeats));
    double o50 = bench_median(one50, repeats), o99 = bench_median(one99, repeats);
    printf("durlog sync, one waiting writer:   p50 %.1f us, p99 %.1f us  "
           "(p50 ratio %.2f, target <= 1.2)\n\n", o50 * 1e6, o99 * 1e6, o50 / p50);
    printf("threads   records/s   records/fdatasync   ideal N/p50   ratio   target"
           "      rocksdb sync=1   durlog/rocksdb\n");
    for (int t = 0; t < nthread_counts; t++) {
        int n = thread_counts[t];
        double rt = bench_median(rate[t], repeats), pr = bench_median(per[t], repeats);
        double ideal = n / p50;
        printf("%7d %11.0f %19.1f %13.0f %7.2f   %-12s", n, rt, pr, ideal, rt / ideal,
               (n == 16 || n == 64) ? (rt / ideal >= 0.7 ? ">= 0.7 met" : ">= 0.7 MISSED") : "-");
#ifdef DURLOG_HAVE_ROCKSDB
        double rk = bench_median(rocks[t], repeats);
        printf(" %16.0f %16.2f\n", rk, rt / rk);
#else
        printf(" %16s %16s\n", "not built", "-");
#endif
    }
#ifndef DURLOG_HAVE_ROCKSDB
    printf("\n(RocksDB rows skipped: install librocksdb-dev and rebuild)\n");
#endif
    if (have_redis) {
        printf("\nredis appendfsync always, redis-benchmark SET -d 100: "
               "-c 1 %.0f requests/s, -c 64 %.0f requests/s\n",
               bench_median(redis1, repeats), bench_median(redis64, repeats));
        redis_stop(redis_port, redis_dir);
        have_redis = 0;
    } else {
        printf("\n(Redis skipped: install redis-server and redis-tools)\n");
    }
    return bench_scratch_remove() ? 1 : 0;
}
