"""A placeholder that proves the package was built and imports: the
extension opens a log, appends and reads back. (Written to develop
scripts/python-tests.sh against; the real suite lives beside it.)"""
import durlog


def test_append_and_read_back(tmp_path):
    path = tmp_path / "log"
    records = [b"first", "second, as str", bytearray(b"third"), memoryview(b"fourth")]
    with durlog.open(path, "kernel") as log:
        seqs = [log.append(r) for r in records]
        log.flush("sync")
    assert seqs == [0, 1, 2, 3]
    with durlog.reader(path) as r:
        got = [(rec.seq, rec.data) for rec in r]
    assert got == [(0, b"first"), (1, "second, as str".encode()), (2, b"third"), (3, b"fourth")]


def test_missing_log_raises_oserror(tmp_path):
    try:
        durlog.reader(tmp_path / "absent")
    except OSError as e:
        assert isinstance(e, durlog.Error)
        assert e.errno == 2
    else:
        raise AssertionError("reading a missing log did not raise")
