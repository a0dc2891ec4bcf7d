#!/bin/bash
# The exported ABI of libvfio-mig.so, with libabigail (Debian: abigail-tools).
#   abi.sh dump  LIB HEADERS OUT          write LIB's ABI to OUT
#   abi.sh check BASELINE LIB HEADERS     compare LIB with the baseline
# The ABI is what the exported functions reach. HEADERS is the include/vfio-mig/ the
# library was built from: libabigail matches it against the paths in the debug
# information, and types defined elsewhere (struct vfm_testdev, opaque in its header) are
# private, their layout free to change. A folder that does not match would make every
# type private, so a dump without one full public structure is an error.
# check fails (exit 1) on an incompatible change -- a function or variable removed, or
# changed (its type, or a type it reaches: a structure's size or layout) -- unless the
# soname changed too. Added functions are compatible. A soname bump passes with a note:
# regenerate the baseline then (scripts/abi-baseline.sh).
set -uo pipefail

dump() { # dump LIB HEADERS OUT
	abidw --no-corpus-path --no-comp-dir-path --no-show-locs --type-id-style hash \
		--drop-undefined-syms --exported-interfaces-only --headers-dir "$2" \
		--drop-private-types --out-file "$3" "$1" || return 1
	grep -q "<class-decl name='vfm_[a-z_]*' size-in-bits=" "$3" || {
		echo "abi: no public structure in the ABI of $1: is $2 the folder it was built from?"
		return 1
	}
}

soname_of_xml() { sed -n "s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1" | head -n 1; }
soname_of_lib() { readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'; }

check() { # check BASELINE LIB HEADERS
	local base=$1 lib=$2 headers=$3 old new out rc removed changed
	old=$(soname_of_xml "$base")
	new=$(soname_of_lib "$lib")
	if [ -z "$old" ] || [ -z "$new" ]; then
		echo "abi: cannot read the sonames (baseline '$old', library '$new')"
		return 1
	fi
	if [ "$old" != "$new" ]; then
		echo "abi: soname $old -> $new: incompatible changes allowed;" \
			"regenerate the baseline with scripts/abi-baseline.sh"
		return 0
	fi
	dump "$lib" "$headers" "$TMP/new.abi" || return 1
	out=$(abidiff --no-show-locs "$base" "$TMP/new.abi" 2>&1)
	rc=$?
	if [ $((rc & 3)) -ne 0 ]; then
		printf 'abi: abidiff failed (exit %d)\n%s\n' "$rc" "$out"
		return 1
	fi
	# "Functions changes summary: 1 Removed, 2 Changed (...), 3 Added functions", the
	# same for variables and for symbols without debug information.
	removed=$(sed -n 's/.*summary: \([0-9]*\) Removed.*/\1/p' <<<"$out" | awk '{s += $1} END {print s + 0}')
	changed=$(sed -n 's/.*summary: [0-9]* Removed[^,]*, \([0-9]*\) Changed.*/\1/p' <<<"$out" |
		awk '{s += $1} END {print s + 0}')
	if [ $((rc & 8)) -ne 0 ] || [ "${removed:-0}" -gt 0 ] || [ "${changed:-0}" -gt 0 ]; then
		printf 'abi: incompatible change to %s without a soname bump (abidiff exit %d):\n%s\n' \
			"$new" "$rc" "$out"
		echo "abi: keep the old function (add a new one), or raise soversion in meson.build" \
			"and regenerate the baseline (scripts/abi-baseline.sh)"
		return 1
	fi
	if [ "$rc" -ne 0 ]; then
		printf 'abi: compatible additions:\n%s\n' "$out"
	fi
	echo "abi: $new compatible with the baseline"
	return 0
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
case "${1:-}" in
dump) [ $# -eq 4 ] && dump "$2" "$3" "$4" ;;
check) [ $# -eq 4 ] && check "$2" "$3" "$4" ;;
*) echo "usage: $0 dump LIB HEADERS OUT | check BASELINE LIB HEADERS" >&2; exit 2 ;;
esac
