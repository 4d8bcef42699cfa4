/* Many processes on one log: a stress run of writer processes (two threads
 * each, mixed levels) with following readers in other processes;
 * cross-process group commit; and a kill loop that SIGKILLs writers at random
 * moments while the others go on and a reader follows.
 *
 * DURLOG_STRESS_RECORDS (records per writer thread, default 25000) and
 * DURLOG_KILL_ROUNDS (default 200) scale the runs up for `make soak`. */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "format.h"
#include "segment.h"
#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define EXTRA 100

enum {
    MAX_WRITERS = 65536,  /* payload writer ids a run may use */
    MAX_READERS = 4,
    STALL_LIMIT_MS = 1000 /* the bound docs/DESIGN.md promises */
};

/* Shared with every child. acked[w] is one past the last index of writer w
 * whose append at kernel level or above had returned success (buffered
 * appends are not acknowledgements); attempted[w] is one past the last index
 * it had started to append. */
struct board {
    _Atomic uint64_t acked[MAX_WRITERS];
    _Atomic uint64_t attempted[MAX_WRITERS];
    _Atomic int go;           /* writers start together */
    _Atomic int stop;         /* writers of the kill loop stop */
    _Atomic uint64_t end_seq; /* readers stop here; UINT64_MAX until known */
    _Atomic int failed;
    _Atomic uint64_t fdatasyncs;
    _Atomic uint64_t not_durable;
    _Atomic uint64_t seen[MAX_READERS];
    _Atomic int reader_bad[MAX_READERS];
};

static unsigned env_count(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    unsigned long n = v && *v ? strtoul(v, NULL, 10) : 0;
    return n > 0 && n < 100000000 ? (unsigned)n : dflt;
}

static void board_fail(struct board *b, const char *what, uint32_t writer,
                       const char *detail)
{
    fprintf(stderr, "  writer %u: %s: %s\n", writer, what, detail);
    atomic_store(&b->failed, 1);
}

static durlog_options small_segments(void)
{
    return (durlog_options){
        .segment_size = 1 << 20, /* many rolls for readers to cross */
        .buffer_size = 4096,
        .interval_ms = 5,
    };
}

/* Opens the log (small segments) for writer `who`; NULL after recording
 * the failure on the board. */
static durlog *board_open(struct board *b, const char *path, uint32_t who)
{
    durlog_options o = small_segments();
    durlog *log;
    int rc = durlog_open(path, &o, &log);
    if (rc) {
        /* The code and the message, which names the file refused. */
        char why[600];
        snprintf(why, sizeof why, "%s (%s)", durlog_strerror(rc), durlog_last_errmsg());
        board_fail(b, "open", who, why);
        return NULL;
    }
    return log;
}

/* Creates the log, so that readers can open it before any writer. */
static void create_log(const char *path)
{
    durlog_options o = small_segments();
    durlog *log;
    REQUIRE(durlog_open(path, &o, &log) == 0);
    CHECK_OK(durlog_close(log));
}

/* What a writer (a forked process, or a thread of one) is told: the log
 * (its path; a thread gets the handle), the board it reports to, its writer
 * number, and (where it appends a given number) how many records. */
struct writer_child {
    const char *path;
    struct board *b;
    uint32_t writer;
    uint64_t count;
    durlog *log;
};

/* A board in shared memory for the log it creates at the new scratch s
 * (so that readers can open it before any writer). NULL without memory. */
static struct board *board_new(struct scratch *s)
{
    scratch_make(s);
    struct board *b = tu_shared_alloc(sizeof *b);
    if (b) {
        atomic_store(&b->end_seq, UINT64_MAX);
        create_log(s->log);
    }
    return b;
}

/* Forks writers first..first+n-1 running fn, each told to append count
 * records; their descriptions in c, their pids in pids. Returns 0, or -1
 * if a fork failed. */
static int fork_writers(struct writer_child *c, pid_t *pids, uint32_t first, uint32_t n,
                        const char *path, struct board *b, uint64_t count,
                        int (*fn)(void *))
{
    for (uint32_t i = 0; i < n; i++) {
        c[i] = (struct writer_child){ path, b, first + i, count, NULL };
        if ((pids[i] = tu_fork(fn, &c[i])) <= 0)
            return -1;
    }
    return 0;
}

/* A level for each append: mostly buffered and kernel, some interval, a
 * little sync. */
static durlog_level pick_level(uint64_t *rnd)
{
    unsigned r = (unsigned)(test_rand(rnd) % 1000);
    return r < 10 ? DURLOG_SYNC : r < 90 ? DURLOG_INTERVAL
         : r < 450 ? DURLOG_KERNEL : DURLOG_BUFFERED;
}

/* Appends writer w's records [index, index + n) as one call (a batch when
 * n > 1) at `level`, keeping the board's counters. */
static int append_records(durlog *log, struct board *b, uint32_t w, uint64_t index,
                          unsigned n, durlog_level level)
{
    unsigned char buf[4][TU_PAYLOAD_MAX];
    durlog_iov iov[4];
    for (unsigned i = 0; i < n; i++) {
        iov[i].data = buf[i];
        iov[i].len = tu_payload(buf[i], w, index + i, EXTRA);
    }
    atomic_store(&b->attempted[w], index + n);
    int rc = n == 1 ? durlog_append(log, iov[0].data, iov[0].len, level, NULL)
                    : durlog_append_batch(log, iov, n, level, NULL);
    if (rc) {
        board_fail(b, "append", w, durlog_errmsg(log));
        return rc;
    }
    if (level != DURLOG_BUFFERED)
        atomic_store(&b->acked[w], index + n);
    return 0;
}

/* ---- stress: writer processes with two threads each, following readers ---- */

enum { STRESS_PROCESSES = 8, STRESS_THREADS = 2, STRESS_READERS = 4 };

static void *stress_thread_main(void *arg)
{
    struct writer_child *t = arg;
    uint64_t rnd = 0x9e3779b97f4a7c15ull ^ t->writer;
    uint64_t i = 0;
    while (i < t->count && !atomic_load(&t->b->failed)) {
        unsigned n = test_rand(&rnd) % 20 == 0 ? 1 + (unsigned)(test_rand(&rnd) % 4) : 1;
        if (n > t->count - i)
            n = (unsigned)(t->count - i);
        if (append_records(t->log, t->b, t->writer, i, n, pick_level(&rnd)))
            break;
        i += n;
        if (i % 1000 == 0 && durlog_flush(t->log, DURLOG_KERNEL))
            board_fail(t->b, "flush", t->writer, durlog_errmsg(t->log));
    }
    return NULL;
}

static int stress_writer_main(void *arg)
{
    struct writer_child *c = arg; /* writer: the process; count: per thread */
    durlog *log = board_open(c->b, c->path, c->writer);
    if (!log)
        return 1;
    while (!atomic_load(&c->b->go))
        usleep(100);
    pthread_t th[STRESS_THREADS];
    struct writer_child t[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        t[i] = (struct writer_child){ c->path, c->b, c->writer * STRESS_THREADS + (uint32_t)i,
                                      c->count, log };
        if (pthread_create(&th[i], NULL, stress_thread_main, &t[i]))
            return 1;
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(th[i], NULL);
    return durlog_close(log) || atomic_load(&c->b->failed) ? 1 : 0;
}

struct reader_child {
    const char *path;
    struct board *b;
    uint32_t slot;
    durlog_reader_options opts;
    uint32_t writers;      /* payload writer ids are below this */
    unsigned timeout_s;    /* give up (and fail) after this long */
};

/* Follows the log until board->end_seq, checking every record: numbered
 * densely from 0, intact, each writer's indices consecutive from 0. With
 * durable_only, also that each record was durable when it was returned. */
static int reader_main(void *arg)
{
    struct reader_child *c = arg;
    struct board *b = c->b;
    durlog_reader *r;
    int rc = durlog_reader_open(c->path, &c->opts, &r);
    if (rc) {
        fprintf(stderr, "  reader %u: open: %s\n", c->slot, durlog_strerror(rc));
        atomic_store(&b->reader_bad[c->slot], 1);
        return 1;
    }
    struct dl_shared *sh = c->opts.durable_only ? tu_map_shared(c->path) : NULL;
    uint64_t *next_index = calloc(c->writers, sizeof *next_index);
    uint64_t want = 0;
    uint64_t deadline = tu_now_ms() + 1000ull * c->timeout_s;
    const char *bad = NULL;
    while (!bad) {
        durlog_record rec;
        rc = durlog_reader_next(r, &rec);
        if (rc == DURLOG_EEND) {
            if (want >= atomic_load(&b->end_seq))
                break;
            if (tu_now_ms() > deadline) {
                bad = "timed out";
                break;
            }
            rc = durlog_reader_wait(r, 100);
            if (rc && rc != -ETIMEDOUT)
                bad = durlog_reader_errmsg(r);
            continue;
        }
        if (rc) {
            bad = durlog_reader_errmsg(r);
            break;
        }
        uint32_t w;
        uint64_t idx;
        if (rec.seq != want)
            bad = "a sequence number out of order";
        else if (!tu_payload_check(&rec, EXTRA, &w, &idx) || w >= c->writers)
            bad = "a record that is not what its writer wrote";
        else if (idx != next_index[w])
            bad = "a writer's records out of order";
        else if (sh && tu_durable(sh) <= rec.seq)
            bad = "a record before it was durable";
        else {
            next_index[w]++;
            want++;
            atomic_store(&b->seen[c->slot], want);
        }
    }
    if (!bad && want != atomic_load(&b->end_seq))
        bad = "records past the end";
    if (bad) {
        fprintf(stderr, "  reader %u at seq %" PRIu64 ": %s\n", c->slot, want, bad);
        atomic_store(&b->reader_bad[c->slot], 1);
    }
    free(next_index);
    if (sh)
        tu_unmap_shared(sh);
    durlog_reader_close(r);
    return bad ? 1 : 0;
}

/* Makes every record durable (for durable-only readers) and publishes the
 * end for the readers. Returns the end. */
static uint64_t announce_end(struct board *b, const char *path)
{
    durlog *log;
    durlog_info info = { 0 };
    durlog_options o = small_segments();
    int rc = durlog_open(path, &o, &log);
    CHECK_OK(rc);
    if (rc == 0) {
        CHECK_OK(durlog_flush(log, DURLOG_SYNC));
        CHECK_OK(durlog_get_info(log, &info));
        CHECK_OK(durlog_close(log));
    }
    atomic_store(&b->end_seq, info.next_seq);
    return info.next_seq;
}

static void eight_writer_processes_and_four_following_readers_agree(void)
{
    const uint64_t per_thread = env_count("DURLOG_STRESS_RECORDS", 25000);
    const uint32_t writers = STRESS_PROCESSES * STRESS_THREADS;
    struct scratch s;
    struct board *b = board_new(&s);
    REQUIRE(b);

    struct reader_child rc[STRESS_READERS];
    pid_t readers[STRESS_READERS];
    for (uint32_t i = 0; i < STRESS_READERS; i++) {
        rc[i] = (struct reader_child){ s.log, b, i, { 0 }, writers, 600 };
        durlog_reader_options_init(&rc[i].opts);
        if (i == 1)
            rc[i].opts.spin_us = 50;
        if (i == 2)
            rc[i].opts.durable_only = 1;
        readers[i] = tu_fork(reader_main, &rc[i]);
        REQUIRE(readers[i] > 0);
    }
    struct writer_child wc[STRESS_PROCESSES];
    pid_t pids[STRESS_PROCESSES];
    REQUIRE(fork_writers(wc, pids, 0, STRESS_PROCESSES, s.log, b, per_thread,
                         stress_writer_main) == 0);
    uint64_t start = tu_now_ms();
    atomic_store(&b->go, 1);
    for (uint32_t p = 0; p < STRESS_PROCESSES; p++)
        CHECK(tu_exited_ok(tu_wait(pids[p])));
    uint64_t written = tu_now_ms() - start;
    uint64_t end = announce_end(b, s.log);
    CHECK_EQ_U64(end, (uint64_t)writers * per_thread);
    for (uint32_t i = 0; i < STRESS_READERS; i++) {
        CHECK(tu_exited_ok(tu_wait(readers[i])));
        CHECK(!atomic_load(&b->reader_bad[i]));
        CHECK_EQ_U64(atomic_load(&b->seen[i]), end);
    }
    CHECK(!atomic_load(&b->failed));
    fprintf(stderr, "  %" PRIu64 " records from %u processes in %" PRIu64
            " ms; %u readers saw each once, in order\n", end,
            STRESS_PROCESSES, written, STRESS_READERS);

    uint64_t next_index[STRESS_PROCESSES * STRESS_THREADS] = { 0 };
    CHECK_EQ_U64(tu_verify_log(s.log, 0, EXTRA, writers, next_index), end);
    for (uint32_t w = 0; w < writers; w++)
        CHECK_EQ_U64(next_index[w], per_thread);
    munmap(b, sizeof *b);
}

/* ---- group commit across processes ---- */

static int sync_writer_main(void *arg)
{
    struct writer_child *c = arg;
    durlog *log;
    if (durlog_open(c->path, NULL, &log))
        return 1;
    struct dl_shared *sh = tu_map_shared(c->path);
    if (!sh)
        return 1;
    tu_count_fdatasync();
    while (!atomic_load(&c->b->go))
        usleep(100);
    int rc = 0;
    for (uint64_t i = 0; i < c->count && rc == 0; i++) {
        uint64_t seq;
        rc = tu_append_payload(log, c->writer, i, EXTRA, DURLOG_SYNC, &seq);
        if (rc == 0 && tu_durable(sh) <= seq)
            atomic_fetch_add(&c->b->not_durable, 1);
    }
    atomic_fetch_add(&c->b->fdatasyncs, (uint64_t)atomic_load(&tu_fdatasync_calls));
    tu_unmap_shared(sh);
    return durlog_close(log) || rc ? 1 : 0;
}

/* Sync appends from different processes share fdatasync calls: fewer calls
 * than appends in all, and every append returns durable. */
static void sync_appends_in_many_processes_share_fdatasync_calls(void)
{
    enum { PROCESSES = 8, PER_PROCESS = 100 };
    struct scratch s;
    struct board *b = tu_shared_alloc(sizeof *b);
    REQUIRE(b);
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "", 0, DURLOG_SYNC, NULL)); /* segment exists */
    CHECK_OK(fx_close(log));
    struct writer_child c[PROCESSES];
    pid_t pids[PROCESSES];
    REQUIRE(fork_writers(c, pids, 0, PROCESSES, s.log, b, PER_PROCESS, sync_writer_main) == 0);
    tu_sleep_ms(50); /* let them all open */
    atomic_store(&b->go, 1);
    for (uint32_t i = 0; i < PROCESSES; i++)
        CHECK(tu_exited_ok(tu_wait(pids[i])));
    uint64_t calls = atomic_load(&b->fdatasyncs);
    fprintf(stderr, "  %d sync appends in %d processes, %" PRIu64 " fdatasync calls\n",
            PROCESSES * PER_PROCESS, PROCESSES, calls);
    CHECK_EQ_U64(atomic_load(&b->not_durable), 0);
    CHECK(calls >= 1);
    CHECK(calls < PROCESSES * PER_PROCESS);
    uint64_t next_index[PROCESSES] = { 0 };
    CHECK_EQ_U64(tu_verify_log(s.log, 1, EXTRA, PROCESSES, next_index),
                 PROCESSES * PER_PROCESS);
    munmap(b, sizeof *b);
}

/* ---- permissions ---- */

static mode_t mode_of(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? st.st_mode & 0777 : (mode_t)-1;
}

/* The log's permissions are set by whoever creates it (its options and
 * umask); segments created later by a writer with another umask and other
 * options get the same, so that every writer and reader of the log can open
 * them. */
static void segments_get_the_logs_permissions_whatever_the_writers_umask(void)
{
    struct scratch s;
    scratch_make(&s);
    mode_t old = umask(027);
    durlog_options o = { .mode = 0664 };
    o.segment_size = 4096; /* so that the next writer soon needs a new one */
    durlog *log;
    REQUIRE(durlog_open(s.log, &o, &log) == 0);
    CHECK_OK(durlog_append(log, "first", 5, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    CHECK_EQ_U64(mode_of(s.log, "durlog.shm"), 0640);

    umask(077); /* another writer, stricter umask, default mode 0644 */
    durlog_options_init(&o);
    o.segment_size = 4096;
    REQUIRE(durlog_open(s.log, &o, &log) == 0);
    /* Enough records for five 4 KiB segments or more. */
    for (int i = 0; i < 400; i++)
        CHECK_OK(tu_append_payload(log, 0, (uint64_t)i, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    umask(old);

    uint64_t *segs;
    size_t n;
    int dirfd = open(s.log, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    REQUIRE(dl_seg_list(dirfd, &segs, &n) == 0);
    close(dirfd);
    CHECK(n >= 5);
    for (size_t i = 0; i < n; i++) {
        char name[DL_SEG_NAME_LEN + 1];
        dl_seg_name(name, segs[i]);
        mode_t m = mode_of(s.log, name);
        if (m != 0640)
            fprintf(stderr, "  %s has mode %o\n", name, (unsigned)m);
        CHECK(m == 0640);
    }
    free(segs);
}

/* A writer of another durlog version has the log open: its coordination
 * file has another layout, so joining must fail, with a message that says
 * why, rather than misread it. */
static void joining_a_log_open_by_another_version_fails_clearly(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *log, *other;
    REQUIRE(durlog_open(s.log, NULL, &log) == 0);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s.log, DL_SHM_NAME);
    int fd = open(path, O_WRONLY);
    REQUIRE(fd >= 0);
    uint32_t version = DL_SHM_VERSION + 1;
    off_t at = (off_t)offsetof(struct dl_shared, version);
    CHECK(pwrite(fd, &version, sizeof version, at) == (ssize_t)sizeof version);
    char err[512] = "";
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    CHECK_RC(durlog_open(s.log, &o, &other), DURLOG_EFORMAT);
    if (!strstr(err, "another version"))
        fprintf(stderr, "  message: %s\n", err);
    CHECK(strstr(err, "another version") != NULL);
    version = DL_SHM_VERSION;
    CHECK(pwrite(fd, &version, sizeof version, at) == (ssize_t)sizeof version);
    close(fd);
    CHECK_OK(durlog_open(s.log, NULL, &other));
    CHECK_OK(durlog_close(other));
    CHECK_OK(durlog_close(log));
}

/* ---- kill loop ---- */

enum { KILL_WRITERS = 3 };

/* Appends in bursts (so that a kill often lands inside an append, holding the
 * append lock or halfway through copying) at mixed levels until told to stop. */
static int kill_writer_main(void *arg)
{
    struct writer_child *c = arg;
    durlog *log = board_open(c->b, c->path, c->writer);
    if (!log)
        return 1;
    uint64_t rnd = 0x2545f4914f6cdd1dull ^ c->writer;
    uint64_t i = 0;
    while (!atomic_load(&c->b->stop)) {
        for (int k = 0; k < 32; k++) {
            unsigned n = k % 8 == 7 ? 3 : 1;
            if (append_records(log, c->b, c->writer, i, n, pick_level(&rnd)))
                return 1;
            i += n;
        }
        usleep(200);
    }
    return durlog_close(log) ? 1 : 0;
}

/* Waits until acked[w] exceeds `than`; returns the milliseconds it took, or
 * UINT64_MAX after timeout_ms. */
static uint64_t wait_progress(struct board *b, uint32_t w, uint64_t than,
                              unsigned timeout_ms)
{
    uint64_t start = tu_now_ms();
    while (atomic_load(&b->acked[w]) <= than) {
        if (tu_now_ms() - start > timeout_ms)
            return UINT64_MAX;
        usleep(50);
    }
    return tu_now_ms() - start;
}

static void writers_killed_at_random_moments_lose_nothing_acknowledged(void)
{
    const unsigned rounds = env_count("DURLOG_KILL_ROUNDS", 200);
    REQUIRE(rounds + KILL_WRITERS <= MAX_WRITERS);
    struct scratch s;
    struct board *b = board_new(&s);
    REQUIRE(b);
    const uint32_t max_writer = rounds + KILL_WRITERS;
    struct reader_child rd = { s.log, b, 0, { 0 }, max_writer, 3600 };
    durlog_reader_options_init(&rd.opts);
    pid_t reader = tu_fork(reader_main, &rd);
    REQUIRE(reader > 0);

    struct writer_child kc[KILL_WRITERS];
    pid_t pids[KILL_WRITERS];
    uint32_t next_writer = KILL_WRITERS;
    REQUIRE(fork_writers(kc, pids, 0, KILL_WRITERS, s.log, b, 0, kill_writer_main) == 0);
    uint64_t rnd = 0xc0ffee;
    uint64_t worst_stall = 0, in_burst = 0;
    for (unsigned round = 0; round < rounds && !th_failed_current; round++) {
        int v = (int)(test_rand(&rnd) % KILL_WRITERS);
        uint32_t victim = kc[v].writer;
        /* Every writer is up and appending. */
        for (int i = 0; i < KILL_WRITERS; i++)
            CHECK(wait_progress(b, kc[i].writer, 0, 10000) != UINT64_MAX);
        if (round % 2) {
            /* Just after an acknowledgement, mid-burst: likely inside the
             * next append, holding the lock. */
            uint64_t a = atomic_load(&b->acked[victim]);
            if (wait_progress(b, victim, a, 1000) != UINT64_MAX)
                in_burst++;
            for (volatile unsigned spin = (unsigned)(test_rand(&rnd) % 2000); spin; spin--)
                ;
        } else {
            usleep((useconds_t)(test_rand(&rnd) % 3000));
        }
        kill(pids[v], SIGKILL);
        int status = tu_wait(pids[v]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        /* Every survivor acknowledges another append within the bound. */
        for (int i = 0; i < KILL_WRITERS; i++) {
            if (i == v)
                continue;
            uint64_t ms = wait_progress(b, kc[i].writer,
                                        atomic_load(&b->acked[kc[i].writer]),
                                        STALL_LIMIT_MS);
            if (ms == UINT64_MAX)
                fprintf(stderr, "  round %u: writer %u made no progress for %d ms"
                        " after writer %u was killed\n", round, kc[i].writer,
                        STALL_LIMIT_MS, victim);
            CHECK(ms != UINT64_MAX);
            if (ms != UINT64_MAX && ms > worst_stall)
                worst_stall = ms;
        }
        CHECK(!atomic_load(&b->failed));
        REQUIRE(fork_writers(&kc[v], &pids[v], next_writer++, 1, s.log, b, 0,
                             kill_writer_main) == 0);
    }
    atomic_store(&b->stop, 1);
    for (int i = 0; i < KILL_WRITERS; i++)
        CHECK(tu_exited_ok(tu_wait(pids[i])));
    uint64_t end = announce_end(b, s.log);
    CHECK(tu_exited_ok(tu_wait(reader)));
    CHECK(!atomic_load(&b->reader_bad[0]));
    CHECK_EQ_U64(atomic_load(&b->seen[0]), end);
    CHECK(!atomic_load(&b->failed));
    fprintf(stderr, "  %u writers killed (%" PRIu64 " just after an acknowledgement),"
            " %" PRIu64 " records; survivors' longest wait %" PRIu64 " ms\n",
            rounds, in_burst, end, worst_stall);

    /* Every acknowledged record is in the log, each writer's records form a
     * prefix of what it appended, and the log checks clean. */
    uint64_t *next_index = calloc(max_writer, sizeof *next_index);
    REQUIRE(next_index);
    CHECK_EQ_U64(tu_verify_log(s.log, 0, EXTRA, max_writer, next_index), end);
    uint64_t lost = 0;
    for (uint32_t w = 0; w < next_writer; w++) {
        if (next_index[w] < atomic_load(&b->acked[w]) ||
            next_index[w] > atomic_load(&b->attempted[w])) {
            if (lost++ < 5)
                fprintf(stderr, "  writer %u: %" PRIu64 " records in the log, %"
                        PRIu64 " acknowledged, %" PRIu64 " attempted\n", w,
                        next_index[w], atomic_load(&b->acked[w]),
                        atomic_load(&b->attempted[w]));
        }
    }
    CHECK_EQ_U64(lost, 0);
    free(next_index);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    if (rep.damaged)
        fprintf(stderr, "  check: %s\n", rep.problem);
    CHECK(!rep.damaged);
    CHECK_EQ_U64(rep.records, end);
    munmap(b, sizeof *b);
}

TEST_MAIN(
    RUN(eight_writer_processes_and_four_following_readers_agree);
    RUN(sync_appends_in_many_processes_share_fdatasync_calls);
    RUN(segments_get_the_logs_permissions_whatever_the_writers_umask);
    RUN(joining_a_log_open_by_another_version_fails_clearly);
    RUN(writers_killed_at_random_moments_lose_nothing_acknowledged);
)
