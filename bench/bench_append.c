/*
 * bench_append.c - append throughput of 100-byte records, one thread.
 *
 * Every row of the table is measured in the same run, interleaved round-robin
 * (row a, row b, ..., row a, row b, ...), and reported as the median of its
 * repeats, so that the ratios between rows mean something on a noisy shared
 * machine: a burst of background load hits every row about equally.
 *
 * Rows (bench/README.md explains them for readers of the table):
 *   fwrite           stdio fwrite per record; fclose is timed (hands the data
 *                    to the kernel)
 *   write            one write() per record on an O_APPEND file
 *   write+fdatasync  one write() and one fdatasync() per record
 *   durlog buffered  durlog_append(DURLOG_BUFFERED) per record, then one
 *                    durlog_flush(DURLOG_KERNEL), both timed
 *   durlog kernel    durlog_append(DURLOG_KERNEL) per record
 *   durlog interval  durlog_append(DURLOG_INTERVAL) per record
 *   durlog sync      durlog_append(DURLOG_SYNC) per record, one writer waiting
 *                    on each record
 * Opening and closing files and logs happen outside the timed region, except
 * fclose for the fwrite row. Each repeat writes a fresh file or log, deleted
 * right after it: durlog preallocates its segments, so keeping them would
 * fill the disk.
 *
 * The three ratios the targets are judged by are computed from medians of
 * this one run: buffered/fwrite >= 0.9, kernel/write >= 5,
 * sync/(write+fdatasync) >= 0.9.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durlog.h"
#include "lib/benchlib.h"

/* The record size the targets are stated for. */
#define RECORD_SIZE 100

#define DEFAULT_RECORDS 1000000
#define DEFAULT_SYNC_RECORDS 2000
#define DEFAULT_REPEATS 5

enum row_id {
    ROW_FWRITE,
    ROW_WRITE,
    ROW_WRITE_FDATASYNC,
    ROW_BUFFERED,
    ROW_KERNEL,
    ROW_INTERVAL,
    ROW_SYNC,
    ROW_COUNT
};

struct config {
    const char *dir;          /* parent of the scratch directory */
    int records;              /* N: records per repeat, non-fsync rows */
    int sync_records;         /* M: records per repeat, fsync rows */
    int repeats;              /* R */
    int json;
};

struct row {
    const char *name;
    const char *json_name;
    int is_sync_row;          /* uses M records instead of N */
    double *rates;            /* records/s of each repeat */
    struct bench_spread spread;
};

/* A ratio between two rows' medians, and the target it is judged against. */
struct ratio {
    const char *name;
    const char *json_name;
    enum row_id numerator, denominator;
    double target;
};

static const struct ratio ratios[] = {
    { "buffered / fwrite", "buffered_over_fwrite",
      ROW_BUFFERED, ROW_FWRITE, 0.9 },
    { "kernel / write()", "kernel_over_write",
      ROW_KERNEL, ROW_WRITE, 5.0 },
    { "sync / write()+fdatasync", "sync_over_write_fdatasync",
      ROW_SYNC, ROW_WRITE_FDATASYNC, 0.9 },
};

/* The scratch directory of the run (bench_scratch). */
static const char *scratch_dir;

static void scratch_path(char *out, size_t size, const char *name, int repeat)
{
    int n = snprintf(out, size, "%s/%s-%d", scratch_dir, name, repeat);

    if (n < 0 || (size_t)n >= size)
        bench_die("path too long under %s", scratch_dir);
}

/* The record the plain-file rows write, stamped with each one's index. */
static char *record;

/* ---- the plain-file rows ---- */

static double run_fwrite(const char *path, long n)
{
    FILE *f = fopen(path, "w");
    double start, end;

    if (!f)
        bench_die("fopen %s: %s", path, strerror(errno));
    start = bench_now_s();
    for (long i = 0; i < n; i++) {
        bench_stamp_record(record, RECORD_SIZE, (uint64_t)i);
        if (fwrite(record, RECORD_SIZE, 1, f) != 1)
            bench_die("fwrite %s: %s", path, strerror(errno));
    }
    if (fclose(f) != 0)
        bench_die("fclose %s: %s", path, strerror(errno));
    end = bench_now_s();
    return end - start;
}

/* One write() per record, retried until whole (a regular-file write comes
 * back short only when the disk fills, but a benchmark must not hide that). */
static void write_record(int fd, const char *path)
{
    size_t done = 0;

    while (done < RECORD_SIZE) {
        ssize_t w = write(fd, record + done, RECORD_SIZE - done);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            bench_die("write %s: %s", path, strerror(errno));
        }
        done += (size_t)w;
    }
}

static double run_write(const char *path, long n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC,
                  0644);
    double start, end;

    if (fd < 0)
        bench_die("open %s: %s", path, strerror(errno));
    start = bench_now_s();
    for (long i = 0; i < n; i++) {
        bench_stamp_record(record, RECORD_SIZE, (uint64_t)i);
        write_record(fd, path);
    }
    end = bench_now_s();
    if (close(fd) != 0)
        bench_die("close %s: %s", path, strerror(errno));
    return end - start;
}

/* The reference for DURLOG_SYNC: the record is on stable storage before
 * the next one is written. */
static double run_write_fdatasync(const char *path, long n)
{
    struct bench_fsync_run run = { .size = RECORD_SIZE, .records = (uint64_t)n };
    struct bench_timing t;
    char err[PATH_MAX + 100];

    if (bench_write_fdatasync(path, &run, &t, err, sizeof err) != 0)
        bench_die("%s", err);
    return t.seconds;
}

/* ---- the durlog rows ---- */

static double run_durlog(const char *path, long n, durlog_level level)
{
    struct bench_append_run run = { .level = level, .size = RECORD_SIZE,
                                    .records = (uint64_t)n };
    struct bench_timing t;
    char err[PATH_MAX + 600];

    if (bench_append_new_log(path, &run, &t, err, sizeof err) < 0)
        bench_die("%s", err);
    return t.seconds;
}

/* Runs one repeat of one row on a fresh file or log and deletes it after;
 * returns records/s. */
static double run_row(enum row_id id, const struct row *row,
                      const struct config *cfg, int repeat)
{
    static const durlog_level levels[ROW_COUNT] = {
        [ROW_BUFFERED] = DURLOG_BUFFERED, [ROW_KERNEL] = DURLOG_KERNEL,
        [ROW_INTERVAL] = DURLOG_INTERVAL, [ROW_SYNC] = DURLOG_SYNC,
    };
    long n = row->is_sync_row ? cfg->sync_records : cfg->records;
    char path[PATH_MAX];
    double seconds;

    scratch_path(path, sizeof path, row->json_name, repeat);
    if (id == ROW_FWRITE)
        seconds = run_fwrite(path, n);
    else if (id == ROW_WRITE)
        seconds = run_write(path, n);
    else if (id == ROW_WRITE_FDATASYNC)
        seconds = run_write_fdatasync(path, n);
    else
        seconds = run_durlog(path, n, levels[id]);
    if (bench_remove_tree(path) != 0)
        bench_die("could not remove %s", path);
    if (seconds <= 0)
        bench_die("%s: timer did not advance", row->name);
    return (double)n / seconds;
}

/* ---- statistics and output ---- */

static double ratio_value(const struct ratio *r, const struct row *rows)
{
    return rows[r->numerator].spread.median / rows[r->denominator].spread.median;
}

static void print_table(const struct row *rows, const struct config *cfg)
{
    printf("durlog append benchmark: %d-byte records, one thread, "
           "%d repeats per row (interleaved), median shown\n",
           RECORD_SIZE, cfg->repeats);
    printf("records per repeat: %d (fsync rows: %d); scratch dir %s "
           "(removed at exit)\n\n",
           cfg->records, cfg->sync_records, scratch_dir);
    printf("%-18s %9s %14s %10s   %s\n", "row", "records", "records/s",
           "us/record", "spread (min..max records/s)");
    for (int i = 0; i < ROW_COUNT; i++) {
        const struct row *row = &rows[i];

        printf("%-18s %9d %14.0f %10.3f   %.0f..%.0f\n", row->name,
               row->is_sync_row ? cfg->sync_records : cfg->records,
               row->spread.median, 1e6 / row->spread.median, row->spread.min,
               row->spread.max);
    }
    printf("\n%-26s %8s %8s   %s\n", "ratio (of medians)", "value", "target",
           "result");
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
        double v = ratio_value(&ratios[i], rows);
        char target[16];

        snprintf(target, sizeof target, ">= %g", ratios[i].target);
        printf("%-26s %8.2f %8s   %s\n", ratios[i].name, v, target,
               v >= ratios[i].target ? "target met" : "MISSED");
    }
}

static void print_json(const struct row *rows, const struct config *cfg)
{
    printf("{\"record_size\":%d,\"records\":%d,\"sync_records\":%d,"
           "\"repeats\":%d,\"rows\":[",
           RECORD_SIZE, cfg->records, cfg->sync_records, cfg->repeats);
    for (int i = 0; i < ROW_COUNT; i++) {
        const struct row *row = &rows[i];

        printf("%s{\"name\":\"%s\",\"records\":%d,\"records_per_s\":%.1f,"
               "\"us_per_record\":%.4f,\"min_records_per_s\":%.1f,"
               "\"max_records_per_s\":%.1f,\"samples\":[",
               i ? "," : "", row->json_name,
               row->is_sync_row ? cfg->sync_records : cfg->records,
               row->spread.median, 1e6 / row->spread.median, row->spread.min,
               row->spread.max);
        for (int r = 0; r < cfg->repeats; r++)
            printf("%s%.1f", r ? "," : "", row->rates[r]);
        printf("]}");
    }
    printf("],\"ratios\":[");
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++) {
        double v = ratio_value(&ratios[i], rows);

        printf("%s{\"name\":\"%s\",\"value\":%.4f,\"target\":%.1f,"
               "\"met\":%s}",
               i ? "," : "", ratios[i].json_name, v, ratios[i].target,
               v >= ratios[i].target ? "true" : "false");
    }
    printf("]}\n");
}

/* ---- command line ---- */

#define STR_(x) #x
#define STR(x) STR_(x)

static void parse_args(int argc, char **argv, struct config *cfg)
{
    const struct bench_opt opts[] = {
        BENCH_OPT("--dir", 's', &cfg->dir),
        BENCH_OPT_RANGE("--records", 'i', &cfg->records, 1, 0),
        BENCH_OPT_RANGE("--repeats", 'i', &cfg->repeats, 1, 0),
        BENCH_OPT_RANGE("--sync-records", 'i', &cfg->sync_records, 1, 0),
        BENCH_OPT("--json", 'b', &cfg->json),
        BENCH_OPT_END,
    };

    *cfg = (struct config){ ".", DEFAULT_RECORDS, DEFAULT_SYNC_RECORDS, DEFAULT_REPEATS, 0 };
    if (bench_parse_opts(argc, argv, opts,
            "usage: bench_append [--dir DIR] [--records N] [--repeats R]\n"
            "                    [--sync-records M] [--json]\n"
            "  --dir DIR          where to create the scratch directory (default .)\n"
            "  --records N        records per repeat, non-fsync rows (default "
            STR(DEFAULT_RECORDS) ")\n"
            "  --repeats R        repeats per row, median reported (default "
            STR(DEFAULT_REPEATS) ")\n"
            "  --sync-records M   records per repeat, fsync rows (default "
            STR(DEFAULT_SYNC_RECORDS) ")\n"
            "  --json             print one JSON object instead of the table"))
        exit(2);
}

int main(int argc, char **argv)
{
    struct row rows[ROW_COUNT] = {
        [ROW_FWRITE] = { .name = "fwrite", .json_name = "fwrite" },
        [ROW_WRITE] = { .name = "write()", .json_name = "write" },
        [ROW_WRITE_FDATASYNC] = { .name = "write()+fdatasync",
                                  .json_name = "write_fdatasync", .is_sync_row = 1 },
        [ROW_BUFFERED] = { .name = "durlog buffered", .json_name = "durlog_buffered" },
        [ROW_KERNEL] = { .name = "durlog kernel", .json_name = "durlog_kernel" },
        [ROW_INTERVAL] = { .name = "durlog interval", .json_name = "durlog_interval" },
        [ROW_SYNC] = { .name = "durlog sync", .json_name = "durlog_sync", .is_sync_row = 1 },
    };
    struct config cfg;

    parse_args(argc, argv, &cfg);
    record = bench_new_record(RECORD_SIZE);
    if (!record)
        bench_die("out of memory");
    scratch_dir = bench_scratch(cfg.dir, "bench-tmp");
    for (int i = 0; i < ROW_COUNT; i++) {
        rows[i].rates = calloc((size_t)cfg.repeats, sizeof *rows[i].rates);
        if (!rows[i].rates)
            bench_die("out of memory");
    }
    if (!cfg.json) {
        printf("running %d repeats of %d rows...\n", cfg.repeats,
               ROW_COUNT);
        fflush(stdout);
    }
    for (int r = 0; r < cfg.repeats; r++)
        for (int i = 0; i < ROW_COUNT; i++)
            rows[i].rates[r] = run_row((enum row_id)i, &rows[i], &cfg, r);
    for (int i = 0; i < ROW_COUNT; i++)
        rows[i].spread = bench_spread_of(rows[i].rates, cfg.repeats);
    if (cfg.json)
        print_json(rows, &cfg);
    else
        print_table(rows, &cfg);
    for (int i = 0; i < ROW_COUNT; i++)
        free(rows[i].rates);
    free(record);
    return bench_scratch_remove() ? 1 : 0;
}
