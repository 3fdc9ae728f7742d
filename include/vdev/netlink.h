/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Link and address configuration around a TAP, through libnl-3 and
 * libnl-route-3: what a VMM (or a test) needs to plumb a virtio-net
 * backend without shelling out to ip(8).
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
int vdev_nl_ifindex(const char *ifname, int *ifindex);

int vdev_nl_link_set_up(const char *ifname, bool up);

int vdev_nl_link_set_mtu(const char *ifname, unsigned int mtu);

int vdev_nl_link_set_mac(const char *ifname, const uint8_t mac[6]);

int vdev_nl_link_set_txqlen(const char *ifname, unsigned int txqlen);

int vdev_nl_addr_add(const char *ifname, int family, const void *addr,
		     unsigned int prefixlen);

int vdev_nl_addr_del(const char *ifname, int family, const void *addr,
		     unsigned int prefixlen);

int vdev_nl_bridge_create(const char *brname);

int vdev_nl_link_delete(const char *ifname);

int vdev_nl_link_enslave(const char *ifname, const char *master);

int vdev_nl_veth_create(const char *name, const char *peer);

int vdev_nl_link_set_netns(const char *ifname, int netns_fd);

int vdev_nl_link_state(const char *ifname, struct vdev_nl_link_state *st);

int vdev_nl_tun_flags(const char *ifname, unsigned int *flags);

int vdev_nl_neigh_add(const char *ifname, int family, const void *addr,
		      const uint8_t lladdr[6]);

int vdev_nl_neigh_del(const char *ifname, int family, const void *addr);

/**
 * struct vdev_nl_route_opts - optional attributes of a route
 * @initcwnd: initial congestion window in segments (RTAX_INITCWND, as
 *            "ip route ... initcwnd"); 0 for the kernel's default (10)
 * @initrwnd: initial receive window advertised, in segments
 *            (RTAX_INITRWND); 0 for the kernel's default
 * @mtu: path MTU in bytes (RTAX_MTU); 0 for the link's MTU
 * @priority: the route's metric (RTA_PRIORITY, "ip route ... metric");
 *            0 for the kernel's default (0 for IPv4, 1024 for IPv6)
 * @table: routing table (RT_TABLE_* of <linux/rtnetlink.h>, or any
 *         other id); 0 for RT_TABLE_MAIN
 * @replace: vdev_nl_route_add() replaces a route to the same
 *           destination (and @priority) instead of failing with -EEXIST,
 *           as "ip route replace"
 *
 * A zeroed struct is the same as passing NULL.
 */
struct vdev_nl_route_opts {
	unsigned int initcwnd;
	unsigned int initrwnd;
	unsigned int mtu;
	unsigned int priority;
	unsigned int table;
	bool replace;
};

int vdev_nl_route_add(const char *ifname, int family, const void *dst,
		      unsigned int prefixlen, const void *gateway,
		      const struct vdev_nl_route_opts *opts);

int vdev_nl_route_del(const char *ifname, int family, const void *dst,
		      unsigned int prefixlen, const void *gateway,
		      const struct vdev_nl_route_opts *opts);

#endif /* _VDEV_NETLINK_H */
