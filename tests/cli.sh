#!/usr/bin/env bash
# tests/cli.sh - tests of the `durlog` command (cli/), run by tests/run.sh
# from the repository root.
#
# Each test is a shell function named for the behaviour it proves, run by
# `t` with the helpers of tests/lib/cli.sh (which says how; DURLOG_BIN and
# DURLOG_TEST_DIR choose the command and the scratch directory). JSON is
# parsed with jq, or python3 without it.
set -u
. tests/lib/cli.sh

SEGMENT_HEADER=64 # bytes before the first record of a segment (docs/FORMAT.md)

if command -v jq >/dev/null 2>&1; then
    JSON_TOOL=jq
elif command -v python3 >/dev/null 2>&1; then
    JSON_TOOL=python3
else
    echo "not ok cli_tests_need_jq_or_python3"
    exit 1
fi

# ---- helpers ----------------------------------------------------------------

# json_field LINE KEY: the value of KEY in the JSON object on line LINE of
# $OUT ("<absent>" if missing, "<invalid>" if the line is not an object).
json_field() {
    local line
    line=$(sed -n "$1p" "$OUT")
    if [ "$JSON_TOOL" = jq ]; then
        printf '%s' "$line" | jq -j --arg k "$2" \
            'if has($k) then .[$k] | tostring else "<absent>" end' \
            2>/dev/null || printf '<invalid>'
    else
        python3 -c '
import json, sys
try:
    o = json.loads(sys.argv[1])
except ValueError:
    sys.stdout.write("<invalid>"); sys.exit()
v = o.get(sys.argv[2], "<absent>")
sys.stdout.write(v if isinstance(v, str) else json.dumps(v))' "$line" "$2"
    fi
}

expect_json_field() { # LINE KEY VALUE
    local got
    got=$(json_field "$1" "$2")
    [ "$got" = "$3" ] || fail "line $1: $2 is '$got', expected '$3'"
}

# Every line of $OUT is one valid JSON object.
expect_json_lines() {
    local ok
    if [ "$JSON_TOOL" = jq ]; then
        ok=$(jq -e -s 'all(type == "object")' "$OUT" 2>&1)
    else
        ok=$(python3 -c '
import json, sys
print(all(isinstance(json.loads(l), dict) for l in open(sys.argv[1])) and "true")
' "$OUT" 2>&1)
    fi
    [ "$ok" = true ] || { fail "output is not one JSON object per line:"; show "$OUT" >>"$WHY"; }
}

# records_in LOG: how many records `durlog cat` prints (JSON lines).
records_in() {
    "$BIN" cat -o json "$1" 2>/dev/null | wc -l
}

# The only segment file of a single-segment log.
only_segment() {
    local segs=("$1"/*.seg)
    [ "${#segs[@]}" -eq 1 ] || { fail "expected one segment in $1: ${segs[*]}"; return 1; }
    printf '%s' "${segs[0]}"
}

# bytes_of LOG: the `bytes` that `durlog info` reports.
bytes_of() {
    "$BIN" info "$1" | sed -n 's/^bytes: *\([0-9]*\).*/\1/p'
}

# ---- append and cat ---------------------------------------------------------

append_args_then_cat_prints_them_in_order() {
    run "$BIN" append "$LOG" one two "three four"
    expect_status 0 "append"
    expect_stdout ""
    run "$BIN" cat "$LOG"
    expect_status 0 "cat"
    expect_stdout $'one\ntwo\nthree four'
}

append_again_continues_the_sequence() {
    run "$BIN" append "$LOG" a b
    run "$BIN" append -v "$LOG" c
    expect_status 0 "second append"
    expect_stdout "appended seq 2"
    run "$BIN" cat "$LOG"
    expect_stdout $'a\nb\nc'
}

append_stdin_keeps_empty_lines_and_a_last_line_without_newline() {
    printf 'first\n\nthird\n\nlast' >"$D/in"
    run_in "$D/in" "$BIN" append "$LOG"
    expect_status 0 "append from stdin"
    run "$BIN" cat -o json "$LOG"
    expect_json_lines
    [ "$(wc -l <"$OUT")" -eq 5 ] || fail "expected 5 records, got $(wc -l <"$OUT")"
    expect_json_field 1 data first
    expect_json_field 2 data ""
    expect_json_field 3 data third
    expect_json_field 4 data ""
    expect_json_field 5 data last
    expect_json_field 5 seq 4
}

append_empty_stdin_creates_an_empty_log() {
    run_in /dev/null "$BIN" append "$LOG"
    expect_status 0 "append of nothing"
    [ -d "$LOG" ] || fail "no log directory created"
    run "$BIN" cat "$LOG"
    expect_status 0 "cat of empty log"
    expect_stdout ""
    run "$BIN" info "$LOG"
    [ "$(info_value records)" = 0 ] || fail "records: $(info_value records), expected 0"
    [ "$(info_value 'last seq')" = none ] || fail "last seq: $(info_value 'last seq'), expected none"
}

append_stdin_line_longer_than_the_read_buffer_is_one_record() {
    head -c 300000 /dev/zero | tr '\0' x >"$D/in"
    printf '\nshort\n' >>"$D/in"
    run_in "$D/in" "$BIN" append "$LOG"
    expect_status 0 "append of a long line"
    run "$BIN" cat "$LOG"
    cmp -s "$OUT" "$D/in" || fail "cat output differs from the input"
}

append_many_stdin_lines_keeps_every_line_in_order() {
    seq 1 20000 >"$D/in"
    run_in "$D/in" "$BIN" append -d sync "$LOG"
    expect_status 0 "append of 20000 lines"
    run "$BIN" cat "$LOG"
    cmp -s "$OUT" "$D/in" || fail "cat output differs from the 20000 input lines"
}

append_verbose_prints_each_seq() {
    run "$BIN" append -v "$LOG" a b c
    expect_status 0 "append -v"
    expect_stdout $'appended seq 0\nappended seq 1\nappended seq 2'
}

append_verbose_buffered_reports_the_count() {
    run "$BIN" append -d buffered -v "$LOG" a b
    expect_status 0 "append -d buffered -v"
    expect_stdout_has "appended 2 buffered records"
    run "$BIN" cat "$LOG"
    expect_stdout $'a\nb'
}

# Starts `durlog append ARGS... LOG` fed by a fifo on descriptor 6; the
# writer's pid is in $writer_pid. Stop it with `exec 6>&-; wait`.
start_fed_writer() {
    mkfifo "$D/feed"
    "$BIN" append "$@" <"$D/feed" &
    writer_pid=$!
    exec 6>"$D/feed"
}

# wait_for_records LOG N: polls up to 10 s until `durlog cat LOG` prints N
# records.
wait_for_records() {
    local i
    for i in $(seq 200); do
        [ "$("$BIN" cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
        sleep 0.05
    done
    fail "the log never showed $2 records"
    return 1
}

append_reports_on_stderr_a_torn_tail_cut_on_open() {
    local payload seg side
    payload=$(head -c 200 /dev/zero | tr '\0' z)
    # A writer killed while appending: it never closed the log (nothing
    # checkpointed); its last record is torn.
    start_fed_writer "$LOG"
    printf 'one\n%s\n' "$payload" >&6
    wait_for_records "$LOG" 2 || return
    { kill -9 "$writer_pid"; wait "$writer_pid"; } 2>/dev/null
    exec 6>&-
    seg=$(only_segment "$LOG") || return
    overwrite "$seg" $((SEGMENT_HEADER + $(bytes_of "$LOG") - 100)) QQQQ
    run "$BIN" append -v "$LOG" two
    expect_status 0 "append after a torn tail"
    expect_stderr_has "opening the log cut [0-9]* bytes .*from 00000000000000000000\.seg"
    expect_stderr_has "kept in $LOG/00000000000000000000\.seg\.cut-"
    expect_stdout_has "^appended seq 1$"
    side=$(ls "$LOG" | grep -c '\.cut-')
    [ "$side" = 1 ] || fail "expected one side file, found $side"
    run "$BIN" cat "$LOG"
    expect_stdout $'one\ntwo'
}

append_takes_arguments_after_log_as_records_even_with_dashes() {
    run "$BIN" append "$LOG" -n --from -- -v
    expect_status 0 "append of dash records"
    run "$BIN" cat "$LOG"
    expect_stdout $'-n\n--from\n--\n-v'
}

append_at_each_level_is_counted_by_info() {
    local total=0 level
    for level in buffered kernel interval sync; do
        run "$BIN" append -d "$level" "$LOG" "$level-1" "$level-2" "$level-3"
        expect_status 0 "append -d $level"
        total=$((total + 3))
        run "$BIN" info "$LOG"
        expect_status 0 "info after $level"
        [ "$(info_value records)" = "$total" ] ||
            fail "after $level: records $(info_value records), expected $total"
        [ "$(info_value 'last seq')" = "$((total - 1))" ] ||
            fail "after $level: last seq $(info_value 'last seq'), expected $((total - 1))"
    done
    run "$BIN" cat "$LOG"
    expect_stdout $'buffered-1\nbuffered-2\nbuffered-3\nkernel-1\nkernel-2\nkernel-3\ninterval-1\ninterval-2\ninterval-3\nsync-1\nsync-2\nsync-3'
}

# The README's version of the article's experiment: two writers are fed the
# same line and keep their logs open; the kernel one shows it at once, the
# buffered one not until its writer exits, and never if it is killed.
buffered_records_are_unseen_until_the_writer_exits_kernel_ones_at_once() {
    local lvl pids=() i
    for lvl in buffered kernel killed; do
        mkfifo "$D/$lvl.in"
        local d=$lvl
        [ "$lvl" = killed ] && d=buffered
        "$BIN" append -d "$d" "$D/$lvl" <"$D/$lvl.in" &
        pids+=($!)
    done
    exec 7>"$D/buffered.in" 8>"$D/kernel.in" 9>"$D/killed.in"
    echo hehe >&7; echo hehe >&8; echo hehe >&9
    for i in $(seq 100); do # the kernel writer has read its line
        [ "$("$BIN" cat "$D/kernel" 2>/dev/null)" = hehe ] && break
        sleep 0.05
    done
    run "$BIN" cat "$D/kernel"
    expect_stdout hehe
    sleep 0.2 # the buffered writers have had as long and longer
    run "$BIN" cat "$D/buffered"
    expect_status 0 "cat of the buffered log while its writer runs"
    expect_stdout ""
    { kill -9 "${pids[2]}"; wait "${pids[2]}"; } 2>/dev/null # no "Killed"
    exec 7>&- 8>&- 9>&-
    wait "${pids[0]}" "${pids[1]}"
    run "$BIN" cat "$D/buffered"
    expect_stdout hehe
    run "$BIN" cat "$D/killed"
    expect_status 0 "cat of the log whose buffered writer was killed"
    expect_stdout ""
}

append_bad_level_is_a_usage_error() {
    run "$BIN" append -d fast "$LOG" x
    expect_usage_error
    expect_stderr_has "fast"
    [ ! -e "$LOG" ] || fail "a bad level still created the log"
}

append_without_log_is_a_usage_error() {
    run "$BIN" append
    expect_usage_error
}

# As root, a log whose directory user nobody owns: refused (status 1, one
# line naming the owner and the option), and nothing is created in it;
# `cat` (a reader) is not refused; with --allow-foreign-owner the append
# goes in, and the segment it creates belongs to nobody.
append_as_root_to_another_users_log_needs_allow_foreign_owner() {
    [ "$(id -u)" = 0 ] || { skip "gives a log to user nobody: needs root"; return; }
    mkdir "$LOG" && chown 65534:65534 "$LOG" || { fail "cannot give $LOG to nobody"; return; }
    run "$BIN" append "$LOG" x
    expect_status 1 "root appending to nobody's log"
    expect_one_error_line append
    expect_stderr_has "uid 65534"
    expect_stderr_has "allow-foreign-owner"
    [ -z "$(ls -A "$LOG")" ] || fail "the refused append left files: $(ls -A "$LOG")"
    run "$BIN" append --allow-foreign-owner "$LOG" x y
    expect_status 0 "root appending with --allow-foreign-owner"
    run "$BIN" cat "$LOG"
    expect_status 0 "cat of nobody's log as root"
    expect_stdout "$(printf 'x\ny')"
    [ "$(stat -c %u "$LOG/00000000000000000000.seg")" = 65534 ] ||
        fail "the segment root created is not nobody's"
}

append_where_the_log_cannot_be_created_fails_clearly() {
    local where
    if [ "$(id -u)" = 0 ]; then
        # root writes through 0555 directories: put the log under a file.
        : >"$D/file"
        where="$D/file/log"
    else
        mkdir "$D/ro"
        chmod 0555 "$D/ro"
        where="$D/ro/log"
    fi
    run "$BIN" append "$where" x
    expect_status 1 "append to an unwritable place"
    expect_one_error_line append
    expect_stderr_has "$where"
    [ ! -e "$where" ] || fail "$where exists after the failure"
}

# ---- cat --------------------------------------------------------------------

cat_missing_log_fails_clearly() {
    run "$BIN" cat "$D/nothing"
    expect_status 1 "cat of a missing log"
    expect_one_error_line cat
    expect_stderr_has "$D/nothing"
}

cat_of_a_directory_that_is_not_a_log_fails_clearly() {
    mkdir -p "$D/plain"
    run "$BIN" cat "$D/plain"
    expect_status 1 "cat of an empty directory"
    expect_one_error_line cat
    expect_stderr_has "not a durlog log"
}

cat_json_gives_seq_time_and_data() {
    local before after when secs
    before=$(date +%s)
    run "$BIN" append "$LOG" hello "wörld ✓"
    after=$(date +%s)
    run "$BIN" cat -o json "$LOG"
    expect_status 0 "cat -o json"
    expect_json_lines
    expect_json_field 1 seq 0
    expect_json_field 1 data hello
    expect_json_field 1 encoding "<absent>"
    expect_json_field 2 seq 1
    expect_json_field 2 data "wörld ✓"
    when=$(json_field 1 time)
    [[ "$when" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$ ]] ||
        fail "time '$when' is not RFC 3339 UTC with nanoseconds"
    secs=$(date -u -d "$when" +%s 2>/dev/null || echo 0)
    [ "$secs" -ge "$before" ] && [ "$secs" -le "$after" ] ||
        fail "time '$when' is not between the append's start and end"
}

cat_json_escapes_quotes_backslashes_and_control_characters() {
    local tricky=$'quote " backslash \\ tab \t cr \r bell \a end'
    run "$BIN" append "$LOG" "$tricky" $'two\nlines'
    run "$BIN" cat -o json "$LOG"
    expect_json_lines
    [ "$(wc -l <"$OUT")" -eq 2 ] || fail "a record's newline split the JSON line"
    expect_json_field 1 data "$tricky"
    expect_json_field 2 data $'two\nlines'
}

cat_json_gives_base64_for_binary_payloads() {
    printf '\xff\xfe\n\x00\x01\x02\n' >"$D/in"
    run_in "$D/in" "$BIN" append "$LOG"
    expect_status 0 "append of binary lines"
    run "$BIN" cat -o json "$LOG"
    expect_json_lines
    expect_json_field 1 data "//4="
    expect_json_field 1 encoding base64
    # NUL is valid UTF-8 and escapes as \u0000.
    grep -q '"data":"\\u0000\\u0001\\u0002"' "$OUT" ||
        fail "NUL and control bytes not escaped as \\u00XX"
    run "$BIN" cat "$LOG"
    cmp -s "$OUT" "$D/in" || fail "text cat does not give the bytes back"
}

cat_count_limits_the_records() {
    run "$BIN" append "$LOG" a b c d
    run "$BIN" cat -n 2 "$LOG"
    expect_status 0 "cat -n 2"
    expect_stdout $'a\nb'
    run "$BIN" cat --count 0 "$LOG"
    expect_status 0 "cat -n 0"
    expect_stdout ""
    run "$BIN" cat -n 99 "$LOG"
    expect_stdout $'a\nb\nc\nd'
}

cat_from_starts_at_that_seq() {
    run "$BIN" append "$LOG" a b c d
    run "$BIN" cat --from 2 "$LOG"
    expect_status 0 "cat --from 2"
    expect_stdout $'c\nd'
    run "$BIN" cat --from 1 -n 2 -o json "$LOG"
    expect_json_field 1 seq 1
    expect_json_field 2 seq 2
    [ "$(wc -l <"$OUT")" -eq 2 ] || fail "--from 1 -n 2 printed $(wc -l <"$OUT") records"
    run "$BIN" cat --from 4 "$LOG"
    expect_status 0 "cat --from the end"
    expect_stdout ""
}

cat_from_beyond_the_end_fails_naming_the_range() {
    run "$BIN" append "$LOG" a b c
    run "$BIN" cat --from 10 "$LOG"
    expect_status 1 "cat --from past the end"
    expect_one_error_line cat
    expect_stderr_has "0\.\.2"
}

cat_bad_numbers_are_usage_errors() {
    run "$BIN" append "$LOG" a
    local bad
    for bad in abc -1 12x "" " 1" 0x10 18446744073709551616; do
        run "$BIN" cat --from "$bad" "$LOG"
        expect_usage_error
        run "$BIN" cat -n "$bad" "$LOG"
        expect_usage_error
    done
    run "$BIN" cat --from "$LOG"
    expect_usage_error
}

cat_bad_output_format_is_a_usage_error() {
    run "$BIN" append "$LOG" a
    run "$BIN" cat -o xml "$LOG"
    expect_usage_error
    expect_stderr_has "xml"
}

cat_into_a_closed_pipe_exits_quietly() {
    seq 1 100000 >"$D/in"
    run_in "$D/in" "$BIN" append "$LOG"
    "$BIN" cat "$LOG" 2>"$ERR" | head -n 1 >"$OUT"
    rc=${PIPESTATUS[0]}
    expect_stdout 1
    expect_status 1 "cat whose reader went away"
    expect_stderr_empty
}

# ---- cursors ----------------------------------------------------------------

cursor_set_get_list_delete() {
    run "$BIN" append "$LOG" a b c d e
    run "$BIN" cursor "$LOG" get c
    expect_status 1 "get of a cursor that does not exist"
    expect_one_error_line cursor
    expect_stderr_has "no cursor c"
    run "$BIN" cursor "$LOG" set c 2
    expect_status 0 "set c 2"
    run "$BIN" cursor "$LOG" get c
    expect_status 0 "get c"
    expect_stdout 2
    run "$BIN" cursor "$LOG" list
    expect_status 0 "list"
    expect_stdout_has "^c  seq 2  lag 3 records, [0-9]* bytes  committed 20"
    run "$BIN" cursor -o json "$LOG" list
    expect_json_field 1 name c
    expect_json_field 1 seq 2
    expect_json_field 1 lag_records 3
    run "$BIN" cursor "$LOG" set c 6
    expect_status 1 "set past the end"
    expect_stderr_has "ends at 5"
    run "$BIN" cursor "$LOG" get c
    expect_stdout 2
    run "$BIN" cursor "$LOG" set "a/b" 1
    expect_status 1 "a bad name"
    expect_stderr_has "bad cursor name"
    run "$BIN" cursor "$LOG" delete c
    expect_status 0 "delete"
    run "$BIN" cursor "$LOG" list
    expect_stdout ""
    run "$BIN" cursor "$LOG" delete c
    expect_status 1 "delete again"
    run "$BIN" cursor "$LOG" rename c
    expect_usage_error
    run "$BIN" cursor "$LOG" set c
    expect_usage_error
    run "$BIN" cursor "$LOG" set c -1
    expect_usage_error
}

cursor_set_replaces_a_damaged_cursor_file() {
    run "$BIN" append "$LOG" a b c
    run "$BIN" cursor "$LOG" set c 1
    printf 'garbage' >"$LOG/cursor.c"
    run "$BIN" cursor "$LOG" get c
    expect_status 1 "get of a damaged cursor"
    expect_stderr_has "cursor.c"
    run "$BIN" cat --cursor c "$LOG"
    expect_status 1 "cat from a damaged cursor"
    expect_stdout ""
    run "$BIN" cursor "$LOG" set c 2
    expect_status 0 "set over a damaged cursor"
    run "$BIN" cursor "$LOG" get c
    expect_stdout 2
}

cat_cursor_resumes_where_the_last_run_stopped() {
    run "$BIN" append "$LOG" 1 2 3 4 5
    run "$BIN" cat --cursor c -n 2 "$LOG"
    expect_status 0 "cat --cursor -n 2"
    expect_stdout $'1\n2'
    run "$BIN" cursor "$LOG" get c
    expect_stdout 2
    run "$BIN" cat --cursor c "$LOG"
    expect_stdout $'3\n4\n5'
    run "$BIN" cat --cursor c "$LOG"
    expect_status 0 "cat --cursor at the end"
    expect_stdout ""
    run "$BIN" append "$LOG" 6
    run "$BIN" cat --cursor c -o json "$LOG"
    expect_json_field 1 seq 5
    run "$BIN" cursor "$LOG" get c
    expect_stdout 6
    run "$BIN" cat --cursor c --from 1 "$LOG"
    expect_usage_error
}

# A consumer killed (SIGKILL) part way, then run again: every record is
# printed at least once, in order; the second run starts no later than where
# the first stopped printing and repeats at most its last, unconfirmed,
# batch (1000 records).
cat_cursor_killed_then_resumed_prints_every_record_at_least_once() {
    local n=200000 pid status=0 k j bytes
    seq 1 $n >"$D/in"
    run_in "$D/in" "$BIN" append "$LOG"
    # Killed once it has printed that many bytes (dozens of batches, so that
    # a cat that never committed would fail below); on a disk fast enough
    # for the whole run to finish first, again from the start, sooner.
    for bytes in 100000 10000 1; do
        "$BIN" cursor "$LOG" delete c 2>/dev/null
        : >"$D/out1"
        "$BIN" cat --cursor c "$LOG" >"$D/out1" 2>"$ERR" &
        pid=$!
        while [ "$(stat -c %s "$D/out1")" -lt $bytes ] && kill -0 $pid 2>/dev/null; do
            sleep 0.001
        done
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null # (no "Killed" notice from the shell)
        status=$?
        [ $status -eq 137 ] && break
    done
    [ $status -eq 137 ] || fail "the first cat was never killed part way (status $status)"
    k=$(tr -cd '\n' <"$D/out1" | wc -c) # complete lines it printed
    head -n "$k" "$D/out1" | cmp -s - <(seq 1 "$k") || fail "the first run's output is not 1..$k"
    run "$BIN" cat --cursor c "$LOG"
    expect_status 0 "the second run"
    j=$(head -n 1 "$OUT")
    [ "$j" -le $((k + 1)) ] || fail "the second run starts at $j, past what the first printed ($k)"
    [ "$j" -ge $((k + 1 - 1000)) ] || fail "the second run starts at $j: more than one batch before $k"
    cmp -s "$OUT" <(seq "$j" $n) || fail "the second run is not $j..$n"
    run "$BIN" cursor "$LOG" get c
    expect_stdout $n
}

cat_cursor_into_a_closed_pipe_fails_without_committing_the_rest() {
    seq 1 100000 >"$D/in"
    run_in "$D/in" "$BIN" append "$LOG"
    "$BIN" cat --cursor c "$LOG" 2>"$ERR" | head -n 1 >"$OUT"
    rc=${PIPESTATUS[0]}
    expect_stdout 1
    expect_status 1 "cat --cursor whose reader went away"
    expect_one_error_line cat
    expect_stderr_has "Broken pipe; cursor c stays at seq"
    run "$BIN" cursor "$LOG" get c
    [ "$(cat "$OUT")" -lt 100000 ] || fail "the cursor moved to the end though the pipe was closed"
}

info_lists_cursors_with_their_lag() {
    run "$BIN" append "$LOG" a b c d e
    run "$BIN" cursor "$LOG" set late 1
    run "$BIN" cursor "$LOG" set done 5
    run "$BIN" info "$LOG"
    expect_status 0 "info"
    [ "$(info_value cursors)" = 2 ] || fail "cursors: '$(info_value cursors)', expected 2"
    expect_stdout_has "^done  seq 5  lag 0 records, 0 bytes"
    expect_stdout_has "^late  seq 1  lag 4 records, $(( $(info_value bytes) * 4 / 5 )) bytes"
    run "$BIN" info -o json "$LOG"
    expect_json_lines
    json_field 1 cursors | grep -Eq '"name": ?"late", ?"seq": ?1,.*"lag_records": ?4' ||
        fail "info json lacks cursor late: $(json_field 1 cursors)"
}

# ---- tail -------------------------------------------------------------------

# A log of the records 1..25 (seqs 0..24).
make_log_of_25() {
    seq 1 25 >"$D/in"
    "$BIN" append "$LOG" <"$D/in"
}

tail_prints_the_last_10_records_in_order() {
    make_log_of_25
    run "$BIN" tail "$LOG"
    expect_status 0 "tail"
    expect_stdout "$(seq 16 25)"
    expect_stderr_empty
}

tail_count_prints_that_many() {
    make_log_of_25
    run "$BIN" tail -n 3 "$LOG"
    expect_status 0 "tail -n 3"
    expect_stdout $'23\n24\n25'
    run "$BIN" tail --count 1 "$LOG"
    expect_status 0 "tail --count 1"
    expect_stdout "25"
}

tail_count_0_prints_nothing() {
    make_log_of_25
    run "$BIN" tail -n 0 "$LOG"
    expect_status 0 "tail -n 0"
    expect_stdout ""
    expect_stderr_empty
}

tail_count_larger_than_the_log_prints_all_of_it() {
    make_log_of_25
    run "$BIN" tail -n 26 "$LOG"
    expect_status 0 "tail -n 26"
    expect_stdout "$(seq 1 25)"
    run "$BIN" tail -n 18446744073709551615 "$LOG"
    expect_status 0 "tail -n UINT64_MAX"
    expect_stdout "$(seq 1 25)"
    run_in /dev/null "$BIN" append "$D/empty"
    run "$BIN" tail "$D/empty"
    expect_status 0 "tail of an empty log"
    expect_stdout ""
}

tail_durable_shows_only_records_on_stable_storage() {
    # Kernel records of a writer that still has the log open are not
    # durable yet...
    start_fed_writer -d kernel "$LOG"
    printf 'k1\nk2\nk3\n' >&6
    wait_for_records "$LOG" 3 || return
    run "$BIN" tail --durable "$LOG"
    expect_status 0 "tail --durable after kernel appends"
    expect_stdout ""
    run "$BIN" tail "$LOG"
    expect_stdout $'k1\nk2\nk3'
    # ...until the last writer closes the log, which syncs it.
    exec 6>&-
    wait "$writer_pid"
    run "$BIN" tail --durable "$LOG"
    expect_status 0 "tail --durable after the writer closed"
    expect_stdout $'k1\nk2\nk3'
    run "$BIN" append -d sync "$LOG" s1 s2
    run "$BIN" tail --durable "$LOG"
    expect_status 0 "tail --durable after a sync append"
    expect_stdout $'k1\nk2\nk3\ns1\ns2'
    run "$BIN" tail --durable -n 2 -o json "$LOG"
    expect_json_field 1 seq 3
    expect_json_field 2 data s2
}

tail_json_gives_seq_time_and_data_of_the_last_records() {
    make_log_of_25
    run "$BIN" tail -n 3 -o json "$LOG"
    expect_status 0 "tail -o json"
    expect_json_lines
    [ "$(wc -l <"$OUT")" -eq 3 ] || fail "expected 3 JSON lines, got $(wc -l <"$OUT")"
    expect_json_field 1 seq 22
    expect_json_field 1 data 23
    expect_json_field 3 seq 24
    expect_json_field 3 data 25
    [[ "$(json_field 2 time)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z$ ]] ||
        fail "time '$(json_field 2 time)' is not RFC 3339 UTC with nanoseconds"
    run "$BIN" tail --output=json -n 1 "$LOG"
    expect_json_field 1 seq 24
}

# wait_for_lines FILE N: polls up to 5 s until FILE has at least N lines.
wait_for_lines() {
    local i
    for i in $(seq 50); do
        [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# stop_follower PID SIGNAL: sends SIGNAL and sets $rc to PID's exit status;
# kills it and fails if it has not exited 5 s later.
stop_follower() {
    local i
    kill -"$2" "$1" 2>/dev/null
    for i in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        fail "tail -f still runs 5 s after SIG$2"
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1"
    rc=$?
}

tail_follow_prints_new_records_until_sigint() {
    local pid
    run "$BIN" append "$LOG" a b
    "$BIN" tail -f "$LOG" >"$OUT" 2>"$ERR" &
    pid=$!
    wait_for_lines "$OUT" 2 || fail "tail -f did not print the existing records within 5 s"
    # Not with `run`: $OUT is the follower's output.
    "$BIN" append "$LOG" c d e || fail "append while tail -f runs failed"
    wait_for_lines "$OUT" 5 || fail "tail -f did not print the 3 new records within 5 s"
    stop_follower "$pid" INT
    expect_status 0 "tail -f stopped by SIGINT"
    expect_stdout $'a\nb\nc\nd\ne'
    expect_stderr_empty
}

tail_follow_stops_cleanly_on_sigterm() {
    local pid
    run "$BIN" append "$LOG" a
    "$BIN" tail -f -n 0 -o json "$LOG" >"$OUT" 2>"$ERR" &
    pid=$!
    sleep 0.3
    "$BIN" append "$LOG" b || fail "append while tail -f runs failed"
    wait_for_lines "$OUT" 1 || fail "tail -f -n 0 did not print the new record within 5 s"
    stop_follower "$pid" TERM
    expect_status 0 "tail -f stopped by SIGTERM"
    expect_json_lines
    [ "$(wc -l <"$OUT")" -eq 1 ] || fail "expected only the new record, got $(wc -l <"$OUT") lines"
    expect_json_field 1 seq 1
    expect_json_field 1 data b
    expect_stderr_empty
}

tail_follow_into_a_closed_pipe_exits_0_quietly() {
    run "$BIN" append "$LOG" a b c
    timeout -s KILL 10 "$BIN" tail -f "$LOG" 2>"$ERR" | head -n 1 >"$OUT"
    rc=${PIPESTATUS[0]}
    expect_stdout a
    expect_status 0 "tail -f whose reader went away while it waited"
    expect_stderr_empty
    # Here the reader goes away while tail -f is still writing (EPIPE).
    seq 1 100000 >"$D/in"
    "$BIN" append "$LOG" <"$D/in"
    timeout -s KILL 10 "$BIN" tail -f -n 100000 "$LOG" 2>"$ERR" | head -n 1 >"$OUT"
    rc=${PIPESTATUS[0]}
    expect_stdout 1
    expect_status 0 "tail -f whose reader went away while it wrote"
    expect_stderr_empty
}

tail_bad_arguments_are_usage_errors() {
    run "$BIN" append "$LOG" a
    run "$BIN" tail --bogus "$LOG"
    expect_usage_error
    expect_stderr_has "bogus"
    run "$BIN" tail -n -1 "$LOG"
    expect_usage_error
    run "$BIN" tail -n x "$LOG"
    expect_usage_error
    run "$BIN" tail -o xml "$LOG"
    expect_usage_error
    expect_stderr_has "xml"
    run "$BIN" tail
    expect_usage_error
    run "$BIN" tail "$LOG" "$LOG"
    expect_usage_error
    expect_stdout ""
}

# ---- --since and --until (cat, tail) ----------------------------------------

# Appends a, b, c in three processes and sets TA, TB, TC to their times, as
# `cat -o json` prints them (RFC 3339 with nanoseconds).
append_three_timed() {
    local r
    for r in a b c; do
        "$BIN" append "$LOG" "$r" || fail "append $r failed"
    done
    run "$BIN" cat -o json "$LOG"
    TA=$(json_field 1 time)
    TB=$(json_field 2 time)
    TC=$(json_field 3 time)
    [ "$TA" != "$TB" ] && [ "$TB" != "$TC" ] || fail "records appended by three processes share a time: $TA $TB $TC"
}

cat_since_and_until_select_records_by_time() {
    append_three_timed
    run "$BIN" cat --since "$TB" "$LOG"
    expect_status 0 "cat --since b's time"
    expect_stdout $'b\nc'
    run "$BIN" cat --until "$TB" "$LOG"
    expect_status 0 "cat --until b's time"
    expect_stdout $'a\nb'
    run "$BIN" cat --since "$TB" --until "$TB" "$LOG"
    expect_stdout b
    run "$BIN" cat --since "$TA" --until "$TC" -n 2 "$LOG"
    expect_stdout $'a\nb'
    run "$BIN" cat --since 1970-01-01T00:00:00Z "$LOG"
    expect_stdout $'a\nb\nc'
    run "$BIN" cat --since -1h "$LOG"
    expect_status 0 "cat --since -1h"
    expect_stdout $'a\nb\nc'
    run "$BIN" cat --until -1h "$LOG"
    expect_status 0 "cat --until -1h"
    expect_stdout ""
    run "$BIN" cat --since 2500-01-01T00:00:00+01:00 "$LOG"
    expect_status 0 "cat --since a time past the last record"
    expect_stdout ""
}

cat_and_tail_bad_times_are_usage_errors_saying_why() {
    run "$BIN" append "$LOG" a
    local cmd bad
    for cmd in cat tail; do
        for bad in yesterday 2026-12-05 2026-12-05T14:00:00 2026-02-30T00:00:00Z -15 -15w ""; do
            run "$BIN" $cmd --since "$bad" "$LOG"
            expect_usage_error
            expect_stderr_has "since"
            run "$BIN" $cmd --until "$bad" "$LOG"
            expect_usage_error
            expect_stderr_has "until"
        done
    done
    run "$BIN" cat --since 2026-02-30T00:00:00Z "$LOG"
    expect_stderr_has "no day 30"
    run "$BIN" cat --from 0 --since -1h "$LOG"
    expect_usage_error
    expect_stderr_has "give one"
}

tail_since_prints_the_records_from_then_or_the_last_n_of_them() {
    append_three_timed
    run "$BIN" tail --since "$TB" "$LOG"
    expect_status 0 "tail --since b's time"
    expect_stdout $'b\nc'
    run "$BIN" tail -n 1 --since "$TA" "$LOG"
    expect_stdout c
    run "$BIN" tail -n 5 --since "$TB" "$LOG"
    expect_stdout $'b\nc'
    run "$BIN" tail --until "$TB" "$LOG"
    expect_stdout $'a\nb'
    run "$BIN" tail --since -1h -o json "$LOG"
    expect_json_field 1 seq 0
    run "$BIN" tail --since 2500-01-01T00:00:00Z "$LOG"
    expect_status 0 "tail --since a time past the last record"
    expect_stdout ""
}

tail_follow_until_exits_when_a_later_record_arrives() {
    append_three_timed
    local pid
    timeout -s KILL 20 "$BIN" tail -f --since "$TB" --until "$TC" "$LOG" >"$OUT" 2>"$ERR" &
    pid=$!
    wait_for_lines "$OUT" 2 || fail "tail -f --since did not print b and c within 5 s"
    "$BIN" append "$LOG" d || fail "append while tail -f runs failed"
    wait "$pid"
    rc=$?
    expect_status 0 "tail -f --until, once a record past it arrived"
    expect_stdout $'b\nc'
    expect_stderr_empty
}

tail_missing_log_fails_clearly() {
    run "$BIN" tail "$D/nothing"
    expect_status 1 "tail of a missing log"
    expect_one_error_line tail
    expect_stderr_has "$D/nothing"
    run timeout -s KILL 10 "$BIN" tail -f "$D/nothing"
    expect_status 1 "tail -f of a missing log"
    expect_one_error_line tail
}

# ---- info -------------------------------------------------------------------

info_reports_records_range_and_sizes() {
    run "$BIN" append -d sync "$LOG" a bb ccc
    run "$BIN" info "$LOG"
    expect_status 0 "info"
    [ "$(info_value segments)" = 1 ] || fail "segments: $(info_value segments)"
    [ "$(info_value records)" = 3 ] || fail "records: $(info_value records)"
    [ "$(info_value 'first seq')" = 0 ] || fail "first seq: $(info_value 'first seq')"
    [ "$(info_value 'last seq')" = 2 ] || fail "last seq: $(info_value 'last seq')"
    [ "$(info_value 'durable seq')" = 3 ] ||
        fail "durable seq after a sync append: $(info_value 'durable seq'), expected 3"
    [ "$(info_value bytes)" -gt 6 ] 2>/dev/null || fail "bytes: $(info_value bytes)"
    [ "$(info_value 'disk bytes')" -gt 0 ] 2>/dev/null || fail "disk bytes: $(info_value 'disk bytes')"
    run "$BIN" info -o json "$LOG"
    expect_status 0 "info -o json"
    expect_json_lines
    expect_json_field 1 records 3
    expect_json_field 1 first_seq 0
    expect_json_field 1 last_seq 2
    expect_json_field 1 next_seq 3
    expect_json_field 1 segments 1
}

info_json_of_an_empty_log_has_null_last_seq() {
    run_in /dev/null "$BIN" append "$LOG"
    run "$BIN" info -o json "$LOG"
    expect_status 0 "info -o json"
    expect_json_field 1 records 0
    expect_json_field 1 last_seq null
}

# A log with nothing missing: no "missing:" line, and "missing":0 in JSON
# (records no segment file holds; see trust.sh for a log missing some).
info_of_a_whole_log_reports_no_missing_records() {
    run_in /dev/null "$BIN" append "$LOG"
    run "$BIN" info -o json "$LOG"
    expect_status 0 "info -o json of an empty log"
    expect_json_field 1 missing 0
    run "$BIN" append "$LOG" a b c
    run "$BIN" info "$LOG"
    expect_status 0 "info"
    grep -q '^missing:' "$OUT" && fail "info of a whole log has a missing: line"
    [ "$(info_value records)" = 3 ] || fail "records: $(info_value records)"
    run "$BIN" info -o json "$LOG"
    expect_status 0 "info -o json"
    expect_json_field 1 missing 0
    expect_json_field 1 records 3
}

# A log of two short records takes a few pages on disk (issue #18): before,
# a new segment got 64 KiB at once, and 8 MiB more once the pre-faulter ran.
info_of_a_log_of_two_short_records_reports_a_few_pages_on_disk() {
    run "$BIN" append "$LOG" hello world
    expect_status 0 "append"
    run "$BIN" info "$LOG"
    expect_status 0 "info"
    [ "$(info_value records)" = 2 ] || fail "records: $(info_value records)"
    [ "$(info_value 'disk bytes')" -le 32768 ] 2>/dev/null ||
        fail "disk bytes: $(info_value 'disk bytes'), expected at most 32768"
}

info_missing_log_fails_clearly() {
    run "$BIN" info "$D/nothing"
    expect_status 1 "info of a missing log"
    expect_one_error_line info
    expect_stderr_has "$D/nothing"
}

# ---- check ------------------------------------------------------------------

check_clean_log_exits_0() {
    run "$BIN" append "$LOG" a b c
    run "$BIN" check "$LOG"
    expect_status 0 "check of a clean log"
    expect_stdout_has "clean"
    expect_stdout_has "records: *3"
    expect_stdout_has "0\.\.2"
    run "$BIN" check --repair "$LOG"
    expect_status 0 "check --repair of a clean log"
    compgen -G "$LOG/*.cut-*" >/dev/null && fail "a clean log got a side file"
}

# Ten records of 200 bytes; a byte of the third one's payload overwritten.
# Sets DAMAGED_RECORD_OFFSET to where that record starts in its segment.
make_log_damaged_in_the_middle() {
    local payload i per seg
    payload=$(head -c 200 /dev/zero | tr '\0' x)
    for i in 0 1 2 3 4 5 6 7 8 9; do printf '%s\n' "$payload"; done >"$D/in"
    "$BIN" append "$LOG" <"$D/in"
    per=$(($(bytes_of "$LOG") / 10))
    seg=$(only_segment "$LOG") || return 1
    DAMAGED_RECORD_OFFSET=$((SEGMENT_HEADER + 2 * per))
    overwrite "$seg" $((DAMAGED_RECORD_OFFSET + per / 2)) Q
}

check_flipped_byte_mid_log_exits_1_naming_segment_and_offset() {
    make_log_damaged_in_the_middle || return
    run "$BIN" check "$LOG"
    expect_status 1 "check of a damaged log"
    expect_stdout_has "damaged"
    expect_stdout_has "00000000000000000000\.seg"
    expect_stdout_has "offset $DAMAGED_RECORD_OFFSET\b"
    expect_stdout_has "--repair --force"
}

cat_of_a_damaged_log_fails_and_suggests_check() {
    make_log_damaged_in_the_middle || return
    run "$BIN" cat "$LOG"
    expect_status 1 "cat of a damaged log"
    expect_one_error_line cat
    expect_stderr_has "durlog check"
}

check_repair_refuses_damage_before_the_tail_without_force() {
    make_log_damaged_in_the_middle || return
    run "$BIN" check --repair "$LOG"
    expect_status 1 "check --repair of mid-log damage"
    expect_stdout_has "--force"
    run "$BIN" check --repair --force "$LOG"
    expect_status 0 "check --repair --force"
    compgen -G "$LOG/*.cut-*" >/dev/null || fail "no side file after the forced repair"
    [ "$(records_in "$LOG")" -eq 2 ] ||
        fail "after the forced repair: $(records_in "$LOG") records, expected the 2 before the damage"
}

check_repair_cuts_a_torn_tail_and_keeps_a_side_file() {
    local payload seg
    payload=$(head -c 200 /dev/zero | tr '\0' z)
    run "$BIN" append "$LOG" one two three "$payload"
    seg=$(only_segment "$LOG") || return
    # Tear the last record: overwrite 16 bytes well inside its payload.
    overwrite "$seg" $((SEGMENT_HEADER + $(bytes_of "$LOG") - 100)) QQQQQQQQQQQQQQQQ
    run "$BIN" check "$LOG"
    expect_status 1 "check of a torn tail"
    expect_stdout_has "torn tail"
    expect_stdout_has "check --repair"
    run "$BIN" check --repair "$LOG"
    expect_status 0 "check --repair"
    expect_stdout_has "repaired: .*offset"
    expect_stdout_has "status: *clean"
    compgen -G "$seg.cut-*" >/dev/null || fail "no side file $seg.cut-* after the repair"
    run "$BIN" cat "$LOG"
    expect_status 0 "cat after the repair"
    expect_stdout $'one\ntwo\nthree'
    run "$BIN" append "$LOG" four
    run "$BIN" cat --from 3 "$LOG"
    expect_stdout "four"
}

check_repair_while_a_writer_has_the_log_open_is_refused() {
    local pid i seg payload
    payload=$(head -c 200 /dev/zero | tr '\0' z)
    run "$BIN" append "$LOG" a
    mkfifo "$D/fifo"
    "$BIN" append "$LOG" <"$D/fifo" &
    pid=$!
    exec 3>"$D/fifo"
    echo "$payload" >&3
    # The writer is open once its record is visible.
    for i in $(seq 100); do
        [ "$(records_in "$LOG")" -eq 2 ] && break
        sleep 0.05
    done
    # Damage under the open writer (its open would have cut a torn tail).
    seg=$(only_segment "$LOG")
    overwrite "$seg" $((SEGMENT_HEADER + $(bytes_of "$LOG") - 100)) QQQQ
    run "$BIN" check --repair "$LOG"
    exec 3>&-
    wait "$pid"
    expect_status 1 "check --repair under a writer"
    expect_one_error_line check
    expect_stderr_has "writer has the log open"
}

check_missing_log_fails_clearly() {
    run "$BIN" check "$D/nothing"
    expect_status 1 "check of a missing log"
    expect_one_error_line check
}

check_of_a_directory_without_a_log_fails_instead_of_saying_clean() {
    mkdir "$D/plain" && echo notes >"$D/plain/notes.txt"
    run "$BIN" check "$D/plain"
    expect_status 1 "check of a directory that holds no log"
    expect_one_error_line check
    expect_stderr_has "not a durlog log"
}

check_force_without_repair_is_a_usage_error() {
    run "$BIN" append "$LOG" a
    run "$BIN" check --force "$LOG"
    expect_usage_error
}

# ---- put --------------------------------------------------------------------

put_copies_a_file_and_keeps_the_old_mode() {
    head -c 3000000 /dev/urandom >"$D/src"
    printf 'old\n' >"$D/dest"
    chmod 640 "$D/dest"
    run "$BIN" put "$D/src" "$D/dest"
    expect_status 0
    expect_stderr_empty
    cmp -s "$D/src" "$D/dest" || fail "DEST differs from SRC"
    [ "$(stat -c %a "$D/dest")" = 640 ] || fail "mode $(stat -c %a "$D/dest"), expected 640"
    ls -A "$D" | grep -q '^\.durlog-put\.' && fail "a temporary file was left"
    true
}

put_reads_standard_input_for_dash() {
    printf 'from stdin\nline 2\n' >"$D/in"
    run_in "$D/in" "$BIN" put - "$D/dest"
    expect_status 0
    cmp -s "$D/in" "$D/dest" || fail "DEST differs from standard input"
}

put_shows_progress_on_a_pipe_only_when_asked() {
    head -c 20000000 /dev/urandom >"$D/src"
    run "$BIN" put "$D/src" "$D/dest"
    expect_stderr_empty
    run "$BIN" put --progress "$D/src" "$D/dest"
    expect_status 0
    expect_stderr_has "^put 20000000 bytes (19.1 MiB) to .*dest in .* s (.*/s), on stable storage$"
    # A line a second, also while the source sends nothing.
    { head -c 1000000 /dev/zero; sleep 1.5; head -c 1000 /dev/zero; } |
        "$BIN" put --progress - "$D/dest" >"$OUT" 2>"$ERR"
    rc=$?
    expect_status 0
    expect_stderr_has "^976.6 KiB  .*/s$"
    expect_stderr_has "^put 1001000 bytes "
    run "$BIN" put --progress --no-sync "$D/src" "$D/dest"
    expect_stderr_has "not synced (--no-sync)"
    run "$BIN" put --progress --no-progress "$D/src" "$D/dest"
    expect_stderr_empty
}

put_interrupted_leaves_dest_untouched() {
    printf 'old\n' >"$D/dest"
    # A source that sends some data, then nothing for a while.
    { head -c 100000 /dev/zero; sleep 4; } | "$BIN" put - "$D/dest" >"$OUT" 2>"$ERR" &
    local pid=$!
    sleep 0.5
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    expect_status 130
    expect_stderr_has "interrupted"
    [ "$(cat "$D/dest")" = old ] || fail "DEST changed"
    ls -A "$D" | grep -q '^\.durlog-put\.' && fail "a temporary file was left"
    true
}

put_mode_option_sets_the_permission_bits() {
    printf 'x' >"$D/src"
    run "$BIN" put --mode 604 "$D/src" "$D/dest"
    expect_status 0
    [ "$(stat -c %a "$D/dest")" = 604 ] || fail "mode $(stat -c %a "$D/dest"), expected 604"
    run "$BIN" put --mode 9 "$D/src" "$D/dest"
    expect_usage_error
    run "$BIN" put --mode 77777 "$D/src" "$D/dest"
    expect_usage_error
}

put_failures_leave_dest_untouched() {
    printf 'old\n' >"$D/dest"
    printf 'new\n' >"$D/src"
    run "$BIN" put "$D/missing" "$D/dest"
    expect_status 1
    expect_one_error_line put
    expect_stderr_has "missing: No such file or directory"
    run "$BIN" put "$D" "$D/dest"
    expect_status 1
    expect_stderr_has "is a directory"
    mkdir "$D/sub"
    run "$BIN" put "$D/src" "$D/sub"
    expect_status 1
    expect_one_error_line put
    expect_stderr_has "Is a directory"
    run "$BIN" put "$D/src" "$D/nodir/dest"
    expect_status 1
    expect_stderr_has "cannot reach .*nodir/dest (at \"nodir\"): No such file or directory"
    [ "$(cat "$D/dest")" = old ] || fail "DEST changed"
    ls -A "$D" | grep -q '^\.durlog-put\.' && fail "a temporary file was left"
    run "$BIN" put "$D/src" ""
    expect_status 1
    expect_one_error_line put
    expect_stderr_has "^durlog: put: no destination path: Invalid argument$"
    run "$BIN" put "$D/src"
    expect_usage_error
    run "$BIN" put "$D/src" "$D/dest" extra
    expect_usage_error
}

# The issue's case: root runs `durlog put x /tmp/out` where another user
# planted /tmp/out -> /etc/shadow. Here a scratch sticky world-writable
# directory, a link owned by nobody, and a scratch file as /etc/shadow.
put_refuses_another_users_link_in_a_sticky_directory() {
    [ "$(id -u)" -eq 0 ] || { skip "needs root, to give a link to nobody"; return; }
    mkdir -m 1777 "$D/tmp"
    chmod 1777 "$D/tmp"
    printf 'root:secret\n' >"$D/shadow"
    printf 'owned\n' >"$D/src"
    ln -s "$(realpath "$D/shadow")" "$D/tmp/out"
    chown -h nobody "$D/tmp/out" || { fail "cannot chown the link to nobody"; return; }
    run "$BIN" put "$D/src" "$D/tmp/out"
    expect_status 1
    expect_one_error_line put
    expect_stderr_has "not following the symbolic link .*/tmp/out, owned by uid 65534 .*protected_symlinks.*: Permission denied$"
    [ "$(cat "$D/shadow")" = root:secret ] || fail "the link's target was replaced"
    [ -L "$D/tmp/out" ] || fail "the link was replaced"
    ls -A "$D" "$D/tmp" | grep -q '^\.durlog-put\.' && fail "a temporary file was left"
    # The caller's own link is followed, as cp would.
    chown -h "$(id -u)" "$D/tmp/out"
    run "$BIN" put "$D/src" "$D/tmp/out"
    expect_status 0
    [ "$(cat "$D/shadow")" = owned ] || fail "the caller's own link was not followed"
}

# The article's 4 GiB write, done whole: on tmpfs ($DURLOG_BIG_DIR, default
# /dev/shm) so that the suite does not write 8 GiB to the disk.
put_of_a_4_gib_file_reports_its_size_and_matches_its_checksum() {
    local big=${DURLOG_BIG_DIR:-/dev/shm} dir size=4294967296
    dir=$(mktemp -d "$big/durlog-cli-XXXXXX") || { fail "no scratch in $big"; return; }
    truncate -s "$size" "$dir/src"
    local at
    for at in 0 2047 2048 4095; do # MiB: marks around the 2 GiB cap
        head -c 1048576 /dev/urandom | dd of="$dir/src" bs=1M seek="$at" conv=notrunc status=none
    done
    run "$BIN" put --progress "$dir/src" "$dir/dest"
    expect_status 0
    expect_stderr_has "^put $size bytes (4.00 GiB) to "
    [ "$(stat -c %s "$dir/dest")" = "$size" ] || fail "DEST has $(stat -c %s "$dir/dest") bytes"
    [ "$(cksum <"$dir/src")" = "$(cksum <"$dir/dest")" ] || fail "checksums differ"
    rm -rf "$dir"
}

# ---- bench -------------------------------------------------------------------

# One quick run checked through its JSON: every row, positive rates, the
# durlog rows' counts read back from their logs, the short write, the facts;
# the plot is valid SVG; the scratch directory is gone afterwards.
bench_quick_json_has_every_row_verified_and_plots() {
    run "$BIN" bench --quick --dir "$D" -o json --plot "$D/plot.svg"
    expect_status 0
    expect_stderr_has "plot written to .*plot.svg"
    python3 - "$OUT" "$D/plot.svg" >>"$WHY" 2>&1 <<'PY' || fail "the JSON or the plot is wrong (above)"
import json, sys, xml.dom.minidom
doc = json.load(open(sys.argv[1]))
rows = {r["name"]: r for r in doc["rows"]}
want = ["stdio fwrite per line, one flush", "write() per line", "write() of 500 lines joined",
        "fwrite+fflush+fdatasync per line", "durlog buffered", "durlog kernel",
        "durlog interval (fdatasync every 1000 ms)", "durlog sync, 1 thread",
        "durlog sync, 4 threads", "durlog sync, 16 threads", "durlog sync, 64 threads",
        "one write() of 2148532224 bytes", "same bytes, durlog_put write-all"]
bad = [w for w in want if w not in rows]
assert not bad, "missing rows: %s" % bad
assert len(doc["rows"]) == len(want), "unexpected rows: %s" % list(rows)
for r in doc["rows"]:
    assert r["records_per_s"] > 0 and r["records"] > 0, "no rate: %s" % r
    assert 0 < r["ratio_to_fastest"] <= 1, r
    if r["group"] == "durlog":
        assert r["verified_records"] == r["records"], "not verified: %s" % r
cap = rows["one write() of 2148532224 bytes"]
assert cap["first_write_bytes"] == 2147479552 and cap["write_calls"] >= 2, cap
f = doc["facts"]
assert f["kernel"] and f["fs_type"] != "unknown" and f["cpu"] and f["engine"] in ("io_uring", "thread"), f
assert f["io_mode"] in ("mmap", "pwrite"), f
assert f["records"] == 20000 and f["size"] == 100 and f["quick"] is True, f
xml.dom.minidom.parse(sys.argv[2])
PY
    ls -d "$D"/durlog-bench-* >/dev/null 2>&1 && fail "scratch directory left behind"
    true
}

bench_csv_has_a_header_and_a_line_per_row() {
    run "$BIN" bench --quick --dir "$D" --records 2000 --levels kernel,sync --threads 2 -o csv
    expect_status 0
    head -1 "$OUT" | grep -q '^name,group,records,bytes,seconds,records_per_s,us_per_record,' ||
        fail "no CSV header"
    # 4 article rows, kernel, sync with 1 and 2 threads, 2 cap rows
    [ "$(wc -l <"$OUT")" -eq 10 ] || fail "$(wc -l <"$OUT") lines, expected 10"
    grep -q '^"durlog sync, 2 threads",durlog,' "$OUT" || fail "no sync 2 threads row"
}

bench_bad_arguments_fail_clearly() {
    run "$BIN" bench --levels kernel,bogus
    expect_usage_error
    expect_stderr_has "unknown level 'bogus'"
    run "$BIN" bench --threads 0
    expect_usage_error
    run "$BIN" bench --threads 1,,4
    expect_usage_error
    run "$BIN" bench --size 1
    expect_usage_error
    run "$BIN" bench -o xml
    expect_usage_error
    run "$BIN" bench --records 0
    expect_usage_error
    run "$BIN" bench --dir "$D/missing"
    expect_status 1
    expect_one_error_line bench
    expect_stderr_has "missing: No such file or directory"
    printf x >"$D/file"
    run "$BIN" bench --dir "$D/file"
    expect_status 1
    expect_stderr_has "Not a directory"
    run "$BIN" bench --dir "$D" --records 100000000000
    expect_status 1
    expect_stderr_has "too little free space"
    run "$BIN" bench --threads 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
    expect_usage_error
    run "$BIN" bench --threads 4,16,4
    expect_usage_error
    run "$BIN" bench --levels kernel,kernel
    expect_usage_error
    run "$BIN" bench --only "no such row"
    expect_usage_error
    expect_stderr_has "matches no row"
    # A directory the user may not write (the suite runs as root: as nobody).
    mkdir "$D/ro" && chmod 555 "$D/ro" && chmod o+x "$SCRATCH" "$D"
    run setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN" bench --quick --dir "$D/ro"
    chmod o-x "$SCRATCH" "$D"
    expect_status 1
    expect_one_error_line bench
    expect_stderr_has "cannot create a scratch directory in .*ro: Permission denied"
}

bench_prints_a_table_and_cleans_up_when_interrupted() {
    run "$BIN" bench --quick --records 1000 --only "write() per line" --dir "$D"
    expect_status 0
    expect_stdout_has "^row  *records  *records/s  *us/record  *vs fastest$"
    expect_stdout_has "^write() per line  *[0-9,]*  *[0-9,]*  *[0-9.]*  *1.0000$"
    # SIGINT during a long row: exit 130, the scratch directory removed.
    "$BIN" bench --dir "$D" --only "sync, 1 thread" --rounds 16 >"$OUT" 2>"$ERR" &
    local pid=$!
    sleep 0.7
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    expect_status 130
    expect_stderr_has "interrupted; scratch directory removed"
    ls -d "$D"/durlog-bench-* >/dev/null 2>&1 && fail "scratch directory left behind"
    true
}

# ---- the command line as a whole ------------------------------------------

unknown_command_is_a_usage_error() {
    run "$BIN" frobnicate "$LOG"
    expect_usage_error
    expect_stderr_has "frobnicate"
    run "$BIN"
    expect_usage_error
    run "$BIN" help frobnicate
    expect_usage_error
}

unknown_option_is_a_usage_error_for_every_command() {
    local cmd
    for cmd in append cat tail info cursor check put bench; do
        run "$BIN" "$cmd" --bogus "$LOG"
        expect_usage_error
        expect_stderr_has "^usage: durlog $cmd"
        expect_stderr_has "bogus"
        run "$BIN" "$cmd" -Z "$LOG"
        expect_usage_error
    done
    run "$BIN" --bogus
    expect_usage_error
}

help_of_every_command_exits_0_and_prints_its_usage() {
    local cmd
    for cmd in append cat tail info cursor check put bench; do
        run "$BIN" "$cmd" --help
        expect_status 0 "$cmd --help"
        expect_stdout_has "^usage: durlog $cmd"
        expect_stderr_empty
        run "$BIN" help "$cmd"
        expect_status 0 "help $cmd"
        expect_stdout_has "^usage: durlog $cmd"
    done
    run "$BIN" --help
    expect_status 0 "--help"
    for cmd in append cat tail info cursor check put bench; do expect_stdout_has "^  $cmd "; done
    run "$BIN" --version
    expect_status 0 "--version"
    expect_stdout_has "^durlog [0-9]*\.[0-9]*\.[0-9]*$"
}

[ -x "$BIN" ] || { echo "not ok durlog_binary_exists ($BIN)"; exit 1; }

# A log of lines 1..N in 4 KiB segments (about 200 records each).
small_segment_log() {
    seq 1 "$1" >"$D/in"
    run_in "$D/in" "$BIN" append --segment-size 4K "$LOG"
    expect_status 0 "append --segment-size 4K"
}

# The first seq of the oldest segment file of $LOG.
first_segment_seq() {
    local segs=("$LOG"/*.seg)
    local name=${segs[0]##*/}
    echo $((10#${name%.seg}))
}

trim_before_removes_the_oldest_segments_only() {
    local first
    small_segment_log 2000
    run "$BIN" trim --before 1000 -v "$LOG"
    expect_status 0 "trim --before 1000"
    first=$(first_segment_seq)
    [ "$first" -gt 0 ] && [ "$first" -le 1000 ] ||
        fail "first segment starts at $first, expected in 1..1000"
    expect_stdout "first seq $first
removed $first records"
    # Every record from there on, no other.
    run "$BIN" cat "$LOG"
    expect_stdout "$(seq $((first + 1)) 2000)"
    run "$BIN" info "$LOG"
    [ "$(info_value 'first seq')" = "$first" ] || fail "info: first seq $(info_value 'first seq'), expected $first"
    run "$BIN" check "$LOG"
    expect_status 0 "check after a trim"
    # Below the first record: DURLOG_ETRIMMED, naming it.
    run "$BIN" cat --from 0 "$LOG"
    expect_status 1 "cat --from below the first record"
    expect_stderr_has "first record is now $first"
}

trim_max_size_and_older_than() {
    local first before total
    small_segment_log 2000
    run "$BIN" trim --older-than 1d "$LOG"
    expect_status 0 "trim --older-than 1d"
    expect_stdout "first seq 0"
    run "$BIN" trim --max-size 10K "$LOG"
    expect_status 0 "trim --max-size 10K"
    first=$(first_segment_seq)
    expect_stdout "first seq $first"
    total=$(cat "$LOG"/*.seg | wc -c)
    [ "$total" -le 10240 ] || fail "segments total $total bytes after --max-size 10K"
    # The tail stays, whatever the limit.
    run "$BIN" trim --max-size 1 "$LOG"
    expect_status 0 "trim --max-size 1"
    [ "$(ls "$LOG"/*.seg | wc -l)" -eq 1 ] || fail "expected the tail alone: $(ls "$LOG")"
    run "$BIN" cat "$LOG"
    before=$(first_segment_seq)
    expect_stdout "$(seq $((before + 1)) 2000)"
}

trim_bad_arguments_are_usage_errors() {
    small_segment_log 10
    run "$BIN" trim "$LOG"
    expect_usage_error
    run "$BIN" trim --before 5 --max-size 1M "$LOG"
    expect_usage_error
    run "$BIN" trim --before x "$LOG"
    expect_usage_error
    run "$BIN" trim --max-size 0 "$LOG"
    expect_usage_error
    run "$BIN" trim --max-size 5X "$LOG"
    expect_usage_error
    run "$BIN" trim --older-than 5 "$LOG"
    expect_usage_error
    run "$BIN" trim --before 5
    expect_usage_error
    run "$BIN" trim --before 5 "$D/nothing"
    expect_status 1 "trim of a missing log"
    expect_one_error_line trim
    [ ! -e "$D/nothing" ] || fail "trim created a log"
}

tail_follow_goes_on_across_a_trim_and_says_what_it_missed() {
    local pid missed printed
    small_segment_log 2000
    "$BIN" tail -f -n 1 "$LOG" >"$OUT" 2>"$ERR" &
    pid=$!
    wait_for_lines "$OUT" 1 || fail "tail -f did not print the last record within 5 s"
    # Held still while 2000 more records come and the log is trimmed to its
    # last segments: it finishes the segment it holds, then must skip.
    kill -STOP "$pid"
    seq 2001 4000 >"$D/more"
    "$BIN" append --segment-size 4K "$LOG" <"$D/more" || fail "append failed"
    "$BIN" trim --before 3800 "$LOG" >/dev/null || fail "trim failed"
    kill -CONT "$pid"
    for i in $(seq 50); do
        [ "$(tail -n 1 "$OUT")" = 4000 ] && break
        sleep 0.1
    done
    stop_follower "$pid" INT
    expect_status 0 "tail -f stopped by SIGINT"
    expect_stderr_has "were removed by a trim before they were printed"
    missed=$(sed -n 's/.*(\([0-9]*\) records missed).*/\1/p' "$ERR")
    printed=$(wc -l <"$OUT")
    [ -n "$missed" ] && [ $((printed + missed)) -eq 2001 ] ||
        fail "printed $printed and missed '$missed' of 2001 records"
    [ "$(tail -n 1 "$OUT")" = 4000 ] || fail "the last record printed is $(tail -n 1 "$OUT")"
    # In order, with one jump: the one reported.
    [ "$(sort -n -c "$OUT" 2>&1)" = "" ] || fail "tail -f printed records out of order"
}


retention_is_kept_with_the_log_shown_by_info_and_applied_by_writers() {
    local n
    small_segment_log 3000
    run "$BIN" retention "$LOG"
    expect_status 0 "retention (print) of a log without settings"
    expect_stdout "none"
    run "$BIN" retention --max-size 20K --max-age 30d "$LOG"
    expect_status 0 "retention --max-size 20K --max-age 30d"
    expect_stdout "max size 20480 bytes, max age 2592000 s, cursors hold what they have not consumed"
    run "$BIN" retention "$LOG"
    expect_stdout "max size 20480 bytes, max age 2592000 s, cursors hold what they have not consumed"
    run "$BIN" info "$LOG"
    expect_stdout_has "^retention: *max size 20480 bytes, max age 2592000 s, cursors hold what they have not consumed$"
    run "$BIN" info -o json "$LOG"
    expect_stdout_has '"retention":{"max_bytes":20480,"max_age_ns":2592000000000000,"cursor_cap_bytes":0}'
    # The next writer applies them, even one that only appends a few records.
    "$BIN" append "$LOG" more || fail "append failed"
    n=$(cat "$LOG"/*.seg | wc -c)
    [ "$n" -le 20480 ] || fail "segments total $n bytes after a writer ran with --max-size 20K"
    run "$BIN" cat "$LOG"
    expect_status 0 "cat after retention"
    [ "$(tail -n 1 "$OUT")" = more ] || fail "the last record is $(tail -n 1 "$OUT")"
    run "$BIN" retention --none "$LOG"
    expect_stdout "none"
    run "$BIN" info -o json "$LOG"
    expect_stdout_has '"retention":{"max_bytes":0,"max_age_ns":0,"cursor_cap_bytes":0}'
}

retention_keeps_what_a_cursor_has_not_consumed_up_to_its_cap() {
    local n
    small_segment_log 3000
    run "$BIN" cursor "$LOG" set slow 0
    expect_status 0 "cursor set slow 0"
    run "$BIN" retention --max-size 20K "$LOG"
    expect_status 0 "retention --max-size 20K"
    "$BIN" append "$LOG" more || fail "append failed"
    run "$BIN" cat --cursor slow -n 1 "$LOG"
    expect_status 0 "cat --cursor slow after retention held the log"
    [ "$(head -n 1 "$OUT")" = 1 ] ||
        fail "the cursor's first record is $(head -n 1 "$OUT")"
    run "$BIN" retention --max-size 20K --cursor-cap 20K "$LOG"
    expect_status 0 "retention --cursor-cap 20K"
    expect_stdout "max size 20480 bytes, cursors hold at most 20480 bytes"
    "$BIN" append "$LOG" more2 || fail "append failed"
    n=$(cat "$LOG"/*.seg | wc -c)
    [ "$n" -le 20480 ] || fail "segments total $n bytes past the cursors' cap"
    run "$BIN" cat --cursor slow "$LOG"
    expect_status 1 "cat --cursor slow after the cap removed what it had not consumed"
    expect_stderr_has "removed"
    run "$BIN" retention --cursor-cap 0 "$LOG"
    expect_usage_error
}

retention_damaged_file_fails_info_and_bad_arguments_are_usage_errors() {
    small_segment_log 10
    run "$BIN" retention --max-size 1G "$LOG"
    expect_status 0 "retention --max-size 1G"
    printf 'durlog retention 1\nmax_bytes 5\n' >"$LOG/durlog.retention"
    run "$BIN" info "$LOG"
    expect_status 1 "info with a damaged retention file"
    expect_stdout_has "^retention: *unreadable"
    expect_stderr_has "durlog.retention is damaged"
    run "$BIN" retention "$LOG"
    expect_status 1 "retention (print) of a damaged file"
    expect_stderr_has "durlog.retention is damaged"
    # Setting them again repairs it.
    run "$BIN" retention --max-size 1G "$LOG"
    expect_status 0 "retention over a damaged file"
    run "$BIN" info "$LOG"
    expect_status 0 "info after the settings were set again"
    run "$BIN" retention --none --max-size 1G "$LOG"
    expect_usage_error
    run "$BIN" retention --max-size 0 "$LOG"
    expect_usage_error
    run "$BIN" retention --max-age 3 "$LOG"
    expect_usage_error
    run "$BIN" retention --max-size 1G "$D/nothing"
    expect_status 1 "retention of a missing log"
    [ ! -e "$D/nothing" ] || fail "retention created a log"
}

t append_args_then_cat_prints_them_in_order
t append_again_continues_the_sequence
t append_stdin_keeps_empty_lines_and_a_last_line_without_newline
t append_empty_stdin_creates_an_empty_log
t append_stdin_line_longer_than_the_read_buffer_is_one_record
t append_many_stdin_lines_keeps_every_line_in_order
t append_verbose_prints_each_seq
t append_verbose_buffered_reports_the_count
t append_reports_on_stderr_a_torn_tail_cut_on_open
t append_takes_arguments_after_log_as_records_even_with_dashes
t append_at_each_level_is_counted_by_info
t buffered_records_are_unseen_until_the_writer_exits_kernel_ones_at_once
t append_bad_level_is_a_usage_error
t append_without_log_is_a_usage_error
t append_as_root_to_another_users_log_needs_allow_foreign_owner
t append_where_the_log_cannot_be_created_fails_clearly
t cat_missing_log_fails_clearly
t cat_of_a_directory_that_is_not_a_log_fails_clearly
t cat_json_gives_seq_time_and_data
t cat_json_escapes_quotes_backslashes_and_control_characters
t cat_json_gives_base64_for_binary_payloads
t cat_count_limits_the_records
t cat_from_starts_at_that_seq
t cat_from_beyond_the_end_fails_naming_the_range
t cat_bad_numbers_are_usage_errors
t cat_bad_output_format_is_a_usage_error
t cat_into_a_closed_pipe_exits_quietly
t tail_prints_the_last_10_records_in_order
t tail_count_prints_that_many
t tail_count_0_prints_nothing
t tail_count_larger_than_the_log_prints_all_of_it
t tail_durable_shows_only_records_on_stable_storage
t tail_json_gives_seq_time_and_data_of_the_last_records
t tail_follow_prints_new_records_until_sigint
t tail_follow_stops_cleanly_on_sigterm
t tail_follow_into_a_closed_pipe_exits_0_quietly
t tail_bad_arguments_are_usage_errors
t cat_since_and_until_select_records_by_time
t cat_and_tail_bad_times_are_usage_errors_saying_why
t tail_since_prints_the_records_from_then_or_the_last_n_of_them
t tail_follow_until_exits_when_a_later_record_arrives
t tail_missing_log_fails_clearly
t cursor_set_get_list_delete
t cursor_set_replaces_a_damaged_cursor_file
t cat_cursor_resumes_where_the_last_run_stopped
t cat_cursor_killed_then_resumed_prints_every_record_at_least_once
t cat_cursor_into_a_closed_pipe_fails_without_committing_the_rest
t info_lists_cursors_with_their_lag
t info_reports_records_range_and_sizes
t info_json_of_an_empty_log_has_null_last_seq
t info_of_a_whole_log_reports_no_missing_records
t info_of_a_log_of_two_short_records_reports_a_few_pages_on_disk
t info_missing_log_fails_clearly
t check_clean_log_exits_0
t check_flipped_byte_mid_log_exits_1_naming_segment_and_offset
t cat_of_a_damaged_log_fails_and_suggests_check
t check_repair_refuses_damage_before_the_tail_without_force
t check_repair_cuts_a_torn_tail_and_keeps_a_side_file
t check_repair_while_a_writer_has_the_log_open_is_refused
t check_missing_log_fails_clearly
t check_of_a_directory_without_a_log_fails_instead_of_saying_clean
t check_force_without_repair_is_a_usage_error
t put_copies_a_file_and_keeps_the_old_mode
t put_reads_standard_input_for_dash
t put_shows_progress_on_a_pipe_only_when_asked
t put_interrupted_leaves_dest_untouched
t put_mode_option_sets_the_permission_bits
t put_failures_leave_dest_untouched
t put_refuses_another_users_link_in_a_sticky_directory
t put_of_a_4_gib_file_reports_its_size_and_matches_its_checksum
t bench_quick_json_has_every_row_verified_and_plots
t bench_csv_has_a_header_and_a_line_per_row
t bench_bad_arguments_fail_clearly
t bench_prints_a_table_and_cleans_up_when_interrupted
t unknown_command_is_a_usage_error
t unknown_option_is_a_usage_error_for_every_command
t help_of_every_command_exits_0_and_prints_its_usage
t trim_before_removes_the_oldest_segments_only
t trim_max_size_and_older_than
t trim_bad_arguments_are_usage_errors
t tail_follow_goes_on_across_a_trim_and_says_what_it_missed
t retention_is_kept_with_the_log_shown_by_info_and_applied_by_writers
t retention_damaged_file_fails_info_and_bad_arguments_are_usage_errors
t retention_keeps_what_a_cursor_has_not_consumed_up_to_its_cap

[ "$failed" -eq 0 ]
