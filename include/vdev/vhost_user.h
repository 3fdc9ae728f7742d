/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhost-user back-end (QEMU docs/interop/vhost-user.rst): serves one vdev
 * device to a vhost-user front-end (QEMU, cloud-hypervisor, crosvm) over
 * a Unix socket, in server mode (listen, accept) or client mode (connect,
 * and connect again after the front-end went away).
 *
 * The front-end's guest memory arrives as fds (SET_MEM_TABLE,
 * ADD_MEM_REG) and is mapped MAP_SHARED; each ring runs through the
 * device's per-queue lifecycle (vdev_device_queue_*()), its kick eventfd
 * is the queue's notify and its call eventfd the queue's interrupt.
 *
 * When a connection ends, orderly or because the front-end broke the
 * protocol, every worker is joined, guest memory unmapped and the device
 * reset; the device (and its TAP) stays ready for the next connection.
 * See Documentation/vhost-user.rst.
 */
#ifndef _VDEV_VHOST_USER_H
#define _VDEV_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

struct vdev_device;
struct vdev_vhost_user;

/**
 * struct vdev_vhost_user_config - what vdev_vhost_user_create() needs
 * @socket_path: the Unix socket (server: created, client: connected to);
 *               may be NULL when only vdev_vhost_user_serve_fd() is used
 * @client: connect (and reconnect) instead of listen
 * @reconnect_ms: client mode: retry period; 0 means 1000, above INT_MAX
 *                INT_MAX
 */
struct vdev_vhost_user_config {
	const char *socket_path;
	bool client;
	unsigned int reconnect_ms;
};

/**
 * struct vdev_vhost_user_stats - what the back-end counted so far
 * @connections: connections served (vdev_vhost_user_serve_fd() calls)
 * @messages: requests handled
 * @errors: connections ended because the front-end broke the protocol
 */
struct vdev_vhost_user_stats {
	uint64_t connections;
	uint64_t messages;
	uint64_t errors;
};

/* Each function is documented at its definition, in lib/vhost_user.c. */
int vdev_vhost_user_create(struct vdev_device *dev,
			   const struct vdev_vhost_user_config *cfg,
			   struct vdev_vhost_user **out);

int vdev_vhost_user_serve_fd(struct vdev_vhost_user *vu, int fd);

int vdev_vhost_user_run(struct vdev_vhost_user *vu);

void vdev_vhost_user_stop(struct vdev_vhost_user *vu);

void vdev_vhost_user_destroy(struct vdev_vhost_user *vu);

void vdev_vhost_user_get_stats(struct vdev_vhost_user *vu,
			       struct vdev_vhost_user_stats *stats);

#endif /* _VDEV_VHOST_USER_H */
