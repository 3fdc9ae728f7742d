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

/**
 * vdev_mmio_create() - create a virtio-mmio transport for a device
 * @dev: the device (a reference is taken)
 * @mem: guest memory the device will use (a reference is taken)
 * @irq_eventfd: eventfd written for every interrupt; vdev dups it
 * @mmiop: on success the new transport
 *
 * The transport owns one eventfd per queue (vdev_mmio_queue_notify_fd()),
 * created here and kept until vdev_mmio_destroy(): a device reset does not
 * change them, so KVM registrations stay valid across guest resets.
 *
 * Return: 0; -EINVAL for a device without queues or a bad fd; -ENOMEM;
 * -errno from eventfd().
 */
int vdev_mmio_create(struct vdev_device *dev, struct vdev_mem *mem,
		     int irq_eventfd, struct vdev_mmio **mmiop);

/**
 * vdev_mmio_read() - the driver reads the register window
 * @mmio: the transport
 * @offset: offset within the window
 * @data: destination, @len bytes (little-endian register value)
 * @len: access size; registers take 4, config space 1, 2, 4 or 8
 *
 * Never fails: an access the layout does not allow reads as zero (with a
 * rate-limited warning). Safe from several vCPU threads at once.
 */
void vdev_mmio_read(struct vdev_mmio *mmio, uint64_t offset, void *data,
		    unsigned int len);

/**
 * vdev_mmio_write() - the driver writes the register window
 * @mmio: the transport
 * @offset: offset within the window
 * @data: source, @len bytes
 * @len: access size; registers take 4, config space 1, 2, 4 or 8
 *
 * A write the layout or the current state does not allow is ignored with
 * a rate-limited warning. Writing DRIVER_OK to Status activates the
 * device; writing 0 resets it and returns only after every worker thread
 * of the device has been joined. Safe from several vCPU threads at once.
 */
void vdev_mmio_write(struct vdev_mmio *mmio, uint64_t offset, const void *data,
		     unsigned int len);

/**
 * vdev_mmio_queue_notify_fd() - the eventfd behind QueueNotify for a queue
 * @mmio: the transport
 * @queue: queue index
 *
 * A QueueNotify write of @queue signals this eventfd; register it with
 * KVM_IOEVENTFD (datamatch @queue) so that notifications skip the MMIO
 * exit. The fd stays owned by @mmio and valid until vdev_mmio_destroy().
 *
 * Return: the fd, or -EINVAL for a queue the device does not have.
 */
int vdev_mmio_queue_notify_fd(struct vdev_mmio *mmio, unsigned int queue);

/**
 * vdev_mmio_irq_fd() - the transport's copy of the interrupt eventfd
 * @mmio: the transport
 *
 * Return: the fd (owned by @mmio, valid until vdev_mmio_destroy()).
 */
int vdev_mmio_irq_fd(struct vdev_mmio *mmio);

/**
 * vdev_mmio_nr_queues() - number of queues the transport exposes
 * @mmio: the transport
 *
 * Return: the count (the device's maximum).
 */
unsigned int vdev_mmio_nr_queues(struct vdev_mmio *mmio);

/**
 * vdev_mmio_destroy() - reset the device and free the transport
 * @mmio: the transport, or NULL
 *
 * Resets the device (joining its workers), closes every fd the transport
 * opened and drops its references on the device and the memory. Detach
 * KVM registrations (vdev_kvm_detach()) before calling this.
 */
void vdev_mmio_destroy(struct vdev_mmio *mmio);

#endif /* _VDEV_MMIO_H */
