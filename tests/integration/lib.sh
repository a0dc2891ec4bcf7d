# TAP helpers for the process-level tests. Source it; call done_testing at the end.
set -u
: "${VFIO_MIG:?VFIO_MIG must name the vfio-mig binary}"
T=0
FAILS=0
TMP=$(mktemp -d)
trap 'cleanup_hook; rm -rf "$TMP"' EXIT
cleanup_hook() { :; }

ok() { T=$((T + 1)); echo "ok $T - $*"; }
nok() { T=$((T + 1)); echo "not ok $T - $*"; FAILS=$((FAILS + 1)); }
skip() { T=$((T + 1)); echo "ok $T - $* # SKIP"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@" >"$TMP/last.out" 2>"$TMP/last.err"; then
		ok "$desc"
	else
		nok "$desc"
		sed 's/^/# /' "$TMP/last.err" | tail -n 20
	fi
}
# expect_exit CODE DESCRIPTION COMMAND...: passes when the command exits with CODE.
expect_exit() {
	local code=$1 desc=$2 rc
	shift 2
	"$@" >"$TMP/last.out" 2>"$TMP/last.err"
	rc=$?
	if [ "$rc" -eq "$code" ]; then
		ok "$desc"
	else
		nok "$desc (exit $rc, expected $code)"
		sed 's/^/# /' "$TMP/last.err" | tail -n 20
	fi
}
# Output of the last check/expect_exit.
last_out() { cat "$TMP/last.out"; }
last_err() { cat "$TMP/last.err"; }
# The checksum a command printed ("checksum: HEX" or "LABEL checksum: HEX").
checksum_of() { sed -n "s/^${1:-}checksum: \([0-9a-f]*\)$/\1/p" "$TMP/last.out" | head -n 1; }
done_testing() {
	echo "1..$T"
	[ "$FAILS" -eq 0 ]
}
