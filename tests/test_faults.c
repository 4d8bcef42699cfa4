/* Faults injected through the dl_os seam: short writes, EINTR, a full disk
 * while allocating or writing, a failing fdatasync, a refused open. Each test
 * restores dl_os before it ends. */
#include <dirent.h>

#include "testutil.h"

#define EXTRA 1000 /* filler bytes per payload, at most */

static int append_payload(durlog *log, uint32_t writer, uint64_t index,
                          durlog_level level, uint64_t *seq)
{
    unsigned char buf[TU_PAYLOAD_MAX];
    size_t len = tu_payload(buf, writer, index, EXTRA);
    return durlog_append(log, buf, len, level, seq);
}

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
    /* Creating the first segment allocates 64 KiB; growing it fails. */
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
        bytes += 32 + ((len + 7) & ~(size_t)7);
    }
    CHECK_RC(rc, -ENOSPC);
    /* It failed exactly when the records outgrew the allocated 64 KiB. */
    size_t failed_len = tu_payload_len(0, i, EXTRA);
    CHECK(bytes <= 65536);
    CHECK(bytes + 32 + ((failed_len + 7) & ~(size_t)7) > 65536);
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
    CHECK_RC(append_payload(log, 0, i, DURLOG_SYNC, &seq), -ENOSPC);
    expect_log(t.log, i);

    /* Space again: the next append gets the next number. */
    disk_has_room();
    CHECK_OK(append_payload(log, 0, i, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, i);
    for (uint64_t j = i + 1; j < i + 200; j++)
        CHECK_OK(append_payload(log, 0, j, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log)); /* stops the pre-faulter */
    tu_restore_os();
    expect_log(t.log, i + 200);
    /* Reopening (recovery) finds nothing to cut. */
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    durlog_recovery rep;
    durlog_last_recovery(log, &rep);
    CHECK_EQ_U64(rep.bytes_cut, 0);
    CHECK_OK(durlog_close(log));
    test_rmrf(t.dir);
}

static void enospc_while_creating_a_segment_fails_the_append_cleanly(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = 4096;
    durlog *log;
    uint64_t seq;
    durlog_info info;
    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    uint64_t i = 0;
    do {
        CHECK_OK(append_payload(log, 0, i++, DURLOG_KERNEL, NULL));
        CHECK_OK(durlog_get_info(log, &info));
    } while (info.segments < 2 && i < 100);
    REQUIRE(info.segments == 2);

    disk_full(1, 0); /* no background thread: 4 KiB segments never grow */
    int rc = 0;
    uint64_t failed_at = 0;
    for (; i < 100; i++) {
        rc = append_payload(log, 0, i, DURLOG_KERNEL, &seq);
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
    CHECK_OK(append_payload(log, 0, failed_at, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, failed_at);
    CHECK_OK(durlog_close(log));
    tu_restore_os();
    expect_log(t.log, failed_at + 1);
    test_rmrf(t.dir);
}

static void enospc_in_the_middle_of_a_batch_makes_none_of_it_visible(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog *log;
    uint64_t seq;
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    /* The first segment gets 64 KiB; it cannot grow (set before the first
     * append, so that the pre-faulter cannot grow it ahead either). */
    disk_full(1, -1);
    /* 40 records of about 540 bytes: 21 KiB. */
    uint64_t n = 0;
    for (; n < 40; n++)
        CHECK_OK(append_payload(log, 0, n, DURLOG_KERNEL, NULL));
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
    CHECK_OK(append_payload(log, 0, n, DURLOG_KERNEL, &seq));
    CHECK_EQ_U64(seq, n);
    n++;
    CHECK_OK(durlog_close(log));
    tu_restore_os();
    expect_log(t.log, n);
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_OK(durlog_close(log));
    expect_log(t.log, n);
    test_rmrf(t.dir);
}

/* A batch that rolls to a new segment (made big for its first, big record)
 * and then fails to create the next must leave the tail as it was: later
 * appends go into the old segment, within the space its file really has. */
static int batch_failing_after_a_roll_main(void *arg)
{
    const char *path = arg;
    durlog_options o;
    durlog_options_init(&o);
    o.segment_size = 1 << 20;
    durlog *log;
    uint64_t seq;
    if (durlog_open(path, &o, &log))
        return 1;
    disk_full(1, -1); /* segment 0 stays at its first 64 KiB */
    int bad = 0;
    for (uint64_t i = 0; i < 10; i++)
        bad |= append_payload(log, 0, i, DURLOG_KERNEL, NULL) != 0;
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
    /* The disk has room again. Segment 0 (64 KiB in its file, 1 MiB
     * capacity) takes the next records, and must be grown before they go
     * past its 64 KiB: never a store past the end of the file (SIGBUS). */
    disk_has_room();
    for (uint64_t i = 10; i < 400; i++) {
        rc = append_payload(log, 0, i, DURLOG_KERNEL, &seq);
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
    test_rmrf(t.dir);
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
    CHECK_OK(append_payload(log, 0, 0, DURLOG_KERNEL, &seq));
    uint64_t n = 1;
    /* First a flush that fails outright, then one that writes part of the
     * run before the disk fills (a short write, then ENOSPC). */
    for (int partial = 0; partial < 2; partial++) {
        for (int k = 0; k < 10; k++, n++)
            CHECK_OK(append_payload(log, 0, n, DURLOG_BUFFERED, NULL));
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
        CHECK_RC(append_payload(log, 0, n, DURLOG_KERNEL, &seq), -ENOSPC);
        expect_log(t.log, n - 10);
        tu_restore_os();
        /* Room again: all ten, once each, in order. */
        CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
        expect_log(t.log, n);
        CHECK_OK(append_payload(log, 0, n, DURLOG_KERNEL, &seq));
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
    test_rmrf(t.dir);
}

/* --- fdatasync failures -------------------------------------------------- */

static _Atomic int fdatasync_fails;

static int fdatasync_maybe_eio(int fd)
{
    if (atomic_load(&fdatasync_fails)) {
        errno = EIO;
        return -1;
    }
    return dl_os_real.fdatasync(fd);
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
        CHECK_OK(append_payload(log, 0, n, DURLOG_SYNC, NULL));
    for (; n < 20; n++)
        CHECK_OK(append_payload(log, 0, n, DURLOG_KERNEL, NULL));
    CHECK_OK(append_payload(log, 0, n++, DURLOG_BUFFERED, NULL));

    atomic_store(&fdatasync_fails, 1);
    dl_os.fdatasync = fdatasync_maybe_eio;
    CHECK_RC(append_payload(log, 0, n, DURLOG_SYNC, &seq), -EIO);
    const char *msg = durlog_errmsg(log);
    if (!strstr(msg, "fdatasync") || !strstr(msg, "00000000000000000000.seg"))
        fprintf(stderr, "  message: %s\n", msg);
    CHECK(strstr(msg, "fdatasync") != NULL);
    CHECK(strstr(msg, "00000000000000000000.seg") != NULL);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.durable_seq, 5); /* never moved past the failure */

    /* Even once fdatasync works again, nothing is trusted: the log is failed
     * for every handle until all close and it is reopened. */
    atomic_store(&fdatasync_fails, 0);
    CHECK_RC(append_payload(log, 0, n + 1, DURLOG_SYNC, NULL), DURLOG_EFAILED);
    CHECK_RC(append_payload(log, 0, n + 1, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    CHECK_RC(append_payload(log, 0, n + 1, DURLOG_INTERVAL, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_flush(log, DURLOG_SYNC), DURLOG_EFAILED);
    CHECK_RC(durlog_wait(log, 0, DURLOG_SYNC, 0), DURLOG_EFAILED);
    CHECK_RC(append_payload(other, 1, 0, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_flush(other, DURLOG_SYNC), DURLOG_EFAILED);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK_EQ_U64(info.durable_seq, 5);
    tu_restore_os();

    /* Reopening one handle while the other stays open does not clear it. */
    durlog_close(log);
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_RC(append_payload(log, 0, n + 1, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    durlog_close(log);
    durlog_close(other);

    /* All closed: reopening recovers. The records appended before the
     * failure (kernel ones: in the page cache) are all readable; the record
     * of the failed sync append may or may not be. */
    REQUIRE(durlog_open(t.log, NULL, &log) == 0);
    CHECK_OK(durlog_get_info(log, &info));
    uint64_t kept = info.next_seq;
    CHECK(kept == n || kept == n + 1);
    CHECK_OK(append_payload(log, 0, kept, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, kept);
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.durable_seq > seq);
    CHECK_OK(durlog_close(log));
    expect_log(t.log, kept + 1);
    test_rmrf(t.dir);
}

static void interval_sync_failure_is_reported_to_the_appender_and_at_close(void)
{
    struct scratch t;
    scratch_make(&t);
    durlog_options o;
    durlog_options_init(&o);
    o.interval_ms = 20;
    durlog *log;
    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    CHECK_OK(append_payload(log, 0, 0, DURLOG_KERNEL, NULL));
    struct dl_shared *sh = tu_map_shared(t.log);
    REQUIRE(sh);
    atomic_store(&fdatasync_fails, 1);
    dl_os.fdatasync = fdatasync_maybe_eio;
    CHECK_OK(append_payload(log, 0, 1, DURLOG_INTERVAL, NULL));
    /* The background sync fails: the log enters the failed state. */
    uint64_t start = tu_now_ms();
    while (!atomic_load(&sh->failed) && tu_now_ms() - start < 5000)
        tu_sleep_ms(5);
    CHECK(atomic_load(&sh->failed));
    CHECK_EQ_U64(tu_durable(sh), 0);
    atomic_store(&fdatasync_fails, 0);
    int rc = append_payload(log, 0, 2, DURLOG_INTERVAL, NULL);
    CHECK(rc == -EIO || rc == DURLOG_EFAILED);
    CHECK(durlog_close(log) != 0);
    tu_restore_os();
    tu_unmap_shared(sh);
    REQUIRE(durlog_open(t.log, &o, &log) == 0);
    CHECK_OK(append_payload(log, 0, 2, DURLOG_INTERVAL, NULL));
    CHECK_OK(durlog_close(log));
    expect_log(t.log, 3);
    test_rmrf(t.dir);
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
    durlog_options o;
    durlog_options_init(&o);
    o.errbuf = err;
    o.errbuf_size = sizeof err;
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
    CHECK_OK(append_payload(log, 0, 0, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    expect_log(t.log, 1);
    test_rmrf(t.dir);
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
    RUN(open_reports_eacces_and_names_the_path);
)
