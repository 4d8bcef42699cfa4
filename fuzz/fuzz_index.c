/*
 * fuzz_index.c - the sparse index's side file parser (dl_index_decode), and
 * lookups through a parsed index into a segment (dl_index_start).
 *
 * An input is an index file, optionally followed by a segment image (from
 * where the segment magic "DURLOGSG" starts). Seeds: fuzz/corpus/index,
 * real side files each followed by their sealed segment.
 *
 * Oracle: a side file the parser accepts has its entries in order and
 * inside the segment it names, and encodes back to the same bytes; a lookup
 * by number or time agrees with a scan of the entries; a lookup into the
 * segment starts only at a record that checks as the entry says, at or
 * before what was sought; an index built from the segment holds only
 * records that check.
 */
#include "fuzz.h"
#include "index.h"
#include "segment.h"

static void check_lookups(const struct dl_index *ix, const struct dl_segmap *m,
                          const uint8_t *data, size_t size)
{
    /* Keys: each entry's number and time, their neighbours, and a few
     * taken from the input. */
    for (uint32_t i = 0; i <= ix->count && i < 64; i++) {
        uint64_t base[2];
        if (i < ix->count) {
            base[0] = ix->e[i].seq;
            base[1] = ix->e[i].time_ns;
        } else {
            base[0] = size >= 8 ? dl_get64(data + size - 8) : 0;
            base[1] = base[0];
        }
        for (int by = 0; by < 2; by++)
            for (uint64_t d = 0; d < 3; d++) {
                uint64_t key = base[by] + d - 1;
                long want = -1;
                for (uint32_t j = 0; j < ix->count; j++)
                    if (by == DL_INDEX_BY_TIME ? ix->e[j].time_ns < key : ix->e[j].seq <= key)
                        want = (long)j;
                if (dl_index_find(ix, by, key) != want)
                    abort();
                if (!m)
                    continue;
                uint64_t pos, seq;
                int rc = dl_index_start(m, ix, by, key, &pos, &seq);
                if (rc == 0) {
                    struct dl_seg_fmt f = dl_segmap_fmt(m);
                    struct dl_rec_view v;
                    uint64_t limit = m->size;
                    if (pos >= limit ||
                        dl_rec_check(&f, m->map + pos, limit - pos, seq, &v) != DL_REC_VALID ||
                        v.seq != seq || (by == DL_INDEX_BY_SEQ ? seq > key : v.time_ns >= key))
                        abort();
                } else if (rc != 1 && rc != 2) {
                    abort();
                } else if (pos != DL_SEG_HEADER_SIZE || seq != m->first_seq) {
                    abort();
                }
            }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *seg = size > 8 ? memmem(data + 8, size - 8, DL_SEG_MAGIC, 8) : NULL;
    size_t ilen = seg ? (size_t)(seg - data) : size;
    size_t slen = seg ? size - ilen : 0;

    /* The segment, as a reader would have it mapped (read-only here). */
    struct dl_segmap m = DL_SEGMAP_INIT, *mp = NULL;
    struct dl_index_id id;
    int have_id = 0;
    if (slen >= DL_SEG_HEADER_SIZE && dl_seg_header_decode(seg, &m.hdr) == 0) {
        m.first_seq = m.hdr.first_seq;
        m.map = (unsigned char *)seg;
        m.size = slen;
        m.capacity = slen < m.hdr.capacity ? slen : m.hdr.capacity;
        mp = &m;
        have_id = dl_index_id_of(&m.hdr, &id) == 0;
    }

    struct dl_index ix = DL_INDEX_INIT;
    if (dl_index_decode(data, ilen, NULL, &ix) == 0) {
        for (uint32_t i = 0; i < ix.count; i++) {
            const struct dl_index_entry *e = &ix.e[i];
            if (e->seq < ix.id.first_seq || e->seq >= ix.id.end_seq ||
                e->off < DL_SEG_HEADER_SIZE || e->off >= ix.id.end_off)
                abort();
            if (i && (e->seq <= e[-1].seq || e->off <= e[-1].off || e->time_ns < e[-1].time_ns))
                abort();
        }
        unsigned char *out;
        size_t olen;
        if (dl_index_encode(&ix, &out, &olen) == 0) {
            if (olen != ilen || memcmp(out, data, ilen) != 0)
                abort();
            free(out);
        }
        /* Against the segment only when it is the one the index names, as
         * the reader does (dl_index_load). */
        struct dl_index again = DL_INDEX_INIT;
        int same = have_id && dl_index_decode(data, ilen, &id, &again) == 0;
        dl_index_free(&again);
        check_lookups(&ix, same ? mp : NULL, data, size);
        dl_index_free(&ix);
    }

    /* Built from the segment: every entry's record checks. */
    if (have_id && dl_index_build(&m, &ix) == 0) {
        struct dl_seg_fmt f = dl_segmap_fmt(&m);
        for (uint32_t i = 0; i < ix.count; i++) {
            struct dl_rec_view v;
            const struct dl_index_entry *e = &ix.e[i];
            if (e->off >= m.size ||
                dl_rec_check(&f, m.map + e->off, m.size - e->off, e->seq, &v) != DL_REC_VALID ||
                v.seq != e->seq || v.time_ns != e->time_ns)
                abort();
        }
        check_lookups(&ix, &m, data, size);
        dl_index_free(&ix);
    }
    return 0;
}
