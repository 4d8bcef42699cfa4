/*
 * async.c - asynchronous appends and their completions.
 *
 * An asynchronous append is a `kernel` append (writer.c) that also leaves a
 * completion in the handle's queue and tells the engine (engine.c) what it
 * owes: an fdatasync now for `sync`, one within interval_ms for `interval`.
 * A completion is ready once the shared durable mark has passed its last
 * record (at once for `kernel`), or once the log has failed; ready ones are
 * delivered strictly in sequence order, by the engine thread or, with
 * poll_callbacks, by durlog_poll().
 *
 * The queue is a ring sized max_pending (rounded up to a power of two),
 * allocated when the handle is opened. Appenders push under the
 * handle mutex (so entries are in sequence order); deliverers pop under dmu.
 * Head and tail are atomics, so pushing never waits for a deliverer running
 * callbacks. A deliverer frees slots before it runs their callbacks, so a
 * callback may itself append asynchronously.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "os.h"

/* Completions copied out of the ring per round of callbacks. */
#define DL_DELIVER_CHUNK 64
/* The longest a waiter sleeps without looking again. */
#define DL_ASYNC_NAP_NS 50000000u

/* The handles whose callbacks this thread is running, innermost first: a
 * callback may close another handle, whose close delivers that handle's
 * callbacks here too (one inside the other). */
struct delivery {
    const durlog *log;
    const struct delivery *outer;
};
static __thread const struct delivery *delivering;

int dl_in_callback(const durlog *log)
{
    for (const struct delivery *d = delivering; d; d = d->outer)
        if (d->log == log)
            return 1;
    return 0;
}

/* The status for records not known durable: the engine's own error if it
 * met one, else DURLOG_EFAILED if the log failed (perhaps in another
 * process); 0 while neither. */
static int failure(durlog *log)
{
    int rc = atomic_load(&log->engine.error);
    if (!rc && atomic_load(&log->sh->failed))
        rc = DURLOG_EFAILED;
    return rc;
}

static int is_ready(const struct dl_completion *c, uint64_t durable, int fail)
{
    return c->level == DURLOG_KERNEL || c->end <= durable || fail;
}

/* 1 if the oldest queued completion is ready; `busy` when a deliverer holds
 * the queue (it is at work, but may finish before what we made ready). */
static int peek_ready(durlog *log, int busy)
{
    /* Peek under dmu: a slot is reused only after a deliverer freed it. */
    if (pthread_mutex_trylock(&log->cq.dmu) != 0)
        return busy;
    int ready = 0;
    size_t head = atomic_load_explicit(&log->cq.head, memory_order_relaxed);
    if (head != atomic_load(&log->cq.tail)) {
        int fail = failure(log);
        uint64_t durable = atomic_load(&log->sh->durable_seq);
        ready = is_ready(&log->cq.ring[head & (log->cq.cap - 1)], durable, fail);
    }
    pthread_mutex_unlock(&log->cq.dmu);
    return ready;
}

int dl_completion_ready(durlog *log)
{
    return peek_ready(log, 0);
}

static void wake_waiters(durlog *log)
{
    atomic_fetch_add(&log->cq.event, 1);
    if (atomic_load(&log->cq.waiters))
        dl_futex_wake(&log->cq.event);
}

static void signal_fd(durlog *log)
{
    int fd = atomic_load(&log->cq.evfd);
    int rc = fd >= 0 ? dl_eventfd_signal(fd) : 0;
    /* Only a bug fails it (the descriptor closed by someone else, say):
     * the next durlog_poll() reports it. */
    int none = 0;
    if (rc)
        atomic_compare_exchange_strong(&log->cq.evfd_error, &none, rc);
}

void dl_signal_ready(durlog *log)
{
    /* With a durlog_poll() delivering right now, signal anyway: it may
     * have looked before this sync made more completions ready, and a
     * spurious wake-up costs one durlog_poll(). */
    if (peek_ready(log, 1)) {
        signal_fd(log);
        wake_waiters(log);
    }
}

size_t dl_deliver(durlog *log, int closing)
{
    struct dl_completion batch[DL_DELIVER_CHUNK];
    size_t total = 0;
    pthread_mutex_lock(&log->cq.dmu);
    struct delivery here = { log, delivering };
    delivering = &here;
    for (;;) {
        size_t head = atomic_load_explicit(&log->cq.head, memory_order_relaxed);
        size_t tail = atomic_load(&log->cq.tail);
        /* The failure first: the durable mark never moves after it. */
        int fail = failure(log);
        uint64_t durable = atomic_load(&log->sh->durable_seq);
        if (closing && !fail)
            fail = DURLOG_ENOTDURABLE; /* its sync could not run: the record is
                                          in the log, not known durable */
        size_t n = 0;
        while (head + n != tail && n < DL_DELIVER_CHUNK) {
            const struct dl_completion *c = &log->cq.ring[(head + n) & (log->cq.cap - 1)];
            if (!is_ready(c, durable, fail))
                break;
            batch[n++] = *c;
        }
        if (!n)
            break;
        atomic_store(&log->cq.head, head + n); /* frees the slots */
        wake_waiters(log);
        for (size_t i = 0; i < n; i++) {
            const struct dl_completion *c = &batch[i];
            int ok = c->level == DURLOG_KERNEL || c->end <= durable;
            if (c->cb)
                c->cb(c->ctx, c->seq, ok ? 0 : fail);
        }
        total += n;
    }
    delivering = here.outer;
    pthread_mutex_unlock(&log->cq.dmu);
    if (total && !log->opts.poll_callbacks)
        signal_fd(log);
    return total;
}

/* Waits until the queue has room for one more completion. Called without
 * the handle mutex; the caller checks again under it. */
static int wait_for_room(durlog *log)
{
    for (;;) {
        uint32_t seen = atomic_load(&log->cq.event);
        size_t used = atomic_load(&log->cq.tail) - atomic_load(&log->cq.head);
        if (used < log->cq.cap)
            return 0;
        /* Nobody else would deliver: the caller must (durlog_poll), or it
         * is the deliverer itself (a callback). */
        if (log->opts.poll_callbacks || dl_in_callback(log) || dl_on_engine_thread(log))
            return dl_fail(log, -EAGAIN, "%zu completions are pending (max_pending); "
                           "%s", used, log->opts.poll_callbacks
                           ? "call durlog_poll() to deliver them"
                           : "a callback cannot wait for its own engine");
        int fail = failure(log);
        if (fail)
            return dl_fail(log, fail, "%s: the log has failed", log->path);
        atomic_fetch_add(&log->cq.waiters, 1);
        int rc = 0;
        if (atomic_load(&log->cq.tail) - atomic_load(&log->cq.head) >= log->cq.cap)
            rc = dl_futex_wait(&log->cq.event, seen, DL_ASYNC_NAP_NS);
        atomic_fetch_sub(&log->cq.waiters, 1);
        if (rc)
            return dl_fail(log, rc, "waiting for room among the completions: futex: %s",
                           durlog_strerror(rc));
    }
}

int dl_async_init(durlog *log)
{
    size_t cap = 1;
    while (cap < log->opts.max_pending)
        cap <<= 1;
    /* Untouched memory until used: a handle that never appends
     * asynchronously costs no more than the address space. */
    log->cq.ring = malloc(cap * sizeof *log->cq.ring);
    if (!log->cq.ring)
        return dl_fail(log, -ENOMEM, "out of memory for %zu completions", cap);
    log->cq.cap = cap;
    return 0;
}

int dl_async_prepare(durlog *log)
{
    int rc = dl_engine_error(log);
    if (!rc)
        rc = dl_engine_start(log);
    return rc ? rc : wait_for_room(log);
}

int dl_async_has_room(durlog *log)
{
    return atomic_load(&log->cq.tail) - atomic_load(&log->cq.head) < log->cq.cap;
}

void dl_async_push(durlog *log, const struct dl_completion *c)
{
    size_t tail = atomic_load_explicit(&log->cq.tail, memory_order_relaxed);
    log->cq.ring[tail & (log->cq.cap - 1)] = *c;
    atomic_store(&log->cq.tail, tail + 1);
}

void dl_async_free(durlog *log)
{
    free(log->cq.ring);
    log->cq.ring = NULL;
    dl_close(atomic_load(&log->cq.evfd));
}

int durlog_poll(durlog *log, int timeout_ms)
{
    if (!log)
        return -EINVAL;
    if (!log->opts.poll_callbacks)
        return dl_fail(log, -EINVAL, "durlog_poll needs options.poll_callbacks "
                       "(callbacks run on the engine thread otherwise)");
    if (timeout_ms < -1)
        return dl_fail(log, -EINVAL, "timeout of %d ms (-1 for no limit, else 0 or more)",
                       timeout_ms);
    /* From inside a callback of any handle: the deliverer of that handle is
     * this thread, and two handles whose callbacks poll each other would
     * each wait for the other for ever. */
    if (delivering)
        return dl_fail(log, -EDEADLK, "durlog_poll called from a completion callback "
                       "(%s handle): return from the callback and poll after",
                       dl_in_callback(log) ? "of the same" : "of another");
    int evrc = atomic_exchange(&log->cq.evfd_error, 0);
    if (evrc)
        return dl_fail(log, evrc, "making the descriptor of durlog_event_fd() readable "
                       "failed: %s (was it closed?)", durlog_strerror(evrc));
    uint64_t ticket = dl_intr_ticket(&log->intr);
    int fd = atomic_load(&log->cq.evfd);
    if (fd >= 0) {
        /* Drained (-EAGAIN if empty). A failure leaves it readable: one
         * spurious wake-up. */
        uint64_t count;
        (void)dl_read(fd, &count, sizeof count);
    }
    uint64_t deadline = timeout_ms < 0 ? 0
                      : dl_mono_ns() + (uint64_t)timeout_ms * DL_NS_PER_MS;
    for (;;) {
        uint32_t seen = atomic_load(&log->cq.event);
        size_t n = dl_deliver(log, 0);
        if (n)
            return n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
        uint64_t nap = DL_ASYNC_NAP_NS;
        if (deadline) {
            uint64_t now = dl_mono_ns();
            if (now >= deadline)
                return 0;
            if (deadline - now < nap)
                nap = deadline - now;
        }
        atomic_fetch_add(&log->cq.waiters, 1);
        int rc = 0, frc = 0;
        if (!dl_completion_ready(log) && !(rc = dl_intr_check(&log->intr, ticket)))
            frc = dl_futex_wait(&log->cq.event, seen, nap);
        atomic_fetch_sub(&log->cq.waiters, 1);
        if (rc)
            return dl_fail(log, rc, "durlog_poll interrupted (durlog_interrupt)");
        if (frc)
            return dl_fail(log, frc, "waiting for completions: futex: %s",
                           durlog_strerror(frc));
    }
}

int durlog_event_fd(durlog *log)
{
    if (!log)
        return -EINVAL;
    int fd = atomic_load(&log->cq.evfd);
    if (fd >= 0)
        return fd;
    /* Starts readable: completions may have become ready before anybody
     * could be told. A spurious wake-up costs one durlog_poll(). */
    int nfd = dl_os.eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nfd < 0)
        return dl_fail(log, -errno, "eventfd: %s", strerror(errno));
    int expected = -1;
    if (!atomic_compare_exchange_strong(&log->cq.evfd, &expected, nfd)) {
        dl_close(nfd);
        return expected;
    }
    return nfd;
}
