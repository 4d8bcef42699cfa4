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
 * nothing. The log enters the failed state (failed.c: appends and syncs
 * fail with DURLOG_EFAILED) until every writer closes it and recovery on reopen decides
 * what survived.
 *
 * Whoever leads issues the fdatasyncs: an appender calls the system calls
 * itself (it blocks anyway); the handle's engine thread hands this file its
 * own way of running them (dl_sync_set_background: the io_uring engine
 * submits them all at once through its ring), so that nothing here depends
 * on which engine runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "os.h"

/* A leader's syncs: ops[i] for segment segs[i] (DL_NO_SEGMENT: the
 * directory), at most `cap` of them. */
struct sync_set {
    struct dl_fsync_op *ops;
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
    if (is_tail && log->sync.fd >= 0 && log->sync.fd_seg == seg && log->sync.fd_gen == gen) {
        fd = log->sync.fd;
    } else {
        dl_seg_name(name, seg);
        fd = dl_openat(log->dirfd, name, O_RDONLY | O_NOFOLLOW, 0);
        /* Gone (rm, a clean-up script): its records not yet durable are
         * only in the file the writers hold. The log fails as for a
         * replaced segment (that file is saved if this handle holds it);
         * any other error may pass (descriptors run out) and the engine
         * tries again, but this one never would. */
        if (fd == -ENOENT)
            return dl_mark_replaced(log, seg, -1);
        if (fd < 0)
            return dl_fail(log, fd, "open %s/%s to sync it: %s", log->path, name,
                           durlog_strerror(fd));
        if (is_tail) {
            dl_close(log->sync.fd);
            log->sync.fd = fd;
            log->sync.fd_seg = seg;
            log->sync.fd_gen = gen;
        }
    }
    set->ops[set->n] = (struct dl_fsync_op){ fd, 1, 0 };
    set->segs[set->n++] = seg;
    return 0;
}

/* The log's segments (dl_seg_list), with a message on failure. */
static int list_segments(durlog *log, uint64_t **segs, size_t *n)
{
    int rc = dl_seg_list(log->dirfd, segs, n);
    if (rc)
        return dl_fail(log, rc, "list segments of %s: %s", log->path,
                       durlog_strerror(rc));
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
    int rc = list_segments(log, &segs, &n);
    if (rc)
        return rc;
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
        set->ops = (struct dl_fsync_op *)(set->segs + cap);
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

/* The calling thread's background syncing (dl_sync_set_background): for
 * which handle, and how the fsyncs of the syncs it leads run. */
static __thread struct {
    const durlog *log;
    dl_fsync_fn *fsync;
    void *ctx;
} background;

void dl_sync_set_background(const durlog *log, dl_fsync_fn *fsync, void *ctx)
{
    background.log = log;
    background.fsync = fsync;
    background.ctx = ctx;
}

/* 1 on log's background syncer: its engine thread. */
static int in_background(const durlog *log)
{
    return background.log == log;
}

/* Runs the set's fsyncs: the engine thread's way (all at once through the
 * io_uring engine's ring) on that thread, else one system call after
 * another. Returns the first failure. */
static int run_set(durlog *log, struct sync_set *set)
{
    int rc = 0;
    if (in_background(log) && background.fsync)
        background.fsync(background.ctx, set->ops, (int)set->n);
    else
        for (size_t i = 0; i < set->n; i++)
            set->ops[i].res = DL_FSYNC_NOT_RUN;
    for (size_t i = 0; i < set->n; i++) {
        struct dl_fsync_op *op = &set->ops[i];
        /* Not run, or interrupted (which reports no writeback error):
         * the system call does it. */
        if (op->res == DL_FSYNC_NOT_RUN || op->res == -EINTR)
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

static void release_set(durlog *log, struct sync_set *set, struct dl_fsync_op *small)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->ops[i].fd != log->sync.fd && set->ops[i].fd != log->dirfd)
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
    struct dl_fsync_op small_ops[2];
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
        set.ops[set.n] = (struct dl_fsync_op){ log->dirfd, 0, 0 };
        set.segs[set.n++] = DL_NO_SEGMENT;
    }
    if (!rc) {
        rc = run_set(log, &set);
        *fsync_failed = rc != 0;
    }
    /* What was synced must be the files the records went into, still under
     * their names: a segment replaced (cp + mv) or removed while open holds
     * records nobody will find, and acknowledging them would be a lie. */
    for (size_t i = 0; i < set.n && !rc; i++)
        if (set.segs[i] != DL_NO_SEGMENT)
            rc = dl_check_segment_identity(log, set.segs[i], set.ops[i].fd);
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

int dl_not_durable(durlog *log, uint64_t first, uint64_t end)
{
    char why[DL_ERRMSG_SIZE];
    snprintf(why, sizeof why, "%s", log->errmsg);
    char which[64];
    if (end - first == 1)
        snprintf(which, sizeof which, "record %" PRIu64 " was", first);
    else
        snprintf(which, sizeof which, "records %" PRIu64 " to %" PRIu64 " were", first,
                 end - 1);
    return dl_fail(log, DURLOG_ENOTDURABLE, "%s appended, but not made durable: %s; do "
                   "not append %s again (%s)", which, why, end - first == 1 ? "it" : "them",
                   atomic_load(&log->sh->failed)
                   ? "the log is in the failed state: close every writer and reopen it"
                   : "durlog_wait() or durlog_flush() tries the sync again");
}

int dl_seg_replaced_by_roll(durlog *log, uint64_t seg)
{
    struct dl_shared *sh = log->sh;
    char name[DL_SEG_NAME_LEN + 1];
    struct dl_stat now;
    dl_seg_name(name, seg);
    if (dl_stat_at(log->dirfd, name, &now) < 0)
        return 0;
    if (dl_lock_append(log))
        return 0;
    int ours = sh->tail_seg == seg && sh->tail_ino == now.ino;
    dl_unlock_append(log);
    return ours;
}

int dl_check_segment_identity(durlog *log, uint64_t seg, int fd)
{
    struct dl_shared *sh = log->sh;
    char name[DL_SEG_NAME_LEN + 1];
    struct dl_stat st;
    dl_seg_name(name, seg);
    int rc = dl_seg_is_at(log->dirfd, name, fd, &st);
    if (rc < 0)
        return dl_fail(log, rc, "cannot look at %s/%s: %s", log->path, name,
                       durlog_strerror(rc));
    int is_at = rc;
    uint64_t tail_ino = 0;
    /* The tail's file must also be the one every writer maps: a sync
     * descriptor opened after the replacement would name the new file.
     * (Read under the append lock: a roll changes both.) */
    if (rc == 1) {
        int lrc = dl_lock_append(log);
        if (lrc)
            return lrc;
        if (sh->tail_seg == seg && sh->tail_ino && sh->tail_ino != st.ino) {
            rc = 0;
            tail_ino = sh->tail_ino;
        }
        /* And it must still hold them: a file truncated within the page
         * the tail's records are on does not fault, and the fdatasync of
         * it succeeds (the records stored past its end are dropped). Under
         * the append lock nothing is staged: every byte below tail_off was
         * written. Only where the file is known to be the one the writers
         * map (tail_ino): a shorter file under the name may also be a copy
         * put in its place (cp + mv), whose writers' records the replaced
         * path below saves to a side file; failing here first lost them
         * (test_accidents). In mmap mode the file must also still reach
         * tail_alloc: everything below it was allocated before anything
         * was stored there, and nothing shrinks the tail while writers
         * have it open. That catches a cut an asynchronous `sync` append
         * then hid: its pwrite (writer.c: writes_by_pwrite) grows the file
         * back to just past its record, over zeros where the records
         * cut off were. */
        struct dl_stat now;
        uint64_t cut_size = 0, cut_end = 0;
        uint64_t must_reach = sh->tail_off;
        if (!log->io_pwrite && sh->tail_alloc > must_reach)
            must_reach = sh->tail_alloc;
        if (rc == 1 && sh->tail_seg == seg && sh->tail_ino && sh->tail_ino == st.ino &&
            dl_stat_fd(fd, &now) == 0 && now.size < must_reach) {
            cut_size = now.size;
            cut_end = sh->tail_off;
        }
        dl_unlock_append(log);
        if (cut_end) {
            uint32_t none = DL_FAIL_NONE;
            atomic_compare_exchange_strong(&sh->failed, &none, DL_FAIL_SEGMENT);
            dl_durable_changed(sh);
            return dl_fail(log, DURLOG_EFAILED, "%s/%s was truncated by someone else while "
                           "in use (it is %llu bytes now; the log had records up to offset "
                           "%llu, and space allocated up to %llu): nothing more is appended; "
                           "close every writer, then `durlog check %s`", log->path, name,
                           (unsigned long long)cut_size, (unsigned long long)cut_end,
                           (unsigned long long)must_reach, log->path);
        }
        /* A segment rolled recently: the writer that rolled noted its
         * inode (a roll checks it first, but a replacement after the roll,
         * before this sync, is caught here). */
        struct dl_seal_note note;
        if (rc == 1 && seg != atomic_load(&sh->published_seg) &&
            dl_seal_note_find(sh, seg, &note) && note.ino && note.ino != st.ino)
            rc = 0;
    }
    if (rc == 1)
        return 0;
    /* An empty tail too small for a record is replaced by a bigger one under
     * the same name, by durlog itself: the file synced held no record (this
     * sync read the published mark before the roll), and the new one is the
     * tail every writer maps. */
    if (!is_at && dl_seg_replaced_by_roll(log, seg))
        return 0;
    /* The records are in the file the writers stored into: fd itself when
     * it is no longer under the name, else this process's mapping of the
     * tail, if it maps it. */
    int old_fd = is_at ? -1 : fd, held = -1;
    struct dl_stat tail_st;
    if (is_at) {
        /* Another thread may roll (and close it) meanwhile: hold a copy. */
        pthread_mutex_lock(&log->prefault.pmu);
        if (log->tail.cur.fd >= 0 && dl_stat_fd(log->tail.cur.fd, &tail_st) == 0 &&
            tail_st.ino == tail_ino)
            old_fd = held = dl_dup(log->tail.cur.fd); /* < 0: not held */
        pthread_mutex_unlock(&log->prefault.pmu);
    }
    rc = dl_mark_replaced(log, seg, old_fd);
    dl_close(held);
    return rc;
}

/* Runs one fdatasync for everybody, holding the sync lock; releases it.
 * With cap_seg (not DL_NO_SEGMENT): only the records below target, all in
 * segments up to cap_seg (the sealer's sync of a rolled segment: the tail's
 * pages, which may be zeros faulted in ahead, are left alone). */
static int lead_sync(durlog *log, uint64_t target, uint64_t cap_seg)
{
    struct dl_shared *sh = log->sh;
    int rc = 0;
    uint64_t durable = atomic_load(&sh->durable_seq);
    int capped = cap_seg != DL_NO_SEGMENT;
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
    if (sh->last_batch > 1 && !capped && !in_background(log)) {
        uint64_t wait = sh->last_sync_ns / 4;
        if (wait > DL_BATCH_WAIT_MAX_NS)
            wait = DL_BATCH_WAIT_MAX_NS;
        uint64_t goal = durable + sh->last_batch;
        if (atomic_load(&sh->published_seq) < goal &&
            (rc = dl_wait_batch_goal(sh, goal, wait)) != 0) {
            rc = dl_fail(log, rc, "waiting for a batch to sync: futex: %s",
                         durlog_strerror(rc));
            goto out_unlock;
        }
    }

    /* Everything published now is covered by the syncs below: the records
     * are in the page cache of segments up to the tail read after. */
    uint64_t end = atomic_load(&sh->published_seq);
    uint64_t tail = atomic_load(&sh->published_seg);
    char why[DL_ERRMSG_SIZE / 2];
    if (!dl_sh_marks_ok(durable, end, why, sizeof why)) {
        rc = dl_shm_damaged(log, why);
        goto out_unlock;
    }
    if (capped && (tail == DL_NO_SEGMENT || tail > cap_seg)) {
        end = target;
        tail = cap_seg;
    }
    uint64_t t0 = dl_mono_ns();
    sh->sync_started_ns = t0;
    int fsync_failed = 0;
    if (tail != DL_NO_SEGMENT)
        rc = sync_files(log, durable, tail, &fsync_failed);
    if (rc) {
        /* Final: no later fdatasync is trusted to have saved these pages. */
        if (fsync_failed)
            atomic_store(&sh->failed, DL_FAIL_SYNC);
    } else {
        if (!capped) {
            sh->last_sync_ns = dl_mono_ns() - t0;
            sh->last_batch = end - durable;
        }
        /* Raised, never lowered: the sealer moves the mark too. Only to a
         * mark that was the writers' (it moves forward while they have the
         * log open; a value written by someone else is caught here, or by
         * the append lock's holder: dl_sh_tail_ok). */
        uint64_t published_now = atomic_load(&sh->published_seq);
        if (!capped && published_now < end) {
            snprintf(why, sizeof why, "published_seq went back from %llu to %llu",
                     (unsigned long long)end, (unsigned long long)published_now);
            rc = dl_shm_damaged(log, why);
        } else {
            dl_raise_mark(&sh->durable_seq, end);
        }
    }
    sh->sync_started_ns = 0;
out_unlock:
    /* Unlock before waking, so that a woken follower whose record was not
     * covered can lead the next sync at once. */
    dl_mutex_unlock(&sh->sync_lock);
    dl_durable_changed(sh);
    return rc;
}

/* Bytes a redo reads at a time (more when one record is bigger). */
#define DL_REDO_CHUNK ((size_t)1 << 20)

/* Checks that segment `m` holds every record of [durable, end) that falls in
 * it (up to `next_seg`, where the next segment begins), intact, and rewrites
 * the bytes of those records with the same bytes, which makes their pages
 * dirty again. Reads with pread into a private buffer, never through a
 * mapping: on the failing disk this is for, reading a page back may fail,
 * which must come back as EIO, not SIGBUS; and the bytes written are then
 * exactly the bytes checked. Returns 1 if a record is missing, damaged or
 * unreadable, 0 when rewritten, or an error. */
static int rewrite_unsynced(durlog *log, const struct dl_segmap *m, uint64_t durable,
                            uint64_t end, uint64_t next_seg)
{
    uint64_t stop = end < next_seg ? end : next_seg;
    if (stop <= durable || stop <= m->first_seq)
        return 0;
    uint64_t limit = m->size < m->capacity ? m->size : m->capacity;
    size_t cap = DL_REDO_CHUNK;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return dl_fail(log, -ENOMEM, "out of memory syncing %s", log->path);
    uint64_t off = DL_SEG_HEADER_SIZE, seq = m->first_seq;
    struct dl_seg_fmt f = dl_segmap_fmt(m);
    uint32_t hsize = dl_rec_header_size(f.version);
    int rc = 0;
    while (seq < stop && rc == 0) {
        size_t n = limit - off < cap ? (size_t)(limit - off) : cap;
        if (off >= limit || n < hsize) {
            rc = 1; /* the file ends before the records do */
            break;
        }
        rc = dl_pread_all(m->fd, buf, n, (off_t)off);
        if (rc) {
            if (rc == -EIO)
                rc = 1; /* the disk cannot give these pages back */
            else
                dl_fail(log, rc, "read %s after a writer died during an "
                        "fdatasync: %s", log->path, durlog_strerror(rc));
            break;
        }
        size_t p = 0, from = SIZE_MAX, need = 0;
        while (seq < stop) {
            if (n - p < hsize) {
                need = hsize;
                break;
            }
            uint64_t len = dl_rec_len_at(f.version, buf + p);
            if (len > DURLOG_MAX_RECORD) {
                rc = 1;
                break;
            }
            size_t size = (size_t)dl_rec_size_v(f.version, len);
            if (size > n - p) {
                need = size; /* continues past this read */
                break;
            }
            struct dl_rec_view v;
            enum dl_rec_status st = seq < durable ? dl_rec_peek(&f, buf + p, size, seq, &v)
                                                  : dl_rec_check(&f, buf + p, size, seq, &v);
            if (st != DL_REC_VALID || v.seq != seq) {
                rc = 1;
                break;
            }
            if (seq >= durable && from == SIZE_MAX)
                from = p;
            p += size;
            seq++;
        }
        if (rc)
            break;
        if (from != SIZE_MAX) {
            rc = dl_pwrite_all(m->fd, buf + from, p - from, (off_t)(off + from));
            if (rc) {
                dl_fail(log, rc, "rewrite %s after a writer died during an "
                        "fdatasync: %s", log->path, durlog_strerror(rc));
                break;
            }
        }
        off += p;
        if (p == 0 && need > cap) {
            /* One record bigger than the buffer. */
            unsigned char *bigger = realloc(buf, need);
            if (!bigger) {
                rc = dl_fail(log, -ENOMEM, "out of memory syncing %s", log->path);
                break;
            }
            buf = bigger;
            cap = need;
        } else if (p == 0) {
            rc = 1; /* the file ends inside a record */
        }
    }
    free(buf);
    return rc;
}

/* The previous leader died holding the sync lock, during an fdatasync
 * (sync_started_ns set). Its outcome is unknown: if that fdatasync failed,
 * the kernel reported the error once, to the dead process, and later
 * fdatasyncs report nothing; the pages it could not write are clean again,
 * and may have been dropped since. So nothing it covered is trusted until
 * both are ruled out: every record published but not durable must still be
 * intact in the page cache (if a page was dropped and read back from the
 * disk, checksums or sequence numbers no longer match), and rewriting those
 * bytes makes their pages dirty, so that the next fdatasync writes them
 * whether or not the dead one did. If a record is no longer intact, the log
 * enters the failed state (reopening runs recovery).
 *
 * The records cannot change under us: published records are never written
 * again, and only their bytes are rewritten. A failed journal write, the
 * other thing the dead fdatasync may have met, aborts the journal on ext4
 * and XFS, and every later fdatasync then fails too. */
static int redo_dead_sync(durlog *log)
{
    struct dl_shared *sh = log->sh;
    if (!sh->sync_started_ns)
        return 0;
    uint64_t durable = atomic_load(&sh->durable_seq);
    uint64_t end = atomic_load(&sh->published_seq);
    if (durable >= end) {
        sh->sync_started_ns = 0;
        return 0;
    }
    char why[DL_ERRMSG_SIZE / 2];
    if (!dl_sh_marks_ok(durable, end, why, sizeof why))
        return dl_shm_damaged(log, why);
    uint64_t *segs;
    size_t n;
    int rc = list_segments(log, &segs, &n);
    if (rc)
        return rc;
    int damaged = 0;
    uint64_t damaged_seg = 0;
    for (size_t i = 0; i < n && !rc && !damaged && segs[i] < end; i++) {
        damaged_seg = segs[i];
        uint64_t next_seg = i + 1 < n ? segs[i + 1] : UINT64_MAX;
        if (next_seg <= durable)
            continue;
        struct dl_segmap m = DL_SEGMAP_INIT;
        char err[DL_ERRMSG_SIZE];
        rc = dl_seg_open(log->dirfd, log->path, segs[i], DL_SEG_WRITE, &m, err, sizeof err);
        if (rc == DURLOG_ECORRUPT || rc == DURLOG_EFORMAT || rc == -EIO) {
            damaged = 1; /* its header is gone: so are its records */
            rc = 0;
            break;
        }
        if (rc) {
            dl_fail(log, rc, "%s", err);
            break;
        }
        rc = rewrite_unsynced(log, &m, durable, end, next_seg);
        if (rc == 1) {
            damaged = 1;
            rc = 0;
        }
        dl_seg_close(&m);
    }
    free(segs);
    if (rc)
        return rc; /* nothing decided: the next leader tries again */
    sh->sync_started_ns = 0;
    if (!damaged)
        return 0;
    /* Pages a failed fdatasync dropped and damage done by someone else look
     * the same from here: either way these records cannot be vouched for,
     * and reopening finds the same bytes. `durlog check` tells which. */
    atomic_store(&sh->failed, DL_FAIL_SYNC);
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, damaged_seg);
    return dl_fail(log, DURLOG_EFAILED, "%s/%s: records an interrupted or failed fdatasync "
                   "may not have written (from %" PRIu64 " on) are no longer intact or "
                   "readable; close every writer, then `durlog check %s`", log->path, name,
                   durable, log->path);
}

/* Held across an fdatasync, which may take long on a busy disk, so much
 * more patience than the append lock's; but not for ever: a lock word not a
 * holder's at all (an old copy of the coordination file written over the
 * live one, taken while the lock was held) would hang every syncing
 * writer. */
_Atomic uint64_t dl_sync_patience_ns = 120ull * 1000000000u;

static int sync_to(durlog *log, uint64_t target, uint64_t cap_seg)
{
    struct dl_shared *sh = log->sh;
    uint64_t waiting_since = 0, durable_seen = 0;
    for (;;) {
        /* A view of the coordination file lost to the zero page reads
         * failed 0 and durable_seq 0: without the second look a flush of a
         * log whose durlog.shm was emptied returned 0 (test_signals
         * test_shm_emptied, now and then under the thread engine). */
        if (atomic_load(&sh->failed) || dl_view_lost(log))
            return dl_failed_state(log);
        if (atomic_load(&sh->durable_seq) >= target)
            return 0;
        int rc = dl_mutex_trylock(&sh->sync_lock);
        if (rc == 0 || rc == 1) {
            if (rc == 1)
                dl_mutex_consistent(&sh->sync_lock);
            /* Left set by a leader that died during its fdatasync (and
             * still set if the redo could not run last time). */
            int dead = redo_dead_sync(log);
            if (dead) {
                dl_mutex_unlock(&sh->sync_lock);
                dl_durable_changed(sh);
                return dead;
            }
            rc = lead_sync(log, target, cap_seg);
            if (rc)
                return rc;
            continue;
        }
        if (rc == DL_LOCK_DAMAGED)
            return dl_shm_damaged(log, "its sync lock is not a lock durlog made");
        if (rc != -EBUSY)
            return dl_fail(log, rc, "sync lock of %s: %s (reopen the log)",
                           log->path, durlog_strerror(rc));
        /* Somebody is syncing: sleep until the durable mark moves, then look
         * again (our record may need the next sync). */
        uint64_t now = dl_mono_ns(), durable = atomic_load(&sh->durable_seq);
        if (!waiting_since || durable != durable_seen) {
            waiting_since = now;
            durable_seen = durable;
        } else if (now - waiting_since > atomic_load(&dl_sync_patience_ns)) {
            return dl_fail(log, -ETIMEDOUT, "sync lock of %s: held by another thread for "
                           "over %llu ms with no sync finishing (a writer stopped or hung "
                           "holding it, or %s/%s overwritten with a copy taken while it was "
                           "held); records from %llu on are not known durable", log->path,
                           (unsigned long long)(atomic_load(&dl_sync_patience_ns) / 1000000),
                           log->path, DL_SHM_NAME, (unsigned long long)durable);
        }
        uint32_t ticket = dl_waitq_enter(&sh->durable);
        uint32_t seen = atomic_load(&sh->durable.event);
        int slept = 0;
        if (atomic_load(&sh->durable_seq) < target && !atomic_load(&sh->failed))
            slept = dl_waitq_sleep(&sh->durable, seen, DL_FOLLOWER_TIMEOUT_NS);
        dl_waitq_leave(&sh->durable, ticket);
        if (slept)
            return dl_fail(log, slept, "waiting for a sync of %s: futex: %s", log->path,
                           durlog_strerror(slept));
    }
}

int dl_sync_to(durlog *log, uint64_t target)
{
    return sync_to(log, target, DL_NO_SEGMENT);
}

int dl_sync_segment_records(durlog *log, uint64_t target, uint64_t seg)
{
    return sync_to(log, target, seg);
}
