"""durlog.check (and repair of a torn tail), named cursors, trim, retention
and info.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import os
import time

import pytest

import durlog
from _helpers import records, segments


def fill(log, n, start=0, size=60):
    return [log.append(b"%06d" % i + b"." * size) for i in range(start, start + n)]


def tear_tail(logdir, nbytes=5):
    """Cuts the last record of a closed log short by nbytes (the tail segment
    is allocated ahead: its data ends at its last non-zero byte)."""
    seg = segments(logdir)[-1]
    with open(seg, "rb") as f:
        end = len(f.read().rstrip(b"\0"))
    os.truncate(seg, end - nbytes)
    return seg


def test_check_a_whole_log(logdir):
    with durlog.open(logdir, segment_size=16384) as lg:
        fill(lg, 500)
    rep = durlog.check(logdir)
    assert isinstance(rep, durlog.CheckReport)
    assert rep and not rep.damaged and not rep.damage_at_tail
    assert (rep.records, rep.first_seq, rep.next_seq) == (500, 0, 500)
    assert rep.segments == len(segments(logdir)) > 1
    assert rep.problems == 0 and rep.problem == "" and not rep.live


def test_check_a_live_log(log, logdir):
    fill(log, 10)
    rep = durlog.check(logdir)
    assert rep.live and rep.records == 10 and not rep.damaged


def test_check_and_repair_a_torn_tail(logdir):
    with durlog.open(logdir) as lg:
        fill(lg, 10)
    seg = tear_tail(logdir)
    rep = durlog.check(logdir)
    assert not rep
    assert rep.damaged and rep.damage_at_tail
    assert rep.records == 9 and rep.problems >= 1
    assert os.path.basename(seg) in rep.problem
    assert records(logdir, skip_damaged=True) == [(i, b"%06d" % i + b"." * 60) for i in range(9)]
    rep = durlog.check(logdir, repair=True)
    assert rep and not rep.damaged and rep.records == 9 and rep.side_files == 1
    assert any(".cut-" in f for f in os.listdir(logdir))
    rep = durlog.check(logdir)
    assert rep and rep.records == 9 and rep.next_seq == 9
    assert records(logdir) == [(i, b"%06d" % i + b"." * 60) for i in range(9)]
    with durlog.open(logdir) as lg:
        assert lg.append(b"after repair") == 9
    assert records(logdir)[-1] == (9, b"after repair")


def test_check_damage_before_the_tail(logdir):
    with durlog.open(logdir) as lg:
        fill(lg, 20)
    seg = segments(logdir)[0]
    with open(seg, "r+b") as f:       # flip a byte in the payload of a middle record
        data = f.read()
        at = data.index(b"000005")
        f.seek(at)
        f.write(b"X")
    rep = durlog.check(logdir)
    assert rep.damaged and not rep.damage_at_tail
    with pytest.raises(durlog.CorruptError):
        records(logdir)
    with pytest.raises(ValueError):
        durlog.check(logdir, force=True)     # force needs repair


def test_check_of_a_missing_log(tmp_path):
    with pytest.raises(durlog.FileNotFoundError):
        durlog.check(str(tmp_path / "missing"))


def test_cursor_create_commit_list_delete(log, logdir):
    fill(log, 10)
    with pytest.raises(durlog.SeqNotFoundError):   # DURLOG_ENOTFOUND: no such cursor
        durlog.cursor(logdir, "c1")
    with durlog.cursor(logdir, "c1", create=True) as c:
        assert isinstance(c, durlog.Cursor)
        assert c.name == "c1" and c.seq == 0 and "c1" in repr(c)
        c.commit(4)
        assert c.seq == 4
    assert c.closed and "closed" in repr(c)
    with durlog.cursor(logdir, "c1") as c:      # durable: reopened where it was
        assert c.seq == 4
    durlog.cursor(logdir, "b0", create=True).close()
    lst = durlog.cursors(logdir)
    assert [x.name for x in lst] == ["b0", "c1"]            # sorted by name
    c1 = lst[1]
    assert isinstance(c1, durlog.CursorInfo)
    assert (c1.seq, c1.lag_records, c1.trimmed, c1.error) == (4, 6, 0, None)
    assert c1.lag_bytes > 0 and c1.commit_time_ns > 0
    assert lst[0].lag_records == 10
    assert "c1" in repr(c1)
    durlog.delete_cursor(logdir, "b0")
    assert [x.name for x in durlog.cursors(logdir)] == ["c1"]
    with pytest.raises(durlog.SeqNotFoundError):
        durlog.delete_cursor(logdir, "b0")


def test_reader_from_a_cursor(log, logdir):
    fill(log, 10)
    with durlog.cursor(logdir, "c", create=True) as c:
        c.commit(7)
        with durlog.reader(logdir, cursor=c) as r:
            assert [x.seq for x in r] == [7, 8, 9]
            r.seek(0)
            r.seek_cursor(c)
            assert r.read().seq == 7
            with pytest.raises(ValueError):
                durlog.reader(logdir, start=1, cursor=c)


def test_cursor_commit_bounds(log, logdir):
    fill(log, 3)
    with durlog.cursor(logdir, "c", create=True) as c:
        c.commit(3)                  # the end: everything consumed
        assert c.seq == 3
        with pytest.raises((ValueError, durlog.Error)):
            c.commit(100)            # past the end
        assert c.seq == 3


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", "x" * 1000])
def test_bad_cursor_names(log, logdir, name):
    with pytest.raises(ValueError):
        durlog.cursor(logdir, name, create=True)


def sealed_trim(log, before):
    """Trims; a segment the sealer has not sealed yet stays (durlog.h): sync,
    and try again for a while."""
    log.flush("sync")
    for _ in range(500):
        first = log.trim(before)
        if first > 0:
            return first
        time.sleep(0.01)
    return first


def test_trim_and_trimmed_error(logdir):
    with durlog.open(logdir, segment_size=16384) as lg:
        fill(lg, 2000)
        first = sealed_trim(lg, 1000)
        assert 0 < first <= 1000
        assert lg.info().first_seq == first
        assert records(logdir)[0][0] == first
        assert lg.trim(0) == first           # nothing below: unchanged
        with pytest.raises(durlog.TrimmedError) as ei:
            durlog.reader(logdir, start=first - 1)
        assert isinstance(ei.value, durlog.Error) and str(first) in str(ei.value)
        with durlog.reader(logdir) as r:
            with pytest.raises(durlog.TrimmedError):
                r.seek(0)
            r.seek(first)
            assert r.read().seq == first


def test_retention_settings_round_trip(log, logdir):
    assert log.get_retention() == durlog.Retention(None, None, None)
    log.set_retention(max_bytes=1 << 20, max_age=3600.5, cursor_cap=4096)
    r = log.get_retention()
    assert isinstance(r, durlog.Retention)
    assert r.max_bytes == 1 << 20 and r.cursor_cap == 4096
    assert abs(r.max_age - 3600.5) < 1e-6
    with durlog.open(logdir) as other:      # stored with the log
        assert other.get_retention() == r
    log.set_retention(max_age=60)
    assert log.get_retention() == durlog.Retention(None, 60.0, None)
    log.set_retention()
    assert log.get_retention() == durlog.Retention(None, None, None)


def test_trim_retention_keeps_what_cursors_hold(logdir):
    with durlog.open(logdir, segment_size=16384) as lg:
        fill(lg, 2000)
        lg.flush("sync")
        with durlog.cursor(logdir, "slow", create=True) as c:
            c.commit(100)
        # the cursor holds records from 100: retention keeps them
        first = lg.trim_retention(max_bytes=50000)
        assert first <= 100
        # a cursor cap lets retention cut past it, down to max_bytes (whole
        # segments: at most one segment over); a segment the sealer has not
        # sealed yet stays until it is
        for _ in range(500):
            first = lg.trim_retention(max_bytes=50000, cursor_cap=1)
            info = lg.info()
            if info.bytes <= 50000 + 16384:
                break
            time.sleep(0.01)
        assert first > 100
        assert info.first_seq == first and info.bytes <= 50000 + 16384
        slow = durlog.cursors(logdir)[0]
        assert slow.name == "slow" and slow.trimmed > 0
        with durlog.cursor(logdir, "slow") as c, pytest.raises(durlog.TrimmedError):
            durlog.reader(logdir, cursor=c).read()


def test_info_of_log_and_reader_agree(log, logdir):
    fill(log, 100)
    log.flush("sync")
    a = log.info()
    with durlog.reader(logdir) as r:
        b = r.info()
    assert (a.first_seq, a.next_seq, a.segments, a.bytes) == (b.first_seq, b.next_seq,
                                                               b.segments, b.bytes)
    assert a.durable_seq == 100
