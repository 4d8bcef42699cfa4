/*
 * iomode.c - which I/O mode a writer uses (durlog.h: durlog_io_mode), and
 * what the file system under a log is.
 *
 * `auto` keeps the shared writable mapping only on the file systems where
 * the page cache is the file and a store through a mapping is as good as a
 * write(): ext4, xfs, btrfs, tmpfs. Everywhere else (FUSE, network file
 * systems, anything unknown) a file system may cache in its own daemon or
 * server and write a mapping back in its own time, which nothing promises
 * to keep coherent with other processes' writes: appends use pwrite there.
 * The choice is made once per handle at open; the writers that have a log
 * open share one mode (the coordination file says which: open.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "log.h"
#include "os.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif
#ifndef CIFS_SUPER_MAGIC
#define CIFS_SUPER_MAGIC 0xFF534D42
#endif
#ifndef SMB2_SUPER_MAGIC
#define SMB2_SUPER_MAGIC 0xFE534D42
#endif
#ifndef V9FS_MAGIC
#define V9FS_MAGIC 0x01021997
#endif
#ifndef CEPH_SUPER_MAGIC
#define CEPH_SUPER_MAGIC 0x00c36400
#endif

static const struct {
    unsigned long magic;
    const char *name;
    int mmap_safe;
} known[] = {
    { EXT4_SUPER_MAGIC, "ext4", 1 }, /* also ext2 and ext3: one magic */
    { XFS_SUPER_MAGIC, "xfs", 1 },
    { BTRFS_SUPER_MAGIC, "btrfs", 1 },
    { TMPFS_MAGIC, "tmpfs", 1 },
    { FUSE_SUPER_MAGIC, "fuse", 0 },
    { NFS_SUPER_MAGIC, "nfs", 0 },
    { CIFS_SUPER_MAGIC, "cifs", 0 },
    { SMB2_SUPER_MAGIC, "smb2", 0 },
    { V9FS_MAGIC, "9p", 0 },
    { CEPH_SUPER_MAGIC, "ceph", 0 },
    { OVERLAYFS_SUPER_MAGIC, "overlay", 0 },
};

/* The file system of fd: its name (or "0x<magic>") and whether a shared
 * writable mapping is safe there. */
static int fs_of(int fd, char *name, size_t size, int *mmap_safe)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return -errno;
    unsigned long magic = (unsigned long)(unsigned int)sf.f_type;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (known[i].magic == magic) {
            snprintf(name, size, "%s", known[i].name);
            *mmap_safe = known[i].mmap_safe;
            return 0;
        }
    }
    snprintf(name, size, "0x%lx", magic);
    *mmap_safe = 0;
    return 0;
}

int dl_io_choose(durlog *log)
{
    durlog_io_mode mode = log->opts.io_mode;
    const char *env = getenv("DURLOG_IO");
    if (mode == DURLOG_IO_AUTO && env && *env) {
        if (strcmp(env, "mmap") == 0)
            mode = DURLOG_IO_MMAP;
        else if (strcmp(env, "pwrite") == 0)
            mode = DURLOG_IO_PWRITE;
        else if (strcmp(env, "auto") != 0)
            return dl_fail(log, -EINVAL, "DURLOG_IO=%s: expected mmap, pwrite "
                           "or auto", env);
    }
    log->io_explicit = mode != DURLOG_IO_AUTO;
    if (mode == DURLOG_IO_AUTO) {
        char fs[32];
        int safe = 0;
        int rc = fs_of(log->dirfd, fs, sizeof fs, &safe);
        if (rc)
            return dl_fail(log, rc, "statfs %s: %s", log->path, durlog_strerror(rc));
        mode = safe ? DURLOG_IO_MMAP : DURLOG_IO_PWRITE;
    }
    log->io_pwrite = mode == DURLOG_IO_PWRITE;
    return 0;
}

const char *durlog_io(const durlog *log)
{
    if (!log)
        return "none (NULL handle)";
    return log->io_pwrite ? "pwrite" : "mmap";
}

int durlog_fs_type(const char *path, char *fs, size_t fs_size, char *mode, size_t mode_size)
{
    if (!path)
        return -EINVAL;
    int fd = dl_openat(AT_FDCWD, path, O_RDONLY | O_PATH, 0);
    if (fd < 0)
        return fd;
    char name[32];
    int safe = 0;
    int rc = fs_of(fd, name, sizeof name, &safe);
    dl_close(fd);
    if (rc)
        return rc;
    if (fs && fs_size)
        snprintf(fs, fs_size, "%s", name);
    if (mode && mode_size)
        snprintf(mode, mode_size, "%s", safe ? "mmap" : "pwrite");
    return 0;
}
