/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Link configuration of a TAP, through libnl-3 and libnl-route-3: what a
 * VMM needs to plumb a virtio-net backend without shelling out to ip(8).
 * The TAP itself is created or opened by name, and made persistent, with
 * <vdev/tap.h>; these set it up or down, set its MTU and MAC, put it on
 * an existing bridge or take it off, and read its link state and its
 * TUN/TAP flags (IFF_PERSIST, IFF_MULTI_QUEUE...), all by name.
 *
 * Every call opens its own NETLINK_ROUTE socket, does its work and closes
 * it. So the functions keep no state, are safe to call from any number of
 * threads at once, and act on the network namespace of the calling thread
 * (a netlink socket belongs to the namespace its creator was in).
 *
 * All functions return 0 or a negative errno; on failure libnl's message
 * is logged through vdev_log() with the interface name.
 */
#ifndef _VDEV_NETLINK_H
#define _VDEV_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

/**
 * struct vdev_nl_link_state - a snapshot of one link
 * @ifindex: interface index
 * @mtu: MTU in bytes
 * @mac: link-layer address (zero when the link has none)
 * @flags: IFF_UP, IFF_RUNNING, IFF_LOWER_UP... (<net/if.h>)
 * @operstate: IF_OPER_* (RFC 2863, <linux/if.h>)
 * @carrier: true when the link has a carrier
 * @master: ifindex of the master (bridge), 0 when none
 * @txqlen: transmit queue length in packets (ip link ... txqueuelen)
 */
struct vdev_nl_link_state {
	int ifindex;
	unsigned int mtu;
	uint8_t mac[6];
	unsigned int flags;
	uint8_t operstate;
	bool carrier;
	int master;
	unsigned int txqlen;
};

/* Each function is documented at its definition, in lib/netlink.c. */
int vdev_nl_link_set_up(const char *ifname, bool up);

int vdev_nl_link_set_mtu(const char *ifname, unsigned int mtu);

int vdev_nl_link_set_mac(const char *ifname, const uint8_t mac[6]);

int vdev_nl_link_enslave(const char *ifname, const char *master);

int vdev_nl_link_state(const char *ifname, struct vdev_nl_link_state *st);

int vdev_nl_tun_flags(const char *ifname, unsigned int *flags);

#endif /* _VDEV_NETLINK_H */
