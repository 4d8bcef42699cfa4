/*
 * tests/lib/faultloop.h - the fault driver for loops that fail one call
 * after another: the n-th call to a dl_os seam entry (src/os.h), or the n-th
 * seam call of any entry, fails with a chosen fault, and the driver counts
 * every call so that a loop knows when n has passed the last one.
 * test_inject.c (the log's workload, per entry) and test_put.c (durlog_put,
 * over all of put's calls) drive their loops with it.
 *
 * A test arms it (tu_faults_arm), puts its fakes in the seam
 * (tu_faults_install, a mask of entries; a test may wrap one of them in a
 * fake of its own), runs, takes the real calls back (tu_restore_os), and
 * reads tu_fl: the calls made, whether the fault hit, and where.
 */
#ifndef DURLOG_TEST_LIB_FAULTLOOP_H
#define DURLOG_TEST_LIB_FAULTLOOP_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "seam.h"

enum tu_entry {
    TU_E_PWRITE, TU_E_WRITE, TU_E_PREAD, TU_E_READ, TU_E_COPY_FILE_RANGE,
    TU_E_SYNC_FILE_RANGE, TU_E_FDATASYNC, TU_E_FSYNC, TU_E_FALLOCATE, TU_E_FTRUNCATE,
    TU_E_OPENAT, TU_E_LINKAT, TU_E_RENAMEAT, TU_E_UNLINKAT, TU_E_MMAP, TU_E_URING_SUBMIT,
    TU_E_URING, TU_E_FLOCK, TU_E_FCNTL, TU_E_STATX, TU_E_FUTEX, TU_E_EVENTFD,
    TU_NENTRIES,
    TU_E_ANY = TU_NENTRIES, /* the n-th call of all the installed entries */
    TU_E_NONE = -1,         /* no call fails; calls are counted */
};
#define TU_ENTRY_BIT(e) (1u << (e))

static const char *const tu_entry_names[TU_NENTRIES] = {
    "pwrite", "write", "pread", "read", "copy_file_range", "sync_file_range", "fdatasync",
    "fsync", "fallocate", "ftruncate", "openat", "linkat", "renameat", "unlinkat", "mmap",
    "io_uring submission", "io_uring completion", "flock", "fcntl", "statx", "futex",
    "eventfd write",
};

/* The faults: an errno; TU_F_EINTR, a storm of them, which callers must
 * retry; TU_F_SHORT: the n-th call, if it transfers bytes, transfers one
 * (an io_uring submission takes nothing), and is a no-op elsewhere;
 * TU_F_KILL: the process is killed (SIGKILL) as the n-th call starts. */
enum tu_fault { TU_F_EIO, TU_F_ENOSPC, TU_F_EDQUOT, TU_F_EAGAIN, TU_F_EXDEV, TU_F_EINTR,
                TU_F_SHORT, TU_F_KILL, TU_NFAULTS };
static const char *const tu_fault_names[TU_NFAULTS] = {
    "EIO", "ENOSPC", "EDQUOT", "EAGAIN", "EXDEV", "an EINTR storm", "a 1-byte transfer",
    "SIGKILL",
};
static const int tu_fault_errno[TU_NFAULTS] = { EIO, ENOSPC, EDQUOT, EAGAIN, EXDEV, EINTR, 0, 0 };

struct tu_faults {
    _Atomic uint64_t calls[TU_NENTRIES + 1]; /* per entry; [TU_E_ANY] all */
    int entry;                               /* which calls fail: TU_E_* */
    int fault;                               /* enum tu_fault */
    uint64_t at;                             /* the n-th (1-based) */
    uint64_t count;                          /* calls failing from it on */
    _Atomic int hits;                        /* calls that took the fault */
    int hit_entry;                           /* the last of them: its entry */
    uint64_t hit_nth;                        /* ...and its call to that entry */
};

/* The driver's state. A test whose workload runs in a forked child points
 * this at shared memory (tu_shared_alloc) before arming. */
static struct tu_faults tu_faults_here;
static struct tu_faults *tu_fl = &tu_faults_here;

/* Sets the fault for the next run and zeroes the counts: the at-th call to
 * entry (of all entries: TU_E_ANY) and the count - 1 after it fail (count
 * 0 or 1: that call alone; TU_EVERY_CALL: every call from then on). */
#define TU_EVERY_CALL UINT64_MAX
static inline void tu_faults_arm(int entry, int fault, uint64_t at, uint64_t count)
{
    memset(tu_fl, 0, sizeof *tu_fl);
    tu_fl->entry = entry;
    tu_fl->fault = fault;
    tu_fl->at = at;
    tu_fl->count = count;
    tu_fl->hit_entry = TU_E_NONE;
}

enum { TU_PASS, TU_FAIL, TU_SHORTEN };

static inline int tu_entry_transfers(int e)
{
    return e == TU_E_PWRITE || e == TU_E_WRITE || e == TU_E_PREAD || e == TU_E_READ ||
           e == TU_E_COPY_FILE_RANGE || e == TU_E_URING_SUBMIT;
}

/* Counts a call to entry e and says what becomes of it: TU_PASS, TU_FAIL
 * (errno set) or TU_SHORTEN. */
static inline int tu_fault_now(int e)
{
    uint64_t nth = atomic_fetch_add(&tu_fl->calls[e], 1) + 1;
    uint64_t any = atomic_fetch_add(&tu_fl->calls[TU_E_ANY], 1) + 1;
    if (tu_fl->entry != e && tu_fl->entry != TU_E_ANY)
        return TU_PASS;
    uint64_t n = tu_fl->entry == TU_E_ANY ? any : nth;
    if (n < tu_fl->at || n - tu_fl->at >= (tu_fl->count ? tu_fl->count : 1))
        return TU_PASS;
    if (tu_fl->fault == TU_F_SHORT && !tu_entry_transfers(e))
        return TU_PASS;
    if (tu_fl->fault == TU_F_KILL)
        raise(SIGKILL);
    atomic_fetch_add(&tu_fl->hits, 1);
    tu_fl->hit_entry = e;
    tu_fl->hit_nth = nth;
    errno = tu_fault_errno[tu_fl->fault];
    return tu_fl->fault == TU_F_SHORT ? TU_SHORTEN : TU_FAIL;
}

/* A transfer's length as the fault leaves it; -1: the call fails. */
static inline ssize_t tu_fault_len(int e, size_t len)
{
    switch (tu_fault_now(e)) {
    case TU_FAIL: return -1;
    case TU_SHORTEN: return len > 1 ? 1 : (ssize_t)len;
    default: return (ssize_t)len;
    }
}

static inline ssize_t tu_f_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n = tu_fault_len(TU_E_PWRITE, len);
    return n < 0 ? -1 : dl_os_real.pwrite(fd, buf, (size_t)n, off);
}

static inline ssize_t tu_f_write(int fd, const void *buf, size_t len)
{
    ssize_t n = tu_fault_len(TU_E_WRITE, len);
    return n < 0 ? -1 : dl_os_real.write(fd, buf, (size_t)n);
}

static inline ssize_t tu_f_pread(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n = tu_fault_len(TU_E_PREAD, len);
    return n < 0 ? -1 : dl_os_real.pread(fd, buf, (size_t)n, off);
}

static inline ssize_t tu_f_read(int fd, void *buf, size_t len)
{
    ssize_t n = tu_fault_len(TU_E_READ, len);
    return n < 0 ? -1 : dl_os_real.read(fd, buf, (size_t)n);
}

static inline ssize_t tu_f_copy_file_range(int in, off_t *in_off, int out, off_t *out_off,
                                           size_t len, unsigned flags)
{
    ssize_t n = tu_fault_len(TU_E_COPY_FILE_RANGE, len);
    return n < 0 ? -1 : dl_os_real.copy_file_range(in, in_off, out, out_off, (size_t)n, flags);
}

static inline int tu_f_sync_file_range(int fd, off_t off, off_t len, unsigned flags)
{
    return tu_fault_now(TU_E_SYNC_FILE_RANGE) ? -1
                                              : dl_os_real.sync_file_range(fd, off, len, flags);
}

static inline int tu_f_fdatasync(int fd)
{
    return tu_fault_now(TU_E_FDATASYNC) ? -1 : dl_os_real.fdatasync(fd);
}

static inline int tu_f_fsync(int fd)
{
    return tu_fault_now(TU_E_FSYNC) ? -1 : dl_os_real.fsync(fd);
}

static inline int tu_f_fallocate(int fd, int mode, off_t off, off_t len)
{
    return tu_fault_now(TU_E_FALLOCATE) ? -1 : dl_os_real.fallocate(fd, mode, off, len);
}

static inline int tu_f_ftruncate(int fd, off_t len)
{
    return tu_fault_now(TU_E_FTRUNCATE) ? -1 : dl_os_real.ftruncate(fd, len);
}

static inline int tu_f_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    return tu_fault_now(TU_E_OPENAT) ? -1 : dl_os_real.openat(dirfd, name, flags, mode);
}

static inline int tu_f_linkat(int od, const char *on, int nd, const char *nn, int flags)
{
    return tu_fault_now(TU_E_LINKAT) ? -1 : dl_os_real.linkat(od, on, nd, nn, flags);
}

static inline int tu_f_renameat(int od, const char *on, int nd, const char *nn)
{
    return tu_fault_now(TU_E_RENAMEAT) ? -1 : dl_os_real.renameat(od, on, nd, nn);
}

static inline int tu_f_unlinkat(int dirfd, const char *name, int flags)
{
    return tu_fault_now(TU_E_UNLINKAT) ? -1 : dl_os_real.unlinkat(dirfd, name, flags);
}

static inline void *tu_f_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return tu_fault_now(TU_E_MMAP) ? MAP_FAILED : dl_os_real.mmap(addr, len, prot, flags, fd, off);
}

/* A submission refused (-errno) or, TU_F_SHORT, taking nothing (0). */
static inline int tu_f_uring_submit(void *ring)
{
    int what = tu_fault_now(TU_E_URING_SUBMIT);
    if (what)
        return what == TU_SHORTEN ? 0 : -errno;
    return dl_os_real.uring_submit(ring);
}

/* A completion's result; the fdatasync/fsync fakes act on the ring's syncs
 * too (tu_uring_result). */
static inline int tu_f_uring_result(int fd, int datasync, int res)
{
    return tu_fault_now(TU_E_URING) ? -errno : tu_uring_result(fd, datasync, res);
}

static inline int tu_f_flock(int fd, int op)
{
    return tu_fault_now(TU_E_FLOCK) ? -1 : dl_os_real.flock(fd, op);
}

static inline int tu_f_fcntl(int fd, int cmd, void *arg)
{
    return tu_fault_now(TU_E_FCNTL) ? -1 : dl_os_real.fcntl(fd, cmd, arg);
}

static inline int tu_f_statx(int dirfd, const char *name, int flags, unsigned mask,
                             struct statx *sx)
{
    return tu_fault_now(TU_E_STATX) ? -1 : dl_os_real.statx(dirfd, name, flags, mask, sx);
}

static inline long tu_f_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return tu_fault_now(TU_E_FUTEX) ? -1 : dl_os_real.futex(word, op, val, ts);
}

static inline int tu_f_eventfd_write(int fd, uint64_t value)
{
    return tu_fault_now(TU_E_EVENTFD) ? -1 : dl_os_real.eventfd_write(fd, value);
}

/* Puts the driver's fakes in the seam for the entries in mask
 * (TU_ENTRY_BIT(e) | ...). */
static inline void tu_faults_install(unsigned mask)
{
#define TU_FAKE(e, name)                                                     \
    do {                                                                     \
        if (mask & TU_ENTRY_BIT(e))                                          \
            dl_os.name = tu_f_##name;                                        \
    } while (0)
    TU_FAKE(TU_E_PWRITE, pwrite);
    TU_FAKE(TU_E_WRITE, write);
    TU_FAKE(TU_E_PREAD, pread);
    TU_FAKE(TU_E_READ, read);
    TU_FAKE(TU_E_COPY_FILE_RANGE, copy_file_range);
    TU_FAKE(TU_E_SYNC_FILE_RANGE, sync_file_range);
    TU_FAKE(TU_E_FDATASYNC, fdatasync);
    TU_FAKE(TU_E_FSYNC, fsync);
    TU_FAKE(TU_E_FALLOCATE, fallocate);
    TU_FAKE(TU_E_FTRUNCATE, ftruncate);
    TU_FAKE(TU_E_OPENAT, openat);
    TU_FAKE(TU_E_LINKAT, linkat);
    TU_FAKE(TU_E_RENAMEAT, renameat);
    TU_FAKE(TU_E_UNLINKAT, unlinkat);
    TU_FAKE(TU_E_MMAP, mmap);
    TU_FAKE(TU_E_URING_SUBMIT, uring_submit);
    TU_FAKE(TU_E_URING, uring_result);
    TU_FAKE(TU_E_FLOCK, flock);
    TU_FAKE(TU_E_FCNTL, fcntl);
    TU_FAKE(TU_E_STATX, statx);
    TU_FAKE(TU_E_FUTEX, futex);
    TU_FAKE(TU_E_EVENTFD, eventfd_write);
#undef TU_FAKE
}

#endif
