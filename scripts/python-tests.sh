#!/usr/bin/env bash
# Builds the Python package (python/) with whatever python3 comes first on
# PATH, into $B/python/, and runs its pytest suite (python/tests/) against
# that build. Ends like tests/run.sh: a line "N skipped", then "N passed,
# N failed" (a build that fails, a pytest that cannot run, crashes, times out
# or collects nothing counts as one failed test).
#   B=build scripts/python-tests.sh [--asan] [--build-only] [PYTEST ARGS...]
#   --asan        the extension built with ASan+UBSan (DURLOG_PY_SANITIZE,
#                 below) and run with their run-times preloaded into Python;
#                 tests marked asan_slow are deselected (and counted)
#   --build-only  build into $B/python/lib and stop (make python)
#   DURLOG_PYTHON=PATH        another interpreter than the first python3
#   DURLOG_PY_TEST_TIMEOUT=S  seconds the whole pytest run may take (1800)
# A Python that is not Debian's borrows Debian's setuptools, wheel and pytest
# through scripts/pyshim.sh; one with no pip builds with setup.py; one that
# cannot build at all (older than 3.9, no Python.h, no setuptools even lent)
# gives way to Debian's /usr/bin/python3, with a note saying so.
# Nothing is written under python/: setuptools' build directory and
# egg-info go under $B/python/build through a distutils config file.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
mode=normal; build_only=
while [ $# -gt 0 ]; do
    case $1 in
        --asan) mode=asan; shift;;
        --build-only) build_only=1; shift;;
        *) break;;
    esac
done
mkdir -p "$B/python"
babs=$(cd "$B" && pwd)
out=$babs/python
lib=$out/lib

# Ends the run as one failed test (and nothing passed), saying why.
fail() { # reason
    echo "not ok python: $1"
    echo "0 skipped"
    echo "0 passed, 1 failed"
    exit 1
}

# ---- the interpreter ----
# usable PYTHON: prints nothing and fails unless PYTHON (a real executable,
# not pyenv's shim script) can build and test the package with the shim.
usable() {
    local py=$1 shim
    shim=$(scripts/pyshim.sh "$py" 2>/dev/null) || return 1
    PYTHONPATH=$shim "$py" - <<'EOF' 2>/dev/null || return 1
import os, sys, sysconfig
assert sys.version_info >= (3, 9)
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
import setuptools, pytest
EOF
}
want=${DURLOG_PYTHON:-python3}
py=$("$want" -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -z "$py" ] || ! usable "$py"; then
    debian=/usr/bin/python3
    if [ "$py" != "$debian" ] && [ -x "$debian" ] && usable "$debian"; then
        echo "note: $want ($("$want" -V 2>&1 | head -n 1)) cannot build and test the package" \
             "(it needs CPython >= 3.9 with its headers, and setuptools and pytest, if only" \
             "Debian's lent by scripts/pyshim.sh): using Debian's $debian instead"
        py=$debian
    else
        fail "no python3 that can build the package (CPython >= 3.9 with Python.h; Debian's python3-dev, python3-setuptools, python3-pytest: scripts/deps.sh)"
    fi
fi
shim=$(scripts/pyshim.sh "$py")
version=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')

# ---- the build ----
sanitize=
if [ "$mode" = asan ]; then
    sanitize=${DURLOG_PY_SANITIZE:--fsanitize=address,undefined -fno-omit-frame-pointer}
    opt=${DURLOG_PY_OPT:--O1}
else
    opt=${DURLOG_PY_OPT:--O2}
fi
# setuptools puts its build directory under the source directory (python/)
# and rebuilds an extension only when a .c file is newer than it: the
# config file moves the directory under $B/python, and force=1 rebuilds
# every time (a changed header or flag, the ASan build, another Python).
# distutils reads it as the user's ~/.pydistutils.cfg, so from a HOME of its
# own.
mkdir -p "$out/home" "$out/build"
cat >"$out/home/.pydistutils.cfg" <<EOF
[build]
build_base = $out/build
build_lib = $out/build/lib
force = 1
[egg_info]
egg_base = $out/build
EOF
log=$out/build.log
rm -rf "$lib"
echo "building the package with $py (Python $version)${sanitize:+, $sanitize}"
if "$py" -c 'import pip' 2>/dev/null; then
    (cd python && HOME=$out/home PYTHONPATH=$shim DURLOG_PY_SANITIZE="$sanitize" DURLOG_PY_OPT="$opt" \
        "$py" -m pip install -v --no-build-isolation --no-index --no-cache-dir \
        --disable-pip-version-check --no-warn-script-location --target "$lib" .) >"$log" 2>&1
else
    echo "note: $py has no pip: building with setup.py build"
    (cd python && HOME=$out/home PYTHONPATH=$shim DURLOG_PY_SANITIZE="$sanitize" DURLOG_PY_OPT="$opt" \
        "$py" setup.py build && mkdir -p "$lib" && cp -r "$out/build/lib/durlog" "$lib/") >"$log" 2>&1
fi
rc=$?
if [ "$rc" -ne 0 ] || ! ls "$lib"/durlog/_durlog*.so >/dev/null 2>&1; then
    sed 's/^/   /' "$log"
    fail "the package did not build with $py (log above, and in $log)"
fi
# The compiler's warnings, if any, are shown (the C build has -Werror).
warnings=$(grep -E '^[^ ]*\.[ch]:[0-9]+:[0-9]+: warning:' "$log" | sort -u)
[ -n "$warnings" ] && { echo "compiler warnings:"; printf '%s\n' "$warnings" | sed 's/^/   /'; }
[ -n "$build_only" ] && { echo "built: PYTHONPATH=$lib${shim:+:$shim} $py"; exit 0; }

# ---- the tests ----
T=$out/testtmp
rm -rf "$T"; mkdir -p "$T"
export DURLOG_TEST_DIR=$T
if [ -z "${DURLOG_BIN:-}" ] && [ -x "$B/durlog" ]; then export DURLOG_BIN=$babs/durlog; fi
export PYTHONDONTWRITEBYTECODE=1   # nothing written under python/tests
run=(env "PYTHONPATH=$lib:$shim${PYTHONPATH:+:$PYTHONPATH}")
select=()
if [ "$mode" = asan ]; then
    # The sanitizers' run-times must be loaded first, into an interpreter
    # that was not built with them. CPython leaks at exit by design.
    run+=("LD_PRELOAD=$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
          "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1"
          "UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
          DURLOG_PY_ASAN=1)
    select=(-m "not asan_slow")
fi
pyout=$T.out
# Debian's pytest (7.2) on a newer Python warns about its own use of ast
# names that Python 3.12 deprecated: not the package's business.
timeout --kill-after=10 "${DURLOG_PY_TEST_TIMEOUT:-1800}" "${run[@]}" "$py" -m pytest -q -rfEs \
    -p no:cacheprovider -W 'ignore::DeprecationWarning:_pytest.assertion.rewrite' --basetemp="$T/pytest" \
    "${select[@]}" python/tests "$@" >"$pyout" 2>&1
rc=$?
cat "$pyout"
# pytest's closing line: "3 failed, 40 passed, 2 skipped, 1 error in 9.01s"
summary=$(grep -E '[0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed).* in [0-9.]+s' "$pyout" | tail -n 1)
rm -rf "$T" "$pyout"
count() { printf '%s\n' "$summary" | grep -oE "[0-9]+ ($1)\\b" | grep -oE '^[0-9]+' | head -n 1; }
passed=$(count passed); failed=$(count failed); errors=$(count 'errors?'); skipped=$(count skipped)
deselected=$(count deselected); xfailed=$(count xfailed); xpassed=$(count xpassed)
passed=$(( ${passed:-0} + ${xpassed:-0} )); failed=$(( ${failed:-0} + ${errors:-0} ))
skipped=$(( ${skipped:-0} + ${xfailed:-0} ))
[ -n "$deselected" ] && echo "$deselected deselected (marked asan_slow: too slow under ASan)"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "not ok python: pytest gave no result after ${DURLOG_PY_TEST_TIMEOUT:-1800} s"; failed=$((failed + 1))
elif [ -z "$summary" ]; then
    echo "not ok python: pytest ended without a summary (exit status $rc)"; failed=$((failed + 1))
elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "not ok python: pytest exited with status $rc"; failed=$((failed + 1))
elif [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "not ok python: no test ran"; failed=$((failed + 1))
fi
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
