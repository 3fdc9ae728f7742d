/* SPDX-License-Identifier: GPL-2.0 */
/* Private: the worker list operations used by lib/core.c. */
#ifndef _VDEV_LIB_WORKER_PRIV_H
#define _VDEV_LIB_WORKER_PRIV_H

struct vdev_device;

/* Join and free every worker of @dev; see lib/worker.c. */
void vdev_workers_join_all(struct vdev_device *dev);

/* Worker parks itself if the device is paused; see lib/core.c. */
void vdev_device_park(struct vdev_device *dev);

#endif /* _VDEV_LIB_WORKER_PRIV_H */
