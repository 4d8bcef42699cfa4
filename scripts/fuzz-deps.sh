#!/usr/bin/env bash
# Installs what `make fuzz` needs on Debian 12: clang and its libFuzzer and
# sanitizer runtimes, plus the build dependencies of scripts/deps.sh.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
clang_ver=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p')
if [ -z "$(ls /usr/lib/llvm-"${clang_ver:-14}"/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; then
    need+=("libclang-rt-${clang_ver:-14}-dev")
fi
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "fuzz-deps: need ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
