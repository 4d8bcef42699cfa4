/*
 * bench_readers.c - how fast a reader in another process sees an append.
 *
 * A writer process appends 100-byte DURLOG_KERNEL records, one every
 * --gap-us microseconds, each carrying the CLOCK_MONOTONIC time just before
 * its append; a reader process waits for each (durlog_reader_wait, then
 * durlog_reader_next) and records now - that time. Rows, in one run:
 *   - the floor: a bare FUTEX_WAKE/FUTEX_WAIT ping between two processes on
 *     a shared counter, the same pacing;
 *   - for comparison, an inotify floor: one process blocks in read() on an
 *     inotify descriptor watching a file for IN_MODIFY, the other write()s
 *     one byte to that file, the same pacing;
 *   - a sleeping durlog reader;
 *   - a spinning durlog reader (spin_us: the whole gap).
 * Targets (issue #5): sleeping p50 <= 1.5 x the futex floor's p50 and p99
 * <= 150 us; spinning p50 <= 2 us and p99 <= 20 us.
 *
 * Usage: bench_readers [--dir DIR] [--records N] [--gap-us G]
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "durlog.h"

static const char *dir = ".";
static int records = 3000;
static int gap_us = 200;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_readers: %s: %s\n", what, durlog_strerror(rc));
    exit(1);
}

/* Shared between the two processes of a row. */
struct shared {
    _Atomic uint32_t word;     /* futex floor: bumped per ping */
    _Atomic uint64_t sent_ns;  /* futex floor: when */
    _Atomic int ready;         /* the reader is in place */
    uint64_t lat[];            /* the reader's measurements */
};

static struct shared *sh;

static void summarise(const char *row, uint64_t *lat, int n, double *p50, double *p99)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
    *p50 = (double)lat[n / 2] / 1e3;
    *p99 = (double)lat[(size_t)((double)(n - 1) * 0.99)] / 1e3;
    printf("| %s | %.1f | %.1f | %.1f |\n", row, *p50, *p99, (double)lat[n - 1] / 1e3);
}

static void futex_floor(double *p50, double *p99)
{
    atomic_store(&sh->word, 0);
    atomic_store(&sh->ready, 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t seen = 0;
        atomic_store(&sh->ready, 1);
        for (int i = 0; i < records; i++) {
            while (atomic_load(&sh->word) == seen)
                syscall(SYS_futex, &sh->word, FUTEX_WAIT, seen, NULL, NULL, 0);
            sh->lat[i] = now_ns() - atomic_load(&sh->sent_ns);
            seen++;
        }
        _exit(0);
    }
    while (!atomic_load(&sh->ready))
        pause_us(100);
    pause_us(1000);
    for (int i = 0; i < records; i++) {
        atomic_store(&sh->sent_ns, now_ns());
        atomic_fetch_add(&sh->word, 1);
        syscall(SYS_futex, &sh->word, FUTEX_WAKE, 1, NULL, NULL, 0);
        pause_us(gap_us);
    }
    waitpid(pid, NULL, 0);
    summarise("bare futex ping between processes (floor)", sh->lat, records, p50, p99);
}

/* The inotify floor: the time from just before a 1-byte write() to the file
 * until a process watching it (IN_MODIFY) returns from read(). Events still
 * unread when the next write comes merge into one, so a watcher that falls
 * behind wakes fewer times than there are writes; each wake is timed from the
 * latest write before it, found from the file's size (one byte per write). */
static int inotify_floor(const char *file, double *p50, double *p99)
{
    uint64_t *sent = shared_alloc((size_t)records * sizeof *sent);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!sent || fd < 0)
        die("inotify floor", -errno);
    atomic_store(&sh->ready, 0);
    pid_t pid = fork();
    if (pid == 0) {
        int in = inotify_init1(IN_CLOEXEC);
        if (in < 0 || inotify_add_watch(in, file, IN_MODIFY) < 0)
            die("inotify", -errno);
        atomic_store(&sh->ready, 1);
        char ev[4096];
        int n = 0;
        for (off_t size = 0; size < records;) {
            if (read(in, ev, sizeof ev) <= 0)
                die("read (inotify)", -errno);
            uint64_t t = now_ns();
            struct stat st;
            if (fstat(fd, &st) < 0)
                die("fstat", -errno);
            size = st.st_size;
            off_t i = size - 1;   /* the write that woke us, or a later one */
            if (i > 0 && sent[i] > t)
                i--;
            sh->lat[n++] = t - sent[i];
        }
        sh->lat[records] = (uint64_t)n;
        _exit(0);
    }
    while (!atomic_load(&sh->ready))
        pause_us(100);
    pause_us(1000);
    for (int i = 0; i < records; i++) {
        sent[i] = now_ns();
        if (write(fd, "i", 1) != 1)
            die("write (inotify floor)", -errno);
        pause_us(gap_us);
    }
    waitpid(pid, NULL, 0);
    close(fd);
    unlink(file);
    munmap(sent, (size_t)records * sizeof *sent);
    int n = (int)sh->lat[records];
    summarise("bare inotify IN_MODIFY wake between processes", sh->lat, n, p50, p99);
    return n;
}

static void durlog_row(const char *row, const char *path, unsigned spin_us,
                       double *p50, double *p99)
{
    durlog *log;
    int rc = durlog_open(path, NULL, &log);
    if (rc)
        die("durlog_open", rc);
    atomic_store(&sh->ready, 0);
    pid_t pid = fork();
    if (pid == 0) {
        durlog_reader_options ro;
        durlog_reader_options_init(&ro);
        ro.spin_us = spin_us;
        durlog_reader *r;
        if ((rc = durlog_reader_open(path, &ro, &r)))
            die("durlog_reader_open", rc);
        durlog_info info;
        durlog_reader_info(r, &info);
        if ((rc = durlog_reader_seek(r, info.next_seq)))
            die("seek", rc);
        atomic_store(&sh->ready, 1);
        for (int i = 0; i < records;) {
            durlog_record rec;
            rc = durlog_reader_next(r, &rec);
            if (rc == DURLOG_EEND) {
                durlog_reader_wait(r, -1);
                continue;
            }
            if (rc)
                die("durlog_reader_next", rc);
            uint64_t sent;
            memcpy(&sent, rec.data, sizeof sent);
            sh->lat[i++] = now_ns() - sent;
        }
        durlog_reader_close(r);
        _exit(0);
    }
    while (!atomic_load(&sh->ready))
        pause_us(100);
    pause_us(1000);
    unsigned char buf[100];
    memset(buf, 'r', sizeof buf);
    for (int i = 0; i < records; i++) {
        uint64_t t = now_ns();
        memcpy(buf, &t, sizeof t);
        if ((rc = durlog_append(log, buf, sizeof buf, DURLOG_KERNEL, NULL)))
            die("durlog_append", rc);
        pause_us(gap_us);
    }
    waitpid(pid, NULL, 0);
    durlog_close(log);
    summarise(row, sh->lat, records, p50, p99);
}

int main(int argc, char **argv)
{
    static const struct opt opts[] = {
        { "--dir", 's', &dir, NULL },
        { "--records", 'i', &records, NULL },
        { "--gap-us", 'i', &gap_us, NULL },
        { NULL, 0, NULL, NULL },
    };
    if (parse_opts(argc, argv, opts, "usage: bench_readers [--dir DIR] [--records N] [--gap-us G]"))
        return 2;
    if (records < 100 || gap_us < 10 || gap_us > 100000) {
        fprintf(stderr, "bench_readers: --records >= 100, --gap-us 10..100000\n");
        return 2;
    }
    sh = shared_alloc(sizeof *sh + ((size_t)records + 1) * sizeof(uint64_t));
    if (!sh)
        die("mmap", -errno);
    char scratch[4096], path[4200], watched[4200], cmd[4300];
    snprintf(scratch, sizeof scratch, "%s/bench-tmp-XXXXXX", dir);
    if (!mkdtemp(scratch))
        die("mkdtemp", -errno);
    snprintf(path, sizeof path, "%s/log", scratch);
    snprintf(watched, sizeof watched, "%s/watched", scratch);

    printf("Append-to-reader latency across processes, %d records, one every "
           "%d us (microseconds)\n\n", records, gap_us);
    printf("| row | p50 us | p99 us | max us |\n|---|---|---|---|\n");
    double f50, f99, i50, i99, s50, s99, p50, p99;
    futex_floor(&f50, &f99);
    int woken = inotify_floor(watched, &i50, &i99);
    durlog_row("durlog reader, sleeping", path, 0, &s50, &s99);
    durlog_row("durlog reader, spinning", path, (unsigned)gap_us * 10, &p50, &p99);
    printf("\nsleeping: p50 %.2fx the floor (target <= 1.5), p99 %.1f us "
           "(target <= 150): %s\n", s50 / f50, s99,
           s50 <= 1.5 * f50 && s99 <= 150 ? "target met" : "MISSED");
    printf("spinning: p50 %.1f us (target <= 2), p99 %.1f us (target <= 20): %s\n",
           p50, p99, p50 <= 2 && p99 <= 20 ? "target met" : "MISSED");
    printf("inotify: p50 %.2fx the futex floor's, p99 %.2fx (%d wakes for %d writes)\n",
           i50 / f50, i99 / f99, woken, records);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}
