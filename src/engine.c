/*
 * engine.c - the handle's background engine as the rest of the handle sees
 * it: which engine runs (chosen at open), starting its thread, waking it,
 * telling it what is owed, and its error.
 *
 * One thread per handle, started by the first `interval` or asynchronous
 * append or by the first roll (the rolled segment waits to be sealed), runs
 * the fdatasyncs that no appender waits for on the spot. What it does is
 * engine_loop.c's, handed to dl_engine_init at open: this file calls
 * nothing above it, so the tail (a roll), the append paths and the
 * asynchronous appends tell the engine what they owe through it, while the
 * loop itself syncs, seals and delivers completions.
 *
 * The two engines (engine.h) give the same guarantees and differ only in
 * how a sync the engine thread leads reaches the disk: the io_uring engine
 * (engine_uring.c) submits the fsyncs of every file involved at once
 * through its ring; the thread engine (engine_thread.c) calls fdatasync()
 * on each in turn. DURLOG_ENGINE=thread forces the latter, and the test
 * suite runs every durability test under both.
 *
 * Waking the engine costs an appender a futex system call only when the
 * engine sleeps: appenders first store what they owe, then look at
 * engine.sleeping; the engine sets engine.sleeping, then looks again at what
 * is owed before it sleeps (all sequentially consistent), so neither misses
 * the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "os.h"

static __thread const durlog *engine_of_thread;

int dl_on_engine_thread(const durlog *log)
{
    return engine_of_thread == log;
}

/* The engine thread: this handle's from its first instruction, then the
 * loop it was given at open. */
static void *engine_thread_main(void *arg)
{
    durlog *log = arg;
    engine_of_thread = log;
    log->engine.eloop(log);
    return NULL;
}

int dl_engine_init(durlog *log, void (*loop)(durlog *log))
{
    durlog_engine_kind kind = log->opts.engine;
    const char *env = getenv("DURLOG_ENGINE");
    if (kind == DURLOG_ENGINE_AUTO && env && *env) {
        if (strcmp(env, "io_uring") == 0)
            kind = DURLOG_ENGINE_IO_URING;
        else if (strcmp(env, "thread") == 0)
            kind = DURLOG_ENGINE_THREAD;
        else if (strcmp(env, "auto") != 0)
            return dl_fail(log, -EINVAL, "DURLOG_ENGINE=%s: expected "
                           "io_uring, thread or auto", env);
    }
    log->engine.eloop = loop;
    log->engine.ops = &dl_engine_thread;
    if (kind == DURLOG_ENGINE_THREAD)
        return 0;
    int rc = dl_engine_uring.open(&log->engine.state);
    if (rc == 0) {
        log->engine.ops = &dl_engine_uring;
        return 0;
    }
    log->engine.state = NULL;
    if (kind == DURLOG_ENGINE_IO_URING)
        return dl_fail(log, rc, "the io_uring engine is unavailable: %s "
                       "(old kernel, kernel.io_uring_disabled, seccomp, or "
                       "built without liburing)", durlog_strerror(rc));
    return 0; /* automatic choice: the thread engine */
}

void dl_engine_close(durlog *log)
{
    if (log->engine.ops && log->engine.ops->close)
        log->engine.ops->close(log->engine.state);
    log->engine.state = NULL;
}

const char *durlog_engine(const durlog *log)
{
    if (!log)
        return "none (NULL handle)";
    return log->engine.ops->name;
}

int dl_engine_error(durlog *log)
{
    /* Checked before every asynchronous append: no lock unless it failed. */
    if (!atomic_load(&log->engine.error))
        return 0;
    pthread_mutex_lock(&log->engine.emu);
    int rc = log->engine.error;
    if (rc)
        dl_fail(log, rc, "background sync: %s", log->engine.errmsg);
    pthread_mutex_unlock(&log->engine.emu);
    return rc;
}

void dl_engine_kick(durlog *log)
{
    if (atomic_load(&log->engine.sleeping)) {
        atomic_fetch_add(&log->engine.wake, 1);
        dl_futex_wake(&log->engine.wake);
    }
}

/* A kick for news that work_pending() does not look at (a new interval
 * deadline; in poll mode, a completion ready at once): always moves
 * engine.wake, so that an engine about to sleep on the old value does not. */
static void engine_nudge(durlog *log)
{
    atomic_fetch_add(&log->engine.wake, 1);
    if (atomic_load(&log->engine.sleeping))
        dl_futex_wake(&log->engine.wake);
}

void dl_engine_kick_ready(durlog *log)
{
    if (log->opts.poll_callbacks)
        engine_nudge(log);
    else
        dl_engine_kick(log);
}

int dl_engine_start(durlog *log)
{
    /* Not sticky: a thread that could not be started (EAGAIN) is tried
     * again by the next call. */
    if (atomic_load(&log->engine.thread_started))
        return 0;
    int rc = 0;
    pthread_mutex_lock(&log->engine.emu);
    /* Once close has begun (a callback it runs may append), the closing
     * thread does the engine's work itself: a thread started now would
     * outlive the handle. */
    if (!atomic_load(&log->engine.thread_started) && !log->engine.closing) {
        int e = dl_os.thread_create(&log->engine.thread, engine_thread_main, log);
        if (e)
            rc = dl_fail(log, -e, "start the engine thread: %s",
                         durlog_strerror(-e));
        else
            atomic_store(&log->engine.thread_started, 1);
    }
    pthread_mutex_unlock(&log->engine.emu);
    return rc;
}

int dl_interval_note(durlog *log, uint64_t seq)
{
    int rc = dl_engine_start(log);
    if (rc)
        return rc;
    int kick = 0;
    pthread_mutex_lock(&log->engine.emu);
    rc = log->engine.error;
    if (rc)
        dl_fail(log, rc, "background interval sync: %s", log->engine.errmsg);
    if (seq + 1 > log->engine.itarget)
        log->engine.itarget = seq + 1;
    if (!log->engine.idirty_since) {
        log->engine.idirty_since = dl_mono_ns();
        kick = 1; /* the engine must learn its new deadline */
    }
    pthread_mutex_unlock(&log->engine.emu);
    if (kick)
        engine_nudge(log);
    return rc;
}

void dl_engine_seal_soon(durlog *log)
{
    atomic_store(&log->engine.seal_stuck, 0);
    if (dl_engine_start(log) == 0)
        engine_nudge(log);
}

int dl_engine_sync_soon(durlog *log, uint64_t end)
{
    int rc = dl_engine_start(log);
    if (rc)
        return rc;
    uint64_t cur = atomic_load(&log->engine.async_target);
    while (cur < end && !atomic_compare_exchange_weak(&log->engine.async_target, &cur, end))
        ;
    dl_engine_kick(log);
    return 0;
}
