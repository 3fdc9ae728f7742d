# SPDX-License-Identifier: GPL-2.0
#
# Net selftests (TAP backend, netlink, virtio-net). Append new programs
# below, one line per list; each runs in its own network namespace.
# kselftest_harness.h 6.1 defines non-static functions without prototypes.

NET_TEST_CFLAGS := -Wno-missing-prototypes

HOST_TESTS += selftests/net/tap_test
HOST_TESTS += selftests/net/netlink_test
HOST_TESTS += selftests/net/tap_read_hold

THREADED_TESTS += selftests/net/tap_test
THREADED_TESTS += selftests/net/netlink_test

CFLAGS_tap_test := $(NET_TEST_CFLAGS)
CFLAGS_netlink_test := $(NET_TEST_CFLAGS)
CFLAGS_tap_read_hold := $(NET_TEST_CFLAGS)

# Test binaries also depend on the shared net test helpers.
$(addprefix $(B)/,$(filter selftests/net/%,$(HOST_TESTS))): \
	selftests/net/net_test.h
