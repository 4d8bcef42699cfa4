/*
 * put.c - whole files replaced safely: the steps of durlog_put_*() (see
 * durlog_put.h). Where a put writes, DEST's directory and the name in it,
 * is put_path.c's to find.
 *
 * The steps of a put, and why each is there:
 *
 *  begin   Checks the options (a bit or field this version does not know
 *          is refused, not ignored), resolves DEST (put_path.c) and
 *          creates an unnamed file in its directory (O_TMPFILE): in the
 *          same file system, so that the final rename is atomic; unnamed,
 *          so that a crash during the long write leaves nothing behind (the
 *          kernel frees it). It is flock'ed at once, so
 *          that once it has a name no cleaner mistakes it for a stale one.
 *          Where O_TMPFILE or /proc is missing, a named ".durlog-put.*" file
 *          is used instead, locked the same way. Mode and owner are set
 *          now, so that nothing can fail about them after the data is
 *          written. With a known size the space is reserved now: a full disk
 *          fails the put before it has written anything.
 *  write   Chunks of at most 8 MiB through the write-all loop (short writes,
 *          EINTR, the 2 GiB per-call cap). After each chunk, writeback of it
 *          is started and writeback of older ones awaited (sync_file_range,
 *          a hint, not a sync), so dirty pages stay bounded: the disk works
 *          while we copy, the fsync at the end is short, and progress shows
 *          what the disk has taken rather than what fits in memory.
 *  commit  fsync (data, size, mode, owner); link the file under a temporary
 *          name; rename that over DEST; fsync the directory. A crash before
 *          the rename leaves the old DEST; after it, the new one, complete
 *          because it was synced before it got any name. The directory's
 *          fsync is the one step after the rename: its failure has a code
 *          of its own (DURLOG_EDIRSYNC), since DEST is replaced by then. A
 *          name left by a crash between link and rename is removed by the
 *          next put into the directory (remove_stale).
 *
 * The old file's content is never written to, so every failure but
 * DURLOG_EDIRSYNC leaves DEST as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "durlog_put.h"
#include "error.h"
#include "os.h"
#include "put.h"

#define TMP_PREFIX ".durlog-put."

/* Every flag this version knows; a put refuses any other bit. */
#define KNOWN_FLAGS (DURLOG_PUT_NO_SYNC | DURLOG_PUT_SET_MODE | DURLOG_PUT_SET_OWNER)

struct dl_put_tuning dl_put_tuning = {
    .chunk = (size_t)8 << 20,
    .window = (uint64_t)32 << 20,
    .pacing = 1,
    .copy_range = 1,
};

struct durlog_put {
    struct dl_put_dest dest;/* DEST's directory (open) and name in it */
    int fd;                 /* the temporary file, flock'ed */
    int named;              /* fallback: the temporary has had a name from
                               the start (tmpname) */
    char tmpname[48];
    char *shown;            /* DEST as the caller named it, for messages */
    unsigned flags;
    uint64_t done;          /* bytes written */
    uint64_t total;         /* expected, or DURLOG_SIZE_UNKNOWN */
    uint64_t reserved;      /* bytes fallocate'd (the file's size) */
    uint64_t kicked;        /* writeback started for [0, kicked) */
    uint64_t waited;        /* writeback finished for [0, waited) */
    uint64_t reported;      /* the last `done` told to progress */
    int failed;             /* first failure of a write; commit returns it */
    int no_pacing;          /* sync_file_range is unavailable here */
    durlog_progress_fn progress;
    void *progress_arg;
    char *errbuf;
    size_t errbuf_size;
};

void durlog_put_options_init(durlog_put_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->uid = (uid_t)-1;
    opts->gid = (gid_t)-1;
}

static int put_fail(durlog_put *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records rc's message as "<what>: <strerror>" and returns rc. */
static int put_fail(durlog_put *p, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dl_put_vmessage(p->errbuf, p->errbuf_size, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/* Refuses what this version of the library does not know: a flag bit or a
 * reserved field that a newer caller (or garbage) set. Ignoring it would
 * silently drop a request. */
static int check_options(const durlog_put_options *o)
{
    if (o->flags & ~(unsigned)KNOWN_FLAGS)
        return dl_put_message(o->errbuf, o->errbuf_size, -EINVAL,
                              "unknown bits 0x%x in durlog_put_options.flags",
                              o->flags & ~(unsigned)KNOWN_FLAGS);
    if (dl_reserved_nonzero(o->reserved, DURLOG_RESERVED_WORDS))
        return dl_put_message(o->errbuf, o->errbuf_size, -EINVAL,
                              "durlog_put_options: reserved fields must be zero "
                              "(start from durlog_put_options_init() or {0})");
    return 0;
}

/* ---- the temporary file ---- */

/* A random suffix for a temporary name. */
static void random_hex(char *out, size_t size)
{
    uint64_t r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = dl_mono_ns() ^ ((uint64_t)getpid() << 32);
    snprintf(out, size, "%016llx", (unsigned long long)r);
}

/* A name this file gives its temporaries: the prefix and 16 hex digits,
 * nothing else (a user's ".durlog-put.notes" is not ours). */
static int is_temp_name(const char *name)
{
    size_t n = sizeof TMP_PREFIX - 1;
    if (strncmp(name, TMP_PREFIX, n) != 0 || strlen(name) != n + 16)
        return 0;
    return strspn(name + n, "0123456789abcdef") == 16;
}

/* Removes the temporaries of puts that died between naming theirs and the
 * rename: a ".durlog-put.*" regular file that nobody holds locked (a live
 * put holds its temporary's flock from before it has a name until it is
 * gone). Best effort: whatever cannot be checked is left alone. */
static void remove_stale(int dirfd)
{
    int fd = dl_dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        dl_close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct dl_stat st, now;
        if (!is_temp_name(e->d_name) || dl_stat_at(dirfd, e->d_name, &st) != 0 ||
            !S_ISREG(st.mode))
            continue;
        int tfd = dl_openat(dirfd, e->d_name, O_RDONLY | O_NOFOLLOW, 0);
        if (tfd < 0)
            continue;
        if (dl_stat_fd(tfd, &st) == 0 && S_ISREG(st.mode) &&
            dl_flock(tfd, LOCK_EX | LOCK_NB) == 0 &&
            dl_stat_at(dirfd, e->d_name, &now) == 0 &&
            now.ino == st.ino && now.dev == st.dev)
            (void)dl_unlinkat(dirfd, e->d_name);
        dl_close(tfd);
    }
    closedir(d);
}

/* Creates the temporary file: unnamed if the kernel and /proc allow it to be
 * linked later, else named; locked either way. */
static int create_temp(durlog_put *p, mode_t mode)
{
    int fd = dl_openat(p->dest.dirfd, ".", O_TMPFILE | O_WRONLY, mode);
    if (fd >= 0) {
        /* The link at commit goes through /proc/self/fd (linkat with
         * AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH): check that it is there. */
        char proc[64];
        struct dl_stat a;
        struct statx b;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        /* Unnamed, so nobody else can hold its lock: this never waits. The
         * /proc name is a link: followed (flags 0). */
        if (dl_stat_fd(fd, &a) == 0 &&
            dl_os.statx(AT_FDCWD, proc, 0, STATX_INO, &b) == 0 && a.ino == b.stx_ino &&
            a.dev == makedev(b.stx_dev_major, b.stx_dev_minor) &&
            dl_flock(fd, LOCK_EX | LOCK_NB) == 0) {
            p->fd = fd;
            return 0;
        }
        dl_close(fd);
    } else if (fd != -EOPNOTSUPP && fd != -EISDIR && fd != -EINVAL) {
        return put_fail(p, fd, "cannot create a file in %s", p->dest.dir);
    }
    /* Named: create, lock, then make sure a cleaner did not remove the name
     * between the two (it takes the lock first, so after ours the name is
     * safe once it is still ours). */
    for (int tries = 0; tries < 100; tries++) {
        char hex[20];
        random_hex(hex, sizeof hex);
        snprintf(p->tmpname, sizeof p->tmpname, TMP_PREFIX "%s", hex);
        fd = dl_openat(p->dest.dirfd, p->tmpname, O_WRONLY | O_CREAT | O_EXCL, mode);
        if (fd == -EEXIST)
            continue;
        if (fd < 0)
            return put_fail(p, fd, "cannot create a file in %s", p->dest.dir);
        struct dl_stat a, b;
        int rc = dl_flock(fd, LOCK_EX);
        if (rc < 0) {
            (void)dl_unlinkat(p->dest.dirfd, p->tmpname);
            dl_close(fd);
            return put_fail(p, rc, "cannot lock a temporary file in %s", p->dest.dir);
        }
        rc = dl_stat_fd(fd, &a);
        int named = rc ? rc : dl_stat_at(p->dest.dirfd, p->tmpname, &b);
        if (named == 0 && a.ino == b.ino && a.dev == b.dev) {
            p->fd = fd;
            p->named = 1;
            return 0;
        }
        if (rc || (named && named != -ENOENT)) {
            /* Cannot tell: the name is a random one this put made (O_EXCL),
             * so it is removed, not left behind as a stale temporary. */
            (void)dl_unlinkat(p->dest.dirfd, p->tmpname);
            dl_close(fd);
            return put_fail(p, rc ? rc : named, "cannot look at a temporary file in %s",
                            p->dest.dir);
        }
        dl_close(fd); /* a cleaner took the name first: not ours any more */
    }
    return put_fail(p, -EEXIST, "cannot create a temporary file in %s", p->dest.dir);
}

/* Mode and owner of the new file: the caller's, or those of the file it
 * replaces (old, when there is one). */
static int set_attributes(durlog_put *p, const durlog_put_options *o,
                          const struct dl_stat *old)
{
    if (o->flags & DURLOG_PUT_SET_OWNER) {
        if (fchown(p->fd, o->uid, o->gid) < 0)
            return put_fail(p, -errno, "cannot set the owner of %s to %d:%d",
                            p->shown, (int)o->uid, (int)o->gid);
    } else if (old) {
        struct dl_stat st;
        /* Only root may give a file away; a plain user keeps at least the
         * group when it is one of theirs, else the new file is theirs. Not
         * knowing would leave the caller's owner on the new file. */
        int rc = dl_stat_fd(p->fd, &st);
        if (rc)
            return put_fail(p, rc, "cannot look at the new file for %s", p->shown);
        if ((st.uid != old->uid || st.gid != old->gid) &&
            fchown(p->fd, old->uid, old->gid) < 0)
            (void)fchown(p->fd, (uid_t)-1, old->gid);
    }
    /* After fchown, which clears set-user-ID bits. */
    mode_t mode = (o->flags & DURLOG_PUT_SET_MODE) ? o->mode
                  : old ? old->mode : 0;
    if (((o->flags & DURLOG_PUT_SET_MODE) || old) && fchmod(p->fd, mode & 07777) < 0)
        return put_fail(p, -errno, "cannot set the mode of %s to %04o",
                        p->shown, (unsigned)(mode & 07777));
    return 0;
}

/* Whether dir/name is the root of a mount: a file bind-mounted there, from
 * this file system (statx says so, Linux 5.8+) or another (its device
 * differs from the directory's). */
static int is_mount_point(int dirfd, const char *name, const struct dl_stat *st)
{
#ifdef STATX_ATTR_MOUNT_ROOT
    struct statx sx;
    if (dl_os.statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &sx) == 0 &&
        (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
        return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
#endif
    struct dl_stat dir_st;
    return dl_stat_fd(dirfd, &dir_st) == 0 && dir_st.dev != st->dev;
}

static void put_free(durlog_put *p)
{
    if (p->named && p->tmpname[0])
        (void)dl_unlinkat(p->dest.dirfd, p->tmpname);
    dl_close(p->fd);
    dl_put_dest_free(&p->dest);
    free(p->shown);
    free(p);
}

/* The total a caller's size_hint announces: 0 means "not known", so that
 * a zero-filled struct is the default. */
static uint64_t hinted_total(const durlog_put_options *o)
{
    return o->size_hint ? o->size_hint : DURLOG_SIZE_UNKNOWN;
}

/* durlog_put_begin with the total known (DURLOG_SIZE_UNKNOWN if not): a
 * buffer's length, a file's size, or the caller's hint. opts is not NULL. */
static int put_start(const char *path, const durlog_put_options *opts, uint64_t total,
                     int no_link_dest, durlog_put **out)
{
    int rc = check_options(opts);
    if (rc)
        return rc;
    if (!path || !out || !*path)
        return dl_put_message(opts->errbuf, opts->errbuf_size, -EINVAL,
                              "no destination path");
    *out = NULL;
    durlog_put *p = calloc(1, sizeof *p);
    if (!p)
        return dl_put_message(opts->errbuf, opts->errbuf_size, -ENOMEM, "put %s", path);
    p->dest.dirfd = p->fd = -1;
    p->flags = opts->flags;
    p->total = total;
    p->progress = opts->progress;
    p->progress_arg = opts->progress_arg;
    p->errbuf = opts->errbuf;
    p->errbuf_size = opts->errbuf_size;
    if (p->errbuf && p->errbuf_size)
        p->errbuf[0] = '\0';

    p->shown = strdup(path);
    rc = p->shown ? dl_put_resolve(path, no_link_dest, &p->dest, p->errbuf, p->errbuf_size)
                  : put_fail(p, -ENOMEM, "put %s", path);
    if (rc)
        goto fail;
    if (strncmp(p->dest.base, TMP_PREFIX, sizeof TMP_PREFIX - 1) == 0) {
        rc = put_fail(p, -EINVAL, "%s: names starting with \"" TMP_PREFIX "\" are "
                      "put's temporary files", p->shown);
        goto fail;
    }

    /* The file being replaced, whose mode and owner the new one takes: only
     * its absence (ENOENT) means a new file, not a failure to look (which
     * would give a 0600 file the default mode). */
    struct dl_stat old;
    rc = dl_stat_at(p->dest.dirfd, p->dest.base, &old);
    if (rc && rc != -ENOENT) {
        rc = put_fail(p, rc, "cannot look at %s", p->shown);
        goto fail;
    }
    int have_old = rc == 0;
    if (have_old && S_ISDIR(old.mode)) {
        rc = put_fail(p, -EISDIR, "%s", p->shown);
        goto fail;
    }
    if (have_old && !S_ISREG(old.mode)) {
        rc = put_fail(p, -EINVAL, "%s is not a regular file (refusing to replace it)",
                      p->shown);
        goto fail;
    }
    /* A file bind-mounted over DEST (a container's /etc/hosts, say) lives
     * on another device than its directory: rename(2) could only fail with
     * EBUSY, after the whole copy. Say so now. */
    if (have_old && is_mount_point(p->dest.dirfd, p->dest.base, &old)) {
        rc = put_fail(p, -EBUSY, "%s is a mount point (a file mounted over it); a rename "
                      "cannot replace it", p->shown);
        goto fail;
    }
    remove_stale(p->dest.dirfd);
    rc = create_temp(p, (opts->flags & DURLOG_PUT_SET_MODE) ? 0600 : 0666);
    if (rc)
        goto fail;
    rc = set_attributes(p, opts, have_old ? &old : NULL);
    if (rc)
        goto fail;
    if (p->total != DURLOG_SIZE_UNKNOWN && p->total > (uint64_t)INT64_MAX) {
        /* No file can be that large: cast to off_t it was negative, and
         * fallocate's -EINVAL blamed an argument the manual does not name. */
        rc = put_fail(p, -EFBIG, "cannot reserve %llu bytes in %s: above the largest "
                      "file size", (unsigned long long)p->total, p->dest.dir);
        goto fail;
    }
    if (p->total != DURLOG_SIZE_UNKNOWN && p->total > 0) {
        rc = dl_fallocate(p->fd, 0, (off_t)p->total);
        if (rc == 0)
            p->reserved = p->total;
        else if (rc != -EOPNOTSUPP) {
            rc = put_fail(p, rc, "cannot reserve %llu bytes in %s",
                          (unsigned long long)p->total, p->dest.dir);
            goto fail;
        }
    }
    if (p->progress && p->progress(0, p->total, p->progress_arg)) {
        rc = put_fail(p, -ECANCELED, "put %s", p->shown);
        goto fail;
    }
    *out = p;
    return 0;

fail:
    put_free(p);
    return rc;
}

int durlog_put_begin(const char *path, const durlog_put_options *opts,
                     durlog_put **out)
{
    durlog_put_options defaults;
    if (!opts) {
        durlog_put_options_init(&defaults);
        opts = &defaults;
    }
    return put_start(path, opts, hinted_total(opts), 0, out);
}

/* ---- writing ---- */

/* After `done` grew: starts writeback of what is new and waits for what is
 * more than a window behind, so that dirty pages stay bounded. A writeback
 * error fails the put at once: the wait has consumed it, and the final fsync
 * would not report it again (see dl_writeback). */
static int pace(durlog_put *p)
{
    if ((p->flags & DURLOG_PUT_NO_SYNC) || !dl_put_tuning.pacing || p->no_pacing)
        return 0;
    int rc = 0;
    if (p->done - p->kicked >= dl_put_tuning.chunk) {
        rc = dl_writeback(p->fd, (off_t)p->kicked, (off_t)(p->done - p->kicked), 0);
        p->kicked = p->done;
    }
    if (rc == 0 && p->kicked > p->waited + dl_put_tuning.window) {
        uint64_t upto = p->kicked - dl_put_tuning.window;
        rc = dl_writeback(p->fd, (off_t)p->waited, (off_t)(upto - p->waited), 1);
        p->waited = upto;
    }
    if (rc == -EOPNOTSUPP) {
        p->no_pacing = 1; /* a hint this system lacks: write on without it */
        return 0;
    }
    if (rc)
        return p->failed = put_fail(p, rc, "writeback of the new %s (nothing replaced)",
                                    p->shown);
    return 0;
}

/* Counts n new bytes, paces and reports them; fails with -ECANCELED when
 * the progress callback asks to stop. */
static int advance(durlog_put *p, uint64_t n)
{
    p->done += n;
    if (p->total != DURLOG_SIZE_UNKNOWN && p->done > p->total)
        p->total = DURLOG_SIZE_UNKNOWN; /* the hint was wrong: no total */
    int rc = pace(p);
    if (rc)
        return rc;
    if (p->progress) {
        p->reported = p->done;
        if (p->progress(p->done, p->total, p->progress_arg))
            return p->failed = put_fail(p, -ECANCELED, "put %s", p->shown);
    }
    return 0;
}

static int write_failed(durlog_put *p, int rc)
{
    return p->failed = put_fail(p, rc, "write of %s at byte %llu", p->shown,
                                (unsigned long long)p->done);
}

int durlog_put_write(durlog_put *p, const void *buf, size_t len)
{
    if (!p)
        return dl_put_message(NULL, 0, -EINVAL, "durlog_put_write: no handle");
    if (!buf && len)
        return put_fail(p, -EINVAL, "put %s: no buffer for %zu bytes", p->shown, len);
    if (p->failed)
        return p->failed;
    const char *c = buf;
    while (len > 0) {
        size_t n = len < dl_put_tuning.chunk ? len : dl_put_tuning.chunk;
        int rc = dl_pwrite_all(p->fd, c, n, (off_t)p->done);
        if (rc)
            return write_failed(p, rc);
        c += n;
        len -= n;
        rc = advance(p, n);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- committing ---- */

void durlog_put_abort(durlog_put *p)
{
    if (p)
        put_free(p);
}

int durlog_put_commit(durlog_put *p)
{
    if (!p)
        return dl_put_message(NULL, 0, -EINVAL, "durlog_put_commit: no handle");
    int rc = p->failed;
    if (rc)
        goto out;
    if (p->progress && (p->reported != p->done || p->total != p->done)) {
        p->total = p->done;
        p->reported = p->done;
        if (p->progress(p->done, p->done, p->progress_arg)) {
            rc = put_fail(p, -ECANCELED, "put %s", p->shown);
            goto out;
        }
    }
    /* Space reserved beyond what was written (a size hint too large). */
    if (p->reserved > p->done && (rc = dl_ftruncate(p->fd, (off_t)p->done)) != 0) {
        rc = put_fail(p, rc, "ftruncate of %s", p->shown);
        goto out;
    }
    /* fsync, not fdatasync: the mode and owner set at begin must be as
     * durable as the data when the name appears. */
    if (!(p->flags & DURLOG_PUT_NO_SYNC) && (rc = dl_fsync(p->fd)) != 0) {
        rc = put_fail(p, rc, "fsync of the new %s (nothing replaced)", p->shown);
        goto out;
    }
    if (!p->named) {
        char proc[64], hex[20];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", p->fd);
        for (int tries = 0;; tries++) {
            random_hex(hex, sizeof hex);
            snprintf(p->tmpname, sizeof p->tmpname, TMP_PREFIX "%s", hex);
            rc = dl_linkat(AT_FDCWD, proc, p->dest.dirfd, p->tmpname, AT_SYMLINK_FOLLOW);
            if (rc != -EEXIST || tries == 100)
                break;
        }
        if (rc) {
            p->tmpname[0] = '\0';
            rc = put_fail(p, rc, "link of the new %s", p->shown);
            goto out;
        }
        p->named = 1;
    }
    rc = dl_renameat(p->dest.dirfd, p->tmpname, p->dest.base);
    if (rc) {
        rc = put_fail(p, rc, "rename over %s", p->shown);
        goto out;
    }
    p->named = 0; /* the name is DEST's now: put_free must not unlink it */
    /* Makes the rename durable. DEST already holds the new content, so a
     * failure here is not "nothing replaced": it has its own code. The
     * message keeps the system's reason (EIO, ...). */
    if (!(p->flags & DURLOG_PUT_NO_SYNC) && (rc = dl_fsync(p->dest.dirfd)) != 0) {
        put_fail(p, rc, "fsync of directory %s (the new %s is in place but may "
                 "not survive a power loss)", p->dest.dir, p->shown);
        rc = DURLOG_EDIRSYNC;
    }
out:
    put_free(p);
    return rc;
}

/* ---- one-shot puts ---- */

static int put_buffer(const char *path, const void *buf, size_t len,
                      const durlog_put_options *opts, int no_link_dest)
{
    durlog_put_options defaults;
    if (!opts) {
        durlog_put_options_init(&defaults);
        opts = &defaults;
    }
    if (!buf && len)
        return dl_put_message(opts->errbuf, opts->errbuf_size, -EINVAL,
                              "put %s: no buffer for %zu bytes", path ? path : "", len);
    durlog_put *p;
    int rc = put_start(path, opts, len, no_link_dest, &p);
    if (rc)
        return rc;
    rc = durlog_put_write(p, buf, len);
    if (rc) {
        durlog_put_abort(p);
        return rc;
    }
    return durlog_put_commit(p);
}

int durlog_put_buffer(const char *path, const void *buf, size_t len,
                      const durlog_put_options *opts)
{
    return put_buffer(path, buf, len, opts, 0);
}

int dl_put_buffer_own(const char *path, const void *buf, size_t len,
                      const durlog_put_options *opts)
{
    return put_buffer(path, buf, len, opts, 1);
}

/* Falls back to a put (which replaces) where no file can be made unnamed. */
static int create_by_put(const char *dir_path, const char *name, const void *buf, size_t len,
                         char *err, size_t errlen)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir_path, name) < 0) {
        snprintf(err, errlen, "%s/%s: out of memory", dir_path, name);
        return -ENOMEM;
    }
    durlog_put_options o;
    durlog_put_options_init(&o);
    o.errbuf = err;
    o.errbuf_size = errlen;
    int rc = dl_put_buffer_own(path, buf, len, &o);
    free(path);
    return rc;
}

int dl_create_own_file(int dirfd, const char *dir_path, const char *name, const void *buf,
                       size_t len, char *err, size_t errlen)
{
    char proc[64];
    int fd = dl_openat(dirfd, ".", O_TMPFILE | O_WRONLY, 0666);
    if (fd == -EOPNOTSUPP || fd == -EISDIR || fd == -EINVAL)
        return create_by_put(dir_path, name, buf, len, err, errlen);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file in %s: %s", dir_path, durlog_strerror(fd));
        return fd;
    }
    int rc = dl_pwrite_all(fd, buf, len, 0);
    const char *step = "write of the new";
    /* Whole on stable storage before it has a name. */
    if (rc == 0 && (rc = dl_fsync(fd)) != 0)
        step = "fsync of the new";
    if (rc == 0) {
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        rc = dl_linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
        step = "link of the new";
    }
    dl_close(fd);
    if (rc == -ENOENT) /* no /proc to link through */
        return create_by_put(dir_path, name, buf, len, err, errlen);
    if (rc == -EEXIST)
        return rc;
    if (rc) {
        snprintf(err, errlen, "%s %s/%s: %s", step, dir_path, name, durlog_strerror(rc));
        return rc;
    }
    /* Makes the new name durable. */
    rc = dl_fsync(dirfd);
    if (rc) {
        snprintf(err, errlen, "fsync of directory %s (the new %s is in place but may not "
                 "survive a power loss): %s", dir_path, name, durlog_strerror(rc));
        return DURLOG_EDIRSYNC;
    }
    return 0;
}

/* Copies inside the kernel. Returns 0 at the source's end, 1 if this source
 * cannot be copied that way (nothing was copied then: the caller reads and
 * writes instead), or an error. */
static int copy_in_kernel(durlog_put *p, int src)
{
    for (;;) {
        off_t off = (off_t)p->done;
        ssize_t n = dl_copy_range(src, p->fd, &off, dl_put_tuning.chunk);
        if (n < 0) {
            if (p->done == 0 && (n == -EXDEV || n == -EINVAL || n == -EOPNOTSUPP ||
                                 n == -ENOSYS || n == -EBADF))
                return 1;
            return p->failed = put_fail(p, (int)n, "copy from the source into %s at byte %llu",
                                        p->shown, (unsigned long long)p->done);
        }
        if (n == 0)
            /* End of file; but files that report no size (in /proc, say)
             * copy nothing: let read() decide. */
            return p->done == 0 ? 1 : 0;
        int rc = advance(p, (uint64_t)n);
        if (rc)
            return rc;
    }
}

static int copy_by_reading(durlog_put *p, int src)
{
    size_t size = dl_put_tuning.chunk < ((size_t)1 << 20) ? dl_put_tuning.chunk
                                                          : (size_t)1 << 20;
    char *buf = malloc(size);
    if (!buf)
        return write_failed(p, -ENOMEM);
    int rc = 0;
    for (;;) {
        ssize_t n = dl_read(src, buf, size);
        if (n < 0) {
            rc = p->failed = put_fail(p, (int)n, "read of the source (descriptor %d) for %s",
                                      src, p->shown);
            break;
        }
        if (n == 0)
            break;
        rc = durlog_put_write(p, buf, (size_t)n);
        if (rc)
            break;
    }
    free(buf);
    return rc;
}

int durlog_put_fd(const char *path, int src_fd, const durlog_put_options *opts)
{
    durlog_put_options defaults;
    if (!opts) {
        durlog_put_options_init(&defaults);
        opts = &defaults;
    }
    int rc = check_options(opts);
    if (rc)
        return rc;
    struct dl_stat st;
    rc = src_fd < 0 ? -EBADF : dl_stat_fd(src_fd, &st);
    if (rc)
        return dl_put_message(opts->errbuf, opts->errbuf_size, rc,
                              "cannot look at the source descriptor %d", src_fd);
    int regular = S_ISREG(st.mode);
    off_t at = regular ? lseek(src_fd, 0, SEEK_CUR) : -1;
    /* A file's size is known; for a pipe the caller's hint stands. */
    uint64_t total = hinted_total(opts);
    if (regular)
        total = at >= 0 && st.size >= (uint64_t)at ? st.size - (uint64_t)at
                                            : DURLOG_SIZE_UNKNOWN;
    durlog_put *p;
    rc = put_start(path, opts, total, 0, &p);
    if (rc)
        return rc;
    rc = 1;
    if (regular && dl_put_tuning.copy_range)
        rc = copy_in_kernel(p, src_fd);
    if (rc == 1)
        rc = copy_by_reading(p, src_fd);
    if (rc) {
        durlog_put_abort(p);
        return rc;
    }
    return durlog_put_commit(p);
}
