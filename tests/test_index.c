/* The sparse index of sealed segments (src/index.c) and the seek by number
 * that uses it: seeks agree with the model of the log (what each record
 * holds) and with a reader that walks every segment from its start
 * (DURLOG_SEEK_LINEAR), whatever is wrong with the side files: missing,
 * truncated, bit-flipped, stale, foreign, lying, not a file, unreadable. */
#include <sys/stat.h>

#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/seam.h"

#include "crc32c.h"
#include "error.h"
#include "index.h"
#include "segment.h"

/* Eight index entries per segment (DL_IDX_STRIDE is 32 KiB). */
#define SEG_SIZE (256 * 1024)
#define RECORDS 12000
#define MAX_LEN 400

/* A closed log of RECORDS records of random lengths (0..MAX_LEN bytes,
 * drawn from lens_salt) in many segments, all but the last sealed. 0, or -1
 * (the case failed). */
static int make_log_lens(struct scratch *s, struct model *m, uint64_t salt, uint64_t lens_salt)
{
    uint32_t *lens = malloc(RECORDS * sizeof *lens);
    uint64_t rng = lens_salt * 2654435761u + 7;
    if (!lens)
        return -1;
    for (size_t i = 0; i < RECORDS; i++)
        lens[i] = (uint32_t)(test_rand(&rng) % (MAX_LEN + 1));
    model_init(m, salt, lens, RECORDS);
    free(lens);
    if (fx_model_log_closed(s, m, SEG_SIZE, -1))
        return -1;
    size_t n;
    uint64_t *segs = list_all_segments(s->log, &n);
    int sealed = 1;
    for (size_t i = 0; i + 1 < n; i++)
        if (!(segment_flags(s->log, segs[i]) & DL_SEG_F_SEALED))
            sealed = 0;
    free(segs);
    CHECK(n >= 10);
    CHECK(sealed);
    return n >= 10 && sealed ? 0 : -1;
}

static int make_log(struct scratch *s, struct model *m, uint64_t salt)
{
    return make_log_lens(s, m, salt, salt);
}

static const char *idx_file(char *buf, size_t size, const char *log, uint64_t first)
{
    char name[DL_IDX_NAME_LEN + 1];
    dl_index_name(name, first);
    snprintf(buf, size, "%s/%s", log, name);
    return buf;
}

static durlog_reader *linear_reader(const char *log)
{
    setenv("DURLOG_SEEK_LINEAR", "1", 1);
    durlog_reader *r = fx_reader(log, NULL);
    unsetenv("DURLOG_SEEK_LINEAR");
    return r;
}

/* Seeks r to seq and reads what is there: checks it against the model and
 * against the linear reader lr (the same result code, the same record). */
static void seek_and_compare(struct model *m, durlog_reader *r, durlog_reader *lr, uint64_t seq)
{
    int rc = durlog_reader_seek(r, seq);
    int lrc = durlog_reader_seek(lr, seq);
    if (rc != lrc) {
        fprintf(stderr, "  seek to %" PRIu64 ": %d (%s) with the index, %d (%s) without\n",
                seq, rc, durlog_strerror(rc), lrc, durlog_strerror(lrc));
        th_failed_current = 1;
    }
    if (seq < m->count) {
        CHECK_OK(rc);
    } else if (seq > m->count) {
        CHECK_RC(rc, DURLOG_ENOTFOUND);
    }
    if (rc)
        return;
    durlog_record rec, lrec;
    rc = durlog_reader_next(r, &rec);
    lrc = durlog_reader_next(lr, &lrec);
    CHECK_RC(rc, lrc);
    if (seq >= m->count) {
        CHECK_RC(rc, DURLOG_EEND);
        return;
    }
    CHECK_OK(rc);
    if (rc == 0 && (rec.seq != seq || !model_matches(m, &rec))) {
        fprintf(stderr, "  seek to %" PRIu64 " returned record %" PRIu64 " (%zu bytes)\n",
                seq, rec.seq, rec.len);
        th_failed_current = 1;
    }
}

/* Random seeks, plus every segment's first record and its neighbours. */
static void seeks_agree(struct model *m, const char *log, uint64_t salt, int n)
{
    durlog_reader *r = fx_reader(log, NULL), *lr = linear_reader(log);
    if (!r || !lr)
        return;
    uint64_t rng = salt + 99;
    size_t nsegs;
    uint64_t *segs = list_all_segments(log, &nsegs);
    for (size_t i = 0; i < nsegs; i++)
        for (uint64_t d = 0; d < 3; d++)
            if (segs[i] + d >= 1)
                seek_and_compare(m, r, lr, segs[i] + d - 1);
    free(segs);
    for (int i = 0; i < n; i++)
        seek_and_compare(m, r, lr, test_rand(&rng) % (m->count + 3));
    fx_reader_close(r);
    fx_reader_close(lr);
}

/* The side file of every segment (all checkpointed: the log is closed)
 * exists, parses for that segment, and holds what building it from the
 * records gives. Returns how many. */
static size_t side_files_match_the_records(const char *log)
{
    size_t n, good = 0;
    uint64_t *segs = list_all_segments(log, &n);
    int dirfd = open(log, O_RDONLY | O_DIRECTORY);
    char err[DL_ERRMSG_SIZE];
    if (dirfd < 0) {
        CHECK(dirfd >= 0);
        free(segs);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct dl_segmap sm = DL_SEGMAP_INIT;
        struct dl_index_id id;
        struct dl_index built = DL_INDEX_INIT, loaded = DL_INDEX_INIT;
        if (dl_seg_open(dirfd, log, segs[i], DL_SEG_READ, &sm, err, sizeof err) != 0) {
            fprintf(stderr, "  %s\n", err);
            th_failed_current = 1;
            continue;
        }
        CHECK_OK(dl_index_id_of(&sm.hdr, &id));
        CHECK_OK(dl_index_build(&sm, &built));
        int rc = dl_index_load(dirfd, &id, &loaded);
        if (rc) {
            fprintf(stderr, "  the side file of segment %" PRIu64 ": %s\n", segs[i],
                    durlog_strerror(rc));
            th_failed_current = 1;
        } else if (loaded.count != built.count || built.count < 1 ||
                   memcmp(loaded.e, built.e, built.count * sizeof *built.e) != 0) {
            fprintf(stderr, "  the side file of segment %" PRIu64 " differs from its "
                    "records\n", segs[i]);
            th_failed_current = 1;
        } else {
            good++;
        }
        dl_index_free(&built);
        dl_index_free(&loaded);
        dl_seg_close(&sm);
    }
    close(dirfd);
    free(segs);
    return good;
}

static void seeks_agree_with_the_model_and_the_linear_walk(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 1) == 0);
    size_t n;
    free(list_all_segments(s.log, &n));
    seeks_agree(&m, s.log, 1, 3000);
    /* The seeks wrote every segment's side file, right: the sealed ones',
     * and the tail's, checkpointed by the last close. */
    CHECK_EQ_U64(side_files_match_the_records(s.log), n);
    /* And with them in place, again. */
    seeks_agree(&m, s.log, 2, 3000);
}

/* The tail's side file covers what its checkpoint covered at the last
 * close; a writer that appends more and closes again moves the checkpoint,
 * and the old side file is then another segment's (stale): seeks into the
 * new records, while the writer is open and after, stay right. */
static void the_tails_side_file_follows_its_checkpoint(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 70) == 0);
    seeks_agree(&m, s.log, 7, 300);
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    uint64_t tail = segs[n - 1];
    free(segs);
    struct dl_seg_header before, after;
    REQUIRE(segment_header_read(s.log, tail, &before) == 0);
    /* The same records, then 300 more in the same tail segment. */
    struct model more;
    uint32_t *lens = malloc((RECORDS + 300) * sizeof *lens);
    REQUIRE(lens);
    memcpy(lens, m.lens, RECORDS * sizeof *lens);
    for (size_t i = RECORDS; i < RECORDS + 300; i++)
        lens[i] = 20;
    model_init(&more, m.salt, lens, RECORDS + 300);
    free(lens);
    durlog *log = fx_writer(s.log, &(durlog_options){ .segment_size = SEG_SIZE });
    REQUIRE(log);
    model_append(log, &more, RECORDS, RECORDS + 300, DURLOG_KERNEL);
    seeks_agree(&more, s.log, 8, 300);
    CHECK_OK(fx_close(log));
    REQUIRE(segment_header_read(s.log, tail, &after) == 0);
    CHECK(after.first_seq == tail && after.ckpt_seq == RECORDS + 300 &&
          after.ckpt_seq > before.ckpt_seq);
    seeks_agree(&more, s.log, 9, 1000);
    CHECK_EQ_U64(side_files_match_the_records(s.log), n);
}

/* A side file's temporary that a reader died before renaming is removed by
 * the next writer to open the log, with the segments' temporaries; the side
 * files themselves, and names that are not such temporaries, stay. */
static void a_dead_readers_temporary_is_removed_at_the_next_open(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 80) == 0);
    seeks_agree(&m, s.log, 10, 50);
    char idx[400], tmp[500], other[500];
    idx_file(idx, sizeof idx, s.log, 0);
    snprintf(tmp, sizeof tmp, "%s.4242-7.tmp", idx);
    snprintf(other, sizeof other, "%s.notes", idx);
    REQUIRE(file_write(tmp, "partial", 7) == 0 && file_write(other, "keep", 4) == 0);
    REQUIRE(file_exists(idx));
    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    CHECK(!file_exists(tmp));
    CHECK(file_exists(idx));
    CHECK(file_exists(other));
    CHECK_OK(fx_close(log));
}

/* What is wrong with the side files in each case below. */
enum damage {
    MISSING, TRUNCATED, BIT_FLIPPED, STALE, FOREIGN, EMPTY, LYING_SEQ, LYING_OFF,
    LYING_TIME, LYING_RANDOM, A_DIRECTORY, A_FIFO, A_SYMLINK, HUGE,
};

/* Rewrites the side file at path (a good one) with entries that lie, with
 * a right checksum and identity: lies only the records can expose. */
static void write_lying_index(const char *path, enum damage how, uint64_t *rng)
{
    size_t len;
    unsigned char *buf = file_read(path, &len);
    struct dl_index ix = DL_INDEX_INIT;
    REQUIRE(buf && dl_index_decode(buf, len, NULL, &ix) == 0);
    free(buf);
    for (uint32_t i = 0; i < ix.count; i++) {
        struct dl_index_entry *e = &ix.e[i];
        if (how == LYING_SEQ)
            e->seq++;
        else if (how == LYING_OFF)
            e->off += 4;
        else if (how == LYING_TIME)
            e->time_ns--;
        else if (test_rand(rng) % 3 == 0) {
            uint64_t d = test_rand(rng) % 5000;
            switch (test_rand(rng) % 3) {
            case 0: e->seq += test_rand(rng) % 2 ? d % 40 : -(d % 40); break;
            case 1: e->off += test_rand(rng) % 2 ? d : -d; break;
            default: e->time_ns += test_rand(rng) % 2 ? d : -d; break;
            }
        }
    }
    unsigned char *out;
    REQUIRE(dl_index_encode(&ix, &out, &len) == 0);
    CHECK(file_write(path, out, len) == 0);
    free(out);
    dl_index_free(&ix);
}

/* Makes a log, lets seeks write its side files, damages every one of them
 * `how`, and seeks again: the records decide. The side files that can be
 * replaced are right again afterwards. */
static void seeks_survive(enum damage how)
{
    struct scratch s, other;
    struct model m, om;
    REQUIRE(make_log(&s, &m, 10 + how) == 0);
    seeks_agree(&m, s.log, 3, 200);
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    uint64_t rng = 1234 + how;
    char path[400], opath[400];
    if (how == STALE) {
        /* Another log, of other records of the same lengths: its
         * segments have the same names and end at the same numbers and
         * offsets, but its side files are for other segments. */
        REQUIRE(make_log_lens(&other, &om, 500, 10 + how) == 0);
        size_t on;
        uint64_t *osegs = list_all_segments(other.log, &on);
        seeks_agree(&om, other.log, 4, 200);
        size_t copied = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            unsigned char *buf = file_read(idx_file(opath, sizeof opath, other.log, segs[i]),
                                           &len);
            if (buf && file_write(idx_file(path, sizeof path, s.log, segs[i]), buf, len) == 0)
                copied++;
            free(buf);
        }
        free(osegs);
        CHECK_EQ_U64(copied, n);
    }
    for (size_t i = 0; i < n; i++) {
        idx_file(path, sizeof path, s.log, segs[i]);
        size_t len = 0;
        unsigned char *buf = file_read(path, &len);
        REQUIRE(buf);
        switch (how) {
        case MISSING:
            CHECK(unlink(path) == 0);
            break;
        case TRUNCATED:
            CHECK(truncate(path, (off_t)(test_rand(&rng) % len)) == 0);
            break;
        case BIT_FLIPPED:
            CHECK(file_flip_bit(path, test_rand(&rng) % len, (int)(test_rand(&rng) % 8)) == 0);
            break;
        case FOREIGN: {
            /* The segment's own first bytes: not an index. */
            char spath[400];
            size_t slen;
            unsigned char *seg = file_read(seg_file(spath, sizeof spath, s.log, segs[i]), &slen);
            REQUIRE(seg && slen > 4096);
            CHECK(file_write(path, seg, 4096) == 0);
            free(seg);
            break;
        }
        case EMPTY:
            CHECK(truncate(path, 0) == 0);
            break;
        case HUGE:
            /* Sparse, 4 GiB: refused unread, not allocated. */
            CHECK(truncate(path, (off_t)4 << 30) == 0);
            break;
        case LYING_SEQ: case LYING_OFF: case LYING_TIME: case LYING_RANDOM:
            write_lying_index(path, how, &rng);
            break;
        case A_DIRECTORY:
            CHECK(unlink(path) == 0 && mkdir(path, 0755) == 0);
            break;
        case A_FIFO:
            CHECK(unlink(path) == 0 && mkfifo(path, 0644) == 0);
            break;
        case A_SYMLINK:
            /* To the next segment's side file: a good index, of another
             * segment, which must not be followed. */
            CHECK(unlink(path) == 0);
            if (i + 1 < n) {
                char target[DL_IDX_NAME_LEN + 1];
                dl_index_name(target, segs[i + 1]);
                CHECK(symlink(target, path) == 0);
            }
            break;
        case STALE:
            break;
        }
        free(buf);
    }
    seeks_agree(&m, s.log, 5 + how, 2000);
    if (how != A_DIRECTORY)
        CHECK_EQ_U64(side_files_match_the_records(s.log), n);
    free(segs);
}

static void missing_side_files_are_rebuilt(void) { seeks_survive(MISSING); }
static void truncated_side_files_are_rebuilt(void) { seeks_survive(TRUNCATED); }
static void bit_flipped_side_files_are_rebuilt(void) { seeks_survive(BIT_FLIPPED); }
static void stale_side_files_are_rebuilt(void) { seeks_survive(STALE); }
static void foreign_side_files_are_rebuilt(void) { seeks_survive(FOREIGN); }
static void empty_side_files_are_rebuilt(void) { seeks_survive(EMPTY); }
static void side_files_lying_about_numbers_are_not_believed(void) { seeks_survive(LYING_SEQ); }
static void side_files_lying_about_offsets_are_not_believed(void) { seeks_survive(LYING_OFF); }
static void side_files_lying_about_times_are_not_believed(void) { seeks_survive(LYING_TIME); }
static void side_files_lying_at_random_are_not_believed(void) { seeks_survive(LYING_RANDOM); }
static void a_directory_in_place_of_a_side_file_changes_nothing(void)
{
    seeks_survive(A_DIRECTORY);
}
static void a_fifo_in_place_of_a_side_file_is_replaced(void) { seeks_survive(A_FIFO); }
static void a_symlink_in_place_of_a_side_file_is_not_followed(void) { seeks_survive(A_SYMLINK); }
static void huge_side_files_are_refused_unread(void) { seeks_survive(HUGE); }

/* Side files the reader may not read nor write (the dl_os seam fails their
 * open with EACCES, as for a reader without permission: this test runs as
 * root too): the reader builds what it needs in memory and seeks right. */
static int eacces_for_index_files(int dirfd, const char *name, int flags, mode_t mode)
{
    if (strstr(name, DL_IDX_SUFFIX)) {
        errno = EACCES;
        return -1;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static void unreadable_unwritable_side_files_are_built_in_memory(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 40) == 0);
    dl_os.openat = eacces_for_index_files;
    seeks_agree(&m, s.log, 6, 2000);
    dl_os.openat = dl_os_real.openat;
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    char path[400];
    for (size_t i = 0; i < n; i++)
        CHECK(!file_exists(idx_file(path, sizeof path, s.log, segs[i])));
    free(segs);
}

/* A record damaged in a sealed segment before an index entry: a walk from
 * the segment's start cannot reach the records after it, a seek through
 * the index can (and returns them right). This is what shows the index is
 * used; the linear switch (DURLOG_SEEK_LINEAR) shows it is off there. */
static void seek_starts_at_an_index_entry(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 50) == 0);
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    uint64_t seg = segs[2];
    free(segs);
    int dirfd = open(s.log, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    struct dl_segmap sm = DL_SEGMAP_INIT;
    struct dl_index ix = DL_INDEX_INIT;
    char err[DL_ERRMSG_SIZE], path[400];
    REQUIRE(dl_seg_open(dirfd, s.log, seg, DL_SEG_READ, &sm, err, sizeof err) == 0);
    int built = dl_index_build(&sm, &ix);
    dl_seg_close(&sm);
    /* Its side file, as a seek would have written it before the damage. */
    CHECK_OK(built ? built : dl_index_store(dirfd, &ix, 0644));
    close(dirfd);
    REQUIRE(built == 0 && ix.count >= 4);
    /* The header of the first record after entry 1's, zeroed: a walk
     * (which looks at the records' structure) stops there. */
    uint64_t damaged = ix.e[1].seq + 1;
    uint64_t at = ix.e[1].off + dl_rec_size(m.lens[ix.e[1].seq]);
    uint64_t beyond = ix.e[3].seq + 2;
    dl_index_free(&ix);
    CHECK(file_zero(seg_file(path, sizeof path, s.log, seg), at, DL_REC_HEADER_SIZE) == 0);

    durlog_reader *r = fx_reader(s.log, NULL), *lr = linear_reader(s.log);
    REQUIRE(r && lr);
    durlog_record rec;
    CHECK_OK(durlog_reader_seek(r, beyond));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(rec.seq == beyond && model_matches(&m, &rec));
    CHECK_RC(durlog_reader_seek(lr, beyond), DURLOG_ENOTFOUND);
    /* The damaged record itself: both get there, and report it damaged;
     * past it, before the next entry, neither gets there. */
    CHECK_OK(durlog_reader_seek(r, damaged));
    CHECK_OK(durlog_reader_seek(lr, damaged));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_ECORRUPT);
    CHECK_RC(durlog_reader_next(lr, &rec), DURLOG_ECORRUPT);
    CHECK_RC(durlog_reader_seek(r, damaged + 1), DURLOG_ENOTFOUND);
    CHECK_RC(durlog_reader_seek(lr, damaged + 1), DURLOG_ENOTFOUND);
}

/* The same for a seek by time (durlog_reader_seek_time): past damage that a
 * walk from the segment's first record cannot cross, the walk starts at the
 * index's last entry before the time, and lands on the first record at or
 * after it; the linear reader stops at the damage. */
static void seek_time_starts_at_an_index_entry(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 51) == 0);
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    uint64_t seg = segs[2];
    free(segs);
    int dirfd = open(s.log, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    struct dl_segmap sm = DL_SEGMAP_INIT;
    struct dl_index ix = DL_INDEX_INIT;
    char err[DL_ERRMSG_SIZE], path[400];
    REQUIRE(dl_seg_open(dirfd, s.log, seg, DL_SEG_READ, &sm, err, sizeof err) == 0);
    int built = dl_index_build(&sm, &ix);
    dl_seg_close(&sm);
    CHECK_OK(built ? built : dl_index_store(dirfd, &ix, 0644));
    close(dirfd);
    REQUIRE(built == 0 && ix.count >= 4);
    uint64_t at = ix.e[1].off + dl_rec_size(m.lens[ix.e[1].seq]);
    uint64_t after = ix.e[3].seq, t = ix.e[3].time_ns + 1;
    dl_index_free(&ix);
    CHECK(file_zero(seg_file(path, sizeof path, s.log, seg), at, DL_REC_HEADER_SIZE) == 0);

    durlog_reader *r = fx_reader(s.log, NULL), *lr = linear_reader(s.log);
    REQUIRE(r && lr);
    durlog_record rec;
    CHECK_OK(durlog_reader_seek_time(r, t));
    CHECK_OK(durlog_reader_next(r, &rec));
    uint64_t got = rec.seq;
    CHECK(got > after && rec.time_ns >= t && model_matches(&m, &rec));
    /* The record before it is earlier than t: it is the first at or after. */
    CHECK_OK(durlog_reader_seek(r, got - 1));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(rec.seq == got - 1 && rec.time_ns < t);
    CHECK_RC(durlog_reader_seek_time(lr, t), DURLOG_ECORRUPT);
}

/* Lookups within one segment by number and by time (DL_INDEX_BY_SEQ and
 * _BY_TIME, what a seek by time uses), against a scan of every record: the
 * start is a record that checks, at or before the one sought, and a walk
 * from it finds exactly the record the scan does. */
static void lookups_agree_with_a_scan(void)
{
    struct scratch s;
    struct model m;
    REQUIRE(make_log(&s, &m, 60) == 0);
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    int dirfd = open(s.log, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    uint64_t rng = 77;
    char err[DL_ERRMSG_SIZE];
    for (size_t i = 0; i + 1 < n; i++) {
        struct dl_segmap sm = DL_SEGMAP_INIT;
        struct dl_index ix = DL_INDEX_INIT;
        if (dl_seg_open(dirfd, s.log, segs[i], DL_SEG_READ, &sm, err, sizeof err) != 0 ||
            dl_index_build(&sm, &ix) != 0) {
            CHECK(!"segment opens and its index builds");
            dl_seg_close(&sm);
            continue;
        }
        /* The scan: every record's number, offset and time. */
        uint64_t cnt = sm.hdr.ckpt_seq - sm.first_seq;
        struct dl_index_entry *all = malloc(cnt * sizeof *all);
        struct dl_seg_fmt f = dl_segmap_fmt(&sm);
        struct dl_rec_view v;
        uint64_t off = DL_SEG_HEADER_SIZE;
        for (uint64_t k = 0; k < cnt; k++) {
            REQUIRE(dl_rec_check(&f, sm.map + off, sm.size - off, sm.first_seq + k, &v) ==
                    DL_REC_VALID);
            all[k] = (struct dl_index_entry){ sm.first_seq + k, off, v.time_ns };
            off += v.size;
        }
        for (int t = 0; t < 300; t++) {
            int by = t % 2 ? DL_INDEX_BY_TIME : DL_INDEX_BY_SEQ;
            uint64_t k = test_rand(&rng) % cnt, key;
            if (by == DL_INDEX_BY_SEQ)
                key = all[k].seq;
            else /* a record's time, just after it, or just before it */
                key = all[k].time_ns + (test_rand(&rng) % 3) - 1;
            /* What the scan finds: the record itself, or the first with a
             * time at or after key. */
            uint64_t want = k;
            if (by == DL_INDEX_BY_TIME)
                for (want = 0; want < cnt && all[want].time_ns < key; want++)
                    ;
            uint64_t pos, seq;
            int rc = dl_index_start(&sm, &ix, by, key, &pos, &seq);
            CHECK(rc == 0 || rc == 1);
            uint64_t j = seq - sm.first_seq;
            CHECK(j < cnt && all[j].off == pos && j <= want);
            if (rc == 0 && by == DL_INDEX_BY_TIME)
                CHECK(all[j].time_ns < key);
            /* The walk from there meets it after less than a stride. */
            if (j < cnt && want < cnt)
                CHECK(all[want].off - all[j].off < DL_IDX_STRIDE + DL_REC_HEADER_SIZE + MAX_LEN);
        }
        free(all);
        dl_index_free(&ix);
        dl_seg_close(&sm);
    }
    close(dirfd);
    free(segs);
}

/* The parser refuses every single-bit flip and every truncation of a good
 * side file, entries out of order or outside the segment even with a good
 * checksum, and an index of another segment. */
static void decode_refuses_what_is_not_this_segments_index(void)
{
    struct dl_index ix = DL_INDEX_INIT, out = DL_INDEX_INIT;
    ix.id = (struct dl_index_id){ 1000, 1100, 64 + 100 * 116, 12345, 1 << 20, 0xabcdef };
    ix.stride = DL_IDX_STRIDE;
    ix.count = 10;
    ix.e = calloc(ix.count, sizeof *ix.e);
    REQUIRE(ix.e);
    for (uint32_t i = 0; i < ix.count; i++)
        ix.e[i] = (struct dl_index_entry){ 1000 + 10 * i, 64 + 1160 * i, 5000 + i };
    unsigned char *buf;
    size_t len;
    REQUIRE(dl_index_encode(&ix, &buf, &len) == 0);
    CHECK_OK(dl_index_decode(buf, len, &ix.id, &out));
    CHECK(out.count == ix.count && memcmp(out.e, ix.e, ix.count * sizeof *ix.e) == 0);
    dl_index_free(&out);
    int accepted = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (dl_index_decode(buf, len, &ix.id, &out) == 0) {
            accepted++;
            dl_index_free(&out);
        }
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    CHECK_EQ_U64(accepted, 0);
    for (size_t l = 0; l < len; l++)
        CHECK(dl_index_decode(buf, l, &ix.id, &out) != 0);
    free(buf);
    /* Another segment's: every identity field counts. */
    for (int field = 0; field < 6; field++) {
        struct dl_index_id want = ix.id;
        uint64_t *f64[] = { &want.first_seq, &want.end_seq, &want.end_off, &want.created_ns,
                            &want.capacity };
        if (field < 5)
            (*f64[field])++;
        else
            want.seg_crc ^= 1;
        REQUIRE(dl_index_encode(&ix, &buf, &len) == 0);
        CHECK_RC(dl_index_decode(buf, len, &want, &out), -ESTALE);
        free(buf);
    }
    /* Good checksums over bad entries. */
    struct dl_index_entry keep = ix.e[5];
    struct dl_index_entry bad[] = {
        { ix.e[4].seq, keep.off, keep.time_ns },          /* number not increasing */
        { keep.seq, ix.e[4].off, keep.time_ns },          /* offset not increasing */
        { keep.seq, keep.off, ix.e[4].time_ns - 1 },      /* time decreasing */
        { 1100, keep.off, keep.time_ns },                 /* past the segment's end */
        { keep.seq, 64 + 100 * 116, keep.time_ns },       /* offset at its end */
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        ix.e[5] = bad[b];
        if (b == 3 || b == 4)
            ix.count = 6; /* the last entry: only the bound is wrong */
        REQUIRE(dl_index_encode(&ix, &buf, &len) == 0);
        CHECK_RC(dl_index_decode(buf, len, &ix.id, &out), DURLOG_ECORRUPT);
        free(buf);
        ix.count = 10;
    }
    ix.e[5] = keep;
    /* A count the file's size does not match, with a good checksum. */
    REQUIRE(dl_index_encode(&ix, &buf, &len) == 0);
    dl_put32(buf + DL_IDXH_COUNT, 0xffffffffu);
    dl_put32(buf + len - 4, dl_crc32c(0, buf, len - 4));
    CHECK_RC(dl_index_decode(buf, len, &ix.id, &out), DURLOG_ECORRUPT);
    free(buf);
    dl_index_free(&ix);
}

TEST_MAIN(
    RUN(decode_refuses_what_is_not_this_segments_index);
    RUN(seeks_agree_with_the_model_and_the_linear_walk);
    RUN(lookups_agree_with_a_scan);
    RUN(seek_starts_at_an_index_entry);
    RUN(seek_time_starts_at_an_index_entry);
    RUN(the_tails_side_file_follows_its_checkpoint);
    RUN(a_dead_readers_temporary_is_removed_at_the_next_open);
    RUN(missing_side_files_are_rebuilt);
    RUN(truncated_side_files_are_rebuilt);
    RUN(bit_flipped_side_files_are_rebuilt);
    RUN(stale_side_files_are_rebuilt);
    RUN(foreign_side_files_are_rebuilt);
    RUN(empty_side_files_are_rebuilt);
    RUN(side_files_lying_about_numbers_are_not_believed);
    RUN(side_files_lying_about_offsets_are_not_believed);
    RUN(side_files_lying_about_times_are_not_believed);
    RUN(side_files_lying_at_random_are_not_believed);
    RUN(a_directory_in_place_of_a_side_file_changes_nothing);
    RUN(a_fifo_in_place_of_a_side_file_is_replaced);
    RUN(a_symlink_in_place_of_a_side_file_is_not_followed);
    RUN(huge_side_files_are_refused_unread);
    RUN(unreadable_unwritable_side_files_are_built_in_memory);
)
