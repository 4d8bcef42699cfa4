/*
 * bench_readers.c - how fast a reader in another process sees an append.
 *
 * A writer process appends 100-byte DURLOG_KERNEL records, one every
 * --gap-us microseconds, each carrying the CLOCK_MONOTONIC time just before
 * its append; a reader process waits for each (durlog_reader_wait, then
 * durlog_reader_next) and records now - that time. Rows, in one run:
 *   - the floor: a bare FUTEX_WAKE/FUTEX_WAIT ping between two processes on
 *     a shared counter, the same pacing;
 *   - a sleeping durlog reader;
 *   - a spinning durlog reader (spin_us: the whole gap).
 * Targets (issue #5): sleeping p50 <= 1.5 x the futex floor's p50 and p99
 * <= 150 us; spinning p50 <= 2 us and p99 <= 20 us.
 *
 * Usage: bench_readers [--dir DIR] [--records N] [--gap-us G]
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "durlog.h"

static const char *dir = ".";
static int records = 3000;
static int gap_us = 200;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pause_us(int us)
{
    struct timespec ts = { 0, (long)us * 1000 };
    nanosleep(&ts, NULL);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_readers: %s: %s\n", what, durlog_strerror(rc));
    exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
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
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--records") && i + 1 < argc)
            records = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gap-us") && i + 1 < argc)
            gap_us = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_readers [--dir DIR] [--records N] [--gap-us G]\n");
            return 2;
        }
    }
    if (records < 100 || gap_us < 10 || gap_us > 100000) {
        fprintf(stderr, "bench_readers: --records >= 100, --gap-us 10..100000\n");
        return 2;
    }
    sh = mmap(NULL, sizeof *sh + (size_t)records * sizeof(uint64_t),
              PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap", -errno);
    char scratch[4096], path[4200], cmd[4300];
    snprintf(scratch, sizeof scratch, "%s/bench-tmp-XXXXXX", dir);
    if (!mkdtemp(scratch))
        die("mkdtemp", -errno);
    snprintf(path, sizeof path, "%s/log", scratch);

    printf("Append-to-reader latency across processes, %d records, one every "
           "%d us (microseconds)\n\n", records, gap_us);
    printf("| row | p50 us | p99 us | max us |\n|---|---|---|---|\n");
    double f50, f99, s50, s99, p50, p99;
    futex_floor(&f50, &f99);
    durlog_row("durlog reader, sleeping", path, 0, &s50, &s99);
    durlog_row("durlog reader, spinning", path, (unsigned)gap_us * 10, &p50, &p99);
    printf("\nsleeping: p50 %.2fx the floor (target <= 1.5), p99 %.1f us "
           "(target <= 150): %s\n", s50 / f50, s99,
           s50 <= 1.5 * f50 && s99 <= 150 ? "target met" : "MISSED");
    printf("spinning: p50 %.1f us (target <= 2), p99 %.1f us (target <= 20): %s\n",
           p50, p99, p50 <= 2 && p99 <= 20 ? "target met" : "MISSED");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}
