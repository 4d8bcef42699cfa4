/* Systematic fault injection through the dl_os seam: a workload (appends at
 * every level across segment rolls, a flush, close, a reopen in poll mode
 * with an asynchronous `sync` append delivered through durlog_poll and the
 * eventfd, and `check --repair` of a torn tail) runs in a child process
 * once per (system call, fault, n): the n-th call to that system call fails.
 * Faults: EIO, ENOSPC, EDQUOT, EAGAIN; and, where the call can meet them,
 * a storm of EINTR and 1-byte short writes, which must change nothing.
 *
 * After every run, with the real system calls: the child neither crashed
 * nor hung; every call that failed said why; the log reopens; every record
 * acknowledged (an append at kernel level or above that returned 0, and the
 * buffered records a later acknowledged append or close flushed) is there,
 * intact and in order, with nothing that was never appended; and the log
 * takes appends again.
 *
 * The faults come from the driver in lib/faultloop.h.
 *
 * DURLOG_INJECT_ALL=1 tries every n rather than a sample (slow). */
#include <sys/wait.h>

#include "lib/children.h"
#include "lib/faultloop.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define EXTRA 60
#define RECORDS 120

/* The entries the workload's faults go to. */
static const unsigned inject_entries =
    TU_ENTRY_BIT(TU_E_PWRITE) | TU_ENTRY_BIT(TU_E_WRITE) | TU_ENTRY_BIT(TU_E_PREAD) |
    TU_ENTRY_BIT(TU_E_FDATASYNC) | TU_ENTRY_BIT(TU_E_FSYNC) | TU_ENTRY_BIT(TU_E_FALLOCATE) |
    TU_ENTRY_BIT(TU_E_FTRUNCATE) | TU_ENTRY_BIT(TU_E_OPENAT) | TU_ENTRY_BIT(TU_E_RENAMEAT) |
    TU_ENTRY_BIT(TU_E_UNLINKAT) | TU_ENTRY_BIT(TU_E_MMAP) | TU_ENTRY_BIT(TU_E_URING_SUBMIT) |
    TU_ENTRY_BIT(TU_E_URING) | TU_ENTRY_BIT(TU_E_FLOCK) | TU_ENTRY_BIT(TU_E_FCNTL) |
    TU_ENTRY_BIT(TU_E_STATX) | TU_ENTRY_BIT(TU_E_FUTEX) | TU_ENTRY_BIT(TU_E_EVENTFD);

#define EINTR_STORM 50 /* calls an EINTR storm lasts */

/* What the child reports. */
struct outcome {
    uint8_t acked[RECORDS];           /* acknowledged */
    uint8_t attempted[RECORDS];
    int open_failed;
    int failures;                     /* API calls that returned an error */
    int silent_failures;              /* ...without a message */
};

static struct outcome *out; /* the calls made: tu_fl (lib/faultloop.h) */

static void note_failure(durlog *log)
{
    out->failures++;
    const char *msg = durlog_errmsg(log);
    if (!msg[0] || strcmp(msg, "no error") == 0)
        out->silent_failures++;
}

/* The completion of the asynchronous append of record `ctx`. */
static _Atomic int async_done;

static void on_async_done(void *ctx, uint64_t seq, int status)
{
    (void)seq;
    if (status == 0)
        out->acked[(intptr_t)ctx] = 1;
    else
        out->failures++; /* reported through the status only */
    atomic_store(&async_done, 1);
}

/* Appends record i asynchronously at DURLOG_SYNC (the handle is in poll
 * mode, with an eventfd) and delivers its completion with durlog_poll, which
 * the engine makes ready (eventfd, futex) once it has synced. 1 if the
 * append returned 0 (its record, and those buffered before it, are in the
 * log from then on). */
static int append_async_polled(durlog *log, int i)
{
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, 0, (uint64_t)i, EXTRA);
    atomic_store(&async_done, 0);
    if (durlog_append_async(log, buf, len, DURLOG_SYNC, on_async_done, (void *)(intptr_t)i,
                            NULL) != 0) {
        note_failure(log);
        return 0;
    }
    /* Not delivered within half a second (a broken engine, or a slow
     * fdatasync): close delivers it. */
    for (int round = 0; round < 5 && !atomic_load(&async_done); round++) {
        if (durlog_poll(log, 100) < 0) {
            note_failure(log);
            break;
        }
    }
    return 1;
}

/* Appends records [from, to) at buffered, kernel, interval and sync in turn
 * (a run of interval appends last, so that the engine syncs them on its
 * own; in poll mode the very last asynchronously: append_async_polled),
 * with a sync flush in the middle, then closes. */
static void append_phase(durlog *log, int from, int to, int poll_mode)
{
    static const durlog_level levels[4] = { DURLOG_BUFFERED, DURLOG_KERNEL,
                                            DURLOG_INTERVAL, DURLOG_SYNC };
    int pending[RECORDS], npending = 0; /* buffered, returned 0, not yet flushed */
    for (int i = from; i < to; i++) {
        durlog_level level = i >= to - 4 ? DURLOG_INTERVAL : levels[i % 4];
        out->attempted[i] = 1;
        if (poll_mode && i == to - 1) {
            if (append_async_polled(log, i)) {
                for (int k = 0; k < npending; k++)
                    out->acked[pending[k]] = 1;
                npending = 0;
            }
            continue;
        }
        if (tu_append_payload(log, 0, (uint64_t)i, EXTRA, level, NULL) != 0) {
            note_failure(log);
            continue;
        }
        if (level == DURLOG_BUFFERED) {
            pending[npending++] = i;
            continue;
        }
        for (int k = 0; k < npending; k++)
            out->acked[pending[k]] = 1;
        npending = 0;
        out->acked[i] = 1;
        if (i == (from + to) / 2 && durlog_flush(log, DURLOG_SYNC) != 0)
            note_failure(log);
    }
    tu_sleep_ms(12); /* the engine's interval sync */
    if (durlog_close(log) != 0) {
        out->failures++; /* close reports through its return code only */
        return;
    }
    for (int k = 0; k < npending; k++)
        out->acked[pending[k]] = 1;
}

/* Leaves junk past the records of the last segment, as a torn write would,
 * and has `durlog check --repair` cut it: the repair saves the cut bytes to
 * a side file, the library's only use of write(). */
static void tear_and_repair(const char *path)
{
    uint64_t segs[64];
    size_t n = list_segments(path, segs, 64);
    if (n == 0)
        return;
    char name[DL_SEG_NAME_LEN + 1], file[PATH_MAX + 64];
    dl_seg_name(name, segs[n - 1]);
    snprintf(file, sizeof file, "%s/%s", path, name);
    int fd = open(file, O_WRONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 64) {
        if (fd >= 0)
            close(fd);
        return;
    }
    /* The last 16 bytes of the allocated file: past the records, unless
     * they fill it, and then the check finds the damage all the same. */
    static const char junk[16] = "torn torn torn!";
    if (pwrite(fd, junk, sizeof junk, st.st_size - 16) != (ssize_t)sizeof junk)
        out->failures++;
    close(fd);
    durlog_check_report rep;
    if (durlog_check(path, DURLOG_CHECK_REPAIR, &rep) != 0) {
        out->failures++;
        return;
    }
}

/* The workload: creates the log and appends half the records, then reopens
 * it (recovery) in poll mode and appends the rest, on 4 KiB segments
 * (several rolls). */
static int workload_main(void *arg)
{
    const char *path = arg;
    tu_faults_install(inject_entries);
    for (int phase = 0; phase < 2; phase++) {
        durlog_options o = {
            .segment_size = 4096,
            .buffer_size = 512,
            .interval_ms = 5,
            .poll_callbacks = phase == 1,
        };
        char err[512] = "";
        o.errbuf = err;
        o.errbuf_size = sizeof err;
        durlog *log;
        if (durlog_open(path, &o, &log) != 0) {
            out->open_failed = 1;
            out->failures++;
            if (!err[0])
                out->silent_failures++;
            continue;
        }
        if (o.poll_callbacks && durlog_event_fd(log) < 0)
            note_failure(log);
        append_phase(log, phase * RECORDS / 2, (phase + 1) * RECORDS / 2, o.poll_callbacks);
    }
    tear_and_repair(path);
    return 0;
}

/* Runs the workload in a child with the fault set; 0 when it exited
 * normally within 30 s. */
static int run_child(const char *path)
{
    pid_t pid = tu_fork(workload_main, (void *)path);
    if (pid < 0)
        return -1;
    uint64_t start = tu_now_ms();
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (tu_now_ms() - start > 30000) {
            kill(pid, SIGKILL);
            tu_wait(pid);
            fprintf(stderr, "  hung\n");
            return -1;
        }
        usleep(200);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "  the workload died (status %#x)\n", status);
        return -1;
    }
    return 0;
}

/* With the real system calls: the log reopens, holds every acknowledged
 * record and only appended ones, in order, and takes another append.
 * Returns 0, or -1 after printing what was wrong. */
static int verify(const char *path)
{
    durlog *log;
    char err[512] = "";
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    if (durlog_open(path, &o, &log) != 0) {
        fprintf(stderr, "  reopening failed: %s\n", err);
        return -1;
    }
    durlog_reader *r;
    durlog_record rec;
    int bad = 0;
    uint8_t seen[RECORDS] = { 0 };
    int64_t last = -1;
    uint64_t next_seq = 0;
    if (durlog_reader_open(path, NULL, &r) != 0) {
        fprintf(stderr, "  opening a reader failed\n");
        durlog_close(log);
        return -1;
    }
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        if (rec.seq != next_seq++ || !tu_payload_check(&rec, EXTRA, &w, &idx) || w != 0 ||
            idx >= RECORDS || (int64_t)idx <= last || !out->attempted[idx]) {
            fprintf(stderr, "  record %" PRIu64 " is not one that was appended, in order\n",
                    rec.seq);
            bad = 1;
            break;
        }
        seen[idx] = 1;
        last = (int64_t)idx;
    }
    if (!bad && rc != DURLOG_EEND) {
        fprintf(stderr, "  reading stopped: %s\n", durlog_reader_errmsg(r));
        bad = 1;
    }
    durlog_reader_close(r);
    for (int i = 0; i < RECORDS && !bad; i++) {
        if (out->acked[i] && !seen[i]) {
            fprintf(stderr, "  acknowledged record %d is missing\n", i);
            bad = 1;
        }
    }
    if (!bad && durlog_append(log, "again", 5, DURLOG_SYNC, NULL) != 0) {
        fprintf(stderr, "  appending after the fault failed: %s\n", durlog_errmsg(log));
        bad = 1;
    }
    if (durlog_close(log) != 0 && !bad) {
        fprintf(stderr, "  closing after the fault failed\n");
        bad = 1;
    }
    return bad ? -1 : 0;
}

static int applies(int e, int f)
{
    if (!(inject_entries & TU_ENTRY_BIT(e)) || f == TU_F_EXDEV || f == TU_F_KILL)
        return 0;
    if (f == TU_F_SHORT) /* a short transfer; for a submission, none taken */
        return e == TU_E_PWRITE || e == TU_E_WRITE || e == TU_E_PREAD || e == TU_E_URING_SUBMIT;
    if (f == TU_F_EINTR)
        return e != TU_E_MMAP && e != TU_E_URING; /* neither reports EINTR */
    return 1;
}

static void every_system_call_failing_leaves_the_log_consistent(void)
{
    struct scratch s;
    scratch_make(&s);
    out = tu_shared_alloc(sizeof *out);
    tu_fl = tu_shared_alloc(sizeof *tu_fl);
    REQUIRE(out && tu_fl);
    int all = getenv("DURLOG_INJECT_ALL") && *getenv("DURLOG_INJECT_ALL") == '1';

    /* A clean run counts each entry's calls. */
    memset(out, 0, sizeof *out);
    tu_faults_arm(TU_E_NONE, 0, 0, 0);
    REQUIRE(run_child(s.log) == 0);
    REQUIRE(out->failures == 0);
    uint64_t clean[TU_NENTRIES];
    fprintf(stderr, "  calls in a clean run:");
    for (int e = 0; e < TU_NENTRIES; e++) {
        clean[e] = atomic_load(&tu_fl->calls[e]);
        if (inject_entries & TU_ENTRY_BIT(e))
            fprintf(stderr, " %s %" PRIu64 "%s", tu_entry_names[e], clean[e],
                    e < TU_E_EVENTFD ? "," : "\n");
    }
    test_rmrf(s.log);

    long runs = 0, hits = 0, failed_runs = 0;
    for (int e = 0; e < TU_NENTRIES && !th_failed_current; e++) {
        /* Background threads make counts vary a little: go one further. */
        uint64_t last = clean[e] + 1;
        uint64_t step = all || last <= 12 ? 1 : last / 12;
        for (int f = 0; f < TU_NFAULTS; f++) {
            if (!applies(e, f))
                continue;
            for (uint64_t n = 1; n <= last; n += step) {
                memset(out, 0, sizeof *out);
                tu_faults_arm(e, f, n, f == TU_F_EINTR ? EINTR_STORM : 1);
                int ok = run_child(s.log) == 0;
                runs++;
                hits += atomic_load(&tu_fl->hits) > 0;
                tu_faults_arm(TU_E_NONE, 0, 0, 0);
                if (ok && out->silent_failures) {
                    fprintf(stderr, "  %d call(s) failed without a message\n",
                            out->silent_failures);
                    ok = 0;
                }
                /* Retried faults must change nothing. */
                if (ok && (f == TU_F_EINTR || f == TU_F_SHORT) && out->failures) {
                    fprintf(stderr, "  %d call(s) failed\n", out->failures);
                    ok = 0;
                }
                if (ok)
                    ok = verify(s.log) == 0;
                if (!ok) {
                    fprintf(stderr, "  ...with %s on call %" PRIu64 " to %s\n",
                            tu_fault_names[f], n, tu_entry_names[e]);
                    failed_runs++;
                    CHECK(!"the log survives the fault");
                }
                test_rmrf(s.log);
            }
        }
    }
    fprintf(stderr, "  %ld runs, %ld hit their fault, %ld failed\n", runs, hits, failed_runs);
    CHECK(hits > runs / 2); /* the sample reaches the calls it aims at */
    munmap(tu_fl, sizeof *tu_fl);
    tu_fl = &tu_faults_here;
    munmap(out, sizeof *out);
}

TEST_MAIN(
    RUN(every_system_call_failing_leaves_the_log_consistent);
)
