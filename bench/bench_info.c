/*
 * bench_info.c - how long `durlog info` takes on a log of many segments
 * (issue #18: target <= 20 ms for 1,000 segments, whatever the number of
 * records).
 *
 * Builds a log of N segments (default 1,000) with the smallest segment size
 * (4 KiB, about 34 records of 100 bytes each) through the public API at
 * DURLOG_KERNEL, and closes it: every segment but the tail is sealed, the
 * tail checkpointed. Then R repeats (default 20) of each, interleaved:
 *   reader  durlog_reader_open + durlog_reader_get_info + durlog_reader_close
 *           (what `durlog info LOG` does);
 *   writer  durlog_get_info on a writer that has the log open (opened once,
 *           untimed, after the reader repeats).
 * Each row prints the median, min and max in milliseconds and the median
 * over the 20 ms target. Each measurement also checks the answer: N
 * segments and next_seq = the records appended.
 *
 * Usage: bench_info [--dir DIR] [--segments N] [--repeats R]
 * Uses only the public API, so it also builds against an older library
 * (bench/README.md: the comparison with the commit before).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durlog.h"
#include "lib/benchlib.h"

#define RECORD_SIZE 100
#define SEGMENT_SIZE 4096
#define TARGET_MS 20.0

static int check_info(const char *what, const durlog_info *info, uint64_t segs, uint64_t n)
{
    if (info->segments == segs && info->next_seq == n && info->first_seq == 0)
        return 0;
    fprintf(stderr, "bench_info: %s reports %" PRIu64 " segments, next_seq %" PRIu64
            ", first_seq %" PRIu64 "; the log has %" PRIu64 " segments and %" PRIu64
            " records\n", what, info->segments, info->next_seq, info->first_seq, segs, n);
    return -1;
}

static void row(const char *name, double *ms, int n)
{
    struct bench_spread sp = bench_spread_of(ms, n);
    printf("%-40s %8.2f %8.2f %8.2f %8.2f\n", name, sp.median, sp.min, sp.max,
           sp.median / TARGET_MS);
}

int main(int argc, char **argv)
{
    const char *parent = NULL;
    int segments = 1000, repeats = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            parent = argv[++i];
        else if (!strcmp(argv[i], "--segments") && i + 1 < argc)
            segments = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_info [--dir DIR] [--segments N] [--repeats R]\n");
            return 2;
        }
    }
    if (segments < 2 || repeats < 1) {
        fprintf(stderr, "bench_info: --segments takes at least 2, --repeats at least 1\n");
        return 2;
    }
    const char *dir = bench_scratch(parent, "info");
    if (!dir)
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/log", dir);

    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = SEGMENT_SIZE;
    durlog *log;
    int rc = durlog_open(path, &o, &log);
    if (rc) {
        fprintf(stderr, "bench_info: open %s: %s\n", path, durlog_strerror(rc));
        return 1;
    }
    char *rec = bench_new_record(RECORD_SIZE);
    uint64_t n = 0;
    durlog_info info;
    for (;;) {
        bench_stamp_record(rec, RECORD_SIZE, n);
        rc = durlog_append(log, rec, RECORD_SIZE, DURLOG_KERNEL, NULL);
        if (rc)
            break;
        n++;
        /* Stop at the last record that fits in the N-th segment. */
        if (n % 16 == 0 && (rc = durlog_get_info(log, &info)) == 0 &&
            info.segments > (uint64_t)segments)
            break;
    }
    if (rc) {
        fprintf(stderr, "bench_info: building the log: %s\n", durlog_strerror(rc));
        return 1;
    }
    rc = durlog_close(log);
    if (rc) {
        fprintf(stderr, "bench_info: close: %s\n", durlog_strerror(rc));
        return 1;
    }
    /* The log holds segments + 1 segments: the last one is the tail. */
    uint64_t segs = info.segments;

    double *reader_ms = calloc((size_t)repeats, sizeof *reader_ms);
    double *writer_ms = calloc((size_t)repeats, sizeof *writer_ms);
    if (!reader_ms || !writer_ms)
        return 1;
    for (int i = 0; i < repeats; i++) {
        durlog_reader *r;
        uint64_t t0 = bench_now_ns();
        rc = durlog_reader_open(path, NULL, &r);
        if (!rc) {
            rc = durlog_reader_get_info(r, &info);
            durlog_reader_close(r);
        }
        reader_ms[i] = (double)(bench_now_ns() - t0) / 1e6;
        if (rc || check_info("durlog_reader_get_info", &info, segs, n))
            return 1;
    }
    rc = durlog_open(path, &o, &log);
    if (rc) {
        fprintf(stderr, "bench_info: reopen %s: %s\n", path, durlog_strerror(rc));
        return 1;
    }
    for (int i = 0; i < repeats; i++) {
        uint64_t t0 = bench_now_ns();
        rc = durlog_get_info(log, &info);
        writer_ms[i] = (double)(bench_now_ns() - t0) / 1e6;
        if (rc || check_info("durlog_get_info", &info, segs, n))
            return 1;
    }
    durlog_close(log);

    char cpu[128];
    bench_cpu_model(cpu, sizeof cpu);
    printf("durlog info on a log of %" PRIu64 " segments of %d bytes (%" PRIu64
           " records of %d bytes), %d repeats; %s\n", segs, SEGMENT_SIZE, n, RECORD_SIZE,
           repeats, cpu);
    printf("%-40s %8s %8s %8s %8s\n", "", "median", "min", "max", "/20ms");
    row("reader open + get_info + close (ms)", reader_ms, repeats);
    row("durlog_get_info on a writer (ms)", writer_ms, repeats);
    free(reader_ms);
    free(writer_ms);
    free(rec);
    bench_scratch_remove();
    return 0;
}
