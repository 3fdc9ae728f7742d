// SPDX-License-Identifier: GPL-2.0
/*
 * <vdev/netlink.h>, libvdev's netlink API for a VMM's TAP: link up/down,
 * MTU, MAC, bridge membership (enslave/release), link state, TAP flags,
 * and several threads at once each in its own namespace. Every test runs
 * in a fresh network namespace; the links around the TAP (veth pairs,
 * bridges) are made with the selftests' helpers (selftests/lib/), whose
 * own tests are selftests/lib/nl_helpers_test.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <vdev/netlink.h>

#include "kselftest_harness.h"
#include "lib/nl_helpers.h"
#include "net_test.h"

/* after <net/if.h> (net_test.h): IF_OPER_*, IFF_LOWER_UP */
#include <linux/if.h>

#define VA	"vnl0"
#define VB	"vnl1"
#define BR	"vbr0"

FIXTURE(nl) {
};

FIXTURE_SETUP(nl)
{
	nt_fixture_netns(_metadata);
}

FIXTURE_TEARDOWN(nl)
{
	/* Links die with the namespace, which dies with this process. */
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

TEST_F(nl, bad_names_and_missing_links)
{
	static const uint8_t mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	struct vdev_nl_link_state st;
	unsigned int flags;

	EXPECT_EQ(-EINVAL, vdev_nl_link_set_up("", true));
	EXPECT_EQ(-EINVAL, vdev_nl_link_set_up(NULL, true));
	EXPECT_EQ(-EINVAL, vdev_nl_link_set_mtu("0123456789abcdef", 1500));
	EXPECT_TRUE(nt_log_has("bad interface name"));
	EXPECT_EQ(-EINVAL, vdev_nl_link_enslave("lo", ""));
	EXPECT_EQ(-EINVAL, vdev_nl_tun_flags(NULL, &flags));
	nt_last_log[0] = '\0';
	EXPECT_EQ(-ENODEV, vdev_nl_link_state("nosuch0", &st));
	EXPECT_TRUE(nt_log_has("nosuch0"));
	EXPECT_EQ(-ENODEV, vdev_nl_link_set_up("nosuch0", true));
	EXPECT_EQ(-ENODEV, vdev_nl_link_set_mtu("nosuch0", 1500));
	EXPECT_EQ(-ENODEV, vdev_nl_link_set_mac("nosuch0", mac));
	EXPECT_EQ(-ENODEV, vdev_nl_link_enslave("nosuch0", NULL));
	EXPECT_EQ(-ENODEV, vdev_nl_tun_flags("nosuch0", &flags));
	ASSERT_EQ(0, vdev_nl_link_state("lo", &st));
	EXPECT_EQ(1, st.ifindex);
}

TEST_F(nl, up_down)
{
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_FALSE(st.flags & IFF_UP);
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_TRUE(st.flags & IFF_UP);
	/* Again: no error, still up. */
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, true));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_TRUE(st.flags & IFF_UP);
	ASSERT_EQ(0, vdev_nl_link_set_up(VA, false));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_FALSE(st.flags & IFF_UP);
}

TEST_F(nl, mtu)
{
	struct vdev_nl_link_state st;

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
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

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	ASSERT_EQ(0, vdev_nl_link_set_mac(VA, mac));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(0, memcmp(mac, st.mac, 6));
	EXPECT_EQ(-EADDRNOTAVAIL, vdev_nl_link_set_mac(VA, mcast));
	ASSERT_EQ(0, vdev_nl_link_state(VA, &st));
	EXPECT_EQ(0, memcmp(mac, st.mac, 6));
}

TEST_F(nl, bridge_enslave_release)
{
	struct vdev_nl_link_state br, port;

	ASSERT_EQ(0, nlh_bridge_create(BR));
	EXPECT_EQ(-EEXIST, nlh_bridge_create(BR));
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
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
	ASSERT_EQ(0, nlh_link_delete(BR));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(BR, &br));
	ASSERT_EQ(0, vdev_nl_link_state("vtap0", &port));
	EXPECT_EQ(0, port.master);
}

TEST_F(nl, link_state)
{
	struct vdev_nl_link_state a, b;

	ASSERT_EQ(0, nlh_veth_create(VA, VB));
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
	ASSERT_EQ(0, nlh_veth_create(VA, VB));
	EXPECT_EQ(-EMEDIUMTYPE, vdev_nl_tun_flags(VA, &flags));
	EXPECT_EQ(-ENODEV, vdev_nl_tun_flags("nosuch0", &flags));
	/* A deleted persistent TAP is gone. */
	ASSERT_EQ(0, nlh_link_delete("vtap0"));
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
	struct nlh_route_opts opts = { .initcwnd = 64 };
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
		err = nlh_veth_create(VA, VB) ?:
		      nlh_bridge_create(BR) ?:
		      vdev_nl_link_enslave(VB, BR) ?:
		      vdev_nl_link_set_mtu(VA, 1400 + w->id) ?:
		      vdev_nl_link_set_mac(VA, mac) ?:
		      vdev_nl_link_set_up(VA, true) ?:
		      nlh_link_set_txqlen(VA, 500 + w->id) ?:
		      nlh_addr_add(VA, AF_INET, &a, 24) ?:
		      nlh_neigh_add(VA, AF_INET, &gw, mac) ?:
		      nlh_route_add(VA, AF_INET, &net, 24, &gw, &opts) ?:
		      vdev_nl_link_state(VA, &st) ?:
		      nlh_route_del(VA, AF_INET, &net, 24, &gw, NULL) ?:
		      nlh_neigh_del(VA, AF_INET, &gw) ?:
		      nlh_addr_del(VA, AF_INET, &a, 24) ?:
		      nlh_link_delete(VA) ?:
		      nlh_link_delete(BR);
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
