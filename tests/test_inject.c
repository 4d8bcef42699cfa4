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
 * DURLOG_INJECT_ALL=1 tries every n rather than a sample (slow). */
#include <sys/wait.h>

#include "lib/children.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define EXTRA 60
#define RECORDS 120

enum entry {
    E_PWRITE, E_WRITE, E_PREAD, E_FDATASYNC, E_FSYNC, E_FALLOCATE, E_FTRUNCATE,
    E_OPENAT, E_RENAMEAT, E_UNLINKAT, E_MMAP, E_URING_SUBMIT, E_URING, E_FLOCK,
    E_FCNTL, E_STATX, E_FUTEX, E_EVENTFD, NENTRIES
};
static const char *entry_names[NENTRIES] = {
    "pwrite", "write", "pread", "fdatasync", "fsync", "fallocate", "ftruncate",
    "openat", "renameat", "unlinkat", "mmap", "io_uring submission", "io_uring completion",
    "flock", "fcntl", "statx", "futex", "eventfd write",
};

enum fault { F_EIO, F_ENOSPC, F_EDQUOT, F_EAGAIN, F_EINTR_STORM, F_SHORT, NFAULTS };
static const char *fault_names[NFAULTS] = {
    "EIO", "ENOSPC", "EDQUOT", "EAGAIN", "an EINTR storm", "a 1-byte write",
};
static const int fault_errno[NFAULTS] = { EIO, ENOSPC, EDQUOT, EAGAIN, EINTR, 0 };

/* What the child reports. */
struct outcome {
    _Atomic uint64_t calls[NENTRIES]; /* calls made, per entry */
    uint8_t acked[RECORDS];           /* acknowledged */
    uint8_t attempted[RECORDS];
    int open_failed;
    int failures;                     /* API calls that returned an error */
    int silent_failures;              /* ...without a message */
    int fault_hit;
};

static struct outcome *out;
static enum entry inject_entry = NENTRIES;
static enum fault inject_fault;
static uint64_t inject_at;            /* the call that fails (1-based) */

/* 1 when this call (counted now) is to fail; EINTR storms last 50 calls. */
static int faulting(enum entry e)
{
    uint64_t n = atomic_fetch_add(&out->calls[e], 1) + 1;
    if (e != inject_entry)
        return 0;
    uint64_t len = inject_fault == F_EINTR_STORM ? 50 : 1;
    if (n < inject_at || n >= inject_at + len)
        return 0;
    out->fault_hit = 1;
    errno = fault_errno[inject_fault];
    return 1;
}

static ssize_t f_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (faulting(E_PWRITE))
        return inject_fault == F_SHORT ? dl_os_real.pwrite(fd, buf, len > 1 ? 1 : len, off) : -1;
    return dl_os_real.pwrite(fd, buf, len, off);
}

static ssize_t f_write(int fd, const void *buf, size_t len)
{
    if (faulting(E_WRITE))
        return inject_fault == F_SHORT ? dl_os_real.write(fd, buf, len > 1 ? 1 : len) : -1;
    return dl_os_real.write(fd, buf, len);
}

static ssize_t f_pread(int fd, void *buf, size_t len, off_t off)
{
    if (faulting(E_PREAD))
        return inject_fault == F_SHORT ? dl_os_real.pread(fd, buf, len > 1 ? 1 : len, off) : -1;
    return dl_os_real.pread(fd, buf, len, off);
}

static int f_fdatasync(int fd)
{
    return faulting(E_FDATASYNC) ? -1 : dl_os_real.fdatasync(fd);
}

static int f_fsync(int fd)
{
    return faulting(E_FSYNC) ? -1 : dl_os_real.fsync(fd);
}

static int f_fallocate(int fd, int mode, off_t off, off_t len)
{
    return faulting(E_FALLOCATE) ? -1 : dl_os_real.fallocate(fd, mode, off, len);
}

static int f_ftruncate(int fd, off_t len)
{
    return faulting(E_FTRUNCATE) ? -1 : dl_os_real.ftruncate(fd, len);
}

static int f_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    return faulting(E_OPENAT) ? -1 : dl_os_real.openat(dirfd, name, flags, mode);
}

static int f_renameat(int od, const char *on, int nd, const char *nn)
{
    return faulting(E_RENAMEAT) ? -1 : dl_os_real.renameat(od, on, nd, nn);
}

static int f_unlinkat(int dirfd, const char *name, int flags)
{
    return faulting(E_UNLINKAT) ? -1 : dl_os_real.unlinkat(dirfd, name, flags);
}

static void *f_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return faulting(E_MMAP) ? MAP_FAILED : dl_os_real.mmap(addr, len, prot, flags, fd, off);
}

static int f_uring_submit(void *ring)
{
    /* A submission refused (-errno) or taking nothing (0, an EINTR storm
     * being retried by the caller). */
    if (faulting(E_URING_SUBMIT))
        return inject_fault == F_SHORT ? 0 : -errno;
    return dl_os_real.uring_submit(ring);
}

static int f_uring_result(int fd, int datasync, int res)
{
    /* Then the fdatasync/fsync faults act on the ring's syncs too. */
    return faulting(E_URING) ? -errno : tu_uring_result(fd, datasync, res);
}

static int f_flock(int fd, int op)
{
    return faulting(E_FLOCK) ? -1 : dl_os_real.flock(fd, op);
}

static int f_fcntl(int fd, int cmd, void *arg)
{
    return faulting(E_FCNTL) ? -1 : dl_os_real.fcntl(fd, cmd, arg);
}

static int f_statx(int dirfd, const char *name, int flags, unsigned mask, struct statx *sx)
{
    return faulting(E_STATX) ? -1 : dl_os_real.statx(dirfd, name, flags, mask, sx);
}

static long f_futex(uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return faulting(E_FUTEX) ? -1 : dl_os_real.futex(word, op, val, timeout);
}

static int f_eventfd_write(int fd, uint64_t value)
{
    return faulting(E_EVENTFD) ? -1 : dl_os_real.eventfd_write(fd, value);
}

static void install_faults(void)
{
    dl_os.pwrite = f_pwrite;
    dl_os.write = f_write;
    dl_os.pread = f_pread;
    dl_os.fdatasync = f_fdatasync;
    dl_os.fsync = f_fsync;
    dl_os.fallocate = f_fallocate;
    dl_os.ftruncate = f_ftruncate;
    dl_os.openat = f_openat;
    dl_os.renameat = f_renameat;
    dl_os.unlinkat = f_unlinkat;
    dl_os.mmap = f_mmap;
    dl_os.uring_submit = f_uring_submit;
    dl_os.uring_result = f_uring_result;
    dl_os.flock = f_flock;
    dl_os.fcntl = f_fcntl;
    dl_os.statx = f_statx;
    dl_os.futex = f_futex;
    dl_os.eventfd_write = f_eventfd_write;
}

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
    install_faults();
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

static int applies(enum entry e, enum fault f)
{
    if (f == F_SHORT) /* a short transfer; for a submission, none taken */
        return e == E_PWRITE || e == E_WRITE || e == E_PREAD || e == E_URING_SUBMIT;
    if (f == F_EINTR_STORM)
        return e != E_MMAP && e != E_URING; /* neither reports EINTR */
    return 1;
}

static void every_system_call_failing_leaves_the_log_consistent(void)
{
    struct scratch s;
    scratch_make(&s);
    out = tu_shared_alloc(sizeof *out);
    REQUIRE(out);
    int all = getenv("DURLOG_INJECT_ALL") && *getenv("DURLOG_INJECT_ALL") == '1';

    /* A clean run counts each entry's calls. */
    memset(out, 0, sizeof *out);
    inject_entry = NENTRIES;
    REQUIRE(run_child(s.log) == 0);
    REQUIRE(out->failures == 0);
    uint64_t clean[NENTRIES];
    fprintf(stderr, "  calls in a clean run:");
    for (int e = 0; e < NENTRIES; e++) {
        clean[e] = atomic_load(&out->calls[e]);
        fprintf(stderr, " %s %" PRIu64 "%s", entry_names[e], clean[e],
                e + 1 < NENTRIES ? "," : "\n");
    }
    test_rmrf(s.log);

    long runs = 0, hits = 0, failed_runs = 0;
    for (int e = 0; e < NENTRIES && !th_failed_current; e++) {
        /* Background threads make counts vary a little: go one further. */
        uint64_t last = clean[e] + 1;
        uint64_t step = all || last <= 12 ? 1 : last / 12;
        for (int f = 0; f < NFAULTS; f++) {
            if (!applies((enum entry)e, (enum fault)f))
                continue;
            for (uint64_t n = 1; n <= last; n += step) {
                memset(out, 0, sizeof *out);
                inject_entry = (enum entry)e;
                inject_fault = (enum fault)f;
                inject_at = n;
                int ok = run_child(s.log) == 0;
                inject_entry = NENTRIES;
                runs++;
                hits += out->fault_hit;
                if (ok && out->silent_failures) {
                    fprintf(stderr, "  %d call(s) failed without a message\n",
                            out->silent_failures);
                    ok = 0;
                }
                /* Retried faults must change nothing. */
                if (ok && (f == F_EINTR_STORM || f == F_SHORT) && out->failures) {
                    fprintf(stderr, "  %d call(s) failed\n", out->failures);
                    ok = 0;
                }
                if (ok)
                    ok = verify(s.log) == 0;
                if (!ok) {
                    fprintf(stderr, "  ...with %s on call %" PRIu64 " to %s\n",
                            fault_names[f], n, entry_names[e]);
                    failed_runs++;
                    CHECK(!"the log survives the fault");
                }
                test_rmrf(s.log);
            }
        }
    }
    fprintf(stderr, "  %ld runs, %ld hit their fault, %ld failed\n", runs, hits, failed_runs);
    CHECK(hits > runs / 2); /* the sample reaches the calls it aims at */
    munmap(out, sizeof *out);
}

TEST_MAIN(
    RUN(every_system_call_failing_leaves_the_log_consistent);
)
