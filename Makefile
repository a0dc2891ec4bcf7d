# vfio-mig: the two commands a newcomer runs are `make demo` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
STATIC_BUILD ?= build-static
MESON_OPTS ?=

.PHONY: all deps build demo test test-unit test-kernel bench fuzz format clean

all: build

deps:
	scripts/deps.sh build

$(BUILD)/build.ninja:
	scripts/deps.sh build
	meson setup $(BUILD) --buildtype=release -Dtests=false $(MESON_OPTS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

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
