#!/usr/bin/env bash
# tests/ship_chaos.sh - `durlog ship` and `durlog restore` (issue #20)
# through faults, on a 3-node JetStream cluster (tests/lib/nats.sh) with a
# stream of 3 replicas: the shipper killed with kill -9 at random moments
# while four writers append; servers killed, paused, restarted, all of them
# stopped for a while, under a shipper that follows; a shipper killed in
# the middle of a large window. Each case ends with the check of exactly
# once: the stream restored into a new log equals the original
# (`durlog cat -o json`; restore itself refuses a gap, a duplicate or a bad
# checksum), and the stream holds as many messages as the log has records
# (no duplicate stored).
#
# Run by tests/run.sh from the repository root (DURLOG_BIN, DURLOG_TEST_DIR;
# see tests/lib/cli.sh). DURLOG_SHIP_KILL_ROUNDS (default 50) sets the
# kill -9 rounds of ship_survives_kill9_rounds, for a soak;
# DURLOG_SHIP_CHAOS_ARGS adds arguments to their shippers. Lines starting
# with "# " report what each case measured. Bounded: every wait has a
# limit; the whole file takes a few minutes at most.
set -u
. tests/lib/cli.sh
. tests/lib/nats.sh

KILL_ROUNDS=${DURLOG_SHIP_KILL_ROUNDS:-50}
# More arguments for the shippers of the fault cases (1-3), after their
# own, e.g. "--window 1" to tell a fault from a pipelining problem.
EXTRA=${DURLOG_SHIP_CHAOS_ARGS:-}
T_REMOVE=1

# Processes this script started (writers' pipelines, shippers), stopped on
# exit whatever happened; then the servers, then the scratch directory.
declare -a mine=()
cleanup() {
    local p
    for p in "${mine[@]}"; do
        kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    nats_cleanup
    remove_scratch
}
trap cleanup EXIT

if ! command -v nats-server >/dev/null || ! command -v jq >/dev/null ||
   ! command -v curl >/dev/null; then
    echo "not ok ship_chaos_needs_nats_server_jq_curl (scripts/deps.sh installs them)"
    exit 1
fi
if ! nats_cluster "$SCRATCH/nats" || ! nats_wait_ready 30; then
    echo "not ok ship_chaos_cluster_starts"
    exit 1
fi

# ---- helpers ----------------------------------------------------------------

note() {
    echo "# $*"
}

# durable_seq LOG: the log's durable mark (records below it are durable);
# with a first seq of 0, the number of durable records.
durable_seq() {
    "$BIN" info "$1" 2>/dev/null | sed -n 's/^durable seq: *\([0-9]*\).*/\1/p'
}

# next_seq LOG
next_seq() {
    "$BIN" info "$1" 2>/dev/null | sed -n 's/^next seq: *\([0-9]*\).*/\1/p'
}

# wait_gone PID SECONDS: waits until PID (a child) has exited, and reaps
# it; status in $wait_rc (-1 when it is still running after SECONDS).
wait_gone() {
    local t
    wait_rc=-1
    for ((t = 0; t < $2 * 10; t++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            wait "$1" 2>/dev/null
            wait_rc=$?
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# start_writers LEVEL...: one writer per LEVEL, each a loop of records
# "w<i>-<n>" (n from 0 on, about 200 a second) into `durlog append -d
# LEVEL $LOG`, until $D/stop exists; each writes how many it sent to
# $D/w<i>.count. Their pids in $writers.
start_writers() {
    local i=0 level
    writers=()
    rm -f "$D/stop"
    # The log exists before any shipper starts.
    "$BIN" append -d sync "$LOG" start || fail "the first append failed"
    for level in "$@"; do
        i=$((i + 1))
        (
            n=0
            while [ ! -e "$D/stop" ]; do
                for ((k = 0; k < 5; k++)); do
                    echo "w$i-$n"
                    n=$((n + 1))
                done
                sleep 0.02
            done
            echo "$n" >"$D/w$i.count"
        ) | "$BIN" append -d "$level" "$LOG" 2>"$D/w$i.err" &
        writers+=($!)
        mine+=($!)
    done
}

# stop_writers: ends the loops; each `durlog append` must then exit 0 with
# all its records in. Then a last record at sync makes every record
# durable. Sets $sent (records appended: the writers', the first and the
# last one).
stop_writers() {
    local p i
    touch "$D/stop"
    for p in "${writers[@]}"; do
        if ! wait_gone "$p" 20; then
            fail "writer $p still running 20 s after being told to stop"
        elif [ "$wait_rc" -ne 0 ]; then
            fail "a writer (durlog append) exited $wait_rc: $(cat "$D"/w*.err)"
        fi
    done
    sent=2
    for ((i = 1; i <= ${#writers[@]}; i++)); do
        sent=$((sent + $(cat "$D/w$i.count" 2>/dev/null || echo 0)))
    done
    "$BIN" append -d sync "$LOG" marker || fail "the last append (sync) failed"
}

# ship STREAM ARGS...: `durlog ship $LOG` to STREAM (subject STREAM.log,
# created with 3 replicas), in the background, stdout to $D/ship.out,
# stderr to $D/ship.err; its pid in $shipper.
ship_bg() {
    local stream=$1
    shift
    "$BIN" ship "$LOG" "$NATS_URL" --stream "$stream" --subject "$stream.log" \
        --create-stream --replicas 3 "$@" $EXTRA >>"$D/ship.out" 2>>"$D/ship.err" &
    shipper=$!
    mine+=($!)
}

# ship_to_end STREAM [ARGS...]: `durlog ship` without --follow, at most
# $END_LIMIT seconds (default 60); it must exit 0.
ship_to_end() {
    local stream=$1
    shift
    timeout "${END_LIMIT:-60}" "$BIN" ship "$LOG" "$NATS_URL" --stream "$stream" --subject "$stream.log" \
        "$@" $EXTRA >"$D/end.out" 2>"$D/end.err"
    local rc=$?
    [ "$rc" -eq 0 ] || { fail "durlog ship to the end exited $rc:"; show "$D/end.err" >>"$WHY"; }
}

# restore STREAM NEWLOG [SERVERS]: `durlog restore` without --follow, at
# most 60 s; it must exit 0.
restore() {
    timeout 60 "$BIN" restore "${3:-$NATS_URL}" --stream "$1" --subject "$1.log" "$2" \
        >"$D/restore.out" 2>"$D/restore.err"
    local rc=$?
    [ "$rc" -eq 0 ] || { fail "durlog restore exited $rc:"; show "$D/restore.err" >>"$WHY"; server_view "$1"; }
}

# server_view STREAM: what each server says of STREAM, into $WHY (after a
# failure): its state, the JetStream API's answer through it (any server
# may answer a request), and its log's last warnings and errors. A CI run
# once saw "stream not found" from the API after a full restart while a
# replica held the stream; this says whose fault a failure is.
server_view() {
    local i reply
    for ((i = 1; i <= NATS_NODES; i++)); do
        reply=$(nats_api "$i" "\$JS.API.STREAM.INFO.$1" 2>/dev/null |
            jq -c '.error // {messages: .state.messages, leader: .cluster.leader}' 2>/dev/null)
        echo "  n$i ($(nats_state "$i")): the API through it says ${reply:-nothing}" >>"$WHY"
        grep -E '\[(WRN|ERR)\]' "$(nats_log "$i")" 2>/dev/null |
            grep -vE 'connect to route|Waiting for routing' | tail -n 4 | sed 's/^/      | /' >>"$WHY"
    done
    echo "  the stream's leader by /jsz: $(nats_stream_leader "$1" 2>/dev/null || echo none)," \
         "$(nats_stream_msgs "$1" 2>/dev/null || echo '?') messages" >>"$WHY"
}

# catch_up STREAM SECONDS: the stream reaches the log's durable mark as it
# is now (writers may go on), within SECONDS.
catch_up() {
    local want
    want=$(durable_seq "$LOG")
    if ! nats_wait_stream_msgs "$1" "$want" "$2" 2>>"$WHY"; then
        fail "the shipper did not catch up (durable records: $want) within $2 s"
        server_view "$1"
        return 1
    fi
}

# expect_same STREAM: the restored log equals the original, record for
# record; the stream holds exactly the log's records.
expect_same() {
    local new=$D/restored records msgs
    rm -rf "$new"
    restore "$1" "$new"
    "$BIN" cat -o json "$LOG" >"$D/orig.json" || fail "durlog cat of the log failed"
    "$BIN" cat -o json "$new" >"$D/new.json" || fail "durlog cat of the restored log failed"
    records=$(wc -l <"$D/orig.json")
    if ! cmp -s "$D/orig.json" "$D/new.json"; then
        fail "the restored log differs from the original ($records records, restored" \
             "$(wc -l <"$D/new.json")); first difference:"
        diff "$D/orig.json" "$D/new.json" | head -n 6 | sed 's/^/    | /' >>"$WHY"
    fi
    msgs=$(nats_stream_msgs "$1")
    [ "$msgs" = "$records" ] || fail "stream $1 holds ${msgs:-?} messages, the log $records records"
    note "$1: $records records, stream holds ${msgs:-?} messages, restored $(wc -l <"$D/new.json")"
}

# node_of_shipper: the node (1..3) the shipper's connection is on ("" if
# none is seen).
node_of_shipper() {
    local i
    for ((i = 1; i <= NATS_NODES; i++)); do
        [ "$(nats_state "$i")" = running ] || continue
        if _nats_get "$i" /connz | jq -e '.connections[]? | select(.name == "durlog")' \
                >/dev/null 2>&1; then
            echo "$i"
            return 0
        fi
    done
}

# ---- 0: what the cases below rely on, each alone ---------------------------

# The servers as a comma-separated list, as `durlog help ship` documents.
ship_takes_a_list_of_servers() {
    "$BIN" append -d sync "$LOG" a b c
    run timeout 20 "$BIN" ship "$LOG" "$NATS_URL" --stream L --subject L.log \
        --create-stream --replicas 3
    expect_status 0 "ship to $NATS_URL"
    [ "$(nats_stream_msgs L)" = 3 ] || fail "stream L holds $(nats_stream_msgs L) messages, not 3"
}

# Into a stream of 3 replicas, a window of messages awaiting their
# acknowledgements is stored as sent: no resync per message. (One server's
# URL: this case is not about the list.)
ship_pipelines_into_a_replicated_stream() {
    seq 1 2000 | "$BIN" append -d interval "$LOG"
    run timeout 30 "$BIN" ship "$LOG" "$NATS_URL_1" --stream P --subject P.log \
        --create-stream --replicas 3
    expect_status 0 "ship 2000 records to an R3 stream within 30 s"
    if [ "$(wc -l <"$ERR")" -ge 10 ]; then
        fail "$(wc -l <"$ERR") status lines for 2000 records; they begin:"
        show "$ERR" >>"$WHY"
    fi
    note "2000 records to R3: $(grep -c 'wrong last sequence' "$ERR") resyncs on 'wrong last sequence'"
}

# `durlog restore` continues a log it restored before, once the stream has
# more (as `durlog help restore` says). --window 1: not about pipelining.
restore_continues_a_restored_log() {
    local new=$D/restored
    "$BIN" append -d sync "$LOG" a b c
    "$BIN" ship -q "$LOG" "$NATS_URL_1" --stream C --subject C.log --create-stream \
        --replicas 3 --window 1 || fail "first ship failed"
    restore C "$new" "$NATS_URL_1"
    "$BIN" append -d sync "$LOG" d e
    "$BIN" ship -q "$LOG" "$NATS_URL_1" --stream C --subject C.log --window 1 ||
        fail "second ship failed"
    restore C "$new" "$NATS_URL_1"
    "$BIN" cat -o json "$LOG" >"$D/orig.json"
    "$BIN" cat -o json "$new" >"$D/new.json"
    cmp -s "$D/orig.json" "$D/new.json" ||
        fail "restored $(wc -l <"$D/new.json") records, the log has 5"
}

# ---- 1: the shipper killed with kill -9, again and again --------------------

ship_survives_kill9_rounds() {
    local r during
    start_writers sync sync interval kernel
    for ((r = 1; r <= KILL_ROUNDS; r++)); do
        ship_bg K --follow
        sleep "0.$(printf %03d $((RANDOM % 300)))"
        kill -KILL "$shipper" 2>/dev/null
        wait "$shipper" 2>/dev/null
    done
    during=$(nats_stream_msgs K)
    stop_writers
    [ "${during:-0}" -gt 0 ] || fail "nothing was shipped during $KILL_ROUNDS rounds"
    ship_to_end K
    local records
    records=$(next_seq "$LOG")
    [ "$records" = "$sent" ] || fail "the log has $records records, the writers sent $sent"
    [ "$(durable_seq "$LOG")" = "$records" ] || fail "not every record is durable after a sync"
    note "kill -9 rounds: $KILL_ROUNDS; shipped while killed: ${during:-0} of $records records"
    expect_same K
}

# give_up: ends a case early (its first failure made the rest pointless):
# writers and shipper stopped, servers all running again.
give_up() {
    touch "$D/stop"
    kill -KILL "$shipper" 2>/dev/null
    wait "$shipper" 2>/dev/null
    local p
    for p in "${writers[@]}"; do wait_gone "$p" 20 || kill -KILL "$p" 2>/dev/null; done
    for p in 1 2 3; do [ "$(nats_state "$p")" = paused ] && nats_sigcont "$p"; done
    nats_start_all
    nats_wait_ready 30
}

# ---- 2: servers killed, paused, stopped under a following shipper -----------

ship_follows_through_server_faults() {
    local leader follower node before lines pid
    start_writers sync kernel
    ship_bg F --follow
    pid=$shipper
    if ! nats_wait_stream_msgs F 1000 30 2>>"$WHY"; then
        fail "the shipper did not ship 1000 records in 30 s; its stderr ends:"
        tail -n 4 "$D/ship.err" | sed 's/^/    | /' >>"$WHY"
        give_up
        return
    fi

    # A follower of the stream killed, then restarted.
    leader=$(nats_wait_stream_leader F 20)
    for follower in n1 n2 n3; do [ "$follower" != "$leader" ] && break; done
    nats_kill9 "$follower"
    catch_up F 30 || { give_up; return; }
    nats_start "$follower" || fail "$follower does not start again"
    nats_wait_ready 30 || fail "cluster not ready after $follower restarted"
    catch_up F 30 || { give_up; return; }
    note "follower $follower killed and restarted; stream at $(nats_stream_msgs F)"

    # The stream's leader killed, then restarted.
    leader=$(nats_wait_stream_leader F 20)
    nats_kill9 "$leader"
    catch_up F 40 || { give_up; return; }
    note "leader $leader killed; new leader $(nats_stream_leader F)"
    nats_start "$leader" || fail "$leader does not start again"
    nats_wait_ready 30 || fail "cluster not ready after $leader restarted"
    catch_up F 30 || { give_up; return; }

    # The server the shipper is connected to paused for 5 s.
    node=$(node_of_shipper)
    [ -n "$node" ] || { node=1; fail "no server has the shipper's connection"; }
    nats_sigstop "$node"
    sleep 5
    nats_sigcont "$node"
    nats_wait_ready 30 || fail "cluster not ready after n$node resumed"
    catch_up F 40 || { give_up; return; }
    note "n$node (the shipper's server) paused 5 s; stream at $(nats_stream_msgs F)"

    # Every server stopped for 10 s.
    before=$(wc -l <"$D/ship.err")
    nats_stop_all
    sleep 10
    nats_start_all || fail "the servers do not start again"
    nats_wait_ready 60 || fail "cluster not ready 60 s after a full restart"
    catch_up F 60
    lines=$(($(wc -l <"$D/ship.err") - before))
    note "all servers stopped 10 s: $lines lines on the shipper's stderr"
    tail -n +"$((before + 1))" "$D/ship.err" | sed 's/^/#   | /'
    [ "$lines" -lt 20 ] || fail "$lines status lines for a 10 s outage (a flood)"
    tail -n +"$((before + 1))" "$D/ship.err" |
        grep -qiE 'unreachable|cannot (connect|reach)|no server|not connected|disconnected' ||
        fail "the shipper did not say the servers were unreachable (only what is above)"

    stop_writers
    catch_up F 30
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait_gone "$pid" 20 || fail "the shipper does not stop on SIGTERM"
        [ "$wait_rc" -eq 0 ] || fail "the shipper exited $wait_rc on SIGTERM"
    else
        wait "$pid" 2>/dev/null
        fail "the shipper died (exit $?); its stderr ends:"
        tail -n 5 "$D/ship.err" | sed 's/^/    | /' >>"$WHY"
    fi
    expect_same F
}

# ---- 3: a shipper killed in the middle of a large window --------------------

restore_after_shipper_killed_mid_batch() {
    local total=200000 got new=$D/restored
    seq -f 'rec-%06g' 0 $((total - 1)) | "$BIN" append -d interval "$LOG" ||
        fail "making the log failed"
    ship_bg B --window 100000
    if ! nats_wait_stream_msgs B 20000 60 2>>"$WHY"; then
        fail "the shipper did not get to 20000 records in 60 s; its stderr ends:"
        tail -n 4 "$D/ship.err" | sed 's/^/    | /' >>"$WHY"
        kill -KILL "$shipper" 2>/dev/null
        wait "$shipper" 2>/dev/null
        return
    fi
    kill -KILL "$shipper"
    wait "$shipper" 2>/dev/null
    got=$(nats_stream_msgs B)
    [ "${got:-0}" -lt "$total" ] || fail "shipping was over before the kill: not mid-batch"
    restore B "$new"
    "$BIN" cat -o json "$LOG" >"$D/orig.json"
    "$BIN" cat -o json "$new" >"$D/new.json"
    local n
    n=$(wc -l <"$D/new.json")
    [ "$n" -ge "${got:-0}" ] || fail "restored $n records, the stream held $got"
    head -n "$n" "$D/orig.json" | cmp -s - "$D/new.json" ||
        fail "the restored $n records are not the log's first $n"
    note "killed at $got of $total messages in the stream; restored $n"
    END_LIMIT=120 ship_to_end B
    restore B "$new"
    "$BIN" cat -o json "$new" >"$D/new.json"
    cmp -s "$D/orig.json" "$D/new.json" ||
        fail "the restored log (continued) differs from the original ($(wc -l <"$D/new.json") of $total)"
    got=$(nats_stream_msgs B)
    [ "$got" = "$total" ] || fail "stream B holds $got messages, the log $total records"
}

t ship_takes_a_list_of_servers
t ship_pipelines_into_a_replicated_stream
t restore_continues_a_restored_log
t ship_survives_kill9_rounds
t ship_follows_through_server_faults
t restore_after_shipper_killed_mid_batch
[ "$failed" -eq 0 ]
