/*
 * scan.c - segment scanning (see scan.h).
 */
#include "scan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "durlog.h"
#include "os.h"
#include "segment.h"
#include "shared.h"

/* Sequence numbers further than this past the expected one are not taken as
 * records when re-synchronising: stray bytes that happen to pass a CRC check
 * (one chance in 2^32) must also carry a plausible number. */
#define DL_RESYNC_SEQ_WINDOW ((uint64_t)1 << 40)

static uint64_t last_nonzero_end(const unsigned char *map, uint64_t from,
                                 uint64_t limit)
{
    uint64_t end = limit;
    while (end > from && (end & 7)) {
        if (map[end - 1])
            return end;
        end--;
    }
    while (end >= from + 8) {
        if (dl_get64(map + end - 8)) {
            while (map[end - 1] == 0)
                end--;
            return end;
        }
        end -= 8;
    }
    while (end > from && map[end - 1] == 0)
        end--;
    return end;
}

/* Checksums of a segment's prefixes from `base`, every DL_CRC_INDEX_STRIDE
 * bytes: the checksum of any range then costs two short passes (to its
 * ends from the nearest entries) and a shift, not a pass over the range.
 * Stray bytes after damage claim lengths of megabytes at thousands of
 * offsets, and checking each by a pass over its payload made
 * resynchronising over a damaged megabyte take hours. Built once the
 * checksums computed directly in this resync add up to what building it
 * costs (a pass from base to the limit): a resync that finds a large record
 * at its first offset (the records after damage, one call each) must not
 * pass over the rest of the segment for it. */
#define DL_CRC_INDEX_STRIDE 256

struct crc_index {
    const unsigned char *map;
    uint64_t base, limit;
    uint64_t direct;         /* bytes checksummed directly so far */
    uint32_t *sum;           /* sum[i]: dl_crc32c(0, map + base, i * stride) */
    int failed;              /* no memory: checksums computed directly */
};

static uint32_t crc_prefix(const struct crc_index *x, uint64_t end)
{
    uint64_t i = (end - x->base) / DL_CRC_INDEX_STRIDE;
    uint64_t at = x->base + i * DL_CRC_INDEX_STRIDE;
    return dl_crc32c(x->sum[i], x->map + at, (size_t)(end - at));
}

static uint32_t crc_range(void *ctx, const unsigned char *p, uint64_t len)
{
    struct crc_index *x = ctx;
    uint64_t a = (uint64_t)(p - x->map);
    if (a < x->base || (!x->sum && (x->failed || x->direct < x->limit - x->base))) {
        x->direct += len;
        return dl_crc32c(0, p, (size_t)len);
    }
    if (!x->sum) {
        uint64_t n = (x->limit - x->base) / DL_CRC_INDEX_STRIDE + 1;
        x->sum = malloc(n * sizeof *x->sum);
        if (!x->sum) {
            x->failed = 1;
            return dl_crc32c(0, p, (size_t)len);
        }
        x->sum[0] = 0;
        for (uint64_t i = 1; i < n; i++)
            x->sum[i] = dl_crc32c(x->sum[i - 1],
                                  x->map + x->base + (i - 1) * DL_CRC_INDEX_STRIDE,
                                  DL_CRC_INDEX_STRIDE);
    }
    /* crc(A||B) == shift(crc(A), |B|) ^ crc(B), with A the bytes from the
     * base to p. */
    return crc_prefix(x, a + len) ^ dl_crc32c_shift(crc_prefix(x, a), len, 0);
}

/* How many numbers a resynchronisation may try before a record it finds
 * must be confirmed (below): 2^12 tries pass stray bytes' CRC with odds of
 * 2^12 / 2^32, under one in a million. */
#define DL_RESYNC_UNCONFIRMED 4096u

/* Whether a record found after damage is one: version 2 stores 4 bits of a
 * record's number, so over a large stretch of stray bytes some position
 * passes the checks for some number of the range (about one chance in
 * 2^36 per position and number tried). A record a writer wrote is followed
 * by the next one, or by nothing (zeros to `end`, the last byte written);
 * stray bytes that pass are not, but for odds that are negligible. Version
 * 1 stores the whole number: nothing to confirm. */
static int confirmed(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t off,
                     const struct dl_rec_view *r, uint64_t end, uint64_t limit)
{
    if (f->version == DL_FORMAT_V1)
        return 1;
    uint64_t next = off + r->size;
    struct dl_rec_view n;
    if (next < limit &&
        dl_rec_check(f, map + next, limit - next, r->seq + 1, &n) == DL_REC_VALID)
        return 1;
    for (uint64_t i = next; i < end && i < limit; i++)
        if (map[i])
            return 0;
    return 1;
}

/* dl_scan_resync with the checksum index `index` (NULL: one of its own, for
 * this call): a walk that resynchronises once per record after damage
 * keeps one for all of them. Each call may pass over the rest of the
 * segment before building its own (stray bytes in front of each record
 * claiming a length up to the segment's end); with thousands of such
 * records the walk was quadratic: 9 s for a 2 MiB segment, hours at 64
 * MiB, in recovery, `durlog check` and a reader's open. */
static uint64_t resync_indexed(const struct dl_seg_fmt *f, const unsigned char *map,
                               uint64_t bad, uint64_t from, uint64_t end, uint64_t limit,
                               uint64_t min_seq, uint64_t min_time_ns, struct dl_rec_view *rec,
                               struct crc_index *index);

uint64_t dl_scan_resync(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t bad,
                        uint64_t from, uint64_t end, uint64_t limit, uint64_t min_seq,
                        uint64_t min_time_ns, struct dl_rec_view *rec)
{
    uint64_t off = (from + dl_rec_align(f->version) - 1) & ~(uint64_t)(dl_rec_align(f->version) - 1);
    struct crc_index index = { .map = map, .base = off < limit ? off : limit, .limit = limit };
    uint64_t found = resync_indexed(f, map, bad, from, end, limit, min_seq, min_time_ns, rec,
                                    &index);
    free(index.sum);
    return found;
}

static uint64_t resync_indexed(const struct dl_seg_fmt *f, const unsigned char *map,
                               uint64_t bad, uint64_t from, uint64_t end, uint64_t limit,
                               uint64_t min_seq, uint64_t min_time_ns, struct dl_rec_view *rec,
                               struct crc_index *index)
{
    uint64_t align = dl_rec_align(f->version);
    uint32_t hsize = dl_rec_header_size(f->version);
    uint64_t min_time = min_time_ns > DL_RESYNC_TIME_SLACK_NS
                        ? min_time_ns - DL_RESYNC_TIME_SLACK_NS : 0;
    uint64_t off = (from + align - 1) & ~(align - 1);
    uint64_t found = UINT64_MAX;
    /* The numbers tried so far, over 16 (a version 2 record stores 4 bits):
     * each passes the CRC of stray bytes with one chance in 2^32. */
    uint64_t tried = 0;
    for (; off < end && off + hsize <= limit; off += align) {
        /* Version 1 stores the number: stray bytes that pass the CRC (one
         * chance in 2^32) must also carry a plausible one. Version 2: no
         * more records than fit between the damage and here. */
        uint64_t hi = f->version == DL_FORMAT_V1 ? min_seq + DL_RESYNC_SEQ_WINDOW
                                                 : min_seq + (off - bad) / DL_REC_HEADER_SIZE;
        tried += (hi - min_seq) / 16 + 1;
        /* Until the search has tried 2^12 numbers (a chance below 1 in a
         * million that stray bytes passed), a record found stands on its
         * own: one between two damaged records (two flipped bytes) is
         * found. Past that, over larger damage, it must be confirmed. */
        if (dl_rec_find_crc(f, map + off, limit - off, min_seq, hi, min_time, crc_range,
                            index, rec) == DL_REC_VALID &&
            (tried <= DL_RESYNC_UNCONFIRMED || confirmed(f, map, off, rec, end, limit))) {
            found = off;
            break;
        }
    }
    return found;
}

void dl_scan_segment(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t limit,
                     uint64_t first_seq, int verify_crc, struct dl_scan *out)
{
    dl_scan_from(f, map, limit, DL_SEG_HEADER_SIZE, first_seq, UINT64_MAX, verify_crc, out);
}

void dl_scan_from(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t limit,
                  uint64_t off, uint64_t seq, uint64_t stop_seq, int verify_crc,
                  struct dl_scan *out)
{
    struct dl_rec_view r;
    uint64_t first_seq = seq;

    *out = (struct dl_scan){ .first_seq = first_seq, .limit = limit };
    if (off > limit)
        off = limit;
    while (seq < stop_seq) {
        enum dl_rec_status st = verify_crc ? dl_rec_check(f, map + off, limit - off, seq, &r)
                                           : dl_rec_peek(f, map + off, limit - off, seq, &r);
        if (st != DL_REC_VALID || r.seq != seq)
            break;
        if (r.durable_before > out->max_durable)
            out->max_durable = r.durable_before;
        out->last_time_ns = r.time_ns;
        off += r.size;
        seq++;
    }
    out->records = seq - first_seq;
    out->next_seq = seq;
    out->valid_end = off;
    if (seq == stop_seq) {
        out->dirty_end = off;
        return;
    }
    out->dirty_end = last_nonzero_end(map, off, limit);
    if (out->dirty_end == off)
        return;

    /* Something non-zero follows the valid records: a torn record, debris,
     * or damage with good records after it. Look for the good ones. */
    uint64_t bad = off, last_time = out->last_time_ns;
    uint64_t pos = off + dl_rec_align(f->version);
    /* One index for every resync of this walk (resync_indexed). */
    struct crc_index index = { .map = map, .base = pos < limit ? pos : limit, .limit = limit };
    while (pos < out->dirty_end) {
        uint64_t found = resync_indexed(f, map, bad, pos, out->dirty_end, limit, seq,
                                        last_time, &r, &index);
        if (found == UINT64_MAX)
            break;
        if (out->later_records++ == 0) {
            out->later_off = found;
            out->later_seq = r.seq;
        }
        if (r.durable_before > out->max_durable)
            out->max_durable = r.durable_before;
        out->later_max_seq = r.seq + 1;
        seq = r.seq + 1;
        last_time = r.time_ns;
        pos = bad = found + r.size;
    }
    free(index.sum);
}

/* Where segment seg (header h, file of `size` bytes) ends: from its header
 * when it is sealed (and its file still reaches that end), from the
 * caller's hint for one rolled and not sealed yet or for the tail, else by
 * walking its record headers from its checkpoint. */
static int segment_end(int dirfd, const char *path, uint64_t seg, const struct dl_dir_hint *hint,
                       const struct dl_seg_header *h, uint64_t size, uint64_t *end_seq,
                       uint64_t *end_off, char *err, size_t errlen)
{
    /* A sealed segment's header says what it holds. A file shorter than
     * that was cut by someone: walked, so that what it lost counts as
     * missing. */
    if ((h->flags & DL_SEG_F_SEALED) && size >= h->ckpt_off) {
        *end_seq = h->ckpt_seq;
        *end_off = h->ckpt_off;
        return 0;
    }
    /* Rolled, and not sealed yet: the note of the writer that rolled it
     * says where it ends (if it is one a writer could have left). */
    char why[160];
    uint64_t limit = size < h->capacity ? size : h->capacity;
    for (size_t i = 0; i < hint->n_notes; i++) {
        const struct dl_seal_note *note = &hint->notes[i];
        if (note->seg == seg && dl_sh_note_ok(note, seg, limit, why, sizeof why) &&
            note->end_seq >= h->ckpt_seq && note->end_off >= h->ckpt_off) {
            *end_seq = note->end_seq;
            *end_off = note->end_off;
            return 0;
        }
    }
    /* The writer's own view of its tail, under the append lock (within the
     * file, and past its checkpoint: else it is not believed). */
    if (seg == hint->tail_seg && hint->tail_end_off >= DL_SEG_HEADER_SIZE &&
        hint->tail_end_off <= size &&
        hint->tail_end_off <= h->capacity && hint->tail_end_seq >= seg &&
        (!(h->flags & DL_SEG_F_CKPT) ||
         (hint->tail_end_seq >= h->ckpt_seq && hint->tail_end_off >= h->ckpt_off))) {
        *end_seq = hint->tail_end_seq;
        *end_off = hint->tail_end_off;
        return 0;
    }
    struct dl_segmap m;
    struct dl_scan s;
    int rc = dl_seg_open(dirfd, path, seg, 0, &m, err, errlen);
    if (rc)
        return rc;
    /* From its checkpoint: what lies before it is known; unless the file
     * no longer reaches it (cut by someone), when all of it is walked. */
    limit = m.size < m.capacity ? m.size : m.capacity;
    struct dl_seg_fmt f = dl_seg_fmt_of(&m.hdr);
    uint64_t from = m.hdr.ckpt_off, from_seq = m.hdr.ckpt_seq;
    if (from > limit) {
        from = DL_SEG_HEADER_SIZE;
        from_seq = seg;
    }
    dl_scan_from(&f, m.map, limit, from, from_seq, hint->stop_seq, 0, &s);
    rc = dl_seg_faulted(&m, path, err, errlen);
    dl_seg_close(&m);
    if (rc)
        return rc;
    *end_seq = s.next_seq;
    *end_off = s.valid_end;
    return 0;
}

/* How often dl_dir_stats starts again when a segment it listed is gone
 * when it looks at it: a trim removed it (each time, one more trim came in
 * between). */
#define DL_STATS_TRIM_RETRIES 8

static int dir_stats_once(int dirfd, const char *path, const struct dl_dir_hint *hint,
                          struct dl_dir_stats *out, char *err, size_t errlen);

int dl_dir_stats(int dirfd, const char *path, const struct dl_dir_hint *hint,
                 struct dl_dir_stats *out, char *err, size_t errlen)
{
    int rc;
    for (int tries = 0;; tries++) {
        rc = dir_stats_once(dirfd, path, hint, out, err, errlen);
        if (rc != -ENOENT || tries == DL_STATS_TRIM_RETRIES)
            return rc;
    }
}

static int dir_stats_once(int dirfd, const char *path, const struct dl_dir_hint *hint,
                          struct dl_dir_stats *out, char *err, size_t errlen)
{
    uint64_t *segs;
    size_t n;
    int rc = dl_seg_list(dirfd, &segs, &n);
    memset(out, 0, sizeof *out);
    if (rc) {
        snprintf(err, errlen, "cannot list the segments of %s: %s", path,
                 durlog_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct dl_seg_header h;
        struct dl_stat st;
        uint64_t end_seq, end_off;
        /* One open, stat and read of the header per segment: info on a log
         * of many segments costs that, whatever the number of records. */
        rc = dl_seg_read_header_stat(dirfd, path, segs[i], &h, &st, err, errlen);
        if (!rc)
            rc = segment_end(dirfd, path, segs[i], hint, &h, st.size, &end_seq, &end_off, err,
                             errlen);
        if (rc)
            break;
        out->disk_bytes += st.blocks * DL_STAT_BLOCK;
        if (i == 0)
            out->first_seq = segs[i];
        else if (segs[i] > out->next_seq)
            out->missing += segs[i] - out->next_seq;
        out->segments++;
        out->bytes += end_off - DL_SEG_HEADER_SIZE;
        out->next_seq = end_seq;
    }
    free(segs);
    return rc;
}
