/*
 * test_io.c - the I/O modes (issue #15): which one `auto` picks on which
 * file system, DURLOG_IO and the option, that pwrite mode never stores
 * through a writable mapping, and that writers in different modes are not
 * mixed on one log.
 *
 * The file system tests mount a tmpfs and a FUSE passthrough (bindfs) as
 * root, and unmount them whatever happens.
 */
#include <limits.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "lib/children.h"
#include "lib/payload.h"
#include "lib/seam.h"

static int open_mode(const char *path, durlog_io_mode mode, durlog **out, char *err,
                     size_t errlen)
{
    durlog_options o = {
        .segment_size = 1 << 20,
        .io_mode = mode,
        .errbuf = err,
        .errbuf_size = errlen,
    };
    return durlog_open(path, &o, out);
}

/* Writable shared mappings of the log's segment files in this process
 * (from /proc/self/maps: "rw-s" and a path under the log). */
static int writable_segment_maps(const char *log)
{
    char real[PATH_MAX];
    if (!realpath(log, real))
        return -1;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char perms[8] = "";
        if (sscanf(line, "%*s %7s", perms) != 1)
            continue;
        if (strstr(line, real) && strstr(line, ".seg") && perms[1] == 'w')
            n++;
    }
    fclose(f);
    return n;
}

static void append_some(durlog *log, durlog_level level, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++)
        CHECK_OK(tu_append_payload(log, 0, i, 300, level, NULL));
}

/* The option, the environment variable (used only when the option is
 * auto), and a bad value of either. */
static void test_mode_choice(void)
{
    struct scratch s;
    scratch_make(&s);
    char err[512];
    durlog *log;
    tu_io_mode("auto");
    CHECK_OK(open_mode(s.log, DURLOG_IO_AUTO, &log, err, sizeof err));
    CHECK(strcmp(durlog_io(log), "mmap") == 0); /* the suite runs on ext4 */
    CHECK_OK(durlog_close(log));
    CHECK_OK(open_mode(s.log, DURLOG_IO_PWRITE, &log, err, sizeof err));
    CHECK(strcmp(durlog_io(log), "pwrite") == 0);
    CHECK_OK(durlog_close(log));
    tu_io_mode("pwrite");
    CHECK_OK(open_mode(s.log, DURLOG_IO_AUTO, &log, err, sizeof err));
    CHECK(strcmp(durlog_io(log), "pwrite") == 0);
    CHECK_OK(durlog_close(log));
    CHECK_OK(open_mode(s.log, DURLOG_IO_MMAP, &log, err, sizeof err));
    CHECK(strcmp(durlog_io(log), "mmap") == 0); /* the option wins */
    CHECK_OK(durlog_close(log));
    tu_io_mode("bogus");
    CHECK_RC(open_mode(s.log, DURLOG_IO_AUTO, &log, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "DURLOG_IO=bogus") != NULL);
    tu_io_mode(NULL);
    CHECK_RC(open_mode(s.log, (durlog_io_mode)7, &log, err, sizeof err), -EINVAL);
    char fs[32], mode[16];
    CHECK_OK(durlog_fs_type(s.dir, fs, sizeof fs, mode, sizeof mode));
    CHECK(strcmp(fs, "ext4") == 0 && strcmp(mode, "mmap") == 0);
    CHECK(durlog_fs_type("/nonexistent/x", fs, sizeof fs, mode, sizeof mode) == -ENOENT);
}

/* pwrite mode stores through no writable mapping of a segment (mmap mode
 * does: the test would see it), at any level, across rolls, and its records
 * read back, also by a reader in mmap mode's process. */
static void test_pwrite_mode_has_no_writable_mapping(void)
{
    struct scratch s;
    scratch_make(&s);
    char err[512];
    durlog *log;
    CHECK_OK(open_mode(s.log, DURLOG_IO_MMAP, &log, err, sizeof err));
    append_some(log, DURLOG_KERNEL, 0, 10);
    CHECK(writable_segment_maps(s.log) > 0);
    CHECK_OK(durlog_close(log));

    CHECK_OK(open_mode(s.log, DURLOG_IO_PWRITE, &log, err, sizeof err));
    static const durlog_level levels[4] = { DURLOG_BUFFERED, DURLOG_KERNEL,
                                            DURLOG_INTERVAL, DURLOG_SYNC };
    for (uint64_t i = 10; i < 6000; i++)
        CHECK_OK(tu_append_payload(log, 0, i, 300, levels[i % 4], NULL));
    durlog_iov batch[50];
    static unsigned char bufs[50][TU_PAYLOAD_HEAD + 300];
    for (int i = 0; i < 50; i++) {
        size_t n = tu_payload(bufs[i], 0, 6000 + (uint64_t)i, 300);
        batch[i] = (durlog_iov){ bufs[i], n };
    }
    uint64_t first = 0;
    CHECK_OK(durlog_append_batch(log, batch, 50, DURLOG_SYNC, &first));
    CHECK_EQ_U64(first, 6000);
    CHECK_EQ_U64(writable_segment_maps(s.log), 0);
    durlog_info info;
    CHECK_OK(durlog_get_info(log, &info));
    CHECK(info.segments > 1); /* it rolled */
    CHECK_OK(durlog_close(log));
    uint64_t next_index[1] = { 0 };
    CHECK_EQ_U64(tu_verify_log(s.log, 0, 300, 1, next_index), 6050);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK(!rep.damaged);
}

/* A writer in the other mode than the writers that have the log open is
 * refused, saying why and what to do; once they closed, it opens. */
static void test_modes_not_mixed(void)
{
    struct scratch s;
    scratch_make(&s);
    char err[512];
    durlog *a, *b;
    CHECK_OK(open_mode(s.log, DURLOG_IO_MMAP, &a, err, sizeof err));
    append_some(a, DURLOG_KERNEL, 0, 5);
    CHECK_RC(open_mode(s.log, DURLOG_IO_PWRITE, &b, err, sizeof err), -EBUSY);
    CHECK(strstr(err, "mmap I/O mode") != NULL && strstr(err, "DURLOG_IO") != NULL);
    /* The same mode joins. */
    CHECK_OK(open_mode(s.log, DURLOG_IO_MMAP, &b, err, sizeof err));
    append_some(b, DURLOG_SYNC, 5, 5);
    CHECK_OK(durlog_close(b));
    CHECK_OK(durlog_close(a));
    CHECK_OK(open_mode(s.log, DURLOG_IO_PWRITE, &b, err, sizeof err));
    append_some(b, DURLOG_SYNC, 10, 5);
    CHECK_RC(open_mode(s.log, DURLOG_IO_MMAP, &a, err, sizeof err), -EBUSY);
    CHECK(strstr(err, "pwrite I/O mode") != NULL);
    /* A handle left on auto (which picks mmap here) joins in their mode. */
    tu_io_mode("auto");
    CHECK_OK(open_mode(s.log, DURLOG_IO_AUTO, &a, err, sizeof err));
    CHECK(strcmp(durlog_io(a), "pwrite") == 0);
    append_some(a, DURLOG_KERNEL, 15, 5);
    CHECK_OK(durlog_close(a));
    tu_io_mode(NULL);
    CHECK_OK(durlog_close(b));
    uint64_t next_index[1] = { 0 };
    CHECK_EQ_U64(tu_verify_log(s.log, 0, 300, 1, next_index), 20);
}

/* `auto` on a tmpfs (mmap) and on a FUSE passthrough (pwrite), and a log
 * written through the FUSE mount reads back the same from the file system
 * under it. */
static void test_auto_per_file_system(void)
{
    struct scratch s;
    char mnt[400], under[400], over[400], cmd[1400], err[512];
    scratch_make(&s);
    snprintf(mnt, sizeof mnt, "%s/tmpfs", s.dir);
    snprintf(under, sizeof under, "%s/under", s.dir);
    snprintf(over, sizeof over, "%s/over", s.dir);
    SKIP_UNLESS(geteuid() == 0, "mounts a tmpfs and a FUSE file system: needs root");
    REQUIRE(mkdir(mnt, 0755) == 0 && mkdir(under, 0755) == 0 && mkdir(over, 0755) == 0);

    tu_io_mode("auto");
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=16m") == 0) {
        char log_path[500];
        snprintf(log_path, sizeof log_path, "%s/log", mnt);
        durlog *log;
        CHECK_OK(open_mode(log_path, DURLOG_IO_AUTO, &log, err, sizeof err));
        CHECK(strcmp(durlog_io(log), "mmap") == 0);
        append_some(log, DURLOG_SYNC, 0, 20);
        CHECK_OK(durlog_close(log));
        char fs[32], mode[16];
        CHECK_OK(durlog_fs_type(mnt, fs, sizeof fs, mode, sizeof mode));
        CHECK(strcmp(fs, "tmpfs") == 0);
        CHECK(umount(mnt) == 0);
    } else {
        CHECK(!"mounted a tmpfs");
    }

    /* bindfs without its multithreading: fallocate is not passed through
     * (FUSE passthrough without fallocate, as the issue asks). */
    snprintf(cmd, sizeof cmd, "bindfs --no-allow-other '%s' '%s'", under, over);
    if (tu_sh(cmd) == 0) {
        char log_path[500], under_log[500], fs[32], mode[16];
        snprintf(log_path, sizeof log_path, "%s/log", over);
        snprintf(under_log, sizeof under_log, "%s/log", under);
        CHECK_OK(durlog_fs_type(over, fs, sizeof fs, mode, sizeof mode));
        CHECK(strcmp(fs, "fuse") == 0 && strcmp(mode, "pwrite") == 0);
        durlog *log;
        CHECK_OK(open_mode(log_path, DURLOG_IO_AUTO, &log, err, sizeof err));
        CHECK(strcmp(durlog_io(log), "pwrite") == 0);
        append_some(log, DURLOG_KERNEL, 0, 3000);
        append_some(log, DURLOG_SYNC, 3000, 10);
        CHECK_EQ_U64(writable_segment_maps(log_path), 0);
        CHECK_OK(durlog_close(log));
        uint64_t next_index[1] = { 0 };
        CHECK_EQ_U64(tu_verify_log(log_path, 0, 300, 1, next_index), 3010);
        next_index[0] = 0;
        CHECK_EQ_U64(tu_verify_log(under_log, 0, 300, 1, next_index), 3010);
        snprintf(cmd, sizeof cmd, "umount '%s'", over);
        CHECK(tu_sh(cmd) == 0);
    } else {
        CHECK(!"mounted bindfs");
    }
    tu_io_mode(NULL);
}

TEST_MAIN({
    RUN(test_mode_choice);
    RUN(test_pwrite_mode_has_no_writable_mapping);
    RUN(test_modes_not_mixed);
    RUN(test_auto_per_file_system);
})
