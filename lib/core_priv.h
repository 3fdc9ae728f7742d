/* SPDX-License-Identifier: GPL-2.0 */
/* Private: device model operations for lib/'s transports (lib/core.c). */
#ifndef _VDEV_LIB_CORE_PRIV_H
#define _VDEV_LIB_CORE_PRIV_H

struct vdev_device;

/* Transport quiesce, apart from the VMM's pause; see lib/core.c. */
int vdev_device_quiesce(struct vdev_device *dev);

void vdev_device_unquiesce(struct vdev_device *dev);

#endif /* _VDEV_LIB_CORE_PRIV_H */
