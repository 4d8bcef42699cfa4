/*
 * os.h - every system call libdurlog makes goes through here.
 *
 * One seam, as in SQLite's os_unix.c: the functions below call the kernel
 * through the table `dl_os`, which a test may replace entry by entry to inject
 * short writes, EINTR, ENOSPC, EIO and the like (tests/test_inject.c fails
 * each entry in turn). Nothing else in src/ but put.c (not routed yet)
 * reads, writes, syncs, allocates, opens, renames, links, removes, maps,
 * locks (flock, OFD locks), stats, waits on a futex or signals an eventfd
 * directly.
 *
 * Outside the seam: calls whose failure changes nothing durlog promises
 * (madvise hints, the btrfs no-copy-on-write ioctl, close), statfs (iomode.c:
 * its failure fails the open), mkdir of a new log directory and listing a
 * directory (opendir), and calls on memory, time or threads (pthread_*,
 * sigaction, clock_gettime, the SIGBUS guard's own mmap in guard.c).
 *
 * All functions return 0 (or a file descriptor / count) on success and a
 * negated errno value on failure; none of them leaves its result in errno.
 */
#ifndef DL_OS_H
#define DL_OS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

/* The kernel moves at most this many bytes in one read()/write() call
 * (MAX_RW_COUNT = INT_MAX & PAGE_MASK), whatever count is asked for. */
#define DL_MAX_RW_COUNT 0x7ffff000L

/* The system's page size (4 KiB on x86-64; 16 or 64 KiB on some arm64 and
 * ppc64 kernels): mappings, madvise, page faults and the growth of segment
 * files work in whole pages. Asked of the system once (per file that uses
 * it; sysconf cannot fail for it on Linux: the kernel hands it to every
 * process), then remembered: appends use it. */
/* A pause for a thread spinning on a word another core will change: lets
 * the other hardware thread run, and spares the memory bus. */
static inline void dl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline uint64_t dl_page_size(void)
{
    static _Atomic uint64_t size;
    uint64_t p = atomic_load_explicit(&size, memory_order_relaxed);
    if (!p) {
        p = (uint64_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&size, p, memory_order_relaxed);
    }
    return p;
}

/* x rounded down, and up, to a multiple of the page size. */
static inline uint64_t dl_page_floor(uint64_t x)
{
    return x & ~(dl_page_size() - 1);
}

static inline uint64_t dl_page_ceil(uint64_t x)
{
    return dl_page_floor(x + dl_page_size() - 1);
}

struct flock;
struct statx;
struct timespec;

/* The raw calls, errno-style, as the kernel (or a test's fault) answers. */
struct dl_os_ops {
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
    ssize_t (*write)(int fd, const void *buf, size_t len);
    ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
    ssize_t (*read)(int fd, void *buf, size_t len);
    ssize_t (*copy_file_range)(int in, off_t *in_off, int out, off_t *out_off,
                               size_t len, unsigned flags);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*fallocate)(int fd, int mode, off_t off, off_t len);
    int (*ftruncate)(int fd, off_t len);
    int (*openat)(int dirfd, const char *name, int flags, mode_t mode);
    int (*renameat)(int olddir, const char *oldname, int newdir, const char *newname);
    int (*linkat)(int olddir, const char *oldname, int newdir, const char *newname,
                  int flags);
    int (*sync_file_range)(int fd, off_t off, off_t len, unsigned flags);
    int (*unlinkat)(int dirfd, const char *name, int flags);
    int (*mkdirat)(int dirfd, const char *name, mode_t mode);
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *addr, size_t len);
    int (*flock)(int fd, int op);
    /* fcntl with a pointer argument (struct flock * for the OFD lock
     * commands) or NULL for F_DUPFD_CLOEXEC, where it stands for 0. */
    int (*fcntl)(int fd, int cmd, void *arg);
    /* statx; where the kernel has none (before Linux 4.11), fstatat's
     * answer in its form. */
    int (*statx)(int dirfd, const char *name, int flags, unsigned mask, struct statx *out);
    /* The futex system call's FUTEX_WAIT and FUTEX_WAKE (shared, not
     * FUTEX_PRIVATE_FLAG: the words live in a file other processes map). */
    long (*futex)(uint32_t *word, int op, uint32_t val, const struct timespec *timeout);
    /* A new eventfd (eventfd(2): the descriptor or -1), and adding value to
     * one's counter (eventfd_write: 0 or -1). */
    int (*eventfd)(unsigned initval, int flags);
    int (*eventfd_write)(int fd, uint64_t value);
    /* io_uring (engine_uring.c). uring_init sets up `ring` (a struct io_uring)
     * with `entries` slots and returns 0 or -errno: a test makes it fail as
     * an old kernel, kernel.io_uring_disabled or seccomp would. Every fsync
     * completion's result (0 or -errno) passes through uring_result, which
     * returns the result to act on: a test turns successes into failures. */
    int (*uring_init)(unsigned entries, void *ring);
    int (*uring_submit)(void *ring); /* io_uring_submit: count or -errno */
    int (*uring_result)(int fd, int datasync, int res);
    /* Starts one of the library's threads (the engine, the pre-faulter):
     * 0 or an error number, as pthread_create. A test makes it fail as a
     * process at its thread or memory limit would (EAGAIN). */
    int (*thread_create)(pthread_t *thread, void *(*fn)(void *), void *arg);
};

/* The table in use. Tests may overwrite entries (and must restore them);
 * it is the only mutable global in the library and exists for testing. */
extern struct dl_os_ops dl_os;
extern const struct dl_os_ops dl_os_real;

/* Writes all `len` bytes: loops over short writes, retries EINTR, splits
 * requests larger than DL_MAX_RW_COUNT. A write that makes no progress is
 * reported as -EIO rather than looping forever. */
int dl_write_all(int fd, const void *buf, size_t len);
int dl_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Reads exactly `len` bytes or fails (-EIO on a premature end of file). */
int dl_pread_all(int fd, void *buf, size_t len, off_t off);

/* fdatasync / fsync. EINTR is retried (it reports no writeback error); any
 * other failure is returned and must be treated as final by the caller: the
 * kernel may have dropped the dirty pages it could not write. */
int dl_fdatasync(int fd);
int dl_fsync(int fd);

/* Allocates [off, off+len) so that later stores through a mapping cannot
 * raise SIGBUS for lack of space; extends the file size. Falls back to
 * writing zeros where the file system has no fallocate. */
int dl_allocate(int fd, off_t off, off_t len);
/* fallocate only: -EOPNOTSUPP where the file system has none, never a
 * fallback that writes (for callers that do not hold the append lock). */
int dl_fallocate(int fd, off_t off, off_t len);
/* fallocate with FALLOC_FL_KEEP_SIZE: blocks for [off, off+len) without
 * changing the file's size (harmless to a file someone cut meanwhile);
 * -EOPNOTSUPP where the file system cannot. */
int dl_fallocate_keep_size(int fd, off_t off, off_t len);
/* lseek SEEK_HOLE: where the first hole at or after off begins (the file's
 * size where there is none, or where the file system does not tell), or
 * -errno. Moves the descriptor's offset (durlog reads and writes its
 * segments by pread and pwrite only). */
int64_t dl_seek_hole(int fd, off_t off);
int dl_ftruncate(int fd, off_t len);

/* openat with O_CLOEXEC added; returns the descriptor or -errno. */
int dl_openat(int dirfd, const char *name, int flags, mode_t mode);
int dl_renameat(int dirfd, const char *oldname, const char *newname);
int dl_unlinkat(int dirfd, const char *name);
/* linkat(olddir, oldname, newdir, newname, flags), EINTR retried. */
int dl_linkat(int olddir, const char *oldname, int newdir, const char *newname,
              int flags);

/* flock(fd, op), EINTR retried: 0, -EWOULDBLOCK when op has LOCK_NB and
 * another holds the lock, or -errno. */
int dl_flock(int fd, int op);
/* A new descriptor (close-on-exec) of fd's open file, or -errno. */
int dl_dup(int fd);
/* F_OFD_SETLKW or F_OFD_GETLK on fd (EINTR retried): 0 or -errno. */
int dl_ofd_lock(int fd, int cmd, struct flock *fl);

/* One read() (EINTR retried): the count, 0 at end of file, or -errno. */
ssize_t dl_read(int fd, void *buf, size_t len);
/* One copy_file_range() from in's file offset to out at *out_off (EINTR
 * retried): the count, 0 at end of file, or -errno. */
ssize_t dl_copy_range(int in, int out, off_t *out_off, size_t len);

/* Starts writeback of [off, off+len) of fd, and with wait, waits for it to
 * finish first (sync_file_range). It makes nothing durable: a pacing hint.
 * But its errors must be acted on: waiting for writeback consumes a write
 * error on this file description (the kernel's errseq), so the fsync that
 * follows would return 0 over data that never reached the disk. Returns 0,
 * -EOPNOTSUPP where the call is unavailable (no pacing then), or -errno. */
int dl_writeback(int fd, off_t off, off_t len, int wait);
void dl_close(int fd);

/* Marks a file durlog just created, still empty, not copy-on-write where
 * the file system has that (btrfs: FS_NOCOW_FL). There, a store through a
 * mapping into a page written back before must otherwise find room for a
 * new copy, and on a full file system it faults (SIGBUS) instead of failing
 * with ENOSPC; without copy-on-write it overwrites its allocated block.
 * durlog checksums every record itself. Best effort: nothing happens
 * elsewhere, and a refusal is ignored. */
void dl_nocow(int fd);

/* What durlog needs to know of a file, without its timestamps. Asking for
 * them (stat, fstat) makes Linux 6.13 and later (multigrain timestamps) give
 * the file a fine-grained timestamp at its next change, so the next store
 * through a mapping updates the inode again: measured here, one fstat per
 * fdatasync made `sync` appends 10-30% slower, and a reader polling a
 * segment's size slows its writer. statx with a mask without times does
 * not. */
struct dl_stat {
    uint64_t dev, ino, size;
    uint64_t blocks;              /* allocated, in DL_STAT_BLOCK units */
    uint64_t nlink;
    uint32_t mode;
    uid_t uid;
    gid_t gid;
};
/* The unit of dl_stat.blocks (and st_blocks): 512 bytes, whatever the
 * file system's block size. */
#define DL_STAT_BLOCK 512
/* Of the file open as fd, or of `name` in dirfd (not following a link).
 * 0 or -errno. */
int dl_stat_fd(int fd, struct dl_stat *out);
int dl_stat_at(int dirfd, const char *name, struct dl_stat *out);

/* mmap (MAP_SHARED); returns 0 and *out, or -errno. The mapping is
 * guarded (guard.h, on_fault as for dl_guard_add): *guard gets its mark
 * (NULL if it could not be guarded). dl_munmap takes the same guard back. */
struct dl_guard;
int dl_mmap(size_t len, int prot, int fd, off_t off, void **out, struct dl_guard **guard,
            void (*on_fault)(void *start));
void dl_munmap(void *addr, size_t len, struct dl_guard *guard);

/* Sleeps while *word == seen, at most timeout_ns (a futex in a shared
 * mapping). 0 when woken, when *word had changed already, on a signal or at
 * the timeout: the caller looks again at what it waits for. Any other
 * failure (EFAULT, EINVAL, ENOSYS: a bug, or a seccomp filter) is returned
 * as -errno for the caller to report, after sleeping the timeout anyway, so
 * that no caller looping on it spins. */
int dl_futex_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t timeout_ns);
/* Wakes up to max sleepers on word: how many woke, or -errno. */
int dl_futex_wake_n(_Atomic uint32_t *word, int max);
/* Wakes every sleeper on word. A failure (only EFAULT or EINVAL, bugs) is
 * not reported: every sleep in durlog is bounded, so a sleeper not woken
 * looks again at the end of its nap; it only costs that much latency. */
void dl_futex_wake(_Atomic uint32_t *word);

/* Makes an eventfd readable (adds 1 to its counter), EINTR retried. 0 also
 * when the counter is full (EAGAIN: it is readable then), or -errno. */
int dl_eventfd_signal(int fd);

/* Time is counted in ns (uint64_t: 584 years). */
#define DL_NS_PER_S 1000000000u
#define DL_NS_PER_MS 1000000u
#define DL_NS_PER_US 1000u
/* Wall-clock time in ns since the epoch, plus dl_clock_shift_ns. */
uint64_t dl_now_ns(void);
/* Test seam: added to every wall-clock reading (0 outside tests), so that a
 * test can set the clock back or forward (tests/test_time.c). Record times
 * come from it too (clock.c anchors to dl_now_ns). */
extern _Atomic int64_t dl_clock_shift_ns;
/* Monotonic time in ns, for timeouts and intervals. */
uint64_t dl_mono_ns(void);
/* Sleeps about ns (less if a signal arrives). */
void dl_sleep_ns(uint64_t ns);


/* Takes the page faults for [from, to) of a writable shared mapping in one
 * call (MADV_POPULATE_WRITE or, without for_write, MADV_POPULATE_READ;
 * Linux 5.14+), so that appends do not fault one page at a time, then loads
 * one byte of each page (a virtual machine's host may map a page only at its
 * first access) once the madvise has succeeded. A hint: nothing happens where
 * the kernel lacks the madvise, or where it fails.
 * The range must be allocated in the file and mapped (a load past the file's
 * end raises SIGBUS: guard.h). Pages faulted in for writing are dirty (see
 * dl_prefault_for_write). */
void dl_prefault(unsigned char *map, uint64_t from, uint64_t to, int for_write);

#endif
