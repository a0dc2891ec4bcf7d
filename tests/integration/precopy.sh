#!/bin/bash
# Pre-copy through the command line: converging within the downtime limit, abandoned when
# the limit cannot be met (the source keeps running), and --allow-overrun.
. "$(dirname "$0")/lib.sh"

json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

check "a converging pre-copy migration" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=128M,seed=4,dirty-rate=32M --to local:testdev,size=128M \
	--downtime-limit 300 --json "$TMP/conv.json"
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && ok "state equal after pre-copy" || nok "state differs"
[ "$(json "$TMP/conv.json" "d['precopy_rounds'] > 0 and d['devices'][0]['precopy']")" = True ] &&
	ok "it went through pre-copy rounds" || nok "no pre-copy rounds"
[ "$(json "$TMP/conv.json" "d['est_downtime_ms'] <= 300")" = True ] && ok "estimate within the limit" || nok "estimate"
[ "$(json "$TMP/conv.json" "d['downtime_ms'] <= 300")" = True ] &&
	ok "measured downtime within the limit ($(json "$TMP/conv.json" "round(d['downtime_ms'],1)") ms)" ||
	nok "downtime over the limit: $(json "$TMP/conv.json" "d['downtime_ms']")"
[ "$(json "$TMP/conv.json" "d['precopy_bytes'] >= 128*1024*1024")" = True ] && ok "the bulk moved while running" ||
	nok "pre-copy bytes"
check "report draws the timeline" "$VFIO_MIG" report "$TMP/conv.json" --svg "$TMP/conv.svg"
grep -q '<svg' "$TMP/conv.svg" && grep -q 'downtime' "$TMP/conv.svg" && ok "svg has the downtime window" || nok "svg content"
python3 -c "import xml.dom.minidom,sys; xml.dom.minidom.parse('$TMP/conv.svg')" && ok "svg is well-formed XML" || nok "svg XML"

# Not converging: 512-byte reads move about 0.2 GB/s while the device dirties GB/s.
expect_exit 1 "a pre-copy that cannot converge is abandoned" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=64M,dirty-rate=4G --to local:testdev,size=64M --buffer-size 512 \
	--downtime-limit 1 --max-precopy-time 1500 --json "$TMP/fail.json"
grep -q "downtime limit cannot be met" "$TMP/last.err" && ok "the reason is given" || nok "reason: $(last_err)"
grep -q "^source local:testdev,size=64M,dirty-rate=4G: RUNNING" "$TMP/last.err" && ok "the source keeps running" ||
	nok "source state: $(last_err)"
grep -q "^destination local:testdev,size=64M: RUNNING" "$TMP/last.err" && ok "the destination is reset" ||
	nok "destination state"
[ "$(json "$TMP/fail.json" "d['ok']")" = False ] && ok "json says it failed" || nok "json ok flag"

check "--allow-overrun switches over anyway" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=64M,dirty-rate=4G --to local:testdev,size=64M --buffer-size 512 \
	--downtime-limit 1 --max-precopy-time 500 --allow-overrun
grep -q "exceeds the limit" "$TMP/last.err" && ok "overrun is warned about" || nok "overrun warning"

check "--no-precopy stops at once" "$VFIO_MIG" migrate -q --no-precopy --from local:testdev,size=8M,dirty-rate=64M \
	--to local:testdev,size=8M --json "$TMP/np.json"
[ "$(json "$TMP/np.json" "d['precopy_rounds']")" = 0 ] && ok "no rounds without pre-copy" || nok "rounds without pre-copy"
check "a device without PRE_COPY migrates by stop-copy" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=8M,pre-copy=off --to local:testdev,size=8M,pre-copy=off

check "two devices" "$VFIO_MIG" migrate -q --from local:testdev,size=8M,seed=1 --to local:testdev,size=8M \
	--from local:testdev,size=16M,seed=2,dirty-rate=8M --to local:testdev,size=16M
[ "$(grep -c '^source checksum' "$TMP/last.out")" -eq 2 ] && ok "both reported" || nok "two devices output"
expect_exit 1 "a device without P2P in a set is refused" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=1M --to local:testdev,size=1M \
	--from local:testdev,size=1M,p2p=off --to local:testdev,size=1M,p2p=off
grep -q "lacks P2P" "$TMP/last.err" && ok "refusal names P2P" || nok "P2P refusal message"
check "--allow-no-p2p lets it through" "$VFIO_MIG" migrate -q --allow-no-p2p \
	--from local:testdev,size=1M --to local:testdev,size=1M \
	--from local:testdev,size=1M,p2p=off --to local:testdev,size=1M,p2p=off
expect_exit 1 "one failing device fails the set" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=4M --to local:testdev,size=4M \
	--from local:testdev,size=4M,fail-read-at=100000 --to local:testdev,size=4M
[ "$(grep -c '^source .*: RUNNING, checksum' "$TMP/last.err")" -eq 2 ] && ok "every source back to RUNNING" ||
	nok "sources after a failure: $(last_err)"

done_testing
