"""Fixtures of the durlog suite. Run it as python/tests/README says:
PYTHONPATH=<build dir>:$(scripts/pyshim.sh) python3 -m pytest python/tests"""
import os

import pytest

import durlog  # noqa: F401  (fails early, and clearly, when the build dir is not on PYTHONPATH)


@pytest.fixture
def logdir(tmp_path):
    """A path (str) for a fresh log directory, not yet created, under tmp_path."""
    return str(tmp_path / "log")


@pytest.fixture
def log(logdir):
    """A Log open at `kernel` on a fresh directory, closed after the test."""
    lg = durlog.open(logdir)
    yield lg
    if not lg.closed:
        lg.close()


def pytest_report_header(config):
    return "durlog %s from %s" % (durlog.__version__, os.path.dirname(durlog.__file__))


def pytest_sessionfinish(session, exitstatus):
    """Removes this run's temporary directory when every test passed (kept
    for a look when one failed; pytest keeps the last three runs)."""
    if exitstatus != 0 or hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None) if factory else None
    if base is not None and os.path.isdir(base):
        import shutil
        shutil.rmtree(base, ignore_errors=True)
