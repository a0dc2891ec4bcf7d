# tier.sh: the QEMU part of the kernel tier, sourced by ../run-tier.sh after its own guest
# run (it uses that script's tap helpers, $kernel, $out, $vm, $hostlog, $cflags and $hdr).
#
# Host: the Debian 13 root with QEMU 11.1 (scripts/trixie-root.sh; exit 3 = the packages
# cannot be had: one SKIP line), the squashfs image made from it (mkimage.sh, cached), the
# static vfm-qmp (qmp.c), an initramfs with vfio-mig, vfm-uart, vfm-qmp and guest.sh.
# Guest: run-guest.sh boots the same kernel with the image as /dev/vda (read-only) and a
# results disk as /dev/vdb; guest.sh's "VFM-TAP:" lines become "qemu: ..." TAP lines here.
# The streams QEMU wrote end up in $out/qemu/results/ (from the tar on the results disk).
# shellcheck shell=bash

qemu_tier() {
	local qhere=$here/qemu qout=$out/qemu qroot image rc t line count end
	mkdir -p "$qout"
	t=$(vfm_now)
	qroot=$("$root/scripts/trixie-root.sh" 2>>"$hostlog")
	rc=$?
	if ((rc == 3)); then
		tap_skip "qemu: QEMU 11.1 migrates mtty inside the guest" \
			"$(grep -a '\[trixie-root\]' "$hostlog" | tail -n 1)"
		return
	fi
	image=$( ((rc == 0)) && "$qhere/mkimage.sh" "$qroot" 2>>"$hostlog")
	rc=$?
	timed qemu-image "$t"
	tap $rc "qemu: Debian 13 root with QEMU 11.1 and its squashfs image (cached)"
	((rc == 0)) || return
	t=$(vfm_now)
	{
		gcc -static "${cflags[@]}" -o "$qout/vfm-qmp" "$qhere/qmp.c" &&
			VFM_EXITCODE_BIN=$out/vfm-exitcode "$here/mkinitramfs.sh" "$qout/qemu.cpio.gz" \
				"$out/vfio-mig" "$out/vfm-uart" "$qout/vfm-qmp" -- "$qhere/guest.sh" &&
			rm -f "$qout/results.img" && truncate -s 64M "$qout/results.img"
	} >>"$hostlog" 2>&1
	rc=$?
	tap $rc "qemu: vfm-qmp and the QEMU tier's initramfs"
	((rc == 0)) || return
	VFM_GUEST_MEM=1G VFM_GUEST_TIMEOUT=${VFM_QEMU_GUEST_TIMEOUT:-600} \
		VFM_GUEST_DRIVES="$image:ro $qout/results.img" \
		"$here/run-guest.sh" "$kernel" "$qout/qemu.cpio.gz" "$qout/guest.log" >>"$hostlog" 2>&1
	rc=$?
	timed qemu-guest "$t"
	tr -d '\r' <"$qout/guest.log" >"$qout/guest.log.txt"
	rm -rf "$qout/results" && mkdir -p "$qout/results" &&
		tar -xf "$qout/results.img" -C "$qout/results" 2>>"$hostlog"
	count=0
	while IFS= read -r line; do
		line=${line#*VFM-TAP: }
		count=$((count + 1))
		case $line in
		"ok - "*" # SKIP "*)
			line=${line#ok - }
			tap_skip "guest: ${line%% # SKIP *}" "${line#* # SKIP }"
			;;
		"ok - "*) tap_ok "guest: ${line#ok - }" ;;
		*)
			tap_notok "guest: ${line#not ok - }"
			awk -v name="${line#not ok - }" '
				index($0, "--- " name) == 1 { on = 1; n = 0 }
				on && n < 40 { print "#   " $0; n++ }
				on && index($0, "VFM-TAP: not ok - " name) { exit }
			' "$qout/guest.log.txt"
			;;
		esac
	done < <(grep -a 'VFM-TAP: ' "$qout/guest.log.txt")
	end=$(grep -ao 'VFM-TAP-END: [0-9]*' "$qout/guest.log.txt" | tail -n 1)
	if [[ -n $end && ${end#VFM-TAP-END: } -eq $count ]]; then
		tap_ok "guest: the QEMU guest script ran to its end ($count checks)"
	else
		tap_notok "guest: the QEMU guest script ran to its end (${end:-no VFM-TAP-END line}, $count checks seen)"
		tail -n 30 "$qout/guest.log.txt" | sed 's/^/#   /'
	fi
	tap $rc "guest: QEMU run: qemu exit 1, result line, no kernel WARNING/Oops/BUG/panic in the log"
}
qemu_tier
