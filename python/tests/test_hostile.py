"""What careless or hostile use must not do: crash, hang, or give a
misleading error. Each test is a bug that was found by trying."""
import gc
import os
import subprocess
import time
import weakref

import pytest

import durlog
from _helpers import child, isolated, records

# A signal handler that closes the object, while the main thread waits in it:
# the wait must end (ValueError: closed), not hang with close() waiting for
# the wait of its own thread. In a child, so that a hang fails the test.
_SIGNAL_CLOSE = r"""
import signal, sys, durlog
kind, path = sys.argv[1], sys.argv[2]
log = durlog.open(path)
log.append(b"x")
obj = log if kind == "log" else durlog.reader(path)
if kind == "reader":
    list(obj)
signal.signal(signal.SIGALRM, lambda *a: obj.close())
signal.setitimer(signal.ITIMER_REAL, 0.2)
try:
    if kind == "log":
        obj.wait(10**6, "kernel", timeout=30)
    else:
        obj.wait(timeout=30)
except ValueError as e:
    print("ValueError", e)
print("closed", obj.closed)
"""


@pytest.mark.parametrize("kind", ["log", "reader"])
def test_signal_handler_closing_during_wait(logdir, kind):
    p = child(_SIGNAL_CLOSE, kind, logdir)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("close() from a signal handler hung the %s's wait" % kind)
    assert p.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("ValueError") and "closed" in lines[0], lines
    assert lines[1] == "closed True"


def test_iterable_closing_the_log(log, logdir):
    def records_then_close():
        yield b"a"
        log.close()
        yield b"b"
    with pytest.raises(ValueError, match="closed"):
        log.append_many(records_then_close())
    lg = durlog.open(logdir)

    def again():
        yield b"a"
        lg.close()
        yield b"b"
    with pytest.raises(ValueError, match="closed"):
        lg.append_many_async(again())
    assert records(logdir) == []


@isolated
def test_progress_callback_aborting_its_own_write(tmp_path):
    # The callback runs inside the write: abort() there freed the put under
    # it (a use after free). It is refused; the write is cancelled.
    path = str(tmp_path / "f")
    durlog.put(path, b"old")
    armed = []

    def progress(done, total):
        if armed:
            f.abort()
    f = durlog.atomic_open(path, progress=progress)
    armed.append(1)
    with pytest.raises(RuntimeError, match="abort"):
        f.write(b"new")
    armed.clear()
    f.abort()
    assert not f._s.open
    with open(path, "rb") as g:
        assert g.read() == b"old"


@isolated
def test_progress_callback_writing_to_its_own_file(tmp_path):
    path = str(tmp_path / "f")
    durlog.put(path, b"old")
    armed = []

    def progress(done, total):
        if armed:
            armed.clear()
            f.write(b"inner")
    f = durlog.atomic_open(path, progress=progress)
    armed.append(1)
    with pytest.raises(RuntimeError, match="in use"):
        f.write(b"outer")
    f.abort()
    with open(path, "rb") as g:
        assert g.read() == b"old"


def test_dropped_log_with_completion_thread_is_collected(logdir):
    lg = durlog.open(logdir)
    fut = lg.append_async(b"x")
    assert fut.result(timeout=30) == 0
    ref = weakref.ref(lg)
    del lg
    # The completion thread holds it while it waits (0.1 s at a time); it
    # held it for ever (Thread(target=self._dispatch)).
    deadline = time.monotonic() + 30
    while ref() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    assert ref() is None
    lg = durlog.open(logdir)    # the first one is closed: its handle is gone
    assert lg.append(b"y") == 1
    lg.close()


def test_refused_second_init_keeps_the_path(log, logdir, tmp_path):
    with pytest.raises(RuntimeError, match="already open"):
        log.__init__(str(tmp_path / "other"))
    assert log.path == logdir
    assert not os.path.exists(str(tmp_path / "other"))


_FOLLOW_REMOVED = r"""
import shutil, sys, durlog
path = sys.argv[1]
log = durlog.open(path)
log.append(b"x")
r = durlog.reader(path)
shutil.rmtree(path)
print(len(list(r.follow(timeout=0.5))))
"""


def test_follow_timeout_ends_when_the_log_is_removed(logdir):
    # The reader's wait() then says True at once and read() finds nothing:
    # follow(timeout) spun for ever, never looking at its deadline.
    p = child(_FOLLOW_REMOVED, logdir)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("follow(timeout=0.5) did not end on a removed log")
    assert p.returncode == 0, err.decode()
    assert out.decode().split() == ["0"]


def test_cursor_close_while_other_threads_commit(log, logdir):
    # close() during another thread's commit was a silent no-op (the cursor
    # stayed open), and the committing threads were told it was closed.
    import threading
    for i in range(10):
        log.append(b"%d" % i)
    for attempt in range(5):
        c = durlog.cursor(logdir, "c", create=True)
        problems = []
        commits = []

        def commit_loop():
            deadline = time.monotonic() + 20
            k = 0
            while time.monotonic() < deadline:
                k += 1
                try:
                    c.commit(k % 10)
                    commits.append(1)
                except ValueError as e:
                    if "closed" not in str(e) or not c.closed:
                        problems.append("ValueError %s, closed=%s" % (e, c.closed))
                    return
                except RuntimeError as e:
                    if "in use by another thread" not in str(e):
                        problems.append("RuntimeError %s" % e)
            problems.append("commit_loop never saw the cursor closed")
        threads = [threading.Thread(target=commit_loop) for _ in range(3)]
        for t in threads:
            t.start()
        while len(commits) < 20 and all(t.is_alive() for t in threads):
            time.sleep(0.001)
        c.close()
        closed = c.closed
        c.close()   # the second one closes it, if the first was a no-op
        for t in threads:
            t.join()
        assert closed
        assert problems == []


@isolated
def test_append_many_of_a_list_another_thread_empties(logdir):
    # A sync batch gives up the GIL with pointers into its records' bytes:
    # they were the caller's list's, and another thread emptying the list
    # freed them under the append (records of garbage in the log).
    import threading
    lg = durlog.open(logdir)
    shared = []
    stop = []

    def churn():
        while not stop:
            shared[:] = [bytes([65 + i]) * 100000 for i in range(8)]
            time.sleep(0)
            shared.clear()
    t = threading.Thread(target=churn)
    t.start()
    try:
        batches = 0
        deadline = time.monotonic() + 60
        while batches < 40 and time.monotonic() < deadline:
            try:
                lg.append_many(shared, "sync")
                batches += 1
            except ValueError:      # caught it empty
                pass
    finally:
        stop.append(1)
        t.join()
    lg.close()
    got = records(logdir)
    assert len(got) == 8 * batches
    for seq, data in got:
        assert data == data[:1] * 100000, "record %d is not what was appended" % seq


def test_refused_close_from_a_done_callback_keeps_delivering(log):
    # close() from a future's done-callback (on the completion thread) is
    # refused; it used to stop that thread first, so the futures already in
    # flight were never settled (until the Log was closed elsewhere).
    import threading
    refused = []
    gate = threading.Event()

    def close_from_callback(f):
        gate.wait(30)       # the others are appended meanwhile
        try:
            log.close()
        except RuntimeError as e:
            refused.append(str(e))
    first = log.append_async(b"first", "sync")
    first.add_done_callback(close_from_callback)
    deadline = time.monotonic() + 30
    while not first.done() and time.monotonic() < deadline:
        time.sleep(0.001)
    futs = [log.append_async(b"%d" % i, "sync") for i in range(3)]
    gate.set()
    assert [f.result(timeout=30) for f in futs] == [1, 2, 3]
    assert len(refused) == 1 and "completion" in refused[0]
    assert not log.closed


def test_second_close_returns_once_the_log_is_closed(logdir):
    # A close() while another thread's close() was under way returned at
    # once, before the buffered records and the interval promise were kept.
    import threading
    lg = durlog.open(logdir, "interval", interval_ms=10**6)
    for _ in range(20000):
        lg.append(b"x" * 200)
    t = threading.Thread(target=lg.close)
    t.start()
    while not lg.closed:
        time.sleep(0)
    lg.close()
    with durlog.reader(logdir) as r:
        durable = r.info().durable_seq
    t.join()
    assert durable == 20000


def test_a_future_fails_when_the_log_is_removed_under_it(logdir):
    # rm -r of the log under an open Log: the engine could not open the
    # segment to sync it and retried for as long as the Log stayed open,
    # so the future never resolved (fixed in src/sync.c).
    import shutil
    log = durlog.open(logdir)
    try:
        log.append(b"x")
        shutil.rmtree(logdir)
        fut = log.append_async(b"y")
        with pytest.raises(durlog.FailedError):
            fut.result(60)      # a hang guard: it comes within ~10 ms
    finally:
        with pytest.raises(durlog.Error):
            log.close()
