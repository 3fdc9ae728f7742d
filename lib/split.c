// SPDX-License-Identifier: GPL-2.0
/*
 * Split virtqueue, device side (VIRTIO 1.2, section 2.7): the ring format
 * behind vq_split_ops. lib/queue.c calls these ops only on an enabled
 * queue that is not broken (see lib/queue_priv.h for the contract).
 *
 * The rings live in guest memory and the driver can change any byte of
 * them at any time, so every shared field is read exactly once into a
 * local (READ_ONCE) and checked before use. Nothing read from the rings
 * is ever used as a host pointer or an index without a bounds check, and
 * buffer addresses go through vq_chain_add(), which never hands out a
 * pointer outside a registered region (nor a writable one into ROM).
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
 */
#include <errno.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/queue.h>

#include "queue_priv.h"

static inline struct vq_split *to_split(const struct vdev_queue *vq)
{
	return &vq->priv->split;
}

/* &avail->ring[size]: used_event, written by the driver. */
static inline __virtio16 *vq_used_event(const struct vdev_queue *vq)
{
	return &to_split(vq)->avail->ring[vq->size];
}

/* &used->ring[size]: avail_event, written by the device. */
static inline __virtio16 *vq_avail_event(const struct vdev_queue *vq)
{
	return (__virtio16 *)&to_split(vq)->used->ring[vq->size];
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

static void split_reset_position(struct vq_split *s, uint16_t avail,
				 uint16_t used)
{
	s->last_avail_idx = avail;
	s->avail_idx_shadow = avail;
	s->used_idx = used;
	s->published_used = used;
	s->signalled_used = used;
	s->signalled_used_valid = false;
}

/*
 * The size must be a power of two (the generic layer checked the rest),
 * each ring aligned and inside one region, the used ring writable.
 */
static int split_setup(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);
	uint16_t size = vq->size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	if (size & (size - 1)) {
		vdev_device_set_needs_reset(vq->dev,
					    "queue %u: bad size %u (max %u)",
					    vq->index, size, vq->max_size);
		return -EINVAL;
	}
	desc = vq_map_ring(vq, "descriptor", vq->desc_addr,
			   vq_desc_bytes(size), VRING_DESC_ALIGN_SIZE, false);
	avail = vq_map_ring(vq, "available", vq->driver_addr,
			    vq_avail_bytes(size), VRING_AVAIL_ALIGN_SIZE, false);
	used = vq_map_ring(vq, "used", vq->device_addr,
			   vq_used_bytes(size), VRING_USED_ALIGN_SIZE, true);
	if (!desc || !avail || !used) {
		vdev_device_set_needs_reset(vq->dev,
					    "queue %u: bad ring address",
					    vq->index);
		return -EINVAL;
	}
	s->desc = desc;
	s->avail = avail;
	s->used = used;
	split_reset_position(s, 0, 0);
	return 0;
}

static void split_teardown(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);

	s->desc = NULL;
	s->avail = NULL;
	s->used = NULL;
}

/*
 * Walk the chain starting at @head. Every descriptor is read once into
 * locals; the total number of descriptors visited, indirect ones
 * included, is bounded by the queue size, which also catches loops.
 */
static int split_walk_chain(struct vdev_queue *vq, struct vdev_chain *chain,
			    uint16_t head)
{
	const struct vring_desc *table = to_split(vq)->desc;
	unsigned int table_size = vq->size;
	unsigned int count = 0;
	bool in_indirect = false;
	uint16_t i = head;
	int ret;

	for (;;) {
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;

		if (unlikely(++count > vq->size))
			return vq_fail(vq, -EIO,
				       "chain at head %u longer than %u descriptors (loop?)",
				       head, vq->size);
		if (!in_indirect)
			chain->nr_descs++;
		/* Pairs with the driver's writes before its avail->idx store. */
		addr = vq_load64(&table[i].addr);
		len = vq_load32(&table[i].len);
		flags = vq_load16(&table[i].flags);
		next = vq_load16(&table[i].next);

		if (flags & VRING_DESC_F_INDIRECT) {
			if (unlikely(!vq->priv->indirect))
				return vq_fail(vq, -EIO,
					       "indirect descriptor, feature not negotiated");
			if (unlikely(in_indirect))
				return vq_fail(vq, -EIO, "nested indirect descriptor");
			if (unlikely(flags & VRING_DESC_F_NEXT))
				return vq_fail(vq, -EIO,
					       "indirect descriptor with NEXT");
			table = vq_map_table(vq, addr, len);
			if (!table)
				return -EIO;
			table_size = len / sizeof(struct vring_desc);
			in_indirect = true;
			i = 0;
			continue;
		}

		ret = vq_chain_add(vq, chain, addr, len,
				   flags & VRING_DESC_F_WRITE);
		if (unlikely(ret))
			return ret;

		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		if (unlikely(next >= table_size))
			return vq_fail(vq, -EIO, "next %u out of range %u",
				       next, table_size);
		i = next;
	}
}

int vq_split_walk_head(struct vdev_queue *vq, struct vdev_chain *chain,
		       uint16_t head)
{
	vq_chain_begin(chain, head, 0);
	return split_walk_chain(vq, chain, head);
}

/*
 * Refresh the shadow of avail->idx. Returns the number of chains
 * available, or -EIO when the driver moved the index by more than the
 * queue size.
 */
static int split_fetch_avail(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);
	/*
	 * Pairs with the driver's wmb before it stores avail->idx: ring
	 * entries and descriptors are read only after this acquire.
	 */
	uint16_t idx = vq_load16_acquire(&s->avail->idx);
	uint16_t n = idx - s->last_avail_idx;

	if (unlikely(n > vq->size))
		return vq_fail(vq, -EIO,
			       "avail idx %u moved %u past %u, queue size %u",
			       idx, n, s->last_avail_idx, vq->size);
	s->avail_idx_shadow = idx;
	return n;
}

/*
 * avail->idx is read only when every chain seen at the last read has
 * been taken, so a burst costs one read of the shared index.
 */
static int split_pop(struct vdev_queue *vq, struct vdev_chain *chain)
{
	struct vq_split *s = to_split(vq);
	uint16_t head;
	int ret;

	if (s->last_avail_idx == s->avail_idx_shadow) {
		ret = split_fetch_avail(vq);
		if (ret <= 0)
			return ret;
	}

	/* Ordered after the acquire of avail->idx in split_fetch_avail(). */
	head = vq_load16(&s->avail->ring[s->last_avail_idx & (vq->size - 1)]);
	if (unlikely(head >= vq->size))
		return vq_fail(vq, -EIO, "head %u out of range %u", head,
			       vq->size);

	vq_chain_begin(chain, head, s->last_avail_idx);
	ret = split_walk_chain(vq, chain, head);
	if (unlikely(ret))
		return ret;
	s->last_avail_idx++;
	return 1;
}

/* @chain->ring_pos is the available index it was taken from. */
static int split_rewind(struct vdev_queue *vq, const struct vdev_chain *chain)
{
	struct vq_split *s = to_split(vq);
	uint16_t back = s->last_avail_idx - (uint16_t)chain->ring_pos;

	if (chain->ring_pos > UINT16_MAX || !back || back > VQ_MAX_SIZE)
		return -EINVAL;
	s->last_avail_idx = (uint16_t)chain->ring_pos;
	return 0;
}

/* @nr_descs is not needed: the driver knows its chain by the head. */
static void split_push(struct vdev_queue *vq, uint16_t id, uint16_t nr_descs,
		       uint32_t len)
{
	struct vq_split *s = to_split(vq);
	struct vring_used_elem *e;

	e = &s->used->ring[s->used_idx & (vq->size - 1)];
	vq_store32(&e->id, id);
	vq_store32(&e->len, len);
	s->used_idx++;
}

static void split_flush(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);

	if (s->published_used == s->used_idx)
		return;
	/* Pairs with the driver's rmb after it reads used->idx. */
	vq_store16_release(&s->used->idx, s->used_idx);
	s->published_used = s->used_idx;
}

/*
 * VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX; nothing when
 * no element was published since the last interrupt.
 */
static bool split_need_interrupt(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);
	uint16_t old, new;
	bool need;

	/* signalled_used starts at used_idx: nothing published, nothing to say. */
	new = s->published_used;
	old = s->signalled_used;
	if (old == new)
		return false;

	/*
	 * used->idx must be visible before we read the driver's event index
	 * or flags; pairs with the driver's mb between writing used_event
	 * (or clearing NO_INTERRUPT) and re-reading used->idx.
	 */
	smp_mb();
	if (vq->priv->event_idx) {
		uint16_t event = vq_load16(vq_used_event(vq));

		need = !s->signalled_used_valid ||
		       vring_need_event(event, new, old);
	} else {
		need = !(vq_load16(&s->avail->flags) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	}
	s->signalled_used = new;
	s->signalled_used_valid = true;
	return need;
}

static void split_disable_notify(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);
	uint16_t flags;

	if (vq->priv->event_idx)
		return;
	/* used->flags is written only by the device. */
	flags = vq_load16(&s->used->flags);
	if (!(flags & VRING_USED_F_NO_NOTIFY))
		vq_store16(&s->used->flags, flags | VRING_USED_F_NO_NOTIFY);
}

static bool split_enable_notify(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);
	uint16_t flags, idx;

	if (vq->priv->event_idx) {
		vq_store16(vq_avail_event(vq), s->avail_idx_shadow);
	} else {
		flags = vq_load16(&s->used->flags);
		if (flags & VRING_USED_F_NO_NOTIFY)
			vq_store16(&s->used->flags,
				   flags & ~VRING_USED_F_NO_NOTIFY);
	}
	/*
	 * The event index (or flag) must be visible before we look at
	 * avail->idx again; pairs with the driver's mb between storing
	 * avail->idx and reading avail_event / used->flags.
	 */
	smp_mb();
	idx = vq_load16(&s->avail->idx);
	return idx != s->last_avail_idx;
}

static bool split_has_avail(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);

	if (s->last_avail_idx != s->avail_idx_shadow)
		return true;
	/* Pairs with the driver's wmb before it stores avail->idx. */
	return vq_load16(&s->avail->idx) != s->last_avail_idx;
}

/* Past the available index last read: seen includes every chain it announced. */
static bool split_more_avail(struct vdev_queue *vq)
{
	struct vq_split *s = to_split(vq);

	return vq_load16(&s->avail->idx) != s->avail_idx_shadow;
}

static void split_get_state(const struct vdev_queue *vq,
			    struct vdev_queue_state *state)
{
	const struct vq_split *s = to_split(vq);

	state->last_avail_idx = s->last_avail_idx;
	state->used_idx = s->used_idx;
	state->avail_wrap_counter = false;
	state->used_wrap_counter = false;
}

/* Any pair of free-running indices is a position; wrap counters are not. */
static int split_set_state(struct vdev_queue *vq,
			   const struct vdev_queue_state *state)
{
	if (state->avail_wrap_counter || state->used_wrap_counter)
		return -EINVAL;
	split_reset_position(to_split(vq), state->last_avail_idx,
			     state->used_idx);
	return 0;
}

const struct vdev_ring_ops vq_split_ops = {
	.name = "split",
	.setup = split_setup,
	.teardown = split_teardown,
	.pop = split_pop,
	.rewind = split_rewind,
	.push = split_push,
	.flush = split_flush,
	.need_interrupt = split_need_interrupt,
	.disable_notify = split_disable_notify,
	.enable_notify = split_enable_notify,
	.has_avail = split_has_avail,
	.more_avail = split_more_avail,
	.get_state = split_get_state,
	.set_state = split_set_state,
};
