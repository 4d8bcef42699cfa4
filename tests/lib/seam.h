/*
 * tests/lib/seam.h - what tests put in the dl_os seam (src/os.h), and how
 * they take it out again: an fdatasync that counts its calls, one that fails
 * with EIO on demand, the hook that makes such fakes act on the io_uring
 * engine's syncs too, and the I/O mode a test's handles use.
 */
#ifndef DURLOG_TEST_LIB_SEAM_H
#define DURLOG_TEST_LIB_SEAM_H

#include <pthread.h>
#include <stdatomic.h>

#include "../harness.h"
#include "os.h"

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

/* An open that fails while armed: tu_refuse_opens(name, exact, modes, err)
 * has every open of a name containing `name` (NULL: any name; with exact
 * set, only that very name), for the access modes in `modes` (TU_OPEN_READ,
 * TU_OPEN_WRITE; 0: any), fail with errno err, and counts them in
 * tu_refusal.hits. A test disarms it (tu_refusal.armed = 0) or takes it out
 * of the seam (tu_restore_os). */
enum { TU_OPEN_READ = 1, TU_OPEN_WRITE = 2 };
static struct {
    const char *name;
    int exact, modes, err;
    _Atomic int armed, hits;
} tu_refusal;

static inline int tu_refusing_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    int m = (flags & O_ACCMODE) == O_RDONLY ? TU_OPEN_READ : TU_OPEN_WRITE;
    const char *want = tu_refusal.name;
    if (atomic_load(&tu_refusal.armed) && (!tu_refusal.modes || (tu_refusal.modes & m)) &&
        (!want || (tu_refusal.exact ? strcmp(name, want) == 0 : strstr(name, want) != NULL))) {
        atomic_fetch_add(&tu_refusal.hits, 1);
        errno = tu_refusal.err;
        return -1;
    }
    return dl_os_real.openat(dirfd, name, flags, mode);
}

static inline void tu_refuse_opens(const char *name, int exact, int modes, int err)
{
    tu_refusal.name = name;
    tu_refusal.exact = exact;
    tu_refusal.modes = modes;
    tu_refusal.err = err;
    atomic_store(&tu_refusal.hits, 0);
    atomic_store(&tu_refusal.armed, 1);
    dl_os.openat = tu_refusing_openat;
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
    TU_RESTORE_ENTRY(mkdirat);
    TU_RESTORE_ENTRY(mmap);
    TU_RESTORE_ENTRY(munmap);
    TU_RESTORE_ENTRY(flock);
    TU_RESTORE_ENTRY(fcntl);
    TU_RESTORE_ENTRY(statx);
    TU_RESTORE_ENTRY(futex);
    TU_RESTORE_ENTRY(eventfd);
    TU_RESTORE_ENTRY(eventfd_write);
    TU_RESTORE_ENTRY(uring_init);
    TU_RESTORE_ENTRY(uring_submit);
    TU_RESTORE_ENTRY(thread_create);
    if (dl_os.uring_result != tu_uring_result)
        dl_os.uring_result = tu_uring_result;
}

#endif
