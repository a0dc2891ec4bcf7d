#!/bin/bash
# Migration over TLS 1.3 between two hosts (the namespaces of the TCP test, netns.sh): x509
# in QEMU's layout and pre-shared keys (with the source's identity chosen), one and
# several devices, many small stream elements, every refusal (before a state byte moves: the source RUNNING and
# intact, the destination untouched and still listening, so that the right source then
# migrates to the same receiver), a TLS peer that stalls in the handshake or halfway
# through a record (the receiver gives up after --timeout, or ends on SIGTERM), the link
# cut under TLS, and a recording proxy on the path that must never see the devices' state
# in clear (and, as a control, sees it without TLS). Keys and certificates are made here.
. "$(dirname "$0")/lib.sh"

if ! command -v openssl >/dev/null || ! command -v python3 >/dev/null; then
	skip "the openssl tool (it makes the certificates) and python3 (the proxy) are needed"
	done_testing
	exit 0
fi
SIZE=16M # 64M where the link is cut, to cut it mid-way
. "$(dirname "$0")/netns.sh"
PROXY_PORT=$((PORT + 1))

# ---- credentials ----------------------------------------------------------------------
KEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
make_ca() { # make_ca NAME: $TMP/NAME.ca-cert.pem and its key
	openssl req -x509 "${KEY[@]}" -keyout "$TMP/$1.ca-key.pem" -out "$TMP/$1.ca-cert.pem" \
		-subj "/CN=vfio-mig test CA $1" -days 2 2>/dev/null
}
make_cert() { # make_cert DIR ROLE CA CN DAYS [SAN]: DIR/ROLE-cert.pem, DIR/ROLE-key.pem
	local dir=$1 role=$2 ca=$3 cn=$4 days=$5 san=${6:-} ext
	ext="extendedKeyUsage=$([ "$role" = server ] && echo serverAuth || echo clientAuth)"
	[ -n "$san" ] && ext+=$'\n'"subjectAltName=$san"
	mkdir -p "$dir" &&
		openssl req "${KEY[@]}" -keyout "$dir/$role-key.pem" -out "$TMP/req.csr" \
			-subj "/O=vfio-mig test/CN=$cn" 2>/dev/null &&
		openssl x509 -req -in "$TMP/req.csr" -CA "$TMP/$ca.ca-cert.pem" \
			-CAkey "$TMP/$ca.ca-key.pem" -CAcreateserial -CAserial "$TMP/$ca.srl" \
			-days "$days" -out "$dir/$role-cert.pem" -extfile <(echo "$ext") 2>/dev/null
}
make_dir() { # make_dir NAME CA [CLIENT-CN [CLIENT-DAYS]]: a directory in QEMU's layout
	local d=$TMP/$1
	make_cert "$d" server "$2" dest 2 "IP:$ADDR_B,DNS:dest.example" &&
		make_cert "$d" client "$2" "${3:-source-a}" "${4:-2}" &&
		cp "$TMP/$2.ca-cert.pem" "$d/ca-cert.pem"
}
make_psk() { # make_psk FILE IDENTITY...: a key of 32 random bytes for each identity
	local id
	for id in "${@:2}"; do
		printf '%s:%s\n' "$id" "$(openssl rand -hex 32)"
	done >"$1"
}
make_creds() {
	make_ca one && make_ca two &&
		make_dir good one && make_dir good-b one source-b && make_dir expired one source-a -1 &&
		make_dir other-ca two && make_dir dest-other-ca one &&
		cp "$TMP/two.ca-cert.pem" "$TMP/dest-other-ca/ca-cert.pem" &&
		make_psk "$TMP/dest.psk" other qemu &&
		sed -n 2p "$TMP/dest.psk" >"$TMP/src.psk" && make_psk "$TMP/wrong.psk" qemu &&
		make_psk "$TMP/both.psk" alpha beta && sed -n 2p "$TMP/both.psk" >"$TMP/beta.psk"
}
check "certificates (two CAs, an expired client) and pre-shared keys made with openssl" make_creds

# ---- helpers --------------------------------------------------------------------------
migrate_to() { # migrate_to PORT [migrate options...]: every device of A
	local port=$1 devs
	shift
	mapfile -t devs < <(dev_args a --from)
	in_a migrate -q "${devs[@]}" --to tcp:$ADDR_B:$port "$@"
}
sums() { # sums a|b: each device's state and checksum
	local i
	for ((i = 0; i < NDEV; i++)); do
		echo "$(info_of "$1" state $i) $(info_of "$1" checksum $i)"
	done
}
fresh() { # new servers; remembers both sides' states and checksums
	start_servers && SRC_SUMS=$(sums a) && DST_SUMS=$(sums b)
}
migrated() { # migrated NAME: destinations hold the sources' state and run
	local name=$1
	[ "$RECV_RC" -eq 0 ] && ok "$name: receiver succeeded" ||
		{ nok "$name: receiver exit $RECV_RC"; sed 's/^/# /' "$TMP/recv.err"; }
	[ "$(sums b)" = "$SRC_SUMS" ] && ok "$name: the destinations run with the sources' state" ||
		nok "$name: destinations: $(sums b | tr '\n' ' ')"
	[ "$(sums a | cut -d' ' -f1 | sort -u)" = STOP ] && ok "$name: the sources are left STOP" ||
		nok "$name: sources: $(sums a | tr '\n' ' ')"
}
tls_case() { # tls_case NAME RECEIVE-OPTIONS... -- MIGRATE-OPTIONS...
	local name=$1 r=() rc
	shift
	while [ "$1" != -- ]; do r+=("$1"); shift; done
	shift
	fresh || { nok "$name: servers"; return; }
	start_receiver "${r[@]}"
	migrate_to $PORT "$@" >"$TMP/src.out" 2>"$TMP/src.err"
	rc=$?
	recv_wait
	[ $rc -eq 0 ] && ok "$name: migrate succeeds" ||
		{ nok "$name: migrate exit $rc"; sed 's/^/# /' "$TMP/src.err"; }
	migrated "$name"
}
gone_within() { # gone_within PID SECONDS: the process ended within SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
line_within() { # line_within FILE PATTERN SECONDS: a line of FILE matches within SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}
REFUSED='^warning: .*; waiting for another connection$' # the receiver's line for a refused peer
# refused NAME SOURCE-SAYS DESTINATION-SAYS MIGRATE-OPTIONS...: a source the running
# receiver refuses says one line, exits 1 and stays RUNNING intact; the receiver says one
# warning line and keeps listening.
refused() {
	local name=$1 src_says=$2 dst_says=$3 rc
	shift 3
	migrate_to $PORT "$@" >"$TMP/src.out" 2>"$TMP/src.err"
	rc=$?
	if [ $rc -eq 1 ] && [ "$(grep -c '^error:' "$TMP/src.err")" -eq 1 ] &&
		grep '^error:' "$TMP/src.err" | grep -q -- "$src_says"; then
		ok "$name: the source says one line: $src_says"
	else
		nok "$name: source exit $rc"
		sed 's/^/# /' "$TMP/src.err"
	fi
	line_within "$TMP/recv.err" "$REFUSED" 10
	if kill -0 "$RECV" 2>/dev/null && [ "$(grep -c "$REFUSED" "$TMP/recv.err")" -eq 1 ] &&
		! grep -q '^error:' "$TMP/recv.err" &&
		grep "$REFUSED" "$TMP/recv.err" | grep -q -- "$dst_says"; then
		ok "$name: the destination says one line ($dst_says) and keeps listening"
	else
		nok "$name: the receiver (running: $(kill -0 "$RECV" 2>/dev/null && echo yes || echo no))"
		sed 's/^/# /' "$TMP/recv.err"
	fi
	[ "$(sums a)" = "$SRC_SUMS" ] && ok "$name: the sources RUNNING and intact" ||
		nok "$name: sources: $(sums a | tr '\n' ' ')"
}
term_receiver() { # term_receiver NAME: SIGTERM ends the listening receiver, exit 1
	local name=$1
	kill -TERM "$RECV"
	if gone_within "$RECV" 10; then
		recv_wait
		[ "$RECV_RC" -eq 1 ] && grep -q '^error:.*cancelled' "$TMP/recv.err" &&
			ok "$name: SIGTERM ends the receiver (exit 1, cancelled)" ||
			{ nok "$name: after SIGTERM: exit $RECV_RC"; sed 's/^/# /' "$TMP/recv.err"; }
	else
		nok "$name: the receiver outlived SIGTERM by 10 s"
		kill -KILL "$RECV"
		recv_wait
	fi
}
# refusal NAME SOURCE-SAYS DESTINATION-SAYS RECEIVE-OPTIONS... -- MIGRATE-OPTIONS... \
#	[-- RIGHT-SOURCE-OPTIONS...]
# A refused source, then SIGTERM: the destinations untouched (a vfio-user server serves
# one client, so they are looked at once the receiver is gone). With right-source
# options, again with a new receiver: after the refusal the right source migrates to it.
refusal() {
	local name=$1 src_says=$2 dst_says=$3 r=() m=() rc
	shift 3
	while [ "$1" != -- ]; do r+=("$1"); shift; done
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do m+=("$1"); shift; done
	fresh || { nok "$name: servers"; return; }
	start_receiver "${r[@]}"
	refused "$name" "$src_says" "$dst_says" "${m[@]}"
	term_receiver "$name"
	[ "$(sums b)" = "$DST_SUMS" ] && ok "$name: the destinations untouched" ||
		nok "$name: destinations: $(sums b | tr '\n' ' ')"
	[ $# -gt 0 ] || return 0
	shift
	name="$name, then the right source"
	fresh || { nok "$name: servers"; return; }
	start_receiver "${r[@]}"
	refused "$name" "$src_says" "$dst_says" "${m[@]}"
	migrate_to $PORT "$@" >"$TMP/src.out" 2>"$TMP/src.err"
	rc=$?
	recv_wait
	[ $rc -eq 0 ] && ok "$name: it migrates to the same receiver" ||
		{ nok "$name: migrate exit $rc"; sed 's/^/# /' "$TMP/src.err"; }
	migrated "$name"
}

check "two namespaces joined by a veth pair" setup_net
GOOD=$TMP/good
SRC_DN="CN=source-a,O=vfio-mig test"

# 1. Migrations that work.
tls_case "x509, one device, host name, allowed name" \
	--tls-creds "$GOOD" --tls-authz "CN=someone,O=else" --tls-authz "$SRC_DN" -- \
	--tls-creds "$GOOD" --tls-hostname dest.example
tls_case "PSK, one device" --tls-psk "$TMP/dest.psk" -- --tls-psk "$TMP/src.psk"
NDEV=3
tls_case "x509, three devices on side channels, the address checked" \
	--tls-creds "$GOOD" -- --tls-creds "$GOOD"
tls_case "PSK, three devices on side channels" --tls-psk "$TMP/dest.psk" -- --tls-psk "$TMP/src.psk"
NDEV=1
# Many small stream elements from a fast source (the sample device in the process): the
# socket nearly always holds ciphertext the receiver has not read when the loader looks for
# a control message between elements, and it must look at the decrypted stream (a 'V',
# the first byte of a control message, begins the ciphertext once in 256 times; looking
# there failed about two migrations in three). Four migrations.
small_blocks() {
	local k src dst
	src=$("$VFIO_MIG" save -q --device local:testdev,size=64M,seed=3 -o /dev/null |
		sed -n 's/^checksum: //p')
	for k in 1 2 3 4; do
		ip netns exec "$B" "$VFIO_MIG" receive -q --listen tcp:$ADDR_B:$PORT --timeout 60 \
			--tls-psk "$TMP/dest.psk" --device local:testdev,size=64M \
			>"$TMP/recv.out" 2>"$TMP/recv.err" &
		RECV=$!
		for _ in $(seq 50); do
			ip netns exec "$B" ss -ltn | grep -q ":$PORT " && break
			sleep 0.1
		done
		in_a migrate -q --no-precopy --buffer-size 256 --from local:testdev,size=64M,seed=3 \
			--to tcp:$ADDR_B:$PORT --tls-psk "$TMP/src.psk" >"$TMP/src.out" 2>"$TMP/src.err"
		recv_wait
		dst=$(sed -n 's/^checksum: //p' "$TMP/recv.out")
		if [ "$RECV_RC" -ne 0 ] || [ -z "$src" ] || [ "$src" != "$dst" ]; then
			echo "migration $k of 4: source '$src', destination '$dst'" >&2
			cat "$TMP/src.err" "$TMP/recv.err" >&2
			return 1
		fi
	done
}
check "PSK, 64 MiB in 256-byte blocks, four times: control messages found in the plain text" \
	small_blocks

# 2. Refusals, before any state byte; the receiver keeps listening after each.
refusal "plain source, TLS destination" "this destination requires TLS" \
	"refused a plain migration" --tls-creds "$GOOD" -- -- --tls-creds "$GOOD"
refusal "TLS source, plain destination" "does not accept TLS" "refused a TLS migration" \
	-- --tls-creds "$GOOD" --
refusal "the source trusts another CA" "certificate is not signed by" "refused this destination" \
	--tls-creds "$GOOD" -- --tls-creds "$TMP/other-ca" -- --tls-creds "$GOOD"
refusal "the destination trusts another CA" "did not sign this source's certificate" \
	"its certificate is not signed by" --tls-creds "$TMP/dest-other-ca" -- --tls-creds "$GOOD"
refusal "an expired source certificate" "refused this source" "certificate has expired" \
	--tls-creds "$GOOD" -- --tls-creds "$TMP/expired" -- --tls-creds "$GOOD"
refusal "a wrong host name" "is not for 'elsewhere.example'" "refused this destination" \
	--tls-creds "$GOOD" -- --tls-creds "$GOOD" --tls-hostname elsewhere.example -- \
	--tls-creds "$GOOD" --tls-hostname dest.example
refusal "a name outside --tls-authz" "not among the allowed names" "'$SRC_DN' is not among" \
	--tls-creds "$GOOD" --tls-authz "CN=source-b,O=vfio-mig test" -- --tls-creds "$GOOD" \
	-- --tls-creds "$TMP/good-b"
refusal "different pre-shared keys" "pre-shared keys differ" "pre-shared key for 'qemu' differs" \
	--tls-psk "$TMP/dest.psk" -- --tls-psk "$TMP/wrong.psk" -- --tls-psk "$TMP/src.psk"
# PSK identities: the destination knows only beta; the source's file has alpha and beta.
refusal "a PSK identity the destination does not know" "has no key for the identity 'alpha'" \
	"identity 'alpha' is not in the key file" --tls-psk "$TMP/beta.psk" -- \
	--tls-psk "$TMP/both.psk" --tls-psk-identity alpha -- \
	--tls-psk "$TMP/both.psk" --tls-psk-identity beta
expect_exit 1 "a PSK identity that is not in the source's own file" \
	in_a migrate --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT --tls-psk "$TMP/both.psk" \
	--tls-psk-identity gamma
[ "$(grep -c '^error:' "$TMP/last.err")" -eq 1 ] &&
	grep -q "^error:.*both.psk: no key for the identity 'gamma'" "$TMP/last.err" &&
	ok "... says so in one line" || { nok "... says: $(last_err)"; }
expect_exit 1 "without --tls-psk-identity the source uses 'qemu', as QEMU" \
	in_a migrate --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT --tls-psk "$TMP/both.psk"
grep -q "^error:.*no key for the identity 'qemu' (the default" "$TMP/last.err" &&
	ok "... and says that 'qemu' is the default" || nok "... says: $(last_err)"
expect_exit 2 "--tls-creds and --tls-psk together: a usage error" \
	in_a migrate --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT --tls-creds "$GOOD" \
	--tls-psk "$TMP/src.psk"
expect_exit 2 "--tls-psk-identity without --tls-psk: a usage error" \
	in_a migrate --from "unix:$TMP/a.sock" --to tcp:$ADDR_B:$PORT --tls-creds "$GOOD" \
	--tls-psk-identity beta

# 3. A TLS peer that stops halfway, in the handshake or in a record: every wait ends after
# --timeout, and SIGTERM ends it at once (the bound asserted is a generous 10 s).
cat >"$TMP/stall.py" <<'PY'
# stall.py HOST PORT DIR MODE: a TLS peer with the x509 credentials of DIR that stalls.
#   hello:  a source that sends half of its ClientHello
#   reset:  a source that sends its ClientHello, then resets the connection
#   record: a source that completes the handshake, reads the verdict, sends half a record
#   dest:   a destination that completes the handshake, sends its verdict, reads nothing
import socket, ssl, struct, sys, time

host, port, creds, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
server = mode == "dest"
role = "server" if server else "client"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(creds + "/ca-cert.pem")
ctx.load_cert_chain(f"{creds}/{role}-cert.pem", f"{creds}/{role}-key.pem")
if server:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.num_tickets = 0
    ls = socket.create_server((host, port))
    print("listening", flush=True)
    s, _ = ls.accept()
else:
    s = socket.create_connection((host, port))
inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inb, outb, server_side=server,
                   server_hostname=None if server else "dest.example")

def flush():
    data = outb.read()
    if data:
        s.sendall(data)

def until(step):  # step() until it needs nothing more from the peer
    while True:
        try:
            return step()
        except ssl.SSLWantReadError:
            flush()
            data = s.recv(65536)
            if not data:
                sys.exit("the peer closed the connection")
            inb.write(data)

if mode in ("hello", "reset"):
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outb.read()
    if mode == "reset":
        s.sendall(hello)
        time.sleep(0.5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        print("reset", flush=True)
        sys.exit(0)
    s.sendall(hello[: len(hello) // 2])
else:
    until(tls.do_handshake)
    flush()
    if server:
        tls.write(b"VMT1\0\0")
        flush()
    else:
        verdict = b""
        while len(verdict) < 6:
            verdict += until(lambda: tls.read(6 - len(verdict)))
        if verdict != b"VMT1\0\0":
            sys.exit("refused: %r" % verdict)
        tls.write(b"\0" * 1000)
        record = outb.read()
        s.sendall(record[: len(record) // 2])
print("stalled", flush=True)
time.sleep(300)
PY
stall_peer() { # stall_peer MODE: the stalling peer, from A (a source) or B (dest); STALL
	local ns=$A
	[ "$1" = dest ] && ns=$B
	: >"$TMP/stall.out"
	ip netns exec "$ns" python3 "$TMP/stall.py" $ADDR_B $PORT "$GOOD" "$1" \
		>"$TMP/stall.out" 2>&1 &
	STALL=$!
	line_within "$TMP/stall.out" "$(case $1 in dest) echo listening ;; reset) echo reset ;;
		*) echo stalled ;; esac)" 10 ||
		{ echo "# stall.py: $(cat "$TMP/stall.out")"; return 1; }
}
stall_end() { kill "$STALL" 2>/dev/null; wait "$STALL" 2>/dev/null; }
# receiver_gives_up NAME SAYS: the receiver ended by itself within 10 s, exit 1, SAYS
receiver_gives_up() {
	local name=$1 says=$2
	if gone_within "$RECV" 10; then
		recv_wait
		[ "$RECV_RC" -eq 1 ] && [ "$(grep -c '^error:' "$TMP/recv.err")" -eq 1 ] &&
			grep -q -- "$says" "$TMP/recv.err" &&
			ok "$name: the receiver gives up (exit 1): $says" ||
			{ nok "$name: receiver exit $RECV_RC"; sed 's/^/# /' "$TMP/recv.err"; }
	else
		nok "$name: the receiver still waits after 10 s"
		kill -KILL "$RECV"
		recv_wait
	fi
}
dst_reset() { # dst_reset NAME: the destination, touched by the load, reset to RUNNING
	[ "$(info_of b state)" = RUNNING ] && ok "$1: the destination reset to RUNNING" ||
		nok "$1: destination $(info_of b state)"
}
dst_untouched() {
	[ "$(sums b)" = "$DST_SUMS" ] && ok "$1: the destinations untouched" ||
		nok "$1: destinations: $(sums b | tr '\n' ' ')"
}

name="a source stops halfway through a record, receive --timeout 2"
fresh && start_receiver --tls-creds "$GOOD" --timeout 2
if stall_peer record; then
	receiver_gives_up "$name" "the source moved nothing for 2.0 s"
	dst_reset "$name"
else
	nok "$name: the stalling peer"
fi
stall_end
name="a source stops halfway through a record, SIGTERM"
fresh && start_receiver --tls-creds "$GOOD"
if stall_peer record; then
	sleep 1
	term_receiver "$name"
	dst_reset "$name"
else
	nok "$name: the stalling peer"
fi
stall_end
name="a source stops halfway through its hello, receive --timeout 2"
fresh && start_receiver --tls-creds "$GOOD" --timeout 2
if stall_peer hello; then
	receiver_gives_up "$name" "passed the checks in 2 s (1 refused)"
	grep -q "$REFUSED" "$TMP/recv.err" &&
		grep "$REFUSED" "$TMP/recv.err" | grep -q "did not finish the TLS handshake in 2.0 s" &&
		ok "$name: the peer refused in one line: it did not finish the handshake" ||
		nok "$name: no refusal line"
	dst_untouched "$name"
else
	nok "$name: the stalling peer"
fi
stall_end
name="a source stops halfway through its hello, SIGTERM"
fresh && start_receiver --tls-creds "$GOOD"
if stall_peer hello; then
	sleep 1
	term_receiver "$name"
	dst_untouched "$name"
else
	nok "$name: the stalling peer"
fi
stall_end
name="a source that resets the connection in the handshake"
fresh && start_receiver --tls-creds "$GOOD"
if stall_peer reset && line_within "$TMP/recv.err" "$REFUSED" 10; then
	grep "$REFUSED" "$TMP/recv.err" | grep -q "^warning: TLS from 10\.213\.$N\.1 port [0-9]*: " &&
		kill -0 "$RECV" &&
		ok "$name: one line naming its address, and the receiver listens on" ||
		{ nok "$name: the receiver"; sed 's/^/# /' "$TMP/recv.err"; }
	term_receiver "$name"
	dst_untouched "$name"
else
	nok "$name: no refusal: $(cat "$TMP/stall.out" "$TMP/recv.err")"
fi
stall_end
# Two connections that say nothing, ahead of the right source: the receiver drops each
# after its handshake bound (10 s), and the source, waiting behind them as long as its
# own timeout allows, still migrates. (With a 10 s bound of its own it failed here.)
name="two silent connections ahead of the right source"
fresh && start_receiver --tls-creds "$GOOD"
SILENT=()
for _ in 1 2; do
	ip netns exec "$A" bash -c "exec 3<>/dev/tcp/$ADDR_B/$PORT && sleep 300" &
	SILENT+=($!)
	sleep 0.3
done
migrate_to $PORT --tls-creds "$GOOD" >"$TMP/src.out" 2>"$TMP/src.err"
rc=$?
recv_wait
kill "${SILENT[@]}" 2>/dev/null
wait "${SILENT[@]}" 2>/dev/null
[ $rc -eq 0 ] && ok "$name: migrate succeeds" ||
	{ nok "$name: migrate exit $rc"; sed 's/^/# /' "$TMP/src.err"; }
migrated "$name"
[ "$(grep "$REFUSED" "$TMP/recv.err" | grep -c "sent nothing within 10.0 s")" -eq 2 ] &&
	ok "$name: one line for each: it sent nothing within 10.0 s" ||
	{ nok "$name: the refusal lines"; sed 's/^/# /' "$TMP/recv.err"; }
# The source's side: a destination that takes the handshake, then reads nothing.
src_stalled() { # src_stalled NAME SAYS --term | MIGRATE-OPTIONS...
	local name=$1 says=$2 term=false devs mig rc
	shift 2
	[ "$1" = --term ] && { term=true; shift; }
	mapfile -t devs < <(dev_args a --from)
	fresh || { nok "$name: servers"; return; }
	stall_peer dest || { nok "$name: the stalling destination"; return; }
	ip netns exec "$A" "$VFIO_MIG" migrate -q "${devs[@]}" --to tcp:$ADDR_B:$PORT \
		--tls-creds "$GOOD" --no-precopy "$@" >"$TMP/src.out" 2>"$TMP/src.err" &
	mig=$!
	if $term; then
		line_within "$TMP/stall.out" stalled 10
		sleep 1
		kill -TERM $mig
	fi
	if gone_within $mig 10; then
		wait $mig
		rc=$?
		[ $rc -eq 1 ] && [ "$(grep -c '^error:' "$TMP/src.err")" -eq 1 ] &&
			grep -q -- "$says" "$TMP/src.err" && ok "$name: migrate exits 1: $says" ||
			{ nok "$name: migrate exit $rc"; sed 's/^/# /' "$TMP/src.err"; }
	else
		nok "$name: migrate still runs after 10 s"
		kill -KILL $mig
		wait $mig
	fi
	stall_end
	[ "$(sums a)" = "$SRC_SUMS" ] && ok "$name: the source RUNNING and intact" ||
		nok "$name: source: $(sums a | tr '\n' ' ')"
}
src_stalled "a destination stops reading, migrate --timeout 2" \
	"the destination moved nothing for 2.0 s" --timeout 2
src_stalled "a destination stops reading, SIGTERM" "cancelled" --term

# 4. The link cut under TLS: the source RUNNING and intact, the destination reset.
cut_case() { # cut_case NAME MIGRATE-OPTIONS...; cuts the link after 1 s
	local name=$1 src_rc mig
	shift
	setup_net && slow_link && fresh
	start_receiver --tls-creds "$GOOD"
	migrate_to $PORT --tls-creds "$GOOD" "$@" >"$TMP/src.out" 2>"$TMP/src.err" &
	mig=$!
	sleep 1
	cut_link
	wait $mig
	src_rc=$?
	recv_wait
	[ "$src_rc" -eq 1 ] && ok "$name: migrate fails" || nok "$name: migrate exit $src_rc"
	[ "$RECV_RC" -eq 1 ] && ok "$name: receiver fails" || nok "$name: receiver exit $RECV_RC"
	[ "$(sums a)" = "$SRC_SUMS" ] && ok "$name: source RUNNING and intact" ||
		nok "$name: source: $(sums a)"
	[ "$(info_of b state)" = RUNNING ] && ok "$name: destination reset to RUNNING" ||
		nok "$name: destination $(info_of b state)"
}
SIZE=64M
cut_case "TLS, link cut in pre-copy" --downtime-limit 1 --max-precopy-time 30000
cut_case "TLS, link cut in stop-copy" --no-precopy
SIZE=16M
check "the link back up" setup_net

# 5. On the wire: a proxy between the hosts records every byte of every connection.
cat >"$TMP/proxy.py" <<'PY'
import socket, sys, threading
host, port, to_port, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rec, lock = open(out, "wb", buffering=0), threading.Lock()
def pipe(a, b):
    try:
        while True:
            d = a.recv(1 << 20)
            if not d:
                break
            with lock:
                rec.write(d)
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(64)
while True:
    c, _ = s.accept()
    u = socket.create_connection((host, to_port))
    for a, b in ((c, u), (u, c)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
PY
cat >"$TMP/find.py" <<'PY'
# find.py CAPTURE STATE...: how many of 64 pieces of 32 bytes of each state are in CAPTURE
import sys
cap = open(sys.argv[1], "rb").read()
pieces = []
for path in sys.argv[2:]:
    st = open(path, "rb").read()
    step = (len(st) - 8192) // 64
    pieces += [st[4096 + i * step:4096 + i * step + 32] for i in range(64)]
pieces = [p for p in pieces if len(set(p)) >= 8]
print(sum(p in cap for p in pieces), len(pieces))
PY
NDEV=2
STATES=()
for ((i = 0; i < NDEV; i++)); do
	"$VFIO_MIG" save -q --device "local:testdev,size=$SIZE,seed=$((5 + i))" -o "$TMP/state$i" &&
		STATES+=("$TMP/state$i")
done
[ ${#STATES[@]} -eq $NDEV ] && ok "the sources' state saved for comparison" || nok "saving the states"
on_the_wire() { # on_the_wire NAME TLS-OPTIONS...: migrates through the proxy; $TMP/found
	local name=$1 proxy
	shift
	fresh
	rm -f "$TMP/wire"
	ip netns exec "$B" python3 "$TMP/proxy.py" $ADDR_B $PROXY_PORT $PORT "$TMP/wire" &
	proxy=$!
	for _ in $(seq 50); do
		ip netns exec "$B" ss -ltn 2>/dev/null | grep -q ":$PROXY_PORT " && break
		sleep 0.1
	done
	start_receiver "$@"
	# no pre-copy: all the state goes on the side channels
	migrate_to $PROXY_PORT --no-precopy "$@" >"$TMP/src.out" 2>"$TMP/src.err" ||
		sed 's/^/# /' "$TMP/src.err"
	recv_wait
	kill $proxy
	wait $proxy 2>/dev/null
	migrated "$name"
	python3 "$TMP/find.py" "$TMP/wire" "${STATES[@]}" >"$TMP/found"
}
on_the_wire "through the proxy, in clear"
read -r found total <"$TMP/found"
echo "# in clear: $found of $total pieces of the state on the wire"
[ "${total:-0}" -gt 100 ] && [ "${found:-0}" -ge $((total * 9 / 10)) ] &&
	ok "control: without TLS the wire shows the state ($found of $total pieces)" ||
	nok "control: without TLS only ${found:-?} of ${total:-?} pieces on the wire"
on_the_wire "through the proxy, TLS" --tls-creds "$GOOD"
read -r found total <"$TMP/found"
echo "# TLS: $found of $total pieces of the state on the wire"
[ "${total:-0}" -gt 100 ] && [ "${found:-1}" -eq 0 ] &&
	ok "with TLS none of the state is on the wire (0 of $total pieces)" ||
	nok "with TLS ${found:-?} of ${total:-?} pieces of the state on the wire"

done_testing
