/*
 * index.c - the sparse index of a segment's checkpointed records (index.h): building it from
 * the records, its side file's bytes (docs/FORMAT.md), reading and writing
 * that file, and the lookup a seek by number or by time starts from.
 *
 * Nothing here is trusted: the side file is checked whole (checksum,
 * identity, entries in order and inside the segment) before it is used, and
 * the one entry a lookup picks is used only once the record it names checks
 * at its offset. An index can only make a seek faster, never return another
 * record: whatever is wrong with it, the walk from the segment's start is
 * what remains.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "durlog.h"
#include "guard.h"
#include "index.h"
#include "os.h"
#include "segment.h"

void dl_index_name(char *buf, uint64_t first_seq)
{
    dl_seg_name(buf, first_seq);
    memcpy(buf + DL_SEG_NAME_LEN, DL_IDX_SUFFIX, sizeof DL_IDX_SUFFIX);
}

int dl_index_id_of(const struct dl_seg_header *h, struct dl_index_id *id)
{
    unsigned char raw[DL_SEG_HEADER_SIZE];
    if (!(h->flags & DL_SEG_F_CKPT))
        return -EINVAL;
    dl_seg_header_encode(raw, h);
    *id = (struct dl_index_id){ h->first_seq, h->ckpt_seq, h->ckpt_off, h->created_ns,
                                h->capacity, dl_get32(raw + DL_SEGH_CRC) };
    return 0;
}

void dl_index_free(struct dl_index *ix)
{
    free(ix->e);
    *ix = (struct dl_index)DL_INDEX_INIT;
}

static int add_entry(struct dl_index *ix, uint32_t *cap, uint64_t seq, uint64_t off,
                     uint64_t time_ns)
{
    if (ix->count == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 64;
        struct dl_index_entry *ne = realloc(ix->e, ncap * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        ix->e = ne;
        *cap = ncap;
    }
    ix->e[ix->count++] = (struct dl_index_entry){ seq, off, time_ns };
    return 0;
}

int dl_index_build(const struct dl_segmap *m, struct dl_index *out)
{
    struct dl_index ix = DL_INDEX_INIT;
    int rc = dl_index_id_of(&m->hdr, &ix.id);
    if (rc)
        return rc;
    ix.stride = DL_IDX_STRIDE;
    struct dl_seg_fmt f = dl_segmap_fmt(m);
    uint64_t limit = m->size < m->capacity ? m->size : m->capacity;
    if (ix.id.end_off < limit)
        limit = ix.id.end_off;
    uint64_t off = DL_SEG_HEADER_SIZE, seq = ix.id.first_seq, next_mark = 0;
    uint32_t cap = 0;
    struct dl_rec_view v;
    while (seq < ix.id.end_seq && off < limit && ix.count < DL_IDX_MAX_ENTRIES) {
        int entry = off >= next_mark;
        /* An entry's record is checked whole, the others by structure: a
         * damaged record under an entry would only make lookups fall back,
         * but there is no point writing one down. */
        enum dl_rec_status st = entry ? dl_rec_check(&f, m->map + off, limit - off, seq, &v)
                                      : dl_rec_peek(&f, m->map + off, limit - off, seq, &v);
        if (st != DL_REC_VALID || v.seq != seq)
            break;
        if (entry) {
            rc = add_entry(&ix, &cap, seq, off, v.time_ns);
            if (rc) {
                dl_index_free(&ix);
                return rc;
            }
            next_mark = off + DL_IDX_STRIDE;
        }
        off += v.size;
        seq++;
    }
    /* A load that faulted read zero pages, not the segment. */
    if (dl_guard_faulted(m->guard)) {
        dl_index_free(&ix);
        return -EIO;
    }
    *out = ix;
    return 0;
}

int dl_index_encode(const struct dl_index *ix, unsigned char **buf, size_t *len)
{
    size_t n = DL_IDX_HEADER_SIZE + (size_t)ix->count * DL_IDX_ENTRY_SIZE + DL_IDX_TRAILER_SIZE;
    unsigned char *b = calloc(1, n);
    if (!b)
        return -ENOMEM;
    memcpy(b + DL_IDXH_MAGIC, DL_IDX_MAGIC, 8);
    dl_put32(b + DL_IDXH_VERSION, DL_IDX_VERSION);
    dl_put32(b + DL_IDXH_COUNT, ix->count);
    dl_put64(b + DL_IDXH_FIRST, ix->id.first_seq);
    dl_put64(b + DL_IDXH_END_SEQ, ix->id.end_seq);
    dl_put64(b + DL_IDXH_END_OFF, ix->id.end_off);
    dl_put64(b + DL_IDXH_CREATED, ix->id.created_ns);
    dl_put64(b + DL_IDXH_CAPACITY, ix->id.capacity);
    dl_put32(b + DL_IDXH_SEG_CRC, ix->id.seg_crc);
    dl_put32(b + DL_IDXH_STRIDE, ix->stride);
    for (uint32_t i = 0; i < ix->count; i++) {
        unsigned char *p = b + DL_IDX_HEADER_SIZE + (size_t)i * DL_IDX_ENTRY_SIZE;
        dl_put64(p + DL_IDXE_SEQ, ix->e[i].seq);
        dl_put64(p + DL_IDXE_OFF, ix->e[i].off);
        dl_put64(p + DL_IDXE_TIME, ix->e[i].time_ns);
    }
    dl_put32(b + n - DL_IDX_TRAILER_SIZE, dl_crc32c(0, b, n - DL_IDX_TRAILER_SIZE));
    *buf = b;
    *len = n;
    return 0;
}

int dl_index_decode(const unsigned char *buf, size_t len, const struct dl_index_id *want,
                    struct dl_index *out)
{
    struct dl_index ix = DL_INDEX_INIT;
    if (len < DL_IDX_HEADER_SIZE + DL_IDX_TRAILER_SIZE || memcmp(buf, DL_IDX_MAGIC, 8) != 0)
        return DURLOG_EFORMAT;
    if (dl_get32(buf + DL_IDXH_VERSION) != DL_IDX_VERSION)
        return DURLOG_EFORMAT;
    ix.count = dl_get32(buf + DL_IDXH_COUNT);
    if (ix.count > DL_IDX_MAX_ENTRIES ||
        len != DL_IDX_HEADER_SIZE + (size_t)ix.count * DL_IDX_ENTRY_SIZE + DL_IDX_TRAILER_SIZE ||
        dl_get32(buf + len - DL_IDX_TRAILER_SIZE) != dl_crc32c(0, buf, len - DL_IDX_TRAILER_SIZE))
        return DURLOG_ECORRUPT;
    ix.id = (struct dl_index_id){ dl_get64(buf + DL_IDXH_FIRST), dl_get64(buf + DL_IDXH_END_SEQ),
                                  dl_get64(buf + DL_IDXH_END_OFF),
                                  dl_get64(buf + DL_IDXH_CREATED),
                                  dl_get64(buf + DL_IDXH_CAPACITY),
                                  dl_get32(buf + DL_IDXH_SEG_CRC) };
    ix.stride = dl_get32(buf + DL_IDXH_STRIDE);
    /* The same checks a segment header gets: an index claiming a segment no
     * header could describe is damage. */
    if (ix.id.first_seq >= DL_SEQ_LIMIT || ix.id.end_seq < ix.id.first_seq ||
        ix.id.end_seq > DL_SEQ_LIMIT || ix.id.capacity > DL_SEG_MAX_CAPACITY ||
        ix.id.end_off < DL_SEG_HEADER_SIZE || ix.id.end_off > ix.id.capacity)
        return DURLOG_ECORRUPT;
    if (want && (ix.id.first_seq != want->first_seq || ix.id.end_seq != want->end_seq ||
                 ix.id.end_off != want->end_off || ix.id.created_ns != want->created_ns ||
                 ix.id.capacity != want->capacity || ix.id.seg_crc != want->seg_crc))
        return -ESTALE;
    if (ix.count) {
        ix.e = malloc((size_t)ix.count * sizeof *ix.e);
        if (!ix.e)
            return -ENOMEM;
    }
    for (uint32_t i = 0; i < ix.count; i++) {
        const unsigned char *p = buf + DL_IDX_HEADER_SIZE + (size_t)i * DL_IDX_ENTRY_SIZE;
        struct dl_index_entry e = { dl_get64(p + DL_IDXE_SEQ), dl_get64(p + DL_IDXE_OFF),
                                    dl_get64(p + DL_IDXE_TIME) };
        /* Inside the segment's records, and in order: numbers and offsets
         * increase, times never decrease (the binary search relies on it). */
        int ok = e.seq >= ix.id.first_seq && e.seq < ix.id.end_seq &&
                 e.off >= DL_SEG_HEADER_SIZE && e.off < ix.id.end_off;
        if (ok && i > 0)
            ok = e.seq > ix.e[i - 1].seq && e.off > ix.e[i - 1].off &&
                 e.time_ns >= ix.e[i - 1].time_ns;
        if (!ok) {
            dl_index_free(&ix);
            return DURLOG_ECORRUPT;
        }
        ix.e[i] = e;
    }
    *out = ix;
    return 0;
}

/* The most bytes a side file may have (DL_IDX_MAX_ENTRIES). */
#define DL_IDX_MAX_FILE \
    (DL_IDX_HEADER_SIZE + (size_t)DL_IDX_MAX_ENTRIES * DL_IDX_ENTRY_SIZE + DL_IDX_TRAILER_SIZE)

int dl_index_load(int dirfd, const struct dl_index_id *want, struct dl_index *out)
{
    char name[DL_IDX_NAME_LEN + 1];
    struct dl_stat st;
    dl_index_name(name, want->first_seq);
    /* O_NONBLOCK: a FIFO planted under the name must not hang the reader. */
    int fd = dl_openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    int rc = dl_stat_fd(fd, &st);
    if (rc == 0 && (!S_ISREG(st.mode) || st.size > DL_IDX_MAX_FILE))
        rc = DURLOG_EFORMAT;
    unsigned char *buf = NULL;
    if (rc == 0 && !(buf = malloc(st.size ? st.size : 1)))
        rc = -ENOMEM;
    if (rc == 0)
        rc = dl_pread_all(fd, buf, st.size, 0);
    dl_close(fd);
    if (rc == 0)
        rc = dl_index_decode(buf, st.size, want, out);
    free(buf);
    return rc;
}

int dl_index_store(int dirfd, const struct dl_index *ix, mode_t mode)
{
    static _Atomic unsigned counter;
    char name[DL_IDX_NAME_LEN + 1], tmp[DL_IDX_NAME_LEN + 48];
    unsigned char *buf;
    size_t len;
    int rc = dl_index_encode(ix, &buf, &len);
    if (rc)
        return rc;
    dl_index_name(name, ix->id.first_seq);
    /* A name of this process's own: two readers building the same index at
     * once each write theirs, and the last rename wins (both are right).
     * One left by a process that died here is removed with the other
     * temporaries (dl_seg_remove_temps). */
    snprintf(tmp, sizeof tmp, "%s.%d-%u" DL_SEG_TMP_SUFFIX, name, (int)getpid(),
             counter++);
    int fd = dl_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       mode & 0666);
    if (fd < 0) {
        free(buf);
        return fd;
    }
    /* No fsync: a side file lost or torn by a crash is rebuilt, and a
     * checksum that does not match is how it is found torn. */
    rc = dl_write_all(fd, buf, len);
    free(buf);
    dl_close(fd);
    if (rc == 0)
        rc = dl_renameat(dirfd, tmp, name);
    if (rc)
        (void)dl_unlinkat(dirfd, tmp);
    return rc;
}

long dl_index_find(const struct dl_index *ix, int by, uint64_t key)
{
    /* The first entry past the key, by binary search; the one before it
     * is the answer. */
    size_t lo = 0, hi = ix->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int before = by == DL_INDEX_BY_TIME ? ix->e[mid].time_ns < key : ix->e[mid].seq <= key;
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

int dl_index_start(const struct dl_segmap *m, const struct dl_index *ix, int by, uint64_t key,
                   uint64_t *pos, uint64_t *seq)
{
    *pos = DL_SEG_HEADER_SIZE;
    *seq = m->first_seq;
    long i = dl_index_find(ix, by, key);
    if (i < 0)
        return 1;
    const struct dl_index_entry *e = &ix->e[i];
    uint64_t limit = m->size < m->capacity ? m->size : m->capacity;
    struct dl_seg_fmt f = dl_segmap_fmt(m);
    struct dl_rec_view v;
    /* The record must be there, whole, as that number, with that time: a
     * side file that says otherwise is not believed. */
    if (e->seq < m->first_seq || e->off < DL_SEG_HEADER_SIZE || e->off >= limit ||
        dl_rec_check(&f, m->map + e->off, limit - e->off, e->seq, &v) != DL_REC_VALID ||
        v.seq != e->seq || v.time_ns != e->time_ns || dl_guard_faulted(m->guard))
        return 2;
    *pos = e->off;
    *seq = e->seq;
    return 0;
}
