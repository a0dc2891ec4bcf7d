#!/bin/bash
# The package tier (TAP): what an embedder and a distribution get.
#   - make install and meson install into DESTDIR, with PREFIX honoured: the shared library
#     and its soname link, the archive, vfio-mig.pc, the headers, the tool, the man pages
#     and the completion;
#   - the shared library exports exactly the functions the public headers declare, each
#     installed header compiles on its own, and documents every function it declares;
#   - examples/ and the vfio-mig(3) example, built out of the tree against the installed
#     library through pkg-config, and run;
#   - the exported ABI against the checked-in baseline (tests/package/abi.sh);
#   - dpkg-buildpackage (nocheck) builds vfio-mig, libvfio-mig0 and libvfio-mig-dev; their
#     files, dependencies and pkg-config file, an example built against the unpacked
#     packages, and lintian without errors.
# Environment: PACKAGE_BUILD (build directory, default build-package).
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
BUILD=${PACKAGE_BUILD:-build-package}
BASELINE=tests/package/libvfio-mig.abi

N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAILED=1; echo "not ok $N - $1"; }
skip() { N=$((N + 1)); echo "ok $N - $1 # SKIP $2"; }
# check NAME CMD...: one TAP line for a command; its output is shown only when it fails.
# (No "cmd | grep -q" below: grep leaving early fails the pipeline under pipefail.)
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		not_ok "$name"
		sed 's/^/# /' <<<"$out" | tail -n 40
	fi
}
# Every test this tier has, for skipping them all with one reason.
ALL=("make install (PREFIX, DESTDIR)" "meson install (DESTDIR)" "exports"
	"installed headers compile alone" "public functions documented" "examples build through pkg-config"
	"migrate-two: two sample devices" "device-server: two example devices over vfio-user"
	"vfio-mig(3) example" "ABI against the baseline" "dpkg-buildpackage"
	"package contents and dependencies" "unpacked packages: pkg-config and an example"
	"lintian")
skip_all() {
	for t in "${ALL[@]}"; do skip "$t" "$1"; done
	exit 0
}

scripts/deps.sh build package >/dev/null 2>&1 ||
	skip_all "the packaging tools cannot be installed (scripts/deps.sh package)"
for tool in abidw abidiff dpkg-buildpackage dh lintian pkg-config readelf; do
	command -v "$tool" >/dev/null || skip_all "$tool is missing"
done

T=$(mktemp -d /tmp/vfio-mig-package.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

if [ ! -f "$BUILD/build.ninja" ]; then
	# Debug information for abidw; neither tests nor benchmarks are needed here.
	meson setup "$BUILD" --buildtype=debugoptimized -Dtests=false -Dbench=false \
		--prefix=/usr >"$T/setup.log" 2>&1 || {
		not_ok "meson setup $BUILD"
		sed 's/^/# /' "$T/setup.log" | tail -n 40
		exit 1
	}
fi
VERSION=$(meson introspect --projectinfo "$BUILD" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
LIBDIR=$(meson introspect --buildoptions "$BUILD" |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"][0])')
SOVERSION=$(sed -n "s/^soversion = '\([0-9]*\)'.*/\1/p" meson.build)

# installed_files ROOT PREFIX: what an install must have put there.
installed_files() {
	local r=$1$2 lib=$1$2/$LIBDIR f
	for f in "$lib/libvfio-mig.so.$VERSION" "$lib/libvfio-mig.a" "$lib/pkgconfig/vfio-mig.pc" \
		"$r/bin/vfio-mig" "$r/include/vfio-mig/engine.h" "$r/include/vfio-mig/device.h" \
		"$r/share/man/man1/vfio-mig.1" "$r/share/man/man3/vfio-mig.3" \
		"$r/share/bash-completion/completions/vfio-mig"; do
		[ -f "$f" ] || { echo "missing: $f"; return 1; }
	done
	[ "$(readlink "$lib/libvfio-mig.so.$SOVERSION")" = "libvfio-mig.so.$VERSION" ] ||
		{ echo "no soname link libvfio-mig.so.$SOVERSION"; return 1; }
	[ "$(readlink "$lib/libvfio-mig.so")" = "libvfio-mig.so.$SOVERSION" ] ||
		{ echo "no development link libvfio-mig.so"; return 1; }
	grep -qx "prefix=$2" "$lib/pkgconfig/vfio-mig.pc" ||
		{ echo "vfio-mig.pc does not say prefix=$2:"; cat "$lib/pkgconfig/vfio-mig.pc"; return 1; }
	"$r/bin/vfio-mig" --version >/dev/null || { echo "the installed tool does not run"; return 1; }
}

make_install() { # make_install PREFIX DESTDIR
	make --no-print-directory install BUILD="$BUILD" PREFIX="$1" DESTDIR="$2" &&
		installed_files "$2" "$1"
}
check "make install (PREFIX, DESTDIR)" make_install /opt/vfio-mig "$T/opt"

meson_install() { # meson_install DESTDIR (prefix /usr)
	meson configure "$BUILD" --prefix=/usr &&
		meson install -C "$BUILD" --destdir "$1" &&
		installed_files "$1" /usr
}
ROOT=$T/root
check "meson install (DESTDIR)" meson_install "$ROOT"
LIB=$ROOT/usr/$LIBDIR/libvfio-mig.so.$VERSION
HEADERS=$ROOT/usr/include/vfio-mig

# The soname, and exactly the declared functions exported.
exports() {
	local soname
	soname=$(readelf -d "$LIB" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	[ "$soname" = "libvfio-mig.so.$SOVERSION" ] || { echo "soname '$soname'"; return 1; }
	python3 src/gen-map.py --list -o "$T/declared" "$HEADERS" || return 1
	nm -D --defined-only "$LIB" | awk '{print $3}' | sort -u >"$T/exported"
	if ! diff -u "$T/declared" "$T/exported"; then
		echo "(-: declared in a public header but not exported; +: exported but not declared)"
		return 1
	fi
	echo "$(wc -l <"$T/exported") functions exported"
}
check "exports: soname libvfio-mig.so.$SOVERSION, exactly the functions the headers declare" exports

export PKG_CONFIG_SYSROOT_DIR=$ROOT
export PKG_CONFIG_LIBDIR=$ROOT/usr/$LIBDIR/pkgconfig:/usr/$LIBDIR/pkgconfig:/usr/share/pkgconfig
headers_alone() {
	local h
	for h in "$HEADERS"/*.h; do
		printf '#include <vfio-mig/%s>\n' "$(basename "$h")" >"$T/one.c"
		# shellcheck disable=SC2046
		cc -std=gnu11 -Wall -Wextra -Werror -c -o /dev/null "$T/one.c" \
			$(pkg-config --cflags vfio-mig) || { echo "$(basename "$h") does not compile alone"; return 1; }
	done
}
check "installed headers compile alone" headers_alone
check "every public function documented in its header" tests/package/doc-check.py "$HEADERS"

# The examples, copied out of the tree and built the way their Makefile says.
cp -r examples "$T/examples"
check "examples build through pkg-config, out of the tree" make -C "$T/examples"
export LD_LIBRARY_PATH=$ROOT/usr/$LIBDIR
uses_installed() { # the binary loads the installed library, not some other copy
	grep -q "libvfio-mig.so.$SOVERSION => $ROOT/usr/$LIBDIR/" <<<"$(ldd "$1")" ||
		{ ldd "$1"; return 1; }
}

migrate_local() {
	local out
	uses_installed "$T/examples/migrate-two" || return 1
	out=$(timeout 300 "$T/examples/migrate-two") || { echo "$out"; return 1; }
	echo "$out"
	[ "$(grep -c 'RUNNING, checksum [0-9a-f]* matches' <<<"$out")" -eq 2 ] &&
		grep -q '^progress: stop-copy' <<<"$out" && grep -q '^progress: done' <<<"$out"
}
check "migrate-two: two sample devices migrated, checksums equal, progress reported" migrate_local

PIDS=() # the example servers of device_server
# serve NAME SEED: an example device on $T/NAME.sock; its final line goes to $T/NAME.out.
serve() {
	"$T/examples/device-server" "$T/$1.sock" "$2" >"$T/$1.out" 2>"$T/$1.err" &
	PIDS+=($!)
	eval "PID_$1=$!"
}
wait_socket() {
	local i
	for i in $(seq 100); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	echo "no socket $1"
	return 1
}
stop() { # stop NAME...: SIGTERM; each must exit 0 within 10 s
	local n pid pid_var i
	for n in "$@"; do
		pid_var=PID_$n
		pid=${!pid_var}
		kill -TERM "$pid" || return 1
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
			echo "$n ignored SIGTERM"
			return 1
		fi
		wait "$pid" || { cat "$T/$n.err"; return 1; }
	done
}
hash_of() { sed -n 's/^memory \([0-9a-f]*\)$/\1/p' "$T/$1.out"; }
device_server() {
	local out n
	# check runs this in a subshell: the servers are stopped when it ends, however.
	trap 'kill "${PIDS[@]}" 2>/dev/null' EXIT
	uses_installed "$T/examples/device-server" || return 1
	serve s1 1 && serve s2 2 && serve d1 11 && serve d2 12 && serve fresh 11
	for n in s1 s2 d1 d2 fresh; do wait_socket "$T/$n.sock" || return 1; done
	out=$(timeout 300 "$T/examples/migrate-two" "unix:$T/s1.sock" "unix:$T/d1.sock" "unix:$T/s2.sock" \
		"unix:$T/d2.sock") || { echo "$out"; return 1; }
	echo "$out"
	stop s1 s2 d1 d2 fresh || return 1
	echo "sources $(hash_of s1) $(hash_of s2), destinations $(hash_of d1) $(hash_of d2)," \
		"seed 11 unmigrated $(hash_of fresh)"
	[ -n "$(hash_of s1)" ] && [ "$(hash_of s1)" = "$(hash_of d1)" ] &&
		[ "$(hash_of s2)" = "$(hash_of d2)" ] && [ "$(hash_of s1)" != "$(hash_of s2)" ] &&
		[ "$(hash_of fresh)" != "$(hash_of d1)" ]
}
check "device-server: two example devices migrated over vfio-user, memory equal" device_server

man_example() {
	sed -n '/^\.EX/,/^\.EE/p' doc/vfio-mig.3 | sed -e '1d;$d' -e 's/\\e/\\/g' >"$T/man.c"
	# shellcheck disable=SC2046
	cc -std=gnu11 -Wall -Wextra -Werror -o "$T/man" "$T/man.c" $(pkg-config --cflags --libs vfio-mig) &&
		grep -q 'bytes, downtime' <<<"$(timeout 300 "$T/man")"
}
check "vfio-mig(3) example builds and migrates" man_example
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR LD_LIBRARY_PATH

if [ -f "$BASELINE" ]; then
	check "ABI against the baseline ($BASELINE)" tests/package/abi.sh check "$BASELINE" "$LIB" "$SRC/include/vfio-mig"
else
	not_ok "ABI against the baseline: $BASELINE is missing (scripts/abi-baseline.sh)"
fi

# Debian packages, from a copy of the tree (dpkg-buildpackage writes into the parent).
DEB=$T/deb
mkdir -p "$DEB/vfio-mig-$VERSION"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$DEB/vfio-mig-$VERSION"
deb_build() {
	(cd "$DEB/vfio-mig-$VERSION" &&
		DEB_BUILD_OPTIONS="nocheck parallel=2" DEB_BUILD_PROFILES=nocheck \
			timeout 1800 dpkg-buildpackage -us -uc -b) >"$T/dpkg-buildpackage.log" 2>&1 ||
		{ tail -n 40 "$T/dpkg-buildpackage.log"; return 1; }
	ls "$DEB"/vfio-mig_"$VERSION"_*.deb "$DEB"/libvfio-mig${SOVERSION}_"$VERSION"_*.deb \
		"$DEB"/libvfio-mig-dev_"$VERSION"_*.deb
}
if ! command -v dpkg-checkbuilddeps >/dev/null ||
	! (cd "$DEB/vfio-mig-$VERSION" && dpkg-checkbuilddeps -Pnocheck) >"$T/builddeps" 2>&1; then
	for t in "dpkg-buildpackage" "package contents and dependencies" \
		"unpacked packages: pkg-config and an example" "lintian"; do
		skip "$t" "$(tail -n 1 "$T/builddeps")"
	done
	exit $FAILED
fi
check "dpkg-buildpackage -b (nocheck): vfio-mig, libvfio-mig$SOVERSION, libvfio-mig-dev" deb_build

# has DEB PATH...: the package holds each path.
has() {
	local deb=$1 p
	shift
	dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$T/list"
	for p in "$@"; do
		grep -qx "$p" "$T/list" || { echo "$(basename "$deb") lacks $p"; return 1; }
	done
}
deb_contents() {
	local tool lib dev ma
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	tool=$(ls "$DEB"/vfio-mig_"$VERSION"_*.deb) && lib=$(ls "$DEB"/libvfio-mig${SOVERSION}_*.deb) &&
		dev=$(ls "$DEB"/libvfio-mig-dev_*.deb) || return 1
	has "$tool" /usr/bin/vfio-mig /usr/share/man/man1/vfio-mig.1.gz \
		/usr/share/bash-completion/completions/vfio-mig &&
		has "$lib" "/usr/lib/$ma/libvfio-mig.so.$VERSION" "/usr/lib/$ma/libvfio-mig.so.$SOVERSION" &&
		has "$dev" "/usr/lib/$ma/libvfio-mig.so" "/usr/lib/$ma/libvfio-mig.a" \
			"/usr/lib/$ma/pkgconfig/vfio-mig.pc" /usr/include/vfio-mig/engine.h \
			/usr/share/man/man3/vfio-mig.3.gz \
			/usr/share/doc/libvfio-mig-dev/examples/migrate-two.c || return 1
	! grep -q '/include/\|\.pc$\|libvfio-mig\.so$' <<<"$(dpkg-deb -c "$lib")" ||
		{ echo "development files in the runtime package"; return 1; }
	grep -q 'libjson-c' <<<"$(dpkg-deb -f "$lib" Depends)" || { echo "libvfio-mig$SOVERSION: no json-c dependency"; return 1; }
	grep -q "libvfio-mig$SOVERSION (= $VERSION)" <<<"$(dpkg-deb -f "$dev" Depends)" ||
		{ echo "libvfio-mig-dev does not depend on libvfio-mig$SOVERSION (= $VERSION)"; return 1; }
	[ "$(dpkg-deb -f "$lib" Multi-Arch)" = same ] || { echo "libvfio-mig$SOVERSION is not Multi-Arch: same"; return 1; }
}
check "package contents and dependencies" deb_contents

# The three packages unpacked into a scratch root: pkg-config and an example against it.
deb_unpacked() {
	local r=$T/debroot d ma out
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	for d in "$DEB"/vfio-mig_"$VERSION"_*.deb "$DEB"/libvfio-mig${SOVERSION}_*.deb \
		"$DEB"/libvfio-mig-dev_*.deb; do
		dpkg-deb -x "$d" "$r" || return 1
	done
	export PKG_CONFIG_SYSROOT_DIR=$r PKG_CONFIG_LIBDIR=$r/usr/lib/$ma/pkgconfig:/usr/lib/$ma/pkgconfig:/usr/share/pkgconfig
	[ "$(pkg-config --modversion vfio-mig)" = "$VERSION" ] || { echo "pkg-config --modversion"; return 1; }
	grep -q -- "-L$r/usr/lib/$ma -lvfio-mig" <<<"$(pkg-config --libs vfio-mig)" || { pkg-config --libs vfio-mig; return 1; }
	mkdir -p "$T/debex" && cp "$r/usr/share/doc/libvfio-mig-dev/examples/"* "$T/debex/" &&
		make -C "$T/debex" migrate-two || return 1
	out=$(LD_LIBRARY_PATH=$r/usr/lib/$ma timeout 300 "$T/debex/migrate-two") || { echo "$out"; return 1; }
	grep -q "=> $r/usr/lib/$ma/libvfio-mig.so.$SOVERSION" <<<"$(LD_LIBRARY_PATH=$r/usr/lib/$ma ldd "$T/debex/migrate-two")" &&
		[ "$(grep -c 'matches' <<<"$out")" -eq 2 ] && "$r/usr/bin/vfio-mig" --version
}
check "unpacked packages: pkg-config, the packaged example built and run" deb_unpacked

lintian_clean() {
	lintian "$DEB"/vfio-mig_"$VERSION"_*.changes >"$T/lintian.out" 2>&1
	cat "$T/lintian.out"
	! grep -q '^E:' "$T/lintian.out"
}
check "lintian: no errors" lintian_clean
exit $FAILED
