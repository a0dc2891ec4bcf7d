#!/bin/bash
# run-guest.sh KERNEL INITRAMFS LOGFILE
#
# Boot KERNEL with INITRAMFS (see mkinitramfs.sh) under qemu TCG, serial console to
# LOGFILE. Exit 0 iff
#   - qemu exited with status 1 (guest wrote 0 to isa-debug-exit: /test.sh returned 0),
#   - the log holds the guest's "VFM-GUEST-RESULT: rc=0" line, and
#   - the log shows no kernel WARNING:, Oops, BUG:, Call Trace or Kernel panic.
# Otherwise print the reason and the log tail on stderr and exit 1 (2 = usage error).
#
# Environment: VFM_GUEST_TIMEOUT (seconds, default 120), VFM_GUEST_MEM (default 256M),
# VFM_KERNEL_APPEND (extra kernel command line), VFM_GUEST_DRIVES (raw disk images, one
# virtio-blk drive each; a ":ro" suffix makes one read-only), VFM_LOG_TAIL (lines shown on failure,
# default 60).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

(($# == 3)) || { echo "usage: ${0##*/} KERNEL INITRAMFS LOGFILE" >&2; exit 2; }
kernel=$1 initrd=$2 log=$3
[[ -r $kernel ]] || vfm_die "kernel not readable: $kernel"
[[ -r $initrd ]] || vfm_die "initramfs not readable: $initrd"

vfm_need_pkgs qemu-system-x86

tmo=${VFM_GUEST_TIMEOUT:-120}
# No "quiet": WARN() prints at KERN_WARNING, which quiet would hide from the console.
append="console=ttyS0 panic=-1 ${VFM_KERNEL_APPEND:-}"
mkdir -p "$(dirname "$log")"

drives=()
for d in ${VFM_GUEST_DRIVES:-}; do
	ro=${d##*:}
	[[ $ro == ro ]] && ro=",readonly=on" d=${d%:ro} || ro=""
	drives+=(-drive "file=$d,if=virtio,format=raw$ro")
done

t0=$(vfm_now)
rc=0
timeout -k 5 "$tmo" qemu-system-x86_64 \
	-accel tcg -m "${VFM_GUEST_MEM:-256M}" -smp 1 \
	-nographic -no-reboot \
	-kernel "$kernel" -initrd "$initrd" -append "$append" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 "${drives[@]}" \
	</dev/null >"$log" 2>&1 || rc=$?
elapsed=$(vfm_since "$t0")

reasons=()
case $rc in
1) ;;
3) reasons+=("guest test failed (qemu exit 3: /test.sh returned non-zero)") ;;
124 | 137) reasons+=("timeout after ${tmo} s (qemu killed)") ;;
0) reasons+=("qemu exited 0: the guest rebooted or panicked without reaching isa-debug-exit") ;;
*) reasons+=("unexpected qemu exit status $rc") ;;
esac
if ((rc == 1)) && ! grep -q 'VFM-GUEST-RESULT: rc=0' "$log"; then
	reasons+=("qemu reported pass but the guest result line 'VFM-GUEST-RESULT: rc=0' is missing")
fi
# Kernel trouble fails the run even when the test itself passed.
if bad=$(grep -nE 'WARNING:|Oops|BUG:|Call Trace|Kernel panic' "$log"); then
	reasons+=("kernel problem in the log:"$'\n'"$(head -n 10 <<<"$bad")")
fi

if ((${#reasons[@]} == 0)); then
	vfm_log "PASS in ${elapsed} s (log: $log)"
	exit 0
fi
{
	echo "---- last ${VFM_LOG_TAIL:-60} lines of $log ----"
	tail -n "${VFM_LOG_TAIL:-60}" "$log" | tr -d '\r'
	echo "---- end of log ----"
} >&2
for r in "${reasons[@]}"; do vfm_log "FAIL: $r"; done
vfm_log "FAIL after ${elapsed} s (qemu status $rc, log: $log)"
exit 1
