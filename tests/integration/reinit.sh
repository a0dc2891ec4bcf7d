#!/bin/bash
# Pre-copy with a device that re-initialises (Linux 7.1's VFIO_PRECOPY_INFO_REINIT,
# doc/uapi-7.x.md): the engine opts in, and on REINIT the switch-over waits for the new
# initial data to be read and, over a channel, confirmed by the destination; --json and
# report mark the event. A device that refuses the opt-in migrates exactly as before.
. "$(dirname "$0")/lib.sh"

json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }
# reinit_order FILE: REINIT, then the initial data all sent again and confirmed, then the
# stop.
reinit_order() {
	json "$1" "(lambda p: p['reinit'][0] < p['initial-data-sent'] <= p['initial-data-acked'] <= p['stopped'][0])(d['devices'][0]['phases'])"
}

check "migrate a device that re-initialises while its initial data is sent" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=4M,seed=8,reinit-at=1M --to local:testdev,size=4M --json "$TMP/early.json"
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && ok "state equal (early REINIT)" ||
	nok "state differs (early REINIT)"
[ "$(json "$TMP/early.json" "d['precopy_reinits']")" = 1 ] && ok "one early REINIT" || nok "early reinits"
[ "$(reinit_order "$TMP/early.json")" = True ] && ok "switch-over after the new initial data (early)" ||
	nok "order: $(json "$TMP/early.json" "d['devices'][0]['phases']")"

# reinit-query=2: the device re-initialises at the engine's second query, the one it makes
# to decide the switch-over once the first initial data is all sent and confirmed.
SRC=local:testdev,size=4M,seed=9,reinit-query=2
check "migrate a device that re-initialises at the switch-over decision" "$VFIO_MIG" migrate -q \
	--from "$SRC" --to local:testdev,size=4M --json "$TMP/direct.json"
[ -n "$(checksum_of 'source ')" ] && [ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] &&
	ok "state equal after the REINIT" || nok "state differs"
[ "$(json "$TMP/direct.json" "d['devices'][0]['precopy_v2']")" = True ] &&
	ok "the engine opted in to PRECOPY_INFOv2" || nok "no opt-in"
[ "$(json "$TMP/direct.json" "(d['precopy_reinits'], d['devices'][0]['reinits'], len(d['devices'][0]['phases']['reinit']))")" = "(1, 1, 1)" ] &&
	ok "--json counts and times the REINIT" || nok "REINIT in the json: $(json "$TMP/direct.json" "d['devices'][0]")"
[ "$(reinit_order "$TMP/direct.json")" = True ] &&
	ok "switch-over after the new initial data was all sent" || nok "order: $(json "$TMP/direct.json" "d['devices'][0]['phases']")"
check "report draws it" "$VFIO_MIG" report "$TMP/direct.json" --svg "$TMP/direct.svg"
grep -q 'REINIT at' "$TMP/direct.svg" && ok "the SVG marks the REINIT" || nok "no REINIT mark in the SVG"

# Over a channel: the destination confirms the initial data twice, and the source waits
# for the second confirmation (a wait that never ends would fail by the pre-copy bound).
"$VFIO_MIG" receive -q --listen "sock:$TMP/m.sock" --timeout 60 --device local:testdev,size=4M \
	>"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
cleanup_hook() { kill "$RECV" 2>/dev/null; }
for _ in $(seq 100); do [ -S "$TMP/m.sock" ] && break; sleep 0.05; done
check "migrate it over a channel to a receiver (switch-over ack re-armed)" "$VFIO_MIG" migrate -q \
	--from "$SRC" --to "sock:$TMP/m.sock" --max-precopy-time 20000 --json "$TMP/chan.json"
wait "$RECV"
rc=$?
[ $rc -eq 0 ] && ok "the receiver succeeded" || { nok "receiver exit $rc"; sed 's/^/# /' "$TMP/recv.err"; }
src=$(checksum_of 'source ')
dst=$(sed -n 's/^destination checksum: //p' "$TMP/recv.out" | head -n 1)
[ -n "$src" ] && { [ "$src" = "$dst" ] || [ -z "$dst" ]; } && ok "state moved" || nok "state: $src vs $dst"
[ "$(json "$TMP/chan.json" "d['precopy_reinits']")" = 1 ] && ok "one REINIT over the channel" || nok "reinits"
[ "$(reinit_order "$TMP/chan.json")" = True ] && ok "switch-over after the new initial data" ||
	nok "order: $(json "$TMP/chan.json" "d['devices'][0]['phases']")"

# Over vfio-user: the opt-in goes as feature 12, the REINIT comes back in the pre-copy info
# extension's flags (src/vfio-user/EXTENSIONS.md).
if "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	"$VFIO_MIG" serve --socket "$TMP/vu.sock" --device testdev,size=4M,seed=9,reinit-query=2 \
		</dev/null 2>"$TMP/serve.err" &
	SERVER=$!
	cleanup_hook() { kill "$RECV" "$SERVER" 2>/dev/null; }
	for _ in $(seq 100); do [ -S "$TMP/vu.sock" ] && break; sleep 0.05; done
	check "migrate a vfio-user device that re-initialises" "$VFIO_MIG" migrate -q \
		--from "unix:$TMP/vu.sock" --to local:testdev,size=4M --json "$TMP/vu.json"
	[ "$(json "$TMP/vu.json" "(d['devices'][0]['precopy_v2'], d['precopy_reinits'])")" = "(True, 1)" ] &&
		ok "vfio-user: opted in, the REINIT seen" || nok "vfio-user json: $(json "$TMP/vu.json" "d['devices'][0]")"
	[ "$(reinit_order "$TMP/vu.json")" = True ] && ok "vfio-user: switch-over after the new initial data" ||
		nok "vfio-user order"
	kill "$SERVER" 2>/dev/null
	wait "$SERVER" 2>/dev/null
else
	skip "vfio-user: this build has no serve command"
fi

# A device that refuses the opt-in (as on a kernel before 7.1): as before, no REINIT seen.
check "a device without PRECOPY_INFOv2 re-initialising migrates as before" "$VFIO_MIG" migrate -q \
	--from "$SRC,precopy-v2=off" --to local:testdev,size=4M --json "$TMP/v1.json"
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && ok "state equal without the opt-in" ||
	nok "state differs without the opt-in"
[ "$(json "$TMP/v1.json" "(d['devices'][0]['precopy_v2'], d['precopy_reinits'], 'reinit' in d['devices'][0]['phases'])")" = "(False, 0, False)" ] &&
	ok "not opted in, no REINIT in the json" || nok "v1 json: $(json "$TMP/v1.json" "d['devices'][0]")"
check "a device that never re-initialises: opted in, nothing else changes" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=4M,seed=3 --to local:testdev,size=4M --json "$TMP/plain.json"
[ "$(json "$TMP/plain.json" "(d['devices'][0]['precopy_v2'], d['precopy_reinits'])")" = "(True, 0)" ] &&
	ok "no REINIT from a device that does not re-initialise" || nok "plain json"
done_testing
