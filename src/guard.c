/*
 * guard.c - the SIGBUS handler that turns a fault in one of durlog's own
 * mappings into a mark (see guard.h).
 *
 * The registry is an array of chunks of slots that only grows. The handler
 * walks it with atomic loads and takes no lock (a lock the faulting thread
 * might already hold would deadlock it); registering takes a mutex only to
 * add a chunk.
 */
#include "guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"

/* Guarded mappings are registered in chunks of DL_GUARD_CHUNK slots,
 * allocated as needed up to DL_GUARD_CHUNKS of them: up to 262144 mappings
 * at once, far more than the handles and readers of a process map (one
 * segment and the coordination file each). */
#define DL_GUARD_CHUNK 256
#define DL_GUARD_CHUNKS 1024

static struct dl_guard *_Atomic chunks[DL_GUARD_CHUNKS];
static pthread_mutex_t grow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static struct sigaction previous;    /* the program's handler before ours */
static _Atomic int installed;
static _Atomic uint64_t faults;
static uintptr_t page_mask;

/* Hands the signal to whatever handled it before durlog. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(sig, si, uc);
        return;
    }
    if (previous.sa_handler == SIG_IGN && si->si_code <= 0)
        return; /* sent by kill() and ignored before durlog: still ignored */
    if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
        /* The default action, as if durlog had never been there: with the
         * default disposition back, a fault raised by an instruction comes
         * again when it runs again on return; a signal sent by kill() is
         * raised again (blocked until this handler returns). */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        sigaction(sig, &dfl, NULL);
        if (si->si_code <= 0)
            raise(sig);
        return;
    }
    previous.sa_handler(sig);
}

static struct dl_guard *find(uintptr_t a)
{
    for (size_t c = 0; c < DL_GUARD_CHUNKS; c++) {
        struct dl_guard *ch = atomic_load_explicit(&chunks[c], memory_order_acquire);
        if (!ch)
            return NULL;
        for (size_t i = 0; i < DL_GUARD_CHUNK; i++) {
            uintptr_t s = atomic_load_explicit(&ch[i].start, memory_order_acquire);
            if (s > 1 && a >= s && a - s < atomic_load_explicit(&ch[i].len, memory_order_relaxed))
                return &ch[i];
        }
    }
    return NULL;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    struct dl_guard *g = si->si_code > 0 ? find((uintptr_t)si->si_addr) : NULL;
    if (g) {
        uintptr_t start = atomic_load(&g->start);
        uintptr_t page = (uintptr_t)si->si_addr & page_mask;
        size_t rest = start + atomic_load(&g->len) - page;
        uint64_t off = page - start, cur = atomic_load(&g->fault_off);
        while (off < cur && !atomic_compare_exchange_weak(&g->fault_off, &cur, off))
            ;
        /* Marked first: a thread whose store lands on the zero pages below
         * then sees the mark when it looks (guard.h). */
        atomic_store(&g->faulted, 1);
        atomic_fetch_add(&faults, 1);
        /* The raw system call: a sanitizer's mmap interceptor is no place to
         * be in a signal handler. */
        long p = syscall(SYS_mmap, (void *)page, rest, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (p == (long)page) {
            void (*cb)(void *) = atomic_load(&g->on_fault);
            if (cb && page == start)
                cb((void *)start);
            errno = saved_errno;
            return;
        }
        /* Out of memory for the zero pages: nothing can be done here. */
    }
    errno = saved_errno;
    chain(sig, si, uc);
}

static void install(void)
{
    page_mask = ~((uintptr_t)dl_page_size() - 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    /* SA_ONSTACK: on the program's alternate stack if it has one (a fault
     * on an overflowing stack). SA_NODEFER is not set: a SIGBUS inside the
     * handler (none is expected) is then the default action, not a loop. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous) == 0)
        atomic_store(&installed, 1);
}

struct dl_guard *dl_guard_add(void *addr, size_t len, void (*on_fault)(void *start))
{
    pthread_once(&install_once, install);
    if (!atomic_load(&installed) || !addr || !len)
        return NULL;
    for (size_t c = 0; c < DL_GUARD_CHUNKS; c++) {
        struct dl_guard *ch = atomic_load_explicit(&chunks[c], memory_order_acquire);
        if (!ch) {
            pthread_mutex_lock(&grow_mu);
            ch = atomic_load(&chunks[c]);
            if (!ch) {
                ch = calloc(DL_GUARD_CHUNK, sizeof *ch);
                if (ch)
                    atomic_store_explicit(&chunks[c], ch, memory_order_release);
            }
            pthread_mutex_unlock(&grow_mu);
            if (!ch)
                return NULL;
        }
        for (size_t i = 0; i < DL_GUARD_CHUNK; i++) {
            uintptr_t free_mark = 0;
            if (atomic_load_explicit(&ch[i].start, memory_order_relaxed) != 0 ||
                !atomic_compare_exchange_strong(&ch[i].start, &free_mark, 1))
                continue;
            atomic_store(&ch[i].faulted, 0);
            atomic_store(&ch[i].fault_off, UINT64_MAX);
            atomic_store(&ch[i].len, len);
            atomic_store(&ch[i].on_fault, on_fault);
            atomic_store_explicit(&ch[i].start, (uintptr_t)addr, memory_order_release);
            return &ch[i];
        }
    }
    return NULL;
}

void dl_guard_remove(struct dl_guard *g)
{
    if (g)
        atomic_store_explicit(&g->start, 0, memory_order_release);
}

uint64_t dl_guard_count(void)
{
    return atomic_load(&faults);
}

int dl_guard_active(void)
{
    if (!atomic_load(&installed))
        return 0;
    struct sigaction now;
    return sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
           now.sa_sigaction == on_sigbus;
}
