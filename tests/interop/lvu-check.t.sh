#!/bin/bash
# `check` judges vfio-user devices by vfio-user's rules (issue 8, part 4): on a device
# built on libvfio-user it FAILs only what is really wrong there (a reset refused in STOP
# and STOP_COPY, or leaving PRE_COPY / RESUMING), WARNs about EINVAL for an unknown
# feature, does not judge data_fd (unused in vfio-user) nor MIG_DATA_SIZE and pre-copy
# info (not offered), and leaves the device RUNNING. On `vfio-mig serve` nothing FAILs.
# interop-needs: lvu-device
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

verdict() { awk -v n="$1" '$2 == n { print $1 }' "$VFM_OUT/check.out"; }
detail() { awk -v n="$1" '$2 == n { $1 = $2 = $3 = ""; sub(/^ */, ""); print }' "$VFM_OUT/check.out"; }
# run_check DEV PEER
run_check() {
	timeout 300 "$VFIO_MIG" check "unix:$VFM_OUT/$1.sock" --peer "unix:$VFM_OUT/$2.sock" \
		>"$VFM_OUT/check.out" 2>"$VFM_OUT/check.err"
	CHECK_RC=$?
	grep "^summary" "$VFM_OUT/check.out" | sed "s/^/# $1: /"
}

t_check "two libvfio-user devices" vfm_start_lvu a --size 1M --seed 11
t_check "  (the peer)" vfm_start_lvu b --size 1M --seed 12
run_check a b
t_is "check exits 1 (something FAILs)" "$CHECK_RC" 1
t_is "only reset.running FAILs" "$(awk '$1 == "FAIL" { print $2 }' "$VFM_OUT/check.out" | paste -sd ' ')" \
	reset.running
for what in "refused in STOP " "refused in STOP_COPY " "a reset in RESUMING left RESUMING" \
	"VFIO_USER_DEVICE_RESET"; do
	[[ $(detail reset.running) == *"$what"* ]] && t_ok "reset.running says: $what" ||
		t_nok "reset.running does not say '$what': $(detail reset.running)"
done
t_is "feature.unknown: EINVAL instead of ENOTTY is a WARN" "$(verdict feature.unknown)" WARN
[[ $(detail feature.unknown) == *VFIO_USER_DEVICE_FEATURE* ]] && t_ok "  with vfio-user's section" ||
	t_nok "  without vfio-user's section: $(detail feature.unknown)"
t_is "feature.mig-state passes (data_fd is unused in vfio-user)" "$(verdict feature.mig-state)" PASS
t_is "feature.data-size is not judged (not offered)" "$(verdict feature.data-size)" SKIP
t_is "precopy.info is not judged (not offered)" "$(verdict precopy.info)" SKIP
t_is "resume.incomplete-data passes" "$(verdict resume.incomplete-data)" PASS
t_is "the device is left RUNNING" "$(verdict final.running)" PASS
t_is "  and says so" "$("$VFIO_MIG" info "unix:$VFM_OUT/a.sock" | sed -n 's/^state: //p')" RUNNING
t_is "  with its state" "$(lvu_state a)" "1048576 11"

t_check "two vfio-mig serve devices" vfm_start_serve c local:testdev,size=1M,seed=1
t_check "  (the peer)" vfm_start_serve d local:testdev,size=1M,seed=2
run_check c d
t_is "check on vfio-mig serve: nothing FAILs" "$CHECK_RC $(grep -c '^FAIL' "$VFM_OUT/check.out")" "0 0"
t_is "  MIG_DATA_SIZE (offered) is judged" "$(verdict feature.data-size)" PASS
t_is "  pre-copy info (offered) is judged" "$(verdict precopy.info)" PASS
t_done
