/*
 * format.h - the bytes on disk, exactly as docs/FORMAT.md describes them.
 *
 * A segment file is a 64-byte header followed by records. Two record layouts
 * exist; the header's version says which a segment holds:
 *  - version 2 (written by this version): a 16-byte header, the payload,
 *    zero padding to a multiple of 4. The sequence number is not stored
 *    whole: it is the CRC's first input (so a record verifies only at its
 *    own number) and its low 4 bits are stored; the time is an offset from
 *    the segment's base time; the durable mark is a distance, rounded so
 *    that it never claims more than was true.
 *  - version 1 (read, never written): a 32-byte header with every field
 *    whole, padding to a multiple of 8.
 * Everything is little-endian. The end of valid data is decided by the
 * checksum, never by a field written before the payload.
 */
#ifndef DL_FORMAT_H
#define DL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DL_FORMAT_VERSION 2               /* what writers create */
#define DL_FORMAT_V1 1                    /* still read */
#define DL_SEG_MAGIC "DURLOGSG"         /* 8 bytes, no terminator on disk */
#define DL_SEG_HEADER_SIZE 64
/* Version 2 records (DL_REC_*) and version 1 records (DL_REC1_*). */
#define DL_REC_HEADER_SIZE 16
#define DL_REC_ALIGN 4
#define DL_REC1_HEADER_SIZE 32
#define DL_REC1_ALIGN 8
/* The largest header of either version: a bound for code that looks at
 * records of both. */
#define DL_REC_HEADER_MAX DL_REC1_HEADER_SIZE
#define DL_SEG_NAME_LEN 24              /* 20 digits + ".seg" */
#define DL_SEG_MIN_SIZE 4096             /* the smallest segment_size option:
                                            room for the header and records,
                                            rounded up to a whole page when
                                            the segment is created */
/* Sequence numbers stay below this: a segment name claiming more is damage
 * (a hostile name must not make them wrap), and a log that reaches it takes
 * no more appends. */
#define DL_SEQ_LIMIT ((uint64_t)1 << 63)

/* Segment header fields (offsets into the 64 bytes). */
#define DL_SEGH_MAGIC 0      /* 8  "DURLOGSG" */
#define DL_SEGH_VERSION 8    /* 4  format version */
#define DL_SEGH_HSIZE 12     /* 4  header size (64) */
#define DL_SEGH_FIRST 16     /* 8  sequence number of the first record */
#define DL_SEGH_CAPACITY 24  /* 8  the most bytes this segment may grow to */
#define DL_SEGH_CREATED 32   /* 8  creation time, ns since the epoch */
#define DL_SEGH_CKPT_SEQ 40  /* 8  checkpoint: records below this are durable */
#define DL_SEGH_CKPT_OFF 48  /* 8  checkpoint: offset just past those records */
#define DL_SEGH_FLAGS 56     /* 4  DL_SEG_F_* */
#define DL_SEGH_CRC 60       /* 4  CRC32C of bytes 0..59 */

/* Segment header flags. A segment is created with none; its header is
 * rewritten (one 64-byte write inside the first 512-byte sector) only to
 * record what an fdatasync has already made durable:
 *  - DL_SEG_F_CKPT: every record of the segment below ckpt_seq, lying in
 *    [64, ckpt_off), is on stable storage (the log's persisted durable
 *    point; recovery never cuts below it and does not even scan it);
 *  - DL_SEG_F_SEALED (with CKPT): the segment is complete: it holds exactly
 *    the records [first_seq, ckpt_seq) and the next one is in the segment
 *    named ckpt_seq. Set once a rolled segment is durable. */
#define DL_SEG_F_CKPT 1u
#define DL_SEG_F_SEALED 2u
#define DL_SEG_F_KNOWN (DL_SEG_F_CKPT | DL_SEG_F_SEALED)

/* Version 2 record header fields (offsets into the 16 bytes). */
#define DL_RECH_CRC 0        /* 4  CRC32C of the sequence number (8 bytes),
                                   header bytes 4..15 and the payload */
#define DL_RECH_LEN 4        /* 4  payload length (bits 0..26), the sequence
                                   number's low 4 bits (27..30); bit 31 zero */
#define DL_RECH_DIST 8       /* 2  durable distance, encoded (dl_dist_*) */
#define DL_RECH_TIME 10      /* 6  append time, ns after the segment's base */
#define DL_REC_LEN_MASK ((1u << 27) - 1)
#define DL_REC_SEQ_SHIFT 27
#define DL_REC_SEQ_MASK 15u
/* A record's time offset is below this: a writer starts a new segment
 * before one would not fit (after about 78 hours). */
#define DL_REC_TIME_LIMIT ((uint64_t)1 << 48)

/* Version 1 record header fields (offsets into the 32 bytes). */
#define DL_REC1H_CRC 0       /* 4  CRC32C of bytes 4..31 and the payload */
#define DL_REC1H_LEN 4       /* 4  payload length */
#define DL_REC1H_SEQ 8       /* 8  sequence number */
#define DL_REC1H_TIME 16     /* 8  append time, ns since the epoch */
#define DL_REC1H_DURABLE 24  /* 8  every record below this sequence number was
                                   on stable storage when this one was written */

static inline void dl_put32(unsigned char *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
}
static inline void dl_put64(unsigned char *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}
static inline uint32_t dl_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}
static inline uint64_t dl_get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Bytes a version 2 record of `len` payload bytes occupies in a segment. */
static inline uint64_t dl_rec_size(uint64_t len)
{
    return DL_REC_HEADER_SIZE + ((len + DL_REC_ALIGN - 1) & ~(uint64_t)(DL_REC_ALIGN - 1));
}

/* The same for a segment of either version. */
static inline uint64_t dl_rec_size_v(uint32_t version, uint64_t len)
{
    if (version == DL_FORMAT_V1)
        return DL_REC1_HEADER_SIZE + ((len + DL_REC1_ALIGN - 1) & ~(uint64_t)(DL_REC1_ALIGN - 1));
    return dl_rec_size(len);
}
static inline uint32_t dl_rec_header_size(uint32_t version)
{
    return version == DL_FORMAT_V1 ? DL_REC1_HEADER_SIZE : DL_REC_HEADER_SIZE;
}
static inline uint32_t dl_rec_align(uint32_t version)
{
    return version == DL_FORMAT_V1 ? DL_REC1_ALIGN : DL_REC_ALIGN;
}

/* The durable distance: how far below a record's number the durable mark
 * was when it was written, in 16 bits. Distances up to 2047 exactly; larger
 * ones as an 11-bit mantissa and 5-bit exponent, rounded up, so that the
 * mark decoded (seq - distance) is never above the true one: a claim that
 * records are durable is weakened by the rounding (by at most 1 part in
 * 2048), never strengthened. DL_DIST_NONE claims nothing. */
#define DL_DIST_NONE 0xffffu
uint16_t dl_dist_encode(uint64_t distance);
/* The distance an encoded value stands for (UINT64_MAX for DL_DIST_NONE). */
uint64_t dl_dist_decode(uint16_t code);

struct dl_seg_header {
    uint32_t version;
    uint64_t first_seq;
    uint64_t capacity;
    uint64_t created_ns;     /* version 2: the records' time base */
    uint64_t ckpt_seq;       /* with DL_SEG_F_CKPT; else first_seq */
    uint64_t ckpt_off;       /* with DL_SEG_F_CKPT; else 64 */
    uint32_t flags;          /* DL_SEG_F_* */
};

void dl_seg_header_encode(unsigned char out[DL_SEG_HEADER_SIZE],
                          const struct dl_seg_header *h);
/* 0, DURLOG_EFORMAT (not a segment / unknown version) or DURLOG_ECORRUPT
 * (magic right but checksum or fields wrong, a checkpoint outside the
 * segment). A header without DL_SEG_F_CKPT decodes with ckpt_seq =
 * first_seq and ckpt_off = 64: nothing proven durable. */
int dl_seg_header_decode(const unsigned char in[DL_SEG_HEADER_SIZE],
                         struct dl_seg_header *h);

/* "%020llu.seg" into buf (at least DL_SEG_NAME_LEN + 1 bytes). */
void dl_seg_name(char *buf, uint64_t first_seq);
/* 1 and *first_seq if `name` is a segment file name, 2 if it has the form
 * of one but names a first_seq of DL_SEQ_LIMIT or more, else 0. */
int dl_seg_name_parse(const char *name, uint64_t *first_seq);

/* What reading a segment's records takes from its header. */
struct dl_seg_fmt {
    uint32_t version;        /* DL_FORMAT_VERSION or DL_FORMAT_V1 */
    uint64_t base_ns;        /* version 2: the header's created_ns */
};

static inline struct dl_seg_fmt dl_seg_fmt_of(const struct dl_seg_header *h)
{
    return (struct dl_seg_fmt){ h->version, h->created_ns };
}

/* The time offset a record appended at time_ns is stored with in a segment
 * whose base is base_ns: at least 1 (so that a header is never all zero),
 * and a clock behind the base counts as the base. The caller keeps it below
 * DL_REC_TIME_LIMIT by starting a new segment. */
static inline uint64_t dl_rec_time_off(uint64_t base_ns, uint64_t time_ns)
{
    /* A time the segment cannot hold (the caller failed to roll, or a value
     * changed under it) is stored as the latest it can, never truncated to
     * 48 bits: a wrapped offset would put the record before the ones
     * preceding it, and resynchronising filters by time. */
    if (time_ns > base_ns && time_ns - base_ns >= DL_REC_TIME_LIMIT)
        return DL_REC_TIME_LIMIT - 1;
    return time_ns > base_ns ? time_ns - base_ns : 1;
}

/* Writes a complete version 2 record at dst (dl_rec_size(len) bytes):
 * payload, zero padding, header, and the CRC last. durable_before is the
 * durable mark (records below it were on stable storage). */
void dl_rec_encode(unsigned char *dst, uint64_t base_ns, uint64_t seq, uint64_t time_ns,
                   uint64_t durable_before, const void *payload, uint32_t len);

/* Buffered records are framed in memory before their segment and number are
 * known: dl_rec_frame writes the payload, padding, length and the absolute
 * time (where the distance and time offset go); dl_rec_seal then fills in
 * the number, the distance, the time offset and the CRC. */
void dl_rec_frame(unsigned char *dst, uint64_t time_ns, const void *payload, uint32_t len);
/* A framed record's time (before dl_rec_seal), and changing it. */
static inline uint64_t dl_rec_frame_time(const unsigned char *frame)
{
    return dl_get64(frame + DL_RECH_DIST);
}
static inline void dl_rec_frame_set_time(unsigned char *frame, uint64_t time_ns)
{
    dl_put64(frame + DL_RECH_DIST, time_ns);
}
void dl_rec_seal(unsigned char *dst, uint64_t base_ns, uint64_t seq, uint64_t durable_before);
/* Makes a record sealed for a segment of base base_ns a framed one again
 * (its time absolute, no number): buffered records whose write failed stay
 * buffered, to be sealed again, perhaps for another segment, by a later
 * flush. */
void dl_rec_unseal(unsigned char *dst, uint64_t base_ns);
/* A framed or sealed record's payload length. */
static inline uint32_t dl_rec_len(const unsigned char *rec)
{
    return dl_get32(rec + DL_RECH_LEN) & DL_REC_LEN_MASK;
}

/* The payload length and the size a record's header at p gives (its
 * header's bytes must be readable; the length is not checked). */
static inline uint32_t dl_rec_len_at(uint32_t version, const unsigned char *p)
{
    return version == DL_FORMAT_V1 ? dl_get32(p + DL_REC1H_LEN) : dl_rec_len(p);
}
static inline uint64_t dl_rec_size_at(uint32_t version, const unsigned char *p)
{
    return dl_rec_size_v(version, dl_rec_len_at(version, p));
}

struct dl_rec_view {
    const unsigned char *payload;
    uint32_t len;
    uint64_t seq;
    uint64_t time_ns;
    uint64_t durable_before; /* 0: the record claims nothing */
    uint64_t size;           /* dl_rec_size_v(version, len) */
};

enum dl_rec_status {
    DL_REC_VALID = 0,
    DL_REC_EMPTY,    /* the header is all zero bytes: nothing written here */
    DL_REC_BAD,      /* something is here but it is not a whole, valid record */
};

/* Checks the record at p, with `avail` bytes readable, as record number
 * `seq` of a segment of format f. Version 2: valid only as that number.
 * Version 1: out->seq is the number stored, for the caller to compare. */
enum dl_rec_status dl_rec_check(const struct dl_seg_fmt *f, const unsigned char *p,
                                uint64_t avail, uint64_t seq, struct dl_rec_view *out);

/* Like dl_rec_check but without verifying the CRC: for walking a log's
 * structure quickly (info), and as a first filter. Version 2: the stored
 * low bits of the number must be seq's. */
enum dl_rec_status dl_rec_peek(const struct dl_seg_fmt *f, const unsigned char *p,
                               uint64_t avail, uint64_t seq, struct dl_rec_view *out);

/* Whether the bytes at p are a valid record numbered in [lo, hi] (after
 * damage, when the number is not known): DL_REC_VALID and *out if so.
 * Version 2: its time must be at least min_time_ns (the last good record's:
 * times never decrease in number order), and each number of the range with
 * the stored low bits is tried, so the range bounds the work (the caller
 * bounds it by the bytes between the damage and p: a record takes at least
 * DL_REC_HEADER_SIZE). */
enum dl_rec_status dl_rec_find(const struct dl_seg_fmt *f, const unsigned char *p,
                               uint64_t avail, uint64_t lo, uint64_t hi, uint64_t min_time_ns,
                               struct dl_rec_view *out);

/* dl_rec_find with the checksum of the candidate's bytes from offset 4 on
 * taken from crc_fn (dl_crc32c(0, p, len) of the len bytes at p, computed
 * some faster way: dl_scan_resync indexes the segment once rather than
 * passing over each candidate's payload); NULL: computed directly. */
typedef uint32_t (*dl_crc_range_fn)(void *ctx, const unsigned char *p, uint64_t len);
enum dl_rec_status dl_rec_find_crc(const struct dl_seg_fmt *f, const unsigned char *p,
                                   uint64_t avail, uint64_t lo, uint64_t hi,
                                   uint64_t min_time_ns, dl_crc_range_fn crc_fn, void *ctx,
                                   struct dl_rec_view *out);

#endif
