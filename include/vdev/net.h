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
 * fds after; the control worker owns its own dups of them, closed with it
 * after its join. When vdev_device_put() returns, the TAP can be opened
 * again at once.
 *
 * Instance names ("net0", "net1"...) are unique among live devices.
 *
 * TAP I/O (&vdev_net_config.io): batched io_uring, one ring per pair
 * worker, or one syscall per frame, chosen at create; a device's reset
 * and its last put cancel and reap every io_uring request on the TAP
 * before they return.
 */
#ifndef _VDEV_NET_H
#define _VDEV_NET_H

#include <stdbool.h>
#include <stdint.h>

struct vdev_device;

/* Largest queue_pairs vdev_net_create() accepts. */
#define VDEV_NET_MAX_QUEUE_PAIRS	8

/**
 * enum vdev_net_io - how the device moves frames to and from the TAP
 * @VDEV_NET_IO_AUTO: io_uring when the kernel and the process allow it,
 *                    else one syscall per frame (the default)
 * @VDEV_NET_IO_SYSCALL: one read/readv/write/writev per frame, on epoll
 * @VDEV_NET_IO_URING: batched io_uring, one ring per queue pair; the
 *                     device is not created when io_uring is refused
 *
 * Documentation/net.rst, "TAP I/O paths".
 */
enum vdev_net_io {
	VDEV_NET_IO_AUTO = 0,
	VDEV_NET_IO_SYSCALL,
	VDEV_NET_IO_URING,
};

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
 * @io: TAP I/O path, VDEV_NET_IO_AUTO (0) unless forced
 */
struct vdev_net_config {
	const char *tap_name;
	const int *tap_fds;
	unsigned int num_tap_fds;
	uint8_t mac[6];
	unsigned int queue_pairs;
	unsigned int queue_size;
	unsigned int mtu;
	enum vdev_net_io io;
};

/* Each function is documented at its definition, in lib/net.c. */
int vdev_net_create(const struct vdev_net_config *cfg,
		    struct vdev_device **devp);

unsigned int vdev_net_active_pairs(struct vdev_device *dev);

bool vdev_net_link_up(struct vdev_device *dev);

#endif /* _VDEV_NET_H */
