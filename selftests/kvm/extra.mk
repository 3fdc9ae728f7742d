# SPDX-License-Identifier: GPL-2.0
#
# KVM selftests: the kernel's KVM selftest library, the KVM test programs
# listed in KVM_TESTS (selftests/kvm/tests.mk), and the targets that run them.
#
#   make kvm-tests    build, then run them: directly when /dev/kvm can create
#                     a vCPU, otherwise inside QEMU (scripts/vmtest)
#   make vmtest       the same, always inside QEMU
#   make vmtest VMTEST_CMD='cmd args'
#                     run one command inside the QEMU guest instead
#   make kvm-bins     only build the KVM tests (and build/kvm/libkvm.a)
#
# Knobs: VDEV_ALLOW_KVM_SKIP=1 (a skipping KVM test does not fail),
# VDEV_VMTEST_TIMEOUT (host watchdog, seconds, default 1200),
# VDEV_TEST_TIMEOUT (per test, default 600); see scripts/vmtest --help.

KVM_SELFTESTS	:= $(KSFT)/kvm
KVM_TOOLS	:= $(KSRC)/tools
KVM_OUT		:= build/kvm
LIBKVM_A	:= $(KVM_OUT)/libkvm.a

# The 6.1 kvm Makefile's LIBKVM and LIBKVM_x86_64 lists, then LIBKVM_STRING.
LIBKVM_SRCS	:= assert.c elf.c guest_modes.c io.c kvm_util.c \
		   perf_test_util.c rbtree.c sparsebit.c test_util.c \
		   x86_64/apic.c x86_64/handlers.S x86_64/perf_test_util.c \
		   x86_64/processor.c x86_64/svm.c x86_64/ucall.c x86_64/vmx.c \
		   string_override.c
LIBKVM_OBJS	:= $(addprefix $(KVM_OUT)/lib/, \
		   $(patsubst %.S,%.o,$(LIBKVM_SRCS:.c=.o)))

# Built against Debian's linux-libc-dev uapi headers (no headers_install).
# Guest code runs at the ELF link addresses: no PIE, no stack protector,
# no fortify wrappers.
KVM_INCLUDES	:= $(KVM_TOOLS)/include $(KVM_TOOLS)/arch/x86/include \
		   $(KVM_SELFTESTS)/include $(KVM_SELFTESTS)/include/x86_64
KVM_CODEGEN	:= -fno-PIE -fno-stack-protector -U_FORTIFY_SOURCE
LIBKVM_CFLAGS	:= -O2 -g -std=gnu99 -Wall -Wstrict-prototypes -Wuninitialized \
		   $(KVM_CODEGEN) $(addprefix -I,$(KVM_INCLUDES)) -I$(KSFT)

$(KVM_OUT)/lib/%.o: $(KVM_SELFTESTS)/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIBKVM_CFLAGS) -I$(<D) $(LIBKVM_FLAGS_$(notdir $*)) \
		-MMD -MP -c -o $@ $<

$(KVM_OUT)/lib/%.o: $(KVM_SELFTESTS)/lib/%.S
	@mkdir -p $(dir $@)
	$(CC) $(LIBKVM_CFLAGS) -I$(<D) -c -o $@ $<

# As in the kvm Makefile: without it the compiler may turn memcmp() into a
# call to memcmp() (infinite recursion in guest code).
LIBKVM_FLAGS_string_override := -ffreestanding

$(LIBKVM_A): $(LIBKVM_OBJS)
	@rm -f $@
	ar rcs $@ $^

-include $(LIBKVM_OBJS:.o=.d)

# KVM test programs, on libvdev and the selftests' helper library
# (TESTLIB_A, Makefile). The KVM library's headers come in with -isystem so
# that the project's warning flags apply to the test code only. Tests are
# built for VARIANT=plain (and fault, for KVM_XFAIL_TESTS) only: sanitizer
# instrumentation would also land in guest code.
KVM_TEST_CFLAGS	:= $(KVM_CODEGEN) $(addprefix -isystem ,$(KVM_INCLUDES)) \
		   $(KSFT_CFLAGS)

# A test named selftests/kvm/pci/<name> is selftests/kvm/<name>.c built
# with -DVH_TRANSPORT_PCI: the same test over virtio-pci (vnet_host.h).
# One named selftests/kvm/packed/<name> or selftests/kvm/pci/packed/<name>
# is also built with -DVH_RING_PACKED: the guest driver negotiates the
# packed ring.
kvm_test_src	= selftests/kvm/$(notdir $(1))
kvm_test_pci	= $(if $(filter selftests/kvm/pci/%,$(1)),-DVH_TRANSPORT_PCI)
kvm_test_packed	= $(if $(filter selftests/kvm/packed/% \
		  selftests/kvm/pci/packed/%,$(1)),-DVH_RING_PACKED)

define kvm_test_rule
$(B)/$(1): $(call kvm_test_src,$(1)).c $(LIBKVM_A) $(TEST_HELPERS) \
		$(if $(filter $(1),$(KVM_NOVDEV_TESTS)),,$(TESTLIB_A) $(LIB_A))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) $$(KVM_TEST_CFLAGS) $$(CFLAGS_$(notdir $(1))) \
		$(call kvm_test_pci,$(1)) $(call kvm_test_packed,$(1)) \
		-MMD -MP -o $$@ $$< \
		$(if $(filter $(1),$(KVM_NOVDEV_TESTS)),,$$(TESTLIB_A) $$(LIB_A)) \
		$$(LIBKVM_A) \
		$$(LDFLAGS_V) -no-pie $$(LDLIBS_$(notdir $(1))) $$(NL_LIBS) \
		-ldl -lm
-include $(B)/$(1).d
endef

ifneq ($(filter plain fault,$(VARIANT)),)
$(foreach t,$(sort $(KVM_TESTS) $(KVM_XFAIL_TESTS)), \
	$(eval $(call kvm_test_rule,$(t))))
endif

KVM_BINS	:= $(addprefix $(B)/,$(KVM_TESTS))
KVM_XFAIL_BINS	:= $(addprefix $(B)/,$(KVM_XFAIL_TESTS))

# scripts/vmtest arguments: same grammar as scripts/run-selftests.
KVM_RUN_ARGS	= --build build --name kvm $(KVM_TESTS) \
		  $(if $(KVM_XFAIL_TESTS),--xfail-build build/fault \
		  $(addprefix --xfail-env ,$(KVM_XFAIL_ENV)) $(KVM_XFAIL_EXPECT) \
		  $(KVM_XFAIL_TESTS))

.PHONY: kvm-bins kvm-xfail-bins kvm-build
kvm-bins: $(KVM_BINS)
kvm-xfail-bins: $(KVM_XFAIL_BINS)

# Every variant is its own make run, as in 'make check'.
kvm-build: deps
	$(MAKE) VARIANT=plain kvm-bins
ifneq ($(strip $(KVM_XFAIL_TESTS)),)
	$(MAKE) VARIANT=fault kvm-xfail-bins
endif

kvm-tests: kvm-build
	scripts/vmtest $(KVM_RUN_ARGS)

vmtest: kvm-build
ifneq ($(strip $(VMTEST_CMD)),)
	scripts/vmtest --force-vm --cmd '$(subst ','\'',$(VMTEST_CMD))'
else
	scripts/vmtest --force-vm $(KVM_RUN_ARGS)
endif
