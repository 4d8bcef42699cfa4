/*
 * tests/lib/putloss.h - power loss during whole-file replacements (the put
 * path), simulated in the dl_os seam: before every system call, and
 * whenever the test asks, it builds states a crash at that moment could
 * leave and has the test judge the destination file in each.
 *
 * The model. Each file (inode) has the bytes its last successful fsync made
 * durable; each 4 KiB page written since may be kept or lost, and the
 * file's length may be its synced or its current one. The directory's names
 * are those its last fsync made durable, followed by a prefix of the name
 * operations since (link, rename, unlink: journaling file systems commit
 * them in order). A state in which the destination's name is gone is bad;
 * otherwise the test's state_ok decides from the bytes.
 *
 * tests/lib/powerloss.h models the log's files (names committed in any
 * order, lengths that only grow); this one models what a put needs: names
 * in order, a length that may go back. Used by test_put.c (one put, old or
 * new content) and test_cursors.c (a run of cursor commits).
 *
 * In-process only: the state is a plain static, and the test's own thread
 * runs the calls.
 */
#ifndef DURLOG_TEST_LIB_PUTLOSS_H
#define DURLOG_TEST_LIB_PUTLOSS_H

#include <sys/stat.h>

#include "../harness.h"
#include "seam.h"

#define PM_FILES 64     /* files a run may create (one per put) */
#define PM_NAMES 64     /* names it may use */
#define PM_OPS 64       /* name operations between two directory fsyncs */
#define PM_MAX 65536    /* bytes of a file the model follows */
#define PM_PAGE 4096    /* what a power loss keeps or loses as a whole */
#define PM_STATES 60    /* states built at each crash point */

struct pm_file {
    ino_t ino;
    int fd;                         /* ours, to read current bytes */
    size_t synced_len;
    unsigned char synced[PM_MAX];
};

struct pm_name {
    char name[64];
    int file;                       /* index into files, -1: none */
};

struct pm_op {
    int kind;                       /* 0 link, 1 rename, 2 unlink */
    char a[64], b[64];
    int file;
};

/* A state of the destination: its bytes (len of them); the test says
 * whether a crash may leave it so (nonzero) or not. */
typedef int (*pm_state_ok_fn)(const unsigned char *got, size_t len, void *arg);

static struct {
    ino_t dir_ino;
    char dest[64];                  /* the destination's name in the directory */
    int nfiles;
    struct pm_file files[PM_FILES];
    int nnames;
    struct pm_name names[PM_NAMES]; /* durable as of the last dir fsync */
    int nops;
    struct pm_op ops[PM_OPS];       /* since */
    int lying;                      /* fsync succeeds without syncing */
    int no_tmpfile;                 /* O_TMPFILE fails: named temporaries */
    pm_state_ok_fn state_ok;
    void *arg;
    int states, bad;                /* states built, states that failed */
    uint64_t rng;
} pm;

static inline int pm_file_of_fd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    for (int i = 0; i < pm.nfiles; i++)
        if (pm.files[i].ino == st.st_ino)
            return i;
    return -1;
}

static inline int pm_add_file(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || pm.nfiles == PM_FILES)
        abort(); /* the test outgrew the model */
    struct pm_file *f = &pm.files[pm.nfiles];
    f->ino = st.st_ino;
    /* A descriptor of our own that can read (the put's may be write-only). */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    f->fd = open(proc, O_RDONLY);
    if (f->fd < 0)
        abort();
    f->synced_len = 0;
    return pm.nfiles++;
}

static inline void pm_set_name(struct pm_name *names, int *n, const char *name, int file)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(names[i].name, name) == 0) {
            names[i].file = file;
            return;
        }
    if (*n == PM_NAMES)
        abort();
    snprintf(names[*n].name, sizeof names[*n].name, "%s", name);
    names[(*n)++].file = file;
}

static inline int pm_lookup(const struct pm_name *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].file;
    return -1;
}

/* Applies name operation op to names. */
static inline void pm_apply(struct pm_name *names, int *n, const struct pm_op *op)
{
    if (op->kind == 0) {
        pm_set_name(names, n, op->a, op->file);
    } else if (op->kind == 1) {
        pm_set_name(names, n, op->b, pm_lookup(names, *n, op->a));
        pm_set_name(names, n, op->a, -1);
    } else {
        pm_set_name(names, n, op->a, -1);
    }
}

/* Builds states that a power loss now could leave and judges the
 * destination in each. */
static inline void pm_crash_point(void)
{
    static struct pm_name names[PM_NAMES];
    static unsigned char cur[PM_MAX], got[PM_MAX];
    for (int s = 0; s < PM_STATES; s++) {
        int n = pm.nnames;
        memcpy(names, pm.names, sizeof names);
        int keep = (int)(test_rand(&pm.rng) % (uint64_t)(pm.nops + 1));
        for (int i = 0; i < keep; i++)
            pm_apply(names, &n, &pm.ops[i]);
        int fi = pm_lookup(names, n, pm.dest);
        pm.states++;
        if (fi < 0) {
            pm.bad++; /* the destination gone */
            continue;
        }
        struct pm_file *f = &pm.files[fi];
        ssize_t cur_len = pread(f->fd, cur, PM_MAX, 0);
        if (cur_len < 0)
            cur_len = 0;
        size_t len = (test_rand(&pm.rng) & 1) ? (size_t)cur_len : f->synced_len;
        for (size_t pg = 0; pg < len; pg += PM_PAGE) {
            size_t end = pg + PM_PAGE < len ? pg + PM_PAGE : len;
            int take_current = (int)(test_rand(&pm.rng) & 1);
            for (size_t b = pg; b < end; b++) {
                unsigned char synced = b < f->synced_len ? f->synced[b] : 0;
                unsigned char now = b < (size_t)cur_len ? cur[b] : 0;
                got[b] = take_current ? now : synced;
            }
        }
        if (!pm.state_ok(got, len, pm.arg)) {
            if (getenv("PL_DEBUG"))
                fprintf(stderr, "  bad: keep %d/%d file %d len %zu synced %zu cur %zd\n",
                        keep, pm.nops, fi, len, f->synced_len, cur_len);
            pm.bad++;
        }
    }
}

/* What a successful fsync of fd made durable. */
static inline void pm_synced(int fd)
{
    struct stat st;
    if (pm.lying || fstat(fd, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        if (st.st_ino != pm.dir_ino)
            return;
        /* Every name operation so far is durable now. */
        for (int i = 0; i < pm.nops; i++)
            pm_apply(pm.names, &pm.nnames, &pm.ops[i]);
        pm.nops = 0;
        return;
    }
    int fi = pm_file_of_fd(fd);
    if (fi < 0)
        return;
    ssize_t n = pread(pm.files[fi].fd, pm.files[fi].synced, PM_MAX, 0);
    pm.files[fi].synced_len = n > 0 ? (size_t)n : 0;
}

static inline void pm_op(int kind, const char *a, const char *b, int file)
{
    if (pm.nops == PM_OPS)
        abort();
    struct pm_op *op = &pm.ops[pm.nops++];
    op->kind = kind;
    snprintf(op->a, sizeof op->a, "%s", a);
    snprintf(op->b, sizeof op->b, "%s", b ? b : "");
    op->file = file;
}

static inline ssize_t pm_pwrite(int fd, const void *b, size_t n, off_t off)
{
    pm_crash_point();
    return dl_os_real.pwrite(fd, b, n, off);
}

static inline int pm_fsync(int fd)
{
    pm_crash_point();
    int rc = pm.lying ? 0 : dl_os_real.fsync(fd);
    if (rc == 0)
        pm_synced(fd);
    return rc;
}

static inline int pm_fallocate(int fd, int mode, off_t off, off_t len)
{
    pm_crash_point();
    return dl_os_real.fallocate(fd, mode, off, len);
}

static inline int pm_ftruncate(int fd, off_t len)
{
    pm_crash_point();
    return dl_os_real.ftruncate(fd, len);
}

static inline int pm_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    pm_crash_point();
    if ((flags & O_TMPFILE) == O_TMPFILE && pm.no_tmpfile) {
        errno = EOPNOTSUPP;
        return -1;
    }
    int fd = dl_os_real.openat(dirfd, name, flags, mode);
    if (fd >= 0 && (flags & O_TMPFILE) == O_TMPFILE)
        pm_add_file(fd);
    else if (fd >= 0 && (flags & O_CREAT))
        pm_op(0, name, NULL, pm_add_file(fd));
    return fd;
}

static inline int pm_linkat(int od, const char *on, int nd, const char *nn, int flags)
{
    pm_crash_point();
    int rc = dl_os_real.linkat(od, on, nd, nn, flags);
    int fd;
    if (rc == 0 && sscanf(on, "/proc/self/fd/%d", &fd) == 1)
        pm_op(0, nn, NULL, pm_file_of_fd(fd));
    return rc;
}

static inline int pm_renameat(int od, const char *on, int nd, const char *nn)
{
    pm_crash_point();
    int rc = dl_os_real.renameat(od, on, nd, nn);
    if (rc == 0)
        pm_op(1, on, nn, -1);
    return rc;
}

static inline int pm_unlinkat(int dirfd, const char *name, int flags)
{
    pm_crash_point();
    int rc = dl_os_real.unlinkat(dirfd, name, flags);
    if (rc == 0)
        pm_op(2, name, NULL, -1);
    return rc;
}

/* Closes the model's descriptors. */
static inline void pm_end(void)
{
    for (int i = 0; i < pm.nfiles; i++)
        close(pm.files[i].fd);
    pm.nfiles = 0;
}

/* Starts a model of directory dir, whose file `dest` (there now, synced,
 * its name durable) the test judges with state_ok(arg); seed picks the
 * states; lying: fsyncs succeed without syncing; no_tmpfile: O_TMPFILE
 * fails (named temporaries). Then puts the model in the seam (tu_restore_os
 * takes it out). Returns 0, or -1 if dir or dest cannot be looked at. */
static inline int pm_begin(const char *dir, const char *dest, uint64_t seed, int lying,
                           int no_tmpfile, pm_state_ok_fn state_ok, void *arg)
{
    pm_end();
    memset(&pm, 0, sizeof pm);
    pm.rng = seed;
    pm.state_ok = state_ok;
    pm.arg = arg;
    snprintf(pm.dest, sizeof pm.dest, "%s", dest);
    struct stat st;
    char path[PATH_MAX];
    if (stat(dir, &st) != 0)
        return -1;
    pm.dir_ino = st.st_ino;
    snprintf(path, sizeof path, "%s/%s", dir, dest);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int fi = pm_add_file(fd);
    close(fd);
    pm_synced(pm.files[fi].fd);
    pm_set_name(pm.names, &pm.nnames, dest, fi);
    pm.lying = lying;
    pm.no_tmpfile = no_tmpfile;
    dl_os.pwrite = pm_pwrite;
    dl_os.fsync = pm_fsync;
    dl_os.fallocate = pm_fallocate;
    dl_os.ftruncate = pm_ftruncate;
    dl_os.openat = pm_openat;
    dl_os.linkat = pm_linkat;
    dl_os.renameat = pm_renameat;
    dl_os.unlinkat = pm_unlinkat;
    return 0;
}

#endif
