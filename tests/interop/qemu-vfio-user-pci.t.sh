#!/bin/bash
# QEMU 11.1's vfio-user-pci uses `vfio-mig serve` (issue 8, part 3): QEMU runs under
# -accel qtest and qemu/qtest-vfio-user.py plays the guest over the qtest protocol:
# config space, BAR0 registers, the sample device's DMA engine writing and reading guest
# RAM, INTx, an MSI-X message landing in guest RAM. Three guest memory set-ups: memfd
# (share=on: the server maps guest RAM from DMA_MAP's fds), ram (ordinary RAM: DMA goes
# as DMA_READ/DMA_WRITE messages to QEMU, and QEMU's register reads arrive while the
# server waits for them) and ram-noposted (the same with x-no-posted-writes). A server
# that answered EBUSY meanwhile would make them read 0xffffffff; one that did the DMA
# before answering the write would stall QEMU for its 5 s message timeout, which ends
# the access in an error.
# interop-needs: qemu
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

if ((EUID != 0)); then
	t_skip "QEMU qtest driver" "QEMU runs with chroot into the Debian 13 root, which needs root"
	exit 0
fi
if ! command -v python3 >/dev/null; then
	t_skip "QEMU qtest driver" "python3 is not installed (the qtest driver is a python3 script)"
	exit 0
fi
driver=$vfm_interop_here/qemu/qtest-vfio-user.py
size=$((1 << 20))
# Sockets live inside the root, where QEMU (chroot) and the server both see them.
inner=/vfm-interop-$$
dir=$VFM_TRIXIE_ROOT$inner
mkdir -p "$dir" || { t_nok "a folder in the Debian 13 root"; exit 1; }
trap 't_cleanup; rm -rf "$dir"' EXIT

for mode in memfd ram ram-noposted; do
	rm -f "$dir/$mode.sock"
	"$VFIO_MIG" serve -v --socket "$dir/$mode.sock" --device "testdev,size=$size,seed=3" \
		2>"$VFM_OUT/serve-$mode.log" &
	pid=$!
	t_pids+=("$pid")
	if ! vfm_wait_socket "$pid" "$dir/$mode.sock"; then
		t_nok "$mode: vfio-mig serve starts"
		continue
	fi
	python3 "$driver" --root "$VFM_TRIXIE_ROOT" --dir "$inner" --socket "$inner/$mode.sock" \
		--mode "$mode" --state-size "$size" --log "$VFM_OUT/qemu-$mode.log" \
		>"$VFM_OUT/qtest-$mode.tap" 2>"$VFM_OUT/qtest-$mode.err"
	rc=$?
	sed 's/^\(not ok\|ok\) - /\1 - '"$mode"': /' "$VFM_OUT/qtest-$mode.tap"
	t_fails=$((t_fails + $(grep -c '^not ok' "$VFM_OUT/qtest-$mode.tap")))
	if ((rc != 0)) && ! grep -q '^not ok' "$VFM_OUT/qtest-$mode.tap"; then
		t_nok "$mode: the qtest driver ran (exit $rc)"
		sed 's/^/#   /' "$VFM_OUT/qtest-$mode.err" | tail -n 10
	fi
	if grep -qi 'timed out\|timeout' "$VFM_OUT/qemu-$mode.log"; then
		t_nok "$mode: QEMU saw no message timeout"
		grep -i 'timed out\|timeout' "$VFM_OUT/qemu-$mode.log" | head -n 3 | sed 's/^/#   /'
	else
		t_ok "$mode: QEMU saw no message timeout"
	fi
	if kill -0 "$pid" 2>/dev/null && grep -q 'client gone, device RUNNING' "$VFM_OUT/serve-$mode.log"; then
		t_ok "$mode: the server outlives QEMU, device RUNNING"
	else
		t_nok "$mode: the server outlives QEMU, device RUNNING"
		tail -n 5 "$VFM_OUT/serve-$mode.log" | sed 's/^/#   /'
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
t_done
