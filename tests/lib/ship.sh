# tests/lib/ship.sh - what the tests of `durlog ship` and `durlog restore`
# (tests/ship.sh, tests/ship_hostile.sh) share, sourced after
# tests/lib/cli.sh and tests/lib/nats.sh: the processes they start in the
# background (BG, killed on exit with every server and the scratch
# directory), the tools they need, and `d`, the durlog command bounded in
# time.

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
