/*
 * durlog_check: finds every kind of damage, names where it is, repairs a torn
 * tail keeping the cut bytes in a side file, refuses to drop damage that is
 * not at the tail unless forced, and never repairs under an open writer.
 */
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/model.h"

/* ------------------------------------------------------------------------
 * The files of a log directory (but durlog.shm, which holds no data), to
 * prove that an operation changed nothing.
 */
#define SNAP_MAX_FILES 64

struct snapshot {
    size_t count;
    char names[SNAP_MAX_FILES][64];
    unsigned char *data[SNAP_MAX_FILES];
    size_t len[SNAP_MAX_FILES];
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void snapshot_take(const char *log, struct snapshot *snap)
{
    DIR *d = opendir(log);
    struct dirent *de;
    snap->count = 0;
    if (!d)
        return;
    while ((de = readdir(d)) != NULL && snap->count < SNAP_MAX_FILES) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || strcmp(de->d_name, "durlog.shm") == 0 ||
            len >= sizeof snap->names[0])
            continue;
        memcpy(snap->names[snap->count++], de->d_name, len + 1);
    }
    closedir(d);
    qsort(snap->names, snap->count, sizeof snap->names[0], cmp_names);
    for (size_t i = 0; i < snap->count; i++) {
        char path[400];
        snap->data[i] = file_read(log_file(path, sizeof path, log, snap->names[i]),
                                  &snap->len[i]);
    }
}

static void snapshot_free(struct snapshot *snap)
{
    for (size_t i = 0; i < snap->count; i++)
        free(snap->data[i]);
    snap->count = 0;
}

/* 1 if the log's files are exactly those of the snapshot, byte for byte.
 * With zero_growth, a file may also have grown by zero bytes (an open
 * writer's pre-faulter allocates space ahead of the tail). */
static int snapshot_matches_growing(const struct snapshot *snap, const char *log,
                                    int zero_growth)
{
    struct snapshot now;
    snapshot_take(log, &now);
    int same = now.count == snap->count;
    for (size_t i = 0; same && i < now.count; i++) {
        size_t was = snap->len[i];
        same = strcmp(now.names[i], snap->names[i]) == 0 && now.data[i] &&
               snap->data[i] && (now.len[i] == was || (zero_growth && now.len[i] > was)) &&
               memcmp(now.data[i], snap->data[i], was) == 0 &&
               nonzero_extent(now.data[i] + was, now.len[i] - was) == 0;
        if (!same)
            fprintf(stderr, "  %s/%s changed\n", log, snap->names[i]);
    }
    if (now.count != snap->count)
        fprintf(stderr, "  %s holds %zu files, was %zu\n", log, now.count, snap->count);
    snapshot_free(&now);
    return same;
}

static int snapshot_matches(const struct snapshot *snap, const char *log)
{
    return snapshot_matches_growing(snap, log, 0);
}

/* ------------------------------------------------------------------------
 * Building the logs.
 */

/* The scratch log s of `n` records of 100..299 bytes in 4 KiB segments
 * (about 16 a segment), closed. Returns how many segments it has, their
 * first records in segs (0 if there are more than 64). */
static size_t write_log(struct scratch *s, struct model *m, size_t n, uint64_t *segs)
{
    uint32_t lens[512];
    for (size_t i = 0; i < n; i++)
        lens[i] = 100 + (uint32_t)(i * 71 % 200);
    model_init(m, 2718, lens, n);
    fx_model_log_closed(s, m, 4096, -1);
    size_t nsegs = list_segments(s->log, segs, 64);
    return nsegs <= 64 ? nsegs : 0;
}

/* Where record `seq` starts in segment `first` (which holds records first..). */
static uint64_t record_offset(const struct model *m, uint64_t first, uint64_t seq)
{
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = first; q < seq; q++)
        off += dl_rec_size(m->lens[q]);
    return off;
}

/* The check report, asserting that the check ran. */
static durlog_check_report check_log(const char *log, int flags, int want_rc)
{
    durlog_check_report rep;
    memset(&rep, 0xa5, sizeof rep);
    CHECK_RC(durlog_check(log, flags, &rep), want_rc);
    return rep;
}

/* Checks with flags, expecting want_rc, and that the log's files are left
 * exactly as they were. */
static durlog_check_report check_changing_nothing(const char *log, int flags, int want_rc)
{
    struct snapshot before;
    snapshot_take(log, &before);
    durlog_check_report rep = check_log(log, flags, want_rc);
    CHECK(snapshot_matches(&before, log));
    snapshot_free(&before);
    return rep;
}

/* The log checks clean, and holds `records` records. */
static void expect_clean(const char *log, uint64_t records)
{
    durlog_check_report rep = check_log(log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, records);
}

static void expect_problem_names(const durlog_check_report *rep, const char *segment,
                                 uint64_t offset)
{
    char want[64];
    snprintf(want, sizeof want, "offset %" PRIu64, offset);
    if (!strstr(rep->problem, segment) || !strstr(rep->problem, want)) {
        fprintf(stderr, "  problem \"%s\" does not name %s at %s\n", rep->problem,
                segment, want);
        th_failed_current = 1;
    }
}

/* ------------------------------------------------------------------------
 * The tests.
 */

static void clean_log_checks_clean_and_repair_changes_nothing(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[64];
    size_t nsegs = write_log(&s, &m, 200, segs);
    REQUIRE(nsegs > 5);

    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.damage_at_tail, 0);
    CHECK_EQ_U64(rep.problems, 0);
    CHECK_EQ_U64(rep.records, 200);
    CHECK_EQ_U64(rep.segments, nsegs);
    CHECK_EQ_U64(rep.first_seq, 0);
    CHECK_EQ_U64(rep.next_seq, 200);

    rep = check_changing_nothing(s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 200);

    /* An empty log (a writer opened it, nothing appended) is clean too. */
    struct scratch e;
    durlog *w = fx_open(&e, NULL);
    CHECK(w && fx_close(w) == 0);
    expect_clean(e.log, 0);
}

static void torn_tail_is_reported_and_repair_keeps_the_cut_bytes(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[64];
    size_t nsegs = write_log(&s, &m, 100, segs);
    REQUIRE(nsegs > 2);
    uint64_t last = segs[nsegs - 1];

    /* The last record loses its second half, as in a crash mid-append
     * (before the writer could close the log and checkpoint it). */
    forget_checkpoints(s.log);
    char seg[400], segname[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, last);
    dl_seg_name(segname, last);
    uint64_t off = record_offset(&m, last, 99);
    uint64_t size = dl_rec_size(m.lens[99]);
    REQUIRE(file_zero(seg, off + size / 2, size - size / 2) == 0);
    size_t len;
    unsigned char *torn = file_read(seg, &len);
    REQUIRE(torn);
    uint64_t cut = nonzero_extent(torn + off, size);
    REQUIRE(cut > 0);

    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK_EQ_U64(rep.damage_at_tail, 1);
    CHECK_EQ_U64(rep.problems, 1);
    CHECK_EQ_U64(rep.records, 99);
    expect_problem_names(&rep, segname, off);

    rep = check_log(s.log, DURLOG_CHECK_REPAIR, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 99);

    /* The cut bytes are kept, and gone from the segment. */
    char side[400], sidename[64];
    snprintf(sidename, sizeof sidename, "%s.cut-%" PRIu64, segname, off);
    size_t side_len;
    unsigned char *kept = file_read(log_file(side, sizeof side, s.log, sidename), &side_len);
    /* To the last non-zero byte, then up to the next record boundary (the
     * padding of the last record), so the side file holds whole records. */
    CHECK(kept != NULL);
    CHECK_EQ_U64(side_len, (cut + DL_REC_ALIGN - 1) & ~(uint64_t)(DL_REC_ALIGN - 1));
    CHECK(kept && side_len >= cut && memcmp(kept, torn + off, cut) == 0 &&
          nonzero_extent(kept + cut, side_len - cut) == 0);
    size_t after_len;
    unsigned char *after = file_read(seg, &after_len);
    REQUIRE(after);
    CHECK_EQ_U64(after_len, len);
    CHECK(memcmp(after, torn, off) == 0);
    CHECK_EQ_U64(nonzero_extent(after + off, after_len - off), 0);

    expect_clean(s.log, 99);

    /* A writer takes the log from there. */
    durlog *w;
    CHECK_OK(open_log(s.log, 4096, &w));
    REQUIRE(w);
    durlog_recovery rec;
    durlog_last_recovery(w, &rec);
    CHECK_EQ_U64(rec.bytes_cut, 0);
    model_append(w, &m, 99, 100, DURLOG_KERNEL);
    CHECK_OK(durlog_close(w));
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 100);
    CHECK_RC(end_rc, DURLOG_EEND);
    free(after);
    free(kept);
    free(torn);
}

static void damage_in_the_middle_is_cut_only_when_forced(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[64];
    size_t nsegs = write_log(&s, &m, 150, segs);
    REQUIRE(nsegs > 4);

    /* A bit flips in a record in the middle of segment 1. */
    uint64_t bad = segs[1] + (segs[2] - segs[1]) / 2;
    char seg[400], segname[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, segs[1]);
    dl_seg_name(segname, segs[1]);
    uint64_t off = record_offset(&m, segs[1], bad);
    REQUIRE(file_flip_bit(seg, off + DL_REC_HEADER_SIZE + 10, 5) == 0);
    uint64_t data_end = record_offset(&m, segs[1], segs[2]);

    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK_EQ_U64(rep.damage_at_tail, 0);
    /* At least every record before the damage is counted as valid. */
    CHECK(rep.records >= bad && rep.records <= 149);
    expect_problem_names(&rep, segname, off);

    struct snapshot before;
    snapshot_take(s.log, &before);
    rep = check_log(s.log, DURLOG_CHECK_REPAIR, DURLOG_ECORRUPT);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK(snapshot_matches(&before, s.log));

    /* Forced: the segment is cut at the damage, later segments set aside. */
    rep = check_log(s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, bad);
    CHECK_EQ_U64(rep.next_seq, bad);
    CHECK_EQ_U64(rep.segments, 2);
    char path[400], name[64];
    snprintf(name, sizeof name, "%s.cut-%" PRIu64, segname, off);
    size_t side_len;
    unsigned char *kept = file_read(log_file(path, sizeof path, s.log, name), &side_len);
    /* Everything from the damage to the segment's last non-zero byte, and
     * on to the next record boundary. */
    uint64_t cut = nonzero_extent(before.data[1] + off, data_end - off);
    CHECK(kept != NULL);
    CHECK_EQ_U64(side_len, (cut + DL_REC_ALIGN - 1) & ~(uint64_t)(DL_REC_ALIGN - 1));
    CHECK(kept && side_len >= cut && memcmp(kept, before.data[1] + off, cut) == 0 &&
          nonzero_extent(kept + cut, side_len - cut) == 0);
    free(kept);
    for (size_t i = 2; i < nsegs; i++) {
        char segfile[DL_SEG_NAME_LEN + 1];
        dl_seg_name(segfile, segs[i]);
        CHECK(!file_exists(log_file(path, sizeof path, s.log, segfile)));
        snprintf(name, sizeof name, "%s.cut-0", segfile);
        size_t moved_len;
        unsigned char *moved = file_read(log_file(path, sizeof path, s.log, name), &moved_len);
        CHECK(moved && moved_len == before.len[i] &&
              memcmp(moved, before.data[i], moved_len) == 0);
        free(moved);
    }
    snapshot_free(&before);

    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), bad);
    CHECK_RC(end_rc, DURLOG_EEND);
    fx_model_append_reopened(s.log, &m, bad, 150, 4096);
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 150);
    expect_clean(s.log, 150);
}

static void records_missing_between_segments_are_damage_not_at_the_tail(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[64];
    size_t nsegs = write_log(&s, &m, 150, segs);
    REQUIRE(nsegs > 4);
    /* Segment 1 loses its last two records; segment 2 is whole. */
    char seg[400], segname[DL_SEG_NAME_LEN + 1], nextname[DL_SEG_NAME_LEN + 1];
    seg_file(seg, sizeof seg, s.log, segs[1]);
    uint64_t off = record_offset(&m, segs[1], segs[2] - 2);
    REQUIRE(file_zero(seg, off, record_offset(&m, segs[1], segs[2]) - off) == 0);
    dl_seg_name(segname, segs[1]);
    dl_seg_name(nextname, segs[2]);

    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK_EQ_U64(rep.damage_at_tail, 0);
    CHECK_EQ_U64(rep.records, 148);
    /* Named as records missing from the sealed segment, or before the next. */
    CHECK(strstr(rep.problem, segname) != NULL || strstr(rep.problem, nextname) != NULL);
    CHECK(strstr(rep.problem, "missing") != NULL);
    check_changing_nothing(s.log, DURLOG_CHECK_REPAIR, DURLOG_ECORRUPT);
}

static void damage_followed_only_by_a_padded_record_is_not_a_torn_tail(void)
{
    /* Only the last record has padding after its payload (5 bytes). */
    static const uint32_t lens[] = { 8, 8, 5 };
    struct scratch s;
    struct model m;
    model_init(&m, 3, lens, 3);
    durlog *w = fx_open(&s, NULL);
    REQUIRE(w);
    model_append(w, &m, 0, 3, DURLOG_SYNC);
    CHECK_OK(fx_close(w));
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t off = record_offset(&m, 0, 1);
    REQUIRE(file_flip_bit(seg, off + DL_REC_HEADER_SIZE + 1, 0) == 0);

    durlog_check_report rep = check_log(s.log, 0, 0);
    CHECK_EQ_U64(rep.damaged, 1);
    CHECK_EQ_U64(rep.damage_at_tail, 0);
    CHECK_EQ_U64(rep.records, 2); /* records 0 and 2 */
    /* Record 2 is good: a repair without FORCE must not drop it. */
    check_changing_nothing(s.log, DURLOG_CHECK_REPAIR, DURLOG_ECORRUPT);
}

static void repair_while_a_writer_has_the_log_open_is_busy(void)
{
    struct scratch s;
    struct model m;
    model_same_len(&m, 8, 10, 50);
    durlog *w = fx_model_log(&s, &m, 0);
    REQUIRE(w);
    /* The tail is torn behind the writer's back: there is something to cut. */
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    REQUIRE(file_zero(seg, record_offset(&m, 0, 9) + 40, 42) == 0);
    struct snapshot before;
    snapshot_take(s.log, &before);
    durlog_check_report rep = check_log(s.log, DURLOG_CHECK_REPAIR, -EBUSY);
    CHECK(rep.problem[0] != 0);
    check_log(s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, -EBUSY);
    CHECK(snapshot_matches_growing(&before, s.log, 1));
    snapshot_free(&before);
    CHECK_OK(fx_close(w));

    /* Once the writer is gone the repair runs. */
    rep = check_log(s.log, DURLOG_CHECK_REPAIR, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 9);
}

/* A flag bit durlog_check does not know is refused with a message, and
 * damage the known bits would have cut stays as it was: an unknown request
 * is never silently ignored. */
static void unknown_check_flags_are_refused_and_change_nothing(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[64];
    REQUIRE(write_log(&s, &m, 40, segs) > 0);
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    REQUIRE(file_zero(seg, record_offset(&m, 0, 5) + 20, 30) == 0);
    struct snapshot before;
    snapshot_take(s.log, &before);
    int bad[] = { 8, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE | 16, (int)0x80000000u };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        durlog_check_report rep = check_log(s.log, bad[i], -EINVAL);
        CHECK(strstr(rep.problem, "unknown flag bits") != NULL);
        CHECK_EQ_U64(rep.records, 0); /* nothing checked */
    }
    /* (4 is DURLOG_CHECK_CONVERT now: known; on a damaged log it reports
     * the damage and converts nothing.) */
    durlog_check_report conv = check_log(s.log, DURLOG_CHECK_CONVERT, 0);
    CHECK(conv.damaged != 0);
    CHECK(snapshot_matches(&before, s.log));
    snapshot_free(&before);
    /* Without the unknown bit the same call cuts at the damage. */
    durlog_check_report rep = check_log(s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 5);
}

/* A forced repair that cuts below a segment's checkpoint (or seal) lowers
 * it to the cut: the header never promises records that are gone, and the
 * next writer continues from the cut. */
static void forced_repair_below_a_checkpoint_lowers_it(void)
{
    struct scratch s;
    struct model m;
    uint64_t segs[64];
    /* Closed: every segment sealed or checkpointed. */
    size_t nsegs = write_log(&s, &m, 120, segs);
    REQUIRE(nsegs > 4);
    CHECK(segment_flags(s.log, segs[2]) & DL_SEG_F_SEALED);
    char seg[400];
    uint64_t seq = segs[2] + 1, off = record_offset(&m, segs[2], seq);
    REQUIRE(file_flip_bit(seg_file(seg, sizeof seg, s.log, segs[2]),
                          off + DL_REC_HEADER_SIZE + 2, 4) == 0);
    durlog_check_report rep = check_log(s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, 0);
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, seq);
    CHECK(rep.side_files >= 1);
    /* The cut segment keeps a checkpoint up to the cut, no longer sealed. */
    struct dl_seg_header h;
    REQUIRE(segment_header_read(s.log, segs[2], &h) == 0);
    CHECK_EQ_U64(h.flags, DL_SEG_F_CKPT);
    CHECK_EQ_U64(h.ckpt_seq, seq);
    CHECK_EQ_U64(h.ckpt_off, off);
    fx_model_append_reopened(s.log, &m, seq, 120, 4096);
    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 120);
    CHECK_RC(end_rc, DURLOG_EEND);
    expect_clean(s.log, 120);
}

TEST_MAIN(
    RUN(clean_log_checks_clean_and_repair_changes_nothing);
    RUN(forced_repair_below_a_checkpoint_lowers_it);
    RUN(torn_tail_is_reported_and_repair_keeps_the_cut_bytes);
    RUN(damage_in_the_middle_is_cut_only_when_forced);
    RUN(records_missing_between_segments_are_damage_not_at_the_tail);
    RUN(damage_followed_only_by_a_padded_record_is_not_a_torn_tail);
    RUN(repair_while_a_writer_has_the_log_open_is_busy);
    RUN(unknown_check_flags_are_refused_and_change_nothing);
)
