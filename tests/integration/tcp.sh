#!/bin/bash
# Migration between two hosts over TCP: two network namespaces joined by a veth pair
# (addresses that exist only inside these namespaces), a vfio-user server in each, the
# receiver in one, the source in the other. Cutting the link, or killing either side, at
# each phase leaves the source device RUNNING with its state and the destination reset.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"

check "two namespaces joined by a veth pair" setup_net
check "a device served in each" start_servers
SRC_SUM=$(info_of a checksum)
[ -n "$SRC_SUM" ] && ok "source checksum $SRC_SUM" || nok "no source checksum"

# 1. A migration that works, with pre-copy, and its JSON.
start_receiver
check "migrate $SIZE over TCP with pre-copy" in_a migrate -q --from "unix:$TMP/a.sock" \
	--to tcp:$ADDR_B:$PORT --json "$TMP/tcp.json"
recv_wait
[ "$RECV_RC" -eq 0 ] && ok "receiver succeeded" || { nok "receiver exit $RECV_RC"; sed 's/^/# /' "$TMP/recv.err"; }
[ "$(info_of b checksum)" = "$SRC_SUM" ] && ok "destination holds the source's state" || nok "destination checksum"
[ "$(info_of b state)" = RUNNING ] && ok "destination RUNNING" || nok "destination state"
[ "$(info_of a state)" = STOP ] && ok "source left STOP, as a migrated source" || nok "source state"
python3 -c "import json,sys; d=json.load(open('$TMP/tcp.json')); sys.exit(0 if d['ok'] and d['precopy_rounds']>0 else 1)" &&
	ok "json records the pre-copy rounds" || nok "json content"

# 2. Nobody listening.
start_servers
expect_exit 1 "no receiver: migrate fails" in_a migrate -q --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT
[ "$(info_of a state)" = RUNNING ] && [ "$(info_of a checksum)" = "$SRC_SUM" ] &&
	ok "source RUNNING and intact after a refused connection" || nok "source after refusal"

after_cut() { # after_cut NAME: both served devices judged
	local name=$1
	[ "$(info_of a state)" = RUNNING ] && ok "$name: source RUNNING" || nok "$name: source $(info_of a state)"
	[ "$(info_of a checksum)" = "$SRC_SUM" ] && ok "$name: source state intact" || nok "$name: source checksum"
	[ "$(info_of b state)" = RUNNING ] && ok "$name: destination reset to RUNNING" ||
		nok "$name: destination $(info_of b state)"
}
cut_case() { # cut_case NAME MIGRATE-OPTIONS... ; cuts the link after 1 s
	local name=$1 src_rc
	shift
	setup_net && slow_link && start_servers
	start_receiver
	in_a migrate -q --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT "$@" >"$TMP/src.out" 2>"$TMP/src.err" &
	local mig=$!
	sleep 1
	cut_link
	wait $mig
	src_rc=$?
	recv_wait
	[ "$src_rc" -eq 1 ] && ok "$name: migrate fails" || nok "$name: migrate exit $src_rc"
	[ "$RECV_RC" -eq 1 ] && ok "$name: receiver fails" || nok "$name: receiver exit $RECV_RC"
	after_cut "$name"
}
cut_case "link cut in pre-copy" --downtime-limit 1 --max-precopy-time 30000
cut_case "link cut in stop-copy" --no-precopy

# 3. Killing either side mid-way.
setup_net && slow_link && start_servers
start_receiver
in_a migrate -q --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT --no-precopy >"$TMP/src.out" 2>"$TMP/src.err" &
mig=$!
sleep 1
pkill -9 -f "receive -q --listen tcp:$ADDR_B:$PORT"
wait $mig
rc=$?
[ $rc -eq 1 ] && ok "receiver killed: migrate fails" || nok "receiver killed: migrate exit $rc"
after_cut "receiver killed"

setup_net && slow_link && start_servers
start_receiver
in_a migrate -q --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT --no-precopy >/dev/null 2>&1 &
mig=$!
sleep 1
pkill -9 -f "migrate -q --from unix:$TMP/a.sock --to tcp:$ADDR_B:$PORT"
recv_wait
[ "$RECV_RC" -eq 1 ] && ok "source killed: receiver fails" || nok "source killed: receiver exit $RECV_RC"
after_cut "source killed"

done_testing
