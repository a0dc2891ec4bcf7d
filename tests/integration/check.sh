#!/bin/bash
# vfio-mig check: PASSes the sample device, FAILs each deliberate uAPI violation (testdev
# bug=NAME) in the check that enforces the rule, exit codes, --json, and the device left
# RUNNING; over the in-process transport and, when `serve` exists, over vfio-user.
. "$(dirname "$0")/lib.sh"

SIZE=${CHECK_SIZE:-1M}

# bug name, the check that must FAIL in process, and over vfio-user ("-": not observable
# there, because vfio-user has no data fd: the check SKIPs or passes).
BUGS="wrong-path fsm.path fsm.path
fd-on-non-opening-arc fsm.data-fd -
no-fd-on-opening-arc fsm.data-fd fsm.data-fd
stream-not-ending stream.end stream.end
session-survives-reset reset.kills-session -
session-survives-arc fsm.session-end -
enomsg-in-stop-copy stream.no-enomsg stream.no-enomsg
precopy-grows precopy.info precopy.info
accept-invalid-data resume.invalid-data resume.invalid-data
reset-not-running reset.running reset.running
refused-arc-accepted fsm.refused-arcs fsm.refused-arcs
feature-precedence feature.precedence feature.precedence
reinit-without-opt-in,reinit-query=2 precopy.flags-v1 precopy.flags-v1
reinit-no-initial,reinit-query=2 precopy.reinit precopy.reinit
precopy-v2-get feature.precopy-v2 feature.precopy-v2
precopy-flags-echo precopy.flags-v2 precopy.flags-v2"

# verdict_is VERDICT CHECK: the last output has that line.
verdict_is() { last_out | grep -q "^$1  $2 "; }
no_fail() { ! last_out | grep -q '^FAIL '; }
summary_ok() { last_out | grep -q '^summary: .* 0 FAIL, .*; device left RUNNING$'; }
# json_verdict FILE CHECK: the verdict of CHECK in a --json output.
json_verdict() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(next(c["verdict"] for c in d["checks"] if c["name"] == sys.argv[2]))' "$1" "$2"
}

# ---- the command line ----
expect_exit 0 "check --help" "$VFIO_MIG" check --help
grep -q "^usage: .*check DEVICE" "$TMP/last.out" && ok "usage text" || nok "usage text"
expect_exit 2 "check without a device" "$VFIO_MIG" check
expect_exit 2 "check with two devices" "$VFIO_MIG" check local:testdev local:testdev
expect_exit 2 "check with a bad --max-stream" "$VFIO_MIG" check --max-stream lots local:testdev
expect_exit 1 "check of an unknown spec" "$VFIO_MIG" check bogus:thing
expect_exit 1 "check of a bad bug name" "$VFIO_MIG" check local:testdev,bug=flaky
expect_exit 0 "check --list" "$VFIO_MIG" check --list
n=$(last_out | wc -l)
[ "$n" -ge 20 ] && ok "--list names $n checks" || nok "--list names $n checks"
last_out | grep -q '^fsm.path  *§3.4 ' && ok "--list shows the uAPI section" || nok "--list section"

# ---- the correct device passes, in every shape ----
for spec in "testdev,size=$SIZE" "testdev,size=$SIZE,p2p=off" "testdev,size=$SIZE,pre-copy=off" \
	"testdev,size=$SIZE,p2p=off,pre-copy=off" "testdev,size=$SIZE,dirty-rate=64M" \
	"testdev,size=0" "testdev,size=4097" "testdev,size=$SIZE,reinit-query=2" \
	"testdev,size=$SIZE,reinit-at=100K" "testdev,size=$SIZE,precopy-v2=off"; do
	expect_exit 0 "check local:$spec passes" "$VFIO_MIG" check --refused-arcs "local:$spec"
	no_fail && summary_ok && ok "no FAIL, device left RUNNING ($spec)" || nok "clean run of $spec"
done
expect_exit 0 "check with --peer passes" "$VFIO_MIG" check "local:testdev,size=$SIZE" \
	--peer "local:testdev,size=$SIZE,seed=9"
verdict_is PASS roundtrip.peer && ok "round trip PASSes" || nok "round trip verdict"
expect_exit 1 "check with a peer of another size fails" "$VFIO_MIG" check \
	"local:testdev,size=$SIZE" --peer "local:testdev,size=64K"
verdict_is FAIL roundtrip.peer && ok "round trip FAILs for a mismatched peer" || nok "mismatched peer"
# Pre-copy info v2 (Linux 7.1): which of its checks run where.
expect_exit 0 "a device that re-initialises passes" "$VFIO_MIG" check "local:testdev,size=$SIZE,reinit-query=2"
verdict_is PASS precopy.reinit && verdict_is PASS feature.precopy-v2 && verdict_is PASS precopy.flags-v2 &&
	ok "its REINIT is checked" || nok "REINIT verdicts"
expect_exit 0 "a device that never re-initialises" "$VFIO_MIG" check "local:testdev,size=$SIZE"
verdict_is SKIP precopy.reinit && verdict_is PASS precopy.flags-v1 && ok "precopy.reinit SKIPs, flags-v1 PASSes" ||
	nok "no-REINIT verdicts"
expect_exit 0 "a device without the opt-in (as Linux 6.12)" "$VFIO_MIG" check "local:testdev,size=$SIZE,precopy-v2=off"
verdict_is SKIP feature.precopy-v2 && last_out | grep -q '^SKIP  feature.precopy-v2 .*ENOTTY' &&
	ok "feature.precopy-v2 SKIPs on ENOTTY" || nok "precopy-v2=off verdicts"
expect_exit 0 "temporary end reading 0 is only a WARN" "$VFIO_MIG" check "local:testdev,size=$SIZE,enomsg=off"
verdict_is WARN stream.precopy-end && ok "stream.precopy-end WARNs" || nok "enomsg=off verdict"
expect_exit 0 "default run" "$VFIO_MIG" check "local:testdev,size=$SIZE"
verdict_is SKIP fsm.refused-arcs && ok "refused arcs not sent without the option" || nok "refused arcs sent"
verdict_is SKIP roundtrip.peer && ok "no peer: round trip SKIPs" || nok "round trip without peer"
last_out | grep -q '^PASS  final.running ' && ok "final.running reported" || nok "final.running"
expect_exit 0 "--only" "$VFIO_MIG" check --only fsm.path,stream.end "local:testdev,size=$SIZE"
[ "$(last_out | grep -c '^[A-Z]\{4\}  ')" -eq 3 ] && ok "--only runs the named checks (+ final.running)" ||
	nok "--only selection"

# ---- JSON ----
expect_exit 0 "--json" "$VFIO_MIG" check --json "local:testdev,size=$SIZE"
cp "$TMP/last.out" "$TMP/good.json"
python3 -m json.tool "$TMP/good.json" >/dev/null && ok "--json is valid JSON" || nok "--json validity"
python3 -c 'import json,sys; d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["summary"]["fail"] == 0 and d["summary"]["left_running"]
assert all(set(c) >= {"name", "verdict", "section", "rule", "detail"} for c in d["checks"])' \
	"$TMP/good.json" && ok "--json summary and fields" || nok "--json content"
expect_exit 1 "--json of a broken device" "$VFIO_MIG" check --json "local:testdev,size=$SIZE,bug=wrong-path"
cp "$TMP/last.out" "$TMP/bad.json"
python3 -m json.tool "$TMP/bad.json" >/dev/null && ok "--json valid on failure" || nok "--json on failure"
[ "$(json_verdict "$TMP/bad.json" fsm.path)" = FAIL ] && ok "--json names the failing check" || nok "--json verdict"

# ---- every violation FAILs, in the right check ----
# run_bug TRANSPORT-LABEL DEVICE BUG CHECK
run_bug() {
	local label=$1 dev=$2 bug=$3 want=$4
	expect_exit 1 "$label bug=$bug: exit 1" timeout 120 "$VFIO_MIG" check --refused-arcs "$dev"
	verdict_is FAIL "$want" && ok "$label bug=$bug: $want FAILs" ||
		{ nok "$label bug=$bug: $want does not FAIL"; last_out | grep -v '^PASS' | sed 's/^/# /'; }
	last_out | grep -q '^PASS  final.running ' && ok "$label bug=$bug: device left RUNNING" ||
		nok "$label bug=$bug: device not left RUNNING"
}
while read -r bug want _ <&3; do
	run_bug local "local:testdev,size=$SIZE,bug=$bug" "$bug" "$want"
done 3<<<"$BUGS"
expect_exit 0 "refused-arc-accepted without --refused-arcs: not sent" "$VFIO_MIG" check \
	"local:testdev,size=$SIZE,bug=refused-arc-accepted"

# ---- over vfio-user ----
if ! "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	skip "vfio-user: this build has no serve command"
	done_testing
	exit
fi
SERVER=
cleanup_hook() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; }
# serve SPEC: starts a server on $TMP/vu.sock and waits for the socket.
serve() {
	rm -f "$TMP/vu.sock"
	"$VFIO_MIG" serve --socket "$TMP/vu.sock" --device "$1" </dev/null 2>"$TMP/serve.err" &
	SERVER=$!
	for _ in $(seq 100); do
		[ -S "$TMP/vu.sock" ] && return 0
		sleep 0.05
	done
	nok "server for $1 did not start"; sed 's/^/# /' "$TMP/serve.err"
	return 1
}
unserve() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; SERVER=; }
# state_after: the server's device state, read by a new client.
state_after() { "$VFIO_MIG" info "unix:$TMP/vu.sock" | sed -n 's/^state: //p'; }

if serve "testdev,size=$SIZE"; then
	expect_exit 0 "vfio-user: check passes" "$VFIO_MIG" check --refused-arcs "unix:$TMP/vu.sock"
	no_fail && summary_ok && ok "vfio-user: no FAIL" || nok "vfio-user: clean run"
	verdict_is SKIP fsm.session-end && verdict_is SKIP reset.kills-session &&
		ok "vfio-user: fd-lifetime checks SKIP (no data fd)" || nok "vfio-user: fd checks"
	[ "$(state_after)" = RUNNING ] && ok "vfio-user: device RUNNING afterwards" || nok "vfio-user: state after"
	unserve
fi
if serve "testdev,size=$SIZE"; then
	expect_exit 0 "vfio-user: --peer across transports" "$VFIO_MIG" check "unix:$TMP/vu.sock" \
		--peer "local:testdev,size=$SIZE,seed=4"
	verdict_is PASS roundtrip.peer && ok "vfio-user: round trip PASSes" || nok "vfio-user: round trip"
	unserve
fi
while read -r bug _ want <&3; do
	serve "testdev,size=$SIZE,bug=$bug" || continue
	if [ "$want" = - ]; then
		expect_exit 0 "vfio-user bug=$bug: not observable without data fds" timeout 120 \
			"$VFIO_MIG" check --refused-arcs "unix:$TMP/vu.sock"
	else
		run_bug vfio-user "unix:$TMP/vu.sock" "$bug" "$want"
	fi
	[ "$(state_after)" = RUNNING ] && ok "vfio-user bug=$bug: device RUNNING afterwards" ||
		nok "vfio-user bug=$bug: state after"
	unserve
done 3<<<"$BUGS"

done_testing
