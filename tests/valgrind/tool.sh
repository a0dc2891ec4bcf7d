#!/bin/bash
# The tool's main paths under valgrind memcheck: no error, no definite or indirect leak.
set -u
: "${VFIO_MIG:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg() {
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$VFIO_MIG" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" -eq 99 ] || grep -q '^==[0-9]*==' "$tmp/err"; then
		echo "valgrind: errors in: vfio-mig $*" >&2
		cat "$tmp/err" >&2
		return 1
	fi
	return 0
}
fails=0
vg migrate -q --from local:testdev,size=2M,seed=1 --to local:testdev,size=2M || fails=$((fails + 1))
vg save -q --device local:testdev,size=1M,seed=2 -o "$tmp/s.vfm" || fails=$((fails + 1))
vg load -q --device local:testdev,size=1M -i "$tmp/s.vfm" || fails=$((fails + 1))
vg inspect "$tmp/s.vfm" || fails=$((fails + 1))
head -c 1000 "$tmp/s.vfm" >"$tmp/cut.vfm"
vg load -q --device local:testdev,size=1M -i "$tmp/cut.vfm" || fails=$((fails + 1))
vg migrate -q --from local:testdev,size=1M,fail-read-at=70000 --to local:testdev,size=1M || fails=$((fails + 1))
vg fsm --flags 7 --table || fails=$((fails + 1))
vg info local:testdev,size=64K || fails=$((fails + 1))

# vfio-user: a server under valgrind, migrated to and from by a client under valgrind.
if "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$VFIO_MIG" serve --socket "$tmp/a.sock" --device testdev,size=1M,seed=1 2>"$tmp/serve.err" &
	vg_server=$!
	"$VFIO_MIG" serve --socket "$tmp/b.sock" --device testdev,size=1M,seed=2 &
	plain=$!
	for _ in $(seq 200); do [ -S "$tmp/a.sock" ] && [ -S "$tmp/b.sock" ] && break; sleep 0.05; done
	vg migrate -q --from "unix:$tmp/a.sock,dma=1M" --to "unix:$tmp/b.sock,dma=1M" || fails=$((fails + 1))
	vg migrate -q --from "unix:$tmp/b.sock" --to "unix:$tmp/a.sock" || fails=$((fails + 1))
	vg check -q "unix:$tmp/a.sock" || fails=$((fails + 1))
	kill "$plain"
	kill -TERM "$vg_server"
	wait "$vg_server"
	rc=$?
	if [ "$rc" -ne 0 ] || grep -q '^==[0-9]*==' "$tmp/serve.err"; then
		echo "valgrind: errors in the server (exit $rc)" >&2
		cat "$tmp/serve.err" >&2
		fails=$((fails + 1))
	fi
fi
exit $fails
