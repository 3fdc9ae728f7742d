// SPDX-License-Identifier: GPL-2.0
/*
 * vhost-user back-end (QEMU docs/interop/vhost-user.rst). First commit:
 * the API only, every entry point returns -EOPNOTSUPP.
 */
#include <errno.h>
#include <stdlib.h>

#include <vdev/vhost_user.h>

/**
 * vdev_vhost_user_create() - a vhost-user back-end for one device
 * @dev: the device to serve (a reference is taken)
 * @cfg: socket and mode
 * @out: the back-end, on success
 *
 * Return: 0 or -errno.
 */
int vdev_vhost_user_create(struct vdev_device *dev,
			   const struct vdev_vhost_user_config *cfg,
			   struct vdev_vhost_user **out)
{
	return -EOPNOTSUPP;
}

/**
 * vdev_vhost_user_serve_fd() - serve one connected socket
 * @vu: the back-end
 * @fd: the connected socket (stays the caller's)
 *
 * Return: 0 on orderly close, -errno when the front-end broke the protocol.
 */
int vdev_vhost_user_serve_fd(struct vdev_vhost_user *vu, int fd)
{
	return -EOPNOTSUPP;
}

/**
 * vdev_vhost_user_run() - accept or connect, serve, repeat until stopped
 * @vu: the back-end
 *
 * Return: 0 after vdev_vhost_user_stop(), -errno on set-up failure.
 */
int vdev_vhost_user_run(struct vdev_vhost_user *vu)
{
	return -EOPNOTSUPP;
}

/**
 * vdev_vhost_user_stop() - make vdev_vhost_user_run() return
 * @vu: the back-end
 *
 * Context: async-signal-safe.
 */
void vdev_vhost_user_stop(struct vdev_vhost_user *vu)
{
}

/**
 * vdev_vhost_user_destroy() - free the back-end
 * @vu: the back-end, or NULL
 */
void vdev_vhost_user_destroy(struct vdev_vhost_user *vu)
{
}

/**
 * vdev_vhost_user_get_stats() - what the back-end counted
 * @vu: the back-end
 * @stats: filled in
 */
void vdev_vhost_user_get_stats(struct vdev_vhost_user *vu,
			       struct vdev_vhost_user_stats *stats)
{
	*stats = (struct vdev_vhost_user_stats){ 0 };
}
