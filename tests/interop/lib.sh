# shellcheck shell=bash
# Helpers shared by the interop tier (tests/interop/run-tier.sh) and its test scripts
# (tests/interop/*.t.sh). Source it, do not execute it.
#
#   vfm_lvu_build        builds (once, cached) libvfio-user; prints its prefix
#   vfm_lvu_cc OUT SRC.. compiles a program against that libvfio-user (public API only)
#   vfm_wait_socket P S  waits (bounded) for process P to create socket S
#   vfm_now / vfm_since  phase timings
#
# libvfio-user comes from $VFM_LIBVFIO_USER_SRC (a source tree) if set, otherwise from
# ${VFM_THIRD_PARTY:-<repo>/../shared/third_party}/libvfio-user-efd091b.tar.gz (for a git
# worktree also the main checkout's ../shared). The build
# is cached in ${VFM_CACHE:-~/.cache/vfio-mig}/libvfio-user/<key>/, key = sha256 of the
# tarball (or of the source tree's files) and of vfm_lvu_recipe; a flock serialises builders.
# The prefix it prints holds include/libvfio-user.h, lib/libvfio-user.so.0 and the
# library's samples in samples/ (client, server, null, ...) and the extracted source in src/.

vfm_interop_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vfm_interop_root=$(cd "$vfm_interop_here/../.." && pwd)

vfm_log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
vfm_now() { date +%s.%3N; }
vfm_since() { awk -v s="$1" -v e="$(vfm_now)" 'BEGIN { printf "%.2f", e - s }'; }

# Bump when vfm_lvu_build changes what it builds (it is part of the cache key).
vfm_lvu_recipe=1

# vfm_lvu_key SRC: the cache key of a tarball or a source tree.
vfm_lvu_key() {
	local src=$1
	{
		if [[ -d $src ]]; then
			(cd "$src" && find . -path ./.git -prune -o -type f -print0 | sort -z |
				xargs -0 sha256sum)
		else
			sha256sum <"$src"
		fi
		echo "recipe $vfm_lvu_recipe"
	} | sha256sum | cut -c1-16
}

# vfm_lvu_build: prints the prefix of a built libvfio-user. Exit 3 with one line on
# stderr when there is no source to build from (callers SKIP), 1 when the build fails
# (its log is <cache>/<key>.log).
vfm_lvu_build() {
	local src=${VFM_LIBVFIO_USER_SRC:-}
	local tp=${VFM_THIRD_PARTY:-} common
	if [[ -z $tp ]]; then
		# ../shared beside the checkout, or beside the main checkout of a git worktree
		tp=$vfm_interop_root/../shared/third_party
		common=$(git -C "$vfm_interop_root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)
		[[ ! -d $tp && -n $common ]] && tp=$(dirname "$common")/../shared/third_party
	fi
	if [[ -z $src ]]; then
		src=$tp/libvfio-user-efd091b.tar.gz
		if [[ ! -f $src ]]; then
			echo "libvfio-user not found: put libvfio-user-efd091b.tar.gz in $tp or set VFM_LIBVFIO_USER_SRC to a source tree" >&2
			return 3
		fi
	elif [[ ! -f $src/include/libvfio-user.h ]]; then
		echo "VFM_LIBVFIO_USER_SRC=$src is not a libvfio-user source tree (no include/libvfio-user.h)" >&2
		return 3
	fi
	local cache=${VFM_CACHE:-$HOME/.cache/vfio-mig}/libvfio-user key out
	key=$(vfm_lvu_key "$src")
	out=$cache/$key
	if [[ -f $out/.vfm-complete ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	mkdir -p "$cache"
	(
		flock 9
		[[ -f $out/.vfm-complete ]] && exit 0
		rm -rf "$out"
		mkdir -p "$out"
		if [[ -d $src ]]; then
			cp -a "$src" "$out/src"
		else
			mkdir "$out/src" && tar xzf "$src" -C "$out/src" --strip-components=1
		fi
		meson setup "$out/build" "$out/src" --buildtype=release &&
			ninja -C "$out/build" lib/libvfio-user.so.0.0.1 samples/client samples/server samples/null &&
			mkdir -p "$out/lib" "$out/samples" &&
			cp -a "$out/src/include" "$out/include" &&
			cp -a "$out/build/lib/"libvfio-user.so{,.0,.0.0.1} "$out/lib/" &&
			cp -a "$out/build/samples/client" "$out/build/samples/server" \
				"$out/build/samples/null" "$out/samples/" &&
			touch "$out/.vfm-complete"
	) 9>"$out.lock" >"$out.log" 2>&1
	if [[ ! -f $out/.vfm-complete ]]; then
		echo "libvfio-user build failed, see $out.log" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

# vfm_lvu_cc PREFIX OUT SRC... [CFLAGS/LIBS...]: compiles a program against the
# libvfio-user at PREFIX (its public header and shared library, with an rpath).
vfm_lvu_cc() {
	local prefix=$1 out=$2
	shift 2
	gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -I"$prefix/include" -o "$out" "$@" \
		-L"$prefix/lib" -l:libvfio-user.so.0 -Wl,-rpath,"$prefix/lib"
}

# vfm_wait_socket PID PATH: waits up to 10 s for PID to create the socket PATH.
vfm_wait_socket() {
	local _
	for _ in $(seq 1 500); do
		[[ -S $2 ]] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# ---- for the test scripts (*.t.sh) ----------------------------------------------------
# t_ok NAME / t_nok NAME / t_skip NAME WHY: one TAP line. t_check NAME CMD...: ok when CMD
# succeeds (its stdout in $VFM_OUT/last.out, stderr in last.err, shown on failure).
# t_done: exit status for the script (0 iff nothing failed).
# vfm_start_lvu NAME ARGS...: starts our libvfio-user device on $VFM_OUT/NAME.sock (log in
# $VFM_OUT/NAME.log) and waits until it listens; vfm_start_serve NAME SPEC: the same for
# `vfio-mig serve --device SPEC`. Both set START_PID; every process started so is killed
# when the script exits.
t_fails=0
t_pids=()
t_ok() { echo "ok - $1"; }
t_nok() { echo "not ok - $1"; t_fails=$((t_fails + 1)); }
t_skip() { echo "ok - $1 # SKIP $2"; }
t_check() {
	local name=$1
	shift
	if "$@" >"$VFM_OUT/last.out" 2>"$VFM_OUT/last.err"; then
		t_ok "$name"
	else
		t_nok "$name"
		tail -n 15 "$VFM_OUT/last.err" | sed 's/^/#   /'
	fi
}
# t_is NAME GOT WANT: ok when GOT equals WANT.
t_is() {
	if [[ $2 == "$3" ]]; then t_ok "$1"; else t_nok "$1 (got '$2', want '$3')"; fi
}
t_done() { ((t_fails == 0)); }
t_cleanup() {
	local p
	for p in "${t_pids[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap t_cleanup EXIT

vfm_start_lvu() {
	local name=$1
	shift
	rm -f "$VFM_OUT/$name.sock" "$VFM_OUT/$name.ready"
	"$VFM_LVU_DEVICE" --socket "$VFM_OUT/$name.sock" --ready "$VFM_OUT/$name.ready" "$@" \
		2>"$VFM_OUT/$name.log" &
	START_PID=$!
	t_pids+=("$START_PID")
	local _
	for _ in $(seq 1 500); do
		[[ -f $VFM_OUT/$name.ready ]] && return 0
		kill -0 "$START_PID" 2>/dev/null || break
		sleep 0.02
	done
	sed 's/^/#   /' "$VFM_OUT/$name.log" >&2
	return 1
}

vfm_start_serve() {
	rm -f "$VFM_OUT/$1.sock"
	"$VFIO_MIG" serve --socket "$VFM_OUT/$1.sock" --device "$2" 2>"$VFM_OUT/$1.log" &
	START_PID=$!
	t_pids+=("$START_PID")
	vfm_wait_socket "$START_PID" "$VFM_OUT/$1.sock"
}

# lvu_state NAME: the last "state size=N seed=S" line of our device NAME, as "N S".
lvu_state() { sed -n 's/^lvu-device: state size=\([0-9]*\) seed=\([0-9]*\)$/\1 \2/p' "$VFM_OUT/$1.log" | tail -n 1; }
