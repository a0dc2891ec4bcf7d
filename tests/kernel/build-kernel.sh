#!/bin/bash
# build-kernel.sh [FRAGMENT]
#
# Build (once) a tiny x86_64 Linux 6.12 kernel from the Debian linux-source-6.12 package
# with the mtty VFIO sample driver, and print the path of its bzImage on stdout. Everything
# else goes to stderr.
#
# Cache: ${VFM_KERNEL_CACHE:-$HOME/.cache/vfio-mig/kernel}/<key>/ where
#   key = sha256(FRAGMENT file bytes + `dpkg-query -W -f='${Version}' linux-source-6.12`)
# holding bzImage, include/ (6.12 uAPI headers: include/linux/vfio.h, iommufd.h, ...),
# config and System.map. The 1.7 GB extracted source is deleted after the build.
# A flock on <cache>/<key>.lock serialises concurrent builds of the same key.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

frag=$(realpath "${1:-$here/kernel.config}")
[[ -r $frag ]] || vfm_die "config fragment not readable: $frag"
srcpkg=linux-source-6.12
srctar=/usr/src/$srcpkg.tar.xz

vfm_need_pkgs "$srcpkg"
pkgver=$(dpkg-query -W -f='${Version}' "$srcpkg")
key=$({ cat "$frag"; printf '%s' "$pkgver"; } | sha256sum | cut -d' ' -f1)
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
vfm_log "building $srcpkg $pkgver, fragment $frag"
vfm_log "cache entry $out (scratch $work)"

vfm_log "extracting $srctar"
tar -xJf "$srctar" -C "$work"
src=$work/$srcpkg
[[ -f $src/Makefile ]] || vfm_die "unexpected tarball layout: no $src/Makefile"
vfm_log "extracted in $(vfm_since "$t0") s"

mk() { make -C "$src" ARCH=x86_64 "$@" >&2; }

mk tinyconfig
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "$frag") >&2
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
done <"$frag"
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
