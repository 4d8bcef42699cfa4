#!/usr/bin/env python3
"""100,000 lines: the first origin article's timing experiment, with durlog.

The article writes 100,000 strings to a file plainly (f.write), with
flush() so that another process sees them, with flush()+os.fsync() after
every one ("thousands of times slower"), and 500 strings joined per write
("about twice as fast", but a crash loses what the process still holds).
This script times those and durlog's levels on the same disk, each row
writing 100-byte lines (99 bytes and a newline):

  f.write per line              Python's buffered file, closed at the end
  f.write+flush per line        each line handed to the kernel (survives the
                                process dying, as 'kernel' does)
  f.write+flush+os.fsync        every line on stable storage before the next
  f.write of 500 lines joined   one write per 500 lines
  durlog buffered / kernel / interval
                                one append per line; 'kernel' is in the page
                                cache (survives kill -9) when append returns
  durlog sync                   one append per line, each on stable storage
                                when it returns (as the fsync row)
  durlog sync, 500 per batch    append_many of 500 lines: one fdatasync per
                                500 separate records
  durlog sync, asyncio          append_durable from one coroutine, all lines
                                in flight: each future resolves once its line
                                is durable; fdatasyncs are shared

Rows that sync every line stop at --sync-lines (default 2,000: 100,000 of
them take 20-40 s on a disk with a 0.2 ms fsync); their rate is what counts.
Each row is checked afterwards (the file's line count, the log's record
count); a wrong count exits 1. This is a quick demo, one run of each row on
a noisy machine; python/bench.py is the benchmark.

Usage: python3 lines.py [--lines N] [--sync-lines N] [--dir DIR]
(DIR: where to make the scratch directory, default /var/tmp; removed after.)
"""
import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time

import durlog

LINE = b"x" * 99 + b"\n"


def plain(path, n):
    with open(path, "wb") as f:
        for _ in range(n):
            f.write(LINE)


def flush_each(path, n):
    with open(path, "wb") as f:
        for _ in range(n):
            f.write(LINE)
            f.flush()


def fsync_each(path, n):
    with open(path, "wb") as f:
        for _ in range(n):
            f.write(LINE)
            f.flush()
            os.fsync(f.fileno())


def joined(path, n):
    with open(path, "wb") as f:
        for start in range(0, n, 500):
            f.write(LINE * min(500, n - start))


def durlog_level(level):
    def run(path, n):
        with durlog.open(path, level=level) as log:
            append = log.append
            for _ in range(n):
                append(LINE)
    return run


def durlog_batches(path, n):
    with durlog.open(path, level="sync") as log:
        for start in range(0, n, 500):
            log.append_many([LINE] * min(500, n - start))


def durlog_asyncio(path, n):
    async def go():
        with durlog.open(path, level="kernel") as log:
            futs = [log.append_durable(LINE) for _ in range(n)]
            await asyncio.gather(*futs)
    asyncio.run(go())


def count_file(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def count_log(path):
    with durlog.reader(path) as r:
        return sum(1 for _ in r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=100_000, help="lines per row (default 100000)")
    ap.add_argument("--sync-lines", type=int, default=2000,
                    help="lines for the rows that sync every line (default 2000)")
    ap.add_argument("--dir", default="/var/tmp", help="where to make the scratch directory")
    a = ap.parse_args()
    if a.lines < 1 or a.sync_lines < 1:
        ap.error("--lines and --sync-lines must be positive")
    sync_n = min(a.sync_lines, a.lines)
    rows = [
        ("f.write per line", plain, a.lines, count_file),
        ("f.write+flush per line", flush_each, a.lines, count_file),
        ("f.write+flush+os.fsync per line", fsync_each, sync_n, count_file),
        ("f.write of 500 lines joined", joined, a.lines, count_file),
        ("durlog buffered", durlog_level("buffered"), a.lines, count_log),
        ("durlog kernel", durlog_level("kernel"), a.lines, count_log),
        ("durlog interval", durlog_level("interval"), a.lines, count_log),
        ("durlog sync", durlog_level("sync"), sync_n, count_log),
        ("durlog sync, 500 per batch", durlog_batches, a.lines, count_log),
        ("durlog sync, asyncio", durlog_asyncio, a.lines, count_log),
    ]
    scratch = tempfile.mkdtemp(prefix="durlog-lines-", dir=a.dir)
    bad = 0
    try:
        fs = durlog.fs_type(scratch)[0]
        print("%d lines of %d bytes in %s (%s)" % (a.lines, len(LINE), scratch, fs))
        if sync_n < a.lines:
            print("rows marked * write %d lines (--sync-lines): each one syncs every line"
                  % sync_n)
        print()
        head = "%-34s %9s %10s %12s %10s" % ("row", "lines", "seconds", "lines/s", "us/line")
        print(head)
        print("-" * len(head))
        results = []
        for i, (name, fn, n, count) in enumerate(rows):
            path = os.path.join(scratch, "row%d" % i)
            t0 = time.perf_counter()
            fn(path, n)
            dt = time.perf_counter() - t0
            got = count(path)
            mark = "*" if n < a.lines else " "
            note = "" if got == n else "   <- %d lines read back, not %d" % (got, n)
            bad += got != n
            results.append((name, n / dt))
            print("%-33s%s %9d %10.3f %12s %10.2f%s" % (name, mark, n, dt, "{:,.0f}".format(n / dt),
                                                        dt / n * 1e6, note))
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        rate = dict(results)
        print()
        print("Same promise, durlog over Python: buffered / f.write %.2fx (lost with the "
              "process);\nkernel / f.write+flush %.2fx (survives kill -9); sync / "
              "f.write+flush+os.fsync %.2fx (survives power loss)"
              % (rate["durlog buffered"] / rate["f.write per line"],
                 rate["durlog kernel"] / rate["f.write+flush per line"],
                 rate["durlog sync"] / rate["f.write+flush+os.fsync per line"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if bad:
        print("%d row(s) read back the wrong number of lines" % bad, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
