// SPDX-License-Identifier: GPL-2.0
/*
 * Split virtqueue, device side (VIRTIO 1.2, section 2.7).
 *
 * The rings live in guest memory and the driver can change any byte of
 * them at any time, so every shared field is read exactly once into a
 * local (READ_ONCE) and checked before use. Nothing read from the rings
 * is ever used as a host pointer or an index without a bounds check, and
 * buffer addresses go through vdev_mem_translate_partial() or
 * vdev_mem_translate_partial_write(), which never return a pointer
 * outside a registered region.
 *
 * Translation is direction-aware: what the device writes (the used ring,
 * device-writable buffers) must lie in regions without
 * VDEV_MEM_F_READONLY, what it only reads (descriptor table, available
 * ring, indirect tables, device-readable buffers) may lie in ROM. A
 * driver that points a write at read-only memory breaks the queue like
 * any other malformed ring; vdev never stores there.
 *
 * Ordering (the driver's side is Linux drivers/virtio/virtio_ring.c):
 *
 *   driver                           device
 *   write desc[], avail->ring[]
 *   store-release avail->idx  ---->  load-acquire avail->idx  [pop, once
 *                                    read avail->ring[], desc[] per batch]
 *
 *   device                           driver
 *   write used->ring[]
 *   store-release used->idx   ---->  load-acquire used->idx   [flush]
 *                                    read used->ring[]
 *
 * and a full barrier on each side between publishing an index and
 * reading the other side's event index / flags (notification
 * suppression, section 2.7.7 and 2.7.10).
 *
 * A queue is used by one worker thread at a time; only @vq->broken is
 * read from other threads.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

#include "compiler.h"

/* Largest queue the split ring format allows (VIRTIO 1.2, 2.7). */
#define VQ_MAX_SIZE	32768

/*
 * Single accesses to ring fields, converted from little-endian (VIRTIO 1.0
 * and later; legacy devices are not supported). The __force casts drop
 * sparse's __virtio types for the atomic builtins behind READ_ONCE().
 */
static inline uint16_t vq_load16(const __virtio16 *p)
{
	return le16toh(READ_ONCE(*(__force const uint16_t *)p));
}

static inline uint16_t vq_load16_acquire(const __virtio16 *p)
{
	/* Pairs with the other side's release of the same index. */
	return le16toh(smp_load_acquire((__force const uint16_t *)p));
}

static inline uint32_t vq_load32(const __virtio32 *p)
{
	return le32toh(READ_ONCE(*(__force const uint32_t *)p));
}

static inline uint64_t vq_load64(const __virtio64 *p)
{
	return le64toh(READ_ONCE(*(__force const uint64_t *)p));
}

static inline void vq_store16(__virtio16 *p, uint16_t v)
{
	WRITE_ONCE(*(__force uint16_t *)p, htole16(v));
}

static inline void vq_store16_release(__virtio16 *p, uint16_t v)
{
	/* Pairs with the other side's acquire of the same index. */
	smp_store_release((__force uint16_t *)p, htole16(v));
}

static inline void vq_store32(__virtio32 *p, uint32_t v)
{
	WRITE_ONCE(*(__force uint32_t *)p, htole32(v));
}

/* &avail->ring[size]: used_event, written by the driver. */
static inline __virtio16 *vq_used_event(const struct vdev_queue *vq)
{
	return &vq->avail->ring[vq->size];
}

/* &used->ring[size]: avail_event, written by the device. */
static inline __virtio16 *vq_avail_event(const struct vdev_queue *vq)
{
	return (__virtio16 *)&vq->used->ring[vq->size];
}

static inline size_t vq_desc_bytes(uint16_t size)
{
	return (size_t)size * sizeof(struct vring_desc);
}

/* flags, idx, ring[size], used_event */
static inline size_t vq_avail_bytes(uint16_t size)
{
	return sizeof(struct vring_avail) + ((size_t)size + 1) * sizeof(__virtio16);
}

/* flags, idx, ring[size], avail_event */
static inline size_t vq_used_bytes(uint16_t size)
{
	return sizeof(struct vring_used) +
	       (size_t)size * sizeof(struct vring_used_elem) + sizeof(__virtio16);
}

/*
 * vq_fail() - the driver wrote something malformed: stop the queue
 *
 * The first caller marks the queue broken and the device
 * DEVICE_NEEDS_RESET (which logs, rate-limited, and raises a config
 * interrupt); later calls only return.
 */
static __vdev_printf(3, 4)
int vq_fail(struct vdev_queue *vq, int err, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (atomic_exchange_explicit(&vq->broken, true, memory_order_relaxed))
		return err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vdev_device_set_needs_reset(vq->dev, "queue %u: %s", vq->index, msg);
	return err;
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
 * @write (the used ring) it must not be in read-only memory. The reasons
 * are logged through the device's rate limit, which a reset does not
 * renew: a driver can retry DRIVER_OK with bad rings as often as it
 * likes.
 */
static void *vq_map_ring(struct vdev_queue *vq, struct vdev_device *dev,
			 struct vdev_mem *mem, const char *what, uint64_t addr,
			 size_t len, size_t align, bool write)
{
	const char *why;
	uint64_t gpa;
	void *p;

	if (addr & (align - 1)) {
		why = "misaligned";
		goto out_bad;
	}
	if (vq_to_gpa(dev, addr, len, &gpa)) {
		why = "not mapped by the IOMMU";
		goto out_bad;
	}
	/* The whole ring must be one contiguous host mapping. */
	p = write ? vdev_mem_translate_write(mem, gpa, len) :
		    vdev_mem_translate(mem, gpa, len);
	if (!p) {
		if (write && vdev_mem_translate(mem, gpa, len))
			why = "in read-only memory";
		else
			why = "not inside one guest memory region";
		goto out_bad;
	}
	if ((uintptr_t)p & (align - 1)) {
		why = "mapped at a misaligned host address";
		goto out_bad;
	}
	return p;

out_bad:
	if (vdev_ratelimit_ok(&dev->rl))
		vdev_log(VDEV_LOG_ERR,
			 "%s: queue %u: %s ring 0x%llx+%zu (align %zu): %s",
			 dev->name, vq->index, what, (unsigned long long)addr,
			 len, align, why);
	return NULL;
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
 * vdev_queue_init() - reset a queue to its power-on state
 * @vq: the queue
 * @index: its index
 * @max_size: QueueNumMax
 *
 * For transports. Sets @size to @max_size, clears addresses and ready,
 * and @kick_fd to -1.
 */
void vdev_queue_init(struct vdev_queue *vq, unsigned int index,
		     uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->max_size = max_size;
	vq->size = max_size;
	vq->kick_fd = -1;
	atomic_init(&vq->broken, false);
}

/**
 * vdev_queue_setup() - validate the transport's settings and map the rings
 * @vq: the queue, configured by the transport
 * @dev: owning device (for feature bits, access platform, error reporting)
 * @mem: guest memory; a reference is taken on success
 *
 * Called by vdev_device_activate() for every ready queue. Checks that
 * @vq->size is a power of two no larger than @vq->max_size, that each ring
 * is aligned (descriptors 16, available 2, used 4) and lies entirely inside
 * one guest memory region (after translation through the device's access
 * platform, if any), and that the used ring, which the device writes, is
 * not in a read-only one. A bad setting was written by the driver, so it
 * also marks the device DEVICE_NEEDS_RESET.
 *
 * Return: 0, or -EINVAL (with a log message) for a bad setting or a
 * NULL @mem.
 */
int vdev_queue_setup(struct vdev_queue *vq, struct vdev_device *dev,
		     struct vdev_mem *mem)
{
	uint16_t size = vq->size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	vq->dev = dev;
	if (!mem) {
		if (vdev_ratelimit_ok(&dev->rl))
			vdev_log(VDEV_LOG_ERR, "%s: queue %u: no guest memory",
				 dev->name, vq->index);
		return -EINVAL;
	}
	if (!size || (size & (size - 1)) || size > vq->max_size ||
	    size > VQ_MAX_SIZE) {
		vdev_device_set_needs_reset(dev, "queue %u: bad size %u (max %u)",
					    vq->index, size, vq->max_size);
		return -EINVAL;
	}

	desc = vq_map_ring(vq, dev, mem, "descriptor", vq->desc_addr,
			   vq_desc_bytes(size), VRING_DESC_ALIGN_SIZE, false);
	avail = vq_map_ring(vq, dev, mem, "available", vq->avail_addr,
			    vq_avail_bytes(size), VRING_AVAIL_ALIGN_SIZE, false);
	used = vq_map_ring(vq, dev, mem, "used", vq->used_addr,
			   vq_used_bytes(size), VRING_USED_ALIGN_SIZE, true);
	if (!desc || !avail || !used) {
		vdev_device_set_needs_reset(dev, "queue %u: bad ring address",
					    vq->index);
		return -EINVAL;
	}

	vq->mem = vdev_mem_get(mem);
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_avail_idx = 0;
	vq->avail_idx_shadow = 0;
	vq->used_idx = 0;
	vq->published_used = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->event_idx = vdev_device_feature_acked(dev, VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = vdev_device_feature_acked(dev,
						 VIRTIO_RING_F_INDIRECT_DESC);
	atomic_store_explicit(&vq->broken, false, memory_order_relaxed);
	return 0;
}

/**
 * vdev_queue_teardown() - drop what vdev_queue_setup() took
 * @vq: the queue
 */
void vdev_queue_teardown(struct vdev_queue *vq)
{
	vdev_mem_put(vq->mem);
	vq->mem = NULL;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
}

/*
 * Add the guest range [@addr, @addr + @len) to @chain, one iovec per
 * guest memory region it touches. Adjacent regions are fine; a gap or
 * the end of guest memory is not, and neither is a read-only region
 * for a buffer the device will @write.
 */
static int vq_map_buf(struct vdev_queue *vq, struct vdev_chain *chain,
		      uint64_t addr, uint32_t len, bool write, unsigned int *nr)
{
	uint64_t gpa, avail;
	void *p;

	if (unlikely(vq_to_gpa(vq->dev, addr, len, &gpa)))
		return vq_fail(vq, -EIO,
			       "buffer 0x%llx+%u not mapped by the IOMMU",
			       (unsigned long long)addr, len);
	if (unlikely(gpa + len < gpa))
		return vq_fail(vq, -EIO, "buffer 0x%llx+%u wraps",
			       (unsigned long long)gpa, len);

	while (len) {
		if (write)
			p = vdev_mem_translate_partial_write(vq->mem, gpa, len,
							     &avail);
		else
			p = vdev_mem_translate_partial(vq->mem, gpa, len,
						       &avail);
		if (unlikely(!p || !avail)) {
			if (write &&
			    vdev_mem_translate_partial(vq->mem, gpa, len, &avail))
				return vq_fail(vq, -EIO,
					       "buffer 0x%llx+%u in read-only memory",
					       (unsigned long long)gpa, len);
			return vq_fail(vq, -EIO,
				       "buffer 0x%llx+%u outside guest memory",
				       (unsigned long long)gpa, len);
		}
		if (unlikely(*nr >= chain->max_iov))
			return vq_fail(vq, -ENOSPC,
				       "chain needs more than %u iovecs",
				       chain->max_iov);
		chain->iov[*nr].iov_base = p;
		chain->iov[*nr].iov_len = avail;
		(*nr)++;
		gpa += avail;
		len -= avail;
	}
	return 0;
}

/* Host pointer to an indirect table of @len bytes; NULL after vq_fail(). */
static struct vring_desc *vq_map_indirect(struct vdev_queue *vq,
					  uint64_t addr, uint32_t len)
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
	p = vdev_mem_translate(vq->mem, gpa, len);
	if (unlikely(!p || ((uintptr_t)p & (__alignof__(struct vring_desc) - 1)))) {
		vq_fail(vq, -EIO,
			"indirect table 0x%llx+%u not in guest memory or misaligned",
			(unsigned long long)gpa, len);
		return NULL;
	}
	return p;
}

/*
 * Walk the chain starting at @head. Every descriptor is read once into
 * locals; the total number of descriptors visited, indirect ones
 * included, is bounded by the queue size, which also catches loops.
 */
static int vq_walk_chain(struct vdev_queue *vq, struct vdev_chain *chain,
			 uint16_t head)
{
	const struct vring_desc *table = vq->desc;
	unsigned int table_size = vq->size;
	unsigned int count = 0, nr = 0;
	uint64_t total = 0;
	bool in_indirect = false;
	uint16_t i = head;
	int ret;

	chain->head = head;
	chain->nr_read = 0;
	chain->nr_write = 0;
	chain->read_len = 0;
	chain->write_len = 0;

	for (;;) {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;

		if (unlikely(++count > vq->size))
			return vq_fail(vq, -EIO,
				       "chain at head %u longer than %u descriptors (loop?)",
				       head, vq->size);
		/* Pairs with the driver's writes before its avail->idx store. */
		addr = vq_load64(&table[i].addr);
		len = vq_load32(&table[i].len);
		flags = vq_load16(&table[i].flags);
		next = vq_load16(&table[i].next);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (unlikely(!vq->indirect))
				return vq_fail(vq, -EIO,
					       "indirect descriptor, feature not negotiated");
			if (unlikely(in_indirect))
				return vq_fail(vq, -EIO, "nested indirect descriptor");
			if (unlikely(flags & VRING_DESC_F_NEXT))
				return vq_fail(vq, -EIO,
					       "indirect descriptor with NEXT");
			table = vq_map_indirect(vq, addr, len);
			if (!table)
				return -EIO;
			table_size = len / sizeof(struct vring_desc);
			in_indirect = true;
			i = 0;
			continue;
		}

		if (unlikely(!len))
			return vq_fail(vq, -EIO,
				       "zero-length descriptor in chain at head %u",
				       head);
		total += len;
		if (unlikely(total > UINT32_MAX))
			return vq_fail(vq, -EIO,
				       "chain at head %u longer than 4 GiB", head);

		if (flags & VRING_DESC_F_WRITE) {
			ret = vq_map_buf(vq, chain, addr, len, true, &nr);
			if (unlikely(ret))
				return ret;
			chain->write_len += len;
		} else {
			if (unlikely(chain->write_len))
				return vq_fail(vq, -EIO,
					       "readable descriptor after a writable one");
			ret = vq_map_buf(vq, chain, addr, len, false, &nr);
			if (unlikely(ret))
				return ret;
			chain->read_len += len;
			chain->nr_read = nr;
		}

		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (unlikely(next >= table_size))
			return vq_fail(vq, -EIO, "next %u out of range %u",
				       next, table_size);
		i = next;
	}
	chain->nr_write = nr - chain->nr_read;
	return 0;
}

/*
 * Refresh the shadow of avail->idx. Returns the number of chains
 * available, or -EIO when the driver moved the index by more than the
 * queue size.
 */
static int vq_fetch_avail(struct vdev_queue *vq)
{
	/*
	 * Pairs with the driver's wmb before it stores avail->idx: ring
	 * entries and descriptors are read only after this acquire.
	 */
	uint16_t idx = vq_load16_acquire(&vq->avail->idx);
	uint16_t n = idx - vq->last_avail_idx;

	if (unlikely(n > vq->size))
		return vq_fail(vq, -EIO,
			       "avail idx %u moved %u past %u, queue size %u",
			       idx, n, vq->last_avail_idx, vq->size);
	vq->avail_idx_shadow = idx;
	return n;
}

/**
 * vdev_queue_pop() - take the next available descriptor chain
 * @vq: the queue
 * @chain: filled with the chain's iovecs (initialised by vdev_chain_init())
 *
 * avail->idx is read only when every chain seen at the last read has
 * been taken, so a burst costs one read of the shared index.
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
	uint16_t head;
	int ret;

	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return -EIO;

	if (vq->last_avail_idx == vq->avail_idx_shadow) {
		ret = vq_fetch_avail(vq);
		if (ret <= 0)
			return ret;
	}

	/* Ordered after the acquire of avail->idx in vq_fetch_avail(). */
	head = vq_load16(&vq->avail->ring[vq->last_avail_idx &
					     (vq->size - 1)]);
	if (unlikely(head >= vq->size))
		return vq_fail(vq, -EIO, "head %u out of range %u", head,
			       vq->size);

	ret = vq_walk_chain(vq, chain, head);
	if (unlikely(ret))
		return ret;
	vq->last_avail_idx++;
	return 1;
}

/**
 * vdev_queue_unpop() - give back the last @n chains taken by pop
 * @vq: the queue
 * @n: how many
 *
 * For a device that took buffers it cannot use yet (RX with too little
 * room): they will be returned by the next vdev_queue_pop() again.
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_unpop(struct vdev_queue *vq, unsigned int n)
{
	vq->last_avail_idx -= (uint16_t)n;
}

/**
 * vdev_queue_push() - put a used element, not yet visible to the driver
 * @vq: the queue
 * @head: head index of the chain
 * @len: bytes written into the chain's writable part
 *
 * Does nothing once the queue is stopped.
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_push(struct vdev_queue *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e;

	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return;
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	vq_store32(&e->id, head);
	vq_store32(&e->len, len);
	vq->used_idx++;
}

/**
 * vdev_queue_flush() - publish pushed elements (used->idx), with barrier
 * @vq: the queue
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_flush(struct vdev_queue *vq)
{
	if (vq->published_used == vq->used_idx)
		return;
	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return;
	/* Pairs with the driver's rmb after it reads used->idx. */
	vq_store16_release(&vq->used->idx, vq->used_idx);
	vq->published_used = vq->used_idx;
}

/**
 * vdev_queue_notify() - flush, and interrupt the driver if it wants one
 * @vq: the queue
 *
 * Honours VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX.
 * Nothing is raised when no element was published since the last
 * interrupt, or once the queue is stopped.
 *
 * Context: the queue's worker thread.
 *
 * Return: true when an interrupt was raised.
 */
bool vdev_queue_notify(struct vdev_queue *vq)
{
	uint16_t old, new;
	bool need;

	vdev_queue_flush(vq);
	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return false;

	/* signalled_used starts at 0: nothing published, nothing to say. */
	new = vq->published_used;
	old = vq->signalled_used;
	if (old == new)
		return false;

	/*
	 * used->idx must be visible before we read the driver's event index
	 * or flags; pairs with the driver's mb between writing used_event
	 * (or clearing NO_INTERRUPT) and re-reading used->idx.
	 */
	smp_mb();
	if (vq->event_idx) {
		uint16_t event = vq_load16(vq_used_event(vq));

		need = !vq->signalled_used_valid ||
		       vring_need_event(event, new, old);
	} else {
		need = !(vq_load16(&vq->avail->flags) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	}
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!need)
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
 * avail_event written by the last vdev_queue_enable_notify(), and not
 * again until the device writes a new one.
 *
 * Context: the queue's worker thread.
 */
void vdev_queue_disable_notify(struct vdev_queue *vq)
{
	uint16_t flags;

	if (vq->event_idx ||
	    atomic_load_explicit(&vq->broken, memory_order_relaxed))
		return;
	/* used->flags is written only by the device. */
	flags = vq_load16(&vq->used->flags);
	if (!(flags & VRING_USED_F_NO_NOTIFY))
		vq_store16(&vq->used->flags, flags | VRING_USED_F_NO_NOTIFY);
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
 * Return: true when buffers arrived meanwhile, so the caller must process
 * them instead of sleeping (no kick will come for those); false once the
 * queue is stopped.
 */
bool vdev_queue_enable_notify(struct vdev_queue *vq)
{
	uint16_t flags, idx;

	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return false;
	if (vq->event_idx) {
		vq_store16(vq_avail_event(vq), vq->avail_idx_shadow);
	} else {
		flags = vq_load16(&vq->used->flags);
		if (flags & VRING_USED_F_NO_NOTIFY)
			vq_store16(&vq->used->flags,
				   flags & ~VRING_USED_F_NO_NOTIFY);
	}
	/*
	 * The event index (or flag) must be visible before we look at
	 * avail->idx again; pairs with the driver's mb between storing
	 * avail->idx and reading avail_event / used->flags.
	 */
	smp_mb();
	idx = vq_load16(&vq->avail->idx);
	return idx != vq->last_avail_idx;
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
	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return true;
	if (vq->last_avail_idx != vq->avail_idx_shadow)
		return true;
	/* Pairs with the driver's wmb before it stores avail->idx. */
	return vq_load16(&vq->avail->idx) != vq->last_avail_idx;
}

/**
 * vdev_queue_is_broken() - has the driver broken this queue?
 * @vq: the queue
 *
 * Context: any thread.
 *
 * Return: true after malformed input was seen (until the next
 * vdev_queue_setup()).
 */
bool vdev_queue_is_broken(const struct vdev_queue *vq)
{
	return atomic_load_explicit(&vq->broken, memory_order_relaxed);
}
