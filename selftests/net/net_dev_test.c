// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net data path, control queue, multiqueue, reset under traffic
 * and TAP deletion. Each test runs in its own network namespace:
 * driver <-> vdev-net <-> TAP --br0-- vp0 <-> vp1 (AF_PACKET peer).
 *
 * Every test that moves data (the net, mq and rxwait fixtures) runs on
 * the split and on the packed ring: each fixture's variants include the
 * ring format. The netcfg fixture and the plain TESTs move no data
 * (activation errors, link state, names) and run on the split ring only.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

#include "lib/nl_helpers.h"
#include "net_dev.h"
#include "kselftest_harness.h"

#define TAP	"vt0"
#define BIGPAY	(65536 - 14 - 20 - 20)	/* TCP payload of a 64 KiB frame */

static uint8_t fbuf[128 * 1024];
static uint8_t rbuf[128 * 1024];

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	if (len & 1)
		sum += b[len - 1] << 8;
	return sum;
}

/*
 * Ethernet + IPv4 + TCP (or UDP) frame with @pay payload bytes. For TCP
 * the checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL).
 * Returns the frame length.
 */
static size_t ip_frame(uint8_t *f, const uint8_t src[6], int proto,
		       uint16_t sport, size_t pay)
{
	struct iphdr ipb, *ip = &ipb;
	size_t l4 = proto == IPPROTO_TCP ? 20 : 8, i;
	uint32_t ph;

	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 20);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = proto;
	ip->tot_len = htons(20 + l4 + pay);
	ip->saddr = htonl(0x0a000001);
	ip->daddr = htonl(0x0a000002);
	ip->check = htons(~csum_fold(csum_add(0, ip, 20)) & 0xffff);
	memcpy(f + 14, ip, 20);
	for (i = 0; i < pay; i++)
		f[14 + 20 + l4 + i] = (uint8_t)(i * 7);
	ph = csum_add(0, &ip->saddr, 8) + proto + l4 + pay;
	if (proto == IPPROTO_TCP) {
		struct tcphdr tb, *t = &tb;

		memset(t, 0, 20);
		t->source = htons(sport);
		t->dest = htons(80);
		t->seq = htonl(1);
		t->doff = 5;
		t->ack = 1;
		t->window = htons(65535);
		t->check = htons(csum_fold(ph));
		memcpy(f + 34, t, 20);
	} else {
		struct udphdr ub, *u = &ub;

		u->source = htons(sport);
		u->dest = htons(9);
		u->len = htons(8 + pay);
		u->check = 0;
		memcpy(f + 34, u, 8);
	}
	return 14 + 20 + l4 + pay;
}

FIXTURE(net)
{
	struct nd nd;
	int peer;
};

/* Device with @pairs queue pairs on TAP, peer socket; in a new netns. */
static int nd_setup_all(struct nd *nd, int *peer, unsigned int pairs)
{
	int ret;

	*peer = -1;
	nd_init(nd);
	ret = nd_netns();
	if (!ret)
		ret = nd_create(nd, TAP, pairs);
	if (!ret)
		ret = nd_guest(nd);
	if (!ret)
		ret = nd_plug_tap(TAP);
	if (!ret)
		ret = nd_wait_forwarding(TAP);
	if (!ret) {
		*peer = nd_peer_socket(false);
		if (*peer < 0)
			ret = *peer;
	}
	return ret;
}

static void nd_teardown_all(struct nd *nd, int peer)
{
	if (nd->dev)
		nd_destroy(nd);
	nd_guest_fini(nd);
	if (peer >= 0)
		close(peer);
}

/*
 * Every test that moves data runs on each ring format: the driver lays
 * its rings out in @format and acks VIRTIO_F_RING_PACKED for the packed
 * one (nd_activate()).
 */
FIXTURE_VARIANT(net)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(net, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(net, packed)
{
	.format = VQ_PACKED,
};

FIXTURE_SETUP(net)
{
	ASSERT_EQ(0, nd_setup_all(&self->nd, &self->peer, 1));
	self->nd.format = variant->format;
}

FIXTURE_TEARDOWN(net)
{
	nd_teardown_all(&self->nd, self->peer);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
}

/*
 * The same set-up for tests that move no data (activation errors, link
 * state): they do not depend on the ring format, so split only.
 */
FIXTURE(netcfg)
{
	struct nd nd;
	int peer;
};

FIXTURE_SETUP(netcfg)
{
	ASSERT_EQ(0, nd_setup_all(&self->nd, &self->peer, 1));
}

FIXTURE_TEARDOWN(netcfg)
{
	nd_teardown_all(&self->nd, self->peer);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
}

/* Two pairs (MQ offered), and four; each on both ring formats. */
FIXTURE(mq)
{
	struct nd nd;
	int peer;
};

FIXTURE_VARIANT(mq)
{
	unsigned int pairs;
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(mq, two_split)
{
	.pairs = 2, .format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(mq, two_packed)
{
	.pairs = 2, .format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(mq, four_split)
{
	.pairs = 4, .format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(mq, four_packed)
{
	.pairs = 4, .format = VQ_PACKED,
};

FIXTURE_SETUP(mq)
{
	ASSERT_EQ(0, nd_setup_all(&self->nd, &self->peer, variant->pairs));
	self->nd.format = variant->format;
}

FIXTURE_TEARDOWN(mq)
{
	nd_teardown_all(&self->nd, self->peer);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
}

/* Frames from the driver reach the peer, 60 bytes to MTU size. */
TEST_F(net, tx_to_peer)
{
	static const size_t sizes[] = { 60, 64, 128, 1000, 1514 };
	unsigned int i, n = 50, got = 0;
	ssize_t len;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE | ND_F_MRG));
	EXPECT_TRUE(vdev_net_link_up(self->nd.dev));
	for (i = 0; i < n; i++) {
		nd_frame(fbuf, sizes[i % 5], self->nd.mac, i);
		ASSERT_LE(0, nd_tx_add(&self->nd, 1, NULL, fbuf,
				       sizes[i % 5]));
	}
	nd_kick(&self->nd, 1);
	while (got < n && (len = nd_peer_recv(self->peer, rbuf, sizeof(rbuf),
					       2000)) > 0) {
		EXPECT_EQ(sizes[got % 5], (size_t)len);
		EXPECT_EQ(got, nd_frame_check(rbuf, len));
		got++;
	}
	EXPECT_EQ(n, got);
	EXPECT_TRUE(nd_tx_drain(&self->nd, 1, 1000));
	EXPECT_EQ(n, nd_counter(&self->nd, "tx_frames"));
	EXPECT_EQ(0, nd_counter(&self->nd, "tx_drops"));
}

/* Frames from the peer reach the driver, with and without MRG_RXBUF. */
TEST_F(net, rx_from_peer)
{
	static const size_t sizes[] = { 60, 64, 128, 1000, 1514 };
	struct virtio_net_hdr_v1 hdr;
	unsigned int i, pass, nb, n = 40;
	ssize_t len;

	for (pass = 0; pass < 2; pass++) {
		uint64_t f = ND_F_BASE | (pass ? 0 : ND_F_MRG);

		ASSERT_EQ(0, nd_activate(&self->nd, 1, f));
		ASSERT_EQ(128, nd_rx_fill(&self->nd, 0, 128, ND_RXBUF));
		for (i = 0; i < n; i++) {
			nd_frame(fbuf, sizes[i % 5], self->nd.mac, i);
			fbuf[6] = 0x02;	/* not the device's own MAC */
			ASSERT_EQ((ssize_t)sizes[i % 5],
				  send(self->peer, fbuf, sizes[i % 5], 0));
		}
		for (i = 0; i < n; i++) {
			len = nd_rx_wait(&self->nd, 0, rbuf, sizeof(rbuf),
					 &hdr, &nb, 2000);
			/* Skip stray non-test frames. */
			if (len > 0 && nd_frame_check(rbuf, len) == -1) {
				i--;
				continue;
			}
			ASSERT_EQ((ssize_t)sizes[i % 5], len);
			EXPECT_EQ(i, nd_frame_check(rbuf, len));
			EXPECT_EQ(1, nb);
		}
		nd_reset(&self->nd);
	}
	EXPECT_LE(2 * n, nd_counter(&self->nd, "rx_frames"));
}

/*
 * A burst the TAP already holds is one long batch for the RX worker: the
 * driver must be signalled as frames are published, at least every
 * NET_RX_SIGNAL_EVERY (32) of them, not once when the TAP runs dry; a
 * driver asleep until then sees the first frames late. No EVENT_IDX, so
 * that every signal the device sends reaches the eventfd.
 */
TEST_F(net, rx_burst_signalled_as_published)
{
	const unsigned int n = 192;
	uint64_t f = ND_F_BASE & ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	uint64_t signals = 0;
	unsigned int i, got = 0;
	ssize_t len;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, f));
	for (i = 0; i < n; i++) {
		nd_frame(fbuf, 64, self->nd.mac, i);
		fbuf[6] = 0x02;
		ASSERT_EQ(64, send(self->peer, fbuf, 64, 0));
	}
	/*
	 * No buffers yet: the TAP holds the burst until they come. The
	 * bridge forwards in the sender's softirq, as send() returns; the
	 * sleep is slack. Frames still on their way would only end the
	 * batch early, which means more interrupts, never fewer.
	 */
	usleep(100000);
	if (read(self->nd.irqfd, &signals, sizeof(signals)) < 0)
		signals = 0;
	signals = 0;
	ASSERT_EQ(ND_QSZ, nd_rx_fill(&self->nd, 0, ND_QSZ, ND_RXBUF));
	while (got < n) {
		len = nd_rx_wait(&self->nd, 0, rbuf, sizeof(rbuf), NULL, NULL,
				 2000);
		ASSERT_LT(0, len);
		if (nd_frame_check(rbuf, len) == -1)
			continue;
		EXPECT_EQ(got, nd_frame_check(rbuf, len));
		got++;
	}
	ASSERT_EQ(sizeof(signals),
		  read(self->nd.irqfd, &signals, sizeof(signals)));
	TH_LOG("%u frames in one batch, %lu interrupts", n,
	       (unsigned long)signals);
	EXPECT_LE(n / 32, signals);
}

/*
 * The same on TX: a full ring is one batch for the TX worker, and the
 * driver must hear of the chains as they are published, not only when
 * the batch ends. A driver waiting for half of what is out (EVENT_IDX,
 * virtqueue_enable_cb_delayed()) slept until the ring was empty, and
 * the worker then waited for its refill. The syscall path publishes
 * every NET_FLUSH_EVERY (32) chains, io_uring submits at most
 * NET_UR_TX_SLOTS (64) at once: at least one signal per 64 chains on
 * either. No EVENT_IDX, so that every signal reaches the eventfd.
 */
TEST_F(net, tx_batch_signalled_as_published)
{
	uint64_t f = ND_F_BASE & ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	uint64_t signals = 0;
	unsigned int n = 0;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, f));
	if (read(self->nd.irqfd, &signals, sizeof(signals)) < 0)
		signals = 0;
	nd_frame(fbuf, 64, self->nd.mac, 0);
	while (nd_tx_add(&self->nd, 1, NULL, fbuf, 64) >= 0)
		n++;
	ASSERT_EQ(ND_QSZ / 2, n);
	nd_kick(&self->nd, 1);
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, 2000));
	ASSERT_EQ(sizeof(signals),
		  read(self->nd.irqfd, &signals, sizeof(signals)));
	TH_LOG("%u chains in one batch, %lu interrupts", n,
	       (unsigned long)signals);
	EXPECT_LE(n / 64, signals);
	EXPECT_EQ(n, nd_counter(&self->nd, "tx_frames"));
}

/* MRG_RXBUF: an MTU-size frame spans several small buffers. */
TEST_F(net, mrg_rx_spans_buffers)
{
	struct virtio_net_hdr_v1 hdr;
	unsigned int nb = 0, i;
	ssize_t len;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE | ND_F_MRG));
	ASSERT_EQ(200, nd_rx_fill(&self->nd, 0, 200, 256));
	for (i = 0; i < 10; i++) {
		nd_frame(fbuf, 1514, self->nd.mac, i);
		fbuf[6] = 0x02;
		ASSERT_EQ(1514, send(self->peer, fbuf, 1514, 0));
	}
	for (i = 0; i < 10; i++) {
		len = nd_rx_wait(&self->nd, 0, rbuf, sizeof(rbuf), &hdr, &nb,
				 2000);
		if (len > 0 && nd_frame_check(rbuf, len) == -1) {
			i--;
			continue;
		}
		ASSERT_EQ(1514, len);
		EXPECT_EQ(i, nd_frame_check(rbuf, len));
		/* 12 + 1514 bytes in 256-byte buffers */
		EXPECT_EQ((ND_HDR + 1514 + 255) / 256, nb);
	}
}

/*
 * The guest runs out of buffers mid-frame and has none for a while: the
 * device must neither spin nor drop what the TAP holds.
 */
TEST_F(net, rx_no_buffers_waits)
{
	struct virtio_net_hdr_v1 hdr;
	unsigned int i, nb, got = 0;
	uint64_t cpu0, cpu1;
	ssize_t len;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE | ND_F_MRG));
	/* Room for half a frame only. */
	ASSERT_EQ(3, nd_rx_fill(&self->nd, 0, 3, 256));
	for (i = 0; i < 20; i++) {
		nd_frame(fbuf, 1514, self->nd.mac, i);
		fbuf[6] = 0x02;
		ASSERT_EQ(1514, send(self->peer, fbuf, 1514, 0));
	}
	usleep(50000);
	cpu0 = nd_threads_cpu_ns("vdev-net");
	usleep(300000);
	cpu1 = nd_threads_cpu_ns("vdev-net");
	EXPECT_GT(30000000ULL, cpu1 - cpu0);	/* < 10% of 300 ms */

	/* Buffers arrive: every frame is delivered, in order. */
	ASSERT_LT(0, nd_rx_fill(&self->nd, 0, ND_QSZ, 256));
	while (got < 20) {
		len = nd_rx_wait(&self->nd, 0, rbuf, sizeof(rbuf), &hdr, &nb,
				 2000);
		ASSERT_LT(0, len);
		nd_rx_fill(&self->nd, 0, ND_QSZ, 256);
		if (nd_frame_check(rbuf, len) == -1)
			continue;
		EXPECT_EQ(1514, len);
		EXPECT_EQ(got, nd_frame_check(rbuf, len));
		got++;
	}
	EXPECT_EQ(0, nd_counter(&self->nd, "rx_drops"));
}

/* A 64 KiB TSO frame with its GSO header goes out as one send. */
TEST_F(net, tso_tx_64k)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	size_t flen, total = 0;
	ssize_t len;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE | ND_F_MRG |
				 ND_F_HOST_TSO));
	flen = ip_frame(fbuf, self->nd.mac, IPPROTO_TCP, 1234, BIGPAY);
	ASSERT_EQ(65536, flen);
	hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	hdr.hdr_len = htole16(54);
	hdr.gso_size = htole16(1448);
	hdr.csum_start = htole16(34);
	hdr.csum_offset = htole16(16);
	ASSERT_LE(0, nd_tx_add(&self->nd, 1, &hdr, fbuf, flen));
	nd_kick(&self->nd, 1);
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, 2000));
	EXPECT_EQ(1, nd_counter(&self->nd, "tx_frames"));
	EXPECT_EQ(0, nd_counter(&self->nd, "tx_errors"));
	/* The peer sees it whole or segmented: count TCP payload. */
	while (total < BIGPAY) {
		uint64_t end = nd_now_ns() + 2000000000ULL;

		len = -1;
		while (nd_now_ns() < end) {
			len = recv(self->peer, rbuf, sizeof(rbuf), 0);
			if (len >= 54 && rbuf[12] == 0x08 && rbuf[23] == 6)
				break;
			if (len < 0)
				usleep(100);
		}
		ASSERT_LE(54, len);
		total += len - 54;
	}
	EXPECT_EQ(BIGPAY, total);
}

/* Oversize TX frames are dropped and counted; the device goes on. */
TEST_F(net, tx_oversize_dropped)
{
	size_t big = 65536 + 100;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE));
	memset(fbuf, 0x11, big);
	ASSERT_LE(0, nd_tx_add(&self->nd, 1, NULL, fbuf, big));
	nd_frame(fbuf, 100, self->nd.mac, 7);
	ASSERT_LE(0, nd_tx_add(&self->nd, 1, NULL, fbuf, 100));
	nd_kick(&self->nd, 1);
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, 2000));
	EXPECT_EQ(1, nd_counter(&self->nd, "tx_drops"));
	EXPECT_EQ(1, nd_counter(&self->nd, "tx_frames"));
	EXPECT_EQ(100, nd_peer_recv(self->peer, rbuf, sizeof(rbuf), 2000));
	EXPECT_FALSE(vdev_device_needs_reset(self->nd.dev));
}

/* A write-only descriptor in a TX chain is a driver error. */
TEST_F(net, tx_write_only_needs_reset)
{
	struct vq_driver *d = &self->nd.drv[1];
	struct vq_buf out = { self->nd.buf[1], 100 };
	struct vq_buf in = { self->nd.buf[1] + 4096, 100 };
	uint64_t end;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE));
	ASSERT_LE(0, vq_driver_add(d, &out, 1, &in, 1, false));
	nd_kick(&self->nd, 1);
	end = nd_now_ns() + 2000000000ULL;
	while (!vdev_device_needs_reset(self->nd.dev) && nd_now_ns() < end)
		usleep(100);
	EXPECT_TRUE(vdev_device_needs_reset(self->nd.dev));
	nd_reset(&self->nd);
	EXPECT_FALSE(vdev_device_needs_reset(self->nd.dev));
	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE));
}

/* ---- host -> driver GSO ---- */

/*
 * A GSO frame the TAP hands over whole must come from a trusted sender:
 * packet sockets and TAPs mark theirs SKB_GSO_DODGY, which tun cannot
 * take (no NETIF_F_GSO_ROBUST), so those are segmented first. The host's
 * own TCP is trusted: a socket put into ESTABLISHED state with
 * TCP_REPAIR (no handshake needed from the driver) sends through br0 to
 * the device's MAC. With a large initial window (route initcwnd, window
 * scaling, MSS 1460) its first GSO frame is the largest tun passes:
 * 44 segments, 64,294 bytes.
 */
TEST_F(net, gso_rx_64k_mergeable)
{
	struct tcp_repair_opt mss = { TCPOPT_MAXSEG, 1460 };
	struct tcp_repair_opt wscale = { TCPOPT_WINDOW, 7 | (7 << 16) };
	struct sockaddr_in me = { .sin_family = AF_INET,
				  .sin_port = htons(4000) };
	struct sockaddr_in guest = { .sin_family = AF_INET,
				     .sin_port = htons(80) };
	struct nlh_route_opts cwnd = { .initcwnd = 128 };
	struct tcp_repair_window win;
	struct virtio_net_hdr_v1 hdr;
	struct in_addr a;
	unsigned int nb = 0, off, seq = 1000, rseq = 5000, one = 1, q;
	size_t i;
	ssize_t len;
	int s;

	ASSERT_EQ(0, nd_activate(&self->nd, 1, ND_F_BASE | ND_F_MRG |
				 ND_F_GUEST_TSO));
	ASSERT_EQ(ND_QSZ, nd_rx_fill(&self->nd, 0, ND_QSZ, ND_RXBUF));
	a.s_addr = htonl(0x0a090001);
	ASSERT_EQ(0, nlh_addr_add("br0", AF_INET, &a, 24));
	me.sin_addr = a;
	guest.sin_addr.s_addr = htonl(0x0a090002);
	ASSERT_EQ(0, nlh_neigh_add("br0", AF_INET, &guest.sin_addr,
				   self->nd.mac));
	/* A large first window, so the first GSO frame is large too. */
	ASSERT_EQ(0, nlh_route_add("br0", AF_INET, &guest.sin_addr, 32,
				   NULL, &cwnd));

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &one, 4));
	q = TCP_SEND_QUEUE;
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, 4));
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, 4));
	q = TCP_RECV_QUEUE;
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, 4));
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, &rseq, 4));
	q = 1460;
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &q, 4));
	ASSERT_EQ(0, bind(s, (struct sockaddr *)&me, sizeof(me)));
	ASSERT_EQ(0, connect(s, (struct sockaddr *)&guest, sizeof(guest)));
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR_OPTIONS, &mss,
				sizeof(mss)));
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR_OPTIONS, &wscale,
				sizeof(wscale)));
	win.snd_wl1 = rseq;
	win.snd_wnd = 1 << 20;
	win.max_window = 1 << 20;
	win.rcv_wnd = 65535;
	win.rcv_wup = rseq;
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &win,
				sizeof(win)));
	one = 0;
	ASSERT_EQ(0, setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &one, 4));
	for (i = 0; i < BIGPAY; i++)
		fbuf[i] = (uint8_t)(i * 13 + 1);
	ASSERT_LT(0, send(s, fbuf, BIGPAY, MSG_DONTWAIT));

	do {
		len = nd_rx_wait(&self->nd, 0, rbuf, sizeof(rbuf), &hdr, &nb,
				 2000);
		ASSERT_LT(0, len);
		/* Skip the window probe sent when repair mode ends. */
	} while (rbuf[12] != 0x08 || rbuf[23] != IPPROTO_TCP || len <= 66);
	close(s);
	off = 34 + (rbuf[46] >> 4) * 4;
	TH_LOG("first TCP frame: %zd bytes in %u buffers, gso_type %u gso_size %u",
	       len, nb, hdr.gso_type, le16toh(hdr.gso_size));
	EXPECT_EQ(VIRTIO_NET_HDR_GSO_TCPV4, hdr.gso_type);
	EXPECT_LT(60000, len);	/* ~64 KiB: one GSO frame, not segments */
	EXPECT_EQ((ND_HDR + len + ND_RXBUF - 1) / ND_RXBUF, nb);
	EXPECT_EQ(0, memcmp(rbuf + off, fbuf, len - off));
}

/* ---- control queue (MQ offered) ---- */

TEST_F(mq, ctrl_commands)
{
	struct nd *nd = &self->nd;
	uint8_t mac_tables[4 + 4 + 6] = { 0, 0, 0, 0, 1, 0, 0, 0,
					  0x01, 0, 0x5e, 0, 0, 1 };
	uint64_t off = htole64((1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			       (1ULL << VIRTIO_NET_F_GUEST_TSO4));
	uint64_t bad_off = htole64(1ULL << VIRTIO_NET_F_GUEST_UFO);
	unsigned int max = variant->pairs;
	uint16_t pairs;
	uint8_t on = 1;

	ASSERT_EQ(0, nd_activate(nd, max, ND_F_BASE | ND_F_MRG | ND_F_CTRL |
				 ND_F_MQ | ND_F_GUEST_TSO));
	EXPECT_EQ(1, vdev_net_active_pairs(nd->dev));
	pairs = htole16(max);
	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					 VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					 &pairs, 2));
	EXPECT_EQ(max, vdev_net_active_pairs(nd->dev));
	pairs = htole16(max + 1);	/* above max_virtqueue_pairs */
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  &pairs, 2));
	pairs = htole16(0x8000);
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  &pairs, 2));
	pairs = 0;
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  &pairs, 2));
	EXPECT_EQ(max, vdev_net_active_pairs(nd->dev));
	pairs = htole16(1);
	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					 VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					 &pairs, 2));
	EXPECT_EQ(1, vdev_net_active_pairs(nd->dev));
	/* Truncated payload. */
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  &pairs, 1));

	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
					 VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
					 &off, 8));
	off = 0;
	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
					 VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
					 &off, 8));
	/* Not acked: refused. */
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
					  VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET,
					  &bad_off, 8));

	/* RX mode and MAC table: documented no-ops, answered OK. */
	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_RX,
					 VIRTIO_NET_CTRL_RX_PROMISC, &on, 1));
	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_MAC,
					 VIRTIO_NET_CTRL_MAC_TABLE_SET,
					 mac_tables, sizeof(mac_tables)));
	/* A table claiming more entries than sent. */
	mac_tables[4] = 200;
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MAC,
					  VIRTIO_NET_CTRL_MAC_TABLE_SET,
					  mac_tables, sizeof(mac_tables)));

	/* Unknown class and command. */
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, 0x7f, 0, NULL, 0));
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ, 0x55,
					  &pairs, 2));
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_VLAN,
					  VIRTIO_NET_CTRL_VLAN_ADD, &pairs, 2));
	EXPECT_FALSE(vdev_device_needs_reset(nd->dev));
}

/* ---- multiqueue: every pair, traffic on every pair ---- */

TEST_F(mq, multiqueue_traffic)
{
	struct nd *nd = &self->nd;
	struct virtio_net_hdr_v1 hdr;
	unsigned int q, i, nb, got[ND_MAXP] = { 0 }, seen = 0;
	unsigned int np = variant->pairs;
	uint16_t pairs = htole16(np);
	ssize_t len;
	uint64_t end;

	ASSERT_EQ(0, nd_activate(nd, np, ND_F_BASE | ND_F_MRG | ND_F_CTRL |
				 ND_F_MQ));
	ASSERT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					 VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					 &pairs, 2));
	ASSERT_EQ(np, vdev_net_active_pairs(nd->dev));

	/* TX on every pair: seq = pair. */
	for (q = 0; q < np; q++) {
		nd_frame(fbuf, 100, nd->mac, q);
		ASSERT_LE(0, nd_tx_add(nd, 2 * q + 1, NULL, fbuf, 100));
		nd_kick(nd, 2 * q + 1);
	}
	for (i = 0; i < np; i++) {
		len = nd_peer_recv(self->peer, rbuf, sizeof(rbuf), 2000);
		ASSERT_EQ(100, len);
		q = nd_frame_check(rbuf, len);
		ASSERT_GT(np, q);
		seen |= 1u << q;
	}
	EXPECT_EQ((1u << np) - 1, seen);

	/* RX: many UDP flows, spread by the TAP over its queues. */
	for (q = 0; q < np; q++)
		ASSERT_EQ(ND_QSZ, nd_rx_fill(nd, 2 * q, ND_QSZ, ND_RXBUF));
	for (i = 0; i < 400; i++) {
		size_t fl = ip_frame(fbuf, (const uint8_t *)"\x02\0\0\0\0\x07",
				     IPPROTO_UDP, 1000 + i, 64);

		ASSERT_EQ((ssize_t)fl, send(self->peer, fbuf, fl, 0));
	}
	end = nd_now_ns() + 3000000000ULL;
	for (i = 0; i < 400 && nd_now_ns() < end;) {
		bool any = false;

		for (q = 0; q < np; q++) {
			len = nd_rx_get(nd, 2 * q, rbuf, sizeof(rbuf), &hdr,
					&nb);
			ASSERT_LE(0, len);
			if (!len)
				continue;
			any = true;
			if (rbuf[12] == 0x08 && rbuf[23] == IPPROTO_UDP) {
				got[q]++;
				i++;
			}
			nd_rx_fill(nd, 2 * q, 1, ND_RXBUF);
		}
		if (!any)
			usleep(100);
	}
	EXPECT_EQ(400, i);
	for (q = 0; q < np; q++) {
		TH_LOG("rx queue pair %u: %u frames", q, got[q]);
		EXPECT_LT(0, got[q]);
	}
}

/* ---- reset while frames flow both ways ---- */

struct blaster {
	int fd;
	atomic_bool stop;
	atomic_ulong sent;
};

static void *blast(void *arg)
{
	struct blaster *b = arg;
	uint8_t f[1514];
	uint32_t seq = 0;

	nd_frame(f, sizeof(f), (const uint8_t *)"\x02\0\0\0\0\x05", 0);
	while (!atomic_load(&b->stop)) {
		size_t len = 60 + (seq++ % 1400);

		if (send(b->fd, f, len, MSG_DONTWAIT) > 0)
			atomic_fetch_add(&b->sent, 1);
		else
			usleep(50);
	}
	return NULL;
}

/*
 * 1,000 resets under a peer that never stops sending. The timeout guards
 * against a hang only: under TSan on a loaded 2-CPU machine the cycles
 * took longer than the harness's default 30 s (make check, CI machine).
 */
TEST_F_TIMEOUT(net, reset_under_traffic, 180)
{
	struct nd *nd = &self->nd;
	struct blaster b = { .fd = self->peer };
	unsigned int cycles = 1000, i, k;
	int fds0, tasks0;
	pthread_t t;
	uint64_t end;

	if (getenv("VDEV_NET_RESET_CYCLES"))
		cycles = atoi(getenv("VDEV_NET_RESET_CYCLES"));
	vdev_test_warm_up();
	ASSERT_EQ(0, pthread_create(&t, NULL, blast, &b));
	/* One activation first, so lazily made resources count. */
	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG));
	nd_reset(nd);
	vdev_test_baseline(&fds0, &tasks0);

	for (i = 0; i < cycles; i++) {
		ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG));
		nd_rx_fill(nd, 0, ND_QSZ, ND_RXBUF);
		for (k = 0; k < 64; k++) {
			nd_frame(fbuf, 60 + k * 20, nd->mac, k);
			if (nd_tx_add(nd, 1, NULL, fbuf, 60 + k * 20) < 0)
				break;
		}
		nd_kick(nd, 1);
		/* Let both directions run, then pull the rug. */
		end = nd_now_ns() + 2000000ULL;
		while (vq_driver_used_pending(&nd->drv[1]) < 8 &&
		       nd_now_ns() < end)
			sched_yield();
		nd_reset(nd);
		ASSERT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
	}
	atomic_store(&b.stop, true);
	pthread_join(t, NULL);
	TH_LOG("%u resets, %lu frames sent by the peer, %llu received, %llu sent by the driver",
	       cycles, atomic_load(&b.sent),
	       (unsigned long long)nd_counter(nd, "rx_frames"),
	       (unsigned long long)nd_counter(nd, "tx_frames"));
	EXPECT_LT(0, nd_counter(nd, "rx_frames"));
	EXPECT_LT(0, nd_counter(nd, "tx_frames"));
	EXPECT_EQ(fds0, vdev_test_count_fds());
	EXPECT_EQ(tasks0 - 1, vdev_test_settle_tasks(tasks0 - 1));
}

/* ---- one queue reset while the device runs (VIRTIO_F_RING_RESET) ---- */

/*
 * After vdev_device_queue_reset() of queue @i: fresh rings at the same
 * place, programmed as a transport would store the driver's writes.
 */
static int nd_reprogram(struct nd *nd, unsigned int i)
{
	bool ev = nd->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	uint64_t save = nd->g.r[0].next;
	int ret;

	nd->g.r[0].next = nd->ring[i] - nd->g.r[0].gpa;
	vq_driver_destroy(&nd->drv[i]);
	ret = vq_driver_init_format(&nd->drv[i], &nd->g, nd->format, 0,
				    ND_QSZ, ev, 0);
	nd->g.r[0].next = save;
	nd->q[i].size = nd->drv[i].size;
	nd->q[i].desc_addr = nd->drv[i].desc_gpa;
	nd->q[i].driver_addr = nd->drv[i].avail_gpa;
	nd->q[i].device_addr = nd->drv[i].used_gpa;
	nd->q[i].ready = true;
	return ret;
}

/* The peer sends test frame @seq (@len bytes) towards the device. */
static void peer_send(struct __test_metadata *_metadata, int peer,
		      const uint8_t *mac, uint32_t seq, size_t len)
{
	nd_frame(fbuf, len, mac, seq);
	fbuf[6] = 0x02;	/* not the device's own MAC */
	ASSERT_EQ((ssize_t)len, send(peer, fbuf, len, 0));
}

/* The next test frame on RX queue @qi: its seq, or -1 for none in 2 s. */
static long rx_next(struct nd *nd, unsigned int qi, size_t *len)
{
	ssize_t n;
	long seq;

	do {
		n = nd_rx_wait(nd, qi, rbuf, sizeof(rbuf), NULL, NULL, 2000);
		if (n <= 0)
			return -1;
		seq = nd_frame_check(rbuf, n);
	} while (seq == -1);
	if (len)
		*len = n;
	return seq;
}

/* The driver sends test frame @seq on TX queue @qi; its seq at the peer. */
static long tx_one(struct nd *nd, unsigned int qi, int peer, uint32_t seq)
{
	ssize_t n;

	nd_frame(fbuf, 100, nd->mac, seq);
	if (nd_tx_add(nd, qi, NULL, fbuf, 100) < 0)
		return -2;
	nd_kick(nd, qi);
	n = nd_peer_recv(peer, rbuf, sizeof(rbuf), 2000);
	return n == 100 ? nd_frame_check(rbuf, n) : -1;
}

/*
 * The RX queue, then the TX queue, of a running device is reset and
 * enabled again, 100 times: while one is reset the other carries frames,
 * frames the peer sends while RX is reset wait in the TAP and arrive
 * after the re-enable, in order, none lost; the workers are never
 * restarted and no fd is left behind.
 */
TEST_F_TIMEOUT(net, queue_reset_rx_tx, 300)
{
	struct nd *nd = &self->nd;
	unsigned int round, rx_seq = 0, tx_seq = 0, k;
	uint64_t one = 1;
	int fds, tasks;

	EXPECT_TRUE(vdev_device_features(nd->dev) &
		    (1ULL << VIRTIO_F_RING_RESET));
	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG |
				 (1ULL << VIRTIO_F_RING_RESET)));
	ASSERT_EQ(128, nd_rx_fill(nd, 0, 128, ND_RXBUF));
	vdev_test_baseline(&fds, &tasks);

	for (round = 0; round < 100; round++) {
		/* RX: traffic, reset, frames meanwhile, re-enable. */
		peer_send(_metadata, self->peer, nd->mac, rx_seq, 200);
		ASSERT_EQ(rx_seq, rx_next(nd, 0, NULL));
		rx_seq++;
		ASSERT_EQ(0, vdev_device_queue_reset(nd->dev, &nd->q[0]));
		/* A kick that raced the reset: ignored, not fatal. */
		ASSERT_EQ(sizeof(one), write(nd->kick[0], &one, sizeof(one)));
		for (k = 0; k < 3; k++)
			peer_send(_metadata, self->peer, nd->mac, rx_seq + k,
				  300);
		/* TX goes on while RX is reset. */
		ASSERT_EQ(tx_seq, tx_one(nd, 1, self->peer, tx_seq));
		tx_seq++;
		ASSERT_EQ(0, nd_reprogram(nd, 0));
		ASSERT_EQ(0, vdev_device_queue_enable(nd->dev, &nd->q[0]));
		ASSERT_EQ(128, nd_rx_fill(nd, 0, 128, ND_RXBUF));
		for (k = 0; k < 3; k++, rx_seq++)
			ASSERT_EQ(rx_seq, rx_next(nd, 0, NULL));

		/* TX: reset; RX goes on meanwhile; re-enable, traffic. */
		ASSERT_EQ(0, vdev_device_queue_reset(nd->dev, &nd->q[1]));
		ASSERT_EQ(sizeof(one), write(nd->kick[1], &one, sizeof(one)));
		peer_send(_metadata, self->peer, nd->mac, rx_seq, 400);
		ASSERT_EQ(rx_seq, rx_next(nd, 0, NULL));
		rx_seq++;
		ASSERT_EQ(0, nd_reprogram(nd, 1));
		ASSERT_EQ(0, vdev_device_queue_enable(nd->dev, &nd->q[1]));
		ASSERT_EQ(tx_seq, tx_one(nd, 1, self->peer, tx_seq));
		tx_seq++;
		ASSERT_FALSE(vdev_device_needs_reset(nd->dev));
	}
	TH_LOG("%u rounds: %u frames received, %u sent", round, rx_seq,
	       tx_seq);
	EXPECT_EQ(0, nd_counter(nd, "rx_drops"));
	/* Stray frames from the bridge count too. */
	EXPECT_LE(rx_seq, nd_counter(nd, "rx_frames"));
	/* Counted before the chain is used. */
	EXPECT_TRUE(nd_tx_drain(nd, 1, 1000));
	EXPECT_EQ(tx_seq, nd_counter(nd, "tx_frames"));
	EXPECT_EQ(fds, vdev_test_count_fds());
	EXPECT_EQ(tasks, vdev_test_settle_tasks(tasks));
	EXPECT_EQ(2, vdev_test_count_threads_named("vdev-net"));
	nd_reset(nd);
}

/*
 * Frames the device has read from TAP @ifname: the kernel counts a frame
 * it hands to the TAP's reader as the TAP's transmitted packets. Read
 * from /proc/net/dev, which shows the caller's network namespace (sysfs
 * would show the one it was mounted in). -1 on error.
 */
static long tap_frames_read(const char *ifname)
{
	char line[512], name[IFNAMSIZ + 2];
	unsigned long long v[10];
	long n = -1;
	FILE *f;

	f = fopen("/proc/net/dev", "re");
	if (!f)
		return -1;
	snprintf(name, sizeof(name), "%s:", ifname);
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");

		if (strncmp(p, name, strlen(name)))
			continue;
		if (sscanf(p + strlen(name),
			   "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7], &v[8], &v[9]) == 10)
			n = (long)v[9];
		break;
	}
	fclose(f);
	return n;
}

/*
 * Wait up to @ms until the device holds a frame it read from the TAP but
 * neither delivered nor dropped: one frame more read (tx_packets of the
 * TAP since @read0) than counted in rx_frames and rx_drops.
 */
static bool nd_wait_frame_parked(struct nd *nd, long read0, int ms)
{
	uint64_t end = nd_now_ns() + ms * 1000000ULL;
	uint64_t done0 = nd_counter(nd, "rx_frames") + nd_counter(nd, "rx_drops");

	for (;;) {
		long read = tap_frames_read(TAP) - read0;
		uint64_t done = nd_counter(nd, "rx_frames") +
				nd_counter(nd, "rx_drops") - done0;

		if (read > 0 && (uint64_t)read > done)
			return true;
		if (nd_now_ns() > end)
			return false;
		usleep(200);
	}
}

/*
 * A frame parked in the scratch buffer (too little room) when its RX
 * queue is reset is dropped and counted; the frames behind it in the TAP
 * arrive on the fresh ring, in order, and the worker does not spin.
 */
TEST_F(net, queue_reset_drops_parked_frame)
{
	struct nd *nd = &self->nd;
	uint64_t cpu0, cpu1;
	long read0;
	unsigned int i;
	size_t len;

	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG));
	/* Room for half a frame only: frame 0 is parked. */
	ASSERT_EQ(3, nd_rx_fill(nd, 0, 3, 256));
	read0 = tap_frames_read(TAP);
	ASSERT_LE(0, read0);
	for (i = 0; i < 5; i++)
		peer_send(_metadata, self->peer, nd->mac, i, 1514);
	/* Not a sleep: a loaded machine can take longer than any fixed one. */
	ASSERT_TRUE(nd_wait_frame_parked(nd, read0, 10000));
	/* Only a small stray frame can have fitted. */
	while (vq_driver_used_pending(&nd->drv[0]))
		EXPECT_EQ(-1, rx_next(nd, 0, NULL));

	ASSERT_EQ(0, vdev_device_queue_reset(nd->dev, &nd->q[0]));
	EXPECT_EQ(1, nd_counter(nd, "rx_drops"));
	cpu0 = nd_threads_cpu_ns("vdev-net");
	usleep(200000);
	cpu1 = nd_threads_cpu_ns("vdev-net");
	EXPECT_GT(20000000ULL, cpu1 - cpu0);	/* < 10% of 200 ms */

	ASSERT_EQ(0, nd_reprogram(nd, 0));
	ASSERT_EQ(0, vdev_device_queue_enable(nd->dev, &nd->q[0]));
	ASSERT_EQ(64, nd_rx_fill(nd, 0, 64, ND_RXBUF));
	for (i = 1; i < 5; i++) {
		ASSERT_EQ(i, rx_next(nd, 0, &len));
		EXPECT_EQ(1514, len);
	}
	EXPECT_EQ(1, nd_counter(nd, "rx_drops"));
	nd_reset(nd);
}

/* ---- RX buffers the device cannot use ---- */

/*
 * An unusable RX chain (device-readable) behind three small buffers: a
 * 1514-byte frame cannot fit before it, and the unusable chain may not
 * be returned before them. More buffers would not help, so such a frame
 * is dropped and counted; small frames use the three buffers, the
 * unusable chain is returned empty, and big frames flow again. RX used
 * to wait for buffers for ever with the first big frame parked.
 */
TEST_F(net, rx_blocked_frame_dropped)
{
	static const unsigned int sizes[] = { 1514, 1514, 100, 100, 100,
					      1514, 1514 };
	struct nd *nd = &self->nd;
	struct vq_driver *d = &nd->drv[0];
	unsigned int i, got = 0, errs = 0;
	struct vq_buf b;
	ssize_t n;
	long seq;

	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG));
	ASSERT_EQ(3, nd_rx_add(nd, 0, 3, 256));
	b.gpa = nd->buf[0] + (uint64_t)d->free_head * ND_RXBUF;
	b.len = 64;
	ASSERT_LE(0, vq_driver_add(d, &b, 1, NULL, 0, false));
	ASSERT_EQ(64, nd_rx_fill(nd, 0, 64, ND_RXBUF));
	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		peer_send(_metadata, self->peer, nd->mac, i, sizes[i]);

	/* Frames 2.. arrive in order; the unusable chain comes back empty. */
	while (got < ARRAY_SIZE(sizes) - 2) {
		n = nd_rx_wait(nd, 0, rbuf, sizeof(rbuf), NULL, NULL, 2000);
		ASSERT_NE(0, n);
		if (n < 0) {
			errs++;
			continue;
		}
		seq = nd_frame_check(rbuf, n);
		if (seq == -1)
			continue;
		EXPECT_EQ(got + 2, seq);
		EXPECT_EQ(sizes[got + 2], n);
		got++;
	}
	EXPECT_EQ(1, errs);
	EXPECT_EQ(2, nd_counter(nd, "rx_drops"));
	EXPECT_EQ(1, nd_counter(nd, "rx_errors"));
	EXPECT_FALSE(vdev_device_needs_reset(nd->dev));
}

/*
 * A frame larger than the device's largest (the TAP's MTU raised after
 * activate), without MRG_RXBUF, into a buffer of exactly that size and
 * into one larger than that but smaller than the frame: tun copies what
 * fits and returns the length it copied, so the device must see it
 * (the io_uring path: a sink past a chain of exactly rx_cap, a plain
 * read that fills a larger one) and drop and count it, on both TAP I/O
 * paths; the buffer takes the next frame, which arrives whole. Reading
 * every one-buffer chain without the sink delivered 1518 bytes of the
 * 2000-byte frame as a frame.
 */
TEST_F(net, rx_oversize_frame_dropped)
{
	static const uint8_t src[6] = { 2, 0, 0, 0, 0, 9 };
	struct nd *nd = &self->nd;
	size_t cap = ND_HDR + 14 + 4 + 1500;	/* the device's rx_cap */
	unsigned int pass, got;
	ssize_t n;
	int ps;

	ASSERT_EQ(0, vdev_nl_link_set_mtu(TAP, 3000));
	ps = nd_packet_socket(TAP, false);
	ASSERT_LE(0, ps);
	for (pass = 0; pass < 2; pass++) {
		ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE));
		ASSERT_EQ(4, nd_rx_fill(nd, 0, 4, cap + pass * 70));
		nd_frame(fbuf, 2000, src, 0);
		ASSERT_EQ(2000, send(ps, fbuf, 2000, 0));
		nd_frame(fbuf, 100, src, 1);
		ASSERT_EQ(100, send(ps, fbuf, 100, 0));
		for (got = 0; !got;) {
			n = nd_rx_wait(nd, 0, rbuf, sizeof(rbuf), NULL, NULL,
				       2000);
			ASSERT_LT(0, n);
			if (nd_frame_check(rbuf, n) == -1)
				continue;	/* the kernel's own */
			EXPECT_EQ(100, n);
			EXPECT_EQ(1, nd_frame_check(rbuf, n));
			got++;
		}
		EXPECT_EQ(pass + 1, nd_counter(nd, "rx_drops"));
		EXPECT_FALSE(vdev_device_needs_reset(nd->dev));
		nd_reset(nd);
	}
	close(ps);
}

/* ---- the TAP is deleted under the device ---- */

TEST_F(net, tap_deleted_under_traffic)
{
	struct nd *nd = &self->nd;
	struct blaster b = { .fd = self->peer };
	uint64_t end, cpu0, cpu1, errs;
	unsigned int k = 0;
	pthread_t t;

	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG));
	nd_rx_fill(nd, 0, ND_QSZ, ND_RXBUF);
	ASSERT_EQ(0, pthread_create(&t, NULL, blast, &b));
	nd_frame(fbuf, 200, nd->mac, 1);

	end = nd_now_ns() + 100000000ULL;
	while (nd_now_ns() < end) {
		if (nd_tx_add(nd, 1, NULL, fbuf, 200) >= 0)
			nd_kick(nd, 1);
		nd_rx_get(nd, 0, rbuf, sizeof(rbuf), NULL, NULL) > 0 ?
			nd_rx_fill(nd, 0, 1, ND_RXBUF) : 0;
	}
	ASSERT_EQ(0, nlh_link_delete(TAP));
	/* Traffic keeps coming from the driver. */
	end = nd_now_ns() + 2000000000ULL;
	while ((vdev_net_link_up(nd->dev) ||
		nd_counter(nd, "tx_errors") == 0) && nd_now_ns() < end) {
		if (nd_tx_add(nd, 1, NULL, fbuf, 200) >= 0) {
			nd_kick(nd, 1);
			k++;
		}
		usleep(50);
	}
	atomic_store(&b.stop, true);
	pthread_join(t, NULL);
	EXPECT_FALSE(vdev_net_link_up(nd->dev));
	errs = nd_counter(nd, "tx_errors");
	TH_LOG("after delete: %u frames sent, %llu tx errors, %llu tx drops",
	       k, (unsigned long long)errs,
	       (unsigned long long)nd_counter(nd, "tx_drops"));
	EXPECT_LT(0, errs);
	EXPECT_TRUE(nd_tx_drain(nd, 1, 1000));

	/* No spin: the device's threads stay idle. */
	cpu0 = nd_threads_cpu_ns("vdev-net");
	usleep(500000);
	cpu1 = nd_threads_cpu_ns("vdev-net");
	TH_LOG("device threads: %llu ms CPU in 500 ms",
	       (unsigned long long)(cpu1 - cpu0) / 1000000);
	EXPECT_GT(50000000ULL, cpu1 - cpu0);

	nd_reset(nd);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
	/* Still usable as an object: activates, reports link down. */
	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE | ND_F_MRG));
	EXPECT_FALSE(vdev_net_link_up(nd->dev));
	nd_reset(nd);
}

/* ---- instance names ---- */

#define NAMES_NR	150

struct thread_names {
	char comm[8][32];
	unsigned int nr;
};

static int64_t collect_vdev_thread(const char *tid, const char *comm,
				   void *arg)
{
	struct thread_names *t = arg;

	if (strncmp(comm, "vdev-", 5))
		return 0;
	if (t->nr < ARRAY_SIZE(t->comm))
		snprintf(t->comm[t->nr], sizeof(t->comm[0]), "%.*s",
			 (int)strcspn(comm, "\n"), comm);
	t->nr++;
	return 1;
}

/*
 * More devices than a two-digit instance number can tell apart, alive at
 * once, each on its own dup of one TAP fd: every log name differs, and
 * the worker threads of the first and the 101st have different names.
 */
TEST(instance_names_unique)
{
	struct vdev_device *devs[NAMES_NR] = { NULL };
	struct vdev_net_config cfg = { .queue_size = ND_QSZ };
	struct thread_names tn = { .nr = 0 };
	struct nd a, b;
	unsigned int i, j, dup = 0;
	int fd;

	ASSERT_EQ(0, nt_enter_netns());
	ASSERT_EQ(0, nt_tap_create("vn0", false));
	fd = nt_tap_attach("vn0", NT_TAP_FLAGS);
	ASSERT_LE(0, fd);
	cfg.tap_fds = &fd;
	cfg.num_tap_fds = 1;
	for (i = 0; i < NAMES_NR; i++)
		ASSERT_EQ(0, vdev_net_create(&cfg, &devs[i]));
	/* One destroyed and created again: its name may come back. */
	vdev_device_put(devs[5]);
	ASSERT_EQ(0, vdev_net_create(&cfg, &devs[5]));
	for (i = 0; i < NAMES_NR; i++) {
		EXPECT_NE(0, strlen(devs[i]->name));
		for (j = i + 1; j < NAMES_NR; j++) {
			if (strcmp(devs[i]->name, devs[j]->name))
				continue;
			if (dup++ < 3)
				TH_LOG("devices %u and %u are both %s", i, j,
				       devs[i]->name);
		}
	}
	EXPECT_EQ(0, dup);

	/* Workers: "vdev-<name>-q0" and "vdev-<name>-ctl" of two devices. */
	nd_init(&a);
	nd_init(&b);
	ASSERT_EQ(0, nd_guest(&a));
	ASSERT_EQ(0, nd_guest(&b));
	a.dev = devs[0];
	b.dev = devs[100];
	ASSERT_EQ(0, nd_activate(&a, 1, ND_F_BASE | ND_F_CTRL));
	ASSERT_EQ(0, nd_activate(&b, 1, ND_F_BASE | ND_F_CTRL));
	EXPECT_EQ(4, vdev_test_walk_threads(collect_vdev_thread, &tn));
	for (i = 0; i < tn.nr && i < ARRAY_SIZE(tn.comm); i++)
		for (j = i + 1; j < tn.nr && j < ARRAY_SIZE(tn.comm); j++)
			EXPECT_STRNE(tn.comm[i], tn.comm[j]);
	nd_destroy(&a);
	nd_destroy(&b);
	devs[0] = devs[100] = NULL;
	nd_guest_fini(&a);
	nd_guest_fini(&b);
	for (i = 0; i < NAMES_NR; i++)
		vdev_device_put(devs[i]);
	close(fd);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
}

/* ---- a frame waiting for RX buffers (scratch buffer, TAP queue) ---- */

FIXTURE(rxwait)
{
	struct nd nd;
	int peer;
};

/*
 * @mrg: MRG_RXBUF acked; the waiting frame is parked in the device's
 *	 scratch buffer (the driver's last buffer holds 100 bytes), else it
 *	 waits in the TAP (the driver has no buffer left)
 * @event_idx: EVENT_IDX acked, so the driver kicks only when asked to
 * @batch_end: the frame starts waiting as the 256th frame of a batch
 *	 (the device's NET_BATCH), else as the 100th
 * @format: ring format
 */
FIXTURE_VARIANT(rxwait)
{
	bool mrg;
	bool event_idx;
	bool batch_end;
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(rxwait, mrg_evidx_batch_end_split)
{
	.mrg = true, .event_idx = true, .batch_end = true,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_evidx_batch_end_packed)
{
	.mrg = true, .event_idx = true, .batch_end = true,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_evidx_mid_batch_split)
{
	.mrg = true, .event_idx = true, .batch_end = false,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_evidx_mid_batch_packed)
{
	.mrg = true, .event_idx = true, .batch_end = false,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_batch_end_split)
{
	.mrg = true, .event_idx = false, .batch_end = true,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_batch_end_packed)
{
	.mrg = true, .event_idx = false, .batch_end = true,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_mid_batch_split)
{
	.mrg = true, .event_idx = false, .batch_end = false,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, mrg_mid_batch_packed)
{
	.mrg = true, .event_idx = false, .batch_end = false,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, evidx_batch_end_split)
{
	.mrg = false, .event_idx = true, .batch_end = true,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, evidx_batch_end_packed)
{
	.mrg = false, .event_idx = true, .batch_end = true,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, evidx_mid_batch_split)
{
	.mrg = false, .event_idx = true, .batch_end = false,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, evidx_mid_batch_packed)
{
	.mrg = false, .event_idx = true, .batch_end = false,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, batch_end_split)
{
	.mrg = false, .event_idx = false, .batch_end = true,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, batch_end_packed)
{
	.mrg = false, .event_idx = false, .batch_end = true,
	.format = VQ_PACKED,
};

FIXTURE_VARIANT_ADD(rxwait, mid_batch_split)
{
	.mrg = false, .event_idx = false, .batch_end = false,
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(rxwait, mid_batch_packed)
{
	.mrg = false, .event_idx = false, .batch_end = false,
	.format = VQ_PACKED,
};

/*
 * No bridge: the peer is a packet socket on the TAP itself, which sends
 * the device only what the test sends (a bridge floods it with the IGMP
 * reports of its multicast snooping, which would move the batch
 * boundary).
 */
FIXTURE_SETUP(rxwait)
{
	self->peer = -1;
	nd_init(&self->nd);
	ASSERT_EQ(0, nd_netns_bare());
	ASSERT_EQ(0, nd_create(&self->nd, TAP, 1));
	ASSERT_EQ(0, nd_guest(&self->nd));
	self->nd.format = variant->format;
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, true));
	self->peer = nd_packet_socket(TAP, false);
	ASSERT_LE(0, self->peer);
}

FIXTURE_TEARDOWN(rxwait)
{
	nd_teardown_all(&self->nd, self->peer);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
}

#define RXW_FLEN	1000

/* Wait for the next test frame on RX queue 0; its seq, or -1 for none. */
static long rxw_next(struct nd *nd, int ms)
{
	ssize_t len;
	long seq;

	do {
		len = nd_rx_wait(nd, 0, rbuf, sizeof(rbuf), NULL, NULL, ms);
		if (len <= 0)
			return -1;
		seq = nd_frame_check(rbuf, len);
	} while (seq == -1);	/* not a test frame */
	return len == RXW_FLEN ? seq : -2;
}

/*
 * The frames wait in the TAP while the device has no buffers; then the
 * driver posts, all at once, room for every frame but the last: that one
 * waits. When the driver adds buffers (and kicks if the device asked
 * for it, as a driver with EVENT_IDX does), it must arrive at once.
 */
TEST_F(rxwait, delivered_when_buffers_arrive)
{
	struct nd *nd = &self->nd;
	unsigned int batch = variant->batch_end ? 256 : 100;
	unsigned int nframes = variant->mrg ? batch : batch + 1;
	unsigned int full = variant->mrg ? batch - 1 : batch, i;
	uint64_t f = ND_F_BASE;

	if (variant->mrg)
		f |= ND_F_MRG;
	if (!variant->event_idx)
		f &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	ASSERT_EQ(0, nd_activate(nd, 1, f));
	for (i = 0; i < nframes; i++) {
		nd_frame(fbuf, RXW_FLEN, nd->mac, i);
		fbuf[6] = 0x02;	/* not the device's own MAC */
		ASSERT_EQ(RXW_FLEN, send(self->peer, fbuf, RXW_FLEN, 0));
	}
	usleep(100000);	/* every frame in the TAP's queue */

	ASSERT_EQ(full, nd_rx_add(nd, 0, full, ND_RXBUF));
	if (variant->mrg)
		ASSERT_EQ(1, nd_rx_add(nd, 0, 1, 100));
	nd_kick(nd, 0);
	for (i = 0; i < nframes - 1; i++)
		ASSERT_EQ(i, rxw_next(nd, 2000));
	/* No room for the last one yet. */
	EXPECT_EQ(-1, rxw_next(nd, 50));

	ASSERT_EQ(64, nd_rx_fill(nd, 0, 64, ND_RXBUF));
	EXPECT_EQ(nframes - 1, rxw_next(nd, 2000));
	EXPECT_EQ(0, nd_counter(nd, "rx_drops"));
	EXPECT_EQ(nframes, nd_counter(nd, "rx_frames"));
}

/* ---- MQ_VQ_PAIRS_SET bounded by the pairs the driver set up ---- */

/*
 * The driver sets up half of the pairs the device offers: asking for
 * more than those is refused, or tun would steer flows to TAP queues
 * that no worker reads.
 */
TEST_F(mq, mq_pairs_bounded_by_started)
{
	struct nd *nd = &self->nd;
	unsigned int started = variant->pairs / 2, i, got = 0, q;
	uint16_t pairs;
	ssize_t len;
	uint64_t end;

	ASSERT_EQ(0, nd_activate(nd, started, ND_F_BASE | ND_F_MRG |
				 ND_F_CTRL | ND_F_MQ));
	pairs = htole16(variant->pairs);
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  &pairs, 2));
	pairs = htole16(started + 1);
	EXPECT_EQ(VIRTIO_NET_ERR, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					  &pairs, 2));
	EXPECT_EQ(1, vdev_net_active_pairs(nd->dev));
	pairs = htole16(started);
	EXPECT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					 VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					 &pairs, 2));
	EXPECT_EQ(started, vdev_net_active_pairs(nd->dev));

	/* Every flow reaches a pair that runs. */
	for (q = 0; q < started; q++)
		ASSERT_EQ(ND_QSZ, nd_rx_fill(nd, 2 * q, ND_QSZ, ND_RXBUF));
	for (i = 0; i < 200; i++) {
		size_t fl = ip_frame(fbuf, (const uint8_t *)"\x02\0\0\0\0\x07",
				     IPPROTO_UDP, 2000 + i, 64);

		ASSERT_EQ((ssize_t)fl, send(self->peer, fbuf, fl, 0));
	}
	end = nd_now_ns() + 2000000000ULL;
	while (got < 200 && nd_now_ns() < end) {
		bool any = false;

		for (q = 0; q < started; q++) {
			len = nd_rx_get(nd, 2 * q, rbuf, sizeof(rbuf), NULL,
					NULL);
			ASSERT_LE(0, len);
			if (!len)
				continue;
			any = true;
			if (rbuf[12] == 0x08 && rbuf[23] == IPPROTO_UDP)
				got++;
			nd_rx_fill(nd, 2 * q, 1, ND_RXBUF);
		}
		if (!any)
			usleep(100);
	}
	EXPECT_EQ(200, got);
}

/* ---- a failed activate leaves nothing behind ---- */

static int max_open_fd(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int fd, max = -1;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd > max)
			max = fd;
	}
	closedir(d);
	return max;
}

/* What reset leaves: inactive, TAP queues attached, no fd, no thread. */
static void expect_idle(struct __test_metadata *_metadata, struct nd *nd,
			const int *fds, unsigned int np, int fds0, int tasks0)
{
	unsigned int q;

	EXPECT_FALSE(vdev_device_is_active(nd->dev));
	EXPECT_EQ(1, vdev_net_active_pairs(nd->dev));
	for (q = 0; q < np; q++) {
		/* A detached queue gets no frames: reset attaches them all. */
		EXPECT_EQ(0, nt_tap_fd_flags(fds[q], NULL) & IFF_DETACH_QUEUE);
	}
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-net", 0));
	EXPECT_EQ(tasks0, vdev_test_settle_tasks(tasks0));
	EXPECT_EQ(fds0, vdev_test_count_fds());
}

/*
 * nd_activate() under an fd limit of @top + 1 + k (no fd free below
 * @top), k = 0, 1, ... until it succeeds; after each failure, check the
 * device is left idle. Returns the number of failures.
 */
static unsigned int activate_fd_limited(struct __test_metadata *_metadata,
					struct nd *nd, unsigned int np,
					uint64_t f, const int *fds, int fds0,
					int tasks0, int top)
{
	struct rlimit rl, tight;
	unsigned int k;
	int ret;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	for (k = 0; k < 64; k++) {
		tight = rl;
		tight.rlim_cur = top + 1 + k;
		if (setrlimit(RLIMIT_NOFILE, &tight))
			return 0;
		ret = nd_activate(nd, np, f);
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return 0;
		if (!ret)
			return k;
		expect_idle(_metadata, nd, fds, np, fds0, tasks0);
		nd_reset(nd);
	}
	return k;
}

/*
 * Activate fails at each step that takes an fd (an fd limit one higher
 * every time: eventfds, then each worker's epoll, the control worker's
 * fds), before and after pair workers started, and with bad queue sets;
 * the device is left as reset leaves it, then activates on all pairs and
 * moves traffic on each (ASan: no use of anything the failure freed).
 * The device runs on the test's own TAP fds, to see their queue state.
 */
TEST_F(mq, failed_activate_leaves_nothing)
{
	struct vdev_net_config cfg = { .queue_size = ND_QSZ };
	struct nd *nd = &self->nd;
	unsigned int np = variant->pairs, q, fails, seen = 0;
	unsigned int no_pair0[] = { 2, 3, 2 * np }, bad_idx[] = { 0, 1, 7 * np };
	uint64_t f = ND_F_BASE | ND_F_MRG | ND_F_CTRL | ND_F_MQ;
	int fds[ND_MAXP], fds0, tasks0, top, plug[256];
	unsigned int nplug;
	uint16_t pairs = htole16(np);
	ssize_t len;

	vdev_device_put(nd->dev);	/* the fixture's, on a TAP by name */
	for (q = 0; q < np; q++) {
		fds[q] = nt_tap_attach(TAP, NT_TAP_FLAGS | IFF_MULTI_QUEUE);
		ASSERT_LE(0, fds[q]);
	}
	cfg.tap_fds = fds;
	cfg.num_tap_fds = np;
	ASSERT_EQ(0, vdev_net_create(&cfg, &nd->dev));
	vdev_device_read_config(nd->dev, 0, nd->mac, 6);
	ASSERT_EQ(0, nd_plug_tap(TAP));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	vdev_test_warm_up();
	/* One activation first, so lazily made resources count. */
	ASSERT_EQ(0, nd_activate(nd, np, f));
	nd_reset(nd);
	/* No hole below the highest fd: a limit then counts new fds. */
	top = max_open_fd();
	ASSERT_LT(0, top);
	for (nplug = 0; nplug < ARRAY_SIZE(plug); nplug++) {
		plug[nplug] = fcntl(0, F_DUPFD_CLOEXEC, 0);
		ASSERT_LE(0, plug[nplug]);
		if (plug[nplug] > top) {
			close(plug[nplug]);
			break;
		}
	}
	ASSERT_GT(ARRAY_SIZE(plug), nplug);
	fds0 = vdev_test_count_fds();
	tasks0 = vdev_test_count_tasks();

	EXPECT_GT(0, nd_activate_idx(nd, no_pair0, 3, 2 * np, f));
	expect_idle(_metadata, nd, fds, np, fds0, tasks0);
	nd_reset(nd);
	EXPECT_GT(0, nd_activate_idx(nd, bad_idx, 3, 2 * np, f & ~ND_F_CTRL));
	expect_idle(_metadata, nd, fds, np, fds0, tasks0);
	nd_reset(nd);

	fails = activate_fd_limited(_metadata, nd, np, f, fds, fds0, tasks0,
				    top);
	TH_LOG("activate failed with %u fd limits before it succeeded", fails);
	/* At least the eventfds, one epoll per pair and the control's. */
	EXPECT_LE(2 + np + 1, fails);
	ASSERT_TRUE(vdev_device_is_active(nd->dev));

	ASSERT_EQ(VIRTIO_NET_OK, nd_ctrl(nd, VIRTIO_NET_CTRL_MQ,
					 VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
					 &pairs, 2));
	for (q = 0; q < np; q++) {
		nd_frame(fbuf, 100, nd->mac, q);
		ASSERT_LE(0, nd_tx_add(nd, 2 * q + 1, NULL, fbuf, 100));
		nd_kick(nd, 2 * q + 1);
	}
	for (q = 0; q < np; q++) {
		len = nd_peer_recv(self->peer, rbuf, sizeof(rbuf), 2000);
		ASSERT_EQ(100, len);
		seen |= 1u << nd_frame_check(rbuf, len);
	}
	EXPECT_EQ((1u << np) - 1, seen);
	nd_reset(nd);
	EXPECT_EQ(fds0, vdev_test_count_fds());
	for (q = 0; q < np; q++)
		close(fds[q]);
	while (nplug)
		close(plug[--nplug]);
}

/* ---- guest-triggered messages are rate limited ---- */

static atomic_uint log_hits[2];
static const char *const log_match[2] = {
	"no queue", "queue pair 0 not ready",
};

static void count_log(enum vdev_log_level level, const char *msg)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (strstr(msg, log_match[i]))
			atomic_fetch_add(&log_hits[i], 1);
}

/*
 * 1,000 guest reset cycles, each with an activation the device refuses
 * with a message (a queue it does not have, or no pair 0): the messages
 * stay within what the device's limiter allows over the elapsed time.
 */
TEST_F(netcfg, guest_activate_errors_rate_limited)
{
	struct nd *nd = &self->nd;
	unsigned int bad_idx[] = { 0, 1, 2 }, no_pair0[] = { 1, 2 }, i;
	uint64_t t0, ms, bound;

	vdev_log_set_handler(count_log);
	t0 = nd_now_ns();
	for (i = 0; i < 1000; i++) {
		if (i & 1) {
			EXPECT_GT(0, nd_activate_idx(nd, no_pair0, 2, 2,
						     ND_F_BASE | ND_F_CTRL));
		} else {
			EXPECT_GT(0, nd_activate_idx(nd, bad_idx, 3, ~0u,
						     ND_F_BASE));
		}
		nd_reset(nd);
	}
	ms = (nd_now_ns() - t0) / 1000000;
	vdev_log_set_handler(NULL);
	bound = nd->dev->rl.burst * (ms / nd->dev->rl.interval_ms + 1);
	TH_LOG("1000 cycles in %llu ms: %u + %u lines, limiter allows %llu",
	       (unsigned long long)ms, atomic_load(&log_hits[0]),
	       atomic_load(&log_hits[1]), (unsigned long long)bound);
	EXPECT_LE(1, atomic_load(&log_hits[0]) + atomic_load(&log_hits[1]));
	EXPECT_GE(bound, atomic_load(&log_hits[0]) + atomic_load(&log_hits[1]));
	/* And the device still works. */
	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE));
}

/* ---- the net accessors on a device that is not virtio-net ---- */

static int fake_activate(struct vdev_device *dev, struct vdev_queue **queues,
			 unsigned int nr_queues)
{
	return 0;
}

static void fake_release(struct vdev_device *dev)
{
}

static const struct vdev_device_ops fake_ops = {
	.name = "fake",
	.activate = fake_activate,
	.release = fake_release,
};

/* Room past the common part, as a device type's own state. */
struct fake_dev {
	struct vdev_device dev;
	uint8_t junk[16384];
};

static atomic_uint type_hits;

static void count_type_log(enum vdev_log_level level, const char *msg)
{
	if (strstr(msg, "not a virtio-net device"))
		atomic_fetch_add(&type_hits, 1);
}

/*
 * Another device type, even one that says VIRTIO_ID_NET: 0 pairs, link
 * down, an error logged (rate limited), nothing read past its struct.
 */
/*
 * Refuse io_uring_setup() with EPERM in this test's process (the harness
 * forks each test), as a container's seccomp profile does.
 */
static int refuse_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

/*
 * io_uring refused (seccomp: EPERM): forced, vdev_net_create() says why
 * and fails; AUTO falls back to a syscall per frame, says so once, and
 * moves frames both ways. Without the filter, AUTO takes io_uring.
 */
TEST(io_uring_refused_falls_back)
{
	struct virtio_net_hdr_v1 hdr;
	unsigned int got = 0;
	struct nd nd;
	int peer;
	ssize_t len;

	/* A persistent TAP on the bridge: it outlives each device. */
	nd_init(&nd);
	ASSERT_EQ(0, nd_netns());
	ASSERT_EQ(0, nt_tap_create(TAP, false));
	ASSERT_EQ(0, nd_plug_tap(TAP));
	ASSERT_EQ(0, nd_guest(&nd));
	peer = nd_peer_socket(false);
	ASSERT_LE(0, peer);
	vdev_log_set_level(VDEV_LOG_DEBUG);
	nt_log_capture();
	nd.io = VDEV_NET_IO_AUTO;
	ASSERT_EQ(0, nd_create(&nd, TAP, 1));
	EXPECT_TRUE(nt_log_has("TAP I/O: io_uring")) {
		TH_LOG("last message: %s", nt_last_log);
	}
	nd_destroy(&nd);

	ASSERT_EQ(0, refuse_io_uring());
	nd.io = VDEV_NET_IO_URING;
	EXPECT_EQ(-EPERM, nd_create(&nd, TAP, 1));
	EXPECT_TRUE(nt_log_has("io_uring forced by the config")) {
		TH_LOG("last message: %s", nt_last_log);
	}
	EXPECT_TRUE(nt_log_has("Operation not permitted"));
	ASSERT_EQ(NULL, nd.dev);

	nd.io = VDEV_NET_IO_AUTO;
	ASSERT_EQ(0, nd_create(&nd, TAP, 1));
	EXPECT_TRUE(nt_log_has("one syscall per frame (auto: io_uring refused: Operation not permitted)")) {
		TH_LOG("last message: %s", nt_last_log);
	}
	ASSERT_EQ(0, nd_activate(&nd, 1, ND_F_BASE | ND_F_MRG));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(16, nd_rx_fill(&nd, 0, 16, ND_RXBUF));
	nd_frame(fbuf, 128, nd.mac, 7);
	ASSERT_LE(0, nd_tx_add(&nd, 1, NULL, fbuf, 128));
	nd_kick(&nd, 1);
	while ((len = nd_peer_recv(peer, rbuf, sizeof(rbuf), 2000)) > 0)
		if (len == 128 && nd_frame_check(rbuf, len) == 7)
			break;
	EXPECT_EQ(128, len);
	fbuf[6] = 0x02;
	ASSERT_EQ(128, send(peer, fbuf, 128, 0));
	while ((len = nd_rx_wait(&nd, 0, rbuf, sizeof(rbuf), &hdr, NULL,
				 2000)) > 0)
		if (len == 128 && nd_frame_check(rbuf, len) == 7) {
			got++;
			break;
		}
	EXPECT_EQ(1, got);
	EXPECT_EQ(1, nd_counter(&nd, "tx_frames"));
	nd_teardown_all(&nd, peer);
}

TEST(net_accessors_check_type)
{
	static const uint16_t sizes[3] = { 256, 256, 256 };
	static const uint32_t types[] = { VIRTIO_ID_NET, VIRTIO_ID_BLOCK };
	struct vdev_device_info info = {
		.name = "fake", .queue_sizes = sizes, .nr_queues = 3,
		.min_queues = 2,
	};
	struct fake_dev *f = malloc(sizeof(*f));
	unsigned int t, i;

	ASSERT_NE(NULL, f);
	vdev_log_set_handler(count_type_log);
	for (t = 0; t < 2; t++) {
		info.type = types[t];
		memset(f->junk, 0xa5, sizeof(f->junk));
		ASSERT_EQ(0, vdev_device_init(&f->dev, &fake_ops, &info));
		for (i = 0; i < 100; i++) {
			EXPECT_EQ(0, vdev_net_active_pairs(&f->dev));
			EXPECT_FALSE(vdev_net_link_up(&f->dev));
		}
		vdev_device_put(&f->dev);
	}
	EXPECT_EQ(0, vdev_net_active_pairs(NULL));
	EXPECT_FALSE(vdev_net_link_up(NULL));
	vdev_log_set_handler(NULL);
	/* 402 calls within a few ms: the first one logs, in one window. */
	EXPECT_LE(1, atomic_load(&type_hits));
	EXPECT_GE(2, atomic_load(&type_hits));
	free(f);
}

/* ---- link state: the TAP's namespace, renames, latency ---- */

/*
 * Wait up to @ms for the device's link to be @up; the time since @t0 in
 * us, or -1.
 */
static long wait_link_since(struct nd *nd, bool up, int ms, uint64_t t0)
{
	uint64_t end = nd_now_ns() + ms * 1000000ULL;

	while (vdev_net_link_up(nd->dev) != up) {
		if (nd_now_ns() >= end)
			return -1;
		usleep(100);
	}
	return (nd_now_ns() - t0) / 1000;
}

static long wait_link(struct nd *nd, bool up, int ms)
{
	return wait_link_since(nd, up, ms, nd_now_ns());
}

/*
 * The driver's thread (and so the device's workers) is in another
 * network namespace than the TAP: the link is still the TAP's.
 */
TEST_F(netcfg, link_seen_from_other_netns)
{
	struct nd *nd = &self->nd;
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	ASSERT_LE(0, home);
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE));
	ASSERT_EQ(0, setns(home, CLONE_NEWNET));
	close(home);
	EXPECT_TRUE(vdev_net_link_up(nd->dev));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, false));
	EXPECT_LE(0, wait_link(nd, false, 2000));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, true));
	EXPECT_LE(0, wait_link(nd, true, 2000));
}

/* The TAP is renamed under the device: its link is still followed. */
TEST_F(netcfg, link_follows_rename)
{
	struct nd *nd = &self->nd;
	struct ifreq ifr = { 0 };

	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE));
	EXPECT_TRUE(vdev_net_link_up(nd->dev));
	ASSERT_EQ(0, vdev_nl_link_set_up(TAP, false));	/* renames need it */
	EXPECT_LE(0, wait_link(nd, false, 2000));
	snprintf(ifr.ifr_newname, sizeof(ifr.ifr_newname), "vt0renamed");
	ASSERT_EQ(0, nt_if_ioctl(TAP, SIOCSIFNAME, &ifr));
	ASSERT_EQ(0, vdev_nl_link_set_up("vt0renamed", true));
	EXPECT_LE(0, wait_link(nd, true, 2000));
	ASSERT_EQ(0, vdev_nl_link_set_up("vt0renamed", false));
	EXPECT_LE(0, wait_link(nd, false, 2000));
	/* A reset and a new activation on the renamed TAP. */
	ASSERT_EQ(0, vdev_nl_link_set_up("vt0renamed", true));
	nd_reset(nd);
	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE));
	EXPECT_TRUE(vdev_net_link_up(nd->dev));
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/*
 * From "ip link set down/up" (its netlink request) to the guest-visible
 * link bit changing, 10 times each way. A 500 ms poll made this 0 to
 * 500 ms.
 */
TEST_F(netcfg, link_change_latency)
{
	struct nd *nd = &self->nd;
	long lat[20];
	unsigned int i;

	ASSERT_EQ(0, nd_activate(nd, 1, ND_F_BASE));
	ASSERT_TRUE(vdev_net_link_up(nd->dev));
	for (i = 0; i < 20; i++) {
		uint64_t t0 = nd_now_ns();

		ASSERT_EQ(0, vdev_nl_link_set_up(TAP, i & 1));
		lat[i] = wait_link_since(nd, i & 1, 2000, t0);
		ASSERT_LE(0, lat[i]);
	}
	qsort(lat, 20, sizeof(lat[0]), cmp_long);
	TH_LOG("link change seen after: median %ld us, max %ld us",
	       lat[10], lat[19]);
	EXPECT_GT(200000, lat[19]);
}

TEST_HARNESS_MAIN
