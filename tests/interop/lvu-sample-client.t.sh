#!/bin/bash
# libvfio-user's own sample client (samples/client.c in its tarball) against vfio-mig
# serve (issue 8, part 2): negotiation, device and region info, config space, BAR0, INTx,
# DMA into shared memory with dirty logging, live migration from one `vfio-mig serve`
# into another (pre-copy, then stop-copy to the end), DMA_UNMAP with
# VFIO_DMA_UNMAP_FLAG_ALL. The client is built from the library's source with
# lvu-sample-client/client.patch applied (cached beside the library build): the patch
# adapts only what the client takes from libvfio-user's own sample server (device
# identity, BAR layout, how interrupts and DMA are started, the stream layout, who starts
# the destination server); README.md, "vfio-user interoperability", lists it. The
# protocol the client speaks is untouched.
# interop-needs: libvfio-user
# shellcheck source=lib.sh
. "$VFM_INTEROP_LIB"

patch=$vfm_interop_here/lvu-sample-client/client.patch

# build_client: prints the path of the adapted client, built once per library and patch.
build_client() {
	local key dir src
	key=$( { echo "$VFM_LVU"; cat "$patch"; echo recipe 1; } | sha256sum | cut -c1-16)
	dir=${VFM_CACHE:-$HOME/.cache/vfio-mig}/lvu-sample-client/$key
	if [[ ! -x $dir/client ]]; then
		rm -rf "$dir" && mkdir -p "$dir" || return 1
		src=$VFM_LVU/src
		cp "$src/samples/client.c" "$dir/client.c" &&
			patch -s "$dir/client.c" <"$patch" &&
			gcc -std=gnu11 -O2 -D_GNU_SOURCE -I"$src/include" -I"$src/lib" -I"$src/samples" \
				$(pkg-config --cflags json-c) -o "$dir/client.tmp" "$dir/client.c" \
				"$src/lib/migration.c" "$src/lib/tran.c" "$src/lib/tran_sock.c" \
				$(pkg-config --libs json-c) -lpthread >"$dir/build.log" 2>&1 &&
			mv "$dir/client.tmp" "$dir/client" || return 1
	fi
	printf '%s\n' "$dir/client"
}

if ! command -v patch >/dev/null; then
	t_skip "libvfio-user's sample client" "the 'patch' program is not installed (apt-get install patch)"
	exit 0
fi
if ! client=$(build_client); then
	t_nok "build the adapted sample client"
	exit 1
fi
t_ok "build the adapted sample client"

spec=testdev,size=${VFM_LVU_CLIENT_SIZE:-256K}
sock=$VFM_OUT/src.sock
# The client connects to SOCK, then migrates into SOCK_migrated (its sample's naming).
vfm_start_serve src "$spec,seed=7" || { t_nok "start the source"; exit 1; }
rm -f "${sock}_migrated"
"$VFIO_MIG" serve -v --socket "${sock}_migrated" --device "$spec,seed=9" 2>"$VFM_OUT/dst.log" &
t_pids+=($!)
vfm_wait_socket $! "${sock}_migrated" || { t_nok "start the destination"; exit 1; }

timeout 120 stdbuf -oL "$client" "$sock" >"$VFM_OUT/client.out" 2>&1
rc=$?
if ((rc == 0)); then
	t_ok "the sample client completes its run and migration"
else
	t_nok "the sample client completes its run and migration (exit $rc)"
	tail -n 15 "$VFM_OUT/client.out" | sed 's/^/#   /'
fi
out() { grep -c -- "$1" "$VFM_OUT/client.out"; }
t_is "INTx delivered by both servers" "$(out '^client: INTx triggered!$')" 2
t_is "DMA engine ran on both servers" "$(out '^client: DMA engine wrote regions 0-1')" 2
t_is "the DMA engine's writes are in the dirty log" \
	"$(grep -cP '^client: get_dirty_bitmap: (0-0xfff|0x1000-0x1fff)\t0x1$' "$VFM_OUT/client.out")" 2
t_is "no other page logged dirty" \
	"$(grep -cP '^client: get_dirty_bitmap: .*\t0x1$' "$VFM_OUT/client.out")" 2
t_is "pre-copy and stop-copy data read" "$(out '^client: read [0-9]* migration data messages$')" 1
t_is "the client sees the source's checksum on the destination" \
	"$(out '^client: destination checksum .* matches the source$')" 1

# Our own client, independently: the two devices hold the same state now.
sum() { "$VFIO_MIG" info "unix:$1" 2>/dev/null | sed -n 's/^checksum: //p'; }
src_sum=$(sum "$sock") dst_sum=$(sum "${sock}_migrated")
if [[ -n $src_sum && $src_sum == "$dst_sum" ]]; then
	t_ok "vfio-mig info: destination checksum equals the source's ($src_sum)"
else
	t_nok "vfio-mig info: destination checksum equals the source's ('$src_sum' vs '$dst_sum')"
fi
grep -q 'client gone, device RUNNING' "$VFM_OUT/dst.log" &&
	t_ok "the destination is RUNNING after the client left" ||
	t_nok "the destination is RUNNING after the client left"
t_done
