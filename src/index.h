/*
 * index.h - the sparse index of a segment: where a record of a given
 * number, or the first record of a given time, lies, without walking the
 * segment from its start.
 *
 * It covers the records below the segment's checkpoint (FORMAT.md): all of
 * a sealed segment, and what the last close or recovery checkpointed of the
 * tail. Those records never change: recovery never cuts below a
 * checkpoint. The checkpoint is part of the index's identity, so the tail's
 * index is made again after its checkpoint moves.
 *
 * An index is a cache. It sits in a side file next to its segment
 * ("<segment name>.idx", docs/FORMAT.md), written atomically (temporary +
 * rename) but never synced: when it is missing, damaged, stale (made for
 * another segment of the same name) or lying, it is rebuilt from the
 * records, or built in memory by whoever may not write it. It is never
 * trusted over the records: an entry is used only after the record it names
 * checks (dl_rec_check, at that number) at its offset; any mismatch makes
 * the caller walk from the segment's start, as without an index.
 */
#ifndef DL_INDEX_H
#define DL_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format.h"

struct dl_segmap;

#define DL_IDX_MAGIC "DURLOGIX"          /* 8 bytes, no terminator on disk */
#define DL_IDX_VERSION 1
#define DL_IDX_SUFFIX ".idx"
#define DL_IDX_NAME_LEN (DL_SEG_NAME_LEN + 4) /* "%020llu.seg.idx" */
#define DL_IDX_HEADER_SIZE 64
#define DL_IDX_ENTRY_SIZE 24
#define DL_IDX_TRAILER_SIZE 4            /* CRC32C of everything before it */
/* Bytes of records between two entries: a lookup walks at most about this
 * much (a few pages) past its entry. 64 MiB segments get 2048 entries, a
 * 48 KiB side file. */
#define DL_IDX_STRIDE 32768u
/* Side files bigger than this are refused unread (a hostile size must not
 * make a reader allocate it): 2^20 entries index a segment of 32 GiB. */
#define DL_IDX_MAX_ENTRIES ((uint32_t)1 << 20)

/* Index header fields (offsets into the 64 bytes). */
#define DL_IDXH_MAGIC 0      /* 8  "DURLOGIX" */
#define DL_IDXH_VERSION 8    /* 4  DL_IDX_VERSION */
#define DL_IDXH_COUNT 12     /* 4  number of entries */
#define DL_IDXH_FIRST 16     /* 8  the segment's first_seq */
#define DL_IDXH_END_SEQ 24   /* 8  its checkpoint: ckpt_seq */
#define DL_IDXH_END_OFF 32   /* 8  its checkpoint's offset: ckpt_off */
#define DL_IDXH_CREATED 40   /* 8  its created_ns */
#define DL_IDXH_CAPACITY 48  /* 8  its capacity */
#define DL_IDXH_SEG_CRC 56   /* 4  its header's CRC (bytes 60..63 of it) */
#define DL_IDXH_STRIDE 60    /* 4  DL_IDX_STRIDE when written */
/* Entry fields (offsets into each 24 bytes after the header). */
#define DL_IDXE_SEQ 0        /* 8  a record's number */
#define DL_IDXE_OFF 8        /* 8  its offset in the segment */
#define DL_IDXE_TIME 16      /* 8  its time, ns since the epoch */

/* Which segment an index was made for: fields of its header. An
 * index for another segment of the same name (the log recreated, a segment
 * repaired or restored) differs in at least one of them. */
struct dl_index_id {
    uint64_t first_seq;
    uint64_t end_seq;
    uint64_t end_off;
    uint64_t created_ns;
    uint64_t capacity;
    uint32_t seg_crc;
};

struct dl_index_entry {
    uint64_t seq;
    uint64_t off;
    uint64_t time_ns;
};

struct dl_index {
    struct dl_index_id id;
    uint32_t stride;
    uint32_t count;
    struct dl_index_entry *e; /* malloc'd, count entries */
};

#define DL_INDEX_INIT { { 0, 0, 0, 0, 0, 0 }, 0, 0, NULL }

/* "%020llu.seg.idx" into buf (at least DL_IDX_NAME_LEN + 1 bytes). */
void dl_index_name(char *buf, uint64_t first_seq);

/* The identity of the segment whose header is h: 0, or -EINVAL when it has
 * no checkpoint (nothing of it is known not to change). */
int dl_index_id_of(const struct dl_seg_header *h, struct dl_index_id *id);

/* Builds the index of the segment mapped as m by walking its records below
 * its checkpoint (their structure; each record an entry names is checked
 * whole). Stops at damage: the entries then cover what comes before it. 0,
 * -EINVAL (no checkpoint), -ENOMEM, or -EIO (the mapping faulted). */
int dl_index_build(const struct dl_segmap *m, struct dl_index *out);

/* The file's bytes: *buf malloc'd, *len bytes. 0 or -ENOMEM. */
int dl_index_encode(const struct dl_index *ix, unsigned char **buf, size_t *len);

/* Parses an index file's bytes. With `want`, its identity must be that one.
 * Returns 0 and *out (entries malloc'd), or DURLOG_EFORMAT (not an index, or
 * an unknown version), DURLOG_ECORRUPT (damaged: checksum, sizes, entries out
 * of order or outside the segment), -ESTALE (an index of another segment),
 * -ENOMEM. */
int dl_index_decode(const unsigned char *buf, size_t len, const struct dl_index_id *want,
                    struct dl_index *out);

/* Reads and parses segment first_seq's side file in dirfd (never through a
 * symbolic link, only a regular file, never blocking on a FIFO): the codes
 * of dl_index_decode, or a negative errno (-ENOENT when there is none). */
int dl_index_load(int dirfd, const struct dl_index_id *want, struct dl_index *out);

/* Writes ix as its segment's side file: a temporary file, renamed over the
 * name (never synced: a cache). `mode` its permissions, like the segment's.
 * 0 or a negative errno (-EACCES, -EROFS for a reader that may not write). */
int dl_index_store(int dirfd, const struct dl_index *ix, mode_t mode);

/* By what dl_index_find and dl_index_start look up. */
#define DL_INDEX_BY_SEQ 0   /* the last entry with seq <= key */
#define DL_INDEX_BY_TIME 1  /* the last entry with time_ns < key */

/* The entry to start a walk from (binary search), or -1 when none is
 * before the key (walk from the segment's start). */
long dl_index_find(const struct dl_index *ix, int by, uint64_t key);

/* Where a walk within segment m for `key` may start: the entry dl_index_find
 * gives, once the record there checks as that entry says (its number, and
 * its time). Returns 0 with *pos and *seq set to it; 1 when no entry lies
 * before the key (*pos = 64, *seq = the segment's first record); 2 when the
 * entry's record does not check (the index is wrong: *pos and *seq as for 1,
 * and the caller should rebuild it). */
int dl_index_start(const struct dl_segmap *m, const struct dl_index *ix, int by, uint64_t key,
                   uint64_t *pos, uint64_t *seq);

void dl_index_free(struct dl_index *ix);

#endif
