# SPDX-License-Identifier: GPL-2.0-or-later
#
# VDI host: QEMU 10.0.x with our series.  ./configure runs by itself the
# first time; see README.md.

-include config.mak

.DEFAULT_GOAL := all
.PHONY: all check run series tree guest clean distclean

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

# The whole change as a numbered series against pristine QEMU, checked
# with QEMU's checkpatch.pl
series: config.mak
	scripts/series export

clean:
	rm -rf build/qemu/build build/series build/run build/tests

distclean:
	rm -rf build config.mak
