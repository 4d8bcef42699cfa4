/*
 * writer.c - the append paths for each durability level.
 *
 * Every record is copied into the tail segment through a shared mapping (or,
 * in pwrite mode, framed in the handle's stage and written with one pwrite
 * per append: iomode.c says which), under the log's process-shared append
 * lock: the lock hands out the next
 * sequence number and byte offset, so records from all processes land whole,
 * in one order, with dense numbers. Once copied and checksummed, records are
 * "published" (the shared published_seq moves past them) and readers may
 * return them. A store into a MAP_SHARED page is in the page cache at once,
 * so a `kernel` append costs a memcpy and a CRC instead of a write() system
 * call, and survives the process being killed.
 *
 * `buffered` records are framed in the handle's own memory and copied in
 * bulk later; `interval` and `sync` appends are `kernel` appends followed by
 * the syncing in sync.c. What happens to the tail segment itself before
 * records are copied in (the append lock, rolling, mapping, growing) is in
 * tail.c.
 *
 * Lock order: handle mutex (mu), then the shared append lock. The append
 * lock is never held across an fdatasync.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "os.h"


/* Where the tail is before an operation that may need undoing. */
struct tail_mark {
    uint64_t next_seq, seg, off, capacity, alloc, ino, seal_pushed, last_time;
};

static void mark_tail(const struct dl_shared *sh, struct tail_mark *m)
{
    *m = (struct tail_mark){ sh->next_seq, sh->tail_seg, sh->tail_off,
                             sh->tail_capacity, sh->tail_alloc, sh->tail_ino,
                             atomic_load(&sh->seal_pushed), sh->last_time_ns };
}

/* Undoes unpublished records after a failure part way through a batch, so
 * that none of them ever becomes visible. Everything past a tail is zero,
 * and stays so. */
static void rollback(durlog *log, const struct tail_mark *m)
{
    struct dl_shared *sh = log->sh;
    /* Nothing here can be trusted to say where the batch's bytes went: the
     * log has failed, and recovery at the next open decides. */
    if (dl_view_lost(log))
        return;
    uint64_t leftover = 0;
    int rolled = sh->tail_seg != m->seg;
    if (rolled) {
        /* Segments created by this batch hold only its records: they are
         * named from the batch's first record on (and the tail it started
         * in stays). Their seal notes go too. */
        uint64_t *segs;
        size_t n;
        atomic_store(&sh->seal_pushed, m->seal_pushed);
        if (dl_seg_list(log->dirfd, &segs, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (segs[i] >= m->next_seq && (m->seg == DL_NO_SEGMENT || segs[i] > m->seg)) {
                    char name[DL_SEG_NAME_LEN + 1];
                    dl_seg_name(name, segs[i]);
                    dl_unlinkat(log->dirfd, name);
                }
            }
            free(segs);
        }
        dl_replace_tail(log, NULL, 0);
        atomic_fetch_add(&sh->generation, 1);
        if (m->seg != DL_NO_SEGMENT) {
            char err[DL_ERRMSG_SIZE];
            struct dl_segmap old;
            if (dl_seg_open(log->dirfd, log->path, m->seg, dl_tail_access(log), &old, err,
                            sizeof err) == 0) {
                uint64_t end = old.size < old.capacity ? old.size : old.capacity;
                if (end > m->off && dl_tail_zero(log, &old, m->off, end) != 0)
                    leftover = end;
                dl_replace_tail(log, &old, atomic_load(&sh->generation));
            }
        }
    } else if (log->tail.cur.map) {
        /* Only the allocated part can hold anything (stores never go past
         * it); zero it from the end back, so that a writer killed half way
         * leaves whole records followed by zeros (a torn tail), never zeros
         * followed by records. */
        uint64_t end = sh->reserve_end < sh->tail_alloc ? sh->reserve_end : sh->tail_alloc;
        if (log->io_pwrite && end < sh->reserve_end)
            end = sh->reserve_end; /* pwrite may have gone past tail_alloc */
        if (dl_tail_zero(log, &log->tail.cur, m->off, end) != 0)
            leftover = end; /* dl_tail_clear_leftover tries again */
    }
    sh->next_seq = m->next_seq;
    sh->tail_seg = m->seg;
    sh->tail_ino = m->ino;
    sh->last_time_ns = m->last_time;
    sh->tail_off = sh->reserve_end = m->off;
    if (leftover > m->off)
        sh->reserve_end = leftover;
    sh->tail_capacity = m->capacity;
    /* The old tail's file is at least as long as it was at the mark; after
     * a roll, tail_alloc described the new segment and must not be kept:
     * it would let stores run past the old file's end (SIGBUS). */
    if (rolled)
        sh->tail_alloc = m->alloc;
}

/* The bytes where the next record goes must be zero (FORMAT.md: nothing
 * follows the last record), and the number it gets must not go back. If
 * not, the coordination file's tail is not this log's: an old copy of the
 * file written over it in place, say; appending would overwrite records
 * already acknowledged. Four loads of the cache line about to be written. */
static int tail_is_free(durlog *log, int flushing)
{
    struct dl_shared *sh = log->sh;
    uint64_t off = sh->tail_off;
    uint64_t end = log->stage.len ? log->stage.off : off;
    if (!dl_seg_span_ok(&log->tail.cur, off, DL_REC_HEADER_SIZE) || !end ||
        !dl_seg_span_ok(&log->tail.cur, end - 1, 1))
        return dl_tail_outside(log, off, DL_REC_HEADER_SIZE);
    const unsigned char *p = log->tail.cur.map + off;
    uint64_t bits = 0;
    int readable = off + DL_REC_HEADER_SIZE <= sh->tail_alloc &&
                   off + DL_REC_HEADER_SIZE <= log->tail.cur.size;
    /* A file cut below the log's end does not always fault by itself: pwrite
     * mode and buffered flushes store nothing through the mapping, and the
     * bytes where the next record goes are read only where the file is
     * known to reach. Its last byte written, which must be in the file, is
     * touched instead (a fault there fails the log: tail_faulted). Records
     * staged by this append are not written yet: the end is where they
     * start. The page that byte is on may be read too. */
    if (flushing) {
        /* A buffered flush: nothing maps the pages it writes (no
         * pre-faulter runs for it), and a touch would fault on each
         * (measured: 4,000 faults for 2,000,000 buffered records, a third
         * of their time on this virtual machine); one statx per flush of
         * up to 64 KiB asks instead. */
        int rc = dl_tail_not_cut(log);
        if (rc)
            return rc;
    } else {
        volatile unsigned char last = log->tail.cur.map[end - 1];
        (void)last;
        uint64_t in_page = end - dl_page_floor(end);
        if (end == off && in_page && in_page + DL_REC_HEADER_SIZE <= dl_page_size())
            readable = 1;
        else if (log->io_pwrite)
            readable = 0; /* past the end's page the file may be shorter */
    }
    if (readable)
        for (int i = 0; i < DL_REC_HEADER_SIZE; i += 8)
            bits |= dl_get64(p + i);
    if (bits == 0 && sh->next_seq >= log->last_seq)
        return 0;
    atomic_store(&sh->failed, DL_FAIL_OVERWRITTEN);
    dl_durable_changed(sh);
    /* This handle knows which file it was; the others get dl_failed_state's
     * message, which names both. */
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, sh->tail_seg);
    /* A record of the very number the coordination file says comes next is
     * already there: that file went back (an old copy written over it), not
     * the segment. */
    struct dl_seg_fmt f = dl_segmap_fmt(&log->tail.cur);
    struct dl_rec_view v;
    uint64_t in_file = sh->tail_alloc < log->tail.cur.size ? sh->tail_alloc : log->tail.cur.size;
    int shm_behind = sh->next_seq < log->last_seq ||
                     (bits && in_file > off &&
                      dl_rec_check(&f, p, in_file - off, sh->next_seq, &v) == DL_REC_VALID);
    if (!shm_behind)
        return dl_fail(log, DURLOG_EFAILED, "%s/%s was overwritten while writers had the "
                       "log open: bytes someone else wrote are where record %" PRIu64
                       " goes (offset %" PRIu64 "), so nothing more is appended; close "
                       "every writer, then `durlog check %s`", log->path, name,
                       sh->next_seq, off, log->path);
    return dl_fail(log, DURLOG_EFAILED, "%s/%s was overwritten while writers had the log "
                   "open (it says the next record is %" PRIu64 ", this writer already "
                   "appended up to %" PRIu64 ", as when an old copy is written over it): "
                   "nothing more is appended; close every writer, then `durlog check %s`",
                   log->path, DL_SHM_NAME, sh->next_seq, log->last_seq, log->path);
}

/* After stores into the tail: if one faulted (the file was truncated under
 * us, or a page could not be read or allocated), the records went onto the
 * guard's zero pages, not into the file. The log fails for every writer
 * (they would fault too), with this one's message naming the file. Called
 * with the append lock. */
static int tail_faulted(durlog *log)
{
    char err[DL_ERRMSG_SIZE];
    int rc = dl_seg_faulted(&log->tail.cur, log->path, err, sizeof err);
    if (!rc)
        return 0;
    uint32_t none = DL_FAIL_NONE;
    atomic_compare_exchange_strong(&log->sh->failed, &none, DL_FAIL_SEGMENT);
    dl_durable_changed(log->sh);
    return dl_fail(log, DURLOG_EFAILED, "%s: nothing more is appended; close every "
                   "writer, then open the log again", err);
}

/* pwrite mode: the stage's first allocation (doubled as records need). */
#define DL_STAGE_MIN 4096

/* Copies one record to the tail: stores it through the mapping, or, with
 * by_pwrite, frames it in the stage for dl_tail_write_stage. Called with the
 * append lock. */
static int put_record(durlog *log, const void *data, uint32_t len,
                      uint64_t time_ns, int by_pwrite)
{
    struct dl_shared *sh = log->sh;
    if (sh->next_seq >= DL_SEQ_LIMIT - 1)
        return dl_fail(log, -EOVERFLOW, "%s: no sequence numbers left", log->path);
    uint64_t need = dl_rec_size(len);
    int rc = dl_tail_reserve(log, need, time_ns);
    if (!rc)
        rc = dl_tail_clear_leftover(log);
    if (!rc)
        rc = tail_is_free(log, 0);
    if (!rc)
        rc = tail_faulted(log); /* before a pwrite could grow it back */
    if (rc)
        return rc;
    uint64_t off = sh->tail_off, seq = sh->next_seq;
    sh->reserve_end = off + need;
    /* Read, then looked at (dl_view_lost): never a store at a zero page's
     * offset, which would be over the segment's header. */
    if (dl_view_lost(log))
        return dl_failed_state(log);
    uint64_t durable = atomic_load_explicit(&sh->durable_seq, memory_order_relaxed);
    uint64_t base = log->tail.cur.hdr.created_ns;
    time_ns = dl_tail_time(log, time_ns);
    if (by_pwrite) {
        /* Staged; written by dl_tail_write_stage before the records are published
         * (contiguous: this handle holds the append lock meanwhile). */
        if (log->stage.len && log->stage.off + log->stage.len != off && (rc = dl_tail_write_stage(log)))
            return rc;
        if (log->stage.len + need > log->stage.cap) {
            size_t cap = log->stage.cap ? log->stage.cap : DL_STAGE_MIN;
            while (cap < log->stage.len + need)
                cap *= 2;
            unsigned char *nb = realloc(log->stage.buf, cap);
            if (!nb)
                return dl_fail(log, -ENOMEM, "out of memory framing a record");
            log->stage.buf = nb;
            log->stage.cap = cap;
        }
        if (!log->stage.len)
            log->stage.off = off;
        dl_rec_encode(log->stage.buf + log->stage.len, base, seq, time_ns, durable, data, len);
        log->stage.len += need;
    } else {
        if (!dl_seg_span_ok(&log->tail.cur, off, need))
            return dl_tail_outside(log, off, need);
        dl_rec_encode(log->tail.cur.map + off, base, seq, time_ns, durable, data, len);
    }
    sh->tail_off += need;
    sh->next_seq++;
    if (!log->io_pwrite && sh->tail_alloc - sh->tail_off < DL_PREALLOC_AHEAD / 2 &&
        sh->tail_alloc < sh->tail_capacity &&
        sh->tail_alloc - sh->tail_off < dl_prealloc_ahead(sh) / 2)
        dl_prealloc_kick(log);
    return 0;
}

/* A run of frames sealed for the tail whose write did not happen: framed
 * again, for the next flush to seal (sealing replaced each one's time with
 * its offset from this segment's base). */
static void unseal_run(unsigned char *frames, size_t run, uint64_t base)
{
    for (size_t p = 0; p < run; p += dl_rec_size(dl_rec_len(frames + p)))
        dl_rec_unseal(frames + p, base);
}

/* Records buffered frames: each run that fits in the tail segment is sealed
 * in place (sequence number, durable mark, CRC) and handed to the kernel in
 * one pwrite. A write of whole pages is cheaper than stores through the
 * mapping, which make the kernel zero each new page before it is copied. */
int dl_flush_buffer_locked(durlog *log)
{
    struct dl_shared *sh = log->sh;
    size_t off = 0;
    int rc = 0;
    if (sh->next_seq >= DL_SEQ_LIMIT - 1 - log->buf.records)
        return dl_fail(log, -EOVERFLOW, "%s: no sequence numbers left", log->path);
    while (off < log->buf.len) {
        rc = dl_tail_ensure(log, dl_rec_size(dl_rec_len(log->buf.data + off)),
                            dl_rec_frame_time(log->buf.data + off));
        if (!rc)
            rc = dl_tail_clear_leftover(log);
        if (!rc)
            rc = tail_is_free(log, 1);
        if (!rc)
            rc = tail_faulted(log);
        if (rc)
            break;
        uint64_t durable = atomic_load_explicit(&sh->durable_seq, memory_order_relaxed);
        uint64_t seq = sh->next_seq, base = log->tail.cur.hdr.created_ns;
        size_t run = 0, records = 0;
        while (off + run < log->buf.len) {
            unsigned char *frame = log->buf.data + off + run;
            uint64_t size = dl_rec_size(dl_rec_len(frame));
            if (sh->tail_off + run + size > sh->tail_capacity)
                break;
            dl_rec_frame_set_time(frame, dl_tail_time(log, dl_rec_frame_time(frame)));
            dl_rec_seal(frame, base, seq++, durable);
            run += size;
            records++;
        }
        uint64_t at = sh->tail_off;
        sh->reserve_end = at + run;
        if (dl_view_lost(log)) {
            unseal_run(log->buf.data + off, run, base);
            rc = dl_failed_state(log);
            break;
        }
        rc = dl_pwrite_all(log->tail.cur.fd, log->buf.data + off, run, (off_t)at);
        if (rc) {
            unseal_run(log->buf.data + off, run, base);
            /* Part of the run may be in the file: erase it, so that nothing
             * past the tail is ever left non-zero. */
            dl_seg_refresh_size(&log->tail.cur);
            uint64_t end = sh->reserve_end < log->tail.cur.size || log->io_pwrite
                           ? sh->reserve_end : log->tail.cur.size;
            if (end <= sh->tail_off || dl_tail_zero(log, &log->tail.cur, sh->tail_off, end) == 0)
                sh->reserve_end = sh->tail_off; /* else dl_tail_clear_leftover tries again */
            char name[DL_SEG_NAME_LEN + 1];
            dl_seg_name(name, sh->tail_seg);
            dl_fail(log, rc, "write %zu bytes to %s/%s at offset %llu: %s", run,
                    log->path, name, (unsigned long long)sh->tail_off,
                    durlog_strerror(rc));
            break;
        }
        sh->tail_off += run;
        if (sh->tail_off > sh->tail_alloc)
            sh->tail_alloc = sh->tail_off;
        sh->next_seq = seq;
        off += run;
        log->buf.records -= records;
    }
    if (!rc && off)
        rc = dl_tail_header_mapped_intact(log); /* as in dl_tail_write_stage */
    if (!rc && off)
        rc = tail_faulted(log); /* tail_is_free looked through the mapping */
    /* What was not written (a full disk) stays buffered for a later try. */
    memmove(log->buf.data, log->buf.data + off, log->buf.len - off);
    log->buf.len -= off;
    if (off)
        log->last_seq = sh->next_seq;
    return rc;
}

int dl_flush_buffer(durlog *log)
{
    pthread_mutex_lock(&log->mu);
    int rc = 0;
    if (log->buf.len) {
        rc = dl_lock_append(log);
        if (!rc) {
            rc = dl_flush_buffer_locked(log);
            dl_publish(log->sh, log->sh->next_seq, log->sh->tail_seg);
            dl_unlock_append(log);
        }
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* DURLOG_DEFAULT (0) stands for the handle's default level. */
static durlog_level level_or_default(const durlog *log, durlog_level level)
{
    return level == DURLOG_DEFAULT ? log->opts.default_level : level;
}

static int check_records(durlog *log, const durlog_iov *recs, size_t count,
                         durlog_level level)
{
    if ((unsigned)level > DURLOG_SYNC)
        return dl_fail(log, -EINVAL, "invalid durability level %d", (int)level);
    if (!count)
        return dl_fail(log, -EINVAL, "an empty batch (a batch has at least one record)");
    if (!recs)
        return dl_fail(log, -EINVAL, "NULL record array");
    for (size_t i = 0; i < count; i++) {
        if (recs[i].len > DURLOG_MAX_RECORD)
            return dl_fail(log, -EMSGSIZE, "record of %zu bytes exceeds the "
                           "%zu-byte limit", recs[i].len, DURLOG_MAX_RECORD);
        if (recs[i].len && !recs[i].data)
            return dl_fail(log, -EINVAL, "NULL data with non-zero length");
    }
    return 0;
}

static int append_records(durlog *log, const durlog_iov *recs, size_t count,
                          durlog_level level, uint64_t *first_out,
                          const struct dl_completion *async);

/* Ends a locked append of the records placed since mark (rc: how placing
 * them went): writes the staged ones, undoes them all on any failure,
 * publishes what stands, and lets go of the append lock. *end gets the
 * log's next_seq as published. Returns rc or the first failure. */
static int end_placement(durlog *log, const struct tail_mark *mark, int rc, uint64_t *end)
{
    struct dl_shared *sh = log->sh;
    if (!rc)
        rc = dl_tail_write_stage(log);
    log->stage.len = 0; /* after a failure: rolled back below */
    if (!rc)
        rc = tail_faulted(log);
    if (rc)
        rollback(log, mark);
    *end = sh->next_seq;
    dl_publish(sh, *end, sh->tail_seg);
    dl_unlock_append(log);
    return rc;
}

/* Whether an append's records reach the tail by pwrite: in pwrite mode
 * always; in mmap mode, those of asynchronous `sync` appends. Behind such a
 * producer the engine syncs continuously, and an fdatasync of pages stored
 * into through a writable mapping write-protects every one of them again
 * (folio_mkclean: a TLB shootdown, an interrupt to each CPU running the
 * producer's threads), after which the producer's next store into each
 * takes a write fault. Measured at 1,000,000 records/s on this virtual
 * machine, that made each fdatasync take 3 to 5 times as long as the
 * hand-rolled write() + fdatasync loop's (bench/README.md, "Asynchronous
 * sync at a high rate"). Written with pwrite, the pages, faulted in for
 * reading ahead (dl_prefault_for_write), stay mapped read-only: the
 * fdatasync has no mapping to write-protect and the producer no fault to
 * take. On the file systems mmap mode runs on, the page cache is the file,
 * so these writes and other writers' stores mix (DESIGN.md). */
static int writes_by_pwrite(const durlog *log, const struct dl_completion *async)
{
    return log->io_pwrite || (async && async->level == DURLOG_SYNC);
}

/* Frames records in the handle's buffer; they get sequence numbers when
 * flushed, all of a call's records consecutively. A call whose records do
 * not fit in the buffer at all is written to the log at once, as a full
 * buffer would be. Either every record of the call is accepted or none. */
static int append_buffered(durlog *log, const durlog_iov *recs, size_t count,
                           uint64_t *first_out)
{
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += dl_rec_size(recs[i].len);
    if (total > log->opts.buffer_size)
        return append_records(log, recs, count, DURLOG_KERNEL, first_out, NULL);

    int rc = 0;
    pthread_mutex_lock(&log->mu);
    if (!log->buf.data && !(log->buf.data = malloc(log->opts.buffer_size))) {
        pthread_mutex_unlock(&log->mu);
        return dl_fail(log, -ENOMEM, "out of memory for the record buffer");
    }
    if (log->buf.len + total > log->opts.buffer_size) {
        rc = dl_lock_append(log);
        if (!rc) {
            rc = dl_flush_buffer_locked(log);
            dl_publish(log->sh, log->sh->next_seq, log->sh->tail_seg);
            dl_unlock_append(log);
        }
        if (rc) {
            pthread_mutex_unlock(&log->mu);
            return rc;
        }
    }
    uint64_t now = dl_clock_now(&log->clock);
    for (size_t i = 0; i < count; i++) {
        uint64_t size = dl_rec_size(recs[i].len);
        dl_rec_frame(log->buf.data + log->buf.len, now, recs[i].data, (uint32_t)recs[i].len);
        log->buf.len += size;
        log->buf.records++;
    }
    pthread_mutex_unlock(&log->mu);
    return 0;
}

/* Appends records at `level`. With `async` (a template for their
 * completion: callback, context, level asked for) they are appended at
 * DURLOG_KERNEL, a completion is queued, and the engine is told what it
 * owes instead of this thread waiting for it. */
static int append_records(durlog *log, const durlog_iov *recs, size_t count,
                          durlog_level level, uint64_t *first_out,
                          const struct dl_completion *async)
{
    struct dl_shared *sh = log->sh;
    struct tail_mark mark;
    int rc = check_records(log, recs, count, level);
    if (rc)
        return rc;
    if (first_out)
        *first_out = DURLOG_SEQ_PENDING;
    if (level == DURLOG_BUFFERED)
        return append_buffered(log, recs, count, first_out);
    /* The engine that will sync them is started before anything is
     * appended: if it cannot be (EAGAIN), this call fails cleanly and the
     * next one tries again. After the records are published, a failure is
     * DURLOG_ENOTDURABLE, never an error that says "not appended". */
    if (level == DURLOG_INTERVAL && (rc = dl_engine_start(log)) != 0)
        return rc;
    if (async && async->level == DURLOG_SYNC &&
        !atomic_load_explicit(&log->prefault.async_syncing, memory_order_relaxed))
        atomic_store(&log->prefault.async_syncing, 1);

    for (;;) {
        if (async && (rc = dl_async_prepare(log)) != 0)
            return rc;
        pthread_mutex_lock(&log->mu);
        if (!async || dl_async_has_room(log))
            break;
        /* Another thread of this handle took the last free slot. */
        pthread_mutex_unlock(&log->mu);
    }
    rc = dl_lock_append(log);
    if (rc) {
        pthread_mutex_unlock(&log->mu);
        return rc;
    }
    /* This handle's earlier buffered records go first: one handle's
     * records keep their order. */
    if (log->buf.len)
        rc = dl_flush_buffer_locked(log);
    mark_tail(sh, &mark);
    uint64_t now = dl_clock_now(&log->clock);
    int by_pwrite = writes_by_pwrite(log, async);
    for (size_t i = 0; i < count && !rc; i++)
        rc = put_record(log, recs[i].data, (uint32_t)recs[i].len, now, by_pwrite);
    uint64_t first = mark.next_seq, end;
    rc = end_placement(log, &mark, rc, &end);
    if (!rc) {
        log->last_seq = end;
        if (async) {
            struct dl_completion c = *async;
            c.seq = first;
            c.end = end;
            dl_async_push(log, &c);
        }
    }
    pthread_mutex_unlock(&log->mu);
    if (rc)
        return rc;

    if (first_out)
        *first_out = first;
    if (async) {
        /* From here on the completion reports any failure. */
        if (async->level == DURLOG_SYNC)
            dl_engine_sync_soon(log, end);
        else if (async->level == DURLOG_INTERVAL)
            dl_interval_note(log, end - 1);
        else
            dl_engine_kick_ready(log);
        return 0;
    }
    if (level == DURLOG_INTERVAL)
        rc = dl_interval_note(log, end - 1);
    else if (level == DURLOG_SYNC)
        rc = dl_sync_to(log, end);
    return rc ? dl_not_durable(log, first, end) : 0;
}

static int append_async(durlog *log, const durlog_iov *recs, size_t count,
                        durlog_level level, durlog_callback *cb, void *ctx,
                        uint64_t *first_out)
{
    if (!log)
        return -EINVAL;
    if (first_out)
        *first_out = DURLOG_SEQ_PENDING;
    level = level_or_default(log, level);
    if (level != DURLOG_KERNEL && level != DURLOG_INTERVAL && level != DURLOG_SYNC)
        return dl_fail(log, -EINVAL, "asynchronous appends take kernel, "
                       "interval or sync, not level %d", (int)level);
    struct dl_completion c = { 0, 0, cb, ctx, level };
    return append_records(log, recs, count, DURLOG_KERNEL, first_out, &c);
}

int durlog_append_async(durlog *log, const void *data, size_t len,
                        durlog_level level, durlog_callback *cb, void *ctx,
                        uint64_t *seq_out)
{
    durlog_iov one = { data, len };
    return append_async(log, &one, 1, level, cb, ctx, seq_out);
}

int durlog_append_batch_async(durlog *log, const durlog_iov *records,
                              size_t count, durlog_level level,
                              durlog_callback *cb, void *ctx,
                              uint64_t *first_seq_out)
{
    return append_async(log, records, count, level, cb, ctx, first_seq_out);
}

int durlog_append(durlog *log, const void *data, size_t len,
                  durlog_level level, uint64_t *seq_out)
{
    if (!log)
        return -EINVAL;
    durlog_iov one = { data, len };
    return append_records(log, &one, 1, level_or_default(log, level), seq_out, NULL);
}

int durlog_append_default(durlog *log, const void *data, size_t len,
                          uint64_t *seq_out)
{
    if (!log)
        return -EINVAL;
    return durlog_append(log, data, len, log->opts.default_level, seq_out);
}

int durlog_append_batch(durlog *log, const durlog_iov *records, size_t count,
                        durlog_level level, uint64_t *first_seq_out)
{
    if (!log)
        return -EINVAL;
    return append_records(log, records, count, level_or_default(log, level),
                          first_seq_out, NULL);
}

/* ---- records with their own seqs and times (durlog_append_restored) ---- */

static int check_restored(durlog *log, const durlog_record *recs, size_t count,
                          durlog_level level)
{
    if (level != DURLOG_KERNEL && level != DURLOG_SYNC)
        return dl_fail(log, -EINVAL, "restored records are appended at kernel or sync, "
                       "not level %d", (int)level);
    if (!count || !recs)
        return dl_fail(log, -EINVAL, "no records to append (NULL array or count 0)");
    for (size_t i = 0; i < count; i++) {
        const durlog_record *r = &recs[i];
        if (r->len > DURLOG_MAX_RECORD)
            return dl_fail(log, -EMSGSIZE, "record %llu of %zu bytes exceeds the %zu-byte "
                           "limit", (unsigned long long)r->seq, r->len, DURLOG_MAX_RECORD);
        if (r->len && !r->data)
            return dl_fail(log, -EINVAL, "NULL data with non-zero length");
        if (r->seq >= DL_SEQ_LIMIT - 1 || r->time_ns > DL_TIME_BASE_MAX)
            return dl_fail(log, -EINVAL, "record %llu at time %llu: sequence number or time "
                           "out of range", (unsigned long long)r->seq,
                           (unsigned long long)r->time_ns);
        if (i && (r->seq != recs[i - 1].seq + 1 || r->time_ns < recs[i - 1].time_ns))
            return dl_fail(log, -EINVAL, "record %llu (time %llu) does not follow record "
                           "%llu (time %llu): seqs must run on by one, times never go back",
                           (unsigned long long)r->seq, (unsigned long long)r->time_ns,
                           (unsigned long long)recs[i - 1].seq,
                           (unsigned long long)recs[i - 1].time_ns);
    }
    return 0;
}

/* Bytes of the run of records from i on that share recs[i]'s time. */
static uint64_t run_bytes(const durlog_record *recs, size_t count, size_t i)
{
    uint64_t need = 0;
    for (size_t j = i; j < count && recs[j].time_ns == recs[i].time_ns; j++)
        need += dl_rec_size(recs[j].len);
    return need;
}

/* Places restored record i, with the append lock. A run of records sharing
 * one time goes into one segment: the tail is made ready for the whole run
 * at its first record (a segment begun then is based just below the run's
 * time, which is later than the log's last record); within a run no
 * segment may begin (restore.base 0: roll fails with -ERANGE). */
static int put_restored(durlog *log, const durlog_record *recs, size_t count, size_t i,
                        int by_pwrite)
{
    struct dl_shared *sh = log->sh;
    const durlog_record *r = &recs[i];
    if (r->seq != sh->next_seq)
        return dl_fail(log, -EINVAL, "record %llu does not follow on: the log's next record "
                       "is %llu", (unsigned long long)r->seq,
                       (unsigned long long)sh->next_seq);
    if (r->time_ns < sh->last_time_ns)
        return dl_fail(log, -EINVAL, "record %llu's time %llu is before the log's last "
                       "record's (%llu)", (unsigned long long)r->seq,
                       (unsigned long long)r->time_ns, (unsigned long long)sh->last_time_ns);
    if (i == 0 || recs[i - 1].time_ns != r->time_ns) {
        log->restore.base = r->time_ns > sh->last_time_ns ? r->time_ns - 1 : 0;
        int rc = dl_tail_ensure(log, run_bytes(recs, count, i), r->time_ns);
        log->restore.base = 0;
        if (rc)
            return rc;
    }
    /* A version 2 record's time is later than its segment's base. */
    const struct dl_seg_header *h = &log->tail.cur.hdr;
    if (h->version == DL_FORMAT_VERSION && r->time_ns <= h->created_ns)
        return dl_fail(log, -ERANGE, "record %llu's time %llu is not later than its segment's "
                       "base time %llu", (unsigned long long)r->seq,
                       (unsigned long long)r->time_ns, (unsigned long long)h->created_ns);
    return put_record(log, r->data, (uint32_t)r->len, r->time_ns, by_pwrite);
}

/* The time of the log's last record and the log's next_seq, read as a
 * reader reads them (*time_ns 0 when the log holds none). */
static int last_record_time(durlog *log, uint64_t *time_ns, uint64_t *next_seq)
{
    durlog_reader *r;
    durlog_info info;
    durlog_record rec;
    int rc = durlog_reader_open(log->path, NULL, &r);
    if (rc)
        return dl_fail(log, rc, "%s", durlog_last_errmsg());
    rc = durlog_reader_get_info(r, &info);
    *time_ns = 0;
    *next_seq = info.next_seq;
    if (!rc && info.next_seq > info.first_seq) {
        rc = durlog_reader_seek(r, info.next_seq - 1);
        if (!rc)
            rc = durlog_reader_next(r, &rec);
        if (!rc)
            *time_ns = rec.time_ns;
    }
    if (rc)
        rc = dl_fail(log, rc, "reading the last record of %s: %s", log->path,
                     durlog_reader_errmsg(r));
    durlog_reader_close(r);
    return rc;
}

int durlog_append_restored(durlog *log, const durlog_record *recs, size_t count,
                           durlog_level level)
{
    if (!log)
        return -EINVAL;
    struct dl_shared *sh = log->sh;
    struct tail_mark mark;
    int rc = check_restored(log, recs, count, level);
    if (rc)
        return rc;
    /* The floor for new records' times (last_time_ns) is the clock after
     * an open (recover.c), later than the last record's own time: restored
     * records, which keep older times, are held to the last record's. */
    uint64_t last_time = 0, last_end = 0;
    int floor_down = recs[0].time_ns < sh->last_time_ns;
    if (floor_down && (rc = last_record_time(log, &last_time, &last_end)) != 0)
        return rc;
    pthread_mutex_lock(&log->mu);
    if (log->buf.len) {
        pthread_mutex_unlock(&log->mu);
        return dl_fail(log, -EBUSY, "this handle holds buffered records: flush them before "
                       "appending restored ones");
    }
    rc = dl_lock_append(log);
    if (rc) {
        pthread_mutex_unlock(&log->mu);
        return rc;
    }
    mark_tail(sh, &mark);
    if (floor_down && sh->next_seq == last_end && sh->last_time_ns > last_time)
        sh->last_time_ns = last_time;
    /* A log that never held a record (its next_seq is 0, as recovery
     * leaves a log without segments) starts at the first one's seq. */
    if (sh->tail_seg == DL_NO_SEGMENT && sh->next_seq == 0)
        sh->next_seq = recs[0].seq;
    log->restore.on = 1;
    for (size_t i = 0; i < count && !rc; i++)
        rc = put_restored(log, recs, count, i, log->io_pwrite);
    log->restore.on = 0;
    uint64_t end;
    rc = end_placement(log, &mark, rc, &end);
    if (!rc)
        log->last_seq = end;
    pthread_mutex_unlock(&log->mu);
    if (rc || level != DURLOG_SYNC)
        return rc;
    rc = dl_sync_to(log, end);
    return rc ? dl_not_durable(log, recs[0].seq, end) : 0;
}

/* Has the engine sync records below `end` within the interval (unless they
 * are durable already). */
static int schedule_interval(durlog *log, uint64_t end)
{
    if (end <= atomic_load(&log->sh->durable_seq))
        return 0;
    return dl_interval_note(log, end - 1);
}

int durlog_flush(durlog *log, durlog_level level)
{
    if (!log)
        return -EINVAL;
    level = level_or_default(log, level);
    if ((unsigned)level > DURLOG_SYNC)
        return dl_fail(log, -EINVAL, "invalid durability level %d", (int)level);
    if (level == DURLOG_BUFFERED)
        return 0;
    int rc = dl_flush_buffer(log);
    if (rc)
        return rc;
    uint64_t end = atomic_load(&log->sh->published_seq);
    if (level == DURLOG_SYNC)
        return dl_sync_to(log, end);
    return level == DURLOG_INTERVAL ? schedule_interval(log, end) : 0;
}

int durlog_wait(durlog *log, uint64_t seq, durlog_level level, int timeout_ms)
{
    if (!log)
        return -EINVAL;
    level = level_or_default(log, level);
    if ((unsigned)level > DURLOG_SYNC)
        return dl_fail(log, -EINVAL, "invalid durability level %d", (int)level);
    if (timeout_ms < -1)
        return dl_fail(log, -EINVAL, "timeout of %d ms (-1 for no limit, else 0 or more)",
                       timeout_ms);
    if (seq >= DL_SEQ_LIMIT)
        return dl_fail(log, -EINVAL, "no record has sequence number %llu (they are below "
                       "2^63; DURLOG_SEQ_PENDING is no record's)", (unsigned long long)seq);
    if (level == DURLOG_BUFFERED)
        return 0;
    uint64_t ticket = dl_intr_ticket(&log->intr);
    if (atomic_load(&log->sh->published_seq) <= seq) {
        int rc = dl_flush_buffer(log);
        if (rc)
            return rc;
        /* 0: none (a timeout of 0 looks once, without sleeping). */
        uint64_t deadline = timeout_ms < 0 ? 0
                          : dl_mono_ns() + (uint64_t)timeout_ms * DL_NS_PER_MS;
        rc = dl_wait_published(log->sh, seq, deadline, &log->intr, ticket);
        if (rc == -EINTR)
            return dl_fail(log, rc, "waiting for record %llu: interrupted "
                           "(durlog_interrupt)", (unsigned long long)seq);
        if (rc == -ETIMEDOUT)
            return dl_fail(log, rc, "record %llu not appended within %d ms",
                           (unsigned long long)seq, timeout_ms);
        if (rc)
            return dl_fail(log, rc, "waiting for record %llu: futex: %s",
                           (unsigned long long)seq, durlog_strerror(rc));
    }
    if (level == DURLOG_SYNC)
        return dl_sync_to(log, seq + 1);
    return level == DURLOG_INTERVAL ? schedule_interval(log, seq + 1) : 0;
}
