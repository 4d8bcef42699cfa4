#!/usr/bin/env python3
"""The second origin article's 4 GiB write, done whole with durlog.put.

The article builds data = b'ABCD' * 1024**3 (4 GiB in memory) and writes it
with os.write(): on Linux one write() moves at most 2,147,479,552 bytes, so
the call comes back short (the article saw 2147483647 on macOS) and the
article has to loop over the rest itself, printing its progress.

durlog.put(path, source) does the whole write: it takes bytes, a file object
or an iterable of bytes (here a generator of 1 MiB chunks of 'ABCD', so the
4 GiB never sit in memory), loops until every byte is written, fsyncs, and
renames the new file over `path` atomically, so after a crash at any moment
`path` holds the old content or all of the new, never part of it. Its
progress callback draws a bar on a terminal (when stdout is a terminal;
otherwise one line at the end) and could cancel the put by returning True;
Ctrl-C cancels it too, leaving the old file as it was.

Then the file's size is checked, and its first and last MiB are read back
(--md5 reads it all and, for 4 GiB, compares with the md5 the article
printed: 6a628b7c7be4251d724217b78b52ef6c). The file written is removed at
the end unless --keep (an interrupted or failed put leaves PATH as it was).

Usage: python3 big_write.py [--size SIZE] [--from-file] [--keep] [--md5] [PATH]
SIZE: bytes, or with a suffix K, M, G (powers of 1024), multiple of 4;
default 4G. PATH: default /var/tmp/durlog-big_write.log. --from-file first
writes the bytes to PATH.src plainly and then puts from that file object
(durlog copies it inside the kernel), as `durlog put SRC PATH` does.
"""
import argparse
import hashlib
import os
import sys
import time

import durlog

CHUNK = 1 << 20
ARTICLE_MD5 = "6a628b7c7be4251d724217b78b52ef6c"    # of b'ABCD' * 1024**3


def parse_size(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in units and t[-1:] != "" else ""
    try:
        n = int(t[:len(t) - len(unit)]) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError("not a size: %r (e.g. 4G, 64M, 1048576)" % text)
    if n <= 0 or n % 4:
        raise argparse.ArgumentTypeError("the size must be a positive multiple of 4")
    return n


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024


def chunks(size):
    """b'ABCD' repeated, `size` bytes in all, 1 MiB at a time."""
    block = b"ABCD" * (CHUNK // 4)
    left = size
    while left:
        n = min(left, CHUNK)
        yield block if n == CHUNK else block[:n]
        left -= n


class Bar:
    """A progress callback: a bar redrawn on a terminal (at most 10 times a
    second), nothing elsewhere."""

    def __init__(self, size, tty):
        self.size, self.tty = size, tty
        self.start = time.monotonic()
        self.drawn = 0.0

    def __call__(self, done, total):
        if not self.tty:
            return False
        now = time.monotonic()
        if now - self.drawn < 0.1 and done < self.size:
            return False
        self.drawn = now
        total = total or self.size
        frac = min(1.0, done / total)
        width = 30
        fill = int(frac * width)
        rate = done / max(now - self.start, 1e-9)
        sys.stdout.write("\r[%s%s] %5.1f%% %s of %s, %s/s   " % (
            "#" * fill, "." * (width - fill), frac * 100, human(done), human(total), human(rate)))
        sys.stdout.flush()
        return False        # True would cancel the put

    def end(self):
        if self.tty:
            sys.stdout.write("\n")


def check(path, size, md5):
    st = os.stat(path)
    if st.st_size != size:
        return "the file has %d bytes, not %d" % (st.st_size, size)
    with open(path, "rb") as f:
        head = f.read(min(size, CHUNK))
        f.seek(max(0, size - CHUNK))
        tail = f.read()
    if head != b"ABCD" * (len(head) // 4) or tail != b"ABCD" * (len(tail) // 4):
        return "the first or last MiB is not 'ABCD' repeated"
    if md5:
        h = hashlib.md5()
        with open(path, "rb") as f:
            while True:
                b = f.read(8 * CHUNK)
                if not b:
                    break
                h.update(b)
        got = h.hexdigest()
        print("md5 %s%s" % (got, "  (the article's, for 4 GiB: %s)" % ARTICLE_MD5
                            if size == 4 << 30 else ""))
        if size == 4 << 30:
            return None if got == ARTICLE_MD5 else "md5 differs from the article's"
        want = hashlib.md5()
        for c in chunks(size):
            want.update(c)
        if got != want.hexdigest():
            return "md5 differs from the bytes generated"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", default="/var/tmp/durlog-big_write.log")
    ap.add_argument("--size", type=parse_size, default=4 << 30,
                    help="bytes to write: 4G (default), 64M, 1048576...")
    ap.add_argument("--from-file", action="store_true",
                    help="put from a file object (PATH.src, written first) instead of a generator")
    ap.add_argument("--keep", action="store_true", help="keep the file written")
    ap.add_argument("--md5", action="store_true", help="read the file back whole and hash it")
    a = ap.parse_args()

    tty = sys.stdout.isatty()
    src = a.path + ".src"
    bar = Bar(a.size, tty)
    wrote = False           # the put replaced a.path: ours to remove
    try:
        if a.from_file:
            with open(src, "wb") as f:
                for c in chunks(a.size):
                    f.write(c)
            source = open(src, "rb")
        else:
            source = chunks(a.size)
        print("durlog.put %s of b'ABCD' into %s from %s" % (
            human(a.size), a.path, "a file object" if a.from_file else "a generator of 1 MiB"))
        t0 = time.monotonic()
        try:
            n = durlog.put(a.path, source, progress=bar, size_hint=a.size)
            wrote = True
        finally:
            if a.from_file:
                source.close()
        dt = time.monotonic() - t0
        bar.end()
        print("wrote %d bytes (%s) in %.2f s, %s/s, synced and renamed into place"
              % (n, human(n), dt, human(n / max(dt, 1e-9))))
        problem = "put returned %d, not %d" % (n, a.size) if n != a.size else None
        problem = problem or check(a.path, a.size, a.md5)
        if problem:
            print("FAILED: " + problem, file=sys.stderr)
            return 1
        print("checked: size%s" % (" and md5" if a.md5 else ", first and last MiB"))
        return 0
    except durlog.Error as e:
        print("FAILED: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:       # Ctrl-C cancels the put: the old file stays
        bar.end()
        print("interrupted: %s is as it was" % a.path, file=sys.stderr)
        return 130
    finally:
        if os.path.exists(src):
            os.unlink(src)
        if wrote and not a.keep and os.path.exists(a.path):
            os.unlink(a.path)


if __name__ == "__main__":
    sys.exit(main())
