"""Builds the durlog package: the C extension durlog._durlog, made of the
package's own C files (python/src/) and libdurlog's sources (src/), compiled
in so that an installed package needs no libdurlog on the system.

    pip install --no-build-isolation ./python

(offline: setuptools comes from the machine, e.g. Debian's
python3-setuptools). Environment: DURLOG_PY_SANITIZE="-fsanitize=..." builds
the extension with sanitizers (the test suite's ASan run); DURLOG_PY_OPT
overrides the optimisation (-O2).
"""
import glob
import os
import re
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.install import install as _install

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if not os.path.exists(os.path.join(ROOT, "src", "writer.c")):
    sys.exit("durlog's Python package is built from the durlog source tree: "
             "python/ must sit next to src/ and include/")


def version():
    with open(os.path.join(ROOT, "include", "durlog.h")) as f:
        text = f.read()
    parts = [re.search(r"#define DURLOG_VERSION_%s\s+(\d+)" % p, text).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def pkg_config(name, *args):
    try:
        out = subprocess.run(["pkg-config", *args, name], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(out)


def rel(path):
    # setuptools wants source paths relative to setup.py's directory.
    return os.path.relpath(path, HERE)


define_macros = [("_GNU_SOURCE", None)]
extra_objects = []
libraries = []
# io_uring (the engine for background syncs): liburing linked in statically
# when Debian's liburing-dev has its archive, so the installed package does
# not depend on liburing's shared library; without liburing, the thread
# engine only (the library's own fallback).
uring_cflags = pkg_config("liburing", "--cflags")
if uring_cflags is not None:
    define_macros.append(("DURLOG_HAVE_LIBURING", None))
    libdir = (pkg_config("liburing", "--variable=libdir") or [""])[0]
    archive = os.path.join(libdir, "liburing.a")
    if os.path.exists(archive):
        extra_objects.append(archive)
    else:
        libraries.append("uring")
# ISA-L's CRC-32C for long records (x86-64): Debian ships it shared only.
if os.uname().machine == "x86_64" and pkg_config("libisal", "--cflags") is not None:
    define_macros.append(("DURLOG_HAVE_ISAL", None))
    libraries.append("isal")

sanitize = shlex.split(os.environ.get("DURLOG_PY_SANITIZE", ""))
opt = os.environ.get("DURLOG_PY_OPT", "-O2")
sources = sorted(glob.glob(os.path.join(HERE, "src", "*.c"))) + \
    sorted(glob.glob(os.path.join(ROOT, "src", "*.c")))



class install(_install):
    """Debian's setuptools (which scripts/pyshim.sh lends to a Python that
    has none) has its install_lib and install_egg_info read the install
    command's install_layout, multiarch and prefix_option, options Debian
    adds to the standard library's distutils: a Python from 3.12 on has no
    distutils, its install command no such options, and the build failed
    with AttributeError. None is what Debian's own distutils defaults them
    to (and the install command's finalize_options leaves them None here)."""

    def initialize_options(self):
        super().initialize_options()
        for name in ("install_layout", "multiarch", "prefix_option"):
            if not hasattr(self, name):
                setattr(self, name, None)


setup(
    name="durlog",
    cmdclass={"install": install},
    version=version(),
    description="Fast, safe appends to files: append-only logs with an explicit "
                "durability level per append (Python bindings of libdurlog)",
    license="see the durlog source tree",
    python_requires=">=3.9",
    packages=["durlog"],
    package_data={"durlog": ["py.typed", "*.pyi"]},
    ext_modules=[Extension(
        "durlog._durlog",
        sources=[rel(s) for s in sources],
        include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "src"),
                      os.path.join(HERE, "src")],
        define_macros=define_macros,
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden", "-pthread", opt,
                            "-Wall", "-Wno-missing-field-initializers"] + sanitize,
        extra_link_args=["-pthread",
                         "-Wl,--version-script=" + os.path.join(HERE, "src", "export.map")]
                        + sanitize,
        extra_objects=extra_objects,
        libraries=libraries,
    )],
)
