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
    if (h->version != DL_FORMAT_VERSION)
        return DURLOG_EFORMAT;
    if (dl_get32(in + DL_SEGH_HSIZE) != DL_SEG_HEADER_SIZE)
        return DURLOG_EFORMAT;
    h->first_seq = dl_get64(in + DL_SEGH_FIRST);
    h->capacity = dl_get64(in + DL_SEGH_CAPACITY);
    h->created_ns = dl_get64(in + DL_SEGH_CREATED);
    if (h->capacity < DL_SEG_HEADER_SIZE)
        return DURLOG_ECORRUPT;
    /* Unknown flag bits are a later format's: ignored (they may only add
     * promises). */
    h->flags = dl_get32(in + DL_SEGH_FLAGS) & DL_SEG_F_KNOWN;
    h->ckpt_seq = h->first_seq;
    h->ckpt_off = DL_SEG_HEADER_SIZE;
    if (!(h->flags & DL_SEG_F_CKPT))
        return h->flags ? DURLOG_ECORRUPT : 0;
    /* A checkpoint must describe records that can fit in the segment: at
     * least 32 bytes each, none past the capacity. */
    h->ckpt_seq = dl_get64(in + DL_SEGH_CKPT_SEQ);
    h->ckpt_off = dl_get64(in + DL_SEGH_CKPT_OFF);
    if (h->ckpt_seq < h->first_seq || h->ckpt_seq >= DL_SEQ_LIMIT ||
        h->ckpt_off < DL_SEG_HEADER_SIZE || h->ckpt_off > h->capacity ||
        (h->ckpt_off & (DL_REC_ALIGN - 1)) ||
        (h->ckpt_off - DL_SEG_HEADER_SIZE) / DL_REC_HEADER_SIZE < h->ckpt_seq - h->first_seq ||
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

/* Header bytes 4..31 and the payload are contiguous: one pass. */
static uint32_t rec_crc(const unsigned char *rec, uint32_t len)
{
    return dl_crc32c(0, rec + DL_RECH_LEN, DL_REC_HEADER_SIZE - DL_RECH_LEN + (size_t)len);
}

void dl_rec_encode(unsigned char *dst, uint64_t seq, uint64_t time_ns,
                   uint64_t durable_before, const void *payload, uint32_t len)
{
    uint64_t padded = dl_rec_size(len) - DL_REC_HEADER_SIZE;
    if (len)
        memcpy(dst + DL_REC_HEADER_SIZE, payload, len);
    memset(dst + DL_REC_HEADER_SIZE + len, 0, padded - len);
    dl_put32(dst + DL_RECH_LEN, len);
    dl_put64(dst + DL_RECH_TIME, time_ns);
    dl_rec_seal(dst, seq, durable_before);
}

void dl_rec_seal(unsigned char *dst, uint64_t seq, uint64_t durable_before)
{
    dl_put64(dst + DL_RECH_SEQ, seq);
    dl_put64(dst + DL_RECH_DURABLE, durable_before);
    dl_put32(dst + DL_RECH_CRC, rec_crc(dst, dl_get32(dst + DL_RECH_LEN)));
}

static int header_is_zero(const unsigned char *p)
{
    uint64_t acc = 0;
    for (int i = 0; i < DL_REC_HEADER_SIZE; i += 8)
        acc |= dl_get64(p + i);
    return acc == 0;
}

enum dl_rec_status dl_rec_peek(const unsigned char *p, uint64_t avail,
                               struct dl_rec_view *out)
{
    if (avail < DL_REC_HEADER_SIZE)
        return avail == 0 ? DL_REC_EMPTY : DL_REC_BAD;
    if (header_is_zero(p))
        return DL_REC_EMPTY;
    uint32_t len = dl_get32(p + DL_RECH_LEN);
    if (len > DURLOG_MAX_RECORD)
        return DL_REC_BAD;
    uint64_t size = dl_rec_size(len);
    if (size > avail)
        return DL_REC_BAD;
    out->payload = p + DL_REC_HEADER_SIZE;
    out->len = len;
    out->seq = dl_get64(p + DL_RECH_SEQ);
    out->time_ns = dl_get64(p + DL_RECH_TIME);
    out->durable_before = dl_get64(p + DL_RECH_DURABLE);
    out->size = size;
    return DL_REC_VALID;
}

enum dl_rec_status dl_rec_check(const unsigned char *p, uint64_t avail,
                                struct dl_rec_view *out)
{
    enum dl_rec_status st = dl_rec_peek(p, avail, out);
    if (st != DL_REC_VALID)
        return st;
    if (dl_get32(p + DL_RECH_CRC) != rec_crc(p, out->len))
        return DL_REC_BAD;
    /* Padding must be zero: it is not covered by the CRC. */
    for (uint64_t i = DL_REC_HEADER_SIZE + out->len; i < out->size; i++)
        if (p[i] != 0)
            return DL_REC_BAD;
    return DL_REC_VALID;
}
