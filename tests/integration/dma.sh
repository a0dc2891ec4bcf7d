#!/bin/bash
# DMA: a device writing client memory at a high rate while it migrates loses no write,
# in-process, between vfio-user server processes, and over a socket channel.
. "$(dirname "$0")/lib.sh"

dma_of() { sed -n "s/^$1dma checksum: \([0-9a-f]*\) .*/\1/p" "$TMP/last.out" | head -n 1; }
"$VFIO_MIG" info local:testdev,size=4K,dma=16M >"$TMP/last.out"
ZERO=$(dma_of "")
[ -n "$ZERO" ] && ok "info shows the DMA memory" || nok "info dma line"

check "in-process, 1 GB/s of DMA writes" "$VFIO_MIG" migrate -q \
	--from local:testdev,size=4M,seed=2,dma=32M,dma-rate=1G --to local:testdev,size=4M,dma=32M
a=$(dma_of 'source ') b=$(dma_of 'destination ')
[ -n "$a" ] && [ "$a" = "$b" ] && ok "destination memory equals the source's" || nok "memory '$a' vs '$b'"
[ "$a" != "$ZERO" ] && ok "the device really wrote its memory" || nok "memory untouched"

if ! "$VFIO_MIG" serve --help >/dev/null 2>&1; then
	skip "vfio-user is not built"
	done_testing
	exit $?
fi
start_server() { # start_server NAME SPEC
	"$VFIO_MIG" serve --socket "$TMP/$1.sock" --device "$2" &
	for _ in $(seq 100); do [ -S "$TMP/$1.sock" ] && return 0; sleep 0.05; done
	return 1
}
cleanup_hook() { jobs -p | xargs -r kill 2>/dev/null; wait 2>/dev/null; }

start_server a testdev,size=4M,seed=3,dma-rate=512M,dirty-rate=32M && start_server b testdev,size=4M &&
	ok "two servers up" || nok "servers did not start"
check "vfio-user: migrate with client memory mapped for DMA" "$VFIO_MIG" migrate -q \
	--from "unix:$TMP/a.sock,dma=16M" --to "unix:$TMP/b.sock,dma=16M"
a=$(dma_of 'source ') b=$(dma_of 'destination ')
[ -n "$a" ] && [ "$a" = "$b" ] && ok "vfio-user: no DMA write lost" || nok "vfio-user memory '$a' vs '$b'"
[ "$(checksum_of 'source ')" = "$(checksum_of 'destination ')" ] && ok "vfio-user: state equal" || nok "state"

expect_exit 1 "a destination without DMA memory is refused" "$VFIO_MIG" migrate -q \
	--from "unix:$TMP/a.sock,dma=16M" --to "unix:$TMP/b.sock"
grep -q "DMA memory" "$TMP/last.err" && ok "the refusal names the DMA memory" || nok "refusal: $(last_err)"
# a was the source of the migration above, so it is STOP; the refused run leaves it so.
grep -q "^source unix:$TMP/a.sock,dma=16M: STOP" "$TMP/last.err" && ok "source left as it was" ||
	nok "source state: $(last_err)"

"$VFIO_MIG" receive -q --listen "sock:$TMP/m.sock" --timeout 30 --device "unix:$TMP/b.sock,dma=16M" \
	>"$TMP/recv.out" 2>"$TMP/recv.err" &
recv=$!
for _ in $(seq 100); do [ -S "$TMP/m.sock" ] && break; sleep 0.05; done
check "over a socket channel with DMA memory" "$VFIO_MIG" migrate -q \
	--from "unix:$TMP/a.sock,dma=16M" --to "sock:$TMP/m.sock"
wait $recv && ok "receiver succeeded" || nok "receiver: $(cat "$TMP/recv.err")"
a=$(dma_of 'source ')
b=$(sed -n 's/^dma checksum: \([0-9a-f]*\) .*/\1/p' "$TMP/recv.out")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "channel: no DMA write lost" || nok "channel memory '$a' vs '$b'"

# The server holds the client's DMA memory (a memfd it was sent). A server that shrank
# that file would turn the client's next access into SIGBUS: the memfd is sealed at its
# size. Here a hostile "server" (this script, through the real server's mappings) tries
# while a migration runs; the migration goes on unharmed.
start_server c testdev,size=256M,seed=4,dma-rate=256M && start_server d testdev,size=256M &&
	ok "two more servers up" || nok "servers c, d did not start"
serve_c=$(pgrep -f "serve --socket $TMP/c.sock" | head -n 1)
"$VFIO_MIG" migrate -q --from "unix:$TMP/c.sock,dma=16M" --to "unix:$TMP/d.sock,dma=16M" \
	>"$TMP/seal.out" 2>"$TMP/seal.err" &
mig=$!
python3 - "$serve_c" >"$TMP/probe.out" 2>&1 <<'PY'
import os, sys, time
maps = f"/proc/{sys.argv[1]}/map_files"
for _ in range(200):
    for name in os.listdir(maps):
        try:
            if "vfio-mig-dma" not in os.readlink(os.path.join(maps, name)):
                continue
            fd = os.open(os.path.join(maps, name), os.O_RDWR)
        except OSError:
            continue
        try:
            os.ftruncate(fd, 4096)
            print("shrunk")
        except OSError as e:
            print("refused", e.errno)
        sys.exit(0)
    time.sleep(0.02)
print("no DMA mapping in the server")
PY
wait $mig
rc=$?
grep -q "^refused 1$" "$TMP/probe.out" && ok "the server cannot shrink the client's DMA memory (EPERM)" ||
	nok "shrinking the client's DMA memory: $(cat "$TMP/probe.out")"
[ $rc -eq 0 ] && ok "the migration beside it succeeds" || nok "migrate exit $rc: $(tail -n 3 "$TMP/seal.err")"
a=$(sed -n 's/^source dma checksum: \([0-9a-f]*\) .*/\1/p' "$TMP/seal.out")
b=$(sed -n 's/^destination dma checksum: \([0-9a-f]*\) .*/\1/p' "$TMP/seal.out")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "and loses no DMA write" || nok "memory '$a' vs '$b'"

done_testing
