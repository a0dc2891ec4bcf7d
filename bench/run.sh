#!/bin/bash
# Runs the benchmarks of a release build: bench/run.sh BUILD_DIR [bench options]
# The libvfio-user case needs libvfio-user (tests/interop/lib.sh builds it, cached) and
# the interop tier's test device on it, built here into BUILD_DIR/bench/; without the
# library's source its row says it did not run, and the line above the table says why.
set -euo pipefail
build=${1:-build-bench}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/interop/lib.sh
. "$here/../tests/interop/lib.sh"
if lvu=$(vfm_lvu_build 2>"$build/lvu.err") &&
	vfm_lvu_cc "$lvu" "$build/bench/lvu-device" "$here"/../tests/interop/lvu-device/*.c 2>>"$build/lvu.err"; then
	export VFM_LVU_DEVICE=$build/bench/lvu-device
else
	echo "libvfio-user case not run: $(head -n 1 "$build/lvu.err")"
	unset VFM_LVU_DEVICE
fi
exec "$build/bench/vfm-bench" "$@"
