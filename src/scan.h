/*
 * scan.h - walking the records of one mapped segment: where valid data ends,
 * what lies after it, and whether good records follow a damaged region.
 * Recovery, `durlog check` and the reader's skip_damaged mode all decide
 * from this one scan.
 */
#ifndef DL_SCAN_H
#define DL_SCAN_H

#include <stdint.h>

#include "format.h"

struct dl_seal_note;

struct dl_scan {
    uint64_t first_seq;      /* the record expected where the scan began */
    uint64_t limit;          /* bytes examined: min(file size, capacity) */
    uint64_t records;        /* valid records in sequence from the start */
    uint64_t next_seq;       /* first_seq + records */
    uint64_t valid_end;      /* offset just after the last of them */
    uint64_t dirty_end;      /* offset just after the last non-zero byte at or
                                beyond valid_end; == valid_end when all zero */
    uint64_t max_durable;    /* largest durable_before among all valid
                                records found (in sequence or after damage) */
    uint64_t last_time_ns;   /* time of the last record in sequence (0:
                                none was found) */
    /* Valid records found beyond valid_end, after something that was not. */
    uint64_t later_records;
    uint64_t later_off;      /* offset of the first of them */
    uint64_t later_seq;
    uint64_t later_max_seq;  /* sequence number just past the last of them */
};

/* Scans map[0, limit) of a segment whose header has been verified. With
 * verify_crc zero, records are only checked structurally (lengths and
 * sequence numbers), which is enough to count them quickly. */
void dl_scan_segment(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t limit,
                     uint64_t first_seq, int verify_crc, struct dl_scan *out);

/* The same from offset `off`, where record `seq` is expected (a checkpoint:
 * what lies before it is not looked at; out->records counts from there),
 * stopping before record `stop_seq` (UINT64_MAX: no stop) as at the end of
 * data: nothing after it is examined (a live log's records past what its
 * writers have published may still be being copied). */
void dl_scan_from(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t limit,
                  uint64_t off, uint64_t seq, uint64_t stop_seq, int verify_crc,
                  struct dl_scan *out);

/* After damage at offset `bad`, where record min_seq was expected: offset of
 * the next valid record with seq >= min_seq starting in [from, end) (steps
 * of the segment's alignment), or UINT64_MAX when there is none. A record
 * may extend up to `limit` (its zero padding and trailing zero bytes can lie
 * past the last non-zero byte). Version 2 records carry only the low bits of
 * their number: a record at `off` is numbered at most min_seq + (off - bad)
 * / 16, and (times never decrease in a segment) it was appended no earlier
 * than DL_RESYNC_TIME_SLACK_NS before min_time_ns, the last good record's
 * time (0: unknown). */
uint64_t dl_scan_resync(const struct dl_seg_fmt *f, const unsigned char *map, uint64_t bad,
                        uint64_t from, uint64_t end, uint64_t limit, uint64_t min_seq,
                        uint64_t min_time_ns, struct dl_rec_view *rec);
#define DL_RESYNC_TIME_SLACK_NS 1000000000ull


/* Totals over a log directory's segments (for `durlog info`), from their
 * headers, without reading records: a sealed segment's header says where
 * it ends. Only a segment whose header does not (the tail; one rolled and
 * not sealed yet; one of a crash or of an older version) is walked, record
 * header by record header without verifying checksums, from its
 * checkpoint; and the tail not even that when the caller knows its end. */
struct dl_dir_stats {
    uint64_t segments;
    uint64_t first_seq;      /* first segment's first record */
    uint64_t next_seq;       /* after the last record found */
    uint64_t bytes;          /* bytes of records, headers included */
    uint64_t disk_bytes;     /* blocks the segment files occupy */
    uint64_t missing;        /* records between segments no file holds */
};
/* What the caller knows of the log's end (a writer, under the append
 * lock): the tail segment's name, the record after its last and the offset
 * after it. A walk stops before stop_seq (the records a live coordination
 * file says were published; UINT64_MAX: no stop). */
struct dl_dir_hint {
    uint64_t tail_seg;       /* DL_NO_SEGMENT: the tail's end is not known */
    uint64_t tail_end_seq, tail_end_off;
    uint64_t stop_seq;
    /* Where segments rolled and not sealed yet end, as the writers that
     * rolled them noted (copied from the coordination file under the append
     * lock; checked against each segment before use). */
    const struct dl_seal_note *notes;
    size_t n_notes;
};
#define DL_DIR_HINT_NONE { UINT64_MAX, 0, 0, UINT64_MAX, NULL, 0 }
/* err gets a message naming the file on failure. */
int dl_dir_stats(int dirfd, const char *path, const struct dl_dir_hint *hint,
                 struct dl_dir_stats *out, char *err, size_t errlen);

#endif
