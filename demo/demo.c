/*
 * demo.c - the origin article's experiment, done right (`make demo`).
 *
 * The article wrote "hehe" from one Python process through buffered file I/O
 * and slept 10 s: a second process could not read it until the file was
 * closed. Adding flush+fsync made it visible, at a huge cost in speed.
 *
 * Here a writer process and a reader process share one fresh log. For each
 * durability level in turn the writer appends "hehe (<level>)" and sleeps
 * PAUSE_MS before doing anything else (for `buffered` it then flushes to the
 * kernel); the reader polls durlog_reader_next() every POLL_MS and reports
 * when the record appeared, measured from the moment the writer called
 * append. The two processes share the writer's CLOCK_MONOTONIC timestamps
 * through an anonymous shared mapping, and the reader acknowledges each
 * record over a pipe before the writer moves on.
 *
 * Then a short table of records/s per level, with one write()+fdatasync per
 * record as the reference for what "durable" used to cost.
 *
 * The demo checks what it shows: a buffered record seen before the flush, a
 * kernel record not seen while the writer sleeps, or a durable watermark
 * that lags its level's promise makes it fail with exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durlog.h"
#include "../bench/lib/benchlib.h"

#define LEVEL_COUNT (DURLOG_SYNC + 1) /* indexed by level; DURLOG_DEFAULT unused */

/* One record per level, appended in level order from DURLOG_BUFFERED: the
 * sequence number each level's record gets (they are dense from 0). */
#define SEQ_OF(level) ((uint64_t)((level) - DURLOG_BUFFERED))

/* How long the writer sleeps after each append: long enough that "seen at
 * once" and "seen only after the flush" cannot be confused. */
#define PAUSE_MS 300

/* The reader's polling period: its latency figures are this coarse. */
#define POLL_MS 1

/* interval_ms for the experiment's log: shorter than PAUSE_MS, so that by
 * the end of the pause the background fdatasync must have run. */
#define DEMO_INTERVAL_MS 100

#define TO_STRING_(x) #x
#define TO_STRING(x) TO_STRING_(x)

/* How long either process waits for the other before declaring it stuck. */
#define PEER_TIMEOUT_MS 5000

/* The throughput table: records per level, and the record size. */
#define SPEED_RECORDS 200000
#define SPEED_SYNC_RECORDS 1000
#define SPEED_RECORD_SIZE 100

#define NS_PER_MS 1000000.0

/* Timestamps the writer publishes for the reader, per level, in ns of
 * CLOCK_MONOTONIC (0 = not yet). */
struct shared_clock {
    _Atomic uint64_t append_called[LEVEL_COUNT];
    _Atomic uint64_t append_returned[LEVEL_COUNT];
    _Atomic uint64_t flush_called[LEVEL_COUNT];
};

static const char *const survives[LEVEL_COUNT] = {
    [DURLOG_BUFFERED] = "nothing until flushed (lost if the process dies)",
    [DURLOG_KERNEL] = "process crash, even kill -9; not power loss",
    [DURLOG_INTERVAL] = "process crash; power loss loses <= interval_ms",
    [DURLOG_SYNC] = "process crash and power loss",
};

/* The work directory and whether this process created it (then it is
 * removed at the end); only the parent process removes anything. */
static char work_dir[PATH_MAX];
static int work_dir_is_ours;

/* One line of output, flushed at once: the writer and the reader share the
 * terminal (or pipe), and each line must reach it whole and in order. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* What a failure does after its message (bench_die), in the parent only
 * (a child's failure shows in its exit status, and the parent cleans up):
 * remove the work directory if it is ours. */
static void remove_work_dir(void)
{
    if (work_dir_is_ours)
        bench_remove_tree(work_dir);
}

/* ---- files ---- */

static void work_path(char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s/%s", work_dir, name);

    if (n < 0 || (size_t)n >= size)
        bench_die("path too long under %s", work_dir);
}

/* DIR from the command line must be new or empty, so the log is fresh;
 * without it, a temporary ./demo-log-XXXXXX that is removed at the end. */
static void make_work_dir(const char *dir)
{
    if (!dir) {
        snprintf(work_dir, sizeof work_dir, "./demo-log-XXXXXX");
        if (!mkdtemp(work_dir))
            bench_die("mkdtemp in the current directory: %s", strerror(errno));
        work_dir_is_ours = 1;
        return;
    }
    if (strlen(dir) >= sizeof work_dir)
        bench_die("directory name too long: %s", dir);
    strcpy(work_dir, dir);
    if (mkdir(work_dir, 0755) != 0) {
        if (errno != EEXIST)
            bench_die("mkdir %s: %s", work_dir, strerror(errno));
        if (rmdir(work_dir) != 0)
            bench_die("%s exists and is not an empty directory; give a new "
                      "directory for the demo's logs", work_dir);
        if (mkdir(work_dir, 0755) != 0)
            bench_die("mkdir %s: %s", work_dir, strerror(errno));
    }
}

/* ---- pipes between the two processes ---- */

static void send_byte(int fd, const char *who)
{
    char b = 1;
    ssize_t w;

    do
        w = write(fd, &b, 1);
    while (w < 0 && errno == EINTR);
    if (w != 1)
        bench_die("%s: writing to the pipe: %s", who, strerror(errno));
}

/* Waits up to timeout_ms for one byte; fails if the peer died or is stuck. */
static void receive_byte(int fd, int timeout_ms, const char *who,
                         const char *waiting_for)
{
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
    char b;
    ssize_t r;
    int n;

    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        bench_die("%s: poll: %s", who, strerror(errno));
    if (n == 0)
        bench_die("%s: no %s within %d ms", who, waiting_for, timeout_ms);
    do
        r = read(fd, &b, 1);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        bench_die("%s: reading the pipe: %s", who, strerror(errno));
    if (r == 0)
        bench_die("%s: the other process exited before sending %s", who,
                  waiting_for);
}

/* ---- the writer process ---- */

static void record_text(char *out, size_t size, durlog_level level)
{
    snprintf(out, size, "hehe (%s)", durlog_level_name(level));
}

/* What the level promises, for the line that introduces it. */
static const char *level_story(durlog_level level)
{
    switch (level) {
    case DURLOG_DEFAULT:
        break;
    case DURLOG_BUFFERED:
        return "held in the writer's memory. Invisible to readers until "
               "flushed;\n  lost if the writer crashes. (The article's "
               "case: buffered file I/O.)";
    case DURLOG_KERNEL:
        return "in the kernel's page cache when append returns. Visible at "
               "once;\n  survives a crash of the writer (even kill -9), "
               "but not a power loss.";
    case DURLOG_INTERVAL:
        return "as kernel, and a background thread runs fdatasync within "
               "interval_ms\n  (" TO_STRING(DEMO_INTERVAL_MS) " ms here): "
               "a power loss loses at most that much.";
    case DURLOG_SYNC:
        return "append returns once the record is on stable storage "
               "(fdatasync).\n  Survives a power loss.";
    }
    return "";
}

static uint64_t durable_seq(durlog *log)
{
    durlog_info info;
    int rc = durlog_get_info(log, &info);

    if (rc < 0)
        bench_die_code("writer: durlog_get_info", rc, durlog_errmsg(log));
    return info.durable_seq;
}

/* Fails if the durable watermark does not cover the first `written`
 * records, which the level promised by now. */
static void check_durable(durlog *log, durlog_level level, uint64_t written,
                          const char *promise)
{
    uint64_t durable = durable_seq(log);

    if (durable < written)
        bench_die("writer: library broke its contract: durable_seq is %llu after "
                  "a %s append of seq %llu (%s)", (unsigned long long)durable,
                  durlog_level_name(level), (unsigned long long)(written - 1),
                  promise);
}

/* After the pause: how long the append took, and what is durable now. */
static void report_durability(durlog *log, uint64_t append_ns)
{
    uint64_t durable = durable_seq(log);

    if (durable == 0)
        say("[writer] the append took %.3f ms; durable_seq = 0: nothing is "
            "on stable storage yet\n", (double)append_ns / NS_PER_MS);
    else
        say("[writer] the append took %.3f ms; durable_seq = %llu: seq "
            "0..%llu are on stable storage\n", (double)append_ns / NS_PER_MS,
            (unsigned long long)durable, (unsigned long long)(durable - 1));
}

static void writer_main(const char *log_path, struct shared_clock *clock,
                        int ready_fd, int ack_fd)
{
    durlog_options opts;
    char errbuf[512] = "";
    durlog *log = NULL;
    int rc;

    durlog_options_init(&opts);
    opts.interval_ms = DEMO_INTERVAL_MS;
    opts.errbuf = errbuf;
    opts.errbuf_size = sizeof errbuf;
    rc = durlog_open(log_path, &opts, &log);
    if (rc < 0)
        bench_die_code("writer: durlog_open", rc, errbuf);
    send_byte(ready_fd, "writer");
    receive_byte(ack_fd, PEER_TIMEOUT_MS, "writer", "word that the reader "
                 "is ready");

    for (int level = DURLOG_BUFFERED; level < LEVEL_COUNT; level++) {
        char text[64];
        uint64_t seq = 0;

        record_text(text, sizeof text, (durlog_level)level);
        say("\n== %s: %s\n", durlog_level_name((durlog_level)level),
            level_story((durlog_level)level));

        if (level == DURLOG_BUFFERED)
            say("[writer] append '%s', then sleep %d ms before flushing\n",
                text, PAUSE_MS);
        else
            say("[writer] append '%s', then sleep %d ms: no flush, no "
                "close\n", text, PAUSE_MS);
        atomic_store(&clock->append_called[level], bench_now_ns());
        rc = durlog_append(log, text, strlen(text), (durlog_level)level,
                           &seq);
        atomic_store(&clock->append_returned[level], bench_now_ns());
        if (rc < 0)
            bench_die_code("writer: durlog_append", rc, durlog_errmsg(log));
        if (level == DURLOG_BUFFERED && seq != DURLOG_SEQ_PENDING)
            bench_die("writer: library broke its contract: a buffered append "
                      "reported seq %llu, not DURLOG_SEQ_PENDING",
                      (unsigned long long)seq);
        if (level != DURLOG_BUFFERED && seq != SEQ_OF(level))
            bench_die("writer: library broke its contract: '%s' got seq %llu, "
                      "expected %llu (sequence numbers are dense from 0)", text,
                      (unsigned long long)seq, (unsigned long long)SEQ_OF(level));
        if (level == DURLOG_SYNC)
            check_durable(log, DURLOG_SYNC, SEQ_OF(level) + 1,
                          "sync makes it durable before returning");
        bench_pause_us(PAUSE_MS * 1000);

        if (level == DURLOG_BUFFERED) {
            say("[writer] %d ms later: durlog_flush(log, DURLOG_KERNEL)\n",
                PAUSE_MS);
            atomic_store(&clock->flush_called[level], bench_now_ns());
            rc = durlog_flush(log, DURLOG_KERNEL);
            if (rc < 0)
                bench_die_code("writer: durlog_flush", rc, durlog_errmsg(log));
        }
        receive_byte(ack_fd, PEER_TIMEOUT_MS, "writer",
                     "word that the reader saw the record");
        if (level == DURLOG_INTERVAL)
            check_durable(log, DURLOG_INTERVAL, SEQ_OF(level) + 1,
                          "the interval syncer should have run within "
                          "interval_ms, shorter than the pause");
        report_durability(log, atomic_load(&clock->append_returned[level]) -
                                   atomic_load(&clock->append_called[level]));
    }
    rc = durlog_close(log);
    if (rc < 0)
        bench_die_code("writer: durlog_close", rc, NULL);
}

/* ---- the reader process ---- */

/* Polls until the next record appears; returns when it was seen. */
static uint64_t poll_next(durlog_reader *r, durlog_record *rec)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)PEER_TIMEOUT_MS * 1000000;

    for (;;) {
        int rc = durlog_reader_next(r, rec);

        if (rc == 0)
            return bench_now_ns();
        if (rc != DURLOG_EEND)
            bench_die_code("reader: durlog_reader_next", rc,
                           durlog_reader_errmsg(r));
        if (bench_now_ns() > deadline)
            bench_die("reader: no new record within %d ms", PEER_TIMEOUT_MS);
        bench_pause_us(POLL_MS * 1000);
    }
}

static void reader_main(const char *log_path, struct shared_clock *clock,
                        int ready_fd, int ack_fd)
{
    durlog_reader_options opts;
    char errbuf[512] = "";
    durlog_reader *r = NULL;
    int rc;

    receive_byte(ready_fd, PEER_TIMEOUT_MS, "reader",
                 "word that the log is open");
    durlog_reader_options_init(&opts);
    opts.errbuf = errbuf;
    opts.errbuf_size = sizeof errbuf;
    rc = durlog_reader_open(log_path, &opts, &r);
    if (rc < 0)
        bench_die_code("reader: durlog_reader_open", rc, errbuf);
    send_byte(ack_fd, "reader");

    for (int level = DURLOG_BUFFERED; level < LEVEL_COUNT; level++) {
        durlog_record rec;
        char expected[64];
        uint64_t seen = poll_next(r, &rec);
        uint64_t called = atomic_load(&clock->append_called[level]);
        uint64_t flushed = atomic_load(&clock->flush_called[level]);
        double after_ms = (double)(seen - called) / NS_PER_MS;

        record_text(expected, sizeof expected, (durlog_level)level);
        if (rec.len != strlen(expected) ||
            memcmp(rec.data, expected, rec.len) != 0)
            bench_die("reader: expected '%s' as seq %llu, read %zu bytes '%.*s' "
                      "as seq %llu", expected, (unsigned long long)SEQ_OF(level), rec.len,
                      (int)(rec.len < 64 ? rec.len : 64), (const char *)rec.data,
                      (unsigned long long)rec.seq);
        if (rec.seq != SEQ_OF(level))
            bench_die("reader: library broke its contract: '%s' has seq %llu, "
                      "expected %llu (sequence numbers are dense from 0)", expected,
                      (unsigned long long)rec.seq, (unsigned long long)SEQ_OF(level));

        if (level == DURLOG_BUFFERED) {
            if (flushed == 0 || seen < flushed)
                bench_die("reader: library broke its contract: a buffered "
                          "record was visible %.2f ms after the append, before "
                          "the writer flushed", after_ms);
            say("[reader] saw seq %llu '%s' %.1f ms after the append: only "
                "once the writer flushed\n",
                (unsigned long long)rec.seq, expected, after_ms);
        } else {
            if (after_ms >= PAUSE_MS)
                bench_die("reader: library broke its contract: a %s record "
                          "became visible only %.1f ms after the append",
                          durlog_level_name((durlog_level)level), after_ms);
            say("[reader] saw seq %llu '%s' %.2f ms after the append, "
                "while the writer slept\n",
                (unsigned long long)rec.seq, expected, after_ms);
        }
        send_byte(ack_fd, "reader");
    }
    durlog_reader_close(r);
}

/* ---- the two processes ---- */

typedef void (*process_main)(const char *log_path, struct shared_clock *clock,
                             int ready_fd, int ack_fd);

static pid_t start_process(process_main fn, const char *log_path,
                           struct shared_clock *clock, int ready_fd,
                           int ack_fd, const int *fds_to_close, int nfds)
{
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid > 0)
        return pid;
    /* Close the pipe ends this process does not use, so that it sees
     * end-of-file when its peer dies. */
    for (int i = 0; i < nfds; i++)
        close(fds_to_close[i]);
    fn(log_path, clock, ready_fd, ack_fd);
    fflush(stdout);
    _exit(0);
}

/* Waits for both children; if one fails, stops the other. */
static void wait_children(pid_t writer, pid_t reader)
{
    pid_t stopped = 0;
    int failed = 0;

    for (int remaining = 2; remaining > 0; remaining--) {
        int status;
        pid_t pid;

        do
            pid = waitpid(-1, &status, 0);
        while (pid < 0 && errno == EINTR);
        if (pid < 0)
            bench_die("waitpid: %s", strerror(errno));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        if (!failed) {
            stopped = pid == writer ? reader : writer;
            kill(stopped, SIGTERM);
        }
        failed = 1;
        if (WIFSIGNALED(status) && pid != stopped)
            fprintf(stderr, "demo: the %s process died of signal %d\n",
                    pid == writer ? "writer" : "reader", WTERMSIG(status));
    }
    if (failed)
        bench_die("the experiment failed (see above)");
}

static void run_experiment(void)
{
    char log_path[PATH_MAX];
    struct shared_clock *clock;
    int ready[2], ack[2];
    pid_t writer, reader;

    work_path(log_path, sizeof log_path, "article-log");
    clock = bench_shared_alloc(sizeof *clock);
    if (!clock)
        bench_die("mmap: %s", strerror(errno));
    /* The clock is shared by two processes: its atomics must not hide a
     * process-private lock. */
    if (!atomic_is_lock_free(&clock->append_called[0]))
        bench_die("64-bit atomics are not lock-free on this machine");
    for (int i = 0; i < LEVEL_COUNT; i++) {
        atomic_init(&clock->append_called[i], 0);
        atomic_init(&clock->append_returned[i], 0);
        atomic_init(&clock->flush_called[i], 0);
    }
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(ack, O_CLOEXEC) != 0)
        bench_die("pipe: %s", strerror(errno));

    say("The article's experiment, done right: a writer process appends "
        "'hehe' at each\ndurability level and sleeps %d ms; a reader process "
        "polls the log every %d ms\nand reports when it sees the record. "
        "Log: %s\n", PAUSE_MS, POLL_MS, log_path);

    {
        const int writer_closes[] = { ready[0], ack[1] };
        const int reader_closes[] = { ready[1], ack[0] };

        writer = start_process(writer_main, log_path, clock, ready[1],
                               ack[0], writer_closes, 2);
        reader = start_process(reader_main, log_path, clock, ready[0],
                               ack[1], reader_closes, 2);
    }
    close(ready[0]);
    close(ready[1]);
    close(ack[0]);
    close(ack[1]);
    wait_children(writer, reader);
    munmap(clock, sizeof *clock);
    say("\nIn the article the reader saw nothing until the writer closed its "
        "file. Here every\nlevel but buffered was visible within "
        "milliseconds while the writer kept the log\nopen, and the buffered "
        "record appeared the moment it was flushed.\n");
}

/* ---- the throughput table ---- */

/* Buffered records count once the kernel has them: the loop flushes. */
static double speed_durlog(durlog_level level, long n)
{
    struct bench_append_run run = { .level = level, .size = SPEED_RECORD_SIZE,
                                    .records = (uint64_t)n };
    char path[PATH_MAX], name[32], err[PATH_MAX + 600];
    struct bench_timing t;

    snprintf(name, sizeof name, "speed-%s", durlog_level_name(level));
    work_path(path, sizeof path, name);
    if (bench_append_new_log(path, &run, &t, err, sizeof err) < 0)
        bench_die("%s", err);
    /* Segments are preallocated: remove the log so the disk keeps room. */
    if (bench_remove_tree(path) != 0)
        bench_die("could not remove %s", path);
    return (double)t.records / t.seconds;
}

/* The old way to be durable: every record synced on its own. */
static double speed_write_fdatasync(long n)
{
    struct bench_fsync_run run = { .size = SPEED_RECORD_SIZE, .records = (uint64_t)n };
    struct bench_timing t;
    char path[PATH_MAX], err[PATH_MAX + 100];

    work_path(path, sizeof path, "write-fdatasync.dat");
    if (bench_write_fdatasync(path, &run, &t, err, sizeof err) != 0)
        bench_die("%s", err);
    if (unlink(path) != 0)
        bench_die("unlink %s: %s", path, strerror(errno));
    return (double)t.records / t.seconds;
}

static void print_speed_row(const char *name, long n, double rate,
                            const char *what_survives)
{
    say("  %-18s %8ld %12.0f %10.2f   %s\n", name, n, rate, 1e6 / rate,
        what_survives);
}

static void run_speed_table(void)
{
    say("\nWhat each level costs (%d-byte records, one thread, default "
        "options, interval_ms = %d):\n", SPEED_RECORD_SIZE,
        DURLOG_DEFAULT_INTERVAL_MS);
    say("  %-18s %8s %12s %10s   %s\n", "level", "records", "records/s",
        "us/record", "survives");
    for (int level = DURLOG_BUFFERED; level < LEVEL_COUNT; level++) {
        long n = level == DURLOG_SYNC ? SPEED_SYNC_RECORDS : SPEED_RECORDS;

        print_speed_row(durlog_level_name((durlog_level)level), n,
                        speed_durlog((durlog_level)level, n),
                        survives[level]);
    }
    print_speed_row("write()+fdatasync", SPEED_SYNC_RECORDS,
                    speed_write_fdatasync(SPEED_SYNC_RECORDS),
                    "process crash and power loss (reference)");
    say("`make bench` measures these against plain fwrite and write().\n");
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: demo [DIR]\n"
                "  DIR: a new or empty directory for the demo's logs "
                "(default: a temporary\n"
                "  ./demo-log-XXXXXX, removed at the end)\n");
        return 1;
    }
    bench_at_failure(remove_work_dir);
    make_work_dir(argc == 2 ? argv[1] : NULL);
    run_experiment();
    run_speed_table();
    if (work_dir_is_ours)
        bench_remove_tree(work_dir);
    else
        say("The experiment's log is kept in %s/article-log.\n", work_dir);
    return 0;
}
