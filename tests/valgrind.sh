#!/usr/bin/env bash
# tests/valgrind.sh - the command's main paths under valgrind (memcheck):
# append at each level, cat, tail, info, check, check --repair of a torn
# log, put, and bench. Any memory error or definite leak fails the test. Uses
# $B/durlog, or the normal build (build/durlog) when $B is a sanitizer build:
# valgrind cannot run one.
set -u
BIN=${B:-build}/durlog
if [ -f "$BIN" ] && grep -qaE '__(asan|tsan)_init' "$BIN"; then BIN=build/durlog; fi
BASE=${DURLOG_TEST_DIR:-build/testtmp}
mkdir -p "$BASE"
D=$(mktemp -d "$BASE/valgrind-XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
[ -x "$BIN" ] || { echo "not ok valgrind_needs_the_normal_build ($BIN missing)"; exit 1; }
failed=0
vg() { # name, command args...
    local name=$1; shift
    if valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        "$BIN" "$@" >"$D/out" 2>"$D/err" </dev/null; then
        echo "ok valgrind_$name"
    else
        local rc=$?
        # The command's own failure statuses (1, 2) are not valgrind's.
        if [ "$rc" -ne 99 ] && [ "${EXPECT_FAIL:-0}" = 1 ]; then
            echo "ok valgrind_$name"
            return
        fi
        echo "not ok valgrind_$name (status $rc)"
        sed 's/^/  /' "$D/err" | head -30
        failed=$((failed + 1))
    fi
}
L=$D/log
vg append_kernel append "$L" one two three
vg append_sync append -d sync "$L" four
vg append_buffered append -d buffered "$L" five six
vg append_interval append -d interval "$L" seven
vg cat cat "$L"
vg cat_json cat -o json "$L"
vg tail tail -n 3 "$L"
vg info info "$L"
vg check check "$L"
# A torn last record: check reports it (status 1), --repair cuts it.
seg=$(ls "$L"/*.seg | tail -1)
printf 'XXXX' | dd of="$seg" bs=1 seek=$((64 + 100)) conv=notrunc status=none
EXPECT_FAIL=1 vg check_damaged check "$L"
EXPECT_FAIL=1 vg check_repair check --repair "$L"
EXPECT_FAIL=1 vg cat_missing cat "$D/none"
EXPECT_FAIL=1 vg usage_error append
head -c 3000000 /dev/urandom >"$D/src"
vg put put --progress "$D/src" "$D/dest"
vg put_stdin put - "$D/dest"
EXPECT_FAIL=1 vg put_into_a_directory put "$D/src" "$D"
vg bench_sync_rows bench --quick --records 500 --only "durlog sync, 4" --dir "$D" -o json --plot "$D/p.svg"
vg bench_article_rows bench --quick --records 500 --only "per line" --dir "$D" -o csv
[ "$failed" -eq 0 ]
