/*
 * Recovery at open: a torn tail is cut wherever the write stopped; damage
 * with good records after it is refused (DURLOG_ECORRUPT) in strict mode
 * (durlog.shm from this boot); after a power loss (no durlog.shm) a gap no
 * later record vouches for is cut, and a gap below a later record's
 * durable_before is refused. Readers never return damaged bytes.
 */
#include <time.h>

#include "os.h"
#include "segment.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/model.h"

static const char SEG0[] = "00000000000000000000.seg";

/* Removes the coordination file: the log's history is unknown, as after a
 * power loss, so the next open recovers leniently. */
static void forget_history(const char *log)
{
    char path[400];
    CHECK(unlink(log_file(path, sizeof path, log, "durlog.shm")) == 0);
}

/* Opens the log expecting success; checks what recovery cut. */
static durlog *open_expecting_cut(const char *log, uint64_t segment_size,
                                  uint64_t bytes_cut, uint64_t offset,
                                  const char *segment)
{
    durlog *w = NULL;
    CHECK_OK(open_log(log, segment_size, &w));
    if (!w)
        return NULL;
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK_EQ_U64(rec.performed, 1);
    CHECK_EQ_U64(rec.bytes_cut, bytes_cut);
    if (bytes_cut) {
        CHECK(strcmp(rec.segment, segment) == 0);
        CHECK_EQ_U64(rec.offset, offset);
    }
    return w;
}

/* Opens the log expecting DURLOG_ECORRUPT with a message naming the segment
 * and "offset <offset>"; the log's files must be left as they were. */
static void open_expecting_corrupt(const char *log, const char *segment,
                                   uint64_t offset)
{
    char errbuf[512] = "", want[64], path[400];
    durlog_options o = { .errbuf = errbuf, .errbuf_size = sizeof errbuf };
    size_t before_len;
    unsigned char *before = file_read(log_file(path, sizeof path, log, segment), &before_len);
    durlog *w = NULL;
    CHECK_RC(durlog_open(log, &o, &w), DURLOG_ECORRUPT);
    if (w)
        durlog_close(w);
    snprintf(want, sizeof want, "offset %" PRIu64, offset);
    if (!strstr(errbuf, segment) || !strstr(errbuf, want)) {
        fprintf(stderr, "  open error \"%s\" does not name %s at %s\n", errbuf,
                segment, want);
        th_failed_current = 1;
    }
    size_t after_len;
    unsigned char *after = file_read(path, &after_len);
    CHECK(before && after && before_len == after_len &&
          memcmp(before, after, before_len) == 0);
    free(before);
    free(after);
}

/* ------------------------------------------------------------------------
 * Torn tails in strict mode.
 */

/* Picks the model's salt so that record `seq` has no zero byte: zeroing
 * any part of it then changes it. */
static void salt_without_zero_bytes(struct model *m, uint64_t seq)
{
    for (m->salt = 1; memchr(model_payload(m, seq), 0, m->lens[seq]); m->salt++)
        ;
}

enum tear { TEAR_ZERO, TEAR_TRUNCATE };

/* Restores the pristine segment, tears the record at data_start (size bytes)
 * after its first `keep` bytes, reopens, and checks that exactly the records
 * before it survive and the log goes on. */
static void tear_and_recover(const char *log, struct model *m, size_t k,
                             const unsigned char *pristine, size_t pristine_len,
                             const char *seg, uint64_t seg_first,
                             uint64_t data_start, uint64_t size, uint64_t keep,
                             enum tear how, uint64_t segment_size)
{
    char segname[DL_SEG_NAME_LEN + 1];
    dl_seg_name(segname, seg_first);
    REQUIRE(file_write(seg, pristine, pristine_len) == 0);
    if (how == TEAR_ZERO)
        REQUIRE(file_zero(seg, data_start + keep, size - keep) == 0);
    else
        REQUIRE(truncate(seg, (off_t)(data_start + keep)) == 0);

    uint64_t cut = nonzero_extent(pristine + data_start, keep);
    durlog *w = open_expecting_cut(log, segment_size, cut, data_start, segname);
    REQUIRE(w);
    if (cut) {
        /* What was cut is kept, byte for byte, in the side file named. */
        durlog_recovery rec;
        durlog_last_recovery(w, &rec);
        char side[400];
        size_t side_len = 0;
        unsigned char *kept = rec.side_file[0]
            ? file_read(log_file(side, sizeof side, log, rec.side_file), &side_len) : NULL;
        CHECK(kept && side_len >= cut && memcmp(kept, pristine + data_start, cut) == 0);
        free(kept);
        if (kept)
            unlink(side);
    }
    CHECK_EQ_U64(log_next_seq(w), k - 1);
    /* The debris is gone from the file, not just skipped. */
    size_t now_len;
    unsigned char *now = file_read(seg, &now_len);
    CHECK(now && now_len >= data_start &&
          nonzero_extent(now + data_start, now_len - data_start) == 0);
    free(now);
    int end_rc;
    CHECK_EQ_U64(model_read_log(m, log, &end_rc), k - 1);
    CHECK_RC(end_rc, DURLOG_EEND);
    /* The record is appended again and gets the same number. */
    model_append(w, m, k - 1, k, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    CHECK_EQ_U64(model_read_log(m, log, &end_rc), k);
    CHECK_RC(end_rc, DURLOG_EEND);
}

/* The model's log (its last record free of zero bytes) as a writer that
 * crashed before anything was checkpointed left it; returns the bytes of
 * the segment that starts at seg_first (malloc'd; NULL if there are none),
 * its path in seg (400 bytes) and its length in *len. */
static unsigned char *log_to_tear(struct scratch *s, struct model *m, uint64_t segment_size,
                                  uint64_t seg_first, char *seg, size_t *len)
{
    salt_without_zero_bytes(m, m->count - 1);
    if (fx_model_log_closed(s, m, segment_size, -1) != 0)
        return NULL;
    forget_checkpoints(s->log);
    return file_read(seg_file(seg, 400, s->log, seg_first), len);
}

static void torn_last_record_is_cut_at_every_offset(void)
{
    enum { K = 20, LAST_LEN = 304 }; /* a multiple of 8: no padding to spare */
    struct scratch s;
    uint32_t lens[K];
    for (int i = 0; i < K - 1; i++)
        lens[i] = (uint32_t)(i * 37 % 211);
    lens[K - 1] = LAST_LEN;
    struct model m;
    model_init(&m, 0, lens, K);
    char seg[400];
    size_t len;
    unsigned char *pristine = log_to_tear(&s, &m, 0, 0, seg, &len);
    REQUIRE(pristine);
    uint64_t data_start = DL_SEG_HEADER_SIZE + model_bytes(&m, K - 1);
    uint64_t size = dl_rec_size(LAST_LEN);
    REQUIRE(data_start + size <= len);
    for (int how = TEAR_ZERO; how <= TEAR_TRUNCATE && !th_failed_current; how++)
        for (uint64_t o = 0; o < size && !th_failed_current; o++)
            tear_and_recover(s.log, &m, K, pristine, len, seg, 0, data_start, size,
                             o, (enum tear)how, 0);
    if (th_failed_current)
        fprintf(stderr, "  (the last failing case is shown above)\n");
    free(pristine);
}

static void torn_first_record_of_a_new_segment_is_cut(void)
{
    /* 4 KiB segments hold five 700-byte records; record 5 opens segment 5. */
    enum { K = 6, LEN = 704 };
    struct scratch s;
    struct model m;
    model_same_len(&m, 0, K, LEN);
    char seg[400];
    size_t len;
    unsigned char *pristine = log_to_tear(&s, &m, 4096, K - 1, seg, &len);
    REQUIRE(pristine);
    uint64_t segs[4];
    REQUIRE(list_segments(s.log, segs, 4) == 2);
    REQUIRE(segs[1] == K - 1);
    uint64_t size = dl_rec_size(LEN);
    /* Every 7th offset: the test above sweeps every one. */
    for (int how = TEAR_ZERO; how <= TEAR_TRUNCATE && !th_failed_current; how++)
        for (uint64_t o = 0; o < size && !th_failed_current; o += 7)
            tear_and_recover(s.log, &m, K, pristine, len, seg, K - 1,
                             DL_SEG_HEADER_SIZE, size, o, (enum tear)how, 4096);
    free(pristine);
}

/* ------------------------------------------------------------------------
 * A flipped bit anywhere in a one-segment log, strict mode.
 */

/* Which record holds byte `off`: -1 for the segment header, k for bytes
 * after the last record. */
static int record_at(const uint64_t *starts, int k, uint64_t off)
{
    if (off < DL_SEG_HEADER_SIZE)
        return -1;
    int j = 0;
    while (j < k && off >= starts[j + 1])
        j++;
    return j;
}

/* The checks for one flipped bit at `off`, in record j (see record_at). */
static void check_flipped_log(const char *log, struct model *m, int k,
                              const uint64_t *starts, uint64_t off, int j)
{
    int end_rc;
    uint64_t skipped;
    uint64_t n = model_read_log(m, log, &end_rc);
    uint64_t n_skip = model_read_skipping(m, log, &skipped);
    durlog_check_report rep;
    CHECK_OK(durlog_check(log, 0, &rep));
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK(strstr(rep.problem, SEG0) != NULL);

    if (j < 0) {
        /* The segment header: nothing can be trusted. */
        CHECK_EQ_U64(n, 0);
        CHECK(end_rc == DURLOG_ECORRUPT || end_rc == DURLOG_EFORMAT);
        CHECK_EQ_U64(n_skip, 0);
        open_expecting_corrupt(log, SEG0, 0);
    } else if (j < k - 1) {
        /* A record with good ones after it. */
        CHECK_EQ_U64(n, (uint64_t)j);
        CHECK_RC(end_rc, DURLOG_ECORRUPT);
        CHECK_EQ_U64(n_skip, (uint64_t)k - 1);
        CHECK(skipped > 0);
        CHECK_EQ_U64(rep.damage_at_tail, 0);
        /* Every valid record is counted, those after the damage too. */
        CHECK_EQ_U64(rep.records, (uint64_t)k - 1);
        open_expecting_corrupt(log, SEG0, starts[j]);
    } else {
        /* The last record, or the zeros after it: a torn tail. */
        CHECK_EQ_U64(n, (uint64_t)j);
        /* A published record that fails its checksum is damage, not the
         * end of the log. */
        CHECK_RC(end_rc, j == k ? DURLOG_EEND : DURLOG_ECORRUPT);
        CHECK_EQ_U64(n_skip, (uint64_t)j);
        CHECK_EQ_U64(rep.damage_at_tail, 1);
        CHECK_EQ_U64(rep.records, (uint64_t)j);
        durlog *w = NULL;
        CHECK_OK(durlog_open(log, NULL, &w));
        if (w) {
            durlog_recovery rec;
            durlog_last_recovery(w, &rec);
            CHECK(rec.bytes_cut > 0);
            CHECK_EQ_U64(rec.offset, starts[j]);
            CHECK_OK(durlog_close(w));
        }
        CHECK_EQ_U64(model_read_log(m, log, &end_rc), (uint64_t)j);
        CHECK_RC(end_rc, DURLOG_EEND);
    }
    if (th_failed_current)
        fprintf(stderr, "  (bit %d of byte %" PRIu64 ", record %d)\n",
                (int)(off % 8), off, j);
}

/* Failing positions after which the bit-flip sweep stops. */
#define MAX_FAILING 8

static void flipped_bit_anywhere_is_detected_and_never_returned(void)
{
    enum { K = 50, AFTER = 64 };
    struct scratch s;
    uint32_t lens[K];
    for (int i = 0; i < K; i++)
        lens[i] = (uint32_t)(i * 13 % 61);
    struct model m;
    model_init(&m, 31337, lens, K);
    REQUIRE(fx_model_log_closed(&s, &m, 0, -1) == 0);
    /* As a writer that crashed before anything was checkpointed left it. */
    forget_checkpoints(s.log);

    uint64_t starts[K + 1];
    for (int i = 0; i <= K; i++)
        starts[i] = DL_SEG_HEADER_SIZE + model_bytes(&m, (size_t)i);
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    size_t len;
    unsigned char *pristine = file_read(seg, &len);
    REQUIRE(pristine && starts[K] + AFTER <= len);
    /* The coordination file too: every position starts from the log as the
     * writer left it (an open that cut or failed changes it). */
    char shm[400];
    size_t shm_len;
    log_file(shm, sizeof shm, s.log, "durlog.shm");
    unsigned char *pristine_shm = file_read(shm, &shm_len);
    REQUIRE(pristine_shm);

    /* Every byte of the header and the records, and some zeros after them;
     * the bit flipped moves with the byte's position. A failing position
     * does not stop the sweep (the report then shows which kinds of
     * position fail), but MAX_FAILING of them do. */
    int failing = 0;
    for (uint64_t off = 0; off < starts[K] + AFTER && failing < MAX_FAILING; off++) {
        int failed_before = th_failed_current;
        th_failed_current = 0;
        /* Recovery changes nothing past the records' end and the zeros
         * after them, so restoring those bytes restores the file. */
        REQUIRE(file_put(seg, 0, pristine, starts[K] + AFTER) == 0);
        REQUIRE(file_put(shm, 0, pristine_shm, shm_len) == 0);
        REQUIRE(file_flip_bit(seg, off, (int)(off % 8)) == 0);
        check_flipped_log(s.log, &m, K, starts, off, record_at(starts, K, off));
        failing += th_failed_current;
        th_failed_current |= failed_before;
    }
    free(pristine_shm);
    free(pristine);
}

/* A log of `count` records of the given lengths, all but the last a multiple
 * of 8 bytes, so that only the last record has padding after its payload;
 * record count-2 is appended at DURLOG_SYNC. Then a bit of record 1's
 * payload flips. */
static void damage_before_padded_last_record(struct scratch *s, struct model *m,
                                             const uint32_t *lens, int count,
                                             uint64_t *starts)
{
    model_init(m, 11, lens, (size_t)count);
    if (fx_model_log_closed(s, m, 0, count - 2) != 0)
        return;
    /* As a writer that crashed before anything was checkpointed left it. */
    forget_checkpoints(s->log);
    for (int i = 0; i <= count; i++)
        starts[i] = DL_SEG_HEADER_SIZE + model_bytes(m, (size_t)i);
    char seg[400];
    CHECK(file_flip_bit(seg_file(seg, sizeof seg, s->log, 0),
                        starts[1] + DL_REC_HEADER_SIZE + 3, 2) == 0);
}

static void damage_followed_only_by_a_padded_record_is_refused(void)
{
    static const uint32_t lens[] = { 8, 8, 5 };
    struct scratch s;
    struct model m;
    uint64_t starts[4];
    damage_before_padded_last_record(&s, &m, lens, 3, starts);
    /* Record 2 is good (and was synced): cutting it as a torn tail would
     * lose an acknowledged record. */
    open_expecting_corrupt(s.log, SEG0, starts[1]);
    CHECK_EQ_U64(model_read_skipping(&m, s.log, NULL), 2);
}

static void damage_vouched_for_by_a_padded_last_record_is_refused_after_power_loss(void)
{
    static const uint32_t lens[] = { 8, 8, 8, 5 };
    struct scratch s;
    struct model m;
    uint64_t starts[5];
    damage_before_padded_last_record(&s, &m, lens, 4, starts);
    forget_history(s.log);
    /* Record 3 says records 0..2 were durable: the damage to record 1 is
     * not a power loss's doing. */
    open_expecting_corrupt(s.log, SEG0, starts[1]);
    CHECK_EQ_U64(model_read_skipping(&m, s.log, NULL), 3);
}

/* ------------------------------------------------------------------------
 * Power loss: no durlog.shm, lenient recovery.
 */

/* The first record (of records [0, n) at `starts`) that overlaps [lo, hi). */
static int first_overlapping(const uint64_t *starts, int n, uint64_t lo, uint64_t hi)
{
    for (int i = 0; i < n; i++)
        if (starts[i + 1] > lo && starts[i] < hi)
            return i;
    return n;
}

/* A one-segment log of 100 records of 200 bytes; record sync_at (if >= 0)
 * is appended at DURLOG_SYNC, the rest at DURLOG_KERNEL. */
static void write_hundred(struct scratch *s, struct model *m, uint64_t *starts,
                          int sync_at)
{
    model_same_len(m, 555, 100, 200);
    if (fx_model_log_closed(s, m, 0, sync_at) != 0)
        return;
    /* As a writer that crashed before anything was checkpointed left it. */
    forget_checkpoints(s->log);
    for (int i = 0; i <= 100; i++)
        starts[i] = DL_SEG_HEADER_SIZE + model_bytes(m, (size_t)i);
}

/* Zeroes [lo, hi) of segment 0, as a power loss may leave it (the history
 * of the log forgotten), reopens, and checks that the log was cut to the
 * records before it. */
static void expect_cut_at_gap(const struct scratch *s, struct model *m,
                              const uint64_t *starts, uint64_t lo, uint64_t hi)
{
    char seg[400];
    size_t len;
    forget_history(s->log);
    REQUIRE(file_zero(seg_file(seg, sizeof seg, s->log, 0), lo, hi - lo) == 0);
    unsigned char *before = file_read(seg, &len);
    REQUIRE(before);
    int first_bad = first_overlapping(starts, 100, lo, hi);
    REQUIRE(first_bad < 100);
    uint64_t cut = nonzero_extent(before + starts[first_bad],
                                  starts[100] - starts[first_bad]);
    CHECK(cut > 0);
    durlog *w = open_expecting_cut(s->log, 0, cut, starts[first_bad], SEG0);
    REQUIRE(w);
    CHECK_EQ_U64(log_next_seq(w), first_bad);
    int end_rc;
    CHECK_EQ_U64(model_read_log(m, s->log, &end_rc), (uint64_t)first_bad);
    CHECK_RC(end_rc, DURLOG_EEND);
    model_append(w, m, (size_t)first_bad, (size_t)first_bad + 1, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    durlog_check_report rep;
    CHECK_OK(durlog_check(s->log, 0, &rep));
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, (uint64_t)first_bad + 1);
    free(before);
}

static void power_loss_gap_in_unsynced_records_is_cut(void)
{
    struct scratch s;
    struct model m;
    uint64_t starts[101];
    write_hundred(&s, &m, starts, -1);
    /* A page in the middle of the data never reached the disk. */
    expect_cut_at_gap(&s, &m, starts, 8192, 8192 + 4096);
}

static void power_loss_gap_above_durable_mark_is_cut(void)
{
    struct scratch s;
    struct model m;
    uint64_t starts[101];
    /* Record 60 was synced: records 61.. say 0..60 are durable, not 70. */
    write_hundred(&s, &m, starts, 60);
    expect_cut_at_gap(&s, &m, starts, starts[70] + 40, starts[70] + 140);
}

static void power_loss_gap_below_durable_mark_is_corruption(void)
{
    struct scratch s;
    struct model m;
    uint64_t starts[101];
    write_hundred(&s, &m, starts, 60);
    forget_history(s.log);
    char seg[400];
    REQUIRE(file_zero(seg_file(seg, sizeof seg, s.log, 0), starts[30] + 40, 100) == 0);
    open_expecting_corrupt(s.log, SEG0, starts[30]);
    /* Nothing was cut: the records after the damage are all still there. */
    CHECK_EQ_U64(model_read_skipping(&m, s.log, NULL), 99);
}

/* A log of 4 KiB segments, SEGMENTED_RECORDS records of 100 bytes each;
 * record sync_at (-1: none) is appended at DURLOG_SYNC. Returns the segment
 * count, their first records in segs (at most max_segs). */
#define SEGMENTED_RECORDS 200
static size_t write_segmented(struct scratch *s, struct model *m, int sync_at,
                              uint64_t *segs, size_t max_segs)
{
    model_same_len(m, 9001, SEGMENTED_RECORDS, 100);
    if (fx_model_log_closed(s, m, 4096, sync_at) != 0)
        return 0;
    /* As a writer that crashed before anything was checkpointed left it. */
    forget_checkpoints(s->log);
    return list_segments(s->log, segs, max_segs);
}

/* A power loss (the log's history forgotten) that lost the last `count`
 * records of segment segs[i] (whose records run to segs[i+1]): zeroes them;
 * returns the offset where they started. */
static uint64_t lose_segment_tail(const struct scratch *s, struct model *m,
                                  const uint64_t *segs, size_t i, uint64_t count)
{
    forget_history(s->log);
    uint64_t first = segs[i], end = segs[i + 1];
    uint64_t off = DL_SEG_HEADER_SIZE, len = 0;
    for (uint64_t q = first; q < end; q++) {
        if (q < end - count)
            off += dl_rec_size(m->lens[q]);
        else
            len += dl_rec_size(m->lens[q]);
    }
    char seg[400];
    CHECK(file_zero(seg_file(seg, sizeof seg, s->log, first), off, len) == 0);
    return off;
}

static void power_loss_of_a_segment_tail_removes_later_segments(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[32];
    size_t n = write_segmented(&s, &m, -1, segs, 32);
    REQUIRE(n >= 5 && n <= 32);
    uint64_t off = lose_segment_tail(&s, &m, segs, 2, 3);
    uint64_t prefix = segs[3] - 3;

    char segname[DL_SEG_NAME_LEN + 1];
    dl_seg_name(segname, segs[2]);
    durlog *w = NULL;
    CHECK_OK(open_log(s.log, 4096, &w));
    REQUIRE(w);
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK_EQ_U64(rec.segments_removed, n - 3);
    CHECK(rec.bytes_cut > 0);
    CHECK(strcmp(rec.segment, segname) == 0);
    CHECK_EQ_U64(rec.offset, off);
    CHECK_EQ_U64(log_next_seq(w), prefix);
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), prefix);
    CHECK_RC(end_rc, DURLOG_EEND);
    uint64_t left[32];
    CHECK_EQ_U64(list_segments(s.log, left, 32), 3);
    model_append(w, &m, prefix, SEGMENTED_RECORDS, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), SEGMENTED_RECORDS);
    CHECK_RC(end_rc, DURLOG_EEND);
}

/* Segment 2 loses its last three records; record `sync_at` was appended at
 * DURLOG_SYNC, so the records after it vouch for everything before it. */
static void lost_segment_tail_vouched_for_is_corruption(int sync_at_from_end_of_seg2)
{
    struct scratch s;
    struct model m;
    uint64_t segs[32];
    /* Find the segment layout first: it does not depend on the level. */
    size_t n = write_segmented(&s, &m, -1, segs, 32);
    REQUIRE(n >= 5 && n <= 32);
    model_free(&m);
    scratch_remove(&s);
    int sync_at = (int)segs[3] + sync_at_from_end_of_seg2;
    CHECK_EQ_U64(write_segmented(&s, &m, sync_at, segs, 32), n);
    uint64_t off = lose_segment_tail(&s, &m, segs, 2, 3);
    char segname[DL_SEG_NAME_LEN + 1];
    dl_seg_name(segname, segs[2]);
    open_expecting_corrupt(s.log, segname, off);
    CHECK_EQ_U64(list_segments(s.log, segs, 32), n);
}

static void lost_segment_tail_with_sync_inside_it_is_corruption(void)
{
    /* The second of the three lost records was a sync append. */
    lost_segment_tail_vouched_for_is_corruption(-2);
}

static void lost_segment_tail_with_sync_in_next_segment_is_corruption(void)
{
    /* A record of the next segment was a sync append. */
    lost_segment_tail_vouched_for_is_corruption(5);
}

/* A log holding one record, closed; `seg` gets its segment file's path. */
static void one_record_log(const char *log_path, char *seg, size_t size)
{
    durlog *log;
    REQUIRE(durlog_open(log_path, NULL, &log) == 0);
    CHECK_OK(durlog_append(log, "a", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    seg_file(seg, size, log_path, 0);
}

/* What a reader of the log gets first: an error at open or at the first
 * record (a reader may look at the segments only when asked for one). */
static int first_read(const char *log_path)
{
    durlog_reader *r;
    durlog_record rec;
    int rc = durlog_reader_open(log_path, NULL, &r);
    if (rc == 0) {
        rc = durlog_reader_next(r, &rec);
        durlog_reader_close(r);
    }
    return rc;
}

/* Found by fuzz_recover: a file named after a sequence number near 2^64
 * made the next append's number wrap to 0. Names at or past DL_SEQ_LIMIT are
 * damage, for writers, readers and check alike. */
static void segment_named_beyond_the_sequence_limit_is_damage(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(mkdir(s.log, 0755) == 0);
    char path[PATH_MAX];
    seg_file(path, sizeof path, s.log, UINT64_MAX);
    REQUIRE(file_write(path, "DURLOGSG", 8) == 0);
    durlog *log;
    durlog_options o = { .no_create = 1 };
    int rc = durlog_open(s.log, &o, &log);
    CHECK_RC(rc, DURLOG_ECORRUPT);
    CHECK_RC(first_read(s.log), DURLOG_ECORRUPT);
    durlog_check_report rep;
    rc = durlog_check(s.log, 0, &rep);
    CHECK(rc == DURLOG_ECORRUPT || (rc == 0 && rep.damaged));
}

/* A log whose numbers reach DL_SEQ_LIMIT takes no more appends, at any
 * level, rather than wrapping. */
static void appends_stop_at_the_sequence_limit(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(mkdir(s.log, 0755) == 0);
    int dirfd = open(s.log, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    struct dl_segmap m;
    char err[256];
    REQUIRE(dl_seg_create(dirfd, s.log, DL_SEQ_LIMIT - 3, DL_SEG_STORE, 0, 1 << 20, 4096,
                          dl_now_ns(), 0644, NULL, &m, err, sizeof err) == 0);
    dl_seg_close(&m);
    close(dirfd);
    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    uint64_t seq;
    CHECK_OK(durlog_append(log, "a", 1, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, DL_SEQ_LIMIT - 3);
    CHECK_OK(durlog_append(log, "b", 1, DURLOG_KERNEL, &seq));
    CHECK_RC(durlog_append(log, "c", 1, DURLOG_KERNEL, &seq), -EOVERFLOW);
    CHECK(strstr(durlog_errmsg(log), "no sequence numbers left") != NULL);
    CHECK_OK(durlog_append(log, "d", 1, DURLOG_BUFFERED, NULL));
    CHECK_RC(durlog_flush(log, DURLOG_KERNEL), -EOVERFLOW);
    fx_close(log);
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    uint64_t n = 0;
    while (durlog_reader_next(r, &rec) == 0)
        n++;
    CHECK_EQ_U64(n, 2);
    durlog_reader_close(r);
}

/* A FIFO planted under a segment's name must be refused, not block the
 * open (reading a FIFO waits for a writer that never comes). */
static void fifo_in_place_of_a_segment_is_refused_without_blocking(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *log;
    char path[PATH_MAX];
    one_record_log(s.log, path, sizeof path);
    REQUIRE(unlink(path) == 0);
    REQUIRE(mkfifo(path, 0644) == 0);
    time_t start = time(NULL);
    CHECK(durlog_open(s.log, NULL, &log) != 0);
    int rc = first_read(s.log);
    CHECK(rc != 0 && rc != DURLOG_EEND);
    durlog_check_report rep;
    rc = durlog_check(s.log, 0, &rep);
    CHECK(rc != 0 || rep.damaged);
    CHECK(time(NULL) - start < 5);
}

/* A symbolic link in place of a segment (even to a valid one) is refused:
 * it could point anywhere, and the log would write there. */
static void symlink_in_place_of_a_segment_is_refused(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *log;
    char path[PATH_MAX], moved[PATH_MAX + 16];
    one_record_log(s.log, path, sizeof path);
    snprintf(moved, sizeof moved, "%s/elsewhere", s.dir);
    REQUIRE(rename(path, moved) == 0);
    REQUIRE(symlink(moved, path) == 0);
    char err[512] = "";
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    CHECK(durlog_open(s.log, &o, &log) != 0);
    if (!strstr(err, "symbolic link"))
        fprintf(stderr, "  message: %s\n", err);
    CHECK(strstr(err, "symbolic link") != NULL);
    int rc = first_read(s.log);
    CHECK(rc != 0 && rc != DURLOG_EEND);
}

/* A log directory every user may write to is refused, by writers and
 * readers alike, with a message saying why and what to do. */
static void world_writable_log_directory_is_refused(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *log;
    REQUIRE(durlog_open(s.log, NULL, &log) == 0);
    CHECK_OK(durlog_append(log, "a", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    REQUIRE(chmod(s.log, 0777) == 0);
    char err[512] = "";
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    CHECK_RC(durlog_open(s.log, &o, &log), -EPERM);
    CHECK(strstr(err, "writable by every user") != NULL);
    durlog_reader *r;
    char rerr[512] = "";
    durlog_reader_options ro = { .errbuf = rerr, .errbuf_size = sizeof rerr };
    CHECK_RC(durlog_reader_open(s.log, &ro, &r), -EPERM);
    CHECK(strstr(rerr, "chmod o-w") != NULL);
    REQUIRE(chmod(s.log, 0775) == 0); /* group-writable is fine */
    CHECK_OK(durlog_open(s.log, NULL, &log));
    CHECK_OK(durlog_close(log));
}

/* ------------------------------------------------------------------------
 * The persisted durable point.
 */

/* Every rolled segment is sealed (its header says where it ends), soon
 * after the roll and at the latest when the writer closes; the last close
 * checkpoints the tail. */
static void rolled_segments_are_sealed_and_the_last_close_checkpoints_the_tail(void)
{
    struct scratch s;
    struct model m;
    model_same_len(&m, 77, 300, 100);
    durlog *w = fx_model_log(&s, &m, 4096);
    REQUIRE(w);
    uint64_t segs[64];
    size_t n = list_segments(s.log, segs, 64);
    REQUIRE(n >= 5 && n < 64);
    /* In the background, while the log is open. */
    int all_sealed = 0;
    for (int tries = 0; tries < 400 && !all_sealed; tries++) {
        all_sealed = 1;
        for (size_t i = 0; i + 1 < n; i++)
            all_sealed &= (segment_flags(s.log, segs[i]) & DL_SEG_F_SEALED) != 0;
        if (!all_sealed)
            usleep(5000);
    }
    CHECK(all_sealed);
    CHECK_EQ_U64(segment_flags(s.log, segs[n - 1]), 0);
    CHECK_OK(fx_close(w));
    CHECK_EQ_U64(segment_flags(s.log, segs[n - 1]), DL_SEG_F_CKPT);
    /* Each seal names the segment that follows, and the tail's checkpoint
     * covers every record. */
    for (size_t i = 0; i < n; i++) {
        struct dl_seg_header h;
        REQUIRE(segment_header_read(s.log, segs[i], &h) == 0);
        CHECK_EQ_U64(h.ckpt_seq, i + 1 < n ? segs[i + 1] : 300);
        CHECK_EQ_U64(h.ckpt_off, DL_SEG_HEADER_SIZE + model_bytes(&m, (size_t)h.ckpt_seq) -
                                     model_bytes(&m, (size_t)segs[i]));
    }
}

/* After a reboot, damage below the checkpoint is not a crash's doing:
 * recovery does not look at it, cuts nothing, and readers report it. */
static void damage_below_a_checkpoint_is_never_cut_after_a_reboot(void)
{
    struct scratch s;
    struct model m;
    model_same_len(&m, 5, 40, 64);
    REQUIRE(fx_model_log_closed(&s, &m, 0, -1) == 0); /* never synced but by close */
    forget_history(s.log);
    char seg[400];
    uint64_t off = DL_SEG_HEADER_SIZE + model_bytes(&m, 10) + DL_REC_HEADER_SIZE + 3;
    REQUIRE(file_flip_bit(seg_file(seg, sizeof seg, s.log, 0), off, 1) == 0);
    durlog *w2 = open_expecting_cut(s.log, 0, 0, 0, SEG0);
    REQUIRE(w2);
    CHECK_EQ_U64(log_next_seq(w2), 40);
    model_append(w2, &m, 0, 0, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w2));
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 10);
    CHECK_RC(end_rc, DURLOG_ECORRUPT);
    CHECK_EQ_U64(model_read_skipping(&m, s.log, NULL), 39);
}

/* A log without any checkpoint (never synced, or written by an older durlog)
 * that a reboot finds damaged in the middle: nothing vouches for the records
 * after the damage, so recovery cuts there, as a power loss would have left
 * it; but it deletes nothing: the records after the damage are in side files,
 * byte for byte. */
static void unproven_damage_after_a_reboot_is_cut_into_side_files(void)
{
    struct scratch s;
    struct model m;
    model_same_len(&m, 8, 60, 200);
    REQUIRE(fx_model_log_closed(&s, &m, 4096, -1) == 0);
    forget_checkpoints(s.log);
    forget_history(s.log);
    uint64_t segs[64];
    size_t n = list_segments(s.log, segs, 64);
    REQUIRE(n >= 4);
    char seg[400];
    REQUIRE(file_flip_bit(seg_file(seg, sizeof seg, s.log, segs[1]),
                          DL_SEG_HEADER_SIZE + DL_REC_HEADER_SIZE + 5, 3) == 0);
    durlog *w;
    CHECK_OK(open_log(s.log, 4096, &w));
    REQUIRE(w);
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK(rec.bytes_cut > 0);
    CHECK_EQ_U64(rec.segments_removed, n - 2);
    CHECK(rec.side_file[0] != 0);
    CHECK_EQ_U64(log_next_seq(w), segs[1]);
    CHECK_OK(durlog_close(w));
    /* Every record after the damage is in some side file. */
    size_t found = 0;
    DIR *d = opendir(s.log);
    struct dirent *de;
    static unsigned char *files[128];
    static size_t lensf[128];
    size_t nf = 0;
    while (d && (de = readdir(d)) != NULL && nf < 128) {
        if (!strstr(de->d_name, ".cut-"))
            continue;
        char path[400], name[64];
        snprintf(name, sizeof name, "%.63s", de->d_name);
        files[nf] = file_read(log_file(path, sizeof path, s.log, name), &lensf[nf]);
        nf++;
    }
    if (d)
        closedir(d);
    for (uint64_t q = segs[1] + 1; q < 60; q++)
        for (size_t i = 0; i < nf; i++)
            if (files[i] && memmem(files[i], lensf[i], model_payload(&m, q), m.lens[q])) {
                found++;
                break;
            }
    CHECK_EQ_U64(found, 60 - segs[1] - 1);
    for (size_t i = 0; i < nf; i++)
        free(files[i]);
}

TEST_MAIN(
    RUN(torn_last_record_is_cut_at_every_offset);
    RUN(torn_first_record_of_a_new_segment_is_cut);
    RUN(flipped_bit_anywhere_is_detected_and_never_returned);
    RUN(damage_followed_only_by_a_padded_record_is_refused);
    RUN(damage_vouched_for_by_a_padded_last_record_is_refused_after_power_loss);
    RUN(power_loss_gap_in_unsynced_records_is_cut);
    RUN(power_loss_gap_above_durable_mark_is_cut);
    RUN(power_loss_gap_below_durable_mark_is_corruption);
    RUN(power_loss_of_a_segment_tail_removes_later_segments);
    RUN(lost_segment_tail_with_sync_inside_it_is_corruption);
    RUN(lost_segment_tail_with_sync_in_next_segment_is_corruption);
    RUN(segment_named_beyond_the_sequence_limit_is_damage);
    RUN(appends_stop_at_the_sequence_limit);
    RUN(fifo_in_place_of_a_segment_is_refused_without_blocking);
    RUN(symlink_in_place_of_a_segment_is_refused);
    RUN(world_writable_log_directory_is_refused);
    RUN(rolled_segments_are_sealed_and_the_last_close_checkpoints_the_tail);
    RUN(damage_below_a_checkpoint_is_never_cut_after_a_reboot);
    RUN(unproven_damage_after_a_reboot_is_cut_into_side_files);
)
