/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the virtio-net selftests: a fresh network namespace with a
 * bridge, the TAP and a veth pair whose far end ("vp1") is the peer, an
 * AF_PACKET socket on the peer, and the test acting as transport and
 * guest driver (selftests/vq_driver.h) of a vdev_net device.
 *
 *   [driver] <-> vdev-net <-> TAP --br0-- vp0 <-> vp1 [AF_PACKET peer]
 *
 * Test frames carry the local experimental ethertype (ETH_P_802_EX1) so
 * that stray traffic is ignored.
 */
#ifndef _VDEV_NET_DEV_H
#define _VDEV_NET_DEV_H

#include <arpa/inet.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <vdev/vdev.h>

#include "lib/nl_helpers.h"
#include "net_test.h"
#include "vdev_test.h"
#include "vq_driver.h"

#define ND_MAXP		4
#define ND_MAXQ		(2 * ND_MAXP + 1)
#define ND_QSZ		256
#define ND_RAM_GPA	0x100000ULL
#define ND_RAM_SIZE	(48ULL << 20)
#define ND_RXBUF	2048		/* one RX buffer */
#define ND_TXBUF	2048		/* one TX slot */
#define ND_BIG		(70 * 1024)	/* TSO TX buffer */
#define ND_HDR		sizeof(struct virtio_net_hdr_v1)
#define ND_ETHERTYPE	ETH_P_802_EX1
#define ND_PEER		"vp1"
#define ND_PORT		"vp0"		/* the peer's bridge port */
#define ND_FWD_WAIT_MS	10000		/* see nd_wait_forwarding() */

/* Features a modern Linux guest acks, minus offloads. */
#define ND_F_BASE	((1ULL << VIRTIO_F_VERSION_1) | \
			 (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
			 (1ULL << VIRTIO_NET_F_MAC) | \
			 (1ULL << VIRTIO_NET_F_STATUS) | \
			 (1ULL << VIRTIO_NET_F_MTU))
#define ND_F_MRG	(1ULL << VIRTIO_NET_F_MRG_RXBUF)
#define ND_F_CTRL	((1ULL << VIRTIO_NET_F_CTRL_VQ) | \
			 (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS))
#define ND_F_MQ		(1ULL << VIRTIO_NET_F_MQ)
#define ND_F_HOST_TSO	((1ULL << VIRTIO_NET_F_CSUM) | \
			 (1ULL << VIRTIO_NET_F_HOST_TSO4) | \
			 (1ULL << VIRTIO_NET_F_HOST_TSO6))
#define ND_F_GUEST_TSO	((1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
			 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
			 (1ULL << VIRTIO_NET_F_GUEST_TSO6))

/**
 * struct nd - one device under test and its driver
 * @g: guest memory
 * @dev: the device
 * @mac: the device's MAC (from config space)
 * @pairs: queue pairs set up by nd_activate()
 * @ctrl: index of the control queue in @q, or -1
 * @nq: queues set up
 * @format: ring format the driver lays out (nd_activate*() acks
 *          VIRTIO_F_RING_PACKED for VQ_PACKED); VQ_SPLIT after nd_init()
 * @io: TAP I/O path nd_create() asks for; ND_IO after nd_init()
 * @features: acked features
 * @drv: driver halves
 * @q: transport halves
 * @qp: pointers to @q for vdev_device_activate()
 * @kick: kick eventfds
 * @buf: per queue: base GPA of its buffers (slot = descriptor index)
 * @ring: per queue: GPA of its rings
 * @big: GPA of the TSO TX buffer
 * @irqfd: eventfd the device interrupts through
 * @irq: vdev interrupt object on @irqfd
 */
struct nd {
	struct vq_guest g;
	struct vdev_device *dev;
	uint8_t mac[6];
	unsigned int pairs;
	int ctrl;
	unsigned int nq;
	enum vq_format format;
	enum vdev_net_io io;
	uint64_t features;
	struct vq_driver drv[ND_MAXQ];
	struct vdev_queue q[ND_MAXQ];
	struct vdev_queue *qp[ND_MAXQ];
	int kick[ND_MAXQ];
	uint64_t buf[ND_MAXQ];
	uint64_t ring[ND_MAXQ];
	uint64_t big;
	int irqfd;
	struct vdev_interrupt *irq;
};

static inline uint64_t nd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Enter a fresh network namespace with IPv6 off for the links made from
 * now on, so no stray autoconfiguration traffic. Returns 0 or -errno.
 */
static inline int nd_netns_bare(void)
{
	int ret, fd;

	ret = nt_enter_netns();
	if (ret)
		return ret;
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			ret = 0;
		close(fd);
	}
	return 0;
}

/*
 * Enter a fresh network namespace (nd_netns_bare()) and build br0 with
 * vp0 (its peer vp1 is the test's peer). Returns 0 or -errno.
 */
static inline int nd_netns(void)
{
	int ret;

	ret = nd_netns_bare();
	if (ret)
		return ret;
	ret = nlh_bridge_create("br0");
	if (!ret)
		ret = nlh_veth_create(ND_PORT, ND_PEER);
	if (!ret)
		ret = vdev_nl_link_enslave(ND_PORT, "br0");
	if (!ret)
		ret = vdev_nl_link_set_up("br0", true);
	if (!ret)
		ret = vdev_nl_link_set_up(ND_PORT, true);
	if (!ret)
		ret = vdev_nl_link_set_up(ND_PEER, true);
	return ret;
}

/* Put the TAP on the bridge and bring it up. */
static inline int nd_plug_tap(const char *tap)
{
	int ret = vdev_nl_link_enslave(tap, "br0");

	if (!ret)
		ret = vdev_nl_link_set_up(tap, true);
	return ret;
}

static inline int nd_brport_state_cb(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	struct nlattr *bp[IFLA_BRPORT_MAX + 1];
	int *state = arg;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb,
			IFLA_MAX, NULL) || !tb[IFLA_LINKINFO] ||
	    nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) ||
	    !li[IFLA_INFO_SLAVE_DATA] ||
	    nla_parse_nested(bp, IFLA_BRPORT_MAX, li[IFLA_INFO_SLAVE_DATA],
			     NULL) || !bp[IFLA_BRPORT_STATE])
		return NL_SKIP;
	*state = nla_get_u8(bp[IFLA_BRPORT_STATE]);
	return NL_OK;
}

/*
 * The bridge port state (BR_STATE_*) of @ifname, from the bridge's slave
 * data in its link (IFLA_BRPORT_STATE); -ENOENT when it is no bridge
 * port, -errno.
 */
static inline int nd_brport_state(const char *ifname)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	int ret, state = -ENOENT;
	struct nl_sock *sk;

	ret = nlh_ifindex(ifname, &ifi.ifi_index);
	if (ret)
		return ret;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	nl_socket_disable_auto_ack(sk);
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (!ret)
		ret = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM,
					  nd_brport_state_cb, &state);
	if (!ret)
		ret = nl_send_simple(sk, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	if (ret >= 0)
		ret = nl_recvmsgs_default(sk);
	nl_socket_free(sk);
	return ret < 0 ? -EIO : state;
}

/*
 * Wait until the bridge forwards between the peer and TAP @tap: both
 * ports (ND_PORT and @tap) in BR_STATE_FORWARDING. The bridge enables a
 * port only once the kernel's linkwatch work has seen its carrier come
 * up (for vp0: when vp1 went up in nd_netns()); that work runs
 * asynchronously, under RTNL, and is late on a loaded machine. Until
 * then the bridge drops every frame from or to that port without a
 * trace: send() on the peer succeeds, and nothing reaches the TAP (or,
 * from the TAP, the peer). So a test that sends at once loses its frames
 * now and then. The bound only catches a port that never comes up.
 * Returns 0, -ETIMEDOUT or -errno.
 */
static inline int nd_wait_forwarding(const char *tap)
{
	uint64_t end = nd_now_ns() + ND_FWD_WAIT_MS * 1000000ULL;
	int a, b;

	for (;;) {
		a = nd_brport_state(ND_PORT);
		b = nd_brport_state(tap);
		if (a < 0 || b < 0)
			return a < 0 ? a : b;
		if (a == BR_STATE_FORWARDING && b == BR_STATE_FORWARDING)
			return 0;
		if (nd_now_ns() >= end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/* AF_PACKET socket on @ifname; non-blocking; -errno on failure. */
static inline int nd_packet_socket(const char *ifname, bool vnet_hdr)
{
	struct sockaddr_ll sll = { 0 };
	int fd, ifindex, one = 1, sz = 8 << 20, ret;

	ret = nlh_ifindex(ifname, &ifindex);
	if (ret)
		return ret;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	if (vnet_hdr &&
	    setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)))
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		goto fail;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

/* AF_PACKET socket on the peer; non-blocking; -errno on failure. */
static inline int nd_peer_socket(bool vnet_hdr)
{
	return nd_packet_socket(ND_PEER, vnet_hdr);
}

/* Build a test frame: broadcast, @src, ND_ETHERTYPE, @seq, pattern. */
static inline void nd_frame(uint8_t *f, size_t len, const uint8_t src[6],
			    uint32_t seq)
{
	size_t i;

	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = ND_ETHERTYPE >> 8;
	f[13] = ND_ETHERTYPE & 0xff;
	memcpy(f + 14, &seq, 4);
	for (i = 18; i < len; i++)
		f[i] = (uint8_t)(i + seq);
}

/* Is @f (of @len) a test frame with a good pattern? Returns seq or -1. */
static inline long nd_frame_check(const uint8_t *f, size_t len)
{
	uint32_t seq;
	size_t i;

	if (len < 18 || f[12] != (ND_ETHERTYPE >> 8) ||
	    f[13] != (ND_ETHERTYPE & 0xff))
		return -1;
	memcpy(&seq, f + 14, 4);
	for (i = 18; i < len; i++)
		if (f[i] != (uint8_t)(i + seq))
			return -2;
	return seq;
}

/*
 * Receive the next test frame on the peer socket within @ms. Returns its
 * length (the frame in @buf), 0 on timeout, -errno.
 */
static inline ssize_t nd_peer_recv(int fd, uint8_t *buf, size_t cap, int ms)
{
	uint64_t end = nd_now_ns() + ms * 1000000ULL;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, cap, 0);
		if (n >= 14 && buf[12] == (ND_ETHERTYPE >> 8) &&
		    buf[13] == (ND_ETHERTYPE & 0xff))
			return n;
		if (n >= 0)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (nd_now_ns() >= end)
			return 0;
		poll(&pfd, 1, 10);
	}
}

/*
 * The TAP I/O path the tests force, both forced so that a refused
 * io_uring fails instead of falling back: VDEV_NET_IO_URING, unless the
 * program is built with -DND_IO=VDEV_NET_IO_SYSCALL (net_dev_test runs
 * as both programs, selftests/net/tests.mk).
 */
#ifndef ND_IO
#define ND_IO		VDEV_NET_IO_URING
#endif

static inline const char *nd_io_name(enum vdev_net_io io)
{
	return io == VDEV_NET_IO_URING ? "uring" :
	       io == VDEV_NET_IO_SYSCALL ? "syscall" : "auto";
}

/* Zero @nd; call once, before anything else. */
static inline void nd_init(struct nd *nd)
{
	unsigned int i;

	memset(nd, 0, sizeof(*nd));
	nd->io = ND_IO;
	nd->irqfd = -1;
	for (i = 0; i < ND_MAXQ; i++)
		nd->kick[i] = -1;
}

/* Create the device on TAP @tap with @pairs queue pairs. */
static inline int nd_create(struct nd *nd, const char *tap, unsigned int pairs)
{
	struct vdev_net_config cfg = {
		.tap_name = tap,
		.queue_pairs = pairs,
		.queue_size = ND_QSZ,
		.io = nd->io,
	};
	int ret;

	ret = vdev_net_create(&cfg, &nd->dev);
	if (ret)
		return ret;
	vdev_device_read_config(nd->dev, 0, nd->mac, 6);
	return 0;
}

/* Guest RAM, kick eventfds and the interrupt: once per struct nd. */
static inline int nd_guest(struct nd *nd)
{
	unsigned int i;
	int ret;

	ret = vq_guest_init(&nd->g);
	if (!ret)
		ret = vq_guest_add(&nd->g, ND_RAM_GPA, ND_RAM_SIZE, false);
	if (ret)
		return ret;
	for (i = 0; i < ND_MAXQ; i++) {
		nd->kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (nd->kick[i] < 0)
			return -errno;
		nd->buf[i] = vq_guest_alloc(&nd->g, 0, ND_QSZ * ND_RXBUF,
					    4096);
		nd->ring[i] = vq_guest_alloc(&nd->g, 0, 3 * 4096, 4096);
		if (!nd->buf[i] || !nd->ring[i])
			return -ENOMEM;
	}
	nd->big = vq_guest_alloc(&nd->g, 0, ND_BIG, 4096);
	nd->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!nd->big || nd->irqfd < 0)
		return -ENOMEM;
	return vdev_interrupt_eventfd_create(nd->irqfd, &nd->irq);
}

static inline bool nd_is_rx(struct nd *nd, unsigned int qi)
{
	return (int)qi != nd->ctrl && !(qi & 1);
}

/* The feature bits @nd->format needs acked, on top of a test's own. */
static inline uint64_t nd_format_features(struct nd *nd)
{
	return nd->format == VQ_PACKED ? 1ULL << VIRTIO_F_RING_PACKED : 0;
}

/*
 * Lay out fresh rings for queue slot @i (index @qi) in @nd->format, at
 * the slot's ring memory, allocated once and reused across activations
 * and queue resets, and fill the transport's view of it.
 */
static inline int nd_ring_init(struct nd *nd, unsigned int i, unsigned int qi)
{
	bool ev = nd->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	const uint16_t *sizes;
	uint64_t save;
	int ret;

	vdev_device_queue_max_sizes(nd->dev, &sizes);
	save = nd->g.r[0].next;
	nd->g.r[0].next = nd->ring[i] - nd->g.r[0].gpa;
	vq_driver_destroy(&nd->drv[i]);
	ret = vq_driver_init_format(&nd->drv[i], &nd->g, nd->format, 0,
				    ND_QSZ, ev, 0);
	nd->g.r[0].next = save;
	if (ret)
		return ret;
	vq_driver_bind(&nd->drv[i], &nd->q[i], qi, sizes[0]);
	nd->q[i].kick_fd = nd->kick[i];
	return 0;
}

/*
 * Lay out fresh rings for the @nq queues of index @idx[0..@nq-1] (the
 * control queue is the one of index @ctrl_qi), ack @features (and the
 * ring format's feature, nd_format_features()) and activate. The ring
 * memory of each slot is allocated once and reused across activations.
 * Any indices, also ones the device must refuse.
 */
static inline int nd_activate_idx(struct nd *nd, const unsigned int *idx,
				  unsigned int nq, unsigned int ctrl_qi,
				  uint64_t features)
{
	unsigned int i, pairs = 0;
	int ret;

	features |= nd_format_features(nd);
	nd->features = features;
	nd->ctrl = -1;
	nd->nq = nq;
	for (i = 0; i < nq; i++) {
		if (idx[i] == ctrl_qi)
			nd->ctrl = i;
		else if (idx[i] & 1)
			pairs++;
		ret = nd_ring_init(nd, i, idx[i]);
		if (ret)
			return ret;
		nd->qp[i] = &nd->q[i];
	}
	nd->pairs = pairs;
	vdev_device_ack_features(nd->dev, features);
	return vdev_device_activate(nd->dev, nd->g.mem, nd->irq, nd->qp, nq);
}

/*
 * Lay out fresh rings for @pairs pairs (plus the control queue when
 * @features has CTRL_VQ), ack @features and activate.
 */
static inline int nd_activate(struct nd *nd, unsigned int pairs,
			      uint64_t features)
{
	bool ctrl = features & (1ULL << VIRTIO_NET_F_CTRL_VQ);
	unsigned int i, idx[ND_MAXQ], nq = 2 * pairs + ctrl, ctrl_qi;
	struct virtio_net_config cfg;

	vdev_device_read_config(nd->dev, 0, &cfg, sizeof(cfg));
	ctrl_qi = (features & ND_F_MQ) ?
		  2 * le16toh(cfg.max_virtqueue_pairs) : 2;
	for (i = 0; i < 2 * pairs; i++)
		idx[i] = i;
	if (ctrl)
		idx[nq - 1] = ctrl_qi;
	return nd_activate_idx(nd, idx, nq, ctrl ? ctrl_qi : ~0u, features);
}

/* Reset the device (returns and drops its interrupt reference). */
static inline void nd_reset(struct nd *nd)
{
	vdev_interrupt_put(vdev_device_reset(nd->dev));
}

static inline void nd_kick(struct nd *nd, unsigned int qi)
{
	uint64_t one = 1;

	if (vq_driver_kick_prepare(&nd->drv[qi]) &&
	    write(nd->kick[qi], &one, sizeof(one)) < 0)
		abort();
}

/*
 * Add @n buffers of @len bytes (at most ND_RXBUF) to RX queue @qi,
 * neither published nor kicked: the device sees them at the next
 * nd_kick(), all at once. Returns how many were added.
 */
static inline int nd_rx_add(struct nd *nd, unsigned int qi, unsigned int n,
			    uint32_t len)
{
	struct vq_driver *d = &nd->drv[qi];
	unsigned int i;

	for (i = 0; i < n && d->num_free; i++) {
		struct vq_buf b = {
			.gpa = nd->buf[qi] + (uint64_t)d->free_head * ND_RXBUF,
			.len = len,
		};

		if (vq_driver_add(d, NULL, 0, &b, 1, false) < 0)
			return -ENOSPC;
	}
	return i;
}

/* Give RX queue @qi @n buffers of @len bytes (at most ND_RXBUF). */
static inline int nd_rx_fill(struct nd *nd, unsigned int qi, unsigned int n,
			     uint32_t len)
{
	int ret = nd_rx_add(nd, qi, n, len);

	nd_kick(nd, qi);
	return ret;
}

/*
 * Take one received frame from RX queue @qi (merging buffers by
 * num_buffers) into @out; returns its length without the header, 0 when
 * none is ready, -1 on a malformed answer. *@nbufs: buffers it took.
 */
static inline ssize_t nd_rx_get(struct nd *nd, unsigned int qi, uint8_t *out,
				size_t cap, struct virtio_net_hdr_v1 *hdr,
				unsigned int *nbufs)
{
	struct vq_driver *d = &nd->drv[qi];
	struct virtio_net_hdr_v1 h;
	unsigned int i, num;
	size_t total = 0;
	uint32_t len;
	int head;

	if (vq_driver_used_pending(d) == 0)
		return 0;
	head = vq_driver_get_used(d, &len);
	if (head < 0 || len < ND_HDR || len > ND_RXBUF)
		return -1;
	if (!hdr)
		hdr = &h;
	memcpy(hdr, vq_guest_ptr(&nd->g, nd->buf[qi] +
				 (uint64_t)head * ND_RXBUF, ND_HDR), ND_HDR);
	num = le16toh(hdr->num_buffers);
	if (!(nd->features & ND_F_MRG) && num != 1)
		return -1;
	for (i = 0; i < num; i++) {
		uint8_t *p;
		size_t off = i ? 0 : ND_HDR;

		if (i) {
			uint64_t end = nd_now_ns() + 2000000000ULL;

			while (!vq_driver_used_pending(d) && nd_now_ns() < end)
				usleep(10);
			head = vq_driver_get_used(d, &len);
			if (head < 0 || len > ND_RXBUF)
				return -1;
		}
		p = vq_guest_ptr(&nd->g, nd->buf[qi] +
				 (uint64_t)head * ND_RXBUF, len);
		if (total + len - off > cap)
			return -1;
		memcpy(out + total, p + off, len - off);
		total += len - off;
	}
	if (nbufs)
		*nbufs = num;
	return total;
}

/* Wait up to @ms for a frame on RX queue @qi (see nd_rx_get()). */
static inline ssize_t nd_rx_wait(struct nd *nd, unsigned int qi, uint8_t *out,
				 size_t cap, struct virtio_net_hdr_v1 *hdr,
				 unsigned int *nbufs, int ms)
{
	uint64_t end = nd_now_ns() + ms * 1000000ULL;
	ssize_t n;

	while (!(n = nd_rx_get(nd, qi, out, cap, hdr, nbufs)) &&
	       nd_now_ns() < end)
		usleep(20);
	return n;
}

/* Reclaim used TX chains of queue @qi; returns how many. */
static inline unsigned int nd_tx_reclaim(struct nd *nd, unsigned int qi)
{
	unsigned int n = 0;

	while (vq_driver_get_used(&nd->drv[qi], NULL) >= 0)
		n++;
	return n;
}

/*
 * Queue one frame (header @hdr or zeros, then @len bytes of @frame) on
 * TX queue @qi; the frame is split in two descriptors. No kick. Returns
 * the head or -ENOSPC.
 */
static inline int nd_tx_add(struct nd *nd, unsigned int qi,
			    const struct virtio_net_hdr_v1 *hdr,
			    const void *frame, size_t len)
{
	struct vq_driver *d = &nd->drv[qi];
	struct vq_buf out[2];
	uint64_t gpa;
	uint8_t *p;

	nd_tx_reclaim(nd, qi);
	if (d->num_free < 2)
		return -ENOSPC;
	if (len + ND_HDR > ND_TXBUF) {
		gpa = nd->big;
		if (len + ND_HDR > ND_BIG)
			return -EINVAL;
	} else {
		gpa = nd->buf[qi] + (uint64_t)d->free_head * ND_TXBUF;
	}
	p = vq_guest_ptr(&nd->g, gpa, ND_HDR + len);
	if (hdr)
		memcpy(p, hdr, ND_HDR);
	else
		memset(p, 0, ND_HDR);
	memcpy(p + ND_HDR, frame, len);
	out[0].gpa = gpa;
	out[0].len = ND_HDR;
	out[1].gpa = gpa + ND_HDR;
	out[1].len = len;
	return vq_driver_add(d, out, 2, NULL, 0, false);
}

/* Wait until TX queue @qi has given every chain back (up to @ms). */
static inline bool nd_tx_drain(struct nd *nd, unsigned int qi, int ms)
{
	uint64_t end = nd_now_ns() + ms * 1000000ULL;

	do {
		nd_tx_reclaim(nd, qi);
		if (nd->drv[qi].num_free == ND_QSZ)
			return true;
		usleep(20);
	} while (nd_now_ns() < end);
	return false;
}

/*
 * Send a control command on the control queue and wait for the ack.
 * Returns the ack byte, or -1 on timeout, -2 when the device wrote
 * nothing.
 */
static inline int nd_ctrl(struct nd *nd, uint8_t class, uint8_t cmd,
			  const void *data, size_t len)
{
	unsigned int qi = nd->ctrl;
	struct vq_driver *d = &nd->drv[qi];
	uint64_t gpa = nd->buf[qi], end;
	struct vq_buf out[2], in;
	uint8_t *p = vq_guest_ptr(&nd->g, gpa, 4096);
	uint32_t used_len;
	int head;

	p[0] = class;
	p[1] = cmd;
	if (len)
		memcpy(p + 2, data, len);
	p[2048] = 0xee;
	out[0].gpa = gpa;
	out[0].len = 2;
	out[1].gpa = gpa + 2;
	out[1].len = len;
	in.gpa = gpa + 2048;
	in.len = 1;
	if (vq_driver_add(d, out, len ? 2 : 1, &in, 1, false) < 0)
		return -1;
	nd_kick(nd, qi);
	end = nd_now_ns() + 2000000000ULL;
	while ((head = vq_driver_get_used(d, &used_len)) < 0 &&
	       nd_now_ns() < end)
		usleep(20);
	if (head < 0)
		return -1;
	return used_len == 1 ? p[2048] : -2;
}

/* Sum of the device's counters whose name starts with @prefix. */
static inline uint64_t nd_counter(struct nd *nd, const char *prefix)
{
	struct vdev_counter c[8 * ND_MAXP];
	unsigned int i, n;
	uint64_t v = 0;

	n = vdev_device_counters(nd->dev, c, 8 * ND_MAXP);
	for (i = 0; i < n; i++)
		if (!strncmp(c[i].name, prefix, strlen(prefix)))
			v += c[i].value;
	return v;
}

/* Put the device, then free the driver side. */
static inline void nd_destroy(struct nd *nd)
{
	unsigned int i;

	vdev_device_put(nd->dev);
	nd->dev = NULL;
	for (i = 0; i < ND_MAXQ; i++)
		vq_driver_destroy(&nd->drv[i]);
}

static inline void nd_guest_fini(struct nd *nd)
{
	unsigned int i;

	vdev_interrupt_put(nd->irq);
	nd->irq = NULL;
	if (nd->irqfd >= 0)
		close(nd->irqfd);
	for (i = 0; i < ND_MAXQ; i++)
		if (nd->kick[i] >= 0)
			close(nd->kick[i]);
	if (nd->g.mem)
		vq_guest_destroy(&nd->g);
}

static inline int64_t nd_thread_cpu_ns(const char *tid, const char *comm,
				       void *prefix)
{
	char path[300], buf[1024], *p;
	unsigned long ut, st;
	int64_t ns = 0;
	FILE *f;

	if (strncmp(comm, prefix, strlen(prefix)))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	if (p &&
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		   &ut, &st) == 2)
		ns = (ut + st) * (1000000000ULL / sysconf(_SC_CLK_TCK));
	fclose(f);
	return ns;
}

/* CPU time (ns) of this process's threads whose name starts @prefix. */
static inline uint64_t nd_threads_cpu_ns(const char *prefix)
{
	int64_t ns = vdev_test_walk_threads(nd_thread_cpu_ns, (void *)prefix);

	return ns < 0 ? 0 : ns;
}

#endif /* _VDEV_NET_DEV_H */
