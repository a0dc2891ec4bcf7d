#!/bin/bash
# Zero copy (device.h save_iov/load_at): an in-process device lends its memory to the
# engine, which sends from it and receives into it. The lent stream must be the copied
# stream byte for byte, and every pairing of a lending and a copying side (in-process,
# files, TCP in clear and under TLS) must carry the state intact.
. "$(dirname "$0")/lib.sh"

PORT=${PORT:-7481}
dev() { # dev SIZE SEED ZERO-COPY
	echo "local:testdev,size=$1,seed=$2,zero-copy=$3"
}

# 1. Files: the same bytes either way, and either way loaded.
SIZE=5255537 # not a whole number of the device's 64 KiB chunks
for zc in on off; do
	check "save with zero-copy=$zc" "$VFIO_MIG" save -q --device "$(dev $SIZE 7 $zc)" -o "$TMP/$zc.vfm"
	eval "sum_$zc=\$(checksum_of)"
done
# shellcheck disable=SC2154 # set by the eval above
[ -n "$sum_on" ] && [ "$sum_on" = "$sum_off" ] && ok "both saves report the same state" ||
	nok "saved checksums '$sum_on' vs '$sum_off'"
check "the lent stream is the copied stream, byte for byte" cmp "$TMP/on.vfm" "$TMP/off.vfm"
for zc in on off; do
	check "load into zero-copy=$zc" "$VFIO_MIG" load -q --device "$(dev $SIZE 99 $zc)" -i "$TMP/on.vfm"
	[ "$(checksum_of)" = "$sum_on" ] && ok "zero-copy=$zc destination holds the state" ||
		nok "zero-copy=$zc destination checksum $(checksum_of)"
done

# 2. In-process, every pairing.
for pair in "on on" "on off" "off on"; do
	set -- $pair
	check "in-process migrate, source $1, destination $2" "$VFIO_MIG" migrate -q \
		--from "$(dev 9M 3 "$1")" --to "$(dev 9M 4 "$2")"
	src=$(checksum_of 'source ')
	[ -n "$src" ] && [ "$src" = "$(checksum_of 'destination ')" ] &&
		ok "source $1, destination $2: state intact" || nok "source $1, destination $2: checksums"
done

# 3. TCP over loopback: in clear (with and without pre-copy under a workload), and TLS.
tcp_case() { # tcp_case NAME SIZE SRC-ZC DST-ZC [options for both sides...]
	local name=$1 size=$2 szc=$3 dzc=$4 rc
	shift 4
	"$VFIO_MIG" receive -q --listen "tcp:127.0.0.1:$PORT" --timeout 60 "$@" \
		--device "$(dev "$size" 2 "$dzc")" >"$TMP/recv.out" 2>"$TMP/recv.err" &
	local recv=$!
	for _ in $(seq 50); do
		ss -ltn 2>/dev/null | grep -q ":$PORT " && break
		sleep 0.1
	done
	check "$name: migrate" "$VFIO_MIG" migrate -q --to "tcp:127.0.0.1:$PORT" "$@" $MIG_OPTS \
		--from "$(dev "$size" 1 "$szc")$SRC_EXTRA"
	wait $recv
	rc=$?
	[ $rc -eq 0 ] && ok "$name: receive succeeds" || { nok "$name: receive exit $rc"; sed 's/^/# /' "$TMP/recv.err"; }
	src=$(checksum_of 'source ')
	dst=$(sed -n 's/^checksum: //p' "$TMP/recv.out")
	[ -n "$src" ] && [ "$src" = "$dst" ] && ok "$name: destination holds the source's state" ||
		nok "$name: checksums '$src' vs '$dst'"
	PORT=$((PORT + 1))
}
MIG_OPTS=--no-precopy SRC_EXTRA=
for pair in "on on" "on off" "off on"; do
	set -- $pair
	tcp_case "TCP, source $1, destination $2" 48M "$1" "$2"
done
MIG_OPTS="--downtime-limit 5000" SRC_EXTRA=,dirty-rate=16M
tcp_case "TCP with pre-copy under a workload" 48M on on
# Under TLS the socket holds ciphertext: the receiver looks for the source's control
# messages in the decrypted stream only (a ciphertext byte that happened to be 'V' was
# once taken for one). Large enough that a misreading would surely have struck.
printf 'qemu:%s\n' "$(openssl rand -hex 32)" >"$TMP/keys.psk"
MIG_OPTS=--no-precopy SRC_EXTRA=
tcp_case "TLS (PSK), 512 MiB, zero copy both sides" 512M on on --tls-psk "$TMP/keys.psk"

done_testing
