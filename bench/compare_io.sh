#!/usr/bin/env bash
# bench/compare_io.sh - issue #15's I/O modes and SIGBUS guard, side by side
# in one run: pwrite mode against mmap mode and against plain write(), and
# mmap mode against the commit before issue #15 (reader copies, fault marks).
#
# Usage (from anywhere inside the repository; no root needed):
#
#   bash bench/compare_io.sh                   # HEAD against 40438f0, 5 rounds
#   bash bench/compare_io.sh -r 7 HEAD~3       # against another commit, 7 rounds
#   bash bench/compare_io.sh -w                # the working tree against 40438f0
#
#   COMMIT      the commit before the change (default 40438f0, the parent
#               of issue #15's work)
#   -w          build the "new" side from the working tree, uncommitted
#               changes included (default: HEAD, in a worktree of its own,
#               so that edits made in the tree during the run change nothing)
#   -r ROUNDS   interleaved rounds (default 5); medians over rounds shown
#   -s SECONDS  bench_sync --seconds (default 2: 1 s bare, 1 s one writer,
#               2 s of 16 threads)
#   -n RECORDS  bench_append --sync-records (default 3000)
#   -c CATS     `durlog cat` runs per build per round (default 7)
#
# What it does:
#  1. builds COMMIT in a git worktree, build-io/wt (detached), into
#     build-io/old (durlog, bench_append, bench_sync); the worktree is
#     removed as soon as the build is done, and at exit in any case.
#     build-io/ holds a .gitignore of "*", so nothing of it shows in
#     `git status`;
#  2. builds HEAD the same way (worktree build-io/wt-new, removed after its
#     build) into build-io/new, or with -w the working tree (make
#     B=build-io/new); build/ and build-dev/ are left alone;
#  3. makes one log of 1,000,000 records per build (`seq 1 1000000 |
#     durlog append`, the new build with DURLOG_IO=mmap; untimed), checks
#     that `durlog cat` prints them all;
#  4. runs ROUNDS rounds; each runs, in an order that rotates from round to
#     round:
#       - bench_append --repeats 3 three times: the old build, the new
#         build with DURLOG_IO=mmap, the new build with DURLOG_IO=pwrite;
#       - bench_sync --threads 16 --repeats 1 twice: DURLOG_IO=mmap and
#         DURLOG_IO=pwrite (new build);
#       - CATS x 2 timed `durlog cat LOG > /dev/null`, old and new build
#         alternating (wall time around the whole command, bash
#         EPOCHREALTIME, fork and exec included, equally for both; and its
#         CPU time, user + system, from bash's `time`);
#  5. prints medians over the rounds (each round's bench value is that
#     run's own median of its repeats; a round's cat time is the median of
#     its CATS runs), the ratio of the medians (the target's ratio), and
#     the median and min..max of the rounds' paired ratios; for cat also
#     the CPU time and the fastest of all runs (not judged).
# Everything runs on the file system of build-io/ (scratch: build-io/scratch).
# A default run takes 5.5 min on the 2-core VM when it is quiet, 7.5-9 min
# under a load average of 4-5 (the fsync rows slow down most).
#
# The targets (issue #15), each a ratio from this one run:
#  1. pwrite mode, bench_append: durlog kernel / write() >= 1.0 and
#     durlog sync / write()+fdatasync >= 0.9 (rows of the same process);
#  2. group commit, bench_sync 16 threads: pwrite / mmap >= 0.8;
#  3. mmap mode against COMMIT: bench_append durlog kernel new/old >= 0.95
#     and durlog cat of 1,000,000 records, throughput new/old >= 0.95.
# Rows that run the same code in both builds or modes (write(),
# write()+fdatasync, bare write+fdatasync) are the controls: their ratio
# shows this run's noise.
#
# Outputs: the tables on stdout; every raw output under build-io/results/,
# build logs in build-io/build-{old,new}.log.
set -euo pipefail

commit=40438f0
rounds=5
sync_seconds=2
sync_records=3000
cats=7
worktree_new=0

while [ $# -gt 0 ]; do
    case $1 in
    -r) rounds=$2; shift 2 ;;
    -s) sync_seconds=$2; shift 2 ;;
    -n) sync_records=$2; shift 2 ;;
    -c) cats=$2; shift 2 ;;
    -w) worktree_new=1; shift ;;
    -h|--help) sed -n '2,65p' "$0"; exit 0 ;;
    -*) echo "compare_io.sh: unknown option $1" >&2; exit 2 ;;
    *) commit=$1; shift ;;
    esac
done
for v in "$rounds" "$cats" "$sync_records"; do
    case $v in ''|*[!0-9]*|0) echo "compare_io.sh: -r, -c and -n take positive counts" >&2; exit 2 ;; esac
done

# The old build knows no DURLOG_IO; the new one gets it set per run below.
unset DURLOG_IO

root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
cd "$root"
top=$root/build-io
wt=$top/wt
wt_new=$top/wt-new
old=$top/old
new=$top/new
res=$top/results
scratch=$top/scratch
nrec=1000000
old_rev=$(git rev-parse --short "$commit^{commit}")
new_rev=$(git rev-parse --short HEAD)
if [ "$worktree_new" = 1 ]; then
    # What the library of the "new" build is: HEAD plus any uncommitted
    # change to the library's or the command's sources at build time.
    lib_dirty=$(git status --porcelain -- src include cli Makefile | awk '{print $NF}' | paste -sd' ' -)
    if [ -n "$lib_dirty" ]; then
        new_rev="$new_rev + uncommitted $lib_dirty"
    fi
fi

mkdir -p "$top"
# Nothing under build-io/ belongs to the repository.
printf '*\n' > "$top/.gitignore"

drop_worktree() { # path
    if [ -e "$1" ]; then
        git worktree remove --force "$1" 2>/dev/null || rm -rf "$1"
    fi
    git worktree prune
}

cleanup() {
    drop_worktree "$wt"
    drop_worktree "$wt_new"
    rm -rf "$scratch"
}
trap cleanup EXIT

# Builds commit $2 in worktree $1 into directory $3; the worktree is removed
# straight after, so that it is never left registered even if a run below
# is interrupted hard.
build_commit() { # worktree, commit, output dir, log name
    local w=$1 c=$2 o=$3 log=$top/build-$4.log
    drop_worktree "$w"
    git worktree add --quiet --detach "$w" "$c"
    rm -rf "$o"
    echo "building $(git rev-parse --short "$c^{commit}") into ${o#"$root"/} ..." >&2
    make -s -C "$w" B="$o" -j2 "$o/durlog" "$o/bench/bench_append" "$o/bench/bench_sync" \
        >"$log" 2>&1 ||
        { cat "$log" >&2; echo "compare_io.sh: $c does not build" >&2; exit 1; }
    drop_worktree "$w"
}

# ---- 1. the commit before the change ----
build_commit "$wt" "$commit" "$old" old

# ---- 2. the new side ----
if [ "$worktree_new" = 1 ]; then
    echo "building the working tree into build-io/new ..." >&2
    make -s -j2 B="$new" "$new/durlog" "$new/bench/bench_append" "$new/bench/bench_sync" \
        >"$top/build-new.log" 2>&1 ||
        { cat "$top/build-new.log" >&2; echo "compare_io.sh: the working tree does not build" >&2; exit 1; }
else
    build_commit "$wt_new" HEAD "$new" new
fi

rm -rf "$res" "$scratch"
mkdir -p "$res" "$scratch"

# ---- 3. one log of 1,000,000 records per build ----
declare -A durlog_bin=([old]=$old/durlog [new]=$new/durlog)
declare -A cat_log=([old]=$scratch/cat-old [new]=$scratch/cat-new)
seq 1 "$nrec" | "${durlog_bin[old]}" append "${cat_log[old]}"
seq 1 "$nrec" | DURLOG_IO=mmap "${durlog_bin[new]}" append "${cat_log[new]}"
for w in old new; do
    n=$("${durlog_bin[$w]}" cat "${cat_log[$w]}" | wc -l)
    if [ "$n" != "$nrec" ]; then
        echo "compare_io.sh: $w durlog cat printed $n records, not $nrec" >&2
        exit 1
    fi
done

# ---- the runs ----
# bench_append: old build (no I/O modes), new build in mmap and pwrite mode.
run_append() { # old|mmap|pwrite, round
    local which=$1 r=$2 bin=$new/bench/bench_append io=$1
    if [ "$which" = old ]; then
        bin=$old/bench/bench_append
        io=
    fi
    DURLOG_IO=$io "$bin" --dir "$scratch" --repeats 3 --sync-records "$sync_records" --json \
        >"$res/append-$which-$r.json" 2>"$res/append-$which-$r.err" ||
        { cat "$res/append-$which-$r.err" >&2; exit 1; }
}

run_sync() { # mmap|pwrite, round
    local which=$1 r=$2
    DURLOG_IO=$which "$new/bench/bench_sync" --dir "$scratch" --threads 16 --repeats 1 \
        --seconds "$sync_seconds" >"$res/sync-$which-$r.txt" 2>"$res/sync-$which-$r.err" ||
        { cat "$res/sync-$which-$r.err" >&2; exit 1; }
}

# One timed `durlog cat` of the build's log; appends the wall seconds to
# cat-*.txt and the CPU seconds (user, system; bash's `time`) to cpu-*.txt.
run_cat() { # old|new, round
    local which=$1 r=$2 t0 t1 TIMEFORMAT='%3U %3S'
    t0=$EPOCHREALTIME
    if [ "$which" = old ]; then
        { time "${durlog_bin[old]}" cat "${cat_log[old]}" >/dev/null 2>"$res/cat.err"; } \
            2>>"$res/cpu-$which-$r.txt" || { cat "$res/cat.err" >&2; exit 1; }
    else
        { time DURLOG_IO=mmap "${durlog_bin[new]}" cat "${cat_log[new]}" >/dev/null \
            2>"$res/cat.err"; } 2>>"$res/cpu-$which-$r.txt" || { cat "$res/cat.err" >&2; exit 1; }
    fi
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }' >>"$res/cat-$which-$r.txt"
}

# ---- 4. interleaved rounds ----
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
append_orders=("old mmap pwrite" "pwrite old mmap" "mmap pwrite old")
for r in $(seq 1 "$rounds"); do
    t0=$(date +%s)
    if [ $((r % 2)) = 1 ]; then sync_order="mmap pwrite"; cat_order="old new";
    else sync_order="pwrite mmap"; cat_order="new old"; fi
    aorder=${append_orders[$(( (r - 1) % 3 ))]}
    for w in $aorder; do run_append "$w" "$r"; done
    for w in $sync_order; do run_sync "$w" "$r"; done
    for _ in $(seq 1 "$cats"); do
        for w in $cat_order; do run_cat "$w" "$r"; done
    done
    echo "round $r of $rounds done (append: $aorder; sync: $sync_order;" \
         "cat: $cat_order first; $(( $(date +%s) - t0 )) s; load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
elapsed=$(( $(date +%s) - start ))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 5. the tables ----
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
fs=$(df -T "$top" | awk 'NR==2 {print $2 " (" $1 " on " $7 ")"}')
python3 - "$res" "$rounds" "$old_rev" "$new_rev" "$cpu" "$(nproc)" "$(uname -r)" "$fs" \
    "$elapsed" "$sync_seconds" "$sync_records" "$cats" "$nrec" "$load_start" "$load_end" <<'EOF'
import json, re, sys, time

(res, rounds, old_rev, new_rev, cpu, ncpu, kernel, fs, elapsed, secs, nsync, cats, nrec,
 load_start, load_end) = sys.argv[1:]
rounds, cats, nrec = int(rounds), int(cats), int(nrec)
R = range(1, rounds + 1)

def med(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

def append_rows(which, r):
    with open(f"{res}/append-{which}-{r}.json") as f:
        return {row["name"]: row["records_per_s"] for row in json.load(f)["rows"]}

def sync_rows(which, r):
    with open(f"{res}/sync-{which}-{r}.txt") as f:
        text = f.read()
    rows = {}
    m = re.search(r"bare p?write(?:\(\))?\+fdatasync, one thread: p50 [\d.]+ us, p99 [\d.]+ us, (\d+) records/s", text)
    if not m:
        sys.exit(f"compare_io.sh: cannot parse {res}/sync-{which}-{r}.txt")
    rows["bare write+fdatasync, 1 thread (control)"] = float(m.group(1))
    m = re.search(r"durlog sync, one waiting writer:\s+p50 ([\d.]+) us", text)
    if not m:
        sys.exit(f"compare_io.sh: cannot parse {res}/sync-{which}-{r}.txt")
    rows["one waiting writer, 1/p50"] = 1e6 / float(m.group(1))
    for line in text.splitlines():
        m = re.match(r"\s*16\s+(\d+)\s+([\d.]+)\s+\d+\s+[\d.]+", line)
        if m:
            rows["16 threads"] = float(m.group(1))
            rows["16 threads: records per fdatasync"] = float(m.group(2))
    if "16 threads" not in rows:
        sys.exit(f"compare_io.sh: no 16-thread row in {res}/sync-{which}-{r}.txt")
    return rows

def cat_time(which, r):
    with open(f"{res}/cat-{which}-{r}.txt") as f:
        return med([float(x) for x in f.read().split()])

A = {w: [append_rows(w, r) for r in R] for w in ("old", "mmap", "pwrite")}
S = {w: [sync_rows(w, r) for r in R] for w in ("mmap", "pwrite")}
C = {w: [cat_time(w, r) for r in R] for w in ("old", "new")}

def verdict(v, target):
    return f">= {target} " + ("met" if v >= target else "MISSED")

def line(name, a, b, target=None, fmt=".0f"):
    """a, b: per-round values; ratio b/a."""
    ratio = med(b) / med(a)
    paired = [y / x for x, y in zip(a, b)]
    t = verdict(ratio, target) if target is not None else ""
    print(f"| {name:<54} | {med(a):>11{fmt}} | {med(b):>11{fmt}} | {ratio:>7.3f} | "
          f"{med(paired):>7.3f} | {min(paired):>6.3f}..{max(paired):<6.3f} | {t:<14} |")
    return ratio

def head(a, b):
    print(f"| {'row':<54} | {a:>11} | {b:>11} | {'ratio':>7} | {'paired':>7} | "
          f"{'paired range':>14} | {'target':<14} |")
    print(f"|{'-' * 56}|{'-' * 12}:|{'-' * 12}:|{'-' * 8}:|{'-' * 8}:|{'-' * 15}:|{'-' * 16}|")

print(f"durlog {new_rev} (new), mmap and pwrite modes, against {old_rev} (old); "
      f"one run, {time.strftime('%Y-%m-%d %H:%M %Z')}")
print(f"CPU: {cpu}, {ncpu} cores; Linux {kernel}; file system: {fs}")
print(f"{rounds} interleaved rounds, {elapsed} s; load average {load_start} at the start, "
      f"{load_end} at the end")
print(f"bench_append --repeats 3 --sync-records {nsync} (1,000,000 records per repeat "
      f"otherwise); bench_sync --threads 16 --repeats 1 --seconds {secs}; "
      f"durlog cat of {nrec:,} records x {cats} per build per round")
print("Values: median over rounds of each run's value; ratio = ratio of those medians "
      "(judged against the target); paired = median of the rounds' own ratios, and "
      "their range.")
results = []

print()
print("1. pwrite mode against plain system calls: bench_append with DURLOG_IO=pwrite, "
      "records/s (rows of the same process; ratio = durlog / system call)")
head("system call", "durlog")
for num, den, label, target in (("durlog_kernel", "write", "pwrite: durlog kernel / write()", 1.0),
                                ("durlog_sync", "write_fdatasync",
                                 "pwrite: durlog sync / write()+fdatasync", 0.9)):
    v = line(label, [x[den] for x in A["pwrite"]], [x[num] for x in A["pwrite"]], target)
    results.append((f"1. {label}", v, target))
for num, den, label in (("durlog_kernel", "write", "mmap: durlog kernel / write()"),
                        ("durlog_sync", "write_fdatasync", "mmap: durlog sync / write()+fdatasync")):
    line(label + " (for reference)", [x[den] for x in A["mmap"]], [x[num] for x in A["mmap"]])

print()
print("   bench_append, the same new build in both modes, records/s (ratio = pwrite / mmap)")
head("mmap", "pwrite")
for k in A["mmap"][0]:
    ctl = " (control)" if k in ("fwrite", "write", "write_fdatasync") else ""
    line(k + ctl, [x[k] for x in A["mmap"]], [x[k] for x in A["pwrite"]])

print()
print("2. group commit: bench_sync, new build, DURLOG_IO=mmap against DURLOG_IO=pwrite "
      "(ratio = pwrite / mmap)")
head("mmap", "pwrite")
for k in S["mmap"][0]:
    a, b = [x[k] for x in S["mmap"]], [x[k] for x in S["pwrite"]]
    if k == "16 threads":
        v = line("16 threads, records/s", a, b, 0.8)
        results.append(("2. group commit, 16 threads: pwrite / mmap", v, 0.8))
    elif k.endswith("per fdatasync"):
        line(k, a, b, fmt=".1f")
    else:
        line(k + ", records/s", a, b)

print()
print(f"3. mmap mode against {old_rev}: bench_append records/s (new with DURLOG_IO=mmap; "
      "ratio = new / old)")
head("old", "new")
for k in A["old"][0]:
    ctl = " (control)" if k in ("fwrite", "write", "write_fdatasync") else ""
    target = 0.95 if k == "durlog_kernel" else None
    v = line(k + ctl, [x[k] for x in A["old"]], [x[k] for x in A["mmap"]], target)
    if target:
        results.append((f"3. bench_append durlog kernel, mmap: new / old", v, target))

print()
print(f"   durlog cat of {nrec:,} records > /dev/null, warm page cache: wall ms (median of "
      f"{cats} per round) and records/s; ratio = new / old throughput")
head("old", "new")
tp = {w: [nrec / t for t in C[w]] for w in C}
line("durlog cat, ms per run", [t * 1e3 for t in C["old"]], [t * 1e3 for t in C["new"]],
     fmt=".1f")
v = line("durlog cat, records/s", tp["old"], tp["new"], 0.95)
results.append(("3. durlog cat, 1,000,000 records: new / old throughput", v, 0.95))
allc = {w: [float(x) for r in R for x in open(f"{res}/cat-{w}-{r}.txt").read().split()] for w in C}
def cpu_time(which, r):
    with open(f"{res}/cpu-{which}-{r}.txt") as f:
        return med([float(u) + float(s) for u, s in (l.split() for l in f if l.strip())])
CPU = {w: [cpu_time(w, r) for r in R] for w in ("old", "new")}
line("durlog cat, CPU ms per run (user+sys; not judged)", [t * 1e3 for t in CPU["old"]],
     [t * 1e3 for t in CPU["new"]], fmt=".1f")
print(f"   fastest of all {rounds * cats} runs: old {min(allc['old']) * 1e3:.1f} ms, "
      f"new {min(allc['new']) * 1e3:.1f} ms, new/old throughput "
      f"{min(allc['old']) / min(allc['new']):.3f} (not judged; less sensitive to bursts of load)")

print()
print("targets:")
for name, v, target in results:
    print(f"  {name:<58} {v:6.3f}  {verdict(v, target)}")
EOF
