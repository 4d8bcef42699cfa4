/*
 * tests/lib/fixture.h - writers that cannot outlive their case.
 *
 * A case that stops at a failed REQUIRE returns early, past its own
 * durlog_close: the writer would stay open (its lock and its threads with
 * it) while the following cases run. A writer opened with fx_open or
 * fx_writer, and a reader opened with fx_reader, is registered with the
 * harness (th_after_case), which closes it when the case returns unless
 * fx_close (fx_reader_close) closed it first. Its scratch directory
 * (scratch_make) is removed then too.
 */
#ifndef DURLOG_TEST_LIB_FIXTURE_H
#define DURLOG_TEST_LIB_FIXTURE_H

#include "../harness.h"
#include "model.h"

static inline void fx_close_after_case(void *log)
{
    durlog_close(log);
}

/* After `what` opened `handle` on path and returned rc: registers the
 * handle, to be closed by close_fn after the case, and returns it; or, when
 * rc says the open failed, reports that, fails the case and returns NULL. */
static inline void *fx_opened(int rc, const char *what, const char *path,
                              void (*close_fn)(void *), void *handle)
{
    if (rc) {
        fprintf(stderr, "  %s(%s): %s\n", what, path, durlog_strerror(rc));
        th_failed_current = 1;
        return NULL;
    }
    th_after_case(close_fn, handle);
    return handle;
}

/* Opens a writer on path with o (NULL: the defaults), registered to be
 * closed after the case. NULL, with the error on stderr and the case
 * failed, when it does not open. */
static inline durlog *fx_writer(const char *path, const durlog_options *o)
{
    durlog *log = NULL;
    int rc = durlog_open(path, o, &log);
    return fx_opened(rc, "durlog_open", path, fx_close_after_case, log);
}

/* Makes the scratch directory s and opens a writer on s->log (fx_writer). */
static inline durlog *fx_open(struct scratch *s, const durlog_options *o)
{
    scratch_make(s);
    return fx_writer(s->log, o);
}

/* Closes a writer from fx_writer or fx_open; returns what durlog_close did. */
static inline int fx_close(durlog *log)
{
    th_forget(fx_close_after_case, log, NULL);
    return durlog_close(log);
}

static inline void fx_reader_close_after_case(void *r)
{
    durlog_reader_close(r);
}

/* Opens a reader on path with o (NULL: the defaults), registered to be
 * closed after the case unless fx_reader_close closed it. NULL, with the
 * error on stderr and the case failed, when it does not open. */
static inline durlog_reader *fx_reader(const char *path, const durlog_reader_options *o)
{
    durlog_reader *r = NULL;
    int rc = durlog_reader_open(path, o, &r);
    return fx_opened(rc, "durlog_reader_open", path, fx_reader_close_after_case, r);
}

static inline void fx_reader_close(durlog_reader *r)
{
    th_forget(fx_reader_close_after_case, r, NULL);
    durlog_reader_close(r);
}

/* Makes the scratch log s and appends every record of model m to it, at
 * kernel level, by a writer with segments of segment_size bytes (0: the
 * default); returns that writer, still open (fx_close). NULL after a failed
 * CHECK. */
static inline durlog *fx_model_log(struct scratch *s, struct model *m, uint64_t segment_size)
{
    durlog *log = fx_open(s, &(durlog_options){ .segment_size = segment_size });
    if (log)
        model_append(log, m, 0, m->count, DURLOG_KERNEL);
    return log;
}

/* The same, but record sync_at (-1: none) is appended at DURLOG_SYNC, and
 * the writer is closed again. Returns -1 if it did not open (the case has
 * failed), else 0: a failed close fails the case but leaves the log there. */
static inline int fx_model_log_closed(struct scratch *s, struct model *m,
                                      uint64_t segment_size, long sync_at)
{
    durlog *log = fx_open(s, &(durlog_options){ .segment_size = segment_size });
    if (!log)
        return -1;
    size_t at = sync_at < 0 ? m->count : (size_t)sync_at;
    model_append(log, m, 0, at, DURLOG_KERNEL);
    if (at < m->count) {
        model_append(log, m, at, at + 1, DURLOG_SYNC);
        model_append(log, m, at + 1, m->count, DURLOG_KERNEL);
    }
    CHECK_OK(fx_close(log));
    return 0;
}

/* Reopens the model's log at path (segments of segment_size bytes) and
 * appends records [from, to) at kernel level, then closes it again. */
static inline void fx_model_append_reopened(const char *path, struct model *m, size_t from,
                                            size_t to, uint64_t segment_size)
{
    durlog *log = fx_writer(path, &(durlog_options){ .segment_size = segment_size });
    if (!log)
        return;
    model_append(log, m, from, to, DURLOG_KERNEL);
    CHECK_OK(fx_close(log));
}

/* Opens a writer with segment_size (0: default). */
static inline int open_log(const char *path, uint64_t segment_size, durlog **out)
{
    durlog_options o;
    durlog_options_init(&o);
    if (segment_size)
        o.segment_size = segment_size;
    return durlog_open(path, &o, out);
}

/* The number of records durlog_get_info reports as the next one. */
static inline uint64_t log_next_seq(durlog *log)
{
    durlog_info info;
    memset(&info, 0, sizeof info);
    CHECK_OK(durlog_get_info(log, &info));
    return info.next_seq;
}

#endif
