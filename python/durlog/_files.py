"""Whole files written safely (durlog.put, durlog.atomic_open) and checking
a log (durlog.check)."""
import io
import os
import stat
from typing import NamedTuple

from . import _durlog

_NO_SYNC, _SET_MODE = 1, 2
_CHUNK = 1 << 20


def _flags(mode, sync):
    flags = 0 if sync else _NO_SYNC
    if mode is not None:
        if isinstance(mode, bool) or not isinstance(mode, int):
            raise TypeError("mode is an int (permission bits, e.g. 0o644) or None")
        if not 0 <= mode <= 0o7777:
            raise ValueError("mode is a permission mask between 0 and 0o7777")
        flags |= _SET_MODE
    return flags, mode or 0


def _size_hint(size_hint):
    if size_hint is None:
        return 0
    if isinstance(size_hint, bool) or not isinstance(size_hint, int):
        raise TypeError("size_hint is an int (bytes) or None")
    if not 0 <= size_hint < 2**63:
        raise ValueError("size_hint is a number of bytes, 0 or more")
    return size_hint


def _check_progress(progress):
    if progress is not None and not callable(progress):
        raise TypeError("progress is a callable(done, total) or None")


def put(path, data, mode=None, progress=None, *, sync=True, size_hint=None):
    """Replaces the file at `path` with `data`, atomically and durably: after
    a crash or power loss at any moment, path holds the old content or the
    new one, whole (written to a temporary file, fsynced, renamed over path,
    directory fsynced). `data` is bytes-like or str, a binary file object
    (a real file is copied inside the kernel), or an iterable of bytes.
    mode: permission bits of the new file (default: the old file's, or
    0o666 less the umask). progress(done, total) is called as it goes (total
    None when unknown); returning True cancels the put (durlog.Error with
    errno ECANCELED) and leaves the old file untouched, as does any
    exception, Ctrl-C included. sync=False skips the fsyncs (fast, not
    crash-safe). Returns the number of bytes written."""
    flags, perm = _flags(mode, sync)
    _check_progress(progress)
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        return _durlog._put_buffer(path, data, flags, perm, progress)
    if hasattr(data, "read"):
        fd = _plain_fd(data)
        if fd is not None:
            start = os.lseek(fd, 0, os.SEEK_CUR)
            hint = _size_hint(size_hint)
            _durlog._put_fd(path, fd, flags, perm, hint, progress)
            end = os.lseek(fd, 0, os.SEEK_CUR)
            data.seek(end)  # the file object's position agrees with its descriptor's
            return end - start
    if hasattr(data, "read"):
        chunks = iter(lambda: data.read(_CHUNK), b"")
    else:
        try:
            chunks = iter(data)
        except TypeError:
            raise TypeError("put() takes bytes, str, a binary file object or an iterable of "
                            "bytes, not %s" % type(data).__name__) from None
    s = _durlog._PutStream(path, flags, perm, _size_hint(size_hint), progress)
    try:
        for chunk in chunks:
            if isinstance(chunk, str) and hasattr(data, "read"):
                raise TypeError("put() needs a binary file object (open it with 'rb')")
            s.write(chunk)
        n = s.written
        s.commit()
        return n
    finally:
        s.abort()


def _plain_fd(f):
    """The descriptor of a binary file object on a regular file, positioned
    where the caller's next read() would start (Python's buffer may have
    read ahead), for durlog to copy from inside the kernel; None for
    anything else (pipes, sockets, wrappers), which put() reads in chunks."""
    if not isinstance(f, (io.BufferedReader, io.FileIO, io.BufferedRandom)):
        return None
    try:
        fd = f.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.lseek(fd, f.tell(), os.SEEK_SET)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd


class AtomicFile(io.RawIOBase):
    """A file being written that replaces `name` only when committed (a clean
    exit from its `with` block, close() or commit()): until then the old
    file is untouched, and an exception in the block (or abort()) leaves it
    so. From durlog.atomic_open()."""

    def __init__(self, path, perm=None, progress=None, sync=True, size_hint=None):
        super().__init__()
        flags, m = _flags(perm, sync)
        _check_progress(progress)
        self.name = path if isinstance(path, str) else os.fsdecode(os.fspath(path))
        self._s = _durlog._PutStream(path, flags, m, _size_hint(size_hint), progress)

    def writable(self):
        return True

    def write(self, b):
        if isinstance(b, str):
            raise TypeError("write() of str to a binary atomic file: open it with 'w' or "
                            "encode the text")
        return self._s.write(b)

    def tell(self):
        return self._s.written

    def commit(self):
        """Makes the content durable and puts it in place (DirSyncError: in
        place, but the directory's fsync failed)."""
        try:
            self._s.commit()
        finally:
            super().close()

    def abort(self):
        """Drops what was written; the old file stays as it was."""
        self._s.abort()
        super().close()

    def close(self):
        if self._s.open:
            self.commit()
        else:
            super().close()

    def __exit__(self, t, v, tb):
        if t is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        # Never commit by accident: a file dropped without close() is
        # aborted (io.IOBase's finaliser would call close()).
        try:
            self._s.abort()
        except AttributeError:
            pass


class _AtomicText(io.TextIOWrapper):
    """The text file atomic_open(path, 'w') returns: commit on a clean exit
    or close(), abort on an exception or abort()."""

    def __exit__(self, t, v, tb):
        if t is None:
            self.close()
        else:
            self.abort()

    def commit(self):
        self.close()

    def abort(self):
        self.buffer.raw.abort()

    def __del__(self):
        try:
            self.buffer.raw.abort()
        except AttributeError:
            pass


def atomic_open(path, mode="wb", *, perm=None, progress=None, sync=True, size_hint=None,
                encoding=None):
    """Opens a new version of the file at `path` for writing: mode 'wb'
    (binary) or 'w' (text, `encoding` default UTF-8). The file replaces
    `path` atomically and durably when it is closed or its `with` block
    ends cleanly; an exception in the block, or abort(), leaves the old
    file untouched. perm, progress, sync, size_hint: as durlog.put."""
    if mode not in ("wb", "w", "bw", "wt", "tw"):
        raise ValueError("atomic_open() mode is 'wb' or 'w', not %r" % (mode,))
    raw = AtomicFile(path, perm, progress, sync, size_hint)
    if "b" in mode:
        return raw
    return _AtomicText(io.BufferedWriter(raw, _CHUNK), encoding=encoding or "utf-8")


class CheckReport(NamedTuple):
    """What durlog.check() found (durlog_check_report)."""
    records: int
    segments: int
    first_seq: int
    next_seq: int
    damaged: bool
    damage_at_tail: bool
    problem: str
    problems: int
    live: bool
    side_files: int
    old_format_segments: int
    converted: int

    def __bool__(self):
        return not self.damaged


def check(path, repair=False, *, force=False, convert=False):
    """Verifies every record of the log at `path` (as `durlog check`).
    repair=True cuts a damaged tail into a side file (needs the log to
    itself); force=True with repair also cuts damage that is not at the
    tail; convert=True rewrites segments of an older format. Returns a
    CheckReport (false when damaged)."""
    if force and not repair:
        raise ValueError("force needs repair=True")
    flags = (1 if repair else 0) | (2 if force else 0) | (4 if convert else 0)
    r = _durlog._check(path, flags)
    return CheckReport(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6], r[7], bool(r[8]),
                       r[9], r[10], r[11])
