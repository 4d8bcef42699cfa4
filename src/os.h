/*
 * os.h - every system call libdurlog makes goes through here.
 *
 * One seam, as in SQLite's os_unix.c: the functions below call the kernel
 * through the table `dl_os`, which a test may replace entry by entry to inject
 * short writes, EINTR, ENOSPC, EIO and the like. Nothing else in src/ calls
 * write(), fdatasync(), fallocate(), mmap() or rename() directly.
 *
 * All functions return 0 (or a file descriptor / count) on success and a
 * negated errno value on failure; none of them leaves its result in errno.
 */
#ifndef DL_OS_H
#define DL_OS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The kernel moves at most this many bytes in one read()/write() call
 * (MAX_RW_COUNT = INT_MAX & PAGE_MASK), whatever count is asked for. */
#define DL_MAX_RW_COUNT 0x7ffff000L

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
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *addr, size_t len);
    /* io_uring (uring.c). uring_init sets up `ring` (a struct io_uring)
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
int dl_ftruncate(int fd, off_t len);

/* openat with O_CLOEXEC added; returns the descriptor or -errno. */
int dl_openat(int dirfd, const char *name, int flags, mode_t mode);
int dl_renameat(int dirfd, const char *oldname, const char *newname);
int dl_unlinkat(int dirfd, const char *name);
/* linkat(olddir, oldname, newdir, newname, flags), EINTR retried. */
int dl_linkat(int olddir, const char *oldname, int newdir, const char *newname,
              int flags);

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
    uint64_t dev, ino, size, blocks, nlink;
    uint32_t mode;
    uid_t uid;
    gid_t gid;
};
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

/* Wall-clock time in ns since the epoch. */
uint64_t dl_now_ns(void);
/* Monotonic time in ns, for timeouts and intervals. */
uint64_t dl_mono_ns(void);


/* Takes the page faults for [from, to) of a writable shared mapping in one
 * call (MADV_POPULATE_WRITE or, without for_write, MADV_POPULATE_READ;
 * Linux 5.14+), so that appends do not fault one page at a time. A hint:
 * does nothing where the kernel lacks it. The range must be allocated in the
 * file. Pages faulted in for writing are dirty (see dl_prefault_for_write). */
void dl_prefault(unsigned char *map, uint64_t from, uint64_t to, int for_write);

#endif
