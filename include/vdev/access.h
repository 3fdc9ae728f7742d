/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Access platform (DMA remapping): when a virtual IOMMU sits between the
 * driver and the device, every ring and buffer address the driver writes
 * is an I/O virtual address that must be translated before use.
 */
#ifndef _VDEV_ACCESS_H
#define _VDEV_ACCESS_H

#include <stdatomic.h>
#include <stdint.h>

struct vdev_access_platform;

/**
 * struct vdev_access_platform_ops - address translation
 * @translate_gva: I/O virtual address range to guest-physical address;
 *                 0 or -errno (-EFAULT: not mapped)
 * @translate_gpa: guest-physical address range to I/O virtual address
 * @release: frees the object; called by the last put
 */
struct vdev_access_platform_ops {
	int (*translate_gva)(struct vdev_access_platform *ap, uint64_t gva,
			     uint64_t size, uint64_t *gpa);
	int (*translate_gpa)(struct vdev_access_platform *ap, uint64_t gpa,
			     uint64_t size, uint64_t *gva);
	void (*release)(struct vdev_access_platform *ap);
};

/**
 * struct vdev_access_platform - refcounted translation object
 * @ops: operations
 * @refs: reference count
 */
struct vdev_access_platform {
	const struct vdev_access_platform_ops *ops;
	atomic_uint refs;
};

/* Each function is documented at its definition, in lib/core.c. */
void vdev_access_platform_init(struct vdev_access_platform *ap,
			       const struct vdev_access_platform_ops *ops);

struct vdev_access_platform *
vdev_access_platform_get(struct vdev_access_platform *ap);

void vdev_access_platform_put(struct vdev_access_platform *ap);

#endif /* _VDEV_ACCESS_H */
