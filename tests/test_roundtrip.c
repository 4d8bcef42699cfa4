/*
 * Round trips: whatever is appended is read back, in order, byte for byte,
 * with dense sequence numbers - across segment rolls, reopens, seeks, the
 * size limits, and batches that fail.
 *
 * DURLOG_TEST_SCALE (a divisor, default 1) shrinks the million-record test
 * for slow builds: the ASan+UBSan run sets it, e.g. DURLOG_TEST_SCALE=10.
 */
#include <time.h>

#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/model.h"
#include "os.h"

/* Records of the million-record log are 0..4096 bytes. */
#define BIG_LOG_RECORDS 1000000
#define BIG_LOG_MAX_LEN 4096
/* Records per durlog_append_batch call in the big log. */
#define BIG_LOG_BATCH 1000

static uint64_t test_scale(void)
{
    const char *s = getenv("DURLOG_TEST_SCALE");
    uint64_t v = s && *s ? strtoull(s, NULL, 10) : 1;
    return v ? v : 1;
}

/* The length of record i of the big log, from a PRNG seeded by i, so the
 * reader can recompute it. */
static size_t big_len(uint64_t i)
{
    uint64_t s = (i + 1) * 0x9E3779B97F4A7C15ULL;
    return (size_t)(test_rand(&s) % (BIG_LOG_MAX_LEN + 1));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void million_random_records_read_back_identical(void)
{
    struct scratch s;
    uint64_t n = BIG_LOG_RECORDS / test_scale();
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);

    unsigned char *buf = malloc((size_t)BIG_LOG_BATCH * BIG_LOG_MAX_LEN);
    durlog_iov *iov = malloc(BIG_LOG_BATCH * sizeof *iov);
    REQUIRE(buf && iov);
    uint64_t i = 0, chunk = 0;
    while (i < n && !th_failed_current) {
        uint64_t count = n - i < BIG_LOG_BATCH ? n - i : BIG_LOG_BATCH;
        for (uint64_t k = 0; k < count; k++) {
            iov[k].data = buf + k * BIG_LOG_MAX_LEN;
            iov[k].len = big_len(i + k);
            test_fill(buf + k * BIG_LOG_MAX_LEN, iov[k].len, i + k);
        }
        if (chunk++ % 8 == 7) {
            /* Every eighth chunk goes in as single appends. */
            for (uint64_t k = 0; k < count; k++) {
                uint64_t seq = UINT64_MAX;
                CHECK_OK(durlog_append(log, iov[k].data, iov[k].len, DURLOG_KERNEL, &seq));
                CHECK_EQ_U64(seq, i + k);
            }
        } else {
            uint64_t first = UINT64_MAX;
            CHECK_OK(durlog_append_batch(log, iov, count, DURLOG_KERNEL, &first));
            CHECK_EQ_U64(first, i);
        }
        i += count;
    }
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, n);
    CHECK_EQ_U64(info.first_seq, 0);
    if (n == BIG_LOG_RECORDS)
        CHECK(info.segments > 1);
    CHECK_OK(fx_close(log));

    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    uint64_t bad = 0;
    for (i = 0; i < n && bad < 5; i++) {
        int rc = durlog_reader_next(r, &rec);
        size_t want = big_len(i);
        if (rc != 0) {
            fprintf(stderr, "  record %" PRIu64 ": durlog_reader_next: %s\n", i,
                    durlog_strerror(rc));
            bad = 5;
            break;
        }
        test_fill(buf, want, i);
        if (rec.seq != i || rec.len != want || memcmp(rec.data, buf, want) != 0) {
            fprintf(stderr, "  record %" PRIu64 ": got seq %" PRIu64 ", %zu bytes "
                    "(want %zu)%s\n", i, rec.seq, rec.len, want,
                    rec.len == want ? ", different bytes" : "");
            bad++;
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.next_seq, n);
    if (n == BIG_LOG_RECORDS)
        CHECK(info.segments > 1);
    fx_reader_close(r);
    free(iov);
    free(buf);
}

/* Appends a record of len bytes made from `seed` and checks its number. */
static void append_filled(durlog *log, unsigned char *buf, size_t len,
                          uint64_t seed, uint64_t want_seq)
{
    uint64_t seq = UINT64_MAX;
    test_fill(buf, len, seed);
    CHECK_OK(durlog_append(log, buf, len, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, want_seq);
}

static void records_of_1mib_and_max_size_round_trip_and_larger_is_refused(void)
{
    struct scratch s;
    size_t sizes[] = { (size_t)1 << 20, DURLOG_MAX_RECORD, 0, 17 };
    size_t count = sizeof sizes / sizeof sizes[0];
    unsigned char *buf = malloc(DURLOG_MAX_RECORD + 1);
    REQUIRE(buf);
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    for (size_t i = 0; i < count; i++)
        append_filled(log, buf, sizes[i], 1000 + i, i);

    /* One byte over the limit: refused at every level, nothing written. */
    durlog_level levels[] = { DURLOG_BUFFERED, DURLOG_KERNEL, DURLOG_INTERVAL, DURLOG_SYNC };
    for (size_t l = 0; l < 4; l++) {
        uint64_t seq = 12345;
        CHECK_RC(durlog_append(log, buf, DURLOG_MAX_RECORD + 1, levels[l], &seq),
                 -EMSGSIZE);
        CHECK_EQ_U64(log_next_seq(log), count);
    }
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    CHECK_EQ_U64(log_next_seq(log), count);
    /* The log goes on after the refusals. */
    append_filled(log, buf, 3, 1000 + count, count);
    CHECK_OK(fx_close(log));

    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_record rec;
    for (size_t i = 0; i <= count; i++) {
        size_t want = i < count ? sizes[i] : 3;
        REQUIRE(durlog_reader_next(r, &rec) == 0);
        CHECK_EQ_U64(rec.seq, i);
        CHECK_EQ_U64(rec.len, want);
        test_fill(buf, want, 1000 + i);
        CHECK(rec.len == want && memcmp(rec.data, buf, want) == 0);
    }
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    fx_reader_close(r);
    free(buf);
}

static void batch_with_one_oversize_record_appends_none(void)
{
    struct scratch s;
    unsigned char *big = calloc(1, DURLOG_MAX_RECORD + 1);
    REQUIRE(big);
    uint32_t lens[] = { 5, 40, 0, 100, 7, 9 };
    struct model m;
    model_init(&m, 77, lens, 6);
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    model_append(log, &m, 0, 2, DURLOG_KERNEL);

    /* Records 2..4 of the model with an oversize one in the middle. */
    unsigned char small[3][128];
    durlog_iov good[3];
    for (int i = 0; i < 3; i++) {
        memcpy(small[i], model_payload(&m, 2 + (uint64_t)i), lens[2 + i]);
        good[i] = (durlog_iov){ small[i], lens[2 + i] };
    }
    durlog_iov iov[4] = { good[0], { big, DURLOG_MAX_RECORD + 1 }, good[1], good[2] };
    durlog_level levels[] = { DURLOG_BUFFERED, DURLOG_KERNEL, DURLOG_SYNC };
    for (size_t l = 0; l < 3; l++) {
        uint64_t first = 0;
        CHECK_RC(durlog_append_batch(log, iov, 4, levels[l], &first), -EMSGSIZE);
        CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
        CHECK_EQ_U64(log_next_seq(log), 2);
    }
    /* The same batch without the oversize record goes in whole. */
    uint64_t first = UINT64_MAX;
    CHECK_OK(durlog_append_batch(log, good, 3, DURLOG_KERNEL, &first));
    CHECK_EQ_U64(first, 2);
    CHECK_OK(fx_close(log));

    int end_rc;
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 5);
    CHECK_RC(end_rc, DURLOG_EEND);
    free(big);
}

/* A writer with 4 KiB segments on the new scratch log s, and in *r a reader
 * opened on it before any append. NULL after a failed CHECK. */
static durlog *writer_and_reader(struct scratch *s, durlog_reader **r)
{
    durlog *log = fx_open(s, &(durlog_options){ .segment_size = 4096 });
    *r = log ? fx_reader(s->log, NULL) : NULL;
    return *r ? log : NULL;
}

/* fallocate that fails with ENOSPC from its fail_at'th call on. */
static int fallocate_calls, fallocate_fail_at;
static int failing_fallocate(int fd, int mode, off_t off, off_t len)
{
    if (++fallocate_calls >= fallocate_fail_at) {
        errno = ENOSPC;
        return -1;
    }
    return dl_os_real.fallocate(fd, mode, off, len);
}

/* Appends records [from, from+count) of m as one batch while every segment
 * creation after the second fails: the batch must fail and leave nothing. */
static void batch_failing_on_third_roll(durlog *log, struct model *m, size_t from,
                                        size_t count)
{
    durlog_iov *iov = calloc(count, sizeof *iov);
    unsigned char *data = malloc(count * 4096);
    for (size_t i = 0; i < count; i++) {
        memcpy(data + i * 4096, model_payload(m, from + i), m->lens[from + i]);
        iov[i] = (durlog_iov){ data + i * 4096, m->lens[from + i] };
    }
    fallocate_calls = 0;
    fallocate_fail_at = 3;
    dl_os.fallocate = failing_fallocate;
    uint64_t first = 0;
    CHECK_RC(durlog_append_batch(log, iov, count, DURLOG_KERNEL, &first), -ENOSPC);
    dl_os.fallocate = dl_os_real.fallocate;
    CHECK(fallocate_calls >= 3);
    free(data);
    free(iov);
}

static void batch_that_fails_part_way_leaves_no_record_visible(void)
{
    struct scratch s;
    /* 1000-byte records, 4 to a 4 KiB segment: a batch of 20 needs 5 rolls. */
    uint32_t lens[60];
    for (int i = 0; i < 60; i++)
        lens[i] = 1000 - (uint32_t)i;
    struct model m;
    model_init(&m, 5150, lens, 60);
    durlog_reader *r;
    durlog *log = writer_and_reader(&s, &r);
    REQUIRE(log);

    /* On an empty log: no segment may remain. */
    batch_failing_on_third_roll(log, &m, 0, 20);
    CHECK_EQ_U64(log_next_seq(log), 0);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.segments, 0);
    int end_rc;
    CHECK_EQ_U64(model_read(&m, r, 0, &end_rc), 0);
    CHECK_RC(end_rc, DURLOG_EEND);

    /* After some records (the tail segment half full). */
    model_append(log, &m, 0, 6, DURLOG_KERNEL);
    CHECK_OK(durlog_get_info(log, &info));
    uint64_t segments = info.segments;
    batch_failing_on_third_roll(log, &m, 6, 20);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 6);
    CHECK_EQ_U64(info.segments, segments);
    CHECK_EQ_U64(model_read(&m, r, 0, &end_rc), 6);
    CHECK_RC(end_rc, DURLOG_EEND);

    /* The log goes on where it was, and the reader sees the new records. */
    model_append(log, &m, 6, 60, DURLOG_KERNEL);
    CHECK_EQ_U64(model_read(&m, r, 6, &end_rc), 54);
    CHECK_RC(end_rc, DURLOG_EEND);
    fx_reader_close(r);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(model_read_log(&m, s.log, &end_rc), 60);
    CHECK_RC(end_rc, DURLOG_EEND);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK_EQ_U64(rep.damaged, 0);
    CHECK_EQ_U64(rep.records, 60);
}

/* A model for the small-segment logs: `n` records (at most 1000), mostly
 * small, every 50th larger than a 4 KiB segment (it gets a segment of its
 * own), their lengths drawn from `seed`. */
static void small_segment_model(struct model *m, uint64_t salt, size_t n, uint64_t seed)
{
    uint32_t lens[1000];
    uint64_t st = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++)
        lens[i] = i % 50 == 49 ? 5000 + (uint32_t)(test_rand(&st) % 3000)
                               : (uint32_t)(test_rand(&st) % 700);
    model_init(m, salt, lens, n);
}

static void reopened_log_continues_numbering_and_seek_finds_every_97th(void)
{
    enum { N = 900 };
    struct scratch s;
    scratch_make(&s);
    struct model m;
    small_segment_model(&m, 424242, N, 3);
    durlog *log;
    uint64_t t0 = now_ns();
    for (int round = 0; round < 3; round++) {
        CHECK_OK(open_log(s.log, round == 1 ? 8192 : 4096, &log));
        REQUIRE(log);
        durlog_recovery rec;
        durlog_last_recovery(log, &rec);
        CHECK_EQ_U64(rec.performed, 1);
        CHECK_EQ_U64(rec.bytes_cut, 0);
        CHECK_EQ_U64(rec.segments_removed, 0);
        CHECK_EQ_U64(log_next_seq(log), (uint64_t)round * (N / 3));
        model_append(log, &m, (size_t)round * (N / 3), (size_t)(round + 1) * (N / 3),
                     round == 2 ? DURLOG_SYNC : DURLOG_KERNEL);
        CHECK_OK(durlog_close(log));
    }
    uint64_t t1 = now_ns();

    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.first_seq, 0);
    CHECK_EQ_U64(info.next_seq, N);
    CHECK(info.segments > 50);
    int end_rc;
    CHECK_EQ_U64(model_read(&m, r, 0, &end_rc), N);
    CHECK_RC(end_rc, DURLOG_EEND);

    durlog_record rec;
    for (uint64_t seq = 0; seq < N; seq += 97) {
        CHECK_OK(durlog_reader_seek(r, seq));
        int rc = durlog_reader_next(r, &rec);
        CHECK_RC(rc, 0);
        if (rc)
            continue;
        CHECK_EQ_U64(rec.seq, seq);
        CHECK(model_matches(&m, &rec));
        CHECK(rec.time_ns >= t0 && rec.time_ns <= t1);
    }
    /* Backwards, onto a record that has a segment of its own. */
    CHECK_OK(durlog_reader_seek(r, 49));
    CHECK_EQ_U64(model_read(&m, r, 49, &end_rc), N - 49);
    CHECK_RC(end_rc, DURLOG_EEND);
    /* The end is a valid position; past it is not. */
    CHECK_OK(durlog_reader_seek(r, N));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    CHECK_RC(durlog_reader_seek(r, N + 1), DURLOG_ENOTFOUND);
    CHECK_RC(durlog_reader_seek(r, UINT64_MAX - 1), DURLOG_ENOTFOUND);
    /* A failed seek must not leave the reader returning anything wrong. */
    CHECK_OK(durlog_reader_seek(r, 500));
    CHECK_EQ_U64(model_read(&m, r, 500, &end_rc), N - 500);
    CHECK_RC(end_rc, DURLOG_EEND);
}

static void reader_opened_before_appends_sees_them_across_rolls(void)
{
    enum { N = 400 };
    struct scratch s;
    struct model m;
    small_segment_model(&m, 99, N, 9);
    durlog_reader *r;
    durlog *log = writer_and_reader(&s, &r);
    REQUIRE(log);
    durlog_record rec;
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);

    int end_rc;
    uint64_t read = 0;
    for (size_t i = 0; i < N / 2; i++) {
        model_append(log, &m, i, i + 1, DURLOG_KERNEL);
        read += model_read(&m, r, read, &end_rc);
        CHECK_RC(end_rc, DURLOG_EEND);
        CHECK_EQ_U64(read, i + 1);
    }
    /* A batch spanning several rolls, then buffered records made visible by
     * a flush. */
    durlog_iov iov[100];
    unsigned char *data = malloc(100 * 8192);
    REQUIRE(data);
    for (size_t i = 0; i < 100; i++) {
        memcpy(data + i * 8192, model_payload(&m, N / 2 + i), m.lens[N / 2 + i]);
        iov[i] = (durlog_iov){ data + i * 8192, m.lens[N / 2 + i] };
    }
    uint64_t first = 0;
    CHECK_OK(durlog_append_batch(log, iov, 100, DURLOG_KERNEL, &first));
    CHECK_EQ_U64(first, N / 2);
    read += model_read(&m, r, read, &end_rc);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK_EQ_U64(read, N / 2 + 100);
    for (size_t i = N / 2 + 100; i < N; i++)
        CHECK_OK(durlog_append(log, model_payload(&m, i), m.lens[i], DURLOG_BUFFERED, NULL));
    CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
    read += model_read(&m, r, read, &end_rc);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK_EQ_U64(read, N);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK(info.segments > 20);
    fx_reader_close(r);
    CHECK_OK(fx_close(log));
    free(data);
}

static void log_without_its_first_segments_starts_at_its_first_record(void)
{
    enum { N = 120 };
    struct scratch s;
    struct model m;
    small_segment_model(&m, 7, N, 21);
    REQUIRE(fx_model_log_closed(&s, &m, 4096, -1) == 0);

    /* Drop the first segment, as retention would. */
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    durlog_info info;
    CHECK_OK(durlog_reader_get_info(r, &info));
    fx_reader_close(r);
    REQUIRE(info.segments > 2);
    char path[400];
    /* Find where segment 0 ends: the second segment's name. */
    uint64_t second = 1;
    while (second < N && !file_exists(seg_file(path, sizeof path, s.log, second)))
        second++;
    REQUIRE(second < N);
    CHECK(unlink(seg_file(path, sizeof path, s.log, 0)) == 0);

    r = fx_reader(s.log, NULL);
    REQUIRE(r);
    int end_rc;
    CHECK_EQ_U64(model_read(&m, r, second, &end_rc), N - second);
    CHECK_RC(end_rc, DURLOG_EEND);
    CHECK_RC(durlog_reader_seek(r, second - 1), DURLOG_ETRIMMED);
    CHECK_OK(durlog_reader_seek(r, second));
    CHECK_EQ_U64(model_read(&m, r, second, &end_rc), N - second);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.first_seq, second);
    fx_reader_close(r);

    durlog *log;
    CHECK_OK(open_log(s.log, 4096, &log));
    REQUIRE(log);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.first_seq, second);
    CHECK_EQ_U64(info.next_seq, N);
    CHECK_OK(durlog_close(log));
}

TEST_MAIN(
    RUN(million_random_records_read_back_identical);
    RUN(records_of_1mib_and_max_size_round_trip_and_larger_is_refused);
    RUN(batch_with_one_oversize_record_appends_none);
    RUN(batch_that_fails_part_way_leaves_no_record_visible);
    RUN(reopened_log_continues_numbering_and_seek_finds_every_97th);
    RUN(reader_opened_before_appends_sees_them_across_rolls);
    RUN(log_without_its_first_segments_starts_at_its_first_record);
)
