// SPDX-License-Identifier: GPL-2.0
/*
 * vdev_nl_*: link up/down, MTU, MAC, transmit queue length, IPv4/IPv6
 * addresses, permanent neighbours, routes with metrics, bridge and veth,
 * enslave/release, moving a link to another namespace, link state, TAP
 * flags, and several threads at once each in its own namespace. Every
 * test runs in a fresh network namespace. What vdev_nl_* wrote is read
 * back by other means: getifaddrs(), SIOCGIFTXQLEN, or libnl's caches
 * directly (neighbours, routes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <pthread.h>
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
#include "net_test.h"

/* after <net/if.h> (net_test.h): IF_OPER_*, IFF_LOWER_UP */
#include <linux/if.h>

#define VA	"vnl0"
#define VB	"vnl1"
#define BR	"vbr0"

FIXTURE(nl) {
	int orig_ns;
	int other_ns;
};

FIXTURE_SETUP(nl)
{
	self->other_ns = -1;
	self->orig_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->orig_ns);
	nt_fixture_netns(_metadata);
}

FIXTURE_TEARDOWN(nl)
{
	/* Links die with the namespaces, which die with this process. */
	if (self->other_ns >= 0)
		close(self->other_ns);
	close(self->orig_ns);
}

/* Wait up to 2 s for the kernel's linkwatch to settle @ifname's state. */
static int wait_state(const char *ifname, bool carrier,
		      struct vdev_nl_link_state *st)
{
	int i, err;

	for (i = 0; i < 200; i++) {
		err = vdev_nl_link_state(ifname, st);
		if (err || st->carrier == carrier)
			return err;
		usleep(10000);
	}
	return -ETIMEDOUT;
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
	err = vdev_nl_ifindex(ifname, &ifindex);
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

TEST_F(nl, bad_names_and_missing_links)
{
	struct vdev_nl_link_state st;
	int ifindex;

	EXPECT_EQ(-EINVAL, vdev_nl_link_set_up("", true));
	EXPECT_EQ(-EINVAL, vdev_nl_link_set_up(NULL, true));
	EXPECT_EQ(-EINVAL, vdev_nl_link_set_mtu("0123456789abcdef", 1500));
	EXPECT_TRUE(nt_log_has("bad interface name"));
	EXPECT_EQ(-ENODEV, vdev_nl_ifindex("nosuch0", &ifindex));
	EXPECT_TRUE(nt_log_has("nosuch0"));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state("nosuch0", &st));
	EXPECT_EQ(-ENODEV, vdev_nl_link_set_up("nosuch0", true));
	EXPECT_EQ(-ENODEV, vdev_nl_link_delete("nosuch0"));
	ASSERT_EQ(0, vdev_nl_ifindex("lo", &ifindex));
	EXPECT_EQ(1, ifindex);
}

TEST_F(nl, up_down)
{
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	EXPECT_EQ(-EEXIST, vdev_nl_veth_create(VA, "vnl2"));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_FALSE(st.flags & IFF_UP);
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_TRUE(st.flags & IFF_UP);
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, false));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_FALSE(st.flags & IFF_UP);
	/* Deleting one end deletes the pair. */
	ASSERT_EQ(0, vdev_nl_link_delete(VA));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VB, &st));
}

TEST_F(nl, mtu)
{
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(1500, st.mtu);
	ASSERT_EQ(0, vdev_nl_link_set_mtu(VA, 1400));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(1400, st.mtu);
	ASSERT_EQ(0, vdev_nl_link_set_mtu(VA, 9000));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(9000, st.mtu);
	/* Below the Ethernet minimum: refused, unchanged. */
	EXPECT_EQ(-EINVAL, vdev_nl_link_set_mtu(VA, 10));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(9000, st.mtu);
}

TEST_F(nl, mac)
{
	static const uint8_t mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_mac(VA, mac));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(0, memcmp(mac, st.mac, 6));
	EXPECT_EQ(-EADDRNOTAVAIL, vdev_nl_link_set_mac(VA, mcast));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(0, memcmp(mac, st.mac, 6));
}

TEST_F(nl, ipv4_addresses)
{
	struct in_addr a;

	/* 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed. */
	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.1", &a));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_addr_add(VA, AF_INET, &a, 24));
	EXPECT_TRUE(has_addr(VA, AF_INET, &a, 24));
	EXPECT_EQ(-EEXIST, vdev_nl_addr_add(VA, AF_INET, &a, 24));
	ASSERT_EQ(0, vdev_nl_addr_del(VA, AF_INET, &a, 24));
	EXPECT_FALSE(has_addr(VA, AF_INET, &a, 24));
	EXPECT_EQ(-EADDRNOTAVAIL, vdev_nl_addr_del(VA, AF_INET, &a, 24));

	EXPECT_EQ(-EINVAL, vdev_nl_addr_add(VA, AF_INET, &a, 33));
	EXPECT_EQ(-EAFNOSUPPORT, vdev_nl_addr_add(VA, AF_PACKET, &a, 8));
	EXPECT_EQ(-ENODEV, vdev_nl_addr_add("nosuch0", AF_INET, &a, 24));
}

TEST_F(nl, ipv6_addresses)
{
	struct in6_addr a;

	/* 2001:db8::/32 is for documentation (RFC 3849). */
	ASSERT_EQ(1, inet_pton(AF_INET6, "2001:db8::1", &a));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_addr_add(VA, AF_INET6, &a, 64));
	EXPECT_TRUE(has_addr(VA, AF_INET6, &a, 64));
	EXPECT_EQ(-EEXIST, vdev_nl_addr_add(VA, AF_INET6, &a, 64));
	ASSERT_EQ(0, vdev_nl_addr_del(VA, AF_INET6, &a, 64));
	EXPECT_FALSE(has_addr(VA, AF_INET6, &a, 64));
	EXPECT_EQ(-EINVAL, vdev_nl_addr_add(VA, AF_INET6, &a, 129));
}

TEST_F(nl, txqlen)
{
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(1000, st.txqlen);
	EXPECT_EQ(1000, ioctl_txqlen(VA));
	ASSERT_EQ(0, vdev_nl_link_set_txqlen(VA, 200000));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(200000, st.txqlen);
	EXPECT_EQ(200000, ioctl_txqlen(VA));
	/* The peer keeps its own. */
	EXPECT_EQ(1000, ioctl_txqlen(VB));
	ASSERT_EQ(0, vdev_nl_link_set_txqlen(VA, 0));
	EXPECT_EQ(0, ioctl_txqlen(VA));

	/* A TAP: the length its queues' rings get. */
	ASSERT_EQ(0, nt_tap_create("vtap0", true));
	ASSERT_EQ(0, vdev_nl_link_set_txqlen("vtap0", 4096));
	EXPECT_EQ(4096, ioctl_txqlen("vtap0"));

	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, vdev_nl_link_set_txqlen("nosuch0", 100));
	EXPECT_TRUE(nt_log_has("set txqlen nosuch0"));
	EXPECT_EQ(-EINVAL, vdev_nl_link_set_txqlen("", 100));
}

TEST_F(nl, neigh_ipv4)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x01 };
	static const uint8_t mac2[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x02 };
	struct neigh_info ni;
	struct in_addr a;

	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.2", &a));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	EXPECT_FALSE(ni.found);

	ASSERT_EQ(0, vdev_nl_neigh_add(VA, AF_INET, &a, mac));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	ASSERT_TRUE(ni.found);
	EXPECT_EQ(NUD_PERMANENT, ni.state);
	EXPECT_EQ(0, memcmp(mac, ni.mac, 6));
	/* Not on the other link. */
	ASSERT_EQ(0, get_neigh(VB, AF_INET, &a, &ni));
	EXPECT_FALSE(ni.found);

	/* Again, with another address: replaced, not refused. */
	ASSERT_EQ(0, vdev_nl_neigh_add(VA, AF_INET, &a, mac2));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	ASSERT_TRUE(ni.found);
	EXPECT_EQ(NUD_PERMANENT, ni.state);
	EXPECT_EQ(0, memcmp(mac2, ni.mac, 6));

	ASSERT_EQ(0, vdev_nl_neigh_del(VA, AF_INET, &a));
	ASSERT_EQ(0, get_neigh(VA, AF_INET, &a, &ni));
	EXPECT_FALSE(ni.found);
	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENOENT, vdev_nl_neigh_del(VA, AF_INET, &a));
	EXPECT_TRUE(nt_log_has("delete neighbour " VA));

	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, vdev_nl_neigh_add("nosuch0", AF_INET, &a, mac));
	EXPECT_TRUE(nt_log_has("add neighbour nosuch0"));
	EXPECT_EQ(-ENODEV, vdev_nl_neigh_del("nosuch0", AF_INET, &a));
	EXPECT_EQ(-EAFNOSUPPORT, vdev_nl_neigh_add(VA, AF_PACKET, &a, mac));
	EXPECT_TRUE(nt_log_has("not AF_INET or AF_INET6"));
	EXPECT_EQ(-EINVAL, vdev_nl_neigh_add(VA, AF_INET, NULL, mac));
	EXPECT_EQ(-EINVAL, vdev_nl_neigh_add(VA, AF_INET, &a, NULL));
	EXPECT_EQ(-EINVAL, vdev_nl_neigh_add(NULL, AF_INET, &a, mac));
}

TEST_F(nl, neigh_ipv6)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x06 };
	struct neigh_info ni;
	struct in6_addr a;

	ASSERT_EQ(1, inet_pton(AF_INET6, "2001:db8::2", &a));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_neigh_add(VA, AF_INET6, &a, mac));
	ASSERT_EQ(0, get_neigh(VA, AF_INET6, &a, &ni));
	ASSERT_TRUE(ni.found);
	EXPECT_EQ(NUD_PERMANENT, ni.state);
	EXPECT_EQ(0, memcmp(mac, ni.mac, 6));
	ASSERT_EQ(0, vdev_nl_neigh_del(VA, AF_INET6, &a));
	ASSERT_EQ(0, get_neigh(VA, AF_INET6, &a, &ni));
	EXPECT_FALSE(ni.found);
}

TEST_F(nl, route_ipv4)
{
	struct vdev_nl_route_opts opts = {
		.initcwnd = 128, .initrwnd = 64, .mtu = 1400,
	};
	struct route_info ri;
	struct in_addr dst, gw, addr;
	int ifindex;

	/* 198.51.100.0/24 and 203.0.113.0/24: TEST-NET-2 and -3. */
	ASSERT_EQ(1, inet_pton(AF_INET, "198.51.100.0", &dst));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_ifindex(VA, &ifindex));

	ASSERT_EQ(0, vdev_nl_route_add(VA, AF_INET, &dst, 24, NULL, &opts));
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
	EXPECT_EQ(-EEXIST, vdev_nl_route_add(VA, AF_INET, &dst, 24, NULL,
					     &opts));
	EXPECT_TRUE(nt_log_has("add route " VA));
	opts.initcwnd = 32;
	opts.initrwnd = 0;
	opts.replace = true;
	ASSERT_EQ(0, vdev_nl_route_add(VA, AF_INET, &dst, 24, NULL, &opts));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(32, ri.initcwnd);
	EXPECT_EQ(0, ri.initrwnd);

	ASSERT_EQ(0, vdev_nl_route_del(VA, AF_INET, &dst, 24, NULL, NULL));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	EXPECT_FALSE(ri.found);
	EXPECT_EQ(-ESRCH, vdev_nl_route_del(VA, AF_INET, &dst, 24, NULL,
					    NULL));

	/* Through a gateway on VA's subnet, with no options. */
	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.1", &addr));
	ASSERT_EQ(1, inet_pton(AF_INET, "192.0.2.254", &gw));
	ASSERT_EQ(1, inet_pton(AF_INET, "203.0.113.0", &dst));
	ASSERT_EQ(0, vdev_nl_addr_add(VA, AF_INET, &addr, 24));
	ASSERT_EQ(0, vdev_nl_route_add(VA, AF_INET, &dst, 24, &gw, NULL));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_TRUE(ri.has_gw);
	EXPECT_EQ(0, memcmp(&gw, ri.gw, 4));
	EXPECT_EQ(RT_SCOPE_UNIVERSE, ri.scope);
	EXPECT_EQ(0, ri.initcwnd);
	ASSERT_EQ(0, vdev_nl_route_del(VA, AF_INET, &dst, 24, &gw, NULL));
	ASSERT_EQ(0, get_route(AF_INET, &dst, 24, 0, &ri));
	EXPECT_FALSE(ri.found);

	/* The default route, in another table with a metric. */
	memset(&opts, 0, sizeof(opts));
	opts.table = 100;
	opts.priority = 7;
	ASSERT_EQ(0, vdev_nl_route_add(VA, AF_INET, NULL, 0, &gw, &opts));
	ASSERT_EQ(0, get_route(AF_INET, NULL, 0, 0, &ri));
	EXPECT_FALSE(ri.found);
	ASSERT_EQ(0, get_route(AF_INET, NULL, 0, 100, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(7, ri.priority);
	EXPECT_EQ(0, memcmp(&gw, ri.gw, 4));
	/* Not in the main table. */
	EXPECT_EQ(-ESRCH, vdev_nl_route_del(VA, AF_INET, NULL, 0, &gw,
					    NULL));
	ASSERT_EQ(0, vdev_nl_route_del(VA, AF_INET, NULL, 0, &gw, &opts));
	ASSERT_EQ(0, get_route(AF_INET, NULL, 0, 100, &ri));
	EXPECT_FALSE(ri.found);
}

TEST_F(nl, route_ipv6)
{
	struct vdev_nl_route_opts opts = { .initcwnd = 64 };
	struct route_info ri;
	struct in6_addr dst, gw;
	int ifindex;

	ASSERT_EQ(1, inet_pton(AF_INET6, "2001:db8:1::", &dst));
	ASSERT_EQ(1, inet_pton(AF_INET6, "fe80::1", &gw));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_ifindex(VA, &ifindex));

	ASSERT_EQ(0, vdev_nl_route_add(VA, AF_INET6, &dst, 64, &gw, &opts));
	ASSERT_EQ(0, get_route(AF_INET6, &dst, 64, 0, &ri));
	ASSERT_TRUE(ri.found);
	EXPECT_EQ(ifindex, ri.oif);
	EXPECT_TRUE(ri.has_gw);
	EXPECT_EQ(0, memcmp(&gw, ri.gw, 16));
	EXPECT_EQ(64, ri.initcwnd);
	/* The kernel's default metric for IPv6 (IP6_RT_PRIO_USER). */
	EXPECT_EQ(1024, ri.priority);
	EXPECT_EQ(-EEXIST, vdev_nl_route_add(VA, AF_INET6, &dst, 64, &gw,
					     &opts));
	ASSERT_EQ(0, vdev_nl_route_del(VA, AF_INET6, &dst, 64, &gw, NULL));
	ASSERT_EQ(0, get_route(AF_INET6, &dst, 64, 0, &ri));
	EXPECT_FALSE(ri.found);
}

TEST_F(nl, route_errors)
{
	struct in_addr dst;

	ASSERT_EQ(1, inet_pton(AF_INET, "198.51.100.0", &dst));
	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, vdev_nl_route_add("nosuch0", AF_INET, &dst, 24,
					     NULL, NULL));
	EXPECT_TRUE(nt_log_has("add route nosuch0"));
	EXPECT_EQ(-ENODEV, vdev_nl_route_del("nosuch0", AF_INET, &dst, 24,
					     NULL, NULL));
	EXPECT_TRUE(nt_log_has("delete route nosuch0"));

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	/* The kernel wants the output link up; its errno comes back. */
	EXPECT_EQ(-ENETDOWN, vdev_nl_route_add(VA, AF_INET, &dst, 24, NULL,
					       NULL));
	EXPECT_TRUE(nt_log_has("add route " VA ": Network is down"));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	EXPECT_EQ(-EINVAL, vdev_nl_route_add(VA, AF_INET, &dst, 33, NULL,
					     NULL));
	EXPECT_TRUE(nt_log_has("bad prefix length 33"));
	EXPECT_EQ(-EINVAL, vdev_nl_route_add(VA, AF_INET, NULL, 8, NULL,
					     NULL));
	EXPECT_TRUE(nt_log_has("for the default route"));
	EXPECT_EQ(-EAFNOSUPPORT, vdev_nl_route_add(VA, AF_PACKET, &dst, 8,
						   NULL, NULL));
	EXPECT_EQ(-EINVAL, vdev_nl_route_add("", AF_INET, &dst, 24, NULL,
					     NULL));
	/* An IPv4 gateway off every subnet of VA. */
	nt_last_log[0] = '\0';
	EXPECT_GT(0, vdev_nl_route_add(VA, AF_INET, &dst, 24, &dst, NULL));
	EXPECT_FALSE(nt_log_has("Unspecific failure"));
}

TEST_F(nl, bridge_enslave_release)
{
	struct vdev_nl_link_state br, port;

	ASSERT_EQ(0, vdev_nl_bridge_create(BR));
	EXPECT_EQ(-EEXIST, vdev_nl_bridge_create(BR));
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_state(BR, &br));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &port));
	EXPECT_EQ(0, port.master);

	ASSERT_EQ(0, vdev_nl_link_enslave(VA, BR));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &port));
	EXPECT_EQ(br.ifindex, port.master);
	ASSERT_EQ(0, vdev_nl_link_enslave(VA, NULL));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &port));
	EXPECT_EQ(0, port.master);

	/* A TAP on the bridge, as a VMM would plug it. */
	ASSERT_EQ(0, nt_tap_create("vtap0", false));
	ASSERT_EQ(0, vdev_nl_link_enslave("vtap0", BR));
	ASSERT_EQ(0, vdev_nl_link_state("vtap0", &port));
	EXPECT_EQ(br.ifindex, port.master);

	EXPECT_EQ(-ENODEV, vdev_nl_link_enslave(VA, "nosuch0"));
	ASSERT_EQ(0, vdev_nl_link_delete(BR));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(BR, &br));
	ASSERT_EQ(0, vdev_nl_link_state("vtap0", &port));
	EXPECT_EQ(0, port.master);
}

TEST_F(nl, move_to_netns)
{
	struct vdev_nl_link_state st;
	int here;

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, here);
	/* Make a second namespace and come back. */
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	self->other_ns = open("/proc/thread-self/ns/net",
			      O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->other_ns);
	ASSERT_EQ(0, setns(here, CLONE_NEWNET));
	close(here);

	ASSERT_EQ(0, vdev_nl_link_set_netns(VA, self->other_ns));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VA, &st));
	ASSERT_EQ(0, vdev_nl_link_state(VB, &st));
	EXPECT_EQ(-EBADF, vdev_nl_link_set_netns(VB, -1));

	ASSERT_EQ(0, setns(self->other_ns, CLONE_NEWNET));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VB, &st));
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_TRUE(st.flags & IFF_UP);
}

TEST_F(nl, link_state)
{
	struct vdev_nl_link_state a, b;

	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &a));
	EXPECT_LT(1, a.ifindex);
	EXPECT_FALSE(a.carrier);
	EXPECT_EQ(IF_OPER_DOWN, a.operstate);

	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_link_set_up(VB, true));
	ASSERT_EQ(0, wait_state(VA, true, &a));
	EXPECT_TRUE(a.carrier);
	EXPECT_EQ(IF_OPER_UP, a.operstate);
	EXPECT_EQ(IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
		  a.flags & (IFF_UP | IFF_RUNNING | IFF_LOWER_UP));
	ASSERT_EQ(0, vdev_nl_link_state(VB, &b));
	EXPECT_NE(a.ifindex, b.ifindex);
	EXPECT_EQ(1500, b.mtu);
	EXPECT_EQ(0, b.master);

	/* Peer down: this end loses its carrier. */
	ASSERT_EQ(0, vdev_nl_link_set_up(VB, false));
	ASSERT_EQ(0, wait_state(VA, false, &a));
	EXPECT_FALSE(a.carrier);
	EXPECT_EQ(IF_OPER_LOWERLAYERDOWN, a.operstate);
	EXPECT_FALSE(a.flags & IFF_LOWER_UP);
}

TEST_F(nl, tun_flags)
{
	unsigned int flags;

	ASSERT_EQ(0, nt_tap_create("vtap0", false));
	ASSERT_EQ(0, nt_tap_create("vtap1", true));
	ASSERT_EQ(0, vdev_nl_tun_flags("vtap0", &flags));
	EXPECT_EQ(NT_TAP_FLAGS | IFF_PERSIST, flags);
	ASSERT_EQ(0, vdev_nl_tun_flags("vtap1", &flags));
	EXPECT_EQ(NT_TAP_FLAGS | IFF_PERSIST | IFF_MULTI_QUEUE, flags);
	ASSERT_EQ(0, vdev_nl_veth_create(VA, VB));
	EXPECT_EQ(-EMEDIUMTYPE, vdev_nl_tun_flags(VA, &flags));
	EXPECT_EQ(-ENODEV, vdev_nl_tun_flags("nosuch0", &flags));
	/* A deleted persistent TAP is gone. */
	ASSERT_EQ(0, vdev_nl_link_delete("vtap0"));
	EXPECT_EQ(-ENODEV, vdev_nl_tun_flags("vtap0", &flags));
}

#define NR_THREADS	4
#define NR_ROUNDS	25

struct worker_arg {
	int id;
	int failures;
	char msg[128];
};

/* Each thread: own namespace, same link names, a full plumbing cycle. */
static void *nl_worker(void *p)
{
	struct worker_arg *w = p;
	struct vdev_nl_route_opts opts = { .initcwnd = 64 };
	struct vdev_nl_link_state st;
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0 };
	struct in_addr a, gw, net;
	int r, err;

	if (unshare(CLONE_NEWNET)) {
		snprintf(w->msg, sizeof(w->msg), "unshare: %d", errno);
		w->failures++;
		return NULL;
	}
	inet_pton(AF_INET, "192.0.2.1", &a);
	inet_pton(AF_INET, "192.0.2.254", &gw);
	inet_pton(AF_INET, "198.51.100.0", &net);
	mac[5] = w->id;
	for (r = 0; r < NR_ROUNDS; r++) {
		err = vdev_nl_veth_create(VA, VB) ?:
		      vdev_nl_bridge_create(BR) ?:
		      vdev_nl_link_enslave(VB, BR) ?:
		      vdev_nl_link_set_mtu(VA, 1400 + w->id) ?:
		      vdev_nl_link_set_mac(VA, mac) ?:
		      vdev_nl_link_set_up(VA, true) ?:
		      vdev_nl_link_set_txqlen(VA, 500 + w->id) ?:
		      vdev_nl_addr_add(VA, AF_INET, &a, 24) ?:
		      vdev_nl_neigh_add(VA, AF_INET, &gw, mac) ?:
		      vdev_nl_route_add(VA, AF_INET, &net, 24, &gw, &opts) ?:
		      vdev_nl_link_state(VA, &st) ?:
		      vdev_nl_route_del(VA, AF_INET, &net, 24, &gw, NULL) ?:
		      vdev_nl_neigh_del(VA, AF_INET, &gw) ?:
		      vdev_nl_addr_del(VA, AF_INET, &a, 24) ?:
		      vdev_nl_link_delete(VA) ?:
		      vdev_nl_link_delete(BR);
		if (err) {
			snprintf(w->msg, sizeof(w->msg), "round %d: %d", r, err);
			w->failures++;
			break;
		}
		if (st.mtu != 1400u + w->id || memcmp(st.mac, mac, 6) ||
		    st.txqlen != 500u + w->id || !(st.flags & IFF_UP)) {
			snprintf(w->msg, sizeof(w->msg),
				 "round %d: mtu %u, mac[5] %u", r, st.mtu,
				 st.mac[5]);
			w->failures++;
			break;
		}
	}
	return NULL;
}

TEST_F(nl, threads_each_in_own_netns)
{
	struct worker_arg w[NR_THREADS] = { 0 };
	pthread_t t[NR_THREADS];
	struct vdev_nl_link_state st;
	int i;

	for (i = 0; i < NR_THREADS; i++) {
		w[i].id = i + 1;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, nl_worker, &w[i]));
	}
	for (i = 0; i < NR_THREADS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, w[i].failures) TH_LOG("thread %d: %s", i, w[i].msg);
	}
	/* Nothing leaked into this thread's namespace. */
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(VA, &st));
}

TEST_HARNESS_MAIN
