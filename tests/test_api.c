/*
 * The public API's shape (issue #16): a zero-filled options struct means the
 * defaults for every field, structs can grow (reserved space, checked on the
 * way in and zeroed on the way out), one code per condition, and a detailed
 * message reachable without an options struct.
 */
#include "harness.h"
#include "log.h"

static void log_path(char *path, size_t size, const char *name)
{
    char dir[256];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, size, "%s/%s", dir, name);
}

/* `durlog_options o = {0}` is the same as durlog_options_init() and as NULL:
 * each field's default, looked at on the open handle. */
static void zero_filled_options_mean_the_defaults(void)
{
    char path[300];
    log_path(path, sizeof path, "zero");
    durlog_options o = { 0 };
    durlog *log = NULL;
    mode_t old_umask = umask(022);
    CHECK_OK(durlog_open(path, &o, &log)); /* creates the missing log */
    umask(old_umask);
    REQUIRE(log);
    CHECK(log->opts.default_level == DURLOG_KERNEL);
    CHECK_EQ_U64(log->opts.segment_size, DURLOG_DEFAULT_SEGMENT_SIZE);
    CHECK_EQ_U64(log->opts.interval_ms, DURLOG_DEFAULT_INTERVAL_MS);
    CHECK_EQ_U64(log->opts.mode, 0644);
    CHECK_EQ_U64(log->opts.buffer_size, DL_DEFAULT_BUFFER_SIZE);
    CHECK_EQ_U64(log->opts.max_pending, DL_DEFAULT_MAX_PENDING);
    CHECK(!log->opts.no_create);
    CHECK(!log->opts.poll_callbacks);
    /* Engine and I/O mode on auto: whichever the machine allows, named. */
    CHECK(strcmp(durlog_engine(log), "io_uring") == 0 ||
          strcmp(durlog_engine(log), "thread") == 0);
    char fs[32], mode[16];
    CHECK_OK(durlog_fs_type(path, fs, sizeof fs, mode, sizeof mode));
    if (!getenv("DURLOG_IO"))
        CHECK(strcmp(durlog_io(log), mode) == 0);
    /* Callbacks run on the engine thread, not in durlog_poll. */
    CHECK_RC(durlog_poll(log, 0), -EINVAL);

    /* The default level is kernel: visible at once, with its number. */
    uint64_t seq = 77;
    CHECK_OK(durlog_append_default(log, "a", 1, &seq));
    CHECK_EQ_U64(seq, 0);
    CHECK_OK(durlog_append(log, "b", 1, DURLOG_DEFAULT, &seq));
    CHECK_EQ_U64(seq, 1);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 2);

    /* Permissions 0644 less the umask: the coordination file's. */
    struct stat st;
    char shm[400];
    snprintf(shm, sizeof shm, "%s/durlog.shm", path);
    CHECK(stat(shm, &st) == 0);
    CHECK_EQ_U64(st.st_mode & 0777, 0644);
    CHECK_OK(durlog_close(log));

    /* NULL options and init'ed options give the same handle settings. */
    durlog_options init;
    memset(&init, 0xa5, sizeof init);
    durlog_options_init(&init);
    CHECK(memcmp(&init, &o, sizeof o) == 0);
    CHECK_OK(durlog_open(path, NULL, &log));
    REQUIRE(log);
    CHECK(log->opts.default_level == DURLOG_KERNEL);
    CHECK_EQ_U64(log->opts.segment_size, DURLOG_DEFAULT_SEGMENT_SIZE);
    CHECK_OK(durlog_close(log));
}

/* DURLOG_DEFAULT follows the handle's default level wherever a level is
 * taken: a handle whose default is sync makes DEFAULT appends durable. */
static void default_level_follows_the_option(void)
{
    char path[300];
    log_path(path, sizeof path, "deflevel");
    durlog_options o = { 0 };
    o.default_level = DURLOG_SYNC;
    durlog *log = NULL;
    CHECK_OK(durlog_open(path, &o, &log));
    REQUIRE(log);
    uint64_t seq;
    CHECK_OK(durlog_append(log, "s", 1, DURLOG_DEFAULT, &seq));
    CHECK_EQ_U64(seq, 0);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.durable_seq, 1);
    o.default_level = DURLOG_BUFFERED;
    CHECK_OK(durlog_close(log));
    CHECK_OK(durlog_open(path, &o, &log));
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "b", 1, DURLOG_DEFAULT, &seq));
    CHECK_EQ_U64(seq, DURLOG_SEQ_PENDING);
    CHECK_OK(durlog_flush(log, DURLOG_DEFAULT)); /* buffered: nothing to do */
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 1);
    CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 2);
    CHECK_OK(durlog_close(log));
    CHECK(strcmp(durlog_level_name(DURLOG_DEFAULT), "default") == 0);
    durlog_level l;
    CHECK_RC(durlog_level_parse("default", &l), -EINVAL);
    CHECK_OK(durlog_level_parse("buffered", &l));
    CHECK(l == DURLOG_BUFFERED);
}

/* no_create: a missing log is -ENOENT and nothing is created. */
static void no_create_does_not_create(void)
{
    char path[300];
    log_path(path, sizeof path, "absent");
    durlog_options o = { 0 };
    o.no_create = 1;
    durlog *log = (durlog *)1;
    CHECK_RC(durlog_open(path, &o, &log), -ENOENT);
    CHECK(log == NULL);
    struct stat st;
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
}

/* A nonzero reserved word is refused, with a message, by every struct the
 * library reads; structs it fills come back with their reserved space
 * zeroed. */
static void reserved_space_is_checked_and_cleared(void)
{
    char path[300];
    log_path(path, sizeof path, "reserved");
    durlog_options o = { 0 };
    o.reserved[DURLOG_RESERVED_WORDS - 1] = 1;
    char err[256] = "";
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    durlog *log = NULL;
    CHECK_RC(durlog_open(path, &o, &log), -EINVAL);
    CHECK(strstr(err, "reserved") != NULL);
    CHECK(strstr(durlog_last_errmsg(), "reserved") != NULL);
    struct stat st;
    CHECK(stat(path, &st) != 0); /* refused before anything was created */

    o.reserved[DURLOG_RESERVED_WORDS - 1] = 0;
    CHECK_OK(durlog_open(path, &o, &log));
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "x", 1, DURLOG_KERNEL, NULL));
    durlog_info info;
    memset(&info, 0xff, sizeof info);
    CHECK_OK(durlog_get_info(log, &info));
    for (int i = 0; i < DURLOG_RESERVED_WORDS; i++)
        CHECK_EQ_U64(info.reserved[i], 0);
    durlog_recovery rec;
    memset(&rec, 0xff, sizeof rec);
    durlog_last_recovery(log, &rec);
    for (int i = 0; i < DURLOG_RESERVED_WORDS; i++)
        CHECK_EQ_U64(rec.reserved[i], 0);
    CHECK_OK(durlog_close(log));

    durlog_reader_options ro = { 0 };
    ro.reserved[0] = 42;
    durlog_reader *r = NULL;
    CHECK_RC(durlog_reader_open(path, &ro, &r), -EINVAL);
    CHECK(r == NULL);
    CHECK(strstr(durlog_last_errmsg(), "reserved") != NULL);
    ro.reserved[0] = 0;
    CHECK_OK(durlog_reader_open(path, &ro, &r));
    REQUIRE(r);
    memset(&info, 0xff, sizeof info);
    CHECK_OK(durlog_reader_get_info(r, &info));
    for (int i = 0; i < DURLOG_RESERVED_WORDS; i++)
        CHECK_EQ_U64(info.reserved[i], 0);
    durlog_reader_close(r);

    durlog_check_report rep;
    memset(&rep, 0xff, sizeof rep);
    CHECK_OK(durlog_check(path, 0, &rep));
    CHECK(!rep.damaged);
    for (int i = 0; i < DURLOG_RESERVED_WORDS; i++)
        CHECK_EQ_U64(rep.reserved[i], 0);
}

/* durlog_open's detailed message is reachable with NULL options. */
static void open_message_without_options(void)
{
    char path[300];
    log_path(path, sizeof path, "plainfile");
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    durlog *log = NULL;
    int rc = durlog_open(path, NULL, &log);
    CHECK(rc == -ENOTDIR);
    CHECK(strstr(durlog_last_errmsg(), path) != NULL);
    durlog_reader *r = NULL;
    CHECK_RC(durlog_reader_open(path, NULL, &r), -ENOTDIR);
    CHECK(strstr(durlog_last_errmsg(), path) != NULL);
    durlog_check_report rep;
    CHECK_RC(durlog_check(path, 0, &rep), -ENOTDIR);
    CHECK(strstr(durlog_last_errmsg(), path) != NULL);
}

/* One condition, one code: errno's names for what errno names. */
static void one_code_per_condition(void)
{
    char path[300];
    log_path(path, sizeof path, "codes");
    durlog *log = NULL;
    CHECK_OK(durlog_open(path, NULL, &log));
    REQUIRE(log);
    /* A record above the limit: -EMSGSIZE, nothing appended. */
    static const char byte = 'x';
    durlog_iov big = { &byte, DURLOG_MAX_RECORD + 1 };
    CHECK_RC(durlog_append_batch(log, &big, 1, DURLOG_KERNEL, NULL), -EMSGSIZE);
    CHECK_RC(durlog_append(log, "x", 1, (durlog_level)(DURLOG_SYNC + 1), NULL), -EINVAL);
    /* A wait that runs out: -ETIMEDOUT. */
    CHECK_RC(durlog_wait(log, 5, DURLOG_KERNEL, 10), -ETIMEDOUT);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 0);
    CHECK_OK(durlog_close(log));

    /* Options out of range: -EINVAL, with the message. */
    durlog_options o = { 0 };
    o.buffer_size = ((size_t)1 << 30) + 1;
    CHECK_RC(durlog_open(path, &o, &log), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "buffer_size") != NULL);
    o.buffer_size = (size_t)1 << 30; /* the limit itself is allowed */
    CHECK_OK(durlog_open(path, &o, &log));
    CHECK_OK(durlog_close(log));

    /* Every durlog code has its own text; errno codes get strerror's. */
    static const int own[] = { DURLOG_ECORRUPT, DURLOG_EFORMAT, DURLOG_EFAILED,
                               DURLOG_EEND, DURLOG_ENOTFOUND, DURLOG_EDIRSYNC,
                               DURLOG_ENOTDURABLE };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        CHECK(strcmp(durlog_strerror(own[i]), "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(durlog_strerror(own[i]), durlog_strerror(own[j])) != 0);
    }
    CHECK(strcmp(durlog_strerror(-EINVAL), strerror(EINVAL)) == 0);
    CHECK(strcmp(durlog_strerror(-1005), "unknown error") == 0); /* retired */
}

TEST_MAIN(
    RUN(zero_filled_options_mean_the_defaults);
    RUN(default_level_follows_the_option);
    RUN(no_create_does_not_create);
    RUN(reserved_space_is_checked_and_cleared);
    RUN(open_message_without_options);
    RUN(one_code_per_condition);
)
