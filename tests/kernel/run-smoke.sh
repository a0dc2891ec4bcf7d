#!/bin/bash
# run-smoke.sh: the kernel test tier end to end, with guest/smoke.c as the test program.
#   build-kernel.sh (cached) -> gcc -static guest/{exitcode,smoke}.c -> mkinitramfs.sh
#   -> run-guest.sh.  Exit 0 on pass.
# Artifacts (static helpers, initramfs, guest log) go to ${VFM_BUILD_DIR:-<repo>/build}/kernel.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

root=$(cd "$here/../.." && pwd)
build=${VFM_BUILD_DIR:-$root/build}/kernel
mkdir -p "$build"
build=$(cd "$build" && pwd)

t_all=$(vfm_now)
t=$(vfm_now)
kernel=$("$here/build-kernel.sh")
hdr=$(dirname "$kernel")/include
vfm_log "kernel $kernel ($(vfm_since "$t") s)"

t=$(vfm_now)
vfm_need_pkgs gcc libc6-dev
cflags=(-static -O2 -Wall -Wextra -Werror -std=gnu11)
gcc "${cflags[@]}" -o "$build/vfm-exitcode" "$here/guest/exitcode.c"
gcc "${cflags[@]}" -I"$hdr" -o "$build/smoke" "$here/guest/smoke.c"
VFM_EXITCODE_BIN=$build/vfm-exitcode \
	"$here/mkinitramfs.sh" "$build/smoke.cpio.gz" "$build/smoke" -- "$here/guest/mtty-smoke.sh"
vfm_log "guest programs and initramfs built ($(vfm_since "$t") s)"

rc=0
"$here/run-guest.sh" "$kernel" "$build/smoke.cpio.gz" "$build/smoke.log" || rc=$?
if ((rc == 0)); then
	vfm_log "PASS: kernel smoke test, total $(vfm_since "$t_all") s (guest log $build/smoke.log)"
else
	vfm_log "FAIL: kernel smoke test, total $(vfm_since "$t_all") s (guest log $build/smoke.log)"
fi
exit "$rc"
