"""Writing: durlog.open() and durlog.Log, with asynchronous appends as
concurrent.futures.Future and as asyncio futures."""
import asyncio
import atexit
import concurrent.futures
import enum
import os
import threading
import weakref
from typing import NamedTuple

from . import _durlog
from ._errors import make_error


class Level(enum.IntEnum):
    """Where a record is when its append returns (durlog.h durlog_level)."""
    BUFFERED = 1   #: in this process's memory; lost if it dies
    KERNEL = 2     #: in the kernel's page cache: survives kill -9, visible at once
    INTERVAL = 3   #: as KERNEL, made durable within interval_ms by a background sync
    SYNC = 4       #: on stable storage: survives power loss (group commit)

    def __str__(self):
        return self.name.lower()


class Info(NamedTuple):
    """Facts about a log (durlog_info)."""
    first_seq: int      #: first record still in the log
    next_seq: int       #: the number the next record will get
    durable_seq: int    #: records below it are known to be on stable storage
    segments: int
    bytes: int          #: bytes of records, headers included
    disk_bytes: int     #: bytes the segment files occupy on disk
    missing: int        #: records no segment holds (a gap: damage)


class Recovery(NamedTuple):
    """What opening the log found and repaired (durlog_recovery)."""
    performed: bool
    bytes_cut: int
    segments_removed: int
    segment: str
    offset: int
    side_file: str


class Retention(NamedTuple):
    """A log's retention settings (None: no limit)."""
    max_bytes: object   #: int or None
    max_age: object     #: seconds (float) or None
    cursor_cap: object  #: bytes (int) or None


def _retention_args(max_bytes, max_age, cursor_cap):
    def count(name, v):
        if v is None:
            return 0
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("%s is an int or None, not %s" % (name, type(v).__name__))
        if v <= 0:
            raise ValueError("%s must be positive (None: no limit)" % name)
        return v
    age = 0
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, (int, float)):
            raise TypeError("max_age is a number of seconds or None")
        if not max_age > 0:
            raise ValueError("max_age must be positive (None: no limit)")
        age = max(1, int(max_age * 1e9))
    return count("max_bytes", max_bytes), age, count("cursor_cap", cursor_cap)


def _retention(t):
    b, age, cap = t
    return Retention(b or None, age / 1e9 if age else None, cap or None)


_ENGINES = {"auto": 0, "io_uring": 1, "thread": 2}
_IO_MODES = {"auto": 0, "mmap": 1, "pwrite": 2}
_open_logs = weakref.WeakSet()


def open(path, level="kernel", *, segment_size=None, interval_ms=None, mode=None, create=True,
         buffer_size=None, engine="auto", io="auto", max_pending=None,
         allow_foreign_owner=False):
    """Opens (creating unless create=False) the log in directory `path` for
    appending, at default durability `level` ('buffered', 'kernel',
    'interval', 'sync' or a durlog.Level). Returns a Log, a context manager
    that closes it. Options as durlog.h's durlog_options: segment_size
    (bytes, default 64 MiB), interval_ms (for 'interval', default 1000),
    mode (permissions of a new log, default 0o644), buffer_size (of
    'buffered' records, default 64 KiB), engine ('auto', 'io_uring',
    'thread'), io ('auto', 'mmap', 'pwrite'), max_pending (asynchronous
    completions in flight, default 65536)."""
    return Log(path, level, segment_size=segment_size, interval_ms=interval_ms, mode=mode,
               create=create, buffer_size=buffer_size, engine=engine, io=io,
               max_pending=max_pending, allow_foreign_owner=allow_foreign_owner)


def _nonneg(name, v, top=2**64 - 1):
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("%s is an int, not %s" % (name, type(v).__name__))
    if not 0 <= v <= top:
        raise ValueError("%s must be between 0 and %#o" % (name, top) if name == "mode" else
                         "%s must be between 0 and %d" % (name, top))
    return v


class Log(_durlog._Log):
    """A log opened for appending (durlog.open()). Safe to share between
    threads: their `sync` appends share fdatasyncs (group commit). Close it
    (or use `with`): close flushes `buffered` records and keeps the
    `interval` promise. A Log opened before os.fork() cannot be used in the
    child (its background threads stayed in the parent): open it again
    there; in the child, close() only forgets it."""

    def __init__(self, path, level="kernel", *, segment_size=None, interval_ms=None, mode=None,
                 create=True, buffer_size=None, engine="auto", io="auto", max_pending=None,
                 allow_foreign_owner=False):
        if engine not in _ENGINES:
            raise ValueError("engine is 'auto', 'io_uring' or 'thread', not %r" % (engine,))
        if io not in _IO_MODES:
            raise ValueError("io is 'auto', 'mmap' or 'pwrite', not %r" % (io,))
        shown = os.fsdecode(os.fspath(path)) if not isinstance(path, str) else path
        super().__init__(path, level, _nonneg("segment_size", segment_size),
                         _nonneg("interval_ms", interval_ms, 2**32 - 1),
                         _nonneg("mode", mode, 0o7777),
                         bool(create), _nonneg("buffer_size", buffer_size, 2**63 - 1), _ENGINES[engine],
                         _IO_MODES[io], _nonneg("max_pending", max_pending, 2**63 - 1),
                         1 if allow_foreign_owner else 0)
        self.path = shown   # not before: a second __init__ refused keeps the old one
        self._lock = threading.Lock()
        self._dispatcher = None
        self._loops = weakref.WeakKeyDictionary()
        self._loop = None
        _open_logs.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return "<durlog.Log %r %s level=%s>" % (self.path, state, self.level)

    @property
    def level(self):
        """The default level of appends that name none."""
        return Level(self._level)

    @property
    def recovery(self):
        """What this Log's open found and repaired (durlog.Recovery)."""
        r = self._recovery
        return Recovery(bool(r[0]), *r[1:])

    def info(self):
        """Facts about the log (durlog.Info)."""
        return Info(*self._info())

    def trim_retention(self, max_bytes=None, max_age=None, cursor_cap=None):
        """Trims once what these limits allow (keeping what named cursors
        have not consumed, up to cursor_cap bytes). Returns the first seq."""
        return self._trim_retention(*_retention_args(max_bytes, max_age, cursor_cap))

    def set_retention(self, max_bytes=None, max_age=None, cursor_cap=None):
        """Stores retention settings with the log (durlog.retention), which
        every writer applies in the background; all None: no limits."""
        self._set_retention(*_retention_args(max_bytes, max_age, cursor_cap))

    def get_retention(self):
        """The log's retention settings (durlog.Retention)."""
        return _retention(self._get_retention())

    def close(self):
        # From a completion of this Log (a future's done-callback) close()
        # is refused: refused before the completion thread is told to stop,
        # or the futures still in flight would never be settled.
        self._close_check()
        with self._lock:
            d, self._dispatcher = self._dispatcher, None
            loops, self._loops = dict(self._loops), weakref.WeakKeyDictionary()
            self._loop = None
        if loops and not self.closed:
            fd = self.event_fd
            for loop, thread in loops.items():
                try:
                    if thread == threading.get_ident():
                        loop.remove_reader(fd)
                    else:
                        loop.call_soon_threadsafe(loop.remove_reader, fd)
                except Exception:   # a loop closed meanwhile
                    pass
        super().close()
        if d is not None and d is not threading.current_thread():
            d.join()

    # ---- asynchronous appends -------------------------------------------

    def append_async(self, data, level="sync"):
        """Appends `data` now (it is in the kernel, visible to readers, when
        this returns) and returns a concurrent.futures.Future that resolves
        to its seq once it reached `level` (default 'sync': on stable
        storage), or to the durlog.Error that stopped it. Completions are
        delivered by one thread per Log, in batches."""
        fut = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        if self._dispatcher is None:
            self._ensure_dispatcher()
        self._append_async(data, level, fut)
        return fut

    def append_many_async(self, records, level="sync"):
        """As append_async for a batch (append_many): the Future resolves to
        the first seq."""
        fut = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        if self._dispatcher is None:
            self._ensure_dispatcher()
        self._append_async(records, level, fut, True)
        return fut

    def _ensure_dispatcher(self):
        with self._lock:
            if self._dispatcher is None and not self.closed:
                # The thread holds the Log weakly (not through a bound
                # method), so a Log dropped unclosed is still collected.
                t = threading.Thread(target=_dispatch, args=(weakref.ref(self),),
                                     name="durlog-completions", daemon=True)
                self._dispatcher = t
                t.start()

    def append_durable(self, data, level="sync"):
        """For asyncio: appends `data` now and returns an asyncio future
        (await it) resolving to its seq once it reached `level` (default
        'sync'). Completions are driven by the Log's event fd registered
        with the running loop (loop.add_reader), not by a thread: one
        coroutine can keep thousands of records in flight:

            futs = [log.append_durable(r) for r in records]
            seqs = await asyncio.gather(*futs)
        """
        loop = _get_running_loop()
        if loop is not self._loop or loop is None:
            self._use_loop(loop)
        fut = loop.create_future()
        self._append_async(data, level, fut, False, loop, threading.get_ident())
        return fut

    def append_many_durable(self, records, level="sync"):
        """As append_durable for a batch: the future resolves to the first
        seq of the batch."""
        loop = _get_running_loop()
        if loop is not self._loop or loop is None:
            self._use_loop(loop)
        fut = loop.create_future()
        self._append_async(records, level, fut, True, loop, threading.get_ident())
        return fut

    def _use_loop(self, loop):
        if loop is None:
            raise RuntimeError("append_durable() needs a running asyncio loop (use "
                               "append_async() from threads)")
        if loop not in self._loops:
            fd = self.event_fd
            ref = weakref.ref(self)

            def ready():
                log = ref()
                if log is None or log.closed:
                    loop.remove_reader(fd)
                    return
                log._poll()
            loop.add_reader(fd, ready)
            with self._lock:
                self._loops[loop] = threading.get_ident()
        self._loop = loop


def _dispatch(ref):
    # A Log's completion thread: waits on the event fd without the GIL, then
    # runs every ready completion in one GIL hold.
    while True:
        log = ref()
        if log is None or log._dispatcher is None or log.closed:
            return
        try:
            if log._wait_event(0.1):
                log._poll()
        except ValueError:      # closed meanwhile
            return
        del log


def _settle(fut, seq, status, loop, message=""):
    # The rare paths of a completion (durlog's C core settles the common
    # one itself): a failure, or an asyncio future completed on a thread
    # other than its loop's.
    if loop is not None and _get_running_loop() is not loop:
        try:
            loop.call_soon_threadsafe(_settle, fut, seq, status, loop, message)
        except RuntimeError:    # the loop is closed: nobody can await it
            pass
        return
    if fut.done():
        return
    if status == 0:
        fut.set_result(seq)
    else:
        fut.set_exception(make_error(status, message or "asynchronous append of record %d: %s"
                                     % (seq, _durlog.strerror(status)), seq))


_durlog._Log._set_settle(_settle)
_get_running_loop = asyncio._get_running_loop


@atexit.register
def _close_all():
    # Buffered records reach the kernel and the interval promise is kept
    # even when a program ends without closing its logs.
    for log in list(_open_logs):
        try:
            log.close()
        except Exception:
            pass


def _after_fork():
    _durlog._forked()
    _open_logs.clear()


os.register_at_fork(after_in_child=_after_fork)
