/*
 * The public API's shape (issue #16): a zero-filled options struct means the
 * defaults for every field, structs can grow (reserved space, checked on the
 * way in and zeroed on the way out), one code per condition, and a detailed
 * message reachable without an options struct. And the misuses it refuses
 * instead of crashing, hanging or doing something else: NULL handles, bad
 * timeouts, waits that could never end, empty batches, a directory that is
 * not a log, a seek that fails half way; and the safe way to end a blocking
 * wait from another thread (durlog_interrupt).
 */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "harness.h"
#include "log.h"

static void log_path(char *path, size_t size, const char *name)
{
    char dir[256];
    test_tmpdir(dir, sizeof dir);
    snprintf(path, size, "%s/%s", dir, name);
}

/* A new log `name` in a scratch directory of its own (its path in path),
 * opened with the default options; NULL after a failed check. */
static durlog *open_new_log(char *path, size_t size, const char *name)
{
    durlog *log = NULL;
    log_path(path, size, name);
    CHECK_OK(durlog_open(path, NULL, &log));
    return log;
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
    durlog_options o = { .default_level = DURLOG_SYNC };
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

/* mode 0777 (or 0666) under umask 0 asks for a directory every user may
 * write to, which durlog_open refuses: it used to create it anyway, then
 * refuse it (-EPERM), leaving an empty world-writable directory behind
 * that every later open refused too. The directory is created without
 * write for others. */
static void a_mode_writable_by_everyone_still_makes_a_usable_log(void)
{
    char path[300];
    log_path(path, sizeof path, "mode0777");
    durlog_options o = { .mode = 0777 };
    durlog *log = NULL;
    mode_t old_umask = umask(0);
    int rc = durlog_open(path, &o, &log);
    umask(old_umask);
    CHECK_OK(rc);
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "x", 1, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(log));
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK((st.st_mode & S_IWOTH) == 0);
    CHECK_OK(durlog_open(path, &o, &log));
    CHECK_OK(durlog_close(log));
}

/* no_create: a missing log is -ENOENT and nothing is created. */
static void no_create_does_not_create(void)
{
    char path[300];
    log_path(path, sizeof path, "absent");
    durlog_options o = { .no_create = 1 };
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
    const size_t last = sizeof o.reserved / sizeof o.reserved[0] - 1;
    o.reserved[last] = 1;
    char err[256] = "";
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    durlog *log = NULL;
    CHECK_RC(durlog_open(path, &o, &log), -EINVAL);
    CHECK(strstr(err, "reserved") != NULL);
    CHECK(strstr(durlog_last_errmsg(), "reserved") != NULL);
    struct stat st;
    CHECK(stat(path, &st) != 0); /* refused before anything was created */

    o.reserved[last] = 0;
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
    for (size_t i = 0; i < sizeof rep.reserved / sizeof rep.reserved[0]; i++)
        CHECK_EQ_U64(rep.reserved[i], 0);
    CHECK_EQ_U64(rep.old_format_segments, 0);
    CHECK_EQ_U64(rep.converted, 0);
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
    durlog *log = open_new_log(path, sizeof path, "codes");
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
    durlog_options o = { .buffer_size = ((size_t)1 << 30) + 1 };
    CHECK_RC(durlog_open(path, &o, &log), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "buffer_size") != NULL);
    o.buffer_size = (size_t)1 << 30; /* the limit itself is allowed */
    CHECK_OK(durlog_open(path, &o, &log));
    CHECK_OK(durlog_close(log));

    /* Every durlog code has its own text; errno codes get strerror's. */
    static const int own[] = { DURLOG_ECORRUPT, DURLOG_EFORMAT, DURLOG_EFAILED,
                               DURLOG_EEND, DURLOG_ENOTFOUND, DURLOG_EDIRSYNC,
                               DURLOG_ENOTDURABLE, DURLOG_ETRIMMED };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        CHECK(strcmp(durlog_strerror(own[i]), "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(durlog_strerror(own[i]), durlog_strerror(own[j])) != 0);
    }
    CHECK(strcmp(durlog_strerror(-EINVAL), strerror(EINVAL)) == 0);
    CHECK(strcmp(durlog_strerror(-1005), "unknown error") == 0); /* retired */
}


static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Names in directory `path` other than "." and "..", at most 8. */
static int dir_entries(const char *path, char names[8][64])
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n < 8)
            snprintf(names[n], 64, "%.63s", de->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* A directory that exists but holds no log is never turned into one by
 * accident (a typo naming $HOME): refused with DURLOG_EFORMAT and left as it
 * was, whether or not the open may create a log. An empty directory is where
 * a new log may go; with no_create it is no log either. */
static void a_directory_without_a_log_is_not_taken_for_one(void)
{
    char dir[300], note[400];
    log_path(dir, sizeof dir, "notes");
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(note, sizeof note, "%s/notes.txt", dir);
    int fd = open(note, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "mine\n", 5) == 5);
    close(fd);

    durlog_options o = { 0 };
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_size = sizeof err;
    durlog *log = (durlog *)1;
    for (int no_create = 0; no_create < 2; no_create++) {
        o.no_create = no_create;
        err[0] = '\0';
        CHECK_RC(durlog_open(dir, &o, &log), DURLOG_EFORMAT);
        CHECK(log == NULL);
        CHECK(strstr(err, dir) != NULL);
        CHECK(strstr(err, "no log") != NULL);
        if (!strstr(err, "no log"))
            fprintf(stderr, "  message: %s\n", err);
        char names[8][64];
        CHECK_EQ_U64(dir_entries(dir, names), 1); /* notes.txt alone */
        CHECK(strcmp(names[0], "notes.txt") == 0);
    }

    /* An empty directory: no log for no_create, a new log otherwise. */
    char empty[300];
    log_path(empty, sizeof empty, "empty");
    REQUIRE(mkdir(empty, 0755) == 0);
    o.no_create = 1;
    CHECK_RC(durlog_open(empty, &o, &log), DURLOG_EFORMAT);
    char names[8][64];
    CHECK_EQ_U64(dir_entries(empty, names), 0);
    o.no_create = 0;
    CHECK_OK(durlog_open(empty, &o, &log));
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "r", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    /* ...which no_create then opens, and a log with other files in it
     * (someone's notes next to the segments) is still a log. */
    char extra[400];
    snprintf(extra, sizeof extra, "%s/README", empty);
    fd = open(extra, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    o.no_create = 1;
    CHECK_OK(durlog_open(empty, &o, &log));
    REQUIRE(log);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 1);
    CHECK_OK(durlog_close(log));
}

/* A NULL handle is -EINVAL for every function that returns a code, nothing
 * for those that return nothing, and a static string for those that return
 * one; so is a NULL out-parameter where a result must go. */
static void null_handles_and_results_are_refused(void)
{
    uint64_t seq;
    durlog_iov one = { "x", 1 };
    durlog_info info;
    CHECK_RC(durlog_close(NULL), -EINVAL);
    CHECK_RC(durlog_append(NULL, "x", 1, DURLOG_KERNEL, &seq), -EINVAL);
    CHECK_RC(durlog_append_default(NULL, "x", 1, &seq), -EINVAL);
    CHECK_RC(durlog_append_batch(NULL, &one, 1, DURLOG_KERNEL, &seq), -EINVAL);
    CHECK_RC(durlog_flush(NULL, DURLOG_SYNC), -EINVAL);
    CHECK_RC(durlog_wait(NULL, 0, DURLOG_KERNEL, 0), -EINVAL);
    CHECK_RC(durlog_append_async(NULL, "x", 1, DURLOG_SYNC, NULL, NULL, &seq), -EINVAL);
    CHECK_RC(durlog_append_batch_async(NULL, &one, 1, DURLOG_SYNC, NULL, NULL, &seq),
             -EINVAL);
    CHECK_RC(durlog_poll(NULL, 0), -EINVAL);
    CHECK_RC(durlog_event_fd(NULL), -EINVAL);
    CHECK_RC(durlog_get_info(NULL, &info), -EINVAL);
    CHECK_RC(durlog_interrupt(NULL), -EINVAL);
    CHECK(durlog_errmsg(NULL) != NULL && durlog_errmsg(NULL)[0]);
    CHECK(durlog_engine(NULL) != NULL);
    CHECK(durlog_io(NULL) != NULL);
    durlog_recovery rec;
    memset(&rec, 0xff, sizeof rec);
    durlog_last_recovery(NULL, &rec);
    CHECK_EQ_U64(rec.performed, 0);
    durlog_options_init(NULL);
    CHECK_RC(durlog_fs_type(NULL, NULL, 0, NULL, 0), -EINVAL);
    /* durlog_open's message says which argument (it said "path and out are
     * required" for an empty path, and `durlog append "" x` printed it). */
    durlog *nolog = NULL;
    CHECK_RC(durlog_open("", NULL, &nolog), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "path is empty") != NULL);
    CHECK_RC(durlog_open(NULL, NULL, &nolog), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "path is NULL") != NULL);
    CHECK_RC(durlog_open("x", NULL, NULL), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "out is NULL") != NULL);

    durlog_record r;
    CHECK_RC(durlog_reader_seek(NULL, 0), -EINVAL);
    CHECK_RC(durlog_reader_next(NULL, &r), -EINVAL);
    CHECK_RC(durlog_reader_wait(NULL, 0), -EINVAL);
    CHECK_RC(durlog_reader_get_info(NULL, &info), -EINVAL);
    CHECK_RC(durlog_reader_interrupt(NULL), -EINVAL);
    CHECK_EQ_U64(durlog_reader_skipped(NULL), 0);
    CHECK(durlog_reader_errmsg(NULL) != NULL && durlog_reader_errmsg(NULL)[0]);
    durlog_reader_close(NULL);
    durlog_reader_options_init(NULL);

    /* NULL where the result goes, on live handles. */
    char path[300];
    durlog *log = open_new_log(path, sizeof path, "nullout");
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "x", 1, DURLOG_KERNEL, NULL));
    CHECK_RC(durlog_get_info(log, NULL), -EINVAL);
    durlog_last_recovery(log, NULL);
    durlog_reader *rd = NULL;
    CHECK_OK(durlog_reader_open(path, NULL, &rd));
    REQUIRE(rd);
    CHECK_RC(durlog_reader_next(rd, NULL), -EINVAL);
    CHECK_RC(durlog_reader_get_info(rd, NULL), -EINVAL);
    CHECK_OK(durlog_reader_next(rd, &r)); /* the refusal consumed nothing */
    CHECK_EQ_U64(r.seq, 0);
    durlog_reader_close(rd);
    CHECK_OK(durlog_close(log));
}

/* durlog_check with a NULL path leaves *report untouched, as its manual
 * says, and so must not read it either: durlog_last_errmsg() was copied
 * from report->problem, the caller's uninitialised bytes (read past the
 * struct where they held no NUL). A directory that holds no log is
 * DURLOG_EFORMAT, not a clean log of 0 records. */
static void check_refuses_a_null_path_and_a_directory_without_a_log(void)
{
    durlog_check_report rep;
    memset(&rep, 0xff, sizeof rep);
    CHECK_RC(durlog_check(NULL, 0, &rep), -EINVAL);
    CHECK_EQ_U64(rep.records, UINT64_MAX); /* untouched */
    CHECK(strstr(durlog_last_errmsg(), "durlog_check") != NULL);
    CHECK_RC(durlog_check(NULL, 0, NULL), -EINVAL);

    char path[300];
    log_path(path, sizeof path, "notalog");
    REQUIRE(mkdir(path, 0755) == 0);
    char file[400];
    snprintf(file, sizeof file, "%s/notes.txt", path);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_RC(durlog_check(path, 0, &rep), DURLOG_EFORMAT);
    CHECK(strstr(rep.problem, "not a durlog log") != NULL);
    CHECK(strstr(durlog_last_errmsg(), path) != NULL);
    CHECK_RC(durlog_check(path, DURLOG_CHECK_REPAIR, &rep), DURLOG_EFORMAT);
    /* A log with no record yet is one. */
    char empty[300];
    durlog *log = open_new_log(empty, sizeof empty, "emptylog");
    REQUIRE(log);
    CHECK_OK(durlog_check(empty, 0, &rep));
    CHECK_OK(durlog_close(log));
    CHECK_OK(durlog_check(empty, 0, &rep));
    CHECK(!rep.damaged);
}

/* Only -1 means "no limit": any other negative timeout is a mistake, and
 * used to wait forever. A sequence number no record can have (2^63 and up:
 * DURLOG_SEQ_PENDING among them) is refused instead of waited for. A hang
 * ends the program (SIGALRM): a failure, not a stuck suite. */
static void bad_timeouts_and_impossible_waits_are_einval(void)
{
    char path[300];
    log_path(path, sizeof path, "timeouts");
    durlog_options o = { .poll_callbacks = 1 };
    durlog *log = NULL;
    CHECK_OK(durlog_open(path, &o, &log));
    REQUIRE(log);
    durlog_reader *r = NULL;
    CHECK_OK(durlog_reader_open(path, NULL, &r));
    REQUIRE(r);
    alarm(20);
    static const int bad[] = { -2, -1000, INT_MIN };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(durlog_wait(log, 3, DURLOG_KERNEL, bad[i]), -EINVAL);
        CHECK_RC(durlog_poll(log, bad[i]), -EINVAL);
        CHECK_RC(durlog_reader_wait(r, bad[i]), -EINVAL);
    }
    static const uint64_t impossible[] = { DURLOG_SEQ_PENDING, (uint64_t)1 << 63 };
    for (size_t i = 0; i < 2; i++)
        for (durlog_level l = DURLOG_DEFAULT; l <= DURLOG_SYNC; l++)
            CHECK_RC(durlog_wait(log, impossible[i], l, 0), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "2^63") != NULL);
    /* -1 and 0 are fine. */
    CHECK_RC(durlog_wait(log, 3, DURLOG_KERNEL, 0), -ETIMEDOUT);
    CHECK_OK(durlog_poll(log, 0));
    CHECK_RC(durlog_reader_wait(r, 0), -ETIMEDOUT);
    alarm(0);
    durlog_reader_close(r);
    CHECK_OK(durlog_close(log));
}

static _Atomic int empty_batch_callbacks;

static void count_callback(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    (void)status;
    atomic_fetch_add(&empty_batch_callbacks, 1);
}

/* An empty batch is -EINVAL at every level, synchronous or not (it used to
 * be 0 with sequence number UINT64_MAX one way and -EINVAL the other), and
 * appends nothing. */
static void an_empty_batch_is_einval_in_both_forms(void)
{
    char path[300];
    durlog *log = open_new_log(path, sizeof path, "emptybatch");
    REQUIRE(log);
    durlog_iov iov[1] = { { "x", 1 } };
    uint64_t seq;
    for (durlog_level l = DURLOG_DEFAULT; l <= DURLOG_SYNC; l++) {
        CHECK_RC(durlog_append_batch(log, iov, 0, l, &seq), -EINVAL);
        CHECK_RC(durlog_append_batch(log, NULL, 0, l, &seq), -EINVAL);
    }
    for (durlog_level l = DURLOG_KERNEL; l <= DURLOG_SYNC; l++)
        CHECK_RC(durlog_append_batch_async(log, iov, 0, l, count_callback, NULL, &seq),
                 -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "batch") != NULL);
    CHECK_OK(durlog_flush(log, DURLOG_SYNC));
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 0);
    CHECK_OK(durlog_close(log));
    CHECK_EQ_U64(atomic_load(&empty_batch_callbacks), 0);
}

/* A seek that fails (before the log, past its end, to UINT64_MAX) leaves
 * the reader where it was: the next record is the one it would have been. */
static void a_failed_seek_leaves_the_reader_where_it_was(void)
{
    char path[300];
    log_path(path, sizeof path, "seek");
    /* Records in several segments */
    durlog_options o = { .segment_size = 4096 };
    durlog *log = NULL;
    CHECK_OK(durlog_open(path, &o, &log));
    REQUIRE(log);
    char payload[200];
    memset(payload, 'p', sizeof payload);
    for (int i = 0; i < 100; i++)
        CHECK_OK(durlog_append(log, payload, sizeof payload, DURLOG_KERNEL, NULL));
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.segments > 2);
    durlog_reader *r = NULL;
    CHECK_OK(durlog_reader_open(path, NULL, &r));
    REQUIRE(r);
    durlog_record rec;
    for (uint64_t i = 0; i < 3; i++) {
        CHECK_OK(durlog_reader_next(r, &rec));
        CHECK_EQ_U64(rec.seq, i);
    }
    static const uint64_t beyond[] = { 101, 5000, UINT64_MAX, (uint64_t)1 << 63 };
    uint64_t expect = 3;
    for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++) {
        CHECK_RC(durlog_reader_seek(r, beyond[i]), DURLOG_ENOTFOUND);
        CHECK_OK(durlog_reader_next(r, &rec));
        CHECK_EQ_U64(rec.seq, expect);
        expect++;
    }
    /* From another segment, and after a successful seek. */
    CHECK_OK(durlog_reader_seek(r, 60));
    CHECK_RC(durlog_reader_seek(r, UINT64_MAX), DURLOG_ENOTFOUND);
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 60);
    /* The end itself is a place to be. */
    CHECK_OK(durlog_reader_seek(r, 100));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    CHECK_RC(durlog_reader_seek(r, 102), DURLOG_ENOTFOUND);
    CHECK_OK(durlog_append(log, payload, 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 100);
    durlog_reader_close(r);
    CHECK_OK(durlog_close(log));

    /* A log with no segment left and no writer: only 0 is a place to be
     * (UINT64_MAX was taken for its end). */
    log_path(path, sizeof path, "seek-empty");
    CHECK_OK(durlog_open(path, NULL, &log));
    CHECK_OK(durlog_close(log));
    char seg[sizeof path + 32];
    snprintf(seg, sizeof seg, "%s/00000000000000000000.seg", path);
    REQUIRE(unlink(seg) == 0 || errno == ENOENT); /* none if nothing was appended */
    CHECK_OK(durlog_reader_open(path, NULL, &r));
    REQUIRE(r);
    CHECK_RC(durlog_reader_seek(r, UINT64_MAX), DURLOG_ENOTFOUND);
    CHECK_RC(durlog_reader_seek(r, 1), DURLOG_ENOTFOUND);
    CHECK_OK(durlog_reader_seek(r, 0));
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_reader_close(r);
}

/* --- durlog_interrupt ---------------------------------------------------- */

enum blocking_call { WAIT, POLL, READER_WAIT };
static const char *const call_names[] = { "durlog_wait", "durlog_poll", "durlog_reader_wait" };

struct blocked {
    enum blocking_call call;
    durlog *log;
    durlog_reader *r;
    _Atomic int rc;
    _Atomic int done;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    int rc = 0;
    switch (b->call) {
    case WAIT: rc = durlog_wait(b->log, 0, DURLOG_KERNEL, -1); break;
    case POLL: rc = durlog_poll(b->log, -1); break;
    case READER_WAIT: rc = durlog_reader_wait(b->r, -1); break;
    }
    atomic_store(&b->rc, rc);
    atomic_store(&b->done, 1);
    return NULL;
}

static int wait_done(struct blocked *b, unsigned ms)
{
    uint64_t start = now_ms();
    while (!atomic_load(&b->done) && now_ms() - start < ms)
        sleep_ms(1);
    return atomic_load(&b->done);
}

static int interrupt_call(const struct blocked *b)
{
    return b->call == READER_WAIT ? durlog_reader_interrupt(b->r) : durlog_interrupt(b->log);
}

/* Opens a log with nothing in it (so every wait blocks), in poll mode, and a
 * reader on it. */
static void open_idle(const char *name, durlog **log, durlog_reader **r)
{
    char path[300];
    log_path(path, sizeof path, name);
    durlog_options o = { .poll_callbacks = 1 };
    *log = NULL;
    *r = NULL;
    CHECK_OK(durlog_open(path, &o, log));
    if (*log)
        CHECK_OK(durlog_reader_open(path, NULL, r));
}

/* What ends a call the interrupt did not: the event it waits for. */
static void release(durlog *log)
{
    durlog_append_async(log, "x", 1, DURLOG_KERNEL, NULL, NULL, NULL);
}

/* Runs b's call on a thread of its own, lets it block, interrupts it (with
 * a call, or a signal whose handler makes it), and checks that the call
 * returns -EINTR within 2 s. */
static void interrupt_blocked(struct blocked *b, int by_signal)
{
    pthread_t th;
    if (pthread_create(&th, NULL, blocked_main, b) != 0) {
        CHECK(!"pthread_create");
        return;
    }
    sleep_ms(100);
    CHECK(!atomic_load(&b->done)); /* blocked */
    uint64_t t0 = now_ms();
    if (by_signal)
        pthread_kill(th, SIGUSR1);
    else
        CHECK_OK(interrupt_call(b));
    int done = wait_done(b, 5000);
    if (!done) {
        fprintf(stderr, "  %s was not interrupted%s\n", call_names[b->call],
                by_signal ? " by the handler" : "");
        release(b->log);
    }
    CHECK(done);
    pthread_join(th, NULL);
    CHECK_RC(atomic_load(&b->rc), -EINTR);
    CHECK(now_ms() - t0 < 2000);
}

/* Each blocking call, blocked with no limit in another thread, returns
 * -EINTR promptly after durlog_interrupt (durlog_reader_interrupt), and the
 * handle goes on working: interrupt, join, then close is the safe shutdown. */
static void interrupt_ends_a_blocked_wait(void)
{
    for (enum blocking_call c = WAIT; c <= READER_WAIT; c++) {
        durlog *log;
        durlog_reader *r;
        open_idle("intr", &log, &r);
        REQUIRE(log && r);
        struct blocked b = { c, log, r, 1, 0 };
        interrupt_blocked(&b, 0);
        /* Still usable; the interrupt was taken. */
        CHECK_OK(durlog_append(log, "y", 1, DURLOG_KERNEL, NULL));
        CHECK_OK(durlog_wait(log, 0, DURLOG_KERNEL, -1));
        CHECK_OK(durlog_reader_wait(r, -1));
        CHECK_RC(durlog_wait(log, 1, DURLOG_KERNEL, 20), -ETIMEDOUT);
        durlog_reader_close(r);
        CHECK_OK(durlog_close(log));
    }
}

/* A reader that spins (spin_us: here 20 s) is interrupted as promptly as
 * one that sleeps: the interrupt used to be looked at only once the spin
 * was over, 20 s later. A pending interrupt ends the next spinning wait at
 * once, and a wait with a timeout of 0 leaves it alone. */
static void interrupt_ends_a_spinning_reader_wait(void)
{
    char path[300];
    durlog *log = open_new_log(path, sizeof path, "spin");
    REQUIRE(log);
    durlog_reader_options ro = { .spin_us = 20u * 1000 * 1000 };
    durlog_reader *r = NULL;
    CHECK_OK(durlog_reader_open(path, &ro, &r));
    REQUIRE(r);
    alarm(60);
    struct blocked b = { READER_WAIT, log, r, 1, 0 };
    interrupt_blocked(&b, 0);
    CHECK_OK(durlog_reader_interrupt(r));
    CHECK_RC(durlog_reader_wait(r, 0), -ETIMEDOUT); /* does not take it */
    uint64_t t0 = now_ms();
    CHECK_RC(durlog_reader_wait(r, 10000), -EINTR);
    CHECK(now_ms() - t0 < 1000);
    alarm(0);
    durlog_reader_close(r);
    CHECK_OK(durlog_close(log));
}

/* With nobody blocked, an interrupt waits for the next call that would
 * block, which returns -EINTR at once instead; one that finds what it waits
 * for does not take it; the call after it blocks as usual. */
static void interrupt_with_nobody_blocked_ends_the_next_wait(void)
{
    durlog *log;
    durlog_reader *r;
    open_idle("pending", &log, &r);
    REQUIRE(log && r);
    alarm(20); /* a wait the interrupt missed would block for ever */
    for (enum blocking_call c = WAIT; c <= READER_WAIT; c++) {
        struct blocked b = { c, log, r, 1, 0 };
        CHECK_OK(interrupt_call(&b));
        CHECK_OK(interrupt_call(&b)); /* twice: still one wait ends */
        uint64_t t0 = now_ms();
        int rc = c == WAIT ? durlog_wait(log, 100, DURLOG_KERNEL, 5000)
               : c == POLL ? durlog_poll(log, 5000)
               : durlog_reader_wait(r, 5000);
        CHECK_RC(rc, -EINTR);
        CHECK(now_ms() - t0 < 1000);
        rc = c == WAIT ? durlog_wait(log, 100, DURLOG_KERNEL, 30)
           : c == POLL ? durlog_poll(log, 30)
           : durlog_reader_wait(r, 30);
        CHECK_RC(rc, c == POLL ? 0 : -ETIMEDOUT);
    }
    /* A wait that need not block leaves the interrupt for the next. */
    CHECK_OK(durlog_append(log, "z", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_interrupt(log));
    CHECK_OK(durlog_reader_interrupt(r));
    CHECK_OK(durlog_wait(log, 0, DURLOG_KERNEL, -1));
    CHECK_OK(durlog_reader_wait(r, -1));
    CHECK_RC(durlog_wait(log, 100, DURLOG_KERNEL, -1), -EINTR);
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_RC(durlog_reader_wait(r, -1), -EINTR);
    /* One handle's interrupt is not another's. */
    CHECK_OK(durlog_interrupt(log));
    CHECK_RC(durlog_reader_wait(r, 20), -ETIMEDOUT);
    CHECK_RC(durlog_wait(log, 100, DURLOG_KERNEL, 0), -ETIMEDOUT); /* never blocks */
    CHECK_RC(durlog_wait(log, 100, DURLOG_KERNEL, 20), -EINTR);
    alarm(0);
    durlog_reader_close(r);
    CHECK_OK(durlog_close(log));

    /* A reader of a log no writer has open polls: interrupted too. */
    char path[300];
    log = open_new_log(path, sizeof path, "offline");
    REQUIRE(log);
    CHECK_OK(durlog_close(log));
    CHECK_OK(durlog_reader_open(path, NULL, &r));
    REQUIRE(r);
    CHECK_OK(durlog_reader_interrupt(r));
    CHECK_RC(durlog_reader_wait(r, 1000), -EINTR);
    durlog_reader_close(r);
}

/* The interrupt is async-signal-safe: a handler may call it, here on the
 * blocked thread itself. */
static struct blocked *signalled;

static void interrupting_handler(int sig)
{
    (void)sig;
    interrupt_call(signalled);
}

static void interrupt_works_from_a_signal_handler(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupting_handler;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    for (enum blocking_call c = WAIT; c <= READER_WAIT; c++) {
        durlog *log;
        durlog_reader *r;
        open_idle("signal", &log, &r);
        REQUIRE(log && r);
        struct blocked b = { c, log, r, 1, 0 };
        signalled = &b;
        interrupt_blocked(&b, 1);
        durlog_reader_close(r);
        CHECK_OK(durlog_close(log));
    }
    sigaction(SIGUSR1, &old, NULL);
}

TEST_MAIN(
    RUN(zero_filled_options_mean_the_defaults);
    RUN(default_level_follows_the_option);
    RUN(no_create_does_not_create);
    RUN(a_mode_writable_by_everyone_still_makes_a_usable_log);
    RUN(reserved_space_is_checked_and_cleared);
    RUN(open_message_without_options);
    RUN(one_code_per_condition);
    RUN(a_directory_without_a_log_is_not_taken_for_one);
    RUN(null_handles_and_results_are_refused);
    RUN(check_refuses_a_null_path_and_a_directory_without_a_log);
    RUN(bad_timeouts_and_impossible_waits_are_einval);
    RUN(an_empty_batch_is_einval_in_both_forms);
    RUN(a_failed_seek_leaves_the_reader_where_it_was);
    RUN(interrupt_ends_a_blocked_wait);
    RUN(interrupt_ends_a_spinning_reader_wait);
    RUN(interrupt_with_nobody_blocked_ends_the_next_wait);
    RUN(interrupt_works_from_a_signal_handler);
)
