#!/bin/bash
# Runs every tier of the test suite and ends with "N passed, N failed, N skipped".
#   unit + integration   under ASan+UBSan (gcc), through meson test (TAP, per case)
#   valgrind             the tool's main paths under memcheck, on a plain build
#   fuzz                 each libFuzzer target for a bounded time (clang)
#   tsan                 threaded paths under ThreadSanitizer (tests/tsan/run-tier.sh)
#   interop              outside peers (tests/interop/run-tier.sh)
#   kernel               real kernels + mtty under qemu (tests/kernel/run-tier.sh)
#   package              install, examples, ABI, Debian packages (tests/package/run-tier.sh)
# Usage: scripts/run-tests.sh [--only unit|valgrind|fuzz|tsan|interop|kernel|package]...
set -uo pipefail
cd "$(dirname "$0")/.."

ONLY=()
while [ $# -gt 0 ]; do
	case "$1" in
	--only) ONLY+=("$2"); shift 2 ;;
	*) echo "usage: $0 [--only TIER]..." >&2; exit 2 ;;
	esac
done
want() { [ ${#ONLY[@]} -eq 0 ] && return 0; local t; for t in "${ONLY[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

PASSED=0 FAILED=0 SKIPPED=0
FAILURES=()
record() { # record TIER NAME pass|fail|skip
	case "$3" in
	pass) PASSED=$((PASSED + 1)) ;;
	skip) SKIPPED=$((SKIPPED + 1)) ;;
	*) FAILED=$((FAILED + 1)); FAILURES+=("$1: $2") ;;
	esac
}

ASAN=${ASAN_BUILD:-build-asan}
PLAIN=${PLAIN_BUILD:-build-test}
FUZZ=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

setup() { # setup DIR ARGS...
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

if want unit; then
	echo "== unit and process-level tests (ASan+UBSan)"
	if setup "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false -Dtests=true \
		-Dbench=false --buildtype=debugoptimized && ninja -C "$ASAN" >"$ASAN/ninja.log" 2>&1; then
		meson test -C "$ASAN" --no-rebuild --print-errorlogs --num-processes 2 >"$ASAN/meson-test.out" 2>&1
		tail -n 15 "$ASAN/meson-test.out"
		while read -r verdict name; do
			record unit "$name" "$verdict"
		done < <(python3 scripts/tap-summary.py "$ASAN/meson-logs/testlog.json")
	else
		tail -n 40 "$ASAN/ninja.log"
		record unit build fail
	fi
fi

if want valgrind; then
	echo "== valgrind"
	if setup "$PLAIN" -Dtests=true -Dbench=false --buildtype=debug && ninja -C "$PLAIN" >/dev/null; then
		for t in tests/valgrind/*.sh; do
			if VFIO_MIG="$PLAIN/tools/vfio-mig/vfio-mig" bash "$t"; then
				record valgrind "$(basename "$t")" pass
			else
				record valgrind "$(basename "$t")" fail
			fi
		done
	else
		record valgrind build fail
	fi
fi

if want fuzz; then
	echo "== fuzz (${FUZZ_SECONDS}s per target)"
	if CC=clang setup "$FUZZ" -Dfuzz=true -Dtests=false -Dbench=false --buildtype=debugoptimized &&
		ninja -C "$FUZZ" >"$FUZZ/ninja.log" 2>&1; then
		for f in "$FUZZ"/tests/fuzz/fuzz_*; do
			[ -f "$f" ] && [ -x "$f" ] || continue
			name=$(basename "$f")
			corpus="tests/fuzz/corpus-${name#fuzz_}"
			work=$(mktemp -d)
			[ -d "$corpus" ] && cp "$corpus"/* "$work"/ 2>/dev/null
			if "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
				-artifact_prefix="$FUZZ/" "$work" >"$FUZZ/$name.log" 2>&1; then
				echo "$name: $(grep -E '^Done [0-9]+ runs' "$FUZZ/$name.log" | tail -1)"
				record fuzz "$name" pass
			else
				tail -n 30 "$FUZZ/$name.log"
				record fuzz "$name" fail
			fi
			rm -rf "$work"
		done
	else
		tail -n 40 "$FUZZ/ninja.log"
		record fuzz build fail
	fi
fi

# tap_tier NAME SCRIPT TITLE: a tier whose script prints TAP ("ok N - name",
# "not ok N - name", "ok N - name # SKIP why"); each line counts. A script that prints
# no TAP line at all is one failure.
tap_tier() {
	local tier=$1 script=$2 title=$3 out
	want "$tier" || return 0
	echo "== $title"
	if [ ! -x "$script" ]; then
		record "$tier" tier skip
		echo "$tier: SKIP: $script is missing"
		return 0
	fi
	out=$(mktemp)
	"$script" | tee "$out"
	while read -r verdict name; do
		record "$tier" "$name" "$verdict"
	done < <(sed -n 's/^\(ok\|not ok\) [0-9]* - \(.*\)$/\1 \2/p' "$out" |
		sed -e 's/^ok \(.*\) # SKIP.*/skip \1/' -e 's/^ok /pass /' -e 's/^not ok /fail /')
	if ! grep -q '^ok\|^not ok' "$out"; then record "$tier" tier fail; fi
	rm -f "$out"
}

# The tiers against outside peers and real kernels, each in its own folder.
tap_tier tsan tests/tsan/run-tier.sh "threaded paths under ThreadSanitizer"
tap_tier interop tests/interop/run-tier.sh "outside peers: libvfio-user, QEMU 11.1 as a vfio-user client"
tap_tier kernel tests/kernel/run-tier.sh "kernel tier (Linux 6.12 and 7.3 + mtty under qemu, QEMU 11.1 inside)"
tap_tier package tests/package/run-tier.sh "installed library, examples, ABI and Debian packages"

if [ ${#FAILURES[@]} -gt 0 ]; then
	echo "== failures"
	printf '  %s\n' "${FAILURES[@]}"
fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
