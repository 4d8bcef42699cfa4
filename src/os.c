/*
 * os.c - the system-call seam (see os.h). The wrappers here own the loops
 * every durable write path needs: short writes, EINTR, the per-call size cap.
 */
#include "os.h"
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static int real_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    return openat(dirfd, name, flags, mode);
}

static ssize_t real_copy_file_range(int in, off_t *in_off, int out,
                                    off_t *out_off, size_t len, unsigned flags)
{
    return copy_file_range(in, in_off, out, out_off, len, flags);
}

static int real_sync_file_range(int fd, off_t off, off_t len, unsigned flags)
{
    return sync_file_range(fd, off, len, flags);
}

static int real_renameat(int olddir, const char *oldname, int newdir,
                         const char *newname)
{
    return renameat(olddir, oldname, newdir, newname);
}

static int real_fcntl(int fd, int cmd, void *arg)
{
    return fcntl(fd, cmd, arg); /* glibc reads every argument as a pointer */
}

static int real_statx(int dirfd, const char *name, int flags, unsigned mask,
                      struct statx *out)
{
    if (statx(dirfd, name, flags, mask, out) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
    /* A kernel without statx (before 4.11) has no multigrain timestamps
     * either (see struct dl_stat): fstatat, in statx's form. */
    struct stat st;
    if (fstatat(dirfd, name, &st, flags) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->stx_mask = STATX_BASIC_STATS;
    out->stx_dev_major = major(st.st_dev);
    out->stx_dev_minor = minor(st.st_dev);
    out->stx_ino = st.st_ino;
    out->stx_size = (uint64_t)st.st_size;
    out->stx_blocks = (uint64_t)st.st_blocks;
    out->stx_nlink = (uint32_t)st.st_nlink;
    out->stx_mode = (uint16_t)st.st_mode;
    out->stx_uid = st.st_uid;
    out->stx_gid = st.st_gid;
    return 0;
}

static long real_futex(uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

#ifdef DURLOG_HAVE_LIBURING
#include <liburing.h>

static int real_uring_init(unsigned entries, void *ring)
{
    return io_uring_queue_init(entries, ring, 0);
}

static int real_uring_submit(void *ring)
{
    return io_uring_submit(ring);
}
#else
static int real_uring_init(unsigned entries, void *ring)
{
    (void)entries;
    (void)ring;
    return -ENOSYS; /* built without liburing */
}

static int real_uring_submit(void *ring)
{
    (void)ring;
    return -ENOSYS;
}
#endif

static int real_uring_result(int fd, int datasync, int res)
{
    (void)fd;
    (void)datasync;
    return res;
}

static int real_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    return pthread_create(thread, NULL, fn, arg);
}

/* The kernel's calls, for both the pristine table and the live one. */
#define DL_OS_REAL_OPS                                                       \
    {                                                                        \
        .pwrite = pwrite, .write = write, .pread = pread, .read = read,       \
        .copy_file_range = real_copy_file_range,                             \
        .fdatasync = fdatasync, .fsync = fsync, .fallocate = fallocate,      \
        .ftruncate = ftruncate, .openat = real_openat,                       \
        .renameat = real_renameat, .linkat = linkat, .unlinkat = unlinkat,    \
        .mkdirat = mkdirat,                                                  \
        .sync_file_range = real_sync_file_range,                             \
        .mmap = mmap,                                                        \
        .munmap = munmap, .flock = flock, .fcntl = real_fcntl,               \
        .statx = real_statx, .futex = real_futex,                            \
        .eventfd = eventfd, .eventfd_write = eventfd_write,                  \
        .uring_init = real_uring_init,                                       \
        .uring_submit = real_uring_submit, .uring_result = real_uring_result,\
        .thread_create = real_thread_create,                                 \
    }

const struct dl_os_ops dl_os_real = DL_OS_REAL_OPS;
struct dl_os_ops dl_os = DL_OS_REAL_OPS;

static size_t capped(size_t len)
{
    return len > (size_t)DL_MAX_RW_COUNT ? (size_t)DL_MAX_RW_COUNT : len;
}

/* The write-all loop behind dl_write_all (off < 0) and dl_pwrite_all. */
static int write_loop(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = off < 0 ? dl_os.write(fd, p, capped(len))
                            : dl_os.pwrite(fd, p, capped(len), off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        if (off >= 0)
            off += n;
    }
    return 0;
}

int dl_write_all(int fd, const void *buf, size_t len)
{
    return write_loop(fd, buf, len, -1);
}

int dl_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    return off < 0 ? -EINVAL : write_loop(fd, buf, len, off);
}

int dl_pread_all(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = dl_os.pread(fd, p, capped(len), off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns from the calling function: makes the call until it does not fail
 * with EINTR (which reports nothing: the call was interrupted before it did
 * anything), then returns 0, or -errno of its failure. */
#define RETURN_RETRYING_EINTR(call)                                            \
    do {                                                                       \
        while ((call) < 0) {                                                   \
            if (errno != EINTR)                                                \
                return -errno;                                                 \
        }                                                                      \
        return 0;                                                              \
    } while (0)

int dl_fdatasync(int fd)
{
    RETURN_RETRYING_EINTR(dl_os.fdatasync(fd));
}

int dl_fsync(int fd)
{
    RETURN_RETRYING_EINTR(dl_os.fsync(fd));
}

/* Where a file system has no fallocate, dl_allocate writes zeros from a
 * static buffer this big: 16 pages, a few system calls per megabyte. */
#define DL_ZERO_FILL_CHUNK 65536

int dl_allocate(int fd, off_t off, off_t len)
{
    static const char zeros[DL_ZERO_FILL_CHUNK];
    if (len <= 0)
        return 0;
    for (;;) {
        if (dl_os.fallocate(fd, 0, off, len) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return -errno;
        break;
    }
    /* No fallocate here: write real zeros so every block is allocated. */
    while (len > 0) {
        size_t chunk = len > (off_t)sizeof zeros ? sizeof zeros : (size_t)len;
        int rc = dl_pwrite_all(fd, zeros, chunk, off);
        if (rc)
            return rc;
        off += (off_t)chunk;
        len -= (off_t)chunk;
    }
    return 0;
}

int dl_fallocate(int fd, off_t off, off_t len)
{
    while (dl_os.fallocate(fd, 0, off, len) < 0) {
        if (errno != EINTR)
            return errno == ENOSYS ? -EOPNOTSUPP : -errno;
    }
    return 0;
}

int64_t dl_seek_hole(int fd, off_t off)
{
    off_t at = lseek(fd, off, SEEK_HOLE);
    return at < 0 ? -errno : (int64_t)at;
}

int dl_fallocate_keep_size(int fd, off_t off, off_t len)
{
    while (dl_os.fallocate(fd, FALLOC_FL_KEEP_SIZE, off, len) < 0) {
        if (errno != EINTR)
            return errno == ENOSYS ? -EOPNOTSUPP : -errno;
    }
    return 0;
}

int dl_ftruncate(int fd, off_t len)
{
    RETURN_RETRYING_EINTR(dl_os.ftruncate(fd, len));
}

int dl_openat(int dirfd, const char *name, int flags, mode_t mode)
{
    /* O_NONBLOCK changes nothing for a regular file, but a FIFO planted
     * under a segment's or the coordination file's name would otherwise
     * block the open forever; the caller's S_ISREG check then refuses it. */
    if (!(flags & O_DIRECTORY))
        flags |= O_NONBLOCK;
    for (;;) {
        int fd = dl_os.openat(dirfd, name, flags | O_CLOEXEC, mode);
        if (fd >= 0)
            return fd;
        if (errno != EINTR)
            return -errno;
    }
}

int dl_renameat(int dirfd, const char *oldname, const char *newname)
{
    RETURN_RETRYING_EINTR(dl_os.renameat(dirfd, oldname, dirfd, newname));
}

int dl_unlinkat(int dirfd, const char *name)
{
    RETURN_RETRYING_EINTR(dl_os.unlinkat(dirfd, name, 0));
}

int dl_linkat(int olddir, const char *oldname, int newdir, const char *newname,
              int flags)
{
    RETURN_RETRYING_EINTR(dl_os.linkat(olddir, oldname, newdir, newname, flags));
}

int dl_flock(int fd, int op)
{
    RETURN_RETRYING_EINTR(dl_os.flock(fd, op));
}

int dl_dup(int fd)
{
    for (;;) {
        int nfd = dl_os.fcntl(fd, F_DUPFD_CLOEXEC, NULL);
        if (nfd >= 0)
            return nfd;
        if (errno != EINTR)
            return -errno;
    }
}

int dl_ofd_lock(int fd, int cmd, struct flock *fl)
{
    RETURN_RETRYING_EINTR(dl_os.fcntl(fd, cmd, fl));
}

ssize_t dl_read(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = dl_os.read(fd, buf, capped(len));
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

ssize_t dl_copy_range(int in, int out, off_t *out_off, size_t len)
{
    for (;;) {
        ssize_t n = dl_os.copy_file_range(in, NULL, out, out_off, capped(len), 0);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

int dl_writeback(int fd, off_t off, off_t len, int wait)
{
    unsigned flags = SYNC_FILE_RANGE_WRITE;
    if (wait)
        flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
    if (len <= 0)
        return 0;
    while (dl_os.sync_file_range(fd, off, len, flags) < 0) {
        if (errno == EINTR)
            continue;
        /* Unavailable (seccomp, an odd file system): not an I/O error. */
        if (errno == ENOSYS || errno == EOPNOTSUPP || errno == ESPIPE || errno == EINVAL)
            return -EOPNOTSUPP;
        return -errno;
    }
    return 0;
}

void dl_nocow(int fd)
{
    struct statfs sf;
    int flags = 0;
    if (fstatfs(fd, &sf) != 0 || (unsigned int)sf.f_type != BTRFS_SUPER_MAGIC)
        return;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_NOCOW_FL)) {
        flags |= FS_NOCOW_FL;
        (void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
}

void dl_close(int fd)
{
    if (fd >= 0)
        close(fd); /* nothing useful to do with close()'s error on Linux */
}

int dl_mmap(size_t len, int prot, int fd, off_t off, void **out, struct dl_guard **guard,
            void (*on_fault)(void *start))
{
    void *p = dl_os.mmap(NULL, len, prot, MAP_SHARED, fd, off);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    *guard = dl_guard_add(p, len, on_fault);
    return 0;
}

void dl_munmap(void *addr, size_t len, struct dl_guard *guard)
{
    /* Unregistered first: once unmapped, the address may be reused by a
     * mapping that is not this one. */
    dl_guard_remove(guard);
    if (addr)
        dl_os.munmap(addr, len);
}

_Atomic int64_t dl_clock_shift_ns;

uint64_t dl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * DL_NS_PER_S + (uint64_t)ts.tv_nsec;
    return ns + (uint64_t)atomic_load_explicit(&dl_clock_shift_ns, memory_order_relaxed);
}

uint64_t dl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * DL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct timespec timespec_of(uint64_t ns)
{
    return (struct timespec){ (time_t)(ns / DL_NS_PER_S), (long)(ns % DL_NS_PER_S) };
}

void dl_sleep_ns(uint64_t ns)
{
    struct timespec ts = timespec_of(ns);
    nanosleep(&ts, NULL);
}

int dl_futex_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t timeout_ns)
{
    struct timespec ts = timespec_of(timeout_ns);
    if (dl_os.futex((uint32_t *)word, FUTEX_WAIT, seen, &ts) == 0 || errno == EAGAIN ||
        errno == EINTR || errno == ETIMEDOUT)
        return 0;
    int rc = -errno;
    dl_sleep_ns(timeout_ns);
    return rc;
}

int dl_futex_wake_n(_Atomic uint32_t *word, int max)
{
    long n = dl_os.futex((uint32_t *)word, FUTEX_WAKE, (uint32_t)max, NULL);
    return n < 0 ? -errno : (int)n;
}

void dl_futex_wake(_Atomic uint32_t *word)
{
    (void)dl_futex_wake_n(word, INT_MAX);
}

int dl_eventfd_signal(int fd)
{
    while (dl_os.eventfd_write(fd, 1) < 0) {
        if (errno == EAGAIN)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* One load of the byte at p by a machine instruction, not a C access: an
 * appender that caught up with the pre-faulter and grew the tail itself may
 * be storing a record into that very byte, and a load racing a store is
 * harmless to the hardware but a data race to C (ThreadSanitizer reports
 * it). Where there is no such instruction here, nothing: the load is only a
 * hint. */
static inline void touch(const unsigned char *p)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned char v;
    __asm__ __volatile__("movb (%1), %0" : "=q"(v) : "r"(p));
    (void)v;
#elif defined(__aarch64__)
    unsigned v;
    __asm__ __volatile__("ldrb %w0, [%1]" : "=r"(v) : "r"(p));
    (void)v;
#else
    (void)p;
#endif
}

void dl_prefault(unsigned char *map, uint64_t from, uint64_t to, int for_write)
{
    uint64_t start = dl_page_floor(from); /* madvise takes whole pages */
    if (to <= start)
        return;
    if (madvise(map + start, (size_t)(to - start),
                for_write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ) != 0)
        return; /* a page that could not be read or allocated (EIO, a file
                   cut short, an old kernel): a load would fault there, and
                   fail the log now rather than when an append needs it */
    /* A load from each page. On a virtual machine whose host maps guest
     * memory lazily (shadow or nested page tables), madvise fills only the
     * guest's page tables: the first access to each page from user space
     * still traps to the host, measured here at 5-6 us a page after
     * MADV_POPULATE_WRITE, which put 170 ns on every 100-byte append (36 to
     * a page). A load takes that trap here; the appender's stores then cost
     * what they cost on bare metal. A load, never a store: appenders may
     * already be storing records into these pages. */
    uint64_t page = dl_page_size();
    for (uint64_t off = start; off < to; off += page)
        touch(map + off);
}

static int stat_via_statx(int dirfd, const char *name, int flags, struct dl_stat *out)
{
    struct statx sx;
    unsigned mask = STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID |
                    STATX_INO | STATX_SIZE | STATX_BLOCKS;
    while (dl_os.statx(dirfd, name, flags, mask, &sx) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    *out = (struct dl_stat){ makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino,
                             sx.stx_size, sx.stx_blocks, sx.stx_nlink, sx.stx_mode,
                             sx.stx_uid, sx.stx_gid };
    return 0;
}

int dl_stat_fd(int fd, struct dl_stat *out)
{
    return stat_via_statx(fd, "", AT_EMPTY_PATH, out);
}

int dl_stat_at(int dirfd, const char *name, struct dl_stat *out)
{
    return stat_via_statx(dirfd, name, AT_SYMLINK_NOFOLLOW, out);
}
