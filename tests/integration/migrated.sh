#!/bin/bash
# A migrated source stays stopped: after `migrate --from unix:A --to unix:B` (and through
# `receive` over TCP), every later client of A, however many in a row and whatever they
# do short of starting it (info, a save begun again and cut), finds A STOP; only
# `vfio-mig resume` (SET RUNNING), a reset or a load starts it again, its state intact.
# (local: is covered in tests/unit/test_testdev.c, the server itself in
# tests/unit/test_vfio_user_server.c.)
. "$(dirname "$0")/lib.sh"

if ! "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	skip "vfio-mig serve is not built"
	done_testing
	exit 0
fi

PIDS=()
cleanup_hook() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }

serve() { # serve NAME SPEC
	local sock="$TMP/$1.sock"
	"$VFIO_MIG" serve --socket "$sock" --device "$2" 2>"$TMP/$1.err" &
	PIDS+=($!)
	for _ in $(seq 500); do
		[ -S "$sock" ] && return 0
		sleep 0.02
	done
	return 1
}
info_of() { "$VFIO_MIG" info "unix:$TMP/$1.sock" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1; }
stays_stopped() { # stays_stopped NAME WHAT: five clients in a row, each sees STOP
	local i st
	for i in 1 2 3 4 5; do
		st=$(info_of "$1" state)
		[ "$st" = STOP ] || { nok "$2: client $i of $1 sees '$st'"; return; }
	done
	ok "$2: five clients in a row see $1 STOP"
}

check "serve a" serve a testdev,size=4M,seed=1
check "serve b" serve b testdev,size=4M,seed=2
SUM=$(info_of a checksum)

# unix: -> unix:
check "migrate a -> b" "$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to "unix:$TMP/b.sock"
stays_stopped a "unix: -> unix:"
[ "$(info_of b state)" = RUNNING ] && [ "$(info_of b checksum)" = "$SUM" ] &&
	ok "b runs with a's state" || nok "b: $(info_of b state) $(info_of b checksum)"

# A save of the migrated source, complete or cut short, does not start it.
check "save the migrated source" "$VFIO_MIG" save -q --device "unix:$TMP/a.sock" -o "$TMP/a.vfm"
stays_stopped a "after a complete save"
check "a save read to a pipe that closes at once" bash -c \
	"'$VFIO_MIG' save -q --device 'unix:$TMP/a.sock' -o - | head -c 100 >/dev/null; true"
stays_stopped a "after a save cut short"

# The explicit act.
check "resume a" "$VFIO_MIG" resume "unix:$TMP/a.sock"
grep -q "STOP -> RUNNING" "$TMP/last.out" && ok "resume reports STOP -> RUNNING" || nok "resume said: $(last_out)"
[ "$(info_of a state)" = RUNNING ] && [ "$(info_of a checksum)" = "$SUM" ] &&
	ok "a RUNNING again with its state" || nok "a after resume: $(info_of a state)"
[ "$(info_of a state)" = RUNNING ] && ok "a stays RUNNING for the next client" || nok "a after resume"

# Over TCP through receive.
PORT=$((20000 + $$ % 20000))
"$VFIO_MIG" receive -q --listen "tcp:127.0.0.1:$PORT" --timeout 60 --device "unix:$TMP/b.sock" \
	>"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
for _ in $(seq 100); do
	ss -ltn 2>/dev/null | grep -q "127.0.0.1:$PORT " && break
	sleep 0.05
done
check "migrate a -> tcp: -> b" "$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to "tcp:127.0.0.1:$PORT"
wait "$RECV"
check "the receiver succeeded" test $? -eq 0
stays_stopped a "unix: -> tcp:"
[ "$(info_of b checksum)" = "$SUM" ] && ok "b holds a's state after TCP" || nok "b checksum after TCP"

# A reset starts it too (with its power-on state), and so does a load.
check "resume --reset a" "$VFIO_MIG" resume --reset "unix:$TMP/a.sock"
[ "$(info_of a state)" = RUNNING ] && ok "a RUNNING after a reset" || nok "a after reset: $(info_of a state)"
check "migrate a -> b again" "$VFIO_MIG" migrate -q --from "unix:$TMP/a.sock" --to "unix:$TMP/b.sock"
stays_stopped a "second migration"
check "load into the migrated source" "$VFIO_MIG" load -q --device "unix:$TMP/a.sock" -i "$TMP/a.vfm"
[ "$(info_of a state)" = RUNNING ] && [ "$(info_of a checksum)" = "$SUM" ] &&
	ok "a RUNNING after a load, with the loaded state" || nok "a after load: $(info_of a state)"

done_testing
