"""Reference-count and memory leaks: loops of a million appends and reads
(and of the error paths, asynchronous appends and puts) whose anonymous
RSS (resident less file-backed, /proc/self/statm) stays flat after a
warm-up, and whose arguments' reference counts do not move.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import gc
import os
import sys

import pytest

import durlog



def _under_asan():
    with open("/proc/self/maps") as f:
        return "libasan" in f.read()


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_under_asan(), reason="RSS means nothing under AddressSanitizer "
                                 "(its quarantine keeps freed memory)")]

SLACK = 8 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")


def anon_rss():
    """Resident bytes not backed by a file: the log's mapped segments (which
    a reader maps and a writer may) are left out, the heap is not."""
    with open("/proc/self/statm") as f:
        fields = f.read().split()
    return (int(fields[1]) - int(fields[2])) * PAGE


def test_a_million_appends_and_reads(logdir):
    data = b"a record of some bytes"
    text = "a text record \u00e9"
    level = "".join(["ker", "nel"])            # an object of our own, not interned
    refs = (sys.getrefcount(data), sys.getrefcount(text), sys.getrefcount(level))
    with durlog.open(logdir, segment_size=8 << 20) as lg, durlog.reader(logdir) as r:
        view = memoryview(bytearray(b"a view"))

        def run(n):
            for i in range(n):
                k = i & 3
                if k == 0:
                    s = lg.append(data)
                elif k == 1:
                    s = lg.append(text, level)
                elif k == 2:
                    s = lg.append(view)
                else:
                    s = lg.append_many((data, text))
                rec = r.read()
                if rec.seq != s:
                    raise AssertionError((rec.seq, s))
                rec.time_ns, rec.data
                if k == 3:
                    r.read()
                if i % 10000 == 0:
                    lg.info()
                    r.info()
                    r.wait(0)
                    rec.time
        run(100000)
        gc.collect()
        before = anon_rss()
        run(900000)
        gc.collect()
        after = anon_rss()
        assert lg.info().next_seq == 1250000
    assert view.obj is not None
    assert after - before < SLACK, "anonymous RSS grew by %d KiB" % ((after - before) >> 10)
    assert (sys.getrefcount(data), sys.getrefcount(text), sys.getrefcount(level)) == refs


def test_error_paths_do_not_leak(logdir):
    data = b"x"
    refs = sys.getrefcount(data)
    with durlog.open(logdir) as lg, durlog.reader(logdir) as r:
        lg.append(data)

        def run(n):
            for i in range(n):
                try:
                    lg.append(i)
                except TypeError:
                    pass
                try:
                    lg.append(data, level="nope")
                except ValueError:
                    pass
                try:
                    lg.wait(10, "kernel", timeout=0)          # a durlog error
                except durlog.TimeoutError:
                    pass
                if i % 10 == 0:               # a slow path: 0.1 ms
                    try:
                        r.seek(10 ** 6)
                    except durlog.SeqNotFoundError:
                        pass
                try:
                    lg.append_many([data, None])
                except TypeError:
                    pass
        run(10000)
        gc.collect()
        before = anon_rss()
        run(100000)
        gc.collect()
        after = anon_rss()
    assert after - before < SLACK, "anonymous RSS grew by %d KiB" % ((after - before) >> 10)
    assert sys.getrefcount(data) == refs


def test_asynchronous_appends_do_not_leak(logdir):
    import asyncio
    data = b"async record"
    refs = sys.getrefcount(data)
    with durlog.open(logdir, segment_size=8 << 20) as lg:
        def run(n):
            for _ in range(n // 1000):
                futs = [lg.append_async(data, "kernel") for _ in range(1000)]
                for f in futs:
                    f.result(60)

        async def arun(n):
            for _ in range(n // 1000):
                await asyncio.gather(*[lg.append_durable(data, "kernel") for _ in range(1000)])
        run(20000)
        asyncio.run(arun(20000))
        gc.collect()
        before = anon_rss()
        run(150000)
        asyncio.run(arun(150000))
        gc.collect()
        after = anon_rss()
        assert lg.info().next_seq == 340000
    assert after - before < SLACK, "anonymous RSS grew by %d KiB" % ((after - before) >> 10)
    assert sys.getrefcount(data) == refs


def test_puts_and_atomic_files_do_not_leak(tmp_path):
    p = tmp_path / "f"
    data = b"content " * 1024      # 8 KiB: a leaked copy per put shows

    def run(n):
        for i in range(n):
            durlog.put(p, data, sync=False)
            durlog.put(p, [data, data], sync=False, progress=lambda d, t: None)
            with durlog.atomic_open(p, sync=False) as f:
                f.write(data)
            try:
                with durlog.atomic_open(p, sync=False) as f:
                    f.write(data)
                    raise KeyError
            except KeyError:
                pass
    run(300)
    gc.collect()
    before = anon_rss()
    run(3000)
    gc.collect()
    after = anon_rss()
    assert p.read_bytes() == data
    assert os.listdir(tmp_path) == ["f"]
    assert after - before < SLACK, "anonymous RSS grew by %d KiB" % ((after - before) >> 10)
