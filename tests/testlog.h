/*
 * testlog.h - helpers shared by the tests that build a log, read it back and
 * damage its files: scratch log directories, a model of what every record
 * must contain, and raw access to segment files.
 *
 * A "model" describes a log the test wrote: record `seq` holds lens[seq]
 * bytes made by test_fill(buf, lens[seq], salt + seq). Tests append from the
 * model and check what readers return against it, byte for byte.
 */
#ifndef DURLOG_TEST_TESTLOG_H
#define DURLOG_TEST_TESTLOG_H

#include <dirent.h>

#include "harness.h"
#include "format.h"

/* "<log>/<name>" into buf. */
static inline const char *log_file(char *buf, size_t size, const char *log,
                                   const char *name)
{
    snprintf(buf, size, "%s/%s", log, name);
    return buf;
}

/* The path of the segment whose first record is first_seq. */
static inline const char *seg_file(char *buf, size_t size, const char *log,
                                   uint64_t first_seq)
{
    char name[DL_SEG_NAME_LEN + 1];
    dl_seg_name(name, first_seq);
    return log_file(buf, size, log, name);
}

static inline int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The first sequence numbers of the log's segment files, sorted, into out
 * (at most max); returns how many there are. */
static inline size_t list_segments(const char *log, uint64_t *out, size_t max)
{
    DIR *d = opendir(log);
    struct dirent *de;
    size_t n = 0;
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        if (!dl_seg_name_parse(de->d_name, &first))
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

/* ------------------------------------------------------------------------
 * What the records of a test log contain.
 */
struct model {
    uint64_t salt;
    size_t count;
    uint32_t *lens;
    unsigned char *scratch; /* room for the largest record */
    size_t scratch_size;
};

/* A model of `count` records with lengths from lens (copied). */
static inline void model_init(struct model *m, uint64_t salt, const uint32_t *lens,
                              size_t count)
{
    size_t max = 1;
    m->salt = salt;
    m->count = count;
    m->lens = malloc(count * sizeof *m->lens);
    for (size_t i = 0; i < count; i++) {
        m->lens[i] = lens[i];
        if (lens[i] > max)
            max = lens[i];
    }
    m->scratch_size = max;
    m->scratch = malloc(max);
}

static inline void model_free(struct model *m)
{
    free(m->lens);
    free(m->scratch);
}

/* Fills m->scratch with record seq's payload and returns it. */
static inline const unsigned char *model_payload(struct model *m, uint64_t seq)
{
    test_fill(m->scratch, m->lens[seq], m->salt + seq);
    return m->scratch;
}

/* Bytes that records [0, n) occupy in one segment after its header. */
static inline uint64_t model_bytes(const struct model *m, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += dl_rec_size(m->lens[i]);
    return total;
}

/* Appends records [from, to) of the model one by one, checking that each
 * gets the sequence number the model gives it. */
static inline void model_append(durlog *log, struct model *m, size_t from,
                                size_t to, durlog_level level)
{
    for (size_t i = from; i < to; i++) {
        uint64_t seq = UINT64_MAX;
        CHECK_OK(durlog_append(log, model_payload(m, i), m->lens[i], level, &seq));
        CHECK_EQ_U64(seq, i);
    }
}

/* 1 if rec is exactly record rec->seq of the model. */
static inline int model_matches(struct model *m, const durlog_record *rec)
{
    if (rec->seq >= m->count || rec->len != m->lens[rec->seq])
        return 0;
    return rec->len == 0 || memcmp(rec->data, model_payload(m, rec->seq), rec->len) == 0;
}

/* Reads r until it returns anything but a record. Every record returned must
 * be the model's record with the next sequence number (starting at `first`);
 * a record that is not is a failure. Returns how many were read and puts the
 * final return code in *end_rc. */
static inline uint64_t model_read(struct model *m, durlog_reader *r,
                                  uint64_t first, int *end_rc)
{
    durlog_record rec;
    uint64_t n = 0;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        if (rec.seq != first + n || !model_matches(m, &rec)) {
            fprintf(stderr, "  reader returned seq %" PRIu64 " (%zu bytes) where "
                    "record %" PRIu64 " was expected, or different bytes\n",
                    rec.seq, rec.len, first + n);
            th_failed_current = 1;
            rc = -1;
            break;
        }
        n++;
    }
    *end_rc = rc;
    return n;
}

/* Opens a reader on the log and reads it whole (see model_read). */
static inline uint64_t model_read_log(struct model *m, const char *log, int *end_rc)
{
    durlog_reader *r = NULL;
    int rc = durlog_reader_open(log, NULL, &r);
    if (rc) {
        *end_rc = rc;
        return 0;
    }
    uint64_t n = model_read(m, r, 0, end_rc);
    durlog_reader_close(r);
    return n;
}

/* Opens a writer with segment_size (0: default). */
static inline int open_log(const char *path, uint64_t segment_size, durlog **out)
{
    durlog_options o;
    durlog_options_init(&o);
    if (segment_size)
        o.segment_size = segment_size;
    return durlog_open(path, &o, out);
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
        char path[400];
        unsigned char hdr[DL_SEG_HEADER_SIZE];
        struct dl_seg_header h;
        int fd = open(seg_file(path, sizeof path, log, segs[i]), O_RDWR);
        if (fd < 0)
            continue;
        if (pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
            dl_seg_header_decode(hdr, &h) == 0 && h.flags) {
            h.flags = 0;
            dl_seg_header_encode(hdr, &h);
            if (pwrite(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr)
                changed++;
        }
        close(fd);
    }
    return changed;
}

/* The checkpoint flags of segment first_seq's header (-1 if unreadable). */
static inline int segment_flags(const char *log, uint64_t first_seq)
{
    char path[400];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h;
    int fd = open(seg_file(path, sizeof path, log, first_seq), O_RDONLY);
    int flags = -1;
    if (fd >= 0 && pread(fd, hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
        dl_seg_header_decode(hdr, &h) == 0)
        flags = (int)h.flags;
    if (fd >= 0)
        close(fd);
    return flags;
}

/* The number of records durlog_get_info reports as the next one. */
static inline uint64_t log_next_seq(durlog *log)
{
    durlog_info info;
    memset(&info, 0, sizeof info);
    CHECK_OK(durlog_get_info(log, &info));
    return info.next_seq;
}

#endif
