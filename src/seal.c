/*
 * seal.c - the log's persisted durable point.
 *
 * The coordination file is never synced, so after a reboot nothing in it is
 * evidence of what reached the disk. The evidence lives in the segments:
 *  - every record carries durable_before, the durable mark when it was
 *    written (it vouches for the records before it);
 *  - a segment's header carries a checkpoint (docs/FORMAT.md), rewritten in
 *    place, inside its first sector, only to state what an fdatasync has
 *    already made true.
 * Recovery (recover.c) trusts everything below the last checkpoint and reads
 * only what follows it, so it never cuts a record the log once made durable,
 * and the work it does at open does not grow with the log.
 *
 * Checkpoints are written at three moments:
 *  - sealing: once a segment is rolled (it takes no more records), the
 *    sealer makes its records durable through the group commit (sync.c) and
 *    writes "sealed: records [first, end) at [64, end_off)" into its header,
 *    then fdatasyncs it. Segments are sealed in order, so a sealed segment
 *    also vouches for every segment before it. This is Kafka's flush on
 *    roll: it costs one extra fdatasync per segment (64 MiB by default), in
 *    the background, and writes what the kernel would have written anyway.
 *  - the last writer's close: it syncs the log and checkpoints the tail
 *    (dl_close_checkpoint), like the clean shutdown of Redis, SQLite or
 *    Kafka, so that the next open, after a reboot too, reads nothing back;
 *  - a lenient recovery, after it has synced what it kept (recover.c).
 *
 * The sealer: whoever rolls notes where the old tail ends (a dl_seal_note in
 * the coordination file, shared.h) and kicks its engine thread (engine.c), which seals
 * in the background; every closing writer also seals what is pending, so a
 * writer killed after a roll leaves the seal to the next one. One sealer at a
 * time, in any process (the seal lock, robust: a sealer killed half way
 * leaves its work to the next, which rewrites the header before syncing it
 * again, since the dead one's fdatasync may have failed unseen).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "os.h"
#include "scan.h"

int dl_seal_pending(durlog *log)
{
    struct dl_shared *sh = log->sh;
    uint64_t tail = atomic_load(&sh->published_seg);
    if (tail == DL_NO_SEGMENT || atomic_load(&sh->failed))
        return 0;
    if (atomic_load(&log->engine.seal_stuck) == tail + 1)
        return 0;
    return atomic_load(&sh->seal_next) < tail;
}

/* Where segment seg ends, found by walking its records (their structure
 * only): when its note is gone (a writer killed after the roll, or the
 * sealer far behind). */
static int walk_end(durlog *log, uint64_t seg, struct dl_seal_note *out)
{
    char err[DL_ERRMSG_SIZE];
    struct dl_segmap m;
    struct dl_scan s;
    struct dl_stat st;
    int rc = dl_seg_open(log->dirfd, log->path, seg, 0, &m, err, sizeof err);
    if (rc)
        return dl_fail(log, rc, "%s", err);
    uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
    struct dl_seg_fmt f = dl_segmap_fmt(&m);
    dl_scan_from(&f, m.map, limit, m.hdr.ckpt_off, m.hdr.ckpt_seq, UINT64_MAX, 1, &s);
    *out = (struct dl_seal_note){ seg, s.next_seq, s.valid_end,
                                  dl_stat_fd(m.fd, &st) == 0 ? st.ino : 0 };
    rc = dl_seg_faulted(&m, log->path, err, sizeof err);
    dl_seg_close(&m);
    if (rc)
        return dl_fail(log, rc, "%s", err);
    /* Debris after the records: not a segment the sealer may vouch for. */
    return s.dirty_end > s.valid_end ? 1 : 0;
}

/* Seals segment seg, which the segment named `next` follows. Returns 0 when
 * sealed, 1 when it must not be (it does not end where the next begins: a
 * gap or damage, for readers and `durlog check` to report), or an error. */
static int seal_one(durlog *log, uint64_t seg, uint64_t next, int redo)
{
    struct dl_shared *sh = log->sh;
    char name[DL_SEG_NAME_LEN + 1], err[DL_ERRMSG_SIZE];
    struct dl_seg_header h;
    struct dl_seal_note note = { 0, 0, 0, 0 };
    struct dl_stat st;
    uint64_t size;
    dl_seg_name(name, seg);

    int rc = dl_seg_read_header(log->dirfd, log->path, seg, &h, &size, err, sizeof err);
    if (rc)
        return dl_fail(log, rc, "%s", err);
    if ((h.flags & DL_SEG_F_SEALED) && !redo)
        return h.ckpt_seq == next ? 0 : 1;
    if (!dl_seal_note_find(sh, seg, &note)) {
        rc = walk_end(log, seg, &note);
        if (rc)
            return rc;
    } else if (!dl_sh_note_ok(&note, seg, size < h.capacity ? size : h.capacity, err,
                              sizeof err)) {
        /* It would be written into the header as the seal: never a value
         * outside the segment. */
        return dl_shm_damaged(log, err);
    }
    if (note.end_seq != next || note.end_seq <= seg)
        return 1;
    /* The records first, through the group commit (which also makes the
     * directory entries durable), then the seal that says so. */
    rc = dl_sync_segment_records(log, note.end_seq, seg);
    if (rc)
        return rc;
    int fd = dl_open_log_file(log->dirfd, log->path, name, err, sizeof err);
    if (fd < 0)
        return dl_fail(log, fd, "%s (to seal it)", err);
    if (note.ino && (dl_stat_fd(fd, &st) != 0 || st.ino != note.ino)) {
        dl_close(fd);
        return dl_mark_replaced(log, seg, -1);
    }
    h.flags = DL_SEG_F_CKPT | DL_SEG_F_SEALED;
    h.ckpt_seq = note.end_seq;
    h.ckpt_off = note.end_off;
    rc = dl_seg_write_header(fd, &h);
    if (rc) {
        dl_close(fd);
        return dl_fail(log, rc, "cannot write the seal of %s/%s: %s", log->path, name,
                       durlog_strerror(rc));
    }
    /* Like any fdatasync, a failure is final: its error is reported once,
     * here, and a later sync of this file would succeed over pages that
     * never reached the disk. */
    rc = dl_fdatasync(fd);
    dl_close(fd);
    if (rc) {
        atomic_store(&sh->failed, DL_FAIL_SYNC);
        dl_durable_changed(sh);
        return dl_fail(log, rc, "fdatasync of %s/%s (its seal): %s", log->path, name,
                       durlog_strerror(rc));
    }
    return 0;
}

/* The segment to seal from `next` on, and the one after it: from the roll's
 * note when there is one (a directory listing per seal would make sealing
 * cost grow with the number of segments), else from the directory. */
static int next_to_seal(durlog *log, uint64_t next, uint64_t *seg, uint64_t *after)
{
    struct dl_seal_note note;
    struct dl_stat st;
    char name[DL_SEG_NAME_LEN + 1];
    if (dl_seal_note_find(log->sh, next, &note)) {
        dl_seg_name(name, note.end_seq);
        if (dl_stat_at(log->dirfd, name, &st) == 0) {
            *seg = next;
            *after = note.end_seq;
            return 0;
        }
    }
    uint64_t *segs;
    size_t n, i;
    int rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "list segments of %s: %s", log->path, durlog_strerror(rc));
    for (i = 0; i < n && segs[i] < next; i++)
        ;
    *seg = i < n ? segs[i] : DL_NO_SEGMENT;
    *after = i + 1 < n ? segs[i + 1] : DL_NO_SEGMENT;
    free(segs);
    return 0;
}

int dl_seal_run(durlog *log)
{
    struct dl_shared *sh = log->sh;
    int redo = 0;
    int rc = dl_mutex_trylock(&sh->seal_lock);
    if (rc == -EBUSY)
        return 0;
    if (rc == DL_LOCK_DAMAGED)
        return dl_shm_damaged(log, "its seal lock is not a lock durlog made");
    if (rc == 1) {
        /* The sealer died, maybe after writing a seal and before (or
         * during) its fdatasync: the next seal is rewritten, not trusted. */
        dl_mutex_consistent(&sh->seal_lock);
        redo = 1;
        rc = 0; /* its work is ours now: not an error */
    } else if (rc) {
        return dl_fail(log, rc, "seal lock of %s: %s", log->path, durlog_strerror(rc));
    }
    for (;;) {
        uint64_t tail = atomic_load(&sh->published_seg);
        uint64_t next = atomic_load(&sh->seal_next);
        if (tail == DL_NO_SEGMENT || next >= tail || atomic_load(&sh->failed))
            break;
        uint64_t seg = DL_NO_SEGMENT, after = DL_NO_SEGMENT;
        rc = next_to_seal(log, next, &seg, &after);
        if (rc)
            break;
        if (seg == DL_NO_SEGMENT || seg >= tail || after == DL_NO_SEGMENT) {
            atomic_store(&sh->seal_next, tail);
            break;
        }
        rc = seal_one(log, seg, after, redo);
        if (rc == 1) {
            /* A gap or damage after it: nothing later may be sealed until
             * it is repaired (a seal vouches for everything before it). */
            atomic_store(&log->engine.seal_stuck, tail + 1);
            rc = 0;
            break;
        }
        if (rc)
            break;
        redo = 0;
        dl_release_held(log, seg);
        atomic_store(&sh->seal_next, after);
    }
    dl_mutex_unlock(&sh->seal_lock);
    return rc;
}

int dl_close_checkpoint(durlog *log)
{
    struct dl_shared *sh = log->sh;
    if (atomic_load(&sh->failed))
        return 0;
    int rc = dl_seal_run(log);
    if (rc)
        return rc;
    rc = dl_sync_to(log, atomic_load(&sh->published_seq));
    if (rc)
        return rc;
    rc = dl_lock_append(log);
    if (rc)
        return rc;
    uint64_t seg = sh->tail_seg, next = sh->next_seq, off = sh->tail_off, ino = sh->tail_ino;
    dl_unlock_append(log);
    if (seg == DL_NO_SEGMENT || next > atomic_load(&sh->durable_seq))
        return 0;
    return dl_write_checkpoint(log, seg, next, off, 0, ino);
}
