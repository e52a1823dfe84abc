# Entry points. Each target installs what it needs (Debian packages) and builds first.
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_TEST_ARGS ?= --print-errorlogs
PYTEST ?= /usr/bin/python3 -m pytest
FUZZ_SECONDS ?= 10
# Functional test files run this many at a time (pytest-xdist workers, one file per worker so
# that a module's guest boots once): one per core, at most 4; 0 runs them one by one in pytest's
# own process.
FUNCTIONAL_JOBS ?= $(shell n=$$(nproc); [ $$n -gt 4 ] && n=4; echo $$n)
# Functional tests marked `long` (make demo's Debian-image part: 8-12 minutes on a loaded host,
# over CI's budget for one test) run only with LONG_TESTS=1.
LONG_TESTS ?= 0
FUNCTIONAL_MARKS = $(if $(filter 1,$(LONG_TESTS)),,-m "not long")

.PHONY: format all deps build build-asan check check-unit check-functional check-asan \
        demo bench guest guest-asan debian-image clean

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

# The Debian 12 disk image (tests/guest/build-debian-image: mmdebstrap, GRUB, ext4, qcow2),
# cached in build/debian-image; test_debian_image.py builds it too when it is missing.
debian-image: deps
	tests/guest/build-debian-image $(BUILD)/debian-image

# The sanitizer tree's guest starts as a copy of build/'s when that one exists: build-guest's
# stamp then finds it up to date, or rebuilds it from the copied .debs, without downloading the
# kernel a second time. The large files are hard links (build-guest only ever replaces them,
# never rewrites them); the stamp and the memo are rewritten in place, so they are copies.
guest-asan: deps
	@src=$(BUILD)/guest; dst=$(ASAN_BUILD)/guest; \
	if [ -f $$src/stamp ] && [ ! -e $$dst/stamp ]; then \
	    mkdir -p $$dst/debs && \
	    for f in vmlinux vmlinuz initrd.img guest.json $$(cd $$src && ls debs/*.deb 2>/dev/null); do \
	        ln -f $$src/$$f $$dst/$$f 2>/dev/null || cp -p $$src/$$f $$dst/$$f; \
	    done; \
	    cp -p $$src/apt-resolution.json $$dst/ 2>/dev/null; \
	    cp -p $$src/stamp $$dst/stamp; \
	fi
	tests/guest/build-guest $(ASAN_BUILD)/guest

# The guest first, so that test-linux-boot finds its kernel; one that cannot be built (no
# network, nothing cached) fails that test, not the others.
check-unit: build
	-@$(MAKE) --no-print-directory guest
	meson test -C $(BUILD) $(MESON_TEST_ARGS)

# A guest or disk image that cannot be built (no network, nothing cached) fails its own tests,
# not the others.
# Files are spread over FUNCTIONAL_JOBS workers whole (--dist loadfile); the slowest tests are
# listed at the end, to show where the time goes. Our guests run on the translator (the
# default); then INTERPRETER_TESTS run again with QEMU_COLO_JIT=0 (-accel tcg,jit=off), the
# reference the translator is checked against, kept short for CI's budget (docs/cpu.md), with
# twice the time to the guest's ready marker (a loaded host has taken 94 s to boot it so).
F := tests/functional
INTERPRETER_TESTS ?= "$(F)/test_cpu_boot.py::test_kernel_reaches_ready_marker[vmlinux]" \
    "$(F)/test_guest.py::test_boots_to_ready_marker_with_network_configured[qemu-colo]" \
    "$(F)/test_guest.py::test_http_serves_a_megabyte[qemu-colo]" \
    "$(F)/test_guest.py::test_stop_cont_during_a_tcp_stream_loses_no_byte[qemu-colo]" \
    "$(F)/test_migration.py::test_guest_moves_there_and_back[unix]" \
    $(F)/test_colo.py::test_checkpoints_keep_memory_equal
check-functional: build
	-@$(MAKE) -k --no-print-directory guest debian-image
	@rc=0; \
	$(PYTEST) -q -p no:cacheprovider -n $(FUNCTIONAL_JOBS) --dist loadfile --durations=15 \
	    --junitxml=$(BUILD)/functional.xml $(FUNCTIONAL_MARKS) $(F) || rc=1; \
	QEMU_COLO_JIT=0 QC_GUEST_TIMEOUT=180 $(PYTEST) -q -p no:cacheprovider -n $(FUNCTIONAL_JOBS) --dist loadfile \
	    --junitxml=$(BUILD)/functional-interpreter.xml $(INTERPRETER_TESTS) || rc=1; \
	exit $$rc

# Unit tests under ASan/UBSan, and every fuzz target for a bounded time (FUZZ_SECONDS each).
check-asan: build-asan
	-@$(MAKE) --no-print-directory guest-asan
	FUZZ_SECONDS=$(FUZZ_SECONDS) meson test -C $(ASAN_BUILD) $(MESON_TEST_ARGS) \
	    --suite unit --suite fuzz

# Runs every suite even when one fails, then prints the summary line and fails if anything did.
# The Debian disk image (minutes of downloads and unpacking, little CPU) is built in the
# background while the unit, sanitizer and fuzz suites run; the functional tests need it.
check: build build-asan
	@rc=0; \
	$(MAKE) --no-print-directory debian-image > $(BUILD)/debian-image.log 2>&1 & img=$$!; \
	$(MAKE) --no-print-directory check-unit || rc=1; \
	$(MAKE) --no-print-directory check-asan || rc=1; \
	wait $$img || { echo "make debian-image failed:"; tail -n 30 $(BUILD)/debian-image.log; }; \
	$(MAKE) --no-print-directory check-functional || rc=1; \
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
