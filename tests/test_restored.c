/* Records that keep their own sequence numbers and times
 * (durlog_append_restored: what `durlog restore` rebuilds a log with):
 *
 *  - a log built from a list of records - runs sharing one time, gaps of
 *    days (past the 48-bit time offset, ~78 h, of one segment), runs larger
 *    than a segment - reads back with the same seqs, times and data, at
 *    kernel and sync level, through mmap and pwrite, checks clean, and
 *    seeking by time finds the first record of each time;
 *  - a log that never held a record starts at the first record's seq (0,
 *    as every log does, or 1000), and keeps starting there after a reopen;
 *  - calls that do not follow on (a gap, a seq not the log's next, a time
 *    going back, in the call or against the log) or are malformed are
 *    refused, and append nothing; -EBUSY with buffered records pending;
 *  - a run of records sharing one time goes into one segment, made bigger
 *    than segment_size if need be; one continued from the previous call
 *    in a full segment is -ERANGE, appending nothing;
 *  - ordinary appends after restored records get later (or equal) times;
 *  - a writer killed (SIGKILL) in the middle of a big batch leaves, after
 *    recovery, a prefix of whole records with their times; restoring goes
 *    on from there.
 */
#include <signal.h>
#include <sys/wait.h>

#include "format.h"
#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "os.h"

#define DAY_NS (86400ULL * 1000000000ULL)

/* A list of records as a copy elsewhere would hold them: recs[i] is
 * record first + i. */
struct rlist {
    size_t n;
    uint64_t first;
    durlog_record *recs;
    unsigned char *pool;
};

static void free_after_case(void *p)
{
    free(p);
}

static void *case_alloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    th_after_case(free_after_case, p);
    return p;
}

enum times_kind {
    VARIED,     /* runs sharing one time, gaps of ns, seconds and days */
    INCREASING, /* every record later than the one before; some day gaps */
};

/* n records from seq first on, the first at time t0; lengths 0 to 600
 * bytes with now and then a big one; deterministic in seed. */
static void rlist_make(struct rlist *l, uint64_t first, size_t n, uint64_t t0,
                       enum times_kind kind, uint64_t seed)
{
    uint64_t rng = seed * 2654435761u + 7, total = 0, t = t0, run = 0;
    size_t *lens = case_alloc(n * sizeof *lens);
    l->n = n;
    l->first = first;
    l->recs = case_alloc(n * sizeof *l->recs);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&rng);
        lens[i] = r % 29 == 0 ? 1500 + r % 2500 : r % 601;
        total += lens[i];
    }
    l->pool = case_alloc(total);
    total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand(&rng) >> 8;
        if (i > 0) {
            if (kind == VARIED && run > 0) {
                run--; /* the same time as the one before */
            } else if (r % 97 == 0) {
                t += 3 * DAY_NS + r % 1000; /* past one segment's time range */
            } else if (r % 13 == 0) {
                t += 1000000000ULL;
            } else {
                t += 1 + r % 1000;
            }
            if (kind == VARIED && run == 0 && r % 7 == 0)
                run = 1 + (r >> 10) % 40;
        }
        test_fill(l->pool + total, lens[i], seed + first + i);
        l->recs[i] = (durlog_record){ .data = l->pool + total, .len = lens[i],
                                      .seq = first + i, .time_ns = t };
        total += lens[i];
    }
}

static int same_record(const durlog_record *got, const durlog_record *want)
{
    return got->seq == want->seq && got->time_ns == want->time_ns && got->len == want->len &&
           (got->len == 0 || memcmp(got->data, want->data, got->len) == 0);
}

/* Appends records [from, to) of l in calls of 1 to 200 records, each call
 * ending where a run of one time ends (runs are passed whole). */
static int append_in_calls(durlog *log, const struct rlist *l, size_t from, size_t to,
                           durlog_level level, uint64_t seed)
{
    uint64_t rng = seed + 99;
    size_t i = from;
    while (i < to) {
        size_t k = 1 + test_rand(&rng) % 200, end = i + k < to ? i + k : to;
        while (end < to && l->recs[end].time_ns == l->recs[end - 1].time_ns)
            end++;
        int rc = durlog_append_restored(log, l->recs + i, end - i, level);
        if (rc) {
            fprintf(stderr, "  durlog_append_restored of records %" PRIu64 "..%" PRIu64
                    ": %s (%s)\n", l->recs[i].seq, l->recs[end - 1].seq, durlog_strerror(rc),
                    durlog_errmsg(log));
            th_failed_current = 1;
            return rc;
        }
        i = end;
    }
    return 0;
}

/* Reads the log at path: it must hold records [0, n) of l, byte for byte,
 * with their seqs and times, then `more` records of other kinds (not
 * read). */
static void check_log_holds_more(const char *path, const struct rlist *l, size_t n, size_t more)
{
    durlog_reader *r = fx_reader(path, NULL);
    if (!r)
        return;
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.first_seq, l->first);
    CHECK_EQ_U64(info.next_seq, l->first + n + more);
    durlog_record rec;
    size_t got = 0;
    int rc;
    while ((more == 0 || got < n) && (rc = durlog_reader_next(r, &rec)) == 0) {
        if (got >= n || !same_record(&rec, &l->recs[got])) {
            fprintf(stderr, "  read seq %" PRIu64 " time %" PRIu64 " (%zu bytes) where record "
                    "%" PRIu64 " time %" PRIu64 " (%zu bytes) was expected\n", rec.seq,
                    rec.time_ns, rec.len, got < n ? l->recs[got].seq : 0,
                    got < n ? l->recs[got].time_ns : 0, got < n ? l->recs[got].len : 0);
            th_failed_current = 1;
            break;
        }
        got++;
    }
    if (more == 0)
        CHECK_RC(rc, DURLOG_EEND);
    CHECK_EQ_U64(got, n);
    fx_reader_close(r);
}

/* The log at path holds exactly records [0, n) of l. */
static void check_log_holds(const char *path, const struct rlist *l, size_t n)
{
    check_log_holds_more(path, l, n, 0);
}

static void check_clean(const char *path)
{
    durlog_check_report rep;
    CHECK_OK(durlog_check(path, 0, &rep));
    if (rep.damaged)
        fprintf(stderr, "  durlog_check: %s\n", rep.problem);
    CHECK(!rep.damaged);
}

/* Seeking by time to each record's time finds the first record of that
 * time; just after a time, the first record after it; past the last, the
 * end. */
static void check_seek_time(const char *path, const struct rlist *l)
{
    durlog_reader *r = fx_reader(path, NULL);
    if (!r)
        return;
    durlog_record rec;
    size_t bad = 0;
    for (size_t i = 0; i < l->n && bad < 5; i++) {
        if (i > 0 && l->recs[i].time_ns == l->recs[i - 1].time_ns)
            continue;
        int rc = durlog_reader_seek_time(r, l->recs[i].time_ns);
        if (!rc)
            rc = durlog_reader_next(r, &rec);
        if (rc || rec.seq != l->recs[i].seq) {
            fprintf(stderr, "  seek_time(%" PRIu64 ") then next: %s, seq %" PRIu64
                    ", expected %" PRIu64 "\n", l->recs[i].time_ns, durlog_strerror(rc),
                    rc ? 0 : rec.seq, l->recs[i].seq);
            th_failed_current = 1;
            bad++;
        }
        /* Between this time and the one before (a day's gap, say). */
        if (i > 0 && l->recs[i].time_ns - 1 > l->recs[i - 1].time_ns) {
            rc = durlog_reader_seek_time(r, l->recs[i].time_ns - 1);
            if (!rc)
                rc = durlog_reader_next(r, &rec);
            if (rc || rec.seq != l->recs[i].seq) {
                fprintf(stderr, "  seek_time(%" PRIu64 " - 1): %s, seq %" PRIu64 "\n",
                        l->recs[i].time_ns, durlog_strerror(rc), rc ? 0 : rec.seq);
                th_failed_current = 1;
                bad++;
            }
        }
    }
    CHECK_OK(durlog_reader_seek_time(r, 0));
    CHECK(durlog_reader_next(r, &rec) == 0 && rec.seq == l->first);
    /* Past the last: the end, or a record appended after the list. */
    CHECK_OK(durlog_reader_seek_time(r, l->recs[l->n - 1].time_ns + 1));
    int rc = durlog_reader_next(r, &rec);
    CHECK(rc == DURLOG_EEND || (rc == 0 && rec.seq >= l->first + l->n));
    fx_reader_close(r);
}

/* Days with no record between two records: each needs a new segment. */
static size_t day_gaps(const struct rlist *l)
{
    size_t gaps = 0;
    for (size_t i = 1; i < l->n; i++)
        gaps += l->recs[i].time_ns - l->recs[i - 1].time_ns > DAY_NS;
    return gaps;
}

/* ---- the round trip ---- */

static void round_trip(durlog_level level, durlog_io_mode io, uint64_t seed)
{
    struct scratch s;
    struct rlist l;
    /* A month ago: times far behind the clock, as a restore's are. */
    uint64_t t0 = (uint64_t)time(NULL) * 1000000000ULL - 30 * DAY_NS;
    rlist_make(&l, 0, 3000, t0, VARIED, seed);
    REQUIRE(day_gaps(&l) >= 5);
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 4096, .io_mode = io });
    REQUIRE(log);
    /* Halfway, where a run of one time ends (runs are passed whole). */
    size_t half = l.n / 2;
    while (l.recs[half].time_ns == l.recs[half - 1].time_ns)
        half++;
    REQUIRE(append_in_calls(log, &l, 0, half, level, seed) == 0);
    CHECK_EQ_U64(log_next_seq(log), half);
    CHECK_OK(fx_close(log));
    /* The rest by another handle, as a restore resumed would. */
    log = fx_writer(s.log, &(durlog_options){ .segment_size = 4096, .io_mode = io });
    REQUIRE(log);
    REQUIRE(append_in_calls(log, &l, half, l.n, level, seed + 1) == 0);
    /* Readable while the writer holds the log, and after. */
    check_log_holds(s.log, &l, l.n);
    CHECK_OK(fx_close(log));
    check_log_holds(s.log, &l, l.n);
    check_clean(s.log);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK(info.segments > day_gaps(&l));
    fx_reader_close(r);
    check_seek_time(s.log, &l);
}

static void records_read_back_with_their_seqs_times_and_data_kernel(void)
{
    round_trip(DURLOG_KERNEL, DURLOG_IO_AUTO, 11);
}

static void records_read_back_with_their_seqs_times_and_data_sync(void)
{
    round_trip(DURLOG_SYNC, DURLOG_IO_AUTO, 12);
}

static void records_read_back_with_their_seqs_times_and_data_pwrite(void)
{
    round_trip(DURLOG_KERNEL, DURLOG_IO_PWRITE, 13);
    round_trip(DURLOG_SYNC, DURLOG_IO_PWRITE, 14);
}

/* ---- where a log starts ---- */

static void starts_at(uint64_t first)
{
    struct scratch s;
    struct rlist l;
    rlist_make(&l, first, 50, 1700000000ULL * 1000000000ULL, VARIED, first);
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 4096 });
    REQUIRE(log);
    CHECK_OK(durlog_append_restored(log, l.recs, l.n, DURLOG_KERNEL));
    CHECK_EQ_U64(log_next_seq(log), first + l.n);
    check_log_holds(s.log, &l, l.n);
    /* An ordinary append follows on. */
    uint64_t seq = 0;
    CHECK_OK(durlog_append(log, "after", 5, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, first + l.n);
    CHECK_OK(fx_close(log));
    check_log_holds_more(s.log, &l, l.n, 1);
    check_clean(s.log);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK_EQ_U64(rep.first_seq, first);
    CHECK_EQ_U64(rep.next_seq, first + l.n + 1);
    /* A reopen (recovery from the segments) keeps the start. */
    log = fx_writer(s.log, NULL);
    REQUIRE(log);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.first_seq, first);
    CHECK_EQ_U64(info.next_seq, first + l.n + 1);
    CHECK_OK(fx_close(log));
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    CHECK(durlog_reader_next(r, &rec) == 0 && same_record(&rec, &l.recs[0]));
    CHECK_RC(durlog_reader_seek(r, first + l.n), 0);
    CHECK(durlog_reader_next(r, &rec) == 0 && rec.len == 5 &&
          rec.time_ns >= l.recs[l.n - 1].time_ns);
    if (first > 0)
        CHECK_RC(durlog_reader_seek(r, first - 1), DURLOG_ETRIMMED);
    fx_reader_close(r);
}

static void a_new_log_starts_at_the_first_restored_seq(void)
{
    starts_at(1000);
    starts_at(0); /* where every log starts: a copy of a log never trimmed */
    starts_at(1);
}

/* ... but only a log that never held a record. */
static void a_log_that_held_records_does_not_move_its_start(void)
{
    struct scratch s;
    struct rlist l;
    rlist_make(&l, 1000, 5, 1700000000ULL * 1000000000ULL, INCREASING, 3);
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "x", 1, DURLOG_KERNEL, NULL));
    CHECK_RC(durlog_append_restored(log, l.recs, l.n, DURLOG_KERNEL), -EINVAL);
    CHECK_EQ_U64(log_next_seq(log), 1);
    CHECK_OK(fx_close(log));
}

/* ---- refusals ---- */

static void refused_calls_append_nothing(void)
{
    struct scratch s;
    struct rlist l;
    rlist_make(&l, 0, 30, 1700000000ULL * 1000000000ULL, INCREASING, 5);
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 4096 });
    REQUIRE(log);
    REQUIRE(durlog_append_restored(log, l.recs, 10, DURLOG_KERNEL) == 0);
    durlog_record b[3];
    uint64_t last = l.recs[9].time_ns;

#define REFUSED(call, want)                                                  \
    do {                                                                     \
        CHECK_RC(call, want);                                                \
        CHECK_EQ_U64(log_next_seq(log), 10);                                 \
    } while (0)

    /* A gap inside the call. */
    memcpy(b, &l.recs[10], sizeof b);
    b[2].seq = 13;
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "does not follow") != NULL);
    /* A first seq that is not the log's next: past it, before it. */
    memcpy(b, &l.recs[11], sizeof b);
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "next record is 10") != NULL);
    memcpy(b, &l.recs[9], sizeof b);
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EINVAL);
    /* Time going back inside the call ... */
    memcpy(b, &l.recs[10], sizeof b);
    b[2].time_ns = b[1].time_ns - 1;
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EINVAL);
    /* ... and against the log's last record. */
    memcpy(b, &l.recs[10], sizeof b);
    b[0].time_ns = last - 1;
    b[1].time_ns = b[2].time_ns = last;
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "before the log's last") != NULL);
    /* Malformed calls. */
    memcpy(b, &l.recs[10], sizeof b);
    REFUSED(durlog_append_restored(NULL, b, 1, DURLOG_KERNEL), -EINVAL);
    REFUSED(durlog_append_restored(log, NULL, 1, DURLOG_KERNEL), -EINVAL);
    REFUSED(durlog_append_restored(log, b, 0, DURLOG_KERNEL), -EINVAL);
    b[1].data = NULL;
    b[1].len = 3;
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EINVAL);
    memcpy(b, &l.recs[10], sizeof b);
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_BUFFERED), -EINVAL);
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_INTERVAL), -EINVAL);
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_DEFAULT), -EINVAL);
    REFUSED(durlog_append_restored(log, b, 3, (durlog_level)99), -EINVAL);
    /* Too big: refused before a byte of it is read. */
    void *huge = malloc(DURLOG_MAX_RECORD + 1);
    REQUIRE(huge);
    b[2].data = huge;
    b[2].len = DURLOG_MAX_RECORD + 1;
    REFUSED(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EMSGSIZE);
    free(huge);
    /* Buffered records pending: flush first. */
    CHECK_OK(durlog_append(log, "buf", 3, DURLOG_BUFFERED, NULL));
    memcpy(b, &l.recs[11], sizeof b); /* what follows on once it is flushed */
    /* Later than the buffered record, which has the clock's time. */
    for (int i = 0; i < 3; i++)
        b[i].time_ns = (uint64_t)time(NULL) * 1000000000ULL + 3600000000000ULL + (uint64_t)i;
    CHECK_RC(durlog_append_restored(log, b, 3, DURLOG_KERNEL), -EBUSY);
    CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
    CHECK_EQ_U64(log_next_seq(log), 11);
    CHECK_OK(durlog_append_restored(log, b, 3, DURLOG_KERNEL));
    CHECK_EQ_U64(log_next_seq(log), 14);
#undef REFUSED
    CHECK_OK(fx_close(log));
    /* What was accepted reads back whole, and nothing else. */
    check_log_holds_more(s.log, &l, 10, 4);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    CHECK_OK(durlog_reader_seek(r, 10));
    CHECK(durlog_reader_next(r, &rec) == 0 && rec.len == 3 && memcmp(rec.data, "buf", 3) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(durlog_reader_next(r, &rec) == 0 && same_record(&rec, &b[i]));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    fx_reader_close(r);
    check_clean(s.log);
}

/* ---- runs of one time and segments ---- */

static void a_run_bigger_than_a_segment_goes_into_one_segment(void)
{
    struct scratch s;
    const uint64_t t = 1700000000ULL * 1000000000ULL;
    enum { BEFORE = 5, RUN = 100, AFTER = 5, N = BEFORE + RUN + AFTER };
    struct rlist l;
    rlist_make(&l, 0, N, t, INCREASING, 21);
    for (size_t i = BEFORE; i < BEFORE + RUN; i++)
        l.recs[i].time_ns = l.recs[BEFORE].time_ns;
    REQUIRE(l.recs[BEFORE].time_ns > l.recs[BEFORE - 1].time_ns);
    uint64_t run_bytes = 0;
    for (size_t i = BEFORE; i < BEFORE + RUN; i++)
        run_bytes += dl_rec_size(l.recs[i].len);
    REQUIRE(run_bytes > 4096);
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 4096 });
    REQUIRE(log);
    CHECK_OK(durlog_append_restored(log, l.recs, l.n, DURLOG_KERNEL));
    CHECK_OK(fx_close(log));
    check_log_holds(s.log, &l, l.n);
    check_clean(s.log);
    /* No segment begins inside the run; the one holding it is bigger than
     * segment_size. */
    size_t n = 0;
    uint64_t *segs = list_all_segments(s.log, &n);
    REQUIRE(segs);
    int holds_run = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(!(segs[i] > BEFORE && segs[i] < BEFORE + RUN));
        if (segs[i] <= BEFORE && (i + 1 == n || segs[i + 1] >= BEFORE + RUN)) {
            char p[512];
            struct stat st;
            holds_run = 1;
            CHECK(stat(seg_file(p, sizeof p, s.log, segs[i]), &st) == 0 &&
                  (uint64_t)st.st_size >= DL_SEG_HEADER_SIZE + run_bytes);
        }
    }
    CHECK(holds_run);
    free(segs);
    check_seek_time(s.log, &l);
}

/* A run continued in a later call: in the same segment while it fits; where
 * the segment is full, no new segment can be based between the two halves
 * of the run (its base must be below its records and not below the
 * records before it): -ERANGE, nothing appended, the log usable. */
static void a_run_continued_into_a_full_segment_is_erange(void)
{
    struct scratch s;
    const uint64_t t = 1700000000ULL * 1000000000ULL;
    enum { FILL = (4096 - DL_SEG_HEADER_SIZE) / 64 }; /* records of 64 bytes */
    static unsigned char data[48];
    durlog_record recs[FILL + 2];
    for (size_t i = 0; i < FILL + 2; i++)
        recs[i] = (durlog_record){ .data = data, .len = sizeof data, .seq = i, .time_ns = t };
    REQUIRE(dl_rec_size(sizeof data) == 64);
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 4096 });
    REQUIRE(log);
    /* Half the run, then the rest of what fits: the same segment. */
    CHECK_OK(durlog_append_restored(log, recs, FILL / 2, DURLOG_KERNEL));
    CHECK_OK(durlog_append_restored(log, recs + FILL / 2, FILL - FILL / 2, DURLOG_KERNEL));
    CHECK_EQ_U64(log_next_seq(log), FILL);
    /* The segment is full: one more of the run has nowhere to go. */
    CHECK_RC(durlog_append_restored(log, recs + FILL, 2, DURLOG_KERNEL), -ERANGE);
    CHECK(strstr(durlog_errmsg(log), "pass runs") != NULL);
    CHECK_EQ_U64(log_next_seq(log), FILL);
    /* A later time goes on, in a new segment. */
    recs[FILL].time_ns = recs[FILL + 1].time_ns = t + 1;
    CHECK_OK(durlog_append_restored(log, recs + FILL, 2, DURLOG_SYNC));
    CHECK_EQ_U64(log_next_seq(log), FILL + 2);
    CHECK_OK(durlog_append(log, "n", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(fx_close(log));
    struct rlist l = { .n = FILL + 2, .first = 0, .recs = recs };
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    for (size_t i = 0; i < l.n; i++)
        CHECK(durlog_reader_next(r, &rec) == 0 && same_record(&rec, &recs[i]));
    CHECK(durlog_reader_next(r, &rec) == 0 && rec.seq == FILL + 2);
    fx_reader_close(r);
    size_t n = 0;
    uint64_t *segs = list_all_segments(s.log, &n);
    /* The ordinary record, years later by the clock, begins a third. */
    CHECK(segs && n == 3 && segs[0] == 0 && segs[1] == FILL && segs[2] == FILL + 2);
    free(segs);
    check_clean(s.log);
}

/* ---- with ordinary appends ---- */

static void ordinary_appends_after_restored_ones_are_not_earlier(void)
{
    const uint64_t now = (uint64_t)time(NULL) * 1000000000ULL;
    /* Restored records from the past, then from the future (a clock behind
     * the copy's): either way the ordinary records come no earlier. */
    for (int future = 0; future <= 1; future++) {
        struct scratch s;
        struct rlist l;
        rlist_make(&l, 0, 300, future ? now + DAY_NS : now - 10 * DAY_NS, VARIED, 31 + future);
        durlog *log = fx_open(&s, &(durlog_options){ .segment_size = 4096 });
        REQUIRE(log);
        REQUIRE(append_in_calls(log, &l, 0, l.n, DURLOG_KERNEL, 8) == 0);
        uint64_t last = l.recs[l.n - 1].time_ns;
        for (int i = 0; i < 3; i++)
            CHECK_OK(durlog_append(log, "ordinary", 8, DURLOG_KERNEL, NULL));
        CHECK_OK(fx_close(log));
        durlog_reader *r = fx_reader(s.log, NULL);
        REQUIRE(r);
        durlog_record rec;
        CHECK_OK(durlog_reader_seek(r, l.n));
        uint64_t prev = last;
        for (int i = 0; i < 3; i++) {
            CHECK(durlog_reader_next(r, &rec) == 0 && rec.len == 8);
            CHECK(rec.time_ns >= prev);
            if (!future)
                CHECK(rec.time_ns >= now); /* the clock's, not the copy's */
            prev = rec.time_ns;
        }
        fx_reader_close(r);
        check_clean(s.log);
        check_seek_time(s.log, &l);
        /* Restoring cannot go on behind the ordinary records' times. */
        log = fx_writer(s.log, NULL);
        REQUIRE(log);
        durlog_record late = { .data = "x", .len = 1, .seq = l.n + 3, .time_ns = last };
        CHECK_RC(durlog_append_restored(log, &late, 1, DURLOG_KERNEL),
                 prev > last ? -EINVAL : 0);
        CHECK_OK(fx_close(log));
    }
}

/* ---- a writer killed in the middle of a batch ---- */

static int kill_pipe = -1;
static int seg_creates;

/* In the child: the 4th segment the batch creates stops it, says so, and
 * waits for the SIGKILL. */
static int stopping_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    size_t len = strlen(name);
    if ((flags & O_CREAT) && len > 8 && strcmp(name + len - 8, ".seg.tmp") == 0 &&
        ++seg_creates == 4) {
        tu_send(kill_pipe, 1);
        for (;;)
            pause();
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

struct batch {
    const char *path;
    const struct rlist *l;
    int pipe_w;
};

static int restore_child(void *arg)
{
    struct batch *b = arg;
    durlog *log;
    if (durlog_open(b->path, &(durlog_options){ .segment_size = 65536 }, &log) != 0)
        return 1;
    kill_pipe = b->pipe_w;
    dl_os.openat = stopping_openat;
    durlog_append_restored(log, b->l->recs, b->l->n, DURLOG_KERNEL);
    tu_send(kill_pipe, 2); /* not stopped: the test cannot hold */
    return 1;
}

static void a_writer_killed_mid_batch_leaves_a_prefix_of_whole_records(void)
{
    struct scratch s;
    struct rlist l;
    rlist_make(&l, 0, 20000, 1700000000ULL * 1000000000ULL, INCREASING, 41);
    scratch_make(&s);
    int p[2];
    REQUIRE(pipe(p) == 0);
    struct batch b = { s.log, &l, p[1] };
    pid_t pid = tu_fork(restore_child, &b);
    REQUIRE(pid > 0);
    uint64_t v = 0;
    CHECK(tu_recv(p[0], &v) == 0 && v == 1);
    kill(pid, SIGKILL);
    int status = tu_wait(pid);
    close(p[0]);
    close(p[1]);
    REQUIRE(v == 1);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Three segments were full when it died, the fourth being made. */
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    size_t got = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0 && got < l.n && same_record(&rec, &l.recs[got]))
        got++;
    CHECK_RC(rc, DURLOG_EEND);
    CHECK(got > 3 * (65536 / 1000) && got < l.n);
    fx_reader_close(r);
    check_clean(s.log);
    /* A writer's recovery keeps them; restoring goes on from there. */
    durlog *log = fx_writer(s.log, &(durlog_options){ .segment_size = 65536 });
    REQUIRE(log);
    CHECK_EQ_U64(log_next_seq(log), got);
    REQUIRE(append_in_calls(log, &l, got, l.n, DURLOG_KERNEL, 4) == 0);
    CHECK_OK(fx_close(log));
    check_log_holds(s.log, &l, l.n);
    check_clean(s.log);
}

TEST_MAIN({
    RUN(records_read_back_with_their_seqs_times_and_data_kernel);
    RUN(records_read_back_with_their_seqs_times_and_data_sync);
    RUN(records_read_back_with_their_seqs_times_and_data_pwrite);
    RUN(a_new_log_starts_at_the_first_restored_seq);
    RUN(a_log_that_held_records_does_not_move_its_start);
    RUN(refused_calls_append_nothing);
    RUN(a_run_bigger_than_a_segment_goes_into_one_segment);
    RUN(a_run_continued_into_a_full_segment_is_erange);
    RUN(ordinary_appends_after_restored_ones_are_not_earlier);
    RUN(a_writer_killed_mid_batch_leaves_a_prefix_of_whole_records);
})
