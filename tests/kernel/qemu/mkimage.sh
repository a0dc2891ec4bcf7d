#!/bin/bash
# mkimage.sh ROOT: the QEMU 11.1 image for the kernel tier's guest, built once and cached.
#
# Copies qemu-system-x86_64 out of the Debian 13 root (scripts/trixie-root.sh) with the
# libraries its ld.so loads, its firmware (/usr/share/qemu, seabios, ipxe) and its module
# folder into a small tree with empty mount points (dev, proc, sys, tmp), packs it with
# mksquashfs (gzip: the guest kernel has SQUASHFS_ZLIB) and prints the image's path.
# The guest mounts it read-only and runs `chroot DIR qemu-system-x86_64`.
#
# Cache: ${VFM_QEMU_IMAGE_CACHE:-$HOME/.cache/vfio-mig/qemu-image}/<key>.squashfs, where
#   key = sha256(this script, ROOT/.vfm-versions)
# A flock serialises builders.
set -euo pipefail

(($# == 1)) || { echo "usage: ${0##*/} ROOT" >&2; exit 2; }
root=$1
[[ -x $root/usr/bin/qemu-system-x86_64 && -f $root/.vfm-versions ]] ||
	{ echo "mkimage: $root has no QEMU (scripts/trixie-root.sh)" >&2; exit 1; }
key=$(cat "${BASH_SOURCE[0]}" "$root/.vfm-versions" | sha256sum | cut -c1-16)
cache=${VFM_QEMU_IMAGE_CACHE:-${HOME:?}/.cache/vfio-mig/qemu-image}
img=$cache/$key.squashfs
if [[ -f $img ]]; then
	printf '%s\n' "$img"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$img.lock"
flock 9
if [[ -f $img ]]; then
	printf '%s\n' "$img"
	exit 0
fi
command -v mksquashfs >/dev/null || {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends squashfs-tools >&2
}

stage=$(mktemp -d "$cache/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
tree=$stage/tree
mkdir -p "$tree"/{dev,proc,sys,tmp,usr/bin}
# Every file ldd names, under its own path, symlinks resolved.
libs=$(chroot "$root" ldd /usr/bin/qemu-system-x86_64 |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
for f in /usr/bin/qemu-system-x86_64 $libs; do
	mkdir -p "$tree$(dirname "$f")"
	cp -L "$root$f" "$tree$f"
done
# The firmware folders hold symlinks into each other (qemu -> seabios, ipxe): keep them.
for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe /usr/lib/x86_64-linux-gnu/qemu; do
	if [[ -d $root$d ]]; then
		mkdir -p "$tree$(dirname "$d")"
		cp -a "$root$d" "$tree$d"
	fi
done
cp "$root/.vfm-versions" "$tree/.vfm-versions"
mksquashfs "$tree" "$stage/img" -comp gzip -noappend -quiet -all-root >&2
mv "$stage/img" "$img"
printf '%s\n' "$img"
