#!/bin/bash
# trixie-root.sh: build (once) a Debian 13 root with QEMU 11.1 (qemu-system-x86 from
# trixie-backports), linux-source-7.3 and linux-libc-dev 7.3, and print its path.
#
# Never installs anything from Debian 13 into this machine's own root: everything goes
# into a debootstrapped folder that is used with chroot (qemu-system-x86_64 must run
# inside it: the host's ld.so would load the host's QEMU modules).
#
# Cache: ${VFM_TRIXIE_CACHE:-$HOME/.cache/vfio-mig/trixie-root}/<key>/ where
#   key = sha256(this script's bytes)
# The root's package versions are recorded in <root>/.vfm-versions ("pkg version" lines);
# tests that depend on a version read them from there. A flock serialises builders.
# Exit 0 and the path on stdout; exit 3 with one line on stderr when the packages cannot
# be had (no network to Debian's mirror): callers turn that into a SKIP.
set -euo pipefail

mirror=${VFM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
pkgs=(qemu-system-x86 linux-source-7.3 linux-libc-dev)
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
cache=${VFM_TRIXIE_CACHE:-${HOME:?}/.cache/vfio-mig/trixie-root}
out=$cache/$key

log() { printf '[trixie-root] %s\n' "$*" >&2; }
if [[ -f $out/.vfm-complete ]]; then
	printf '%s\n' "$out"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$out.lock"
flock 9
if [[ -f $out/.vfm-complete ]]; then
	printf '%s\n' "$out"
	exit 0
fi

if ! command -v debootstrap >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get install -y -qq --no-install-recommends debootstrap ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap; }; } >&2 ||
		{ log "cannot install debootstrap from Debian's mirror"; exit 3; }
fi

work=$(mktemp -d "$cache/.build-$key.XXXXXX")
cleanup() {
	umount "$work/proc" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
t0=$(date +%s)
log "debootstrap trixie into $work"
if ! debootstrap --variant=minbase trixie "$work" "$mirror" >"$cache/debootstrap.log" 2>&1; then
	log "debootstrap of Debian 13 from $mirror failed (see $cache/debootstrap.log)"
	exit 3
fi
echo "deb $mirror trixie-backports main" >"$work/etc/apt/sources.list.d/backports.list"
mount -t proc proc "$work/proc"
if ! { chroot "$work" apt-get update -qq &&
	DEBIAN_FRONTEND=noninteractive chroot "$work" apt-get install -y -qq --no-install-recommends \
		-t trixie-backports "${pkgs[@]}"; } >"$cache/apt.log" 2>&1; then
	log "installing ${pkgs[*]} from trixie-backports failed (see $cache/apt.log)"
	exit 3
fi
chroot "$work" apt-get clean
rm -rf "$work"/var/lib/apt/lists/*
umount "$work/proc"
chroot "$work" dpkg-query -W -f='${Package} ${Version}\n' "${pkgs[@]}" >"$work/.vfm-versions"
date -u +%FT%TZ >"$work/.vfm-complete"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
log "built in $(($(date +%s) - t0)) s: $(tr '\n' ' ' <"$out/.vfm-versions")"
printf '%s\n' "$out"
