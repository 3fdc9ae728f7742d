# SPDX-License-Identifier: GPL-2.0
#
# tools/vhost-user-net (vdev-vhost-user-net, Documentation/vhost-user-qemu.rst).
#
# On the host, no front-end: its answers to bad input
# (selftests/vhost_user/vhost_user_net_args_test.sh), in every variant.
# The script is installed next to the variant's build of the tool, which
# it runs: $(B)/tools/vdev-vhost-user-net. (Here and not in tests.mk,
# which is lib/vhost_user.c's: this fragment is read after the 'tests'
# rule, hence the prerequisite added to it.)
HOST_TESTS += selftests/vhost_user/vhost_user_net_args_test
# The tool takes its signals on a thread of its own.
THREADED_TESTS += selftests/vhost_user/vhost_user_net_args_test
tests: $(B)/selftests/vhost_user/vhost_user_net_args_test

$(B)/selftests/vhost_user/vhost_user_net_args_test: selftests/vhost_user/vhost_user_net_args_test.sh $(B)/tools/vdev-vhost-user-net
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

# Debian's Linux on Debian's QEMU with TCG, on the host (no /dev/kvm, no
# scripts/vmtest), its virtio-net served by vdev-vhost-user-net
# (selftests/vhost_user/vhost_user_qemu_test.sh: split with VDEV_REBOOTS
# reboots, packed, two queue pairs, client mode, QEMU killed and started
# again), then the restart case on the fault build's tool as an expected
# failure (VDEV_FAULT=leak-ctrl-worker): the control worker of each
# connection's device is left unjoined, its fds stay open, and the
# back-end's fds with no device grow from one connection to the next.
# Not XFAIL_EXPECT's EBUSY: QEMU keeps virtio-net's control queue to
# itself (vhost-user gets the data rings only), so that worker owns no
# dup of the TAP fds (lib/net.c, net_ctrl_own_tap_fds()) and the TAP is
# free again at the reopen; the fault's own line is the other signature.
#
#   make vhost-user-tests    the suite 'vhost-user' of make check
#   make bench-vhost-user    part of 'make bench'
VU_TEST		:= selftests/vhost_user/vhost_user_qemu_test.sh
# run-selftests' per-program limit: 3 to 15 s per TCG boot here (the
# split case's reboots + 1, 9 more boots) and a wide margin.
VU_TEST_TIMEOUT = $(shell echo $$(( $(or $(VDEV_REBOOTS),10) * 40 + 600 )))
VU_XFAIL_ENV	:= VDEV_VU_TOOL=build/fault/tools/vdev-vhost-user-net \
		   VDEV_VU_CASES=restart $(XFAIL_ENV)
VU_XFAIL_EXPECT	:= --xfail-expect 'vdev-regression: leaked fds' \
		   --xfail-expect 'FAULT leak-ctrl-worker: not joined'
VU_RUN_ARGS	= --build . --name vhost-user $(VU_TEST) --xfail-build . \
		  $(addprefix --xfail-env ,$(VU_XFAIL_ENV)) $(VU_XFAIL_EXPECT) \
		  $(VU_TEST)

.PHONY: vhost-user-build vhost-user-tests bench-vhost-user
vhost-user-build: deps
	$(MAKE) VARIANT=plain vhost-user-net
	$(MAKE) VARIANT=fault vhost-user-net

vhost-user-tests: vhost-user-build
	VDEV_TEST_TIMEOUT=$(VU_TEST_TIMEOUT) scripts/run-selftests $(VU_RUN_ARGS)

BENCH_TARGETS	+= bench-vhost-user
bench-vhost-user: deps
	$(MAKE) VARIANT=plain vhost-user-net
	selftests/vhost_user/vhost_user_bench.sh
