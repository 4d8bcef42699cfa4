/* Power loss, simulated. A workload appends through the library while the
 * power-loss recorder (tests/lib/powerloss.h) notes in the dl_os seam what
 * each successful fdatasync/fsync made durable. At each crash point the test
 * builds many file states a power failure could leave: segments whose names
 * no directory fsync covered there or not, unsynced pages lost, kept or
 * torn by sector, and the coordination file (never synced) gone or any older
 * version of itself, with another boot's id.
 *
 * Records are stored through a shared mapping, so the seam never sees them
 * written: comparing whole pages with the last synced copy is how this
 * models "unsynced pages may each independently be lost or kept".
 *
 * For each state, first a reader opened before any writer (a consumer that
 * starts right after the reboot) must return every record the library had
 * marked durable and every one acknowledged at sync level, intact and in
 * order, before it reports the end or damage. Then the log opens (recovery), holds every record acknowledged
 * at sync level (by the call, or by an asynchronous append's callback),
 * every record the library had marked durable, and every
 * interval record older than its window (plus an allowance for scheduling),
 * and returns nothing whose bytes differ from what was appended. A second test runs the same workload on a "disk" whose
 * fdatasync lies (returns success without syncing) and requires the check
 * to catch lost records: the simulator can fail.
 *
 * A third test does the same with three writer processes appending at once
 * (crash states taken while they run): the recorder lives in shared memory.
 *
 * Two more put trims in flight (crash points at each removal and directory
 * fsync of a trim, removals modelled: see the section below), and check
 * that a trim skipping its directory fsyncs is caught.
 *
 * DURLOG_POWERLOSS_STATES: states per crash point (default 100). */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "format.h"
#include "lib/children.h"
#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/payload.h"
#include "lib/powerloss.h"
#include "lib/seam.h"

#define EXTRA 120
#define RECORDS 200
#define INTERVAL_TAIL 60          /* the last records: interval level only */
#define INTERVAL_MS 2
#define INTERVAL_SLACK_MS 500
#define ASYNC_FROM 60             /* records [ASYNC_FROM, ASYNC_TO): async sync */
#define ASYNC_TO 100
#define MAX_FILES 512
#define MAX_FILE_BYTES 8192 /* segments here are 4 KiB */

static struct pl_recorder *recorded; /* the one in use */
static int lying_disk;               /* its syncs succeed without syncing */

static int is_segment(const char *name)
{
    uint64_t first;
    return seg_name_first(name, &first);
}

/* A recorder of the segments of the log at path, and of its coordination
 * file (never synced: after a reboot the disk holds whatever the kernel
 * last wrote back). */
static struct pl_recorder *recorder_new(const char *path)
{
    return pl_recorder_new(path, is_segment, MAX_FILES, MAX_FILE_BYTES, DL_SHM_NAME,
                           DL_SHM_SIZE);
}

static uint64_t rnd_state = 0x243f6a8885a308d3ull;

/* The coordination file of a crash state: from the boot before the crash,
 * for this very directory. */
static void shm_of_the_boot_before(void *bytes, const char *out)
{
    struct dl_shared *old = bytes;
    struct stat st;
    snprintf(old->boot_id, sizeof old->boot_id, "the-boot-before-the-crash");
    if (stat(out, &st) == 0) {
        old->dir_dev = (uint64_t)st.st_dev;
        old->dir_ino = (uint64_t)st.st_ino;
    }
}

/* Builds one crash state of the log in `out`. */
static void build_state(const char *out)
{
    pl_build_state(recorded, out, PL_TORN, &rnd_state, shm_of_the_boot_before);
}

/* Writer processes of the multi-process test (the single-process one uses
 * writer 0 alone). */
enum { PROCS = 3, PROC_RECORDS = 300, CRASH_POINTS = 40 };

/* Reads the log from its start: how many records come, dense, intact, each
 * writer's in order, before the reader stops (at the end or at damage).
 * next[w] gets one past each writer's last record. NULL or what is wrong. */
static const char *read_state(const char *path, uint64_t *count, uint64_t *next,
                              int *end_rc)
{
    durlog_reader *r;
    *count = 0;
    *end_rc = durlog_reader_open(path, NULL, &r);
    if (*end_rc == DURLOG_EFORMAT)
        return NULL; /* not even a segment survived: nothing to read */
    if (*end_rc)
        return "no reader";
    durlog_record one;
    uint64_t n = 0;
    const char *bad = NULL;
    int rc;
    while ((rc = durlog_reader_next(r, &one)) == 0) {
        uint32_t w;
        uint64_t idx;
        if (one.seq != n || !tu_payload_check(&one, EXTRA, &w, &idx) || w >= PROCS ||
            idx != next[w]) {
            bad = "a record differs from what was appended, or is out of order";
            break;
        }
        next[w]++;
        n++;
    }
    durlog_reader_close(r);
    *count = n;
    *end_rc = rc;
    return bad;
}

/* Checks one crash state: a reader opened first returns everything durable;
 * then the log opens, its numbers are dense, its payloads intact, each
 * writer's records a prefix of what it appended and at least as long as
 * what its sync appends acknowledged (acked[w]), and everything below
 * `durable` is there. Returns 0 or what is wrong. */
static const char *check_state(const char *path, uint64_t durable,
                                     const uint64_t *acked)
{
    uint64_t n, next[PROCS] = { 0 };
    int rc;
    const char *bad = read_state(path, &n, next, &rc);
    if (!bad && rc != DURLOG_EEND && rc != DURLOG_ECORRUPT && !(rc == DURLOG_EFORMAT && n == 0)) {
        static char why[128];
        snprintf(why, sizeof why, "the first reader fails otherwise than at the end or "
                 "at damage: %s", durlog_strerror(rc));
        bad = why;
    }
    if (!bad && n < durable)
        bad = "the first reader, before recovery, misses a record marked durable";
    for (int w = 0; w < PROCS && !bad; w++)
        if (next[w] < acked[w])
            bad = "the first reader, before recovery, misses a record acknowledged at sync";
    if (bad)
        return bad;

    durlog *log;
    durlog_options o = { .no_create = 1 };
    rc = durlog_open(path, &o, &log);
    /* No segment reached the disk (nor did anything durable, checked
     * above): an empty directory is no log, and no_create says so. */
    if (rc == DURLOG_EFORMAT && n == 0)
        return NULL;
    if (rc != 0)
        return "the log does not open";
    durlog_close(log);
    memset(next, 0, sizeof next);
    bad = read_state(path, &n, next, &rc);
    if (!bad && rc != DURLOG_EEND)
        bad = "reading stops at damage";
    if (!bad && n < durable)
        bad = "a record marked durable is lost";
    for (int w = 0; w < PROCS && !bad; w++)
        if (next[w] < acked[w])
            bad = "a record acknowledged at sync level is lost";
    return bad;
}

/* One past the highest record an asynchronous sync append's callback has
 * reported durable. */
static _Atomic uint64_t async_acked;

static void async_done(void *ctx, uint64_t seq, int status)
{
    (void)ctx;
    uint64_t v = atomic_load(&async_acked);
    while (status == 0 && seq + 1 > v && !atomic_compare_exchange_weak(&async_acked, &v, seq + 1))
        ;
}

/* Runs the workload, checking `states` crash states after every few
 * appends; returns how many states failed. */
static const char *check_flipped_state(const char *path, long *tested);

/* flip_sealed: each state also gets a byte flipped in a sealed segment
 * (check_flipped_state) instead of the plain check. */
static long run_workload_checking(long states_per_point, long *states_total, int flip_sealed)
{
    struct scratch s;
    scratch_make(&s);
    atomic_store(&async_acked, 0);
    recorded = recorder_new(s.log);
    if (!recorded) {
        CHECK(!"shared memory");
        return 1;
    }
    recorded->lying = lying_disk;
    pl_record_syncs(recorded);
    durlog *log = fx_writer(s.log, &(durlog_options){
        .segment_size = 4096, .buffer_size = 1024, .interval_ms = INTERVAL_MS,
        .engine = DURLOG_ENGINE_THREAD /* its syncs go through the recorder */ });
    if (!log) {
        tu_restore_os();
        pl_recorder_free(recorded);
        return 1;
    }
    static const durlog_level levels[5] = { DURLOG_KERNEL, DURLOG_BUFFERED, DURLOG_SYNC,
                                            DURLOG_INTERVAL, DURLOG_SYNC };
    struct dl_shared *sh = tu_map_shared(s.log);
    uint64_t acked_sync = 0, appended_ms[RECORDS];
    long failures = 0;
    char state[PATH_MAX + 40];
    for (uint64_t i = 0; i < RECORDS; i++) {
        /* The last records are all at interval level: only the engine
         * makes them durable. */
        durlog_level level = i >= RECORDS - INTERVAL_TAIL ? DURLOG_INTERVAL : levels[i % 5];
        if (i >= ASYNC_FROM && i < ASYNC_TO) {
            /* Asynchronous sync appends: acknowledged by their callback. */
            unsigned char buf[TU_PAYLOAD_MAX];
            size_t len = tu_payload(buf, 0, i, EXTRA);
            CHECK_OK(durlog_append_async(log, buf, len, DURLOG_SYNC, async_done, NULL, NULL));
            level = DURLOG_KERNEL;
        } else {
            CHECK_OK(tu_append_payload(log, 0, i, EXTRA, level, NULL));
        }
        appended_ms[i] = tu_now_ms();
        if (level == DURLOG_SYNC)
            acked_sync = i + 1;
        if (i % 4 != 3)
            continue;
        /* Whatever the library has marked durable (the interval engine's
         * syncs included) must survive too; and so must every interval
         * record appended longer ago than its window (interval_ms, plus a
         * generous allowance for scheduling). */
        uint64_t durable = sh ? tu_durable(sh) : 0;
        uint64_t must_have = durable > acked_sync ? durable : acked_sync;
        if (atomic_load(&async_acked) > must_have)
            must_have = atomic_load(&async_acked);
        uint64_t now = tu_now_ms();
        for (uint64_t j = must_have; j <= i; j++)
            if (now - appended_ms[j] > INTERVAL_MS + INTERVAL_SLACK_MS)
                must_have = j + 1;
        for (long k = 0; k < states_per_point; k++) {
            pl_state_dir(state, sizeof state);
            build_state(state);
            uint64_t acked[PROCS] = { acked_sync };
            const char *bad = flip_sealed ? check_flipped_state(state, states_total)
                                          : check_state(state, must_have, acked);
            if (!flip_sealed)
                (*states_total)++;
            if (bad) {
                if (failures++ < 3)
                    fprintf(stderr, "  after record %" PRIu64 ": %s\n", i, bad);
            }
            test_rmrf(state);
        }
    }
    CHECK_OK(fx_close(log));
    if (sh)
        tu_unmap_shared(sh);
    tu_restore_os();
    pl_recorder_free(recorded);
    return failures;
}

static long run_workload(long states_per_point, long *states_total)
{
    return run_workload_checking(states_per_point, states_total, 0);
}

/* ---- a byte flipped in a sealed segment after the crash ---- */

/* Copies directory `from` (flat: the log's files) to `to`. */
static int copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    int rc = mkdir(to, 0755) == 0 ? 0 : -1;
    while (rc == 0 && d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char a[PATH_MAX + 300], b[PATH_MAX + 300];
        size_t len;
        unsigned char *bytes = file_read(log_file(a, sizeof a, from, e->d_name), &len);
        if (!bytes || file_write(log_file(b, sizeof b, to, e->d_name), bytes, len) != 0)
            rc = -1;
        free(bytes);
    }
    if (d)
        closedir(d);
    return rc;
}

/* A record a reader returned: its number, and whose it is. */
struct seen {
    uint64_t seq, idx;
    uint32_t w;
};

/* The records a reader (skip: with skip_damaged) returns, into out (at
 * most max). Returns how many, and its last return code in *end_rc
 * (-EBADMSG if it returned bytes that were never appended). */
static size_t read_all(const char *path, int skip, struct seen *out, size_t max, int *end_rc)
{
    durlog_reader_options ro = { .skip_damaged = skip };
    durlog_reader *r;
    *end_rc = durlog_reader_open(path, &ro, &r);
    if (*end_rc)
        return 0;
    durlog_record one;
    size_t n = 0;
    while ((*end_rc = durlog_reader_next(r, &one)) == 0 && n < max) {
        uint32_t w;
        uint64_t idx;
        if (!tu_payload_check(&one, EXTRA, &w, &idx)) {
            *end_rc = -EBADMSG;
            break;
        }
        out[n++] = (struct seen){ one.seq, idx, w };
    }
    durlog_reader_close(r);
    return n;
}

/* The log's files other than the coordination file, newline-separated. */
static void list_files(const char *path, char *out, size_t size)
{
    DIR *d = opendir(path);
    struct dirent *e;
    size_t used = 0;
    out[0] = '\0';
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && strcmp(e->d_name, DL_SHM_NAME) != 0 && used < size)
            used += (size_t)snprintf(out + used, size - used, "%s\n", e->d_name);
    if (d)
        closedir(d);
}

/* A crash state, then a reboot, and one byte of a record's payload flipped
 * in a sealed segment (as a bad sector would): recovery must not remove
 * any record but the damaged one, nor any file without a side file; a
 * reader stops at the damage, and one that skips damage returns every other
 * record the undamaged state holds. Counts the states it could test (those
 * holding a sealed segment before the last one) in *tested. */
static const char *check_flipped_state(const char *path, long *tested)
{
    static char why[256];
    char flipped[PATH_MAX + 40], plain[320];
    if (strlen(path) > 300)
        return "the crash state's path is too long";
    snprintf(plain, sizeof plain, "%.300s", path);
    uint64_t segs[MAX_FILES];
    size_t n = list_segments(plain, segs, MAX_FILES);
    size_t pick = n;
    for (size_t i = 0; i + 1 < n; i++)
        if (segment_flags(plain, segs[i]) & DL_SEG_F_SEALED)
            pick = i; /* the last sealed one: where recovery would look first */
    if (pick == n)
        return NULL; /* nothing sealed in this state */
    snprintf(flipped, sizeof flipped, "%.300s-flipped", path);
    if (copy_dir(path, flipped) != 0)
        return "cannot copy the state";

    /* The state as the crash left it, recovered: the records it holds. */
    static struct seen want[4096], got[4096];
    int rc;
    durlog *log;
    durlog_options o = { .no_create = 1 };
    const char *bad = NULL;
    if (durlog_open(path, &o, &log) != 0) {
        bad = "the undamaged state does not open";
        goto out;
    }
    durlog_close(log);
    size_t nwant = read_all(path, 0, want, 4096, &rc);
    if (rc != DURLOG_EEND) {
        bad = "the undamaged state does not read to its end";
        goto out;
    }

    /* One byte of one record's payload in the sealed segment, flipped. */
    char seg[PATH_MAX + 80];
    size_t len;
    unsigned char *bytes = file_read(seg_file(seg, sizeof seg, flipped, segs[pick]), &len);
    uint64_t records = segs[pick + 1] - segs[pick];
    uint64_t target = segs[pick] + test_rand(&rnd_state) % records, off = DL_SEG_HEADER_SIZE;
    for (uint64_t q = segs[pick]; bytes && q < target && off + DL_REC_HEADER_SIZE <= len; q++)
        off += dl_rec_size(dl_rec_len(bytes + off));
    uint64_t at = off + DL_REC_HEADER_SIZE + TU_PAYLOAD_HEAD - 1;
    if (!bytes || at >= len)
        bad = "cannot find the record to damage";
    else if (file_flip_bit(seg, at, 4) != 0) /* 0x10 */
        bad = "cannot flip the byte";
    free(bytes);
    if (bad)
        goto out;

    static char before[65536], after[65536];
    list_files(flipped, before, sizeof before);
    rc = durlog_open(flipped, &o, &log);
    if (rc != 0) {
        snprintf(why, sizeof why, "the damaged state does not open: %s", durlog_strerror(rc));
        bad = why;
        goto out;
    }
    durlog_close(log);
    /* Every file is still there, or cut into a side file. */
    list_files(flipped, after, sizeof after);
    for (char *line = before, *nl; *line && !bad; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        char probe[128];
        snprintf(probe, sizeof probe, "%.100s\n", line);
        if (!strstr(after, probe)) {
            snprintf(probe, sizeof probe, "%.100s.cut-", line);
            if (!strstr(after, probe)) {
                snprintf(why, sizeof why, "%.100s was removed without a side file", line);
                bad = why;
            }
        }
    }
    if (bad)
        goto out;
    size_t ngot = read_all(flipped, 0, got, 4096, &rc);
    if (rc != DURLOG_ECORRUPT) {
        bad = "a plain reader does not stop at the damaged record";
        goto out;
    }
    for (size_t i = 0; i < ngot; i++)
        if (got[i].seq != want[i].seq || got[i].idx != want[i].idx || got[i].w != want[i].w) {
            bad = "a plain reader returns something else before the damage";
            goto out;
        }
    ngot = read_all(flipped, 1, got, 4096, &rc);
    if (rc != DURLOG_EEND || ngot + 1 != nwant) {
        snprintf(why, sizeof why, "skipping the damage, a reader returns %zu of the %zu "
                 "other records (%s)", ngot, nwant - 1, durlog_strerror(rc));
        bad = why;
        goto out;
    }
    for (size_t i = 0, j = 0; i < nwant; i++) {
        if (want[i].seq == target)
            continue;
        if (got[j].seq != want[i].seq || got[j].idx != want[i].idx || got[j].w != want[i].w) {
            bad = "skipping the damage, a reader returns a different record";
            goto out;
        }
        j++;
    }
    (*tested)++;
out:
    test_rmrf(flipped);
    return bad;
}

static long states_per_point(void)
{
    const char *v = getenv("DURLOG_POWERLOSS_STATES");
    long n = v && *v ? atol(v) : 0;
    return n > 0 ? n : 100;
}

/* ---- several writer processes ---- */


struct shared_acks {
    _Atomic uint64_t acked_sync[PROCS]; /* one past each writer's last sync append */
    _Atomic int done;
};

struct proc_writer {
    const char *path;
    struct shared_acks *acks;
    uint32_t writer;
};

static int proc_writer_main(void *arg)
{
    struct proc_writer *p = arg;
    pl_record_syncs(recorded);
    durlog *log;
    if (durlog_open(p->path, &(durlog_options){ .segment_size = 4096, .interval_ms = 2,
                                                .engine = DURLOG_ENGINE_THREAD }, &log))
        return 1;
    static const durlog_level levels[4] = { DURLOG_KERNEL, DURLOG_SYNC, DURLOG_BUFFERED,
                                            DURLOG_INTERVAL };
    for (uint64_t i = 0; i < PROC_RECORDS && !atomic_load(&p->acks->done); i++) {
        durlog_level level = levels[(i + p->writer) % 4];
        if (tu_append_payload(log, p->writer, i, EXTRA, level, NULL))
            return 1;
        if (level == DURLOG_SYNC)
            atomic_store(&p->acks->acked_sync[p->writer], i + 1);
        usleep(3000); /* the parent's crash points fall among the appends */
    }
    return durlog_close(log) ? 1 : 0;
}

static void power_loss_states_of_several_writer_processes_keep_what_was_synced(void)
{
    struct scratch s;
    scratch_make(&s);
    recorded = recorder_new(s.log);
    struct shared_acks *acks = tu_shared_alloc(sizeof *acks);
    REQUIRE(recorded && acks);
    durlog *log;
    REQUIRE(durlog_open(s.log, &(durlog_options){ .segment_size = 4096 }, &log) == 0); /* create it */
    CHECK_OK(durlog_close(log));
    struct dl_shared *sh = tu_map_shared(s.log);
    REQUIRE(sh);
    pid_t pids[PROCS];
    struct proc_writer pw[PROCS];
    for (uint32_t w = 0; w < PROCS; w++) {
        pw[w] = (struct proc_writer){ s.log, acks, w };
        pids[w] = tu_fork(proc_writer_main, &pw[w]);
        REQUIRE(pids[w] > 0);
    }
    long states = 0, failures = 0;
    long per_point = states_per_point() / 4 + 1;
    char state[PATH_MAX + 40];
    for (int point = 0; point < CRASH_POINTS && !th_failed_current; point++) {
        tu_sleep_ms(5);
        /* What is acknowledged and marked durable now: the states built
         * after must keep it. */
        uint64_t acked[PROCS];
        for (int w = 0; w < PROCS; w++)
            acked[w] = atomic_load(&acks->acked_sync[w]);
        uint64_t durable = tu_durable(sh);
        for (long k = 0; k < per_point; k++) {
            pl_state_dir(state, sizeof state);
            build_state(state);
            const char *bad = check_state(state, durable, acked);
            states++;
            if (bad && failures++ < 3)
                fprintf(stderr, "  state %ld: %s\n", states, bad);
            test_rmrf(state);
        }
    }
    atomic_store(&acks->done, 1);
    for (int w = 0; w < PROCS; w++)
        CHECK(tu_exited_ok(tu_wait(pids[w])));
    fprintf(stderr, "  %ld crash states of %d writer processes, %ld failed\n", states,
            PROCS, failures);
    CHECK(states >= 1000);
    CHECK_EQ_U64(failures, 0);
    tu_unmap_shared(sh);
    munmap(acks, sizeof *acks);
    pl_recorder_free(recorded);
}


static void every_power_loss_state_keeps_what_sync_acknowledged(void)
{
    long total = 0;
    lying_disk = 0;
    long failures = run_workload(states_per_point(), &total);
    fprintf(stderr, "  %ld crash states, %ld failed\n", total, failures);
    CHECK(total >= 3000);
    CHECK_EQ_U64(failures, 0);
}

/* The same check on a disk whose fdatasync only pretends: sync-acknowledged
 * records are then lost in some states, and the check must say so. */
static void a_lying_fdatasync_is_caught(void)
{
    long total = 0;
    lying_disk = 1;
    long failures = run_workload(5, &total);
    lying_disk = 0;
    fprintf(stderr, "  %ld crash states, %ld caught\n", total, failures);
    CHECK(failures > 0);
}

/* The workload's records are synced now and then, so a record after the
 * damage vouches for it: with the segment's seal ignored, recovery would
 * refuse the log (or, without such a record, cut it): the check fails. */
static void a_flipped_byte_in_a_sealed_segment_after_a_crash_costs_only_its_record(void)
{
    long tested = 0;
    lying_disk = 0;
    long failures = run_workload_checking(states_per_point() / 10 + 1, &tested, 1);
    fprintf(stderr, "  %ld crash states with a byte flipped in a sealed segment, %ld failed\n",
            tested, failures);
    CHECK(tested >= 100);
    CHECK_EQ_U64(failures, 0);
}

/* ---- trims in flight (issue #18) ----
 *
 * A writer appends at sync level and trims its log now and then. Crash
 * points are every removal and every directory fsync of a trim (the seam's
 * unlinkat and fsync, on the trimming thread): there, states are built with
 * the recorder's model of removals (tests/lib/powerloss.h: a removal no
 * directory fsync covered may be undone), and each must open, start at a
 * segment boundary at or below where the trims were asked to stop, hold
 * every record from its first on without a gap, intact, and every record
 * acknowledged at sync level. The broken variant skips the trim's directory
 * fsyncs (a trim that removes in order but never makes one removal durable
 * before the next): the check must find states with a hole. */
enum { TRIM_RECORDS = 800, TRIM_EVERY = 100, TRIM_KEEP = 100 };

static __thread int trim_in_flight;  /* this thread is inside durlog_trim */
static __thread int trim_checking;   /* this thread is checking states */
static uint64_t trim_acked;          /* one past the last sync-acknowledged record */
static uint64_t trim_asked;          /* the highest before_seq asked so far */
static long trim_per_point, trim_states, trim_failures, trim_removals;
static int trim_skip_dir_fsyncs;     /* the broken trim */

/* One crash state after a trim: NULL or what is wrong. */
static const char *check_trim_state(const char *path)
{
    durlog *log;
    durlog_options o = { .no_create = 1 };
    if (durlog_open(path, &o, &log) != 0)
        return "the log does not open";
    durlog_close(log);
    uint64_t segs[MAX_FILES];
    size_t nsegs = list_segments(path, segs, MAX_FILES);
    if (nsegs == 0)
        return "no segment is left";
    durlog_reader *r;
    if (durlog_reader_open(path, NULL, &r) != 0)
        return "no reader";
    durlog_record rec;
    uint64_t first = UINT64_MAX, next = 0;
    const char *bad = NULL;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        uint32_t w;
        uint64_t idx;
        if (first == UINT64_MAX)
            first = next = rec.seq;
        if (rec.seq != next || !tu_payload_check(&rec, EXTRA, &w, &idx) || w != 0 ||
            idx != rec.seq) {
            bad = "a record differs from what was appended, or is out of order";
            break;
        }
        next++;
    }
    durlog_reader_close(r);
    if (!bad && rc != DURLOG_EEND)
        bad = "reading stops at damage (a hole: a removal kept while an older one was undone?)";
    if (!bad && first != segs[0])
        bad = "the first record is not the first of the oldest segment";
    if (!bad && first > trim_asked)
        bad = "more was removed than any trim asked for";
    if (!bad && next < trim_acked)
        bad = "a record acknowledged at sync level is lost";
    return bad;
}

static void check_trim_states(void)
{
    char state[PATH_MAX + 40];
    trim_checking = 1;
    for (long k = 0; k < trim_per_point; k++) {
        pl_state_dir(state, sizeof state);
        build_state(state);
        const char *bad = check_trim_state(state);
        trim_states++;
        if (bad && trim_failures++ < 3 && !trim_skip_dir_fsyncs)
            fprintf(stderr, "  state %ld: %s\n", trim_states, bad);
        test_rmrf(state);
    }
    trim_checking = 0;
}

static int trim_point_unlinkat(int dirfd, const char *name, int flags)
{
    if (trim_in_flight && !trim_checking)
        check_trim_states(); /* before this removal */
    int rc = pl_recording_unlinkat(dirfd, name, flags);
    if (rc == 0 && trim_in_flight && !trim_checking)
        trim_removals++;
    return rc;
}

static int trim_point_fsync(int fd)
{
    struct stat st;
    if (trim_in_flight && !trim_checking && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        check_trim_states(); /* after a removal, before its fsync */
        if (trim_skip_dir_fsyncs)
            return 0;
    }
    return pl_recording_fsync(fd);
}

static void run_trim_workload(long per_point)
{
    struct scratch s;
    scratch_make(&s);
    recorded = recorder_new(s.log);
    REQUIRE(recorded);
    trim_per_point = per_point;
    trim_states = trim_failures = trim_removals = 0;
    trim_acked = trim_asked = 0;
    pl_record_syncs(recorded);
    pl_record_unlinks(recorded);
    dl_os.unlinkat = trim_point_unlinkat;
    dl_os.fsync = trim_point_fsync;
    durlog *log = fx_writer(s.log, &(durlog_options){
        .segment_size = 4096, .engine = DURLOG_ENGINE_THREAD });
    if (!log) {
        tu_restore_os();
        pl_recorder_free(recorded);
        return;
    }
    struct dl_shared *sh = tu_map_shared(s.log);
    for (uint64_t i = 0; i < TRIM_RECORDS; i++) {
        CHECK_OK(tu_append_payload(log, 0, i, EXTRA, DURLOG_SYNC, NULL));
        trim_acked = i + 1;
        if ((i + 1) % TRIM_EVERY || i + 1 < TRIM_KEEP)
            continue;
        trim_asked = i + 1 - TRIM_KEEP;
        /* Trims take sealed segments only: let the engine's sealer catch up
         * with the segments below the limit (a wait for a condition). */
        uint64_t segs[MAX_FILES], want = 0;
        size_t n = list_segments(s.log, segs, MAX_FILES);
        for (size_t j = 0; j < n && segs[j] <= trim_asked; j++)
            want = segs[j];
        for (uint64_t deadline = tu_now_ms() + 5000;
             sh && atomic_load(&sh->seal_next) < want && tu_now_ms() < deadline;)
            usleep(1000);
        trim_in_flight = 1;
        CHECK_OK(durlog_trim(log, trim_asked, NULL));
        trim_in_flight = 0;
    }
    CHECK_OK(fx_close(log));
    if (sh)
        tu_unmap_shared(sh);
    tu_restore_os();
    pl_recorder_free(recorded);
}

static void power_loss_states_with_trims_in_flight_keep_a_whole_log(void)
{
    run_trim_workload(states_per_point() / 3 + 1);
    fprintf(stderr, "  %ld crash states during trims (%ld segments removed), %ld failed\n",
            trim_states, trim_removals, trim_failures);
    CHECK(trim_removals >= 10);
    CHECK(trim_states >= 1000);
    CHECK_EQ_U64(trim_failures, 0);
}

static void a_trim_without_fsyncs_between_its_removals_is_caught(void)
{
    trim_skip_dir_fsyncs = 1;
    run_trim_workload(10);
    trim_skip_dir_fsyncs = 0;
    fprintf(stderr, "  %ld crash states during trims that skip their directory fsyncs, "
            "%ld caught\n", trim_states, trim_failures);
    CHECK(trim_states > 0);
    CHECK(trim_failures > 0);
}

TEST_MAIN(
    RUN(every_power_loss_state_keeps_what_sync_acknowledged);
    RUN(a_flipped_byte_in_a_sealed_segment_after_a_crash_costs_only_its_record);
    RUN(a_lying_fdatasync_is_caught);
    RUN(power_loss_states_of_several_writer_processes_keep_what_was_synced);
    RUN(power_loss_states_with_trims_in_flight_keep_a_whole_log);
    RUN(a_trim_without_fsyncs_between_its_removals_is_caught);
)
