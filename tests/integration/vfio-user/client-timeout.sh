#!/bin/bash
# The vfio-user client never waits for ever (issue 9, finding 3): a stopped (SIGSTOP)
# server makes a request fail after the timeout= of the spec, and SIGINT / SIGTERM
# cancel a command blocked on it, before the first reply or in the middle of pre-copy;
# the source server, once continued, is RUNNING with its state intact.
# Needs VFIO_MIG (the tool); run from the source tree (sources tests/integration/lib.sh).
. "$(dirname "$0")/../lib.sh"

if ! "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	skip "vfio-mig serve is not built"
	done_testing
	exit 0
fi

PIDS=()
cleanup_hook() { for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; wait 2>/dev/null; }

serve() { # serve NAME SPEC: SERVE_PID
	local sock="$TMP/$1.sock" i
	"$VFIO_MIG" serve --socket "$sock" --device "$2" 2>"$TMP/$1.err" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	for i in $(seq 1 1500); do
		[ -S "$sock" ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.02
	done
	return 1
}
info_of() { "$VFIO_MIG" info "unix:$TMP/$1.sock" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1; }
# connected PID: waits (at most 20 s) until PID holds a socket, i.e. it has installed its
# signal handlers and is connecting to or waiting on a server.
connected() {
	local i
	for i in $(seq 1 1000); do
		ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'socket:' && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
# ends PID SECONDS: waits for PID to exit, at most SECONDS; ENDED_RC, ENDED_MS.
ends() {
	local t0 i
	t0=$(date +%s%N)
	for i in $(seq 1 $(($2 * 50))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.02
	done
	ENDED_MS=$((($(date +%s%N) - t0) / 1000000))
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		wait "$1" 2>/dev/null
		ENDED_RC=timeout
		return 1
	fi
	wait "$1"
	ENDED_RC=$?
}

check "serve a (source)" serve a local:testdev,size=256M,seed=1,dirty-rate=0
A=$SERVE_PID
check "serve b (destination)" serve b local:testdev,size=256M,seed=2,dirty-rate=0
sum_a=$(info_of a checksum)

# A stopped server: the request times out.
kill -STOP "$A"
"$VFIO_MIG" info "unix:$TMP/a.sock,timeout=1" >"$TMP/info.out" 2>"$TMP/info.err" &
I=$!
if ends "$I" 20 && [ "$ENDED_RC" = 1 ] && grep -q 'silent for 1 s' "$TMP/info.err"; then
	ok "info on a stopped server fails after its timeout=1 (in ${ENDED_MS} ms)"
else
	nok "info on a stopped server: exit $ENDED_RC after ${ENDED_MS} ms"
	sed 's/^/# /' "$TMP/info.err"
fi

# Blocked before the first reply: SIGINT and SIGTERM cancel.
for sig in INT TERM; do
	"$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to "unix:$TMP/b.sock" >"$TMP/m.out" 2>"$TMP/m.err" &
	M=$!
	connected "$M"
	sleep 0.3
	kill -"$sig" "$M"
	if ends "$M" 5 && [ "$ENDED_RC" = 1 ] && grep -qi 'cancel' "$TMP/m.err"; then
		ok "SIG$sig cancels migrate blocked on a stopped source (exit 1 after ${ENDED_MS} ms)"
	else
		nok "SIG$sig: migrate exit $ENDED_RC after ${ENDED_MS} ms"
		sed 's/^/# /' "$TMP/m.err"
	fi
done
"$VFIO_MIG" save -q --device "unix:$TMP/a.sock" -o "$TMP/a.vfm" >"$TMP/s.out" 2>"$TMP/s.err" &
S=$!
connected "$S"
sleep 0.3
kill -TERM "$S"
ends "$S" 5 && [ "$ENDED_RC" = 1 ] && ok "SIGTERM cancels save on a stopped source (${ENDED_MS} ms)" ||
	{ nok "SIGTERM: save exit $ENDED_RC after ${ENDED_MS} ms"; sed 's/^/# /' "$TMP/s.err"; }
kill -CONT "$A"
check "the source answers again once continued" test "$(info_of a state)" = RUNNING
check "its state is intact" test "$(info_of a checksum)" = "$sum_a"

# Stopped in the middle of pre-copy: SIGINT cancels, the source recovers RUNNING.
"$VFIO_MIG" migrate --from "unix:$TMP/a.sock" --to "unix:$TMP/b.sock" >"$TMP/m.out" 2>"$TMP/m.err" &
M=$!
for i in $(seq 1 1500); do
	grep -q '^pre-copy:' "$TMP/m.err" && break
	kill -0 "$M" 2>/dev/null || break
	sleep 0.01
done
kill -STOP "$A"
if grep -q '^pre-copy:' "$TMP/m.err" && kill -0 "$M" 2>/dev/null; then
	sleep 0.3
	kill -INT "$M"
	if ends "$M" 5 && [ "$ENDED_RC" = 1 ] && grep -qi 'cancel' "$TMP/m.err"; then
		ok "SIGINT cancels migrate whose source stopped in pre-copy (${ENDED_MS} ms)"
	else
		nok "SIGINT in pre-copy: exit $ENDED_RC after ${ENDED_MS} ms"
		sed 's/^/# /' "$TMP/m.err" | tail -n 5
	fi
else
	nok "migrate was not in pre-copy when the source was stopped"
	sed 's/^/# /' "$TMP/m.err" | tail -n 5
fi
kill -CONT "$A"
check "the source is RUNNING after the cancelled migration" test "$(info_of a state)" = RUNNING
check "with its state intact" test "$(info_of a checksum)" = "$sum_a"
check "the destination answers" test -n "$(info_of b state)"
done_testing
