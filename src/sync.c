/*
 * sync.c - making records durable.
 *
 * One writer at a time, in any process, holds the shared sync lock and runs
 * the fdatasync for everybody: it reads how far records have been published,
 * syncs every segment holding records not yet durable, and then moves the
 * shared durable_seq. Writers waiting for the lock meanwhile find, when they
 * get it, that their record was covered, or run the next fdatasync for all
 * who arrived since (group commit across threads and processes).
 *
 * A failed fdatasync is final: the kernel reports a writeback error once and
 * may drop the pages it could not write, so a retry that succeeds proves
 * nothing. The log enters the failed state (appends and syncs fail with
 * DURLOG_EFAILED) until every writer closes it and recovery on reopen decides
 * what survived.
 *
 * Whoever leads issues the fdatasyncs: an appender calls the system calls
 * itself (it blocks anyway); the handle's engine thread (engine.c) submits
 * them all at once through its io_uring when it has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "os.h"
#include "uring.h"

/* A leader's syncs: ops[i] for segment segs[i] (DL_NO_SEGMENT: the
 * directory), at most `cap` of them. */
struct sync_set {
    struct dl_uring_op *ops;
    uint64_t *segs;
    size_t n, cap;
};

/* Adds segment `seg`, through the descriptor cached for the tail or one
 * opened for this sync alone. */
static int add_segment(durlog *log, struct sync_set *set, uint64_t seg, int is_tail)
{
    char name[DL_SEG_NAME_LEN + 1];
    uint64_t gen = atomic_load(&log->sh->generation);
    int fd;
    if (is_tail && log->sync_fd >= 0 && log->sync_fd_seg == seg && log->sync_fd_gen == gen) {
        fd = log->sync_fd;
    } else {
        dl_seg_name(name, seg);
        fd = dl_openat(log->dirfd, name, O_RDONLY | O_NOFOLLOW, 0);
        if (fd < 0)
            return dl_fail(log, fd, "open %s/%s to sync it: %s", log->path, name,
                           durlog_strerror(fd));
        if (is_tail) {
            dl_close(log->sync_fd);
            log->sync_fd = fd;
            log->sync_fd_seg = seg;
            log->sync_fd_gen = gen;
            log->sync_fd_opened_ns = dl_mono_ns();
        }
    }
    set->ops[set->n] = (struct dl_uring_op){ fd, 1, 0 };
    set->segs[set->n++] = seg;
    return 0;
}

/* Adds every segment that may hold records in [from, ...) up to `tail`. */
static int add_segments(durlog *log, struct sync_set *set, uint64_t from, uint64_t tail)
{
    if (from >= tail)
        return add_segment(log, set, tail, 1);
    /* Rare: records not yet durable span a segment roll. */
    uint64_t *segs;
    size_t n;
    int rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "list segments of %s: %s", log->path,
                       durlog_strerror(rc));
    size_t want = 0;
    for (size_t i = 0; i < n && segs[i] <= tail; i++)
        want++;
    if (want + 1 > set->cap) {
        /* One allocation holding both arrays; freed by release_set. */
        size_t cap = want + 1;
        void *mem = malloc(cap * (sizeof *set->ops + sizeof *set->segs));
        if (!mem) {
            free(segs);
            return dl_fail(log, -ENOMEM, "out of memory syncing %s", log->path);
        }
        set->segs = mem; /* first: the stricter alignment */
        set->ops = (struct dl_uring_op *)(set->segs + cap);
        set->cap = cap;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if (segs[i] > tail)
            break;
        int holds_unsynced = i + 1 == n || segs[i + 1] > from;
        if (holds_unsynced)
            rc = add_segment(log, set, segs[i], segs[i] == tail);
    }
    free(segs);
    return rc;
}

/* Runs the set's fsyncs: all at once through the engine's ring when this is
 * the engine thread, else one system call after another. Returns the first
 * failure. */
static int run_set(durlog *log, struct sync_set *set)
{
    int rc = 0;
    if (log->uring && dl_on_engine_thread(log))
        dl_uring_fsync(log->uring, set->ops, (int)set->n);
    else
        for (size_t i = 0; i < set->n; i++)
            set->ops[i].res = DL_URING_NOT_RUN;
    for (size_t i = 0; i < set->n; i++) {
        struct dl_uring_op *op = &set->ops[i];
        /* Not run, or interrupted (which reports no writeback error):
         * the system call does it. */
        if (op->res == DL_URING_NOT_RUN || op->res == -EINTR)
            op->res = op->datasync ? dl_fdatasync(op->fd) : dl_fsync(op->fd);
        if (op->res && !rc) {
            rc = op->res;
            if (set->segs[i] == DL_NO_SEGMENT) {
                dl_fail(log, rc, "fsync of directory %s: %s", log->path,
                        durlog_strerror(rc));
            } else {
                char name[DL_SEG_NAME_LEN + 1];
                dl_seg_name(name, set->segs[i]);
                dl_fail(log, rc, "fdatasync of %s/%s: %s", log->path, name,
                        durlog_strerror(rc));
            }
        }
    }
    return rc;
}

static void release_set(durlog *log, struct sync_set *set, struct dl_uring_op *small)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->ops[i].fd != log->sync_fd && set->ops[i].fd != log->dirfd)
            dl_close(set->ops[i].fd);
    if (set->ops != small)
        free(set->segs);
}

/* Makes durable every record published in segments from the one holding
 * `from` up to `tail`, and the tail segment's name. *fsync_failed tells an
 * fsync that failed (final) from a failure to set one up (a descriptor or
 * memory running out: nothing was lost, a later sync may succeed). */
static int sync_files(durlog *log, uint64_t from, uint64_t tail, int *fsync_failed)
{
    struct dl_shared *sh = log->sh;
    struct dl_uring_op small_ops[2];
    uint64_t small_segs[2];
    struct sync_set set = { small_ops, small_segs, 0, 2 };
    /* A new segment's name is durable only once its directory is. If a
     * writer rolls meanwhile (possibly replacing the tail's file under the
     * same name), this fsync may not cover it: the mark is left for the
     * next sync to move. */
    uint64_t gen = atomic_load(&sh->generation);
    int need_dir = atomic_load(&sh->dir_synced_seg) < tail + 1;
    int rc = add_segments(log, &set, from, tail);
    if (!rc && need_dir) {
        set.ops[set.n] = (struct dl_uring_op){ log->dirfd, 0, 0 };
        set.segs[set.n++] = DL_NO_SEGMENT;
    }
    if (!rc) {
        rc = run_set(log, &set);
        *fsync_failed = rc != 0;
    }
    release_set(log, &set, small_ops);
    if (!rc && need_dir && atomic_load(&sh->generation) == gen)
        atomic_store(&sh->dir_synced_seg, tail + 1);
    return rc;
}

/* How long a follower sleeps before looking again: bounds the wait when a
 * leader died mid-sync (its robust lock is then taken over). */
#define DL_FOLLOWER_TIMEOUT_NS 50000000u
/* The longest a leader lets a batch form before its fdatasync. */
#define DL_BATCH_WAIT_MAX_NS 1000000u

static int failed_state(durlog *log)
{
    return dl_fail(log, DURLOG_EFAILED, "%s: an earlier fdatasync failed; "
                   "close and reopen the log to recover", log->path);
}

/* Runs one fdatasync for everybody, holding the sync lock; releases it. */
static int lead_sync(durlog *log, uint64_t target)
{
    struct dl_shared *sh = log->sh;
    int rc = 0;
    uint64_t durable = atomic_load(&sh->durable_seq);
    if (durable >= target || atomic_load(&sh->failed))
        goto out_unlock;

    /* Let a batch form: when the last fdatasync covered several records,
     * other appenders are active, and the ones it released are appending
     * again right now. Waiting until as many records are published as it
     * covered (but no longer than half an fdatasync) lets this one carry
     * them all instead of leaving them for the next. (A quarter rather than
     * a half: measured with 4 to 64 threads, the leader oversleeps its
     * timeout anyway while the released threads are being scheduled.)
     * Not on the engine thread: asynchronous producers do not wait for a
     * sync to append their next record, so there is no batch to gather,
     * only latency to add. */
    if (sh->last_batch > 1 && !dl_on_engine_thread(log)) {
        uint64_t wait = sh->last_sync_ns / 4;
        if (wait > DL_BATCH_WAIT_MAX_NS)
            wait = DL_BATCH_WAIT_MAX_NS;
        uint64_t goal = durable + sh->last_batch;
        if (atomic_load(&sh->published_seq) < goal)
            dl_wait_batch_goal(sh, goal, wait);
    }

    /* Everything published now is covered by the syncs below: the records
     * are in the page cache of segments up to the tail read after. */
    uint64_t end = atomic_load(&sh->published_seq);
    uint64_t tail = atomic_load(&sh->published_seg);
    uint64_t t0 = dl_mono_ns();
    sh->sync_started_ns = t0;
    int fsync_failed = 0;
    if (tail != DL_NO_SEGMENT)
        rc = sync_files(log, durable, tail, &fsync_failed);
    if (rc) {
        /* Final: no later fdatasync is trusted to have saved these pages. */
        if (fsync_failed)
            atomic_store(&sh->failed, 1);
    } else {
        sh->last_sync_ns = dl_mono_ns() - t0;
        sh->last_batch = end - durable;
        if (end > durable)
            atomic_store(&sh->durable_seq, end);
    }
    sh->sync_started_ns = 0;
out_unlock:
    /* Unlock before waking, so that a woken follower whose record was not
     * covered can lead the next sync at once. */
    dl_mutex_unlock(&sh->sync_lock);
    dl_durable_changed(sh);
    return rc;
}

/* The previous leader died holding the sync lock. It never moved
 * durable_seq past what an fdatasync covered, but if it died during an
 * fdatasync that failed, the kernel has reported that error once, to it, and
 * may have dropped the pages. Our own fdatasync reports the error too only
 * through a descriptor opened before the error happened; one opened later
 * would succeed over the lost pages. So the next sync is trusted only when
 * it will go through such a descriptor, on the tail alone; otherwise the log
 * enters the failed state (reopening runs recovery). */
static int dead_leader(durlog *log)
{
    struct dl_shared *sh = log->sh;
    uint64_t started = sh->sync_started_ns;
    if (!started)
        return 0;
    sh->sync_started_ns = 0;
    uint64_t tail = atomic_load(&sh->published_seg);
    int covered = log->sync_fd >= 0 && log->sync_fd_seg == tail &&
                  log->sync_fd_gen == atomic_load(&sh->generation) &&
                  log->sync_fd_opened_ns < started &&
                  atomic_load(&sh->durable_seq) >= tail;
    if (covered)
        return 0;
    atomic_store(&sh->failed, 1);
    return dl_fail(log, DURLOG_EFAILED, "%s: a writer died during an fdatasync "
                   "whose outcome is unknown; close and reopen the log to recover",
                   log->path);
}

int dl_sync_to(durlog *log, uint64_t target)
{
    struct dl_shared *sh = log->sh;
    for (;;) {
        if (atomic_load(&sh->failed))
            return failed_state(log);
        if (atomic_load(&sh->durable_seq) >= target)
            return 0;
        int rc = pthread_mutex_trylock(&sh->sync_lock);
        if (rc == 0 || rc == EOWNERDEAD) {
            if (rc == EOWNERDEAD) {
                int dead = dead_leader(log);
                dl_mutex_consistent(&sh->sync_lock);
                if (dead) {
                    dl_mutex_unlock(&sh->sync_lock);
                    dl_durable_changed(sh);
                    return dead;
                }
            }
            rc = lead_sync(log, target);
            if (rc)
                return rc;
            continue;
        }
        if (rc != EBUSY)
            return dl_fail(log, -rc, "sync lock of %s: %s (reopen the log)",
                           log->path, durlog_strerror(-rc));
        /* Somebody is syncing: sleep until the durable mark moves, then look
         * again (our record may need the next sync). */
        atomic_fetch_add(&sh->sync_waiters, 1);
        uint32_t seen = atomic_load(&sh->durable_event);
        if (atomic_load(&sh->durable_seq) < target && !atomic_load(&sh->failed))
            dl_wait_durable_event(sh, seen, DL_FOLLOWER_TIMEOUT_NS);
        atomic_fetch_sub(&sh->sync_waiters, 1);
    }
}
