/* Regressions from review: buffered batches get consecutive numbers (and one
 * larger than the buffer is written at once), a segment name reused by a
 * roll is made durable in the directory again (also when the reuse races a
 * directory fsync), and the interpolating clock
 * stays right after an idle gap of seconds. (The fault-path findings are in
 * test_faults.c.) */
#include <sys/stat.h>

#include "lib/clockcheck.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/seam.h"

#define REC 1500 /* three do not fit in a 4096-byte buffer, two do */

static void tagged(unsigned char *buf, char tag, int i)
{
    memset(buf, tag, REC);
    buf[1] = (unsigned char)i;
}

/* A batch of n records tagged tag0 .. tag<n-1>, stored in bufs. */
static void tagged_batch(durlog_iov *iov, unsigned char (*bufs)[REC], char tag, int n)
{
    for (int i = 0; i < n; i++) {
        tagged(bufs[i], tag, i);
        iov[i] = (durlog_iov){ bufs[i], REC };
    }
}

/* Reads the whole log into tags[] ("B0", "X0", ... as tag and index);
 * returns the number of records. */
static int read_tags(const char *path, char tags[][3], int max)
{
    durlog_reader *r;
    durlog_record rec;
    int n = 0, rc;
    if (durlog_reader_open(path, NULL, &r))
        return -1;
    while ((rc = durlog_reader_next(r, &rec)) == 0 && n < max) {
        const unsigned char *p = rec.data;
        if (rec.seq != (uint64_t)n || rec.len < 2) {
            n = -1;
            break;
        }
        tags[n][0] = (char)p[0];
        tags[n][1] = (char)('0' + p[1]);
        tags[n][2] = '\0';
        n++;
    }
    durlog_reader_close(r);
    return n;
}

static void print_tags(char tags[][3], int n)
{
    fprintf(stderr, "  log:");
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %s", tags[i]);
    fprintf(stderr, "\n");
}

static void buffered_batch_larger_than_the_buffer_is_written_at_once_with_its_seq(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .buffer_size = 4096 });
    uint64_t seq = 0;
    static unsigned char k[REC], b[3][REC];
    REQUIRE(log);
    tagged(k, 'K', 0);
    CHECK_OK(durlog_append(log, k, REC, DURLOG_KERNEL, &seq));
    durlog_iov iov[3];
    tagged_batch(iov, b, 'B', 3);
    /* 3 x 1536 framed bytes > 4096: handed to the kernel at once. */
    CHECK_OK(durlog_append_batch(log, iov, 3, DURLOG_BUFFERED, &seq));
    CHECK_EQ_U64(seq, 1);
    /* Visible at once, before any flush. */
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 4);
    char tags[8][3];
    int n = read_tags(t.log, tags, 8);
    CHECK_EQ_U64(n, 4);
    if (n == 4)
        CHECK(strcmp(tags[1], "B0") == 0 && strcmp(tags[2], "B1") == 0 &&
              strcmp(tags[3], "B2") == 0);
    CHECK_OK(fx_close(log));
}

/* The records of one buffered call get consecutive numbers: no other
 * handle's record lands between them, whether the batch is too big for the
 * buffer or fits in it but forces a flush of what it already held. */
static void buffered_batch_gets_consecutive_numbers_while_another_handle_appends(void)
{
    struct scratch t;
    durlog *h1 = fx_open(&t, &(durlog_options){ .buffer_size = 4096 }), *h2;
    static unsigned char b[3][REC], c[2][REC], p0[REC], x[REC];
    REQUIRE(h1);
    REQUIRE((h2 = fx_writer(t.log, &(durlog_options){ .buffer_size = 4096 })) != NULL);

    /* Three records: more than the buffer holds. */
    durlog_iov iov[3];
    tagged_batch(iov, b, 'B', 3);
    CHECK_OK(durlog_append_batch(h1, iov, 3, DURLOG_BUFFERED, NULL));
    tagged(x, 'X', 0);
    CHECK_OK(durlog_append(h2, x, REC, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_flush(h1, DURLOG_KERNEL));

    /* Two records that fit in the buffer, but not next to P0. */
    tagged(p0, 'P', 0);
    CHECK_OK(durlog_append(h1, p0, REC, DURLOG_BUFFERED, NULL));
    tagged_batch(iov, c, 'C', 2);
    CHECK_OK(durlog_append_batch(h1, iov, 2, DURLOG_BUFFERED, NULL));
    tagged(x, 'X', 1);
    CHECK_OK(durlog_append(h2, x, REC, DURLOG_KERNEL, NULL));
    CHECK_OK(fx_close(h1));
    CHECK_OK(fx_close(h2));

    char tags[16][3];
    int n = read_tags(t.log, tags, 16);
    REQUIRE(n >= 0);
    /* Each batch in one piece, in its order; every record once. */
    int b_at = -1, c_at = -1, count[256] = { 0 };
    for (int i = 0; i < n; i++) {
        count[(unsigned char)tags[i][0]]++;
        if (b_at < 0 && tags[i][0] == 'B')
            b_at = i;
        if (c_at < 0 && tags[i][0] == 'C')
            c_at = i;
    }
    CHECK_EQ_U64(n, 8);
    CHECK(count['B'] == 3 && count['C'] == 2 && count['P'] == 1 && count['X'] == 2);
    int ok = b_at >= 0 && b_at + 2 < n && c_at >= 0 && c_at + 1 < n;
    for (int i = 0; ok && i < 3; i++)
        ok = tags[b_at + i][0] == 'B' && tags[b_at + i][1] == '0' + i;
    for (int i = 0; ok && i < 2; i++)
        ok = tags[c_at + i][0] == 'C' && tags[c_at + i][1] == '0' + i;
    if (!ok)
        print_tags(tags, n);
    CHECK(ok);
}

/* --- a segment name reused by a roll -------------------------------------- */

static _Atomic int dir_fsyncs;

static int fsync_counting_directories(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        atomic_fetch_add(&dir_fsyncs, 1);
    return dl_os_real.fsync(fd);
}

static ino_t inode_of(const char *dir, const char *name)
{
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* The new scratch log t, of 4096-byte segments, as a writer that died
 * copying its second record (which opened segment 1) leaves it: records 0
 * and 1 (3000 bytes of `a` each, the second appended at `level`), no
 * checkpoint, garbage in record 1. Returns 0 or -1. */
static int log_torn_in_segment_1(struct scratch *t, const unsigned char *a, durlog_level level)
{
    durlog *log = fx_open(t, &(durlog_options){ .segment_size = 4096 });
    uint64_t seq = UINT64_MAX;
    if (!log)
        return -1;
    CHECK_OK(durlog_append(log, a, 3000, DURLOG_KERNEL, &seq));
    CHECK_OK(durlog_append(log, a, 3000, level, &seq)); /* rolls */
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(seq, 1);
    forget_checkpoints(t->log);
    char path[400];
    return seq == 1 ? file_put(seg_file(path, sizeof path, t->log, 1), 64 + 40, "garbage!", 8) : -1;
}

/* Recovery can leave an empty tail segment. A record too big for it makes
 * the next roll replace that file under the same name: the directory entry
 * now points to a new file and must be fsynced again before a sync append
 * returns, although the name was already durable. */
static void sync_append_replacing_an_empty_tail_segment_fsyncs_the_directory(void)
{
    static const char SEG1[] = "00000000000000000001.seg";
    struct scratch t;
    durlog_options o = { .segment_size = 4096 };
    durlog *log;
    uint64_t seq;
    static unsigned char a[5000];
    test_fill(a, sizeof a, 7);
    REQUIRE(log_torn_in_segment_1(&t, a, DURLOG_SYNC) == 0);

    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    durlog_recovery rep;
    durlog_last_recovery(log, &rep);
    CHECK(rep.bytes_cut > 0);
    CHECK(strcmp(rep.segment, SEG1) == 0);
    CHECK_OK(durlog_flush(log, DURLOG_SYNC)); /* the name is durable */
    ino_t before = inode_of(t.log, SEG1);
    REQUIRE(before != 0); /* the empty tail segment is there */

    atomic_store(&dir_fsyncs, 0);
    dl_os.fsync = fsync_counting_directories;
    CHECK_OK(durlog_append(log, a, sizeof a, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 1);
    int fsyncs = atomic_load(&dir_fsyncs);
    ino_t after = inode_of(t.log, SEG1);
    CHECK(after != 0 && after != before); /* really replaced */
    if (fsyncs < 1)
        fprintf(stderr, "  no directory fsync during the sync append\n");
    CHECK(fsyncs >= 1);
    CHECK_OK(durlog_close(log));
    tu_restore_os();

    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(rec.seq == 0 && rec.len == 3000 && memcmp(rec.data, a, 3000) == 0);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(rec.seq == 1 && rec.len == sizeof a && memcmp(rec.data, a, sizeof a) == 0);
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_reader_close(r);
}

/* An fsync that, after fsyncing the directory the first time, lets another
 * handle append a record that replaces the empty tail segment (as another
 * process could at that moment). */
static durlog *replacer;
static const unsigned char *replacer_data;
static size_t replacer_len;
static _Atomic int replaced_rc = 1;

static int fsync_then_replace_the_tail(int fd)
{
    struct stat st;
    int rc = dl_os_real.fsync(fd);
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        atomic_fetch_add(&dir_fsyncs, 1);
        if (replacer) {
            durlog *h = replacer;
            replacer = NULL;
            atomic_store(&replaced_rc, durlog_append(h, replacer_data, replacer_len,
                                                     DURLOG_KERNEL, NULL));
        }
    }
    return rc;
}

/* As above, but the replacing roll happens while a sync leader is fsyncing
 * the directory for the old file of that name: the leader then records the
 * name as synced, over the roll's note that it must be synced again, and the
 * sync of the new record skips the directory. Found while writing these
 * tests; fails at the time of writing (lead_sync stores dir_synced_seg
 * unconditionally after its fsync). */
static void sync_after_the_tail_is_replaced_during_a_directory_fsync_fsyncs_it_again(void)
{
    static const char SEG1[] = "00000000000000000001.seg";
    struct scratch t;
    durlog_options o = { .segment_size = 4096 };
    durlog *h1, *h2;
    static unsigned char a[5000];
    test_fill(a, sizeof a, 8);
    REQUIRE(log_torn_in_segment_1(&t, a, DURLOG_KERNEL) == 0);
    /* Nothing synced either. */
    struct dl_shared *sh = tu_map_shared_rw(t.log);
    REQUIRE(sh);
    atomic_store(&sh->durable_seq, 0);
    tu_unmap_shared(sh);

    /* Nothing synced yet; segment 1 is empty. */
    REQUIRE(durlog_open(t.log, &o, &h1) == 0);
    REQUIRE(durlog_open(t.log, &o, &h2) == 0);
    ino_t before = inode_of(t.log, SEG1);
    REQUIRE(before != 0);

    replacer = h2;
    replacer_data = a;
    replacer_len = sizeof a;
    atomic_store(&replaced_rc, 1);
    atomic_store(&dir_fsyncs, 0);
    dl_os.fsync = fsync_then_replace_the_tail;
    CHECK_OK(durlog_flush(h1, DURLOG_SYNC)); /* leads; fsyncs the directory */
    CHECK(atomic_load(&dir_fsyncs) >= 1);
    REQUIRE(atomic_load(&replaced_rc) == 0); /* h2 appended record 1... */
    ino_t after = inode_of(t.log, SEG1);
    REQUIRE(after != 0 && after != before); /* ...in a new file of that name */

    /* Making record 1 durable needs the directory entry of the new file. */
    atomic_store(&dir_fsyncs, 0);
    CHECK_OK(durlog_flush(h2, DURLOG_SYNC));
    int fsyncs = atomic_load(&dir_fsyncs);
    if (fsyncs < 1)
        fprintf(stderr, "  no directory fsync after %s was replaced\n", SEG1);
    CHECK(fsyncs >= 1);
    replacer = NULL;
    CHECK_OK(durlog_close(h2));
    CHECK_OK(durlog_close(h1));
    tu_restore_os();
}

/* --- the clock after an idle gap of seconds ------------------------------- */

#define SLACK_NS 200000u

/* Calls the clock for `ms` milliseconds; returns the worst distance from
 * CLOCK_REALTIME readings taken around the calls. */
static uint64_t worst_distance(struct dl_clock *c, uint64_t ms)
{
    uint64_t worst = 0, start = dl_now_ns(), prev = 0;
    while (dl_now_ns() - start <= ms * 1000000u) {
        uint64_t off = clock_distance_ns(c, &prev);
        if (off > worst)
            worst = off;
    }
    return worst;
}

/* Nothing calls the clock for seconds (an idle log); the next call
 * re-anchors and may recalibrate over the whole gap. The rate is a 32.32
 * fixed-point number: over a gap of 2^32 ns (4.3 s) or more, the old
 * calibration overflowed, and the following calls crawled (a rate a few
 * times too small) for up to a millisecond. The gap is simulated by moving
 * the anchor back, as if the last call had been that long ago. */
static void interpolated_clock_stays_right_after_an_idle_gap_of_seconds(void)
{
    struct dl_clock c;
    dl_clock_init(&c);
    worst_distance(&c, 20); /* anchored and calibrated */
    if (!c.use_counter) {
        fprintf(stderr, "  (the kernel's clock source is not the TSC: "
                "dl_clock is clock_gettime here)\n");
        CHECK(worst_distance(&c, 5) <= SLACK_NS);
        return;
    }
    REQUIRE(c.rate != 0);
    static const uint64_t gaps_ms[] = { 2500, 5000, 10000, 60000, 300000 };
    for (size_t i = 0; i < sizeof gaps_ms / sizeof gaps_ms[0]; i++) {
        uint64_t gap_ns = gaps_ms[i] * 1000000u;
        /* The counts that elapse in gap_ns at the calibrated rate. */
        uint64_t gap_counts = (uint64_t)(((unsigned __int128)gap_ns << 32) / c.rate);
        c.anchor_ns -= gap_ns;
        c.anchor_count -= gap_counts;
        uint64_t worst = worst_distance(&c, 5);
        if (worst > SLACK_NS)
            fprintf(stderr, "  after a %llu ms gap: %llu ns from CLOCK_REALTIME\n",
                    (unsigned long long)gaps_ms[i], (unsigned long long)worst);
        CHECK(worst <= SLACK_NS);
    }
}

TEST_MAIN(
    RUN(buffered_batch_larger_than_the_buffer_is_written_at_once_with_its_seq);
    RUN(buffered_batch_gets_consecutive_numbers_while_another_handle_appends);
    RUN(sync_append_replacing_an_empty_tail_segment_fsyncs_the_directory);
    RUN(sync_after_the_tail_is_replaced_during_a_directory_fsync_fsyncs_it_again);
    RUN(interpolated_clock_stays_right_after_an_idle_gap_of_seconds);
)
