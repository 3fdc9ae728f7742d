/* SPDX-License-Identifier: GPL-2.0 */
/* Private: device model operations for lib/'s transports (lib/core.c). */
#ifndef _VDEV_LIB_CORE_PRIV_H
#define _VDEV_LIB_CORE_PRIV_H

struct vdev_device;

/*
 * vdev_device_quiesce() - park every worker for the transport's own use
 *
 * For work that must not overlap a worker's handler, such as stopping
 * one queue on a guest's QueueReset. Returns when every worker has
 * parked: 0, or -EINVAL when the device is not active. Each successful
 * call is undone by one vdev_device_unquiesce(). A quiesce is a reason to
 * park separate from the VMM's vdev_device_pause(): the workers stay
 * parked while either holds, neither undoes the other, and
 * vdev_device_is_paused() reports only the VMM's. Reset clears both.
 */
int vdev_device_quiesce(struct vdev_device *dev);

/* vdev_device_unquiesce() - undo one vdev_device_quiesce() */
void vdev_device_unquiesce(struct vdev_device *dev);

#endif /* _VDEV_LIB_CORE_PRIV_H */
