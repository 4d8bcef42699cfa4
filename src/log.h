/*
 * log.h - the writer handle and the internal interfaces between the files
 * that implement it:
 *
 *   open.c     open/close, joining a log through its locks, info
 *   recover.c  rebuilding the tail from the segments (first open, dead lock
 *              holder), cutting a torn tail (into side files: cut.c)
 *   seal.c     the persisted durable point: sealing rolled segments, the
 *              checkpoint the last writer leaves when it closes
 *   tail.c     the append lock; rolling, mapping and growing the tail
 *              segment (for writer.c and prealloc.c)
 *   writer.c   the append paths for each durability level
 *   sync.c     making records durable: the fdatasync leader (group commit)
 *   failed.c   the failed state; the files of rolled tails held until sealed
 *   engine.c   the background engine (engine.h): choosing, starting and
 *              waking it; engine_loop.c is its thread's work (interval and
 *              asynchronous syncs, sealing, completions); engine_uring.c and
 *              engine_thread.c are the two engines
 *   async.c    asynchronous appends and their completions
 *   interrupt.c durlog_interrupt: ending the waits blocked on a handle
 *   prealloc.c the background thread that allocates and faults in the tail
 *              segment ahead of appends
 *   reader.c   readers;  check.c  `durlog check`;  error.c  messages
 */
#ifndef DL_LOG_H
#define DL_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include "clock.h"
#include "durlog.h"
#include "error.h"
#include "interrupt.h"
#include "segment.h"
#include "shared.h"

/* durlog_options.buffer_size (durlog.h): the default makes a flush one
 * pwrite of 16 pages; smaller is raised to the minimum (a page: less would
 * flush at nearly every record); larger is refused (a buffer is one
 * allocation, and a flush one copy under the append lock: a gigabyte would
 * hold every other writer for a second). */
#define DL_DEFAULT_BUFFER_SIZE ((size_t)64 << 10)
#define DL_MIN_BUFFER_SIZE ((size_t)4 << 10)
#define DL_MAX_BUFFER_SIZE ((size_t)1 << 30)
/* Completions of asynchronous appends outstanding before an append waits
 * (durlog_options.max_pending): 64 Ki by default, at most 64 Mi; the ring
 * of them (40 bytes each) is allocated at open, and takes memory only as
 * it is used. */
#define DL_DEFAULT_MAX_PENDING 65536
#define DL_MAX_PENDING ((size_t)1 << 26)
/* The pre-faulter keeps the tail segment allocated and mapped ahead of the
 * tail in proportion to what the log holds (dl_prealloc_ahead:
 * DL_PREALLOC_RATIO times the tail segment's bytes, or the full distance
 * just after a roll from a full segment), at least DL_PREALLOC_AHEAD_MIN
 * and at most DL_PREALLOC_AHEAD, and is woken when less than half of that
 * is left. Sized to the log, so that a log of a few records takes a few
 * pages on disk, not 8 MiB, while a big one keeps its appenders off the
 * page faults (DESIGN.md, "Allocation sized to the log"). The ratio leaves
 * the pre-faulter a margin of twice what the segment holds while it ramps
 * up: at 1 it was woken with half a segment's worth to go, and appenders
 * on a loaded machine caught up with it more often. */
#define DL_PREALLOC_AHEAD ((uint64_t)8 << 20)
#define DL_PREALLOC_AHEAD_MIN ((uint64_t)16 << 10)
#define DL_PREALLOC_RATIO 4
/* A tail segment takes records until their time offset (FORMAT.md) comes
 * within this of the format's limit (about 78 hours after its base). */
#define DL_TIME_ROLL_SPARE_NS ((uint64_t)3600 * 1000000000)
/* A segment's time base is never above this, so that base + offset never
 * wraps, whatever time durlog.shm claims (roll_base in tail.c). */
#define DL_TIME_BASE_MAX (UINT64_MAX - DL_REC_TIME_LIMIT)
/* ...in steps of this much, each usable by appenders as soon as it is done. */
#define DL_PREALLOC_CHUNK ((uint64_t)1 << 20)
/* A new tail segment's file starts this big (or as big as its first
 * record needs)... */
#define DL_ALLOC_FIRST ((uint64_t)16 << 10)
/* ...and an appender grows it in steps: this much while the pre-faulter
 * works ahead, otherwise doubling from DL_ALLOC_FIRST... */
#define DL_ALLOC_MIN ((uint64_t)64 << 10)
/* ...and at most this much at a time. */
#define DL_ALLOC_MAX_STEP ((uint64_t)8 << 20)
/* Rolled segments whose files a handle holds until they are sealed. */
#define DL_HELD_ROLLED 4

struct dl_engine_ops;

/* struct durlog's parts, each owned by one file: the one that writes it
 * (others may read it; where another file writes too, the comment says so).
 * Each says which lock guards it. */

/* pwrite mode (iomode.c): the records of the append under way, framed,
 * written in one pwrite at off of the tail before they are published.
 * Owner: writer.c, which fills it; tail.c writes it out and empties it
 * (dl_tail_write_stage). Under mu and the append lock. */
struct dl_stage {
    unsigned char *buf;
    size_t len, cap;
    uint64_t off;
};

/* This process's view of the tail. Owner: tail.c (open.c sets it up and
 * releases it; writer.c, prealloc.c, sync.c and recover.c read it). pmu is
 * the pre-faulter's (struct dl_prefaulter). */
struct dl_tail {
    struct dl_segmap cur;         /* this process's mapping of the tail;
                                     replaced under the append lock and pmu */
    struct {                      /* the files of the tails this handle rolled
                                     away from, held open (not mapped) until
                                     they are sealed: if someone replaces one
                                     meanwhile, what it holds can still be
                                     saved (dl_mark_replaced). Under pmu. */
        uint64_t seg;
        int fd;                   /* -1: free */
    } held[DL_HELD_ROLLED];
    uint64_t gen;                 /* sh->generation when it was mapped
                                     (written under pmu) */
};

/* Buffered records (DURLOG_BUFFERED), framed, unsealed, until a flush
 * writes them to the tail. Owner: writer.c. Under mu. */
struct dl_append_buf {
    unsigned char *data;          /* buffered records, framed, unsealed */
    size_t len;
    size_t records;
};

/* The tail's descriptor a sync leader keeps between syncs: of segment
 * fd_seg, as mapped at generation fd_gen. Owner: sync.c (open.c sets it to
 * -1 and closes it). Used only while holding the shared sync lock. */
struct dl_sync_state {
    int fd;
    uint64_t fd_seg;
    uint64_t fd_gen;
};

/* The engine: a thread, started by the first interval or asynchronous
 * append, that runs the fdatasyncs nobody waits for on the spot and
 * delivers completions. Owner: engine.c (sync.c issues a leader's fsyncs
 * through it; seal.c writes seal_stuck too). Guarded by emu where it says
 * so; the atomics are read without it. */
struct dl_engine_state {
    const struct dl_engine_ops *ops;    /* the io_uring or the thread engine */
    void *state;                  /* what it set up at open (the ring), or NULL */
    void (*eloop)(durlog *log);   /* what the engine thread runs (engine_loop.c) */
    pthread_mutex_t emu;          /* guards the fields up to errmsg */
    pthread_t thread;
    _Atomic int thread_started;
    _Atomic int stop;
    int closing;                  /* close has begun: start no engine */
    uint64_t idirty_since;        /* mono ns of the oldest unsynced interval
                                     record; 0 when none */
    uint64_t itarget;             /* sync up to here when it is due */
    _Atomic int error;            /* the error of a sync the engine ran that
                                     left the log in the failed state (final:
                                     completions not durable fail with it).
                                     Set under emu after errmsg; read
                                     without it on the append path */
    char errmsg[DL_ERRMSG_SIZE];  /* its message */
    _Atomic uint64_t retry_at;    /* mono ns: a sync the engine could not
                                     even start (a descriptor or memory ran
                                     out: nothing lost) is tried again then,
                                     not before (0: none failed) */
    _Atomic uint64_t async_target;/* records below are owed a sync now */
    _Atomic uint32_t wake;        /* futex word: bumped to wake the engine */
    _Atomic int sleeping;         /* the engine is (about to be) asleep */
    _Atomic uint64_t seal_stuck;  /* the tail (+1) when sealing last stopped
                                     short of it for a reason a retry would
                                     meet again (a gap): the engine does not
                                     retry until the tail moves (0: none) */
    /* Retention, applied by the engine thread (retention.c); only it uses
     * the fields below but retention_seen_ns. */
    _Atomic uint64_t retention_seen_ns; /* mono ns of the last look at the
                                     settings (0: look at the next round) */
    durlog_retention retention;   /* the settings in force */
    int retention_more;           /* the last round left segments to trim */
};

/* Completions of asynchronous appends: a ring of cap entries in sequence
 * order. Owner: async.c (interrupt.c bumps event). Pushed under mu,
 * delivered under dmu. */
struct dl_completions {
    struct dl_completion *ring;
    size_t cap;                   /* a power of two */
    _Atomic size_t head;          /* next to deliver */
    _Atomic size_t tail;          /* next free slot */
    pthread_mutex_t dmu;          /* one deliverer at a time */
    _Atomic uint32_t event;       /* futex word: entries delivered or ready */
    _Atomic uint32_t waiters;     /* threads sleeping on event */
    _Atomic int evfd;             /* the eventfd, or -1 until asked for */
    _Atomic int evfd_error;       /* why making it readable failed, for the
                                     next durlog_poll() to report (0: no) */
};

/* The pre-faulter (started by the first append through the mapping).
 * Owner: prealloc.c (writer.c sets async_syncing). pmu guards stop and the
 * condition; it also guards the tail's mapping and held files (struct
 * dl_tail), which tail.c changes. */
struct dl_prefaulter {
    pthread_mutex_t pmu;
    pthread_cond_t cond;
    pthread_t thread;
    _Atomic int started;
    int stop;
    _Atomic int kicked;           /* a request is pending */
    _Atomic int async_syncing;    /* set by the first asynchronous
                                     DURLOG_SYNC append: see
                                     dl_prefault_for_write */
};

struct durlog {
    char *path;
    int dirfd;
    int shmfd;
    struct dl_shared *sh;
    struct dl_guard *sh_guard;    /* sh's SIGBUS mark (shared.h: dl_shm_map) */
    durlog_options opts;
    int io_pwrite;                /* DURLOG_IO_PWRITE: records reach the tail by
                                     pwrite, and its mapping is read-only
                                     (iomode.c) */
    int io_explicit;              /* the mode was asked for (option or
                                     DURLOG_IO), not picked by `auto` */
    struct dl_stage stage;        /* pwrite mode's staged records (writer.c) */
    mode_t dir_mode;
    mode_t file_mode;             /* the log's permissions: its coordination
                                     file's, given to every new segment */
    struct dl_owner owner;        /* the log's owner and group: its
                                     directory's, given to every new file */

    /* Guards this handle's local state below; taken before the shared
     * append lock, never while holding it. */
    pthread_mutex_t mu;
    struct dl_tail tail;          /* the tail's mapping, held files (tail.c) */
    struct dl_append_buf buf;     /* buffered records (writer.c) */
    uint64_t last_seq;            /* last sequence number this handle got,
                                     +1 (0: none yet) */
    struct {                      /* durlog_append_restored, under the
                                     append lock (writer.c) */
        int on;                   /* placing records with their own times */
        uint64_t base;            /* base time of a segment begun now for
                                     them (roll_base); 0: none may be begun
                                     (roll fails with -ERANGE) */
    } restore;
    struct dl_clock clock;        /* record timestamps */

    struct dl_sync_state sync;    /* the sync leader's descriptor (sync.c) */
    struct dl_engine_state engine;/* the engine thread (engine.c) */
    struct dl_completions cq;     /* asynchronous completions (async.c) */
    struct dl_prefaulter prefault;/* the pre-faulter thread (prealloc.c) */

    struct dl_intr intr;          /* durlog_interrupt (interrupt.h) */
    durlog_recovery recovery;
    char errmsg[DL_ERRMSG_SIZE];
};

/* 1 once this process's view of the coordination file is the guard's zero
 * page (shared.h: dl_shm_map): every value read from log->sh since may be
 * zero, not the log's. Whatever writes to a file at an offset or under a
 * name it read there looks at this after reading and before writing. */
#include "guard.h"
static inline int dl_view_lost(const durlog *log)
{
    return dl_guard_faulted(log->sh_guard);
}

/* iomode.c */
/* Picks the handle's I/O mode (options, DURLOG_IO, the file system). */
int dl_io_choose(durlog *log);

/* error.c */
/* Records a failure's message on the handle (or, in a background thread, in
 * that thread's buffer) and returns rc. */
int dl_fail(durlog *log, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Makes dl_fail in the calling thread write to buf (DL_ERRMSG_SIZE bytes). */
void dl_set_thread_errbuf(char *buf);
/* (error.h: the conventions put.c shares: dl_set_last_errmsg,
 * dl_reserved_nonzero, dl_set_err.) */

/* failed.c */
/* The error for an append or sync on a log in the failed state, with the
 * message saying why. */
int dl_failed_state(durlog *log);
/* Puts the log in the failed state because the coordination file holds a
 * value no writer leaves (`why`, from the dl_sh_*_ok checks in shared.h);
 * returns DURLOG_EFAILED with a message naming the file and the value. */
int dl_shm_damaged(durlog *log, const char *why);
/* Puts the log in the failed state because segment seg's file was
 * replaced or removed while open; the first to find out saves the old
 * file, open as old_fd (-1: not held), as a side file (cut.h). Returns
 * DURLOG_EFAILED with a message. */
int dl_mark_replaced(durlog *log, uint64_t seg, int old_fd);
/* The same, called with the append lock held. */
int dl_mark_replaced_locked(durlog *log, uint64_t seg, int old_fd);
/* Keeps a descriptor of the tail being rolled away from (pmu held). */
void dl_hold_rolled(durlog *log);
/* A descriptor (the caller closes it) of segment seg's file as this handle
 * last held it (its tail, or a tail it rolled away from), or -1. Needs no
 * lock. */
int dl_held_fd(durlog *log, uint64_t seg);
/* Closes the held file of segment seg (it is sealed, or the handle closes:
 * DL_NO_SEGMENT closes all). Needs no lock. */
void dl_release_held(durlog *log, uint64_t seg);

/* recover.c */
enum dl_recover_mode {
    DL_RECOVER_LENIENT, /* first open, history unknown: a power loss may
                           have dropped unsynced pages */
    DL_RECOVER_STRICT,  /* first open, same boot: the page cache is intact */
    DL_RECOVER_LIVE,    /* the append lock's holder died; others have the
                           log open */
};
/* Rebuilds sh's tail state from the segments. Called with the append lock
 * held (LIVE) or the log directory's exclusive flock. old_durable: the
 * durable mark of the coordination file being rebuilt (STRICT only), which
 * this boot's syncs established. rewrite (LENIENT): a sync of this log failed
 * on this boot, so what recovery keeps is rewritten from the page cache
 * before it is synced, as redo_dead_sync does (sync.c). A failed sync here
 * puts that mark in the coordination file for the next attempt. */
int dl_recover(durlog *log, enum dl_recover_mode mode, uint64_t old_durable,
               int rewrite, durlog_recovery *rep);
/* Writes the checkpoint (ckpt_seq, ckpt_off), sealed or not, into segment
 * seg's header and fdatasyncs it. The caller has made those records
 * durable first, in the file of inode `ino` (0: unknown; another file under
 * the name now means it was replaced: the log fails, nothing is written). */
int dl_write_checkpoint(durlog *log, uint64_t seg, uint64_t ckpt_seq, uint64_t ckpt_off,
                        int seal, uint64_t ino);

/* trim.c */
/* The first record to keep under the limits lim at wall-clock time now_ns
 * (0 when nothing need go), into *before. */
int dl_trim_plan(durlog *log, const durlog_retention *lim, uint64_t now_ns,
                 uint64_t *before);
/* durlog_trim removing at most max_segments segments (0: no limit); *more
 * (if not NULL) is set when it stopped at that limit. */
int dl_trim_some(durlog *log, uint64_t before_seq, size_t max_segments,
                 uint64_t *first_out, int *more);

/* retention.c */
/* Reads the log's retention settings (zeros when it has none): 0, or an
 * error with a message in err naming the file (DURLOG_ECORRUPT for a
 * damaged one). */
int dl_retention_read(int dirfd, const char *path, durlog_retention *out, char *err,
                      size_t errlen);
/* On the engine thread after each round (rolled: it sealed a segment): at
 * most once a second, looks at the settings and trims what they allow. */
void dl_retention_tick(durlog *log, int rolled);
/* At open, and once settings are set: starts the engine thread if the log
 * has retention settings (its timer applies them even without a roll).
 * Best effort: a thread that cannot start now is started by the next roll. */
void dl_retention_start(durlog *log);
/* At close, once what was rolled is sealed: applies the settings once more,
 * whole (a short-lived writer, such as `durlog append`, may close before its
 * engine's first look). Its failures are not close's: the next writer tries
 * again. */
void dl_retention_close(durlog *log);

/* seal.c */
/* 1 if segments below the tail wait to be sealed (and sealing is not
 * stuck on something a retry would meet again). */
int dl_seal_pending(durlog *log);
/* Seals every rolled segment not sealed yet, oldest first: syncs its
 * records (through the group commit), then writes its seal and fdatasyncs
 * it. One sealer at a time in any process; returns 0 at once when another
 * is at work. */
int dl_seal_run(durlog *log);
/* At close, by the last writer (holding the directory's flock
 * exclusively): seals what is left, makes the log durable and writes the
 * tail's checkpoint, so that the next open (after a reboot too) need not
 * read what was already there. */
int dl_close_checkpoint(durlog *log);

/* tail.c: everything below but dl_lock_append is called with the append
 * lock held. */
/* Takes the log's append lock: 0, or an error with its message (the log
 * failed, the lock's holder stopped, a rebuild after a dead holder failed).
 * A holder that died is cleaned up after here (dl_recover). */
int dl_lock_append(durlog *log);
void dl_unlock_append(durlog *log);
/* Makes m (or nothing, if NULL) this handle's tail mapping, retiring the
 * current one. */
void dl_replace_tail(durlog *log, const struct dl_segmap *m, uint64_t gen);
/* The coordination file sent a load or store at [off, off + len) outside
 * this handle's mapping of the tail: its tail changed under the append lock
 * after dl_lock_append checked it (dl_sh_tail_ok). Fails the log
 * (dl_shm_damaged); nothing is touched. */
int dl_tail_outside(durlog *log, uint64_t off, uint64_t len);
/* How this handle opens the tail: DL_SEG_STORE (a mapping it stores into)
 * or, in pwrite mode, DL_SEG_WRITE (one it only reads). */
int dl_tail_access(const durlog *log);
/* Makes sure the tail segment can take `need` more bytes of records
 * appended at time_ns, rolling to a new segment if not (no room, a segment
 * of an older format, or a time too far past the segment's base for the
 * format), and that this handle maps it. */
int dl_tail_ensure(durlog *log, uint64_t need, uint64_t time_ns);
/* dl_tail_ensure, and the tail's file allocated for those bytes, so that
 * stores through the mapping cannot fault for lack of space. */
int dl_tail_reserve(durlog *log, uint64_t need, uint64_t time_ns);
/* The time a record appended now at time_ns gets: never before the last
 * record's in the tail segment (FORMAT.md: times never decrease within a
 * segment). Called with the append lock, for each record in order. */
uint64_t dl_tail_time(durlog *log, uint64_t time_ns);
/* pwrite mode: writes the records staged by the append under way
 * (log->stage.buf) into the tail, before they are published; then
 * looks at the tail's header (dl_tail_header_mapped_intact). */
int dl_tail_write_stage(durlog *log);
/* Zeroes [from, to) of segment m, from the end back (a writer killed half
 * way leaves whole records followed by zeros, never the reverse). 0, or
 * (pwrite mode) the error of a pwrite, or -ERANGE for a range outside the
 * segment (it came from the coordination file). */
int dl_tail_zero(durlog *log, struct dl_segmap *m, uint64_t from, uint64_t to);
/* pwrite mode: zeroes what an earlier failure left past the tail
 * (up to reserve_end) before anything is appended after it. */
int dl_tail_clear_leftover(durlog *log);
/* Fails the log if the tail's file is shorter than the records written to
 * it (someone truncated it), by its size (one statx). */
int dl_tail_not_cut(durlog *log);
/* Whether the last page of the tail's records is a hole (lseek
 * SEEK_HOLE; 0 where the file system cannot tell). */
int dl_tail_end_is_hole(durlog *log);
/* Fails the log if the tail's header, read from its file, is no longer
 * the one mapped, or its last page of records became a hole (it was not
 * before the size check: end_was_hole, from dl_tail_end_is_hole): checked
 * after every extension of the file (someone may have cut it between the
 * size check and the extension). */
int dl_tail_header_intact(durlog *log, int end_was_hole);
/* The same, read through the tail's mapping (no system call): after every
 * pwrite to the tail, which extends a file cut shorter than where it
 * writes just as an extension does. Append lock held. */
int dl_tail_header_mapped_intact(durlog *log);
/* Whether to fault the next stretch of the tail in for writing. Pages
 * faulted in for writing are dirty, so an fdatasync writes them out, zeros
 * and all, and they are written again once records fill them. Behind an
 * asynchronous producer at DURLOG_SYNC the engine syncs continuously while
 * the tail races ahead: measured at 1M records/s, each fdatasync took 20-50
 * ms instead of ~1 ms. Such a handle faults pages in for reading only (in
 * the page cache and mapped; the appender's first store to each costs a
 * minor fault). Everywhere else faulting for writing wins: the faults are
 * taken outside the append lock (measured with 16 and 64 waiting `sync`
 * threads: 20-50% more records/s than faulting for reading). */
int dl_prefault_for_write(durlog *log);

/* writer.c */
/* Moves buffered records into the log; called with mu and the append lock. */
int dl_flush_buffer_locked(durlog *log);
int dl_flush_buffer(durlog *log);

/* prealloc.c */
/* Asks the pre-faulter to extend the tail (starting it if needed). Cheap when
 * a request is already pending. Called with the append lock held. */
void dl_prealloc_kick(durlog *log);
/* How far ahead of the tail the pre-faulter keeps the tail segment
 * allocated (see DL_PREALLOC_AHEAD). Append lock held. */
uint64_t dl_prealloc_ahead(const struct dl_shared *sh);
void dl_prealloc_stop(durlog *log);

/* One asynchronous append awaiting its completion. */
struct dl_completion {
    uint64_t seq;        /* first record */
    uint64_t end;        /* one past its last record */
    durlog_callback *cb;
    void *ctx;
    durlog_level level;
};

/* async.c */
/* Delivers the completions that are ready, in order, calling their
 * callbacks on this thread; at close (`closing`), all of them, failing
 * those not known to have reached their level. Returns how many. */
size_t dl_deliver(durlog *log, int closing);
/* (Poll mode) Makes the eventfd readable and wakes durlog_poll() if the
 * oldest completion is ready. */
void dl_signal_ready(durlog *log);
/* 1 if the oldest undelivered completion is ready to be delivered. */
int dl_completion_ready(durlog *log);
/* Allocates the completion queue (at open). */
int dl_async_init(durlog *log);
/* Before an asynchronous append: fails if the engine broke, starts it,
 * waits for room in the queue (or fails with -EAGAIN where waiting could
 * never end). Called without the handle mutex. */
int dl_async_prepare(durlog *log);
/* Under the handle mutex: room for one more completion? Then push it. */
int dl_async_has_room(durlog *log);
void dl_async_push(durlog *log, const struct dl_completion *c);
/* 1 while this thread runs callbacks of this handle (at any depth: inside
 * a callback of another handle too). */
int dl_in_callback(const durlog *log);
void dl_async_free(durlog *log);

/* sync.c */
/* Makes every record below `target` durable. */
int dl_sync_to(durlog *log, uint64_t target);
/* One fsync a sync leader runs: the descriptor, whether fdatasync
 * suffices, and its outcome. */
struct dl_fsync_op {
    int fd;
    int datasync;
    int res;    /* out: 0, -errno, or DL_FSYNC_NOT_RUN */
};
/* Never run: the leader makes the system call itself (no error was
 * consumed). */
#define DL_FSYNC_NOT_RUN 1
/* Runs the fsyncs of ops[0..n) in its own way (all at once through a
 * ring, say), given ctx: each op's res is 0, -errno or DL_FSYNC_NOT_RUN. */
typedef void dl_fsync_fn(void *ctx, struct dl_fsync_op *ops, int n);
/* Makes the calling thread log's background syncer (its engine thread):
 * the syncs it leads for log run their fsyncs through fsync(ctx, ...)
 * (NULL: the system calls, one after another) and never wait for a batch
 * to form. */
void dl_sync_set_background(const durlog *log, dl_fsync_fn *fsync, void *ctx);
/* How long a sync waits for the sync lock while no sync finishes before
 * -ETIMEDOUT (120 s: it is held across fdatasyncs; a test seam). */
extern _Atomic uint64_t dl_sync_patience_ns;
/* The same for records below `target` that all lie in segments up to seg,
 * syncing nothing after seg (the sealer's sync of a rolled segment). */
int dl_sync_segment_records(durlog *log, uint64_t target, uint64_t seg);
/* After records [first, end) were published: the sync (or the scheduling
 * of one) that failed since, whose message is the handle's, cannot be
 * reported as an error (that would say "not appended": a caller would
 * append them again). DURLOG_ENOTDURABLE, with a message saying both. */
int dl_not_durable(durlog *log, uint64_t first, uint64_t end);
/* Checks, after its fdatasync, that segment seg's file (open as fd) is
 * still under its name and, for the tail, the file every writer maps;
 * otherwise puts the log in the failed state (dl_mark_replaced). */
int dl_check_segment_identity(durlog *log, uint64_t seg, int fd);
/* 1 if segment seg's name now holds the tail every writer maps: durlog
 * itself replaced an empty tail by a bigger one (not someone else). */
int dl_seg_replaced_by_roll(durlog *log, uint64_t seg);

#endif
