#!/usr/bin/env python3
"""The first origin article's two-process experiment, with durlog.

The article (a Python blog post on how writes reach the disk) runs two
processes: `-w` opens 1.txt, writes 'hehe\\n' and sleeps 10 s without closing
the file; `-r`, started meanwhile, reads the file and prints nothing, since
the line is still in the writer's own buffer. With flush() (+ os.fsync())
the reader sees it. It then argues that a process's own buffer dies with the
process while the kernel's page cache does not.

This script runs that experiment for the article's three ways of writing
and for durlog at each of its levels, and adds the kill: for each row

  1. a writer process writes N 'hehe' records, tells us how many it wrote
     (they were all acknowledged: each call returned), and sleeps;
  2. a separate reader process, started while the writer sleeps, counts the
     records it can see (and, for durlog, the ones a durable-only reader
     sees: those known to be on stable storage);
  3. the writer is killed with SIGKILL (no close, no atexit, no flush);
  4. a new reader counts what survived.

Expected: open().write() without flush() leaves what is in Python's 8 KiB
buffer in the writer's memory (the article's one line was all of it): the
reader misses the tail, and the kill loses it. 'buffered' keeps records in
the writer's memory too (up to 64 KiB): the reader sees none of these
10 KB and none survive the kill.
'kernel' (like write()+flush()) puts each record in the page cache before
append returns: the reader sees all of them and all survive kill -9, at no
fsync cost. 'sync' (like flush()+os.fsync()) also has them on stable storage
when append returns (durable-only reader sees all); 'interval' gets there
within interval_ms (here 1000 ms, so usually not yet when the reader looks).
Only a power loss would tell 'kernel' and 'sync' apart; kill -9 cannot.

Usage: python3 hehe.py [DIR]   (DIR: where to make a scratch directory,
default /var/tmp; it is removed at the end). Exits 1 if a row does not
behave as described above.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

N = 1000                     # records per writer: 10 KB, under 'buffered''s 64 KiB buffer
PARTIAL = -1
ROWS = [
    # name, kind, what the reader should see, what should survive the kill
    # (PARTIAL: fewer than N, as Python's 8 KiB buffer wrote out all but the tail)
    ("open().write()", "plain", PARTIAL, PARTIAL),
    ("write()+flush()", "flush", N, N),
    ("flush()+os.fsync()", "fsync", N, N),
    ("durlog buffered", "buffered", 0, 0),
    ("durlog kernel", "kernel", N, N),
    ("durlog interval", "interval", N, N),
    ("durlog sync", "sync", N, N),
]


def line(i):
    return "hehe %d\n" % i


# ---- the two roles, each run in a child process ---------------------------

def writer(kind, path):
    if kind in ("plain", "flush", "fsync"):
        f = open(path, "w")        # the article's code: a text file, default buffering
        for i in range(N):
            f.write(line(i))
            if kind != "plain":
                f.flush()
            if kind == "fsync":
                os.fsync(f.fileno())
    else:
        import durlog
        log = durlog.open(path, level=kind, interval_ms=1000)
        for i in range(N):
            log.append(line(i))
    print(N, flush=True)           # every write/append above has returned
    time.sleep(60)                 # the article sleeps 10 s; we are killed first


def reader(kind, path):
    if kind in ("plain", "flush", "fsync"):
        try:
            with open(path) as f:
                seen = sum(1 for _ in f)
        except FileNotFoundError:
            seen = 0
        print(seen, -1)
        return
    import durlog
    try:
        seen = sum(1 for _ in durlog.reader(path))
        durable = sum(1 for _ in durlog.reader(path, durable_only=True))
    except FileNotFoundError:      # a log whose writer never created a segment
        seen = durable = 0
    print(seen, durable)


# ---- the experiment ---------------------------------------------------------

def read_counts(kind, path):
    out = subprocess.run([sys.executable, __file__, "--role", "reader", kind, path],
                         stdout=subprocess.PIPE, check=True, text=True, timeout=60).stdout
    seen, durable = out.split()
    return int(seen), int(durable)


def run_row(kind, path):
    w = subprocess.Popen([sys.executable, __file__, "--role", "writer", kind, path],
                         stdout=subprocess.PIPE, text=True)
    try:
        acked = int(w.stdout.readline() or -1)
        seen, durable = read_counts(kind, path)
    finally:
        w.send_signal(signal.SIGKILL)
        w.wait()
        w.stdout.close()
    survived, _ = read_counts(kind, path)
    return acked, seen, durable, survived


def main(argv):
    if len(argv) >= 2 and argv[1] == "--role":
        (writer if argv[2] == "writer" else reader)(argv[3], argv[4])
        return 0
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
        return 2
    parent = argv[1] if len(argv) == 2 else "/var/tmp"
    scratch = tempfile.mkdtemp(prefix="durlog-hehe-", dir=parent)
    failures = 0
    try:
        print("%d 'hehe' records per writer, in %s" % (N, scratch))
        print()
        head = "%-20s %8s %12s %14s %15s" % ("writer", "written", "reader saw",
                                             "durable seen", "after kill -9")
        print(head)
        print("-" * len(head))
        for name, kind, want_seen, want_survived in ROWS:
            path = os.path.join(scratch, kind + (".txt" if kind in ("plain", "flush", "fsync")
                                                 else ".log"))
            acked, seen, durable, survived = run_row(kind, path)
            if want_seen == PARTIAL:   # what the reader saw is what survived: the rest died
                ok = acked == N and 0 <= seen < N and survived == seen
            else:
                ok = acked == N and seen == want_seen and survived == want_survived
            if kind == "sync" and durable != N:
                ok = False
            failures += not ok
            print("%-20s %8d %12d %14s %15d%s" % (name, acked, seen,
                                                 "-" if durable < 0 else durable, survived,
                                                 "" if ok else "   <- unexpected"))
        print()
        print("reader saw: records a second process read while the writer slept with its "
              "file open;\ndurable seen: records a durable-only reader saw then (on stable "
              "storage);\nafter kill -9: records a new reader found once the writer was "
              "killed.")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        print("%d row(s) did not behave as expected" % failures, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
