/*
 * error.h - the library's error conventions that every part shares, the log
 * (log.h) and whole-file writes (put.h) alike; error.c holds them.
 *
 * A call with no handle to keep its message in (durlog_open,
 * durlog_reader_open, durlog_check, the put calls) records it for
 * durlog_last_errmsg(); an options struct whose reserved space is not zero
 * is refused (-EINVAL), so that fields added later read as their default.
 */
#ifndef DL_ERROR_H
#define DL_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a handle's message, and of durlog_last_errmsg(). */
#define DL_ERRMSG_SIZE 512

/* Records msg as durlog_last_errmsg() of this thread. */
void dl_set_last_errmsg(const char *msg);
/* 1 if any of the n words (a public struct's reserved space) is not zero. */
int dl_reserved_nonzero(const uint64_t *words, size_t n);
/* snprintf into buf, when there is one (buf NULL or size 0: nothing). */
void dl_set_err(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A put's failure (put.c, put_path.c): writes "<what>: <text of rc>" into
 * errbuf (when there is one) and into durlog_last_errmsg(), and returns rc.
 * Every message of a put has that form. */
int dl_put_message(char *errbuf, size_t errbuf_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int dl_put_vmessage(char *errbuf, size_t errbuf_size, int rc, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));

#endif
