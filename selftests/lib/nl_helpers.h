/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Netlink helpers of the selftests (selftests/lib/nl_helpers.c, in
 * libvdev-test.a): link, address, neighbour and route set-up that tests,
 * benchmarks and tools/ need around a TAP, and that is not libvdev's API
 * (<vdev/netlink.h> keeps what a VMM needs for its TAP). Not installed.
 *
 * Each function acts in the calling thread's network namespace and
 * returns 0 or a negative errno, with a message through vdev_log(); each
 * is described at its definition.
 */
#ifndef _VDEV_SELFTESTS_NL_HELPERS_H
#define _VDEV_SELFTESTS_NL_HELPERS_H

#include <stdbool.h>
#include <stdint.h>

#include <vdev/netlink.h>

int nlh_ifindex(const char *ifname, int *ifindex);

int nlh_link_set_txqlen(const char *ifname, unsigned int txqlen);

int nlh_link_set_netns(const char *ifname, int netns_fd);

int nlh_link_delete(const char *ifname);

int nlh_bridge_create(const char *brname);

int nlh_veth_create(const char *name, const char *peer);

int nlh_addr_add(const char *ifname, int family, const void *addr,
		 unsigned int prefixlen);

int nlh_addr_del(const char *ifname, int family, const void *addr,
		 unsigned int prefixlen);

int nlh_neigh_add(const char *ifname, int family, const void *addr,
		  const uint8_t lladdr[6]);

int nlh_neigh_del(const char *ifname, int family, const void *addr);

/*
 * struct nlh_route_opts - optional attributes of a route
 * @initcwnd: initial congestion window in segments (RTAX_INITCWND, as
 *            "ip route ... initcwnd"); 0 for the kernel's default (10)
 * @initrwnd: initial receive window advertised, in segments
 *            (RTAX_INITRWND); 0 for the kernel's default
 * @mtu: path MTU in bytes (RTAX_MTU); 0 for the link's MTU
 * @priority: the route's metric (RTA_PRIORITY, "ip route ... metric");
 *            0 for the kernel's default (0 for IPv4, 1024 for IPv6)
 * @table: routing table (RT_TABLE_* of <linux/rtnetlink.h>, or any
 *         other id); 0 for RT_TABLE_MAIN
 * @replace: nlh_route_add() replaces a route to the same destination
 *           (and @priority) instead of failing with -EEXIST, as
 *           "ip route replace"
 *
 * A zeroed struct is the same as passing NULL.
 */
struct nlh_route_opts {
	unsigned int initcwnd;
	unsigned int initrwnd;
	unsigned int mtu;
	unsigned int priority;
	unsigned int table;
	bool replace;
};

int nlh_route_add(const char *ifname, int family, const void *dst,
		  unsigned int prefixlen, const void *gateway,
		  const struct nlh_route_opts *opts);

int nlh_route_del(const char *ifname, int family, const void *dst,
		  unsigned int prefixlen, const void *gateway,
		  const struct nlh_route_opts *opts);

#endif /* _VDEV_SELFTESTS_NL_HELPERS_H */
