/*
 * session.c - a shipping session's life: its options, the log's shipping
 * lock, status lines, errors, interrupting and closing (durlog_ship_* in
 * durlog_ship.h). publish.c and restore.c do the work.
 *
 * The lock: a file "ship.CURSOR" in the log directory (docs/FORMAT.md),
 * flock()ed for the session's life and holding a line that says who holds
 * it (pid, host, stream, subject, since when), so that a second shipper of
 * the log with the same cursor on this machine is refused at once, naming
 * the first. Shippers on other machines (copies of the log) are kept apart
 * by the stream itself (publish.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "ship.h"

uint32_t dls_crc32c(const void *data, size_t len)
{
    return dl_crc32c(0, data, len);
}

int dls_fail(durlog_ship *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

void dls_say(durlog_ship *s, enum dls_state state, const char *fmt, ...)
{
    if (state == s->state)
        return;
    s->state = state;
    if (!s->o.status)
        return;
    char line[DLS_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->o.status(s->o.status_ctx, line);
}

void dls_nap(durlog_ship *s, int ms)
{
    for (int slept = 0; slept < ms && !atomic_load(&s->stop); slept += 10) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

void durlog_ship_options_init(durlog_ship_options *o)
{
    if (o)
        memset(o, 0, sizeof *o);
}

/* Copies the option strings, so that the caller's may go. */
static int copy_options(durlog_ship *s, const durlog_ship_options *o)
{
    s->o = *o;
    const char **fields[] = { &s->o.servers, &s->o.stream, &s->o.subject, &s->o.cursor,
                              &s->o.creds_file, &s->o.user, &s->o.password, &s->o.token,
                              &s->o.ca_file, &s->o.cert_file, &s->o.key_file };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (*fields[i] && !(*fields[i] = strdup(*fields[i])))
            return -ENOMEM;
    return 0;
}

static void free_options(durlog_ship_options *o)
{
    const char *fields[] = { o->servers, o->stream, o->subject, o->cursor, o->creds_file,
                             o->user, o->password, o->token, o->ca_file, o->cert_file,
                             o->key_file };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        free((char *)fields[i]);
}

/* NATS names: a stream name has no spaces, '.', '*', '>' or path
 * separators; a subject to publish on is tokens separated by '.', without
 * wildcards or spaces. */
static int stream_name_ok(const char *n)
{
    return *n && strlen(n) <= 255 && !strpbrk(n, " \t\r\n.*>/\\");
}

static int subject_ok(const char *n)
{
    if (!*n || strlen(n) > 1024 || strpbrk(n, " \t\r\n*>") || n[0] == '.' ||
        n[strlen(n) - 1] == '.' || strstr(n, ".."))
        return 0;
    return 1;
}

static int check_options(durlog_ship *s, const durlog_ship_options *o)
{
    if (!o->servers || !*o->servers || !o->stream || !o->subject)
        return dls_fail(s, -EINVAL, "the servers, the stream and the subject are required");
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
        if (o->reserved[i])
            return dls_fail(s, -EINVAL, "reserved option fields must be zero");
    if (!stream_name_ok(o->stream))
        return dls_fail(s, -EINVAL, "bad stream name \"%.80s\" (no spaces, '.', '*', '>', "
                        "'/' or '\\')", o->stream);
    if (!subject_ok(o->subject))
        return dls_fail(s, -EINVAL, "bad subject \"%.80s\" (tokens separated by '.', no "
                        "wildcards or spaces)", o->subject);
    if (o->replicas < 0 || o->replicas > 5)
        return dls_fail(s, -EINVAL, "replicas must be 1 to 5, not %d", o->replicas);
    if (o->ack_timeout_ms < 0 || o->connect_timeout_ms < 0)
        return dls_fail(s, -EINVAL, "timeouts must not be negative");
    if (o->window > 1000000)
        return dls_fail(s, -EINVAL, "a window of %u messages is too big (at most 1000000)",
                        o->window);
    if ((o->cert_file != NULL) != (o->key_file != NULL))
        return dls_fail(s, -EINVAL, "a TLS client certificate needs its key, and a key its "
                        "certificate");
    if (o->from_seq >= (uint64_t)1 << 63)
        return dls_fail(s, -EINVAL, "from_seq %" PRIu64 " is out of range", o->from_seq);
    if (o->cursor) {
        snprintf(s->cursor_name, sizeof s->cursor_name, "%s", o->cursor);
        if (strlen(o->cursor) >= sizeof s->cursor_name)
            return dls_fail(s, -EINVAL, "cursor name \"%.80s\" is too long", o->cursor);
    } else if (snprintf(s->cursor_name, sizeof s->cursor_name, "ship-%s", o->stream) >=
               (int)sizeof s->cursor_name) {
        return dls_fail(s, -EINVAL, "stream name %.80s is too long for the default cursor "
                        "name: give one", o->stream);
    }
    return 0;
}

/* Takes the log's lock for this cursor (ship.CURSOR), writing who holds it.
 * -EBUSY naming the holder if another session has it. */
static int take_lock(durlog_ship *s)
{
    char path[4096], holder[512] = "", host[256] = "?";
    snprintf(path, sizeof path, "%s/ship.%s", s->log_path, s->cursor_name);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0)
        return dls_fail(s, -errno, "cannot open the shipping lock %s: %s", path,
                        strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dls_fail(s, -EINVAL, "%s is not a regular file", path);
    }
    /* `durlog info` looks with a shared lock for an instant: a few tries
     * before calling the lock held. */
    int locked = -1;
    for (int i = 0; i < 20 && (locked = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EWOULDBLOCK;
         i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (locked != 0) {
        int e = errno;
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        close(fd);
        if (n > 0) {
            holder[n] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
        }
        if (e == EWOULDBLOCK)
            return dls_fail(s, -EBUSY, "another session is shipping %s with cursor %s (%s): "
                            "one at a time", s->log_path, s->cursor_name,
                            n > 0 ? holder : "holder unknown");
        return dls_fail(s, -e, "cannot lock %s: %s", path, strerror(e));
    }
    gethostname(host, sizeof host - 1);
    char since[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    int n = snprintf(holder, sizeof holder, "pid %ld on %s, %s to stream %s subject %s, "
                     "since %s\n", (long)getpid(), host,
                     s->mode == DURLOG_SHIP_PUBLISH ? "shipping" : "restoring", s->o.stream,
                     s->o.subject, since);
    /* What it says is for people; the lock is the flock. */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, holder, (size_t)n, 0) != n) {
        /* not worth failing for */
    }
    s->lock_fd = fd;
    return 0;
}

int durlog_ship_open(const char *log_path, int mode, const durlog_ship_options *o,
                     durlog_ship **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    durlog_ship *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = 0;
    if (!log_path || !o)
        rc = dls_fail(s, -EINVAL, "durlog_ship_open: log_path and options are required");
    else if (mode != DURLOG_SHIP_PUBLISH && mode != DURLOG_SHIP_RESTORE)
        rc = dls_fail(s, -EINVAL, "durlog_ship_open: unknown mode %d", mode);
    else if ((rc = check_options(s, o)) == 0 && (rc = copy_options(s, o)) == 0 &&
             !(s->log_path = strdup(log_path)))
        rc = -ENOMEM;
    if (rc == -ENOMEM)
        dls_fail(s, rc, "out of memory");
    s->mode = mode;
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    snprintf(s->instance, sizeof s->instance, "%016" PRIx64, r);

    if (!rc && mode == DURLOG_SHIP_PUBLISH) {
        /* The log must exist; its identity is made on first use. */
        rc = durlog_log_id(log_path, 1, s->log_id);
        if (rc == DURLOG_EDIRSYNC)
            rc = 0; /* in place; the lock and cursor syncs below try again */
        if (rc)
            dls_fail(s, rc, "%s", durlog_last_errmsg());
        if (!rc)
            rc = take_lock(s);
        if (!rc && (rc = durlog_cursor_open(log_path, s->cursor_name, DURLOG_CURSOR_CREATE,
                                            &s->cursor)) != 0)
            dls_fail(s, rc, "%s", durlog_last_errmsg());
    } else if (!rc) {
        durlog_options lo;
        durlog_options_init(&lo);
        lo.errbuf = s->errmsg;
        lo.errbuf_size = sizeof s->errmsg;
        /* Batches of records written with one pwrite each: stores through
         * the mapping cost a page trap per new page, a third of a restore's
         * time on a virtual machine (perf). A restore is the log's only
         * writer (its records follow on from the stream's, nobody else's). */
        lo.io_mode = DURLOG_IO_PWRITE;
        rc = durlog_open(log_path, &lo, &s->log);
        if (!rc)
            rc = take_lock(s);
    }
    if (!rc && !(s->sink = dls_jetstream_new(&s->o, dls_on_ack, s)))
        rc = dls_fail(s, -ENOMEM, "out of memory");
    if (rc) {
        if (o && o->errbuf && o->errbuf_size)
            snprintf(o->errbuf, o->errbuf_size, "%s", s->errmsg);
        durlog_ship_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int durlog_ship_run(durlog_ship *s)
{
    if (!s)
        return -EINVAL;
    return s->mode == DURLOG_SHIP_PUBLISH ? dls_publish(s) : dls_restore(s);
}

int durlog_ship_interrupt(durlog_ship *s)
{
    if (!s)
        return -EINVAL;
    atomic_store(&s->stop, 1);
    durlog_reader *r = atomic_load(&s->reader);
    if (r)
        durlog_reader_interrupt(r);
    return 0;
}

void durlog_ship_get_stats(durlog_ship *s, durlog_ship_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

const char *durlog_ship_errmsg(const durlog_ship *s)
{
    if (!s)
        return "no session (NULL handle)";
    return s->errmsg[0] ? s->errmsg : "no error";
}

void durlog_ship_close(durlog_ship *s)
{
    if (!s)
        return;
    if (s->sink)
        s->sink->ops->close(s->sink);
    durlog_cursor_close(s->cursor);
    if (s->log)
        durlog_close(s->log);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* the file stays: removing it would race a new holder */
    free_options(&s->o);
    free(s->log_path);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
