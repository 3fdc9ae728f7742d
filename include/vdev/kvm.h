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

/**
 * vdev_kvm_attach() - register a transport's eventfds with a KVM VM
 * @vm_fd: the VM (from KVM_CREATE_VM); vdev keeps its own dup until detach
 * @mmio: the transport
 * @mmio_base: guest-physical base of the transport's register window
 * @gsi: the GSI the device's interrupt is wired to (e.g. an IOAPIC pin
 *       with the in-kernel irqchip)
 * @kp: on success the registration
 *
 * Registers, for every queue of @mmio, a 4-byte KVM_IOEVENTFD at
 * @mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY matching the queue index, and a
 * KVM_IRQFD for the transport's interrupt eventfd on @gsi. vdev dups every
 * fd it registers, so vdev_kvm_detach() works whatever was closed before.
 * On failure nothing stays registered.
 *
 * Return: 0; -EINVAL for bad arguments; -ENOMEM; -errno from the ioctls
 * (-ENOTTY or -EBADF when @vm_fd is not a VM, -EEXIST when the address is
 * taken, -EBUSY when the eventfd already backs an irqfd).
 */
int vdev_kvm_attach(int vm_fd, struct vdev_mmio *mmio, uint64_t mmio_base,
		    unsigned int gsi, struct vdev_kvm **kp);

/**
 * vdev_kvm_detach() - deassign what vdev_kvm_attach() registered
 * @k: the registration, or NULL
 *
 * Deassigns the irqfd and every ioeventfd (KVM_IRQFD_FLAG_DEASSIGN,
 * KVM_IOEVENTFD_FLAG_DEASSIGN), closes vdev's dups and frees @k. Call it
 * before vdev_mmio_destroy() so that no guest notification is swallowed
 * by an eventfd nobody reads.
 */
void vdev_kvm_detach(struct vdev_kvm *k);

#endif /* _VDEV_KVM_H */
