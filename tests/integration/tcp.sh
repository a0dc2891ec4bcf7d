#!/bin/bash
# Migration between two hosts over TCP: two network namespaces joined by a veth pair
# (addresses exist only inside these namespaces), a receiver in one, the source in the
# other. Cutting the link, or killing either side, at each phase leaves the source RUNNING
# with its state and the destination reset.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
	skip "network namespaces need root and iproute2"
	done_testing
	exit 0
fi

N=$(( ($$ % 200) + 20 ))
A=vfm-a-$$ B=vfm-b-$$
ADDR_A=10.213.$N.1 ADDR_B=10.213.$N.2
PORT=7411
cleanup_hook() {
	jobs -p | xargs -r kill 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
}
setup_net() {
	ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
	ip netns add "$A" && ip netns add "$B" &&
		ip link add vfm-va-$N type veth peer name vfm-vb-$N &&
		ip link set vfm-va-$N netns "$A" && ip link set vfm-vb-$N netns "$B" &&
		ip -n "$A" addr add $ADDR_A/24 dev vfm-va-$N && ip -n "$B" addr add $ADDR_B/24 dev vfm-vb-$N &&
		ip -n "$A" link set vfm-va-$N up && ip -n "$B" link set vfm-vb-$N up &&
		ip -n "$A" link set lo up && ip -n "$B" link set lo up
}
slow_link() { # about 25 MB/s, so that a 64 MiB migration takes a few seconds
	ip netns exec "$A" tc qdisc replace dev vfm-va-$N root tbf rate 200mbit burst 256kb latency 500ms
}
cut_link() { ip -n "$A" link set vfm-va-$N down; }
in_a() { ip netns exec "$A" "$VFIO_MIG" "$@"; }
in_b() { ip netns exec "$B" "$VFIO_MIG" "$@"; }
start_receiver() { # start_receiver SPEC...
	in_b receive -q --listen tcp:$ADDR_B:$PORT --timeout 60 "$@" >"$TMP/recv.out" 2>"$TMP/recv.err" &
	RECV=$!
	for _ in $(seq 50); do
		ip netns exec "$B" ss -ltn 2>/dev/null | grep -q ":$PORT " && return 0
		sleep 0.1
	done
}
recv_wait() { wait "$RECV"; RECV_RC=$?; }

check "two namespaces joined by a veth pair" setup_net

# 1. A migration that works, with pre-copy, and its JSON.
start_receiver --device local:testdev,size=64M,seed=9
check "migrate 64 MiB over TCP with pre-copy" in_a migrate -q --from local:testdev,size=64M,seed=5,dirty-rate=16M \
	--to tcp:$ADDR_B:$PORT --json "$TMP/tcp.json"
src=$(checksum_of 'source ')
recv_wait
rc=$RECV_RC
[ "$rc" -eq 0 ] && ok "receiver succeeded" || { nok "receiver exit $rc"; sed 's/^/# /' "$TMP/recv.err"; }
dst=$(sed -n 's/^checksum: //p' "$TMP/recv.out")
[ -n "$src" ] && [ "$src" = "$dst" ] && ok "destination holds the source's state ($src)" || nok "checksums '$src' vs '$dst'"
python3 -c "import json,sys; d=json.load(open('$TMP/tcp.json')); sys.exit(0 if d['ok'] and d['precopy_rounds']>0 else 1)" &&
	ok "json records the pre-copy rounds" || nok "json content"

# 2. The source alone: nobody listening.
expect_exit 1 "no receiver: migrate fails" in_a migrate -q --from local:testdev,size=1M --to tcp:$ADDR_B:$PORT
grep -q "^source local:testdev,size=1M: RUNNING" "$TMP/last.err" && ok "source RUNNING after a refused connection" ||
	nok "source state after refusal"

cut_case() { # cut_case NAME MIGRATE-OPTIONS... ; cuts the link after 1 s
	local name=$1
	shift
	setup_net && slow_link
	start_receiver --device local:testdev,size=64M,seed=9
	in_a migrate -q --from local:testdev,size=64M,seed=5 --to tcp:$ADDR_B:$PORT "$@" >"$TMP/src.out" 2>"$TMP/src.err" &
	local mig=$!
	sleep 1
	cut_link
	wait $mig
	local src_rc=$? dst_rc
	recv_wait
	dst_rc=$RECV_RC
	[ "$src_rc" -eq 1 ] && ok "$name: migrate fails" || nok "$name: migrate exit $src_rc"
	grep -q "^source local:testdev,size=64M,seed=5: RUNNING" "$TMP/src.err" &&
		ok "$name: source RUNNING" || { nok "$name: source state"; sed 's/^/# /' "$TMP/src.err"; }
	[ "$dst_rc" -eq 1 ] && ok "$name: receiver fails" || nok "$name: receiver exit $dst_rc"
	grep -q "^destination local:testdev,size=64M,seed=9: RUNNING" "$TMP/recv.err" &&
		ok "$name: destination reset to RUNNING" || { nok "$name: destination state"; sed 's/^/# /' "$TMP/recv.err"; }
}
cut_case "link cut in pre-copy" --downtime-limit 1 --max-precopy-time 30000
cut_case "link cut in stop-copy" --no-precopy

# 3. Killing either side mid-way.
setup_net && slow_link
start_receiver --device local:testdev,size=64M
in_a migrate -q --from local:testdev,size=64M,seed=5 --to tcp:$ADDR_B:$PORT --no-precopy >"$TMP/src.out" 2>"$TMP/src.err" &
mig=$!
sleep 1
ip netns pids "$B" | xargs -r kill -9
wait $mig
rc=$?
[ $rc -eq 1 ] && ok "receiver killed: migrate fails" || { nok "receiver killed: migrate exit $rc"; sed 's/^/# /' "$TMP/src.err"; }
grep -q ": RUNNING" "$TMP/src.err" && ok "receiver killed: source RUNNING" || nok "receiver killed: source state"

setup_net && slow_link
start_receiver --device local:testdev,size=64M
in_a migrate -q --from local:testdev,size=64M,seed=5 --to tcp:$ADDR_B:$PORT --no-precopy >/dev/null 2>&1 &
mig=$!
sleep 1
ip netns pids "$A" | xargs -r kill -9
recv_wait
rc=$RECV_RC
[ "$rc" -eq 1 ] && ok "source killed: receiver fails" || nok "source killed: receiver exit $rc"
grep -q "^destination .*: RUNNING" "$TMP/recv.err" && ok "source killed: destination reset" || nok "source killed: destination state"

done_testing
