/* `durlog info` (durlog_get_info, durlog_reader_get_info) from segment
 * headers: what it reports matches what a full walk of the records finds,
 * on closed, live, unsealed, copied, gapped and cut logs; and it reads no
 * record of a sealed segment (nor, on a writer, of the tail). */
#include <stdatomic.h>

#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"
#include "lib/timing.h"

#define EXTRA 300
#define SEG_SIZE 8192

/* What a full walk with a reader finds: every record's number and the
 * bytes it takes in its segment (a version 2 frame). */
struct walk {
    uint64_t records, first_seq, next_seq, bytes;
    uint64_t *seq, *frame; /* per record, in order */
};

static uint64_t frame_of(size_t len)
{
    return 16 + ((len + 3) & ~(uint64_t)3);
}

static void walk_free(void *p)
{
    struct walk *w = p;
    free(w->seq);
    free(w->frame);
    free(w);
}

/* Reads every record of log; NULL (after a failed CHECK) when the reader
 * fails before the end. */
static struct walk *full_walk(const char *log)
{
    struct walk *w = calloc(1, sizeof *w);
    durlog_reader *r;
    durlog_record rec;
    if (!w) {
        CHECK(w);
        return NULL;
    }
    th_after_case(walk_free, w);
    size_t cap = 0;
    if (durlog_reader_open(log, NULL, &r) != 0) {
        CHECK(!"reader opens");
        return NULL;
    }
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (w->records == cap) {
            cap = cap ? cap * 2 : 1024;
            w->seq = realloc(w->seq, cap * sizeof *w->seq);
            w->frame = realloc(w->frame, cap * sizeof *w->frame);
            if (!w->seq || !w->frame)
                break;
        }
        if (!w->records)
            w->first_seq = rec.seq;
        w->seq[w->records] = rec.seq;
        w->frame[w->records] = frame_of(rec.len);
        w->bytes += frame_of(rec.len);
        w->records++;
        w->next_seq = rec.seq + 1;
    }
    CHECK_RC(rc, DURLOG_EEND);
    durlog_reader_close(r);
    return rc == DURLOG_EEND ? w : NULL;
}

static void expect_info(const char *who, const durlog_info *info, uint64_t segments,
                        uint64_t first_seq, uint64_t next_seq, uint64_t bytes,
                        uint64_t missing)
{
    if (info->segments == segments && info->first_seq == first_seq &&
        info->next_seq == next_seq && info->bytes == bytes && info->missing == missing)
        return;
    fprintf(stderr, "  %s: segments %" PRIu64 " first %" PRIu64 " next %" PRIu64
            " bytes %" PRIu64 " missing %" PRIu64 "; expected %" PRIu64 " %" PRIu64
            " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", who, info->segments,
            info->first_seq, info->next_seq, info->bytes, info->missing, segments,
            first_seq, next_seq, bytes, missing);
    th_failed_current = 1;
}

static void reader_info(const char *log, durlog_info *info)
{
    durlog_reader *r;
    memset(info, 0xff, sizeof *info);
    if (durlog_reader_open(log, NULL, &r) != 0) {
        CHECK(!"reader opens");
        return;
    }
    CHECK_OK(durlog_reader_get_info(r, info));
    durlog_reader_close(r);
}

/* A closed log of n records in small segments (sealed but the tail). */
static int closed_log(struct scratch *s, uint64_t n)
{
    durlog *log = fx_open(s, &(durlog_options){ .segment_size = SEG_SIZE });
    if (!log)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL))
            return -1;
    return fx_close(log);
}

static void info_of_a_closed_log_matches_a_full_walk(void)
{
    struct scratch s;
    REQUIRE(closed_log(&s, 600) == 0);
    size_t segs = 0;
    free(list_all_segments(s.log, &segs));
    REQUIRE(segs > 10);
    struct walk *w = full_walk(s.log);
    REQUIRE(w);
    CHECK_EQ_U64(w->records, 600);
    durlog_info info;
    reader_info(s.log, &info);
    expect_info("reader", &info, segs, 0, 600, w->bytes, 0);
    CHECK_EQ_U64(info.durable_seq, 600);
    durlog *log = fx_writer(s.log, &(durlog_options){ .segment_size = SEG_SIZE });
    REQUIRE(log);
    CHECK_OK(durlog_get_info(log, &info));
    expect_info("writer", &info, segs, 0, 600, w->bytes, 0);
    CHECK_OK(fx_close(log));
}

/* While a writer appends: the writer's info (the tail's end from under the
 * append lock) and a reader's (the tail walked up to the published mark)
 * agree with a walk, after every batch. */
static void info_of_a_live_log_matches_a_full_walk(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = SEG_SIZE });
    REQUIRE(log);
    uint64_t n = 0;
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 37 * (round + 1); i++, n++)
            CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, NULL));
        size_t segs = 0;
        free(list_all_segments(s.log, &segs));
        struct walk *w = full_walk(s.log);
        REQUIRE(w);
        CHECK_EQ_U64(w->records, n);
        durlog_info info;
        CHECK_OK(durlog_get_info(log, &info));
        expect_info("writer", &info, segs, 0, n, w->bytes, 0);
        reader_info(s.log, &info);
        expect_info("reader", &info, segs, 0, n, w->bytes, 0);
    }
    CHECK_OK(fx_close(log));
}

/* Without checkpoints or seals (a writer that crashed before any, or an
 * older version): every segment is walked, and the answer is the same. */
static void info_of_an_unsealed_log_matches_a_full_walk(void)
{
    struct scratch s;
    REQUIRE(closed_log(&s, 400) == 0);
    REQUIRE(forget_checkpoints(s.log) > 5);
    size_t segs = 0;
    free(list_all_segments(s.log, &segs));
    struct walk *w = full_walk(s.log);
    REQUIRE(w);
    CHECK_EQ_U64(w->records, 400);
    durlog_info info;
    reader_info(s.log, &info);
    expect_info("reader", &info, segs, 0, 400, w->bytes, 0);
}

/* Copied without its coordination file (cp of the segments only). */
static void info_of_a_log_copied_without_its_coordination_file(void)
{
    struct scratch s;
    REQUIRE(closed_log(&s, 300) == 0);
    char shm[400];
    snprintf(shm, sizeof shm, "%s/%s", s.log, DL_SHM_NAME);
    REQUIRE(unlink(shm) == 0);
    size_t segs = 0;
    free(list_all_segments(s.log, &segs));
    struct walk *w = full_walk(s.log);
    REQUIRE(w);
    durlog_info info;
    reader_info(s.log, &info);
    expect_info("reader", &info, segs, 0, 300, w->bytes, 0);
    CHECK_EQ_U64(info.durable_seq, 300);
}

/* The bytes of the records of segment [first, end) in walk w. */
static uint64_t bytes_between(const struct walk *w, uint64_t first, uint64_t end)
{
    uint64_t b = 0;
    for (uint64_t i = 0; i < w->records; i++)
        if (w->seq[i] >= first && w->seq[i] < end)
            b += w->frame[i];
    return b;
}

/* A segment removed from the middle: exactly its records are missing. */
static void a_removed_segment_counts_as_missing(void)
{
    struct scratch s;
    REQUIRE(closed_log(&s, 500) == 0);
    struct walk *w = full_walk(s.log);
    REQUIRE(w);
    size_t n = 0;
    uint64_t *segs = list_all_segments(s.log, &n);
    REQUIRE(segs && n > 6);
    uint64_t first = segs[3], end = segs[4];
    char path[400];
    REQUIRE(unlink(seg_file(path, sizeof path, s.log, first)) == 0);
    free(segs);
    durlog_info info;
    reader_info(s.log, &info);
    expect_info("reader", &info, n - 1, 0, 500, w->bytes - bytes_between(w, first, end),
                end - first);
}

/* A sealed segment whose file was cut short (its header intact): what the
 * cut took counts as missing, not what the header promised. */
static void a_cut_sealed_segment_counts_what_it_lost(void)
{
    struct scratch s;
    REQUIRE(closed_log(&s, 500) == 0);
    struct walk *w = full_walk(s.log);
    REQUIRE(w);
    size_t n = 0;
    uint64_t *segs = list_all_segments(s.log, &n);
    REQUIRE(segs && n > 6);
    uint64_t first = segs[2], end = segs[3];
    free(segs);
    REQUIRE(segment_flags(s.log, first) & DL_SEG_F_SEALED);
    /* Keep the header and the first 3 records whole, and half of the 4th. */
    uint64_t off = DL_SEG_HEADER_SIZE, kept = 0, i = 0;
    while (i < w->records && w->seq[i] < first)
        i++;
    for (int k = 0; k < 3; k++, i++) {
        off += w->frame[i];
        kept += w->frame[i];
    }
    REQUIRE(w->seq[i] < end);
    char path[400];
    REQUIRE(truncate(seg_file(path, sizeof path, s.log, first),
                     (off_t)(off + w->frame[i] / 2)) == 0);
    durlog_info info;
    reader_info(s.log, &info);
    expect_info("reader", &info, n, 0, 500,
                w->bytes - bytes_between(w, first, end) + kept, end - (first + 3));
}

/* The dl_os seam, counting what reaches segment files: mappings, and reads
 * other than a header's. */
static _Atomic int seg_maps, seg_body_reads;
static _Atomic int counting;     /* set around the calls counted */
static pthread_t counted_thread; /* the writer's own threads (the sealer)
                                    are not info's doing */

static int is_segment_fd(int fd)
{
    if (!atomic_load(&counting) || !pthread_equal(pthread_self(), counted_thread))
        return 0;
    char link[64], target[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (len < 4)
        return 0;
    target[len] = 0;
    return strcmp(target + len - 4, ".seg") == 0;
}

static void *counting_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (fd >= 0 && is_segment_fd(fd))
        atomic_fetch_add(&seg_maps, 1);
    return dl_os_real.mmap(addr, len, prot, flags, fd, off);
}

static ssize_t counting_pread(int fd, void *buf, size_t len, off_t off)
{
    if ((off != 0 || len > DL_SEG_HEADER_SIZE) && is_segment_fd(fd))
        atomic_fetch_add(&seg_body_reads, 1);
    return dl_os_real.pread(fd, buf, len, off);
}

static void put_back_the_seam(void *unused)
{
    (void)unused;
    dl_os.mmap = dl_os_real.mmap;
    dl_os.pread = dl_os_real.pread;
}

/* Waits (up to 10 s) until the writers' sealer has sealed every segment of
 * log but the last; 1 when it has. */
static int all_but_the_tail_sealed(const char *log)
{
    uint64_t start = tu_now_ms();
    for (;;) {
        size_t n = 0, sealed = 0;
        uint64_t *segs = list_all_segments(log, &n);
        for (size_t i = 0; segs && i + 1 < n; i++)
            sealed += (segment_flags(log, segs[i]) & DL_SEG_F_SEALED) != 0;
        free(segs);
        if (n && sealed == n - 1)
            return 1;
        if (tu_now_ms() - start > 10000)
            return 0;
        tu_sleep_ms(2);
    }
}

/* Info on a log of sealed segments opens each for its header and reads
 * nothing else: a reader maps only the tail (walked from its checkpoint);
 * a writer, which knows where its tail ends and where the segments it
 * rolled and has not sealed yet end, maps none. */
static void info_reads_headers_only(void)
{
    struct scratch s;
    REQUIRE(closed_log(&s, 600) == 0);
    /* In the seam before any library thread starts (they read it). */
    counted_thread = pthread_self();
    atomic_store(&counting, 0);
    th_after_case(put_back_the_seam, NULL);
    dl_os.mmap = counting_mmap;
    dl_os.pread = counting_pread;
    durlog *log = fx_writer(s.log, &(durlog_options){ .segment_size = SEG_SIZE });
    REQUIRE(log);
    for (uint64_t i = 600; i < 650; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    durlog_info info;
    atomic_store(&seg_maps, 0);
    atomic_store(&seg_body_reads, 0);
    atomic_store(&counting, 1);
    CHECK_OK(durlog_get_info(log, &info));
    atomic_store(&counting, 0);
    CHECK_EQ_U64(info.next_seq, 650);
    CHECK_EQ_U64(atomic_load(&seg_maps), 0);
    CHECK_EQ_U64(atomic_load(&seg_body_reads), 0);
    atomic_store(&seg_maps, 0);
    REQUIRE(all_but_the_tail_sealed(s.log));
    atomic_store(&counting, 1);
    CHECK_OK(durlog_reader_get_info(r, &info));
    atomic_store(&counting, 0);
    CHECK_EQ_U64(info.next_seq, 650);
    CHECK(atomic_load(&seg_maps) <= 1);
    CHECK_EQ_U64(atomic_load(&seg_body_reads), 0);
    durlog_reader_close(r);
    CHECK_OK(fx_close(log)); /* joins the writer's threads */
    put_back_the_seam(NULL);
}

TEST_MAIN(
    RUN(info_of_a_closed_log_matches_a_full_walk);
    RUN(info_of_a_live_log_matches_a_full_walk);
    RUN(info_of_an_unsealed_log_matches_a_full_walk);
    RUN(info_of_a_log_copied_without_its_coordination_file);
    RUN(a_removed_segment_counts_as_missing);
    RUN(a_cut_sealed_segment_counts_what_it_lost);
    RUN(info_reads_headers_only);
)
