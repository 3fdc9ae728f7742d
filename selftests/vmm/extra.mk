# SPDX-License-Identifier: GPL-2.0
#
# Debian's Linux guest on vdev-vmm (Documentation/vmm-guest.rst):
#
#   make vmm-tests   selftests/vmm/vmm_vm_args_test in the plain, ASan
#                    and TSan builds (vdev-vmm's exits that need a VM:
#                    TAP busy, a hung guest), selftests/vmm/
#                    linux_reboot_test.sh (split with VDEV_REBOOTS
#                    reboots, packed, two queues), then the same test on
#                    the fault build's VMM as an expected failure; in its
#                    own scripts/vmtest run with one vCPU
#                    in the emulated machine (VDEV_VMTEST_SMP=1) when
#                    /dev/kvm cannot run guests, directly otherwise
#   make run         the main job (scripts/vmm-run): the guest on vdev-vmm,
#                    traffic, VDEV_RUN_REBOOTS (20) reboots through the
#                    guest, the table; through scripts/vmtest likewise
#   make bench-vmm   part of 'make bench': kernel start to init and reboot
#                    to first frame on vdev-vmm and on Debian's QEMU (the
#                    default machine and -M microvm), and their ratios
#
# Nested Linux with two vCPUs in the emulated machine hangs at random
# (shared/notes/kvm-without-dev-kvm.md), hence VDEV_VMTEST_SMP=1. Knobs:
# VDEV_REBOOTS (10; 200 on demand), VDEV_BOOT_TIMEOUT (per boot, 120 s),
# VDEV_VMM_TIMEOUT (the vmtest watchdog: 60 s per reboot + 1500 s).

VMM_TEST	:= selftests/vmm/linux_reboot_test.sh
# run-selftests' per-program limit: about a minute per boot (the split
# run's reboots + 1, then 6 boots of packed and mq) and margin; the vmtest
# watchdog is above it.
VMM_TEST_TIMEOUT = $(shell echo $$(( $(or $(VDEV_REBOOTS),10) * 60 + 900 )))
VMM_TIMEOUT	= $(or $(VDEV_VMM_TIMEOUT),$(shell echo $$(( $(VMM_TEST_TIMEOUT) + 600 ))))
# The fault build's VMM, on the split case with two reboots: the leaked
# control worker holds the TAP at the first reopen (EBUSY) and its fds
# stay open (XFAIL_EXPECT, Makefile).
VMM_XFAIL_ENV	:= VDEV_VMM=build/fault/tools/vdev-vmm VDEV_VMM_CASES=split \
		   VDEV_REBOOTS=2 $(XFAIL_ENV)
# vdev-vmm's exits that need a VM but no guest, in each variant's build.
VMM_VM_VARIANTS	:= plain asan tsan
VMM_VM_BINS	:= $(foreach v,$(VMM_VM_VARIANTS),\
		     $(addprefix build/$(if $(filter plain,$(v)),,$(v)/),$(VMM_VM_TESTS)))
VMM_RUN_ARGS	= --build . --name vmm $(VMM_VM_BINS) $(VMM_TEST) --xfail-build . \
		  $(addprefix --xfail-env ,$(VMM_XFAIL_ENV)) $(XFAIL_EXPECT) \
		  $(VMM_TEST)

.PHONY: vmm-build vmm-tests bench-vmm
vmm-build: deps
	$(MAKE) VARIANT=plain vmm
	$(MAKE) VARIANT=fault vmm
	$(foreach v,$(VMM_VM_VARIANTS),$(MAKE) VARIANT=$(v) vmm-vm-tests &&) true

# The emulated machine itself froze once in about 110 nested Linux boots
# (its vCPU looping at one RIP, interrupts on; vdev-vmm's own per-boot
# deadline cannot fire then). A console silent for VMM_QUIET s is that
# freeze (vmtest exit 3): the run is said to be void and made once more,
# loudly; a second freeze fails.
VMM_QUIET	:= 300
VMM_VMTEST	= VDEV_VMTEST_SMP=1 VDEV_VMTEST_QUIET=$(VMM_QUIET) \
		  scripts/vmtest --timeout $(VMM_TIMEOUT)
VMM_ONCE_MORE	= rc=$$?; if [ $$rc = 3 ]; then \
		  echo "$@: the emulated machine froze (vmtest exit 3, not a vdev result): running it once more"; \
		  $(1); rc=$$?; fi; exit $$rc

VMM_TESTS_CMD	= VDEV_TEST_TIMEOUT=$(VMM_TEST_TIMEOUT) $(VMM_VMTEST) \
		  --cmd 'scripts/run-selftests $(subst ','\'',$(VMM_RUN_ARGS))'
VMM_RUN_CMD	= $(VMM_VMTEST) --cmd 'scripts/vmm-run'

vmm-tests: vmm-build
	$(VMM_TESTS_CMD); $(call VMM_ONCE_MORE,$(VMM_TESTS_CMD))

run: deps
	$(MAKE) VARIANT=plain vmm
	$(VMM_RUN_CMD); $(call VMM_ONCE_MORE,$(VMM_RUN_CMD))

BENCH_TARGETS	+= bench-vmm
bench-vmm: deps
	$(MAKE) VARIANT=plain vmm
	VDEV_VMTEST_SMP=1 scripts/vmtest --timeout $(VMM_TIMEOUT) \
		--cmd 'selftests/vmm/vmm_bench.sh'
