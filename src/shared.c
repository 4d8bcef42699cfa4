/*
 * shared.c - robust process-shared locks and the publish/wait futex of the
 * coordination file (see shared.h).
 */
#include "shared.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "durlog.h"
#include "format.h"
#include "guard.h"
#include "interrupt.h"
#include "os.h"
#include "segment.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free "
               "to work across processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

/* In the SIGBUS handler (guard.c), on the zero page that replaced the
 * file: every loop that looks at `failed` now stops. */
static void shm_lost(void *start)
{
    struct dl_shared *sh = start;
    atomic_store_explicit(&sh->failed, DL_FAIL_LOST, memory_order_relaxed);
}

int dl_shm_map(int fd, int writable, struct dl_shared **out, struct dl_guard **guard)
{
    void *p;
    int rc = dl_mmap(DL_SHM_SIZE, writable ? PROT_READ | PROT_WRITE : PROT_READ, fd, 0, &p,
                     guard, shm_lost);
    if (rc == 0)
        *out = p;
    return rc;
}

void dl_shm_unmap(struct dl_shared *sh, struct dl_guard *guard)
{
    if (sh)
        dl_munmap(sh, DL_SHM_SIZE, guard);
}

int dl_shm_open_view(int dirfd, int writable, int *fd, struct dl_shared **out,
                     struct dl_guard **guard)
{
    struct dl_stat st;
    int f = dl_openat(dirfd, DL_SHM_NAME, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW, 0);
    if (f == -ENOENT || f == -EACCES || f == -EPERM || f == -ELOOP)
        return 1; /* ELOOP: a symbolic link, which no writer makes */
    if (f < 0)
        return f;
    int rc = dl_stat_fd(f, &st);
    if (!rc && (!S_ISREG(st.mode) || st.size < DL_SHM_SIZE))
        rc = 1;
    /* A file with other names may be someone else's (a hard link planted
     * to a file elsewhere): never mapped writable (dl_refuse_links). */
    if (!rc && writable && st.nlink > 1)
        rc = 1;
    if (!rc)
        rc = dl_shm_map(f, writable, out, guard);
    if (rc)
        dl_close(f);
    else
        *fd = f;
    return rc;
}

int dl_shm_lost(const struct dl_guard *guard)
{
    return dl_guard_faulted(guard);
}

int dl_boot_id(char buf[40])
{
    memset(buf, 0, 40);
    int fd = dl_openat(AT_FDCWD, "/proc/sys/kernel/random/boot_id", O_RDONLY, 0);
    if (fd == -ENOENT || fd == -EACCES || fd == -EPERM)
        return 0; /* no /proc here: boots cannot be told apart */
    if (fd < 0)
        return fd;
    ssize_t n = dl_read(fd, buf, 39);
    dl_close(fd);
    if (n < 0) {
        memset(buf, 0, 40);
        return (int)n;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
        buf[--n] = '\0';
    return 0;
}

static int init_one(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc)
        return -rc;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!rc)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!rc)
        rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;
}

int dl_shared_init_locks(struct dl_shared *sh)
{
    int rc = init_one(&sh->append_lock);
    if (!rc)
        rc = init_one(&sh->sync_lock);
    if (!rc)
        rc = init_one(&sh->seal_lock);
    return rc;
}

/* Byte 0 of the coordination file: the liveness lock's range. An OFD lock
 * (not flock) because another process can ask about it without taking it
 * (F_OFD_GETLK), which readers do; one per open file description, so each
 * handle, even two in one process, holds its own. */
static struct flock live_range(short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    return fl;
}

int dl_shm_hold_live(int fd)
{
    struct flock fl = live_range(F_RDLCK);
    return dl_ofd_lock(fd, F_OFD_SETLKW, &fl);
}

int dl_shm_probe_live(int fd)
{
    struct flock fl = live_range(F_WRLCK);
    int rc = dl_ofd_lock(fd, F_OFD_GETLK, &fl);
    return rc ? rc : fl.l_type != F_UNLCK;
}

int dl_shm_valid_for(const struct dl_shared *sh, int dirfd)
{
    struct dl_stat st;
    char boot[40];
    if (sh->magic != DL_SHM_MAGIC || sh->version != DL_SHM_VERSION ||
        sh->size != sizeof *sh || !atomic_load(&((struct dl_shared *)sh)->ready))
        return 0;
    int rc = dl_boot_id(boot);
    if (!rc)
        rc = dl_stat_fd(dirfd, &st);
    if (rc)
        return rc;
    return strncmp(boot, sh->boot_id, sizeof boot) == 0 && st.dev == sh->dir_dev &&
           st.ino == sh->dir_ino;
}

/* The fields of a note are stored and loaded one by one, atomically
 * (relaxed): a sealer may read a slot while a roller overwrites it, and the
 * count, read after, says whether what it read can be trusted. */
static void note_store(struct dl_seal_note *slot, const struct dl_seal_note *n)
{
    __atomic_store_n(&slot->seg, n->seg, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->end_seq, n->end_seq, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->end_off, n->end_off, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->ino, n->ino, __ATOMIC_RELAXED);
}

static struct dl_seal_note note_load(const struct dl_seal_note *slot)
{
    return (struct dl_seal_note){ __atomic_load_n(&slot->seg, __ATOMIC_RELAXED),
                                  __atomic_load_n(&slot->end_seq, __ATOMIC_RELAXED),
                                  __atomic_load_n(&slot->end_off, __ATOMIC_RELAXED),
                                  __atomic_load_n(&slot->ino, __ATOMIC_RELAXED) };
}

void dl_seal_note_push(struct dl_shared *sh, const struct dl_seal_note *note)
{
    uint64_t i = atomic_load(&sh->seal_pushed);
    /* A sealer that reads any of the stores below (its acquire fence, in
     * dl_seal_note_find) then reads a count of at least i. */
    atomic_thread_fence(memory_order_release);
    note_store(&sh->seal_notes[i % DL_SEAL_NOTES], note);
    atomic_store(&sh->seal_pushed, i + 1);
}

/* A note may be overwritten while it is copied (the sealer lags
 * DL_SEAL_NOTES rolls): the count read after the copy tells. Note i's slot
 * is overwritten by push i + DL_SEAL_NOTES, which stores into it while the
 * count still reads i + DL_SEAL_NOTES: from that count on, what was read
 * may be torn. */
int dl_seal_note_find(struct dl_shared *sh, uint64_t seg, struct dl_seal_note *out)
{
    uint64_t pushed = atomic_load(&sh->seal_pushed);
    uint64_t oldest = pushed > DL_SEAL_NOTES ? pushed - DL_SEAL_NOTES : 0;
    for (uint64_t i = pushed; i-- > oldest;) {
        struct dl_seal_note n = note_load(&sh->seal_notes[i % DL_SEAL_NOTES]);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load(&sh->seal_pushed) >= i + DL_SEAL_NOTES)
            return 0;
        if (n.seg == seg) {
            *out = n;
            return 1;
        }
    }
    return 0;
}

/* 1 if a <= b; else 0, with "A a is past B b" in why. */
static int not_past(const char *a_name, uint64_t a, const char *b_name, uint64_t b,
                    char *why, size_t len)
{
    if (a <= b)
        return 1;
    snprintf(why, len, "%s %" PRIu64 " is past %s %" PRIu64, a_name, a, b_name, b);
    return 0;
}

int dl_sh_marks_ok(uint64_t durable, uint64_t published, char *why, size_t len)
{
    return not_past("published_seq", published, "the largest sequence number",
                    DL_SEQ_LIMIT - 1, why, len) &&
           not_past("durable_seq", durable, "published_seq", published, why, len);
}

int dl_sh_tail_ok(const struct dl_shared *sh, char *why, size_t len)
{
    /* Each value read once: the checks and the message see the same. */
    uint64_t next = sh->next_seq, seg = sh->tail_seg, cap = sh->tail_capacity;
    uint64_t off = sh->tail_off, reserve = sh->reserve_end, alloc = sh->tail_alloc;
    uint64_t durable = atomic_load(&((struct dl_shared *)sh)->durable_seq);
    uint64_t published = atomic_load(&((struct dl_shared *)sh)->published_seq);
    if (!not_past("next_seq", next, "the largest sequence number", DL_SEQ_LIMIT - 1, why,
                  len) ||
        !not_past("published_seq", published, "next_seq", next, why, len) ||
        !dl_sh_marks_ok(durable, published, why, len))
        return 0;
    if (seg == DL_NO_SEGMENT)
        return 1;
    if (!not_past("tail_seg", seg, "next_seq", next, why, len) ||
        !not_past("tail_alloc", alloc, "tail_capacity", cap, why, len))
        return 0;
    if (cap <= DL_SEG_HEADER_SIZE || cap > DL_SEG_MAX_CAPACITY)
        snprintf(why, len, "tail_capacity %" PRIu64 " is no segment's", cap);
    else if (off < DL_SEG_HEADER_SIZE || off > cap || off % DL_REC_ALIGN)
        snprintf(why, len, "tail_off %" PRIu64 " is not a record's offset in a segment of "
                 "%" PRIu64 " bytes", off, cap);
    else if (reserve < off || reserve > cap)
        snprintf(why, len, "reserve_end %" PRIu64 " is outside [tail_off %" PRIu64
                 ", tail_capacity %" PRIu64 "]", reserve, off, cap);
    else
        return 1;
    return 0;
}

int dl_sh_note_ok(const struct dl_seal_note *note, uint64_t seg, uint64_t limit,
                  char *why, size_t len)
{
    if (note->seg != seg || note->end_seq <= seg || note->end_seq >= DL_SEQ_LIMIT)
        snprintf(why, len, "the seal note of segment %" PRIu64 " says records %" PRIu64
                 " to %" PRIu64, seg, note->seg, note->end_seq);
    else if (note->end_off <= DL_SEG_HEADER_SIZE || note->end_off > limit ||
             note->end_off % DL_REC_ALIGN)
        snprintf(why, len, "the seal note of segment %" PRIu64 " says its records end at "
                 "offset %" PRIu64 ", and it holds %" PRIu64 " bytes", seg, note->end_off,
                 limit);
    else
        return 1;
    return 0;
}

void dl_raise_mark(_Atomic uint64_t *mark, uint64_t v)
{
    uint64_t cur = atomic_load(mark);
    while (cur < v && !atomic_compare_exchange_weak(mark, &cur, v))
        ;
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer's pthread_mutex_timedlock interceptor records the lock as
 * taken only on 0, not on EOWNERDEAD; tell it. */
void __tsan_mutex_pre_lock(void *addr, unsigned flags);
void __tsan_mutex_post_lock(void *addr, unsigned flags, int recursion);
#define TSAN_TOOK_OWNER_DEAD_LOCK(m)                                         \
    (__tsan_mutex_pre_lock((m), 0), __tsan_mutex_post_lock((m), 0, 0))
#else
#define TSAN_TOOK_OWNER_DEAD_LOCK(m) ((void)0)
#endif

/* The locks live in a file anyone who may write the log can change, and
 * glibc keeps a robust mutex's state inside it: its kind, which decides the
 * code path every lock call takes (a kind with lock elision makes
 * pthread_mutex_trylock run transactional instructions the processor may
 * not have: SIGILL), and, while it is held, the holder's place in its
 * thread's list of robust mutexes (two pointers that pthread_mutex_unlock
 * writes through). So, with glibc:
 *  - before a lock call, the kind must be the one dl_shared_init_locks
 *    gave it, else the call is not made (DL_LOCK_DAMAGED);
 *  - while this thread holds a lock, a private copy of its state is kept,
 *    and written back over it before the unlock: nobody else has any
 *    business with those bytes meanwhile (other lockers only mark the lock
 *    word as waited for), so a holder's state changed by someone else
 *    never turns into a store through a pointer someone else chose.
 * Elsewhere the locks are used as they are. */
#if defined(__GLIBC__)
/* Locks one thread may hold at once: the append, sync and seal locks of a
 * log (one log's at a time), with room to spare. */
#define DL_HELD_LOCKS 4
static _Thread_local struct {
    pthread_mutex_t *m;
    __typeof__(((pthread_mutex_t *)0)->__data) state;
} held_locks[DL_HELD_LOCKS];

/* The kind dl_shared_init_locks gives a lock, learnt once from a lock made
 * the same way; -1 until then (or if that failed: no kind matches). */
static _Atomic int known_lock_kind = -1;

static __attribute__((noinline)) int learn_lock_kind(void)
{
    pthread_mutex_t ref;
    if (init_one(&ref) != 0)
        return -1;
    int k = ref.__data.__kind;
    pthread_mutex_destroy(&ref);
    atomic_store(&known_lock_kind, k);
    return k;
}

/* Taken on every append: the learning stays out of line. */
static inline int lock_kind(void)
{
    int k = atomic_load_explicit(&known_lock_kind, memory_order_relaxed);
    return k != -1 ? k : learn_lock_kind();
}

static int kind_ok(const pthread_mutex_t *m)
{
    return m->__data.__kind == lock_kind();
}

static void note_held(pthread_mutex_t *m)
{
    for (size_t i = 0; i < DL_HELD_LOCKS; i++) {
        if (!held_locks[i].m || held_locks[i].m == m) {
            held_locks[i].m = m;
            held_locks[i].state = m->__data;
            return;
        }
    }
}

/* Puts back the state this thread's lock had when it took it (all but the
 * lock word, which waiters change, and whose owner bits are ours). */
static void restore_held(pthread_mutex_t *m)
{
    for (size_t i = 0; i < DL_HELD_LOCKS; i++) {
        if (held_locks[i].m != m)
            continue;
        const size_t word = sizeof m->__data.__lock;
        char *now = (char *)&m->__data + word, *then = (char *)&held_locks[i].state + word;
        /* Written back whether changed or not: a few stores into a line
         * this thread owns (it took the lock), cheaper than comparing. */
        memcpy(now, then, sizeof m->__data - word);
        _Atomic int *lock = (_Atomic int *)&m->__data.__lock;
        int mine = held_locks[i].state.__lock & FUTEX_TID_MASK;
        int cur = atomic_load(lock);
        while ((cur & FUTEX_TID_MASK) != mine &&
               !atomic_compare_exchange_weak(lock, &cur, mine | (cur & FUTEX_WAITERS)))
            ;
        held_locks[i].m = NULL;
        return;
    }
}
/* Whether the lock looks free (its word holds no owner): worth a trylock. */
static int looks_free(pthread_mutex_t *m)
{
    return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0;
}
#else
static int looks_free(pthread_mutex_t *m)
{
    (void)m;
    return 1;
}
static int kind_ok(const pthread_mutex_t *m)
{
    (void)m;
    return 1;
}
static void note_held(pthread_mutex_t *m)
{
    (void)m;
}
static void restore_held(pthread_mutex_t *m)
{
    (void)m;
}
#endif

/* One attempt: 0, 1 (owner died), -EBUSY or another negative error. */
int dl_mutex_trylock(pthread_mutex_t *m)
{
    if (!kind_ok(m))
        return DL_LOCK_DAMAGED;
    int rc = pthread_mutex_trylock(m);
    if (rc == 0 || rc == EOWNERDEAD)
        note_held(m);
    return rc == EOWNERDEAD ? 1 : -rc;
}

/* How long an appender waits for the append lock before it gives up. The
 * lock is held for a copy, never across an fdatasync: a holder that keeps it
 * for seconds is stopped or hung, or the lock word is not a holder's at all
 * (an old copy of the coordination file written over the live one, taken
 * while the lock was held, names as holder a thread that is not). Waiting
 * for ever would hang every writer. */
_Atomic uint64_t dl_lock_patience_ns = 10ull * DL_NS_PER_S;

/* How many times a locker looks at a held lock (a pause between looks,
 * tens of nanoseconds each) before it sleeps. */
#define DL_LOCK_SPINS 128

/* How long a locker sleeps before looking at a robust lock again. */
#define DL_LOCK_RECHECK_NS 50000000u

int dl_mutex_lock_within(pthread_mutex_t *m, uint64_t patience_ns)
{
    uint64_t start = 0; /* read only once the lock is found busy: on a
                           virtual machine a clock read costs as much as an
                           uncontended lock and unlock together */
    /* Never an unbounded sleep: a holder killed inside its unlock, after
     * releasing the lock word but before its FUTEX_WAKE, loses the wake-up
     * whenever another thread takes the lock through the fast path before
     * the kernel processes the death (the word is then owned again, so the
     * kernel's rescue for dead unlockers does not fire, and the new owner
     * does not know anyone sleeps). Seen in the kill tests about once in 600
     * kills. Sleeping in bounded steps turns that into a delay of at most
     * DL_LOCK_RECHECK_NS. */
    if (!kind_ok(m))
        return DL_LOCK_DAMAGED;
    int rc = pthread_mutex_trylock(m);
    /* Held: a holder appending takes well under a microsecond, and sleeping
     * costs two futex calls and a wake-up (over 5 us on a virtual machine),
     * which made two processes appending at `kernel` slower together than
     * one alone. So look again for a few microseconds first. */
    for (int spin = 0; rc == EBUSY && spin < DL_LOCK_SPINS; spin++) {
        dl_cpu_relax();
        if (looks_free(m))
            rc = pthread_mutex_trylock(m);
    }
    if (rc == EBUSY)
        start = dl_mono_ns();
    while (rc == EBUSY) {
        /* timedlock (CLOCK_REALTIME), not clocklock: ThreadSanitizer does not
         * know clocklock; a clock jump merely moves the next look. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += DL_LOCK_RECHECK_NS;
        if (ts.tv_nsec >= DL_NS_PER_S) {
            ts.tv_sec++;
            ts.tv_nsec -= DL_NS_PER_S;
        }
        if (!kind_ok(m))
            return DL_LOCK_DAMAGED;
        rc = pthread_mutex_timedlock(m, &ts);
        if (rc == ETIMEDOUT && dl_mono_ns() - start >= patience_ns)
            return -ETIMEDOUT;
        if (rc == ETIMEDOUT)
            rc = EBUSY;
        else if (rc == EOWNERDEAD)
            TSAN_TOOK_OWNER_DEAD_LOCK(m);
    }
    if (rc == 0 || rc == EOWNERDEAD)
        note_held(m);
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD)
        return 1;
    return -rc; /* ENOTRECOVERABLE: a repair failed earlier; reopen */
}

void dl_mutex_consistent(pthread_mutex_t *m)
{
    pthread_mutex_consistent(m);
    note_held(m); /* its owner is this thread now, not a dead one */
}

void dl_mutex_unlock(pthread_mutex_t *m)
{
    restore_held(m);
    pthread_mutex_unlock(m);
}

void dl_publish(struct dl_shared *sh, uint64_t next_seq, uint64_t tail_seg)
{
    atomic_store_explicit(&sh->published_seg, tail_seg, memory_order_relaxed);
    atomic_store(&sh->published_seq, next_seq);
    /* A sync leader waiting for its batch to fill: wake it once, when full. */
    uint64_t goal = atomic_load(&sh->batch_goal);
    if (goal && next_seq >= goal &&
        atomic_compare_exchange_strong(&sh->batch_goal, &goal, 0)) {
        atomic_fetch_add(&sh->goal_event, 1);
        (void)dl_futex_wake_n(&sh->goal_event, 1); /* a failure: the leader's
                                                     wait is bounded */
    }
    /* seq_cst store above, seq_cst loads in the wake: a waiter either sees
     * the new published_seq or is counted before it sleeps. */
    dl_waitq_wake(&sh->published);
}

uint32_t dl_waitq_enter(struct dl_waitq *q)
{
    uint32_t ticket = atomic_load(&q->epoch) & 1;
    atomic_fetch_add(&q->count[ticket], 1);
    return ticket;
}

void dl_waitq_leave(struct dl_waitq *q, uint32_t ticket)
{
    /* Below zero only if a waker dropped this count as a dead sleeper's
     * (this sleeper overstayed the grace period, stopped or descheduled):
     * put it back, so that no later sleeper goes uncounted. */
    if (atomic_fetch_sub(&q->count[ticket], 1) <= 0)
        atomic_fetch_add(&q->count[ticket], 1);
}

int dl_waitq_sleep(struct dl_waitq *q, uint32_t seen, uint64_t timeout_ns)
{
    if (timeout_ns > DL_WAITQ_SLICE_NS)
        timeout_ns = DL_WAITQ_SLICE_NS;
    return dl_futex_wait(&q->event, seen, timeout_ns);
}

/* A wake found sleepers counted but nobody asleep. Usually one is between
 * counting itself and sleeping; it may also have died counted. Start a new
 * epoch; once a grace period has passed, every live sleeper counted in the
 * old one has left it, and what remains there is dropped. flip holds when
 * the epoch changed and which one it left: (ns << 1) | old parity. */
static void waitq_suspect(struct dl_waitq *q)
{
    uint64_t flip = atomic_load(&q->flip);
    uint64_t now = dl_mono_ns();
    if (!flip) {
        uint32_t epoch = atomic_load(&q->epoch);
        if (atomic_compare_exchange_strong(&q->flip, &flip, (now << 1) | (epoch & 1)))
            atomic_fetch_add(&q->epoch, 1);
        return;
    }
    /* Signed: another waker may have flipped after we read the clock. */
    if ((int64_t)(now - (flip >> 1)) < (int64_t)DL_WAITQ_GRACE_NS ||
        !atomic_compare_exchange_strong(&q->flip, &flip, 0))
        return;
    uint32_t old = (uint32_t)(flip & 1);
    /* Unless the flipper died before moving the epoch on: then `old` is
     * still the current one, full of live sleepers. */
    if ((atomic_load(&q->epoch) & 1) != old)
        atomic_exchange(&q->count[old], 0);
}

void dl_waitq_wake(struct dl_waitq *q)
{
    if (atomic_load(&q->count[0]) <= 0 && atomic_load(&q->count[1]) <= 0)
        return;
    atomic_fetch_add(&q->event, 1);
    /* (A wake that failed woke nobody, and proves nothing about sleepers:
     * they look again at the end of their slice.) */
    if (dl_futex_wake_n(&q->event, INT_MAX) == 0)
        waitq_suspect(q);
}

int dl_wait_published(struct dl_shared *sh, uint64_t seq, uint64_t deadline_ns,
                      struct dl_intr *intr, uint64_t ticket)
{
    for (;;) {
        uint64_t left = UINT64_MAX;
        if (deadline_ns) {
            uint64_t now = dl_mono_ns();
            if (now >= deadline_ns)
                return atomic_load(&sh->published_seq) > seq ? 0 : -ETIMEDOUT;
            left = deadline_ns - now;
        }
        uint32_t count = dl_waitq_enter(&sh->published);
        uint32_t ev = atomic_load(&sh->published.event);
        int done = atomic_load(&sh->published_seq) > seq;
        int rc = done ? 0 : dl_intr_check(intr, ticket);
        if (!done && !rc)
            rc = dl_waitq_sleep(&sh->published, ev, left);
        dl_waitq_leave(&sh->published, count);
        if (done || rc)
            return rc;
    }
}

void dl_durable_changed(struct dl_shared *sh)
{
    dl_waitq_wake(&sh->durable);
}

int dl_wait_batch_goal(struct dl_shared *sh, uint64_t goal, uint64_t timeout_ns)
{
    uint32_t seen = atomic_load(&sh->goal_event);
    int rc = 0;
    atomic_store(&sh->batch_goal, goal);
    /* seq_cst: either the appender reaching the goal sees batch_goal, or we
     * see its published_seq here. */
    if (atomic_load(&sh->published_seq) < goal)
        rc = dl_futex_wait(&sh->goal_event, seen, timeout_ns);
    atomic_store(&sh->batch_goal, 0);
    return rc;
}
