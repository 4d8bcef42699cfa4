/*
 * Logs written by the previous version (format version 1): read as they are,
 * appended to (into new version 2 segments), recovered, checked, and
 * converted by durlog_check(DURLOG_CHECK_CONVERT) into version 2 with the
 * same numbers, times and payloads.
 *
 * The version 1 files are laid out here byte by byte from docs/FORMAT.md
 * ("Version 1 records"), not by the library.
 */
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/seam.h"
#include "crc32c.h"

#define BASE_NS 1700000000000000000ull
#define SEG_CAP 65536

/* The payload of record `seq`: its length and bytes, from the number. */
static size_t payload_of(uint64_t seq, unsigned char *out)
{
    size_t len = (size_t)(seq * 37 % 200);
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)(seq * 131 + i * 7);
    return len;
}

/* Records from this number on were appended after the clock was set back
 * an hour (version 1 writers did not keep times in order). */
static uint64_t clock_set_back_at = UINT64_MAX;
#define HOUR_NS 3600000000000ull

/* The time the records' times start from, and the time between two. */
static uint64_t time_base = BASE_NS;
static uint64_t time_step = 1000;

static uint64_t time_of(uint64_t seq)
{
    return time_base + 1000 + seq * time_step - (seq >= clock_set_back_at ? HOUR_NS : 0);
}

/* One version 1 record at p: 32-byte header, payload, zero padding to 8. */
static size_t put_v1_record(unsigned char *p, uint64_t seq, uint64_t durable)
{
    unsigned char payload[256];
    size_t len = payload_of(seq, payload);
    size_t size = 32 + ((len + 7) & ~(size_t)7);
    memset(p, 0, size);
    dl_put32(p + 4, (uint32_t)len);
    dl_put64(p + 8, seq);
    dl_put64(p + 16, time_of(seq));
    dl_put64(p + 24, durable);
    memcpy(p + 32, payload, len);
    dl_put32(p, dl_crc32c_sw(0, p + 4, 28 + len));
    return size;
}

/* Writes segment `first` holding records [first, end) in version 1. With
 * `sealed`, its header checkpoints and seals them all. Returns the offset
 * just past the records. */
static uint64_t write_v1_segment(const char *log, uint64_t first, uint64_t end, int sealed)
{
    static unsigned char seg[SEG_CAP];
    memset(seg, 0, sizeof seg);
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = first; q < end; q++)
        off += put_v1_record(seg + off, q, q > 3 ? q - 3 : 0);
    unsigned char *h = seg;
    memcpy(h, "DURLOGSG", 8);
    dl_put32(h + 8, 1);
    dl_put32(h + 12, 64);
    dl_put64(h + 16, first);
    dl_put64(h + 24, SEG_CAP);
    dl_put64(h + 32, time_base);
    if (sealed) {
        dl_put64(h + 40, end);
        dl_put64(h + 48, off);
        dl_put32(h + 56, DL_SEG_F_CKPT | DL_SEG_F_SEALED);
    }
    dl_put32(h + 60, dl_crc32c_sw(0, h, 60));
    char path[400];
    CHECK(file_write(seg_file(path, sizeof path, log, first), seg, SEG_CAP) == 0);
    return off;
}

/* A closed version 1 log: records [0, 40) sealed in segment 0, [40, 70) in
 * the tail segment 40, as the last version left it (no coordination file). */
static void make_v1_log(const char *log)
{
    REQUIRE(mkdir(log, 0755) == 0);
    write_v1_segment(log, 0, 40, 1);
    write_v1_segment(log, 40, 70, 0);
}

/* Reads the whole log: every record [0, end) with the payload and time
 * payload_of/time_of give it, except those at or above `ours` (appended by
 * this test's writer: payload "new <seq>"). */
static void expect_records(const char *log, uint64_t end, uint64_t ours)
{
    durlog_reader *r = fx_reader(log, NULL);
    REQUIRE(r);
    durlog_record rec;
    uint64_t n = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        CHECK_EQ_U64(rec.seq, n);
        if (n < ours) {
            unsigned char want[256];
            size_t len = payload_of(n, want);
            CHECK_EQ_U64(rec.len, len);
            CHECK(rec.len == len && memcmp(rec.data, want, len) == 0);
            CHECK_EQ_U64(rec.time_ns, time_of(n));
        } else {
            char want[32];
            int len = snprintf(want, sizeof want, "new %" PRIu64, n);
            CHECK(rec.len == (size_t)len && memcmp(rec.data, want, (size_t)len) == 0);
        }
        n++;
    }
    CHECK_RC(rc, DURLOG_EEND);
    CHECK_EQ_U64(n, end);
    fx_reader_close(r);
}

static uint32_t segment_version(const char *log, uint64_t first)
{
    struct dl_seg_header h;
    if (segment_header_read(log, first, &h) != 0)
        return 0;
    return h.version;
}

static void a_version_1_log_is_read_as_it_is(void)
{
    struct scratch s;
    scratch_make(&s);
    make_v1_log(s.log);
    expect_records(s.log, 70, 70);

    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK(!rep.damaged);
    CHECK_EQ_U64(rep.records, 70);
    CHECK_EQ_U64(rep.old_format_segments, 2);
    CHECK_EQ_U64(rep.converted, 0);
}

/* durlog info on version 1 segments, sealed (header) and not (walked), and
 * with a version 1 segment missing in the middle: what a walk finds. */
static void info_of_a_version_1_log_matches_a_walk(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(mkdir(s.log, 0755) == 0);
    uint64_t end0 = write_v1_segment(s.log, 0, 40, 1);
    uint64_t end1 = write_v1_segment(s.log, 40, 70, 0);
    uint64_t end2 = write_v1_segment(s.log, 90, 100, 0); /* 70..89 missing */
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    fx_reader_close(r);
    CHECK_EQ_U64(info.segments, 3);
    CHECK_EQ_U64(info.first_seq, 0);
    CHECK_EQ_U64(info.next_seq, 100);
    CHECK_EQ_U64(info.missing, 20);
    CHECK_EQ_U64(info.bytes, end0 + end1 + end2 - 3 * DL_SEG_HEADER_SIZE);
    /* The walk (durlog check) counts the same records. */
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK_EQ_U64(rep.records, info.next_seq - info.first_seq - info.missing);
}

/* A writer appends after the old tail in a new, version 2, segment; the old
 * segments are not touched. */
static void appends_to_a_version_1_log_go_into_a_new_segment(void)
{
    struct scratch s;
    scratch_make(&s);
    make_v1_log(s.log);
    char path[400];
    size_t before_len;
    unsigned char *before = file_read(seg_file(path, sizeof path, s.log, 40), &before_len);
    REQUIRE(before);

    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    for (uint64_t q = 70; q < 100; q++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "new %" PRIu64, q);
        uint64_t seq;
        CHECK_OK(durlog_append(log, buf, (size_t)len, q % 3 ? DURLOG_KERNEL : DURLOG_SYNC,
                               &seq));
        CHECK_EQ_U64(seq, q);
    }
    expect_records(s.log, 100, 70); /* while it is open, too */
    CHECK_OK(fx_close(log));

    CHECK_EQ_U64(segment_version(s.log, 0), 1);
    CHECK_EQ_U64(segment_version(s.log, 40), 1);
    CHECK_EQ_U64(segment_version(s.log, 70), DL_FORMAT_VERSION);
    size_t after_len;
    unsigned char *after = file_read(seg_file(path, sizeof path, s.log, 40), &after_len);
    REQUIRE(after);
    /* The old tail's records are the same bytes (its header may now carry
     * a seal). */
    CHECK(after_len == before_len && memcmp(after + DL_SEG_HEADER_SIZE,
                                            before + DL_SEG_HEADER_SIZE,
                                            before_len - DL_SEG_HEADER_SIZE) == 0);
    free(before);
    free(after);
    expect_records(s.log, 100, 70);

    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK(!rep.damaged);
    CHECK_EQ_U64(rep.records, 100);
    CHECK_EQ_U64(rep.old_format_segments, 2);
}

/* A version 1 tail torn by a crash: recovery cuts the torn record (into a
 * side file) and the next append goes into a version 2 segment after it. */
static void a_torn_version_1_tail_is_recovered(void)
{
    struct scratch s;
    scratch_make(&s);
    make_v1_log(s.log);
    char path[400];
    /* Record 70, half written after record 69. */
    uint64_t end = write_v1_segment(s.log, 40, 70, 0);
    unsigned char rec[256];
    size_t size = put_v1_record(rec, 70, 0);
    REQUIRE(file_put(seg_file(path, sizeof path, s.log, 40), end, rec, size / 2) == 0);

    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    durlog_recovery rr;
    durlog_last_recovery(log, &rr);
    CHECK(rr.performed);
    CHECK(rr.bytes_cut > 0);
    uint64_t seq;
    CHECK_OK(durlog_append(log, "new 70", 6, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 70);
    CHECK_OK(fx_close(log));
    expect_records(s.log, 71, 70);
    CHECK_EQ_U64(segment_version(s.log, 70), DL_FORMAT_VERSION);
}

static void convert_rewrites_version_1_segments_keeping_every_record(void)
{
    struct scratch s;
    scratch_make(&s);
    make_v1_log(s.log);
    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    for (uint64_t q = 70; q < 80; q++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "new %" PRIu64, q);
        CHECK_OK(durlog_append(log, buf, (size_t)len, DURLOG_KERNEL, NULL));
    }
    /* Not while a writer has the log open. */
    durlog_check_report rep;
    CHECK_RC(durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep), -EBUSY);
    CHECK(strstr(rep.problem, "writer") != NULL);
    CHECK_EQ_U64(segment_version(s.log, 0), 1);
    CHECK_OK(fx_close(log));

    char path[400];
    struct stat old0, new0;
    REQUIRE(stat(seg_file(path, sizeof path, s.log, 0), &old0) == 0);
    CHECK_OK(durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep));
    CHECK(!rep.damaged);
    CHECK_EQ_U64(rep.converted, 2);
    CHECK_EQ_U64(rep.old_format_segments, 0);
    CHECK_EQ_U64(rep.records, 80);
    CHECK_EQ_U64(segment_version(s.log, 0), DL_FORMAT_VERSION);
    CHECK_EQ_U64(segment_version(s.log, 40), DL_FORMAT_VERSION);
    /* Replaced (a new file), with the mode it had. */
    REQUIRE(stat(path, &new0) == 0);
    CHECK(new0.st_ino != old0.st_ino);
    CHECK_EQ_U64(new0.st_mode & 07777, old0.st_mode & 07777);
    /* The sealed segment is still sealed, at its new end. */
    struct dl_seg_header h;
    REQUIRE(segment_header_read(s.log, 0, &h) == 0);
    CHECK(h.flags & DL_SEG_F_SEALED);
    CHECK_EQ_U64(h.ckpt_seq, 40);
    uint64_t end = DL_SEG_HEADER_SIZE;
    for (uint64_t q = 0; q < 40; q++) {
        unsigned char p[256];
        end += dl_rec_size(payload_of(q, p));
    }
    CHECK_EQ_U64(h.ckpt_off, end);
    expect_records(s.log, 80, 70);
    /* No leftovers; converting again converts nothing. */
    CHECK(!file_exists(log_file(path, sizeof path, s.log, "00000000000000000000.seg.tmp")));
    CHECK_OK(durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep));
    CHECK_EQ_U64(rep.converted, 0);

    /* And the converted log takes appends. */
    log = fx_writer(s.log, NULL);
    REQUIRE(log);
    uint64_t seq;
    CHECK_OK(durlog_append(log, "new 80", 6, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 80);
    CHECK_OK(fx_close(log));
    expect_records(s.log, 81, 70);
}

static void convert_refuses_a_damaged_log_and_changes_nothing(void)
{
    struct scratch s;
    scratch_make(&s);
    make_v1_log(s.log);
    char path[400];
    /* A payload byte of record 10, in the sealed segment. */
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = 0; q < 10; q++) {
        unsigned char p[256];
        off += 32 + ((payload_of(q, p) + 7) & ~(size_t)7);
    }
    REQUIRE(file_flip_bit(seg_file(path, sizeof path, s.log, 0), off + 32 + 1, 3) == 0);
    size_t len0;
    unsigned char *before = file_read(path, &len0);
    REQUIRE(before);

    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep));
    CHECK(rep.damaged);
    CHECK_EQ_U64(rep.converted, 0);
    CHECK(strstr(rep.problem, "repair the damage first") != NULL);
    size_t len1;
    unsigned char *after = file_read(path, &len1);
    CHECK(after && len1 == len0 && memcmp(after, before, len0) == 0);
    CHECK_EQ_U64(segment_version(s.log, 40), 1);
    free(before);
    free(after);
}

/* A segment that cannot be read whole while convert copies it: the pages
 * past a read fault are the SIGBUS guard's zeros (an I/O error), and bytes
 * past a cut inside a page read as zeros. Made here by truncating segment
 * 0 when convert maps it (its second mapping: the check's scan made the
 * first), and putting its bytes back when convert creates the new file or
 * returns, as a transient error leaves the disk. Convert took the zeros for
 * the end of the records and replaced the segment, intact on disk, with a
 * copy of the records before them, returning 0: records 30..39 (page cut)
 * or 8..39 (cut at 1024) were gone for good. */
static char fault_path[400];
static unsigned char *fault_bytes;
static size_t fault_len;
static ino_t fault_ino;
static int fault_maps;

static off_t fault_cut;

static void *mmap_then_truncate(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = dl_os_real.mmap(addr, len, prot, flags, fd, off);
    struct stat st;
    if (p != MAP_FAILED && fstat(fd, &st) == 0 && st.st_ino == fault_ino && ++fault_maps == 2)
        CHECK(truncate(fault_path, fault_cut) == 0);
    return p;
}

static int openat_then_restore(int dirfd, const char *name, int flags, mode_t mode)
{
    if (strstr(name, ".seg.tmp") && fault_maps >= 2 && fault_bytes) {
        CHECK(file_write(fault_path, fault_bytes, fault_len) == 0);
        free(fault_bytes);
        fault_bytes = NULL;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static void convert_leaves_a_segment_it_could_not_read_unchanged_at(off_t cut)
{
    struct scratch s;
    fault_cut = cut;
    scratch_make(&s);
    make_v1_log(s.log);
    struct stat st;
    REQUIRE(stat(seg_file(fault_path, sizeof fault_path, s.log, 0), &st) == 0);
    fault_ino = st.st_ino;
    fault_maps = 0;
    fault_bytes = file_read(fault_path, &fault_len);
    REQUIRE(fault_bytes);
    unsigned char *before = malloc(fault_len);
    REQUIRE(before);
    memcpy(before, fault_bytes, fault_len);
    size_t before_len = fault_len;
    dl_os.mmap = mmap_then_truncate;
    dl_os.openat = openat_then_restore;
    durlog_check_report rep;
    int rc = durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep);
    tu_restore_os();
    CHECK(fault_maps >= 2);
    if (fault_bytes) /* convert stopped before creating a file: back now */
        CHECK(file_write(fault_path, fault_bytes, fault_len) == 0);
    free(fault_bytes);
    fault_bytes = NULL;
    /* Refused, naming the segment; the segment is the file it was. */
    CHECK(rc != 0);
    CHECK(strstr(rep.problem, "00000000000000000000.seg") != NULL);
    if (rc == 0)
        fprintf(stderr, "  convert: %s, %" PRIu64 " converted\n", rep.problem[0] ? rep.problem
                : "no problem", rep.converted);
    CHECK_EQ_U64(segment_version(s.log, 0), 1);
    size_t after_len;
    unsigned char *after = file_read(fault_path, &after_len);
    CHECK(after && after_len == before_len && memcmp(after, before, before_len) == 0);
    free(after);
    free(before);
    /* Nothing is lost: every record reads back. */
    expect_records(s.log, 70, 70);
}

/* Cut at a page boundary: the records after it fault (the guard's zero
 * pages); cut inside the first page: bytes past the end of the file there
 * read as zeros without a fault, and record 8 is cut short. */
static void convert_leaves_a_segment_it_could_not_read_unchanged(void)
{
    convert_leaves_a_segment_it_could_not_read_unchanged_at((off_t)dl_page_size());
    convert_leaves_a_segment_it_could_not_read_unchanged_at(1024);
}

/* Version 1 records whose times are near 2^64 (no clock gives them, but
 * a version 1 reader read them): a version 2 base just below the first
 * record's would let offsets pass 2^64, and readers refuse such a header.
 * Converted with an earlier base, every time kept. */
static void convert_keeps_times_near_2_to_the_64(void)
{
    struct scratch s;
    scratch_make(&s);
    time_base = UINT64_MAX - 100000;
    make_v1_log(s.log);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep));
    CHECK_EQ_U64(rep.converted, 2);
    CHECK(!rep.damaged);
    if (rep.damaged)
        fprintf(stderr, "  %s\n", rep.problem);
    CHECK_EQ_U64(segment_version(s.log, 40), DL_FORMAT_VERSION);
    expect_records(s.log, 70, 70);
    time_base = BASE_NS;
}

/* A version 1 segment whose times go back an hour at record 55 (the clock
 * was set back): converted, it is a version 2 segment, where times never
 * decrease (resynchronising after damage skips what is more than a second
 * older than the last good record). Converted as it was, damage to record
 * 54 made `durlog check` call records 55..69 a torn tail (and --repair cut
 * them): the records after the step were taken for debris. The converter
 * gives them the time a version 2 writer would have: the later of theirs
 * and the previous record's. */
static void convert_keeps_times_in_order_when_a_clock_went_back(void)
{
    struct scratch s;
    scratch_make(&s);
    clock_set_back_at = 55;
    make_v1_log(s.log);
    clock_set_back_at = UINT64_MAX;
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, DURLOG_CHECK_CONVERT, &rep));
    CHECK_EQ_U64(rep.converted, 2);
    CHECK_EQ_U64(rep.records, 70);
    /* Times never decrease; the payloads are the same. */
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    uint64_t n = 0, prev = 0;
    while (durlog_reader_next(r, &rec) == 0) {
        unsigned char want[256];
        size_t len = payload_of(n, want);
        CHECK(rec.seq == n && rec.len == len && memcmp(rec.data, want, len) == 0);
        CHECK(rec.time_ns >= prev);
        prev = rec.time_ns;
        n++;
    }
    CHECK_EQ_U64(n, 70);
    fx_reader_close(r);
    /* A payload byte of record 54, the last before the step: damage with
     * records after it. */
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = 40; q < 54; q++) {
        unsigned char p[256];
        off += dl_rec_size(payload_of(q, p));
    }
    char path[400];
    REQUIRE(file_flip_bit(seg_file(path, sizeof path, s.log, 40), off + 16, 2) == 0);
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK(rep.damaged);
    CHECK(!rep.damage_at_tail);
    if (rep.damage_at_tail)
        fprintf(stderr, "  %s\n", rep.problem);
}

/* A closed version 2 log whose tail segment's records carry times half an
 * hour ahead of the clock (it was set back while the log was closed; by
 * more than an hour, the writer starts a new segment). The first
 * writer to open it does not read the records before the tail's checkpoint;
 * it used to take the clock (an hour before them) for the next record's
 * time, so times went back within the segment, and damage to the last
 * record before the restart made `durlog check` call every record appended
 * after the restart a torn tail (--repair cut them). The writer now finds
 * the last record's time (by walking the record headers before the
 * checkpoint) and appends no earlier than it. */
static void a_clock_set_back_while_closed_does_not_step_times_back(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(mkdir(s.log, 0755) == 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t base = now - 2 * HOUR_NS, ahead = now + HOUR_NS / 2;
    static unsigned char seg[SEG_CAP];
    memset(seg, 0, sizeof seg);
    uint64_t off = DL_SEG_HEADER_SIZE, last_off = 0;
    for (uint64_t q = 0; q < 10; q++) {
        unsigned char p[256];
        size_t len = payload_of(q, p);
        last_off = off;
        dl_rec_encode(seg + off, base, q, ahead + q, q, p, (uint32_t)len);
        off += dl_rec_size(len);
    }
    struct dl_seg_header h = { DL_FORMAT_VERSION, 0, SEG_CAP, base, 10, off, DL_SEG_F_CKPT };
    dl_seg_header_encode(seg, &h);
    char path[400];
    REQUIRE(file_write(seg_file(path, sizeof path, s.log, 0), seg, SEG_CAP) == 0);

    durlog *log = fx_writer(s.log, &(durlog_options){ .segment_size = SEG_CAP });
    REQUIRE(log);
    for (uint64_t q = 10; q < 20; q++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "new %" PRIu64, q);
        CHECK_OK(durlog_append(log, buf, (size_t)len, DURLOG_SYNC, NULL));
    }
    CHECK_OK(fx_close(log));
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    uint64_t n = 0, prev = 0;
    while (durlog_reader_next(r, &rec) == 0) {
        CHECK_EQ_U64(rec.seq, n);
        if (rec.time_ns < prev)
            fprintf(stderr, "  record %" PRIu64 " is %.1f s older than the one before\n",
                    n, (double)(prev - rec.time_ns) / 1e9);
        CHECK(rec.time_ns >= prev);
        prev = rec.time_ns;
        n++;
    }
    CHECK_EQ_U64(n, 20);
    fx_reader_close(r);
    /* Record 9 damaged: records 10..19 follow it. */
    REQUIRE(file_flip_bit(path, last_off + 16, 1) == 0);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK(rep.damaged);
    CHECK(!rep.damage_at_tail);
    if (rep.damage_at_tail)
        fprintf(stderr, "  %s\n", rep.problem);
}

/* A closed log whose tail, segment 0, is version 2 with records 0..9, its
 * base `base`, the records appended at `at` (and 1 ns apart), checkpointed. */
static void write_v2_tail(const char *log, uint64_t base, uint64_t at)
{
    REQUIRE(mkdir(log, 0755) == 0);
    static unsigned char seg[SEG_CAP];
    memset(seg, 0, sizeof seg);
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = 0; q < 10; q++) {
        unsigned char p[256];
        size_t len = payload_of(q, p);
        dl_rec_encode(seg + off, base, q, at + q, q, p, (uint32_t)len);
        off += dl_rec_size(len);
    }
    struct dl_seg_header h = { DL_FORMAT_VERSION, 0, SEG_CAP, base, 10, off, DL_SEG_F_CKPT };
    dl_seg_header_encode(seg, &h);
    char path[400];
    REQUIRE(file_write(seg_file(path, sizeof path, log, 0), seg, SEG_CAP) == 0);
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Appends record 10 to a log made by write_v2_tail; returns its time, and
 * whether it went into a new segment (named 10) in *rolled. */
static uint64_t append_after_v2_tail(const char *log, int *rolled)
{
    durlog *w = fx_writer(log, &(durlog_options){ .segment_size = SEG_CAP });
    if (!w)
        return 0;
    CHECK_OK(durlog_append(w, "new 10", 6, DURLOG_SYNC, NULL));
    CHECK_OK(fx_close(w));
    char path[400];
    *rolled = file_exists(seg_file(path, sizeof path, log, 10));
    durlog_reader *r = fx_reader(log, NULL);
    if (!r)
        return 0;
    durlog_record rec;
    uint64_t t = 0;
    CHECK_OK(durlog_reader_seek(r, 10));
    if (durlog_reader_next(r, &rec) == 0) {
        CHECK_EQ_U64(rec.seq, 10);
        t = rec.time_ns;
    }
    fx_reader_close(r);
    return t;
}

/* A tail segment whose base is 79 hours old (its time offsets end after
 * 78.2): the next record goes into a new segment, with the clock's time,
 * never an offset wrapped past 2^48. One 76 hours old still takes it. */
static void a_tail_based_79_hours_ago_rolls_instead_of_wrapping(void)
{
    uint64_t now = realtime_ns();
    struct scratch s;
    scratch_make(&s);
    write_v2_tail(s.log, now - 79 * HOUR_NS, now - 79 * HOUR_NS + 1000);
    int rolled = 0;
    uint64_t t = append_after_v2_tail(s.log, &rolled);
    CHECK(rolled);
    CHECK(t >= now && t < now + HOUR_NS);

    struct scratch s2;
    scratch_make(&s2);
    write_v2_tail(s2.log, now - 76 * HOUR_NS, now - 76 * HOUR_NS + 1000);
    t = append_after_v2_tail(s2.log, &rolled);
    CHECK(!rolled);
    CHECK(t >= now && t < now + HOUR_NS);
}

/* A tail segment whose base and records are a year ahead of the clock (a
 * clock set back, or a header made so). Record times never decrease in
 * sequence-number order across the whole log (issue #18, FORMAT.md "Time"),
 * and a new segment's base is never before the last record's time: a roll
 * would not help, so none is made, and the record gets the last record's
 * time (clamped). (Before issue #18 a clock more than an hour behind the
 * tail's last record started a new segment based on the clock, whose
 * records then came a year before the ones preceding them.) */
static void a_tail_a_year_ahead_of_the_clock_is_continued_clamped(void)
{
    uint64_t now = realtime_ns(), year = 365 * 24 * HOUR_NS;
    struct scratch s;
    scratch_make(&s);
    write_v2_tail(s.log, now + year, now + year + 1000);
    int rolled = 0;
    uint64_t t = append_after_v2_tail(s.log, &rolled);
    CHECK(!rolled);
    CHECK_EQ_U64(t, now + year + 1009); /* record 9's */
}

static const char *durlog_bin(void)
{
    const char *bin = getenv("DURLOG_BIN");
    return bin && *bin ? bin : "build/durlog";
}

/* Runs `durlog ARGS` on the log, its output in s->dir/out; the exit status,
 * and the output in *out (malloc'd, NUL-terminated). */
static int run_durlog(const struct scratch *s, const char *args, char **out)
{
    char cmd[1400], path[400];
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' %s '%s' >'%s/out' 2>&1", durlog_bin(), args,
             s->log, s->dir);
    int status = system(cmd);
    size_t len;
    snprintf(path, sizeof path, "%s/out", s->dir);
    unsigned char *text = file_read(path, &len);
    *out = text ? realloc(text, len + 1) : NULL;
    if (*out)
        (*out)[len] = '\0';
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The command: `durlog check` says which segments are of version 1 and
 * what to do; `durlog convert` converts them and says how many. */
static void the_command_names_old_segments_and_converts_them(void)
{
    struct scratch s;
    scratch_make(&s);
    make_v1_log(s.log);
    char *out = NULL;
    CHECK_EQ_U64(run_durlog(&s, "check", &out), 0);
    CHECK(out && strstr(out, "2 segment(s) of format version 1") != NULL);
    CHECK(out && strstr(out, "durlog convert") != NULL);
    free(out);
    CHECK_EQ_U64(run_durlog(&s, "convert", &out), 0);
    if (out && !strstr(out, "converted: 2 segment(s) to format version 2"))
        fprintf(stderr, "  output: %s\n", out);
    CHECK(out && strstr(out, "converted: 2 segment(s) to format version 2") != NULL);
    CHECK(out && strstr(out, "status:    clean") != NULL);
    free(out);
    CHECK_EQ_U64(segment_version(s.log, 0), DL_FORMAT_VERSION);
    CHECK_EQ_U64(run_durlog(&s, "check", &out), 0);
    CHECK(out && strstr(out, "format version 1") == NULL);
    free(out);
    expect_records(s.log, 70, 70);
    /* While a writer has it open: refused, exit status 1, saying why. */
    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    CHECK_EQ_U64(run_durlog(&s, "convert", &out), 1);
    CHECK(out && strstr(out, "writer") != NULL);
    free(out);
    CHECK_OK(fx_close(log));
}

/* A version 1 segment whose records span more than 78 hours (a record
 * every three hours: any slow log's segments) cannot become one version 2
 * segment, and convert says so. `durlog convert` used to add that the
 * directory was "not a durlog log, or an unsupported format version" and
 * ask whether it was a durlog log. Nothing is changed; the log reads as it
 * was. */
static void convert_of_a_segment_spanning_79_hours_says_why_it_cannot(void)
{
    struct scratch s;
    scratch_make(&s);
    time_step = 3 * HOUR_NS;
    make_v1_log(s.log);
    char *out = NULL;
    CHECK_EQ_U64(run_durlog(&s, "convert", &out), 1);
    CHECK(out && strstr(out, "78 hours") != NULL);
    CHECK(out && strstr(out, "not a durlog log") == NULL);
    if (out && strstr(out, "not a durlog log"))
        fprintf(stderr, "  output: %s\n", out);
    free(out);
    CHECK_EQ_U64(segment_version(s.log, 0), 1);
    expect_records(s.log, 70, 70);
    time_step = 1000;
}

TEST_MAIN(
    RUN(a_version_1_log_is_read_as_it_is);
    RUN(info_of_a_version_1_log_matches_a_walk);
    RUN(appends_to_a_version_1_log_go_into_a_new_segment);
    RUN(a_torn_version_1_tail_is_recovered);
    RUN(convert_rewrites_version_1_segments_keeping_every_record);
    RUN(convert_refuses_a_damaged_log_and_changes_nothing);
    RUN(convert_leaves_a_segment_it_could_not_read_unchanged);
    RUN(the_command_names_old_segments_and_converts_them);
    RUN(convert_of_a_segment_spanning_79_hours_says_why_it_cannot);
    RUN(convert_keeps_times_in_order_when_a_clock_went_back);
    RUN(convert_keeps_times_near_2_to_the_64);
    RUN(a_clock_set_back_while_closed_does_not_step_times_back);
    RUN(a_tail_based_79_hours_ago_rolls_instead_of_wrapping);
    RUN(a_tail_a_year_ahead_of_the_clock_is_continued_clamped);
)
