/*
 * engine.c - the handle's background engine.
 *
 * One thread per handle, started by the first `interval` or asynchronous
 * append, runs the fdatasyncs that no appender waits for on the spot:
 *  - `interval` records: interval_ms after the oldest unsynced one, so at
 *    most one fdatasync per interval and none while nothing is dirty;
 *  - asynchronous appends: at once, joining the shared group commit like any
 *    appender (sync.c): it leads an fdatasync or waits for the one under way;
 *  - sealing: after a roll, the finished segment's records are synced and
 *    its header sealed (seal.c), so that recovery never reads it again;
 * and then hands out completions (async.c): it runs their callbacks itself,
 * or, with poll_callbacks, makes the eventfd readable for durlog_poll().
 *
 * The two engines give the same guarantees and differ only in how a sync
 * this thread leads reaches the disk: the io_uring engine submits the fsyncs
 * of every file involved at once through its ring (uring.c); the thread
 * engine calls fdatasync() on each in turn. DURLOG_ENGINE=thread forces the
 * latter, and the test suite runs every durability test under both.
 *
 * Waking the engine costs an appender a futex system call only when the
 * engine sleeps: appenders first store what they owe, then look at
 * esleeping; the engine sets esleeping, then looks again at what is owed
 * before it sleeps (all sequentially consistent), so neither misses the
 * other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "os.h"

static __thread const durlog *engine_of_thread;

int dl_on_engine_thread(const durlog *log)
{
    return engine_of_thread == log;
}

/* The longest the engine sleeps without looking around: bounds how long a
 * change that comes without a wake-up (another process's failed sync) goes
 * unnoticed. */
#define DL_ENGINE_NAP_NS 50000000u
/* How long the engine waits before it tries again a sync it could not even
 * start (descriptors or memory ran out): short, records are waiting; long
 * enough not to spin on a limit that lasts. */
#define DL_ENGINE_RETRY_NS 10000000u

int dl_engine_init(durlog *log)
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
    log->engine = DURLOG_ENGINE_THREAD;
    if (kind == DURLOG_ENGINE_THREAD)
        return 0;
    int rc = dl_uring_open(&log->uring);
    if (rc == 0) {
        log->engine = DURLOG_ENGINE_IO_URING;
        return 0;
    }
    log->uring = NULL;
    if (kind == DURLOG_ENGINE_IO_URING)
        return dl_fail(log, rc, "the io_uring engine is unavailable: %s "
                       "(old kernel, kernel.io_uring_disabled, seccomp, or "
                       "built without liburing)", durlog_strerror(rc));
    return 0; /* automatic choice: the thread engine */
}

const char *durlog_engine(const durlog *log)
{
    if (!log)
        return "none (NULL handle)";
    return log->engine == DURLOG_ENGINE_IO_URING ? "io_uring" : "thread";
}

int dl_engine_error(durlog *log)
{
    /* Checked before every asynchronous append: no lock unless it failed. */
    if (!atomic_load(&log->eerror))
        return 0;
    pthread_mutex_lock(&log->emu);
    int rc = log->eerror;
    if (rc)
        dl_fail(log, rc, "background sync: %s", log->eerrmsg);
    pthread_mutex_unlock(&log->emu);
    return rc;
}

void dl_engine_kick(durlog *log)
{
    if (atomic_load(&log->esleeping)) {
        atomic_fetch_add(&log->ewake, 1);
        dl_futex_wake(&log->ewake);
    }
}

/* A kick for news that work_pending() does not look at (a new interval
 * deadline; in poll mode, a completion ready at once): always moves ewake,
 * so that an engine about to sleep on the old value does not. */
static void engine_nudge(durlog *log)
{
    atomic_fetch_add(&log->ewake, 1);
    if (atomic_load(&log->esleeping))
        dl_futex_wake(&log->ewake);
}

void dl_engine_kick_ready(durlog *log)
{
    if (log->opts.poll_callbacks)
        engine_nudge(log);
    else
        dl_engine_kick(log);
}

/* 1 unless a sync that could not start waits for its retry time. */
static int may_sync_at(durlog *log, uint64_t now)
{
    uint64_t at = atomic_load(&log->eretry_at);
    return !at || now >= at;
}

/* Anything for the engine to do right now? (Interval deadlines, and the
 * retry of a sync that could not start, are waited for with a timeout
 * instead.) */
static int work_pending(durlog *log)
{
    struct dl_shared *sh = log->sh;
    if (atomic_load(&log->estop))
        return 1;
    if (atomic_load(&log->async_target) > atomic_load(&sh->durable_seq) &&
        !atomic_load(&sh->failed) && !atomic_load(&log->eerror) &&
        may_sync_at(log, dl_mono_ns()))
        return 1;
    if (dl_seal_pending(log))
        return 1;
    /* In poll mode ready completions wait for durlog_poll(), not for us. */
    return !log->opts.poll_callbacks && dl_completion_ready(log);
}

/* Keeps the engine's first final error (completions not yet durable fail
 * with it) and its message. */
static void note_error(durlog *log, int rc, const char *msg)
{
    pthread_mutex_lock(&log->emu);
    if (!log->eerror) {
        snprintf(log->eerrmsg, sizeof log->eerrmsg, "%s", msg);
        atomic_store(&log->eerror, rc); /* after the message it stands for */
    }
    pthread_mutex_unlock(&log->emu);
}

/* A sync the engine ran failed. If that left the log in the failed state
 * (an fdatasync failed: final, see sync.c), the error is kept for the
 * completions. Otherwise the sync could not even start (a descriptor or
 * memory ran out, a lock could not be had): nothing was lost, and holding
 * it against the handle would fail every later append for a moment's
 * shortage. It is tried again after DL_ENGINE_RETRY_NS, with the interval
 * records it was to cover (noted dirty since `since`, 0: none). */
static void sync_failed(durlog *log, int rc, const char *msg, uint64_t since)
{
    if (atomic_load(&log->sh->failed)) {
        note_error(log, rc, msg);
        return;
    }
    pthread_mutex_lock(&log->emu);
    if (since && (!log->idirty_since || since < log->idirty_since))
        log->idirty_since = since;
    pthread_mutex_unlock(&log->emu);
    atomic_store(&log->eretry_at, dl_mono_ns() + DL_ENGINE_RETRY_NS);
}

static void sleep_until_kicked(durlog *log, uint32_t seen, uint64_t deadline)
{
    uint64_t timeout = DL_ENGINE_NAP_NS;
    if (deadline) {
        uint64_t now = dl_mono_ns();
        if (deadline <= now)
            return;
        if (deadline - now < timeout)
            timeout = deadline - now;
    }
    atomic_store(&log->esleeping, 1);
    int rc = work_pending(log) ? 0 : dl_futex_wait(&log->ewake, seen, timeout);
    atomic_store(&log->esleeping, 0);
    if (rc) {
        /* (dl_futex_wait slept the timeout: no spinning either way.) */
        char msg[DL_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "the engine's futex wait failed: %s", durlog_strerror(rc));
        note_error(log, rc, msg);
    }
}

static void *engine_main(void *arg)
{
    durlog *log = arg;
    struct dl_shared *sh = log->sh;
    char msg[DL_ERRMSG_SIZE];
    engine_of_thread = log;
    uint64_t period = (uint64_t)log->opts.interval_ms * DL_NS_PER_MS;
    for (;;) {
        uint32_t seen = atomic_load(&log->ewake);
        int stop = atomic_load(&log->estop);
        uint64_t deadline = 0, since = 0, now = dl_mono_ns();
        uint64_t target = atomic_load(&log->async_target);
        uint64_t retry_at = atomic_load(&log->eretry_at);
        int may_sync = may_sync_at(log, now);

        pthread_mutex_lock(&log->emu);
        int broken = log->eerror != 0;
        if (log->idirty_since) {
            /* Closing keeps the interval promise: sync what is owed now. */
            uint64_t due = log->idirty_since + period;
            if ((stop || now >= due) && may_sync) {
                since = log->idirty_since;
                if (log->itarget > target)
                    target = log->itarget;
                log->idirty_since = 0;
            } else {
                deadline = due > retry_at ? due : retry_at;
            }
        }
        pthread_mutex_unlock(&log->emu);

        int owed = !broken && target > atomic_load(&sh->durable_seq);
        if (owed && may_sync) {
            /* Our own failures go to our buffer; callbacks, which also run
             * on this thread, report theirs on the handle as usual. */
            dl_set_thread_errbuf(msg);
            int rc = dl_sync_to(log, target);
            dl_set_thread_errbuf(NULL);
            if (rc)
                sync_failed(log, rc, msg, since);
            else
                atomic_store(&log->eretry_at, 0);
        } else if (owed && (!deadline || retry_at < deadline)) {
            deadline = retry_at;
        }
        if (log->opts.poll_callbacks)
            dl_signal_ready(log);
        else
            dl_deliver(log, 0);
        if (stop)
            break; /* close delivers whatever is left */
        if (dl_seal_pending(log)) {
            /* After the completions: a seal may take an fdatasync of a whole
             * segment. Its failures are not the completions' (a failed
             * fdatasync puts the log in the failed state, which they see);
             * anything else is retried on the next round. */
            dl_set_thread_errbuf(msg);
            if (dl_seal_run(log))
                atomic_store(&log->seal_stuck, atomic_load(&sh->published_seg) + 1);
            dl_set_thread_errbuf(NULL);
        }
        sleep_until_kicked(log, seen, deadline);
    }
    return NULL;
}

int dl_engine_start(durlog *log)
{
    /* Not sticky: a thread that could not be started (EAGAIN) is tried
     * again by the next call. */
    if (atomic_load(&log->ethread_started))
        return 0;
    int rc = 0;
    pthread_mutex_lock(&log->emu);
    /* Once close has begun (a callback it runs may append), the closing
     * thread does the engine's work itself: a thread started now would
     * outlive the handle. */
    if (!atomic_load(&log->ethread_started) && !log->eclosing) {
        int e = dl_os.thread_create(&log->ethread, engine_main, log);
        if (e)
            rc = dl_fail(log, -e, "start the engine thread: %s",
                         durlog_strerror(-e));
        else
            atomic_store(&log->ethread_started, 1);
    }
    pthread_mutex_unlock(&log->emu);
    return rc;
}

int dl_interval_note(durlog *log, uint64_t seq)
{
    int rc = dl_engine_start(log);
    if (rc)
        return rc;
    int kick = 0;
    pthread_mutex_lock(&log->emu);
    rc = log->eerror;
    if (rc)
        dl_fail(log, rc, "background interval sync: %s", log->eerrmsg);
    if (seq + 1 > log->itarget)
        log->itarget = seq + 1;
    if (!log->idirty_since) {
        log->idirty_since = dl_mono_ns();
        kick = 1; /* the engine must learn its new deadline */
    }
    pthread_mutex_unlock(&log->emu);
    if (kick)
        engine_nudge(log);
    return rc;
}

void dl_engine_seal_soon(durlog *log)
{
    atomic_store(&log->seal_stuck, 0);
    if (dl_engine_start(log) == 0)
        engine_nudge(log);
}

int dl_engine_sync_soon(durlog *log, uint64_t end)
{
    int rc = dl_engine_start(log);
    if (rc)
        return rc;
    uint64_t cur = atomic_load(&log->async_target);
    while (cur < end && !atomic_compare_exchange_weak(&log->async_target, &cur, end))
        ;
    dl_engine_kick(log);
    return 0;
}

int dl_engine_stop(durlog *log)
{
    pthread_mutex_lock(&log->emu);
    log->eclosing = 1;
    pthread_mutex_unlock(&log->emu);
    if (atomic_load(&log->ethread_started)) {
        atomic_store(&log->estop, 1);
        atomic_fetch_add(&log->ewake, 1);
        dl_futex_wake(&log->ewake);
        pthread_join(log->ethread, NULL);
        atomic_store(&log->ethread_started, 0);
    }
    /* What is still owed (records appended by callbacks during the engine's
     * last round, or by the callbacks run below, or whose sync could not
     * start), this thread syncs, then delivers what became ready; until a
     * round of callbacks appends nothing more. */
    uint64_t unsynced = 0;
    char why[DL_ERRMSG_SIZE] = "";
    for (;;) {
        pthread_mutex_lock(&log->emu);
        uint64_t owed = atomic_load(&log->async_target);
        if (log->idirty_since && log->itarget > owed)
            owed = log->itarget;
        log->idirty_since = 0;
        int broken = log->eerror != 0;
        pthread_mutex_unlock(&log->emu);
        if (!broken && !atomic_load(&log->sh->failed) &&
            owed > atomic_load(&log->sh->durable_seq)) {
            int rc = dl_sync_to(log, owed);
            if (rc && atomic_load(&log->sh->failed)) {
                note_error(log, rc, log->errmsg);
            } else if (rc) {
                unsynced = owed;
                snprintf(why, sizeof why, "%s", log->errmsg);
            }
        }
        if (dl_deliver(log, 0) == 0)
            break;
    }
    /* Left now: what a failed sync could not make durable (their
     * completions say DURLOG_ENOTDURABLE, or the log's failure). */
    dl_deliver(log, 1);
    int rc = dl_engine_error(log);
    if (!rc && unsynced > atomic_load(&log->sh->durable_seq))
        rc = dl_fail(log, DURLOG_ENOTDURABLE, "%s: records below %llu were appended but "
                     "not made durable before the handle closed: %s", log->path,
                     (unsigned long long)unsynced, why);
    dl_uring_close(log->uring);
    log->uring = NULL;
    return rc;
}
