#!/usr/bin/env bash
# bench/nats/baseline.sh - the plain nats.c baseline on loopback: starts a
# 3-node JetStream cluster (or one server with --single) with
# tests/lib/nats.sh, creates a file stream (R3, or R1 on one server),
# publishes COUNT 100-byte records with $B/bench/nats/nats_plain, then
# reads them back with the ordered and the pull consumer. Prints
# nats_plain's lines; every server is stopped on exit.
#   B=build-dev bash bench/nats/baseline.sh [--single] [COUNT [WINDOW]]
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
PLAIN=$B/bench/nats/nats_plain
[ -x "$PLAIN" ] || { echo "$PLAIN is not built (needs libnats-dev)" >&2; exit 1; }
single=0
[ "${1:-}" = --single ] && { single=1; shift; }
count=${1:-200000}
window=${2:-4096}
BASE=${DURLOG_TEST_DIR:-$B/testtmp}
mkdir -p "$BASE" || exit 1
SCRATCH=$(mktemp -d "$BASE/nats-baseline-XXXXXX") || exit 1
. tests/lib/nats.sh
trap 'nats_cleanup; rm -rf "$SCRATCH"' EXIT

if [ "$single" -eq 1 ]; then
    nats_single "$SCRATCH/nats" || exit 1
    replicas=1
else
    nats_cluster "$SCRATCH/nats" || exit 1
    replicas=3
fi
nats_wait_ready 30 || exit 1
run() {
    timeout 300 "$PLAIN" "$@" || exit 1
}
run create "$NATS_URL" BASE base.rec "$replicas" >/dev/null
echo "# $NATS_NODES node(s), R$replicas file stream, $count records of 100 bytes, window $window"
run publish "$NATS_URL" BASE base.rec "$count" "$window"
nats_wait_stream_msgs BASE "$count" 30 || exit 1
echo "# ordered push consumer (nats_plain's default)"
run consume "$NATS_URL" BASE base.rec "$count" ordered
echo "# pull consumer (batches of 10000, no acks)"
run consume "$NATS_URL" BASE base.rec "$count" pull
