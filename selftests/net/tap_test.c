// SPDX-License-Identifier: GPL-2.0
/*
 * vdev_tap: open by name (new and existing TAPs, name templates), caller
 * fds, persistence, multiqueue, attaching and detaching queues, queue
 * mode mismatches, EBUSY, bad names, EPERM, offloads, vnet header size
 * and the netlink-backed link queries. Each test runs in its own network
 * namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/capability.h>
#include <linux/if_packet.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>

#include <vdev/netlink.h>
#include <vdev/tap.h>

#include "kselftest_harness.h"
#include "lib/nl_helpers.h"
#include "vdev_test.h"
#include "net_test.h"

#define TAP	"vtap0"

FIXTURE(tap) {
	struct vdev_tap *tap;
	int fds[4];
	unsigned int nr_fds;
};

FIXTURE_SETUP(tap)
{
	nt_fixture_netns(_metadata);
}

FIXTURE_TEARDOWN(tap)
{
	unsigned int i;

	vdev_tap_close(self->tap);
	for (i = 0; i < self->nr_fds; i++)
		close(self->fds[i]);
	/* The namespace, and every link in it, goes with this process. */
}

/* fd is O_NONBLOCK and FD_CLOEXEC and attached to @name with @flags. */
static void check_fd(struct __test_metadata *_metadata, int fd,
		     const char *name, unsigned int flags)
{
	char ifname[IFNAMSIZ];
	char buf[64];

	ASSERT_LE(0, fd);
	EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
	EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(flags, nt_tap_fd_flags(fd, ifname) &
		  (TUN_TYPE_MASK | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE));
	EXPECT_STREQ(name, ifname);
	/* Non-blocking: an empty TAP answers at once. */
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(tap, open_by_name_creates)
{
	struct vdev_tap_config cfg = { .name = TAP };
	unsigned int flags;
	int ifindex;

	ASSERT_EQ(-ENODEV, nlh_ifindex(TAP, &ifindex));
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(1, vdev_tap_nr_queues(self->tap));
	EXPECT_STREQ(TAP, vdev_tap_name(self->tap));
	check_fd(_metadata, vdev_tap_fd(self->tap, 0), TAP, NT_TAP_FLAGS);
	EXPECT_EQ(-EINVAL, vdev_tap_fd(self->tap, 1));

	ASSERT_EQ(0, nlh_ifindex(TAP, &ifindex));
	EXPECT_LT(0, ifindex);
	EXPECT_EQ(ifindex, vdev_tap_ifindex(self->tap));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS, flags);

	/* Not persistent: gone with its last fd. */
	vdev_tap_close(self->tap);
	self->tap = NULL;
	EXPECT_EQ(-ENODEV, nlh_ifindex(TAP, &ifindex));
}

TEST_F(tap, open_by_template)
{
	struct vdev_tap_config cfg = { .name = "vt%d" };

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_STREQ("vt0", vdev_tap_name(self->tap));
	EXPECT_LT(0, vdev_tap_ifindex(self->tap));
}

TEST_F(tap, open_existing)
{
	struct vdev_tap_config cfg = { .name = TAP };
	int ifindex, again;

	ASSERT_EQ(0, nt_tap_create(TAP, false));
	ASSERT_EQ(0, nlh_ifindex(TAP, &ifindex));
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(ifindex, vdev_tap_ifindex(self->tap));
	check_fd(_metadata, vdev_tap_fd(self->tap, 0), TAP, NT_TAP_FLAGS);
	vdev_tap_close(self->tap);
	self->tap = NULL;
	/* Persistent: still there, and reopens at once. */
	ASSERT_EQ(0, nlh_ifindex(TAP, &again));
	EXPECT_EQ(ifindex, again);
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
}

TEST_F(tap, caller_fds_survive)
{
	struct vdev_tap_config cfg = { .fds = self->fds, .nr_fds = 1 };
	int ifindex, fd;

	ASSERT_EQ(0, nt_tap_create(TAP, false));
	self->fds[0] = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, self->fds[0]);
	self->nr_fds = 1;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(1, vdev_tap_nr_queues(self->tap));
	EXPECT_STREQ(TAP, vdev_tap_name(self->tap));
	EXPECT_NE(self->fds[0], vdev_tap_fd(self->tap, 0));
	check_fd(_metadata, vdev_tap_fd(self->tap, 0), TAP, NT_TAP_FLAGS);

	vdev_tap_close(self->tap);
	self->tap = NULL;
	/* The caller's fd is still open and still holds the TAP. */
	EXPECT_LE(0, fcntl(self->fds[0], F_GETFD));
	EXPECT_EQ(NT_TAP_FLAGS, nt_tap_fd_flags(self->fds[0], NULL) &
		  (TUN_TYPE_MASK | IFF_NO_PI | IFF_VNET_HDR));
	EXPECT_EQ(0, nlh_ifindex(TAP, &ifindex));
	EXPECT_EQ(-EBUSY, nt_tap_attach(TAP, NT_TAP_FLAGS));
	/* ...and can be adopted again (a VM reboot). */
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	vdev_tap_close(self->tap);
	self->tap = NULL;

	/* Once the caller closes its own fd, nothing holds the TAP. */
	close(self->fds[0]);
	self->nr_fds = 0;
	fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
}

/*
 * vdev_tap_set_persist(): the TAP, with its settings and its bridge port,
 * outlives the handle; cleared, it goes with its last fd.
 */
TEST_F(tap, persist)
{
	struct vdev_tap_config cfg = { .name = TAP };
	struct vdev_nl_link_state st, br;
	unsigned int flags;
	int ifindex;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ifindex = vdev_tap_ifindex(self->tap);
	ASSERT_LT(0, ifindex);
	ASSERT_EQ(0, nlh_bridge_create("vbr0"));
	ASSERT_EQ(0, vdev_nl_link_state("vbr0", &br));
	ASSERT_EQ(0, vdev_nl_link_enslave(TAP, "vbr0"));
	ASSERT_EQ(0, vdev_nl_link_set_mtu(TAP, 1400));

	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, true));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS | IFF_PERSIST, flags);
	/* Again: no error, no change. */
	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, true));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS | IFF_PERSIST, flags);

	/* Closed: the same link, settings and bridge port stay. */
	vdev_tap_close(self->tap);
	self->tap = NULL;
	ASSERT_EQ(0, vdev_nl_link_state(TAP, &st));
	EXPECT_EQ(ifindex, st.ifindex);
	EXPECT_EQ(1400, st.mtu);
	EXPECT_EQ(br.ifindex, st.master);

	/* Reopened (a VM reboot): the same link; then not persistent. */
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(ifindex, vdev_tap_ifindex(self->tap));
	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, false));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS, flags);
	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, false));
	/* Not deleted while open... */
	ASSERT_EQ(0, vdev_nl_link_state(TAP, &st));
	EXPECT_EQ(ifindex, st.ifindex);
	/* ...but with its last fd. */
	vdev_tap_close(self->tap);
	self->tap = NULL;
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(TAP, &st));
}

/* The flag is the link's: set through a detached queue 0 as well. */
TEST_F(tap, persist_multiqueue_detached)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 2 };
	struct vdev_nl_link_state st;
	unsigned int flags;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 0, false));
	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, true));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS | IFF_MULTI_QUEUE | IFF_PERSIST, flags);
	vdev_tap_close(self->tap);
	self->tap = NULL;
	ASSERT_EQ(0, vdev_nl_link_state(TAP, &st));

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 0, false));
	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, false));
	vdev_tap_close(self->tap);
	self->tap = NULL;
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(TAP, &st));
}

/*
 * On caller fds: cleared, the TAP goes when the caller closes its own fd
 * too, not with the handle; on a deleted TAP, -EBADFD with a message.
 */
TEST_F(tap, persist_caller_fds_and_deleted)
{
	struct vdev_tap_config cfg = { .fds = self->fds, .nr_fds = 1 };
	struct vdev_tap_config by_name = { .name = TAP };
	struct vdev_nl_link_state st;
	unsigned int flags;

	ASSERT_EQ(0, nt_tap_create(TAP, false));
	self->fds[0] = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, self->fds[0]);
	self->nr_fds = 1;
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(0, vdev_tap_set_persist(self->tap, false));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS, flags);
	vdev_tap_close(self->tap);
	self->tap = NULL;
	ASSERT_EQ(0, vdev_nl_link_state(TAP, &st));
	close(self->fds[0]);
	self->nr_fds = 0;
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(TAP, &st));

	ASSERT_EQ(0, vdev_tap_open(&by_name, &self->tap));
	ASSERT_EQ(0, nlh_link_delete(TAP));
	nt_last_log[0] = '\0';
	EXPECT_EQ(-EBADFD, vdev_tap_set_persist(self->tap, true));
	EXPECT_TRUE(nt_log_has("TUNSETPERSIST(1)"));
	EXPECT_EQ(-ENODEV, vdev_nl_link_state(TAP, &st));
}

TEST_F(tap, caller_fds_multiqueue)
{
	struct vdev_tap_config cfg = { .fds = self->fds, .nr_fds = 4 };
	int fds_before;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		self->fds[i] = nt_tap_attach(TAP, NT_TAP_FLAGS |
					     IFF_MULTI_QUEUE);
		ASSERT_LE(0, self->fds[i]);
		self->nr_fds++;
	}
	fds_before = vdev_test_count_fds();
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(4, vdev_tap_nr_queues(self->tap));
	/* One per queue, and the link event socket. */
	EXPECT_EQ(fds_before + 4 + 1, vdev_test_count_fds());
	for (i = 0; i < 4; i++)
		check_fd(_metadata, vdev_tap_fd(self->tap, i), TAP,
			 NT_TAP_FLAGS | IFF_MULTI_QUEUE);
	vdev_tap_close(self->tap);
	self->tap = NULL;
	EXPECT_EQ(fds_before, vdev_test_count_fds());
	for (i = 0; i < 4; i++)
		EXPECT_LE(0, nt_tap_fd_flags(self->fds[i], NULL));
}

TEST_F(tap, caller_fd_refused)
{
	struct vdev_tap_config cfg = { .fds = self->fds, .nr_fds = 1 };
	int fds_before;

	/* Not a TAP at all. */
	ASSERT_EQ(0, pipe(self->fds));
	self->nr_fds = 2;
	fds_before = vdev_test_count_fds();
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("not a TAP fd"));
	EXPECT_EQ(fds_before, vdev_test_count_fds());
	EXPECT_LE(0, fcntl(self->fds[0], F_GETFD));
	close(self->fds[0]);
	close(self->fds[1]);
	self->nr_fds = 0;

	/* A TAP without IFF_VNET_HDR. */
	self->fds[0] = nt_tap_attach(TAP, IFF_TAP | IFF_NO_PI);
	ASSERT_LE(0, self->fds[0]);
	self->nr_fds = 1;
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("IFF_VNET_HDR"));

	/* Two pairs asked, one fd given; name and fds both given. */
	cfg.nr_queues = 2;
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	cfg.nr_queues = 1;
	cfg.name = TAP;
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(NULL, self->tap);
}

TEST_F(tap, multiqueue_4)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 4 };
	int fds_before = vdev_test_count_fds();
	unsigned int i, j, flags;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(4, vdev_tap_nr_queues(self->tap));
	/* One per queue, and the link event socket. */
	EXPECT_EQ(fds_before + 4 + 1, vdev_test_count_fds());
	for (i = 0; i < 4; i++) {
		check_fd(_metadata, vdev_tap_fd(self->tap, i), TAP,
			 NT_TAP_FLAGS | IFF_MULTI_QUEUE);
		for (j = 0; j < i; j++)
			EXPECT_NE(vdev_tap_fd(self->tap, j),
				  vdev_tap_fd(self->tap, i));
	}
	EXPECT_EQ(-EINVAL, vdev_tap_fd(self->tap, 4));
	ASSERT_EQ(0, vdev_nl_tun_flags(TAP, &flags));
	EXPECT_EQ(NT_TAP_FLAGS | IFF_MULTI_QUEUE, flags);
	vdev_tap_close(self->tap);
	self->tap = NULL;
	EXPECT_EQ(fds_before, vdev_test_count_fds());
}

TEST_F(tap, refuse_mq_on_sq)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 2 };
	int fds_before;

	ASSERT_EQ(0, nt_tap_create(TAP, false));
	fds_before = vdev_test_count_fds();
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("vtap0 is a single-queue TAP"));
	EXPECT_EQ(fds_before, vdev_test_count_fds());
	cfg.nr_queues = 1;
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
}

TEST_F(tap, refuse_sq_on_mq)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 1 };

	ASSERT_EQ(0, nt_tap_create(TAP, true));
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("vtap0 is a multiqueue TAP"));
	cfg.nr_queues = 2;
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
}

TEST_F(tap, refuse_non_tap)
{
	struct vdev_tap_config cfg = { .name = "vveth0" };

	ASSERT_EQ(0, nlh_veth_create("vveth0", "vveth1"));
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("not a TUN/TAP device"));

	self->fds[0] = nt_tap_attach("vtun0", IFF_TUN | IFF_NO_PI);
	ASSERT_LE(0, self->fds[0]);
	self->nr_fds = 1;
	cfg.name = "vtun0";
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("vtun0 is a TUN device"));
}

TEST_F(tap, ebusy_when_held)
{
	struct vdev_tap_config cfg = { .name = TAP };
	int fds_before;

	self->fds[0] = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, self->fds[0]);
	self->nr_fds = 1;
	fds_before = vdev_test_count_fds();

	EXPECT_EQ(-EBUSY, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(nt_log_has("vtap0 is busy"));
	EXPECT_TRUE(nt_log_has("another fd still holds"));
	EXPECT_EQ(fds_before, vdev_test_count_fds());

	/* Released: opens at once. */
	close(self->fds[0]);
	self->nr_fds = 0;
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
}

TEST_F(tap, bad_names)
{
	static const char *const bad[] = {
		"", "0123456789abcdef", "a/b", "a:b", "a b", "a\tb", ".", "..",
	};
	struct vdev_tap_config cfg = { 0 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		cfg.name = bad[i];
		nt_last_log[0] = '\0';
		EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap))
			TH_LOG("name \"%s\"", bad[i]);
		EXPECT_TRUE(nt_log_has("bad name"));
	}
	EXPECT_TRUE(nt_log_has("no '/'"));
	cfg.name = bad[1];
	vdev_tap_open(&cfg, &self->tap);
	EXPECT_TRUE(nt_log_has("1 to 15 characters"));
	/* Neither name nor fds. */
	cfg.name = NULL;
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	cfg.name = TAP;
	cfg.nr_queues = 100000;
	EXPECT_EQ(-EINVAL, vdev_tap_open(&cfg, &self->tap));
	EXPECT_EQ(NULL, self->tap);
}

TEST_F(tap, eperm_without_cap_net_admin)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct __user_cap_header_struct hdr = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct data[2];
		struct vdev_tap_config cfg = { .name = TAP };
		struct vdev_tap *tap = NULL;
		int err;

		/* Still root (so /dev/net/tun opens), minus CAP_NET_ADMIN. */
		if (syscall(SYS_capget, &hdr, data))
			_exit(2);
		data[0].effective &= ~(1u << CAP_NET_ADMIN);
		if (syscall(SYS_capset, &hdr, data))
			_exit(3);
		err = vdev_tap_open(&cfg, &tap);
		_exit(err == -EPERM && !tap &&
		      nt_log_has("not permitted to open vtap0") ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Legacy ethtool get (ETHTOOL_GTSO, ETHTOOL_GTXCSUM...) on @ifname. */
static int ethtool_get(const char *ifname, __u32 cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = { .ifr_data = (void *)&ev };
	int ret = nt_if_ioctl(ifname, SIOCETHTOOL, &ifr);

	return ret ? ret : (int)ev.data;
}

/* Source MAC of the test's frames, to tell them from the kernel's own. */
static const uint8_t q_src[6] = { 0x02, 0x76, 0x64, 0x65, 0x76, 0x00 };

/*
 * Send @n IPv4/UDP frames, each its own flow (source port), out of TAP
 * through a packet socket bound to it: the host side sending to the
 * guest, which tun spreads over its attached queues by flow hash.
 */
static int send_flows(int ps, unsigned int n)
{
	uint8_t f[60];
	unsigned int i;

	for (i = 0; i < n; i++) {
		memset(f, 0, sizeof(f));
		memset(f, 0xff, 6);
		memcpy(f + 6, q_src, 6);
		f[12] = 0x08;				/* IPv4 */
		f[14] = 0x45;
		f[17] = 46;				/* total length */
		f[22] = 64;				/* TTL */
		f[23] = 17;				/* UDP */
		f[26] = 192; f[28] = 2; f[29] = 1;	/* 192.0.2.1 */
		f[30] = 192; f[32] = 2; f[33] = 2;	/* 192.0.2.2 */
		f[34] = (1000 + i) >> 8;		/* source port */
		f[35] = (1000 + i) & 0xff;
		f[37] = 9;				/* discard */
		f[39] = 26;				/* UDP length */
		if (send(ps, f, sizeof(f), 0) != sizeof(f))
			return -errno;
	}
	return 0;
}

/* Read every frame queued on @fd; count the test's own. */
static int drain_flows(int fd)
{
	uint8_t buf[2048];
	const size_t hdr = sizeof(struct virtio_net_hdr);
	ssize_t len;
	int n = 0;

	while ((len = read(fd, buf, sizeof(buf))) > 0)
		if ((size_t)len >= hdr + 14 && !memcmp(buf + hdr + 6, q_src, 6))
			n++;
	return n;
}

/* Send @n flows, give tun time to queue them, count per queue. */
static void flows_per_queue(struct __test_metadata *_metadata,
			    struct vdev_tap *tap, int ps, unsigned int n,
			    int got[2])
{
	int i, total = 0;

	got[0] = 0;
	got[1] = 0;
	ASSERT_EQ(0, send_flows(ps, n));
	for (i = 0; i < 200 && total < (int)n; i++) {
		got[0] += drain_flows(vdev_tap_fd(tap, 0));
		got[1] += drain_flows(vdev_tap_fd(tap, 1));
		total = got[0] + got[1];
		if (total < (int)n)
			usleep(10000);
	}
}

TEST_F(tap, queue_detach_attach)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 2 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int hdr_len = sizeof(struct virtio_net_hdr);
	int ps, fd1, got[2], i;
	char buf[64];

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, true));
	for (i = 0; i < 200 && !vdev_tap_carrier_ok(self->tap); i++)
		usleep(10000);
	ASSERT_TRUE(vdev_tap_carrier_ok(self->tap));
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, ps);
	sll.sll_ifindex = vdev_tap_ifindex(self->tap);
	ASSERT_EQ(0, bind(ps, (struct sockaddr *)&sll, sizeof(sll)));
	fd1 = vdev_tap_fd(self->tap, 1);

	/* Both attached: 64 flows land on both queues. */
	flows_per_queue(_metadata, self->tap, ps, 64, got);
	EXPECT_EQ(64, got[0] + got[1]);
	EXPECT_LT(0, got[0]);
	EXPECT_LT(0, got[1]);

	/* Queue 1 detached: all go to queue 0, none to queue 1. */
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 1, false));
	EXPECT_TRUE(nt_tap_fd_flags(fd1, NULL) & IFF_DETACH_QUEUE);
	EXPECT_FALSE(nt_tap_fd_flags(vdev_tap_fd(self->tap, 0), NULL) &
		     IFF_DETACH_QUEUE);
	/* Again: not an error. */
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 1, false));
	flows_per_queue(_metadata, self->tap, ps, 64, got);
	EXPECT_EQ(64, got[0]);
	EXPECT_EQ(0, got[1]);
	EXPECT_EQ(-1, read(fd1, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);
	/* The detached fd still takes the TAP's other ioctls. */
	EXPECT_EQ(0, vdev_tap_set_vnet_hdr_size(self->tap, hdr_len));

	/* Re-attached: queue 1 gets its share again. */
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 1, true));
	EXPECT_FALSE(nt_tap_fd_flags(fd1, NULL) & IFF_DETACH_QUEUE);
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 1, true));
	flows_per_queue(_metadata, self->tap, ps, 64, got);
	EXPECT_EQ(64, got[0] + got[1]);
	EXPECT_LT(0, got[0]);
	EXPECT_LT(0, got[1]);

	/* Queue 0 detached instead: queue 1 gets everything. */
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 0, false));
	flows_per_queue(_metadata, self->tap, ps, 32, got);
	EXPECT_EQ(0, got[0]);
	EXPECT_EQ(32, got[1]);
	ASSERT_EQ(0, vdev_tap_set_queue_enabled(self->tap, 0, true));

	nt_last_log[0] = '\0';
	EXPECT_EQ(-EINVAL, vdev_tap_set_queue_enabled(self->tap, 2, false));
	EXPECT_TRUE(nt_log_has("cannot detach queue 2: it has 2 queues"));
	close(ps);

	/* Deleted under the handle: an error, not a crash. */
	ASSERT_EQ(0, nlh_link_delete(TAP));
	EXPECT_EQ(-EBADFD, vdev_tap_set_queue_enabled(self->tap, 1, false));
	EXPECT_TRUE(nt_log_has("TAP deleted?"));
}

TEST_F(tap, queue_enable_needs_multiqueue)
{
	struct vdev_tap_config cfg = { .name = TAP };

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	nt_last_log[0] = '\0';
	EXPECT_EQ(-EINVAL, vdev_tap_set_queue_enabled(self->tap, 0, false));
	EXPECT_TRUE(nt_log_has("vtap0: cannot detach queue 0: not a multiqueue TAP"));
	EXPECT_EQ(-EINVAL, vdev_tap_set_queue_enabled(self->tap, 0, true));
	EXPECT_FALSE(nt_tap_fd_flags(vdev_tap_fd(self->tap, 0), NULL) &
		     IFF_DETACH_QUEUE);
}

TEST_F(tap, offloads)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 2 };
	unsigned int tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(vdev_tap_offload_supported(self->tap, 0));
	EXPECT_TRUE(vdev_tap_offload_supported(self->tap, TUN_F_CSUM));
	EXPECT_TRUE(vdev_tap_offload_supported(self->tap, tso));
	EXPECT_TRUE(vdev_tap_offload_supported(self->tap,
					       tso | TUN_F_TSO_ECN));
	EXPECT_FALSE(vdev_tap_offload_supported(self->tap, 1u << 30));

	/* The probe left offloads off. */
	EXPECT_EQ(0, ethtool_get(TAP, ETHTOOL_GTSO));
	EXPECT_EQ(0, ethtool_get(TAP, ETHTOOL_GTXCSUM));

	ASSERT_EQ(0, vdev_tap_set_offload(self->tap, tso));
	EXPECT_EQ(1, ethtool_get(TAP, ETHTOOL_GTSO));
	EXPECT_EQ(1, ethtool_get(TAP, ETHTOOL_GTXCSUM));
	ASSERT_EQ(0, vdev_tap_set_offload(self->tap, TUN_F_CSUM));
	EXPECT_EQ(0, ethtool_get(TAP, ETHTOOL_GTSO));
	EXPECT_EQ(1, ethtool_get(TAP, ETHTOOL_GTXCSUM));
	ASSERT_EQ(0, vdev_tap_set_offload(self->tap, 0));
	EXPECT_EQ(0, ethtool_get(TAP, ETHTOOL_GTXCSUM));

	EXPECT_EQ(-EOPNOTSUPP, vdev_tap_set_offload(self->tap, 1u << 30));
	EXPECT_TRUE(nt_log_has("cannot offload"));
}

TEST_F(tap, vnet_hdr_size)
{
	struct vdev_tap_config cfg = { .name = TAP, .nr_queues = 2 };
	int mrg = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	unsigned int i;
	int sz;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(0, vdev_tap_set_vnet_hdr_size(self->tap, mrg));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, ioctl(vdev_tap_fd(self->tap, i), TUNGETVNETHDRSZ,
				   &sz));
		EXPECT_EQ(12, sz);
	}
	ASSERT_EQ(0, vdev_tap_set_vnet_hdr_size(self->tap,
			sizeof(struct virtio_net_hdr)));
	ASSERT_EQ(0, ioctl(vdev_tap_fd(self->tap, 1), TUNGETVNETHDRSZ, &sz));
	EXPECT_EQ(10, sz);
	/* Smaller than a virtio_net_hdr: the kernel refuses it. */
	EXPECT_EQ(-EINVAL, vdev_tap_set_vnet_hdr_size(self->tap, 4));
	EXPECT_TRUE(nt_log_has("TUNSETVNETHDRSZ(4)"));
}

TEST_F(tap, link_queries)
{
	static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct vdev_tap_config cfg = { .name = TAP };
	unsigned int mtu;
	uint8_t got[6];
	int i;

	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	ASSERT_EQ(0, vdev_tap_get_mtu(self->tap, &mtu));
	EXPECT_EQ(1500, mtu);
	ASSERT_EQ(0, vdev_nl_link_set_mtu(TAP, 9000));
	ASSERT_EQ(0, vdev_tap_get_mtu(self->tap, &mtu));
	EXPECT_EQ(9000, mtu);

	ASSERT_EQ(0, vdev_nl_link_set_mac(TAP, mac));
	ASSERT_EQ(0, vdev_tap_get_mac(self->tap, got));
	EXPECT_EQ(0, memcmp(mac, got, 6));

	EXPECT_FALSE(vdev_tap_carrier_ok(self->tap));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, true));
	/* operstate is updated by the kernel's linkwatch: allow 2 s */
	for (i = 0; i < 200 && !vdev_tap_carrier_ok(self->tap); i++)
		usleep(10000);
	EXPECT_TRUE(vdev_tap_carrier_ok(self->tap));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, false));
	EXPECT_FALSE(vdev_tap_carrier_ok(self->tap));

	/* Deleted under the handle: queries fail, nothing crashes. */
	ASSERT_EQ(0, nlh_link_delete(TAP));
	EXPECT_FALSE(vdev_tap_carrier_ok(self->tap));
	EXPECT_EQ(-ENODEV, vdev_tap_ifindex(self->tap));
	EXPECT_EQ(-ENODEV, vdev_tap_get_mtu(self->tap, &mtu));
	EXPECT_EQ(-1, write(vdev_tap_fd(self->tap, 0), got, sizeof(got)));
}

/* Wait up to 2 s for vdev_tap_link_update() to say @up after a poll. */
static bool link_becomes(struct vdev_tap *tap, bool up)
{
	struct pollfd pfd = { .fd = vdev_tap_link_fd(tap), .events = POLLIN };
	int i;

	for (i = 0; i < 200; i++) {
		if (vdev_tap_link_update(tap) == up)
			return true;
		poll(&pfd, 1, 10);
	}
	return false;
}

/*
 * Caller fds of a TAP in another network namespace than the thread that
 * opens them: the link is watched in the TAP's namespace, by ifindex,
 * also after a rename.
 */
TEST_F(tap, link_events_other_netns)
{
	struct vdev_tap_config cfg = { .fds = self->fds, .nr_fds = 1 };
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	struct ifreq ifr = { 0 };

	ASSERT_LE(0, home);
	self->fds[0] = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, self->fds[0]);
	self->nr_fds = 1;
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, true));
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, vdev_tap_open(&cfg, &self->tap));
	EXPECT_TRUE(link_becomes(self->tap, true));
	EXPECT_TRUE(vdev_tap_carrier_ok(self->tap));
	ASSERT_EQ(0, setns(home, CLONE_NEWNET));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, false));
	EXPECT_TRUE(link_becomes(self->tap, false));
	snprintf(ifr.ifr_newname, sizeof(ifr.ifr_newname), "vtapnew");
	ASSERT_EQ(0, nt_if_ioctl(TAP, SIOCSIFNAME, &ifr));
	ASSERT_EQ(0, vdev_nl_link_set_up("vtapnew", true));
	EXPECT_TRUE(link_becomes(self->tap, true));
	EXPECT_TRUE(vdev_tap_carrier_ok(self->tap));
	close(self->fds[0]);
	self->nr_fds = 0;
	vdev_tap_close(self->tap);
	self->tap = NULL;
	close(home);
}

TEST_HARNESS_MAIN
