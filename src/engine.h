/*
 * engine.h - the handle's engine: the one interface between the rest of
 * the handle and its two engines, io_uring and thread.
 *
 * The rest of the handle calls engine.c: it chooses the engine at open,
 * starts the engine thread, wakes it, tells it what is owed and reports
 * its error; durlog_close stops it (engine_loop.c). Both engines run the
 * same loop (engine_loop.c) with the same guarantees. What sets one apart
 * is struct dl_engine_ops: how the fsyncs of a sync the engine thread
 * leads are run, and what that needs set up at open and freed at close.
 * The loop hands that runner to sync.c (dl_sync_set_background), which
 * therefore knows no engine.
 */
#ifndef DL_ENGINE_H
#define DL_ENGINE_H

#include <stdint.h>

#include "log.h"

struct dl_engine_ops {
    const char *name;   /* what durlog_engine() says */
    /* Sets up what the engine needs (its ring) in *state: 0, or -errno
     * when the engine cannot run here. NULL: nothing to set up. */
    int (*open)(void **state);
    /* Runs the fsyncs of a sync the engine thread leads, given the state
     * open set up (dl_fsync_fn, log.h). NULL: the leader calls fdatasync()
     * on each in turn itself. */
    dl_fsync_fn *fsync;
    /* Frees what open set up (state may be NULL). NULL: nothing to free. */
    void (*close)(void *state);
};

/* engine_uring.c: fsyncs submitted at once through a ring. */
extern const struct dl_engine_ops dl_engine_uring;
/* engine_thread.c: the leader's own fdatasync() calls. */
extern const struct dl_engine_ops dl_engine_thread;

/* engine.c */
/* Picks the engine for opts (and DURLOG_ENGINE) and sets up its ring; the
 * engine thread, once started, runs loop (dl_engine_loop). */
int dl_engine_init(durlog *log, void (*loop)(durlog *log));
/* Frees what the engine set up at open (its ring). */
void dl_engine_close(durlog *log);
/* Starts the engine thread unless it runs. */
int dl_engine_start(durlog *log);
/* Notes an interval record (seq) for the engine. */
int dl_interval_note(durlog *log, uint64_t seq);
/* Starts the engine if needed and has it sync records below `end` now. */
int dl_engine_sync_soon(durlog *log, uint64_t end);
/* Wakes the engine for work work_pending() sees (a sync owed). */
void dl_engine_kick(durlog *log);
/* Wakes the engine for a completion that is ready at once (kernel level). */
void dl_engine_kick_ready(durlog *log);
/* Starts the engine if needed and has it seal the segments rolled so far
 * (called with the append lock held, after a roll). */
void dl_engine_seal_soon(durlog *log);
/* 1 on the thread running this handle's engine (and its callbacks). */
int dl_on_engine_thread(const durlog *log);
/* The engine's sticky error (0 if none), with its message copied to the
 * handle's errmsg. */
int dl_engine_error(durlog *log);

/* engine_loop.c */
/* The engine thread's loop, until dl_engine_stop. */
void dl_engine_loop(durlog *log);
/* Stops the engine: syncs what interval records are owed, delivers what
 * completions remain (on this thread), frees the ring. */
int dl_engine_stop(durlog *log);

#endif
