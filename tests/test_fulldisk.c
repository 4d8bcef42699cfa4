/* A real full disk: an 8 MiB ext4 image, loop-mounted, filled by a log.
 * Appends fail with ENOSPC (never SIGBUS), everything acknowledged stays
 * readable and intact, the log checks clean, and once space is freed the
 * log takes appends again. Needs root (mount); the suite runs as root.
 *
 * DURLOG_TEST_FS picks the file system (tests/filesystems.sh runs each):
 * ext4 (default), xfs and btrfs images (the smallest each mkfs makes, all
 * but ~7 MiB taken by a ballast file), a tmpfs of 8 MiB, or bindfs (a FUSE
 * passthrough without fallocate) over an 8 MiB ext4 image. */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "lib/children.h"
#include "lib/payload.h"

#define EXTRA 900

/* What a writer child that fills the disk reports. */
struct fill_result {
    uint64_t acked;      /* records 0..acked-1 were acknowledged */
    int rc;              /* what the first failing append returned */
    int msg_names_space; /* its message says so */
    int again;           /* after the filler went, an append succeeded */
};

struct disk {
    char dir[512], image[600], under[600], mnt[600], log[700], filler[700];
    char fs[16];
    struct fill_result res;
};

static int disk_mount(struct disk *d)
{
    char cmd[4000];
    test_tmpdir(d->dir, sizeof d->dir);
    const char *fs = getenv("DURLOG_TEST_FS");
    snprintf(d->fs, sizeof d->fs, "%s", fs && *fs ? fs : "ext4");
    snprintf(d->image, sizeof d->image, "%s/disk.img", d->dir);
    snprintf(d->under, sizeof d->under, "%s/under", d->dir);
    snprintf(d->mnt, sizeof d->mnt, "%s/mnt", d->dir);
    snprintf(d->log, sizeof d->log, "%s/log", d->mnt);
    snprintf(d->filler, sizeof d->filler, "%s/filler", d->mnt);
    const char *size = "8M", *mkfs = "mkfs.ext4 -q -F";
    int ballast = 0;
    if (strcmp(d->fs, "xfs") == 0) {
        size = "300M"; /* the smallest mkfs.xfs makes */
        mkfs = "mkfs.xfs -q -f";
        ballast = 1;
    } else if (strcmp(d->fs, "btrfs") == 0) {
        size = "128M";
        mkfs = "mkfs.btrfs -q -f";
        ballast = 1;
    } else if (strcmp(d->fs, "tmpfs") == 0) {
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && mount -t tmpfs -o size=8m tmpfs '%s'",
                 d->mnt, d->mnt);
        return tu_sh(cmd);
    } else if (strcmp(d->fs, "ext4") != 0 && strcmp(d->fs, "bindfs") != 0) {
        fprintf(stderr, "  DURLOG_TEST_FS=%s: expected ext4, xfs, btrfs, tmpfs or bindfs\n",
                d->fs);
        return -1;
    }
    int bind = strcmp(d->fs, "bindfs") == 0;
    snprintf(cmd, sizeof cmd, "truncate -s %s '%s' && %s '%s' && mkdir -p '%s' '%s' && "
             "mount -o loop '%s' '%s'", size, d->image, mkfs, d->image, d->under, d->mnt,
             d->image, bind ? d->under : d->mnt);
    int rc = tu_sh(cmd);
    if (rc == 0 && bind) {
        snprintf(cmd, sizeof cmd, "bindfs '%s' '%s'", d->under, d->mnt);
        if ((rc = tu_sh(cmd)) != 0) {
            snprintf(cmd, sizeof cmd, "umount '%s'", d->under);
            tu_sh(cmd);
        }
    }
    if (rc == 0 && ballast) {
        /* All but about 7 MiB taken, as on the 8 MiB disks. */
        struct statvfs vfs;
        if (statvfs(d->mnt, &vfs) == 0) {
            unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
            if (avail > (7ull << 20)) {
                snprintf(cmd, sizeof cmd, "fallocate -l %llu '%s/ballast'",
                         avail - (7ull << 20), d->mnt);
                rc = tu_sh(cmd);
            }
        }
    }
    return rc;
}

static void disk_unmount(void *arg)
{
    struct disk *d = arg;
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "umount '%s'", d->mnt);
    tu_sh(cmd);
    if (strcmp(d->fs, "bindfs") == 0) {
        snprintf(cmd, sizeof cmd, "umount '%s'", d->under);
        tu_sh(cmd);
    }
    test_rmrf(d->dir);
    munmap(d, sizeof *d);
}

/* A mounted disk in shared memory (children write through it), unmounted
 * when the case returns; NULL after a recorded failure. Mounting needs
 * root: the cases skip without it. */
static struct disk *disk_new(void)
{
    struct disk *d = tu_shared_alloc(sizeof *d);
    if (!d) {
        CHECK(!"shared memory for the disk");
        return NULL;
    }
    memset(d, 0, sizeof *d);
    if (disk_mount(d) != 0) {
        CHECK(!"mounted a loop-back ext4 image");
        test_rmrf(d->dir);
        munmap(d, sizeof *d);
        return NULL;
    }
    th_after_case(disk_unmount, d);
    return d;
}

/* Runs fn, a writer that fills the disk, in a child (where a SIGBUS shows
 * as a crash) and checks that it ended at ENOSPC, saying so. */
static void fill_in_a_child(struct disk *d, int (*fn)(void *))
{
    int status = tu_wait(tu_fork(fn, d));
    if (WIFSIGNALED(status))
        fprintf(stderr, "  the writer died of signal %d\n", WTERMSIG(status));
    CHECK(tu_exited_ok(status));
    CHECK_RC(d->res.rc, -ENOSPC);
    CHECK(d->res.msg_names_space);
}

/* Appends writer 0's records from index `first` on, at levels[index %
 * nlevels], until an append fails: notes in res what it returned, whether
 * its message says why, and one past the last record an append
 * acknowledged (a buffered one is not). Returns the index that failed, or
 * UINT64_MAX when the disk never filled. */
static uint64_t append_until_full(durlog *log, struct fill_result *res, uint64_t first,
                                  const durlog_level *levels, unsigned nlevels)
{
    for (uint64_t i = first; i <= first + 100001; i++) {
        durlog_level level = levels[i % nlevels];
        int rc = tu_append_payload(log, 0, i, EXTRA, level, NULL);
        if (rc) {
            res->rc = rc;
            res->msg_names_space = strstr(durlog_errmsg(log), "space") != NULL;
            if (rc != -ENOSPC)
                fprintf(stderr, "  append %" PRIu64 ": %s\n", i, durlog_errmsg(log));
            return i;
        }
        if (level != DURLOG_BUFFERED)
            res->acked = i + 1;
    }
    return UINT64_MAX;
}

/* In a child, so that a SIGBUS would show as a crash: fills the disk. */
static int fill_main(void *arg)
{
    struct disk *d = arg;
    struct fill_result *res = &d->res;
    /* Leave a 1 MiB file to free later. */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "head -c 1048576 /dev/zero > '%s'", d->filler);
    if (system(cmd) != 0)
        return 1;
    durlog_options o = { .segment_size = 1 << 20 };
    durlog *log;
    if (durlog_open(d->log, &o, &log))
        return 1;
    static const durlog_level levels[4] = { DURLOG_KERNEL, DURLOG_BUFFERED,
                                            DURLOG_SYNC, DURLOG_INTERVAL };
    uint64_t i = append_until_full(log, res, 0, levels, 4);
    if (i == UINT64_MAX)
        return 1;
    /* The failed record is not appended; nor is anything buffered before
     * it (still in memory). Free space: appends continue, with the next
     * index after the last acknowledged one. */
    if (unlink(d->filler) != 0)
        return 1;
    if (durlog_flush(log, DURLOG_SYNC) == 0 &&
        tu_append_payload(log, 0, i, EXTRA, DURLOG_SYNC, NULL) == 0)
        res->again = 1;
    else
        fprintf(stderr, "  after the space came back: %s\n", durlog_errmsg(log));
    durlog_close(log);
    return 0;
}

static void filling_a_real_disk_fails_appends_with_enospc_and_loses_nothing(void)
{
    SKIP_UNLESS(geteuid() == 0, "mounts a file system: needs root");
    struct disk *d = disk_new();
    REQUIRE(d);
    fill_in_a_child(d, fill_main);
    CHECK(d->res.acked > 100); /* several MiB went in before the disk filled */
    CHECK(d->res.again);

    /* Every acknowledged record is there, in order and intact, and the log
     * checks clean. */
    uint64_t next_index[1] = { 0 };
    long n = tu_verify_log(d->log, 0, EXTRA, 1, next_index);
    CHECK(n >= 0);
    fprintf(stderr, "  %" PRIu64 " records acknowledged before ENOSPC, %ld in the log\n",
            d->res.acked, n);
    durlog_check_report rep;
    CHECK_OK(durlog_check(d->log, 0, &rep));
    if (rep.damaged)
        fprintf(stderr, "  check: %s\n", rep.problem);
    CHECK(!rep.damaged);

    /* Each acknowledged index is present (the log may also hold buffered
     * records flushed by the sync after the space came back). */
    durlog_reader *r;
    durlog_record rec;
    REQUIRE(durlog_reader_open(d->log, NULL, &r) == 0);
    uint64_t expect = 0;
    while (durlog_reader_next(r, &rec) == 0 && expect < d->res.acked) {
        uint32_t w;
        uint64_t idx;
        CHECK(tu_payload_check(&rec, EXTRA, &w, &idx));
        if (idx == expect)
            expect++;
    }
    CHECK_EQ_U64(expect, d->res.acked);
    durlog_reader_close(r);
}

/* The command on a full disk: status 1 and a message that says why. */
static void durlog_append_on_a_full_disk_says_so(void)
{
    SKIP_UNLESS(geteuid() == 0, "mounts a file system: needs root");
    struct disk *d = disk_new();
    REQUIRE(d);
    const char *bin = getenv("DURLOG_BIN");
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "head -c 16000000 /dev/zero > '%s' 2>/dev/null; "
             "'%s' append -d sync '%s' one two three 2>'%s/err'",
             d->filler, bin && *bin ? bin : "build/durlog", d->log, d->dir);
    int status = system(cmd);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char path[700];
    snprintf(path, sizeof path, "%s/err", d->dir);
    FILE *f = fopen(path, "r");
    char line[1024] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    if (!strstr(line, "No space left"))
        fprintf(stderr, "  stderr: %s\n", line);
    CHECK(strstr(line, "No space left") != NULL);
}

static void feed_zeros(int fd, size_t len)
{
    static const char zeros[65536];
    while (len > 0) {
        size_t n = len < sizeof zeros ? len : sizeof zeros;
        ssize_t w = write(fd, zeros, n);
        if (w <= 0)
            break;
        len -= (size_t)w;
    }
}

/* durlog_put on a real full disk: a size known up front fails at once (the
 * space is reserved first); a stream of unknown size fails mid-way. Either
 * way the old file is intact, no temporary file remains, and its space
 * comes back. */
static void put_on_a_full_disk_fails_with_enospc_and_keeps_the_old_file(void)
{
    SKIP_UNLESS(geteuid() == 0, "mounts a file system: needs root");
    struct disk *d = disk_new();
    REQUIRE(d);
    char path[800], msg[512];
    snprintf(path, sizeof path, "%s/file", d->mnt);
    CHECK_OK(durlog_put_buffer(path, "old", 3, NULL));
    struct statvfs before, after;
    sync(); /* btrfs hands freed space back at its next commit */
    REQUIRE(statvfs(d->mnt, &before) == 0);
    size_t len = 16 << 20; /* twice the disk */
    unsigned char *big = calloc(1, len);
    REQUIRE(big);
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, big, len, &o), -ENOSPC);
    CHECK(strstr(msg, "No space left") != NULL);

    /* From a pipe: no size, so no reservation; the writes hit the wall. */
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        feed_zeros(pfd[1], len);
        _exit(0);
    }
    close(pfd[1]);
    msg[0] = '\0';
    CHECK_RC(durlog_put_fd(path, pfd[0], &o), -ENOSPC);
    close(pfd[0]);
    tu_wait(pid);
    CHECK(strstr(msg, "No space left") != NULL);

    size_t got;
    unsigned char buf[8] = { 0 };
    int fd = open(path, O_RDONLY);
    got = fd >= 0 ? (size_t)read(fd, buf, sizeof buf) : 0;
    if (fd >= 0)
        close(fd);
    CHECK(got == 3 && memcmp(buf, "old", 3) == 0);
    char cmd[900];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q '^\\.durlog-put\\.'", d->mnt);
    CHECK(system(cmd) != 0);
    sync();
    REQUIRE(statvfs(d->mnt, &after) == 0);
    CHECK(after.f_bfree + 16 >= before.f_bfree); /* the space came back */
    free(big);
}

/* A log copied sparsely (cp --sparse=always) onto a nearly full file
 * system: the zeros past its records are holes. Appending must fail with
 * ENOSPC when the space runs out, not fault storing into a hole (recovery
 * allocates the holes it would store into, or counts them as unallocated);
 * every acknowledged record stays. In a child: a signal shows as a crash. */
static int sparse_main(void *arg)
{
    struct disk *d = arg;
    struct fill_result *res = &d->res;
    static const durlog_level kernel[1] = { DURLOG_KERNEL };
    durlog *log;
    res->acked = 100; /* the copy's */
    if (durlog_open(d->log, NULL, &log))
        return 2;
    if (append_until_full(log, res, 100, kernel, 1) == UINT64_MAX)
        return 3;
    durlog_close(log);
    return 0;
}

static void a_sparse_copy_on_a_full_disk_fails_with_enospc(void)
{
    SKIP_UNLESS(geteuid() == 0, "mounts a file system: needs root");
    struct disk *d = disk_new();
    REQUIRE(d);
    char src[600], cmd[2400];
    snprintf(src, sizeof src, "%s/src", d->dir);
    durlog_options o = { .segment_size = 4 << 20 };
    durlog *log;
    REQUIRE(durlog_open(src, &o, &log) == 0);
    for (uint64_t i = 0; i < 100; i++)
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_close(log));
    /* All but 1 MiB of the disk taken, then the copy. */
    struct statvfs vfs;
    REQUIRE(statvfs(d->mnt, &vfs) == 0);
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    REQUIRE(avail > (2u << 20));
    snprintf(cmd, sizeof cmd, "head -c %llu /dev/zero > '%s' && cp -r --sparse=always '%s' '%s'",
             (unsigned long long)(avail - (1u << 20)), d->filler, src, d->log);
    REQUIRE(system(cmd) == 0);
    struct stat st;
    char seg[800];
    snprintf(seg, sizeof seg, "%s/00000000000000000000.seg", d->log);
    REQUIRE(stat(seg, &st) == 0);
    CHECK((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size); /* holes */

    fill_in_a_child(d, sparse_main);
    CHECK(d->res.acked > 100);
    uint64_t next_index[1] = { 0 };
    long n = tu_verify_log(d->log, 0, EXTRA, 1, next_index);
    CHECK_EQ_U64(n, d->res.acked);
}

TEST_MAIN(
    RUN(filling_a_real_disk_fails_appends_with_enospc_and_loses_nothing);
    RUN(durlog_append_on_a_full_disk_says_so);
    RUN(put_on_a_full_disk_fails_with_enospc_and_keeps_the_old_file);
    RUN(a_sparse_copy_on_a_full_disk_fails_with_enospc);
)
