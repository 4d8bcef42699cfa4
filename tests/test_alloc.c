/* Preallocation sized to the log: a new or small log takes a few pages on
 * disk, its tail segment's allocation grows with what it holds, and a log
 * growing through many allocation steps (and rolls) keeps every record.
 * Run in both I/O modes (DURLOG_IO=pwrite) and engines. */
#include <sys/stat.h>

#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/timing.h"
#include "log.h"

#define EXTRA 1000

/* Bytes the file at path occupies on disk (st_blocks), or UINT64_MAX. */
static uint64_t disk_bytes_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

/* Waits (up to 10 s) until the handle's pre-faulter has no request
 * pending: whatever the appends asked of it is done. 1 when it has none. */
static int prefaulter_idle(durlog *log)
{
    uint64_t start = tu_now_ms();
    while (atomic_load(&log->prefault.kicked)) {
        if (tu_now_ms() - start > 10000)
            return 0;
        tu_sleep_ms(1);
    }
    return 1;
}

/* Before this change the pre-faulter allocated 8 MiB past the tail at the
 * first append: two 5-byte records took 8,396,800 bytes. */
static void a_log_of_two_small_records_takes_a_few_pages(void)
{
    struct scratch s;
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "hello", 5, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_append(log, "world", 5, DURLOG_KERNEL, NULL));
    CHECK(prefaulter_idle(log));
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.disk_bytes <= 64 << 10);
    CHECK_OK(fx_close(log)); /* joins the pre-faulter: nothing grows later */
    char seg[400];
    uint64_t disk = disk_bytes_of(seg_file(seg, sizeof seg, s.log, 0));
    if (disk > 64 << 10)
        fprintf(stderr, "  the segment takes %" PRIu64 " bytes on disk\n", disk);
    CHECK(disk <= 64 << 10);
    durlog_reader *r;
    REQUIRE(durlog_reader_open(s.log, NULL, &r) == 0);
    CHECK_OK(durlog_reader_get_info(r, &info));
    CHECK_EQ_U64(info.next_seq, 2);
    CHECK(info.disk_bytes <= 64 << 10);
    durlog_reader_close(r);
}

/* While a log fills its first segment, what is allocated stays within
 * 1 + DL_PREALLOC_RATIO times what it holds (and a step): the pre-faulter
 * works ahead in proportion to what the segment holds, an appender that
 * catches up grows it by a step.
 * The records then go on through many steps and rolls, and every one of
 * them reads back. */
static void allocation_grows_with_the_log_and_keeps_every_record(void)
{
    struct scratch s;
    const uint64_t seg_size = 4 << 20;
    durlog *log = fx_open(&s, &(durlog_options){ .segment_size = seg_size });
    REQUIRE(log);
    char seg[400];
    seg_file(seg, sizeof seg, s.log, 0);
    uint64_t held = DL_SEG_HEADER_SIZE, worst = 0, n = 0, rolled_at = 0;
    const uint64_t slack = 128 << 10;
    for (; n < 30000; n++) {
        uint64_t seq;
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t len = tu_payload(buf, 0, n, EXTRA);
        int rc = durlog_append(log, buf, len, DURLOG_KERNEL, &seq);
        CHECK_OK(rc);
        if (rc)
            break;
        if (!rolled_at) {
            held += 16 + ((len + 3) & ~(uint64_t)3);
            if (held > seg_size) {
                rolled_at = n; /* this one went to the next segment */
                continue;
            }
            uint64_t disk = disk_bytes_of(seg);
            uint64_t bound = (1 + DL_PREALLOC_RATIO) * held;
            if (disk != UINT64_MAX && disk > bound + slack && disk - bound > worst)
                worst = disk - bound;
        }
    }
    if (worst)
        fprintf(stderr, "  the first segment had %" PRIu64 " bytes more than %d times what "
                "it held (and %" PRIu64 ") allocated\n", worst + slack,
                1 + DL_PREALLOC_RATIO, slack);
    CHECK(worst == 0);
    CHECK(rolled_at > 0);
    CHECK_OK(fx_close(log));
    size_t segs = 0;
    free(list_all_segments(s.log, &segs));
    CHECK(segs >= 3);
    uint64_t next_index = 0;
    CHECK_EQ_U64(tu_verify_log(s.log, 0, EXTRA, 1, &next_index), n);
    CHECK_EQ_U64(next_index, n);
}

/* How far the pre-faulter works ahead, from the coordination file's values,
 * including values no writer leaves there (it is anyone's to write). */
static void the_distance_ahead_follows_the_log_and_is_bounded(void)
{
    static struct dl_shared sh; /* zero */
    sh.tail_seg = 100;
    sh.tail_off = DL_SEG_HEADER_SIZE;
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), DL_PREALLOC_AHEAD_MIN);
    sh.tail_off = 1 << 20;
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), (uint64_t)DL_PREALLOC_RATIO << 20);
    sh.tail_off = (uint64_t)64 << 20;
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), DL_PREALLOC_AHEAD);
    /* Just after a roll from a full segment: the full distance at once. */
    sh.tail_off = DL_SEG_HEADER_SIZE;
    struct dl_seal_note note = { 40, 100, (uint64_t)64 << 20, 7 };
    dl_seal_note_push(&sh, &note);
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), DL_PREALLOC_AHEAD);
    /* A note about another segment's end says nothing of this one. */
    sh.tail_seg = 200;
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), DL_PREALLOC_AHEAD_MIN);
    /* Absurd values stay within the bounds. */
    note = (struct dl_seal_note){ 100, 200, UINT64_MAX, 7 };
    dl_seal_note_push(&sh, &note);
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), DL_PREALLOC_AHEAD);
    sh.tail_off = UINT64_MAX;
    CHECK_EQ_U64(dl_prealloc_ahead(&sh), DL_PREALLOC_AHEAD);
    atomic_store(&sh.seal_pushed, UINT64_MAX);
    sh.tail_off = 0;
    CHECK(dl_prealloc_ahead(&sh) >= DL_PREALLOC_AHEAD_MIN &&
          dl_prealloc_ahead(&sh) <= DL_PREALLOC_AHEAD);
}

TEST_MAIN(
    RUN(a_log_of_two_small_records_takes_a_few_pages);
    RUN(allocation_grows_with_the_log_and_keeps_every_record);
    RUN(the_distance_ahead_follows_the_log_and_is_bounded);
)
