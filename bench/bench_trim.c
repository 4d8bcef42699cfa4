/*
 * bench_trim.c - what a trim costs the appenders: append latency (p50,
 * p99) while another process trims 100 segments of the same log, against
 * the same appends without a trim.
 *
 * Each repeat prepares a log of 101 sealed segments (64 KiB each), then:
 *   - with a trim: a forked process opens the log and removes the 100
 *     oldest segments (durlog_trim: an unlink and a directory fsync each);
 *     from the moment it starts until it is done, this process appends
 *     100-byte records at the level asked and times each append;
 *   - without: on a fresh copy of the same log, the same number of appends,
 *     timed the same way, with nothing else running.
 * Both rows for each level (kernel, sync), interleaved, --repeats times;
 * medians. Target (issue #18): p99 with a trim <= 1.2 x p99 without.
 *
 * Usage: bench_trim [--dir DIR] [--repeats R]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durlog.h"
#include "lib/benchlib.h"

static const char *dir = ".";
static int repeats = 5;
#define MAX_REPEATS 15
#define SEGMENTS 101
#define SEGMENT_SIZE 65536
#define RECORD 100
#define MAX_SAMPLES 4000000
/* How many sync appends the run without a trim makes at most, when the
 * trim lasted long enough for more: enough for a p99. */
#define MIN_SAMPLES 200

struct shared {
    _Atomic int started, done;
    int rc;
};

/* A log of SEGMENTS segments, all but the last sealed (closed). */
static void prepare(const char *path)
{
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = SEGMENT_SIZE;
    durlog *log;
    int rc = durlog_open(path, &o, &log);
    if (rc)
        bench_die_code("durlog_open", rc, path);
    char *rec = bench_new_record(RECORD);
    if (!rec)
        bench_die("out of memory");
    durlog_info info;
    do {
        for (int i = 0; i < 1000; i++)
            if ((rc = durlog_append(log, rec, RECORD, DURLOG_KERNEL, NULL)) != 0)
                bench_die_code("durlog_append", rc, durlog_errmsg(log));
        if ((rc = durlog_get_info(log, &info)) != 0)
            bench_die_code("durlog_get_info", rc, durlog_errmsg(log));
    } while (info.segments < SEGMENTS);
    free(rec);
    if ((rc = durlog_close(log)) != 0)
        bench_die_code("durlog_close", rc, NULL);
}

/* The trimming process: removes the 100 oldest segments once told. */
static void trimmer(const char *path, struct shared *sh, struct bench_gate *gate)
{
    bench_gate_child(gate);
    durlog_options o;
    durlog_options_init(&o);
    o.no_create = 1;
    durlog *log;
    int rc = durlog_open(path, &o, &log);
    if (rc == 0) {
        durlog_reader *r;
        durlog_info info;
        rc = durlog_reader_open(path, NULL, &r);
        if (rc == 0) {
            rc = durlog_reader_get_info(r, &info);
            durlog_reader_close(r);
        }
        bench_gate_wait(gate);
        atomic_store(&sh->started, 1);
        /* Up to the last segment: every one before it goes. */
        uint64_t first = 0;
        if (rc == 0)
            rc = durlog_trim(log, info.next_seq, &first);
        atomic_store(&sh->done, 1);
        durlog_close(log);
    }
    atomic_store(&sh->done, 1);
    sh->rc = rc;
    _exit(rc ? 1 : 0);
}

struct row {
    double p50_us, p99_us;
    size_t samples;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static struct row summarize(uint64_t *lat, size_t n)
{
    qsort(lat, n, sizeof *lat, cmp_u64);
    struct row r = { bench_percentile(lat, n, 0.50) / 1000.0,
                     bench_percentile(lat, n, 0.99) / 1000.0, n };
    return r;
}

/* Appends to the log at path at `level` and times each: while the trimmer
 * runs (trim set), or `count` appends. */
static struct row run(const char *path, durlog_level level, int trim, size_t count,
                      uint64_t *lat)
{
    struct shared *sh = bench_shared_alloc(sizeof *sh);
    struct bench_gate gate;
    if (!sh || bench_gate_init(&gate) != 0)
        bench_die("shared memory or a pipe");
    pid_t pid = -1;
    if (trim) {
        pid = fork();
        if (pid < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid == 0)
            trimmer(path, sh, &gate);
    }
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = SEGMENT_SIZE;
    o.no_create = 1;
    durlog *log;
    int rc = durlog_open(path, &o, &log);
    if (rc)
        bench_die_code("durlog_open", rc, path);
    char *rec = bench_new_record(RECORD);
    if (!rec)
        bench_die("out of memory");
    size_t n = 0;
    if (trim) {
        bench_gate_open(&gate);
        while (!atomic_load(&sh->started))
            ;
    }
    while (n < MAX_SAMPLES && (trim ? !atomic_load(&sh->done) : n < count)) {
        bench_stamp_record(rec, RECORD, n);
        uint64_t t0 = bench_now_ns();
        rc = durlog_append(log, rec, RECORD, level, NULL);
        lat[n++] = bench_now_ns() - t0;
        if (rc)
            bench_die_code("durlog_append", rc, durlog_errmsg(log));
    }
    free(rec);
    durlog_close(log);
    if (trim) {
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bench_die_code("the trimmer", sh->rc, NULL);
    }
    munmap(sh, sizeof *sh);
    return summarize(lat, n);
}

int main(int argc, char **argv)
{
    static const struct bench_opt opts[] = {
        BENCH_OPT("--dir", 's', &dir),
        BENCH_OPT_RANGE("--repeats", 'i', &repeats, 1, MAX_REPEATS),
        BENCH_OPT_END,
    };
    int prc = bench_parse_opts(argc, argv, opts, "usage: bench_trim [--dir DIR] [--repeats R]\n");
    if (prc)
        return prc;
    const char *scratch = bench_scratch(dir, "bench_trim");
    char cpu[256];
    struct bench_mount m;
    bench_cpu_model(cpu, sizeof cpu);
    bench_mount_of(scratch, &m);
    printf("bench_trim: %s on %s (%s); %d repeats, trims of %d segments of %d KiB\n", cpu,
           m.point, m.type, repeats, SEGMENTS - 1, SEGMENT_SIZE / 1024);
    uint64_t *lat = malloc(MAX_SAMPLES * sizeof *lat);
    if (!lat)
        bench_die("out of memory");
    char tmpl[4200], a[4200], b[4200], cmd[17000];
    snprintf(tmpl, sizeof tmpl, "%s/template", scratch);
    prepare(tmpl);
    static const durlog_level levels[2] = { DURLOG_KERNEL, DURLOG_SYNC };
    static const char *const names[2] = { "kernel", "sync" };
    printf("%-8s %10s %10s %10s %10s %10s %9s\n", "level", "p50 trim", "p99 trim",
           "p50 none", "p99 none", "samples", "p99 ratio");
    for (int l = 0; l < 2; l++) {
        double p99_with[MAX_REPEATS], p99_without[MAX_REPEATS], ratio[MAX_REPEATS];
        double p50_with[MAX_REPEATS], p50_without[MAX_REPEATS];
        size_t samples = 0;
        for (int i = 0; i < repeats; i++) {
            snprintf(a, sizeof a, "%s/with-%d-%d", scratch, l, i);
            snprintf(b, sizeof b, "%s/without-%d-%d", scratch, l, i);
            snprintf(cmd, sizeof cmd, "cp -a '%s' '%s' && cp -a '%s' '%s'", tmpl, a, tmpl, b);
            if (system(cmd) != 0)
                bench_die("copying the prepared log failed");
            struct row with = run(a, levels[l], 1, 0, lat);
            size_t count = with.samples < MIN_SAMPLES ? MIN_SAMPLES : with.samples;
            struct row without = run(b, levels[l], 0, count, lat);
            p99_with[i] = with.p99_us;
            p99_without[i] = without.p99_us;
            p50_with[i] = with.p50_us;
            p50_without[i] = without.p50_us;
            ratio[i] = without.p99_us > 0 ? with.p99_us / without.p99_us : 0;
            samples += with.samples;
            bench_remove_tree(a);
            bench_remove_tree(b);
        }
        printf("%-8s %9.2fus %9.2fus %9.2fus %9.2fus %10zu %8.2fx\n", names[l],
               bench_median(p50_with, repeats), bench_median(p99_with, repeats),
               bench_median(p50_without, repeats), bench_median(p99_without, repeats),
               samples / (size_t)repeats, bench_median(ratio, repeats));
    }
    free(lat);
    return bench_scratch_remove() ? 1 : 0;
}
