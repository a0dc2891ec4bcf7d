#!/bin/sh
# Guest script of the kernel tier's QEMU part (becomes /test.sh of its own initramfs;
# busybox sh). QEMU 11.1 from the squashfs image on /dev/vda runs with
# `-device vfio-pci,sysfsdev=...` on mtty mdevs; /dev/vdb takes a tar of the streams and
# logs back to the host. Prints "VFM-TAP: ok|not ok - NAME" lines like guest/tier.sh, then
# "VFM-TAP-END: N"; exits 0 once it ran to its end.
#
# Devices: A..J and L are mtty-2 (2 ports, 96 bytes of state), X is mtty-1. QEMU names the
# device's section 0000:00:04.0/vfio (addr=0x4 on q35's root bus). A destination always
# gets `cont` before it quits: an mtty closed while RESUMING and reopened oopses 6.12
# (../shared/docs/qemu-recipe.md); the destinations of failed migrations (X, and H after
# the corrupt stream) are never opened again.
set -u
PATH=/bin:/sbin:/usr/bin:/usr/sbin
VM=/bin/vfio-mig
UART=/bin/vfm-uart
QMP=/bin/vfm-qmp
OUT=/tmp/out
Q=/q
SEC=0000:00:04.0/vfio
mkdir -p "$OUT" "$Q"

n=0
ok() { n=$((n + 1)); echo "VFM-TAP: ok - $1"; }
notok() { n=$((n + 1)); echo "VFM-TAP: not ok - $1"; }
skip() { n=$((n + 1)); echo "VFM-TAP: ok - $1 # SKIP $2"; }
t() {
	check=$1
	shift
	echo "--- $check"
	if "$@"; then ok "$check"; else notok "$check" && return 1; fi
}
run() {
	echo "+ $*"
	"$@"
}
finish() {
	tar -cf /dev/vdb -C "$OUT" . 2>/dev/null || echo "cannot write the results disk"
	echo "VFM-TAP-END: $n"
	exit 0
}

# ---- QEMU's image and the devices ------------------------------------------------------
mount_image() {
	mount -t squashfs -o ro /dev/vda "$Q" || return 1
	for d in dev proc sys tmp; do mount -o bind "/$d" "$Q/$d" || return 1; done
	ifconfig lo 127.0.0.1 up || return 1
	chroot "$Q" qemu-system-x86_64 --version
}
t "qemu: the QEMU image mounts, loopback is up, qemu-system-x86_64 runs" mount_image || finish

types=/sys/class/mdev_bus/mtty/mdev_supported_types
uuid() { echo "7a1d0c5e-0000-4000-8000-0000000000$1"; }
cdev_of() { echo "vfio:/dev/vfio/devices/$(ls "/sys/bus/mdev/devices/$(uuid "$1")/vfio-dev")"; }
setup_devices() {
	for d in 01 02 03 04 05 06 07 08 09 10 13; do
		uuid $d >"$types/mtty-2/create" || return 1
	done
	uuid 11 >"$types/mtty-1/create" || return 1
	for d in 01 02 03 04 05 06 07 08 09 10 11 13; do echo "$d: $(cdev_of $d)"; done
}
# mtty has 24 ports in all: 11 two-port devices and one one-port device.
t "qemu: create eleven mtty-2 and one mtty-1 mdevs" setup_devices || finish
A=01 B=02 C=03 D=04 E=05 F=06 G=07 H=08 I=09 J=10 L=13 X=11

# ---- helpers -------------------------------------------------------------------------------
qemu_args() { # qemu_args NAME DEVICE: the inner VM, a QMP socket /tmp/NAME.qmp
	echo "-accel tcg,tb-size=32 -M q35 -m 64M -nodefaults -display none" \
		"-qmp unix:/tmp/$1.qmp,server=on,wait=off" \
		"-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/$(uuid "$2"),enable-migration=on,id=mtty0,addr=0x4"
}
start_qemu() { # start_qemu NAME DEVICE EXTRA...: in the background, log OUT/NAME.log
	local name=$1 dev=$2
	shift 2
	rm -f "/tmp/$name.qmp"
	# shellcheck disable=SC2046 # option words
	chroot "$Q" qemu-system-x86_64 $(qemu_args "$name" "$dev") "$@" \
		</dev/null >"$OUT/$name.log" 2>&1 &
	eval "pid_$name=$!"
	echo "started qemu $name (pid $!) on $dev: $*"
}
qmp() { # qmp NAME CMD...
	local name=$1 rc
	shift
	$QMP "/tmp/$name.qmp" "$@" >"$OUT/qmp.out" 2>&1
	rc=$?
	sed 's/^/    /' "$OUT/qmp.out"
	return $rc
}
stop_qemu() { # stop_qemu NAME: quit, then wait for the process (killed after 30 s)
	local name=$1 p i
	eval "p=\$pid_$name"
	if kill -0 "$p" 2>/dev/null; then qmp "$name" '{"execute":"quit"}' >/dev/null 2>&1; fi
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	echo "qemu $name ended"
}
caps() { # caps NAME on|off: return-path and switchover-ack
	local v=false
	[ "$2" = on ] && v=true
	qmp "$1" "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"return-path\",\"state\":$v},{\"capability\":\"switchover-ack\",\"state\":$v}]}}"
}
transferred() { # the source's "vfio": {"transferred": N} after its migration
	sed -n 's/.*"vfio": {"transferred": \([0-9]*\)}.*/\1/p' "$OUT/$1.migrate"
}
uart() { run $UART "$(cdev_of "$1")" "$2" "$3"; }
# inspect_mtty FILE BYTES: inspect decodes FILE whole, and its mtty section carries BYTES
# data bytes in at least START, END and the FULL config section
inspect_mtty() {
	local rc
	run $VM inspect "$1" >"$1.txt" 2>&1
	rc=$?
	grep -E 'section|device|stream|DEV_|config|missing|vmdesc|COMMAND' "$1.txt" |
		grep -v 'stepped over' | head -n 60 | sed 's/^/    /'
	[ $rc -eq 0 ] || { tail -n 3 "$1.txt"; return 1; }
	grep -q "^device 0: \"$SEC\" instance 0: .* $2 bytes, config state\$" "$1.txt" &&
		grep -q "PCIDevice version 2, 4096 bytes of config space" "$1.txt" &&
		grep -q '^stream: .* QEMU stream of pc-q35-11.1, 1 device(s), well-formed$' "$1.txt"
}

# ---- 1: to a file (paused source), loaded by a second QEMU -----------------------------
file_save() {
	uart $A set 11 && start_qemu src1 $A -S && qmp src1 wait-status:prelaunch &&
		qmp src1 '{"execute":"migrate","arguments":{"uri":"file:/tmp/out/file.mig"}}' &&
		qmp src1 wait-migrate:completed && cp "$OUT/qmp.out" "$OUT/src1.migrate"
	rc=$?
	stop_qemu src1
	[ $rc -eq 0 ] && [ -s "$OUT/file.mig" ] && ls -l "$OUT/file.mig"
}
t "qemu: QEMU migrates a paused VM with an mtty-2 to a file" file_save
bytes1=$(transferred src1)
echo "QEMU's source says vfio transferred: ${bytes1:-?}"

file_load() {
	start_qemu dst1 $B -incoming defer && qmp dst1 wait-status:inmigrate &&
		qmp dst1 '{"execute":"migrate-incoming","arguments":{"uri":"file:/tmp/out/file.mig"}}' &&
		qmp dst1 wait-migrate:completed && qmp dst1 '{"execute":"cont"}' &&
		qmp dst1 wait-status:running
	rc=$?
	stop_qemu dst1
	[ $rc -eq 0 ] && uart $B check 11
}
t "qemu: a second QEMU loads the file: B has A's UART registers and RX FIFO" file_load
t "qemu: inspect decodes QEMU's file stream; the mtty section holds the $bytes1 bytes QEMU read from mtty (96)" \
	inspect_mtty "$OUT/file.mig" 96
[ "$bytes1" = 96 ] || echo "QEMU's count: '$bytes1'"
t "qemu: the source's mtty A still holds its UART state after the file migration" uart $A check 11

load_section() {
	run $VM load -d "$(cdev_of $C)" -i "$OUT/file.mig" --section "$SEC" && uart $C check 11
}
t "qemu: vfio-mig load --section $SEC feeds QEMU's mtty state into a third mtty (C)" load_section
t "qemu: load without --section takes the only VFIO section (into D)" \
	sh -c "$VM load -q -d $(cdev_of $D) -i $OUT/file.mig && $UART $(cdev_of $D) check 11"
t "qemu: load --section of a missing section lists the stream's VFIO sections" \
	sh -c "! $VM load -q -d $(cdev_of $D) -i $OUT/file.mig --section 0000:00:05.0/vfio 2>$OUT/nosec.err; cat $OUT/nosec.err; grep -q '$SEC' $OUT/nosec.err"

# A stream of ours, its section named as QEMU names the device: QEMU refuses it (it has no
# configuration record), before its device is touched.
ours_refused() {
	local i=0
	run $VM save -q -d "$(cdev_of $C)" -o "$OUT/ours.vfm" --section "$SEC" || return 1
	$VM inspect -s "$OUT/ours.vfm"
	start_qemu ours $I -incoming defer && qmp ours wait-status:inmigrate &&
		qmp ours '{"execute":"migrate-incoming","arguments":{"uri":"file:/tmp/out/ours.vfm"}}' ||
		return 1
	while kill -0 "$pid_ours" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	stop_qemu ours
	cat "$OUT/ours.log"
	grep -q "Configuration section missing" "$OUT/ours.log"
}
t "qemu: QEMU refuses a vfio-mig stream (save --section $SEC): \"Configuration section missing\"" \
	ours_refused

# The same stream into a QEMU that expects no configuration record: it loads the section
# into its vfio-pci device and runs; J then holds C's UART state (seed 11).
ours_loaded() {
	local rc
	start_qemu ours2 $J -incoming defer -global migration.send-configuration=off &&
		qmp ours2 wait-status:inmigrate &&
		qmp ours2 '{"execute":"migrate-incoming","arguments":{"uri":"file:/tmp/out/ours.vfm"}}' &&
		qmp ours2 wait-migrate:completed && qmp ours2 '{"execute":"cont"}' &&
		qmp ours2 wait-status:running
	rc=$?
	stop_qemu ours2
	cat "$OUT/ours2.log"
	[ $rc -eq 0 ] && uart $J check 11
}
t "qemu: QEMU with send-configuration=off loads that vfio-mig stream: J has C's UART state" \
	ours_loaded

# Two mttys in one VM (the second at 00:05.0): load without --section lists both sections
# and takes none; --section takes the second one's state.
two_devices() {
	local rc
	uart $J set 66 && uart $L set 67 || return 1
	start_qemu two $J -S -device "vfio-pci,sysfsdev=/sys/bus/mdev/devices/$(uuid $L),enable-migration=on,id=mtty1,addr=0x5" &&
		qmp two wait-status:prelaunch &&
		qmp two '{"execute":"migrate","arguments":{"uri":"file:/tmp/out/two.mig"}}' &&
		qmp two wait-migrate:completed
	rc=$?
	stop_qemu two
	[ $rc -eq 0 ] || return 1
	run $VM inspect -s "$OUT/two.mig" || return 1
	$VM load -q -d "$(cdev_of $B)" -i "$OUT/two.mig" >"$OUT/two.err" 2>&1
	rc=$?
	cat "$OUT/two.err"
	[ $rc -eq 2 ] && grep -q "^  $SEC\$" "$OUT/two.err" && grep -q "^  0000:00:05.0/vfio\$" "$OUT/two.err" &&
		run $VM load -q -d "$(cdev_of $B)" -i "$OUT/two.mig" --section 0000:00:05.0/vfio &&
		uart $B check 67
}
t "qemu: a VM with two mttys: load lists both VFIO sections; --section 0000:00:05.0/vfio takes the second" \
	two_devices

# ---- 2: live over TCP, with pre-copy, with and without switchover-ack -------------------
# live NAME SRC DST SEED ACK: a running source migrates through a relay that keeps the
# stream in OUT/NAME.mig; the destination runs afterwards with the source's UART state.
live() {
	local name=$1 src=$2 dst=$3 seed=$4 ack=$5 rc relay
	uart "$src" set "$seed" || return 1
	start_qemu "${name}s" "$src" && start_qemu "${name}d" "$dst" -incoming defer &&
		qmp "${name}s" wait-status:running && caps "${name}s" "$ack" &&
		caps "${name}d" "$ack" &&
		qmp "${name}d" '{"execute":"migrate-incoming","arguments":{"uri":"tcp:127.0.0.1:4444"}}' || return 1
	$QMP relay 4445 4444 "$OUT/$name.mig" >"$OUT/$name.relay" 2>&1 &
	relay=$!
	while ! grep -q listening "$OUT/$name.relay" 2>/dev/null; do sleep 0.05; done
	qmp "${name}s" '{"execute":"migrate","arguments":{"uri":"tcp:127.0.0.1:4445"}}' &&
		qmp "${name}s" wait-migrate:completed && cp "$OUT/qmp.out" "$OUT/${name}s.migrate" &&
		qmp "${name}d" wait-status:running
	rc=$?
	wait $relay
	cat "$OUT/$name.relay"
	stop_qemu "${name}s"
	stop_qemu "${name}d"
	[ $rc -eq 0 ] && uart "$dst" check "$seed"
}
t "qemu: live migration over TCP (pre-copy, no switchover-ack): F has E's UART state" \
	live tcp $E $F 22 off
inspect_live() { # inspect_live NAME: decoded, PARTs present, bytes as QEMU counted
	inspect_mtty "$OUT/$1.mig" "$(transferred "${1}s")" &&
		grep -q "section PART id [0-9]* (\"$SEC\"" "$OUT/$1.mig.txt"
}
t "qemu: live migration over TCP with switchover-ack: G has F's UART state" \
	live ack $F $G 33 on
t "qemu: inspect: the switchover-ack stream opens the return path and a PART ends with DEV_INIT_DATA_SENT" \
	sh -c "$VM inspect $OUT/ack.mig >$OUT/ack.txt; grep -E 'OPEN_RETURN_PATH|PING|DEV_INIT_DATA_SENT' $OUT/ack.txt; grep -q DEV_INIT_DATA_SENT $OUT/ack.txt && grep -q 'COMMAND OPEN_RETURN_PATH' $OUT/ack.txt"
for s in tcp ack; do
	t "qemu: inspect decodes the $s stream; its mtty section holds what QEMU read from mtty" \
		inspect_live $s
done

# ---- 3: migrations QEMU must refuse: the source keeps running with its state ---------
# refused NAME SRC DST SEED [OFFSET]: the destination fails (a corrupted byte at OFFSET of
# the stream, or a device of the other type); the source ends running, its mtty intact.
refused() {
	local name=$1 src=$2 dst=$3 seed=$4 off=${5:-} rc relay
	uart "$src" set "$seed" || return 1
	start_qemu "${name}s" "$src" && start_qemu "${name}d" "$dst" -incoming defer &&
		qmp "${name}s" wait-status:running &&
		qmp "${name}d" '{"execute":"migrate-incoming","arguments":{"uri":"tcp:127.0.0.1:4444"}}' || return 1
	$QMP relay 4445 4444 "$OUT/$name.mig" $off >"$OUT/$name.relay" 2>&1 &
	relay=$!
	while ! grep -q listening "$OUT/$name.relay" 2>/dev/null; do sleep 0.05; done
	qmp "${name}s" '{"execute":"migrate","arguments":{"uri":"tcp:127.0.0.1:4445"}}'
	qmp "${name}s" wait-migrate:failed
	rc=$?
	wait $relay
	qmp "${name}s" wait-status:running && [ $rc -eq 0 ]
	rc=$?
	stop_qemu "${name}s"
	stop_qemu "${name}d"
	[ $rc -eq 0 ] && uart "$src" check "$seed"
}
t "qemu: a migration into an mtty-1 fails; the source keeps running, A's UART state intact" \
	refused other $A $X 44
# The VFIO section's DEV_SETUP_STATE: at the same offset in every live stream of this VM
# without return path (the RAM setup before it lists the same blocks).
off=$(awk '/DEV_SETUP_STATE/ { print $1; exit }' "$OUT/tcp.mig.txt" 2>/dev/null)
echo "DEV_SETUP_STATE of the tcp stream at ${off:-?}"
if [ -n "$off" ]; then
	t "qemu: a stream corrupted in the VFIO section fails; the source keeps running, D intact" \
		refused bad $D $H 55 $((off + 7))
else
	skip "qemu: a corrupted stream fails; the source keeps running" "no offset from the tcp stream"
fi
finish
