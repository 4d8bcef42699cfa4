/*
 * trim.c - removing a log's oldest segments (durlog_trim, and the retention
 * limits of durlog_trim_retention).
 *
 * What a trim removes: whole segments, oldest first, never the tail (the
 * last segment file), and only segments that are sealed (seal.c) and end
 * exactly where the next one begins. So the log's first record is always the
 * first record of its oldest remaining segment, and what remains has no gap.
 * A sealed segment's records were made durable (through the group commit)
 * before its seal was written, and nobody stores into it again: removing it
 * loses nothing a writer still needs. A segment the sealer has not reached
 * yet (seal_next in the coordination file) stays: the sealer, and writers
 * holding it open to save it should it be replaced (failed.c), still use it.
 *
 * Order of the directory changes, and why it survives a crash or a power
 * loss. Before the first removal the directory is fsynced, so that every
 * segment's name (a roll's rename) is durable before any older one can go.
 * Then, for each segment, oldest first: unlink it, fsync the directory. An
 * unlink's effect on the disk is not ordered against a later one's until the
 * directory is synced, so without the fsync between them a power loss could
 * keep the removal of segment 2 and lose that of segment 1: a hole in the
 * log. With it, what survives any crash or power loss is a prefix of the
 * removals: the log still starts at a segment boundary, with no gap. (A
 * durable marker written first would save fsyncs, but trims run in the
 * background, a segment at a time: one directory fsync per 64 MiB segment
 * costs nothing an appender sees.)
 *
 * Trims from several processes at once need no lock: each removes in the
 * same order, and one that finds a segment already gone (ENOENT: another
 * trim removed it, perhaps not durably yet) still fsyncs the directory before
 * it removes the next, which makes the other's removal durable first. No
 * trim holds the append lock across an unlink or an fsync: appenders never
 * wait for one (the append lock is taken for a moment at the end, to note
 * the new first record in the coordination file).
 *
 * Readers (reader.c) keep reading a removed segment they have open (Linux
 * keeps an unlinked file readable while it is open); one that needs a
 * removed segment gets DURLOG_ETRIMMED, naming the log's first record now.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "index.h"
#include "log.h"
#include "os.h"

/* 1 if segment seg is sealed and ends exactly where segment `next` begins;
 * 0 if not; -ENOENT if it is gone (another trim removed it); another
 * negative error (with the handle's message) if its header cannot be read. */
static int sealed_up_to(durlog *log, uint64_t seg, uint64_t next)
{
    char err[DL_ERRMSG_SIZE];
    struct dl_seg_header h;
    int rc = dl_seg_read_header(log->dirfd, log->path, seg, &h, NULL, err, sizeof err);
    if (rc == -ENOENT)
        return rc;
    if (rc)
        return dl_fail(log, rc, "trim: %s", err);
    return (h.flags & DL_SEG_F_SEALED) && h.ckpt_seq == next;
}

static int sync_dir(durlog *log)
{
    int rc = dl_fsync(log->dirfd);
    if (rc)
        return dl_fail(log, rc, "trim: fsync of directory %s: %s", log->path,
                       durlog_strerror(rc));
    return 0;
}

/* Removes segments segs[0..) while the one after each starts at or below
 * before_seq (so all its records are below it) and it may go (see the top
 * of the file). *first gets the first segment left. */
static int remove_prefix(durlog *log, const uint64_t *segs, size_t n, uint64_t before_seq,
                         size_t max_segments, uint64_t *first, int *more)
{
    struct dl_shared *sh = log->sh;
    uint64_t seal_next = atomic_load(&sh->seal_next);
    int dir_synced = 0;
    size_t i;
    *first = segs[0];
    for (i = 0; i + 1 < n; i++) {
        uint64_t seg = segs[i], next = segs[i + 1];
        if (next > before_seq || next > seal_next)
            break;
        if (max_segments && i == max_segments) {
            *more = 1;
            break;
        }
        /* The coordination file's seal_next is not evidence (shared.h):
         * the segment's own header must say it is sealed, up to the next. */
        int rc = sealed_up_to(log, seg, next);
        if (rc == 0)
            break;
        if (rc < 0 && rc != -ENOENT)
            return rc;
        if (!dir_synced) {
            /* Every segment's name durable before any removal. */
            rc = sync_dir(log);
            if (rc)
                return rc;
            dir_synced = 1;
        }
        char name[DL_SEG_NAME_LEN + 1];
        dl_seg_name(name, seg);
        rc = dl_unlinkat(log->dirfd, name);
        if (rc && rc != -ENOENT)
            return dl_fail(log, rc, "trim: cannot remove %s/%s: %s", log->path, name,
                           durlog_strerror(rc));
        /* This removal durable before the next one is made (see the top of
         * the file); after another trim's removal (ENOENT) too. */
        rc = sync_dir(log);
        if (rc)
            return rc;
        /* Its index side file (index.c) goes too: a cache of a segment no
         * longer there. Nothing depends on it going (a leftover is ignored
         * by every reader, and stale for any new segment of that name), so
         * no sync, and a failure is no error. */
        char idx[DL_IDX_NAME_LEN + 1];
        dl_index_name(idx, seg);
        (void)dl_unlinkat(log->dirfd, idx);
        dl_release_held(log, seg);
        *first = next;
    }
    return 0;
}

/* Notes the log's new first record in the coordination file. */
static int note_first(durlog *log, uint64_t first)
{
    struct dl_shared *sh = log->sh;
    int rc = dl_lock_append(log);
    if (rc)
        return rc;
    if (!dl_view_lost(log) && sh->first_seq < first)
        sh->first_seq = first;
    dl_unlock_append(log);
    return 0;
}

int dl_trim_some(durlog *log, uint64_t before_seq, size_t max_segments, uint64_t *first_out,
                 int *more)
{
    int stopped = 0;
    if (dl_view_lost(log) || atomic_load(&log->sh->failed))
        return dl_failed_state(log);
    uint64_t *segs;
    size_t n;
    int rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "trim: cannot list the segments of %s: %s", log->path,
                       durlog_strerror(rc));
    uint64_t first = atomic_load(&log->sh->published_seq);
    if (n)
        rc = remove_prefix(log, segs, n, before_seq, max_segments, &first, &stopped);
    free(segs);
    if (!rc && n)
        rc = note_first(log, first);
    if (!rc && first_out)
        *first_out = first;
    if (more)
        *more = stopped;
    return rc;
}

int durlog_trim(durlog *log, uint64_t before_seq, uint64_t *first_seq_out)
{
    if (!log)
        return -EINVAL;
    return dl_trim_some(log, before_seq, 0, first_seq_out, NULL);
}

/* Named cursors (cursor.c) hold what they have not consumed: the plan's
 * first segment to keep moves back to the one holding the lowest cursor.
 * With cursor_cap_bytes set, the hold covers at most that many bytes of
 * segments (from the held one to the tail); past it the oldest go anyway,
 * and the cursor's next seek says it fell behind (DURLOG_ETRIMMED). A
 * cursor file that cannot be read fails the plan: what it holds is not
 * known, so nothing is removed on a guess. */
static int hold_for_cursors(durlog *log, const durlog_retention *lim, const uint64_t *segs,
                            const uint64_t *sizes, size_t n, size_t *keep)
{
    char err[DL_ERRMSG_SIZE];
    uint64_t floor;
    int rc = dl_cursors_floor(log->dirfd, log->path, &floor, err, sizeof err);
    if (rc)
        return dl_fail(log, rc, "trim: %s (retention removes nothing while a cursor's "
                       "position is unknown; fix or delete it: `durlog cursor`)", err);
    /* The segment holding the floor: the last one starting at or before
     * it (none below the first: that cursor is behind already). */
    size_t held = 0;
    while (held + 1 < n && segs[held + 1] <= floor)
        held++;
    if (floor == UINT64_MAX || held >= *keep)
        return 0;
    if (lim->cursor_cap_bytes) {
        uint64_t total = 0;
        for (size_t i = held; i < n; i++)
            total += sizes[i];
        while (held < *keep && total > lim->cursor_cap_bytes)
            total -= sizes[held++];
    }
    *keep = held;
    return 0;
}

/* The first record to keep under the limits: the first segment, from the
 * oldest on, that must stay because of max_bytes (the segments from it on
 * fit) and max_age_ns (the segment after it began at or after now - age),
 * or because a cursor has not consumed it (hold_for_cursors). */
int dl_trim_plan(durlog *log, const durlog_retention *lim, uint64_t now_ns,
                 uint64_t *before_out)
{
    uint64_t *segs;
    size_t n;
    char err[DL_ERRMSG_SIZE];
    int rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "trim: cannot list the segments of %s: %s", log->path,
                       durlog_strerror(rc));
    *before_out = 0;
    uint64_t *sizes = n ? calloc(n, sizeof *sizes) : NULL;
    if (n && !sizes) {
        free(segs);
        return dl_fail(log, -ENOMEM, "trim: out of memory");
    }
    uint64_t total = 0;
    /* Sizes: for max_bytes, and for the cursors' cap. */
    for (size_t i = 0; i < n && (lim->max_bytes || lim->cursor_cap_bytes); i++) {
        struct dl_stat st;
        char name[DL_SEG_NAME_LEN + 1];
        dl_seg_name(name, segs[i]);
        rc = dl_stat_at(log->dirfd, name, &st);
        if (rc == -ENOENT)
            continue; /* removed meanwhile: it counts for nothing */
        if (rc) {
            rc = dl_fail(log, rc, "trim: cannot look at %s/%s: %s", log->path, name,
                         durlog_strerror(rc));
            goto out;
        }
        sizes[i] = st.size;
        total += st.size;
    }
    uint64_t cutoff = lim->max_age_ns && now_ns > lim->max_age_ns ? now_ns - lim->max_age_ns : 0;
    size_t keep = 0;
    for (; keep + 1 < n; keep++) {
        int over_size = lim->max_bytes && total > lim->max_bytes;
        int too_old = 0;
        if (cutoff) {
            /* Every record of segment keep is at or before the next
             * segment's base time (its header's created_ns). */
            struct dl_seg_header h;
            rc = dl_seg_read_header(log->dirfd, log->path, segs[keep + 1], &h, NULL, err,
                                    sizeof err);
            if (rc) {
                rc = dl_fail(log, rc, "trim: %s", err);
                goto out;
            }
            too_old = h.created_ns < cutoff;
        }
        if (!over_size && !too_old)
            break;
        total -= sizes[keep];
    }
    if (n && (rc = hold_for_cursors(log, lim, segs, sizes, n, &keep)) != 0)
        goto out;
    *before_out = n ? segs[keep] : 0;
out:
    free(sizes);
    free(segs);
    return rc;
}

int durlog_trim_retention(durlog *log, const durlog_retention *limits,
                          uint64_t *first_seq_out)
{
    if (!log)
        return -EINVAL;
    if (!limits)
        return dl_fail(log, -EINVAL, "durlog_trim_retention: NULL limits");
    if (dl_reserved_nonzero(limits->reserved, DURLOG_RETENTION_RESERVED))
        return dl_fail(log, -EINVAL, "durlog_retention: reserved fields must be zero "
                       "(zero-fill the struct)");
    uint64_t before = 0;
    if (limits->max_bytes || limits->max_age_ns) {
        int rc = dl_trim_plan(log, limits, dl_now_ns(), &before);
        if (rc)
            return rc;
    }
    return dl_trim_some(log, before, 0, first_seq_out, NULL);
}
