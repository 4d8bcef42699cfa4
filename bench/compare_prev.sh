#!/usr/bin/env bash
# bench/compare_prev.sh - the current tree against a previous commit, side by
# side in one run: sync append throughput (bench_sync, bench_append) and the
# first writer's open of a 1 GiB log after a reboot (bench_open).
#
# Usage (from anywhere inside the repository; root, for drop_caches):
#
#   bash bench/compare_prev.sh                  # against 0f92ecd, 5 rounds
#   bash bench/compare_prev.sh -r 7 HEAD~3      # another commit, 7 rounds
#
#   COMMIT      the previous commit (default 0f92ecd, the parent of issue
#               #14's work)
#   -r ROUNDS   interleaved rounds (default 5); medians over rounds shown
#   -s SECONDS  bench_sync --seconds per row (default 1.5)
#   -n RECORDS  bench_append --sync-records (default 5000)
#   -k          keep the 1 GiB logs in build-prev/ afterwards
#   --no-open   skip the open comparison (no 2 GiB of logs, no root needed)
#
# What it does:
#  1. builds COMMIT in a git worktree, build-prev/src (detached), into
#     build-prev/out; bench/bench_open.c and bench/lib/ of the current tree
#     are compiled against its library (bench_open compiles against a
#     library without checkpoints, and then skips its crashed state); the
#     worktree is removed (and pruned) at exit.
#     build-prev/ holds a .gitignore of "*", so nothing of it shows in
#     `git status`;
#  2. builds the current working tree into build/ and runs copies of its
#     benchmarks (build-prev/new/), so that a rebuild of build/ during the
#     run changes nothing;
#  3. runs ROUNDS rounds; each runs every benchmark twice in a row, old
#     and new (old first in odd rounds, new first in even ones):
#     bench_sync --repeats 1 (threads 1,4,16,64), then bench_append --json
#     --repeats 3, then bench_open --sizes 1 --repeats 1 --states reboot
#     --keep on a 1 GiB log each build made with its own library (built in
#     round 1, untimed);
#  4. prints per-row medians over the rounds, the ratio of the medians
#     (new/old, records/s; for open times old/new), and the median and
#     min..max of the rounds' paired ratios (new/old of the same round).
# The target (issue #14): every sync row's new/old >= 0.95. The rows both
# builds run with the same code (bare write+fdatasync, write()+fdatasync)
# are the control: their ratio shows the noise of this run. (Before issue
# #16, bench_sync's bare row wrote with pwrite(): the same work.)
#
# Outputs: the table on stdout; every raw output under build-prev/results/,
# build logs in build-prev/build-{old,new}.log.
set -euo pipefail

commit=0f92ecd
rounds=5
sync_seconds=1.5
sync_records=5000
keep=0
do_open=1

while [ $# -gt 0 ]; do
    case $1 in
    -r) rounds=$2; shift 2 ;;
    -s) sync_seconds=$2; shift 2 ;;
    -n) sync_records=$2; shift 2 ;;
    -k) keep=1; shift ;;
    --no-open) do_open=0; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    -*) echo "compare_prev.sh: unknown option $1" >&2; exit 2 ;;
    *) commit=$1; shift ;;
    esac
done
case $rounds in ''|*[!0-9]*|0) echo "compare_prev.sh: -r takes a positive count" >&2; exit 2 ;; esac

root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
cd "$root"
prev=$root/build-prev
wt=$prev/src
out=$prev/out
res=$prev/results
scratch=$prev/scratch
old_rev=$(git rev-parse --short "$commit^{commit}")
new_rev=$(git rev-parse --short HEAD)
# What the library of the "new" build is: HEAD plus any uncommitted change
# to the library's sources at build time.
lib_dirty=$(git status --porcelain -- src include | awk '{print $NF}' | paste -sd' ' -)
if [ -n "$lib_dirty" ]; then
    new_rev="$new_rev + uncommitted $lib_dirty"
fi

mkdir -p "$prev"
# Nothing under build-prev/ belongs to the repository.
printf '*\n' > "$prev/.gitignore"

cleanup() {
    if [ -e "$wt" ]; then
        git worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
    fi
    git worktree prune
    rm -rf "$scratch"
    if [ "$keep" = 0 ]; then
        rm -rf "$prev/open-old" "$prev/open-new"
    fi
}
trap cleanup EXIT

# ---- 1. the previous commit ----
if [ -e "$wt" ]; then
    git worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
fi
git worktree prune
git worktree add --quiet --detach "$wt" "$commit"
rm -rf "$out"
echo "building $old_rev into build-prev/out ..." >&2
make -s -C "$wt" B="$out" -j2 "$out/libdurlog.a" "$out/bench/bench_sync" \
    "$out/bench/bench_append" >"$prev/build-old.log" 2>&1 ||
    { cat "$prev/build-old.log" >&2; echo "compare_prev.sh: $old_rev does not build" >&2; exit 1; }
old_open=
if [ "$do_open" = 1 ]; then
    # The current bench_open.c and benchmark library (bench/lib/), against
    # the old library and its headers: by hand, as the old Makefile knows
    # no bench/lib.
    uring=()
    [ -e /usr/include/liburing.h ] && uring=(-luring)
    if cc -std=c11 -D_GNU_SOURCE -g -O2 -pthread -I"$wt/include" -I"$wt/src" \
        -o "$out/bench/bench_open" bench/bench_open.c bench/lib/*.c "$out/libdurlog.a" \
        "${uring[@]}" >>"$prev/build-old.log" 2>&1; then
        old_open=$out/bench/bench_open
    else
        echo "compare_prev.sh: bench_open.c does not compile against $old_rev" \
             "(see build-prev/build-old.log): open comparison skipped" >&2
        do_open=0
    fi
fi
# The worktree is no longer needed: remove it now, so that it is never left
# registered even if a run below is interrupted hard.
git worktree remove --force "$wt"
git worktree prune

# ---- 2. the current tree ----
echo "building the current tree into build/ ..." >&2
make -s -j2 build/libdurlog.a build/bench/bench_sync build/bench/bench_append \
    build/bench/bench_open >"$prev/build-new.log" 2>&1 ||
    { cat "$prev/build-new.log" >&2; echo "compare_prev.sh: the current tree does not build" >&2; exit 1; }

rm -rf "$res" "$scratch" "$prev/new"
mkdir -p "$res" "$scratch" "$prev/new"
# Run copies: a `make` in build/ during the run (someone else's) must not
# swap the binaries under it.
cp build/bench/bench_sync build/bench/bench_append build/bench/bench_open "$prev/new/"

declare -A bin_sync=([old]=$out/bench/bench_sync [new]=$prev/new/bench_sync)
declare -A bin_append=([old]=$out/bench/bench_append [new]=$prev/new/bench_append)
declare -A bin_open=([old]=$old_open [new]=$prev/new/bench_open)

run_sync() { # old|new, round
    local which=$1 r=$2
    "${bin_sync[$which]}" --dir "$scratch" --repeats 1 --seconds "$sync_seconds" \
        >"$res/sync-$which-$r.txt" 2>"$res/sync-$which-$r.err" ||
        { cat "$res/sync-$which-$r.err" >&2; exit 1; }
}

run_append() {
    local which=$1 r=$2
    "${bin_append[$which]}" --dir "$scratch" --repeats 3 --sync-records "$sync_records" \
        --json >"$res/append-$which-$r.json" 2>"$res/append-$which-$r.err" ||
        { cat "$res/append-$which-$r.err" >&2; exit 1; }
}

run_open() {
    local which=$1 r=$2
    "${bin_open[$which]}" "$prev/open-$which" --sizes 1 --repeats 1 --states reboot \
        --keep --samples >"$res/open-$which-$r.txt" 2>"$res/open-$which-$r.err" ||
        { cat "$res/open-$which-$r.err" >&2; exit 1; }
}

# ---- 3. interleaved rounds ----
start=$(date +%s)
for r in $(seq 1 "$rounds"); do
    t0=$(date +%s)
    if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
    # Each benchmark's old and new runs back to back: the load they see
    # differs as little as the machine allows.
    for w in $order; do run_sync "$w" "$r"; done
    for w in $order; do run_append "$w" "$r"; done
    if [ "$do_open" = 1 ]; then
        for w in $order; do run_open "$w" "$r"; done
    fi
    echo "round $r of $rounds done ($order first: $(( $(date +%s) - t0 )) s)" >&2
done
elapsed=$(( $(date +%s) - start ))

# ---- 4. the table ----
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
fs=$(df -T "$prev" | awk 'NR==2 {print $2 " (" $1 " on " $7 ")"}')
python3 - "$res" "$rounds" "$old_rev" "$new_rev" "$cpu" "$(nproc)" "$(uname -r)" "$fs" \
    "$elapsed" "$do_open" "$sync_seconds" "$sync_records" <<'EOF'
import json, os, re, statistics, sys, time

res, rounds, old_rev, new_rev, cpu, ncpu, kernel, fs, elapsed, do_open, secs, nsync = sys.argv[1:]
rounds = int(rounds)
do_open = do_open == "1"

def med(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

def parse_sync(path):
    rows = {}
    with open(path) as f:
        text = f.read()
    m = re.search(r"bare p?write(?:\(\))?\+fdatasync, one thread: p50 ([\d.]+) us, p99 [\d.]+ us, (\d+) records/s", text)
    if not m:
        sys.exit(f"compare_prev.sh: cannot parse {path}")
    rows["bench_sync: bare write+fdatasync, 1 thread (control)"] = float(m.group(2))
    m = re.search(r"durlog sync, one waiting writer:\s+p50 ([\d.]+) us", text)
    if not m:
        sys.exit(f"compare_prev.sh: cannot parse {path}")
    rows["bench_sync: one waiting writer, 1/p50"] = 1e6 / float(m.group(1))
    n = 0
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+([\d.]+)\s+\d+\s+[\d.]+", line)
        if m:
            rows[f"bench_sync: {int(m.group(1))} threads"] = float(m.group(2))
            n += 1
    if n == 0:
        sys.exit(f"compare_prev.sh: no thread rows in {path}")
    return rows

def parse_append(path):
    with open(path) as f:
        j = json.load(f)
    rows = {}
    for row in j["rows"]:
        name = row["name"]
        label = f"bench_append: {name}"
        if name == "write_fdatasync":
            label += " (control)"
        rows[label] = row["records_per_s"]
    return rows

samples = {"old": {}, "new": {}}
order = []
for which in ("old", "new"):
    for r in range(1, rounds + 1):
        for rows in (parse_sync(f"{res}/sync-{which}-{r}.txt"),
                     parse_append(f"{res}/append-{which}-{r}.json")):
            for k, v in rows.items():
                samples[which].setdefault(k, []).append(v)
                if k not in order:
                    order.append(k)

def is_sync_row(k):
    return ("bench_sync" in k and "control" not in k) or k == "bench_append: durlog_sync"

print(f"durlog: {new_rev} (new) against {old_rev} (old), side by side in one run, "
      f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
print(f"cpu: {cpu}, {ncpu} cores; kernel {kernel}; scratch on {fs}")
print(f"{rounds} interleaved rounds (old first in odd rounds, new first in even ones), "
      f"{elapsed} s; bench_sync --repeats 1 --seconds {secs}; "
      f"bench_append --repeats 3 --sync-records {nsync} (each round: its median)")
print()
print("throughput, records/s: median over rounds; new/old of the medians (the target's "
      "ratio); median and min..max of the rounds' paired new/old")
hdr = (f"{'row':<52} {'old':>10} {'new':>10} {'new/old':>8} {'paired med':>10} "
       f"{'paired min..max':>16}   target")
print(hdr)
missed = []
for k in order:
    o, n = samples["old"][k], samples["new"][k]
    ratio = med(n) / med(o)
    paired = [b / a for a, b in zip(o, n)]
    target = ""
    if is_sync_row(k):
        ok = ratio >= 0.95
        target = ">= 0.95 " + ("met" if ok else "MISSED")
        if not ok:
            missed.append((k, ratio))
    print(f"{k:<52} {med(o):>10.0f} {med(n):>10.0f} {ratio:>8.3f} {med(paired):>10.3f} "
          f"{min(paired):>7.3f}..{max(paired):<7.3f}   {target}")
print()
if missed:
    print("target: sync append throughput within 5% of the old build: MISSED in "
          + ", ".join(f"{k} ({r:.3f})" for k, r in missed))
else:
    print("target: sync append throughput within 5% of the old build: target met on every sync row")

if do_open:
    t = {"old": {}, "new": {}}
    for which in ("old", "new"):
        for r in range(1, rounds + 1):
            with open(f"{res}/open-{which}-{r}.txt") as f:
                for line in f:
                    if not line.startswith("sample,"):
                        continue
                    _, lib, size, state, cache, op, rep, ms = line.strip().split(",")
                    t[which].setdefault((cache, op), []).append(float(ms))
    print()
    print("open of a 1 GiB log after a reboot (durlog.shm removed), ms: median over "
          "rounds (min..max); old/new = how many times faster the new build is")
    print(f"{'operation':<34} {'old median':>11} {'old min..max':>19} {'new median':>11} "
          f"{'new min..max':>15} {'old/new':>8} {'new x 50 ms':>12}")
    names = {"open": "durlog_open", "reader": "reader: open, last 10 records"}
    for op in ("open", "reader"):
        for cache in ("warm", "cold"):
            o, n = t["old"][(cache, op)], t["new"][(cache, op)]
            print(f"{names[op] + ', ' + cache:<34} {med(o):>11.2f} "
                  f"{min(o):>9.2f}..{max(o):<8.2f} {med(n):>11.2f} "
                  f"{min(n):>6.2f}..{max(n):<7.2f} {med(o) / med(n):>8.1f} "
                  f"{med(n) / 50:>12.3f}")
EOF
