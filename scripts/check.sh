#!/usr/bin/env bash
# The whole test suite (the README's test command; .ci/run runs it):
#   1. the normal build with -Werror, every test, io_uring engine, and the
#      file systems beyond ext4 (tests/filesystems.sh: xfs, btrfs, tmpfs,
#      bindfs);
#   2. the same build, every durability test again under the thread engine
#      (the fallback used where io_uring is unavailable), and again in the
#      pwrite I/O mode;
#   3. an AddressSanitizer + UndefinedBehaviorSanitizer build, every test
#      but the file systems (with the NATS shipping tests of tests/ship.sh;
#      the cluster faults of tests/ship_chaos.sh run in the normal build);
#   4. a ThreadSanitizer build of the tests that run several threads, under
#      both engines;
#   5. the Python package (python/) built with the first python3 on PATH and
#      its pytest suite (scripts/python-tests.sh), then the same with the
#      extension built with ASan+UBSan.
# It ends with one line "N passed, N failed" summing them all.
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh || { echo "could not install build dependencies"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; skipped=0
suite() { # name, build dir, optimisation flags, sanitizer flags, run.sh pattern, engine
    local name=$1 dir=$2 opt=$3 sanitize=$4 pattern=$5 engine=$6 log out line
    log=$(mktemp)
    echo "=== $name"
    if ! make -j2 B="$dir" OPT="$opt" SANITIZE="$sanitize" >"$log" 2>&1; then
        cat "$log"; rm -f "$log"
        echo "build failed: $name"
        failed=$((failed + 1))
        return
    fi
    rm -f "$log"
    out=$(DURLOG_ENGINE="$engine" B="$dir" tests/run.sh "$pattern" 2>&1)
    tally "$name" "$out"
}
# Adds a suite's output (ending "N skipped" and "N passed, N failed") to
# the totals; a suite that does not end so counts as one failed test.
tally() { # name, output
    local name=$1 out=$2 line
    line=$(printf '%s\n' "$out" | tail -n 1)
    printf '%s\n' "$out" | sed '$d'
    local skip
    skip=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) skipped$/\1/p' | tail -n 1)
    skipped=$((skipped + ${skip:-0}))
    echo "($name: $line${skip:+, $skip skipped})"
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1))
    fi
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

durability='^test_(async|levels|faults|inject|powerloss|recovery|regressions|threads|readers|processes|smoke|signals|alloc|trim)$'
threaded='^test_(api|async|threads|levels|faults|regressions|readers|processes|time|alloc|info|trim)$'
# Every durability test again with appends by pwrite (issue #15): DURLOG_IO
# sets the mode of every handle that does not ask for one.
pwrite_tests='^test_(async|levels|faults|inject|powerloss|recovery|regressions|threads|readers|processes|smoke|signals|hostile|accidents|fulldisk|trust|check|io|time|alloc|info|trim)$'
suite "normal build, io_uring engine" build -O2 "" "" io_uring
suite "normal build, thread engine" build -O2 "" "$durability" thread
DURLOG_IO=pwrite suite "normal build, pwrite I/O mode" build -O2 "" "$pwrite_tests" io_uring
# The file systems beyond ext4 (tests/filesystems.sh) run in the normal build
# only.
DURLOG_TEST_SCALE=4 suite "ASan+UBSan build" build-asan -O1 \
    "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
    '^(test_[a-z_]+|cli|trust|fuzz_corpus|valgrind|ship)(\.sh)?$' io_uring
suite "TSan build, io_uring engine" build-tsan -O1 "-fsanitize=thread" "$threaded" io_uring
suite "TSan build, thread engine" build-tsan -O1 "-fsanitize=thread" "$threaded" thread
# The Python package: it builds its own extension (libdurlog's sources
# compiled in) into build*/python, so it needs no make first.
pysuite() { # name, build dir, scripts/python-tests.sh options
    local name=$1 dir=$2; shift 2
    echo "=== $name"
    tally "$name" "$(B="$dir" scripts/python-tests.sh "$@" 2>&1)"
}
pysuite "Python package" build
pysuite "Python package, ASan+UBSan" build-asan --asan

echo "$skipped skipped (each listed above with its reason)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
