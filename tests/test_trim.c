/*
 * test_trim.c - durlog_trim and durlog_trim_retention (src/trim.c): whole
 * sealed segments go, oldest first, never the tail; readers finish a removed
 * segment they hold and then get DURLOG_ETRIMMED; trims run while writer
 * processes append and a reader follows; and a trimming process killed at
 * each of its system calls leaves a log that opens at a segment boundary,
 * with no gap and every record from there on.
 */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "format.h"
#include "segment.h"
#include "lib/children.h"
#include "lib/faultloop.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"

/* Small segments, so that a few hundred records make many of them. */
#define SEG_SIZE 4096
#define EXTRA 100
#define RECORDS 400

static durlog_options small_segments(void)
{
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = SEG_SIZE;
    return o;
}

/* Makes the log at path with RECORDS records of writer 0 (record i is its
 * index i) and closes it: every segment but the last is then sealed.
 * Returns the number of segments (their first seqs in segs). */
static size_t make_log(const char *path, uint64_t *segs, size_t max)
{
    durlog_options o = small_segments();
    durlog *log = fx_writer(path, &o);
    if (!log)
        return 0;
    for (uint64_t i = 0; i < RECORDS; i++) {
        uint64_t seq;
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq));
        CHECK_EQ_U64(seq, i);
    }
    CHECK_OK(fx_close(log));
    return list_segments(path, segs, max);
}

/* Reads the whole log from its first record: dense seqs, each record
 * intact and writer 0's index equal to its seq, up to `end`. Returns the
 * first seq read (UINT64_MAX when none), or UINT64_MAX - 1 on a problem. */
static uint64_t read_all(const char *path, uint64_t end)
{
    durlog_reader *r = fx_reader(path, NULL);
    if (!r)
        return UINT64_MAX - 1;
    durlog_record rec;
    uint64_t first = UINT64_MAX, want = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        if (first == UINT64_MAX)
            first = want = rec.seq;
        if (rec.seq != want || !tu_payload_check(&rec, EXTRA, &w, &idx) || w != 0 ||
            idx != rec.seq) {
            fprintf(stderr, "  record %" PRIu64 " (expected %" PRIu64 ") is wrong\n",
                    rec.seq, want);
            fx_reader_close(r);
            return UINT64_MAX - 1;
        }
        want++;
    }
    if (rc != DURLOG_EEND || want != end) {
        fprintf(stderr, "  reading stopped at %" PRIu64 " of %" PRIu64 ": %s\n", want, end,
                durlog_reader_errmsg(r));
        first = UINT64_MAX - 1;
    }
    fx_reader_close(r);
    return first;
}

static void check_clean(const char *path)
{
    durlog_check_report rep;
    CHECK_OK(durlog_check(path, 0, &rep));
    CHECK(!rep.damaged);
    if (rep.damaged)
        fprintf(stderr, "  durlog check: %s\n", rep.problem);
}

static void trim_removes_whole_sealed_segments_oldest_first(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    /* Inside segment 5: segments 0 to 4 hold only records below it. */
    uint64_t first = 0;
    CHECK_OK(durlog_trim(log, segs[5] + 1, &first));
    CHECK_EQ_U64(first, segs[5]);
    uint64_t now[256];
    size_t m = list_segments(s.log, now, 256);
    CHECK_EQ_U64(m, n - 5);
    CHECK_EQ_U64(now[0], segs[5]);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.first_seq, segs[5]);
    CHECK_EQ_U64(info.next_seq, RECORDS);
    /* Asking again for the same changes nothing; asking below changes
     * nothing either. */
    CHECK_OK(durlog_trim(log, segs[5] + 1, &first));
    CHECK_EQ_U64(first, segs[5]);
    CHECK_OK(durlog_trim(log, 0, &first));
    CHECK_EQ_U64(first, segs[5]);
    CHECK_EQ_U64(list_segments(s.log, now, 256), n - 5);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, RECORDS), segs[5]);
    check_clean(s.log);
    /* It reopens (recovery) at the same first record, and takes appends. */
    log = fx_writer(s.log, &o);
    REQUIRE(log);
    uint64_t seq;
    CHECK_OK(tu_append_payload(log, 0, RECORDS, EXTRA, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, RECORDS);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.first_seq, segs[5]);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, RECORDS + 1), segs[5]);
}

static void trim_never_removes_the_tail(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 3);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    uint64_t first = 0;
    CHECK_OK(durlog_trim(log, UINT64_MAX, &first));
    CHECK_EQ_U64(first, segs[n - 1]);
    uint64_t now[4];
    CHECK_EQ_U64(list_segments(s.log, now, 4), 1);
    CHECK_EQ_U64(now[0], segs[n - 1]);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, RECORDS), segs[n - 1]);
    check_clean(s.log);
}

/* A segment whose header does not say it is sealed up to the next one
 * stays, and so does everything after it: the coordination file's word for
 * it is not enough. */
static void trim_stops_at_a_segment_not_sealed(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    struct dl_seg_header h;
    REQUIRE(segment_header_read(s.log, segs[3], &h) == 0);
    REQUIRE(h.flags & DL_SEG_F_SEALED);
    h.flags = 0;
    h.ckpt_seq = h.first_seq;
    h.ckpt_off = DL_SEG_HEADER_SIZE;
    REQUIRE(segment_header_write(s.log, segs[3], &h) == 0);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    /* Opening seals it again unless the writer's sealer has not yet: put
     * the header back as unsealed, with the writer open. */
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    REQUIRE(segment_header_write(s.log, segs[3], &h) == 0);
    uint64_t first = 0;
    CHECK_OK(durlog_trim(log, UINT64_MAX, &first));
    CHECK_EQ_U64(first, segs[3]);
    uint64_t now[256];
    CHECK_EQ_U64(list_segments(s.log, now, 256), n - 3);
    CHECK_EQ_U64(now[0], segs[3]);
    CHECK_OK(fx_close(log));
}

/* A reader reading a segment that is removed finishes it, then gets
 * DURLOG_ETRIMMED naming the log's first record, and goes on from there
 * once it seeks to it. */
static void reader_finishes_a_removed_segment_then_reports_etrimmed(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 0);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    uint64_t first = 0;
    CHECK_OK(durlog_trim(log, segs[4], &first));
    CHECK_EQ_U64(first, segs[4]);
    /* The rest of segment 0, from the file it has open. */
    for (uint64_t want = 1; want < segs[1]; want++) {
        uint32_t w;
        uint64_t idx;
        int rc = durlog_reader_next(r, &rec);
        CHECK_OK(rc);
        if (rc)
            break;
        CHECK_EQ_U64(rec.seq, want);
        CHECK(tu_payload_check(&rec, EXTRA, &w, &idx) && idx == want);
    }
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_ETRIMMED);
    char want_msg[64];
    snprintf(want_msg, sizeof want_msg, "first record is now %" PRIu64, segs[4]);
    CHECK(strstr(durlog_reader_errmsg(r), want_msg) != NULL);
    /* It stays where it is: asking again says the same. */
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_ETRIMMED);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.first_seq, segs[4]);
    /* Seeking below the first record fails the same way, then at it works. */
    CHECK_RC(durlog_reader_seek(r, segs[4] - 1), DURLOG_ETRIMMED);
    CHECK(strstr(durlog_reader_errmsg(r), want_msg) != NULL);
    CHECK_RC(durlog_reader_seek(r, 0), DURLOG_ETRIMMED);
    CHECK_OK(durlog_reader_seek(r, info.first_seq));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, segs[4]);
    CHECK_OK(fx_close(log));
    /* A new reader, told nothing, starts at the first record. */
    CHECK_EQ_U64(read_all(s.log, RECORDS), segs[4]);
}

/* A reader whose segment is removed, but not the next, reads on without a
 * gap. */
static void reader_reads_on_when_only_its_own_segment_went(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 4);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    CHECK_OK(durlog_trim(log, segs[1], NULL));
    uint64_t want = 1;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        CHECK_EQ_U64(rec.seq, want);
        CHECK(tu_payload_check(&rec, EXTRA, &w, &idx) && idx == rec.seq);
        if (rec.seq != want)
            break;
        want++;
    }
    CHECK_RC(rc, DURLOG_EEND);
    CHECK_EQ_U64(want, RECORDS);
    CHECK_OK(fx_close(log));
}

static void trim_by_size_keeps_the_newest_segments_that_fit(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    uint64_t sizes[256], total = 0;
    for (size_t i = 0; i < n; i++) {
        char file[400];
        struct stat st;
        REQUIRE(stat(seg_file(file, sizeof file, s.log, segs[i]), &st) == 0);
        sizes[i] = (uint64_t)st.st_size;
        total += sizes[i];
    }
    /* Room for the last three segments and half of the one before. */
    uint64_t limit = sizes[n - 1] + sizes[n - 2] + sizes[n - 3] + sizes[n - 4] / 2;
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    durlog_retention lim;
    memset(&lim, 0, sizeof lim);
    lim.max_bytes = limit;
    uint64_t first = 0;
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[n - 3]);
    uint64_t now[256];
    CHECK_EQ_U64(list_segments(s.log, now, 256), 3);
    /* A limit below the tail's size leaves the tail alone. */
    lim.max_bytes = 1;
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[n - 1]);
    CHECK_EQ_U64(list_segments(s.log, now, 256), 1);
    CHECK(total > limit);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, RECORDS), segs[n - 1]);
}

/* Named cursors hold retention: a size limit that would keep only the tail
 * keeps, instead, every segment from the one holding the lowest cursor;
 * an explicit trim by number does not look at cursors; a damaged cursor
 * file stops retention (nothing removed on a guess). */
static void cursors_hold_what_they_have_not_consumed(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    /* Cursor "slow" in the middle of segment 3, "fast" in the last. */
    uint64_t slow_at = segs[3] + (segs[4] - segs[3]) / 2;
    durlog_cursor *slow, *fast;
    CHECK_OK(durlog_cursor_open(s.log, "slow", DURLOG_CURSOR_CREATE, &slow));
    CHECK_OK(durlog_cursor_open(s.log, "fast", DURLOG_CURSOR_CREATE, &fast));
    CHECK_OK(durlog_cursor_commit(slow, slow_at));
    CHECK_OK(durlog_cursor_commit(fast, segs[n - 1]));
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    durlog_retention lim;
    memset(&lim, 0, sizeof lim);
    lim.max_bytes = 1; /* alone, it keeps only the tail */
    /* A seek into segment 1 leaves its index side file (index.c); the trim
     * that removes the segment removes it too. */
    char idx[400];
    snprintf(idx, sizeof idx, "%s/%020llu.seg.idx", s.log, (unsigned long long)segs[1]);
    durlog_reader *r1 = fx_reader(s.log, NULL);
    REQUIRE(r1);
    CHECK_OK(durlog_reader_seek(r1, segs[1] + 5));
    CHECK(access(idx, F_OK) == 0);
    uint64_t first = 0, now[256];
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[3]);
    CHECK_EQ_U64(list_segments(s.log, now, 256), n - 3);
    CHECK(access(idx, F_OK) != 0 && errno == ENOENT);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    CHECK_OK(durlog_reader_seek_cursor(r, slow));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, slow_at);

    /* A damaged cursor file: retention removes nothing, and says why. */
    char file[400];
    snprintf(file, sizeof file, "%s/cursor.fast", s.log);
    int fd = open(file, O_WRONLY);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, "X", 1, 20) == 1);
    close(fd);
    CHECK_RC(durlog_trim_retention(log, &lim, &first), DURLOG_ECORRUPT);
    CHECK(strstr(durlog_errmsg(log), "cursor.fast") != NULL);
    CHECK_EQ_U64(list_segments(s.log, now, 256), n - 3);
    CHECK_OK(durlog_cursor_delete(s.log, "fast"));

    /* The cap: the hold covers at most cursor_cap_bytes of segments, from
     * the held one to the tail; past it the oldest go, and the cursor's
     * next seek says it fell behind. */
    uint64_t cap = 0, sizes[256];
    for (size_t i = 5; i < n; i++) {
        struct stat st;
        REQUIRE(stat(seg_file(file, sizeof file, s.log, segs[i]), &st) == 0);
        sizes[i] = (uint64_t)st.st_size;
        cap += sizes[i];
    }
    lim.cursor_cap_bytes = cap; /* room for segments 5 to the tail */
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[5]);
    CHECK_RC(durlog_reader_seek_cursor(r, slow), DURLOG_ETRIMMED);
    CHECK_EQ_U64(durlog_cursor_seq(slow), slow_at);

    /* An explicit trim by number does not wait for cursors. */
    CHECK_OK(durlog_cursor_commit(slow, segs[5]));
    CHECK_OK(durlog_trim(log, segs[n - 2], &first));
    CHECK_EQ_U64(first, segs[n - 2]);
    durlog_cursor_close(slow);
    durlog_cursor_close(fast);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, RECORDS), segs[n - 2]);
}

/* By age: a segment goes once the segment after it began before the
 * cutoff. The headers of segments 1 to 4 are made to say they began two
 * days ago. */
static void trim_by_age_removes_segments_older_than_the_limit(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    uint64_t day = 86400ull * 1000000000ull;
    for (size_t i = 1; i <= 4; i++) {
        struct dl_seg_header h;
        REQUIRE(segment_header_read(s.log, segs[i], &h) == 0);
        h.created_ns -= 2 * day;
        REQUIRE(segment_header_write(s.log, segs[i], &h) == 0);
    }
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    durlog_retention lim;
    memset(&lim, 0, sizeof lim);
    lim.max_age_ns = day;
    uint64_t first = 0;
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[4]);
    /* The rest are younger than a day: nothing more goes. */
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[4]);
    /* No limits: nothing goes. */
    memset(&lim, 0, sizeof lim);
    CHECK_OK(durlog_trim_retention(log, &lim, &first));
    CHECK_EQ_U64(first, segs[4]);
    CHECK_OK(fx_close(log));
}

static void trim_refuses_bad_arguments(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 2);
    CHECK_RC(durlog_trim(NULL, 5, NULL), -EINVAL);
    durlog_retention lim;
    memset(&lim, 0, sizeof lim);
    CHECK_RC(durlog_trim_retention(NULL, &lim, NULL), -EINVAL);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    CHECK_RC(durlog_trim_retention(log, NULL, NULL), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "NULL limits") != NULL);
    lim.reserved[2] = 1;
    lim.max_bytes = 1;
    CHECK_RC(durlog_trim_retention(log, &lim, NULL), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "reserved") != NULL);
    /* Nothing was removed by the refused calls. */
    uint64_t now[256];
    CHECK_EQ_U64(list_segments(s.log, now, 256), n);
    CHECK_OK(fx_close(log));
}

/* A failing fsync of the directory stops the trim with the error: what it
 * removed before stays removed, the log is whole. */
static int fail_fsync_after;
static int fsync_failing_later(int fd)
{
    if (fail_fsync_after-- <= 0) {
        errno = EIO;
        return -1;
    }
    return dl_os_real.fsync(fd);
}

static void a_failed_directory_fsync_stops_the_trim(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t segs[256];
    size_t n = make_log(s.log, segs, 256);
    REQUIRE(n >= 8);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o);
    REQUIRE(log);
    /* The first fsync (before any removal) and the one after the first
     * removal succeed; the one after the second fails. */
    fail_fsync_after = 2;
    dl_os.fsync = fsync_failing_later;
    int rc = durlog_trim(log, segs[6], NULL);
    tu_restore_os();
    CHECK_RC(rc, -EIO);
    CHECK(strstr(durlog_errmsg(log), "fsync of directory") != NULL);
    uint64_t now[256];
    CHECK_EQ_U64(list_segments(s.log, now, 256), n - 2);
    CHECK_EQ_U64(now[0], segs[2]);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, RECORDS), segs[2]);
    check_clean(s.log);
}

/* ---- Processes: writers append, a trimmer trims, a reader follows. ---- */

#define WRITERS 2
#define PER_WRITER 3000
#define KEEP 300 /* the trimmer keeps about this many records */

struct shared_state {
    _Atomic int writers_done;
    _Atomic int trims;          /* trims that removed something */
    _Atomic int failures;
    _Atomic int trimmer_done;
    char msg[256];
    char path[400];             /* the log (children are forked) */
};
static struct shared_state *shared;

static void child_fail(const char *what, int rc, const char *detail)
{
    atomic_fetch_add(&shared->failures, 1);
    snprintf(shared->msg, sizeof shared->msg, "%s: %s: %s", what, durlog_strerror(rc),
             detail ? detail : "");
}

static int writer_main(void *arg)
{
    uint32_t w = (uint32_t)(uintptr_t)arg;
    durlog_options o = small_segments();
    durlog *log;
    int rc = durlog_open(shared->path, &o, &log);
    if (rc) {
        child_fail("writer open", rc, NULL);
        return 1;
    }
    for (uint64_t i = 0; i < PER_WRITER; i++) {
        uint64_t seq;
        rc = tu_append_payload(log, w, i, 64, DURLOG_KERNEL, &seq);
        if (rc) {
            child_fail("append", rc, durlog_errmsg(log));
            break;
        }
    }
    int crc = durlog_close(log);
    if (crc)
        child_fail("writer close", crc, NULL);
    atomic_fetch_add(&shared->writers_done, 1);
    return rc || crc;
}

static int trimmer_main(void *arg)
{
    (void)arg;
    durlog_options o = small_segments();
    durlog *log;
    int rc = durlog_open(shared->path, &o, &log);
    if (rc) {
        child_fail("trimmer open", rc, NULL);
        return 1;
    }
    uint64_t last_first = 0;
    for (int last_round = 0; !last_round;) {
        /* One more round once the writers are done: their close sealed
         * what was left. */
        last_round = atomic_load(&shared->writers_done) == WRITERS;
        durlog_info info;
        rc = durlog_get_info(log, &info);
        uint64_t first = 0;
        if (!rc && info.next_seq > KEEP)
            rc = durlog_trim(log, info.next_seq - KEEP, &first);
        if (rc) {
            child_fail("trim", rc, durlog_errmsg(log));
            break;
        }
        if (first > last_first) {
            atomic_fetch_add(&shared->trims, 1);
            last_first = first;
        }
        sched_yield();
    }
    int crc = durlog_close(log);
    atomic_store(&shared->trimmer_done, 1);
    return rc || crc;
}

static void trims_under_concurrent_writer_processes_and_a_reader(void)
{
    struct scratch s;
    scratch_make(&s);
    shared = tu_shared_alloc(sizeof *shared);
    REQUIRE(shared);
    snprintf(shared->path, sizeof shared->path, "%s", s.log);
    durlog_options o = small_segments();
    durlog *log = fx_writer(s.log, &o); /* creates it; keeps it open */
    REQUIRE(log);
    pid_t pids[WRITERS + 1];
    for (uint32_t w = 0; w < WRITERS; w++)
        pids[w] = tu_fork(writer_main, (void *)(uintptr_t)w);
    pids[WRITERS] = tu_fork(trimmer_main, NULL);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    uint64_t last_idx[WRITERS], want = 0, trimmed_seen = 0, returned = 0;
    int seen[WRITERS] = { 0 }, gap = 0, bad = 0;
    uint64_t total = (uint64_t)WRITERS * PER_WRITER;
    uint64_t deadline = tu_now_ms() + 60000;
    while (!bad && tu_now_ms() < deadline) {
        durlog_record rec;
        int rc = durlog_reader_next(r, &rec);
        if (rc == 0) {
            uint32_t w;
            uint64_t idx;
            if (rec.seq != want || !tu_payload_check(&rec, 64, &w, &idx) || w >= WRITERS ||
                (seen[w] && idx <= last_idx[w]) ||
                (seen[w] && !gap && idx != last_idx[w] + 1) || (!seen[w] && !gap && want == 0 && idx != 0)) {
                fprintf(stderr, "  record %" PRIu64 " (expected %" PRIu64 ") is wrong\n",
                        rec.seq, want);
                bad = 1;
                break;
            }
            seen[w] = 1;
            last_idx[w] = idx;
            want++;
            returned++;
            if (want == total)
                break;
            /* After its first record the reader lags: it waits in segment 0
             * until the trimmer has removed far past it, so that it must
             * meet a trim. */
            while (returned == 1) {
                durlog_info info;
                CHECK_OK(durlog_get_info(log, &info));
                if (info.first_seq > 1000 || atomic_load(&shared->trimmer_done))
                    break;
                usleep(1000);
            }
            /* Once each writer shows up again, its records are dense. */
            if (gap && seen[0] && seen[1])
                gap = 0;
            continue;
        }
        if (rc == DURLOG_ETRIMMED) {
            durlog_info info;
            rc = durlog_reader_get_info(r, &info);
            if (rc) {
                fprintf(stderr, "  reader info: %s\n", durlog_reader_errmsg(r));
                CHECK_OK(rc);
                bad = 1;
                break;
            }
            if (info.first_seq <= want) {
                fprintf(stderr, "  ETRIMMED at %" PRIu64 " with the first record at %"
                        PRIu64 "\n", want, info.first_seq);
                bad = 1;
                break;
            }
            /* Another trim may come between the two calls: then again. */
            int src;
            while ((src = durlog_reader_seek(r, info.first_seq)) == DURLOG_ETRIMMED)
                CHECK_OK(durlog_reader_get_info(r, &info));
            CHECK_OK(src);
            want = info.first_seq;
            trimmed_seen++;
            gap = 1;
            seen[0] = seen[1] = 0;
            continue;
        }
        if (rc == DURLOG_EEND) {
            rc = durlog_reader_wait(r, 100);
            if (rc && rc != -ETIMEDOUT) {
                fprintf(stderr, "  wait: %s\n", durlog_reader_errmsg(r));
                bad = 1;
            }
            continue;
        }
        fprintf(stderr, "  reader at %" PRIu64 ": %s\n", want, durlog_reader_errmsg(r));
        bad = 1;
    }
    CHECK(!bad);
    CHECK_EQ_U64(want, total);
    for (int i = 0; i <= WRITERS; i++)
        CHECK(tu_exited_ok(tu_wait(pids[i])));
    if (atomic_load(&shared->failures))
        fprintf(stderr, "  child: %s\n", shared->msg);
    CHECK_EQ_U64(atomic_load(&shared->failures), 0);
    /* Trims happened while the reader read, and it met one. */
    CHECK(atomic_load(&shared->trims) > 0);
    CHECK(trimmed_seen > 0);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.first_seq > 0);
    CHECK(info.first_seq <= total - KEEP);
    CHECK_EQ_U64(info.next_seq, total);
    CHECK_EQ_U64(info.missing, 0);
    uint64_t segs[8];
    CHECK(list_segments(s.log, segs, 8) >= 1);
    CHECK_EQ_U64(segs[0], info.first_seq);
    CHECK_OK(fx_close(log));
    check_clean(s.log);
    fprintf(stderr, "  (%" PRIu64 " records read, %" PRIu64 " trims met, %d trims)\n",
            returned, trimmed_seen, atomic_load(&shared->trims));
    munmap(shared, sizeof *shared);
}

/* ---- kill -9 at every system call of a trim ---- */

static const char *kill_log;
static uint64_t kill_before;

static int trim_then_exit(void *arg)
{
    (void)arg;
    durlog_options o = small_segments();
    durlog *log;
    if (durlog_open(kill_log, &o, &log) != 0)
        return 1;
    tu_faults_install(~0u);
    int rc = durlog_trim(log, kill_before, NULL);
    tu_restore_os();
    durlog_close(log);
    return rc ? 1 : 0;
}

static void kill_9_at_every_system_call_of_a_trim_leaves_a_whole_log(void)
{
    struct scratch s;
    scratch_make(&s);
    char tmpl[400], work[400], cmd[1400];
    snprintf(tmpl, sizeof tmpl, "%s/template", s.dir);
    snprintf(work, sizeof work, "%s/work", s.dir);
    uint64_t segs[256];
    size_t n = make_log(tmpl, segs, 256);
    REQUIRE(n >= 6);
    kill_log = work;
    kill_before = segs[n - 2];
    int completed = 0, killed = 0;
    for (uint64_t at = 1; at < 2000 && !completed && !th_failed_current; at++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", work, tmpl, work);
        REQUIRE(tu_sh(cmd) == 0);
        tu_faults_arm(TU_E_ANY, TU_F_KILL, at, 1);
        int status = tu_wait(tu_fork(trim_then_exit, NULL));
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
            killed++;
        } else {
            CHECK(tu_exited_ok(status));
            completed = 1;
        }
        /* The log opens; it starts at one of its segment boundaries, at or
         * before where the trim was to stop; every record from there on is
         * there, intact, with no gap; `durlog check` finds it clean. */
        uint64_t now[256];
        size_t m = list_segments(work, now, 256);
        REQUIRE(m >= 2 && m <= n);
        CHECK_EQ_U64(now[0], segs[n - m]);
        for (size_t i = 0; i < m; i++)
            CHECK_EQ_U64(now[i], segs[n - m + i]);
        durlog_options o = small_segments();
        durlog *log = fx_writer(work, &o);
        REQUIRE(log);
        durlog_info info;
        CHECK_OK(durlog_get_info(log, &info));
        CHECK_EQ_U64(info.first_seq, now[0]);
        CHECK_EQ_U64(info.next_seq, RECORDS);
        CHECK_OK(fx_close(log));
        CHECK_EQ_U64(read_all(work, RECORDS), now[0]);
        check_clean(work);
        if (completed)
            CHECK_EQ_U64(now[0], kill_before);
    }
    CHECK(completed);
    CHECK(killed > (int)n);
    fprintf(stderr, "  (killed at %d system calls)\n", killed);
}

/* ---- Retention settings (durlog.retention) ---- */

static void retention_settings_round_trip_and_survive_reopening(void)
{
    struct scratch s;
    durlog_options o = small_segments();
    durlog *log = fx_open(&s, &o);
    REQUIRE(log);
    durlog_retention r, got;
    memset(&got, 0xff, sizeof got);
    CHECK_OK(durlog_get_retention(log, &got));
    CHECK_EQ_U64(got.max_bytes, 0); /* no file: no limits */
    CHECK_EQ_U64(got.max_age_ns, 0);
    memset(&r, 0, sizeof r);
    r.max_bytes = 123456789012ull;
    r.max_age_ns = 7ull * 86400 * 1000000000ull;
    CHECK_OK(durlog_set_retention(log, &r));
    CHECK_OK(durlog_get_retention(log, &got));
    CHECK_EQ_U64(got.max_bytes, r.max_bytes);
    CHECK_EQ_U64(got.max_age_ns, r.max_age_ns);
    CHECK_EQ_U64(got.cursor_cap_bytes, 0);
    char file[400];
    struct stat st;
    snprintf(file, sizeof file, "%s/durlog.retention", s.log);
    CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode));
    CHECK_OK(fx_close(log));
    durlog_reader *rd = fx_reader(s.log, NULL);
    REQUIRE(rd);
    memset(&got, 0, sizeof got);
    CHECK_OK(durlog_reader_get_retention(rd, &got));
    CHECK_EQ_U64(got.max_bytes, r.max_bytes);
    CHECK_EQ_U64(got.max_age_ns, r.max_age_ns);
    fx_reader_close(rd);
    log = fx_writer(s.log, &o);
    REQUIRE(log);
    CHECK_OK(durlog_get_retention(log, &got));
    CHECK_EQ_U64(got.max_bytes, r.max_bytes);
    /* All zero: no limits (the file says so). */
    memset(&r, 0, sizeof r);
    CHECK_OK(durlog_set_retention(log, &r));
    CHECK_OK(durlog_get_retention(log, &got));
    CHECK_EQ_U64(got.max_bytes, 0);
    CHECK_EQ_U64(got.max_age_ns, 0);
    /* Bad arguments. */
    CHECK_RC(durlog_set_retention(NULL, &r), -EINVAL);
    CHECK_RC(durlog_get_retention(NULL, &got), -EINVAL);
    CHECK_RC(durlog_set_retention(log, NULL), -EINVAL);
    CHECK_RC(durlog_get_retention(log, NULL), -EINVAL);
    r.reserved[0] = 1;
    CHECK_RC(durlog_set_retention(log, &r), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "reserved") != NULL);
    CHECK_RC(durlog_reader_get_retention(NULL, &got), -EINVAL);
    CHECK_OK(fx_close(log));
}

/* Every way the file can be damaged is DURLOG_ECORRUPT naming it, never
 * "no retention". */
static void a_damaged_retention_file_is_an_error_not_no_retention(void)
{
    struct scratch s;
    durlog_options o = small_segments();
    durlog *log = fx_open(&s, &o);
    REQUIRE(log);
    durlog_retention r;
    memset(&r, 0, sizeof r);
    r.max_bytes = 1000000;
    CHECK_OK(durlog_set_retention(log, &r));
    char file[400];
    snprintf(file, sizeof file, "%s/durlog.retention", s.log);
    size_t len;
    unsigned char *good = file_read(file, &len);
    REQUIRE(good && len > 20);
    /* A digit changed (the checksum catches it), the checksum changed, the
     * last byte cut, garbage, an empty file, a file far too big. */
    char *changed = malloc(len);
    REQUIRE(changed);
    memcpy(changed, good, len);
    char *digit = strstr(changed, "1000000");
    REQUIRE(digit);
    digit[0] = '2';
    char *crc_changed = malloc(len);
    REQUIRE(crc_changed);
    memcpy(crc_changed, good, len);
    crc_changed[len - 2] = crc_changed[len - 2] == '0' ? '1' : '0';
    static char big[4096];
    memset(big, 'x', sizeof big);
    struct {
        const void *bytes;
        size_t len;
    } bad[] = {
        { changed, len }, { crc_changed, len }, { good, len - 1 },
        { "max_bytes 5\n", 12 }, { "", 0 }, { big, sizeof big },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(file_write(file, bad[i].bytes, bad[i].len) == 0);
        durlog_retention got;
        CHECK_RC(durlog_get_retention(log, &got), DURLOG_ECORRUPT);
        CHECK(strstr(durlog_errmsg(log), "durlog.retention is damaged") != NULL);
        durlog_reader *rd = fx_reader(s.log, NULL);
        REQUIRE(rd);
        CHECK_RC(durlog_reader_get_retention(rd, &got), DURLOG_ECORRUPT);
        fx_reader_close(rd);
    }
    /* Setting them again repairs it. */
    CHECK_OK(durlog_set_retention(log, &r));
    durlog_retention got;
    CHECK_OK(durlog_get_retention(log, &got));
    CHECK_EQ_U64(got.max_bytes, 1000000);
    free(changed);
    free(crc_changed);
    free(good);
    CHECK_OK(fx_close(log));
}

/* The sum of the sizes of the log's segment files, and their count. */
static uint64_t segment_bytes(const char *log, size_t *count)
{
    uint64_t segs[1024], total = 0;
    size_t n = list_segments(log, segs, 1024);
    for (size_t i = 0; i < n; i++) {
        char file[400];
        struct stat st;
        if (stat(seg_file(file, sizeof file, log, segs[i]), &st) == 0)
            total += (uint64_t)st.st_size;
    }
    *count = n;
    return total;
}

/* Waits (up to 20 s) until the log's segment files total at most limit. */
static int wait_for_size(const char *log, uint64_t limit)
{
    uint64_t deadline = tu_now_ms() + 20000;
    for (;;) {
        size_t n;
        if (segment_bytes(log, &n) <= limit)
            return 1;
        if (tu_now_ms() > deadline)
            return 0;
        usleep(5000);
    }
}

static void a_writer_applies_the_retention_in_the_background(void)
{
    struct scratch s;
    durlog_options o = small_segments();
    durlog *log = fx_open(&s, &o);
    REQUIRE(log);
    durlog_retention r;
    memset(&r, 0, sizeof r);
    r.max_bytes = 6 * SEG_SIZE;
    CHECK_OK(durlog_set_retention(log, &r));
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t seq;
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq));
    }
    size_t n;
    CHECK(wait_for_size(s.log, r.max_bytes));
    uint64_t total = segment_bytes(s.log, &n);
    CHECK(total <= r.max_bytes);
    CHECK(n >= 2);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.first_seq > 0);
    CHECK_EQ_U64(info.next_seq, 2000);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(read_all(s.log, 2000), info.first_seq);
    check_clean(s.log);
}

/* A settings file damaged while a writer has the log open leaves the
 * settings it read before in force (never "no limits"). */
static void a_writer_keeps_its_settings_when_the_file_is_damaged(void)
{
    struct scratch s;
    durlog_options o = small_segments();
    durlog *log = fx_open(&s, &o);
    REQUIRE(log);
    durlog_retention r;
    memset(&r, 0, sizeof r);
    r.max_bytes = 6 * SEG_SIZE;
    CHECK_OK(durlog_set_retention(log, &r));
    uint64_t i = 0;
    for (; i < 1000; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    CHECK(wait_for_size(s.log, r.max_bytes));
    char file[400];
    snprintf(file, sizeof file, "%s/durlog.retention", s.log);
    REQUIRE(file_write(file, "garbage\n", 8) == 0);
    durlog_retention got;
    CHECK_RC(durlog_get_retention(log, &got), DURLOG_ECORRUPT);
    for (; i < 3000; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    CHECK(wait_for_size(s.log, r.max_bytes));
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.first_seq > 1000);
    CHECK_OK(fx_close(log));
}

/* Settings another process puts in place reach a writer that is open: here
 * the file is replaced by rename, as a put from elsewhere does. */
static void a_writer_picks_up_settings_changed_by_another_process(void)
{
    struct scratch s, other;
    durlog_options o = small_segments();
    durlog *log = fx_open(&s, &o);
    REQUIRE(log);
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t seq;
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq));
    }
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    size_t before_n, after_n;
    segment_bytes(s.log, &before_n);
    REQUIRE(before_n > 10);
    /* Made on another log, then renamed into this one. */
    durlog *other_log = fx_open(&other, &o);
    REQUIRE(other_log);
    durlog_retention r;
    memset(&r, 0, sizeof r);
    r.max_bytes = 4 * SEG_SIZE;
    CHECK_OK(durlog_set_retention(other_log, &r));
    CHECK_OK(fx_close(other_log));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s/durlog.retention' '%s/r.tmp' && mv '%s/r.tmp' "
             "'%s/durlog.retention'", other.log, s.log, s.log, s.log);
    REQUIRE(tu_sh(cmd) == 0);
    CHECK(wait_for_size(s.log, r.max_bytes));
    segment_bytes(s.log, &after_n);
    CHECK(after_n < before_n);
    CHECK_OK(fx_close(log));
    check_clean(s.log);
}

/* durlog.retention planted as a symbolic link (by anyone who may write the
 * log directory) to a file elsewhere: setting the retention must not write
 * through it. Through the put path it did: the link's target was replaced
 * by the settings, with the log's mode and, for root, the log's owner (a
 * link to /etc/shadow made by the log's owner would have handed it that
 * file). Reading already refused the link (O_NOFOLLOW). */
static void retention_is_never_written_through_a_planted_link(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    char victim[400], file[400];
    snprintf(victim, sizeof victim, "%s/victim", s.dir);
    snprintf(file, sizeof file, "%s/durlog.retention", s.log);
    REQUIRE(file_write(victim, "precious\n", 9) == 0);
    /* Relative: the scratch directory may be a relative path. */
    REQUIRE(symlink("../victim", file) == 0);
    durlog_retention r;
    memset(&r, 0, sizeof r);
    r.max_bytes = 1 << 20;
    CHECK_RC(durlog_set_retention(log, &r), -ELOOP);
    CHECK(strstr(durlog_errmsg(log), "symbolic link") != NULL);
    size_t len;
    unsigned char *got = file_read(victim, &len);
    CHECK(got && len == 9 && memcmp(got, "precious\n", 9) == 0);
    free(got);
    struct stat st;
    CHECK(lstat(file, &st) == 0 && S_ISLNK(st.st_mode));
    /* Once the link is gone, the settings are set as usual. */
    REQUIRE(unlink(file) == 0);
    CHECK_OK(durlog_set_retention(log, &r));
    durlog_retention back;
    CHECK_OK(durlog_get_retention(log, &back));
    CHECK_EQ_U64(back.max_bytes, r.max_bytes);
    CHECK_OK(fx_close(log));
}

/* Makes the settings file `name` in the scratch directory dir (a copy of
 * what durlog_set_retention wrote on the log `other`). 0 or -1. */
static int make_settings(const char *dir, const char *name, durlog *other,
                         const char *other_log, uint64_t max_bytes, uint64_t cursor_cap_bytes)
{
    durlog_retention r;
    memset(&r, 0, sizeof r);
    r.max_bytes = max_bytes;
    r.cursor_cap_bytes = cursor_cap_bytes;
    if (durlog_set_retention(other, &r) != 0)
        return -1;
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s/durlog.retention' '%s/%s'", other_log, dir, name);
    return tu_sh(cmd) == 0 ? 0 : -1;
}

/* Puts the settings file `name` of dir in place in the log, as cp then mv
 * do: a new file, so a new inode, but one the file system may have freed
 * just before (the settings it replaced the time before last). Returns
 * its inode number (0 on failure). */
static uint64_t put_settings(const char *dir, const char *name, const char *log)
{
    char cmd[1400], file[400];
    snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/r.tmp' && mv '%s/r.tmp' '%s/durlog.retention'",
             dir, name, log, log, log);
    if (tu_sh(cmd) != 0)
        return 0;
    snprintf(file, sizeof file, "%s/durlog.retention", log);
    struct stat st;
    return stat(file, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Settings changed twice between two looks of a writer, the second file
 * of the same size as the one the writer last read and (as ext4 does)
 * with that file's inode number, freed by the first change: the writer
 * took the file's inode, size and device for "unchanged" and kept the old
 * settings for good (here: keeping 9 MB where the new ones say 16 KiB;
 * the other way round, removing what the new settings keep). */
static void a_writer_sees_settings_changed_twice_into_a_reused_inode(void)
{
    /* Whether C gets A's inode number is the file system's choice (other
     * processes take inodes too): tried on a fresh log until it does. */
    for (int attempt = 0; attempt < 8; attempt++) {
        struct scratch s, other;
        durlog_options o = small_segments();
        durlog *log = fx_open(&s, &o);
        REQUIRE(log);
        for (uint64_t i = 0; i < 2000; i++)
            CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
        CHECK_OK(durlog_flush(log, DURLOG_SYNC));
        size_t n;
        uint64_t before = segment_bytes(s.log, &n);
        REQUIRE(n > 10 && before > 4 * SEG_SIZE);
        /* A: 9000000 and 1 keep everything; B: another; C: 16384 and 100,
         * as many digits as A's. Made first, so that nothing of ours
         * takes the inode B's move frees before C is copied. */
        durlog *other_log = fx_open(&other, &o);
        REQUIRE(other_log);
        REQUIRE(make_settings(s.dir, "a", other_log, other.log, 9000000, 1) == 0);
        REQUIRE(make_settings(s.dir, "b", other_log, other.log, 8000000, 1) == 0);
        REQUIRE(make_settings(s.dir, "c", other_log, other.log, 4 * SEG_SIZE, 100) == 0);
        CHECK_OK(fx_close(other_log));
        uint64_t ino_a = put_settings(s.dir, "a", s.log);
        REQUIRE(ino_a);
        /* The writer reads A (it looks about once a second). */
        usleep(1500 * 1000);
        REQUIRE(put_settings(s.dir, "b", s.log));
        uint64_t ino_c = put_settings(s.dir, "c", s.log);
        REQUIRE(ino_c);
        if (ino_c == ino_a)
            CHECK(wait_for_size(s.log, 4 * SEG_SIZE));
        CHECK_OK(fx_close(log));
        check_clean(s.log);
        if (ino_c == ino_a)
            return;
    }
    fprintf(stderr, "  note: this file system never gave the settings a freed inode "
            "number back: the case is not shown here\n");
}

TEST_MAIN({
    RUN(trim_removes_whole_sealed_segments_oldest_first);
    RUN(trim_never_removes_the_tail);
    RUN(trim_stops_at_a_segment_not_sealed);
    RUN(reader_finishes_a_removed_segment_then_reports_etrimmed);
    RUN(reader_reads_on_when_only_its_own_segment_went);
    RUN(trim_by_size_keeps_the_newest_segments_that_fit);
    RUN(trim_by_age_removes_segments_older_than_the_limit);
    RUN(trim_refuses_bad_arguments);
    RUN(a_failed_directory_fsync_stops_the_trim);
    RUN(trims_under_concurrent_writer_processes_and_a_reader);
    RUN(kill_9_at_every_system_call_of_a_trim_leaves_a_whole_log);
    RUN(retention_settings_round_trip_and_survive_reopening);
    RUN(a_damaged_retention_file_is_an_error_not_no_retention);
    RUN(a_writer_applies_the_retention_in_the_background);
    RUN(a_writer_picks_up_settings_changed_by_another_process);
    RUN(a_writer_keeps_its_settings_when_the_file_is_damaged);
    RUN(cursors_hold_what_they_have_not_consumed);
    RUN(retention_is_never_written_through_a_planted_link);
    RUN(a_writer_sees_settings_changed_twice_into_a_reused_inode);
})
