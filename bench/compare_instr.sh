#!/usr/bin/env bash
# bench/compare_instr.sh - instructions per durlog_append, the current tree
# against a previous commit, counted by callgrind: repeatable on a shared,
# noisy machine where timings drift by tens of percent (the system calls'
# own work is not counted: this is durlog's user-space cost).
#
# Usage (from anywhere inside the repository):
#
#   bash bench/compare_instr.sh            # against 3b5aaf5 (before issue #16)
#   bash bench/compare_instr.sh HEAD~5
#
# For each level (buffered, kernel) it runs bench/instr_append.c, built
# against each commit's library and header, twice under callgrind (N1 and
# N2 appends, counting only inside durlog_append), and prints the
# difference divided by N2 - N1: the instructions of one append, with the
# open, the close and the first appends' page faults taken out. Then
# new/old. Needs valgrind.
set -euo pipefail

commit=${1:-3b5aaf5}
n1=20000
n2=40000
root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
cd "$root"
command -v valgrind >/dev/null || { echo "compare_instr.sh: needs valgrind" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/durlog-instr.XXXXXX")
wt=$work/src
cleanup() {
    git worktree remove --force "$wt" 2>/dev/null || true
    git worktree prune
    rm -rf "$work"
}
trap cleanup EXIT

uring=()
[ -e /usr/include/liburing.h ] && uring=(-luring)
# A library built with ISA-L (src/crc32c.c) needs it at link time too.
[ -e /usr/include/isa-l/crc.h ] && uring+=(-lisal)
build() { # name, source tree
    make -s -C "$2" B="$work/build-$1" -j2 "$work/build-$1/libdurlog.a" \
        >"$work/build-$1.log" 2>&1 ||
        { cat "$work/build-$1.log" >&2; echo "compare_instr.sh: $1 does not build" >&2; exit 1; }
    cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$2/include" -o "$work/instr-$1" \
        bench/instr_append.c "$work/build-$1/libdurlog.a" "${uring[@]}"
}
git worktree add --quiet --detach "$wt" "$commit"
build old "$wt"
build new "$root"

count() { # binary, level, n -> instructions inside durlog_append
    rm -rf "$work/log"
    valgrind --tool=callgrind --toggle-collect=durlog_append \
        --callgrind-out-file="$work/cg.out" "$1" "$work/log" "$2" "$3" >/dev/null 2>&1
    callgrind_annotate "$work/cg.out" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
old_rev=$(git rev-parse --short "$commit^{commit}")
new_rev=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain -- src include)" ] || new_rev="$new_rev + uncommitted changes"
echo "instructions per 100-byte durlog_append (callgrind; $old_rev vs $new_rev)"
printf '%-10s %10s %10s %8s\n' level old new new/old
for level in buffered kernel; do
    o1=$(count "$work/instr-old" $level $n1); o2=$(count "$work/instr-old" $level $n2)
    w1=$(count "$work/instr-new" $level $n1); w2=$(count "$work/instr-new" $level $n2)
    awk -v l=$level -v o1="$o1" -v o2="$o2" -v w1="$w1" -v w2="$w2" -v d=$((n2 - n1)) \
        'BEGIN { o = (o2 - o1) / d; w = (w2 - w1) / d;
                 printf "%-10s %10.1f %10.1f %8.3f\n", l, o, w, w / o }'
done
