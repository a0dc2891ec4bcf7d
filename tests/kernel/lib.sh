# shellcheck shell=bash
# Helpers shared by the tests/kernel/ scripts. Source it, do not execute it.

vfm_log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
vfm_die() { vfm_log "error: $*"; exit 2; }

# vfm_need_pkgs PKG...: install the Debian packages that are missing (CI runs on a fresh
# Debian 12 as root). Costs one dpkg-query call when everything is present.
vfm_need_pkgs() {
	local missing=() p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == *" installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	vfm_log "installing missing packages: ${missing[*]}"
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || vfm_die "not root and no sudo: install ${missing[*]}"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
		"${sudo[@]}" apt-get update >&2
		"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
	fi
}

# vfm_now: seconds since the epoch with milliseconds, for phase timings.
vfm_now() { date +%s.%3N; }
# vfm_since START: elapsed seconds since START, 2 decimals.
vfm_since() { awk -v s="$1" -v e="$(vfm_now)" 'BEGIN { printf "%.2f", e - s }'; }
