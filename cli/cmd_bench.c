/*
 * cmd_bench.c - `durlog bench`: the origin articles' experiments and what
 * durlog does instead, measured on the user's own disk.
 *
 * Rows (bench_work.c runs them):
 *   the articles   stdio fwrite per line; write() per line; write() of 500
 *                  lines joined; fwrite+fflush+fdatasync per line
 *   durlog         each level in --levels; sync with 1 thread and with each
 *                  thread count of --threads (group commit)
 *   the cap        one write() of more than the kernel moves in one call,
 *                  and the same bytes through durlog_put's write-all path
 *
 * Every row runs once per round, rounds interleave the rows (so that a slow
 * moment of a shared machine hits many rows a little rather than one row a
 * lot), and each row's rate is the median over the rounds. The fsync and
 * sync rows stop at a time budget rather than after N records, and say so.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

#define MAX_THREADS 1024
#define MAX_THREAD_COUNTS 16   /* entries of --threads */
/* 4 article rows, 3 more levels, sync with 1 thread and each count, 2 cap */
#define MAX_ROWS (4 + 3 + 1 + MAX_THREAD_COUNTS + 2)
/* The most one write() moves on Linux (the kernel's MAX_RW_COUNT: 2 GiB
 * less a page), which the cap row writes past. */
#define LINUX_RW_MAX 0x7ffff000L
#define CAP_BYTES ((size_t)LINUX_RW_MAX + ((size_t)1 << 20) + 4096)

enum kind { K_STDIO, K_WRITE, K_JOINED, K_FSYNC, K_LEVEL, K_SYNC, K_BIGWRITE, K_PUT };

struct plan {
    enum kind kind;
    int arg;                /* level or threads */
    int skip;               /* not run (the note says why) */
    int runs;
    struct bench_result round[16]; /* one per round */
};

static volatile sig_atomic_t stop_signal;

static void on_bench_signal(int sig)
{
    stop_signal = sig;
}

static double rate_of(const struct bench_result *r)
{
    return r->seconds > 0 ? (double)r->records / r->seconds : 0;
}

/* The round with the median rate (of an even count, the lower middle one),
 * so that the records, seconds and rate shown belong together. */
static const struct bench_result *median_round(const struct plan *p)
{
    double rates[16];
    for (int i = 0; i < p->runs; i++)
        rates[i] = rate_of(&p->round[i]);
    return &p->round[bench_median_index(rates, p->runs)];
}

/* ---- options ---- */

/* --levels: names separated by commas, each once. Returns the count. */
static int parse_levels(const struct cli_command *cmd, const char *text, int *levels)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        char name[16];
        durlog_level lv;
        snprintf(name, sizeof name, "%.*s", (int)(len < 15 ? len : 15), p);
        if (len == 0 || len > 15 || durlog_level_parse(name, &lv) != 0)
            cli_usage_error(cmd, "unknown level '%.*s' in --levels (buffered, kernel, "
                            "interval, sync)", (int)len, p);
        for (int i = 0; i < n; i++)
            if (levels[i] == (int)lv)
                cli_usage_error(cmd, "level '%s' twice in --levels", name);
        levels[n++] = (int)lv;
        if (!p[len])
            return n;
        p += len + 1;
    }
}

/* ---- machine facts ---- */

static void read_facts(struct bench_facts *f, const char *dir)
{
    struct utsname u;
    snprintf(f->kernel, sizeof f->kernel, "%s", uname(&u) == 0 ? u.release : "unknown");

    bench_cpu_model(f->cpu, sizeof f->cpu);
    struct bench_mount m;
    bench_mount_of(dir, &m);
    snprintf(f->fs_type, sizeof f->fs_type, "%s", m.type);
    if (bench_fs_in_memory(f->fs_type))
        snprintf(f->warning, sizeof f->warning, "%s keeps files in memory: fdatasync does "
                 "nothing there, so the fsync and sync rows say nothing about a disk",
                 f->fs_type);

    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(f->date, sizeof f->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the rows ---- */

/* The rows whose name is fixed, by kind; those of K_LEVEL and K_SYNC name
 * their level or thread count. */
static const struct {
    const char *group, *name;
} row_names[] = {
    [K_STDIO] = { "article", "stdio fwrite per line, one flush" },
    [K_WRITE] = { "article", "write() per line" },
    [K_JOINED] = { "article", "write() of 500 lines joined" },
    [K_FSYNC] = { "article", "fwrite+fflush+fdatasync per line" },
    [K_LEVEL] = { "durlog", NULL },
    [K_SYNC] = { "durlog", NULL },
    [K_BIGWRITE] = { "cap", NULL },
    [K_PUT] = { "cap", "same bytes, durlog_put write-all" },
};

static void name_row(const struct plan *p, struct bench_row *r)
{
    snprintf(r->group, sizeof r->group, "%s", row_names[p->kind].group);
    if (row_names[p->kind].name)
        snprintf(r->name, sizeof r->name, "%s", row_names[p->kind].name);
    else if (p->kind == K_BIGWRITE)
        snprintf(r->name, sizeof r->name, "one write() of %zu bytes", CAP_BYTES);
    else if (p->kind == K_SYNC)
        snprintf(r->name, sizeof r->name, "durlog sync, %d thread%s", p->arg,
                 p->arg == 1 ? "" : "s");
    else if (p->arg == DURLOG_INTERVAL)
        snprintf(r->name, sizeof r->name, "durlog interval (fdatasync every %d ms)",
                 DURLOG_DEFAULT_INTERVAL_MS);
    else
        snprintf(r->name, sizeof r->name, "durlog %s", durlog_level_name(p->arg));
}

static int run_once(struct plan *p, struct bench_ctx *c, struct bench_result *r)
{
    memset(r, 0, sizeof *r);
    r->verified = -1;
    switch (p->kind) {
    case K_STDIO: return bench_stdio(c, r);
    case K_WRITE: return bench_write_each(c, r);
    case K_JOINED: return bench_write_joined(c, r);
    case K_FSYNC: return bench_fsync_each(c, r);
    case K_LEVEL: return bench_durlog_level(c, (durlog_level)p->arg, r);
    case K_SYNC: return bench_durlog_sync(c, p->arg, r);
    case K_BIGWRITE: return bench_one_big_write(c, CAP_BYTES, r);
    case K_PUT: return bench_put_big(c, CAP_BYTES, r);
    }
    return -1;
}

static void describe(const struct plan *p, const struct bench_ctx *c, struct bench_row *row)
{
    const struct bench_result *r = median_round(p);
    unsigned long long passes = (unsigned long long)(r->records / c->records);
    if (p->kind == K_FSYNC && r->by_time)
        snprintf(row->note, sizeof row->note, "fewer records than N: each round stops after "
                 "%.2f s (this round: %llu records)", c->budget_s,
                 (unsigned long long)r->records);
    else if (p->kind == K_SYNC)
        snprintf(row->note, sizeof row->note, "each round runs %.2f s, however many records "
                 "that takes (this round: %llu)", c->budget_s, (unsigned long long)r->records);
    else if (p->kind == K_LEVEL && p->arg == DURLOG_INTERVAL)
        snprintf(row->note, sizeof row->note, "appends return once in the kernel, as at kernel "
                 "level; the engine thread syncs every %d ms in the background (%llu x N "
                 "records)", DURLOG_DEFAULT_INTERVAL_MS, passes);
    else if (p->kind == K_STDIO || p->kind == K_WRITE || p->kind == K_JOINED ||
             p->kind == K_LEVEL)
        snprintf(row->note, sizeof row->note, "%llu x N records (each round runs at least "
                 "%.2f s)", passes, c->min_s);
    else if (p->kind == K_BIGWRITE)
        snprintf(row->note, sizeof row->note, "the first write() took %llu of %zu bytes "
                 "(a short write: Linux caps one call at %ld); %ld calls in all; rate in "
                 "%zu-byte records", (unsigned long long)r->first_call, CAP_BYTES,
                 (long)LINUX_RW_MAX, r->calls, c->size);
    else if (p->kind == K_PUT)
        snprintf(row->note, sizeof row->note, "durlog_put_buffer without its syncs (as the "
                 "row above): temporary file, write-all loop, rename");
}

static int plan_rows(struct plan *plan, const int *levels, int nlevels, const int *threads,
                     int nthreads)
{
    int n = 0;
    plan[n++] = (struct plan){ .kind = K_STDIO };
    plan[n++] = (struct plan){ .kind = K_WRITE };
    plan[n++] = (struct plan){ .kind = K_JOINED };
    plan[n++] = (struct plan){ .kind = K_FSYNC };
    int sync = 0;
    for (int i = 0; i < nlevels; i++) {
        if (levels[i] == DURLOG_SYNC)
            sync = 1;
        else
            plan[n++] = (struct plan){ .kind = K_LEVEL, .arg = levels[i] };
    }
    if (sync) {
        plan[n++] = (struct plan){ .kind = K_SYNC, .arg = 1 };
        for (int i = 0; i < nthreads; i++)
            if (threads[i] != 1)
                plan[n++] = (struct plan){ .kind = K_SYNC, .arg = threads[i] };
    }
    plan[n++] = (struct plan){ .kind = K_BIGWRITE };
    plan[n++] = (struct plan){ .kind = K_PUT };
    return n;
}

int cli_run_bench(const struct cli_command *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "records", required_argument, NULL, 'n' },
        { "size", required_argument, NULL, 's' },
        { "threads", required_argument, NULL, 't' },
        { "levels", required_argument, NULL, 'l' },
        { "rounds", required_argument, NULL, 'r' },
        { "quick", no_argument, NULL, 'q' },
        { "output", required_argument, NULL, 'o' },
        { "plot", required_argument, NULL, 'p' },
        { "only", required_argument, NULL, 'O' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = ".", *plot = NULL, *format = "text", *only = NULL;
    uint64_t records = 100000, size = 100, rounds = 0;
    int threads[MAX_THREAD_COUNTS] = { 1, 4, 16, 64 }, nthreads = 4;
    int levels[4] = { DURLOG_BUFFERED, DURLOG_KERNEL, DURLOG_INTERVAL, DURLOG_SYNC };
    int nlevels = 4, quick = 0, opt, records_given = 0;

    while ((opt = cli_next_option(cmd, argc, argv, ":d:n:s:t:l:r:qo:p:h", longopts)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            if (cli_parse_u64(optarg, &records) || records == 0 || records > (1ull << 40))
                cli_usage_error(cmd, "--records takes a count from 1, not '%s'", optarg);
            records_given = 1;
            break;
        case 's':
            if (cli_parse_u64(optarg, &size) || size < 2 || size > (1u << 20))
                cli_usage_error(cmd, "--size takes bytes per record from 2 to 1048576, "
                                "not '%s'", optarg);
            break;
        case 't':
            nthreads = bench_parse_list(optarg, threads, MAX_THREAD_COUNTS, 1, MAX_THREADS);
            if (nthreads <= 0)
                cli_usage_error(cmd, "--threads takes up to %d different thread counts from "
                                "1 to %d, separated by commas (e.g. 1,4,16,64), not '%s'",
                                MAX_THREAD_COUNTS, MAX_THREADS, optarg);
            break;
        case 'l':
            nlevels = parse_levels(cmd, optarg, levels);
            break;
        case 'r':
            if (cli_parse_u64(optarg, &rounds) || rounds == 0 || rounds > 16)
                cli_usage_error(cmd, "--rounds takes 1 to 16, not '%s'", optarg);
            break;
        case 'q':
            quick = 1;
            break;
        case 'o':
            if (strcmp(optarg, "text") && strcmp(optarg, "json") && strcmp(optarg, "csv"))
                cli_usage_error(cmd, "-o takes text, json or csv, not '%s'", optarg);
            format = optarg;
            break;
        case 'p':
            plot = optarg;
            break;
        case 'O':
            only = optarg;
            break;
        }
    }
    if (optind != argc)
        cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (quick && !records_given)
        records = 20000;
    if (!rounds)
        rounds = quick ? 1 : 5;

    /* The rows, and --only, before anything is made. */
    struct plan plan[MAX_ROWS];
    struct bench_row rows[MAX_ROWS];
    memset(rows, 0, sizeof rows);
    int nrows = plan_rows(plan, levels, nlevels, threads, nthreads), kept = 0;
    for (int i = 0; i < nrows; i++) {
        name_row(&plan[i], &rows[i]);
        if (only && !strstr(rows[i].name, only))
            continue;
        plan[kept] = plan[i];
        rows[kept++] = rows[i];
    }
    if (kept == 0)
        cli_usage_error(cmd, "--only '%s' matches no row", only);
    nrows = kept;

    struct bench_ctx *c = calloc(1, sizeof *c);
    struct bench_facts facts = { 0 };
    if (!c)
        return cli_fail(cmd, "out of memory");
    c->records = records;
    c->size = (size_t)size;
    c->budget_s = quick ? 0.25 : 0.8;
    c->min_s = quick ? 0.05 : 0.2;
    c->stop = &stop_signal;

    /* Space: the lines file or a log (a 64 MiB segment and the records with
     * their headers), each removed before the next row. Fast rows repeat
     * their N records for min_s: at 10 M records/s of 100 bytes, 250 MB. */
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0) {
        int err = errno;
        free(c);
        return cli_fail(cmd, "cannot use directory %s: %s", dir, strerror(err));
    }
    double avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
    double need = (double)records * ((double)size + 64) * 2 + (double)(640 << 20);
    if (avail < need) {
        free(c);
        return cli_fail(cmd, "too little free space in %s: %.0f MiB free, %.0f MiB needed "
                        "(fewer --records?)", dir, avail / 1048576, need / 1048576);
    }
    int cap_rows = avail >= (double)CAP_BYTES + need;

    /* From here on a signal must not leave the scratch directory behind. */
    struct sigaction sa = { 0 }, old_int, old_term;
    sa.sa_handler = on_bench_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    char scratch[1024];
    int rc = bench_make_scratch(scratch, sizeof scratch, dir, "durlog-bench");
    if (rc) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        free(c);
        return cli_fail(cmd, "cannot create a scratch directory in %s: %s", dir,
                        strerror(-rc));
    }
    snprintf(c->file, sizeof c->file, "%s/lines.txt", scratch);
    snprintf(c->log, sizeof c->log, "%s/log", scratch);
    read_facts(&facts, scratch);
    char *real_dir = realpath(dir, NULL); /* where it ran, not the scratch */
    snprintf(facts.dir, sizeof facts.dir, "%.*s", (int)sizeof facts.dir - 1,
             real_dir ? real_dir : dir);
    free(real_dir);
    facts.records = records;
    facts.size = (size_t)size;
    facts.quick = quick;

    for (int i = 0; i < nrows; i++) {
        rows[i].verified = -1;
        if ((plan[i].kind == K_BIGWRITE || plan[i].kind == K_PUT) && !cap_rows) {
            plan[i].skip = 1;
            snprintf(rows[i].note, sizeof rows[i].note, "skipped: needs %.1f GiB free in %s",
                     ((double)CAP_BYTES + need) / 1073741824.0, dir);
        }
    }

    int tty = isatty(STDERR_FILENO), status = 0;
    for (int round = 0; round < (int)rounds && !status && !stop_signal; round++) {
        for (int i = 0; i < nrows && !status && !stop_signal; i++) {
            /* The cap rows write 2 GiB each and vary little: 3 rounds. */
            if (plan[i].skip || (plan[i].kind >= K_BIGWRITE && round >= 3))
                continue;
            if (tty)
                fprintf(stderr, "\r\033[Kdurlog bench: round %d of %d: %s", round + 1,
                        (int)rounds, rows[i].name);
            struct bench_result r;
            if (run_once(&plan[i], c, &r) != 0) {
                if (tty)
                    fputc('\n', stderr);
                status = cli_fail(cmd, "%s: %s", rows[i].name, c->err);
                break;
            }
            plan[i].round[plan[i].runs++] = r;
        }
    }
    if (tty)
        fputs("\r\033[K", stderr);
    bench_remove_tree(scratch);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (stop_signal) {
        free(c);
        fprintf(stderr, "durlog: bench: interrupted; scratch directory removed\n");
        return 128 + stop_signal;
    }
    if (status) {
        free(c);
        return status;
    }

    snprintf(facts.engine, sizeof facts.engine, "%s", c->engine[0] ? c->engine : "n/a");
    snprintf(facts.io, sizeof facts.io, "%s", c->io[0] ? c->io : "n/a");
    double fastest = 0;
    for (int i = 0; i < nrows; i++) {
        struct bench_row *row = &rows[i];
        struct plan *p = &plan[i];
        if (p->skip)
            continue;
        const struct bench_result *m = median_round(p);
        row->rate = rate_of(m);
        row->records = m->records;
        row->bytes = m->bytes ? m->bytes : m->records * size;
        row->seconds = m->seconds;
        row->us_per_record = row->rate > 0 ? 1e6 / row->rate : 0;
        row->verified = m->verified;
        row->calls = m->calls;
        row->first_call = m->first_call;
        describe(p, c, row);
        if (row->rate > fastest)
            fastest = row->rate;
    }
    for (int i = 0; i < nrows; i++)
        rows[i].ratio = fastest > 0 ? rows[i].rate / fastest : 0;
    free(c);

    if (strcmp(format, "json") == 0)
        bench_print_json(rows, (size_t)nrows, &facts);
    else if (strcmp(format, "csv") == 0)
        bench_print_csv(rows, (size_t)nrows, &facts);
    else
        bench_print_text(rows, (size_t)nrows, &facts);
    status = cli_check_stdout(cmd, 1);
    if (plot && !status) {
        char err[1024];
        if (bench_plot(plot, rows, (size_t)nrows, &facts, err, sizeof err) != 0)
            return cli_fail(cmd, "plot: %s", err);
        fprintf(stderr, "durlog: bench: plot written to %s\n", plot);
    }
    return status;
}
