# SPDX-License-Identifier: GPL-2.0-or-later
#
# VDI host: QEMU 10.0.x with our series.  ./configure runs by itself the
# first time; see README.md.

-include config.mak

.DEFAULT_GOAL := all
.PHONY: all check run series tree guest clean distclean fuzz bench install

config.mak: configure scripts/qemu-releases scripts/debian-packages
	./configure

# The patched QEMU tree (build/qemu), without building it
tree: config.mak
	scripts/series assemble

all: config.mak
	scripts/build-qemu

# Our tests and the QEMU tests that cover what we touch; the last line
# of the output is "N passed, N failed"
check: config.mak
	scripts/run-tests

# Boot the demo desktop VM and print how to connect to it
run: config.mak
	scripts/build-qemu
	scripts/run-demo

guest: config.mak
	scripts/build-guest

# QEMU, its data files, the QMP tools and the demo guest under PREFIX
# (staged under DESTDIR), for a libvirt domain's <emulator>; see
# scripts/install
PREFIX ?= /opt/vdi-host
install: config.mak
	scripts/build-qemu qemu-system-x86_64 qemu-img
	scripts/install --prefix="$(PREFIX)" --destdir="$(DESTDIR)"

# The whole change as a numbered series against pristine QEMU, checked
# with QEMU's checkpatch.pl
series: config.mak
	scripts/series export

clean:
	rm -rf build/qemu/build build/series build/run build/tests

distclean:
	rm -rf build config.mak

# The libFuzzer targets, each run for FUZZ_SECONDS
FUZZ_SECONDS ?= 60
fuzz: config.mak
	scripts/build-qemu
	scripts/fuzz --seconds $(FUZZ_SECONDS)

# Benchmarks; they print ratios against baselines measured in the same run
BENCH_DIR = $(QEMU_TREE)/build/tests/qtest
# frames per workload and encoder configuration in vdi-display-bench
VDI_BENCH_FRAMES ?= 30
bench: config.mak
	scripts/build-qemu qemu-system-x86_64 tests/qtest/firewall-bench \
		tests/qtest/firewall-e2e-bench tests/qtest/vdi-enc-bench \
		tests/qtest/vdi-usbredir-msd tests/qtest/vdi-bot-filter-bench \
		tests/qtest/vdi-display-bench tests/qtest/vdi-enc-h264-bench \
		tests/qtest/vdi-luks-bench
	$(BENCH_DIR)/firewall-bench
	QTEST_QEMU_BINARY=$(QEMU_TREE)/build/qemu-system-x86_64 \
		$(BENCH_DIR)/firewall-e2e-bench 2>/dev/null | grep -v '^#'
	$(BENCH_DIR)/vdi-enc-bench
	QTEST_QEMU_BINARY=$(QEMU_TREE)/build/qemu-system-x86_64 \
		$(BENCH_DIR)/vdi-display-bench -n $(VDI_BENCH_FRAMES) \
		-r "$$(scripts/real-content)" 2>/dev/null | grep -v '^#'
	$(BENCH_DIR)/vdi-enc-h264-bench -r "$$(scripts/real-content)"
	$(BENCH_DIR)/vdi-bot-filter-bench
	scripts/bench-usb-storage
	$(BENCH_DIR)/vdi-luks-bench
