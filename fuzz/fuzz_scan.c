/*
 * fuzz_scan.c - segment parsing in memory: the header, the record walk that
 * recovery, check and skip_damaged readers all decide from (dl_scan_segment),
 * and resynchronising after damage (dl_scan_resync).
 *
 * Oracle: the scan agrees with a plain record-by-record walk, never reports
 * an end past the input, and every record resync finds is valid.
 */
#include "fuzz.h"
#include "scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dl_seg_header h;
    if (size < DL_SEG_HEADER_SIZE || dl_seg_header_decode(data, &h) != 0)
        return 0;
    struct dl_scan s;
    struct dl_seg_fmt f = dl_seg_fmt_of(&h);
    dl_scan_segment(&f, data, size, h.first_seq, 1, &s);

    uint64_t off = DL_SEG_HEADER_SIZE, n = 0;
    struct dl_rec_view v;
    while (off < size &&
           dl_rec_check(&f, data + off, size - off, h.first_seq + n, &v) == DL_REC_VALID &&
           v.seq == h.first_seq + n) {
        off += v.size;
        n++;
    }
    if (s.records != n || s.valid_end != off || s.next_seq != h.first_seq + n)
        abort();
    if (s.valid_end > size || s.dirty_end > size || s.dirty_end < s.valid_end)
        abort();

    uint64_t at = s.valid_end, expect = s.next_seq;
    while (at < size) {
        at = dl_scan_resync(&f, data, at, at, size, size, expect, 0, &v);
        if (at == UINT64_MAX)
            break;
        struct dl_rec_view again;
        if (at >= size || v.seq < expect ||
            dl_rec_check(&f, data + at, size - at, v.seq, &again) != DL_REC_VALID ||
            again.seq != v.seq)
            abort();
        at += again.size;
        expect = again.seq + 1;
    }
    return 0;
}
