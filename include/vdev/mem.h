/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest memory: a refcounted map from guest-physical addresses to host
 * pointers. Regions can be added while device workers run; a worker sees
 * either the old or the new set of regions, never a torn one.
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
 * @hva: host address the range is mapped at
 * @fd: backing fd (memfd, file) or -1 for anonymous memory
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

int vdev_mem_add_region_flags(struct vdev_mem *mem, uint64_t gpa,
			      uint64_t size, void *hva, uint32_t flags);

/**
 * vdev_mem_add_region_fd() - add a region backed by a file descriptor
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes
 * @fd: fd to mmap (MAP_SHARED); vdev dups it and unmaps and closes its
 *      copy when the last reference to @mem is dropped
 * @offset: file offset of @gpa
 *
 * The region is read-write, so @fd must be open for writing; see
 * vdev_mem_add_region_fd_flags() for a read-only one.
 *
 * Return: 0 or -errno as for vdev_mem_add_region(), or the mmap error.
 */
int vdev_mem_add_region_fd(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			   int fd, uint64_t offset);

int vdev_mem_add_region_fd_flags(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t size, int fd, uint64_t offset,
				 uint32_t flags);

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
 * @gpa + @len must not overflow. The region may be read-only: the
 * pointer is for reading; use vdev_mem_translate_write() to write.
 *
 * Return: the host pointer, or NULL.
 */
void *vdev_mem_translate(struct vdev_mem *mem, uint64_t gpa, uint64_t len);

void *vdev_mem_translate_write(struct vdev_mem *mem, uint64_t gpa,
			       uint64_t len);

/**
 * vdev_mem_translate_partial() - host pointer for the start of a range
 * @mem: the map
 * @gpa: start of the range
 * @len: length wanted
 * @avail: set to how many bytes from @gpa are contiguous in the region
 *         found (at most @len)
 *
 * Used to split a buffer that spans two adjacent regions. As for
 * vdev_mem_translate(), the pointer is for reading only.
 *
 * Return: the host pointer, or NULL when @gpa is in no region or
 * @gpa + @len overflows.
 */
void *vdev_mem_translate_partial(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t len, uint64_t *avail);

void *vdev_mem_translate_partial_write(struct vdev_mem *mem, uint64_t gpa,
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
