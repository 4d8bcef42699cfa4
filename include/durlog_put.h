/*
 * durlog_put.h - whole files replaced safely (the `durlog put` command).
 *
 * Part of libdurlog's public API; <durlog.h> includes it, and it includes
 * <durlog.h> (for durlog_strerror() and the DURLOG_E* codes), so either
 * header gives both. Whole-file writes share nothing with logs but the
 * library's conventions: 0 or a negative code, durlog_strerror() for its
 * text, a detailed message (the step that failed, and why) in the errbuf
 * the caller provides and, always, in durlog_last_errmsg(). man 3
 * durlog_put describes the same functions.
 *
 * durlog_put_* replace the file at a path with new content so that, after a
 * crash or power loss at any moment, the path holds either the complete old
 * content or the complete new content: never a mix, a truncated file or an
 * empty one. The steps: write into an unnamed temporary file in the
 * destination's directory (O_TMPFILE; a named ".durlog-put.*" file locked
 * with flock where that is unavailable), fsync it, give it a temporary name,
 * rename that over the destination, fsync the directory. Only then does the
 * call report success; the new content is then on stable storage.
 *
 * A write of any size is complete: the write-all loop handles short writes,
 * EINTR and the kernel's cap of about 2 GiB per write() call. On failure the
 * destination is untouched and no temporary file is left behind; the
 * message in errbuf says which step failed. One failure comes after the
 * rename and has a code of its own, DURLOG_EDIRSYNC: the new content is in
 * place, complete, but the fsync of the directory failed, so its name might
 * not survive a power loss.
 *
 * A temporary file has a name (".durlog-put." and 16 hex digits) only
 * between its link and the rename, or, in the named fallback, for the whole
 * put. One left behind by a killed process is removed by the next put into
 * that directory; one a live put holds (flock) is never touched.
 *
 * The destination: a missing file is created (mode 0666 less the umask); an
 * existing regular file keeps its permission bits and, where the caller may
 * set them (root, or its own file), its owner and group. A directory or any
 * other kind of file is refused, and so is a name starting with
 * ".durlog-put.", and a file mounted over DEST (-EBUSY: no rename can
 * replace it; refused before anything is written). Being a new file, the
 * result is not shared with hard links to the old one, and a read-only file
 * in a writable directory is replaced like any other (as with rename(2)).
 * Extended attributes and ACLs are not copied. Concurrent puts to one path
 * are safe: each is complete, the last rename wins.
 *
 * Symbolic links, in DEST's directories or as DEST itself, are followed the
 * way the kernel's fs.protected_symlinks rule allows (whether or not that
 * sysctl is on): a link in a sticky, world-writable directory such as /tmp
 * is followed only if the caller (its effective uid) or the directory's
 * owner owns it; any other is refused with -EACCES, so that another user
 * cannot plant /tmp/out -> /etc/shadow and have root replace /etc/shadow.
 * The path is walked one component at a time, each link checked where it
 * is met, and the directory reached is the one written: nothing can swap a
 * link in between the check and the rename. A link DEST is kept and the
 * file it names replaced; a link to a file that does not exist is refused
 * (-ENOENT) rather than written through. More than 40 links: -ELOOP.
 *
 * Writeback is started while writing (sync_file_range) so that dirty pages
 * stay bounded and the final fsync is short. An I/O error it reports fails
 * the put at once: waiting for writeback consumes the error, so the fsync
 * after it could no longer report it.
 *
 * Errors common to every function that takes a path (begin, buffer, fd):
 *   -EINVAL   path NULL or empty; unknown bits in opts->flags; a reserved
 *             field not zero; DEST not a regular file (a FIFO, a device,
 *             a socket); DEST's name starts with ".durlog-put."
 *   -EISDIR   DEST is a directory, or the path ends in "/", "." or ".."
 *   -ENOENT   a directory on the way does not exist, or DEST is a
 *             symbolic link to a file that does not exist
 *   -ENOTDIR  a component on the way is not a directory
 *   -EACCES   no permission to search or write a directory on the way, or
 *             a symbolic link the protected_symlinks rule refuses
 *   -ELOOP    more than 40 symbolic links
 *   -ENAMETOOLONG, -ENOMEM, -EMFILE  as open(2)
 *   -EBUSY    a file is mounted over DEST
 *   -EPERM    DURLOG_PUT_SET_OWNER with an owner the caller may not give
 *   -ENOSPC, -EDQUOT  no room for the data (with a known size, before
 *             anything is written)
 *   -EFBIG    durlog_put_begin: size_hint above the largest file the
 *             destination's file system allows
 *   -EIO      the disk failed a write, writeback or fsync
 *   -ECANCELED  the progress callback asked to stop
 * and every one of them leaves DEST untouched; DURLOG_EDIRSYNC leaves it
 * replaced.
 */
#ifndef DURLOG_PUT_H
#define DURLOG_PUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "durlog.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

typedef struct durlog_put durlog_put;

/* Total of a put whose size is not known in advance (a pipe). */
#define DURLOG_SIZE_UNKNOWN UINT64_MAX

/* Progress: `done` bytes written so far of `total` (DURLOG_SIZE_UNKNOWN when
 * not known). Called with done = 0 at the start, after each chunk (at most
 * 8 MiB apart), and a last time with done == total once every byte is
 * written, before the sync; done never decreases. Return nonzero to cancel:
 * the put then fails with -ECANCELED and leaves the destination untouched. */
typedef int (*durlog_progress_fn)(uint64_t done, uint64_t total, void *arg);

enum durlog_put_flags {
    DURLOG_PUT_NO_SYNC = 1,   /* skip the fsyncs of file and directory: much
                                 faster, and NOT crash-safe: after a power
                                 loss the path may hold an empty or partial
                                 file (a process crash is still safe) */
    DURLOG_PUT_SET_MODE = 2,  /* permission bits are exactly `mode` */
    DURLOG_PUT_SET_OWNER = 4, /* owner and group are `uid`, `gid` (-1 keeps
                                 one); failing to set them fails the put */
};

/* Options of a put. A zero-filled struct (`durlog_put_options o = {0};`)
 * means the defaults for every field, as does durlog_put_options_init(),
 * which also sets uid and gid to -1 (so that DURLOG_PUT_SET_OWNER with
 * only one of them set keeps the other). Fields added in later versions
 * take the place of `reserved`, whose zero means their default; a put
 * refuses (-EINVAL) a struct whose reserved fields are not zero. */
typedef struct durlog_put_options {
    unsigned flags;           /* durlog_put_flags; other bits: -EINVAL */
    mode_t mode;              /* with DURLOG_PUT_SET_MODE */
    uid_t uid;                /* with DURLOG_PUT_SET_OWNER */
    gid_t gid;
    uint64_t size_hint;       /* durlog_put_begin: expected size (progress
                                 total, space reserved up front); 0 or
                                 DURLOG_SIZE_UNKNOWN: not known */
    durlog_progress_fn progress; /* optional */
    void *progress_arg;
    char *errbuf;             /* optional: detailed message on failure
                                 (durlog_last_errmsg() has it too) */
    size_t errbuf_size;
    uint64_t reserved[DURLOG_RESERVED_WORDS]; /* must be zero (durlog.h) */
} durlog_put_options;

/* Sets *opts to the defaults (see durlog_put_options). */
void durlog_put_options_init(durlog_put_options *opts);

/* Writes len bytes from buf as the new content of path. opts may be NULL
 * (the defaults); its size_hint is ignored (the size is len).
 * Returns 0, or the errors listed at the top of this file, or -EINVAL for
 * buf NULL with len > 0, or DURLOG_EDIRSYNC. */
int durlog_put_buffer(const char *path, const void *buf, size_t len,
                      const durlog_put_options *opts);

/* Writes everything src_fd yields from its current offset to its end (a
 * file, pipe or socket) as the new content of path. For a regular file the
 * copy happens inside the kernel (copy_file_range) where it can, and the
 * total is its size; for a pipe it is opts->size_hint.
 * Returns 0, or the errors listed at the top of this file, or -EBADF
 * (src_fd is not an open descriptor), an error reading the source (-EIO,
 * ...; the message says "read of the source"), or DURLOG_EDIRSYNC. */
int durlog_put_fd(const char *path, int src_fd, const durlog_put_options *opts);

/* A stream of chunks: begin, write any number of times, then commit (which
 * makes the content durable and replaces path) or abort (which leaves path
 * untouched). Both free the handle. After a failed write the handle can only
 * be aborted, or committed to get the same error back. One thread at a time.
 *
 * durlog_put_begin: resolves path, creates the temporary file, sets its mode
 * and owner, reserves size_hint bytes. Returns 0 and *out, or the errors
 * listed at the top of this file (-EINVAL also for out NULL).
 *
 * durlog_put_write: returns 0, or -EINVAL (p NULL, or buf NULL with len >
 * 0), -ENOSPC, -EDQUOT, -EIO (a write, or writeback), -ECANCELED, or the
 * error of an earlier failed write of this handle.
 *
 * durlog_put_commit: returns 0 once the new content is on stable storage
 * under path; or -EINVAL (p NULL), the error of an earlier failed write,
 * -ECANCELED, -EIO, -ENOSPC or -EDQUOT (the fsync of the new file failed;
 * nothing replaced), an error of the rename (-EBUSY, -EXDEV, -EACCES ...;
 * nothing replaced); or DURLOG_EDIRSYNC: the new content is in place,
 * complete, but the fsync of its directory failed, so after a power loss
 * the path may hold the old content again. */
int durlog_put_begin(const char *path, const durlog_put_options *opts,
                     durlog_put **out);
int durlog_put_write(durlog_put *p, const void *buf, size_t len);
int durlog_put_commit(durlog_put *p);
void durlog_put_abort(durlog_put *p);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* DURLOG_PUT_H */
