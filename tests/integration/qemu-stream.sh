#!/bin/bash
# QEMU's streams through the CLI: inspect (text, --json, a pipe, a cut copy), load
# --section of QEMU's mtty section into a test device (mtty's 96 bytes are no testdev
# state: the device must refuse them and end reset), save --section naming our sections
# as QEMU would and load --section picking one; load's listing of the sections.
. "$(dirname "$0")/lib.sh"
DATA=${SRCDIR:-.}/tests/data
Q=$DATA/qemu-11.1-mtty-ack.mig
SEC=0000:00:04.0/vfio

expect_exit 0 "inspect a QEMU 11.1 stream" "$VFIO_MIG" inspect "$Q"
last_out | grep -q '^ *8  CONFIGURATION machine "pc-q35-11.1"$' && ok "configuration record" || nok "configuration"
last_out | grep -q 'COMMAND OPEN_RETURN_PATH$' && ok "return path command" || nok "OPEN_RETURN_PATH"
last_out | grep -q 'DEV_INIT_DATA_SENT$' && ok "switchover-ack marker" || nok "DEV_INIT_DATA_SENT"
last_out | grep -q 'vfio-pci config state, 4116 bytes: PCIDevice version 2, 4096 bytes of config space' &&
	ok "vfio-pci config decoded" || nok "vfio-pci config"
last_out | grep -q "^device 0: \"$SEC\" instance 0: .* 2 data blocks, 96 bytes, config state$" &&
	ok "mtty section: 96 bytes" || nok "mtty totals: $(last_out | grep '^device')"
last_out | grep -q 'compared with a whole QEMU stream' && nok "no 'missing' list for QEMU's own stream" ||
	ok "nothing missing from QEMU's own stream"

expect_exit 0 "inspect --json" "$VFIO_MIG" inspect --json "$Q"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = [s for s in d["sections"] if s["kind"] == "vfio"]
assert d["well_formed"] and d["qemu"] and len(v) == 1 and v[0]["data_bytes"] == 96, d["sections"]
assert any(r["type"] == "vmdesc" for r in d["records"])
' "$TMP/last.out" && ok "--json: one vfio section of 96 bytes, a vmdesc" || nok "--json content"

cat "$Q" | "$VFIO_MIG" inspect - >"$TMP/pipe.out" 2>&1 &&
	grep -q 'FULL ones by footer scans' "$TMP/pipe.out" && ok "inspect from a pipe (footer scans, trailer checked)" ||
	nok "pipe: $(tail -n 2 "$TMP/pipe.out")"

size=$(stat -c %s "$Q")
head -c $((size / 2)) "$Q" >"$TMP/cut.mig"
expect_exit 1 "a cut QEMU stream is refused" "$VFIO_MIG" inspect "$TMP/cut.mig"
grep -q "offset [0-9]*: stream ends, expected" "$TMP/last.err" && ok "cut named with its offset" ||
	nok "cut message: $(last_err)"

# mtty's state into a testdev: the device refuses it, load fails and resets it.
expect_exit 1 "load --section of mtty's state into a testdev fails" \
	"$VFIO_MIG" load -q -d local:testdev,size=1M -i "$Q" --section "$SEC"
expect_exit 2 "load --section of a missing section lists the VFIO sections" \
	"$VFIO_MIG" load -q -d local:testdev,size=1M -i "$Q" --section 0000:00:09.0/vfio
grep -q "^  $SEC\$" "$TMP/last.err" && ok "the listing names $SEC" || nok "listing: $(last_err)"
expect_exit 2 "a QEMU stream's section goes into one device" \
	"$VFIO_MIG" load -q -d local:testdev,size=1M -d local:testdev,size=1M -i "$Q"

# Our sections named as QEMU names them, then one picked by name.
expect_exit 0 "save --section names the sections" "$VFIO_MIG" save -q -d local:testdev,size=2M,seed=3 \
	-d local:testdev,size=1M,seed=4 -o "$TMP/named.vfm" --section "$SEC" --section 0000:00:05.0/vfio
want=$(checksum_of "local:testdev,size=1M,seed=4 ")
expect_exit 0 "inspect the named stream" "$VFIO_MIG" inspect -s "$TMP/named.vfm"
last_out | grep -q "^device 1: \"0000:00:05.0/vfio\" instance 0:" && ok "second section renamed" ||
	nok "names: $(last_out)"
last_out | grep -q "device paths in the VFIO idstrs" && nok "paths listed as missing" || ok "paths no longer missing"
expect_exit 0 "load --section picks the second device's section" \
	"$VFIO_MIG" load -d local:testdev,size=1M -i "$TMP/named.vfm" --section 0000:00:05.0/vfio
[ "$(checksum_of)" = "$want" ] && ok "its state arrives" || nok "checksum $(checksum_of) != $want"
expect_exit 0 "the named stream loads in order without --section" \
	"$VFIO_MIG" load -q -d local:testdev,size=2M -d local:testdev,size=1M -i "$TMP/named.vfm"
expect_exit 2 "save: more --section names than devices" \
	"$VFIO_MIG" save -q -d local:testdev,size=1M -o "$TMP/x.vfm" --section a --section b

# migrate --section over a socket to receive --section: the names travel and are checked.
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
recv() { # recv NAME... : a receive of two devices in the background, checking the names
	rm -f "$TMP/r.sock"
	"$VFIO_MIG" receive -q -L "sock:$TMP/r.sock" -T 60 -d local:testdev,size=2M \
		-d local:testdev,size=1M "$@" >"$TMP/recv.out" 2>&1 &
	rpid=$!
	wait_sock "$TMP/r.sock"
}
recv --section "$SEC" --section 0000:00:05.0/vfio
expect_exit 0 "migrate --section over a socket" "$VFIO_MIG" migrate -q -f local:testdev,size=2M,seed=7 \
	-f local:testdev,size=1M,seed=8 --to "sock:$TMP/r.sock" --section "$SEC" --section 0000:00:05.0/vfio
src=$(checksum_of "source ")
wait "$rpid" && ok "receive --section takes the named sections" || nok "receive: $(cat "$TMP/recv.out")"
grep -q "^local:testdev,size=2M checksum: $src$" "$TMP/recv.out" && ok "the first device's state arrives" ||
	nok "checksums: $(cat "$TMP/recv.out")"
recv --section "$SEC" --section 0000:00:06.0/vfio
expect_exit 1 "a section named otherwise fails the migration" "$VFIO_MIG" migrate -q \
	-f local:testdev,size=2M,seed=7 -f local:testdev,size=1M,seed=8 --to "sock:$TMP/r.sock" \
	--section "$SEC" --section 0000:00:05.0/vfio
grep -q "source local:testdev,size=2M,seed=7: RUNNING, checksum $src" "$TMP/last.err" &&
	ok "the source runs on with its state" || nok "source after the refusal: $(last_err)"
wait "$rpid"
[ $? -eq 1 ] && grep -q 'device section 1 is "0000:00:05.0/vfio", not the --section "0000:00:06.0/vfio"' \
	"$TMP/recv.out" && ok "receive names the mismatch" || nok "receive: $(cat "$TMP/recv.out")"
expect_exit 0 "migrate --section to a file" "$VFIO_MIG" migrate -q -f local:testdev,size=1M,seed=9 \
	--to "file:$TMP/mf.vfm" --section "$SEC"
expect_exit 0 "receive --section from that file" "$VFIO_MIG" receive -q -L "file:$TMP/mf.vfm" \
	-d local:testdev,size=1M --section "$SEC"
# A receive --section waiting for its connection ends on SIGTERM, and -T bounds the wait.
rm -f "$TMP/w.sock"
"$VFIO_MIG" receive -q -L "sock:$TMP/w.sock" -d local:testdev,size=1M --section "$SEC" \
	>"$TMP/w.out" 2>&1 &
wpid=$!
wait_sock "$TMP/w.sock"
kill -TERM "$wpid"
wait "$wpid"
[ $? -eq 1 ] && grep -q "cancelled while waiting" "$TMP/w.out" && ok "receive --section ends on SIGTERM" ||
	nok "SIGTERM: $(cat "$TMP/w.out")"
expect_exit 1 "receive --section -T 1 gives up" "$VFIO_MIG" receive -q -L "sock:$TMP/t.sock" -T 1 \
	-d local:testdev,size=1M --section "$SEC"
grep -q "no migration connection arrived" "$TMP/last.err" && ok "its reason" || nok "timeout: $(last_err)"
expect_exit 2 "migrate --section between devices is refused" "$VFIO_MIG" migrate -q \
	-f local:testdev,size=1M --to local:testdev,size=1M --section "$SEC"

done_testing
