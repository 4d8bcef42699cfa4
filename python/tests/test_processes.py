"""Several processes: a writer and a reader in two Python processes, kill -9
of a writer mid-stream, 16 threads sharing fdatasyncs (counted by strace),
os.fork(), and KeyboardInterrupt of blocking calls.
Run: PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

import durlog
from _helpers import child, records

pytestmark = pytest.mark.slow

WRITER = r"""
import durlog, sys, time
path, n = sys.argv[1], int(sys.argv[2])
with durlog.open(path) as log:
    print("open", flush=True)
    sys.stdin.readline()                  # the reader is following
    for i in range(n):
        log.append(b"rec-%d-" % i + b"x" * (i % 200))
        if i % 1000 == 0:
            time.sleep(0.005)
"""


def test_writer_and_reader_in_two_processes(logdir):
    n = 20000
    w = child(WRITER, logdir, n, stdin=subprocess.PIPE)
    try:
        assert w.stdout.readline() == b"open\n"
        got = []
        with durlog.reader(logdir) as r:
            w.stdin.write(b"go\n")
            w.stdin.flush()
            for rec in r.follow(timeout=30):
                got.append((rec.seq, rec.data))
                if rec.seq == n - 1:
                    break
        assert w.wait(60) == 0, w.stderr.read().decode()
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    assert got == [(i, b"rec-%d-" % i + b"x" * (i % 200)) for i in range(n)]


READER = r"""
import durlog, sys
path, n = sys.argv[1], int(sys.argv[2])
r = durlog.reader(path)
print("open", flush=True)
bad = 0
count = 0
for rec in r.follow(timeout=30):
    if rec.seq != count or rec.data != b"w%d" % count:
        bad += 1
    count += 1
    if count == n:
        break
print(count, bad, flush=True)
"""


def test_reader_process_follows_a_writer_process_at_sync(logdir):
    n = 3000
    durlog.open(logdir).close()
    r = child(READER, logdir, n)
    try:
        assert r.stdout.readline() == b"open\n"
        with durlog.open(logdir, level="sync") as lg:
            for i in range(n):
                lg.append(b"w%d" % i)
        out, err = r.communicate(timeout=60)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait()
    assert r.returncode == 0, err.decode()
    assert out.split() == [b"%d" % n, b"0"]


KILLED_WRITER = r"""
import durlog, sys
path = sys.argv[1]
log = durlog.open(path, level="kernel")
i = 0
while True:
    seq = log.append(b"acked-%d-" % i + b"y" * (i % 300))
    sys.stdout.write("%d %d\n" % (seq, i))
    sys.stdout.flush()
    i += 1
"""


def test_kill_9_of_a_writer_keeps_every_acknowledged_kernel_record(logdir):
    w = child(KILLED_WRITER, logdir)
    acked = []
    try:
        while len(acked) < 5000:
            line = w.stdout.readline()
            assert line, w.stderr.read().decode()
            seq, i = map(int, line.split())
            acked.append((seq, i))
    finally:
        w.send_signal(signal.SIGKILL)
        w.wait()
    assert w.returncode == -signal.SIGKILL
    # the whole lines the pipe held when it died were acknowledged too
    for line in w.stdout.read().split(b"\n")[:-1]:
        seq, i = map(int, line.split())
        acked.append((seq, i))
    w.stdout.close()
    w.stderr.close()
    got = dict(records(logdir))
    assert len(got) >= len(acked)
    for seq, i in acked:
        assert got.get(seq) == b"acked-%d-" % i + b"y" * (i % 300), seq
    # and the log opens again, whole, and goes on after them
    with durlog.open(logdir) as lg:
        nxt = lg.append(b"after")
    assert nxt >= acked[-1][0] + 1
    assert durlog.check(logdir)


THREADS = r"""
import durlog, sys, threading
path, nthreads, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
log = durlog.open(path, engine="thread")
start = threading.Barrier(nthreads)
def w(t):
    start.wait()
    for i in range(per):
        log.append(b"%d-%d" % (t, i), level="sync")
ts = [threading.Thread(target=w, args=(t,)) for t in range(nthreads)]
for t in ts: t.start()
for t in ts: t.join()
print(log.info().durable_seq, flush=True)
log.close()
"""


def test_sixteen_threads_at_sync_share_fdatasyncs(logdir, tmp_path):
    nthreads, per = 16, 200
    n = nthreads * per
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: cannot count fdatasyncs")
    summary = tmp_path / "strace.out"
    cmd = [strace, "-f", "-c", "-o", str(summary), "-e", "trace=fdatasync",
           sys.executable, "-c", THREADS, logdir, str(nthreads), str(per)]
    p = subprocess.run(cmd, env=dict(os.environ), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0 and b"ptrace" in p.stderr:
        pytest.skip("strace cannot trace here: %s" % p.stderr.decode()[-300:])
    assert p.returncode == 0, p.stderr.decode()
    assert int(p.stdout) >= n
    recs = records(logdir)
    assert len(recs) == n
    for t in range(nthreads):
        assert [d for _, d in recs if d.startswith(b"%d-" % t)] == \
            [b"%d-%d" % (t, i) for i in range(per)]
    m = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?fdatasync\s*$",
                  summary.read_text(), re.M)
    assert m, summary.read_text()
    syncs = int(m.group(1))
    # every sync append was made durable by an fdatasync, and they shared them
    # (here 4 to 8 records per fdatasync; one each without group commit)
    assert 0 < syncs <= n // 2, (syncs, n)


FORK = r"""
import durlog, json, os, sys
path = sys.argv[1]
log = durlog.open(path)
log.append(b"parent-before")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    out = {}
    try:
        try:
            log.append(b"child-with-parent-log")
            out["append"] = "no error"
        except durlog.FailedError as e:
            out["append"] = "FailedError"
            out["errno"] = e.errno
        except BaseException as e:
            out["append"] = type(e).__name__
        try:
            log.close()
            out["close"] = "ok"
            out["closed"] = log.closed
        except BaseException as e:
            out["close"] = type(e).__name__
        with durlog.open(path) as own:
            out["own"] = own.append(b"child-own", level="sync")
    finally:
        os.write(w, json.dumps(out).encode())
        os._exit(0)
os.close(w)
_, status = os.waitpid(pid, 0)
out = json.loads(os.read(r, 65536))
out["status"] = status
out["parent_after"] = log.append(b"parent-after", level="sync")
log.close()
print(json.dumps(out))
"""


def test_after_fork_the_child_gets_failed_error_and_opens_its_own(logdir):
    p = child(FORK, logdir)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()
    res = json.loads(out)
    assert res["append"] == "FailedError" and res["errno"] == 5
    assert res["close"] == "ok" and res["closed"] is True
    assert res["own"] == 1
    assert res["status"] == 0
    assert res["parent_after"] == 2          # the parent's Log is untouched
    assert records(logdir) == [(0, b"parent-before"), (1, b"child-own"), (2, b"parent-after")]


INTERRUPTED = {
    "Log.wait": r"""
log = durlog.open(path)
log.append(b"x")
ready()
log.wait(1000, "kernel")
""",
    "Log.wait with a timeout": r"""
log = durlog.open(path)
ready()
log.wait(1000, "sync", timeout=600)
""",
    "Reader.wait": r"""
log = durlog.open(path)
r = durlog.reader(path)
ready()
r.wait()
""",
    "Reader.follow": r"""
log = durlog.open(path)
log.append(b"x")
r = durlog.reader(path)
ready()
for rec in r.follow():
    pass
""",
    "Reader.follow with a timeout": r"""
log = durlog.open(path)
r = durlog.reader(path)
ready()
for rec in r.follow(timeout=600):
    pass
""",
    "async for over Reader.follow": r"""
import asyncio
log = durlog.open(path)
async def main():
    r = durlog.reader(path)
    ready()
    async for rec in r.follow():
        pass
asyncio.run(main())
""",
    "put of an iterable": r"""
def chunks():
    yield b"a" * 100000
    ready()
    time.sleep(600)
    yield b"never"
durlog.put(target, chunks())
""",
    "put of a buffered pipe": r"""
rfd, wfd = os.pipe()
os.write(wfd, b"some")
ready()
durlog.put(target, os.fdopen(rfd, "rb"))
""",
    "atomic_open": r"""
with durlog.atomic_open(target) as f:
    f.write(b"half")
    ready()
    time.sleep(600)
""",
}

INTERRUPT_PRELUDE = r"""
import durlog, os, sys, time
path, target = sys.argv[1], sys.argv[2]
def ready():
    print("ready", flush=True)
try:
%s
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(3)
print("returned", flush=True)
"""


def _interrupt(code, logdir, tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"old")
    body = "\n".join("    " + line for line in code.strip().splitlines())
    p = child(INTERRUPT_PRELUDE % body, logdir, target)
    try:
        assert p.stdout.readline() == b"ready\n", p.stderr.read().decode()
        time.sleep(0.3)                  # let it block
        p.send_signal(signal.SIGINT)
        # a hang guard, not a speed claim
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert (p.returncode, out) == (3, b"KeyboardInterrupt\n"), err.decode()[-2000:]
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == sorted(["target", "log"] if os.path.exists(logdir)
                                                  else ["target"])


@pytest.mark.parametrize("what", list(INTERRUPTED))
def test_keyboard_interrupt_stops_a_blocking_call(logdir, tmp_path, what):
    _interrupt(INTERRUPTED[what], logdir, tmp_path)


def test_keyboard_interrupt_stops_put_of_an_unbuffered_pipe(logdir, tmp_path):
    _interrupt(r"""
rfd, wfd = os.pipe()
os.write(wfd, b"some")
ready()
durlog.put(target, os.fdopen(rfd, "rb", buffering=0))
""", logdir, tmp_path)
