/*
 * cursor.c - named cursors: durable consumer positions in the log directory
 * (durlog_cursor_* in durlog.h), and the retention hold they make
 * (dl_cursors_floor, cursor.h).
 *
 * A cursor is one small file, "cursor.NAME", that holds the position (the
 * next record to consume) and when it was committed, under a magic, a
 * version and a CRC32C (docs/FORMAT.md). It is never written in place: each
 * commit replaces the whole file through the put path (dl_put_buffer_own:
 * temporary file, fsync, rename, directory fsync; never through a link
 * planted under its name), so a crash or power loss at any moment leaves
 * the old file or the new one, complete. Creating one
 * (DURLOG_CURSOR_CREATE) links a file written unnamed instead, since a link,
 * unlike a rename, never replaces a cursor another process made meanwhile.
 * The CRC is there for what neither can rule out: a disk or a person that
 * damages the file later. A file that fails it is DURLOG_ECORRUPT, never
 * position 0 (which would replay the whole log) nor a guess.
 *
 * Cursors need no writer: the position is checked against the log's end
 * through a reader (a commit past the end names records that do not exist),
 * and the lag `durlog info` shows is computed with one. A commit forward
 * only looks at the log when it goes past the end the handle last saw, so a
 * consumer committing what it read costs the log no more than its reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "cursor.h"
#include "error.h"
#include "format.h"
#include "os.h"
#include "put.h"
#include "reader.h"
#include "scan.h"
#include "segment.h"

/* The cursor file, docs/FORMAT.md "Cursor files". */
#define CURSOR_MAGIC "DLCURSOR"
#define CURSOR_VERSION 1
#define CUR_MAGIC 0      /* 8  "DLCURSOR" */
#define CUR_VERSION 8    /* 4  1 */
#define CUR_FLAGS 12     /* 4  0 (no flag is defined in version 1) */
#define CUR_SEQ 16       /* 8  next record to consume */
#define CUR_TIME 24      /* 8  commit time, ns since the epoch */
#define CUR_CRC 32       /* 4  CRC32C of bytes 0..31 */
#define CURSOR_FILE_SIZE 36

/* Room for "cursor." and the longest name. */
#define CURSOR_FILE_NAME_MAX (sizeof DL_CURSOR_PREFIX + DURLOG_CURSOR_NAME_MAX)

struct durlog_cursor {
    char name[DURLOG_CURSOR_NAME_MAX + 1];
    char file[CURSOR_FILE_NAME_MAX];  /* "cursor.NAME" */
    char *log_path;
    char *file_path;                  /* log_path/cursor.NAME, for put */
    uint64_t seq;                     /* committed */
    uint64_t known_end;               /* the log's next_seq when last
                                         looked at: commits up to it need
                                         no look */
    durlog_reader *reader;            /* opened at the first look */
    char errmsg[DL_ERRMSG_SIZE];
};

static int cfail(durlog_cursor *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfail(durlog_cursor *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* For the functions without a handle: durlog_last_errmsg(). */
static int lastfail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lastfail(int rc, const char *fmt, ...)
{
    char msg[DL_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dl_set_last_errmsg(msg);
    return rc;
}

/* 1 if name is a valid cursor name: 1-64 of [A-Za-z0-9._-], no leading '.'
 * (no "." or "..", nothing hidden, no '/'). */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= DURLOG_CURSOR_NAME_MAX && name[0] != '.' &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") == n;
}

static int bad_name(const char *name)
{
    return lastfail(-EINVAL, "bad cursor name \"%.80s\": use 1 to %d characters of "
                    "A-Z a-z 0-9 . _ -, not starting with '.'", name,
                    DURLOG_CURSOR_NAME_MAX);
}

/* ---- the file ---- */

static void cursor_encode(unsigned char out[CURSOR_FILE_SIZE], uint64_t seq, uint64_t time_ns)
{
    memset(out, 0, CURSOR_FILE_SIZE);
    memcpy(out + CUR_MAGIC, CURSOR_MAGIC, 8);
    dl_put32(out + CUR_VERSION, CURSOR_VERSION);
    dl_put64(out + CUR_SEQ, seq);
    dl_put64(out + CUR_TIME, time_ns);
    dl_put32(out + CUR_CRC, dl_crc32c(0, out, CUR_CRC));
}

/* Reads cursor file `file` of directory dirfd (path for messages): 0 and
 * *seq, *time_ns; DURLOG_ENOTFOUND when there is none; else an error with
 * a message in err naming the file. */
static int cursor_read(int dirfd, const char *path, const char *file, uint64_t *seq,
                       uint64_t *time_ns, char *err, size_t errlen)
{
    unsigned char b[CURSOR_FILE_SIZE];
    struct dl_stat st;
    int fd = dl_openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd == -ENOENT) {
        dl_set_err(err, errlen, "%s has no cursor %s", path,
                   file + strlen(DL_CURSOR_PREFIX));
        return DURLOG_ENOTFOUND;
    }
    if (fd < 0) {
        dl_set_err(err, errlen, "cannot open %s/%s: %s", path, file, durlog_strerror(fd));
        return fd;
    }
    int rc = dl_stat_fd(fd, &st);
    if (rc) {
        dl_set_err(err, errlen, "cannot look at %s/%s: %s", path, file, durlog_strerror(rc));
    } else if (!S_ISREG(st.mode) || st.size != CURSOR_FILE_SIZE) {
        rc = DURLOG_ECORRUPT;
        dl_set_err(err, errlen, "%s/%s is not a cursor file (%s%llu bytes, a cursor "
                   "file has %d); delete it (`durlog cursor %s delete %s`) or set it",
                   path, file, S_ISREG(st.mode) ? "" : "not a regular file, ",
                   (unsigned long long)st.size, CURSOR_FILE_SIZE, path,
                   file + strlen(DL_CURSOR_PREFIX));
    } else if ((rc = dl_pread_all(fd, b, sizeof b, 0)) != 0) {
        dl_set_err(err, errlen, "cannot read %s/%s: %s", path, file, durlog_strerror(rc));
    } else if (memcmp(b + CUR_MAGIC, CURSOR_MAGIC, 8) != 0 ||
               dl_get32(b + CUR_CRC) != dl_crc32c(0, b, CUR_CRC)) {
        rc = DURLOG_ECORRUPT;
        dl_set_err(err, errlen, "%s/%s is damaged (%s); its position is not known: "
                   "set it again (`durlog cursor %s set %s SEQ`)", path, file,
                   memcmp(b, CURSOR_MAGIC, 8) ? "no cursor magic" : "checksum mismatch",
                   path, file + strlen(DL_CURSOR_PREFIX));
    } else if (dl_get32(b + CUR_VERSION) != CURSOR_VERSION || dl_get32(b + CUR_FLAGS) != 0) {
        rc = DURLOG_EFORMAT;
        dl_set_err(err, errlen, "%s/%s is a cursor file of version %u (flags 0x%x); this "
                   "library reads version %d", path, file, dl_get32(b + CUR_VERSION),
                   dl_get32(b + CUR_FLAGS), CURSOR_VERSION);
    } else {
        *seq = dl_get64(b + CUR_SEQ);
        *time_ns = dl_get64(b + CUR_TIME);
    }
    dl_close(fd);
    return rc;
}

/* Replaces the cursor's file with one holding seq (the put path). */
static int cursor_write(durlog_cursor *c, uint64_t seq)
{
    unsigned char b[CURSOR_FILE_SIZE];
    durlog_put_options o;
    durlog_put_options_init(&o);
    o.errbuf = c->errmsg;
    o.errbuf_size = sizeof c->errmsg;
    cursor_encode(b, seq, dl_now_ns());
    /* Never through a link planted under the cursor's name since it was
     * read (put.h). */
    return dl_put_buffer_own(c->file_path, b, sizeof b, &o);
}

/* Creates the cursor's file holding seq, only if there is none: a commit
 * another process made meanwhile must not be overwritten by a creation
 * (dl_create_own_file). Returns 0, -EEXIST, or an error with a message. */
static int cursor_create(durlog_cursor *c, int dirfd, uint64_t seq)
{
    unsigned char b[CURSOR_FILE_SIZE];
    cursor_encode(b, seq, dl_now_ns());
    return dl_create_own_file(dirfd, c->log_path, c->file, b, sizeof b, c->errmsg,
                              sizeof c->errmsg);
}

/* ---- the log's end ---- */

/* Opens the cursor's reader if it has none; error with a message. */
static int need_reader(durlog_cursor *c)
{
    if (c->reader)
        return 0;
    int rc = durlog_reader_open(c->log_path, NULL, &c->reader);
    if (rc)
        return cfail(c, rc, "%s", durlog_last_errmsg());
    return 0;
}

/* The log's facts now, into *info. */
static int look_at_log(durlog_cursor *c, durlog_info *info)
{
    int rc = need_reader(c);
    if (rc)
        return rc;
    rc = durlog_reader_get_info(c->reader, info);
    if (rc)
        return cfail(c, rc, "%s", durlog_reader_errmsg(c->reader));
    c->known_end = info->next_seq;
    return 0;
}

/* ---- the public functions ---- */

void durlog_cursor_close(durlog_cursor *c)
{
    if (!c)
        return;
    durlog_reader_close(c->reader);
    free(c->log_path);
    free(c->file_path);
    free(c);
}

int durlog_cursor_open(const char *log_path, const char *name, int flags,
                       durlog_cursor **out)
{
    if (!log_path || !name || !out)
        return lastfail(-EINVAL, "durlog_cursor_open: log_path, name and out are required");
    *out = NULL;
    if (flags & ~DURLOG_CURSOR_CREATE)
        return lastfail(-EINVAL, "durlog_cursor_open: unknown flag bits 0x%x",
                        (unsigned)(flags & ~DURLOG_CURSOR_CREATE));
    if (!name_ok(name))
        return bad_name(name);
    durlog_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return lastfail(-ENOMEM, "cursor %s of %s: out of memory", name, log_path);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->file, sizeof c->file, DL_CURSOR_PREFIX "%s", name);
    c->log_path = strdup(log_path);
    if (!c->log_path || asprintf(&c->file_path, "%s/%s", log_path, c->file) < 0) {
        c->file_path = NULL;
        durlog_cursor_close(c);
        return lastfail(-ENOMEM, "cursor %s of %s: out of memory", name, log_path);
    }
    int dirfd = dl_openat(AT_FDCWD, log_path, O_RDONLY | O_DIRECTORY, 0);
    int rc = dirfd;
    if (dirfd < 0) {
        cfail(c, rc, "cannot open the log directory %s: %s", log_path, durlog_strerror(rc));
        goto fail;
    }
    uint64_t time_ns;
    rc = cursor_read(dirfd, log_path, c->file, &c->seq, &time_ns, c->errmsg,
                     sizeof c->errmsg);
    if (rc == DURLOG_ENOTFOUND && (flags & DURLOG_CURSOR_CREATE)) {
        /* At the log's first record: the position a new consumer starts
         * from (a reader opened on the log stands there too). */
        durlog_info info;
        rc = look_at_log(c, &info);
        if (rc == 0)
            rc = cursor_create(c, dirfd, info.first_seq);
        if (rc == 0)
            c->seq = info.first_seq;
        else if (rc == -EEXIST) /* made by another meanwhile: its position */
            rc = cursor_read(dirfd, log_path, c->file, &c->seq, &time_ns, c->errmsg,
                             sizeof c->errmsg);
    }
    dl_close(dirfd);
    if (rc)
        goto fail;
    *out = c;
    return 0;
fail:
    dl_set_last_errmsg(c->errmsg);
    durlog_cursor_close(c);
    return rc;
}

uint64_t durlog_cursor_seq(const durlog_cursor *c)
{
    return c ? c->seq : UINT64_MAX;
}

const char *durlog_cursor_name(const durlog_cursor *c)
{
    return c ? c->name : "";
}

const char *durlog_cursor_errmsg(const durlog_cursor *c)
{
    if (!c)
        return "no cursor (NULL handle)";
    return c->errmsg[0] ? c->errmsg : "no error";
}

int durlog_cursor_commit(durlog_cursor *c, uint64_t next_seq)
{
    if (!c)
        return -EINVAL;
    if (next_seq > c->known_end) {
        durlog_info info;
        int rc = look_at_log(c, &info);
        if (rc)
            return rc;
        if (next_seq > info.next_seq)
            return cfail(c, -EINVAL, "cannot commit cursor %s of %s at %llu: the log "
                         "ends at %llu (no record %llu yet)", c->name, c->log_path,
                         (unsigned long long)next_seq, (unsigned long long)info.next_seq,
                         (unsigned long long)(next_seq - 1));
    }
    int rc = cursor_write(c, next_seq);
    if (rc == 0)
        c->seq = next_seq;
    return rc;
}

int durlog_cursor_delete(const char *log_path, const char *name)
{
    if (!log_path || !name)
        return lastfail(-EINVAL, "durlog_cursor_delete: log_path and name are required");
    if (!name_ok(name))
        return bad_name(name);
    char file[CURSOR_FILE_NAME_MAX];
    snprintf(file, sizeof file, DL_CURSOR_PREFIX "%s", name);
    int dirfd = dl_openat(AT_FDCWD, log_path, O_RDONLY | O_DIRECTORY, 0);
    if (dirfd < 0)
        return lastfail(dirfd, "cannot open the log directory %s: %s", log_path,
                        durlog_strerror(dirfd));
    int rc = dl_unlinkat(dirfd, file);
    if (rc == -ENOENT)
        rc = lastfail(DURLOG_ENOTFOUND, "%s has no cursor %s", log_path, name);
    else if (rc)
        lastfail(rc, "cannot remove %s/%s: %s", log_path, file, durlog_strerror(rc));
    /* Makes the removal durable: a cursor that came back after a power
     * loss would hold records back again. */
    else if ((rc = dl_fsync(dirfd)) != 0)
        lastfail(rc, "fsync of directory %s after removing %s: %s", log_path, file,
                 durlog_strerror(rc));
    dl_close(dirfd);
    return rc;
}

/* ---- listing ---- */

/* Calls fn(arg, name) for each cursor file of dirfd (by the name
 * pattern), stopping at the first nonzero result, which it returns. */
static int each_cursor(int dirfd, int (*fn)(void *arg, const char *file), void *arg)
{
    DIR *d;
    int rc = dl_dir_open(dirfd, &d);
    if (rc)
        return rc;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, DL_CURSOR_PREFIX, strlen(DL_CURSOR_PREFIX)) == 0 &&
            name_ok(de->d_name + strlen(DL_CURSOR_PREFIX)))
            rc = fn(arg, de->d_name);
    closedir(d);
    return rc;
}

struct floor_walk {
    int dirfd;
    const char *path;
    uint64_t min_seq;
    char *err;
    size_t errlen;
};

static int floor_one(void *arg, const char *file)
{
    struct floor_walk *w = arg;
    uint64_t seq, time_ns;
    int rc = cursor_read(w->dirfd, w->path, file, &seq, &time_ns, w->err, w->errlen);
    if (rc == DURLOG_ENOTFOUND)
        return 0; /* deleted since the listing: it holds nothing back */
    if (rc == 0 && seq < w->min_seq)
        w->min_seq = seq;
    return rc;
}

int dl_cursors_floor(int dirfd, const char *path, uint64_t *min_seq, char *err,
                     size_t errlen)
{
    struct floor_walk w = { dirfd, path, UINT64_MAX, err, errlen };
    int rc = each_cursor(dirfd, floor_one, &w);
    if (rc)
        return rc;
    *min_seq = w.min_seq;
    return 0;
}

struct list_walk {
    int dirfd;
    const char *path;
    durlog_cursor_info *v;
    size_t n, cap;
};

static int list_one(void *arg, const char *file)
{
    struct list_walk *w = arg;
    char msg[DL_ERRMSG_SIZE];
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        durlog_cursor_info *v = realloc(w->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        w->v = v;
        w->cap = cap;
    }
    durlog_cursor_info *ci = &w->v[w->n];
    memset(ci, 0, sizeof *ci);
    snprintf(ci->name, sizeof ci->name, "%s", file + strlen(DL_CURSOR_PREFIX));
    ci->status = cursor_read(w->dirfd, w->path, file, &ci->seq, &ci->commit_time_ns, msg,
                             sizeof msg);
    if (ci->status != DURLOG_ENOTFOUND) /* deleted since the listing */
        w->n++;
    if (ci->status)
        ci->seq = ci->commit_time_ns = 0;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const durlog_cursor_info *)a)->name, ((const durlog_cursor_info *)b)->name);
}

/* Bytes of records in segment `first` (its valid data after the header):
 * the seal says it, else the segment is walked (as dl_dir_stats does). */
static int segment_bytes(int dirfd, const char *path, uint64_t first, uint64_t *out,
                         char *err, size_t errlen)
{
    struct dl_seg_header h;
    int rc = dl_seg_read_header(dirfd, path, first, &h, NULL, err, errlen);
    if (rc)
        return rc;
    if (h.flags & DL_SEG_F_SEALED) {
        *out = h.ckpt_off - DL_SEG_HEADER_SIZE;
        return 0;
    }
    struct dl_segmap m;
    struct dl_scan s;
    rc = dl_seg_open(dirfd, path, first, DL_SEG_READ, &m, err, errlen);
    if (rc)
        return rc;
    uint64_t limit = m.size < m.capacity ? m.size : m.capacity;
    struct dl_seg_fmt f = dl_seg_fmt_of(&m.hdr);
    dl_scan_from(&f, m.map, limit, m.hdr.ckpt_off, m.hdr.ckpt_seq, UINT64_MAX, 0, &s);
    rc = dl_seg_faulted(&m, path, err, errlen);
    dl_seg_close(&m);
    if (rc == 0)
        *out = s.valid_end - DL_SEG_HEADER_SIZE;
    return rc;
}

/* The lag of cursor ci on the log r reads (info: its facts now): records
 * and bytes from its position to the end. The bytes are the log's total
 * less those before the position: whole segments before the one it stands
 * in, and the part of that one before it (a reader seek finds where). */
static int cursor_lag(durlog_reader *r, int dirfd, const char *path, const durlog_info *info,
                      durlog_cursor_info *ci)
{
    char msg[DL_ERRMSG_SIZE];
    if (ci->seq < info->first_seq) {
        ci->trimmed = info->first_seq - ci->seq;
        ci->lag_records = info->next_seq - info->first_seq;
        ci->lag_bytes = info->bytes;
        return 0;
    }
    if (ci->seq >= info->next_seq)
        return 0;
    ci->lag_records = info->next_seq - ci->seq;
    uint64_t seg_first, offset, *segs, before = 0;
    size_t n;
    int rc = durlog_reader_seek(r, ci->seq);
    if (rc)
        return lastfail(rc, "%s", durlog_reader_errmsg(r));
    if (dl_reader_where(r, &seg_first, &offset) != 0)
        return 0;
    rc = dl_seg_list(dirfd, &segs, &n);
    if (rc)
        return lastfail(rc, "cannot list the segments of %s: %s", path, durlog_strerror(rc));
    for (size_t i = 0; i < n && segs[i] < seg_first && rc == 0; i++) {
        uint64_t bytes = 0;
        rc = segment_bytes(dirfd, path, segs[i], &bytes, msg, sizeof msg);
        if (rc == 0)
            before += bytes;
    }
    free(segs);
    if (rc)
        return lastfail(rc, "%s", msg);
    before += offset - DL_SEG_HEADER_SIZE;
    /* The log may have moved between the facts and the walk. */
    ci->lag_bytes = info->bytes > before ? info->bytes - before : 0;
    return 0;
}

int durlog_cursor_list(const char *log_path, durlog_cursor_info **out, size_t *count)
{
    if (!log_path || !out || !count)
        return lastfail(-EINVAL, "durlog_cursor_list: log_path, out and count are required");
    *out = NULL;
    *count = 0;
    struct list_walk w = { -1, log_path, NULL, 0, 0 };
    durlog_reader *r = NULL;
    durlog_info info;
    w.dirfd = dl_openat(AT_FDCWD, log_path, O_RDONLY | O_DIRECTORY, 0);
    int rc = w.dirfd;
    if (rc < 0) {
        lastfail(rc, "cannot open the log directory %s: %s", log_path, durlog_strerror(rc));
        goto out;
    }
    rc = each_cursor(w.dirfd, list_one, &w);
    if (rc) {
        lastfail(rc, "cannot list the cursors of %s: %s", log_path, durlog_strerror(rc));
        goto out;
    }
    if (w.n == 0)
        goto out;
    qsort(w.v, w.n, sizeof *w.v, by_name);
    rc = durlog_reader_open(log_path, NULL, &r);
    if (rc)
        goto out;
    rc = durlog_reader_get_info(r, &info);
    if (rc) {
        lastfail(rc, "%s", durlog_reader_errmsg(r));
        goto out;
    }
    for (size_t i = 0; i < w.n && rc == 0; i++)
        if (w.v[i].status == 0)
            rc = cursor_lag(r, w.dirfd, log_path, &info, &w.v[i]);
out:
    durlog_reader_close(r);
    dl_close(w.dirfd);
    if (rc) {
        free(w.v);
        return rc;
    }
    *out = w.v;
    *count = w.n;
    return 0;
}

void durlog_cursor_list_free(durlog_cursor_info *list)
{
    free(list);
}

/* A cursor's position is a seek, unless what it had not consumed is gone:
 * then the caller must hear how much, not be moved past it. The first
 * record is the first segment's (trims remove whole segments). */
int durlog_reader_seek_cursor(durlog_reader *r, const durlog_cursor *c)
{
    if (!r)
        return -EINVAL;
    if (!c)
        return dl_reader_fail(r, -EINVAL, "durlog_reader_seek_cursor: no cursor");
    uint64_t seq = durlog_cursor_seq(c);
    int rc = durlog_reader_seek(r, seq);
    if (rc != DURLOG_ENOTFOUND && rc != DURLOG_ETRIMMED)
        return rc;
    uint64_t *segs;
    size_t n;
    if (dl_seg_list(dl_reader_dirfd(r), &segs, &n) != 0)
        return rc;
    uint64_t first = n ? segs[0] : UINT64_MAX;
    free(segs);
    if (seq >= first)
        return rc;
    return dl_reader_fail(r, DURLOG_ETRIMMED, "cursor %s of %s is at record %llu, but the log now "
                 "starts at record %llu: retention or a trim removed %llu records it had "
                 "not consumed; to go on from the first record, knowingly, commit %llu "
                 "(`durlog cursor %s set %s %llu`)", durlog_cursor_name(c), dl_reader_path(r),
                 (unsigned long long)seq, (unsigned long long)first,
                 (unsigned long long)(first - seq), (unsigned long long)first, dl_reader_path(r),
                 durlog_cursor_name(c), (unsigned long long)first);
}
