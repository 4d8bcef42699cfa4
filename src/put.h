/*
 * put.h - what the files of durlog_put_*() share (not public API).
 *
 * put.c holds the steps of a put (durlog_put.h): the temporary file, the
 * writes, the syncs and the rename. put_path.c finds where a put writes:
 * DEST's directory, opened, and the name in it, walking the path one
 * component at a time under the protected_symlinks rule.
 *
 * The tuning knobs are here because benchmarks and tests turn them: the
 * defaults are what the library ships; bench/bench_put.c sets them to
 * measure each design choice against its alternative, and tests use
 * smaller chunks to see more progress calls.
 */
#ifndef DL_PUT_H
#define DL_PUT_H

#include <stddef.h>
#include <stdint.h>

#include "durlog_put.h"

struct dl_put_tuning {
    size_t chunk;       /* bytes per write/copy call and progress step (8 MiB) */
    uint64_t window;    /* writeback may lag the writes by this much (32 MiB) */
    int pacing;         /* start/await writeback while writing (1) */
    int copy_range;     /* copy a regular file with copy_file_range (1) */
};

extern struct dl_put_tuning dl_put_tuning;

/* Where a put writes. */
struct dl_put_dest {
    int dirfd;          /* DEST's directory, O_RDONLY|O_DIRECTORY: the
                           temporary file, the rename and the directory
                           fsync all go through it */
    char *base;         /* the name in it to replace: never a symbolic
                           link (one was followed), ".", ".." or empty */
    char *dir;          /* the directory, for messages: as the caller
                           wrote it, or where the links led */
};

/* Resolves path (put_path.c). Returns 0 and fills *out (release it with
 * dl_put_dest_free), or a negative errno with a message in errbuf (when
 * there is one); see durlog_put.h for the errors. With no_link_dest, DEST
 * itself being a symbolic link is -ELOOP instead of followed. */
int dl_put_resolve(const char *path, int no_link_dest, struct dl_put_dest *out, char *errbuf,
                   size_t errbuf_size);
void dl_put_dest_free(struct dl_put_dest *d);

/* durlog_put_buffer for durlog's own files in a log directory (the
 * retention settings, cursors): the same, except that DEST itself must not
 * be a symbolic link (-ELOOP, nothing written). Whoever may write the log
 * directory can plant one there; followed, it would make durlog replace a
 * file anywhere (with the log's mode and owner, for the settings). Links on
 * the way to the log directory are followed as in any put. */
int dl_put_buffer_own(const char *path, const void *buf, size_t len,
                      const durlog_put_options *opts);

/* Creates durlog's own file `name` in the log directory dirfd (path
 * dir_path, for messages) holding buf, only if there is none: a file
 * another process made meanwhile is never replaced. Written and fsynced
 * unnamed (O_TMPFILE), then linked under its name (a link, unlike a rename,
 * fails with EEXIST where a file exists), then the directory is fsynced: a
 * crash leaves no file or a whole one. Where the file system has no
 * O_TMPFILE (or there is no /proc to link through) it falls back to
 * dl_put_buffer_own, which replaces. Returns 0; -EEXIST (nothing written,
 * no message); DURLOG_EDIRSYNC (in place, its directory's fsync failed);
 * or another error, with a message in err. */
int dl_create_own_file(int dirfd, const char *dir_path, const char *name, const void *buf,
                       size_t len, char *err, size_t errlen);

#endif
