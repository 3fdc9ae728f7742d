# SPDX-License-Identifier: GPL-2.0
#
# Net selftests (TAP backend, netlink, virtio-net). Append new programs
# below, one line per list; each test runs in its own network namespace.

HOST_TESTS += selftests/net/tap_test
HOST_TESTS += selftests/net/netlink_test
HOST_TESTS += selftests/net/tap_read_hold

THREADED_TESTS += selftests/net/tap_test
THREADED_TESTS += selftests/net/netlink_test
# Not tap_read_hold: it close()s an fd under a blocked read() on purpose,
# which TSan rightly reports as a race.

# Every net test binary also depends on the shared net test helpers.
$(addprefix $(B)/,$(filter selftests/net/%,$(HOST_TESTS))): \
	selftests/net/net_test.h

# virtio-net device (lib/net.c): net_dev_test on the io_uring TAP path,
# net_dev_syscall_test the same source on the syscall-per-frame path.
HOST_TESTS += selftests/net/net_dev_test
THREADED_TESTS += selftests/net/net_dev_test
$(B)/selftests/net/net_dev_test: selftests/net/net_dev.h selftests/vq_driver.h
HOST_TESTS += selftests/net/net_dev_syscall_test
THREADED_TESTS += selftests/net/net_dev_syscall_test
# (its build rule is in selftests/net/extra.mk: it has no .c of its own)
HOST_TESTS += selftests/net/net_reopen_test
THREADED_TESTS += selftests/net/net_reopen_test
# Fails on purpose from build/fault with VDEV_FAULT=leak-ctrl-worker (every
# variant), and with VDEV_FAULT=skip-uring-cancel (its io_uring variants).
XFAIL_TESTS += selftests/net/net_reopen_test
XFAIL_URING_TESTS += selftests/net/net_reopen_test
$(B)/selftests/net/net_reopen_test: selftests/net/net_dev.h selftests/vq_driver.h
