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
#define PACKED_AU	(PACKED_AVAIL | PACKED_USED)
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

/*
 * A lap is kept as the AVAIL and USED bits a descriptor has in it, so
 * that one compare checks both and a wrap is one XOR with PACKED_AU. The
 * driver's lap (@avail_lap): AVAIL = wrap counter, USED = its opposite.
 * The device's lap (@used_lap): both equal to the wrap counter. In both
 * AVAIL is the wrap counter.
 */
static inline uint16_t packed_avail_lap(bool wrap)
{
	return wrap ? PACKED_AVAIL : PACKED_USED;
}

static inline uint16_t packed_used_lap(bool wrap)
{
	return wrap ? PACKED_AU : 0;
}

static inline bool packed_lap_wrap(uint16_t lap)
{
	return lap & PACKED_AVAIL;
}

/* Made available in the driver's lap @lap: AVAIL and USED as in @lap. */
static inline bool packed_is_avail(uint16_t flags, uint16_t lap)
{
	return (flags & PACKED_AU) == lap;
}

/* AVAIL alone as in @lap: a chain, or a malformed one pop reports. */
static inline bool packed_avail_bit(uint16_t flags, uint16_t lap)
{
	return !((flags ^ lap) & PACKED_AVAIL);
}

/* The chain's ring_pos: head offset | wrap counter << 15. */
static inline uint32_t packed_ring_pos(unsigned int pos, uint16_t lap)
{
	return pos | (uint32_t)(lap & PACKED_AVAIL) <<
		     (VRING_PACKED_EVENT_F_WRAP_CTR - VRING_PACKED_DESC_F_AVAIL);
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
	p->avail_lap = packed_avail_lap(avail_wrap);
	p->behind = 0;
	p->used = used;
	p->used_lap = packed_used_lap(used_wrap);
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

int vq_packed_walk_indirect(struct vdev_queue *vq, struct vdev_chain *chain,
			    uint64_t addr, uint32_t len)
{
	if (unlikely(!vq->priv->indirect))
		return vq_fail(vq, -EIO,
			       "indirect descriptor, feature not negotiated");
	return packed_walk_indirect(vq, chain, addr, len);
}

/*
 * Pop has taken a chain of @n descriptors that ends before @pos in the
 * driver's lap @lap. @seen is kept only while @behind is not 0 (after a
 * rewind); otherwise it is @last_avail (packed_seen()).
 */
static inline void packed_popped(struct vq_packed *p, unsigned int pos,
				 uint16_t lap, unsigned int n)
{
	p->last_avail = pos;
	p->avail_lap = lap;
	if (unlikely(p->behind))
		p->behind = p->behind > n ? p->behind - n : 0;
}

/* The furthest position pop has reached, and its lap. */
static inline uint16_t packed_seen(const struct vq_packed *p, uint16_t *lap)
{
	if (p->behind) {
		*lap = p->seen_lap;
		return p->seen;
	}
	*lap = p->avail_lap;
	return p->last_avail;
}

/* The descriptor at @pos has AVAIL, but USED disagrees with it. */
static noinline __cold int packed_fail_lap(struct vdev_queue *vq,
					   unsigned int pos,
					   uint16_t flags, uint16_t lap)
{
	return vq_fail(vq, -EIO,
		       "descriptor %u: AVAIL/USED flags 0x%x disagree with wrap counter %u",
		       pos, flags, packed_lap_wrap(lap));
}

/*
 * An indirect descriptor at the pop position, whose flags pop loaded
 * (@flags, AVAIL and USED as the lap wants): the whole chain is its
 * table, so it may have no NEXT.
 */
static noinline int packed_pop_indirect(struct vdev_queue *vq,
					struct vdev_chain *chain,
					uint16_t flags)
{
	struct vq_packed *p = to_packed(vq);
	const struct vring_packed_desc *d = &p->desc[p->last_avail];
	unsigned int pos = p->last_avail;
	uint16_t lap = p->avail_lap;
	uint64_t addr;
	uint32_t len;
	int ret;

	addr = vq_load_le64(&d->addr);
	len = vq_load_le32(&d->len);
	vq_chain_begin(chain, vq_load_le16(&d->id), packed_ring_pos(pos, lap));
	if (unlikely(!vq->priv->indirect))
		return vq_fail(vq, -EIO,
			       "indirect descriptor, feature not negotiated");
	if (unlikely(flags & VRING_DESC_F_NEXT))
		return vq_fail(vq, -EIO, "indirect descriptor with NEXT");
	ret = packed_walk_indirect(vq, chain, addr, len);
	if (unlikely(ret))
		return ret;
	chain->nr_descs = 1;
	if (++pos == vq->size) {
		pos = 0;
		lap ^= PACKED_AU;
	}
	packed_popped(p, pos, lap, 1);
	return 1;
}

/*
 * A chain whose head @d, at the pop position @pos in the driver's lap
 * @lap, pop has loaded (@flags: AVAIL and USED as the lap wants, NEXT,
 * not INDIRECT): the head, then the descriptors after it, each checked
 * as the head was and none indirect, the walk bounded by the queue size.
 * The walk is a pointer that stops at @stop: first the end of the ring,
 * where it wraps, then the head's slot, where the chain would have more
 * than size descriptors (before the wrap it cannot: from @pos to the end
 * there are at most size). The head is added before the loop, its fields
 * loaded before vq_chain_begin(), so that the compiler folds the checks
 * in vq_chain_add() whose answer the empty chain gives; the descriptors
 * are counted as they are added, and the end position is the head's
 * plus that count. Return: 1, or vq_fail()'s return (the position has
 * not moved).
 */
static noinline int packed_pop_chain(struct vdev_queue *vq,
				     struct vdev_chain *chain,
				     const struct vring_packed_desc *d,
				     uint16_t flags, unsigned int pos,
				     uint16_t lap)
{
	const struct vring_packed_desc *desc = to_packed(vq)->desc;
	const struct vring_packed_desc *stop = desc + vq->size;
	uint64_t addr = vq_load_le64(&d->addr);
	uint32_t len = vq_load_le32(&d->len);
	unsigned int end;
	int ret;

	vq_chain_begin(chain, vq_load_le16(&d->id), packed_ring_pos(pos, lap));
	chain->nr_descs = 1;
	ret = vq_chain_add(vq, chain, addr, len, flags & VRING_DESC_F_WRITE);
	if (unlikely(ret))
		return ret;
	do {
		if (unlikely(++d == stop)) {
			desc = to_packed(vq)->desc;
			if (stop != desc + vq->size || !pos)
				return vq_fail(vq, -EIO,
					       "chain at %u longer than %u descriptors",
					       pos, vq->size);
			/* Wrapped: the head's slot is the bound now. */
			d = desc;
			stop = desc + pos;
			lap ^= PACKED_AU;
		}
		/* Ordered after the acquire of the head's flags. */
		flags = vq_load_le16(&d->flags);
		if (unlikely(!packed_is_avail(flags, lap))) {
			end = d - to_packed(vq)->desc;
			if (!packed_avail_bit(flags, lap))
				return vq_fail(vq, -EIO,
					       "descriptor %u of the chain at %u not available (flags 0x%x, wrap %u)",
					       end, pos, flags,
					       packed_lap_wrap(lap));
			return packed_fail_lap(vq, end, flags, lap);
		}
		if (unlikely(flags & VRING_DESC_F_INDIRECT))
			return vq_fail(vq, -EIO, vq->priv->indirect ?
				       "indirect descriptor inside a chain" :
				       "indirect descriptor, feature not negotiated");
		ret = vq_chain_add(vq, chain, vq_load_le64(&d->addr),
				   vq_load_le32(&d->len),
				   flags & VRING_DESC_F_WRITE);
		if (unlikely(ret))
			return ret;
		chain->nr_descs++;
	} while (flags & VRING_DESC_F_NEXT);
	/* The buffer id is in the chain's last descriptor (2.8.6). */
	chain->id = vq_load_le16(&d->id);
	/*
	 * The slot after @d: past the end of the ring when the chain ends
	 * at or after it (1 to size descriptors from @pos < size), and in
	 * the next lap only when @d was the ring's last slot (@lap is @d's,
	 * which the walk changed if the chain wrapped before).
	 */
	end = pos + chain->nr_descs;
	if (end >= vq->size) {
		end -= vq->size;
		if (!end)
			lap ^= PACKED_AU;
	}
	packed_popped(to_packed(vq), end, lap, chain->nr_descs);
	return 1;
}

/*
 * A chain of one descriptor, @d at the pop position @pos in the lap @lap,
 * whose flags pop has loaded and checked (@flags: no NEXT, no INDIRECT).
 * Its fields are loaded before vq_chain_begin(), so that the compiler
 * folds the checks in vq_chain_add() whose answer the empty chain gives;
 * the position is read again after it, so that only what that needs is
 * live across its call into the guest memory map.
 */
static noinline int packed_pop_one(struct vdev_queue *vq,
				   struct vdev_chain *chain,
				   const struct vring_packed_desc *d,
				   uint16_t flags, unsigned int pos,
				   uint16_t lap)
{
	uint64_t addr = vq_load_le64(&d->addr);
	uint32_t len = vq_load_le32(&d->len);
	struct vq_packed *p;
	int ret;

	vq_chain_begin(chain, vq_load_le16(&d->id), packed_ring_pos(pos, lap));
	chain->nr_descs = 1;
	ret = vq_chain_add(vq, chain, addr, len, flags & VRING_DESC_F_WRITE);
	if (unlikely(ret))
		return ret;
	p = to_packed(vq);
	pos = p->last_avail + 1;
	lap = p->avail_lap;
	if (unlikely(pos == vq->size)) {
		pos = 0;
		lap ^= PACKED_AU;
	}
	packed_popped(p, pos, lap, 1);
	return 1;
}

/*
 * Take the chain at the pop position. The head's flags are loaded with
 * acquire and checked in one compare: AVAIL and USED as the lap wants
 * (AVAIL alone wrong: the ring is empty there). Every descriptor is read
 * once, its flags checked against the lap of the slot it is in (the chain
 * may cross the end of the ring), and the walk stops at the queue size,
 * which bounds it whatever the driver wrote. The position moves only
 * when the whole chain is good. The head is checked here, and the rest
 * goes to a function of its own, each with only the registers it needs:
 * packed_pop_one() takes a chain of one descriptor, packed_pop_chain() a
 * NEXT chain, packed_pop_indirect() an indirect descriptor.
 */
static int packed_pop(struct vdev_queue *vq, struct vdev_chain *chain)
{
	struct vq_packed *p = to_packed(vq);
	unsigned int pos = p->last_avail;
	uint16_t lap = p->avail_lap, flags;
	const struct vring_packed_desc *d = &p->desc[pos];

	/*
	 * Pairs with the driver's wmb before it stores the head's flags:
	 * the rest of the chain is read only after this acquire.
	 */
	flags = vq_load_le16_acquire(&d->flags);
	if (unlikely(!packed_is_avail(flags, lap))) {
		if (!packed_avail_bit(flags, lap))
			return 0;
		return packed_fail_lap(vq, pos, flags, lap);
	}
	if (flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) {
		if (unlikely(flags & VRING_DESC_F_INDIRECT))
			return packed_pop_indirect(vq, chain, flags);
		return packed_pop_chain(vq, chain, d, flags, pos, lap);
	}
	return packed_pop_one(vq, chain, d, flags, pos, lap);
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
	la = packed_lin(vq, p->last_avail, packed_lap_wrap(p->avail_lap));
	back = packed_dist(vq, la, packed_lin(vq, off, wrap));
	out = packed_dist(vq, la, packed_lin(vq, p->used,
					     packed_lap_wrap(p->used_lap)));
	if (!back || back > out)
		return -EINVAL;
	if (!p->behind) {
		p->seen = p->last_avail;
		p->seen_lap = p->avail_lap;
	}
	p->last_avail = off;
	p->avail_lap = packed_avail_lap(wrap);
	p->behind += back;
	return 0;
}

/*
 * The used descriptor for buffer @id at offset @used: id, len, then the
 * flags (both bits as the device's lap wants, WRITE when something was
 * written). The first descriptor pushed since the last flush keeps its
 * flags for flush to store last, so the whole batch appears at once; the
 * driver reads the later ones only after that one.
 */
static inline void packed_put_used(struct vq_packed *p, unsigned int used,
				   uint16_t id, uint32_t len)
{
	struct vring_packed_desc *d = &p->desc[used];
	uint16_t flags = p->used_lap | (len ? VRING_DESC_F_WRITE : 0);

	vq_store_le16(&d->id, id);
	vq_store_le32(&d->len, len);
	if (p->pending) {
		/* Published by the release in flush, which comes after. */
		vq_store_le16(&d->flags, flags);
	} else {
		p->pending = true;
		p->pending_pos = used;
		p->pending_flags = flags;
	}
}

/* A device bug: the chain cannot have taken @nr_descs slots. */
static noinline __cold void packed_push_bad(struct vdev_queue *vq,
					    uint16_t id, uint16_t nr_descs)
{
	vq_fail(vq, -EINVAL, "push of buffer %u with %u descriptors", id,
		nr_descs);
}

/*
 * One used descriptor at the used slot (packed_put_used()), which then
 * advances by @nr_descs: 1 to size descriptors, checked before anything
 * is written.
 */
static void packed_push(struct vdev_queue *vq, uint16_t id, uint16_t nr_descs,
			uint32_t len)
{
	unsigned int size = vq->size, used;
	struct vq_packed *p;

	if (unlikely(!nr_descs || nr_descs > size)) {
		packed_push_bad(vq, id, nr_descs);
		return;
	}
	p = to_packed(vq);
	used = p->used;
	packed_put_used(p, used, id, len);
	used += nr_descs;
	if (unlikely(used >= size)) {
		used -= size;
		p->used_lap ^= PACKED_AU;
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
	p->pub_lin = packed_lin(vq, p->used, packed_lap_wrap(p->used_lap));
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

/* Is the descriptor at @off made available in the driver's lap @lap? */
static inline bool packed_avail_at(struct vdev_queue *vq, uint16_t off,
				   uint16_t lap)
{
	return packed_avail_bit(vq_load_le16(&to_packed(vq)->desc[off].flags),
				lap);
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
	uint16_t seen, lap;

	if (vq->priv->event_idx) {
		seen = packed_seen(p, &lap);
		packed_event_store(p, packed_ring_pos(seen, lap),
				   VRING_PACKED_EVENT_FLAG_DESC);
	} else {
		packed_event_store(p, 0, VRING_PACKED_EVENT_FLAG_ENABLE);
	}
	/*
	 * The event area must be visible before we look at the ring again;
	 * pairs with the driver's mb between making a descriptor available
	 * and reading the device area (virtqueue_kick_prepare_packed()).
	 */
	smp_mb();
	return packed_avail_at(vq, p->last_avail, p->avail_lap);
}

/* A head with AVAIL matching: a chain, or a malformed one pop reports. */
static bool packed_has_avail(struct vdev_queue *vq)
{
	struct vq_packed *p = to_packed(vq);

	return packed_avail_at(vq, p->last_avail, p->avail_lap);
}

/*
 * The ring has no index that tells how far the driver got: only the
 * descriptor at the furthest position pop reached says whether there is
 * more. Chains past a point where pop stopped without finding the ring
 * empty count as new.
 */
static bool packed_more_avail(struct vdev_queue *vq)
{
	uint16_t seen, lap;

	seen = packed_seen(to_packed(vq), &lap);
	return packed_avail_at(vq, seen, lap);
}

static void packed_get_state(const struct vdev_queue *vq,
			     struct vdev_queue_state *state)
{
	const struct vq_packed *p = to_packed(vq);

	state->last_avail_idx = p->last_avail;
	state->avail_wrap_counter = packed_lap_wrap(p->avail_lap);
	state->used_idx = p->used;
	state->used_wrap_counter = packed_lap_wrap(p->used_lap);
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
