/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private: inflight I/O tracking (lib/inflight.c), for a back-end that
 * must survive its own restart (vhost-user's INFLIGHT_SHMFD). The queue
 * layer records, in a region of shared memory that outlives the process,
 * which chains the device has popped and not yet returned used; a new
 * process given the same region resumes those chains first, then the
 * ring where it was. Not installed.
 *
 * The region layouts are vhost-user.rst's ("Inflight I/O tracking"), in
 * host byte order; the procedure that keeps them consistent whatever
 * instant the process dies at is vdev's own (lib/inflight.c, and
 * Documentation/vhost-user.rst, "Inflight tracking").
 */
#ifndef _VDEV_LIB_INFLIGHT_PRIV_H
#define _VDEV_LIB_INFLIGHT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vdev_chain;
struct vdev_device;
struct vdev_queue;
struct vdev_queue_state;

/* Version of an initialised region (0: not yet). */
#define VQ_INFLIGHT_VERSION	1
/* Each queue's region starts at a multiple of this. */
#define VQ_INFLIGHT_ALIGN	64

/**
 * struct vq_inflight_split_desc - split ring: one descriptor table entry
 * @inflight: 1 while the chain headed here is popped and not used
 * @padding: zero
 * @next: the push before this one (the list from @last_batch_head)
 * @counter: pop order of the chain headed here
 */
struct vq_inflight_split_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

/**
 * struct vq_inflight_split - split ring: one queue's region
 * @features: zero
 * @version: VQ_INFLIGHT_VERSION, or 0 before the first start
 * @desc_num: entries in @desc: the queue size
 * @last_batch_head: head of the most recent push
 * @used_idx: used->idx once the back-end's pushes up to it are recorded
 * @desc: one per descriptor table entry
 */
struct vq_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vq_inflight_split_desc desc[];
};

/**
 * struct vq_inflight_packed_desc - packed ring: one entry
 * @inflight: head entry of a chain popped and not used
 * @pushed: head entry of a chain pushed, not yet known published (the
 *          spec's padding byte)
 * @next: the chain's next entry (or the free list's)
 * @last: head entry: the entry of the chain's last descriptor
 * @num: head entry: descriptors in the chain
 * @counter: head entry: pop order
 * @id: copy of the descriptor's buffer id
 * @flags: copy of its flags
 * @len: copy of its length
 * @addr: copy of its address
 */
struct vq_inflight_packed_desc {
	uint8_t inflight;
	uint8_t pushed;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

/**
 * struct vq_inflight_packed - packed ring: one queue's region
 * @features: zero
 * @version: VQ_INFLIGHT_VERSION, or 0 before the first start
 * @desc_num: entries in @desc: the queue size
 * @free_head: first free entry (informative: vdev rebuilds its free list
 *             at every start)
 * @old_free_head: as @free_head
 * @used_idx: used offset after the last push
 * @old_used_idx: used offset after the last publication
 * @used_wrap_counter: wrap counter of @used_idx
 * @old_used_wrap_counter: wrap counter of @old_used_idx
 * @padding: zero
 * @desc: entries, one per descriptor of every chain in flight
 */
struct vq_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vq_inflight_packed_desc desc[];
};

_Static_assert(sizeof(struct vq_inflight_split_desc) == 16, "layout");
_Static_assert(sizeof(struct vq_inflight_split) == 16, "layout");
_Static_assert(sizeof(struct vq_inflight_packed_desc) == 32, "layout");
_Static_assert(sizeof(struct vq_inflight_packed) == 32, "layout");

/*
 * Bytes of one queue's region for rings of up to @queue_size entries,
 * either format (the packed layout is the larger): a multiple of
 * VQ_INFLIGHT_ALIGN.
 */
static inline size_t vq_inflight_queue_bytes(uint16_t queue_size)
{
	size_t n = sizeof(struct vq_inflight_packed) +
		   (size_t)queue_size * sizeof(struct vq_inflight_packed_desc);

	return (n + VQ_INFLIGHT_ALIGN - 1) & ~(size_t)(VQ_INFLIGHT_ALIGN - 1);
}

/*
 * For a transport (lib/vhost_user.c), with queue @index of @dev not
 * enabled: track it in @region (vq_inflight_queue_bytes(@queue_size)
 * bytes, mapped shared) from its next start; or stop tracking it (NULL).
 * The region must stay mapped until detached.
 */
void vq_inflight_attach(struct vdev_device *dev, unsigned int index,
			void *region, uint16_t queue_size);

/* For lib/queue.c. */
struct vq_inflight;
int vq_inflight_start(struct vdev_queue *vq, struct vdev_queue_state *state);
void vq_inflight_stop(struct vdev_queue *vq);
int vq_inflight_pop(struct vdev_queue *vq, struct vdev_chain *chain);
int vq_inflight_rewind(struct vdev_queue *vq, const struct vdev_chain *chain);
void vq_inflight_pushed(struct vdev_queue *vq, uint16_t id);
void vq_inflight_flushed(struct vdev_queue *vq);
bool vq_inflight_resubmit_pending(const struct vq_inflight *in);

#endif /* _VDEV_LIB_INFLIGHT_PRIV_H */
