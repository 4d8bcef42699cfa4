#!/usr/bin/env bash
# tests/fuzz_corpus.sh - replays the committed fuzz corpus (fuzz/corpus/)
# through every fuzz target built without libFuzzer ($B/fuzz/fuzz_*), so that
# an input that once crashed a target, or a seed, keeps being run by the
# suite under every build (normal, ASan+UBSan). `make fuzz` explores further.
set -u
B=${B:-build}
export DURLOG_FUZZ_DIR=${DURLOG_TEST_DIR:-$B/testtmp}
mkdir -p "$DURLOG_FUZZ_DIR"
status=0
ran=0
for t in "$B"/fuzz/fuzz_*; do
    case "$t" in *.o|*.d) continue;; esac
    [ -x "$t" ] || continue
    name=$(basename "$t")
    ran=$((ran + 1))
    corpus=fuzz/corpus/segments
    [ "$name" = fuzz_cli ] && corpus=fuzz/corpus/cli
    [ "$name" = fuzz_shm ] && corpus=fuzz/corpus/shm
    [ "$name" = fuzz_index ] && corpus=fuzz/corpus/index
    if out=$("$t" "$corpus" 2>&1 | tail -3); [ "${PIPESTATUS[0]}" -eq 0 ]; then
        echo "ok ${name}_replays_the_corpus ($out)"
    else
        echo "not ok ${name}_replays_the_corpus"
        printf '%s\n' "$out" | tail -20 | sed 's/^/  /'
        status=1
    fi
done
[ "$ran" -gt 0 ] || { echo "not ok fuzz_targets_built"; status=1; }
exit $status
