/*
 * log.h - the writer handle and the internal interfaces between the files
 * that implement it:
 *
 *   open.c     open/close, the coordination file, info
 *   recover.c  rebuilding the tail from the segments (first open, dead lock
 *              holder), cutting a torn tail
 *   writer.c   the append paths for each durability level
 *   sync.c     making records durable: the fdatasync leader, the interval
 *              thread
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
#include "segment.h"
#include "shared.h"

#define DL_ERRMSG_SIZE 512
#define DL_DEFAULT_BUFFER_SIZE ((size_t)64 << 10)
/* The pre-faulter keeps this much of the tail segment allocated and mapped
 * ahead of the tail, and is woken when less than half of it is left. */
#define DL_PREALLOC_AHEAD ((uint64_t)8 << 20)
/* ...in steps of this much, each usable by appenders as soon as it is done. */
#define DL_PREALLOC_CHUNK ((uint64_t)1 << 20)
/* The tail segment's file grows in steps: at least this much... */
#define DL_ALLOC_MIN ((uint64_t)64 << 10)
/* ...and at most this much at a time (doubling in between). */
#define DL_ALLOC_MAX_STEP ((uint64_t)8 << 20)

struct durlog {
    char *path;
    int dirfd;
    int shmfd;
    struct dl_shared *sh;
    durlog_options opts;
    mode_t dir_mode;

    /* Guards this handle's local state below; taken before the shared
     * append lock, never while holding it. */
    pthread_mutex_t mu;
    struct dl_segmap tail;        /* this process's mapping of the tail;
                                     replaced under the append lock and pmu */
    struct dl_segmap retired;     /* the previous tail mapping, kept until the
                                     next roll so that the pre-faulter never
                                     touches an unmapped range */
    uint64_t tail_gen;            /* sh->generation when it was mapped
                                     (written under pmu) */
    unsigned char *buf;           /* buffered records, framed, unsealed */
    size_t buf_len;
    size_t buf_records;
    uint64_t last_seq;            /* last sequence number this handle got,
                                     +1 (0: none yet) */
    struct dl_clock clock;        /* record timestamps */

    /* Used only while holding the shared sync lock. */
    int sync_fd;
    uint64_t sync_fd_seg;
    uint64_t sync_fd_gen;
    uint64_t sync_fd_opened_ns;   /* CLOCK_MONOTONIC when sync_fd was opened */

    /* The interval syncer (started by the first DURLOG_INTERVAL append). */
    pthread_mutex_t imu;
    pthread_cond_t icond;
    pthread_t ithread;
    int ithread_started;
    int istop;
    uint64_t idirty_since;        /* mono ns of the oldest unsynced interval
                                     record; 0 when none */
    uint64_t itarget;             /* sync up to here */
    int ierror;                   /* first error the syncer met */
    char ierrmsg[DL_ERRMSG_SIZE]; /* its message */

    /* The pre-faulter (started by the first append through the mapping). */
    pthread_mutex_t pmu;
    pthread_cond_t pcond;
    pthread_t pthread;
    _Atomic int pstarted;
    int pstop;
    _Atomic int pkicked;          /* a request is pending */

    durlog_recovery recovery;
    char errmsg[DL_ERRMSG_SIZE];
};

/* error.c */
/* Records a failure's message on the handle (or, in a background thread, in
 * that thread's buffer) and returns rc. */
int dl_fail(durlog *log, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Makes dl_fail in the calling thread write to buf (DL_ERRMSG_SIZE bytes). */
void dl_set_thread_errbuf(char *buf);
void dl_set_err(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* recover.c: rebuilds sh's tail state from the segments. Called with the
 * append lock held or the exclusive open flock. strict: the page cache is
 * known intact (same boot), so any damage followed by good records is
 * corruption; otherwise a power loss may have dropped unsynced pages and such
 * damage above the proven-durable mark is cut as a torn tail. */
int dl_recover(durlog *log, int strict, durlog_recovery *rep);

/* writer.c */
/* Makes m (or nothing, if NULL) this handle's tail mapping, retiring the
 * current one. Called with the append lock held. */
void dl_replace_tail(durlog *log, const struct dl_segmap *m, uint64_t gen);
int dl_lock_append(durlog *log);
void dl_unlock_append(durlog *log);
/* Moves buffered records into the log; called with mu and the append lock. */
int dl_flush_buffer_locked(durlog *log);
int dl_flush_buffer(durlog *log);

/* prealloc.c */
/* Asks the pre-faulter to extend the tail (starting it if needed). Cheap when
 * a request is already pending. Called with the append lock held. */
void dl_prealloc_kick(durlog *log);
void dl_prealloc_stop(durlog *log);

/* sync.c */
/* Makes every record below `target` durable. */
int dl_sync_to(durlog *log, uint64_t target);
/* Notes an interval record (seq) for the background syncer. */
int dl_interval_note(durlog *log, uint64_t seq);
/* Stops the interval syncer, syncing what it still owed. */
int dl_interval_stop(durlog *log);

#endif
