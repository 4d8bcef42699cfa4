#!/usr/bin/env python3
"""The Python package's benchmark (issue #19's "Benchmarks" list).

Each contender runs against the baseline the issue names, on the same disk,
in one run: R rounds (default 5), each round running every row once in
turn, so that a noisy machine slows all rows alike; the table shows
medians. Rows and targets:

  kernel, 1 thread     Log.append of 100-byte records at 'kernel'
                       vs os.write() per line on an O_APPEND fd (the second
                       article's os.open/os.write): >= 1,000,000 records/s
                       and >= 2x the baseline
  sync, 1 thread       Log.append at 'sync', one record at a time, vs
                       f.write(); f.flush(); os.fsync() per line (the first
                       article): >= 1.2x
  sync, 16 threads     16 Python threads appending at 'sync' on one Log vs
                       the C library's 16 threads in the same run (`durlog
                       bench --only "sync, 16 threads"`, one round each time,
                       build/durlog): >= 0.7x
  asyncio, sync        one coroutine, append_durable of every record at once
                       (all in flight), then awaiting them: >= 100,000 durable
                       records/s (no baseline)
  read                 iterating durlog.reader over 1,000,000 records (100
                       bytes, written once before the rounds): >= 1,000,000
                       records/s (no baseline)
  put                  durlog.put(dest, open(src, 'rb')) of 1 GiB vs
                       `durlog put --no-progress src dest` of the same file:
                       >= 0.9x

Every row checks what it wrote (record counts, the put's size) and the run
exits 1 if one is wrong or a row fails; a missed target is reported in the
table, not by the exit status. Files go in a scratch directory made in
--dir (default /var/tmp), removed at the end.

Usage: python3 bench.py [--dir DIR] [--rounds R] [--records N]
       [--seconds S] [--read-records N] [--size SIZE] [--durlog PATH] [--quick]
"""
import argparse
import asyncio
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# python/ holds the package's sources: unless the extension was built in
# place there, import the installed durlog (PYTHONPATH), not these.
if not any(f.startswith("_durlog") and f.endswith(".so")
           for f in os.listdir(os.path.join(HERE, "durlog"))):
    sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

import durlog  # noqa: E402

RECORD = b"x" * 99 + b"\n"


# ---- helpers ----------------------------------------------------------------

class Scratch:
    """Fresh paths in the scratch directory, removed after each use."""

    def __init__(self, base):
        self.base = base
        self.n = 0

    def path(self, name):
        self.n += 1
        return os.path.join(self.base, "%s-%d" % (name, self.n))


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


class Failed(Exception):
    pass


def expect(what, got, want):
    if got != want:
        raise Failed("%s: %r, expected %r" % (what, got, want))


def log_count(path):
    with durlog.reader(path) as r:
        return sum(1 for _ in r)


# ---- the contenders: each returns (units done, seconds) --------------------

def kernel_append(sc, a):
    path = sc.path("kernel")
    n = a.records
    try:
        with durlog.open(path, level="kernel") as log:
            append = log.append
            rng = range(n)
            t0 = time.perf_counter()
            for _ in rng:
                append(RECORD)
            dt = time.perf_counter() - t0
            expect("kernel records", log.info().next_seq, n)
        return n, dt
    finally:
        remove(path)


def os_write(sc, a):
    path = sc.path("oswrite")
    n = a.records
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        write = os.write
        rng = range(n)
        t0 = time.perf_counter()
        for _ in rng:
            write(fd, RECORD)
        dt = time.perf_counter() - t0
        expect("os.write bytes", os.fstat(fd).st_size, n * len(RECORD))
        return n, dt
    finally:
        os.close(fd)
        remove(path)


def sync_append(sc, a):
    path = sc.path("sync1")
    try:
        with durlog.open(path, level="sync") as log:
            append = log.append
            n = 0
            t0 = time.perf_counter()
            end = t0 + a.seconds
            while True:
                append(RECORD)
                n += 1
                if time.perf_counter() >= end:
                    break
            dt = time.perf_counter() - t0
            info = log.info()
            expect("sync records", info.next_seq, n)
            expect("sync durable", info.durable_seq, n)
        return n, dt
    finally:
        remove(path)


def fsync_per_line(sc, a):
    path = sc.path("fsync")
    try:
        with open(path, "wb") as f:
            fileno = f.fileno()
            n = 0
            t0 = time.perf_counter()
            end = t0 + a.seconds
            while True:
                f.write(RECORD)
                f.flush()
                os.fsync(fileno)
                n += 1
                if time.perf_counter() >= end:
                    break
            dt = time.perf_counter() - t0
        expect("fsync bytes", os.path.getsize(path), n * len(RECORD))
        return n, dt
    finally:
        remove(path)


THREADS = 16


def sync_threads(sc, a):
    path = sc.path("sync16")
    counts = [0] * THREADS
    errors = []
    try:
        with durlog.open(path, level="sync") as log:
            start = threading.Barrier(THREADS + 1)
            stop = threading.Event()

            def worker(i):
                append = log.append
                n = 0
                try:
                    start.wait()
                    while not stop.is_set():
                        append(RECORD)
                        n += 1
                except BaseException as e:      # reported below
                    errors.append(e)
                counts[i] = n

            ts = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
            for t in ts:
                t.start()
            start.wait()
            t0 = time.perf_counter()
            time.sleep(a.seconds)
            stop.set()
            for t in ts:
                t.join()
            dt = time.perf_counter() - t0
            if errors:
                raise Failed("sync thread: %r" % errors[0])
            n = sum(counts)
            info = log.info()
            expect("16-thread records", info.next_seq, n)
            expect("16-thread durable", info.durable_seq, n)
        return n, dt
    finally:
        remove(path)


def c_sync_threads(sc, a):
    """The C library's 16 threads at sync: one round of `durlog bench`."""
    cmd = [a.durlog, "bench", "--dir", sc.base, "--only", "sync, %d threads" % THREADS,
           "--threads", str(THREADS), "--rounds", "1", "-o", "csv"] + (["--quick"] if a.quick else [])
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise Failed("%s: exit %d: %s" % (" ".join(cmd), out.returncode, out.stderr.strip()))
    import csv
    rows = list(csv.DictReader(out.stdout.splitlines()))
    if len(rows) != 1:
        raise Failed("durlog bench printed %d rows, not 1" % len(rows))
    row = rows[0]
    expect("durlog bench verified records", row["verified_records"], row["records"])
    return int(row["records"]), float(row["seconds"])


def asyncio_sync(sc, a):
    path = sc.path("asyncio")
    n = a.async_records
    try:
        with durlog.open(path, level="kernel") as log:
            async def go():
                t0 = time.perf_counter()
                ad = log.append_durable
                futs = [ad(RECORD) for _ in range(n)]
                seqs = await asyncio.gather(*futs)
                dt = time.perf_counter() - t0
                expect("asyncio seqs", seqs[-1], n - 1)
                return dt
            dt = asyncio.run(go())
            info = log.info()
            expect("asyncio durable", info.durable_seq >= n, True)
        return n, dt
    finally:
        remove(path)


def make_read_log(sc, a):
    path = sc.path("read")
    with durlog.open(path, level="kernel") as log:
        batch = [RECORD] * 10000
        left = a.read_records
        while left:
            k = min(left, len(batch))
            log.append_many(batch[:k])
            left -= k
        log.flush("sync")
    return path


def read_all(sc, a):
    n = 0
    t0 = time.perf_counter()
    with durlog.reader(a.read_path) as r:
        for rec in r:
            n += 1
    dt = time.perf_counter() - t0
    expect("records read", n, a.read_records)
    expect("last record", rec.data, RECORD)
    return n, dt


def make_put_source(sc, a):
    path = sc.path("put-src")
    block = bytes(range(256)) * 4096          # 1 MiB
    with open(path, "wb") as f:
        left = a.size
        while left:
            k = min(left, len(block))
            f.write(block[:k])
            left -= k
        f.flush()
        os.fsync(f.fileno())
    return path


def put_python(sc, a):
    dest = sc.path("put-py")
    try:
        with open(a.put_src, "rb") as src:
            t0 = time.perf_counter()
            n = durlog.put(dest, src)
            dt = time.perf_counter() - t0
        expect("durlog.put bytes", n, a.size)
        expect("durlog.put file size", os.path.getsize(dest), a.size)
        return a.size / 2**20, dt
    finally:
        remove(dest)


def put_command(sc, a):
    dest = sc.path("put-cli")
    try:
        t0 = time.perf_counter()
        out = subprocess.run([a.durlog, "put", "--no-progress", a.put_src, dest],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        dt = time.perf_counter() - t0
        if out.returncode != 0:
            raise Failed("durlog put: exit %d: %s" % (out.returncode, out.stderr.strip()))
        expect("durlog put file size", os.path.getsize(dest), a.size)
        return a.size / 2**20, dt
    finally:
        remove(dest)


# name, function, unit, baseline row (or None), target rate, target ratio
ROWS = [
    ("kernel, 1 thread (Log.append)", kernel_append, "rec", "os.write() per line, O_APPEND",
     1_000_000, 2.0),
    ("os.write() per line, O_APPEND", os_write, "rec", None, None, None),
    ("sync, 1 thread (Log.append)", sync_append, "rec", "f.write+flush+os.fsync per line",
     None, 1.2),
    ("f.write+flush+os.fsync per line", fsync_per_line, "rec", None, None, None),
    ("sync, 16 Python threads", sync_threads, "rec", "C library, 16 threads (durlog bench)",
     None, 0.7),
    ("C library, 16 threads (durlog bench)", c_sync_threads, "rec", None, None, None),
    ("asyncio, 1 coroutine, sync", asyncio_sync, "rec", None, 100_000, None),
    ("read (durlog.reader)", read_all, "rec", None, 1_000_000, None),
    ("durlog.put from a file", put_python, "MiB", "durlog put command", None, 0.9),
    ("durlog put command", put_command, "MiB", None, None, None),
]


# ---- the header and the table -------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_rate(rate, unit):
    if unit == "MiB":
        return "{:,.0f} MiB/s".format(rate)
    return "{:,.0f}/s".format(rate)


def target_text(rate, ratio, baseline):
    parts = []
    if rate:
        parts.append(">= {:,}/s".format(rate))
    if ratio:
        parts.append(">= %.1fx" % ratio)
    return ", ".join(parts) or "-"


def size_arg(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().rstrip("B").rstrip("I")
    mul = units.get(t[-1:], 1)
    try:
        n = int(t[:-1] if t[-1:] in units else t) * mul
    except ValueError:
        raise argparse.ArgumentTypeError("not a size: %r (e.g. 1G, 64M)" % text)
    if n <= 0:
        raise argparse.ArgumentTypeError("the size must be positive")
    return n


def find_durlog(given):
    if given:
        return given
    path = os.path.join(ROOT, "build", "durlog")
    if not os.access(path, os.X_OK):
        print("building %s (make -j2 build/durlog)" % path, file=sys.stderr)
        subprocess.run(["make", "-C", ROOT, "-j2", "build/durlog"], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/var/tmp", help="where to make the scratch directory")
    ap.add_argument("--rounds", type=int, help="rounds (default 5, --quick 1)")
    ap.add_argument("--records", type=int, help="records per kernel row (default 500000)")
    ap.add_argument("--async-records", type=int, help="records in flight, asyncio row "
                    "(default 100000)")
    ap.add_argument("--seconds", type=float, help="time per sync row per round (default 1)")
    ap.add_argument("--read-records", type=int, help="records to read (default 1000000)")
    ap.add_argument("--size", type=size_arg, help="bytes to put (default 1G; e.g. 64M)")
    ap.add_argument("--durlog", help="the durlog command (default: build/durlog, made if "
                    "missing)")
    ap.add_argument("--only", help="run only the rows (and their baselines) whose name "
                    "contains this text")
    ap.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    a = ap.parse_args()
    q = a.quick
    a.rounds = a.rounds or (1 if q else 5)
    a.records = a.records or (2000 if q else 500_000)
    a.async_records = a.async_records or (2000 if q else 100_000)
    a.seconds = a.seconds or (0.05 if q else 1.0)
    a.read_records = a.read_records or (2000 if q else 1_000_000)
    a.size = a.size or ((1 << 20) if q else (1 << 30))
    if min(a.rounds, a.records, a.async_records, a.read_records) < 1 or a.seconds <= 0:
        ap.error("counts and --seconds must be positive")

    rows = ROWS
    if a.only:
        keep = {r[0] for r in ROWS if a.only in r[0]}
        keep |= {r[3] for r in ROWS if r[0] in keep and r[3]}
        rows = [r for r in ROWS if r[0] in keep]
    names = {r[0] for r in rows}
    if any(r[1] in (c_sync_threads, put_command) for r in rows):
        a.durlog = find_durlog(a.durlog)

    base = tempfile.mkdtemp(prefix="durlog-pybench-", dir=a.dir)
    sc = Scratch(base)
    try:
        fs, io_mode = durlog.fs_type(base)
        with durlog.open(os.path.join(base, "probe")) as log:
            engine = log.engine
        remove(os.path.join(base, "probe"))
        print("python/bench.py: durlog %s, Python %s, records of %d bytes in %s (%s)"
              % (durlog.__version__, platform.python_version(), len(RECORD), base, fs))
        print("%s, %d CPUs, Linux %s, engine %s, I/O mode %s, %s, %d round(s)%s"
              % (cpu_model(), os.cpu_count() or 0, platform.release(), engine, io_mode,
                 datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 a.rounds, ", --quick" if q else ""))
        if "read (durlog.reader)" in names:
            a.read_path = make_read_log(sc, a)
        if "durlog.put from a file" in names or "durlog put command" in names:
            a.put_src = make_put_source(sc, a)

        samples = {r[0]: [] for r in rows}
        counts = {r[0]: 0 for r in rows}
        for i in range(a.rounds):
            # Every other round in reverse: a row and its baseline take turns
            # running first (the first pays for the writeback the rows
            # before it left behind).
            for name, fn, *_ in (rows if i % 2 == 0 else rows[::-1]):
                done, dt = fn(sc, a)
                samples[name].append(done / dt)
                counts[name] += done

        med = {k: statistics.median(v) for k, v in samples.items()}
        print()
        head = "%-40s %15s %8s %26s  %s" % ("row", "rate (median)", "ratio", "target", "result")
        print(head)
        print("-" * len(head))
        missed = 0
        baselines = {r[3] for r in rows if r[3]}
        for name, fn, unit, baseline, t_rate, t_ratio in rows:
            rate = med[name]
            ratio = rate / med[baseline] if baseline in med and med[baseline] else None
            result = ""
            if t_rate or t_ratio:
                ok = not t_rate or rate >= t_rate
                if t_ratio and ratio is None:
                    result = "(no baseline run)"
                elif t_ratio:
                    ok = ok and ratio >= t_ratio
                result = result or ("met" if ok else "MISSED")
                missed += not ok
            shown = ("  vs " + name) if name in baselines else name
            print(("%-40s %15s %8s %26s  %s" % (
                shown, fmt_rate(rate, unit), "%.2fx" % ratio if ratio is not None else "",
                target_text(t_rate, t_ratio, baseline) if (t_rate or t_ratio) else "",
                result)).rstrip())
        print("(ratio: the row's median over the median of the 'vs' row below it)")
        print()
        print("rates: medians of %d round(s), each round running every row once in turn; "
              "spread (min-max):" % a.rounds)
        for name, fn, unit, *_ in rows:
            v = samples[name]
            print("  %-38s %s .. %s  (%s %s in all)" % (
                name, fmt_rate(min(v), unit), fmt_rate(max(v), unit),
                "{:,.0f}".format(counts[name]), "records" if unit == "rec" else "MiB"))
        print("%d target(s) missed" % missed if missed else "every target met")
    except Failed as e:
        print("bench.py: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
