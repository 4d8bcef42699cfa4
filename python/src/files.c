/*
 * python/src/files.c - what works on paths rather than on an open log:
 * whole files written atomically (durlog_put_*), durlog_check, and named
 * cursors (durlog_cursor_*). The Python layer (durlog/_files.py) turns
 * these into put(), atomic_open(), check() and cursor().
 */
#include "pydurlog.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- progress ------------------------------------------------------------
 * A put's progress callback runs on the thread that called the put, which
 * gave up the GIL: it takes it back, looks for a pending signal (so Ctrl-C
 * stops a long put within one 8 MiB chunk) and calls the Python callable.
 * Either one stopping it cancels the put (-ECANCELED, destination
 * untouched); the exception is left set for the caller to raise. */
typedef struct {
    PyObject *fn; /* callable(done, total or None) -> true to cancel, or None */
} progress_ctx;

static int progress_cb(uint64_t done, uint64_t total, void *arg)
{
    progress_ctx *p = arg;
    PyGILState_STATE g = PyGILState_Ensure();
    int stop = 0;
    if (PyErr_Occurred() || PyErr_CheckSignals() < 0) {
        stop = 1;
    } else if (p->fn && p->fn != Py_None) {
        PyObject *r;
        if (total == DURLOG_SIZE_UNKNOWN)
            r = PyObject_CallFunction(p->fn, "KO", (unsigned long long)done, Py_None);
        else
            r = PyObject_CallFunction(p->fn, "KK", (unsigned long long)done,
                                      (unsigned long long)total);
        if (!r) {
            stop = 1;
        } else {
            stop = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (stop < 0)
                stop = 1;
        }
    }
    PyGILState_Release(g);
    return stop;
}

static int put_options(durlog_put_options *o, unsigned flags, unsigned mode,
                       unsigned long long size_hint, progress_ctx *p, char *errbuf, size_t n)
{
    durlog_put_options_init(o);
    o->flags = flags;
    o->mode = (mode_t)mode;
    o->size_hint = size_hint;
    o->progress = progress_cb; /* always: it is also where Ctrl-C is seen */
    o->progress_arg = p;
    o->errbuf = errbuf;
    o->errbuf_size = n;
    errbuf[0] = 0;
    return 0;
}

static PyObject *put_error(int rc, const char *errbuf)
{
    if (PyErr_Occurred()) /* the progress callback raised, or Ctrl-C */
        return NULL;
    return pd_raise(rc, errbuf);
}

/* _put_buffer(path, data, flags, mode, progress) */
static PyObject *m_put_buffer(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *path_obj, *data_obj, *progress;
    unsigned flags, mode;
    if (!PyArg_ParseTuple(args, "OOIIO", &path_obj, &data_obj, &flags, &mode, &progress))
        return NULL;
    pd_data d;
    if (pd_data_get(data_obj, &d) < 0)
        return NULL;
    PyObject *path = pd_path(path_obj);
    if (!path) {
        pd_data_release(&d);
        return NULL;
    }
    progress_ctx p = {progress};
    char errbuf[512];
    durlog_put_options o;
    put_options(&o, flags, mode, 0, &p, errbuf, sizeof errbuf);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_put_buffer(PyBytes_AS_STRING(path), d.buf, (size_t)d.len, &o);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    pd_data_release(&d);
    if (rc < 0)
        return put_error(rc, errbuf);
    return PyLong_FromSsize_t(d.len);
}

/* _put_fd(path, fd, flags, mode, size_hint, progress) */
static PyObject *m_put_fd(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *path_obj, *progress;
    int fd;
    unsigned flags, mode;
    unsigned long long size_hint;
    if (!PyArg_ParseTuple(args, "OiIIKO", &path_obj, &fd, &flags, &mode, &size_hint, &progress))
        return NULL;
    PyObject *path = pd_path(path_obj);
    if (!path)
        return NULL;
    progress_ctx p = {progress};
    char errbuf[512];
    durlog_put_options o;
    put_options(&o, flags, mode, size_hint, &p, errbuf, sizeof errbuf);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_put_fd(PyBytes_AS_STRING(path), fd, &o);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0)
        return put_error(rc, errbuf);
    Py_RETURN_NONE;
}

/* ---- _PutStream: begin, write..., commit or abort ----------------------- */

typedef struct {
    PyObject_HEAD
    durlog_put *p;
    progress_ctx progress;
    unsigned long long written;
    int busy;
    /* The put keeps the options' errbuf for its later failures (a write's,
     * the commit's): it must live as long as the stream, not on the stack
     * of the call that began it. */
    char errbuf[512];
} PutObject;

static int putstream_init(PutObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "flags", "mode", "size_hint", "progress", NULL};
    PyObject *path_obj, *progress = Py_None;
    unsigned flags = 0, mode = 0;
    unsigned long long size_hint = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|IIKO", names, &path_obj, &flags, &mode,
                                     &size_hint, &progress))
        return -1;
    if (self->p) {
        PyErr_SetString(PyExc_RuntimeError, "already begun");
        return -1;
    }
    PyObject *path = pd_path(path_obj);
    if (!path)
        return -1;
    Py_INCREF(progress);
    Py_XSETREF(self->progress.fn, progress);
    durlog_put_options o;
    put_options(&o, flags, mode, size_hint, &self->progress, self->errbuf, sizeof self->errbuf);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_put_begin(PyBytes_AS_STRING(path), &o, &self->p);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0) {
        self->p = NULL;
        put_error(rc, self->errbuf);
        return -1;
    }
    return 0;
}

static int putstream_usable(PutObject *self)
{
    if (!self->p) {
        PyErr_SetString(PyExc_ValueError, "write to a closed durlog atomic file (committed or "
                        "aborted)");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "durlog atomic file in use by another thread (or "
                        "by its own write, from the progress callback)");
        return 0;
    }
    return 1;
}

static PyObject *putstream_write(PutObject *self, PyObject *arg)
{
    if (!putstream_usable(self))
        return NULL;
    pd_data d;
    if (pd_data_get(arg, &d) < 0)
        return NULL;
    int rc;
    /* busy for small writes too: the progress callback runs inside the
     * write and may call abort() or write() on this stream. */
    self->busy = 1;
    if (d.len >= 65536) {
        Py_BEGIN_ALLOW_THREADS
        rc = durlog_put_write(self->p, d.buf, (size_t)d.len);
        Py_END_ALLOW_THREADS
    } else {
        rc = durlog_put_write(self->p, d.buf, (size_t)d.len);
    }
    self->busy = 0;
    Py_ssize_t n = d.len;
    pd_data_release(&d);
    if (rc < 0)
        return put_error(rc, self->errbuf[0] ? self->errbuf : durlog_last_errmsg());
    self->written += (unsigned long long)n;
    return PyLong_FromSsize_t(n);
}

static PyObject *putstream_commit(PutObject *self, PyObject *unused)
{
    (void)unused;
    if (!putstream_usable(self))
        return NULL;
    durlog_put *p = self->p;
    self->p = NULL;
    int rc;
    char msg[512];
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_put_commit(p);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", self->errbuf[0] ? self->errbuf : durlog_last_errmsg());
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return put_error(rc, msg);
    Py_RETURN_NONE;
}

static PyObject *putstream_abort(PutObject *self, PyObject *unused)
{
    (void)unused;
    if (self->p && self->busy) {
        /* A write is under way (the call may be from its own progress
         * callback): freeing the put would pull it from under the write. */
        PyErr_SetString(PyExc_RuntimeError, "abort() of a durlog atomic file while a write to it "
                        "is under way (from a progress callback: raise or return True to "
                        "cancel)");
        return NULL;
    }
    if (self->p) {
        durlog_put_abort(self->p);
        self->p = NULL;
    }
    Py_RETURN_NONE;
}

static void putstream_dealloc(PutObject *self)
{
    if (self->p)
        durlog_put_abort(self->p); /* never committed: the old file stays */
    Py_XDECREF(self->progress.fn);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *putstream_get_written(PutObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->written);
}

static PyObject *putstream_get_open(PutObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->p != NULL);
}

static PyMethodDef putstream_methods[] = {
    {"write", (PyCFunction)putstream_write, METH_O, "Internal."},
    {"commit", (PyCFunction)putstream_commit, METH_NOARGS, "Internal."},
    {"abort", (PyCFunction)putstream_abort, METH_NOARGS, "Internal."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef putstream_getset[] = {
    {"written", (getter)putstream_get_written, NULL, "Bytes written so far.", NULL},
    {"open", (getter)putstream_get_open, NULL, "Neither committed nor aborted.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject putstream_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durlog._durlog._PutStream",
    .tp_basicsize = sizeof(PutObject),
    .tp_dealloc = (destructor)putstream_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Internal: durlog_put_begin/write/commit/abort.",
    .tp_methods = putstream_methods,
    .tp_getset = putstream_getset,
    .tp_init = (initproc)putstream_init,
    .tp_new = PyType_GenericNew,
};

/* ---- check --------------------------------------------------------------- */

/* _check(path, flags) -> (records, segments, first_seq, next_seq, damaged,
 * damage_at_tail, problem, problems, live, side_files, old_format_segments,
 * converted) */
static PyObject *m_check(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *path_obj;
    int flags;
    if (!PyArg_ParseTuple(args, "Oi", &path_obj, &flags))
        return NULL;
    PyObject *path = pd_path(path_obj);
    if (!path)
        return NULL;
    durlog_check_report r;
    memset(&r, 0, sizeof r);
    int rc;
    char msg[600];
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_check(PyBytes_AS_STRING(path), flags, &r);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", r.problem[0] ? r.problem : durlog_last_errmsg());
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0)
        return pd_raise(rc, msg);
    return Py_BuildValue("(KKKKiisKiKKK)", (unsigned long long)r.records,
                         (unsigned long long)r.segments, (unsigned long long)r.first_seq,
                         (unsigned long long)r.next_seq, r.damaged, r.damage_at_tail, r.problem,
                         (unsigned long long)r.problems, r.live, (unsigned long long)r.side_files,
                         (unsigned long long)r.old_format_segments,
                         (unsigned long long)r.converted);
}

/* ---- cursors ------------------------------------------------------------- */

/* commit() gives up the GIL: it marks the cursor busy, and another
 * thread's call meanwhile is refused (RuntimeError), close() waits for it. */
typedef struct {
    PyObject_HEAD
    durlog_cursor *c;
    int busy;
    int closing;
} CursorObject;

durlog_cursor *pd_cursor_handle(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &pd_cursor_type)) {
        PyErr_Format(PyExc_TypeError, "expected a durlog.Cursor, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    CursorObject *c = (CursorObject *)obj;
    if (!c->c || c->closing) {
        PyErr_SetString(PyExc_ValueError, "the durlog.Cursor is closed");
        return NULL;
    }
    if (c->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the durlog.Cursor is in use by another thread "
                        "(its commit)");
        return NULL;
    }
    return c->c;
}

static int cursor_init(CursorObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "name", "create", NULL};
    PyObject *path_obj;
    const char *name;
    int create = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Os|p", names, &path_obj, &name, &create))
        return -1;
    if (self->c) {
        PyErr_SetString(PyExc_RuntimeError, "durlog.Cursor is already open");
        return -1;
    }
    PyObject *path = pd_path(path_obj);
    if (!path)
        return -1;
    int rc;
    char msg[512];
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_cursor_open(PyBytes_AS_STRING(path), name, create ? DURLOG_CURSOR_CREATE : 0,
                            &self->c);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", durlog_last_errmsg());
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0) {
        self->c = NULL;
        if (rc == -EINVAL) {
            PyErr_SetString(PyExc_ValueError, msg);
            return -1;
        }
        pd_raise(rc, msg);
        return -1;
    }
    return 0;
}

static PyObject *cursor_commit(CursorObject *self, PyObject *arg)
{
    if (!pd_cursor_handle((PyObject *)self))
        return NULL;
    uint64_t v;
    if (pd_seq(arg, &v) < 0)
        return NULL;
    int rc;
    durlog_cursor *c = self->c;
    self->busy = 1; /* no other thread may use it during the commit */
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_cursor_commit(c, v);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    if (rc == -EINVAL) {
        PyErr_SetString(PyExc_ValueError, durlog_cursor_errmsg(c));
        return NULL;
    }
    if (rc < 0)
        return pd_raise(rc, durlog_cursor_errmsg(c));
    Py_RETURN_NONE;
}

static PyObject *cursor_close(CursorObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->c || self->closing)
        Py_RETURN_NONE;
    /* A commit under way in another thread: wait for it (it used to make
     * close() a silent no-op, the cursor staying open). */
    self->closing = 1;
    while (self->busy) {
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    durlog_cursor_close(self->c);
    self->c = NULL;
    self->closing = 0;
    Py_RETURN_NONE;
}

static void cursor_dealloc(CursorObject *self)
{
    if (self->c)
        durlog_cursor_close(self->c);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *cursor_get_seq(CursorObject *self, void *unused)
{
    (void)unused;
    if (!pd_cursor_handle((PyObject *)self))
        return NULL;
    return PyLong_FromUnsignedLongLong(durlog_cursor_seq(self->c));
}

static PyObject *cursor_get_name(CursorObject *self, void *unused)
{
    (void)unused;
    if (!pd_cursor_handle((PyObject *)self))
        return NULL;
    return PyUnicode_FromString(durlog_cursor_name(self->c));
}

static PyObject *cursor_get_closed(CursorObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->c == NULL || self->closing);
}

static PyMethodDef cursor_methods[] = {
    {"commit", (PyCFunction)cursor_commit, METH_O,
     "commit(next_seq)\n\nRecords next_seq (the next record to consume) as the cursor's\n"
     "position, durably: after a crash or power loss it is the old or the new one."},
    {"close", (PyCFunction)cursor_close, METH_NOARGS, "close()"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef cursor_getset[] = {
    {"seq", (getter)cursor_get_seq, NULL, "The committed position: the next record to consume.",
     NULL},
    {"name", (getter)cursor_get_name, NULL, "The cursor's name.", NULL},
    {"closed", (getter)cursor_get_closed, NULL, "True once closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pd_cursor_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durlog._durlog._Cursor",
    .tp_basicsize = sizeof(CursorObject),
    .tp_dealloc = (destructor)cursor_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The C core of durlog.Cursor (use durlog.cursor()).",
    .tp_methods = cursor_methods,
    .tp_getset = cursor_getset,
    .tp_init = (initproc)cursor_init,
    .tp_new = PyType_GenericNew,
};

/* _cursor_list(path) -> [(name, status, seq, commit_time_ns, lag_records,
 * lag_bytes, trimmed)] */
static PyObject *m_cursor_list(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *path = pd_path(arg);
    if (!path)
        return NULL;
    durlog_cursor_info *list = NULL;
    size_t n = 0;
    int rc;
    char msg[512];
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_cursor_list(PyBytes_AS_STRING(path), &list, &n);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", durlog_last_errmsg());
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0)
        return pd_raise(rc, msg);
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        durlog_cursor_info *c = &list[i];
        PyObject *t = Py_BuildValue("(siKKKKK)", c->name, c->status, (unsigned long long)c->seq,
                                    (unsigned long long)c->commit_time_ns,
                                    (unsigned long long)c->lag_records,
                                    (unsigned long long)c->lag_bytes,
                                    (unsigned long long)c->trimmed);
        if (!t) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, t);
    }
    durlog_cursor_list_free(list);
    return out;
}

static PyObject *m_cursor_delete(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *path_obj;
    const char *name;
    if (!PyArg_ParseTuple(args, "Os", &path_obj, &name))
        return NULL;
    PyObject *path = pd_path(path_obj);
    if (!path)
        return NULL;
    int rc;
    char msg[512];
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_cursor_delete(PyBytes_AS_STRING(path), name);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", durlog_last_errmsg());
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc == -EINVAL) {
        PyErr_SetString(PyExc_ValueError, msg);
        return NULL;
    }
    if (rc < 0)
        return pd_raise(rc, msg);
    Py_RETURN_NONE;
}

PyMethodDef pd_files_methods[] = {
    {"_put_buffer", m_put_buffer, METH_VARARGS, "Internal."},
    {"_put_fd", m_put_fd, METH_VARARGS, "Internal."},
    {"_check", m_check, METH_VARARGS, "Internal."},
    {"_cursor_list", m_cursor_list, METH_O, "Internal."},
    {"_cursor_delete", m_cursor_delete, METH_VARARGS, "Internal."},
    {NULL, NULL, 0, NULL},
};

int pd_files_init(PyObject *module)
{
    if (PyType_Ready(&putstream_type) < 0 || PyType_Ready(&pd_cursor_type) < 0)
        return -1;
    Py_INCREF(&putstream_type);
    Py_INCREF(&pd_cursor_type);
    if (PyModule_AddObject(module, "_PutStream", (PyObject *)&putstream_type) < 0 ||
        PyModule_AddObject(module, "_Cursor", (PyObject *)&pd_cursor_type) < 0)
        return -1;
    return 0;
}
