#!/bin/bash
# build-kernel.sh [--kernel 6.12|7.3] [FRAGMENT...]
#
# Build (once) a tiny x86_64 Linux kernel with the mtty VFIO sample driver, and print the
# path of its bzImage on stdout. Everything else goes to stderr.
#   --kernel 6.12 (default): the host's Debian 12 linux-source-6.12 package.
#   --kernel 7.3: linux-source-7.3 from trixie-backports, in the Debian 13 root of
#     scripts/trixie-root.sh (exit 3 with one line when that root cannot be had: SKIP).
# FRAGMENTs default to kernel.config, plus kernel-7.3.config for 7.3 (the options 7.3
# needs on top of the shared fragment); they are merged in order onto tinyconfig.
#
# Cache: ${VFM_KERNEL_CACHE:-$HOME/.cache/vfio-mig/kernel}/<key>/ where
#   key = sha256(the FRAGMENT files' bytes, in order + the source package's version)
# (the 6.12 package version comes from dpkg-query, the 7.3 one from the root's
# .vfm-versions), holding bzImage, include/ (the kernel's uAPI headers: include/linux/vfio.h,
# iommufd.h, ...), config, System.map and kernelrelease. The 1.7 GB extracted source is
# deleted after the build. A flock on <cache>/<key>.lock serialises concurrent builds of
# the same key.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

kver=6.12
if [[ ${1:-} == --kernel ]]; then
	kver=${2:?--kernel needs 6.12 or 7.3}
	shift 2
fi
frags=()
for f in "$@"; do
	frags+=("$(realpath "$f")")
done
case $kver in
6.12)
	((${#frags[@]})) || frags=("$here/kernel.config")
	srcpkg=linux-source-6.12
	vfm_need_pkgs "$srcpkg"
	srctar=/usr/src/$srcpkg.tar.xz
	pkgver=$(dpkg-query -W -f='${Version}' "$srcpkg")
	;;
7.3)
	((${#frags[@]})) || frags=("$here/kernel.config" "$here/kernel-7.3.config")
	srcpkg=linux-source-7.3
	rc=0
	troot=$("$here/../../scripts/trixie-root.sh") || rc=$?
	((rc == 0)) || exit "$rc"
	srctar=$troot/usr/src/$srcpkg.tar.xz
	pkgver=$(awk -v p="$srcpkg" '$1 == p { print $2 }' "$troot/.vfm-versions")
	[[ -n $pkgver ]] || vfm_die "$srcpkg has no version in $troot/.vfm-versions"
	;;
*) vfm_die "unknown kernel $kver (6.12 or 7.3)" ;;
esac
for f in "${frags[@]}"; do
	[[ -r $f ]] || vfm_die "config fragment not readable: $f"
done
key=$({ cat "${frags[@]}"; printf '%s' "$pkgver"; } | sha256sum | cut -d' ' -f1)
cache=${VFM_KERNEL_CACHE:-${HOME:?}/.cache/vfio-mig/kernel}
out=$cache/$key

# A finished cache entry is only ever created by an atomic rename, so its presence is
# enough: no lock needed on the fast path.
if [[ -f $out/.complete ]]; then
	printf '%s\n' "$out/bzImage"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$out.lock"
if ! flock -n 9; then
	vfm_log "another build of $key is running; waiting for its lock"
	flock 9
fi
if [[ -f $out/.complete ]]; then
	printf '%s\n' "$out/bzImage"
	exit 0
fi

vfm_need_pkgs build-essential flex bison bc libelf-dev libssl-dev xz-utils rsync
[[ -r $srctar ]] || vfm_die "$srctar missing although $srcpkg is installed"

t0=$(vfm_now)
work=$(mktemp -d "$cache/.build-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
vfm_log "building $srcpkg $pkgver, fragments ${frags[*]}"
vfm_log "cache entry $out (scratch $work)"

vfm_log "extracting $srctar"
tar -xJf "$srctar" -C "$work"
src=$work/$srcpkg
[[ -f $src/Makefile ]] || vfm_die "unexpected tarball layout: no $src/Makefile"
vfm_log "extracted in $(vfm_since "$t0") s"

mk() { make -C "$src" ARCH=x86_64 "$@" >&2; }

mk tinyconfig
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "${frags[@]}") >&2
mk olddefconfig

# Every option of the fragment must have survived olddefconfig (a missing dependency
# silently drops it otherwise).
lost=()
while IFS= read -r line || [[ -n $line ]]; do
	line=${line%"${line##*[![:space:]]}"}
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		grep -qxF -- "$line" "$src/.config" ||
			lost+=("$line (got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$src/.config" || echo absent))")
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		! grep -qE "^${BASH_REMATCH[1]}=" "$src/.config" || lost+=("$line (but it is set)")
	fi
done < <(cat "${frags[@]}")
if ((${#lost[@]})); then
	vfm_log "FAILED: these fragment lines did not survive olddefconfig:"
	printf '  %s\n' "${lost[@]}" >&2
	exit 1
fi
vfm_log "config verified: all fragment options present"

mk -j"$(nproc)" bzImage
mk headers_install INSTALL_HDR_PATH="$work/out"
for h in linux/vfio.h linux/iommufd.h; do
	[[ -f $work/out/include/$h ]] || vfm_die "headers_install did not produce include/$h"
done
cp "$src/arch/x86/boot/bzImage" "$src/.config" "$src/System.map" "$work/out/"
mv "$work/out/.config" "$work/out/config"
make -s -C "$src" ARCH=x86_64 kernelrelease >"$work/out/kernelrelease"
printf '%s\n%s\n' "$pkgver" "$(date -u +%FT%TZ)" >"$work/out/.complete"

rm -rf "$out" # a stale, incomplete entry (no .complete) from an older run
mv "$work/out" "$out"
vfm_log "kernel $(cat "$out/kernelrelease") built in $(vfm_since "$t0") s; bzImage $(stat -c %s "$out/bzImage") bytes"
printf '%s\n' "$out/bzImage"
