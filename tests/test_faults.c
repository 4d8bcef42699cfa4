/* Faults injected through the dl_os seam: short writes, EINTR, a full disk
 * while allocating or writing, a failing fdatasync, a refused open, failing
 * locks, stats and futex waits, an unreadable boot id, an eventfd that
 * cannot be signalled. Each test restores dl_os before it ends. */
#include <dirent.h>
#include <linux/futex.h>
#include <limits.h>
#include <poll.h>
#include <sys/prctl.h>

#include "format.h"
#include "lib/children.h"
#include "lib/faultloop.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/seam.h"
#include "log.h"

#define EXTRA 1000 /* filler bytes per payload, at most */


/* Counts the directory entries of `path` ending in `suffix`. */
static int count_files(const char *path, const char *suffix)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *de;
    int n = 0;
    size_t sl = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len >= sl && strcmp(de->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Reads the log and checks it holds writer 0's records 0..count-1. */
static void expect_log(const char *path, uint64_t count)
{
    uint64_t next_index[1] = { 0 };
    CHECK_EQ_U64(tu_verify_log(path, 0, EXTRA, 1, next_index), count);
    CHECK_EQ_U64(next_index[0], count);
}

/* --- write-all loops ----------------------------------------------------- */

static _Atomic int calls;

static ssize_t write_one_byte(int fd, const void *buf, size_t len)
{
    atomic_fetch_add(&calls, 1);
    return dl_os_real.write(fd, buf, len ? 1 : 0);
}

static ssize_t pwrite_one_byte(int fd, const void *buf, size_t len, off_t off)
{
    atomic_fetch_add(&calls, 1);
    return dl_os_real.pwrite(fd, buf, len ? 1 : 0, off);
}

static ssize_t write_eintr_every_other(int fd, const void *buf, size_t len)
{
    if (atomic_fetch_add(&calls, 1) % 2 == 0) {
        errno = EINTR;
        return -1;
    }
    return dl_os_real.write(fd, buf, len > 100 ? 100 : len);
}

static ssize_t pwrite_eintr_every_other(int fd, const void *buf, size_t len, off_t off)
{
    if (atomic_fetch_add(&calls, 1) % 2 == 0) {
        errno = EINTR;
        return -1;
    }
    return dl_os_real.pwrite(fd, buf, len > 100 ? 100 : len, off);
}

static ssize_t write_nothing(int fd, const void *buf, size_t len)
{
    (void)fd; (void)buf; (void)len;
    atomic_fetch_add(&calls, 1);
    return 0;
}

static ssize_t pwrite_nothing(int fd, const void *buf, size_t len, off_t off)
{
    (void)fd; (void)buf; (void)len; (void)off;
    atomic_fetch_add(&calls, 1);
    return 0;
}

/* Checks that file `fd` holds exactly `want` (len bytes). */
static void expect_file(int fd, const unsigned char *want, size_t len)
{
    unsigned char got[4096];
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    CHECK_EQ_U64(st.st_size, len);
    REQUIRE(len <= sizeof got);
    CHECK(pread(fd, got, len, 0) == (ssize_t)len);
    CHECK(memcmp(got, want, len) == 0);
}

static int scratch_file(char *dir, size_t size)
{
    char name[400];
    test_tmpdir(dir, size);
    snprintf(name, sizeof name, "%s/f", dir);
    return open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
}

static void write_all_completes_despite_short_writes_and_eintr(void)
{
    char dir[256];
    unsigned char data[3000];
    test_fill(data, sizeof data, 42);
    ssize_t (*writes[2])(int, const void *, size_t) = { write_one_byte,
                                                        write_eintr_every_other };
    ssize_t (*pwrites[2])(int, const void *, size_t, off_t) = { pwrite_one_byte,
                                                               pwrite_eintr_every_other };
    for (int k = 0; k < 2; k++) {
        int fd = scratch_file(dir, sizeof dir);
        REQUIRE(fd >= 0);
        atomic_store(&calls, 0);
        dl_os.write = writes[k];
        CHECK_OK(dl_write_all(fd, data, sizeof data));
        tu_restore_os();
        CHECK(atomic_load(&calls) >= 30); /* it really took many calls */
        expect_file(fd, data, sizeof data);

        /* pwrite at an offset: bytes before it stay as they were. */
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, data, 500, 0) == 500);
        atomic_store(&calls, 0);
        dl_os.pwrite = pwrites[k];
        CHECK_OK(dl_pwrite_all(fd, data + 500, sizeof data - 500, 500));
        tu_restore_os();
        CHECK(atomic_load(&calls) >= 25);
        expect_file(fd, data, sizeof data);
        close(fd);
        test_rmrf(dir);
    }
}

static void write_all_reports_eio_when_a_write_makes_no_progress(void)
{
    char dir[256];
    int fd = scratch_file(dir, sizeof dir);
    REQUIRE(fd >= 0);
    atomic_store(&calls, 0);
    dl_os.write = write_nothing;
    dl_os.pwrite = pwrite_nothing;
    CHECK_RC(dl_write_all(fd, "abc", 3), -EIO);
    CHECK_RC(dl_pwrite_all(fd, "abc", 3, 10), -EIO);
    tu_restore_os();
    CHECK_EQ_U64(atomic_load(&calls), 2); /* one call each: no looping */
    /* A read past the end of the file: -EIO, not a short success. */
    unsigned char buf[16];
    CHECK(write(fd, "12345", 5) == 5);
    CHECK_RC(dl_pread_all(fd, buf, sizeof buf, 0), -EIO);
    CHECK_OK(dl_pread_all(fd, buf, 5, 0));
    close(fd);
    test_rmrf(dir);
}

/* A pretend kernel: takes at most 1 GiB per call and never touches the
 * buffer. It records how much was asked for. */
static _Atomic uint64_t largest_request, total_written, expected_off;
static _Atomic int bad_offset;

static ssize_t fake_write(int fd, const void *buf, size_t len)
{
    (void)fd; (void)buf;
    atomic_fetch_add(&calls, 1);
    if (len > atomic_load(&largest_request))
        atomic_store(&largest_request, len);
    size_t n = atomic_load(&calls) % 3 == 0 && len > ((size_t)1 << 30)
             ? (size_t)1 << 30 : len; /* sometimes a short write */
    atomic_fetch_add(&total_written, n);
    return (ssize_t)n;
}

static ssize_t fake_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if ((uint64_t)off != atomic_load(&expected_off))
        atomic_store(&bad_offset, 1);
    ssize_t n = fake_write(fd, buf, len);
    atomic_fetch_add(&expected_off, (uint64_t)n);
    return n;
}

static void write_all_splits_requests_larger_than_the_kernel_limit(void)
{
    /* Address space only: never touched, so never backed by memory. */
    const size_t len = 2 * (size_t)DL_MAX_RW_COUNT + 12345;
    void *big = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    REQUIRE(big != MAP_FAILED);
    dl_os.write = fake_write;
    dl_os.pwrite = fake_pwrite;

    atomic_store(&calls, 0);
    atomic_store(&largest_request, 0);
    atomic_store(&total_written, 0);
    CHECK_OK(dl_write_all(-1, big, len));
    CHECK(atomic_load(&largest_request) <= (uint64_t)DL_MAX_RW_COUNT);
    CHECK_EQ_U64(atomic_load(&largest_request), DL_MAX_RW_COUNT);
    CHECK_EQ_U64(atomic_load(&total_written), len);
    CHECK(atomic_load(&calls) >= 3);

    atomic_store(&calls, 0);
    atomic_store(&largest_request, 0);
    atomic_store(&total_written, 0);
    atomic_store(&expected_off, 4096);
    atomic_store(&bad_offset, 0);
    CHECK_OK(dl_pwrite_all(-1, big, len, 4096));
    CHECK(atomic_load(&largest_request) <= (uint64_t)DL_MAX_RW_COUNT);
    CHECK_EQ_U64(atomic_load(&total_written), len);
    CHECK_EQ_U64(atomic_load(&expected_off), 4096 + len);
    CHECK(!atomic_load(&bad_offset));
    tu_restore_os();
    munmap(big, len);
}

/* --- a full disk while allocating ---------------------------------------- */

/* fallocate fails with ENOSPC for growth (offset > 0) while growth_full is
 * set, and for segment creation (offset 0) once creations_left reaches 0
 * (negative: never). */
static _Atomic int growth_full;
static _Atomic int creations_left;

static int fallocate_disk_full(int fd, int mode, off_t off, off_t len)
{
    if (off > 0 ? atomic_load(&growth_full)
                : atomic_load(&creations_left) >= 0 &&
                  atomic_fetch_sub(&creations_left, 1) <= 0) {
        errno = ENOSPC;
        return -1;
    }
    return dl_os_real.fallocate(fd, mode, off, len);
}

static void disk_has_room(void)
{
    atomic_store(&growth_full, 0);
    atomic_store(&creations_left, -1);
}

static void disk_full(int growth, int creations)
{
    atomic_store(&growth_full, growth);
    atomic_store(&creations_left, creations);
    if (dl_os.fallocate != fallocate_disk_full) /* may race the pre-faulter */
        dl_os.fallocate = fallocate_disk_full;
}

static void enospc_while_growing_a_segment_fails_the_append_cleanly(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log;
    uint64_t seq;
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    /* Creating the first segment allocates DL_ALLOC_FIRST (16 KiB);
     * growing it fails. */
    disk_full(1, -1);
    uint64_t i, bytes = 64;
    int rc = 0;
    for (i = 0; i < 1000; i++) {
        unsigned char buf[TU_PAYLOAD_MAX];
        size_t len = tu_payload(buf, 0, i, EXTRA);
        rc = durlog_append(log, buf, len, DURLOG_KERNEL, &seq);
        if (rc)
            break;
        CHECK_EQ_U64(seq, i);
        bytes += dl_rec_size(len);
    }
    CHECK_RC(rc, -ENOSPC);
    /* It failed exactly when the records outgrew what was allocated. */
    size_t failed_len = tu_payload_len(0, i, EXTRA);
    CHECK(bytes <= DL_ALLOC_FIRST);
    CHECK(bytes + dl_rec_size(failed_len) > DL_ALLOC_FIRST);
    const char *msg = durlog_errmsg(log);
    if (!strstr(msg, "00000000000000000000.seg"))
        fprintf(stderr, "  message: %s\n", msg);
    CHECK(strstr(msg, "00000000000000000000.seg") != NULL);
    /* Nothing of the failed append is visible. */
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, i);
    expect_log(t.log, i);
    /* Still full: still failing, still nothing visible. */
    CHECK_RC(tu_append_payload(log, 0, i, EXTRA, DURLOG_SYNC, &seq), -ENOSPC);
    expect_log(t.log, i);

    /* Space again: the next append gets the next number. */
    disk_has_room();
    CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, i);
    for (uint64_t j = i + 1; j < i + 200; j++)
        CHECK_OK(tu_append_payload(log, 0, j, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log)); /* stops the pre-faulter */
    tu_restore_os();
    expect_log(t.log, i + 200);
    /* Reopening (recovery) finds nothing to cut. */
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    durlog_recovery rep;
    durlog_last_recovery(log, &rep);
    CHECK_EQ_U64(rep.bytes_cut, 0);
    CHECK_OK(durlog_close(log));
}

static void enospc_while_creating_a_segment_fails_the_append_cleanly(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog_options o = { .segment_size = 4096 };
    durlog *log;
    uint64_t seq;
    durlog_info info;
    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    uint64_t i = 0;
    do {
        CHECK_OK(tu_append_payload(log, 0, i++, EXTRA, DURLOG_KERNEL, NULL));
        CHECK_OK(durlog_get_info(log, &info));
    } while (info.segments < 2 && i < 100);
    REQUIRE(info.segments == 2);

    disk_full(1, 0); /* no background thread: 4 KiB segments never grow */
    int rc = 0;
    uint64_t failed_at = 0;
    for (; i < 100; i++) {
        rc = tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq);
        if (rc) {
            failed_at = i;
            break;
        }
    }
    CHECK_RC(rc, -ENOSPC);
    char name[64];
    snprintf(name, sizeof name, "%020" PRIu64 ".seg", failed_at);
    const char *msg = durlog_errmsg(log);
    if (!strstr(msg, name))
        fprintf(stderr, "  message \"%s\" does not name %s\n", msg, name);
    CHECK(strstr(msg, name) != NULL);
    CHECK_EQ_U64(count_files(t.log, ".seg"), 2);
    CHECK_EQ_U64(count_files(t.log, ".tmp"), 0);
    expect_log(t.log, failed_at);

    disk_has_room();
    CHECK_OK(tu_append_payload(log, 0, failed_at, EXTRA, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, failed_at);
    CHECK_OK(durlog_close(log));
    tu_restore_os();
    expect_log(t.log, failed_at + 1);
}

static void enospc_in_the_middle_of_a_batch_makes_none_of_it_visible(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log;
    uint64_t seq;
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    /* The first segment gets DL_ALLOC_FIRST (16 KiB); it cannot grow (set
     * before the first append, so that the pre-faulter cannot grow it
     * ahead either). */
    disk_full(1, -1);
    /* 12 records of at most 1,028 bytes: they fit. */
    uint64_t n = 0;
    for (; n < 12; n++)
        CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, NULL));
    /* A batch of 100 more (54 KiB) must grow the segment part way through. */
    enum { BATCH = 100 };
    unsigned char bufs[BATCH][TU_PAYLOAD_MAX];
    durlog_iov iov[BATCH];
    for (int k = 0; k < BATCH; k++) {
        iov[k].len = tu_payload(bufs[k], 0, n + (uint64_t)k, EXTRA);
        iov[k].data = bufs[k];
    }
    CHECK_RC(durlog_append_batch(log, iov, BATCH, DURLOG_KERNEL, &seq), -ENOSPC);
    expect_log(t.log, n);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, n);

    /* The same batch after the disk has room: all of it, densely. */
    disk_has_room();
    CHECK_OK(durlog_append_batch(log, iov, BATCH, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, n);
    n += BATCH;
    CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, n);
    n++;
    CHECK_OK(durlog_close(log));
    tu_restore_os();
    expect_log(t.log, n);
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_OK(durlog_close(log));
    expect_log(t.log, n);
}

/* A batch that rolls to a new segment (made big for its first, big record)
 * and then fails to create the next must leave the tail as it was: later
 * appends go into the old segment, within the space its file really has. */
static int batch_failing_after_a_roll_main(void *arg)
{
    const char *path = arg;
    durlog_options o = { .segment_size = 1 << 20 };
    durlog *log;
    uint64_t seq;
    if (durlog_open(path, &o, &log))
        return 1;
    disk_full(1, -1); /* segment 0 stays at its first DL_ALLOC_FIRST */
    int bad = 0;
    for (uint64_t i = 0; i < 10; i++)
        bad |= tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL) != 0;
    /* [big record, small record]: the first rolls to a segment sized to fit
     * it exactly (header 64 + record header 32 + payload = 2 MiB), the
     * second needs yet another segment, whose creation fails. */
    size_t big_len = ((size_t)2 << 20) - 64 - 32;
    unsigned char *big = calloc(1, big_len);
    durlog_iov iov[2] = { { big, big_len }, { "small", 5 } };
    disk_full(1, 1);
    int rc = durlog_append_batch(log, iov, 2, DURLOG_KERNEL, &seq);
    if (rc != -ENOSPC) {
        fprintf(stderr, "  batch: %s, expected ENOSPC\n", durlog_strerror(rc));
        bad = 1;
    }
    free(big);
    /* The disk has room again. Segment 0 (DL_ALLOC_FIRST in its file, 1 MiB
     * capacity) takes the next records, and must be grown before they go
     * past that: never a store past the end of the file (SIGBUS). */
    disk_has_room();
    for (uint64_t i = 10; i < 400; i++) {
        rc = tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, &seq);
        if (rc || seq != i) {
            fprintf(stderr, "  append %" PRIu64 ": %s\n", i, durlog_strerror(rc));
            bad = 1;
            break;
        }
    }
    bad |= durlog_close(log) != 0;
    return bad;
}

static void batch_failing_after_a_roll_leaves_the_old_tail_usable(void)
{
    struct scratch t;
    scratch_make(&t);
    pid_t pid = tu_fork(batch_failing_after_a_roll_main, t.log);
    REQUIRE(pid > 0);
    int status = tu_wait(pid);
    if (WIFSIGNALED(status))
        fprintf(stderr, "  the writer died of signal %d (%s)\n", WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    CHECK(tu_exited_ok(status));
    if (tu_exited_ok(status)) {
        CHECK_EQ_U64(count_files(t.log, ".seg"), 1);
        uint64_t next_index[1] = { 0 };
        long n = tu_verify_log(t.log, 0, EXTRA, 1, next_index);
        CHECK_EQ_U64(n, 400);
        CHECK_EQ_U64(next_index[0], 400);
    }
}

/* --- a full disk while flushing buffered records ------------------------- */

/* pwrite: `pwrite_ok` more calls succeed (writing at most pwrite_part bytes
 * each when set), then ENOSPC until pwrite_ok is reset. */
static _Atomic int pwrite_ok;
static _Atomic size_t pwrite_part;

static ssize_t pwrite_disk_full(int fd, const void *buf, size_t len, off_t off)
{
    if (atomic_fetch_sub(&pwrite_ok, 1) <= 0) {
        errno = ENOSPC;
        return -1;
    }
    size_t part = atomic_load(&pwrite_part);
    return dl_os_real.pwrite(fd, buf, part && part < len ? part : len, off);
}

static void enospc_while_flushing_keeps_the_buffered_records(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log;
    uint64_t seq;
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, &seq));
    uint64_t n = 1;
    /* First a flush that fails outright, then one that writes part of the
     * run before the disk fills (a short write, then ENOSPC). */
    for (int partial = 0; partial < 2; partial++) {
        for (int k = 0; k < 10; k++, n++)
            CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_BUFFERED, NULL));
        atomic_store(&pwrite_ok, partial ? 1 : 0);
        atomic_store(&pwrite_part, partial ? 1500 : 0);
        dl_os.pwrite = pwrite_disk_full;
        CHECK_RC(durlog_flush(log, DURLOG_KERNEL), -ENOSPC);
        CHECK(strlen(durlog_errmsg(log)) > 0);
        /* None of them visible (not even the part that was written). */
        expect_log(t.log, n - 10);
        /* Still full: a kernel append (which flushes first) fails too and
         * adds nothing. */
        atomic_store(&pwrite_ok, 0);
        CHECK_RC(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, &seq), -ENOSPC);
        expect_log(t.log, n - 10);
        tu_restore_os();
        /* Room again: all ten, once each, in order. */
        CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
        expect_log(t.log, n);
        CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, &seq));
        CHECK_EQ_U64(seq, n);
        n++;
        expect_log(t.log, n);
    }
    CHECK_OK(durlog_close(log));
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    durlog_recovery rep;
    durlog_last_recovery(log, &rep);
    CHECK_EQ_U64(rep.bytes_cut, 0);
    CHECK_OK(durlog_close(log));
    expect_log(t.log, n);
}

/* --- fdatasync failures -------------------------------------------------- */


/* Counts the bytes written with pwrite (the rewrite of a sync redone). */
static _Atomic uint64_t pwrite_bytes;

static ssize_t counting_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n = dl_os_real.pwrite(fd, buf, len, off);
    if (n > 0)
        atomic_fetch_add(&pwrite_bytes, (uint64_t)n);
    return n;
}

static void fdatasync_eio_puts_the_log_in_the_failed_state(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log, *other;
    uint64_t seq;
    durlog_info info;
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    REQUIRE(durlog_open(t.log, NULL, &other) == 0);
    uint64_t n = 0;
    for (; n < 5; n++)
        CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_SYNC, NULL));
    for (; n < 20; n++)
        CHECK_OK(tu_append_payload(log, 0, n, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(tu_append_payload(log, 0, n++, EXTRA, DURLOG_BUFFERED, NULL));

    atomic_store(&tu_fdatasync_fails, 1);
    dl_os.fdatasync = tu_fdatasync_maybe_eio;
    /* Its record is in the log, not durable: the append says so (an error
     * would tell the caller it was not appended), and why. */
    CHECK_RC(tu_append_payload(log, 0, n, EXTRA, DURLOG_SYNC, &seq), DURLOG_ENOTDURABLE);
    CHECK_EQ_U64(seq, n);
    const char *msg = durlog_errmsg(log);
    CHECK(strstr(msg, strerror(EIO)) != NULL);
    CHECK(strstr(msg, "failed state") != NULL);
    if (!strstr(msg, "fdatasync") || !strstr(msg, "00000000000000000000.seg"))
        fprintf(stderr, "  message: %s\n", msg);
    CHECK(strstr(msg, "fdatasync") != NULL);
    CHECK(strstr(msg, "00000000000000000000.seg") != NULL);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.durable_seq, 5); /* never moved past the failure */

    /* Even once fdatasync works again, nothing is trusted: the log is failed
     * for every handle until all close and it is reopened. */
    atomic_store(&tu_fdatasync_fails, 0);
    CHECK_RC(tu_append_payload(log, 0, n + 1, EXTRA, DURLOG_SYNC, NULL), DURLOG_EFAILED);
    CHECK_RC(tu_append_payload(log, 0, n + 1, EXTRA, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    CHECK_RC(tu_append_payload(log, 0, n + 1, EXTRA, DURLOG_INTERVAL, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_flush(log, DURLOG_SYNC), DURLOG_EFAILED);
    CHECK_RC(durlog_wait(log, 0, DURLOG_SYNC, 0), DURLOG_EFAILED);
    CHECK_RC(tu_append_payload(other, 1, 0, EXTRA, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_flush(other, DURLOG_SYNC), DURLOG_EFAILED);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.durable_seq, 5);
    tu_restore_os();

    /* Reopening one handle while the other stays open does not clear it. */
    durlog_close(log);
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_RC(tu_append_payload(log, 0, n + 1, EXTRA, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    durlog_close(log);
    durlog_close(other);

    /* All closed: reopening recovers. The records appended before the
     * failure (kernel ones: in the page cache) are all readable; the record
     * of the failed sync append may or may not be. */
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_OK(durlog_get_info(log, &info));
    uint64_t kept = info.next_seq;
    CHECK(kept == n || kept == n + 1);
    /* The failed fdatasync's pages may still be in the page cache, intact
     * but clean: the first sync rewrites every record not known durable
     * before its own fdatasync, which then writes them. */
    atomic_store(&pwrite_bytes, 0);
    dl_os.pwrite = counting_pwrite;
    CHECK_OK(tu_append_payload(log, 0, kept, EXTRA, DURLOG_SYNC, &seq));
    dl_os.pwrite = dl_os_real.pwrite;
    CHECK(atomic_load(&pwrite_bytes) >= (kept - 5) * (DL_REC_HEADER_SIZE + TU_PAYLOAD_HEAD));
    CHECK_EQ_U64(seq, kept);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.durable_seq > seq);
    CHECK_OK(durlog_close(log));
    expect_log(t.log, kept + 1);
}

/* A writer syncing at a 20 ms interval on the new scratch log t, record 0
 * appended; its coordination file mapped into *sh (NULL if it cannot be).
 * NULL after a failed CHECK. */
static durlog *interval_writer(struct scratch *t, struct dl_shared **sh)
{
    durlog *log = fx_open(t, &(durlog_options){ .interval_ms = 20 });
    *sh = NULL;
    if (!log)
        return NULL;
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    *sh = tu_map_shared(t->log);
    return log;
}

static void interval_sync_failure_is_reported_to_the_appender_and_at_close(void)
{
    struct scratch t;
    struct dl_shared *sh;
    durlog *log = interval_writer(&t, &sh);
    REQUIRE(log && sh);
    atomic_store(&tu_fdatasync_fails, 1);
    dl_os.fdatasync = tu_fdatasync_maybe_eio;
    CHECK_OK(tu_append_payload(log, 0, 1, EXTRA, DURLOG_INTERVAL, NULL));
    /* The background sync fails: the log enters the failed state. */
    uint64_t start = tu_now_ms();
    while (!atomic_load(&sh->failed) && tu_now_ms() - start < 5000)
        tu_sleep_ms(5);
    CHECK(atomic_load(&sh->failed));
    CHECK_EQ_U64(tu_durable(sh), 0);
    atomic_store(&tu_fdatasync_fails, 0);
    int rc = tu_append_payload(log, 0, 2, EXTRA, DURLOG_INTERVAL, NULL);
    CHECK(rc == -EIO || rc == DURLOG_EFAILED);
    CHECK(fx_close(log) != 0);
    tu_restore_os();
    tu_unmap_shared(sh);
    REQUIRE(durlog_open(t.log, &(durlog_options){ .interval_ms = 20 }, &log) == 0);
    CHECK_OK(tu_append_payload(log, 0, 2, EXTRA, DURLOG_INTERVAL, NULL));
    CHECK_OK(durlog_close(log));
    expect_log(t.log, 3);
}

/* --- no fallocate on the file system ------------------------------------- */

static int fallocate_unsupported(int fd, int mode, off_t off, off_t len)
{
    (void)fd; (void)mode; (void)off; (void)len;
    errno = EOPNOTSUPP;
    return -1;
}

/* A slow disk for every thread but the appending one: a background thread
 * that writes takes its time, so appenders run ahead of it. (The appender
 * itself writes zeros to grow segments, at full speed.) */
static pthread_t appending_thread;

static ssize_t pwrite_slow_in_background(int fd, const void *buf, size_t len, off_t off)
{
    if (!pthread_equal(pthread_self(), appending_thread))
        tu_sleep_ms(1);
    return dl_os_real.pwrite(fd, buf, len, off);
}

#define NOFALLOC_RECORD 16384
#define NOFALLOC_RECORDS 1000 /* 16 MiB: twice the pre-faulter's lead */

static void nofalloc_payload(unsigned char *buf, uint64_t i)
{
    test_fill(buf, NOFALLOC_RECORD, i + 0x6e6f66);
    memcpy(buf, &i, sizeof i);
}

/* Where fallocate is missing, segments grow by writing zeros. The
 * pre-faulter, which works outside the append lock, used to do that too: its
 * zeros landed on records appenders had meanwhile stored in space they had
 * grown themselves (all the more often when it was slower than they were). */
static void without_fallocate_large_kernel_appends_all_read_back_intact(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log;
    static unsigned char buf[NOFALLOC_RECORD], got_want[NOFALLOC_RECORD];
    appending_thread = pthread_self();
    dl_os.fallocate = fallocate_unsupported; /* before any library thread */
    dl_os.pwrite = pwrite_slow_in_background;
    int rc = durlog_open(t.log, NULL, &log);
    CHECK_OK(rc);
    if (rc) {
        tu_restore_os();
        test_rmrf(t.dir);
        return;
    }
    uint64_t i;
    for (i = 0; i < NOFALLOC_RECORDS; i++) {
        uint64_t seq;
        nofalloc_payload(buf, i);
        rc = durlog_append(log, buf, sizeof buf, DURLOG_KERNEL, &seq);
        if (rc || seq != i)
            break;
    }
    CHECK_OK(rc);
    CHECK_EQ_U64(i, NOFALLOC_RECORDS);
    CHECK_OK(durlog_close(log)); /* the pre-faulter has stopped */
    tu_restore_os();

    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);
    uint64_t n = 0, bad = 0, first_bad = UINT64_MAX;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        nofalloc_payload(got_want, n);
        if (rec.seq != n || rec.len != NOFALLOC_RECORD ||
            memcmp(rec.data, got_want, NOFALLOC_RECORD) != 0) {
            if (first_bad == UINT64_MAX)
                first_bad = n;
            bad++;
        }
        n++;
    }
    if (rc != DURLOG_EEND || n != NOFALLOC_RECORDS || bad)
        fprintf(stderr, "  read %" PRIu64 " of %d records (%" PRIu64 " wrong, "
                "first %" PRIu64 "); stopped with %s: %s\n", n, NOFALLOC_RECORDS,
                bad, first_bad, durlog_strerror(rc), durlog_reader_errmsg(r));
    CHECK_RC(rc, DURLOG_EEND);
    CHECK_EQ_U64(n, NOFALLOC_RECORDS);
    CHECK_EQ_U64(bad, 0);
    durlog_reader_close(r);
}

/* --- a full disk during a buffered flush, then a kernel append ------------ */

#define FULL_FLUSH_BUFFERED 100
#define FULL_FLUSH_LEN 1000

static void full_flush_payload(unsigned char *buf, uint64_t i)
{
    test_fill(buf, FULL_FLUSH_LEN, i + 0xf1u);
    memcpy(buf, &i, sizeof i);
}

/* Runs in a child: a crash (the old rollback stored past the end of the
 * file: SIGBUS) shows as its exit status. The log ends up holding records
 * 0 .. FULL_FLUSH_BUFFERED + 1. */
static int full_flush_then_kernel_append_main(void *arg)
{
    const char *path = arg;
    durlog_options o = { .buffer_size = 256 << 10 };
    durlog *log;
    uint64_t seq, n = 0;
    unsigned char buf[FULL_FLUSH_LEN];
    /* The disk is nearly full: a segment gets its first allocation
     * (DL_ALLOC_FIRST), nothing more
     * (neither for the appenders nor for the pre-faulter). */
    disk_full(1, -1);
    if (durlog_open(path, &o, &log))
        return 1;
    full_flush_payload(buf, n);
    CHECK_OK(durlog_append(log, buf, sizeof buf, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, n);
    n++;
    /* About 100 KiB buffered: more than the segment has allocated. */
    for (int k = 0; k < FULL_FLUSH_BUFFERED; k++, n++) {
        full_flush_payload(buf, n);
        CHECK_OK(durlog_append(log, buf, sizeof buf, DURLOG_BUFFERED, &seq));
        CHECK_EQ_U64(seq, DURLOG_SEQ_PENDING);
    }
    /* Now full: the flush that the kernel append makes first fails. */
    atomic_store(&pwrite_ok, 0);
    atomic_store(&pwrite_part, 0);
    dl_os.pwrite = pwrite_disk_full;
    full_flush_payload(buf, n);
    CHECK_RC(durlog_append(log, buf, sizeof buf, DURLOG_KERNEL, &seq), -ENOSPC);
    /* Nothing of it, nor of the buffer, became visible. */
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 1);
    /* Room again: the buffered records go first, then the retried one. */
    atomic_store(&pwrite_ok, INT_MAX);
    disk_has_room();
    CHECK_OK(durlog_append(log, buf, sizeof buf, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, n);
    CHECK_OK(durlog_close(log));
    return th_failed_current;
}

static void enospc_flushing_before_a_kernel_append_fails_it_without_crashing(void)
{
    struct scratch t;
    scratch_make(&t);
    pid_t pid = tu_fork(full_flush_then_kernel_append_main, t.log);
    REQUIRE(pid > 0);
    int status = tu_wait(pid);
    if (status != -1 && WIFSIGNALED(status))
        fprintf(stderr, "  the writer died of signal %d (%s)\n", WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    CHECK(tu_exited_ok(status));
    /* Everything acknowledged is in the log, once, in order. */
    durlog_reader *r;
    durlog_record rec;
    unsigned char want[FULL_FLUSH_LEN];
    int rc;
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);
    uint64_t n = 0;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        full_flush_payload(want, n);
        if (rec.seq != n || rec.len != FULL_FLUSH_LEN ||
            memcmp(rec.data, want, FULL_FLUSH_LEN) != 0) {
            fprintf(stderr, "  record %" PRIu64 " is not record %" PRIu64 "\n",
                    rec.seq, n);
            CHECK(!"records intact and in order");
            break;
        }
        n++;
    }
    CHECK_EQ_U64(n, FULL_FLUSH_BUFFERED + 2);
    durlog_reader_close(r);
}

/* --- a buffered batch whose forced flush fails ----------------------------- */

#define BATCH_REC 1500 /* three do not fit in a 4096-byte buffer, two do */

static void tagged(unsigned char *buf, char tag, int i)
{
    memset(buf, tag, BATCH_REC);
    buf[1] = (unsigned char)i;
}

static void buffered_batch_whose_forced_flush_fails_leaves_none_of_its_records(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog_options o = { .buffer_size = 4096 };
    durlog *log;
    uint64_t seq;
    static unsigned char k0[BATCH_REC], p0[BATCH_REC], b[2][BATCH_REC];
    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    tagged(k0, 'K', 0); /* the segment exists: the flush needs no new one */
    CHECK_OK(durlog_append(log, k0, BATCH_REC, DURLOG_KERNEL, &seq));
    tagged(p0, 'P', 0); /* acknowledged, buffered */
    CHECK_OK(durlog_append(log, p0, BATCH_REC, DURLOG_BUFFERED, &seq));
    /* The batch fits in the buffer, but not next to P: the call flushes P
     * first, and that flush fails. */
    tagged(b[0], 'B', 0);
    tagged(b[1], 'B', 1);
    durlog_iov iov[2] = { { b[0], BATCH_REC }, { b[1], BATCH_REC } };
    atomic_store(&pwrite_ok, 0);
    atomic_store(&pwrite_part, 0);
    dl_os.pwrite = pwrite_disk_full;
    CHECK_RC(durlog_append_batch(log, iov, 2, DURLOG_BUFFERED, &seq), -ENOSPC);
    atomic_store(&pwrite_ok, INT_MAX); /* room again */
    CHECK_OK(durlog_close(log)); /* flushes what the handle accepted */
    tu_restore_os();

    /* K and P, and no record of the failed batch: not even its first. */
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);
    const unsigned char *want[2] = { k0, p0 };
    uint64_t n = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (rec.len == BATCH_REC && ((const unsigned char *)rec.data)[0] == 'B')
            fprintf(stderr, "  record %" PRIu64 " is record %d of the failed "
                    "batch\n", rec.seq, ((const unsigned char *)rec.data)[1]);
        CHECK(n < 2 && rec.len == BATCH_REC &&
              memcmp(rec.data, want[n], BATCH_REC) == 0);
        n++;
    }
    CHECK_RC(rc, DURLOG_EEND);
    CHECK_EQ_U64(n, 2);
    durlog_reader_close(r);
}

/* --- a sync leader that dies inside fdatasync ----------------------------- */

/* The child's ends of the pipes: it reports on `to_parent`, and waits on
 * `from_parent` before its sync append. */
static int to_parent = -1, from_parent = -1;

/* Tells the parent it is inside fdatasync (holding the sync lock), then
 * waits to be killed; gives up after a while in case nobody does. */
static int fdatasync_signal_then_hang(int fd)
{
    (void)fd;
    tu_send(to_parent, 2);
    tu_sleep_ms(20000);
    _exit(3);
}

/* Segment size for the logs of the dead-leader tests (0: the default). */
static uint64_t leader_segment_size;

static durlog_options leader_options(void)
{
    durlog_options o = { 0 };
    if (leader_segment_size)
        o.segment_size = leader_segment_size;
    return o;
}

static int dying_leader_main(void *arg)
{
    const char *path = arg;
    durlog *log;
    uint64_t go;
    durlog_options o = leader_options();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1 || durlog_open(path, &o, &log))
        return 1;
    for (uint64_t i = 0; i < 5; i++)
        if (tu_append_payload(log, 1, i, EXTRA, DURLOG_KERNEL, NULL))
            return 1;
    if (tu_send(to_parent, 1) || tu_recv(from_parent, &go))
        return 1;
    dl_os.fdatasync = fdatasync_signal_then_hang;
    tu_append_payload(log, 1, 5, EXTRA, DURLOG_SYNC, NULL); /* does not return */
    return 1;
}

struct leader {
    pid_t pid;
    int to_child, from_child;
};

/* Waits up to 10 s for the child's next report; returns it, or 0. */
static uint64_t leader_report(struct leader *l)
{
    uint64_t v = 0;
    struct pollfd pf = { l->from_child, POLLIN, 0 };
    if (poll(&pf, 1, 10000) != 1 || tu_recv(l->from_child, &v) != 0)
        return 0;
    return v;
}

/* Forks a writer that appends writer 1's records 0..4 at kernel level, and
 * waits for it to be done. (Forked before this process starts any library
 * thread: ThreadSanitizer refuses threads in a child forked from a
 * multithreaded process.) Returns 0, or -1 after killing it. */
static int leader_start(struct leader *l, const char *path)
{
    int up[2], down[2];
    if (pipe(up) < 0)
        return -1;
    if (pipe(down) < 0) {
        close(up[0]);
        close(up[1]);
        return -1;
    }
    to_parent = up[1];
    from_parent = down[0];
    l->pid = tu_fork(dying_leader_main, (void *)path);
    close(up[1]);
    close(down[0]);
    to_parent = from_parent = -1;
    l->from_child = up[0];
    l->to_child = down[1];
    if (l->pid > 0 && leader_report(l) == 1)
        return 0;
    fprintf(stderr, "  the child did not get ready\n");
    if (l->pid > 0) {
        kill(l->pid, SIGKILL);
        tu_wait(l->pid);
    }
    close(l->from_child);
    close(l->to_child);
    return -1;
}

/* Lets the child append writer 1's record 5 at sync level, and kills it
 * while it runs that fdatasync as the leader. Returns 0 once it is dead
 * there, -1 if it never got there (it is dead all the same). */
static int leader_kill_inside_fdatasync(struct leader *l)
{
    int there = tu_send(l->to_child, 1) == 0 && leader_report(l) == 2;
    kill(l->pid, SIGKILL);
    int status = tu_wait(l->pid);
    close(l->from_child);
    close(l->to_child);
    if (!there)
        fprintf(stderr, "  the child never reached fdatasync\n");
    if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "  the child was not killed by us (status %d)\n", status);
        return -1;
    }
    return there ? 0 : -1;
}

/* A scratch log whose sync leader, a child process, was killed inside its
 * fdatasync after the child had appended writer 1's records 0..4 and `keep`
 * writer 0's records 0..keep_records-1, all at kernel level; `fresh` is a
 * handle opened afterwards. Segments of leader_segment_size. 0 when set up
 * (else everything is cleaned up). */
struct dead_leader_log {
    struct scratch t;
    durlog *keep, *fresh;
    struct dl_shared *sealer_held; /* its seal lock, held by the test */
};

/* With hold_sealer, the test holds the seal lock: the background sealer
 * would otherwise sync rolled segments (redoing the dead leader's work
 * itself) before the sync the test watches. */
static void dead_leader_release_sealer(struct dead_leader_log *d)
{
    if (d->sealer_held) {
        pthread_mutex_unlock(&d->sealer_held->seal_lock);
        tu_unmap_shared(d->sealer_held);
        d->sealer_held = NULL;
    }
}

static int dead_leader_log_make_sealing(struct dead_leader_log *d, uint64_t keep_records,
                                        int hold_sealer)
{
    struct leader l;
    durlog_options o = leader_options();
    scratch_make(&d->t);
    d->fresh = NULL;
    d->sealer_held = NULL;
    int rc = durlog_open(d->t.log, &o, &d->keep); /* keeps the log open */
    CHECK_OK(rc);
    if (rc) {
        test_rmrf(d->t.dir);
        return rc;
    }
    if (hold_sealer) {
        d->sealer_held = tu_map_shared_rw(d->t.log);
        if (!d->sealer_held || pthread_mutex_lock(&d->sealer_held->seal_lock) != 0) {
            CHECK(!"hold the seal lock");
            durlog_close(d->keep);
            test_rmrf(d->t.dir);
            return -1;
        }
    }
    rc = leader_start(&l, d->t.log);
    CHECK_OK(rc);
    if (rc == 0) {
        for (uint64_t i = 0; i < keep_records; i++)
            CHECK_OK(tu_append_payload(d->keep, 0, i, EXTRA, DURLOG_KERNEL, NULL));
        rc = leader_kill_inside_fdatasync(&l);
        CHECK_OK(rc);
    }
    if (rc == 0) {
        rc = durlog_open(d->t.log, &o, &d->fresh);
        CHECK_OK(rc);
    }
    if (rc) {
        dead_leader_release_sealer(d);
        durlog_close(d->keep);
        test_rmrf(d->t.dir);
    }
    return rc;
}

static int dead_leader_log_make(struct dead_leader_log *d, uint64_t keep_records)
{
    return dead_leader_log_make_sealing(d, keep_records, 0);
}

static void dead_leader_log_remove(struct dead_leader_log *d)
{
    dead_leader_release_sealer(d);
    durlog_close(d->fresh);
    durlog_close(d->keep);
    test_rmrf(d->t.dir);
}

/* A leader that dies inside fdatasync leaves its outcome unknown: if it
 * failed, the error was reported to it alone and the pages it could not
 * write are clean again, so a plain fdatasync now would succeed over them.
 * The next leader checks that the records it covered are intact and rewrites
 * them (making their pages dirty) before its own fdatasync, and everyone
 * carries on. */
static void sync_after_a_leader_died_in_fdatasync_rewrites_what_it_covered(void)
{
    struct dead_leader_log d;
    if (dead_leader_log_make(&d, 3))
        return;
    uint64_t seq;
    durlog_info info;
    atomic_store(&pwrite_bytes, 0);
    dl_os.pwrite = counting_pwrite;
    CHECK_OK(tu_append_payload(d.fresh, 2, 0, EXTRA, DURLOG_SYNC, &seq));
    dl_os.pwrite = dl_os_real.pwrite;
    /* The eight records nobody had made durable were written again (a
     * kernel-level append itself stores through the mapping, no pwrite). */
    CHECK(atomic_load(&pwrite_bytes) >= 8 * (DL_REC_HEADER_SIZE + TU_PAYLOAD_HEAD));
    CHECK_OK(durlog_get_info(d.fresh, &info));
    CHECK(info.durable_seq > seq);
    CHECK_OK(tu_append_payload(d.keep, 0, 3, EXTRA, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(d.fresh));
    CHECK_OK(durlog_close(d.keep));
    /* Every record whose call returned is there, and so is the dead
     * child's sync append (writer 1's record 5): it was published before
     * its fdatasync began. */
    uint64_t next_index[3] = { 0, 0, 0 };
    CHECK_EQ_U64(tu_verify_log(d.t.log, 0, EXTRA, 3, next_index), 11);
    CHECK_EQ_U64(next_index[0], 4);
    CHECK_EQ_U64(next_index[1], 6);
    CHECK_EQ_U64(next_index[2], 1);
    test_rmrf(d.t.dir);
}

/* ...but if a record it covered is no longer intact in the page cache (as
 * when the kernel dropped a page it failed to write, and read back what the
 * disk holds), nothing can be trusted: the log fails for every handle. */
static void sync_after_a_leader_died_fails_the_log_if_a_record_is_no_longer_intact(void)
{
    struct dead_leader_log d;
    if (dead_leader_log_make(&d, 3))
        return;
    char name[DL_SEG_NAME_LEN + 1], path[PATH_MAX];
    dl_seg_name(name, 0);
    snprintf(path, sizeof path, "%s/%s", d.t.log, name);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    /* A payload byte of record 1 (writer 1's second), past its header. */
    off_t off = DL_SEG_HEADER_SIZE + (off_t)dl_rec_size(tu_payload_len(1, 0, EXTRA)) +
                DL_REC_HEADER_SIZE + 2;
    CHECK(pwrite(fd, "\xff", 1, off) == 1);
    close(fd);
    /* The record is in the log; the log is not. */
    CHECK_RC(tu_append_payload(d.fresh, 2, 0, EXTRA, DURLOG_SYNC, NULL), DURLOG_ENOTDURABLE);
    CHECK(strstr(durlog_errmsg(d.fresh), "no longer intact") != NULL);
    /* It names the segment and what to run: reopening finds the same bytes. */
    CHECK(strstr(durlog_errmsg(d.fresh), name) != NULL);
    CHECK(strstr(durlog_errmsg(d.fresh), "durlog check") != NULL);
    CHECK_RC(durlog_flush(d.keep, DURLOG_SYNC), DURLOG_EFAILED);
    CHECK_RC(tu_append_payload(d.keep, 0, 3, EXTRA, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    dead_leader_log_remove(&d);
}

/* ...when those records span several segments, all of them ... */
static void sync_after_a_leader_died_rewrites_records_across_segments(void)
{
    struct dead_leader_log d;
    leader_segment_size = 4096;
    /* The seam is set before any thread of the log exists and restored after
     * they are all gone: the sealer, free to run once released, reads it,
     * and it takes the seal lock through a mapping of its own, which
     * ThreadSanitizer cannot tell is the lock this thread holds. */
    dl_os.pwrite = counting_pwrite;
    int rc = dead_leader_log_make_sealing(&d, 60, 1);
    leader_segment_size = 0;
    if (rc) {
        dl_os.pwrite = dl_os_real.pwrite;
        return;
    }
    uint64_t min_bytes = 0;
    for (uint64_t i = 0; i < 6; i++)
        min_bytes += dl_rec_size(tu_payload_len(1, i, EXTRA));
    for (uint64_t i = 0; i < 60; i++)
        min_bytes += dl_rec_size(tu_payload_len(0, i, EXTRA));
    atomic_store(&pwrite_bytes, 0);
    CHECK_OK(tu_append_payload(d.fresh, 2, 0, EXTRA, DURLOG_SYNC, NULL));
    CHECK(atomic_load(&pwrite_bytes) >= min_bytes);
    durlog_info info;
    CHECK_OK(durlog_get_info(d.fresh, &info));
    CHECK(info.segments >= 3);
    dead_leader_release_sealer(&d);
    CHECK_OK(durlog_close(d.fresh));
    CHECK_OK(durlog_close(d.keep));
    dl_os.pwrite = dl_os_real.pwrite;
    uint64_t next_index[3] = { 0, 0, 0 };
    CHECK_EQ_U64(tu_verify_log(d.t.log, 0, EXTRA, 3, next_index), 67);
    test_rmrf(d.t.dir);
}

/* ...and a rewrite that fails (here: a full disk) decides nothing: the sync
 * fails, the log does not, and the next leader redoes it all. */
static int pwrite_fails_once;

static ssize_t pwrite_enospc_once(int fd, const void *buf, size_t len, off_t off)
{
    if (pwrite_fails_once) {
        pwrite_fails_once = 0;
        errno = ENOSPC;
        return -1;
    }
    return counting_pwrite(fd, buf, len, off);
}

static void sync_after_a_leader_died_retries_a_rewrite_that_failed(void)
{
    struct dead_leader_log d;
    tu_io_mode("mmap"); /* counts the rewrite's pwrites: appends make none */
    int made = dead_leader_log_make(&d, 3);
    tu_io_mode(NULL);
    if (made)
        return;
    pwrite_fails_once = 1;
    atomic_store(&pwrite_bytes, 0);
    dl_os.pwrite = pwrite_enospc_once;
    CHECK_RC(tu_append_payload(d.fresh, 2, 0, EXTRA, DURLOG_SYNC, NULL), DURLOG_ENOTDURABLE);
    CHECK(strstr(durlog_errmsg(d.fresh), strerror(ENOSPC)) != NULL);
    CHECK_EQ_U64(atomic_load(&pwrite_bytes), 0);
    CHECK_OK(durlog_flush(d.keep, DURLOG_SYNC)); /* the next leader */
    dl_os.pwrite = dl_os_real.pwrite;
    CHECK(atomic_load(&pwrite_bytes) >= 8 * (DL_REC_HEADER_SIZE + TU_PAYLOAD_HEAD));
    CHECK_OK(tu_append_payload(d.fresh, 2, 1, EXTRA, DURLOG_SYNC, NULL));
    dead_leader_log_remove(&d);
}

/* ...and if the fdatasync after the rewrite fails, that is final as always. */
static void sync_after_a_leader_died_fails_the_log_if_the_rewrite_cannot_be_synced(void)
{
    struct dead_leader_log d;
    if (dead_leader_log_make(&d, 3))
        return;
    atomic_store(&tu_fdatasync_fails, 1);
    dl_os.fdatasync = tu_fdatasync_maybe_eio;
    CHECK_RC(tu_append_payload(d.fresh, 2, 0, EXTRA, DURLOG_SYNC, NULL), DURLOG_ENOTDURABLE);
    CHECK(strstr(durlog_errmsg(d.fresh), strerror(EIO)) != NULL);
    atomic_store(&tu_fdatasync_fails, 0);
    dl_os.fdatasync = dl_os_real.fdatasync;
    CHECK_RC(durlog_flush(d.keep, DURLOG_SYNC), DURLOG_EFAILED);
    dead_leader_log_remove(&d);
}

/* --- the handle's error message and the background threads -------------- */

static _Atomic int hold_background, background_fallocates;

/* fallocate: calls from any thread but the appending one wait while
 * hold_background is set (at most 5 s). */
static int fallocate_held_in_background(int fd, int mode, off_t off, off_t len)
{
    if (!pthread_equal(pthread_self(), appending_thread)) {
        atomic_fetch_add(&background_fallocates, 1);
        uint64_t start = tu_now_ms();
        while (atomic_load(&hold_background) && tu_now_ms() - start < 5000)
            tu_sleep_ms(1);
    }
    return dl_os_real.fallocate(fd, mode, off, len);
}

/* durlog_errmsg() describes the last failure of a call on the handle and
 * stays valid until the next call. The pre-faulter, a library thread, must
 * not replace it (nor write it while the caller reads it) when its own
 * attempt to take the append lock fails. Found while writing these tests;
 * fails at the time of writing: extend_once() -> dl_lock_append() ->
 * dl_fail() writes log->errmsg from the background thread, unsynchronised
 * (ThreadSanitizer reports the race in the dying-leader tests above too). */
static void errmsg_is_not_overwritten_by_the_background_pre_faulter(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log, *other;
    char before[512];
    appending_thread = pthread_self();
    atomic_store(&hold_background, 1);
    atomic_store(&background_fallocates, 0);
    dl_os.fallocate = fallocate_held_in_background; /* before any library thread */
    tu_io_mode("mmap"); /* the pre-faulter serves mmap mode only */
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    /* The appends kick the pre-faulter (once half of what it keeps ahead
     * is used: 8 KiB of the first segment's 16), which stops inside
     * fallocate. */
    for (uint64_t i = 0; i < 24; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    uint64_t start = tu_now_ms();
    while (atomic_load(&background_fallocates) == 0 && tu_now_ms() - start < 2000)
        tu_sleep_ms(1);
    CHECK(atomic_load(&background_fallocates) > 0);
    /* Another handle's fdatasync fails: the log is in the failed state. */
    REQUIRE(durlog_open(t.log, NULL, &other) == 0);
    tu_io_mode(NULL);
    atomic_store(&tu_fdatasync_fails, 1);
    dl_os.fdatasync = tu_fdatasync_maybe_eio;
    CHECK_RC(tu_append_payload(other, 1, 0, EXTRA, DURLOG_SYNC, NULL), DURLOG_ENOTDURABLE);
    /* The last failure of a call on `log`: */
    CHECK_RC(durlog_append(log, "x", 1, (durlog_level)7, NULL), -EINVAL);
    snprintf(before, sizeof before, "%s", durlog_errmsg(log));
    CHECK(strstr(before, "level") != NULL);
    /* The pre-faulter goes on, and finds the log failed. */
    atomic_store(&hold_background, 0);
    start = tu_now_ms();
    while (strcmp(durlog_errmsg(log), before) == 0 && tu_now_ms() - start < 300)
        tu_sleep_ms(5);
    if (strcmp(durlog_errmsg(log), before) != 0)
        fprintf(stderr, "  without a call on the handle, its message changed from "
                "\"%s\" to \"%s\"\n", before, durlog_errmsg(log));
    CHECK(strcmp(durlog_errmsg(log), before) == 0);
    durlog_close(other);
    durlog_close(log);
    atomic_store(&tu_fdatasync_fails, 0);
    tu_restore_os();
}

/* --- a refused open ------------------------------------------------------ */

static _Atomic int refuse_all; /* 1: every openat; 0: only the coordination file */

static int openat_eacces(int dirfd, const char *name, int flags, mode_t mode)
{
    if (atomic_load(&refuse_all) || strcmp(name, DL_SHM_NAME) == 0) {
        errno = EACCES;
        return -1;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static void open_reports_eacces_and_names_the_path(void)
{
    struct scratch t;
    scratch_make(&t);
    char err[512];
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    durlog *log = (durlog *)&log; /* must be reset to NULL */
    dl_os.openat = openat_eacces;
    for (int all = 1; all >= 0; all--) {
        atomic_store(&refuse_all, all);
        err[0] = '\0';
        CHECK_RC(durlog_open(t.log, &o, &log), -EACCES);
        CHECK(log == NULL);
        if (!strstr(err, t.log))
            fprintf(stderr, "  errbuf \"%s\" does not name %s\n", err, t.log);
        CHECK(strstr(err, t.log) != NULL);
        CHECK(strstr(err, strerror(EACCES)) != NULL);
        if (!all)
            CHECK(strstr(err, DL_SHM_NAME) != NULL);
    }
    tu_restore_os();
    /* Without the fault, the same call works. */
    CHECK_OK(durlog_open(t.log, &o, &log));
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    expect_log(t.log, 1);
}

/* A leader that cannot even open a segment to sync it (descriptors run out)
 * has lost nothing: the sync fails, the log does not enter the failed state,
 * and the next sync works. Only a failed fsync is final. The append's record
 * is in the log all the same: it says so (DURLOG_ENOTDURABLE, with its
 * number), never with an error a caller would answer by appending it again;
 * a wait retries the sync. */
static _Atomic int refuse_readonly_opens, refused_opens;

static int openat_emfile_for_sync(int dirfd, const char *name, int flags, mode_t mode)
{
    if (atomic_load(&refuse_readonly_opens) && (flags & O_ACCMODE) == O_RDONLY &&
        strstr(name, ".seg")) {
        atomic_fetch_add(&refused_opens, 1);
        errno = EMFILE;
        return -1;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static void failing_to_open_a_segment_for_sync_does_not_fail_the_log(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, NULL);
    REQUIRE(log);
    struct dl_shared *sh = tu_map_shared(t.log);
    REQUIRE(sh);
    atomic_store(&refuse_readonly_opens, 1);
    dl_os.openat = openat_emfile_for_sync;
    uint64_t seq = 77;
    CHECK_RC(tu_append_payload(log, 0, 0, EXTRA, DURLOG_SYNC, &seq), DURLOG_ENOTDURABLE);
    CHECK_EQ_U64(seq, 0);
    CHECK(strstr(durlog_errmsg(log), "to sync it") != NULL);
    CHECK(strstr(durlog_errmsg(log), "record 0") != NULL);
    CHECK(!atomic_load(&sh->failed));
    CHECK_EQ_U64(tu_durable(sh), 0);
    CHECK_EQ_U64(atomic_load(&sh->published_seq), 1); /* in the log */
    /* A batch: the same, with its first number. */
    unsigned char a[TU_PAYLOAD_MAX], b[TU_PAYLOAD_MAX];
    durlog_iov two[2] = { { a, tu_payload(a, 0, 1, EXTRA) }, { b, tu_payload(b, 0, 2, EXTRA) } };
    CHECK_RC(durlog_append_batch(log, two, 2, DURLOG_SYNC, &seq), DURLOG_ENOTDURABLE);
    CHECK_EQ_U64(seq, 1);
    /* Waiting retries, and says why it cannot, until it can. */
    CHECK_RC(durlog_wait(log, 2, DURLOG_SYNC, 0), -EMFILE);
    atomic_store(&refuse_readonly_opens, 0);
    CHECK_OK(durlog_wait(log, 2, DURLOG_SYNC, 0));
    CHECK_EQ_U64(tu_durable(sh), 3);
    CHECK_OK(tu_append_payload(log, 0, 3, EXTRA, DURLOG_SYNC, NULL));
    CHECK_EQ_U64(tu_durable(sh), 4);
    CHECK_OK(fx_close(log));
    tu_restore_os();
    tu_unmap_shared(sh);
    expect_log(t.log, 4);
}

/* The same in the background: the engine's sync (of asynchronous and
 * interval records) that cannot open a segment is tried again, not held
 * against the handle: later appends work, the completions come with
 * success once the sync does, and close succeeds. */
static _Atomic int emfile_completions, emfile_failed_completions;

static void emfile_cb(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    (void)seq;
    if (status)
        atomic_fetch_add(&emfile_failed_completions, 1);
    atomic_fetch_add(&emfile_completions, 1);
}

static void failing_to_open_a_segment_in_the_background_is_retried(void)
{
    struct scratch t;
    struct dl_shared *sh;
    durlog *log = interval_writer(&t, &sh);
    REQUIRE(log && sh);
    atomic_store(&emfile_completions, 0);
    atomic_store(&emfile_failed_completions, 0);
    atomic_store(&refused_opens, 0);
    atomic_store(&refuse_readonly_opens, 1);
    dl_os.openat = openat_emfile_for_sync;
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, 0, 1, EXTRA);
    CHECK_OK(durlog_append_async(log, buf, len, DURLOG_SYNC, emfile_cb, NULL, NULL));
    CHECK_OK(tu_append_payload(log, 0, 2, EXTRA, DURLOG_INTERVAL, NULL));
    /* The engine fails, and tries again. */
    uint64_t start = tu_now_ms();
    while (atomic_load(&refused_opens) < 3 && tu_now_ms() - start < 5000)
        tu_sleep_ms(1);
    CHECK(atomic_load(&refused_opens) >= 3);
    CHECK(!atomic_load(&sh->failed));
    CHECK_EQ_U64(tu_durable(sh), 0);
    CHECK_EQ_U64(atomic_load(&emfile_completions), 0); /* not failed: pending */
    /* Nothing was lost, so nothing is refused. */
    len = tu_payload(buf, 0, 3, EXTRA);
    CHECK_OK(durlog_append_async(log, buf, len, DURLOG_SYNC, emfile_cb, NULL, NULL));
    CHECK_OK(tu_append_payload(log, 0, 4, EXTRA, DURLOG_INTERVAL, NULL));
    atomic_store(&refuse_readonly_opens, 0);
    start = tu_now_ms();
    while ((tu_durable(sh) < 5 || atomic_load(&emfile_completions) < 2) &&
           tu_now_ms() - start < 5000)
        tu_sleep_ms(1);
    CHECK_EQ_U64(tu_durable(sh), 5);
    CHECK_EQ_U64(atomic_load(&emfile_completions), 2);
    CHECK_EQ_U64(atomic_load(&emfile_failed_completions), 0);
    CHECK_OK(fx_close(log));
    tu_restore_os();
    tu_unmap_shared(sh);
    expect_log(t.log, 5);
}

/* An engine thread that cannot be started (EAGAIN: the process is at its
 * thread limit) fails the interval or asynchronous append that needed it
 * before anything is appended, and the next such append tries again. */
static _Atomic int refuse_threads;

static int thread_create_eagain(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    if (atomic_load(&refuse_threads))
        return EAGAIN;
    return dl_os_real.thread_create(thread, fn, arg);
}

static void an_engine_that_cannot_start_fails_the_append_and_is_retried(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, NULL);
    durlog_info info;
    REQUIRE(log);
    atomic_store(&emfile_completions, 0);
    atomic_store(&emfile_failed_completions, 0);
    atomic_store(&refuse_threads, 1);
    dl_os.thread_create = thread_create_eagain;
    uint64_t seq = 77;
    CHECK_RC(tu_append_payload(log, 0, 0, EXTRA, DURLOG_INTERVAL, &seq), -EAGAIN);
    CHECK(strstr(durlog_errmsg(log), "thread") != NULL);
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, 0, 0, EXTRA);
    CHECK_RC(durlog_append_async(log, buf, len, DURLOG_SYNC, emfile_cb, NULL, &seq), -EAGAIN);
    CHECK_RC(durlog_flush(log, DURLOG_INTERVAL), 0); /* nothing owed */
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.next_seq, 0); /* nothing appended */
    atomic_store(&refuse_threads, 0);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_INTERVAL, &seq));
    CHECK_EQ_U64(seq, 0);
    len = tu_payload(buf, 0, 1, EXTRA);
    CHECK_OK(durlog_append_async(log, buf, len, DURLOG_SYNC, emfile_cb, NULL, &seq));
    CHECK_EQ_U64(seq, 1);
    CHECK_OK(durlog_wait(log, 1, DURLOG_SYNC, -1));
    CHECK_OK(fx_close(log));
    tu_restore_os();
    CHECK_EQ_U64(atomic_load(&emfile_completions), 1);
    CHECK_EQ_U64(atomic_load(&emfile_failed_completions), 0);
    expect_log(t.log, 2);
}

/* --- locks, stat, futex and eventfd through the seam ---------------------- */

static void open_fails_with_a_message_when_flock_stat_or_ofd_lock_fails(void)
{
    static const struct { int entry; const char *said; } cases[] = {
        { TU_E_FLOCK, "flock" }, { TU_E_STATX, "stat" }, { TU_E_FCNTL, "lock" },
    };
    struct scratch t;
    scratch_make(&t);
    char err[512];
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    durlog *log;
    /* A log that exists: the second case meets its coordination file. */
    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    tu_faults_arm(TU_E_NONE, 0, 0, 0);
    tu_faults_install(TU_ENTRY_BIT(TU_E_FLOCK) | TU_ENTRY_BIT(TU_E_STATX) |
                      TU_ENTRY_BIT(TU_E_FCNTL));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_faults_arm(cases[i].entry, TU_F_EIO, 1, TU_EVERY_CALL);
        err[0] = '\0';
        CHECK_RC(durlog_open(t.log, &o, &log), -EIO);
        if (!strstr(err, cases[i].said) || !strstr(err, t.log) || !strstr(err, strerror(EIO)))
            fprintf(stderr, "  case %zu: errbuf \"%s\"\n", i, err);
        CHECK(strstr(err, cases[i].said) != NULL);
        CHECK(strstr(err, t.log) != NULL);
        CHECK(strstr(err, strerror(EIO)) != NULL);
        tu_faults_arm(TU_E_NONE, 0, 0, 0);
        /* Nothing was left locked or half done: the next open works. */
        CHECK_OK(durlog_open(t.log, &o, &log));
        CHECK_OK(tu_append_payload(log, 0, i + 1, EXTRA, DURLOG_SYNC, NULL));
        CHECK_OK(durlog_close(log));
    }
    tu_restore_os();
    expect_log(t.log, 4);
}

/* FUTEX_WAIT failing as it only does on a bug (EINVAL) or under a seccomp
 * filter (ENOSYS): counted, to show the caller gave up at once. */
static _Atomic int futex_waits;

static long futex_wait_einval(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    if ((op & FUTEX_CMD_MASK) == FUTEX_WAIT) {
        atomic_fetch_add(&futex_waits, 1);
        errno = EINVAL;
        return -1;
    }
    return dl_os_real.futex(word, op, val, ts);
}

static void a_failing_futex_wait_is_reported_not_looped_on(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, NULL);
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(log);
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_KERNEL, NULL));
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);
    CHECK_OK(durlog_reader_next(r, &rec));
    dl_os.futex = futex_wait_einval;
    /* Nothing arrives: each wait would sleep; its futex fails once, and
     * the call says so, well before its 5 s are up. */
    CHECK_RC(durlog_reader_wait(r, 5000), -EINVAL);
    CHECK(strstr(durlog_reader_errmsg(r), "futex") != NULL);
    CHECK_EQ_U64(atomic_load(&futex_waits), 1);
    CHECK_RC(durlog_wait(log, 1, DURLOG_KERNEL, 5000), -EINVAL);
    CHECK(strstr(durlog_errmsg(log), "futex") != NULL);
    CHECK_EQ_U64(atomic_load(&futex_waits), 2);
    tu_restore_os();
    /* Nothing else broke: the next record is appended and read. */
    CHECK_OK(tu_append_payload(log, 0, 1, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_reader_wait(r, 5000));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 1);
    durlog_reader_close(r);
    CHECK_OK(fx_close(log));
    /* A reader without a coordination file naps between looks: on its own
     * futex word, whose failure it reports the same way. */
    char shm[PATH_MAX + 32];
    snprintf(shm, sizeof shm, "%s/%s", t.log, DL_SHM_NAME);
    CHECK(unlink(shm) == 0);
    REQUIRE(durlog_reader_open(t.log, NULL, &r) == 0);
    dl_os.futex = futex_wait_einval;
    CHECK_RC(durlog_reader_wait(r, 5000), -EINVAL);
    CHECK(strstr(durlog_reader_errmsg(r), "futex") != NULL);
    CHECK_EQ_U64(atomic_load(&futex_waits), 3);
    tu_restore_os();
    durlog_reader_close(r);
    expect_log(t.log, 2);
}

/* The boot id tells recovery whether the page cache survived since the
 * coordination file was built: when it cannot be read, the open fails
 * rather than guess; where the system has none (no /proc), boots cannot be
 * told apart and the log opens as after a reboot. */
static _Atomic int boot_id_errno;

static int openat_boot_id(int dirfd, const char *name, int flags, mode_t mode)
{
    int e = atomic_load(&boot_id_errno);
    if (e && strcmp(name, "/proc/sys/kernel/random/boot_id") == 0) {
        errno = e;
        return -1;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static void an_unreadable_boot_id_fails_the_open_and_a_missing_one_does_not(void)
{
    struct scratch t;
    scratch_make(&t);
    char err[512] = "";
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    durlog *log;
    dl_os.openat = openat_boot_id;
    atomic_store(&boot_id_errno, EMFILE);
    CHECK_RC(durlog_open(t.log, &o, &log), -EMFILE);
    CHECK(strstr(err, "boot_id") != NULL);
    CHECK(strstr(err, strerror(EMFILE)) != NULL);
    atomic_store(&boot_id_errno, ENOENT);
    CHECK_OK(durlog_open(t.log, &o, &log));
    CHECK_OK(tu_append_payload(log, 0, 0, EXTRA, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(log));
    atomic_store(&boot_id_errno, 0);
    tu_restore_os();
    expect_log(t.log, 1);
}

/* The eventfd can only fail to be signalled through a bug (the descriptor
 * durlog_event_fd returned closed by the program): durlog_poll says so,
 * once, and completions are still delivered. */
static _Atomic int eventfd_signals;

static int eventfd_write_ebadf(int fd, uint64_t value)
{
    (void)fd;
    (void)value;
    atomic_fetch_add(&eventfd_signals, 1);
    errno = EBADF;
    return -1;
}

static void done_count(void *ctx, uint64_t seq, int status)
{
    (void)seq;
    if (status == 0)
        atomic_fetch_add((_Atomic int *)ctx, 1);
}

static void an_eventfd_that_cannot_be_signalled_is_reported_by_durlog_poll(void)
{
    struct scratch t;
    durlog *log = fx_open(&t, &(durlog_options){ .poll_callbacks = 1 });
    REQUIRE(log);
    REQUIRE(durlog_event_fd(log) >= 0);
    dl_os.eventfd_write = eventfd_write_ebadf;
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, 0, 0, EXTRA);
    _Atomic int done = 0;
    CHECK_OK(durlog_append_async(log, buf, len, DURLOG_SYNC, done_count, &done, NULL));
    /* The engine syncs it, then tries to make the eventfd readable. */
    for (int i = 0; i < 5000 && !atomic_load(&eventfd_signals); i++)
        tu_sleep_ms(1);
    REQUIRE(atomic_load(&eventfd_signals) > 0);
    CHECK_RC(durlog_poll(log, 0), -EBADF);
    CHECK(strstr(durlog_errmsg(log), "durlog_event_fd") != NULL);
    tu_restore_os();
    for (int i = 0; i < 50 && !atomic_load(&done); i++)
        CHECK(durlog_poll(log, 100) >= 0);
    CHECK_EQ_U64(atomic_load(&done), 1);
    CHECK_OK(fx_close(log));
    expect_log(t.log, 1);
}

/* Creating the log's directory and the handle's event fd go through the
 * seam too: a refusal is the call's error, with a message, and leaves
 * nothing behind; the next call tries again. */
static int refuse_mkdirat(int dirfd, const char *name, mode_t mode)
{
    (void)dirfd;
    (void)name;
    (void)mode;
    errno = EACCES;
    return -1;
}

static int refuse_eventfd(unsigned initval, int flags)
{
    (void)initval;
    (void)flags;
    errno = EMFILE;
    return -1;
}

static void creating_the_directory_or_the_event_fd_fails_cleanly(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log = NULL;
    dl_os.mkdirat = refuse_mkdirat;
    CHECK_RC(durlog_open(t.log, NULL, &log), -EACCES);
    tu_restore_os();
    CHECK(log == NULL);
    CHECK(strstr(durlog_last_errmsg(), "create directory") != NULL);
    CHECK(access(t.log, F_OK) != 0 && errno == ENOENT);

    log = fx_writer(t.log, NULL);
    REQUIRE(log);
    dl_os.eventfd = refuse_eventfd;
    CHECK_RC(durlog_event_fd(log), -EMFILE);
    tu_restore_os();
    CHECK(strstr(durlog_errmsg(log), "eventfd") != NULL);
    int fd = durlog_event_fd(log);
    CHECK(fd >= 0);
    CHECK_RC(durlog_event_fd(log), fd); /* the same one from then on */
    CHECK_OK(fx_close(log));
}

TEST_MAIN(
    RUN(write_all_completes_despite_short_writes_and_eintr);
    RUN(write_all_reports_eio_when_a_write_makes_no_progress);
    RUN(write_all_splits_requests_larger_than_the_kernel_limit);
    RUN(enospc_while_growing_a_segment_fails_the_append_cleanly);
    RUN(enospc_while_creating_a_segment_fails_the_append_cleanly);
    RUN(enospc_in_the_middle_of_a_batch_makes_none_of_it_visible);
    RUN(batch_failing_after_a_roll_leaves_the_old_tail_usable);
    RUN(enospc_while_flushing_keeps_the_buffered_records);
    RUN(fdatasync_eio_puts_the_log_in_the_failed_state);
    RUN(interval_sync_failure_is_reported_to_the_appender_and_at_close);
    RUN(without_fallocate_large_kernel_appends_all_read_back_intact);
    RUN(enospc_flushing_before_a_kernel_append_fails_it_without_crashing);
    RUN(buffered_batch_whose_forced_flush_fails_leaves_none_of_its_records);
    RUN(sync_after_a_leader_died_in_fdatasync_rewrites_what_it_covered);
    RUN(sync_after_a_leader_died_rewrites_records_across_segments);
    RUN(sync_after_a_leader_died_retries_a_rewrite_that_failed);
    RUN(sync_after_a_leader_died_fails_the_log_if_a_record_is_no_longer_intact);
    RUN(sync_after_a_leader_died_fails_the_log_if_the_rewrite_cannot_be_synced);
    RUN(errmsg_is_not_overwritten_by_the_background_pre_faulter);
    RUN(open_reports_eacces_and_names_the_path);
    RUN(failing_to_open_a_segment_for_sync_does_not_fail_the_log);
    RUN(open_fails_with_a_message_when_flock_stat_or_ofd_lock_fails);
    RUN(a_failing_futex_wait_is_reported_not_looped_on);
    RUN(an_unreadable_boot_id_fails_the_open_and_a_missing_one_does_not);
    RUN(an_eventfd_that_cannot_be_signalled_is_reported_by_durlog_poll);
    RUN(failing_to_open_a_segment_in_the_background_is_retried);
    RUN(an_engine_that_cannot_start_fails_the_append_and_is_retried);
    RUN(creating_the_directory_or_the_event_fd_fails_cleanly);
)
