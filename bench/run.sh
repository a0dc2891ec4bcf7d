#!/bin/bash
# Runs the benchmarks of a release build: bench/run.sh BUILD_DIR [bench options]
# The libvfio-user case needs libvfio-user (tests/interop/lib.sh builds it, cached) and
# the interop tier's test device on it, built here into BUILD_DIR/bench/; without the
# library's source its row says it did not run, and the line above the table says why.
# The TLS case gets x509 credentials for 127.0.0.1 in QEMU's layout, made here.
set -euo pipefail
build=${1:-build-bench}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../tests/interop/lib.sh
. "$here/../tests/interop/lib.sh"
if lvu=$(vfm_lvu_build 2>"$build/lvu.err") &&
	vfm_lvu_cc "$lvu" "$build/bench/lvu-device" "$here"/../tests/interop/lvu-device/*.c 2>>"$build/lvu.err"; then
	export VFM_LVU_DEVICE=$build/bench/lvu-device
else
	echo "libvfio-user case not run: $(head -n 1 "$build/lvu.err")"
	unset VFM_LVU_DEVICE
fi
creds=$(mktemp -d)
trap 'rm -rf "$creds"' EXIT
key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
make_creds() {
	openssl req -x509 "${key[@]}" -keyout "$creds/ca-key.pem" -out "$creds/ca-cert.pem" \
		-subj "/CN=vfio-mig bench CA" -days 1 &&
		for role in server client; do
			openssl req "${key[@]}" -keyout "$creds/$role-key.pem" -out "$creds/$role.csr" \
				-subj "/CN=$role" &&
				openssl x509 -req -in "$creds/$role.csr" -CA "$creds/ca-cert.pem" \
					-CAkey "$creds/ca-key.pem" -CAcreateserial -days 1 \
					-out "$creds/$role-cert.pem" -extfile <(echo "subjectAltName=IP:127.0.0.1")
		done
}
if command -v openssl >/dev/null && make_creds >/dev/null 2>&1; then
	export VFM_BENCH_TLS_DIR=$creds
fi
"$build/bench/vfm-bench" "$@"

# The TCP section again with Debian 13's OpenSSL 3.5 (AES-GCM with VAES), from the root
# the kernel tier caches (never built here): the same binary, run by that root's loader
# with its libc and libcrypto, and this machine's json-c.
if [ $# -eq 0 ] || [[ " $* " == *tcp-compare* ]]; then
	key=$(sha256sum "$here/../scripts/trixie-root.sh" | cut -c1-16)
	root=${VFM_TRIXIE_CACHE:-$HOME/.cache/vfio-mig/trixie-root}/$key
	lib=$root/usr/lib/x86_64-linux-gnu
	json=$(ldd "$build/bench/vfm-bench" | sed -n 's/.*libjson-c.so.[0-9]* => \([^ ]*\).*/\1/p')
	echo
	if [ -f "$root/.vfm-complete" ] && [ -f "$lib/libcrypto.so.3" ] && [ -n "$json" ]; then
		mkdir -p "$creds/lib" && cp "$json" "$creds/lib/"
		echo "The same TCP section with Debian 13's libcrypto (the kernel tier's cached root):"
		OPENSSL_CONF=/dev/null "$root/lib64/ld-linux-x86-64.so.2" --library-path "$lib:$creds/lib" \
			"$build/bench/vfm-bench" --cases tcp-compare | sed -n '/^TCP over loopback/,$p'
	else
		echo "TCP section with Debian 13's libcrypto not run: no cached Debian 13 root (make test builds it)"
	fi
fi
