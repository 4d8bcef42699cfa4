"""Helpers shared by the suite's modules (not tests)."""
import os
import subprocess
import sys

import durlog


def child(code, *args, **kw):
    """Starts `python -c code args...` with this interpreter and environment
    (so that it imports the same durlog), stdout and stderr piped."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-c", code] + [str(a) for a in args],
                            env=dict(os.environ), **kw)


def records(path, **kw):
    """Every record of the log at `path` as a list of (seq, data)."""
    with durlog.reader(path, **kw) as r:
        return [(rec.seq, rec.data) for rec in r]


def segments(path):
    return sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".seg"))
