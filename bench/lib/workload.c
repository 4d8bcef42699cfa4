/*
 * workload.c - the workloads several benchmarks measure the same way, so
 * that their rows can be compared with each other's:
 *
 *   - one write() and one fdatasync() per record: what durable appends cost
 *     without durlog, the baseline of bench_append, bench_sync, bench_async,
 *     bench/peers.sh and the demo;
 *   - durlog_append at one level in a loop: every "durlog <level>" row of
 *     bench_append, `durlog bench` and the demo;
 *   - counting the fdatasyncs durlog makes (records per fdatasync is how
 *     group commit is judged), through the library's dl_os seam.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"
#include "os.h"

/* ---- counting fdatasyncs ---- */

static _Atomic uint64_t *fdatasync_counter;

static int counting_fdatasync(int fd)
{
    atomic_fetch_add(fdatasync_counter, 1);
    return dl_os_real.fdatasync(fd);
}

/* Every fsync the engine's io_uring completes passes through here. */
static int counting_uring_result(int fd, int datasync, int res)
{
    if (datasync)
        atomic_fetch_add(fdatasync_counter, 1);
    return dl_os_real.uring_result(fd, datasync, res);
}

void bench_count_fdatasyncs(_Atomic uint64_t *counter)
{
    fdatasync_counter = counter;
    dl_os.fdatasync = counting_fdatasync;
    dl_os.uring_result = counting_uring_result;
}

/* ---- records ---- */

char *bench_new_record(size_t size)
{
    char *rec = malloc(size ? size : 1);
    for (size_t i = 0; rec && i < size; i++)
        rec[i] = (char)('a' + i % 26);
    return rec;
}

/* ---- one write() and one fdatasync() per record ---- */

int bench_write_all(int fd, const void *buf, size_t len)
{
    return dl_write_all(fd, buf, len);
}

/* One record, whole: a regular file's write() comes back short only when
 * the disk fills, but a benchmark must not hide that. */
static int write_synced(int fd, const char *rec, size_t size)
{
    int rc = bench_write_all(fd, rec, size);
    /* The record is on stable storage before the next one is written. */
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    return rc;
}

int bench_write_fdatasync(const char *path, const struct bench_fsync_run *run,
                          struct bench_timing *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    char *rec = bench_new_record(run->size);
    if (!rec) {
        snprintf(err, errsize, "out of memory");
        return -ENOMEM;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errsize, "create %s: %s", path, strerror(-rc));
        free(rec);
        return rc;
    }
    int rc = 0;
    uint64_t i = 0;
    for (int w = 0; w < run->warmup && rc == 0; w++, i++) {
        bench_stamp_record(rec, run->size, i);
        rc = write_synced(fd, rec, run->size);
    }
    uint64_t start = bench_now_ns(), t = start;
    uint64_t end = start + (uint64_t)(run->seconds * 1e9);
    uint64_t n = 0;
    while (rc == 0 && n < run->records && (n == 0 || !run->seconds || t < end)) {
        bench_stamp_record(rec, run->size, i++);
        uint64_t t0 = t;
        rc = write_synced(fd, rec, run->size);
        t = bench_now_ns();
        if (run->lat_ns)
            run->lat_ns[n] = t - t0;
        n++;
    }
    if (rc)
        snprintf(err, errsize, "write+fdatasync %s: %s", path, strerror(-rc));
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
        snprintf(err, errsize, "close %s: %s", path, strerror(-rc));
    }
    free(rec);
    if (rc == 0)
        *out = (struct bench_timing){ n, (double)(t - start) / 1e9 };
    return rc;
}

/* ---- durlog_append at one level ---- */

int bench_append_loop(durlog *log, const struct bench_append_run *run, struct bench_timing *out)
{
    memset(out, 0, sizeof *out);
    char *rec = bench_new_record(run->size);
    if (!rec)
        return -ENOMEM;
    int rc = 0;
    for (int w = 0; w < run->warmup && rc == 0; w++) {
        bench_stamp_record(rec, run->size, (uint64_t)w);
        rc = durlog_append(log, rec, run->size, run->level, NULL);
    }
    uint64_t passes = 0;
    double start = bench_now_s(), now = start;
    do {
        for (uint64_t i = 0; i < run->records && rc == 0; i++) {
            if (run->fill)
                run->fill(rec, run->size, i);
            else
                bench_stamp_record(rec, run->size, i);
            rc = durlog_append(log, rec, run->size, run->level, NULL);
        }
        passes++;
        now = bench_now_s();
    } while (rc == 0 && now - start < run->min_seconds && !(run->stop && *run->stop));
    if (rc == 0 && run->level == DURLOG_BUFFERED) {
        rc = durlog_flush(log, DURLOG_KERNEL);
        now = bench_now_s();
    }
    free(rec);
    if (rc == 0)
        *out = (struct bench_timing){ run->records * passes, now - start };
    return rc;
}

int bench_append_new_log(const char *path, const struct bench_append_run *run,
                         struct bench_timing *out, char *err, size_t errsize)
{
    durlog_options opts;
    char why[512] = "";
    durlog *log = NULL;

    durlog_options_init(&opts);
    opts.errbuf = why;
    opts.errbuf_size = sizeof why;
    int rc = durlog_open(path, &opts, &log);
    if (rc < 0) {
        snprintf(err, errsize, "durlog_open %s: %s (%s)", path, durlog_strerror(rc), why);
        return rc;
    }
    rc = bench_append_loop(log, run, out);
    if (rc < 0)
        snprintf(err, errsize, "durlog_append %s: %s", path, durlog_errmsg(log));
    int close_rc = durlog_close(log);
    if (close_rc < 0 && rc == 0) {
        rc = close_rc;
        snprintf(err, errsize, "durlog_close %s: %s", path, durlog_strerror(rc));
    }
    return rc;
}
