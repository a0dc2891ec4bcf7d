#!/bin/bash
# vfio-user with real `vfio-mig serve` processes: the socket file, info and checksums
# through unix: specs, migrations between servers and to/from in-process devices, save
# and load through a server, a client killed mid-migration, SIGTERM and SIGINT.
# Needs VFIO_MIG (the tool); run from the source tree (sources tests/integration/lib.sh).
. "$(dirname "$0")/../lib.sh"

if ! "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	skip "vfio-mig serve is not built"
	done_testing
	exit 0
fi

PIDS=()
cleanup_hook() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }

# serve NAME SPEC: starts a server on $TMP/NAME.sock; SERVE_PID is its pid.
serve() {
	local sock="$TMP/$1.sock" i
	"$VFIO_MIG" serve --socket "$sock" --device "$2" 2>"$TMP/$1.err" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	for i in $(seq 1 500); do
		[ -S "$sock" ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.02
	done
	sed 's/^/# /' "$TMP/$1.err"
	return 1
}

state_of() { "$VFIO_MIG" info "unix:$TMP/$1.sock" 2>/dev/null | sed -n 's/^state: //p' | head -n 1; }

check "serve a" serve a local:testdev,size=8M,seed=1
A=$SERVE_PID
[ "$(stat -c %a "$TMP/a.sock")" = 600 ] && ok "socket mode 0600" || nok "socket mode $(stat -c %a "$TMP/a.sock")"
check "serve b" serve b local:testdev,size=8M,seed=2
B=$SERVE_PID

check "info through the socket" "$VFIO_MIG" info "unix:$TMP/a.sock"
via_sock=$(checksum_of)
check "info in process" "$VFIO_MIG" info local:testdev,size=8M,seed=1
[ -n "$via_sock" ] && [ "$via_sock" = "$(checksum_of)" ] && ok "checksum register matches the device" ||
	nok "checksum via socket '$via_sock'"

check "migrate a -> b" "$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to "unix:$TMP/b.sock"
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && [ "$(checksum_of 'source ')" = "$via_sock" ] &&
	ok "a -> b keeps the checksum" || nok "a -> b checksum"
check "b is RUNNING" test "$(state_of b)" = RUNNING
check "a, the migrated source, is left STOP (as QEMU leaves it), also after its client left" \
	test "$(state_of a)" = STOP

check "migrate local -> a" "$VFIO_MIG" migrate -q --from local:testdev,size=8M,seed=7 --to "unix:$TMP/a.sock"
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && ok "local -> unix checksum" || nok "local -> unix checksum"
check "migrate a -> local" "$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to local:testdev,size=8M,seed=9
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && ok "unix -> local checksum" || nok "unix -> local checksum"

check "save from a server" "$VFIO_MIG" save -q --device "unix:$TMP/b.sock" -o "$TMP/b.vfm"
saved=$(checksum_of)
check "load into a server" "$VFIO_MIG" load -q --device "unix:$TMP/a.sock" -i "$TMP/b.vfm"
[ -n "$saved" ] && [ "$(checksum_of)" = "$saved" ] && ok "save/load through servers" || nok "save/load checksum"
check "a RUNNING after load" test "$(state_of a)" = RUNNING
check "b left STOP after a complete save" test "$(state_of b)" = STOP
check "save --keep-running leaves the source RUNNING" "$VFIO_MIG" save -q --keep-running \
	--device "unix:$TMP/b.sock" -o "$TMP/b2.vfm"
check "b RUNNING after save --keep-running" test "$(state_of b)" = RUNNING

# A client killed in the middle of a large migration: both servers serve on, RUNNING.
check "serve big source" serve big local:testdev,size=512M,seed=3
BIG=$SERVE_PID
check "serve big destination" serve bigd local:testdev,size=512M,seed=4
"$VFIO_MIG" info "unix:$TMP/big.sock" >"$TMP/big.info"
big_sum=$(sed -n 's/^checksum: //p' "$TMP/big.info")
"$VFIO_MIG" migrate -q --from "unix:$TMP/big.sock" --to "unix:$TMP/bigd.sock" >/dev/null 2>&1 &
M=$!
sleep 0.15
kill -9 "$M" 2>/dev/null
wait "$M" 2>/dev/null
sleep 0.3
check "source RUNNING after the client died" test "$(state_of big)" = RUNNING
check "destination RUNNING after the client died" test "$(state_of bigd)" = RUNNING
check "source intact" "$VFIO_MIG" info "unix:$TMP/big.sock"
[ "$(checksum_of)" = "$big_sum" ] && ok "source checksum unchanged" || nok "source checksum changed"
check "migrate after the crash" "$VFIO_MIG" migrate -q --from "unix:$TMP/big.sock" --to "unix:$TMP/bigd.sock"
[ "$(checksum_of 'destination ')" = "$big_sum" ] && ok "retry migrates intact" || nok "retry checksum"

# Server to server at the edge sizes.
for size in 1 1048577 256M; do
	serve "s$size" "local:testdev,size=$size,seed=11" && serve "d$size" "local:testdev,size=$size,seed=12" &&
		ok "servers for $size bytes" || nok "servers for $size bytes"
	want=$("$VFIO_MIG" info "unix:$TMP/s$size.sock" | sed -n 's/^checksum: //p')
	check "migrate $size bytes between servers" "$VFIO_MIG" migrate -q --from "unix:$TMP/s$size.sock" \
		--to "unix:$TMP/d$size.sock"
	[ -n "$want" ] && [ "$(checksum_of 'destination ')" = "$want" ] && ok "$size bytes arrive intact" ||
		nok "$size bytes: checksum"
done

# The destination server killed in pre-copy and in stop-copy: the source lives on, intact.
for opt in "" --no-precopy; do
	phase=pre-copy
	[ -n "$opt" ] && phase=stop-copy
	serve "ks$phase" local:testdev,size=512M,seed=5 && KS=$SERVE_PID &&
		serve "kd$phase" local:testdev,size=512M && KD=$SERVE_PID || nok "servers for $phase"
	want=$("$VFIO_MIG" info "unix:$TMP/ks$phase.sock" | sed -n 's/^checksum: //p')
	"$VFIO_MIG" migrate -q $opt --from "unix:$TMP/ks$phase.sock" --to "unix:$TMP/kd$phase.sock" \
		>/dev/null 2>"$TMP/k.err" &
	M=$!
	sleep 0.1
	kill -9 "$KD"
	wait "$M"
	rc=$?
	[ $rc -eq 1 ] && ok "destination server killed in $phase: migrate fails" || nok "$phase: migrate exit $rc"
	[ "$(state_of "ks$phase")" = RUNNING ] && ok "$phase: source RUNNING" || nok "$phase: source $(state_of "ks$phase")"
	"$VFIO_MIG" info "unix:$TMP/ks$phase.sock" >"$TMP/last.out"
	[ "$(checksum_of)" = "$want" ] && ok "$phase: source checksum unchanged" || nok "$phase: source checksum"
	kill "$KS"
done

# The source server killed: the migration fails and the destination is reset.
serve ksrc local:testdev,size=512M,seed=6 && KS=$SERVE_PID && serve kdst local:testdev,size=512M &&
	ok "servers for the source kill" || nok "servers for the source kill"
"$VFIO_MIG" migrate -q --from "unix:$TMP/ksrc.sock" --to "unix:$TMP/kdst.sock" >/dev/null 2>&1 &
M=$!
sleep 0.1
kill -9 "$KS"
wait "$M"
rc=$?
[ $rc -eq 1 ] && ok "source server killed: migrate fails" || nok "source server killed: migrate exit $rc"
[ "$(state_of kdst)" = RUNNING ] && ok "source server killed: destination reset" ||
	nok "source server killed: destination $(state_of kdst)"

# Clean shutdown removes the socket.
kill -TERM "$A"
wait "$A"
check "SIGTERM exits 0" test $? -eq 0
[ ! -e "$TMP/a.sock" ] && ok "SIGTERM removes the socket" || nok "socket left after SIGTERM"
kill -INT "$B"
wait "$B"
check "SIGINT exits 0" test $? -eq 0
[ ! -e "$TMP/b.sock" ] && ok "SIGINT removes the socket" || nok "socket left after SIGINT"
kill -TERM "$BIG"

done_testing
