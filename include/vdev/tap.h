/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TAP backend for virtio-net: one non-blocking, close-on-exec TAP fd per
 * queue pair, opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (plus
 * IFF_MULTI_QUEUE for more than one pair).
 *
 * fd ownership (Documentation/net.rst, "TAP reopen rule"): a struct
 * vdev_tap owns every fd it holds, whether it opened it (by name) or
 * dup'd it from the caller (F_DUPFD_CLOEXEC, so the caller's fds stay
 * valid across a device reset or a VM reboot); vdev_tap_close() closes
 * them all. A single-queue TAP stays attached -- and a new TUNSETIFF on
 * it fails with EBUSY -- for as long as any dup of its fd is open or any
 * thread is blocked in read()/write() on it, even after close(): users
 * of these fds must drive them with epoll only and join every thread
 * that uses them before vdev_tap_close().
 *
 * A TAP that vdev_tap_open() creates by name is deleted with its last fd,
 * and its MTU, MAC and bridge port with it; vdev_tap_set_persist() makes
 * it stay, as "ip tuntap add" does.
 *
 * Link queries (ifindex, MTU, MAC) go through vdev's netlink calls
 * (<vdev/netlink.h>) in the calling thread's network namespace. The link
 * state (vdev_tap_carrier_ok(), vdev_tap_link_fd(), vdev_tap_link_update())
 * is followed by the TAP's ifindex through a netlink socket made at open
 * in the TAP's namespace, so it holds across renames and from any
 * namespace. Each handle holds that socket (one more fd) until
 * vdev_tap_close().
 */
#ifndef _VDEV_TAP_H
#define _VDEV_TAP_H

#include <stdbool.h>
#include <stdint.h>

struct vdev_tap;

/**
 * struct vdev_tap_config - what to open
 * @name: TAP name: opened, and created if it does not exist (a "%d"
 *        template is allowed); NULL when @fds is given
 * @fds: caller-supplied TAP fds, one per queue pair; they are dup'd and
 *       the caller keeps (and eventually closes) its own. Note that
 *       O_NONBLOCK is a property of the open file, so the caller's fds
 *       become non-blocking too, and the offload probe at open leaves
 *       the TAP's offloads off (TUNSETOFFLOAD 0).
 * @nr_fds: entries in @fds
 * @nr_queues: queue pairs; more than one opens the TAP with
 *             IFF_MULTI_QUEUE, one fd per pair; 0 means 1 (or @nr_fds)
 */
struct vdev_tap_config {
	const char *name;
	const int *fds;
	unsigned int nr_fds;
	unsigned int nr_queues;
};

/* Each function is documented at its definition, in lib/tap.c. */
int vdev_tap_open(const struct vdev_tap_config *cfg, struct vdev_tap **tapp);

void vdev_tap_close(struct vdev_tap *tap);

int vdev_tap_fd(const struct vdev_tap *tap, unsigned int queue);

unsigned int vdev_tap_nr_queues(const struct vdev_tap *tap);

const char *vdev_tap_name(const struct vdev_tap *tap);

int vdev_tap_ifindex(const struct vdev_tap *tap);

int vdev_tap_set_queue_enabled(struct vdev_tap *tap, unsigned int queue,
			       bool enabled);

int vdev_tap_set_vnet_hdr_size(struct vdev_tap *tap, int size);

int vdev_tap_set_offload(struct vdev_tap *tap, unsigned int tun_f);

int vdev_tap_set_persist(struct vdev_tap *tap, bool persist);

bool vdev_tap_offload_supported(struct vdev_tap *tap, unsigned int tun_f);

int vdev_tap_get_mtu(struct vdev_tap *tap, unsigned int *mtu);

int vdev_tap_get_mac(struct vdev_tap *tap, uint8_t mac[6]);

bool vdev_tap_carrier_ok(struct vdev_tap *tap);

/* The fd to poll for link changes (kernel-doc in lib/tap.c). */
int vdev_tap_link_fd(const struct vdev_tap *tap);

/* Read the link changes; the link state after them (lib/tap.c). */
bool vdev_tap_link_update(struct vdev_tap *tap);

#endif /* _VDEV_TAP_H */
