"""Bad arguments give TypeError or ValueError (never a crash), closed
handles give ValueError, and durlog's exceptions are OSErrors with the
right errno and class.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import builtins
import errno
import pickle

import pytest

import durlog
from _helpers import records


@pytest.fixture
def h(logdir):
    """An open Log, Reader and Cursor on one log, closed after the test."""
    class H:
        pass
    x = H()
    x.d = logdir
    x.log = durlog.open(logdir)
    x.log.append(b"zero")
    x.r = durlog.reader(logdir)
    x.c = durlog.cursor(logdir, "c", create=True)
    yield x
    x.c.close()
    x.r.close()
    x.log.close()


T, V = TypeError, ValueError
BAD = [
    # writing: data
    ("append int", T, lambda h: h.log.append(5)),
    ("append list", T, lambda h: h.log.append([b"a"])),
    ("append None", T, lambda h: h.log.append(None)),
    ("append no args", T, lambda h: h.log.append()),
    ("append unknown kw", T, lambda h: h.log.append(b"a", lvl="sync")),
    ("append surrogate", V, lambda h: h.log.append("\ud800")),
    ("append released view", V, lambda h: h.log.append(_released())),
    # levels
    ("level list", T, lambda h: h.log.append(b"a", level=["sync"])),
    ("level float", T, lambda h: h.log.append(b"a", level=2.0)),
    ("level unknown name", V, lambda h: h.log.append(b"a", level="fsync")),
    ("level upper case", V, lambda h: h.log.append(b"a", level="SYNC")),
    ("level number out of range", V, lambda h: h.log.append(b"a", level=7)),
    ("level zero", V, lambda h: h.log.append(b"a", level=0)),
    ("flush unknown level", V, lambda h: h.log.flush("x")),
    ("flush list level", T, lambda h: h.log.flush([1])),
    ("wait unknown level", V, lambda h: h.log.wait(0, "later")),
    # batches
    ("append_many empty", V, lambda h: h.log.append_many([])),
    ("append_many empty generator", V, lambda h: h.log.append_many(iter(()))),
    ("append_many bytes", T, lambda h: h.log.append_many(b"abc")),
    ("append_many str", T, lambda h: h.log.append_many("abc")),
    ("append_many None", T, lambda h: h.log.append_many(None)),
    ("append_many int item", T, lambda h: h.log.append_many([b"a", 1])),
    ("append_many_async empty", V, lambda h: h.log.append_many_async([])),
    # booleans are not numbers here, and every number has a range
    ("level True", T, lambda h: h.log.append(b"a", level=True)),
    ("wait seq True", T, lambda h: h.log.wait(True, "kernel", timeout=0)),
    ("wait timeout True", T, lambda h: h.log.wait(0, "kernel", timeout=True)),
    ("open mode too large", V, lambda h: durlog.open(h.d, mode=0o777777)),
    ("open interval_ms too large", V, lambda h: durlog.open(h.d, interval_ms=2**32)),
    ("put size_hint negative", V,
     lambda h: durlog.put(h.d + "-put", iter([b"x"]), size_hint=-1)),
    ("atomic_open size_hint negative", V, lambda h: durlog.atomic_open(h.d + "-put", size_hint=-1)),
    ("reader spin_us negative", V, lambda h: durlog.reader(h.d, spin_us=-1)),
    ("reader spin_us str", T, lambda h: durlog.reader(h.d, spin_us="1")),
    ("strerror huge", V, lambda h: durlog.strerror(2**70)),
    # sequence numbers and timeouts
    ("wait str seq", T, lambda h: h.log.wait("1")),
    ("wait float seq", T, lambda h: h.log.wait(1.0)),
    ("wait negative seq", V, lambda h: h.log.wait(-1)),
    ("wait huge seq", V, lambda h: h.log.wait(2 ** 64)),
    ("wait negative timeout", V, lambda h: h.log.wait(0, "kernel", timeout=-1)),
    ("wait NaN timeout", V, lambda h: h.log.wait(0, "kernel", timeout=float("nan"))),
    ("wait infinite timeout", V, lambda h: h.log.wait(0, "kernel", timeout=float("inf"))),
    ("wait str timeout", T, lambda h: h.log.wait(0, "kernel", timeout="1")),
    ("trim str", T, lambda h: h.log.trim("1")),
    ("trim negative", V, lambda h: h.log.trim(-1)),
    # retention
    ("retention negative bytes", V, lambda h: h.log.set_retention(max_bytes=-1)),
    ("retention zero cap", V, lambda h: h.log.set_retention(cursor_cap=0)),
    ("retention str bytes", T, lambda h: h.log.set_retention(max_bytes="1")),
    ("retention bool bytes", T, lambda h: h.log.trim_retention(max_bytes=True)),
    ("retention negative age", V, lambda h: h.log.set_retention(max_age=-1.0)),
    ("retention NaN age", V, lambda h: h.log.set_retention(max_age=float("nan"))),
    ("retention str age", T, lambda h: h.log.set_retention(max_age="1")),
    # asynchronous
    ("append_async int", T, lambda h: h.log.append_async(5)),
    ("append_async unknown level", V, lambda h: h.log.append_async(b"x", level="nope")),
    ("append_async buffered", V, lambda h: h.log.append_async(b"x", level="buffered")),
    # open
    ("open int path", T, lambda h: durlog.open(5)),
    ("open None path", T, lambda h: durlog.open(None)),
    ("open NUL in path", V, lambda h: durlog.open(h.d + "\0x")),
    ("open unknown level", V, lambda h: durlog.open(h.d, level="x")),
    ("open negative segment_size", V, lambda h: durlog.open(h.d, segment_size=-1)),
    ("open str segment_size", T, lambda h: durlog.open(h.d, segment_size="1")),
    ("open tiny segment_size", V, lambda h: durlog.open(h.d, segment_size=1)),
    ("open negative interval", V, lambda h: durlog.open(h.d, interval_ms=-5)),
    ("open unknown engine", V, lambda h: durlog.open(h.d, engine="x")),
    ("open unknown io", V, lambda h: durlog.open(h.d, io=1)),
    ("open unknown keyword", T, lambda h: durlog.open(h.d, bogus=1)),
    ("open negative max_pending", V, lambda h: durlog.open(h.d, max_pending=-1)),
    # reading
    ("reader str start", T, lambda h: durlog.reader(h.d, start="0")),
    ("reader negative start", V, lambda h: durlog.reader(h.d, start=-1)),
    ("reader str since", T, lambda h: durlog.reader(h.d, since="now")),
    ("reader negative since", V, lambda h: durlog.reader(h.d, since=-1)),
    ("reader NaN since", V, lambda h: durlog.reader(h.d, since=float("nan"))),
    ("reader start and since", V, lambda h: durlog.reader(h.d, start=0, since=0)),
    ("reader int path", T, lambda h: durlog.reader(5)),
    ("seek str", T, lambda h: h.r.seek("1")),
    ("seek float", T, lambda h: h.r.seek(1.5)),
    ("seek negative", V, lambda h: h.r.seek(-1)),
    ("seek_time str", T, lambda h: h.r.seek_time("x")),
    ("seek_time far future", V, lambda h: h.r.seek_time(1e12)),
    ("seek_cursor str", T, lambda h: h.r.seek_cursor("c")),
    ("reader wait negative", V, lambda h: h.r.wait(-1)),
    ("reader wait str", T, lambda h: h.r.wait("1")),
    ("follow negative timeout", V, lambda h: h.r.follow(timeout=-1)),
    ("follow str timeout", T, lambda h: h.r.follow(timeout="1")),
    ("Record()", T, lambda h: durlog.Record()),
    # cursors
    ("cursor int name", T, lambda h: durlog.cursor(h.d, 5, create=True)),
    ("cursor empty name", V, lambda h: durlog.cursor(h.d, "", create=True)),
    ("cursor slash name", V, lambda h: durlog.cursor(h.d, "a/b", create=True)),
    ("cursors int path", T, lambda h: durlog.cursors(5)),
    ("delete_cursor int name", T, lambda h: durlog.delete_cursor(h.d, 5)),
    ("commit str", T, lambda h: h.c.commit("1")),
    ("commit negative", V, lambda h: h.c.commit(-1)),
    # whole files
    ("put int", T, lambda h: durlog.put(h.d + ".f", 5)),
    ("put None", T, lambda h: durlog.put(h.d + ".f", None)),
    ("put list of int", T, lambda h: durlog.put(h.d + ".f", [1, 2])),
    ("put str mode", T, lambda h: durlog.put(h.d + ".f", b"x", mode="644")),
    ("put big mode", V, lambda h: durlog.put(h.d + ".f", b"x", mode=0o17777)),
    ("put negative mode", V, lambda h: durlog.put(h.d + ".f", b"x", mode=-1)),
    ("put progress not callable", T, lambda h: durlog.put(h.d + ".f", b"x", progress=5)),
    ("put int path", T, lambda h: durlog.put(5, b"x")),
    ("atomic_open str perm", T, lambda h: durlog.atomic_open(h.d + ".f", perm="x")),
    ("atomic_open read mode", V, lambda h: durlog.atomic_open(h.d + ".f", "r")),
    # check and the rest
    ("check int path", T, lambda h: durlog.check(5)),
    ("check force without repair", V, lambda h: durlog.check(h.d, force=True)),
    ("strerror str", T, lambda h: durlog.strerror("x")),
    ("fs_type int", T, lambda h: durlog.fs_type(5)),
    ("Log reopened by __init__", RuntimeError, lambda h: h.log.__init__(h.d)),
    ("Reader reopened by __init__", RuntimeError, lambda h: h.r.__init__(h.d)),
]


def _released():
    m = memoryview(b"abc")
    m.release()
    return m


@pytest.mark.parametrize("name,exc,call", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments(h, name, exc, call):
    with pytest.raises(exc):
        call(h)
    # and the handles still work
    assert h.log.append(b"after") >= 1
    assert h.r.read() is not None


def test_bad_arguments_append_nothing(h):
    for name, exc, call in BAD:
        try:
            call(h)
        except (TypeError, ValueError, RuntimeError):
            pass
    assert records(h.d) == [(0, b"zero")]


def test_non_contiguous_buffer(h):
    with pytest.raises((TypeError, ValueError, BufferError)):
        h.log.append(memoryview(b"abcdef")[::2])


def test_bad_iterables_propagate_their_exception(h):
    class Bad:
        def __iter__(self):
            raise KeyError("iter")

    def gen():
        yield b"a"
        raise KeyError("gen")
    with pytest.raises(KeyError):
        h.log.append_many(Bad())
    with pytest.raises(KeyError):
        h.log.append_many(gen())
    assert records(h.d) == [(0, b"zero")]


CLOSED_LOG = [
    ("append", lambda lg: lg.append(b"x")),
    ("append_many", lambda lg: lg.append_many([b"x"])),
    ("flush", lambda lg: lg.flush()),
    ("wait", lambda lg: lg.wait(0)),
    ("append_async", lambda lg: lg.append_async(b"x")),
    ("info", lambda lg: lg.info()),
    ("trim", lambda lg: lg.trim(0)),
    ("trim_retention", lambda lg: lg.trim_retention()),
    ("set_retention", lambda lg: lg.set_retention()),
    ("get_retention", lambda lg: lg.get_retention()),
    ("interrupt", lambda lg: lg.interrupt()),
    ("engine", lambda lg: lg.engine),
    ("event_fd", lambda lg: lg.event_fd),
]


@pytest.mark.parametrize("name,call", CLOSED_LOG, ids=[c[0] for c in CLOSED_LOG])
def test_closed_log(logdir, name, call):
    lg = durlog.open(logdir)
    lg.close()
    with pytest.raises(ValueError, match="closed"):
        call(lg)
    assert lg.closed


CLOSED_READER = [
    ("read", lambda r: r.read()),
    ("next", lambda r: next(r)),
    ("iter", lambda r: list(r)),
    ("wait", lambda r: r.wait(0)),
    ("follow", lambda r: list(r.follow(timeout=0))),
    ("seek", lambda r: r.seek(0)),
    ("seek_time", lambda r: r.seek_time(0)),
    ("info", lambda r: r.info()),
    ("get_retention", lambda r: r.get_retention()),
]


@pytest.mark.parametrize("name,call", CLOSED_READER, ids=[c[0] for c in CLOSED_READER])
def test_closed_reader(log, logdir, name, call):
    log.append(b"x")
    r = durlog.reader(logdir)
    r.close()
    with pytest.raises(ValueError, match="closed"):
        call(r)


@pytest.mark.parametrize("name,call", [
    ("seq", lambda c, d: c.seq), ("name", lambda c, d: c.name), ("commit", lambda c, d: c.commit(0)),
    ("seek_cursor", lambda c, d: durlog.reader(d).seek_cursor(c)),
    ("reader(cursor=)", lambda c, d: durlog.reader(d, cursor=c)),
])
def test_closed_cursor(log, logdir, name, call):
    c = durlog.cursor(logdir, "c", create=True)
    c.close()
    with pytest.raises(ValueError, match="closed"):
        call(c, logdir)


def test_closed_atomic_file(tmp_path):
    f = durlog.atomic_open(tmp_path / "f")
    f.write(b"x")
    f.close()
    with pytest.raises(ValueError):
        f.write(b"y")
    assert (tmp_path / "f").read_bytes() == b"x"


def test_error_classes():
    assert issubclass(durlog.Error, OSError)
    for cls in (durlog.CorruptError, durlog.FormatError, durlog.FailedError,
                durlog.SeqNotFoundError, durlog.DirSyncError, durlog.NotDurableError,
                durlog.TrimmedError):
        assert issubclass(cls, durlog.Error)
    assert issubclass(durlog.InvalidArgumentError, ValueError)
    pairs = [(durlog.FileNotFoundError, builtins.FileNotFoundError),
             (durlog.FileExistsError, builtins.FileExistsError),
             (durlog.PermissionError, builtins.PermissionError),
             (durlog.IsADirectoryError, builtins.IsADirectoryError),
             (durlog.NotADirectoryError, builtins.NotADirectoryError),
             (durlog.InterruptedError, builtins.InterruptedError),
             (durlog.TimeoutError, builtins.TimeoutError),
             (durlog.BlockingIOError, builtins.BlockingIOError)]
    for ours, builtin in pairs:
        assert issubclass(ours, durlog.Error) and issubclass(ours, builtin)


def test_errors_carry_code_errno_message_and_pickle(tmp_path):
    with pytest.raises(durlog.Error) as ei:
        durlog.open(str(tmp_path / "missing"), create=False)
    e = ei.value
    assert e.errno == errno.ENOENT and e.code == -errno.ENOENT
    assert "missing" in e.strerror
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and e2.errno == e.errno and e2.code == e.code
    assert e2.strerror == e.strerror
    with pytest.raises(durlog.FileExistsError):
        raise durlog._errors.make_error(-errno.EEXIST, "m")
    f = durlog._errors.make_error(-1011, "not durable", 42)
    assert type(f) is durlog.NotDurableError and f.seq == 42 and f.errno == errno.EIO
    assert pickle.loads(pickle.dumps(f)).seq == 42
    g = durlog._errors.make_error(-1004, "failed")
    assert type(g) is durlog.FailedError and g.code == -1004
    assert type(durlog._errors.make_error(-errno.EINVAL, "x")) is durlog.InvalidArgumentError
    assert type(durlog._errors.make_error(-errno.ENOSPC, "x")) is durlog.Error


def test_a_missing_cursor_is_a_lookup_error(logdir):
    durlog.open(logdir).close()
    with pytest.raises(LookupError) as ei:
        durlog.cursor(logdir, "nobody")
    assert isinstance(ei.value, durlog.NotFoundError) and ei.value.errno == errno.ENOENT
    with pytest.raises(LookupError):
        durlog.delete_cursor(logdir, "nobody")
