// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory map.
 *
 * The regions live in an immutable, sorted table. Adding a region builds a
 * new table and publishes it with a release store; readers (device
 * workers, on every descriptor) load the pointer with acquire and never
 * take a lock. A replaced table is kept until the map is freed, so a
 * reader still walking it never sees freed memory; hot-add is rare and
 * bounded by VDEV_MEM_MAX_REGIONS, so this costs at most that many tables.
 *
 * Each region carries its permissions (VDEV_MEM_F_READONLY). Lookups say
 * whether they are for a device write; a write lookup never returns a
 * pointer into a read-only region, so a driver that hands the device a
 * ROM buffer to fill gets its queue stopped instead of a SIGSEGV in the
 * VMM.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vdev/log.h>
#include <vdev/mem.h>

#include "compiler.h"
#include "refcount.h"

struct mem_table {
	struct mem_table *retired;	/* older table, freed with the map */
	unsigned int nr;
	struct vdev_mem_region regions[];
};

struct mem_mapping {
	void *hva;
	size_t size;
	int fd;
};

struct vdev_mem {
	atomic_uint refs;
	pthread_mutex_t lock;		/* serialises writers */
	struct mem_table *table;	/* published with release */
	unsigned int nr_mappings;
	struct mem_mapping mappings[VDEV_MEM_MAX_REGIONS];
};

static struct mem_table *table_alloc(unsigned int nr)
{
	return calloc(1, sizeof(struct mem_table) +
			 nr * sizeof(struct vdev_mem_region));
}

/**
 * vdev_mem_create() - allocate an empty guest memory map
 * @memp: on success, the new map with one reference held by the caller
 *
 * Return: 0 or -ENOMEM.
 */
int vdev_mem_create(struct vdev_mem **memp)
{
	struct vdev_mem *mem;
	struct mem_table *t;

	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	t = table_alloc(0);
	if (!t) {
		free(mem);
		return -ENOMEM;
	}
	refcount_set(&mem->refs, 1);
	pthread_mutex_init(&mem->lock, NULL);
	mem->table = t;
	*memp = mem;
	return 0;
}

/**
 * vdev_mem_get() - take a reference
 * @mem: the map
 *
 * Return: @mem.
 */
struct vdev_mem *vdev_mem_get(struct vdev_mem *mem)
{
	refcount_inc(&mem->refs);
	return mem;
}

/**
 * vdev_mem_put() - drop a reference; the last one frees the map
 * @mem: the map, or NULL
 */
void vdev_mem_put(struct vdev_mem *mem)
{
	struct mem_table *t, *next;
	unsigned int i;

	if (!mem || !refcount_dec_and_test(&mem->refs))
		return;

	for (t = mem->table; t; t = next) {
		next = t->retired;
		free(t);
	}
	for (i = 0; i < mem->nr_mappings; i++) {
		munmap(mem->mappings[i].hva, mem->mappings[i].size);
		close(mem->mappings[i].fd);
	}
	pthread_mutex_destroy(&mem->lock);
	free(mem);
}

static inline struct mem_table *table_load(struct vdev_mem *mem)
{
	/* Pairs with the release store in mem_insert(). */
	return __atomic_load_n(&mem->table, __ATOMIC_ACQUIRE);
}

static int mem_insert(struct vdev_mem *mem, const struct vdev_mem_region *r)
{
	struct mem_table *old, *new;
	unsigned int i, pos;
	uint64_t end = r->gpa + r->size - 1;

	if (!r->size || !r->hva || end < r->gpa ||
	    (r->flags & ~VDEV_MEM_F_ALL)) {
		vdev_log(VDEV_LOG_ERR,
			 "mem: bad region gpa %#llx size %#llx flags %#x",
			 (unsigned long long)r->gpa,
			 (unsigned long long)r->size, r->flags);
		return -EINVAL;
	}

	pthread_mutex_lock(&mem->lock);
	old = mem->table;
	if (old->nr >= VDEV_MEM_MAX_REGIONS) {
		pthread_mutex_unlock(&mem->lock);
		return -ENOSPC;
	}
	pos = old->nr;
	for (i = 0; i < old->nr; i++) {
		const struct vdev_mem_region *o = &old->regions[i];

		if (r->gpa <= o->gpa + o->size - 1 && o->gpa <= end) {
			pthread_mutex_unlock(&mem->lock);
			vdev_log(VDEV_LOG_ERR,
				 "mem: region %#llx+%#llx overlaps %#llx+%#llx",
				 (unsigned long long)r->gpa,
				 (unsigned long long)r->size,
				 (unsigned long long)o->gpa,
				 (unsigned long long)o->size);
			return -EEXIST;
		}
		if (pos == old->nr && r->gpa < o->gpa)
			pos = i;
	}

	new = table_alloc(old->nr + 1);
	if (!new) {
		pthread_mutex_unlock(&mem->lock);
		return -ENOMEM;
	}
	memcpy(new->regions, old->regions, pos * sizeof(*r));
	new->regions[pos] = *r;
	memcpy(&new->regions[pos + 1], &old->regions[pos],
	       (old->nr - pos) * sizeof(*r));
	new->nr = old->nr + 1;
	new->retired = old;
	/* Pairs with the acquire load in table_load(). */
	__atomic_store_n(&mem->table, new, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mem->lock);
	return 0;
}

/**
 * vdev_mem_add_region_flags() - add a host mapping of guest RAM or ROM
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes, non-zero
 * @hva: host address of the mapping; the caller keeps it mapped until the
 *       last reference to @mem is dropped
 * @flags: VDEV_MEM_F_READONLY for a range the device may only read (it
 *         may then be mapped PROT_READ), or 0
 *
 * As vdev_mem_add_region(), which is this with @flags 0. A VMM that
 * registers a slot with KVM_MEM_READONLY, or maps guest ROM, passes
 * VDEV_MEM_F_READONLY: vdev then refuses any device write there (a write
 * translation returns NULL) and never stores to it.
 *
 * Return: 0; -EINVAL for a zero size, a wrapping range, a NULL @hva or an
 * unknown flag; -EEXIST when the range overlaps an existing region;
 * -ENOSPC when the map is full; -ENOMEM.
 */
int vdev_mem_add_region_flags(struct vdev_mem *mem, uint64_t gpa,
			      uint64_t size, void *hva, uint32_t flags)
{
	struct vdev_mem_region r = {
		.gpa = gpa, .size = size, .hva = hva, .fd = -1,
		.flags = flags,
	};

	return mem_insert(mem, &r);
}

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
 * Context: takes the map's lock, which readers never take.
 *
 * Return: 0; -EINVAL for a zero size, a wrapping range or a NULL @hva;
 * -EEXIST when the range overlaps an existing region; -ENOSPC when the
 * map is full; -ENOMEM.
 */
int vdev_mem_add_region(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			void *hva)
{
	return vdev_mem_add_region_flags(mem, gpa, size, hva, 0);
}

/**
 * vdev_mem_add_region_fd_flags() - add a region backed by a file descriptor
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes
 * @fd: fd to mmap (MAP_SHARED); vdev dups it and unmaps and closes its
 *      copy when the last reference to @mem is dropped
 * @offset: file offset of @gpa
 * @flags: VDEV_MEM_F_READONLY or 0, as for vdev_mem_add_region_flags()
 *
 * A read-only region is mapped PROT_READ, so @fd may be open read-only
 * and vdev cannot write to it even by mistake; otherwise it is mapped
 * read-write. vdev_mem_add_region_fd() is this with @flags 0.
 *
 * Return: 0 or -errno as for vdev_mem_add_region_flags(), or the mmap
 * error (-EACCES for a read-write region on a read-only @fd).
 */
int vdev_mem_add_region_fd_flags(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t size, int fd, uint64_t offset,
				 uint32_t flags)
{
	struct vdev_mem_region r = {
		.gpa = gpa, .size = size, .fd_offset = offset, .flags = flags,
	};
	int prot = PROT_READ;
	struct mem_mapping *m;
	int ret;

	if (!size || size > SIZE_MAX || (flags & ~VDEV_MEM_F_ALL))
		return -EINVAL;

	if (!(flags & VDEV_MEM_F_READONLY))
		prot |= PROT_WRITE;
	r.hva = mmap(NULL, size, prot, MAP_SHARED, fd, (off_t)offset);
	if (r.hva == MAP_FAILED) {
		ret = -errno;
		vdev_log(VDEV_LOG_ERR, "mem: mmap of fd %d failed: %d", fd,
			 ret);
		return ret;
	}
	r.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r.fd < 0) {
		ret = -errno;
		goto out_unmap;
	}

	/* Every mapping is a region, so mappings[] cannot overflow. */
	ret = mem_insert(mem, &r);
	if (ret)
		goto out_close;

	pthread_mutex_lock(&mem->lock);
	m = &mem->mappings[mem->nr_mappings++];
	m->hva = r.hva;
	m->size = size;
	m->fd = r.fd;
	pthread_mutex_unlock(&mem->lock);
	return 0;

out_close:
	close(r.fd);
out_unmap:
	munmap(r.hva, size);
	return ret;
}

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
			   int fd, uint64_t offset)
{
	return vdev_mem_add_region_fd_flags(mem, gpa, size, fd, offset, 0);
}

/* The region containing @gpa, or NULL. Binary search: regions are sorted. */
static const struct vdev_mem_region *table_find(const struct mem_table *t,
						uint64_t gpa)
{
	unsigned int lo = 0, hi = t->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct vdev_mem_region *r = &t->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/*
 * Host pointer for @gpa and how many of @len bytes follow it in the same
 * region; NULL when @gpa is in no region, the range wraps, or @write is
 * set and the region is read-only.
 */
static void *mem_lookup(struct vdev_mem *mem, uint64_t gpa, uint64_t len,
			bool write, uint64_t *avail)
{
	const struct vdev_mem_region *r;
	uint64_t off, room;

	if (gpa + len < gpa)
		return NULL;
	r = table_find(table_load(mem), gpa);
	if (!r || (write && (r->flags & VDEV_MEM_F_READONLY)))
		return NULL;
	off = gpa - r->gpa;
	room = r->size - off;
	*avail = len < room ? len : room;
	return (char *)r->hva + off;
}

static void *mem_lookup_whole(struct vdev_mem *mem, uint64_t gpa,
			      uint64_t len, bool write)
{
	uint64_t avail;
	void *hva;

	hva = mem_lookup(mem, gpa, len, write, &avail);
	if (!hva || avail != len)
		return NULL;
	return hva;
}

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
 * Context: any thread; lock-free (device workers call it per buffer).
 *
 * Return: the host pointer, or NULL when @gpa is in no region or
 * @gpa + @len overflows.
 */
void *vdev_mem_translate_partial(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t len, uint64_t *avail)
{
	return mem_lookup(mem, gpa, len, false, avail);
}

/**
 * vdev_mem_translate_partial_write() - writable host pointer for the
 *                                      start of a range
 * @mem: the map
 * @gpa: start of the range
 * @len: length wanted
 * @avail: set to how many bytes from @gpa are contiguous in the region
 *         found (at most @len)
 *
 * As vdev_mem_translate_partial(), for a range the device will write:
 * a region with VDEV_MEM_F_READONLY is treated as absent.
 *
 * Return: the host pointer, or NULL when @gpa is in no writable region
 * or @gpa + @len overflows.
 */
void *vdev_mem_translate_partial_write(struct vdev_mem *mem, uint64_t gpa,
				       uint64_t len, uint64_t *avail)
{
	return mem_lookup(mem, gpa, len, true, avail);
}

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
 * Context: any thread; lock-free.
 *
 * Return: the host pointer, or NULL.
 */
void *vdev_mem_translate(struct vdev_mem *mem, uint64_t gpa, uint64_t len)
{
	return mem_lookup_whole(mem, gpa, len, false);
}

/**
 * vdev_mem_translate_write() - guest-physical range to writable host pointer
 * @mem: the map
 * @gpa: start of the range
 * @len: length of the range
 *
 * As vdev_mem_translate(), for a range the device will write (a used
 * ring, say): the whole range must lie in one region without
 * VDEV_MEM_F_READONLY.
 *
 * Return: the host pointer, or NULL.
 */
void *vdev_mem_translate_write(struct vdev_mem *mem, uint64_t gpa,
			       uint64_t len)
{
	return mem_lookup_whole(mem, gpa, len, true);
}

/**
 * vdev_mem_nr_regions() - number of regions currently in the map
 * @mem: the map
 *
 * Return: the count.
 */
unsigned int vdev_mem_nr_regions(struct vdev_mem *mem)
{
	return table_load(mem)->nr;
}

/**
 * vdev_mem_region_at() - copy out one region's description
 * @mem: the map
 * @i: index, 0 .. vdev_mem_nr_regions() - 1, in ascending gpa order
 * @out: filled in
 *
 * Return: 0, or -ENOENT for an index past the end.
 */
int vdev_mem_region_at(struct vdev_mem *mem, unsigned int i,
		       struct vdev_mem_region *out)
{
	const struct mem_table *t = table_load(mem);

	if (i >= t->nr)
		return -ENOENT;
	*out = t->regions[i];
	return 0;
}
