/*
 * error.c - error codes, messages and level names.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

const char *durlog_strerror(int err)
{
    switch (err) {
    case DURLOG_OK: return "success";
    case DURLOG_ECORRUPT: return "log is damaged (checksum or framing error)";
    case DURLOG_ETOOBIG: return "record larger than DURLOG_MAX_RECORD (64 MiB)";
    case DURLOG_EFORMAT: return "not a durlog log, or an unsupported format version";
    case DURLOG_EFAILED: return "log is in the failed state (a sync failed, or a file of "
                                "the log was replaced under it); close and reopen it";
    case DURLOG_EINVAL: return "invalid argument";
    case DURLOG_EEND: return "no more records (at the current end of the log)";
    case DURLOG_EBUSY: return "the log is in use (a writer has it open, or a repair runs)";
    case DURLOG_ETIMEDOUT: return "timed out";
    case DURLOG_ENOTFOUND: return "sequence number not in the log";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err); /* glibc's table is static and thread-safe */
    return "unknown error";
}

static const char *const level_names[] = { "buffered", "kernel", "interval", "sync" };

const char *durlog_level_name(durlog_level level)
{
    if ((unsigned)level > DURLOG_SYNC)
        return NULL;
    return level_names[level];
}

int durlog_level_parse(const char *name, durlog_level *out)
{
    if (!name || !out)
        return DURLOG_EINVAL;
    for (int i = 0; i <= DURLOG_SYNC; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (durlog_level)i;
            return 0;
        }
    }
    return DURLOG_EINVAL;
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

const char *durlog_errmsg(const durlog *log)
{
    return log->errmsg[0] ? log->errmsg : "no error";
}
