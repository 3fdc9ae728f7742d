/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest memory: a refcounted map from guest-physical addresses to host
 * pointers. Regions can be added while device workers run; a worker sees
 * either the old or the new set of regions, never a torn one.
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
 * @hva: host address the range is mapped at
 * @fd: backing fd (memfd, file) or -1 for anonymous memory
 * @fd_offset: offset of @gpa within @fd
 */
struct vdev_mem_region {
	uint64_t gpa;
	uint64_t size;
	void *hva;
	int fd;
	uint64_t fd_offset;
};

/* At most this many regions in one map. */
#define VDEV_MEM_MAX_REGIONS 64

/* Each function is documented at its definition, in lib/mem.c. */
int vdev_mem_create(struct vdev_mem **memp);

int vdev_mem_add_region(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			void *hva);

int vdev_mem_add_region_fd(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			   int fd, uint64_t offset);

struct vdev_mem *vdev_mem_get(struct vdev_mem *mem);

void vdev_mem_put(struct vdev_mem *mem);

void *vdev_mem_translate(struct vdev_mem *mem, uint64_t gpa, uint64_t len);

void *vdev_mem_translate_partial(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t len, uint64_t *avail);

unsigned int vdev_mem_nr_regions(struct vdev_mem *mem);

int vdev_mem_region_at(struct vdev_mem *mem, unsigned int i,
		       struct vdev_mem_region *out);

#endif /* _VDEV_MEM_H */
