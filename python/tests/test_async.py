"""Asynchronous appends: Log.append_async (concurrent.futures), Log.append_durable
(asyncio, driven by the event fd), and `async for` over Reader.follow.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import asyncio
import concurrent.futures
import threading

import pytest

import durlog
from _helpers import records


def test_append_async_futures_resolve_to_seqs(log, logdir):
    futs = [log.append_async(b"r%d" % i) for i in range(1000)]
    assert all(isinstance(f, concurrent.futures.Future) for f in futs)
    done, not_done = concurrent.futures.wait(futs, timeout=60)
    assert not not_done
    assert [f.result() for f in futs] == list(range(1000))
    assert log.info().durable_seq >= 1000
    assert records(logdir) == [(i, b"r%d" % i) for i in range(1000)]


def test_append_async_levels_and_batches(log, logdir):
    f1 = log.append_async(b"k", level="kernel")
    f2 = log.append_async(b"i", level=durlog.Level.INTERVAL)
    f3 = log.append_many_async([b"m0", b"m1", b"m2"])
    assert f1.result(30) == 0
    assert f2.result(30) == 1
    assert f3.result(30) == 2
    assert log.info().durable_seq >= 5
    assert [d for _, d in records(logdir)] == [b"k", b"i", b"m0", b"m1", b"m2"]


def test_append_async_from_threads(log, logdir):
    out = []
    lock = threading.Lock()

    def w(t):
        fs = [log.append_async(b"%d-%d" % (t, i)) for i in range(200)]
        seqs = [f.result(60) for f in fs]
        with lock:
            out.extend(seqs)
    ts = [threading.Thread(target=w, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(out) == list(range(800))


def test_append_async_buffered_is_refused(log):
    with pytest.raises(ValueError):
        log.append_async(b"x", level="buffered")


def test_ten_thousand_durable_records_in_flight_from_one_coroutine(logdir):
    n = 10000

    async def main():
        with durlog.open(logdir) as lg:
            futs = [lg.append_durable(b"a%d" % i) for i in range(n)]
            assert all(isinstance(f, asyncio.Future) for f in futs)
            # all appended (and visible) before any completion ran
            assert lg.info().next_seq == n
            seqs = await asyncio.gather(*futs)
            assert lg.info().durable_seq >= n
            return seqs
    seqs = asyncio.run(asyncio.wait_for(main(), 120))
    assert seqs == list(range(n))
    assert records(logdir) == [(i, b"a%d" % i) for i in range(n)]


def test_async_for_follow_with_a_writer_coroutine(logdir):
    n = 10000

    async def writer(lg):
        for start in range(0, n, 500):
            futs = [lg.append_durable(b"w%d" % i) for i in range(start, start + 500)]
            await asyncio.gather(*futs)
            await asyncio.sleep(0)

    async def follower():
        got = []
        with durlog.reader(logdir) as r:
            async for rec in r.follow(timeout=20):
                got.append((rec.seq, rec.data))
                if rec.seq == n - 1:
                    break
        return got

    async def main():
        with durlog.open(logdir) as lg:
            f = asyncio.ensure_future(follower())
            await writer(lg)
            return await f
    got = asyncio.run(asyncio.wait_for(main(), 120))
    assert got == [(i, b"w%d" % i) for i in range(n)]


def test_async_for_follow_stops_after_timeout(log, logdir):
    log.append_many([b"a", b"b"])

    async def main():
        with durlog.reader(logdir) as r:
            return [rec.seq async for rec in r.follow(timeout=0.1)]
    assert asyncio.run(main()) == [0, 1]


def test_append_durable_at_kernel_level_and_on_two_loops(logdir):
    async def batch(lg, tag):
        futs = [lg.append_durable(b"%s%d" % (tag, i), level="kernel") for i in range(100)]
        return await asyncio.gather(*futs)
    with durlog.open(logdir) as lg:
        a = asyncio.run(batch(lg, b"a"))
        b = asyncio.run(batch(lg, b"b"))    # a second loop on the same Log
    assert a == list(range(100)) and b == list(range(100, 200))


def test_append_durable_needs_a_running_loop(log):
    with pytest.raises(RuntimeError):
        log.append_durable(b"x")


def test_append_durable_refuses_buffered_and_a_closed_log(logdir):
    async def main():
        lg = durlog.open(logdir)
        with pytest.raises(ValueError):
            lg.append_durable(b"x", level="buffered")
        await lg.append_durable(b"ok")
        lg.close()
        with pytest.raises(ValueError):
            lg.append_durable(b"x")
    asyncio.run(main())
    assert records(logdir) == [(0, b"ok")]


def test_close_with_durable_appends_in_flight_settles_them(logdir):
    async def main():
        lg = durlog.open(logdir)
        futs = [lg.append_durable(b"x%d" % i) for i in range(1000)]
        lg.close()
        res = await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), 60)
        return res
    res = asyncio.run(main())
    assert len(res) == 1000
    ok = [r for r in res if isinstance(r, int)]
    # each future got a seq or an exception; the ones with seq name real records
    assert all(isinstance(r, (int, BaseException)) for r in res)
    assert ok == sorted(ok)
    assert set(ok) <= {s for s, _ in records(logdir)}
    assert len(records(logdir)) == 1000
