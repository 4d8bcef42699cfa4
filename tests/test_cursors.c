/* Named cursors (durlog_cursor_*, durlog_reader_seek_cursor, the retention
 * hold dl_cursors_floor):
 *
 *  - open (with and without create), commit, rewind, reopen, list with the
 *    lag in records and bytes (across segments), delete;
 *  - bad names refused with -EINVAL, good ones of every allowed kind;
 *  - damaged, truncated and foreign cursor files: DURLOG_ECORRUPT naming
 *    the file (never position 0), a newer version DURLOG_EFORMAT; a list
 *    shows them with their status; the retention hold refuses to guess;
 *  - the retention hold: the lowest position over all cursors;
 *  - a reader at a cursor, and at one whose records a trim removed
 *    (DURLOG_ETRIMMED, the count in the message, the reader not moved);
 *  - a commit killed (SIGKILL) at each system call it makes: the cursor
 *    then reads as the last acknowledged position or the one in flight,
 *    never older, never damaged;
 *  - creation: never over a cursor another process made meanwhile; killed
 *    at each call, it leaves no cursor or a whole one;
 *  - power loss before each system call of a run of commits (the put
 *    model, tests/lib/putloss.h): the same, in every crash state; with a
 *    disk that lies about fsync the model finds states that break it.
 */
#include <signal.h>
#include <sys/wait.h>

#include "crc32c.h"
#include "cursor.h"
#include "format.h"
#include "lib/children.h"
#include "lib/faultloop.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/putloss.h"

#define PAYLOAD 300

/* A closed log at s->log holding `count` records of PAYLOAD bytes, in
 * segments of segment_size bytes (0: the default). */
static int make_log(struct scratch *s, uint64_t count, uint64_t segment_size)
{
    durlog *log = fx_open(s, &(durlog_options){ .segment_size = segment_size });
    if (!log)
        return -1;
    unsigned char buf[PAYLOAD];
    for (uint64_t i = 0; i < count; i++) {
        test_fill(buf, sizeof buf, i);
        int rc = durlog_append(log, buf, sizeof buf, DURLOG_KERNEL, NULL);
        if (rc) {
            CHECK_OK(rc);
            return -1;
        }
    }
    return fx_close(log) == 0 ? 0 : -1;
}

static durlog_info log_info(const char *path)
{
    durlog_info info;
    durlog_reader *r;
    memset(&info, 0, sizeof info);
    if (durlog_reader_open(path, NULL, &r) == 0) {
        CHECK_OK(durlog_reader_get_info(r, &info));
        durlog_reader_close(r);
    }
    return info;
}

static uint64_t cursor_at(const char *log, const char *name)
{
    durlog_cursor *c;
    int rc = durlog_cursor_open(log, name, 0, &c);
    if (rc) {
        fprintf(stderr, "  open of cursor %s: %s (%s)\n", name, durlog_strerror(rc),
                durlog_last_errmsg());
        return UINT64_MAX - 1;
    }
    uint64_t seq = durlog_cursor_seq(c);
    durlog_cursor_close(c);
    return seq;
}

static int cursor_set(const char *log, const char *name, uint64_t seq)
{
    durlog_cursor *c;
    int rc = durlog_cursor_open(log, name, DURLOG_CURSOR_CREATE, &c);
    if (rc)
        return rc;
    rc = durlog_cursor_commit(c, seq);
    durlog_cursor_close(c);
    return rc;
}

/* ---- the basic life of a cursor ---- */

static void cursor_open_commit_reopen_list_delete(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 10, 0) == 0);
    durlog_cursor *c;
    char path[512];

    CHECK_RC(durlog_cursor_open(s.log, "a", 0, &c), DURLOG_ENOTFOUND);
    CHECK(strstr(durlog_last_errmsg(), "no cursor a") != NULL);
    REQUIRE(durlog_cursor_open(s.log, "a", DURLOG_CURSOR_CREATE, &c) == 0);
    CHECK_EQ_U64(durlog_cursor_seq(c), 0);
    CHECK(strcmp(durlog_cursor_name(c), "a") == 0);
    CHECK(file_exists(log_file(path, sizeof path, s.log, "cursor.a")));
    CHECK_OK(durlog_cursor_commit(c, 5));
    CHECK_EQ_U64(durlog_cursor_seq(c), 5);
    CHECK_EQ_U64(cursor_at(s.log, "a"), 5);
    /* Past the log's end: refused, the position unchanged. */
    CHECK_RC(durlog_cursor_commit(c, 11), -EINVAL);
    CHECK(strstr(durlog_cursor_errmsg(c), "ends at 10") != NULL);
    CHECK_EQ_U64(durlog_cursor_seq(c), 5);
    CHECK_EQ_U64(cursor_at(s.log, "a"), 5);
    CHECK_OK(durlog_cursor_commit(c, 10)); /* the end itself */
    CHECK_OK(durlog_cursor_commit(c, 3));  /* a rewind */
    CHECK_EQ_U64(cursor_at(s.log, "a"), 3);
    durlog_cursor_close(c);
    /* An existing cursor opened with CREATE keeps its position. */
    REQUIRE(durlog_cursor_open(s.log, "a", DURLOG_CURSOR_CREATE, &c) == 0);
    CHECK_EQ_U64(durlog_cursor_seq(c), 3);
    durlog_cursor_close(c);
    CHECK_OK(cursor_set(s.log, "b", 10));

    durlog_cursor_info *list;
    size_t n;
    durlog_info info = log_info(s.log);
    REQUIRE(durlog_cursor_list(s.log, &list, &n) == 0);
    REQUIRE(n == 2);
    CHECK(strcmp(list[0].name, "a") == 0 && strcmp(list[1].name, "b") == 0);
    CHECK_OK(list[0].status);
    CHECK_EQ_U64(list[0].seq, 3);
    CHECK_EQ_U64(list[0].lag_records, 7);
    CHECK_EQ_U64(list[0].lag_bytes, info.bytes / 10 * 7); /* records of one size */
    CHECK_EQ_U64(list[0].trimmed, 0);
    CHECK(list[0].commit_time_ns > 0);
    CHECK_EQ_U64(list[1].lag_records, 0);
    CHECK_EQ_U64(list[1].lag_bytes, 0);
    durlog_cursor_list_free(list);

    CHECK_OK(durlog_cursor_delete(s.log, "a"));
    CHECK_RC(durlog_cursor_delete(s.log, "a"), DURLOG_ENOTFOUND);
    CHECK(!file_exists(log_file(path, sizeof path, s.log, "cursor.a")));
    REQUIRE(durlog_cursor_list(s.log, &list, &n) == 0);
    CHECK_EQ_U64(n, 1);
    durlog_cursor_list_free(list);
    CHECK_OK(durlog_cursor_delete(s.log, "b"));
    REQUIRE(durlog_cursor_list(s.log, &list, &n) == 0);
    CHECK_EQ_U64(n, 0);
    CHECK(list == NULL);
}

/* NULL arguments and unknown flags. */
static void cursor_arguments_are_checked(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 1, 0) == 0);
    durlog_cursor *c;
    CHECK_RC(durlog_cursor_open(NULL, "a", 0, &c), -EINVAL);
    CHECK_RC(durlog_cursor_open(s.log, NULL, 0, &c), -EINVAL);
    CHECK_RC(durlog_cursor_open(s.log, "a", 0, NULL), -EINVAL);
    CHECK_RC(durlog_cursor_open(s.log, "a", 2, &c), -EINVAL);
    CHECK_RC(durlog_cursor_commit(NULL, 0), -EINVAL);
    CHECK_EQ_U64(durlog_cursor_seq(NULL), UINT64_MAX);
    CHECK_RC(durlog_cursor_delete(NULL, "a"), -EINVAL);
    CHECK_RC(durlog_cursor_list(s.log, NULL, NULL), -EINVAL);
    CHECK_RC(durlog_reader_seek_cursor(NULL, NULL), -EINVAL);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/none", s.dir);
    CHECK_RC(durlog_cursor_open(missing, "a", DURLOG_CURSOR_CREATE, &c), -ENOENT);
    /* A directory that holds no log gets no cursor. */
    CHECK_RC(durlog_cursor_open(s.dir, "a", DURLOG_CURSOR_CREATE, &c), DURLOG_EFORMAT);
    CHECK_RC(durlog_cursor_open(s.dir, "a", 0, &c), DURLOG_ENOTFOUND);
}

static void cursor_names_are_validated(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 1, 0) == 0);
    char longest[DURLOG_CURSOR_NAME_MAX + 1], too_long[DURLOG_CURSOR_NAME_MAX + 2];
    memset(longest, 'x', DURLOG_CURSOR_NAME_MAX);
    longest[DURLOG_CURSOR_NAME_MAX] = '\0';
    memset(too_long, 'y', DURLOG_CURSOR_NAME_MAX + 1);
    too_long[DURLOG_CURSOR_NAME_MAX + 1] = '\0';
    const char *bad[] = { "", ".", "..", ".hidden", "a/b", "../x", "a b", "caf\xc3\xa9",
                          "tab\t", "star*", too_long };
    const char *good[] = { "a", "A.b-c_9", "0", "x.", "-dash", longest };
    durlog_cursor *c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(durlog_cursor_open(s.log, bad[i], DURLOG_CURSOR_CREATE, &c), -EINVAL);
        CHECK(strstr(durlog_last_errmsg(), "bad cursor name") != NULL);
        CHECK_RC(durlog_cursor_delete(s.log, bad[i]), -EINVAL);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = durlog_cursor_open(s.log, good[i], DURLOG_CURSOR_CREATE, &c);
        CHECK_OK(rc);
        if (rc == 0)
            durlog_cursor_close(c);
    }
    durlog_cursor_info *list;
    size_t n;
    REQUIRE(durlog_cursor_list(s.log, &list, &n) == 0);
    CHECK_EQ_U64(n, sizeof good / sizeof good[0]);
    durlog_cursor_list_free(list);
}

/* ---- damaged files ---- */

/* Makes cursor "c" of s at 1, then lets damage() change its file; the open
 * must fail with want, naming the file. */
static void expect_damage(struct scratch *s, int want, void (*damage)(const char *file))
{
    char file[512];
    log_file(file, sizeof file, s->log, "cursor.c");
    test_rmrf(file);
    REQUIRE(cursor_set(s->log, "c", 1) == 0);
    damage(file);
    durlog_cursor *c = NULL;
    CHECK_RC(durlog_cursor_open(s->log, "c", 0, &c), want);
    CHECK(c == NULL);
    CHECK(strstr(durlog_last_errmsg(), "cursor.c") != NULL);
    /* CREATE never overwrites a damaged cursor with a new one. */
    CHECK_RC(durlog_cursor_open(s->log, "c", DURLOG_CURSOR_CREATE, &c), want);
    durlog_cursor_info *list;
    size_t n;
    REQUIRE(durlog_cursor_list(s->log, &list, &n) == 0);
    CHECK(n == 1 && list[0].status == want && list[0].seq == 0);
    durlog_cursor_list_free(list);
    int dirfd = open(s->log, O_RDONLY | O_DIRECTORY);
    uint64_t floor = 0;
    char err[256] = "";
    CHECK_RC(dl_cursors_floor(dirfd, s->log, &floor, err, sizeof err), want);
    CHECK(strstr(err, "cursor.c") != NULL);
    close(dirfd);
}

static void truncate_to_20(const char *f) { CHECK(truncate(f, 20) == 0); }
static void truncate_to_0(const char *f) { CHECK(truncate(f, 0) == 0); }
static void grow_by_one(const char *f) { CHECK(truncate(f, 37) == 0); }
static void flip_seq_bit(const char *f) { CHECK(file_flip_bit(f, 16, 3) == 0); }
static void flip_crc_bit(const char *f) { CHECK(file_flip_bit(f, 33, 0) == 0); }
static void foreign(const char *f) { CHECK(file_write(f, "not a cursor file, but 36 bytes!!!\n", 36) == 0); }
static void a_directory(const char *f) { CHECK(unlink(f) == 0 && mkdir(f, 0755) == 0); }

/* A version 2 file, checksum and all: this library must not guess at it. */
static void version_2(const char *f)
{
    size_t len;
    unsigned char *b = file_read(f, &len);
    REQUIRE(b && len == 36);
    dl_put32(b + 8, 2);
    dl_put32(b + 32, dl_crc32c(0, b, 32));
    CHECK(file_write(f, b, len) == 0);
    free(b);
}

static void damaged_cursor_files_are_refused(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 3, 0) == 0);
    expect_damage(&s, DURLOG_ECORRUPT, truncate_to_20);
    expect_damage(&s, DURLOG_ECORRUPT, truncate_to_0);
    expect_damage(&s, DURLOG_ECORRUPT, grow_by_one);
    expect_damage(&s, DURLOG_ECORRUPT, flip_seq_bit);
    expect_damage(&s, DURLOG_ECORRUPT, flip_crc_bit);
    expect_damage(&s, DURLOG_ECORRUPT, foreign);
    expect_damage(&s, DURLOG_ECORRUPT, a_directory);
    expect_damage(&s, DURLOG_EFORMAT, version_2);
    /* Setting it again mends it. */
    char file[512];
    test_rmrf(log_file(file, sizeof file, s.log, "cursor.c"));
    REQUIRE(cursor_set(s.log, "c", 1) == 0);
    truncate_to_20(file);
    test_rmrf(file);
    CHECK_OK(cursor_set(s.log, "c", 2));
    CHECK_EQ_U64(cursor_at(s.log, "c"), 2);
}

/* ---- the retention hold ---- */

static void retention_floor_is_the_lowest_cursor(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 20, 0) == 0);
    int dirfd = open(s.log, O_RDONLY | O_DIRECTORY);
    REQUIRE(dirfd >= 0);
    uint64_t floor = 0;
    char err[256];
    CHECK_OK(dl_cursors_floor(dirfd, s.log, &floor, err, sizeof err));
    CHECK_EQ_U64(floor, UINT64_MAX);
    CHECK_OK(cursor_set(s.log, "x", 12));
    CHECK_OK(cursor_set(s.log, "y", 7));
    CHECK_OK(cursor_set(s.log, "z", 15));
    /* Names that are not cursors' are no part of it. */
    char path[512];
    CHECK(file_write(log_file(path, sizeof path, s.log, "cursor..hidden"), "x", 1) == 0);
    CHECK(file_write(log_file(path, sizeof path, s.log, "cursorless"), "x", 1) == 0);
    CHECK_OK(dl_cursors_floor(dirfd, s.log, &floor, err, sizeof err));
    CHECK_EQ_U64(floor, 7);
    CHECK_OK(durlog_cursor_delete(s.log, "y"));
    CHECK_OK(dl_cursors_floor(dirfd, s.log, &floor, err, sizeof err));
    CHECK_EQ_U64(floor, 12);
    CHECK_OK(cursor_set(s.log, "x", 0));
    CHECK_OK(dl_cursors_floor(dirfd, s.log, &floor, err, sizeof err));
    CHECK_EQ_U64(floor, 0);
    close(dirfd);
}

/* ---- readers at cursors ---- */

static uint64_t next_seq_read(durlog_reader *r)
{
    durlog_record rec;
    int rc = durlog_reader_next(r, &rec);
    CHECK_OK(rc);
    return rc ? UINT64_MAX : rec.seq;
}

static void reader_starts_at_cursor_and_reports_trimmed_records(void)
{
    struct scratch s;
    /* About 12 records per 4 KiB segment. */
    REQUIRE(make_log(&s, 100, 4096) == 0);
    uint64_t segs[64];
    size_t nseg = list_segments(s.log, segs, 64);
    REQUIRE(nseg >= 4);
    durlog_cursor *c;
    REQUIRE(durlog_cursor_open(s.log, "c", DURLOG_CURSOR_CREATE, &c) == 0);
    CHECK_OK(durlog_cursor_commit(c, 2));
    durlog_reader *r = fx_reader(s.log, NULL);
    REQUIRE(r);
    CHECK_OK(durlog_reader_seek_cursor(r, c));
    CHECK_EQ_U64(next_seq_read(r), 2);

    /* Lag bytes across segments: records are all of one size. */
    durlog_info info = log_info(s.log);
    uint64_t mid = segs[2] + 1;
    CHECK_OK(cursor_set(s.log, "mid", mid));
    durlog_cursor_info *list;
    size_t n;
    REQUIRE(durlog_cursor_list(s.log, &list, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_U64(list[1].lag_records, 100 - mid);
    CHECK_EQ_U64(list[1].lag_bytes, info.bytes / 100 * (100 - mid));
    CHECK_EQ_U64(list[0].lag_bytes, info.bytes / 100 * 98);
    durlog_cursor_list_free(list);

    /* A trim: the two oldest segments go, as retention removes them. */
    char path[512];
    CHECK(unlink(seg_file(path, sizeof path, s.log, segs[0])) == 0);
    CHECK(unlink(seg_file(path, sizeof path, s.log, segs[1])) == 0);
    CHECK_RC(durlog_reader_seek_cursor(r, c), DURLOG_ETRIMMED);
    char want[128];
    snprintf(want, sizeof want, "removed %" PRIu64 " records", segs[2] - 2);
    CHECK(strstr(durlog_reader_errmsg(r), want) != NULL);
    snprintf(want, sizeof want, "starts at record %" PRIu64, segs[2]);
    CHECK(strstr(durlog_reader_errmsg(r), want) != NULL);
    /* The reader did not move. */
    CHECK_EQ_U64(next_seq_read(r), 3);
    REQUIRE(durlog_cursor_list(s.log, &list, &n) == 0);
    REQUIRE(n == 2);
    CHECK_EQ_U64(list[0].trimmed, segs[2] - 2);
    CHECK_EQ_U64(list[0].lag_records, 100 - segs[2]);
    CHECK_EQ_U64(list[1].trimmed, 0);
    CHECK_EQ_U64(list[1].lag_bytes, info.bytes / 100 * (100 - mid));
    durlog_cursor_list_free(list);
    /* Going on knowingly: commit the first record. */
    CHECK_OK(durlog_cursor_commit(c, segs[2]));
    CHECK_OK(durlog_reader_seek_cursor(r, c));
    CHECK_EQ_U64(next_seq_read(r), segs[2]);
    /* A cursor at the end: the reader is at the end. */
    CHECK_OK(durlog_cursor_commit(c, 100));
    CHECK_OK(durlog_reader_seek_cursor(r, c));
    durlog_record rec;
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_EEND);
    durlog_cursor_close(c);
}

/* ---- a commit killed at each of its system calls ---- */

static const char *kill_log;
static uint64_t kill_at;

/* Commits `next` to cursor "k", dying as the kill_at-th system call of the
 * commit starts; exits 0 once the commit returned success. */
static int killed_commit_main(void *arg)
{
    uint64_t next = *(uint64_t *)arg;
    durlog_cursor *c;
    if (durlog_cursor_open(kill_log, "k", 0, &c) != 0)
        return 2;
    tu_faults_arm(TU_E_ANY, TU_F_KILL, kill_at, 0);
    tu_faults_install(~0u);
    int rc = durlog_cursor_commit(c, next);
    tu_restore_os();
    durlog_cursor_close(c);
    return rc == 0 ? 0 : 1;
}

static void commit_killed_at_each_call_keeps_old_or_new(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 500, 0) == 0);
    kill_log = s.log;
    uint64_t acked = 0;
    REQUIRE(cursor_set(s.log, "k", acked) == 0);
    int completed = 0, new_seen = 0, old_seen = 0;
    for (kill_at = 1; kill_at < 400 && !completed; kill_at++) {
        uint64_t next = acked + 1;
        int status = tu_wait(tu_fork(killed_commit_main, &next));
        uint64_t now = cursor_at(s.log, "k");
        CHECK(now == acked || now == next);
        if (now != acked && now != next)
            fprintf(stderr, "  killed at call %" PRIu64 ": cursor %" PRIu64 ", acked %"
                    PRIu64 "\n", kill_at, now, acked);
        if (WIFEXITED(status)) {
            CHECK(tu_exited_ok(status));
            CHECK_EQ_U64(now, next);
            completed = 1;
        } else {
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
        new_seen += now == next;
        old_seen += now == acked;
        /* What the cursor now reads is acknowledged from here on. */
        acked = now;
        REQUIRE(acked < 500);
    }
    CHECK(completed);
    CHECK(old_seen > 0);
    CHECK(new_seen > 0);
    printf("  %" PRIu64 " kill points: %d left the old position, %d the new\n",
           kill_at - 1, old_seen, new_seen);
}

/* ---- creation ---- */

static const char *race_log;
static int raced;

/* The link of a creating open, after another process made the cursor (at
 * 7) meanwhile: done here, just before the real link, with the real calls. */
static int link_after_another_made_it(int od, const char *on, int nd, const char *nn,
                                      int flags)
{
    tu_restore_os();
    raced = cursor_set(race_log, "r", 7) == 0;
    return dl_os_real.linkat(od, on, nd, nn, flags);
}

static void create_never_overwrites_a_cursor_made_meanwhile(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 10, 0) == 0);
    race_log = s.log;
    raced = 0;
    dl_os.linkat = link_after_another_made_it;
    durlog_cursor *c;
    int rc = durlog_cursor_open(s.log, "r", DURLOG_CURSOR_CREATE, &c);
    tu_restore_os();
    REQUIRE(raced);
    CHECK_OK(rc);
    if (rc == 0) {
        CHECK_EQ_U64(durlog_cursor_seq(c), 7);
        durlog_cursor_close(c);
    }
    CHECK_EQ_U64(cursor_at(s.log, "r"), 7);
}

/* Creates cursor "n", dying as the kill_at-th system call starts. */
static int killed_create_main(void *arg)
{
    (void)arg;
    durlog_cursor *c;
    tu_faults_arm(TU_E_ANY, TU_F_KILL, kill_at, 0);
    tu_faults_install(~0u);
    int rc = durlog_cursor_open(kill_log, "n", DURLOG_CURSOR_CREATE, &c);
    tu_restore_os();
    if (rc == 0)
        durlog_cursor_close(c);
    return rc == 0 ? 0 : 1;
}

/* A creation killed at each of its calls leaves no cursor or a whole one at
 * the log's first record, never a damaged file. */
static void create_killed_at_each_call_leaves_none_or_a_whole_one(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 10, 0) == 0);
    kill_log = s.log;
    int completed = 0, none = 0, made = 0;
    for (kill_at = 1; kill_at < 400 && !completed; kill_at++) {
        int status = tu_wait(tu_fork(killed_create_main, NULL));
        durlog_cursor *c;
        int rc = durlog_cursor_open(s.log, "n", 0, &c);
        CHECK(rc == 0 || rc == DURLOG_ENOTFOUND);
        if (rc == 0) {
            CHECK_EQ_U64(durlog_cursor_seq(c), 0);
            durlog_cursor_close(c);
            made++;
            CHECK_OK(durlog_cursor_delete(s.log, "n"));
        } else {
            none++;
        }
        if (WIFEXITED(status)) {
            CHECK(tu_exited_ok(status));
            CHECK_OK(rc);
            completed = 1;
        } else {
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
    }
    CHECK(completed);
    CHECK(none > 0);
    CHECK(made > 1); /* killed after the link, and the run that completed */
    printf("  %" PRIu64 " kill points: %d left no cursor, %d a whole one\n", kill_at - 1,
           none, made);
}

/* ---- power loss during commits ---- */

static struct {
    uint64_t acked;     /* the last commit that returned 0 */
    uint64_t inflight;  /* the commit running now (== acked between commits) */
} cl;

/* A crash state of the cursor file: whole, and at the acknowledged
 * position or the one in flight. */
static int cursor_state_ok(const unsigned char *got, size_t len, void *arg)
{
    (void)arg;
    if (len != 36 || memcmp(got, "DLCURSOR", 8) != 0 || dl_get32(got + 8) != 1 ||
        dl_get32(got + 32) != dl_crc32c(0, got, 32))
        return 0;
    uint64_t seq = dl_get64(got + 16);
    return seq == cl.acked || seq == cl.inflight;
}

/* Commits 1..20 to cursor "p" of log under the model; returns the states
 * that failed, *states those built. */
static int commits_under_power_loss(const char *log, int lying, int named, int *states)
{
    durlog_cursor *c;
    if (cursor_set(log, "p", 0) != 0 || durlog_cursor_open(log, "p", 0, &c) != 0)
        return -1;
    cl.acked = cl.inflight = 0;
    char dir[400];
    snprintf(dir, sizeof dir, "%s", log);
    if (pm_begin(dir, "cursor.p", 99 + (uint64_t)lying * 2 + (uint64_t)named, lying, named,
                 cursor_state_ok, NULL) != 0) {
        durlog_cursor_close(c);
        return -1;
    }
    for (uint64_t i = 1; i <= 20; i++) {
        cl.inflight = i;
        int rc = durlog_cursor_commit(c, i);
        CHECK_OK(rc);
        if (rc == 0)
            cl.acked = i;
        cl.inflight = cl.acked;
        pm_crash_point(); /* between commits: only the acknowledged one */
    }
    tu_restore_os();
    durlog_cursor_close(c);
    *states = pm.states;
    int bad = pm.bad;
    pm_end();
    return bad;
}

static void commit_survives_power_loss_at_each_call(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 20, 0) == 0);
    int states;
    for (int named = 0; named < 2; named++) {
        int bad = commits_under_power_loss(s.log, 0, named, &states);
        printf("  %s temporaries: %d crash states, %d neither acknowledged nor in flight\n",
               named ? "named" : "unnamed", states, bad);
        CHECK(states > 1000);
        CHECK_EQ_U64(bad, 0);
    }
    /* The model can fail: a disk that lies about fsync loses the file. */
    int bad = commits_under_power_loss(s.log, 1, 0, &states);
    printf("  lying fsync: %d of %d states broken\n", bad, states);
    CHECK(bad > 0);
}

/* A cursor file swapped for a symbolic link while a consumer has the
 * cursor open (its open read the file, refusing links): the next commit
 * must not write through the link. Through the put path it replaced the
 * link's target, a file outside the log, with the cursor's 36 bytes. */
static void commit_never_writes_through_a_link_planted_after_the_open(void)
{
    struct scratch s;
    REQUIRE(make_log(&s, 10, 0) == 0);
    durlog_cursor *c;
    REQUIRE(durlog_cursor_open(s.log, "c", DURLOG_CURSOR_CREATE, &c) == 0);
    CHECK_OK(durlog_cursor_commit(c, 2));
    char victim[400], file[400];
    snprintf(victim, sizeof victim, "%s/victim", s.dir);
    snprintf(file, sizeof file, "%s/cursor.c", s.log);
    REQUIRE(file_write(victim, "precious\n", 9) == 0);
    /* Relative: the scratch directory may be a relative path. */
    REQUIRE(unlink(file) == 0 && symlink("../victim", file) == 0);
    CHECK_RC(durlog_cursor_commit(c, 5), -ELOOP);
    CHECK(strstr(durlog_cursor_errmsg(c), "symbolic link") != NULL);
    CHECK_EQ_U64(durlog_cursor_seq(c), 2);
    size_t len;
    unsigned char *got = file_read(victim, &len);
    CHECK(got && len == 9 && memcmp(got, "precious\n", 9) == 0);
    free(got);
    durlog_cursor_close(c);
}

TEST_MAIN({
    RUN(cursor_open_commit_reopen_list_delete);
    RUN(cursor_arguments_are_checked);
    RUN(cursor_names_are_validated);
    RUN(damaged_cursor_files_are_refused);
    RUN(retention_floor_is_the_lowest_cursor);
    RUN(reader_starts_at_cursor_and_reports_trimmed_records);
    RUN(commit_killed_at_each_call_keeps_old_or_new);
    RUN(commit_survives_power_loss_at_each_call);
    RUN(create_never_overwrites_a_cursor_made_meanwhile);
    RUN(create_killed_at_each_call_leaves_none_or_a_whole_one);
    RUN(commit_never_writes_through_a_link_planted_after_the_open);
})
