/*
 * harness.h - the tiny test harness every tests/test_*.c program uses.
 *
 * A test program is a list of test functions run by TEST_MAIN. Each prints
 * one line, "ok <name>" or "not ok <name>", which tests/run.sh counts; the
 * program exits 1 if any failed. CHECK* macros record a failure with its file
 * and line and let the test go on, so one run shows every broken assertion.
 *
 * Scratch logs live under $DURLOG_TEST_DIR (default build/testtmp): a real
 * file system, because a test on tmpfs proves nothing about fsync.
 */
#ifndef DURLOG_TEST_HARNESS_H
#define DURLOG_TEST_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durlog.h"

static int th_failed_current;
static int th_failed_total;
static int th_ran;
static int th_skipped;
static const char *th_skip_reason; /* set by SKIP_UNLESS in the current case */
static const char *th_only; /* run just this test when set (argv[1]) */

/* Records a failed assertion KIND(TEXT) at the caller's file and line. */
#define TH_REPORT(kind, text)                                                \
    (fprintf(stderr, "  %s:%d: %s(%s) failed\n", __FILE__, __LINE__, kind,   \
             text),                                                          \
     th_failed_current = 1)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            TH_REPORT("CHECK", #cond);                                       \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                   \
    do {                                                                     \
        uint64_t th_a = (uint64_t)(a), th_b = (uint64_t)(b);                 \
        if (th_a != th_b) {                                                  \
            fprintf(stderr, "  %s:%d: %s == %" PRIu64 ", expected %s == %"   \
                    PRIu64 "\n", __FILE__, __LINE__, #a, th_a, #b, th_b);    \
            th_failed_current = 1;                                           \
        }                                                                    \
    } while (0)

/* Asserts that a durlog call returned `want` (0 for success). */
#define CHECK_RC(expr, want)                                                 \
    do {                                                                     \
        int th_rc = (expr), th_want = (want);                                \
        if (th_rc != th_want) {                                              \
            fprintf(stderr, "  %s:%d: %s returned %d (%s), expected %d (%s)\n", \
                    __FILE__, __LINE__, #expr, th_rc, durlog_strerror(th_rc), \
                    th_want, durlog_strerror(th_want));                      \
            th_failed_current = 1;                                           \
        }                                                                    \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

/* Stops the current test (after recording the failure) when a precondition
 * for the rest of it does not hold. */
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            TH_REPORT("REQUIRE", #cond);                                     \
            return;                                                          \
        }                                                                    \
    } while (0)

/* Ends the current case as skipped when cond is false: it cannot run here
 * for a reason outside durlog (not root, no loop device, no free space).
 * tests/run.sh prints "skip NAME: reason" and counts it apart: never as
 * passed, never as failed. */
#define SKIP_UNLESS(cond, reason)                                            \
    do {                                                                     \
        if (!(cond)) {                                                       \
            th_skip_reason = (reason);                                       \
            return;                                                          \
        }                                                                    \
    } while (0)

/* Exit status of a program none of whose cases could run (as automake's). */
#define TH_EXIT_SKIP 77

/* What a case leaves to tidy up. th_after_case(fn, arg) has fn(arg) called
 * when the case returns, however it returns (a REQUIRE that stops it early
 * included), the last registered first; th_forget takes an entry back when
 * the case has tidied up itself. Scratch directories (scratch_make) and
 * the writers of tests/lib/fixture.h are registered so: a failed case leaves
 * no writer open and no scratch directory behind. */
struct th_cleanup {
    void (*fn)(void *);
    void *arg;
};
static struct th_cleanup *th_cleanups;
static size_t th_ncleanups, th_cleanups_size;

static inline void th_after_case(void (*fn)(void *), void *arg)
{
    if (th_ncleanups == th_cleanups_size) {
        th_cleanups_size = th_cleanups_size ? 2 * th_cleanups_size : 16;
        th_cleanups = realloc(th_cleanups, th_cleanups_size * sizeof *th_cleanups);
        if (!th_cleanups) {
            perror("realloc");
            exit(2);
        }
    }
    th_cleanups[th_ncleanups++] = (struct th_cleanup){ fn, arg };
}

/* Takes back, without running it, the last entry of fn whose arg is arg
 * (or, given same, for which same(its arg, arg) holds); returns its arg, or
 * NULL if there is none. */
static inline void *th_forget(void (*fn)(void *), const void *arg,
                              int (*same)(const void *, const void *))
{
    for (size_t i = th_ncleanups; i-- > 0;) {
        void *a = th_cleanups[i].arg;
        if (th_cleanups[i].fn == fn && (same ? same(a, arg) : a == arg)) {
            memmove(&th_cleanups[i], &th_cleanups[i + 1],
                    (th_ncleanups - i - 1) * sizeof *th_cleanups);
            th_ncleanups--;
            return a;
        }
    }
    return NULL;
}

static inline void th_tidy_up(void)
{
    while (th_ncleanups > 0) {
        struct th_cleanup c = th_cleanups[--th_ncleanups];
        c.fn(c.arg);
    }
}

static inline void th_run(const char *name, void (*fn)(void))
{
    if (th_only && strcmp(th_only, name) != 0)
        return;
    /* DURLOG_TEST_SKIP=NAME: a case a caller leaves out where it cannot
     * hold for a reason outside durlog (tests/filesystems.sh says which and
     * why); reported as skipped, never counted as passed. */
    const char *skip = getenv("DURLOG_TEST_SKIP"); /* names, space-separated */
    size_t name_len = strlen(name);
    const char *at = skip;
    while (at && (at = strstr(at, name)) != NULL &&
           !((at == skip || at[-1] == ' ') && (at[name_len] == ' ' || at[name_len] == '\0')))
        at += name_len;
    if (at) {
        const char *why = getenv("DURLOG_TEST_SKIP_WHY");
        printf("skip %s: %s\n", name, why && *why ? why : "left out by DURLOG_TEST_SKIP");
        fflush(stdout);
        th_skipped++;
        return;
    }
    th_failed_current = 0;
    th_skip_reason = NULL;
    fn();
    th_tidy_up();
    if (th_skip_reason && !th_failed_current) {
        printf("skip %s: %s\n", name, th_skip_reason);
        fflush(stdout);
        th_skipped++;
        return;
    }
    th_ran++;
    if (th_failed_current)
        th_failed_total++;
    printf("%s %s\n", th_failed_current ? "not ok" : "ok", name);
    fflush(stdout);
}

#define RUN(fn) th_run(#fn, fn)

#define TEST_MAIN(body)                                                      \
    int main(int argc, char **argv)                                          \
    {                                                                        \
        if (argc > 1)                                                        \
            th_only = argv[1];                                               \
        body;                                                                \
        if (th_ran == 0 && th_skipped > 0)                                   \
            return TH_EXIT_SKIP;                                             \
        if (th_ran == 0) {                                                   \
            fprintf(stderr, "no test ran\n");                                \
            return 1;                                                        \
        }                                                                    \
        return th_failed_total ? 1 : 0;                                      \
    }

static int th_rm_entry(const char *path, const struct stat *st, int type,
                       struct FTW *ftw)
{
    (void)st; (void)type; (void)ftw;
    chmod(path, 0700); /* tests that remove permissions must not block cleanup */
    return remove(path);
}

/* Removes a directory tree (for cleaning up scratch logs). */
static inline void test_rmrf(const char *path)
{
    nftw(path, th_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void th_remove_dir(void *dir)
{
    test_rmrf(dir);
    free(dir);
}

static inline int th_same_string(const void *a, const void *b)
{
    return strcmp(a, b) == 0;
}

/* Makes a fresh scratch directory and returns its path in buf. The directory
 * itself exists; a test usually puts a log at <buf>/log. It is removed when
 * the case returns (test_rmrf or scratch_remove remove it sooner). */
static inline const char *test_tmpdir(char *buf, size_t size)
{
    const char *base = getenv("DURLOG_TEST_DIR");
    if (!base || !*base)
        base = "build/testtmp";
    mkdir(base, 0755);
    snprintf(buf, size, "%s/t-XXXXXX", base);
    char *copy = mkdtemp(buf) ? strdup(buf) : NULL;
    if (!copy) {
        perror("mkdtemp");
        exit(2);
    }
    th_after_case(th_remove_dir, copy);
    return buf;
}

/* A scratch directory (test_tmpdir) with the log path inside it: <dir>/log. */
struct scratch {
    char dir[256];
    char log[300];
};

static inline void scratch_make(struct scratch *s)
{
    test_tmpdir(s->dir, sizeof s->dir);
    snprintf(s->log, sizeof s->log, "%s/log", s->dir);
}

/* Leaves the scratch directory in place after the case (to look into a
 * failure). */
static inline void scratch_keep(const struct scratch *s)
{
    free(th_forget(th_remove_dir, s->dir, th_same_string));
}

static inline void scratch_remove(const struct scratch *s)
{
    scratch_keep(s);
    test_rmrf(s->dir);
}

/* Deterministic pseudo-random numbers (xorshift64*), so failures repeat. */
static inline uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Fills buf with bytes derived from (seed, i) so a reader can recompute what
 * record i must contain. */
static inline void test_fill(void *buf, size_t len, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        if ((i & 7) == 0)
            test_rand(&s);
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

#endif
