# SPDX-License-Identifier: GPL-2.0
#
# KVM selftests: kselftest programs (ksft_* API) that create KVM VMs with the
# kernel's KVM selftest library, built from linux-source-6.1 into
# build/kvm/libkvm.a by selftests/kvm/extra.mk. They are built in the plain
# variant only and run by 'make kvm-tests' (part of 'make check'): directly
# when /dev/kvm can create a vCPU, otherwise inside QEMU through
# scripts/vmtest.
#
# To add a test: write selftests/kvm/<name>_test.c and append it below.
# Each test links build/libvdev.a + build/kvm/libkvm.a + libnl; a test that
# does not use vdev may say so with KVM_NOVDEV_TESTS (then it builds before
# the library exists). Per-test LDLIBS_<name> / CFLAGS_<name> work as for
# host tests.
#
#   KVM_TESTS        run, must pass (a skip fails unless VDEV_ALLOW_KVM_SKIP=1)
#   KVM_XFAIL_TESTS  built from build/fault (VARIANT=fault) and run with
#                    KVM_XFAIL_ENV in their environment: must fail with
#                    exit 1 and print every KVM_XFAIL_EXPECT signature
#   KVM_NOVDEV_TESTS subset of the above that does not link libvdev
KVM_TESTS += selftests/kvm/smoke_test
KVM_NOVDEV_TESTS += selftests/kvm/smoke_test

# vdev_kvm_attach()/detach() on a real VM fd (no vCPU); moved here from
# selftests/core/mmio_test so that the host tests need no /dev/kvm.
KVM_TESTS += selftests/kvm/kvm_attach_test
# vdev_kvm_pci_attach()/detach() and the callbacks on a real VM fd.
KVM_TESTS += selftests/kvm/kvm_pci_attach_test

# virtio-net in a KVM guest (selftests/kvm/virtio_guest.h is the guest
# driver, vnet_host.h the host side); Documentation/kvm-tests.rst. Each runs
# once per transport: selftests/kvm/<test> over virtio-mmio, and
# selftests/kvm/pci/<test>, the same source built with -DVH_TRANSPORT_PCI
# (extra.mk), over virtio-pci.
KVM_VNET_TESTS := vnet_probe_test vnet_traffic_test vnet_reset_test \
		  vnet_reboot_test vnet_hostile_test
KVM_TESTS += $(addprefix selftests/kvm/,$(KVM_VNET_TESTS))
KVM_TESTS += $(addprefix selftests/kvm/pci/,$(KVM_VNET_TESTS))
# The tests that move data, and the hostile rings, once more with the
# packed ring, over both transports: selftests/kvm/packed/<test> and
# selftests/kvm/pci/packed/<test>, the same sources built with
# -DVH_RING_PACKED (extra.mk).
KVM_PACKED_TESTS := vnet_traffic_test vnet_reboot_test vnet_hostile_test
KVM_TESTS += $(addprefix selftests/kvm/packed/,$(KVM_PACKED_TESTS))
KVM_TESTS += $(addprefix selftests/kvm/pci/packed/,$(KVM_PACKED_TESTS))
# The same reboot test from the fault build, over both transports and with
# either ring: the leaked control-queue worker (cloud-hypervisor issue
# 4868) must make it fail.
KVM_XFAIL_TESTS += selftests/kvm/vnet_reboot_test
KVM_XFAIL_TESTS += selftests/kvm/pci/vnet_reboot_test
KVM_XFAIL_TESTS += selftests/kvm/packed/vnet_reboot_test
KVM_XFAIL_TESTS += selftests/kvm/pci/packed/vnet_reboot_test
KVM_XFAIL_ENV := VDEV_FAULT=leak-ctrl-worker
KVM_XFAIL_EXPECT := $(XFAIL_EXPECT)
