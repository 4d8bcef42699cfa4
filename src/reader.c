/*
 * reader.c - iterating over a log's records, possibly while writers append.
 *
 * A reader maps segments read-only and needs no write access anywhere. When
 * it can map the coordination file it reads published_seq to know which
 * records are complete; either way every record is checked against its CRC
 * before it is returned, so a reader never hands out bytes that differ from
 * what was appended, even without the coordination file (a copied log, a
 * directory it may not open files in).
 *
 * When the record expected next is not at the reader's position, the writer
 * has rolled to a new segment, which is named after exactly that sequence
 * number.
 *
 * A live reader sleeps in durlog_reader_wait on the futex words writers bump
 * when they publish (or when the durable mark moves, for a durable-only
 * reader): the same words, counts and wake-ups that durlog_wait uses, so a
 * reader in another process wakes within a futex wake-up of the append.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "os.h"
#include "scan.h"

struct durlog_reader {
    char *path;
    int dirfd;
    int shmfd;
    const struct dl_shared *sh;   /* NULL when not available */
    int sh_writable;              /* mapped read-write: may register as a
                                     waiter so that writers wake it */
    durlog_reader_options opts;
    struct dl_segmap seg;         /* current segment; fd < 0 before the first */
    uint64_t pos;                 /* offset of the next record in seg */
    uint64_t next_seq;            /* number of the next record to return */
    uint64_t skipped;
    char errmsg[DL_ERRMSG_SIZE];
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
    memset(opts, 0, sizeof *opts);
}

/* The coordination file, if a writer has built it; NULL otherwise. */
static const struct dl_shared *shared_view(const durlog_reader *r)
{
    const struct dl_shared *sh = r->sh;
    if (!sh || sh->magic != DL_SHM_MAGIC || sh->version != DL_SHM_VERSION ||
        !atomic_load(&((struct dl_shared *)sh)->ready))
        return NULL;
    return sh;
}

/* Records below this may be returned: those published to readers or, for
 * a durable-only reader, those also known to be on stable storage. */
static uint64_t published(const durlog_reader *r)
{
    const struct dl_shared *sh = shared_view(r);
    if (!sh)
        return UINT64_MAX;
    struct dl_shared *w = (struct dl_shared *)sh;
    uint64_t pub = atomic_load(&w->published_seq);
    if (r->opts.durable_only) {
        uint64_t durable = atomic_load(&w->durable_seq);
        if (durable < pub)
            pub = durable;
    }
    return pub;
}

static uint64_t seg_limit(const struct dl_segmap *s)
{
    return s->size < s->capacity ? s->size : s->capacity;
}

static int open_segment(durlog_reader *r, uint64_t first, struct dl_segmap *out)
{
    char err[256];
    int rc = dl_seg_open(r->dirfd, first, 0, out, err, sizeof err);
    if (rc)
        return rfail(r, rc, "%s/%s", r->path, err);
    return 0;
}

static void switch_to(durlog_reader *r, struct dl_segmap *m)
{
    dl_seg_close(&r->seg);
    r->seg = *m;
    r->pos = DL_SEG_HEADER_SIZE;
    r->next_seq = m->first_seq;
}

int durlog_reader_open(const char *path, const durlog_reader_options *opts,
                       durlog_reader **out)
{
    char *err = opts ? opts->errbuf : NULL;
    size_t errlen = opts ? opts->errbuf_size : 0;
    if (!path || !out) {
        dl_set_err(err, errlen, "durlog_reader_open: path and out are required");
        return DURLOG_EINVAL;
    }
    *out = NULL;
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
    r->dirfd = dl_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0);
    if (r->dirfd < 0) {
        int rc = r->dirfd;
        dl_set_err(err, errlen, "open log directory %s: %s", path, durlog_strerror(rc));
        free(r->path);
        free(r);
        return rc;
    }
    int unsafe = dl_log_dir_check(r->dirfd, path, err, errlen);
    if (unsafe) {
        durlog_reader_close(r);
        return unsafe;
    }
    /* Optional: without it the reader relies on checksums alone. */
    r->shmfd = dl_openat(r->dirfd, DL_SHM_NAME, O_RDONLY | O_NOFOLLOW, 0);
    if (r->shmfd == -ENOENT) {
        /* No coordination file: a log copied without it, or no log at all. */
        uint64_t *segs;
        size_t n;
        int rc = dl_seg_list(r->dirfd, &segs, &n);
        free(segs);
        if (rc == 0 && n == 0) {
            dl_set_err(err, errlen, "%s is not a durlog log (no segments, no %s)",
                       path, DL_SHM_NAME);
            durlog_reader_close(r);
            return DURLOG_EFORMAT;
        }
    }
    /* Read-write if allowed: a waiting reader counts itself in the shared
     * waiter counts, which is what makes writers call FUTEX_WAKE. A reader
     * with read access only follows the log by polling (see
     * durlog_reader_wait). */
    int fd = dl_openat(r->dirfd, DL_SHM_NAME, O_RDWR | O_NOFOLLOW, 0);
    if (fd >= 0) {
        dl_close(r->shmfd);
        r->shmfd = fd;
        r->sh_writable = 1;
    }
    if (r->shmfd >= 0) {
        struct stat st;
        void *p;
        int prot = r->sh_writable ? PROT_READ | PROT_WRITE : PROT_READ;
        if (fstat(r->shmfd, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_size >= DL_SHM_SIZE &&
            dl_mmap(DL_SHM_SIZE, prot, r->shmfd, 0, &p) == 0)
            r->sh = p;
        else
            r->sh_writable = 0;
    }
    *out = r;
    return 0;
}

void durlog_reader_close(durlog_reader *r)
{
    if (!r)
        return;
    dl_seg_close(&r->seg);
    if (r->sh)
        dl_munmap((void *)r->sh, DL_SHM_SIZE);
    dl_close(r->shmfd);
    dl_close(r->dirfd);
    free(r->path);
    free(r);
}

/* Opens the segment that holds `seq` (the last one starting at or before
 * it) and walks to it. Returns DURLOG_ENOTFOUND if seq is outside the log. */
static int position_at(durlog_reader *r, uint64_t seq)
{
    uint64_t *segs;
    size_t n, i;
    struct dl_segmap m;
    int rc = dl_seg_list(r->dirfd, &segs, &n);
    if (rc)
        return rfail(r, rc, "list segments of %s: %s", r->path, durlog_strerror(rc));
    if (n == 0) {
        free(segs);
        if (seq == 0 || seq == published(r)) {
            dl_seg_close(&r->seg);
            r->next_seq = seq;
            return 0;
        }
        return rfail(r, DURLOG_ENOTFOUND, "%s is empty", r->path);
    }
    if (seq < segs[0]) {
        rc = rfail(r, DURLOG_ENOTFOUND, "record %llu is before the log's first "
                   "record %llu", (unsigned long long)seq, (unsigned long long)segs[0]);
        free(segs);
        return rc;
    }
    for (i = n; i-- > 0;)
        if (segs[i] <= seq)
            break;
    uint64_t first = segs[i];
    free(segs);
    rc = open_segment(r, first, &m);
    if (rc)
        return rc;
    switch_to(r, &m);
    struct dl_rec_view v;
    while (r->next_seq < seq) {
        if (r->next_seq >= published(r))
            break;
        if (r->pos + DL_REC_HEADER_SIZE > r->seg.size)
            dl_seg_refresh_size(&r->seg);
        if (dl_rec_peek(r->seg.map + r->pos, seg_limit(&r->seg) - r->pos, &v) != DL_REC_VALID ||
            v.seq != r->next_seq)
            break;
        r->pos += v.size;
        r->next_seq++;
    }
    if (r->next_seq != seq)
        return rfail(r, DURLOG_ENOTFOUND, "record %llu is past the end of %s "
                     "(next record is %llu)", (unsigned long long)seq, r->path,
                     (unsigned long long)r->next_seq);
    return 0;
}

int durlog_reader_seek(durlog_reader *r, uint64_t seq)
{
    return position_at(r, seq);
}

/* If the writer has rolled to a segment named for the record we expect,
 * moves there and returns 1. */
static int follow_roll(durlog_reader *r)
{
    struct dl_segmap m;
    char err[256];
    if (dl_seg_open(r->dirfd, r->next_seq, 0, &m, err, sizeof err) != 0)
        return 0;
    if (r->seg.fd >= 0 && m.first_seq == r->seg.first_seq && r->pos == DL_SEG_HEADER_SIZE) {
        struct stat a, b;
        /* The same empty segment: nothing new. A different inode means the
         * writer replaced an empty segment with a bigger one. */
        if (fstat(m.fd, &a) == 0 && fstat(r->seg.fd, &b) == 0 && a.st_ino == b.st_ino) {
            dl_seg_close(&m);
            return 0;
        }
    } else if (r->seg.fd >= 0 && m.first_seq == r->seg.first_seq) {
        dl_seg_close(&m);
        return 0;
    }
    switch_to(r, &m);
    return 1;
}

/* Steps past damage at the reader's position: to the next good record in
 * this segment, else to the next segment. Returns 0 or DURLOG_EEND. */
static int skip_damage(durlog_reader *r)
{
    struct dl_rec_view v;
    uint64_t limit = seg_limit(&r->seg);
    uint64_t off = dl_scan_resync(r->seg.map, r->pos + DL_REC_ALIGN, limit, limit,
                                  r->next_seq, &v);
    if (off != UINT64_MAX) {
        r->skipped += off - r->pos;
        r->pos = off;
        r->next_seq = v.seq;
        return 0;
    }
    uint64_t *segs;
    size_t n;
    if (dl_seg_list(r->dirfd, &segs, &n) != 0)
        return DURLOG_EEND;
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (segs[i] > r->seg.first_seq) {
            next = segs[i];
            break;
        }
    free(segs);
    if (next == UINT64_MAX)
        return DURLOG_EEND;
    struct dl_segmap m;
    if (open_segment(r, next, &m) != 0)
        return DURLOG_EEND;
    r->skipped += limit > r->pos ? limit - r->pos : 0;
    switch_to(r, &m);
    return 0;
}

int durlog_reader_next(durlog_reader *r, durlog_record *rec)
{
    struct dl_rec_view v;
    char name[DL_SEG_NAME_LEN + 1];
    int rc;

    if (r->seg.fd < 0) {
        rc = position_at(r, r->next_seq);
        if (rc == DURLOG_ENOTFOUND) {
            /* A log that starts later than 0: begin at its first record. */
            uint64_t *segs;
            size_t n;
            if (dl_seg_list(r->dirfd, &segs, &n) == 0 && n > 0 && segs[0] > r->next_seq)
                rc = position_at(r, segs[0]);
            else if (r->seg.fd < 0)
                rc = DURLOG_EEND;
            free(segs);
        }
        if (rc)
            return rc;
        if (r->seg.fd < 0)
            return DURLOG_EEND;
    }
    for (;;) {
        uint64_t pub = published(r);
        if (r->next_seq >= pub)
            return DURLOG_EEND;
        if (r->pos + DL_REC_HEADER_SIZE > r->seg.size ||
            r->pos + dl_rec_size(dl_get32(r->seg.map + r->pos + DL_RECH_LEN)) > r->seg.size)
            dl_seg_refresh_size(&r->seg);
        uint64_t limit = seg_limit(&r->seg);
        enum dl_rec_status st = r->pos < limit
            ? dl_rec_check(r->seg.map + r->pos, limit - r->pos, &v) : DL_REC_EMPTY;
        if (st == DL_REC_VALID && v.seq == r->next_seq) {
            rec->data = v.payload;
            rec->len = v.len;
            rec->seq = v.seq;
            rec->time_ns = v.time_ns;
            r->pos += v.size;
            r->next_seq++;
            return 0;
        }
        if (st != DL_REC_VALID && follow_roll(r))
            continue;
        /* Nothing valid here. Without the coordination file, an empty or
         * unfinished record with nothing good after it is the current end. */
        if (pub == UINT64_MAX && st != DL_REC_VALID) {
            if (st == DL_REC_EMPTY)
                return DURLOG_EEND;
            uint64_t dirty = dl_scan_resync(r->seg.map, r->pos + DL_REC_ALIGN, limit,
                                            limit, r->next_seq, &v);
            if (dirty == UINT64_MAX)
                return DURLOG_EEND;
        }
        if (r->opts.skip_damaged) {
            rc = skip_damage(r);
            if (rc)
                return rc;
            continue;
        }
        dl_seg_name(name, r->seg.first_seq);
        return rfail(r, DURLOG_ECORRUPT, "%s/%s: damaged record at byte offset "
                     "%llu (expected record %llu); run `durlog check %s`",
                     r->path, name, (unsigned long long)r->pos,
                     (unsigned long long)r->next_seq, r->path);
    }
}

int durlog_reader_info(durlog_reader *r, durlog_info *out)
{
    struct dl_dir_stats ds;
    int rc = dl_dir_stats(r->dirfd, &ds);
    if (rc)
        return rfail(r, rc, "read segments of %s: %s", r->path, durlog_strerror(rc));
    memset(out, 0, sizeof *out);
    out->segments = ds.segments;
    out->bytes = ds.bytes;
    out->disk_bytes = ds.disk_bytes;
    out->first_seq = ds.first_seq;
    out->next_seq = ds.next_seq;
    const struct dl_shared *sh = shared_view(r);
    if (sh) {
        uint64_t pub = atomic_load(&((struct dl_shared *)sh)->published_seq);
        if (pub < out->next_seq)
            out->next_seq = pub; /* a record being copied right now */
        out->durable_seq = atomic_load(&((struct dl_shared *)sh)->durable_seq);
    } else if (r->opts.durable_only) {
        /* No coordination file: such a reader counts every intact record
         * as durable (see durable_only); say the same here. */
        out->durable_seq = out->next_seq;
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

static int record_available(const durlog_reader *r)
{
    return published(r) > r->next_seq;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

int durlog_reader_wait(durlog_reader *r, int timeout_ms)
{
    uint64_t start = dl_mono_ns();
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX
                      : start + (uint64_t)timeout_ms * 1000000u;
    const struct dl_shared *sh = shared_view(r);
    if (!sh) {
        /* No coordination file: nothing says when records arrive. Let the
         * caller look (durlog_reader_next) after a short sleep. */
        uint64_t nap = deadline - start < 10000000u ? deadline - start : 10000000u;
        struct timespec ts = { 0, (long)nap };
        nanosleep(&ts, NULL);
        return 0;
    }
    if (r->opts.spin_us) {
        uint64_t until = start + (uint64_t)r->opts.spin_us * 1000u;
        if (until > deadline)
            until = deadline;
        do {
            for (int i = 0; i < 64; i++) {
                if (record_available(r))
                    return 0;
                cpu_relax();
            }
        } while (dl_mono_ns() < until);
    }
    struct dl_shared *w = (struct dl_shared *)sh;
    int durable = r->opts.durable_only;
    struct dl_waitq *q = durable ? &w->durable : &w->published;
    for (;;) {
        uint32_t seen = atomic_load(&q->event);
        if (record_available(r))
            return 0;
        uint64_t now = dl_mono_ns();
        if (now >= deadline)
            return DURLOG_ETIMEDOUT;
        uint64_t nap = r->sh_writable ? DL_READER_NAP_NS : DL_READER_POLL_NS;
        if (deadline - now < nap)
            nap = deadline - now;
        if (r->sh_writable) {
            /* Counted first, then looked again (both sequentially
             * consistent): a writer publishing meanwhile either sees the
             * count and wakes us, or we see its record. */
            uint32_t ticket = dl_waitq_enter(q);
            if (!record_available(r))
                dl_waitq_sleep(q, seen, nap);
            dl_waitq_leave(q, ticket);
        } else {
            struct timespec ts = { 0, (long)nap };
            nanosleep(&ts, NULL);
        }
    }
}

uint64_t durlog_reader_skipped(const durlog_reader *r)
{
    return r->skipped;
}

const char *durlog_reader_errmsg(const durlog_reader *r)
{
    return r->errmsg[0] ? r->errmsg : "no error";
}
