# SPDX-License-Identifier: GPL-2.0
#
# tools/vmm (vdev-vmm), no guest: its answers to bad input
# (selftests/vmm/vmm_args_test.sh, installed under two names next to
# the variant's build of the VMM, which it runs: $(B)/tools/vdev-vmm).
#
#   vmm_args_test     no VM needed: every variant, on the host
#   vmm_vm_args_test  needs a /dev/kvm that runs a vCPU: the vmm suite
#                     (selftests/vmm/extra.mk) runs the plain, ASan and
#                     TSan builds, inside scripts/vmtest when the host
#                     cannot
HOST_TESTS += selftests/vmm/vmm_args_test
VMM_VM_TESTS := selftests/vmm/vmm_vm_args_test

$(B)/selftests/vmm/vmm_args_test $(B)/selftests/vmm/vmm_vm_args_test: \
		selftests/vmm/vmm_args_test.sh $(B)/tools/vdev-vmm
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

.PHONY: vmm-vm-tests
vmm-vm-tests: $(addprefix $(B)/,$(VMM_VM_TESTS))
