/* The log's identity (durlog_log_id, durlog_log_id_adopt; the file
 * durlog.id, docs/FORMAT.md "The log's identity"):
 *
 *  - a new log gets one when it is created: 32 lower-case hex digits, the
 *    file's bytes exactly as FORMAT.md says, the same from every call and
 *    after a reopen; two logs get different ones; a copy of the directory
 *    keeps it;
 *  - a log without one (made by durlog 0.2) gets one only when asked
 *    (create), and keeps it;
 *  - a damaged file (truncated, a flipped bit, a directory, a FIFO, a
 *    symbolic link - even to a good file) is an error, with or without
 *    create, and is left exactly as it was: an identity is never silently
 *    replaced, since copies of the log elsewhere know it by it;
 *  - a directory that holds no log gets no identity (DURLOG_EFORMAT);
 *  - two processes creating one at the same moment agree on it;
 *  - adopt: taken on a log without one, a no-op with the same one,
 *    replacing the one of a log that never held a record, refused (-EEXIST)
 *    on a log with records, and malformed ids refused (-EINVAL).
 */
#include <signal.h>
#include <sys/wait.h>

#include "crc32c.h"
#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"

#define ID_FILE_SIZE 64

static int is_id(const char *id)
{
    if (strlen(id) != DURLOG_LOG_ID_LEN)
        return 0;
    for (size_t i = 0; i < DURLOG_LOG_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static const char *id_path(char *buf, size_t size, const char *log)
{
    return log_file(buf, size, log, "durlog.id");
}

/* The file's bytes for id, as FORMAT.md spells them (ID_FILE_SIZE + NUL). */
static void id_bytes(char out[ID_FILE_SIZE + 1], const char *id)
{
    int n = snprintf(out, ID_FILE_SIZE + 1, "durlog id 1\nid %s\n", id);
    snprintf(out + n, ID_FILE_SIZE + 1 - (size_t)n, "crc32c %08x\n",
             (unsigned)dl_crc32c(0, out, (size_t)n));
}

/* A closed log at s->log holding `records` records (0: created, empty). */
static int make_log(struct scratch *s, int records)
{
    durlog *log = fx_open(s, NULL);
    if (!log)
        return -1;
    for (int i = 0; i < records; i++)
        CHECK_OK(durlog_append(log, "r", 1, DURLOG_KERNEL, NULL));
    return fx_close(log) == 0 ? 0 : -1;
}

/* The file's bytes (malloc'd; NULL if unreadable); *len its size. */
static unsigned char *id_file(const char *log, size_t *len)
{
    char p[512];
    return file_read(id_path(p, sizeof p, log), len);
}

static int same_file(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    return a && b && alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- a new log ---- */

static void a_new_log_has_an_id_that_never_changes(void)
{
    struct scratch s;
    char id[DURLOG_LOG_ID_LEN + 1], again[DURLOG_LOG_ID_LEN + 1], want[ID_FILE_SIZE + 1];
    durlog *log = fx_open(&s, NULL);
    REQUIRE(log);
    /* Made at creation: create 0 finds it, before any record. */
    CHECK_OK(durlog_log_id(s.log, 0, id));
    CHECK(is_id(id));
    CHECK_OK(durlog_log_id(s.log, 0, again));
    CHECK(strcmp(id, again) == 0);
    CHECK_OK(durlog_log_id(s.log, 1, again));
    CHECK(strcmp(id, again) == 0);
    CHECK_OK(durlog_append(log, "x", 1, DURLOG_SYNC, NULL));
    CHECK_OK(fx_close(log));
    /* The bytes, exactly. */
    size_t len = 0;
    unsigned char *b = id_file(s.log, &len);
    id_bytes(want, id);
    CHECK_EQ_U64(len, ID_FILE_SIZE);
    CHECK(same_file(b, len, (const unsigned char *)want, ID_FILE_SIZE));
    free(b);
    /* A reopen (a writer, a recovery) keeps it. */
    log = fx_writer(s.log, NULL);
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "y", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(fx_close(log));
    CHECK_OK(durlog_log_id(s.log, 0, again));
    CHECK(strcmp(id, again) == 0);
}

static void two_logs_have_different_ids(void)
{
    struct scratch a, b;
    char ida[DURLOG_LOG_ID_LEN + 1], idb[DURLOG_LOG_ID_LEN + 1];
    REQUIRE(make_log(&a, 1) == 0);
    REQUIRE(make_log(&b, 1) == 0);
    CHECK_OK(durlog_log_id(a.log, 0, ida));
    CHECK_OK(durlog_log_id(b.log, 0, idb));
    CHECK(is_id(ida) && is_id(idb));
    CHECK(strcmp(ida, idb) != 0);
}

static void a_copied_directory_keeps_the_id(void)
{
    struct scratch s;
    char id[DURLOG_LOG_ID_LEN + 1], copied[DURLOG_LOG_ID_LEN + 1], cmd[1200], copy[400];
    REQUIRE(make_log(&s, 3) == 0);
    CHECK_OK(durlog_log_id(s.log, 0, id));
    snprintf(copy, sizeof copy, "%s/copy", s.dir);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", s.log, copy);
    REQUIRE(tu_sh(cmd) == 0);
    CHECK_OK(durlog_log_id(copy, 0, copied));
    CHECK(strcmp(id, copied) == 0);
    /* Also once the copy has been opened (recovered) and written. */
    durlog *log = fx_writer(copy, NULL);
    REQUIRE(log);
    CHECK_OK(durlog_append(log, "z", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(fx_close(log));
    CHECK_OK(durlog_log_id(copy, 1, copied));
    CHECK(strcmp(id, copied) == 0);
}

/* ---- a log without one ---- */

static void a_log_without_an_id_gets_one_only_when_asked(void)
{
    struct scratch s;
    char p[512], id[DURLOG_LOG_ID_LEN + 1], again[DURLOG_LOG_ID_LEN + 1];
    REQUIRE(make_log(&s, 2) == 0);
    REQUIRE(unlink(id_path(p, sizeof p, s.log)) == 0); /* as durlog 0.2 left it */
    memset(id, 'Q', sizeof id);
    CHECK_RC(durlog_log_id(s.log, 0, id), DURLOG_ENOTFOUND);
    CHECK(strstr(durlog_last_errmsg(), "durlog.id") != NULL);
    CHECK(!file_exists(p));
    CHECK_OK(durlog_log_id(s.log, 1, id));
    CHECK(is_id(id));
    CHECK(file_exists(p));
    CHECK_OK(durlog_log_id(s.log, 0, again));
    CHECK(strcmp(id, again) == 0);
    /* A writer opening a log that holds records gives it none: only a new
     * log gets one at creation. */
    REQUIRE(unlink(p) == 0);
    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    CHECK_OK(fx_close(log));
    CHECK(!file_exists(p));
}

static void arguments_and_directories_that_are_not_logs(void)
{
    struct scratch s;
    char id[DURLOG_LOG_ID_LEN + 1], p[512], missing[400];
    scratch_make(&s);
    CHECK_RC(durlog_log_id(NULL, 1, id), -EINVAL);
    CHECK_RC(durlog_log_id(s.dir, 1, NULL), -EINVAL);
    /* An empty directory, and one holding other files: no log, no id. */
    CHECK_RC(durlog_log_id(s.dir, 1, id), DURLOG_EFORMAT);
    CHECK_RC(durlog_log_id(s.dir, 0, id), DURLOG_EFORMAT);
    CHECK(!file_exists(id_path(p, sizeof p, s.dir)));
    char other[512];
    snprintf(other, sizeof other, "%s/notes.txt", s.dir);
    REQUIRE(file_write(other, "hello\n", 6) == 0);
    CHECK_RC(durlog_log_id(s.dir, 1, id), DURLOG_EFORMAT);
    CHECK(!file_exists(p));
    CHECK_RC(durlog_log_id_adopt(s.dir, "0123456789abcdef0123456789abcdef"), DURLOG_EFORMAT);
    CHECK(!file_exists(p));
    snprintf(missing, sizeof missing, "%s/nothing-here", s.dir);
    CHECK_RC(durlog_log_id(missing, 1, id), -ENOENT);
    CHECK_RC(durlog_log_id(other, 1, id), -ENOTDIR);
}

/* ---- damaged files ---- */

/* durlog.id replaced by what make() leaves; every call must fail and leave
 * it as it was. */
static void check_damage_is_an_error(const char *what, void (*make)(const char *p, const char *dir),
                                     int want)
{
    struct scratch s;
    char p[512], id[DURLOG_LOG_ID_LEN + 1];
    REQUIRE(make_log(&s, 2) == 0);
    id_path(p, sizeof p, s.log);
    make(p, s.dir);
    struct stat before, after;
    REQUIRE(lstat(p, &before) == 0);
    size_t blen = 0, alen = 0;
    unsigned char *b = S_ISREG(before.st_mode) ? file_read(p, &blen) : NULL;
    for (int create = 0; create <= 1; create++) {
        int rc = durlog_log_id(s.log, create, id);
        if (rc != want) {
            fprintf(stderr, "  %s: durlog_log_id(create %d) returned %d (%s), expected %d\n",
                    what, create, rc, durlog_strerror(rc), want);
            th_failed_current = 1;
        }
    }
    if (want == DURLOG_ECORRUPT)
        CHECK(strstr(durlog_last_errmsg(), "damaged") != NULL);
    /* Adopt refuses too, even with the very id a good file would hold. */
    CHECK(durlog_log_id_adopt(s.log, "0123456789abcdef0123456789abcdef") != 0);
    /* A writer's open leaves it alone too. */
    durlog *log = fx_writer(s.log, NULL);
    if (log)
        CHECK_OK(fx_close(log));
    REQUIRE(lstat(p, &after) == 0);
    CHECK_EQ_U64(after.st_ino, before.st_ino);
    CHECK_EQ_U64(after.st_mode, before.st_mode);
    if (b) {
        unsigned char *a = file_read(p, &alen);
        CHECK(same_file(a, alen, b, blen));
        free(a);
    }
    free(b);
}

static void truncate_it(const char *p, const char *dir)
{
    (void)dir;
    CHECK(truncate(p, ID_FILE_SIZE - 1) == 0);
}

static void flip_a_bit(const char *p, const char *dir)
{
    (void)dir;
    CHECK(file_flip_bit(p, 20, 0) == 0); /* in the id itself: still hex */
}

static void flip_a_crc_bit(const char *p, const char *dir)
{
    (void)dir;
    CHECK(file_flip_bit(p, ID_FILE_SIZE - 2, 0) == 0);
}

static void uppercase_id(const char *p, const char *dir)
{
    /* Upper-case hex with the checksum made to match: not the format. */
    (void)dir;
    char b[ID_FILE_SIZE + 1];
    id_bytes(b, "0123456789ABCDEF0123456789ABCDEF");
    CHECK(file_write(p, b, ID_FILE_SIZE) == 0);
}

static void make_it_a_directory(const char *p, const char *dir)
{
    (void)dir;
    CHECK(unlink(p) == 0 && mkdir(p, 0755) == 0);
}

static void make_it_a_fifo(const char *p, const char *dir)
{
    (void)dir;
    CHECK(unlink(p) == 0 && mkfifo(p, 0644) == 0);
}

/* A symbolic link to a good identity file (another log's): following it
 * would give this log that log's identity. */
static void make_it_a_symlink(const char *p, const char *dir)
{
    char other[512], target[600];
    snprintf(other, sizeof other, "%s/other", dir);
    durlog *log = fx_writer(other, NULL);
    if (log)
        CHECK_OK(fx_close(log));
    snprintf(target, sizeof target, "%s/durlog.id", other);
    CHECK(file_exists(target));
    char abs[PATH_MAX];
    CHECK(realpath(target, abs) != NULL);
    CHECK(unlink(p) == 0 && symlink(abs, p) == 0);
}

static void make_it_a_dangling_symlink(const char *p, const char *dir)
{
    (void)dir;
    CHECK(unlink(p) == 0 && symlink("/nonexistent/durlog.id", p) == 0);
}

static void damaged_id_files_are_errors_and_left_alone(void)
{
    check_damage_is_an_error("truncated", truncate_it, DURLOG_ECORRUPT);
    check_damage_is_an_error("a bit of the id flipped", flip_a_bit, DURLOG_ECORRUPT);
    check_damage_is_an_error("a bit of the crc flipped", flip_a_crc_bit, DURLOG_ECORRUPT);
    check_damage_is_an_error("upper-case id", uppercase_id, DURLOG_ECORRUPT);
    check_damage_is_an_error("a directory", make_it_a_directory, DURLOG_ECORRUPT);
    check_damage_is_an_error("a FIFO", make_it_a_fifo, DURLOG_ECORRUPT);
    check_damage_is_an_error("a symlink to a good file", make_it_a_symlink, -ELOOP);
    check_damage_is_an_error("a dangling symlink", make_it_a_dangling_symlink, -ELOOP);
}

/* ---- two creators at once ---- */

struct race {
    const char *log;
    int go_fd;                        /* read end: the start signal */
    char *out;                        /* DURLOG_LOG_ID_LEN + 1 bytes, shared */
};

static int race_child(void *arg)
{
    struct race *r = arg;
    uint64_t v;
    if (tu_recv(r->go_fd, &v) != 0)
        return 1;
    return durlog_log_id(r->log, 1, r->out) == 0 ? 0 : 1;
}

static void concurrent_creators_agree_on_one_id(void)
{
    struct scratch s;
    char p[512], id[DURLOG_LOG_ID_LEN + 1];
    char *ids = tu_shared_alloc(2 * (DURLOG_LOG_ID_LEN + 1));
    REQUIRE(ids);
    REQUIRE(make_log(&s, 1) == 0);
    id_path(p, sizeof p, s.log);
    int differed = 0;
    for (int round = 0; round < 20; round++) {
        REQUIRE(unlink(p) == 0);
        memset(ids, 0, 2 * (DURLOG_LOG_ID_LEN + 1));
        int go[2];
        REQUIRE(pipe(go) == 0);
        struct race r[2] = { { s.log, go[0], ids }, { s.log, go[0], ids + DURLOG_LOG_ID_LEN + 1 } };
        pid_t pid[2];
        for (int i = 0; i < 2; i++)
            pid[i] = tu_fork(race_child, &r[i]);
        /* Both wait on the pipe: released together. */
        CHECK(tu_send(go[1], 1) == 0 && tu_send(go[1], 1) == 0);
        for (int i = 0; i < 2; i++)
            CHECK(tu_exited_ok(tu_wait(pid[i])));
        close(go[0]);
        close(go[1]);
        CHECK(is_id(ids) && is_id(ids + DURLOG_LOG_ID_LEN + 1));
        if (strcmp(ids, ids + DURLOG_LOG_ID_LEN + 1) != 0)
            differed++;
        CHECK_OK(durlog_log_id(s.log, 0, id));
        CHECK(strcmp(id, ids) == 0);
    }
    CHECK_EQ_U64(differed, 0);
    munmap(ids, 2 * (DURLOG_LOG_ID_LEN + 1));
}

/* ---- adopt ---- */

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

static void adopt_on_a_log_without_an_id_or_with_the_same_one(void)
{
    struct scratch s;
    char p[512], id[DURLOG_LOG_ID_LEN + 1];
    REQUIRE(make_log(&s, 5) == 0);
    REQUIRE(unlink(id_path(p, sizeof p, s.log)) == 0);
    CHECK_OK(durlog_log_id_adopt(s.log, ID_A));
    CHECK_OK(durlog_log_id(s.log, 0, id));
    CHECK(strcmp(id, ID_A) == 0);
    size_t len = 0, len2 = 0;
    unsigned char *b = id_file(s.log, &len);
    char want[ID_FILE_SIZE + 1];
    id_bytes(want, ID_A);
    CHECK(same_file(b, len, (const unsigned char *)want, ID_FILE_SIZE));
    /* The same id again: nothing to do, the file untouched. */
    struct stat st1, st2;
    REQUIRE(stat(p, &st1) == 0);
    CHECK_OK(durlog_log_id_adopt(s.log, ID_A));
    REQUIRE(stat(p, &st2) == 0);
    CHECK_EQ_U64(st1.st_ino, st2.st_ino);
    unsigned char *b2 = id_file(s.log, &len2);
    CHECK(same_file(b, len, b2, len2));
    free(b);
    free(b2);
}

static void adopt_replaces_the_id_of_a_log_that_never_held_a_record(void)
{
    struct scratch s;
    char id[DURLOG_LOG_ID_LEN + 1];
    REQUIRE(make_log(&s, 0) == 0);
    CHECK_OK(durlog_log_id(s.log, 0, id));
    REQUIRE(strcmp(id, ID_B) != 0);
    CHECK_OK(durlog_log_id_adopt(s.log, ID_B));
    CHECK_OK(durlog_log_id(s.log, 0, id));
    CHECK(strcmp(id, ID_B) == 0);
    /* Also while a writer has it open, still empty (durlog restore opens
     * the new log, then adopts). */
    durlog *log = fx_writer(s.log, NULL);
    REQUIRE(log);
    CHECK_OK(durlog_log_id_adopt(s.log, ID_A));
    CHECK_OK(durlog_log_id(s.log, 0, id));
    CHECK(strcmp(id, ID_A) == 0);
    CHECK_OK(durlog_append(log, "r", 1, DURLOG_KERNEL, NULL));
    CHECK_OK(fx_close(log));
    /* From its first record on it is this log's for good. */
    CHECK_RC(durlog_log_id_adopt(s.log, ID_B), -EEXIST);
    CHECK_OK(durlog_log_id(s.log, 0, id));
    CHECK(strcmp(id, ID_A) == 0);
}

static void adopt_on_a_log_with_records_and_another_id_is_refused(void)
{
    struct scratch s;
    char id[DURLOG_LOG_ID_LEN + 1], again[DURLOG_LOG_ID_LEN + 1];
    REQUIRE(make_log(&s, 3) == 0);
    CHECK_OK(durlog_log_id(s.log, 0, id));
    size_t len = 0, len2 = 0;
    unsigned char *b = id_file(s.log, &len);
    CHECK_RC(durlog_log_id_adopt(s.log, ID_B), -EEXIST);
    CHECK(strstr(durlog_last_errmsg(), ID_B) != NULL);
    CHECK_OK(durlog_log_id(s.log, 0, again));
    CHECK(strcmp(id, again) == 0);
    unsigned char *b2 = id_file(s.log, &len2);
    CHECK(same_file(b, len, b2, len2));
    free(b);
    free(b2);
}

static void adopt_refuses_malformed_ids(void)
{
    struct scratch s;
    char id[DURLOG_LOG_ID_LEN + 1], again[DURLOG_LOG_ID_LEN + 1], p[512];
    REQUIRE(make_log(&s, 0) == 0); /* an id it would replace if it were good */
    CHECK_OK(durlog_log_id(s.log, 0, id));
    static const char *const bad[] = {
        "0123456789ABCDEF0123456789ABCDEF",  /* upper case */
        "0123456789abcdef0123456789abcde",   /* 31 digits */
        "0123456789abcdef0123456789abcdef0", /* 33 */
        "0123456789abcdefg123456789abcdef",  /* not hex */
        "0123456789abcdef 123456789abcdef",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_RC(durlog_log_id_adopt(s.log, bad[i]), -EINVAL);
    CHECK_RC(durlog_log_id_adopt(s.log, NULL), -EINVAL);
    CHECK_RC(durlog_log_id_adopt(NULL, ID_A), -EINVAL);
    CHECK_OK(durlog_log_id(s.log, 0, again));
    CHECK(strcmp(id, again) == 0);
    /* Nor on a log without one. */
    REQUIRE(unlink(id_path(p, sizeof p, s.log)) == 0);
    CHECK_RC(durlog_log_id_adopt(s.log, bad[0]), -EINVAL);
    CHECK(!file_exists(p));
}

TEST_MAIN({
    RUN(a_new_log_has_an_id_that_never_changes);
    RUN(two_logs_have_different_ids);
    RUN(a_copied_directory_keeps_the_id);
    RUN(a_log_without_an_id_gets_one_only_when_asked);
    RUN(arguments_and_directories_that_are_not_logs);
    RUN(damaged_id_files_are_errors_and_left_alone);
    RUN(concurrent_creators_agree_on_one_id);
    RUN(adopt_on_a_log_without_an_id_or_with_the_same_one);
    RUN(adopt_replaces_the_id_of_a_log_that_never_held_a_record);
    RUN(adopt_on_a_log_with_records_and_another_id_is_refused);
    RUN(adopt_refuses_malformed_ids);
})
