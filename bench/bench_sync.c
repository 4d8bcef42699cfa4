/*
 * bench_sync.c - group commit: DURLOG_SYNC appends from many threads.
 *
 * In one run, so that ratios hold on a noisy machine:
 *   - the bare cost of durability: one pwrite()+fdatasync per 100-byte record
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
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "durlog.h"
#include "os.h"

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
static char scratch[4096];
static _Atomic uint64_t fdatasync_calls;

static int counting_fdatasync(int fd)
{
    atomic_fetch_add(&fdatasync_calls, 1);
    return dl_os_real.fdatasync(fd);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, durlog_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i];
}

static void fresh_path(char *buf, size_t size, const char *name)
{
    static int counter;
    snprintf(buf, size, "%s/%s-%d", scratch, name, counter++);
}

static void remove_tree(const char *path)
{
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_sync: could not remove %s\n", path);
}

struct latency { double p50, p99, rate; };

/* Times `one` (one durable record per call) for seconds/2: percentiles of
 * the per-call latency, and calls per second. */
static struct latency measure(void (*one)(void *ctx, size_t i), void *ctx)
{
    static double lat[MAX_SAMPLES];
    size_t n = 0;
    double start = now_s(), end = start + seconds / 2;
    while (n < MAX_SAMPLES) {
        double t0 = now_s();
        one(ctx, n);
        double t1 = now_s();
        lat[n++] = t1 - t0;
        if (t1 >= end)
            break;
    }
    double total = now_s() - start;
    return (struct latency){ percentile(lat, n, 0.5), percentile(lat, n, 0.99),
                             (double)n / total };
}

static void bare_one(void *ctx, size_t i)
{
    static const char rec[RECORD_SIZE] = { 'x' };
    int fd = *(int *)ctx;
    if (pwrite(fd, rec, sizeof rec, (off_t)(i * sizeof rec)) != (ssize_t)sizeof rec)
        die("pwrite", -errno);
    if (fdatasync(fd) < 0)
        die("fdatasync", -errno);
}

/* Bare durability: pwrite the next 100 bytes, fdatasync. */
static struct latency bare_fdatasync(void)
{
    char path[4200];
    fresh_path(path, sizeof path, "bare");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open", -errno);
    struct latency l = measure(bare_one, &fd);
    close(fd);
    unlink(path);
    return l;
}

static void durlog_one(void *ctx, size_t i)
{
    static const char rec[RECORD_SIZE] = { 'y' };
    (void)i;
    int rc = durlog_append(ctx, rec, sizeof rec, DURLOG_SYNC, NULL);
    if (rc)
        die("durlog_append", rc);
}

/* One durlog writer waiting on each sync record. */
static struct latency durlog_one_writer(void)
{
    char path[4200];
    durlog *log;
    fresh_path(path, sizeof path, "one");
    int rc = durlog_open(path, NULL, &log);
    if (rc)
        die("durlog_open", rc);
    struct latency l = measure(durlog_one, log);
    durlog_close(log);
    remove_tree(path);
    return l;
}

struct worker {
    pthread_t thread;
    durlog *log;
    double end;
    uint64_t records;
};

static void *sync_worker(void *arg)
{
    struct worker *w = arg;
    char rec[RECORD_SIZE];
    memset(rec, 'z', sizeof rec);
    while (now_s() < w->end) {
        int rc = durlog_append(w->log, rec, sizeof rec, DURLOG_SYNC, NULL);
        if (rc)
            die("durlog_append (threads)", rc);
        w->records++;
    }
    return NULL;
}

struct group { double rate, per_sync; };

static struct group durlog_threads(int n)
{
    static struct worker workers[MAX_THREADS];
    char path[4200];
    durlog *log;
    fresh_path(path, sizeof path, "group");
    int rc = durlog_open(path, NULL, &log);
    if (rc)
        die("durlog_open", rc);
    uint64_t calls0 = atomic_load(&fdatasync_calls);
    double start = now_s();
    for (int i = 0; i < n; i++) {
        workers[i] = (struct worker){ .log = log, .end = start + seconds };
        if (pthread_create(&workers[i].thread, NULL, sync_worker, &workers[i]))
            die("pthread_create", -EAGAIN);
    }
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].records;
    }
    double elapsed = now_s() - start;
    uint64_t calls = atomic_load(&fdatasync_calls) - calls0;
    durlog_close(log);
    remove_tree(path);
    return (struct group){ (double)total / elapsed, calls ? (double)total / (double)calls : 0 };
}

#ifdef DURLOG_HAVE_ROCKSDB
struct rworker {
    pthread_t thread;
    rocksdb_t *db;
    rocksdb_writeoptions_t *wo;
    int id;
    double end;
    uint64_t records;
};

static void *rocks_worker(void *arg)
{
    struct rworker *w = arg;
    char key[32], val[RECORD_SIZE];
    memset(val, 'r', sizeof val);
    while (now_s() < w->end) {
        char *err = NULL;
        int klen = snprintf(key, sizeof key, "%d:%llu", w->id, (unsigned long long)w->records);
        rocksdb_put(w->db, w->wo, key, (size_t)klen, val, sizeof val, &err);
        if (err) {
            fprintf(stderr, "bench_sync: rocksdb_put: %s\n", err);
            exit(1);
        }
        w->records++;
    }
    return NULL;
}

/* RocksDB, sync=1 writes from n threads: records/s. */
static double rocksdb_threads(int n)
{
    static struct rworker workers[MAX_THREADS];
    char path[4200];
    char *err = NULL;
    fresh_path(path, sizeof path, "rocksdb");
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_t *db = rocksdb_open(opts, path, &err);
    if (err) {
        fprintf(stderr, "bench_sync: rocksdb_open: %s\n", err);
        exit(1);
    }
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    double start = now_s();
    for (int i = 0; i < n; i++) {
        workers[i] = (struct rworker){ .db = db, .wo = wo, .id = i, .end = start + seconds };
        if (pthread_create(&workers[i].thread, NULL, rocks_worker, &workers[i]))
            die("pthread_create", -EAGAIN);
    }
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].records;
    }
    double elapsed = now_s() - start;
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opts);
    remove_tree(path);
    return (double)total / elapsed;
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
    nthread_counts = 0;
    while (*s && nthread_counts < 16) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > MAX_THREADS) {
            fprintf(stderr, "bench_sync: bad --threads list\n");
            exit(2);
        }
        thread_counts[nthread_counts++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
            fprintf(stderr, "bench_sync: bad --threads list\n");
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct opt opts[] = {
        { "--dir", 's', &dir, NULL },
        { "--seconds", 'd', &seconds, NULL },
        { "--threads", 'f', NULL, parse_threads },
        { "--repeats", 'i', &repeats, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (parse_opts(argc, argv, opts, "usage: bench_sync [--dir DIR] [--seconds S] "
                                     "[--threads 1,4,16,64] [--repeats R]"))
        return 2;
    if (seconds <= 0 || repeats < 1 || repeats > 15) {
        fprintf(stderr, "bench_sync: bad --seconds or --repeats\n");
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s/bench-sync-XXXXXX", dir);
    if (!mkdtemp(scratch)) {
        perror("bench_sync: mkdtemp");
        return 1;
    }
    /* Absolute: Redis resolves its file names after changing directory. */
    char *abs = realpath(scratch, NULL);
    if (!abs) {
        perror("bench_sync: realpath");
        return 1;
    }
    snprintf(scratch, sizeof scratch, "%s", abs);
    free(abs);
    dl_os.fdatasync = counting_fdatasync;

    double bare50[15], bare99[15], bare_rate[15], one50[15], one99[15];
    double rate[16][15], per[16][15];
#ifdef DURLOG_HAVE_ROCKSDB
    double rocks[16][15];
#endif
    double redis1[15], redis64[15];
    char rdir[4200];
    int port = 16379 + (int)(getpid() % 1000);
    int have_redis = redis_start(port, rdir, sizeof rdir);
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
            redis1[r] = redis_sync(1, port);
            redis64[r] = redis_sync(64, port);
        }
        fprintf(stderr, "repeat %d of %d done\n", r + 1, repeats);
    }
    double p50 = median(bare50, repeats), p99 = median(bare99, repeats);
    printf("durlog group commit: 100-byte records, DURLOG_SYNC, %d repeats of %.1f s "
           "per row (interleaved), medians\n\n", repeats, seconds);
    printf("bare pwrite+fdatasync, one thread: p50 %.1f us, p99 %.1f us, %.0f records/s\n",
           p50 * 1e6, p99 * 1e6, median(bare_rate, repeats));
    double o50 = median(one50, repeats), o99 = median(one99, repeats);
    printf("durlog sync, one waiting writer:   p50 %.1f us, p99 %.1f us  "
           "(p50 ratio %.2f, target <= 1.2)\n\n", o50 * 1e6, o99 * 1e6, o50 / p50);
    printf("threads   records/s   records/fdatasync   ideal N/p50   ratio   target"
           "      rocksdb sync=1   durlog/rocksdb\n");
    for (int t = 0; t < nthread_counts; t++) {
        int n = thread_counts[t];
        double rt = median(rate[t], repeats), pr = median(per[t], repeats);
        double ideal = n / p50;
        printf("%7d %11.0f %19.1f %13.0f %7.2f   %-12s", n, rt, pr, ideal, rt / ideal,
               (n == 16 || n == 64) ? (rt / ideal >= 0.7 ? ">= 0.7 met" : ">= 0.7 MISSED") : "-");
#ifdef DURLOG_HAVE_ROCKSDB
        double rk = median(rocks[t], repeats);
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
               median(redis1, repeats), median(redis64, repeats));
        redis_stop(port, rdir);
    } else {
        printf("\n(Redis skipped: install redis-server and redis-tools)\n");
    }
    remove_tree(scratch);
    return 0;
}
