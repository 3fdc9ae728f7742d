# SPDX-License-Identifier: GPL-2.0
#
# virtio-net benchmark (selftests/bench/net_bench.c), and (at the end) the
# syscall-path build of net_dev_test. The benchmark: TX and RX through
# the device against a plain write()/read() loop on a TAP fd, 64 and 1500
# byte frames and (TX) 64 KiB TSO frames, then reset + TAP reopen latency. Needs CAP_NET_ADMIN (it
# runs in its own network namespace). Informational: nothing fails on
# time. It links the selftests' helper library (TESTLIB_A, Makefile) for
# its netlink set-up.
#
#   make bench-net [NET_BENCH_FRAMES=500000] [NET_BENCH_CYCLES=1000]

NBENCH_BIN	:= build/bench/net_bench

BENCH_TARGETS	+= bench-net
.PHONY: bench-net

$(NBENCH_BIN): selftests/bench/net_bench.c selftests/net/net_dev.h \
		selftests/net/net_test.h selftests/vq_driver.h \
		selftests/lib/nl_helpers.h $(TESTLIB_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iselftests -Iselftests/net -o $@ $< \
		$(TESTLIB_A) $(LIB_A) $(LDFLAGS_V) $(NL_LIBS) -lm

bench-net: $(NBENCH_BIN)
	$(NBENCH_BIN)

# net_dev_test.c built again for the syscall-per-frame TAP path (tests.mk).
$(B)/selftests/net/net_dev_syscall_test: selftests/net/net_dev_test.c \
		selftests/net/net_dev.h selftests/net/net_test.h \
		selftests/vq_driver.h $(TESTLIB_A) $(LIB_A) $(TEST_HELPERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(KSFT_CFLAGS) -DND_IO=VDEV_NET_IO_SYSCALL -o $@ $< \
		$(TESTLIB_A) $(LIB_A) $(LDFLAGS_V) $(NL_LIBS) -lm
