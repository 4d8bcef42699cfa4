/*
 * guard.h - no signal from a mapped file: SIGBUS inside durlog's own
 * mappings becomes an error the code looks at.
 *
 * durlog maps segments (writers store into the tail through a shared
 * mapping; readers, recovery, check and the sealer read through read-only
 * ones) and the coordination file. Touching a mapped page that the file no
 * longer has (someone truncated it: logrotate's copytruncate, `: > file`, a
 * clean-up script), or whose read fails (a bad sector: EIO), or that a full
 * file system cannot allocate (a sparse file), raises SIGBUS, whose default
 * action kills the whole process, the user's server included.
 *
 * So every mapping durlog makes is registered here (dl_mmap does it), and a
 * SIGBUS handler, installed when the first one is made, looks at the fault
 * address: inside a registered mapping, it puts anonymous zero pages over
 * the mapping from the faulting page to its end (one mmap system call with
 * MAP_FIXED, which the kernel allows in a handler) and marks the mapping
 * faulted, then returns: the faulting load or store runs again on the
 * zero page and the program goes on. Anywhere else, the signal is passed to
 * the handler the program had before (or its default action: a SIGBUS of
 * the program's own still kills it, as it would without durlog).
 *
 * Whatever touched a mapping then looks at its mark before it trusts what
 * it read or acknowledges what it stored (dl_guard_faulted): a reader copies
 * a record out and checks the mark before returning the copy, a writer
 * checks it before publishing, recovery and check after each scan. The zero
 * pages stay until the mapping is unmapped, and never reach the file.
 *
 * docs/DESIGN.md ("No signal from a mapping") has the measurements behind
 * this choice and what it asks of a program that installs its own SIGBUS
 * handler.
 */
#ifndef DL_GUARD_H
#define DL_GUARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One guarded mapping. Slots are never freed: a stale pointer reads a
 * reused slot, never freed memory (callers drop theirs at unmap). */
struct dl_guard {
    _Atomic uintptr_t start;       /* 0: free; 1: being claimed */
    _Atomic size_t len;
    _Atomic uint32_t faulted;      /* set (before the zero pages go in) by
                                      the handler */
    _Atomic uint64_t fault_off;    /* offset in the mapping of the first
                                      page that faulted */
    void (*_Atomic on_fault)(void *start); /* see dl_guard_add */
};

/* Registers [addr, addr+len) (installing the handler on first use). NULL
 * when it cannot (out of memory, or sigaction refused): the mapping then
 * works unguarded, as it did before. on_fault, when not NULL, runs in the
 * handler once the zero pages are in, with the mapping's start: it may
 * store into them (async-signal-safe stores only), so that what the code
 * reads there next says what happened (the coordination file's mapping
 * then reads as a failed log, which every loop already looks at). */
struct dl_guard *dl_guard_add(void *addr, size_t len, void (*on_fault)(void *start));
/* Unregisters it; call before unmapping. NULL is ignored. */
void dl_guard_remove(struct dl_guard *g);

/* 1 if a load or store in the mapping has faulted since it was mapped. An
 * acquire load: a store that landed on the zero pages another thread put
 * in is followed by a look that sees the mark. */
static inline int dl_guard_faulted(const struct dl_guard *g)
{
    atomic_signal_fence(memory_order_seq_cst);
    return g && atomic_load_explicit(&((struct dl_guard *)g)->faulted,
                                     memory_order_acquire) != 0;
}

/* Offset of the first faulted page (meaningful once faulted). */
static inline uint64_t dl_guard_fault_off(const struct dl_guard *g)
{
    return atomic_load(&((struct dl_guard *)g)->fault_off);
}

/* How many faults the handler has turned into marks in this process (for
 * tests and `durlog` diagnostics). */
uint64_t dl_guard_count(void);

/* 1 if the handler is installed and still the process's SIGBUS handler. */
int dl_guard_active(void);

#endif
