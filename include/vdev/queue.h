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
 * vdev_queue_pop() returns -EIO, the queue stops, and the device is
 * marked DEVICE_NEEDS_RESET.
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

/**
 * vdev_chain_init() - prepare a chain to receive iovecs
 * @chain: the chain
 * @iov: storage for @max_iov iovecs
 * @max_iov: capacity; a chain needing more is treated as malformed
 */
void vdev_chain_init(struct vdev_chain *chain, struct iovec *iov,
		     unsigned int max_iov);

/**
 * vdev_queue_init() - reset a queue to its power-on state
 * @vq: the queue
 * @index: its index
 * @max_size: QueueNumMax
 *
 * For transports. Sets @size to @max_size, clears addresses and ready,
 * and @kick_fd to -1.
 */
void vdev_queue_init(struct vdev_queue *vq, unsigned int index,
		     uint16_t max_size);

/**
 * vdev_queue_setup() - validate the transport's settings and map the rings
 * @vq: the queue, configured by the transport
 * @dev: owning device (for feature bits, access platform, error reporting)
 * @mem: guest memory; a reference is taken
 *
 * Called by vdev_device_activate() for every ready queue. Checks that
 * @vq->size is a power of two no larger than @vq->max_size, that each ring
 * is aligned (descriptors 16, available 2, used 4) and lies entirely inside
 * guest memory.
 *
 * Return: 0, or -EINVAL (and a log message) for a bad setting.
 */
int vdev_queue_setup(struct vdev_queue *vq, struct vdev_device *dev,
		     struct vdev_mem *mem);

/**
 * vdev_queue_teardown() - drop what vdev_queue_setup() took
 * @vq: the queue
 */
void vdev_queue_teardown(struct vdev_queue *vq);

/**
 * vdev_queue_pop() - take the next available descriptor chain
 * @vq: the queue
 * @chain: filled with the chain's iovecs (initialised by vdev_chain_init())
 *
 * Return: 1 when a chain was taken, 0 when the ring is empty, -EIO when
 * the driver's ring is malformed (the queue is stopped and the device
 * marked DEVICE_NEEDS_RESET), -ENOSPC when @chain has too few iovecs.
 */
int vdev_queue_pop(struct vdev_queue *vq, struct vdev_chain *chain);

/**
 * vdev_queue_unpop() - give back the last @n chains taken by pop
 * @vq: the queue
 * @n: how many
 *
 * For a device that took buffers it cannot use yet (RX with too little
 * room): they will be returned by the next vdev_queue_pop() again.
 */
void vdev_queue_unpop(struct vdev_queue *vq, unsigned int n);

/**
 * vdev_queue_push() - put a used element, not yet visible to the driver
 * @vq: the queue
 * @head: head index of the chain
 * @len: bytes written into the chain's writable part
 */
void vdev_queue_push(struct vdev_queue *vq, uint16_t head, uint32_t len);

/**
 * vdev_queue_flush() - publish pushed elements (used->idx), with barrier
 * @vq: the queue
 */
void vdev_queue_flush(struct vdev_queue *vq);

/**
 * vdev_queue_notify() - flush, and interrupt the driver if it wants one
 * @vq: the queue
 *
 * Honours VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX.
 *
 * Return: true when an interrupt was raised.
 */
bool vdev_queue_notify(struct vdev_queue *vq);

/**
 * vdev_queue_disable_notify() - ask the driver not to kick
 * @vq: the queue
 */
void vdev_queue_disable_notify(struct vdev_queue *vq);

/**
 * vdev_queue_enable_notify() - ask the driver to kick on new buffers
 * @vq: the queue
 *
 * Return: true when buffers arrived meanwhile, so the caller must process
 * them instead of sleeping (no kick will come for those).
 */
bool vdev_queue_enable_notify(struct vdev_queue *vq);

/**
 * vdev_queue_has_avail() - are chains waiting?
 * @vq: the queue
 *
 * Return: true when vdev_queue_pop() would return a chain or an error.
 */
bool vdev_queue_has_avail(struct vdev_queue *vq);

/**
 * vdev_queue_is_broken() - has the driver broken this queue?
 * @vq: the queue
 *
 * Return: true after malformed input was seen.
 */
bool vdev_queue_is_broken(const struct vdev_queue *vq);

#endif /* _VDEV_QUEUE_H */
