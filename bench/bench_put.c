/*
 * bench_put.c - whole-file atomic writes: `durlog put` against dd and the
 * alternatives to each of its design choices.
 *
 * Every row copies one source file (default 1 GiB of incompressible
 * xorshift bytes, created once, kept warm in the page cache) to a new
 * destination on the disk and makes it durable. The time of a row is the
 * wall clock of the whole operation, every fsync included (and, for the
 * command rows, fork, exec and exit). Rows:
 *
 *   dd                      `dd bs=1M conv=fdatasync`: the baseline. Not
 *                           atomic (no temporary, no rename, no directory
 *                           fsync), so a safe put doing the same work more
 *                           carefully is judged against it: target
 *                           durlog put (command) >= 0.9 x dd.
 *   durlog put (command)    `durlog put --no-progress SRC DEST`, fork/exec
 *   durlog_put_fd, ...      in-process, with the shipped dl_put_tuning and
 *                           with one knob turned: read/write instead of
 *                           copy_file_range, no writeback pacing, other
 *                           pacing windows and chunk sizes
 *   io_uring D x B          a prototype here only: D buffers of B bytes,
 *                           reads of the source and writes of a temporary
 *                           overlapped, then fdatasync, rename, directory
 *                           fsync
 *   read/write 1 MiB        what a careful program does by hand: read/write
 *                           loop into a temporary, fdatasync, rename,
 *                           directory fsync
 *
 * Fairness between rows: before each timed run DEST is unlinked (every row
 * writes new blocks, none overwrites in place) and sync() is called, so
 * that the writeback of one row does not bleed into the next; the source is
 * never dropped from the cache, and its residency is checked (mincore)
 * before every run and restored if the kernel evicted any of it. Every row
 * runs REPEATS times, interleaved: each round runs every row once, in a new
 * order (see shuffle), so that no row always follows the same one; the
 * table shows medians, minimums and maximums.
 *
 * Correctness: after each run, outside the timed region, DEST must have the
 * source's size and one link and match the source (in full after a row's
 * first run; after later ones on a 4 KiB sample at a random place in every
 * 1 MiB stripe), and no temporary may be left in the scratch directory. A
 * broken row fails the benchmark instead of looking fast.
 *
 * Usage: bench_put [--dir DIR] [--repeats R] [--mib N] [--durlog PATH]
 *                  [--only TEXT]   (dd and the rows whose name has TEXT)
 * Environment (argv wins): DURLOG_BENCH_DIR, DURLOG_BENCH_REPEATS,
 * DURLOG_BIN.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef DURLOG_HAVE_LIBURING
#include <liburing.h>
#endif

#include "durlog.h"
#include "lib/benchlib.h"
#include "put.h"

#define MIB ((uint64_t)1 << 20)
#define DEFAULT_MIB 1024
#define DEFAULT_REPEATS 5
#define MAX_REPEATS 100

/* Verification: the first run of each row compares DEST with the source in
 * full; later runs compare one SAMPLE at a random offset inside each STRIPE,
 * which still catches a chunk lost, duplicated or misplaced (the rows move
 * 1 to 32 MiB at a time) while reading 1/256 of the file. */
#define STRIPE MIB
#define SAMPLE 4096


enum kind {
    K_DD,       /* dd, fork/exec */
    K_COMMAND,  /* durlog put, fork/exec */
    K_PUT_FD,   /* durlog_put_fd() with `tuning` */
    K_URING,    /* the io_uring prototype with `depth` x `buf` */
    K_HAND,     /* read/write loop, fdatasync, rename, directory fsync */
};

struct row {
    char name[64];
    enum kind kind;
    struct dl_put_tuning tuning;
    unsigned depth;
    size_t buf;
    double *secs;              /* one per repeat */
    struct bench_spread t;     /* of secs */
};

#define MAX_ROWS 16

static struct row rows[MAX_ROWS];
static int nrows;

static struct dl_put_tuning shipped;   /* dl_put_tuning as linked */
static uint64_t size;                  /* bytes copied per run */
static const char *durlog_bin;
static const char *only;               /* --only: keep dd and the rows whose
                                          name contains this */

/* The scratch directory and the names in it, fixed so that the signal
 * handler can remove them without allocating. */
static char scratch[PATH_MAX];
static char src_path[PATH_MAX + 16];
static char dest_path[PATH_MAX + 16];
static char tmp_path[PATH_MAX + 16];   /* temporary of the io_uring and
                                          hand-rolled rows */
static const char *const known_names[] = { "src", "dest", "tmp" };

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- failure and clean-up ---- */

/* Async-signal-safe: unlink and rmdir only. A durlog put's temporary is
 * unnamed (O_TMPFILE) until just before its rename and goes with its
 * process; one caught with a name makes the rmdir fail, and the directory
 * is left behind with it. */
static void remove_scratch(void)
{
    if (!scratch[0])
        return;
    (void)unlink(src_path);
    (void)unlink(dest_path);
    (void)unlink(tmp_path);
    (void)rmdir(scratch);
}

static void on_signal(int sig)
{
    remove_scratch();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- plain I/O helpers (a benchmark must not hide a short write) ---- */

static void write_all(int fd, const char *buf, size_t len, const char *what)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die("write %s: %s", what, strerror(errno));
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void pread_all(int fd, char *buf, size_t len, off_t off, const char *what)
{
    while (len > 0) {
        ssize_t n = pread(fd, buf, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die("read %s at %lld: %s", what, (long long)off,
                      n < 0 ? strerror(errno) : "unexpected end of file");
        buf += n;
        len -= (size_t)n;
        off += n;
    }
}

static int open_or_die(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0)
        bench_die("open %s: %s", path, strerror(errno));
    return fd;
}

/* fsync of the scratch directory: makes a rename durable. */
static void fsync_dir(void)
{
    int fd = open_or_die(scratch, O_RDONLY | O_DIRECTORY, 0);
    if (fsync(fd) != 0)
        bench_die("fsync %s: %s", scratch, strerror(errno));
    close(fd);
}

/* The last steps of the hand-rolled and io_uring rows, as durlog does them:
 * the data is durable before it gets DEST's name, and the name is durable
 * before the row ends. */
static void commit_tmp(int fd)
{
    if (fdatasync(fd) != 0)
        bench_die("fdatasync %s: %s", tmp_path, strerror(errno));
    close(fd);
    if (rename(tmp_path, dest_path) != 0)
        bench_die("rename %s: %s", tmp_path, strerror(errno));
    fsync_dir();
}

/* ---- the source ---- */

static void create_source(void)
{
    size_t bufsize = MIB;
    char *buf = malloc(bufsize);
    int fd = open_or_die(src_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (!buf)
        bench_die("out of memory");
    for (uint64_t off = 0; off < size; off += bufsize) {
        size_t n = size - off < bufsize ? (size_t)(size - off) : bufsize;
        for (size_t i = 0; i + 8 <= bufsize; i += 8) {
            uint64_t v = xorshift();
            memcpy(buf + i, &v, 8);
        }
        write_all(fd, buf, n, src_path);
    }
    /* Synced now, so that its pages are clean: no row pays for writing the
     * source back, and the kernel may keep them cached for free. */
    if (fsync(fd) != 0)
        bench_die("fsync %s: %s", src_path, strerror(errno));
    close(fd);
    free(buf);
}

/* Pages of the source not in the page cache (mincore). */
static uint64_t source_missing(void)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t pages = (size + (uint64_t)page - 1) / (uint64_t)page, missing = 0;
    int fd = open_or_die(src_path, O_RDONLY, 0);
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc((size_t)pages);
    if (map == MAP_FAILED || !vec)
        bench_die("mmap %s: %s", src_path, strerror(errno));
    if (mincore(map, (size_t)size, vec) != 0)
        bench_die("mincore %s: %s", src_path, strerror(errno));
    for (uint64_t i = 0; i < pages; i++)
        missing += !(vec[i] & 1);
    free(vec);
    munmap(map, (size_t)size);
    close(fd);
    return missing;
}

/* Reads the whole source, bringing it back into the cache. */
static void warm_source(void)
{
    char *buf = malloc(MIB);
    int fd = open_or_die(src_path, O_RDONLY, 0);
    if (!buf)
        bench_die("out of memory");
    for (uint64_t off = 0; off < size; off += MIB) {
        size_t n = size - off < MIB ? (size_t)(size - off) : (size_t)MIB;
        pread_all(fd, buf, n, (off_t)off, src_path);
    }
    close(fd);
    free(buf);
}

/* ---- the rows ---- */

static double run_command(char *const argv[])
{
    double start = bench_now_s();
    pid_t pid = fork();
    int status;
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Not our handlers in the child: they would remove the scratch
         * directory under the parent. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "bench_put: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bench_die("waitpid: %s", strerror(errno));
    double end = bench_now_s();
    if (WIFSIGNALED(status))
        bench_die("%s killed by signal %d", argv[0], WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("%s failed (exit status %d)", argv[0], WEXITSTATUS(status));
    return end - start;
}

static double run_dd(void)
{
    static char in[sizeof src_path + 3], out[sizeof dest_path + 3];
    snprintf(in, sizeof in, "if=%s", src_path);
    snprintf(out, sizeof out, "of=%s", dest_path);
    char *argv[] = { "dd", in, out, "bs=1M", "conv=fdatasync", "status=none", NULL };
    return run_command(argv);
}

static double run_durlog_command(void)
{
    char *argv[] = { (char *)durlog_bin, "put", "--no-progress", src_path,
                     dest_path, NULL };
    return run_command(argv);
}

static double run_put_fd(const struct row *row)
{
    durlog_put_options opts;
    char errbuf[512] = "";
    durlog_put_options_init(&opts);
    opts.errbuf = errbuf;
    opts.errbuf_size = sizeof errbuf;
    dl_put_tuning = row->tuning;
    /* The open of the source is timed too, as the command does it. */
    double start = bench_now_s();
    int fd = open_or_die(src_path, O_RDONLY, 0);
    int rc = durlog_put_fd(dest_path, fd, &opts);
    close(fd);
    double end = bench_now_s();
    dl_put_tuning = shipped;
    if (rc < 0)
        bench_die("%s: %s (%s)", row->name, durlog_strerror(rc), errbuf);
    return end - start;
}

static double run_hand(void)
{
    char *buf = malloc(MIB);
    if (!buf)
        bench_die("out of memory");
    double start = bench_now_s();
    int in = open_or_die(src_path, O_RDONLY, 0);
    int out = open_or_die(tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    for (;;) {
        ssize_t n = read(in, buf, MIB);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            bench_die("read %s: %s", src_path, strerror(errno));
        if (n == 0)
            break;
        write_all(out, buf, (size_t)n, tmp_path);
    }
    close(in);
    commit_tmp(out);
    double end = bench_now_s();
    free(buf);
    return end - start;
}

#ifdef DURLOG_HAVE_LIBURING
/* One buffer of the pipeline: it reads [off, off + len) of the source, then
 * writes it at the same offset of the temporary, then takes the next piece.
 * `done` counts what the current step has moved (short reads and writes are
 * continued, not lost). */
struct slot {
    char *buf;
    uint64_t off;
    size_t len, done;
    int writing;
};

static void slot_submit(struct io_uring *ring, struct slot *s, int in, int out)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    /* At most one request per slot is in flight and the ring has a place
     * per slot, so this cannot run out. */
    if (!sqe)
        bench_die("io_uring: submission queue full");
    if (s->writing)
        io_uring_prep_write(sqe, out, s->buf + s->done, (unsigned)(s->len - s->done),
                            s->off + s->done);
    else
        io_uring_prep_read(sqe, in, s->buf + s->done, (unsigned)(s->len - s->done),
                           s->off + s->done);
    io_uring_sqe_set_data(sqe, s);
}

/* Gives s the next piece of the file, if there is one left. */
static int slot_next(struct slot *s, uint64_t *next, size_t bufsize)
{
    if (*next >= size)
        return 0;
    s->off = *next;
    s->len = size - *next < bufsize ? (size_t)(size - *next) : bufsize;
    s->done = 0;
    s->writing = 0;
    *next += s->len;
    return 1;
}

static double run_uring(const struct row *row)
{
    struct io_uring ring;
    struct slot *slots = calloc(row->depth, sizeof *slots);
    if (!slots)
        bench_die("out of memory");
    for (unsigned i = 0; i < row->depth; i++)
        if (posix_memalign((void **)&slots[i].buf, 4096, row->buf) != 0)
            bench_die("out of memory");
    /* Buffers are not registered (fixed): the default RLIMIT_MEMLOCK of
     * 8 MiB cannot pin 4 x 8 MiB, and at 1 MiB per request the pinning
     * saved is small against the copying. */
    int rc = io_uring_queue_init(row->depth, &ring, 0);
    if (rc < 0)
        bench_die("io_uring_queue_init: %s", strerror(-rc));

    double start = bench_now_s();
    int in = open_or_die(src_path, O_RDONLY, 0);
    int out = open_or_die(tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    uint64_t next = 0;
    unsigned busy = 0;
    for (unsigned i = 0; i < row->depth; i++)
        if (slot_next(&slots[i], &next, row->buf)) {
            slot_submit(&ring, &slots[i], in, out);
            busy++;
        }
    while (busy > 0) {
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR)
            bench_die("io_uring_submit_and_wait: %s", strerror(-rc));
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            struct slot *s = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            seen++;
            if (res == -EINTR || res == -EAGAIN) {
                slot_submit(&ring, s, in, out);
                continue;
            }
            if (res < 0)
                bench_die("io_uring %s at %llu: %s", s->writing ? "write" : "read",
                          (unsigned long long)(s->off + s->done), strerror(-res));
            if (res == 0 && !s->writing)
                bench_die("io_uring read: %s ended early", src_path);
            s->done += (size_t)res;
            if (s->done < s->len) {
                slot_submit(&ring, s, in, out);
            } else if (!s->writing) {
                s->writing = 1;
                s->done = 0;
                slot_submit(&ring, s, in, out);
            } else if (slot_next(s, &next, row->buf)) {
                slot_submit(&ring, s, in, out);
            } else {
                busy--;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    close(in);
    commit_tmp(out);
    double end = bench_now_s();

    io_uring_queue_exit(&ring);
    for (unsigned i = 0; i < row->depth; i++)
        free(slots[i].buf);
    free(slots);
    return end - start;
}
#endif

/* ---- verification ---- */

/* Anything in the scratch directory besides the source and DEST is a
 * temporary some row left behind. */
static void check_dir_clean(const struct row *row)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    if (!d)
        bench_die("opendir %s: %s", scratch, strerror(errno));
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            strcmp(e->d_name, "src") && strcmp(e->d_name, "dest"))
            bench_die("%s left %s/%s behind", row->name, scratch, e->d_name);
    closedir(d);
}

/* DEST against the source: in full (full = 1), or one SAMPLE at a random
 * place in every STRIPE. */
static void verify(const struct row *row, int full)
{
    static char a[STRIPE], b[STRIPE];
    struct stat st;
    if (stat(dest_path, &st) != 0)
        bench_die("%s: no %s after the run: %s", row->name, dest_path, strerror(errno));
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size || st.st_nlink != 1)
        bench_die("%s: %s has %lld bytes and %lu links, expected %llu bytes and 1 link",
                  row->name, dest_path, (long long)st.st_size, (unsigned long)st.st_nlink,
                  (unsigned long long)size);
    int s = open_or_die(src_path, O_RDONLY, 0);
    int d = open_or_die(dest_path, O_RDONLY, 0);
    for (uint64_t stripe = 0; stripe < size; stripe += STRIPE) {
        uint64_t span = size - stripe < STRIPE ? size - stripe : STRIPE;
        size_t len = full || span < SAMPLE ? (size_t)span : SAMPLE;
        off_t off = (off_t)(stripe + xorshift() % (span - len + 1));
        pread_all(s, a, len, off, src_path);
        pread_all(d, b, len, off, dest_path);
        if (memcmp(a, b, len) != 0)
            bench_die("%s: %s differs from the source in bytes %lld to %lld", row->name,
                      dest_path, (long long)off, (long long)off + (long long)len);
    }
    close(s);
    close(d);
    check_dir_clean(row);
}

/* ---- one run ---- */

static uint64_t rewarms;   /* runs before which the source had to be re-read */
static uint64_t rewarmed;  /* pages re-read then, in all */

static double run_row(const struct row *row, int full_check)
{
    if (unlink(dest_path) != 0 && errno != ENOENT)
        bench_die("unlink %s: %s", dest_path, strerror(errno));
    uint64_t missing = source_missing();
    if (missing > 0) {
        warm_source();
        rewarms++;
        rewarmed += missing;
    }
    /* Earlier rows' writeback (and the freeing of the old DEST's blocks)
     * finishes here, not inside this row's time. */
    sync();
    double t = 0;
    switch (row->kind) {
    case K_DD: t = run_dd(); break;
    case K_COMMAND: t = run_durlog_command(); break;
    case K_PUT_FD: t = run_put_fd(row); break;
    case K_HAND: t = run_hand(); break;
    case K_URING:
#ifdef DURLOG_HAVE_LIBURING
        t = run_uring(row);
#endif
        break;
    }
    if (t <= 0)
        bench_die("%s: timer did not advance", row->name);
    verify(row, full_check);
    return t;
}

/*
 * The order of the rows in one round: a new permutation every round, from a
 * fixed seed (the same orders every run). Not merely rotated: a rotation
 * keeps each row's predecessor in all rounds but one, and what a row leaves
 * behind can slow the next one. On this project's VM the io_uring 4 x 1 MiB
 * row took about 2 s in nearly every round behind the same row under a
 * rotation, and 0.5 s run alone (bench/README.md, "bench_put").
 */
static void shuffle(int *order, int n)
{
    static uint64_t seed = 0x2545f4914f6cdd1du;
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        int j = (int)(seed % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* ---- set-up ---- */

static struct row *add_row(enum kind kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct row *add_row(enum kind kind, const char *fmt, ...)
{
    if (nrows == MAX_ROWS)
        bench_die("more than %d rows", MAX_ROWS);
    struct row *r = &rows[nrows++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->name, sizeof r->name, fmt, ap);
    va_end(ap);
    r->kind = kind;
    r->tuning = shipped;
    return r;
}

static void define_rows(void)
{
    struct row *r;
    add_row(K_DD, "dd bs=1M conv=fdatasync");
    add_row(K_COMMAND, "durlog put (command)");
    add_row(K_PUT_FD, "durlog_put_fd, defaults");
    r = add_row(K_PUT_FD, "durlog_put_fd, read/write");
    r->tuning.copy_range = 0;
    r = add_row(K_PUT_FD, "durlog_put_fd, no pacing");
    r->tuning.pacing = 0;
    r = add_row(K_PUT_FD, "durlog_put_fd, read/write, no pacing");
    r->tuning.copy_range = 0;
    r->tuning.pacing = 0;
    r = add_row(K_PUT_FD, "durlog_put_fd, window 8 MiB");
    r->tuning.window = 8 * MIB;
    r = add_row(K_PUT_FD, "durlog_put_fd, window 128 MiB");
    r->tuning.window = 128 * MIB;
    r = add_row(K_PUT_FD, "durlog_put_fd, chunk 1 MiB");
    r->tuning.chunk = (size_t)MIB;
    r = add_row(K_PUT_FD, "durlog_put_fd, chunk 32 MiB, window 128 MiB");
    r->tuning.chunk = (size_t)(32 * MIB);
    r->tuning.window = 128 * MIB;
#ifdef DURLOG_HAVE_LIBURING
    r = add_row(K_URING, "io_uring 4 x 1 MiB");
    r->depth = 4;
    r->buf = (size_t)MIB;
    r = add_row(K_URING, "io_uring 4 x 8 MiB");
    r->depth = 4;
    r->buf = (size_t)(8 * MIB);
    r = add_row(K_URING, "io_uring 16 x 1 MiB");
    r->depth = 16;
    r->buf = (size_t)MIB;
#endif
    add_row(K_HAND, "read/write 1 MiB, fdatasync, rename");

    /* --only: dd, the reference of the ratios, always stays. */
    int kept = 0;
    for (int i = 0; i < nrows; i++)
        if (!only || rows[i].kind == K_DD || strstr(rows[i].name, only))
            rows[kept++] = rows[i];
    nrows = kept;
}

/* build/durlog, next to the directory of this binary (build/bench). */
static const char *find_durlog(void)
{
    static char path[PATH_MAX + 16];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/../durlog", self);
    return access(path, X_OK) == 0 ? path : NULL;
}

static void make_scratch(const char *parent)
{
    int rc = bench_make_scratch(scratch, sizeof scratch, parent, "bench-put");
    if (rc)
        bench_die("cannot make a scratch directory in %s: %s", parent, strerror(-rc));
    snprintf(src_path, sizeof src_path, "%s/%s", scratch, known_names[0]);
    snprintf(dest_path, sizeof dest_path, "%s/%s", scratch, known_names[1]);
    snprintf(tmp_path, sizeof tmp_path, "%s/%s", scratch, known_names[2]);
}

/* ---- output ---- */

static void print_table(int repeats, const char *dir)
{
    const struct row *dd = &rows[0], *cmd = NULL;
    printf("durlog put benchmark: %llu MiB file, source warm in the page cache, "
           "%d repeats per row (interleaved, shuffled), medians\n",
           (unsigned long long)(size / MIB), repeats);
    struct bench_mount m;
    bench_mount_of(dir, &m);
    printf("scratch in %s: %s%s; durlog: %s\n", dir, m.type, bench_fs_in_memory(m.type) ?
           " (the fsyncs cost nothing there, the numbers mean little)" : "", durlog_bin);
    printf("MB/s = 10^6 bytes/s; x dd = throughput against dd's (median "
           "seconds of dd / of the row)\n\n");
    printf("%-46s %9s %8s %6s %8s %8s\n", "row", "median s", "MB/s", "x dd",
           "min s", "max s");
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        if (r->kind == K_COMMAND)
            cmd = r;
        printf("%-46s %9.3f %8.0f %6.2f %8.3f %8.3f\n", r->name, r->t.median,
               (double)size / r->t.median / 1e6, dd->t.median / r->t.median, r->t.min, r->t.max);
    }
    putchar('\n');
    if (cmd) {
        double ratio = dd->t.median / cmd->t.median;
        printf("target: durlog put (command) / dd = %.2f (target >= 0.90): %s\n",
               ratio, ratio >= 0.9 ? "target met" : "MISSED");
    }
    if (rewarms)
        printf("note: part of the source (%.1f MiB in all) had left the page cache "
               "before %llu runs and was read back in, outside the timed region\n",
               (double)rewarmed * (double)sysconf(_SC_PAGESIZE) / (double)MIB,
               (unsigned long long)rewarms);
    else
        printf("source fully in the page cache before every run\n");
}

int main(int argc, char **argv)
{
    const char *dir = getenv("DURLOG_BENCH_DIR");
    const char *env_repeats = getenv("DURLOG_BENCH_REPEATS");
    int repeats = env_repeats ? atoi(env_repeats) : DEFAULT_REPEATS;
    uint64_t mib = DEFAULT_MIB;
    durlog_bin = getenv("DURLOG_BIN");
    const struct bench_opt opts[] = {
        BENCH_OPT("--dir", 's', &dir),
        BENCH_OPT("--repeats", 'i', &repeats),
        BENCH_OPT_RANGE("--mib", 'u', &mib, 1, 65536),
        BENCH_OPT("--durlog", 's', &durlog_bin),
        BENCH_OPT("--only", 's', &only),
        BENCH_OPT_END,
    };
    if (bench_parse_opts(argc, argv, opts,
                         "usage: bench_put [--dir DIR] [--repeats R] [--mib N] "
                         "[--durlog PATH] [--only TEXT]"))
        return 2;
    if (!dir || !*dir)
        dir = ".";
    if (repeats < 1 || repeats > MAX_REPEATS)
        bench_die("--repeats must be 1 to %d", MAX_REPEATS);
    size = mib * MIB;
    if (!durlog_bin || !*durlog_bin)
        durlog_bin = find_durlog();
    if (!durlog_bin)
        bench_die("cannot find the durlog command next to this binary; set DURLOG_BIN "
                  "or --durlog");

    /* Room for the source, DEST and a temporary, with a margin. */
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < 3 * size + 256 * MIB)
        bench_die("%s has too little free space for 3 x %llu MiB", dir,
                  (unsigned long long)mib);

    shipped = dl_put_tuning;
    define_rows();
    for (int i = 0; i < nrows; i++)
        if (!(rows[i].secs = calloc((size_t)repeats, sizeof *rows[i].secs)))
            bench_die("out of memory");

    make_scratch(dir);
    bench_at_failure(remove_scratch);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    fprintf(stderr, "bench_put: creating a %llu MiB source in %s...\n",
            (unsigned long long)mib, scratch);
    create_source();
    sync();

    for (int r = 0; r < repeats; r++) {
        fprintf(stderr, "bench_put: round %d of %d\n", r + 1, repeats);
        int order[MAX_ROWS];
        shuffle(order, nrows);
        for (int k = 0; k < nrows; k++)
            rows[order[k]].secs[r] = run_row(&rows[order[k]], r == 0);
    }
    if (unlink(dest_path) != 0)
        bench_die("unlink %s: %s", dest_path, strerror(errno));

    for (int i = 0; i < nrows; i++)
        rows[i].t = bench_spread_of(rows[i].secs, repeats);
    print_table(repeats, dir);
    remove_scratch();
    for (int i = 0; i < nrows; i++)
        free(rows[i].secs);
    return 0;
}
