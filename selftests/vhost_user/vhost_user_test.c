// SPDX-License-Identifier: GPL-2.0
/*
 * The vhost-user back-end (lib/vhost_user.c) serving a virtio-net device
 * on a TAP, with the test as the front-end: it sends the real messages
 * over a socketpair (fds with SCM_RIGHTS), its guest memory is a memfd
 * the back-end maps itself, and it drives the rings as the guest driver
 * (selftests/vq_driver.h, through selftests/net/net_dev.h). With
 * REPLY_ACK negotiated every message is acknowledged, so each step is
 * done when the test goes on: no sleep synchronises anything.
 *
 *   [front-end + driver] =socketpair= back-end -> vdev-net <-> TAP --br0-- peer
 *
 * The reconnect test fails on purpose from the fault build with
 * VDEV_FAULT=leak-ctrl-worker (XFAIL_TESTS), with the signatures of
 * selftests/vdev_test.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vdev/vhost_user.h>

#include "../net/net_dev.h"
#include "core_priv.h"	/* lib/: the device's guest memory */
#include "vhost_user_priv.h"
#include "vu_fe.h"	/* the front-end, the back-end on a thread, the log */
#include "kselftest_harness.h"

#define TAP		"vu0"
#define FE_PROTO	((1ULL << VHOST_USER_PROTOCOL_F_MQ) |		\
			 (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |	\
			 (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |	\
			 (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |	\
			 (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | \
			 (1ULL << VHOST_USER_PROTOCOL_F_STATUS))
#define FE_FEAT		(ND_F_BASE | ND_F_MRG)

/* ---- the fixture ------------------------------------------------------------- */

FIXTURE(vu)
{
	struct nd nd;
	struct vdev_vhost_user *vu;
	struct srv srv;
	struct fe fe;
	int call[ND_MAXQ];	/* the call eventfd of each ring */
	int peer;
	int fds0, tasks0;
};

FIXTURE_VARIANT(vu)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(vu, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(vu, packed)
{
	.format = VQ_PACKED,
};

static uint64_t uva_of(struct nd *nd, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)nd->g.r[0].hva + (gpa - nd->g.r[0].gpa);
}

/* A new connection: socketpair, the server thread on one end. */
static int conn_open(struct __test_metadata *_metadata,
		     FIXTURE_DATA(vu) *self)
{
	int sv[2], i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	self->fe.sock = sv[0];
	self->fe.ack = false;
	for (i = 0; i < ND_MAXQ; i++) {
		self->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (self->call[i] < 0)
			return -errno;
	}
	self->srv.vu = self->vu;
	self->srv.fd = sv[1];
	self->srv.ret = 1;
	if (pthread_create(&self->srv.thread, NULL, srv_main, &self->srv)) {
		close(sv[1]);
		return -EAGAIN;
	}
	self->srv.started = true;
	return 0;
}

/* The front-end goes away: close, and the server's return value. */
static int conn_close(FIXTURE_DATA(vu) *self)
{
	int i, ret;

	if (self->fe.sock >= 0)
		close(self->fe.sock);
	self->fe.sock = -1;
	ret = srv_join(&self->srv);
	for (i = 0; i < ND_MAXQ; i++) {
		if (self->call[i] >= 0)
			close(self->call[i]);
		self->call[i] = -1;
	}
	return ret;
}

/* Features, protocol features (REPLY_ACK on from here), owner. */
static int fe_negotiate(FIXTURE_DATA(vu) *self, uint64_t features)
{
	struct fe *fe = &self->fe;
	uint64_t f, pf;
	int ret;

	ret = fe_get_u64(fe, VHOST_USER_GET_FEATURES, &f);
	if (ret)
		return ret;
	if (!(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) ||
	    (features & ~f))
		return -EPROTO;
	features |= nd_format_features(&self->nd);
	self->nd.features = features;
	ret = fe_u64(fe, VHOST_USER_SET_FEATURES,
		     features | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	if (!ret)
		ret = fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
	if (ret)
		return ret;
	if ((pf & FE_PROTO) != FE_PROTO)
		return -EPROTO;
	ret = fe_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, FE_PROTO);
	if (ret)
		return ret;
	fe->ack = true;
	return fe_msg(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
}

static int fe_mem_table(FIXTURE_DATA(vu) *self)
{
	struct vhost_user_memory m = { .nregions = 1 };
	struct vq_guest_region *r = &self->nd.g.r[0];

	m.regions[0].guest_phys_addr = r->gpa;
	m.regions[0].memory_size = r->size;
	m.regions[0].userspace_addr = (uintptr_t)r->hva;
	m.regions[0].mmap_offset = 0;
	return fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
		      8 + sizeof(m.regions[0]), &r->fd, 1);
}

/* Ring @i as laid out in nd->drv[i], from @base, started and enabled. */
static int fe_ring(FIXTURE_DATA(vu) *self, unsigned int i, unsigned int base)
{
	struct nd *nd = &self->nd;
	struct vhost_vring_addr a = {
		.index = i,
		.desc_user_addr = uva_of(nd, nd->drv[i].desc_gpa),
		.avail_user_addr = uva_of(nd, nd->drv[i].avail_gpa),
		.used_user_addr = uva_of(nd, nd->drv[i].used_gpa),
	};
	int ret;

	ret = fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, i,
		       nd->drv[i].size);
	if (!ret)
		ret = fe_state(&self->fe, VHOST_USER_SET_VRING_BASE, i, base);
	if (!ret)
		ret = fe_msg(&self->fe, VHOST_USER_SET_VRING_ADDR, &a,
			     sizeof(a), NULL, 0);
	if (!ret)
		ret = fe_vring_fd(&self->fe, VHOST_USER_SET_VRING_CALL, i,
				  self->call[i]);
	if (!ret)
		ret = fe_vring_fd(&self->fe, VHOST_USER_SET_VRING_KICK, i,
				  nd->kick[i]);
	if (!ret)
		ret = fe_state(&self->fe, VHOST_USER_SET_VRING_ENABLE, i, 1);
	return ret;
}

/*
 * A front-end's start: negotiate, the memory table, then @nrings fresh
 * rings from the start (the control queue is ring 2 with CTRL_VQ).
 */
static int fe_boot(FIXTURE_DATA(vu) *self, uint64_t features,
		   unsigned int nrings)
{
	unsigned int i;
	int ret;

	ret = fe_negotiate(self, features);
	if (!ret)
		ret = fe_mem_table(self);
	for (i = 0; !ret && i < nrings; i++) {
		ret = nd_ring_init(&self->nd, i, i);
		/* The start of a ring; packed: wrap counter 1 (bit 15). */
		if (!ret)
			ret = fe_ring(self, i, self->nd.format == VQ_PACKED ?
				      VHOST_USER_PACKED_WRAP : 0);
	}
	self->nd.nq = nrings;
	self->nd.ctrl = nrings > 2 ? 2 : -1;
	return ret;
}

FIXTURE_SETUP(vu)
{
	struct vdev_vhost_user_config cfg = { 0 };
	unsigned int i;

	self->peer = -1;
	self->vu = NULL;
	self->srv.started = false;
	self->fe.sock = -1;
	for (i = 0; i < ND_MAXQ; i++)
		self->call[i] = -1;
	log_reset();
	vdev_log_set_handler(log_capture);
	nd_init(&self->nd);
	self->nd.format = variant->format;
	self->nd.io = VDEV_NET_IO_SYSCALL;
	ASSERT_EQ(0, nd_netns());
	ASSERT_EQ(0, nt_tap_create(TAP, false));
	ASSERT_EQ(0, nd_plug_tap(TAP));
	ASSERT_EQ(0, nd_guest(&self->nd));
	ASSERT_EQ(0, nd_create(&self->nd, TAP, 1));
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	self->peer = nd_peer_socket(false);
	ASSERT_LE(0, self->peer);
	vdev_test_baseline(&self->fds0, &self->tasks0);
}

FIXTURE_TEARDOWN(vu)
{
	conn_close(self);
	vdev_vhost_user_destroy(self->vu);
	if (self->nd.dev)
		nd_destroy(&self->nd);
	nd_guest_fini(&self->nd);
	if (self->peer >= 0)
		close(self->peer);
	vdev_log_set_handler(NULL);
}

/* One frame from TX queue @qi to the peer; 0 or -errno. */
static int tx_one_on(struct nd *nd, unsigned int qi, int peer, uint32_t seq)
{
	uint8_t f[128], r[2048];
	ssize_t len;
	int ret;

	nd_frame(f, sizeof(f), nd->mac, seq);
	ret = nd_tx_add(nd, qi, NULL, f, sizeof(f));
	if (ret < 0)
		return ret;
	nd_kick(nd, qi);
	while ((len = nd_peer_recv(peer, r, sizeof(r), FE_WAIT_MS)) > 0)
		if (len == sizeof(f) && nd_frame_check(r, len) == seq)
			return 0;
	return len < 0 ? len : -ETIMEDOUT;
}

/* One frame from the driver to the peer, on the first pair. */
static int tx_one(struct nd *nd, int peer, uint32_t seq)
{
	return tx_one_on(nd, 1, peer, seq);
}

/* One frame from the peer to the driver (RX buffers already given). */
static int rx_one(struct nd *nd, int peer, uint32_t seq)
{
	struct virtio_net_hdr_v1 hdr;
	uint8_t f[128], r[2048];
	ssize_t len;

	nd_frame(f, sizeof(f), nd->mac, seq);
	f[6] = 0x02;	/* not the guest's own MAC */
	if (send(peer, f, sizeof(f), 0) != sizeof(f))
		return -errno;
	while ((len = nd_rx_wait(nd, 0, r, sizeof(r), &hdr, NULL,
				 FE_WAIT_MS)) > 0)
		if (len == sizeof(f) && nd_frame_check(r, len) == seq)
			return 0;
	return len < 0 ? -EPROTO : -ETIMEDOUT;
}

/* Was the call eventfd of ring @i signalled (within FE_WAIT_MS)? */
static bool called(FIXTURE_DATA(vu) *self, unsigned int i)
{
	struct pollfd pfd = { .fd = self->call[i], .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, FE_WAIT_MS) != 1)
		return false;
	return read(self->call[i], &v, sizeof(v)) == sizeof(v) && v;
}

/* ---- negotiation -------------------------------------------------------------- */

TEST_F(vu, negotiation)
{
	struct vhost_user_config c = { .offset = 0, .size = 6 };
	uint64_t v;
	int ret;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_QUEUE_NUM, &v));
	EXPECT_EQ(3, v);	/* one pair and the control queue */
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_MAX_MEM_SLOTS, &v));
	EXPECT_EQ(VDEV_MEM_MAX_REGIONS, v);
	ASSERT_EQ(0, fe_u64(&self->fe, VHOST_USER_SET_STATUS,
			    VIRTIO_CONFIG_S_ACKNOWLEDGE |
			    VIRTIO_CONFIG_S_DRIVER));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_STATUS, &v));
	EXPECT_EQ(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, v);
	/* GET_CONFIG: the MAC the device reports. */
	ASSERT_EQ(0, fe_send(&self->fe, VHOST_USER_GET_CONFIG, 0, &c,
			     VHOST_USER_CONFIG_HDR_SIZE + 6, NULL, 0));
	ret = fe_reply(&self->fe, VHOST_USER_GET_CONFIG, &c, sizeof(c));
	ASSERT_EQ(VHOST_USER_CONFIG_HDR_SIZE + 6, ret);
	EXPECT_EQ(0, memcmp(c.region, self->nd.mac, 6));
	ASSERT_EQ(0, fe_mem_table(self));
	/* Nothing started yet: the device waits for its rings. */
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/*
 * QEMU's order: virtio-net's reset attaches the first pair and detaches
 * the others (SET_VRING_ENABLE 1 and 0) before the vhost device starts,
 * that is before SET_FEATURES, with only GET_FEATURES' bit 30 seen.
 */
TEST_F(vu, vring_enable_before_set_features)
{
	uint64_t f;
	unsigned int i;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_FEATURES, &f));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_PROTOCOL_FEATURES,
				&f));
	ASSERT_EQ(0, fe_u64(&self->fe, VHOST_USER_SET_PROTOCOL_FEATURES,
			    FE_PROTO));
	self->fe.ack = true;
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, fe_state(&self->fe, VHOST_USER_SET_VRING_ENABLE,
				      i, 1));
	}
	ASSERT_EQ(0, fe_state(&self->fe, VHOST_USER_SET_VRING_ENABLE, 2, 0));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 0));
	EXPECT_EQ(0, conn_close(self));
}

/* ---- traffic -------------------------------------------------------------------- */

TEST_F(vu, traffic_both_ways)
{
	struct vdev_vhost_user_stats st;
	unsigned int i;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	EXPECT_TRUE(vdev_device_is_active(self->nd.dev));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, tx_one(&self->nd, self->peer, i));
	EXPECT_TRUE(called(self, 1));
	nd_rx_fill(&self->nd, 0, 32, ND_RXBUF);
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, rx_one(&self->nd, self->peer, 100 + i));
	EXPECT_TRUE(called(self, 0));
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
	vdev_vhost_user_get_stats(self->vu, &st);
	EXPECT_EQ(1, st.connections);
	EXPECT_EQ(0, st.errors);
}

/*
 * The guest breaks its TX ring: the device needs a reset, and every
 * ring's error eventfd (SET_VRING_ERR) is signalled, once; the
 * connection and the other rings' fds stay as they were.
 */
TEST_F(vu, guest_breaks_ring_err_fd_signalled)
{
	struct vq_driver *d = &self->nd.drv[1];
	int err[2], i;
	uint64_t v;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	for (i = 0; i < 2; i++) {
		err[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_LE(0, err[i]);
		ASSERT_EQ(0, fe_vring_fd(&self->fe, VHOST_USER_SET_VRING_ERR,
					 i, err[i]));
	}
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 1));
	EXPECT_FALSE(vdev_device_needs_reset(self->nd.dev));
	if (self->nd.format == VQ_PACKED)
		/* AVAIL as the lap wants, USED the same: not a descriptor. */
		vq_driver_pdesc_raw(d, d->next_avail, 0, 64, 0,
				    d->avail_wrap ?
				    VQ_PACKED_AVAIL | VQ_PACKED_USED : 0);
	else
		vq_driver_set_avail_idx(d, d->avail_idx + d->size + 1);
	v = 1;
	ASSERT_EQ(sizeof(v), write(self->nd.kick[1], &v, sizeof(v)));
	for (i = 0; i < 2; i++) {
		struct pollfd pfd = { .fd = err[i], .events = POLLIN };

		ASSERT_EQ(1, poll(&pfd, 1, FE_WAIT_MS)) TH_LOG("ring %d", i);
		ASSERT_EQ(sizeof(v), read(err[i], &v, sizeof(v)));
		EXPECT_EQ(1, v);
	}
	EXPECT_TRUE(vdev_device_needs_reset(self->nd.dev));
	EXPECT_TRUE(log_has("device needs reset"));
	EXPECT_EQ(0, conn_close(self));
	for (i = 0; i < 2; i++)
		close(err[i]);
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/*
 * GET_VRING_BASE stops the ring: its base comes back, nothing moves on
 * it any more while RX goes on; SET_VRING_* and a kick start it again at
 * that base, and the device goes on at the used index of the ring.
 */
TEST_F(vu, get_vring_base_stop_restart)
{
	struct vq_driver *d = &self->nd.drv[1];
	uint8_t f[128], r[2048];
	unsigned int base, i;
	bool seen = false;
	uint16_t used;
	ssize_t len;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tx_one(&self->nd, self->peer, i));
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, FE_WAIT_MS));

	ASSERT_EQ(0, fe_get_vring_base(&self->fe, 1, &base));
	/*
	 * Packed: 3 chains of 2 descriptors, wrap counter 1, for the
	 * driver side (bits 0-15) and the used side (bits 16-31).
	 */
	EXPECT_EQ(variant->format == VQ_PACKED ?
		  (6 | VHOST_USER_PACKED_WRAP) * 0x10001 : 3, base);
	/* Stopped: a frame queued now stays in the ring. */
	nd_frame(f, sizeof(f), self->nd.mac, 3);
	ASSERT_LE(0, nd_tx_add(&self->nd, 1, NULL, f, sizeof(f)));
	nd_kick(&self->nd, 1);
	used = variant->format == VQ_SPLIT ? VQ_READ(d->used->idx) : 0;
	/* RX still runs. */
	nd_rx_fill(&self->nd, 0, 8, ND_RXBUF);
	ASSERT_EQ(0, rx_one(&self->nd, self->peer, 50));
	if (variant->format == VQ_SPLIT)
		EXPECT_EQ(used, VQ_READ(d->used->idx));
	EXPECT_EQ(0, nd_tx_reclaim(&self->nd, 1));

	/* Start again where it stopped: the queued frame goes out. */
	ASSERT_EQ(0, fe_ring(self, 1, base));
	while (!seen && (len = nd_peer_recv(self->peer, r, sizeof(r),
					     FE_WAIT_MS)) > 0)
		seen = len == sizeof(f) && nd_frame_check(r, len) == 3;
	EXPECT_TRUE(seen);
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, FE_WAIT_MS));
	if (variant->format == VQ_SPLIT)
		EXPECT_EQ(4, VQ_READ(d->used->idx));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 4));
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/*
 * rust-vmm/vhost #180: a second boot on rings whose used->idx is not
 * zero (every ring stopped, then started on a ring whose indices are at
 * K, base K). The device must take its used index from the ring, not
 * from 0 or from where it was. The packed ring has no used index to
 * read: it starts again on the same rings at the bases GET_VRING_BASE
 * returned, wrap counters included.
 */
TEST_F(vu, restart_used_idx_not_zero)
{
	const uint16_t k = 1000;
	unsigned int base[2], i;
	struct vq_driver *d;
	uint16_t used;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 0));
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, FE_WAIT_MS));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, fe_get_vring_base(&self->fe, i, &base[i]));
	/* Every ring stopped: the device is reset, its workers joined. */
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));
	EXPECT_EQ(0, vdev_test_settle_threads_named_ms("vdev-net", 0,
							 VDEV_TEST_SETTLE_MS));

	if (variant->format == VQ_PACKED) {
		for (i = 0; i < 2; i++)
			ASSERT_EQ(0, fe_ring(self, i, base[i]));
		EXPECT_TRUE(vdev_device_is_active(self->nd.dev));
		for (i = 1; i < 4; i++)
			ASSERT_EQ(0, tx_one(&self->nd, self->peer, i));
		nd_rx_fill(&self->nd, 0, 8, ND_RXBUF);
		ASSERT_EQ(0, rx_one(&self->nd, self->peer, 10));
		EXPECT_EQ(0, conn_close(self));
		return;
	}

	/* The second boot: both rings at index k, base k. */
	for (i = 0; i < 2; i++) {
		d = &self->nd.drv[i];
		ASSERT_EQ(0, nd_ring_init(&self->nd, i, i));
		d->avail_idx = d->published = d->last_used = k;
		VQ_WRITE(d->avail->idx, htole16(k));
		VQ_WRITE(d->used->idx, htole16(k));
		/* Where the device last asked to be kicked. */
		VQ_WRITE(d->used->ring[d->size].id, htole16(k));
		ASSERT_EQ(0, fe_ring(self, i, k));
	}
	EXPECT_TRUE(vdev_device_is_active(self->nd.dev));
	d = &self->nd.drv[1];
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 1));
	ASSERT_TRUE(nd_tx_drain(&self->nd, 1, FE_WAIT_MS));
	EXPECT_EQ(k + 1, le16toh(VQ_READ(d->used->idx)));
	nd_rx_fill(&self->nd, 0, 8, ND_RXBUF);
	ASSERT_EQ(0, rx_one(&self->nd, self->peer, 2));
	/* RX went on from k as well (a stray frame may have come first). */
	used = le16toh(VQ_READ(self->nd.drv[0].used->idx));
	EXPECT_TRUE(used > k && used <= k + 8) {
		TH_LOG("RX used->idx %u after starting at %u", used, k);
	}
	EXPECT_EQ(0, conn_close(self));
}

/*
 * The front-end goes away during traffic (QEMU killed): serve_fd returns
 * 0, every worker is joined and every fd it was given closed; a second
 * connection works on the same device; once the device is destroyed its
 * TAP opens again at once (no EBUSY). The control queue is the back-end's
 * here, so that the control worker holds TAP fds (what the fault build
 * leaks).
 */
TEST_F(vu, reconnect_after_close_mid_traffic)
{
	uint64_t feat = FE_FEAT | ND_F_CTRL;
	uint8_t f[128];
	unsigned int i;
	bool leaked;
	int fd;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, feat, 3));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 0));
	nd_rx_fill(&self->nd, 0, 64, ND_RXBUF);
	/* Mid-traffic: frames queued both ways, then the close. */
	for (i = 0; i < 32; i++) {
		nd_frame(f, sizeof(f), self->nd.mac, 10 + i);
		if (nd_tx_add(&self->nd, 1, NULL, f, sizeof(f)) < 0)
			break;
		f[6] = 0x02;
		EXPECT_EQ(sizeof(f), send(self->peer, f, sizeof(f), 0));
	}
	nd_kick(&self->nd, 1);
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));
	leaked = vdev_test_leaked(self->fds0, self->tasks0,
				  VDEV_TEST_SETTLE_MS, 0);
	EXPECT_FALSE(leaked);

	if (!leaked) {
		/* The next front-end: same device, same TAP. */
		ASSERT_EQ(0, conn_open(_metadata, self));
		ASSERT_EQ(0, fe_boot(self, feat, 3));
		ASSERT_EQ(0, tx_one(&self->nd, self->peer, 100));
		/* Room for what the TAP still holds from the first one. */
		nd_rx_fill(&self->nd, 0, 128, ND_RXBUF);
		ASSERT_EQ(0, rx_one(&self->nd, self->peer, 101));
		EXPECT_EQ(0, conn_close(self));
		EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
					      VDEV_TEST_SETTLE_MS, 1));
	}

	vdev_vhost_user_destroy(self->vu);
	self->vu = NULL;
	nd_destroy(&self->nd);
	fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	if (fd == -EBUSY)
		vdev_test_report_ebusy(TAP, 1);
	ASSERT_LE(0, fd) {
		TH_LOG("TUNSETIFF %s: %s", TAP, strerror(-fd));
	}
	close(fd);
}

/*
 * Multiqueue with the control queue kept by the front-end (as QEMU does
 * for vhost-user-net): nobody sends MQ_VQ_PAIRS_SET to the device, so
 * every pair the front-end started must carry traffic, its TAP queue
 * attached.
 */
TEST_F(vu, mq_every_pair_carries_traffic)
{
	struct vdev_vhost_user_config cfg = { 0 };
	unsigned int p;

	vdev_vhost_user_destroy(self->vu);
	self->vu = NULL;
	nd_destroy(&self->nd);
	ASSERT_EQ(0, nt_tap_create("vum0", true));
	ASSERT_EQ(0, nd_plug_tap("vum0"));
	ASSERT_EQ(0, nd_create(&self->nd, "vum0", 2));
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT | ND_F_MQ, 4));
	ASSERT_EQ(0, nd_wait_forwarding("vum0"));
	EXPECT_EQ(2, vdev_net_active_pairs(self->nd.dev));
	for (p = 0; p < 2; p++)
		EXPECT_EQ(0, tx_one_on(&self->nd, 2 * p + 1, self->peer, p)) {
			TH_LOG("pair %u: no frame at the peer", p);
		}
	EXPECT_EQ(0, conn_close(self));
}

static int fe_mem_reg(FIXTURE_DATA(vu) *self, uint32_t req)
{
	struct vq_guest_region *r = &self->nd.g.r[0];
	struct vhost_user_mem_reg m = {
		.region = {
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		},
	};

	return fe_msg(&self->fe, req, &m, sizeof(m), &r->fd,
		      req == VHOST_USER_ADD_MEM_REG);
}

/*
 * CONFIGURE_MEM_SLOTS as QEMU uses it with several queue pairs: each
 * pair's vhost device adds the guest's regions on the one connection,
 * and removes them again. The same region added twice is one mapping,
 * there until the last remove; the rings in it keep running.
 */
TEST_F(vu, mem_slots_same_region_twice)
{
	unsigned int i;
	int ret;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(0, fe_mem_reg(self, VHOST_USER_ADD_MEM_REG));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, nd_ring_init(&self->nd, i, i));
		ASSERT_EQ(0, fe_ring(self, i, self->nd.format == VQ_PACKED ?
				     VHOST_USER_PACKED_WRAP : 0));
	}
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 0));
	/* A second vhost device of the front-end: the same region. */
	ASSERT_EQ(0, fe_mem_reg(self, VHOST_USER_ADD_MEM_REG));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 1));
	ASSERT_EQ(0, fe_mem_reg(self, VHOST_USER_REM_MEM_REG));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 2));
	/* The last remove while a ring lives in it: refused. */
	ret = fe_mem_reg(self, VHOST_USER_REM_MEM_REG);
	EXPECT_EQ(-EIO, ret);
	EXPECT_EQ(-EBUSY, conn_close(self));
	EXPECT_TRUE(log_has("REM_MEM_REG: cannot remove"));
}

/*
 * The guest's memory as two regions of its memfd: RX queue 0's buffers
 * (nd->buf[0], at the start), and the rest, which holds every ring.
 */
#define BUFS_SIZE	((uint64_t)ND_QSZ * ND_RXBUF)

static int fe_bufs_reg(FIXTURE_DATA(vu) *self, uint32_t req, bool bufs)
{
	struct vq_guest_region *r = &self->nd.g.r[0];
	uint64_t off = bufs ? 0 : BUFS_SIZE;
	struct vhost_user_mem_reg m = {
		.region = {
			.guest_phys_addr = r->gpa + off,
			.memory_size = bufs ? BUFS_SIZE : r->size - BUFS_SIZE,
			.userspace_addr = (uintptr_t)r->hva + off,
			.mmap_offset = off,
		},
	};

	return fe_msg(&self->fe, req, &m, sizeof(m), &r->fd,
		      req == VHOST_USER_ADD_MEM_REG);
}

/*
 * The back-end's own mapping of the buffer region (file offset 0 of
 * region 0's memfd): in /proc/self/maps, the mapping of that memfd's
 * inode at offset 0 that is not the test's own view. Read from outside,
 * as a tool would, not through the device's private state.
 */
static void *bufs_mapping(FIXTURE_DATA(vu) *self)
{
	const struct vq_guest_region *r = &self->nd.g.r[0];
	unsigned long lo, hi, off, ino;
	unsigned int maj, min;
	void *found = NULL;
	char line[512], perms[8];
	struct stat st;
	FILE *f;

	if (fstat(r->fd, &st))
		return NULL;
	f = fopen("/proc/self/maps", "r");
	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms,
			   &off, &maj, &min, &ino) != 7)
			continue;
		if (ino != st.st_ino || off != 0 || hi - lo < BUFS_SIZE ||
		    (uint8_t *)lo == r->hva || (uint8_t *)lo == r->wr)
			continue;
		found = (void *)lo;
	}
	fclose(f);
	return found;
}

/* A new device and back-end, with TAP I/O path @io; false: not here. */
static bool reopen_io(struct __test_metadata *_metadata,
		      FIXTURE_DATA(vu) *self, enum vdev_net_io io)
{
	struct vdev_vhost_user_config cfg = { 0 };
	int ret;

	vdev_vhost_user_destroy(self->vu);
	self->vu = NULL;
	nd_destroy(&self->nd);
	self->nd.io = io;
	ret = nd_create(&self->nd, TAP, 1);
	if (ret && io == VDEV_NET_IO_URING)
		return false;
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	vdev_test_baseline(&self->fds0, &self->tasks0);
	return true;
}

/*
 * SET_MEM_TABLE of the rings' region and of the buffers' region, the
 * latter as one region, or (@split) as two halves: a new mapping.
 */
static int fe_bufs_table(FIXTURE_DATA(vu) *self, bool split)
{
	struct vq_guest_region *r = &self->nd.g.r[0];
	struct vhost_user_memory m = { .nregions = split ? 3 : 2 };
	int fds[3] = { r->fd, r->fd, r->fd };
	uint64_t off[3] = { BUFS_SIZE, 0, BUFS_SIZE / 2 };
	uint64_t size[3] = { r->size - BUFS_SIZE, BUFS_SIZE, BUFS_SIZE / 2 };
	unsigned int i;

	if (split)
		size[1] = BUFS_SIZE / 2;
	for (i = 0; i < m.nregions; i++) {
		m.regions[i].guest_phys_addr = r->gpa + off[i];
		m.regions[i].memory_size = size[i];
		m.regions[i].userspace_addr = (uintptr_t)r->hva + off[i];
		m.regions[i].mmap_offset = off[i];
	}
	return fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
		      8 + m.nregions * sizeof(m.regions[0]), fds, m.nregions);
}

/*
 * The region RX buffers are posted in goes while the TAP is idle (with
 * io_uring a readv into one of them is armed in the kernel): SET_MEM_TABLE
 * maps it anew (@hostile false), or (@hostile) REM_MEM_REG drops it and
 * ADD_MEM_REG brings it back. What the back-end mapped before is taken
 * by a canary, so that a read left armed would write there. The canary
 * stays as it was; the frame lands in the guest's buffer through the
 * new mapping, or (@hostile: the buffers were outside guest memory for
 * a while) the device needs a reset. Then the device goes on.
 */
static void mem_swap_under_rx(struct __test_metadata *_metadata,
			      FIXTURE_DATA(vu) *self, bool hostile)
{
	uint8_t *old, *canary;
	uint64_t i, bad = 0;
	int ret;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	if (hostile) {
		ASSERT_EQ(0, fe_bufs_reg(self, VHOST_USER_ADD_MEM_REG, false));
		ASSERT_EQ(0, fe_bufs_reg(self, VHOST_USER_ADD_MEM_REG, true));
	} else {
		ASSERT_EQ(0, fe_bufs_table(self, false));
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, nd_ring_init(&self->nd, i, i));
		ASSERT_EQ(0, fe_ring(self, i, self->nd.format == VQ_PACKED ?
				     VHOST_USER_PACKED_WRAP : 0));
	}
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 0));
	nd_rx_fill(&self->nd, 0, 8, ND_RXBUF);
	/* Time for the worker to post its reads: the TAP has no frame. */
	usleep(100 * 1000);
	old = bufs_mapping(self);
	ASSERT_NE(NULL, old);
	ret = hostile ? fe_bufs_reg(self, VHOST_USER_REM_MEM_REG, true) :
			fe_bufs_table(self, true);
	ASSERT_EQ(0, ret);
	canary = mmap(old, BUFS_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(old, canary);
	memset(canary, 0x5a, BUFS_SIZE);
	ret = hostile ? fe_bufs_reg(self, VHOST_USER_ADD_MEM_REG, true) : 0;
	ASSERT_EQ(0, ret);
	ret = rx_one(&self->nd, self->peer, 1);
	for (i = 0; i < BUFS_SIZE; i++)
		bad += canary[i] != 0x5a;
	EXPECT_EQ(0, bad) {
		TH_LOG("%llu bytes written into the old mapping",
		       (unsigned long long)bad);
	}
	if (hostile && ret) {
		EXPECT_TRUE(log_has("outside guest memory"));
	} else {
		EXPECT_EQ(0, ret);
		EXPECT_EQ(0, rx_one(&self->nd, self->peer, 2));
		EXPECT_EQ(0, tx_one(&self->nd, self->peer, 3));
		EXPECT_TRUE(vdev_device_is_active(self->nd.dev));
	}
	EXPECT_EQ(0, conn_close(self));
	munmap(canary, BUFS_SIZE);
	/* The next front-end finds the device as good as new. */
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	nd_rx_fill(&self->nd, 0, 8, ND_RXBUF);
	EXPECT_EQ(0, rx_one(&self->nd, self->peer, 4));
	EXPECT_EQ(0, tx_one(&self->nd, self->peer, 5));
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

TEST_F(vu, mem_table_swap_under_rx_uring)
{
	if (!reopen_io(_metadata, self, VDEV_NET_IO_URING))
		SKIP(return, "no io_uring for the TAP here");
	mem_swap_under_rx(_metadata, self, false);
}

TEST_F(vu, mem_table_swap_under_rx_syscall)
{
	reopen_io(_metadata, self, VDEV_NET_IO_SYSCALL);
	mem_swap_under_rx(_metadata, self, false);
}

TEST_F(vu, hostile_mem_reg_swap_under_rx_uring)
{
	if (!reopen_io(_metadata, self, VDEV_NET_IO_URING))
		SKIP(return, "no io_uring for the TAP here");
	mem_swap_under_rx(_metadata, self, true);
}

TEST_F(vu, hostile_mem_reg_swap_under_rx_syscall)
{
	reopen_io(_metadata, self, VDEV_NET_IO_SYSCALL);
	mem_swap_under_rx(_metadata, self, true);
}

/* vdev_vhost_user_stop() wakes a serve_fd waiting for a message. */
TEST_F(vu, stop_wakes_serve)
{
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	vdev_vhost_user_stop(self->vu);
	EXPECT_EQ(0, srv_join(&self->srv));
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));
}

/*
 * A front-end that sends requests and never reads the replies: the
 * back-end blocks sending one. stop() must still end serve_fd().
 */
TEST_F(vu, stop_wakes_serve_blocked_on_reply)
{
	struct vhost_user_hdr h = {
		.request = VHOST_USER_GET_FEATURES,
		.flags = VHOST_USER_VERSION,
	};
	struct pollfd pfd = { .events = POLLOUT };
	uint64_t end = nd_now_ns() + 10000000000ULL;

	ASSERT_EQ(0, conn_open(_metadata, self));
	pfd.fd = self->fe.sock;
	/* Until the back-end stops reading: its replies fill our socket. */
	while (nd_now_ns() < end) {
		if (send(self->fe.sock, &h, sizeof(h), MSG_DONTWAIT) ==
		    sizeof(h))
			continue;
		ASSERT_EQ(EAGAIN, errno);
		if (poll(&pfd, 1, 200) == 0)
			break;
	}
	ASSERT_GT(end, nd_now_ns());
	vdev_vhost_user_stop(self->vu);
	EXPECT_EQ(0, srv_join(&self->srv));
}

/* ---- run(): server and client mode ------------------------------------------------ */

struct runner {
	struct vdev_vhost_user *vu;
	int ret;
	pthread_t thread;
};

static void *run_main(void *arg)
{
	struct runner *r = arg;

	r->ret = vdev_vhost_user_run(r->vu);
	return NULL;
}

static int run_join(struct runner *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	if (pthread_timedjoin_np(r->thread, NULL, &ts))
		return -ETIMEDOUT;
	return r->ret;
}

static void sock_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/vdev-vu-test-%d.sock", getpid());
}

/* Connect to @path, retrying for up to FE_WAIT_MS (the server starts). */
static int connect_retry(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, i;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (i = 0; i < FE_WAIT_MS; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		close(fd);
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* A front-end on @fd: boot, one frame out, close. */
static int fe_session(FIXTURE_DATA(vu) *self, int fd, uint32_t seq)
{
	int ret;

	self->fe.sock = fd;
	self->fe.ack = false;
	ret = fe_boot(self, FE_FEAT, 2);
	if (!ret)
		ret = tx_one(&self->nd, self->peer, seq);
	close(fd);
	self->fe.sock = -1;
	return ret;
}

/* Server mode: two front-ends one after the other, then stop(). */
TEST_F(vu, run_server_two_connections)
{
	struct vdev_vhost_user_config cfg = { 0 };
	struct vdev_vhost_user_stats st;
	struct runner r = { 0 };
	char path[108];
	int i, fd;

	sock_path(path, sizeof(path));
	cfg.socket_path = path;
	vdev_vhost_user_destroy(self->vu);
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	r.vu = self->vu;
	for (i = 0; i < ND_MAXQ; i++)
		self->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, run_main, &r));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	for (i = 0; i < 2; i++) {
		fd = connect_retry(path);
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, fe_session(self, fd, i));
	}
	vdev_vhost_user_stop(self->vu);
	EXPECT_EQ(0, run_join(&r));
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));
	EXPECT_NE(0, access(path, F_OK));	/* the socket is removed */
	vdev_vhost_user_get_stats(self->vu, &st);
	EXPECT_EQ(2, st.connections);
	EXPECT_EQ(0, st.errors);
}

/* Client mode: connects, and connects again when the front-end closes. */
TEST_F(vu, run_client_reconnects)
{
	struct vdev_vhost_user_config cfg = { .reconnect_ms = 10 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd = { .events = POLLIN };
	struct runner r = { 0 };
	char path[108];
	int i, lfd, fd;

	sock_path(path, sizeof(path));
	cfg.socket_path = path;
	cfg.client = true;
	vdev_vhost_user_destroy(self->vu);
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	r.vu = self->vu;
	for (i = 0; i < ND_MAXQ; i++)
		self->call[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* The back-end first, retrying until the front-end listens. */
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, run_main, &r));
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(lfd, 1));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	pfd.fd = lfd;
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(1, poll(&pfd, 1, FE_WAIT_MS));
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, fe_session(self, fd, i));
	}
	vdev_vhost_user_stop(self->vu);
	EXPECT_EQ(0, run_join(&r));
	close(lfd);
	unlink(path);
}

/* A socket that cannot be set up: -errno and one clear line. */
TEST_F(vu, run_bind_fails)
{
	struct vdev_vhost_user_config cfg = {
		.socket_path = "/nonexistent-dir/vu.sock",
	};

	vdev_vhost_user_destroy(self->vu);
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	EXPECT_EQ(-ENOENT, vdev_vhost_user_run(self->vu));
	EXPECT_TRUE(log_has("cannot listen on /nonexistent-dir/vu.sock"));
}

/* ---- hostile front-ends ------------------------------------------------------------ */

/*
 * The connection ends with @err and the line @line was logged; the
 * device is reset, nothing of the connection is left.
 */
#define EXPECT_HOSTILE(err, line) do {					\
	EXPECT_EQ(err, conn_close(self));				\
	if (!log_has(line))						\
		TH_LOG("no '%s' in the log:\n%s", line, log_buf);	\
	EXPECT_TRUE(log_has(line));					\
	EXPECT_FALSE(vdev_device_is_active(self->nd.dev));		\
	EXPECT_EQ(0, vdev_test_settle_threads_named_ms("vdev-net", 0,	\
							VDEV_TEST_SETTLE_MS));	\
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,		\
				      VDEV_TEST_SETTLE_MS, 0));		\
} while (0)

TEST_F(vu, hostile_wrong_size)
{
	uint32_t v = 0;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_send(&self->fe, VHOST_USER_SET_FEATURES, 0, &v,
			     sizeof(v), NULL, 0));
	EXPECT_HOSTILE(-EPROTO, "SET_FEATURES: payload of 4 bytes, expected 8");
}

/*
 * A bad message right after one that sent its own reply (GET_FEATURES)
 * still gets its NACK when it asked for one: the reply state is the
 * message's own.
 */
TEST_F(vu, hostile_wrong_size_after_get_nacked)
{
	uint32_t v = 0;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_FEATURES,
				&self->nd.features));
	EXPECT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_FEATURES, &v,
			       sizeof(v), NULL, 0));
	EXPECT_HOSTILE(-EPROTO, "SET_FEATURES: payload of 4 bytes, expected 8");
}

TEST_F(vu, hostile_oversized_payload)
{
	static char big[4096];

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_send(&self->fe, VHOST_USER_SET_MEM_TABLE, 0, big,
			     sizeof(big), NULL, 0));
	EXPECT_HOSTILE(-EPROTO, "SET_MEM_TABLE: payload of 4096 bytes");
}

TEST_F(vu, hostile_wrong_fd_count)
{
	struct vhost_user_memory m = { .nregions = 1 };

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	m.regions[0].guest_phys_addr = self->nd.g.r[0].gpa;
	m.regions[0].memory_size = self->nd.g.r[0].size;
	m.regions[0].userspace_addr = (uintptr_t)self->nd.g.r[0].hva;
	ASSERT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
				 8 + sizeof(m.regions[0]), NULL, 0));
	EXPECT_HOSTILE(-EPROTO, "SET_MEM_TABLE: 0 fds for 1 regions");
}

TEST_F(vu, hostile_fds_on_a_message_without)
{
	int fd = self->nd.kick[0];

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_OWNER, NULL, 0,
				 &fd, 1));
	EXPECT_HOSTILE(-EPROTO, "SET_OWNER: 1 fds, expected none");
}

static int mem_table2(FIXTURE_DATA(vu) *self, uint64_t gpa2, uint64_t size2,
		      uint64_t uva2)
{
	struct vq_guest_region *r = &self->nd.g.r[0];
	struct vhost_user_memory m = { .nregions = 2 };
	int fds[2] = { r->fd, r->fd };

	m.regions[0].guest_phys_addr = r->gpa;
	m.regions[0].memory_size = 1 << 20;
	m.regions[0].userspace_addr = (uintptr_t)r->hva;
	m.regions[1].guest_phys_addr = gpa2;
	m.regions[1].memory_size = size2;
	m.regions[1].userspace_addr = uva2;
	m.regions[1].mmap_offset = 1 << 20;
	return fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
		      8 + 2 * sizeof(m.regions[0]), fds, 2);
}

TEST_F(vu, hostile_overlapping_regions)
{
	uint64_t gpa = self->nd.g.r[0].gpa;
	uint64_t uva = (uintptr_t)self->nd.g.r[0].hva;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(-EIO, mem_table2(self, gpa + 4096, 1 << 20,
				     uva + (1 << 20)));
	EXPECT_HOSTILE(-EINVAL, "overlaps the one at");
}

TEST_F(vu, hostile_zero_sized_region)
{
	uint64_t gpa = self->nd.g.r[0].gpa;
	uint64_t uva = (uintptr_t)self->nd.g.r[0].hva;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(-EIO, mem_table2(self, gpa + (1 << 20), 0,
				     uva + (1 << 20)));
	EXPECT_HOSTILE(-EINVAL, "zero size");
}

TEST_F(vu, hostile_fd_not_mappable)
{
	struct vhost_user_memory m = { .nregions = 1 };
	int efd = eventfd(0, EFD_CLOEXEC);

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	m.regions[0].guest_phys_addr = self->nd.g.r[0].gpa;
	m.regions[0].memory_size = 1 << 20;
	m.regions[0].userspace_addr = (uintptr_t)self->nd.g.r[0].hva;
	ASSERT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
				 8 + sizeof(m.regions[0]), &efd, 1));
	close(efd);
	EXPECT_HOSTILE(-ENODEV, "SET_MEM_TABLE: cannot map the 1 regions");
}

/*
 * A memfd without F_SEAL_SHRINK: the front-end could shrink it once
 * mapped, and a worker touching the guest's memory would get SIGBUS.
 * Refused by SET_MEM_TABLE and by ADD_MEM_REG.
 */
static int unsealed_memfd(void)
{
	int fd = memfd_create("vu-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && ftruncate(fd, 1 << 20)) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST_F(vu, hostile_unsealed_memfd)
{
	struct vhost_user_memory m = { .nregions = 1 };
	int fd = unsealed_memfd();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	m.regions[0].guest_phys_addr = self->nd.g.r[0].gpa;
	m.regions[0].memory_size = 1 << 20;
	m.regions[0].userspace_addr = (uintptr_t)self->nd.g.r[0].hva;
	EXPECT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
				 8 + sizeof(m.regions[0]), &fd, 1));
	close(fd);
	EXPECT_HOSTILE(-EINVAL, "SET_MEM_TABLE: fd 0: not sealed against shrinking");
}

TEST_F(vu, hostile_unsealed_memfd_add_mem_reg)
{
	struct vhost_user_mem_reg m = {
		.region = {
			.guest_phys_addr = self->nd.g.r[0].gpa,
			.memory_size = 1 << 20,
			.userspace_addr = (uintptr_t)self->nd.g.r[0].hva,
		},
	};
	int fd = unsealed_memfd();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	EXPECT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_ADD_MEM_REG, &m,
				 sizeof(m), &fd, 1));
	close(fd);
	EXPECT_HOSTILE(-EINVAL, "ADD_MEM_REG: fd 0: not sealed against shrinking");
}

/* The guest's memfd as QEMU seals it (shrink, grow): mapped. */
TEST_F(vu, sealed_memfd_accepted)
{
	int seals = fcntl(self->nd.g.r[0].fd, F_GET_SEALS);

	ASSERT_LE(0, seals);
	EXPECT_TRUE(seals & F_SEAL_SHRINK);
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	EXPECT_EQ(0, fe_mem_table(self));
	EXPECT_EQ(0, fe_mem_reg(self, VHOST_USER_ADD_MEM_REG));
	EXPECT_EQ(0, conn_close(self));
}

/*
 * A region past the end of its file, or at an offset that is not a
 * page multiple: refused with one line, the back-end's own (not the
 * memory map's as well).
 */
TEST_F(vu, hostile_region_past_end_of_file)
{
	struct vq_guest_region *r = &self->nd.g.r[0];
	struct vhost_user_memory m = { .nregions = 1 };

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	m.regions[0].guest_phys_addr = r->gpa;
	m.regions[0].memory_size = r->size;
	m.regions[0].userspace_addr = (uintptr_t)r->hva;
	m.regions[0].mmap_offset = 1 << 20;
	EXPECT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
				 8 + sizeof(m.regions[0]), &r->fd, 1));
	EXPECT_HOSTILE(-EINVAL, "past the end of its file");
	EXPECT_EQ(1, log_count("past the end")) {
		TH_LOG("log:\n%s", log_buf);
	}
}

TEST_F(vu, hostile_region_offset_unaligned)
{
	struct vq_guest_region *r = &self->nd.g.r[0];
	struct vhost_user_mem_reg m = {
		.region = {
			.guest_phys_addr = r->gpa,
			.memory_size = 1 << 20,
			.userspace_addr = (uintptr_t)r->hva,
			.mmap_offset = 512,
		},
	};

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	EXPECT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_ADD_MEM_REG, &m,
				 sizeof(m), &r->fd, 1));
	EXPECT_HOSTILE(-EINVAL, "not a multiple of the page size");
	EXPECT_EQ(0, log_count("mmap of fd")) {
		TH_LOG("log:\n%s", log_buf);
	}
}

TEST_F(vu, hostile_ring_outside_memory)
{
	struct vhost_vring_addr a = {
		.index = 0,
		.desc_user_addr = 0x1000,
		.avail_user_addr = 0x2000,
		.used_user_addr = 0x3000,
	};

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(0, fe_mem_table(self));
	ASSERT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_VRING_ADDR, &a,
				 sizeof(a), NULL, 0));
	EXPECT_HOSTILE(-EINVAL, "outside every memory region");
}

/* Split: a power of two. Packed: any size, but not 0. */
TEST_F(vu, hostile_num_not_power_of_two)
{
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	if (variant->format == VQ_PACKED) {
		ASSERT_EQ(0, fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, 0,
				      100));
		ASSERT_EQ(-EIO, fe_state(&self->fe, VHOST_USER_SET_VRING_NUM,
					 0, 0));
		EXPECT_HOSTILE(-EINVAL, "size 0 (1 to 256)");
		return;
	}
	ASSERT_EQ(-EIO, fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, 0,
				   100));
	EXPECT_HOSTILE(-EINVAL, "size 100 not a power of two");
}

TEST_F(vu, hostile_num_above_max)
{
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(-EIO, fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, 0,
				   2 * ND_QSZ));
	EXPECT_HOSTILE(-EINVAL, "size 512 (1 to 256)");
}

TEST_F(vu, hostile_base_above_num)
{
	unsigned int base = variant->format == VQ_PACKED ? ND_QSZ : 0x10000;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(0, fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, 0, ND_QSZ));
	ASSERT_EQ(-EIO, fe_state(&self->fe, VHOST_USER_SET_VRING_BASE, 0,
				   base));
	EXPECT_HOSTILE(-EINVAL, variant->format == VQ_PACKED ?
		       "base 0x100 above size 256" : "above 16 bits");
}

TEST_F(vu, hostile_unknown_request)
{
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(-EIO, fe_msg(&self->fe, 999, NULL, 0, NULL, 0));
	EXPECT_HOSTILE(-EPROTO, "unknown request 999");
}

/* A hostile message while traffic runs: the workers are joined too. */
TEST_F(vu, hostile_while_running)
{
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 0));
	EXPECT_LT(0, vdev_test_count_threads_named("vdev-net"));
	ASSERT_EQ(-EIO, fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, 1, 64));
	EXPECT_HOSTILE(-EBUSY, "SET_VRING_NUM: ring 1 is running");
	/* And the next front-end is served. */
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, tx_one(&self->nd, self->peer, 1));
	EXPECT_EQ(0, conn_close(self));
}

/*
 * A call fd that is not an eventfd (the write end of a pipe whose read
 * end is closed): a worker raising the interrupt would get SIGPIPE.
 * Refused at SET_VRING_CALL.
 */
TEST_F(vu, hostile_call_fd_not_eventfd)
{
	int p[2], ret;

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	close(p[0]);
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	ret = fe_vring_fd(&self->fe, VHOST_USER_SET_VRING_CALL, 1, p[1]);
	close(p[1]);
	EXPECT_EQ(-EIO, ret);
	/* Accepted (the bug): the next used buffer raises SIGPIPE. */
	if (!ret)
		EXPECT_EQ(0, tx_one(&self->nd, self->peer, 0));
	EXPECT_HOSTILE(-EINVAL, "SET_VRING_CALL: ring 1: fd is not an eventfd");
}

/* A front-end thread that takes every kick back as soon as it can. */
struct drainer {
	int fd;
	atomic_bool stop;
	pthread_t thread;
};

static void *drain_main(void *arg)
{
	struct drainer *d = arg;
	uint64_t v;

	while (!atomic_load(&d->stop))
		if (read(d->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
	return NULL;
}

/*
 * A blocking kick eventfd the front-end drains itself: the back-end makes
 * it non-blocking, so a worker woken for a kick the front-end took back
 * never blocks in read(), and GET_VRING_BASE stops the ring in time.
 */
TEST_F(vu, kick_fd_blocking_made_nonblocking)
{
	struct drainer d = { 0 };
	struct timespec ts;
	unsigned int base, i;
	uint64_t one = 1;

	close(self->nd.kick[1]);
	self->nd.kick[1] = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, self->nd.kick[1]);
	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_boot(self, FE_FEAT, 2));
	ASSERT_EQ(0, nd_wait_forwarding(TAP));
	EXPECT_TRUE(fcntl(self->nd.kick[1], F_GETFL) & O_NONBLOCK);
	/*
	 * Kicks, each raced for by the TX worker and a front-end thread
	 * reading the same eventfd: a worker woken for a kick the other
	 * took blocks in read() if the fd blocks.
	 */
	d.fd = self->nd.kick[1];
	ASSERT_EQ(0, pthread_create(&d.thread, NULL, drain_main, &d));
	for (i = 0; i < 2000; i++) {
		ASSERT_EQ(sizeof(one), write(d.fd, &one, sizeof(one)));
		usleep(50);
	}
	/* fe_reply() waits FE_WAIT_MS at most: a hung worker fails here. */
	EXPECT_EQ(0, fe_get_vring_base(&self->fe, 1, &base));
	atomic_store(&d.stop, true);
	/* Only a blocking fd keeps the drainer in read(): kick it out. */
	for (i = 0; i < 100; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!pthread_timedjoin_np(d.thread, NULL, &ts))
			break;
		ASSERT_EQ(sizeof(one), write(d.fd, &one, sizeof(one)));
	}
	ASSERT_GT(100, i);
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/*
 * VIRTIO_F_RING_RESET has no vhost-user message (a guest's per-queue
 * reset would go unseen by the back-end): not offered, and a front-end
 * that sets it anyway is refused.
 */
TEST_F(vu, ring_reset_not_offered)
{
	uint64_t f;

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_FEATURES, &f));
	EXPECT_EQ(0, f & (1ULL << VIRTIO_F_RING_RESET));
	EXPECT_NE(0, f & (1ULL << VIRTIO_F_VERSION_1));
	self->fe.ack = false;
	ASSERT_EQ(0, fe_u64(&self->fe, VHOST_USER_SET_FEATURES,
			    (f & ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) |
			    (1ULL << VIRTIO_F_RING_RESET)));
	/* SET_FEATURES has no reply: the refusal ends the connection. */
	EXPECT_HOSTILE(-EINVAL, "SET_FEATURES: ");
}

/*
 * A used ring one byte off its alignment: refused at SET_VRING_ADDR,
 * before anything reads used->idx there.
 */
TEST_F(vu, hostile_ring_misaligned)
{
	struct nd *nd = &self->nd;
	uint64_t uva = (uintptr_t)nd->g.r[0].hva;
	struct vhost_vring_addr a = {
		.index = 0,
		.desc_user_addr = uva,
		.avail_user_addr = uva + 0x1000,
		.used_user_addr = uva + 1,
	};

	ASSERT_EQ(0, conn_open(_metadata, self));
	ASSERT_EQ(0, fe_negotiate(self, FE_FEAT));
	ASSERT_EQ(0, fe_mem_table(self));
	ASSERT_EQ(-EIO, fe_msg(&self->fe, VHOST_USER_SET_VRING_ADDR, &a,
				 sizeof(a), NULL, 0));
	EXPECT_HOSTILE(-EINVAL, "SET_VRING_ADDR: ring 0: used ring address");
}

/*
 * Client mode against a front-end that accepts and closes at once: the
 * back-end waits reconnect_ms between such connections, no busy loop.
 */
TEST_F(vu, run_client_backoff)
{
	struct vdev_vhost_user_config cfg = { .reconnect_ms = 100 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd = { .events = POLLIN };
	struct runner r = { 0 };
	unsigned int n = 0;
	uint64_t end;
	char path[108];
	int lfd, fd;

	sock_path(path, sizeof(path));
	cfg.socket_path = path;
	cfg.client = true;
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(lfd, 16));
	vdev_vhost_user_destroy(self->vu);
	ASSERT_EQ(0, vdev_vhost_user_create(self->nd.dev, &cfg, &self->vu));
	r.vu = self->vu;
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, run_main, &r));
	pfd.fd = lfd;
	end = nd_now_ns() + 1000000000ULL;
	while (nd_now_ns() < end) {
		if (poll(&pfd, 1, 10) != 1)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		close(fd);
		n++;
	}
	vdev_vhost_user_stop(self->vu);
	EXPECT_EQ(0, run_join(&r));
	close(lfd);
	unlink(path);
	TH_LOG("%u connections in 1 s, reconnect_ms 100", n);
	EXPECT_LE(1, n);
	EXPECT_GE(1000 / 100 + 2, n);
}

/* A stop() that arrives in the middle of a message is an orderly end. */
TEST_F(vu, stop_mid_message)
{
	struct vhost_user_hdr h = {
		.request = VHOST_USER_GET_FEATURES,
		.flags = VHOST_USER_VERSION,
	};
	struct vdev_vhost_user_stats st;
	int i, unread = -1;

	ASSERT_EQ(0, conn_open(_metadata, self));
	/* Half a header, so that the back-end waits for the rest. */
	ASSERT_EQ(6, send(self->fe.sock, &h, 6, MSG_NOSIGNAL));
	/* Until the back-end has read them (FIONREAD of its end: 0). */
	for (i = 0; i < FE_WAIT_MS; i++) {
		ASSERT_EQ(0, ioctl(self->srv.fd, FIONREAD, &unread));
		if (!unread)
			break;
		usleep(1000);
	}
	ASSERT_EQ(0, unread);
	vdev_vhost_user_stop(self->vu);
	EXPECT_EQ(0, srv_join(&self->srv));
	EXPECT_FALSE(log_has("cut short"));
	vdev_vhost_user_get_stats(self->vu, &st);
	EXPECT_EQ(0, st.errors);
}

TEST_HARNESS_MAIN
