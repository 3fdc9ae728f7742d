# SPDX-License-Identifier: GPL-2.0
#
# tools/vmm (vdev-vmm) on the host, no guest: its answers to bad input
# (selftests/vmm/vmm_args_test.sh). The script is installed next to the
# variant's build of the VMM, which it runs: $(B)/tools/vdev-vmm.
HOST_TESTS += selftests/vmm/vmm_args_test
# The VMM runs its vCPU threads in the hung-guest and busy-TAP cases.
THREADED_TESTS += selftests/vmm/vmm_args_test

$(B)/selftests/vmm/vmm_args_test: selftests/vmm/vmm_args_test.sh $(B)/tools/vdev-vmm
	@mkdir -p $(dir $@)
	install -m 0755 $< $@
