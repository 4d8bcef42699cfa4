/* Basic life cycle: create, append at each level, read back, reopen. */
#include "harness.h"

static void append_then_read_back_each_level(void)
{
    char dir[256], path[300];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/log", dir);
    durlog *log;
    CHECK_OK(durlog_open(path, NULL, &log));
    REQUIRE(log);
    uint64_t seq = 99;
    CHECK_OK(durlog_append(log, "k0", 2, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, 0);
    CHECK_OK(durlog_append(log, "b1", 2, DURLOG_BUFFERED, &seq));
    CHECK_EQ_U64(seq, DURLOG_SEQ_PENDING);
    CHECK_OK(durlog_append(log, "i2", 2, DURLOG_INTERVAL, &seq));
    CHECK_EQ_U64(seq, 2);
    CHECK_OK(durlog_append(log, "s3", 2, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 3);
    CHECK_OK(durlog_append(log, "", 0, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, 4);
    durlog_info info = { 0 };
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 5);
    CHECK(info.durable_seq >= 4);
    CHECK_OK(durlog_close(log));

    durlog_reader *r;
    CHECK_OK(durlog_reader_open(path, NULL, &r));
    REQUIRE(r);
    const char *want[] = { "k0", "b1", "i2", "s3", "" };
    durlog_record rec;
    for (int i = 0; i < 5; i++) {
        CHECK_OK(durlog_reader_next(r, &rec));
        CHECK_EQ_U64(rec.seq, i);
        CHECK_EQ_U64(rec.len, strlen(want[i]));
        CHECK(memcmp(rec.data, want[i], rec.len) == 0);
    }
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_reader_close(r);

    CHECK_OK(durlog_open(path, NULL, &log));
    CHECK_OK(durlog_append(log, "again", 5, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, 5);
    CHECK_OK(durlog_close(log));
    test_rmrf(dir);
}

TEST_MAIN(RUN(append_then_read_back_each_level);)
