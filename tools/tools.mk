# SPDX-License-Identifier: GPL-2.0
#
# tools/: programs built on libvdev. 'make run' (selftests/vmm/extra.mk,
# scripts/vmm-run) boots Debian's Linux on tools/vmm's vdev-vmm.

# tools/common/: what the tools share (tool.h), linked into each.
TOOL_SRCS	:= $(sort $(wildcard tools/common/*.c))
TOOL_OBJS	:= $(patsubst %.c,$(B)/%.o,$(TOOL_SRCS))
TOOL_CFLAGS	:= -Itools/common

$(B)/tools/common/%.o: tools/common/%.c tools/common/tool.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TOOL_CFLAGS) -MMD -MP -c -o $@ $<

-include $(TOOL_OBJS:.o=.d)

# vdev-vmm (tools/vmm/, Documentation/vmm.rst): a VMM on libvdev and the
# KVM uapi only, booting Linux on vdev's virtio-net over virtio-pci.
# Built in every variant (build/tools/vdev-vmm, build/asan/tools/...):
# selftests/vmm/ runs its error paths on the host.
VMM		:= $(B)/tools/vdev-vmm
VMM_SRCS	:= $(sort $(wildcard tools/vmm/*.c))
VMM_OBJS	:= $(patsubst %.c,$(B)/%.o,$(VMM_SRCS))

$(B)/tools/vmm/%.o: tools/vmm/%.c tools/vmm/vmm.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TOOL_CFLAGS) -MMD -MP -c -o $@ $<

$(VMM): $(VMM_OBJS) $(TOOL_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(VMM_OBJS) $(TOOL_OBJS) $(LIB_A) $(LDFLAGS_V) $(NL_LIBS) -lm

.PHONY: vmm tools
vmm: $(VMM)
tools: $(VMM)

-include $(VMM_OBJS:.o=.d)

# vdev-vhost-user-net (tools/vhost-user-net/, Documentation/vhost-user-qemu.rst):
# vdev's virtio-net on a TAP served to a vhost-user front-end (QEMU).
# Built in every variant like vdev-vmm: selftests/vhost_user/ runs its
# error paths on the host and its QEMU tests.
VUNET		:= $(B)/tools/vdev-vhost-user-net
VUNET_SRCS	:= $(sort $(wildcard tools/vhost-user-net/*.c))
VUNET_OBJS	:= $(patsubst %.c,$(B)/%.o,$(VUNET_SRCS))

$(B)/tools/vhost-user-net/%.o: tools/vhost-user-net/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TOOL_CFLAGS) -MMD -MP -c -o $@ $<

$(VUNET): $(VUNET_OBJS) $(TOOL_OBJS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(VUNET_OBJS) $(TOOL_OBJS) $(LIB_A) $(LDFLAGS_V) $(NL_LIBS) -lm

.PHONY: vhost-user-net
vhost-user-net: $(VUNET)
tools: $(VUNET)

-include $(VUNET_OBJS:.o=.d)
