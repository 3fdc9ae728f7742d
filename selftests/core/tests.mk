# SPDX-License-Identifier: GPL-2.0
HOST_TESTS += selftests/core/device_test
THREADED_TESTS += selftests/core/device_test
HOST_TESTS += selftests/core/queue_test
TEST_HELPERS += selftests/vq_driver.h
TEST_HELPERS += selftests/core/tdev.h
CFLAGS_queue_test := -Wno-missing-prototypes -Wno-clobbered
HOST_TESTS += selftests/core/mmio_test
THREADED_TESTS += selftests/core/mmio_test
THREADED_TESTS += selftests/core/queue_test
HOST_TESTS += selftests/core/mem_test
THREADED_TESTS += selftests/core/mem_test
HOST_TESTS += selftests/core/pci_test
THREADED_TESTS += selftests/core/pci_test
