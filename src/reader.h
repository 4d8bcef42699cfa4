/*
 * reader.h - what other files of the library may ask of a reader beyond
 * the public API (reader.c): where it stands, its directory, and setting
 * its error message. Cursors (cursor.c) and retention (retention.c) build
 * on readers; readers call neither, so that no two files call each other
 * (scripts/callcycles.sh).
 */
#ifndef DL_READER_H
#define DL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "durlog.h"

/* Where the reader stands: the first record of the segment it reads and
 * the offset of its next record in it. -ENOENT when it stands in no
 * segment (an empty log). */
int dl_reader_where(const durlog_reader *r, uint64_t *seg_first, uint64_t *offset);

/* The log directory the reader has open, and the path it was opened by
 * (for messages). */
int dl_reader_dirfd(const durlog_reader *r);
const char *dl_reader_path(const durlog_reader *r);

/* The reader's message buffer (durlog_reader_errmsg), for a function that
 * reports into it, and its size. */
char *dl_reader_errbuf(durlog_reader *r, size_t *size);

/* Sets the reader's message (durlog_reader_errmsg) and returns rc. */
int dl_reader_fail(durlog_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
