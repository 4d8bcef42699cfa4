/*
 * python/src/reader.c - durlog._durlog.Record and _Reader (durlog_reader *).
 * The Python layer subclasses _Reader as durlog.Reader and adds follow()
 * (iterator and async iterator) and seeks by datetime.
 *
 * A durlog reader belongs to one thread at a time. Its calls that keep the
 * GIL (next, seek) cannot overlap; the one that gives it up (wait) marks
 * the reader `busy`, and any other call meanwhile, from another thread, is
 * refused with RuntimeError instead of racing it. close() interrupts the
 * wait and waits for it to end first.
 */
#include "pydurlog.h"

#include <errno.h>
#include <structmember.h>
#include <unistd.h>

/* ---- Record ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *data;
    unsigned long long seq;
    unsigned long long time_ns;
} RecordObject;

static void record_dealloc(RecordObject *self)
{
    Py_XDECREF(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *record_get_time(RecordObject *self, void *unused)
{
    (void)unused;
    if (!pd_time_factory) {
        PyErr_SetString(PyExc_RuntimeError, "durlog is not initialised");
        return NULL;
    }
    return PyObject_CallFunction(pd_time_factory, "K", self->time_ns);
}

static PyObject *record_repr(RecordObject *self)
{
    return PyUnicode_FromFormat("durlog.Record(seq=%llu, time_ns=%llu, data=%R)", self->seq,
                                self->time_ns, self->data);
}

static PyObject *record_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyObject_TypeCheck(b, Py_TYPE(a)) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    RecordObject *x = (RecordObject *)a, *y = (RecordObject *)b;
    int eq = x->seq == y->seq && x->time_ns == y->time_ns;
    if (eq) {
        eq = PyObject_RichCompareBool(x->data, y->data, Py_EQ);
        if (eq < 0)
            return NULL;
    }
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyMemberDef record_members[] = {
    {"seq", T_ULONGLONG, offsetof(RecordObject, seq), READONLY, "The record's sequence number."},
    {"time_ns", T_ULONGLONG, offsetof(RecordObject, time_ns), READONLY,
     "When it was appended: nanoseconds since the Unix epoch."},
    {"data", T_OBJECT_EX, offsetof(RecordObject, data), READONLY, "The payload (bytes)."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef record_getset[] = {
    {"time", (getter)record_get_time, NULL,
     "When it was appended, as an aware datetime in UTC (microseconds).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject record_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durlog.Record",
    .tp_basicsize = sizeof(RecordObject),
    .tp_dealloc = (destructor)record_dealloc,
    .tp_repr = (reprfunc)record_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One record of a log: seq, time_ns, time (datetime) and data (bytes).",
    .tp_richcompare = record_richcompare,
    .tp_members = record_members,
    .tp_getset = record_getset,
};

/* ---- Reader ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    durlog_reader *r;
    int busy;       /* a wait is under way without the GIL */
    int closing;
    PyObject *weakrefs;
} ReaderObject;

static int usable(ReaderObject *self)
{
    if (!self->r || self->closing) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on a closed durlog.Reader");
        return 0;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "durlog.Reader is in use by another thread (a reader "
                        "belongs to one thread at a time)");
        return 0;
    }
    return 1;
}

static PyObject *reader_error(ReaderObject *self, int rc)
{
    return pd_raise(rc, durlog_reader_errmsg(self->r));
}

static int reader_init(ReaderObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "durable_only", "skip_damaged", "spin_us", NULL};
    PyObject *path_obj;
    int durable_only = 0, skip_damaged = 0;
    unsigned int spin_us = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|ppI", names, &path_obj, &durable_only,
                                     &skip_damaged, &spin_us))
        return -1;
    if (self->r) {
        PyErr_SetString(PyExc_RuntimeError, "durlog.Reader is already open");
        return -1;
    }
    durlog_reader_options o;
    durlog_reader_options_init(&o);
    o.durable_only = durable_only;
    o.skip_damaged = skip_damaged;
    o.spin_us = spin_us;
    char errbuf[512] = "";
    o.errbuf = errbuf;
    o.errbuf_size = sizeof errbuf;
    PyObject *path = pd_path(path_obj);
    if (!path)
        return -1;
    int rc;
    durlog_reader *r = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_reader_open(PyBytes_AS_STRING(path), &o, &r);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0) {
        pd_raise(rc, errbuf);
        return -1;
    }
    self->r = r;
    return 0;
}

static PyObject *reader_close(ReaderObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->r || self->closing)
        Py_RETURN_NONE;
    self->closing = 1;
    while (self->busy) {
        durlog_reader_interrupt(self->r);
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    durlog_reader_close(self->r);
    self->r = NULL;
    self->closing = 0;
    Py_RETURN_NONE;
}

static void reader_dealloc(ReaderObject *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->r)
        durlog_reader_close(self->r);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The next record, or NULL: with an exception on error, without one at the
 * current end. */
static PyObject *next_record(ReaderObject *self)
{
    if (!usable(self))
        return NULL;
    durlog_record rec;
    int rc = durlog_reader_next(self->r, &rec);
    if (rc == DURLOG_EEND)
        return NULL;
    if (rc < 0)
        return reader_error(self, rc);
    RecordObject *o = PyObject_New(RecordObject, &record_type);
    if (!o)
        return NULL;
    o->seq = rec.seq;
    o->time_ns = rec.time_ns;
    o->data = PyBytes_FromStringAndSize(rec.data, (Py_ssize_t)rec.len);
    if (!o->data) {
        Py_DECREF(o);
        return NULL;
    }
    return (PyObject *)o;
}

static PyObject *reader_iternext(ReaderObject *self)
{
    return next_record(self);
}

static PyObject *reader_read(ReaderObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *r = next_record(self);
    if (!r && !PyErr_Occurred())
        Py_RETURN_NONE;
    return r;
}

static PyObject *reader_wait(ReaderObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"timeout", NULL};
    PyObject *timeout_obj = Py_None;
    int timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", names, &timeout_obj) ||
        pd_timeout_ms(timeout_obj, &timeout) < 0 || !usable(self))
        return NULL;
    int64_t deadline = timeout < 0 ? -1 : pd_now_ms() + timeout;
    int rc;
    self->busy = 1;
    for (;;) {
        int slice = PD_SLICE_MS;
        if (deadline >= 0) {
            int64_t left = deadline - pd_now_ms();
            slice = left < 0 ? 0 : left < slice ? (int)left : slice;
        }
        Py_BEGIN_ALLOW_THREADS
        rc = durlog_reader_wait(self->r, slice);
        Py_END_ALLOW_THREADS
        if (rc != -ETIMEDOUT || (deadline >= 0 && pd_now_ms() >= deadline))
            break;
        /* Not busy while a signal handler runs: it may close this reader
         * (a close() waiting for its own thread's wait would never end). */
        self->busy = 0;
        if (PyErr_CheckSignals() < 0)
            return NULL;
        if (!usable(self)) /* closed by the handler, or taken by another thread */
            return NULL;
        self->busy = 1;
    }
    self->busy = 0;
    if (rc == -ETIMEDOUT)
        Py_RETURN_FALSE;
    if (rc == -EINTR && self->closing) {
        PyErr_SetString(PyExc_ValueError, "durlog.Reader closed while waiting");
        return NULL;
    }
    if (rc < 0)
        return reader_error(self, rc);
    Py_RETURN_TRUE;
}

static PyObject *reader_seek(ReaderObject *self, PyObject *arg)
{
    uint64_t seq;
    if (pd_seq(arg, &seq) < 0 || !usable(self))
        return NULL;
    int rc = durlog_reader_seek(self->r, seq);
    if (rc < 0)
        return reader_error(self, rc);
    Py_RETURN_NONE;
}

/* _seek_time(ns): the Python layer turns datetimes and seconds into ns. */
static PyObject *reader_seek_time(ReaderObject *self, PyObject *arg)
{
    unsigned long long ns = PyLong_AsUnsignedLongLong(arg);
    if (ns == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "a time before the Unix epoch or past 2554");
        }
        return NULL;
    }
    if (!usable(self))
        return NULL;
    int rc = durlog_reader_seek_time(self->r, ns);
    if (rc < 0)
        return reader_error(self, rc);
    Py_RETURN_NONE;
}

static PyObject *reader_seek_cursor(ReaderObject *self, PyObject *arg)
{
    durlog_cursor *c = pd_cursor_handle(arg);
    if (!c || !usable(self))
        return NULL;
    int rc = durlog_reader_seek_cursor(self->r, c);
    if (rc < 0)
        return reader_error(self, rc);
    Py_RETURN_NONE;
}

static PyObject *reader_info(ReaderObject *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    durlog_info info;
    int rc = durlog_reader_get_info(self->r, &info);
    if (rc < 0)
        return reader_error(self, rc);
    return pd_info_tuple(&info);
}

static PyObject *reader_get_retention(ReaderObject *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    durlog_retention r;
    int rc = durlog_reader_get_retention(self->r, &r);
    if (rc < 0)
        return reader_error(self, rc);
    return pd_retention_tuple(&r);
}

static PyObject *reader_interrupt(ReaderObject *self, PyObject *unused)
{
    (void)unused;
    if (self->r && !self->closing)
        durlog_reader_interrupt(self->r);
    Py_RETURN_NONE;
}

static PyObject *reader_get_skipped(ReaderObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->r ? durlog_reader_skipped(self->r) : 0);
}

static PyObject *reader_get_closed(ReaderObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(!self->r || self->closing);
}

static PyMethodDef reader_methods[] = {
    {"read", (PyCFunction)reader_read, METH_NOARGS,
     "read() -> Record or None\n\nThe next record, or None at the current end of the log."},
    {"wait", (PyCFunction)(void (*)(void))reader_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool\n\n"
     "Waits until a record past the reader's position may be there (published, or\n"
     "durable for a durable_only reader): True, then read() (which may still return\n"
     "None: a log no writer has open is looked at every 10 ms), or False after\n"
     "`timeout` seconds. Sleeps on a futex the writers wake; Ctrl-C interrupts it."},
    {"seek", (PyCFunction)reader_seek, METH_O,
     "seek(seq)\n\nThe next record read is `seq` (TrimmedError below the first record,\n"
     "SeqNotFoundError past the end)."},
    {"_seek_time", (PyCFunction)reader_seek_time, METH_O, "Internal."},
    {"seek_cursor", (PyCFunction)reader_seek_cursor, METH_O,
     "seek_cursor(cursor)\n\nThe next record read is the first one the cursor has not consumed."},
    {"_info", (PyCFunction)reader_info, METH_NOARGS, "Internal."},
    {"_get_retention", (PyCFunction)reader_get_retention, METH_NOARGS, "Internal."},
    {"interrupt", (PyCFunction)reader_interrupt, METH_NOARGS,
     "interrupt()\n\nMakes a wait blocked on this reader (in another thread) return now."},
    {"close", (PyCFunction)reader_close, METH_NOARGS, "close()\n\nCloses the reader."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef reader_getset[] = {
    {"skipped", (getter)reader_get_skipped, NULL,
     "Bytes stepped over because of damage (skip_damaged).", NULL},
    {"closed", (getter)reader_get_closed, NULL, "True once closed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject reader_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durlog._durlog._Reader",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The C core of durlog.Reader (use durlog.reader()).",
    .tp_weaklistoffset = offsetof(ReaderObject, weakrefs),
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)reader_iternext,
    .tp_methods = reader_methods,
    .tp_getset = reader_getset,
    .tp_init = (initproc)reader_init,
    .tp_new = PyType_GenericNew,
};

int pd_reader_init(PyObject *module)
{
    if (PyType_Ready(&record_type) < 0 || PyType_Ready(&reader_type) < 0)
        return -1;
    Py_INCREF(&record_type);
    Py_INCREF(&reader_type);
    if (PyModule_AddObject(module, "Record", (PyObject *)&record_type) < 0 ||
        PyModule_AddObject(module, "_Reader", (PyObject *)&reader_type) < 0)
        return -1;
    return 0;
}
