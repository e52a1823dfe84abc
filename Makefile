# Entry points. Each target installs what it needs (Debian packages) and builds first.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_TEST_ARGS ?= --print-errorlogs
PYTEST ?= /usr/bin/python3 -m pytest
FUZZ_SECONDS ?= 20

.PHONY: format all deps build build-asan check check-unit check-functional check-asan \
        demo bench guest guest-asan clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	@scripts/install-deps
	meson setup $(BUILD) --buildtype=debugoptimized >/dev/null

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	CC=clang meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dfuzzing=true >/dev/null

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# The test guest (tests/guest/build-guest): Debian's kernel and busybox, cached in each build
# tree's guest/ (test-linux-boot reads the one of its own tree).
guest: deps
	tests/guest/build-guest $(BUILD)/guest

guest-asan: deps
	tests/guest/build-guest $(ASAN_BUILD)/guest

# The guest first, so that test-linux-boot finds its kernel; one that cannot be built (no
# network, nothing cached) fails that test, not the others.
check-unit: build
	-@$(MAKE) --no-print-directory guest
	meson test -C $(BUILD) $(MESON_TEST_ARGS)

# A guest that cannot be built (no network, nothing cached) fails its own tests, not the others.
check-functional: build
	-@$(MAKE) --no-print-directory guest
	$(PYTEST) -q -p no:cacheprovider --junitxml=$(BUILD)/functional.xml tests/functional

# Unit tests under ASan/UBSan, and every fuzz target for a bounded time (FUZZ_SECONDS each).
check-asan: build-asan
	-@$(MAKE) --no-print-directory guest-asan
	FUZZ_SECONDS=$(FUZZ_SECONDS) meson test -C $(ASAN_BUILD) $(MESON_TEST_ARGS) \
	    --suite unit --suite fuzz

# Runs every suite even when one fails, then prints the summary line and fails if anything did.
check: build build-asan
	@rc=0; \
	$(MAKE) --no-print-directory check-unit || rc=1; \
	$(MAKE) --no-print-directory check-functional || rc=1; \
	$(MAKE) --no-print-directory check-asan || rc=1; \
	/usr/bin/python3 scripts/test-summary.py $(BUILD) $(ASAN_BUILD) || rc=1; \
	exit $$rc

demo: build guest
	/usr/bin/python3 scripts/demo.py

bench: build guest
	@for b in bench/*/run; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Re-formats every C source and header of the tree with .clang-format.
format:
	git ls-files '*.c' '*.h' | xargs clang-format -i
