#!/usr/bin/env bash
# scripts/fuzz.sh SECONDS [TARGET] - `make fuzz` (TARGET: only that one, e.g.
# fuzz_index for `make fuzz-index`): builds every fuzz target with clang,
# libFuzzer, ASan and UBSan (into build-fuzz/), and runs each for SECONDS on a
# copy of the committed corpus (new inputs stay in build-fuzz/corpus-*, so
# the repository is not touched). A crash leaves its input in
# build-fuzz/crash-*; add it to fuzz/corpus/segments/ once fixed, so that
# the suite replays it for good. Prints each target's executions.
set -u
cd "$(dirname "$0")/.."
seconds=${1:-60}
only=${2:-}
scripts/fuzz-deps.sh || exit 1
FB=build-fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
make -s -j2 B=$FB CC=clang OPT=-O1 WERROR= SANITIZE="-fsanitize=fuzzer-no-link $SAN" \
    $FB/libdurlog.a || exit 1
# liburing and libisal as the Makefile finds them: through pkg-config, or
# not at all.
LIBS="$(pkg-config --libs liburing 2>/dev/null) $(pkg-config --libs libisal 2>/dev/null) -pthread"
export DURLOG_FUZZ_DIR=${DURLOG_FUZZ_DIR:-/dev/shm}
failed=0
for src in fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    [ -n "$only" ] && [ "$t" != "$only" ] && continue
    clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fsanitize=fuzzer $SAN \
        "$src" $FB/libdurlog.a $LIBS -o $FB/$t || exit 1
    work=$FB/corpus-$t
    mkdir -p "$work"
    log=$FB/$t.log
    seeds=../fuzz/corpus/segments leaks=1
    # The command's usage errors leave through longjmp (see fuzz_cli.c).
    [ "$t" = fuzz_cli ] && seeds=../fuzz/corpus/cli leaks=0
    [ "$t" = fuzz_shm ] && seeds=../fuzz/corpus/shm
    [ "$t" = fuzz_index ] && seeds=../fuzz/corpus/index
    (cd $FB && ASAN_OPTIONS=detect_leaks=$leaks ./$t -max_total_time="$seconds" \
        -print_final_stats=1 -timeout=10 -artifact_prefix=./crash-$t- \
        "corpus-$t" $seeds) >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc -eq 0 ]; then
        echo "$t: ${execs:-?} executions in ${seconds} s, no finding"
    else
        echo "$t: FINDING after ${execs:-?} executions (exit $rc); see $log"
        tail -30 "$log"
        failed=1
    fi
done
exit $failed
