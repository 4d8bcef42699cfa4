/*
 * prealloc.c - the pre-faulter: a background thread per handle that keeps
 * the tail segment allocated (fallocate) and its pages faulted in
 * (MADV_POPULATE_WRITE) ahead of the appenders.
 *
 * Why: a `kernel` append is a store into a shared mapping. The first store
 * into each new page takes a page fault in which the kernel allocates and
 * zeroes a page-cache page; on a virtual machine that page may also have to
 * be backed by the host. Measured here that is over half the cost of an
 * append. Doing it on another thread, outside the append lock, takes it off
 * the appenders' path (Chronicle Queue's "pretoucher" does the same), and
 * keeps the append lock from being held across multi-millisecond growth.
 *
 * The appenders still grow the file themselves (tail.c)
 * when they catch up with the pre-faulter, so it is never needed for
 * correctness: it only moves work. It only ever raises the shared
 * tail_alloc, under the append lock, for the segment it extended.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "os.h"

uint64_t dl_prealloc_ahead(const struct dl_shared *sh)
{
    /* In proportion to what the log holds: the tail segment's bytes so far
     * (times DL_PREALLOC_RATIO), so that the allocation grows
     * geometrically as records arrive... */
    uint64_t held = sh->tail_off;
    if (held < DL_PREALLOC_AHEAD / DL_PREALLOC_RATIO)
        held *= DL_PREALLOC_RATIO;
    else
        held = DL_PREALLOC_AHEAD;
    if (held < DL_PREALLOC_AHEAD) {
        /* ...or, just after a roll, what the segment it left held: a log
         * that filled a segment is a big one, and its next segment gets
         * the full distance at once (the newest seal note is that
         * segment's while its end is this tail's start). Only a size for
         * allocating ahead, clamped: a hostile value here costs disk space
         * within the segment, never a store out of bounds. */
        uint64_t pushed = atomic_load(&sh->seal_pushed);
        if (pushed) {
            const struct dl_seal_note *n = &sh->seal_notes[(pushed - 1) % DL_SEAL_NOTES];
            if (n->end_seq == sh->tail_seg && n->end_off > held)
                held = n->end_off;
        }
    }
    if (held < DL_PREALLOC_AHEAD_MIN)
        held = DL_PREALLOC_AHEAD_MIN;
    return held < DL_PREALLOC_AHEAD ? held : DL_PREALLOC_AHEAD;
}

/* The handle's mapping of the tail, if it is still segment seg of
 * generation gen (under pmu or the append lock, which both keep it). */
static struct dl_segmap *same_tail(durlog *log, uint64_t seg, uint64_t gen)
{
    return log->tail.cur.fd >= 0 && log->tail.cur.first_seq == seg && log->tail.gen == gen
               ? &log->tail.cur
               : NULL;
}

/* Extends the tail segment to dl_prealloc_ahead past the tail, a chunk at a
 * time, publishing each chunk at once so that appenders racing ahead find
 * it before the whole extension is done. */
static void extend_once(durlog *log)
{
    struct dl_shared *sh = log->sh;
    for (;;) {
        if (dl_lock_append(log) != 0)
            return;
        uint64_t seg = sh->tail_seg, alloc = sh->tail_alloc;
        uint64_t cap = sh->tail_capacity, off = sh->tail_off;
        uint64_t gen = atomic_load(&sh->generation);
        uint64_t ahead = dl_prealloc_ahead(sh);
        dl_unlock_append(log);
        if (seg == DL_NO_SEGMENT)
            return;
        uint64_t goal = dl_page_ceil(off + ahead);
        if (goal > cap)
            goal = cap;
        if (goal <= alloc)
            return;
        uint64_t target = dl_page_ceil(alloc + DL_PREALLOC_CHUNK);
        if (target > goal)
            target = goal;

        /* The blocks first, outside the append lock (the slow part), and
         * without touching the file's size: the file is extended only
         * under the lock, below, where a cut made meanwhile is seen.
         * (Growing it here would let the appenders' stores land in a file
         * someone truncated, over a lost header and records, instead of
         * faulting, which fails the log.) On failure (a full disk) the
         * appender meets the error itself when it needs the space, and
         * reports it. Never the zero-writing fallback of dl_allocate:
         * appenders may store past `alloc` while this runs, and zeros
         * written now would erase their records. pmu keeps the mapping
         * (and its descriptor) from going meanwhile. */
        pthread_mutex_lock(&log->prefault.pmu);
        struct dl_segmap *m = same_tail(log, seg, gen);
        /* (Within the mapping: the values came from the coordination file,
         * which a hostile user may have written.) */
        int rc = m && dl_seg_span_ok(m, alloc, target - alloc)
                     ? dl_fallocate_keep_size(m->fd, (off_t)alloc, (off_t)(target - alloc))
                     : -ESTALE;
        pthread_mutex_unlock(&log->prefault.pmu);
        if (rc && rc != -EOPNOTSUPP)
            return;

        /* The size, under the append lock: stores wait meanwhile, so none
         * lands in a file cut and given its length back before the
         * header check has failed the log. The blocks are there, so this
         * is quick (the whole allocation where keep-size is missing). */
        if (dl_lock_append(log) != 0)
            return;
        /* A file cut below what was allocated is left as it is, and the
         * log is not failed here: the next appender's store faults, and
         * fails it with a message naming the file (this thread's message is
         * seen by nobody). */
        int grown = 0;
        struct dl_stat st;
        if (same_tail(log, seg, gen) && sh->tail_seg == seg && sh->tail_alloc < target &&
            dl_seg_span_ok(&log->tail.cur, sh->tail_alloc, target - sh->tail_alloc)) {
            /* Before the size is looked at: see dl_tail_header_intact. */
            int end_was_hole = dl_tail_end_is_hole(log);
            if (dl_stat_fd(log->tail.cur.fd, &st) == 0 && st.size >= sh->tail_alloc &&
                dl_fallocate(log->tail.cur.fd, (off_t)sh->tail_alloc,
                             (off_t)(target - sh->tail_alloc)) == 0)
                grown = dl_tail_header_intact(log, end_was_hole) == 0;
        }
        dl_unlock_append(log);
        if (!grown)
            return;

        /* The pages, through the appenders' own mapping (so that their
         * stores find them mapped), before they are offered. */
        pthread_mutex_lock(&log->prefault.pmu);
        if ((m = same_tail(log, seg, gen)) != NULL)
            dl_prefault(m->map, alloc, target, dl_prefault_for_write(log));
        pthread_mutex_unlock(&log->prefault.pmu);

        if (dl_lock_append(log) != 0)
            return;
        if (sh->tail_seg == seg && atomic_load(&sh->generation) == gen &&
            sh->tail_alloc < target)
            sh->tail_alloc = target;
        dl_unlock_append(log);
    }
}

static void *prealloc_main(void *arg)
{
    durlog *log = arg;
    /* The appender meets and reports any failure here itself. */
    char ignored[DL_ERRMSG_SIZE];
    dl_set_thread_errbuf(ignored);
    pthread_mutex_lock(&log->prefault.pmu);
    while (!log->prefault.stop) {
        if (!atomic_load(&log->prefault.kicked)) {
            pthread_cond_wait(&log->prefault.cond, &log->prefault.pmu);
            continue;
        }
        pthread_mutex_unlock(&log->prefault.pmu);
        extend_once(log);
        atomic_store(&log->prefault.kicked, 0);
        pthread_mutex_lock(&log->prefault.pmu);
    }
    pthread_mutex_unlock(&log->prefault.pmu);
    return NULL;
}

void dl_prealloc_kick(durlog *log)
{
    if (atomic_exchange(&log->prefault.kicked, 1))
        return;
    pthread_mutex_lock(&log->prefault.pmu);
    if (!atomic_load(&log->prefault.started) && !log->prefault.stop) {
        /* Without the thread, appenders simply grow the file themselves. */
        if (dl_os.thread_create(&log->prefault.thread, prealloc_main, log) == 0)
            atomic_store(&log->prefault.started, 1);
    }
    pthread_cond_signal(&log->prefault.cond);
    pthread_mutex_unlock(&log->prefault.pmu);
}

void dl_prealloc_stop(durlog *log)
{
    pthread_mutex_lock(&log->prefault.pmu);
    int started = atomic_load(&log->prefault.started);
    log->prefault.stop = 1;
    pthread_cond_signal(&log->prefault.cond);
    pthread_mutex_unlock(&log->prefault.pmu);
    if (started)
        pthread_join(log->prefault.thread, NULL);
    atomic_store(&log->prefault.started, 0);
}
