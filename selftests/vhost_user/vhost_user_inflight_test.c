// SPDX-License-Identifier: GPL-2.0
/*
 * Inflight I/O tracking of the vhost-user back-end (QEMU
 * docs/interop/vhost-user.rst, "Inflight I/O tracking"): the test is the
 * front-end over a socketpair, the back-end serves the test device of
 * selftests/core/tdev.h, and the test drives ring 0 as the guest driver
 * (selftests/vq_driver.h), split and packed.
 *
 * The region layouts are written here from vhost-user.rst, not taken
 * from the library, so that a library that lays them out differently
 * fails. The main case kills a back-end (a child process) while its
 * device holds popped chains (tdev_keep()), and checks that a second
 * back-end given the same inflight fd returns exactly those chains,
 * oldest first, then goes on with the ring. Crafted regions check the
 * recovery of an interrupted publication and the refusal of a hostile
 * region.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include <vdev/vdev.h>
#include <vdev/vhost_user.h>

#include "vq_driver.h"	/* before the harness: its ARRAY_SIZE is conditional */
#include "kselftest_harness.h"
#include "vhost_user_priv.h"	/* lib/: the wire format (messages only) */
#include "vu_fe.h"
#include "vdev_test.h"
#include "../core/tdev.h"

#define QSZ		16
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	(1 << 20)
#define BUF_LEN		64
#define MAX_LOG		64
#define FE_PROTO	((1ULL << VHOST_USER_PROTOCOL_F_MQ) |		\
			 (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |	\
			 (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
#define DEV_FEATURES	((1ULL << VIRTIO_F_VERSION_1) |			\
			 (1ULL << VIRTIO_F_RING_PACKED))

_Static_assert(TDEV_NQ == 2, "tdev.h's queue count");

/* ---- the inflight region, as vhost-user.rst lays it out ---------------- */

struct ift_split_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct ift_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct ift_split_desc desc[];
};

struct ift_packed_desc {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct ift_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct ift_packed_desc desc[];
};

_Static_assert(sizeof(struct ift_split_desc) == 16, "split entry");
_Static_assert(offsetof(struct ift_split, desc) == 16, "split header");
_Static_assert(sizeof(struct ift_packed_desc) == 32, "packed entry");
_Static_assert(offsetof(struct ift_packed_desc, addr) == 24, "packed addr");
_Static_assert(offsetof(struct ift_packed, used_wrap_counter) == 20,
	       "packed wrap counter");
_Static_assert(offsetof(struct ift_packed, desc) == 32, "packed header");

/* Bytes of one queue's region for @qs entries: the spec's Q(qs). */
static uint64_t q_size(unsigned int qs)
{
	return (32ULL + 32ULL * qs + 63) & ~63ULL;
}

/* ---- the front-end: selftests/vhost_user/vu_fe.h, and inflight's ---- */

/*
 * GET_INFLIGHT_FD for @nq queues of @qs entries: the reply in *@out, its
 * fds in @fds (*@nr_fds of them, at most 4 kept). Payload size or -errno.
 */
static int fe_get_inflight(struct fe *fe, unsigned int nq, unsigned int qs,
			   struct vhost_user_inflight *out, int *fds,
			   unsigned int *nr_fds)
{
	struct vhost_user_inflight in = {
		.num_queues = nq, .queue_size = qs,
	};
	int ret;

	*nr_fds = 0;
	ret = fe_send(fe, VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in),
		      NULL, 0);
	if (ret)
		return ret;
	memset(out, 0, sizeof(*out));
	return fe_reply_fds(fe, VHOST_USER_GET_INFLIGHT_FD, out, sizeof(*out),
			    fds, 4, nr_fds);
}

static int fe_set_inflight(struct fe *fe, uint64_t size, uint64_t off,
			   unsigned int nq, unsigned int qs, int fd)
{
	struct vhost_user_inflight in = {
		.mmap_size = size, .mmap_offset = off,
		.num_queues = nq, .queue_size = qs,
	};

	return fe_msg(fe, VHOST_USER_SET_INFLIGHT_FD, &in, sizeof(in), &fd,
		      fd >= 0 ? 1 : 0);
}

/* ---- the back-ends ------------------------------------------------------ */

static const uint16_t tdev_sizes[TDEV_NQ] = { QSZ, QSZ };

static const struct vdev_device_ops ift_ops = {
	.name = "tdev",
	.read_config = tdev_read_config,
	.activate = tdev_activate,
	.queue_reset = tdev_queue_reset,
	.queue_enable = tdev_queue_enable,
	.release = tdev_release,
};

static int tdev_setup(struct tdev *t)
{
	struct vdev_device_info info = {
		.name = "tdev",
		.type = VIRTIO_ID_RNG,
		.features = DEV_FEATURES,
		.queue_sizes = tdev_sizes,
		.nr_queues = TDEV_NQ,
		.min_queues = 1,
	};

	return tdev_init(t, &ift_ops, &info, "VDEVCFG", 8, 4);
}

/*
 * The back-end in a child process, which the test kills: its device
 * lives in shared memory so that the test can switch tdev_keep() and
 * read its counts. Never returns.
 */
static void child_main(struct tdev *t, int fd)
{
	struct vdev_vhost_user_config cfg = { 0 };
	struct vdev_vhost_user *vu;
	int ret;

	if (tdev_setup(t))
		_exit(2);
	if (vdev_vhost_user_create(&t->dev, &cfg, &vu))
		_exit(3);
	ret = vdev_vhost_user_serve_fd(vu, fd);
	_exit(ret ? 1 : 0);
}

/* ---- the fixture ---------------------------------------------------------- */

struct chain {
	uint16_t id;
	uint64_t out, in;
};

FIXTURE(ift)
{
	struct tdev t;
	struct vdev_vhost_user *vu;
	struct tdev_guest g;
	struct srv srv;
	struct fe fe;
	int call;
	uint64_t bufs;
	/* the ring the driver log is of (add_chain(), take_used()) */
	unsigned int qi;
	/* the killed back-end */
	struct tdev *ct;
	pid_t child;
	/* the inflight region as the front-end keeps it */
	int ifd;
	uint8_t *reg;
	size_t reg_len;
	/* the driver's log */
	unsigned int nr_added, nr_used;
	struct chain added[MAX_LOG];
	uint16_t used[MAX_LOG];
	bool outstanding[QSZ];
	bool bad_used;
	int fds0, tasks0;
};

FIXTURE_VARIANT(ift)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(ift, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(ift, packed)
{
	.format = VQ_PACKED,
};

FIXTURE_SETUP(ift)
{
	struct vdev_vhost_user_config cfg = { 0 };

	self->srv.started = false;
	self->qi = 0;
	self->fe.sock = -1;
	self->call = -1;
	self->child = -1;
	self->ifd = -1;
	self->reg = NULL;
	log_reset();
	vdev_log_set_handler(log_capture);
	ASSERT_EQ(0, tdev_guest_init(&self->g, variant->format, RAM_GPA,
				     RAM_SIZE, QSZ));
	self->bufs = vq_guest_alloc(&self->g.g, 0, 2ULL * BUF_LEN * MAX_LOG,
				    64);
	ASSERT_NE(0, self->bufs);
	self->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->call);
	self->ct = mmap(NULL, sizeof(*self->ct), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ct);
	ASSERT_EQ(0, tdev_setup(&self->t));
	ASSERT_EQ(0, vdev_vhost_user_create(&self->t.dev, &cfg, &self->vu));
	vdev_test_baseline(&self->fds0, &self->tasks0);
}

static void child_kill(FIXTURE_DATA(ift) *self)
{
	if (self->child <= 0)
		return;
	kill(self->child, SIGKILL);
	waitpid(self->child, NULL, 0);
	self->child = -1;
}

static void region_close(FIXTURE_DATA(ift) *self)
{
	if (self->reg)
		munmap(self->reg, self->reg_len);
	self->reg = NULL;
	if (self->ifd >= 0)
		close(self->ifd);
	self->ifd = -1;
}

FIXTURE_TEARDOWN(ift)
{
	if (self->fe.sock >= 0)
		close(self->fe.sock);
	srv_join(&self->srv);
	child_kill(self);
	region_close(self);
	vdev_vhost_user_destroy(self->vu);
	vdev_device_put(&self->t.dev);
	munmap(self->ct, sizeof(*self->ct));
	if (self->call >= 0)
		close(self->call);
	tdev_guest_fini(&self->g);
	vdev_log_set_handler(NULL);
}

/* A connection to the back-end of this process. */
static int conn_open(FIXTURE_DATA(ift) *self)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	self->fe.sock = sv[0];
	self->fe.ack = false;
	/* Every hostile case gets its line logged. */
	self->t.dev.rl = (struct vdev_ratelimit)VDEV_RATELIMIT_INIT(5000, 10);
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

/* The front-end goes away: the in-process server's return value. */
static int conn_close(FIXTURE_DATA(ift) *self)
{
	if (self->fe.sock >= 0)
		close(self->fe.sock);
	self->fe.sock = -1;
	return srv_join(&self->srv);
}

/* A connection to a new back-end in a child process. */
static int child_open(FIXTURE_DATA(ift) *self)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	self->child = fork();
	if (self->child < 0)
		return -errno;
	if (!self->child) {
		/* Not left behind by a test that dies. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(4);
		close(sv[0]);
		child_main(self->ct, sv[1]);
	}
	close(sv[1]);
	self->fe.sock = sv[0];
	self->fe.ack = false;
	return 0;
}

static void child_close(FIXTURE_DATA(ift) *self)
{
	child_kill(self);
	if (self->fe.sock >= 0)
		close(self->fe.sock);
	self->fe.sock = -1;
}

/* Features (the ring format's), @proto, REPLY_ACK from here on, owner. */
static int fe_negotiate_proto(FIXTURE_DATA(ift) *self, uint64_t proto)
{
	struct fe *fe = &self->fe;
	uint64_t f, pf;
	int ret;

	ret = fe_get_u64(fe, VHOST_USER_GET_FEATURES, &f);
	if (ret)
		return ret;
	if (!(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)))
		return -EPROTO;
	ret = fe_u64(fe, VHOST_USER_SET_FEATURES,
		     (1ULL << VIRTIO_F_VERSION_1) |
		     tdev_guest_features(&self->g) |
		     (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	if (!ret)
		ret = fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, &pf);
	if (ret)
		return ret;
	if ((pf & FE_PROTO) != FE_PROTO)
		return -EPROTO;
	ret = fe_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, proto);
	if (ret)
		return ret;
	fe->ack = proto & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	return fe_msg(fe, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0);
}

static int fe_negotiate(FIXTURE_DATA(ift) *self)
{
	return fe_negotiate_proto(self, FE_PROTO);
}

static int fe_mem_table(FIXTURE_DATA(ift) *self)
{
	struct vhost_user_memory m = { .nregions = 1 };
	struct vq_guest_region *r = &self->g.g.r[0];

	m.regions[0].guest_phys_addr = r->gpa;
	m.regions[0].memory_size = r->size;
	m.regions[0].userspace_addr = (uintptr_t)r->hva;
	return fe_msg(&self->fe, VHOST_USER_SET_MEM_TABLE, &m,
		      8 + sizeof(m.regions[0]), &r->fd, 1);
}

static uint64_t uva_of(FIXTURE_DATA(ift) *self, uint64_t gpa)
{
	struct vq_guest_region *r = &self->g.g.r[0];

	return (uint64_t)(uintptr_t)r->hva + (gpa - r->gpa);
}

/* Ring qi as laid out in g.d[qi], from @base, started and enabled. */
static int fe_ring(FIXTURE_DATA(ift) *self, unsigned int base)
{
	struct vq_driver *d = &self->g.d[self->qi];
	struct vhost_vring_addr a = {
		.index = self->qi,
		.desc_user_addr = uva_of(self, d->desc_gpa),
		.avail_user_addr = uva_of(self, d->avail_gpa),
		.used_user_addr = uva_of(self, d->used_gpa),
	};
	int ret;

	ret = fe_state(&self->fe, VHOST_USER_SET_VRING_NUM, self->qi, d->size);
	if (!ret)
		ret = fe_state(&self->fe, VHOST_USER_SET_VRING_BASE, self->qi, base);
	if (!ret)
		ret = fe_msg(&self->fe, VHOST_USER_SET_VRING_ADDR, &a,
			     sizeof(a), NULL, 0);
	if (!ret)
		ret = fe_vring_fd(&self->fe, VHOST_USER_SET_VRING_CALL, self->qi,
				  self->call);
	if (!ret)
		ret = fe_vring_fd(&self->fe, VHOST_USER_SET_VRING_KICK, self->qi,
				  self->g.kick[self->qi]);
	if (!ret)
		ret = fe_state(&self->fe, VHOST_USER_SET_VRING_ENABLE, self->qi, 1);
	return ret;
}

/*
 * The base QEMU sends after a back-end died: the used position, the
 * driver side set back to it (packed: both halves).
 */
static unsigned int used_base(FIXTURE_DATA(ift) *self)
{
	struct vq_driver *d = &self->g.d[self->qi];
	unsigned int v;

	if (d->format != VQ_PACKED)
		return le16toh(VQ_READ(d->used->idx));
	v = d->last_used | (d->used_wrap ? VHOST_USER_PACKED_WRAP : 0);
	return v | v << VHOST_USER_PACKED_USED_SHIFT;
}

/* What GET_VRING_BASE returns once @n two-descriptor chains are used. */
static unsigned int base_after(FIXTURE_DATA(ift) *self, unsigned int n)
{
	unsigned int descs = 2 * n, v;

	if (self->g.format != VQ_PACKED)
		return n & 0xffff;
	v = (descs % QSZ) | ((descs / QSZ) & 1 ? 0 : VHOST_USER_PACKED_WRAP);
	return v | v << VHOST_USER_PACKED_USED_SHIFT;
}

/* Add one chain (a readable then a writable buffer); kick when @kick. */
static int add_chain(FIXTURE_DATA(ift) *self, bool kick)
{
	struct vq_driver *d = &self->g.d[self->qi];
	unsigned int k = self->nr_added;
	struct chain *c = &self->added[k % MAX_LOG];
	struct vq_buf out, in;
	uint64_t one = 1;
	int id;

	c->out = self->bufs + 2ULL * BUF_LEN * (k % MAX_LOG);
	c->in = c->out + BUF_LEN;
	out = (struct vq_buf){ .gpa = c->out, .len = BUF_LEN };
	in = (struct vq_buf){ .gpa = c->in, .len = BUF_LEN };
	id = vq_driver_add(d, &out, 1, &in, 1, false);
	if (id < 0 || id >= QSZ || self->outstanding[id])
		return -ENOSPC;
	c->id = id;
	self->outstanding[id] = true;
	self->nr_added++;
	vq_driver_kick_prepare(d);
	if (kick && write(self->g.kick[self->qi], &one, sizeof(one)) != sizeof(one))
		return -errno;
	return id;
}

/* Take every used entry: each must be of an outstanding chain. */
static unsigned int take_used(FIXTURE_DATA(ift) *self)
{
	int id;

	while ((id = vq_driver_get_used(&self->g.d[self->qi], NULL)) != -1) {
		if (id < 0 || id >= QSZ || !self->outstanding[id]) {
			/* Packed: not taken (-2); split: taken. */
			self->bad_used = true;
			if (id < 0)
				break;
			continue;
		}
		self->outstanding[id] = false;
		self->used[self->nr_used++ % MAX_LOG] = id;
	}
	return self->nr_used;
}

/* Wait until @n entries are used in all; false after FE_WAIT_MS. */
static bool wait_used(FIXTURE_DATA(ift) *self, unsigned int n)
{
	int i;

	for (i = 0; i < FE_WAIT_MS * 10; i++) {
		if (take_used(self) >= n)
			return self->nr_used == n;
		usleep(100);
	}
	return false;
}

/*
 * Used entries @from on are of the chains added @want[0], @want[1], ...
 * (@n of them), in that order; a difference is logged.
 */
static bool used_is(struct __test_metadata *_metadata,
		    FIXTURE_DATA(ift) *self, unsigned int from,
		    const unsigned int *want, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t id = self->added[want[i] % MAX_LOG].id;

		if (self->used[(from + i) % MAX_LOG] != id) {
			TH_LOG("used entry %u: id %u, expected %u (chain %u)",
			       from + i, self->used[(from + i) % MAX_LOG], id,
			       want[i]);
			return false;
		}
	}
	return true;
}

/* Used entries @from to @to are of the chains added @from to @to. */
static bool used_in_order(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ift) *self, unsigned int from,
			  unsigned int to)
{
	unsigned int want[MAX_LOG], i;

	for (i = from; i < to; i++)
		want[i - from] = i;
	return used_is(_metadata, self, from, want, to - from);
}

/* ---- the region, from the front-end ----------------------------------- */

static int region_map(FIXTURE_DATA(ift) *self, int fd, size_t len)
{
	self->reg = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (self->reg == MAP_FAILED) {
		self->reg = NULL;
		return -errno;
	}
	self->reg_len = len;
	self->ifd = fd;
	return 0;
}

/* A region the front-end made itself: a sealed memfd, zeroed. */
static int region_new(FIXTURE_DATA(ift) *self, unsigned int nq,
		      unsigned int qs, unsigned int seals)
{
	size_t len = nq * q_size(qs);
	int fd, ret;

	fd = memfd_create("ift", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, len) || (seals && fcntl(fd, F_ADD_SEALS, seals))) {
		close(fd);
		return -errno;
	}
	ret = region_map(self, fd, len);
	if (ret)
		close(fd);
	return ret;
}

static struct ift_split *rsplit(FIXTURE_DATA(ift) *self)
{
	return (struct ift_split *)(self->reg + self->qi * q_size(QSZ));
}

static struct ift_packed *rpacked(FIXTURE_DATA(ift) *self)
{
	return (struct ift_packed *)(self->reg + self->qi * q_size(QSZ));
}

/* Heads marked inflight in queue 0's region (a snapshot). */
static unsigned int region_inflight(FIXTURE_DATA(ift) *self)
{
	unsigned int i, n = 0;

	for (i = 0; i < QSZ; i++) {
		if (self->g.format == VQ_PACKED)
			n += !!VQ_READ(rpacked(self)->desc[i].inflight);
		else
			n += !!VQ_READ(rsplit(self)->desc[i].inflight);
	}
	return n;
}

/* Poll the region until @n heads are inflight; false after FE_WAIT_MS. */
static bool wait_inflight(FIXTURE_DATA(ift) *self, unsigned int n)
{
	int i;

	for (i = 0; i < FE_WAIT_MS * 10; i++) {
		if (region_inflight(self) == n)
			return true;
		usleep(100);
	}
	return false;
}

/*
 * Check that the region shows the added chains @which[0..@n), in that
 * (pop) order, and only them, in flight: split: desc[head].inflight,
 * counters increasing; packed: one head entry each, of its id, with num
 * 2, copies of both descriptors linked by next and last, counters
 * likewise.
 */
static void check_inflight(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ift) *self, const unsigned int *which,
			   unsigned int n)
{
	uint64_t prev = 0;
	unsigned int j, k, i;

	ASSERT_EQ(n, region_inflight(self));
	if (self->g.format == VQ_SPLIT) {
		struct ift_split *r = rsplit(self);

		EXPECT_EQ(1, r->version);
		EXPECT_EQ(QSZ, r->desc_num);
		for (j = 0; j < n; j++) {
			struct ift_split_desc *e;

			k = which[j];
			e = &r->desc[self->added[k % MAX_LOG].id];
			EXPECT_EQ(1, e->inflight) TH_LOG("chain %u", k);
			if (j)
				EXPECT_LT(prev, e->counter);
			prev = e->counter;
		}
		return;
	}
	{
		struct ift_packed *r = rpacked(self);

		EXPECT_EQ(1, r->version);
		EXPECT_EQ(QSZ, r->desc_num);
		for (j = 0; j < n; j++) {
			struct chain *c = &self->added[which[j] % MAX_LOG];
			struct ift_packed_desc *h = NULL, *e;

			k = which[j];
			for (i = 0; i < QSZ; i++)
				if (r->desc[i].inflight &&
				    r->desc[i].id == c->id)
					h = &r->desc[i];
			ASSERT_NE(NULL, h) TH_LOG("chain %u (id %u) not in flight",
						  k, c->id);
			ASSERT_EQ(2, h->num);
			EXPECT_EQ(c->out, h->addr);
			EXPECT_EQ(BUF_LEN, h->len);
			EXPECT_EQ(VRING_DESC_F_NEXT,
				  h->flags & (VRING_DESC_F_NEXT |
					      VRING_DESC_F_WRITE));
			ASSERT_GT(QSZ, h->next);
			e = &r->desc[h->next];
			EXPECT_EQ(h->next, h->last);
			EXPECT_EQ(c->id, e->id);
			EXPECT_EQ(c->in, e->addr);
			EXPECT_EQ(BUF_LEN, e->len);
			EXPECT_EQ(VRING_DESC_F_WRITE,
				  e->flags & (VRING_DESC_F_NEXT |
					      VRING_DESC_F_WRITE));
			if (j)
				EXPECT_LT(prev, h->counter);
			prev = h->counter;
		}
	}
}

/* Does the region's used position read as the driver's? */
static bool used_pos_is(FIXTURE_DATA(ift) *self)
{
	struct vq_driver *d = &self->g.d[self->qi];
	struct ift_packed *r = rpacked(self);

	if (self->g.format == VQ_SPLIT)
		return le16toh(VQ_READ(d->used->idx)) ==
		       VQ_READ(rsplit(self)->used_idx);
	return VQ_READ(r->used_idx) == d->last_used &&
	       VQ_READ(r->used_wrap_counter) == d->used_wrap &&
	       VQ_READ(r->old_used_idx) == d->last_used &&
	       VQ_READ(r->old_used_wrap_counter) == d->used_wrap;
}

/*
 * The region's used position is the driver's (all used entries taken),
 * once the back-end has recorded the last batch: a used element is
 * published before the region says so.
 */
static void check_used_pos(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ift) *self)
{
	struct vq_driver *d = &self->g.d[self->qi];
	int i;

	for (i = 0; i < FE_WAIT_MS * 10 && !used_pos_is(self); i++)
		usleep(100);
	if (self->g.format == VQ_SPLIT) {
		EXPECT_EQ(le16toh(VQ_READ(d->used->idx)),
			  rsplit(self)->used_idx);
		return;
	}
	EXPECT_EQ(d->last_used, rpacked(self)->used_idx);
	EXPECT_EQ(d->used_wrap, rpacked(self)->used_wrap_counter);
	EXPECT_EQ(d->last_used, rpacked(self)->old_used_idx);
	EXPECT_EQ(d->used_wrap, rpacked(self)->old_used_wrap_counter);
}

/* ---- the sessions ------------------------------------------------------ */

/*
 * A new back-end in a child process given a new region: negotiate,
 * GET_INFLIGHT_FD for @nq queues of QSZ (one fd, of @nq * Q(QSZ) bytes,
 * mapped in the test), then SET_INFLIGHT_FD as QEMU does (GET only with
 * @get_only), and the memory. The rings are the caller's.
 */
static void child_new_region(struct __test_metadata *_metadata,
			     FIXTURE_DATA(ift) *self, unsigned int nq,
			     bool get_only)
{
	struct vhost_user_inflight rep;
	unsigned int nr_fds;
	int fds[4];

	ASSERT_EQ(0, child_open(self));
	ASSERT_EQ(0, fe_negotiate(self));
	ASSERT_EQ(sizeof(rep), fe_get_inflight(&self->fe, nq, QSZ, &rep, fds,
					       &nr_fds));
	ASSERT_EQ(1, nr_fds);
	ASSERT_EQ(nq * q_size(QSZ), rep.mmap_size);
	ASSERT_EQ(0, region_map(self, fds[0], rep.mmap_size));
	if (!get_only)
		ASSERT_EQ(0, fe_set_inflight(&self->fe, rep.mmap_size, 0, nq,
					     QSZ, self->ifd));
	ASSERT_EQ(0, fe_mem_table(self));
}

/*
 * A new back-end (in a child process with @child, else this process's)
 * given the region the test holds: negotiate, SET_INFLIGHT_FD with its
 * fd for @nq queues of QSZ, and the memory. The rings are the caller's.
 */
static void backend_take_region(struct __test_metadata *_metadata,
				FIXTURE_DATA(ift) *self, bool child,
				unsigned int nq)
{
	ASSERT_EQ(0, child ? child_open(self) : conn_open(self));
	ASSERT_EQ(0, fe_negotiate(self));
	ASSERT_EQ(0, fe_set_inflight(&self->fe, self->reg_len, 0, nq, QSZ,
				     self->ifd));
	ASSERT_EQ(0, fe_mem_table(self));
}

/*
 * A new connection to this process's back-end (given the region the
 * test holds with @region): ring 0 from 0 serves one chain.
 */
static void serve_one(struct __test_metadata *_metadata,
		      FIXTURE_DATA(ift) *self, bool region)
{
	if (region) {
		backend_take_region(_metadata, self, false, 1);
	} else {
		ASSERT_EQ(0, conn_open(self));
		ASSERT_EQ(0, fe_negotiate(self));
		ASSERT_EQ(0, fe_mem_table(self));
	}
	ASSERT_EQ(0, fe_ring(self, base_after(self, 0)));
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, 1));
}

/* ---- 1. protocol ---------------------------------------------------------- */

/*
 * INFLIGHT_SHMFD is offered; GET_INFLIGHT_FD returns one fd, a sealed
 * zero-filled memfd of num_queues * Q(queue_size) bytes, at the edges of
 * what it accepts too; SET_INFLIGHT_FD takes it back.
 */
TEST_F(ift, get_inflight_fd)
{
	static const unsigned int cases[][2] = {
		{ 1, QSZ }, { 2, QSZ }, { 1, 1 }, { 2, 32768 }, { 1, 1000 },
	};
	const unsigned int want_seals = F_SEAL_SHRINK | F_SEAL_GROW |
					F_SEAL_SEAL;
	struct vhost_user_inflight rep;
	unsigned int i, nr_fds;
	struct stat st;
	uint64_t pf, size, j;
	int fds[4], seals;
	uint8_t *p;

	ASSERT_EQ(0, conn_open(self));
	ASSERT_EQ(0, fe_get_u64(&self->fe, VHOST_USER_GET_PROTOCOL_FEATURES,
				&pf));
	EXPECT_TRUE(pf & (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	EXPECT_EQ(0, conn_close(self));

	ASSERT_EQ(0, conn_open(self));
	ASSERT_EQ(0, fe_negotiate(self));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size = cases[i][0] * q_size(cases[i][1]);
		ASSERT_EQ(sizeof(rep),
			  fe_get_inflight(&self->fe, cases[i][0], cases[i][1],
					  &rep, fds, &nr_fds))
			TH_LOG("%u queues of %u", cases[i][0], cases[i][1]);
		ASSERT_EQ(1, nr_fds);
		EXPECT_EQ(size, rep.mmap_size);
		EXPECT_EQ(0, rep.mmap_offset);
		EXPECT_EQ(cases[i][0], rep.num_queues);
		EXPECT_EQ(cases[i][1], rep.queue_size);
		ASSERT_EQ(0, fstat(fds[0], &st));
		EXPECT_LE(size, (uint64_t)st.st_size);
		seals = fcntl(fds[0], F_GET_SEALS);
		EXPECT_EQ(want_seals, seals & want_seals)
			TH_LOG("seals %#x", seals);
		p = mmap(NULL, size, PROT_READ, MAP_SHARED, fds[0], 0);
		ASSERT_NE(MAP_FAILED, p);
		for (j = 0; j < size && !p[j]; j++)
			;
		EXPECT_EQ(size, j) TH_LOG("byte %llu not zero",
					  (unsigned long long)j);
		munmap(p, size);
		/* QEMU sends it back at once. */
		EXPECT_EQ(0, fe_set_inflight(&self->fe, size, 0, cases[i][0],
					     cases[i][1], fds[0]));
		close(fds[0]);
	}
	/* The memory and a ring on the last one: it starts. */
	ASSERT_EQ(sizeof(rep), fe_get_inflight(&self->fe, 1, QSZ, &rep, fds,
					       &nr_fds));
	ASSERT_EQ(1, nr_fds);
	ASSERT_EQ(0, fe_set_inflight(&self->fe, rep.mmap_size, 0, 1, QSZ,
				     fds[0]));
	ASSERT_EQ(0, region_map(self, fds[0], rep.mmap_size));
	ASSERT_EQ(0, fe_mem_table(self));
	ASSERT_EQ(0, fe_ring(self, base_after(self, 0)));
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, 1));
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(self->bad_used);
	/* Initialised by the start, nothing left in flight. */
	check_inflight(_metadata, self, NULL, 0);
	check_used_pos(_metadata, self);
	region_close(self);
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/* One bad GET_INFLIGHT_FD or SET_INFLIGHT_FD on a new connection. */
struct bad_msg {
	const char *what;
	bool no_proto;		/* bit 12 not acked */
	bool set;		/* SET_INFLIGHT_FD, else GET */
	unsigned int nq, qs;
	int64_t size_delta;	/* SET: mmap_size - nq * Q(qs) */
	uint64_t size;		/* SET: mmap_size itself, if not 0 */
	uint64_t offset;	/* SET: mmap_offset */
	unsigned int seals;	/* SET: on the fd */
	bool no_fd;		/* SET: without its fd */
	int64_t file_delta;	/* SET: file size - nq * Q(qs) */
	const char *line;	/* logged, besides "inflight" in any case */
};

static const struct bad_msg bad_msgs[] = {
	{ "GET before bit 12", .no_proto = true, .nq = 1, .qs = QSZ },
	{ "GET num_queues 0", .nq = 0, .qs = QSZ },
	{ "GET num_queues 3", .nq = 3, .qs = QSZ },
	{ "GET queue_size 0", .nq = 1, .qs = 0 },
	{ "GET queue_size 32769", .nq = 1, .qs = 32769 },
	{ "SET before bit 12", .no_proto = true, .set = true, .nq = 1,
	  .qs = QSZ, .seals = F_SEAL_SHRINK },
	{ "SET too small", .set = true, .nq = 1, .qs = QSZ, .size_delta = -64,
	  .seals = F_SEAL_SHRINK, .file_delta = -64 },
	{ "SET size 2^63", .set = true, .nq = 1, .qs = QSZ, .size = 1ULL << 63,
	  .seals = F_SEAL_SHRINK,
	  .line = "SET_INFLIGHT_FD: 9223372036854775808 bytes for 1 queues" },
	{ "SET unsealed", .set = true, .nq = 1, .qs = QSZ },
	{ "SET sealed but growable only", .set = true, .nq = 1, .qs = QSZ,
	  .seals = F_SEAL_GROW },
	{ "SET no fd", .set = true, .nq = 1, .qs = QSZ, .no_fd = true },
	{ "SET file shorter than the size", .set = true, .nq = 1, .qs = QSZ,
	  .seals = F_SEAL_SHRINK, .file_delta = -64 },
	{ "SET offset past the file", .set = true, .nq = 1, .qs = QSZ,
	  .offset = 4096, .seals = F_SEAL_SHRINK },
	{ "SET num_queues 0", .set = true, .nq = 0, .qs = QSZ,
	  .seals = F_SEAL_SHRINK },
	{ "SET num_queues 3", .set = true, .nq = 3, .qs = QSZ,
	  .seals = F_SEAL_SHRINK },
	{ "SET queue_size 0", .set = true, .nq = 1, .qs = 0,
	  .seals = F_SEAL_SHRINK, .file_delta = 4096 },
	{ "SET queue_size 32769", .set = true, .nq = 1, .qs = 32769,
	  .seals = F_SEAL_SHRINK },
};

static int send_bad(FIXTURE_DATA(ift) *self, const struct bad_msg *b)
{
	struct vhost_user_inflight rep;
	int64_t size = b->nq * q_size(b->qs);
	unsigned int nr_fds;
	int fd = -1, fds[4], ret;

	if (!b->set) {
		ret = fe_get_inflight(&self->fe, b->nq, b->qs, &rep, fds,
				      &nr_fds);
		if (nr_fds)
			close(fds[0]);
		return ret == sizeof(rep) ? 0 : ret < 0 ? ret : -EPROTO;
	}
	if (!b->no_fd) {
		fd = memfd_create("ift-bad", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, size + b->file_delta) ||
		    (b->seals && fcntl(fd, F_ADD_SEALS, b->seals))) {
			close(fd);
			return -errno;
		}
	}
	ret = fe_set_inflight(&self->fe, b->size ? b->size :
			      size + b->size_delta, b->offset, b->nq, b->qs, fd);
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * Each bad message: refused (no reply, or a non-zero ack), the
 * connection closed with one error logged and counted, the process alive
 * and serving the next connection; nothing leaks.
 */
TEST_F(ift, hostile_inflight_messages)
{
	struct vdev_vhost_user_stats st;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(bad_msgs); i++) {
		const struct bad_msg *b = &bad_msgs[i];

		log_reset();
		ASSERT_EQ(0, conn_open(self));
		ASSERT_EQ(0, fe_negotiate_proto(self, b->no_proto ?
			  FE_PROTO & ~(1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) :
			  FE_PROTO));
		ret = send_bad(self, b);
		EXPECT_NE(0, ret) TH_LOG("%s: accepted", b->what);
		EXPECT_GT(0, conn_close(self)) TH_LOG("%s: not an error",
						      b->what);
		EXPECT_LE(1, log_count_icase("inflight"))
			TH_LOG("%s: no line", b->what);
		if (b->line)
			EXPECT_LE(1, log_count(b->line))
				TH_LOG("%s: no '%s'", b->what, b->line);
		vdev_vhost_user_get_stats(self->vu, &st);
		EXPECT_EQ(i + 1, st.errors) TH_LOG("%s", b->what);
		EXPECT_FALSE(vdev_device_is_active(&self->t.dev));
	}
	/* Alive: a good session on the same back-end. */
	serve_one(_metadata, self, false);
	EXPECT_EQ(0, conn_close(self));
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/* ---- 2. and 3. a killed back-end ------------------------------------------ */

/*
 * The first back-end (a child): child_new_region() for one queue, ring
 * 0; @done chains completed.
 */
static void first_backend(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ift) *self, unsigned int done,
			  bool get_only)
{
	unsigned int i;

	child_new_region(_metadata, self, 1, get_only);
	ASSERT_EQ(0, fe_ring(self, base_after(self, 0)));
	for (i = 0; i < done; i++)
		ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, done));
	/* Started: initialised, nothing in flight. */
	ASSERT_TRUE(wait_inflight(self, 0));
	check_inflight(_metadata, self, NULL, 0);
	check_used_pos(_metadata, self);
}

/*
 * The second back-end (this process's): backend_take_region() with the
 * same fd and memory, ring 0 at the used position.
 */
static void second_backend(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ift) *self)
{
	backend_take_region(_metadata, self, false, 1);
	ASSERT_EQ(0, fe_ring(self, used_base(self)));
}

/*
 * Stop ring 0 (GET_VRING_BASE: at @n chains used), close, and check
 * that every chain added was used exactly once and nothing is left in
 * flight; then nothing leaked.
 */
static void finish(struct __test_metadata *_metadata, FIXTURE_DATA(ift) *self,
		   unsigned int n)
{
	unsigned int base = 0;

	ASSERT_EQ(0, fe_get_vring_base(&self->fe, self->qi, &base));
	EXPECT_EQ(base_after(self, n), base);
	EXPECT_EQ(0, conn_close(self));
	EXPECT_EQ(n, take_used(self));
	EXPECT_EQ(n, self->nr_added);
	EXPECT_FALSE(self->bad_used);
	if (self->g.format == VQ_SPLIT)
		EXPECT_EQ(n, le16toh(VQ_READ(self->g.d[self->qi].used->idx)));
	check_inflight(_metadata, self, NULL, 0);
	check_used_pos(_metadata, self);
	region_close(self);
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/*
 * Add one chain per letter of @pattern, each kicked and waited for: 'K'
 * kept by the child's device (popped, in flight), 'D' done (used). The
 * indices of the kept ones go to @kept, of the done ones to @done.
 */
static void run_pattern(struct __test_metadata *_metadata,
			FIXTURE_DATA(ift) *self, const char *pattern,
			unsigned int *kept, unsigned int *nr_kept,
			unsigned int *done, unsigned int *nr_done)
{
	unsigned int popped, i;

	*nr_kept = *nr_done = 0;
	for (; *pattern; pattern++) {
		bool keep = *pattern == 'K';

		tdev_keep(self->ct, self->qi, keep);
		popped = atomic_load(&self->ct->popped);
		if (keep)
			kept[(*nr_kept)++] = self->nr_added;
		else
			done[(*nr_done)++] = self->nr_added;
		ASSERT_LE(0, add_chain(self, true));
		if (!keep) {
			ASSERT_TRUE(wait_used(self, self->nr_used + 1));
			continue;
		}
		for (i = 0; i < FE_WAIT_MS &&
		     atomic_load(&self->ct->popped) == popped; i++)
			usleep(1000);
		ASSERT_EQ(popped + 1, atomic_load(&self->ct->popped));
	}
}

/*
 * A back-end killed after @first chains completed, then @pattern
 * (run_pattern()): the region shows the kept chains in flight, in pop
 * order. A new back-end given the same region returns exactly those,
 * oldest first, without popping the done ones again, then serves @more
 * new chains; each chain used once; nothing in flight at the end.
 */
static void killed_resumes(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ift) *self, unsigned int first,
			   const char *pattern, unsigned int more,
			   bool get_only)
{
	unsigned int kept[MAX_LOG], done[MAX_LOG], nr_kept, nr_done, i, n;

	first_backend(_metadata, self, first, get_only);
	run_pattern(_metadata, self, pattern, kept, &nr_kept, done, &nr_done);
	ASSERT_TRUE(wait_inflight(self, nr_kept)) TH_LOG("in flight: %u",
							 region_inflight(self));
	check_inflight(_metadata, self, kept, nr_kept);
	check_used_pos(_metadata, self);
	ASSERT_TRUE(used_in_order(_metadata, self, 0, first));
	ASSERT_TRUE(used_is(_metadata, self, first, done, nr_done));
	child_close(self);

	second_backend(_metadata, self);
	n = first + nr_done + nr_kept;
	ASSERT_TRUE(wait_used(self, n)) TH_LOG("used %u of %u", self->nr_used,
					       n);
	EXPECT_TRUE(used_is(_metadata, self, first + nr_done, kept, nr_kept));
	/* Nothing more: no done chain popped again. */
	usleep(20000);
	EXPECT_EQ(n, take_used(self));
	EXPECT_FALSE(self->bad_used);
	for (i = 0; i < more; i++)
		ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, n + more)) TH_LOG("used %u of %u",
						      self->nr_used, n + more);
	EXPECT_TRUE(used_in_order(_metadata, self, n, n + more));
	finish(_metadata, self, n + more);
}

/*
 * The main case: 3 chains completed, then 5 kept and 3 done among them
 * (completed out of order) when the back-end is killed. QEMU's path: GET
 * then SET_INFLIGHT_FD. Packed: the used descriptors of the done chains
 * overwrote ring slots of kept ones; only the region's copies remain.
 */
TEST_F(ift, killed_backend_resumes_inflight)
{
	killed_resumes(_metadata, self, 3, "KDKKDKKD", 3, false);
}

/*
 * The region only from GET_INFLIGHT_FD (no SET) for the first back-end;
 * the rings wrap while chains are in flight.
 */
TEST_F(ift, killed_backend_resumes_across_wrap)
{
	killed_resumes(_metadata, self, 6, "KKDKDK", 7, true);
}

/* In order: the oldest chains in flight, none done after them. */
TEST_F(ift, killed_backend_resumes_in_order)
{
	killed_resumes(_metadata, self, 2, "KKKKK", 2, false);
}

/* Wait until @t has popped @n chains in all; false after FE_WAIT_MS. */
static bool wait_popped(struct tdev *t, unsigned int n)
{
	int i;

	for (i = 0; i < FE_WAIT_MS && atomic_load(&t->popped) < n; i++)
		usleep(1000);
	return atomic_load(&t->popped) == n;
}

/*
 * Killed twice: the second back-end (a child too) keeps the chains it
 * resubmits and one new chain, and dies; the third returns all of them,
 * the resubmitted ones first (their counters are the oldest).
 */
TEST_F(ift, killed_twice_resumes_inflight)
{
	unsigned int kept[MAX_LOG], done[MAX_LOG], nr_kept, nr_done, n;

	first_backend(_metadata, self, 2, false);
	run_pattern(_metadata, self, "KDKK", kept, &nr_kept, done, &nr_done);
	ASSERT_TRUE(wait_inflight(self, nr_kept));
	EXPECT_EQ(2 + nr_done, take_used(self));
	child_close(self);

	backend_take_region(_metadata, self, true, 1);
	/*
	 * Answered: the child's device is set up; it keeps from now on,
	 * before its ring starts.
	 */
	tdev_keep(self->ct, 0, true);
	ASSERT_EQ(0, fe_ring(self, used_base(self)));
	ASSERT_TRUE(wait_popped(self->ct, nr_kept));
	kept[nr_kept++] = self->nr_added;
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_popped(self->ct, nr_kept));
	ASSERT_TRUE(wait_inflight(self, nr_kept));
	check_inflight(_metadata, self, kept, nr_kept);
	EXPECT_EQ(2 + nr_done, take_used(self));
	child_close(self);

	second_backend(_metadata, self);
	n = 2 + nr_done + nr_kept;
	ASSERT_TRUE(wait_used(self, n)) TH_LOG("used %u of %u", self->nr_used,
					       n);
	EXPECT_TRUE(used_is(_metadata, self, 2 + nr_done, kept, nr_kept));
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, n + 1));
	finish(_metadata, self, n + 1);
}

/*
 * Two rings tracked in one region: ring 1's at Q(queue_size). Chains
 * kept on ring 1 are in flight there, ring 0's part shows none; a new
 * back-end resumes them on ring 1.
 */
TEST_F(ift, killed_backend_resumes_ring_1)
{
	unsigned int kept[MAX_LOG], done[MAX_LOG], nr_kept, nr_done, n;

	child_new_region(_metadata, self, 2, false);
	ASSERT_EQ(0, fe_ring(self, base_after(self, 0)));
	self->qi = 1;
	ASSERT_EQ(0, fe_ring(self, base_after(self, 0)));
	run_pattern(_metadata, self, "DKDKK", kept, &nr_kept, done, &nr_done);
	ASSERT_TRUE(wait_inflight(self, nr_kept));
	check_inflight(_metadata, self, kept, nr_kept);
	check_used_pos(_metadata, self);
	self->qi = 0;
	EXPECT_EQ(0, region_inflight(self));
	EXPECT_EQ(1, self->g.format == VQ_SPLIT ? rsplit(self)->version :
		  rpacked(self)->version);
	self->qi = 1;
	child_close(self);

	backend_take_region(_metadata, self, false, 2);
	self->qi = 0;
	ASSERT_EQ(0, fe_ring(self, base_after(self, 0)));
	self->qi = 1;
	ASSERT_EQ(0, fe_ring(self, used_base(self)));
	n = nr_done + nr_kept;
	ASSERT_TRUE(wait_used(self, n)) TH_LOG("used %u of %u", self->nr_used,
					       n);
	EXPECT_TRUE(used_is(_metadata, self, nr_done, kept, nr_kept));
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, n + 1));
	finish(_metadata, self, n + 1);
}

/*
 * A ring larger than the region's queue_size, and SET_INFLIGHT_FD on a
 * running ring: refused (at the start, and at once), the connection
 * closed with an error logged; nothing leaks.
 */
TEST_F(ift, hostile_ring_vs_region)
{
	struct vdev_vhost_user_stats st;

	ASSERT_EQ(0, region_new(self, 1, QSZ / 2, F_SEAL_SHRINK));
	ASSERT_EQ(0, conn_open(self));
	ASSERT_EQ(0, fe_negotiate(self));
	ASSERT_EQ(0, fe_set_inflight(&self->fe, self->reg_len, 0, 1, QSZ / 2,
				     self->ifd));
	ASSERT_EQ(0, fe_mem_table(self));
	EXPECT_NE(0, fe_ring(self, base_after(self, 0)));
	EXPECT_GT(0, conn_close(self));
	EXPECT_LE(1, log_count_icase("inflight"));
	region_close(self);

	log_reset();
	ASSERT_EQ(0, region_new(self, 1, QSZ, F_SEAL_SHRINK));
	serve_one(_metadata, self, false);
	EXPECT_NE(0, fe_set_inflight(&self->fe, self->reg_len, 0, 1, QSZ,
				     self->ifd));
	EXPECT_GT(0, conn_close(self));
	EXPECT_LE(1, log_count_icase("inflight"));
	vdev_vhost_user_get_stats(self->vu, &st);
	EXPECT_EQ(2, st.errors);
	region_close(self);
	EXPECT_FALSE(vdev_test_leaked(self->fds0, self->tasks0,
				      VDEV_TEST_SETTLE_MS, 0));
}

/*
 * Resubmitted chains the device still holds when its ring is stopped
 * (GET_VRING_BASE: the queue reset gives them back) stay in flight: they
 * are no longer in the ring. Started again on the same back-end, the
 * ring returns them, then the ring's chain given back with them; each
 * once.
 */
TEST_F(ift, resubmitted_chains_rewound_then_restarted)
{
	unsigned int kept[MAX_LOG], done[MAX_LOG], nr_kept, nr_done, base = 0;

	first_backend(_metadata, self, 3, false);
	run_pattern(_metadata, self, "KDK", kept, &nr_kept, done, &nr_done);
	ASSERT_TRUE(wait_inflight(self, nr_kept));
	EXPECT_EQ(3 + nr_done, take_used(self));
	child_close(self);

	tdev_keep(&self->t, 0, true);
	second_backend(_metadata, self);
	ASSERT_TRUE(wait_popped(&self->t, nr_kept));
	kept[nr_kept++] = self->nr_added;
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_popped(&self->t, nr_kept));
	ASSERT_EQ(0, fe_get_vring_base(&self->fe, 0, &base));
	EXPECT_EQ(1, atomic_load(&self->t.queue_resets));
	EXPECT_EQ(3 + nr_done, take_used(self));

	tdev_keep(&self->t, 0, false);
	ASSERT_EQ(0, fe_ring(self, base));
	ASSERT_TRUE(wait_used(self, 3 + nr_done + nr_kept))
		TH_LOG("used %u of %u", self->nr_used, 3 + nr_done + nr_kept);
	EXPECT_TRUE(used_is(_metadata, self, 3 + nr_done, kept, nr_kept));
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, 4 + nr_done + nr_kept));
	finish(_metadata, self, 4 + nr_done + nr_kept);
}

/*
 * 3. Chains given back (the device's queue reset rewinds what it kept,
 * on GET_VRING_BASE) are not in flight: a back-end killed then resubmits
 * nothing, and the next one pops them again from the ring, once each.
 */
TEST_F(ift, rewound_chains_not_inflight)
{
	unsigned int base = 0, i;

	first_backend(_metadata, self, 3, false);
	tdev_keep(self->ct, 0, true);
	for (i = 0; i < 4; i++)
		ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_inflight(self, 4));
	for (i = 0; i < 5000 && atomic_load(&self->ct->popped) < 7; i++)
		usleep(1000);
	ASSERT_EQ(7, atomic_load(&self->ct->popped));
	/* Stopped: the kept chains go back to the ring. */
	ASSERT_EQ(0, fe_get_vring_base(&self->fe, 0, &base));
	EXPECT_EQ(base_after(self, 3), base);
	EXPECT_EQ(1, atomic_load(&self->ct->queue_resets));
	EXPECT_EQ(0, region_inflight(self));
	check_used_pos(_metadata, self);
	child_close(self);

	second_backend(_metadata, self);
	ASSERT_TRUE(wait_used(self, 7)) TH_LOG("used %u of 7", self->nr_used);
	EXPECT_TRUE(used_in_order(_metadata, self, 0, 7));
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, 8));
	finish(_metadata, self, 8);
}

/* A back-end killed while it holds nothing: nothing comes back twice. */
TEST_F(ift, killed_idle_backend_resubmits_nothing)
{
	unsigned int i;

	first_backend(_metadata, self, 5, false);
	EXPECT_EQ(5, take_used(self));
	child_close(self);

	second_backend(_metadata, self);
	/* A kick with nothing new: nothing used. */
	ASSERT_EQ(0, eventfd_write(self->g.kick[self->qi], 1));
	usleep(20000);
	EXPECT_EQ(5, take_used(self));
	for (i = 0; i < 4; i++)
		ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, 9));
	EXPECT_TRUE(used_in_order(_metadata, self, 5, 9));
	finish(_metadata, self, 9);
}

/* ---- 4. an interrupted publication (crafted region) ------------------ */

/* The chains of craft(): A, B, C, D added in that order. */
enum { CA, CB, CC, CD };

/*
 * Chains A, B, C, D added (two descriptors each) and, as a previous
 * back-end left them: all four popped (counters 1 to 4); C completed
 * first and recorded (its used element published, the region up to
 * date); then B and D pushed as one batch, after the region was marked
 * but (unless @published) before their used elements were published.
 * In flight for the region: A, B, D.
 */
static void craft(struct __test_metadata *_metadata, FIXTURE_DATA(ift) *self,
		  bool published)
{
	struct vq_driver *d = &self->g.d[self->qi];
	unsigned int i, k;

	ASSERT_EQ(0, region_new(self, 1, QSZ, F_SEAL_SHRINK | F_SEAL_GROW));
	for (i = 0; i < 4; i++)
		ASSERT_LE(0, add_chain(self, false));
	if (self->g.format == VQ_SPLIT) {
		struct ift_split *r = rsplit(self);
		static const unsigned int used[3] = { CC, CB, CD };

		r->features = (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
		r->version = 1;
		r->desc_num = QSZ;
		for (i = 0; i < 4; i++) {
			r->desc[self->added[i].id].inflight = i != CC;
			r->desc[self->added[i].id].counter = i + 1;
		}
		/* The batch: D last, then B (desc[].next). */
		r->last_batch_head = self->added[CD].id;
		r->desc[self->added[CD].id].next = self->added[CB].id;
		r->used_idx = 1;
		for (i = 0; i < 3; i++) {
			d->used->ring[i].id = self->added[used[i]].id;
			d->used->ring[i].len = BUF_LEN;
		}
		/* The elements first, as a device publishes. */
		smp_store_release(&d->used->idx, published ? 3 : 1);
		return;
	}
	{
		struct ift_packed *r = rpacked(self);

		r->features = (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VIRTIO_F_RING_PACKED) |
			      (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
		r->version = 1;
		r->desc_num = QSZ;
		for (i = 0; i < QSZ; i++)
			r->desc[i].next = i + 1;
		/* Chain k in entries 2k (head) and 2k + 1, as in the ring. */
		for (k = 0; k < 4; k++) {
			struct ift_packed_desc *h = &r->desc[2 * k];

			for (i = 0; i < 2; i++) {
				struct vring_packed_desc *sl =
					&d->pdesc[2 * k + i];

				r->desc[2 * k + i].id = sl->id;
				r->desc[2 * k + i].flags = sl->flags;
				r->desc[2 * k + i].len = sl->len;
				r->desc[2 * k + i].addr = sl->addr;
			}
			h->inflight = k != CC;
			h->num = 2;
			h->last = 2 * k + 1;
			h->counter = k + 1;
		}
		/* C's entries back on the free list, at its head. */
		r->desc[2 * CC + 1].next = 2 * CD + 2;
		r->free_head = 2 * CC;
		r->old_free_head = 2 * CC;
		/* C used at slot 0; B and D pushed: marked, position after. */
		vq_driver_pdesc_raw(d, 0, d->pdesc[0].addr, BUF_LEN,
				    self->added[CC].id,
				    VQ_PACKED_AVAIL | VQ_PACKED_USED);
		r->desc[2 * CB].padding = 1;
		r->desc[2 * CD].padding = 1;
		r->old_used_idx = 2;
		r->old_used_wrap_counter = 1;
		r->used_idx = 6;
		r->used_wrap_counter = 1;
		if (published) {
			/* Slot 4 first: the one at old_used_idx last. */
			vq_driver_pdesc_raw(d, 4, d->pdesc[4].addr, BUF_LEN,
					    self->added[CD].id,
					    VQ_PACKED_AVAIL | VQ_PACKED_USED);
			vq_driver_pdesc_raw(d, 2, d->pdesc[2].addr, BUF_LEN,
					    self->added[CB].id,
					    VQ_PACKED_AVAIL | VQ_PACKED_USED);
		}
	}
}

/*
 * A back-end started on the crafted region and rings. @published: B and
 * D are in the used ring already, after C: only A is resubmitted (used
 * C, B, D, A); otherwise A, B and D are, in pop order (C, A, B, D). Then
 * E, added later, is used once; nothing in flight at the end.
 */
static void interrupted(struct __test_metadata *_metadata,
			FIXTURE_DATA(ift) *self, bool published)
{
	static const unsigned int pub[4] = { CC, CB, CD, CA };
	static const unsigned int unpub[4] = { CC, CA, CB, CD };

	craft(_metadata, self, published);
	backend_take_region(_metadata, self, false, 1);
	/* QEMU's base after a back-end died: its used position. */
	ASSERT_EQ(0, fe_ring(self, self->g.format == VQ_SPLIT ?
			     (published ? 3 : 1) : base_after(self, 1)));
	ASSERT_TRUE(wait_used(self, 4)) TH_LOG("used %u of 4", self->nr_used);
	EXPECT_TRUE(used_is(_metadata, self, 0, published ? pub : unpub, 4));
	/* Nothing more: none pushed twice. */
	usleep(20000);
	EXPECT_EQ(4, take_used(self));
	EXPECT_FALSE(self->bad_used);
	ASSERT_LE(0, add_chain(self, true));
	ASSERT_TRUE(wait_used(self, 5));
	EXPECT_TRUE(used_in_order(_metadata, self, 4, 5));
	finish(_metadata, self, 5);
}

TEST_F(ift, interrupted_publication_published)
{
	interrupted(_metadata, self, true);
}

TEST_F(ift, interrupted_publication_not_published)
{
	interrupted(_metadata, self, false);
}

/* ---- 5. hostile regions ------------------------------------------------- */

enum bad_region {
	BR_DESC_NUM_SMALL,	/* desc_num below the ring size */
	BR_DESC_NUM_LARGE,	/* desc_num above it (a larger region) */
	BR_SPLIT_BATCH_HEAD,	/* split: last_batch_head >= desc_num */
	BR_SPLIT_BATCH_NEXT,	/* split: desc[last_batch_head].next too */
	BR_SPLIT_BATCH_LONG,	/* split: used->idx - used_idx > size */
	BR_PACKED_NEXT,		/* packed: a head's next >= desc_num */
	BR_PACKED_SHARED,	/* packed: two chains share an entry */
	BR_PACKED_NUM_0,	/* packed: an inflight head of num 0 */
	BR_PACKED_NUM_BIG,	/* packed: num > the ring size */
	BR_NR,
};

static const char *const bad_region_names[BR_NR] = {
	"desc_num below the ring size", "desc_num above the ring size",
	"split last_batch_head out of range",
	"split batch next out of range", "split batch longer than the ring",
	"packed next out of range", "packed chains sharing an entry",
	"packed num 0", "packed num above the ring size",
};

/*
 * Make the crafted region of craft() bad in one way (split: published,
 * packed: not published).
 */
static bool make_bad(struct __test_metadata *_metadata,
		     FIXTURE_DATA(ift) *self, enum bad_region br)
{
	bool packed = self->g.format == VQ_PACKED;
	uint16_t *desc_num = packed ? &rpacked(self)->desc_num :
				      &rsplit(self)->desc_num;
	unsigned int b = 2 * CB;	/* packed: B's head entry */

	switch (br) {
	case BR_DESC_NUM_SMALL:
		*desc_num = QSZ / 2;
		return true;
	case BR_DESC_NUM_LARGE:
		*desc_num = 2 * QSZ;
		return true;
	case BR_SPLIT_BATCH_HEAD:
		if (packed)
			return false;
		rsplit(self)->last_batch_head = QSZ;
		return true;
	case BR_SPLIT_BATCH_NEXT:
		if (packed)
			return false;
		rsplit(self)->desc[self->added[CD].id].next = QSZ + 3;
		return true;
	case BR_SPLIT_BATCH_LONG:
		if (packed)
			return false;
		rsplit(self)->used_idx = (uint16_t)(3 - QSZ - 1);
		return true;
	case BR_PACKED_NEXT:
		if (!packed)
			return false;
		rpacked(self)->desc[b].next = QSZ + 3;
		return true;
	case BR_PACKED_SHARED:
		if (!packed)
			return false;
		/* B's second descriptor in A's second entry. */
		rpacked(self)->desc[b].next = 1;
		rpacked(self)->desc[b].last = 1;
		return true;
	case BR_PACKED_NUM_0:
		if (!packed)
			return false;
		rpacked(self)->desc[b].num = 0;
		return true;
	case BR_PACKED_NUM_BIG:
		if (!packed)
			return false;
		rpacked(self)->desc[b].num = QSZ + 1;
		return true;
	default:
		return false;
	}
}

/*
 * Each hostile region: SET_INFLIGHT_FD and the memory taken, the ring
 * refused when it starts, the connection closed with an error logged;
 * the back-end then serves a good connection; nothing leaks.
 */
TEST_F(ift, hostile_regions)
{
	struct vdev_vhost_user_stats st;
	unsigned int br, errors = 0;
	size_t len;
	int ret;

	for (br = 0; br < BR_NR; br++) {
		const char *what = bad_region_names[br];

		/* A fresh ring and region each time. */
		tdev_guest_clear_ring(&self->g, 0);
		memset(self->outstanding, 0, sizeof(self->outstanding));
		self->nr_added = self->nr_used = 0;
		self->bad_used = false;
		/*
		 * Split: a batch pending; packed: B and D not published, so
		 * that every chain in flight is resubmitted (the entries of
		 * a published one need not be read).
		 */
		craft(_metadata, self, variant->format == VQ_SPLIT);
		if (!make_bad(_metadata, self, br)) {
			region_close(self);
			continue;
		}
		len = self->reg_len;
		if (br == BR_DESC_NUM_LARGE) {
			/* Room for it: a region of 2 * QSZ entries. */
			uint8_t *old = malloc(len);

			ASSERT_NE(NULL, old);
			memcpy(old, self->reg, len);
			region_close(self);
			ASSERT_EQ(0, region_new(self, 1, 2 * QSZ,
						F_SEAL_SHRINK));
			memcpy(self->reg, old, len);
			free(old);
		}
		log_reset();
		ASSERT_EQ(0, conn_open(self));
		ASSERT_EQ(0, fe_negotiate(self));
		ASSERT_EQ(0, fe_set_inflight(&self->fe, self->reg_len, 0, 1,
					     br == BR_DESC_NUM_LARGE ?
					     2 * QSZ : QSZ, self->ifd))
			TH_LOG("%s: refused at SET_INFLIGHT_FD", what);
		ASSERT_EQ(0, fe_mem_table(self));
		ret = fe_ring(self, self->g.format == VQ_SPLIT ? 3 :
			      base_after(self, 1));
		/* The ring did not run: only the crafted used elements. */
		usleep(10000);
		EXPECT_EQ(variant->format == VQ_SPLIT ? 3 : 1, take_used(self))
			TH_LOG("%s: ring ran", what);
		EXPECT_FALSE(self->bad_used);
		EXPECT_NE(0, ret) TH_LOG("%s: ring started", what);
		EXPECT_GT(0, conn_close(self)) TH_LOG("%s: not an error", what);
		errors++;
		EXPECT_LE(1, log_count_icase("inflight"))
			TH_LOG("%s: no line", what);
		vdev_vhost_user_get_stats(self->vu, &st);
		EXPECT_EQ(errors, st.errors) TH_LOG("%s", what);
		EXPECT_FALSE(vdev_device_is_active(&self->t.dev));
		EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
		region_close(self);
	}
	/* Alive: a good session, from a fresh region. */
	tdev_guest_clear_ring(&self->g, 0);
	memset(self->outstanding, 0, sizeof(self->outstanding));
	self->nr_added = self->nr_used = 0;
	ASSERT_EQ(0, region_new(self, 1, QSZ, F_SEAL_SHRINK));
	serve_one(_metadata, self, true);
	finish(_metadata, self, 1);
}

TEST_HARNESS_MAIN
