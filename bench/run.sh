#!/bin/bash
# Runs the benchmarks of a release build: bench/run.sh BUILD_DIR [bench options]
set -euo pipefail
build=${1:-build-bench}
shift || true
exec "$build/bench/vfm-bench" "$@"
