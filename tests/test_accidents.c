/*
 * test_accidents.c - issue #14 "Tests that keep it fixed": an accident loop.
 *
 * Three writer processes loop: open the log (4096-byte segments, so that
 * it has many sealed segments), append a short batch at mixed levels
 * (buffered, kernel, interval, sync, and durlog_append_batch), close. A
 * reader process reads the log over and over meanwhile. Between their
 * batches the controller (this process) applies, at random, one accident,
 * and records what it did and when (CLOCK_MONOTONIC, which every process
 * shares):
 *   rm-shm        removes durlog.shm;
 *   old-shm       renames a copy of durlog.shm taken earlier over it;
 *   flip          flips one byte inside the payload of a record in a
 *                 sealed segment (remembering that record);
 *   move          renames a middle segment to a backup directory outside
 *                 the log (so it knows exactly which records it took away);
 *   chmod         chmod 000 of a middle segment (the test runs as root, so
 *                 it matters only to readers that are not: a reader running
 *                 as user nobody must then fail naming the file, never stop
 *                 silently); restored later;
 *   replace-tail  cp + mv of the last segment: reads it, writes a copy in
 *                 the log directory, waits 1-8 ms, renames the copy over it.
 *
 * Every acknowledgement is recorded in shared memory: writer, index, seq,
 * level, and the monotonic time before and after the call (a `buffered`
 * record is acknowledged by the next successful append of its handle at
 * another level, which flushes it first, or by a successful close). Each
 * payload names its writer and index (tu_payload), so a record can be found
 * anywhere by its bytes.
 *
 * The run is cut into epochs of at most 160 rounds, each on a fresh log and
 * ending with the checks below. Every other epoch (an "undo" epoch) leaves
 * out the cp + mv, which cannot be undone, and before its checks puts back
 * every segment it moved and flips back every byte it flipped.
 *
 * Afterwards (writers stopped, permissions restored, moved segments left in
 * the backup directory unless the epoch undoes them):
 *  a. no acknowledged record was deleted by durlog itself: each one is
 *     found, byte for byte, in a segment, in a side file ("*.cut-*",
 *     "*.replaced*") or in the controller's backup directory, unless the
 *     controller's own action explains its loss: it is the record whose
 *     byte was flipped, or the call that acknowledged it overlapped a
 *     cp + mv of the last segment (it may have stored the record into the
 *     old file after the copy read that part, and returned just after the
 *     rename; a call that begins after the rename has returned is never
 *     excused);
 *  b. every read either returns all of them or fails naming the problem:
 *     a writer's open (recovery) succeeds or fails with DURLOG_ECORRUPT
 *     naming a segment or records and `durlog check` (or EBUSY/EFAILED,
 *     with a message); a plain reader either reaches DURLOG_EEND having
 *     returned every acknowledged record still in a segment, or stops with
 *     an error naming a file or records, and then a skip_damaged reader
 *     returns every one of them; after an undo epoch that put everything
 *     back, with nothing cut into side files, the plain reader must read
 *     the whole log. No reader (the final ones, the one that
 *     ran during the loop, the nobody readers) ever returns a payload the
 *     test did not append, a sequence number twice or out of order, the
 *     same record twice, or an acknowledged record at another sequence
 *     number than it was acknowledged with. `durlog check` says clean or
 *     names a problem, and agrees with the plain reader;
 *  c. no crash, no hang (every wait is bounded), no child killed by a
 *     signal, and writers never stay unable to open the log for long except
 *     when it is refused as damaged (then the controller repairs it, as an
 *     operator would, with durlog_check(REPAIR | FORCE), which keeps what it
 *     cuts in side files).
 *
 * A run stops at the end of the first epoch that fails, and then prints
 * every accident of that epoch with its time, and the writers' first
 * refusal and failure messages.
 *
 * Environment:
 *   DURLOG_ACCIDENT_SEED    the seed of the controller's and writers'
 *                           choices (printed by every run; default: from the
 *                           clock). Timing still differs from run to run.
 *   DURLOG_ACCIDENT_ROUNDS  accidents in all (default 640: four epochs, about
 *                           15 s): scale it up for soak runs
 *   DURLOG_TEST_SCALE       divides the default number of rounds (slow
 *                           sanitizer builds)
 *   DURLOG_ACCIDENT_KINDS   only these accidents, e.g. "flip,move" (to
 *                           narrow a failure down)
 *   DURLOG_ACCIDENT_KEEP    keep the scratch directory of a failed epoch
 *   DURLOG_ACCIDENT_VERBOSE print more, and snapshot the log when a nobody
 *                           reader stops early
 */
#include <dirent.h>
#include <grp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "crc32c.h"
#include "format.h"
#include "lib/children.h"
#include "lib/logfiles.h"
#include "lib/payload.h"

#define NW 3                   /* writer processes */
#define EXTRA 100              /* payloads of 12..112 bytes */
#define SEG_SIZE 4096
#define MAX_INDEX (1u << 18)   /* records a writer may append in one epoch */
#define EPOCH_ROUNDS 160
#define DEFAULT_ROUNDS 640
#define NOBODY 65534
#define SHM_FILE "durlog.shm"
#define SEG_NAME_LEN 24
#define MAX_CHMODDED 16        /* segments chmod 000 at once, at most */
#define MSG 400

enum kind { K_RM_SHM, K_OLD_SHM, K_FLIP, K_MOVE, K_CHMOD, K_REPLACE_TAIL, K_REPAIR, NKINDS };
static const char *kind_name[NKINDS] = { "rm-shm", "old-shm", "flip", "move", "chmod",
                                         "replace-tail", "operator-repair" };

enum how { HOW_ONE, HOW_BATCH, HOW_BUFFERED };
/* Why an open was refused. */
enum { R_EBUSY, R_EFAILED, R_ECORRUPT, R_OTHER, NREFUSALS };
static const char *refusal_name[NREFUSALS] = { "EBUSY", "EFAILED", "ECORRUPT", "other" };

struct ack {
    uint64_t index;
    uint64_t seq;       /* DURLOG_SEQ_PENDING for a buffered record */
    uint64_t t0, t1;    /* monotonic ns before and after the acknowledging call */
    uint8_t level;      /* the level it was appended at */
    uint8_t how;
};

struct wstate {
    _Atomic uint64_t nacks;
    _Atomic uint64_t attempted;     /* one past the highest index handed to durlog */
    _Atomic uint64_t opens;
    _Atomic uint64_t refused[NREFUSALS];
    _Atomic uint64_t append_failed, close_failed;
    _Atomic int last_refusal;       /* R_* of the last refusal, -1 after an open */
    _Atomic int bad;                /* a broken promise seen by the writer */
    char bad_msg[MSG];
    char sample[NREFUSALS][MSG];    /* the first message of each refusal */
    char append_sample[MSG];
};

struct board {
    _Atomic int stop;
    struct wstate w[NW];
    /* the reader that runs during the loop */
    _Atomic int reader_stop;
    _Atomic uint64_t reader_passes, reader_records, reader_errors;
    _Atomic int reader_bad;
    char reader_bad_msg[MSG];
    char reader_sample[MSG];
    /* a nobody reader's verdict */
    int nb_rc[2];
    uint64_t nb_records[2];
    int nb_bad[2];
    uint64_t nb_last[2];
    char nb_shm[2][2 * MSG]; /* the coordination file before and after */
    char nb_msg[2][MSG];
    char nb_bad_msg[2][MSG];
};

static void sleep_us(unsigned us)
{
    struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    uint64_t n = strtoull(v, &end, 0);
    return *end ? dflt : n;
}

static int says(const char *msg, const char *what)
{
    return msg && strstr(msg, what) != NULL;
}

/* A message that names a segment file or records (or a side file). */
static int names_problem(const char *msg)
{
    return msg && *msg && strcmp(msg, "no error") != 0 &&
           (says(msg, ".seg") || says(msg, "record"));
}

static void set_msg(char *dst, const char *src)
{
    if (snprintf(dst, MSG, "%s", src ? src : "(null)") >= MSG)
        memcpy(dst + MSG - 4, "...", 4); /* truncated */
}

/* ---- the writers ------------------------------------------------------- */

static struct ack *g_acks; /* NW * MAX_INDEX entries, shared with the writers */

static struct ack *acks_of(uint32_t w)
{
    return g_acks + (size_t)w * MAX_INDEX;
}

struct writer_arg {
    struct board *b;
    const char *log;
    uint32_t w;
    uint64_t seed;
};

static void writer_bad(struct wstate *ws, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void writer_bad(struct wstate *ws, const char *fmt, ...)
{
    if (!atomic_exchange(&ws->bad, 1)) {
        char buf[2 * MSG];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        set_msg(ws->bad_msg, buf);
    }
}

static void ack(struct wstate *ws, uint32_t w, uint64_t index, uint64_t seq,
                uint64_t t0, uint64_t t1, durlog_level level, enum how how)
{
    uint64_t n = atomic_load(&ws->nacks);
    struct ack *a = &acks_of(w)[n];
    a->index = index;
    a->seq = seq;
    a->t0 = t0;
    a->t1 = t1;
    a->level = (uint8_t)level;
    a->how = (uint8_t)how;
    atomic_store(&ws->nacks, n + 1);
}

static int classify_refusal(int rc)
{
    return rc == -EBUSY ? R_EBUSY : rc == DURLOG_EFAILED ? R_EFAILED
         : rc == DURLOG_ECORRUPT ? R_ECORRUPT : R_OTHER;
}

static int writer_main(void *arg)
{
    struct writer_arg *a = arg;
    struct wstate *ws = &a->b->w[a->w];
    uint64_t rnd = a->seed ^ (0x9e3779b97f4a7c15ull * (a->w + 1));
    uint64_t index = 0;
    test_rand(&rnd);
    while (!atomic_load(&a->b->stop)) {
        char err[MSG] = "";
        durlog_options o = {
            .segment_size = SEG_SIZE,
            .interval_ms = 5,
            .buffer_size = 4096,
            .errbuf = err,
            .errbuf_size = sizeof err,
        };
        durlog *log;
        int rc = durlog_open(a->log, &o, &log);
        if (rc) {
            int r = classify_refusal(rc);
            if (atomic_fetch_add(&ws->refused[r], 1) == 0) {
                char buf[2 * MSG];
                snprintf(buf, sizeof buf, "%d %s: %s", rc, durlog_strerror(rc), err);
                set_msg(ws->sample[r], buf);
            }
            atomic_store(&ws->last_refusal, r);
            if (!err[0])
                writer_bad(ws, "an open failed with %s and no message", durlog_strerror(rc));
            if (rc == DURLOG_ECORRUPT && !(says(err, "durlog check") && names_problem(err)))
                writer_bad(ws, "an open refused as damaged without naming the damage "
                           "and `durlog check`: %s", err);
            sleep_us(1000 + (unsigned)(test_rand(&rnd) % 3000));
            continue;
        }
        atomic_fetch_add(&ws->opens, 1);
        atomic_store(&ws->last_refusal, -1);

        uint64_t pending[64], pending_t0 = 0;
        unsigned npending = 0;
        int failed = 0;
        unsigned n = 4 + (unsigned)(test_rand(&rnd) % 20);
        /* Now and then the log stays open a while, so that accidents to
         * durlog.shm find writers that have it open (and later openers
         * are refused with EBUSY until they have closed). */
        unsigned hold_at = test_rand(&rnd) % 8 == 0 ? (unsigned)(test_rand(&rnd) % n) : n;
        for (unsigned k = 0; k < n && !failed && !atomic_load(&a->b->stop); k++) {
            if (k == hold_at)
                sleep_us(20000 + (unsigned)(test_rand(&rnd) % 80000));
            unsigned r = (unsigned)(test_rand(&rnd) % 100);
            unsigned cnt = r >= 80 ? 2 + (unsigned)(test_rand(&rnd) % 3) : 1;
            durlog_level level = r < 10 ? DURLOG_BUFFERED : r < 45 ? DURLOG_KERNEL
                               : r < 60 ? DURLOG_INTERVAL : r < 80 ? DURLOG_SYNC
                               : (durlog_level)(1 + test_rand(&rnd) % 3);
            if (index + cnt > MAX_INDEX - 1 || atomic_load(&ws->nacks) + cnt + npending >= MAX_INDEX)
                break; /* full: keep opening and closing only */
            unsigned char buf[4][TU_PAYLOAD_MAX];
            durlog_iov iov[4];
            for (unsigned i = 0; i < cnt; i++) {
                iov[i].data = buf[i];
                iov[i].len = tu_payload(buf[i], a->w, index + i, EXTRA);
            }
            atomic_store(&ws->attempted, index + cnt);
            uint64_t seq = DURLOG_SEQ_PENDING;
            uint64_t t0 = tu_now_ns();
            rc = cnt == 1 ? durlog_append(log, iov[0].data, iov[0].len, level, &seq)
                          : durlog_append_batch(log, iov, cnt, level, &seq);
            uint64_t t1 = tu_now_ns();
            if (rc) {
                atomic_fetch_add(&ws->append_failed, 1);
                const char *m = durlog_errmsg(log);
                if (!ws->append_sample[0]) {
                    char b2[2 * MSG];
                    snprintf(b2, sizeof b2, "%d %s: %s", rc, durlog_strerror(rc), m);
                    set_msg(ws->append_sample, b2);
                }
                if (!m || !*m)
                    writer_bad(ws, "an append failed with %s and no message",
                               durlog_strerror(rc));
                failed = 1;
            } else if (level == DURLOG_BUFFERED) {
                if (!npending)
                    pending_t0 = t0;
                pending[npending++] = index;
            } else {
                for (unsigned i = 0; i < npending; i++)
                    ack(ws, a->w, pending[i], DURLOG_SEQ_PENDING, pending_t0, t1,
                        DURLOG_BUFFERED, HOW_BUFFERED);
                npending = 0;
                for (unsigned i = 0; i < cnt; i++)
                    ack(ws, a->w, index + i, seq + i, t0, t1, level,
                        cnt == 1 ? HOW_ONE : HOW_BATCH);
            }
            index += cnt;
            if (npending >= 60)
                break;
        }
        rc = durlog_close(log);
        uint64_t t1 = tu_now_ns();
        if (rc) {
            atomic_fetch_add(&ws->close_failed, 1);
        } else if (!failed) {
            for (unsigned i = 0; i < npending; i++)
                ack(ws, a->w, pending[i], DURLOG_SEQ_PENDING, pending_t0, t1,
                    DURLOG_BUFFERED, HOW_BUFFERED);
        }
        sleep_us(300 + (unsigned)(test_rand(&rnd) % 1700));
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* What a pass of a reader saw. */
struct pass {
    int rc;                 /* what ended it */
    char msg[MSG];          /* durlog_reader_errmsg when rc is an error */
    uint64_t records;
    uint64_t skipped;
    uint64_t last_seq;      /* of the last record returned (UINT64_MAX: none) */
    int bad;                /* a broken promise */
    char bad_msg[MSG];
};

static void pass_bad(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pass_bad(struct pass *p, const char *fmt, ...)
{
    if (p->bad++)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->bad_msg, sizeof p->bad_msg, fmt, ap);
    va_end(ap);
}

/* For the final check: which acknowledged record holds which index. */
struct expect {
    const struct ack *acks[NW];
    uint64_t nacks[NW];
    uint64_t attempted[NW];
    uint8_t *want[NW];   /* per index: 1 if a reader must return it */
    uint8_t *got[NW];    /* per index: returned by this pass */
    uint64_t *seg_of[NW];   /* per index: the segment a frame of it is in */
    uint64_t *seq_in[NW];   /* per index: that frame's sequence number */
};

static const struct ack *find_ack(const struct expect *e, uint32_t w, uint64_t index)
{
    uint64_t lo = 0, hi = e->nacks[w];
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (e->acks[w][mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->nacks[w] && e->acks[w][lo].index == index ? &e->acks[w][lo] : NULL;
}

/* Reads the log once, to the end or the first error, checking every record:
 * a payload the test appended (index below attempted[w], loaded after the
 * record was read), sequence numbers strictly increasing, no record twice
 * (seen[w][index] == stamp marks this pass), and, with `e`, an acknowledged
 * record only at its acknowledged sequence number. */
static void read_pass(const char *log, int skip, struct board *b, const struct expect *e,
                      uint32_t **seen, uint32_t stamp, uint64_t max_records,
                      struct pass *p)
{
    durlog_reader_options ro = { .skip_damaged = skip };
    char err[MSG] = "";
    ro.errbuf = err;
    ro.errbuf_size = sizeof err;
    durlog_reader *r;
    memset(p, 0, sizeof *p);
    p->rc = durlog_reader_open(log, &ro, &r);
    if (p->rc) {
        set_msg(p->msg, err);
        if (!err[0])
            pass_bad(p, "reader open failed with %s and no message", durlog_strerror(p->rc));
        return;
    }
    uint64_t last = UINT64_MAX;
    durlog_record rec;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        int ok = tu_payload_check(&rec, EXTRA, &w, &idx) && w < NW;
        atomic_thread_fence(memory_order_seq_cst); /* the record was read first */
        uint64_t att = !ok ? 0 : b ? atomic_load(&b->w[w].attempted) : e->attempted[w];
        if (!ok || idx >= att) {
            pass_bad(p, "seq %" PRIu64 ": a record of %zu bytes the test did not append",
                     rec.seq, rec.len);
            break;
        }
        if (last != UINT64_MAX && rec.seq <= last) {
            pass_bad(p, "seq %" PRIu64 " after seq %" PRIu64, rec.seq, last);
            break;
        }
        last = rec.seq;
        if (seen[w][idx] == stamp) {
            pass_bad(p, "writer %u's record %" PRIu64 " returned twice (again at seq %"
                     PRIu64 ")", w, idx, rec.seq);
            break;
        }
        seen[w][idx] = stamp;
        if (e) {
            const struct ack *ak = find_ack(e, w, idx);
            if (ak && ak->seq != DURLOG_SEQ_PENDING && ak->seq != rec.seq) {
                pass_bad(p, "writer %u's record %" PRIu64 " was acknowledged as seq %"
                         PRIu64 " but is returned as seq %" PRIu64, w, idx, ak->seq, rec.seq);
                break;
            }
            e->got[w][idx] = 1;
        }
        p->records++;
        if (p->records >= max_records)
            break;
    }
    p->rc = rc;
    p->last_seq = last;
    p->skipped = durlog_reader_skipped(r);
    if (rc && rc != DURLOG_EEND) {
        set_msg(p->msg, durlog_reader_errmsg(r));
        if (!p->bad && !names_problem(p->msg))
            pass_bad(p, "the reader stopped with %d (%s) without naming a file or "
                     "records: \"%s\"", rc, durlog_strerror(rc), p->msg);
    }
    durlog_reader_close(r);
}

static uint32_t **alloc_seen(void)
{
    uint32_t **seen = calloc(NW, sizeof *seen);
    for (uint32_t w = 0; seen && w < NW; w++)
        if (!(seen[w] = calloc(MAX_INDEX, sizeof **seen)))
            return NULL;
    return seen;
}

static void free_seen(uint32_t **seen)
{
    for (uint32_t w = 0; seen && w < NW; w++)
        free(seen[w]);
    free(seen);
}

struct reader_arg {
    struct board *b;
    const char *log;
};

/* Reads the log over and over while the accidents happen. */
static int live_reader_main(void *arg)
{
    struct reader_arg *a = arg;
    struct board *b = a->b;
    uint32_t **seen = alloc_seen();
    if (!seen)
        return 1;
    for (uint32_t stamp = 1; !atomic_load(&b->reader_stop); stamp++) {
        struct pass p;
        read_pass(a->log, stamp & 1, b, NULL, seen, stamp, UINT64_MAX, &p);
        atomic_fetch_add(&b->reader_passes, 1);
        atomic_fetch_add(&b->reader_records, p.records);
        if (p.rc && p.rc != DURLOG_EEND) {
            if (atomic_fetch_add(&b->reader_errors, 1) == 0) {
                char buf[2 * MSG];
                snprintf(buf, sizeof buf, "%d %s: %s", p.rc, durlog_strerror(p.rc), p.msg);
                set_msg(b->reader_sample, buf);
            }
        }
        if (p.bad && !atomic_exchange(&b->reader_bad, 1))
            set_msg(b->reader_bad_msg, p.bad_msg);
        sleep_us(2000);
    }
    free_seen(seen);
    return 0;
}

/* How durlog.shm looks now (for messages). */
static void describe_shm(const char *log, char *out, size_t size)
{
    char path[400];
    int dirfd = open(log, O_RDONLY | O_DIRECTORY);
    snprintf(path, sizeof path, "%s/%s", log, SHM_FILE);
    int fd = open(path, O_RDONLY);
    struct stat st;
    /* (A file a first writer has just created is still empty.) */
    struct dl_shared *sh = fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= DL_SHM_SIZE
        ? mmap(NULL, DL_SHM_SIZE, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (sh != MAP_FAILED) {
        snprintf(out, size, "durlog.shm inode %lu: ready %u, generation %" PRIu64 ", "
                 "published %" PRIu64 ", live %d, valid %d", (unsigned long)st.st_ino,
                 atomic_load(&sh->ready), atomic_load(&sh->generation),
                 atomic_load(&sh->published_seq), dl_shm_probe_live(fd),
                 dl_shm_valid_for(sh, dirfd));
        munmap(sh, DL_SHM_SIZE);
    } else {
        snprintf(out, size, "no durlog.shm");
    }
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
}

/* A plain and a skipping reader as user nobody, while a segment is
 * unreadable to it. */
static int nobody_reader_main(void *arg)
{
    struct reader_arg *a = arg;
    struct board *b = a->b;
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0) {
        perror("  setuid nobody");
        return 1;
    }
    uint32_t **seen = alloc_seen();
    if (!seen)
        return 1;
    for (int skip = 0; skip < 2; skip++) {
        struct pass p;
        char before[MSG / 2], after[MSG / 2];
        describe_shm(a->log, before, sizeof before);
        read_pass(a->log, skip, b, NULL, seen, (uint32_t)skip + 1, 10000000, &p);
        describe_shm(a->log, after, sizeof after);
        b->nb_rc[skip] = p.rc;
        b->nb_records[skip] = p.records;
        b->nb_bad[skip] = p.bad;
        b->nb_last[skip] = p.last_seq;
        snprintf(b->nb_shm[skip], sizeof b->nb_shm[skip], "before: %s; after: %s; skipped %" PRIu64 " bytes",
                 before, after, p.skipped);
        set_msg(b->nb_msg[skip], p.msg);
        set_msg(b->nb_bad_msg[skip], p.bad_msg);
    }
    free_seen(seen);
    return 0;
}

/* ---- children ------------------------------------------------------------ */

/* Waits up to timeout_ms for pid; kills it after that. Returns 0 if it
 * exited with status 0; prints and returns -1 otherwise. */
static int wait_bounded(pid_t pid, unsigned timeout_ms, const char *who)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "  %s: waitpid: %s\n", who, strerror(errno));
            return -1;
        }
        if (tu_now_ns() > deadline) {
            fprintf(stderr, "  %s did not finish within %u ms: killed\n", who, timeout_ms);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        sleep_us(1000);
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "  %s was killed by signal %d (%s)\n", who, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "  %s exited with status %d\n", who, WEXITSTATUS(status));
        return -1;
    }
    return 0;
}

/* ---- the controller ---------------------------------------------------- */

struct accident {
    enum kind kind;
    uint64_t t0, t1;     /* monotonic ns: began, done */
    uint64_t seg;        /* replace-tail: the first seq of the segment replaced */
    char what[160];
};

struct flipped {
    uint32_t w;
    uint64_t index;
    uint64_t seq;
    char seg[32];             /* the segment's name, */
    uint64_t at;              /* the byte's offset in it, */
    unsigned char was, is;    /* and its value before and after */
    int undone;               /* flipped back before the final check */
};

struct moved {
    char seg[32];
    char to[400];             /* where it is now */
};

struct ctl {
    struct scratch s;
    char backup[300];
    struct board *b;
    uint64_t rnd;
    unsigned epoch;
    struct accident *acc;
    size_t nacc, cap_acc;
    unsigned count[NKINDS], skipped[NKINDS];
    struct flipped *flips;
    size_t nflips;
    struct moved *moves;
    size_t nmoves;
    char chmodded[MAX_CHMODDED][SEG_NAME_LEN + 1];
    size_t nchmod;
    unsigned char *shm_copy;
    size_t shm_len;
    uint64_t t_start;
    unsigned nobody_checks, nobody_eacces, nobody_cut;
};

static struct accident *note(struct ctl *c, enum kind k, uint64_t t0, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static struct accident *note(struct ctl *c, enum kind k, uint64_t t0, const char *fmt, ...)
{
    if (c->nacc == c->cap_acc) {
        size_t cap = c->cap_acc ? 2 * c->cap_acc : 256;
        struct accident *more = realloc(c->acc, cap * sizeof *more);
        if (!more)
            return NULL;
        c->acc = more;
        c->cap_acc = cap;
    }
    struct accident *a = &c->acc[c->nacc++];
    a->kind = k;
    a->t0 = t0;
    a->t1 = tu_now_ns();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->what, sizeof a->what, fmt, ap);
    va_end(ap);
    c->count[k]++;
    return a;
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
    if (snprintf(buf, size, "%s/%s", dir, name) >= (int)size)
        buf[0] = '\0'; /* too long: names no file */
}

static void take_shm_copy(struct ctl *c)
{
    char path[400];
    size_t len;
    path_in(path, sizeof path, c->s.log, SHM_FILE);
    unsigned char *p = file_read(path, &len);
    if (p && len > 0) {
        free(c->shm_copy);
        c->shm_copy = p;
        c->shm_len = len;
    } else {
        free(p);
    }
}

static void acc_rm_shm(struct ctl *c)
{
    char path[400];
    path_in(path, sizeof path, c->s.log, SHM_FILE);
    uint64_t t0 = tu_now_ns();
    if (unlink(path) == 0)
        note(c, K_RM_SHM, t0, "removed %s", SHM_FILE);
    else
        c->skipped[K_RM_SHM]++;
}

static void acc_old_shm(struct ctl *c)
{
    char path[400], tmp[400];
    if (!c->shm_copy) {
        c->skipped[K_OLD_SHM]++;
        return;
    }
    path_in(path, sizeof path, c->s.log, SHM_FILE);
    path_in(tmp, sizeof tmp, c->s.log, "acc-shm.tmp");
    uint64_t t0 = tu_now_ns();
    if (file_write(tmp, c->shm_copy, c->shm_len) == 0 && rename(tmp, path) == 0) {
        note(c, K_OLD_SHM, t0, "put back an old copy of %s", SHM_FILE);
    } else {
        unlink(tmp);
        c->skipped[K_OLD_SHM]++;
    }
}

static int header_sealed(const unsigned char *p, size_t len, struct dl_seg_header *h)
{
    return len >= DL_SEG_HEADER_SIZE && dl_seg_header_decode(p, h) == 0 &&
           (h->flags & DL_SEG_F_SEALED);
}

/* Flips one payload byte of a random record of a random sealed segment
 * (never the last one). */
static void acc_flip(struct ctl *c)
{
    size_t n;
    uint64_t *segs = list_all_segments(c->s.log, &n);
    for (int attempt = 0; segs && n >= 3 && attempt < 8; attempt++) {
        size_t i = (size_t)(test_rand(&c->rnd) % (n - 1));
        char name[32], path[400];
        seg_name(name, sizeof name, segs[i]);
        path_in(path, sizeof path, c->s.log, name);
        size_t len;
        unsigned char *buf = file_read(path, &len);
        struct dl_seg_header h;
        if (!buf || !header_sealed(buf, len, &h)) {
            free(buf);
            continue;
        }
        /* The records before its seal. */
        uint64_t offs[256];
        size_t nrec = 0;
        uint64_t off = DL_SEG_HEADER_SIZE, seq = h.first_seq;
        uint64_t limit = h.ckpt_off < len ? h.ckpt_off : len;
        uint64_t seqs[256];
        struct dl_seg_fmt f = dl_seg_fmt_of(&h);
        while (off + dl_rec_header_size(f.version) <= limit && nrec < 256) {
            struct dl_rec_view v;
            if (dl_rec_check(&f, buf + off, limit - off, seq, &v) != DL_REC_VALID || v.seq != seq)
                break;
            if (v.len >= TU_PAYLOAD_HEAD) {
                seqs[nrec] = seq;
                offs[nrec++] = off;
            }
            off += v.size;
            seq++;
        }
        if (nrec == 0) {
            free(buf);
            continue;
        }
        size_t pick = test_rand(&c->rnd) % nrec;
        off = offs[pick];
        struct dl_rec_view v;
        dl_rec_check(&f, buf + off, limit - off, seqs[pick], &v);
        durlog_record rec = { v.payload, v.len, v.seq, v.time_ns };
        uint32_t w;
        uint64_t idx;
        if (!tu_payload_check(&rec, EXTRA, &w, &idx)) {
            /* Already damaged by an earlier flip? Only a test payload. */
            free(buf);
            continue;
        }
        uint64_t at = off + dl_rec_header_size(f.version) + test_rand(&c->rnd) % v.len;
        unsigned char was = buf[at];
        unsigned char byte = was ^ (unsigned char)(1u << (test_rand(&c->rnd) % 8));
        free(buf);
        uint64_t t0 = tu_now_ns();
        int fd = open(path, O_WRONLY);
        int ok = fd >= 0 && pwrite(fd, &byte, 1, (off_t)at) == 1;
        if (fd >= 0)
            close(fd);
        if (!ok)
            continue;
        struct flipped *more = realloc(c->flips, (c->nflips + 1) * sizeof *more);
        if (more) {
            c->flips = more;
            struct flipped *fl = &c->flips[c->nflips++];
            *fl = (struct flipped){ w, idx, v.seq, "", at, was, byte, 0 };
            memcpy(fl->seg, name, sizeof fl->seg);
        }
        note(c, K_FLIP, t0, "flipped byte %" PRIu64 " of %s (in seq %" PRIu64
             ", writer %u's record %" PRIu64 ")", at, name, v.seq, w, idx);
        free(segs);
        return;
    }
    free(segs);
    c->skipped[K_FLIP]++;
}

/* A random middle segment (not the first, not the last). */
static int pick_middle(struct ctl *c, char name[32])
{
    size_t n;
    uint64_t *segs = list_all_segments(c->s.log, &n);
    int ok = segs && n >= 3;
    if (ok)
        seg_name(name, 32, segs[1 + test_rand(&c->rnd) % (n - 2)]);
    free(segs);
    return ok;
}

static void acc_move(struct ctl *c, unsigned round)
{
    char name[32], from[400], to[400], moved[64];
    if (!pick_middle(c, name)) {
        c->skipped[K_MOVE]++;
        return;
    }
    path_in(from, sizeof from, c->s.log, name);
    snprintf(moved, sizeof moved, "%s.moved-%u", name, round);
    path_in(to, sizeof to, c->backup, moved);
    uint64_t t0 = tu_now_ns();
    if (rename(from, to) == 0) {
        note(c, K_MOVE, t0, "moved %s out of the log", name);
        struct moved *more = realloc(c->moves, (c->nmoves + 1) * sizeof *more);
        if (more) {
            c->moves = more;
            memcpy(c->moves[c->nmoves].seg, name, sizeof c->moves[c->nmoves].seg);
            memcpy(c->moves[c->nmoves].to, to, sizeof c->moves[c->nmoves].to);
            c->nmoves++;
        }
    } else {
        c->skipped[K_MOVE]++;
    }
}

static void restore_chmod(struct ctl *c, size_t i)
{
    char path[400];
    path_in(path, sizeof path, c->s.log, c->chmodded[i]);
    if (chmod(path, 0644) != 0) {
        /* Moved away since: restore it there. */
        DIR *d = opendir(c->backup);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, c->chmodded[i], SEG_NAME_LEN) == 0) {
                path_in(path, sizeof path, c->backup, de->d_name);
                chmod(path, 0644);
            }
        }
        if (d)
            closedir(d);
    }
    memmove(&c->chmodded[i], &c->chmodded[i + 1], (c->nchmod - i - 1) * sizeof *c->chmodded);
    c->nchmod--;
}

/* chmod 000 of a middle segment; then readers running as nobody must fail
 * on it, naming it, and never stop silently. */
static void acc_chmod(struct ctl *c)
{
    char name[32], path[400];
    if (c->nchmod >= MAX_CHMODDED || !pick_middle(c, name)) {
        c->skipped[K_CHMOD]++;
        return;
    }
    path_in(path, sizeof path, c->s.log, name);
    uint64_t t0 = tu_now_ns();
    if (chmod(path, 0) != 0) {
        c->skipped[K_CHMOD]++;
        return;
    }
    memcpy(c->chmodded[c->nchmod++], name, SEG_NAME_LEN + 1);
    note(c, K_CHMOD, t0, "chmod 000 %s", name);

    /* Readers as nobody: a plain one and a skipping one. */
    struct board *b = c->b;
    struct reader_arg ra = { b, c->s.log };
    memset(b->nb_rc, 0, sizeof b->nb_rc);
    pid_t pid = tu_fork(nobody_reader_main, &ra);
    REQUIRE(pid > 0);
    int ok = wait_bounded(pid, 20000, "a reader running as nobody") == 0;
    CHECK(ok);
    if (!ok)
        return;
    c->nobody_checks++;
    for (int skip = 0; skip < 2; skip++) {
        const char *msg = b->nb_msg[skip];
        int names_one = 0;
        for (size_t i = 0; i < c->nchmod; i++)
            names_one |= says(msg, c->chmodded[i]);
        if (b->nb_bad[skip]) {
            fprintf(stderr, "  nobody %s reader: %s\n", skip ? "skipping" : "plain",
                    b->nb_bad_msg[skip]);
            CHECK(!b->nb_bad[skip]);
        }
        /* Never the end of the log while a segment cannot be read (unless
         * a writer's recovery has cut the log before it meanwhile: then it
         * is a side file now). */
        struct stat st;
        int still_there = lstat(path, &st) == 0;
        if ((b->nb_rc[skip] == DURLOG_EEND || b->nb_rc[skip] == 0) && !still_there) {
            c->nobody_cut++;
        } else if (b->nb_rc[skip] == DURLOG_EEND || b->nb_rc[skip] == 0) {
            fprintf(stderr, "  epoch %u: a %s reader running as nobody returned %" PRIu64
                    " records and then %s, with %s unreadable to it\n", c->epoch,
                    skip ? "skipping" : "plain", b->nb_records[skip],
                    b->nb_rc[skip] ? "DURLOG_EEND" : "nothing", name);
            fprintf(stderr, "    its last record was seq %" PRIu64 "; %s\n",
                    b->nb_last[skip], b->nb_shm[skip]);
            if (getenv("DURLOG_ACCIDENT_VERBOSE") || getenv("DURLOG_ACCIDENT_KEEP")) {
                char cmd[2000];
                snprintf(cmd, sizeof cmd, "cp -a %s %s/snap-%zu; echo snapshot %s/snap-%zu >&2",
                         c->s.log, c->s.dir, c->nacc, c->s.dir, c->nacc);
                if (system(cmd)) {}
            }
            CHECK(b->nb_rc[skip] != DURLOG_EEND && b->nb_rc[skip] != 0);
        } else if (skip && b->nb_rc[skip] == -EACCES) {
            /* The skipping reader steps over damage, so it reaches an
             * unreadable segment and must say which. (Another error, one
             * that names its file, is possible: a writer's recovery may
             * move a segment aside while the reader lists them.) */
            c->nobody_eacces++;
            if (!names_one || !says(msg, strerror(EACCES))) {
                fprintf(stderr, "  epoch %u: the skipping reader running as nobody stopped "
                        "with -EACCES: \"%s\"; expected the name of one of the %zu "
                        "segments chmod 000 (%s ...)\n", c->epoch, msg, c->nchmod, name);
                CHECK(names_one && says(msg, strerror(EACCES)));
            }
        }
    }
}

/* cp + mv of the last segment, racing the writers. */
static void acc_replace_tail(struct ctl *c)
{
    size_t n;
    uint64_t *segs = list_all_segments(c->s.log, &n);
    if (!segs || n == 0) {
        free(segs);
        c->skipped[K_REPLACE_TAIL]++;
        return;
    }
    char name[32], path[400], tmp[400];
    uint64_t first = segs[n - 1];
    seg_name(name, sizeof name, first);
    free(segs);
    path_in(path, sizeof path, c->s.log, name);
    path_in(tmp, sizeof tmp, c->s.log, "acc-replace.tmp");
    uint64_t t0 = tu_now_ns();
    size_t len;
    unsigned char *copy = file_read(path, &len);
    int ok = copy && file_write(tmp, copy, len) == 0;
    free(copy);
    if (ok) {
        sleep_us(1000 + (unsigned)(test_rand(&c->rnd) % 7000));
        ok = rename(tmp, path) == 0;
    }
    if (ok) {
        struct accident *a = note(c, K_REPLACE_TAIL, t0, "replaced %s by a copy (cp + mv)",
                                  name);
        if (a)
            a->seg = first;
    } else {
        unlink(tmp);
        c->skipped[K_REPLACE_TAIL]++;
    }
}

static uint64_t total_acks(struct board *b)
{
    uint64_t t = 0;
    for (uint32_t w = 0; w < NW; w++)
        t += atomic_load(&b->w[w].nacks);
    return t;
}

static uint64_t total_opens(struct board *b)
{
    uint64_t t = 0;
    for (uint32_t w = 0; w < NW; w++)
        t += atomic_load(&b->w[w].opens);
    return t;
}

/* Writers have not opened the log for a while: if it is refused as damaged
 * (recovery cannot tell the damage from a crash's), repair it as an
 * operator would; anything else that lasts is a hang. Returns 0 when they
 * have progressed. */
static int unstick(struct ctl *c, uint64_t since_acks, uint64_t since_opens)
{
    struct board *b = c->b;
    uint64_t start = tu_now_ns();
    int repaired = 0;
    while (total_acks(b) == since_acks && total_opens(b) == since_opens) {
        uint64_t waited = (tu_now_ns() - start) / 1000000u;
        int corrupt = 1;
        for (uint32_t w = 0; w < NW; w++)
            corrupt &= atomic_load(&b->w[w].last_refusal) == R_ECORRUPT;
        if (corrupt && waited >= 100 && repaired < 5) {
            durlog_check_report rep;
            uint64_t t0 = tu_now_ns();
            int rc = durlog_check(c->s.log, DURLOG_CHECK_REPAIR | DURLOG_CHECK_FORCE, &rep);
            if (rc == 0) {
                note(c, K_REPAIR, t0, "durlog check --repair --force: %.100s",
                     rep.problem);
                repaired++;
            } else if (rc != -EBUSY) {
                fprintf(stderr, "  epoch %u: forced repair failed: %d %s: %s\n", c->epoch,
                        rc, durlog_strerror(rc), rep.problem);
                CHECK_RC(rc, 0);
                return -1;
            }
        }
        if (waited > 10000) {
            fprintf(stderr, "  epoch %u: no writer could open the log for 10 s "
                    "(last refusals:", c->epoch);
            for (uint32_t w = 0; w < NW; w++) {
                int r = atomic_load(&b->w[w].last_refusal);
                fprintf(stderr, " %s", r >= 0 ? refusal_name[r] : "-");
            }
            fprintf(stderr, ")\n");
            for (uint32_t w = 0; w < NW; w++)
                for (int r = 0; r < NREFUSALS; r++)
                    if (b->w[w].sample[r][0])
                        fprintf(stderr, "    writer %u, first %s: %s\n", w, refusal_name[r],
                                b->w[w].sample[r]);
            CHECK(!"writers open the log again");
            return -1;
        }
        sleep_us(2000);
    }
    return 0;
}

/* ---- the final check ------------------------------------------------------ */

enum { IN_SEG = 1, IN_SIDE = 2, IN_BACKUP = 4, IN_OTHER = 8 };

/* A segment file's records in sequence from its header, checksums and all:
 * the number of the one at byte offset p, or UINT64_MAX. */
struct walked {
    size_t n;
    uint64_t off[1 << 16], seq[1 << 16];
};

static void walk_segment(const unsigned char *buf, size_t len, struct walked *wk)
{
    struct dl_seg_header h;
    wk->n = 0;
    if (len < DL_SEG_HEADER_SIZE || dl_seg_header_decode(buf, &h) != 0)
        return;
    struct dl_seg_fmt f = dl_seg_fmt_of(&h);
    struct dl_rec_view v;
    uint64_t off = DL_SEG_HEADER_SIZE, seq = h.first_seq;
    while (wk->n < sizeof wk->off / sizeof wk->off[0] && off < len &&
           dl_rec_check(&f, buf + off, len - off, seq, &v) == DL_REC_VALID && v.seq == seq) {
        wk->off[wk->n] = off;
        wk->seq[wk->n++] = seq++;
        off += v.size;
    }
}

static uint64_t walked_seq(const struct walked *wk, uint64_t p)
{
    size_t lo = 0, hi = wk->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wk->off[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < wk->n && wk->off[lo] == p ? wk->seq[lo] : UINT64_MAX;
}

/* Marks where[w][index] |= bit for every whole record (a frame whose header
 * gives the length of the payload tu_payload gives it) in buf, at any byte
 * offset. Only whole frames count: a short payload (its 12-byte head alone)
 * may well occur by chance among other bytes. The checksum of a version 2
 * frame takes its number, which only a walk from the segment's header
 * knows: frames the walk reached are checked whole by it (and get their
 * number); elsewhere (side files, backups, after damage) the payload, which
 * tu_payload_check compares byte for byte, and the header's length. */
static void find_payloads(const unsigned char *buf, size_t len, uint8_t bit, uint64_t seg,
                          const struct expect *e, uint8_t **where)
{
    static struct walked wk;
    wk.n = 0;
    if (bit == IN_SEG)
        walk_segment(buf, len, &wk);
    for (size_t p = 0; p + DL_REC_HEADER_SIZE + TU_PAYLOAD_HEAD <= len; p++) {
        uint32_t w;
        uint64_t idx;
        memcpy(&w, buf + p + DL_REC_HEADER_SIZE, 4);
        if (w >= NW)
            continue;
        memcpy(&idx, buf + p + DL_REC_HEADER_SIZE + 4, 8);
        if (idx >= e->attempted[w])
            continue;
        /* A side file may end without the last record's padding (see the
         * report). */
        uint32_t word = dl_get32(buf + p + DL_RECH_LEN);
        uint32_t plen = word & DL_REC_LEN_MASK;
        if ((word >> 31) || plen > TU_PAYLOAD_MAX || p + DL_REC_HEADER_SIZE + plen > len)
            continue;
        durlog_record rec = { buf + p + DL_REC_HEADER_SIZE, plen, walked_seq(&wk, p), 0 };
        uint32_t w2;
        uint64_t idx2;
        if (tu_payload_check(&rec, EXTRA, &w2, &idx2)) {
            int had = where[w][idx] & IN_SEG;
            where[w][idx] |= bit;
            /* A copy a walk reached is what counts (another segment file
             * may hold a torn copy: see final_check). */
            if (bit == IN_SEG && (!had || rec.seq != UINT64_MAX)) {
                e->seg_of[w][idx] = seg;
                e->seq_in[w][idx] = rec.seq;
            }
        }
    }
}

static int scan_dir(const char *dir, int is_backup, const struct expect *e, uint8_t **where,
                    unsigned *side_files)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char path[700];
        struct stat st;
        uint64_t first = UINT64_MAX;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        uint8_t bit = is_backup ? IN_BACKUP : seg_name_first(de->d_name, &first) ? IN_SEG
                    : (strstr(de->d_name, ".cut-") || strstr(de->d_name, ".replaced")) ? IN_SIDE
                    : IN_OTHER;
        if (bit == IN_SIDE)
            (*side_files)++;
        if (strcmp(de->d_name, SHM_FILE) == 0)
            continue;
        size_t len;
        unsigned char *buf = file_read(path, &len);
        if (!buf) {
            fprintf(stderr, "  cannot read %s\n", path);
            continue;
        }
        find_payloads(buf, len, bit, bit == IN_SEG ? first : UINT64_MAX, e, where);
        free(buf);
    }
    closedir(d);
    return 0;
}

/* When an acknowledgement came, relative to the accidents. */
static void describe_time(const struct ctl *c, uint64_t t, char *buf, size_t size)
{
    const struct accident *before = NULL, *after = NULL;
    for (size_t i = 0; i < c->nacc; i++) {
        if (c->acc[i].t0 <= t)
            before = &c->acc[i];
        else if (!after)
            after = &c->acc[i];
    }
    int n = snprintf(buf, size, "at +%.1f ms", (double)(t - c->t_start) / 1e6);
    if (before && n > 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ", %.2f ms after accident #%zu (%s: %s)",
                      (double)(t - before->t0) / 1e6, (size_t)(before - c->acc),
                      kind_name[before->kind], before->what);
    if (after && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %.2f ms before accident #%zu (%s)",
                 (double)(after->t0 - t) / 1e6, (size_t)(after - c->acc),
                 kind_name[after->kind]);
}

/* 1 if the call that acknowledged ack a ran while a cp + mv of the last
 * segment ran (for a buffered record: from its own append to the call that
 * acknowledged it). The record is stored somewhere inside the call, so
 * it may have gone into the old file after the copy read that part and
 * before the rename, and still be acknowledged just after the rename (the
 * call returns later; a sync leader's check that the file is still there
 * may run just before the rename). Once every writer has let go of the old
 * file (closed, or rolled away from it and sealed it) nobody can save it.
 * A call that starts after the rename has returned is never excused: a
 * writer storing into the old file then must find out and save it. */
static int raced_replacement(const struct ctl *c, const struct ack *a)
{
    for (size_t i = 0; i < c->nacc; i++)
        if (c->acc[i].kind == K_REPLACE_TAIL && a->t0 <= c->acc[i].t1 && a->t1 >= c->acc[i].t0)
            return 1;
    return 0;
}

static int is_flipped(const struct ctl *c, uint32_t w, uint64_t idx)
{
    for (size_t i = 0; i < c->nflips; i++)
        if (c->flips[i].w == w && c->flips[i].index == idx && !c->flips[i].undone)
            return 1;
    return 0;
}

/* 1 if the log was cut (by recovery or a repair): a side file "*.cut-*"
 * is there. Its numbers after the cut may have been given again to new
 * records, so an old segment put back would overlap them. */
static int log_was_cut(const char *log)
{
    DIR *d = opendir(log);
    struct dirent *de;
    int cut = 0;
    while (d && !cut && (de = readdir(d)) != NULL)
        cut = strstr(de->d_name, ".cut-") != NULL;
    if (d)
        closedir(d);
    return cut;
}

/* Undoes what can be undone: moved segments go back where their name is
 * still free, flipped bytes that are still there are flipped back. Then
 * nothing the controller did explains a missing record, and a log that
 * had only those accidents must read whole again. Nothing is undone in a
 * log that was cut meanwhile (its numbers may have been reused). Returns
 * how many were undone. */
static unsigned undo_accidents(struct ctl *c)
{
    unsigned n = 0;
    if (c->count[K_REPAIR] || log_was_cut(c->s.log))
        return 0;
    for (size_t i = 0; i < c->nmoves; i++) {
        char path[400];
        struct stat st;
        path_in(path, sizeof path, c->s.log, c->moves[i].seg);
        if (lstat(path, &st) != 0 && rename(c->moves[i].to, path) == 0)
            n++;
    }
    for (size_t i = 0; i < c->nflips; i++) {
        struct flipped *f = &c->flips[i];
        char path[400];
        unsigned char b;
        path_in(path, sizeof path, c->s.log, f->seg);
        int fd = open(path, O_RDWR);
        if (fd < 0)
            continue;
        if (pread(fd, &b, 1, (off_t)f->at) == 1 && b == f->is &&
            pwrite(fd, &f->was, 1, (off_t)f->at) == 1) {
            f->undone = 1;
            n++;
        }
        close(fd);
    }
    return n;
}

struct totals {
    uint64_t acks, lost_to_controller, only_in_side, only_in_backup, raced_lost,
        flipped, refused[NREFUSALS], append_failed, close_failed, opens;
    unsigned count[NKINDS], skipped, rounds, epochs, nobody_checks, reads_ok, reads_failed,
        writer_opens_ok, writer_opens_refused, check_damaged, undo_epochs, undone,
        undo_reads_ok, nobody_eacces, nobody_cut;
    uint64_t live_passes, live_errors;
};

/* The final check of an epoch (a and b in the header). all_undone: the
 * controller put back everything it moved or flipped. */
static void final_check(struct ctl *c, int all_undone, struct totals *tot)
{
    struct board *b = c->b;
    struct expect e;
    memset(&e, 0, sizeof e);
    uint8_t *where[NW];
    for (uint32_t w = 0; w < NW; w++) {
        e.acks[w] = acks_of(w);
        e.nacks[w] = atomic_load(&b->w[w].nacks);
        e.attempted[w] = atomic_load(&b->w[w].attempted);
        e.want[w] = calloc(MAX_INDEX, 1);
        e.got[w] = calloc(MAX_INDEX, 1);
        where[w] = calloc(MAX_INDEX, 1);
        e.seg_of[w] = calloc(MAX_INDEX, sizeof *e.seg_of[w]);
        e.seq_in[w] = calloc(MAX_INDEX, sizeof *e.seq_in[w]);
        REQUIRE(e.want[w] && e.got[w] && where[w] && e.seg_of[w] && e.seq_in[w]);
    }

    /* b, first part: one writer's open, which runs recovery. */
    char err[MSG] = "";
    durlog_options o = {
        .segment_size = SEG_SIZE,
        .errbuf = err,
        .errbuf_size = sizeof err,
    };
    durlog *log;
    int orc = durlog_open(c->s.log, &o, &log);
    if (orc == 0) {
        durlog_recovery rec;
        durlog_last_recovery(log, &rec);
        if (rec.bytes_cut || rec.segments_removed)
            fprintf(stderr, "  epoch %u: the last open cut %" PRIu64 " bytes and %" PRIu64
                    " segments (%s at %" PRIu64 ", into %s)\n", c->epoch, rec.bytes_cut,
                    rec.segments_removed, rec.segment, rec.offset, rec.side_file);
        int crc = durlog_close(log);
        const char *cmsg = crc ? durlog_last_errmsg() : ""; /* log is freed */
        if (crc && getenv("DURLOG_ACCIDENT_VERBOSE"))
            fprintf(stderr, "  epoch %u: close after the last open: %s\n", c->epoch, cmsg);
        /* The last close syncs the log. After an old copy of durlog.shm taken
         * during an fdatasync was put back, that sync first checks every
         * record not proven durable, and a byte the controller flipped there
         * looks like a page the failed fdatasync lost: the close must then
         * fail naming the segment and `durlog check`, never pass over it. */
        if (crc != 0 && !(crc == DURLOG_EFAILED && strstr(cmsg, "durlog check") &&
                          strstr(cmsg, ".seg"))) {
            fprintf(stderr, "  epoch %u: close after the last open: %s\n", c->epoch, cmsg);
            CHECK_RC(crc, 0);
        }
        tot->writer_opens_ok++;
    } else {
        tot->writer_opens_refused++;
        fprintf(stderr, "  epoch %u: the last open was refused: %d %s: %s\n", c->epoch, orc,
                durlog_strerror(orc), err);
        CHECK(orc == DURLOG_ECORRUPT || orc == -EBUSY || orc == DURLOG_EFAILED);
        CHECK(err[0] != '\0');
        if (orc == DURLOG_ECORRUPT)
            CHECK(says(err, "durlog check") && names_problem(err));
    }

    /* a: every acknowledged record is somewhere, unless the controller's
     * own action explains why not. */
    unsigned side_files = 0;
    CHECK(scan_dir(c->s.log, 0, &e, where, &side_files) == 0);
    CHECK(scan_dir(c->backup, 1, &e, where, &side_files) == 0);
    uint64_t missing = 0, only_side = 0;
    for (uint32_t w = 0; w < NW; w++) {
        for (uint64_t i = 0; i < e.nacks[w]; i++) {
            const struct ack *a = &e.acks[w][i];
            uint8_t at = where[w][a->index];
            int flipped = is_flipped(c, w, a->index);
            tot->acks++;
            if (at & IN_SEG) {
                /* A cp + mv that read the tail while this record was being
                 * stored can hold its payload without its checksum word
                 * (written last): no record, which no reader returns and no
                 * walk from the header reaches (seq_in unknown). Its own
                 * file, the old one, is then saved as a side file, where it
                 * was found: readers are not asked for it. */
                int torn_copy = e.seq_in[w][a->index] == UINT64_MAX && (at & IN_SIDE) &&
                                raced_replacement(c, a);
                if (!flipped && !torn_copy)
                    e.want[w][a->index] = 1;
                continue;
            }
            if (at & (IN_SIDE | IN_OTHER)) {
                only_side++;
                if (!(at & IN_BACKUP))
                    tot->only_in_side++;
                if (at & IN_OTHER)
                    fprintf(stderr, "  epoch %u: writer %u's record %" PRIu64 " is only in a "
                            "file of the log that is neither a segment nor a side file\n",
                            c->epoch, w, a->index);
                continue;
            }
            if (at & IN_BACKUP) {
                tot->only_in_backup++;
                tot->lost_to_controller++;
                continue;
            }
            if (flipped) {
                tot->flipped++;
                tot->lost_to_controller++;
                continue;
            }
            if (raced_replacement(c, a)) {
                tot->raced_lost++;
                tot->lost_to_controller++;
                continue;
            }
            if (missing++ < 12) {
                char when[600], seq[32] = "?", replaced[200] = "";
                describe_time(c, a->t1, when, sizeof when);
                if (a->seq != DURLOG_SEQ_PENDING)
                    snprintf(seq, sizeof seq, "%" PRIu64, a->seq);
                /* The last cp + mv, before the acknowledgement, of a segment
                 * that may hold it. */
                for (size_t k = c->nacc; k-- > 0;) {
                    const struct accident *r = &c->acc[k];
                    if (r->kind == K_REPLACE_TAIL && r->t1 < a->t1 &&
                        (a->seq == DURLOG_SEQ_PENDING || r->seg <= a->seq)) {
                        snprintf(replaced, sizeof replaced, "; segment %" PRIu64 " (the last"
                                 " one before it) was replaced by cp + mv %.2f ms before the "
                                 "acknowledgement (#%zu), %.2f ms after the call began",
                                 r->seg, (double)(a->t1 - r->t1) / 1e6, k,
                                 ((double)a->t0 - (double)r->t1) / 1e6);
                        break;
                    }
                }
                fprintf(stderr, "  epoch %u: LOST: writer %u's record %" PRIu64 " (seq %s, %s%s)"
                        " acknowledged %s, is in no file%s\n", c->epoch, w, a->index, seq,
                        durlog_level_name((durlog_level)a->level),
                        a->how == HOW_BATCH ? ", in a batch" : a->how == HOW_BUFFERED
                        ? ", flushed by a later call" : "", when, replaced);
            }
        }
    }
    if (missing)
        fprintf(stderr, "  epoch %u: %" PRIu64 " acknowledged records are in no file and no "
                "accident explains it (log in %s)\n", c->epoch, missing, c->s.log);
    CHECK_EQ_U64(missing, 0);

    /* b: a plain reader returns them all, or fails naming the problem and a
     * skipping reader returns them all. */
    uint32_t **seen = alloc_seen();
    REQUIRE(seen);
    struct pass plain, skip;
    read_pass(c->s.log, 0, NULL, &e, seen, 1, UINT64_MAX, &plain);
    if (plain.bad)
        fprintf(stderr, "  epoch %u: plain reader: %s\n", c->epoch, plain.bad_msg);
    CHECK(!plain.bad);
    uint64_t not_returned = 0;
    const struct pass *judged = &plain;
    if (all_undone && only_side == 0 && plain.rc != DURLOG_EEND) {
        /* Nothing was cut, and every accident to the segments was undone:
         * the log must read whole. */
        fprintf(stderr, "  epoch %u: every accident to the segments was undone and nothing "
                "was cut, yet the plain reader stops after %" PRIu64 " records with %d (%s): "
                "%s\n", c->epoch, plain.records, plain.rc, durlog_strerror(plain.rc), plain.msg);
        CHECK_RC(plain.rc, DURLOG_EEND);
    }
    if (plain.rc == DURLOG_EEND) {
        tot->reads_ok++;
    } else {
        tot->reads_failed++;
        for (uint32_t w = 0; w < NW; w++)
            memset(e.got[w], 0, MAX_INDEX);
        read_pass(c->s.log, 1, NULL, &e, seen, 2, UINT64_MAX, &skip);
        if (skip.bad)
            fprintf(stderr, "  epoch %u: skipping reader: %s\n", c->epoch, skip.bad_msg);
        CHECK(!skip.bad);
        if (skip.rc != DURLOG_EEND)
            fprintf(stderr, "  epoch %u: the skipping reader stopped with %d (%s): %s\n",
                    c->epoch, skip.rc, durlog_strerror(skip.rc), skip.msg);
        CHECK_RC(skip.rc, DURLOG_EEND);
        judged = &skip;
    }
    for (uint32_t w = 0; w < NW; w++) {
        for (uint64_t i = 0; i < e.nacks[w]; i++) {
            uint64_t idx = e.acks[w][i].index;
            if (e.want[w][idx] && !e.got[w][idx] && not_returned++ < 8)
                fprintf(stderr, "  epoch %u: writer %u's record %" PRIu64 " (acknowledged as "
                        "seq %" PRIu64 ") is in segment %" PRIu64 " (as seq %" PRIu64 ") but "
                        "the %s reader did not return it\n", c->epoch, w, idx,
                        e.acks[w][i].seq, e.seg_of[w][idx], e.seq_in[w][idx],
                        judged == &plain ? "plain" : "skipping");
        }
    }
    if (not_returned)
        fprintf(stderr, "  epoch %u: %" PRIu64 " acknowledged records in segments were not "
                "returned; the plain reader ended with %d (%s): %s\n", c->epoch,
                not_returned, plain.rc, durlog_strerror(plain.rc), plain.msg);
    CHECK_EQ_U64(not_returned, 0);

    /* durlog check: clean, or names a problem; and agrees with the reader. */
    durlog_check_report rep;
    memset(&rep, 0, sizeof rep);
    int crc = durlog_check(c->s.log, 0, &rep);
    if (crc)
        fprintf(stderr, "  epoch %u: durlog check: %d %s: %s\n", c->epoch, crc,
                durlog_strerror(crc), rep.problem);
    CHECK_RC(crc, 0);
    if (rep.damaged) {
        tot->check_damaged++;
        if (!names_problem(rep.problem))
            fprintf(stderr, "  epoch %u: durlog check found damage but says \"%s\"\n",
                    c->epoch, rep.problem);
        CHECK(names_problem(rep.problem));
    }
    if (crc == 0 && !rep.damaged && plain.rc != DURLOG_EEND) {
        fprintf(stderr, "  epoch %u: durlog check says the log is clean, but a reader stops "
                "with %d (%s): %s\n", c->epoch, plain.rc, durlog_strerror(plain.rc), plain.msg);
        CHECK(!"check and reader agree");
    }
    if (crc == 0 && plain.rc == DURLOG_ECORRUPT && !rep.damaged)
        CHECK(rep.damaged);
    fprintf(stderr, "  epoch %u: final open %s; plain reader %s after %" PRIu64 " records%s%s;"
            " durlog check: %s%s%s\n", c->epoch, orc ? durlog_strerror(orc) : "ok",
            plain.rc == DURLOG_EEND ? "reached the end" : "failed", plain.records,
            plain.rc == DURLOG_EEND ? "" : ": ", plain.rc == DURLOG_EEND ? "" : plain.msg,
            rep.damaged ? "damaged: " : "clean", rep.damaged ? rep.problem : "",
            side_files ? " (side files present)" : "");
    free_seen(seen);
    for (uint32_t w = 0; w < NW; w++) {
        free(e.want[w]);
        free(e.got[w]);
        free(where[w]);
        free(e.seg_of[w]);
        free(e.seq_in[w]);
    }
}

/* ---- one epoch ----------------------------------------------------------- */

static void print_writer_samples(struct board *b)
{
    for (uint32_t w = 0; w < NW; w++) {
        for (int r = 0; r < NREFUSALS; r++)
            if (b->w[w].sample[r][0])
                fprintf(stderr, "    writer %u, first open refused (%s): %s\n", w,
                        refusal_name[r], b->w[w].sample[r]);
        if (b->w[w].append_sample[0])
            fprintf(stderr, "    writer %u, first failed append: %s\n", w,
                    b->w[w].append_sample);
    }
}

/* One epoch: a fresh log, `rounds` accidents among `kinds`, the final
 * check. An `undo` epoch has no cp + mv of the tail (which cannot be
 * undone) and puts back what the controller moved or flipped before the
 * final check. */
static void run_epoch(uint64_t seed, unsigned epoch, unsigned rounds, unsigned kinds,
                      int undo, struct totals *tot)
{
    struct ctl *c = calloc(1, sizeof *c);
    REQUIRE(c);
    c->epoch = epoch;
    c->rnd = seed ^ (0x5851f42d4c957f2dull * (epoch + 1));
    test_rand(&c->rnd);
    c->b = tu_shared_alloc(sizeof *c->b);
    g_acks = tu_shared_alloc((size_t)NW * MAX_INDEX * sizeof *g_acks);
    REQUIRE(c->b && g_acks);
    struct board *b = c->b;
    scratch_make(&c->s);
    REQUIRE(chmod(c->s.dir, 0755) == 0); /* nobody reads the log in here */
    snprintf(c->backup, sizeof c->backup, "%s/moved", c->s.dir);
    REQUIRE(mkdir(c->backup, 0700) == 0);
    {
        durlog_options o = { .segment_size = SEG_SIZE };
        durlog *log;
        REQUIRE(durlog_open(c->s.log, &o, &log) == 0);
        CHECK_OK(durlog_close(log));
    }
    take_shm_copy(c);

    pid_t writers[NW], reader;
    struct writer_arg wa[NW];
    struct reader_arg ra = { b, c->s.log };
    c->t_start = tu_now_ns();
    for (uint32_t w = 0; w < NW; w++) {
        atomic_store(&b->w[w].last_refusal, -1);
        wa[w] = (struct writer_arg){ b, c->s.log, w, seed + epoch };
        writers[w] = tu_fork(writer_main, &wa[w]);
        REQUIRE(writers[w] > 0);
    }
    reader = tu_fork(live_reader_main, &ra);
    REQUIRE(reader > 0);

    int stuck = 0;
    for (unsigned round = 0; round < rounds && !stuck; round++) {
        /* The writers append between accidents. */
        uint64_t acks = total_acks(b), opens = total_opens(b);
        sleep_us(2000 + (unsigned)(test_rand(&c->rnd) % 12000));
        uint64_t t = tu_now_ns();
        while (total_acks(b) == acks && tu_now_ns() - t < 300000000u)
            sleep_us(500);
        if (total_acks(b) == acks && unstick(c, acks, opens) != 0)
            stuck = 1;
        if (test_rand(&c->rnd) % 3 == 0)
            take_shm_copy(c);
        if (c->nchmod && test_rand(&c->rnd) % 3 == 0)
            restore_chmod(c, (size_t)(test_rand(&c->rnd) % c->nchmod));
        unsigned k = (unsigned)(test_rand(&c->rnd) % 6);
        tot->rounds++;
        if (!(kinds & (1u << k)) || (undo && k == K_REPLACE_TAIL)) {
            c->skipped[k]++;
            continue;
        }
        switch (k) {
        case K_RM_SHM: acc_rm_shm(c); break;
        case K_OLD_SHM: acc_old_shm(c); break;
        case K_FLIP: acc_flip(c); break;
        case K_MOVE: acc_move(c, round); break;
        case K_CHMOD: acc_chmod(c); break;
        default: acc_replace_tail(c); break;
        }
    }

    /* Stop everyone; then undo the chmods. */
    atomic_store(&b->stop, 1);
    for (uint32_t w = 0; w < NW; w++) {
        char who[32];
        snprintf(who, sizeof who, "writer %u", w);
        CHECK(wait_bounded(writers[w], 30000, who) == 0);
    }
    atomic_store(&b->reader_stop, 1);
    CHECK(wait_bounded(reader, 30000, "the live reader") == 0);
    while (c->nchmod)
        restore_chmod(c, 0);

    for (uint32_t w = 0; w < NW; w++) {
        struct wstate *ws = &b->w[w];
        if (atomic_load(&ws->bad)) {
            fprintf(stderr, "  epoch %u, writer %u: %s\n", epoch, w, ws->bad_msg);
            CHECK(!atomic_load(&ws->bad));
        }
        for (int r = 0; r < NREFUSALS; r++)
            tot->refused[r] += atomic_load(&ws->refused[r]);
        tot->append_failed += atomic_load(&ws->append_failed);
        tot->close_failed += atomic_load(&ws->close_failed);
        tot->opens += atomic_load(&ws->opens);
    }
    if (atomic_load(&b->reader_bad)) {
        fprintf(stderr, "  epoch %u, live reader: %s\n", epoch, b->reader_bad_msg);
        CHECK(!atomic_load(&b->reader_bad));
    }
    tot->live_passes += atomic_load(&b->reader_passes);
    tot->live_errors += atomic_load(&b->reader_errors);
    for (int k = 0; k < NKINDS; k++) {
        tot->count[k] += c->count[k];
        tot->skipped += c->skipped[k];
    }
    tot->nobody_checks += c->nobody_checks;
    tot->nobody_eacces += c->nobody_eacces;
    tot->nobody_cut += c->nobody_cut;
    tot->epochs++;

    unsigned undone = 0;
    if (undo) {
        int was_cut = c->count[K_REPAIR] || log_was_cut(c->s.log);
        undone = undo_accidents(c);
        tot->undo_epochs++;
        tot->undone += undone;
        fprintf(stderr, "  epoch %u: undid %u of %zu moves and %zu flips before the final "
                "check%s\n", epoch, undone, c->nmoves, c->nflips,
                was_cut ? " (none: the log was cut meanwhile, its numbers may be reused)" : "");
    }
    unsigned reads_ok = tot->reads_ok;
    final_check(c, undo && undone == c->nmoves + c->nflips, tot);
    if (undo && tot->reads_ok > reads_ok)
        tot->undo_reads_ok++;
    if (th_failed_current) {
        fprintf(stderr, "  epoch %u (seed 0x%" PRIx64 "): accidents:\n", epoch, seed);
        for (size_t i = 0; i < c->nacc; i++)
            fprintf(stderr, "    #%zu +%.1f ms (%.2f ms) %s: %s\n", i,
                    (double)(c->acc[i].t0 - c->t_start) / 1e6,
                    (double)(c->acc[i].t1 - c->acc[i].t0) / 1e6, kind_name[c->acc[i].kind],
                    c->acc[i].what);
        print_writer_samples(b);
        if (b->reader_sample[0])
            fprintf(stderr, "    live reader, first error: %s\n", b->reader_sample);
        if (getenv("DURLOG_ACCIDENT_KEEP")) {
            scratch_keep(&c->s);
            fprintf(stderr, "  kept %s\n", c->s.dir);
        } else {
            scratch_remove(&c->s);
        }
    } else {
        scratch_remove(&c->s);
    }
    if (getenv("DURLOG_ACCIDENT_VERBOSE") && !th_failed_current)
        print_writer_samples(b);
    munmap(g_acks, (size_t)NW * MAX_INDEX * sizeof *g_acks);
    munmap(c->b, sizeof *c->b);
    free(c->acc);
    free(c->flips);
    free(c->moves);
    free(c->shm_copy);
    free(c);
}

static void accidents_between_appends_lose_nothing_and_hide_nothing(void)
{
    SKIP_UNLESS(geteuid() == 0, "chmod accidents need root to run a reader as another user");
    uint64_t scale = env_u64("DURLOG_TEST_SCALE", 1);
    uint64_t rounds = env_u64("DURLOG_ACCIDENT_ROUNDS", DEFAULT_ROUNDS / (scale ? scale : 1));
    if (rounds == 0)
        rounds = 1;
    uint64_t seed = env_u64("DURLOG_ACCIDENT_SEED", 0);
    if (!seed) {
        seed = tu_now_ns() ^ ((uint64_t)getpid() << 32);
        test_rand(&seed);
    }
    fprintf(stderr, "  seed 0x%" PRIx64 " (DURLOG_ACCIDENT_SEED=0x%" PRIx64 " repeats its "
            "choices), %" PRIu64 " rounds\n", seed, seed, rounds);
    /* DURLOG_ACCIDENT_KINDS=flip,move,...: only those accidents (to narrow
     * down a failure). */
    unsigned kinds = (1u << K_REPAIR) - 1;
    const char *only = getenv("DURLOG_ACCIDENT_KINDS");
    if (only && *only) {
        kinds = 0;
        for (int k = 0; k < K_REPAIR; k++)
            if (strstr(only, kind_name[k]))
                kinds |= 1u << k;
        fprintf(stderr, "  only these accidents: %s\n", only);
    }
    struct totals tot;
    memset(&tot, 0, sizeof tot);
    uint64_t t0 = tu_now_ns();
    /* Epochs of EPOCH_ROUNDS, but at least two (an undo epoch too) when
     * there are two rounds or more. */
    uint64_t per_epoch = rounds >= 2 * EPOCH_ROUNDS ? EPOCH_ROUNDS : (rounds + 1) / 2;
    for (unsigned epoch = 0; rounds > 0 && !th_failed_current; epoch++) {
        unsigned n = rounds > per_epoch ? (unsigned)per_epoch : (unsigned)rounds;
        run_epoch(seed, epoch, n, kinds, epoch % 2 == 1, &tot);
        rounds -= n;
    }
    fprintf(stderr, "  %u rounds in %u epochs, %.1f s: accidents", tot.rounds, tot.epochs,
            (double)(tu_now_ns() - t0) / 1e9);
    for (int k = 0; k < NKINDS; k++)
        fprintf(stderr, " %s %u%s", kind_name[k], tot.count[k], k + 1 < NKINDS ? "," : "");
    fprintf(stderr, " (%u rounds without one: not possible then, or left out);", tot.skipped);
    fprintf(stderr, " %" PRIu64 " acknowledgements in %" PRIu64 " opens; refusals",
            tot.acks, tot.opens);
    for (int r = 0; r < NREFUSALS; r++)
        fprintf(stderr, " %s %" PRIu64 "%s", refusal_name[r], tot.refused[r],
                r + 1 < NREFUSALS ? "," : ";");
    fprintf(stderr, " failed appends %" PRIu64 ", closes %" PRIu64 "; lost to the "
            "controller's own actions %" PRIu64 " (%" PRIu64 " in moved segments, %" PRIu64
            " flipped, %" PRIu64 " acknowledged during a cp + mv); %" PRIu64
            " found only in side files; final opens %u ok, %u refused; final reads %u "
            "complete, %u failed naming the problem; durlog check found damage %u times; "
            "%u nobody-reader checks (%u ended in EACCES naming the file, %u found it cut away "
            "meanwhile); live reader %" PRIu64 " passes, %" PRIu64 " ended in an "
            "error; %u epochs undid %u accidents before the final check, and %u of them then "
            "read whole\n", tot.append_failed, tot.close_failed, tot.lost_to_controller,
            tot.only_in_backup, tot.flipped, tot.raced_lost, tot.only_in_side,
            tot.writer_opens_ok, tot.writer_opens_refused, tot.reads_ok, tot.reads_failed,
            tot.check_damaged, tot.nobody_checks, tot.nobody_eacces, tot.nobody_cut,
            tot.live_passes, tot.live_errors,
            tot.undo_epochs, tot.undone, tot.undo_reads_ok);
}

TEST_MAIN(
    RUN(accidents_between_appends_lose_nothing_and_hide_nothing);
)
