#!/bin/bash
# The sample device's limits and power-on state, through the tool: a state larger than the
# memory there is is refused before it is touched, with how much is available (in a real
# cgroup v2 memory cgroup when this machine has one, and against the system's memory);
# a reset, and the reset of a destination after a failed migration, bring back the
# seed's content. The same memory check for the vfio-user client's DMA memory.
. "$(dirname "$0")/lib.sh"

CG=""
cleanup_hook() {
	[ -n "$CG" ] && [ -d "$CG" ] && { cat "$CG/cgroup.procs" 2>/dev/null | xargs -r kill 2>/dev/null; rmdir "$CG"; }
	jobs -p | xargs -r kill 2>/dev/null
}

# Against the system's memory: a state larger than MemAvailable.
avail_kb=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
if [ -n "$avail_kb" ] && [ "$avail_kb" -lt $((64 * 1024 * 1024)) ]; then
	expect_exit 1 "testdev,size=64G on a machine with less is refused" "$VFIO_MIG" info local:testdev,size=64G
	grep -q "needed, .* available (MemAvailable of the system)" "$TMP/last.err" &&
		ok "the error says how much is available" || nok "error: $(last_err)"
else
	skip "this machine has 64 GiB of memory available: no state is too large for it"
fi

# In a 3 GiB memory cgroup (v2): 8 GiB is refused at once, 64 MiB works with its checksum.
cg_root=/sys/fs/cgroup
if [ "$(stat -fc %T "$cg_root" 2>/dev/null)" = cgroup2fs ] && grep -qw memory "$cg_root/cgroup.controllers" &&
	grep -qw memory "$cg_root/cgroup.subtree_control" 2>/dev/null && mkdir "$cg_root/vfm-test-$$" 2>/dev/null; then
	CG=$cg_root/vfm-test-$$
	echo $((3 << 30)) >"$CG/memory.max"
	in_cg() { bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' in_cg "$CG" "$@"; }
	expect_exit 1 "testdev,size=8G in a 3 GiB cgroup is refused, not killed" in_cg "$VFIO_MIG" info local:testdev,size=8G
	grep -q "available (the memory cgroup $CG limit)" "$TMP/last.err" && ok "the error names the cgroup limit" ||
		nok "error: $(last_err)"
	expect_exit 1 "serve testdev,size=8G in the cgroup is refused" in_cg "$VFIO_MIG" serve --socket "$TMP/cg.sock" \
		--device testdev,size=8G
	want=$("$VFIO_MIG" info local:testdev,size=64M,seed=3 | sed -n 's/^checksum: //p')
	check "testdev,size=64M in the cgroup" in_cg "$VFIO_MIG" info local:testdev,size=64M,seed=3
	[ "$(checksum_of)" = "$want" ] && ok "its checksum is exact" || nok "checksum in the cgroup $(checksum_of) != $want"
else
	skip "no cgroup v2 memory controller to use under $cg_root"
fi

# A reset is a power-on; a destination reset after a failed migration holds nothing of the
# source's state.
if "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	"$VFIO_MIG" serve --socket "$TMP/d.sock" --device testdev,size=4M,seed=2 2>"$TMP/d.err" &
	for _ in $(seq 500); do [ -S "$TMP/d.sock" ] && break; sleep 0.02; done
	power_on=$("$VFIO_MIG" info "unix:$TMP/d.sock" | sed -n 's/^checksum: //p')
	expect_exit 1 "a migration whose data is corrupted fails" "$VFIO_MIG" migrate -q --no-precopy \
		--from local:testdev,size=4M,seed=7,corrupt-at=3000000 --to "unix:$TMP/d.sock"
	sum=$("$VFIO_MIG" info "unix:$TMP/d.sock" | sed -n 's/^checksum: //p')
	[ -n "$power_on" ] && [ "$sum" = "$power_on" ] && ok "the reset destination holds its power-on state" ||
		nok "destination checksum $sum, power-on $power_on"
	check "load another state" "$VFIO_MIG" migrate -q --from local:testdev,size=4M,seed=7 --to "unix:$TMP/d.sock"
	check "resume --reset" "$VFIO_MIG" resume --reset "unix:$TMP/d.sock"
	[ "$(checksum_of)" = "$power_on" ] && ok "a reset brings back the seed's content" || nok "after reset $(checksum_of)"
	# The client's own DMA memory (unix:S,dma=SIZE) is checked against the memory there is
	# before it is made, and the server is left serving.
	if [ -n "$avail_kb" ] && [ "$avail_kb" -lt $((64 * 1024 * 1024)) ]; then
		expect_exit 1 "unix:S,dma=64G on a machine with less is refused" "$VFIO_MIG" info "unix:$TMP/d.sock,dma=64G"
		grep -q "bytes for DMA do not fit: .* needed, .* available" "$TMP/last.err" &&
			ok "the error says how much is available" || nok "error: $(last_err)"
		check "the server still serves a client with dma=4M" "$VFIO_MIG" info "unix:$TMP/d.sock,dma=4M"
	else
		skip "this machine has 64 GiB of memory available: no DMA size is too large for it"
	fi
else
	skip "vfio-mig serve is not built"
fi

done_testing
