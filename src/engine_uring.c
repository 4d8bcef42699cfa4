/*
 * engine_uring.c - the io_uring engine: the fsyncs of a sync the engine
 * thread leads, submitted at once through a ring (engine.h).
 *
 * The engine thread of a handle owns one ring. When it leads a sync, every
 * file the sync must cover (the segments holding unsynced records and, after
 * a roll, the directory) has its fsync submitted at once, and the thread
 * sleeps once for all of them. Without liburing at build time, or when the
 * kernel refuses a ring, opening the engine fails and the handle uses the
 * thread engine (engine_thread.c), which calls fdatasync() itself: the
 * guarantees are the same.
 *
 * The kernel cannot run an fsync without blocking, so io_uring hands each one
 * to an io-wq worker thread of its own: submitting never blocks the engine
 * thread, and several files are synced in parallel. Measured on the
 * development machine, one fdatasync through the ring costs ~15-20 us more
 * than the system call (p50 212.8 against 195.5 us: the hand-off), which is
 * why threads that block anyway (a `sync` appender leading a group commit)
 * call fdatasync() directly.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine.h"
#include "os.h"

#ifdef DURLOG_HAVE_LIBURING
#include <liburing.h>

/* Ops submitted per round; a sync covers one segment and the directory
 * unless unsynced records span several segments. */
#define DL_URING_ENTRIES 16

struct dl_uring {
    struct io_uring ring;
    int broken; /* a submission or wait failed: stop using the ring */
};

/* Sets up a ring; returns 0, or -errno when io_uring is unavailable. */
static int uring_open(void **state)
{
    struct dl_uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    int rc = dl_os.uring_init(DL_URING_ENTRIES, &u->ring);
    if (rc) {
        free(u);
        return rc < 0 ? rc : -EIO;
    }
    *state = u;
    return 0;
}

static void uring_close(void *state)
{
    struct dl_uring *u = state;
    if (!u)
        return;
    io_uring_queue_exit(&u->ring);
    free(u);
}

/* Submits ops[0..n) (n <= DL_URING_ENTRIES) and reaps their completions. */
static void run_round(struct dl_uring *u, struct dl_fsync_op *ops, int n)
{
    int prepared = 0;
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (!sqe)
            break;
        io_uring_prep_fsync(sqe, ops[i].fd, ops[i].datasync ? IORING_FSYNC_DATASYNC : 0);
        io_uring_sqe_set_data64(sqe, (unsigned long long)i);
        prepared++;
    }
    int submitted;
    do
        submitted = dl_os.uring_submit(&u->ring);
    while (submitted == -EINTR);
    if (submitted < prepared) {
        /* What the kernel did not take is still in the submission queue; it
         * would run at the next submit. Never reuse this ring. */
        u->broken = 1;
        if (submitted < 0)
            return; /* nothing ran: every op keeps DL_FSYNC_NOT_RUN */
    }
    for (int reaped = 0; reaped < submitted; reaped++) {
        struct io_uring_cqe *cqe;
        int rc;
        do
            rc = io_uring_wait_cqe(&u->ring, &cqe);
        while (rc == -EINTR);
        if (rc < 0) {
            /* The submitted ops ran or are running, with unknown outcome:
             * report a failure, never a success we did not see. */
            u->broken = 1;
            for (int i = 0; i < prepared; i++)
                if (ops[i].res == DL_FSYNC_NOT_RUN)
                    ops[i].res = rc;
            return;
        }
        unsigned long long i = io_uring_cqe_get_data64(cqe);
        if (i < (unsigned long long)prepared)
            ops[i].res = dl_os.uring_result(ops[i].fd, ops[i].datasync, cqe->res);
        io_uring_cqe_seen(&u->ring, cqe);
    }
}

/* Runs every op's fsync concurrently and waits for all of them. Ops whose
 * outcome is known get res 0 or -errno (passed through dl_os.uring_result);
 * ops the ring could not take keep DL_FSYNC_NOT_RUN. */
static void uring_fsync(void *state, struct dl_fsync_op *ops, int n)
{
    struct dl_uring *u = state;
    for (int i = 0; i < n; i++)
        ops[i].res = DL_FSYNC_NOT_RUN;
    for (int i = 0; i < n && !u->broken; i += DL_URING_ENTRIES)
        run_round(u, ops + i, n - i < DL_URING_ENTRIES ? n - i : DL_URING_ENTRIES);
}

const struct dl_engine_ops dl_engine_uring = {
    .name = "io_uring",
    .open = uring_open,
    .fsync = uring_fsync,
    .close = uring_close,
};

#else /* built without liburing */

/* -ENOSYS (or the seam's error): the handle uses the thread engine. */
static int uring_open(void **state)
{
    (void)state;
    int rc = dl_os.uring_init(0, NULL);
    return rc < 0 ? rc : -ENOSYS;
}

const struct dl_engine_ops dl_engine_uring = {
    .name = "io_uring",
    .open = uring_open,
};

#endif
