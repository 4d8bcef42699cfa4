#!/usr/bin/env bash
# tests/trust.sh - issue #14 "Nothing lost or hidden silently" and issue
# #15 "No signal": the cases that go through the `durlog` command
# (tests/test_trust.c and tests/test_signals.c have the C API ones). Run by
# tests/run.sh from the repository root.
#
# Same conventions as tests/cli.sh (helpers in tests/lib/cli.sh): each test
# is a shell function named for the behaviour it proves, run by `t`,
# asserting with expect_*. Several tests need a log of several 64 MiB
# segments (the command has no segment-size option): one is built once, from
# 5,000,000 records "r-0" .. "r-4999999", and copied for each test that
# needs it.
# Some run `durlog` as user nobody (the suite runs as root).
set -u

T_REMOVE=1 # the logs are large: each test's directory goes when it is done
. tests/lib/cli.sh
chmod 755 "$SCRATCH" # user nobody reads logs in here (never world-writable)

cleanup() {
    local d
    exec 7>&- 2>/dev/null
    for d in "$SCRATCH"/*/; do : >"$d/stop" 2>/dev/null; done
    wait
    remove_scratch
}
trap cleanup EXIT

RECORDS=5000000 # records of the shared multi-segment log

# ---- helpers ----------------------------------------------------------------

# offset_of FILE TEXT: byte offset of the first TEXT in FILE (empty if none).
offset_of() {
    grep -boa -F -e "$2" "$1" | head -1 | cut -d: -f1
}

# The sequence number a segment file is named after.
first_of() {
    local b
    b=$(basename "$1" .seg)
    echo $((10#$b))
}

as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# expect_records N: stdout is exactly records r-0 .. r-(N-1) of the shared log.
expect_records() {
    local n
    n=$(wc -l <"$OUT")
    if [ "$n" -ne "$1" ]; then
        fail "printed $n records, expected exactly the $1 before the problem (last: $(tail -c 40 "$OUT" | tail -1))"
    elif [ "$1" -gt 0 ] && ! seq -f 'r-%.0f' 0 $(($1 - 1)) | cmp -s - "$OUT"; then
        fail "printed $n records, but not r-0 .. r-$(($1 - 1)) in order"
    fi
}

# expect_prefix_records MAX: stdout is r-0 .. r-(k-1) for some k <= MAX.
expect_prefix_records() {
    local n
    n=$(wc -l <"$OUT")
    if [ "$n" -gt "$1" ]; then
        fail "printed $n records, expected at most $1"
    elif [ "$n" -gt 0 ] && { [ "$(head -1 "$OUT")" != r-0 ] ||
                             [ "$(tail -1 "$OUT")" != "r-$((n - 1))" ]; }; then
        fail "printed $n records that are not r-0 .. r-$((n - 1))"
    fi
}

# The shared log of several segments, built once.
BIG="$SCRATCH/big"
big_log() {
    [ -d "$BIG" ] && return 0
    if ! seq -f 'r-%.0f' 0 $((RECORDS - 1)) | "$BIN" append "$BIG"; then
        rm -rf "$BIG"
        return 1
    fi
}

# copy_big DEST [noshm]: a copy of the shared log (without durlog.shm if
# asked); its segment files, in order, in SEG[@].
copy_big() {
    big_log || { fail "cannot build the multi-segment log"; return 1; }
    cp -r "$BIG" "$1" || { fail "cannot copy the multi-segment log"; return 1; }
    [ "${2:-}" = noshm ] && rm -f "$1/durlog.shm"
    SEG=("$1"/*.seg)
    [ "${#SEG[@]}" -ge 3 ] || { fail "the log has ${#SEG[@]} segments, expected 3 or more"; return 1; }
}

# ---- 1. one damaged byte in an old segment ----------------------------------

# One byte of record 1,000,000 (in the first of four segments) damaged, the
# coordination file gone as after a reboot, then an append: every segment
# file is still there and the middle ones are untouched, `durlog cat` prints
# the 1,000,000 records before the damage and fails naming the segment, and
# `durlog check` reports the damage.
one_damaged_byte_in_an_old_segment_deletes_nothing() {
    copy_big "$LOG" || return
    local seg0=${SEG[0]} off names sums
    off=$(offset_of "$seg0" r-1000000)
    [ -n "$off" ] || { fail "r-1000000 not found in $seg0"; return; }
    overwrite "$seg0" $((off + 4)) X # r-10X0000
    rm -f "$LOG/durlog.shm"
    names=$(cd "$LOG" && ls ./*.seg)
    sums=$(md5sum "${SEG[@]:1:${#SEG[@]}-2}")

    run "$BIN" append "$LOG" X
    if [ "$rc" -ne 0 ]; then
        expect_status 1 "append after the damage: succeeds, or refuses"
        expect_stderr_has "durlog check"
    fi
    local s
    for s in $names; do
        [ -e "$LOG/$s" ] || fail "segment ${s#./} disappeared"
    done
    [ "$(md5sum "${SEG[@]:1:${#SEG[@]}-2}" 2>&1)" = "$sums" ] ||
        fail "a middle segment changed"

    run "$BIN" cat "$LOG"
    expect_status 1 "cat stops at the damage"
    expect_stderr_has "$(basename "$seg0")"
    expect_stderr_has "damaged"
    expect_records 1000000

    run "$BIN" check "$LOG"
    expect_status 1 "check of the damaged log"
    grep -q "$(basename "$seg0")" "$OUT" "$ERR" ||
        { fail "check does not name $(basename "$seg0"):"; show "$OUT" >>"$WHY"; }
}

# ---- 2. a stale coordination file -------------------------------------------

# 100 records, a copy of durlog.shm, 100 more, the copy put back: cat shows
# all 200, info says the next seq is 200, tail shows 196..200.
commands_ignore_a_stale_coordination_file_put_back() {
    seq 1 100 | "$BIN" append -d sync "$LOG" || fail "first append failed"
    cp "$LOG/durlog.shm" "$D/old.shm"
    seq 101 200 | "$BIN" append -d sync "$LOG" || fail "second append failed"
    cp "$D/old.shm" "$LOG/durlog.shm"
    run "$BIN" cat "$LOG"
    expect_status 0 "cat"
    seq 1 200 | cmp -s - "$OUT" || fail "cat printed $(wc -l <"$OUT") records, expected 1..200"
    run "$BIN" info "$LOG"
    expect_status 0 "info"
    [ "$(info_value 'next seq')" = 200 ] || fail "info: next seq $(info_value 'next seq'), expected 200"
    run "$BIN" tail -n 5 "$LOG"
    expect_status 0 "tail"
    expect_stdout $'196\n197\n198\n199\n200'
}

# ---- 3. readers never stop silently at a segment ----------------------------

# Removes the second segment of the copy in $LOG; cat must print the records
# before the gap, then fail saying records are missing.
cat_without_the_second_segment() {
    local first
    first=$(first_of "${SEG[1]}")
    rm -f "${SEG[1]}"
    run "$BIN" cat "$LOG"
    expect_status 1 "cat of a log with a gap"
    expect_stderr_has_i "missing"
    expect_stderr_lacks "damaged record at byte offset"
    expect_records "$first"
}

# A copy of a log without its durlog.shm, one middle segment removed: cat
# prints the records before the gap, then fails saying records are missing
# (not that the segment before is damaged).
cat_of_a_copy_missing_a_middle_segment_fails_naming_the_missing_records() {
    copy_big "$LOG" noshm || return
    cat_without_the_second_segment
}

# The same copy with a middle segment user nobody may not read (the rest of
# the log readable): cat as nobody fails with "Permission denied" and the
# segment's name.
cat_of_a_copy_with_an_unreadable_middle_segment_fails_with_permission_denied() {
    copy_big "$LOG" noshm || return
    chmod 000 "${SEG[1]}"
    run as_nobody "$BIN" cat "$LOG"
    expect_status 1 "cat as nobody"
    expect_stderr_has "Permission denied"
    expect_stderr_has "$(basename "${SEG[1]}")"
    expect_prefix_records "$(first_of "${SEG[1]}")"
}

# cat_short_of_descriptors: runs cat under `ulimit -n` values from 4 to 10
# (today's reader gets past the first segment from 5 or 6 on).
# For each, cat either reads the whole log (status 0) or fails (status 1)
# saying "Too many open files", having printed a prefix of the log: never
# status 0 with records missing, never a claim of damage.
cat_short_of_descriptors() {
    local n last
    for n in 4 5 6 7 8 9 10; do
        (ulimit -n "$n" && exec "$BIN" cat "$LOG") >"$OUT" 2>"$ERR"
        rc=$?
        if [ "$rc" -eq 0 ]; then
            last=$(tail -1 "$OUT")
            [ "$(wc -l <"$OUT")" -eq "$RECORDS" ] && [ "$last" = "r-$((RECORDS - 1))" ] ||
                fail "ulimit -n $n: status 0 after $(wc -l <"$OUT") of $RECORDS records (last '$last')"
        elif [ "$rc" -ne 1 ] || ! grep -q "Too many open files" "$ERR" ||
             grep -qiE 'checksum|damaged' "$ERR"; then
            fail "ulimit -n $n: status $rc after $(wc -l <"$OUT") records; expected 1 and" \
                 "\"Too many open files\" without \"checksum\" or \"damaged\"; stderr:"
            show "$ERR" >>"$WHY"
        else
            expect_prefix_records "$RECORDS"
        fi
    done
}

cat_of_a_copy_short_of_file_descriptors_fails_with_too_many_open_files() {
    copy_big "$LOG" noshm || return
    cat_short_of_descriptors
}

# The same copy, one byte flipped in the last record of the first segment:
# cat prints the records before it and fails saying it is damaged.
cat_of_a_copy_with_a_damaged_last_record_in_a_middle_segment_fails() {
    copy_big "$LOG" noshm || return
    local last off
    last=$(($(first_of "${SEG[1]}") - 1))
    off=$(offset_of "${SEG[0]}" "r-$last")
    [ -n "$off" ] || { fail "r-$last not found in ${SEG[0]}"; return; }
    overwrite "${SEG[0]}" $((off + 3)) X
    run "$BIN" cat "$LOG"
    expect_status 1 "cat of a damaged copy"
    expect_stderr_has "damaged"
    expect_records "$last"
}

# The log itself (with its durlog.shm), a middle segment nobody may not read:
# the message is "Permission denied", not a false report of damage.
cat_of_a_log_with_an_unreadable_segment_reports_permission_denied_not_damage() {
    copy_big "$LOG" || return
    chmod 000 "${SEG[1]}"
    run as_nobody "$BIN" cat "$LOG"
    expect_status 1 "cat as nobody"
    expect_stderr_has "Permission denied"
    expect_stderr_has "$(basename "${SEG[1]}")"
    expect_stderr_lacks "checksum"
    expect_stderr_lacks "damaged"
    expect_prefix_records "$(first_of "${SEG[1]}")"
}

# The log with its durlog.shm, short of descriptors: "Too many open files",
# not a false report of damage.
cat_of_a_log_short_of_file_descriptors_reports_it_not_damage() {
    copy_big "$LOG" || return
    cat_short_of_descriptors
}

# ---- 4. the coordination file removed under running writers ----------------

# fed_writer NAME: starts `durlog append $LOG` in the background ($fed_pid),
# fed through descriptor 7 from the fifo $D/NAME.in; its stderr in
# $D/NAME.err.
fed_writer() {
    mkfifo "$D/$1.in"
    "$BIN" append "$LOG" <"$D/$1.in" >/dev/null 2>"$D/$1.err" &
    fed_pid=$!
    exec 7>"$D/$1.in"
}

# feed PREFIX FROM TO: feeds records PREFIX-FROM .. PREFIX-TO to the fed
# writer and waits (10 s at most) until the last is in the log (whose first
# record is PREFIX-1).
feed() {
    local i
    (trap '' PIPE; seq -f "$1-%.0f" "$2" "$3" >&7) 2>/dev/null
    for i in $(seq 200); do
        [ "$("$BIN" cat --from $(($3 - 1)) -n 1 "$LOG" 2>/dev/null)" = "$1-$3" ] && return
        sleep 0.05
    done
}

# Writer A (fed through a fifo, so it is still running) has appended
# 1,000,000 records when durlog.shm is removed; writer B then appends
# 300,000; then A appends 2,000,000 more. Every record of a writer that
# exited 0 is in the log, in order, and the log checks clean; B either
# succeeded or failed naming the coordination file.
removing_the_coordination_file_under_a_running_writer_loses_no_record() {
    fed_writer a
    local apid=$fed_pid bpid brc arc i counts
    feed A 1 1000000
    rm -f "$LOG/durlog.shm"
    seq -f 'B-%.0f' 1 300000 | "$BIN" append "$LOG" >/dev/null 2>"$D/b.err" &
    bpid=$!
    for i in $(seq 200); do # B done, or blocked: go on either way
        kill -0 "$bpid" 2>/dev/null || break
        sleep 0.05
    done
    (trap '' PIPE; seq -f 'A-%.0f' 1000001 3000000 >&7) 2>/dev/null
    exec 7>&-
    wait "$apid"
    arc=$?
    wait "$bpid"
    brc=$?

    [ "$arc" -eq 0 ] || { fail "writer A exited $arc:"; show "$D/a.err" >>"$WHY"; }
    if [ "$brc" -ne 0 ]; then
        [ "$brc" -eq 1 ] || fail "writer B exited $brc"
        grep -qiE 'durlog\.shm|coordination file' "$D/b.err" ||
            { fail "writer B failed without naming the coordination file:"; show "$D/b.err" >>"$WHY"; }
    fi
    run "$BIN" cat "$LOG"
    expect_status 0 "cat"
    counts=$(awk '
        /^A-/ { n = substr($0, 3) + 0; if (n != a + 1) bad++; a = n; na++; next }
        /^B-/ { n = substr($0, 3) + 0; if (n != b + 1) bad++; b = n; nb++; next }
        { other++ }
        END { printf "%d %d %d %d", na, nb, bad, other }' "$OUT")
    set -- $counts
    [ "$1" -eq 3000000 ] || fail "$1 of writer A's 3000000 records in the log"
    [ "$brc" -ne 0 ] || [ "$2" -eq 300000 ] || fail "$2 of writer B's 300000 records in the log (B exited 0)"
    [ "$3" -eq 0 ] || fail "$3 records out of order or repeated"
    [ "$4" -eq 0 ] || fail "$4 records that no writer appended"
    run "$BIN" check "$LOG"
    expect_status 0 "check after both writers"
}

# A snapshot of the log's segment and side files (names, sizes, contents).
snapshot() {
    (cd "$LOG" && for f in *.seg*; do [ -e "$f" ] && printf '%s %s\n' "$f" "$(md5sum <"$f")"; done)
}

# durlog.shm removed while a writer (fed through a fifo kept open) has the
# log open, and damage in it: `check --repair --force` refuses, saying a
# writer has the log open, and changes no file.
check_repair_force_without_the_coordination_file_refuses_while_a_writer_has_the_log_open() {
    fed_writer w
    local wpid=$fed_pid i off before now
    feed w 1 1000
    off=$(offset_of "$LOG/00000000000000000000.seg" w-500)
    [ -n "$off" ] && overwrite "$LOG/00000000000000000000.seg" $((off + 3)) X ||
        fail "w-500 not found"
    rm -f "$LOG/durlog.shm"
    before=$(snapshot)
    for i in $(seq 20); do # the writer's background allocation has settled
        sleep 0.2
        now=$(snapshot)
        [ "$now" = "$before" ] && break
        before=$now
    done
    run "$BIN" check --repair --force "$LOG"
    expect_status 1 "check --repair --force while a writer has the log open"
    expect_stderr_has_i "writer.*open"
    [ "$(snapshot)" = "$before" ] || fail "check --repair --force changed the log's files"
    exec 7>&-
    wait "$wpid"
}

# ---- 6. check on a live log --------------------------------------------------

# Three loops of `durlog append -d sync L x` and one stream of kernel appends.
start_busy_writers() {
    local i
    "$BIN" append "$LOG" first || fail "first append failed"
    BUSY=()
    for i in 1 2 3; do
        (while [ ! -e "$D/stop" ]; do "$BIN" append -d sync "$LOG" x >/dev/null 2>>"$D/busy.err"; done) &
        BUSY+=($!)
    done
    (while [ ! -e "$D/stop" ]; do seq -f 's-%.0f' 1 2000; sleep 0.01; done |
        "$BIN" append "$LOG" 2>>"$D/busy.err") &
    BUSY+=($!)
    sleep 0.3
}

stop_busy_writers() {
    : >"$D/stop"
    wait "${BUSY[@]}"
}

# 40 checks of a log that four writers are appending to: every one exits 0,
# reports status clean and suggests no --force.
check_of_a_log_writers_are_appending_to_reports_it_clean_every_time() {
    start_busy_writers
    local i bad=0
    for i in $(seq 40); do
        run "$BIN" check "$LOG"
        if [ "$rc" -ne 0 ] || ! grep -q '^status: *clean' "$OUT" || grep -q -e '--force' "$OUT" "$ERR"; then
            bad=$((bad + 1))
            if [ "$bad" -eq 1 ]; then
                fail "check run $i: status $rc, stdout:"
                show "$OUT" >>"$WHY"
                show "$ERR" >>"$WHY"
            fi
        fi
    done
    [ "$bad" -eq 0 ] || fail "$bad of 40 checks of the live log were not clean"
    stop_busy_writers
}

# `check --repair` of the same live log, five times: each refuses (status
# 1), saying a writer has the log open.
check_repair_of_a_log_writers_are_appending_to_refuses() {
    start_busy_writers
    local i
    for i in 1 2 3 4 5; do
        run "$BIN" check --repair "$LOG"
        expect_status 1 "check --repair of a live log, run $i"
        expect_stderr_has_i "writer.*open"
    done
    stop_busy_writers
}

# ---- 9. messages ------------------------------------------------------------

# A segment nobody may not read: cat and check name the path first and the
# error after it ("... L/0000.seg: Permission denied"), never "L/open 0000.seg".
permission_errors_name_the_segment_path_before_the_error() {
    "$BIN" append "$LOG" a b c || fail "append failed"
    local seg="$LOG/00000000000000000000.seg" cmd
    chmod 000 "$seg"
    for cmd in cat check; do
        run as_nobody "$BIN" "$cmd" "$LOG"
        expect_status 1 "$cmd as nobody"
        expect_stderr_has_text "$seg: Permission denied"
        expect_stderr_lacks "/open 0"
    done
}

# The log with its durlog.shm, a middle segment removed: cat reports missing
# records, not a damaged record in the segment before; check says missing.
a_missing_middle_segment_is_reported_as_missing_records_not_as_damage() {
    copy_big "$LOG" || return
    cat_without_the_second_segment
    run "$BIN" check "$LOG"
    expect_status 1 "check of a log with a gap"
    grep -qi missing "$OUT" "$ERR" || { fail "check does not say records are missing:"; show "$OUT" >>"$WHY"; }
}

# ---- 10. hostile users (commit 9d77cfc) ---------------------------------------

# read_until FD LINE: reads lines from descriptor FD until one is LINE;
# fails (and returns 1) if FD ends first.
read_until() {
    local line
    while IFS= read -r line <&"$1"; do
        [ "$line" = "$2" ] && return 0
    done
    fail "output ended before \"$2\""
    return 1
}

# A `durlog append` (kernel level, fed through a fifo so that it keeps the
# log open) appends rec-00..rec-09; once `durlog tail -f` has shown rec-09
# (no sleeping; the follower ends when its reader goes), the segment is
# copied and the copy renamed over it (cp + mv); the writer then appends
# rec-10..rec-19, which go into the old file, and reaches the end of its
# input. Its close fails: status 1, one line
# saying a file of the log was replaced. The old file is saved as
# <segment>.replaced-<inode of the old file> and holds all 20 records, in
# order; `durlog cat` prints the 10 the copy holds (and, failing, says that
# record 10 is missing).
a_segment_replaced_under_durlog_append_is_saved_and_its_close_fails() {
    local seg="$LOG/00000000000000000000.seg" pid tpid st ino="" saved i at last=-1
    "$BIN" append "$LOG" </dev/null || fail "cannot create the log"
    mkfifo "$D/in" "$D/seen"
    "$BIN" tail -f -n 100 "$LOG" >"$D/seen" 2>"$D/tail.err" &
    tpid=$!
    exec 8<"$D/seen"
    "$BIN" append "$LOG" <"$D/in" 2>"$ERR" &
    pid=$!
    exec 7>"$D/in"
    seq -f 'rec-%02.0f' 0 9 >&7
    if read_until 8 rec-09; then
        ino=$(stat -c %i "$seg")
        cp "$seg" "$LOG/copy.tmp" && mv "$LOG/copy.tmp" "$seg" || fail "cp + mv failed"
    fi
    exec 8<&- # the follower stops at its next record: its reader is gone
    [ -n "$ino" ] && seq -f 'rec-%02.0f' 10 19 >&7
    exec 7>&-
    wait "$pid"
    st=$?
    wait "$tpid"
    [ -n "$ino" ] || return
    [ "$st" -eq 1 ] || { fail "durlog append exited $st, expected 1; stderr:"; show "$ERR" >>"$WHY"; }
    [ "$(wc -l <"$ERR")" -eq 1 ] && grep -q "^durlog: append: closing $LOG" "$ERR" ||
        { fail "expected one line 'durlog: append: closing $LOG...' on stderr:"; show "$ERR" >>"$WHY"; }
    expect_stderr_has "replaced"
    saved="$seg.replaced-$ino"
    if [ ! -f "$saved" ]; then
        fail "$(basename "$saved") was not saved; the log holds: $(cd "$LOG" && echo *)"
        return
    fi
    for i in $(seq -f '%02.0f' 0 19); do
        at=$(grep -boaF "rec-$i" "$saved" | head -1 | cut -d: -f1)
        if [ -z "$at" ]; then
            fail "rec-$i is not in $(basename "$saved")"
        elif [ "$at" -le "$last" ]; then
            fail "rec-$i is before the record appended ahead of it in $(basename "$saved")"
        else
            last=$at
        fi
    done
    run "$BIN" cat "$LOG"
    expect_stdout "$(seq -f 'rec-%02.0f' 0 9)"
    [ "$rc" -eq 0 ] || expect_stderr_has_i "record 10 is missing"
}

# A log with a torn last record and no coordination file. While another
# process holds the log directory's lock shared, as writers do: `check`
# exits 0, saying writers are appending (the torn record may be one being
# copied), and `check --repair` (forced too) refuses, saying a writer has the
# log open, not that another repair runs. While it is held exclusively, as a
# repair holds it: `check` reports the torn tail, and `check --repair`
# refuses saying another `durlog check --repair` is running. Neither changes
# a file; once the lock is free, the repair cuts the torn record.
check_and_repair_say_whether_writers_or_another_repair_hold_the_log() {
    local payload seg before
    payload=$(head -c 200 /dev/zero | tr '\0' z)
    "$BIN" append "$LOG" one two three "$payload" || fail "append failed"
    seg="$LOG/00000000000000000000.seg"
    overwrite "$seg" $((64 + $(sed -n 's/^bytes: *\([0-9]*\).*/\1/p' <("$BIN" info "$LOG")) - 100)) QQQQQQQQ
    rm -f "$LOG/durlog.shm"
    before=$(md5sum "$seg")

    exec 9<"$LOG"
    flock -s -n 9 || fail "cannot take the directory's lock shared"
    run "$BIN" check "$LOG"
    expect_status 0 "check while writers hold the log"
    expect_stdout_has "^writers: *appending"
    expect_stdout_has "^status: *clean"
    local how
    for how in --repair "--repair --force"; do
        run "$BIN" check $how "$LOG"
        expect_status 1 "check $how while writers hold the log"
        expect_stderr_has "writer has the log open"
        expect_stderr_lacks "another .durlog check"
    done

    flock -u 9
    flock -x -n 9 || fail "cannot take the directory's lock exclusively"
    run "$BIN" check "$LOG"
    expect_status 1 "check while a repair holds the log"
    expect_stdout_has "torn"
    run "$BIN" check --repair "$LOG"
    expect_status 1 "check --repair while another repair holds the log"
    expect_stderr_has_text "another \`durlog check --repair\` is running"
    expect_stderr_lacks "writer has the log open"
    exec 9<&-

    [ "$(md5sum "$seg")" = "$before" ] || fail "a refused check or repair changed the segment"
    compgen -G "$LOG/*.cut-*" >/dev/null && fail "a refused repair left a side file"
    run "$BIN" check --repair "$LOG"
    expect_status 0 "check --repair once the lock is free"
    compgen -G "$LOG/*.cut-*" >/dev/null || fail "the repair left no side file"
}

# The multi-segment log with its second segment's file moved out of the
# directory: `durlog info` says how many records no segment file holds
# ("missing: N ... durlog check"), counts only the others as records, and
# keeps next seq; -o json has "missing" and the same "records". With the
# file put back, neither mentions missing records but "missing":0.
info_reports_the_records_of_a_moved_middle_segment_as_missing() {
    copy_big "$LOG" || return
    local gone n=${#SEG[@]}
    gone=$(($(first_of "${SEG[2]}") - $(first_of "${SEG[1]}")))
    mv "${SEG[1]}" "$D/aside.seg" || { fail "cannot move ${SEG[1]}"; return; }
    run "$BIN" info "$LOG"
    expect_status 0 "info of a log missing a segment"
    [ "$(info_value missing)" = "$gone" ] || fail "missing: '$(info_value missing)', expected $gone"
    expect_stdout_has "^missing: .*durlog check"
    [ "$(info_value records)" = $((RECORDS - gone)) ] ||
        fail "records: $(info_value records), expected $((RECORDS - gone))"
    [ "$(info_value segments)" = $((n - 1)) ] || fail "segments: $(info_value segments), expected $((n - 1))"
    [ "$(info_value 'next seq')" = "$RECORDS" ] || fail "next seq: $(info_value 'next seq')"
    run "$BIN" info -o json "$LOG"
    expect_status 0 "info -o json of a log missing a segment"
    grep -q "\"missing\":$gone[,}]" "$OUT" || { fail "json lacks \"missing\":$gone:"; show "$OUT" >>"$WHY"; }
    grep -q "\"records\":$((RECORDS - gone))[,}]" "$OUT" ||
        { fail "json lacks \"records\":$((RECORDS - gone)):"; show "$OUT" >>"$WHY"; }

    mv "$D/aside.seg" "${SEG[1]}"
    run "$BIN" info "$LOG"
    grep -q '^missing:' "$OUT" && fail "info of the whole log has a missing: line"
    [ "$(info_value records)" = "$RECORDS" ] || fail "records: $(info_value records), expected $RECORDS"
    run "$BIN" info -o json "$LOG"
    grep -q '"missing":0[,}]' "$OUT" || { fail "json of the whole log lacks \"missing\":0:"; show "$OUT" >>"$WHY"; }
}

[ -x "$BIN" ] || { echo "not ok durlog_binary_exists ($BIN)"; exit 1; }

# ---- issue #15: files truncated under the command ---------------------------

# The issue's reproduction: the first segment truncated while `durlog cat`
# reads it (it waits on a full pipe, past its last look at the file's size).
# Exit status 1 and one line naming the file and the truncation, never SIGBUS
# (status 135).
cat_of_a_segment_truncated_under_it_fails_naming_it() {
    local seg="$LOG/00000000000000000000.seg" st
    seq 1 2000000 | "$BIN" append "$LOG" || { fail "cannot make the log"; return; }
    ("$BIN" cat "$LOG" 2>"$ERR"; echo $? >"$D/status") | (sleep 1; cat >/dev/null) &
    sleep 0.3
    truncate -s 4096 "$seg"
    wait
    st=$(cat "$D/status")
    [ "$st" -eq 1 ] || { fail "durlog cat exited $st, expected 1; stderr:"; show "$ERR" >>"$WHY"; }
    [ "$(wc -l <"$ERR")" -eq 1 ] || { fail "expected one line on stderr:"; show "$ERR" >>"$WHY"; }
    expect_stderr_has "00000000000000000000.seg was truncated"
}

# The active segment truncated under `seq | durlog append`: it stops with
# status 1 and a message naming the file; the log then opens, says what it
# cut, and takes appends.
append_with_its_segment_truncated_under_it_fails_naming_it() {
    local st
    (seq 1 1000000; sleep 2; seq 1 1000000) | "$BIN" append "$LOG" 2>"$ERR" &
    local pid=$!
    sleep 1
    local seg
    seg=$(ls "$LOG"/*.seg | tail -1)
    truncate -s 4096 "$seg"
    wait "$pid"
    st=$?
    [ "$st" -eq 1 ] || { fail "durlog append exited $st, expected 1; stderr:"; show "$ERR" >>"$WHY"; return; }
    expect_stderr_has "$(basename "$seg") was truncated"
    run "$BIN" append -d sync "$LOG" after
    expect_status 0 "an append after every writer closed"
    run "$BIN" check "$LOG"
    expect_status 0 "check after the reopen"
}

# `: > durlog.shm` under a writer and `durlog tail -f`: the writer stops with
# status 1 naming the file, the follower is not killed and goes on following
# (by checksums, then through the file the next writer rebuilds).
emptying_the_coordination_file_kills_neither_writer_nor_follower() {
    local st tpid
    "$BIN" append "$LOG" first </dev/null || { fail "cannot make the log"; return; }
    "$BIN" tail -f "$LOG" >"$D/seen" 2>"$D/tail.err" &
    tpid=$!
    (seq 1 1000000; sleep 2; seq 1 1000000) | "$BIN" append "$LOG" 2>"$ERR" &
    local pid=$!
    sleep 1
    : >"$LOG/durlog.shm"
    wait "$pid"
    st=$?
    [ "$st" -eq 1 ] || { fail "durlog append exited $st, expected 1; stderr:"; show "$ERR" >>"$WHY"; }
    expect_stderr_has "durlog.shm"
    run "$BIN" append -d sync "$LOG" after-the-rebuild
    expect_status 0 "an append after the writer closed"
    local i
    for i in $(seq 1 100); do
        tail -n 1 "$D/seen" 2>/dev/null | grep -q '^after-the-rebuild$' && break
        sleep 0.1
    done
    kill -0 "$tpid" 2>/dev/null || fail "durlog tail -f died: $(cat "$D/tail.err")"
    grep -q '^after-the-rebuild$' "$D/seen" || fail "durlog tail -f did not follow the rebuilt log"
    kill "$tpid" 2>/dev/null
    wait "$tpid" 2>/dev/null
    run "$BIN" check "$LOG"
    expect_status 0 "check at the end"
}

t one_damaged_byte_in_an_old_segment_deletes_nothing
t commands_ignore_a_stale_coordination_file_put_back
t cat_of_a_copy_missing_a_middle_segment_fails_naming_the_missing_records
t cat_of_a_copy_with_an_unreadable_middle_segment_fails_with_permission_denied
t cat_of_a_copy_short_of_file_descriptors_fails_with_too_many_open_files
t cat_of_a_copy_with_a_damaged_last_record_in_a_middle_segment_fails
t cat_of_a_log_with_an_unreadable_segment_reports_permission_denied_not_damage
t cat_of_a_log_short_of_file_descriptors_reports_it_not_damage
t removing_the_coordination_file_under_a_running_writer_loses_no_record
t check_repair_force_without_the_coordination_file_refuses_while_a_writer_has_the_log_open
t check_of_a_log_writers_are_appending_to_reports_it_clean_every_time
t check_repair_of_a_log_writers_are_appending_to_refuses
t permission_errors_name_the_segment_path_before_the_error
t a_missing_middle_segment_is_reported_as_missing_records_not_as_damage
t a_segment_replaced_under_durlog_append_is_saved_and_its_close_fails
t check_and_repair_say_whether_writers_or_another_repair_hold_the_log
t info_reports_the_records_of_a_moved_middle_segment_as_missing
t cat_of_a_segment_truncated_under_it_fails_naming_it
t append_with_its_segment_truncated_under_it_fails_naming_it
t emptying_the_coordination_file_kills_neither_writer_nor_follower

[ "$failed" -eq 0 ]
