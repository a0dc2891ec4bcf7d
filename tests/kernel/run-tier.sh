#!/bin/bash
# run-tier.sh: the real-kernel test tier, as TAP on stdout (scripts/run-tests.sh --only
# kernel, `make test-kernel`).
#
# Two kernels, each with mtty: Linux 6.12 (the host's Debian 12 linux-source-6.12) and
# Linux 7.3 (trixie-backports' linux-source-7.3, from the Debian 13 root of
# scripts/trixie-root.sh; its lines SKIP when that root cannot be had). Every TAP name
# starts with the kernel's version ("6.12: ...", "7.3: ..."). VFM_KERNELS="6.12" (or
# "7.3") runs one of them.
# Host part: a static vfio-mig (meson static_tool), once; uapi-check.c (our uapi.h)
# against Debian 13's linux-libc-dev 7.3 headers, once; then per kernel: the cached kernel
# (build-kernel.sh --kernel V), uapi-check.c against that kernel's headers, the static
# guest helpers (guest/uart.c, guest/cut.c, guest/smoke.c, and guest/handle-ops.c linked
# against the static build's libvfio-mig.a), the initramfs.
# Guest part, per kernel: guest/tier.sh under qemu TCG prints "VFM-TAP: ok|not ok - NAME"
# lines that become numbered TAP lines here; run-guest.sh's verdict (qemu exit status,
# result line, no kernel WARNING/Oops/BUG/panic in the log) is one more line. Then, on
# the kernels of VFM_QEMU_KERNELS (default 6.12), QEMU 11.1 inside the guest (qemu/tier.sh).
#
# Prints "ok N - name", "not ok N - name" or "ok N - name # SKIP why" per check, timings
# as "# ..." comments, and ends with "1..N". Exit 0 iff no check failed.
# Logs and artifacts: ${VFM_BUILD_DIR:-<repo>/build}/kernel-tier/ (host.log; per kernel
# V: V/guest.log and the helpers, initramfs and uapi-check built for it).
# Environment: VFM_STATIC_BUILD (default <repo>/build-static), plus those of
# build-kernel.sh and run-guest.sh (VFM_KERNEL_CACHE, VFM_GUEST_TIMEOUT, ...).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
root=$(cd "$here/../.." && pwd)
out=${VFM_BUILD_DIR:-$root/build}/kernel-tier
static=${VFM_STATIC_BUILD:-$root/build-static}
mkdir -p "$out"
out=$(cd "$out" && pwd)
hostlog=$out/host.log
: >"$hostlog"

n=0 failed=0
timings=()
tap_ok() { n=$((n + 1)); echo "ok $n - $pfx$1"; }
tap_notok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $pfx$1"; }
tap_skip() { n=$((n + 1)); echo "ok $n - $pfx$1 # SKIP $2"; }
# tap RC NAME: ok when RC is 0; on failure the tail of the host log as TAP comments.
# Inside the per-kernel part, $pfx ("6.12: ") starts every name.
pfx=""
tap() {
	if (($1 == 0)); then
		tap_ok "$2"
	else
		tap_notok "$2"
		tail -n 25 "$hostlog" | sed 's/^/#   /'
	fi
}
timed() { # timed LABEL START
	timings+=("$pfx$1 $(vfm_since "$2") s")
}
finish() {
	echo "# timings: ${timings[*]/%/,}" | sed 's/,$//'
	echo "# logs: $out"
	echo "1..$n"
	((failed == 0))
	exit
}

t_all=$(vfm_now)

# ---- host: our uAPI definitions against the Linux 7.3 headers of Debian 13 -------------
# The root's linux-libc-dev 7.3 (/usr/include/linux, asm-generic, the x86_64 asm): the
# authority for the 7.x names, without building a kernel. Only those directories go on
# the include path, never the root's libc headers.
vfm_need_pkgs gcc libc6-dev 2>>"$hostlog"
cflags=(-O2 -Wall -Wextra -Werror -std=gnu11)
# uapi_check LABEL INCLUDE_DIR: one TAP line
uapi_check() {
	local t res rc summary
	t=$(vfm_now)
	res=$({ gcc "${cflags[@]}" -I"$2" -I"$root/include" -o "$out/uapi-check-$1" \
		"$here/uapi-check.c" && "$out/uapi-check-$1"; } 2>&1)
	rc=$?
	printf '%s\n' "$res" >>"$hostlog"
	timed "uapi-$1" "$t"
	summary=$(grep -o '[0-9]* values compared with the Linux [0-9.]* headers' <<<"$res" || true)
	tap $rc "host: uapi.h ioctl numbers, constants and struct layouts match $3 (${summary:-not run})"
}
rc=0
troot=$("$root/scripts/trixie-root.sh" 2>>"$hostlog") || rc=$?
if ((rc == 0)); then
	libc=$out/linux-libc-dev-7.3
	rm -rf "$libc" && mkdir -p "$libc" &&
		cp -r "$troot/usr/include/linux" "$troot/usr/include/asm-generic" "$libc/" &&
		cp -r "$troot/usr/include/x86_64-linux-gnu/asm" "$libc/" 2>>"$hostlog"
	uapi_check libc-7.3 "$libc" \
		"Debian 13's linux-libc-dev $(awk '$1 == "linux-libc-dev" { print $2 }' "$troot/.vfm-versions")"
else
	tap_skip "host: uapi.h matches Debian 13's linux-libc-dev 7.3" \
		"the Debian 13 root cannot be had (scripts/trixie-root.sh exit $rc)"
fi

# ---- host: the static tool --------------------------------------------------------------
# prefer_static: dependency('json-c') must pick libjson-c.a for the static link.
t=$(vfm_now)
vfm_need_pkgs meson ninja-build libjson-c-dev 2>>"$hostlog"
opts=(-Dstatic_tool=true -Dtests=false -Dbench=false -Dvfio_user=true -Dbuildtype=release
	-Dprefer_static=true)
{
	if [[ -f $static/build.ninja ]]; then
		meson configure "$static" "${opts[@]}"
	else
		meson setup "$static" "${opts[@]}"
	fi && ninja -C "$static"
} >>"$hostlog" 2>&1
rc=$?
vm=$static/tools/vfio-mig/vfio-mig
if ((rc == 0)) && readelf -lW "$vm" 2>>"$hostlog" | grep -q 'Requesting program interpreter'; then
	echo "$vm is dynamically linked" >>"$hostlog"
	rc=1
fi
timed static-build "$t"
tap $rc "host: static vfio-mig builds (static_tool, json-c linked statically)"
if ((rc != 0)); then
	tap_notok "guest: not run on any kernel (no static vfio-mig)"
	finish
fi
res=$("$vm" info vfio:/nonexistent 2>&1)
grep -q 'opening the device cdev failed' <<<"$res"
tap $? "host: the static vfio-mig has the kernel transport (vfio: and vfio-group: specs)"
echo "$res" >>"$hostlog"

# ---- per kernel ----------------------------------------------------------------------------
# run_kernel VERSION: the kernel, its uAPI check, the helpers and the guest, as "V: ..." lines.
run_kernel() {
	local v=$1 kernel hdr guestlog rc t
	# This kernel's artifacts (the QEMU part, qemu/tier.sh, uses $out as well).
	local out=$out/$v
	pfx="$v: "
	mkdir -p "$out"
	t=$(vfm_now)
	rc=0
	kernel=$("$here/build-kernel.sh" --kernel "$v" 2>>"$hostlog") || rc=$?
	timed kernel "$t"
	if ((rc == 3)); then
		tap_skip "host: Linux $v + mtty kernel" "its source cannot be had (build-kernel.sh exit 3)"
		return
	fi
	tap $rc "host: Linux $v + mtty kernel built or found in the cache"
	if ((rc != 0)); then
		tap_notok "guest: not run (no kernel)"
		return
	fi
	hdr=$(dirname "$kernel")/include
	if [[ -f $hdr/linux/vfio.h && -f $hdr/linux/iommufd.h ]]; then
		uapi_check "$v" "$hdr" "the Linux $v headers of the kernel cache"
	else
		tap_skip "host: uapi.h matches the Linux $v headers" "no include/ in the kernel cache entry"
	fi
	# host: guest helpers and the initramfs
	t=$(vfm_now)
	{
		gcc -static "${cflags[@]}" -o "$out/vfm-exitcode" "$here/guest/exitcode.c" &&
			gcc -static "${cflags[@]}" -I"$hdr" -o "$out/vfm-uart" "$here/guest/uart.c" &&
			gcc -static "${cflags[@]}" -o "$out/vfm-cut" "$here/guest/cut.c" &&
			gcc -static "${cflags[@]}" -I"$hdr" -o "$out/smoke" "$here/guest/smoke.c" &&
			gcc -static "${cflags[@]}" -I"$root/include" -o "$out/vfm-handle-ops" \
				"$here/guest/handle-ops.c" "$static/libvfio-mig.a" -l:libjson-c.a -pthread -lm &&
			cp "$vm" "$out/vfio-mig" &&
			VFM_EXITCODE_BIN=$out/vfm-exitcode "$here/mkinitramfs.sh" "$out/tier.cpio.gz" \
				"$out/vfio-mig" "$out/vfm-uart" "$out/vfm-cut" "$out/smoke" \
				"$out/vfm-handle-ops" -- "$here/guest/tier.sh"
	} >>"$hostlog" 2>&1
	rc=$?
	timed helpers+initramfs "$t"
	tap $rc "host: static guest helpers (vfm-uart, vfm-cut, vfm-handle-ops, smoke) and the initramfs"
	if ((rc != 0)); then
		tap_notok "guest: not run (no initramfs)"
		return
	fi

	# guest: tsc=reliable: under TCG the clocksource watchdog otherwise drops the TSC for the
	# 4 ms jiffies clock a second into the run, and the guest's timings turn coarse part way
	# through (guest/tier.sh tests the coarse clock on purpose, separately). no_timer_check:
	# on a heavily loaded host the boot's IO-APIC timer check can miss its ticks under TCG
	# and panic ("IO-APIC + timer doesn't work!"), seen here at a load of 25 on 2 cores.
	t=$(vfm_now)
	guestlog=$out/guest.log
	VFM_KERNEL_APPEND="tsc=reliable no_timer_check ${VFM_KERNEL_APPEND:-}" \
		"$here/run-guest.sh" "$kernel" "$out/tier.cpio.gz" "$guestlog" >>"$hostlog" 2>&1
	guest_rc=$?
	timed guest "$t"
	tr -d '\r' <"$guestlog" >"$guestlog.txt"
	# The guest log of a failed check: from its "--- NAME" line to its result (40 lines at
	# most), as TAP comments.
	guest_detail() {
		awk -v name="$1" '
			index($0, "--- " name) == 1 { on = 1; n = 0 }
			on && n < 40 { print "#   " $0; n++ }
			on && index($0, "VFM-TAP: not ok - " name) { exit }
		' "$guestlog.txt"
	}
	count=0
	while IFS= read -r line; do
		line=${line#*VFM-TAP: }
		count=$((count + 1))
		case $line in
		"ok - "*" # SKIP "*)
			name=${line#ok - }
			tap_skip "guest: ${name%% # SKIP *}" "${name#* # SKIP }"
			;;
		"ok - "*) tap_ok "guest: ${line#ok - }" ;;
		*)
			tap_notok "guest: ${line#not ok - }"
			guest_detail "${line#not ok - }"
			;;
		esac
	done < <(grep -a 'VFM-TAP: ' "$guestlog.txt")
	end=$(grep -ao 'VFM-TAP-END: [0-9]*' "$guestlog.txt" | tail -n 1)
	if [[ -n $end && ${end#VFM-TAP-END: } -eq $count ]]; then
		tap_ok "guest: the guest script ran to its end ($count checks)"
	else
		tap_notok "guest: the guest script ran to its end (${end:-no VFM-TAP-END line}, $count checks seen)"
		tail -n 30 "$guestlog.txt" | sed 's/^/#   /'
	fi
	if ((guest_rc == 0)); then
		tap_ok "guest: qemu exit 1, result line, no kernel WARNING/Oops/BUG/panic in the log"
	else
		tap_notok "guest: qemu exit 1, result line, no kernel WARNING/Oops/BUG/panic in the log"
		grep -a 'FAIL' "$hostlog" | tail -n 10 | sed 's/^/#   /'
	fi
	# QEMU 11.1 in the guest, migrating mtty (qemu/tier.sh), on the kernels of
	# VFM_QEMU_KERNELS (default: 6.12 only, it takes minutes).
	if [[ " ${VFM_QEMU_KERNELS:-6.12} " == *" $v "* ]]; then
		# shellcheck source=qemu/tier.sh
		. "$here/qemu/tier.sh"
	fi
	pfx=""
}

for v in ${VFM_KERNELS:-6.12 7.3}; do
	run_kernel "$v"
done
timed total "$t_all"
finish
