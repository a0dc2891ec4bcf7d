#!/bin/bash
# Installs the Debian 12 packages vfio-mig needs to build, test and demo.
# Usage: scripts/deps.sh [build|test|kernel|package]...   (default: build)
set -euo pipefail

build_pkgs=(build-essential meson ninja-build pkg-config libjson-c-dev libssl-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev valgrind iproute2 python3 openssl)
kernel_pkgs=(qemu-system-x86 linux-source-6.12 busybox-static flex bison bc libelf-dev
	libssl-dev cpio xz-utils rsync)
# The package tier: ABI checks, Debian packages, lintian.
package_pkgs=(abigail-tools debhelper dpkg-dev lintian python3 binutils)

want=()
for set in "${@:-build}"; do
	case "$set" in
	build) want+=("${build_pkgs[@]}") ;;
	test) want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
	kernel) want+=("${kernel_pkgs[@]}") ;;
	package) want+=("${package_pkgs[@]}") ;;
	*) echo "deps.sh: unknown set '$set'" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
