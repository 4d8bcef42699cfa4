/*
 * shared.h - the coordination file "durlog.shm" that every writer of a log
 * maps (readers map it read-only when they can).
 *
 * It holds no data that must survive a reboot: it is the live state that
 * processes share while they have the log open - the append lock, the tail
 * (where the next record goes and which sequence number it gets), what has
 * been published to readers and what is known durable. It is never synced,
 * so after a power loss or reboot its bytes on disk are whatever the kernel
 * last wrote back, and anyone may copy an old version over it. So nothing
 * in it is evidence of anything once its writers are gone:
 *  - the first writer to open a log (it takes the log directory's flock
 *    exclusively: no writer has the log open) rebuilds it from the segments
 *    and the checkpoints in their headers;
 *  - every writer holds a lock on the file's first byte (an OFD lock, see
 *    dl_shm_hold_live) while it has the log open, and readers trust the
 *    file's marks only while somebody holds that lock on the very file they
 *    mapped (dl_shm_probe_live), its boot id is this boot's and its
 *    directory identity is this log's; otherwise they read by checksums;
 *  - a writer joining an open log checks the same, so that a file removed
 *    or replaced while writers have the log open is never joined (they go
 *    on through the file they mapped; new writers are refused until they
 *    have all closed).
 *
 * Locks are process-shared robust mutexes: a holder killed by SIGKILL hands
 * the next locker EOWNERDEAD, and that locker re-derives the tail from the
 * segment (see dl_lock_append in writer.c).
 */
#ifndef DL_SHARED_H
#define DL_SHARED_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define DL_SHM_NAME "durlog.shm"
#define DL_SHM_MAGIC 0x4d48534744525544ULL /* "DURDGSHM" little-endian */
#define DL_SHM_VERSION 5
#define DL_SHM_SIZE 4096 /* the file's size: struct dl_shared, with room to
                            grow; fixed, whatever the page size (a writer on
                            another machine type reads the same file) */
#define DL_NO_SEGMENT UINT64_MAX

/* A futex word, with a count of who sleeps on it so that wakers make the
 * FUTEX_WAKE system call only when somebody does. A sleeper killed while
 * counted would leave the count raised for good, and every append would pay
 * for a system call from then on. So sleepers are counted for at most one
 * slice (DL_WAITQ_SLICE_NS) at a time, in one of two epochs, and a waker
 * whose FUTEX_WAKE found nobody asleep starts a new epoch; a grace period
 * later, whatever is still counted in the old one was counted by the dead,
 * and is dropped (dl_waitq_wake). */
struct dl_waitq {
    _Atomic uint32_t event;        /* futex word, bumped at every wake */
    _Atomic uint32_t epoch;        /* sleepers join count[epoch & 1] */
    _Atomic int32_t count[2];
    _Atomic uint64_t flip;         /* when the current epoch began because a
                                      wake found nobody asleep (CLOCK_MONOTONIC
                                      ns << 1), and the parity of the epoch
                                      it left in bit 0; 0: none pending */
};

/* The longest a sleeper stays counted before it leaves and counts itself
 * again; a dead sleeper's count is dropped DL_WAITQ_GRACE_NS after a wake
 * first finds nobody asleep. */
#define DL_WAITQ_SLICE_NS 50000000u
#define DL_WAITQ_GRACE_NS 1000000000u

/* A segment rolled but not yet sealed, as the writer that rolled saw it:
 * what the sealer writes into its header (seal.c). */
struct dl_seal_note {
    uint64_t seg;                  /* its first_seq */
    uint64_t end_seq;              /* one past its last record */
    uint64_t end_off;              /* offset just past its last record */
    uint64_t ino;                  /* its inode (a replaced file is caught) */
};

/* How many rolls the sealer may lag behind before it must find a rolled
 * segment's end by walking its records instead of looking it up here. */
#define DL_SEAL_NOTES 32

/* Why the log is in the failed state (dl_shared.failed). */
enum dl_failure {
    DL_FAIL_NONE = 0,
    DL_FAIL_SYNC = 1,              /* an fdatasync failed */
    DL_FAIL_REPLACED = 2,          /* a segment was replaced or removed
                                      while the log was open */
    DL_FAIL_OVERWRITTEN = 3,       /* this file was overwritten in place
                                      while the log was open (an old copy
                                      written over it): its tail no longer
                                      matches the segment */
    DL_FAIL_LOST = 4,              /* only ever in this process's view: its
                                      mapping of this file faulted (the file
                                      was truncated, or could not be read),
                                      and the guard put a zero page with
                                      this mark in its place (dl_shm_map) */
    DL_FAIL_SEGMENT = 5,           /* a segment was truncated, or could not
                                      be read or stored into, under a
                                      writer */
    DL_FAIL_DAMAGED = 6,           /* this file held a value no writer
                                      leaves (dl_sh_tail_ok and the other
                                      checks below): someone else wrote
                                      into it */
};

struct dl_shared {
    uint64_t magic;
    uint32_t version;
    uint32_t size;
    _Atomic uint32_t ready;        /* 1 once the fields below describe the log */
    _Atomic uint32_t failed;       /* enum dl_failure: no appends until every
                                      writer has closed and the log is
                                      reopened (recovery decides what survived) */
    _Atomic uint64_t generation;   /* bumped at every rebuild */
    uint32_t io_mode;              /* the writers' durlog_io_mode (MMAP or
                                      PWRITE), set by the rebuilder: a joiner
                                      in another mode is refused */
    char boot_id[40];              /* kernel boot id when rebuilt: a differing
                                      one means the machine restarted since */
    uint64_t dir_dev, dir_ino;     /* the log directory it was built for: a
                                      file copied from another log is not
                                      this one's */

    pthread_mutex_t append_lock;   /* robust, process-shared */
    pthread_mutex_t sync_lock;     /* robust, process-shared: one fdatasync
                                      leader at a time (group commit) */
    pthread_mutex_t seal_lock;     /* robust, process-shared: one sealer */

    /* Guarded by append_lock. */
    uint64_t next_seq;             /* the number the next record gets */
    uint64_t first_seq;            /* the log's first record */
    uint64_t tail_seg;             /* first_seq of the tail segment, or
                                      DL_NO_SEGMENT before the first append */
    uint64_t tail_capacity;        /* its capacity (from its header) */
    uint64_t tail_off;             /* where the next record goes in it */
    uint64_t tail_alloc;           /* bytes allocated (its file size) */
    uint64_t reserve_end;          /* end of the record being copied; a dead
                                      holder's partial bytes lie below it */
    uint32_t tail_stale;           /* 1 while the fields here must be rebuilt
                                      from the segments: a holder died, and
                                      the rebuild has not succeeded yet (the
                                      next locker tries again; the lock
                                      itself is never left unrecoverable) */
    uint64_t last_time_ns;         /* the time of the tail segment's last
                                      record (its base when it has none):
                                      the next one's is never before it */
    uint64_t tail_ino;             /* the tail segment's inode: every writer
                                      checks that the file it maps (and the
                                      sync leader that the one it syncs) is
                                      this one, and still has its name */
    struct dl_seal_note seal_notes[DL_SEAL_NOTES]; /* ring, by seal_pushed */
    _Atomic uint64_t seal_pushed;  /* notes ever pushed */

    /* Guarded by seal_lock. */
    _Atomic uint64_t seal_next;    /* first_seq of the first segment not yet
                                      known sealed; segments below the tail
                                      from here on are the sealer's work */

    /* Published: read without locks. */
    _Atomic uint64_t published_seq;   /* records below are in the kernel */
    _Atomic uint64_t published_seg;   /* tail segment at the last publish */
    _Atomic uint64_t durable_seq;     /* records below are on stable storage */
    _Atomic uint64_t dir_synced_seg;  /* segments up to this first_seq have
                                         durable directory entries (+1; 0: none) */
    struct dl_waitq published;        /* woken at every publish while
                                         somebody sleeps: live readers,
                                         durlog_wait */
    struct dl_waitq durable;          /* woken whenever durable_seq moves or
                                         the log fails: sync followers,
                                         durable-only readers */
    _Atomic uint64_t batch_goal;      /* a sync leader sleeps until
                                         published_seq reaches this (0: none) */
    _Atomic uint32_t goal_event;      /* futex word: the goal was reached */

    /* Guarded by sync_lock: what the last fdatasync achieved, which the next
     * leader uses to decide how long to let a batch form. */
    uint64_t last_batch;              /* records it covered */
    uint64_t last_sync_ns;            /* how long it took */
    uint64_t sync_started_ns;         /* CLOCK_MONOTONIC when the current
                                         leader began its fdatasync; 0 when
                                         none is under way. A leader that
                                         dies with this set may have seen an
                                         error nobody recorded: the next one
                                         redoes its work (sync.c) first. */
};

_Static_assert(sizeof(struct dl_shared) <= DL_SHM_SIZE, "dl_shared too big");

/* Maps the coordination file open as fd (DL_SHM_SIZE bytes; read-only
 * unless writable), guarded: if the file is truncated or cannot be read
 * while mapped, the process's view turns into a zero page that says
 * failed = DL_FAIL_LOST (and is invalid for everyone: no magic), instead
 * of SIGBUS. 0 or -errno. */
struct dl_guard;
int dl_shm_map(int fd, int writable, struct dl_shared **out, struct dl_guard **guard);
void dl_shm_unmap(struct dl_shared *sh, struct dl_guard *guard);
/* Opens and maps (dl_shm_map) the coordination file of the log in dirfd,
 * read-write if writable, if there is one a writer built: a regular file of
 * at least DL_SHM_SIZE bytes (and, read-write, with one hard link). 0 with
 * *fd, *out and *guard set (the caller unmaps and closes them); 1 when there
 * is none (no such file, no permission to open it, or not one a writer
 * built); -errno when it could not be looked at or mapped. Nothing is left
 * open unless 0. */
int dl_shm_open_view(int dirfd, int writable, int *fd, struct dl_shared **out,
                     struct dl_guard **guard);
/* 1 if the mapping behind guard has faulted (the view is that zero page). */
int dl_shm_lost(const struct dl_guard *guard);

/* Reads /proc/sys/kernel/random/boot_id into buf (40 bytes): 0, with ""
 * where the system does not say (no /proc, or no access to it), or -errno
 * when reading it failed (EMFILE, EIO: the boot is then unknown, and
 * nothing built on "same boot" may be decided). */
int dl_boot_id(char buf[40]);

/* Initialises the robust process-shared mutexes in sh. */
int dl_shared_init_locks(struct dl_shared *sh);

/* A writer holds a shared OFD lock on byte 0 of the coordination file it
 * maps for as long as it has the log open (released when fd is closed). */
int dl_shm_hold_live(int fd);
/* 1 if some open file description other than fd's holds that lock on the
 * file open as fd (a writer has the log open through this very file), 0 if
 * none does, or a negative error. Only asks: takes no lock. */
int dl_shm_probe_live(int fd);

/* Whether sh describes the log in directory `dirfd` as built on this boot:
 * the right magic, version and size, ready, this boot's id and this
 * directory's identity. Says nothing of whether a writer still has it open
 * (dl_shm_probe_live). 1 or 0; -errno when the boot id or the directory
 * could not be looked at. */
int dl_shm_valid_for(const struct dl_shared *sh, int dirfd);

/* What the file says is untrusted input. Every process that may write the
 * log maps it writable, so any of its bytes can change at any moment, to
 * any value: a bug, a stray `dd`, an old copy written over it, a hostile
 * user of the log's group. So every value read from it is checked against
 * what it can legitimately be before it is used as an offset, a length, an
 * index or a file name, one check per kind here. A writer that finds a
 * value out of bounds puts the log in the failed state (DL_FAIL_DAMAGED,
 * dl_shm_damaged in failed.c); a reader stops trusting the file and says so.
 * Offsets into a mapping are also checked where they are used, against the
 * mapping this process made (dl_seg_span_ok): a value changed between the
 * check and the use must not make a store land outside it.
 *
 * Each returns 1 if the values are ones a writer could have left, else 0
 * with what is wrong in why (a phrase naming the field and its value). */

/* The tail (next_seq, tail_seg, tail_capacity, tail_off, reserve_end,
 * tail_alloc) and the marks (published_seq, durable_seq), read under the
 * append lock: the next sequence number below DL_SEQ_LIMIT, the marks not
 * past it, the tail segment not named past it, and the offsets within the
 * tail segment's capacity, past its header, and aligned. */
int dl_sh_tail_ok(const struct dl_shared *sh, char *why, size_t len);

/* Marks read without a lock, durable (first) then published: durable <=
 * published < DL_SEQ_LIMIT (published_seq only moves forward while
 * writers have the log open). */
int dl_sh_marks_ok(uint64_t durable, uint64_t published, char *why, size_t len);

/* A seal note about to be written into segment seg's header as its seal,
 * the segment's data ending at or before `limit` (its size, at most its
 * capacity): about that segment, ending past its first record, at an
 * aligned offset past its header and within the data. */
int dl_sh_note_ok(const struct dl_seal_note *note, uint64_t seg, uint64_t limit,
                  char *why, size_t len);

/* Raises *mark to v if it is lower (never lowers it). */
void dl_raise_mark(_Atomic uint64_t *mark, uint64_t v);
/* Notes a rolled segment's end for the sealer (append lock held, or the
 * directory's flock exclusively). */
void dl_seal_note_push(struct dl_shared *sh, const struct dl_seal_note *note);
/* 1 and the newest note for segment seg, if the ring still holds one. */
int dl_seal_note_find(struct dl_shared *sh, uint64_t seg, struct dl_seal_note *out);

/* The locks below are the coordination file's, so untrusted too: a lock
 * call is never made on one whose bytes are not a lock dl_shared_init_locks
 * made (DL_LOCK_DAMAGED instead: the file is damaged), a wait for one is
 * never unbounded, and an unlock never goes through state someone else
 * wrote into the lock while it was held (shared.c says how). */
#define DL_LOCK_DAMAGED (-EUCLEAN)

/* Locks a robust mutex, giving up with -ETIMEDOUT once it has been held by
 * someone else for patience_ns. Returns 0, 1 when the previous owner died
 * holding it (the caller must repair what it guards, then call
 * dl_mutex_consistent), or a negative error. */
int dl_mutex_lock_within(pthread_mutex_t *m, uint64_t patience_ns);
/* How long a writer waits for the append lock (sh->append_lock: tail.c's
 * dl_lock_append, failed.c) before -ETIMEDOUT (10 s; a test seam, like
 * dl_os). */
extern _Atomic uint64_t dl_lock_patience_ns;
/* One attempt: 0, 1 (owner died, as above), -EBUSY, or a negative error. */
int dl_mutex_trylock(pthread_mutex_t *m);
void dl_mutex_consistent(pthread_mutex_t *m);
void dl_mutex_unlock(pthread_mutex_t *m);

/* Publishes everything below next_seq to readers and wakes sleepers. */
void dl_publish(struct dl_shared *sh, uint64_t next_seq, uint64_t tail_seg);

/* Sleeps until published_seq >= goal, or timeout_ns passes; woken by the
 * appender whose publish reaches the goal, and by nobody else. 0, or the
 * error of a futex wait that failed (dl_futex_wait). */
int dl_wait_batch_goal(struct dl_shared *sh, uint64_t goal, uint64_t timeout_ns);

/* Wakes everybody sleeping on sh->durable (after durable_seq moved or the
 * log failed). */
void dl_durable_changed(struct dl_shared *sh);

/* Sleeping on a wait queue: enter (count yourself), read the event word, look
 * at your condition, dl_waitq_sleep on the event word read, leave. Sleeps
 * last at most DL_WAITQ_SLICE_NS; loop for longer waits. Waking: change
 * the condition (a sequentially consistent store), then dl_waitq_wake.
 * dl_waitq_sleep returns 0 (look again) or a futex failure's -errno. */
uint32_t dl_waitq_enter(struct dl_waitq *q);
int dl_waitq_sleep(struct dl_waitq *q, uint32_t seen, uint64_t timeout_ns);
void dl_waitq_leave(struct dl_waitq *q, uint32_t ticket);
void dl_waitq_wake(struct dl_waitq *q);

/* Sleeps until published_seq > seq or the deadline (CLOCK_MONOTONIC ns; 0 =
 * forever) passes, or an interrupt (interrupt.h) comes. Returns 0,
 * -ETIMEDOUT, -EINTR, or a futex failure's -errno. */
struct dl_intr;
int dl_wait_published(struct dl_shared *sh, uint64_t seq, uint64_t deadline_ns,
                      struct dl_intr *intr, uint64_t ticket);

#endif
