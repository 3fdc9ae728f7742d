/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private: the virtqueue layer's per-queue state and the interface every
 * ring format implements (lib/queue.c calls it; lib/split.c is the split
 * ring, lib/packed.c the packed ring). Not installed.
 *
 * The contract (Documentation/virtqueue.rst, "Ring formats"):
 *
 * - lib/queue.c owns the generic part: it picks the format at enable,
 *   takes the guest memory reference, keeps the broken flag, and calls
 *   no data-path op on a queue that is broken or not enabled. Ops
 *   therefore never check either; they report malformed input with
 *   vq_fail() and return what it returns.
 * - Every value an op reads from guest memory is read once (vq_load*())
 *   into a local and checked before use. Buffers go through
 *   vq_chain_add(), which applies the checks common to both formats.
 * - Ops run on the queue's worker thread only, except @get_state and
 *   @set_state, which run with the worker stopped.
 */
#ifndef _VDEV_LIB_QUEUE_PRIV_H
#define _VDEV_LIB_QUEUE_PRIV_H

#include <endian.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

#include "compiler.h"

/* Largest queue either ring format allows (VIRTIO 1.2, 2.7 and 2.8). */
#define VQ_MAX_SIZE	32768
/* Rings a format maps (three in both: vq_map_ring()). */
#define VQ_MAX_PINNED	3

/**
 * struct vdev_ring_ops - one ring format (const, one instance per format)
 * @name: "split", "packed": for messages
 * @setup: check @vq->size and the three ring addresses against the
 *         format's rules, map the rings with vq_map_ring(), and start at
 *         position 0 (wrap counters 1 for packed). On a bad setting log
 *         (vq_map_ring() does) and return -EINVAL; the caller marks the
 *         device DEVICE_NEEDS_RESET. Nothing is held on failure.
 * @teardown: forget the ring pointers (the caller drops the memory)
 * @pop: take the next available chain into @chain: 1, 0 when none is
 *       available, or vq_fail()'s return. Fill @chain with vq_chain_begin()
 *       and vq_chain_add(); set @chain->id, @chain->nr_descs (descriptors
 *       the chain occupies in the ring, an indirect table counting one)
 *       and @chain->ring_pos (what @rewind needs to come back here)
 * @rewind: make @chain, and every chain popped after it, available again:
 *          the next @pop returns @chain. The caller guarantees none of
 *          those was pushed, so for the packed ring no used descriptor
 *          was written at or past @chain's position. 0, or -EINVAL when
 *          @chain->ring_pos cannot be a chain popped since the last
 *          setup/set_state (a device bug, logged by the caller)
 * @push: write one used element for buffer @id, @nr_descs descriptors
 *        long (packed: the used descriptor goes at the next used slot,
 *        which then advances by @nr_descs), @len bytes written. Not yet
 *        visible to the driver
 * @flush: publish every pushed element, with release ordering
 * @need_interrupt: after @flush: does the driver want an interrupt for
 *                  what was published since the last call? (event
 *                  suppression, EVENT_IDX); false when nothing new
 * @disable_notify: ask the driver not to kick
 * @enable_notify: ask the driver to kick on new buffers (with EVENT_IDX:
 *                 at the next one), full barrier, then return whether a
 *                 chain is available already (the caller must not sleep)
 * @has_avail: would @pop return a chain (or find the ring malformed)?
 * @more_avail: has the driver made buffers available that the device has
 *              not looked at yet: beyond the furthest chain @pop returned
 *              and, when @pop last found the ring empty, since then?
 *              Rewinding never makes this true; see vdev_queue_more_avail()
 * @get_state: the position as struct vdev_queue_state (after a flush)
 * @set_state: continue from @state: the next @pop takes
 *             @state->last_avail_idx, the next @push writes at
 *             @state->used_idx. Reads no guest memory; -EINVAL for values
 *             the format cannot hold (packed: an offset not below the
 *             size; split: a wrap counter set)
 */
struct vdev_ring_ops {
	const char *name;
	int (*setup)(struct vdev_queue *vq);
	void (*teardown)(struct vdev_queue *vq);
	int (*pop)(struct vdev_queue *vq, struct vdev_chain *chain);
	int (*rewind)(struct vdev_queue *vq, const struct vdev_chain *chain);
	void (*push)(struct vdev_queue *vq, uint16_t id, uint16_t nr_descs,
		     uint32_t len);
	void (*flush)(struct vdev_queue *vq);
	bool (*need_interrupt)(struct vdev_queue *vq);
	void (*disable_notify)(struct vdev_queue *vq);
	bool (*enable_notify)(struct vdev_queue *vq);
	bool (*has_avail)(struct vdev_queue *vq);
	bool (*more_avail)(struct vdev_queue *vq);
	void (*get_state)(const struct vdev_queue *vq,
			  struct vdev_queue_state *state);
	int (*set_state)(struct vdev_queue *vq,
			 const struct vdev_queue_state *state);
};

/**
 * struct vq_split - split ring state (lib/split.c)
 * @desc: host pointer to the descriptor table
 * @avail: host pointer to the available ring
 * @used: host pointer to the used ring
 * @last_avail_idx: next available ring entry the device will consume
 * @avail_idx_shadow: last value read from avail->idx
 * @used_idx: next used ring index the device will publish
 * @published_used: used->idx as last published
 * @signalled_used: used index at the last interrupt (EVENT_IDX)
 * @signalled_used_valid: @signalled_used is meaningful
 */
struct vq_split {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail_idx;
	uint16_t avail_idx_shadow;
	uint16_t used_idx;
	uint16_t published_used;
	uint16_t signalled_used;
	bool signalled_used_valid;
};

/**
 * struct vq_packed - packed ring state (lib/packed.c)
 * @desc: host pointer to the descriptor ring (the device writes used
 *        descriptors into it)
 * @driver: driver event suppression area, only read by the device
 * @device: device event suppression area, only written by the device
 * @last_avail: ring offset of the next descriptor pop reads
 * @avail_lap: the AVAIL and USED bits an available descriptor has at
 *             @last_avail (AVAIL = the Driver Ring Wrap Counter, USED its
 *             opposite), compared with a descriptor's flags in one go
 * @seen: furthest offset pop has reached (the end of the furthest chain
 *        it returned); kept only while @behind is not 0, else it is
 *        @last_avail
 * @seen_lap: @avail_lap at @seen (while @behind)
 * @behind: slots @last_avail is behind @seen (after a rewind)
 * @used: ring offset of the next used descriptor push writes
 * @used_lap: the AVAIL and USED bits a used descriptor at @used gets
 *            (both the Device Ring Wrap Counter)
 * @pending: a pushed used descriptor is not yet published
 * @pending_pos: offset of the first unpublished used descriptor, whose
 *               flags flush stores last
 * @pending_flags: those flags
 * @used_count: descriptors made used, free-running
 * @pub_count: @used_count at the last flush
 * @pub_lin: position of @used at the last flush, 0 .. 2 * size - 1
 *           (offset, plus size when the wrap counter is 0)
 * @sig_count: @pub_count when need_interrupt last looked
 * @sig_valid: @sig_count is meaningful
 * @dev_event: device event area as last written (off_wrap | flags << 16),
 *             or ~0 when not written since setup
 */
struct vq_packed {
	struct vring_packed_desc *desc;
	struct vring_packed_desc_event *driver;
	struct vring_packed_desc_event *device;
	uint16_t last_avail;
	uint16_t avail_lap;
	uint16_t seen;
	uint16_t seen_lap;
	uint32_t behind;
	uint16_t used;
	uint16_t used_lap;
	bool pending;
	uint16_t pending_pos;
	uint16_t pending_flags;
	uint32_t used_count;
	uint32_t pub_count;
	uint32_t pub_lin;
	uint32_t sig_count;
	bool sig_valid;
	uint32_t dev_event;
};

/**
 * struct vdev_queue_private - what vdev keeps per queue
 * @ops: the ring format, from vdev_queue_enable() to vdev_queue_disable()
 * @vq: the queue using this state while enabled, else NULL
 * @mem: guest memory the rings live in (reference held while enabled)
 * @event_idx: VIRTIO_RING_F_EVENT_IDX negotiated
 * @indirect: VIRTIO_RING_F_INDIRECT_DESC negotiated
 * @broken: the driver wrote something malformed; the queue is stopped.
 *          Read from any thread, written by the worker and the transport
 * @rl: rate limit for this queue's messages. Initialised once, when the
 *      device is created, and never at enable or reset: a guest that
 *      resets in a loop with bad rings cannot flood the VMM's log
 * @pinned: guest-physical address of each ring vq_map_ring() mapped; its
 *          region is pinned (lib/mem_priv.h) until the queue is disabled
 * @nr_pinned: entries in @pinned
 * @inflight_region: inflight tracking region attached by the transport
 *                   (lib/inflight_priv.h), or NULL; kept across resets
 * @inflight_size: queue size @inflight_region has room for
 * @inflight: inflight tracking of the current start, or NULL
 * @split: split ring state (@ops is &vq_split_ops)
 * @packed: packed ring state (@ops is &vq_packed_ops)
 *
 * One per queue index, owned by the device (vq_private_alloc()), so that
 * it outlives every guest reset; @vq->priv points here while enabled and
 * until the transport calls vdev_queue_init() again. A new ring format
 * adds its state to the union.
 */
struct vdev_queue_private {
	const struct vdev_ring_ops *ops;
	struct vdev_queue *vq;
	struct vdev_mem *mem;
	bool event_idx;
	bool indirect;
	atomic_bool broken;
	struct vdev_ratelimit rl;
	uint64_t pinned[VQ_MAX_PINNED];
	unsigned int nr_pinned;
	void *inflight_region;
	uint16_t inflight_size;
	struct vq_inflight *inflight;
	union {
		struct vq_split split;
		struct vq_packed packed;
	};
};

struct vq_inflight;

extern const struct vdev_ring_ops vq_split_ops;
extern const struct vdev_ring_ops vq_packed_ops;

/* The device's per-queue state: for lib/core.c (init and last put). */
struct vdev_queue_private *vq_private_alloc(unsigned int nr_queues);
void vq_private_free(struct vdev_queue_private *p);

/*
 * Stop @vq as a broken queue does, without DEVICE_NEEDS_RESET: mmio's
 * QueueReset until the per-queue reset of the device takes its place.
 */
void vq_stop(struct vdev_queue *vq);

/* ---- helpers for the ring formats (lib/queue.c) ---- */

__vdev_printf(3, 4)
int vq_fail(struct vdev_queue *vq, int err, const char *fmt, ...);
void *vq_map_ring(struct vdev_queue *vq, const char *what, uint64_t addr,
		  size_t len, size_t align, bool write);
void *vq_map_table(struct vdev_queue *vq, uint64_t addr, uint32_t len);
int vq_chain_add_slow(struct vdev_queue *vq, struct vdev_chain *chain,
		      uint64_t addr, uint32_t len, bool write);

/*
 * Add one descriptor's buffer, the guest range [@addr, @addr + @len)
 * that the device will read (or, @write not 0, write), to @chain; 0, or
 * vq_fail()'s return. Every format's buffers come through here, and the
 * checks they share are made here: no zero length, 4 GiB per chain at
 * most, readable buffers before writable ones, the whole range in guest
 * memory (and, to be written, not in a read-only region), one iovec per
 * region it touches, within @chain->max_iov.
 *
 * Inline, for the common case only: no access platform, and the buffer
 * in one region. It makes the checks that decide that case and changes
 * nothing in @chain unless all pass; anything else (another region after
 * this one, the IOMMU, a full iovec array, an error and its message) is
 * left to vq_chain_add_slow(), which makes every check again. Inline, the
 * ring's walk keeps its registers across the one call that remains, the
 * translation, instead of saving them for a call per descriptor. @write
 * is the descriptor's WRITE flag as the caller has it (not made a bool)
 * and the length is used as one 64-bit value throughout, so that the
 * compiler keeps one copy of each across that call.
 */
static inline int vq_chain_add(struct vdev_queue *vq,
			       struct vdev_chain *chain, uint64_t addr,
			       uint32_t len, unsigned int write)
{
	unsigned int nr = chain->nr_read + chain->nr_write;
	uint64_t want = len, avail;
	void *p;

	if (unlikely(!want || nr >= chain->max_iov ||
		     (uint64_t)chain->read_len + chain->write_len + want >
		     UINT32_MAX || (!write && chain->write_len) ||
		     vq->dev->access_platform))
		goto out_slow;
	/* NULL as well when [addr, addr + len) wraps. */
	if (write)
		p = vdev_mem_translate_partial_write(vq->priv->mem, addr, want,
						     &avail);
	else
		p = vdev_mem_translate_partial(vq->priv->mem, addr, want,
					       &avail);
	if (unlikely(!p || avail != want))
		goto out_slow;
	chain->iov[nr].iov_base = p;
	chain->iov[nr].iov_len = want;
	if (write) {
		chain->nr_write++;
		chain->write_len += want;
	} else {
		chain->nr_read++;
		chain->read_len += want;
	}
	return 0;

out_slow:
	return vq_chain_add_slow(vq, chain, addr, len, write);
}

/*
 * For lib/inflight.c: the split ring's chain headed at @head (its buffer
 * id), and the packed ring's indirect table, as pop takes them.
 */
int vq_split_walk_head(struct vdev_queue *vq, struct vdev_chain *chain,
		       uint16_t head);
int vq_packed_walk_indirect(struct vdev_queue *vq, struct vdev_chain *chain,
			    uint64_t addr, uint32_t len);

/* Start filling @chain with the chain of buffer @id at @ring_pos. */
static inline void vq_chain_begin(struct vdev_chain *chain, uint16_t id,
				  uint32_t ring_pos)
{
	chain->id = id;
	chain->nr_descs = 0;
	chain->ring_pos = ring_pos;
	chain->nr_read = 0;
	chain->nr_write = 0;
	chain->read_len = 0;
	chain->write_len = 0;
}

static inline bool vq_is_broken(const struct vdev_queue *vq)
{
	return atomic_load_explicit(&vq->priv->broken, memory_order_relaxed);
}

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

/* The same for the packed ring's __le fields (struct vring_packed_desc). */
static inline uint16_t vq_load_le16(const __le16 *p)
{
	return le16toh(READ_ONCE(*(__force const uint16_t *)p));
}

static inline uint16_t vq_load_le16_acquire(const __le16 *p)
{
	/* Pairs with the other side's release of the same flags. */
	return le16toh(smp_load_acquire((__force const uint16_t *)p));
}

static inline uint32_t vq_load_le32(const __le32 *p)
{
	return le32toh(READ_ONCE(*(__force const uint32_t *)p));
}

static inline uint64_t vq_load_le64(const __le64 *p)
{
	return le64toh(READ_ONCE(*(__force const uint64_t *)p));
}

static inline void vq_store_le16(__le16 *p, uint16_t v)
{
	WRITE_ONCE(*(__force uint16_t *)p, htole16(v));
}

static inline void vq_store_le16_release(__le16 *p, uint16_t v)
{
	/* Pairs with the other side's acquire of the same flags. */
	smp_store_release((__force uint16_t *)p, htole16(v));
}

static inline void vq_store_le32(__le32 *p, uint32_t v)
{
	WRITE_ONCE(*(__force uint32_t *)p, htole32(v));
}

#endif /* _VDEV_LIB_QUEUE_PRIV_H */
