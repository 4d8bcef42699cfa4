/* Record times across the whole log (FORMAT.md "Time"): they never decrease
 * in sequence-number order, across writer threads, processes and segment
 * rolls, and a clock set back is clamped, not rolled for; and
 * durlog_reader_seek_time against a linear scan of the same log. The clock
 * is moved through the dl_clock_shift_ns seam (os.h). */
#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"

#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "os.h"

#define MS_NS 1000000ll
#define HOUR_NS (3600ll * 1000 * MS_NS)

/* Every record of a log, in order: its number and time. */
struct times {
    uint64_t *seq, *time;
    size_t n, cap;
};

static void times_free(struct times *t)
{
    free(t->seq);
    free(t->time);
    memset(t, 0, sizeof *t);
}

/* Reads the whole log at path into *t (with skip_damaged as given); the
 * reader's last code (DURLOG_EEND when it read to the end). */
static int times_read(const char *path, int skip, struct times *t)
{
    memset(t, 0, sizeof *t);
    durlog_reader_options o;
    durlog_reader_options_init(&o);
    o.skip_damaged = skip;
    durlog_reader *r = NULL;
    int rc = durlog_reader_open(path, &o, &r);
    if (rc)
        return rc;
    durlog_record rec;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 1024;
            t->seq = realloc(t->seq, t->cap * sizeof *t->seq);
            t->time = realloc(t->time, t->cap * sizeof *t->time);
            if (!t->seq || !t->time)
                abort();
        }
        t->seq[t->n] = rec.seq;
        t->time[t->n] = rec.time_ns;
        t->n++;
    }
    durlog_reader_close(r);
    return rc;
}

/* Checks the rule on a whole log: times never decrease in sequence-number
 * order, and each segment's base (header created_ns) is at most its first
 * record's time and at least the previous segment's last record's. */
static void check_time_rule(const char *log, const struct times *t)
{
    size_t bad = 0;
    for (size_t i = 1; i < t->n; i++)
        if (t->time[i] < t->time[i - 1] && bad++ < 3)
            fprintf(stderr, "  record %" PRIu64 ": time %" PRIu64 " before %" PRIu64 "\n",
                    t->seq[i], t->time[i], t->time[i - 1]);
    CHECK(bad == 0);
    size_t nsegs;
    uint64_t *segs = list_all_segments(log, &nsegs);
    REQUIRE(segs);
    size_t i = 0, badseg = 0;
    for (size_t s = 0; s < nsegs; s++) {
        struct dl_seg_header h;
        REQUIRE(segment_header_read(log, segs[s], &h) == 0);
        while (i < t->n && t->seq[i] < segs[s])
            i++;
        int ok = (i == t->n || t->seq[i] != segs[s] || h.created_ns <= t->time[i]) &&
                 (i == 0 || h.created_ns >= t->time[i - 1]);
        if (!ok && badseg++ < 3)
            fprintf(stderr, "  segment %" PRIu64 ": base %" PRIu64 ", previous record's "
                    "time %" PRIu64 ", first record's %" PRIu64 "\n", segs[s], h.created_ns,
                    i ? t->time[i - 1] : 0, i < t->n ? t->time[i] : 0);
    }
    CHECK(badseg == 0);
    free(segs);
}

/* ---- 8 writer processes with clocks that disagree ---- */

#define PROCS 8
#define THREADS 2
#define PER_THREAD 300

struct child_arg {
    const char *log;
    int index;
};

static void *append_thread(void *p)
{
    durlog *w = p;
    char buf[120];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < PER_THREAD; i++) {
        int rc = durlog_append(w, buf, (uint32_t)(40 + i % 80),
                               i % 3 ? DURLOG_KERNEL : DURLOG_BUFFERED, NULL);
        if (rc) {
            fprintf(stderr, "  append: %s\n", durlog_strerror(rc));
            return (void *)1;
        }
        if (i % 50 == 0 && durlog_flush(w, DURLOG_KERNEL) != 0)
            return (void *)1;
    }
    return NULL;
}

static int writer_process(void *p)
{
    const struct child_arg *a = p;
    /* Each process's clock is 20 ms behind the one before: whichever
     * rolls, records before the roll may be later than its clock. */
    atomic_store(&dl_clock_shift_ns, -(int64_t)a->index * 20 * MS_NS);
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = 16 << 10;
    durlog *w;
    if (durlog_open(a->log, &o, &w) != 0)
        return 1;
    pthread_t th[THREADS];
    int failed = 0;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, append_thread, w);
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(th[i], &res);
        failed |= res != NULL;
    }
    return durlog_close(w) != 0 || failed;
}

/* 8 processes of 2 threads each append 4,800 records across some 40
 * segment rolls, each process's clock 20 ms behind the previous one's.
 * Fails without the clamp of a new segment's base: the process that
 * rolls takes its own clock's time, behind records already appended. */
static void eight_writer_processes_keep_times_in_order_across_rolls(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, 16 << 10, &w) == 0); /* creates the log */
    CHECK_OK(durlog_close(w));
    struct child_arg args[PROCS];
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        args[i] = (struct child_arg){ s.log, i };
        pids[i] = tu_fork(writer_process, &args[i]);
    }
    for (int i = 0; i < PROCS; i++)
        CHECK(tu_exited_ok(tu_wait(pids[i])));
    struct times t;
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    CHECK_EQ_U64(t.n, PROCS * THREADS * PER_THREAD);
    size_t nsegs;
    free(list_all_segments(s.log, &nsegs));
    CHECK(nsegs >= 20);
    check_time_rule(s.log, &t);
    times_free(&t);
}

/* ---- a clock set back ---- */

static size_t segment_count(const char *log)
{
    size_t n;
    free(list_all_segments(log, &n));
    return n;
}

/* The clock goes back two hours while the log is closed, then while a
 * writer has it open (a second handle opened after the change): records get
 * the last record's time (clamped), no segment is started for it, and the
 * segment a full tail rolls to has a base no earlier than that time.
 * Before: the first writer after the change rolled to a new segment based
 * on the clock, whose records were two hours before the previous ones. */
static void a_clock_set_back_is_clamped_and_never_rolled_for(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, 64 << 10, &w) == 0);
    for (int i = 0; i < 5; i++)
        CHECK_OK(durlog_append(w, "before", 6, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(w));
    struct times t;
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    REQUIRE(t.n == 5);
    uint64_t last = t.time[4];
    times_free(&t);

    atomic_store(&dl_clock_shift_ns, -2 * HOUR_NS);
    REQUIRE(open_log(s.log, 64 << 10, &w) == 0);
    for (int i = 0; i < 5; i++)
        CHECK_OK(durlog_append(w, "after", 5, i % 2 ? DURLOG_KERNEL : DURLOG_BUFFERED, NULL));
    CHECK_OK(durlog_flush(w, DURLOG_KERNEL));
    CHECK_EQ_U64(segment_count(s.log), 1);
    /* A second handle, opened with the clock behind: clamped too. */
    durlog *w2;
    REQUIRE(open_log(s.log, 64 << 10, &w2) == 0);
    CHECK_OK(durlog_append(w2, "second", 6, DURLOG_KERNEL, NULL));
    CHECK_EQ_U64(segment_count(s.log), 1);
    /* Fill the segment: the roll's base is the last time, not the clock. */
    char buf[1000] = { 0 };
    for (int i = 0; i < 200; i++)
        CHECK_OK(durlog_append(i % 2 ? w : w2, buf, sizeof buf, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(w2));
    CHECK_OK(durlog_close(w));
    atomic_store(&dl_clock_shift_ns, 0);

    size_t nsegs = segment_count(s.log);
    CHECK(nsegs >= 3);
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    CHECK_EQ_U64(t.n, 211);
    /* Clamped: the last time before the change (+ 1 ns per roll: a
     * record's offset from its segment's base is at least 1). */
    for (size_t i = 5; i < t.n; i++)
        if (t.time[i] < last || t.time[i] > last + nsegs) {
            fprintf(stderr, "  record %zu: time %" PRIu64 ", not the clamped %" PRIu64 "\n",
                    i, t.time[i], last);
            CHECK(t.time[i] >= last && t.time[i] <= last + nsegs);
            break;
        }
    check_time_rule(s.log, &t);
    times_free(&t);
}

/* The tail segment is lost after a sealed one (as if a power loss took a
 * roll's new file) and the clock is set back: the segment the next writer
 * starts is based on the sealed segment's last record's time (recovery
 * walks its record headers), not the clock's. */
static void after_a_sealed_tail_the_next_base_is_its_last_time(void)
{
    struct scratch s;
    scratch_make(&s);
    durlog *w;
    REQUIRE(open_log(s.log, 4096, &w) == 0);
    char buf[1000] = { 0 };
    for (int i = 0; i < 6; i++)
        CHECK_OK(durlog_append(w, buf, sizeof buf, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(w));
    size_t n;
    uint64_t *segs = list_all_segments(s.log, &n);
    REQUIRE(segs && n >= 2);
    /* Removing the last segment leaves a sealed tail only once the seal of
     * the one before is on disk: durlog_close waited for it. */
    struct dl_seg_header h;
    REQUIRE(segment_header_read(s.log, segs[n - 2], &h) == 0);
    CHECK(h.flags & DL_SEG_F_SEALED);
    char path[400], shm[400];
    CHECK(unlink(seg_file(path, sizeof path, s.log, segs[n - 1])) == 0);
    CHECK(unlink(log_file(shm, sizeof shm, s.log, DL_SHM_NAME)) == 0);
    uint64_t lost = segs[n - 1];
    free(segs);
    struct times t;
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    REQUIRE(t.n == lost);
    uint64_t last = t.time[t.n - 1];
    times_free(&t);

    atomic_store(&dl_clock_shift_ns, -2 * HOUR_NS);
    REQUIRE(open_log(s.log, 4096, &w) == 0);
    CHECK_OK(durlog_append(w, "x", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(w));
    atomic_store(&dl_clock_shift_ns, 0);
    REQUIRE(segment_header_read(s.log, lost, &h) == 0);
    CHECK(h.created_ns >= last);
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    CHECK_EQ_U64(t.n, lost + 1);
    check_time_rule(s.log, &t);
    times_free(&t);
}

/* ---- seek by time against a linear scan ---- */

/* The index of the first record with time >= q in t (t->n: none). */
static size_t oracle(const struct times *t, uint64_t q)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->time[i] >= q)
            return i;
    return t->n;
}

/* Seeks r to q and checks that the next record is the oracle's. */
static int seek_matches(durlog_reader *r, const struct times *t, uint64_t q)
{
    size_t want = oracle(t, q);
    int rc = durlog_reader_seek_time(r, q);
    if (rc) {
        fprintf(stderr, "  seek_time(%" PRIu64 "): %s: %s\n", q, durlog_strerror(rc),
                durlog_reader_errmsg(r));
        return 0;
    }
    durlog_record rec;
    rc = durlog_reader_next(r, &rec);
    int ok = want == t->n ? rc == DURLOG_EEND
                          : rc == 0 && rec.seq == t->seq[want] && rec.time_ns == t->time[want];
    if (!ok)
        fprintf(stderr, "  seek_time(%" PRIu64 "): got %s seq %" PRIu64 ", want %s%" PRIu64
                "\n", q, durlog_strerror(rc), rc ? 0 : rec.seq,
                want == t->n ? "the end " : "seq ", want == t->n ? 0 : t->seq[want]);
    return ok;
}

/* Queries around every kind of place: each record's time, one before and
 * after it, before the first, after the last, and random ones. */
static void check_queries(const char *log, const struct times *t, uint64_t *rnd, int skip)
{
    durlog_reader_options o;
    durlog_reader_options_init(&o);
    o.skip_damaged = skip;
    durlog_reader *r = fx_reader(log, &o);
    REQUIRE(r);
    int bad = 0;
    REQUIRE(t->n > 0);
    uint64_t lo = t->time[0], hi = t->time[t->n - 1];
    uint64_t fixed[] = { 0, 1, lo - 1, lo, hi, hi + 1, UINT64_MAX };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed && bad < 3; i++)
        bad += !seek_matches(r, t, fixed[i]);
    for (int k = 0; k < 300 && bad < 3; k++) {
        uint64_t x = test_rand(rnd);
        uint64_t q = t->time[x % t->n] + (uint64_t)((int64_t)(x >> 32) % 3 - 1);
        if (k % 5 == 0)
            q = lo + x % (hi - lo + 1);
        bad += !seek_matches(r, t, q);
    }
    CHECK(bad == 0);
    fx_reader_close(r);
}

/* Appends `count` records through a handle on log (segments of seg bytes)
 * with the clock moved first: forward (a gap), back (then clamped: equal
 * times), or not at all; a new handle sometimes (only a new one sees the
 * clock set back: a handle's own clock never goes back). */
static void append_with_clock_moves(const char *log, uint64_t seg, uint64_t *rnd, int batches)
{
    durlog *w = NULL;
    char buf[700];
    memset(buf, 'p', sizeof buf);
    int64_t shift = 0;
    for (int b = 0; b < batches; b++) {
        uint64_t x = test_rand(rnd);
        switch (x % 4) {
        case 0: shift += (int64_t)(x >> 40) * MS_NS; break;   /* a gap, up to ~4.6 h */
        case 1: shift -= (int64_t)(x >> 44) * MS_NS; break;   /* set back */
        default: break;
        }
        atomic_store(&dl_clock_shift_ns, shift);
        if (!w || x % 3 == 0) {
            if (w)
                CHECK_OK(durlog_close(w));
            REQUIRE(open_log(log, seg, &w) == 0);
        }
        int count = 1 + (int)(x >> 8) % 40;
        for (int i = 0; i < count; i++)
            CHECK_OK(durlog_append(w, buf, (uint32_t)(test_rand(rnd) % sizeof buf),
                                   i % 2 ? DURLOG_BUFFERED : DURLOG_KERNEL, NULL));
    }
    CHECK_OK(durlog_close(w));
    atomic_store(&dl_clock_shift_ns, 0);
}

/* Randomized logs of many segments (4 to 16 KiB), with equal times, gaps
 * and a clock set back: seek_time returns what a linear scan finds. */
static void seek_time_matches_a_linear_scan(void)
{
    for (uint64_t seed = 1; seed <= 12; seed++) {
        struct scratch s;
        scratch_make(&s);
        uint64_t rnd = seed * 0x9e3779b97f4a7c15ull;
        append_with_clock_moves(s.log, 4096u << (seed % 3), &rnd, 30);
        struct times t;
        CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
        check_time_rule(s.log, &t);
        check_queries(s.log, &t, &rnd, (int)(seed & 1));
        times_free(&t);
        scratch_remove(&s);
    }
}

/* Past the last record the reader is at the end, and follows records
 * appended after (with the clock at or past the time asked). */
static void seek_past_the_end_follows_new_records(void)
{
    struct scratch s;
    durlog *w = fx_open(&s, NULL);
    REQUIRE(w);
    CHECK_OK(durlog_append(w, "a", 1, DURLOG_KERNEL, NULL));
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    uint64_t q = dl_now_ns() + 1000000;
    CHECK_OK(durlog_reader_seek_time(r, q));
    durlog_record rec;
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    while (dl_now_ns() <= q)
        ;
    CHECK_OK(durlog_append(w, "b", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 1);
    CHECK(rec.time_ns >= q);
    /* An empty log: at its end too. */
    struct scratch e;
    durlog *we = fx_open(&e, NULL);
    REQUIRE(we);
    durlog_reader *re = fx_reader(e.log, NULL);
    REQUIRE(re);
    CHECK_OK(durlog_reader_seek_time(re, 5));
    CHECK_RC(durlog_reader_next(re, &rec), DURLOG_EEND);
    CHECK_OK(durlog_append(we, "c", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_reader_next(re, &rec));
    CHECK_EQ_U64(rec.seq, 0);
    CHECK_RC(durlog_reader_seek_time(NULL, 0), -EINVAL);
}

/* A damaged record where the walk passes: DURLOG_ECORRUPT naming it, unless
 * the reader skips damage (then the first good record at or after the time
 * asked, as a skipping linear scan finds it). Seeking to a time before the
 * damage, or after the segment that holds it, works either way. */
static void damage_on_the_way_is_corrupt_unless_skipped(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t rnd = 77;
    append_with_clock_moves(s.log, 8192, &rnd, 20);
    struct times clean;
    CHECK_RC(times_read(s.log, 0, &clean), DURLOG_EEND);
    size_t nsegs;
    uint64_t *segs = list_all_segments(s.log, &nsegs);
    REQUIRE(segs && nsegs >= 4);
    /* Damage the middle of segment 1: the third record's payload. */
    uint64_t seg = segs[1];
    size_t k = 0;
    while (clean.seq[k] != seg + 2)
        k++;
    char path[400];
    seg_file(path, sizeof path, s.log, seg);
    size_t len;
    unsigned char *img = file_read(path, &len);
    REQUIRE(img);
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (int i = 0; i < 2; i++)
        off += dl_rec_size(dl_rec_len(img + off));
    free(img);
    REQUIRE(file_flip_bit(path, off + DL_REC_HEADER_SIZE, 3) == 0);

    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    /* Strictly after record k-1's time and at most record k's: the walk
     * must pass record k. */
    if (clean.time[k] > clean.time[k - 1]) {
        CHECK_RC(durlog_reader_seek_time(r, clean.time[k]), DURLOG_ECORRUPT);
        CHECK(strstr(durlog_reader_errmsg(r), "damaged") != NULL);
    }
    /* Before the damage, and past its segment: fine. */
    CHECK(seek_matches(r, &clean, clean.time[0]));
    size_t after = 0;
    while (clean.seq[after] != segs[2])
        after++;
    if (clean.time[after] > clean.time[after - 1])
        CHECK(seek_matches(r, &clean, clean.time[after]));
    fx_reader_close(r);

    struct times skipped;
    times_read(s.log, 1, &skipped);
    CHECK(skipped.n < clean.n);
    check_queries(s.log, &skipped, &rnd, 1);
    times_free(&skipped);
    times_free(&clean);
    free(segs);
}

/* A segment whose header is damaged counts as not below any time: the
 * search goes to earlier segments, never past the answer. Seeking before
 * it works; seeking past it walks into it and fails with DURLOG_ECORRUPT
 * naming it (a search that skipped it could return a record later than
 * the first at or after the time asked, among the ones it holds). */
static void a_damaged_segment_header_is_never_searched_past(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t rnd = 99;
    append_with_clock_moves(s.log, 4096, &rnd, 40);
    struct times t;
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    size_t nsegs;
    uint64_t *segs = list_all_segments(s.log, &nsegs);
    REQUIRE(segs && nsegs >= 6);
    size_t bad = nsegs / 2; /* the binary search's first probe */
    char path[400];
    REQUIRE(file_flip_bit(seg_file(path, sizeof path, s.log, segs[bad]), 33, 0) == 0);

    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    /* The last record of the segment before it. */
    size_t k = 0;
    while (k + 1 < t.n && t.seq[k + 1] < segs[bad])
        k++;
    CHECK(seek_matches(r, &t, t.time[k]));
    /* The last record of the log, past the damaged segment: the search
     * started before it (its header was the first probe), and the walk
     * meets it. */
    uint64_t q = t.time[t.n - 1];
    CHECK(q > t.time[k]);
    CHECK_RC(durlog_reader_seek_time(r, q), DURLOG_ECORRUPT);
    char name[64];
    CHECK(strstr(durlog_reader_errmsg(r), seg_name(name, sizeof name, segs[bad])));
    fx_reader_close(r);
    free(segs);
    times_free(&t);
}

/* An openat (the dl_os seam) that, once armed, removes the file it is
 * asked to open when that is trim_name, as a trim running at that moment
 * would, and then opens it (ENOENT). */
static char trim_name[64];
static int trim_armed;

static int trimming_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    if (trim_armed && strcmp(name, trim_name) == 0) {
        trim_armed = 0;
        dl_os_real.unlinkat(dirfd, name, 0);
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

/* The segment the search chose is removed by a trim before the reader
 * opens it: the seek searches again over what is left, and finds the
 * log's new first record (before: -ENOENT). */
static void a_segment_trimmed_under_the_seek_is_searched_again(void)
{
    struct scratch s;
    scratch_make(&s);
    uint64_t rnd = 7;
    append_with_clock_moves(s.log, 4096, &rnd, 12);
    size_t nsegs;
    uint64_t *segs = list_all_segments(s.log, &nsegs);
    REQUIRE(segs && nsegs >= 3);
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    seg_name(trim_name, sizeof trim_name, segs[0]);
    trim_armed = 1;
    dl_os.openat = trimming_openat;
    int rc = durlog_reader_seek_time(r, 0);
    dl_os.openat = dl_os_real.openat;
    CHECK(!trim_armed); /* the seek did open the segment it chose */
    CHECK_OK(rc);
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, segs[1]);
    fx_reader_close(r);
    free(segs);
}

/* ---- version 1 segments ---- */

/* A version 1 segment `first` holding records [first, end) with times
 * time0 + 1000 * i, based at `base`. */
static void write_v1(const char *log, uint64_t first, uint64_t end, uint64_t base,
                     uint64_t time0, int sealed)
{
    enum { CAP = 16384 };
    static unsigned char seg[CAP];
    memset(seg, 0, sizeof seg);
    uint64_t off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = first; q < end; q++) {
        unsigned char *p = seg + off;
        uint32_t len = (uint32_t)(q % 50);
        dl_put32(p + 4, len);
        dl_put64(p + 8, q);
        dl_put64(p + 16, time0 + 1000 * (q - first));
        dl_put64(p + 24, q);
        memset(p + 32, (int)q, len);
        dl_put32(p, dl_crc32c_sw(0, p + 4, 28 + len));
        off += 32 + ((len + 7) & ~7u);
    }
    struct dl_seg_header h = { DL_FORMAT_V1, first, CAP, base, first, DL_SEG_HEADER_SIZE, 0 };
    if (sealed) {
        h.ckpt_seq = end;
        h.ckpt_off = off;
        h.flags = DL_SEG_F_CKPT | DL_SEG_F_SEALED;
    }
    dl_seg_header_encode(seg, &h);
    char path[400];
    CHECK(file_write(seg_file(path, sizeof path, log, first), seg, CAP) == 0);
}

/* A log of version 1 segments (the previous version's), then version 2
 * ones a writer appended: seek_time finds what a linear scan finds, in
 * both. */
static void seek_time_reads_version_1_segments(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(mkdir(s.log, 0755) == 0);
    uint64_t t0 = dl_now_ns() - HOUR_NS;
    write_v1(s.log, 0, 50, t0, t0 + 5, 1);
    write_v1(s.log, 50, 100, t0 + 60000, t0 + 60000, 1);
    write_v1(s.log, 100, 130, t0 + 200000, t0 + 200001, 0);
    uint64_t rnd = 5;
    append_with_clock_moves(s.log, 4096, &rnd, 10);
    struct times t;
    CHECK_RC(times_read(s.log, 0, &t), DURLOG_EEND);
    REQUIRE(t.n > 130);
    check_time_rule(s.log, &t);
    check_queries(s.log, &t, &rnd, 0);
    times_free(&t);
}

TEST_MAIN(
    RUN(eight_writer_processes_keep_times_in_order_across_rolls);
    RUN(a_clock_set_back_is_clamped_and_never_rolled_for);
    RUN(after_a_sealed_tail_the_next_base_is_its_last_time);
    RUN(seek_time_matches_a_linear_scan);
    RUN(seek_past_the_end_follows_new_records);
    RUN(damage_on_the_way_is_corrupt_unless_skipped);
    RUN(a_damaged_segment_header_is_never_searched_past);
    RUN(a_segment_trimmed_under_the_seek_is_searched_again);
    RUN(seek_time_reads_version_1_segments);
)
