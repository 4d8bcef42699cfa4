/*
 * interrupt.c - durlog_interrupt: ends the waits blocked on a writer handle
 * (interrupt.h says how). durlog_reader_interrupt, which needs the inside
 * of a reader, is in reader.c.
 */
#include "interrupt.h"
#include "log.h"
#include "os.h"

int durlog_interrupt(durlog *log)
{
    if (!log)
        return -EINVAL;
    dl_intr_raise(&log->intr);
    /* durlog_wait sleeps on the log's published wait queue, durlog_poll on
     * the handle's completion word. The queue is shared: waits of other
     * handles (in any process) wake up too, look, and sleep again. The
     * coordination file stays mapped while the handle is open (as a
     * writable zero page if it faulted, see guard.h). */
    atomic_fetch_add(&log->sh->published.event, 1);
    dl_futex_wake(&log->sh->published.event);
    atomic_fetch_add(&log->cq.event, 1);
    dl_futex_wake(&log->cq.event);
    return 0;
}
