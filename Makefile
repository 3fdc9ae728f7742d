# SPDX-License-Identifier: GPL-2.0
#
# vdev: device-side virtio library.
#
#   make            libvdev.a, libvdev.so.0 and vdev.pc in build/
#   make check      set-up, build, lint, selftests (plain, ASan+UBSan, TSan),
#                   fuzz for a bounded time, KVM selftests (through
#                   scripts/vmtest when /dev/kvm is not usable); every step
#                   runs, and one line "make check: N passed, N failed
#                   (...)" sums them up (scripts/check)
#   make run        the main job: Debian's Linux on vdev-vmm (tools/vmm),
#                   traffic on its virtio-net TAP, rebooted through the guest
#   make bench      benchmarks, printed as ratios against a baseline
#   make lint       checkpatch.pl --no-tree on the C files, sparse on lib/*.c,
#                   kernel-doc
#   make install    PREFIX=/usr/local DESTDIR=
#
# VARIANT selects a build flavour, each in its own folder:
#   plain (build/), asan (build/asan), tsan (build/tsan),
#   fault (build/fault: test-only fault switches compiled in).

VERSION		:= 0.1.0
SOVERSION	:= 0
PREFIX		?= /usr/local
LIBDIR		?= $(PREFIX)/lib
INCDIR		?= $(PREFIX)/include
DESTDIR		?=

CACHE		:= $(CURDIR)/.cache
KSRC		:= $(CACHE)/linux-source-6.1
KSFT		:= $(KSRC)/tools/testing/selftests

VARIANT		?= plain
ifeq ($(VARIANT),plain)
B		:= build
else
B		:= build/$(VARIANT)
endif

# Make's built-in default is cc; gcc unless the user chose a compiler.
ifeq ($(origin CC),default)
CC		:= gcc
endif
CFLAGS_BASE	:= -std=gnu11 -g -Wall -Wextra -Werror -Wno-unused-parameter \
		   -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
		   -Wpointer-arith -Wvla -fno-strict-aliasing -fno-common \
		   -D_GNU_SOURCE -pthread -Iinclude -Ilib
# What libvdev links: libnl (lib/tap.c, lib/netlink.c) and liburing
# (lib/net_uring.c); also in vdev.pc (Requires.private, Libs.private).
DEP_PKGS	:= libnl-3.0 libnl-route-3.0 liburing
NL_CFLAGS	:= $(shell pkg-config --cflags $(DEP_PKGS) 2>/dev/null)
NL_LIBS		:= $(shell pkg-config --libs $(DEP_PKGS) 2>/dev/null)

ifeq ($(VARIANT),plain)
VFLAGS		:= -O2
else ifeq ($(VARIANT),asan)
VFLAGS		:= -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
		   -fno-sanitize-recover=all
else ifeq ($(VARIANT),tsan)
VFLAGS		:= -O1 -fno-omit-frame-pointer -fsanitize=thread -Wno-tsan
else ifeq ($(VARIANT),fault)
VFLAGS		:= -O2 -DVDEV_FAULT_INJECTION
else
$(error unknown VARIANT=$(VARIANT))
endif

ALL_CFLAGS	= $(CFLAGS_BASE) $(VFLAGS) $(NL_CFLAGS) $(CFLAGS)
LDFLAGS_V	= $(filter -fsanitize=%,$(VFLAGS)) -pthread

include Kbuild
LIB_OBJS	:= $(addprefix $(B)/lib/,$(vdev-y))
LIB_A		:= $(B)/libvdev.a
LIB_SO		:= $(B)/libvdev.so.$(SOVERSION)

.PHONY: all lib check run bench lint install deps tests fuzz vmtest clean \
	kvm-tests check-plain check-xfail check-xfail-uring check-asan \
	check-tsan
all: lib $(B)/vdev.pc

lib: $(LIB_A) $(LIB_SO)

$(B)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS) lib/libvdev.map
	$(CC) -shared -Wl,-soname,libvdev.so.$(SOVERSION) \
		-Wl,--version-script=lib/libvdev.map -Wl,--no-undefined \
		$(LDFLAGS_V) -o $@ $(LIB_OBJS) $(NL_LIBS) -lm
	ln -sf libvdev.so.$(SOVERSION) $(B)/libvdev.so

PC_SED		= sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		      -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|'

$(B)/vdev.pc: scripts/vdev.pc.in Makefile
	@mkdir -p $(dir $@)
	$(PC_SED) $< > $@

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/vdev
	install -m 0644 include/vdev/*.h $(DESTDIR)$(INCDIR)/vdev/
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libvdev.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libvdev.so
	$(PC_SED) scripts/vdev.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vdev.pc

# ---------------------------------------------------------------------------
# Selftests. Each selftests/<dir>/tests.mk appends to:
#   HOST_TESTS      programs run in every variant (paths without .c)
#   THREADED_TESTS  the subset also run under TSan
#   XFAIL_TESTS     programs run from the fault build, which must fail
#   XFAIL_URING_TESTS  the same, with the io_uring cancel/reap path broken
#   KVM_TESTS       programs run by scripts/vmtest (or directly on /dev/kvm)
# and may set target-specific LDLIBS_<name> / CFLAGS_<name>.
# ---------------------------------------------------------------------------
HOST_TESTS	:=
THREADED_TESTS	:=
XFAIL_TESTS	:=
XFAIL_URING_TESTS :=
KVM_TESTS	:=
TEST_HELPERS	:= selftests/vdev_test.h selftests/lib/nl_helpers.h
# The fault build's switch for the TAP reopen regression (lib/worker.c).
XFAIL_ENV	:= VDEV_FAULT=leak-ctrl-worker
# What an expected failure must print to count as caught: the signatures
# of the reopen regression (run-selftests --xfail-expect, grep -E, every
# one must match), as shell-quoted arguments.
XFAIL_EXPECT	:= --xfail-expect 'vdev-regression: EBUSY reopening TAP' \
		   --xfail-expect 'vdev-regression: leaked fds'
# The fault build's switch that closes an io_uring ring without its
# cancel and reap (lib/net_uring.c): the TAP stays attached, no fd leaks.
XFAIL_URING_ENV	:= VDEV_FAULT=skip-uring-cancel
XFAIL_URING_EXPECT := --xfail-expect 'vdev-regression: EBUSY reopening TAP' \
		   --xfail-expect 'FAULT skip-uring-cancel'
include $(sort $(wildcard selftests/*/tests.mk))

KSFT_CFLAGS	:= -I$(KSFT) -Iselftests -Wno-sign-compare -Wno-missing-prototypes
TEST_BINS	= $(addprefix $(B)/,$(HOST_TESTS))

# The selftests' own helper library: test-only code on libvdev's public
# API (the netlink helpers, selftests/lib/nl_helpers.h), never installed.
# The selftests, the benchmarks and tools/ link it ahead of libvdev.a.
TESTLIB_SRCS	:= selftests/lib/nl_helpers.c
TESTLIB_OBJS	:= $(patsubst %.c,$(B)/%.o,$(TESTLIB_SRCS))
TESTLIB_A	:= $(B)/selftests/lib/libvdev-test.a

$(B)/selftests/lib/%.o: selftests/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(TESTLIB_A): $(TESTLIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

-include $(TESTLIB_OBJS:.o=.d)

$(B)/selftests/%: selftests/%.c $(TESTLIB_A) $(LIB_A) $(TEST_HELPERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(KSFT_CFLAGS) $(CFLAGS_$(notdir $*)) -o $@ $< \
		$(TESTLIB_A) $(LIB_A) $(LDFLAGS_V) $(LDLIBS_$(notdir $*)) \
		$(NL_LIBS) -lm

tests: $(TEST_BINS)

deps:
	@scripts/setup-deps

# scripts/check runs the steps (deps, the builds of every variant, each a
# separate make run so that the objects never mix, lint, the install test,
# the runner's self-test, the suites below, fuzz-check, kvm-tests), goes on
# after a failure and ends with the summary line.
check:
	@MAKE='$(MAKE)' scripts/check

# The selftest suites of 'make check', on what the builds left in build/.
check-plain:
	scripts/run-selftests --build build --name plain $(HOST_TESTS)
check-xfail:
	scripts/run-selftests --name xfail --xfail-build build/fault \
		$(addprefix --xfail-env ,$(XFAIL_ENV)) $(XFAIL_EXPECT) \
		$(XFAIL_TESTS)
check-xfail-uring:
	scripts/run-selftests --name xfail-uring --xfail-build build/fault \
		$(addprefix --xfail-env ,$(XFAIL_URING_ENV)) \
		$(XFAIL_URING_EXPECT) $(XFAIL_URING_TESTS)
check-asan:
	scripts/run-selftests --build build/asan --name asan $(HOST_TESTS)
check-tsan:
	scripts/run-selftests --build build/tsan --name tsan $(THREADED_TESTS)

lint: deps
	scripts/lint

clean:
	rm -rf build

# Fragments with their own targets (fuzz, bench, kvm, run) append to:
#   BENCH_TARGETS  run by 'make bench'
-include $(sort $(wildcard selftests/*/extra.mk))
# Programs built on libvdev (tools/vmm: vdev-vmm).
-include $(sort $(wildcard tools/*.mk))

bench: deps $(BENCH_TARGETS)

-include $(LIB_OBJS:.o=.d)
