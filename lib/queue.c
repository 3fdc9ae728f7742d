// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueues, device side: the part common to every ring format.
 *
 * A queue's private state (struct vdev_queue_private, lib/queue_priv.h)
 * belongs to its device, one per queue index, and lives as long as the
 * device; vdev_queue_enable() attaches it to the transport's struct
 * vdev_queue and picks the ring format from the negotiated features. The
 * format is an ops table (struct vdev_ring_ops): lib/split.c implements
 * the split ring (VIRTIO 1.2, 2.7), lib/packed.c the packed ring (2.8).
 *
 * This layer owns what is the same for every format: the lifecycle of a
 * queue (enable, disable, reset, get and set its position), the broken
 * flag (no op is called on a stopped queue), interrupts, and the
 * translation of guest addresses into host iovecs. Translation is
 * direction-aware: what the device writes (the used ring or used
 * descriptors, device-writable buffers) must lie in regions without
 * VDEV_MEM_F_READONLY, what it only reads (descriptors, the driver's ring,
 * indirect tables, device-readable buffers) may lie in ROM. A driver that
 * points a write at read-only memory breaks the queue like any other
 * malformed ring; vdev never stores there. See Documentation/virtqueue.rst.
 *
 * A queue is used by one worker thread at a time; only the broken flag is
 * read from other threads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_config.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

#include "inflight_priv.h"
#include "mem_priv.h"
#include "queue_priv.h"

/*
 * Not enabled (no private state, disabled, or the state now serves
 * another struct vdev_queue with this index), or broken.
 */
static inline bool vq_stopped(const struct vdev_queue *vq)
{
	const struct vdev_queue_private *p = vq->priv;

	return unlikely(!p || p->vq != vq ||
			atomic_load_explicit(&p->broken, memory_order_relaxed));
}

/* Chains in flight at start, not yet taken again (lib/inflight.c). */
static inline bool vq_resubmit_pending(const struct vdev_queue *vq)
{
	const struct vq_inflight *in = vq->priv->inflight;

	return unlikely(in != NULL) && vq_inflight_resubmit_pending(in);
}

/* Publish pushed elements; then the inflight record knows them used. */
static inline void vq_flush(struct vdev_queue *vq)
{
	vq->priv->ops->flush(vq);
	if (unlikely(vq->priv->inflight != NULL))
		vq_inflight_flushed(vq);
}

/*
 * The device's per-queue state, one entry per queue index. The rate
 * limiters are initialised here, once in the device's life, and never
 * again: they survive every guest reset.
 */
struct vdev_queue_private *vq_private_alloc(unsigned int nr_queues)
{
	struct vdev_queue_private *p;
	unsigned int i;

	p = calloc(nr_queues, sizeof(*p));
	if (!p)
		return NULL;
	for (i = 0; i < nr_queues; i++) {
		atomic_init(&p[i].broken, true);
		p[i].rl = (struct vdev_ratelimit)VDEV_RATELIMIT_INIT(5000, 10);
	}
	return p;
}

void vq_private_free(struct vdev_queue_private *p)
{
	free(p);
}

/*
 * vq_fail() - the driver wrote something malformed: stop the queue
 *
 * The first caller marks the queue broken and the device
 * DEVICE_NEEDS_RESET (which logs, rate-limited, and raises a config
 * interrupt); later calls only return.
 */
int vq_fail(struct vdev_queue *vq, int err, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (atomic_exchange_explicit(&vq->priv->broken, true,
				     memory_order_relaxed))
		return err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vdev_device_set_needs_reset(vq->dev, "queue %u: %s", vq->index, msg);
	return err;
}

void vq_stop(struct vdev_queue *vq)
{
	if (vq->priv)
		atomic_store(&vq->priv->broken, true);
}

/* I/O virtual address to guest-physical, when there is an access platform. */
static inline int vq_to_gpa(struct vdev_device *dev, uint64_t addr,
			    uint64_t len, uint64_t *gpa)
{
	struct vdev_access_platform *ap = dev->access_platform;

	if (!ap) {
		*gpa = addr;
		return 0;
	}
	return ap->ops->translate_gva(ap, addr, len, gpa);
}

/*
 * Host pointer to a ring of @len bytes at @addr, checked at setup; with
 * @write (what the device writes) it must not be in read-only memory. The
 * region it is in is pinned until vq_unpin_rings() (the queue's disable,
 * or its failed enable): it cannot be removed while the queue uses the
 * pointer. The reasons are logged through the queue's rate limit, which a
 * reset does not renew: a driver can retry DRIVER_OK with bad rings as
 * often as it likes.
 */
void *vq_map_ring(struct vdev_queue *vq, const char *what, uint64_t addr,
		  size_t len, size_t align, bool write)
{
	struct vdev_mem *mem = vq->priv->mem;
	const char *why;
	uint64_t gpa;
	void *p;

	if (addr & (align - 1)) {
		why = "misaligned";
		goto out_bad;
	}
	if (vq_to_gpa(vq->dev, addr, len, &gpa)) {
		why = "not mapped by the IOMMU";
		goto out_bad;
	}
	if (unlikely(vq->priv->nr_pinned >= VQ_MAX_PINNED)) {
		why = "more rings than a ring format has (a vdev bug)";
		goto out_bad;
	}
	/*
	 * The whole ring must be one contiguous host mapping, and that
	 * region stays until the queue is disabled: a pin on it, taken
	 * together with the translation (lib/mem_priv.h).
	 */
	p = __vdev_mem_pin(mem, gpa, len, write);
	if (!p) {
		if (write && vdev_mem_translate(mem, gpa, len))
			why = "in read-only memory";
		else
			why = "not inside one guest memory region";
		goto out_bad;
	}
	if ((uintptr_t)p & (align - 1)) {
		__vdev_mem_unpin(mem, gpa);
		why = "mapped at a misaligned host address";
		goto out_bad;
	}
	vq->priv->pinned[vq->priv->nr_pinned++] = gpa;
	return p;

out_bad:
	if (vdev_ratelimit_ok(&vq->priv->rl))
		vdev_log(VDEV_LOG_ERR,
			 "%s: queue %u: %s ring 0x%llx+%zu (align %zu): %s",
			 vq->dev->name, vq->index, what,
			 (unsigned long long)addr, len, align, why);
	return NULL;
}

/* Drop the pins vq_map_ring() took for the queue's rings. */
static void vq_unpin_rings(struct vdev_queue_private *p)
{
	while (p->nr_pinned)
		__vdev_mem_unpin(p->mem, p->pinned[--p->nr_pinned]);
}

/*
 * Host pointer to an indirect table of @len bytes (16-byte descriptors
 * in both formats); NULL after vq_fail().
 */
void *vq_map_table(struct vdev_queue *vq, uint64_t addr, uint32_t len)
{
	uint64_t gpa;
	void *p;

	if (unlikely(!len || len % sizeof(struct vring_desc))) {
		vq_fail(vq, -EIO, "indirect table length %u", len);
		return NULL;
	}
	if (unlikely(vq_to_gpa(vq->dev, addr, len, &gpa))) {
		vq_fail(vq, -EIO, "indirect table 0x%llx not mapped by the IOMMU",
			(unsigned long long)addr);
		return NULL;
	}
	/*
	 * The table is read in place, so it must lie in one region (which
	 * may be read-only); Linux allocates it with kmalloc, which never
	 * crosses a memory slot.
	 */
	p = vdev_mem_translate(vq->priv->mem, gpa, len);
	if (unlikely(!p || ((uintptr_t)p & (__alignof__(struct vring_desc) - 1)))) {
		vq_fail(vq, -EIO,
			"indirect table 0x%llx+%u not in guest memory or misaligned",
			(unsigned long long)gpa, len);
		return NULL;
	}
	return p;
}

/*
 * vq_chain_add() (lib/queue_priv.h) for every case its inline path does
 * not take: a buffer that crosses into another region, an access
 * platform, a full iovec array, and every error. Adds the guest range
 * [@addr, @addr + @len) to @chain as one iovec per guest memory region it
 * touches. Adjacent regions are fine; a gap or the end of guest memory
 * is not, and neither is a read-only region for a buffer the device will
 * @write. The rules every format shares are checked here: no zero
 * length, 4 GiB per chain at most, readable buffers before writable ones.
 * @chain is as the inline path found it: that path changes nothing before
 * it calls this one, and every check is made again here.
 */
int vq_chain_add_slow(struct vdev_queue *vq, struct vdev_chain *chain,
		      uint64_t addr, uint32_t len, bool write)
{
	struct vdev_mem *mem = vq->priv->mem;
	unsigned int nr = chain->nr_read + chain->nr_write;
	uint64_t gpa, avail;
	uint32_t left = len;
	void *p;

	if (unlikely(!len))
		return vq_fail(vq, -EIO,
			       "zero-length descriptor in chain at head %u",
			       chain->id);
	if (unlikely((uint64_t)chain->read_len + chain->write_len + len >
		     UINT32_MAX))
		return vq_fail(vq, -EIO, "chain at head %u longer than 4 GiB",
			       chain->id);
	if (unlikely(!write && chain->write_len))
		return vq_fail(vq, -EIO,
			       "readable descriptor after a writable one");

	if (unlikely(vq_to_gpa(vq->dev, addr, len, &gpa)))
		return vq_fail(vq, -EIO,
			       "buffer 0x%llx+%u not mapped by the IOMMU",
			       (unsigned long long)addr, len);
	if (unlikely(gpa + len < gpa))
		return vq_fail(vq, -EIO, "buffer 0x%llx+%u wraps",
			       (unsigned long long)gpa, len);

	while (left) {
		if (write)
			p = vdev_mem_translate_partial_write(mem, gpa, left,
							     &avail);
		else
			p = vdev_mem_translate_partial(mem, gpa, left, &avail);
		if (unlikely(!p || !avail)) {
			if (write &&
			    vdev_mem_translate_partial(mem, gpa, left, &avail))
				return vq_fail(vq, -EIO,
					       "buffer 0x%llx+%u in read-only memory",
					       (unsigned long long)gpa, left);
			return vq_fail(vq, -EIO,
				       "buffer 0x%llx+%u outside guest memory",
				       (unsigned long long)gpa, left);
		}
		if (unlikely(nr >= chain->max_iov))
			return vq_fail(vq, -ENOSPC,
				       "chain needs more than %u iovecs",
				       chain->max_iov);
		chain->iov[nr].iov_base = p;
		chain->iov[nr].iov_len = avail;
		nr++;
		gpa += avail;
		left -= avail;
	}
	if (write) {
		chain->nr_write = nr - chain->nr_read;
		chain->write_len += len;
	} else {
		chain->nr_read = nr;
		chain->read_len += len;
	}
	return 0;
}

/**
 * vdev_chain_init() - prepare a chain to receive iovecs
 * @chain: the chain
 * @iov: storage for @max_iov iovecs
 * @max_iov: capacity; a chain needing more is treated as malformed
 */
void vdev_chain_init(struct vdev_chain *chain, struct iovec *iov,
		     unsigned int max_iov)
{
	memset(chain, 0, sizeof(*chain));
	chain->iov = iov;
	chain->max_iov = iov ? max_iov : 0;
}

/**
 * vdev_queue_init() - give a queue its power-on values
 * @vq: the queue
 * @index: its index
 * @max_size: QueueNumMax
 *
 * For transports. Sets @size to @max_size, clears addresses and ready,
 * and @kick_fd to -1; detaches the private state. Not for an enabled
 * queue: vdev_queue_disable() (or vdev_queue_reset()) it first.
 */
void vdev_queue_init(struct vdev_queue *vq, unsigned int index,
		     uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->max_size = max_size;
	vq->size = max_size;
	vq->kick_fd = -1;
}

/**
 * vdev_queue_enable() - validate the transport's settings and map the rings
 * @vq: the queue, configured by the transport
 * @dev: owning device (for feature bits, access platform, error reporting)
 * @mem: guest memory; a reference is taken on success
 *
 * Called by vdev_device_activate() for every ready queue, after feature
 * negotiation. Picks the ring format: packed when VIRTIO_F_RING_PACKED
 * was negotiated, else split. Checks that @vq->size is non-zero and no
 * larger than @vq->max_size, then the format's rules: for the split ring
 * a power of two, each ring aligned (descriptors 16, available 2, used 4)
 * and inside one guest memory region (after translation through the
 * device's access platform, if any), and the used ring, which the device
 * writes, not in a read-only one; for the packed ring any size, the
 * descriptor ring 16-byte aligned and the two event suppression areas
 * 4-byte aligned, each inside one region, and the descriptor ring and the
 * device area (both written by the device) not in a read-only one. A bad
 * setting was written by the driver, so it also marks the device
 * DEVICE_NEEDS_RESET. The queue starts at the beginning of its ring (wrap
 * counters 1 for the packed ring); vdev_queue_set_state() moves it.
 * Each ring's guest memory region is pinned until vdev_queue_disable():
 * vdev_mem_remove_region() and vdev_mem_set_regions() refuse to take it
 * away meanwhile.
 *
 * Context: the control path (with the device's lock, from activate).
 *
 * Return: 0; -EINVAL (with a log message) for a bad setting, a NULL @mem
 * or a queue index the device does not have; -EBUSY when another queue
 * with this index is enabled.
 */
int vdev_queue_enable(struct vdev_queue *vq, struct vdev_device *dev,
		      struct vdev_mem *mem)
{
	const struct vdev_ring_ops *ops = &vq_split_ops;
	struct vdev_queue_private *p;
	uint16_t size = vq->size;
	int ret;

	vq->dev = dev;
	if (!mem) {
		vdev_log(VDEV_LOG_ERR, "%s: queue %u: no guest memory",
			 dev->name, vq->index);
		return -EINVAL;
	}
	if (!dev->queue_private || vq->index >= dev->nr_queues) {
		vdev_log(VDEV_LOG_ERR, "%s: queue %u: device has %u queues",
			 dev->name, vq->index, dev->nr_queues);
		return -EINVAL;
	}
	p = &dev->queue_private[vq->index];
	if (p->vq) {
		if (vdev_ratelimit_ok(&p->rl))
			vdev_log(VDEV_LOG_ERR, "%s: queue %u: already enabled",
				 dev->name, vq->index);
		return -EBUSY;
	}
	vq->priv = p;
	if (!size || size > vq->max_size || size > VQ_MAX_SIZE) {
		vdev_device_set_needs_reset(dev, "queue %u: bad size %u (max %u)",
					    vq->index, size, vq->max_size);
		return -EINVAL;
	}
	if (vdev_device_feature_acked(dev, VIRTIO_F_RING_PACKED))
		ops = &vq_packed_ops;

	p->mem = mem;
	p->event_idx = vdev_device_feature_acked(dev, VIRTIO_RING_F_EVENT_IDX);
	p->indirect = vdev_device_feature_acked(dev,
						VIRTIO_RING_F_INDIRECT_DESC);
	ret = ops->setup(vq);
	if (ret) {
		vq_unpin_rings(p);
		p->mem = NULL;
		return ret;
	}
	vdev_mem_get(mem);
	p->ops = ops;
	p->vq = vq;
	atomic_store_explicit(&p->broken, false, memory_order_relaxed);
	return 0;
}

/**
 * vdev_queue_disable() - stop using a queue's rings
 * @vq: the queue
 *
 * Unmaps the rings, unpins their regions and drops the guest memory
 * reference taken by vdev_queue_enable(). The queue then reads as stopped: every data-path
 * call returns at once and vdev_queue_is_broken() is true. Does nothing
 * for a queue that is not enabled.
 *
 * Context: the control path; the caller makes sure the queue's worker no
 * longer uses it (vdev_device_reset() joins it first).
 */
void vdev_queue_disable(struct vdev_queue *vq)
{
	struct vdev_queue_private *p = vq->priv;

	if (!p || p->vq != vq)
		return;
	atomic_store_explicit(&p->broken, true, memory_order_relaxed);
	vq_inflight_stop(vq);
	p->ops->teardown(vq);
	vq_unpin_rings(p);
	vdev_mem_put(p->mem);
	p->mem = NULL;
	p->ops = NULL;
	p->vq = NULL;
}

/**
 * vdev_queue_reset() - reset one queue (VIRTIO_F_RING_RESET)
 * @vq: the queue
 *
 * Disables the queue and gives the fields the driver writes their
 * power-on values (size @max_size, addresses 0, not ready); @index,
 * @max_size, @kick_fd and the private state (its rate limit included)
 * stay. The driver can then program the queue again and the transport
 * enable it with vdev_queue_enable().
 *
 * Context: as vdev_queue_disable().
 */
void vdev_queue_reset(struct vdev_queue *vq)
{
	vdev_queue_disable(vq);
	vq->size = vq->max_size;
	vq->ready = false;
	vq->desc_addr = 0;
	vq->driver_addr = 0;
	vq->device_addr = 0;
}

/**
 * vdev_queue_get_state() - where the queue is in its ring
 * @vq: an enabled queue whose worker is stopped
 * @state: filled with the position
 *
 * Publishes pushed elements first (as vdev_queue_flush()), so that
 * @state->used_idx is what the driver sees. Chains popped and neither
 * pushed nor rewound are not part of the state: a device that stops a
 * queue pushes or rewinds what it holds first. Reading the state of a
 * queue the driver broke is allowed (it cannot resume anyway).
 *
 * Context: the control path, with the queue's worker stopped.
 *
 * Return: 0, or -EINVAL when @vq is not enabled.
 */
int vdev_queue_get_state(struct vdev_queue *vq, struct vdev_queue_state *state)
{
	struct vdev_queue_private *p = vq->priv;

	if (!p || p->vq != vq)
		return -EINVAL;
	if (!vq_is_broken(vq))
		vq_flush(vq);
	p->ops->get_state(vq, state);
	return 0;
}

/**
 * vdev_queue_set_state() - continue a queue from a saved position
 * @vq: a queue just enabled, before its worker pops anything
 * @state: a position from vdev_queue_get_state() (or vhost-user's
 *         SET_VRING_BASE)
 *
 * The next vdev_queue_pop() takes @state->last_avail_idx, the next push
 * writes at @state->used_idx. Interrupt suppression starts afresh: the
 * next notify with EVENT_IDX interrupts. No guest memory is read here: a
 * position that does not match the rings shows at the next pop, as
 * malformed input would.
 *
 * Context: the control path, with the queue's worker stopped.
 *
 * Return: 0; -EINVAL when @vq is not enabled or @state does not fit the
 * ring format (a packed offset not below the size, a wrap counter on a
 * split ring), with a log message; -EIO when the queue is broken.
 */
int vdev_queue_set_state(struct vdev_queue *vq,
			 const struct vdev_queue_state *state)
{
	struct vdev_queue_private *p = vq->priv;
	struct vdev_queue_state at = *state;
	int ret;

	if (!p || p->vq != vq)
		return -EINVAL;
	if (vq_is_broken(vq))
		return -EIO;
	ret = p->ops->set_state(vq, &at);
	if (!ret && p->inflight_region) {
		ret = vq_inflight_start(vq, &at);
		if (ret)
			return ret;
		ret = p->ops->set_state(vq, &at);
	}
	if (ret && vdev_ratelimit_ok(&p->rl))
		vdev_log(VDEV_LOG_ERR,
			 "%s: queue %u: %s ring cannot be at avail %u/%u used %u/%u",
			 vq->dev->name, vq->index, p->ops->name,
			 at.last_avail_idx, at.avail_wrap_counter,
			 at.used_idx, at.used_wrap_counter);
	return ret;
}

/**
 * vdev_queue_pop() - take the next available descriptor chain
 * @vq: the queue
 * @chain: filled with the chain's iovecs (initialised by vdev_chain_init()),
 *         its buffer id and descriptor count
 *
 * Context: the queue's worker thread.
 *
 * Return: 1 when a chain was taken, 0 when the ring is empty, -EIO when
 * the driver's ring is malformed or the queue is already stopped, -ENOSPC
 * when the chain needs more iovecs than @chain holds (such a chain counts
 * as malformed). Both errors stop the queue, so that later calls return
 * -EIO, and mark the device DEVICE_NEEDS_RESET.
 */
int vdev_queue_pop(struct vdev_queue *vq, struct vdev_chain *chain)
{
	if (vq_stopped(vq))
		return -EIO;
	if (unlikely(vq->priv->inflight != NULL))
		return vq_inflight_pop(vq, chain);
	return vq->priv->ops->pop(vq, chain);
}

/**
 * vdev_queue_rewind() - give back chains taken by pop
 * @vq: the queue
 * @chain: the first chain to give back: it, and every chain popped after
 *         it, are returned by the following pops again, in the same order
 *
 * For a device that took buffers it cannot use yet (RX with too little
 * room, TX when the backend pushes back). None of the chains given back
 * may have been pushed; chains popped before @chain are unaffected and
 * may be pushed before or after. Defined by chain rather than by count
 * because that is what both ring formats can undo: a packed ring chain
 * takes a variable number of ring slots.
 *
 * Context: the queue's worker thread.
 *
 * Return: 0; -EIO when the queue is stopped; -EINVAL when @chain was not
 * popped from this queue since it was enabled (or its position set), a
 * device bug, logged.
 */
int vdev_queue_rewind(struct vdev_queue *vq, const struct vdev_chain *chain)
{
	int ret;

	if (vq_stopped(vq))
		return -EIO;
	if (unlikely(vq->priv->inflight != NULL))
		ret = vq_inflight_rewind(vq, chain);
	else
		ret = vq->priv->ops->rewind(vq, chain);
	if (ret && vdev_ratelimit_ok(&vq->priv->rl))
		vdev_log(VDEV_LOG_ERR,
			 "%s: queue %u: rewind to a chain not outstanding (id %u at %u)",
			 vq->dev->name, vq->index, chain->id, chain->ring_pos);
	return ret;
}

/**
 * vdev_queue_push_id() - put a used element, not yet visible to the driver
 * @vq: the queue
 * @id: buffer id of the chain (&vdev_chain.id)
 * @nr_descs: descriptors the chain took in the ring (&vdev_chain.nr_descs)
 * @len: bytes written into the chain's writable part
 *
 * For a device that keeps only the id and descriptor count of a chain.
 * Does nothing once the queue is stopped.
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_push_id(struct vdev_queue *vq, uint16_t id,
			uint16_t nr_descs, uint32_t len)
{
	if (vq_stopped(vq))
		return;
	vq->priv->ops->push(vq, id, nr_descs, len);
	if (unlikely(vq->priv->inflight != NULL) && !vq_is_broken(vq))
		vq_inflight_pushed(vq, id);
}

/**
 * vdev_queue_push_chain() - return a popped chain used
 * @vq: the queue
 * @chain: the chain, as vdev_queue_pop() filled it
 * @len: bytes written into the chain's writable part
 *
 * Chains may be pushed in any order; the element is not visible to the
 * driver before vdev_queue_flush() or vdev_queue_notify(). Does nothing
 * once the queue is stopped.
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_push_chain(struct vdev_queue *vq,
			   const struct vdev_chain *chain, uint32_t len)
{
	vdev_queue_push_id(vq, chain->id, chain->nr_descs, len);
}

/**
 * vdev_queue_flush() - publish pushed elements, with a release barrier
 * @vq: the queue
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_flush(struct vdev_queue *vq)
{
	if (vq_stopped(vq))
		return;
	vq_flush(vq);
}

/**
 * vdev_queue_notify() - flush, and interrupt the driver if it wants one
 * @vq: the queue
 *
 * Honours the driver's event suppression: VRING_AVAIL_F_NO_INTERRUPT, or
 * used_event with EVENT_IDX, for the split ring; the driver event area's
 * flags (ENABLE, DISABLE, or DESC with EVENT_IDX and its off_wrap) for
 * the packed ring. Nothing is raised when
 * no element was published since the last interrupt, or once the queue is
 * stopped.
 *
 * Context: the queue's worker thread.
 *
 * Return: true when an interrupt was raised.
 */
bool vdev_queue_notify(struct vdev_queue *vq)
{
	const struct vdev_ring_ops *ops;

	if (vq_stopped(vq))
		return false;
	ops = vq->priv->ops;
	vq_flush(vq);
	if (!ops->need_interrupt(vq))
		return false;
	if (vq->dev && vq->dev->irq)
		vdev_interrupt_trigger(vq->dev->irq, VDEV_IRQ_QUEUE, vq->index);
	return true;
}

/**
 * vdev_queue_disable_notify() - ask the driver not to kick
 * @vq: the queue
 *
 * With EVENT_IDX this is free: the driver kicks once when it passes the
 * event index written by the last vdev_queue_enable_notify(), and not
 * again until the device writes a new one.
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_disable_notify(struct vdev_queue *vq)
{
	if (vq_stopped(vq))
		return;
	vq->priv->ops->disable_notify(vq);
}

/**
 * vdev_queue_enable_notify() - ask the driver to kick on new buffers
 * @vq: the queue
 *
 * A worker calls it before sleeping on the kick eventfd; with EVENT_IDX
 * it is the only way the driver learns it should kick again.
 *
 * Context: the queue's worker thread.
 *
 * Return: true when buffers are available already, so the caller must
 * process them instead of sleeping (no kick will come for those); false
 * once the queue is stopped.
 */
bool vdev_queue_enable_notify(struct vdev_queue *vq)
{
	if (vq_stopped(vq))
		return false;
	if (vq_resubmit_pending(vq)) {
		vq->priv->ops->enable_notify(vq);
		return true;
	}
	return vq->priv->ops->enable_notify(vq);
}

/**
 * vdev_queue_has_avail() - are chains waiting?
 * @vq: the queue
 *
 * Context: the queue's worker thread.
 *
 * Return: true when vdev_queue_pop() would return a chain or an error.
 */
bool vdev_queue_has_avail(struct vdev_queue *vq)
{
	if (vq_stopped(vq) || vq_resubmit_pending(vq))
		return true;
	return vq->priv->ops->has_avail(vq);
}

/**
 * vdev_queue_more_avail() - did the driver add buffers the device has not seen?
 * @vq: the queue
 *
 * For a device that gave chains back with vdev_queue_rewind() because they
 * were not enough (RX: a frame larger than the room): is it worth trying
 * again, or should it wait for a kick? Chains given back do not count,
 * only chains past the furthest point vdev_queue_pop() has reached. Once
 * vdev_queue_pop() has found the ring empty, this is exactly "the driver
 * added a chain since". The split ring also counts as seen every chain
 * announced by the available index it last read, popped or not. The
 * packed ring has no such index: it can only know as far as pop has
 * reached, so a chain just past the furthest chain popped counts as new
 * even when it was there before. A device that stops popping at a limit
 * of its own, before the ring is empty, must therefore not retry on this
 * alone (it would spin on a packed ring): it waits for a push to free
 * room, or pops on. Call it after vdev_queue_enable_notify(), whose
 * barrier orders it.
 *
 * Context: the queue's worker thread.
 *
 * Return: true when there are such buffers, or the queue is stopped (so
 * that the caller's next pop reports it).
 */
bool vdev_queue_more_avail(struct vdev_queue *vq)
{
	if (vq_stopped(vq) || vq_resubmit_pending(vq))
		return true;
	return vq->priv->ops->more_avail(vq);
}

/**
 * vdev_queue_is_broken() - is this queue stopped?
 * @vq: the queue
 *
 * Context: any thread.
 *
 * Return: true after malformed input was seen, and once the queue was
 * disabled, stopped by its transport or refused by vdev_queue_enable()
 * (until the next successful enable); false for a queue never given to
 * vdev_queue_enable().
 */
bool vdev_queue_is_broken(const struct vdev_queue *vq)
{
	return vq->priv && vq_stopped(vq);
}
