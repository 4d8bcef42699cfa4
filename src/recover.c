/*
 * recover.c - rebuilding a log's tail from its segments.
 *
 * Runs in three situations (enum dl_recover_mode in log.h):
 *  - LENIENT: the first writer to open a log whose history is unknown (the
 *    coordination file is missing, from another boot or another log): a
 *    power loss may have happened since the data was written;
 *  - STRICT: the first writer to open a log whose coordination file was
 *    built on this boot for this directory: the page cache is intact, so
 *    pages cannot have been lost, only a process killed mid-append;
 *  - LIVE: a writer that finds the append lock's previous owner dead: its
 *    partial record must be cleared while other writers have the log open.
 *
 * The persisted durable point. A segment's header carries a checkpoint
 * (docs/FORMAT.md): "records below ckpt_seq, in [64, ckpt_off), are on stable
 * storage", written only after an fdatasync made that true - when a rolled
 * segment is sealed (seal.c), when the last writer closes the log, and here
 * after a lenient recovery. Recovery walks back from the last segment to the
 * first checkpoint it finds and examines only what lies after it: normally
 * the tail segment from its checkpoint, so the work does not grow with the
 * log, and one descriptor and one mapping are open at a time. Nothing below
 * the checkpoint is ever cut; damage there is a disk's doing, not a crash's,
 * and readers and `durlog check` report it where it is.
 *
 * After the checkpoint, what a crash can leave:
 *  - A process killed mid-append (the page cache is intact): a partial record
 *    after the last whole one, with nothing valid after it: a torn tail.
 *  - A power loss: every page written since the last fdatasync may
 *    independently be old or new, so records after the last sync can be
 *    missing while later ones survive, even across segment files. Every record
 *    carries "durable_before": the log's durable mark when it was written.
 *    A surviving record whose mark is above a missing record's number proves
 *    the missing one had been synced, so that gap is corruption
 *    (DURLOG_ECORRUPT: the open fails, naming the damage and `durlog check`).
 *    A gap no record vouches for is what a power loss leaves: it and
 *    everything after it is cut, which keeps the log a prefix of what was
 *    appended and loses only records that were never acknowledged as durable.
 * A log never synced at all (only `kernel` appends, never closed cleanly,
 * never rolled) has no checkpoint: after a reboot recovery assumes a power
 * loss may have taken any of it, and cuts at the first damage no later record
 * vouches for. So a stray bit flip in such a log after a clean reboot is cut
 * like a torn tail - but, as every cut, into a side file (cut.c): what
 * recovery cuts is moved aside, never deleted, and durlog_recovery says where.
 * The one exception is the partial record of a writer that died holding the
 * append lock (LIVE): those bytes were never a record, never published, and
 * are zeroed in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cut.h"
#include "log.h"
#include "os.h"
#include "scan.h"

struct seg_state {
    struct dl_seg_header hdr;
    uint64_t size;           /* file size */
    uint64_t blocks;         /* 512-byte blocks allocated */
    uint64_t ino;
    int bad_header;          /* the header did not survive (power loss) */
    int examined;            /* scanned from its checkpoint (or sealed) */
    struct dl_scan scan;     /* from the checkpoint; for a sealed segment,
                                its seal */
    uint64_t ckpt_time_ns;   /* version 2, not sealed: the time of the last
                                record before the checkpoint (0: none) */
};

/* The time of the last record in [64, ckpt_off) of a version 2 segment, by
 * walking record headers (lengths and number bits; no checksums: those
 * records are durable, and only their time is wanted). The first writer
 * appends no earlier than it: the clock, set back while the log was
 * closed, would give the next records times before those already in the
 * segment, and a resync after damage skips records more than a second older
 * than the last good one (it took every record appended after the restart
 * for a torn tail). A walk that breaks early gives the last time it read. */
static uint64_t time_before_checkpoint(const struct dl_seg_fmt *f, const unsigned char *map,
                                       const struct dl_seg_header *h)
{
    struct dl_rec_view v;
    uint64_t off = DL_SEG_HEADER_SIZE, t = 0;
    if (f->version != DL_FORMAT_VERSION)
        return 0;
    for (uint64_t q = h->first_seq; q < h->ckpt_seq && off < h->ckpt_off; q++) {
        if (dl_rec_peek(f, map + off, h->ckpt_off - off, q, &v) != DL_REC_VALID)
            break;
        t = v.time_ns;
        off += v.size;
    }
    return t;
}

static int sealed(const struct seg_state *st)
{
    return !st->bad_header && (st->hdr.flags & DL_SEG_F_SEALED);
}

/* 1 if segment `name`'s header is what a power loss leaves of a segment
 * created just before it: a file shorter than a header, or a header of
 * zeros (its blocks were allocated but never written back). Anything else
 * that fails the header's checks was written and then damaged. */
static int header_never_written(durlog *log, uint64_t seg)
{
    char name[DL_SEG_NAME_LEN + 1];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    dl_seg_name(name, seg);
    int fd = dl_openat(log->dirfd, name, O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return 0;
    int rc = dl_pread_all(fd, hdr, sizeof hdr, 0);
    dl_close(fd);
    if (rc == -EIO)
        return 1; /* ends before a whole header */
    if (rc)
        return 0;
    for (size_t i = 0; i < sizeof hdr; i++)
        if (hdr[i])
            return 0;
    return 1;
}

/* Reads segment segs[i]'s header. A header that never reached the disk is
 * what a power loss leaves (LENIENT); any other header failing its checks,
 * and any header damage when the page cache is intact, is corruption; and
 * any other failure (EACCES, EMFILE, EIO) is reported as what it is. */
static int read_header(durlog *log, const uint64_t *segs, size_t i,
                       enum dl_recover_mode mode, struct seg_state *st)
{
    char err[DL_ERRMSG_SIZE];
    int rc = dl_seg_read_header(log->dirfd, log->path, segs[i], &st->hdr, &st->size,
                                err, sizeof err);
    if (rc == DURLOG_ECORRUPT || rc == DURLOG_EFORMAT) {
        if (mode == DL_RECOVER_LENIENT && header_never_written(log, segs[i])) {
            /* A segment whose header did not survive holds nothing that was
             * acknowledged durable: creating it and syncing a record in it
             * would have made the header durable too. (Checkpoints rewrite
             * the header inside one sector, which a power loss leaves old or
             * new, never torn.) */
            st->bad_header = 1;
            return 0;
        }
        return dl_fail(log, DURLOG_ECORRUPT, "%s; run `durlog check %s`", err, log->path);
    }
    if (rc)
        return dl_fail(log, rc, "%s", err);
    return 0;
}

/* Scans segment segs[i] from its checkpoint (CRC-verified), one mapping at
 * a time. A sealed segment is not read: its seal says where it ends. */
static int examine(durlog *log, const uint64_t *segs, size_t i, struct seg_state *st)
{
    char err[DL_ERRMSG_SIZE];
    struct dl_segmap m;
    st->examined = 1;
    if (st->bad_header)
        return 0;
    if (sealed(st)) {
        st->scan = (struct dl_scan){ .first_seq = st->hdr.ckpt_seq,
                                     .next_seq = st->hdr.ckpt_seq,
                                     .valid_end = st->hdr.ckpt_off,
                                     .dirty_end = st->hdr.ckpt_off };
        return 0;
    }
    int rc = dl_seg_open(log->dirfd, log->path, segs[i], 0, &m, err, sizeof err);
    if (rc)
        return dl_fail(log, rc, "%s", err);
    struct dl_stat sb;
    if (dl_stat_fd(m.fd, &sb) == 0) {
        st->ino = sb.ino;
        st->blocks = sb.blocks;
    }
    st->hdr = m.hdr;
    st->size = m.size;
    uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
    struct dl_seg_fmt f = dl_segmap_fmt(&m);
    dl_scan_from(&f, m.map, limit, m.hdr.ckpt_off, m.hdr.ckpt_seq, UINT64_MAX, 1, &st->scan);
    if (st->scan.records == 0 && m.hdr.ckpt_off <= limit)
        st->ckpt_time_ns = time_before_checkpoint(&f, m.map, &m.hdr);
    rc = dl_seg_faulted(&m, log->path, err, sizeof err);
    dl_seg_close(&m);
    if (rc)
        return dl_fail(log, rc, "recovery of %s cannot read a segment: %s", log->path, err);
    return 0;
}

/* Records [first, end) of the examined region the break leaves behind:
 * those after it. */
static uint64_t records_after_break(const struct seg_state *st, size_t b, size_t n)
{
    uint64_t later = 0;
    for (size_t j = b; j < n; j++) {
        if (st[j].bad_header || sealed(&st[j]))
            continue;
        later += (j == b) ? st[j].scan.later_records
                          : st[j].scan.records + st[j].scan.later_records;
    }
    return later;
}

static int fail_corrupt(durlog *log, const uint64_t *segs, const struct seg_state *st,
                        size_t b, size_t n, uint64_t missing, uint64_t later)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, segs[b]);
    if (!st[b].bad_header && b + 1 < n && st[b].scan.dirty_end == st[b].scan.valid_end &&
        segs[b + 1] > st[b].scan.next_seq)
        return dl_fail(log, DURLOG_ECORRUPT,
                       "%s/%s: the data ends at byte offset %llu, but the next segment "
                       "starts at record %llu: records %llu to %llu are missing, with "
                       "%llu good records after them; run `durlog check %s`",
                       log->path, name, (unsigned long long)st[b].scan.valid_end,
                       (unsigned long long)segs[b + 1], (unsigned long long)missing,
                       (unsigned long long)segs[b + 1] - 1, (unsigned long long)later,
                       log->path);
    return dl_fail(log, DURLOG_ECORRUPT,
                   "%s/%s: damaged or missing data at byte offset %llu (record %llu) "
                   "with %llu good records after it; run `durlog check %s`",
                   log->path, name,
                   (unsigned long long)(st[b].bad_header ? 0 : st[b].scan.valid_end),
                   (unsigned long long)missing, (unsigned long long)later, log->path);
}

/* Zeroes bytes [from, to) of segment `name` in place; with sync, durably.
 * On failure, err says what failed. */
static int zero_in_place(durlog *log, const char *name, uint64_t from, uint64_t to, int sync,
                         char err[DL_ERRMSG_SIZE])
{
    int fd = dl_open_log_file(log->dirfd, log->path, name, err, DL_ERRMSG_SIZE);
    if (fd < 0)
        return fd;
    size_t len = (size_t)(to - from);
    void *zeros = calloc(1, len ? len : 1);
    int rc = zeros ? dl_pwrite_all(fd, zeros, len, (off_t)from) : -ENOMEM;
    if (!rc && sync)
        rc = dl_fdatasync(fd);
    free(zeros);
    dl_close(fd);
    if (rc)
        snprintf(err, DL_ERRMSG_SIZE, "cannot zero bytes %llu to %llu of %s/%s: %s",
                 (unsigned long long)from, (unsigned long long)to, log->path, name,
                 durlog_strerror(rc));
    return rc;
}

static int zero_range(durlog *log, const char *name, uint64_t from, uint64_t to,
                      char err[DL_ERRMSG_SIZE])
{
    return zero_in_place(log, name, from, to, 1, err);
}

static int zero_range_unsynced(durlog *log, const char *name, uint64_t from, uint64_t to,
                               char err[DL_ERRMSG_SIZE])
{
    return zero_in_place(log, name, from, to, 0, err);
}

/* Cuts the log at the break in segment b: the debris after b's valid
 * records and every later segment. LIVE: zeroes a dead writer's partial
 * record in place; otherwise everything goes to side files. */
static int cut_at_break(durlog *log, const uint64_t *segs, struct seg_state *st,
                        size_t b, size_t n, enum dl_recover_mode mode,
                        durlog_recovery *rep)
{
    char name[DL_SEG_NAME_LEN + 1], side[DL_SIDE_NAME_MAX], err[DL_ERRMSG_SIZE];
    int rc;
    if (!st[b].bad_header && !sealed(&st[b]) && st[b].scan.dirty_end > st[b].scan.valid_end) {
        struct dl_scan *s = &st[b].scan;
        dl_seg_name(name, segs[b]);
        if (mode == DL_RECOVER_LIVE) {
            /* Not synced: the writers' next sync covers it. */
            rc = zero_range_unsynced(log, name, s->valid_end, s->dirty_end, err);
            if (rc)
                return dl_fail(log, rc, "clear the partial record a dead writer left: %s",
                               err);
        } else {
            rc = dl_cut_range(log->dirfd, log->path, name, s->valid_end, s->dirty_end,
                              &log->owner, side, err, sizeof err);
            if ((rc == -ENOSPC || rc == -EDQUOT) && s->later_records == 0) {
                /* No room for a side file, and the bytes hold no whole
                 * record (a record torn by the crash): zeroed in place, so
                 * that a full disk does not keep every writer out. The
                 * report says they were not kept (no side file). */
                rc = zero_range(log, name, s->valid_end, s->dirty_end, err);
            } else if (!rc) {
                snprintf(rep->side_file, sizeof rep->side_file, "%s", side);
            }
            if (rc)
                return dl_fail(log, rc, "recovery of a torn tail: %s", err);
        }
        rep->bytes_cut += s->dirty_end - s->valid_end;
    }
    if (!st[b].bad_header && !sealed(&st[b])) {
        /* Where the valid data now ends. */
        dl_seg_name(name, segs[b]);
        snprintf(rep->segment, sizeof rep->segment, "%s", name);
        rep->offset = st[b].scan.valid_end;
    }
    for (size_t j = (st[b].bad_header ? b : b + 1); j < n; j++) {
        dl_seg_name(name, segs[j]);
        if (st[j].examined && !st[j].bad_header && !sealed(&st[j]))
            rep->bytes_cut += st[j].scan.dirty_end - st[j].hdr.ckpt_off;
        if (!rep->segment[0]) {
            snprintf(rep->segment, sizeof rep->segment, "%s", name);
            rep->offset = 0;
        }
        if (mode == DL_RECOVER_LIVE) {
            /* Only a segment the dead writer was creating, which holds no
             * published record (recovery found it after the break). */
            rc = dl_unlinkat(log->dirfd, name);
        } else {
            rc = dl_cut_whole(log->dirfd, log->path, name, side, err, sizeof err);
            if (!rc && !rep->side_file[0])
                snprintf(rep->side_file, sizeof rep->side_file, "%s", side);
        }
        if (rc && rc != -ENOENT)
            return dl_fail(log, rc, "recovery of a torn tail: %s",
                           mode == DL_RECOVER_LIVE ? durlog_strerror(rc) : err);
        rep->segments_removed++;
    }
    return 0;
}

/* How much of the tail segment's file appends may store into through the
 * mapping without allocating first. Its size, unless it has holes: a log
 * copied sparsely (cp --sparse=always, rsync -S, a restore) has none of the
 * zeros past its records allocated (nor, where blocks are smaller than a
 * page, the rest of the page its last record ends in), and a store into a
 * hole on a full file system cannot fail with ENOSPC, only fault. So the
 * holes from that page on are allocated now; where that fails (no space:
 * appends then fail with ENOSPC when they allocate the rest; no fallocate
 * at all), only that page is, if it can be, and the pages before it count
 * as allocated. fallocate never changes data, so nothing here writes. */
static uint64_t tail_allocated(durlog *log, uint64_t seg, const struct seg_state *t)
{
    uint64_t page = dl_page_floor(t->scan.valid_end);
    uint64_t data_end = dl_page_ceil(t->scan.valid_end);
    if (data_end >= t->size || t->blocks * DL_STAT_BLOCK >= t->size)
        return t->size;
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, seg);
    char err[DL_ERRMSG_SIZE];
    int fd = dl_open_log_file(log->dirfd, log->path, name, err, sizeof err);
    int rc = fd < 0 ? fd : dl_fallocate(fd, (off_t)page, (off_t)(t->size - page));
    if (rc && fd >= 0 && data_end > page)
        (void)dl_fallocate(fd, (off_t)page, (off_t)(data_end - page));
    dl_close(fd);
    return rc == 0 ? t->size : data_end;
}

/* The time of the last record of segment seg, by walking its record
 * headers (no checksums: only a time is wanted) up to `end` (UINT64_MAX:
 * as far as its records go); 0 if it has none or cannot be read. */
static uint64_t seg_last_time(durlog *log, uint64_t seg, uint64_t end)
{
    char err[DL_ERRMSG_SIZE];
    struct dl_segmap m;
    struct dl_scan sc;
    if (dl_seg_open(log->dirfd, log->path, seg, DL_SEG_READ, &m, err, sizeof err))
        return 0;
    uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
    if (end < limit)
        limit = end;
    struct dl_seg_fmt f = dl_segmap_fmt(&m);
    dl_scan_from(&f, m.map, limit, DL_SEG_HEADER_SIZE, m.first_seq, UINT64_MAX, 0, &sc);
    uint64_t t = sc.records && !dl_seg_faulted(&m, log->path, err, sizeof err)
                 ? sc.last_time_ns : 0;
    dl_seg_close(&m);
    return t;
}

/* The time of the last record of the log's kept segments before segment i
 * (by their headers' walk: rare, see set_tail), 0 if none has records. */
static uint64_t last_time_before(durlog *log, const uint64_t *segs, const struct seg_state *st,
                                 size_t i)
{
    while (i-- > 0) {
        uint64_t t = seg_last_time(log, segs[i], sealed(&st[i]) ? st[i].hdr.ckpt_off
                                                                 : UINT64_MAX);
        if (t)
            return t;
    }
    return 0;
}

/* The tail state after recovery, from the last kept segment. */
static void set_tail(durlog *log, const uint64_t *segs, const struct seg_state *st,
                     size_t kept)
{
    struct dl_shared *sh = log->sh;
    sh->first_seq = segs[0];
    /* The next record's time is never before the last one's in the log
     * (FORMAT.md "Time"): last_time_ns is that last record's time, not
     * raised to the clock. A writer stamps the later of the clock and it
     * anyway (dl_tail_time); durlog_append_restored compares a restored
     * record's own time with it, and a log restored from records of the
     * past could not be continued after a reopen if it were the clock's. */
    sh->last_time_ns = 0;
    if (kept == 0) {
        /* Nothing survived (a lone segment whose header was lost). */
        sh->next_seq = segs[0];
        sh->tail_seg = DL_NO_SEGMENT;
        sh->tail_capacity = sh->tail_off = sh->tail_alloc = sh->reserve_end = 0;
        sh->tail_ino = 0;
        return;
    }
    const struct seg_state *t = &st[kept - 1];
    if (sealed(t)) {
        /* A sealed segment takes no more records: the next append starts a
         * segment named for the next one. */
        sh->next_seq = t->hdr.ckpt_seq;
        sh->tail_seg = DL_NO_SEGMENT;
        sh->tail_capacity = sh->tail_off = sh->tail_alloc = sh->reserve_end = 0;
        sh->tail_ino = 0;
        /* The next segment's base is never before its last record's time:
         * rare (the segment after a sealed one was lost), so its headers
         * are walked. */
        sh->last_time_ns = last_time_before(log, segs, st, kept);
        return;
    }
    sh->next_seq = t->scan.next_seq;
    sh->tail_seg = segs[kept - 1];
    sh->tail_capacity = t->hdr.capacity;
    sh->tail_off = sh->reserve_end = t->scan.valid_end;
    sh->tail_alloc = tail_allocated(log, segs[kept - 1], t);
    /* A file grown past its capacity (by someone else) holds nothing of
     * the log there: appends stay within the capacity (dl_sh_tail_ok). */
    if (sh->tail_alloc > sh->tail_capacity)
        sh->tail_alloc = sh->tail_capacity;
    sh->tail_ino = t->ino;
    /* The next record's time is never before the last one's: the later of
     * the segment's base, the last record the scan read and,
     * when it read none, the last one before the checkpoint (its header
     * only: time_before_checkpoint); and when the tail holds no record at
     * all, the last record of the segments before it (a log of this
     * version has them at or below the tail's base already; one an older
     * version wrote, which rolled when the clock went back, may not). */
    uint64_t last = t->scan.last_time_ns > t->hdr.created_ns ? t->scan.last_time_ns
                                                              : t->hdr.created_ns;
    if (t->ckpt_time_ns > last)
        last = t->ckpt_time_ns;
    if (t->scan.records == 0 && t->hdr.ckpt_seq == segs[kept - 1] && kept > 1) {
        uint64_t before = last_time_before(log, segs, st, kept - 1);
        if (before > last)
            last = before;
    }
    sh->last_time_ns = last;
}

/* A sync of the log failed: no later fdatasync of what it covered is to be
 * trusted, by this recovery or the next attempt (the mark stays in the
 * coordination file, which a failed rebuild keeps). */
static int recovery_sync_failed(durlog *log, int rc, const char *what, const char *name)
{
    atomic_store(&log->sh->failed, DL_FAIL_SYNC);
    dl_durable_changed(log->sh);
    return dl_fail(log, rc, "%s of %s/%s: %s", what, log->path, name, durlog_strerror(rc));
}

/* Bytes rewrite_range reads and writes at a time. */
#define DL_REWRITE_CHUNK ((size_t)1 << 20)

/* Writes bytes [from, to) of segment seg again with the bytes the page cache
 * holds, so that the fdatasync after writes them whether or not an earlier,
 * failed one did (its error was reported once, and the pages may be clean
 * but never written). */
static int rewrite_range(durlog *log, uint64_t seg, uint64_t from, uint64_t to)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, seg);
    char err[DL_ERRMSG_SIZE];
    int fd = dl_open_log_file(log->dirfd, log->path, name, err, sizeof err);
    if (fd < 0)
        return dl_fail(log, fd, "%s", err);
    size_t cap = DL_REWRITE_CHUNK;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    for (uint64_t at = from; at < to && !rc;) {
        size_t n = to - at < cap ? (size_t)(to - at) : cap;
        rc = dl_pread_all(fd, buf, n, (off_t)at);
        if (!rc)
            rc = dl_pwrite_all(fd, buf, n, (off_t)at);
        at += n;
    }
    free(buf);
    dl_close(fd);
    if (rc)
        return dl_fail(log, rc, "rewrite %s/%s before syncing it again: %s", log->path,
                       name, durlog_strerror(rc));
    return 0;
}

/* fdatasyncs segment `name` through a descriptor of its own. */
static int sync_segment(durlog *log, uint64_t seg)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, seg);
    int fd = dl_openat(log->dirfd, name, O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return dl_fail(log, fd, "cannot open %s/%s to sync it: %s", log->path, name,
                       durlog_strerror(fd));
    int rc = dl_fdatasync(fd);
    dl_close(fd);
    if (rc)
        return recovery_sync_failed(log, rc, "fdatasync during recovery", name);
    return 0;
}

/* Writes checkpoint (ckpt_seq, ckpt_off) into segment seg's header, sealed
 * or not, and makes it durable. The caller has made those records durable
 * first (the checkpoint only ever states what is already true), in the file
 * whose inode is `ino` (0: not known): if another file is under the name now,
 * someone replaced it, and nothing is written. */
int dl_write_checkpoint(durlog *log, uint64_t seg, uint64_t ckpt_seq, uint64_t ckpt_off,
                        int seal, uint64_t ino)
{
    char name[DL_SEG_NAME_LEN + 1];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h;
    struct dl_stat st;
    if (dl_view_lost(log))
        return dl_failed_state(log); /* seg and the marks may be zero-page values */
    dl_seg_name(name, seg);
    char err[DL_ERRMSG_SIZE];
    int fd = dl_open_log_file(log->dirfd, log->path, name, err, sizeof err);
    if (fd < 0)
        return dl_fail(log, fd, "%s (to write its checkpoint)", err);
    int rc = dl_stat_fd(fd, &st);
    if (rc == 0 && ino && st.ino != ino) {
        dl_close(fd);
        return dl_mark_replaced(log, seg, -1);
    }
    if (!rc)
        rc = dl_pread_all(fd, hdr, sizeof hdr, 0);
    if (!rc && dl_seg_header_decode(hdr, &h) != 0)
        rc = DURLOG_ECORRUPT;
    if (rc) {
        dl_close(fd);
        return dl_fail(log, rc, "cannot read the header of %s/%s to checkpoint it: %s",
                       log->path, name, durlog_strerror(rc));
    }
    uint32_t flags = DL_SEG_F_CKPT | (seal ? DL_SEG_F_SEALED : 0);
    if (h.flags == flags && h.ckpt_seq == ckpt_seq && h.ckpt_off == ckpt_off) {
        dl_close(fd);
        return 0;
    }
    h.flags = flags;
    h.ckpt_seq = ckpt_seq;
    h.ckpt_off = ckpt_off;
    rc = dl_seg_write_header(fd, &h);
    if (rc) {
        dl_close(fd);
        return dl_fail(log, rc, "cannot write the checkpoint of %s/%s: %s", log->path,
                       name, durlog_strerror(rc));
    }
    rc = dl_fdatasync(fd);
    dl_close(fd);
    if (rc)
        return recovery_sync_failed(log, rc, "fdatasync (its checkpoint)", name);
    return 0;
}

/* After a lenient recovery: everything kept is made durable, every examined
 * segment but the tail sealed, the tail checkpointed. Segments before `lo`
 * were durable before the crash (a checkpoint or a later record said so). */
static int make_durable(durlog *log, const uint64_t *segs, const struct seg_state *st,
                        size_t lo, size_t kept, int rewrite)
{
    struct dl_shared *sh = log->sh;
    int rc;
    for (size_t i = lo; i < kept; i++) {
        if (sealed(&st[i]))
            continue;
        if (rewrite && !st[i].bad_header) {
            rc = rewrite_range(log, segs[i], st[i].hdr.ckpt_off, st[i].scan.valid_end);
            if (rc)
                return rc;
        }
        rc = sync_segment(log, segs[i]);
        if (rc)
            return rc;
    }
    /* Segment removals are durable once the directory is; and after an
     * unknown history, so is every segment's name, before the durable mark
     * may cover it. */
    rc = dl_fsync(log->dirfd);
    if (rc)
        return recovery_sync_failed(log, rc, "fsync", ".");
    for (size_t i = lo; i < kept; i++) {
        if (sealed(&st[i]))
            continue;
        int is_tail = i + 1 == kept;
        if (is_tail && st[i].scan.next_seq == st[i].hdr.ckpt_seq)
            continue; /* its checkpoint already says all there is */
        rc = dl_write_checkpoint(log, segs[i], st[i].scan.next_seq, st[i].scan.valid_end,
                                 !is_tail, st[i].ino);
        if (rc)
            return rc;
    }
    atomic_store(&sh->durable_seq, sh->next_seq);
    atomic_store(&sh->dir_synced_seg, sh->tail_seg == DL_NO_SEGMENT ? 0 : sh->tail_seg + 1);
    atomic_store(&sh->seal_next, sh->tail_seg == DL_NO_SEGMENT ? sh->next_seq : sh->tail_seg);
    return 0;
}

/* How far back the sealer is sent looking for segments a writer rolled but
 * never sealed (killed in between): at most this many segments before the
 * examined ones. Older unsealed segments were written by a durlog that did
 * not seal; they stay as they are (a newer checkpoint covers them). */
#define DL_SEAL_LOOKBACK 32

/* After a strict recovery: the records below the checkpoint are durable,
 * and so is whatever the examined records vouch for; examined segments that
 * are complete but not sealed are noted for the sealer. */
static void note_strict_state(durlog *log, const uint64_t *segs, const struct seg_state *st,
                              size_t lo, size_t kept, uint64_t old_durable)
{
    struct dl_shared *sh = log->sh;
    /* What the log proves durable: the examined segment's checkpoint, or
     * the end of the sealed segment before it; without either, nothing
     * (the log's first record). Segments are sealed in order. */
    uint64_t durable = segs[0];
    int lo_ckpt = !st[lo].bad_header && (st[lo].hdr.flags & DL_SEG_F_CKPT);
    if (lo_ckpt)
        durable = st[lo].hdr.ckpt_seq;
    uint64_t seal_next = sh->tail_seg == DL_NO_SEGMENT ? sh->next_seq : sh->tail_seg;
    int found_sealed = 0;
    for (size_t i = kept; i-- > lo;) {
        if (segs[i] == sh->tail_seg)
            continue;
        if (sealed(&st[i])) {
            found_sealed = 1;
            break;
        }
        seal_next = segs[i];
        struct dl_seal_note note = { segs[i], st[i].scan.next_seq, st[i].scan.valid_end,
                                     st[i].ino };
        dl_seal_note_push(sh, &note);
    }
    /* Below a tail scanned from its start, a writer killed between a roll
     * and its seal may have left segments unsealed: the sealer finds their
     * ends itself. The first sealed one proves the records before it. */
    if (!found_sealed && !lo_ckpt) {
        for (size_t j = lo, k = 0; j-- > 0 && k < DL_SEAL_LOOKBACK; k++) {
            struct dl_seg_header h;
            char err[DL_ERRMSG_SIZE];
            if (dl_seg_read_header(log->dirfd, log->path, segs[j], &h, NULL, err,
                                   sizeof err) != 0)
                break;
            if (h.flags & DL_SEG_F_SEALED) {
                durable = h.ckpt_seq;
                break;
            }
            seal_next = segs[j];
        }
    }
    atomic_store(&sh->seal_next, seal_next);

    for (size_t i = lo; i < kept; i++)
        if (!st[i].bad_header && st[i].scan.max_durable > durable)
            durable = st[i].scan.max_durable;
    if (old_durable > durable)
        durable = old_durable;
    if (durable > sh->next_seq)
        durable = sh->next_seq;
    atomic_store(&sh->durable_seq, durable);
    /* A directory fsync costs little; never trust an old file for it. */
    atomic_store(&sh->dir_synced_seg, 0);
}

int dl_recover(durlog *log, enum dl_recover_mode mode, uint64_t old_durable,
               int rewrite, durlog_recovery *rep)
{
    struct dl_shared *sh = log->sh;
    uint64_t *segs = NULL;
    size_t n = 0, lo, b;
    struct seg_state *st = NULL;
    int rc;

    /* LIVE: the tail as the writers knew it, to tell a dead writer's roll
     * from a file someone put under the tail's name. */
    uint64_t old_seg = sh->tail_seg, old_ino = sh->tail_ino, old_off = sh->tail_off;
    memset(rep, 0, sizeof *rep);
    rep->performed = 1;
    dl_seg_remove_temps(log->dirfd);
    rc = dl_seg_list(log->dirfd, &segs, &n);
    if (rc)
        return dl_fail(log, rc, "list segments of %s: %s", log->path, durlog_strerror(rc));
    if (n == 0) {
        sh->first_seq = sh->next_seq = 0;
        sh->last_time_ns = 0;
        sh->tail_seg = DL_NO_SEGMENT;
        sh->tail_capacity = sh->tail_off = sh->tail_alloc = sh->reserve_end = 0;
        sh->tail_ino = 0;
        if (mode != DL_RECOVER_LIVE) {
            atomic_store(&sh->durable_seq, 0);
            atomic_store(&sh->dir_synced_seg, 0);
            atomic_store(&sh->seal_next, 0);
        }
        dl_publish(sh, 0, DL_NO_SEGMENT);
        return 0;
    }
    st = calloc(n, sizeof *st);
    if (!st) {
        rc = dl_fail(log, -ENOMEM, "out of memory");
        goto out;
    }

    /* Walk back from the last segment to the first checkpoint: what lies
     * before it is durable and complete, and is not read. Without one,
     * scan back segment by segment: with the page cache intact (STRICT,
     * LIVE) only the last segment can be incomplete; after a possible power
     * loss, until one proves (by a record's durable_before) that everything
     * before it was durable, and one more: the boundary into the proving
     * segment is where a power loss may have cut a tail that a later sync
     * vouches for. */
    int proved = 0;
    for (lo = n - 1;; lo--) {
        rc = read_header(log, segs, lo, mode, &st[lo]);
        if (rc)
            goto out;
        int has_ckpt = !st[lo].bad_header && (st[lo].hdr.flags & DL_SEG_F_CKPT);
        rc = examine(log, segs, lo, &st[lo]);
        if (rc)
            goto out;
        if (has_ckpt || lo == 0 || mode != DL_RECOVER_LENIENT || proved)
            break;
        proved = !st[lo].bad_header && st[lo].scan.max_durable >= segs[lo];
    }

    /* The first break going forward: a segment whose header is gone, debris
     * after a segment's valid records, or a numbering gap between two. */
    for (b = lo; b < n; b++) {
        if (st[b].bad_header)
            break;
        if (b + 1 < n && !st[b + 1].bad_header && segs[b + 1] != st[b].scan.next_seq)
            break;
        if (st[b].scan.dirty_end > st[b].scan.valid_end)
            break;
    }

    /* LIVE, and the file under the tail's name is not the one the writers
     * stored into (and not an empty tail a dead writer's roll replaced):
     * someone replaced it. Adopting it would drop what they appended. */
    if (mode == DL_RECOVER_LIVE && old_seg == segs[n - 1] && old_ino && st[n - 1].ino &&
        st[n - 1].ino != old_ino && old_off > DL_SEG_HEADER_SIZE) {
        struct dl_stat mine;
        int old_fd = log->tail.cur.fd >= 0 && log->tail.cur.first_seq == old_seg &&
                     dl_stat_fd(log->tail.cur.fd, &mine) == 0 && mine.ino == old_ino
                     ? log->tail.cur.fd : -1;
        rc = dl_mark_replaced_locked(log, old_seg, old_fd);
        goto out;
    }

    size_t kept = n;
    if (b < n) {
        uint64_t missing = st[b].bad_header ? segs[b] : st[b].scan.next_seq;
        uint64_t later = records_after_break(st, b, n), evidence = 0;
        for (size_t j = b; j < n; j++)
            if (!st[j].bad_header && st[j].scan.max_durable > evidence)
                evidence = st[j].scan.max_durable;
        if (mode == DL_RECOVER_LENIENT ? evidence > missing : later > 0) {
            rc = fail_corrupt(log, segs, st, b, n, missing, later);
            goto out;
        }
        rc = cut_at_break(log, segs, st, b, n, mode, rep);
        if (rc)
            goto out;
        kept = st[b].bad_header ? b : b + 1;
    }
    set_tail(log, segs, st, kept);

    if (mode == DL_RECOVER_LENIENT) {
        /* After a possible power loss: make what is left durable, so that the
         * durable mark can honestly cover all of it, and persist that. */
        rc = make_durable(log, segs, st, lo, kept, rewrite);
        if (rc)
            goto out;
    } else if (mode == DL_RECOVER_STRICT) {
        if (b < n) {
            rc = dl_fsync(log->dirfd);
            if (rc) {
                rc = dl_fail(log, rc, "fsync of directory %s: %s", log->path,
                             durlog_strerror(rc));
                goto out;
            }
        }
        note_strict_state(log, segs, st, lo, kept, old_durable);
    } else if (atomic_load(&sh->durable_seq) > sh->next_seq) {
        /* LIVE: only what an fdatasync covered is durable; never raise the
         * mark here. */
        atomic_store(&sh->durable_seq, sh->next_seq);
    }
    dl_publish(sh, sh->next_seq, sh->tail_seg);
    rc = 0;
out:
    free(st);
    free(segs);
    return rc;
}
