// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory map.
 *
 * Writers (add, remove, replace) are serialised by a mutex and keep the
 * authoritative, sorted list of regions in @slots. Readers (device
 * workers, on every buffer) never take a lock and never see @slots: they
 * read one of two copies of the table, a latch (Linux's
 * raw_write_seqcount_latch()). A writer moves the readers to copy 1,
 * rewrites copy 0, moves them back to copy 0, rewrites copy 1; a reader
 * picks the copy @seq names and retries if @seq moved meanwhile. So a
 * reader never waits for a writer, always gets a table that was
 * published whole (the old one or the new one), and the map needs no
 * memory per change: the two copies are all there is, however many
 * times the table is replaced (a vhost-user back-end replaces it on
 * every SET_MEM_TABLE, for as long as the VM runs).
 *
 * What the latch cannot know is when a reader is done with a host
 * pointer it returned. Removing a region therefore needs the devices
 * quiesced (vdev_device_pause()); see vdev_mem_remove_region(). The
 * rings of enabled queues, which a pause does not release, pin their
 * regions instead (lib/mem_priv.h): a pinned region is not removed. A
 * mapping vdev made itself (an fd region) is unmapped, and its fd
 * closed, by the call that removes it.
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
#include <sys/stat.h>
#include <unistd.h>

#include <vdev/log.h>
#include <vdev/mem.h>

#include "compiler.h"
#include "mem_priv.h"
#include "refcount.h"

/*
 * One published copy of the region table. Every field is read with
 * READ_ONCE() and written with WRITE_ONCE(): a reader may read a copy
 * while the writer rewrites it (it then retries).
 */
struct mem_table {
	unsigned int nr;
	struct vdev_mem_region regions[VDEV_MEM_MAX_REGIONS];
};

/*
 * The writer's record of one region. An fd region (@r.fd >= 0) is
 * vdev's own mapping of @r.size bytes at @r.hva and vdev's dup of the
 * fd; @st_dev and @st_ino name the file, so that a replace can tell a
 * region it already has from a new one. @pins counts the rings of
 * enabled queues in the region (lib/mem_priv.h); a pinned region is not
 * removed.
 */
struct mem_slot {
	struct vdev_mem_region r;
	dev_t st_dev;
	ino_t st_ino;
	unsigned int pins;
};

struct vdev_mem {
	atomic_uint refs;
	pthread_mutex_t lock;		/* serialises writers */
	unsigned int nr;		/* under @lock */
	struct mem_slot slots[VDEV_MEM_MAX_REGIONS];	/* sorted, @lock */
	unsigned long seq;		/* latch: readers use table[seq & 1] */
	struct mem_table table[2];
};

/**
 * vdev_mem_create() - allocate an empty guest memory map
 * @memp: on success, the new map with one reference held by the caller
 *
 * Return: 0 or -ENOMEM.
 */
int vdev_mem_create(struct vdev_mem **memp)
{
	struct vdev_mem *mem;

	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	refcount_set(&mem->refs, 1);
	pthread_mutex_init(&mem->lock, NULL);
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

/* Undo what slot_map_fd() did; nothing for a caller's mapping. */
static void slot_release(struct mem_slot *s)
{
	if (s->r.fd < 0)
		return;
	munmap(s->r.hva, s->r.size);
	close(s->r.fd);
	s->r.fd = -1;
}

/**
 * vdev_mem_put() - drop a reference; the last one frees the map
 * @mem: the map, or NULL
 */
void vdev_mem_put(struct vdev_mem *mem)
{
	unsigned int i;

	if (!mem || !refcount_dec_and_test(&mem->refs))
		return;

	for (i = 0; i < mem->nr; i++)
		slot_release(&mem->slots[i]);
	pthread_mutex_destroy(&mem->lock);
	free(mem);
}

static void table_write(struct mem_table *t, const struct mem_slot *s,
			unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct vdev_mem_region *d = &t->regions[i];

		WRITE_ONCE(d->gpa, s[i].r.gpa);
		WRITE_ONCE(d->size, s[i].r.size);
		WRITE_ONCE(d->hva, s[i].r.hva);
		WRITE_ONCE(d->fd, s[i].r.fd);
		WRITE_ONCE(d->fd_offset, s[i].r.fd_offset);
		WRITE_ONCE(d->flags, s[i].r.flags);
	}
	WRITE_ONCE(t->nr, nr);
}

/*
 * Make @mem->slots what readers see, in one step: a reader that starts
 * after this returns sees only the new table; one that overlaps it sees
 * the old table or the new one, whole. Called with @mem->lock held.
 */
static void mem_publish(struct vdev_mem *mem)
{
	unsigned long seq = mem->seq;	/* only writers store it */

	/*
	 * Readers to copy 1 (still the old table), then rewrite copy 0.
	 * The release publishes copy 1 as the previous call left it.
	 */
	smp_store_release(&mem->seq, seq + 1);
	/*
	 * Orders the new @seq before the stores to the copy; pairs with
	 * the acquire fence in latch_retry(): a reader that read any of
	 * them then sees @seq moved and retries.
	 */
	smp_mb();
	table_write(&mem->table[seq & 1], mem->slots, mem->nr);
	/* Readers to copy 0, the new table, which the release publishes. */
	smp_store_release(&mem->seq, seq + 2);
	/* As above, before the stores to copy 1. */
	smp_mb();
	table_write(&mem->table[(seq + 1) & 1], mem->slots, mem->nr);
}

static bool range_overlaps(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a <= b + blen - 1 && b <= a + alen - 1;
}

/* -EINVAL (logged) unless @r describes a range vdev can take. */
static int region_check(const struct vdev_mem_region *r, bool by_fd)
{
	if (!r->size || r->gpa + r->size - 1 < r->gpa ||
	    (r->flags & ~VDEV_MEM_F_ALL) || (!by_fd && !r->hva) ||
	    (by_fd && r->size > SIZE_MAX)) {
		vdev_log(VDEV_LOG_ERR,
			 "mem: bad region gpa %#llx size %#llx flags %#x",
			 (unsigned long long)r->gpa,
			 (unsigned long long)r->size, r->flags);
		return -EINVAL;
	}
	return 0;
}

/*
 * Map @s->r.size bytes of @fd from @s->r.fd_offset (PROT_READ only for a
 * read-only region) and keep a dup of @fd; fills @s->r.hva, @s->r.fd and
 * the file's identity. Return: 0 or -errno, with nothing left behind.
 */
static int slot_map_fd(struct mem_slot *s, int fd)
{
	int prot = PROT_READ;
	struct stat st;
	void *hva;
	int ret;

	if (fstat(fd, &st))
		return -errno;
	/* A guest access past the end of a file would be a SIGBUS. */
	if (S_ISREG(st.st_mode) &&
	    (s->r.fd_offset > (uint64_t)st.st_size ||
	     s->r.size > (uint64_t)st.st_size - s->r.fd_offset)) {
		vdev_log(VDEV_LOG_ERR,
			 "mem: region %#llx+%#llx at offset %#llx is past the end of fd %d (%lld bytes)",
			 (unsigned long long)s->r.gpa,
			 (unsigned long long)s->r.size,
			 (unsigned long long)s->r.fd_offset, fd,
			 (long long)st.st_size);
		return -EINVAL;
	}
	if (!(s->r.flags & VDEV_MEM_F_READONLY))
		prot |= PROT_WRITE;
	hva = mmap(NULL, s->r.size, prot, MAP_SHARED, fd,
		   (off_t)s->r.fd_offset);
	if (hva == MAP_FAILED) {
		ret = -errno;
		vdev_log(VDEV_LOG_ERR, "mem: mmap of fd %d failed: %d", fd,
			 ret);
		return ret;
	}
	s->r.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (s->r.fd < 0) {
		ret = -errno;
		munmap(hva, s->r.size);
		return ret;
	}
	s->r.hva = hva;
	s->st_dev = st.st_dev;
	s->st_ino = st.st_ino;
	return 0;
}

static int mem_insert(struct vdev_mem *mem, const struct mem_slot *s)
{
	const struct vdev_mem_region *r = &s->r;
	unsigned int i, pos;

	pthread_mutex_lock(&mem->lock);
	if (mem->nr >= VDEV_MEM_MAX_REGIONS) {
		pthread_mutex_unlock(&mem->lock);
		return -ENOSPC;
	}
	pos = mem->nr;
	for (i = 0; i < mem->nr; i++) {
		const struct vdev_mem_region *o = &mem->slots[i].r;

		if (range_overlaps(r->gpa, r->size, o->gpa, o->size)) {
			pthread_mutex_unlock(&mem->lock);
			vdev_log(VDEV_LOG_ERR,
				 "mem: region %#llx+%#llx overlaps %#llx+%#llx",
				 (unsigned long long)r->gpa,
				 (unsigned long long)r->size,
				 (unsigned long long)o->gpa,
				 (unsigned long long)o->size);
			return -EEXIST;
		}
		if (pos == mem->nr && r->gpa < o->gpa)
			pos = i;
	}
	memmove(&mem->slots[pos + 1], &mem->slots[pos],
		(mem->nr - pos) * sizeof(*s));
	mem->slots[pos] = *s;
	mem->nr++;
	mem_publish(mem);
	pthread_mutex_unlock(&mem->lock);
	return 0;
}

/**
 * vdev_mem_add_region_flags() - add a host mapping of guest RAM or ROM
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes, non-zero
 * @hva: host address of the mapping; the caller keeps it mapped until
 *       the region is removed (vdev_mem_remove_region(),
 *       vdev_mem_set_regions()) or the last reference to @mem is dropped
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
	struct mem_slot s = {
		.r = { .gpa = gpa, .size = size, .hva = hva, .fd = -1,
		       .flags = flags },
	};
	int ret;

	ret = region_check(&s.r, false);
	if (ret)
		return ret;
	return mem_insert(mem, &s);
}

/**
 * vdev_mem_add_region() - add a host mapping of guest RAM
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes, non-zero
 * @hva: host address of the mapping; the caller keeps it mapped until
 *       the region is removed or the last reference to @mem is dropped
 *
 * Safe to call while devices use @mem (memory hot-add): nothing needs
 * to be paused.
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
 * @fd: fd to mmap (MAP_SHARED); vdev dups it, and unmaps and closes its
 *      copy when the region is removed or the last reference to @mem is
 *      dropped; the caller may close @fd at once
 * @offset: file offset of @gpa
 * @flags: VDEV_MEM_F_READONLY or 0, as for vdev_mem_add_region_flags()
 *
 * A read-only region is mapped PROT_READ, so @fd may be open read-only
 * and vdev cannot write to it even by mistake; otherwise it is mapped
 * read-write. vdev_mem_add_region_fd() is this with @flags 0. This is
 * what a vhost-user back-end calls for VHOST_USER_ADD_MEM_REG.
 *
 * Return: 0 or -errno as for vdev_mem_add_region_flags(); -EINVAL also
 * when @fd is a regular file that ends before @offset + @size (a guest
 * access there would raise SIGBUS); -EBADF, or the mmap error (-EACCES
 * for a read-write region on a read-only @fd).
 */
int vdev_mem_add_region_fd_flags(struct vdev_mem *mem, uint64_t gpa,
				 uint64_t size, int fd, uint64_t offset,
				 uint32_t flags)
{
	struct mem_slot s = {
		.r = { .gpa = gpa, .size = size, .fd = -1,
		       .fd_offset = offset, .flags = flags },
	};
	int ret;

	ret = region_check(&s.r, true);
	if (ret)
		return ret;
	ret = slot_map_fd(&s, fd);
	if (ret)
		return ret;
	ret = mem_insert(mem, &s);
	if (ret)
		slot_release(&s);
	return ret;
}

/**
 * vdev_mem_add_region_fd() - add a region backed by a file descriptor
 * @mem: the map
 * @gpa: guest-physical base
 * @size: length in bytes
 * @fd: fd to mmap (MAP_SHARED); vdev dups it, and unmaps and closes its
 *      copy when the region is removed or the last reference to @mem is
 *      dropped
 * @offset: file offset of @gpa
 *
 * The region is read-write, so @fd must be open for writing; see
 * vdev_mem_add_region_fd_flags() for a read-only one.
 *
 * Return: 0 or -errno as for vdev_mem_add_region_fd_flags().
 */
int vdev_mem_add_region_fd(struct vdev_mem *mem, uint64_t gpa, uint64_t size,
			   int fd, uint64_t offset)
{
	return vdev_mem_add_region_fd_flags(mem, gpa, size, fd, offset, 0);
}

/**
 * vdev_mem_remove_region() - remove one region (memory hot-unplug)
 * @mem: the map
 * @gpa: guest-physical base of the region, as it was added
 * @size: its length, as it was added
 *
 * Removes the region that is exactly [@gpa, @gpa + @size), in one
 * publish: a concurrent lookup sees the map with it or without it. A
 * region vdev mapped from an fd is unmapped and its fd closed before
 * this returns; a region given by address is the caller's to unmap once
 * this has returned. This is what a vhost-user back-end calls for
 * VHOST_USER_REM_MEM_REG.
 *
 * vdev does not know which chains hold host pointers into the region,
 * so the caller quiesces first: every device that uses @mem must be
 * paused (vdev_device_pause(), which returns only when its workers have
 * parked, holding no chain) or reset, from before this call until it
 * returns; vdev_device_resume() afterwards. A chain the guest then
 * places in the removed range fails translation like any address
 * outside guest RAM (DEVICE_NEEDS_RESET). The rings are different: a
 * queue translates them once, when it is enabled, and uses those host
 * pointers until it is disabled, paused or not. A region holding a ring
 * of an enabled queue is therefore pinned and is not removed (-EBUSY):
 * reset the device, or disable the queue, first. The pin is taken with
 * the ring's translation under the map's lock, so a removal racing an
 * activate either wins (the activate finds the ring outside guest RAM)
 * or fails.
 *
 * Context: takes the map's lock, which readers never take.
 *
 * Return: 0; -EINVAL for a zero @size, a wrapping range, or a range that
 * overlaps regions without being exactly one of them (a part of a
 * region, or more than one); -ENOENT when no region overlaps it; -EBUSY
 * (logged, nothing changed) when the region holds a ring of an enabled
 * queue.
 */
int vdev_mem_remove_region(struct vdev_mem *mem, uint64_t gpa,
			   uint64_t size)
{
	struct mem_slot gone;
	unsigned int i;

	if (!size || gpa + size - 1 < gpa) {
		vdev_log(VDEV_LOG_ERR, "mem: bad range gpa %#llx size %#llx",
			 (unsigned long long)gpa, (unsigned long long)size);
		return -EINVAL;
	}

	pthread_mutex_lock(&mem->lock);
	for (i = 0; i < mem->nr; i++) {
		const struct vdev_mem_region *o = &mem->slots[i].r;

		if (range_overlaps(gpa, size, o->gpa, o->size))
			break;
	}
	if (i == mem->nr) {
		pthread_mutex_unlock(&mem->lock);
		vdev_log(VDEV_LOG_ERR, "mem: no region at %#llx+%#llx",
			 (unsigned long long)gpa, (unsigned long long)size);
		return -ENOENT;
	}
	if (mem->slots[i].r.gpa != gpa || mem->slots[i].r.size != size) {
		pthread_mutex_unlock(&mem->lock);
		vdev_log(VDEV_LOG_ERR,
			 "mem: %#llx+%#llx is not one region (%#llx+%#llx)",
			 (unsigned long long)gpa, (unsigned long long)size,
			 (unsigned long long)mem->slots[i].r.gpa,
			 (unsigned long long)mem->slots[i].r.size);
		return -EINVAL;
	}
	if (mem->slots[i].pins) {
		unsigned int pins = mem->slots[i].pins;

		pthread_mutex_unlock(&mem->lock);
		vdev_log(VDEV_LOG_ERR,
			 "mem: region %#llx+%#llx holds %u ring(s) of enabled queues",
			 (unsigned long long)gpa, (unsigned long long)size,
			 pins);
		return -EBUSY;
	}
	gone = mem->slots[i];
	memmove(&mem->slots[i], &mem->slots[i + 1],
		(mem->nr - i - 1) * sizeof(gone));
	mem->nr--;
	mem_publish(mem);
	pthread_mutex_unlock(&mem->lock);

	slot_release(&gone);
	return 0;
}

/* Does the new region @n, whose file is @st_dev/@st_ino, match @o? */
static bool slot_same(const struct mem_slot *o, const struct mem_slot *n)
{
	if (o->r.gpa != n->r.gpa || o->r.size != n->r.size ||
	    o->r.flags != n->r.flags)
		return false;
	if (n->r.fd < 0)
		return o->r.fd < 0 && o->r.hva == n->r.hva;
	return o->r.fd >= 0 && o->r.fd_offset == n->r.fd_offset &&
	       o->st_dev == n->st_dev && o->st_ino == n->st_ino;
}

/**
 * vdev_mem_set_regions() - replace every region of the map at once
 * @mem: the map
 * @regions: the new regions, in any order; for each, @fd >= 0 asks vdev
 *           to map @size bytes of @fd from @fd_offset (@hva is then
 *           ignored), @fd < 0 gives a mapping by address at @hva
 * @nr: how many, 0 to VDEV_MEM_MAX_REGIONS (0 empties the map)
 *
 * The whole new table is validated and every new fd mapped before
 * anything changes; then it replaces the old one in one publish, so a
 * concurrent lookup sees either table, never a mix. This is what a
 * vhost-user back-end calls for VHOST_USER_SET_MEM_TABLE.
 *
 * A region that is already in the map, unchanged, is kept as it is:
 * same @gpa, @size and @flags, and the same @hva (by address) or the
 * same file at the same @fd_offset (by fd; compared by device and inode,
 * so the fd may be a new one for the same memfd). Its host address
 * stays valid across the call, its fd is not dup'd again, and a ring or
 * chain in it is unaffected. A front-end that resends its table with
 * one region added therefore changes nothing for the rest.
 *
 * Every other old region is removed, with the rules and the quiesce of
 * vdev_mem_remove_region(): pause the devices that use @mem around the
 * call when it drops or changes any region; a call that only keeps and
 * adds needs no pause. A region holding a ring of an enabled queue must
 * be kept unchanged: a table that drops or changes it is refused.
 *
 * Context: takes the map's lock, which readers never take.
 *
 * Return: 0, and the map is the new table; on error the map is unchanged
 * and no fd or mapping is left behind: -EINVAL for a NULL @regions with
 * @nr > 0, or a region with a zero size, a wrapping range, an unknown
 * flag or (by address) a NULL @hva, or a regular file that ends before
 * the region does; -EEXIST when two new regions overlap; -ENOSPC when
 * @nr > VDEV_MEM_MAX_REGIONS; -EBUSY (logged) when the table drops or
 * changes a region holding a ring of an enabled queue; -EBADF, or the
 * mmap error; -ENOMEM.
 */
int vdev_mem_set_regions(struct vdev_mem *mem,
			 const struct vdev_mem_region *regions,
			 unsigned int nr)
{
	bool kept[VDEV_MEM_MAX_REGIONS] = { false };
	bool same[VDEV_MEM_MAX_REGIONS] = { false };
	bool fresh[VDEV_MEM_MAX_REGIONS] = { false };
	struct mem_slot *next, *gone, s;
	unsigned int i, j, nr_gone = 0;
	struct stat st;
	int ret;

	if (nr > VDEV_MEM_MAX_REGIONS)
		return -ENOSPC;
	if (nr && !regions)
		return -EINVAL;
	next = calloc(2 * VDEV_MEM_MAX_REGIONS, sizeof(*next));
	if (!next)
		return -ENOMEM;
	gone = next + VDEV_MEM_MAX_REGIONS;

	/* Validate and sort (insertion sort: at most 64 entries). */
	for (i = 0; i < nr; i++) {
		s = (struct mem_slot){ .r = regions[i] };
		ret = region_check(&s.r, s.r.fd >= 0);
		if (ret)
			goto out_free;
		if (s.r.fd >= 0) {
			if (fstat(s.r.fd, &st)) {
				ret = -errno;
				goto out_free;
			}
			s.st_dev = st.st_dev;
			s.st_ino = st.st_ino;
		} else {
			s.r.fd = -1;
			s.r.fd_offset = 0;
		}
		for (j = i; j && next[j - 1].r.gpa > s.r.gpa; j--)
			next[j] = next[j - 1];
		next[j] = s;
	}
	for (i = 1; i < nr; i++) {
		if (range_overlaps(next[i - 1].r.gpa, next[i - 1].r.size,
				   next[i].r.gpa, next[i].r.size)) {
			vdev_log(VDEV_LOG_ERR,
				 "mem: new region %#llx+%#llx overlaps %#llx+%#llx",
				 (unsigned long long)next[i].r.gpa,
				 (unsigned long long)next[i].r.size,
				 (unsigned long long)next[i - 1].r.gpa,
				 (unsigned long long)next[i - 1].r.size);
			ret = -EEXIST;
			goto out_free;
		}
	}

	pthread_mutex_lock(&mem->lock);
	/* Keep what is unchanged; a pinned region must be kept. */
	for (i = 0; i < nr; i++) {
		for (j = 0; j < mem->nr; j++) {
			if (!kept[j] && slot_same(&mem->slots[j], &next[i]))
				break;
		}
		if (j < mem->nr) {
			kept[j] = true;
			same[i] = true;
			next[i] = mem->slots[j];
		}
	}
	for (j = 0; j < mem->nr; j++) {
		if (!kept[j] && mem->slots[j].pins) {
			s = mem->slots[j];
			pthread_mutex_unlock(&mem->lock);
			vdev_log(VDEV_LOG_ERR,
				 "mem: region %#llx+%#llx holds %u ring(s) of enabled queues",
				 (unsigned long long)s.r.gpa,
				 (unsigned long long)s.r.size, s.pins);
			ret = -EBUSY;
			goto out_free;
		}
	}
	/* Map what is new. */
	for (i = 0; i < nr; i++) {
		if (same[i])
			continue;
		if (next[i].r.fd >= 0) {
			ret = slot_map_fd(&next[i], next[i].r.fd);
			if (ret)
				goto out_unmap;
			fresh[i] = true;
		}
	}
	for (j = 0; j < mem->nr; j++) {
		if (!kept[j])
			gone[nr_gone++] = mem->slots[j];
	}
	memcpy(mem->slots, next, nr * sizeof(*next));
	mem->nr = nr;
	mem_publish(mem);
	pthread_mutex_unlock(&mem->lock);

	for (i = 0; i < nr_gone; i++)
		slot_release(&gone[i]);
	free(next);
	return 0;

out_unmap:
	while (i--) {
		if (fresh[i])
			slot_release(&next[i]);
	}
	pthread_mutex_unlock(&mem->lock);
out_free:
	free(next);
	return ret;
}

/*
 * The slot holding all of [@gpa, @gpa + @len), or NULL. Called with
 * @mem->lock held.
 */
static struct mem_slot *slot_find(struct vdev_mem *mem, uint64_t gpa,
				  uint64_t len)
{
	unsigned int i;

	for (i = 0; i < mem->nr; i++) {
		struct mem_slot *s = &mem->slots[i];

		if (gpa >= s->r.gpa && gpa - s->r.gpa < s->r.size &&
		    len <= s->r.size - (gpa - s->r.gpa))
			return s;
	}
	return NULL;
}

/*
 * Translate and pin in one step under the writers' lock, so that no
 * removal can come between them (lib/mem_priv.h).
 */
void *__vdev_mem_pin(struct vdev_mem *mem, uint64_t gpa, uint64_t len,
		     bool write)
{
	struct mem_slot *s;
	void *hva = NULL;

	if (!len || gpa + len < gpa)
		return NULL;
	pthread_mutex_lock(&mem->lock);
	s = slot_find(mem, gpa, len);
	if (s && !(write && (s->r.flags & VDEV_MEM_F_READONLY))) {
		s->pins++;
		hva = (char *)s->r.hva + (gpa - s->r.gpa);
	}
	pthread_mutex_unlock(&mem->lock);
	return hva;
}

void __vdev_mem_unpin(struct vdev_mem *mem, uint64_t gpa)
{
	struct mem_slot *s;
	bool found;

	pthread_mutex_lock(&mem->lock);
	s = slot_find(mem, gpa, 1);
	found = s && s->pins;
	if (found)
		s->pins--;
	pthread_mutex_unlock(&mem->lock);
	/* A vdev bug: pins are taken and dropped by lib/queue.c alone. */
	if (!found)
		vdev_log(VDEV_LOG_ERR, "mem: no pin at %#llx",
			 (unsigned long long)gpa);
}

/* Start of a latch read: the copy of the table readers use now. */
static inline unsigned long latch_begin(struct vdev_mem *mem,
					const struct mem_table **t)
{
	/* Pairs with the release stores of @seq in mem_publish(). */
	unsigned long seq = smp_load_acquire(&mem->seq);

	*t = &mem->table[seq & 1];
	return seq;
}

/* End of a latch read: true when the copy was rewritten meanwhile. */
static inline bool latch_retry(struct vdev_mem *mem, unsigned long seq)
{
	/* Orders the reads of the copy before the re-read of @seq. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return READ_ONCE(mem->seq) != seq;
}

static inline void region_read(const struct vdev_mem_region *r,
			       struct vdev_mem_region *out)
{
	out->gpa = READ_ONCE(r->gpa);
	out->size = READ_ONCE(r->size);
	out->hva = READ_ONCE(r->hva);
	out->fd = READ_ONCE(r->fd);
	out->fd_offset = READ_ONCE(r->fd_offset);
	out->flags = READ_ONCE(r->flags);
}

/*
 * Copy the region of @t containing @gpa (its @gpa, @size, @hva and
 * @flags) to @out; false when none. Binary
 * search: regions are sorted. @t may be rewritten under us (the caller
 * then retries), so every index stays in bounds whatever is read.
 */
static bool table_find(const struct mem_table *t, uint64_t gpa,
		       struct vdev_mem_region *out)
{
	unsigned int lo = 0, hi = READ_ONCE(t->nr);

	if (hi > VDEV_MEM_MAX_REGIONS)
		hi = VDEV_MEM_MAX_REGIONS;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct vdev_mem_region *r = &t->regions[mid];
		uint64_t base = READ_ONCE(r->gpa);

		if (gpa < base) {
			hi = mid;
		} else if (gpa - base >= READ_ONCE(r->size)) {
			lo = mid + 1;
		} else {
			/* What a lookup needs; not @fd and @fd_offset. */
			out->gpa = base;
			out->size = READ_ONCE(r->size);
			out->hva = READ_ONCE(r->hva);
			out->flags = READ_ONCE(r->flags);
			return true;
		}
	}
	return false;
}

/*
 * Host pointer for @gpa and how many of @len bytes follow it in the same
 * region; NULL when @gpa is in no region, the range wraps, or @write is
 * set and the region is read-only.
 */
static void *mem_lookup(struct vdev_mem *mem, uint64_t gpa, uint64_t len,
			bool write, uint64_t *avail)
{
	const struct mem_table *t;
	struct vdev_mem_region r;
	unsigned long seq;
	uint64_t off, room;
	bool found;

	if (gpa + len < gpa)
		return NULL;
	do {
		seq = latch_begin(mem, &t);
		found = table_find(t, gpa, &r);
	} while (latch_retry(mem, seq));
	if (!found || (write && (r.flags & VDEV_MEM_F_READONLY)))
		return NULL;
	off = gpa - r.gpa;
	room = r.size - off;
	*avail = len < room ? len : room;
	return (char *)r.hva + off;
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
	const struct mem_table *t;
	unsigned long seq;
	unsigned int nr;

	do {
		seq = latch_begin(mem, &t);
		nr = READ_ONCE(t->nr);
	} while (latch_retry(mem, seq));
	return nr;
}

/**
 * vdev_mem_region_at() - copy out one region's description
 * @mem: the map
 * @i: index, 0 .. vdev_mem_nr_regions() - 1, in ascending gpa order
 * @out: filled in, from one published table (a concurrent replace may
 *       renumber the regions between two calls)
 *
 * Context: any thread; lock-free.
 *
 * Return: 0, or -ENOENT for an index past the end.
 */
int vdev_mem_region_at(struct vdev_mem *mem, unsigned int i,
		       struct vdev_mem_region *out)
{
	const struct mem_table *t;
	unsigned long seq;
	bool found;

	do {
		seq = latch_begin(mem, &t);
		found = i < READ_ONCE(t->nr) && i < VDEV_MEM_MAX_REGIONS;
		if (found)
			region_read(&t->regions[i], out);
	} while (latch_retry(mem, seq));
	return found ? 0 : -ENOENT;
}
