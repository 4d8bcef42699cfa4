/*
 * segment.h - segment files: naming, listing, creating, opening and mapping.
 *
 * A segment is mapped whole (its capacity, from its header) at open, even
 * where the file is still shorter: writers grow the file with dl_allocate
 * before storing past its end, and readers never touch bytes beyond the file
 * size they last saw, so no access can raise SIGBUS.
 */
#ifndef DL_SEGMENT_H
#define DL_SEGMENT_H

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
};

#define DL_SEGMAP_INIT { 0, -1, NULL, 0, 0, 0 }

/* The sorted first_seqs of the segment files in the directory. *out is
 * malloc'd (NULL when there are none). */
int dl_seg_list(int dirfd, uint64_t **out, size_t *count);

/* Opens and maps segment `first_seq`. Refuses anything but a regular file
 * (O_NOFOLLOW: a symlink fails with -ELOOP), a header that does not verify,
 * or one whose first_seq differs from its name. `err` gets a message. */
int dl_seg_open(int dirfd, uint64_t first_seq, int writable,
                struct dl_segmap *out, char *err, size_t errlen);

/* Creates segment `first_seq` with `capacity`, `alloc` bytes allocated, and
 * its header written, via a temporary name renamed into place, so that the
 * segment name never refers to a file without a header. Its permissions are
 * exactly `mode` (not narrowed by the umask). Does not sync. */
int dl_seg_create(int dirfd, uint64_t first_seq, uint64_t capacity,
                  uint64_t alloc, mode_t mode, struct dl_segmap *out,
                  char *err, size_t errlen);

/* Re-reads the file size. */
int dl_seg_refresh_size(struct dl_segmap *s);

void dl_seg_close(struct dl_segmap *s);

/* Refuses (-EPERM, with a message) a log directory every user may write to:
 * anyone could plant or replace its segment files. */
int dl_log_dir_check(int dirfd, const char *path, char *err, size_t errlen);

/* Temporary name used while creating a segment. */
#define DL_SEG_TMP_SUFFIX ".tmp"



/* Removes "<segment>.tmp" files a creator left when it died. Call only with
 * the append lock or the exclusive open lock held. */
void dl_seg_remove_temps(int dirfd);
#endif
