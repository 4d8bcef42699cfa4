#!/usr/bin/env bash
# Installs the peers the sync benchmarks compare durlog with (RocksDB's C
# library, Redis with redis-benchmark, the sqlite3 command): bench_sync and
# bench/peers.sh. Optional: the benchmarks skip what is missing.
set -euo pipefail
sudo=
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends librocksdb-dev redis-server redis-tools sqlite3
