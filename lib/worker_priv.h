/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to lib/: the worker list operation lib/core.c calls. Not
 * exported by libvdev.so (lib/libvdev.map).
 */
#ifndef _VDEV_LIB_WORKER_PRIV_H
#define _VDEV_LIB_WORKER_PRIV_H

struct vdev_device;

/* Join and free every worker of @dev; see lib/worker.c. */
void __vdev_workers_join_all(struct vdev_device *dev);

#endif /* _VDEV_LIB_WORKER_PRIV_H */
