/*
 * interrupt.h - ending a blocking call from another thread, or from a signal
 * handler (durlog_interrupt, durlog_reader_interrupt).
 *
 * Each handle counts the interrupts raised on it and the interrupts already
 * taken by a call. A call that may block notes the count when it starts
 * (its ticket). Before each sleep it reads the futex word it is about to
 * sleep on, then asks dl_intr_check: -EINTR when an interrupt was raised
 * since it started, or when one raised earlier found nobody blocked and is
 * still untaken (the next call to block takes it). The interrupter raises
 * the count first, then bumps and wakes the futex words its handle's calls
 * sleep on. Both sides are sequentially consistent, so a sleeper either
 * sees the new count or sleeps on a word that has already changed (the
 * futex returns at once): no interrupt is missed, none waits for a sleep to
 * time out. Only atomics and futex wake-ups: safe in a signal handler.
 */
#ifndef DL_INTERRUPT_H
#define DL_INTERRUPT_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

struct dl_intr {
    _Atomic uint64_t raised; /* interrupts made on the handle */
    _Atomic uint64_t taken;  /* of those, the ones a call has returned -EINTR for */
};

/* At the start of a call that may block. */
static inline uint64_t dl_intr_ticket(struct dl_intr *in)
{
    return atomic_load(&in->raised);
}

/* Before each sleep of that call (after reading the futex word it sleeps
 * on): -EINTR, taking every interrupt raised so far, or 0 to sleep. */
static inline int dl_intr_check(struct dl_intr *in, uint64_t ticket)
{
    uint64_t raised = atomic_load(&in->raised);
    uint64_t taken = atomic_load(&in->taken);
    if (raised == ticket && taken >= raised)
        return 0;
    while (taken < raised && !atomic_compare_exchange_weak(&in->taken, &taken, raised))
        ;
    return -EINTR;
}

/* The interrupter's first step; it then wakes the sleepers' words. */
static inline void dl_intr_raise(struct dl_intr *in)
{
    atomic_fetch_add(&in->raised, 1);
}

#endif
