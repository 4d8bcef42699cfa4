/*
 * test_signals.c - nothing kills the process (issue #15): a segment or the
 * coordination file truncated under a reader, a writer, recovery or check,
 * and a read that fails with EIO, become errors naming the file, never
 * SIGBUS; and SIGBUS that is not durlog's still reaches the program.
 *
 * EIO on a mapped page is made through the seam (dl_os.mmap): the segment is
 * mapped, then an empty memfd is mapped over it from EIO_OFF on, so that a
 * load there faults exactly as a failed page read does (SIGBUS, BUS_ADRERR).
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "lib/fixture.h"
#include "lib/logfiles.h"
#include "lib/model.h"
#include "lib/seam.h"
#include "lib/timing.h"
#include "guard.h"
#include "log.h"

#define SEG (1u << 20)
#define NREC 2000
#define REC_LEN 100

static void payload(unsigned char *buf, uint64_t seq)
{
    for (int i = 0; i < REC_LEN; i++)
        buf[i] = (unsigned char)(seq * 31 + (uint64_t)i * 7);
}

static int payload_ok(const durlog_record *rec)
{
    unsigned char want[REC_LEN];
    payload(want, rec->seq);
    return rec->len == REC_LEN && memcmp(rec->data, want, REC_LEN) == 0;
}

/* A closed log of n records (REC_LEN bytes each) in one 1 MiB segment. */
static int make_log(const char *path, uint64_t n)
{
    durlog *log;
    int rc = open_log(path, SEG, &log);
    if (rc)
        return rc;
    unsigned char buf[REC_LEN];
    for (uint64_t i = 0; i < n && !rc; i++) {
        payload(buf, i);
        rc = durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL);
    }
    int rc2 = durlog_close(log);
    return rc ? rc : rc2;
}

/* Appends records [from, from + n) at `kernel` to an open log. */
static void append_range(durlog *log, uint64_t from, uint64_t n)
{
    unsigned char buf[REC_LEN];
    for (uint64_t i = from; i < from + n; i++) {
        payload(buf, i);
        CHECK_OK(durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL));
    }
}

/* A writer (1 MiB segments) on the new scratch log s, with records
 * [0, n) appended. NULL after a failed CHECK. */
static durlog *writer_with_records(struct scratch *s, uint64_t n)
{
    durlog *log = fx_open(s, &(durlog_options){ .segment_size = SEG });
    if (log)
        append_range(log, 0, n);
    return log;
}

/* A reader on the new scratch log s, closed with n records in it. NULL
 * after a failed CHECK. */
static durlog_reader *reader_of_new_log(struct scratch *s, uint64_t n)
{
    scratch_make(s);
    int rc = make_log(s->log, n);
    CHECK_OK(rc);
    return rc ? NULL : fx_reader(s->log, NULL);
}

/* Records a fresh reader finds in the log (to the end or an error). */
static uint64_t model_count_records(const char *path)
{
    durlog_reader *r;
    durlog_record rec;
    uint64_t n = 0;
    if (durlog_reader_open(path, NULL, &r))
        return 0;
    while (durlog_reader_next(r, &rec) == 0 && payload_ok(&rec) && rec.seq == n)
        n++;
    durlog_reader_close(r);
    return n;
}

static const char *first_seg(char *buf, size_t len, const char *log)
{
    return seg_file(buf, len, log, 0);
}

/* ------------------------------------------------------------------------
 * The EIO seam.
 */
static uint64_t eio_off = 64 << 10;

static void *eio_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = mmap(addr, len, prot, flags, fd, off);
    /* Segments only (the coordination file is one page). */
    if (p == MAP_FAILED || len <= DL_SHM_SIZE || len <= eio_off)
        return p;
    int mfd = memfd_create("durlog-eio", MFD_CLOEXEC);
    if (mfd < 0 || mmap((char *)p + eio_off, len - eio_off, prot, MAP_SHARED | MAP_FIXED,
                        mfd, 0) == MAP_FAILED) {
        fprintf(stderr, "  eio_mmap could not overlay: %s\n", strerror(errno));
        abort();
    }
    close(mfd);
    return p;
}

/* ------------------------------------------------------------------------
 * The handler: ours only for our mappings.
 */
static sigjmp_buf prog_jmp;
static volatile sig_atomic_t prog_calls;
static volatile int prog_code;

static void prog_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    prog_calls++;
    prog_code = si->si_code;
    siglongjmp(prog_jmp, 1);
}

/* A program's own SIGBUS (its own mapping truncated; kill -BUS) reaches the
 * handler it installed before durlog's, and durlog's mappings stay guarded
 * beside it. In a child: the handler chain it sets up is for good. */
static void foreign_sigbus_child(void)
{
    struct scratch s;
    scratch_make(&s);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = prog_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGBUS, &sa, &old) == 0);

    REQUIRE(make_log(s.log, 10) == 0); /* maps: installs durlog's handler */
    durlog_reader *r;
    CHECK_OK(durlog_reader_open(s.log, NULL, &r));
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK(dl_guard_active());

    char own[400];
    snprintf(own, sizeof own, "%s/own", s.dir);
    int fd = open(own, O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0 && ftruncate(fd, 8192) == 0);
    volatile unsigned char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    REQUIRE(ftruncate(fd, 0) == 0);
    prog_calls = 0;
    if (sigsetjmp(prog_jmp, 1) == 0)
        (void)p[4096];
    CHECK_EQ_U64(prog_calls, 1);
    CHECK(prog_code == BUS_ADRERR);

    if (sigsetjmp(prog_jmp, 1) == 0)
        kill(getpid(), SIGBUS);
    CHECK_EQ_U64(prog_calls, 2);
    CHECK(prog_code == SI_USER);

    /* durlog's own mappings are still guarded. */
    char seg[400];
    REQUIRE(truncate(first_seg(seg, sizeof seg, s.log), 0) == 0);
    durlog_reader_close(r);
    CHECK_OK(durlog_reader_open(s.log, NULL, &r));
    CHECK(durlog_reader_next(r, &rec) != 0);
    CHECK_EQ_U64(prog_calls, 2);

    munmap((void *)p, 8192);
    close(fd);
    durlog_reader_close(r);
    scratch_remove(&s); /* a child: the harness tidies up only after the parent's cases */
}

static void test_foreign_sigbus_reaches_program(void)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        foreign_sigbus_child();
        _exit(th_failed_current ? 1 : 0);
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Without a handler of its own, a program's own SIGBUS still kills it (by
 * SIGBUS: the default action), as it would without durlog. */
static void test_foreign_sigbus_default_kills(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(make_log(s.log, 10) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        durlog_reader *r;
        durlog_record rec;
        if (durlog_reader_open(s.log, NULL, &r) || durlog_reader_next(r, &rec))
            _exit(3);
        char own[400];
        snprintf(own, sizeof own, "%s/own", s.dir);
        int fd = open(own, O_RDWR | O_CREAT, 0600);
        if (fd < 0 || ftruncate(fd, 8192) != 0)
            _exit(4);
        volatile unsigned char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED || ftruncate(fd, 0) != 0)
            _exit(5);
        (void)p[4096];
        _exit(0); /* not reached */
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer's handler came before durlog's: it reports the fault
     * and aborts (abort_on_error=1). */
    CHECK(WIFSIGNALED(st) && (WTERMSIG(st) == SIGBUS || WTERMSIG(st) == SIGABRT));
#else
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
#endif
}

/* ------------------------------------------------------------------------
 * Readers.
 */

/* The segment is truncated after the reader looked at its size: the next
 * records fault. The reader fails with DURLOG_ECORRUPT naming the file and
 * the truncation, for good; records it returned before stay intact (they
 * were copied out). */
static void test_reader_segment_truncated(void)
{
    struct scratch s;
    char seg[400];
    durlog_reader *r = reader_of_new_log(&s, NREC);
    REQUIRE(r);
    durlog_record rec, last;
    for (int i = 0; i < 10; i++)
        CHECK_OK(durlog_reader_next(r, &rec));
    last = rec;
    uint64_t faults = dl_guard_count();
    REQUIRE(truncate(first_seg(seg, sizeof seg, s.log), 8192) == 0);
    int rc = 0;
    uint64_t n = 10;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        CHECK(payload_ok(&rec));
        n++;
    }
    CHECK_RC(rc, DURLOG_ECORRUPT);
    CHECK(n < NREC);
    CHECK(dl_guard_count() > faults);
    CHECK(strstr(durlog_reader_errmsg(r), "was truncated") != NULL);
    CHECK(strstr(durlog_reader_errmsg(r), "00000000000000000000.seg") != NULL);
    CHECK(payload_ok(&last) || rec.seq != last.seq); /* the copy is the reader's */
    CHECK_RC(durlog_reader_next(r, &rec), DURLOG_ECORRUPT); /* stays failed */
}

/* A record returned before its segment was truncated is still the record
 * (a pointer into the mapping would now read zeros, or fault). */
static void test_returned_record_survives_truncation(void)
{
    struct scratch s;
    char seg[400];
    durlog_reader *r = reader_of_new_log(&s, NREC);
    REQUIRE(r);
    durlog_record rec;
    for (int i = 0; i < 1500; i++)
        CHECK_OK(durlog_reader_next(r, &rec));
    REQUIRE(truncate(first_seg(seg, sizeof seg, s.log), 4096) == 0);
    CHECK_EQ_U64(rec.seq, 1499);
    CHECK(payload_ok(&rec));
}

/* A page that cannot be read (EIO) is an error naming the file and the
 * offset, not a signal, and not the end of the log. */
static void test_reader_eio(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(make_log(s.log, NREC) == 0);
    dl_os.mmap = eio_mmap;
    durlog_reader *r;
    CHECK_OK(durlog_reader_open(s.log, NULL, &r));
    durlog_record rec;
    int rc;
    uint64_t n = 0;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        CHECK(payload_ok(&rec));
        n++;
    }
    CHECK_RC(rc, -EIO);
    CHECK(n > 0 && n < NREC);
    CHECK(strstr(durlog_reader_errmsg(r), "could not be read or stored into at offset 65536") != NULL);
    durlog_reader_close(r);
    tu_restore_os();
    CHECK_EQ_U64(model_count_records(s.log), NREC);
}

/* ------------------------------------------------------------------------
 * Recovery, check, info.
 */

/* Recovery at open that meets EIO fails the open with a message naming the
 * segment (no signal, nothing changed); once the disk reads again, the
 * next open works. */
static void test_recovery_eio(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(make_log(s.log, NREC) == 0);
    REQUIRE(forget_checkpoints(s.log) > 0); /* recovery must read records */
    char err[512] = "";
    durlog_options o = { .errbuf = err, .errbuf_size = sizeof err };
    durlog *log = NULL;
    dl_os.mmap = eio_mmap;
    CHECK_RC(durlog_open(s.log, &o, &log), -EIO);
    CHECK(strstr(err, "00000000000000000000.seg could not be read") != NULL);
    durlog_check_report rep;
    CHECK_RC(durlog_check(s.log, 0, &rep), -EIO);
    CHECK(strstr(rep.problem, "could not be read") != NULL);
    durlog_info info;
    durlog_reader *r;
    CHECK_OK(durlog_reader_open(s.log, NULL, &r));
    CHECK(durlog_reader_get_info(r, &info) == -EIO);
    durlog_reader_close(r);
    tu_restore_os();
    CHECK_OK(durlog_open(s.log, &o, &log));
    CHECK_EQ_U64(log_next_seq(log), NREC);
    CHECK_OK(durlog_close(log));
    CHECK_EQ_U64(model_count_records(s.log), NREC);
}

/* ------------------------------------------------------------------------
 * Writers.
 */

/* The tail truncated under a writer: the next append that stores past the
 * new end fails (DURLOG_EFAILED, naming the file and the truncation), and
 * so does every later one on any handle; nothing is stored over the
 * segment's header. After every writer closed, the log opens again and
 * takes appends. */
static void test_writer_tail_truncated(void)
{
    struct scratch s;
    char seg[400];
    scratch_make(&s);
    durlog *log, *other;
    char err[512] = "";
    REQUIRE(open_log(s.log, SEG, &log) == 0);
    REQUIRE(open_log(s.log, SEG, &other) == 0);
    unsigned char buf[REC_LEN];
    append_range(log, 0, 100);
    REQUIRE(truncate(first_seg(seg, sizeof seg, s.log), 4096) == 0);
    int rc = 0;
    uint64_t i;
    for (i = 100; i < 20000 && rc == 0; i++) {
        payload(buf, i);
        rc = durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL);
    }
    CHECK_RC(rc, DURLOG_EFAILED);
    snprintf(err, sizeof err, "%s", durlog_errmsg(log));
    CHECK(strstr(err, "00000000000000000000.seg was truncated") != NULL);
    CHECK_RC(durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_append(other, buf, REC_LEN, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    durlog_close(log);
    durlog_close(other);
    /* The header is intact: the segment still opens. */
    CHECK_OK(open_log(s.log, SEG, &log));
    payload(buf, 0);
    CHECK_OK(durlog_append(log, buf, REC_LEN, DURLOG_SYNC, NULL));
    CHECK_OK(durlog_close(log));
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
}

/* durlog.shm emptied (`: > durlog.shm`) under a writer and a live reader:
 * the writer's next append fails naming the file, creates no segment from
 * the zero page's numbers, and stores nothing; the reader goes on by
 * checksums. Once the writer closed, a new one rebuilds the file and
 * appends after every record. */
static void test_shm_emptied(void)
{
    struct scratch s;
    char shm[400];
    durlog *log = writer_with_records(&s, 100);
    REQUIRE(log);
    unsigned char buf[REC_LEN];
    durlog_reader *r;
    CHECK_OK(durlog_reader_open(s.log, NULL, &r));
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    uint64_t segs[8];
    size_t nseg = list_segments(s.log, segs, 8);
    REQUIRE(truncate(log_file(shm, sizeof shm, s.log, DL_SHM_NAME), 0) == 0);
    payload(buf, 100);
    CHECK_RC(durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
    CHECK(strstr(durlog_errmsg(log), "durlog.shm") != NULL);
    CHECK(strstr(durlog_errmsg(log), "truncated") != NULL);
    CHECK_RC(durlog_append(log, buf, REC_LEN, DURLOG_SYNC, NULL), DURLOG_EFAILED);
    CHECK_RC(durlog_flush(log, DURLOG_SYNC), DURLOG_EFAILED);
    CHECK_EQ_U64(list_segments(s.log, segs, 8), nseg);
    uint64_t n = 1;
    int rc;
    while ((rc = durlog_reader_next(r, &rec)) == 0) {
        CHECK(payload_ok(&rec));
        n++;
    }
    CHECK_RC(rc, DURLOG_EEND);
    CHECK_EQ_U64(n, 100);
    fx_close(log);
    CHECK_OK(open_log(s.log, SEG, &log));
    CHECK_EQ_U64(log_next_seq(log), 100);
    payload(buf, 100);
    CHECK_OK(durlog_append(log, buf, REC_LEN, DURLOG_SYNC, NULL));
    /* The reader follows the rebuilt file. */
    CHECK_OK(durlog_reader_wait(r, 1000));
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 100);
    CHECK(payload_ok(&rec));
    durlog_reader_close(r);
    CHECK_OK(durlog_close(log));
}

/* A writer killed holding the append lock, and the rebuild of the tail by
 * the next locker fails (EIO on the segment): that append fails with the
 * reason, and the lock is not left unusable: once the segment reads again,
 * the same handles append (no process has to exit). */
/* The pre-faulter extends the tail ahead of the appends in the background,
 * taking the append lock to publish each stretch: a test that kills a lock
 * holder and then makes the next locker's rebuild fail needs that locker to
 * be its own append, so it waits until the pre-faulter has reached its goal
 * (and has nothing left to do until half its distance ahead more is
 * appended). */
static void wait_for_the_prefaulter(const char *log)
{
    struct dl_shared *sh = tu_map_shared(log);
    for (int i = 0; sh && i < 1000; i++) {
        uint64_t goal = dl_page_ceil(sh->tail_off + dl_prealloc_ahead(sh));
        if (goal > sh->tail_capacity)
            goal = sh->tail_capacity;
        if (sh->tail_alloc >= goal)
            break;
        tu_sleep_ms(5);
    }
    tu_sleep_ms(20); /* from its last publish to its unlock */
    if (sh)
        tu_unmap_shared(sh);
}

static void test_failed_rebuild_does_not_brick(void)
{
    struct scratch s;
    durlog *log = writer_with_records(&s, 1000);
    REQUIRE(log);
    wait_for_the_prefaulter(s.log);
    unsigned char buf[REC_LEN];
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        durlog *c;
        if (open_log(s.log, SEG, &c) || dl_lock_append(c))
            _exit(3);
        _exit(0); /* dies holding it */
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    eio_off = 64 << 10;
    dl_os.mmap = eio_mmap;
    payload(buf, 1000);
    int rc = durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL);
    if (rc != -EIO)
        fprintf(stderr, "  the append returned %d: %s\n", rc, durlog_errmsg(log));
    CHECK(rc == -EIO);
    CHECK(strstr(durlog_errmsg(log), "could not be read") != NULL);
    CHECK(rc == -EIO && durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL) == -EIO);
    tu_restore_os();
    uint64_t seq = 0;
    CHECK_OK(durlog_append(log, buf, REC_LEN, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 1000);
    CHECK_OK(fx_close(log));
    CHECK_EQ_U64(model_count_records(s.log), 1001);
}


/* ------------------------------------------------------------------------
 * Found by trying it as a hostile user.
 */

/* durlog.shm cut to 100 bytes, or its first page zeroed in place, under a
 * writer: what the file says is no longer the log (the tail it names reads
 * as segment 0, full of records). The writer fails; no segment is created
 * over an existing one; every record stays readable. */
static void test_shm_zeroed_in_place(void)
{
    for (int how = 0; how < 2; how++) {
        struct scratch s;
        char shm[400];
        durlog *log = writer_with_records(&s, 100);
        REQUIRE(log);
        unsigned char buf[REC_LEN];
        log_file(shm, sizeof shm, s.log, DL_SHM_NAME);
        if (how == 0)
            REQUIRE(truncate(shm, 100) == 0);
        else
            REQUIRE(file_zero(shm, 0, 4096) == 0);
        CHECK_RC(durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
        fx_close(log);
        CHECK_EQ_U64(model_count_records(s.log), 100);
        durlog_check_report rep;
        CHECK_OK(durlog_check(s.log, 0, &rep));
        scratch_remove(&s);
    }
}

/* A full segment grown by someone else past its capacity: readers read its
 * records and nothing past its capacity (it used to crash reading past the
 * mapping). */
static void test_grown_segment(void)
{
    struct scratch s;
    char seg[400];
    scratch_make(&s);
    REQUIRE(make_log(s.log, 12000) == 0); /* more than one 1 MiB segment */
    uint64_t segs[8];
    REQUIRE(list_segments(s.log, segs, 8) >= 2);
    REQUIRE(truncate(first_seg(seg, sizeof seg, s.log), 4 << 20) == 0);
    CHECK_EQ_U64(model_count_records(s.log), 12000);
    durlog_reader *r;
    CHECK_OK(durlog_reader_open(s.log, NULL, &r));
    CHECK_OK(durlog_reader_seek(r, 11000));
    durlog_record rec;
    CHECK_OK(durlog_reader_next(r, &rec));
    CHECK_EQ_U64(rec.seq, 11000);
    durlog_reader_close(r);
}

/* The tail truncated to nothing under a writer whose pre-faulter is about
 * to grow it again: no append is acknowledged into the emptied file (the
 * pre-faulter used to give it its length back, and the next store went
 * into a file without a header). Many rounds: it is a race. */
static void test_truncated_tail_is_not_grown_back(void)
{
    for (int round = 0; round < 12; round++) {
        struct scratch s;
        char seg[400];
        durlog *log = writer_with_records(&s, 1000);
        REQUIRE(log);
        unsigned char buf[REC_LEN];
        REQUIRE(truncate(first_seg(seg, sizeof seg, s.log), 0) == 0);
        CHECK_RC(durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL), DURLOG_EFAILED);
        fx_close(log);
        scratch_remove(&s);
    }
}

/* Someone cutting the tail to nothing in the moment between a writer's
 * size check and its extension of the file (the seam cuts it inside the
 * extension, once armed): the extension gives the file its length back,
 * zeros where the header and the records were, and stores into it no
 * longer fault. The header check after every extension fails the log
 * first: once the cut is made, no append succeeds, whichever thread made
 * the extension (the pre-faulter or an appender). The race of
 * test_truncated_tail_is_not_grown_back, made certain: without the check,
 * appends went on succeeding into the headerless file. */
static _Atomic int cut_armed, cut_made;
static off_t cut_to; /* where the seam cuts the file */

static int fallocate_cutting_first(int fd, int mode, off_t off, off_t len)
{
    if (mode == 0 && off > 0 && atomic_exchange(&cut_armed, 0)) {
        if (ftruncate(fd, cut_to) == 0)
            atomic_store(&cut_made, 1);
    }
    return dl_os_real.fallocate(fd, mode, off, len);
}

/* Rounds of: a writer with 500 records (past 8192 bytes), the seam armed
 * to cut the tail to `to` inside the next extension, appends until one
 * fails: it must fail with DURLOG_EFAILED, and none may succeed once the
 * cut was made. */
static void appends_stop_at_a_cut_inside_an_extension(off_t to)
{
    for (int round = 0; round < 4; round++) {
        struct scratch s;
        atomic_store(&cut_armed, 0);
        atomic_store(&cut_made, 0);
        cut_to = to;
        dl_os.fallocate = fallocate_cutting_first; /* before the handle's threads */
        durlog *log = writer_with_records(&s, 500);
        REQUIRE(log);
        atomic_store(&cut_armed, 1);
        unsigned char buf[REC_LEN];
        int rc = 0;
        uint64_t i = 500;
        for (; i < 200000 && rc == 0; i++) {
            int after_cut = atomic_load(&cut_made);
            payload(buf, i);
            rc = durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL);
            if (rc == 0 && after_cut) {
                fprintf(stderr, "  append of record %llu succeeded after the cut to %lld\n",
                        (unsigned long long)i, (long long)to);
                CHECK(!"no append succeeds once the tail was cut");
                break;
            }
        }
        CHECK(atomic_load(&cut_made));
        CHECK_RC(rc, DURLOG_EFAILED);
        CHECK(strstr(durlog_errmsg(log), "lost its header") != NULL ||
              strstr(durlog_errmsg(log), "truncated") != NULL ||
              strstr(durlog_errmsg(log), "failed state") != NULL);
        fx_close(log);
        tu_restore_os();
        scratch_remove(&s);
    }
}

static void test_cut_between_size_check_and_extension(void)
{
    appends_stop_at_a_cut_inside_an_extension(0);
}

/* The cut of test_cut_between_size_check_and_extension made among the
 * records instead (the header survives): the extension gives the file its
 * length back, a hole where records were, and the appenders, held off by
 * the append lock meanwhile, no longer fault. A real truncate of a file
 * with many dirty pages takes milliseconds, the size unchanged until it is
 * done, so the race was not rare: 5 runs in 45 of a cutter among 2-4
 * appending threads (mmap mode) went on appending and never failed. No
 * append may succeed once the cut is made. */
static void test_cut_among_records_between_size_check_and_extension(void)
{
    appends_stop_at_a_cut_inside_an_extension(8192);
}

/* The other side of the hole check: a page of records that reads as zeros
 * (the end of a record of zeros) turned into a hole, as a sparse copy
 * (`cp --sparse=always`, `rsync -S`) or `fallocate --dig-holes` leaves it,
 * changes no byte, and is no cut: the extension that follows keeps the
 * log going, and every record reads back. */
static void test_zero_page_made_a_hole_is_not_a_cut(void)
{
    struct scratch s;
    char seg[400];
    durlog *log = writer_with_records(&s, 10);
    REQUIRE(log);
    static unsigned char zeros[3 * 4096], big[200000];
    CHECK_OK(durlog_append(log, zeros, sizeof zeros, DURLOG_KERNEL, NULL));
    /* The page the records end in holds nothing but the zeros' end. */
    uint64_t end = DL_SEG_HEADER_SIZE + 10 * dl_rec_size(REC_LEN) + dl_rec_size(sizeof zeros);
    int fd = open(first_seg(seg, sizeof seg, s.log), O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)dl_page_floor(end - 1), 4096) == 0);
    close(fd);
    /* Far more than is allocated ahead: the append extends the file first. */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + 1);
    CHECK_OK(durlog_append(log, big, sizeof big, DURLOG_KERNEL, NULL));
    CHECK_OK(durlog_append(log, big, sizeof big, DURLOG_KERNEL, NULL));
    fx_close(log);
    durlog_check_report rep;
    CHECK_OK(durlog_check(s.log, 0, &rep));
    CHECK_EQ_U64(rep.records, 13);
    scratch_remove(&s);
}

/* The same cut, in pwrite mode, in the moment between an append's checks
 * (tail_is_free's touch of the last byte written, or the statx of a
 * buffered flush) and its pwrite: a pwrite past a file's end extends it,
 * so the record lands in a file whose header and records are now zeros,
 * and, the file reaching that far again, the next append's touch no
 * longer faults either. No append may succeed once the cut is made. */
static _Atomic int pwrite_cut_armed, pwrite_cut_made;

static ssize_t pwrite_cutting_first(int fd, const void *buf, size_t len, off_t off)
{
    if (off > DL_SEG_HEADER_SIZE && atomic_exchange(&pwrite_cut_armed, 0)) {
        if (ftruncate(fd, 0) == 0)
            atomic_store(&pwrite_cut_made, 1);
    }
    return dl_os_real.pwrite(fd, buf, len, off);
}

static void test_cut_before_pwrite(void)
{
    for (int buffered = 0; buffered < 2; buffered++) {
        struct scratch s;
        atomic_store(&pwrite_cut_armed, 0);
        atomic_store(&pwrite_cut_made, 0);
        dl_os.pwrite = pwrite_cutting_first;
        durlog *log = fx_open(&s, &(durlog_options){ .segment_size = SEG,
                                                     .io_mode = DURLOG_IO_PWRITE });
        REQUIRE(log);
        append_range(log, 0, 100);
        CHECK_OK(durlog_flush(log, DURLOG_KERNEL));
        atomic_store(&pwrite_cut_armed, 1);
        unsigned char buf[REC_LEN];
        int rc = 0;
        for (uint64_t i = 100; i < 300 && rc == 0; i++) {
            payload(buf, i);
            rc = durlog_append(log, buf, REC_LEN, buffered ? DURLOG_BUFFERED : DURLOG_KERNEL,
                               NULL);
            if (rc == 0 && buffered)
                rc = durlog_flush(log, DURLOG_KERNEL);
            if (rc == 0 && atomic_load(&pwrite_cut_made)) {
                fprintf(stderr, "  append of record %llu (%s) succeeded after the cut\n",
                        (unsigned long long)i, buffered ? "buffered" : "kernel");
                CHECK(!"no append succeeds once the tail was cut");
                break;
            }
        }
        CHECK(atomic_load(&pwrite_cut_made));
        CHECK_RC(rc, DURLOG_EFAILED);
        fx_close(log);
        tu_restore_os();
        scratch_remove(&s);
    }
}

/* The only segment removed under a writer: the records it held were
 * published, and their numbers are never handed out again: after every
 * writer closed, appends continue after them, and the gap is reported. */
static void test_numbers_are_never_reused(void)
{
    struct scratch s;
    char seg[400];
    durlog *log = writer_with_records(&s, 100);
    REQUIRE(log);
    unsigned char buf[REC_LEN];
    REQUIRE(unlink(first_seg(seg, sizeof seg, s.log)) == 0);
    fx_close(log); /* fails: the segment was removed (test_hostile) */
    CHECK_OK(open_log(s.log, SEG, &log));
    uint64_t seq = 0;
    payload(buf, 100);
    CHECK_OK(durlog_append(log, buf, REC_LEN, DURLOG_SYNC, &seq));
    CHECK_EQ_U64(seq, 100);
    CHECK_OK(durlog_close(log));
}

/* A writer that keeps the append lock (stopped, hung, or a lock word an old
 * copy of durlog.shm brought back): the others give up after the patience
 * (dl_lock_patience_ns: 300 ms here) with -ETIMEDOUT and a message, never
 * hang; once the holder is gone, they append. */
static void test_append_lock_patience(void)
{
    struct scratch s;
    scratch_make(&s);
    REQUIRE(make_log(s.log, 10) == 0);
    int held[2];
    REQUIRE(pipe(held) == 0);
    pid_t holder = fork();
    REQUIRE(holder >= 0);
    if (holder == 0) {
        durlog *c;
        if (open_log(s.log, SEG, &c) || dl_lock_append(c))
            _exit(3);
        if (write(held[1], "x", 1) != 1)
            _exit(4);
        pause(); /* killed holding it */
        _exit(0);
    }
    char x;
    REQUIRE(read(held[0], &x, 1) == 1);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        atomic_store(&dl_lock_patience_ns, 300 * 1000000ull);
        durlog *log;
        unsigned char buf[REC_LEN];
        payload(buf, 10);
        if (open_log(s.log, SEG, &log))
            _exit(3);
        uint64_t t0 = tu_now_ms();
        int rc = durlog_append(log, buf, REC_LEN, DURLOG_KERNEL, NULL);
        uint64_t took = tu_now_ms() - t0;
        if (rc != -ETIMEDOUT || took < 250 || took > 5000 ||
            !strstr(durlog_errmsg(log), "append lock")) {
            fprintf(stderr, "  rc %d after %llu ms: %s\n", rc, (unsigned long long)took,
                    durlog_errmsg(log));
            _exit(5);
        }
        kill(holder, SIGKILL);
        uint64_t seq = 0;
        rc = durlog_append(log, buf, REC_LEN, DURLOG_SYNC, &seq);
        if (rc || seq != 10)
            fprintf(stderr, "  after the holder died: rc %d seq %llu: %s\n", rc,
                    (unsigned long long)seq, durlog_errmsg(log));
        _exit(rc == 0 && seq == 10 && durlog_close(log) == 0 ? 0 : 6);
    }
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    close(held[0]);
    close(held[1]);
    CHECK_EQ_U64(model_count_records(s.log), 11);
}

TEST_MAIN({
    RUN(test_foreign_sigbus_reaches_program);
    RUN(test_foreign_sigbus_default_kills);
    RUN(test_reader_segment_truncated);
    RUN(test_returned_record_survives_truncation);
    RUN(test_reader_eio);
    RUN(test_recovery_eio);
    RUN(test_writer_tail_truncated);
    RUN(test_shm_emptied);
    RUN(test_failed_rebuild_does_not_brick);
    RUN(test_shm_zeroed_in_place);
    RUN(test_grown_segment);
    RUN(test_truncated_tail_is_not_grown_back);
    RUN(test_cut_between_size_check_and_extension);
    RUN(test_cut_among_records_between_size_check_and_extension);
    RUN(test_cut_before_pwrite);
    RUN(test_zero_page_made_a_hole_is_not_a_cut);
    RUN(test_numbers_are_never_reused);
    RUN(test_append_lock_patience);
})
