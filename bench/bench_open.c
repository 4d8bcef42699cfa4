/*
 * bench_open.c - how long the first writer (and the first reader) takes to
 * open a big log after a reboot (issue #14).
 *
 * Builds logs of 1, 4 and 10 GiB of 100-byte records with the public API at
 * DURLOG_KERNEL (durlog_append_batch), 64 MiB segments, and closes them: the
 * last writer's close makes the log durable and checkpoints its tail. A size
 * is the bytes of the segment files: size / 64 MiB full segments, so the
 * tail segment is a full one (493,447 records, 64 MiB), the worst case for
 * the "crashed" state below.
 *
 * Then, for each size, state and cache state, R repeats (interleaved: every
 * repeat goes through every size and state before the next begins) of:
 *   - durlog_open() alone, timed (durlog_close untimed, after checking that
 *     the open was the first writer's, rebuilt the log's state, cut nothing,
 *     and reports next_seq = the records appended);
 *   - durlog_reader_open(), durlog_reader_get_info() for next_seq, a seek to
 *     next_seq - 10 and reading the last 10 records, timed together (each
 *     record's seq and payload checked).
 * Each measurement starts from the state it is named for:
 *   reboot   durlog.shm removed: what the first opener after a reboot finds
 *            (the coordination file is gone or from another boot);
 *   crashed  as reboot, and the tail segment's checkpoint cleared (its header
 *            rewritten with flags 0 and its CRC recomputed), as a power loss
 *            during the run leaves it: recovery must read the whole tail
 *            segment. Only with a library that writes checkpoints.
 * and from a cache state:
 *   warm     the same operation was run once just before, untimed;
 *   cold     sync(), then `echo 3 > /proc/sys/vm/drop_caches`.
 *
 * The table shows each row's median, min and max in milliseconds and the
 * median over the target, 50 ms (at most 1.00 meets it); the target
 * is judged on durlog_open in the reboot state, at every size and cache
 * state.
 *
 * Usage: bench_open [DIR] [--sizes 1,4,10] [--repeats R] [--keep] [--quick]
 *                   [--states reboot,crashed] [--samples]
 *   DIR        scratch directory on the disk to measure (default
 *              build/bench-open); the logs are DIR/open-<size>, removed at
 *              the end unless --keep
 *   --sizes    log sizes in GiB (a suffix M means MiB: --sizes 64M,1)
 *   --keep     keep the logs, and reuse logs a previous --keep run left
 *              (DIR/open-<size>.built records how each was made)
 *   --quick    a smoke run: 64 MiB and 256 MiB logs, 2 repeats
 *   --samples  also print every sample, one "sample,..." line each (for
 *              scripts: bench/compare_prev.sh)
 *
 * It also builds against a library from before checkpoints (0f92ecd), for
 * bench/compare_prev.sh: the crashed state is then skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "durlog.h"
#include "format.h"
#include "lib/benchlib.h"

#define RECORD_SIZE 100
#define BATCH 8192
#define LAST_RECORDS 10
#define TARGET_MS 50.0
#define MAX_SIZES 16
#define MAX_REPEATS 100
#define SEGMENT_SIZE DURLOG_DEFAULT_SEGMENT_SIZE

/* A library from before issue #14 has no checkpoint in its headers. */
#ifdef DL_SEG_F_CKPT
#define HAVE_CHECKPOINTS 1
#define LIB_KIND "checkpoints"
#else
#define HAVE_CHECKPOINTS 0
#define LIB_KIND "no-checkpoints"
#endif

enum state { ST_REBOOT, ST_CRASHED, ST_COUNT };
enum cache { C_WARM, C_COLD, C_COUNT };
enum op { OP_OPEN, OP_READER, OP_COUNT };

static const char *const state_names[ST_COUNT] = { "reboot", "crashed" };
static const char *const cache_names[C_COUNT] = { "warm", "cold" };
static const char *const op_names[OP_COUNT] = { "durlog_open",
                                                "reader: open, last 10" };
static const char *const op_keys[OP_COUNT] = { "open", "reader" };

struct logspec {
    uint64_t size;            /* bytes of segment files asked for */
    uint64_t records;         /* records appended */
    uint64_t segments;        /* segment files expected */
    uint64_t tail_first;      /* first_seq of the tail segment */
    uint64_t tail_records;
    uint64_t tail_bytes;      /* header and records of the tail segment */
    char path[PATH_MAX];
    char marker[PATH_MAX];
    double build_s;           /* 0 when reused */
    int tail_cleared;         /* its checkpoint was cleared, and no writer
                                 has opened the log since */
    double samples[ST_COUNT][C_COUNT][OP_COUNT][MAX_REPEATS];
};

static const char *dir = "build/bench-open";
static uint64_t sizes[MAX_SIZES];
static int nsizes;
static int repeats = 5;
static int keep, quick, print_samples;
static int want_state[ST_COUNT] = { 1, 1 };
static struct logspec *logs;

/* ---- sizes and names ---- */

static void size_label(char *buf, size_t len, uint64_t size)
{
    if (size % (1ull << 30) == 0)
        snprintf(buf, len, "%llu GiB", (unsigned long long)(size >> 30));
    else if (size % (1ull << 20) == 0)
        snprintf(buf, len, "%llu MiB", (unsigned long long)(size >> 20));
    else
        snprintf(buf, len, "%llu B", (unsigned long long)size);
}

static void parse_sizes(const char *s)
{
    nsizes = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        uint64_t unit = 1ull << 30;
        if (end == s || v <= 0 || nsizes == MAX_SIZES)
            goto bad;
        if (*end == 'M' || *end == 'm') {
            unit = 1ull << 20;
            end++;
        } else if (*end == 'G' || *end == 'g') {
            end++;
        }
        sizes[nsizes++] = (uint64_t)(v * (double)unit);
        if (*end == ',')
            end++;
        else if (*end)
            goto bad;
        s = end;
    }
    if (nsizes)
        return;
bad:
    fprintf(stderr, "bench_open: bad --sizes list (e.g. 1,4,10 in GiB, or 64M,256M)\n");
    exit(2);
}

static void parse_states(const char *s)
{
    want_state[ST_REBOOT] = strstr(s, "reboot") != NULL;
    want_state[ST_CRASHED] = strstr(s, "crashed") != NULL;
    if (!want_state[ST_REBOOT] && !want_state[ST_CRASHED]) {
        fprintf(stderr, "bench_open: --states takes reboot, crashed or both\n");
        exit(2);
    }
}

/* Records per full segment, and the shape of a log of `size` bytes. */
static void plan(struct logspec *l, uint64_t size)
{
    uint64_t rec = dl_rec_size(RECORD_SIZE);
    uint64_t per_seg = (SEGMENT_SIZE - DL_SEG_HEADER_SIZE) / rec;
    uint64_t full = size / SEGMENT_SIZE, rest = size % SEGMENT_SIZE;
    uint64_t extra = rest > DL_SEG_HEADER_SIZE ? (rest - DL_SEG_HEADER_SIZE) / rec : 0;
    l->size = size;
    l->records = full * per_seg + extra;
    if (l->records == 0)
        bench_die("a log of %llu bytes holds no record", (unsigned long long)size);
    l->segments = full + (extra ? 1 : 0);
    l->tail_records = extra ? extra : per_seg;
    l->tail_first = l->records - l->tail_records;
    l->tail_bytes = DL_SEG_HEADER_SIZE + l->tail_records * rec;
    char label[32];
    size_label(label, sizeof label, size);
    for (char *p = label; *p; p++)
        if (*p == ' ')
            *p = '-';
    snprintf(l->path, sizeof l->path, "%s/open-%s", dir, label);
    snprintf(l->marker, sizeof l->marker, "%s/open-%s.built", dir, label);
}

/* ---- files ---- */

static void remove_logs(void)
{
    if (keep || !logs)
        return;
    for (int i = 0; i < nsizes; i++) {
        if (bench_remove_tree(logs[i].path) != 0)
            fprintf(stderr, "bench_open: could not remove all of %s\n", logs[i].path);
        unlink(logs[i].marker);
    }
}

static void mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            bench_die("mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        bench_die("mkdir %s: %s", buf, strerror(errno));
}

/* File system type and the mount holding `path`. */
static void describe_fs(const char *path, char *out, size_t len)
{
    struct bench_mount m;
    bench_mount_of(path, &m);
    snprintf(out, len, "%s (%s on %s)", m.type, m.device, m.point);
    if (bench_fs_in_memory(m.type))
        fprintf(stderr, "bench_open: warning: %s is on %s: the cold state means "
                        "nothing there\n", path, m.type);
}

/* ---- building a log ---- */

static void fill(unsigned char *rec, uint64_t seq)
{
    for (int i = 8; i < RECORD_SIZE; i++)
        rec[i] = (unsigned char)('a' + (seq + (uint64_t)i) % 26);
    memcpy(rec, &seq, 8);
}

static int check_record(const durlog_record *rec, uint64_t seq)
{
    unsigned char want[RECORD_SIZE];
    fill(want, seq);
    return rec->seq == seq && rec->len == RECORD_SIZE &&
           !memcmp(rec->data, want, RECORD_SIZE);
}

static int marker_matches(const struct logspec *l)
{
    char want[256], got[256] = "";
    FILE *f = fopen(l->marker, "r");
    snprintf(want, sizeof want, "records=%llu segment_size=%llu record_size=%d lib=%s\n",
             (unsigned long long)l->records, (unsigned long long)SEGMENT_SIZE, RECORD_SIZE,
             LIB_KIND);
    if (!f)
        return 0;
    if (!fgets(got, sizeof got, f))
        got[0] = '\0';
    fclose(f);
    struct stat st;
    return !strcmp(want, got) && stat(l->path, &st) == 0;
}

static void build(struct logspec *l)
{
    static unsigned char data[BATCH][RECORD_SIZE];
    static durlog_iov iov[BATCH];
    durlog_options o;
    durlog *log;
    char err[512] = "";
    durlog_info info;

    if (keep && marker_matches(l)) {
        l->build_s = 0;
        return;
    }
    if (bench_remove_tree(l->path) != 0)
        bench_die("cannot remove the old %s", l->path);
    unlink(l->marker);
    durlog_options_init(&o);
    o.segment_size = SEGMENT_SIZE;
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    uint64_t t0 = bench_now_ns();
    int rc = durlog_open(l->path, &o, &log);
    if (rc)
        bench_die("durlog_open %s: %s (%s)", l->path, durlog_strerror(rc), err);
    for (uint64_t seq = 0; seq < l->records;) {
        size_t n = l->records - seq < BATCH ? (size_t)(l->records - seq) : BATCH;
        for (size_t i = 0; i < n; i++) {
            fill(data[i], seq + i);
            iov[i].data = data[i];
            iov[i].len = RECORD_SIZE;
        }
        uint64_t first;
        rc = durlog_append_batch(log, iov, n, DURLOG_KERNEL, &first);
        if (rc)
            bench_die("durlog_append_batch to %s: %s (%s)", l->path, durlog_strerror(rc),
                      durlog_errmsg(log));
        if (first != seq)
            bench_die("%s: batch got first seq %llu, expected %llu", l->path,
                      (unsigned long long)first, (unsigned long long)seq);
        seq += n;
    }
    rc = durlog_get_info(log, &info);
    if (rc)
        bench_die("durlog_get_info %s: %s", l->path, durlog_strerror(rc));
    if (info.next_seq != l->records || info.segments != l->segments)
        bench_die("%s: built %llu records in %llu segments, expected %llu in %llu", l->path,
                  (unsigned long long)info.next_seq, (unsigned long long)info.segments,
                  (unsigned long long)l->records, (unsigned long long)l->segments);
    rc = durlog_close(log);
    if (rc)
        bench_die("durlog_close %s: %s", l->path, durlog_strerror(rc));
    sync();
    l->build_s = (double)(bench_now_ns() - t0) / 1e9;
    FILE *f = fopen(l->marker, "w");
    if (!f || fprintf(f, "records=%llu segment_size=%llu record_size=%d lib=%s\n",
                      (unsigned long long)l->records, (unsigned long long)SEGMENT_SIZE,
                      RECORD_SIZE, LIB_KIND) < 0 || fclose(f))
        bench_die("cannot write %s", l->marker);
}

/* ---- putting a log in a state ---- */

#if HAVE_CHECKPOINTS
static void tail_segment_path(const struct logspec *l, char *out, size_t len)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, l->tail_first);
    if ((size_t)snprintf(out, len, "%s/%s", l->path, name) >= len)
        bench_die("path too long: %s/%s", l->path, name);
}

/* The tail segment as a power loss during the run leaves it: no checkpoint.
 * The library checkpoints it again at every close and after every recovery,
 * so this is redone before every crashed measurement. */
static void clear_tail_checkpoint(struct logspec *l)
{
    char path[PATH_MAX];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h;
    tail_segment_path(l, path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        bench_die("open %s: %s", path, strerror(errno));
    if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        bench_die("read the header of %s", path);
    int rc = dl_seg_header_decode(hdr, &h);
    if (rc)
        bench_die("%s: header does not decode: %s", path, durlog_strerror(rc));
    if (!(h.flags & DL_SEG_F_CKPT)) {
        if (l->tail_cleared) {
            /* Only readers since the last clear: nothing to do. */
            close(fd);
            return;
        }
        bench_die("%s: the tail has no checkpoint after a clean close (flags %u)", path,
                  h.flags);
    }
    if (h.ckpt_seq != l->records)
        bench_die("%s: checkpoint at %llu, expected %llu", path,
                  (unsigned long long)h.ckpt_seq, (unsigned long long)l->records);
    h.flags = 0; /* flags (offset 56) 0; CRC (offset 60) recomputed */
    dl_seg_header_encode(hdr, &h);
    if (pwrite(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        bench_die("write the header of %s: %s", path, strerror(errno));
    close(fd);
    if (dl_seg_header_decode(hdr, &h) || h.flags)
        bench_die("%s: header rewrite did not clear the checkpoint", path);
    l->tail_cleared = 1;
}
#endif

static void drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "3\n", 2) != 2)
        bench_die("cannot drop the page cache (/proc/sys/vm/drop_caches: %s): run as "
                  "root, or measure warm only", strerror(errno));
    close(fd);
}

static void prepare(struct logspec *l, enum state s, enum cache c)
{
    char shm[PATH_MAX + 16];
    snprintf(shm, sizeof shm, "%s/durlog.shm", l->path);
    if (unlink(shm) && errno != ENOENT)
        bench_die("unlink %s: %s", shm, strerror(errno));
#if HAVE_CHECKPOINTS
    if (s == ST_CRASHED)
        clear_tail_checkpoint(l);
#else
    (void)s;
#endif
    if (c == C_COLD)
        drop_caches();
}

/* ---- the measured operations ---- */

static double time_open(struct logspec *l)
{
    durlog_options o;
    durlog *log;
    char err[512] = "";
    durlog_info info;
    durlog_recovery rep;

    durlog_options_init(&o);
    o.no_create = 1;
    o.segment_size = SEGMENT_SIZE;
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    uint64_t t0 = bench_now_ns();
    int rc = durlog_open(l->path, &o, &log);
    uint64_t t1 = bench_now_ns();
    if (rc)
        bench_die("durlog_open %s: %s (%s)", l->path, durlog_strerror(rc), err);
    durlog_last_recovery(log, &rep);
    rc = durlog_get_info(log, &info);
    if (rc)
        bench_die("durlog_get_info %s: %s", l->path, durlog_strerror(rc));
    if (!rep.performed)
        bench_die("%s: the open did not rebuild the log's state: not the after-reboot state",
                  l->path);
    if (rep.bytes_cut || rep.segments_removed)
        bench_die("%s: recovery cut %llu bytes and %llu segments of a cleanly closed log",
                  l->path, (unsigned long long)rep.bytes_cut,
                  (unsigned long long)rep.segments_removed);
    if (info.next_seq != l->records || info.first_seq != 0)
        bench_die("%s: after open the log holds records %llu..%llu, expected 0..%llu", l->path,
                  (unsigned long long)info.first_seq, (unsigned long long)info.next_seq,
                  (unsigned long long)l->records);
    rc = durlog_close(log);
    if (rc)
        bench_die("durlog_close %s: %s", l->path, durlog_strerror(rc));
    l->tail_cleared = 0; /* recovery and the last close checkpoint it again */
    return (double)(t1 - t0) / 1e6;
}

static double time_reader(const struct logspec *l)
{
    durlog_reader_options o;
    durlog_reader *r;
    durlog_info info;
    durlog_record rec;
    char err[512] = "";

    durlog_reader_options_init(&o);
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    uint64_t t0 = bench_now_ns();
    int rc = durlog_reader_open(l->path, &o, &r);
    if (rc)
        bench_die("durlog_reader_open %s: %s (%s)", l->path, durlog_strerror(rc), err);
    rc = durlog_reader_get_info(r, &info);
    if (rc)
        bench_die("durlog_reader_get_info %s: %s (%s)", l->path, durlog_strerror(rc),
                  durlog_reader_errmsg(r));
    if (info.next_seq != l->records)
        bench_die("%s: the reader sees next_seq %llu, expected %llu", l->path,
                  (unsigned long long)info.next_seq, (unsigned long long)l->records);
    rc = durlog_reader_seek(r, info.next_seq - LAST_RECORDS);
    if (rc)
        bench_die("durlog_reader_seek %s: %s (%s)", l->path, durlog_strerror(rc),
                  durlog_reader_errmsg(r));
    for (uint64_t seq = info.next_seq - LAST_RECORDS; seq < info.next_seq; seq++) {
        rc = durlog_reader_next(r, &rec);
        if (rc)
            bench_die("durlog_reader_next %s at %llu: %s (%s)", l->path,
                      (unsigned long long)seq, durlog_strerror(rc), durlog_reader_errmsg(r));
        if (!check_record(&rec, seq))
            bench_die("%s: record %llu read back wrong (seq %llu, %zu bytes)", l->path,
                      (unsigned long long)seq, (unsigned long long)rec.seq, rec.len);
    }
    uint64_t t1 = bench_now_ns();
    rc = durlog_reader_next(r, &rec);
    if (rc != DURLOG_EEND)
        bench_die("%s: the reader went on past record %llu (%s)", l->path,
                  (unsigned long long)info.next_seq - 1, durlog_strerror(rc));
    durlog_reader_close(r);
    return (double)(t1 - t0) / 1e6;
}

static double measure(struct logspec *l, enum state s, enum cache c, enum op op)
{
    if (c == C_WARM) {
        prepare(l, s, C_WARM);
        (void)(op == OP_OPEN ? time_open(l) : time_reader(l));
    }
    prepare(l, s, c);
    return op == OP_OPEN ? time_open(l) : time_reader(l);
}

/* ---- output ---- */

static void print_rows(enum state s)
{
    printf("%-9s %-6s %-22s %10s %21s %12s\n", "size", "cache", "operation",
           "median ms", "min..max ms", "x 50 ms");
    for (int i = 0; i < nsizes; i++) {
        char label[32];
        size_label(label, sizeof label, logs[i].size);
        for (int op = 0; op < OP_COUNT; op++)
            for (int c = 0; c < C_COUNT; c++) {
                struct bench_spread t = bench_spread_of(logs[i].samples[s][c][op], repeats);
                char range[64];
                snprintf(range, sizeof range, "%.2f..%.2f", t.min, t.max);
                printf("%-9s %-6s %-22s %10.2f %21s %12.3f\n", label, cache_names[c],
                       op_names[op], t.median, range, t.median / TARGET_MS);
            }
    }
}

static void print_verdict(void)
{
    int missed = 0;
    double worst = 0;
    const char *worst_c = "";
    char worst_size[32] = "";
    for (int i = 0; i < nsizes; i++)
        for (int c = 0; c < C_COUNT; c++) {
            double med = bench_spread_of(logs[i].samples[ST_REBOOT][c][OP_OPEN],
                                         repeats).median;
            if (med > TARGET_MS)
                missed++;
            if (med > worst) {
                worst = med;
                worst_c = cache_names[c];
                size_label(worst_size, sizeof worst_size, logs[i].size);
            }
        }
    printf("\ntarget: durlog_open after a reboot < 50 ms at every size, warm and cold: "
           "worst median %.2f ms (%s, %s) = %.3f x target: %s\n", worst, worst_size,
           worst_c, worst / TARGET_MS,
           missed ? "MISSED" : "target met");
}

int main(int argc, char **argv)
{
    const char *states_arg = NULL, *sizes_arg = NULL;
    const struct bench_opt opts[] = {
        BENCH_OPT("", 's', &dir),
        BENCH_OPT("--sizes", 's', &sizes_arg),
        BENCH_OPT_RANGE("--repeats", 'i', &repeats, 1, MAX_REPEATS),
        BENCH_OPT("--keep", 'b', &keep),
        BENCH_OPT("--quick", 'b', &quick),
        BENCH_OPT("--states", 's', &states_arg),
        BENCH_OPT("--samples", 'b', &print_samples),
        BENCH_OPT_END,
    };

    if (bench_parse_opts(argc, argv, opts, "usage: bench_open [DIR] [--sizes 1,4,10] "
                         "[--repeats R] [--keep] [--quick] [--states reboot,crashed] "
                         "[--samples]"))
        return 2;
    if (quick) {
        parse_sizes("64M,256M");
        repeats = 2;
    }
    if (sizes_arg)
        parse_sizes(sizes_arg);
    if (!nsizes)
        parse_sizes("1,4,10");
    if (states_arg)
        parse_states(states_arg);
    if (want_state[ST_CRASHED] && !HAVE_CHECKPOINTS) {
        want_state[ST_CRASHED] = 0;
        if (!want_state[ST_REBOOT])
            bench_die("this library writes no checkpoints: the crashed state does not apply");
        fprintf(stderr, "bench_open: library without checkpoints: crashed state skipped\n");
    }

    mkdir_p(dir);
    logs = calloc((size_t)nsizes, sizeof *logs);
    if (!logs)
        bench_die("out of memory");
    for (int i = 0; i < nsizes; i++)
        plan(&logs[i], sizes[i]);

    char cpu[256], fs[PATH_MAX + 300], date[64];
    bench_at_failure(remove_logs);
    struct utsname u;
    time_t now = time(NULL);
    bench_cpu_model(cpu, sizeof cpu);
    uname(&u);
    describe_fs(dir, fs, sizeof fs);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    printf("durlog open after a reboot (bench_open), %s\n", date);
    printf("cpu: %s, %ld cores; kernel: %s %s; directory: %s, %s\n", cpu,
           sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, dir, fs);
    printf("library: %s; %d-byte records appended at kernel level; %llu MiB segments; "
           "%d repeats, interleaved; medians\n\n",
           LIB_KIND, RECORD_SIZE, (unsigned long long)(SEGMENT_SIZE >> 20), repeats);
    fflush(stdout);

    for (int i = 0; i < nsizes; i++) {
        struct logspec *l = &logs[i];
        char label[32];
        size_label(label, sizeof label, l->size);
        build(l);
        if (l->build_s > 0)
            printf("built %-8s %12llu records, %4llu segments in %.1f s (%.0f MiB/s, "
                   "close and sync included)\n", label, (unsigned long long)l->records,
                   (unsigned long long)l->segments, l->build_s,
                   (double)l->size / l->build_s / 1048576.0);
        else
            printf("reused %-7s %12llu records, %4llu segments (%s)\n", label,
                   (unsigned long long)l->records, (unsigned long long)l->segments,
                   l->marker);
        fflush(stdout);
    }

    for (int r = 0; r < repeats; r++) {
        for (int i = 0; i < nsizes; i++)
            for (int s = 0; s < ST_COUNT; s++) {
                if (!want_state[s])
                    continue;
                for (int op = 0; op < OP_COUNT; op++)
                    for (int c = 0; c < C_COUNT; c++) {
                        double ms = measure(&logs[i], (enum state)s, (enum cache)c,
                                            (enum op)op);
                        logs[i].samples[s][c][op][r] = ms;
                        if (print_samples)
                            printf("sample,%s,%llu,%s,%s,%s,%d,%.3f\n", LIB_KIND,
                                   (unsigned long long)logs[i].size, state_names[s],
                                   cache_names[c], op_keys[op], r, ms);
                    }
            }
        fprintf(stderr, "repeat %d of %d done\n", r + 1, repeats);
    }

    if (want_state[ST_REBOOT]) {
        printf("\nreboot: durlog.shm removed (first opener after a reboot); every log "
               "closed cleanly, so its tail is checkpointed%s\n\n",
               HAVE_CHECKPOINTS ? "" : " (this library writes no checkpoints)");
        print_rows(ST_REBOOT);
        print_verdict();
    }
    if (want_state[ST_CRASHED]) {
        printf("\ncrashed: as reboot, and the tail segment's checkpoint cleared (a power "
               "loss during the run): recovery reads the whole tail segment\n");
        for (int i = 0; i < nsizes; i++) {
            char label[32];
            size_label(label, sizeof label, logs[i].size);
            printf("  %-8s tail segment: %llu records, %.1f MiB\n", label,
                   (unsigned long long)logs[i].tail_records,
                   (double)logs[i].tail_bytes / 1048576.0);
        }
        printf("\n");
        print_rows(ST_CRASHED);
    }
    remove_logs();
    if (!keep)
        printf("\nlogs removed (--keep keeps them)\n");
    return 0;
}
