/*
 * bench_seek.c - seeking to a record by number, and by time, in a big log
 * (issue #18):
 * with the sparse index of sealed segments (src/index.c), and with the walk
 * from each segment's start that seeks did before it (the reader's
 * DURLOG_SEEK_LINEAR switch), in the same run, on the same log, for the same
 * random numbers.
 *
 * One log of --gib GiB (default 4) of 100-byte records in 64 MiB segments
 * is written with buffered appends and closed (every segment but the last
 * sealed), then the side files are written by one seek per segment (timed
 * apart: the first seek into a segment without one builds it). Then:
 *   warm   the log in the page cache; one reader per mode seeks to
 *          --seeks random numbers (alternating modes), each seek timed
 *          with the durlog_reader_next that reads the record;
 *   cold   before each of --cold-seeks seeks, the page cache is dropped
 *          (echo 3 > /proc/sys/vm/drop_caches: root only; skipped, saying
 *          why, otherwise) and a fresh reader opened: the seek reads the
 *          segment (and side file) from the disk.
 * Then the same by time (durlog_reader_seek_time to a random record's
 * time, and the read of the record there, checked to be the first of that
 * time at or before it). Prints median and p99 in microseconds for each.
 * The log is removed at the end.
 *
 * --index-only skips the linear walks (to profile the indexed seek alone).
 *
 *   build/bench/bench_seek [--gib G] [--seeks N] [--cold-seeks N] [--index-only] [DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durlog.h"
#include "lib/benchlib.h"

#define REC_SIZE 100
#define BATCH 1024

static const char *log_path;

static durlog_reader *open_reader(int linear)
{
    durlog_reader *r;
    if (linear)
        setenv("DURLOG_SEEK_LINEAR", "1", 1);
    int rc = durlog_reader_open(log_path, NULL, &r);
    unsetenv("DURLOG_SEEK_LINEAR");
    if (rc)
        bench_die_code("durlog_reader_open", rc, log_path);
    return r;
}

/* One seek and the read of the record there, in ns; dies if the record is
 * not the one sought. */
static uint64_t timed_seek(durlog_reader *r, uint64_t seq)
{
    durlog_record rec;
    uint64_t t0 = bench_now_ns();
    int rc = durlog_reader_seek(r, seq);
    if (rc == 0)
        rc = durlog_reader_next(r, &rec);
    uint64_t t1 = bench_now_ns();
    if (rc)
        bench_die("seek to %llu: %s (%s)", (unsigned long long)seq, durlog_strerror(rc),
                  durlog_reader_errmsg(r));
    uint64_t stamp;
    memcpy(&stamp, rec.data, sizeof stamp);
    if (rec.seq != seq || rec.len != REC_SIZE || stamp != seq)
        bench_die("seek to %llu returned record %llu", (unsigned long long)seq,
                  (unsigned long long)rec.seq);
    return t1 - t0;
}

/* The time of record seq (untimed: to pick a time to seek to). */
static uint64_t time_of(durlog_reader *r, uint64_t seq)
{
    durlog_record rec;
    int rc = durlog_reader_seek(r, seq);
    if (rc == 0)
        rc = durlog_reader_next(r, &rec);
    if (rc)
        bench_die("seek to %llu: %s (%s)", (unsigned long long)seq, durlog_strerror(rc),
                  durlog_reader_errmsg(r));
    return rec.time_ns;
}

/* One seek by time t (the time of record seq) and the read of the record
 * there, in ns; dies unless it is a record of time t at or before seq
 * (times never decrease: the first record at or after t has time t). */
static uint64_t timed_seek_time(durlog_reader *r, uint64_t t, uint64_t seq)
{
    durlog_record rec;
    uint64_t t0 = bench_now_ns();
    int rc = durlog_reader_seek_time(r, t);
    if (rc == 0)
        rc = durlog_reader_next(r, &rec);
    uint64_t t1 = bench_now_ns();
    if (rc)
        bench_die("seek to time %llu: %s (%s)", (unsigned long long)t, durlog_strerror(rc),
                  durlog_reader_errmsg(r));
    if (rec.time_ns != t || rec.seq > seq)
        bench_die("seek to the time of record %llu returned record %llu of another time",
                  (unsigned long long)seq, (unsigned long long)rec.seq);
    return t1 - t0;
}

static int drop_caches(char *why, size_t size)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0 || write(fd, "3\n", 2) != 2) {
        snprintf(why, size, "cannot write /proc/sys/vm/drop_caches: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void report(const char *what, uint64_t *ns, size_t n)
{
    bench_sort_u64(ns, n);
    printf("  %-22s %8.1f %10.1f %10.1f   (%zu seeks)\n", what,
           bench_percentile(ns, n, 0.50) / 1e3, bench_percentile(ns, n, 0.99) / 1e3,
           ns[n - 1] / 1e3, n);
}

int main(int argc, char **argv)
{
    double gib = 4.0;
    int seeks = 2000, cold_seeks = 100, index_only = 0;
    const char *dir = "build";
    const struct bench_opt opts[] = {
        BENCH_OPT_RANGE("--gib", 'd', &gib, 0.01, 64),
        BENCH_OPT_RANGE("--seeks", 'i', &seeks, 1, 10000000),
        BENCH_OPT_RANGE("--cold-seeks", 'i', &cold_seeks, 0, 100000),
        BENCH_OPT("--index-only", 'b', &index_only),
        BENCH_OPT("", 's', &dir),
        BENCH_OPT_END,
    };
    if (bench_parse_opts(argc, argv, opts,
                         "usage: bench_seek [--gib G] [--seeks N] [--cold-seeks N] [--index-only] [DIR]"))
        return 2;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        bench_die("mkdir %s: %s", dir, strerror(errno));
    const char *scratch = bench_scratch(dir, "bench-seek");
    static char path[4200];
    snprintf(path, sizeof path, "%s/log", scratch);
    log_path = path;

    char cpu[256];
    struct bench_mount mnt;
    bench_cpu_model(cpu, sizeof cpu);
    bench_mount_of(scratch, &mnt);
    printf("bench_seek: %.2f GiB of %d-byte records, %s on %s (%s)\n", gib, REC_SIZE, cpu,
           mnt.type, mnt.device);

    /* The log. */
    uint64_t per_rec = 16 + REC_SIZE; /* a version 2 record: header + payload */
    uint64_t records = (uint64_t)(gib * (1ull << 30)) / per_rec;
    durlog *log;
    char err[700];
    durlog_options o;
    durlog_options_init(&o);
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    int rc = durlog_open(path, &o, &log);
    if (rc)
        bench_die("%s", err);
    static unsigned char recs[BATCH][REC_SIZE];
    durlog_iov iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        memset(recs[i], 'a' + i % 26, REC_SIZE);
        iov[i] = (durlog_iov){ recs[i], REC_SIZE };
    }
    double t0 = bench_now_s();
    for (uint64_t at = 0; at < records; at += BATCH) {
        size_t n = records - at < BATCH ? (size_t)(records - at) : BATCH;
        for (size_t i = 0; i < n; i++) {
            uint64_t seq = at + i;
            memcpy(recs[i], &seq, sizeof seq);
        }
        if ((rc = durlog_append_batch(log, iov, n, DURLOG_KERNEL, NULL)))
            bench_die_code("durlog_append_batch", rc, durlog_errmsg(log));
    }
    if ((rc = durlog_close(log)))
        bench_die_code("durlog_close", rc, NULL);
    durlog_info info;
    durlog_reader *r = open_reader(0), *lr = open_reader(1);
    if ((rc = durlog_reader_get_info(r, &info)))
        bench_die_code("durlog_reader_get_info", rc, durlog_reader_errmsg(r));
    printf("log: %llu records, %llu segments, %.2f GiB, written and sealed in %.1f s\n",
           (unsigned long long)info.next_seq, (unsigned long long)info.segments,
           info.bytes / (double)(1ull << 30), bench_now_s() - t0);

    /* The side files: the first seek into each segment builds and writes
     * its own. */
    uint64_t seg_records = ((uint64_t)64 << 20) / per_rec;
    t0 = bench_now_s();
    for (uint64_t s = seg_records / 2; s < records; s += seg_records / 2)
        timed_seek(r, s);
    printf("side files built by the first seeks: %.2f s (about %.1f ms a segment)\n",
           bench_now_s() - t0, (bench_now_s() - t0) * 1e3 / (double)info.segments);

    /* Warm. */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint64_t *ix_ns = malloc(sizeof *ix_ns * (size_t)(seeks > cold_seeks ? seeks : cold_seeks));
    uint64_t *lin_ns = malloc(sizeof *lin_ns * (size_t)(seeks > cold_seeks ? seeks : cold_seeks));
    if (!ix_ns || !lin_ns)
        bench_die("out of memory");
    for (int i = 0; i < seeks; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t seq = rng % records;
        if (index_only) {
            ix_ns[i] = timed_seek(r, seq);
            lin_ns[i] = 0;
        } else if (i % 2) {
            ix_ns[i] = timed_seek(r, seq);
            lin_ns[i] = timed_seek(lr, seq);
        } else {
            lin_ns[i] = timed_seek(lr, seq);
            ix_ns[i] = timed_seek(r, seq);
        }
    }
    printf("\n  %-22s %8s %10s %10s   (microseconds)\n", "seek + next", "median", "p99", "max");
    report("warm, index", ix_ns, (size_t)seeks);
    if (!index_only)
        report("warm, linear walk", lin_ns, (size_t)seeks);

    /* Warm, by time: the same, to a random record's time. */
    for (int i = 0; i < seeks; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t seq = rng % records, t = time_of(r, seq);
        if (index_only) {
            ix_ns[i] = timed_seek_time(r, t, seq);
            lin_ns[i] = 0;
        } else if (i % 2) {
            ix_ns[i] = timed_seek_time(r, t, seq);
            lin_ns[i] = timed_seek_time(lr, t, seq);
        } else {
            lin_ns[i] = timed_seek_time(lr, t, seq);
            ix_ns[i] = timed_seek_time(r, t, seq);
        }
    }
    report("warm, time, index", ix_ns, (size_t)seeks);
    if (!index_only)
        report("warm, time, linear", lin_ns, (size_t)seeks);

    /* Cold. */
    char why[300];
    if (cold_seeks > 0 && drop_caches(why, sizeof why) == 0) {
        for (int i = 0; i < cold_seeks; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            uint64_t seq = rng % records;
            for (int linear = 0; linear < 2 - index_only; linear++) {
                durlog_reader *cr = open_reader(linear);
                if (drop_caches(why, sizeof why))
                    bench_die("%s", why);
                (linear ? lin_ns : ix_ns)[i] = timed_seek(cr, seq);
                durlog_reader_close(cr);
            }
        }
        report("cold, index", ix_ns, (size_t)cold_seeks);
        if (!index_only)
            report("cold, linear walk", lin_ns, (size_t)cold_seeks);
        for (int i = 0; i < cold_seeks; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            uint64_t seq = rng % records, t = time_of(r, seq);
            for (int linear = 0; linear < 2 - index_only; linear++) {
                durlog_reader *cr = open_reader(linear);
                if (drop_caches(why, sizeof why))
                    bench_die("%s", why);
                (linear ? lin_ns : ix_ns)[i] = timed_seek_time(cr, t, seq);
                durlog_reader_close(cr);
            }
        }
        report("cold, time, index", ix_ns, (size_t)cold_seeks);
        if (!index_only)
            report("cold, time, linear", lin_ns, (size_t)cold_seeks);
    } else if (cold_seeks > 0) {
        printf("  cold: skipped (%s)\n", why);
    }
    durlog_reader_close(r);
    durlog_reader_close(lr);
    free(ix_ns);
    free(lin_ns);
    return bench_scratch_remove() ? 1 : 0;
}
