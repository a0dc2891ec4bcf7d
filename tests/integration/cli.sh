#!/bin/bash
# The command line: fsm paths and refusals, --help everywhere, exit codes, info.
. "$(dirname "$0")/lib.sh"

fsm_is() { # fsm_is FLAGS FROM TO EXPECTED
	local got
	got=$("$VFIO_MIG" fsm --flags "$1" "$2" "$3" 2>&1)
	if [ "$got" = "$4" ]; then ok "fsm $1 $2 -> $3"; else nok "fsm $1 $2 -> $3: got '$got'"; fi
}
fsm_is 7 RUNNING STOP_COPY "RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY"
fsm_is stop-copy RUNNING STOP_COPY "RUNNING -> STOP -> STOP_COPY"
fsm_is 7 RUNNING RUNNING "RUNNING"
fsm_is stop-copy,pre-copy PRE_COPY STOP_COPY "PRE_COPY -> STOP_COPY"
fsm_is 7 PRE_COPY STOP_COPY "PRE_COPY -> PRE_COPY_P2P -> STOP_COPY"
fsm_is 0x7 RESUMING PRE_COPY "RESUMING -> STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY"
fsm_is stop-copy,p2p STOP_COPY RUNNING "STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING"
fsm_is 7 vfio_device_state_stop running "STOP -> RUNNING_P2P -> RUNNING"

expect_exit 2 "fsm refuses STOP_COPY -> PRE_COPY" "$VFIO_MIG" fsm --flags 7 STOP_COPY PRE_COPY
grep -q '^error: ' "$TMP/last.err" && ok "refusal printed as error: on stderr" || nok "refusal message"
expect_exit 2 "fsm refuses ERROR as target" "$VFIO_MIG" fsm --flags 7 RUNNING ERROR
expect_exit 2 "fsm refuses unsupported P2P state" "$VFIO_MIG" fsm --flags 1 RUNNING RUNNING_P2P
expect_exit 2 "fsm refuses flags without STOP_COPY" "$VFIO_MIG" fsm --flags p2p RUNNING STOP
expect_exit 2 "fsm rejects a bad flag word" "$VFIO_MIG" fsm --flags stop-copy,turbo RUNNING STOP
expect_exit 2 "fsm rejects an unknown state" "$VFIO_MIG" fsm --flags 7 RUNNING FLYING
expect_exit 0 "fsm --table" "$VFIO_MIG" fsm --flags 7 --table
[ "$(last_out | wc -l)" -eq 9 ] && ok "table has a header and 8 rows" || nok "table shape"
last_out | grep -q '^PRE_COPY  *- .*PRE_COPY_P2P' && ok "table row PRE_COPY" || nok "table row PRE_COPY"

for cmd in fsm info save load inspect migrate demo; do
	expect_exit 0 "$cmd --help" "$VFIO_MIG" "$cmd" --help
	grep -q "^usage: .*$cmd" "$TMP/last.out" && ok "$cmd --help prints usage" || nok "$cmd usage text"
done
expect_exit 0 "--help" "$VFIO_MIG" --help
# Every command the tool lists is in the man page and the bash completion.
for cmd in $(sed -n 's/^  \([a-z]*\)  .*/\1/p' "$TMP/last.out"); do
	grep -q "^\.B $cmd\b" "$SRCDIR/doc/vfio-mig.1" && ok "man page documents $cmd" || nok "man page lacks $cmd"
	grep -q "compgen -W \"[^\"]*\b$cmd\b" "$SRCDIR/completion/vfio-mig.bash" && ok "completion offers $cmd" ||
		nok "completion lacks $cmd"
done
expect_exit 2 "no command" "$VFIO_MIG"
expect_exit 2 "unknown command" "$VFIO_MIG" frobnicate
expect_exit 2 "save without output" "$VFIO_MIG" save --device local:testdev
expect_exit 2 "migrate with unpaired devices" "$VFIO_MIG" migrate --from local:testdev
expect_exit 1 "info on an unknown spec fails" "$VFIO_MIG" info bogus:thing
expect_exit 1 "info on a bad testdev option fails" "$VFIO_MIG" info local:testdev,colour=blue
grep -q "unknown option 'colour'" "$TMP/last.err" && ok "bad option named" || nok "bad option named"

expect_exit 0 "info on a sample device" "$VFIO_MIG" info local:testdev,size=1M,seed=3
last_out | grep -q '^flags: STOP_COPY|P2P|PRE_COPY (0x7)$' && ok "info flags" || nok "info flags"
last_out | grep -q '^state: RUNNING$' && ok "info state" || nok "info state"
last_out | grep -q '^checksum: [0-9a-f]\{16\}$' && ok "info checksum line" || nok "info checksum"
a=$(checksum_of)
"$VFIO_MIG" info local:testdev,size=1M,seed=3 >"$TMP/last.out"
[ "$(checksum_of)" = "$a" ] && ok "same seed, same checksum" || nok "same seed, same checksum"
"$VFIO_MIG" info local:testdev,size=1M,seed=4 >"$TMP/last.out"
[ "$(checksum_of)" != "$a" ] && ok "other seed, other checksum" || nok "other seed"
expect_exit 0 "info p2p=off,pre-copy=off" "$VFIO_MIG" info local:testdev,size=4K,p2p=off,pre-copy=off
last_out | grep -q '^flags: STOP_COPY (0x1)$' && ok "flags follow the switches" || nok "switch flags"

done_testing
