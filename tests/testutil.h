/*
 * testutil.h - helpers shared by the level, thread and fault tests.
 *
 *  - Self-checking payloads: a record says which writer appended it and its
 *    index in that writer's sequence, and its remaining bytes (and length)
 *    are derived from those two numbers, so a reader can prove a record is
 *    intact and put each writer's records back in order without any other
 *    bookkeeping.
 *  - A read-only view of the coordination file, to watch durable_seq and
 *    published_seq without the directory scan durlog_get_info() does.
 *  - An fdatasync counter to install in the dl_os seam.
 *  - Forked children: run a function in a child and get its verdict back.
 */
#ifndef DURLOG_TEST_UTIL_H
#define DURLOG_TEST_UTIL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "os.h"
#include "shared.h"

/* Payload: writer (4 bytes), index (8 bytes), then derived filler. */
#define TU_PAYLOAD_HEAD 12
#define TU_PAYLOAD_MAX 1024

static inline uint64_t tu_payload_seed(uint32_t writer, uint64_t index)
{
    return ((uint64_t)writer << 40) ^ index ^ 0x5bd1e995u;
}

/* Length of record (writer, index) when payloads carry up to `extra_max`
 * filler bytes. */
static inline size_t tu_payload_len(uint32_t writer, uint64_t index, size_t extra_max)
{
    uint64_t s = tu_payload_seed(writer, index) | 1;
    return TU_PAYLOAD_HEAD + (size_t)(test_rand(&s) % (extra_max + 1));
}

/* Builds record (writer, index) in buf (TU_PAYLOAD_MAX bytes); returns its
 * length. */
static inline size_t tu_payload(unsigned char *buf, uint32_t writer,
                                uint64_t index, size_t extra_max)
{
    size_t len = tu_payload_len(writer, index, extra_max);
    memcpy(buf, &writer, 4);
    memcpy(buf + 4, &index, 8);
    test_fill(buf + TU_PAYLOAD_HEAD, len - TU_PAYLOAD_HEAD,
              tu_payload_seed(writer, index));
    return len;
}

/* Appends writer's record number `index` (with up to `extra` filler bytes). */
static inline int tu_append_payload(durlog *log, uint32_t writer, uint64_t index,
                                    size_t extra, durlog_level level, uint64_t *seq)
{
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, writer, index, extra);
    return durlog_append(log, buf, len, level, seq);
}

/* 1 if rec is an intact payload built by tu_payload (with the same
 * extra_max); sets *writer and *index. */
static inline int tu_payload_check(const durlog_record *rec, size_t extra_max,
                                   uint32_t *writer, uint64_t *index)
{
    unsigned char want[TU_PAYLOAD_MAX];
    *writer = UINT32_MAX;
    *index = UINT64_MAX;
    if (rec->len < TU_PAYLOAD_HEAD || rec->len > TU_PAYLOAD_MAX)
        return 0;
    memcpy(writer, rec->data, 4);
    memcpy(index, (const unsigned char *)rec->data + 4, 8);
    size_t len = tu_payload(want, *writer, *index, extra_max);
    return len == rec->len && memcmp(want, rec->data, len) == 0;
}

/* The coordination file of an open log, mapped read-only. */
static inline struct dl_shared *tu_map_shared(const char *path)
{
    char name[400];
    snprintf(name, sizeof name, "%s/%s", path, DL_SHM_NAME);
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, DL_SHM_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* The same, writable: for tests that take the coordination file's locks or
 * change its fields (playing another writer, or a crashed one). */
static inline struct dl_shared *tu_map_shared_rw(const char *path)
{
    char name[400];
    snprintf(name, sizeof name, "%s/%s", path, DL_SHM_NAME);
    int fd = open(name, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, DL_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static inline void tu_unmap_shared(struct dl_shared *sh)
{
    if (sh)
        munmap(sh, DL_SHM_SIZE);
}

static inline uint64_t tu_durable(struct dl_shared *sh)
{
    return atomic_load(&sh->durable_seq);
}

static inline uint64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* An fdatasync that counts its calls and remembers the last caller. */
static _Atomic int tu_fdatasync_calls;
static _Atomic int tu_fdatasync_on_thread; /* calls made on tu_watched_thread */
static pthread_t tu_watched_thread;

static int tu_counting_fdatasync(int fd)
{
    atomic_fetch_add(&tu_fdatasync_calls, 1);
    if (pthread_equal(pthread_self(), tu_watched_thread))
        atomic_fetch_add(&tu_fdatasync_on_thread, 1);
    return dl_os_real.fdatasync(fd);
}

static inline void tu_count_fdatasync(void)
{
    atomic_store(&tu_fdatasync_calls, 0);
    atomic_store(&tu_fdatasync_on_thread, 0);
    tu_watched_thread = pthread_self();
    dl_os.fdatasync = tu_counting_fdatasync;
}

/* An fdatasync that fails with EIO while tu_fdatasync_fails is set. */
static _Atomic int tu_fdatasync_fails;

static inline int tu_fdatasync_maybe_eio(int fd)
{
    if (atomic_load(&tu_fdatasync_fails)) {
        errno = EIO;
        return -1;
    }
    return dl_os_real.fdatasync(fd);
}

/* The io_uring engine's fsyncs do not go through dl_os.fdatasync/fsync; its
 * completions go through dl_os.uring_result. Tests install this there (from
 * a constructor, below) so that a fake fdatasync or fsync that a test puts
 * in the table - counting calls, failing with EIO, hanging - acts on the
 * io_uring engine's syncs too: the fake runs when the kernel reports the
 * fsync done, on the same thread, and its failure replaces the result. */
static int tu_uring_result(int fd, int datasync, int res)
{
    int (*fake)(int) = datasync ? dl_os.fdatasync : dl_os.fsync;
    int (*real)(int) = datasync ? dl_os_real.fdatasync : dl_os_real.fsync;
    if (res || fake == real)
        return res;
    return fake(fd) < 0 ? -errno : 0;
}

__attribute__((constructor)) static void tu_install_uring_result(void)
{
    dl_os.uring_result = tu_uring_result;
}

/* Puts back the real calls. Only entries a test replaced are written, so
 * that a library thread reading another entry meanwhile (the pre-faulter
 * calls fallocate) does not race with the restore; a test restores an entry
 * only when no library thread can be calling it (e.g. after durlog_close). */
#define TU_RESTORE_ENTRY(name)                                               \
    do {                                                                     \
        if (dl_os.name != dl_os_real.name)                                   \
            dl_os.name = dl_os_real.name;                                    \
    } while (0)

/* For a test about one I/O mode's internals (what it stores or writes, its
 * pre-faulter): the handles it opens use `mode` whatever DURLOG_IO the suite
 * runs with. tu_io_mode(NULL) puts the suite's back. */
static inline void tu_io_mode(const char *mode)
{
    static char saved[32];
    static int have_saved = -1;
    if (mode) {
        const char *now = getenv("DURLOG_IO");
        have_saved = now != NULL;
        snprintf(saved, sizeof saved, "%s", now ? now : "");
        setenv("DURLOG_IO", mode, 1);
    } else if (have_saved == 1) {
        setenv("DURLOG_IO", saved, 1);
    } else if (have_saved == 0) {
        unsetenv("DURLOG_IO");
    }
}

static inline void tu_restore_os(void)
{
    TU_RESTORE_ENTRY(pwrite);
    TU_RESTORE_ENTRY(write);
    TU_RESTORE_ENTRY(pread);
    TU_RESTORE_ENTRY(read);
    TU_RESTORE_ENTRY(copy_file_range);
    TU_RESTORE_ENTRY(linkat);
    TU_RESTORE_ENTRY(sync_file_range);
    TU_RESTORE_ENTRY(fdatasync);
    TU_RESTORE_ENTRY(fsync);
    TU_RESTORE_ENTRY(fallocate);
    TU_RESTORE_ENTRY(ftruncate);
    TU_RESTORE_ENTRY(openat);
    TU_RESTORE_ENTRY(renameat);
    TU_RESTORE_ENTRY(unlinkat);
    TU_RESTORE_ENTRY(mmap);
    TU_RESTORE_ENTRY(munmap);
    TU_RESTORE_ENTRY(uring_init);
    TU_RESTORE_ENTRY(uring_submit);
    TU_RESTORE_ENTRY(thread_create);
    if (dl_os.uring_result != tu_uring_result)
        dl_os.uring_result = tu_uring_result;
}

/* Reads a whole log and checks it: dense sequence numbers from `from_seq`,
 * every payload intact, and each writer's indices consecutive from
 * `first_index[w]` (updated to one past the last seen). Writers must be below
 * `writers`. Returns the number of records read, or -1 (after CHECK failures)
 * on a problem. */
static inline long tu_verify_log(const char *path, uint64_t from_seq,
                                 size_t extra_max, uint32_t writers,
                                 uint64_t *next_index)
{
    durlog_reader *r;
    durlog_record rec;
    long n = 0;
    int rc = durlog_reader_open(path, NULL, &r);
    CHECK_OK(rc);
    if (rc)
        return -1;
    if (from_seq) {
        rc = durlog_reader_seek(r, from_seq);
        CHECK_OK(rc);
        if (rc) {
            durlog_reader_close(r);
            return -1;
        }
    }
    uint64_t want_seq = from_seq;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        if (rec.seq != want_seq) {
            fprintf(stderr, "  seq %" PRIu64 " where %" PRIu64 " was expected\n",
                    rec.seq, want_seq);
            CHECK(rec.seq == want_seq);
            n = -1;
            break;
        }
        if (!tu_payload_check(&rec, extra_max, &w, &idx) || w >= writers) {
            fprintf(stderr, "  record %" PRIu64 " (%zu bytes) is not intact\n",
                    rec.seq, rec.len);
            CHECK(!"record intact");
            n = -1;
            break;
        }
        if (idx != next_index[w]) {
            fprintf(stderr, "  record %" PRIu64 ": writer %u index %" PRIu64
                    ", expected %" PRIu64 "\n", rec.seq, w, idx, next_index[w]);
            CHECK(idx == next_index[w]);
            n = -1;
            break;
        }
        next_index[w]++;
        want_seq++;
        n++;
    }
    if (n >= 0 && rc != DURLOG_EEND) {
        fprintf(stderr, "  reader stopped at seq %" PRIu64 ": %s\n", want_seq,
                durlog_reader_errmsg(r));
        CHECK_RC(rc, DURLOG_EEND);
        n = -1;
    }
    durlog_reader_close(r);
    return n;
}

/* Runs fn(arg) in a forked child, which exits 0 when fn returns 0. Returns
 * the child's pid. The child dies with the test program, so that a test that
 * gives up early leaves nothing running. */
static inline pid_t tu_fork(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int rc = fn(arg);
        _exit(rc ? 1 : 0);
    }
    return pid;
}

/* Waits for a child; returns its raw wait status (or -1). */
static inline int tu_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

static inline int tu_exited_ok(int status)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Anonymous memory shared with forked children. */
static inline void *tu_shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Blocking helpers for sequencing parent and child through a pipe. */
static inline int tu_send(int fd, uint64_t v)
{
    return write(fd, &v, sizeof v) == (ssize_t)sizeof v ? 0 : -1;
}

static inline int tu_recv(int fd, uint64_t *v)
{
    size_t got = 0;
    while (got < sizeof *v) {
        ssize_t n = read(fd, (char *)v + got, sizeof *v - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

#endif
