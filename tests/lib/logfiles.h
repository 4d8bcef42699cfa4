/*
 * tests/lib/logfiles.h - a log's files as the tests that damage them see
 * them: paths, the segment list, raw reads and writes, segment headers, and
 * the coordination file mapped for watching (or playing another writer).
 */
#ifndef DURLOG_TEST_LIB_LOGFILES_H
#define DURLOG_TEST_LIB_LOGFILES_H

#include <dirent.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "../harness.h"
#include "format.h"
#include "shared.h"

/* "<log>/<name>" into buf. */
static inline const char *log_file(char *buf, size_t size, const char *log,
                                   const char *name)
{
    snprintf(buf, size, "%s/%s", log, name);
    return buf;
}

/* The first record of the segment named `name` into *first: 1 if name is a
 * segment's (20 decimal digits and ".seg", docs/FORMAT.md), else 0. Parsed
 * here rather than by the library, which is what is under test. */
static inline int seg_name_first(const char *name, uint64_t *first)
{
    uint64_t v = 0;
    if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
        return 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *first = v;
    return 1;
}

/* The name of the segment whose first record is first_seq. */
static inline const char *seg_name(char *buf, size_t size, uint64_t first_seq)
{
    snprintf(buf, size, "%020" PRIu64 ".seg", first_seq);
    return buf;
}

/* The path of the segment whose first record is first_seq. */
static inline const char *seg_file(char *buf, size_t size, const char *log,
                                   uint64_t first_seq)
{
    snprintf(buf, size, "%s/%020" PRIu64 ".seg", log, first_seq);
    return buf;
}

static inline int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The first sequence numbers of the log's segment files, sorted, into out
 * (at most max); returns how many there are (more than max when some did
 * not fit). */
static inline size_t list_segments(const char *log, uint64_t *out, size_t max)
{
    DIR *d = opendir(log);
    struct dirent *de;
    size_t n = 0;
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        if (!seg_name_first(de->d_name, &first))
            continue;
        size_t i = n < max ? n : max;
        while (i > 0 && out[i - 1] > first) {
            if (i < max)
                out[i] = out[i - 1];
            i--;
        }
        if (i < max)
            out[i] = first;
        n++;
    }
    closedir(d);
    return n;
}

/* All of the log's segments, sorted, in a malloc'd array (NULL if there is
 * no memory); *n gets how many. */
static inline uint64_t *list_all_segments(const char *log, size_t *n)
{
    for (size_t max = 256;; max *= 2) {
        uint64_t *out = malloc(max * sizeof *out);
        *n = out ? list_segments(log, out, max) : 0;
        if (!out || *n <= max)
            return out;
        free(out); /* segments came meanwhile: again, with room for them */
    }
}

/* The whole file, malloc'd (NULL if it cannot be read); *len gets its size. */
static inline unsigned char *file_read(const char *path, size_t *len)
{
    struct stat st;
    unsigned char *buf = NULL;
    int fd = open(path, O_RDONLY);
    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0)
        goto out;
    buf = malloc((size_t)st.st_size + 1); /* + 1: callers may end it with a NUL */
    if (!buf)
        goto out;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (n <= 0) {
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)n;
    }
    *len = got;
out:
    close(fd);
    return buf;
}

/* Replaces the file's contents (and length) with buf. Returns 0 or -1. */
static inline int file_write(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    return done == len ? 0 : -1;
}

/* Overwrites [off, off+len) of an existing file with buf, in place. */
static inline int file_put(const char *path, uint64_t off, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* Overwrites [off, off+len) of an existing file with zeros. */
static inline int file_zero(const char *path, uint64_t off, uint64_t len)
{
    static const unsigned char zeros[4096];
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int rc = 0;
    while (len > 0 && rc == 0) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        if (pwrite(fd, zeros, n, (off_t)off) != (ssize_t)n)
            rc = -1;
        off += n;
        len -= n;
    }
    close(fd);
    return rc;
}

/* Flips bit `bit` of the byte at `off`. */
static inline int file_flip_bit(const char *path, uint64_t off, int bit)
{
    unsigned char b;
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (pread(fd, &b, 1, (off_t)off) == 1) {
        b ^= (unsigned char)(1u << bit);
        if (pwrite(fd, &b, 1, (off_t)off) == 1)
            rc = 0;
    }
    close(fd);
    return rc;
}

/* The index of the last non-zero byte of p[0, len) plus one; 0 if none. */
static inline uint64_t nonzero_extent(const unsigned char *p, uint64_t len)
{
    while (len > 0 && p[len - 1] == 0)
        len--;
    return len;
}

/* Segment first_seq's header, decoded into h. Returns 0 or -1. */
static inline int segment_header_read(const char *log, uint64_t first_seq,
                                      struct dl_seg_header *h)
{
    char path[400];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    int fd = open(seg_file(path, sizeof path, log, first_seq), O_RDONLY);
    int rc = -1;
    if (fd >= 0 && pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
        dl_seg_header_decode(hdr, h) == 0)
        rc = 0;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Writes h, encoded, over segment first_seq's header. Returns 0 or -1. */
static inline int segment_header_write(const char *log, uint64_t first_seq,
                                       const struct dl_seg_header *h)
{
    char path[400];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    dl_seg_header_encode(hdr, h);
    return file_put(seg_file(path, sizeof path, log, first_seq), 0, hdr, sizeof hdr);
}

/* Clears the checkpoint (and seal) in every segment header of a closed
 * log: the log as a writer that crashed before anything was checkpointed
 * left it (or as a durlog older than checkpoints wrote it). Its records and
 * their durable_before marks are untouched: recovery must then decide from
 * the records alone. Returns how many headers it rewrote. */
static inline int forget_checkpoints(const char *log)
{
    uint64_t segs[4096];
    size_t n = list_segments(log, segs, 4096);
    int changed = 0;
    for (size_t i = 0; i < n && i < 4096; i++) {
        struct dl_seg_header h;
        if (segment_header_read(log, segs[i], &h) == 0 && h.flags) {
            h.flags = 0;
            if (segment_header_write(log, segs[i], &h) == 0)
                changed++;
        }
    }
    return changed;
}

/* The checkpoint flags of segment first_seq's header (-1 if unreadable). */
static inline int segment_flags(const char *log, uint64_t first_seq)
{
    struct dl_seg_header h;
    return segment_header_read(log, first_seq, &h) == 0 ? (int)h.flags : -1;
}

/* The coordination file of an open log, mapped read-only; or, with
 * writable set, writable: for tests that take its locks or change its
 * fields (playing another writer, or a crashed one). */
static inline struct dl_shared *tu_map_shared_as(const char *path, int writable)
{
    char name[400];
    snprintf(name, sizeof name, "%s/%s", path, DL_SHM_NAME);
    int fd = open(name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *p = mmap(NULL, DL_SHM_SIZE, PROT_READ | (writable ? PROT_WRITE : 0),
                   MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

static inline struct dl_shared *tu_map_shared(const char *path)
{
    return tu_map_shared_as(path, 0);
}

static inline struct dl_shared *tu_map_shared_rw(const char *path)
{
    return tu_map_shared_as(path, 1);
}

static inline void tu_unmap_shared(struct dl_shared *sh)
{
    if (sh)
        munmap(sh, DL_SHM_SIZE);
}

static inline uint64_t tu_durable(struct dl_shared *sh)
{
    return atomic_load(&sh->durable_seq);
}

#endif
