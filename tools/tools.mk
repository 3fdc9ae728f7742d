# SPDX-License-Identifier: GPL-2.0
#
# tools/: programs built on libvdev. 'make run' (selftests/vmm/extra.mk,
# scripts/vmm-run) boots Debian's Linux on tools/vmm's vdev-vmm.
