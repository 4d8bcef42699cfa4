/*
 * format.h - the bytes on disk, exactly as docs/FORMAT.md describes them.
 *
 * A segment file is a 64-byte header followed by records. Each record is a
 * 32-byte header, the payload, and zero padding to a multiple of 8 bytes.
 * Everything is little-endian. The record CRC covers header bytes 4..31 and
 * the payload, so a record is valid only when every byte of it is: the end of
 * valid data is decided by the checksum, never by a field written before the
 * payload.
 */
#ifndef DL_FORMAT_H
#define DL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DL_FORMAT_VERSION 1
#define DL_SEG_MAGIC "DURLOGSG"         /* 8 bytes, no terminator on disk */
#define DL_SEG_HEADER_SIZE 64
#define DL_REC_HEADER_SIZE 32
#define DL_REC_ALIGN 8
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

/* Record header fields (offsets into the 32 bytes). */
#define DL_RECH_CRC 0        /* 4  CRC32C of bytes 4..31 and the payload */
#define DL_RECH_LEN 4        /* 4  payload length */
#define DL_RECH_SEQ 8        /* 8  sequence number */
#define DL_RECH_TIME 16      /* 8  append time, ns since the epoch */
#define DL_RECH_DURABLE 24   /* 8  every record below this sequence number was
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

/* Bytes a record of `len` payload bytes occupies in a segment. */
static inline uint64_t dl_rec_size(uint64_t len)
{
    return DL_REC_HEADER_SIZE + ((len + DL_REC_ALIGN - 1) & ~(uint64_t)(DL_REC_ALIGN - 1));
}

struct dl_seg_header {
    uint32_t version;
    uint64_t first_seq;
    uint64_t capacity;
    uint64_t created_ns;
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

/* Writes a complete record at dst (dl_rec_size(len) bytes): payload, zero
 * padding, header, and the CRC last. */
void dl_rec_encode(unsigned char *dst, uint64_t seq, uint64_t time_ns,
                   uint64_t durable_before, const void *payload, uint32_t len);

/* Fills in seq, durable_before and the CRC of a record whose length, time and
 * payload (with zero padding) are already at dst: how buffered records, framed
 * in memory before their sequence number is known, are finished. */
void dl_rec_seal(unsigned char *dst, uint64_t seq, uint64_t durable_before);

struct dl_rec_view {
    const unsigned char *payload;
    uint32_t len;
    uint64_t seq;
    uint64_t time_ns;
    uint64_t durable_before;
    uint64_t size;           /* dl_rec_size(len) */
};

enum dl_rec_status {
    DL_REC_VALID = 0,
    DL_REC_EMPTY,    /* the header is all zero bytes: nothing written here */
    DL_REC_BAD,      /* something is here but it is not a whole, valid record */
};

/* Checks the record at p, with `avail` bytes readable. */
enum dl_rec_status dl_rec_check(const unsigned char *p, uint64_t avail,
                                struct dl_rec_view *out);

/* Like dl_rec_check but without verifying the CRC: for walking a log's
 * structure quickly (info). */
enum dl_rec_status dl_rec_peek(const unsigned char *p, uint64_t avail,
                               struct dl_rec_view *out);

#endif
