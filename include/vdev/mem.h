/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest memory: a refcounted map from guest-physical addresses to host
 * pointers. Regions can be added, removed and the whole set replaced
 * while device workers run; a lookup sees either the old or the new set
 * of regions, never a torn one. Adding needs nothing else; removing a
 * region (or replacing it) needs every device that uses the map paused
 * around the call, because vdev does not know which chains point into
 * it, and is refused (-EBUSY) for a region that holds a ring of an
 * enabled queue (vdev_mem_remove_region() says exactly what is required).
 *
 * A region is read-write unless it carries VDEV_MEM_F_READONLY (ROM, or
 * a slot the VMM registered with KVM_MEM_READONLY). vdev never stores to
 * a read-only region: a translation for a device write refuses it, and a
 * driver that asks for one is a guest error, not a fault in the VMM.
 */
#ifndef _VDEV_MEM_H
#define _VDEV_MEM_H

#include <stddef.h>
#include <stdint.h>

struct vdev_mem;

/**
 * struct vdev_mem_region - one contiguous range of guest RAM
 * @gpa: guest-physical base
 * @size: length in bytes
 * @hva: host address the range is mapped at (for a region vdev maps
 *       from @fd, vdev's own mapping)
 * @fd: backing fd (memfd, file) or -1 for memory given by address; in a
 *      region read back, vdev's own dup of the fd
 * @fd_offset: offset of @gpa within @fd
 * @flags: VDEV_MEM_F_*; 0 is guest RAM the device may read and write
 */
struct vdev_mem_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	int fd;
	uint64_t fd_offset;
	uint32_t flags;
};

/* The device may only read the region (@hva may be mapped PROT_READ). */
#define VDEV_MEM_F_READONLY	(1U << 0)
/* Every flag vdev_mem_add_region_flags() accepts. */
#define VDEV_MEM_F_ALL		VDEV_MEM_F_READONLY

/* At most this many regions in one map. */
#define VDEV_MEM_MAX_REGIONS 64

/* Each function is documented at its definition, in lib/mem.c. */
int vdev_mem_create(struct vdev_mem **memp);

int vdev_mem_add_region(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			void *hva);

int vdev_mem_add_region_flags(struct vdev_mem *mem, uint64_t gpa,
			      uint64_t size, void *hva, uint32_t flags);

int vdev_mem_add_region_fd(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			   int fd, uint64_t offset);

int vdev_mem_add_region_fd_flags(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t size, int fd, uint64_t offset,
				 uint32_t flags);

int vdev_mem_remove_region(struct vdev_mem *mem, uint64_t gpa,
			   uint64_t size);

int vdev_mem_set_regions(struct vdev_mem *mem,
			 const struct vdev_mem_region *regions,
			 unsigned int nr);

struct vdev_mem *vdev_mem_get(struct vdev_mem *mem);

void vdev_mem_put(struct vdev_mem *mem);

void *vdev_mem_translate(struct vdev_mem *mem, uint64_t gpa, uint64_t len);

void *vdev_mem_translate_write(struct vdev_mem *mem, uint64_t gpa,
			       uint64_t len);

void *vdev_mem_translate_partial(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t len, uint64_t *avail);

void *vdev_mem_translate_partial_write(struct vdev_mem *mem, uint64_t gpa,
				       uint64_t len, uint64_t *avail);

unsigned int vdev_mem_nr_regions(struct vdev_mem *mem);

int vdev_mem_region_at(struct vdev_mem *mem, unsigned int i,
		       struct vdev_mem_region *out);

#endif /* _VDEV_MEM_H */
