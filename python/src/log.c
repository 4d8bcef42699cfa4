/*
 * python/src/log.c - durlog._durlog._Log: a writer handle (durlog *).
 * The Python layer (durlog/_log.py) subclasses it as durlog.Log and adds
 * what is better said in Python: the context manager, append_async's
 * concurrent.futures.Future and append_durable's asyncio future.
 *
 * Threads. Any number of Python threads may share one Log, as they may
 * share a durlog handle. Closing while another thread is inside a call
 * would free the handle under it (durlog.h), so every call that gives up
 * the GIL counts itself in `busy`, and close() marks the handle closing
 * (new calls are refused), interrupts the waits, and waits for `busy` to
 * drop to zero before it calls durlog_close.
 *
 * Completions of asynchronous appends. The handle is opened with
 * poll_callbacks, so callbacks run only inside durlog_poll on a thread
 * that holds the GIL (_poll(), called by the asyncio loop's reader on the
 * event fd or by the Log's dispatcher thread), and each completion calls
 * the Python callable given with the append: one GIL hold runs a whole
 * batch. (On the engine thread, each callback would have to take the GIL
 * from a thread running Python, waiting up to its 5 ms switch interval.)
 * durlog_close delivers what is left on the closing thread, which then
 * takes the GIL back for each.
 */
#include "pydurlog.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    durlog *log;
    durlog_level level;        /* the handle's default level, resolved */
    unsigned long generation;  /* pd_fork_generation at open */
    int busy;                  /* calls under way with the GIL given up */
    int closing;               /* close() has begun: new calls refused */
    unsigned long closer;      /* the thread running that close() */
    int poll_depth;            /* _poll() calls under way ... */
    unsigned long poll_thread; /* ... on this thread */
    PyObject *weakrefs;
} LogObject;

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed durlog.Log");
    return NULL;
}

/* Every method starts here: refuses a closed handle, one being closed, and
 * one its process inherited through fork(). */
static int usable(LogObject *self)
{
    if (!self->log || self->closing) {
        closed_error();
        return 0;
    }
    if (self->generation != pd_fork_generation) {
        pd_raise(DURLOG_EFAILED, "this durlog.Log was opened by the parent process before "
                 "os.fork(); its background threads stayed there: open the log again in the child");
        return 0;
    }
    return 1;
}

static PyObject *log_error(LogObject *self, int rc)
{
    return pd_raise(rc, self->log ? durlog_errmsg(self->log) : durlog_last_errmsg());
}

/* ---- open and close ---------------------------------------------------- */

static int log_init(LogObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "level", "segment_size", "interval_ms", "mode", "create",
                            "buffer_size", "engine", "io", "max_pending", "flags", NULL};
    PyObject *path_obj, *level_obj = Py_None;
    unsigned long long segment_size = 0, flags = 0;
    unsigned int interval_ms = 0, mode = 0;
    int create = 1, engine = 0, io = 0;
    Py_ssize_t buffer_size = 0, max_pending = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OKIIpniinK", names, &path_obj, &level_obj,
                                     &segment_size, &interval_ms, &mode, &create, &buffer_size,
                                     &engine, &io, &max_pending, &flags))
        return -1;
    if (self->log) {
        PyErr_SetString(PyExc_RuntimeError, "durlog.Log is already open");
        return -1;
    }
    if (buffer_size < 0 || max_pending < 0) {
        PyErr_SetString(PyExc_ValueError, "buffer_size and max_pending must not be negative");
        return -1;
    }
    durlog_options o;
    durlog_options_init(&o);
    if (pd_level(level_obj, &o.default_level) < 0)
        return -1;
    o.segment_size = segment_size;
    o.interval_ms = interval_ms;
    o.mode = (mode_t)mode;
    o.no_create = !create;
    o.buffer_size = (size_t)buffer_size;
    o.engine = (durlog_engine_kind)engine;
    o.io_mode = (durlog_io_mode)io;
    o.max_pending = (size_t)max_pending;
    o.flags = flags;
    o.poll_callbacks = 1;
    char errbuf[512] = "";
    o.errbuf = errbuf;
    o.errbuf_size = sizeof errbuf;
    PyObject *path = pd_path(path_obj);
    if (!path)
        return -1;
    durlog *log = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_open(PyBytes_AS_STRING(path), &o, &log);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0) {
        pd_raise(rc, errbuf);
        return -1;
    }
    self->log = log;
    self->level = o.default_level ? o.default_level : DURLOG_KERNEL;
    self->generation = pd_fork_generation;
    return 0;
}

/* What an asynchronous append's completion settles: a future, and for an
 * asyncio one the loop and its thread (an asyncio future may be settled
 * only on its loop's thread: from any other, the settling goes through
 * loop.call_soon_threadsafe). One small allocation per append, no Python
 * closure: completions are on the hot path of append_durable. */
typedef struct {
    PyObject *future;
    PyObject *loop;         /* NULL: a concurrent.futures.Future */
    unsigned long thread;   /* the loop's thread */
    durlog *log;            /* for the message of a failure */
} completion_ctx;

static PyObject *str_set_result;

/* Settles a future on a failure, or from a thread that is not its loop's:
 * durlog._log._settle(future, seq, status, loop) does it in Python (rare
 * paths). */
static PyObject *settle_fn;

/* Callbacks run inside durlog_poll (with the GIL) or durlog_close
 * (without): PyGILState_Ensure serves both. */
static void completion(void *arg, uint64_t seq, int status)
{
    PyGILState_STATE g = PyGILState_Ensure();
    completion_ctx *c = arg;
    PyObject *r = NULL;
    if (status == 0 && (!c->loop || c->thread == PyThread_get_thread_ident())) {
        PyObject *s = PyLong_FromUnsignedLongLong(seq);
        if (s) {
            r = PyObject_CallMethodObjArgs(c->future, str_set_result, s, NULL);
            Py_DECREF(s);
        }
        if (!r && PyErr_Occurred()) {
            /* Cancelled meanwhile (InvalidStateError): nobody waits. */
            PyErr_Clear();
            r = Py_None;
            Py_INCREF(r);
        }
    } else if (settle_fn) {
        /* The handle is alive while its callbacks run (durlog_close
         * delivers the last ones before it frees it). */
        const char *msg = status ? durlog_errmsg(c->log) : "";
        if (strcmp(msg, "no error") == 0) /* the engine's failure: its own text */
            msg = "";
        r = PyObject_CallFunction(settle_fn, "OKiOs", c->future, (unsigned long long)seq, status,
                                  c->loop ? c->loop : Py_None, msg);
    }
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable(c->future);
    Py_DECREF(c->future);
    Py_XDECREF(c->loop);
    PyMem_RawFree(c);
    PyGILState_Release(g);
}

/* _close_check(): RuntimeError when called from a completion of this Log
 * on its own thread, where close() would wait for itself. Log.close() asks
 * first, before it stops the completion thread and the loops' readers. */
static PyObject *close_check(LogObject *self, PyObject *unused)
{
    (void)unused;
    if (self->log && !self->closing && self->poll_depth &&
        self->poll_thread == PyThread_get_thread_ident()) {
        PyErr_SetString(PyExc_RuntimeError, "durlog.Log.close() called from a completion of "
                        "the same log (it would wait for itself)");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *log_close(LogObject *self, PyObject *unused)
{
    (void)unused;
    if (self->closing && self->closer != PyThread_get_thread_ident()) {
        /* Another thread is closing it: return once it is closed (a
         * program that closes and then reads must find the records
         * there). From the closing thread (a completion it delivers), at
         * once. */
        while (self->closing) {
            Py_BEGIN_ALLOW_THREADS
            usleep(1000);
            Py_END_ALLOW_THREADS
        }
        Py_RETURN_NONE;
    }
    if (!self->log || self->closing)
        Py_RETURN_NONE;
    if (self->generation != pd_fork_generation) {
        /* The parent's handle: its threads and locks are the parent's.
         * Forget it here (a leak of its memory in the child), never close
         * it. */
        self->log = NULL;
        Py_RETURN_NONE;
    }
    if (close_check(self, NULL) == NULL)
        return NULL;
    self->closing = 1;
    self->closer = PyThread_get_thread_ident();
    while (self->busy) {
        durlog_interrupt(self->log);
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    durlog *log = self->log;
    int rc;
    char msg[512];
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_close(log);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", durlog_last_errmsg());
    Py_END_ALLOW_THREADS
    self->log = NULL;
    self->closing = 0;
    if (rc < 0)
        return pd_raise(rc, msg);
    Py_RETURN_NONE;
}

static void log_dealloc(LogObject *self)
{
    if (self->weakrefs)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->log && self->generation == pd_fork_generation) {
        durlog *log = self->log;
        self->log = NULL;
        Py_BEGIN_ALLOW_THREADS
        durlog_close(log);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- appending ---------------------------------------------------------- */

/* The level asked for, DURLOG_DEFAULT resolved to the handle's. */
static int level_arg(LogObject *self, PyObject *obj, durlog_level *out)
{
    if (pd_level(obj, out) < 0)
        return -1;
    if (*out == DURLOG_DEFAULT)
        *out = self->level;
    return 0;
}

/* (data, level=None) from a vectorcall's arguments. */
static int data_level_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                           const char *fn, PyObject **data, PyObject **level)
{
    *level = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes the data and an optional level", fn);
        return -1;
    }
    *data = args[0];
    if (nargs == 2)
        *level = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i);
        if (nargs == 1 && PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "level") == 0) {
            *level = args[nargs + i];
        } else {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fn, k);
            return -1;
        }
    }
    return 0;
}

static PyObject *seq_result(uint64_t seq)
{
    if (seq == DURLOG_SEQ_PENDING)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(seq);
}

static PyObject *log_append(LogObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    PyObject *data_obj, *level_obj;
    durlog_level level;
    if (data_level_args(args, nargs, kwnames, "append", &data_obj, &level_obj) < 0 ||
        level_arg(self, level_obj, &level) < 0 || !usable(self))
        return NULL;
    pd_data d;
    if (pd_data_get(data_obj, &d) < 0)
        return NULL;
    uint64_t seq = 0;
    int rc;
    if (level == DURLOG_SYNC) {
        self->busy++;
        Py_BEGIN_ALLOW_THREADS
        rc = durlog_append(self->log, d.buf, (size_t)d.len, level, &seq);
        Py_END_ALLOW_THREADS
        self->busy--;
    } else {
        rc = durlog_append(self->log, d.buf, (size_t)d.len, level, &seq);
    }
    pd_data_release(&d);
    if (rc == DURLOG_ENOTDURABLE)
        return pd_raise_seq(rc, durlog_errmsg(self->log), seq);
    if (rc < 0)
        return log_error(self, rc);
    return seq_result(seq);
}

/* The records of an iterable, as iovecs: *count of them in *iov and *views
 * (free with batch_free). */
static int batch_get(PyObject *records, PyObject **seq_out, durlog_iov **iov_out,
                     pd_data **data_out, Py_ssize_t *count)
{
    if (PyBytes_Check(records) || PyUnicode_Check(records) || PyByteArray_Check(records) ||
        PyMemoryView_Check(records)) {
        PyErr_SetString(PyExc_TypeError, "append_many() takes an iterable of records, not one "
                        "record (use append())");
        return -1;
    }
    /* A tuple of our own, never the caller's list: the records' bytes are
     * used without the GIL (a sync batch, the full-queue retry of an async
     * one), and another thread may empty the list meanwhile, freeing them. */
    PyObject *fast = PySequence_Fast(records, "append_many() takes an iterable of records");
    if (!fast)
        return -1;
    PyObject *seq = fast;
    if (PyList_Check(fast)) {
        seq = PyList_AsTuple(fast);
        Py_DECREF(fast);
        if (!seq)
            return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (n == 0) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "append_many() of no records");
        return -1;
    }
    durlog_iov *iov = PyMem_Malloc((size_t)n * sizeof *iov);
    pd_data *data = PyMem_Malloc((size_t)n * sizeof *data);
    if (!iov || !data) {
        PyMem_Free(iov);
        PyMem_Free(data);
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (pd_data_get(items[i], &data[i]) < 0) {
            while (i-- > 0)
                pd_data_release(&data[i]);
            PyMem_Free(iov);
            PyMem_Free(data);
            Py_DECREF(seq);
            return -1;
        }
        iov[i].data = data[i].buf;
        iov[i].len = (size_t)data[i].len;
    }
    *seq_out = seq;
    *iov_out = iov;
    *data_out = data;
    *count = n;
    return 0;
}

static void batch_free(PyObject *seq, durlog_iov *iov, pd_data *data, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        pd_data_release(&data[i]);
    PyMem_Free(iov);
    PyMem_Free(data);
    Py_DECREF(seq);
}

static PyObject *log_append_many(LogObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    PyObject *records, *level_obj;
    durlog_level level;
    if (data_level_args(args, nargs, kwnames, "append_many", &records, &level_obj) < 0 ||
        level_arg(self, level_obj, &level) < 0 || !usable(self))
        return NULL;
    PyObject *seq_list;
    durlog_iov *iov;
    pd_data *data;
    Py_ssize_t n;
    if (batch_get(records, &seq_list, &iov, &data, &n) < 0)
        return NULL;
    if (!usable(self)) { /* the iterable's code closed the log */
        batch_free(seq_list, iov, data, n);
        return NULL;
    }
    uint64_t first = 0;
    int rc;
    if (level == DURLOG_SYNC) {
        self->busy++;
        Py_BEGIN_ALLOW_THREADS
        rc = durlog_append_batch(self->log, iov, (size_t)n, level, &first);
        Py_END_ALLOW_THREADS
        self->busy--;
    } else {
        rc = durlog_append_batch(self->log, iov, (size_t)n, level, &first);
    }
    batch_free(seq_list, iov, data, n);
    if (rc == DURLOG_ENOTDURABLE)
        return pd_raise_seq(rc, durlog_errmsg(self->log), first);
    if (rc < 0)
        return log_error(self, rc);
    return seq_result(first);
}

static PyObject *log_flush(LogObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"level", NULL};
    PyObject *level_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", names, &level_obj))
        return NULL;
    durlog_level level = DURLOG_KERNEL;
    if (level_obj && pd_level(level_obj, &level) < 0)
        return NULL;
    if (level == DURLOG_DEFAULT)
        level = self->level;
    if (!usable(self))
        return NULL;
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_flush(self->log, level);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0)
        return log_error(self, rc);
    Py_RETURN_NONE;
}

static PyObject *log_wait(LogObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"seq", "level", "timeout", NULL};
    PyObject *seq_obj, *level_obj = NULL, *timeout_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO", names, &seq_obj, &level_obj, &timeout_obj))
        return NULL;
    uint64_t seq;
    durlog_level level = DURLOG_SYNC;
    int timeout;
    if (pd_seq(seq_obj, &seq) < 0 || (level_obj && pd_level(level_obj, &level) < 0) ||
        pd_timeout_ms(timeout_obj, &timeout) < 0 || !usable(self))
        return NULL;
    if (level == DURLOG_DEFAULT)
        level = self->level;
    int64_t deadline = timeout < 0 ? -1 : pd_now_ms() + timeout;
    int rc;
    self->busy++;
    for (;;) {
        int slice = PD_SLICE_MS;
        if (deadline >= 0) {
            int64_t left = deadline - pd_now_ms();
            slice = left < 0 ? 0 : left < slice ? (int)left : slice;
        }
        Py_BEGIN_ALLOW_THREADS
        rc = durlog_wait(self->log, seq, level, slice);
        Py_END_ALLOW_THREADS
        if (rc != -ETIMEDOUT || (deadline >= 0 && pd_now_ms() >= deadline))
            break;
        /* Not busy while a signal handler runs: it may close this Log (a
         * close() waiting for its own thread's wait would never end). */
        self->busy--;
        if (PyErr_CheckSignals() < 0)
            return NULL;
        if (!usable(self))
            return NULL;
        self->busy++;
    }
    self->busy--;
    if (rc == -EINTR && self->closing)
        return closed_error();
    if (rc < 0)
        return log_error(self, rc);
    Py_RETURN_NONE;
}

static PyObject *log_interrupt(LogObject *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    durlog_interrupt(self->log);
    Py_RETURN_NONE;
}

/* ---- asynchronous appends ---------------------------------------------- */

/* Runs the completions that are ready, on this thread. With timeout 0 it
 * keeps the GIL, so a whole batch runs in one GIL hold. The library lets
 * one thread at a time run a handle's callbacks and makes the others wait
 * for it: a thread holding the GIL must not wait for one that needs the GIL
 * to finish its callbacks, so while another thread is polling, a poll with
 * the GIL returns 0 at once (that thread delivers what is ready). */
static int poll_ready(LogObject *self, int timeout_ms)
{
    unsigned long me = PyThread_get_thread_ident();
    if (timeout_ms == 0 && self->poll_depth && self->poll_thread != me)
        return 0;
    int rc;
    unsigned long outer = self->poll_thread;
    self->poll_depth++;
    self->poll_thread = me;
    if (timeout_ms == 0) {
        /* Busy too: a callback may give up the GIL, and another thread's
         * close() must not free the handle under this durlog_poll. */
        self->busy++;
        rc = durlog_poll(self->log, 0);
        self->busy--;
    } else {
        self->busy++;
        Py_BEGIN_ALLOW_THREADS
        rc = durlog_poll(self->log, timeout_ms);
        Py_END_ALLOW_THREADS
        self->busy--;
    }
    if (--self->poll_depth)
        self->poll_thread = outer;
    return rc;
}

/* _append_async(data, level, future, many=False, loop=None, thread=0) ->
 * first seq: the future is settled with the seq once the record (or batch)
 * reached the level, or with the error that stopped it. */
static PyObject *log_append_async(LogObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 3 || nargs > 6) {
        PyErr_SetString(PyExc_TypeError, "_append_async(data, level, future, many, loop, thread)");
        return NULL;
    }
    PyObject *data_obj = args[0], *level_obj = args[1], *future = args[2];
    int many = nargs > 3 ? PyObject_IsTrue(args[3]) : 0;
    PyObject *loop = nargs > 4 && args[4] != Py_None ? args[4] : NULL;
    unsigned long thread = nargs > 5 ? PyLong_AsUnsignedLong(args[5]) : 0;
    if (many < 0 || (thread == (unsigned long)-1 && PyErr_Occurred()))
        return NULL;
    durlog_level level;
    if (level_arg(self, level_obj, &level) < 0 || !usable(self))
        return NULL;
    if (level == DURLOG_BUFFERED) {
        PyErr_SetString(PyExc_ValueError, "an asynchronous append needs level kernel, interval "
                        "or sync (buffered records have no completion)");
        return NULL;
    }
    PyObject *seq_list = NULL;
    durlog_iov *iov = NULL;
    pd_data *data = NULL, one;
    Py_ssize_t n = 1;
    if (many ? batch_get(data_obj, &seq_list, &iov, &data, &n) : pd_data_get(data_obj, &one))
        return NULL;
    if (!usable(self)) { /* the iterable's code closed the log */
        if (many)
            batch_free(seq_list, iov, data, n);
        else
            pd_data_release(&one);
        return NULL;
    }
    completion_ctx *c = PyMem_RawMalloc(sizeof *c);
    if (!c) {
        if (many)
            batch_free(seq_list, iov, data, n);
        else
            pd_data_release(&one);
        return PyErr_NoMemory();
    }
    c->future = future;
    c->loop = loop;
    c->thread = thread;
    c->log = self->log;
    Py_INCREF(future);
    Py_XINCREF(loop);
    uint64_t seq = 0;
    int rc;
    int64_t give_up = pd_now_ms() + 60000;
    for (;;) {
        if (many)
            rc = durlog_append_batch_async(self->log, iov, (size_t)n, level, completion, c, &seq);
        else
            rc = durlog_append_async(self->log, one.buf, (size_t)one.len, level, completion, c,
                                     &seq);
        if (rc != -EAGAIN || pd_now_ms() > give_up)
            break;
        /* The completion queue is full: deliver some, then try again. */
        int prc = poll_ready(self, 10);
        if (prc < 0 && prc != -EINTR) {
            rc = prc;
            break;
        }
        /* A signal handler may close the log (then self->log is NULL and
         * closing is 0 again). */
        if (PyErr_CheckSignals() < 0 || !self->log || self->closing) {
            rc = 1;
            break;
        }
    }
    if (many)
        batch_free(seq_list, iov, data, n);
    else
        pd_data_release(&one);
    if (rc != 0) { /* nothing appended: the callback will not run */
        Py_DECREF(c->future);
        Py_XDECREF(c->loop);
        PyMem_RawFree(c);
    }
    if (rc == 1)
        return PyErr_Occurred() ? NULL : closed_error();
    if (rc < 0)
        return log_error(self, rc);
    return PyLong_FromUnsignedLongLong(seq);
}

/* _set_settle(fn): the Python function that settles futures on the rare
 * paths (errors, another thread). */
static PyObject *log_set_settle(PyObject *cls, PyObject *fn)
{
    (void)cls;
    Py_INCREF(fn);
    Py_XSETREF(settle_fn, fn);
    Py_RETURN_NONE;
}

static PyObject *log_poll(LogObject *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    int rc = poll_ready(self, 0);
    if (PyErr_Occurred())
        return NULL;
    if (rc < 0)
        return log_error(self, rc);
    return PyLong_FromLong(rc);
}

/* _wait_event(timeout_seconds) -> bool: waits, without the GIL, for the
 * event fd to become readable (completions ready). */
static PyObject *log_wait_event(LogObject *self, PyObject *arg)
{
    int timeout;
    if (pd_timeout_ms(arg, &timeout) < 0 || !usable(self))
        return NULL;
    int fd = durlog_event_fd(self->log);
    if (fd < 0)
        return log_error(self, fd);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = poll(&p, 1, timeout);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0 && errno != EINTR)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyBool_FromLong(rc > 0);
}

static PyObject *log_get_event_fd(LogObject *self, void *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    int fd = durlog_event_fd(self->log);
    if (fd < 0)
        return log_error(self, fd);
    return PyLong_FromLong(fd);
}

/* ---- facts, trims, retention -------------------------------------------- */

PyObject *pd_info_tuple(const durlog_info *i)
{
    return Py_BuildValue("(KKKKKKK)", (unsigned long long)i->first_seq,
                         (unsigned long long)i->next_seq, (unsigned long long)i->durable_seq,
                         (unsigned long long)i->segments, (unsigned long long)i->bytes,
                         (unsigned long long)i->disk_bytes, (unsigned long long)i->missing);
}

PyObject *pd_retention_tuple(const durlog_retention *r)
{
    return Py_BuildValue("(KKK)", (unsigned long long)r->max_bytes,
                         (unsigned long long)r->max_age_ns,
                         (unsigned long long)r->cursor_cap_bytes);
}

static PyObject *log_info(LogObject *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    durlog_info info;
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_get_info(self->log, &info);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0)
        return log_error(self, rc);
    return pd_info_tuple(&info);
}

static PyObject *log_trim(LogObject *self, PyObject *arg)
{
    uint64_t before;
    if (pd_seq(arg, &before) < 0 || !usable(self))
        return NULL;
    uint64_t first = 0;
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_trim(self->log, before, &first);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0)
        return log_error(self, rc);
    return PyLong_FromUnsignedLongLong(first);
}

/* _trim_retention(max_bytes, max_age_ns, cursor_cap_bytes) -> first seq */
/* (max_bytes, max_age_ns, cursor_cap_bytes), 0 meaning no limit: the
 * Python layer (_retention_args) has checked their types and ranges. */
static int retention_args(PyObject *args, durlog_retention *r)
{
    unsigned long long max_bytes, max_age_ns, cap;
    if (!PyArg_ParseTuple(args, "KKK", &max_bytes, &max_age_ns, &cap))
        return -1;
    memset(r, 0, sizeof *r);
    r->max_bytes = max_bytes;
    r->max_age_ns = max_age_ns;
    r->cursor_cap_bytes = cap;
    return 0;
}

static PyObject *log_trim_retention(LogObject *self, PyObject *args)
{
    durlog_retention r;
    if (retention_args(args, &r) < 0 || !usable(self))
        return NULL;
    uint64_t first = 0;
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_trim_retention(self->log, &r, &first);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0)
        return log_error(self, rc);
    return PyLong_FromUnsignedLongLong(first);
}

static PyObject *log_set_retention(LogObject *self, PyObject *args)
{
    durlog_retention r;
    if (retention_args(args, &r) < 0 || !usable(self))
        return NULL;
    int rc;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_set_retention(self->log, &r);
    Py_END_ALLOW_THREADS
    self->busy--;
    if (rc < 0)
        return log_error(self, rc);
    Py_RETURN_NONE;
}

static PyObject *log_get_retention(LogObject *self, PyObject *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    durlog_retention r;
    int rc = durlog_get_retention(self->log, &r);
    if (rc < 0)
        return log_error(self, rc);
    return pd_retention_tuple(&r);
}

/* ---- attributes --------------------------------------------------------- */

static PyObject *log_get_closed(LogObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(!self->log || self->closing);
}

static PyObject *log_get_level(LogObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromLong(self->level);
}

static PyObject *log_get_engine(LogObject *self, void *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    return PyUnicode_FromString(durlog_engine(self->log));
}

static PyObject *log_get_io(LogObject *self, void *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    return PyUnicode_FromString(durlog_io(self->log));
}

static PyObject *log_get_recovery(LogObject *self, void *unused)
{
    (void)unused;
    if (!usable(self))
        return NULL;
    durlog_recovery r;
    durlog_last_recovery(self->log, &r);
    return Py_BuildValue("(iKKsKs)", r.performed, (unsigned long long)r.bytes_cut,
                         (unsigned long long)r.segments_removed, r.segment,
                         (unsigned long long)r.offset, r.side_file);
}

static PyMethodDef log_methods[] = {
    {"append", (PyCFunction)(void (*)(void))log_append, METH_FASTCALL | METH_KEYWORDS,
     "append(data, level=None) -> seq\n\n"
     "Appends one record (bytes, bytearray, memoryview or str as UTF-8) at `level`\n"
     "(the log's default level when None) and returns its sequence number, or None\n"
     "for a `buffered` record (numbered when it is flushed). When it returns, the\n"
     "record is where the level says: `kernel` survives the process being killed,\n"
     "`sync` survives power loss. Raises durlog.NotDurableError (with .seq) if the\n"
     "record was appended but its sync failed: do not append it again."},
    {"append_many", (PyCFunction)(void (*)(void))log_append_many, METH_FASTCALL | METH_KEYWORDS,
     "append_many(records, level=None) -> first seq\n\n"
     "Appends an iterable of records as one batch: consecutive sequence numbers, all\n"
     "or none visible, one fdatasync for a `sync` batch."},
    {"flush", (PyCFunction)(void (*)(void))log_flush, METH_VARARGS | METH_KEYWORDS,
     "flush(level='kernel')\n\n"
     "Brings everything appended through this Log, and every record before it, to\n"
     "`level`: 'kernel' hands buffered records to the kernel, 'sync' makes the log\n"
     "durable before returning."},
    {"wait", (PyCFunction)(void (*)(void))log_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(seq, level='sync', timeout=None)\n\n"
     "Waits until record `seq` has reached `level` (for 'sync', runs the fdatasync\n"
     "if nobody else is). timeout in seconds bounds the wait for the record to be\n"
     "published (TimeoutError). Ctrl-C interrupts it."},
    {"interrupt", (PyCFunction)log_interrupt, METH_NOARGS,
     "interrupt()\n\nMakes waits blocked on this Log raise InterruptedError now."},
    {"_append_async", (PyCFunction)(void (*)(void))log_append_async, METH_FASTCALL, "Internal."},
    {"_set_settle", (PyCFunction)log_set_settle, METH_O | METH_STATIC, "Internal."},
    {"_poll", (PyCFunction)log_poll, METH_NOARGS, "Internal: run the ready completions."},
    {"_wait_event", (PyCFunction)log_wait_event, METH_O, "Internal."},
    {"_info", (PyCFunction)log_info, METH_NOARGS, "Internal."},
    {"trim", (PyCFunction)log_trim, METH_O,
     "trim(before_seq) -> first seq\n\n"
     "Removes whole segments all of whose records are below before_seq (never the\n"
     "tail segment); returns the log's first record afterwards."},
    {"_trim_retention", (PyCFunction)log_trim_retention, METH_VARARGS, "Internal."},
    {"_set_retention", (PyCFunction)log_set_retention, METH_VARARGS, "Internal."},
    {"_get_retention", (PyCFunction)log_get_retention, METH_NOARGS, "Internal."},
    {"_close_check", (PyCFunction)close_check, METH_NOARGS, "Internal."},
    {"close", (PyCFunction)log_close, METH_NOARGS,
     "close()\n\n"
     "Flushes buffered records, keeps the `interval` promise, and frees the handle.\n"
     "Waits for calls other threads are making on this Log to end (it interrupts\n"
     "their waits first). Closing twice does nothing."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef log_getset[] = {
    {"closed", (getter)log_get_closed, NULL, "True once close() was called.", NULL},
    {"_level", (getter)log_get_level, NULL, "Internal.", NULL},
    {"engine", (getter)log_get_engine, NULL, "'io_uring' or 'thread'.", NULL},
    {"io", (getter)log_get_io, NULL, "'mmap' or 'pwrite'.", NULL},
    {"event_fd", (getter)log_get_event_fd, NULL,
     "A descriptor that polls readable when asynchronous completions are ready.", NULL},
    {"_recovery", (getter)log_get_recovery, NULL, "Internal.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject log_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durlog._durlog._Log",
    .tp_basicsize = sizeof(LogObject),
    .tp_dealloc = (destructor)log_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The C core of durlog.Log (use durlog.open()).",
    .tp_weaklistoffset = offsetof(LogObject, weakrefs),
    .tp_methods = log_methods,
    .tp_getset = log_getset,
    .tp_init = (initproc)log_init,
    .tp_new = PyType_GenericNew,
};

int pd_log_init(PyObject *module)
{
    str_set_result = PyUnicode_InternFromString("set_result");
    if (!str_set_result)
        return -1;
    if (PyType_Ready(&log_type) < 0)
        return -1;
    Py_INCREF(&log_type);
    if (PyModule_AddObject(module, "_Log", (PyObject *)&log_type) < 0) {
        Py_DECREF(&log_type);
        return -1;
    }
    return 0;
}
