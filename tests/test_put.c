/* Whole files written safely: durlog_put_buffer/fd/begin..commit.
 *
 *  - content, mode and owner of new and replaced files; streams; sources
 *    that are files, pipes or refuse copy_file_range;
 *  - progress: starts at 0, never goes back, ends at the total; a cancel
 *    leaves the destination untouched;
 *  - errors (a directory, a missing directory, a FIFO, EACCES, EXDEV ...):
 *    a message, the old file untouched, no temporary file left;
 *  - symbolic links followed only where fs.protected_symlinks would (not
 *    another user's link in a sticky world-writable directory, as the last
 *    component or a directory on the way), read through the descriptor
 *    that was checked (a link swapped after the check changes nothing);
 *    loops and the 40-link limit; links to nothing;
 *  - options: a zero-filled struct is the defaults; unknown flag bits and
 *    non-zero reserved fields are refused;
 *  - a fault at every system call of a put (EIO, ENOSPC, EDQUOT, EXDEV,
 *    EINTR storms, one-byte transfers), with either kind of temporary file:
 *    each fails the put (a failed writeback too: waiting for it consumed
 *    the error, so the fsync after it would not see it);
 *    only the directory's fsync, after the rename, returns DURLOG_EDIRSYNC,
 *    with the new content in place;
 *  - a process killed before each system call of a put, and at random
 *    moments of a large one: the destination is old or new, and the next put
 *    removes a temporary file the killed one left;
 *  - power loss, simulated in the seam: every state a crash before each
 *    call could leave holds the old or the new content, whole, and once the
 *    put has returned success, the new; with the syncs skipped (or a disk
 *    that lies about them) the model finds states that do not, so it can
 *    fail;
 *  - concurrent puts from several processes to one directory;
 *  - a buffer over 2 GiB (on tmpfs: $DURLOG_BIG_DIR, default /dev/shm).
 */
#include <dirent.h>
#include <sys/file.h>
#include <sys/statvfs.h>

#include "put.h"
#include "lib/children.h"
#include "lib/faultloop.h"
#include "lib/putloss.h"
#include "lib/seam.h"
#include "lib/timing.h"

#define OLD_TEXT "the old content, which must survive every failure\n"

/* ---- helpers ---- */

struct dest {
    char dir[256];
    char path[320];
};

static void dest_make(struct dest *d, const char *old)
{
    test_tmpdir(d->dir, sizeof d->dir);
    snprintf(d->path, sizeof d->path, "%s/file", d->dir);
    if (old) {
        FILE *f = fopen(d->path, "w");
        if (f) {
            fputs(old, f);
            fclose(f);
        }
    }
}

static unsigned char *slurp_path(const char *path, size_t *len)
{
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)) != NULL) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        *len = got;
    }
    close(fd);
    return buf;
}

static int file_is(const char *path, const void *want, size_t len)
{
    size_t got;
    unsigned char *buf = slurp_path(path, &got);
    int same = buf && got == len && memcmp(buf, want, len) == 0;
    free(buf);
    return same;
}

static int file_is_old(const char *path)
{
    return file_is(path, OLD_TEXT, strlen(OLD_TEXT));
}

/* Temporary files of puts in dir. */
static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, ".durlog-put.", 12) == 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static unsigned char *pattern(size_t len, uint64_t seed)
{
    unsigned char *p = malloc(len ? len : 1);
    if (p)
        test_fill(p, len, seed);
    return p;
}

/* A DEST holding OLD_TEXT, and len bytes of new content for it (pattern
 * `seed`), malloc'd. */
static unsigned char *dest_and_new(struct dest *d, size_t len, uint64_t seed)
{
    dest_make(d, OLD_TEXT);
    return pattern(len, seed);
}

/* ---- content, mode, owner ---- */

static void test_put_new_and_replace(void)
{
    struct dest d;
    char msg[512];
    dest_make(&d, NULL);
    mode_t old_umask = umask(022);
    unsigned char *data = pattern(100000, 1);
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };

    CHECK_OK(durlog_put_buffer(d.path, data, 100000, &o));
    CHECK(file_is(d.path, data, 100000));
    struct stat st;
    CHECK(stat(d.path, &st) == 0 && (st.st_mode & 07777) == 0644);

    /* Replacing keeps the old file's permission bits, whatever the umask. */
    CHECK(chmod(d.path, 0640) == 0);
    umask(077);
    CHECK_OK(durlog_put_buffer(d.path, data + 7, 5000, &o));
    CHECK(file_is(d.path, data + 7, 5000));
    CHECK(stat(d.path, &st) == 0 && (st.st_mode & 07777) == 0640);

    /* Empty content; a relative path in the current directory. */
    CHECK_OK(durlog_put_buffer(d.path, NULL, 0, &o));
    CHECK(stat(d.path, &st) == 0 && st.st_size == 0);
    char cwd[PATH_MAX];
    REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
    REQUIRE(chdir(d.dir) == 0);
    CHECK_OK(durlog_put_buffer("rel", "abc", 3, &o));
    CHECK(file_is("rel", "abc", 3));
    CHECK(chdir(cwd) == 0);
    CHECK_EQ_U64(count_temps(d.dir), 0);
    umask(old_umask);
    free(data);
}

static void test_put_mode_and_owner(void)
{
    struct dest d;
    dest_make(&d, OLD_TEXT);
    SKIP_UNLESS(geteuid() == 0, "chown needs root");
    durlog_put_options o = { 0 };

    /* Owner and group of the replaced file are kept (root may give away). */
    CHECK(chown(d.path, 1234, 5678) == 0);
    CHECK(chmod(d.path, 02750) == 0);
    CHECK_OK(durlog_put_buffer(d.path, "x", 1, &o));
    struct stat st;
    CHECK(stat(d.path, &st) == 0);
    CHECK_EQ_U64(st.st_uid, 1234);
    CHECK_EQ_U64(st.st_gid, 5678);
    CHECK_EQ_U64(st.st_mode & 07777, 02750); /* set after chown cleared it */

    /* Set explicitly: exactly these bits, the umask notwithstanding. */
    mode_t old_umask = umask(077);
    o.flags = DURLOG_PUT_SET_MODE | DURLOG_PUT_SET_OWNER;
    o.mode = 0604;
    o.uid = 42;
    o.gid = (gid_t)-1;
    CHECK_OK(durlog_put_buffer(d.path, "yz", 2, &o));
    CHECK(stat(d.path, &st) == 0);
    CHECK_EQ_U64(st.st_mode & 07777, 0604);
    CHECK_EQ_U64(st.st_uid, 42);
    umask(old_umask);
    CHECK(file_is(d.path, "yz", 2));
}

static void test_put_stream(void)
{
    struct dest d;
    size_t len = 3 << 20;
    unsigned char *data = dest_and_new(&d, len, 2);
    uint64_t rng = 99;
    durlog_put *p;

    /* Many small pieces. */
    CHECK_OK(durlog_put_begin(d.path, NULL, &p));
    CHECK(file_is_old(d.path)); /* nothing visible before commit */
    for (size_t off = 0; off < len;) {
        size_t n = 1 + test_rand(&rng) % 70000;
        if (n > len - off)
            n = len - off;
        CHECK_OK(durlog_put_write(p, data + off, n));
        off += n;
    }
    CHECK(file_is_old(d.path));
    CHECK_OK(durlog_put_commit(p));
    CHECK(file_is(d.path, data, len));

    /* A size hint too large (space reserved, then given back) and too small. */
    durlog_put_options o = { .size_hint = 10 << 20 };
    CHECK_OK(durlog_put_begin(d.path, &o, &p));
    CHECK_OK(durlog_put_write(p, data, 1000));
    CHECK_OK(durlog_put_commit(p));
    CHECK(file_is(d.path, data, 1000));
    o.size_hint = 10;
    CHECK_OK(durlog_put_begin(d.path, &o, &p));
    CHECK_OK(durlog_put_write(p, data, 5000));
    CHECK_OK(durlog_put_commit(p));
    CHECK(file_is(d.path, data, 5000));

    /* Abort: untouched, nothing left behind. */
    CHECK_OK(durlog_put_begin(d.path, NULL, &p));
    CHECK_OK(durlog_put_write(p, "junk", 4));
    durlog_put_abort(p);
    CHECK(file_is(d.path, data, 5000));
    CHECK_EQ_U64(count_temps(d.dir), 0);

    /* Bad arguments. */
    CHECK_RC(durlog_put_begin(NULL, NULL, &p), -EINVAL);
    CHECK_RC(durlog_put_begin("", NULL, &p), -EINVAL);
    CHECK_RC(durlog_put_begin(d.path, NULL, NULL), -EINVAL);
    CHECK_RC(durlog_put_write(NULL, "x", 1), -EINVAL);
    CHECK_RC(durlog_put_commit(NULL), -EINVAL);
    durlog_put_abort(NULL);
    CHECK_RC(durlog_put_buffer(d.path, NULL, 5, NULL), -EINVAL);
    CHECK_OK(durlog_put_begin(d.path, NULL, &p));
    CHECK_RC(durlog_put_write(p, NULL, 5), -EINVAL);
    durlog_put_abort(p);
    CHECK(file_is(d.path, data, 5000));
    free(data);
}

/* ---- sources ---- */

static ssize_t refuse_copy_range(int in, off_t *in_off, int out, off_t *out_off,
                             size_t len, unsigned flags)
{
    (void)in; (void)in_off; (void)out; (void)out_off; (void)len; (void)flags;
    errno = EXDEV;
    return -1;
}

static _Atomic int reads_seen;

static ssize_t counting_read(int fd, void *buf, size_t len)
{
    atomic_fetch_add(&reads_seen, 1);
    return dl_os_real.read(fd, buf, len);
}

struct feeder {
    int fd;
    const unsigned char *data;
    size_t len;
};

static void *feed_pipe(void *arg)
{
    struct feeder *f = arg;
    size_t off = 0;
    while (off < f->len) {
        size_t n = f->len - off < 7777 ? f->len - off : 7777;
        ssize_t w = write(f->fd, f->data + off, n);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

static void test_put_fd_sources(void)
{
    struct dest d;
    size_t len = (5 << 20) + 321;
    unsigned char *data = dest_and_new(&d, len, 3);
    char src[400];
    snprintf(src, sizeof src, "%s/src", d.dir);
    int fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, data, len) == (ssize_t)len);

    /* A regular file, from its current offset (copy_file_range). */
    REQUIRE(lseek(fd, 1000, SEEK_SET) == 1000);
    CHECK_OK(durlog_put_fd(d.path, fd, NULL));
    CHECK(file_is(d.path, data + 1000, len - 1000));

    /* The same when the kernel refuses copy_file_range: read and write. */
    atomic_store(&reads_seen, 0);
    dl_os.copy_file_range = refuse_copy_range;
    dl_os.read = counting_read;
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    CHECK_OK(durlog_put_fd(d.path, fd, NULL));
    tu_restore_os();
    CHECK(file_is(d.path, data, len));
    CHECK(atomic_load(&reads_seen) > 0);
    close(fd);

    /* A pipe: size unknown, short reads. */
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    struct feeder f = { pfd[1], data, len };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, feed_pipe, &f) == 0);
    CHECK_OK(durlog_put_fd(d.path, pfd[0], NULL));
    pthread_join(t, NULL);
    close(pfd[0]);
    CHECK(file_is(d.path, data, len));

    /* A bad descriptor. */
    char msg[256] = "";
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
    CHECK_RC(durlog_put_fd(d.path, -1, &o), -EBADF);
    CHECK(msg[0] != '\0');
    CHECK(file_is(d.path, data, len));
    CHECK_EQ_U64(count_temps(d.dir), 0);
    free(data);
}

/* ---- progress and cancel ---- */

struct seen {
    uint64_t calls;
    uint64_t first_done, first_total;
    uint64_t last_done, last_total;
    int went_back;       /* done decreased */
    uint64_t cancel_at;  /* cancel once done >= this (0: never) */
};

static int record_progress(uint64_t done, uint64_t total, void *arg)
{
    struct seen *s = arg;
    if (s->calls == 0) {
        s->first_done = done;
        s->first_total = total;
    } else if (done < s->last_done) {
        s->went_back = 1;
    }
    s->calls++;
    s->last_done = done;
    s->last_total = total;
    return s->cancel_at && done >= s->cancel_at;
}

static void test_put_progress(void)
{
    struct dest d;
    size_t len = (4 << 20) + 17;
    unsigned char *data = dest_and_new(&d, len, 4);
    struct dl_put_tuning saved = dl_put_tuning;
    dl_put_tuning.chunk = 64 << 10;
    struct seen s = { 0 };
    durlog_put_options o = { .progress = record_progress, .progress_arg = &s };

    /* A buffer: total known from the start. */
    CHECK_OK(durlog_put_buffer(d.path, data, len, &o));
    CHECK(s.calls >= len / (64 << 10));
    CHECK_EQ_U64(s.first_done, 0);
    CHECK_EQ_U64(s.first_total, len);
    CHECK(!s.went_back);
    CHECK_EQ_U64(s.last_done, len);
    CHECK_EQ_U64(s.last_total, len);

    /* A pipe: total unknown until the end, then equal to what was written. */
    int pfd[2];
    REQUIRE(pipe(pfd) == 0);
    struct feeder f = { pfd[1], data, len };
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, feed_pipe, &f) == 0);
    memset(&s, 0, sizeof s);
    CHECK_OK(durlog_put_fd(d.path, pfd[0], &o));
    pthread_join(t, NULL);
    close(pfd[0]);
    CHECK_EQ_U64(s.first_total, DURLOG_SIZE_UNKNOWN);
    CHECK(!s.went_back);
    CHECK_EQ_U64(s.last_done, len);
    CHECK_EQ_U64(s.last_total, len);
    CHECK(file_is(d.path, data, len));
    dl_put_tuning = saved;
    free(data);
}

static void test_put_cancel(void)
{
    struct dest d;
    size_t len = 3 << 20;
    unsigned char *data = dest_and_new(&d, len, 5);
    struct dl_put_tuning saved = dl_put_tuning;
    dl_put_tuning.chunk = 64 << 10;
    char msg[256];
    durlog_put_options o = {
        .progress = record_progress,
        .errbuf = msg,
        .errbuf_size = sizeof msg,
    };

    /* Midway, at the very end (before the sync), and at the start. */
    uint64_t points[] = { len / 2, len, 1 };
    for (int i = 0; i < 3; i++) {
        struct seen s = { .cancel_at = points[i] };
        o.progress_arg = &s;
        msg[0] = '\0';
        CHECK_RC(durlog_put_buffer(d.path, data, len, &o), -ECANCELED);
        CHECK(strstr(msg, "cancel") != NULL);
        CHECK(file_is_old(d.path));
        CHECK_EQ_U64(count_temps(d.dir), 0);
    }

    /* From a file descriptor, and a stream whose writes keep failing. */
    char src[400];
    snprintf(src, sizeof src, "%s/src", d.dir);
    int fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0 && write(fd, data, len) == (ssize_t)len);
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    struct seen s = { .cancel_at = len / 3 };
    o.progress_arg = &s;
    CHECK_RC(durlog_put_fd(d.path, fd, &o), -ECANCELED);
    close(fd);
    CHECK(file_is_old(d.path));

    durlog_put *p;
    s = (struct seen){ .cancel_at = 100 };
    CHECK_OK(durlog_put_begin(d.path, &o, &p));
    CHECK_RC(durlog_put_write(p, data, 1000), -ECANCELED);
    CHECK_RC(durlog_put_write(p, data, 1000), -ECANCELED);
    CHECK_RC(durlog_put_commit(p), -ECANCELED);
    CHECK(file_is_old(d.path));
    CHECK_EQ_U64(count_temps(d.dir), 0);
    dl_put_tuning = saved;
    free(data);
}

/* ---- errors ---- */

static int put_as_nobody(void *arg)
{
    const char *path = arg;
    char msg[256] = "";
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 1;
    int rc = durlog_put_buffer(path, "new", 3, &o);
    return rc == -EACCES && strstr(msg, "Permission denied") ? 0 : 1;
}

/* A size_hint no file can have: -EFBIG, the destination untouched and no
 * temporary left. Above 2^63 the hint went to fallocate as a negative
 * off_t and came back -EINVAL, which the manual gives other causes. */
static void test_put_impossible_size_hint_is_efbig(void)
{
    struct dest d;
    dest_make(&d, OLD_TEXT);
    char msg[512];
    static const uint64_t hints[] = { UINT64_MAX - 1,
                                      (uint64_t)INT64_MAX + 1 };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg,
                                 .size_hint = hints[i] };
        durlog_put *p = (durlog_put *)1;
        msg[0] = '\0';
        CHECK_RC(durlog_put_begin(d.path, &o, &p), -EFBIG);
        CHECK(strstr(msg, "reserve") != NULL);
        CHECK(file_is_old(d.path));
    }
    DIR *dir = opendir(d.dir);
    REQUIRE(dir);
    struct dirent *e;
    int others = 0;
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "file"))
            others++;
    closedir(dir);
    CHECK_EQ_U64(others, 0);
}

static void test_put_errors(void)
{
    struct dest d;
    dest_make(&d, OLD_TEXT);
    char msg[512], path[400];
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };

    /* A directory. */
    snprintf(path, sizeof path, "%s/sub", d.dir);
    REQUIRE(mkdir(path, 0755) == 0);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -EISDIR);
    CHECK(strstr(msg, "sub") && strstr(msg, "Is a directory"));
    snprintf(path, sizeof path, "%s/sub/", d.dir);
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -EISDIR);

    /* A missing directory. */
    snprintf(path, sizeof path, "%s/missing/file", d.dir);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -ENOENT);
    CHECK(strstr(msg, "missing") != NULL);

    /* A FIFO is not replaced (nor opened: that would block). */
    snprintf(path, sizeof path, "%s/fifo", d.dir);
    REQUIRE(mkfifo(path, 0644) == 0);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -EINVAL);
    CHECK(strstr(msg, "not a regular file") != NULL);
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));

    /* A symbolic link is followed: the target replaced, the link kept. */
    snprintf(path, sizeof path, "%s/link", d.dir);
    REQUIRE(symlink("file", path) == 0);
    CHECK_OK(durlog_put_buffer(path, "via link", 8, &o));
    CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(file_is(d.path, "via link", 8));
    snprintf(path, sizeof path, "%s/dangling", d.dir);
    REQUIRE(symlink("nowhere/x", path) == 0);
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -ENOENT);
    CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));

    /* A file mounted over DEST: refused before anything is written. */
    char src[400], cmd[1200];
    snprintf(path, sizeof path, "%s/mounted", d.dir);
    snprintf(src, sizeof src, "%s/mount-source", d.dir);
    FILE *f = fopen(path, "w");
    FILE *g = fopen(src, "w");
    REQUIRE(f && g);
    fputs("under", f);
    fputs("over", g);
    fclose(f);
    fclose(g);
    snprintf(cmd, sizeof cmd, "mount --bind '%s' '%s'", src, path);
    REQUIRE(system(cmd) == 0);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -EBUSY);
    CHECK(strstr(msg, "mount point") != NULL);
    CHECK(file_is(path, "over", 4));
    snprintf(cmd, sizeof cmd, "umount '%s'", path);
    CHECK(system(cmd) == 0);
    CHECK(file_is(path, "under", 5));

    /* EACCES: a user who may not write the directory. */
    SKIP_UNLESS(geteuid() == 0, "runs a step as another user: needs root");
    REQUIRE(chmod(d.dir, 0755) == 0);
    CHECK(tu_exited_ok(tu_wait(tu_fork(put_as_nobody, d.path))));
    CHECK(file_is(d.path, "via link", 8));
    CHECK_EQ_U64(count_temps(d.dir), 0);
}

/* ---- symbolic links: followed only where the kernel would ---- */

#define NOBODY 65534 /* uid and gid of "nobody" */

/* A symbolic link dir/name -> target owned by uid; 0 or -1. */
static int plant_link(const char *dir, const char *name, const char *target, uid_t uid)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    (void)unlink(path);
    return symlink(target, path) == 0 && lchown(path, uid, uid) == 0 ? 0 : -1;
}

static int is_link(const char *dir, const char *name)
{
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* The /etc/shadow case of the issue, with a scratch file as the victim: in
 * a sticky, world-writable directory (/tmp's mode), a link another user
 * planted is not followed, by the last component or a directory one; the
 * caller's own links, the directory owner's, and links in directories that
 * are not both sticky and world-writable are. */
static void test_put_links_in_sticky_directories(void)
{
    struct dest d;
    SKIP_UNLESS(geteuid() == 0, "plants links owned by nobody: needs root");
    dest_make(&d, OLD_TEXT); /* d.path: root's file, the victim */
    char sticky[300], msg[512], path[400], real[300];
    snprintf(sticky, sizeof sticky, "%s/tmp", d.dir);
    snprintf(real, sizeof real, "%s/real", d.dir);
    REQUIRE(mkdir(sticky, 0700) == 0 && chmod(sticky, 01777) == 0);
    REQUIRE(mkdir(real, 0755) == 0);
    /* Link targets are absolute: the scratch directory may be relative. */
    char victim[PATH_MAX], real_abs[PATH_MAX];
    REQUIRE(realpath(d.path, victim) && realpath(real, real_abs));
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
    snprintf(path, sizeof path, "%s/out", sticky);

    /* nobody's link to root's file: refused, nothing written anywhere. */
    REQUIRE(plant_link(sticky, "out", victim, NOBODY) == 0);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, "new", 3, &o), -EACCES);
    CHECK(strstr(msg, "/tmp/out") && strstr(msg, "protected_symlinks") &&
          strstr(msg, "uid 65534") && strstr(msg, "Permission denied"));
    CHECK(!strchr(msg, '\n'));
    CHECK(file_is_old(d.path));
    CHECK(is_link(sticky, "out"));
    CHECK_EQ_U64(count_temps(d.dir) + count_temps(sticky), 0);
    /* The same through a relative target, and through begin. */
    REQUIRE(plant_link(sticky, "out", "../file", NOBODY) == 0);
    durlog_put *p = NULL;
    CHECK_RC(durlog_put_begin(path, &o, &p), -EACCES);
    CHECK(p == NULL);
    CHECK(file_is_old(d.path));

    /* A link the caller owns is followed: the file replaced, the link kept. */
    REQUIRE(plant_link(sticky, "out", victim, 0) == 0);
    CHECK_OK(durlog_put_buffer(path, "mine", 4, &o));
    CHECK(file_is(d.path, "mine", 4));
    CHECK(is_link(sticky, "out"));

    /* So is one the directory's owner owns. */
    REQUIRE(chown(sticky, NOBODY, NOBODY) == 0);
    REQUIRE(plant_link(sticky, "out", victim, NOBODY) == 0);
    CHECK_OK(durlog_put_buffer(path, "owner", 5, &o));
    CHECK(file_is(d.path, "owner", 5));
    REQUIRE(chown(sticky, 0, 0) == 0);

    /* A directory that is world-writable but not sticky, or sticky but not
     * world-writable, is not one the rule covers. */
    static const mode_t not_covered[] = { 0777, 01755 };
    for (int i = 0; i < 2; i++) {
        REQUIRE(chmod(sticky, not_covered[i]) == 0);
        REQUIRE(plant_link(sticky, "out", victim, NOBODY) == 0);
        CHECK_OK(durlog_put_buffer(path, "open", 4, &o));
        CHECK(file_is(d.path, "open", 4));
    }
    REQUIRE(chmod(sticky, 01777) == 0);

    /* A directory on the way that is nobody's link: refused too, and no
     * file appears where it points. */
    char via[400], made[400];
    snprintf(via, sizeof via, "%s/dirlink/new", sticky);
    snprintf(made, sizeof made, "%s/new", real);
    REQUIRE(plant_link(sticky, "dirlink", real_abs, NOBODY) == 0);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(via, "x", 1, &o), -EACCES);
    CHECK(strstr(msg, "/tmp/dirlink") && strstr(msg, "protected_symlinks"));
    CHECK(access(made, F_OK) != 0);
    CHECK_EQ_U64(count_temps(real), 0);
    REQUIRE(plant_link(sticky, "dirlink", real_abs, 0) == 0);
    CHECK_OK(durlog_put_buffer(via, "x", 1, &o));
    CHECK(file_is(made, "x", 1));
}

/* Loops, the 40-link limit, and links to nothing. */
static void test_put_link_loops_and_dangling_links(void)
{
    struct dest d;
    dest_make(&d, OLD_TEXT);
    char msg[512], path[400], name[32], target[32];
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };

    REQUIRE(plant_link(d.dir, "a", "b", 0) == 0 && plant_link(d.dir, "b", "a", 0) == 0);
    REQUIRE(plant_link(d.dir, "self", "./self", 0) == 0);
    const char *loops[] = { "a", "self", "a/file" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d.dir, loops[i]);
        msg[0] = '\0';
        CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -ELOOP);
        CHECK(strstr(msg, "more than 40 symbolic links") != NULL);
    }

    /* chain0 -> chain1 -> ... -> chain40 -> file: 40 links from chain1 are
     * followed, 41 from chain0 are one too many. */
    for (int i = 0; i <= 40; i++) {
        snprintf(name, sizeof name, "chain%d", i);
        if (i < 40)
            snprintf(target, sizeof target, "chain%d", i + 1);
        else
            snprintf(target, sizeof target, "file");
        REQUIRE(plant_link(d.dir, name, target, 0) == 0);
    }
    snprintf(path, sizeof path, "%s/chain1", d.dir);
    CHECK_OK(durlog_put_buffer(path, "forty", 5, &o));
    CHECK(file_is(d.path, "forty", 5));
    snprintf(path, sizeof path, "%s/chain0", d.dir);
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -ELOOP);
    CHECK(file_is(d.path, "forty", 5));

    /* A link to a missing file in an existing directory: not created
     * through the link (as cp refuses to write through one). */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nothere", d.dir);
    REQUIRE(plant_link(d.dir, "dangling", "nothere", 0) == 0);
    snprintf(path, sizeof path, "%s/dangling", d.dir);
    msg[0] = '\0';
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -ENOENT);
    CHECK(strstr(msg, "does not exist") != NULL);
    CHECK(access(missing, F_OK) != 0);
    CHECK(is_link(d.dir, "dangling"));

    /* A path ending in a link to a directory names a directory. */
    char deep[400], beside[400];
    snprintf(deep, sizeof deep, "%s/real", d.dir);
    REQUIRE(mkdir(deep, 0755) == 0);
    snprintf(deep, sizeof deep, "%s/real/sub", d.dir);
    REQUIRE(mkdir(deep, 0755) == 0);
    REQUIRE(plant_link(d.dir, "deep", "real/sub", 0) == 0);
    snprintf(path, sizeof path, "%s/deep", d.dir);
    CHECK_RC(durlog_put_buffer(path, "x", 1, &o), -EISDIR);
    /* ".." after a link is the parent of where the link led (real), not
     * of the link (as the kernel walks it). */
    snprintf(path, sizeof path, "%s/deep/../file", d.dir);
    snprintf(beside, sizeof beside, "%s/real/file", d.dir);
    CHECK_OK(durlog_put_buffer(path, "dots", 4, &o));
    CHECK(file_is(beside, "dots", 4));
    CHECK(file_is(d.path, "forty", 5));
    CHECK_EQ_U64(count_temps(d.dir), 0);
}

/* The link is read through the descriptor that was checked: swapping it for
 * another user's link to another file right after the check changes
 * nothing. (realpath() and then a second lookup would have followed the
 * swapped one.) */
static const char *swap_dir, *swap_victim;
static int swapped;

static int swap_after_check_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    int fd = dl_os_real.openat(dirfd, name, flags, mode);
    if (fd >= 0 && (flags & O_PATH) && strcmp(name, "out") == 0 && !swapped) {
        swapped = 1;
        if (plant_link(swap_dir, "out", swap_victim, NOBODY) != 0)
            swapped = -1;
    }
    return fd;
}

static void test_put_link_swapped_after_its_check_is_not_followed(void)
{
    struct dest d;
    SKIP_UNLESS(geteuid() == 0, "plants a link owned by nobody: needs root");
    dest_make(&d, OLD_TEXT); /* the victim */
    char sticky[300], safe[300], path[400];
    snprintf(sticky, sizeof sticky, "%s/tmp", d.dir);
    snprintf(safe, sizeof safe, "%s/safe", d.dir);
    snprintf(path, sizeof path, "%s/out", sticky);
    REQUIRE(mkdir(sticky, 0700) == 0 && chmod(sticky, 01777) == 0);
    FILE *f = fopen(safe, "w");
    REQUIRE(f);
    fputs(OLD_TEXT, f);
    fclose(f);
    static char victim[PATH_MAX], safe_abs[PATH_MAX];
    REQUIRE(realpath(d.path, victim) && realpath(safe, safe_abs));
    REQUIRE(plant_link(sticky, "out", safe_abs, 0) == 0);

    swap_dir = sticky;
    swap_victim = victim;
    swapped = 0;
    dl_os.openat = swap_after_check_openat;
    int rc = durlog_put_buffer(path, "new", 3, NULL);
    tu_restore_os();
    CHECK_EQ_U64(swapped, 1);
    if (rc)
        fprintf(stderr, "  %s\n", durlog_last_errmsg());
    CHECK_OK(rc);
    CHECK(file_is(safe, "new", 3));
    CHECK(file_is_old(d.path));
    /* The swapped link itself is refused by the next put; without an
     * errbuf, the message is durlog_last_errmsg()'s. */
    CHECK_RC(durlog_put_buffer(path, "new", 3, NULL), -EACCES);
    CHECK(strstr(durlog_last_errmsg(), "protected_symlinks") != NULL);
    CHECK(file_is_old(d.path));
}

/* ---- options: zero means the default; unknown bits are refused ---- */

static void test_put_zero_filled_options_are_the_defaults(void)
{
    struct dest d;
    SKIP_UNLESS(geteuid() == 0, "gives a file away with chown: needs root");
    dest_make(&d, NULL);
    mode_t old_umask = umask(027);
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/a", d.dir);
    snprintf(b, sizeof b, "%s/b", d.dir);
    durlog_put_options zero = { 0 }, init;
    durlog_put_options_init(&init);
    struct seen sz = { 0 }, si = { 0 };
    zero.progress = init.progress = record_progress;
    zero.progress_arg = &sz;
    init.progress_arg = &si;

    /* New files: the same mode (0666 less the umask), owner and content. */
    CHECK_OK(durlog_put_buffer(a, "same", 4, &zero));
    CHECK_OK(durlog_put_buffer(b, "same", 4, &init));
    struct stat sa, sb;
    REQUIRE(stat(a, &sa) == 0 && stat(b, &sb) == 0);
    CHECK_EQ_U64(sa.st_mode & 07777, 0640);
    CHECK_EQ_U64(sb.st_mode & 07777, 0640);
    CHECK_EQ_U64(sa.st_uid, sb.st_uid);
    CHECK_EQ_U64(sa.st_gid, sb.st_gid);
    CHECK(file_is(a, "same", 4) && file_is(b, "same", 4));

    /* Replaced files keep their mode and owner under both. */
    REQUIRE(chmod(a, 0604) == 0 && chown(a, 1234, 5678) == 0);
    REQUIRE(chmod(b, 0604) == 0 && chown(b, 1234, 5678) == 0);
    CHECK_OK(durlog_put_buffer(a, "again", 5, &zero));
    CHECK_OK(durlog_put_buffer(b, "again", 5, &init));
    REQUIRE(stat(a, &sa) == 0 && stat(b, &sb) == 0);
    CHECK_EQ_U64(sa.st_mode & 07777, 0604);
    CHECK_EQ_U64(sb.st_mode & 07777, 0604);
    CHECK_EQ_U64(sa.st_uid, 1234);
    CHECK_EQ_U64(sb.st_uid, 1234);
    CHECK_EQ_U64(sa.st_gid, 5678);
    CHECK_EQ_U64(sb.st_gid, 5678);

    /* A stream: size_hint 0 means "not known", as DURLOG_SIZE_UNKNOWN. */
    durlog_put_options hint = init;
    struct seen sh = { 0 };
    hint.size_hint = DURLOG_SIZE_UNKNOWN;
    hint.progress_arg = &sh;
    const durlog_put_options *opts[] = { &zero, &init, &hint };
    struct seen *seen[] = { &sz, &si, &sh };
    for (int i = 0; i < 3; i++) {
        durlog_put *p;
        memset(seen[i], 0, sizeof *seen[i]);
        CHECK_OK(durlog_put_begin(a, opts[i], &p));
        CHECK_OK(durlog_put_write(p, "0123456789", 10));
        CHECK_OK(durlog_put_commit(p));
        CHECK_EQ_U64(seen[i]->first_total, DURLOG_SIZE_UNKNOWN);
        CHECK_EQ_U64(seen[i]->last_done, 10);
        CHECK_EQ_U64(seen[i]->last_total, 10);
        CHECK(file_is(a, "0123456789", 10));
    }
    umask(old_umask);
    CHECK_EQ_U64(count_temps(d.dir), 0);
}

static void test_put_unknown_flags_and_reserved_fields_are_refused(void)
{
    struct dest d;
    dest_make(&d, OLD_TEXT);
    char msg[512], src[400];
    snprintf(src, sizeof src, "%s/src", d.dir);
    FILE *f = fopen(src, "w");
    REQUIRE(f);
    fputs("new", f);
    fclose(f);

    for (int bad = 0; bad < 4; bad++) {
        durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
        const char *want = "reserved fields must be zero";
        if (bad == 0)
            o.flags = 8;
        else if (bad == 1)
            o.flags = DURLOG_PUT_NO_SYNC | 0x80000000u;
        else
            o.reserved[bad == 2 ? 0 : 7] = 1;
        if (bad < 2)
            want = "unknown bits";
        for (int kind = 0; kind < 3; kind++) {
            msg[0] = '\0';
            int rc;
            if (kind == 0) {
                rc = durlog_put_buffer(d.path, "new", 3, &o);
            } else if (kind == 1) {
                int fd = open(src, O_RDONLY);
                rc = durlog_put_fd(d.path, fd, &o);
                close(fd);
            } else {
                durlog_put *p = NULL;
                rc = durlog_put_begin(d.path, &o, &p);
                CHECK(p == NULL);
            }
            CHECK_RC(rc, -EINVAL);
            if (!strstr(msg, want))
                fprintf(stderr, "  case %d kind %d: \"%s\"\n", bad, kind, msg);
            CHECK(strstr(msg, want) != NULL);
            CHECK(file_is_old(d.path));
        }
    }
    /* Refused before the descriptor is looked at; the message is also
     * durlog_last_errmsg()'s. */
    durlog_put_options o = { .flags = 16 };
    CHECK_RC(durlog_put_fd(d.path, -1, &o), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "unknown bits 0x10") != NULL);
    CHECK_RC(durlog_put_commit(NULL), -EINVAL);
    CHECK(strstr(durlog_last_errmsg(), "no handle") != NULL);
    CHECK_EQ_U64(count_temps(d.dir), 0);
}

/* ---- a fault at each call ---- */

/* The calls put makes, each of which the loop fails in turn (the n-th of
 * them all: lib/faultloop.h), with each of these faults. */
static const unsigned put_entries =
    TU_ENTRY_BIT(TU_E_PWRITE) | TU_ENTRY_BIT(TU_E_READ) | TU_ENTRY_BIT(TU_E_COPY_FILE_RANGE) |
    TU_ENTRY_BIT(TU_E_SYNC_FILE_RANGE) | TU_ENTRY_BIT(TU_E_FSYNC) |
    TU_ENTRY_BIT(TU_E_FALLOCATE) | TU_ENTRY_BIT(TU_E_FTRUNCATE) | TU_ENTRY_BIT(TU_E_OPENAT) |
    TU_ENTRY_BIT(TU_E_LINKAT) | TU_ENTRY_BIT(TU_E_RENAMEAT) | TU_ENTRY_BIT(TU_E_UNLINKAT) |
    TU_ENTRY_BIT(TU_E_STATX) | TU_ENTRY_BIT(TU_E_FLOCK);
/* statx and flock: some of those calls put may do without (a stale
 * temporary's check, the O_TMPFILE path's check of /proc), so a fault there
 * may end in a put that succeeds: whole, and with the old file's mode. */
#define PUT_MAY_DO_WITHOUT(entry) ((entry) == TU_E_STATX || (entry) == TU_E_FLOCK)
static const int put_faults[] = { TU_F_EIO, TU_F_ENOSPC, TU_F_EDQUOT, TU_F_EXDEV, TU_F_EINTR,
                                  TU_F_SHORT };
#define PUT_EINTR_STORM 3 /* calls an EINTR storm lasts */

static int faulted_dir_sync; /* the last fsync that took the fault was a directory's */

static int x_fsync(int fd)
{
    struct stat st;
    int dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    int hits = atomic_load(&tu_fl->hits);
    int rc = tu_f_fsync(fd);
    if (atomic_load(&tu_fl->hits) != hits)
        faulted_dir_sync = dir;
    return rc;
}

static int named_mode; /* O_TMPFILE refused: the named-temporary fallback */

static int x_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    if (named_mode && (flags & O_TMPFILE) == O_TMPFILE) {
        errno = EOPNOTSUPP;
        return -1;
    }
    return tu_f_openat(dirfd, name, flags, mode);
}

static void install_x(void)
{
    tu_faults_install(put_entries);
    dl_os.fsync = x_fsync;
    dl_os.openat = x_openat;
}

/* The three kinds of put, each with its content; returns the put's result. */
static int put_kind(int kind, const char *path, const unsigned char *data,
                    size_t len, const char *src, durlog_put_options *o)
{
    if (kind == 0 || kind == 3)
        return durlog_put_buffer(path, data, len, o);
    if (kind == 1) {
        int fd = open(src, O_RDONLY);
        int rc = durlog_put_fd(path, fd, o);
        close(fd);
        return rc;
    }
    durlog_put *p;
    int rc = durlog_put_begin(path, o, &p);
    if (rc)
        return rc;
    for (size_t off = 0; off < len && rc == 0; off += 50000)
        rc = durlog_put_write(p, data + off, len - off < 50000 ? len - off : 50000);
    if (rc) {
        durlog_put_abort(p);
        return rc;
    }
    return durlog_put_commit(p);
}

static void test_put_faults(void)
{
    struct dest d;
    size_t len = 300000;
    unsigned char *data = dest_and_new(&d, len, 6);
    char src[400], msg[512];
    snprintf(src, sizeof src, "%s/src", d.dir);
    int sfd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(sfd >= 0 && write(sfd, data, len) == (ssize_t)len);
    close(sfd);
    struct dl_put_tuning saved = dl_put_tuning;
    dl_put_tuning.chunk = 64 << 10;
    dl_put_tuning.window = 128 << 10; /* so that writeback is awaited too */
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
    long runs = 0, failures = 0, dirsync_failures = 0, look_successes = 0;
    /* Every put copies the mode of the file it replaces: a fault must not
     * make it forget (a 0604 file must not come out 0644). */
    REQUIRE(chmod(d.path, 0604) == 0); /* no umask makes that of 0666 */

    for (int kind = 0; kind < 4; kind++) {
        named_mode = kind == 3; /* a buffer again, through a named temporary */
        for (size_t fi = 0; fi < sizeof put_faults / sizeof put_faults[0]; fi++) {
            int fault = put_faults[fi];
            for (uint64_t fail_at = 1;; fail_at++) {
                /* Restore the old content outside the faults. */
                CHECK_OK(durlog_put_buffer(d.path, OLD_TEXT, strlen(OLD_TEXT), NULL));
                tu_faults_arm(TU_E_ANY, fault, fail_at,
                              fault == TU_F_EINTR ? PUT_EINTR_STORM : 1);
                faulted_dir_sync = 0;
                msg[0] = '\0';
                install_x();
                int rc = put_kind(kind, d.path, data, len, src, &o);
                uint64_t made = atomic_load(&tu_fl->calls[TU_E_ANY]);
                tu_restore_os();
                runs++;
                int is_new = file_is(d.path, data, len);
                int hit = tu_fl->hit_entry;
                int faulted_first_copy = hit == TU_E_COPY_FILE_RANGE && tu_fl->hit_nth == 1;
                /* A fault must fail the put, but for those that change
                 * nothing (EINTR, short transfers) and a refused first
                 * copy_file_range (the put then reads and writes). */
                int harmless = fault == TU_F_EINTR || fault == TU_F_SHORT || made < fail_at ||
                               (fault == TU_F_EXDEV && faulted_first_copy) ||
                               PUT_MAY_DO_WITHOUT(hit);
                struct stat st;
                CHECK(stat(d.path, &st) == 0 && (st.st_mode & 07777) == 0604);
                if (rc == 0 && PUT_MAY_DO_WITHOUT(hit))
                    look_successes++;
                if (!harmless && rc == 0)
                    fprintf(stderr, "  kind %d %s at call %" PRIu64 ": the put succeeded\n",
                            kind, tu_fault_names[fault], fail_at);
                CHECK(harmless || rc != 0);
                if (rc == 0) {
                    if (!is_new)
                        fprintf(stderr, "  kind %d %s at call %" PRIu64
                                ": success but wrong content\n",
                                kind, tu_fault_names[fault], fail_at);
                    CHECK(is_new);
                } else {
                    failures++;
                    CHECK(fault != TU_F_EINTR && fault != TU_F_SHORT);
                    CHECK(msg[0] != '\0');
                    if (!strstr(msg, strerror(tu_fault_errno[fault])))
                        fprintf(stderr, "  kind %d %s at call %" PRIu64 ": the message does "
                                "not say %s: %s\n", kind, tu_fault_names[fault], fail_at,
                                strerror(tu_fault_errno[fault]), msg);
                    CHECK(strstr(msg, strerror(tu_fault_errno[fault])) != NULL);
                    /* Only a failed fsync of the directory comes after the
                     * rename: it has a code of its own, the new content is
                     * in place, and the message says so. */
                    if (hit == TU_E_FSYNC && faulted_dir_sync) {
                        dirsync_failures++;
                        CHECK_RC(rc, DURLOG_EDIRSYNC);
                        CHECK(is_new);
                        CHECK(strstr(msg, "in place") != NULL);
                    } else {
                        CHECK(rc != DURLOG_EDIRSYNC);
                        if (!file_is_old(d.path))
                            fprintf(stderr, "  kind %d %s at call %" PRIu64 ": %s\n", kind,
                                    tu_fault_names[fault], fail_at, msg);
                        CHECK(file_is_old(d.path));
                    }
                }
                /* A temporary left only when its own unlink failed; the next
                 * put removes it. */
                if (hit != TU_E_UNLINKAT && count_temps(d.dir) != 0)
                    fprintf(stderr, "  kind %d %s at call %" PRIu64 " (rc %d): a temporary "
                            "left\n", kind, tu_fault_names[fault], fail_at, rc);
                if (hit != TU_E_UNLINKAT)
                    CHECK_EQ_U64(count_temps(d.dir), 0);
                if (made < fail_at)
                    break; /* the fault fell after the last call */
            }
        }
    }
    named_mode = 0;
    CHECK_OK(durlog_put_buffer(d.path, data, len, NULL));
    CHECK_EQ_U64(count_temps(d.dir), 0);
    printf("  %ld faulted puts, %ld failed cleanly (%ld at the directory's fsync, "
           "DEST replaced), the rest succeeded whole (%ld past a failed statx or flock "
           "put could do without)\n", runs, failures, dirsync_failures, look_successes);
    CHECK(failures > 0);
    CHECK(dirsync_failures > 0);
    dl_put_tuning = saved;
    free(data);
}

/* ---- killed puts ---- */

static uint64_t kill_at; /* the call of put's (lib/faultloop.h) that it dies at */

struct kill_job {
    const char *path;
    const unsigned char *data;
    size_t len;
    int named;          /* force the named-temporary fallback */
};

static int killed_put_main(void *arg)
{
    struct kill_job *j = arg;
    dl_put_tuning.chunk = 64 << 10;
    tu_faults_arm(TU_E_ANY, TU_F_KILL, kill_at, 0);
    tu_faults_install(TU_ENTRY_BIT(TU_E_PWRITE) | TU_ENTRY_BIT(TU_E_FSYNC) |
                      TU_ENTRY_BIT(TU_E_FALLOCATE) | TU_ENTRY_BIT(TU_E_OPENAT) |
                      TU_ENTRY_BIT(TU_E_LINKAT) | TU_ENTRY_BIT(TU_E_RENAMEAT) |
                      TU_ENTRY_BIT(TU_E_UNLINKAT));
    named_mode = j->named;
    dl_os.openat = x_openat;
    int rc = durlog_put_buffer(j->path, j->data, j->len, NULL);
    return rc == 0 ? 0 : 1;
}

static void test_put_killed_at_each_step(void)
{
    struct dest d;
    size_t len = 400000;
    unsigned char *data = dest_and_new(&d, len, 7);
    int stale_seen = 0, completed = 0;

    for (int named = 0; named < 2; named++) {
        struct kill_job j = { d.path, data, len, named };
        for (kill_at = 1; kill_at < 200; kill_at++) {
            CHECK_OK(durlog_put_buffer(d.path, OLD_TEXT, strlen(OLD_TEXT), NULL));
            int status = tu_wait(tu_fork(killed_put_main, &j));
            int is_new = file_is(d.path, data, len);
            CHECK(is_new || file_is_old(d.path));
            if (WIFEXITED(status)) {
                CHECK(tu_exited_ok(status));
                CHECK(is_new);
                completed = 1;
                break; /* kill_at fell after the last call */
            }
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
            /* A temporary the killed put had named is removed by the next. */
            int temps = count_temps(d.dir);
            CHECK(temps <= 1);
            stale_seen += temps;
            CHECK_OK(durlog_put_buffer(d.path, "next", 4, NULL));
            CHECK_EQ_U64(count_temps(d.dir), 0);
        }
    }
    CHECK(completed);
    CHECK(stale_seen > 0); /* the window between link and rename was hit */
    free(data);
}

static int big_put_main(void *arg)
{
    struct kill_job *j = arg;
    return durlog_put_buffer(j->path, j->data, j->len, NULL) == 0 ? 0 : 1;
}

/* Real SIGKILLs at random moments of a 64 MiB put. */
static void test_put_killed_at_random(void)
{
    struct dest d;
    size_t len = 64 << 20;
    unsigned char *data = dest_and_new(&d, len, 8);
    uint64_t rng = 1234;
    int old = 0, new = 0;
    for (int round = 0; round < 12; round++) {
        struct kill_job j = { d.path, data, len, 0 };
        pid_t pid = tu_fork(big_put_main, &j);
        tu_sleep_ms((unsigned)(test_rand(&rng) % 150));
        kill(pid, SIGKILL);
        tu_wait(pid);
        int is_new = file_is(d.path, data, len);
        int is_old = file_is_old(d.path);
        CHECK(is_new || is_old);
        new += is_new;
        old += is_old;
        CHECK_OK(durlog_put_buffer(d.path, OLD_TEXT, strlen(OLD_TEXT), NULL));
        CHECK_EQ_U64(count_temps(d.dir), 0);
    }
    printf("  12 kills: %d left the old file, %d the new\n", old, new);
    free(data);
}

/* ---- stale temporaries ---- */

static int hold_temp_main(void *arg)
{
    int *fds = arg; /* [0] the temp, [1] pipe to say "locked", [2] to wait on */
    if (flock(fds[0], LOCK_EX) != 0)
        return 1;
    tu_send(fds[1], 1);
    uint64_t v;
    tu_recv(fds[2], &v);
    return 0;
}

static void test_put_stale_temporaries(void)
{
    struct dest d;
    dest_make(&d, OLD_TEXT);
    char stale[400], live[400], odd[400];
    snprintf(stale, sizeof stale, "%s/.durlog-put.00000000000000aa", d.dir);
    snprintf(live, sizeof live, "%s/.durlog-put.00000000000000bb", d.dir);
    snprintf(odd, sizeof odd, "%s/.durlog-put.dir", d.dir);
    int sfd = open(stale, O_WRONLY | O_CREAT, 0600);
    int lfd = open(live, O_WRONLY | O_CREAT, 0600);
    REQUIRE(sfd >= 0 && lfd >= 0 && mkdir(odd, 0700) == 0);
    close(sfd);

    /* A live put's temporary (locked by another process) stays. */
    int up[2], down[2];
    REQUIRE(pipe(up) == 0 && pipe(down) == 0);
    int fds[3] = { lfd, up[1], down[0] };
    pid_t holder = tu_fork(hold_temp_main, fds);
    uint64_t v;
    REQUIRE(tu_recv(up[0], &v) == 0);
    close(lfd);
    CHECK_OK(durlog_put_buffer(d.path, "a", 1, NULL));
    CHECK(access(stale, F_OK) != 0);
    CHECK(access(live, F_OK) == 0);
    CHECK(access(odd, F_OK) == 0); /* not a regular file: not ours to remove */
    tu_send(down[1], 1);
    CHECK(tu_exited_ok(tu_wait(holder)));

    /* Once its holder is gone it is stale. */
    CHECK_OK(durlog_put_buffer(d.path, "b", 1, NULL));
    CHECK(access(live, F_OK) != 0);
    CHECK(file_is(d.path, "b", 1));
    for (int i = 0; i < 2; i++) {
        close(up[i]);
        close(down[i]);
    }
}

/* ---- concurrent puts ---- */

#define CONC_PROCS 4
#define CONC_PUTS 150

/* Content that says who wrote it: "p<proc> i<index>\n" then derived bytes. */
static size_t conc_content(unsigned char *buf, int proc, int i)
{
    size_t len = 100 + (size_t)((proc * 7919 + i * 104729) % 60000);
    test_fill(buf, len, (uint64_t)proc * 100000 + (uint64_t)i);
    int n = snprintf((char *)buf, 32, "p%d i%d\n", proc, i);
    (void)n;
    return len;
}

static int conc_valid(const char *path)
{
    size_t got;
    unsigned char *buf = slurp_path(path, &got);
    int proc, i, ok = 0;
    if (buf && got > 16 && sscanf((char *)buf, "p%d i%d", &proc, &i) == 2) {
        unsigned char *want = malloc(70000);
        size_t len = want ? conc_content(want, proc, i) : 0;
        ok = want && len == got && memcmp(want, buf, len) == 0;
        free(want);
    }
    free(buf);
    return ok;
}

struct conc_job {
    const char *dir;
    int proc;
};

static int conc_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        errno = EOPNOTSUPP;
        return -1;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static int conc_main(void *arg)
{
    struct conc_job *j = arg;
    if (j->proc % 2)
        dl_os.openat = conc_openat; /* half of them use named temporaries */
    unsigned char *buf = malloc(70000);
    char path[400], msg[512];
    durlog_put_options o = { .errbuf = msg, .errbuf_size = sizeof msg };
    int failures = 0;
    for (int i = 0; i < CONC_PUTS; i++) {
        snprintf(path, sizeof path, "%s/%s", j->dir, i % 3 ? "a" : "b");
        size_t len = conc_content(buf, j->proc, i);
        if (durlog_put_buffer(path, buf, len, &o) != 0) {
            fprintf(stderr, "  process %d put %d: %s\n", j->proc, i, msg);
            failures++;
        }
    }
    free(buf);
    return failures;
}

/* Processes putting to the same files at once: every put succeeds, each
 * file always holds one put's whole content, and no temporary remains
 * (each put's cleaner must leave the others' live temporaries alone). */
static void test_put_concurrent(void)
{
    struct dest d;
    dest_make(&d, NULL);
    struct conc_job jobs[CONC_PROCS];
    pid_t pids[CONC_PROCS];
    for (int i = 0; i < CONC_PROCS; i++) {
        jobs[i] = (struct conc_job){ d.dir, i };
        pids[i] = tu_fork(conc_main, &jobs[i]);
    }
    char a[400], b[400];
    snprintf(a, sizeof a, "%s/a", d.dir);
    snprintf(b, sizeof b, "%s/b", d.dir);
    int reads = 0, invalid = 0;
    for (int alive = CONC_PROCS; alive > 0;) {
        /* Read while they write: never a partial file. */
        if (access(a, F_OK) == 0) {
            reads++;
            invalid += !conc_valid(a);
        }
        alive = 0;
        for (int i = 0; i < CONC_PROCS; i++) {
            if (pids[i] <= 0)
                continue;
            int status;
            pid_t w = waitpid(pids[i], &status, WNOHANG);
            if (w == 0) {
                alive++;
            } else {
                CHECK(w == pids[i] && tu_exited_ok(status)); /* every put succeeded */
                pids[i] = 0;
            }
        }
    }
    CHECK_EQ_U64(invalid, 0);
    printf("  %d reads during %d puts, %d invalid\n", reads, CONC_PROCS * CONC_PUTS, invalid);
    CHECK(conc_valid(a));
    CHECK(conc_valid(b));
    CHECK_EQ_U64(count_temps(d.dir), 0);
}

/* ---- power loss ---- */

/* The model is tests/lib/putloss.h's: DEST must hold the old content or
 * the new one, whole, in every state; once the put has returned success,
 * only the new. */
static struct {
    const unsigned char *old, *new;
    size_t old_len, new_len;
    int done;                       /* the put returned success */
} pl;

static int pl_old_or_new(const unsigned char *got, size_t len, void *arg)
{
    (void)arg;
    int is_new = len == pl.new_len && memcmp(got, pl.new, len) == 0;
    return is_new || (!pl.done && len == pl.old_len && memcmp(got, pl.old, len) == 0);
}

/* Runs one put under the model; returns the states that failed. */
static int pl_run(const struct dest *d, int flags, int lying, int named,
                  const unsigned char *data, size_t len, int *states)
{
    pl.old = (const unsigned char *)OLD_TEXT;
    pl.old_len = strlen(OLD_TEXT);
    pl.new = data;
    pl.new_len = len;
    pl.done = 0;

    /* The starting point: the old file, synced, its name durable. */
    durlog_put_buffer(d->path, OLD_TEXT, strlen(OLD_TEXT), NULL);
    struct dl_put_tuning saved = dl_put_tuning;
    dl_put_tuning.chunk = 8192;
    uint64_t seed = 77 + (uint64_t)flags * 3 + (uint64_t)lying * 5 + (uint64_t)named;
    if (pm_begin(d->dir, "file", seed, lying, named, pl_old_or_new, NULL) != 0)
        return -1;
    durlog_put_options o = { .flags = (unsigned)flags };
    int rc = durlog_put_buffer(d->path, data, len, &o);
    pl.done = rc == 0;
    pm_crash_point(); /* and after it returned */
    tu_restore_os();
    dl_put_tuning = saved;
    CHECK_OK(rc);
    *states = pm.states;
    return pm.bad;
}

static void test_put_power_loss(void)
{
    struct dest d;
    size_t len = 40000;
    unsigned char *data = dest_and_new(&d, len, 9);
    int states;

    for (int named = 0; named < 2; named++) {
        int bad = pl_run(&d, 0, 0, named, data, len, &states);
        printf("  %s temporary: %d crash states, %d not old or new\n",
               named ? "named" : "unnamed", states, bad);
        CHECK(states > 300);
        CHECK_EQ_U64(bad, 0);
    }
    /* The model can fail: skipping the syncs, or a disk that lies about
     * them, leaves states where the file is empty or partial. */
    int bad = pl_run(&d, DURLOG_PUT_NO_SYNC, 0, 0, data, len, &states);
    printf("  --no-sync: %d of %d states not old or new\n", bad, states);
    CHECK(bad > 0);
    bad = pl_run(&d, 0, 1, 0, data, len, &states);
    printf("  lying fsync: %d of %d states not old or new\n", bad, states);
    CHECK(bad > 0);
    pm_end();
    free(data);
}

/* ---- over 2 GiB in one buffer ---- */

static void test_put_over_2gib(void)
{
    const char *base = getenv("DURLOG_BIG_DIR");
    if (!base || !*base)
        base = "/dev/shm";
    size_t len = 2 * (size_t)DL_MAX_RW_COUNT + 4097 * 3;
    struct statvfs vfs;
    REQUIRE(statvfs(base, &vfs) == 0);
    if ((uint64_t)vfs.f_bavail * vfs.f_frsize < len + ((uint64_t)1 << 30)) {
        fprintf(stderr, "  %s has too little space for a %zu-byte file; set "
                "DURLOG_BIG_DIR\n", base, len);
        CHECK(!"space for the big file");
        return;
    }
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/durlog-put-XXXXXX", base);
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/big", dir);

    /* Untouched anonymous pages read as zeros; marks at the edges of the
     * per-call cap show every part landed where it belongs. */
    unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(buf != MAP_FAILED);
    size_t marks[] = { 0, 4095, DL_MAX_RW_COUNT - 1, DL_MAX_RW_COUNT,
                       (size_t)1 << 31, 2 * (size_t)DL_MAX_RW_COUNT, len - 1 };
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        buf[marks[i]] = (unsigned char)(0xA0 + i);
    struct seen s = { 0 };
    durlog_put_options o = { .progress = record_progress, .progress_arg = &s };
    /* One chunk: the whole buffer goes to the write-all loop in one call,
     * which meets the kernel's per-call cap. */
    struct dl_put_tuning saved = dl_put_tuning;
    dl_put_tuning.chunk = SIZE_MAX;
    CHECK_OK(durlog_put_buffer(path, buf, len, &o));
    dl_put_tuning = saved;
    CHECK_EQ_U64(s.last_done, len);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size == len);
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        unsigned char c = 0, z = 1;
        CHECK(pread(fd, &c, 1, (off_t)marks[i]) == 1);
        CHECK_EQ_U64(c, 0xA0 + i);
        /* and the byte after each mark (but the last) is a zero */
        if (marks[i] + 1 < len && marks[i] + 1 != marks[i + 1]) {
            CHECK(pread(fd, &z, 1, (off_t)marks[i] + 1) == 1);
            CHECK_EQ_U64(z, 0);
        }
    }
    close(fd);
    munmap(buf, len);
    test_rmrf(dir);
}

TEST_MAIN({
    RUN(test_put_new_and_replace);
    RUN(test_put_mode_and_owner);
    RUN(test_put_stream);
    RUN(test_put_fd_sources);
    RUN(test_put_progress);
    RUN(test_put_cancel);
    RUN(test_put_errors);
    RUN(test_put_impossible_size_hint_is_efbig);
    RUN(test_put_links_in_sticky_directories);
    RUN(test_put_link_loops_and_dangling_links);
    RUN(test_put_link_swapped_after_its_check_is_not_followed);
    RUN(test_put_zero_filled_options_are_the_defaults);
    RUN(test_put_unknown_flags_and_reserved_fields_are_refused);
    RUN(test_put_faults);
    RUN(test_put_killed_at_each_step);
    RUN(test_put_killed_at_random);
    RUN(test_put_stale_temporaries);
    RUN(test_put_concurrent);
    RUN(test_put_power_loss);
    RUN(test_put_over_2gib);
})
