#!/usr/bin/env bash
# tests/ship_hostile.sh - `durlog ship` and `durlog restore` (issue #20)
# under a careless or hostile operator: the stream purged, deleted or made
# anew under a running shipper, messages that do not fit, odd arguments.
# Against one real nats-server JetStream server on loopback
# (tests/lib/nats.sh); run by tests/run.sh from the repository root. The
# promises checked: every failure is one clear line and a non-zero exit,
# never a spin, a hang or a silent re-ship; what the stream holds restores
# to the original log. Every wait is bounded; every process started is
# stopped on exit.
set -u
. tests/lib/cli.sh
. tests/lib/nats.sh
. tests/lib/ship.sh

ship_tests_need ship_hostile_tests

# ---- helpers ----------------------------------------------------------------

# js_api SUBJECT [JSON]: one JetStream API request to the server; prints
# the reply's payload.
js_api() {
    nats_api 1 "$@"
}

# js_ok SUBJECT [JSON]: a JetStream API request that must succeed.
js_ok() {
    local reply
    reply=$(js_api "$@") && ! jq -e '.error' <<<"$reply" >/dev/null 2>&1 ||
        { fail "JetStream API $1 failed: $reply"; return 1; }
}

# lines_of FILE: its number of lines.
lines_of() {
    wc -l <"$1"
}

# ---- tests ------------------------------------------------------------------

# The stream purged under a following shipper (an operator dropping what it
# held): the shipper neither spins (every resend a duplicate, stderr flooded:
# it did once) nor ships the whole log again; it goes on with the records
# appended after the purge, each once (its conditions name the previous
# record's message id, which the purge leaves as the stream's last id), and
# stops on SIGTERM with exit 0.
purged_stream_under_follow_goes_on_with_new_records() {
    numbered "$LOG" 1 50
    "$BIN" ship "$LOG" "$NATS_URL" --stream PG --subject pg --create-stream --follow \
        >"$OUT" 2>"$ERR" &
    local p=$!
    BG+=("$p")
    wait_until 10 stream_at_least PG 50 || fail "the follower did not ship 50 records"
    js_ok '$JS.API.STREAM.PURGE.PG' || return
    numbered "$LOG" 51 60
    wait_until 10 stream_at_least PG 10 || fail "the records after the purge were not shipped"
    sleep 1 # anything more would come now
    kill -TERM "$p"
    wait_exit "$p" 10
    [ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM, expected 0"
    [ "$(lines_of "$ERR")" -le 6 ] || fail "$(lines_of "$ERR") lines on stderr (a spin?)"
    [ "$(count PG)" = 10 ] || fail "the purged stream holds $(count PG) messages, not the 10 appended after"
    "$BIN" restore -q "$NATS_URL" --stream PG --subject pg "$D/after" ||
        fail "restore of what the stream holds after the purge failed"
    [ "$("$BIN" cat "$D/after" | head -n 1)" = "$("$BIN" cat "$LOG" | sed -n 51p)" ] ||
        fail "the stream does not start with record 51 after the purge"
}

# The stream deleted and made anew without the log's subject: the shipper
# does not wait forever on "no responders" to ship the log again from its
# first record once the subject comes back.
stream_made_anew_under_follow_stops_clearly() {
    numbered "$LOG" 1 50
    "$BIN" ship "$LOG" "$NATS_URL" --stream RC --subject rc --create-stream --follow \
        >"$OUT" 2>"$ERR" &
    local p=$!
    BG+=("$p")
    wait_until 10 stream_at_least RC 50 || fail "the follower did not ship 50 records"
    js_ok '$JS.API.STREAM.DELETE.RC' || return
    js_ok '$JS.API.STREAM.CREATE.RC' '{"name":"RC","subjects":["rc","other"],"storage":"file"}' ||
        return
    numbered "$LOG" 51 60
    wait_exit "$p" 10
    [ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
    [ "$(lines_of "$ERR")" -le 6 ] || fail "$(lines_of "$ERR") lines on stderr (a spin?)"
    [ "$(count RC)" = 0 ] || fail "the new stream holds $(count RC) messages"
}

# A one-millisecond acknowledgement timeout (the smallest --timeout takes):
# outcomes come back as timeouts while nats.c is still writing the
# message; the shipper once destroyed the message under it (SIGSEGV). Now
# it may make slow progress or give up, but never crashes, and what the
# stream holds is the log's first records, each once.
tiny_timeout_never_crashes() {
    numbered "$LOG" 1 3000
    local i n
    for i in 1 2 3 4 5 6; do
        timeout -s KILL 3 "$BIN" ship "$LOG" "$NATS_URL" --stream TT --subject tt \
            --create-stream --timeout 1ms >"$OUT" 2>"$ERR"
        rc=$?
        case $rc in
        0 | 1 | 137) ;;
        *) fail "run $i: exit status $rc (a crash?): $(tail -n 1 "$ERR")" ;;
        esac
    done
    n=$(count TT)
    [ "$n" != none ] || { fail "nothing reached the stream"; return; }
    d restore "$NATS_URL" --stream TT --subject tt "$D/restored" >"$OUT" 2>"$ERR" ||
        fail "restore failed: $(tail -n 1 "$ERR")"
    d cat -o json "$LOG" | head -n "$n" >"$D/orig.json"
    d cat -o json "$D/restored" >"$D/rest.json"
    cmp -s "$D/orig.json" "$D/rest.json" ||
        fail "the restored log ($(lines_of "$D/rest.json") records) is not the first $n of the log"
}

# A restore run again on a log it finished (as after a kill -9 that came
# too late to matter): nothing to do, said at once - it used to skip every
# message, then wait 30 s for one past the end and fail.
restore_of_a_complete_log_is_done_at_once() {
    numbered "$LOG" 1 20
    d ship "$LOG" "$NATS_URL" --stream FIN --subject fin --create-stream -q ||
        fail "ship failed"
    d restore "$NATS_URL" --stream FIN --subject fin -q "$D/restored" ||
        fail "first restore failed"
    local start=$SECONDS
    run d restore "$NATS_URL" --stream FIN --subject fin "$D/restored"
    expect_status 0 "second restore"
    expect_stdout_has "^restored 0 records"
    [ $((SECONDS - start)) -le 10 ] || fail "the second restore took $((SECONDS - start)) s"
}

# SIGINT while a restore reads the stream: it stops with exit 0, what it
# appended is kept, and the next run continues; the end is the original.
# (It crashed with SIGSEGV, or hung, destroying the subscription while
# messages still flowed to it.)
sigint_mid_restore_then_continue() {
    local k
    for k in 1 2 3 4 5 6 7 8; do
        seq -f "r$k-%g" 1 10000 | d append -d sync "$LOG" >/dev/null || fail "append failed"
    done
    d ship "$LOG" "$NATS_URL" --stream SI --subject si --create-stream -q || fail "ship failed"
    local i p delay
    for i in 1 2 3 4 5 6; do
        "$BIN" restore "$NATS_URL" --stream SI --subject si -q "$D/restored" >"$OUT" 2>"$ERR" &
        p=$!
        BG+=("$p")
        delay=0.0$((i + 2))
        sleep "$delay"
        kill -INT "$p" 2>/dev/null
        wait_exit "$p" 10
        [ "$rc" -eq 0 ] || fail "run $i (SIGINT after $delay s): exit status $rc: $(tail -n 1 "$ERR")"
    done
    d restore "$NATS_URL" --stream SI --subject si -q "$D/restored" ||
        fail "the last restore failed"
    d cat -o json "$LOG" >"$D/orig.json"
    d cat -o json "$D/restored" >"$D/rest.json"
    cmp -s "$D/orig.json" "$D/rest.json" || fail "the restored log differs from the original"
}

# The consumer a following restore reads through deleted under it (an
# operator's clean-up; after a JetStream cluster restarted as a whole, a
# consumer on a replica that had not caught up delivered nothing for 30 s,
# in tests/ship_chaos.sh): after 5 s without a message the restore asks
# the stream whether it holds more than it got, reads it again after the
# last message it has (saying so), and ends equal to the log. (Before,
# it waited on the consumer: nats.c's ordered consumer made itself anew
# after about 19 s of missed heartbeats here, but never for one that
# still sends them from a replica behind.)
restore_outlives_its_consumer_deleted() {
    local p names n
    numbered "$LOG" 1 100
    d ship "$LOG" "$NATS_URL" --stream RD --subject rd --create-stream -q || fail "ship failed"
    "$BIN" restore "$NATS_URL" --stream RD --subject rd --follow "$D/restored" >"$OUT" 2>"$ERR" &
    p=$!
    BG+=("$p")
    wait_until 20 records_at_least "$D/restored" 100 || fail "the first 100 records were not restored"
    names=$(nats_api 1 '$JS.API.CONSUMER.NAMES.RD' | jq -r '.consumers[]?')
    [ -n "$names" ] || fail "no consumer of stream RD to delete"
    for n in $names; do
        js_ok "\$JS.API.CONSUMER.DELETE.RD.$n" || return
    done
    numbered "$LOG" 101 150
    d ship "$LOG" "$NATS_URL" --stream RD --subject rd -q || fail "the second ship failed"
    wait_until 40 records_at_least "$D/restored" 150 ||
        fail "records 101..150 were not restored within 40 s; its stderr: $(tail -n 3 "$ERR")"
    grep -q 'reading it again after message 100$' "$ERR" ||
        fail "the restore did not say it read the stream again; its stderr: $(tail -n 3 "$ERR")"
    kill -TERM "$p" 2>/dev/null
    wait_exit "$p" 15
    [ "$rc" -eq 0 ] || fail "restore --follow exited $rc on SIGTERM: $(tail -n 2 "$ERR")"
    d cat -o json "$LOG" >"$D/orig.json"
    d cat -o json "$D/restored" >"$D/rest.json"
    cmp -s "$D/orig.json" "$D/rest.json" || fail "the restored log differs from the original"
}

# publish_plain SUBJECT TEXT: one plain NATS message (no durlog header).
publish_plain() {
    nats_pub 1 "$1" "$2"
}

# Another client publishes into the stream while a shipper sends a window
# of messages, on its subject or on a sibling subject of the same stream.
# The foreign message takes the stream sequence the shipper predicted for
# one of its records: that record is refused, and the next one, whose
# condition names that sequence, used to be accepted - a gap in the stream
# behind an exit 0 saying every record is there. Now: either the stream
# restores to the log, or the shipper fails with one line.
foreign_publisher_never_leaves_a_silent_gap() {
    local k subj p j
    for k in 1 2 3; do
        seq -f "r$k-%g" 1 5000 | d append -d sync "$LOG" >/dev/null || fail "append failed"
    done
    js_ok '$JS.API.STREAM.CREATE.FP' '{"name":"FP","subjects":["fp.>"],"storage":"file"}' ||
        return
    for subj in fp.sibling fp.log; do
        rm -rf "$D/copy" "$D/restored"
        cp -a "$LOG" "$D/copy" # a log of its own identity for each subject
        rm -f "$D/copy/durlog.id" "$D/copy"/cursor.* "$D/copy"/ship.*
        "$BIN" ship "$D/copy" "$NATS_URL" --stream FP --subject "$subj" >"$OUT" 2>"$ERR" &
        p=$!
        BG+=("$p")
        wait_until 10 stream_at_least FP 100
        for j in 1 2 3 4 5; do
            publish_plain "${subj/sibling/other}" "foreign $j"
        done
        wait_exit "$p" 30
        [ "$rc" -eq 0 ] || continue # refused: said so (the stream is not restorable)
        d restore "$NATS_URL" --stream FP --subject "$subj" -q "$D/restored" 2>"$ERR" ||
            fail "$subj: the shipper said every record is there, but restore fails: $(tail -n 1 "$ERR")"
    done
}

# The server killed (kill -9) while a window of messages is on the wire,
# and started again at once, three times: what was in the dead server's
# socket is lost, and what nats.c buffered meanwhile arrives after the
# restart naming a predecessor the stream never stored ("wrong last msg
# ID", seconds before the lost messages time out). That refusal is a
# resync like any failed condition; it used to end the shipping (exit 1).
server_killed_mid_window_is_resynced() {
    local p target total=150000
    seq -f "k-%g" 1 "$total" | d append -d sync "$LOG" >/dev/null || fail "append failed"
    "$BIN" ship "$LOG" "$NATS_URL" --stream KW --subject kw --create-stream >"$OUT" 2>"$ERR" &
    p=$!
    BG+=("$p")
    for target in 20000 60000 100000; do
        wait_until 30 stream_at_least KW "$target" || break
        nats_kill9 1
        { nats_start 1 && nats_wait_ready 20; } || { fail "the server does not start again"; break; }
    done
    wait_exit "$p" 120
    [ "$rc" -eq 0 ] || fail "durlog ship exited $rc: $(tail -n 2 "$ERR")"
    [ "$(count KW)" = "$total" ] || fail "stream KW holds $(count KW) messages, the log $total"
    d restore "$NATS_URL" --stream KW --subject kw -q "$D/restored" 2>"$ERR" ||
        fail "restore failed: $(tail -n 1 "$ERR")"
    d cat "$LOG" >"$D/orig.txt"
    d cat "$D/restored" 2>/dev/null | cmp -s - "$D/orig.txt" || fail "the restored log differs"
}

if nats_single "$SCRATCH/nats" none && nats_wait_ready 20; then
    t purged_stream_under_follow_goes_on_with_new_records
    t stream_made_anew_under_follow_stops_clearly
    t tiny_timeout_never_crashes
    t restore_of_a_complete_log_is_done_at_once
    t sigint_mid_restore_then_continue
    t foreign_publisher_never_leaves_a_silent_gap
    t server_killed_mid_window_is_resynced
    t restore_outlives_its_consumer_deleted
else
    echo "not ok nats_server_starts"
    failed=$((failed + 1))
fi
nats_cleanup

[ "$failed" -eq 0 ]
