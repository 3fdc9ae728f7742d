# SPDX-License-Identifier: GPL-2.0
#
# tools/: programs built on libvdev.
#
#   make run    the main job: tools/vdev-demo, a KVM VM with virtio-net on
#               a TAP bridged to a peer namespace, rebooted 20 times
#               (VDEV_DEMO_REBOOTS), then a table. Runs through
#               scripts/vmtest: directly when /dev/kvm can run the KVM
#               selftest library's guests, otherwise inside QEMU TCG.
#
# vdev-demo is guest code plus host code like a KVM selftest, so it builds
# with the KVM test flags of selftests/kvm/extra.mk (no PIE, libkvm.a);
# it links the selftests' helper library (libvdev-test.a, Makefile) for
# the bridge and veth it builds.

DEMO		:= build/tools/vdev-demo
DEMO_DEPS	:= selftests/kvm/virtio_guest.h selftests/kvm/vnet_host.h \
		   $(TEST_HELPERS)

$(DEMO): tools/vdev-demo.c $(DEMO_DEPS) build/selftests/lib/libvdev-test.a \
		build/libvdev.a $(LIBKVM_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(KVM_TEST_CFLAGS) -Iselftests/kvm -o $@ $< \
		build/selftests/lib/libvdev-test.a build/libvdev.a $(LIBKVM_A) \
		$(LDFLAGS_V) -no-pie $(NL_LIBS) -ldl -lm

.PHONY: demo
demo: $(DEMO)

# The binary runs from a tmpfs copy: the KVM library re-reads its own ELF
# at every VM creation, which is slow over the VM runner's 9p share.
run: deps
	$(MAKE) VARIANT=plain lib build/selftests/kvm/smoke_test $(DEMO)
	scripts/vmtest --cmd 'd=$$(mktemp -d) && cp $(DEMO) $$d/ && $$d/vdev-demo'

# vdev-vmm (tools/vmm/, Documentation/vmm.rst): a VMM on libvdev and the
# KVM uapi only, booting Linux on vdev's virtio-net over virtio-pci.
# Built in every variant (build/tools/vdev-vmm, build/asan/tools/...):
# selftests/vmm/ runs its error paths on the host.
VMM		:= $(B)/tools/vdev-vmm
VMM_SRCS	:= $(sort $(wildcard tools/vmm/*.c))
VMM_OBJS	:= $(patsubst %.c,$(B)/%.o,$(VMM_SRCS))

$(B)/tools/vmm/%.o: tools/vmm/%.c tools/vmm/vmm.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(VMM): $(VMM_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(VMM_OBJS) $(LIB_A) $(LDFLAGS_V) $(NL_LIBS) -lm

.PHONY: vmm tools
vmm: $(VMM)
tools: $(VMM)

-include $(VMM_OBJS:.o=.d)
