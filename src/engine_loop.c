/*
 * engine_loop.c - what the engine thread does, the same for both engines
 * (engine.c starts it; engine.h).
 *
 * It runs the fdatasyncs that no appender waits for on the spot:
 *  - `interval` records: interval_ms after the oldest unsynced one, so at
 *    most one fdatasync per interval and none while nothing is dirty;
 *  - asynchronous appends: at once, joining the shared group commit like any
 *    appender (sync.c): it leads an fdatasync or waits for the one under way;
 *  - sealing: after a roll, the finished segment's records are synced and
 *    its header sealed (seal.c), so that recovery never reads it again;
 *  - retention: the log's limits (retention.c), after a roll and once a
 *    second, a few segments per round;
 * and then hands out completions (async.c): it runs their callbacks itself,
 * or, with poll_callbacks, makes the eventfd readable for durlog_poll().
 * At close, dl_engine_stop ends the thread and does what is left on the
 * closing thread.
 *
 * How it sleeps without missing a kick: see engine.c.
 */
#include <stdio.h>

#include "engine.h"
#include "os.h"

/* The longest the engine sleeps without looking around: bounds how long a
 * change that comes without a wake-up (another process's failed sync) goes
 * unnoticed. */
#define DL_ENGINE_NAP_NS 50000000u
/* How long the engine waits before it tries again a sync it could not even
 * start (descriptors or memory ran out): short, records are waiting; long
 * enough not to spin on a limit that lasts. */
#define DL_ENGINE_RETRY_NS 10000000u

/* 1 unless a sync that could not start waits for its retry time. */
static int may_sync_at(durlog *log, uint64_t now)
{
    uint64_t at = atomic_load(&log->engine.retry_at);
    return !at || now >= at;
}

/* Anything for the engine to do right now? (Interval deadlines, and the
 * retry of a sync that could not start, are waited for with a timeout
 * instead.) */
static int work_pending(durlog *log)
{
    struct dl_shared *sh = log->sh;
    if (atomic_load(&log->engine.stop))
        return 1;
    if (atomic_load(&log->engine.async_target) > atomic_load(&sh->durable_seq) &&
        !atomic_load(&sh->failed) && !atomic_load(&log->engine.error) &&
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
    pthread_mutex_lock(&log->engine.emu);
    if (!log->engine.error) {
        snprintf(log->engine.errmsg, sizeof log->engine.errmsg, "%s", msg);
        atomic_store(&log->engine.error, rc); /* after the message it stands for */
    }
    pthread_mutex_unlock(&log->engine.emu);
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
    pthread_mutex_lock(&log->engine.emu);
    if (since && (!log->engine.idirty_since || since < log->engine.idirty_since))
        log->engine.idirty_since = since;
    pthread_mutex_unlock(&log->engine.emu);
    atomic_store(&log->engine.retry_at, dl_mono_ns() + DL_ENGINE_RETRY_NS);
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
    atomic_store(&log->engine.sleeping, 1);
    int rc = work_pending(log) ? 0 : dl_futex_wait(&log->engine.wake, seen, timeout);
    atomic_store(&log->engine.sleeping, 0);
    if (rc) {
        /* (dl_futex_wait slept the timeout: no spinning either way.) */
        char msg[DL_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "the engine's futex wait failed: %s", durlog_strerror(rc));
        note_error(log, rc, msg);
    }
}

void dl_engine_loop(durlog *log)
{
    struct dl_shared *sh = log->sh;
    char msg[DL_ERRMSG_SIZE];
    /* The syncs this thread leads run their fsyncs the engine's way. */
    dl_sync_set_background(log, log->engine.ops->fsync, log->engine.state);
    uint64_t period = (uint64_t)log->opts.interval_ms * DL_NS_PER_MS;
    for (;;) {
        uint32_t seen = atomic_load(&log->engine.wake);
        int stop = atomic_load(&log->engine.stop);
        uint64_t deadline = 0, since = 0, now = dl_mono_ns();
        uint64_t target = atomic_load(&log->engine.async_target);
        uint64_t retry_at = atomic_load(&log->engine.retry_at);
        int may_sync = may_sync_at(log, now);

        pthread_mutex_lock(&log->engine.emu);
        int broken = log->engine.error != 0;
        if (log->engine.idirty_since) {
            /* Closing keeps the interval promise: sync what is owed now. */
            uint64_t due = log->engine.idirty_since + period;
            if ((stop || now >= due) && may_sync) {
                since = log->engine.idirty_since;
                if (log->engine.itarget > target)
                    target = log->engine.itarget;
                log->engine.idirty_since = 0;
            } else {
                deadline = due > retry_at ? due : retry_at;
            }
        }
        pthread_mutex_unlock(&log->engine.emu);

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
                atomic_store(&log->engine.retry_at, 0);
        } else if (owed && (!deadline || retry_at < deadline)) {
            deadline = retry_at;
        }
        if (log->opts.poll_callbacks)
            dl_signal_ready(log);
        else
            dl_deliver(log, 0);
        if (stop)
            break; /* close delivers whatever is left */
        int sealed = 0;
        if (dl_seal_pending(log)) {
            /* After the completions: a seal may take an fdatasync of a whole
             * segment. Its failures are not the completions' (a failed
             * fdatasync puts the log in the failed state, which they see);
             * anything else is retried on the next round. */
            dl_set_thread_errbuf(msg);
            if (dl_seal_run(log))
                atomic_store(&log->engine.seal_stuck, atomic_load(&sh->published_seg) + 1);
            dl_set_thread_errbuf(NULL);
            sealed = 1;
        }
        /* Retention, last: a few segments per round at most (retention.c).
         * Its failures are retried at its next period. */
        dl_set_thread_errbuf(msg);
        dl_retention_tick(log, sealed);
        dl_set_thread_errbuf(NULL);
        sleep_until_kicked(log, seen, deadline);
    }
}

int dl_engine_stop(durlog *log)
{
    pthread_mutex_lock(&log->engine.emu);
    log->engine.closing = 1;
    pthread_mutex_unlock(&log->engine.emu);
    if (atomic_load(&log->engine.thread_started)) {
        atomic_store(&log->engine.stop, 1);
        atomic_fetch_add(&log->engine.wake, 1);
        dl_futex_wake(&log->engine.wake);
        pthread_join(log->engine.thread, NULL);
        atomic_store(&log->engine.thread_started, 0);
    }
    /* What is still owed (records appended by callbacks during the engine's
     * last round, or by the callbacks run below, or whose sync could not
     * start), this thread syncs, then delivers what became ready; until a
     * round of callbacks appends nothing more. */
    uint64_t unsynced = 0;
    char why[DL_ERRMSG_SIZE] = "";
    for (;;) {
        pthread_mutex_lock(&log->engine.emu);
        uint64_t owed = atomic_load(&log->engine.async_target);
        if (log->engine.idirty_since && log->engine.itarget > owed)
            owed = log->engine.itarget;
        log->engine.idirty_since = 0;
        int broken = log->engine.error != 0;
        pthread_mutex_unlock(&log->engine.emu);
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
    dl_engine_close(log);
    return rc;
}
