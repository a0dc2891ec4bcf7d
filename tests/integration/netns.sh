# Two hosts for the TCP and TLS tests: network namespaces A and B joined by a veth pair
# (addresses that exist only inside them), vfio-user servers in each (the sources, seed
# 5, 6, ... in A; the destinations in B), and the receiver in B. Source it after lib.sh.
# NDEV devices per side (default 1): a.sock/b.sock, then a2.sock/b2.sock, ...

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
	skip "network namespaces need root and iproute2"
	done_testing
	exit 0
fi
if ! "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	skip "vfio-user is not built"
	done_testing
	exit 0
fi

N=$(( ($$ % 200) + 20 ))
A=vfm-a-$$ B=vfm-b-$$
ADDR_B=10.213.$N.2
PORT=${PORT:-7411}
SIZE=${SIZE:-64M}
NDEV=${NDEV:-1}
cleanup_hook() {
	stop_servers
	jobs -p | xargs -r kill 2>/dev/null
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
}
setup_net() {
	ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null
	ip netns add "$A" && ip netns add "$B" &&
		ip link add vfm-va-$N type veth peer name vfm-vb-$N &&
		ip link set vfm-va-$N netns "$A" && ip link set vfm-vb-$N netns "$B" &&
		ip -n "$A" addr add 10.213.$N.1/24 dev vfm-va-$N &&
		ip -n "$B" addr add $ADDR_B/24 dev vfm-vb-$N &&
		ip -n "$A" link set vfm-va-$N up && ip -n "$B" link set vfm-vb-$N up &&
		ip -n "$A" link set lo up && ip -n "$B" link set lo up
}
slow_link() { # about 25 MB/s, so that a 64 MiB migration takes a few seconds
	ip netns exec "$A" tc qdisc replace dev vfm-va-$N root tbf rate 200mbit burst 256kb latency 500ms
}
cut_link() { ip -n "$A" link set vfm-va-$N down; }
in_a() { ip netns exec "$A" "$VFIO_MIG" "$@"; }
in_b() { ip netns exec "$B" "$VFIO_MIG" "$@"; }

dev_sock() { # dev_sock a|b INDEX (0-based)
	[ "$2" -eq 0 ] && echo "$TMP/$1.sock" || echo "$TMP/$1$(($2 + 1)).sock"
}
SERVERS=()
stop_servers() {
	[ ${#SERVERS[@]} -gt 0 ] && kill "${SERVERS[@]}" 2>/dev/null && wait "${SERVERS[@]}" 2>/dev/null
	SERVERS=()
}
start_servers() {
	local i s
	stop_servers
	for ((i = 0; i < NDEV; i++)); do
		rm -f "$(dev_sock a $i)" "$(dev_sock b $i)"
		ip netns exec "$A" "$VFIO_MIG" serve --socket "$(dev_sock a $i)" \
			--device testdev,size=$SIZE,seed=$((5 + i)) &
		SERVERS+=($!)
		ip netns exec "$B" "$VFIO_MIG" serve --socket "$(dev_sock b $i)" \
			--device testdev,size=$SIZE,seed=$((9 + i)) &
		SERVERS+=($!)
	done
	for _ in $(seq 200); do
		s=0
		for ((i = 0; i < NDEV; i++)); do
			[ -S "$(dev_sock a $i)" ] && [ -S "$(dev_sock b $i)" ] && s=$((s + 1))
		done
		[ $s -eq "$NDEV" ] && return 0
		sleep 0.05
	done
	return 1
}
info_of() { # info_of a|b FIELD [INDEX]
	"$VFIO_MIG" info "unix:$(dev_sock "$1" "${3:-0}")" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1
}
dev_args() { # dev_args a|b OPTION: OPTION unix:SOCK for every device of that side
	local i
	for ((i = 0; i < NDEV; i++)); do
		printf '%s\n%s\n' "$2" "unix:$(dev_sock "$1" $i)"
	done
}
start_receiver() { # start_receiver [receive options...]; RECV: the receiver's own pid
	local devs
	mapfile -t devs < <(dev_args b --device)
	ip netns exec "$B" "$VFIO_MIG" receive -q --listen tcp:$ADDR_B:$PORT --timeout 60 \
		"${devs[@]}" "$@" >"$TMP/recv.out" 2>"$TMP/recv.err" &
	RECV=$!
	for _ in $(seq 50); do
		ip netns exec "$B" ss -ltn 2>/dev/null | grep -q ":$PORT " && return 0
		sleep 0.1
	done
}
recv_wait() { wait "$RECV"; RECV_RC=$?; }
