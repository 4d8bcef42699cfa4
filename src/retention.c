/*
 * retention.c - a log's retention settings, the file "durlog.retention" in
 * its directory, and their application by every writer in the background.
 *
 * The settings live with the log, so that every process appending to it
 * applies the same ones. The file is text, strictly parsed, and ends with
 * the CRC32C of what precedes it (docs/FORMAT.md):
 *
 *     durlog retention 1
 *     max_bytes 10737418240
 *     max_age_ns 2592000000000000
 *     cursor_cap_bytes 0
 *     crc32c 1a2b3c4d
 *
 * It is replaced whole, atomically and durably (durlog_put: a temporary
 * file, fsync, rename, directory fsync), so a reader sees the old settings
 * or the new ones. A file that does not parse, or whose checksum does not
 * match, is an error naming the file (DURLOG_ECORRUPT), never "no
 * retention": a log whose limits silently stopped applying would fill the
 * disk. No file means no limits.
 *
 * Applying them: the engine thread (engine_loop.c) calls dl_retention_tick
 * after each round; at most once a second (and right after it sealed a
 * segment: a roll), it looks at the file (one statx: it is read again only
 * when it changed, so settings another process sets are picked up), and
 * when limits are set, trims what they allow (trim.c), a few segments per
 * round so that the engine's other work (syncs of asynchronous appends)
 * never waits long. Every writer's close applies them once more (a
 * short-lived writer may close before its engine's first look). The append
 * path never trims and the append lock is never held across a trim's
 * unlinks or fsyncs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "log.h"
#include "engine.h"
#include "os.h"
#include "put.h"
#include "reader.h"

#define DL_RETENTION_NAME "durlog.retention"
/* The file's size is at most this: four lines of a key and a 20-digit
 * number, the first line and the checksum's. */
#define DL_RETENTION_MAX 256
/* How often the engine looks at the settings. */
#define DL_RETENTION_PERIOD_NS DL_NS_PER_S
/* The most segments one background round removes. */
#define DL_RETENTION_SEGMENTS_PER_ROUND 8

/* The file's text for r, with its checksum line; its length. */
static size_t encode(const durlog_retention *r, char *buf, size_t size)
{
    int n = snprintf(buf, size, "durlog retention 1\nmax_bytes %" PRIu64 "\nmax_age_ns %" PRIu64
                     "\ncursor_cap_bytes %" PRIu64 "\n", r->max_bytes, r->max_age_ns,
                     r->cursor_cap_bytes);
    uint32_t crc = dl_crc32c(0, buf, (size_t)n);
    n += snprintf(buf + n, size - (size_t)n, "crc32c %08" PRIx32 "\n", crc);
    return (size_t)n;
}

/* Reads "KEY N\n" at *p (N decimal, no sign, no leading zeros but 0, no
 * overflow); advances *p. 0 or -1. */
static int parse_line(const char **p, const char *end, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    const char *q = *p;
    if ((size_t)(end - q) < klen + 2 || memcmp(q, key, klen) != 0 || q[klen] != ' ')
        return -1;
    q += klen + 1;
    uint64_t v = 0;
    const char *digits = q;
    while (q < end && *q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        q++;
    }
    if (q == digits || (q - digits > 1 && *digits == '0') || q >= end || *q != '\n')
        return -1;
    *out = v;
    *p = q + 1;
    return 0;
}

/* Parses the file's bytes. 0 or -1. */
static int decode(const char *buf, size_t len, durlog_retention *out)
{
    static const char head[] = "durlog retention 1\n";
    const char *p = buf, *end = buf + len;
    memset(out, 0, sizeof *out);
    if (len < sizeof head - 1 || memcmp(buf, head, sizeof head - 1) != 0)
        return -1;
    p += sizeof head - 1;
    if (parse_line(&p, end, "max_bytes", &out->max_bytes) ||
        parse_line(&p, end, "max_age_ns", &out->max_age_ns) ||
        parse_line(&p, end, "cursor_cap_bytes", &out->cursor_cap_bytes))
        return -1;
    uint32_t crc = dl_crc32c(0, buf, (size_t)(p - buf));
    char want[32];
    int n = snprintf(want, sizeof want, "crc32c %08" PRIx32 "\n", crc);
    if (end - p != n || memcmp(p, want, (size_t)n) != 0)
        return -1;
    return 0;
}

int dl_retention_read(int dirfd, const char *path, durlog_retention *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = dl_openat(dirfd, DL_RETENTION_NAME, O_RDONLY | O_NOFOLLOW, 0);
    if (fd == -ENOENT)
        return 0; /* no settings: no limits */
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s/%s: %s", path, DL_RETENTION_NAME,
                 durlog_strerror(fd));
        return fd;
    }
    char buf[DL_RETENTION_MAX + 1];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf && (n = dl_read(fd, buf + len, sizeof buf - len)) > 0)
        len += (size_t)n;
    dl_close(fd);
    if (n < 0 && len < sizeof buf) {
        snprintf(err, errlen, "cannot read %s/%s: %s", path, DL_RETENTION_NAME,
                 durlog_strerror((int)n));
        return (int)n;
    }
    if (len > DL_RETENTION_MAX || decode(buf, len, out) != 0) {
        memset(out, 0, sizeof *out);
        snprintf(err, errlen, "%s/%s is damaged (not the retention settings durlog writes, "
                 "or its checksum does not match): set them again with `durlog retention "
                 "%s ...` (or --none)", path, DL_RETENTION_NAME, path);
        return DURLOG_ECORRUPT;
    }
    return 0;
}

int durlog_set_retention(durlog *log, const durlog_retention *r)
{
    if (!log)
        return -EINVAL;
    if (!r)
        return dl_fail(log, -EINVAL, "durlog_set_retention: NULL settings");
    if (dl_reserved_nonzero(r->reserved, DURLOG_RETENTION_RESERVED))
        return dl_fail(log, -EINVAL, "durlog_retention: reserved fields must be zero "
                       "(zero-fill the struct)");
    char text[DL_RETENTION_MAX];
    size_t len = encode(r, text, sizeof text);
    size_t plen = strlen(log->path) + sizeof DL_RETENTION_NAME + 1;
    char *file = malloc(plen);
    if (!file)
        return dl_fail(log, -ENOMEM, "out of memory");
    snprintf(file, plen, "%s/%s", log->path, DL_RETENTION_NAME);
    char err[DL_ERRMSG_SIZE] = "";
    durlog_put_options po;
    durlog_put_options_init(&po);
    po.flags = DURLOG_PUT_SET_MODE | DURLOG_PUT_SET_OWNER;
    po.mode = log->file_mode;
    po.uid = geteuid() == 0 ? log->owner.uid : (uid_t)-1;
    po.gid = log->owner.gid;
    po.errbuf = err;
    po.errbuf_size = sizeof err;
    int rc = dl_put_buffer_own(file, text, len, &po);
    if (rc == -EPERM && (po.flags & DURLOG_PUT_SET_OWNER)) {
        /* A member of the log's group that may not give the file to it:
         * as every file durlog creates, best effort (segment.h). */
        po.flags = DURLOG_PUT_SET_MODE;
        rc = dl_put_buffer_own(file, text, len, &po);
    }
    free(file);
    if (rc)
        return dl_fail(log, rc, "setting the retention of %s: %s", log->path, err);
    atomic_store(&log->engine.retention_seen_ns, 0); /* look again at once */
    dl_retention_start(log);
    return 0;
}

void dl_retention_start(durlog *log)
{
    struct dl_stat st;
    if (dl_stat_at(log->dirfd, DL_RETENTION_NAME, &st) != 0)
        return;
    char saved[DL_ERRMSG_SIZE];
    memcpy(saved, log->errmsg, sizeof saved);
    if (dl_engine_start(log) != 0)
        memcpy(log->errmsg, saved, sizeof saved); /* not this call's failure */
    else
        dl_engine_kick(log);
}

int durlog_get_retention(durlog *log, durlog_retention *out)
{
    if (!log)
        return -EINVAL;
    if (!out)
        return dl_fail(log, -EINVAL, "durlog_get_retention: NULL result");
    char err[DL_ERRMSG_SIZE];
    int rc = dl_retention_read(log->dirfd, log->path, out, err, sizeof err);
    return rc ? dl_fail(log, rc, "%s", err) : 0;
}

/* The identity of the file now (0s when there is none), to tell whether it
 * changed since it was last read. */
void dl_retention_tick(durlog *log, int rolled)
{
    struct dl_engine_state *e = &log->engine;
    uint64_t now = dl_mono_ns();
    uint64_t seen = atomic_load(&e->retention_seen_ns);
    if (!rolled && seen && now - seen < DL_RETENTION_PERIOD_NS && !e->retention_more)
        return;
    atomic_store(&e->retention_seen_ns, now);
    /* Read at every look: a few hundred bytes, next to the listing of
     * every segment a plan makes. The file's inode number, size and
     * device do not tell a change: a file replaced twice between two
     * looks can get back the inode number of the one read last (ext4
     * hands out the one just freed), with the same size when the numbers
     * have as many digits, and was then taken for unchanged for good. */
    char err[DL_ERRMSG_SIZE];
    durlog_retention r;
    int read_rc = dl_retention_read(log->dirfd, log->path, &r, err, sizeof err);
    /* A file that cannot be read leaves the last settings read in force;
     * durlog_get_retention and `durlog info` say what is wrong. */
    if (!read_rc)
        e->retention = r;
    if (!e->retention.max_bytes && !e->retention.max_age_ns)
        return;
    uint64_t before = 0;
    int rc = dl_trim_plan(log, &e->retention, dl_now_ns(), &before);
    if (!rc)
        rc = dl_trim_some(log, before, DL_RETENTION_SEGMENTS_PER_ROUND, NULL,
                          &e->retention_more);
    if (rc)
        e->retention_more = 0; /* tried again at the next period */
}

void dl_retention_close(durlog *log)
{
    char err[DL_ERRMSG_SIZE], saved[DL_ERRMSG_SIZE];
    durlog_retention r;
    if (dl_retention_read(log->dirfd, log->path, &r, err, sizeof err) != 0 ||
        (!r.max_bytes && !r.max_age_ns))
        return;
    memcpy(saved, log->errmsg, sizeof saved);
    uint64_t before = 0;
    if (dl_trim_plan(log, &r, dl_now_ns(), &before) == 0)
        (void)dl_trim_some(log, before, 0, NULL, NULL);
    memcpy(log->errmsg, saved, sizeof saved); /* not close's failure */
}

int durlog_reader_get_retention(durlog_reader *r, durlog_retention *out)
{
    if (!r)
        return -EINVAL;
    if (!out)
        return dl_reader_fail(r, -EINVAL, "durlog_reader_get_retention: NULL result");
    size_t size;
    char *err = dl_reader_errbuf(r, &size);
    return dl_retention_read(dl_reader_dirfd(r), dl_reader_path(r), out, err, size);
}
