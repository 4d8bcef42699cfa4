/*
 * uring.h - issuing fsyncs through io_uring (the io_uring engine).
 *
 * The engine thread of a handle owns one ring. When it leads a sync, every
 * file the sync must cover (the segments holding unsynced records and, after
 * a roll, the directory) has its fsync submitted at once, and the thread
 * sleeps once for all of them. Without liburing at build time, or when the
 * kernel refuses a ring, dl_uring_open fails and the handle uses the thread
 * engine, which calls fdatasync() itself: the guarantees are the same.
 */
#ifndef DL_URING_H
#define DL_URING_H

struct dl_uring;

/* Sets up a ring; returns 0, or -errno when io_uring is unavailable (-ENOSYS
 * also when built without liburing). */
int dl_uring_open(struct dl_uring **out);
void dl_uring_close(struct dl_uring *u);

/* One fsync to run: fd, whether fdatasync suffices, and its outcome. */
struct dl_uring_op {
    int fd;
    int datasync;
    int res;    /* out: 0, -errno, or DL_URING_NOT_RUN */
};

/* Never submitted: the caller may run it itself (no error was consumed). */
#define DL_URING_NOT_RUN 1

/* Runs every op's fsync concurrently and waits for all of them. Ops whose
 * outcome is known get res 0 or -errno (passed through dl_os.uring_result);
 * ops the ring could not take keep DL_URING_NOT_RUN. */
void dl_uring_fsync(struct dl_uring *u, struct dl_uring_op *ops, int n);

#endif
