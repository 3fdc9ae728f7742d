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
 *
 * KVM glue for the virtio-pci transport (Documentation/pci.rst, "KVM
 * glue"): a KVM_IOEVENTFD per queue on its notify address in the BAR,
 * moved with the BAR; a KVM_IRQFD per MSI-X vector on an MSI route
 * (KVM_SET_GSI_ROUTING, KVM's legacy PIC and IOAPIC routes kept); the
 * INTx irqfd with KVM_IRQFD_FLAG_RESAMPLE and the thread that serves its
 * resample eventfd. The VMM's &struct vdev_pci_ops forward bar_moved and
 * vector_changed to vdev_kvm_pci_bar_moved() and
 * vdev_kvm_pci_vector_changed(). Teardown order: vdev_kvm_pci_detach(),
 * then vdev_pci_destroy(), then close the VM.
 */
#ifndef _VDEV_KVM_H
#define _VDEV_KVM_H

#include <stdint.h>

struct vdev_mmio;
struct vdev_kvm;
struct vdev_pci;
struct vdev_kvm_pci;

/* Each function is documented at its definition, in lib/kvm.c. */
int vdev_kvm_attach(int vm_fd, struct vdev_mmio *mmio, uint64_t mmio_base,
		    unsigned int gsi, struct vdev_kvm **kp);

void vdev_kvm_detach(struct vdev_kvm *k);

int vdev_kvm_pci_attach(int vm_fd, struct vdev_pci *pci,
			unsigned int intx_gsi, unsigned int msi_gsi,
			struct vdev_kvm_pci **kp);

void vdev_kvm_pci_bar_moved(struct vdev_kvm_pci *k, unsigned int bar,
			    uint64_t old_addr, uint64_t new_addr);

void vdev_kvm_pci_vector_changed(struct vdev_kvm_pci *k, unsigned int vector,
				 uint64_t addr, uint32_t data);

void vdev_kvm_pci_detach(struct vdev_kvm_pci *k);

#endif /* _VDEV_KVM_H */
