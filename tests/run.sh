#!/usr/bin/env bash
# Runs every test program in $B/tests (and every tests/*.sh script) and prints
# the closing line "N passed, N failed", after a line "N skipped". Each
# program prints "ok NAME", "not ok NAME" or "skip NAME: reason" per test
# case; a program that crashes or exits non-zero without reporting a failure
# counts as one failed test; one that exits 77 having run no case was
# skipped as a whole (its last line says why). Skipped cases are listed
# with their reasons and never counted as passed.
#   B=build tests/run.sh [REGEX]   run only tests whose file name matches REGEX
#   DURLOG_TEST_TIMEOUT=S          seconds a program may take (default 900)
set -u
B=${B:-build}
pattern=${1:-}
export DURLOG_TEST_DIR=${DURLOG_TEST_DIR:-$B/testtmp}
export DURLOG_BIN=${DURLOG_BIN:-$B/durlog}
rm -rf "$DURLOG_TEST_DIR"; mkdir -p "$DURLOG_TEST_DIR"
passed=0; failed=0; skipped=0
run_one() { # name, command...
    local name=$1; shift
    local out rc
    out=$(mktemp)
    # A hung program fails alone instead of stalling the suite.
    timeout --kill-after=10 "${DURLOG_TEST_TIMEOUT:-900}" "$@" >"$out" 2>&1; rc=$?
    [ "$rc" -eq 124 ] && echo "not ok $name (no result after ${DURLOG_TEST_TIMEOUT:-900} s)" >>"$out"
    local ok nok skip
    ok=$(grep -c '^ok ' "$out"); nok=$(grep -c '^not ok ' "$out"); skip=$(grep -c '^skip ' "$out")
    if [ "$rc" -eq 77 ] && [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ] && [ "$skip" -eq 0 ]; then
        echo "skip $name: $(tail -n 1 "$out")" >>"$out"; skip=1
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$nok" -eq 0 ]; then nok=1; echo "not ok $name (exit status $rc)" >>"$out"; fi
    if [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ] && [ "$skip" -eq 0 ]; then nok=1; echo "not ok $name (ran no test)" >>"$out"; fi
    passed=$((passed + ok)); failed=$((failed + nok)); skipped=$((skipped + skip))
    local tail=
    [ "$skip" -ne 0 ] && tail=", $skip skipped"
    if [ "$nok" -ne 0 ]; then
        echo "== $name: $ok passed, $nok failed$tail"; sed 's/^/   /' "$out"
    else
        echo "== $name: $ok passed$tail"; grep '^skip ' "$out" | sed 's/^/   /'
    fi
    rm -f "$out"
}
for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    [ -n "$pattern" ] && ! [[ "$(basename "$t")" =~ $pattern ]] && continue
    run_one "$(basename "$t")" "$t"
done
for s in tests/*.sh; do
    [ "$s" = tests/run.sh ] && continue
    [ -n "$pattern" ] && ! [[ "$(basename "$s")" =~ $pattern ]] && continue
    run_one "$(basename "$s")" bash "$s"
done
rm -rf "$DURLOG_TEST_DIR"
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
