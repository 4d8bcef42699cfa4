/*
 * cursor.h - named cursors inside the library (not public API): what
 * retention asks of them, and what cursor.c asks of the reader.
 *
 * cursor.c holds the cursor files ("cursor.NAME" in the log directory,
 * docs/FORMAT.md) and the public durlog_cursor_* functions (durlog.h).
 */
#ifndef DL_CURSOR_H
#define DL_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "durlog.h"

/* The prefix of every cursor file's name; the cursor's name follows it. */
#define DL_CURSOR_PREFIX "cursor."

/* The lowest committed position over every cursor of the log whose
 * directory is dirfd (UINT64_MAX when it has none): the retention hold, the
 * first record some cursor has not consumed (path, the log's, names files
 * in messages). Trims keep every record at or
 * above it (up to their cap). A cursor file that cannot be read (damaged,
 * of an unknown version, unreadable) fails it, with a message naming the
 * file in err: the caller cannot know what that cursor holds back, so it
 * must not trim on a guess. Errors: -errno of listing the directory or
 * reading a file; DURLOG_ECORRUPT; DURLOG_EFORMAT; -ENOMEM. */
int dl_cursors_floor(int dirfd, const char *path, uint64_t *min_seq, char *err,
                     size_t errlen);

#endif
