// SPDX-License-Identifier: GPL-2.0
/*
 * Packed virtqueue, device side (VIRTIO 1.2, section 2.8): the ring
 * format behind vq_packed_ops. lib/queue.c calls these ops only on an
 * enabled queue that is not broken (see lib/queue_priv.h for the
 * contract).
 *
 * One ring of 16-byte descriptors is shared both ways: the driver makes a
 * descriptor available by giving its AVAIL bit the value of its Driver
 * Ring Wrap Counter and its USED bit the opposite one; the device marks a
 * used descriptor with both bits equal to its Device Ring Wrap Counter.
 * Each side polls one slot: the next one after what it processed. A chain
 * (NEXT) takes consecutive slots, its buffer id is in its last
 * descriptor, and the device writes one used descriptor for it at its
 * used slot, then skips as many slots as the chain took. Completion may
 * be out of order: the used slot advances by the descriptor count of
 * whatever chain is pushed, so in-order use is not required (nor is
 * VIRTIO_F_IN_ORDER's batching used: one used descriptor per chain is
 * always valid).
 *
 * The ring is guest memory, so every field is read once into a local
 * (READ_ONCE) and checked before use. Nothing read from the ring is used
 * as an index: the device's positions are its own, below the size.
 * Buffers go through vq_chain_add(), which never hands out a pointer
 * outside a registered region (nor a writable one into ROM). Buffer ids
 * are opaque to the device: they are returned as read, and an id reused
 * while outstanding is returned twice, which can only confuse the driver
 * that did it (Documentation/virtqueue.rst).
 *
 * Ordering (the driver's side is Linux drivers/virtio/virtio_ring.c,
 * virtqueue_add_packed() and virtqueue_get_buf_ctx_packed()):
 *
 *   driver                           device
 *   write descriptors of a chain,
 *   wmb, store head flags     ---->  load-acquire head flags  [pop]
 *                                    read the rest of the chain
 *
 *   device                           driver
 *   write id, len (and the flags
 *   of later used descriptors),
 *   store-release flags of the
 *   first unpublished one     ---->  read flags, rmb, read id, len  [flush]
 *
 * and a full barrier on each side between making descriptors available
 * (or used) and reading the other side's event suppression area (2.8.10).
 */
#include <errno.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/queue.h>

#include "queue_priv.h"

#define PACKED_AVAIL	(1U << VRING_PACKED_DESC_F_AVAIL)
#define PACKED_USED	(1U << VRING_PACKED_DESC_F_USED)
#define PACKED_WRAP	(1U << VRING_PACKED_EVENT_F_WRAP_CTR)
/* Descriptor Ring Change Event Flags: the low two bits (14 reserved). */
#define PACKED_EVENT_FLAGS_MASK	0x3U

static inline struct vq_packed *to_packed(const struct vdev_queue *vq)
{
	return &vq->priv->packed;
}

/* A position as one number: the offset, plus the size on odd laps. */
static inline uint32_t packed_lin(const struct vdev_queue *vq, uint16_t off,
				  bool wrap)
{
	return off + (wrap ? 0 : vq->size);
}

/* @a - @b in a ring of 2 * size positions. */
static inline uint32_t packed_dist(const struct vdev_queue *vq, uint32_t a,
				   uint32_t b)
{
	uint32_t twice = 2U * vq->size;

	return (a + twice - b) % twice;
}

/* Offset @off advanced by @n (at most the size), wrap counter flipped at the end. */
static inline void packed_advance(const struct vdev_queue *vq, uint16_t *off,
				  bool *wrap, uint16_t n)
{
	uint32_t next = (uint32_t)*off + n;

	if (next >= vq->size) {
		next -= vq->size;
		*wrap = !*wrap;
	}
	*off = (uint16_t)next;
}

/* Made available for the lap of @wrap: AVAIL == wrap, USED != wrap. */
static inline bool packed_avail_bit(uint16_t flags, bool wrap)
{
	return !!(flags & PACKED_AVAIL) == wrap;
}

static inline bool packed_used_bit(uint16_t flags, bool wrap)
{
	return !!(flags & PACKED_USED) == wrap;
}

/* The whole event suppression structure, read once (4-byte aligned). */
static inline uint32_t packed_event_load(const struct vring_packed_desc_event *e)
{
	return le32toh(READ_ONCE(*(__force const uint32_t *)e));
}

/* The device's area is ours alone: store it only when it changes. */
static void packed_event_store(struct vq_packed *p, uint16_t off_wrap,
			       uint16_t flags)
{
	uint32_t v = off_wrap | (uint32_t)flags << 16;

	if (p->dev_event == v)
		return;
	WRITE_ONCE(*(__force uint32_t *)p->device, htole32(v));
	p->dev_event = v;
}

static void packed_reset_position(struct vdev_queue *vq, uint16_t avail,
				  bool avail_wrap, uint16_t used,
				  bool used_wrap)
{
	struct vq_packed *p = to_packed(vq);

	p->last_avail = avail;
	p->avail_wrap = avail_wrap;
	p->seen = avail;
	p->seen_wrap = avail_wrap;
	p->behind = 0;
	p->used = used;
	p->used_wrap = used_wrap;
	p->pending = false;
	p->used_count = 0;
	p->pub_count = 0;
	p->pub_lin = packed_lin(vq, used, used_wrap);
	p->sig_count = 0;
	p->sig_valid = false;
	p->dev_event = ~0U;
}

/*
 * Any size up to 32768 (checked by the generic layer); the descriptor
 * ring 16-byte aligned and both event areas 4-byte aligned, each inside
 * one region. The device writes used descriptors into the descriptor ring
 * and its own event area, so those must be writable; the driver's event
 * area is only read.
 */
static int packed_setup(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);
	struct vring_packed_desc *desc;
	struct vring_packed_desc_event *driver, *device;

	desc = vq_map_ring(vq, "descriptor", vq->desc_addr,
			   (size_t)vq->size * sizeof(*desc), 16, true);
	driver = vq_map_ring(vq, "driver event", vq->driver_addr,
			     sizeof(*driver), 4, false);
	device = vq_map_ring(vq, "device event", vq->device_addr,
			     sizeof(*device), 4, true);
	if (!desc || !driver || !device) {
		vdev_device_set_needs_reset(vq->dev,
					    "queue %u: bad ring address",
					    vq->index);
		return -EINVAL;
	}
	p->desc = desc;
	p->driver = driver;
	p->device = device;
	packed_reset_position(vq, 0, true, 0, true);
	return 0;
}

static void packed_teardown(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);

	p->desc = NULL;
	p->driver = NULL;
	p->device = NULL;
}

/*
 * An indirect table of @len bytes at @addr: every entry is a buffer, in
 * order (2.8.8: WRITE is the only flag that counts, NEXT and the id are
 * ignored), at most the queue size of them, none indirect itself.
 */
static int packed_walk_indirect(struct vdev_queue *vq,
				struct vdev_chain *chain, uint64_t addr,
				uint32_t len)
{
	const struct vring_packed_desc *table;
	unsigned int i, n = len / sizeof(*table);
	int ret;

	table = vq_map_table(vq, addr, len);
	if (!table)
		return -EIO;
	if (unlikely(n > vq->size))
		return vq_fail(vq, -EIO,
			       "indirect table of %u descriptors, queue size %u",
			       n, vq->size);
	for (i = 0; i < n; i++) {
		/* Ordered after the acquire of the head flags in pop. */
		uint64_t baddr = vq_load_le64(&table[i].addr);
		uint32_t blen = vq_load_le32(&table[i].len);
		uint16_t flags = vq_load_le16(&table[i].flags);

		if (unlikely(flags & VRING_DESC_F_INDIRECT))
			return vq_fail(vq, -EIO, "nested indirect descriptor");
		ret = vq_chain_add(vq, chain, baddr, blen,
				   flags & VRING_DESC_F_WRITE);
		if (unlikely(ret))
			return ret;
	}
	return 0;
}

/* Pop has taken a chain of @n descriptors that ends before @pos/@wrap. */
static inline void packed_popped(struct vq_packed *p, uint16_t pos, bool wrap,
				 uint16_t n)
{
	p->last_avail = pos;
	p->avail_wrap = wrap;
	if (likely(!p->behind) || p->behind <= n) {
		p->behind = 0;
		p->seen = pos;
		p->seen_wrap = wrap;
	} else {
		p->behind -= n;
	}
}

/*
 * An indirect descriptor at the pop position, whose flags pop loaded
 * (@flags, AVAIL matching the wrap counter): the whole chain is its
 * table, so it may have no NEXT.
 */
static int packed_pop_indirect(struct vdev_queue *vq, struct vdev_chain *chain,
			       uint16_t flags)
{
	struct vq_packed *p = to_packed(vq);
	const struct vring_packed_desc *d = &p->desc[p->last_avail];
	uint16_t pos = p->last_avail;
	bool wrap = p->avail_wrap;
	uint64_t addr;
	uint32_t len;
	int ret;

	if (unlikely(packed_used_bit(flags, wrap)))
		return vq_fail(vq, -EIO,
			       "descriptor %u: AVAIL/USED flags 0x%x disagree with wrap counter %u",
			       pos, flags, wrap);
	addr = vq_load_le64(&d->addr);
	len = vq_load_le32(&d->len);
	vq_chain_begin(chain, vq_load_le16(&d->id),
		       pos | (uint32_t)wrap << 15);
	if (unlikely(!vq->priv->indirect))
		return vq_fail(vq, -EIO,
			       "indirect descriptor, feature not negotiated");
	if (unlikely(flags & VRING_DESC_F_NEXT))
		return vq_fail(vq, -EIO, "indirect descriptor with NEXT");
	ret = packed_walk_indirect(vq, chain, addr, len);
	if (unlikely(ret))
		return ret;
	chain->nr_descs = 1;
	packed_advance(vq, &pos, &wrap, 1);
	packed_popped(p, pos, wrap, 1);
	return 1;
}

/*
 * The rest of a chain whose head (at @head, with NEXT) pop took: the
 * descriptors from @pos/@wrap on, each checked as the head was and none
 * indirect, the walk bounded by the queue size. Return: 1, or
 * vq_fail()'s return (the position has not moved).
 */
static inline int packed_pop_rest(struct vdev_queue *vq,
				  struct vdev_chain *chain, uint16_t head,
				  uint16_t pos, bool wrap)
{
	struct vq_packed *p = to_packed(vq);
	uint16_t n = 1, flags;
	int ret;

	do {
		const struct vring_packed_desc *d = &p->desc[pos];

		if (unlikely(n == vq->size))
			return vq_fail(vq, -EIO,
				       "chain at %u longer than %u descriptors",
				       head, vq->size);
		/* Ordered after the acquire of the head's flags. */
		flags = vq_load_le16(&d->flags);
		if (unlikely(!packed_avail_bit(flags, wrap)))
			return vq_fail(vq, -EIO,
				       "descriptor %u of the chain at %u not available (flags 0x%x, wrap %u)",
				       pos, head, flags, wrap);
		if (unlikely(packed_used_bit(flags, wrap)))
			return vq_fail(vq, -EIO,
				       "descriptor %u: AVAIL/USED flags 0x%x disagree with wrap counter %u",
				       pos, flags, wrap);
		if (unlikely(flags & VRING_DESC_F_INDIRECT))
			return vq_fail(vq, -EIO, vq->priv->indirect ?
				       "indirect descriptor inside a chain" :
				       "indirect descriptor, feature not negotiated");
		ret = vq_chain_add(vq, chain, vq_load_le64(&d->addr),
				   vq_load_le32(&d->len),
				   flags & VRING_DESC_F_WRITE);
		if (unlikely(ret))
			return ret;
		/* The buffer id is in the chain's last descriptor (2.8.6). */
		if (!(flags & VRING_DESC_F_NEXT))
			chain->id = vq_load_le16(&d->id);
		n++;
		packed_advance(vq, &pos, &wrap, 1);
	} while (flags & VRING_DESC_F_NEXT);
	chain->nr_descs = n;
	packed_popped(p, pos, wrap, n);
	return 1;
}

/*
 * Take the chain at the pop position. The head's flags are loaded with
 * acquire; every descriptor is read once, its flags checked against the
 * wrap counter of the slot it is in (the chain may cross the end of the
 * ring), and the walk stops at the queue size, which bounds it whatever
 * the driver wrote. The position moves only when the whole chain is good.
 * The head is taken here, the rest of a chain (NEXT) by
 * packed_pop_rest(), an indirect descriptor by packed_pop_indirect().
 */
static int packed_pop(struct vdev_queue *vq, struct vdev_chain *chain)
{
	struct vq_packed *p = to_packed(vq);
	uint16_t pos = p->last_avail, head = pos, flags;
	const struct vring_packed_desc *d = &p->desc[pos];
	bool wrap = p->avail_wrap;
	int ret;

	/*
	 * Pairs with the driver's wmb before it stores the head's flags:
	 * the rest of the chain is read only after this acquire.
	 */
	flags = vq_load_le16_acquire(&d->flags);
	if (!packed_avail_bit(flags, wrap))
		return 0;
	if (unlikely(flags & VRING_DESC_F_INDIRECT))
		return packed_pop_indirect(vq, chain, flags);
	if (unlikely(packed_used_bit(flags, wrap)))
		return vq_fail(vq, -EIO,
			       "descriptor %u: AVAIL/USED flags 0x%x disagree with wrap counter %u",
			       pos, flags, wrap);
	vq_chain_begin(chain, vq_load_le16(&d->id), pos | (uint32_t)wrap << 15);
	ret = vq_chain_add(vq, chain, vq_load_le64(&d->addr),
			   vq_load_le32(&d->len), flags & VRING_DESC_F_WRITE);
	if (unlikely(ret))
		return ret;
	packed_advance(vq, &pos, &wrap, 1);
	if (flags & VRING_DESC_F_NEXT)
		return packed_pop_rest(vq, chain, head, pos, wrap);
	chain->nr_descs = 1;
	packed_popped(p, pos, wrap, 1);
	return 1;
}

/*
 * @chain->ring_pos is its head's offset | wrap counter << 15. It must lie
 * between the used slot and the pop position: popped, and (the contract)
 * neither it nor anything after it pushed.
 */
static int packed_rewind(struct vdev_queue *vq, const struct vdev_chain *chain)
{
	struct vq_packed *p = to_packed(vq);
	uint32_t pos = chain->ring_pos, la, back, out;
	uint16_t off = pos & (PACKED_WRAP - 1);
	bool wrap = pos & PACKED_WRAP;

	if (pos > UINT16_MAX || off >= vq->size)
		return -EINVAL;
	la = packed_lin(vq, p->last_avail, p->avail_wrap);
	back = packed_dist(vq, la, packed_lin(vq, off, wrap));
	out = packed_dist(vq, la, packed_lin(vq, p->used, p->used_wrap));
	if (!back || back > out)
		return -EINVAL;
	p->last_avail = off;
	p->avail_wrap = wrap;
	p->behind += back;
	return 0;
}

/*
 * One used descriptor at the used slot: id, len, then the flags (both
 * bits equal to the Device Ring Wrap Counter, WRITE when something was
 * written). The first descriptor pushed since the last flush keeps its
 * flags for flush to store last, so the whole batch appears at once; the
 * driver reads the later ones only after that one.
 */
static void packed_push(struct vdev_queue *vq, uint16_t id, uint16_t nr_descs,
			uint32_t len)
{
	struct vq_packed *p = to_packed(vq);
	struct vring_packed_desc *d = &p->desc[p->used];
	uint16_t size = vq->size, flags, used;

	/* 1 to size descriptors: one compare for both bounds. */
	if (unlikely((uint16_t)(nr_descs - 1) >= size)) {
		vq_fail(vq, -EINVAL, "push of buffer %u with %u descriptors",
			id, nr_descs);
		return;
	}
	flags = len ? VRING_DESC_F_WRITE : 0;
	if (p->used_wrap)
		flags |= PACKED_AVAIL | PACKED_USED;
	vq_store_le16(&d->id, id);
	vq_store_le32(&d->len, len);
	if (p->pending) {
		/* Published by the release in flush, which comes after. */
		vq_store_le16(&d->flags, flags);
	} else {
		p->pending = true;
		p->pending_pos = p->used;
		p->pending_flags = flags;
	}
	used = p->used + nr_descs;
	if (used >= size) {
		used -= size;
		p->used_wrap = !p->used_wrap;
	}
	p->used = used;
	p->used_count += nr_descs;
}

static void packed_flush(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);

	if (!p->pending)
		return;
	/*
	 * Pairs with the driver's rmb after it sees the used flags
	 * (virtqueue_get_buf_ctx_packed()): the id and length, and every
	 * later used descriptor of the batch, are visible before.
	 */
	vq_store_le16_release(&p->desc[p->pending_pos].flags, p->pending_flags);
	p->pending = false;
	p->pub_count = p->used_count;
	p->pub_lin = packed_lin(vq, p->used, p->used_wrap);
}

/*
 * The driver's event suppression: DISABLE, ENABLE, or with EVENT_IDX the
 * descriptor-specific mode, where the driver wants an interrupt once the
 * used slot passes off_wrap (like vring_need_event() over positions of
 * the 2 * size ring that offset and wrap counter make). A reserved mode,
 * DESC without EVENT_IDX, or an offset not below the size interrupt:
 * more interrupts are always safe. Nothing when nothing was published
 * since the last call.
 */
static bool packed_need_interrupt(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);
	uint32_t ev, delta, dist, event;
	uint16_t off_wrap, off;
	bool valid;

	if (p->pub_count == p->sig_count)
		return false;
	/*
	 * The used flags must be visible before we read the driver's event
	 * area; pairs with the driver's mb between writing it and checking
	 * for used descriptors again (virtqueue_enable_cb_delayed_packed()).
	 */
	smp_mb();
	ev = packed_event_load(p->driver);
	delta = p->pub_count - p->sig_count;
	valid = p->sig_valid;
	p->sig_count = p->pub_count;
	p->sig_valid = true;

	switch ((ev >> 16) & PACKED_EVENT_FLAGS_MASK) {
	case VRING_PACKED_EVENT_FLAG_DISABLE:
		return false;
	case VRING_PACKED_EVENT_FLAG_DESC:
		if (!vq->priv->event_idx)
			return true;
		break;
	default:
		return true;
	}
	off_wrap = ev & 0xffff;
	off = off_wrap & (PACKED_WRAP - 1);
	if (!valid || off >= vq->size)
		return true;
	event = packed_lin(vq, off, off_wrap & PACKED_WRAP);
	/* How far behind the published position the event is. */
	dist = packed_dist(vq, p->pub_lin, event + 1);
	return dist < vq->size && dist < delta;
}

/* With EVENT_IDX this is free, as for the split ring. */
static void packed_disable_notify(struct vdev_queue *vq)
{
	if (vq->priv->event_idx)
		return;
	packed_event_store(to_packed(vq), 0, VRING_PACKED_EVENT_FLAG_DISABLE);
}

/* Is the descriptor at @off made available for the lap of @wrap? */
static inline bool packed_avail_at(struct vdev_queue *vq, uint16_t off,
				   bool wrap)
{
	return packed_avail_bit(vq_load_le16(&to_packed(vq)->desc[off].flags),
				wrap);
}

/*
 * With EVENT_IDX the kick is asked for at the furthest position pop has
 * reached (@seen), like the split ring's avail_event = the available
 * index it last read: after a rewind @last_avail is behind it, at chains
 * the driver made available long ago, and a driver kicks only when it
 * makes the event's descriptor available (vring_need_event() in
 * virtqueue_kick_prepare_packed()), so it would never kick again.
 */
static bool packed_enable_notify(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);

	if (vq->priv->event_idx)
		packed_event_store(p, p->seen |
				   (p->seen_wrap ? PACKED_WRAP : 0),
				   VRING_PACKED_EVENT_FLAG_DESC);
	else
		packed_event_store(p, 0, VRING_PACKED_EVENT_FLAG_ENABLE);
	/*
	 * The event area must be visible before we look at the ring again;
	 * pairs with the driver's mb between making a descriptor available
	 * and reading the device area (virtqueue_kick_prepare_packed()).
	 */
	smp_mb();
	return packed_avail_at(vq, p->last_avail, p->avail_wrap);
}

/* A head with AVAIL matching: a chain, or a malformed one pop reports. */
static bool packed_has_avail(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);

	return packed_avail_at(vq, p->last_avail, p->avail_wrap);
}

/*
 * The ring has no index that tells how far the driver got: only the
 * descriptor at the furthest position pop reached says whether there is
 * more. Chains past a point where pop stopped without finding the ring
 * empty count as new.
 */
static bool packed_more_avail(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);

	return packed_avail_at(vq, p->seen, p->seen_wrap);
}

static void packed_get_state(const struct vdev_queue *vq,
			     struct vdev_queue_state *state)
{
	const struct vq_packed *p = to_packed(vq);

	state->last_avail_idx = p->last_avail;
	state->avail_wrap_counter = p->avail_wrap;
	state->used_idx = p->used;
	state->used_wrap_counter = p->used_wrap;
}

static int packed_set_state(struct vdev_queue *vq,
			    const struct vdev_queue_state *state)
{
	if (state->last_avail_idx >= vq->size || state->used_idx >= vq->size)
		return -EINVAL;
	packed_reset_position(vq, state->last_avail_idx,
			      state->avail_wrap_counter, state->used_idx,
			      state->used_wrap_counter);
	return 0;
}

const struct vdev_ring_ops vq_packed_ops = {
	.name = "packed",
	.setup = packed_setup,
	.teardown = packed_teardown,
	.pop = packed_pop,
	.rewind = packed_rewind,
	.push = packed_push,
	.flush = packed_flush,
	.need_interrupt = packed_need_interrupt,
	.disable_notify = packed_disable_notify,
	.enable_notify = packed_enable_notify,
	.has_avail = packed_has_avail,
	.more_avail = packed_more_avail,
	.get_state = packed_get_state,
	.set_state = packed_set_state,
};
