# Type stubs for the durlog package: the whole public API of <durlog.h>,
# in Python. Docstrings live in the module itself (help(durlog)).
import asyncio
import concurrent.futures
import datetime
import enum
from types import TracebackType
from typing import (Any, AsyncIterator, Awaitable, Callable, Iterable, Iterator,
                    List, Optional, Type, Union)

__version__: str
MAX_RECORD: int            # DURLOG_MAX_RECORD, 64 MiB
SEQ_PENDING: int           # DURLOG_SEQ_PENDING: seq of a `buffered` append

Data = Union[bytes, bytearray, memoryview, str]
LevelLike = Union["Level", str]
# A progress callback: called with (done_bytes, total_bytes or None);
# return True to cancel (the put then raises CancelledError / ECANCELED).
Progress = Callable[[int, Optional[int]], Optional[bool]]

class Level(enum.IntEnum):
    BUFFERED = 1
    KERNEL = 2
    INTERVAL = 3
    SYNC = 4

# ---- errors --------------------------------------------------------------
class Error(OSError):
    code: int          # durlog's return code (negative: -errno or DURLOG_E*)
    # errno: the POSIX errno (for durlog's own codes, the nearest one)
    # strerror: durlog's message (file, offset, operation)
class CorruptError(Error): ...        # DURLOG_ECORRUPT
class FormatError(Error): ...         # DURLOG_EFORMAT
class FailedError(Error): ...         # DURLOG_EFAILED
class NotFoundError(Error, LookupError): ...  # DURLOG_ENOTFOUND: a seq past the end, no such cursor
SeqNotFoundError = NotFoundError
class DirSyncError(Error): ...        # DURLOG_EDIRSYNC
class NotDurableError(Error):         # DURLOG_ENOTDURABLE: appended, not durable
    seq: Optional[int]
class TrimmedError(Error): ...        # DURLOG_ETRIMMED
class InvalidArgumentError(Error, ValueError): ...   # -EINVAL
class RecordTooLargeError(Error, ValueError): ...    # -EMSGSIZE: above MAX_RECORD
# -errno codes raise a subclass of Error and of the builtin OSError subclass
# for that errno where Python has one, e.g. durlog.FileNotFoundError is
# (durlog.Error, builtins.FileNotFoundError); others raise Error itself.

# ---- writing -------------------------------------------------------------
class Recovery:
    performed: bool
    bytes_cut: int
    segments_removed: int
    segment: str
    offset: int
    side_file: str

class Info:
    first_seq: int
    next_seq: int
    durable_seq: int
    segments: int
    bytes: int
    disk_bytes: int
    missing: int

class Retention:
    max_bytes: Optional[int]
    max_age: Optional[float]        # seconds
    cursor_cap: Optional[int]       # bytes

def open(path: Union[str, bytes, "os.PathLike[str]"], level: LevelLike = "kernel", *,
         segment_size: Optional[int] = None, interval_ms: Optional[int] = None,
         mode: Optional[int] = None, create: bool = True,
         buffer_size: Optional[int] = None, engine: str = "auto",
         io: str = "auto", max_pending: Optional[int] = None,
         allow_foreign_owner: bool = False) -> "Log": ...

class Log:
    path: str
    level: Level                 # the handle's default level
    closed: bool
    engine: str                  # "io_uring" or "thread"
    io: str                      # "mmap" or "pwrite"
    recovery: Recovery
    event_fd: int                # readable when asynchronous completions are ready
    # seq of the record; None for a `buffered` one (numbered when flushed)
    def append(self, data: Data, level: Optional[LevelLike] = None) -> Optional[int]: ...
    def append_many(self, records: Iterable[Data], level: Optional[LevelLike] = None) -> Optional[int]: ...
    def flush(self, level: LevelLike = "kernel") -> None: ...
    def wait(self, seq: int, level: LevelLike = "sync", timeout: Optional[float] = None) -> None: ...
    def interrupt(self) -> None: ...
    def append_async(self, data: Data, level: LevelLike = "sync") -> "concurrent.futures.Future[int]": ...
    def append_many_async(self, records: Iterable[Data], level: LevelLike = "sync") -> "concurrent.futures.Future[int]": ...
    def append_durable(self, data: Data, level: LevelLike = "sync") -> "asyncio.Future[int]": ...
    def info(self) -> Info: ...
    def trim(self, before_seq: int) -> int: ...
    def trim_retention(self, max_bytes: Optional[int] = None, max_age: Optional[float] = None,
                       cursor_cap: Optional[int] = None) -> int: ...
    def set_retention(self, max_bytes: Optional[int] = None, max_age: Optional[float] = None,
                      cursor_cap: Optional[int] = None) -> None: ...
    def get_retention(self) -> Retention: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Log": ...
    def __exit__(self, t: Optional[Type[BaseException]], v: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None: ...

# ---- reading -------------------------------------------------------------
class Record:
    seq: int
    time_ns: int
    data: bytes
    @property
    def time(self) -> datetime.datetime: ...   # aware, UTC

def reader(path: Union[str, bytes, "os.PathLike[str]"], start: Optional[int] = None, *,
           durable_only: bool = False, since: Union[None, datetime.datetime, int, float] = None,
           cursor: Optional["Cursor"] = None, skip_damaged: bool = False,
           spin_us: int = 0) -> "Reader": ...

class Reader:
    path: str
    closed: bool
    skipped: int
    def __iter__(self) -> Iterator[Record]: ...     # records up to the current end
    def __next__(self) -> Record: ...
    def read(self) -> Optional[Record]: ...          # None at the current end
    def wait(self, timeout: Optional[float] = None) -> bool: ...   # False on timeout
    def follow(self, timeout: Optional[float] = None) -> "Follow": ...
    def seek(self, seq: int) -> None: ...
    def seek_time(self, when: Union[datetime.datetime, int, float]) -> None: ...
    def seek_cursor(self, cursor: "Cursor") -> None: ...
    def info(self) -> Info: ...
    def get_retention(self) -> Retention: ...
    def interrupt(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Reader": ...
    def __exit__(self, *a: Any) -> None: ...

class Follow:
    # every record, then new ones as they come; stops after `timeout`
    # seconds without a new record (None: never)
    def __iter__(self) -> Iterator[Record]: ...
    def __next__(self) -> Record: ...
    def __aiter__(self) -> AsyncIterator[Record]: ...
    async def __anext__(self) -> Record: ...

# ---- cursors -------------------------------------------------------------
class Cursor:
    name: str
    seq: int                     # next record to consume
    def commit(self, next_seq: int) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Cursor": ...
    def __exit__(self, *a: Any) -> None: ...

class CursorInfo:
    name: str
    error: Optional[Error]
    seq: int
    commit_time_ns: int
    lag_records: int
    lag_bytes: int
    trimmed: int

def cursor(path: Union[str, bytes, "os.PathLike[str]"], name: str, create: bool = False) -> Cursor: ...
def cursors(path: Union[str, bytes, "os.PathLike[str]"]) -> List[CursorInfo]: ...
def delete_cursor(path: Union[str, bytes, "os.PathLike[str]"], name: str) -> None: ...

# ---- whole files ---------------------------------------------------------
def put(path: Union[str, bytes, "os.PathLike[str]"], data: Union[Data, Any, Iterable[bytes]],
        mode: Optional[int] = None, progress: Optional[Progress] = None, *,
        sync: bool = True, size_hint: Optional[int] = None) -> int: ...   # bytes written

class AtomicFile:
    name: str
    def write(self, b: Data) -> int: ...
    def writelines(self, lines: Iterable[Data]) -> None: ...
    def tell(self) -> int: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...          # commit
    closed: bool
    def __enter__(self) -> "AtomicFile": ...
    def __exit__(self, t: Optional[Type[BaseException]], v: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None: ...

def atomic_open(path: Union[str, bytes, "os.PathLike[str]"], mode: str = "wb", *,
                perm: Optional[int] = None, progress: Optional[Progress] = None,
                sync: bool = True, size_hint: Optional[int] = None,
                encoding: Optional[str] = None) -> Any: ...   # AtomicFile, or a text wrapper for "w"

# ---- checking --------------------------------------------------------------
class CheckReport:
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

def check(path: Union[str, bytes, "os.PathLike[str]"], repair: bool = False, *,
          force: bool = False, convert: bool = False) -> CheckReport: ...

def fs_type(path: Union[str, bytes, "os.PathLike[str]"]) -> tuple: ...   # (fs, io mode)
def strerror(code: int) -> str: ...
