#!/usr/bin/env bash
# Installs the Debian 12 packages durlog needs to build and test, if any are
# missing. Safe to run repeatedly; does nothing when all are installed.
set -euo pipefail
# pkgconf: the Makefile finds liburing and libisal through pkg-config
# (without liburing, the library would build with the thread engine only;
# without libisal, long buffers' CRC-32C with the CPU's instruction loop).
packages=(gcc make libc6-dev pkgconf liburing-dev libisal-dev jq python3 e2fsprogs valgrind xfsprogs btrfs-progs bindfs fuse3 groff-base)
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
