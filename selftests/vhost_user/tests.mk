# SPDX-License-Identifier: GPL-2.0
#
# vhost-user back-end (lib/vhost_user.c): the test is the front-end over
# a socketpair, serving a virtio-net device on a TAP in its own network
# namespace.

HOST_TESTS += selftests/vhost_user/vhost_user_test
THREADED_TESTS += selftests/vhost_user/vhost_user_test
# Fails on purpose from build/fault with VDEV_FAULT=leak-ctrl-worker: its
# reconnect test sees the leaked control worker and the TAP kept busy.
XFAIL_TESTS += selftests/vhost_user/vhost_user_test
# The harness runs each test body under setjmp(); at -O1 (TSan) GCC then
# warns that locals whose address the shared front-end (vu_fe.h) takes
# might be clobbered. A failed ASSERT longjmps to the teardown, which
# never reads them, as in queue_test.
CFLAGS_vhost_user_test := -Wno-clobbered
$(B)/selftests/vhost_user/vhost_user_test: selftests/net/net_dev.h \
	selftests/net/net_test.h selftests/vq_driver.h lib/vhost_user_priv.h \
	selftests/vhost_user/vu_fe.h

# Inflight tracking: the test is the front-end of a tdev (selftests/core/
# tdev.h) served over a socketpair; its main case kills a back-end in a
# child process and resumes its in-flight chains in a new one.
HOST_TESTS += selftests/vhost_user/vhost_user_inflight_test
THREADED_TESTS += selftests/vhost_user/vhost_user_inflight_test
$(B)/selftests/vhost_user/vhost_user_inflight_test: selftests/core/tdev.h \
	selftests/vq_driver.h selftests/vdev_test.h lib/vhost_user_priv.h \
	selftests/vhost_user/vu_fe.h
