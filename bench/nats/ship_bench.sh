#!/usr/bin/env bash
# bench/nats/ship_bench.sh - the NATS shipping benchmarks of issue #20, on a
# 3-node JetStream cluster on loopback (tests/lib/nats.sh), R3 file
# streams, 100-byte records:
#   1. shipping: `durlog ship` of a log of N records (written beforehand at
#      sync) into a fresh stream, against `nats_plain publish` of N records
#      from memory into another fresh stream, the same window of pending
#      acks for both. Target: ship >= 0.8x plain. A third side,
#      `nats_plain publish --headers`: plain publish of messages carrying
#      the headers durlog ship sends (Nats-Msg-Id, Durlog,
#      Nats-Expected-Last-Sequence), which splits ship's gap into what the
#      headers cost the client and servers and what is durlog's own; and a
#      fourth, `nats_plain publish --headers=id`: the Nats-Msg-Id header
#      alone (the duplicate window's cost; the rest is the Durlog header
#      and the condition).
#   2. lag from a `sync` append to the stream's acknowledgement
#      ($B/bench/nats/ship_lag), at each RATE:THREADS of --lag-rates
#      (default 1,000/s from 4 threads and 10,000/s from 16), each next to
#      its floors: `nats_plain latency` publishing 100-byte records paced at
#      the same rate, latency from publish to ack, no durlog, no appends;
#      the same with durlog's headers (--headers); and that again while
#      `ship_lag --no-ship` makes the same sync appends (no session). The
#      order of the four alternates; --lag-rounds rounds of them, medians.
#      Target: p99 <= 20 ms at 10,000/s.
#   3. restore: `durlog restore` of the N-record stream into a new log,
#      against `nats_plain consume` (ordered consumer) of the same stream.
#      Target: restore >= 0.8x consume.
# 1 and 3 run R rounds, odd rounds in the order durlog, headers, id, plain
# (restore before consume), even rounds plain, id, headers, durlog;
# every figure is the wall-clock time of the whole command (process start,
# connection, the work, exit), the same for both sides. Streams are made
# beforehand (nats_plain create, not timed) and deleted after each round.
# Prints a table: each round's rates and ratios, the medians, the targets.
# Every command may take at most 600 s; a slower one ends the run with an
# error (at bacb9e6 `durlog ship` into an R3 stream manages ~40 records/s:
# bench/README.md "NATS shipping"; use --records 2000 there).
#
#   B=build-dev bash bench/nats/ship_bench.sh [--records N] [--rounds R]
#       [--window W] [--lag-rates RATE:THREADS[,RATE:THREADS...]]
#       [--lag-rate R [--lag-threads T]] [--lag-seconds S] [--lag-rounds L]
#       [--lag-only | --no-lag]
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
DURLOG=$B/durlog
PLAIN=$B/bench/nats/nats_plain
LAG=$B/bench/nats/ship_lag

records=200000 rounds=5 window=4096
lag_rates=1000:4,10000:16 lag_rate= lag_threads=16 lag_seconds=10 lag_rounds=3 lag=1 ship=1
usage() {
    sed -n '/^#   B=/,/--no-lag\]$/s/^# \{0,3\}//p' "$0" >&2
    echo "(--lag-rates default 1000:4,10000:16; --lag-rounds default 3; --lag-only: no shipping or restore)" >&2
    exit 2
}
number() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "ship_bench.sh: $1 needs a number, not '$2'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case $1 in
    --records) number "$1" "${2:-}"; records=$2; shift 2 ;;
    --rounds) number "$1" "${2:-}"; rounds=$2; shift 2 ;;
    --window) number "$1" "${2:-}"; window=$2; shift 2 ;;
    --lag-rates)
        [[ "${2:-}" =~ ^[1-9][0-9]*:[1-9][0-9]*(,[1-9][0-9]*:[1-9][0-9]*)*$ ]] ||
            { echo "ship_bench.sh: --lag-rates needs RATE:THREADS[,...], not '${2:-}'" >&2; exit 2; }
        lag_rates=$2; shift 2 ;;
    --lag-rate) number "$1" "${2:-}"; lag_rate=$2; shift 2 ;;
    --lag-seconds) number "$1" "${2:-}"; lag_seconds=$2; shift 2 ;;
    --lag-threads) number "$1" "${2:-}"; lag_threads=$2; shift 2 ;;
    --lag-rounds) number "$1" "${2:-}"; lag_rounds=$2; shift 2 ;;
    --lag-only) ship=0; shift ;;
    --no-lag) lag=0; shift ;;
    *) usage ;;
    esac
done
# --lag-rate (with --lag-threads, default 16) measures that one rate alone.
[ -n "$lag_rate" ] && lag_rates=$lag_rate:$lag_threads
for f in "$DURLOG" "$PLAIN" "$LAG"; do
    [ -x "$f" ] || { echo "ship_bench.sh: $f is not built (make B=$B; needs libnats-dev)" >&2; exit 1; }
done
"$DURLOG" help ship >/dev/null 2>&1 || { echo "ship_bench.sh: $DURLOG has no ship command (built without libnats)" >&2; exit 1; }

BASE=${DURLOG_TEST_DIR:-$B/testtmp}
mkdir -p "$BASE" || exit 1
SCRATCH=$(mktemp -d "$BASE/nats-shipbench-XXXXXX") || exit 1
SCRATCH=$(cd "$SCRATCH" && pwd)
. tests/lib/nats.sh
appends_pid=
trap '[ -n "$appends_pid" ] && kill "$appends_pid" 2>/dev/null; nats_cleanup; rm -rf "$SCRATCH"' EXIT

die() {
    echo "ship_bench.sh: $*" >&2
    exit 1
}
now_ns() { date +%s%N; }
# timed VAR CMD...: runs CMD (at most 600 s), its output to $SCRATCH/out,
# and sets VAR to the seconds it took; a failure ends the run.
timed() {
    local var=$1 t0 t1
    shift
    t0=$(now_ns)
    timeout 600 "$@" >"$SCRATCH/out" 2>&1 || { cat "$SCRATCH/out" >&2; die "failed: $*"; }
    t1=$(now_ns)
    printf -v "$var" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')"
}
plain() {
    local mode=$1
    shift
    timeout 120 "$PLAIN" "$mode" "$URL" "$@" >/dev/null || die "nats_plain $mode $* failed"
}

cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
[ -n "$cpu" ] || cpu="unknown CPU"

nats_cluster "$SCRATCH/nats" || exit 1
nats_wait_ready 30 || exit 1
# Every client connects to node 1 (the cluster routes to each stream's
# leader): the same URL for every side keeps the comparison even. (Before
# 26efa94 `durlog ship` and `durlog restore` could not take the list of
# three at all: natsOptions_SetURL takes one server.)
URL=$NATS_URL_1

echo "# NATS shipping (issue #20): $cpu, $(nproc) CPUs, $(uname -r)"
echo "# 3-node JetStream cluster on loopback (nats-server $(nats-server --version 2>/dev/null | awk '{print $NF}')), R3 file streams"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "target met" : "MISSED" }'; }
if [ "$ship" -eq 1 ]; then
    # The log: N records of 100 bytes (100 characters a line, its number
    # first), appended at sync, so every record is durable (only durable
    # records are shipped).
    LOG=$SCRATCH/log
    awk -v n="$records" 'BEGIN { pad = sprintf("%80s", ""); gsub(/ /, "r", pad);
        for (i = 0; i < n; i++) printf "%020d%s\n", i, pad }' >"$SCRATCH/records.txt" || die "awk"
    t0=$(now_ns)
    timeout 600 "$DURLOG" append -d sync "$LOG" <"$SCRATCH/records.txt" || die "durlog append failed"
    t1=$(now_ns)
    rm -f "$SCRATCH/records.txt"
    append_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

    echo "# $records records of 100 bytes, window $window, $rounds rounds (odd: durlog, headers, id, plain; even: plain, id, headers, durlog)"
    echo "# the log written with durlog append -d sync in $append_s s (not timed below)"
    # Columns: ship = durlog ship, pub = nats_plain publish, hdr = nats_plain
    # publish --headers (durlog's headers), id = nats_plain publish
    # --headers=id (Nats-Msg-Id alone), then the ratios, then restore against
    # consume.
    row='%-6s %-7s %9s %9s %9s %9s %8s %8s %8s %8s %9s %9s %7s\n'
    printf "$row" round first "ship/s" "pub/s" "hdr/s" "id/s" ship/pub hdr/pub id/pub ship/hdr \
        "restore/s" "consume/s" ratio

    rate() { awk -v n="$records" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b / a }'; }
    ship_rates=() pub_rates=() hdr_rates=() ship_ratios=() hdr_ratios=() own_ratios=()
    id_rates=() id_ratios=()
    rest_rates=() cons_rates=() rest_ratios=()
    for ((r = 1; r <= rounds; r++)); do
        S=SHIP$r P=PLAIN$r H=HDR$r I=ID$r
        plain create "$S" "ship$r.rec" 3
        plain create "$P" "plain$r.rec" 3
        plain create "$H" "hdr$r.rec" 3
        plain create "$I" "id$r.rec" 3
        do_ship() {
            timed ship_s "$DURLOG" ship "$LOG" "$URL" --stream "$S" --subject "ship$r.rec" \
                --window "$window" -q
            nats_wait_stream_msgs "$S" "$records" 30 || die "stream $S does not hold $records messages"
        }
        do_pub() {
            timed pub_s "$PLAIN" publish "$URL" "$P" "plain$r.rec" "$records" "$window"
            nats_wait_stream_msgs "$P" "$records" 30 || die "stream $P does not hold $records messages"
        }
        do_hdr() {
            timed hdr_s "$PLAIN" publish "$URL" "$H" "hdr$r.rec" "$records" "$window" --headers
            nats_wait_stream_msgs "$H" "$records" 30 || die "stream $H does not hold $records messages"
        }
        do_id() {
            timed id_s "$PLAIN" publish "$URL" "$I" "id$r.rec" "$records" "$window" --headers=id
            nats_wait_stream_msgs "$I" "$records" 30 || die "stream $I does not hold $records messages"
        }
        do_restore() {
            rm -rf "$SCRATCH/restored"
            timed rest_s "$DURLOG" restore "$URL" --stream "$S" --subject "ship$r.rec" \
                "$SCRATCH/restored"
        }
        do_consume() {
            timed cons_s "$PLAIN" consume "$URL" "$S" "ship$r.rec" "$records"
        }
        if [ $((r % 2)) -eq 1 ]; then
            first=durlog
            do_ship; do_hdr; do_id; do_pub; do_restore; do_consume
        else
            first=nats.c
            do_pub; do_id; do_hdr; do_ship; do_consume; do_restore
        fi
        # Round 1 checks that what was shipped and restored is the log itself.
        if [ "$r" -eq 1 ]; then
            [ "$(nats_stream_msgs "$S")" -eq "$records" ] || die "stream $S: not $records messages"
            cmp -s <("$DURLOG" cat -o json "$LOG") <("$DURLOG" cat -o json "$SCRATCH/restored") ||
                die "the restored log differs from the original"
        fi
        plain delete "$S"
        plain delete "$P"
        plain delete "$H"
        plain delete "$I"
        rm -rf "$SCRATCH/restored"
        ship_rates+=("$(rate "$ship_s")") pub_rates+=("$(rate "$pub_s")") hdr_rates+=("$(rate "$hdr_s")")
        id_rates+=("$(rate "$id_s")") id_ratios+=("$(ratio "$id_s" "$pub_s")")
        rest_rates+=("$(rate "$rest_s")") cons_rates+=("$(rate "$cons_s")")
        ship_ratios+=("$(ratio "$ship_s" "$pub_s")") hdr_ratios+=("$(ratio "$hdr_s" "$pub_s")")
        own_ratios+=("$(ratio "$ship_s" "$hdr_s")") rest_ratios+=("$(ratio "$rest_s" "$cons_s")")
        printf "$row" "$r" "$first" "${ship_rates[-1]}" "${pub_rates[-1]}" "${hdr_rates[-1]}" \
            "${id_rates[-1]}" "${ship_ratios[-1]}" "${hdr_ratios[-1]}" "${id_ratios[-1]}" \
            "${own_ratios[-1]}" "${rest_rates[-1]}" "${cons_rates[-1]}" "${rest_ratios[-1]}"
    done
    m_ship_ratio=$(median "${ship_ratios[@]}") m_rest_ratio=$(median "${rest_ratios[@]}")
    m_hdr_ratio=$(median "${hdr_ratios[@]}") m_own_ratio=$(median "${own_ratios[@]}")
    m_id_ratio=$(median "${id_ratios[@]}")
    printf '%-6s %-7s %9.0f %9.0f %9.0f %9.0f %8.3f %8.3f %8.3f %8.3f %9.0f %9.0f %7.3f\n' median "" \
        "$(median "${ship_rates[@]}")" "$(median "${pub_rates[@]}")" "$(median "${hdr_rates[@]}")" \
        "$(median "${id_rates[@]}")" "$m_ship_ratio" "$m_hdr_ratio" "$m_id_ratio" "$m_own_ratio" \
        "$(median "${rest_rates[@]}")" "$(median "${cons_rates[@]}")" "$m_rest_ratio"
    echo "(ratios: of the rates in the same round, e.g. ship/pub = durlog ship's rate over nats_plain publish's; median: of the rounds)"
    echo "shipping, durlog ship / nats_plain publish: median ratio $m_ship_ratio (target >= 0.8): $(verdict "$m_ship_ratio" 0.8)"
    echo "  of which durlog's headers (nats_plain publish --headers / publish): median $m_hdr_ratio; durlog's own (ship / publish --headers): median $m_own_ratio"
    echo "  the headers split: Nats-Msg-Id alone (publish --headers=id / publish): median $m_id_ratio; the Durlog header and the condition on top of it: the rest"
    echo "restore, durlog restore / nats_plain consume: median ratio $m_rest_ratio (target >= 0.8): $(verdict "$m_rest_ratio" 0.8)"
fi

# field LINE NAME: the number after the word NAME in LINE (after the first
# "lag_ms" for the percentiles, which send_ms and append_ms repeat).
lag_field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == "lag_ms") break;
    for (; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"; }
# Each run below uses its own stream, named by the run's number $n.
do_lag() {
    out=$(timeout $((lag_seconds + 180)) "$LAG" --servers "$URL" --dir "$SCRATCH" \
        --rate "$lr" --seconds "$lag_seconds" --threads "$lt" --window "$window" \
        --replicas 3 --stream "LAG$n" --subject "lag$n.rec" 2>"$SCRATCH/lag.err") ||
        { cat "$SCRATCH/lag.err" >&2; die "ship_lag failed"; }
    echo "$lr/s, $lt threads, durlog: $out"
    lag_p99[$pi]+=" $(lag_field "$out" p99)"
    # Whether this run kept to its pace with every record acknowledged.
    lag_kept[$pi]+=" $(awk -v r="$lr" '{ print ($4 >= 0.98 * r && $NF == 0) ? 1 : 0 }' <<<"$out")"
    plain delete "LAG$n"
}
# floor [--headers]: nats_plain latency at this rate into a fresh stream;
# its line into $fout.
floor() {
    plain create "FLOOR$n" "floor$n.rec" 3
    fout=$(timeout $((lag_seconds + 120)) "$PLAIN" latency "$URL" "FLOOR$n" "floor$n.rec" \
        "$lr" "$lag_seconds" "$window" "$@" 2>"$SCRATCH/floor.err") ||
        { cat "$SCRATCH/floor.err" >&2; die "nats_plain latency failed"; }
    plain delete "FLOOR$n"
}
do_floor() {
    floor
    echo "$lr/s, floor alone: $fout"
    floor_p99[$pi]+=" $(lag_field "$fout" p99)"
}
do_floor_hdr() {
    floor --headers
    echo "$lr/s, floor with durlog's headers: $fout"
    hdr_p99[$pi]+=" $(lag_field "$fout" p99)"
}
# The floor with durlog's headers while $lt threads append at sync at the
# same rate, no session: all durlog's lag run does but the shipper itself;
# the appenders in the background (bounded; the exit trap stops them if
# the run ends first).
do_loaded() {
    timeout $((lag_seconds + 120)) "$LAG" --no-ship --dir "$SCRATCH" --rate "$lr" \
        --seconds "$lag_seconds" --threads "$lt" >"$SCRATCH/appends.out" \
        2>"$SCRATCH/appends.err" &
    appends_pid=$!
    floor --headers
    echo "$lr/s, floor with headers beside $lt threads appending: $fout"
    wait "$appends_pid" || { cat "$SCRATCH/appends.err" >&2; die "ship_lag --no-ship failed"; }
    appends_pid=
    echo "$lr/s, those appends: $(cat "$SCRATCH/appends.out")"
    loaded_p99[$pi]+=" $(lag_field "$fout" p99)"
}
if [ "$lag" -eq 1 ]; then
    echo "# lag: T threads appending at sync, paced at R records/s for $lag_seconds s, a session following the log (R3 stream, window $window); floors: nats_plain latency, 100-byte records paced at R/s, publish to ack (window $window): plain, with durlog's headers, with the headers beside ship_lag --no-ship (the same appends, no session); $lag_rounds rounds, the order of the four alternating"
    lag_p99=() lag_kept=() floor_p99=() hdr_p99=() loaded_p99=()
    pairs=(${lag_rates//,/ })
    n=0
    for ((lround = 1; lround <= lag_rounds; lround++)); do
        for ((pi = 0; pi < ${#pairs[@]}; pi++)); do
            lr=${pairs[pi]%%:*} lt=${pairs[pi]##*:}
            n=$((n + 1))
            if [ $((n % 2)) -eq 1 ]; then
                do_lag; do_floor; do_floor_hdr; do_loaded
            else
                do_loaded; do_floor_hdr; do_floor; do_lag
            fi
        done
    done
    for ((pi = 0; pi < ${#pairs[@]}; pi++)); do
        lr=${pairs[pi]%%:*} lt=${pairs[pi]##*:}
        # shellcheck disable=SC2086 # the lists are words on purpose
        m_lag=$(median ${lag_p99[pi]}) m_floor=$(median ${floor_p99[pi]})
        m_loaded=$(median ${loaded_p99[pi]}) m_hdr=$(median ${hdr_p99[pi]})
        kept=$([[ " ${lag_kept[pi]} " == *" 0 "* ]] && echo 0 || echo 1)
        if [ "$lr" -eq 10000 ]; then
            ok=$(awk -v p="$m_lag" -v k="$kept" 'BEGIN {
                print (p <= 20 && k == 1) ? "target met" : "MISSED" }')
        else
            ok="(the target is at 10000/s)"
        fi
        echo "lag at $lr/s ($lt threads), sync append to stream acknowledgement: median p99 $m_lag ms (rounds:${lag_p99[pi]} ms)$([ "$kept" -eq 1 ] || echo ", a round fell behind its pace or left records unacknowledged"); floors, publish to ack with nats.c alone, median p99: $m_floor ms (${floor_p99[pi]# }), with durlog's headers $m_hdr ms (${hdr_p99[pi]# }), with the headers beside the appends $m_loaded ms (${loaded_p99[pi]# }); target p99 <= 20 ms at 10000/s: $ok"
    done
fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
