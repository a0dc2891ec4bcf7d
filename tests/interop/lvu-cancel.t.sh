#!/bin/bash
# A cancelled migration between libvfio-user devices (issue 9, finding 3, with a peer we
# did not write): the destination is stopped (SIGSTOP) in the middle of pre-copy, SIGINT
# ends `migrate` within the bound, the source is RUNNING with its state, and once the
# destination runs again `resume --reset` gets it out of the RESUMING it was left in, so
# the migration can be done again.
# interop-needs: lvu-device
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

info() { "$VFIO_MIG" info "unix:$VFM_OUT/$1.sock" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1; }

t_check "a libvfio-user source (512 MiB, seed 11)" vfm_start_lvu a --size 512M --seed 11
t_check "a libvfio-user destination" vfm_start_lvu b --size 4K --seed 22
B=$START_PID

"$VFIO_MIG" migrate --from "unix:$VFM_OUT/a.sock" --to "unix:$VFM_OUT/b.sock" \
	>"$VFM_OUT/m.out" 2>"$VFM_OUT/m.err" &
M=$!
for _ in $(seq 1 1500); do
	grep -q '^pre-copy:' "$VFM_OUT/m.err" && break
	kill -0 "$M" 2>/dev/null || break
	sleep 0.01
done
kill -STOP "$B"
if grep -q '^pre-copy:' "$VFM_OUT/m.err" && kill -0 "$M" 2>/dev/null; then
	sleep 0.3
	t0=$(date +%s%N)
	kill -INT "$M"
	for _ in $(seq 1 250); do
		kill -0 "$M" 2>/dev/null || break
		sleep 0.02
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	if kill -0 "$M" 2>/dev/null; then
		kill -9 "$M"
		t_nok "SIGINT did not end migrate within 5 s"
	else
		wait "$M"
		rc=$?
		t_is "SIGINT ends migrate with exit 1 (after $ms ms)" "$rc" 1
		grep -qi 'cancel' "$VFM_OUT/m.err" && t_ok "  and says it was cancelled" ||
			t_nok "  without saying it was cancelled: $(grep -m1 '^error' "$VFM_OUT/m.err")"
	fi
else
	t_nok "migrate was not in pre-copy when the destination was stopped"
	tail -n 5 "$VFM_OUT/m.err" | sed 's/^/#   /'
fi
t_is "the source is RUNNING" "$(info a state)" RUNNING
t_is "  with its state" "$(lvu_state a)" "536870912 11"
kill -CONT "$B"
t_check "the destination, running again, is reset" "$VFIO_MIG" resume --reset "unix:$VFM_OUT/b.sock"
t_is "  to RUNNING" "$(info b state)" RUNNING
t_check "the migration done again" \
	"$VFIO_MIG" migrate -q --from "unix:$VFM_OUT/a.sock" --to "unix:$VFM_OUT/b.sock"
t_is "  the destination holds the source's state" "$(lvu_state b)" "536870912 11"
t_done
