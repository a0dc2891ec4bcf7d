#!/bin/bash
# Every wait ends: receive, migrate, save and load against peers that stop (SIGSTOP), fall
# silent part way, or lie (tests/integration/hostile_peer.py), end on their own --timeout
# and within a second of SIGINT/SIGTERM, with the source RUNNING and its state intact.
# And a stream that is corrupt, too long or names an unknown section never loads.
. "$(dirname "$0")/lib.sh"
PEER="$(dirname "$0")/hostile_peer.py"
if ! command -v python3 >/dev/null || ! command -v ss >/dev/null; then
	skip "the hostile peers need python3 and ss (iproute2)"
	done_testing
	exit 0
fi
PORT=$((20000 + $$ % 20000))
LISTEN=tcp:127.0.0.1:$PORT

cleanup_hook() {
	jobs -p | xargs -r kill -CONT 2>/dev/null
	jobs -p | xargs -r kill -9 2>/dev/null
	wait 2>/dev/null
}
# gone_within PID S: the process ends within S seconds (else it is killed); its exit code
# in GONE_RC. The bound is a hang detector, far above what the command needs.
gone_within() {
	local pid=$1 s=$2 i
	for i in $(seq $((s * 20))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			GONE_RC=$?
			return 0
		fi
		sleep 0.05
	done
	kill -CONT "$pid" 2>/dev/null
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	GONE_RC=137
	return 1
}
listening() {
	for _ in $(seq 100); do
		ss -ltn 2>/dev/null | grep -q "127.0.0.1:$PORT " && return 0
		sleep 0.05
	done
	return 1
}
# receive_bg [ARGS...]: a receive of one 64 KiB sample device on $LISTEN, in RECV.
receive_bg() {
	"$VFIO_MIG" receive -q --listen $LISTEN --device local:testdev,size=64K "$@" \
		>"$TMP/recv.out" 2>"$TMP/recv.err" &
	RECV=$!
	listening
}
# hostile MODE: receive (--timeout 2) against a hostile source; passes when receive
# fails within 10 s with an error matching PATTERN.
hostile() {
	local mode=$1 pattern=$2 desc=$3
	# the peer runs (and retries its connection) before receive listens: the 2 s that
	# receive waits for it are not spent on starting python
	rm -f "$TMP/peer.ready"
	python3 "$PEER" "$mode" 127.0.0.1:$PORT "$TMP/s.vfm" "$TMP/peer.ready" 2>"$TMP/peer.err" &
	local peer=$!
	for _ in $(seq 200); do [ -e "$TMP/peer.ready" ] && break; sleep 0.05; done
	receive_bg --timeout 2
	if gone_within "$RECV" 10 && [ "$GONE_RC" -eq 1 ] && grep -Eq "$pattern" "$TMP/recv.err"; then
		ok "$desc"
	else
		nok "$desc (exit $GONE_RC)"
		sed 's/^/# /' "$TMP/recv.err" "$TMP/peer.err" | tail -n 5
	fi
	kill "$peer" 2>/dev/null
	wait "$peer" 2>/dev/null
}
# signal_ends SIG PID DESC: the process ends within 2 s of SIG, with exit code 1.
signal_ends() {
	kill -"$1" "$2"
	if gone_within "$2" 2 && [ "$GONE_RC" -eq 1 ]; then ok "$3"; else nok "$3 (exit $GONE_RC)"; fi
}

"$VFIO_MIG" save -q --device local:testdev,size=64K,seed=3 -o "$TMP/s.vfm" >/dev/null ||
	nok "a stream to send"

# --- receive ------------------------------------------------------------------------
for sig in INT TERM; do
	receive_bg
	signal_ends $sig $RECV "receive waiting for a connection ends on SIG$sig"
done
receive_bg
python3 "$PEER" quiet 127.0.0.1:$PORT "$TMP/s.vfm" "$TMP/quiet.ready" 2>/dev/null &
QUIET=$!
for _ in $(seq 200); do [ -e "$TMP/quiet.ready" ] && break; sleep 0.05; done
sleep 0.5
signal_ends TERM $RECV "receive holding a silent source ends on SIGTERM"
kill $QUIET 2>/dev/null
wait $QUIET 2>/dev/null
hostile quiet "sent nothing|moved nothing" "a source that sends 3 bytes and falls silent is given up on"
hostile commit-byte "before it committed.*moved nothing" "one byte of COMMIT does not hold receive"
hostile side-more "announced 4096 bytes.*carried 0" \
	"a side channel announcing more than the main channel carries is refused"
hostile two-writers "while its side channel carries|on the main channel before this one" \
	"main-channel data for a device its side channel writes is refused"
hostile abort-mid "the source aborted the migration" "an ABORT in the middle of a section is reported as such"

# --- migrate to a stopped receive: the source (a served device) stays RUNNING, intact --
if "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	"$VFIO_MIG" serve --socket "$TMP/a.sock" --device testdev,size=64M,seed=5 &
	for _ in $(seq 100); do [ -S "$TMP/a.sock" ] && break; sleep 0.05; done
	"$VFIO_MIG" info "unix:$TMP/a.sock" >"$TMP/last.out"
	SUM=$(checksum_of)
	source_intact() {
		"$VFIO_MIG" info "unix:$TMP/a.sock" >"$TMP/last.out" 2>&1
		grep -q "^state: RUNNING" "$TMP/last.out" && [ -n "$SUM" ] && [ "$(checksum_of)" = "$SUM" ]
	}
	for how in timeout INT TERM; do
		"$VFIO_MIG" receive -q --listen $LISTEN --device local:testdev,size=64M \
			>/dev/null 2>&1 &
		RECV=$!
		listening
		kill -STOP $RECV
		args=()
		[ $how = timeout ] && args=(--timeout 2)
		"$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to $LISTEN "${args[@]}" \
			>"$TMP/mig.out" 2>"$TMP/mig.err" &
		MIG=$!
		if [ $how = timeout ]; then
			if gone_within $MIG 15 && [ "$GONE_RC" -eq 1 ] && grep -q "moved nothing" "$TMP/mig.err"; then
				ok "migrate to a stopped receive ends on its --timeout"
			else
				nok "migrate to a stopped receive (exit $GONE_RC)"
				sed 's/^/# /' "$TMP/mig.err" | tail -n 5
			fi
		else
			sleep 1
			signal_ends $how $MIG "migrate to a stopped receive ends on SIG$how"
		fi
		source_intact && ok "the source is RUNNING with its state ($how)" ||
			nok "source after the $how: $(tr '\n' ' ' <"$TMP/last.out")"
		kill -CONT $RECV
		kill -9 $RECV 2>/dev/null
		wait $RECV 2>/dev/null
	done
else
	skip "vfio-user is not built: no migrate to a stopped receive"
fi

# --- save into a stopped reader, load from a silent writer ---------------------------
mkfifo "$TMP/fifo"
for how in timeout INT; do
	# the reader opens the pipe (the open waits for save's) and stops itself before it
	# reads a byte
	bash -c 'exec 3<"$0"; kill -STOP $$; exec cat <&3 >/dev/null' "$TMP/fifo" &
	READER=$!
	args=()
	[ $how = timeout ] && args=(--timeout 2)
	"$VFIO_MIG" save -q --device local:testdev,size=64M "${args[@]}" -o - >"$TMP/fifo" \
		2>"$TMP/save.err" &
	SAVE=$!
	if [ $how = timeout ]; then
		if gone_within $SAVE 15 && [ "$GONE_RC" -eq 1 ] && grep -q "moved nothing" "$TMP/save.err"; then
			ok "save into a stopped reader ends on its --timeout"
		else
			nok "save into a stopped reader (exit $GONE_RC)"
			sed 's/^/# /' "$TMP/save.err" | tail -n 5
		fi
	else
		sleep 0.5
		signal_ends $how $SAVE "save into a stopped reader ends on SIG$how"
	fi
	kill -9 $READER 2>/dev/null # stopped, it never read; it must not read the next save
	wait $READER 2>/dev/null
done
for how in timeout TERM; do
	(head -c 100 "$TMP/s.vfm"; sleep 30) >"$TMP/fifo" &
	WRITER=$!
	args=()
	[ $how = timeout ] && args=(--timeout 2)
	"$VFIO_MIG" load -q --device local:testdev,size=64K "${args[@]}" -i "$TMP/fifo" \
		>/dev/null 2>"$TMP/load.err" &
	LOAD=$!
	if [ $how = timeout ]; then
		if gone_within $LOAD 15 && [ "$GONE_RC" -eq 1 ] && grep -Eq "moved nothing|sent nothing" "$TMP/load.err"; then
			ok "load from a silent writer ends on its --timeout"
		else
			nok "load from a silent writer (exit $GONE_RC)"
			sed 's/^/# /' "$TMP/load.err" | tail -n 5
		fi
	else
		sleep 0.5
		signal_ends $how $LOAD "load from a silent writer ends on SIG$how"
	fi
	kill $WRITER 2>/dev/null
	wait $WRITER 2>/dev/null
done

# --- streams that must not load ------------------------------------------------------
cp "$TMP/s.vfm" "$TMP/t.vfm" && printf 'x' >>"$TMP/t.vfm"
expect_exit 1 "a byte after the end is refused" "$VFIO_MIG" load -q --device local:testdev,size=64K -i "$TMP/t.vfm"
grep -q "after the end of the stream" "$TMP/last.err" && ok "trailing bytes named" || nok "trailing bytes message"
cp "$TMP/s.vfm" "$TMP/t.vfm" && printf '\0' >>"$TMP/t.vfm"
expect_exit 1 "a second EOF is refused" "$VFIO_MIG" load -q --device local:testdev,size=64K -i "$TMP/t.vfm"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d.replace(b"\x04vfio",b"\x04vfiX",1))' \
	"$TMP/s.vfm" "$TMP/t.vfm"
expect_exit 1 "a section with an unknown idstr is refused" "$VFIO_MIG" load -q --device local:testdev,size=64K -i "$TMP/t.vfm"
grep -q "unknown section 'vfiX'" "$TMP/last.err" && ok "unknown idstr named" || nok "unknown idstr message"
check "a stream with DMA memory" "$VFIO_MIG" save -q --device local:testdev,size=64K,seed=4,dma=1M -o "$TMP/d.vfm"
check "loads as saved" "$VFIO_MIG" load -q --device local:testdev,size=64K,dma=1M -i "$TMP/d.vfm"
# flip one byte in the memory of the first block (after its section, size, iova, check)
python3 - "$TMP/d.vfm" "$TMP/t.vfm" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
at = d.index(b"\x02\x00\x00\x10\x00") + 5 + 8 + 8 + 16 + 12345
d[at] ^= 0x20
open(sys.argv[2], "wb").write(d)
EOF
expect_exit 1 "a flipped byte in the DMA memory is refused" "$VFIO_MIG" load -q --device local:testdev,size=64K,dma=1M -i "$TMP/t.vfm"
grep -q "integrity check" "$TMP/last.err" && ok "memory corruption named" || nok "memory corruption message"

done_testing
