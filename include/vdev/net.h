/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-net over a TAP (VIRTIO 1.2, section 5.1), after cloud-hypervisor's
 * virtio-devices net.rs and kvmtool's virtio/net.c.
 *
 * Queues: receiveq0, transmitq0, ..., receiveqN-1, transmitqN-1, then the
 * control queue (index 2N with VIRTIO_NET_F_MQ, else 2). One worker per
 * queue pair ("vdev-net0-q0", ...) owns that pair's TAP fd; one more
 * ("vdev-net0-ctl", VDEV_WORKER_CTRL) serves the control queue and
 * watches the link.
 *
 * fd ownership (Documentation/net.rst, "TAP reopen rule"): the device
 * owns every TAP fd it opened or dup'd, from vdev_net_create() until its
 * last vdev_device_put(), which joins every worker first and closes the
 * fds after; when it returns, the TAP can be opened again at once.
 */
#ifndef _VDEV_NET_H
#define _VDEV_NET_H

#include <stdbool.h>
#include <stdint.h>

struct vdev_device;

/* Largest queue_pairs vdev_net_create() accepts. */
#define VDEV_NET_MAX_QUEUE_PAIRS	8

/**
 * struct vdev_net_config - what vdev_net_create() needs
 * @tap_name: TAP to open (created if it does not exist), or NULL
 * @tap_fds: caller-supplied TAP fds, one per queue pair, when @tap_name
 *           is NULL; they are dup'd, the caller keeps its own
 * @num_tap_fds: entries in @tap_fds
 * @mac: the guest's MAC address; all zero: a random locally
 *       administered one
 * @queue_pairs: 1 to VDEV_NET_MAX_QUEUE_PAIRS; 0 means 1 (or @num_tap_fds)
 * @queue_size: maximum size of every queue (a power of two); 0 means 256
 * @mtu: MTU offered with VIRTIO_NET_F_MTU; 0 means the TAP's
 */
struct vdev_net_config {
	const char *tap_name;
	const int *tap_fds;
	unsigned int num_tap_fds;
	uint8_t mac[6];
	unsigned int queue_pairs;
	unsigned int queue_size;
	unsigned int mtu;
};

/**
 * vdev_net_create() - create a virtio-net device on a TAP
 * @cfg: configuration
 * @devp: on success the device, one reference held by the caller
 *
 * Opens (or dups) the TAP fds now, so that a busy TAP is reported here
 * and not at activate. Offloads the TAP cannot do are not offered.
 * Release the device with vdev_device_put(): the last put joins every
 * worker, then closes every TAP fd, before it returns.
 *
 * Return: 0; -EINVAL for a bad @cfg; -EBUSY when another fd still holds
 * the TAP; -ENOMEM; or -errno from the TAP backend.
 */
int vdev_net_create(const struct vdev_net_config *cfg,
		    struct vdev_device **devp);

/**
 * vdev_net_active_pairs() - queue pairs in use (MQ_VQ_PAIRS_SET)
 * @dev: a device made by vdev_net_create()
 *
 * Return: the number of queue pairs the driver enabled, 1 without MQ;
 * 0, with a (rate-limited) error, for any other device.
 */
unsigned int vdev_net_active_pairs(struct vdev_device *dev);

/**
 * vdev_net_link_up() - the link state shown in the config space
 * @dev: a device made by vdev_net_create()
 *
 * Return: true when VIRTIO_NET_S_LINK_UP is set; false, with a
 * (rate-limited) error, for any other device.
 */
bool vdev_net_link_up(struct vdev_device *dev);

#endif /* _VDEV_NET_H */
