/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private: pins on guest memory regions, for the virtqueue layer
 * (lib/queue.c). Not installed.
 *
 * A queue translates its rings once, when it is enabled, and uses those
 * host pointers until it is disabled. So that a region cannot be removed
 * (and, for an fd region, unmapped) under it, the queue pins the region
 * of each ring: the translation and the pin are one step under the map's
 * lock, and vdev_mem_remove_region() and vdev_mem_set_regions() refuse,
 * under the same lock, to drop a pinned region (-EBUSY). Either a removal
 * comes first, and the pin finds no region (the enable fails as for a
 * ring outside guest RAM), or the pin does, and the removal fails.
 */
#ifndef _VDEV_LIB_MEM_PRIV_H
#define _VDEV_LIB_MEM_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <vdev/mem.h>

/*
 * Host pointer for [@gpa, @gpa + @len), which must lie in one region
 * (without VDEV_MEM_F_READONLY when @write), and a pin on that region;
 * NULL (nothing pinned) otherwise.
 */
void *__vdev_mem_pin(struct vdev_mem *mem, uint64_t gpa, uint64_t len,
		     bool write);
/* Drop a pin taken by __vdev_mem_pin() for a range starting at @gpa. */
void __vdev_mem_unpin(struct vdev_mem *mem, uint64_t gpa);

#endif /* _VDEV_LIB_MEM_PRIV_H */
