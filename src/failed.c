/*
 * failed.c - the failed state: how a log enters it, and the error every
 * later append and sync meets.
 *
 * A log fails for good (sh->failed, until every writer has closed it and
 * the next open recovers it) when something makes its records
 * untrustworthy: an fdatasync failed (sync.c says why that is final), a
 * segment was replaced, removed or truncated under the writers, or the
 * coordination file holds values no writer leaves. Whoever finds out sets
 * the state once, and every handle then reports the first cause.
 *
 * A segment replaced (cp + mv) while writers had it open holds, in the old
 * file, the records stored into it since; they are nowhere else. So a
 * handle keeps the files of the tails it rolled away from open until they
 * are sealed (log->tail.held), and the first writer to find the replacement
 * saves the old file as a side file (cut.h).
 *
 * It calls only files below it (shared.c, cut.c, format.c, os.c,
 * error.c): the tail, recovery, syncing and sealing all fail the log
 * through it.
 */
#include <errno.h>
#include <stdio.h>

#include "cut.h"
#include "log.h"
#include "os.h"

int dl_failed_state(durlog *log)
{
    if (dl_shm_lost(log->sh_guard) || atomic_load(&log->sh->failed) == DL_FAIL_LOST)
        return dl_fail(log, DURLOG_EFAILED, "%s/%s, the file the log's writers share, was "
                       "truncated or could not be read while the log was open (someone "
                       "emptied or rewrote it): this handle appends nothing more; close it "
                       "and open the log again (the file is rebuilt once every writer has "
                       "closed)", log->path, DL_SHM_NAME);
    if (atomic_load(&log->sh->failed) == DL_FAIL_SEGMENT)
        return dl_fail(log, DURLOG_EFAILED, "%s: a segment was truncated or could not be "
                       "read or stored into while writers had the log open: nothing more is "
                       "appended; close every writer, then `durlog check %s`",
                       log->path, log->path);
    if (atomic_load(&log->sh->failed) == DL_FAIL_OVERWRITTEN)
        return dl_fail(log, DURLOG_EFAILED, "%s: its tail segment or %s was overwritten "
                       "while writers had the log open (as when an old copy is written over "
                       "it): nothing more is appended; close every writer, then `durlog "
                       "check %s`", log->path, DL_SHM_NAME, log->path);
    if (atomic_load(&log->sh->failed) == DL_FAIL_DAMAGED)
        return dl_fail(log, DURLOG_EFAILED, "%s: %s held values no writer leaves while "
                       "writers had the log open (someone else wrote into it): nothing "
                       "more is appended; close every writer, then open the log again (the "
                       "first writer rebuilds that file from the segments)", log->path,
                       DL_SHM_NAME);
    if (atomic_load(&log->sh->failed) == DL_FAIL_REPLACED)
        return dl_fail(log, DURLOG_EFAILED, "%s: a segment file was replaced or removed "
                       "while the log was open (records written since went into the old "
                       "file); close every writer, then `durlog check %s`",
                       log->path, log->path);
    uint32_t failed = atomic_load(&log->sh->failed);
    if (failed != DL_FAIL_SYNC)
        return dl_fail(log, DURLOG_EFAILED, "%s: %s holds a failure code no writer "
                       "leaves (%u: someone else wrote into it while writers had the log "
                       "open): nothing more is appended; close every writer, then open "
                       "the log again (the first writer rebuilds that file from the "
                       "segments)", log->path, DL_SHM_NAME, (unsigned)failed);
    return dl_fail(log, DURLOG_EFAILED, "%s: an earlier fdatasync failed; "
                   "close and reopen the log to recover", log->path);
}

int dl_shm_damaged(durlog *log, const char *why)
{
    struct dl_shared *sh = log->sh;
    uint32_t none = DL_FAIL_NONE;
    if (!atomic_compare_exchange_strong(&sh->failed, &none, DL_FAIL_DAMAGED) &&
        none != DL_FAIL_DAMAGED)
        return dl_failed_state(log); /* failed already, for another reason */
    dl_durable_changed(sh);
    return dl_fail(log, DURLOG_EFAILED, "%s/%s holds a value no writer leaves (%s): "
                   "someone else wrote into it while writers had the log open; nothing "
                   "more is appended; close every writer, then open the log again (the "
                   "first writer rebuilds that file from the segments)", log->path,
                   DL_SHM_NAME, why);
}

/* Keeps a descriptor of the tail being rolled away from (pmu held). */
void dl_hold_rolled(durlog *log)
{
    if (log->tail.cur.fd < 0)
        return;
    size_t slot = 0;
    for (size_t i = 0; i < DL_HELD_ROLLED; i++) {
        if (log->tail.held[i].fd < 0) {
            slot = i;
            break;
        }
        if (log->tail.held[i].seg < log->tail.held[slot].seg)
            slot = i; /* all taken: the oldest goes */
    }
    dl_close(log->tail.held[slot].fd);
    /* Best effort: a descriptor that cannot be had (EMFILE) only means the
     * file cannot be saved should someone replace it before it is sealed. */
    int fd = dl_dup(log->tail.cur.fd);
    log->tail.held[slot].fd = fd >= 0 ? fd : -1;
    log->tail.held[slot].seg = log->tail.cur.first_seq;
}

int dl_held_fd(durlog *log, uint64_t seg)
{
    int fd = -1;
    pthread_mutex_lock(&log->prefault.pmu);
    if (log->tail.cur.fd >= 0 && log->tail.cur.first_seq == seg)
        fd = dl_dup(log->tail.cur.fd);
    for (size_t i = 0; i < DL_HELD_ROLLED && fd < 0; i++)
        if (log->tail.held[i].fd >= 0 && log->tail.held[i].seg == seg)
            fd = dl_dup(log->tail.held[i].fd);
    pthread_mutex_unlock(&log->prefault.pmu);
    return fd >= 0 ? fd : -1;
}

void dl_release_held(durlog *log, uint64_t seg)
{
    pthread_mutex_lock(&log->prefault.pmu);
    for (size_t i = 0; i < DL_HELD_ROLLED; i++) {
        if (log->tail.held[i].fd >= 0 && (seg == DL_NO_SEGMENT || log->tail.held[i].seg == seg)) {
            dl_close(log->tail.held[i].fd);
            log->tail.held[i].fd = -1;
        }
    }
    pthread_mutex_unlock(&log->prefault.pmu);
}

static int mark_replaced(durlog *log, uint64_t seg, int old_fd, int have_append_lock)
{
    struct dl_shared *sh = log->sh;
    char name[DL_SEG_NAME_LEN + 1], side[DL_SIDE_NAME_MAX] = "", err[DL_ERRMSG_SIZE];
    uint32_t state = DL_FAIL_NONE;
    dl_seg_name(name, seg);
    /* A log that failed already, for another reason, keeps that first
     * cause; the old file is saved all the same. */
    if (atomic_compare_exchange_strong(&sh->failed, &state, DL_FAIL_REPLACED))
        dl_durable_changed(sh);
    /* The records stored into the old file since the replacement are
     * nowhere else: every writer that holds it makes sure it is saved (the
     * first does it), whatever failed first. A sync that, after a dead
     * sync leader, checks the records by the segment's name finds the copy
     * put there short of them and fails the log as a failed fdatasync
     * would: saving only while the log had not failed (or had failed for
     * this replacement) lost kernel records acknowledged into the old file
     * (test_accidents, 1 run in 50; test_hostile:
     * a_replaced_tail_is_saved_when_the_log_already_failed_for_another_reason).
     * Under the append lock: an append under way now (it took the lock
     * before the failed state was set) finishes first, and none starts
     * after. */
    int held = -1, saved = 0;
    if (old_fd < 0)
        old_fd = held = dl_held_fd(log, seg);
    if (old_fd >= 0) {
        int lrc = have_append_lock ? -1
                  : dl_mutex_lock_within(&sh->append_lock, atomic_load(&dl_lock_patience_ns));
        int locked = lrc >= 0;
        if (lrc == 1)
            dl_mutex_consistent(&sh->append_lock); /* a dead holder: the log failed */
        saved = dl_save_orphan(log->dirfd, log->path, name, old_fd, &log->owner, side, err,
                               sizeof err);
        if (locked)
            dl_mutex_unlock(&sh->append_lock);
    }
    dl_close(held);
    if (saved == 0 && side[0])
        return dl_fail(log, DURLOG_EFAILED, "%s/%s was replaced or removed while the log "
                       "was open: records written since went into the old file, now saved "
                       "as %s/%s; close every writer, then `durlog check %s`",
                       log->path, name, log->path, side, log->path);
    return dl_fail(log, DURLOG_EFAILED, "%s/%s was replaced or removed while the log was "
                   "open: records written since went into the old file (%s); close every "
                   "writer, then `durlog check %s`", log->path, name,
                   saved == 1 ? "saved as <segment>.replaced-<inode>"
                   : old_fd >= 0 ? "which could not be saved" : "which this writer does not hold",
                   log->path);
}

int dl_mark_replaced(durlog *log, uint64_t seg, int old_fd)
{
    return mark_replaced(log, seg, old_fd, 0);
}

int dl_mark_replaced_locked(durlog *log, uint64_t seg, int old_fd)
{
    return mark_replaced(log, seg, old_fd, 1);
}

