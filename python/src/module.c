/*
 * python/src/module.c - the durlog._durlog module: what every other file
 * shares (errors, levels, timeouts, record data, paths), the module-level
 * functions that need no handle, and the test seam.
 */
#include "pydurlog.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "os.h"

PyObject *pd_error_factory;
PyObject *pd_time_factory;
unsigned long pd_fork_generation;

/* ---- errors ------------------------------------------------------------ */

static PyObject *raise_with(int code, const char *message, PyObject *seq)
{
    if (!message || !*message)
        message = durlog_strerror(code);
    if (!pd_error_factory) { /* only before the Python layer is imported */
        PyErr_Format(PyExc_OSError, "%s", message);
        return NULL;
    }
    PyObject *exc = PyObject_CallFunction(pd_error_factory, "isO", code, message, seq);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

PyObject *pd_raise(int code, const char *message)
{
    return raise_with(code, message, Py_None);
}

PyObject *pd_raise_seq(int code, const char *message, uint64_t seq)
{
    PyObject *s = PyLong_FromUnsignedLongLong(seq);
    if (!s)
        return NULL;
    raise_with(code, message, s);
    Py_DECREF(s);
    return NULL;
}

/* ---- arguments ---------------------------------------------------------- */

int pd_level(PyObject *obj, durlog_level *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = DURLOG_DEFAULT;
        return 0;
    }
    if (PyBool_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "a durability level is a durlog.Level or a str, not bool");
        return -1;
    }
    if (PyLong_Check(obj)) {
        long v = PyLong_AsLong(obj);
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (v < DURLOG_BUFFERED || v > DURLOG_SYNC) {
            PyErr_Format(PyExc_ValueError, "bad durability level %ld (1..4: buffered, kernel, "
                         "interval, sync)", v);
            return -1;
        }
        *out = (durlog_level)v;
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        const char *s = PyUnicode_AsUTF8(obj);
        if (!s)
            return -1;
        if (durlog_level_parse(s, out) == 0)
            return 0;
        PyErr_Format(PyExc_ValueError, "unknown durability level %R (buffered, kernel, "
                     "interval or sync)", obj);
        return -1;
    }
    PyErr_Format(PyExc_TypeError, "a durability level is a durlog.Level or a str, not %.100s",
                 Py_TYPE(obj)->tp_name);
    return -1;
}

int pd_seq(PyObject *obj, uint64_t *out)
{
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "a sequence number is an int, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow || v < 0) {
        PyErr_SetString(PyExc_ValueError, "a sequence number is between 0 and 2**63 - 1");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int pd_timeout_ms(PyObject *obj, int *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = -1;
        return 0;
    }
    if (PyBool_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "a timeout is a number of seconds or None, not bool");
        return -1;
    }
    double s = PyFloat_AsDouble(obj);
    if (s == -1.0 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "a timeout is a number of seconds or None, not %.100s",
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (isnan(s) || s < 0) {
        PyErr_SetString(PyExc_ValueError, "a timeout must be a non-negative number of seconds "
                        "(None: no limit)");
        return -1;
    }
    if (s > 2e6) { /* INT_MAX ms is 24.8 days */
        PyErr_SetString(PyExc_ValueError, "timeout too large (at most 2,000,000 seconds; None "
                        "for no limit)");
        return -1;
    }
    *out = (int)ceil(s * 1000.0);
    return 0;
}

int64_t pd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pd_data_get(PyObject *obj, pd_data *d)
{
    d->have_view = 0;
    if (PyBytes_CheckExact(obj)) {
        d->buf = PyBytes_AS_STRING(obj);
        d->len = PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyUnicode_Check(obj)) {
        d->buf = PyUnicode_AsUTF8AndSize(obj, &d->len);
        return d->buf ? 0 : -1;
    }
    if (PyObject_CheckBuffer(obj)) {
        if (PyObject_GetBuffer(obj, &d->view, PyBUF_C_CONTIGUOUS) < 0) {
            if (PyErr_ExceptionMatches(PyExc_BufferError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_ValueError, "a record must be one contiguous buffer "
                                "(pass bytes(view) for a strided memoryview)");
            }
            return -1;
        }
        d->have_view = 1;
        d->buf = d->view.buf;
        d->len = d->view.len;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a record is bytes, bytearray, memoryview or str, not %.100s",
                 Py_TYPE(obj)->tp_name);
    return -1;
}

void pd_data_release(pd_data *d)
{
    if (d->have_view) {
        PyBuffer_Release(&d->view);
        d->have_view = 0;
    }
}

PyObject *pd_path(PyObject *obj)
{
    PyObject *out = NULL;
    if (!PyUnicode_FSConverter(obj, &out))
        return NULL;
    if (PyBytes_GET_SIZE(out) == 0) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_ValueError, "empty path");
        return NULL;
    }
    return out;
}

/* ---- module functions -------------------------------------------------- */

static PyObject *m_set_factories(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *err, *time;
    if (!PyArg_ParseTuple(args, "OO", &err, &time))
        return NULL;
    Py_INCREF(err);
    Py_INCREF(time);
    Py_XSETREF(pd_error_factory, err);
    Py_XSETREF(pd_time_factory, time);
    Py_RETURN_NONE;
}

static PyObject *m_forked(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    pd_fork_generation++;
    Py_RETURN_NONE;
}

static PyObject *m_strerror(PyObject *self, PyObject *arg)
{
    (void)self;
    int code;
    if (!PyArg_Parse(arg, "i", &code)) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "no durlog return code is that large");
        }
        return NULL;
    }
    return PyUnicode_FromString(durlog_strerror(code));
}

static PyObject *m_fs_type(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *path = pd_path(arg);
    if (!path)
        return NULL;
    char fs[64], mode[16];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = durlog_fs_type(PyBytes_AS_STRING(path), fs, sizeof fs, mode, sizeof mode);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (rc < 0)
        return pd_raise(rc, NULL);
    return Py_BuildValue("(ss)", fs, mode);
}

static PyObject *m_version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(durlog_version());
}

/* ---- the test seam ------------------------------------------------------
 * The library's own seam (src/os.h: every system call it makes goes through
 * the dl_os table), reachable from Python so that the package's tests can
 * fail fdatasync with EIO as a dying disk does. Refused unless the
 * environment has DURLOG_PY_TEST_SEAM=1: no program fails its own syncs by
 * accident. */
static _Atomic int seam_fdatasync_errno;

static int seam_fdatasync(int fd)
{
    int e = atomic_load(&seam_fdatasync_errno);
    if (e) {
        errno = e;
        return -1;
    }
    return dl_os_real.fdatasync(fd);
}

static int seam_fsync(int fd)
{
    int e = atomic_load(&seam_fdatasync_errno);
    if (e) {
        errno = e;
        return -1;
    }
    return dl_os_real.fsync(fd);
}

/* io_uring's fsyncs bypass dl_os.fdatasync: their results pass here. */
static int seam_uring_result(int fd, int datasync, int res)
{
    (void)fd;
    (void)datasync;
    int e = atomic_load(&seam_fdatasync_errno);
    return res ? res : (e ? -e : 0);
}

static PyObject *m_test_fail_syncs(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *on = getenv("DURLOG_PY_TEST_SEAM");
    if (!on || strcmp(on, "1") != 0) {
        PyErr_SetString(PyExc_RuntimeError, "the test seam needs DURLOG_PY_TEST_SEAM=1");
        return NULL;
    }
    long e = PyLong_AsLong(arg);
    if (e == -1 && PyErr_Occurred())
        return NULL;
    atomic_store(&seam_fdatasync_errno, (int)e);
    if (e) {
        dl_os.fdatasync = seam_fdatasync;
        dl_os.fsync = seam_fsync;
        dl_os.uring_result = seam_uring_result;
    } else {
        dl_os.fdatasync = dl_os_real.fdatasync;
        dl_os.fsync = dl_os_real.fsync;
        dl_os.uring_result = dl_os_real.uring_result;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"_set_factories", m_set_factories, METH_VARARGS, "Internal: the error and time makers."},
    {"_forked", m_forked, METH_NOARGS, "Internal: called in a child after os.fork()."},
    {"_test_fail_syncs", m_test_fail_syncs, METH_O,
     "Internal (tests): make fdatasync/fsync fail with this errno (0: real again)."},
    {"strerror", m_strerror, METH_O, "strerror(code) -> str: the text of a durlog return code."},
    {"fs_type", m_fs_type, METH_O,
     "fs_type(path) -> (fs, io_mode): the file system a path is on, and the I/O mode\n"
     "durlog picks there (mmap on ext4, xfs, btrfs and tmpfs; pwrite elsewhere)."},
    {"version", m_version, METH_NOARGS, "version() -> str: the libdurlog version linked in."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "durlog._durlog",
    "The C core of the durlog package (use the durlog module).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__durlog(void);
PyMODINIT_FUNC PyInit__durlog(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyModule_AddFunctions(m, pd_files_methods) < 0 || pd_log_init(m) < 0 ||
        pd_reader_init(m) < 0 || pd_files_init(m) < 0 ||
        PyModule_AddObject(m, "MAX_RECORD", PyLong_FromSize_t(DURLOG_MAX_RECORD)) < 0 ||
        PyModule_AddObject(m, "SEQ_PENDING", PyLong_FromUnsignedLongLong(DURLOG_SEQ_PENDING)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
