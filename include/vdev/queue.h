/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Split virtqueue, device side (VIRTIO 1.2, section 2.7).
 *
 * The transport fills in the fields under "set by the transport" while
 * the driver configures the queue; vdev_device_activate() validates them
 * and maps the rings. From then on only the device's worker for this
 * queue calls the functions below.
 *
 * Every value read from guest memory is checked: on malformed input
 * vdev_queue_pop() returns -EIO (-ENOSPC for a chain longer than the
 * caller's iovec array), the queue stops, and the device is marked
 * DEVICE_NEEDS_RESET.
 */
#ifndef _VDEV_QUEUE_H
#define _VDEV_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>

#include <vdev/log.h>

struct vdev_device;
struct vdev_mem;

/**
 * struct vdev_queue - one split virtqueue
 * @size: number of entries (QueueNum); a power of two, at most @max_size
 * @max_size: device maximum (QueueNumMax)
 * @ready: QueueReady
 * @desc_addr: descriptor table address (guest-physical, or IOVA when the
 *             device has an access platform)
 * @avail_addr: driver (available) ring address
 * @used_addr: device (used) ring address
 * @kick_fd: eventfd the transport signals on QueueNotify, or -1
 * @index: queue index within the device
 * @dev: owning device (set at activate)
 * @mem: guest memory the rings live in (reference held while active)
 * @desc: host pointer to the descriptor table
 * @avail: host pointer to the available ring
 * @used: host pointer to the used ring
 * @last_avail_idx: next available ring entry the device will consume
 * @avail_idx_shadow: last value read from avail->idx
 * @used_idx: next used ring index the device will publish
 * @published_used: used->idx as last published
 * @signalled_used: used index at the last interrupt (EVENT_IDX)
 * @signalled_used_valid: @signalled_used is meaningful
 * @event_idx: VIRTIO_F_EVENT_IDX negotiated
 * @indirect: VIRTIO_RING_F_INDIRECT_DESC negotiated
 * @broken: the driver wrote something malformed; the queue is stopped
 *
 * The queue's messages go through its device's rate limit (@dev->rl):
 * the transport re-initialises the queue at every guest reset, the
 * device's limiter lives as long as the device.
 */
struct vdev_queue {
	/* set by the transport */
	uint16_t size;
	uint16_t max_size;
	bool ready;
	uint64_t desc_addr;
	uint64_t avail_addr;
	uint64_t used_addr;
	int kick_fd;
	unsigned int index;

	/* private to vdev from activate on */
	struct vdev_device *dev;
	struct vdev_mem *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail_idx;
	uint16_t avail_idx_shadow;
	uint16_t used_idx;
	uint16_t published_used;
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool event_idx;
	bool indirect;
	atomic_bool broken;
};

/**
 * struct vdev_chain - one descriptor chain, as host iovecs
 * @head: head descriptor index, returned in the used ring
 * @nr_read: iovecs the device reads (driver-written), @iov[0 .. nr_read)
 * @nr_write: iovecs the device writes, @iov[nr_read .. nr_read + nr_write)
 * @read_len: total bytes of the readable part
 * @write_len: total bytes of the writable part
 * @max_iov: capacity of @iov
 * @iov: caller-provided array
 *
 * A buffer that spans two adjacent memory regions takes two iovecs.
 */
struct vdev_chain {
	uint16_t head;
	unsigned int nr_read;
	unsigned int nr_write;
	uint32_t read_len;
	uint32_t write_len;
	unsigned int max_iov;
	struct iovec *iov;
};

/* Each function is documented at its definition, in lib/queue.c. */
void vdev_chain_init(struct vdev_chain *chain, struct iovec *iov,
		     unsigned int max_iov);

void vdev_queue_init(struct vdev_queue *vq, unsigned int index,
		     uint16_t max_size);

int vdev_queue_setup(struct vdev_queue *vq, struct vdev_device *dev,
		     struct vdev_mem *mem);

void vdev_queue_teardown(struct vdev_queue *vq);

int vdev_queue_pop(struct vdev_queue *vq, struct vdev_chain *chain);

void vdev_queue_unpop(struct vdev_queue *vq, unsigned int n);

void vdev_queue_push(struct vdev_queue *vq, uint16_t head, uint32_t len);

void vdev_queue_flush(struct vdev_queue *vq);

bool vdev_queue_notify(struct vdev_queue *vq);

void vdev_queue_disable_notify(struct vdev_queue *vq);

bool vdev_queue_enable_notify(struct vdev_queue *vq);

bool vdev_queue_has_avail(struct vdev_queue *vq);

bool vdev_queue_is_broken(const struct vdev_queue *vq);

#endif /* _VDEV_QUEUE_H */
