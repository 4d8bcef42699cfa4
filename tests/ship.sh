#!/usr/bin/env bash
# tests/ship.sh - functional tests of `durlog ship` and `durlog restore`
# (issue #20) against real nats-server JetStream servers on loopback, run
# by tests/run.sh from the repository root.
#
# Each test is a shell function named for the behaviour it proves, run by
# `t` (tests/lib/cli.sh). The tests come in groups, one single JetStream
# server per group (tests/lib/nats.sh: plain, password, token, TLS); each
# test uses streams and subjects of its own, so that they do not see each
# other's messages. The main check of exactly-once is a restore into a new
# log compared with the original (`durlog cat -o json`: seqs, times and
# data) plus the stream's message count: restore itself refuses a gap, a
# duplicate or a bad checksum, and an equal count means nothing was stored
# twice. Every wait is bounded; every process started is stopped on exit.
set -u
. tests/lib/cli.sh
. tests/lib/nats.sh
. tests/lib/ship.sh

ship_tests_need ship_tests

# ---- helpers ----------------------------------------------------------------

# server_up AUTH: a fresh single JetStream server for the next group of
# tests (the previous one stopped). Started from the script's own shell.
server_up() {
    nats_cleanup
    if nats_single "$SCRATCH/nats-${1/+/-}" "$1" && nats_wait_ready 20; then
        return 0
    fi
    echo "not ok nats_server_$1_starts"
    failed=$((failed + 1))
    return 1
}

# append_sync LOG LINE...: one `durlog append -d sync` run, one record a
# line (one batch, so the records share a time).
append_sync() {
    local log=$1
    shift
    printf '%s\n' "$@" | d append -d sync "$log" >/dev/null ||
        fail "append to $log failed"
}

expect_count() { # STREAM N
    local got
    got=$(count "$1")
    [ "$got" = "$2" ] || fail "stream $1 holds $got messages, expected $2"
}

# info_of LOG KEY: a `durlog info` value (the number of "durable seq" etc.).
info_of() {
    d info "$1" 2>/dev/null | sed -n "s/^$2: *\([^ ]*\).*/\1/p"
}

# expect_same_log ORIG RESTORED: same records (seq, time, data) and the
# same identity (durlog.id).
expect_same_log() {
    d cat -o json "$1" >"$D/orig.json" 2>"$D/orig.err" || fail "cat $1 failed"
    d cat -o json "$2" >"$D/rest.json" 2>"$D/rest.err" || fail "cat $2 failed"
    if ! cmp -s "$D/orig.json" "$D/rest.json"; then
        fail "records of $2 differ from those of $1:"
        diff "$D/orig.json" "$D/rest.json" | head -n 6 | sed 's/^/    | /' >>"$WHY"
    fi
    if ! cmp -s "$1/durlog.id" "$2/durlog.id"; then
        fail "durlog.id of $2 differs from that of $1"
    fi
}

# restore_ok STREAM SUBJECT NEWLOG: restores and expects success.
restore_ok() {
    run d restore "$NATS_URL" --stream "$1" --subject "$2" "$3"
    expect_status 0 "restore of $1"
}

# publish_foreign SUBJECT: one plain NATS message (no durlog header) on
# SUBJECT.
publish_foreign() {
    nats_pub 1 "$1" "not a record!"
}

# ---- plain server -----------------------------------------------------------

# Records of every kind survive the trip: empty, one byte, bytes that are
# not UTF-8 (and a NUL), 100 KiB; several appends (records of one append
# share a time). Same records, times and identity; one message a record.
round_trip_keeps_records_times_and_identity() {
    local big
    big=$(head -c 102400 /dev/zero | tr '\0' 'x')
    append_sync "$LOG" "" "1" "one line"
    printf '\xff\xfe\x80\x00bin\xc3\x28\n\x01\n' | d append -d sync "$LOG" >/dev/null ||
        fail "binary append failed"
    append_sync "$LOG" "$big" "" "after big"
    append_sync "$LOG" "last"
    local n
    n=$(info_of "$LOG" "next seq")
    [ "$n" = 9 ] || fail "the log has next seq $n, expected 9"
    run d ship "$LOG" "$NATS_URL" --stream RT --subject rt.log --create-stream
    expect_status 0 "ship"
    expect_stdout_has "^shipped 9 records"
    expect_count RT 9
    restore_ok RT rt.log "$D/restored"
    expect_stdout_has "^restored 9 records"
    expect_same_log "$LOG" "$D/restored"
    # The 100 KiB record came back whole (cat -o json could hide nothing,
    # but say it plainly).
    [ "$(d cat -n 1 --from 5 "$D/restored" | wc -c)" -eq 102401 ] ||
        fail "record 5 of the restored log is not 102400 bytes"
}

# A second ship with nothing new ships nothing; new records are shipped
# exactly once each.
shipping_again_ships_only_new_records() {
    numbered "$LOG" 1 10
    run d ship "$LOG" "$NATS_URL" --stream AG --subject ag --create-stream
    expect_status 0 "first ship"
    expect_count AG 10
    run d ship "$LOG" "$NATS_URL" --stream AG --subject ag
    expect_status 0 "second ship"
    expect_stdout_has "^shipped 0 records"
    expect_count AG 10
    numbered "$LOG" 11 15
    run d ship "$LOG" "$NATS_URL" --stream AG --subject ag
    expect_status 0 "third ship"
    expect_stdout_has "^shipped 5 records"
    expect_count AG 15
    [ "$(d cursor "$LOG" get ship-AG 2>&1)" = 15 ] ||
        fail "cursor ship-AG is '$(d cursor "$LOG" get ship-AG 2>&1)', expected 15"
    restore_ok AG ag "$D/restored"
    expect_same_log "$LOG" "$D/restored"
}

# Records a running writer put at kernel level are not shipped (they are
# not durable) until synced; --kernel ships them. The promise of
# ship/durlog_ship.h: a clean close by the last writer syncs, so once the
# writer exits they are durable and shipped.
only_durable_records_are_shipped() {
    mkfifo "$D/fifo" || { fail "mkfifo failed"; return; }
    "$BIN" append -d kernel "$LOG" <"$D/fifo" >/dev/null 2>"$D/writer.err" &
    local wpid=$!
    BG+=("$wpid")
    local fd
    exec {fd}>"$D/fifo"
    printf 'k1\nk2\nk3\n' >&"$fd"
    if ! wait_until 10 records_at_least "$LOG" 3; then
        fail "the writer's 3 records never became visible"
    fi
    [ "$(info_of "$LOG" "durable seq")" = 0 ] ||
        fail "durable seq is $(info_of "$LOG" "durable seq") while the writer has not synced, expected 0"
    run d ship "$LOG" "$NATS_URL" --stream DU --subject du --create-stream
    expect_status 0 "ship of a log with no durable record"
    expect_stdout_has "^shipped 0 records"
    expect_count DU 0
    run d ship "$LOG" "$NATS_URL" --stream DK --subject dk --create-stream --kernel
    expect_status 0 "ship --kernel"
    expect_stdout_has "^shipped 3 records"
    expect_count DK 3
    # The writer's clean exit (end of input) closes the log.
    exec {fd}>&-
    wait_exit "$wpid" 10
    [ "$rc" -eq 0 ] || fail "the writer exited $rc: $(head -c 300 "$D/writer.err")"
    local durable
    durable=$(info_of "$LOG" "durable seq")
    [ "$durable" = 3 ] ||
        fail "durable seq is $durable after the last writer closed the log, expected 3 (durlog_ship.h: a clean close by the last writer syncs)"
    run d ship "$LOG" "$NATS_URL" --stream DU --subject du
    expect_status 0 "ship after the writer closed"
    expect_count DU 3
}

# --follow ships records as they are appended; SIGTERM ends it with exit
# 0 and the cursor committed to what the stream holds.
follow_ships_as_appended_and_stops_on_sigterm() {
    numbered "$LOG" 1 5
    "$BIN" ship "$LOG" "$NATS_URL" --stream FO --subject fo --create-stream --follow \
        >"$D/follow.out" 2>"$D/follow.err" &
    local pid=$!
    BG+=("$pid")
    wait_until 20 stream_at_least FO 5 || fail "the first 5 records never reached the stream"
    numbered "$LOG" 6 8
    wait_until 20 stream_at_least FO 8 || fail "records 6..8 never reached the stream"
    numbered "$LOG" 9 20
    wait_until 20 stream_at_least FO 20 || fail "records 9..20 never reached the stream"
    kill -TERM "$pid"
    wait_exit "$pid" 15
    [ "$rc" -eq 0 ] || fail "ship --follow exited $rc on SIGTERM: $(tail -n 2 "$D/follow.err")"
    grep -q '^shipped 20 records' "$D/follow.out" ||
        fail "summary: $(cat "$D/follow.out")"
    expect_count FO 20
    [ "$(d cursor "$LOG" get ship-FO 2>&1)" = 20 ] ||
        fail "cursor ship-FO is '$(d cursor "$LOG" get ship-FO 2>&1)' after SIGTERM, expected 20"
    restore_ok FO fo "$D/restored"
    expect_same_log "$LOG" "$D/restored"
}

# The stream gone from the servers for a while under a following shipper
# (here the server restarted on an empty store, as when its volume is not
# mounted yet; a JetStream cluster restarted as a whole has answered
# "stream not found" for a while too, in tests/ship_chaos.sh): the shipper
# waits, says so, and makes no stream though --create-stream was given (an
# empty new one would stand beside the real one when that comes back);
# once the server has its store again, it goes on where the stream ends,
# each record once.
stream_gone_for_a_while_is_waited_for_never_made_anew() {
    local store pid
    numbered "$LOG" 1 30
    "$BIN" ship "$LOG" "$NATS_URL" --stream GW --subject gw --create-stream --follow \
        >"$D/ship.out" 2>"$D/ship.err" &
    pid=$!
    BG+=("$pid")
    wait_until 20 stream_at_least GW 30 || fail "the first 30 records never reached the stream"
    store=$(nats_store 1)
    nats_stop 1
    mv "$store" "$store.away"
    { nats_start 1 && nats_wait_ready 20; } || fail "the server does not start on an empty store"
    numbered "$LOG" 31 40
    wait_until 30 grep -q 'waiting for it to come back' "$D/ship.err" ||
        fail "the shipper did not say it waits for the stream"
    kill -0 "$pid" 2>/dev/null || fail "the shipper exited while the stream was missing"
    [ "$(count GW)" = none ] ||
        fail "stream GW was made anew on the empty store ($(count GW) messages)"
    nats_stop 1
    rm -rf "$store"
    mv "$store.away" "$store"
    { nats_start 1 && nats_wait_ready 20; } || fail "the server does not start on its store again"
    numbered "$LOG" 41 50
    wait_until 30 stream_at_least GW 50 || fail "records 31..50 never reached the stream"
    kill -TERM "$pid" 2>/dev/null
    wait_exit "$pid" 15
    [ "$rc" -eq 0 ] || fail "ship --follow exited $rc on SIGTERM"
    expect_count GW 50
    restore_ok GW gw "$D/restored"
    expect_same_log "$LOG" "$D/restored"
    if [ -s "$WHY" ]; then
        echo "the shipper's stderr ends:" >>"$WHY"
        tail -n 6 "$D/ship.err" | sed 's/^/    | /' >>"$WHY"
    fi
}

# While one shipper runs, a second one of the same log (same cursor) is
# refused at once, naming the first.
second_shipper_of_a_log_is_refused() {
    numbered "$LOG" 1 3
    "$BIN" ship "$LOG" "$NATS_URL" --stream TW --subject tw --create-stream --follow \
        >"$D/follow.out" 2>"$D/follow.err" &
    local pid=$!
    BG+=("$pid")
    wait_until 20 stream_at_least TW 3 || fail "the first shipper shipped nothing"
    run d ship "$LOG" "$NATS_URL" --stream TW --subject tw
    expect_status 1 "second shipper"
    expect_one_error_line ship
    expect_stderr_has "another session is shipping"
    expect_stderr_has "pid $pid "
    kill -TERM "$pid"
    wait_exit "$pid" 15
    [ "$rc" -eq 0 ] || fail "the first shipper exited $rc"
    expect_count TW 3
}

# A subject holds one log: another log's shipper is refused, and so is a
# subject holding messages that are not durlog records.
subject_of_another_log_is_refused() {
    numbered "$LOG" 1 3
    numbered "$D/other" 1 3 other
    run d ship "$LOG" "$NATS_URL" --stream SU --subject su.a --create-stream
    expect_status 0 "first log"
    run d ship "$D/other" "$NATS_URL" --stream SU --subject su.a
    expect_status 1 "another log on the subject"
    expect_one_error_line ship
    expect_stderr_has "another log"
    expect_count SU 3
    # A foreign message on a subject of its own (the stream takes only
    # su.a, so make a stream for the foreign subject first).
    run d ship "$D/other" "$NATS_URL" --stream SF --subject sf.x --create-stream --from 3
    expect_status 0 "stream SF made (nothing to ship from 3)"
    publish_foreign sf.x || fail "could not publish a plain message on sf.x"
    expect_count SF 1
    run d ship "$D/other" "$NATS_URL" --stream SF --subject sf.x
    expect_status 1 "a subject with a foreign message"
    expect_one_error_line ship
    expect_stderr_has "not a durlog"
    expect_count SF 1
}

# Records removed from the log (trim) before they were shipped: the ship
# fails saying so, rather than leaving a silent gap.
trimmed_unshipped_records_fail_the_ship() {
    local pad
    pad=$(head -c 400 /dev/zero | tr '\0' 'p')
    seq -f "a%g-$pad" 1 20 | d append -d sync --segment-size 4096 "$LOG" >/dev/null
    run d ship "$LOG" "$NATS_URL" --stream TR --subject tr --create-stream
    expect_status 0 "first ship"
    expect_count TR 20
    run d cursor "$LOG" delete ship-TR
    expect_status 0 "cursor delete"
    seq -f "b%g-$pad" 1 40 | d append -d sync --segment-size 4096 "$LOG" >/dev/null
    run d trim --before 55 "$LOG"
    expect_status 0 "trim"
    local first
    first=$(info_of "$LOG" "first seq")
    if ! [ "${first:-0}" -gt 20 ] 2>/dev/null; then
        fail "trim left first seq $first: the test needs it past 20"
        return
    fi
    run d ship "$LOG" "$NATS_URL" --stream TR --subject tr
    expect_status 1 "ship after a trim past unshipped records"
    expect_one_error_line ship
    expect_stderr_has "never shipped"
    expect_count TR 20
}

# With the shipping cursor in place, retention keeps what was not shipped
# yet (and removes what was).
retention_keeps_unshipped_records() {
    local pad
    pad=$(head -c 400 /dev/zero | tr '\0' 'p')
    seq -f "a%g-$pad" 1 20 | d append -d sync --segment-size 4096 "$LOG" >/dev/null
    run d ship "$LOG" "$NATS_URL" --stream RE --subject re --create-stream
    expect_status 0 "first ship"
    run d retention --max-size 8K "$LOG"
    expect_status 0 "retention"
    # Several appends: writers apply retention after each segment roll.
    local i
    for i in 1 2 3 4; do
        seq -f "b$i-%g-$pad" 1 20 | d append -d sync --segment-size 4096 "$LOG" >/dev/null
    done
    local first
    first=$(info_of "$LOG" "first seq")
    [ "${first:-99}" -le 20 ] 2>/dev/null ||
        fail "retention removed records the shipper had not shipped: first seq $first > 20"
    [ "${first:-0}" -gt 0 ] 2>/dev/null ||
        fail "retention removed nothing (first seq $first): the test proves nothing"
    run d ship "$LOG" "$NATS_URL" --stream RE --subject re
    expect_status 0 "ship of the rest"
    expect_count RE 100
}

# Restore refuses a log holding other records, and a missing stream; a
# stream that does not take the subject is an error; a subject with no
# message restores nothing (exit 0, said).
restore_refusals() {
    numbered "$D/shipped" 1 4
    run d ship "$D/shipped" "$NATS_URL" --stream RF --subject rf --create-stream
    expect_status 0 "ship"
    numbered "$LOG" 1 2 mine
    run d restore "$NATS_URL" --stream RF --subject rf "$LOG"
    expect_status 1 "restore into a log with other records"
    expect_one_error_line restore
    [ "$(info_of "$LOG" "next seq")" = 2 ] || fail "the refused restore changed the log"
    run d restore "$NATS_URL" --stream NOSUCH --subject rf "$D/new1"
    expect_status 1 "missing stream"
    expect_one_error_line restore
    expect_stderr_has "no stream NOSUCH"
    expect_stderr_has "nothing to restore from"
    ! grep -q -- "--create-stream" "$ERR" || fail "restore's missing-stream message offers --create-stream, an option of ship"
    run d restore "$NATS_URL" --stream RF --subject rf.other "$D/new2"
    expect_status 1 "a subject the stream does not take"
    expect_one_error_line restore
    expect_stderr_has "does not take subject"
    # A stream made by shipping an empty log: nothing on its subject.
    d append "$D/empty" </dev/null || fail "cannot make an empty log"
    run d ship "$D/empty" "$NATS_URL" --stream RM --subject rm --create-stream
    expect_status 0 "ship of an empty log"
    run d restore "$NATS_URL" --stream RM --subject rm "$D/new3"
    expect_status 0 "restore of an empty subject"
    expect_stderr_has "nothing to restore"
    [ "$(info_of "$D/new3" "next seq")" = 0 ] || fail "restoring nothing made records"
}

# A restore killed mid-way (kill -9) is continued by the next one: the
# result is the whole log, once.
restore_continues_after_kill9() {
    local n=200000
    seq -f 'record-%09g-padding-padding-padding-padding-padding-padding-padding' "$n" |
        d append -d interval "$LOG" >/dev/null
    run d ship "$LOG" "$NATS_URL" --stream BG --subject bg --create-stream -q
    expect_status 0 "ship"
    expect_count BG "$n"
    "$BIN" restore "$NATS_URL" --stream BG --subject bg "$D/restored" >/dev/null 2>"$D/r1.err" &
    local pid=$! got=0 deadline=$((SECONDS + 30))
    BG+=("$pid")
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
        got=$(info_of "$D/restored" "next seq")
        [ "${got:-0}" -gt 0 ] 2>/dev/null && break
        sleep 0.02
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    got=$(info_of "$D/restored" "next seq")
    if ! [ "${got:-0}" -gt 0 ] 2>/dev/null || ! [ "$got" -lt "$n" ]; then
        fail "the restore was killed at next seq '$got', not mid-way: the continuation is untested"
    fi
    restore_ok BG bg "$D/restored"
    expect_same_log "$LOG" "$D/restored"
    [ "$(info_of "$D/restored" "next seq")" = "$n" ] || fail "restored next seq is not $n"
}

# SIGINT stops a restore with messages still arriving: exit 0, a log holding
# a prefix, and no crash (nats.c delivered messages to the freed
# subscription: 1 run in 3 crashed), five times at different moments.
restore_interrupted_with_messages_in_flight_stops_cleanly() {
    local n=200000 i pid rc
    seq -f 'record-%09g-padding-padding-padding-padding-padding-padding-padding' "$n" |
        d append -d interval "$LOG" >/dev/null
    run d ship "$LOG" "$NATS_URL" --stream RI --subject ri --create-stream -q
    expect_status 0 "ship"
    for i in 1 2 3 4 5; do
        rm -rf "$D/r$i"
        "$BIN" restore -q "$NATS_URL" --stream RI --subject ri "$D/r$i" 2>"$D/ri$i.err" &
        pid=$!
        BG+=("$pid")
        sleep "0.$i"
        kill -INT "$pid" 2>/dev/null
        wait "$pid"
        rc=$?
        [ "$rc" -eq 0 ] || fail "restore $i interrupted: exit $rc ($(cat "$D/ri$i.err"))"
    done
    restore_ok RI ri "$D/r5"
    expect_same_log "$LOG" "$D/r5"
}

# A restore that finished is continued by the next one once more records
# were shipped (the log closed and opened again in between).
restore_continues_a_finished_restore() {
    numbered "$LOG" 1 5
    run d ship "$LOG" "$NATS_URL" --stream RC --subject rc --create-stream
    expect_status 0 "first ship"
    restore_ok RC rc "$D/restored"
    numbered "$LOG" 6 8
    run d ship "$LOG" "$NATS_URL" --stream RC --subject rc
    expect_status 0 "second ship"
    restore_ok RC rc "$D/restored"
    expect_stdout_has "^restored 3 records"
    expect_same_log "$LOG" "$D/restored"
}

# A copy of the log (same identity) that went its own way cannot ship into
# the stream its original ships to.
copied_log_that_diverged_is_refused() {
    numbered "$LOG" 1 5
    run d ship "$LOG" "$NATS_URL" --stream CP --subject cp --create-stream
    expect_status 0 "ship of the original"
    cp -a "$LOG" "$D/copy" || fail "cp failed"
    numbered "$LOG" 6 8 orig
    numbered "$D/copy" 6 8 copy
    run d ship "$LOG" "$NATS_URL" --stream CP --subject cp
    expect_status 0 "ship of the original's new records"
    expect_count CP 8
    run d ship "$D/copy" "$NATS_URL" --stream CP --subject cp
    expect_status 1 "ship of the diverged copy"
    expect_one_error_line ship
    expect_stderr_has "differs"
    expect_count CP 8
}

# Bad command lines are usage errors (exit 2) and touch nothing.
bad_arguments_are_usage_errors() {
    mkdir -p "$LOG"
    local u=nats://127.0.0.1:1
    run d ship "$LOG" "$u" --subject x
    expect_usage_error
    run d ship "$LOG" "$u" --stream S --subject x --create-stream --replicas 9
    expect_usage_error
    run d ship "$LOG" "$u" --stream S --subject x --window 0
    expect_usage_error
    run d ship "$LOG" "$u" extra --stream S --subject x
    expect_usage_error
    run d ship "$LOG" --stream S --subject x
    expect_usage_error
    run d restore "$u" --stream S --subject x --kernel "$D/new"
    expect_usage_error
    run d restore "$u" --stream S --subject x "$D/new" extra
    expect_usage_error
    [ ! -e "$D/new" ] || fail "a refused restore made $D/new"
}

# A stream name or subject NATS cannot take is a mistake on the command
# line: exit 2 (usage), like every other bad argument.
bad_stream_or_subject_name_is_a_usage_error() {
    mkdir -p "$LOG"
    local u=nats://127.0.0.1:1
    run d ship "$LOG" "$u" --stream "bad.name" --subject x
    expect_status 2 "a stream name with a dot"
    expect_stderr_has "bad stream name"
    run d ship "$LOG" "$u" --stream "bad name" --subject x
    expect_status 2 "a stream name with a space"
    run d ship "$LOG" "$u" --stream S --subject "a..b"
    expect_status 2 "a bad subject"
    expect_stderr_has "bad subject"
    run d restore "$u" --stream S --subject "a.*" "$D/new"
    expect_status 2 "restore: a wildcard subject"
}

# ---- credentials and TLS -----------------------------------------------------

password_credentials_from_environment() {
    numbered "$LOG" 1 3
    run env DURLOG_NATS_USER="$NATS_USER" DURLOG_NATS_PASSWORD="$NATS_PASSWORD" \
        "$BIN" ship "$LOG" "$NATS_URL" --stream PW --subject pw --create-stream
    expect_status 0 "right password"
    expect_count PW 3
    run env DURLOG_NATS_USER="$NATS_USER" DURLOG_NATS_PASSWORD=wrong \
        timeout 30 "$BIN" ship "$LOG" "$NATS_URL" --stream PW --subject pw
    expect_status 1 "wrong password"
    expect_one_error_line ship
    expect_stderr_has_i "authoriz"
    run timeout 30 "$BIN" ship "$LOG" "$NATS_URL" --stream PW --subject pw
    expect_status 1 "no credentials"
    expect_one_error_line ship
    local hp=${NATS_URL#nats://}
    run env DURLOG_NATS_USER="$NATS_USER" DURLOG_NATS_PASSWORD="$NATS_PASSWORD" \
        timeout 30 "$BIN" ship "$LOG" "nats://$NATS_USER:$NATS_PASSWORD@$hp" --stream PW --subject pw
    expect_usage_error
    expect_stderr_lacks "$NATS_PASSWORD"
    run env DURLOG_NATS_USER="$NATS_USER" DURLOG_NATS_PASSWORD="$NATS_PASSWORD" \
        timeout 30 "$BIN" ship "$LOG" "$NATS_URL" --stream PW --subject pw --creds "$D/no-such.creds"
    expect_status 1 "a --creds file that does not exist"
    expect_one_error_line ship
    run env DURLOG_NATS_USER="$NATS_USER" DURLOG_NATS_PASSWORD="$NATS_PASSWORD" \
        "$BIN" restore "$NATS_URL" --stream PW --subject pw "$D/restored"
    expect_status 0 "restore with the password"
    expect_same_log "$LOG" "$D/restored"
}

token_credentials_from_environment() {
    numbered "$LOG" 1 3
    run env DURLOG_NATS_TOKEN="$NATS_TOKEN" \
        timeout 30 "$BIN" ship "$LOG" "$NATS_URL" --stream TK --subject tk --create-stream
    expect_status 0 "right token"
    expect_count TK 3
    run env DURLOG_NATS_TOKEN=wrong timeout 30 "$BIN" ship "$LOG" "$NATS_URL" --stream TK --subject tk
    expect_status 1 "wrong token"
    expect_one_error_line ship
    run env DURLOG_NATS_TOKEN="$NATS_TOKEN" DURLOG_NATS_USER=u DURLOG_NATS_PASSWORD=p \
        timeout 30 "$BIN" ship "$LOG" "$NATS_URL" --stream TK --subject tk
    expect_status 1 "a token and a password"
    expect_one_error_line ship
}

# An unreachable server: exit 1 at once without --follow; with --follow,
# said once, then shipping when the server comes (same port).
unreachable_server() {
    numbered "$LOG" 1 4
    local url=$NATS_URL
    nats_stop 1 || { fail "cannot stop the server"; return; }
    local t0=$SECONDS
    run env DURLOG_NATS_TOKEN="$NATS_TOKEN" timeout 30 "$BIN" ship "$LOG" "$url" \
        --stream UR --subject ur --create-stream
    expect_status 1 "unreachable without --follow"
    expect_one_error_line ship
    [ $((SECONDS - t0)) -le 6 ] || fail "took $((SECONDS - t0)) s to give up, expected a few"
    DURLOG_NATS_TOKEN="$NATS_TOKEN" "$BIN" ship "$LOG" "$url" --stream UR --subject ur \
        --create-stream --follow >"$D/follow.out" 2>"$D/follow.err" &
    local pid=$!
    BG+=("$pid")
    sleep 3 # the length of time over which lines are counted, not a wait for an event
    kill -0 "$pid" 2>/dev/null || fail "ship --follow gave up while the server was down"
    local lines
    lines=$(wc -l <"$D/follow.err")
    [ "$lines" -eq 1 ] || {
        fail "ship --follow said $lines lines in 3 s with the server down, expected 1:"
        show "$D/follow.err" >>"$WHY"
    }
    nats_start 1 && nats_wait_ready 20 || { fail "cannot start the server again"; }
    wait_until 30 stream_at_least UR 4 || fail "the records never reached the stream once the server was up"
    kill -TERM "$pid"
    wait_exit "$pid" 15
    [ "$rc" -eq 0 ] || fail "ship --follow exited $rc on SIGTERM"
    expect_count UR 4
}

tls_with_ca() {
    numbered "$LOG" 1 3
    run d ship "$LOG" "$NATS_URL" --stream TL --subject tl --create-stream --ca "$NATS_CA"
    expect_status 0 "TLS with --ca"
    expect_count TL 3
    run d ship "$LOG" "$NATS_URL" --stream TL --subject tl
    expect_status 1 "TLS server without --ca"
    expect_one_error_line ship
    run d restore "$NATS_URL" --stream TL --subject tl --ca "$NATS_CA" "$D/restored"
    expect_status 0 "restore over TLS"
    expect_same_log "$LOG" "$D/restored"
}

# ---- the groups -------------------------------------------------------------

if server_up none; then
    t round_trip_keeps_records_times_and_identity
    t shipping_again_ships_only_new_records
    t only_durable_records_are_shipped
    t follow_ships_as_appended_and_stops_on_sigterm
    t second_shipper_of_a_log_is_refused
    t subject_of_another_log_is_refused
    t trimmed_unshipped_records_fail_the_ship
    t retention_keeps_unshipped_records
    t restore_refusals
    t restore_continues_a_finished_restore
    t restore_continues_after_kill9
    t restore_interrupted_with_messages_in_flight_stops_cleanly
    t copied_log_that_diverged_is_refused
    t stream_gone_for_a_while_is_waited_for_never_made_anew
fi
t bad_arguments_are_usage_errors
t bad_stream_or_subject_name_is_a_usage_error
if server_up password; then
    t password_credentials_from_environment
fi
if server_up token; then
    t token_credentials_from_environment
    t unreachable_server
fi
if server_up tls; then
    t tls_with_ca
fi
nats_cleanup

[ "$failed" -eq 0 ]
