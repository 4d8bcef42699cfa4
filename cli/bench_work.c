/*
 * bench_work.c - the workloads of `durlog bench`: each function measures one
 * row, once, and fills in records, bytes and seconds (cmd_bench.c repeats
 * them and takes medians). A fast row writes its N records again (a pass)
 * until it has run for min_s, so that a hiccup of a few milliseconds on a
 * shared machine cannot move its rate by much.
 *
 * The article rows write lines of `size` bytes (the last one a newline) to a
 * plain file, the way the origin article's Python does; the durlog rows
 * append the same lines as records to a fresh log, then read the log back
 * and count its records, so that a row that lost records cannot look fast.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* Line i: "line 00000042 xxxx...\n", exactly size bytes. */
static void make_line(char *buf, size_t size, uint64_t i)
{
    char head[32];
    int n = snprintf(head, sizeof head, "line %08llu ", (unsigned long long)i);
    memset(buf, 'x', size);
    memcpy(buf, head, (size_t)n < size ? (size_t)n : size);
    buf[size - 1] = '\n';
}

static int fail(struct bench_ctx *c, const char *fmt, const char *what, int err)
{
    snprintf(c->err, sizeof c->err, fmt, what, strerror(err));
    return -1;
}

static int no_memory(struct bench_ctx *c)
{
    snprintf(c->err, sizeof c->err, "out of memory");
    return -1;
}

/* Ctrl-C or SIGTERM: cmd_bench.c's handler sets the flag; loops look. */
static int stopped(const struct bench_ctx *c)
{
    return c->stop && *c->stop;
}

/* Every round of an article row starts from no file: truncating an existing
 * one would make ext4 start writeback at close (auto_da_alloc), inside the
 * time of some rounds and not others. */
static int open_lines(struct bench_ctx *c)
{
    unlink(c->file);
    int fd = open(c->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(c, "cannot create %s: %s", c->file, errno);
    return fd;
}

static FILE *fopen_lines(struct bench_ctx *c, char **line)
{
    unlink(c->file);
    FILE *f = fopen(c->file, "w");
    if (!f) {
        fail(c, "cannot create %s: %s", c->file, errno);
        return NULL;
    }
    if (!(*line = malloc(c->size))) {
        fclose(f);
        no_memory(c);
        return NULL;
    }
    return f;
}

/* ---- the article's rows ---- */

/* fwrite per line, passes of N until min_s, and one fflush at the end (in
 * the time: it is what hands the last lines to the kernel). */
int bench_stdio(struct bench_ctx *c, struct bench_result *r)
{
    char *line;
    FILE *f = fopen_lines(c, &line);
    if (!f)
        return -1;
    uint64_t passes = 0;
    double t0 = bench_now_s();
    do {
        for (uint64_t i = 0; i < c->records; i++) {
            make_line(line, c->size, i);
            fwrite(line, 1, c->size, f);
        }
        passes++;
    } while (bench_now_s() - t0 < c->min_s && !stopped(c));
    int bad = fflush(f) != 0;
    r->seconds = bench_now_s() - t0;
    bad |= fclose(f) != 0;
    free(line);
    if (bad)
        return fail(c, "writing %s: %s", c->file, errno);
    r->records = c->records * passes;
    return 0;
}

/* write() of `join` lines at a time (1: a write per line), passes of N
 * until min_s. */
static int write_lines(struct bench_ctx *c, size_t join, struct bench_result *r)
{
    if (join > c->records)
        join = (size_t)c->records;
    char *buf = malloc(c->size * join);
    if (!buf)
        return no_memory(c);
    int fd = open_lines(c);
    if (fd < 0) {
        free(buf);
        return -1;
    }
    int rc = 0;
    uint64_t passes = 0;
    double t0 = bench_now_s();
    do {
        for (uint64_t i = 0; i < c->records && rc == 0;) {
            size_t n = 0;
            for (; n < join && i < c->records; n++, i++)
                make_line(buf + n * c->size, c->size, i);
            rc = bench_write_all(fd, buf, n * c->size);
        }
        passes++;
    } while (rc == 0 && bench_now_s() - t0 < c->min_s && !stopped(c));
    r->seconds = bench_now_s() - t0;
    close(fd);
    free(buf);
    if (rc)
        return fail(c, "writing %s: %s", c->file, -rc);
    r->records = c->records * passes;
    return 0;
}

int bench_write_each(struct bench_ctx *c, struct bench_result *r)
{
    return write_lines(c, 1, r);
}

int bench_write_joined(struct bench_ctx *c, struct bench_result *r)
{
    return write_lines(c, 500, r);
}

/* fwrite + fflush + fdatasync per line, until N records or the time budget,
 * whichever comes first (r->by_time says which). */
int bench_fsync_each(struct bench_ctx *c, struct bench_result *r)
{
    char *line;
    FILE *f = fopen_lines(c, &line);
    if (!f)
        return -1;
    uint64_t i = 0;
    int err = 0;
    double t0 = bench_now_s(), end = t0 + c->budget_s;
    for (; i < c->records && !stopped(c); i++) {
        if (bench_now_s() >= end) {
            r->by_time = 1;
            break;
        }
        make_line(line, c->size, i);
        if (fwrite(line, 1, c->size, f) != c->size || fflush(f) != 0 ||
            fdatasync(fileno(f)) != 0) {
            err = errno;
            break;
        }
    }
    r->seconds = bench_now_s() - t0;
    fclose(f);
    free(line);
    if (err)
        return fail(c, "writing %s: %s", c->file, err);
    r->records = i;
    return 0;
}

/* ---- durlog's rows ---- */

/* Counts the records of the log at c->log. */
static int64_t count_records(struct bench_ctx *c)
{
    durlog_reader *r;
    durlog_record rec;
    int64_t n = 0;
    int rc = durlog_reader_open(c->log, NULL, &r);
    if (rc) {
        snprintf(c->err, sizeof c->err, "reading back %s: %s", c->log, durlog_strerror(rc));
        return -1;
    }
    while ((rc = durlog_reader_next(r, &rec)) == 0)
        n++;
    durlog_reader_close(r);
    if (rc != DURLOG_EEND) {
        snprintf(c->err, sizeof c->err, "reading back %s: %s", c->log, durlog_strerror(rc));
        return -1;
    }
    return n;
}

static int open_log(struct bench_ctx *c, durlog **log)
{
    bench_remove_tree(c->log);
    durlog_options o;
    durlog_options_init(&o);
    int rc = durlog_open(c->log, &o, log);
    if (rc) {
        snprintf(c->err, sizeof c->err, "cannot open a log at %s: %s", c->log,
                 durlog_strerror(rc));
        return -1;
    }
    if (!c->engine[0])
        snprintf(c->engine, sizeof c->engine, "%s", durlog_engine(*log));
    if (!c->io[0])
        snprintf(c->io, sizeof c->io, "%s", durlog_io(*log));
    return 0;
}

/* Closes the log, counts what it holds, removes it. */
static int finish_log(struct bench_ctx *c, durlog *log, struct bench_result *r)
{
    int rc = durlog_close(log);
    if (rc) {
        snprintf(c->err, sizeof c->err, "closing %s: %s", c->log, durlog_strerror(rc));
        return -1;
    }
    r->verified = count_records(c);
    bench_remove_tree(c->log);
    if (r->verified < 0)
        return -1;
    if ((uint64_t)r->verified != r->records) {
        snprintf(c->err, sizeof c->err, "the log holds %lld records where %llu were "
                 "appended", (long long)r->verified, (unsigned long long)r->records);
        return -1;
    }
    return 0;
}

/* An append failed: the message (durlog_errmsg names the file), the log
 * closed and removed. */
static int log_failed(struct bench_ctx *c, durlog *log, int rc)
{
    const char *msg = durlog_errmsg(log);
    snprintf(c->err, sizeof c->err, "append: %s", strcmp(msg, "no error") ? msg
                                                                         : durlog_strerror(rc));
    durlog_close(log);
    bench_remove_tree(c->log);
    return -1;
}

/* N appends at `level` (buffered ones flushed at the end, in the time),
 * passes of N until min_s: the lines of the article's rows, as records. */
int bench_durlog_level(struct bench_ctx *c, durlog_level level, struct bench_result *r)
{
    struct bench_append_run run = { .level = level, .size = c->size, .records = c->records,
                                    .min_seconds = c->min_s, .fill = make_line,
                                    .stop = c->stop };
    struct bench_timing t;
    durlog *log;
    if (open_log(c, &log))
        return -1;
    int rc = bench_append_loop(log, &run, &t);
    if (rc)
        return log_failed(c, log, rc);
    r->records = t.records;
    r->seconds = t.seconds;
    return finish_log(c, log, r);
}

/* The sync rows' threads wait at this gate until every one of them exists,
 * so that starting 64 threads is not timed. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int abort;              /* not all threads could start: leave */
};

struct sync_thread {
    durlog *log;
    struct bench_ctx *c;
    struct gate *gate;
    uint64_t done;
    int rc;
};

static void *sync_main(void *arg)
{
    struct sync_thread *t = arg;
    pthread_mutex_lock(&t->gate->mu);
    while (!t->gate->open)
        pthread_cond_wait(&t->gate->cv, &t->gate->mu);
    int abort = t->gate->abort;
    pthread_mutex_unlock(&t->gate->mu);
    char *line = abort ? NULL : malloc(t->c->size);
    if (!line) {
        t->rc = abort ? 0 : -ENOMEM;
        return NULL;
    }
    double end = bench_now_s() + t->c->budget_s;
    while (bench_now_s() < end && !stopped(t->c)) {
        make_line(line, t->c->size, t->done);
        t->rc = durlog_append(t->log, line, t->c->size, DURLOG_SYNC, NULL);
        if (t->rc)
            break;
        t->done++;
    }
    free(line);
    return NULL;
}

/* `threads` threads share one handle and append at `sync` for the time
 * budget: group commit. */
int bench_durlog_sync(struct bench_ctx *c, int threads, struct bench_result *r)
{
    durlog *log;
    if (open_log(c, &log))
        return -1;
    struct sync_thread *t = calloc((size_t)threads, sizeof *t);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!t || !tid) {
        free(t);
        free(tid);
        durlog_close(log);
        bench_remove_tree(c->log);
        return no_memory(c);
    }
    struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
    int started = 0, rc = 0;
    for (int i = 0; i < threads; i++) {
        t[i] = (struct sync_thread){ log, c, &gate, 0, 0 };
        if (pthread_create(&tid[i], NULL, sync_main, &t[i]) != 0)
            break;
        started++;
    }
    pthread_mutex_lock(&gate.mu);
    gate.open = 1;
    gate.abort = started < threads;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    double t0 = bench_now_s();
    r->records = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        r->records += t[i].done;
        if (t[i].rc && !rc)
            rc = t[i].rc;
    }
    r->seconds = bench_now_s() - t0;
    r->by_time = 1;
    free(t);
    free(tid);
    if (started < threads) {
        snprintf(c->err, sizeof c->err, "cannot start %d threads", threads);
        durlog_close(log);
        bench_remove_tree(c->log);
        return -1;
    }
    if (rc)
        return log_failed(c, log, rc);
    return finish_log(c, log, r);
}

/* ---- one write() of more than the kernel moves per call ---- */

/* A buffer of `bytes` whose pages are shared zeros until written: cheap. */
static char *big_buffer(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int bench_one_big_write(struct bench_ctx *c, size_t bytes, struct bench_result *r)
{
    char *buf = big_buffer(bytes);
    if (!buf)
        return fail(c, "cannot map a buffer for %s: %s", "the one-write row", errno);
    int fd = open_lines(c);
    if (fd < 0) {
        munmap(buf, bytes);
        return -1;
    }
    double t0 = bench_now_s();
    ssize_t first = write(fd, buf, bytes);
    int err = first < 0 ? errno : 0;
    long calls = 1;
    size_t done = first > 0 ? (size_t)first : 0;
    /* What a correct program must do next: loop for the rest. */
    while (!err && done < bytes) {
        ssize_t n = write(fd, buf + done, bytes - done);
        calls++;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    r->seconds = bench_now_s() - t0;
    close(fd);
    unlink(c->file);
    munmap(buf, bytes);
    if (err)
        return fail(c, "writing %s: %s", c->file, err);
    r->bytes = bytes;
    r->records = bytes / c->size;
    r->calls = calls;
    r->first_call = first > 0 ? (uint64_t)first : 0;
    return 0;
}

int bench_put_big(struct bench_ctx *c, size_t bytes, struct bench_result *r)
{
    char *buf = big_buffer(bytes);
    if (!buf)
        return fail(c, "cannot map a buffer for %s: %s", "the put row", errno);
    durlog_put_options o;
    durlog_put_options_init(&o);
    o.flags = DURLOG_PUT_NO_SYNC; /* as the plain write() row: page cache only */
    o.errbuf = c->err;
    o.errbuf_size = sizeof c->err;
    double t0 = bench_now_s();
    int rc = durlog_put_buffer(c->file, buf, bytes, &o);
    r->seconds = bench_now_s() - t0;
    struct stat st;
    int size_ok = rc == 0 && stat(c->file, &st) == 0 && (size_t)st.st_size == bytes;
    unlink(c->file);
    munmap(buf, bytes);
    if (rc)
        return -1;
    if (!size_ok) {
        snprintf(c->err, sizeof c->err, "durlog_put_buffer wrote a file of the wrong size");
        return -1;
    }
    r->bytes = bytes;
    r->records = bytes / c->size;
    return 0;
}
