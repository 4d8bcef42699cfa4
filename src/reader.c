/*
 * reader.c - iterating over a log's records, possibly while writers append.
 *
 * A reader maps segments read-only and needs no write access anywhere. Every
 * record is checked against its CRC before it is returned, so a reader never
 * hands out bytes that differ from what was appended.
 *
 * Where the log ends. While a writer has the log open, the coordination file
 * it holds says which records are complete (published_seq): a record past it
 * may be half copied, or part of a batch that is about to be rolled back. But
 * that file is never synced and anyone can copy an old version over it, so
 * the reader trusts it only while it is live: a writer holds its liveness
 * lock on the very file the reader mapped, and it was built on this boot for
 * this directory (shared.h). Otherwise (no writer, a stale or foreign file,
 * none at all, no permission) the reader reads by checksums to the end of
 * the valid data, and never returns less than the segments hold without
 * saying so:
 *  - a segment it cannot open (EACCES, EMFILE, a bad header) is an error
 *    naming the file and the cause;
 *  - damage, or an end of data, that later segments follow is damage
 *    (DURLOG_ECORRUPT naming the segment and offset, or the missing records),
 *    never the end of the log;
 *  - a sealed segment that holds fewer records than its seal says is damage.
 * Whether the file is live is looked at again when the reader reaches its
 * end (at most every DL_READER_RELOOK_NS), so a reader follows writers that
 * come and go, and a file replaced since is dropped for the one now there.
 *
 * A durable-only reader returns records below the durable mark: the live
 * file's, or else what the log itself proves (the last checkpoint in a
 * segment header, and the durable_before of the records after it).
 *
 * When the record expected next is not at the reader's position, the writer
 * has rolled to a new segment, which is named after exactly that sequence
 * number.
 *
 * A seek finds its segment by binary search over the segments' names (each
 * is its first record's number), and below a segment's checkpoint (all of a
 * sealed segment) starts its walk at the entry of the segment's sparse index
 * (index.h) before the record:
 * the side file's, or one the reader builds when the file is missing or
 * wrong (and writes, where it may). The record an entry names must check
 * before the walk starts there; otherwise the walk starts at the segment's
 * first record, as without an index.
 *
 * A live reader sleeps in durlog_reader_wait on the futex words writers bump
 * when they publish (or when the durable mark moves, for a durable-only
 * reader): the same words, counts and wake-ups that durlog_wait uses, so a
 * reader in another process wakes within a futex wake-up of the append.
 * Other waits (polling, without a live file) sleep on a word of the
 * reader's own. durlog_reader_interrupt bumps and wakes both (interrupt.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "log.h"
#include "os.h"
#include "reader.h"
#include "scan.h"

/* How often a reader at its end looks again at whether the coordination file
 * is live (a system call): bounds how long it goes on trusting a file its
 * writers have left, or ignoring one a new writer has just built. */
#define DL_READER_RELOOK_NS 10000000u

/* How many times durlog_reader_seek_time searches again when the segment
 * it chose was removed (by a trim) before it could open it. */
#define DL_SEEK_TIME_TRIES 4

/* The first allocation of the buffer a record is copied into (doubled as
 * records need). */
#define DL_READER_BUF_MIN 4096

struct durlog_reader {
    char *path;
    int dirfd;
    int shmfd;
    struct dl_shared *sh;         /* mapped coordination file, or NULL */
    struct dl_guard *sh_guard;    /* its SIGBUS mark (dl_shm_map) */
    int sh_writable;              /* mapped read-write: may register as a
                                     waiter so that writers wake it */
    int live;                     /* sh is the file a writer holds: its
                                     marks are trusted */
    uint64_t looked_ns;           /* when liveness was last looked at */
    durlog_reader_options opts;
    struct dl_segmap seg;         /* current segment; fd < 0 before the first */
    uint64_t pos;                 /* offset of the next record in seg */
    uint64_t next_seq;            /* number of the next record to return */
    uint64_t last_time_ns;        /* time of the last record returned: where
                                     resynchronising after damage starts
                                     looking (times never decrease in a
                                     segment) */
    uint64_t skipped;
    int sought;                   /* durlog_reader_seek was called: the
                                     reader starts where it was told */
    /* A durable-only reader without a live file: what the log proves
     * durable, and the state of the log it was computed for. */
    uint64_t proven_durable;
    uint64_t proven_key[5];
    /* The record last returned: copied out of the mapping and checked in
     * this buffer, so that what the caller reads cannot change or fault
     * under it (a segment truncated or rewritten meanwhile). */
    unsigned char *rec_buf;
    size_t rec_cap;
    int fault_rc;                 /* sticky: a mapping of this reader faulted */
    /* The sparse index of the segment sought last (index.h), and
     * whether it holds one; no_index (DURLOG_SEEK_LINEAR set, for the
     * benchmark that compares) walks segments from their start. */
    struct dl_index ix;
    int ix_ok;
    int no_index;
    char errmsg[DL_ERRMSG_SIZE];
    /* durlog_reader_interrupt, from any thread or a signal handler. */
    struct dl_intr intr;
    _Atomic uint32_t intr_word;   /* futex word of the reader's own sleeps */
    _Atomic(_Atomic uint32_t *) sleep_word; /* the coordination file's futex
                                     word a wait sleeps on now, or NULL */
    _Atomic int intr_busy;        /* interrupts using sleep_word right now:
                                     the file is not unmapped under them */
};

static int rfail(durlog_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rfail(durlog_reader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

void durlog_reader_options_init(durlog_reader_options *opts)
{
    if (opts)
        memset(opts, 0, sizeof *opts);
}

static void detach_shared(durlog_reader *r)
{
    /* An interrupt that found a wait asleep in this mapping (sleep_word,
     * cleared since) may be bumping its word right now: let it finish. */
    while (atomic_load(&r->intr_busy))
        sched_yield();
    dl_shm_unmap(r->sh, r->sh_guard);
    dl_close(r->shmfd);
    r->sh = NULL;
    r->sh_guard = NULL;
    r->shmfd = -1;
    r->sh_writable = 0;
    r->live = 0;
}

/* Maps the coordination file now under its name, unless the one mapped is
 * that very file. Read-write if allowed: a waiting reader counts itself in
 * the shared waiter counts, which is what makes writers call FUTEX_WAKE. A
 * reader with read access only follows the log by polling (see
 * durlog_reader_wait). Without one (none, no permission), the reader relies
 * on checksums alone. */
static void attach_shared(durlog_reader *r)
{
    struct dl_stat now, mapped;
    if (r->shmfd >= 0) {
        /* A view that faulted (the file was emptied under us) is a zero
         * page for good: map the file again, as rebuilt since. */
        if (!dl_shm_lost(r->sh_guard) && dl_stat_at(r->dirfd, DL_SHM_NAME, &now) == 0 &&
            dl_stat_fd(r->shmfd, &mapped) == 0 && now.ino == mapped.ino &&
            now.dev == mapped.dev)
            return;
        detach_shared(r);
    }
    int writable = 1;
    int rc = dl_shm_open_view(r->dirfd, 1, &r->shmfd, &r->sh, &r->sh_guard);
    if (rc) { /* no write access (EACCES, a read-only mount: EROFS) */
        writable = 0;
        rc = dl_shm_open_view(r->dirfd, 0, &r->shmfd, &r->sh, &r->sh_guard);
    }
    if (rc == 0)
        r->sh_writable = writable;
}

static uint64_t seg_limit(const struct dl_segmap *s)
{
    return s->size < s->capacity ? s->size : s->capacity;
}

/* What the log itself proves durable, for a durable-only reader without a
 * live file: the last checkpoint, and the durable_before of the records
 * after it. Recomputed only when the segment count, the last segment's
 * name, size or checkpoint changed (a writer killed after its last
 * checkpoint changes none of them: what it synced since shows once one
 * does). */
static uint64_t proven_durable(durlog_reader *r)
{
    uint64_t *segs;
    size_t n;
    if (dl_seg_list(r->dirfd, &segs, &n) != 0 || n == 0) {
        free(segs);
        return 0;
    }
    char err[DL_ERRMSG_SIZE];
    struct dl_seg_header h;
    uint64_t size = 0;
    int hdr_ok = dl_seg_read_header(r->dirfd, r->path, segs[n - 1], &h, &size, err,
                                    sizeof err) == 0;
    if (!hdr_ok)
        h.flags = 0;
    /* The tail's checkpoint too: a writer that came, synced and closed
     * while this reader did not look moved it, and nothing else here (the
     * tail is allocated ahead, so its size stays). */
    uint64_t key[5] = { n, segs[n - 1], size, hdr_ok ? h.ckpt_seq : 0,
                        hdr_ok ? h.ckpt_off : 0 };
    if (memcmp(key, r->proven_key, sizeof key) == 0) {
        free(segs);
        return r->proven_durable;
    }
    uint64_t durable = 0;
    for (size_t i = n; i-- > 0;) {
        struct dl_segmap m;
        if (dl_seg_open(r->dirfd, r->path, segs[i], 0, &m, err, sizeof err) != 0)
            break;
        struct dl_scan s;
        uint64_t limit = seg_limit(&m);
        struct dl_seg_fmt f = dl_segmap_fmt(&m);
        dl_scan_from(&f, m.map, limit, m.hdr.ckpt_off, m.hdr.ckpt_seq, UINT64_MAX, 1, &s);
        if (dl_seg_faulted(&m, r->path, err, sizeof err)) {
            dl_seg_close(&m);
            break; /* proves nothing; the reader itself meets the fault */
        }
        int has_ckpt = (m.hdr.flags & DL_SEG_F_CKPT) != 0;
        if (has_ckpt && m.hdr.ckpt_seq > durable)
            durable = m.hdr.ckpt_seq;
        if (s.max_durable > durable)
            durable = s.max_durable;
        dl_seg_close(&m);
        if (has_ckpt || durable >= segs[i])
            break;
    }
    free(segs);
    memcpy(r->proven_key, key, sizeof key);
    r->proven_durable = durable;
    return durable;
}

/* Looks again at whether the mapped file is live (at most every
 * DL_READER_RELOOK_NS unless forced), mapping the file now under its name
 * when the old one is not; and, for a durable-only reader without a live
 * file, at what the log proves durable. */
static void relook(durlog_reader *r, int force)
{
    uint64_t now = dl_mono_ns();
    if (!force && now - r->looked_ns < DL_READER_RELOOK_NS)
        return;
    r->looked_ns = now;
    if (r->live && dl_shm_probe_live(r->shmfd) == 1 && dl_shm_valid_for(r->sh, r->dirfd) == 1 &&
        atomic_load(&r->sh->failed) != DL_FAIL_DAMAGED)
        return;
    attach_shared(r);
    /* A file its writers found damaged (shared.h: DL_FAIL_DAMAGED) says
     * nothing: checksums decide, as without a writer. */
    r->live = r->sh && dl_shm_valid_for(r->sh, r->dirfd) == 1 &&
              atomic_load(&r->sh->failed) != DL_FAIL_DAMAGED &&
              dl_shm_probe_live(r->shmfd) == 1;
    if (!r->live && r->opts.durable_only)
        r->proven_durable = proven_durable(r);
}

/* Records below this may be returned: those the live file says are
 * published (and, for a durable-only reader, durable); without a live file,
 * all that are valid (or what the log proves durable). */
static uint64_t readable_end(durlog_reader *r)
{
    if (!r->live)
        return r->opts.durable_only ? r->proven_durable : UINT64_MAX;
    uint64_t pub = atomic_load(&r->sh->published_seq);
    if (r->opts.durable_only) {
        uint64_t durable = atomic_load(&r->sh->durable_seq);
        if (durable < pub)
            pub = durable;
    }
    return pub;
}

static int open_segment(durlog_reader *r, uint64_t first, struct dl_segmap *out)
{
    char err[DL_ERRMSG_SIZE];
    int rc = dl_seg_open(r->dirfd, r->path, first, 0, out, err, sizeof err);
    if (rc)
        return rfail(r, rc, "%s", err);
    return 0;
}

/* If a load through the current segment's mapping faulted (guard.h), what
 * was read there since is zero pages, not the file: the reader fails, for
 * good, naming the file and what happened. */
static int seg_fault(durlog_reader *r)
{
    char err[DL_ERRMSG_SIZE];
    if (!r->fault_rc && r->seg.fd >= 0) {
        int rc = dl_seg_faulted(&r->seg, r->path, err, sizeof err);
        if (rc)
            r->fault_rc = rfail(r, rc, "%s", err);
    }
    return r->fault_rc;
}

static void switch_to(durlog_reader *r, struct dl_segmap *m)
{
    seg_fault(r); /* the segment it leaves: what it read there must be true */
    dl_seg_close(&r->seg);
    r->seg = *m;
    r->pos = DL_SEG_HEADER_SIZE;
    r->next_seq = m->first_seq;
    r->last_time_ns = 0;
}

static int reader_open(const char *path, const durlog_reader_options *opts,
                       durlog_reader **out, char *err, size_t errlen)
{
    if (!path || !out) {
        dl_set_err(err, errlen, "durlog_reader_open: path and out are required");
        return -EINVAL;
    }
    *out = NULL;
    if (opts && dl_reserved_nonzero(opts->reserved, DURLOG_RESERVED_WORDS)) {
        dl_set_err(err, errlen, "durlog_reader_options: reserved fields must be zero "
                   "(zero-fill the struct or call durlog_reader_options_init)");
        return -EINVAL;
    }
    durlog_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        dl_set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (opts)
        r->opts = *opts;
    r->shmfd = -1;
    r->seg = (struct dl_segmap)DL_SEGMAP_INIT;
    r->ix = (struct dl_index)DL_INDEX_INIT;
    const char *linear = getenv("DURLOG_SEEK_LINEAR");
    r->no_index = linear && *linear && strcmp(linear, "0") != 0;
    r->dirfd = dl_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (r->dirfd < 0) {
        int rc = r->dirfd;
        dl_set_err(err, errlen, "cannot open the log directory %s: %s", path,
                   durlog_strerror(rc));
        free(r->path);
        free(r);
        return rc;
    }
    int unsafe = dl_log_dir_check(r->dirfd, path, err, errlen);
    if (unsafe) {
        durlog_reader_close(r);
        return unsafe;
    }
    relook(r, 1);
    if (!r->sh) {
        /* No coordination file: a log copied without it, or no log at all. */
        uint64_t *segs;
        size_t n;
        int rc = dl_seg_list(r->dirfd, &segs, &n);
        free(segs);
        if (rc == 0 && n == 0 && faccessat(r->dirfd, DL_SHM_NAME, F_OK,
                                           AT_SYMLINK_NOFOLLOW) != 0) {
            dl_set_err(err, errlen, "%s is not a durlog log (no segments, no %s)",
                       path, DL_SHM_NAME);
            durlog_reader_close(r);
            return DURLOG_EFORMAT;
        }
    }
    *out = r;
    return 0;
}

int durlog_reader_open(const char *path, const durlog_reader_options *opts,
                       durlog_reader **out)
{
    char msg[DL_ERRMSG_SIZE] = "";
    int rc = reader_open(path, opts, out, msg, sizeof msg);
    if (rc) {
        if (opts)
            dl_set_err(opts->errbuf, opts->errbuf_size, "%s", msg);
        dl_set_last_errmsg(msg);
    }
    return rc;
}

void durlog_reader_close(durlog_reader *r)
{
    if (!r)
        return;
    dl_seg_close(&r->seg);
    detach_shared(r);
    dl_close(r->dirfd);
    dl_index_free(&r->ix);
    free(r->rec_buf);
    free(r->path);
    free(r);
}

/* The first segment after `after` (DL_NO_SEGMENT when there is none), or an
 * error with a message. */
static int next_segment(durlog_reader *r, uint64_t after, uint64_t *out)
{
    uint64_t *segs;
    size_t n;
    int rc = dl_seg_list(r->dirfd, &segs, &n);
    if (rc)
        return rfail(r, rc, "cannot list the segments of %s: %s", r->path,
                     durlog_strerror(rc));
    *out = DL_NO_SEGMENT;
    for (size_t i = 0; i < n; i++)
        if (segs[i] > after || after == DL_NO_SEGMENT) {
            *out = segs[i];
            break;
        }
    free(segs);
    return 0;
}

static int same_id(const struct dl_index_id *a, const struct dl_index_id *b)
{
    return a->first_seq == b->first_seq && a->end_seq == b->end_seq &&
           a->end_off == b->end_off && a->created_ns == b->created_ns &&
           a->capacity == b->capacity && a->seg_crc == b->seg_crc;
}

/* Builds the index of segment m into r->ix, and writes it as its
 * side file where the reader may (a cache: failing to is no error). */
static int build_index(durlog_reader *r, const struct dl_segmap *m)
{
    struct dl_stat st;
    if (dl_index_build(m, &r->ix) != 0)
        return 0;
    r->ix_ok = 1;
    if (dl_stat_fd(m->fd, &st) == 0)
        (void)dl_index_store(r->dirfd, &r->ix, st.mode & 0666);
    return 1;
}

/* Where a walk for `key` (DL_INDEX_BY_SEQ: a record's number; _BY_TIME: a
 * time) within segment m may start: *pos and *seq, at the entry of its index
 * before the key once its record checks (dl_index_start), else at the
 * segment's first record. Only records below a checkpoint are indexed (they
 * never change: all of a sealed segment). The side file
 * is read once per segment sought (kept in r->ix); missing, unreadable,
 * damaged, stale or wrong, it is built again from the records. */
static void index_start(durlog_reader *r, const struct dl_segmap *m, int by, uint64_t key,
                        uint64_t *pos, uint64_t *seq)
{
    struct dl_index_id id;
    *pos = DL_SEG_HEADER_SIZE;
    *seq = m->first_seq;
    if (r->no_index || dl_index_id_of(&m->hdr, &id) != 0)
        return;
    int fresh = 0; /* r->ix was just built from these very records */
    if (!r->ix_ok || !same_id(&r->ix.id, &id)) {
        dl_index_free(&r->ix);
        r->ix_ok = 0;
        if (dl_index_load(r->dirfd, &id, &r->ix) == 0)
            r->ix_ok = 1;
        else if (!(fresh = build_index(r, m)))
            return;
    }
    if (dl_index_start(m, &r->ix, by, key, pos, seq) != 2 || fresh)
        return;
    /* The index is wrong about this segment: built again from the records
     * (a lookup that still fails starts at the segment's first record). */
    dl_index_free(&r->ix);
    r->ix_ok = 0;
    if (build_index(r, m))
        (void)dl_index_start(m, &r->ix, by, key, pos, seq);
}

/* How often position_at lists the segments again when the one it chose was
 * removed (by a trim) before it could open it: each time a trim removed one
 * more segment in between; then it reports the failure. */
#define DL_READER_TRIM_RETRIES 8

/* DURLOG_ETRIMMED for record seq, below first, the log's first record now. */
static int trimmed_before(durlog_reader *r, uint64_t seq, uint64_t first)
{
    return rfail(r, DURLOG_ETRIMMED, "%s: record %llu was removed by a trim or by "
                 "retention: the log's first record is now %llu (seek there to go on)",
                 r->path, (unsigned long long)seq, (unsigned long long)first);
}

/* The reader needs record next_seq, which neither its segment nor a segment
 * named for it holds: if the log now starts past it (a trim removed it),
 * DURLOG_ETRIMMED; else 0. */
static int check_trimmed(durlog_reader *r)
{
    uint64_t first;
    int rc = next_segment(r, DL_NO_SEGMENT, &first);
    if (rc)
        return rc;
    if (first != DL_NO_SEGMENT && first > r->next_seq)
        return trimmed_before(r, r->next_seq, first);
    return 0;
}

/* Opens the segment that holds `seq` (the last one starting at or before
 * it) and walks to it. Returns DURLOG_ETRIMMED if seq is below the log's
 * first record, DURLOG_ENOTFOUND if it is past its end. */
static int position_at(durlog_reader *r, uint64_t seq)
{
    uint64_t *segs;
    size_t n, i;
    struct dl_segmap m;
    int tries = 0;
    r->last_time_ns = 0; /* not known at the new position */
again:
    tries++;
    int rc = dl_seg_list(r->dirfd, &segs, &n);
    if (rc)
        return rfail(r, rc, "cannot list the segments of %s: %s", r->path,
                     durlog_strerror(rc));
    if (n == 0) {
        free(segs);
        /* Without a live file an empty log ends at 0 (readable_end's
         * "all that are valid" is unbounded there). */
        if (seq == 0 || (r->live && seq == readable_end(r))) {
            dl_seg_close(&r->seg);
            r->next_seq = seq;
            return 0;
        }
        return rfail(r, DURLOG_ENOTFOUND, "%s is empty", r->path);
    }
    if (seq < segs[0]) {
        rc = trimmed_before(r, seq, segs[0]);
        free(segs);
        return rc;
    }
    /* The last segment named at or before seq: the first named past it,
     * by binary search, less one (segs[0] <= seq, so there is one). */
    size_t lo = 1, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (segs[mid] <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    i = lo - 1;
    uint64_t first = segs[i];
    free(segs);
    rc = open_segment(r, first, &m);
    if (rc == -ENOENT && tries < DL_READER_TRIM_RETRIES)
        goto again; /* a trim removed it since the listing */
    if (rc)
        return rc;
    /* The walk happens in the new mapping: the reader moves only once the
     * record is found there (a failed seek leaves it where it was).
     * Records before the segment's checkpoint need not be walked: it says
     * where the record it names begins; nor, below it, those before the
     * entry of the segment's index (within what may be read: a seek never
     * lands past the readable end). */
    uint64_t pos = DL_SEG_HEADER_SIZE, next = m.first_seq;
    uint64_t end = readable_end(r);
    if ((m.hdr.flags & DL_SEG_F_CKPT) && seq >= m.hdr.ckpt_seq &&
        m.hdr.ckpt_off <= seg_limit(&m)) {
        pos = m.hdr.ckpt_off;
        next = m.hdr.ckpt_seq;
    } else if (seq <= end && seq > m.first_seq) {
        /* Not for a segment's first record (where a reader opens, and
         * where a seek by time starts): building an index would read the
         * whole segment to walk no record. */
        index_start(r, &m, DL_INDEX_BY_SEQ, seq, &pos, &next);
    }
    struct dl_rec_view v;
    struct dl_seg_fmt f = dl_segmap_fmt(&m);
    while (next < seq && next < end) {
        if (pos + dl_rec_header_size(f.version) > seg_limit(&m))
            dl_seg_refresh_size(&m);
        if (pos >= seg_limit(&m) ||
            dl_rec_peek(&f, m.map + pos, seg_limit(&m) - pos, next, &v) != DL_REC_VALID ||
            v.seq != next)
            break;
        pos += v.size;
        next++;
    }
    /* A walk that faulted read zero pages: the reader fails for good (the
     * caller's seg_fault says so), there. */
    if (next != seq && !dl_guard_faulted(m.guard)) {
        dl_seg_close(&m);
        return rfail(r, DURLOG_ENOTFOUND, "record %llu is past the end of %s "
                     "(the next record there is %llu)", (unsigned long long)seq, r->path,
                     (unsigned long long)next);
    }
    switch_to(r, &m);
    r->pos = pos;
    r->next_seq = next;
    return 0;
}

int durlog_reader_seek(durlog_reader *r, uint64_t seq)
{
    if (!r)
        return -EINVAL;
    if (r->fault_rc)
        return r->fault_rc;
    relook(r, 1);
    r->sought = 1;
    int rc = position_at(r, seq);
    return seg_fault(r) ? r->fault_rc : rc;
}

int dl_reader_dirfd(const durlog_reader *r)
{
    return r->dirfd;
}

const char *dl_reader_path(const durlog_reader *r)
{
    return r->path;
}

char *dl_reader_errbuf(durlog_reader *r, size_t *size)
{
    *size = sizeof r->errmsg;
    return r->errmsg;
}

int dl_reader_fail(durlog_reader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

int dl_reader_where(const durlog_reader *r, uint64_t *seg_first, uint64_t *offset)
{
    if (r->seg.fd < 0)
        return -ENOENT;
    *seg_first = r->seg.first_seq;
    *offset = r->pos;
    return 0;
}

static int next_record(durlog_reader *r, durlog_record *rec);

/* Seeking by time, within one segment: from the reader's position (in the
 * segment that can hold the answer, dl_seg_search_time), steps forward to
 * the first record with time >= time_ns and stops before it. Each record on
 * the way is read as durlog_reader_next reads it (checked; damage is
 * DURLOG_ECORRUPT unless skip_damaged; a roll is followed), so no record is
 * ever passed over unchecked. DURLOG_EEND: no such record yet, the reader
 * is at the end. A sparse index of the segment would only change where the
 * walk starts (the last indexed record below time_ns: its seq and offset),
 * not what it returns. */
static int walk_to_time(durlog_reader *r, uint64_t time_ns)
{
    durlog_record rec;
    for (;;) {
        uint64_t time_before = r->last_time_ns;
        int rc = next_record(r, &rec);
        if (rc)
            return rc;
        if (rec.time_ns >= time_ns) {
            /* Not consumed: the record is the one just before the position,
             * in the segment the reader is in. */
            r->pos -= dl_rec_size_v(r->seg.hdr.version, rec.len);
            r->next_seq--;
            r->last_time_ns = time_before;
            return 0;
        }
    }
}

int durlog_reader_seek_time(durlog_reader *r, uint64_t time_ns)
{
    if (!r)
        return -EINVAL;
    if (r->fault_rc)
        return r->fault_rc;
    relook(r, 1);
    int rc;
    /* A trim (retention) may remove the segment the search chose before it
     * is opened: segments go oldest first, so the log then starts later,
     * and a new search over what is left answers. A few tries: each one
     * means a trim ran meanwhile. */
    for (int tries = 0;; tries++) {
        uint64_t *segs;
        size_t n;
        rc = dl_seg_list(r->dirfd, &segs, &n);
        if (rc)
            return rfail(r, rc, "cannot list the segments of %s: %s", r->path,
                         durlog_strerror(rc));
        uint64_t start = n ? segs[dl_seg_search_time(r->dirfd, r->path, segs, n, time_ns)]
                           : 0;
        free(segs);
        rc = position_at(r, start);
        if (tries < DL_SEEK_TIME_TRIES &&
            (rc == -ENOENT || rc == DURLOG_ENOTFOUND || rc == DURLOG_ETRIMMED))
            continue;
        break;
    }
    if (!rc && r->seg.fd >= 0) {
        /* The segment's sparse index (checked against the record it names)
         * lets the walk start at its last entry before time_ns: every
         * record before that entry is earlier still (times never decrease
         * within a segment). */
        uint64_t pos, seq;
        index_start(r, &r->seg, DL_INDEX_BY_TIME, time_ns, &pos, &seq);
        if (seq > r->next_seq && seq <= readable_end(r)) {
            r->pos = pos;
            r->next_seq = seq;
            r->last_time_ns = 0; /* not known at the new position */
        }
    }
    if (!rc)
        rc = walk_to_time(r, time_ns);
    if (rc == DURLOG_EEND)
        rc = 0; /* past the last record: at the end, following new ones */
    return seg_fault(r) ? r->fault_rc : rc;
}

/* If a segment is named for the record we expect (the writer rolled), moves
 * there and returns 1; 0 if there is none; an error (with a message) if
 * there is one the reader cannot open: that is never the end of the log. */
static int follow_roll(durlog_reader *r)
{
    struct dl_segmap m;
    char err[DL_ERRMSG_SIZE];
    int rc = dl_seg_open(r->dirfd, r->path, r->next_seq, 0, &m, err, sizeof err);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return rfail(r, rc, "%s", err);
    if (r->seg.fd >= 0 && m.first_seq == r->seg.first_seq) {
        struct dl_stat a, b;
        /* The same segment: nothing new, unless at its start a different
         * inode says the writer replaced an empty segment with a bigger one. */
        if (r->pos != DL_SEG_HEADER_SIZE ||
            (dl_stat_fd(m.fd, &a) == 0 && dl_stat_fd(r->seg.fd, &b) == 0 && a.ino == b.ino)) {
            dl_seg_close(&m);
            return 0;
        }
    }
    switch_to(r, &m);
    return 1;
}

/* Steps past damage at the reader's position: to the next good record in
 * this segment, else to the next segment. Returns 0, DURLOG_EEND when
 * nothing follows, or an error (a segment it cannot open). */
static int skip_damage(durlog_reader *r)
{
    struct dl_rec_view v;
    struct dl_seg_fmt f = dl_segmap_fmt(&r->seg);
    uint64_t limit = seg_limit(&r->seg);
    uint64_t off = dl_scan_resync(&f, r->seg.map, r->pos, r->pos + dl_rec_align(f.version),
                                  limit, limit, r->next_seq, r->last_time_ns, &v);
    if (off != UINT64_MAX) {
        r->skipped += off - r->pos;
        r->pos = off;
        r->next_seq = v.seq;
        return 0;
    }
    uint64_t next;
    int rc = next_segment(r, r->seg.first_seq, &next);
    if (rc)
        return rc;
    if (next == DL_NO_SEGMENT)
        return DURLOG_EEND;
    struct dl_segmap m;
    rc = open_segment(r, next, &m);
    if (rc)
        return rc;
    r->skipped += limit > r->pos ? limit - r->pos : 0;
    switch_to(r, &m);
    return 0;
}

/* 1 if record next_seq is where the reader is (or in a segment named for
 * it, which it moves to), 0 if not, or an error. */
static int record_now_here(durlog_reader *r)
{
    struct dl_rec_view v;
    dl_seg_refresh_size(&r->seg);
    uint64_t limit = seg_limit(&r->seg);
    struct dl_seg_fmt f = dl_segmap_fmt(&r->seg);
    if (r->pos < limit &&
        dl_rec_check(&f, r->seg.map + r->pos, limit - r->pos, r->next_seq, &v) == DL_REC_VALID &&
        v.seq == r->next_seq)
        return 1;
    return follow_roll(r);
}

/* The live coordination file says records up to `end` were appended (its
 * published mark), and the log holds none from next_seq on: either a
 * segment lost them, or the mark is not the writers' (someone wrote into
 * the file). Records are published only after they are in the segment, so
 * a writer never makes this happen. */
static int shm_promised_more(durlog_reader *r, uint64_t end)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, r->seg.first_seq);
    return rfail(r, DURLOG_ECORRUPT, "%s: record %llu is missing: %s says records below "
                 "%llu were appended, but %s ends at byte offset %llu, before it (a segment "
                 "lost records, or someone else wrote into %s); run `durlog check %s`",
                 r->path, (unsigned long long)r->next_seq, DL_SHM_NAME,
                 (unsigned long long)end, name, (unsigned long long)r->pos, DL_SHM_NAME,
                 r->path);
}

/* The reader found no record `next_seq` where it is, and no segment named
 * for it. Decides whether that is the end of the log (DURLOG_EEND), or
 * damage (DURLOG_ECORRUPT, with a message naming what is missing), or
 * returns 1 to look again (skip_damaged stepped past it). */
static int no_record_here(durlog_reader *r, enum dl_rec_status st, uint64_t end)
    __attribute__((warn_unused_result));
static int no_record_here(durlog_reader *r, enum dl_rec_status st, uint64_t end)
{
    char name[DL_SEG_NAME_LEN + 1], err[DL_ERRMSG_SIZE];
    uint64_t limit = seg_limit(&r->seg);
    struct dl_rec_view v;
    struct dl_seg_header h;
    int rc;

    /* The file is now shorter than what the reader already read of it:
     * someone truncated it (logrotate's copytruncate, a clean-up script). */
    dl_seg_refresh_size(&r->seg);
    if (r->seg.size < r->pos) {
        dl_seg_name(name, r->seg.first_seq);
        return rfail(r, DURLOG_ECORRUPT, "%s/%s was truncated by someone else while "
                     "being read: it is %llu bytes now, and record %llu was at byte "
                     "offset %llu; run `durlog check %s`", r->path, name,
                     (unsigned long long)r->seg.size, (unsigned long long)r->next_seq,
                     (unsigned long long)r->pos, r->path);
    }
    limit = seg_limit(&r->seg);
    /* The log starts past the record now: a trim removed the segment that
     * held it (the reader finished the removed one it had open). */
    rc = check_trimmed(r);
    if (rc)
        return rc;

    /* Something after it in this segment? Then this is damage, not an end. */
    struct dl_seg_fmt f = dl_segmap_fmt(&r->seg);
    int more_here = st == DL_REC_VALID ||
                    dl_scan_resync(&f, r->seg.map, r->pos, r->pos + dl_rec_align(f.version),
                                   limit, limit, r->next_seq, r->last_time_ns,
                                   &v) != UINT64_MAX;
    /* The segment's checkpoint (written since we opened it, perhaps) says
     * which records it holds at least; without a live coordination file, one
     * built on this boot for this log says how many its writers published
     * (a lower bound: an older copy says less, never more). Less than that
     * is damage, not the end of the log. */
    int short_of_promise = dl_seg_read_header(r->dirfd, r->path, r->seg.first_seq, &h, NULL,
                                              err, sizeof err) == 0 &&
                           (h.flags & DL_SEG_F_CKPT) && r->next_seq < h.ckpt_seq;
    uint64_t shm_mark = end; /* what the coordination file promised */
    if (!short_of_promise && end == UINT64_MAX && r->sh &&
        dl_shm_valid_for(r->sh, r->dirfd) == 1) {
        shm_mark = atomic_load(&r->sh->published_seq);
        short_of_promise = r->next_seq < shm_mark;
    }
    uint64_t later = DL_NO_SEGMENT;
    if (!more_here && !short_of_promise && end == UINT64_MAX) {
        rc = next_segment(r, r->seg.first_seq, &later);
        if (rc)
            return rc;
        if (later == DL_NO_SEGMENT)
            return DURLOG_EEND; /* the end of the data (maybe a torn tail) */
    }
    /* Whatever said more records exist (a checkpoint, a published mark, a
     * later segment, a later record in this segment) was looked at after
     * the record: a writer may have appended it in between. Written before
     * any of those, it is there now, if it was appended at all. */
    rc = record_now_here(r);
    if (rc)
        return rc;
    if (r->opts.skip_damaged) {
        rc = skip_damage(r);
        return rc ? rc : 1;
    }
    dl_seg_name(name, r->seg.first_seq);
    int at_end = st == DL_REC_EMPTY && !more_here;
    if (at_end && later == DL_NO_SEGMENT)
        next_segment(r, r->seg.first_seq, &later);
    if (at_end && later != DL_NO_SEGMENT && later > r->next_seq)
        return rfail(r, DURLOG_ECORRUPT, "%s: records %llu to %llu are missing (no "
                     "segment file holds them; the next segment starts at record "
                     "%llu); run `durlog check %s`", r->path,
                     (unsigned long long)r->next_seq, (unsigned long long)later - 1,
                     (unsigned long long)later, r->path);
    if (at_end && later == DL_NO_SEGMENT && r->next_seq < shm_mark && shm_mark != UINT64_MAX)
        return shm_promised_more(r, shm_mark);
    if (at_end)
        return rfail(r, DURLOG_ECORRUPT, "%s: record %llu is missing: %s/%s ends at byte "
                     "offset %llu, before it; run `durlog check %s`", r->path,
                     (unsigned long long)r->next_seq, r->path, name,
                     (unsigned long long)r->pos, r->path);
    return rfail(r, DURLOG_ECORRUPT, "%s/%s: damaged record at byte offset %llu "
                 "(expected record %llu); run `durlog check %s`", r->path, name,
                 (unsigned long long)r->pos, (unsigned long long)r->next_seq, r->path);
}

/* Checks the record at the reader's position in a copy in the reader's
 * buffer (see rec_buf). Returns its status, or -ENOMEM. */
static int copy_record(durlog_reader *r, uint64_t limit, struct dl_rec_view *v)
{
    const unsigned char *p = r->seg.map + r->pos;
    uint64_t avail = limit - r->pos;
    struct dl_seg_fmt f = dl_segmap_fmt(&r->seg);
    if (avail >= dl_rec_header_size(f.version)) {
        uint64_t len = dl_rec_len_at(f.version, p);
        uint64_t size = dl_rec_size_v(f.version, len);
        if (len <= DURLOG_MAX_RECORD && size <= avail) {
            if (size > r->rec_cap) {
                size_t cap = r->rec_cap ? r->rec_cap : DL_READER_BUF_MIN;
                while (cap < size)
                    cap *= 2;
                unsigned char *nb = realloc(r->rec_buf, cap);
                if (!nb)
                    return rfail(r, -ENOMEM, "out of memory for a record of %llu bytes",
                                 (unsigned long long)len);
                r->rec_buf = nb;
                r->rec_cap = cap;
            }
            memcpy(r->rec_buf, p, size);
            return dl_rec_check(&f, r->rec_buf, size, r->next_seq, v);
        }
    }
    /* Not a whole record within the data (the end, or damage): nothing is
     * returned from it, only its status. */
    return dl_rec_check(&f, p, avail, r->next_seq, v);
}

static int next_record(durlog_reader *r, durlog_record *rec);

int durlog_reader_next(durlog_reader *r, durlog_record *rec)
{
    if (!r)
        return -EINVAL;
    if (!rec)
        return rfail(r, -EINVAL, "durlog_reader_next: NULL record");
    if (r->fault_rc)
        return r->fault_rc;
    int rc = next_record(r, rec);
    /* The mark, inline (one load); the message only when it is set. */
    if (__builtin_expect(dl_guard_faulted(r->seg.guard), 0) || r->seg.fd < 0)
        return seg_fault(r) ? r->fault_rc : rc;
    return rc;
}

static int next_record(durlog_reader *r, durlog_record *rec)
{
    struct dl_rec_view v;
    int rc;

    if (r->seg.fd < 0) {
        relook(r, 0);
        rc = position_at(r, r->next_seq);
        /* A reader that has not been told where to start begins at the
         * first record, wherever the log starts. */
        if (rc == DURLOG_ENOTFOUND || (rc == DURLOG_ETRIMMED && !r->sought && r->next_seq == 0)) {
            /* A log that starts later than 0: begin at its first record. */
            uint64_t first;
            rc = next_segment(r, DL_NO_SEGMENT, &first);
            if (rc)
                return rc;
            if (first != DL_NO_SEGMENT && first > r->next_seq)
                rc = position_at(r, first);
            else
                rc = r->seg.fd < 0 ? DURLOG_EEND : DURLOG_ENOTFOUND;
        }
        if (rc)
            return rc;
        if (r->seg.fd < 0)
            return DURLOG_EEND;
    }
    for (int relooked = 0;;) {
        uint64_t end = readable_end(r);
        /* A mark past every sequence number is no writer's. */
        if (end != UINT64_MAX && end >= DL_SEQ_LIMIT)
            return shm_promised_more(r, end);
        if (r->next_seq >= end) {
            /* At the end the live file gives: is it still live? If the file
             * was emptied under us, its marks read as zero now, which says
             * nothing: look again at once (by checksums, or at the file
             * rebuilt since). */
            int lost = r->live && dl_shm_lost(r->sh_guard);
            if (!relooked || lost) {
                relook(r, lost);
                relooked = 1;
                continue;
            }
            return DURLOG_EEND;
        }
        /* Within the mapping only: a file grown past its capacity (by
         * someone else) has nothing of the log there. */
        uint32_t version = r->seg.hdr.version;
        if (r->pos + dl_rec_header_size(version) > seg_limit(&r->seg) ||
            r->pos + dl_rec_size_at(version, r->seg.map + r->pos) > seg_limit(&r->seg))
            dl_seg_refresh_size(&r->seg);
        uint64_t limit = seg_limit(&r->seg);
        int got = r->pos < limit ? copy_record(r, limit, &v) : DL_REC_EMPTY;
        if (got < 0)
            return got;
        enum dl_rec_status st = (enum dl_rec_status)got;
        if (st == DL_REC_VALID && v.seq == r->next_seq) {
            rec->data = v.payload;
            rec->len = v.len;
            rec->seq = v.seq;
            rec->time_ns = v.time_ns;
            r->last_time_ns = v.time_ns;
            r->pos += v.size;
            r->next_seq++;
            return 0;
        }
        if (st != DL_REC_VALID) {
            rc = follow_roll(r);
            if (rc < 0)
                return rc;
            if (rc == 1)
                continue;
        }
        if (!relooked && end == UINT64_MAX) {
            /* Without a live file: perhaps a writer has just built one. */
            relook(r, 1);
            relooked = 1;
            continue;
        }
        rc = no_record_here(r, st, end);
        if (rc == 1)
            continue;
        if (rc == DURLOG_EEND && !relooked) {
            relook(r, 0);
            relooked = 1;
            continue;
        }
        return rc;
    }
}

int durlog_reader_get_info(durlog_reader *r, durlog_info *out)
{
    struct dl_dir_stats ds;
    if (!r)
        return -EINVAL;
    if (!out)
        return rfail(r, -EINVAL, "durlog_reader_get_info: NULL result");
    /* A live coordination file says which records were published: the
     * walk of the tail stops there (what follows may be being copied). */
    struct dl_dir_hint hint = DL_DIR_HINT_NONE;
    relook(r, 1);
    uint64_t pub = r->live ? atomic_load(&r->sh->published_seq) : UINT64_MAX;
    hint.stop_seq = pub;
    int rc = dl_dir_stats(r->dirfd, r->path, &hint, &ds, r->errmsg, sizeof r->errmsg);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->segments = ds.segments;
    out->bytes = ds.bytes;
    out->disk_bytes = ds.disk_bytes;
    out->missing = ds.missing;
    out->first_seq = ds.first_seq;
    out->next_seq = ds.next_seq;
    if (r->live) {
        if (pub < out->next_seq)
            out->next_seq = pub; /* a record being copied right now */
        out->durable_seq = atomic_load(&r->sh->durable_seq);
    } else {
        out->durable_seq = r->proven_durable = proven_durable(r);
    }
    if (out->durable_seq > out->next_seq)
        out->durable_seq = out->next_seq;
    if (!ds.segments)
        out->first_seq = out->next_seq;
    return 0;
}

/* How long a waiting reader sleeps without looking: bounds the wait when a
 * wake-up is lost (a writer killed between publishing and waking). */
#define DL_READER_NAP_NS DL_WAITQ_SLICE_NS
/* How often a reader without write access to the coordination file looks. */
#define DL_READER_POLL_NS 1000000u
/* How often a reader without a live coordination file looks. */
#define DL_READER_OFFLINE_POLL_NS 10000000u

static int record_available(durlog_reader *r)
{
    /* A view that faulted: let the caller look (durlog_reader_next looks
     * again at the file; this must not unmap it under durlog_reader_wait). */
    return readable_end(r) > r->next_seq || dl_shm_lost(r->sh_guard);
}

static int interrupted(durlog_reader *r)
{
    return rfail(r, -EINTR, "durlog_reader_wait interrupted (durlog_reader_interrupt)");
}

/* Sleeps up to ns on the reader's own word: 0, -EINTR (an interrupt came
 * before or during the sleep), or the error of a futex wait that failed. */
static int nap(durlog_reader *r, uint64_t ns, uint64_t ticket)
{
    uint32_t seen = atomic_load(&r->intr_word);
    int rc = dl_intr_check(&r->intr, ticket);
    if (rc)
        return interrupted(r);
    rc = dl_futex_wait(&r->intr_word, seen, ns);
    if (rc)
        return rfail(r, rc, "waiting for records of %s: futex: %s", r->path,
                     durlog_strerror(rc));
    return dl_intr_check(&r->intr, ticket) ? interrupted(r) : 0;
}

int durlog_reader_wait(durlog_reader *r, int timeout_ms)
{
    if (!r)
        return -EINVAL;
    if (timeout_ms < -1)
        return rfail(r, -EINVAL, "timeout of %d ms (-1 for no limit, else 0 or more)",
                     timeout_ms);
    uint64_t ticket = dl_intr_ticket(&r->intr);
    uint64_t start = dl_mono_ns();
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
                      : start + (uint64_t)timeout_ms * DL_NS_PER_MS;
    relook(r, 0);
    if (!r->live) {
        /* Nothing says when records arrive. Let the caller look
         * (durlog_reader_next) after a short sleep. */
        uint64_t left = deadline - start;
        return left ? nap(r, left < DL_READER_OFFLINE_POLL_NS ? left
                                : DL_READER_OFFLINE_POLL_NS, ticket) : 0;
    }
    if (r->opts.spin_us) {
        uint64_t until = start + (uint64_t)r->opts.spin_us * DL_NS_PER_US;
        if (until > deadline)
            until = deadline;
        do {
            for (int i = 0; i < 64; i++) {
                if (record_available(r))
                    return 0;
                dl_cpu_relax();
            }
            /* A spin is a wait too: an interrupt ends it now, not when
             * spin_us runs out (a timeout of 0 never takes one). */
            if (timeout_ms != 0 && dl_intr_check(&r->intr, ticket))
                return interrupted(r);
        } while (dl_mono_ns() < until);
    }
    struct dl_shared *w = r->sh;
    int durable = r->opts.durable_only;
    struct dl_waitq *q = durable ? &w->durable : &w->published;
    for (;;) {
        uint32_t seen = atomic_load(&q->event);
        if (record_available(r))
            return 0;
        uint64_t now = dl_mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        /* The writers may have left, or the file been replaced: then the
         * caller must look by checksums. */
        relook(r, 0);
        if (!r->live || r->sh != w)
            return 0;
        uint64_t slice = r->sh_writable ? DL_READER_NAP_NS : DL_READER_POLL_NS;
        if (deadline - now < slice)
            slice = deadline - now;
        if (r->sh_writable) {
            /* Counted first, then looked again (both sequentially
             * consistent): a writer publishing meanwhile either sees the
             * count and wakes us, or we see its record. The word is
             * announced to interrupters before the interrupt is looked at:
             * one coming after that look bumps the word, and the sleep
             * returns at once. */
            atomic_store(&r->sleep_word, &q->event);
            uint32_t count = dl_waitq_enter(q);
            int rc = 0, frc = 0;
            if (!record_available(r) && !(rc = dl_intr_check(&r->intr, ticket)))
                frc = dl_waitq_sleep(q, seen, slice);
            dl_waitq_leave(q, count);
            atomic_store(&r->sleep_word, NULL);
            if (rc)
                return interrupted(r);
            if (frc)
                return rfail(r, frc, "waiting for records of %s: futex: %s", r->path,
                             durlog_strerror(frc));
        } else {
            int rc = nap(r, slice, ticket);
            if (rc)
                return rc;
        }
    }
}

int durlog_reader_interrupt(durlog_reader *r)
{
    if (!r)
        return -EINVAL;
    dl_intr_raise(&r->intr);
    atomic_fetch_add(&r->intr_word, 1);
    dl_futex_wake(&r->intr_word);
    /* The word of the coordination file a wait sleeps on, if any. The
     * reader's thread does not unmap it while intr_busy says it is in use
     * (detach_shared); other waits on it (any process) wake up, look, and
     * sleep again. */
    atomic_fetch_add(&r->intr_busy, 1);
    _Atomic uint32_t *word = atomic_load(&r->sleep_word);
    if (word) {
        atomic_fetch_add(word, 1);
        dl_futex_wake(word);
    }
    atomic_fetch_sub(&r->intr_busy, 1);
    return 0;
}

uint64_t durlog_reader_skipped(const durlog_reader *r)
{
    return r ? r->skipped : 0;
}

const char *durlog_reader_errmsg(const durlog_reader *r)
{
    if (!r)
        return "invalid argument: NULL reader";
    return r->errmsg[0] ? r->errmsg : "no error";
}
