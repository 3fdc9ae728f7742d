/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Virtqueues, device side (VIRTIO 1.2, section 2.6): one API for every
 * ring format: the split ring (2.7), and the packed ring (2.8), chosen
 * when VIRTIO_F_RING_PACKED is negotiated.
 *
 * A transport fills in the public fields of struct vdev_queue while the
 * driver configures the queue; vdev_queue_enable() (called by
 * vdev_device_activate() for every ready queue) validates them, maps the
 * rings and picks the ring format from the negotiated features. From then
 * on only the device's worker for this queue calls the data-path
 * functions (pop, push, rewind, flush, notify, notification control).
 *
 * Every value read from guest memory is checked: on malformed input
 * vdev_queue_pop() returns -EIO (-ENOSPC for a chain longer than the
 * caller's iovec array), the queue stops, and the device is marked
 * DEVICE_NEEDS_RESET.
 *
 * Function kernel-doc is in lib/queue.c, above each definition. See
 * Documentation/virtqueue.rst.
 */
#ifndef _VDEV_QUEUE_H
#define _VDEV_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct vdev_device;
struct vdev_mem;
struct vdev_queue_private;

/**
 * struct vdev_queue - one virtqueue, as its transport sees it
 * @size: number of entries (QueueNum), at most @max_size; a power of two
 *        for the split ring
 * @max_size: device maximum (QueueNumMax)
 * @ready: QueueReady
 * @desc_addr: descriptor area: the split ring's descriptor table, or the
 *             packed ring's descriptor ring (guest-physical, or IOVA when
 *             the device has an access platform)
 * @driver_addr: driver area: the split ring's available ring, or the
 *               packed ring's driver event suppression structure
 * @device_addr: device area: the split ring's used ring, or the packed
 *               ring's device event suppression structure
 * @kick_fd: eventfd the transport signals on QueueNotify, or -1
 * @index: queue index within the device
 * @dev: owning device, set by vdev_queue_enable(); devices may read it
 * @priv: vdev's private state (ring format, shadow indices, host
 *        pointers); set by vdev_queue_enable(), NULL after
 *        vdev_queue_init(). Nothing outside lib/ looks inside.
 *
 * The transport owns the structure and sets every field above @dev.
 * vdev_queue_init() gives a queue its power-on values.
 */
struct vdev_queue {
	uint16_t size;
	uint16_t max_size;
	bool ready;
	uint64_t desc_addr;
	uint64_t driver_addr;
	uint64_t device_addr;
	int kick_fd;
	unsigned int index;

	struct vdev_device *dev;
	struct vdev_queue_private *priv;
};

/**
 * struct vdev_chain - one descriptor chain, as host iovecs
 * @id: buffer id, given back with vdev_queue_push_chain(): the split
 *      ring's head descriptor index, or the packed ring's buffer id
 * @nr_descs: descriptors the chain takes in the ring (an indirect table
 *            counts as one); the packed ring needs it back at push time
 * @ring_pos: where the chain starts in the ring, for vdev_queue_rewind();
 *            format-specific, opaque to devices
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
	uint16_t id;
	uint16_t nr_descs;
	uint32_t ring_pos;
	unsigned int nr_read;
	unsigned int nr_write;
	uint32_t read_len;
	uint32_t write_len;
	unsigned int max_iov;
	struct iovec *iov;
};

/**
 * struct vdev_queue_state - where a queue is in its ring
 * @last_avail_idx: next ring entry the device will take: the split ring's
 *                  free-running available index, or the packed ring's
 *                  descriptor ring offset (below the queue size)
 * @used_idx: next used entry the device will write: the split ring's
 *            free-running used index, or the packed ring's offset
 * @avail_wrap_counter: packed ring: the device's Driver Ring Wrap Counter
 *                      for @last_avail_idx; false for the split ring
 * @used_wrap_counter: packed ring: the Device Ring Wrap Counter for
 *                     @used_idx; false for the split ring
 *
 * What vhost-user's GET_VRING_BASE / SET_VRING_BASE and a snapshot carry:
 * vdev_queue_get_state() on a stopped queue, vdev_queue_set_state() on a
 * newly enabled one, and the device goes on exactly where it was.
 */
struct vdev_queue_state {
	uint16_t last_avail_idx;
	uint16_t used_idx;
	bool avail_wrap_counter;
	bool used_wrap_counter;
};

void vdev_chain_init(struct vdev_chain *chain, struct iovec *iov,
		     unsigned int max_iov);

/* Per-queue lifecycle: transports and the core. */
void vdev_queue_init(struct vdev_queue *vq, unsigned int index,
		     uint16_t max_size);
int vdev_queue_enable(struct vdev_queue *vq, struct vdev_device *dev,
		      struct vdev_mem *mem);
void vdev_queue_disable(struct vdev_queue *vq);
void vdev_queue_reset(struct vdev_queue *vq);
int vdev_queue_get_state(struct vdev_queue *vq, struct vdev_queue_state *state);
int vdev_queue_set_state(struct vdev_queue *vq,
			 const struct vdev_queue_state *state);

/* Data path: the queue's worker. */
int vdev_queue_pop(struct vdev_queue *vq, struct vdev_chain *chain);
int vdev_queue_rewind(struct vdev_queue *vq, const struct vdev_chain *chain);
void vdev_queue_push_chain(struct vdev_queue *vq,
			   const struct vdev_chain *chain, uint32_t len);
void vdev_queue_push_id(struct vdev_queue *vq, uint16_t id,
			uint16_t nr_descs, uint32_t len);
void vdev_queue_flush(struct vdev_queue *vq);
bool vdev_queue_notify(struct vdev_queue *vq);
void vdev_queue_disable_notify(struct vdev_queue *vq);
bool vdev_queue_enable_notify(struct vdev_queue *vq);
bool vdev_queue_has_avail(struct vdev_queue *vq);
bool vdev_queue_more_avail(struct vdev_queue *vq);
bool vdev_queue_is_broken(const struct vdev_queue *vq);

#endif /* _VDEV_QUEUE_H */
