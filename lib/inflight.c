// SPDX-License-Identifier: GPL-2.0
/*
 * Inflight I/O tracking: what the device has popped and not yet returned
 * used, kept in shared memory that outlives the process (vhost-user's
 * GET/SET_INFLIGHT_FD), so that a back-end started again after a crash
 * resumes those chains first (QEMU docs/interop/vhost-user.rst,
 * "Inflight I/O tracking"; the layouts are in lib/inflight_priv.h).
 *
 * lib/queue.c calls in here only for a queue whose private state has a
 * region attached: at vdev_queue_set_state() (start: initialise or
 * recover the region), at every pop, rewind, push and publication, and at
 * disable. This process only writes the region while the queue runs; it
 * reads it only at start, where every value is checked, since the
 * front-end can write it too. The host-side bookkeeping (free entries,
 * which pop a chain was, the chains to resubmit) lives in struct
 * vq_inflight, in this process's memory.
 *
 * Crash consistency. The process may die between any two stores; what a
 * start finds must then still say exactly which chains the driver has
 * not had back:
 *
 * - pop: a chain is recorded (counter; for packed, a copy of each of its
 *   descriptors) before its head's inflight byte is set, with release;
 *   a chain not yet marked is simply popped again from the ring;
 * - push and publication: split records each push in the batch list
 *   (next, last_batch_head) and, after the used ring's idx is published,
 *   clears the heads, then sets used_idx: a start that finds used_idx
 *   behind used->idx clears the heads of the difference (the spec's
 *   procedure). Packed marks each pushed head (the spec's padding byte),
 *   then records the used position after it in used_idx; after the used
 *   descriptors are published it clears the heads and sets old_used_idx:
 *   a start that finds the two positions apart looks at the ring at
 *   old_used_idx: published, the marked heads are done; not, they are
 *   still in flight.
 *
 * Position. Every chain popped is either used or in flight, so a start
 * continues the ring at used + chains in flight (split: used->idx plus
 * their number; packed: the published used position plus their
 * descriptors), whatever base the front-end sent: after a back-end died
 * its base cannot be right (QEMU falls back to the used index).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/queue.h>

#include "inflight_priv.h"
#include "queue_priv.h"

/* A resubmitted chain's ring_pos: this bit, and its index in the list. */
#define VQ_POS_RESUBMIT	(1U << 31)
#define NO_ENTRY	0xffff

#define PACKED_AVAIL	(1U << VRING_PACKED_DESC_F_AVAIL)
#define PACKED_USED	(1U << VRING_PACKED_DESC_F_USED)

/**
 * struct vq_copy - a packed descriptor as the region recorded it
 * @addr: address
 * @len: length
 * @flags: flags
 * @id: buffer id
 */
struct vq_copy {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t id;
};

/**
 * struct vq_resubmit - a chain in flight at start
 * @counter: its pop order
 * @head: its head entry (split: head descriptor)
 */
struct vq_resubmit {
	uint64_t counter;
	uint16_t head;
};

/**
 * struct vq_inflight - the host side of one queue's tracking
 * @packed: the packed layout (else split)
 * @size: queue size, entries in every array below
 * @split: the region, split layout
 * @pk: the region, packed layout
 * @counter: the next pop's counter
 * @base: @counter at start: pops from the ring since have counters from
 *        here
 * @start: the ring's position at start, once the resubmitted chains are
 *         accounted for
 * @log: head entry of the pop with counter c, at c % @size (rewind)
 * @counter_of: per head entry: its pop's counter
 * @batch: heads pushed since the last publication
 * @nr_batch: entries in @batch
 * @resubmit: chains in flight at start, oldest first
 * @nr_resubmit: entries in @resubmit
 * @next_resubmit: the next one pop returns
 * @entry_of_id: packed: buffer id to head entry (NO_ENTRY: none)
 * @id_of: packed: per head entry, the chain's buffer id
 * @next: packed: entry links, the free list's and each chain's
 * @copy: packed: per entry, the descriptor recorded (resubmission)
 * @live: packed: per entry, heads a chain in flight
 * @free_head: packed: first free entry, NO_ENTRY when none
 * @nr_free: packed: free entries
 */
struct vq_inflight {
	bool packed;
	uint16_t size;
	struct vq_inflight_split *split;
	struct vq_inflight_packed *pk;
	uint64_t counter;
	uint64_t base;
	struct vdev_queue_state start;
	uint16_t *log;
	uint64_t *counter_of;
	uint16_t *batch;
	unsigned int nr_batch;
	struct vq_resubmit *resubmit;
	unsigned int nr_resubmit;
	unsigned int next_resubmit;
	uint16_t *entry_of_id;
	uint16_t *id_of;
	uint16_t *next;
	struct vq_copy *copy;
	uint8_t *live;
	uint16_t free_head;
	unsigned int nr_free;
};

void vq_inflight_attach(struct vdev_device *dev, unsigned int index,
			void *region, uint16_t queue_size)
{
	struct vdev_queue_private *p = &dev->queue_private[index];

	p->inflight_region = region;
	p->inflight_size = region ? queue_size : 0;
}

bool vq_inflight_resubmit_pending(const struct vq_inflight *in)
{
	return in->next_resubmit < in->nr_resubmit;
}

static void inflight_free(struct vq_inflight *in)
{
	if (!in)
		return;
	free(in->log);
	free(in->counter_of);
	free(in->batch);
	free(in->resubmit);
	free(in->entry_of_id);
	free(in->id_of);
	free(in->next);
	free(in->copy);
	free(in->live);
	free(in);
}

static struct vq_inflight *inflight_alloc(uint16_t size, bool packed)
{
	struct vq_inflight *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->size = size;
	in->packed = packed;
	in->log = calloc(size, sizeof(*in->log));
	in->counter_of = calloc(size, sizeof(*in->counter_of));
	in->batch = calloc(size, sizeof(*in->batch));
	in->resubmit = calloc(size, sizeof(*in->resubmit));
	if (!in->log || !in->counter_of || !in->batch || !in->resubmit)
		goto out_free;
	if (!packed)
		return in;
	/* Packed buffer ids are any 16-bit value. */
	in->entry_of_id = malloc(65536 * sizeof(*in->entry_of_id));
	in->id_of = calloc(size, sizeof(*in->id_of));
	in->next = calloc(size, sizeof(*in->next));
	in->copy = calloc(size, sizeof(*in->copy));
	in->live = calloc(size, sizeof(*in->live));
	if (!in->entry_of_id || !in->id_of || !in->next || !in->copy ||
	    !in->live)
		goto out_free;
	memset(in->entry_of_id, 0xff, 65536 * sizeof(*in->entry_of_id));
	return in;

out_free:
	inflight_free(in);
	return NULL;
}

static int inflight_bad(struct vdev_queue *vq, const char *what,
			unsigned int a, unsigned int b)
{
	if (vdev_ratelimit_ok(&vq->priv->rl))
		vdev_log(VDEV_LOG_ERR, "%s: queue %u: inflight region: %s (%u, %u)",
			 vq->dev->name, vq->index, what, a, b);
	return -EINVAL;
}

static int resubmit_cmp(const void *a, const void *b)
{
	const struct vq_resubmit *x = a, *y = b;

	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

/* The newest counter of the chains in flight, plus one. */
static void inflight_sort(struct vq_inflight *in)
{
	if (in->nr_resubmit > 1)
		qsort(in->resubmit, in->nr_resubmit, sizeof(*in->resubmit),
		      resubmit_cmp);
	in->counter = in->nr_resubmit ?
		      in->resubmit[in->nr_resubmit - 1].counter + 1 : 0;
	in->base = in->counter;
}

/* ---- split ---------------------------------------------------------------- */

static int split_start(struct vdev_queue *vq, struct vq_inflight *in,
		       struct vdev_queue_state *state)
{
	struct vq_inflight_split *r = in->split;
	uint16_t size = in->size, used, k, e;
	unsigned int i;

	used = vq_load16_acquire(&vq->priv->split.used->idx);
	if (!READ_ONCE(r->version)) {
		memset(r->desc, 0, size * sizeof(r->desc[0]));
		WRITE_ONCE(r->features, 0);
		WRITE_ONCE(r->desc_num, size);
		WRITE_ONCE(r->last_batch_head, 0);
		WRITE_ONCE(r->used_idx, used);
		/* Initialised before it says so (ordering for a crash). */
		smp_store_release(&r->version, VQ_INFLIGHT_VERSION);
		state->used_idx = used;
		return 0;
	}
	if (READ_ONCE(r->desc_num) != size)
		return inflight_bad(vq, "desc_num is not the queue size",
				    READ_ONCE(r->desc_num), size);
	/* Published, not yet cleared: the k most recent pushes. */
	k = used - READ_ONCE(r->used_idx);
	if (k > size)
		return inflight_bad(vq, "used_idx too far behind used->idx",
				    READ_ONCE(r->used_idx), used);
	e = READ_ONCE(r->last_batch_head);
	for (i = 0; i < k; i++) {
		if (e >= size)
			return inflight_bad(vq, "batch entry out of range", e,
					    size);
		WRITE_ONCE(r->desc[e].inflight, 0);
		e = READ_ONCE(r->desc[e].next);
	}
	WRITE_ONCE(r->used_idx, used);

	for (i = 0; i < size; i++) {
		if (!READ_ONCE(r->desc[i].inflight))
			continue;
		in->resubmit[in->nr_resubmit].head = i;
		in->resubmit[in->nr_resubmit].counter =
			READ_ONCE(r->desc[i].counter);
		in->nr_resubmit++;
	}
	inflight_sort(in);
	for (i = 0; i < in->nr_resubmit; i++)
		in->counter_of[in->resubmit[i].head] = in->resubmit[i].counter;
	state->used_idx = used;
	state->last_avail_idx = used + in->nr_resubmit;
	return 0;
}

static void split_popped(struct vq_inflight *in, uint16_t head)
{
	struct vq_inflight_split_desc *d = &in->split->desc[head];

	WRITE_ONCE(d->counter, in->counter);
	/* Recorded before marked: a start sees a whole record or none. */
	smp_store_release(&d->inflight, 1);
	in->log[in->counter % in->size] = head;
	in->counter_of[head] = in->counter;
	in->counter++;
}

static void split_pushed(struct vq_inflight *in, uint16_t id)
{
	struct vq_inflight_split *r = in->split;

	if (id >= in->size || in->nr_batch == in->size)
		return;
	WRITE_ONCE(r->desc[id].next, READ_ONCE(r->last_batch_head));
	/* Linked before it heads the list. */
	smp_store_release(&r->last_batch_head, id);
	in->batch[in->nr_batch++] = id;
}

static void split_flushed(struct vdev_queue *vq, struct vq_inflight *in)
{
	struct vq_inflight_split *r = in->split;
	unsigned int i;

	for (i = 0; i < in->nr_batch; i++)
		WRITE_ONCE(r->desc[in->batch[i]].inflight, 0);
	/* Cleared before the batch is taken as recorded. */
	smp_store_release(&r->used_idx, vq->priv->split.published_used);
	in->nr_batch = 0;
}

/* ---- packed --------------------------------------------------------------- */

static bool lap_wrap(uint16_t lap)
{
	return lap & PACKED_AVAIL;
}

static void packed_add_free(struct vq_inflight *in, uint16_t e)
{
	in->next[e] = in->free_head;
	in->free_head = e;
	in->nr_free++;
}

/* Give the entries of the chain headed at @h back to the free list. */
static void packed_release(struct vq_inflight *in, uint16_t h)
{
	struct vq_inflight_packed_desc *d = &in->pk->desc[h];
	uint16_t e = h, nx;
	unsigned int i;

	/* Each chain once (a driver may reuse an id, a device push twice). */
	if (!in->live[h])
		return;
	in->live[h] = 0;
	WRITE_ONCE(d->pushed, 0);
	/* Unmarked after the push mark: never pushed yet in flight. */
	smp_store_release(&d->inflight, 0);
	if (in->entry_of_id[in->id_of[h]] == h)
		in->entry_of_id[in->id_of[h]] = NO_ENTRY;
	/* The host's links, which end the chain with NO_ENTRY. */
	for (i = 0; i < in->size && e != NO_ENTRY; i++) {
		nx = in->next[e];
		packed_add_free(in, e);
		e = nx;
	}
}

/*
 * Resolve a publication the process may have died in (see the top),
 * then collect the chains in flight, checking each: entries in range,
 * 1 to size descriptors, no entry in two chains. Rebuilds the free list.
 */
static int packed_recover(struct vdev_queue *vq, struct vq_inflight *in,
			  struct vdev_queue_state *state)
{
	struct vq_inflight_packed *r = in->pk;
	uint16_t size = in->size, off, flags, e, lap;
	unsigned int i, j, total = 0;
	uint8_t *taken;
	bool wrap, done = false;

	off = READ_ONCE(r->old_used_idx);
	wrap = READ_ONCE(r->old_used_wrap_counter);
	if (off >= size)
		return inflight_bad(vq, "old_used_idx out of range", off, size);
	if (READ_ONCE(r->used_idx) != off ||
	    !!READ_ONCE(r->used_wrap_counter) != wrap) {
		/* Still available as the driver made it, or published. */
		lap = wrap ? PACKED_AVAIL : PACKED_USED;
		flags = vq_load_le16_acquire(&vq->priv->packed.desc[off].flags);
		done = (flags & (PACKED_AVAIL | PACKED_USED)) != lap;
	}
	if (done) {
		off = READ_ONCE(r->used_idx);
		wrap = READ_ONCE(r->used_wrap_counter);
		if (off >= size)
			return inflight_bad(vq, "used_idx out of range", off,
					    size);
	}
	taken = calloc(size, 1);
	if (!taken)
		return -ENOMEM;
	for (i = 0; i < size; i++) {
		struct vq_inflight_packed_desc *d = &r->desc[i];

		if (READ_ONCE(d->pushed)) {
			WRITE_ONCE(d->pushed, 0);
			if (done)
				WRITE_ONCE(d->inflight, 0);
		}
	}
	WRITE_ONCE(r->used_idx, off);
	WRITE_ONCE(r->used_wrap_counter, wrap);
	WRITE_ONCE(r->old_used_idx, off);
	WRITE_ONCE(r->old_used_wrap_counter, wrap);

	for (i = 0; i < size; i++) {
		struct vq_inflight_packed_desc *d = &r->desc[i];
		unsigned int n;

		if (!READ_ONCE(d->inflight))
			continue;
		n = READ_ONCE(d->num);
		if (!n || n > size - total)
			goto out_bad_num;
		for (j = 0, e = i; j < n; j++) {
			if (e >= size || taken[e])
				goto out_bad_entry;
			taken[e] = 1;
			in->copy[e].addr = READ_ONCE(r->desc[e].addr);
			in->copy[e].len = READ_ONCE(r->desc[e].len);
			in->copy[e].flags = READ_ONCE(r->desc[e].flags);
			in->copy[e].id = READ_ONCE(r->desc[e].id);
			in->next[e] = j + 1 < n ? READ_ONCE(r->desc[e].next) :
				      NO_ENTRY;
			if (j + 1 == n)
				in->id_of[i] = in->copy[e].id;
			e = in->next[e];
		}
		total += n;
		in->resubmit[in->nr_resubmit].head = i;
		in->resubmit[in->nr_resubmit].counter =
			READ_ONCE(d->counter);
		in->nr_resubmit++;
	}
	in->free_head = NO_ENTRY;
	in->nr_free = 0;
	for (i = size; i-- > 0;)
		if (!taken[i])
			packed_add_free(in, i);
	free(taken);

	inflight_sort(in);
	for (i = 0; i < in->nr_resubmit; i++) {
		e = in->resubmit[i].head;
		in->counter_of[e] = in->resubmit[i].counter;
		in->entry_of_id[in->id_of[e]] = e;
		in->live[e] = 1;
	}
	WRITE_ONCE(r->free_head, in->free_head);
	WRITE_ONCE(r->old_free_head, in->free_head);
	state->used_idx = off;
	state->used_wrap_counter = wrap;
	/* The chains in flight take the slots after the used position. */
	total += off;
	state->avail_wrap_counter = total >= size ? !wrap : wrap;
	state->last_avail_idx = total >= size ? total - size : total;
	return 0;

out_bad_num:
	free(taken);
	return inflight_bad(vq, "chain length out of range", i,
			    READ_ONCE(r->desc[i].num));
out_bad_entry:
	free(taken);
	return inflight_bad(vq, "chain entry out of range or shared", i, e);
}

static int packed_start(struct vdev_queue *vq, struct vq_inflight *in,
			struct vdev_queue_state *state)
{
	struct vq_inflight_packed *r = in->pk;
	uint16_t size = in->size;
	unsigned int i;

	if (READ_ONCE(r->version)) {
		if (READ_ONCE(r->desc_num) != size)
			return inflight_bad(vq, "desc_num is not the queue size",
					    READ_ONCE(r->desc_num), size);
		return packed_recover(vq, in, state);
	}
	memset(r->desc, 0, size * sizeof(r->desc[0]));
	WRITE_ONCE(r->features, 0);
	WRITE_ONCE(r->desc_num, size);
	WRITE_ONCE(r->used_idx, state->used_idx);
	WRITE_ONCE(r->old_used_idx, state->used_idx);
	WRITE_ONCE(r->used_wrap_counter, state->used_wrap_counter);
	WRITE_ONCE(r->old_used_wrap_counter, state->used_wrap_counter);
	WRITE_ONCE(r->free_head, 0);
	WRITE_ONCE(r->old_free_head, 0);
	/* Initialised before it says so (ordering for a crash). */
	smp_store_release(&r->version, VQ_INFLIGHT_VERSION);
	in->free_head = NO_ENTRY;
	for (i = size; i-- > 0;)
		packed_add_free(in, i);
	return 0;
}

/*
 * Record the chain pop took, at ring slots from its ring_pos: a copy of
 * each descriptor, read from the ring again (a driver that rewrote them
 * meanwhile only misleads its own resubmission, which is checked as
 * any chain is).
 */
static int packed_popped(struct vdev_queue *vq, struct vq_inflight *in,
			 const struct vdev_chain *chain)
{
	struct vq_inflight_packed *r = in->pk;
	const struct vring_packed_desc *ring = vq->priv->packed.desc;
	unsigned int slot = chain->ring_pos & 0x7fff, n = chain->nr_descs, j;
	uint16_t h, e, prev = NO_ENTRY, old;

	old = in->entry_of_id[chain->id];
	if (old != NO_ENTRY)
		/* The driver reused an id still outstanding: forget the old. */
		packed_release(in, old);
	if (unlikely(n > in->nr_free))
		return vq_fail(vq, -EIO, "inflight: %u descriptors, %u entries free",
			       n, in->nr_free);
	h = in->free_head;
	for (j = 0; j < n; j++) {
		struct vq_inflight_packed_desc *d;

		e = in->free_head;
		if (unlikely(e >= in->size))
			return vq_fail(vq, -EIO, "inflight: free list broken");
		in->free_head = in->next[e];
		in->nr_free--;
		d = &r->desc[e];
		WRITE_ONCE(d->addr, vq_load_le64(&ring[slot].addr));
		WRITE_ONCE(d->len, vq_load_le32(&ring[slot].len));
		WRITE_ONCE(d->flags, vq_load_le16(&ring[slot].flags));
		WRITE_ONCE(d->id, vq_load_le16(&ring[slot].id));
		if (prev != NO_ENTRY) {
			in->next[prev] = e;
			WRITE_ONCE(r->desc[prev].next, e);
		}
		prev = e;
		if (++slot == vq->size)
			slot = 0;
	}
	in->next[prev] = NO_ENTRY;
	WRITE_ONCE(r->desc[h].num, n);
	WRITE_ONCE(r->desc[h].last, prev);
	WRITE_ONCE(r->desc[h].counter, in->counter);
	WRITE_ONCE(r->desc[h].pushed, 0);
	WRITE_ONCE(r->free_head, in->free_head);
	WRITE_ONCE(r->old_free_head, in->free_head);
	/* Recorded before marked: a start sees a whole record or none. */
	smp_store_release(&r->desc[h].inflight, 1);
	in->entry_of_id[chain->id] = h;
	in->id_of[h] = chain->id;
	in->live[h] = 1;
	in->log[in->counter % in->size] = h;
	in->counter_of[h] = in->counter;
	in->counter++;
	return 0;
}

static void packed_pushed(struct vdev_queue *vq, struct vq_inflight *in,
			  uint16_t id)
{
	struct vq_inflight_packed *r = in->pk;
	const struct vq_packed *p = &vq->priv->packed;
	uint16_t h = in->entry_of_id[id];

	if (h == NO_ENTRY || in->nr_batch == in->size)
		return;
	in->entry_of_id[id] = NO_ENTRY;
	WRITE_ONCE(r->desc[h].pushed, 1);
	WRITE_ONCE(r->used_wrap_counter, lap_wrap(p->used_lap));
	/* The head marked pushed before the position moves past it. */
	smp_store_release(&r->used_idx, p->used);
	in->batch[in->nr_batch++] = h;
}

static void packed_flushed(struct vq_inflight *in)
{
	struct vq_inflight_packed *r = in->pk;
	unsigned int i;

	if (!in->nr_batch)
		return;
	for (i = 0; i < in->nr_batch; i++)
		packed_release(in, in->batch[i]);
	in->nr_batch = 0;
	WRITE_ONCE(r->free_head, in->free_head);
	WRITE_ONCE(r->old_free_head, in->free_head);
	WRITE_ONCE(r->old_used_wrap_counter, READ_ONCE(r->used_wrap_counter));
	/* The batch's heads cleared before it is taken as published. */
	smp_store_release(&r->old_used_idx, READ_ONCE(r->used_idx));
}

/* A resubmitted packed chain, from the copies taken at start. */
static int packed_resubmit(struct vdev_queue *vq, struct vq_inflight *in,
			   uint16_t h, unsigned int k, struct vdev_chain *chain)
{
	const struct vq_copy *c = &in->copy[h];
	uint16_t e = h;
	int ret;

	vq_chain_begin(chain, in->id_of[h], VQ_POS_RESUBMIT | k);
	if (c->flags & VRING_DESC_F_INDIRECT) {
		if (unlikely(c->flags & VRING_DESC_F_NEXT ||
			     in->next[h] != NO_ENTRY))
			return vq_fail(vq, -EIO,
				       "inflight: indirect descriptor with NEXT");
		ret = vq_packed_walk_indirect(vq, chain, c->addr, c->len);
		chain->nr_descs = 1;
		return ret;
	}
	for (; e != NO_ENTRY; e = in->next[e]) {
		c = &in->copy[e];
		if (unlikely(c->flags & VRING_DESC_F_INDIRECT))
			return vq_fail(vq, -EIO,
				       "inflight: indirect descriptor inside a chain");
		ret = vq_chain_add(vq, chain, c->addr, c->len,
				   c->flags & VRING_DESC_F_WRITE);
		if (unlikely(ret))
			return ret;
		chain->nr_descs++;
	}
	return 0;
}

/* ---- for lib/queue.c ------------------------------------------------------ */

/*
 * Start tracking @vq, which the caller has just set at @state: initialise
 * the region, or recover what it says, and change @state to where the
 * ring really continues. 0 (no region: nothing to do), -EINVAL for a
 * region this queue cannot use (logged), -ENOMEM.
 */
int vq_inflight_start(struct vdev_queue *vq, struct vdev_queue_state *state)
{
	struct vdev_queue_private *p = vq->priv;
	struct vq_inflight *in;
	int ret;

	vq_inflight_stop(vq);
	if (!p->inflight_region)
		return 0;
	if (vq->size > p->inflight_size)
		return inflight_bad(vq, "queue larger than the region's",
				    vq->size, p->inflight_size);
	in = inflight_alloc(vq->size, p->ops == &vq_packed_ops);
	if (!in)
		return -ENOMEM;
	if (in->packed) {
		in->pk = p->inflight_region;
		ret = packed_start(vq, in, state);
	} else {
		in->split = p->inflight_region;
		ret = split_start(vq, in, state);
	}
	if (ret) {
		inflight_free(in);
		return ret;
	}
	in->start = *state;
	p->inflight = in;
	if (in->nr_resubmit && vdev_ratelimit_ok(&p->rl))
		vdev_log(VDEV_LOG_INFO, "%s: queue %u: %u chains in flight resubmitted",
			 vq->dev->name, vq->index, in->nr_resubmit);
	return 0;
}

void vq_inflight_stop(struct vdev_queue *vq)
{
	inflight_free(vq->priv->inflight);
	vq->priv->inflight = NULL;
}

/* Resubmitted chains first, then the ring, each pop recorded. */
int vq_inflight_pop(struct vdev_queue *vq, struct vdev_chain *chain)
{
	struct vq_inflight *in = vq->priv->inflight;
	unsigned int k = in->next_resubmit;
	int ret;

	if (k < in->nr_resubmit) {
		uint16_t h = in->resubmit[k].head;

		if (in->packed) {
			ret = packed_resubmit(vq, in, h, k, chain);
		} else {
			ret = vq_split_walk_head(vq, chain, h);
			chain->ring_pos = VQ_POS_RESUBMIT | k;
		}
		if (ret)
			return ret;
		in->next_resubmit++;
		return 1;
	}
	ret = vq->priv->ops->pop(vq, chain);
	if (ret != 1)
		return ret;
	if (!in->packed) {
		split_popped(in, chain->id);
		return 1;
	}
	ret = packed_popped(vq, in, chain);
	return ret ? ret : 1;
}

/* Can the pops with counters from @from on be in the log? */
static bool inflight_can_forget(const struct vq_inflight *in, uint64_t from)
{
	return from >= in->base && from < in->counter &&
	       in->counter - from <= in->size;
}

/* Pops with counters from @from on are no longer in flight. */
static void inflight_forget(struct vq_inflight *in, uint64_t from)
{
	uint64_t c;

	for (c = from; c < in->counter; c++) {
		uint16_t h = in->log[c % in->size];

		if (in->packed) {
			packed_release(in, h);
		} else {
			/* Back to the ring: not in flight (nothing to order). */
			smp_store_release(&in->split->desc[h].inflight, 0);
		}
	}
	in->counter = from;
}

int vq_inflight_rewind(struct vdev_queue *vq, const struct vdev_chain *chain)
{
	struct vq_inflight *in = vq->priv->inflight;
	const struct vdev_ring_ops *ops = vq->priv->ops;
	struct vdev_chain at;
	uint16_t h;
	int ret;

	if (chain->ring_pos & VQ_POS_RESUBMIT) {
		unsigned int k = chain->ring_pos & ~VQ_POS_RESUBMIT;

		if (k >= in->next_resubmit ||
		    (in->counter > in->base &&
		     !inflight_can_forget(in, in->base)))
			return -EINVAL;
		/* It, the resubmitted after it, and all the ring gave since. */
		if (in->counter > in->base) {
			at.ring_pos = in->packed ?
				in->start.last_avail_idx |
				(uint32_t)in->start.avail_wrap_counter << 15 :
				in->start.last_avail_idx;
			ret = ops->rewind(vq, &at);
			if (ret)
				return ret;
			inflight_forget(in, in->base);
		}
		in->next_resubmit = k;
		return 0;
	}
	h = in->packed ? in->entry_of_id[chain->id] : chain->id;
	if (h >= in->size || !inflight_can_forget(in, in->counter_of[h]))
		return -EINVAL;
	ret = ops->rewind(vq, chain);
	if (ret)
		return ret;
	inflight_forget(in, in->counter_of[h]);
	return 0;
}

void vq_inflight_pushed(struct vdev_queue *vq, uint16_t id)
{
	struct vq_inflight *in = vq->priv->inflight;

	if (in->packed)
		packed_pushed(vq, in, id);
	else
		split_pushed(in, id);
}

void vq_inflight_flushed(struct vdev_queue *vq)
{
	struct vq_inflight *in = vq->priv->inflight;

	if (in->packed)
		packed_flushed(in);
	else
		split_flushed(vq, in);
}
