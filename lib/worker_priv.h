/* SPDX-License-Identifier: GPL-2.0 */
/* Private: the worker list operations used by lib/core.c. */
#ifndef _VDEV_LIB_WORKER_PRIV_H
#define _VDEV_LIB_WORKER_PRIV_H

struct vdev_device;

/*
 * Stop every worker of @dev: the caller has written the kill eventfd and
 * unparked them. Joins each thread and destroys it (closing the fds it
 * owns); the fault build's VDEV_FAULT=leak-ctrl-worker leaves a
 * VDEV_WORKER_CTRL worker unjoined (lib/worker.c). Called with dev->lock.
 */
void vdev_workers_join_all(struct vdev_device *dev);

/* Worker parks itself if the device is paused; see lib/core.c. */
void vdev_device_park(struct vdev_device *dev);

#endif /* _VDEV_LIB_WORKER_PRIV_H */
