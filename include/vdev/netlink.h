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

/**
 * vdev_nl_ifindex() - look up an interface index by name
 * @ifname: interface name
 * @ifindex: set to the index on success
 *
 * Return: 0, -ENODEV when there is no such link, or another -errno.
 */
int vdev_nl_ifindex(const char *ifname, int *ifindex);

/**
 * vdev_nl_link_set_up() - set a link administratively up or down
 * @ifname: interface name
 * @up: true for up (IFF_UP), false for down
 *
 * Return: 0 or -errno.
 */
int vdev_nl_link_set_up(const char *ifname, bool up);

/**
 * vdev_nl_link_set_mtu() - set a link's MTU
 * @ifname: interface name
 * @mtu: new MTU in bytes
 *
 * Return: 0, -EINVAL when the driver refuses @mtu, or another -errno.
 */
int vdev_nl_link_set_mtu(const char *ifname, unsigned int mtu);

/**
 * vdev_nl_link_set_mac() - set a link's Ethernet address
 * @ifname: interface name
 * @mac: the new address
 *
 * Return: 0 or -errno (-EADDRNOTAVAIL for a multicast address).
 */
int vdev_nl_link_set_mac(const char *ifname, const uint8_t mac[6]);

/**
 * vdev_nl_link_set_txqlen() - set a link's transmit queue length
 * @ifname: interface name
 * @txqlen: queue length in packets (as "ip link set ... txqueuelen")
 *
 * For a TAP this is also the length of each queue's ring of frames
 * waiting to be read by the device: the kernel drops what does not fit.
 *
 * Return: 0 or -errno.
 */
int vdev_nl_link_set_txqlen(const char *ifname, unsigned int txqlen);

/**
 * vdev_nl_addr_add() - add an IP address to a link
 * @ifname: interface name
 * @family: AF_INET or AF_INET6
 * @addr: a struct in_addr or struct in6_addr
 * @prefixlen: prefix length (at most 32 or 128)
 *
 * Return: 0, -EEXIST when the address is already there, or -errno.
 */
int vdev_nl_addr_add(const char *ifname, int family, const void *addr,
		     unsigned int prefixlen);

/**
 * vdev_nl_addr_del() - remove an IP address from a link
 * @ifname: interface name
 * @family: AF_INET or AF_INET6
 * @addr: a struct in_addr or struct in6_addr
 * @prefixlen: prefix length it was added with
 *
 * Return: 0, -EADDRNOTAVAIL when the link has no such address, or -errno.
 */
int vdev_nl_addr_del(const char *ifname, int family, const void *addr,
		     unsigned int prefixlen);

/**
 * vdev_nl_bridge_create() - create a Linux bridge
 * @brname: name of the new bridge
 *
 * Return: 0, -EEXIST when a link of that name exists, or -errno.
 */
int vdev_nl_bridge_create(const char *brname);

/**
 * vdev_nl_link_delete() - delete a link (bridge, veth, TAP...)
 * @ifname: interface name
 *
 * Deleting one end of a veth pair deletes both; deleting a TAP that a
 * process still has open detaches that process's queues (its reads and
 * writes then fail with EIO/EBADFD).
 *
 * Return: 0, -ENODEV when there is no such link, or -errno.
 */
int vdev_nl_link_delete(const char *ifname);

/**
 * vdev_nl_link_enslave() - attach a link to a master, or release it
 * @ifname: the port
 * @master: the bridge (or bond), NULL to release @ifname from its master
 *
 * Return: 0 or -errno.
 */
int vdev_nl_link_enslave(const char *ifname, const char *master);

/**
 * vdev_nl_veth_create() - create a veth pair
 * @name: name of one end
 * @peer: name of the other end
 *
 * Both ends are created down in the calling thread's namespace.
 *
 * Return: 0, -EEXIST when either name is taken, or -errno.
 */
int vdev_nl_veth_create(const char *name, const char *peer);

/**
 * vdev_nl_link_set_netns() - move a link into another network namespace
 * @ifname: interface name in the calling thread's namespace
 * @netns_fd: an open /proc/<pid>/ns/net (or /run/netns/<name>) fd; the
 *            caller keeps it
 *
 * Return: 0 or -errno.
 */
int vdev_nl_link_set_netns(const char *ifname, int netns_fd);

/**
 * vdev_nl_link_state() - read the state of a link
 * @ifname: interface name
 * @st: filled on success
 *
 * Return: 0, -ENODEV when there is no such link, or -errno.
 */
int vdev_nl_link_state(const char *ifname, struct vdev_nl_link_state *st);

/**
 * vdev_nl_tun_flags() - read the flags of a TUN/TAP device
 * @ifname: interface name
 * @flags: set to the IFF_* flags of <linux/if_tun.h> (IFF_TUN or IFF_TAP,
 *         IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_PERSIST), the
 *         same bits as /sys/class/net/<if>/tun_flags
 *
 * libnl-route-3 has no "tun" link type, so the kernel's tun link info
 * (IFLA_LINKINFO / IFLA_INFO_DATA, IFLA_TUN_*) is parsed here with libnl's
 * message and attribute helpers. That works in any network namespace,
 * where sysfs would show the namespace it was mounted in; sysfs
 * (/sys/class/net/<if>/tun_flags) is read only when the kernel does not
 * send the tun link info.
 *
 * Return: 0, -ENODEV when there is no such link, -EMEDIUMTYPE when the
 * link is not a TUN/TAP device, or -errno.
 */
int vdev_nl_tun_flags(const char *ifname, unsigned int *flags);

/**
 * vdev_nl_neigh_add() - add or replace a permanent neighbour entry
 * @ifname: interface name
 * @family: AF_INET (an ARP entry) or AF_INET6 (an NDP entry)
 * @addr: a struct in_addr or struct in6_addr
 * @lladdr: the Ethernet address @addr resolves to
 *
 * The entry is NUD_PERMANENT (as "ip neigh replace ... nud permanent"):
 * it never expires and is never probed, so traffic to @addr goes out at
 * once, to @lladdr, even when nothing answers ARP or NDP (a guest that
 * is not running yet, a test driver). An entry for @addr already on
 * @ifname is replaced.
 *
 * Return: 0, -ENODEV when there is no such link, -EAFNOSUPPORT for
 * another @family, -EINVAL for a NULL address, or -errno.
 */
int vdev_nl_neigh_add(const char *ifname, int family, const void *addr,
		      const uint8_t lladdr[6]);

/**
 * vdev_nl_neigh_del() - delete a neighbour entry
 * @ifname: interface name
 * @family: AF_INET or AF_INET6
 * @addr: a struct in_addr or struct in6_addr
 *
 * Return: 0, -ENOENT when @ifname has no entry for @addr, -ENODEV when
 * there is no such link, or -errno.
 */
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

/**
 * vdev_nl_route_add() - add a unicast route through a link
 * @ifname: the output interface
 * @family: AF_INET or AF_INET6
 * @dst: destination, a struct in_addr or struct in6_addr; NULL for the
 *       default route (then @prefixlen must be 0)
 * @prefixlen: destination prefix length (at most 32 or 128)
 * @gateway: next hop (same family as @dst), NULL for a route on the
 *           link itself (scope link, as "ip route add ... dev IF")
 * @opts: metrics and table, or NULL for the defaults
 *
 * The route is a static one (RTPROT_STATIC). The kernel wants @ifname up
 * (-ENETDOWN otherwise) and an IPv4 @gateway on a subnet of @ifname
 * (-ENETUNREACH or -EINVAL otherwise).
 *
 * Return: 0, -EEXIST when the route exists (and @opts does not ask to
 * replace it), -ENODEV when there is no such link, -EINVAL or
 * -EAFNOSUPPORT for bad arguments, or the kernel's -errno; each with a
 * message through vdev_log().
 */
int vdev_nl_route_add(const char *ifname, int family, const void *dst,
		      unsigned int prefixlen, const void *gateway,
		      const struct vdev_nl_route_opts *opts);

/**
 * vdev_nl_route_del() - delete a route added by vdev_nl_route_add()
 * @ifname: the output interface
 * @family: AF_INET or AF_INET6
 * @dst: destination, NULL for the default route
 * @prefixlen: destination prefix length
 * @gateway: the next hop it was added with (NULL when it had none)
 * @opts: only @opts->table and @opts->priority are used, to pick the
 *        route (0 matches any priority); NULL as zeroed
 *
 * Return: 0, -ESRCH when there is no such route (the kernel's answer,
 * as ip(8) prints it), -ENODEV when there is no such link, or -errno.
 */
int vdev_nl_route_del(const char *ifname, int family, const void *dst,
		      unsigned int prefixlen, const void *gateway,
		      const struct vdev_nl_route_opts *opts);

#endif /* _VDEV_NETLINK_H */
