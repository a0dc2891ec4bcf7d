#!/bin/sh
# Guest script of the kernel tier (becomes /test.sh in the initramfs; busybox sh).
#
# Drives mtty devices with the static vfio-mig through both kernel paths and prints one
# line per check:
#   VFM-TAP: ok - NAME | VFM-TAP: not ok - NAME | VFM-TAP: ok - NAME # SKIP WHY
# then "VFM-TAP-END: <count>". The host (run-tier.sh) numbers them into TAP. The script
# exits 0 once it ran to the end: a failed check shows in its line, not in the exit status.
# Command output goes to the console (the host's guest log), indented under "--- NAME".
#
# Devices: A B C D F are mtty-2 (2 ports, 96-byte stream), E is mtty-1 (1 port, 60 bytes).
# Each is reachable as vfio:/dev/vfio/devices/vfioN (cdev) and
# vfio-group:/dev/vfio/G:<uuid> (group); one process at a time may hold a device.
# Seeds given to vfm-uart pick the register and FIFO values (see guest/uart.c).
set -u
PATH=/bin:/sbin:/usr/bin:/usr/sbin
VM=/bin/vfio-mig
UART=/bin/vfm-uart
CUT=/bin/vfm-cut
TMP=/tmp/vfm
mkdir -p "$TMP"

n=0
ok() { n=$((n + 1)); echo "VFM-TAP: ok - $1"; }
notok() { n=$((n + 1)); echo "VFM-TAP: not ok - $1"; }
skip() { n=$((n + 1)); echo "VFM-TAP: ok - $1 # SKIP $2"; }
# t NAME CMD [ARG...]: one check, ok iff CMD exits 0.
t() {
	name=$1
	shift
	echo "--- $name"
	if "$@"; then ok "$name"; else notok "$name"; fi
}
# Runs a command, echoing it first.
run() {
	echo "+ $*"
	"$@"
}

# ---- devices -------------------------------------------------------------------------
types=/sys/class/mdev_bus/mtty/mdev_supported_types
uuid() { echo "7a1d0c5e-0000-4000-8000-00000000000$1"; }
cdev_of() { echo "vfio:/dev/vfio/devices/$(ls "/sys/bus/mdev/devices/$(uuid "$1")/vfio-dev")"; }
group_of() {
	g=$(basename "$(readlink "/sys/bus/mdev/devices/$(uuid "$1")/iommu_group")")
	echo "vfio-group:/dev/vfio/$g:$(uuid "$1")"
}
create() { # create LETTER TYPE
	uuid "$1" >"$types/$2/create" && [ -e "/sys/bus/mdev/devices/$(uuid "$1")" ]
}

setup_devices() {
	for d in a b c d f; do create $d mtty-2 || return 1; done
	create e mtty-1 || return 1
	for d in a b c d e f; do
		eval "C_$d=\$(cdev_of $d)"
		eval "G_$d=\$(group_of $d)"
		eval "echo \"device $d: \$C_$d \$G_$d\""
	done
}
t "setup: create five mtty-2 and one mtty-1 mdev" setup_devices || true
if [ ! -e "/sys/bus/mdev/devices/$(uuid f)" ]; then
	echo "VFM-TAP-END: $n"
	exit 0
fi
# shellcheck disable=SC2154 # set through eval above
{ CA=$C_a CB=$C_b CC=$C_c CD=$C_d CE=$C_e CF=$C_f; GA=$G_a GB=$G_b GD=$G_d; }

# ---- helpers -------------------------------------------------------------------------
# info_has SPEC LINE...: vfio-mig info succeeds and prints every LINE exactly.
info_has() {
	spec=$1
	shift
	run $VM info "$spec" >"$TMP/info" 2>&1
	rc=$?
	sed 's/^/    /' "$TMP/info"
	[ $rc -eq 0 ] || return 1
	for line in "$@"; do
		grep -qxF "$line" "$TMP/info" || { echo "missing line: '$line'"; return 1; }
	done
}
state_is() { info_has "$1" "state: $2"; }
uart() { run $UART "$@"; }
running() { uart "$1" running >/dev/null; }

# fails SPEC... : the command fails (exit 1) and prints an error line matching a pattern.
fails_with() { # fails_with PATTERN CMD...
	pat=$1
	shift
	echo "+ $* (must fail)"
	"$@" >"$TMP/out" 2>&1
	rc=$?
	sed 's/^/    /' "$TMP/out"
	[ $rc -eq 1 ] && grep -q "$pat" "$TMP/out"
}

echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"

# What this vfio-mig's migrate offers: pre-copy by default (--no-precopy), on request
# (--precopy) or not at all; a bound on the pre-copy time keeps a stuck pre-copy short.
$VM migrate --help >"$TMP/mig-help" 2>&1
if grep -q -- '--no-precopy' "$TMP/mig-help"; then
	pre="" nopre="--no-precopy"
elif grep -q -- '--precopy' "$TMP/mig-help"; then
	pre="--precopy" nopre=""
else
	pre="none" nopre=""
fi
mopt=""
if grep -q -- '--max-precopy-time' "$TMP/mig-help"; then mopt="-m 3000"; fi

# ---- 0: the raw uAPI, without the library (the tier's smoke program) -------------------
t "smoke: raw uAPI RUNNING->STOP_COPY->RUNNING through the cdev" \
	run /bin/smoke cdev "${CA#vfio:}"
gpath=${GB#vfio-group:}
t "smoke: raw uAPI RUNNING->STOP_COPY->RUNNING through the group" \
	run /bin/smoke group "${gpath%%:*}" "$(uuid b)"

# ---- the kernel transport's operations, through the library (guest/handle-ops.c) --------
ops() { # ops DEVICE: its checks print their own VFM-TAP lines; count them
	echo "--- kernel handle operations on $1"
	/bin/vfm-handle-ops "$1" >"$TMP/ops" 2>&1
	rc=$?
	cat "$TMP/ops"
	c=$(grep -c '^VFM-TAP: ' "$TMP/ops")
	n=$((n + c))
	if [ $rc -eq 0 ] && [ "$c" -gt 0 ]; then
		ok "vfm-handle-ops $1 exits 0 after $c checks"
	else
		notok "vfm-handle-ops $1 exits 0 after $c checks (exit $rc)"
	fi
}
ops "$CB"
ops "$GD"

# ---- (a) info ----------------------------------------------------------------------------
t "info through the cdev: transport vfio, flags 0x7, RUNNING, data size 96" \
	info_has "$CA" "transport: vfio" "flags: STOP_COPY|P2P|PRE_COPY (0x7)" "state: RUNNING" \
	"data size: 96"
t "info through the group: transport vfio-group, flags 0x7, RUNNING, data size 96" \
	info_has "$GA" "transport: vfio-group" "flags: STOP_COPY|P2P|PRE_COPY (0x7)" \
	"state: RUNNING" "data size: 96"
t "info on a 1-port mtty: data size 60" info_has "$CE" "data size: 60"
t "info on a missing cdev fails naming the step and errno" \
	fails_with "opening the device cdev failed: No such file or directory" \
	$VM info vfio:/dev/vfio/devices/vfio999
t "info with a wrong device name in the group fails naming VFIO_GROUP_GET_DEVICE_FD" \
	fails_with "VFIO_GROUP_GET_DEVICE_FD(no-such-device) failed" \
	$VM info "${GA%:*}:no-such-device"
t "info on a malformed group spec fails" \
	fails_with "expected vfio-group:/dev/vfio/N:<device name>" $VM info vfio-group:/dev/vfio/0

# A device another process holds: both paths refuse it with a reason, and it is usable
# again once the holder is gone.
busy() { # busy HOLDER_SPEC CDEV_PATTERN GROUP_PATTERN
	rm -f "$TMP/hold"
	$UART "$1" hold 60 >"$TMP/hold" 2>&1 &
	holder=$!
	i=0
	while ! grep -q holding "$TMP/hold" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	cat "$TMP/hold"
	grep -q holding "$TMP/hold" || return 1
	fails_with "$2" $VM info "$CA" && fails_with "$3" $VM info "$GA"
	rc=$?
	kill "$holder"
	wait "$holder" 2>/dev/null
	[ $rc -eq 0 ] && state_is "$CA" RUNNING
}
t "a device held through its cdev: info refuses it on both paths (EINVAL, EBUSY), then works" \
	busy "$CA" "BIND_IOMMUFD failed: Invalid argument (is the device already open" \
	"opening the group failed: Device or resource busy"
t "a device held through its group: info refuses it on both paths (EBUSY), then works" \
	busy "$GA" "BIND_IOMMUFD failed: Device or resource busy (the device is in use through its group)" \
	"opening the group failed: Device or resource busy"

# ---- (b) migrations, with the UART contents checked on the destination ------------------
# These take the stop-copy path (--no-precopy where pre-copy is the default); pre-copy
# has its own checks below.
mig_ok() { # mig_ok SEED SRC DST SRC_AS_UART DST_AS_UART
	seed=$1 src=$2 dst=$3 usrc=$4 udst=$5
	# shellcheck disable=SC2086 # option words
	uart "$usrc" set "$seed" &&
		run $VM migrate -q $mopt $nopre --from "$src" --to "$dst" &&
		state_is "$src" STOP && state_is "$dst" RUNNING &&
		uart "$udst" drain "$seed"
}
t "migrate (stop-copy) cdev -> group: B reads back A's LCR/MCR/SCR and RX FIFO; A left STOP" \
	mig_ok 11 "$CA" "$GB" "$CA" "$GB"
t "migrate (stop-copy) cdev -> cdev: D reads back C's registers and FIFO" \
	mig_ok 22 "$CC" "$CD" "$CC" "$CD"
t "migrate (stop-copy) group -> cdev: C reads back D's registers and FIFO" \
	mig_ok 33 "$GD" "$CC" "$GD" "$CC"
for d in "$CA" "$CB" "$CC" "$CD"; do running "$d"; done

save_load() {
	uart "$GA" set 44 &&
		run $VM save -q -d "$GA" -o "$TMP/a44.vfm" && state_is "$GA" STOP &&
		run $VM inspect "$TMP/a44.vfm" >/dev/null &&
		run $VM load -q -d "$CF" -i "$TMP/a44.vfm" && state_is "$CF" RUNNING &&
		uart "$CF" drain 44
}
t "save (group) to a file, load (cdev): F reads back A's registers and FIFO" save_load
save_keep() {
	running "$CA" && uart "$CA" set 45 &&
		run $VM save -q -k -d "$CA" -o "$TMP/a45.vfm" && state_is "$CA" RUNNING &&
		uart "$CA" check 45 &&
		run $VM load -q -d "$GB" -i "$TMP/a45.vfm" && uart "$GB" drain 45
}
t "save --keep-running leaves the source RUNNING and intact; the file loads into B" save_keep

# A migration the destination refuses (mtty-1 takes at most 60 bytes: ENOMEM for 96).
mig_refused() {
	running "$CA" && uart "$CA" set 46 && uart "$CE" set 47 &&
		fails_with "migrate" $VM migrate -q $mopt --from "$CA" --to "$CE" &&
		state_is "$CA" RUNNING && uart "$CA" check 46 &&
		state_is "$CE" RUNNING && uart "$CE" check 47
}
t "migrate into an incompatible mtty-1 fails: source RUNNING and intact, destination reset" \
	mig_refused

# ---- (c) cut migrations -------------------------------------------------------------------
# vfm-cut closes the pipe at the last write boundary <= K. The stream of a 2-port mtty is
# 178 bytes, written as 8 | 18 | 8 | 8 | 5 (file header, START section), 5 (END section
# header), 16 + 96 (the data block), 8 | 5 (END_OF_STATE, footer), 1 (EOF): the K below
# cut it in each of them.
running "$CA"
uart "$CA" set 55 >/dev/null
run $VM save -q -k -d "$CA" -o "$TMP/a55.vfm"
S=$(wc -c <"$TMP/a55.vfm")
echo "stream of A: $S bytes"
# One check per K, named after the state the source was in when the pipe closed: the
# last state the save moved it to before its recovery SET ... -> RUNNING (the traces).
cut_save() { # cut_save K
	k=$1
	echo "--- save into a pipe with $k bytes of room"
	echo "+ vfm-cut $k $VM save -q -vvv -d $CA -o -"
	$CUT "$k" $VM save -q -vvv -d "$CA" -o - 2>"$TMP/cut"
	cut_rc=$?
	grep -E 'SET|RESET|error' "$TMP/cut" | sed 's/^/    /'
	at=$(grep -o 'SET [A-Z_0-9]* -> [A-Z_0-9]*' "$TMP/cut" | sed 's/.* -> //' |
		grep -v '^RUNNING$' | tail -n 1)
	# vfio-mig waits for a full pipe in poll() rather than in write(), and a pipe that is not
	# empty polls writable only with a whole page free: where the cut lands is printed by
	# vfm-cut ("cut after N bytes"), not always at byte K.
	name="save into a pipe with $k bytes of room, cut at its first blocked write (source was ${at:-RUNNING}): fails; source back RUNNING, registers intact"
	if [ $cut_rc -eq 0 ] && state_is "$CA" RUNNING && uart "$CA" check 55; then
		ok "$name"
	else
		notok "$name"
	fi
}
for k in 0 8 30 47 52 100 $((S - 14)) $((S - 6)) $((S - 1)); do
	[ "$k" -lt "$S" ] || continue
	cut_save "$k"
done
head_save() { # head_save K: the plain pipeline; -k makes RUNNING the only right end
	echo "+ $VM save -q -k -d $CA -o - | head -c $1"
	$VM save -q -k -d "$CA" -o - | head -c "$1" >/dev/null
	state_is "$CA" RUNNING && uart "$CA" check 55
}
for k in 1 60; do
	t "save -k | head -c $k: source RUNNING with registers intact" head_save "$k"
done
t "after the cuts, source A's RX FIFO still holds its bytes" uart "$CA" drain 55

# Loads of truncated and corrupted streams into F: each fails, F ends RUNNING (reset)
# with its own registers.
uart "$CF" set 66 >/dev/null
flip() { # flip FILE OFFSET: xor one byte with 0xff
	v=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059 # the octal escape is the format
	printf "\\$(printf %o $((v ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
bad_load() { # bad_load FILE
	fails_with "load" $VM load -q -d "$CF" -i "$1" &&
		state_is "$CF" RUNNING && uart "$CF" check 66
}
for k in 0 8 30 47 52 100 $((S - 14)) $((S - 1)); do
	[ "$k" -lt "$S" ] || continue
	head -c "$k" "$TMP/a55.vfm" >"$TMP/trunc"
	t "load of the stream cut at byte $k fails; destination RUNNING, registers intact" \
		bad_load "$TMP/trunc"
done
corrupt() { # corrupt OFFSET WHAT
	cp "$TMP/a55.vfm" "$TMP/bad" && flip "$TMP/bad" "$1" &&
		t "load with $2 (byte $1) fails; destination RUNNING, registers intact" \
			bad_load "$TMP/bad"
}
corrupt 0 "a bad file magic"
corrupt 52 "a bad DEV_DATA_STATE marker"
corrupt 60 "a data block size of 2^56+"
corrupt 68 "a bad mtty magic inside the device data (mtty: EFAULT)"
corrupt $((S - 14)) "a bad END_OF_STATE marker"
mismatch() {
	uart "$CE" set 48 && run $VM save -q -k -d "$CE" -o "$TMP/e.vfm" && bad_load "$TMP/e.vfm"
}
t "load of a 1-port mtty stream into a 2-port mtty fails (EFAULT); destination intact" mismatch
t "control: the intact stream loads into F, which reads back A's values" \
	sh -c "$VM load -q -d $CF -i $TMP/a55.vfm && $UART $CF drain 55"

# ---- (d) the conformance checker ---------------------------------------------------------
for d in "$CA" "$CB" "$CC" "$CD" "$CF"; do running "$d"; done
# STOP_COPY -> PRE_COPY(_P2P) hangs kernels without the 2026 fix (uAPI doc 3.6); Debian's
# 6.12.117 has it (stable backport) and so has 7.3 (the ERROR guard in
# vfio_mig_get_next_state, doc/uapi-7.x.md), so the checker may send those arcs to
# 6.12.117 and later 6.12 kernels, and to 7.2 and later.
fixed_kernel() {
	r=$(uname -r)
	case $r in
	6.12.*)
		sub=${r#6.12.}
		sub=${sub%%[!0-9]*}
		[ -n "$sub" ] && [ "$sub" -ge 117 ]
		;;
	7.[2-9]* | 7.[1-9][0-9]* | [89].* | [1-9][0-9].*) return 0 ;;
	*) return 1 ;;
	esac
}
check_clean() { # check_clean DEVICE [PEER]
	extra=""
	if [ $# -gt 1 ] && grep -q -- --peer "$TMP/check-help"; then extra="--peer $2"; fi
	if fixed_kernel && grep -q -- --refused-arcs "$TMP/check-help"; then
		extra="$extra --refused-arcs"
	fi
	echo "+ $VM check $1 $extra"
	# shellcheck disable=SC2086 # option words
	$VM check "$1" $extra >"$TMP/check" 2>&1
	rc=$?
	sed 's/^/    /' "$TMP/check"
	echo "    (exit $rc, $(grep -c '^[[:space:]]*PASS' "$TMP/check") PASS, $(grep -c '^[[:space:]]*FAIL' "$TMP/check") FAIL)"
	[ $rc -eq 0 ] && ! grep -q '^[[:space:]]*FAIL' "$TMP/check"
}
if $VM check --help >"$TMP/check-help" 2>&1; then
	t "vfio-mig check through the cdev: no FAIL" check_clean "$CA" "$CB"
	t "vfio-mig check through the group: no FAIL" check_clean "$GD" "$(group_of f)"
else
	skip "vfio-mig check through the cdev: no FAIL" "vfio-mig check not available"
	skip "vfio-mig check through the group: no FAIL" "vfio-mig check not available"
fi

# ---- pre-copy info v2 (Linux 7.1, doc/uapi-7.x.md): which kernel answers what ------------
# 6.12 refuses the PRECOPY_INFOv2 opt-in with ENOTTY (index 12 is unknown to its core and
# mtty has no device_feature op); 7.1 and later take it for any device with PRE_COPY. Both
# mtty versions report flags 0 and never REINIT.
kmajor=$(uname -r | cut -d. -f1) kminor=$(uname -r | cut -d. -f2)
if [ "$kmajor" -gt 7 ] || { [ "$kmajor" -eq 7 ] && [ "$kminor" -ge 1 ]; }; then v2=yes; else v2=no; fi
v2_checks() { # v2_checks DEVICE
	for d in "$CA" "$CB"; do running "$d"; done
	echo "+ $VM check $1 --only feature.precopy-v2,precopy.flags-v1,precopy.flags-v2,precopy.reinit"
	$VM check "$1" --only feature.precopy-v2,precopy.flags-v1,precopy.flags-v2,precopy.reinit \
		>"$TMP/v2" 2>&1
	rc=$?
	sed 's/^/    /' "$TMP/v2"
	[ $rc -eq 0 ] && grep -q '^PASS  precopy.flags-v1 ' "$TMP/v2" &&
		grep -q '^SKIP  precopy.reinit ' "$TMP/v2" || return 1
	if [ $v2 = yes ]; then
		grep -q '^PASS  feature.precopy-v2 ' "$TMP/v2" && grep -q '^PASS  precopy.flags-v2 ' "$TMP/v2"
	else
		grep -q '^SKIP  feature.precopy-v2 .*ENOTTY' "$TMP/v2"
	fi
}
v2_migrate() { # the engine opts in on 7.1+, is refused (ENOTTY) on 6.12, migrates either way
	for d in "$CA" "$CB"; do running "$d"; done
	uart "$CA" set 79 || return 1
	echo "+ $VM migrate -q -vv $mopt $pre --from $CA --to $CB"
	# shellcheck disable=SC2086 # option words
	$VM migrate -q -vv $mopt $pre --from "$CA" --to "$CB" >"$TMP/v2mig" 2>&1
	rc=$?
	grep 'PRECOPY_INFOv2' "$TMP/v2mig" | sed 's/^/    /'
	[ $rc -eq 0 ] && uart "$CB" drain 79 || return 1
	if [ $v2 = yes ]; then
		grep -q 'PRECOPY_INFOv2 opted in' "$TMP/v2mig"
	else
		grep -q 'PRECOPY_INFOv2 not supported (Inappropriate ioctl' "$TMP/v2mig"
	fi
}
if grep -q -- --only "$TMP/check-help" 2>/dev/null && $VM check --list 2>/dev/null | grep -q '^feature.precopy-v2 '; then
	if [ $v2 = yes ]; then what="taken (7.1+)"; else what="refused with ENOTTY (before 7.1)"; fi
	t "pre-copy info v2 checks on mtty: opt-in $what, flags 0, no REINIT" v2_checks "$CA"
	if [ "$pre" != none ]; then
		t "migrate with pre-copy: the engine's PRECOPY_INFOv2 opt-in $what; B reads back A" v2_migrate
	fi
	for d in "$CA" "$CB"; do running "$d"; done
else
	skip "pre-copy info v2 checks on mtty" "this vfio-mig check has no feature.precopy-v2"
fi

# ---- kernel and vfio-user devices in one migration -----------------------------------------
# An mtty pair and a pair of sample devices served over vfio-user inside the guest move
# together (both have P2P: all quiesce before any stops).
mixed() {
	$VM serve --socket /tmp/s1.sock --device testdev,size=1M,seed=3 &
	s1=$!
	$VM serve --socket /tmp/s2.sock --device testdev,size=1M,seed=4 &
	s2=$!
	i=0
	while [ $i -lt 50 ] && ! { [ -S /tmp/s1.sock ] && [ -S /tmp/s2.sock ]; }; do
		sleep 0.1
		i=$((i + 1))
	done
	uart "$CA" set 66 || return 1
	echo "+ $VM migrate -q $mopt --from $CA --to $GB --from unix:/tmp/s1.sock --to unix:/tmp/s2.sock"
	# shellcheck disable=SC2086 # option words
	$VM migrate -q $mopt --from "$CA" --to "$GB" --from unix:/tmp/s1.sock \
		--to unix:/tmp/s2.sock >"$TMP/mixed" 2>&1
	rc=$?
	sed 's/^/    /' "$TMP/mixed"
	kill $s1 $s2
	wait $s1 $s2 2>/dev/null
	src=$(sed -n 's/^source checksum: //p' "$TMP/mixed")
	dst=$(sed -n 's/^destination checksum: //p' "$TMP/mixed")
	[ $rc -eq 0 ] && [ -n "$src" ] && [ "$src" = "$dst" ] && state_is "$GB" RUNNING &&
		uart "$GB" drain 66
}
if $VM serve --help >/dev/null 2>&1; then
	for d in "$CA" "$CB"; do running "$d"; done
	t "migrate an mtty (cdev -> group) and a vfio-user sample device together: both intact" mixed
	for d in "$CA" "$CB"; do running "$d"; done
else
	skip "migrate kernel and vfio-user devices together" "this vfio-mig has no vfio-user"
fi

# ---- pre-copy ----------------------------------------------------------------------------
# mtty has PRE_COPY: its 24-byte header is the initial data, the ports follow in STOP_COPY.
# The handle's traces (-vvv) show which arcs a migration took.
traced_mig() { # traced_mig SEED SRC DST MUST_SEE MUST_NOT_SEE [migrate options]
	seed=$1 src=$2 dst=$3 see=$4 notsee=$5
	shift 5
	uart "$src" set "$seed" || return 1
	echo "+ $VM migrate -q -vvv $mopt $* --from $src --to $dst"
	# shellcheck disable=SC2086 # option words
	$VM migrate -q -vvv $mopt "$@" --from "$src" --to "$dst" >"$TMP/mig" 2>&1
	rc=$?
	grep -E 'SET|error' "$TMP/mig" | sed 's/^/    /'
	[ $rc -eq 0 ] && grep -q -- "$see" "$TMP/mig" && ! grep -q -- "$notsee" "$TMP/mig" &&
		state_is "$src" STOP && state_is "$dst" RUNNING && uart "$dst" drain "$seed"
}
for d in "$CA" "$CB" "$CC" "$CD"; do running "$d"; done
if [ "$pre" != none ]; then
	t "migrate with pre-copy ${pre:-(default)} cdev -> group: through PRE_COPY; B reads back A" \
		traced_mig 77 "$CA" "$GB" "RUNNING -> PRE_COPY" "STOP -> STOP_COPY" $pre
	for d in "$CA" "$CB"; do running "$d"; done
	t "migrate with pre-copy ${pre:-(default)} group -> cdev: through PRE_COPY; A reads back B" \
		traced_mig 78 "$GB" "$CA" "RUNNING -> PRE_COPY" "STOP -> STOP_COPY" $pre
	t "migrate without pre-copy ${nopre:-(default)} cdev -> cdev: no PRE_COPY; D reads back C" \
		traced_mig 88 "$CC" "$CD" "STOP -> STOP_COPY" "-> PRE_COPY" $nopre
	for d in "$CA" "$CB" "$CC" "$CD"; do running "$d"; done
	# A coarse clock (the jiffies clocksource ticks every 4 ms, as TCG guests fall back to
	# when the TSC watchdog gives up): a 24-byte pre-copy read then takes "0 s", and the
	# switch-over decision must still come.
	cs=/sys/devices/system/clocksource/clocksource0
	coarse() {
		old=$(cat $cs/current_clocksource)
		echo jiffies >$cs/current_clocksource || return 1
		echo "clocksource $(cat $cs/current_clocksource) (was $old)"
		bad=0
		for i in 1 2 3; do
			running "$CA"
			traced_mig $((90 + i)) "$CA" "$CB" "RUNNING -> PRE_COPY" "STOP -> STOP_COPY" -m 1000 \
				$pre || bad=$((bad + 1))
		done
		echo "$old" >$cs/current_clocksource
		echo "$bad of 3 failed"
		[ $bad -eq 0 ]
	}
	t "migrate with pre-copy ${pre:-(default)} on a 4 ms clock (jiffies), 3 times: switches over each time" \
		coarse
	for d in "$CA" "$CB" "$CC" "$CD"; do running "$d"; done
	# Whatever the switch-over decision, the data path: initial bytes in PRE_COPY, the rest
	# on the same fd after the move to STOP_COPY.
	if grep -q -- '--allow-overrun' "$TMP/mig-help"; then
		t "migrate with pre-copy --allow-overrun cdev -> cdev: PRE_COPY -> STOP_COPY on one fd; D reads back C" \
			traced_mig 89 "$CC" "$CD" "PRE_COPY.* -> STOP_COPY" "STOP -> STOP_COPY" $pre \
			--allow-overrun
	fi
else
	for m in "cdev -> group" "group -> cdev" "without pre-copy cdev -> cdev" "on a 4 ms clock"; do
		skip "pre-copy: migrate $m" "vfio-mig migrate has no pre-copy"
	done
fi

# ---- teardown ----------------------------------------------------------------------------
remove_all() {
	for d in a b c d e f; do echo 1 >"/sys/bus/mdev/devices/$(uuid $d)/remove" || return 1; done
	for d in a b c d e f; do [ ! -e "/sys/bus/mdev/devices/$(uuid $d)" ] || return 1; done
}
t "teardown: every mdev removes (no fd left open)" remove_all
echo "VFM-TAP-END: $n"
exit 0
