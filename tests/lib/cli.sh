# tests/lib/cli.sh - what the shell test scripts share (tests/cli.sh and
# tests/trust.sh, which test the `durlog` command; tests/abi.sh): sourced by
# them, never run on its own.
#
#   DURLOG_BIN       the command to test (default build/durlog)
#   DURLOG_TEST_DIR  scratch directory on a real disk (default build/testtmp)
#
# Each test is a shell function named for the behaviour it proves, run by
# `t NAME` in a fresh directory $D with $LOG = $D/log. It runs the command
# with `run`, then asserts with expect_*: a failed assertion records a reason
# (`fail`) and the test goes on, so one run shows every broken expectation.
# `t` prints "ok NAME" or "not ok NAME" plus the reasons and counts the
# failures in $failed; the script ends with `[ "$failed" -eq 0 ]`.

BIN=${DURLOG_BIN:-build/durlog}
BASE=${DURLOG_TEST_DIR:-build/testtmp}
mkdir -p "$BASE" || exit 1
# One scratch directory per script, named after it (cli-XXXXXX, trust-XXXXXX).
SCRATCH=$(mktemp -d "$BASE/$(basename "$0" .sh)-XXXXXX") || exit 1

# Removes the scratch directory, also where a test took permissions away.
remove_scratch() {
    chmod -R u+rwx "$SCRATCH" 2>/dev/null
    rm -rf "$SCRATCH"
}
trap remove_scratch EXIT

# run CMD...: runs it with stdout in $OUT, stderr in $ERR, status in $rc.
run() {
    "$@" >"$OUT" 2>"$ERR"
    rc=$?
}

# run_in INPUT_FILE CMD...: as run, with standard input from a file.
run_in() {
    local input=$1
    shift
    "$@" <"$input" >"$OUT" 2>"$ERR"
    rc=$?
}

fail() {
    printf '%s\n' "$*" >>"$WHY"
}

# skip REASON: the test cannot run here (say why, then return); reported as
# "skip NAME: REASON", never counted as passed.
skip() {
    printf '%s\n' "$*" >"$SKIP"
}

# The first bytes of a file, for failure reasons.
show() {
    head -c 400 "$1" | awk '{ print "    | " $0 }'
}

expect_status() {
    if [ "$rc" -ne "$1" ]; then
        fail "exit status $rc, expected $1 (${2:-}); stderr:"
        show "$ERR" >>"$WHY"
    fi
}

# expect_stdout TEXT: stdout is exactly TEXT (trailing newlines aside).
expect_stdout() {
    local got
    got=$(cat "$OUT")
    if [ "$got" != "$1" ]; then
        fail "stdout differs; expected:"
        printf '%s\n' "$1" | sed 's/^/    | /' >>"$WHY"
        fail "  got:"
        show "$OUT" >>"$WHY"
    fi
}

expect_stdout_has() {
    grep -q -e "$1" "$OUT" || { fail "stdout lacks /$1/:"; show "$OUT" >>"$WHY"; }
}

expect_stderr_has() {
    grep -q -e "$1" "$ERR" || { fail "stderr lacks /$1/:"; show "$ERR" >>"$WHY"; }
}

# Case-insensitive.
expect_stderr_has_i() {
    grep -qi -e "$1" "$ERR" || { fail "stderr lacks /$1/ (any case):"; show "$ERR" >>"$WHY"; }
}

expect_stderr_has_text() {
    grep -qF -e "$1" "$ERR" || { fail "stderr lacks \"$1\":"; show "$ERR" >>"$WHY"; }
}

# Case-insensitive.
expect_stderr_lacks() {
    if grep -qi -e "$1" "$ERR"; then
        fail "stderr has /$1/ (any case):"
        show "$ERR" >>"$WHY"
    fi
}

expect_stderr_empty() {
    [ ! -s "$ERR" ] || { fail "stderr not empty:"; show "$ERR" >>"$WHY"; }
}

# A runtime failure is one line on stderr, "durlog: COMMAND: ...".
expect_one_error_line() {
    local lines
    lines=$(wc -l <"$ERR")
    if [ "$lines" -ne 1 ] || ! grep -q "^durlog: $1: " "$ERR"; then
        fail "expected one line 'durlog: $1: ...' on stderr, got:"
        show "$ERR" >>"$WHY"
    fi
}

# A usage error: status 2 and the command's usage on stderr.
expect_usage_error() {
    expect_status 2 "usage error"
    expect_stderr_has "^usage: durlog"
}

# The value of a `key: value` line of `durlog info` in $OUT.
info_value() {
    sed -n "s/^$1: *\([^ ]*\).*/\1/p" "$OUT"
}

# overwrite FILE OFFSET TEXT: writes TEXT over the bytes at OFFSET.
overwrite() {
    printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# t NAME: runs test function NAME in a fresh directory $D (mode 755: some
# tests read it as another user) with $LOG = $D/log, $OUT, $ERR, the reasons
# of its failures in $WHY and why it was skipped in $SKIP. With T_REMOVE=1
# the directory goes once the test is done (for scripts whose logs are
# large).
failed=0
T_REMOVE=${T_REMOVE:-0}
t() {
    local name=$1
    D="$SCRATCH/$name"
    LOG="$D/log"
    OUT="$D/stdout"
    ERR="$D/stderr"
    WHY="$SCRATCH/$name.why"
    SKIP="$SCRATCH/$name.skip"
    mkdir -p "$D"
    chmod 755 "$D"
    : >"$WHY"
    : >"$SKIP"
    "$name"
    if [ -s "$SKIP" ] && [ ! -s "$WHY" ]; then
        echo "skip $name: $(cat "$SKIP")"
    elif [ -s "$WHY" ]; then
        echo "not ok $name"
        sed 's/^/  /' "$WHY"
        failed=$((failed + 1))
    else
        echo "ok $name"
    fi
    if [ "$T_REMOVE" = 1 ]; then
        chmod -R u+rwx "$D" 2>/dev/null
        rm -rf "$D" "$WHY" "$SKIP"
    fi
}
