#!/bin/bash
# save -> load and migrate between processes' files, for edge sizes; checksums equal.
. "$(dirname "$0")/lib.sh"

for size in 0 1 1048575 1048577 64M; do
	spec="local:testdev,size=$size,seed=11"
	check "save $size" "$VFIO_MIG" save -q --device "$spec" -o "$TMP/s.vfm"
	src=$(checksum_of)
	check "load $size" "$VFIO_MIG" load -q --device "local:testdev,size=$size,seed=99" -i "$TMP/s.vfm"
	dst=$(checksum_of)
	[ -n "$src" ] && [ "$src" = "$dst" ] && ok "checksums equal for $size bytes ($src)" ||
		nok "checksums for $size bytes: '$src' vs '$dst'"
	check "migrate $size" "$VFIO_MIG" migrate -q --from "$spec" --to "local:testdev,size=$size,seed=5"
	[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && [ "$(checksum_of 'source ')" = "$src" ] &&
		ok "migrate keeps the checksum for $size bytes" || nok "migrate checksum for $size"
done

check "save to stdout, load from stdin" bash -c "'$VFIO_MIG' save -q --device local:testdev,size=300K,seed=2 -o - |
	'$VFIO_MIG' load -q --device local:testdev,size=300K -i -"
"$VFIO_MIG" info local:testdev,size=300K,seed=2 >"$TMP/info.out"
[ "$(checksum_of)" = "$(sed -n 's/^checksum: //p' "$TMP/info.out")" ] && ok "piped state intact" || nok "piped state"

check "migrate to a file channel" "$VFIO_MIG" migrate -q --from local:testdev,size=2M,seed=8 \
	--to "file:$TMP/chan.vfm"
src=$(checksum_of 'source ')
check "receive from a file channel" "$VFIO_MIG" receive -q --listen "file:$TMP/chan.vfm" \
	--device local:testdev,size=2M
[ -n "$src" ] && [ "$(checksum_of)" = "$src" ] && ok "file channel keeps the state" || nok "file channel checksum"

check "two devices in one stream" "$VFIO_MIG" save -q --device local:testdev,size=100K,seed=1 \
	--device local:testdev,size=200K,seed=2 -o "$TMP/two.vfm"
check "load two devices" "$VFIO_MIG" load -q --device local:testdev,size=100K --device local:testdev,size=200K -i "$TMP/two.vfm"
expect_exit 1 "load into a device of another size fails" "$VFIO_MIG" load -q --device local:testdev,size=64K -i "$TMP/s.vfm"
grep -q "64M\|67108864" "$TMP/last.err" && ok "size mismatch explained" || nok "size mismatch message"
expect_exit 1 "one device for a two-device stream fails" "$VFIO_MIG" load -q --device local:testdev,size=100K -i "$TMP/two.vfm"
expect_exit 1 "corrupted state is refused" "$VFIO_MIG" migrate -q --from local:testdev,size=1M,corrupt-at=5000 --to local:testdev,size=1M
grep -q "checksum mismatch" "$TMP/last.err" && ok "corruption reported as checksum mismatch" || nok "corruption message"
[ ! -e "$TMP/s.vfm.partial" ] && ok "no partial file left" || nok "partial file left"
expect_exit 1 "a failed save leaves no file" "$VFIO_MIG" save -q --device local:testdev,size=1M,fail-read-at=4096 -o "$TMP/f.vfm"
[ ! -e "$TMP/f.vfm" ] && [ ! -e "$TMP/f.vfm.partial" ] && ok "nothing written on failure" || nok "file left on failure"

done_testing
