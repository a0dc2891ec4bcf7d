#!/bin/bash
# The threaded paths under ThreadSanitizer, printing TAP: a build of its own
# (-Db_sanitize=thread in build-tsan, or $TSAN_BUILD), then four devices migrating
# in-process (pre-copy, one stop-copy thread per device, the readers, the sample device's
# workload), between vfio-user server processes, and over TCP to a receive with a side
# channel per device; save and load of four devices; and the engine's unit tests
# (test_engine; test_live is left out: its timed pre-copy cases take minutes under TSan). Every
# process runs under TSan: any report, in any of them, fails its case.
#
# The devices have DMA memory, but no DMA writer (dma-rate): a device writing the memory
# while the engine copies it races by design, as real DMA races the VMM's copy of guest
# memory (dirty logging sends what changed again), and TSan would only report that.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${TSAN_BUILD:-build-tsan}
T=0
ok() { T=$((T + 1)); echo "ok $T - $*"; }
nok() { T=$((T + 1)); echo "not ok $T - $*"; }
skip_all() { echo "ok 1 - tsan # SKIP $*"; echo "1..1"; exit 0; }

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Db_sanitize=thread -Db_lundef=false -Dtests=true -Dbench=false \
		--buildtype=debugoptimized >"${TMPDIR:-/tmp}/tsan-setup.$$" 2>&1 ||
		{ cat "${TMPDIR:-/tmp}/tsan-setup.$$"; rm -f "${TMPDIR:-/tmp}/tsan-setup.$$"; skip_all "meson setup failed"; }
	rm -f "${TMPDIR:-/tmp}/tsan-setup.$$"
fi
if ! ninja -C "$BUILD" >"$BUILD/ninja.log" 2>&1; then
	tail -n 30 "$BUILD/ninja.log"
	nok "build with -Db_sanitize=thread"
	echo "1..$T"
	exit 1
fi
VFIO_MIG=$BUILD/tools/vfio-mig/vfio-mig
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
# Every report goes to $TMP/tsan.PID; a case passes when its commands succeed and no
# process wrote a report meanwhile.
export TSAN_OPTIONS="log_path=$TMP/tsan halt_on_error=0 exitcode=66 second_deadlock_stack=1"
reports() { cat "$TMP"/tsan.* 2>/dev/null; }
case_() { # case_ DESCRIPTION COMMAND...
	local desc=$1
	shift
	rm -f "$TMP"/tsan.*
	if "$@" >"$TMP/out" 2>"$TMP/err" && [ -z "$(reports)" ]; then
		ok "$desc"
	else
		nok "$desc"
		sed 's/^/# /' "$TMP/err" | tail -n 10
		reports | grep -E "WARNING: ThreadSanitizer|^    #[0-4] " | head -n 30 | sed 's/^/# /'
	fi
}
# The checksums two commands print must agree: the migration really ran.
same_sums() { # same_sums: "source checksum" lines against "destination checksum" lines
	local a b
	a=$(sed -n 's/.*source checksum: //p' "$TMP/out")
	b=$(sed -n 's/.*destination checksum: //p' "$TMP/out")
	[ -n "$a" ] && [ "$a" = "$b" ]
}

sums() { sed -n 's/^.*checksum: \([0-9a-f]*\)$/\1/p'; }
SPEC=testdev,size=8M,dirty-rate=16M,dma=8M
four_local() {
	local args=() i
	for i in 1 2 3 4; do args+=(--from "local:$SPEC,seed=$i" --to local:testdev,size=8M,dma=8M); done
	"$VFIO_MIG" migrate -q --allow-overrun -m 3000 "${args[@]}" && same_sums
}
case_ "four devices in-process: pre-copy, P2P, one stop-copy thread each, DMA" four_local

serve() { # serve NAME SPEC
	"$VFIO_MIG" serve --socket "$TMP/$1.sock" --device "$2" &
	PIDS+=($!)
	for _ in $(seq 200); do [ -S "$TMP/$1.sock" ] && return 0; sleep 0.05; done
	return 1
}
four_vfio_user() {
	local args=() i
	for i in 1 2 3 4; do
		serve "s$i" "testdev,size=8M,seed=$i,dirty-rate=16M" || return 1
		serve "d$i" testdev,size=8M || return 1
		args+=(--from "unix:$TMP/s$i.sock,dma=8M" --to "unix:$TMP/d$i.sock,dma=8M")
	done
	"$VFIO_MIG" migrate -q --allow-overrun -m 3000 "${args[@]}"
}
case_ "four devices between vfio-user server processes" four_vfio_user

PORT=$((21000 + $$ % 20000))
four_tcp() {
	local args=() dst=() i rc
	for i in 1 2 3 4; do
		args+=(--from "local:$SPEC,seed=$i")
		dst+=(--device local:testdev,size=8M,dma=8M)
	done
	"$VFIO_MIG" receive -q --listen tcp:127.0.0.1:$PORT --timeout 60 "${dst[@]}" >"$TMP/recv.out" &
	local recv=$!
	for _ in $(seq 200); do
		ss -ltn 2>/dev/null | grep -q "127.0.0.1:$PORT " && break
		sleep 0.05
	done
	"$VFIO_MIG" migrate -q --allow-overrun -m 3000 "${args[@]}" --to tcp:127.0.0.1:$PORT
	rc=$?
	wait $recv && [ $rc -eq 0 ] &&
		[ "$(sums <"$TMP/out")" = "$(sums <"$TMP/recv.out")" ] && [ -n "$(sums <"$TMP/out")" ]
}
case_ "four devices over TCP, a side channel per device" four_tcp

save_load() {
	local args=() dst=() i
	for i in 1 2 3 4; do
		args+=(--device "local:testdev,size=4M,seed=$i,dma=4M")
		dst+=(--device local:testdev,size=4M,dma=4M)
	done
	"$VFIO_MIG" save -q "${args[@]}" -o "$TMP/four.vfm" >/dev/null &&
		"$VFIO_MIG" load -q "${dst[@]}" -i "$TMP/four.vfm"
}
case_ "save and load four devices" save_load

for t in test_engine; do
	if [ -x "$BUILD/tests/unit/$t" ]; then
		case_ "unit: $t" env CMOCKA_MESSAGE_OUTPUT=TAP "$BUILD/tests/unit/$t"
	fi
done
echo "1..$T"
