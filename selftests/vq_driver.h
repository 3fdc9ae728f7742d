/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test-side virtio driver: the guest half of a virtqueue, over
 * memfd-backed guest memory, so that every device path runs without KVM.
 *
 *   struct vq_guest   guest RAM: up to VQ_GUEST_MAX_REGIONS memfd regions
 *                     at chosen guest-physical addresses (gaps allowed),
 *                     each mapped between two PROT_NONE guard pages so a
 *                     device touching a byte outside guest RAM faults even
 *                     without ASan; a bump allocator hands out GPAs. A
 *                     read-only region (ROM) is mapped PROT_READ where
 *                     vdev sees it, so a device store there faults; the
 *                     test fills it through a second, writable alias.
 *   struct vq_driver  one queue: ring layout (GPAs and the driver's own
 *                     pointers), descriptor free list, add/kick/get_used
 *                     in the style of Linux drivers/virtio/virtio_ring.c,
 *                     plus raw pokes to write malformed rings.
 *
 * Ring formats: @format says which ring a vq_driver drives. The calls a
 * format-neutral test uses (vq_driver_init_format(), _bind(), _resize(),
 * _add(), _publish(), _kick_prepare(), _get_used(), _used_pending(),
 * _enable_cb(), _disable_cb(), _set_used_event()) have a branch for each
 * format: the split ring, and the packed ring after Linux's *_packed()
 * functions (virtqueue_add_packed(), virtqueue_kick_prepare_packed(),
 * virtqueue_get_buf_ctx_packed(), ...): buffer ids from a free list, the
 * id in every descriptor of a chain, the head's flags stored last. The
 * raw pokes (_avail_raw(), _desc_raw(), _set_avail_idx(), _indirect(),
 * _avail_event(), the desc/avail/used pointers) are split-ring layout,
 * for split-only tests; _pdesc_raw(), _pindirect(), _avail_flags() and
 * the pdesc/pdriver/pdevice pointers are the packed ring's.
 *
 * Memory ordering follows Linux's driver side; the device side it pairs
 * with is lib/queue.c.
 */
#ifndef _VDEV_VQ_DRIVER_H
#define _VDEV_VQ_DRIVER_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_ring.h>

#include <vdev/mem.h>
#include <vdev/queue.h>

#include "compiler.h"

#define VQ_GUEST_MAX_REGIONS	8

/* Ring format of a vq_driver (and of the FIXTURE_VARIANT of a test). */
enum vq_format {
	VQ_SPLIT,
	VQ_PACKED,
};
#define VQ_PAGE			4096UL

/*
 * Single accesses and barriers from lib/compiler.h: ring indices are
 * published with release and read with acquire (so that ThreadSanitizer
 * sees the pairing), event indices are ordered with a full barrier.
 */
#define VQ_READ(x)	READ_ONCE(x)
#define VQ_WRITE(x, v)	WRITE_ONCE(x, v)

/**
 * struct vq_guest_region - one memfd-backed range of guest RAM
 * @gpa: guest-physical base
 * @size: bytes (a multiple of VQ_PAGE)
 * @hva: the mapping vdev is given (PROT_READ for a read-only region)
 * @wr: the test's writable view of the range: @hva, or for a read-only
 *      region a separate shared mapping of the same memfd
 * @flags: VDEV_MEM_F_* the region was registered with
 * @map: start of the reservation, one guard page below @hva
 * @map_len: @size plus both guard pages
 * @fd: the memfd
 * @next: bump allocator: next free offset
 * @tail: bytes handed out from the end by vq_guest_alloc_tail()
 */
struct vq_guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint8_t *wr;
	uint32_t flags;
	void *map;
	size_t map_len;
	int fd;
	uint64_t next;
	uint64_t tail;
};

/**
 * struct vq_guest - guest memory shared by the test driver and vdev
 * @mem: the vdev map, one reference owned here
 * @nr: regions in @r
 * @r: the regions, in the order added
 */
struct vq_guest {
	struct vdev_mem *mem;
	unsigned int nr;
	struct vq_guest_region r[VQ_GUEST_MAX_REGIONS];
};

static inline int vq_guest_init(struct vq_guest *g)
{
	memset(g, 0, sizeof(*g));
	return vdev_mem_create(&g->mem);
}

/*
 * Add @size bytes of guest memory at @gpa with VDEV_MEM_F_* @flags. With
 * @via_fd the region is given to vdev as an fd (vdev maps it itself);
 * otherwise vdev gets the test's own guarded mapping, PROT_READ when
 * @flags has VDEV_MEM_F_READONLY.
 */
static inline int vq_guest_add_flags(struct vq_guest *g, uint64_t gpa,
				     uint64_t size, bool via_fd,
				     uint32_t flags)
{
	bool ro = flags & VDEV_MEM_F_READONLY;
	struct vq_guest_region *r;
	int ret;

	if (g->nr == VQ_GUEST_MAX_REGIONS || !size || size % VQ_PAGE)
		return -EINVAL;
	r = &g->r[g->nr];
	r->fd = memfd_create("vq-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->fd < 0)
		return -errno;
	/* Sealed as QEMU's memory-backend-memfd (a vhost-user back-end asks). */
	if (ftruncate(r->fd, size) ||
	    fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		ret = -errno;
		goto out_close;
	}
	r->map_len = size + 2 * VQ_PAGE;
	r->map = mmap(NULL, r->map_len, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->map == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	r->hva = mmap((uint8_t *)r->map + VQ_PAGE, size,
		      ro ? PROT_READ : PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_FIXED, r->fd, 0);
	if (r->hva == MAP_FAILED) {
		ret = -errno;
		goto out_unmap;
	}
	r->wr = r->hva;
	if (ro) {
		r->wr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     r->fd, 0);
		if (r->wr == MAP_FAILED) {
			ret = -errno;
			goto out_unmap;
		}
	}
	if (via_fd)
		ret = vdev_mem_add_region_fd_flags(g->mem, gpa, size, r->fd, 0,
						   flags);
	else
		ret = vdev_mem_add_region_flags(g->mem, gpa, size, r->hva,
						flags);
	if (ret)
		goto out_unmap_wr;
	r->gpa = gpa;
	r->size = size;
	r->flags = flags;
	r->next = 0;
	r->tail = 0;
	g->nr++;
	return 0;

out_unmap_wr:
	if (r->wr != r->hva)
		munmap(r->wr, size);
out_unmap:
	munmap(r->map, r->map_len);
out_close:
	close(r->fd);
	return ret;
}

/* Guest RAM, read-write: see vq_guest_add_flags(). */
static inline int vq_guest_add(struct vq_guest *g, uint64_t gpa,
			       uint64_t size, bool via_fd)
{
	return vq_guest_add_flags(g, gpa, size, via_fd, 0);
}

/* Drop vdev's reference first: its fd mappings must go before ours. */
static inline void vq_guest_destroy(struct vq_guest *g)
{
	unsigned int i;

	vdev_mem_put(g->mem);
	g->mem = NULL;
	for (i = 0; i < g->nr; i++) {
		if (g->r[i].wr != g->r[i].hva)
			munmap(g->r[i].wr, g->r[i].size);
		munmap(g->r[i].map, g->r[i].map_len);
		close(g->r[i].fd);
	}
	g->nr = 0;
}

/*
 * Test-side (writable) pointer for [@gpa, @gpa + @len), or NULL outside
 * guest RAM. For a read-only region this is the test's alias, not the
 * address vdev uses.
 */
static inline void *vq_guest_ptr(struct vq_guest *g, uint64_t gpa,
				 uint64_t len)
{
	unsigned int i;

	for (i = 0; i < g->nr; i++) {
		struct vq_guest_region *r = &g->r[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->wr + (gpa - r->gpa);
	}
	return NULL;
}

/* Allocate @len bytes aligned to @align from region @i; 0 when full. */
static inline uint64_t vq_guest_alloc(struct vq_guest *g, unsigned int i,
				      uint64_t len, uint64_t align)
{
	struct vq_guest_region *r;
	uint64_t off;

	if (i >= g->nr)
		return 0;
	r = &g->r[i];
	off = (r->next + align - 1) & ~(align - 1);
	if (off > r->size - r->tail || len > r->size - r->tail - off)
		return 0;
	r->next = off + len;
	return r->gpa + off;
}

/* Allocate the last @len bytes of region @i (for buffers at its end). */
static inline uint64_t vq_guest_alloc_tail(struct vq_guest *g, unsigned int i,
					   uint64_t len)
{
	struct vq_guest_region *r;

	if (i >= g->nr)
		return 0;
	r = &g->r[i];
	if (len > r->size - r->tail - r->next)
		return 0;
	r->tail += len;
	return r->gpa + r->size - r->tail;
}

/**
 * struct vq_guest_layout - one region for vq_guest_build()
 * @gpa: guest-physical base
 * @size: bytes, a multiple of VQ_PAGE
 * @via_fd: give it to vdev as an fd instead of a pointer
 */
struct vq_guest_layout {
	uint64_t gpa;
	uint64_t size;
	bool via_fd;
};

/*
 * Guest memory from a table of regions (leave gaps between them to test
 * gaps, or make them adjacent). On failure everything is undone.
 */
static inline int vq_guest_build(struct vq_guest *g,
				 const struct vq_guest_layout *l,
				 unsigned int n)
{
	unsigned int i;
	int ret;

	ret = vq_guest_init(g);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ret = vq_guest_add(g, l[i].gpa, l[i].size, l[i].via_fd);
		if (ret)
			goto out_destroy;
	}
	return 0;

out_destroy:
	vq_guest_destroy(g);
	return ret;
}

/**
 * struct vq_buf - one driver buffer (guest-physical)
 * @gpa: address
 * @len: length
 */
struct vq_buf {
	uint64_t gpa;
	uint32_t len;
};

/**
 * struct vq_driver - the driver's half of one virtqueue
 * @format: ring format
 * @g: guest memory the rings live in
 * @size: queue size
 * @event_idx: VIRTIO_RING_F_EVENT_IDX negotiated
 * @desc_gpa: descriptor table (packed: descriptor ring) address
 * @avail_gpa: available ring (packed: driver event area) address
 * @used_gpa: used ring (packed: device event area) address
 * @desc: descriptor table (test mapping)
 * @avail: available ring
 * @used: used ring
 * @avail_idx: driver's shadow of avail->idx (published by vq_driver_kick*)
 * @published: avail->idx as last written
 * @last_used: next used entry to read
 * @free_head: first free descriptor (free list through desc[].next);
 *             packed: first free buffer id (free list through @id_next)
 * @num_free: free descriptors
 * @chain_len: descriptors used by the chain at each head (packed: id)
 * @indir_gpa: per-head indirect tables of @indir_max entries, or 0
 * @indir_max: entries per indirect table
 * @pdesc: packed: the descriptor ring (test mapping)
 * @pdriver: packed: driver event suppression area
 * @pdevice: packed: device event suppression area
 * @next_avail: packed: next ring slot to fill
 * @avail_wrap: packed: Driver Ring Wrap Counter
 * @used_wrap: packed: wrap counter of @last_used (a ring offset)
 * @num_added: packed: descriptors added since the last kick_prepare
 * @event_flags: packed: driver event flags as last written
 * @id_next: packed: buffer id free list
 */
struct vq_driver {
	enum vq_format format;
	struct vq_guest *g;
	uint16_t size;
	bool event_idx;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;
	uint16_t published;
	uint16_t last_used;
	uint16_t free_head;
	uint16_t num_free;
	uint16_t *chain_len;
	uint64_t indir_gpa;
	unsigned int indir_max;
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *pdriver;
	struct vring_packed_desc_event *pdevice;
	uint16_t next_avail;
	bool avail_wrap;
	bool used_wrap;
	uint16_t num_added;
	uint16_t event_flags;
	uint16_t *id_next;
};

#define VQ_PACKED_AVAIL	(1U << VRING_PACKED_DESC_F_AVAIL)
#define VQ_PACKED_USED	(1U << VRING_PACKED_DESC_F_USED)
#define VQ_PACKED_WRAP	(1U << VRING_PACKED_EVENT_F_WRAP_CTR)

static inline void vq_driver_reset_free(struct vq_driver *d)
{
	unsigned int i;

	for (i = 0; i < d->size; i++) {
		if (d->format == VQ_PACKED)
			d->id_next[i] = (uint16_t)(i + 1);
		else
			d->desc[i].next = (uint16_t)(i + 1);
	}
	d->free_head = 0;
	d->num_free = d->size;
}

/* Packed: a zeroed ring, both wrap counters 1, interrupts enabled. */
static inline int vq_driver_init_packed(struct vq_driver *d,
					unsigned int region)
{
	struct vq_guest *g = d->g;
	uint16_t size = d->size;

	d->desc_gpa = vq_guest_alloc(g, region, 16ULL * size, 16);
	d->avail_gpa = vq_guest_alloc(g, region, 4, 4);
	d->used_gpa = vq_guest_alloc(g, region, 4, 4);
	if (!d->desc_gpa || !d->avail_gpa || !d->used_gpa)
		return -ENOMEM;
	d->pdesc = vq_guest_ptr(g, d->desc_gpa, 16ULL * size);
	d->pdriver = vq_guest_ptr(g, d->avail_gpa, 4);
	d->pdevice = vq_guest_ptr(g, d->used_gpa, 4);
	memset(d->pdesc, 0, 16ULL * size);
	memset(d->pdriver, 0, 4);
	memset(d->pdevice, 0, 4);
	d->avail_wrap = true;
	d->used_wrap = true;
	d->event_flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	d->id_next = calloc(size, sizeof(*d->id_next));
	if (!d->id_next)
		return -ENOMEM;
	return 0;
}

/*
 * Lay out a queue of @size entries in @format in region @region of @g
 * (rings zeroed, each at the alignment the device checks), with room for
 * per-head indirect tables of @indir_max entries (0: none).
 */
static inline int vq_driver_init_format(struct vq_driver *d,
					struct vq_guest *g,
					enum vq_format format,
					unsigned int region, uint16_t size,
					bool event_idx, unsigned int indir_max)
{
	memset(d, 0, sizeof(*d));
	d->format = format;
	d->g = g;
	d->size = size;
	d->event_idx = event_idx;
	d->chain_len = calloc(size, sizeof(*d->chain_len));
	if (!d->chain_len)
		return -ENOMEM;
	if (format == VQ_PACKED) {
		if (vq_driver_init_packed(d, region))
			return -ENOMEM;
	} else {
		d->desc_gpa = vq_guest_alloc(g, region, 16ULL * size, 16);
		d->avail_gpa = vq_guest_alloc(g, region, 6 + 2ULL * size, 2);
		d->used_gpa = vq_guest_alloc(g, region, 6 + 8ULL * size, 4);
		if (!d->desc_gpa || !d->avail_gpa || !d->used_gpa)
			return -ENOMEM;
		d->desc = vq_guest_ptr(g, d->desc_gpa, 16ULL * size);
		d->avail = vq_guest_ptr(g, d->avail_gpa, 6 + 2ULL * size);
		d->used = vq_guest_ptr(g, d->used_gpa, 6 + 8ULL * size);
		memset(d->desc, 0, 16ULL * size);
		memset(d->avail, 0, 6 + 2ULL * size);
		memset(d->used, 0, 6 + 8ULL * size);
	}
	if (indir_max) {
		d->indir_max = indir_max;
		d->indir_gpa = vq_guest_alloc(g, region,
					      16ULL * indir_max * size, 16);
		if (!d->indir_gpa)
			return -ENOMEM;
	}
	vq_driver_reset_free(d);
	return 0;
}

/* A split ring queue: see vq_driver_init_format(). */
static inline int vq_driver_init(struct vq_driver *d, struct vq_guest *g,
				 unsigned int region, uint16_t size,
				 bool event_idx, unsigned int indir_max)
{
	return vq_driver_init_format(d, g, VQ_SPLIT, region, size, event_idx,
				     indir_max);
}

/*
 * Use only the first @size entries of the rings laid out by init (a
 * smaller queue in the same memory), with every descriptor free.
 */
static inline void vq_driver_resize(struct vq_driver *d, uint16_t size)
{
	d->size = size;
	vq_driver_reset_free(d);
}

/*
 * Back to empty rings at the start (packed: both wrap counters 1,
 * interrupts enabled), every descriptor free, as a driver re-probing the
 * device (or re-enabling a queue it reset) lays them out again.
 */
static inline void vq_driver_rewind(struct vq_driver *d)
{
	if (d->format == VQ_PACKED) {
		memset(d->pdesc, 0, 16ULL * d->size);
		memset(d->pdriver, 0, 4);
		memset(d->pdevice, 0, 4);
		d->next_avail = 0;
		d->avail_wrap = true;
		d->used_wrap = true;
		d->num_added = 0;
		d->event_flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	} else {
		memset(d->desc, 0, 16ULL * d->size);
		memset(d->avail, 0, 6 + 2ULL * d->size);
		memset(d->used, 0, 6 + 8ULL * d->size);
		d->avail_idx = 0;
		d->published = 0;
	}
	memset(d->chain_len, 0, d->size * sizeof(*d->chain_len));
	d->last_used = 0;
	vq_driver_reset_free(d);
}

static inline void vq_driver_destroy(struct vq_driver *d)
{
	free(d->chain_len);
	d->chain_len = NULL;
	free(d->id_next);
	d->id_next = NULL;
}

/* Fill the transport's view of queue @index (what a driver writes). */
static inline void vq_driver_bind(struct vq_driver *d, struct vdev_queue *vq,
				  unsigned int index, uint16_t max_size)
{
	vdev_queue_init(vq, index, max_size);
	vq->size = d->size;
	vq->desc_addr = d->desc_gpa;
	vq->driver_addr = d->avail_gpa;
	vq->device_addr = d->used_gpa;
	vq->ready = true;
}

/* Put @head in the next avail slot; visible at the next publish. */
static inline void vq_driver_avail_raw(struct vq_driver *d, uint16_t head)
{
	VQ_WRITE(d->avail->ring[d->avail_idx & (d->size - 1)], head);
	d->avail_idx++;
}

/* Write descriptor @i as given, checks none: for malformed rings. */
static inline void vq_driver_desc_raw(struct vq_driver *d, uint16_t i,
				      uint64_t addr, uint32_t len,
				      uint16_t flags, uint16_t next)
{
	struct vring_desc *desc = &d->desc[i & (d->size - 1)];

	desc->addr = addr;
	desc->len = len;
	desc->flags = flags;
	desc->next = next;
}

/* Write avail->idx directly, e.g. to jump past the queue size. */
static inline void vq_driver_set_avail_idx(struct vq_driver *d, uint16_t idx)
{
	/* Pairs with the device's acquire of avail->idx. */
	smp_store_release(&d->avail->idx, idx);
	d->avail_idx = idx;
	d->published = idx;
}

/* Indirect table for @head (test pointer and GPA). */
static inline struct vring_desc *vq_driver_indirect(struct vq_driver *d,
						    uint16_t head,
						    uint64_t *gpa)
{
	*gpa = d->indir_gpa + 16ULL * d->indir_max * head;
	return vq_guest_ptr(d->g, *gpa, 16ULL * d->indir_max);
}

/* Packed: AVAIL and USED as the driver sets them in its current lap. */
static inline uint16_t vq_driver_avail_flags(struct vq_driver *d)
{
	return d->avail_wrap ? VQ_PACKED_AVAIL : VQ_PACKED_USED;
}

/*
 * Packed: write ring slot @i as given, checks none; @flags (stored last,
 * with release) must carry the AVAIL/USED bits the test wants.
 */
static inline void vq_driver_pdesc_raw(struct vq_driver *d, uint16_t i,
				       uint64_t addr, uint32_t len,
				       uint16_t id, uint16_t flags)
{
	struct vring_packed_desc *desc = &d->pdesc[i % d->size];

	VQ_WRITE(desc->addr, addr);
	VQ_WRITE(desc->len, len);
	VQ_WRITE(desc->id, id);
	/* Pairs with the device's acquire of the head's flags. */
	smp_store_release(&desc->flags, flags);
}

/* Packed: indirect table for buffer @id (test pointer and GPA). */
static inline struct vring_packed_desc *
vq_driver_pindirect(struct vq_driver *d, uint16_t id, uint64_t *gpa)
{
	*gpa = d->indir_gpa + 16ULL * d->indir_max * id;
	return vq_guest_ptr(d->g, *gpa, 16ULL * d->indir_max);
}

/* Packed: the next ring slot, the wrap counter toggled at the end. */
static inline void vq_driver_next_slot(struct vq_driver *d, uint16_t *i)
{
	if (++*i >= d->size) {
		*i = 0;
		d->avail_wrap = !d->avail_wrap;
	}
}

/*
 * Packed (virtqueue_add_packed() and virtqueue_add_indirect_packed()):
 * the chain takes the next slots, the id of the next free buffer in each
 * descriptor, and becomes visible when the head's flags are stored, last.
 */
static inline int vq_driver_add_packed(struct vq_driver *d,
				       const struct vq_buf *out,
				       unsigned int nout,
				       const struct vq_buf *in,
				       unsigned int nin, bool indirect)
{
	unsigned int n = nout + nin, i, need = indirect ? 1 : n;
	uint16_t id = d->free_head, head = d->next_avail, slot = head;
	uint16_t head_flags = 0, flags;
	struct vring_packed_desc *t, *desc;
	uint64_t tgpa;

	if (!n || d->num_free < need ||
	    (indirect && (!d->indir_gpa || n > d->indir_max)))
		return -ENOSPC;

	if (indirect) {
		t = vq_driver_pindirect(d, id, &tgpa);
		for (i = 0; i < n; i++) {
			const struct vq_buf *b = i < nout ? &out[i] :
							    &in[i - nout];

			t[i].addr = b->gpa;
			t[i].len = b->len;
			t[i].id = 0;
			t[i].flags = i >= nout ? VRING_DESC_F_WRITE : 0;
		}
		desc = &d->pdesc[slot];
		desc->addr = tgpa;
		desc->len = 16 * n;
		desc->id = id;
		head_flags = VRING_DESC_F_INDIRECT | vq_driver_avail_flags(d);
		vq_driver_next_slot(d, &slot);
	} else {
		for (i = 0; i < n; i++) {
			const struct vq_buf *b = i < nout ? &out[i] :
							    &in[i - nout];

			desc = &d->pdesc[slot];
			flags = vq_driver_avail_flags(d) |
				(i + 1 < n ? VRING_DESC_F_NEXT : 0) |
				(i >= nout ? VRING_DESC_F_WRITE : 0);
			desc->addr = b->gpa;
			desc->len = b->len;
			desc->id = id;
			if (slot == head)
				head_flags = flags;
			else
				VQ_WRITE(desc->flags, flags);
			vq_driver_next_slot(d, &slot);
		}
	}
	d->num_free -= need;
	d->next_avail = slot;
	d->free_head = d->id_next[id];
	d->chain_len[id] = need;
	d->num_added += need;
	/*
	 * The head last (virtio_wmb() in Linux); pairs with the device's
	 * acquire of the head's flags.
	 */
	smp_store_release(&d->pdesc[head].flags, head_flags);
	return id;
}

/*
 * Add a chain of @nout readable then @nin writable buffers; with
 * @indirect as one descriptor pointing to a table. Split: not visible to
 * the device before vq_driver_publish() / vq_driver_kick_prepare();
 * packed: visible at once, as in Linux.
 *
 * Return: the head (packed: the buffer id), or -ENOSPC.
 */
static inline int vq_driver_add(struct vq_driver *d, const struct vq_buf *out,
				unsigned int nout, const struct vq_buf *in,
				unsigned int nin, bool indirect)
{
	unsigned int n = nout + nin, i, need = indirect ? 1 : n;
	uint16_t head = d->free_head, idx = head, last = head;
	struct vring_desc *t;
	uint64_t tgpa;

	if (d->format == VQ_PACKED)
		return vq_driver_add_packed(d, out, nout, in, nin, indirect);
	if (!n || d->num_free < need ||
	    (indirect && (!d->indir_gpa || n > d->indir_max)))
		return -ENOSPC;

	if (indirect) {
		t = vq_driver_indirect(d, head, &tgpa);
		for (i = 0; i < n; i++) {
			const struct vq_buf *b = i < nout ? &out[i] :
							    &in[i - nout];

			t[i].addr = b->gpa;
			t[i].len = b->len;
			t[i].flags = (i >= nout ? VRING_DESC_F_WRITE : 0) |
				     (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			t[i].next = (uint16_t)(i + 1);
		}
		d->free_head = d->desc[head].next;
		d->desc[head].addr = tgpa;
		d->desc[head].len = 16 * n;
		d->desc[head].flags = VRING_DESC_F_INDIRECT;
	} else {
		for (i = 0; i < n; i++) {
			const struct vq_buf *b = i < nout ? &out[i] :
							    &in[i - nout];

			d->desc[idx].addr = b->gpa;
			d->desc[idx].len = b->len;
			d->desc[idx].flags = (i >= nout ? VRING_DESC_F_WRITE : 0) |
					     VRING_DESC_F_NEXT;
			last = idx;
			idx = d->desc[idx].next;
		}
		d->desc[last].flags &= ~VRING_DESC_F_NEXT;
		d->free_head = idx;
	}
	d->num_free -= need;
	d->chain_len[head] = need;
	vq_driver_avail_raw(d, head);
	return head;
}

/*
 * Make added chains visible: avail->idx after the ring entries (packed:
 * nothing to do, add stored the head's flags).
 */
static inline void vq_driver_publish(struct vq_driver *d)
{
	if (d->format == VQ_PACKED)
		return;
	/* Pairs with the device's acquire of avail->idx. */
	smp_store_release(&d->avail->idx, d->avail_idx);
}

/* Packed (virtqueue_kick_prepare_packed()). */
static inline bool vq_driver_kick_prepare_packed(struct vq_driver *d)
{
	uint16_t new = d->next_avail, old = new - d->num_added;
	uint16_t off_wrap, flags, event;
	uint32_t snap;

	/* Pairs with the device's mb between writing its event area and
	 * looking at the ring again.
	 */
	smp_mb();
	d->num_added = 0;
	snap = __atomic_load_n((uint32_t *)d->pdevice, __ATOMIC_RELAXED);
	off_wrap = (uint16_t)snap;
	flags = (uint16_t)(snap >> 16);
	if (flags != VRING_PACKED_EVENT_FLAG_DESC)
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	event = off_wrap & (VQ_PACKED_WRAP - 1);
	if (!!(off_wrap & VQ_PACKED_WRAP) != d->avail_wrap)
		event -= d->size;
	return vring_need_event(event, new, old);
}

/* Publish; return true when the device wants a kick (virtqueue_kick_prepare). */
static inline bool vq_driver_kick_prepare(struct vq_driver *d)
{
	uint16_t old = d->published, new = d->avail_idx;

	if (d->format == VQ_PACKED)
		return vq_driver_kick_prepare_packed(d);
	vq_driver_publish(d);
	d->published = new;
	/* Pairs with the device's mb between writing avail_event and
	 * re-reading avail->idx.
	 */
	smp_mb();
	if (d->event_idx)
		return vring_need_event(VQ_READ(*(uint16_t *)&d->used->ring[d->size]),
					new, old);
	return !(VQ_READ(d->used->flags) & VRING_USED_F_NO_NOTIFY);
}

/* Packed: is slot @i used in the lap of @wrap (is_used_desc_packed())? */
static inline bool vq_driver_is_used_packed(struct vq_driver *d, uint16_t i,
					    bool wrap)
{
	/* Pairs with the device's release of the first used flags. */
	uint16_t flags = smp_load_acquire(&d->pdesc[i].flags);

	return !!(flags & VQ_PACKED_AVAIL) == !!(flags & VQ_PACKED_USED) &&
	       !!(flags & VQ_PACKED_USED) == wrap;
}

/* Packed: driver event area, off_wrap first (virtqueue_get_buf_ctx_packed()). */
static inline void vq_driver_write_event(struct vq_driver *d,
					 uint16_t off_wrap, uint16_t flags)
{
	VQ_WRITE(d->pdriver->off_wrap, off_wrap);
	if (d->event_flags != flags) {
		d->event_flags = flags;
		VQ_WRITE(d->pdriver->flags, flags);
	}
	/* Pairs with the device's mb between publishing and reading it. */
	smp_mb();
}

static inline uint16_t vq_driver_last_used_wrap(struct vq_driver *d)
{
	return d->last_used | (d->used_wrap ? VQ_PACKED_WRAP : 0);
}

/* Packed (virtqueue_get_buf_ctx_packed(), detach_buf_packed()). */
static inline int vq_driver_get_used_packed(struct vq_driver *d,
					    uint32_t *len)
{
	struct vring_packed_desc *desc;
	uint16_t id, n;

	if (!vq_driver_is_used_packed(d, d->last_used, d->used_wrap))
		return -1;
	desc = &d->pdesc[d->last_used];
	id = desc->id;
	if (len)
		*len = desc->len;
	if (id >= d->size || !d->chain_len[id])
		return -2;
	n = d->chain_len[id];
	d->id_next[id] = d->free_head;
	d->free_head = id;
	d->num_free += n;
	d->chain_len[id] = 0;
	d->last_used += n;
	if (d->last_used >= d->size) {
		d->last_used -= d->size;
		d->used_wrap = !d->used_wrap;
	}
	if (d->event_flags == VRING_PACKED_EVENT_FLAG_DESC)
		vq_driver_write_event(d, vq_driver_last_used_wrap(d),
				      VRING_PACKED_EVENT_FLAG_DESC);
	return id;
}

/*
 * Take the next used element: returns its head (packed: buffer id) and
 * sets *@len, or -1 when none (-2 for an id that is not outstanding).
 * Frees the chain's descriptors.
 */
static inline int vq_driver_get_used(struct vq_driver *d, uint32_t *len)
{
	uint16_t head, n, i;
	struct vring_used_elem *e;

	if (d->format == VQ_PACKED)
		return vq_driver_get_used_packed(d, len);
	/* Pairs with the device's release of used->idx. */
	if (smp_load_acquire(&d->used->idx) == d->last_used)
		return -1;
	e = &d->used->ring[d->last_used & (d->size - 1)];
	head = (uint16_t)VQ_READ(e->id);
	if (len)
		*len = VQ_READ(e->len);
	d->last_used++;
	if (head >= d->size)
		return -2;
	n = d->chain_len[head];
	for (i = head; n > 1; n--)
		i = d->desc[i].next;
	d->desc[i].next = d->free_head;
	d->free_head = head;
	d->num_free += d->chain_len[head];
	d->chain_len[head] = 0;
	return head;
}

/*
 * Used entries the device published and the driver has not read (packed:
 * the used descriptors from the driver's position on, each skipping its
 * chain's descriptors).
 */
static inline uint16_t vq_driver_used_pending(struct vq_driver *d)
{
	uint16_t pos = d->last_used, n = 0, id, seen = 0;
	bool wrap = d->used_wrap;

	if (d->format != VQ_PACKED)
		return (uint16_t)(VQ_READ(d->used->idx) - d->last_used);
	while (seen < d->size && vq_driver_is_used_packed(d, pos, wrap)) {
		id = d->pdesc[pos].id;
		if (id >= d->size || !d->chain_len[id])
			break;
		n++;
		seen += d->chain_len[id];
		pos += d->chain_len[id];
		if (pos >= d->size) {
			pos -= d->size;
			wrap = !wrap;
		}
	}
	return n;
}

/*
 * Ask for an interrupt after the next used entry (virtqueue_enable_cb):
 * used_event = last_used with EVENT_IDX, else clear NO_INTERRUPT.
 * Return: true when entries are already pending.
 */
static inline bool vq_driver_enable_cb(struct vq_driver *d)
{
	if (d->format == VQ_PACKED) {
		/* virtqueue_enable_cb_prepare_packed(), then poll. */
		vq_driver_write_event(d, vq_driver_last_used_wrap(d),
				      d->event_idx ?
				      VRING_PACKED_EVENT_FLAG_DESC :
				      VRING_PACKED_EVENT_FLAG_ENABLE);
		return vq_driver_used_pending(d) != 0;
	}
	if (d->event_idx)
		VQ_WRITE(d->avail->ring[d->size], d->last_used);
	else
		VQ_WRITE(d->avail->flags, 0);
	/* Pairs with the device's mb between used->idx and used_event. */
	smp_mb();
	return vq_driver_used_pending(d) != 0;
}

/* No interrupts wanted (virtqueue_disable_cb). */
static inline void vq_driver_disable_cb(struct vq_driver *d)
{
	if (d->format == VQ_PACKED) {
		/* virtqueue_disable_cb_packed(): also with EVENT_IDX. */
		if (d->event_flags != VRING_PACKED_EVENT_FLAG_DISABLE) {
			d->event_flags = VRING_PACKED_EVENT_FLAG_DISABLE;
			VQ_WRITE(d->pdriver->flags, d->event_flags);
		}
		return;
	}
	if (!d->event_idx)
		VQ_WRITE(d->avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
}

/*
 * With EVENT_IDX: interrupt only once used->idx passes @event (packed:
 * once the used position passes @event descriptors from the start of the
 * ring, counting every lap).
 */
static inline void vq_driver_set_used_event(struct vq_driver *d,
					    uint16_t event)
{
	if (d->format == VQ_PACKED) {
		uint16_t lap = event / d->size;

		vq_driver_write_event(d, (event % d->size) |
				      (lap & 1 ? 0 : VQ_PACKED_WRAP),
				      VRING_PACKED_EVENT_FLAG_DESC);
		return;
	}
	VQ_WRITE(d->avail->ring[d->size], event);
	/* Pairs with the device's mb between used->idx and used_event. */
	smp_mb();
}

/* avail_event as written by the device. */
static inline uint16_t vq_driver_avail_event(struct vq_driver *d)
{
	return VQ_READ(*(uint16_t *)&d->used->ring[d->size]);
}

#endif /* _VDEV_VQ_DRIVER_H */
