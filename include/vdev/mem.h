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

/**
 * vdev_mem_create() - allocate an empty guest memory map
 * @memp: on success, the new map with one reference held by the caller
 *
 * Return: 0 or -ENOMEM.
 */
int vdev_mem_create(struct vdev_mem **memp);

/**
 * vdev_mem_add_region() - add a host mapping of guest RAM
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes, non-zero
 * @hva: host address of the mapping; the caller keeps it mapped until the
 *       last reference to @mem is dropped
 *
 * Safe to call while devices use @mem (memory hot-add).
 *
 * Return: 0; -EINVAL for a zero size, a wrapping range or a NULL @hva;
 * -EEXIST when the range overlaps an existing region; -ENOSPC when the
 * map is full; -ENOMEM.
 */
int vdev_mem_add_region(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			void *hva);

/**
 * vdev_mem_add_region_fd() - add a region backed by a file descriptor
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes
 * @fd: fd to mmap (MAP_SHARED); vdev dups it and unmaps and closes its
 *      copy when the last reference to @mem is dropped
 * @offset: file offset of @gpa
 *
 * Return: 0 or -errno as for vdev_mem_add_region(), or the mmap error.
 */
int vdev_mem_add_region_fd(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			   int fd, uint64_t offset);

/**
 * vdev_mem_get() - take a reference
 * @mem: the map
 *
 * Return: @mem.
 */
struct vdev_mem *vdev_mem_get(struct vdev_mem *mem);

/**
 * vdev_mem_put() - drop a reference; the last one frees the map
 * @mem: the map, or NULL
 */
void vdev_mem_put(struct vdev_mem *mem);

/**
 * vdev_mem_translate() - guest-physical range to host pointer
 * @mem: the map
 * @gpa: start of the range
 * @len: length of the range
 *
 * The whole range [@gpa, @gpa + @len) must lie inside one region;
 * @gpa + @len must not overflow.
 *
 * Return: the host pointer, or NULL.
 */
void *vdev_mem_translate(struct vdev_mem *mem, uint64_t gpa, uint64_t len);

/**
 * vdev_mem_translate_partial() - host pointer for the start of a range
 * @mem: the map
 * @gpa: start of the range
 * @len: length wanted
 * @avail: set to how many bytes from @gpa are contiguous in the region
 *         found (at most @len)
 *
 * Used to split a buffer that spans two adjacent regions.
 *
 * Return: the host pointer, or NULL when @gpa is in no region or
 * @gpa + @len overflows.
 */
void *vdev_mem_translate_partial(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t len, uint64_t *avail);

/**
 * vdev_mem_nr_regions() - number of regions currently in the map
 * @mem: the map
 *
 * Return: the count.
 */
unsigned int vdev_mem_nr_regions(struct vdev_mem *mem);

/**
 * vdev_mem_region_at() - copy out one region's description
 * @mem: the map
 * @i: index, 0 .. vdev_mem_nr_regions() - 1, in ascending gpa order
 * @out: filled in
 *
 * Return: 0, or -ENOENT for an index past the end.
 */
int vdev_mem_region_at(struct vdev_mem *mem, unsigned int i,
		       struct vdev_mem_region *out);

#endif /* _VDEV_MEM_H */
