/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-mmio transport, modern layout only (VIRTIO 1.2, section 4.2.2,
 * version 2). The VMM forwards the guest's MMIO accesses to the device's
 * window to vdev_mmio_read() / vdev_mmio_write(); queue notifications may
 * bypass MMIO exits through the per-queue eventfds (KVM_IOEVENTFD, see
 * <vdev/kvm.h>), and interrupts are raised by writing the irq eventfd (a
 * KVM irqfd). Register offsets are those of <linux/virtio_mmio.h>.
 * Documentation/mmio.rst describes the register and state rules.
 */
#ifndef _VDEV_MMIO_H
#define _VDEV_MMIO_H

#include <stdint.h>

struct vdev_device;
struct vdev_mem;
struct vdev_mmio;

/* MagicValue: "virt" in little-endian byte order. */
#define VDEV_MMIO_MAGIC		0x74726976
/* Version: only the modern layout is implemented. */
#define VDEV_MMIO_VERSION	2
/* VendorID presented to the driver: "VDEV". */
#define VDEV_MMIO_VENDOR_ID	0x56454456
/*
 * QueueReset (VIRTIO 1.2, 4.2.2, with VIRTIO_F_RING_RESET); the uapi
 * <linux/virtio_mmio.h> has no name for it.
 */
#define VDEV_MMIO_QUEUE_RESET	0x0c0
/* Size of one device's register window; config space is 0x100 up to it. */
#define VDEV_MMIO_SIZE		0x1000

/* Each function is documented at its definition, in lib/mmio.c. */
int vdev_mmio_create(struct vdev_device *dev, struct vdev_mem *mem,
		     int irq_eventfd, struct vdev_mmio **mmiop);

void vdev_mmio_read(struct vdev_mmio *mmio, uint64_t offset, void *data,
		    unsigned int len);

void vdev_mmio_write(struct vdev_mmio *mmio, uint64_t offset, const void *data,
		     unsigned int len);

int vdev_mmio_queue_notify_fd(struct vdev_mmio *mmio, unsigned int queue);

int vdev_mmio_irq_fd(struct vdev_mmio *mmio);

unsigned int vdev_mmio_nr_queues(struct vdev_mmio *mmio);

void vdev_mmio_destroy(struct vdev_mmio *mmio);

#endif /* _VDEV_MMIO_H */
