"""Reading: durlog.reader() and durlog.Reader, following a log as it grows
(in a loop or with `async for`), and named cursors."""
import asyncio
import datetime
import os
import time as _time

from . import _durlog
from ._log import Info, _retention

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _time_of(ns):
    # An aware datetime in UTC; datetime keeps microseconds (time_ns has all).
    return _EPOCH + datetime.timedelta(microseconds=ns // 1000)


def _ns(when):
    """A datetime (naive: local time, as datetime.timestamp() takes it), or
    seconds since the epoch (int or float), as ns since the epoch."""
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.astimezone()
        delta = when - _EPOCH
        ns = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    elif isinstance(when, bool) or not isinstance(when, (int, float)):
        raise TypeError("a time is a datetime or seconds since the epoch, not %s"
                        % type(when).__name__)
    elif isinstance(when, float):
        if when != when:
            raise ValueError("a time cannot be NaN")
        ns = int(when * 1e9)
    else:
        ns = when * 10**9
    if ns < 0:
        raise ValueError("a time before 1970 (the Unix epoch)")
    return ns


def reader(path, start=None, *, durable_only=False, since=None, cursor=None,
           skip_damaged=False, spin_us=0):
    """Opens a reader of the log at `path`: an iterator of durlog.Record
    (seq, time_ns, time, data) from its first record, or from seq `start`,
    or from the first record at or after `since` (a datetime or seconds
    since the epoch), or from where named `cursor` (a durlog.Cursor) left
    off. Iterating stops at the current end; follow() goes on as records
    come. durable_only: only records known to be on stable storage.
    skip_damaged: step over damage instead of raising CorruptError."""
    given = [x for x in (start, since, cursor) if x is not None]
    if len(given) > 1:
        raise ValueError("give at most one of start, since and cursor")
    r = Reader(path, durable_only=durable_only, skip_damaged=skip_damaged, spin_us=spin_us)
    try:
        if start is not None:
            r.seek(start)
        elif since is not None:
            r.seek_time(since)
        elif cursor is not None:
            r.seek_cursor(cursor)
    except BaseException:
        r.close()
        raise
    return r


class Reader(_durlog._Reader):
    """A reader of a log (durlog.reader()). It belongs to one thread at a
    time (another thread's call while it waits raises RuntimeError);
    interrupt() may be called from any thread."""

    def __init__(self, path, *, durable_only=False, skip_damaged=False, spin_us=0):
        if isinstance(spin_us, bool) or not isinstance(spin_us, int):
            raise TypeError("spin_us is an int (microseconds)")
        if not 0 <= spin_us <= 10**6:
            raise ValueError("spin_us is between 0 and 1,000,000 microseconds")
        super().__init__(path, bool(durable_only), bool(skip_damaged), spin_us)
        self.path = path if isinstance(path, str) else os.fsdecode(os.fspath(path))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<durlog.Reader %r%s>" % (self.path, " closed" if self.closed else "")

    def seek_time(self, when):
        """The next record read is the first whose time is at or after
        `when` (a datetime, or seconds since the epoch)."""
        self._seek_time(_ns(when))

    def info(self):
        """Facts about the log as the reader sees it now (durlog.Info)."""
        return Info(*self._info())

    def get_retention(self):
        """The log's retention settings (durlog.Retention)."""
        return _retention(self._get_retention())

    def follow(self, timeout=None):
        """Every record from the reader's position, then new ones as they
        are appended (woken by the writers' futex, microseconds after the
        append). Stops after `timeout` seconds without a new record (None:
        never). Works with `for` and with `async for`."""
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise TypeError("timeout is a number of seconds or None")
            if not timeout >= 0:
                raise ValueError("timeout must not be negative")
        return Follow(self, timeout)


class Follow:
    """The iterator durlog.Reader.follow() returns."""

    def __init__(self, reader, timeout):
        self._r = reader
        self._timeout = timeout

    def __iter__(self):
        return self

    def __next__(self):
        r = self._r
        rec = r.read()
        if rec is not None:
            return rec
        deadline = None if self._timeout is None else _time.monotonic() + self._timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - _time.monotonic())
            if r.wait(left):
                rec = r.read()
                if rec is not None:
                    return rec
            # Even when wait() said yes: it may, and read() find nothing
            # (the log's files removed under the reader), again and again.
            if deadline is not None and _time.monotonic() >= deadline:
                raise StopIteration

    def __aiter__(self):
        return self

    async def __anext__(self):
        # The reader's wait is a futex, which no event loop can watch: it
        # runs in the loop's default executor (one pooled thread at a time,
        # not a thread per record), in slices of 50 ms so that cancelling
        # the task returns promptly.
        r = self._r
        rec = r.read()
        if rec is not None:
            return rec
        loop = asyncio.get_running_loop()
        deadline = None if self._timeout is None else _time.monotonic() + self._timeout
        while True:
            left = 0.05 if deadline is None else min(0.05, max(0.0, deadline - _time.monotonic()))
            await loop.run_in_executor(None, r.wait, left)
            rec = r.read()
            if rec is not None:
                return rec
            if deadline is not None and _time.monotonic() >= deadline:
                raise StopAsyncIteration


class Cursor(_durlog._Cursor):
    """A named, durable consumer position of a log (durlog.cursor()): .seq is
    the next record to consume; commit(seq + 1) once record seq is done."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        if self.closed:
            return "<durlog.Cursor closed>"
        return "<durlog.Cursor %r seq=%d>" % (self.name, self.seq)


def cursor(path, name, create=False):
    """Opens named cursor `name` of the log at `path` (create=True: make it,
    at the log's first record, if it does not exist)."""
    return Cursor(path, name, bool(create))


class CursorInfo:
    """One cursor as durlog.cursors() lists it."""
    __slots__ = ("name", "error", "seq", "commit_time_ns", "lag_records", "lag_bytes",
                 "trimmed")

    def __init__(self, name, error, seq, commit_time_ns, lag_records, lag_bytes, trimmed):
        self.name, self.error, self.seq = name, error, seq
        self.commit_time_ns, self.lag_records = commit_time_ns, lag_records
        self.lag_bytes, self.trimmed = lag_bytes, trimmed

    def __repr__(self):
        return ("CursorInfo(name=%r, seq=%d, lag_records=%d, lag_bytes=%d, trimmed=%d%s)"
                % (self.name, self.seq, self.lag_records, self.lag_bytes, self.trimmed,
                   ", error=%r" % (self.error,) if self.error else ""))


def cursors(path):
    """The named cursors of the log at `path`, sorted by name: a list of
    CursorInfo (a damaged cursor file is listed with its .error)."""
    from ._errors import make_error
    out = []
    for name, status, seq, t, lag_r, lag_b, trimmed in _durlog._cursor_list(path):
        err = make_error(status, _durlog.strerror(status)) if status else None
        out.append(CursorInfo(name, err, seq, t, lag_r, lag_b, trimmed))
    return out


def delete_cursor(path, name):
    """Removes named cursor `name`, so that it no longer holds records back."""
    _durlog._cursor_delete(path, name)
