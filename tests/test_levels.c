/* Durability levels: what each level promises about visibility to readers,
 * survival of a killed writer, and durability (fdatasync and the durable
 * mark), plus durlog_wait and argument checking. */
#include <dirent.h>

#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"

#define EXTRA 200 /* filler bytes per payload, at most */


/* Reads the next record and checks it is (writer 0, index). */
static void expect_next(durlog_reader *r, uint64_t seq, uint64_t index)
{
    durlog_record rec;
    uint32_t w;
    uint64_t idx;
    int rc = durlog_reader_next(r, &rec);
    CHECK_OK(rc);
    if (rc)
        return;
    CHECK_EQ_U64(rec.seq, seq);
    CHECK(tu_payload_check(&rec, EXTRA, &w, &idx));
    CHECK_EQ_U64(w, 0);
    CHECK_EQ_U64(idx, index);
}

static void buffered_records_are_invisible_to_a_reader_until_flushed(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .buffer_size = 4096 });
    durlog_reader *r;
    durlog_record rec;
    uint64_t seq = 0;
    REQUIRE(log);
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);

    /* Buffered records: pending sequence numbers, nothing to read. */
    for (uint64_t i = 0; i < 5; i++) {
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_BUFFERED, &seq));
        CHECK_EQ_U64(seq, DURLOG_SEQ_PENDING);
    }
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 0);

    /* durlog_flush(KERNEL) makes them visible, in order. */
    CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
    for (uint64_t i = 0; i < 5; i++)
        expect_next(r, i, i);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);

    /* A kernel append from the same handle flushes earlier buffered records
     * first: order is kept. */
    for (uint64_t i = 5; i < 8; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_BUFFERED, NULL));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    CHECK_OK(tu_append_payload(log, 0, 8, EXTRA, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, 8);
    for (uint64_t i = 5; i < 9; i++)
        expect_next(r, i, i);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);

    /* A full buffer (4 KiB, records of at most 32 + 216 bytes) flushes by
     * itself: after enough buffered appends some records are readable, and
     * what is readable is a prefix, in order. */
    uint64_t i = 9, seen = 9;
    int flushed = 0;
    for (; i < 9 + 200 && !flushed; i++) {
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_BUFFERED, NULL));
        flushed = durlog_reader_next(r, &rec) == 0;
        if (flushed) {
            uint32_t w;
            uint64_t idx;
            CHECK(tu_payload_check(&rec, EXTRA, &w, &idx));
            CHECK_EQ_U64(rec.seq, seen);
            CHECK_EQ_U64(idx, seen);
            seen++;
        }
    }
    CHECK(flushed);
    /* The automatic flush happened before the buffer could hold more than
     * 4096 bytes: at most 4096 / 44 (smallest record) records. */
    CHECK(i - 9 <= 4096 / (32 + TU_PAYLOAD_HEAD) + 1);
    while (durlog_reader_next(r, &rec) == 0) {
        CHECK_EQ_U64(rec.seq, seen);
        seen++;
    }
    CHECK(seen < i); /* the record that triggered it is still buffered */

    /* durlog_close flushes the rest. */
    CHECK_OK(fx_close(log));
    for (; seen < i; seen++)
        expect_next(r, seen, seen);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_reader_close(r);
}

/* The child side of the cross-process visibility test: for each message
 * from the parent, one durlog_reader_next call must return exactly the
 * expected record (or DURLOG_EEND when the parent says nothing is visible). */
struct visibility_child {
    const char *path;
    int from_parent, to_parent;
    int parent_ends[2];   /* closed in the child, so it sees end of file */
};

#define NOTHING_VISIBLE UINT64_MAX

static int visibility_child_main(void *arg)
{
    struct visibility_child *c = arg;
    durlog_reader *r;
    durlog_record rec;
    uint64_t msg, next = 0;
    close(c->parent_ends[0]);
    close(c->parent_ends[1]);
    if (durlog_reader_open(c->path, NULL, &r))
        return 1;
    tu_send(c->to_parent, 0); /* ready */
    while (tu_recv(c->from_parent, &msg) == 0) {
        int rc = durlog_reader_next(r, &rec);
        uint64_t verdict;
        if (msg == NOTHING_VISIBLE) {
            verdict = rc == DURLOG_EEND ? 0 : 1;
        } else {
            uint32_t w;
            uint64_t idx;
            verdict = !(rc == 0 && rec.seq == next && msg == next &&
                        tu_payload_check(&rec, EXTRA, &w, &idx) && idx == next);
            next++;
        }
        if (verdict)
            fprintf(stderr, "  child: message %" PRIu64 ": next() = %d (%s)\n",
                    msg, rc, durlog_reader_errmsg(r));
        tu_send(c->to_parent, verdict);
        if (verdict)
            break;
    }
    durlog_reader_close(r);
    return 0;
}

static void kernel_records_are_visible_to_a_reader_in_another_process_at_once(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .segment_size = 4096 });
    REQUIRE(log);
    int down[2], up[2];
    REQUIRE(pipe(down) == 0 && pipe(up) == 0);
    struct visibility_child c = { t.log, down[0], up[1], { down[1], up[0] } };
    pid_t pid = tu_fork(visibility_child_main, &c);
    REQUIRE(pid > 0);
    close(down[0]);
    close(up[1]);

    uint64_t verdict = 1, seq;
    CHECK(tu_recv(up[0], &verdict) == 0); /* reader open */
    /* Several segments' worth of records (4 KiB segments), each checked by
     * the child right after the append returned: no polling, no delay. */
    uint64_t index = 0;
    for (int round = 0; round < 100; round++) {
        CHECK_OK(tu_append_payload(log, 0, index, EXTRA, DURLOG_KERNEL, &seq));
        CHECK_EQ_U64(seq, index);
        tu_send(down[1], index);
        verdict = 1;
        CHECK(tu_recv(up[0], &verdict) == 0);
        CHECK_EQ_U64(verdict, 0);
        if (verdict)
            break;
        index++;
        if (round % 10 == 9) {
            /* A buffered record stays invisible to the other process... */
            CHECK_OK(tu_append_payload(log, 0, index, EXTRA, DURLOG_BUFFERED, NULL));
            tu_send(down[1], NOTHING_VISIBLE);
            CHECK(tu_recv(up[0], &verdict) == 0);
            CHECK_EQ_U64(verdict, 0);
            /* ...until flushed. */
            CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
            tu_send(down[1], index);
            CHECK(tu_recv(up[0], &verdict) == 0);
            CHECK_EQ_U64(verdict, 0);
            index++;
        }
    }
    close(down[1]);
    int status = tu_wait(pid);
    CHECK(tu_exited_ok(status));
    close(up[0]);
    CHECK_OK(fx_close(log));
}

/* Progress a writer child reports to the parent through shared memory:
 * acked[w] is one past the last index whose append had returned success. */
struct kill_shared {
    _Atomic uint64_t acked[2];
    _Atomic int stop;
    _Atomic int failed;
};

struct kill_child {
    const char *path;
    struct kill_shared *ks;
    uint32_t writer;       /* payload writer id (unique per round and child) */
    uint32_t slot;         /* index into ks->acked */
    uint64_t max_records;  /* stop after this many (0: until told to) */
};

static int kill_child_main(void *arg)
{
    struct kill_child *c = arg;
    durlog *log;
    int rc = durlog_open(c->path, NULL, &log);
    if (rc) {
        fprintf(stderr, "  child %u: open: %s\n", c->writer, durlog_strerror(rc));
        atomic_store(&c->ks->failed, 1);
        return 1;
    }
    for (uint64_t i = 0; c->max_records == 0 || i < c->max_records; i++) {
        if (atomic_load(&c->ks->stop))
            break;
        rc = tu_append_payload(log, c->writer, i, EXTRA, DURLOG_KERNEL, NULL);
        if (rc) {
            fprintf(stderr, "  child %u: append %" PRIu64 ": %s\n", c->writer, i,
                    durlog_errmsg(log));
            atomic_store(&c->ks->failed, 1);
            return 1;
        }
        atomic_store(&c->ks->acked[c->slot], i + 1);
    }
    return durlog_close(log) ? 1 : 0;
}

/* Waits until acked[slot] reaches `want`, up to timeout_ms; 1 if it did. */
static int wait_acked(struct kill_shared *ks, uint32_t slot, uint64_t want,
                      unsigned timeout_ms)
{
    uint64_t deadline = tu_now_ms() + timeout_ms;
    while (atomic_load(&ks->acked[slot]) < want) {
        if (tu_now_ms() > deadline || atomic_load(&ks->failed))
            return 0;
        usleep(100);
    }
    return 1;
}

/* After a round, the log must hold every acknowledged record of each writer
 * (consecutive indices from 0, at least acked of them: the killed writer's
 * last record may or may not have made it), intact and densely numbered.
 * Reopening the log as a writer (recovery) must work too. */
static void verify_round(const char *path, uint64_t from_seq, const uint32_t *writers,
                         const uint64_t *acked, int nwriters, uint32_t max_writer,
                         uint64_t *next_seq)
{
    durlog *log;
    int rc = durlog_open(path, NULL, &log);
    CHECK_OK(rc);
    if (rc)
        return;
    uint64_t *next_index = calloc(max_writer, sizeof *next_index);
    long n = tu_verify_log(path, from_seq, EXTRA, max_writer, next_index);
    CHECK(n >= 0);
    for (int w = 0; w < nwriters && n >= 0; w++) {
        if (next_index[writers[w]] < acked[w])
            fprintf(stderr, "  writer %u: %" PRIu64 " records in the log, %"
                    PRIu64 " acknowledged\n", writers[w], next_index[writers[w]], acked[w]);
        CHECK(next_index[writers[w]] >= acked[w]);
        /* At most the one append in flight when it died went unacknowledged. */
        CHECK(next_index[writers[w]] <= acked[w] + 1);
    }
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, from_seq + (uint64_t)(n > 0 ? n : 0));
    *next_seq = info.next_seq;
    /* The log takes appends after the kill. */
    uint64_t seq;
    CHECK_OK(durlog_append(log, "", 0, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, info.next_seq);
    *next_seq = seq + 1;
    CHECK_OK(durlog_close(log));
    free(next_index);
}

/* Zero-length records appended by verify_round are not payloads: skip them
 * by giving each round its own start. */
static void kernel_records_survive_sigkill_of_the_writer(void)
{
    struct scratch t;
    scratch_make(&t);
    struct kill_shared *ks = tu_shared_alloc(sizeof *ks);
    REQUIRE(ks);
    uint64_t rnd = 0x1234567;
    uint64_t next_seq = 0;
    enum { ROUNDS = 20 };
    for (uint32_t round = 0; round < ROUNDS && !th_failed_current; round++) {
        memset(ks, 0, sizeof *ks);
        struct kill_child c = { t.log, ks, round, 0, 4000 };
        pid_t pid = tu_fork(kill_child_main, &c);
        REQUIRE(pid > 0);
        CHECK(wait_acked(ks, 0, 1, 5000));
        usleep((useconds_t)(test_rand(&rnd) % 4000));
        kill(pid, SIGKILL);
        int status = tu_wait(pid);
        CHECK(!atomic_load(&ks->failed));
        /* Killed, or finished all of its records before the signal. */
        CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) || tu_exited_ok(status));
        uint64_t acked = atomic_load(&ks->acked[0]);
        uint32_t writer = round;
        uint64_t from = next_seq;
        verify_round(t.log, from, &writer, &acked, 1, ROUNDS, &next_seq);
    }
    munmap(ks, sizeof *ks);
}

/* Two writer processes append at once; one is killed, possibly while it
 * holds the append lock (the survivor then gets EOWNERDEAD and must repair
 * the tail). The survivor must keep appending, and every acknowledged record
 * of both must be in the log. */
static void survivor_keeps_appending_after_the_other_writer_is_killed(void)
{
    struct scratch t;
    scratch_make(&t);
    struct kill_shared *ks = tu_shared_alloc(sizeof *ks);
    REQUIRE(ks);
    durlog *first;
    REQUIRE(durlog_open(t.log, NULL, &first) == 0); /* create it */
    CHECK_OK(durlog_close(first));
    uint64_t rnd = 0xfeedbeef;
    uint64_t next_seq = 0;
    enum { ROUNDS = 30 };
    for (uint32_t round = 0; round < ROUNDS && !th_failed_current; round++) {
        memset(ks, 0, sizeof *ks);
        uint32_t writers[2] = { 2 * round, 2 * round + 1 };
        struct kill_child survivor = { t.log, ks, writers[0], 0, 0 };
        struct kill_child victim = { t.log, ks, writers[1], 1, 0 };
        pid_t spid = tu_fork(kill_child_main, &survivor);
        pid_t vpid = tu_fork(kill_child_main, &victim);
        REQUIRE(spid > 0 && vpid > 0);
        CHECK(wait_acked(ks, 0, 1, 5000));
        CHECK(wait_acked(ks, 1, 1, 5000));
        usleep((useconds_t)(test_rand(&rnd) % 3000));
        kill(vpid, SIGKILL);
        int vstatus = tu_wait(vpid);
        CHECK(WIFSIGNALED(vstatus) && WTERMSIG(vstatus) == SIGKILL);
        /* The survivor must make progress after the victim is dead. */
        uint64_t at_kill = atomic_load(&ks->acked[0]);
        int progressed = wait_acked(ks, 0, at_kill + 200, 5000);
        if (!progressed)
            fprintf(stderr, "  round %u: the survivor is stuck at %" PRIu64
                    " records after the other writer was killed\n", round, at_kill);
        CHECK(progressed);
        atomic_store(&ks->stop, 1);
        if (!progressed)
            kill(spid, SIGKILL);
        int sstatus = tu_wait(spid);
        CHECK(progressed ? tu_exited_ok(sstatus) : 1);
        CHECK(!atomic_load(&ks->failed));
        uint64_t acked[2] = { atomic_load(&ks->acked[0]), atomic_load(&ks->acked[1]) };
        uint64_t from = next_seq;
        verify_round(t.log, from, writers, acked, 2, 2 * ROUNDS, &next_seq);
    }
    munmap(ks, sizeof *ks);
}

/* A writer that dies inside the append lock with half a flush written must
 * not block or corrupt the log for a writer that has it open: the next
 * append repairs the tail (cutting the partial records) and continues with
 * the next dense number. */
static char half_write_path[300];

static ssize_t pwrite_half_then_die(int fd, const void *buf, size_t len, off_t off)
{
    dl_os_real.pwrite(fd, buf, len / 2, off);
    kill(getpid(), SIGKILL);
    return -1;
}

static int die_in_flush_main(void *arg)
{
    (void)arg;
    durlog *log;
    if (durlog_open(half_write_path, NULL, &log))
        return 1;
    for (uint64_t i = 0; i < 20; i++)
        tu_append_payload(log, 1, i, EXTRA, DURLOG_BUFFERED, NULL);
    dl_os.pwrite = pwrite_half_then_die;
    durlog_flush(log, DURLOG_KERNEL);
    return 1; /* not reached */
}

static int fallocate_die(int fd, int mode, off_t off, off_t len)
{
    (void)fd; (void)mode; (void)off; (void)len;
    kill(getpid(), SIGKILL);
    return -1;
}

static int die_in_roll_main(void *arg)
{
    (void)arg;
    durlog_options o = { .segment_size = 4096 };
    durlog *log;
    if (durlog_open(half_write_path, &o, &log))
        return 1;
    dl_os.fallocate = fallocate_die;
    for (uint64_t i = 0; i < 100; i++)
        tu_append_payload(log, 1, i, EXTRA, DURLOG_KERNEL, NULL);
    return 1; /* not reached: a new segment is needed within 100 records */
}

static int count_tmp_files(const char *path)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp$'", path);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void writer_dying_inside_the_append_lock_is_repaired_by_the_next_append(void)
{
    struct scratch t;
    scratch_make(&t);
    snprintf(half_write_path, sizeof half_write_path, "%s", t.log);
    int (*deaths[2])(void *) = { die_in_flush_main, die_in_roll_main };
    /* 4 KiB segments: the dying writer needs a new one. */
    durlog_options o = { .segment_size = 4096 };
    for (int d = 0; d < 2; d++) {
        test_rmrf(t.log);
        durlog *log;
        REQUIRE(durlog_open(t.log, &o, &log) == 0);
        uint64_t seq;
        for (uint64_t i = 0; i < 10; i++)
            CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq));
        pid_t pid = tu_fork(deaths[d], NULL);
        REQUIRE(pid > 0);
        int status = tu_wait(pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Readers see what the dead writer had published: none of the
         * flush it died in; in the roll case, its appends that returned. */
        uint64_t next_index[2] = { 0, 0 };
        long visible = tu_verify_log(t.log, 0, EXTRA, 2, next_index);
        CHECK_EQ_U64(next_index[0], 10);
        CHECK_EQ_U64(visible, 10 + next_index[1]);
        if (d == 0)
            CHECK_EQ_U64(next_index[1], 0);
        else
            CHECK(next_index[1] > 0);
        uint64_t published = next_index[1];

        /* This append takes the lock its owner died holding. Whole records
         * the dead writer had stored may be kept (as a prefix of what it
         * appended: its flush never returned, so nothing was promised);
         * its partial record is cut. */
        uint64_t start = tu_now_ms();
        CHECK_OK(tu_append_payload(log, 0, 10, EXTRA, DURLOG_KERNEL, &seq));
        CHECK(tu_now_ms() - start < 2000);
        uint64_t kept = seq - 10;
        CHECK(seq >= 10 + published);
        CHECK(d == 1 ? kept == published : kept < 20);
        CHECK_OK(tu_append_payload(log, 0, 11, EXTRA, DURLOG_SYNC, &seq));
        CHECK_EQ_U64(seq, 11 + kept);
        next_index[0] = next_index[1] = 0;
        CHECK_EQ_U64(tu_verify_log(t.log, 0, EXTRA, 2, next_index), 12 + kept);
        CHECK_EQ_U64(next_index[0], 12);
        CHECK_EQ_U64(next_index[1], kept);
        CHECK_EQ_U64(count_tmp_files(t.log), 0);
        CHECK_OK(durlog_close(log));

        /* And a fresh open (full recovery) agrees: nothing left to cut. */
        REQUIRE(durlog_open(t.log, &o, &log) == 0);
        durlog_recovery rep;
        durlog_last_recovery(log, &rep);
        CHECK_EQ_U64(rep.bytes_cut, 0);
        CHECK_OK(tu_append_payload(log, 0, 12, EXTRA, DURLOG_KERNEL, &seq));
        CHECK_EQ_U64(seq, 12 + kept);
        CHECK_OK(durlog_close(log));
        next_index[0] = next_index[1] = 0;
        CHECK_EQ_U64(tu_verify_log(t.log, 0, EXTRA, 2, next_index), 13 + kept);
    }
}

static void sync_append_advances_the_durable_mark(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, NULL);
    durlog_info info;
    uint64_t seq;
    REQUIRE(log);
    for (uint64_t i = 0; i < 3; i++) {
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_SYNC, &seq));
        CHECK_EQ_U64(seq, i);
        CHECK_OK(durlog_get_info(log, &info));
        CHECK(info.durable_seq > seq);
    }
    /* Kernel appends are not covered by the durable mark... */
    uint64_t last = 0;
    for (uint64_t i = 3; i < 10; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &last));
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 10);
    CHECK_EQ_U64(info.durable_seq, 3);
    /* ...until a sync flush. */
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.durable_seq, 10);
    /* Buffered records too are made durable by durlog_flush(SYNC). */
    CHECK_OK(tu_append_payload(log, 0, 10, EXTRA, DURLOG_BUFFERED, NULL));
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 11);
    CHECK_EQ_U64(info.durable_seq, 11);
    /* A SYNC append covers every earlier record in the log, including kernel
     * records of another handle. */
    durlog *other;
    REQUIRE(durlog_open(t.log, NULL, &other) == 0);
    CHECK_OK(tu_append_payload(other, 0, 11, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(tu_append_payload(log, 0, 12, EXTRA, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 12);
    CHECK_OK(durlog_get_info(other, &info));
    CHECK_EQ_U64(info.durable_seq, 13);
    CHECK_OK(durlog_close(other));
    CHECK_OK(fx_close(log));
}

/* What the fdatasync wrapper saw: the durable mark while the sync ran. */
static struct dl_shared *watched_sh;
static _Atomic uint64_t durable_during_sync;

static int fdatasync_noting_durable_mark(int fd)
{
    atomic_fetch_add(&tu_fdatasync_calls, 1);
    atomic_store(&durable_during_sync, tu_durable(watched_sh));
    return dl_os_real.fdatasync(fd);
}

static int fdatasync_eio(int fd)
{
    (void)fd;
    atomic_fetch_add(&tu_fdatasync_calls, 1);
    errno = EIO;
    return -1;
}

static void the_sync_path_really_calls_fdatasync(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, NULL);
    uint64_t seq;
    REQUIRE(log);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL)); /* segment exists */
    watched_sh = tu_map_shared(t.log);
    REQUIRE(watched_sh);

    tu_count_fdatasync();
    for (uint64_t i = 1; i < 50; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_calls), 0);

    CHECK_OK(tu_append_payload(log, 0, 50, EXTRA, DURLOG_SYNC, &seq));
    CHECK(atomic_load(&tu_fdatasync_calls) >= 1);

    /* flush(SYNC) with kernel records outstanding: exactly one fdatasync
     * (one segment); with nothing outstanding: none. */
    CHECK_OK(tu_append_payload(log, 0, 51, EXTRA, DURLOG_KERNEL, NULL));
    atomic_store(&tu_fdatasync_calls, 0);
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_calls), 1);
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_calls), 1);
    CHECK_OK(tu_append_payload(log, 0, 52, EXTRA, DURLOG_SYNC, NULL));
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_calls), 2);

    /* While fdatasync runs, the durable mark has not moved past what was
     * durable before; it moves only after fdatasync returned. */
    uint64_t before = tu_durable(watched_sh);
    dl_os.fdatasync = fdatasync_noting_durable_mark;
    CHECK_OK(tu_append_payload(log, 0, 53, EXTRA, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(atomic_load(&durable_during_sync), before);
    CHECK(tu_durable(watched_sh) > seq);

    /* A failing fdatasync does not move it at all. The record is in the
     * log (not known durable): the append says so, with the cause. */
    before = tu_durable(watched_sh);
    dl_os.fdatasync = fdatasync_eio;
    CHECK_RC(tu_append_payload(log, 0, 54, EXTRA, DURLOG_SYNC, &seq), DURLOG_ENOTDURABLE);
    CHECK(strstr(durlog_errmsg(log), strerror(EIO)) != NULL);
    CHECK_EQ_U64(tu_durable(watched_sh), before);
    tu_restore_os();
    fx_close(log);
    tu_unmap_shared(watched_sh);
}

/* fdatasync that remembers which segment files it synced. */
static char synced_names[64][64];
static _Atomic int synced_count;

static int fdatasync_noting_file(int fd)
{
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    int i = atomic_fetch_add(&synced_count, 1);
    if (n > 0 && i < 64) {
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        snprintf(synced_names[i], sizeof synced_names[i], "%.63s", base ? base + 1 : target);
    }
    return dl_os_real.fdatasync(fd);
}

static int synced_limit = 64; /* only the first this many syncs count */

static int was_synced(const char *name)
{
    int n = atomic_load(&synced_count);
    if (n > synced_limit)
        n = synced_limit;
    for (int i = 0; i < n && i < 64; i++)
        if (strcmp(synced_names[i], name) == 0)
            return 1;
    return 0;
}

static void sync_covers_every_segment_holding_unsynced_records(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .segment_size = 4096 });
    REQUIRE(log);
    /* The sealer would sync the rolled segments in the background: held
     * off, so that every segment below holds records no sync covered. */
    struct dl_shared *sh = tu_map_shared_rw(t.log);
    REQUIRE(sh);
    REQUIRE(pthread_mutex_lock(&sh->seal_lock) == 0);
    uint64_t seq;
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_SYNC, NULL));
    /* Kernel records spanning several segments, then one sync append. */
    uint64_t i = 1;
    durlog_info info;
    do {
        CHECK_OK(tu_append_payload(log, 0, i++, EXTRA, DURLOG_KERNEL, NULL));
        CHECK_OK(durlog_get_info(log, &info));
    } while (info.segments < 4 && i < 1000);
    REQUIRE(info.segments >= 4);
    atomic_store(&synced_count, 0);
    dl_os.fdatasync = fdatasync_noting_file;
    CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_SYNC, &seq));
    synced_limit = atomic_load(&synced_count); /* the append's syncs only */
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.durable_seq > seq);
    /* Every segment holds records appended after the last sync (the first
     * one too: records 1... follow the synced record 0). */
    DIR *d = opendir(t.log);
    REQUIRE(d);
    struct dirent *de;
    int segments = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".seg") != 0)
            continue;
        segments++;
        if (!was_synced(de->d_name))
            fprintf(stderr, "  segment %s holds unsynced records but was not "
                    "fdatasynced\n", de->d_name);
        CHECK(was_synced(de->d_name));
    }
    closedir(d);
    CHECK(segments >= 4);
    synced_limit = 64;
    pthread_mutex_unlock(&sh->seal_lock);
    tu_unmap_shared(sh);
    /* The seam is restored once no thread of the log can call it (the
     * engine is joined at close). */
    CHECK_OK(fx_close(log));
    tu_restore_os();
}

static void interval_records_become_durable_within_the_interval(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .interval_ms = 50 });
    uint64_t seq;
    REQUIRE(log);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    struct dl_shared *sh = tu_map_shared(t.log);
    REQUIRE(sh);
    tu_count_fdatasync(); /* watches this (the appending) thread */

    uint64_t start = tu_now_ms();
    CHECK_OK(tu_append_payload(log, 0, 1, EXTRA, DURLOG_INTERVAL, &seq));
    CHECK_EQ_U64(seq, 1);
    CHECK(tu_durable(sh) <= seq); /* not synced by the append itself */
    while (tu_durable(sh) <= seq && tu_now_ms() - start < 5000)
        tu_sleep_ms(1);
    uint64_t took = tu_now_ms() - start;
    CHECK(tu_durable(sh) > seq);
    if (took > 50 + 450)
        fprintf(stderr, "  interval record took %" PRIu64 " ms to become durable\n", took);
    CHECK(took <= 50 + 450);
    CHECK(atomic_load(&tu_fdatasync_calls) >= 1);
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_on_thread), 0);

    /* Idle: nothing dirty, so the syncer does nothing. */
    tu_sleep_ms(20);
    atomic_store(&tu_fdatasync_calls, 0);
    tu_sleep_ms(300);
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_calls), 0);

    /* A steady stream of interval appends does not postpone the sync of the
     * oldest: records appended every 10 ms for 600 ms must become durable
     * while the stream goes on. */
    start = tu_now_ms();
    uint64_t first = 0;
    CHECK_OK(tu_append_payload(log, 0, 2, EXTRA, DURLOG_INTERVAL, &first));
    uint64_t durable_at = 0, index = 3;
    while (tu_now_ms() - start < 600) {
        tu_sleep_ms(10);
        CHECK_OK(tu_append_payload(log, 0, index++, EXTRA, DURLOG_INTERVAL, NULL));
        if (!durable_at && tu_durable(sh) > first)
            durable_at = tu_now_ms() - start;
    }
    CHECK(durable_at > 0);
    CHECK_EQ_U64(atomic_load(&tu_fdatasync_on_thread), 0);
    CHECK_OK(fx_close(log)); /* stops the interval thread */
    tu_restore_os();
    tu_unmap_shared(sh);
}

static void interval_records_still_owed_are_synced_at_close(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .interval_ms = 60000 });
    uint64_t seq;
    REQUIRE(log);
    struct dl_shared *sh = NULL;
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_INTERVAL, &seq));
    sh = tu_map_shared(t.log);
    REQUIRE(sh);
    CHECK(tu_durable(sh) <= seq);
    tu_count_fdatasync();
    uint64_t start = tu_now_ms();
    CHECK_OK(fx_close(log));
    CHECK(tu_now_ms() - start < 5000); /* did not wait for the interval */
    CHECK(atomic_load(&tu_fdatasync_calls) >= 1);
    CHECK(tu_durable(sh) > seq);
    tu_restore_os();
    tu_unmap_shared(sh);
}

/* durlog_flush(DURLOG_INTERVAL) and durlog_wait(..., DURLOG_INTERVAL) keep
 * the interval promise for what they cover: durable within interval_ms,
 * and, once the handle closes, durable even while other writers keep the
 * log open (the last writer's close syncs everything anyway). */
/* The 50 ms interval, plus room for an ASan build on a loaded machine
 * (before the fix these records never became durable at all). */
#define SCHEDULED_MS (50 + 2000)
static int durable_within(struct dl_shared *sh, uint64_t end, unsigned ms)
{
    uint64_t start = tu_now_ms();
    while (tu_durable(sh) < end && tu_now_ms() - start < ms)
        tu_sleep_ms(1);
    return tu_durable(sh) >= end;
}

static void flush_and_wait_at_interval_make_records_durable(void)
{
    struct scratch t;
    durlog_options o = { .interval_ms = 50 };
    durlog *log = fx_open(&t, &o), *other = log ? fx_writer(t.log, NULL) : NULL;
    REQUIRE(log && other);
    struct dl_shared *sh = tu_map_shared(t.log);
    REQUIRE(sh);
    uint64_t n = 0;
    for (; n < 5; n++)
        CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_EQ_U64(tu_durable(sh), 0);
    CHECK_OK(durlog_flush(log, DURLOG_INTERVAL));
    /* 50 ms, plus slack for a loaded machine and a first fdatasync of a new
     * segment and its directory (how soon exactly is the interval test's
     * business; without the flush, never). */
    CHECK(durable_within(sh, n, SCHEDULED_MS));

    /* A buffered record: the wait flushes it and has it synced. */
    uint64_t seq;
    CHECK_OK(tu_append_payload(log, 0, n++, EXTRA, DURLOG_BUFFERED, &seq));
    CHECK_EQ_U64(seq, DURLOG_SEQ_PENDING);
    CHECK_OK(durlog_wait(log, n - 1, DURLOG_INTERVAL, 1000));
    CHECK(durable_within(sh, n, SCHEDULED_MS));
    /* Another writer's kernel record: the same. */
    CHECK_OK(tu_append_payload(other, 0, n++, EXTRA, DURLOG_KERNEL, &seq));
    CHECK_OK(durlog_wait(log, seq, DURLOG_INTERVAL, 0));
    CHECK(durable_within(sh, n, SCHEDULED_MS));
    CHECK_OK(fx_close(log));

    /* An interval far away: the close keeps the promise, though it is not
     * the last writer's. */
    o.interval_ms = 60000;
    REQUIRE((log = fx_writer(t.log, &o)));
    CHECK_OK(tu_append_payload(log, 0, n++, EXTRA, DURLOG_BUFFERED, NULL));
    CHECK_OK(durlog_flush(log, DURLOG_INTERVAL));
    CHECK_OK(tu_append_payload(other, 0, n++, EXTRA, DURLOG_KERNEL, &seq));
    CHECK_OK(durlog_wait(log, seq, DURLOG_INTERVAL, 0));
    CHECK(tu_durable(sh) < n); /* owed, not yet due */
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(tu_durable(sh), n);
    CHECK_OK(fx_close(other));
    tu_unmap_shared(sh);
    uint64_t next_index[1] = { 0 };
    CHECK_EQ_U64(tu_verify_log(t.log, 0, EXTRA, 1, next_index), n);
}

static int wait_in_child_main(void *arg)
{
    const char *path = arg;
    durlog *log;
    if (durlog_open(path, NULL, &log))
        return 1;
    /* Record 1 is appended by the parent 100 ms from now. */
    int rc = durlog_wait(log, 1, DURLOG_KERNEL, 10000);
    if (rc)
        fprintf(stderr, "  child: durlog_wait: %s\n", durlog_strerror(rc));
    durlog_close(log);
    return rc;
}

static void durlog_wait_returns_once_the_record_is_appended(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, NULL);
    uint64_t seq;
    durlog_info info;
    REQUIRE(log);

    /* Another thread appends record 0 later. */
    struct tu_later d = { .log = log, .delay_ms = 100, .index = 0, .extra = EXTRA,
                          .level = DURLOG_KERNEL };
    uint64_t start = tu_now_ms();
    REQUIRE(tu_later_start(&d) == 0);
    CHECK_OK(durlog_wait(log, 0, DURLOG_KERNEL, 10000));
    uint64_t took = tu_now_ms() - start;
    CHECK_OK(tu_later_join(&d));
    CHECK(took >= 90);
    CHECK(took < 5000);
    uint64_t next_index[1] = { 0 };
    CHECK_EQ_U64(tu_verify_log(t.log, 0, EXTRA, 1, next_index), 1);

    /* Another process's wait is woken by this one's append. */
    pid_t pid = tu_fork(wait_in_child_main, t.log);
    REQUIRE(pid > 0);
    tu_sleep_ms(100);
    CHECK_OK(tu_append_payload(log, 0, 1, EXTRA, DURLOG_KERNEL, NULL));
    CHECK(tu_exited_ok(tu_wait(pid)));

    /* Nothing appends record 5: a timeout, after about the time asked. */
    start = tu_now_ms();
    CHECK_RC(durlog_wait(log, 5, DURLOG_KERNEL, 150), -ETIMEDOUT);
    took = tu_now_ms() - start;
    CHECK(took >= 140);
    CHECK(took < 5000);
    CHECK_RC(durlog_wait(log, 5, DURLOG_SYNC, 0), -ETIMEDOUT);

    /* This handle's own buffered record: waiting flushes it. */
    CHECK_OK(tu_append_payload(log, 0, 2, EXTRA, DURLOG_BUFFERED, NULL));
    CHECK_OK(durlog_wait(log, 2, DURLOG_KERNEL, 0));
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 3);

    /* wait(seq, SYNC) makes a kernel record durable. */
    CHECK_OK(tu_append_payload(log, 0, 3, EXTRA, DURLOG_KERNEL, &seq));
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.durable_seq <= seq);
    tu_count_fdatasync();
    CHECK_OK(durlog_wait(log, seq, DURLOG_SYNC, 1000));
    CHECK(atomic_load(&tu_fdatasync_calls) >= 1);
    tu_restore_os();
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.durable_seq > seq);
    /* Waiting for an already appended record returns at once. */
    CHECK_OK(durlog_wait(log, 0, DURLOG_KERNEL, 0));
    CHECK_OK(fx_close(log));
}

static void invalid_arguments_are_rejected_with_einval(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log;
    uint64_t seq = 7;
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_RC(durlog_append(log, "x", 1, (durlog_level)5, &seq), -EINVAL);
    CHECK_RC(durlog_append(log, "x", 1, (durlog_level)-1, &seq), -EINVAL);
    CHECK_RC(durlog_append(log, NULL, 1, DURLOG_KERNEL, &seq), -EINVAL);
    CHECK_RC(durlog_append(log, NULL, 1, DURLOG_BUFFERED, &seq), -EINVAL);
    CHECK_RC(durlog_flush(log, (durlog_level)9), -EINVAL);
    CHECK_RC(durlog_wait(log, 0, (durlog_level)9, 0), -EINVAL);
    durlog_iov bad[2] = { { "ok", 2 }, { NULL, 3 } };
    CHECK_RC(durlog_append_batch(log, bad, 2, DURLOG_KERNEL, &seq), -EINVAL);
    CHECK_RC(durlog_append_batch(log, NULL, 2, DURLOG_KERNEL, &seq), -EINVAL);
    /* NULL data with zero length is a valid empty record. */
    CHECK_OK(durlog_append(log, NULL, 0, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, 0);
    /* None of the rejected calls appended anything (the batch either). */
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 1);
    CHECK(strlen(durlog_errmsg(log)) > 0);
    CHECK_OK(durlog_close(log));

    durlog_options o = { .default_level = (durlog_level)7 };
    log = NULL;
    CHECK_RC(durlog_open(t.log, &o, &log), -EINVAL);
    CHECK(log == NULL);
    durlog_level lv;
    CHECK_RC(durlog_level_parse("fast", &lv), -EINVAL);
    CHECK(durlog_level_name((durlog_level)5) == NULL);
}

static void strerror_describes_every_error_code_distinctly(void)
{
    const int codes[] = { DURLOG_OK, DURLOG_ECORRUPT, -EMSGSIZE, DURLOG_EFORMAT,
                          DURLOG_EFAILED, -EINVAL, DURLOG_EEND, -EBUSY,
                          -ETIMEDOUT, DURLOG_ENOTFOUND, -EIO, -ENOSPC };
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = durlog_strerror(codes[i]);
        CHECK(s != NULL && s[0] != '\0');
        for (size_t j = 0; j < i; j++) {
            if (s && strcmp(s, durlog_strerror(codes[j])) == 0)
                fprintf(stderr, "  codes %d and %d share \"%s\"\n", codes[i], codes[j], s);
            CHECK(s == NULL || strcmp(s, durlog_strerror(codes[j])) != 0);
        }
    }
    CHECK(strcmp(durlog_strerror(-EIO), strerror(EIO)) == 0);
    /* Unknown codes still get text. */
    CHECK(durlog_strerror(-99999) && durlog_strerror(-99999)[0]);
    CHECK(durlog_strerror(12345) && durlog_strerror(12345)[0]);
}

TEST_MAIN(
    RUN(buffered_records_are_invisible_to_a_reader_until_flushed);
    RUN(kernel_records_are_visible_to_a_reader_in_another_process_at_once);
    RUN(kernel_records_survive_sigkill_of_the_writer);
    RUN(survivor_keeps_appending_after_the_other_writer_is_killed);
    RUN(writer_dying_inside_the_append_lock_is_repaired_by_the_next_append);
    RUN(sync_append_advances_the_durable_mark);
    RUN(the_sync_path_really_calls_fdatasync);
    RUN(sync_covers_every_segment_holding_unsynced_records);
    RUN(interval_records_become_durable_within_the_interval);
    RUN(interval_records_still_owed_are_synced_at_close);
    RUN(flush_and_wait_at_interval_make_records_durable);
    RUN(durlog_wait_returns_once_the_record_is_appended);
    RUN(invalid_arguments_are_rejected_with_einval);
    RUN(strerror_describes_every_error_code_distinctly);
)
