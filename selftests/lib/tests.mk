# SPDX-License-Identifier: GPL-2.0
#
# The selftests' own helper library (selftests/lib/*.c but the *_test.c
# programs, built into TESTLIB_A by the Makefile) and the tests of its
# helpers. Each test runs in its own network namespace.

HOST_TESTS += selftests/lib/nl_helpers_test
$(B)/selftests/lib/nl_helpers_test: selftests/net/net_test.h
