/*
 * format.c - encoding and checking segment headers and records (see
 * format.h and docs/FORMAT.md). Pure functions over byte buffers: no I/O.
 */
#include "format.h"

#include <stdio.h>

#include "crc32c.h"
#include "durlog.h"

void dl_seg_header_encode(unsigned char out[DL_SEG_HEADER_SIZE],
                          const struct dl_seg_header *h)
{
    memset(out, 0, DL_SEG_HEADER_SIZE);
    memcpy(out + DL_SEGH_MAGIC, DL_SEG_MAGIC, 8);
    dl_put32(out + DL_SEGH_VERSION, h->version);
    dl_put32(out + DL_SEGH_HSIZE, DL_SEG_HEADER_SIZE);
    dl_put64(out + DL_SEGH_FIRST, h->first_seq);
    dl_put64(out + DL_SEGH_CAPACITY, h->capacity);
    dl_put64(out + DL_SEGH_CREATED, h->created_ns);
    if (h->flags & DL_SEG_F_CKPT) {
        dl_put64(out + DL_SEGH_CKPT_SEQ, h->ckpt_seq);
        dl_put64(out + DL_SEGH_CKPT_OFF, h->ckpt_off);
        dl_put32(out + DL_SEGH_FLAGS, h->flags);
    }
    dl_put32(out + DL_SEGH_CRC, dl_crc32c(0, out, DL_SEGH_CRC));
}

int dl_seg_header_decode(const unsigned char in[DL_SEG_HEADER_SIZE],
                         struct dl_seg_header *h)
{
    if (memcmp(in + DL_SEGH_MAGIC, DL_SEG_MAGIC, 8) != 0)
        return DURLOG_EFORMAT;
    if (dl_get32(in + DL_SEGH_CRC) != dl_crc32c(0, in, DL_SEGH_CRC))
        return DURLOG_ECORRUPT;
    h->version = dl_get32(in + DL_SEGH_VERSION);
    if (h->version != DL_FORMAT_VERSION && h->version != DL_FORMAT_V1)
        return DURLOG_EFORMAT;
    if (dl_get32(in + DL_SEGH_HSIZE) != DL_SEG_HEADER_SIZE)
        return DURLOG_EFORMAT;
    h->first_seq = dl_get64(in + DL_SEGH_FIRST);
    h->capacity = dl_get64(in + DL_SEGH_CAPACITY);
    h->created_ns = dl_get64(in + DL_SEGH_CREATED);
    if (h->capacity < DL_SEG_HEADER_SIZE)
        return DURLOG_ECORRUPT;
    /* Version 2: a record's time is created_ns plus its offset (below
     * 2^48), which must not pass 2^64. Wrapped, times went back to 1970
     * within the segment, and the resync, which skips records older than
     * the last good one, took the records after damage for a torn tail
     * (recovery and --repair cut them). No clock gives such a time (Linux
     * keeps time below 2^63 ns): the header was made so. */
    if (h->version == DL_FORMAT_VERSION &&
        h->created_ns > UINT64_MAX - (DL_REC_TIME_LIMIT - 1))
        return DURLOG_ECORRUPT;
    /* Unknown flag bits are a later format's: ignored (they may only add
     * promises). */
    h->flags = dl_get32(in + DL_SEGH_FLAGS) & DL_SEG_F_KNOWN;
    h->ckpt_seq = h->first_seq;
    h->ckpt_off = DL_SEG_HEADER_SIZE;
    if (!(h->flags & DL_SEG_F_CKPT))
        return h->flags ? DURLOG_ECORRUPT : 0;
    /* A checkpoint must describe records that can fit in the segment: at
     * least a header each, none past the capacity. */
    h->ckpt_seq = dl_get64(in + DL_SEGH_CKPT_SEQ);
    h->ckpt_off = dl_get64(in + DL_SEGH_CKPT_OFF);
    if (h->ckpt_seq < h->first_seq || h->ckpt_seq >= DL_SEQ_LIMIT ||
        h->ckpt_off < DL_SEG_HEADER_SIZE || h->ckpt_off > h->capacity ||
        (h->ckpt_off & (dl_rec_align(h->version) - 1)) ||
        (h->ckpt_off - DL_SEG_HEADER_SIZE) / dl_rec_header_size(h->version) <
            h->ckpt_seq - h->first_seq ||
        (h->ckpt_seq == h->first_seq) != (h->ckpt_off == DL_SEG_HEADER_SIZE))
        return DURLOG_ECORRUPT;
    return 0;
}

void dl_seg_name(char *buf, uint64_t first_seq)
{
    snprintf(buf, DL_SEG_NAME_LEN + 1, "%020llu.seg", (unsigned long long)first_seq);
}

int dl_seg_name_parse(const char *name, uint64_t *first_seq)
{
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 2;
        v = v * 10 + d;
    }
    if (strcmp(name + 20, ".seg") != 0)
        return 0;
    *first_seq = v;
    return v < DL_SEQ_LIMIT ? 1 : 2;
}

uint16_t dl_dist_encode(uint64_t distance)
{
    if (distance < 2048)
        return (uint16_t)distance;
    /* distance = (2048 + m) << (e - 1), e in 1..31, rounded up: e - 1 is
     * the shift that leaves 12 significant bits. */
    unsigned e = (unsigned)(64 - __builtin_clzll(distance)) - 11;
    unsigned shift = e - 1;
    uint64_t top = (distance >> shift) + ((distance & (((uint64_t)1 << shift) - 1)) != 0);
    if (top == 4096) { /* rounding carried over */
        e++;
        top = 2048;
    }
    if (e > 31)
        return DL_DIST_NONE;
    uint16_t code = (uint16_t)(e << 11 | (top - 2048));
    return code == DL_DIST_NONE ? DL_DIST_NONE : code;
}

uint64_t dl_dist_decode(uint16_t code)
{
    if (code == DL_DIST_NONE)
        return UINT64_MAX;
    unsigned e = code >> 11;
    uint64_t m = code & 2047u;
    return e == 0 ? m : (2048 + m) << (e - 1);
}

/* Version 2: the CRC of the sequence number, then header bytes 4..15 and
 * the payload (contiguous: one pass after the number). */
static uint32_t rec_crc(const unsigned char *rec, uint64_t seq, uint32_t len)
{
    uint32_t crc = dl_crc32c_u64(0, seq);
    return dl_crc32c(crc, rec + DL_RECH_LEN, DL_REC_HEADER_SIZE - DL_RECH_LEN + (size_t)len);
}

/* Version 1: header bytes 4..31 and the payload. */
static uint32_t rec1_crc(const unsigned char *rec, uint32_t len)
{
    return dl_crc32c(0, rec + DL_REC1H_LEN, DL_REC1_HEADER_SIZE - DL_REC1H_LEN + (size_t)len);
}

/* The distance (2 bytes) and the time offset (6) are one little-endian
 * 64-bit word at DL_RECH_DIST: one load or store. */
static uint64_t dist_time_word(uint16_t dist, uint64_t time_off)
{
    return (uint64_t)dist | time_off << 16;
}

void dl_rec_frame(unsigned char *dst, uint64_t time_ns, const void *payload, uint32_t len)
{
    uint64_t padded = dl_rec_size(len) - DL_REC_HEADER_SIZE;
    if (len)
        memcpy(dst + DL_REC_HEADER_SIZE, payload, len);
    if (padded > len) /* at most 3 bytes */
        memset(dst + DL_REC_HEADER_SIZE + len, 0, padded - len);
    dl_put32(dst + DL_RECH_CRC, 0);
    dl_put32(dst + DL_RECH_LEN, len);
    dl_put64(dst + DL_RECH_DIST, time_ns); /* until dl_rec_seal */
}

void dl_rec_seal(unsigned char *dst, uint64_t base_ns, uint64_t seq, uint64_t durable_before)
{
    uint64_t time_ns = dl_get64(dst + DL_RECH_DIST);
    uint32_t len = dl_rec_len(dst);
    dl_put32(dst + DL_RECH_LEN, len | (uint32_t)(seq & DL_REC_SEQ_MASK) << DL_REC_SEQ_SHIFT);
    uint16_t dist = durable_before <= seq ? dl_dist_encode(seq - durable_before) : 0;
    uint64_t off = dl_rec_time_off(base_ns, time_ns);
    if (off >= DL_REC_TIME_LIMIT) /* writers roll long before: never wrapped */
        off = DL_REC_TIME_LIMIT - 1;
    dl_put64(dst + DL_RECH_DIST, dist_time_word(dist, off));
    dl_put32(dst + DL_RECH_CRC, rec_crc(dst, seq, len));
}

void dl_rec_unseal(unsigned char *dst, uint64_t base_ns)
{
    dl_put32(dst + DL_RECH_LEN, dl_rec_len(dst));
    dl_put64(dst + DL_RECH_DIST, base_ns + (dl_get64(dst + DL_RECH_DIST) >> 16));
    dl_put32(dst + DL_RECH_CRC, 0);
}

void dl_rec_encode(unsigned char *dst, uint64_t base_ns, uint64_t seq, uint64_t time_ns,
                   uint64_t durable_before, const void *payload, uint32_t len)
{
    dl_rec_frame(dst, time_ns, payload, len);
    dl_rec_seal(dst, base_ns, seq, durable_before);
}

static int all_zero(const unsigned char *p, uint32_t n)
{
    uint64_t acc = 0;
    for (uint32_t i = 0; i < n; i += 8)
        acc |= dl_get64(p + i);
    return acc == 0;
}

/* Fewer bytes than a header before the end of a segment: the end of its
 * data when they are zero (a full segment's last few bytes), else a record
 * cut short. */
static enum dl_rec_status short_tail(const unsigned char *p, uint64_t avail)
{
    for (uint64_t i = 0; i < avail; i++)
        if (p[i])
            return DL_REC_BAD;
    return DL_REC_EMPTY;
}

static int padding_zero(const unsigned char *p, const struct dl_rec_view *v, uint32_t hsize)
{
    for (uint64_t i = hsize + v->len; i < v->size; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static enum dl_rec_status peek1(const unsigned char *p, uint64_t avail, struct dl_rec_view *out)
{
    if (avail < DL_REC1_HEADER_SIZE)
        return short_tail(p, avail);
    if (all_zero(p, DL_REC1_HEADER_SIZE))
        return DL_REC_EMPTY;
    uint32_t len = dl_get32(p + DL_REC1H_LEN);
    if (len > DURLOG_MAX_RECORD)
        return DL_REC_BAD;
    uint64_t size = dl_rec_size_v(DL_FORMAT_V1, len);
    if (size > avail)
        return DL_REC_BAD;
    out->payload = p + DL_REC1_HEADER_SIZE;
    out->len = len;
    out->seq = dl_get64(p + DL_REC1H_SEQ);
    out->time_ns = dl_get64(p + DL_REC1H_TIME);
    out->durable_before = dl_get64(p + DL_REC1H_DURABLE);
    out->size = size;
    return DL_REC_VALID;
}

/* Version 2 without the CRC and the number's check (the caller's). */
static enum dl_rec_status peek2(const struct dl_seg_fmt *f, const unsigned char *p,
                                uint64_t avail, struct dl_rec_view *out)
{
    if (avail < DL_REC_HEADER_SIZE)
        return short_tail(p, avail);
    if (all_zero(p, DL_REC_HEADER_SIZE))
        return DL_REC_EMPTY;
    uint32_t word = dl_get32(p + DL_RECH_LEN);
    uint32_t len = word & DL_REC_LEN_MASK;
    if ((word >> 31) || len > DURLOG_MAX_RECORD)
        return DL_REC_BAD;
    uint64_t size = dl_rec_size(len);
    if (size > avail)
        return DL_REC_BAD;
    out->payload = p + DL_REC_HEADER_SIZE;
    out->len = len;
    out->time_ns = f->base_ns + (dl_get64(p + DL_RECH_DIST) >> 16);
    out->size = size;
    return DL_REC_VALID;
}

static uint32_t seq_bits(const unsigned char *p)
{
    return (dl_get32(p + DL_RECH_LEN) >> DL_REC_SEQ_SHIFT) & DL_REC_SEQ_MASK;
}

/* The number-dependent part of a version 2 view. */
static void finish2(const unsigned char *p, uint64_t seq, struct dl_rec_view *out)
{
    uint64_t dist = dl_dist_decode((uint16_t)(p[DL_RECH_DIST] | p[DL_RECH_DIST + 1] << 8));
    out->seq = seq;
    out->durable_before = dist <= seq ? seq - dist : 0;
}

enum dl_rec_status dl_rec_peek(const struct dl_seg_fmt *f, const unsigned char *p,
                               uint64_t avail, uint64_t seq, struct dl_rec_view *out)
{
    if (f->version == DL_FORMAT_V1)
        return peek1(p, avail, out);
    enum dl_rec_status st = peek2(f, p, avail, out);
    if (st != DL_REC_VALID)
        return st;
    if (seq_bits(p) != (seq & DL_REC_SEQ_MASK))
        return DL_REC_BAD;
    finish2(p, seq, out);
    return DL_REC_VALID;
}

enum dl_rec_status dl_rec_check(const struct dl_seg_fmt *f, const unsigned char *p,
                                uint64_t avail, uint64_t seq, struct dl_rec_view *out)
{
    if (f->version == DL_FORMAT_V1) {
        enum dl_rec_status st = peek1(p, avail, out);
        if (st != DL_REC_VALID)
            return st;
        if (dl_get32(p + DL_REC1H_CRC) != rec1_crc(p, out->len) ||
            !padding_zero(p, out, DL_REC1_HEADER_SIZE))
            return DL_REC_BAD;
        return DL_REC_VALID;
    }
    enum dl_rec_status st = dl_rec_peek(f, p, avail, seq, out);
    if (st != DL_REC_VALID)
        return st;
    /* Padding must be zero: it is not covered by the CRC. */
    if (dl_get32(p + DL_RECH_CRC) != rec_crc(p, seq, out->len) ||
        !padding_zero(p, out, DL_REC_HEADER_SIZE))
        return DL_REC_BAD;
    return DL_REC_VALID;
}

enum dl_rec_status dl_rec_find(const struct dl_seg_fmt *f, const unsigned char *p,
                               uint64_t avail, uint64_t lo, uint64_t hi, uint64_t min_time_ns,
                               struct dl_rec_view *out)
{
    return dl_rec_find_crc(f, p, avail, lo, hi, min_time_ns, NULL, NULL, out);
}

enum dl_rec_status dl_rec_find_crc(const struct dl_seg_fmt *f, const unsigned char *p,
                                   uint64_t avail, uint64_t lo, uint64_t hi,
                                   uint64_t min_time_ns, dl_crc_range_fn crc_fn, void *ctx,
                                   struct dl_rec_view *out)
{
    if (lo > hi)
        return DL_REC_BAD;
    if (f->version == DL_FORMAT_V1) {
        if (peek1(p, avail, out) != DL_REC_VALID || out->seq < lo || out->seq > hi)
            return DL_REC_BAD;
        return dl_rec_check(f, p, avail, out->seq, out);
    }
    /* Cheap tests first: stray bytes rarely carry a time at or after the
     * last good record's (times never decrease in number order) with zero
     * padding. */
    if (peek2(f, p, avail, out) != DL_REC_VALID || out->time_ns < min_time_ns ||
        !padding_zero(p, out, DL_REC_HEADER_SIZE))
        return DL_REC_BAD;
    /* The number is the CRC's first input. Trying each number of the range
     * whose low bits are the stored ones costs a pass over the payload per
     * number: after a megabyte of garbage that is thousands of passes over
     * megabytes at each of thousands of offsets (`durlog check` ran for
     * minutes on 256 KiB of random bytes). The CRC is linear, so the number
     * is solved for instead: with R the checksum of bytes 4.. (n bytes),
     *   crc == shift_n(crc32c(le64(s))) ^ R
     * gives crc32c(le64(s)); for each value H of the number's high 32 bits
     * in the range, crc32c(le64(H << 32 | L)) == shift_8(L) ^
     * crc32c(le64(H << 32)) gives the one L that fits. The number found is
     * then checked the plain way. */
    uint32_t crc = dl_get32(p + DL_RECH_CRC);
    uint64_t n = DL_REC_HEADER_SIZE - DL_RECH_LEN + (uint64_t)out->len;
    uint32_t rest = crc_fn ? crc_fn(ctx, p + DL_RECH_LEN, n)
                           : dl_crc32c(0, p + DL_RECH_LEN, (size_t)n);
    if (hi - lo < 4 * (DL_REC_SEQ_MASK + 1)) {
        /* A few numbers (the records after damage, each found right where
         * the previous one ends): tried one by one, cheaper than solving
         * (a few thousand operations), but each from `rest` (crc ==
         * shift_n(crc32c(le64(s))) ^ rest), not by a pass over the payload:
         * stray bytes claiming the rest of the segment in front of each
         * record after damage cost a pass over the segment per record, and
         * a hostile 2 MiB segment kept a scan busy for 9 s (hours at 64
         * MiB). A match through crc_fn is checked the plain way. */
        uint64_t s = lo + ((seq_bits(p) - (uint32_t)lo) & DL_REC_SEQ_MASK);
        for (; s >= lo && s <= hi; s += DL_REC_SEQ_MASK + 1) {
            if ((dl_crc32c_shift(dl_crc32c_u64(0, s), n, 0) ^ rest) == crc &&
                (!crc_fn || rec_crc(p, s, out->len) == crc)) {
                finish2(p, s, out);
                return DL_REC_VALID;
            }
        }
        return DL_REC_BAD;
    }
    uint32_t want = dl_crc32c_shift(crc ^ rest, n, 1); /* crc32c(le64(s)) */
    for (uint64_t h = lo >> 32;; h++) {
        unsigned char num[8];
        dl_put64(num, h << 32);
        uint64_t s = h << 32 | dl_crc32c_shift(want ^ dl_crc32c(0, num, sizeof num), 8, 1);
        if (s >= lo && s <= hi && (s & DL_REC_SEQ_MASK) == seq_bits(p) &&
            rec_crc(p, s, out->len) == crc) {
            finish2(p, s, out);
            return DL_REC_VALID;
        }
        if (h == hi >> 32)
            break;
    }
    return DL_REC_BAD;
}
