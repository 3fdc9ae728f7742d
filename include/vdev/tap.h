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
 * Link queries (ifindex, MTU, MAC) go through vdev's netlink helpers
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

/**
 * vdev_tap_open() - open a TAP by name or adopt caller-supplied fds
 * @cfg: what to open
 * @tapp: set to the new handle on success
 *
 * Checks TUNGETFEATURES first, and refuses a multiqueue request on an
 * existing single-queue TAP and the reverse. Every fd is O_NONBLOCK and
 * O_CLOEXEC.
 *
 * Return: 0, or -EINVAL (bad config or name, queue mode mismatch),
 * -EBUSY (another fd still holds the single-queue TAP), -EPERM (no
 * CAP_NET_ADMIN, or a TAP owned by another user), -EOPNOTSUPP (the
 * kernel lacks a needed TUN feature) or another -errno; each with a
 * message through vdev_log().
 */
int vdev_tap_open(const struct vdev_tap_config *cfg, struct vdev_tap **tapp);

/**
 * vdev_tap_close() - close every fd the handle opened or dup'd, free it
 * @tap: handle, may be NULL
 *
 * No thread may still use the fds (see the fd ownership rule above).
 */
void vdev_tap_close(struct vdev_tap *tap);

/**
 * vdev_tap_fd() - the fd of one queue pair
 * @tap: handle
 * @queue: queue pair index
 *
 * Return: the fd (owned by @tap), or -EINVAL when @queue is out of range.
 */
int vdev_tap_fd(const struct vdev_tap *tap, unsigned int queue);

/**
 * vdev_tap_nr_queues() - number of queue pairs (and fds)
 * @tap: handle
 *
 * Return: at least 1.
 */
unsigned int vdev_tap_nr_queues(const struct vdev_tap *tap);

/**
 * vdev_tap_name() - the TAP's interface name, as the kernel reports it
 * @tap: handle
 *
 * Return: a string owned by @tap.
 */
const char *vdev_tap_name(const struct vdev_tap *tap);

/**
 * vdev_tap_ifindex() - the TAP's interface index (netlink)
 * @tap: handle
 *
 * Return: the index (> 0), or -errno (-ENODEV once the TAP is deleted).
 */
int vdev_tap_ifindex(const struct vdev_tap *tap);

/**
 * vdev_tap_set_queue_enabled() - attach or detach one queue of a multiqueue TAP
 * @tap: handle
 * @queue: queue pair index
 * @enabled: true to attach the queue (TUNSETQUEUE with IFF_ATTACH_QUEUE),
 *           false to detach it (IFF_DETACH_QUEUE)
 *
 * The kernel spreads the frames the host sends to the TAP over its
 * attached queues only: a detached queue gets none (what it held is
 * dropped) and reads of its fd find nothing (EAGAIN), so a virtio-net
 * device detaches the queues of the pairs the driver has not enabled
 * (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET). The fd stays open and attached to
 * the TAP for everything else: the other ioctls (vnet header size,
 * offloads) still apply to it. Do not count on writes to a detached
 * queue failing: the kernel's non-NAPI path still takes them. A TAP with
 * every queue detached drops all it is sent.
 *
 * Asking for the state the queue is in already is not an error.
 *
 * Return: 0, -EINVAL when @queue is out of range or the TAP is not
 * multiqueue (IFF_MULTI_QUEUE), -EBADFD once the TAP is deleted, or
 * another -errno; each with a message through vdev_log().
 */
int vdev_tap_set_queue_enabled(struct vdev_tap *tap, unsigned int queue,
			       bool enabled);

/**
 * vdev_tap_set_vnet_hdr_size() - TUNSETVNETHDRSZ on every fd
 * @tap: handle
 * @size: header size: sizeof(struct virtio_net_hdr) or
 *        sizeof(struct virtio_net_hdr_mrg_rxbuf) (<linux/virtio_net.h>)
 *
 * Return: 0 or -errno (-EINVAL for a size the kernel refuses).
 */
int vdev_tap_set_vnet_hdr_size(struct vdev_tap *tap, int size);

/**
 * vdev_tap_set_offload() - TUNSETOFFLOAD on every fd
 * @tap: handle
 * @tun_f: TUN_F_* bits (<linux/if_tun.h>) the guest accepts
 *
 * Return: 0, -EOPNOTSUPP when @tun_f has a bit the TAP does not support
 * (see vdev_tap_offload_supported()), or -errno.
 */
int vdev_tap_set_offload(struct vdev_tap *tap, unsigned int tun_f);

/**
 * vdev_tap_offload_supported() - can the TAP take these offloads?
 * @tap: handle
 * @tun_f: TUN_F_* bits
 *
 * Probed once at open by trying each bit with TUNSETOFFLOAD.
 *
 * Return: true when every bit of @tun_f is supported.
 */
bool vdev_tap_offload_supported(struct vdev_tap *tap, unsigned int tun_f);

/**
 * vdev_tap_get_mtu() - the TAP's MTU (netlink)
 * @tap: handle
 * @mtu: set on success
 *
 * Return: 0 or -errno.
 */
int vdev_tap_get_mtu(struct vdev_tap *tap, unsigned int *mtu);

/**
 * vdev_tap_get_mac() - the TAP's own (host side) MAC address (netlink)
 * @tap: handle
 * @mac: set on success
 *
 * Return: 0 or -errno.
 */
int vdev_tap_get_mac(struct vdev_tap *tap, uint8_t mac[6]);

/**
 * vdev_tap_carrier_ok() - is the link up? (netlink)
 * @tap: handle
 *
 * Return: true when the TAP is administratively up, has a carrier and its
 * operstate is UP or UNKNOWN; false otherwise, or when it is gone.
 */
bool vdev_tap_carrier_ok(struct vdev_tap *tap);

/* The fd to poll for link changes (kernel-doc in lib/tap.c). */
int vdev_tap_link_fd(const struct vdev_tap *tap);

/* Read the link changes; the link state after them (lib/tap.c). */
bool vdev_tap_link_update(struct vdev_tap *tap);

#endif /* _VDEV_TAP_H */
