#!/usr/bin/env bash
# bench/crc_instr.sh - instructions per CRC-32C call and per clock read,
# counted by callgrind: repeatable where timings on a shared machine drift.
#
#   bash bench/crc_instr.sh [BUILD_DIR]     (default build; needs valgrind)
#
# Runs bench_crc --only ROW twice under callgrind, with N1 and N2 calls, and
# prints (instructions of N2 - instructions of N1) / (N2 - N1): one call,
# with the program's start-up and exit taken out. Callgrind's simulated CPU
# has no AVX-512, so ISA-L runs its SSE/AVX code there, not the AVX-512
# code the timed table of bench_crc measures on such a CPU.
set -euo pipefail
b=${1:-build}
bin=$b/bench/bench_crc
[ -x "$bin" ] || { echo "crc_instr.sh: no $bin (make B=$b first)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "crc_instr.sh: needs valgrind" >&2; exit 1; }
n1=2000
n2=4000
count() { # row, size, calls
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin" --only "$1" --size "$2" --calls "$3" 2>&1 >/dev/null |
        awk '/Collected :/ { print $NF }'
}
per_call() { # row, size
    local a b
    a=$(count "$1" "$2" $n1)
    b=$(count "$1" "$2" $n2)
    [ -n "$a" ] && [ -n "$b" ] || { echo "crc_instr.sh: no count for $1" >&2; exit 1; }
    awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) / n }'
}
sizes=(0 100 116 128 136 4096)
rows=()
while IFS= read -r row; do rows+=("$row"); done < <(
    "$bin" --only '?' 2>&1 | sed -n 's/.*rows: //p' | grep -o '"[^"]*"' | tr -d '"')
printf 'instructions per call (callgrind, (N2 - N1 calls) / %d)\n\n' $((n2 - n1))
printf '| row |'; for s in "${sizes[@]}"; do printf ' %s B |' "$s"; done; echo
printf '|---|'; for _ in "${sizes[@]}"; do printf -- '---:|'; done; echo
for row in "${rows[@]}"; do
    # Not the clock rows: valgrind makes clock_gettime a system call,
    # whose work it does not count, and runs rdtsc outside its count.
    case $row in clock*|dl_clock*|rdtsc*) continue;; esac
    printf '| %s |' "$row"
    for s in "${sizes[@]}"; do printf ' %s |' "$(per_call "$row" "$s")"; done
    echo
done
