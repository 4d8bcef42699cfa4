/*
 * cut.h - cutting records out of a log without throwing them away.
 *
 * Recovery (a torn tail after a crash) and `durlog check --repair` are the
 * only places that remove bytes from a log, and both go through here: the
 * bytes are first saved, durably, in a side file next to the segment
 * ("<segment>.cut-<offset>", or "<segment>.cut-0" for a whole segment moved
 * aside), so that an operator can always look at what was cut and nothing a
 * writer once acknowledged can vanish without a trace. A name already taken
 * by an earlier cut gets a ".<n>" suffix: side files are never overwritten.
 * Readers and writers ignore side files (docs/FORMAT.md). The same goes for
 * a segment someone replaced or removed while a writer had it open: the
 * writer that finds out saves the old file it still holds
 * ("<segment>.replaced-<inode>").
 */
#ifndef DL_CUT_H
#define DL_CUT_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

/* Longest side file name: a segment name, ".cut-", 20 digits, ".", 10. */
#define DL_SIDE_NAME_MAX (DL_SEG_NAME_LEN + 40)

/* Saves bytes [off, end) of segment `name` in a new side file (fsynced),
 * then zeroes them in the segment and fdatasyncs it, so that the segment
 * ends cleanly at `off`. `side` gets the side file's name. The caller
 * fsyncs the directory (the side file's name). Returns 0 or an error with
 * a message in err. */
int dl_cut_range(int dirfd, const char *path, const char *name, uint64_t off,
                 uint64_t end, const struct dl_owner *owner,
                 char side[DL_SIDE_NAME_MAX], char *err, size_t errlen);

/* Moves segment `name` aside, whole, by renaming it to a side file
 * "<name>.cut-0". The caller fsyncs the directory. */
int dl_cut_whole(int dirfd, const char *path, const char *name,
                 char side[DL_SIDE_NAME_MAX], char *err, size_t errlen);

/* Saves the whole file open as fd, which was segment `name` until someone
 * replaced or removed it under a writer, as "<name>.replaced-<inode>": the
 * records writers stored into it since are nowhere else. Returns 1 (and
 * does nothing) if another writer holding the same file saved it already:
 * that name, or "<name>.replaced-<inode>.<n>", holds the same bytes. A side
 * file of that name with other bytes (an older file that had the same inode
 * number: numbers are reused) is left alone, and the first free ".<n>" is
 * used. */
int dl_save_orphan(int dirfd, const char *path, const char *name, int fd,
                   const struct dl_owner *owner, char side[DL_SIDE_NAME_MAX],
                   char *err, size_t errlen);

/* How many side files the log directory holds (for `durlog check`). */
int dl_count_side_files(int dirfd, uint64_t *count);

#endif
