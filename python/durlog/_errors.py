"""durlog's exceptions: every one is an OSError with an errno, carrying
durlog's message (file, offset, operation) as its strerror."""
import builtins
import errno as _errno


class Error(OSError):
    """A durlog call failed. .code is durlog's return code (-errno, or one of
    durlog's own codes below -1000), .errno the POSIX errno (for durlog's own
    codes, the nearest one), .strerror durlog's message."""

    code = 0

    def __init__(self, *args):
        super().__init__(*args)

    def __reduce__(self):
        return (_rebuild, (self.code, self.strerror, getattr(self, "seq", None)))


class CorruptError(Error):
    """A record or segment failed its checksum or framing before the tail
    (DURLOG_ECORRUPT); the message names the segment and offset: run
    `durlog check`."""


class FormatError(Error):
    """Not a durlog log, or a format version this library does not read
    (DURLOG_EFORMAT)."""


class FailedError(Error):
    """The log is in the failed state after an fdatasync error, or because
    one of its files was replaced under it (DURLOG_EFAILED): close it and
    open it again. A failed fsync is never retried silently."""


class NotFoundError(Error, LookupError):
    """What was asked for is not there (DURLOG_ENOTFOUND): a sequence number
    past the log's end, a named cursor that does not exist. Also a
    LookupError."""


SeqNotFoundError = NotFoundError


class DirSyncError(Error):
    """put: the new content is in place, complete, but the fsync of its
    directory failed: the new name might not survive a power loss
    (DURLOG_EDIRSYNC)."""


class NotDurableError(Error):
    """The record WAS appended (.seq says where; readers see it) but is not
    known to have reached the level asked: its sync failed or could not be
    set up (DURLOG_ENOTDURABLE). Do not append it again: Log.wait() or
    Log.flush() retries the sync."""

    seq = None


class TrimmedError(Error):
    """The record asked for was removed by retention or a trim: it is below
    the log's first record (DURLOG_ETRIMMED)."""


# durlog's own codes (durlog.h enum durlog_error): class and nearest errno.
OWN = {
    -1001: (CorruptError, _errno.EBADMSG),
    -1003: (FormatError, _errno.EINVAL),
    -1004: (FailedError, _errno.EIO),
    -1009: (NotFoundError, _errno.ENOENT),
    -1010: (DirSyncError, _errno.EIO),
    -1011: (NotDurableError, _errno.EIO),
    -1012: (TrimmedError, _errno.ERANGE),
}

# -errno codes whose builtin OSError subclass Python has: raised as a class
# that is both durlog.Error and that builtin (durlog.FileNotFoundError is a
# builtins.FileNotFoundError), so that either except clause catches it.
_BUILTIN = {
    _errno.ENOENT: builtins.FileNotFoundError,
    _errno.EEXIST: builtins.FileExistsError,
    _errno.EACCES: builtins.PermissionError,
    _errno.EPERM: builtins.PermissionError,
    _errno.EISDIR: builtins.IsADirectoryError,
    _errno.ENOTDIR: builtins.NotADirectoryError,
    _errno.EINTR: builtins.InterruptedError,
    _errno.ETIMEDOUT: builtins.TimeoutError,
    _errno.EAGAIN: builtins.BlockingIOError,
}


class InvalidArgumentError(Error, ValueError):
    """An argument durlog refused (EINVAL): both a durlog.Error and a
    ValueError."""


class RecordTooLargeError(Error, ValueError):
    """A record above durlog.MAX_RECORD (64 MiB): EMSGSIZE; both a
    durlog.Error and a ValueError."""


def _subclass(base):
    return type(base.__name__, (Error, base), {
        "__module__": "durlog",
        "__doc__": "durlog.Error that is also a builtins.%s" % base.__name__,
    })


FileNotFoundError = _subclass(builtins.FileNotFoundError)
FileExistsError = _subclass(builtins.FileExistsError)
PermissionError = _subclass(builtins.PermissionError)
IsADirectoryError = _subclass(builtins.IsADirectoryError)
NotADirectoryError = _subclass(builtins.NotADirectoryError)
InterruptedError = _subclass(builtins.InterruptedError)
TimeoutError = _subclass(builtins.TimeoutError)
BlockingIOError = _subclass(builtins.BlockingIOError)
_FOR_BUILTIN = {b: c for c in (FileNotFoundError, FileExistsError, PermissionError,
                               IsADirectoryError, NotADirectoryError, InterruptedError,
                               TimeoutError, BlockingIOError) for b in c.__mro__[2:3]}


def make_error(code, message, seq=None):
    """The exception for durlog return code `code` (< 0) with `message`."""
    if code in OWN:
        cls, err = OWN[code]
    elif code == -_errno.EINVAL:
        cls, err = InvalidArgumentError, _errno.EINVAL
    elif code == -_errno.EMSGSIZE:
        cls, err = RecordTooLargeError, _errno.EMSGSIZE
    else:
        err = -code
        builtin = _BUILTIN.get(err)
        cls = _FOR_BUILTIN[builtin] if builtin else Error
    exc = cls(err, message)
    exc.code = code
    if seq is not None:
        exc.seq = seq
    return exc


def _rebuild(code, message, seq):
    return make_error(code, message, seq)


for _c in (Error, CorruptError, FormatError, FailedError, NotFoundError, DirSyncError,
           NotDurableError, TrimmedError, InvalidArgumentError, RecordTooLargeError):
    _c.__module__ = "durlog"
