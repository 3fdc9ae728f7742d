/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM glue for the virtio-mmio transport: one KVM_IOEVENTFD per queue on
 * the QueueNotify register (datamatch = queue index), so that the guest's
 * notifications reach the device's workers without an MMIO exit, and one
 * KVM_IRQFD that turns the transport's interrupt eventfd into a guest
 * interrupt on a GSI.
 *
 * Teardown order (Documentation/mmio.rst): vdev_kvm_detach(), then
 * vdev_mmio_destroy(), then close the VM. The registrations survive
 * device resets (Status 0): the eventfds do not change.
 */
#ifndef _VDEV_KVM_H
#define _VDEV_KVM_H

#include <stdint.h>

struct vdev_mmio;
struct vdev_kvm;

/* Each function is documented at its definition, in lib/kvm.c. */
int vdev_kvm_attach(int vm_fd, struct vdev_mmio *mmio, uint64_t mmio_base,
		    unsigned int gsi, struct vdev_kvm **kp);

void vdev_kvm_detach(struct vdev_kvm *k);

#endif /* _VDEV_KVM_H */
