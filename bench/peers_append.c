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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "durlog.h"

#ifdef DURLOG_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif

#define RECORD_SIZE 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "peers_append: %s: %s\n", what, why);
    exit(1);
}

static double run_fdatasync(const char *path, unsigned long long n, const char *rec)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
    if (fd < 0)
        fail(path, strerror(errno));
    double start = 0;
    for (unsigned long long i = 0; i <= n; i++) {
        if (i == 1)
            start = now_s(); /* record 0 is the warm-up */
        if (write(fd, rec, RECORD_SIZE) != RECORD_SIZE)
            fail("write", strerror(errno));
        if (fdatasync(fd) < 0)
            fail("fdatasync", strerror(errno));
    }
    double t = now_s() - start;
    if (close(fd) < 0)
        fail("close", strerror(errno));
    return t;
}

static double run_durlog(const char *path, unsigned long long n, const char *rec)
{
    durlog *log;
    int rc = durlog_open(path, NULL, &log);
    if (rc < 0)
        fail("durlog_open", durlog_strerror(rc));
    double start = 0;
    for (unsigned long long i = 0; i <= n; i++) {
        if (i == 1)
            start = now_s();
        rc = durlog_append(log, rec, RECORD_SIZE, DURLOG_SYNC, NULL);
        if (rc < 0)
            fail("durlog_append", durlog_errmsg(log));
    }
    double t = now_s() - start;
    rc = durlog_close(log);
    if (rc < 0)
        fail("durlog_close", durlog_strerror(rc));
    return t;
}

#ifdef DURLOG_HAVE_ROCKSDB
static double run_rocksdb(const char *path, unsigned long long n, const char *rec)
{
    char *err = NULL;
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_options_set_error_if_exists(opts, 1);
    rocksdb_t *db = rocksdb_open(opts, path, &err);
    if (err)
        fail("rocksdb_open", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    double start = 0;
    for (unsigned long long i = 0; i <= n; i++) {
        char key[32];
        int klen = snprintf(key, sizeof key, "k%08llu", i);
        if (i == 1)
            start = now_s();
        rocksdb_put(db, wo, key, (size_t)klen, rec, RECORD_SIZE, &err);
        if (err)
            fail("rocksdb_put", err);
    }
    double t = now_s() - start;
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opts);
    return t;
}
#endif

int main(int argc, char **argv)
{
    char rec[RECORD_SIZE];
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
    memset(rec, 'x', sizeof rec);
    double t;
    if (strcmp(argv[1], "fdatasync") == 0) {
        t = run_fdatasync(argv[2], n, rec);
    } else if (strcmp(argv[1], "durlog") == 0) {
        t = run_durlog(argv[2], n, rec);
    } else if (strcmp(argv[1], "rocksdb") == 0) {
#ifdef DURLOG_HAVE_ROCKSDB
        t = run_rocksdb(argv[2], n, rec);
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
