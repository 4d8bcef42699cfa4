/*
 * segment.c - segment files on disk (see segment.h).
 */
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "durlog.h"
#include "guard.h"
#include "os.h"
#include "shared.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int dl_dir_open(int dirfd, DIR **out)
{
    *out = NULL;
    int fd = dl_openat(dirfd, ".", O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    *out = fdopendir(fd);
    if (!*out) {
        int e = -errno;
        dl_close(fd);
        return e;
    }
    return 0;
}

int dl_seg_list(int dirfd, uint64_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d;
    int rc = dl_dir_open(dirfd, &d);
    if (rc)
        return rc;
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t first;
        int kind = dl_seg_name_parse(de->d_name, &first);
        if (kind == 0)
            continue;
        if (kind == 2) {
            rc = DURLOG_ECORRUPT; /* a name beyond every sequence number */
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[n++] = first;
    }
    closedir(d);
    if (rc) {
        free(v);
        return rc;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_u64);
    *out = v;
    *count = n;
    return 0;
}

static int map_segment(struct dl_segmap *s, int writable)
{
    void *p;
    int prot = PROT_READ | (writable == DL_SEG_STORE ? PROT_WRITE : 0);
    int rc = dl_mmap((size_t)s->capacity, prot, s->fd, 0, &p, &s->guard, NULL);
    if (rc)
        return rc;
    s->map = p;
    s->writable = writable;
    return 0;
}

void dl_take_owner(int fd, const struct dl_owner *owner)
{
    struct dl_stat st;
    if (!owner || dl_stat_fd(fd, &st) < 0)
        return;
    /* Only root may give a file away; anyone may set a group it belongs
     * to. A refusal leaves the file as the creator made it. */
    uid_t uid = geteuid() == 0 && st.uid != owner->uid ? owner->uid : (uid_t)-1;
    gid_t gid = st.gid != owner->gid ? owner->gid : (gid_t)-1;
    if (uid != (uid_t)-1 || gid != (gid_t)-1) {
        if (fchown(fd, uid, gid) < 0 && gid != (gid_t)-1 && uid != (uid_t)-1)
            (void)!fchown(fd, (uid_t)-1, gid);
    }
}

/* How many times a header that fails its checksum is read again, and how
 * long apart, before it is taken for damage: a rewrite of one sector in the
 * page cache takes microseconds, so 3 ms is ample. */
#define DL_HEADER_REREADS 3
#define DL_HEADER_REREAD_PAUSE_NS DL_NS_PER_MS

/* Opens segment `first_seq` (read-only or read-write) and checks that it is
 * a regular file with a valid header named for it. */
static int open_checked(int dirfd, const char *path, uint64_t first_seq,
                        int writable, struct dl_seg_header *h, uint64_t *size,
                        struct dl_stat *stat_out, char *err, size_t errlen)
{
    char name[DL_SEG_NAME_LEN + 1];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    struct dl_stat st;
    int rc;

    dl_seg_name(name, first_seq);
    int fd = dl_openat(dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s/%s: %s%s", path, name, durlog_strerror(fd),
                 fd == -ELOOP ? " (segment files must not be symbolic links)" : "");
        return fd;
    }
    rc = dl_stat_fd(fd, &st);
    if (rc < 0) {
        snprintf(err, errlen, "cannot stat %s/%s: %s", path, name, durlog_strerror(rc));
        goto out_close;
    }
    if (!S_ISREG(st.mode)) {
        rc = DURLOG_EFORMAT;
        snprintf(err, errlen, "%s/%s is not a regular file", path, name);
        goto out_close;
    }
    if (writable && (rc = dl_refuse_links(st.nlink, path, name, err, errlen)) != 0)
        goto out_close;
    *size = st.size;
    if (stat_out)
        *stat_out = st;
    if (*size < DL_SEG_HEADER_SIZE) {
        rc = DURLOG_ECORRUPT;
        snprintf(err, errlen, "%s/%s: file is %llu bytes, shorter than a segment header",
                 path, name, (unsigned long long)*size);
        goto out_close;
    }
    /* A header being rewritten (a checkpoint, by the sealer in another
     * process) can be read half old, half new: a buffered read does not
     * wait for a buffered write of the same bytes. Such a read fails its
     * checksum; the next one, a moment later, does not. Damage stays. */
    for (int attempt = 0;; attempt++) {
        rc = dl_pread_all(fd, hdr, sizeof hdr, 0);
        if (rc) {
            snprintf(err, errlen, "cannot read the header of %s/%s: %s", path, name,
                     durlog_strerror(rc));
            goto out_close;
        }
        rc = dl_seg_header_decode(hdr, h);
        if (rc != DURLOG_ECORRUPT || attempt == DL_HEADER_REREADS)
            break;
        dl_sleep_ns(DL_HEADER_REREAD_PAUSE_NS);
    }
    if (rc) {
        /* All zeros: a header that never reached the disk (a power loss
         * right after the segment was created) or was zeroed: damage, not
         * a file of another format. */
        int zero = 1;
        for (size_t i = 0; i < sizeof hdr && zero; i++)
            zero = hdr[i] == 0;
        if (zero)
            rc = DURLOG_ECORRUPT;
        /* (Its checksum may hold over impossible fields: a checkpoint
         * outside the segment, a time base whose times would wrap.) */
        snprintf(err, errlen, "%s/%s: %s at offset 0", path, name,
                 zero ? "segment header is all zero bytes"
                 : rc == DURLOG_EFORMAT ? "not a durlog segment of a known version"
                 : "segment header fails its checksum or holds impossible values");
        goto out_close;
    }
    if (h->first_seq != first_seq || h->capacity > DL_SEG_MAX_CAPACITY) {
        rc = DURLOG_ECORRUPT;
        snprintf(err, errlen, "%s/%s: header says first record %llu, capacity %llu",
                 path, name, (unsigned long long)h->first_seq,
                 (unsigned long long)h->capacity);
        goto out_close;
    }
    return fd;

out_close:
    dl_close(fd);
    return rc;
}

int dl_seg_read_header(int dirfd, const char *path, uint64_t first_seq,
                       struct dl_seg_header *h, uint64_t *size, char *err,
                       size_t errlen)
{
    uint64_t sz;
    int fd = open_checked(dirfd, path, first_seq, 0, h, &sz, NULL, err, errlen);
    if (fd < 0)
        return fd;
    dl_close(fd);
    if (size)
        *size = sz;
    return 0;
}

int dl_seg_read_header_stat(int dirfd, const char *path, uint64_t first_seq,
                            struct dl_seg_header *h, struct dl_stat *st, char *err,
                            size_t errlen)
{
    uint64_t sz;
    int fd = open_checked(dirfd, path, first_seq, 0, h, &sz, st, err, errlen);
    if (fd < 0)
        return fd;
    dl_close(fd);
    return 0;
}

int dl_seg_open(int dirfd, const char *path, uint64_t first_seq, int writable,
                struct dl_segmap *out, char *err, size_t errlen)
{
    struct dl_segmap s = DL_SEGMAP_INIT;
    char name[DL_SEG_NAME_LEN + 1];
    int fd = open_checked(dirfd, path, first_seq, writable, &s.hdr, &s.size, NULL, err,
                          errlen);
    if (fd < 0)
        return fd;
    s.fd = fd;
    s.first_seq = first_seq;
    s.capacity = s.hdr.capacity;
    int rc = map_segment(&s, writable);
    if (rc) {
        dl_seg_name(name, first_seq);
        snprintf(err, errlen, "cannot map %s/%s: %s", path, name, durlog_strerror(rc));
        dl_close(fd);
        return rc;
    }
    *out = s;
    return 0;
}

int dl_seg_write_header(int fd, const struct dl_seg_header *h)
{
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    dl_seg_header_encode(hdr, h);
    return dl_pwrite_all(fd, hdr, sizeof hdr, 0);
}

int dl_seg_is_at(int dirfd, const char *name, int fd, struct dl_stat *fd_st)
{
    struct dl_stat a, b;
    int rc = dl_stat_fd(fd, &a);
    if (rc < 0)
        return rc;
    if (fd_st)
        *fd_st = a;
    rc = dl_stat_at(dirfd, name, &b);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    return a.nlink > 0 && a.dev == b.dev && a.ino == b.ino;
}

size_t dl_seg_search_time(int dirfd, const char *path, const uint64_t *segs, size_t n,
                          uint64_t time_ns)
{
    /* Invariant: segment lo's base is below time_ns (or lo is 0), and no
     * segment from hi on is known to be. */
    size_t lo = 0, hi = n;
    char err[256]; /* unused: a header not read counts as not below */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        struct dl_seg_header h;
        if (dl_seg_read_header(dirfd, path, segs[mid], &h, NULL, err, sizeof err) == 0 &&
            h.created_ns < time_ns)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int dl_seg_create(int dirfd, const char *path, uint64_t first_seq, int writable,
                  uint64_t replace_ino, uint64_t capacity, uint64_t alloc, uint64_t base_ns,
                  mode_t mode, const struct dl_owner *owner, struct dl_segmap *out,
                  char *err, size_t errlen)
{
    char name[DL_SEG_NAME_LEN + 1], tmp[DL_SEG_NAME_LEN + sizeof DL_SEG_TMP_SUFFIX];
    unsigned char hdr[DL_SEG_HEADER_SIZE];
    struct dl_seg_header h = { DL_FORMAT_VERSION, first_seq, capacity, base_ns,
                               first_seq, DL_SEG_HEADER_SIZE, 0 };
    struct dl_segmap s = DL_SEGMAP_INIT;
    int rc;

    dl_seg_name(name, first_seq);
    snprintf(tmp, sizeof tmp, "%s%s", name, DL_SEG_TMP_SUFFIX);
    /* Segments are created under the append lock (or the exclusive open
     * lock): a file under the name now is one this roll must not replace,
     * whatever the coordination file says (it may have been overwritten,
     * and name a segment that is full of records). */
    struct dl_stat there;
    rc = dl_stat_at(dirfd, name, &there);
    if (rc == 0 && there.ino != replace_ino) {
        snprintf(err, errlen, "cannot create %s/%s: a segment of that name exists already "
                 "(the coordination file %s no longer describes the log: was it "
                 "overwritten?)", path, name, DL_SHM_NAME);
        return -EEXIST;
    }
    /* A temporary file left by a creator that died is ours to replace:
     * creation happens only under the append lock. Removed, then created
     * anew (O_EXCL), never truncated: a file planted under that name (a hard
     * link to a file elsewhere) must not be written through. */
    dl_unlinkat(dirfd, tmp);
    s.fd = dl_openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (s.fd < 0) {
        rc = s.fd;
        snprintf(err, errlen, "cannot create %s/%s: %s", path, tmp, durlog_strerror(rc));
        return rc;
    }
    dl_take_owner(s.fd, owner);
    dl_nocow(s.fd);
    /* Exactly `mode`: the creating process's umask must not narrow it. */
    struct dl_stat st;
    if (dl_stat_fd(s.fd, &st) == 0 && (st.mode & 07777) != mode && fchmod(s.fd, mode) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot chmod %s/%s: %s", path, tmp, durlog_strerror(rc));
        goto out_unlink;
    }
    /* Allocate before anything is mapped: a store into an unallocated page
     * of a full disk raises SIGBUS instead of returning ENOSPC. */
    rc = dl_allocate(s.fd, 0, (off_t)alloc);
    if (rc) {
        snprintf(err, errlen, "cannot allocate %llu bytes for %s/%s: %s",
                 (unsigned long long)alloc, path, name, durlog_strerror(rc));
        goto out_unlink;
    }
    dl_seg_header_encode(hdr, &h);
    rc = dl_pwrite_all(s.fd, hdr, sizeof hdr, 0);
    if (rc) {
        snprintf(err, errlen, "cannot write the header of %s/%s: %s", path, name,
                 durlog_strerror(rc));
        goto out_unlink;
    }
    s.first_seq = first_seq;
    s.capacity = capacity;
    s.size = alloc;
    s.hdr = h;
    rc = map_segment(&s, writable);
    if (rc) {
        snprintf(err, errlen, "cannot map %s/%s: %s", path, name, durlog_strerror(rc));
        goto out_unlink;
    }
    rc = dl_renameat(dirfd, tmp, name);
    if (rc) {
        snprintf(err, errlen, "cannot rename %s/%s to %s: %s", path, tmp, name,
                 durlog_strerror(rc));
        dl_munmap(s.map, (size_t)s.capacity, s.guard);
        goto out_unlink;
    }
    *out = s;
    return 0;

out_unlink:
    dl_close(s.fd);
    dl_unlinkat(dirfd, tmp);
    return rc;
}

int dl_seg_refresh_size(struct dl_segmap *s)
{
    struct dl_stat st;
    int rc = dl_stat_fd(s->fd, &st);
    if (rc < 0)
        return rc;
    s->size = st.size;
    return 0;
}

void dl_seg_close(struct dl_segmap *s)
{
    if (s->map)
        dl_munmap(s->map, (size_t)s->capacity, s->guard);
    dl_close(s->fd);
    s->map = NULL;
    s->guard = NULL;
    s->fd = -1;
}

int dl_seg_faulted(const struct dl_segmap *s, const char *path, char *err, size_t errlen)
{
    if (!dl_guard_faulted(s->guard))
        return 0;
    char name[DL_SEG_NAME_LEN + 1];
    struct dl_stat st;
    uint64_t off = dl_guard_fault_off(s->guard);
    dl_seg_name(name, s->first_seq);
    if (dl_stat_fd(s->fd, &st) == 0 && st.size <= off) {
        snprintf(err, errlen, "%s/%s was truncated by someone else while in use (it "
                 "is %llu bytes now; durlog had data up to at least offset %llu); "
                 "run `durlog check %s`", path, name, (unsigned long long)st.size,
                 (unsigned long long)off, path);
        return DURLOG_ECORRUPT;
    }
    snprintf(err, errlen, "%s/%s could not be read or stored into at offset %llu (an "
             "I/O error, or a full file system with no room for a page: of a sparse "
             "file, a copy-on-write file on btrfs, or on tmpfs); run `durlog check %s`",
             path, name, (unsigned long long)off, path);
    return -EIO;
}

/* 1 for a name durlog gives a log's file: the coordination file, a
 * segment, or a segment's name followed by a suffix (".tmp", ".cut-*",
 * ".replaced-*"). */
static int is_log_file(const char *name)
{
    char seg[DL_SEG_NAME_LEN + 1];
    uint64_t first;
    if (strcmp(name, DL_SHM_NAME) == 0)
        return 1;
    if (strlen(name) < DL_SEG_NAME_LEN ||
        (name[DL_SEG_NAME_LEN] != '\0' && name[DL_SEG_NAME_LEN] != '.'))
        return 0;
    memcpy(seg, name, DL_SEG_NAME_LEN);
    seg[DL_SEG_NAME_LEN] = '\0';
    return dl_seg_name_parse(seg, &first) != 0;
}

int dl_dir_content(int dirfd, char *other, size_t other_size)
{
    DIR *d;
    int rc = dl_dir_open(dirfd, &d);
    if (rc)
        return rc;
    int content = DL_DIR_EMPTY;
    struct dirent *de;
    while (content != DL_DIR_LOG && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (is_log_file(de->d_name)) {
            content = DL_DIR_LOG;
        } else if (content == DL_DIR_EMPTY) {
            content = DL_DIR_OTHER;
            snprintf(other, other_size, "%s", de->d_name);
        }
    }
    closedir(d);
    return content;
}

void dl_seg_remove_temps(int dirfd)
{
    DIR *d;
    if (dl_dir_open(dirfd, &d))
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        uint64_t first;
        char name[DL_SEG_NAME_LEN + 1];
        /* Also a side index's temporary ("<segment>.idx.<pid>-<n>.tmp",
         * index.c) that a reader died before renaming. */
        int idx_tmp = len > DL_SEG_NAME_LEN + 5 + strlen(DL_SEG_TMP_SUFFIX) &&
                      strncmp(de->d_name + DL_SEG_NAME_LEN, ".idx.", 5) == 0 &&
                      strcmp(de->d_name + len - strlen(DL_SEG_TMP_SUFFIX),
                             DL_SEG_TMP_SUFFIX) == 0;
        if (!idx_tmp && (len != DL_SEG_NAME_LEN + strlen(DL_SEG_TMP_SUFFIX) ||
                         strcmp(de->d_name + DL_SEG_NAME_LEN, DL_SEG_TMP_SUFFIX) != 0))
            continue;
        memcpy(name, de->d_name, DL_SEG_NAME_LEN);
        name[DL_SEG_NAME_LEN] = '\0';
        if (dl_seg_name_parse(name, &first))
            dl_unlinkat(dirfd, de->d_name);
    }
    closedir(d);
}

int dl_refuse_links(uint64_t nlink, const char *path, const char *name, char *err,
                    size_t errlen)
{
    if (nlink <= 1)
        return 0;
    snprintf(err, errlen, "%s/%s has %llu hard links: a writer never writes through a file "
             "that has other names (a link planted to a file outside the log would be "
             "written over); if the other names are a backup's (cp -al, rsnapshot), copy "
             "the file instead so that the log's file has one name", path, name,
             (unsigned long long)nlink);
    return -EPERM;
}

int dl_open_log_file(int dirfd, const char *path, const char *name, char *err,
                     size_t errlen)
{
    struct dl_stat st;
    int fd = dl_openat(dirfd, name, O_RDWR | O_NOFOLLOW, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s/%s: %s%s", path, name, durlog_strerror(fd),
                 fd == -ELOOP ? " (files of a log must not be symbolic links)" : "");
        return fd;
    }
    int rc = dl_stat_fd(fd, &st);
    if (rc < 0)
        snprintf(err, errlen, "cannot stat %s/%s: %s", path, name, durlog_strerror(rc));
    else if (!S_ISREG(st.mode) && (rc = DURLOG_EFORMAT) != 0)
        snprintf(err, errlen, "%s/%s is not a regular file", path, name);
    else
        rc = dl_refuse_links(st.nlink, path, name, err, errlen);
    if (rc) {
        dl_close(fd);
        return rc;
    }
    return fd;
}

int dl_log_owner_check(uid_t owner, int allowed, const char *path, char *err,
                       size_t errlen)
{
    if (allowed || owner == 0 || geteuid() != 0)
        return 0;
    /* The name, when the user database has one, for the message only. */
    char buf[1024], who[300];
    struct passwd pw, *found = NULL;
    if (getpwuid_r(owner, &pw, buf, sizeof buf, &found) == 0 && found)
        snprintf(who, sizeof who, "user %s (uid %u)", found->pw_name, (unsigned)owner);
    else
        snprintf(who, sizeof who, "uid %u", (unsigned)owner);
    snprintf(err, errlen, "%s belongs to %s, and this writer runs as root: that user can "
             "replace the log's files and write into its %s at any moment, and root would "
             "write through whatever they put there; append as that user, or allow it "
             "(DURLOG_OPEN_ALLOW_FOREIGN_OWNER in durlog_options.flags, `durlog append "
             "--allow-foreign-owner`)", path, who, DL_SHM_NAME);
    return -EPERM;
}

int dl_log_dir_check(int dirfd, const char *path, char *err, size_t errlen)
{
    struct dl_stat st;
    int rc = dl_stat_fd(dirfd, &st);
    if (rc) {
        snprintf(err, errlen, "stat %s: %s", path, durlog_strerror(rc));
        return rc;
    }
    if (st.mode & S_IWOTH) {
        snprintf(err, errlen, "%s is writable by every user (mode %03o): anyone could "
                 "plant or replace its segments; remove that permission (chmod o-w)",
                 path, (unsigned)(st.mode & 07777));
        return -EPERM;
    }
    return 0;
}
