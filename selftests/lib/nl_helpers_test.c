// SPDX-License-Identifier: GPL-2.0
/*
 * The selftests' netlink helpers (selftests/lib/nl_helpers.c): ifindex,
 * veth pairs and bridges made and deleted, transmit queue length,
 * IPv4/IPv6 addresses, permanent neighbours, routes with metrics, moving
 * a link to another namespace. Every test runs in a fresh network
 * namespace. What the helpers wrote is read back by other means:
 * getifaddrs(), SIOCGIFTXQLEN, or libnl's caches directly (neighbours,
 * routes). The helpers in several threads at once, each in its own
 * namespace, are in selftests/net/netlink_test.c with libvdev's own
 * netlink calls.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <vdev/netlink.h>

#include "kselftest_harness.h"
#include "lib/nl_helpers.h"
#include "net/net_test.h"

#define VA	"vnl0"
#define VB	"vnl1"
#define BR	"vbr0"

FIXTURE(nlh) {
	int other_ns;
};

FIXTURE_SETUP(nlh)
{
	self->other_ns = -1;
	nt_fixture_netns(_metadata);
}

FIXTURE_TEARDOWN(nlh)
{
	/* Links die with the namespaces, which die with this process. */
	if (self->other_ns >= 0)
		close(self->other_ns);
}

/* Is @addr (@family) on @ifname with @prefixlen, per getifaddrs()? */
static bool has_addr(const char *ifname, int family, const void *addr,
		     unsigned int prefixlen)
{
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i; i = i->ifa_next) {
		const void *a, *m;
		unsigned int len, bits = 0, k;

		if (!i->ifa_addr || i->ifa_addr->sa_family != family ||
		    strcmp(i->ifa_name, ifname))
			continue;
		if (family == AF_INET) {
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			m = &((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
			len = 4;
		} else {
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			m = &((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr;
			len = 16;
		}
		for (k = 0; k < len; k++)
			bits += __builtin_popcount(((const uint8_t *)m)[k]);
		if (!memcmp(a, addr, len) && bits == prefixlen)
			found = true;
	}
	freeifaddrs(ifa);
	return found;
}

/* A NETLINK_ROUTE socket of the test's own, in this thread's namespace. */
static struct nl_sock *test_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (sk && nl_connect(sk, NETLINK_ROUTE) < 0) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/**
 * struct neigh_info - a neighbour entry as libnl's cache has it
 * @found: there is an entry for the address on the link
 * @state: NUD_* state
 * @mac: its link-layer address
 */
struct neigh_info {
	bool found;
	int state;
	uint8_t mac[6];
};

/* Read @ifname's entry for @addr (@family) back from the kernel. */
static int get_neigh(const char *ifname, int family, const void *addr,
		     struct neigh_info *ni)
{
	struct nl_cache *cache;
	struct rtnl_neigh *n;
	struct nl_addr *dst, *ll;
	struct nl_sock *sk;
	int ifindex, err;

	memset(ni, 0, sizeof(*ni));
	err = nlh_ifindex(ifname, &ifindex);
	if (err)
		return err;
	sk = test_sock();
	if (!sk)
		return -ENOMEM;
	err = rtnl_neigh_alloc_cache(sk, &cache);
	nl_socket_free(sk);
	if (err < 0)
		return -EIO;
	dst = nl_addr_build(family, addr, family == AF_INET ? 4 : 16);
	n = dst ? rtnl_neigh_get(cache, ifindex, dst) : NULL;
	if (n) {
		ni->found = true;
		ni->state = rtnl_neigh_get_state(n);
		ll = rtnl_neigh_get_lladdr(n);
		if (ll && nl_addr_get_len(ll) == 6)
			memcpy(ni->mac, nl_addr_get_binary_addr(ll), 6);
		rtnl_neigh_put(n);
	}
	nl_addr_put(dst);
	nl_cache_free(cache);
	return 0;
}

/**
 * struct route_info - a route as libnl's cache has it
 * @found: the table has a route to the destination
 * @oif: ifindex of its (first) next hop
 * @priority: its metric (RTA_PRIORITY)
 * @initcwnd: RTAX_INITCWND, 0 when not set
 * @initrwnd: RTAX_INITRWND, 0 when not set
 * @mtu: RTAX_MTU, 0 when not set
 * @scope: RT_SCOPE_*
 * @protocol: RTPROT_*
 * @has_gw: the next hop has a gateway
 * @gw: the gateway
 */
struct route_info {
	bool found;
	int oif;
	unsigned int priority;
	uint32_t initcwnd, initrwnd, mtu;
	int scope;
	int protocol;
	bool has_gw;
	uint8_t gw[16];
};

/*
 * Read the route to @dst/@prefixlen (@dst NULL: the default route) in
 * @table (0: main) back from the kernel.
 */
static int get_route(int family, const void *dst, unsigned int prefixlen,
		     unsigned int table, struct route_info *ri)
{
	static const uint8_t any[16];
	unsigned int len = family == AF_INET ? 4 : 16;
	struct nl_object *obj;
	struct nl_cache *cache;
	struct nl_sock *sk;
	int err;

	memset(ri, 0, sizeof(*ri));
	if (!dst)
		dst = any;
	sk = test_sock();
	if (!sk)
		return -ENOMEM;
	err = rtnl_route_alloc_cache(sk, family, 0, &cache);
	nl_socket_free(sk);
	if (err < 0)
		return -EIO;
	for (obj = nl_cache_get_first(cache); obj;
	     obj = nl_cache_get_next(obj)) {
		struct rtnl_route *r = (struct rtnl_route *)obj;
		struct nl_addr *d = rtnl_route_get_dst(r), *gw;
		struct rtnl_nexthop *nh;

		if (rtnl_route_get_table(r) != (table ? table : RT_TABLE_MAIN) ||
		    nl_addr_get_prefixlen(d) != prefixlen ||
		    (prefixlen && memcmp(nl_addr_get_binary_addr(d), dst,
					 len)))
			continue;
		ri->found = true;
		ri->priority = rtnl_route_get_priority(r);
		ri->scope = rtnl_route_get_scope(r);
		ri->protocol = rtnl_route_get_protocol(r);
		rtnl_route_get_metric(r, RTAX_INITCWND, &ri->initcwnd);
		rtnl_route_get_metric(r, RTAX_INITRWND, &ri->initrwnd);
		rtnl_route_get_metric(r, RTAX_MTU, &ri->mtu);
		nh = rtnl_route_nexthop_n(r, 0);
		if (nh) {
			ri->oif = rtnl_route_nh_get_ifindex(nh);
			gw = rtnl_route_nh_get_gateway(nh);
			if (gw && nl_addr_get_len(gw) == len) {
				ri->has_gw = true;
				memcpy(ri->gw, nl_addr_get_binary_addr(gw),
				       len);
			}
		}
		break;
	}
	nl_cache_free(cache);
	return 0;
}

/* SIOCGIFTXQLEN: the queue length as the ioctl interface reports it. */
static int ioctl_txqlen(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int ret = nt_if_ioctl(ifname, SIOCGIFTXQLEN, &ifr);

	return ret ? ret : ifr.ifr_qlen;
}

TEST_F(nlh, bad_names_and_missing_links)
{
	int ifindex;

	EXPECT_EQ(-EINVAL, nlh_link_delete(""));
	EXPECT_EQ(-EINVAL, nlh_veth_create(VA, NULL));
	EXPECT_EQ(-EINVAL, nlh_bridge_create("0123456789abcdef"));
	EXPECT_TRUE(nt_log_has("bad interface name"));
	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, nlh_ifindex("nosuch0", &ifindex));
	EXPECT_TRUE(nt_log_has("nosuch0"));
	EXPECT_EQ(-ENODEV, nlh_link_delete("nosuch0"));
	ASSERT_EQ(0, nlh_ifindex("lo", &ifindex));
	EXPECT_EQ(1, ifindex);
}

TEST_F(nlh, veth_and_bridge)
{
	struct vdev_nl_link_state a, b;
	int ifindex;

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	EXPECT_EQ(-EEXIST, nlh_veth_create(VA, "vnl2"));
	EXPECT_EQ(-EEXIST, nlh_veth_create("vnl2", VB));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &a));
	ASSERT_EQ(0, vdev_nl_link_state(VB, &b));
	EXPECT_NE(a.ifindex, b.ifindex);
	/* Both ends are created down. */
	EXPECT_FALSE(a.flags & IFF_UP);
	EXPECT_FALSE(b.flags & IFF_UP);
	ASSERT_EQ(0, nlh_ifindex(VA, &ifindex));
	EXPECT_EQ(a.ifindex, ifindex);
	/* Deleting one end deletes the pair. */
	ASSERT_EQ(0, nlh_link_delete(VA));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VB, &b));

	ASSERT_EQ(0, nlh_bridge_create(BR));
	EXPECT_EQ(-EEXIST, nlh_bridge_create(BR));
	ASSERT_EQ(0, vdev_nl_link_state(BR, &a));
	ASSERT_EQ(0, nlh_link_delete(BR));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(BR, &a));
	EXPECT_EQ(-ENODEV, nlh_link_delete(BR));
}

TEST_F(nlh, ipv4_addresses)
{
	struct in_addr a;

	/* 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed. */
	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.1", &a));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, nlh_addr_add(VA, AF_INET, &a, 24));
	EXPECT_TRUE(has_addr(VA, AF_INET, &a, 24));
	EXPECT_EQ(-EEXIST, nlh_addr_add(VA, AF_INET, &a, 24));
	ASSERT_EQ(0, nlh_addr_del(VA, AF_INET, &a, 24));
	EXPECT_FALSE(has_addr(VA, AF_INET, &a, 24));
	EXPECT_EQ(-EADDRNOTAVAIL, nlh_addr_del(VA, AF_INET, &a, 24));

	EXPECT_EQ(-EINVAL, nlh_addr_add(VA, AF_INET, &a, 33));
	EXPECT_EQ(-EAFNOSUPPORT, nlh_addr_add(VA, AF_PACKET, &a, 8));
	EXPECT_EQ(-ENODEV, nlh_addr_add("nosuch0", AF_INET, &a, 24));
}

TEST_F(nlh, ipv6_addresses)
{
	struct in6_addr a;

	/* 2001:db8::/32 is for documentation (RFC 3849). */
	ASSERT_EQ(1, inet_pton(AF_INET6, "2001:db8::1", &a));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, nlh_addr_add(VA, AF_INET6, &a, 64));
	EXPECT_TRUE(has_addr(VA, AF_INET6, &a, 64));
	EXPECT_EQ(-EEXIST, nlh_addr_add(VA, AF_INET6, &a, 64));
	ASSERT_EQ(0, nlh_addr_del(VA, AF_INET6, &a, 64));
	EXPECT_FALSE(has_addr(VA, AF_INET6, &a, 64));
	EXPECT_EQ(-EINVAL, nlh_addr_add(VA, AF_INET6, &a, 129));
}

TEST_F(nlh, txqlen)
{
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(1000, st.txqlen);
	EXPECT_EQ(1000, ioctl_txqlen(VA));
	ASSERT_EQ(0, nlh_link_set_txqlen(VA, 200000));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(200000, st.txqlen);
	EXPECT_EQ(200000, ioctl_txqlen(VA));
	/* The peer keeps its own. */
	EXPECT_EQ(1000, ioctl_txqlen(VB));
	ASSERT_EQ(0, nlh_link_set_txqlen(VA, 0));
	EXPECT_EQ(0, ioctl_txqlen(VA));

	/* A TAP: the length its queues' rings get. */
	ASSERT_EQ(0, nt_tap_create("vtap0", true));
	ASSERT_EQ(0, nlh_link_set_txqlen("vtap0", 4096));
	EXPECT_EQ(4096, ioctl_txqlen("vtap0"));

	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, nlh_link_set_txqlen("nosuch0", 100));
	EXPECT_TRUE(nt_log_has("set txqlen nosuch0"));
	EXPECT_EQ(-EINVAL, nlh_link_set_txqlen("", 100));
}

TEST_F(nlh, neigh_ipv4)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
	static const uint8_t mac2[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02 };
	struct neigh_info ni;
	struct in_addr a;

	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.2", &a));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	EXPECT_FALSE(ni.found);

	ASSERT_EQ(0, nlh_neigh_add(VA, AF_INET, &a, mac));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	ASSERT_TRUE(ni.found);
	EXPECT_EQ(NUD_PERMANENT, ni.state);
	EXPECT_EQ(0, memcmp(mac, ni.mac, 6));
	/* Not on the other link. */
	ASSERT_EQ(0, get_neigh(VB, AF_INET, &a, &ni));
	EXPECT_FALSE(ni.found);

	/* Again, with another address: replaced, not refused. */
	ASSERT_EQ(0, nlh_neigh_add(VA, AF_INET, &a, mac2));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	ASSERT_TRUE(ni.found);
	EXPECT_EQ(NUD_PERMANENT, ni.state);
	EXPECT_EQ(0, memcmp(mac2, ni.mac, 6));

	ASSERT_EQ(0, nlh_neigh_del(VA, AF_INET, &a));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	EXPECT_FALSE(ni.found);
	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENOENT, nlh_neigh_del(VA, AF_INET, &a));
	EXPECT_TRUE(nt_log_has("delete neighbour " VA));

	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, nlh_neigh_add("nosuch0", AF_INET, &a, mac));
	EXPECT_TRUE(nt_log_has("add neighbour nosuch0"));
	EXPECT_EQ(-ENODEV, nlh_neigh_del("nosuch0", AF_INET, &a));
	EXPECT_EQ(-EAFNOSUPPORT, nlh_neigh_add(VA, AF_PACKET, &a, mac));
	EXPECT_TRUE(nt_log_has("not AF_INET or AF_INET6"));
	EXPECT_EQ(-EINVAL, nlh_neigh_add(VA, AF_INET, NULL, mac));
	EXPECT_EQ(-EINVAL, nlh_neigh_add(VA, AF_INET, &a, NULL));
	EXPECT_EQ(-EINVAL, nlh_neigh_add(NULL, AF_INET, &a, mac));
}

TEST_F(nlh, neigh_ipv6)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x06 };
	struct neigh_info ni;
	struct in6_addr a;

	ASSERT_EQ(1, inet_pton(AF_INET6, "2001:db8::2", &a));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, nlh_neigh_add(VA, AF_INET6, &a, mac));
	ASSERT_EQ(0, get_neigh(VA, AF_INET6, &a, &ni));
	ASSERT_TRUE(ni.found);
	EXPECT_EQ(NUD_PERMANENT, ni.state);
	EXPECT_EQ(0, memcmp(mac, ni.mac, 6));
	ASSERT_EQ(0, nlh_neigh_del(VA, AF_INET6, &a));
	ASSERT_EQ(0, get_neigh(VA, AF_INET6, &a, &ni));
	EXPECT_FALSE(ni.found);
}

TEST_F(nlh, route_ipv4)
{
	struct nlh_route_opts opts = {
		.initcwnd = 128, .initrwnd = 64, .mtu = 1400,
	};
	struct route_info ri;
	struct in_addr dst, gw, addr;
	int ifindex;

	/* 198.51.100.0/24 and 203.0.113.0/24: TEST-NET-2 and -3. */
	ASSERT_EQ(1, inet_pton(AF_INET, "198.51.100.0", &dst));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, nlh_ifindex(VA, &ifindex));

	ASSERT_EQ(0, nlh_route_add(VA, AF_INET, &dst, 24, NULL, &opts));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(ifindex, ri.oif);
	EXPECT_FALSE(ri.has_gw);
	EXPECT_EQ(RT_SCOPE_LINK, ri.scope);
	EXPECT_EQ(RTPROT_STATIC, ri.protocol);
	EXPECT_EQ(128, ri.initcwnd);
	EXPECT_EQ(64, ri.initrwnd);
	EXPECT_EQ(1400, ri.mtu);

	/* There already: refused, unless asked to replace it. */
	nt_last_log[0] = '\0';
	EXPECT_EQ(-EEXIST, nlh_route_add(VA, AF_INET, &dst, 24, NULL, &opts));
	EXPECT_TRUE(nt_log_has("add route " VA));
	opts.initcwnd = 32;
	opts.initrwnd = 0;
	opts.replace = true;
	ASSERT_EQ(0, nlh_route_add(VA, AF_INET, &dst, 24, NULL, &opts));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(32, ri.initcwnd);
	EXPECT_EQ(0, ri.initrwnd);

	ASSERT_EQ(0, nlh_route_del(VA, AF_INET, &dst, 24, NULL, NULL));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	EXPECT_FALSE(ri.found);
	EXPECT_EQ(-ESRCH, nlh_route_del(VA, AF_INET, &dst, 24, NULL, NULL));

	/* Through a gateway on VA's subnet, with no options. */
	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.1", &addr));
	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.254", &gw));
	ASSERT_EQ(1, inet_pton(AF_INET, "203.0.113.0", &dst));
	ASSERT_EQ(0, nlh_addr_add(VA, AF_INET, &addr, 24));
	ASSERT_EQ(0, nlh_route_add(VA, AF_INET, &dst, 24, &gw, NULL));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_TRUE(ri.has_gw);
	EXPECT_EQ(0, memcmp(&gw, ri.gw, 4));
	EXPECT_EQ(RT_SCOPE_UNIVERSE, ri.scope);
	EXPECT_EQ(0, ri.initcwnd);
	ASSERT_EQ(0, nlh_route_del(VA, AF_INET, &dst, 24, &gw, NULL));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	EXPECT_FALSE(ri.found);

	/* The default route, in another table with a metric. */
	memset(&opts, 0, sizeof(opts));
	opts.table = 100;
	opts.priority = 7;
	ASSERT_EQ(0, nlh_route_add(VA, AF_INET, NULL, 0, &gw, &opts));
	ASSERT_EQ(0, get_route(AF_INET, NULL, 0, 0, &ri));
	EXPECT_FALSE(ri.found);
	ASSERT_EQ(0, get_route(AF_INET, NULL, 0, 100, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(7, ri.priority);
	EXPECT_EQ(0, memcmp(&gw, ri.gw, 4));
	/* Not in the main table. */
	EXPECT_EQ(-ESRCH, nlh_route_del(VA, AF_INET, NULL, 0, &gw, NULL));
	ASSERT_EQ(0, nlh_route_del(VA, AF_INET, NULL, 0, &gw, &opts));
	ASSERT_EQ(0, get_route(AF_INET, NULL, 0, 100, &ri));
	EXPECT_FALSE(ri.found);
}

TEST_F(nlh, route_ipv6)
{
	struct nlh_route_opts opts = { .initcwnd = 64 };
	struct route_info ri;
	struct in6_addr dst, gw;
	int ifindex;

	ASSERT_EQ(1, inet_pton(AF_INET6, "2001:db8:1::", &dst));
	ASSERT_EQ(1, inet_pton(AF_INET6, "fe80::1", &gw));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, nlh_ifindex(VA, &ifindex));

	ASSERT_EQ(0, nlh_route_add(VA, AF_INET6, &dst, 64, &gw, &opts));
	ASSERT_EQ(0, get_route(AF_INET6, &dst, 64, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(ifindex, ri.oif);
	EXPECT_TRUE(ri.has_gw);
	EXPECT_EQ(0, memcmp(&gw, ri.gw, 16));
	EXPECT_EQ(64, ri.initcwnd);
	/* The kernel's default metric for IPv6 (IP6_RT_PRIO_USER). */
	EXPECT_EQ(1024, ri.priority);
	EXPECT_EQ(-EEXIST, nlh_route_add(VA, AF_INET6, &dst, 64, &gw, &opts));
	ASSERT_EQ(0, nlh_route_del(VA, AF_INET6, &dst, 64, &gw, NULL));
	ASSERT_EQ(0, get_route(AF_INET6, &dst, 64, 0, &ri));
	EXPECT_FALSE(ri.found);
}

TEST_F(nlh, route_errors)
{
	struct in_addr dst;

	ASSERT_EQ(1, inet_pton(AF_INET, "198.51.100.0", &dst));
	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, nlh_route_add("nosuch0", AF_INET, &dst, 24,
					 NULL, NULL));
	EXPECT_TRUE(nt_log_has("add route nosuch0"));
	EXPECT_EQ(-ENODEV, nlh_route_del("nosuch0", AF_INET, &dst, 24,
					 NULL, NULL));
	EXPECT_TRUE(nt_log_has("delete route nosuch0"));

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	/* The kernel wants the output link up; its errno comes back. */
	EXPECT_EQ(-ENETDOWN, nlh_route_add(VA, AF_INET, &dst, 24, NULL, NULL));
	EXPECT_TRUE(nt_log_has("add route " VA ": Network is down"));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	EXPECT_EQ(-EINVAL, nlh_route_add(VA, AF_INET, &dst, 33, NULL, NULL));
	EXPECT_TRUE(nt_log_has("bad prefix length 33"));
	EXPECT_EQ(-EINVAL, nlh_route_add(VA, AF_INET, NULL, 8, NULL, NULL));
	EXPECT_TRUE(nt_log_has("for the default route"));
	EXPECT_EQ(-EAFNOSUPPORT, nlh_route_add(VA, AF_PACKET, &dst, 8,
					       NULL, NULL));
	EXPECT_EQ(-EINVAL, nlh_route_add("", AF_INET, &dst, 24, NULL, NULL));
	/* An IPv4 gateway off every subnet of VA. */
	nt_last_log[0] = '\0';
	EXPECT_GT(0, nlh_route_add(VA, AF_INET, &dst, 24, &dst, NULL));
	EXPECT_FALSE(nt_log_has("Unspecific failure"));
}

TEST_F(nlh, move_to_netns)
{
	struct vdev_nl_link_state st;
	int here;

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, here);
	/* Make a second namespace and come back. */
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	self->other_ns = open("/proc/thread-self/ns/net",
			      O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->other_ns);
	ASSERT_EQ(0, setns(here, CLONE_NEWNET));
	close(here);

	ASSERT_EQ(0, nlh_link_set_netns(VA, self->other_ns));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VA, &st));
	ASSERT_EQ(0, vdev_nl_link_state(VB, &st));
	EXPECT_EQ(-EBADF, nlh_link_set_netns(VB, -1));

	ASSERT_EQ(0, setns(self->other_ns, CLONE_NEWNET));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VB, &st));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_TRUE(st.flags & IFF_UP);
}

TEST_HARNESS_MAIN
