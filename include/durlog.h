/*
 * durlog.h - fast, safe, append-only logs of records on Linux.
 *
 * This is libdurlog's public header, for logs; whole-file writes
 * (durlog_put_*) have their own, durlog_put.h, which this one includes.
 * Every guarantee the library makes is stated in these two headers, next
 * to the function or option that gives it;
 * docs/GUARANTEES.md expands them and names the tests that prove them, and
 * docs/FORMAT.md describes the bytes on disk.
 *
 * A log is a directory. Records live in segment files inside it
 * ("00000000000000000000.seg", named by the sequence number of their first
 * record so that `ls` sorts them in log order), next to a small coordination
 * file ("durlog.shm") that writers map to share a lock and the log's tail.
 *
 * Conventions:
 *  - Every function that can fail returns 0 (or a count) on success and a
 *    negative error code on failure: either a negated errno value (-EIO,
 *    -ENOSPC, ...) or one of the DURLOG_E* codes below. durlog_strerror()
 *    turns any of them into text. There is no global state: no errno to
 *    consult, no library-wide initialisation.
 *  - durlog_errmsg() gives a longer message for the last failure on a handle,
 *    naming the file, byte offset and operation (e.g. "fdatasync of
 *    log/00000000000000000000.seg: Input/output error").
 *  - Handles are opaque. A writer handle (durlog *) may be shared by any
 *    number of threads. A reader handle (durlog_reader *) belongs to one
 *    thread at a time (durlog_reader_interrupt excepted). A handle belongs
 *    to the process that opened it: after fork() the child must not use (or
 *    close) its parent's writer handles, whose background threads did not
 *    follow it; it opens its own.
 *  - Closing a handle while another thread still uses it (or is blocked in
 *    it) is undefined: the handle's memory is gone. To stop a thread
 *    blocked in durlog_wait(), durlog_poll() or durlog_reader_wait(): have
 *    it stop, durlog_interrupt() (durlog_reader_interrupt()) the handle,
 *    join the thread, then close.
 *  - A NULL handle is -EINVAL for every function that returns a code (and
 *    so is a NULL pointer where a result must go); functions that return
 *    nothing do nothing, those that return a string return a static one.
 *  - Timeouts are in milliseconds: 0 looks once and never sleeps, -1 means
 *    no limit; any other negative value is -EINVAL.
 *  - Sequence numbers are dense: the first record of a new log is 0 and each
 *    record gets the next number, across all writers of the log. They are
 *    below 2^63.
 */
#ifndef DURLOG_H
#define DURLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's public ABI; all else is hidden. */
#pragma GCC visibility push(default)

#define DURLOG_VERSION_MAJOR 0
#define DURLOG_VERSION_MINOR 2
#define DURLOG_VERSION_PATCH 0

/* The version of the library the program runs with, "MAJOR.MINOR.PATCH"
 * (e.g. "0.1.0"). Compare it with the DURLOG_VERSION_* macros above, which
 * are the version of the header the program was compiled with, to detect a
 * header/library mismatch. The string is static: never free it. */
const char *durlog_version(void);

/* The largest payload one record may carry: 64 MiB. A larger append fails
 * with -EMSGSIZE and writes nothing. Zero-length records are allowed. */
#define DURLOG_MAX_RECORD ((size_t)64 << 20)

/* Default segment size: a segment rolls over to a new file once the next
 * record would not fit. A record larger than the segment size gets a segment
 * of its own, sized to fit it. */
#define DURLOG_DEFAULT_SEGMENT_SIZE ((uint64_t)64 << 20)

/* Default delay for the `interval` level, in milliseconds. */
#define DURLOG_DEFAULT_INTERVAL_MS 1000

/* Returned through a sequence-number out-parameter when the number is not
 * known yet: `buffered` records get theirs when they are flushed. */
#define DURLOG_SEQ_PENDING UINT64_MAX

/* ---------------------------------------------------------------------------
 * Error codes. One condition has one code. What errno already names is a
 * negated errno value: -EINVAL (a bad argument or option, a NULL handle),
 * -EMSGSIZE (a record above DURLOG_MAX_RECORD), -EBUSY (the log is in use),
 * -ETIMEDOUT (a wait ran out), -EINTR (a wait was interrupted by
 * durlog_interrupt), -EDEADLK (a call that would wait for itself, as
 * durlog_poll from inside a completion callback), -EIO, -ENOSPC, ... The
 * codes below are durlog's own,
 * for states of a log and outcomes errno has no name for; all are below
 * -1000 so that they never collide with errno. (Codes -1002, -1005, -1007
 * and -1008 were durlog's names for EMSGSIZE, EINVAL, EBUSY and ETIMEDOUT
 * before version 0.2 and are never returned.)
 */
enum durlog_error {
    DURLOG_OK = 0,
    DURLOG_ECORRUPT = -1001, /* a record or segment failed its checksum or
                                framing before the tail; see durlog_errmsg()
                                for segment and offset; run `durlog check` */
    DURLOG_EFORMAT = -1003,  /* not a durlog log, or a format version this
                                library does not read */
    DURLOG_EFAILED = -1004,  /* the log is in the failed state after an
                                fdatasync error, or because one of its
                                files was replaced or overwritten while it
                                was open; close and reopen it */
    DURLOG_EEND = -1006,     /* reader: no further record yet (not an error:
                                the reader is at the current end) */
    DURLOG_ENOTFOUND = -1009,/* seek: that sequence number is not in the log
                                (after its last record; below its first:
                                DURLOG_ETRIMMED) */
    DURLOG_EDIRSYNC = -1010, /* put: the new content is in place, complete,
                                but the fsync of its directory failed: the
                                new name might not survive a power loss */
    DURLOG_ENOTDURABLE = -1011, /* append: the record WAS appended (*seq_out
                                is set, readers see it) but is not known to
                                have reached the level asked: its sync could
                                not be set up (descriptors or memory ran
                                out), or failed. Do not append it again:
                                durlog_wait() or durlog_flush() retries the
                                sync, unless the log is now in the failed
                                state (then they return DURLOG_EFAILED).
                                Every other error of an append means
                                nothing was appended. */
    DURLOG_ETRIMMED = -1012, /* reader, seek, cursor: the record asked for
                                was removed by retention or a trim (it is
                                below the log's first record, which
                                durlog_reader_get_info reports); seek to
                                the first record to go on, knowingly */
};

/* Text for any code returned by this library (durlog's own or -errno). The
 * string is static; never free it. */
const char *durlog_strerror(int err);

/* The detailed message (file, offset, step) of the calling thread's last
 * failed call among those that have no handle to keep one: durlog_open(),
 * durlog_close() (the handle is gone), durlog_reader_open(), durlog_check()
 * and the put functions. Set whether
 * or not the call was given an errbuf; "no error" before any failure. The
 * string is the thread's own, valid until its next such call fails. */
const char *durlog_last_errmsg(void);

/* ---------------------------------------------------------------------------
 * Durability levels. Each append names one; it says what is true when the
 * append call returns.
 */
typedef enum durlog_level {
    /* Not a level of its own: the handle's default level
     * (durlog_options.default_level, itself DURLOG_KERNEL unless set), so
     * that a zero-filled argument or option never means the weakest level
     * by accident. */
    DURLOG_DEFAULT = 0,

    /* In this process's memory only. Fastest. Lost if the process dies;
     * invisible to readers (in this process or any other) until flushed by
     * durlog_flush(), a later append at another level from the same handle,
     * a full buffer, or durlog_close(). The sequence number is assigned at
     * flush time (the append reports DURLOG_SEQ_PENDING); the records of one
     * call get consecutive numbers. A call whose records exceed buffer_size
     * is handed to the kernel at once, like a full buffer, and reports its
     * sequence number. */
    DURLOG_BUFFERED = 1,

    /* Handed to the kernel (stored into the page cache through a shared
     * mapping) before the call returns. Survives the process being killed,
     * even with SIGKILL; visible at once to readers in any process. Lost on
     * power loss or kernel crash unless a later sync covered it. */
    DURLOG_KERNEL = 2,

    /* As DURLOG_KERNEL, and an fdatasync at most interval_ms later (run by a
     * background thread, never by the appending thread) makes it durable:
     * on power loss, at most about interval_ms of records are lost. */
    DURLOG_INTERVAL = 3,

    /* The call returns only once the record, and every record before it in
     * the log, is on stable storage: fdatasync of its segment (and of any
     * earlier segment still holding unsynced records) has returned success,
     * and the directory has been fsynced if the segment is new. Survives
     * power loss, assuming the disk honours flush requests. Concurrent sync
     * appends share fdatasync calls (group commit). */
    DURLOG_SYNC = 4,
} durlog_level;

/* "buffered", "kernel", "interval", "sync" ("default" for DURLOG_DEFAULT),
 * or NULL for a bad value. */
const char *durlog_level_name(durlog_level level);
/* Parses one of the names above but "default" (which names no level of its
 * own); returns 0 and sets *out.
 * Errors: -EINVAL (unknown name, NULL argument; *out unchanged). */
int durlog_level_parse(const char *name, durlog_level *out);

/* ---------------------------------------------------------------------------
 * Opening a log for writing.
 */
typedef struct durlog durlog;

/* The engine behind the background work of a handle: the `interval`
 * fdatasyncs and the completions of asynchronous appends. Both give the same
 * guarantees; they differ only in how the fdatasyncs are issued. */
typedef enum durlog_engine_kind {
    DURLOG_ENGINE_AUTO = 0,     /* io_uring where the kernel allows it, else
                                   the thread; the environment variable
                                   DURLOG_ENGINE=io_uring|thread overrides */
    DURLOG_ENGINE_IO_URING = 1, /* io_uring (liburing); durlog_open() fails
                                   if the kernel refuses it (old kernel,
                                   kernel.io_uring_disabled, seccomp) */
    DURLOG_ENGINE_THREAD = 2,   /* a thread calling fdatasync() */
} durlog_engine_kind;

/* How a writer puts records into the tail segment's file. Both give every
 * guarantee of the levels (and work with the same readers); they differ in
 * what they ask of the file system.
 *  - mmap: stores through a shared writable mapping: a `kernel` append costs
 *    a copy, no system call. Safe where the kernel's page cache is the file
 *    (ext4, xfs, btrfs, tmpfs).
 *  - pwrite: one pwrite() per append (one per batch): for file systems that
 *    may not keep a shared writable mapping coherent with the file, or
 *    write it back in their own time (FUSE, NFS, SMB/CIFS, 9p, Ceph).
 * All writers of a log use the same mode at a time: a handle left on `auto`
 * takes the mode of the writers that have the log open; durlog_open()
 * refuses a handle that asked for the other one (-EBUSY, with a
 * message). */
typedef enum durlog_io_mode {
    DURLOG_IO_AUTO = 0,     /* mmap on ext4, xfs, btrfs and tmpfs, pwrite on
                               any other file system; the environment
                               variable DURLOG_IO=mmap|pwrite|auto overrides */
    DURLOG_IO_MMAP = 1,
    DURLOG_IO_PWRITE = 2,
} durlog_io_mode;

/* Growing structs. Every struct the caller allocates and the library reads
 * or fills (the options, durlog_recovery, durlog_info, the check report)
 * ends in reserved space: fields a later 0.x or 1.x release adds are carved
 * out of it, so the struct's size never changes within a major version and
 * a program built against this header keeps working with a newer library.
 * Reserved space rather than a size field because a zero-filled options
 * struct must be valid as it is (a size field would have to be set first);
 * the library checks that an options struct's reserved space is zero
 * (-EINVAL otherwise), so that a field added later is certain to read as 0,
 * "the default", in a program that never heard of it. Structs the library
 * fills are zeroed whole, reserved space included, before it writes them. */
#define DURLOG_RESERVED_WORDS 8

/* Options for durlog_open(). A zero-filled struct (`durlog_options o = {0}`,
 * memset, or durlog_options_init()) means the defaults for every field; set
 * what you need. */
typedef struct durlog_options {
    durlog_level default_level; /* used by durlog_append_default() and by
                                   DURLOG_DEFAULT; 0 (DURLOG_DEFAULT) means
                                   DURLOG_KERNEL */
    uint64_t segment_size;      /* bytes; default 64 MiB; minimum 4 KiB.
                                   Applies to segments this handle creates. */
    uint32_t interval_ms;       /* for DURLOG_INTERVAL; default 1000 */
    mode_t mode;                /* permissions of a log this handle creates
                                   (narrowed by the umask); default 0644.
                                   The directory gets these plus an execute
                                   bit wherever a read bit is set, less
                                   write for others (a directory every user
                                   may write to is refused). Segments
                                   any writer creates later get the log's
                                   permissions (its coordination file's),
                                   whatever that writer's mode and umask. */
    int no_create;              /* nonzero: open an existing log only:
                                   -ENOENT if there is no directory at path,
                                   DURLOG_EFORMAT if it holds no log (it is
                                   left untouched). Default 0: create the
                                   log if there is none (see durlog_open) */
    size_t buffer_size;         /* bytes of DURLOG_BUFFERED records held in
                                   memory before an automatic flush;
                                   default 64 KiB, at least 4 KiB (smaller
                                   is raised), at most 1 GiB (-EINVAL) */
    char *errbuf;               /* optional: on failure, durlog_open()
                                   writes a detailed message here */
    size_t errbuf_size;

    /* Asynchronous appends (see "Asynchronous appends" below). */
    durlog_engine_kind engine;  /* who runs the background fdatasyncs;
                                   default DURLOG_ENGINE_AUTO */
    int poll_callbacks;         /* nonzero: completion callbacks run only
                                   inside durlog_poll(), on its caller's
                                   thread (for event loops); zero: on the
                                   handle's engine thread */
    size_t max_pending;         /* completions queued (not yet taken
                                   for delivery) before
                                   durlog_append_async() waits (or, with
                                   poll_callbacks, fails with -EAGAIN);
                                   rounded up to a power of two; default
                                   65536, at most 2^26 */
    durlog_io_mode io_mode;     /* how appends reach the file; default
                                   DURLOG_IO_AUTO */
    uint64_t flags;             /* DURLOG_OPEN_* bits or'ed together
                                   (default 0: none); a bit this library
                                   does not know is refused (-EINVAL) */
    uint64_t reserved[DURLOG_RESERVED_WORDS - 1]; /* must be zero */
} durlog_options;

/* durlog_options.flags. One word of yes/no options, carved out of the
 * reserved space, holds 64 of them: each needs no word of its own. */
/* Lets a writer running as root (effective uid 0) open a log whose
 * directory another user owns. Without it that open fails with -EPERM:
 * that user can replace the log's files and write its coordination file at
 * any moment, and root would write through whatever they put there. With
 * it, files root creates in the log are given to the directory's owner, so
 * that the owner's own writers can open them. */
#define DURLOG_OPEN_ALLOW_FOREIGN_OWNER ((uint64_t)1 << 0)

/* Zero-fills *opts: every field its default. */
void durlog_options_init(durlog_options *opts);

/* What durlog_open() found and repaired. Recovery never deletes what it
 * cuts: the bytes cut from a segment are kept in a side file next to it
 * ("<segment>.cut-<offset>"), and whole segments after the cut are renamed
 * to "<segment>.cut-0" (a ".<n>" suffix when the name is taken). */
typedef struct durlog_recovery {
    int performed;          /* 1 if this open rebuilt the log's state (it
                               was the first writer to open the log) */
    uint64_t bytes_cut;     /* bytes of torn or unsynced tail cut */
    uint64_t segments_removed; /* whole segments moved aside after a gap
                                  that a power loss left (never synced
                                  records) */
    char segment[64];       /* file name of the first segment cut, or "" */
    uint64_t offset;        /* byte offset where the valid data now ends in
                               that segment */
    char side_file[64];     /* the first side file holding what was cut
                               (in the log directory), or "" */
    uint64_t reserved[DURLOG_RESERVED_WORDS];
} durlog_recovery;

/* Opens (and, unless opts->no_create, creates) the log in directory
 * `path`. opts may be NULL for the defaults. On success *out is a handle to
 * pass to durlog_close().
 *
 * Creating: a missing directory is created, and an empty one becomes the
 * log. An existing directory that holds other files and none of a log's
 * (no segment, no coordination file) is refused with DURLOG_EFORMAT and left
 * untouched, so that a mistyped path ($HOME, a project directory) never
 * turns into a log: a log needs a directory of its own. Files a user puts
 * next to a log's segments later do not matter.
 *
 * The first writer to open a log rebuilds its state from the segments. It
 * reads only what lies after the log's persisted durable point: the
 * checkpoint in a segment's header, written once an fdatasync has made the
 * records before it durable - when a rolled segment is sealed (in the
 * background, soon after the roll), when the last writer closes the log,
 * and after a recovery. So the work does not grow with the log, and nothing
 * below that point is ever cut: damage there is reported by readers and
 * `durlog check`, where it is. After the point, a torn last record (partial,
 * or failing its checksum) and any unsynced debris after it are cut, into a
 * side file (see durlog_recovery), and durlog_last_recovery() reports it.
 * Damage followed by good records is cut only when it is what a power loss
 * leaves: after a reboot (the coordination file is from another boot, or
 * missing), and when no later record vouches that the damaged one had been
 * synced. Otherwise the open fails with DURLOG_ECORRUPT, changes nothing,
 * and the message names the segment, the byte offset and `durlog check`.
 * A log with no checkpoint at all (only `kernel` appends, never rolled,
 * never closed cleanly) proves nothing durable, so after a reboot its first
 * unvouched damage is treated as a power loss's: cut into a side file.
 *
 * Writers coordinate through the directory's flock and the coordination
 * file they map. If that file is removed or replaced while writers have the
 * log open, they go on safely through the file they mapped, and a new
 * writer is refused (-EBUSY, with a message) until they have all
 * closed. A segment replaced or removed under a writer (cp + mv) puts the
 * log in the failed state before any record written to the old file is
 * acknowledged as durable (DURLOG_EFAILED; `kernel` appends are not checked
 * one by one: they are caught at the next sync, roll or close).
 *
 * New files take the log directory's group, and its owner when the writer
 * runs as root, so that nothing the log's own writers cannot open is left
 * behind.
 *
 * Hostile logs. A writer running as root (effective uid 0) refuses a log
 * whose directory another user owns (-EPERM, naming the owner) unless
 * opts->flags has DURLOG_OPEN_ALLOW_FOREIGN_OWNER: that user could swap the
 * log's files for links to anything and write into its coordination file
 * at any moment. Readers are not refused: a reader writes nothing into the
 * log (at most the waiter counts of the coordination file), checks every
 * record's checksum, and opens nothing for writing, so a hostile log can
 * make it return an error, never make it write through a planted file.
 * A writer never writes through a file of the log that has more than one
 * hard link (-EPERM, naming the file and its link count: a link planted to
 * a file elsewhere would be written over); readers may read such files.
 * Segment files are opened without following symbolic links and must be
 * regular files; a segment named past the largest sequence number (2^63) is
 * damage; a directory every user may write to is refused with -EPERM (so
 * is it by durlog_reader_open). Every value read from the coordination
 * file, which every writer maps writable, is checked before it is used as
 * an offset, a length or a file name: one out of bounds puts the log in the
 * failed state (DURLOG_EFAILED, naming durlog.shm), and a reader that finds
 * its published mark past what the log holds fails with DURLOG_ECORRUPT
 * naming durlog.shm; none of it makes a writer or reader touch memory
 * outside its mappings, return a record that was not appended, or wait
 * without end.
 *
 * Errors: -EINVAL (NULL or empty path, NULL out, an option out of range, nonzero
 * reserved space, a bad DURLOG_IO or DURLOG_ENGINE value); -ENOENT (no
 * directory, with no_create); DURLOG_EFORMAT (a directory that holds no
 * log: see above; a coordination file of another durlog version, or not a
 * regular file); -EBUSY (the writers that have the log open use the other
 * I/O mode, or their coordination file was removed, replaced or
 * truncated); -EPERM (a world-writable directory; another user's
 * directory, for a writer running as root, without
 * DURLOG_OPEN_ALLOW_FOREIGN_OWNER; durlog.shm with a second hard link);
 * DURLOG_ECORRUPT (damage recovery may not cut); DURLOG_EFAILED (the
 * coordination file was truncated while this open rebuilt it: open again);
 * -EAGAIN (the coordination file stayed half built through every retry);
 * the error of io_uring's setup when DURLOG_ENGINE_IO_URING is asked for
 * and refused (-ENOSYS without liburing, -EPERM, ...); -errno of a system
 * call (-EACCES, -ENOTDIR, -EMFILE, -ENOSPC, -EIO, ...). The message:
 * durlog_last_errmsg(), and opts->errbuf. */
int durlog_open(const char *path, const durlog_options *opts, durlog **out);

/* Flushes buffered records to the kernel, syncs DURLOG_INTERVAL records the
 * background thread still owes (so the interval promise holds across close),
 * stops background work and frees the handle, even when it returns an error
 * (the error of the final flush or sync, or of an earlier background sync).
 * Records appended at DURLOG_KERNEL stay as they are while other writers
 * have the log open; the last writer to close it makes the whole log durable
 * and checkpoints it (one fdatasync, as a clean shutdown of Redis, SQLite or
 * Kafka does), so that the next open need not read it back. The close fails
 * with DURLOG_EFAILED when a segment this handle stored into was replaced or
 * removed under it (its old file is saved as <segment>.replaced-<inode>), or
 * when the log entered the failed state (in any process) after this handle
 * appended: what it appended since the last successful sync may not be in
 * the log.
 *
 * A sync the background engine could not set up earlier (a descriptor or
 * memory ran out for a moment) is not held against the handle: close runs
 * it again, and fails only if it still cannot (DURLOG_ENOTDURABLE: the
 * records are in the log, not known durable).
 *
 * Errors: -EINVAL (NULL log); -EDEADLK (called from a completion callback
 * of this handle: the handle is not closed); DURLOG_ENOTDURABLE;
 * DURLOG_EFAILED; the error of the final flush or sync, of an earlier
 * background sync, or of the last writer's seal and checkpoint (-ENOSPC,
 * -EIO, -EMFILE, -ETIMEDOUT, ...). The message: durlog_last_errmsg(). */
int durlog_close(durlog *log);

/* The recovery this handle's open performed (all zero for a NULL log). */
void durlog_last_recovery(const durlog *log, durlog_recovery *out);

/* A longer description of the last failure on this handle (file, offset,
 * operation). Valid until the next call on the handle; with several threads
 * failing at once it describes one of their failures. For a NULL log, a
 * static message saying so. */
const char *durlog_errmsg(const durlog *log);

/* ---------------------------------------------------------------------------
 * Appending. All append calls are safe to make from many threads on one
 * handle. Records from one handle land in the order their calls returned.
 *
 * An error return means "not appended": no reader will ever see the
 * record, and appending it again makes no duplicate. The one exception is
 * DURLOG_ENOTDURABLE: the record is in the log (*seq_out says where) but the
 * sync the level asks for did not succeed; do not append it again.
 */

/* Appends one record of `len` bytes at `level`. On success, if seq_out is not
 * NULL, *seq_out is the record's sequence number (DURLOG_SEQ_PENDING for
 * DURLOG_BUFFERED).
 *
 * Errors: -EINVAL (NULL log, bad level, NULL data with len > 0); -EMSGSIZE
 * (above DURLOG_MAX_RECORD); -EAGAIN (DURLOG_INTERVAL: the engine thread
 * could not be started; the next append tries again); DURLOG_EFAILED;
 * -ETIMEDOUT (another writer held the append lock for over 10 s); -ENOSPC,
 * -EDQUOT, -EIO, -EMFILE, -ENOMEM, ... (the record could not be stored);
 * -EPERM (the tail segment has a second hard link); DURLOG_ECORRUPT or
 * DURLOG_EFORMAT (the tail segment cannot be used: its header is damaged,
 * or it is not a regular file); -EOVERFLOW (no sequence numbers left); and,
 * after
 * the record was appended, DURLOG_ENOTDURABLE (DURLOG_INTERVAL, DURLOG_SYNC:
 * its sync could not be set up, or failed). durlog_errmsg() says more. */
int durlog_append(durlog *log, const void *data, size_t len,
                  durlog_level level, uint64_t *seq_out);

/* As durlog_append() at the handle's default level.
 * Errors: those of durlog_append(). */
int durlog_append_default(durlog *log, const void *data, size_t len,
                          uint64_t *seq_out);

/* One record of a batch. */
typedef struct durlog_iov {
    const void *data;
    size_t len;
} durlog_iov;

/* Appends `count` records as consecutive sequence numbers (no other writer's
 * record lands between them) at one level. *first_seq_out gets the first
 * one's number. Either all of them are accepted or, on error, none become
 * visible to readers (DURLOG_ENOTDURABLE: all of them were). A DURLOG_SYNC
 * batch shares one fdatasync. (A process killed inside the call may leave a
 * prefix of the batch, whole and in order: the call never returned, so none
 * of it was acknowledged.)
 * Errors: -EINVAL also for an empty batch (count 0) or a NULL records;
 * otherwise those of durlog_append(). */
int durlog_append_batch(durlog *log, const durlog_iov *records, size_t count,
                        durlog_level level, uint64_t *first_seq_out);

/* Brings everything this handle has appended, and every record before it in
 * the log, to at least `level`: DURLOG_KERNEL flushes this handle's buffered
 * records; DURLOG_INTERVAL also has the engine make the log durable up to
 * its current end within interval_ms (as if those records had been
 * appended at DURLOG_INTERVAL now: durlog_close keeps that promise too);
 * DURLOG_SYNC makes it durable before returning. DURLOG_BUFFERED does
 * nothing.
 *
 * Errors: -EINVAL (NULL log, bad level); the buffered records' flush
 * failing (they stay buffered: -ENOSPC, -EIO, ...); -EAGAIN (INTERVAL: the
 * engine thread could not be started); DURLOG_EFAILED and the errors of a
 * sync that could not run (-EMFILE, ...: try again) or failed (-EIO, then
 * DURLOG_EFAILED; at INTERVAL, the error of the engine's failed background
 * sync); -ETIMEDOUT (SYNC: the sync lock held by another writer for over
 * 120 s with no sync finishing). */
int durlog_flush(durlog *log, durlog_level level);

/* Waits until record `seq` has reached `level`: DURLOG_KERNEL waits for it
 * to be visible in the kernel (flushing this handle's buffer first; blocking
 * for records other writers have not published yet, up to timeout_ms);
 * DURLOG_INTERVAL does the same, then has the engine make it durable within
 * interval_ms (as durlog_flush); DURLOG_SYNC makes it durable (running an
 * fdatasync if nobody else is). The timeout bounds the wait for the record
 * to be published, not an fdatasync under way. A call blocked here returns
 * -EINTR once durlog_interrupt() is called on the handle.
 *
 * Errors: -EINVAL (NULL log, bad level, timeout below -1, a seq no record
 * can have: 2^63 or more, such as DURLOG_SEQ_PENDING); -ETIMEDOUT (not
 * published in time); -EINTR (durlog_interrupt); -EAGAIN (INTERVAL: no
 * engine thread); DURLOG_EFAILED; the errors of a flush, or of a sync that
 * could not run or failed (as durlog_flush); the error of a futex wait
 * that failed. */
int durlog_wait(durlog *log, uint64_t seq, durlog_level level, int timeout_ms);

/* Makes every durlog_wait() and durlog_poll() blocked on `log` right now
 * return -EINTR promptly. If none is blocked, the interrupt is kept until
 * one would block: that call returns -EINTR instead, at once (once: the
 * call after it blocks as usual). A call that finds what it waits for
 * without blocking, or has a timeout of 0, does not take it. Callable from
 * any thread, and from a signal handler (it uses atomics and futex wake-ups
 * only). Other handles' waits on the same log (in any process) may wake up
 * for nothing and go back to sleep. Returns 0.
 * Errors: -EINVAL (NULL log).
 *
 * With durlog_reader_interrupt() (for durlog_reader_wait()), this is the
 * safe way to stop a thread that waits with no limit: tell it to stop,
 * interrupt, join it, then close the handle. */
int durlog_interrupt(durlog *log);

/* ---------------------------------------------------------------------------
 * Asynchronous appends: append now, learn later that the record reached its
 * level. The record itself is handed to the kernel before the call returns
 * (as at DURLOG_KERNEL: visible to readers, survives the process being
 * killed); the handle's engine then makes it durable, sharing each fdatasync
 * with every other record waiting for one (group commit), and reports the
 * outcome in one of three ways, which may be combined:
 *
 *  - a completion callback, called exactly once for every asynchronous
 *    append that returned 0, in sequence order;
 *  - durlog_event_fd(), a descriptor that polls readable when completions
 *    are ready (for epoll, libuv, libevent loops);
 *  - durlog_wait(log, seq, level, timeout_ms), blocking on one record.
 *
 * Threading rules of callbacks. By default they run on the handle's engine
 * thread, one at a time, in sequence order. With options.poll_callbacks they
 * run only inside durlog_poll(), on the thread calling it. Either way a
 * callback should be short: while it runs, no other completion of the handle
 * is delivered (and, on the engine thread, no background sync starts). A
 * callback may append, asynchronously or not, on its own handle; an
 * asynchronous append that finds the queue full fails there with -EAGAIN
 * instead of waiting for itself. From a callback, durlog_close() of the same
 * handle and durlog_poll() of any handle fail with -EDEADLK (each would wait
 * for itself: two handles whose callbacks polled each other would hang).
 *
 * Failures. If an fdatasync fails, the log enters the failed state (see
 * DURLOG_EFAILED): every record not yet known durable is reported to its
 * callback with the error (-EIO, -ENOSPC, ... or DURLOG_EFAILED), never as
 * success, and later appends fail. A sync the engine cannot even set up (a
 * descriptor or memory runs out, for a moment) loses nothing: the engine
 * tries again within about 10 ms, the callbacks wait for it, and later
 * appends are not refused. durlog_close() first makes every pending record
 * durable (or fails it) and delivers the remaining callbacks on the closing
 * thread; a record whose sync still cannot be set up then gets
 * DURLOG_ENOTDURABLE (it is in the log, not known durable).
 */

/* Called once per asynchronous append (once per batch, with its first
 * sequence number): status 0 when the record reached the level asked for, a
 * negative error code when it never will. */
typedef void durlog_callback(void *ctx, uint64_t seq, int status);

/* Appends one record now and has it reach `level` (DURLOG_KERNEL, _INTERVAL
 * or _SYNC; DURLOG_BUFFERED is -EINVAL) in the background; cb (may be
 * NULL) is called with ctx once it has. *seq_out (may be NULL) gets the
 * record's sequence number. When max_pending completions are queued (not yet
 * taken for delivery) the call waits for the oldest to be taken (with
 * poll_callbacks it fails with -EAGAIN instead: call durlog_poll()). An
 * error return means nothing was appended and cb will not be called.
 *
 * Errors: -EINVAL (NULL log, bad level); -EMSGSIZE; -EAGAIN (the queue is
 * full where waiting could never end, or the engine thread could not be
 * started: try again); DURLOG_EFAILED (or the error of the fdatasync that
 * failed); the errors of storing the record, as durlog_append(). */
int durlog_append_async(durlog *log, const void *data, size_t len,
                        durlog_level level, durlog_callback *cb, void *ctx,
                        uint64_t *seq_out);

/* As durlog_append_batch(), asynchronously: cb is called once for the whole
 * batch, with its first sequence number.
 * Errors: those of durlog_append_async(), and -EINVAL for an empty batch
 * (count 0) or a NULL records. */
int durlog_append_batch_async(durlog *log, const durlog_iov *records,
                              size_t count, durlog_level level,
                              durlog_callback *cb, void *ctx,
                              uint64_t *first_seq_out);

/* With options.poll_callbacks: runs the callbacks that are ready, on this
 * thread, waiting up to timeout_ms (-1: forever, 0: not at all) for at least
 * one when none is. Returns how many ran (0 if the time ran out) or an
 * error. Callbacks of one handle never run on two threads at once.
 *
 * Errors: -EINVAL (NULL log, no poll_callbacks: the engine thread delivers
 * then, a timeout below -1); -EDEADLK (called from inside a completion
 * callback, of this handle or any other); -EINTR (durlog_interrupt); an
 * error making the descriptor of durlog_event_fd() readable (-EBADF: the
 * program closed it), returned by the next call, once; the error of a
 * futex wait that failed. */
int durlog_poll(durlog *log, int timeout_ms);

/* An eventfd (non-blocking, close-on-exec; owned by the handle, do not close
 * it) that becomes readable whenever completions become ready: with
 * poll_callbacks, call durlog_poll(log, 0) when it is, which also drains it.
 * Without, it signals that the engine thread delivered some, and the
 * application drains it with read(). Returns the descriptor or a negative
 * error.
 * Errors: -EINVAL (NULL log); the errors of eventfd(2) (-EMFILE, -ENFILE,
 * -ENOMEM, ...). */
int durlog_event_fd(durlog *log);

/* "io_uring" or "thread": the engine this handle uses ("none (NULL
 * handle)" for NULL). */
const char *durlog_engine(const durlog *log);

/* "mmap" or "pwrite": the I/O mode this handle uses (durlog_io_mode;
 * "none (NULL handle)" for NULL). */
const char *durlog_io(const durlog *log);

/* The type of the file system a path is on ("ext4", "xfs", "btrfs", "tmpfs",
 * "fuse", "nfs", ..., or "0x<magic>" for one durlog does not know), and the
 * I/O mode DURLOG_IO_AUTO picks there, into the buffers given (either may be
 * NULL). Returns 0.
 * Errors: -EINVAL (NULL path); -errno of opening path (O_PATH: -ENOENT,
 * -EACCES, -ENOTDIR, ...) or of fstatfs. */
int durlog_fs_type(const char *path, char *fs, size_t fs_size, char *mode, size_t mode_size);

/* ---------------------------------------------------------------------------
 * Facts about a log.
 */
typedef struct durlog_info {
    uint64_t first_seq;     /* first record still in the log */
    uint64_t next_seq;      /* the number the next record will get;
                               next_seq - first_seq records are in the log */
    uint64_t durable_seq;   /* records below this are known to be on stable
                               storage */
    uint64_t segments;      /* segment files */
    uint64_t bytes;         /* bytes of records (headers included) */
    uint64_t disk_bytes;    /* bytes the segment files occupy on disk */
    uint64_t missing;       /* records between first_seq and next_seq that
                               no segment file holds (a gap: damage; see
                               durlog_check). From segment headers: records
                               are not read, so damage inside a segment is
                               not looked for (durlog_check reads them) */
    uint64_t reserved[DURLOG_RESERVED_WORDS];
} durlog_info;

/* For an open writer handle. Errors: -EINVAL (NULL log or out); -errno of
 * listing the directory or of opening, reading or mapping a segment
 * (-EMFILE, -EIO, ...); DURLOG_ECORRUPT (a segment whose header is
 * damaged, named past 2^63, or truncated while it was walked);
 * DURLOG_EFORMAT (a segment that is not a regular file, or of an unknown
 * format version). *out is unchanged on error. */
int durlog_get_info(durlog *log, durlog_info *out);

/* ---------------------------------------------------------------------------
 * Trimming: removing a log's oldest records. A trim removes whole segment
 * files only, oldest first, and never the last one (the tail), nor one the
 * log's background sealer has not sealed yet (its records are then all made
 * durable and its end recorded in its header): the records it removes are
 * a prefix of the log, and the log's first record is afterwards the first
 * record of its oldest remaining segment. So a trim may remove fewer records
 * than asked (up to a segment's worth, or more while the sealer catches up:
 * run it again later), never more.
 * Crash and power loss: after a crash or kill -9 of the trimming process at
 * any moment, and after a power loss, the log opens, starts at a segment
 * boundary and has no gap: the removals that survive are a prefix of those
 * made (docs/GUARANTEES.md). Appenders never wait for a trim (it holds no
 * lock across its unlinks and fsyncs). A reader reading a removed segment
 * finishes it; one that then needs a removed record, or seeks below the first
 * record, gets DURLOG_ETRIMMED. Several processes may trim at once.
 */

/* Removes every whole segment all of whose records are below before_seq (as
 * above), whatever named cursors have consumed (an explicit trim is the
 * caller's decision; retention, durlog_trim_retention, keeps what cursors
 * hold). *first_seq_out (if not NULL) gets the log's first record afterwards
 * (its next_seq when it holds none). 0 when nothing was to be removed too.
 * Errors: -EINVAL (NULL log); DURLOG_EFAILED (the log is in the failed
 * state: nothing is removed); -errno of listing the directory, reading a
 * segment's header, removing a segment or fsyncing the directory (-EIO,
 * -EACCES, ...: the segments removed before it stay removed, and the log is
 * whole); DURLOG_ECORRUPT or DURLOG_EFORMAT (a segment header that does not
 * verify: nothing from it on is removed). */
int durlog_trim(durlog *log, uint64_t before_seq, uint64_t *first_seq_out);

/* Limits on how much a log keeps (zero-fill, then set; 0 means no limit). */
#define DURLOG_RETENTION_RESERVED 5
typedef struct durlog_retention {
    uint64_t max_bytes;        /* remove oldest segments while the segment
                                  files' total size is above this */
    uint64_t max_age_ns;       /* remove a segment once the segment after it
                                  began more than this long ago (every record
                                  in it is then older) */
    uint64_t cursor_cap_bytes; /* named cursors (durlog_cursor_open) keep
                                  what they have not consumed from these
                                  limits, up to this many bytes of segments
                                  (from the one the lowest cursor is in to
                                  the tail); past it the oldest go anyway,
                                  and that cursor's next seek reports
                                  DURLOG_ETRIMMED. 0: no cap (a cursor holds
                                  the log for as long as it lags) */
    uint64_t reserved[DURLOG_RETENTION_RESERVED]; /* must be zero */
} durlog_retention;

/* Trims (durlog_trim) what the limits in *limits allow to go, once: the
 * oldest segments while the log is over max_bytes (never the tail, so the
 * log may stay over it) and those older than max_age_ns, but not records a
 * named cursor has not consumed (up to cursor_cap_bytes). durlog_trim
 * itself, told a sequence number, does not look at cursors. Errors: those
 * of durlog_trim, -EINVAL (NULL limits, reserved fields not zero), and
 * DURLOG_ECORRUPT or DURLOG_EFORMAT for a cursor file that cannot be read
 * (nothing is removed then). */
int durlog_trim_retention(durlog *log, const durlog_retention *limits,
                          uint64_t *first_seq_out);

/* Retention settings kept with the log (the file durlog.retention in its
 * directory), which every writer of the log applies in the background: its
 * engine thread trims (as durlog_trim_retention) once a second and after
 * each segment roll, a few segments at a time, never on the append path.
 * Settings another process sets are picked up within a second.
 * durlog_set_retention replaces them atomically and durably (all zero: no
 * limits). Errors: -EINVAL (NULL log or settings, reserved fields set); the
 * errors of durlog_put (writing the file: -ENOSPC, -EACCES, ...); -ELOOP
 * when durlog.retention is a symbolic link (never written through). */
int durlog_set_retention(durlog *log, const durlog_retention *settings);
/* The log's settings into *out (all zero when it has none). Errors:
 * -EINVAL (NULL log or out); DURLOG_ECORRUPT (the file is damaged: the
 * message names it and how to set the settings again; writers keep applying
 * the settings they read before); -errno of opening or reading it. */
int durlog_get_retention(durlog *log, durlog_retention *out);

/* ---------------------------------------------------------------------------
 * Reading. A reader needs only read access to the directory and its files; it
 * may be opened while writers append, and it sees records appended at
 * DURLOG_KERNEL or above (and flushed buffered ones) as soon as the append
 * returns. Every record is verified against its checksum before it is
 * returned: a reader never returns bytes that differ from what was appended.
 */
typedef struct durlog_reader durlog_reader;

typedef struct durlog_record {
    const void *data;  /* payload; valid until the next call on the reader */
    size_t len;
    uint64_t seq;
    uint64_t time_ns;  /* when it was appended, ns since the Unix epoch */
} durlog_record;

typedef struct durlog_reader_options {
    int skip_damaged;   /* nonzero: step over a damaged region to the next
                           good record instead of failing (the skip is
                           counted in durlog_reader_skipped()) */
    int durable_only;   /* nonzero: return only records known to be on
                           stable storage (below the log's durable mark);
                           never one a power loss could still take away.
                           Without the coordination file (a copied log)
                           every intact record counts. */
    unsigned spin_us;   /* durlog_reader_wait polls this many microseconds
                           before it sleeps: lower wake-up latency for a
                           reader that can spare a core (0: sleep at once) */
    char *errbuf;       /* optional: detailed message if the open fails */
    size_t errbuf_size;
    uint64_t reserved[DURLOG_RESERVED_WORDS]; /* must be zero */
} durlog_reader_options;

/* Zero-fills *opts (nothing for NULL). */
void durlog_reader_options_init(durlog_reader_options *opts);

/* Opens a reader positioned at the log's first record. opts may be NULL.
 * Errors: -EINVAL (NULL path or out, nonzero reserved space); -ENOENT (no
 * such directory); DURLOG_EFORMAT (the directory holds neither segments
 * nor a coordination file); -EPERM (a directory every user may write to);
 * -errno of opening the directory (-ENOTDIR, -EACCES, -EMFILE, ...);
 * -ENOMEM. The message: durlog_last_errmsg(), and opts->errbuf. */
int durlog_reader_open(const char *path, const durlog_reader_options *opts,
                       durlog_reader **out);
void durlog_reader_close(durlog_reader *r);

/* Positions the reader so that the next durlog_reader_next() returns record
 * `seq`. Seeking to the log's next_seq (the current end) is allowed. Fails
 * with DURLOG_ETRIMMED below first_seq (the records there were removed by a
 * trim or retention, or never existed: the message names first_seq) and
 * DURLOG_ENOTFOUND past next_seq (UINT64_MAX included); a seek that fails
 * leaves the reader where it was, unless the error is the reader's sticky
 * one (a mapping that faulted, as durlog_reader_next).
 * Errors: -EINVAL (NULL reader); DURLOG_ETRIMMED; DURLOG_ENOTFOUND (also
 * when the walk to seq stops at damage before it); -errno (a segment that cannot be listed
 * or opened); DURLOG_ECORRUPT or DURLOG_EFORMAT (the segment holding seq
 * has a damaged header, or is not a segment); the sticky DURLOG_ECORRUPT
 * or -EIO of a mapping that faulted. */
int durlog_reader_seek(durlog_reader *r, uint64_t seq);

/* Positions the reader so that the next durlog_reader_next() returns the
 * first record whose time (durlog_record.time_ns) is >= time_ns: the log's
 * first record if time_ns is at or before it; past the last record, the
 * end (durlog_reader_next returns DURLOG_EEND, then the records appended
 * after, as usual). Record times never decrease in sequence-number order
 * (docs/FORMAT.md "Time"; a log written by an older version whose clock
 * went back across a segment roll may break that, and there the record
 * found has time >= time_ns and follows one below it, but may not be the
 * first such). Costs O(log segments) header reads, then a walk through
 * one segment's records, each checked as durlog_reader_next checks it: a
 * damaged record on the way is DURLOG_ECORRUPT, unless the reader skips
 * damage (skip_damaged), which steps past it. A segment removed by a trim
 * (retention) while the seek runs makes it search again over what is left.
 * A seek that fails may have moved the reader: seek again before reading
 * on.
 * Errors: -EINVAL (NULL reader); DURLOG_ECORRUPT (damage on the way, a
 * segment with a damaged header where the walk starts); DURLOG_EFORMAT,
 * -EIO, -errno of listing, opening or mapping a segment, -ENOMEM: as
 * durlog_reader_next. */
int durlog_reader_seek_time(durlog_reader *r, uint64_t time_ns);

/* Reads the next record into *rec. Returns 0 on success, DURLOG_EEND when the
 * reader has reached the current end of the log (call again later to see new
 * records), DURLOG_ECORRUPT on damage (unless skip_damaged), or another
 * error. rec->data is the reader's own copy of the record, checked after it
 * was copied: it stays as returned until the next call on the reader, even if
 * the segment is truncated or rewritten meanwhile. A segment truncated under
 * the reader is DURLOG_ECORRUPT, a page that cannot be read -EIO, both with a
 * message naming the file (durlog_reader_errmsg), never SIGBUS; the reader
 * then keeps returning that error.
 * A reader reading a segment that a trim removes finishes it (it holds the
 * file open); if the record it needs next was removed too, it returns
 * DURLOG_ETRIMMED, naming the log's first record now, and stays where it is
 * until it is moved (durlog_reader_seek). A reader that was never moved
 * starts at the log's first record.
 * Errors: -EINVAL (NULL reader or rec); DURLOG_EEND (not an error: the
 * end for now); DURLOG_ETRIMMED (above); DURLOG_ECORRUPT (a damaged record, records missing before
 * later ones, a segment truncated under the reader or with a damaged
 * header, a published mark past what the log holds); -EIO (a page that
 * cannot be read); DURLOG_EFORMAT (a segment that is not a regular file,
 * or of an unknown format version); -ENOMEM (the copy of a record); -errno
 * of listing, opening or mapping a segment (-EACCES, -EMFILE, ...). */
int durlog_reader_next(durlog_reader *r, durlog_record *rec);

/* Waits until durlog_reader_next() has a record to return (one past the
 * reader's position is published, or durable for a durable_only reader), or
 * timeout_ms passes (-1: no limit). Returns 0 or -ETIMEDOUT (or, should
 * the futex wait itself fail - a seccomp filter refusing it, say - its
 * error, with durlog_reader_errmsg). Sleeps
 * on a futex that writers in any process wake when they publish: no busy
 * spinning, except the first spin_us microseconds if asked. A reader that
 * may not write the coordination file cannot ask writers for a wake-up and
 * polls every millisecond instead; without a coordination file at all it
 * returns 0 after at most 10 ms (look with durlog_reader_next).
 * Errors: -EINVAL (NULL reader, timeout below -1); -ETIMEDOUT; -EINTR
 * (durlog_reader_interrupt). */
int durlog_reader_wait(durlog_reader *r, int timeout_ms);

/* As durlog_interrupt(), for durlog_reader_wait() on this reader: the
 * waits blocked now return -EINTR promptly; with none blocked, the next
 * that would block does. Callable from any thread (the one exception to a
 * reader belonging to one thread) and from a signal handler. Returns 0.
 * Errors: -EINVAL (NULL reader). */
int durlog_reader_interrupt(durlog_reader *r);

/* Facts about the log as the reader sees it now.
 * Errors: as durlog_get_info(): -EINVAL (NULL reader or out); -errno of
 * listing the directory or of opening, reading or mapping a segment;
 * DURLOG_ECORRUPT; DURLOG_EFORMAT. */
int durlog_reader_get_info(durlog_reader *r, durlog_info *out);
/* The log's retention settings, as durlog_get_retention, for a reader
 * (`durlog info`): 0 and all zero when it has none. Errors: -EINVAL (NULL
 * reader or out); DURLOG_ECORRUPT (a damaged file); -errno of reading it. */
int durlog_reader_get_retention(durlog_reader *r, durlog_retention *out);

/* Bytes stepped over because of damage (with skip_damaged); 0 for NULL. */
uint64_t durlog_reader_skipped(const durlog_reader *r);

/* The last failure's message ("no error" before any). */
const char *durlog_reader_errmsg(const durlog_reader *r);

/* ---------------------------------------------------------------------------
 * Named cursors: durable consumer positions, kept in the log directory (one
 * small file per cursor, "cursor.NAME", docs/FORMAT.md), so that a consumer
 * can stop, be killed or lose power and go on where it left off. A cursor
 * needs no writer handle: a process that only reads the log (with write
 * access to its directory, to commit) opens, reads and commits cursors.
 *
 * A cursor's position is the sequence number of the next record to consume
 * (Kafka's convention): a consumer commits seq + 1 once it is done with
 * record seq. What it consumed after its last commit it sees again after a
 * crash: consumption is at-least-once.
 *
 * Names: 1 to DURLOG_CURSOR_NAME_MAX characters from [A-Za-z0-9._-], not
 * starting with '.'; any other is -EINVAL with a message.
 *
 * Retention keeps the records a cursor has not committed past (within its
 * cap); a reader that starts at a cursor whose records were removed anyway
 * is told so (DURLOG_ETRIMMED, durlog_reader_seek_cursor), never moved on
 * silently.
 *
 * Messages: durlog_cursor_errmsg() for a handle's last failure; the
 * functions without a handle (open, delete, list) set durlog_last_errmsg().
 */
typedef struct durlog_cursor durlog_cursor;

#define DURLOG_CURSOR_NAME_MAX 64

enum durlog_cursor_flags {
    DURLOG_CURSOR_CREATE = 1, /* create the cursor, at the log's first
                                 record, if it does not exist (the new file
                                 is durable when the open returns). Never
                                 replaces one: if another process made it
                                 meanwhile, its position is read (except on
                                 a file system without O_TMPFILE, where the
                                 creation is a put, which replaces) */
};

/* Opens cursor `name` of the log at log_path and reads its committed
 * position (durlog_cursor_seq). One thread at a time per handle.
 * Errors: -EINVAL (NULL argument, a bad name, unknown flag bits);
 * DURLOG_ENOTFOUND (no such cursor, without DURLOG_CURSOR_CREATE);
 * DURLOG_ECORRUPT (the cursor file is damaged, truncated or not a cursor
 * file: the message names it; it is never read as position 0);
 * DURLOG_EFORMAT (a cursor file of a version this library does not read);
 * -errno of opening the log directory or reading the file (-ENOENT: no
 * log directory, -EACCES, -EMFILE, -EIO, ...); with DURLOG_CURSOR_CREATE,
 * DURLOG_EFORMAT (log_path holds no log), the errors of listing the log's
 * segments and those of durlog_cursor_commit; -ENOMEM. */
int durlog_cursor_open(const char *log_path, const char *name, int flags,
                       durlog_cursor **out);

/* The committed position: the next record to consume. As read at open, or
 * as last committed through this handle (UINT64_MAX for NULL). */
uint64_t durlog_cursor_seq(const durlog_cursor *c);

/* The cursor's name ("" for NULL). */
const char *durlog_cursor_name(const durlog_cursor *c);

/* Commits next_seq as the cursor's position. When it returns 0 the new
 * position is on stable storage (the file is replaced atomically through
 * the put path: written, fsynced, renamed, directory fsynced): a crash or
 * power loss at any moment leaves the old position or the new one, never a
 * mix, never a damaged file. Going back (a rewind) is allowed. Concurrent
 * commits of one cursor (from any processes): the last rename wins.
 * Errors: -EINVAL (NULL cursor; next_seq past the log's next_seq: a
 * position no record has reached; the log is looked at only when next_seq
 * is past the end this handle last saw, so a log a repair cut shorter
 * since is not noticed until then); the errors of opening a reader on the
 * log (durlog_reader_open) and of durlog_reader_get_info, when next_seq is
 * past what this handle already knew the log to hold; the errors of
 * durlog_put_buffer (-EACCES, -ENOSPC, -EDQUOT, -EIO, ...: the old
 * position stays; -ELOOP when the cursor's file is now a symbolic link,
 * never written through); DURLOG_EDIRSYNC (the new position is in place but its
 * directory's fsync failed: a power loss may bring the old one back).
 * durlog_cursor_seq() moves only when the commit returns 0. */
int durlog_cursor_commit(durlog_cursor *c, uint64_t next_seq);

/* The last failure's message on this handle ("no error" before any). */
const char *durlog_cursor_errmsg(const durlog_cursor *c);

void durlog_cursor_close(durlog_cursor *c);

/* Removes cursor `name` (its file, then an fsync of the directory), so that
 * it no longer holds records back.
 * Errors: -EINVAL (NULL argument, bad name); DURLOG_ENOTFOUND (no such
 * cursor); -errno of opening the directory, removing the file or syncing
 * the directory (-EACCES, -EIO, ...). */
int durlog_cursor_delete(const char *log_path, const char *name);

/* One cursor, as durlog_cursor_list() reports it. */
typedef struct durlog_cursor_info {
    char name[DURLOG_CURSOR_NAME_MAX + 1];
    int status;             /* 0, or the error reading its file
                               (DURLOG_ECORRUPT, DURLOG_EFORMAT, -EACCES, ...):
                               the fields below are then 0 */
    uint64_t seq;           /* committed position: next record to consume */
    uint64_t commit_time_ns;/* when it was committed, ns since the epoch */
    uint64_t lag_records;   /* records in the log from seq to its end */
    uint64_t lag_bytes;     /* bytes of those records (headers included) */
    uint64_t trimmed;       /* records it had not consumed that retention or
                               a trim removed (seq below the log's first
                               record); its next read reports it */
    uint64_t reserved[DURLOG_RESERVED_WORDS];
} durlog_cursor_info;

/* The cursors of the log at log_path, sorted by name, into *out (an array
 * of *count entries, NULL when there are none; free it with
 * durlog_cursor_list_free). A damaged cursor file is listed with its
 * status, not a failure of the list.
 * Errors: -EINVAL (NULL argument); -errno of opening or listing the
 * directory; the errors of durlog_reader_open, durlog_reader_get_info and
 * durlog_reader_seek (computing the lag); -ENOMEM. */
int durlog_cursor_list(const char *log_path, durlog_cursor_info **out, size_t *count);
void durlog_cursor_list_free(durlog_cursor_info *list);

/* Positions r at cursor c's committed position, so that the next
 * durlog_reader_next() returns the first record c has not consumed. If
 * retention or a trim removed records c had not consumed (its position is
 * below the log's first record) it fails with DURLOG_ETRIMMED, a message
 * (durlog_reader_errmsg) saying how many records were missed and where the
 * log now starts, and leaves the reader where it was: never a silent jump.
 * Errors: -EINVAL (NULL reader or cursor); DURLOG_ETRIMMED; the errors of
 * durlog_reader_seek (DURLOG_ENOTFOUND: the position is past the log's
 * end, a log cut by a repair). */
int durlog_reader_seek_cursor(durlog_reader *r, const durlog_cursor *c);

/* ---------------------------------------------------------------------------
 * The log's identity: 128 random bits, as 32 lower-case hex digits, made
 * when the log is created and kept in its directory (the file durlog.id,
 * docs/FORMAT.md). Copies of the log's records elsewhere (libdurlog-ship's
 * NATS JetStream stream) name them by it. It never changes: a copy of the
 * directory keeps it (the copy is the same log as far as its records go),
 * and a damaged file is an error, never replaced by a new id.
 */
#define DURLOG_LOG_ID_LEN 32

/* The identity of the log at path into out (NUL-terminated). With create
 * nonzero a log that has none (made by durlog 0.2 and earlier) gets one,
 * durably, unless another process gives it one first (then that one).
 * Errors: -EINVAL (NULL argument); DURLOG_ENOTFOUND (no identity, create
 * 0); DURLOG_ECORRUPT (durlog.id is damaged: the message says what to do);
 * DURLOG_EFORMAT (create: path holds no log); DURLOG_EDIRSYNC (create:
 * made, out set, but the directory's fsync failed); -errno of opening the
 * directory or the file, or of creating it (-EACCES, -ENOSPC, ...). The
 * message: durlog_last_errmsg(). */
int durlog_log_id(const char *path, int create, char out[DURLOG_LOG_ID_LEN + 1]);

/* Gives the log at path the identity id (32 lower-case hex digits): a log
 * rebuilt from a copy of another log's records (`durlog restore`) takes
 * that log's identity, so that shipping it again continues the same copy.
 * Succeeds when the log has no identity, already has this one, or has
 * another but has never held a record (a log just created, whose
 * identity no copy can know). Errors: -EINVAL (NULL path, a malformed id);
 * -EEXIST (the log holds records under another identity); DURLOG_EFORMAT
 * (path holds no log); DURLOG_ECORRUPT (a damaged durlog.id); -errno of
 * reading or writing the file (DURLOG_EDIRSYNC as durlog_log_id). */
int durlog_log_id_adopt(const char *path, const char *id);

/* ---------------------------------------------------------------------------
 * Appending records that carry their own sequence numbers and times: a copy
 * of another log's records (`durlog restore` rebuilds a log from a NATS
 * stream with them), so that the copy has the same seqs, times and data.
 *
 * recs[i].seq must run on from the log's next_seq without a gap - except
 * in a log that has never held a record (no segment at all), whose first
 * record may have any seq: 0, where every log starts, or a later one (the
 * log then starts there, as a trimmed log does). Times must not decrease,
 * from the log's last record on, and
 * are stored as given (never clamped to the clock). A new segment is begun
 * only before a record whose time is later than the one before it (a
 * segment's records are later than its base time, which is not before the
 * previous segment's last record: docs/FORMAT.md "Time"); a run of records
 * sharing one time that does not fit the current segment starts a new
 * one, made big enough for the whole run if need be, when the run's time is
 * later than the log's last record; when it is not (a run continued from
 * an earlier call, in a full segment) the call fails with -ERANGE and
 * appends nothing: pass runs whole.
 * level: DURLOG_KERNEL or DURLOG_SYNC (as durlog_append). Either every
 * record is appended or none. Not with this handle's buffered records
 * unflushed (-EBUSY: flush first).
 * Errors: -EINVAL (NULL log or recs, count 0, a bad level, a record that
 * does not follow on - its seq or time - with a message naming it);
 * -ERANGE (above); -EMSGSIZE; -EBUSY; and those of durlog_append. */
int durlog_append_restored(durlog *log, const durlog_record *recs, size_t count,
                           durlog_level level);

/* ---------------------------------------------------------------------------
 * Checking and repairing a closed log (the `durlog check` command).
 */
typedef struct durlog_check_report {
    uint64_t records;       /* valid records */
    uint64_t segments;
    uint64_t first_seq, next_seq;
    int damaged;            /* 1 if any problem was found */
    int damage_at_tail;     /* 1 if the only damage is a torn tail */
    char problem[512];      /* first problem: segment, offset, what */
    uint64_t problems;      /* number of distinct damaged regions */
    int live;               /* 1 if writers had the log open: the records
                               they published when the check began were
                               verified, and nothing after them */
    uint64_t side_files;    /* side files ("*.cut-*") in the log directory:
                               bytes earlier recoveries or repairs cut */
    uint64_t old_format_segments; /* segments of an older format version
                               (read as they are; DURLOG_CHECK_CONVERT
                               rewrites them in the current one) */
    uint64_t converted;     /* segments DURLOG_CHECK_CONVERT rewrote */
    uint64_t reserved[DURLOG_RESERVED_WORDS - 2];
} durlog_check_report;

enum durlog_check_flags {
    DURLOG_CHECK_REPAIR = 1, /* cut a damaged tail, keeping the cut bytes in
                                a side file "<segment>.cut-<offset>" */
    DURLOG_CHECK_FORCE = 2,  /* with REPAIR: also cut at damage that is not
                                at the tail (dropping every record after it) */
    DURLOG_CHECK_CONVERT = 4,/* rewrite segments of an older format version
                                in the current one (same numbers, times and
                                payloads; each segment replaced atomically).
                                Needs the log to itself, as REPAIR does, and
                                an undamaged log */
};

/* Verifies every record of every segment, and that each segment holds what
 * its checkpoint or seal promises. Returns 0 when the check ran (look at
 * report->damaged), or an error (a segment it cannot open: the message says
 * why). On a log writers have open it verifies the records published when
 * it began and nothing after them (report->live). With DURLOG_CHECK_REPAIR
 * it takes the log directory's lock exclusively and fails with -EBUSY
 * while a writer has the log open or another repair runs (the message says
 * which); without FORCE it refuses (DURLOG_ECORRUPT) to drop damage that is
 * not at the tail. After a successful repair the report describes the log as
 * it is now (clean); run a check without REPAIR first to see what will be
 * cut. Flag bits other than those of durlog_check_flags: -EINVAL, with
 * report->problem saying so, and nothing checked.
 * Errors: -EINVAL (NULL path or report, unknown flag bits); -errno of
 * opening the directory, listing it, opening a segment or looking at the
 * coordination file (-ENOENT, -EACCES, -EMFILE, ...); DURLOG_EFORMAT (a
 * directory that holds no segment and no coordination file); -EBUSY (REPAIR: a
 * writer has the log open, or another repair runs); DURLOG_ECORRUPT
 * (REPAIR: damage not at the tail without FORCE, or damage no cut can
 * mend; also a segment named past 2^63, or truncated while it was read);
 * -EIO (a page that cannot be read; a repair's write or fsync); -ENOSPC,
 * -EDQUOT, -EPERM, -EEXIST (REPAIR: the side file could not be written,
 * the segment has a second hard link, no side-file name left). The
 * message: report->problem and durlog_last_errmsg(). */
int durlog_check(const char *path, int flags, durlog_check_report *report);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

/* Whole files written safely (durlog_put_*, the `durlog put` command): their
 * own header, included here so that <durlog.h> gives the whole API. */
#include "durlog_put.h"

#endif /* DURLOG_H */
