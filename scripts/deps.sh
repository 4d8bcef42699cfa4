#!/usr/bin/env bash
# Installs the Debian 12 packages durlog needs to build and test, if any are
# missing. Safe to run repeatedly; does nothing when all are installed.
set -euo pipefail
# pkgconf: the Makefile finds liburing and libisal through pkg-config
# (without liburing, the library would build with the thread engine only;
# without libisal, long buffers' CRC-32C with the CPU's instruction loop).
# The Python package (python/, scripts/python-tests.sh): its headers, setuptools,
# wheel, pip and pytest; tomli and exceptiongroup are pytest's own on
# Pythons before 3.11, which scripts/pyshim.sh lends to a non-Debian one;
# strace counts the fdatasyncs of its group-commit test.
# NATS shipping (ship/, issue #20): nats.c to build libdurlog-ship, and
# nats-server (with curl for its monitoring port and openssl for the TLS
# tests' certificates) for its tests and benchmarks.
packages=(gcc make libc6-dev pkgconf liburing-dev libisal-dev jq python3 e2fsprogs valgrind xfsprogs btrfs-progs bindfs fuse3 groff-base
          python3-dev python3-setuptools python3-wheel python3-pytest python3-pip python3-tomli python3-exceptiongroup
          strace nats-server libnats-dev curl openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
