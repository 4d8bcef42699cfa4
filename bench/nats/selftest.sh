#!/usr/bin/env bash
# bench/nats/selftest.sh - checks tests/lib/nats.sh against the installed
# nats-server: a single server with each auth variant, then the 3-node
# cluster through kills, restarts and pauses, then the watchdog. Prints
# "ok NAME" / "not ok NAME" lines; exit status 0 when all passed. With
# $B/bench/nats/nats_plain built (make B=...), each server is also used:
# a stream created, records published and counted, wrong credentials
# refused. Not under tests/, so tests/run.sh does not run it.
#   B=build-dev bash bench/nats/selftest.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
PLAIN=$B/bench/nats/nats_plain
BASE=${DURLOG_TEST_DIR:-$B/testtmp}
mkdir -p "$BASE" || exit 1
SCRATCH=$(mktemp -d "$BASE/nats-selftest-XXXXXX") || exit 1
. tests/lib/nats.sh
trap 'nats_cleanup; rm -rf "$SCRATCH"' EXIT

failed=0
have_plain=0
[ -x "$PLAIN" ] && have_plain=1
[ "$have_plain" -eq 1 ] || echo "# $PLAIN not built: servers started but not used"

# check NAME CMD...: "ok NAME" when CMD succeeds, else "not ok NAME".
check() {
    local name=$1
    shift
    if "$@" >"$SCRATCH/out" 2>&1; then
        echo "ok $name"
    else
        echo "not ok $name"
        sed 's/^/#   /' "$SCRATCH/out" | tail -n 10
        failed=$((failed + 1))
    fi
}

# Negated command, for check.
fails() {
    ! "$@"
}

# plain MODE ARGS...: nats_plain against $NATS_URL, at most 60 s.
plain() {
    local mode=$1
    shift
    timeout 60 "$PLAIN" "$mode" "$NATS_URL" "$@"
}

# use_server STREAM REPLICAS: a stream made, 1000 records in, counted by
# its leader.
use_server() {
    plain create "$1" "$1.rec" "$2" &&
        plain publish "$1" "$1.rec" 1000 64 &&
        nats_wait_stream_msgs "$1" 1000 20 &&
        [ "$(nats_stream_msgs "$1")" -eq 1000 ]
}

pids_gone() {
    local p
    for p in "$@"; do
        kill -0 "$p" 2>/dev/null && { echo "pid $p still running"; return 1; }
    done
    return 0
}

# ---- one server per auth variant ----
for auth in none password token tls tls+password; do
    dir=$SCRATCH/single-${auth/+/-}
    check "single $auth: starts" nats_single "$dir" "$auth"
    check "single $auth: JetStream ready" nats_wait_ready 20
    if [ "$have_plain" -eq 1 ]; then
        check "single $auth: stream used" use_server S 1
        check "single $auth: leader is n1" test "$(nats_stream_leader S)" = n1
        case $auth in
        password|tls+password)
            check "single $auth: wrong password refused" \
                fails env NATS_PASSWORD=wrong timeout 20 "$PLAIN" publish "$NATS_URL" S S.rec 1 ;;
        token)
            check "single $auth: no token refused" \
                fails env -u NATS_TOKEN timeout 20 "$PLAIN" publish "$NATS_URL" S S.rec 1 ;;
        none)
            check "single $auth: count grows" plain publish S S.rec 5
            check "single $auth: count is 1005" test "$(nats_stream_msgs S)" = 1005 ;;
        esac
        case $auth in
        tls|tls+password)
            check "single $auth: plain connection refused" \
                fails env -u NATS_CA timeout 20 "$PLAIN" publish "$NATS_URL" S S.rec 1 ;;
        esac
    fi
    pid=${_nats_pid[1]}
    nats_cleanup
    check "single $auth: stopped" pids_gone "$pid"
done

# ---- the 3-node cluster ----
dir=$SCRATCH/cluster
check "cluster: starts" nats_cluster "$dir"
check "cluster: URL names 3 nodes" test "$(tr ',' '\n' <<<"$NATS_URL" | grep -c '^nats://127.0.0.1:[0-9]*$')" = 3
check "cluster: meta leader elected" nats_wait_ready 30
if [ "$have_plain" -eq 1 ]; then
    check "cluster: R3 stream used" use_server R 3
    leader=$(nats_wait_stream_leader R 20)
    check "cluster: stream has a leader" test -n "$leader"
    if [ -n "$leader" ]; then
        nats_kill9 "$leader"
        check "cluster: $leader killed" test "$(nats_state "$leader")" = stopped
        new=$(nats_wait_stream_leader R 30)
        check "cluster: new leader after kill" test -n "$new" -a "$new" != "$leader"
        check "cluster: new leader keeps 1000" nats_wait_stream_msgs R 1000 20
        check "cluster: publish with a node down" plain publish R R.rec 100
        check "cluster: $leader restarts" nats_start "$leader"
        check "cluster: ready again" nats_wait_ready 30
        check "cluster: 1100 messages" nats_wait_stream_msgs R 1100 30
        cur=$(nats_wait_stream_leader R 20)
        check "cluster: leader paused" nats_sigstop "$cur"
        # The queries skip a paused node, so a new leader is one that
        # claims it while the old one still believes it leads.
        new=$(nats_wait_stream_leader R 30)
        check "cluster: a leader other than the paused one" test -n "$new" -a "$new" != "$cur"
        check "cluster: paused node resumes" nats_sigcont "$cur"
        check "cluster: ready after resume" nats_wait_ready 30
    fi
fi
check "cluster: n2 stops" nats_stop n2
check "cluster: n2 starts" nats_start 2
check "cluster: all stop" nats_stop_all
check "cluster: all stopped" test "$(nats_state 1)$(nats_state 2)$(nats_state 3)" = stoppedstoppedstopped
check "cluster: all start" nats_start_all
check "cluster: ready after full restart" nats_wait_ready 30
if [ "$have_plain" -eq 1 ]; then
    check "cluster: messages survive a full restart" nats_wait_stream_msgs R 1100 30
    check "cluster: consume 1100" plain consume R R.rec 1100
fi
pids=("${_nats_pid[@]}")
nats_cleanup
check "cluster: every server stopped" pids_gone "${pids[@]}"

# ---- the watchdog: a shell killed outright leaves no server behind ----
wd=$SCRATCH/watchdog
# (In a subshell, to keep bash's "Killed" notice out of the output.)
(bash -c '. tests/lib/nats.sh; nats_single "$1" >/dev/null || exit 1; echo "${_nats_pid[1]}" >"$1/server.pid"; kill -KILL $$' _ "$wd"; true) 2>/dev/null
wpid=$(cat "$wd/server.pid" 2>/dev/null)
check "watchdog: server started" test -n "$wpid"
if [ -n "$wpid" ]; then
    check "watchdog: server killed within 5 s" \
        bash -c 'for t in $(seq 50); do kill -0 "$1" 2>/dev/null || exit 0; sleep 0.1; done; exit 1' _ "$wpid"
fi

echo "$failed failed"
[ "$failed" -eq 0 ]
