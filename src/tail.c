/*
 * tail.c - the tail segment: the append lock, and what an appender holding
 * it does to the tail before it copies records in: rolling to a new segment,
 * mapping the tail, growing its file, and writing or erasing bytes there.
 *
 * Both the append paths (writer.c) and the pre-faulter (prealloc.c) work on
 * the tail through this file; it calls neither of them. The shared tail
 * fields (sh->tail_seg, tail_off, tail_alloc, ...) change only under the
 * append lock; this handle's mapping of the tail (log->tail.cur) and the files
 * of the tails it rolled away from (log->tail.held) change under pmu as well,
 * so that the pre-faulter, which works outside the append lock, never uses a
 * mapping being replaced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "os.h"
#include "scan.h"

static uint64_t lock_patience(void)
{
    return atomic_load_explicit(&dl_lock_patience_ns, memory_order_relaxed);
}

int dl_lock_append(durlog *log)
{
    struct dl_shared *sh = log->sh;
    /* This process's view of the coordination file is a zero page since it
     * faulted (guard.h): nothing in it is shared with anybody any more. */
    if (dl_shm_lost(log->sh_guard))
        return dl_failed_state(log);
    int rc = dl_mutex_lock_within(&sh->append_lock, lock_patience());
    if (rc == -ETIMEDOUT)
        return dl_fail(log, -ETIMEDOUT, "append lock of %s: held by another thread for "
                       "over %llu ms (a writer stopped or hung holding it, or %s/%s "
                       "overwritten with a copy taken while it was held); nothing was "
                       "appended", log->path,
                       (unsigned long long)(lock_patience() / DL_NS_PER_MS), log->path,
                       DL_SHM_NAME);
    if (rc == DL_LOCK_DAMAGED)
        return dl_shm_damaged(log, "its append lock is not a lock durlog made");
    if (rc < 0)
        return dl_fail(log, rc, "append lock of %s: %s (reopen the log)",
                       log->path, durlog_strerror(rc));
    if (rc == 1 || sh->tail_stale) {
        /* Its previous holder died, possibly half way through copying a
         * record or creating a segment (or the last rebuild failed). Rebuild
         * the tail from the segment: a partial record is cut, a whole one is
         * kept. The lock is made consistent either way: a robust mutex left
         * inconsistent would be unusable for good (ENOTRECOVERABLE), for
         * every writer in every process, even once the cause is gone; the
         * stale mark makes the next locker try again instead. */
        int owner_died = rc == 1;
        durlog_recovery rep;
        sh->tail_stale = 1;
        rc = dl_recover(log, DL_RECOVER_LIVE, 0, 0, &rep);
        if (!rc && !dl_view_lost(log)) {
            sh->tail_stale = 0;
            atomic_fetch_add(&sh->generation, 1);
        }
        if (owner_died)
            dl_mutex_consistent(&sh->append_lock);
        if (rc) {
            dl_mutex_unlock(&sh->append_lock);
            return rc;
        }
    }
    if (atomic_load(&sh->failed) || dl_shm_lost(log->sh_guard)) {
        dl_mutex_unlock(&sh->append_lock);
        return dl_failed_state(log);
    }
    /* Zeroed or rewritten in place (its first bytes): nothing in it is the
     * log's any more. */
    if (sh->magic != DL_SHM_MAGIC || sh->version != DL_SHM_VERSION) {
        atomic_store(&sh->failed, DL_FAIL_OVERWRITTEN);
        dl_durable_changed(sh);
        dl_mutex_unlock(&sh->append_lock);
        return dl_failed_state(log);
    }
    /* Every holder starts from a tail it may use as offsets and names. */
    char why[DL_ERRMSG_SIZE / 2];
    if (!dl_sh_tail_ok(sh, why, sizeof why)) {
        dl_mutex_unlock(&sh->append_lock);
        return dl_shm_damaged(log, why);
    }
    return 0;
}

void dl_unlock_append(durlog *log)
{
    dl_mutex_unlock(&log->sh->append_lock);
}

void dl_replace_tail(durlog *log, const struct dl_segmap *m, uint64_t gen)
{
    /* The old tail is unmapped at once: nobody here stores into it any
     * more (appends hold the append lock, the pre-faulter pmu), and while
     * it stays mapped writable, writing it back (the sealer's fdatasync,
     * right after this roll) must write-protect each page in this
     * process's page tables, interrupting the appenders with TLB
     * shootdowns: measured, that made `kernel` appends 15-25% slower. */
    pthread_mutex_lock(&log->prefault.pmu);
    log->tail.gen = gen;
    if (m && log->tail.cur.fd >= 0 && m->first_seq != log->tail.cur.first_seq)
        dl_hold_rolled(log); /* a roll: the old tail is held until sealed */
    dl_seg_close(&log->tail.cur);
    if (m)
        log->tail.cur = *m;
    else
        log->tail.cur = (struct dl_segmap)DL_SEGMAP_INIT;
    pthread_mutex_unlock(&log->prefault.pmu);
}

/* Before a roll leaves the tail for good: is it still the file under its
 * name, the one every writer stored into? If someone replaced or removed it
 * (cp + mv), what was appended since is in the old file only; rolling past
 * it would hide that (a later sync opens rolled segments by name), so the
 * log fails here, and the old file is saved if this process holds it. */
static int check_leaving_tail(durlog *log)
{
    struct dl_shared *sh = log->sh;
    char name[DL_SEG_NAME_LEN + 1];
    struct dl_stat now, mine;
    if (sh->tail_seg == DL_NO_SEGMENT || !sh->tail_ino || sh->tail_seg == sh->next_seq)
        return 0;
    dl_seg_name(name, sh->tail_seg);
    int rc = dl_stat_at(log->dirfd, name, &now);
    if (rc == 0 && now.ino == sh->tail_ino)
        return 0;
    if (rc < 0 && rc != -ENOENT)
        return dl_fail(log, rc, "cannot look at %s/%s: %s", log->path, name,
                       durlog_strerror(rc));
    int old_fd = log->tail.cur.fd >= 0 && log->tail.cur.first_seq == sh->tail_seg &&
                 dl_stat_fd(log->tail.cur.fd, &mine) == 0 && mine.ino == sh->tail_ino
                 ? log->tail.cur.fd : -1;
    return dl_mark_replaced_locked(log, sh->tail_seg, old_fd);
}

int dl_tail_outside(durlog *log, uint64_t off, uint64_t len)
{
    char why[160];
    snprintf(why, sizeof why, "tail_off %llu, with %llu bytes to write, in a tail segment "
             "of %llu bytes", (unsigned long long)off, (unsigned long long)len,
             (unsigned long long)log->tail.cur.capacity);
    return dl_shm_damaged(log, why);
}

/* How this handle opens the tail: a mapping it stores into, or (pwrite
 * mode) one it only reads (tail_is_free in writer.c). */
int dl_tail_access(const durlog *log)
{
    return log->io_pwrite ? DL_SEG_WRITE : DL_SEG_STORE;
}

/* pwrite mode: writes the staged records (the append under way) into the
 * tail. Called with the append lock, before they are published. */
int dl_tail_write_stage(durlog *log)
{
    if (!log->stage.len)
        return 0;
    size_t len = log->stage.len;
    log->stage.len = 0;
    int rc = dl_pwrite_all(log->tail.cur.fd, log->stage.buf, len, (off_t)log->stage.off);
    if (rc) {
        char name[DL_SEG_NAME_LEN + 1];
        dl_seg_name(name, log->tail.cur.first_seq);
        return dl_fail(log, rc, "write %zu bytes to %s/%s at offset %llu: %s", len,
                       log->path, name, (unsigned long long)log->stage.off,
                       durlog_strerror(rc));
    }
    /* A pwrite past the end of a file someone cut (between tail_is_free's
     * look and the write) extends it again, zeros where its header was,
     * and the next append's look finds that end in the file: the header is
     * looked at after every write (test_signals test_cut_before_pwrite). */
    return dl_tail_header_mapped_intact(log);
}

/* dl_tail_zero writes or stores zeros this many at a time, from the end
 * back (a static buffer: zeroing is rare, after a failure). */
#define DL_TAIL_ZERO_CHUNK 4096

/* Zeroes [from, to) of segment m, which this handle has open for writing,
 * from the end back, so that a writer killed half way leaves whole records
 * followed by zeros (a torn tail), never zeros followed by records. 0, or
 * (pwrite mode) the error of a pwrite that failed. */
int dl_tail_zero(durlog *log, struct dl_segmap *m, uint64_t from, uint64_t to)
{
    static const unsigned char zeros[DL_TAIL_ZERO_CHUNK];
    int rc;
    /* The range comes from the coordination file: never past the segment
     * (a store outside the mapping; in pwrite mode, up to a terabyte of
     * zeros written). */
    if (to > from && !dl_seg_span_ok(m, from, to - from))
        return -ERANGE;
    /* pwrite mode zeroes the whole range, not only what the file's size
     * says it holds: a size read back through a FUSE file system may be
     * one it cached before the failed write. */
    while (to > from) {
        uint64_t chunk = to - from < DL_TAIL_ZERO_CHUNK ? to - from : DL_TAIL_ZERO_CHUNK;
        if (!log->io_pwrite)
            memset(m->map + to - chunk, 0, chunk);
        else if ((rc = dl_pwrite_all(m->fd, zeros, chunk, (off_t)(to - chunk))) != 0)
            return rc;
        to -= chunk;
    }
    return 0;
}

/* pwrite mode: bytes an earlier failure left past the tail that could not
 * be zeroed then (reserve_end says how far they go) are zeroed before
 * anything is appended after them. Called with the append lock. */
int dl_tail_clear_leftover(durlog *log)
{
    struct dl_shared *sh = log->sh;
    if (!log->io_pwrite || sh->reserve_end <= sh->tail_off || log->tail.cur.fd < 0 ||
        log->tail.cur.first_seq != sh->tail_seg)
        return 0;
    int rc = dl_tail_zero(log, &log->tail.cur, sh->tail_off, sh->reserve_end);
    if (rc) {
        char name[DL_SEG_NAME_LEN + 1];
        dl_seg_name(name, sh->tail_seg);
        return dl_fail(log, rc, "erase what a failed write left in %s/%s at offset %llu: %s",
                       log->path, name, (unsigned long long)sh->tail_off,
                       durlog_strerror(rc));
    }
    sh->reserve_end = sh->tail_off;
    return 0;
}

/* The time base of the segment a roll starts: the clock's time, but never
 * earlier than the last record before it (FORMAT.md "Time": times never
 * decrease in sequence-number order across the whole log, so a segment's
 * base is at most the time of every record in it and at least that of
 * every record before it; seeking by time and retention by age rely on
 * both). A clock set back is thus clamped, never a reason to roll.
 *
 * last_time_ns is the last time stamped, but comes from durlog.shm, which
 * anyone who may write the log can write: a value more than the spare ahead
 * of the clock (a clock set back, or a planted value) is checked against
 * the tail's own record headers, which hold the truth; and a version 2
 * record's stored time is at least its segment's base + 1. The result
 * leaves room for a whole offset, so that no time read back wraps. */
static uint64_t roll_base(durlog *log)
{
    /* Restored records keep their own times: the segment is based just
     * below its first record's (durlog_append_restored checked that this is
     * not before the previous segment's last record). */
    if (log->restore.on)
        return log->restore.base;
    struct dl_shared *sh = log->sh;
    const struct dl_segmap *t = &log->tail.cur;
    uint64_t now = dl_now_ns(), last = sh->last_time_ns;
    int tail_mapped = sh->tail_seg != DL_NO_SEGMENT && t->fd >= 0 && t->map &&
                      t->first_seq == sh->tail_seg;
    if (tail_mapped && last > now + DL_TIME_ROLL_SPARE_NS &&
        dl_seg_span_ok(t, 0, sh->tail_off)) {
        struct dl_seg_fmt f = dl_segmap_fmt(t);
        struct dl_scan sc;
        dl_scan_from(&f, t->map, sh->tail_off, DL_SEG_HEADER_SIZE, t->first_seq,
                     sh->next_seq, 0, &sc);
        last = sc.records ? sc.last_time_ns : 0;
    }
    if (tail_mapped && t->hdr.version == DL_FORMAT_VERSION &&
        sh->tail_off > DL_SEG_HEADER_SIZE && last <= t->hdr.created_ns)
        last = t->hdr.created_ns + 1;
    if (last > DL_TIME_BASE_MAX)
        last = DL_TIME_BASE_MAX;
    return now > last ? now : last;
}

/* Starts a new tail segment for a record of `need` bytes. */
static int roll(durlog *log, uint64_t need)
{
    struct dl_shared *sh = log->sh;
    struct dl_segmap m;
    char err[DL_ERRMSG_SIZE];
    if (log->restore.on && !log->restore.base)
        return dl_fail(log, -ERANGE, "%s: restored records would need a new segment where "
                       "their time is not later than the record before them (the segment's "
                       "base time would not fit between them); pass runs of records that "
                       "share one time whole", log->path);
    int rc = check_leaving_tail(log);
    if (rc)
        return rc;
    if (dl_view_lost(log))
        return dl_failed_state(log); /* next_seq may be a zero page's */
    uint64_t cap = log->opts.segment_size;
    if (cap < DL_SEG_HEADER_SIZE + need)
        cap = DL_SEG_HEADER_SIZE + need;
    cap = dl_page_ceil(cap);
    uint64_t alloc = dl_page_ceil(DL_SEG_HEADER_SIZE + need);
    if (alloc < DL_ALLOC_FIRST)
        alloc = DL_ALLOC_FIRST;
    if (alloc > cap)
        alloc = cap;

    /* Only an empty tail, which this roll replaces with a bigger one, may
     * already have the new segment's name. */
    uint64_t replace = sh->tail_seg == sh->next_seq ? sh->tail_ino : 0;
    rc = dl_seg_create(log->dirfd, log->path, sh->next_seq, dl_tail_access(log), replace, cap,
                       alloc, roll_base(log), log->file_mode, &log->owner, &m, err,
                       sizeof err);
    if (rc == -EEXIST) {
        /* The coordination file sent this roll onto a segment that holds
         * records: it was overwritten (zeroed in place, say). */
        atomic_store(&sh->failed, DL_FAIL_OVERWRITTEN);
        dl_durable_changed(sh);
        return dl_fail(log, DURLOG_EFAILED, "%s: nothing more is appended; close every "
                       "writer, then `durlog check %s`", err, log->path);
    }
    if (rc)
        return dl_fail(log, rc, "%s", err);
    /* The segment it leaves is complete: note where it ends, for the sealer
     * to persist once it is durable (seal.c). An empty tail replaced by a
     * bigger one under the same name leaves nothing to seal. */
    if (sh->tail_seg != DL_NO_SEGMENT && sh->tail_seg != sh->next_seq) {
        struct dl_seal_note note = { sh->tail_seg, sh->next_seq, sh->tail_off, sh->tail_ino };
        dl_seal_note_push(sh, &note);
        dl_engine_seal_soon(log);
    }
    struct dl_stat st;
    uint64_t ino = dl_stat_fd(m.fd, &st) == 0 ? st.ino : 0;
    /* The name may have been in use already (an empty tail segment too
     * small for this record was just replaced): its directory entry now
     * points to a new file and must be synced again. */
    if (atomic_load(&sh->dir_synced_seg) > sh->next_seq)
        atomic_store(&sh->dir_synced_seg, sh->next_seq);
    /* The shared fields change together under the lock; a holder that dies
     * between them leaves EOWNERDEAD, and the next one rebuilds them from
     * the segment files. */
    /* (pwrite mode: read-mapped, for the last-byte touch: see grow_alloc) */
    dl_prefault(m.map, 0, alloc, !log->io_pwrite && dl_prefault_for_write(log));
    uint64_t gen = atomic_fetch_add(&sh->generation, 1) + 1;
    dl_replace_tail(log, &m, gen);
    sh->tail_seg = sh->next_seq;
    sh->tail_ino = ino;
    sh->tail_capacity = cap;
    sh->tail_off = sh->reserve_end = DL_SEG_HEADER_SIZE;
    sh->tail_alloc = alloc;
    sh->last_time_ns = log->tail.cur.hdr.created_ns;
    return 0;
}

/* Where the records written to the tail end: the start of those staged by
 * the append under way (pwrite mode, not written yet), else tail_off. */
static uint64_t tail_written(const durlog *log)
{
    return log->stage.len ? log->stage.off : log->sh->tail_off;
}

/* Fails the log because someone else damaged its tail segment's file; `how`
 * says what was found. */
static int tail_damaged(durlog *log, const char *how)
{
    struct dl_shared *sh = log->sh;
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, log->tail.cur.first_seq); /* the file looked at */
    uint32_t none = DL_FAIL_NONE;
    atomic_compare_exchange_strong(&sh->failed, &none, DL_FAIL_SEGMENT);
    dl_durable_changed(sh);
    return dl_fail(log, DURLOG_EFAILED, "%s/%s %s: nothing more is appended; close every "
                   "writer, then open the log again", log->path, name, how);
}

/* Fails the log if the tail's file is shorter than the records written to
 * it (someone truncated it), by its size (one statx). */
int dl_tail_not_cut(durlog *log)
{
    struct dl_stat st;
    uint64_t written = tail_written(log);
    if (dl_stat_fd(log->tail.cur.fd, &st) != 0 || st.size >= written)
        return 0;
    char how[160];
    snprintf(how, sizeof how, "was truncated by someone else while in use (it is %llu bytes "
             "now; the log had records up to offset %llu)", (unsigned long long)st.size,
             (unsigned long long)written);
    return tail_damaged(log, how);
}

/* The failure of dl_tail_header_intact and dl_tail_header_mapped_intact:
 * rc, the error reading the header, or 0 (it read differently). */
static int header_lost(durlog *log, int rc)
{
    char how[160];
    snprintf(how, sizeof how, "lost its header while in use (%s): someone truncated or "
             "overwrote it", rc ? durlog_strerror(rc) : "it reads differently now");
    return tail_damaged(log, how);
}

/* Whether raw is the header of the mapped tail (its fields that never
 * change: a checkpoint or a seal rewrites the others). */
static int same_header(durlog *log, const unsigned char raw[DL_SEG_HEADER_SIZE])
{
    const struct dl_seg_header *was = &log->tail.cur.hdr;
    struct dl_seg_header now;
    return dl_seg_header_decode(raw, &now) == 0 && now.version == was->version &&
           now.first_seq == was->first_seq && now.capacity == was->capacity &&
           now.created_ns == was->created_ns;
}

int dl_tail_end_is_hole(durlog *log)
{
    uint64_t written = tail_written(log);
    if (written <= DL_SEG_HEADER_SIZE)
        return 0;
    /* (An error, or a file system that cannot tell: not a hole.) */
    int64_t hole = dl_seek_hole(log->tail.cur.fd, (off_t)dl_page_floor(written - 1));
    return hole >= 0 && (uint64_t)hole < written;
}

/* Fails the log if the tail's header is no longer the one mapped (read
 * from the file, not the mapping), or its last page of records became a
 * hole. For whoever just extended the file: dl_tail_not_cut looked at its
 * size before, but someone may have cut it in between, and the extension
 * then gave it its length back, zeros where the header and records were.
 * A truncate of a file with many dirty pages takes milliseconds, its size
 * unchanged until it is done, and the extension waits for it: with the
 * appenders held off by the append lock meanwhile, none faults, and a cut
 * among the records went unseen (test_signals
 * test_cut_among_records_between_size_check_and_extension). A cut removes
 * everything from where it is made to the end, so a cut below the last
 * page of records leaves that page a hole; one made within that page
 * leaves it data (zeros after the cut), which readers find as damage.
 * end_was_hole: dl_tail_end_is_hole before the size check (a file made
 * sparse by a copy, a page of zeros in a record, was not cut meanwhile:
 * test_zero_page_made_a_hole_is_not_a_cut). Looked at before the size,
 * because a truncate changes the size before it drops pages and blocks: a
 * hole seen then is a size seen cut. */
int dl_tail_header_intact(durlog *log, int end_was_hole)
{
    unsigned char raw[DL_SEG_HEADER_SIZE];
    int rc = dl_pread_all(log->tail.cur.fd, raw, sizeof raw, 0);
    if (rc != 0 || !same_header(log, raw))
        return header_lost(log, rc);
    if (end_was_hole || !dl_tail_end_is_hole(log))
        return 0;
    uint64_t written = tail_written(log);
    char how[200];
    snprintf(how, sizeof how, "was truncated by someone else while in use (its last page of "
             "records, at offset %llu, is a hole now; the log had records up to offset %llu)",
             (unsigned long long)dl_page_floor(written - 1), (unsigned long long)written);
    return tail_damaged(log, how);
}

int dl_tail_header_mapped_intact(durlog *log)
{
    /* Through the mapping: no system call, the page is mapped after the
     * first time. A file cut shorter than the header faults, and the
     * guard's zeros read instead fail the check. (The checksum covers
     * the checkpoint too, which a recovery may rewrite, under the append
     * lock that the caller holds: never torn here.) */
    unsigned char raw[DL_SEG_HEADER_SIZE];
    if (!log->tail.cur.map || !dl_seg_span_ok(&log->tail.cur, 0, DL_SEG_HEADER_SIZE))
        return 0;
    memcpy(raw, (const unsigned char *)log->tail.cur.map, sizeof raw);
    return same_header(log, raw) ? 0 : header_lost(log, 0);
}

/* Whether records appended at time_ns may go into the mapped tail: it is
 * of the format this version writes, and the time offset fits (with an
 * hour to spare, for the records of a buffered flush framed a little
 * later). */
static int tail_takes(const durlog *log, uint64_t time_ns)
{
    const struct dl_seg_header *h = &log->tail.cur.hdr;
    /* The record gets the later of the clock and last_time_ns
     * (dl_tail_time): that is the time that must fit. last_time_ns comes
     * from durlog.shm, which anyone who may write the log can write: an
     * absurd value (UINT64_MAX) used to pass this test on the clock's time
     * and was then stored as an offset truncated to 48 bits. Not fitting
     * starts a new segment, whose base (roll_base) checks the value against
     * the tail's records. A clock behind the tail's last record is no
     * reason to roll: the records are stamped with that last time until the
     * clock catches up, in this segment as in a new one, whose base could
     * not be earlier. */
    uint64_t last = log->sh->last_time_ns, stamp = time_ns > last ? time_ns : last;
    return h->version == DL_FORMAT_VERSION &&
           (stamp <= h->created_ns ||
            stamp - h->created_ns < DL_REC_TIME_LIMIT - DL_TIME_ROLL_SPARE_NS);
}

/* Makes sure the tail segment can take `need` more bytes (rolling to a new
 * segment if not) and that this handle maps it. */
int dl_tail_ensure(durlog *log, uint64_t need, uint64_t time_ns)
{
    struct dl_shared *sh = log->sh;
    int rc;
    if (sh->tail_seg == DL_NO_SEGMENT || sh->tail_off + need > sh->tail_capacity) {
        rc = dl_tail_write_stage(log); /* the staged records go to the tail they left */
        if (!rc)
            rc = roll(log, need);
        if (rc)
            return rc;
    }
    uint64_t gen = atomic_load(&sh->generation);
    if (log->tail.cur.fd < 0 || log->tail.cur.first_seq != sh->tail_seg || log->tail.gen != gen) {
        rc = dl_tail_write_stage(log);
        if (rc)
            return rc;
        char err[DL_ERRMSG_SIZE];
        struct dl_segmap m;
        struct dl_stat st;
        rc = dl_seg_open(log->dirfd, log->path, sh->tail_seg, dl_tail_access(log), &m, err,
                         sizeof err);
        if (rc) {
            dl_replace_tail(log, NULL, 0);
            return dl_fail(log, rc, "%s", err);
        }
        /* The file under the tail's name must be the one the other writers
         * store into: one put there by someone else (cp + mv) would split
         * the log in two. */
        if (sh->tail_ino && dl_stat_fd(m.fd, &st) == 0 && st.ino != sh->tail_ino) {
            dl_seg_close(&m);
            struct dl_stat old;
            int old_fd = log->tail.cur.fd >= 0 && dl_stat_fd(log->tail.cur.fd, &old) == 0 &&
                         old.ino == sh->tail_ino ? log->tail.cur.fd : -1;
            rc = dl_mark_replaced_locked(log, sh->tail_seg, old_fd);
            dl_replace_tail(log, NULL, 0);
            return rc;
        }
        dl_replace_tail(log, &m, gen);
    }
    /* A tail of the previous format (a log written by an older version) or
     * one whose time base is too old takes no more records: they go into a
     * new segment. */
    if (!tail_takes(log, time_ns)) {
        rc = dl_tail_write_stage(log);
        if (!rc)
            rc = roll(log, need);
        if (rc)
            return rc;
    }
    /* The segment's own header says how big it is (and how much is mapped). */
    if (sh->tail_capacity != log->tail.cur.capacity) {
        char why[160];
        snprintf(why, sizeof why, "tail_capacity %llu, where the tail segment's header "
                 "says %llu", (unsigned long long)sh->tail_capacity,
                 (unsigned long long)log->tail.cur.capacity);
        return dl_shm_damaged(log, why);
    }
    return 0;
}

/* Grows the tail segment's file so that `need` bytes past tail_off may be
 * stored through the mapping: alloc, read once by the caller (the offsets
 * passed to the file and the mapping below must be the ones checked), is
 * too short. Out of line: most appends need no growth (dl_tail_reserve). */
static __attribute__((noinline)) int grow_alloc(durlog *log, uint64_t need, uint64_t alloc)
{
    struct dl_shared *sh = log->sh;
    /* Small steps while the pre-faulter is working ahead (it will have the
     * next stretch ready soon); otherwise doubling steps. */
    uint64_t step = atomic_load(&log->prefault.started) ? DL_ALLOC_MIN : alloc;
    if (step < DL_ALLOC_FIRST)
        step = DL_ALLOC_FIRST;
    if (step > DL_ALLOC_MAX_STEP)
        step = DL_ALLOC_MAX_STEP;
    uint64_t want = dl_page_ceil(sh->tail_off + need);
    uint64_t grow = dl_page_ceil(alloc + step);
    if (grow < want)
        grow = want;
    if (grow > log->tail.cur.capacity)
        grow = log->tail.cur.capacity;
    if (grow <= alloc)
        return dl_tail_outside(log, alloc, need);
    /* Grown only if nobody cut it below what it holds: allocating would
     * give the file back its length, and a store or pwrite into it would
     * succeed over a lost header and records. */
    int end_was_hole = dl_tail_end_is_hole(log); /* before the size: see there */
    int rc = dl_tail_not_cut(log);
    if (rc)
        return rc;
    int allocated = 0;
    if (log->io_pwrite) {
        /* pwrite reports ENOSPC itself, and extends the file: allocating
         * ahead only saves fragmentation, and is skipped (never done by
         * writing zeros) where the file system has no fallocate. */
        rc = dl_fallocate(log->tail.cur.fd, (off_t)alloc, (off_t)(grow - alloc));
        if ((rc == -ENOSPC || rc == -EDQUOT) && want < grow) {
            /* Not room for a whole step: then for what this append needs. */
            grow = want;
            rc = dl_fallocate(log->tail.cur.fd, (off_t)alloc,
                              (off_t)(grow - alloc));
        }
        allocated = rc == 0;
        if (rc == -EOPNOTSUPP)
            rc = 0;
    } else {
        rc = dl_allocate(log->tail.cur.fd, (off_t)alloc, (off_t)(grow - alloc));
    }
    if (rc) {
        char name[DL_SEG_NAME_LEN + 1];
        dl_seg_name(name, sh->tail_seg);
        return dl_fail(log, rc, "allocate space in %s/%s: %s", log->path,
                       name, durlog_strerror(rc));
    }
    if ((rc = dl_tail_header_intact(log, end_was_hole)) != 0)
        return rc;
    if (!log->io_pwrite)
        dl_prefault(log->tail.cur.map, alloc, grow, dl_prefault_for_write(log));
    else if (allocated)
        /* The last-byte touch (tail_is_free in writer.c) would take a
         * fault on each new page of the read-only mapping: 13,782 faults
         * for 400,000 appends, a quarter of pwrite mode's time. One call
         * maps them. */
        dl_prefault(log->tail.cur.map, alloc, grow, 0);
    sh->tail_alloc = grow;
    return 0;
}

uint64_t dl_tail_time(durlog *log, uint64_t time_ns)
{
    struct dl_shared *sh = log->sh;
    if (time_ns < sh->last_time_ns)
        time_ns = sh->last_time_ns;
    /* A version 2 record's time offset is at least 1 (FORMAT.md): a time
     * clamped to the segment's base is stored as base + 1. last_time_ns
     * must be that stored time: a writer that rolls without this tail
     * mapped starts the next segment at last_time_ns, which must not be
     * before it (found by test_time eight_writer_processes_..., 3 runs in
     * 20: a base 1 ns before the previous segment's last record). */
    const struct dl_segmap *t = &log->tail.cur;
    if (t->hdr.version == DL_FORMAT_VERSION && time_ns <= t->hdr.created_ns)
        time_ns = t->hdr.created_ns + 1;
    sh->last_time_ns = time_ns;
    return time_ns;
}

int dl_tail_reserve(durlog *log, uint64_t need, uint64_t time_ns)
{
    int rc = dl_tail_ensure(log, need, time_ns);
    if (rc)
        return rc;
    uint64_t alloc = log->sh->tail_alloc;
    return log->sh->tail_off + need <= alloc ? 0 : grow_alloc(log, need, alloc);
}

int dl_prefault_for_write(durlog *log)
{
    return !atomic_load_explicit(&log->prefault.async_syncing, memory_order_relaxed);
}
