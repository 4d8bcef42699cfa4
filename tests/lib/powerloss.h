/*
 * tests/lib/powerloss.h - power loss, simulated: a recorder of what each
 * successful fsync/fdatasync made durable, and the file states a power
 * failure now could leave.
 *
 * The recorder sits in the dl_os seam (pl_record_syncs). It watches one
 * directory and the files in it whose names the test cares about (a
 * filter: the log's segments, say; NULL: every file). When a sync of such a
 * file returns, it copies the file's bytes: they are durable. When a sync of
 * the directory returns, it notes which file each name then stands for:
 * those names are durable. Files are known by inode, so a name that moves
 * to another file (a rename over it) is told apart from new bytes in the
 * same file. One more file may be "volatile", never synced but written back
 * by the kernel whenever it likes (durlog.shm): a copy of it is kept at
 * every recorded sync, the last PL_VERSIONS of them.
 *
 * pl_build_state() then writes, into a fresh directory, one state that a
 * power loss at this moment could leave:
 *   - a name the last directory sync saw, standing for the same file, is
 *     there; a name created (or re-pointed) since is there or not, each
 *     independently, as a file system that commits names in any order may
 *     leave them;
 *   - each 4 KiB page of a file that differs from its synced copy holds
 *     the synced bytes, the current ones, or (PL_TORN) a mix of the two by
 *     512-byte sector, a torn write; the rest are as synced; its length is
 *     the current one (fdatasync persists the size the data needs).
 *   - the volatile file is not there, or holds one of its recorded
 *     versions.
 *
 * The recorder lives in shared memory under a process-shared mutex, so that
 * the syncs of forked writer processes, and of the library's own threads,
 * are recorded in the one the test builds states from.
 *
 * Unlinks (pl_record_unlinks): a watched file removed since the last
 * directory sync, whose name that sync had seen, may be back after a power
 * loss, each independently, with the bytes of its last sync: a file system
 * that commits directory changes in any order may keep any subset of the
 * removals since the last fsync of the directory (trims, tests/test_trim's
 * order argument, rely on that fsync between removals).
 *
 * Limits: a copy is taken just after each sync returns, so stores made
 * meanwhile count as synced (the model errs towards keeping data, never
 * towards losing it). tests/test_powerloss.c uses
 * it on a log; `put` (tests/test_put.c, with a model of its own for now)
 * needs names committed in order and a length that may go back: the two
 * things this does not do yet.
 */
#ifndef DURLOG_TEST_LIB_POWERLOSS_H
#define DURLOG_TEST_LIB_POWERLOSS_H

#include <dirent.h>
#include <limits.h>
#include <pthread.h>

#include "../harness.h"
#include "children.h"
#include "logfiles.h"
#include "os.h"

#define PL_PAGE 4096    /* what a power loss keeps or loses as a whole... */
#define PL_SECTOR 512   /* ...unless it tears it, sector by sector */
#define PL_VERSIONS 16  /* older versions of the volatile file kept */
#define PL_NAME_MAX (NAME_MAX + 1)

enum { PL_TORN = 1 };   /* pl_build_state: pages may be torn by sector */

/* A file the recorder has seen: its bytes as of its last successful sync. */
struct pl_file {
    uint64_t dev, ino;
    char name[PL_NAME_MAX]; /* the name it had when last seen */
    int name_durable;       /* the last directory sync saw that name */
    int unlinked;           /* removed; until a directory sync, it may be
                               back after a power loss */
    size_t len;
    unsigned char *bytes;   /* max_file_bytes of them, in the recorder */
};

struct pl_recorder {
    pthread_mutex_t mu;
    char dir[PATH_MAX];
    int (*watched)(const char *name); /* NULL: every file */
    int lying;                  /* syncs succeed without syncing: a lying disk */
    size_t max_files, max_file_bytes;
    size_t nfiles;
    struct pl_file *files;
    char volatile_name[PL_NAME_MAX];
    size_t volatile_size;
    unsigned nversions;
    unsigned char *versions;    /* PL_VERSIONS copies of volatile_size bytes */
    size_t size;                /* of the whole mapping */
};

/* The recorder the seam's syncs report to (each process has its pointer;
 * forked children inherit it). */
static struct pl_recorder *pl_current;

/* A recorder for `dir` (a path that need not exist yet), in memory shared
 * with forked children: room for max_files files of at most max_file_bytes
 * each; volatile_name (NULL: none) is copied, volatile_size bytes of it, at
 * each sync. NULL if there is no memory. */
static inline struct pl_recorder *pl_recorder_new(const char *dir,
                                                  int (*watched)(const char *name),
                                                  size_t max_files, size_t max_file_bytes,
                                                  const char *volatile_name,
                                                  size_t volatile_size)
{
    size_t size = sizeof(struct pl_recorder) + max_files * sizeof(struct pl_file) +
                  max_files * max_file_bytes + PL_VERSIONS * volatile_size;
    struct pl_recorder *r = tu_shared_alloc(size);
    if (!r)
        return NULL;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&r->mu, &a);
    pthread_mutexattr_destroy(&a);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    r->watched = watched;
    r->max_files = max_files;
    r->max_file_bytes = max_file_bytes;
    r->files = (struct pl_file *)(r + 1);
    unsigned char *bytes = (unsigned char *)(r->files + max_files);
    for (size_t i = 0; i < max_files; i++)
        r->files[i].bytes = bytes + i * max_file_bytes;
    snprintf(r->volatile_name, sizeof r->volatile_name, "%s", volatile_name ? volatile_name : "");
    r->volatile_size = volatile_name ? volatile_size : 0;
    r->versions = bytes + max_files * max_file_bytes;
    r->size = size;
    return r;
}

static inline void pl_recorder_free(struct pl_recorder *r)
{
    if (pl_current == r)
        pl_current = NULL;
    if (r)
        munmap(r, r->size);
}

/* The file with this inode, added (nothing synced yet) if new; under mu. */
static inline struct pl_file *pl_file_of(struct pl_recorder *r, const struct stat *st,
                                         const char *name)
{
    struct pl_file *f = NULL;
    /* (A removed file's inode may be given to a new file: not the same.) */
    for (size_t i = 0; i < r->nfiles && !f; i++)
        if (!r->files[i].unlinked && r->files[i].dev == (uint64_t)st->st_dev &&
            r->files[i].ino == (uint64_t)st->st_ino)
            f = &r->files[i];
    if (!f) {
        if (r->nfiles == r->max_files)
            abort(); /* the test outgrew its recorder */
        f = &r->files[r->nfiles++];
        f->dev = (uint64_t)st->st_dev;
        f->ino = (uint64_t)st->st_ino;
        f->name_durable = 0;
        f->unlinked = 0;
        f->len = 0;
    }
    if (strcmp(f->name, name) != 0) {
        snprintf(f->name, sizeof f->name, "%.*s", (int)sizeof f->name - 1, name);
        f->name_durable = 0;
    }
    return f;
}

static inline int pl_is_watched(const struct pl_recorder *r, const char *name)
{
    return name[0] != '.' && strcmp(name, r->volatile_name) != 0 &&
           (!r->watched || r->watched(name));
}

/* What a successful sync of fd made durable, when fd is the directory or a
 * watched file in it (syncs of anything else, such as the recovery of a
 * crash state, are no part of the model). Under mu. */
static inline void pl_note_sync(struct pl_recorder *r, int fd)
{
    struct stat st, dir_st;
    if (fstat(fd, &st) != 0)
        return;
    int dirfd = open(r->dir, O_RDONLY | O_DIRECTORY);
    if (dirfd < 0)
        return;
    if (fstat(dirfd, &dir_st) != 0 ||
        (S_ISDIR(st.st_mode) && (st.st_dev != dir_st.st_dev || st.st_ino != dir_st.st_ino))) {
        close(dirfd);
        return;
    }
    char path[2 * PATH_MAX];
    if (r->volatile_size) {
        size_t len;
        unsigned char *v = file_read(log_file(path, sizeof path, r->dir, r->volatile_name), &len);
        if (v && len >= r->volatile_size)
            memcpy(r->versions + (r->nversions++ % PL_VERSIONS) * r->volatile_size, v,
                   r->volatile_size);
        free(v);
    }
    if (S_ISDIR(st.st_mode)) {
        /* Every removal so far is durable: those files are gone for good
         * (their records stay, marked, so that a reused inode is new). */
        for (size_t i = 0; i < r->nfiles; i++)
            if (r->files[i].unlinked)
                r->files[i].name_durable = 0;
        /* Every name now in the directory is durable. */
        DIR *d = fdopendir(dup(dirfd));
        struct dirent *e;
        struct stat entry;
        while (d && (e = readdir(d)) != NULL)
            if (pl_is_watched(r, e->d_name) &&
                fstatat(dirfd, e->d_name, &entry, AT_SYMLINK_NOFOLLOW) == 0)
                pl_file_of(r, &entry, e->d_name)->name_durable = 1;
        if (d)
            closedir(d);
    } else {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            const char *name = strrchr(target, '/');
            name = name ? name + 1 : target;
            struct stat entry;
            int ours = fstatat(dirfd, name, &entry, AT_SYMLINK_NOFOLLOW) == 0 &&
                       entry.st_dev == st.st_dev && entry.st_ino == st.st_ino;
            size_t len;
            unsigned char *now = ours && pl_is_watched(r, name)
                ? file_read(log_file(path, sizeof path, r->dir, name), &len) : NULL;
            if (now) {
                if (len > r->max_file_bytes)
                    abort(); /* the test outgrew its copies */
                struct pl_file *f = pl_file_of(r, &st, name);
                memcpy(f->bytes, now, len);
                f->len = len;
                free(now);
            }
        }
    }
    close(dirfd);
}

/* Records after the sync returns and before the library can act on it
 * (move its durable mark), so that a mark seen at a crash point is
 * covered. */
static inline int pl_recorded_sync(int (*real)(int), int fd)
{
    struct pl_recorder *r = pl_current;
    if (r->lying)
        return 0;
    int rc = real(fd);
    if (rc == 0) {
        pthread_mutex_lock(&r->mu);
        pl_note_sync(r, fd);
        pthread_mutex_unlock(&r->mu);
    }
    return rc;
}

static inline int pl_recording_fdatasync(int fd)
{
    return pl_recorded_sync(dl_os_real.fdatasync, fd);
}

static inline int pl_recording_fsync(int fd)
{
    return pl_recorded_sync(dl_os_real.fsync, fd);
}

/* From now on this process's fdatasync and fsync calls through the seam
 * report to r (tu_restore_os() takes them out). The io_uring engine's syncs
 * do not go through these entries: a test opens its logs with the thread
 * engine. */
static inline void pl_record_syncs(struct pl_recorder *r)
{
    pl_current = r;
    dl_os.fdatasync = pl_recording_fdatasync;
    dl_os.fsync = pl_recording_fsync;
}

/* An unlinkat through the seam: a watched file of the recorder's directory
 * that goes is noted as removed (pl_file.unlinked). */
static inline int pl_recording_unlinkat(int dirfd, const char *name, int flags)
{
    struct pl_recorder *r = pl_current;
    struct stat st, dir_st, fd_st;
    struct pl_file *f = NULL;
    pthread_mutex_lock(&r->mu);
    if (pl_is_watched(r, name) && fstat(dirfd, &fd_st) == 0 && stat(r->dir, &dir_st) == 0 &&
        fd_st.st_dev == dir_st.st_dev && fd_st.st_ino == dir_st.st_ino &&
        fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        f = pl_file_of(r, &st, name);
    int rc = dl_os_real.unlinkat(dirfd, name, flags);
    if (rc == 0 && f)
        f->unlinked = 1;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* From now on this process's removals through the seam are modelled too. */
static inline void pl_record_unlinks(struct pl_recorder *r)
{
    pl_current = r;
    dl_os.unlinkat = pl_recording_unlinkat;
}

/* The bytes a power loss may leave of file f, now `now` (len bytes, changed
 * in place): page by page, the synced copy, the current bytes, or with
 * PL_TORN a mix of the two by sector. */
static inline void pl_lose_pages(const struct pl_file *f, unsigned char *now, size_t len,
                                 unsigned how, uint64_t *rng)
{
    for (size_t page = 0; page < len; page += PL_PAGE) {
        size_t n = len - page < PL_PAGE ? len - page : PL_PAGE;
        unsigned char old[PL_PAGE];
        memset(old, 0, sizeof old);
        if (page < f->len)
            memcpy(old, f->bytes + page, f->len - page < n ? f->len - page : n);
        if (memcmp(old, now + page, n) == 0)
            continue;
        unsigned pick = (unsigned)(test_rand(rng) % ((how & PL_TORN) ? 3 : 2));
        if (pick == 0) {
            memcpy(now + page, old, n);                       /* lost */
        } else if (pick == 2) {
            for (size_t s = 0; s < n; s += PL_SECTOR)         /* torn */
                if (test_rand(rng) % 2)
                    memcpy(now + page + s, old + s, n - s < PL_SECTOR ? n - s : PL_SECTOR);
        }                                                     /* pick 1: kept */
    }
}

/* Writes into directory `out` (made here) one state of the watched files
 * that a power loss now could leave, chosen with rng; and of the volatile
 * file: none, or one of the versions recorded, which fix_volatile (NULL:
 * none) may change before it is written (to look like the boot before).
 * Returns 0 or -1. */
static inline int pl_build_state(struct pl_recorder *r, const char *out, unsigned how,
                                 uint64_t *rng, void (*fix_volatile)(void *bytes, const char *out))
{
    int rc = 0;
    char path[2 * PATH_MAX];
    pthread_mutex_lock(&r->mu);
    mkdir(out, 0755);
    int dirfd = open(r->dir, O_RDONLY | O_DIRECTORY);
    DIR *d = dirfd >= 0 ? fdopendir(dup(dirfd)) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        struct stat st;
        if (!pl_is_watched(r, e->d_name) ||
            fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        struct pl_file *f = pl_file_of(r, &st, e->d_name);
        if (!f->name_durable && test_rand(rng) % 2)
            continue; /* a name no directory sync covered: lost */
        size_t len;
        unsigned char *now = file_read(log_file(path, sizeof path, r->dir, e->d_name), &len);
        if (!now)
            continue;
        pl_lose_pages(f, now, len, how, rng);
        if (file_write(log_file(path, sizeof path, out, e->d_name), now, len) != 0)
            rc = -1;
        free(now);
    }
    if (d)
        closedir(d);
    if (dirfd >= 0)
        close(dirfd);
    /* A removal no directory sync covered, of a name one had: undone or
     * not, each independently; the file as it was last synced. */
    for (size_t i = 0; i < r->nfiles; i++) {
        const struct pl_file *f = &r->files[i];
        if (f->unlinked && f->name_durable && test_rand(rng) % 2 &&
            file_write(log_file(path, sizeof path, out, f->name), f->bytes, f->len) != 0)
            rc = -1;
    }
    unsigned versions = r->nversions < PL_VERSIONS ? r->nversions : PL_VERSIONS;
    if (versions && test_rand(rng) % 3) {
        unsigned char *v = malloc(r->volatile_size);
        if (v) {
            memcpy(v, r->versions + (test_rand(rng) % versions) * r->volatile_size,
                   r->volatile_size);
            if (fix_volatile)
                fix_volatile(v, out);
            if (file_write(log_file(path, sizeof path, out, r->volatile_name), v,
                           r->volatile_size) != 0)
                rc = -1;
        }
        free(v);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Where a test builds its crash states: on a tmpfs when there is one.
 * Recovery of a state fsyncs what it repairs, and on a disk that costs more
 * than all the rest; what a state proves does not depend on the file system
 * under it (the durability of the workload's own syncs was taken on the
 * real one). */
static inline void pl_state_dir(char *buf, size_t size)
{
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(buf, size, "%s/durlog-crash-%d", base, (int)getpid());
}

#endif
