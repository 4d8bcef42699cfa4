/*
 * cut.c - side files: what recovery and repair cut, kept (see cut.h).
 */
#include "cut.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "durlog.h"
#include "os.h"
#include "segment.h"

/* Bytes copied at a time: a cut may be a whole 64 MiB segment tail. */
#define DL_CUT_CHUNK ((size_t)1 << 20)
/* Side names tried ("<name><tag>.<n>") before giving up with -EEXIST: far
 * more than any log collects, few enough that a directory full of them
 * cannot stall a repair for long. */
#define DL_SIDE_NAME_TRIES 1000000u

/* Picks "<name><tag>", or the first free "<name><tag>.<n>". The callers
 * hold the log exclusively (the directory's flock), or are the one writer
 * that found the log broken, so no other cut races for the name. */
static int free_side_name(int dirfd, const char *name, const char *tag,
                          char side[DL_SIDE_NAME_MAX])
{
    struct dl_stat st;
    for (unsigned n = 0; n < DL_SIDE_NAME_TRIES; n++) {
        if (n == 0)
            snprintf(side, DL_SIDE_NAME_MAX, "%s%s", name, tag);
        else
            snprintf(side, DL_SIDE_NAME_MAX, "%s%s.%u", name, tag, n);
        int rc = dl_stat_at(dirfd, side, &st);
        if (rc)
            return rc == -ENOENT ? 0 : rc;
    }
    return -EEXIST;
}

/* Whether side file `side` holds exactly bytes [off, end) of fd: 1 if so,
 * 0 if not (or it cannot be read). */
static int side_holds(int dirfd, const char *side, int fd, uint64_t off, uint64_t end,
                      unsigned char *buf)
{
    struct dl_stat st;
    int same = 0, side_fd = dl_openat(dirfd, side, O_RDONLY | O_NOFOLLOW, 0);
    if (side_fd < 0)
        return 0;
    if (dl_stat_fd(side_fd, &st) == 0 && st.size == end - off) {
        size_t half = DL_CUT_CHUNK / 2;
        same = 1;
        for (uint64_t at = off; at < end && same;) {
            size_t n = end - at < half ? (size_t)(end - at) : half;
            same = dl_pread_all(fd, buf, n, (off_t)at) == 0 &&
                   dl_pread_all(side_fd, buf + half, n, (off_t)(at - off)) == 0 &&
                   memcmp(buf, buf + half, n) == 0;
            at += n;
        }
    }
    dl_close(side_fd);
    return same;
}

/* Copies bytes [off, end) of fd (the file `name`) into a new side file
 * "<name><tag>" (with exact: 1, and nothing done, if a side file of that
 * name, or "<name><tag>.<n>", already holds those very bytes; else the first
 * free name), durably. */
static int save_range(int dirfd, const char *path, const char *name, int fd,
                      uint64_t off, uint64_t end, const char *tag, int exact,
                      const struct dl_owner *owner, char side[DL_SIDE_NAME_MAX],
                      char *err, size_t errlen)
{
    unsigned char *buf = malloc(DL_CUT_CHUNK);
    int side_fd = -1, rc = 0;
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (!exact) {
        rc = free_side_name(dirfd, name, tag, side);
        if (!rc)
            side_fd = dl_openat(dirfd, side, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    }
    /* exact (a replaced segment, tagged with its inode number): a file of
     * that name is the save of another writer holding the same file only if
     * it holds the same bytes. Inode numbers are reused: on ext4 a file
     * created once the old one was gone (the next copy put over the same
     * segment) often gets its number, and when that file is replaced in
     * turn, the side file of the first is under the name its save wants.
     * Taking it for a save of this file lost every record stored into this
     * one (test_accidents failed 1 run in 50; test_hostile). So the name
     * counts as this save only with the same bytes in it; otherwise the
     * next free "<name><tag>.<n>" is used. */
    for (unsigned n = 0; exact && n < DL_SIDE_NAME_TRIES; n++) {
        if (n == 0)
            snprintf(side, DL_SIDE_NAME_MAX, "%s%s", name, tag);
        else
            snprintf(side, DL_SIDE_NAME_MAX, "%s%s.%u", name, tag, n);
        side_fd = dl_openat(dirfd, side, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
        if (side_fd != -EEXIST)
            break;
        if (side_holds(dirfd, side, fd, off, end, buf)) {
            rc = 1; /* saved already, by another writer holding the same file */
            goto out;
        }
    }
    if (rc) {
        snprintf(err, errlen, "cannot name a side file for %s/%s: %s", path, name,
                 durlog_strerror(rc));
        goto out;
    }
    if (side_fd < 0) {
        rc = side_fd;
        snprintf(err, errlen, "cannot create %s/%s: %s", path, side, durlog_strerror(rc));
        goto out;
    }
    dl_take_owner(side_fd, owner);
    for (uint64_t at = off; at < end;) {
        size_t n = end - at < DL_CUT_CHUNK ? (size_t)(end - at) : DL_CUT_CHUNK;
        rc = dl_pread_all(fd, buf, n, (off_t)at);
        if (rc) {
            snprintf(err, errlen, "cannot read %s/%s at offset %llu: %s", path, name,
                     (unsigned long long)at, durlog_strerror(rc));
            goto out;
        }
        rc = dl_write_all(side_fd, buf, n);
        if (rc) {
            snprintf(err, errlen, "cannot write %s/%s: %s", path, side, durlog_strerror(rc));
            goto out;
        }
        at += n;
    }
    rc = dl_fsync(side_fd);
    if (rc)
        snprintf(err, errlen, "fsync of %s/%s: %s", path, side, durlog_strerror(rc));
out:
    dl_close(side_fd);
    /* A side file that could not be written whole (a full disk) is no
     * side file: removed, so that the next attempt does not count it. */
    if (rc < 0 && side_fd >= 0)
        dl_unlinkat(dirfd, side);
    free(buf);
    return rc;
}

int dl_cut_range(int dirfd, const char *path, const char *name, uint64_t off,
                 uint64_t end, const struct dl_owner *owner,
                 char side[DL_SIDE_NAME_MAX], char *err, size_t errlen)
{
    char tag[32];
    unsigned char *zeros = NULL;
    int fd = dl_open_log_file(dirfd, path, name, err, errlen);
    if (fd < 0)
        return fd;
    /* Up to the next record boundary: the last record's zero padding lies
     * past the last non-zero byte, and a side file should hold whole
     * records (where the file has the bytes). Records are aligned as the
     * segment's version says (its header; the coarser alignment when the
     * header cannot be read). */
    struct dl_stat st;
    unsigned char hbuf[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h;
    uint64_t align = dl_pread_all(fd, hbuf, sizeof hbuf, 0) == 0 &&
                     dl_seg_header_decode(hbuf, &h) == 0 ? dl_rec_align(h.version)
                                                         : DL_REC1_ALIGN;
    uint64_t aligned = (end + align - 1) & ~(align - 1);
    if (dl_stat_fd(fd, &st) == 0 && aligned <= st.size)
        end = aligned;
    /* The cut bytes are durable in the side file before they are erased. */
    snprintf(tag, sizeof tag, ".cut-%llu", (unsigned long long)off);
    int rc = save_range(dirfd, path, name, fd, off, end, tag, 0, owner, side, err, errlen);
    if (rc)
        goto out;
    zeros = calloc(1, DL_CUT_CHUNK);
    rc = zeros ? 0 : -ENOMEM;
    for (uint64_t at = off; at < end && !rc;) {
        size_t n = end - at < DL_CUT_CHUNK ? (size_t)(end - at) : DL_CUT_CHUNK;
        rc = dl_pwrite_all(fd, zeros, n, (off_t)at);
        at += n;
    }
    if (!rc)
        rc = dl_fdatasync(fd);
    if (rc)
        snprintf(err, errlen, "cannot zero the cut in %s/%s: %s", path, name,
                 durlog_strerror(rc));
out:
    free(zeros);
    dl_close(fd);
    return rc;
}

int dl_save_orphan(int dirfd, const char *path, const char *name, int fd,
                   const struct dl_owner *owner, char side[DL_SIDE_NAME_MAX],
                   char *err, size_t errlen)
{
    struct dl_stat st;
    int rc = dl_stat_fd(fd, &st);
    if (rc < 0) {
        snprintf(err, errlen, "cannot stat the replaced %s/%s: %s", path, name,
                 durlog_strerror(rc));
        return rc;
    }
    /* Named for the old file's inode: every writer holding it saves it under
     * the same name, so it is saved once; another file replaced under the
     * same name later gets a name of its own. */
    char tag[40];
    snprintf(tag, sizeof tag, ".replaced-%llu", (unsigned long long)st.ino);
    return save_range(dirfd, path, name, fd, 0, st.size, tag, 1, owner, side, err, errlen);
}

int dl_cut_whole(int dirfd, const char *path, const char *name,
                 char side[DL_SIDE_NAME_MAX], char *err, size_t errlen)
{
    int rc = free_side_name(dirfd, name, ".cut-0", side);
    if (!rc)
        rc = dl_renameat(dirfd, name, side);
    if (rc)
        snprintf(err, errlen, "cannot move %s/%s aside: %s", path, name,
                 durlog_strerror(rc));
    return rc;
}

int dl_count_side_files(int dirfd, uint64_t *count)
{
    *count = 0;
    DIR *d;
    int rc = dl_dir_open(dirfd, &d);
    if (rc)
        return rc;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        char seg[DL_SEG_NAME_LEN + 1];
        if (strlen(de->d_name) <= DL_SEG_NAME_LEN ||
            (strncmp(de->d_name + DL_SEG_NAME_LEN, ".cut-", 5) != 0 &&
             strncmp(de->d_name + DL_SEG_NAME_LEN, ".replaced", 9) != 0))
            continue;
        memcpy(seg, de->d_name, DL_SEG_NAME_LEN);
        seg[DL_SEG_NAME_LEN] = '\0';
        if (dl_seg_name_parse(seg, &first))
            (*count)++;
    }
    closedir(d);
    return 0;
}
