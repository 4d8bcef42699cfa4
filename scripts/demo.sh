#!/usr/bin/env bash
# Builds durlog (library, command, tests, benchmarks) and runs the demo: the
# first origin article's experiment done right. The README's first command.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
make -j2 >/dev/null
echo "built: build/libdurlog.a build/libdurlog.so build/durlog"
build/demo/demo
