#!/bin/bash
# Regenerates the ABI baseline of libvfio-mig.so, tests/package/libvfio-mig.abi, from the
# library as the tree builds it now. The package tier (tests/package/run-tier.sh) compares
# every build against it and fails on an incompatible change without a soname bump.
# Run it and commit the result when the ABI changes on purpose: after raising soversion
# in meson.build, or to record additions.
# Usage: scripts/abi-baseline.sh   (PACKAGE_BUILD: the build directory, default build-package)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${PACKAGE_BUILD:-build-package}

scripts/deps.sh build package
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --buildtype=debugoptimized -Dtests=false -Dbench=false --prefix=/usr
fi
meson configure "$BUILD" --prefix=/usr
ninja -C "$BUILD"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$BUILD" --no-rebuild --destdir "$root" >/dev/null
lib=$(find "$root" -name 'libvfio-mig.so.*.*.*' -type f)
tests/package/abi.sh dump "$lib" "$PWD/include/vfio-mig" tests/package/libvfio-mig.abi
echo "abi-baseline: tests/package/libvfio-mig.abi from $(basename "$lib"):" \
	"$(grep -c '<elf-symbol name=' tests/package/libvfio-mig.abi) symbols"
