#!/bin/bash
# vfio-mig's client with devices built on libvfio-user (issue 8, part 1): info, save, load,
# live migration with and without pre-copy, between two libvfio-user devices and through
# a file, for states of 0 B, 1 B, 1 MiB, 64 MiB and 512 MiB. Our libvfio-user device
# checks every byte it is given, so "state size=N seed=S" in a destination's log means
# the whole state arrived intact. Sizes: VFM_INTEROP_SIZES (default "0 1 1M 64M 512M").
# interop-needs: lvu-device
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

bytes() { numfmt --from=iec "$1"; }
# pair SIZE: a fresh source a (seed 11) and destination b (seed 22, 4 KiB)
pair() {
	kill "${t_pids[@]}" 2>/dev/null
	wait 2>/dev/null
	t_pids=()
	vfm_start_lvu a --size "$1" --seed 11 && vfm_start_lvu b --size 4K --seed 22
}
logged() { grep -c "^lvu-device: $2\$" "$VFM_OUT/$1.log"; }

for size in ${VFM_INTEROP_SIZES:-0 1 1M 64M 512M}; do
	n=$(bytes "$size")
	half=$((n / 100 * 50 + n % 100 * 50 / 100))
	want="$n 11"
	((n < 24)) && want="$n 0" # below 24 bytes the state has no room for its seed

	t_check "$size: two libvfio-user devices start" pair "$size"
	t_check "$size: info" "$VFIO_MIG" info "unix:$VFM_OUT/a.sock"
	t_is "$size: info sees a RUNNING device with STOP_COPY and PRE_COPY" \
		"$(sed -n 's/^flags: //p; s/^state: //p' "$VFM_OUT/last.out" | paste -sd ' ')" \
		"STOP_COPY|PRE_COPY (0x5) RUNNING"

	t_check "$size: save to a file" "$VFIO_MIG" save -q --device "unix:$VFM_OUT/a.sock" -o "$VFM_OUT/a.vfm"
	t_is "$size: the source gave its whole state" "$(logged a "saved $n bytes")" 1
	t_check "$size: load the file into the other device" \
		"$VFIO_MIG" load -q --device "unix:$VFM_OUT/b.sock" -i "$VFM_OUT/a.vfm"
	t_is "$size: the destination holds the source's state" "$(lvu_state b)" "$want"
	t_check "$size: info after load" "$VFIO_MIG" info "unix:$VFM_OUT/b.sock"
	t_is "$size: the loaded device is RUNNING" "$(sed -n 's/^state: //p' "$VFM_OUT/last.out")" RUNNING

	t_check "$size: (pre-copy) two fresh devices" pair "$size"
	t_check "$size: live migration with pre-copy" \
		"$VFIO_MIG" migrate -q --from "unix:$VFM_OUT/a.sock" --to "unix:$VFM_OUT/b.sock"
	t_is "$size: pre-copy moved half the state while the source ran" \
		"$(logged a "pre-copy sent $half bytes")" 1
	t_is "$size: stop-copy moved the rest" "$(logged a "saved $n bytes")" 1
	t_is "$size: the destination holds the source's state" "$(lvu_state b)" "$want"
	grep -q 'neither pre-copy info nor MIG_DATA_SIZE' "$VFM_OUT/last.err" &&
		t_ok "$size: a notice says how pre-copy is judged without the device's numbers" ||
		t_nok "$size: no notice about the estimated pre-copy numbers"

	t_check "$size: (no pre-copy) two fresh devices" pair "$size"
	t_check "$size: live migration without pre-copy" \
		"$VFIO_MIG" migrate -q --no-precopy --from "unix:$VFM_OUT/a.sock" --to "unix:$VFM_OUT/b.sock"
	t_is "$size: nothing moved in pre-copy" "$(grep -c 'pre-copy sent' "$VFM_OUT/a.log")" 0
	t_is "$size: the destination holds the source's state" "$(lvu_state b)" "$want"
	t_check "$size: and back, into the first device" \
		"$VFIO_MIG" migrate -q --from "unix:$VFM_OUT/b.sock" --to "unix:$VFM_OUT/a.sock"
	t_is "$size: the first device holds its own state again" "$(lvu_state a)" "$want"
done
rm -f "$VFM_OUT/a.vfm"
t_done
