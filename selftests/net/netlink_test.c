// SPDX-License-Identifier: GPL-2.0
/*
 * vdev_nl_*: link up/down, MTU, MAC, IPv4/IPv6 addresses, bridge and
 * veth, enslave/release, moving a link to another namespace, link state,
 * TAP flags, and several threads at once each in its own namespace.
 * Every test runs in a fresh network namespace.
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
	int err;

	self->other_ns = -1;
	self->orig_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->orig_ns);
	err = nt_enter_netns();
	if (err == -EPERM)
		SKIP(return, "no CAP_SYS_ADMIN for a network namespace");
	ASSERT_EQ(0, err);
	nt_log_capture();
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
	struct vdev_nl_link_state st;
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0 };
	struct in_addr a;
	int r, err;

	if (unshare(CLONE_NEWNET)) {
		snprintf(w->msg, sizeof(w->msg), "unshare: %d", errno);
		w->failures++;
		return NULL;
	}
	inet_pton(AF_INET, "192.0.2.1", &a);
	mac[5] = w->id;
	for (r = 0; r < NR_ROUNDS; r++) {
		err = vdev_nl_veth_create(VA, VB) ?:
		      vdev_nl_bridge_create(BR) ?:
		      vdev_nl_link_enslave(VB, BR) ?:
		      vdev_nl_link_set_mtu(VA, 1400 + w->id) ?:
		      vdev_nl_link_set_mac(VA, mac) ?:
		      vdev_nl_link_set_up(VA, true) ?:
		      vdev_nl_addr_add(VA, AF_INET, &a, 24) ?:
		      vdev_nl_link_state(VA, &st) ?:
		      vdev_nl_addr_del(VA, AF_INET, &a, 24) ?:
		      vdev_nl_link_delete(VA) ?:
		      vdev_nl_link_delete(BR);
		if (err) {
			snprintf(w->msg, sizeof(w->msg), "round %d: %d", r, err);
			w->failures++;
			break;
		}
		if (st.mtu != 1400u + w->id || memcmp(st.mac, mac, 6) ||
		    !(st.flags & IFF_UP)) {
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
