/*
 * shared.h - the coordination file "durlog.shm" that every writer of a log
 * maps (readers map it read-only when they can).
 *
 * It holds no data that must survive a reboot: it is the live state that
 * processes share while they have the log open - the append lock, the tail
 * (where the next record goes and which sequence number it gets), what has
 * been published to readers and what is known durable. The first writer to
 * open a log (no other writer holds a shared flock on this file) rebuilds it
 * from the segments, so a stale file (after a reboot, a copied directory, an
 * offline repair) is never trusted.
 *
 * Locks are process-shared robust mutexes: a holder killed by SIGKILL hands
 * the next locker EOWNERDEAD, and that locker re-derives the tail from the
 * segment (see dl_lock_append in writer.c).
 */
#ifndef DL_SHARED_H
#define DL_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define DL_SHM_NAME "durlog.shm"
#define DL_SHM_MAGIC 0x4d48534744525544ULL /* "DURDGSHM" little-endian */
#define DL_SHM_VERSION 2
#define DL_SHM_SIZE 4096
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

struct dl_shared {
    uint64_t magic;
    uint32_t version;
    uint32_t size;
    _Atomic uint32_t ready;        /* 1 once the fields below describe the log */
    _Atomic uint32_t failed;       /* an fdatasync failed: no appends until
                                      every writer has closed and the log is
                                      reopened (recovery decides what survived) */
    _Atomic uint64_t generation;   /* bumped at every rebuild */
    char boot_id[40];              /* kernel boot id when rebuilt: a differing
                                      one means the machine restarted since */

    pthread_mutex_t append_lock;   /* robust, process-shared */
    pthread_mutex_t sync_lock;     /* robust, process-shared: one fdatasync
                                      leader at a time (group commit) */

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

/* Reads /proc/sys/kernel/random/boot_id into buf (40 bytes); "" if unknown. */
void dl_boot_id(char buf[40]);

/* Initialises both robust process-shared mutexes in sh. */
int dl_shared_init_locks(struct dl_shared *sh);

/* Locks a robust mutex. Returns 0, 1 when the previous owner died holding it
 * (the caller must repair what it guards, then call dl_mutex_consistent), or
 * a negative error. */
int dl_mutex_lock(pthread_mutex_t *m);
void dl_mutex_consistent(pthread_mutex_t *m);
void dl_mutex_unlock(pthread_mutex_t *m);

/* Publishes everything below next_seq to readers and wakes sleepers. */
void dl_publish(struct dl_shared *sh, uint64_t next_seq, uint64_t tail_seg);

/* Sleeps until published_seq >= goal, or timeout_ns passes; woken by the
 * appender whose publish reaches the goal, and by nobody else. */
void dl_wait_batch_goal(struct dl_shared *sh, uint64_t goal, uint64_t timeout_ns);

/* Wakes everybody sleeping on sh->durable (after durable_seq moved or the
 * log failed). */
void dl_durable_changed(struct dl_shared *sh);

/* Sleeping on a wait queue: enter (count yourself), read the event word, look
 * at your condition, dl_waitq_sleep on the event word read, leave. Sleeps
 * last at most DL_WAITQ_SLICE_NS; loop for longer waits. Waking: change
 * the condition (a sequentially consistent store), then dl_waitq_wake. */
uint32_t dl_waitq_enter(struct dl_waitq *q);
void dl_waitq_sleep(struct dl_waitq *q, uint32_t seen, uint64_t timeout_ns);
void dl_waitq_leave(struct dl_waitq *q, uint32_t ticket);
void dl_waitq_wake(struct dl_waitq *q);

/* Sleeps until published_seq > seq or the deadline (CLOCK_MONOTONIC ns; 0 =
 * forever) passes. Returns 0 or DURLOG_ETIMEDOUT. */
int dl_wait_published(struct dl_shared *sh, uint64_t seq, uint64_t deadline_ns);

/* Plain futex operations on any 32-bit word (shared or private memory):
 * sleep while *word == seen, for at most timeout_ns; wake every sleeper. */
void dl_futex_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t timeout_ns);
void dl_futex_wake(_Atomic uint32_t *word);

#endif
