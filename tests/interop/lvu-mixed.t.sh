#!/bin/bash
# Mixed pairs fail cleanly (issue 8, part 5): a libvfio-user device and a `vfio-mig serve`
# device keep their state in different formats, so migrating (or loading a saved file)
# from one into the other must be refused with a clear error, the source must stay
# RUNNING with its state intact, the destination must be reset, and nothing may hang
# (each command runs under a 120 s bound).
# interop-needs: lvu-device
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

info() { "$VFIO_MIG" info "unix:$VFM_OUT/$1.sock" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1; }
# refused NAME CMD...: the command fails (exit 1, within the bound) and says why.
refused() {
	local name=$1 rc
	shift
	timeout 120 "$@" >"$VFM_OUT/last.out" 2>"$VFM_OUT/last.err"
	rc=$?
	if ((rc == 1)) && grep -q '^error: ' "$VFM_OUT/last.err"; then
		t_ok "$name: refused ($(grep -m1 '^error: ' "$VFM_OUT/last.err" | cut -c1-150))"
	else
		t_nok "$name: exit $rc"
		tail -n 10 "$VFM_OUT/last.err" | sed 's/^/#   /'
	fi
}

t_check "a libvfio-user device (8 MiB, seed 11)" vfm_start_lvu lvu --size 8M --seed 11
t_check "a vfio-mig serve device (8 MiB, seed 2)" vfm_start_serve srv local:testdev,size=8M,seed=2
sum=$(info srv checksum)

for mode in pre-copy no-precopy; do
	opt=()
	[[ $mode = no-precopy ]] && opt=(--no-precopy)
	refused "libvfio-user -> serve ($mode)" "$VFIO_MIG" migrate -q "${opt[@]}" \
		--from "unix:$VFM_OUT/lvu.sock" --to "unix:$VFM_OUT/srv.sock"
	t_is "  the libvfio-user source is RUNNING" "$(info lvu state)" RUNNING
	t_is "  with its state" "$(lvu_state lvu)" "8388608 11"
	t_is "  the serve destination is RUNNING again, its state its own" \
		"$(info srv state) $(info srv checksum)" "RUNNING $sum"

	refused "serve -> libvfio-user ($mode)" "$VFIO_MIG" migrate -q "${opt[@]}" \
		--from "unix:$VFM_OUT/srv.sock" --to "unix:$VFM_OUT/lvu.sock"
	t_is "  the serve source is RUNNING with its state intact" \
		"$(info srv state) $(info srv checksum)" "RUNNING $sum"
	t_is "  the libvfio-user destination refused the data as not its own" \
		"$(grep -c 'refused state: not this device' "$VFM_OUT/lvu.log")" \
		"$([[ $mode = pre-copy ]] && echo 1 || echo 2)"
	t_is "  and was reset" "$(grep -c '^lvu-device: reset$' "$VFM_OUT/lvu.log")" \
		"$([[ $mode = pre-copy ]] && echo 1 || echo 2)"
	t_is "  it still holds its own state" "$(lvu_state lvu)" "8388608 11"
done
# libvfio-user keeps RESUMING across DEVICE_RESET (its #844, check reports it); a load
# from a file and a migration away still work from there.
t_check "save the libvfio-user device to a file" \
	"$VFIO_MIG" save -q --device "unix:$VFM_OUT/lvu.sock" -o "$VFM_OUT/lvu.vfm"
t_check "save the serve device to a file" \
	"$VFIO_MIG" save -q --device "unix:$VFM_OUT/srv.sock" -o "$VFM_OUT/srv.vfm"
refused "load the libvfio-user file into serve" \
	"$VFIO_MIG" load -q --device "unix:$VFM_OUT/srv.sock" -i "$VFM_OUT/lvu.vfm"
t_is "  serve is reset to its own state" "$(info srv checksum)" "$sum"
refused "load the serve file into libvfio-user" \
	"$VFIO_MIG" load -q --device "unix:$VFM_OUT/lvu.sock" -i "$VFM_OUT/srv.vfm"
t_check "the libvfio-user file loads back into its device" \
	"$VFIO_MIG" load -q --device "unix:$VFM_OUT/lvu.sock" -i "$VFM_OUT/lvu.vfm"
t_is "  which is RUNNING with its state" "$(info lvu state) $(lvu_state lvu)" "RUNNING 8388608 11"
t_done
