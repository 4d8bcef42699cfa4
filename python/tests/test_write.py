"""durlog.open and Log: appends of every data type at every level, batches,
flush, wait, interrupt, options, info and recovery.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import builtins
import errno
import os
import pathlib
import stat
import threading
import time

import pytest

import durlog
from _helpers import records, segments


def test_append_each_data_type_reads_back(log, logdir):
    seqs = [log.append(b"bytes"), log.append(bytearray(b"bytearray")),
            log.append(memoryview(b"xmemoryviewx")[1:-1]), log.append("str \u00e9\u20ac"),
            log.append(b"")]
    assert seqs == [0, 1, 2, 3, 4]
    assert records(logdir) == [(0, b"bytes"), (1, b"bytearray"), (2, b"memoryview"),
                               (3, "str \u00e9\u20ac".encode("utf-8")), (4, b"")]


@pytest.mark.parametrize("level", ["kernel", "interval", "sync", durlog.Level.KERNEL,
                                   durlog.Level.INTERVAL, durlog.Level.SYNC])
def test_append_at_each_level(log, logdir, level):
    s = log.append(b"at %s" % str(level).encode(), level=level)
    assert s == 0
    assert records(logdir) == [(0, b"at %s" % str(level).encode())]
    if level in ("sync", durlog.Level.SYNC):
        assert log.info().durable_seq >= 1


def test_buffered_append_is_numbered_at_flush(log, logdir):
    log.append(b"k")
    assert log.append(b"b1", level="buffered") is None
    assert log.append(b"b2", level=durlog.Level.BUFFERED) is None
    assert records(logdir) == [(0, b"k")]
    log.flush("kernel")
    assert records(logdir) == [(0, b"k"), (1, b"b1"), (2, b"b2")]


def test_close_flushes_buffered_records(logdir):
    with durlog.open(logdir, level="buffered") as lg:
        lg.append(b"one")
        lg.append(b"two")
    assert records(logdir) == [(0, b"one"), (1, b"two")]


def test_levels_enum_and_strings():
    assert [int(x) for x in durlog.Level] == [1, 2, 3, 4]
    assert [str(x) for x in durlog.Level] == ["buffered", "kernel", "interval", "sync"]


@pytest.mark.parametrize("level", ["buffered", "kernel", "interval", "sync"])
def test_default_level_of_the_handle(logdir, level):
    with durlog.open(logdir, level=level) as lg:
        assert lg.level == durlog.Level[level.upper()]
        lg.append(b"x")        # at the handle's level
    assert records(logdir) == [(0, b"x")]


def test_sync_handle_appends_are_durable(logdir):
    with durlog.open(logdir, level="sync") as lg:
        for i in range(5):
            lg.append(b"%d" % i)
            assert lg.info().durable_seq >= i + 1


def test_append_many_is_one_batch_of_consecutive_seqs(log, logdir):
    log.append(b"first")
    assert log.append_many([b"a", bytearray(b"b"), "c", memoryview(b"d")]) == 1
    assert log.append_many((b"%d" % i for i in range(3)), level="sync") == 5
    assert log.info().durable_seq >= 8
    assert records(logdir) == [(0, b"first"), (1, b"a"), (2, b"b"), (3, b"c"), (4, b"d"),
                               (5, b"0"), (6, b"1"), (7, b"2")]


def test_append_many_with_a_bad_record_appends_none(log, logdir):
    with pytest.raises(TypeError):
        log.append_many([b"ok", 5])
    log.flush()
    assert records(logdir) == []


def test_flush_each_level_makes_records_durable(log):
    for i in range(10):
        log.append(b"%d" % i)
    log.flush()
    log.flush("kernel")
    log.flush(durlog.Level.INTERVAL)
    log.flush("sync")
    info = log.info()
    assert info.next_seq == 10 and info.durable_seq == 10


def test_wait_for_a_record_to_be_durable(log):
    s = log.append(b"x")
    assert log.wait(s) is None                 # default level: sync
    assert log.info().durable_seq >= s + 1
    s2 = log.append(b"y")
    log.wait(s2, "kernel", timeout=1)
    log.wait(s2, durlog.Level.SYNC, timeout=5)
    assert log.info().durable_seq >= s2 + 1


def test_wait_for_a_record_not_appended_times_out(log):
    log.append(b"x")
    with pytest.raises(durlog.TimeoutError) as ei:
        log.wait(5, "kernel", timeout=0.05)
    assert isinstance(ei.value, builtins.TimeoutError)
    assert isinstance(ei.value, durlog.Error)
    assert ei.value.errno == errno.ETIMEDOUT
    with pytest.raises(builtins.TimeoutError):
        log.wait(5, "kernel", timeout=0)


def test_wait_returns_when_another_thread_appends(log):
    def later():
        time.sleep(0.1)
        log.append(b"late")
    t = threading.Thread(target=later)
    t.start()
    log.wait(0, "kernel", timeout=30)
    t.join()
    assert log.info().next_seq == 1


def test_interrupt_stops_a_wait_in_another_thread(log):
    out = []

    def waiter():
        try:
            log.wait(1000, "kernel")
            out.append("returned")
        except BaseException as e:  # noqa: B902
            out.append(e)
    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    log.interrupt()
    t.join(10)
    assert not t.is_alive()
    assert len(out) == 1 and isinstance(out[0], builtins.InterruptedError)
    assert out[0].errno == errno.EINTR


def test_close_is_idempotent_and_context_manager_closes(logdir):
    with durlog.open(logdir) as lg:
        assert not lg.closed
        assert "open" in repr(lg)
    assert lg.closed
    assert "closed" in repr(lg)
    lg.close()
    lg.close()


def test_path_types(tmp_path):
    for i, p in enumerate([str(tmp_path / "a"), tmp_path / "b", os.fsencode(str(tmp_path / "c"))]):
        with durlog.open(p) as lg:
            lg.append(b"%d" % i)
            assert isinstance(lg.path, str)
        assert records(p) == [(0, b"%d" % i)]
    assert records(pathlib.Path(tmp_path / "a")) == [(0, b"0")]


def test_create_false_on_a_missing_log(logdir):
    with pytest.raises(durlog.FileNotFoundError) as ei:
        durlog.open(logdir, create=False)
    assert isinstance(ei.value, builtins.FileNotFoundError)
    assert ei.value.errno == errno.ENOENT
    assert logdir in str(ei.value)
    assert not os.path.exists(logdir)
    durlog.open(logdir).close()
    with durlog.open(logdir, create=False) as lg:
        lg.append(b"x")


def test_segment_size_makes_several_segments(logdir):
    with durlog.open(logdir, segment_size=16384) as lg:
        for i in range(1000):
            lg.append(b"%04d" % i + b"." * 60)
        assert lg.info().segments > 3
    assert len(segments(logdir)) > 3
    assert [s for s, _ in records(logdir)] == list(range(1000))


def test_mode_of_a_new_log(logdir):
    old = os.umask(0)
    try:
        with durlog.open(logdir, mode=0o600) as lg:
            lg.append(b"x")
    finally:
        os.umask(old)
    for seg in segments(logdir):
        assert stat.S_IMODE(os.stat(seg).st_mode) == 0o600


@pytest.mark.parametrize("engine", ["thread", "io_uring", "auto"])
@pytest.mark.parametrize("io", ["pwrite", "mmap", "auto"])
def test_engines_and_io_modes(logdir, engine, io):
    try:
        lg = durlog.open(logdir, engine=engine, io=io, level="sync")
    except durlog.Error as e:
        if engine == "io_uring" and e.errno in (errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP):
            pytest.skip("io_uring unavailable here: %s" % e)
        raise
    with lg:
        if engine != "auto":
            assert lg.engine == engine
        else:
            assert lg.engine in ("io_uring", "thread")
        if io != "auto":
            assert lg.io == io
        seqs = [lg.append(b"%d" % i) for i in range(20)]
        futs = [lg.append_async(b"a%d" % i) for i in range(20)]
        assert [f.result(30) for f in futs] == list(range(20, 40))
        assert seqs == list(range(20))
    assert len(records(logdir)) == 40


def test_interval_level_becomes_durable(logdir):
    with durlog.open(logdir, level="interval", interval_ms=20) as lg:
        s = lg.append(b"x")
        lg.wait(s, "sync", timeout=30)
        assert lg.info().durable_seq >= 1


def test_recovery_and_info_of_a_log(logdir):
    with durlog.open(logdir) as lg:
        r = lg.recovery
        assert isinstance(r, durlog.Recovery)
        assert r.bytes_cut == 0 and r.segments_removed == 0
        info = lg.info()
        assert isinstance(info, durlog.Info)
        assert (info.first_seq, info.next_seq, info.missing) == (0, 0, 0)
        lg.append_many([b"abc"] * 10)
        info = lg.info()
        assert info.next_seq == 10 and info.segments == 1
        assert info.bytes >= 30 and info.disk_bytes >= info.bytes


def test_max_record(log, logdir):
    assert durlog.MAX_RECORD == 64 << 20
    big = bytearray(durlog.MAX_RECORD)
    big[-1] = 7
    assert log.append(memoryview(big)) == 0
    with pytest.raises(durlog.Error) as ei:
        log.append(memoryview(bytearray(durlog.MAX_RECORD + 1)))
    assert ei.value.errno == errno.EMSGSIZE
    with durlog.reader(logdir) as r:
        rec = r.read()
        assert len(rec.data) == durlog.MAX_RECORD and rec.data[-1] == 7
        assert r.read() is None


def test_appends_from_threads_are_dense(log, logdir):
    def w(t):
        for i in range(500):
            log.append(b"%d-%d" % (t, i))
    ts = [threading.Thread(target=w, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    recs = records(logdir)
    assert [s for s, _ in recs] == list(range(4000))
    for t in range(8):   # each thread's records in its order
        mine = [d for _, d in recs if d.startswith(b"%d-" % t)]
        assert mine == [b"%d-%d" % (t, i) for i in range(500)]


def test_strerror_and_fs_type(logdir):
    assert "failed" in durlog.strerror(-1004)
    assert isinstance(durlog.strerror(-errno.ENOENT), str)
    os.makedirs(logdir)
    fs, io = durlog.fs_type(logdir)
    assert isinstance(fs, str) and fs
    assert io in ("mmap", "pwrite")
    assert isinstance(durlog.__version__, str) and durlog.__version__


def test_event_fd_and_constants(log):
    fd = log.event_fd
    assert isinstance(fd, int) and fd >= 0
    os.fstat(fd)                      # a live descriptor
    assert durlog.SEQ_PENDING == 2 ** 64 - 1
    assert durlog.MAX_RECORD == 64 << 20
