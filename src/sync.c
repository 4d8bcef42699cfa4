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
 * The interval syncer is a thread per handle, started by the first
 * DURLOG_INTERVAL append; it sleeps while nothing is owed and otherwise syncs
 * interval_ms after the oldest unsynced interval record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "os.h"

/* fdatasync of one segment, through a descriptor cached for the tail. */
static int sync_segment(durlog *log, uint64_t seg, int is_tail)
{
    char name[DL_SEG_NAME_LEN + 1];
    uint64_t gen = atomic_load(&log->sh->generation);
    int fd, rc;
    dl_seg_name(name, seg);
    if (is_tail && log->sync_fd >= 0 && log->sync_fd_seg == seg && log->sync_fd_gen == gen) {
        fd = log->sync_fd;
    } else {
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
    /* Makes the segment's records (stored through mappings by any process)
     * and its size durable. */
    rc = dl_fdatasync(fd);
    if (fd != log->sync_fd)
        dl_close(fd);
    if (rc)
        return dl_fail(log, rc, "fdatasync of %s/%s: %s", log->path, name,
                       durlog_strerror(rc));
    return 0;
}

/* Syncs every segment that may hold records in [from, ...) up to `tail`. */
static int sync_range(durlog *log, uint64_t from, uint64_t tail)
{
    if (from >= tail)
        return sync_segment(log, tail, 1);
    /* Rare: records not yet durable span a segment roll. */
    uint64_t *segs;
    size_t n;
    int rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "list segments of %s: %s", log->path,
                       durlog_strerror(rc));
    for (size_t i = 0; i < n && !rc; i++) {
        if (segs[i] > tail)
            break;
        int holds_unsynced = i + 1 == n || segs[i + 1] > from;
        if (holds_unsynced)
            rc = sync_segment(log, segs[i], segs[i] == tail);
    }
    free(segs);
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
     * timeout anyway while the released threads are being scheduled.) */
    if (sh->last_batch > 1) {
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
    if (tail != DL_NO_SEGMENT) {
        rc = sync_range(log, durable, tail);
        if (!rc && atomic_load(&sh->dir_synced_seg) < tail + 1) {
            /* A new segment's name is durable only once its directory is.
             * If a writer rolled meanwhile (possibly replacing the tail's
             * file under the same name), this fsync may not cover it: leave
             * the mark for the next sync to move. */
            uint64_t gen = atomic_load(&sh->generation);
            rc = dl_fsync(log->dirfd);
            if (rc)
                dl_fail(log, rc, "fsync of directory %s: %s", log->path,
                        durlog_strerror(rc));
            else if (atomic_load(&sh->generation) == gen)
                atomic_store(&sh->dir_synced_seg, tail + 1);
        }
    }
    if (rc) {
        /* Final: no later fdatasync is trusted to have saved these pages. */
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

static void *interval_main(void *arg)
{
    durlog *log = arg;
    char msg[DL_ERRMSG_SIZE];
    dl_set_thread_errbuf(msg);
    uint64_t period = (uint64_t)log->opts.interval_ms * 1000000u;
    pthread_mutex_lock(&log->imu);
    while (!log->istop) {
        if (!log->idirty_since) {
            pthread_cond_wait(&log->icond, &log->imu);
            continue;
        }
        uint64_t deadline = log->idirty_since + period;
        if (dl_mono_ns() < deadline) {
            struct timespec ts = { (time_t)(deadline / 1000000000u),
                                   (long)(deadline % 1000000000u) };
            pthread_cond_timedwait(&log->icond, &log->imu, &ts);
            continue;
        }
        uint64_t target = log->itarget;
        log->idirty_since = 0;
        pthread_mutex_unlock(&log->imu);
        int rc = dl_sync_to(log, target);
        pthread_mutex_lock(&log->imu);
        if (rc && !log->ierror) {
            log->ierror = rc;
            memcpy(log->ierrmsg, msg, sizeof msg);
        }
    }
    pthread_mutex_unlock(&log->imu);
    return NULL;
}

int dl_interval_note(durlog *log, uint64_t seq)
{
    int rc = 0;
    pthread_mutex_lock(&log->imu);
    if (!log->ithread_started) {
        int e = pthread_create(&log->ithread, NULL, interval_main, log);
        if (e) {
            pthread_mutex_unlock(&log->imu);
            return dl_fail(log, -e, "start the interval sync thread: %s",
                           durlog_strerror(-e));
        }
        log->ithread_started = 1;
    }
    rc = log->ierror;
    if (rc)
        dl_fail(log, rc, "background interval sync: %s", log->ierrmsg);
    if (seq + 1 > log->itarget)
        log->itarget = seq + 1;
    if (!log->idirty_since) {
        log->idirty_since = dl_mono_ns();
        pthread_cond_signal(&log->icond);
    }
    pthread_mutex_unlock(&log->imu);
    return rc;
}

int dl_interval_stop(durlog *log)
{
    pthread_mutex_lock(&log->imu);
    int started = log->ithread_started;
    log->istop = 1;
    pthread_cond_signal(&log->icond);
    pthread_mutex_unlock(&log->imu);
    if (!started)
        return 0;
    pthread_join(log->ithread, NULL);
    log->ithread_started = 0;
    int rc = log->ierror;
    if (rc)
        dl_fail(log, rc, "background interval sync: %s", log->ierrmsg);
    /* Keep the promise for records still owed: sync them now. */
    if (!rc && log->idirty_since)
        rc = dl_sync_to(log, log->itarget);
    return rc;
}
