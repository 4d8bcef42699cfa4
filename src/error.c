/*
 * error.c - error codes, messages and level names; the conventions of
 * error.h (durlog_last_errmsg, reserved space, a put's messages) and
 * dl_fail's of log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* errno values are below this (Linux's stop at 133); durlog's own codes
 * start at -1001. */
#define DL_ERRNO_LIMIT 1000

const char *durlog_strerror(int err)
{
    switch (err) {
    case DURLOG_OK: return "success";
    case DURLOG_ECORRUPT: return "log is damaged (checksum or framing error)";
    case DURLOG_EFORMAT: return "not a durlog log, or an unsupported format version";
    case DURLOG_EFAILED: return "log is in the failed state (a sync failed, or a file of "
                                "the log was replaced under it); close and reopen it";
    case DURLOG_EEND: return "no more records (at the current end of the log)";
    case DURLOG_ENOTFOUND: return "sequence number not in the log";
    case DURLOG_EDIRSYNC: return "the new content is in place, but the fsync of its directory "
                                 "failed: the new name might not survive a power loss";
    case DURLOG_ENOTDURABLE: return "appended, but not known to have reached the level asked "
                                    "(do not append it again; wait or flush to retry)";
    case DURLOG_ETRIMMED: return "record removed by retention or a trim (below the log's "
                                 "first record)";
    default:
        break;
    }
    if (err < 0 && err > -DL_ERRNO_LIMIT)
        return strerror(-err); /* glibc's table is static and thread-safe */
    return "unknown error";
}

/* Indexed by durlog_level. */
static const char *const level_names[] = { "default", "buffered", "kernel", "interval", "sync" };

const char *durlog_level_name(durlog_level level)
{
    if ((unsigned)level > DURLOG_SYNC)
        return NULL;
    return level_names[level];
}

int durlog_level_parse(const char *name, durlog_level *out)
{
    if (!name || !out)
        return -EINVAL;
    for (int i = DURLOG_BUFFERED; i <= DURLOG_SYNC; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (durlog_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int dl_reserved_nonzero(const uint64_t *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (words[i])
            return 1;
    return 0;
}

void dl_set_err(char *buf, size_t size, const char *fmt, ...)
{
    if (!buf || !size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* Set in the library's own background threads: their failures must not
 * change durlog_errmsg() under the caller's feet (it describes the caller's
 * last failed call), so they write here instead. */
static _Thread_local char *background_errbuf;

void dl_set_thread_errbuf(char *buf)
{
    background_errbuf = buf;
}

int dl_fail(durlog *log, int rc, const char *fmt, ...)
{
    char *dst = background_errbuf ? background_errbuf : log->errmsg;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, DL_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
    return rc;
}

/* The message of this thread's last failed call that has no handle to keep
 * one in (durlog_open, durlog_reader_open, durlog_check, the put calls). */
static _Thread_local char last_errmsg[DL_ERRMSG_SIZE];

void dl_set_last_errmsg(const char *msg)
{
    snprintf(last_errmsg, sizeof last_errmsg, "%s", msg ? msg : "");
}

/* "<what>: <text of rc>" into buf. */
static void format_message(char *buf, size_t size, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void format_message(char *buf, size_t size, int rc, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, size, fmt, ap);
    if (n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ": %s", durlog_strerror(rc));
}

/* To the caller's errbuf when there is one (it may be longer than
 * durlog_last_errmsg's buffer), and to durlog_last_errmsg() always: a put
 * has no handle to keep its message in. */
int dl_put_vmessage(char *errbuf, size_t errbuf_size, int rc, const char *fmt, va_list ap)
{
    char last[DL_ERRMSG_SIZE];
    va_list again;
    va_copy(again, ap);
    format_message(last, sizeof last, rc, fmt, ap);
    dl_set_last_errmsg(last);
    if (errbuf && errbuf_size)
        format_message(errbuf, errbuf_size, rc, fmt, again);
    va_end(again);
    return rc;
}

int dl_put_message(char *errbuf, size_t errbuf_size, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dl_put_vmessage(errbuf, errbuf_size, rc, fmt, ap);
    va_end(ap);
    return rc;
}

const char *durlog_last_errmsg(void)
{
    return last_errmsg[0] ? last_errmsg : "no error";
}

const char *durlog_errmsg(const durlog *log)
{
    if (!log)
        return "invalid argument: NULL handle";
    return log->errmsg[0] ? log->errmsg : "no error";
}
