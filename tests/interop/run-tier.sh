#!/bin/bash
# run-tier.sh: the interop tier (scripts/run-tests.sh --only interop): vfio-mig against
# peers we did not write (libvfio-user, QEMU 11.1 as a vfio-user client). TAP on stdout.
#
# What it builds first: vfio-mig (the ASan+UBSan build of the unit tier, same options,
# ${ASAN_BUILD:-build-asan}), libvfio-user (lib.sh: vfm_lvu_build, cached), our own
# libvfio-user test device (lvu-device/, built here against that libvfio-user only; it is
# never linked into vfio-mig).
#
# The test scripts: every tests/interop/*.t.sh, in name order. Adding a test = adding a
# file; nobody edits this one for it. A script
#   - declares what it needs in a header line "# interop-needs: WORD..." with WORD one of
#     libvfio-user, lvu-device, qemu; when a need cannot be had, this tier prints one
#     "ok N - SCRIPT # SKIP why" line for the script and does not run it;
#   - prints TAP lines "ok - NAME", "not ok - NAME", "ok - NAME # SKIP why" (numbers
#     optional; this tier numbers them and prefixes NAME with the script's name),
#     "# ..." comments pass through, anything else goes to its log only;
#   - gets in its environment: VFIO_MIG (the tool), VFM_LVU (the libvfio-user prefix, see
#     lib.sh), VFM_LVU_DEVICE (our test device), VFM_TRIXIE_ROOT (the Debian 13 root with
#     QEMU 11.1, only when it needs qemu), VFM_OUT (a fresh folder of its own for logs and
#     sockets), VFM_INTEROP_LIB (lib.sh, to source);
#   - must end within VFM_INTEROP_SCRIPT_TIMEOUT seconds (default 600; it is killed then,
#     one failure), exit 0 iff nothing failed; a nonzero exit with no "not ok" line, or no
#     TAP line at all, counts as one failure.
# Logs: ${VFM_BUILD_DIR:-<repo>/build}/interop-tier/<script>/ (the script's stderr and
# other output in log).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
root=$vfm_interop_root
out=${VFM_BUILD_DIR:-$root/build}/interop-tier
mkdir -p "$out"
out=$(cd "$out" && pwd)
tierlog=$out/tier.log
: >"$tierlog"

n=0 failed=0
timings=()
tap_ok() { n=$((n + 1)); echo "ok $n - $1"; }
tap_notok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; }
tap_skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
tail_log() { tail -n "${2:-25}" "$1" | sed 's/^/#   /'; }

# ---- vfio-mig -----------------------------------------------------------------------
asan=${ASAN_BUILD:-build-asan}
[[ $asan = /* ]] || asan=$root/$asan
t=$(vfm_now)
opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dtests=true -Dbench=false
	--buildtype=debugoptimized)
if [[ -f $asan/build.ninja ]]; then
	meson configure "$asan" "${opts[@]}" >>"$tierlog" 2>&1
else
	meson setup "$asan" "$root" "${opts[@]}" >>"$tierlog" 2>&1
fi
if ninja -C "$asan" tools/vfio-mig/vfio-mig >>"$tierlog" 2>&1; then
	export VFIO_MIG=$asan/tools/vfio-mig/vfio-mig
	timings+=("vfio-mig $(vfm_since "$t") s")
else
	tap_notok "vfio-mig builds (ASan+UBSan)"
	tail_log "$tierlog"
	echo "1..$n"
	exit 1
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# ---- libvfio-user and our device on it ------------------------------------------------
declare -A why=()
t=$(vfm_now)
VFM_LVU=$(vfm_lvu_build 2>"$out/lvu.err")
rc=$?
if ((rc == 0)); then
	export VFM_LVU
	tap_ok "libvfio-user built or found in the cache ($VFM_LVU)"
	timings+=("libvfio-user $(vfm_since "$t") s")
	mkdir -p "$out/bin"
	VFM_LVU_DEVICE=$out/bin/lvu-device
	if vfm_lvu_cc "$VFM_LVU" "$VFM_LVU_DEVICE" "$here"/lvu-device/*.c >"$out/lvu-device.log" 2>&1; then
		export VFM_LVU_DEVICE
		tap_ok "our test device builds on libvfio-user's public API"
	else
		tap_notok "our test device builds on libvfio-user's public API"
		tail_log "$out/lvu-device.log"
		why[lvu-device]="our libvfio-user test device did not build"
	fi
elif ((rc == 3)); then
	why[libvfio-user]=$(head -n 1 "$out/lvu.err")
	why[lvu-device]=${why[libvfio-user]}
	tap_skip "libvfio-user" "${why[libvfio-user]}"
else
	tap_notok "libvfio-user builds"
	tail_log "$out/lvu.err"
	why[libvfio-user]="libvfio-user did not build"
	why[lvu-device]=${why[libvfio-user]}
fi

# qemu: the Debian 13 root, built only when a script needs it.
need_qemu() {
	[[ -n ${VFM_TRIXIE_ROOT:-} || -n ${why[qemu]:-} ]] && return 0
	local t r
	t=$(vfm_now)
	r=$("$root/scripts/trixie-root.sh" 2>"$out/trixie.err")
	case $? in
	0) export VFM_TRIXIE_ROOT=$r; timings+=("trixie-root $(vfm_since "$t") s") ;;
	3) why[qemu]="$(head -n 1 "$out/trixie.err") (QEMU 11.1 comes from Debian's trixie-backports into a Debian 13 root: scripts/trixie-root.sh)" ;;
	*) tap_notok "Debian 13 root with QEMU 11.1 (scripts/trixie-root.sh)"
	   tail_log "$out/trixie.err"
	   why[qemu]="scripts/trixie-root.sh failed" ;;
	esac
}

# ---- the scripts ----------------------------------------------------------------------
# run_script FILE: runs one test script, numbers its TAP lines.
run_script() {
	local f=$1 name needs w rc sout saw=0 bad=0 line
	name=$(basename "$f" .t.sh)
	needs=$(sed -n 's/^# interop-needs: *//p' "$f" | head -n 1)
	for w in $needs; do
		[[ $w = qemu ]] && need_qemu
		if [[ -n ${why[$w]:-} ]]; then
			tap_skip "$name" "${why[$w]}"
			return
		fi
	done
	export VFM_OUT=$out/$name
	rm -rf "$VFM_OUT"
	mkdir -p "$VFM_OUT"
	export VFM_INTEROP_LIB=$here/lib.sh
	sout=$VFM_OUT/tap
	t=$(vfm_now)
	timeout -k 5 "${VFM_INTEROP_SCRIPT_TIMEOUT:-600}" bash "$f" >"$sout" 2>"$VFM_OUT/log"
	rc=$?
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ )?ok([[:space:]]+[0-9]+)?[[:space:]]*-?[[:space:]]*(.*)$ ]]; then
			saw=1
			n=$((n + 1))
			if [[ -n ${BASH_REMATCH[1]} ]]; then
				failed=$((failed + 1)) bad=1
				echo "not ok $n - $name: ${BASH_REMATCH[3]}"
			else
				echo "ok $n - $name: ${BASH_REMATCH[3]}"
			fi
		elif [[ $line = \#* ]]; then
			echo "$line"
		elif [[ $line = 1..* ]]; then
			:
		else
			printf '%s\n' "$line" >>"$VFM_OUT/log"
		fi
	done <"$sout"
	timings+=("$name $(vfm_since "$t") s")
	if ((saw == 0)); then
		tap_notok "$name: printed no TAP line (exit $rc)"
		tail_log "$VFM_OUT/log"
	elif ((rc != 0 && bad == 0)); then
		tap_notok "$name: exited $rc$( ((rc == 124)) && echo " (killed after ${VFM_INTEROP_SCRIPT_TIMEOUT:-600} s)")"
		tail_log "$VFM_OUT/log"
	elif ((bad)); then
		tail_log "$VFM_OUT/log" 15
	fi
}

shopt -s nullglob
for f in "$here"/*.t.sh; do
	run_script "$f"
done

echo "# timings: ${timings[*]/%/,}" | sed 's/,$//'
echo "# logs: $out"
echo "1..$n"
((failed == 0))
