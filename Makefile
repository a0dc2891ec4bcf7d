# vfio-mig: the two commands a newcomer runs are `make demo` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
STATIC_BUILD ?= build-static
MESON_OPTS ?=
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps build install demo test test-unit test-kernel bench fuzz format clean

all: build

deps:
	scripts/deps.sh build

$(BUILD)/build.ninja:
	scripts/deps.sh build
	meson setup $(BUILD) --buildtype=release -Dtests=false --prefix=$(PREFIX) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The library (shared and static), vfio-mig.pc, the headers, the tool, the man pages and
# the completion, under PREFIX (default /usr/local), staged below DESTDIR if given.
install: $(BUILD)/build.ninja
	meson configure $(BUILD) --prefix=$(PREFIX)
	ninja -C $(BUILD)
	DESTDIR="$(if $(DESTDIR),$(abspath $(DESTDIR)))" meson install -C $(BUILD) --no-rebuild

demo: build
	$(BUILD)/tools/vfio-mig/vfio-mig demo

# Every test: unit, process-level and fuzz tiers under ASan+UBSan, then the real
# kernel tier. The last line is "N passed, N failed, N skipped".
test:
	scripts/deps.sh test kernel
	scripts/run-tests.sh

test-kernel:
	scripts/deps.sh test kernel
	scripts/run-tests.sh --only kernel

bench:
	scripts/deps.sh build
	meson setup $(BUILD)-bench --buildtype=release -Dtests=false -Dbench=true --reconfigure >/dev/null 2>&1 || \
		meson setup $(BUILD)-bench --buildtype=release -Dtests=false -Dbench=true
	ninja -C $(BUILD)-bench
	bench/run.sh $(BUILD)-bench

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD)-bench $(ASAN_BUILD) $(FUZZ_BUILD) $(STATIC_BUILD)
