"""durlog: fast, safe appends to files (Python bindings of libdurlog).

Append-only logs of records with an explicit durability level on every
append, many writers (threads and processes), live readers, checksummed
records, and whole files replaced atomically:

    import durlog
    with durlog.open("/var/tmp/events", level="kernel") as log:
        seq = log.append(b"hello")              # survives kill -9
        log.append("durable", level="sync")     # survives power loss
    for rec in durlog.reader("/var/tmp/events"):
        print(rec.seq, rec.time, rec.data)

Levels: 'buffered' (this process's memory), 'kernel' (page cache: survives
the process dying), 'interval' (made durable within interval_ms), 'sync'
(on stable storage before the call returns; concurrent syncs share one
fdatasync). See help(durlog.open), help(durlog.Log), help(durlog.reader),
help(durlog.put), help(durlog.check).
"""
from . import _durlog
from ._errors import (BlockingIOError, CorruptError, DirSyncError, Error, FailedError,
                      FileExistsError, FileNotFoundError, FormatError, InterruptedError,
                      InvalidArgumentError, IsADirectoryError, NotADirectoryError,
                      NotDurableError, NotFoundError, PermissionError, RecordTooLargeError,
                      SeqNotFoundError,
                      TimeoutError, TrimmedError, make_error)
from ._files import AtomicFile, CheckReport, atomic_open, check, put
from ._log import Info, Level, Log, Recovery, Retention, open
from ._reader import (Cursor, CursorInfo, Follow, Reader, _time_of, cursor, cursors,
                      delete_cursor, reader)

Record = _durlog.Record
MAX_RECORD = _durlog.MAX_RECORD
SEQ_PENDING = _durlog.SEQ_PENDING
strerror = _durlog.strerror
fs_type = _durlog.fs_type
__version__ = _durlog.version()

_durlog._set_factories(make_error, _time_of)

__all__ = [
    "open", "Log", "Level", "Info", "Recovery", "Retention",
    "reader", "Reader", "Record", "Follow",
    "cursor", "cursors", "delete_cursor", "Cursor", "CursorInfo",
    "put", "atomic_open", "AtomicFile", "check", "CheckReport",
    "Error", "CorruptError", "FormatError", "FailedError", "NotFoundError", "SeqNotFoundError",
    "DirSyncError", "NotDurableError", "TrimmedError", "InvalidArgumentError",
    "RecordTooLargeError",
    "FileNotFoundError", "FileExistsError", "PermissionError", "IsADirectoryError",
    "NotADirectoryError", "InterruptedError", "TimeoutError", "BlockingIOError",
    "MAX_RECORD", "SEQ_PENDING", "strerror", "fs_type",
]
