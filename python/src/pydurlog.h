/*
 * python/src/pydurlog.h - what the files of the durlog._durlog extension
 * share: turning durlog's return codes into Python exceptions, durability
 * levels and record data from Python objects, timeouts sliced so that
 * Ctrl-C interrupts a long wait, and each file's type and function tables.
 *
 * The extension links libdurlog's sources in (setup.py), so an installed
 * package needs no libdurlog on the system; only PyInit__durlog is exported
 * (python/src/export.map), so a program that also loads libdurlog.so never
 * mixes the two.
 *
 * The GIL: released around every call that may block (a `sync` append or
 * batch, flush, wait, close, open, put, check, a cursor commit, a reader's
 * wait), kept around those that cannot (`buffered`, `kernel` and
 * `interval` appends, a reader's next), where taking and giving it back
 * would cost more than the call.
 */
#ifndef PYDURLOG_H
#define PYDURLOG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "durlog.h"

/* The longest a blocking call runs with the GIL released before it looks
 * for a pending signal (KeyboardInterrupt): 50 ms, so Ctrl-C takes effect
 * within the 100 ms the package promises. */
#define PD_SLICE_MS 50

/* Raises the exception durlog's Python layer builds for `code` (a durlog
 * return code, < 0) with `message` (may be NULL: durlog_strerror(code)).
 * Returns NULL, for `return pd_raise(...)`. */
PyObject *pd_raise(int code, const char *message);
/* As pd_raise, with the record's sequence number (NotDurableError.seq). */
PyObject *pd_raise_seq(int code, const char *message, uint64_t seq);

/* A durability level from None (DURLOG_DEFAULT), an int (Level is an
 * IntEnum) or a name. -1 with TypeError/ValueError set on a bad one. */
int pd_level(PyObject *obj, durlog_level *out);

/* A sequence number argument: TypeError for anything but an int (bool
 * included), ValueError for one no record can have (negative, 2^63 or
 * more). 0 or -1; sets *out. */
int pd_seq(PyObject *obj, uint64_t *out);

/* A timeout in seconds (None: no limit) as milliseconds (-1: no limit).
 * -1 with ValueError for a negative, NaN or too large value. Sets *out. */
int pd_timeout_ms(PyObject *obj, int *out);

/* Milliseconds left of a deadline taken from pd_now_ms() (-1 stays -1). */
int64_t pd_now_ms(void);

/* The bytes of a record: bytes, bytearray, memoryview (C-contiguous) or
 * str (UTF-8). view->obj is set when a buffer was taken (release it with
 * pd_data_release). -1 with TypeError set otherwise. */
typedef struct {
    const char *buf;
    Py_ssize_t len;
    Py_buffer view;
    int have_view;
} pd_data;
int pd_data_get(PyObject *obj, pd_data *d);
void pd_data_release(pd_data *d);

/* A filesystem path (str, bytes or os.PathLike) as a bytes object
 * (PyUnicode_FSConverter). NULL with an exception. */
PyObject *pd_path(PyObject *obj);

/* The generation of this process: bumped in a child after fork(), so that a
 * writer handle opened by the parent is refused there (its engine threads
 * stayed in the parent: durlog.h). */
extern unsigned long pd_fork_generation;

/* Module state the files share: the error factory and the datetime maker
 * that the Python layer hands over at import. */
extern PyObject *pd_error_factory;  /* callable(code, message, seq) -> exc */
extern PyObject *pd_time_factory;   /* callable(time_ns) -> datetime */

/* Types and functions, one set per file. Each *_init adds its types to the
 * module; 0 or -1. */
int pd_log_init(PyObject *module);
int pd_reader_init(PyObject *module);
int pd_files_init(PyObject *module);
extern PyMethodDef pd_files_methods[];

/* durlog_info and durlog_retention as the tuples the Python layer turns
 * into durlog.Info and durlog.Retention (log.c; readers use them too). */
PyObject *pd_info_tuple(const durlog_info *i);
PyObject *pd_retention_tuple(const durlog_retention *r);

/* The reader's Record type and the cursor type, for seek_cursor. */
extern PyTypeObject pd_cursor_type;
durlog_cursor *pd_cursor_handle(PyObject *obj);

#endif /* PYDURLOG_H */
