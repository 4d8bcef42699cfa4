/*
 * peers_append.c - the in-process rows of bench/peers.sh: N records of 100
 * bytes, appended one at a time by one thread, each durable before the
 * next starts.
 *
 * Usage: peers_append MODE PATH N
 *   fdatasync  write() of each record to PATH (a new file, O_APPEND), then
 *              fdatasync(): the baseline
 *   durlog     durlog_append(DURLOG_SYNC) of each record to the log PATH
 *   rocksdb    rocksdb_put() of each record (key "k%08llu", the record as
 *              the value) with WriteOptions sync=1 into a new database PATH;
 *              only when compiled with -DDURLOG_HAVE_ROCKSDB -lrocksdb
 *              (bench/peers.sh does that when <rocksdb/c.h> is installed;
 *              the Makefile's build of this file leaves it out)
 *
 * Opening, one untimed warm-up record and closing are outside the timed
 * region. Prints one line: "<seconds> <records>" for the N timed records.
 * Exits 3 if MODE is not compiled in, 1 on any failure.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durlog.h"
#include "lib/benchlib.h"

#ifdef DURLOG_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif

#define RECORD_SIZE 100

static double run_fdatasync(const char *path, unsigned long long n)
{
    struct bench_fsync_run run = { .size = RECORD_SIZE, .records = n, .warmup = 1 };
    struct bench_timing t;
    char err[PATH_MAX + 100];
    if (bench_write_fdatasync(path, &run, &t, err, sizeof err) != 0)
        bench_die("%s", err);
    return t.seconds;
}

static double run_durlog(const char *path, unsigned long long n)
{
    struct bench_append_run run = { .level = DURLOG_SYNC, .size = RECORD_SIZE,
                                    .records = n, .warmup = 1 };
    struct bench_timing t;
    char err[PATH_MAX + 600];
    if (bench_append_new_log(path, &run, &t, err, sizeof err) < 0)
        bench_die("%s", err);
    return t.seconds;
}

#ifdef DURLOG_HAVE_ROCKSDB
static double run_rocksdb(const char *path, unsigned long long n)
{
    char *err = NULL;
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_options_set_error_if_exists(opts, 1);
    rocksdb_t *db = rocksdb_open(opts, path, &err);
    if (err)
        bench_die("rocksdb_open: %s", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    char rec[RECORD_SIZE];
    memset(rec, 'x', sizeof rec);
    double start = 0;
    for (unsigned long long i = 0; i <= n; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "k%08llu", i);
        if (i == 1)
            start = bench_now_s(); /* record 0 is the warm-up */
        rocksdb_put(db, wo, key, (size_t)klen, rec, RECORD_SIZE, &err);
        if (err)
            bench_die("rocksdb_put: %s", err);
    }
    double t = bench_now_s() - start;
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opts);
    return t;
}
#endif

int main(int argc, char **argv)
{
    char *end;

    if (argc != 4) {
        fprintf(stderr, "usage: peers_append fdatasync|durlog|rocksdb PATH N\n");
        return 2;
    }
    unsigned long long n = strtoull(argv[3], &end, 10);
    if (*end || n == 0) {
        fprintf(stderr, "peers_append: bad N '%s'\n", argv[3]);
        return 2;
    }
    double t;
    if (strcmp(argv[1], "fdatasync") == 0) {
        t = run_fdatasync(argv[2], n);
    } else if (strcmp(argv[1], "durlog") == 0) {
        t = run_durlog(argv[2], n);
    } else if (strcmp(argv[1], "rocksdb") == 0) {
#ifdef DURLOG_HAVE_ROCKSDB
        t = run_rocksdb(argv[2], n);
#else
        fprintf(stderr, "peers_append: built without RocksDB\n");
        return 3;
#endif
    } else {
        fprintf(stderr, "peers_append: unknown mode '%s'\n", argv[1]);
        return 2;
    }
    printf("%.9f %llu\n", t, n);
    return 0;
}
