// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-mmio transport, driven through vdev_mmio_read()/vdev_mmio_write()
 * exactly as a guest driver would (no KVM): identification, feature
 * negotiation, queue setup and DRIVER_OK, notifications (QueueNotify and
 * the notify eventfd), interrupts, reset, state rules, config space,
 * hostile accesses and DEVICE_NEEDS_RESET. Of the KVM glue only the
 * argument checks run here: registration on a real VM fd needs a working
 * /dev/kvm and is selftests/kvm/kvm_attach_test.
 *
 * The test device ("mdev", selftests/core/tdev.h) echoes every chain: one
 * worker per queue pops and returns each chain used.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include <vdev/vdev.h>

#include "vq_driver.h"	/* before the harness: its ARRAY_SIZE is conditional */
#include "kselftest_harness.h"
#include "vdev_test.h"
#include "tdev.h"

#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#endif

#define NQ		2
#define QSZ		16
#define QMAX		64
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	0x100000ULL
#define F(bit)		(1ULL << (bit))
#define MDEV_FEATURES	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | \
			 F(VIRTIO_F_RING_RESET) | F(VIRTIO_F_RING_PACKED))
/* VERSION_1 and the ring format of the fixture's variant. */
#define V1(self)	(F(VIRTIO_F_VERSION_1) | (self)->ring_f)
#define S_ACK		VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV		VIRTIO_CONFIG_S_DRIVER
#define S_FOK		VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK		VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR		VIRTIO_CONFIG_S_NEEDS_RESET

/* ---- the test device (tdev.h) ---- */

_Static_assert(NQ == TDEV_NQ, "tdev.h's queue count");

static const uint16_t mdev_sizes[NQ] = { QMAX, QMAX };

static const struct vdev_shm_region mdev_shm[] = {
	{ .id = 1, .offset = 0x1000, .len = 0x200000000ULL },
};

static int mdev_get_shm(struct vdev_device *dev, struct vdev_shm_list *list)
{
	memset(list, 0, sizeof(*list));
	list->addr = 0x4000000000ULL;
	list->len = 0x400000000ULL;
	list->nr_regions = 1;
	list->regions = mdev_shm;
	return 0;
}

static const struct vdev_device_ops mdev_ops = {
	.name = "mdev",
	.read_config = tdev_read_config,
	.write_config = tdev_write_config,
	.activate = tdev_activate,
	.release = tdev_release,
};

static const struct vdev_device_ops mdev_shm_ops = {
	.name = "mdev",
	.read_config = tdev_read_config,
	.write_config = tdev_write_config,
	.activate = tdev_activate,
	.release = tdev_release,
	.get_shm_regions = mdev_get_shm,
};

static int mdev_init(struct tdev *d, const struct vdev_device_ops *ops,
		     unsigned int min_queues)
{
	struct vdev_device_info info = {
		.name = "mdev",
		.type = VIRTIO_ID_RNG,
		.features = MDEV_FEATURES,
		.queue_sizes = mdev_sizes,
		.nr_queues = NQ,
		.min_queues = min_queues,
	};

	return tdev_init(d, ops, &info, "0123456789abcdef", 16, QMAX);
}

/* ---- the driver side: registers ---- */

static uint32_t rd(struct vdev_mmio *m, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	vdev_mmio_read(m, off, &v, 4);
	return v;
}

static void wr(struct vdev_mmio *m, uint64_t off, uint32_t v)
{
	vdev_mmio_write(m, off, &v, 4);
}

static uint64_t rd_dev_features(struct vdev_mmio *m)
{
	uint64_t f;

	wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)rd(m, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | rd(m, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void wr_drv_features(struct vdev_mmio *m, uint64_t f)
{
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK: the Status read back. */
static uint32_t negotiate(struct vdev_mmio *m, uint64_t f)
{
	wr(m, VIRTIO_MMIO_STATUS, 0);
	wr(m, VIRTIO_MMIO_STATUS, S_ACK);
	wr(m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	wr_drv_features(m, f);
	wr(m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	return rd(m, VIRTIO_MMIO_STATUS);
}

static void program_queue(struct vdev_mmio *m, unsigned int i,
			  struct vq_driver *d)
{
	wr(m, VIRTIO_MMIO_QUEUE_SEL, i);
	wr(m, VIRTIO_MMIO_QUEUE_NUM, d->size);
	wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->desc_gpa);
	wr(m, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->desc_gpa >> 32));
	wr(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)d->avail_gpa);
	wr(m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(d->avail_gpa >> 32));
	wr(m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)d->used_gpa);
	wr(m, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(d->used_gpa >> 32));
	wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

static uint64_t irq_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

FIXTURE(mm)
{
	struct tdev d;
	struct vq_guest g;
	struct vq_driver q[NQ];
	uint64_t ring_f;
	uint64_t buf;
	struct vdev_mmio *m;
	int irqfd;
	int fds0, tasks0;
};

/*
 * Every test runs on each ring format: the driver lays its rings out in
 * @format, and the probes that move data ack VIRTIO_F_RING_PACKED for
 * the packed one (V1()). Tests of feature negotiation and of refused
 * settings negotiate their own features.
 */
FIXTURE_VARIANT(mm)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(mm, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(mm, packed)
{
	.format = VQ_PACKED,
};

FIXTURE_SETUP(mm)
{
	unsigned int i;

	vdev_test_warm_up();
	ASSERT_EQ(0, vq_guest_init(&self->g));
	ASSERT_EQ(0, vq_guest_add(&self->g, RAM_GPA, RAM_SIZE, false));
	for (i = 0; i < NQ; i++) {
		ASSERT_EQ(0, vq_driver_init_format(&self->q[i], &self->g,
						   variant->format, 0, QSZ,
						   false, 0));
	}
	self->ring_f = variant->format == VQ_PACKED ?
		       F(VIRTIO_F_RING_PACKED) : 0;
	self->buf = vq_guest_alloc(&self->g, 0, 4096, 64);
	ASSERT_NE(0, self->buf);
	ASSERT_EQ(0, mdev_init(&self->d, &mdev_ops, 1));
	self->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, self->irqfd);
	ASSERT_EQ(0, vdev_mmio_create(&self->d.dev, self->g.mem, self->irqfd,
				      &self->m));
	vdev_test_baseline(&self->fds0, &self->tasks0);
}

FIXTURE_TEARDOWN(mm)
{
	unsigned int i;

	vdev_mmio_destroy(self->m);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(0, self->d.released);
	vdev_device_put(&self->d.dev);
	EXPECT_EQ(1, self->d.released);
	close(self->irqfd);
	for (i = 0; i < NQ; i++)
		vq_driver_destroy(&self->q[i]);
	vq_guest_destroy(&self->g);
}

/* Full probe of @nq queues; returns the Status read back. */
static uint32_t probe(FIXTURE_DATA(mm) *self, unsigned int nq)
{
	unsigned int i;
	uint32_t s;

	s = negotiate(self->m, V1(self));
	if (!(s & S_FOK))
		return s;
	for (i = 0; i < nq; i++) {
		vq_driver_rewind(&self->q[i]);
		program_queue(self->m, i, &self->q[i]);
	}
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	return rd(self->m, VIRTIO_MMIO_STATUS);
}

/* One writable buffer on queue @qi, kicked through MMIO or the eventfd. */
static void send(FIXTURE_DATA(mm) *self, unsigned int qi, bool via_fd)
{
	struct vq_buf in = { .gpa = self->buf, .len = 128 };
	uint64_t one = 1;

	vq_driver_add(&self->q[qi], NULL, 0, &in, 1, false);
	vq_driver_kick_prepare(&self->q[qi]);
	if (via_fd) {
		int fd = vdev_mmio_queue_notify_fd(self->m, qi);

		if (write(fd, &one, sizeof(one)) != sizeof(one))
			abort();
	} else {
		wr(self->m, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
	}
}

/* Wait for the next used entry of queue @qi: its length, or -1 after 5 s. */
static int wait_used(FIXTURE_DATA(mm) *self, unsigned int qi)
{
	uint32_t len;
	int i;

	for (i = 0; i < 50000; i++) {
		if (vq_driver_get_used(&self->q[qi], &len) >= 0)
			return len;
		usleep(100);
	}
	return -1;
}

/* Wait for the interrupt eventfd; its count, or 0 after 5 s. */
static uint64_t wait_irq(int fd)
{
	uint64_t n;
	int i;

	for (i = 0; i < 50000; i++) {
		n = irq_count(fd);
		if (n)
			return n;
		usleep(100);
	}
	return 0;
}

/* ---- identification ---- */

TEST_F(mm, ids)
{
	uint8_t b[4];

	EXPECT_EQ(0x74726976, rd(self->m, VIRTIO_MMIO_MAGIC_VALUE));
	vdev_mmio_read(self->m, VIRTIO_MMIO_MAGIC_VALUE, b, 4);
	EXPECT_EQ(0, memcmp(b, "virt", 4));
	EXPECT_EQ(2, rd(self->m, VIRTIO_MMIO_VERSION));
	EXPECT_EQ(VIRTIO_ID_RNG, rd(self->m, VIRTIO_MMIO_DEVICE_ID));
	EXPECT_EQ(VDEV_MMIO_VENDOR_ID, rd(self->m, VIRTIO_MMIO_VENDOR_ID));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));

	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 1);
	EXPECT_EQ(QMAX, rd(self->m, VIRTIO_MMIO_QUEUE_NUM_MAX));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, NQ);	/* no such queue */
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_NUM_MAX));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));

	EXPECT_EQ(NQ, vdev_mmio_nr_queues(self->m));
	EXPECT_LE(0, vdev_mmio_queue_notify_fd(self->m, NQ - 1));
	EXPECT_EQ(-EINVAL, vdev_mmio_queue_notify_fd(self->m, NQ));
	EXPECT_NE(vdev_mmio_queue_notify_fd(self->m, 0),
		  vdev_mmio_queue_notify_fd(self->m, 1));
	EXPECT_LE(0, vdev_mmio_irq_fd(self->m));
	EXPECT_NE(self->irqfd, vdev_mmio_irq_fd(self->m));

	/* No shared memory regions: both read as -1. */
	wr(self->m, VIRTIO_MMIO_SHM_SEL, 0);
	EXPECT_EQ(0xffffffff, rd(self->m, VIRTIO_MMIO_SHM_LEN_LOW));
	EXPECT_EQ(0xffffffff, rd(self->m, VIRTIO_MMIO_SHM_BASE_HIGH));
}

TEST(create_rejects_bad_args)
{
	struct vdev_mmio *m = NULL;
	struct vdev_mem *mem;
	struct tdev d;
	int fds0;

	vdev_test_warm_up();
	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, mdev_init(&d, &mdev_ops, 1));
	fds0 = vdev_test_count_fds();
	EXPECT_EQ(-EBADF, vdev_mmio_create(&d.dev, mem, -1, &m));
	EXPECT_EQ(-EBADF, vdev_mmio_create(&d.dev, mem, 1000, &m));
	EXPECT_EQ(-EINVAL, vdev_mmio_create(&d.dev, NULL, 0, &m));
	EXPECT_EQ(NULL, m);
	EXPECT_EQ(fds0, vdev_test_count_fds());
	vdev_mmio_destroy(NULL);
	vdev_device_put(&d.dev);
	EXPECT_EQ(1, d.released);	/* no reference leaked */
	vdev_mem_put(mem);
}

/* ---- feature negotiation ---- */

TEST_F(mm, features)
{
	EXPECT_EQ(MDEV_FEATURES, rd_dev_features(self->m));
	wr(self->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_DEVICE_FEATURES));

	/* Both halves acked, FEATURES_OK sticks. */
	EXPECT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(self->m, F(VIRTIO_F_VERSION_1) |
				     F(VIRTIO_RING_F_EVENT_IDX)));
	EXPECT_EQ(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX),
		  vdev_device_acked_features(&self->d.dev));

	/* A feature never offered: FEATURES_OK reads back clear. */
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(self->m, F(VIRTIO_F_VERSION_1) |
				     F(VIRTIO_F_ACCESS_PLATFORM)));
	EXPECT_FALSE(vdev_device_feature_acked(&self->d.dev,
					       VIRTIO_F_ACCESS_PLATFORM));
	/* ... and DRIVER_OK after it is refused too. */
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_DOK);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_STATUS) & (S_DOK | S_FOK));
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));

	/* Low half only, unoffered bit 1. */
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(self->m, F(VIRTIO_F_VERSION_1) | F(1)));

	/* Without VERSION_1 (legacy driver): refused. */
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(self->m, F(VIRTIO_RING_F_EVENT_IDX)));

	/* A bit past 63. */
	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	wr_drv_features(self->m, F(VIRTIO_F_VERSION_1));
	wr(self->m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(self->m, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	EXPECT_EQ(S_ACK | S_DRV, rd(self->m, VIRTIO_MMIO_STATUS));

	/* Reset forgets the refusal. */
	EXPECT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(self->m, F(VIRTIO_F_VERSION_1)));
	/* A half rewritten before FEATURES_OK replaces the first value. */
	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	wr_drv_features(self->m, F(VIRTIO_F_VERSION_1) | F(0));
	wr_drv_features(self->m, F(VIRTIO_F_VERSION_1));
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	EXPECT_EQ(S_ACK | S_DRV | S_FOK, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(F(VIRTIO_F_VERSION_1),
		  vdev_device_acked_features(&self->d.dev));
}

/* ---- queues, activation, notifications, interrupts ---- */

TEST_F(mm, activate_notify_interrupt)
{
	uint32_t gen;
	int i;

	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	EXPECT_TRUE(vdev_device_is_active(&self->d.dev));
	EXPECT_EQ(NQ, vdev_test_count_threads_named("vdev-mdev-q"));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 1);
	EXPECT_EQ(1, rd(self->m, VIRTIO_MMIO_QUEUE_READY));

	/* Through a QueueNotify write. */
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_GE(wait_irq(self->irqfd), 1);
	EXPECT_EQ(VIRTIO_MMIO_INT_VRING,
		  rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));

	/* InterruptACK clears exactly the bits written. */
	wr(self->m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	EXPECT_EQ(VIRTIO_MMIO_INT_VRING,
		  rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));
	wr(self->m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));

	/* Through the notify eventfd (what KVM_IOEVENTFD writes). */
	for (i = 0; i < 20; i++) {
		send(self, 1, true);
		ASSERT_EQ(128, wait_used(self, 1));
		EXPECT_GE(wait_irq(self->irqfd), 1);
		EXPECT_EQ(VIRTIO_MMIO_INT_VRING,
			  rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));
		wr(self->m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	}
	EXPECT_EQ(21, atomic_load(&self->d.processed));

	/* A config interrupt: its bit, and a new generation. */
	gen = rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION);
	vdev_device_config_changed(&self->d.dev);
	EXPECT_EQ(VIRTIO_MMIO_INT_CONFIG,
		  rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));
	EXPECT_NE(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));
	EXPECT_EQ(1, irq_count(self->irqfd));

	/* Notify of an absent queue: ignored. */
	wr(self->m, VIRTIO_MMIO_QUEUE_NOTIFY, NQ);
	wr(self->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
}

TEST_F(mm, activate_one_queue)
{
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, 1));
	EXPECT_EQ(1, vdev_test_count_threads_named("vdev-mdev-q"));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

TEST_F(mm, reset_joins_workers)
{
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_EQ(NQ, vdev_test_count_threads_named("vdev-"));

	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	/* Joined before the write returned. */
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	EXPECT_EQ(0, vdev_device_acked_features(&self->d.dev));
}

TEST_F(mm, reset_1000)
{
	int i;

	for (i = 0; i < 1000; i++) {
		ASSERT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
		if (i % 10 == 0) {
			send(self, (i / 10) % NQ, i % 20 == 0);
			ASSERT_EQ(128, wait_used(self, (i / 10) % NQ));
		}
		wr(self->m, VIRTIO_MMIO_STATUS, 0);
		ASSERT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	}
	EXPECT_EQ(100, atomic_load(&self->d.processed));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

/*
 * A hostile guest resets the device 1,000 times, each time acking a
 * feature never offered, starting with no queue ready, or with a queue
 * whose rings lie outside guest RAM. Every message it triggers (core,
 * queue and transport) goes through a limiter that survives the guest's
 * reset: the device's (dev->rl), the transport's (10 every 5 s, see
 * Documentation/mmio.rst), each at most its burst plus one "suppressed"
 * line per 5 s window. It used to print 5 lines a cycle.
 */
static atomic_uint log_lines;
static const char *const log_kinds[] = {
	"never offered", "queues enabled, need", "ring 0x", "needs reset",
};
static atomic_uint log_kind_lines[ARRAY_SIZE(log_kinds)];

static void count_log(enum vdev_log_level level, const char *msg)
{
	unsigned int i;

	atomic_fetch_add(&log_lines, 1);
	for (i = 0; i < ARRAY_SIZE(log_kinds); i++)
		if (strstr(msg, log_kinds[i]))
			atomic_fetch_add(&log_kind_lines[i], 1);
}

#define MMIO_RL_BURST	10

TEST_F_TIMEOUT(mm, guest_reset_flood_rate_limited, 120)
{
	struct timespec t0, t1;
	unsigned int i, bound, windows;
	long ms;

	atomic_store(&log_lines, 0);
	vdev_log_set_handler(count_log);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 1000; i++) {
		switch (i % 3) {
		case 0:	/* "driver acked features ... never offered" */
			negotiate(self->m, F(VIRTIO_F_VERSION_1) | F(1));
			break;
		case 1:	/* "0 queues enabled, need 1 to 2" */
			negotiate(self->m, F(VIRTIO_F_VERSION_1));
			wr(self->m, VIRTIO_MMIO_STATUS,
			   S_ACK | S_DRV | S_FOK | S_DOK);
			break;
		case 2:	/* "descriptor ring ...: not inside guest memory" */
			negotiate(self->m, F(VIRTIO_F_VERSION_1));
			wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
			wr(self->m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
			wr(self->m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0x10);
			wr(self->m, VIRTIO_MMIO_QUEUE_USED_HIGH, 0x10);
			wr(self->m, VIRTIO_MMIO_QUEUE_READY, 1);
			wr(self->m, VIRTIO_MMIO_STATUS,
			   S_ACK | S_DRV | S_FOK | S_DOK);
			ASSERT_TRUE(rd(self->m, VIRTIO_MMIO_STATUS) & S_NR);
			break;
		}
		ASSERT_FALSE(vdev_device_is_active(&self->d.dev));
		wr(self->m, VIRTIO_MMIO_STATUS, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	vdev_log_set_handler(NULL);

	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	windows = ms / 5000 + 2;
	bound = windows * (self->d.dev.rl.burst + 1 + MMIO_RL_BURST + 1);
	TH_LOG("%u lines in %ld ms (bound %u)", atomic_load(&log_lines), ms,
	       bound);
	EXPECT_LE(atomic_load(&log_lines), bound);
	/* Not vacuous: each kind of error was reported. */
	for (i = 0; i < ARRAY_SIZE(log_kinds); i++) {
		const char *kind = log_kinds[i];

		EXPECT_LT(0, atomic_load(&log_kind_lines[i]))
			TH_LOG("no \"%s\" line", kind ? kind : "");
	}

	/* The device still works. */
	ASSERT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

/* ---- state rules ---- */

TEST_F(mm, wrong_state_writes_ignored)
{
	uint32_t s = S_ACK | S_DRV | S_FOK | S_DOK;
	int i;

	/* Legacy and read-only registers. */
	wr(self->m, VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
	wr(self->m, VIRTIO_MMIO_QUEUE_PFN, 0x100);
	wr(self->m, VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(self->m, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	EXPECT_EQ(0x74726976, rd(self->m, VIRTIO_MMIO_MAGIC_VALUE));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_PFN));

	/* DRIVER_OK without FEATURES_OK: refused, nothing started. */
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_DOK);
	EXPECT_EQ(S_ACK | S_DRV, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));

	ASSERT_EQ(s, probe(self, NQ));

	/* Features after FEATURES_OK. */
	wr_drv_features(self->m, F(VIRTIO_F_VERSION_1) |
			F(VIRTIO_F_ACCESS_PLATFORM));
	EXPECT_EQ(V1(self), vdev_device_acked_features(&self->d.dev));
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));

	/* Queue registers after DRIVER_OK: the queue keeps working. */
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 0);
	EXPECT_EQ(1, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	wr(self->m, VIRTIO_MMIO_QUEUE_NUM, 2 * QSZ);
	wr(self->m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x10);
	wr(self->m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0x77);
	wr(self->m, VIRTIO_MMIO_QUEUE_USED_LOW, 0);
	/* Queue reset is not negotiated. */
	wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
	EXPECT_EQ(1, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	/* Past one wrap of the ring: the device still uses QSZ entries. */
	for (i = 0; i < QSZ + 4; i++) {
		send(self, 0, false);
		ASSERT_EQ(128, wait_used(self, 0));
	}
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));

	/* Status may not clear bits, except by writing 0. */
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_DOK);
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_TRUE(vdev_device_is_active(&self->d.dev));
	/* NEEDS_RESET is the device's bit. */
	wr(self->m, VIRTIO_MMIO_STATUS, s | S_NR);
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
	/* FAILED is the driver's: stored. */
	wr(self->m, VIRTIO_MMIO_STATUS, s | VIRTIO_CONFIG_S_FAILED);
	EXPECT_EQ(s | VIRTIO_CONFIG_S_FAILED,
		  rd(self->m, VIRTIO_MMIO_STATUS));
	send(self, 1, false);
	EXPECT_EQ(128, wait_used(self, 1));

	/* Queue registers of a ready queue, before DRIVER_OK. */
	negotiate(self->m, V1(self));
	vq_driver_rewind(&self->q[0]);
	program_queue(self->m, 0, &self->q[0]);
	wr(self->m, VIRTIO_MMIO_QUEUE_NUM, 3);	/* ready: ignored */
	wr(self->m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x11);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

TEST_F(mm, activation_failure_needs_reset)
{
	uint32_t gen;

	/* QueueNum 3: not a power of two. */
	negotiate(self->m, F(VIRTIO_F_VERSION_1));
	program_queue(self->m, 0, &self->q[0]);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 0);
	wr(self->m, VIRTIO_MMIO_QUEUE_NUM, 3);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 1);
	gen = rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_NR,
		  rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_TRUE(rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS) &
		    VIRTIO_MMIO_INT_CONFIG);
	EXPECT_NE(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));
	EXPECT_GE(irq_count(self->irqfd), 1);
	/* DRIVER_OK again without a reset: still refused. */
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));

	/* A QueueNum that does not fit 16 bits must not wrap to 16. */
	negotiate(self->m, F(VIRTIO_F_VERSION_1));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_STATUS) & S_NR);
	program_queue(self->m, 0, &self->q[0]);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 0);
	wr(self->m, VIRTIO_MMIO_QUEUE_NUM, 0x10000 + QSZ);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	EXPECT_TRUE(rd(self->m, VIRTIO_MMIO_STATUS) & S_NR);
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));

	/* No queue ready: the device needs at least one. */
	negotiate(self->m, F(VIRTIO_F_VERSION_1));
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_NR,
		  rd(self->m, VIRTIO_MMIO_STATUS));

	/* Rings outside guest RAM. */
	negotiate(self->m, F(VIRTIO_F_VERSION_1));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(self->m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	wr(self->m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0xffffffff);
	wr(self->m, VIRTIO_MMIO_QUEUE_USED_LOW, 0xfffffffc);
	wr(self->m, VIRTIO_MMIO_QUEUE_USED_HIGH, 0xffffffff);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	EXPECT_TRUE(rd(self->m, VIRTIO_MMIO_STATUS) & S_NR);
	EXPECT_FALSE(rd(self->m, VIRTIO_MMIO_STATUS) & S_DOK);

	/* A reset clears it and the device works again. */
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

/* A malformed ring while running: DEVICE_NEEDS_RESET in Status. */
TEST_F(mm, malformed_ring_needs_reset)
{
	struct vq_buf bad = { .gpa = 0x10, .len = 64 };
	uint32_t gen;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	gen = rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION);
	if (variant->format == VQ_PACKED) {
		/* A head whose AVAIL/USED bits disagree with the wrap counter. */
		vq_driver_pdesc_raw(&self->q[0], 0, self->buf, 64, 0,
				    VQ_PACKED_AVAIL | VQ_PACKED_USED);
	} else {
		/* Head index past the queue size. */
		vq_driver_avail_raw(&self->q[0], QSZ + 3);
		vq_driver_publish(&self->q[0]);
	}
	wr(self->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	usleep(50000);
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_DOK | S_NR,
		  rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_TRUE(rd(self->m, VIRTIO_MMIO_INTERRUPT_STATUS) &
		    VIRTIO_MMIO_INT_CONFIG);
	EXPECT_NE(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));
	EXPECT_GE(wait_irq(self->irqfd), 1);

	/* A buffer outside guest RAM on the other queue, too. */
	vq_driver_add(&self->q[1], NULL, 0, &bad, 1, false);
	vq_driver_kick_prepare(&self->q[1]);
	wr(self->m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	usleep(20000);
	EXPECT_EQ(0, vq_driver_used_pending(&self->q[1]));

	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_STATUS));
	ASSERT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

/* ---- config space ---- */

TEST_F(mm, config_space)
{
	uint64_t v8 = 0;
	uint32_t v4 = 0, gen;
	uint16_t v2 = 0;
	uint8_t v1 = 0;

	vdev_mmio_read(self->m, VIRTIO_MMIO_CONFIG, &v1, 1);
	EXPECT_EQ('0', v1);
	vdev_mmio_read(self->m, VIRTIO_MMIO_CONFIG + 2, &v2, 2);
	EXPECT_EQ(0, memcmp(&v2, "23", 2));
	vdev_mmio_read(self->m, VIRTIO_MMIO_CONFIG + 4, &v4, 4);
	EXPECT_EQ(0, memcmp(&v4, "4567", 4));
	vdev_mmio_read(self->m, VIRTIO_MMIO_CONFIG + 8, &v8, 8);
	EXPECT_EQ(0, memcmp(&v8, "89abcdef", 8));
	/* Past the device's config: zeros. */
	v4 = 0xffffffff;
	vdev_mmio_read(self->m, VIRTIO_MMIO_CONFIG + 0x40, &v4, 4);
	EXPECT_EQ(0, v4);

	gen = rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION);
	EXPECT_EQ(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));
	vdev_mmio_write(self->m, VIRTIO_MMIO_CONFIG + 1, "XY", 2);
	EXPECT_EQ(0, memcmp(self->d.config, "0XY3", 4));
	EXPECT_NE(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));
	gen = rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION);
	vdev_mmio_write(self->m, VIRTIO_MMIO_CONFIG + 8, "ZZZZZZZZ", 8);
	EXPECT_EQ(0, memcmp(self->d.config + 8, "ZZZZZZZZ", 8));
	EXPECT_NE(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));

	/* 3 bytes: not an allowed size. */
	gen = rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION);
	vdev_mmio_write(self->m, VIRTIO_MMIO_CONFIG, "abc", 3);
	EXPECT_EQ('0', self->d.config[0]);
	EXPECT_EQ(gen, rd(self->m, VIRTIO_MMIO_CONFIG_GENERATION));
}

/* ---- hostile accesses ---- */

TEST_F(mm, odd_sizes_and_offsets)
{
	static const uint64_t offs[] = {
		0, 1, 2, 3, 0x70, 0x71, 0xfc, 0xfd, 0xff, 0x100, 0x101,
		VDEV_MMIO_SIZE - 8, VDEV_MMIO_SIZE - 1, VDEV_MMIO_SIZE,
		VDEV_MMIO_SIZE + 4, 0x7fffffffffffffffULL,
		UINT64_MAX - 7, UINT64_MAX - 3, UINT64_MAX,
	};
	static const unsigned int lens[] = { 0, 1, 2, 3, 4, 5, 8, 16, 64 };
	uint8_t buf[64];
	unsigned int i, j;

	/* Registers take 4-byte accesses only. */
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK);
	buf[0] = 0;
	vdev_mmio_write(self->m, VIRTIO_MMIO_STATUS, buf, 1);
	vdev_mmio_write(self->m, VIRTIO_MMIO_STATUS, buf, 2);
	memset(buf, 0, 8);
	vdev_mmio_write(self->m, VIRTIO_MMIO_STATUS, buf, 8);
	EXPECT_EQ(S_ACK, rd(self->m, VIRTIO_MMIO_STATUS));
	memset(buf, 0xaa, sizeof(buf));
	vdev_mmio_read(self->m, VIRTIO_MMIO_MAGIC_VALUE, buf, 2);
	EXPECT_EQ(0, buf[0] | buf[1]);
	EXPECT_EQ(0xaa, buf[2]);
	/* Unaligned 4-byte register access. */
	memset(buf, 0xaa, sizeof(buf));
	vdev_mmio_read(self->m, VIRTIO_MMIO_MAGIC_VALUE + 1, buf, 4);
	EXPECT_EQ(0, buf[0] | buf[3]);
	/* Unknown register inside the layout. */
	EXPECT_EQ(0, rd(self->m, 0xe0));

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		for (j = 0; j < ARRAY_SIZE(lens); j++) {
			vdev_mmio_read(self->m, offs[i], buf, lens[j]);
			memset(buf, 0, sizeof(buf));
			if (offs[i] >= VIRTIO_MMIO_STATUS + 4 ||
			    offs[i] + lens[j] <= VIRTIO_MMIO_STATUS)
				vdev_mmio_write(self->m, offs[i], buf,
						lens[j]);
		}
	}
	/* Outside the window: zeros, never the device's config. */
	memset(buf, 0xaa, sizeof(buf));
	vdev_mmio_read(self->m, VDEV_MMIO_SIZE, buf, 4);
	EXPECT_EQ(0, buf[0] | buf[3]);
	EXPECT_EQ(S_ACK, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(0x74726976, rd(self->m, VIRTIO_MMIO_MAGIC_VALUE));
	/* The config writes with a valid size inside the window landed. */
	EXPECT_EQ(0, self->d.config[1]);

	/* The device still probes and works. */
	ASSERT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

/* ---- queue reset (VIRTIO_F_RING_RESET) ---- */

TEST_F(mm, queue_reset)
{
	uint32_t s = S_ACK | S_DRV | S_FOK | S_DOK;
	unsigned int before;
	unsigned int i;

	/* Before DRIVER_OK: the queue returns to its power-on state. */
	negotiate(self->m, V1(self) | F(VIRTIO_F_RING_RESET));
	program_queue(self->m, 0, &self->q[0]);
	EXPECT_EQ(1, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
	EXPECT_EQ(0, rd(self->m, VDEV_MMIO_QUEUE_RESET));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));

	/* While running: queue 0 stops, queue 1 goes on. */
	for (i = 0; i < NQ; i++) {
		vq_driver_rewind(&self->q[i]);
		program_queue(self->m, i, &self->q[i]);
	}
	wr(self->m, VIRTIO_MMIO_STATUS, s);
	ASSERT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));

	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
	EXPECT_EQ(0, rd(self->m, VDEV_MMIO_QUEUE_RESET));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	before = atomic_load(&self->d.processed);
	send(self, 0, false);
	usleep(20000);
	EXPECT_EQ(0, vq_driver_used_pending(&self->q[0]));
	EXPECT_EQ(before, atomic_load(&self->d.processed));
	send(self, 1, false);
	EXPECT_EQ(128, wait_used(self, 1));
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));	/* no NEEDS_RESET */

	/* Re-enabling cannot restart one queue: NEEDS_RESET. */
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 1);
	EXPECT_EQ(s | S_NR, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));

	/* A pause by the VMM outlives a queue reset. */
	ASSERT_EQ(0, vdev_device_pause(&self->d.dev));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	EXPECT_TRUE(vdev_device_is_paused(&self->d.dev));
	ASSERT_EQ(0, vdev_device_resume(&self->d.dev));

	/* A full reset brings it back. */
	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	ASSERT_EQ(s, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

/*
 * A pause by the VMM and the quiesce of a guest's QueueReset must not undo
 * each other, in either order. The check of "paused": is_paused() says so
 * and a buffer on the other queue is not used until the VMM resumes.
 */
static void expect_vmm_paused(struct __test_metadata *_metadata,
			      FIXTURE_DATA(mm) *self)
{
	EXPECT_TRUE(vdev_device_is_paused(&self->d.dev));
	send(self, 1, false);
	usleep(20000);
	EXPECT_EQ(0, vq_driver_used_pending(&self->q[1]));
	ASSERT_EQ(0, vdev_device_resume(&self->d.dev));
	EXPECT_FALSE(vdev_device_is_paused(&self->d.dev));
	EXPECT_EQ(128, wait_used(self, 1));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	EXPECT_FALSE(rd(self->m, VIRTIO_MMIO_STATUS) & S_NR);
}

static void probe_ring_reset(struct __test_metadata *_metadata,
			     FIXTURE_DATA(mm) *self)
{
	unsigned int i;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(self->m, V1(self) |
				     F(VIRTIO_F_RING_RESET)));
	for (i = 0; i < NQ; i++) {
		vq_driver_rewind(&self->q[i]);
		program_queue(self->m, i, &self->q[i]);
	}
	wr(self->m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	ASSERT_TRUE(vdev_device_is_active(&self->d.dev));
}

/* The VMM pauses first, then the guest resets queue 0. */
TEST_F(mm, queue_reset_after_vmm_pause)
{
	probe_ring_reset(_metadata, self);
	ASSERT_EQ(0, vdev_device_pause(&self->d.dev));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
	expect_vmm_paused(_metadata, self);
}

struct racer {
	FIXTURE_DATA(mm) *self;
	pid_t tid;
};

/* The guest: QueueReset of queue 0 (QueueSel is 0). */
static void *queue_reset_thread(void *arg)
{
	struct racer *r = arg;

	WRITE_ONCE(r->tid, gettid());
	wr(r->self->m, VDEV_MMIO_QUEUE_RESET, 1);
	return NULL;
}

/* The VMM: pause. */
static void *vmm_pause_thread(void *arg)
{
	struct racer *r = arg;

	WRITE_ONCE(r->tid, gettid());
	vdev_device_pause(&r->self->d.dev);
	return NULL;
}

/* Wait up to 5 s for thread @r to be asleep (blocked on a lock). */
static bool wait_asleep(struct racer *r)
{
	char path[64], buf[256], *p;
	int i, n = 0;

	for (i = 0; i < 50000 && n < 100; i++) {
		FILE *f;

		usleep(100);
		if (!READ_ONCE(r->tid))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat",
			 (int)READ_ONCE(r->tid));
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		n = p && p[1] == ' ' && p[2] == 'S' ? n + 1 : 0;
	}
	return n >= 100;
}

/*
 * The guest's queue reset starts first and the VMM pauses while it is
 * under way. To make the interleaving certain, the worker of queue 0 is
 * held in its kick handler (tdev_hold()): the queue reset's quiesce waits
 * for it to park, holding the device's control lock, and the VMM's pause
 * then waits for that lock. Only then is the handler let go. The
 * transport used to look at is_paused(), find it clear, then pause and
 * resume around the queue reset: the resume undid the VMM's pause.
 */
TEST_F_TIMEOUT(mm, vmm_pause_during_queue_reset, 60)
{
	struct racer guest = { .self = self }, vmm = { .self = self };
	struct timespec deadline;
	pthread_t tg, tv;

	probe_ring_reset(_metadata, self);
	tdev_hold(&self->d, 0);
	send(self, 0, false);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	ASSERT_EQ(0, sem_timedwait(&self->d.held, &deadline));
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);

	ASSERT_EQ(0, pthread_create(&tg, NULL, queue_reset_thread, &guest));
	EXPECT_TRUE(wait_asleep(&guest));
	ASSERT_EQ(0, pthread_create(&tv, NULL, vmm_pause_thread, &vmm));
	EXPECT_TRUE(wait_asleep(&vmm));
	sem_post(&self->d.unhold);
	pthread_join(tg, NULL);
	pthread_join(tv, NULL);

	/* The held chain was completed before the queue stopped. */
	EXPECT_EQ(128, wait_used(self, 0));
	expect_vmm_paused(_metadata, self);
}

/* ---- queue reset by a device that can reset one queue ---- */

static const struct vdev_device_ops mdev_qr_ops = {
	.name = "mdev",
	.read_config = tdev_read_config,
	.write_config = tdev_write_config,
	.activate = tdev_activate,
	.queue_reset = tdev_queue_reset,
	.queue_enable = tdev_queue_enable,
	.release = tdev_release,
};

/* Replace the fixture's device and transport by ones on @ops. */
static void mm_use_ops(struct __test_metadata *_metadata,
		       FIXTURE_DATA(mm) *self,
		       const struct vdev_device_ops *ops)
{
	vdev_mmio_destroy(self->m);
	self->m = NULL;
	vdev_device_put(&self->d.dev);
	ASSERT_EQ(1, self->d.released);
	ASSERT_EQ(0, mdev_init(&self->d, ops, 1));
	ASSERT_EQ(0, vdev_mmio_create(&self->d.dev, self->g.mem, self->irqfd,
				      &self->m));
}

struct q1_load {
	FIXTURE_DATA(mm) *self;
	atomic_bool stop;
	atomic_uint done;
	atomic_uint lost;
};

/* The driver keeps queue 1 busy: one buffer at a time, kicked by eventfd. */
static void *q1_load_thread(void *arg)
{
	struct q1_load *l = arg;

	while (!atomic_load(&l->stop)) {
		send(l->self, 1, true);
		if (wait_used(l->self, 1) != 128) {
			atomic_fetch_add(&l->lost, 1);
			break;
		}
		atomic_fetch_add(&l->done, 1);
	}
	return NULL;
}

/*
 * The guest's VIRTIO_F_RING_RESET flow on a device that can reset one
 * queue: queue 0 carries traffic, is reset (QueueReset), programmed
 * again on fresh rings after DRIVER_OK and re-enabled (QueueReady), and
 * carries traffic again, 50 times, while the driver keeps queue 1 busy
 * the whole time. Queue 1 never stops, the device never needs a reset,
 * the workers are the same throughout and no fd is left behind. Without
 * per-queue reset in the transport, re-enabling set DEVICE_NEEDS_RESET.
 */
TEST_F_TIMEOUT(mm, ring_reset_guest_flow, 120)
{
	uint32_t s = S_ACK | S_DRV | S_FOK | S_DOK;
	struct q1_load l = { .self = self };
	unsigned int round, i;
	pthread_t th;
	int fds;

	mm_use_ops(_metadata, self, &mdev_qr_ops);
	EXPECT_TRUE(rd_dev_features(self->m) & F(VIRTIO_F_RING_RESET));
	probe_ring_reset(_metadata, self);
	ASSERT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
	fds = vdev_test_count_fds();
	ASSERT_EQ(0, pthread_create(&th, NULL, q1_load_thread, &l));

	for (round = 0; round < 50; round++) {
		for (i = 0; i < 4; i++) {
			send(self, 0, false);
			ASSERT_EQ(128, wait_used(self, 0));
		}
		wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
		wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
		ASSERT_EQ(0, rd(self->m, VDEV_MMIO_QUEUE_RESET));
		ASSERT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
		ASSERT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
		/* Queue 1 goes on while queue 0 is reset. */
		ASSERT_TRUE(tdev_wait_progress(&l.done, 3, 5000));

		vq_driver_rewind(&self->q[0]);
		program_queue(self->m, 0, &self->q[0]);
		ASSERT_EQ(1, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
		ASSERT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
		ASSERT_EQ(NQ, vdev_test_count_threads_named("vdev-mdev-q"));
	}
	/* Traffic after the last re-enable, on the fresh ring. */
	for (i = 0; i < QSZ + 4; i++) {
		send(self, 0, i & 1);
		ASSERT_EQ(128, wait_used(self, 0));
	}
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	EXPECT_EQ(0, atomic_load(&l.lost));
	EXPECT_EQ(50, atomic_load(&self->d.queue_resets));
	EXPECT_EQ(50, atomic_load(&self->d.queue_enables));
	EXPECT_EQ(s, rd(self->m, VIRTIO_MMIO_STATUS));
	EXPECT_EQ(fds, vdev_test_count_fds());

	/* Rings outside guest RAM at the re-enable: DEVICE_NEEDS_RESET. */
	wr(self->m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(self->m, VDEV_MMIO_QUEUE_RESET, 1);
	wr(self->m, VIRTIO_MMIO_QUEUE_NUM, QSZ);
	wr(self->m, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x10);
	wr(self->m, VIRTIO_MMIO_QUEUE_READY, 1);
	EXPECT_EQ(0, rd(self->m, VIRTIO_MMIO_QUEUE_READY));
	EXPECT_EQ(s | S_NR, rd(self->m, VIRTIO_MMIO_STATUS));
	/* Queue 1 still works; a device reset brings queue 0 back. */
	send(self, 1, false);
	EXPECT_EQ(128, wait_used(self, 1));
	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	ASSERT_EQ(s, probe(self, NQ));
	send(self, 0, false);
	EXPECT_EQ(128, wait_used(self, 0));
}

/* ---- shared memory registers ---- */

TEST(shm_regions)
{
	struct vdev_mmio *m;
	struct vdev_mem *mem;
	struct tdev d;
	int efd;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, mdev_init(&d, &mdev_shm_ops, 1));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_EQ(0, vdev_mmio_create(&d.dev, mem, efd, &m));
	vdev_device_put(&d.dev);
	vdev_mem_put(mem);
	wr(m, VIRTIO_MMIO_SHM_SEL, 1);
	EXPECT_EQ(0, rd(m, VIRTIO_MMIO_SHM_LEN_LOW));
	EXPECT_EQ(2, rd(m, VIRTIO_MMIO_SHM_LEN_HIGH));
	EXPECT_EQ(0x1000, rd(m, VIRTIO_MMIO_SHM_BASE_LOW));
	EXPECT_EQ(0x40, rd(m, VIRTIO_MMIO_SHM_BASE_HIGH));
	wr(m, VIRTIO_MMIO_SHM_SEL, 2);
	EXPECT_EQ(0xffffffff, rd(m, VIRTIO_MMIO_SHM_LEN_LOW));
	EXPECT_EQ(0xffffffff, rd(m, VIRTIO_MMIO_SHM_LEN_HIGH));
	EXPECT_EQ(0xffffffff, rd(m, VIRTIO_MMIO_SHM_BASE_LOW));
	vdev_mmio_destroy(m);
	EXPECT_EQ(1, d.released);
	close(efd);
}

/* ---- several vCPU threads ---- */

struct vcpu_load {
	struct vdev_mmio *m;
	atomic_bool stop;
	atomic_uint reads;
};

/* A second vCPU: reads registers and config, acks interrupts, kicks. */
static void *vcpu_thread(void *arg)
{
	struct vcpu_load *l = arg;
	uint64_t v8;

	while (!atomic_load(&l->stop)) {
		rd(l->m, VIRTIO_MMIO_STATUS);
		rd(l->m, VIRTIO_MMIO_CONFIG_GENERATION);
		rd(l->m, VIRTIO_MMIO_QUEUE_READY);
		wr(l->m, VIRTIO_MMIO_INTERRUPT_ACK,
		   rd(l->m, VIRTIO_MMIO_INTERRUPT_STATUS));
		vdev_mmio_read(l->m, VIRTIO_MMIO_CONFIG, &v8, 8);
		/* Spurious and absent-queue notifications: harmless. */
		wr(l->m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		wr(l->m, VIRTIO_MMIO_QUEUE_NOTIFY, NQ + 1);
		atomic_fetch_add(&l->reads, 1);
	}
	return NULL;
}

TEST_F(mm, concurrent_vcpus)
{
	struct vcpu_load l = { .m = self->m };
	pthread_t th[2];
	int i;

	ASSERT_EQ(0, pthread_create(&th[0], NULL, vcpu_thread, &l));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, vcpu_thread, &l));
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(S_ACK | S_DRV | S_FOK | S_DOK, probe(self, NQ));
		send(self, 0, i & 1);
		ASSERT_EQ(128, wait_used(self, 0));
		send(self, 1, false);
		ASSERT_EQ(128, wait_used(self, 1));
		vdev_device_config_changed(&self->d.dev);
	}
	atomic_store(&l.stop, true);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	EXPECT_GT(atomic_load(&l.reads), 0);
	wr(self->m, VIRTIO_MMIO_STATUS, 0);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
}

/* Destroy while running: joins the workers and closes every fd. */
TEST(destroy_while_active)
{
	struct vdev_mmio *m;
	struct vq_driver q;
	struct vq_guest g;
	struct tdev d;
	int fds0, irqfd;

	vdev_test_warm_up();
	fds0 = vdev_test_count_fds();
	ASSERT_EQ(0, vq_guest_init(&g));
	ASSERT_EQ(0, vq_guest_add(&g, RAM_GPA, RAM_SIZE, true));
	ASSERT_EQ(0, vq_driver_init(&q, &g, 0, QSZ, false, 0));
	ASSERT_EQ(0, mdev_init(&d, &mdev_ops, 1));
	irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_EQ(0, vdev_mmio_create(&d.dev, g.mem, irqfd, &m));
	negotiate(m, F(VIRTIO_F_VERSION_1));
	program_queue(m, 0, &q);
	wr(m, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	ASSERT_TRUE(vdev_device_is_active(&d.dev));
	EXPECT_EQ(1, vdev_test_count_threads_named("vdev-"));
	vdev_device_put(&d.dev);	/* the transport holds the last ref */
	EXPECT_EQ(0, d.released);
	vdev_mmio_destroy(m);
	EXPECT_EQ(1, d.released);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	close(irqfd);
	vq_driver_destroy(&q);
	vq_guest_destroy(&g);
	EXPECT_EQ(fds0, vdev_test_count_fds());
}

/* ---- KVM glue: argument checks (registration: kvm/kvm_attach_test) ---- */

#define MMIO_BASE	0xd0000000ULL
#define GSI		5

TEST_F(mm, kvm_attach_bad_vm_fd)
{
	struct vdev_kvm *k = NULL;
	int efd = eventfd(0, EFD_CLOEXEC);

	EXPECT_EQ(-EINVAL, vdev_kvm_attach(-1, self->m, MMIO_BASE, GSI, &k));
	EXPECT_EQ(-EINVAL, vdev_kvm_attach(efd, self->m, UINT64_MAX - 4, GSI,
					   &k));
	EXPECT_EQ(-EBADF, vdev_kvm_attach(1000, self->m, MMIO_BASE, GSI, &k));
	/* An fd that is not a VM. */
	EXPECT_EQ(-ENOTTY, vdev_kvm_attach(efd, self->m, MMIO_BASE, GSI,
					   &k));
	EXPECT_EQ(NULL, k);
	close(efd);
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	vdev_kvm_detach(NULL);
}

TEST_HARNESS_MAIN
