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


def isolated(fn):
    """Runs the test in a forked child, so that a crash of the interpreter
    (a memory bug in the extension) fails this test instead of ending the
    whole run. Fixtures are set up in the parent, as usual."""
    import functools
    import signal
    import traceback

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                fn(*args, **kw)
                code = 0
            except BaseException:
                os.write(w, traceback.format_exc().encode())
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            out = f.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            raise AssertionError("the test's child process died of %s\n%s"
                                 % (signal.Signals(os.WTERMSIG(status)).name, out))
        if os.WEXITSTATUS(status) != 0:
            raise AssertionError("in the test's child process:\n" + out)
    return wrapper
