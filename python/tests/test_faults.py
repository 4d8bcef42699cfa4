"""Faults: a failing disk through the extension's test seam (fdatasync
fails with EIO), and a full file system on a small loop-mounted ext4.
Nothing acknowledged is lost.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import asyncio
import errno
import os
import shutil
import subprocess

import pytest

import durlog
from _helpers import isolated, records


@pytest.fixture
def failing_syncs(monkeypatch):
    """Calls fail(errno) to make every fdatasync/fsync fail from then on;
    real syncs again after the test, whatever happens."""
    monkeypatch.setenv("DURLOG_PY_TEST_SEAM", "1")
    seam = durlog._durlog._test_fail_syncs
    try:
        yield seam
    finally:
        seam(0)


def test_the_seam_needs_its_environment_variable(monkeypatch):
    monkeypatch.delenv("DURLOG_PY_TEST_SEAM", raising=False)
    with pytest.raises(RuntimeError):
        durlog._durlog._test_fail_syncs(errno.EIO)


@pytest.mark.parametrize("engine", ["thread", "auto"])
def test_failing_fdatasync_at_sync(logdir, failing_syncs, engine):
    lg = durlog.open(logdir, engine=engine)
    acked = {}
    for i in range(20):
        acked[lg.append(b"k%d" % i)] = b"k%d" % i
    for i in range(5):
        acked[lg.append(b"s%d" % i, level="sync")] = b"s%d" % i
    failing_syncs(errno.EIO)
    with pytest.raises(durlog.Error) as ei:
        lg.append(b"doomed", level="sync")
    e = ei.value
    assert isinstance(e, (durlog.NotDurableError, durlog.FailedError)) or e.errno == errno.EIO
    assert e.errno == errno.EIO
    if isinstance(e, durlog.NotDurableError):
        assert e.seq == 25          # appended (readers see it), not durable
    # the log is failed now: every later append says so (a `buffered` one
    # goes to memory, and its flush fails)
    for level in ("kernel", "interval", "sync"):
        with pytest.raises(durlog.FailedError) as ei2:
            lg.append(b"later", level=level)
        assert ei2.value.errno == errno.EIO
    with pytest.raises(durlog.FailedError):
        lg.flush("sync")
    with pytest.raises(durlog.FailedError):
        lg.append_async(b"later").result(30)
    failing_syncs(0)
    with pytest.raises(durlog.FailedError):   # close reports it too, and closes
        lg.close()
    assert lg.closed
    # every record acknowledged before is there after reopening
    with durlog.open(logdir) as again:
        got = dict(records(logdir))
        for seq, data in acked.items():
            assert got[seq] == data
        s = again.append(b"recovered", level="sync")
    assert dict(records(logdir))[s] == b"recovered"


def test_failing_fdatasync_fails_async_appends(logdir, failing_syncs):
    lg = durlog.open(logdir)
    ok = lg.append_async(b"fine").result(30)
    failing_syncs(errno.EIO)
    errs = []
    for i in range(10):
        try:
            f = lg.append_async(b"a%d" % i)
        except durlog.Error as e:      # the log failed already
            errs.append(e)
            continue
        with pytest.raises(durlog.Error) as ei:
            f.result(30)
        errs.append(ei.value)
        # the failure says what failed, not only strerror's text
        assert ei.value.strerror not in ("no error", os.strerror(ei.value.errno))
    assert len(errs) == 10 and all(e.errno == errno.EIO for e in errs)
    failing_syncs(0)
    with pytest.raises(durlog.Error) as ei:     # close reports the failed sync
        lg.close()
    assert ei.value.errno == errno.EIO and lg.closed
    assert dict(records(logdir))[ok] == b"fine"


def test_failing_fdatasync_fails_durable_appends(logdir, failing_syncs):
    async def main():
        lg = durlog.open(logdir)
        first = await lg.append_durable(b"fine")
        failing_syncs(errno.EIO)
        errs = []
        futs = []
        for i in range(100):
            try:
                futs.append(lg.append_durable(b"x%d" % i))
            except durlog.Error as e:      # the log failed already
                errs.append(e)
        errs += await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), 60)
        failing_syncs(0)
        with pytest.raises(durlog.Error):
            lg.close()
        return first, errs
    first, errs = asyncio.run(main())
    assert len(errs) == 100
    assert all(isinstance(e, durlog.Error) and e.errno == errno.EIO for e in errs)
    assert dict(records(logdir))[first] == b"fine"


def test_failing_fsync_fails_put_and_leaves_the_old_file(tmp_path, failing_syncs):
    p = tmp_path / "f"
    p.write_bytes(b"old")
    failing_syncs(errno.EIO)
    with pytest.raises(durlog.Error) as ei:
        durlog.put(p, b"new")
    assert ei.value.errno == errno.EIO
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]
    failing_syncs(0)
    durlog.put(p, b"new")
    assert p.read_bytes() == b"new"


@isolated        # a failed streamed put crashed the interpreter (_PutStream's errbuf)
def test_failing_fsync_fails_put_of_an_iterable(tmp_path, failing_syncs):
    p = tmp_path / "f"
    p.write_bytes(b"old")
    failing_syncs(errno.EIO)
    with pytest.raises(durlog.Error) as ei:
        durlog.put(p, [b"n", b"e", b"w"])
    assert ei.value.errno == errno.EIO
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


@pytest.fixture
def small_fs(tmp_path):
    """An 8 MiB ext4 file system mounted on tmp_path/mnt, unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("needs root to loop-mount a small file system")
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 is not installed")
    img = tmp_path / "fs.img"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True, timeout=60)
    p = subprocess.run(["mount", "-o", "loop", str(img), str(mnt)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        pytest.skip("loop mount failed: %s" % p.stdout.decode().strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=60)


@pytest.mark.needs_root
@pytest.mark.parametrize("level", ["kernel", "sync"])
def test_full_file_system(small_fs, level):
    path = str(small_fs / "log")
    lg = durlog.open(path, segment_size=1 << 20)
    acked = {}
    i = 0
    with pytest.raises(durlog.Error) as ei:
        while i < 100000:                  # far more than 8 MiB
            data = b"%08d" % i + b"z" * 4000
            acked[lg.append(data, level=level)] = data
            i += 1
    assert ei.value.errno == errno.ENOSPC
    assert len(acked) > 100
    try:
        lg.close()
    except durlog.Error as e:
        assert e.errno in (errno.ENOSPC, errno.EIO)
    got = dict(records(path))
    for seq, data in acked.items():
        assert got.get(seq) == data, seq
    assert durlog.check(path).records >= len(acked)
    with durlog.open(path, segment_size=1 << 20) as again:
        assert sorted(dict(records(path))) == sorted(got)
        assert again.info().next_seq >= len(acked)


@pytest.mark.needs_root
def test_full_file_system_put(small_fs):
    p = small_fs / "f"
    p.write_bytes(b"old")
    with pytest.raises(durlog.Error) as ei:
        durlog.put(p, b"x" * (16 << 20))
    assert ei.value.errno == errno.ENOSPC
    assert p.read_bytes() == b"old"
    assert sorted(os.listdir(small_fs)) == ["f", "lost+found"]


@pytest.mark.needs_root
@isolated        # a failed streamed put crashed the interpreter (_PutStream's errbuf)
def test_full_file_system_put_of_an_iterable(small_fs):
    p = small_fs / "f"
    p.write_bytes(b"old")
    with pytest.raises(durlog.Error) as ei:
        durlog.put(p, iter([b"y" * (1 << 20)] * 16))
    assert ei.value.errno == errno.ENOSPC
    assert p.read_bytes() == b"old"
    assert sorted(os.listdir(small_fs)) == ["f", "lost+found"]
