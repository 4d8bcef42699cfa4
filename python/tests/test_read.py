"""durlog.reader and Reader: iteration, Record fields, read/wait, seeks by
number, time and cursor, follow, durable_only, thread ownership.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import builtins
import datetime
import threading
import time

import pytest

import durlog
from _helpers import records


def fill(log, n, start=0):
    return [log.append(b"rec-%d" % i) for i in range(start, start + n)]


def test_iterates_every_record_then_stops(log, logdir):
    fill(log, 100)
    with durlog.reader(logdir) as r:
        recs = list(r)
        assert [x.seq for x in recs] == list(range(100))
        assert [x.data for x in recs] == [b"rec-%d" % i for i in range(100)]
        assert list(r) == []            # at the end for now
        assert r.read() is None
        fill(log, 2, 100)
        assert [x.seq for x in r] == [100, 101]   # iterating again goes on
        with pytest.raises(StopIteration):
            next(r)


def test_record_fields(log, logdir):
    before = time.time_ns()
    log.append(b"payload")
    after = time.time_ns()
    with durlog.reader(logdir) as r:
        rec = r.read()
    assert isinstance(rec, durlog.Record)
    assert rec.seq == 0 and rec.data == b"payload" and isinstance(rec.data, bytes)
    assert before - 10**9 <= rec.time_ns <= after + 10**9
    assert rec.time.tzinfo is not None and rec.time.utcoffset() == datetime.timedelta(0)
    assert abs(rec.time.timestamp() - rec.time_ns / 1e9) < 1e-5
    assert "payload" in repr(rec)


def test_read_and_wait(log, logdir):
    with durlog.reader(logdir) as r:
        assert r.read() is None
        assert r.wait(0.05) is False       # a writer is open: nothing comes
        assert r.wait(0) is False
        log.append(b"a")
        assert r.wait(5) is True
        assert r.read().data == b"a"
        assert r.read() is None


def test_wait_wakes_on_an_append_from_another_thread(log, logdir):
    with durlog.reader(logdir) as r:
        t = threading.Timer(0.1, log.append, (b"late",))
        t.start()
        assert r.wait(30) is True
        t.join()
        assert r.read().data == b"late"


def test_start_and_seek(log, logdir):
    fill(log, 50)
    with durlog.reader(logdir, start=20) as r:
        assert r.read().seq == 20
        r.seek(5)
        assert [x.seq for x in r][:2] == [5, 6]
        r.seek(50)          # the end is a valid position
        assert r.read() is None
        log.append(b"50")
        assert r.read().seq == 50
        with pytest.raises(durlog.SeqNotFoundError) as ei:
            r.seek(1000)
        assert isinstance(ei.value, durlog.Error)
    with pytest.raises(durlog.SeqNotFoundError):
        durlog.reader(logdir, start=1000)


def test_seek_time_with_a_datetime_and_a_float(log, logdir):
    fill(log, 5)
    time.sleep(0.02)
    mark = time.time()
    time.sleep(0.02)
    fill(log, 5, 5)
    with durlog.reader(logdir) as r:
        times = [x.time_ns for x in r]
        r.seek_time(mark)
        assert r.read().seq == 5
        r.seek_time(datetime.datetime.fromtimestamp(mark, datetime.timezone.utc))
        assert r.read().seq == 5
        r.seek_time(datetime.datetime.fromtimestamp(mark))        # naive: local time
        assert r.read().seq == 5
        r.seek_time(0)
        assert r.read().seq == 0
        r.seek_time(int(mark) - 3600)
        assert r.read().seq == 0
        # at a record's own time: that record (the first of its time)
        r.seek_time(times[7] / 1e9 - 1e-6)
        assert r.read().seq <= 7
        r.seek_time(mark + 3600)
        assert r.read() is None
    with durlog.reader(logdir, since=mark) as r:
        assert r.read().seq == 5
    with durlog.reader(logdir, since=datetime.datetime.fromtimestamp(mark, datetime.timezone.utc)) as r:
        assert [x.seq for x in r] == [5, 6, 7, 8, 9]


def test_follow_sees_records_appended_by_another_thread(log, logdir):
    fill(log, 10)

    def writer():
        for i in range(10, 1000):
            log.append(b"rec-%d" % i)
            if i % 100 == 0:
                time.sleep(0.01)
    t = threading.Thread(target=writer)
    t.start()
    got = []
    with durlog.reader(logdir) as r:
        for rec in r.follow(timeout=10):
            got.append((rec.seq, rec.data))
            if rec.seq == 999:
                break
    t.join()
    assert got == [(i, b"rec-%d" % i) for i in range(1000)]


def test_follow_stops_after_timeout_without_records(log, logdir):
    fill(log, 3)
    with durlog.reader(logdir) as r:
        assert [x.seq for x in r.follow(timeout=0.1)] == [0, 1, 2]
        assert list(r.follow(timeout=0)) == []
        assert list(r.follow(timeout=0.05)) == []


def test_durable_only_reader(logdir):
    with durlog.open(logdir) as lg:
        for i in range(5):
            lg.append(b"s%d" % i, level="sync")
        for i in range(5):
            lg.append(b"k%d" % i)
        durable = lg.info().durable_seq
        with durlog.reader(logdir, durable_only=True) as r:
            seen = [x.seq for x in r]
            # at least what was synced, at most what is durable by now
            assert seen[:5] == list(range(5))
            assert len(seen) <= lg.info().durable_seq
            assert durable >= 5
            lg.flush("sync")
            seen += [x.seq for x in r]
            assert seen == list(range(10))


def test_reader_info_and_retention(log, logdir):
    fill(log, 7)
    with durlog.reader(logdir) as r:
        info = r.info()
        assert isinstance(info, durlog.Info)
        assert info.first_seq == 0 and info.next_seq == 7
        assert r.get_retention() == durlog.Retention(None, None, None)
        log.set_retention(max_bytes=1 << 30)
        assert r.get_retention().max_bytes == 1 << 30
        assert r.skipped == 0


def test_reader_close_and_repr(log, logdir):
    r = durlog.reader(logdir)
    assert "closed" not in repr(r) and not r.closed
    r.close()
    assert r.closed and "closed" in repr(r)
    r.close()


def test_reader_on_a_missing_log(tmp_path):
    with pytest.raises(durlog.FileNotFoundError) as ei:
        durlog.reader(str(tmp_path / "missing"))
    assert isinstance(ei.value, builtins.FileNotFoundError)


def test_reader_belongs_to_one_thread_at_a_time(log, logdir):
    out = []
    with durlog.reader(logdir) as r:
        def waiter():
            try:
                out.append(r.wait())
            except BaseException as e:  # noqa: B902
                out.append(e)
        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        with pytest.raises(RuntimeError):
            r.read()
        r.interrupt()            # from any thread
        t.join(10)
        assert not t.is_alive()
        assert len(out) == 1 and isinstance(out[0], builtins.InterruptedError)
        log.append(b"x")
        assert r.read().seq == 0      # usable again once the wait is over


def test_reader_interrupt_before_wait(log, logdir):
    with durlog.reader(logdir) as r:
        r.interrupt()            # with no wait blocked: the next one returns
        with pytest.raises(builtins.InterruptedError):
            r.wait(30)
        assert r.wait(0) is False


def test_skip_damaged_reader_reads_what_is_whole(logdir):
    import os
    from _helpers import segments
    with durlog.open(logdir) as lg:
        fill(lg, 10)
    seg = segments(logdir)[-1]
    with open(seg, "rb") as f:
        end = len(f.read().rstrip(b"\0"))
    os.truncate(seg, end - 5)
    with durlog.reader(logdir) as r, pytest.raises(durlog.CorruptError) as ei:
        list(r)
    assert ei.value.errno is not None and seg in str(ei.value)
    assert [s for s, _ in records(logdir, skip_damaged=True)] == list(range(9))


def test_follow_with_a_timeout_ends_on_a_log_no_writer_has_open(logdir):
    with durlog.open(logdir) as log:
        log.append(b"x")
    with durlog.reader(logdir) as r:
        t = time.monotonic()
        assert [rec.data for rec in r.follow(timeout=0.3)] == [b"x"]
        # a hang guard only: it used to loop for ever, waking every 10 ms
        assert time.monotonic() - t < 30
