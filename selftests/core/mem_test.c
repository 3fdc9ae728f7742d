// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory: removing and replacing regions (memory hot-unplug,
 * vhost-user SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG), what that
 * releases, lock-free readers racing the writers, a device moving data
 * across a pause, remove, re-add and resume, and the regions of its
 * rings pinned while its queue is enabled.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include <vdev/vdev.h>

#include "compiler.h"
#include "kselftest_harness.h"
#include "vdev_test.h"
#include "vq_driver.h"
#include "tdev.h"

#define PG	4096ULL

/* ---- helpers ---- */

static int memfd_of(uint64_t size)
{
	int fd = memfd_create("mem-test", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Lines of /proc/self/maps that map this test's memfds ("memfd:mem-test"),
 * so that what the sanitizers' allocators map does not count; and whether
 * any line contains @addr.
 */
static int maps_scan(const void *addr, bool *found)
{
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	if (found)
		*found = false;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "memfd:mem-test"))
			n++;
		if (found && sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    a >= lo && a < hi)
			*found = true;
	}
	fclose(f);
	return n;
}

static bool is_mapped(const void *addr)
{
	bool found;

	return maps_scan(addr, &found) >= 0 && found;
}

static struct vdev_mem_region by_addr(uint64_t gpa, uint64_t size, void *hva)
{
	return (struct vdev_mem_region){ .gpa = gpa, .size = size,
					 .hva = hva, .fd = -1 };
}

static struct vdev_mem_region by_fd(uint64_t gpa, uint64_t size, int fd,
				    uint64_t off)
{
	return (struct vdev_mem_region){ .gpa = gpa, .size = size,
					 .fd = fd, .fd_offset = off };
}

/* ---- remove ---- */

TEST(remove_region_semantics)
{
	static char a[PG], b[PG], c[PG];
	struct vdev_mem_region r;
	struct vdev_mem *mem;
	uint64_t avail = 0;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x1000, PG, a));
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x2000, PG, b)); /* adjacent */
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x8000, PG, c));

	/* Bad input, unknown range, part or more than one region. */
	EXPECT_EQ(-EINVAL, vdev_mem_remove_region(mem, 0x1000, 0));
	EXPECT_EQ(-EINVAL, vdev_mem_remove_region(mem, UINT64_MAX - 10, PG));
	EXPECT_EQ(-ENOENT, vdev_mem_remove_region(mem, 0x4000, PG));
	EXPECT_EQ(-ENOENT, vdev_mem_remove_region(mem, 0, 0x1000));
	EXPECT_EQ(-EINVAL, vdev_mem_remove_region(mem, 0x1000, PG / 2));
	EXPECT_EQ(-EINVAL, vdev_mem_remove_region(mem, 0x1800, PG));
	EXPECT_EQ(-EINVAL, vdev_mem_remove_region(mem, 0x1000, 2 * PG));
	EXPECT_EQ(-EINVAL, vdev_mem_remove_region(mem, 0, 0x10000));
	EXPECT_EQ(3, vdev_mem_nr_regions(mem));

	/* The exact range goes, the neighbours stay. */
	EXPECT_EQ(0, vdev_mem_remove_region(mem, 0x2000, PG));
	EXPECT_EQ(2, vdev_mem_nr_regions(mem));
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x2000, 1));
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x2fff, 1));
	EXPECT_EQ((void *)(a + 5), vdev_mem_translate(mem, 0x1005, 1));
	EXPECT_EQ((void *)c, vdev_mem_translate(mem, 0x8000, PG));
	ASSERT_EQ(0, vdev_mem_region_at(mem, 1, &r));
	EXPECT_EQ(0x8000, r.gpa);
	EXPECT_EQ(-ENOENT, vdev_mem_region_at(mem, 2, &r));
	EXPECT_EQ(-ENOENT, vdev_mem_remove_region(mem, 0x2000, PG));

	/* A buffer spanning the hole now ends at the hole. */
	EXPECT_EQ((void *)(a + PG - 16),
		  vdev_mem_translate_partial(mem, 0x2000 - 16, 32, &avail));
	EXPECT_EQ(16, avail);

	/* Its range is free again, at the same or another address. */
	EXPECT_EQ(0, vdev_mem_add_region(mem, 0x2000, PG, c + 0));
	EXPECT_EQ(-EEXIST, vdev_mem_add_region(mem, 0x2800, PG, b));
	EXPECT_EQ(0, vdev_mem_remove_region(mem, 0x2000, PG));
	EXPECT_EQ(0, vdev_mem_add_region(mem, 0x3000, PG, b));
	EXPECT_EQ((void *)b, vdev_mem_translate(mem, 0x3000, PG));

	/* Everything can go; the map is then empty, not broken. */
	EXPECT_EQ(0, vdev_mem_remove_region(mem, 0x1000, PG));
	EXPECT_EQ(0, vdev_mem_remove_region(mem, 0x3000, PG));
	EXPECT_EQ(0, vdev_mem_remove_region(mem, 0x8000, PG));
	EXPECT_EQ(0, vdev_mem_nr_regions(mem));
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x1000, 1));
	EXPECT_EQ(-ENOENT, vdev_mem_remove_region(mem, 0x1000, PG));
	vdev_mem_put(mem);
}

/* Remove frees the slot: add and remove far more often than the cap. */
TEST(remove_frees_the_slot)
{
	static char a[PG];
	struct vdev_mem *mem;
	unsigned int i;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	for (i = 0; i < 10 * VDEV_MEM_MAX_REGIONS; i++) {
		ASSERT_EQ(0, vdev_mem_add_region(mem, PG * i, PG, a));
		ASSERT_EQ(0, vdev_mem_remove_region(mem, PG * i, PG));
	}
	for (i = 0; i < VDEV_MEM_MAX_REGIONS; i++)
		ASSERT_EQ(0, vdev_mem_add_region(mem, PG * i, PG, a));
	EXPECT_EQ(-ENOSPC, vdev_mem_add_region(mem, PG * i, PG, a));
	vdev_mem_put(mem);
}

/* ---- replace ---- */

TEST(set_regions_semantics)
{
	static char a[2 * PG], b[PG], c[PG];
	struct vdev_mem_region v[VDEV_MEM_MAX_REGIONS + 1], r;
	struct vdev_mem *mem;
	unsigned int i;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x1000, PG, a));
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x9000, PG, b));

	/* Given out of order, stored sorted; the old regions are gone. */
	v[0] = by_addr(0x20000, PG, c);
	v[1] = by_addr(0x10000, 2 * PG, a);
	v[1].flags = VDEV_MEM_F_READONLY;
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 2));
	EXPECT_EQ(2, vdev_mem_nr_regions(mem));
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	EXPECT_EQ(0x10000, r.gpa);
	EXPECT_EQ(2 * PG, r.size);
	EXPECT_EQ(-1, r.fd);
	EXPECT_EQ(VDEV_MEM_F_READONLY, r.flags);
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x1000, 1));
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x9000, 1));
	EXPECT_EQ((void *)(a + PG), vdev_mem_translate(mem, 0x11000, PG));
	EXPECT_EQ(NULL, vdev_mem_translate_write(mem, 0x11000, PG));
	EXPECT_EQ((void *)c, vdev_mem_translate_write(mem, 0x20000, PG));

	/* Every error leaves the map as it was. */
	v[0] = by_addr(0x1000, PG, a);
	v[1] = by_addr(0x1800, PG, b);		/* overlaps v[0] */
	EXPECT_EQ(-EEXIST, vdev_mem_set_regions(mem, v, 2));
	v[1] = by_addr(0x3000, 0, b);		/* zero size */
	EXPECT_EQ(-EINVAL, vdev_mem_set_regions(mem, v, 2));
	v[1] = by_addr(UINT64_MAX - PG + 2, PG, b); /* wraps */
	EXPECT_EQ(-EINVAL, vdev_mem_set_regions(mem, v, 2));
	v[1] = by_addr(0x3000, PG, NULL);	/* no host address */
	EXPECT_EQ(-EINVAL, vdev_mem_set_regions(mem, v, 2));
	v[1] = by_addr(0x3000, PG, b);
	v[1].flags = 0x80;			/* unknown flag */
	EXPECT_EQ(-EINVAL, vdev_mem_set_regions(mem, v, 2));
	EXPECT_EQ(-EINVAL, vdev_mem_set_regions(mem, NULL, 1));
	for (i = 0; i <= VDEV_MEM_MAX_REGIONS; i++)
		v[i] = by_addr(PG * i, PG, b);
	EXPECT_EQ(-ENOSPC, vdev_mem_set_regions(mem, v,
						VDEV_MEM_MAX_REGIONS + 1));
	EXPECT_EQ(2, vdev_mem_nr_regions(mem));
	EXPECT_EQ((void *)c, vdev_mem_translate(mem, 0x20000, PG));

	/* A full table is fine; so is an empty one. */
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, VDEV_MEM_MAX_REGIONS));
	EXPECT_EQ(VDEV_MEM_MAX_REGIONS, vdev_mem_nr_regions(mem));
	EXPECT_EQ(-ENOSPC, vdev_mem_add_region(mem, 0x1000000, PG, a));
	ASSERT_EQ(0, vdev_mem_set_regions(mem, NULL, 0));
	EXPECT_EQ(0, vdev_mem_nr_regions(mem));
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0, 1));
	vdev_mem_put(mem);
}

/*
 * A region that is in the new table unchanged keeps its mapping and fd
 * (the front-end resends the whole table with one region added); one
 * that changed is mapped anew and the old mapping and fd released.
 */
TEST(set_regions_keeps_unchanged_fd_regions)
{
	struct vdev_mem_region v[3], r0, r1, r;
	int fd0, fd1, fd0_again, fds;
	struct vdev_mem *mem;

	fd0 = memfd_of(4 * PG);
	fd1 = memfd_of(4 * PG);
	ASSERT_LE(0, fd0);
	ASSERT_LE(0, fd1);
	ASSERT_EQ(0, vdev_mem_create(&mem));
	fds = vdev_test_count_fds();

	v[0] = by_fd(0x100000, 2 * PG, fd0, 0);
	v[1] = by_fd(0x200000, 2 * PG, fd1, 2 * PG);
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 2));
	EXPECT_EQ(fds + 2, vdev_test_count_fds());
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r0));
	ASSERT_EQ(0, vdev_mem_region_at(mem, 1, &r1));
	EXPECT_NE(fd0, r0.fd);			/* vdev's own dup */
	EXPECT_EQ(2 * PG, r1.fd_offset);
	strcpy(r0.hva, "kept");

	/* Same regions through a new fd of the same memfd, plus one. */
	fd0_again = dup(fd0);
	ASSERT_LE(0, fd0_again);
	v[0] = by_fd(0x100000, 2 * PG, fd0_again, 0);
	v[2] = by_fd(0x300000, PG, fd1, 0);
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 3));
	close(fd0_again);
	EXPECT_EQ(fds + 3, vdev_test_count_fds());
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	EXPECT_EQ(r0.hva, r.hva);
	EXPECT_EQ(r0.fd, r.fd);
	ASSERT_EQ(0, vdev_mem_region_at(mem, 1, &r));
	EXPECT_EQ(r1.hva, r.hva);
	EXPECT_STREQ("kept", vdev_mem_translate(mem, 0x100000, 5));

	/* What vdev_mem_region_at() returns round-trips unchanged too. */
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &v[0]));
	ASSERT_EQ(0, vdev_mem_region_at(mem, 1, &v[1]));
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 2));
	EXPECT_EQ(fds + 2, vdev_test_count_fds());
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	EXPECT_EQ(r0.hva, r.hva);

	/* A different offset, or different flags, is a different region. */
	v[0] = by_fd(0x100000, 2 * PG, fd0, PG);
	v[1].flags = VDEV_MEM_F_READONLY;
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 2));
	EXPECT_EQ(fds + 2, vdev_test_count_fds());
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	EXPECT_NE(r0.hva, r.hva);
	EXPECT_EQ(PG, r.fd_offset);
	ASSERT_EQ(0, vdev_mem_region_at(mem, 1, &r));
	EXPECT_NE(r1.hva, r.hva);
	EXPECT_EQ(VDEV_MEM_F_READONLY, r.flags);
	EXPECT_FALSE(is_mapped(r0.hva));
	EXPECT_FALSE(is_mapped(r1.hva));
	EXPECT_EQ(NULL, vdev_mem_translate_write(mem, 0x200000, 1));
	EXPECT_NE(NULL, vdev_mem_translate(mem, 0x200000, 1));

	vdev_mem_put(mem);
	EXPECT_EQ(fds, vdev_test_count_fds());
	close(fd0);
	close(fd1);
}

/* A failing replace leaves the map, the fds and the mappings as they were. */
TEST(set_regions_failure_leaves_nothing)
{
	struct vdev_mem_region v[3], r;
	int fd, ro, efd, fds, maps;
	struct vdev_mem *mem;

	fd = memfd_of(4 * PG);
	ASSERT_LE(0, fd);
	efd = eventfd(0, EFD_CLOEXEC);	/* cannot be mapped */
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, vdev_mem_add_region_fd(mem, 0x1000, PG, fd, 0));
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	fds = vdev_test_count_fds();
	maps = maps_scan(NULL, NULL);

	/* Two new fd regions map, the third cannot: all three undone. */
	v[0] = by_fd(0x10000, PG, fd, PG);
	v[1] = by_fd(0x20000, PG, fd, 2 * PG);
	v[2] = by_fd(0x30000, PG, efd, 0);
	EXPECT_EQ(-ENODEV, vdev_mem_set_regions(mem, v, 3));
	v[2] = by_fd(0x30000, PG, 1000, 0);	/* not open */
	EXPECT_EQ(-EBADF, vdev_mem_set_regions(mem, v, 3));
	v[2] = by_fd(0x30000, 2 * PG, fd, 3 * PG); /* past the memfd's end */
	EXPECT_EQ(-EINVAL, vdev_mem_set_regions(mem, v, 3));
	EXPECT_EQ(-EINVAL, vdev_mem_add_region_fd(mem, 0x30000, 2 * PG, fd,
						  3 * PG));
	ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ro);
	v[2] = by_fd(0x30000, PG, ro, 0);	/* read-write on a r/o fd */
	EXPECT_EQ(-EACCES, vdev_mem_set_regions(mem, v, 3));
	close(ro);

	EXPECT_EQ(fds, vdev_test_count_fds());
	EXPECT_EQ(maps, maps_scan(NULL, NULL));
	EXPECT_EQ(1, vdev_mem_nr_regions(mem));
	EXPECT_EQ(r.hva, vdev_mem_translate(mem, 0x1000, PG));
	vdev_mem_put(mem);
	close(efd);
	close(fd);
}

/* ---- what removal releases ---- */

/*
 * A region vdev mapped from an fd is unmapped and its fd closed by the
 * call that removes it, not when the map dies: a back-end that replaces
 * its table for as long as the VM runs holds one mapping and one fd per
 * current region, whatever the number of replacements.
 */
TEST(fd_region_removal_unmaps_and_closes)
{
	int fd, fds0, maps0, i;
	struct vdev_mem_region v[2], r;
	struct vdev_mem *mem;
	void *hva;

	fd = memfd_of(8 * PG);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, vdev_mem_create(&mem));
	fds0 = vdev_test_count_fds();
	maps0 = maps_scan(NULL, NULL);

	ASSERT_EQ(0, vdev_mem_add_region_fd(mem, 0x100000, 4 * PG, fd, 0));
	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	hva = r.hva;
	EXPECT_EQ(fds0 + 1, vdev_test_count_fds());
	EXPECT_EQ(maps0 + 1, maps_scan(NULL, NULL));
	EXPECT_TRUE(is_mapped(hva));
	EXPECT_EQ(0, vdev_mem_remove_region(mem, 0x100000, 4 * PG));
	EXPECT_EQ(fds0, vdev_test_count_fds());
	EXPECT_FALSE(is_mapped(hva));
	EXPECT_EQ(maps0, maps_scan(NULL, NULL));

	/* 2000 replacements of a two-region table: no growth. */
	for (i = 0; i < 2000; i++) {
		v[0] = by_fd(0x100000, 4 * PG, fd, (i & 1) * 4 * PG);
		v[1] = by_fd(0x800000 + PG * (i & 1), PG, fd, 0);
		ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 2));
		ASSERT_EQ(fds0 + 2, vdev_test_count_fds());
	}
	EXPECT_EQ(maps0 + 2, maps_scan(NULL, NULL));
	for (i = 0; i < 2000; i++) {
		ASSERT_EQ(0, vdev_mem_add_region_fd(mem, 0x400000, PG, fd,
						    PG));
		ASSERT_EQ(0, vdev_mem_remove_region(mem, 0x400000, PG));
	}
	EXPECT_EQ(fds0 + 2, vdev_test_count_fds());
	EXPECT_EQ(maps0 + 2, maps_scan(NULL, NULL));
	ASSERT_EQ(0, vdev_mem_set_regions(mem, NULL, 0));
	EXPECT_EQ(fds0, vdev_test_count_fds());
	EXPECT_EQ(maps0, maps_scan(NULL, NULL));
	vdev_mem_put(mem);
	close(fd);
}

/* ---- lock-free readers against writers ---- */

/*
 * The writer moves the map through a fixed set of tables; each gives the
 * probed addresses a different (host address, room, region) so that a
 * lookup assembled from two tables matches none of them. Region A is in
 * every table, at a base, size and host address of its own; region B is
 * in the even tables only, and is also removed and re-added alone.
 */
#define NTAB		4
#define PROBE_A		0x100100ULL
#define GPA_B		0x400000ULL
#define PROBE_B		(GPA_B + 0x10)
#define FAKE_HVA(k, i)	((void *)(uintptr_t)(0x10000000UL + \
			 0x1000000UL * (k) + 0x100000UL * (i)))

static struct vdev_mem_region tab_a(unsigned int k)
{
	return by_addr(0x100000 - PG * k, 0x10000 + 0x3000 * k,
		       FAKE_HVA(k, 0));
}

static struct vdev_mem_region tab_b(unsigned int k)
{
	return by_addr(GPA_B, PG * (k + 1), FAKE_HVA(k, 1));
}

struct race {
	struct vdev_mem *mem;
	atomic_bool stop;
	atomic_ulong lookups;
	unsigned long torn;
	unsigned long seen[NTAB];
	unsigned long b_absent;
};

static bool region_eq(const struct vdev_mem_region *a,
		      const struct vdev_mem_region *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->hva == b->hva &&
	       a->fd == b->fd && a->flags == b->flags;
}

static void *race_reader(void *arg)
{
	struct race *rc = arg;
	struct vdev_mem_region ra, r;
	uint64_t avail;
	unsigned int k;
	void *p;

	while (!atomic_load_explicit(&rc->stop, memory_order_relaxed)) {
		bool ok = false;

		/* A: host address and room from one table. */
		p = vdev_mem_translate_partial(rc->mem, PROBE_A, 1 << 20,
					       &avail);
		for (k = 0; k < NTAB; k++) {
			ra = tab_a(k);
			if (p == (char *)ra.hva + (PROBE_A - ra.gpa) &&
			    avail == ra.size - (PROBE_A - ra.gpa)) {
				rc->seen[k]++;
				ok = true;
			}
		}
		/* B: absent, or where an even table puts it. */
		p = vdev_mem_translate(rc->mem, PROBE_B, 8);
		if (!p) {
			rc->b_absent++;
		} else {
			bool b_ok = false;

			for (k = 0; k < NTAB; k += 2)
				b_ok |= p == (char *)tab_b(k).hva + 0x10;
			ok &= b_ok;
		}
		/* The lowest region, copied whole, is one table's A. */
		if (vdev_mem_region_at(rc->mem, 0, &r)) {
			ok = false;
		} else {
			bool r_ok = false;

			for (k = 0; k < NTAB; k++) {
				ra = tab_a(k);
				r_ok |= region_eq(&r, &ra);
			}
			ok &= r_ok;
		}
		k = vdev_mem_nr_regions(rc->mem);
		ok &= k == 1 || k == 2;
		atomic_fetch_add_explicit(&rc->lookups, 1,
					  memory_order_relaxed);
		if (!ok)
			rc->torn++;
	}
	return NULL;
}

#define RACE_LOOKUPS	1000
#define RACE_MAX_NS	(30 * 1000000000ULL)

static uint64_t race_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Has a reader made fewer than RACE_LOOKUPS lookups since @l0? */
static bool race_readers_behind(struct race *rc, const unsigned long *l0)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (atomic_load(&rc[i].lookups) - l0[i] < RACE_LOOKUPS)
			return true;
	return false;
}

TEST(readers_never_see_a_torn_table)
{
	struct race rc[2] = { 0 };
	unsigned long l0[2];
	uint64_t t_end;
	struct vdev_mem_region v[2];
	struct vdev_mem *mem;
	pthread_t th[2];
	unsigned int i, k;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	v[0] = tab_a(0);
	v[1] = tab_b(0);
	ASSERT_EQ(0, vdev_mem_set_regions(mem, v, 2));
	for (i = 0; i < 2; i++) {
		rc[i].mem = mem;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, race_reader, &rc[i]));
	}
	/*
	 * At least 20,000 table changes, and on until each reader has made
	 * RACE_LOOKUPS lookups while they happen: on a loaded machine a
	 * reader thread may not run at all during a fixed number of them.
	 */
	t_end = race_now_ns() + RACE_MAX_NS;
	for (i = 0; i < 2; i++)
		l0[i] = atomic_load(&rc[i].lookups);
	for (i = 0; i < 20000 || race_readers_behind(rc, l0); i++) {
		if (race_now_ns() > t_end)
			break;
		k = i % NTAB;
		v[0] = tab_a(k);
		v[1] = tab_b(k);
		ASSERT_EQ(0, vdev_mem_set_regions(mem, v, k & 1 ? 1 : 2));
		if (k & 1)
			continue;
		/* Hot-unplug and re-plug B alone. */
		ASSERT_EQ(0, vdev_mem_remove_region(mem, v[1].gpa, v[1].size));
		ASSERT_EQ(0, vdev_mem_add_region(mem, v[1].gpa, v[1].size,
						 v[1].hva));
	}
	for (i = 0; i < 2; i++) {
		atomic_store(&rc[i].stop, true);
		pthread_join(th[i], NULL);
	}
	for (i = 0; i < 2; i++) {
		unsigned int states = 0;

		for (k = 0; k < NTAB; k++)
			states += rc[i].seen[k] != 0;
		TH_LOG("reader %u: %lu lookups (%lu during the changes), %u tables seen, B absent %lu, torn %lu",
		       i, atomic_load(&rc[i].lookups),
		       atomic_load(&rc[i].lookups) - l0[i], states,
		       rc[i].b_absent, rc[i].torn);
		EXPECT_EQ(0, rc[i].torn);
		EXPECT_LE(RACE_LOOKUPS, atomic_load(&rc[i].lookups) - l0[i]);
	}
	vdev_mem_put(mem);
}

/* ---- a device moving data ---- */

#define QSZ		16
#define RING_GPA	0x100000ULL
#define BUF_GPA		0x200000ULL
#define MOVED_GPA	0x800000ULL
#define GSIZE		(16 * VQ_PAGE)
#define MSG		64

static const uint16_t mdev_sizes[1] = { QSZ };

/*
 * The copy device: each chain's readable bytes are copied into its
 * writable buffers, so the device really loads and stores through the
 * host addresses the map hands out.
 */
static uint32_t mdev_copy(const struct vdev_chain *c)
{
	unsigned int r = 0, w = c->nr_read;
	size_t roff = 0, woff = 0;
	uint32_t done = 0;

	while (r < c->nr_read && w < c->nr_read + c->nr_write) {
		const struct iovec *ri = &c->iov[r], *wi = &c->iov[w];
		size_t n = ri->iov_len - roff;

		if (n > wi->iov_len - woff)
			n = wi->iov_len - woff;
		memcpy((char *)wi->iov_base + woff,
		       (const char *)ri->iov_base + roff, n);
		done += n;
		roff += n;
		woff += n;
		if (roff == ri->iov_len) {
			r++;
			roff = 0;
		}
		if (woff == wi->iov_len) {
			w++;
			woff = 0;
		}
	}
	return done;
}

static int mdev_kick(struct vdev_worker *w, uint32_t events, void *data)
{
	struct vdev_queue *vq = data;
	struct tdev *t = to_tdev(vq->dev);
	struct vdev_chain *c = &t->chain[vq->index];
	uint64_t v;
	int ret;

	if (read(vq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	while ((ret = vdev_queue_pop(vq, c)) > 0) {
		vdev_queue_push_chain(vq, c, mdev_copy(c));
		atomic_fetch_add(&t->processed, 1);
	}
	vdev_queue_notify(vq);
	return ret;
}

static int mdev_activate(struct vdev_device *dev, struct vdev_queue **queues,
			 unsigned int nr)
{
	struct tdev *t = to_tdev(dev);
	struct vdev_worker *w;
	int ret;

	vdev_chain_init(&t->chain[0], t->iov[0], t->nr_iov);
	ret = vdev_worker_create(dev, "q0", 0, &w);
	if (ret)
		return ret;
	ret = vdev_worker_add_fd(w, queues[0]->kick_fd, EPOLLIN, mdev_kick,
				 queues[0]);
	if (ret) {
		vdev_worker_destroy(w);
		return ret;
	}
	return vdev_worker_start(w);
}

static const struct vdev_device_ops mdev_ops = {
	.name = "mdev",
	.activate = mdev_activate,
	.release = tdev_release,
};

FIXTURE(mdev) {
	enum vq_format format;
	struct tdev t;
	struct vq_guest g;
	struct vq_driver d;
	struct vdev_queue q;
	struct vdev_queue *qp;
	struct vdev_interrupt *irq;
	int kick, irqfd, fds0, tasks0;
};

/* Each ring format: the driver lays its rings out in @format. */
FIXTURE_VARIANT(mdev)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(mdev, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(mdev, packed)
{
	.format = VQ_PACKED,
};

/* Bind the driver's queue and activate, in the driver's ring format. */
static int mdev_start(struct tdev *t, struct vq_guest *g, struct vq_driver *d,
		      struct vdev_queue *q, struct vdev_queue **qp, int kick,
		      struct vdev_interrupt *irq)
{
	vq_driver_bind(d, q, 0, QSZ);
	q->kick_fd = kick;
	*qp = q;
	vdev_device_ack_features(&t->dev, (1ULL << VIRTIO_F_VERSION_1) |
				 (d->format == VQ_PACKED ?
				  1ULL << VIRTIO_F_RING_PACKED : 0));
	return vdev_device_activate(&t->dev, g->mem, irq, qp, 1);
}

/*
 * Rings in region 0 (given by address), buffers in region 1 (given by
 * fd, so vdev maps it itself).
 */
FIXTURE_SETUP(mdev)
{
	struct vdev_device_info info = {
		.name = "mdev",
		.type = VIRTIO_ID_RNG,
		.features = (1ULL << VIRTIO_F_VERSION_1) |
			    (1ULL << VIRTIO_F_RING_PACKED),
		.queue_sizes = mdev_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};

	vdev_test_warm_up();
	self->fds0 = vdev_test_count_fds();
	self->tasks0 = vdev_test_baseline_tasks();
	ASSERT_EQ(0, tdev_init(&self->t, &mdev_ops, &info, "", 0, 8));
	ASSERT_EQ(0, vq_guest_init(&self->g));
	ASSERT_EQ(0, vq_guest_add(&self->g, RING_GPA, GSIZE, false));
	ASSERT_EQ(0, vq_guest_add(&self->g, BUF_GPA, GSIZE, true));
	self->format = variant->format;
	ASSERT_EQ(0, vq_driver_init_format(&self->d, &self->g, self->format,
					   0, QSZ, false, 0));
	self->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	self->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->kick);
	ASSERT_EQ(0, vdev_interrupt_eventfd_create(self->irqfd, &self->irq));
	ASSERT_EQ(0, mdev_start(&self->t, &self->g, &self->d, &self->q,
				&self->qp, self->kick, self->irq));
}

FIXTURE_TEARDOWN(mdev)
{
	if (vdev_device_is_active(&self->t.dev))
		vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vdev_device_put(&self->t.dev);
	vdev_interrupt_put(self->irq);
	vq_driver_destroy(&self->d);
	vq_guest_destroy(&self->g);
	close(self->kick);
	close(self->irqfd);
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/*
 * One chain: @out (MSG bytes of @seed's pattern, written by the test) to
 * @in; wait for it to come back used. Return the used length, or -1 on
 * a timeout (the queue stopped).
 */
static int transfer(struct vq_guest *g, struct vq_driver *d, int kfd,
		    uint64_t out, uint64_t in, unsigned int seed)
{
	struct vq_buf o = { out, MSG }, i = { in, MSG };
	uint8_t *po = vq_guest_ptr(g, out, MSG);
	uint32_t len = 0;
	unsigned int n;
	int head;

	if (po)
		for (n = 0; n < MSG; n++)
			po[n] = (uint8_t)(seed * 7 + n);
	head = vq_driver_add(d, &o, 1, &i, 1, false);
	if (head < 0)
		return -1;
	vq_driver_kick_prepare(d);
	kick(kfd);
	for (n = 0; n < 20000; n++) {
		if (vq_driver_get_used(d, &len) == head)
			return (int)len;
		usleep(100);
	}
	return -1;
}

static bool moved(struct vq_guest *g, uint64_t in, unsigned int seed)
{
	uint8_t *pi = vq_guest_ptr(g, in, MSG);
	unsigned int n;

	for (n = 0; n < MSG; n++)
		if (pi[n] != (uint8_t)(seed * 7 + n))
			return false;
	return true;
}

/* The race test's expected errors, thousands of them: not printed. */
static void quiet_log(enum vdev_log_level level, const char *msg)
{
}

static bool wait_needs_reset(struct vdev_device *dev)
{
	int i;

	for (i = 0; i < 20000 && !vdev_device_needs_reset(dev); i++)
		usleep(100);
	return vdev_device_needs_reset(dev);
}

/*
 * The documented contract: pause every device that uses the map, remove
 * the region, re-add the memory elsewhere, resume. vdev's mapping of the
 * fd region is gone after the remove (fd closed, range unmapped); after
 * the resume the device moves data through the new mapping, and a chain
 * at the old address is a guest error.
 */
TEST_F_TIMEOUT(mdev, pause_remove_readd_resume, 120)
{
	struct vq_guest_region *br = &self->g.r[1];
	struct vdev_mem_region r;
	uint64_t out, in;
	unsigned int n;
	int fds;

	for (n = 0; n < 50; n++) {
		out = BUF_GPA + (n % 8) * 2 * MSG;
		in = out + MSG;
		ASSERT_EQ(MSG, transfer(&self->g, &self->d, self->kick, out,
					in, n));
		ASSERT_TRUE(moved(&self->g, in, n));
	}

	ASSERT_EQ(0, vdev_mem_region_at(self->g.mem, 1, &r));
	ASSERT_EQ(BUF_GPA, r.gpa);
	ASSERT_NE((void *)br->hva, r.hva);	/* vdev's own mapping */
	fds = vdev_test_count_fds();

	ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
	ASSERT_EQ(0, vdev_mem_remove_region(self->g.mem, BUF_GPA, GSIZE));
	EXPECT_EQ(fds - 1, vdev_test_count_fds());
	EXPECT_FALSE(is_mapped(r.hva));
	ASSERT_EQ(0, vdev_mem_add_region_fd(self->g.mem, MOVED_GPA, GSIZE,
					    br->fd, 0));
	EXPECT_EQ(fds, vdev_test_count_fds());
	ASSERT_EQ(0, vdev_device_resume(&self->t.dev));
	br->gpa = MOVED_GPA;	/* the driver's view moves with it */

	for (n = 0; n < 50; n++) {
		out = MOVED_GPA + (n % 8) * 2 * MSG;
		in = out + MSG;
		memset(vq_guest_ptr(&self->g, in, MSG), 0, MSG);
		ASSERT_EQ(MSG, transfer(&self->g, &self->d, self->kick, out,
					in, 100 + n));
		ASSERT_TRUE(moved(&self->g, in, 100 + n));
	}
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));

	/* The old address is outside guest RAM now. */
	EXPECT_EQ(-1, transfer(&self->g, &self->d, self->kick, BUF_GPA,
			       BUF_GPA + MSG, 0));
	EXPECT_TRUE(wait_needs_reset(&self->t.dev));
}

/*
 * A region that holds an enabled queue's rings cannot be removed: the
 * queue translated its rings once, when it was enabled, and uses those
 * host pointers until it is disabled. Removing or replacing such a region
 * fails with -EBUSY, and the map, the mapping and the queue stay as they
 * were, paused or not; once the queue is disabled (here by the reset) it
 * goes. Both kinds of region: the rings start in region 0 (the caller's
 * mapping), then move to region 1 (vdev's own mapping of an fd, which a
 * removal unmaps: a queue still using it would fault).
 */
TEST_F_TIMEOUT(mdev, ring_region_pinned_while_enabled, 120)
{
	struct vdev_mem_region keep[1], r;
	uint64_t out = BUF_GPA + GSIZE - 2 * MSG, in = out + MSG;
	unsigned int n;
	int fds;

	ASSERT_EQ(MSG, transfer(&self->g, &self->d, self->kick, out, in, 1));
	/* Region 0, by address, holds the rings. */
	EXPECT_EQ(-EBUSY, vdev_mem_remove_region(self->g.mem, RING_GPA, GSIZE));
	ASSERT_EQ(0, vdev_mem_region_at(self->g.mem, 1, &keep[0]));
	EXPECT_EQ(-EBUSY, vdev_mem_set_regions(self->g.mem, keep, 1));
	EXPECT_EQ(2, vdev_mem_nr_regions(self->g.mem));
	EXPECT_NE(NULL, vdev_mem_translate(self->g.mem, self->d.desc_gpa, 16));

	/* The rings move to region 1, which vdev mapped from the fd. */
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vq_driver_destroy(&self->d);
	ASSERT_EQ(0, vq_driver_init_format(&self->d, &self->g, self->format,
					   1, QSZ, false, 0));
	ASSERT_EQ(0, mdev_start(&self->t, &self->g, &self->d, &self->q,
				&self->qp, self->kick, self->irq));
	ASSERT_EQ(MSG, transfer(&self->g, &self->d, self->kick, out, in, 2));
	ASSERT_EQ(0, vdev_mem_region_at(self->g.mem, 1, &r));
	fds = vdev_test_count_fds();

	/* Region 0 holds nothing of the queue now: it can go. */
	ASSERT_EQ(0, vdev_mem_remove_region(self->g.mem, RING_GPA, GSIZE));
	ASSERT_EQ(0, vdev_mem_add_region(self->g.mem, RING_GPA, GSIZE,
					 self->g.r[0].hva));

	/* Region 1 may not, even with the device paused. */
	EXPECT_EQ(-EBUSY, vdev_mem_remove_region(self->g.mem, BUF_GPA, GSIZE));
	ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
	EXPECT_EQ(-EBUSY, vdev_mem_remove_region(self->g.mem, BUF_GPA, GSIZE));
	ASSERT_EQ(0, vdev_mem_region_at(self->g.mem, 0, &keep[0]));
	EXPECT_EQ(-EBUSY, vdev_mem_set_regions(self->g.mem, keep, 1));
	ASSERT_EQ(0, vdev_device_resume(&self->t.dev));
	EXPECT_EQ(2, vdev_mem_nr_regions(self->g.mem));
	EXPECT_EQ(fds, vdev_test_count_fds());
	EXPECT_TRUE(is_mapped(r.hva));

	/* The queue goes on through the same mapping. */
	for (n = 0; n < 2 * QSZ; n++) {
		memset(vq_guest_ptr(&self->g, in, MSG), 0, MSG);
		ASSERT_EQ(MSG, transfer(&self->g, &self->d, self->kick, out,
					in, 3 + n));
		ASSERT_TRUE(moved(&self->g, in, 3 + n));
	}
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));

	/* Reset: the queue is disabled, the region goes, and its mapping. */
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	fds = vdev_test_count_fds();
	EXPECT_EQ(0, vdev_mem_remove_region(self->g.mem, BUF_GPA, GSIZE));
	EXPECT_EQ(fds - 1, vdev_test_count_fds());
	EXPECT_FALSE(is_mapped(r.hva));
	/* The next activate finds the rings outside guest RAM. */
	EXPECT_EQ(-EINVAL, mdev_start(&self->t, &self->g, &self->d, &self->q,
				      &self->qp, self->kick, self->irq));
	EXPECT_FALSE(vdev_device_is_active(&self->t.dev));
}

/*
 * An enable that fails after some of its rings were mapped leaves no pin:
 * the descriptor ring (and for the split ring the available ring) are in
 * region 0, the device-written ring is outside guest RAM. The activate
 * fails, and region 0 can go at once.
 */
TEST_F(mdev, failed_enable_leaves_no_pin)
{
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vq_driver_rewind(&self->d);
	vq_driver_bind(&self->d, &self->q, 0, QSZ);
	self->q.kick_fd = self->kick;
	self->q.device_addr = MOVED_GPA;	/* in no region */
	vdev_device_ack_features(&self->t.dev, (1ULL << VIRTIO_F_VERSION_1) |
				 (self->format == VQ_PACKED ?
				  1ULL << VIRTIO_F_RING_PACKED : 0));
	EXPECT_EQ(-EINVAL, vdev_device_activate(&self->t.dev, self->g.mem,
						self->irq, &self->qp, 1));
	EXPECT_FALSE(vdev_device_is_active(&self->t.dev));
	EXPECT_EQ(0, vdev_mem_remove_region(self->g.mem, RING_GPA, GSIZE));
	ASSERT_EQ(0, vdev_mem_add_region(self->g.mem, RING_GPA, GSIZE,
					 self->g.r[0].hva));
	/* The queue works on good rings again. */
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	ASSERT_EQ(0, mdev_start(&self->t, &self->g, &self->d, &self->q,
				&self->qp, self->kick, self->irq));
	EXPECT_EQ(MSG, transfer(&self->g, &self->d, self->kick, BUF_GPA,
				BUF_GPA + MSG, 7));
	EXPECT_TRUE(moved(&self->g, BUF_GPA + MSG, 7));
}

/*
 * A VMM thread removes the fd region that holds the rings, and adds it
 * back, as fast as it can, while the control thread activates the device
 * (workers start), moves a chain and resets it, 300 times. The pin is
 * taken with the translation, under the map's lock: each activate either
 * finds the region and pins it (then no removal succeeds until the reset,
 * and the chain moves through a live mapping) or does not find it (and
 * fails as for rings outside guest RAM). Under ASan a queue using an
 * unmapped ring is a report, without it a SIGSEGV.
 */
struct remover {
	struct vq_guest *g;
	atomic_bool stop;
	atomic_bool active;	/* set by the control thread */
	atomic_uint removed;
	atomic_uint busy;
	atomic_uint wrong;	/* a removal while active throughout */
	atomic_int err;		/* what stopped the thread early */
};

static void *remover_thread(void *arg)
{
	struct remover *rm = arg;
	struct vq_guest_region *br = &rm->g->r[1];
	bool before;
	int ret;

	while (!atomic_load(&rm->stop)) {
		before = atomic_load(&rm->active);
		ret = vdev_mem_remove_region(rm->g->mem, BUF_GPA, GSIZE);
		if (ret == -EBUSY) {
			atomic_fetch_add(&rm->busy, 1);
			continue;
		}
		if (ret) {
			atomic_store(&rm->err, ret);
			break;
		}
		if (before && atomic_load(&rm->active))
			atomic_fetch_add(&rm->wrong, 1);
		atomic_fetch_add(&rm->removed, 1);
		ret = vdev_mem_add_region_fd(rm->g->mem, BUF_GPA, GSIZE, br->fd,
					     0);
		if (ret) {
			atomic_store(&rm->err, ret);
			break;
		}
		/* Present most of the time, so that activates also succeed. */
		usleep(200);
	}
	return NULL;
}

TEST_F_TIMEOUT(mdev, ring_region_removal_races_activate, 120)
{
	struct remover rm = { .g = &self->g };
	uint64_t out = BUF_GPA + GSIZE - 2 * MSG, in = out + MSG;
	unsigned int n, started = 0, refused = 0;
	pthread_t th;
	int ret;

	vdev_log_set_handler(quiet_log);
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vq_driver_destroy(&self->d);
	ASSERT_EQ(0, vq_driver_init_format(&self->d, &self->g, self->format,
					   1, QSZ, false, 0));
	ASSERT_EQ(0, pthread_create(&th, NULL, remover_thread, &rm));
	for (n = 0; n < 300; n++) {
		vq_driver_rewind(&self->d);
		ret = mdev_start(&self->t, &self->g, &self->d, &self->q,
				 &self->qp, self->kick, self->irq);
		if (ret) {
			ASSERT_EQ(-EINVAL, ret);
			refused++;
			vdev_interrupt_put(vdev_device_reset(&self->t.dev));
			continue;
		}
		atomic_store(&rm.active, true);
		started++;
		ASSERT_EQ(MSG, transfer(&self->g, &self->d, self->kick, out,
					in, n));
		ASSERT_TRUE(moved(&self->g, in, n));
		atomic_store(&rm.active, false);
		vdev_interrupt_put(vdev_device_reset(&self->t.dev));
		if (n % 10 == 0)
			usleep(1000);	/* a window for the removal */
	}
	atomic_store(&rm.stop, true);
	pthread_join(th, NULL);
	vdev_log_set_handler(NULL);
	TH_LOG("%u started, %u refused; %u removals, %u -EBUSY", started,
	       refused, atomic_load(&rm.removed), atomic_load(&rm.busy));
	EXPECT_EQ(0, atomic_load(&rm.err));
	EXPECT_EQ(0, atomic_load(&rm.wrong));
	EXPECT_LT(0, started);
	EXPECT_LT(0, atomic_load(&rm.busy));
	EXPECT_LT(0, atomic_load(&rm.removed));
	/* The remover may have left the region out: put it back. */
	if (vdev_mem_nr_regions(self->g.mem) == 1)
		ASSERT_EQ(0, vdev_mem_add_region_fd(self->g.mem, BUF_GPA, GSIZE,
						    self->g.r[1].fd, 0));
}

TEST_HARNESS_MAIN
