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
