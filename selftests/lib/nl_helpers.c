// SPDX-License-Identifier: GPL-2.0
/*
 * The selftests' netlink helpers, with libnl-3 / libnl-route-3: what a
 * test or a benchmark needs around a TAP and libvdev's
 * own <vdev/netlink.h> does not give, because a VMM does not need it
 * from a virtio library: an ifindex by name, the transmit queue length,
 * bridges and veth pairs made and deleted, links moved to another
 * namespace, IPv4/IPv6 addresses, permanent neighbours and routes with
 * metrics. Built into build/.../selftests/lib/libvdev-test.a, never
 * installed; the tests, the benchmarks and tools/ link it.
 *
 * As in lib/netlink.c: one NETLINK_ROUTE socket per call, so every
 * function is thread-safe and acts in the calling thread's network
 * namespace; 0 or a negative errno, with libnl's (or the kernel's)
 * message logged through vdev_log(), so that the tests' log capture
 * (selftests/net/net_test.h) sees it. The plumbing (errno mapping,
 * socket, name check, link fetch and change) is lib/netlink.c's own, the
 * static inline functions of lib/netlink_priv.h: it defines no symbol,
 * so this library still calls libvdev through its public API only and
 * never names anything private to libvdev.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <vdev/log.h>
#include <vdev/netlink.h>

#include "netlink_priv.h"
#include "nl_helpers.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * libnl folds the kernel errnos it does not know (ENETDOWN, ENETUNREACH,
 * ESRCH...) into NLE_FAILURE, "Unspecific failure". An error callback
 * keeps the kernel's own errno of a request, for kerr_fail().
 */
static int kerr_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	int *kerr = arg;

	*kerr = e->error;
	return NL_STOP;		/* then libnl fails as without the callback */
}

static int kerr_watch(struct nl_sock *sk, int *kerr)
{
	*kerr = 0;
	return nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, kerr_cb, kerr);
}

/* As nl_fail(), with the kernel's errno @kerr when it sent one. */
static int kerr_fail(int nlerr, int kerr, const char *what,
		     const char *ifname)
{
	if (kerr >= 0)
		return nl_fail(nlerr, what, ifname);
	vdev_log(VDEV_LOG_ERR, "netlink: %s %s: %s", what, ifname,
		 strerror(-kerr));
	return kerr;
}

/*
 * nlh_ifindex() - look up an interface index by name
 * @ifname: interface name
 * @ifindex: set to the index on success
 *
 * Return: 0, -ENODEV when there is no such link, or another -errno.
 */
int nlh_ifindex(const char *ifname, int *ifindex)
{
	struct vdev_nl_link_state st;
	int err;

	err = vdev_nl_link_state(ifname, &st);
	if (!err)
		*ifindex = st.ifindex;
	return err;
}

/*
 * nlh_link_set_txqlen() - set a link's transmit queue length
 * @ifname: interface name
 * @txqlen: queue length in packets (as "ip link set ... txqueuelen")
 *
 * For a TAP this is also the length of each queue's ring of frames
 * waiting to be read by the device: the kernel drops what does not fit.
 *
 * Return: 0 or -errno.
 */
int nlh_link_set_txqlen(const char *ifname, unsigned int txqlen)
{
	struct rtnl_link *change;
	int err;

	change = link_change_alloc(ifname, "set txqlen", &err);
	if (!change)
		return err;
	rtnl_link_set_txqlen(change, txqlen);
	return link_change_put(ifname, change, "set txqlen");
}

/*
 * nlh_link_set_netns() - move a link into another network namespace
 * @ifname: interface name in the calling thread's namespace
 * @netns_fd: an open /proc/<pid>/ns/net (or /run/netns/<name>) fd; the
 *            caller keeps it
 *
 * Return: 0, -EBADF for a negative @netns_fd, or -errno.
 */
int nlh_link_set_netns(const char *ifname, int netns_fd)
{
	struct rtnl_link *change;
	int err;

	change = link_change_alloc(ifname, "move to netns", &err);
	if (!change)
		return err;
	if (netns_fd < 0) {
		vdev_log(VDEV_LOG_ERR, "netlink: move %s to netns: bad fd %d",
			 ifname, netns_fd);
		rtnl_link_put(change);
		return -EBADF;
	}
	rtnl_link_set_ns_fd(change, netns_fd);
	return link_change_put(ifname, change, "move to netns");
}

/*
 * nlh_link_delete() - delete a link (bridge, veth, TAP...)
 * @ifname: interface name
 *
 * Deleting one end of a veth pair deletes both; deleting a TAP that a
 * process still has open detaches that process's queues (its reads and
 * writes then fail with EIO/EBADFD).
 *
 * Return: 0, -ENODEV when there is no such link, or -errno.
 */
int nlh_link_delete(const char *ifname)
{
	struct rtnl_link *link;
	struct nl_sock *sk;
	int err;

	if (!ifname_ok(ifname, "delete link"))
		return -EINVAL;
	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, ifname);
	err = sock_open(&sk, "delete link", ifname);
	if (err)
		goto out_put_link;
	err = rtnl_link_delete(sk, link);
	if (err < 0)
		err = nl_fail(err, "delete link", ifname);
	else
		err = 0;
	sock_close(sk);
out_put_link:
	rtnl_link_put(link);
	return err;
}

/* Create @link (a bridge or veth template) exclusively. */
static int link_add(struct rtnl_link *link, const char *ifname,
		    const char *what)
{
	struct nl_sock *sk;
	int err;

	err = sock_open(&sk, what, ifname);
	if (err)
		return err;
	err = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0)
		err = nl_fail(err, what, ifname);
	else
		err = 0;
	sock_close(sk);
	return err;
}

/*
 * nlh_bridge_create() - create a Linux bridge
 * @brname: name of the new bridge
 *
 * Return: 0, -EEXIST when a link of that name exists, or -errno.
 */
int nlh_bridge_create(const char *brname)
{
	struct rtnl_link *link;
	int err;

	if (!ifname_ok(brname, "create bridge"))
		return -EINVAL;
	link = rtnl_link_bridge_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, brname);
	err = link_add(link, brname, "create bridge");
	rtnl_link_put(link);
	return err;
}

/*
 * nlh_veth_create() - create a veth pair
 * @name: name of one end
 * @peer: name of the other end
 *
 * Both ends are created down in the calling thread's namespace.
 *
 * Return: 0, -EEXIST when either name is taken, or -errno.
 */
int nlh_veth_create(const char *name, const char *peer)
{
	struct rtnl_link *link, *peer_link;
	int err;

	if (!ifname_ok(name, "create veth") || !ifname_ok(peer, "create veth"))
		return -EINVAL;
	link = rtnl_link_veth_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, name);
	peer_link = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer_link, peer);
	rtnl_link_put(peer_link);
	err = link_add(link, name, "create veth");
	rtnl_link_put(link);
	return err;
}

/*
 * The length of an @family address, or 0 (with a message) when @family
 * is neither AF_INET nor AF_INET6.
 */
static unsigned int family_addr_len(int family, const char *what,
				    const char *ifname)
{
	if (family == AF_INET)
		return 4;
	if (family == AF_INET6)
		return 16;
	vdev_log(VDEV_LOG_ERR, "netlink: %s %s: family %d is not AF_INET or AF_INET6",
		 what, ifname, family);
	return 0;
}

/* Build an rtnl_addr for @ifname/@family/@addr/@prefixlen over @sk. */
static int addr_build(struct nl_sock *sk, const char *ifname, int family,
		      const void *addr, unsigned int prefixlen,
		      struct rtnl_addr **rap, const char *what)
{
	struct rtnl_link *link;
	struct rtnl_addr *ra = NULL;
	struct nl_addr *local;
	unsigned int len;
	int err;

	len = family_addr_len(family, what, ifname);
	if (!len)
		return -EAFNOSUPPORT;
	if (!addr || prefixlen > len * 8) {
		vdev_log(VDEV_LOG_ERR, "netlink: %s %s: bad address or prefix length %u",
			 what, ifname, prefixlen);
		return -EINVAL;
	}
	err = link_get(sk, ifname, &link, what);
	if (err)
		return err;
	err = -ENOMEM;
	ra = rtnl_addr_alloc();
	if (!ra)
		goto out_put_link;
	local = nl_addr_build(family, addr, len);
	if (!local)
		goto out_put_addr;
	nl_addr_set_prefixlen(local, prefixlen);
	rtnl_addr_set_ifindex(ra, rtnl_link_get_ifindex(link));
	rtnl_addr_set_family(ra, family);
	err = rtnl_addr_set_local(ra, local);
	nl_addr_put(local);
	if (err < 0) {
		err = nl_fail(err, what, ifname);
		goto out_put_addr;
	}
	rtnl_link_put(link);
	*rap = ra;
	return 0;

out_put_addr:
	rtnl_addr_put(ra);
out_put_link:
	rtnl_link_put(link);
	return err;
}

static int addr_op(const char *ifname, int family, const void *addr,
		   unsigned int prefixlen, bool add)
{
	const char *what = add ? "add address" : "delete address";
	struct rtnl_addr *ra = NULL;
	struct nl_sock *sk;
	int err;

	if (!ifname_ok(ifname, what))
		return -EINVAL;
	err = sock_open(&sk, what, ifname);
	if (err)
		return err;
	err = addr_build(sk, ifname, family, addr, prefixlen, &ra, what);
	if (err)
		goto out_close;
	if (add)
		err = rtnl_addr_add(sk, ra, NLM_F_EXCL);
	else
		err = rtnl_addr_delete(sk, ra, 0);
	if (err < 0)
		err = nl_fail(err, what, ifname);
	else
		err = 0;
	rtnl_addr_put(ra);
out_close:
	sock_close(sk);
	return err;
}

/*
 * nlh_addr_add() - add an IP address to a link
 * @ifname: interface name
 * @family: AF_INET or AF_INET6
 * @addr: a struct in_addr or struct in6_addr
 * @prefixlen: prefix length (at most 32 or 128)
 *
 * Return: 0, -EEXIST when the address is already there, or -errno.
 */
int nlh_addr_add(const char *ifname, int family, const void *addr,
		 unsigned int prefixlen)
{
	return addr_op(ifname, family, addr, prefixlen, true);
}

/*
 * nlh_addr_del() - remove an IP address from a link
 * @ifname: interface name
 * @family: AF_INET or AF_INET6
 * @addr: a struct in_addr or struct in6_addr
 * @prefixlen: prefix length it was added with
 *
 * Return: 0, -EADDRNOTAVAIL when the link has no such address, or -errno.
 */
int nlh_addr_del(const char *ifname, int family, const void *addr,
		 unsigned int prefixlen)
{
	return addr_op(ifname, family, addr, prefixlen, false);
}

/*
 * Look up @ifname's index over @sk and build @family's @addr into *@nap
 * (nl_addr_put() it).
 */
static int neigh_prepare(struct nl_sock *sk, const char *ifname, int family,
			 const void *addr, int *ifindex, struct nl_addr **nap,
			 const char *what)
{
	struct rtnl_link *link;
	unsigned int len;
	int err;

	len = family_addr_len(family, what, ifname);
	if (!len)
		return -EAFNOSUPPORT;
	if (!addr) {
		vdev_log(VDEV_LOG_ERR, "netlink: %s %s: no address", what,
			 ifname);
		return -EINVAL;
	}
	err = link_get(sk, ifname, &link, what);
	if (err)
		return err;
	*ifindex = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	*nap = nl_addr_build(family, addr, len);
	return *nap ? 0 : -ENOMEM;
}

/* The common body of nlh_neigh_add() and nlh_neigh_del(). */
static int neigh_op(const char *ifname, int family, const void *addr,
		    const uint8_t *lladdr, bool add)
{
	const char *what = add ? "add neighbour" : "delete neighbour";
	struct nl_addr *dst = NULL, *ll;
	struct rtnl_neigh *neigh;
	struct nl_sock *sk;
	int ifindex, kerr = 0, err;

	if (!ifname_ok(ifname, what))
		return -EINVAL;
	if (add && !lladdr) {
		vdev_log(VDEV_LOG_ERR, "netlink: %s %s: no link-layer address",
			 what, ifname);
		return -EINVAL;
	}
	err = sock_open(&sk, what, ifname);
	if (err)
		return err;
	err = neigh_prepare(sk, ifname, family, addr, &ifindex, &dst, what);
	if (err)
		goto out_close;
	err = -ENOMEM;
	neigh = rtnl_neigh_alloc();
	if (!neigh)
		goto out_put_dst;
	rtnl_neigh_set_ifindex(neigh, ifindex);
	rtnl_neigh_set_family(neigh, family);
	err = rtnl_neigh_set_dst(neigh, dst);
	if (err < 0) {
		err = nl_fail(err, what, ifname);
		goto out_put_neigh;
	}
	if (add) {
		ll = nl_addr_build(AF_LLC, lladdr, 6);
		if (!ll) {
			err = -ENOMEM;
			goto out_put_neigh;
		}
		rtnl_neigh_set_lladdr(neigh, ll);
		nl_addr_put(ll);
		rtnl_neigh_set_state(neigh, NUD_PERMANENT);
		err = kerr_watch(sk, &kerr) ?:
		      rtnl_neigh_add(sk, neigh, NLM_F_CREATE | NLM_F_REPLACE);
	} else {
		err = kerr_watch(sk, &kerr) ?: rtnl_neigh_delete(sk, neigh, 0);
	}
	if (err < 0)
		err = kerr_fail(err, kerr, what, ifname);
	else
		err = 0;
out_put_neigh:
	rtnl_neigh_put(neigh);
out_put_dst:
	nl_addr_put(dst);
out_close:
	sock_close(sk);
	return err;
}

/*
 * nlh_neigh_add() - add or replace a permanent neighbour entry
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
 * another @family, -EINVAL for a NULL @addr or @lladdr, or -errno.
 */
int nlh_neigh_add(const char *ifname, int family, const void *addr,
		  const uint8_t lladdr[6])
{
	return neigh_op(ifname, family, addr, lladdr, true);
}

/*
 * nlh_neigh_del() - delete a neighbour entry
 * @ifname: interface name
 * @family: AF_INET or AF_INET6
 * @addr: a struct in_addr or struct in6_addr
 *
 * Return: 0, -ENOENT when @ifname has no entry for @addr, -ENODEV when
 * there is no such link, or -errno.
 */
int nlh_neigh_del(const char *ifname, int family, const void *addr)
{
	return neigh_op(ifname, family, addr, NULL, false);
}

/* Set the RTAX_* metrics @opts asks for on @route. */
static int route_set_metrics(struct rtnl_route *route,
			     const struct nlh_route_opts *opts)
{
	const struct {
		int rtax;
		unsigned int val;
	} m[] = {
		{ RTAX_INITCWND, opts->initcwnd },
		{ RTAX_INITRWND, opts->initrwnd },
		{ RTAX_MTU, opts->mtu },
	};
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(m); i++) {
		if (!m[i].val)
			continue;
		err = rtnl_route_set_metric(route, m[i].rtax, m[i].val);
		if (err < 0)
			return err;
	}
	return 0;
}

/*
 * Build the route nlh_route_add() and nlh_route_del() send:
 * @dst/@prefixlen out of @ifname, through @gateway when not NULL.
 */
static int route_build(struct nl_sock *sk, const char *ifname, int family,
		       const void *dst, unsigned int prefixlen,
		       const void *gateway,
		       const struct nlh_route_opts *opts, bool add,
		       struct rtnl_route **routep, const char *what)
{
	static const uint8_t any[16];
	struct nl_addr *dst_addr, *gw_addr;
	struct rtnl_nexthop *nh;
	struct rtnl_route *route;
	struct rtnl_link *link;
	unsigned int len;
	int err;

	len = family_addr_len(family, what, ifname);
	if (!len)
		return -EAFNOSUPPORT;
	if (prefixlen > len * 8 || (!dst && prefixlen)) {
		vdev_log(VDEV_LOG_ERR, "netlink: %s %s: bad prefix length %u%s",
			 what, ifname, prefixlen,
			 dst ? "" : " for the default route");
		return -EINVAL;
	}
	err = link_get(sk, ifname, &link, what);
	if (err)
		return err;
	err = -ENOMEM;
	route = rtnl_route_alloc();
	if (!route)
		goto out_put_link;
	rtnl_route_set_family(route, family);
	dst_addr = nl_addr_build(family, dst ? dst : any, len);
	if (!dst_addr)
		goto out_put_route;
	nl_addr_set_prefixlen(dst_addr, prefixlen);
	err = rtnl_route_set_dst(route, dst_addr);
	nl_addr_put(dst_addr);
	if (err < 0)
		goto out_nl_fail;
	if (opts->table)
		rtnl_route_set_table(route, opts->table);
	if (opts->priority)
		rtnl_route_set_priority(route, opts->priority);
	if (add) {
		err = route_set_metrics(route, opts);
		if (err < 0)
			goto out_nl_fail;
	}

	err = -ENOMEM;
	nh = rtnl_route_nh_alloc();
	if (!nh)
		goto out_put_route;
	rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(link));
	if (gateway) {
		gw_addr = nl_addr_build(family, gateway, len);
		if (!gw_addr) {
			rtnl_route_nh_free(nh);
			goto out_put_route;
		}
		rtnl_route_nh_set_gateway(nh, gw_addr);
		nl_addr_put(gw_addr);
	}
	/* The route owns @nh from here on. */
	rtnl_route_add_nexthop(route, nh);
	rtnl_link_put(link);
	*routep = route;
	return 0;

out_nl_fail:
	err = nl_fail(err, what, ifname);
out_put_route:
	rtnl_route_put(route);
out_put_link:
	rtnl_link_put(link);
	return err;
}

/* The common body of nlh_route_add() and nlh_route_del(). */
static int route_op(const char *ifname, int family, const void *dst,
		    unsigned int prefixlen, const void *gateway,
		    const struct nlh_route_opts *opts, bool add)
{
	const char *what = add ? "add route" : "delete route";
	static const struct nlh_route_opts defaults;
	struct rtnl_route *route = NULL;
	struct nl_sock *sk;
	int flags, kerr = 0, err;

	if (!ifname_ok(ifname, what))
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	err = sock_open(&sk, what, ifname);
	if (err)
		return err;
	err = route_build(sk, ifname, family, dst, prefixlen, gateway, opts,
			  add, &route, what);
	if (err)
		goto out_close;
	flags = NLM_F_CREATE | (opts->replace ? NLM_F_REPLACE : NLM_F_EXCL);
	if (add)
		err = kerr_watch(sk, &kerr) ?: rtnl_route_add(sk, route, flags);
	else
		err = kerr_watch(sk, &kerr) ?: rtnl_route_delete(sk, route, 0);
	if (err < 0)
		err = kerr_fail(err, kerr, what, ifname);
	else
		err = 0;
	rtnl_route_put(route);
out_close:
	sock_close(sk);
	return err;
}

/*
 * nlh_route_add() - add a unicast route through a link
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
int nlh_route_add(const char *ifname, int family, const void *dst,
		  unsigned int prefixlen, const void *gateway,
		  const struct nlh_route_opts *opts)
{
	return route_op(ifname, family, dst, prefixlen, gateway, opts, true);
}

/*
 * nlh_route_del() - delete a route added by nlh_route_add()
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
int nlh_route_del(const char *ifname, int family, const void *dst,
		  unsigned int prefixlen, const void *gateway,
		  const struct nlh_route_opts *opts)
{
	return route_op(ifname, family, dst, prefixlen, gateway, opts, false);
}
