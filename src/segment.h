/*
 * segment.h - segment files: naming, listing, creating, opening and mapping.
 *
 * A segment is mapped whole (its capacity, from its header) at open, even
 * where the file is still shorter: writers grow the file with dl_allocate
 * before storing past its end, and readers never touch bytes beyond the file
 * size they last saw. Someone else may still shrink the file, and a disk may
 * fail a read: the mapping is guarded (guard.h), and whoever read or stored
 * through it asks dl_seg_faulted before trusting the result.
 */
#ifndef DL_SEGMENT_H
#define DL_SEGMENT_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format.h"

/* Capacities above this are refused as damage: no real segment is that big,
 * and mapping a hostile value must not be attempted. */
#define DL_SEG_MAX_CAPACITY ((uint64_t)1 << 40)

struct dl_segmap {
    uint64_t first_seq;
    int fd;                 /* -1 when closed */
    unsigned char *map;     /* capacity bytes */
    uint64_t capacity;
    uint64_t size;          /* file size when last looked at */
    int writable;
    struct dl_guard *guard;  /* its SIGBUS mark (guard.h), or NULL */
    struct dl_seg_header hdr; /* as read at open (its checkpoint may have
                                 moved since: dl_seg_read_header) */
};

#define DL_SEGMAP_INIT { 0, -1, NULL, 0, 0, 0, NULL, { 0, 0, 0, 0, 0, 0, 0 } }

/* The format of the records in a mapped segment (from its header). */
static inline struct dl_seg_fmt dl_segmap_fmt(const struct dl_segmap *s)
{
    return dl_seg_fmt_of(&s->hdr);
}

/* 1 if bytes [off, off + len) lie inside s's mapping. Offsets that come from
 * the coordination file (which anyone writing the log can change) are
 * checked here, against the mapping this process made, right before a
 * load or store through it. */
static inline int dl_seg_span_ok(const struct dl_segmap *s, uint64_t off, uint64_t len)
{
    return s->map && off <= s->capacity && len <= s->capacity - off;
}

/* Who owns a log's files: the log directory's owner and group. Every file
 * durlog creates in the log gets them (the group always, where the creator
 * may set it; the owner when the creator is root), so that a writer running
 * as root, or as another member of the log's group, never leaves behind a
 * file the log's owner cannot open. */
struct dl_owner {
    uid_t uid;
    gid_t gid;
};

/* Gives a file durlog just created the log's owner and group (see above).
 * Best effort: a caller that may not change them leaves them as they are. */
void dl_take_owner(int fd, const struct dl_owner *owner);

/* The sorted first_seqs of the segment files in the directory. *out is
 * malloc'd (NULL when there are none). */
int dl_seg_list(int dirfd, uint64_t **out, size_t *count);
/* Seeking by time (durlog_reader_seek_time) and retention by age: among
 * the sorted segments segs[0..n), the index of the last one whose time base
 * (header created_ns) is below time_ns, or 0 if none is. Times never
 * decrease in sequence-number order across the log (FORMAT.md "Time"), so a
 * segment's base is at most the time of every record in it and at least
 * that of every record before it: every record before segment *out is
 * below time_ns, and every record from the segment after it on is at or
 * above it; the first record at or above time_ns is in segment *out or is
 * the first of the next. A binary search: O(log n) header reads. A header
 * that cannot be read counts as not below (the search goes to earlier
 * segments, which is never past the answer). */
size_t dl_seg_search_time(int dirfd, const char *path, const uint64_t *segs, size_t n,
                          uint64_t time_ns);
/* Opens directory dirfd for reading its entries, through a descriptor of
 * its own (dirfd keeps its offset and stays open): 0 and *out, for
 * closedir(), or -errno. */
int dl_dir_open(int dirfd, DIR **out);

/* How dl_seg_open and dl_seg_create open a segment: read-only; read-write
 * with a writable mapping (mmap mode's tail: appends store through it); or
 * read-write with a read-only mapping (pwrite mode, and whoever writes
 * with pwrite only). */
#define DL_SEG_READ 0
#define DL_SEG_STORE 1
#define DL_SEG_WRITE 2

/* Opens and maps segment `first_seq` of the log at `path` (used in
 * messages), `writable` one of DL_SEG_READ/STORE/WRITE. Refuses anything but a regular file (O_NOFOLLOW: a symlink
 * fails with -ELOOP), a header that does not verify, or one whose first_seq
 * differs from its name. `err` gets a whole message naming the file
 * ("cannot open LOG/000...seg: Permission denied"). */
int dl_seg_open(int dirfd, const char *path, uint64_t first_seq, int writable,
                struct dl_segmap *out, char *err, size_t errlen);

/* Reads and verifies segment `first_seq`'s header without mapping it (the
 * same checks and messages as dl_seg_open). *size gets the file size when
 * not NULL. */
int dl_seg_read_header(int dirfd, const char *path, uint64_t first_seq,
                       struct dl_seg_header *h, uint64_t *size, char *err,
                       size_t errlen);
/* The same, with what fstat said of the file it read it from (its size
 * and the blocks it occupies: `durlog info` needs both). */
struct dl_stat;
int dl_seg_read_header_stat(int dirfd, const char *path, uint64_t first_seq,
                            struct dl_seg_header *h, struct dl_stat *st, char *err,
                            size_t errlen);

/* Rewrites the header of the segment open as fd (its checkpoint fields):
 * one 64-byte write at offset 0, inside the first 512-byte sector, which a
 * power loss leaves old or new, never torn (the assumption PostgreSQL makes
 * of its control file). The caller makes it durable (fdatasync) and writes
 * only a checkpoint an earlier fdatasync already made true. */
int dl_seg_write_header(int fd, const struct dl_seg_header *h);

/* 1 if `name` in dirfd is (without following links) the file open as fd,
 * 0 if it is another file or no file, or a negative error. A segment
 * replaced (cp + mv) or removed under a writer is caught by this. fd_st,
 * when not NULL, gets fd's own stat (the sync path needs its inode too:
 * one statx the fewer per group commit). */
struct dl_stat;
int dl_seg_is_at(int dirfd, const char *name, int fd, struct dl_stat *fd_st);

/* Creates segment `first_seq` with `capacity`, `alloc` bytes allocated, and
 * its header written (created_ns, the records' time base: base_ns), via a temporary name renamed into place, so that the
 * segment name never refers to a file without a header. Its permissions are
 * exactly `mode` (not narrowed by the umask). Does not sync. It never
 * replaces another file: a segment of that name that exists already fails
 * it with -EEXIST, unless it is the file of inode `replace_ino` (an
 * empty tail a roll replaces with a bigger one; 0: none may be there). */
int dl_seg_create(int dirfd, const char *path, uint64_t first_seq, int writable,
                  uint64_t replace_ino, uint64_t capacity, uint64_t alloc, uint64_t base_ns,
                  mode_t mode, const struct dl_owner *owner, struct dl_segmap *out,
                  char *err, size_t errlen);

/* 0 if no access through s's mapping has faulted since it was mapped.
 * Otherwise a message in err naming the file and what happened, and
 * DURLOG_ECORRUPT when it was truncated under us (to how many bytes), or
 * -EIO when a page could not be read (or, sparse, allocated). */
int dl_seg_faulted(const struct dl_segmap *s, const char *path, char *err, size_t errlen);

/* Re-reads the file size. */
int dl_seg_refresh_size(struct dl_segmap *s);

void dl_seg_close(struct dl_segmap *s);

/* Refuses (-EPERM, with a message) a log directory every user may write to:
 * anyone could plant or replace its segment files. */
int dl_log_dir_check(int dirfd, const char *path, char *err, size_t errlen);

/* What a directory about to be opened as a log holds (dl_dir_content). */
enum dl_dir_content {
    DL_DIR_EMPTY = 0, /* nothing: a new log may go there */
    DL_DIR_LOG = 1,   /* the log's own files: a segment, the coordination
                         file, or a file durlog names after a segment (side
                         files, a segment being created) */
    DL_DIR_OTHER = 2, /* other files, and none of the log's */
};
/* Looks at directory dirfd's entries: an enum dl_dir_content (with
 * DL_DIR_OTHER, one of the other names in `other`), or -errno. */
int dl_dir_content(int dirfd, char *other, size_t other_size);
/* Refuses (-EPERM, with a message naming the owner and how to allow it) a
 * log directory owned by another user than root when this process runs as
 * root (effective uid 0) and the caller did not allow it: that user can
 * replace the log's files and write its coordination file at any moment,
 * and root would write through whatever they put there. `owner` is the
 * directory's owner. */
int dl_log_owner_check(uid_t owner, int allowed, const char *path, char *err,
                       size_t errlen);

/* Refuses (-EPERM, with a message naming the file and its link count) a
 * file of the log that has more than one hard link, before anything writes
 * through it: a link planted in the log directory to a file elsewhere
 * (/etc/shadow, another user's data) would be written over. Readers may read
 * such files; every writer, recovery and repair opens files it writes
 * through dl_open_log_file, or checks them here. */
int dl_refuse_links(uint64_t nlink, const char *path, const char *name, char *err,
                    size_t errlen);

/* Opens file `name` of the log read-write to write into it: never through
 * a symbolic link (-ELOOP), only a regular file (DURLOG_EFORMAT), with one
 * hard link (dl_refuse_links). Returns the descriptor, or a negative error
 * with a message naming the file. */
int dl_open_log_file(int dirfd, const char *path, const char *name, char *err,
                     size_t errlen);

/* Temporary name used while creating a segment. */
#define DL_SEG_TMP_SUFFIX ".tmp"



/* Removes "<segment>.tmp" files a creator left when it died. Call only with
 * the append lock or the exclusive open lock held. */
void dl_seg_remove_temps(int dirfd);
#endif
