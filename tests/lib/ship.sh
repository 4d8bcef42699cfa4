# tests/lib/ship.sh - what the tests of `durlog ship` and `durlog restore`
# (tests/ship.sh, tests/ship_hostile.sh) share, sourced after
# tests/lib/cli.sh and tests/lib/nats.sh: the processes they start in the
# background (BG, killed on exit with every server and the scratch
# directory), the tools they need, `d` (the durlog command bounded in
# time) and the helpers both use (records, stream counts, bounded waits).

# Processes started in the background by the tests, killed on exit.
BG=()
ship_tests_cleanup() {
    local p
    for p in "${BG[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    nats_cleanup
    remove_scratch
}
trap ship_tests_cleanup EXIT

# ship_tests_need NAME: fails the file (one "not ok" line) unless
# nats-server and jq are installed (scripts/deps.sh installs them).
ship_tests_need() {
    local tool
    for tool in nats-server jq; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "not ok $1_need_$tool (scripts/deps.sh installs it)"
            exit 1
        fi
    done
}

# d CMD...: the durlog command, bounded in time.
d() {
    timeout --kill-after=5 60 "$BIN" "$@"
}

# numbered LOG FROM TO [PREFIX]: records PREFIX-FROM .. PREFIX-TO, synced.
numbered() {
    seq -f "${4:-rec}-%g" "$2" "$3" | d append -d sync "$1" >/dev/null ||
        fail "append of $2..$3 to $1 failed"
}

# count STREAM: the stream's message count ("none" when it has none).
count() {
    nats_stream_msgs "$1" 2>/dev/null || echo none
}

# wait_until SECONDS CMD...: polls CMD every 0.05 s; fails after SECONDS.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# records_at_least LOG N: a reader of LOG sees at least N records.
records_at_least() {
    [ "$(d cat "$1" 2>/dev/null | wc -l)" -ge "$2" ]
}

stream_at_least() { # STREAM N
    local n
    n=$(nats_stream_msgs "$1" 2>/dev/null) && [ "$n" -ge "$2" ]
}

# wait_exit PID SECONDS: waits for a background process to end (SIGKILL
# after SECONDS) and sets rc to its status.
wait_exit() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "process $1 still running after $2 s: killed"
            kill -KILL "$1" 2>/dev/null
            break
        fi
        sleep 0.05
    done
    wait "$1"
    rc=$?
}
