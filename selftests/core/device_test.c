// SPDX-License-Identifier: GPL-2.0
/*
 * Core device model: feature negotiation, config bounds, activate, reset,
 * pause/resume, the lifecycle of one queue (disable, reset, enable, its
 * position), memory hot-add, refcounting, access platform. A minimal
 * device type ("tdev", selftests/core/tdev.h) echoes every chain it is
 * given: one worker per queue pops chains and returns them used.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include <vdev/vdev.h>

#include "vq_driver.h"	/* before the harness: its ARRAY_SIZE is conditional */
#include "kselftest_harness.h"
#include "core_priv.h"	/* lib/: __vdev_device_quiesce() */
#include "refcount.h"	/* lib/: refcount_saturates tests it directly */
#include "vdev_test.h"
#include "tdev.h"

#define NQ		2
#define QSZ		16
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	(1 << 20)
#define HOT_GPA		0x40000000ULL
#define BUF_OFF		0x10000

/* ---- the test device (tdev.h) ---- */

_Static_assert(NQ == TDEV_NQ, "tdev.h's queue count");

static const uint16_t tdev_sizes[NQ] = { QSZ, QSZ };

static const struct vdev_device_ops tdev_ops = {
	.name = "tdev",
	.read_config = tdev_read_config,
	.activate = tdev_activate,
	.release = tdev_release,
};

/* The same device, able to reset one queue on its own. */
static const struct vdev_device_ops tdev_qr_ops = {
	.name = "tdev",
	.read_config = tdev_read_config,
	.activate = tdev_activate,
	.queue_reset = tdev_queue_reset,
	.queue_enable = tdev_queue_enable,
	.release = tdev_release,
};

#define TDEV_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | \
		       (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
		       (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
		       (1ULL << VIRTIO_F_RING_PACKED))

static int tdev_setup_ops(struct tdev *t, const struct vdev_device_ops *ops,
			  unsigned int min_queues)
{
	struct vdev_device_info info = {
		.name = "tdev",
		.type = VIRTIO_ID_RNG,
		.features = TDEV_FEATURES,
		.queue_sizes = tdev_sizes,
		.nr_queues = NQ,
		.min_queues = min_queues,
	};

	return tdev_init(t, ops, &info, "VDEVCFG", 8, QSZ);
}

static int tdev_setup(struct tdev *t, unsigned int min_queues)
{
	struct vdev_device_info info = {
		.name = "tdev",
		.type = VIRTIO_ID_RNG,
		.features = TDEV_FEATURES,
		.queue_sizes = tdev_sizes,
		.nr_queues = NQ,
		.min_queues = min_queues,
	};

	return tdev_init(t, &tdev_ops, &info, "VDEVCFG", 8, QSZ);
}

/* ---- the driver: tdev_guest (tdev.h), one-descriptor chains ---- */

static int guest_init(struct tdev_guest *g, enum vq_format format)
{
	return tdev_guest_init(g, format, RAM_GPA, RAM_SIZE, QSZ);
}

/* Wait until the device sets DEVICE_NEEDS_RESET; false after 10 s. */
static bool wait_needs_reset(struct tdev *t)
{
	int i;

	for (i = 0; i < 100000; i++) {
		if (vdev_device_needs_reset(&t->dev))
			return true;
		usleep(100);
	}
	return false;
}

/* ---- feature negotiation and config space ---- */

TEST(features_masked_and_refused)
{
	struct tdev t;

	ASSERT_EQ(0, tdev_setup(&t, 1));
	EXPECT_EQ(TDEV_FEATURES, vdev_device_features(&t.dev));
	EXPECT_EQ(VIRTIO_ID_RNG, vdev_device_type(&t.dev));

	vdev_device_ack_features(&t.dev, 1ULL << VIRTIO_F_VERSION_1);
	EXPECT_TRUE(vdev_device_features_ok(&t.dev));
	EXPECT_TRUE(vdev_device_feature_acked(&t.dev, VIRTIO_F_VERSION_1));

	/* VIRTIO_F_ACCESS_PLATFORM was never offered. */
	vdev_device_ack_features(&t.dev, (1ULL << VIRTIO_F_ACCESS_PLATFORM) |
				 (1ULL << VIRTIO_RING_F_EVENT_IDX));
	EXPECT_FALSE(vdev_device_features_ok(&t.dev));
	EXPECT_FALSE(vdev_device_feature_acked(&t.dev,
					       VIRTIO_F_ACCESS_PLATFORM));
	EXPECT_TRUE(vdev_device_feature_acked(&t.dev, VIRTIO_RING_F_EVENT_IDX));
	EXPECT_EQ((1ULL << VIRTIO_F_VERSION_1) |
		  (1ULL << VIRTIO_RING_F_EVENT_IDX),
		  vdev_device_acked_features(&t.dev));

	/* Reset forgets both the acked bits and the refusal. */
	EXPECT_EQ(NULL, vdev_device_reset(&t.dev));
	EXPECT_TRUE(vdev_device_features_ok(&t.dev));
	EXPECT_EQ(0, vdev_device_acked_features(&t.dev));
	vdev_device_put(&t.dev);
	EXPECT_EQ(1, t.released);
}

TEST(config_read_bounds)
{
	uint8_t buf[16];
	struct tdev t;

	ASSERT_EQ(0, tdev_setup(&t, 1));
	memset(buf, 0xaa, sizeof(buf));
	vdev_device_read_config(&t.dev, 0, buf, 8);
	EXPECT_EQ(0, memcmp(buf, "VDEVCFG", 8));

	/* Straddling the end: the tail reads as zero. */
	memset(buf, 0xaa, sizeof(buf));
	vdev_device_read_config(&t.dev, 4, buf, 8);
	EXPECT_EQ(0, memcmp(buf, "CFG\0\0\0\0\0", 8));

	/* Entirely past the end, and an offset that would wrap. */
	memset(buf, 0xaa, sizeof(buf));
	vdev_device_read_config(&t.dev, 0x100, buf, 16);
	EXPECT_EQ(0, buf[0] | buf[7] | buf[15]);
	memset(buf, 0xaa, sizeof(buf));
	vdev_device_read_config(&t.dev, UINT64_MAX - 2, buf, 8);
	EXPECT_EQ(0, buf[0] | buf[7]);

	/* No write_config op: ignored, no crash. */
	vdev_device_write_config(&t.dev, 0, buf, 4);
	vdev_device_read_config(&t.dev, 0, buf, 4);
	EXPECT_EQ(0, memcmp(buf, "VDEV", 4));
	vdev_device_put(&t.dev);
}

TEST(init_rejects_bad_info)
{
	struct vdev_device_info info = {
		.queue_sizes = tdev_sizes, .nr_queues = NQ, .min_queues = 3,
	};
	struct vdev_device dev;

	EXPECT_EQ(-EINVAL, vdev_device_init(&dev, &tdev_ops, &info));
	info.min_queues = 1;
	info.nr_queues = 0;
	EXPECT_EQ(-EINVAL, vdev_device_init(&dev, &tdev_ops, &info));
}

/* ---- activate, reset, pause ---- */

FIXTURE(dev)
{
	struct tdev t;
	struct tdev_guest g;
	int fds0, tasks0;
};

/*
 * Every test that moves data runs on each ring format: the guest lays
 * its rings out in @format and acks VIRTIO_F_RING_PACKED for the packed
 * one (tdev_guest_features()).
 */
FIXTURE_VARIANT(dev)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(dev, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(dev, packed)
{
	.format = VQ_PACKED,
};

FIXTURE_SETUP(dev)
{
	ASSERT_EQ(0, guest_init(&self->g, variant->format));
	ASSERT_EQ(0, tdev_setup(&self->t, NQ));
	vdev_test_baseline(&self->fds0, &self->tasks0);
}

FIXTURE_TEARDOWN(dev)
{
	vdev_device_put(&self->t.dev);
	EXPECT_EQ(1, self->t.released);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	tdev_guest_fini(&self->g);
}

static int activate(struct tdev_guest *g, struct tdev *t, unsigned int nr)
{
	tdev_guest_setup_queues(g, 0);
	vdev_device_ack_features(&t->dev, (1ULL << VIRTIO_F_VERSION_1) |
				 tdev_guest_features(g));
	return vdev_device_activate(&t->dev, g->g.mem, g->irq, g->qp, nr);
}

TEST_F(dev, too_few_queues)
{
	EXPECT_EQ(-EINVAL, activate(&self->g, &self->t, 1));
	EXPECT_FALSE(vdev_device_is_active(&self->t.dev));
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

TEST_F(dev, activate_twice_busy)
{
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	EXPECT_EQ(-EBUSY, vdev_device_activate(&self->t.dev, self->g.g.mem,
					       self->g.irq, self->g.qp, NQ));
	EXPECT_EQ(self->g.irq, vdev_device_reset(&self->t.dev));
	vdev_interrupt_put(self->g.irq);
	vdev_interrupt_get(self->g.irq);
}

/*
 * The queue array is the caller's: a transport may reuse or free its
 * scratch array once activate returned, and reset must still tear down
 * the queues it was given (it used to walk the caller's array).
 */
TEST_F(dev, activate_copies_queue_array)
{
	struct vdev_queue decoy[NQ], **qp;
	unsigned int i;

	qp = calloc(NQ, sizeof(*qp));
	ASSERT_NE(NULL, qp);
	tdev_guest_setup_queues(&self->g, 0);
	for (i = 0; i < NQ; i++)
		qp[i] = &self->g.q[i];
	vdev_device_ack_features(&self->t.dev, (1ULL << VIRTIO_F_VERSION_1) |
				 tdev_guest_features(&self->g));
	ASSERT_EQ(0, vdev_device_activate(&self->t.dev, self->g.g.mem,
					  self->g.irq, qp, NQ));
	/* The caller reuses its array for other queues. */
	for (i = 0; i < NQ; i++) {
		vdev_queue_init(&decoy[i], i, QSZ);
		qp[i] = &decoy[i];
	}
	tdev_guest_add_buf(&self->g, 1, RAM_GPA + BUF_OFF, 64);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 1, 1));

	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	free(qp);
	/* The queues given to activate were torn down, the others untouched. */
	for (i = 0; i < NQ; i++) {
		EXPECT_TRUE(vdev_queue_is_broken(&self->g.q[i]));
		EXPECT_FALSE(vdev_queue_is_broken(&decoy[i]));
		EXPECT_EQ(NULL, decoy[i].dev);
	}
	EXPECT_EQ(1, vdev_mem_nr_regions(self->g.g.mem));
}

TEST_F_TIMEOUT(dev, workers_named_and_joined, 300)
{
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	EXPECT_EQ(NQ, vdev_test_count_threads_named("vdev-tdev-q"));
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 64);
	tdev_guest_add_buf(&self->g, 1, RAM_GPA + BUF_OFF, 64);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 1, 1));
	EXPECT_EQ(64, self->g.used_len[0][0]);

	/* Reset returns the interrupt and no worker survives it. */
	EXPECT_EQ(self->g.irq, vdev_device_reset(&self->t.dev));
	vdev_interrupt_put(self->g.irq);
	vdev_interrupt_get(self->g.irq);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

TEST_F_TIMEOUT(dev, activate_reset_10000, 300)
{
	struct vdev_interrupt *irq;
	int i;

	for (i = 0; i < 10000; i++) {
		ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
		if (i % 100 == 0) {
			tdev_guest_add_buf(&self->g, i % NQ, RAM_GPA + BUF_OFF, 8);
			ASSERT_TRUE(tdev_guest_wait_used(&self->g, i % NQ, 1));
		}
		irq = vdev_device_reset(&self->t.dev);
		ASSERT_EQ(self->g.irq, irq);
		vdev_interrupt_put(irq);
		vdev_interrupt_get(irq);
	}
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

struct load {
	struct tdev_guest *g;
	unsigned int qi;
	atomic_bool stop;
	atomic_uint added;
};

/* Keep queue @qi supplied with buffers, as fast as the device uses them. */
static void *load_thread(void *arg)
{
	struct load *l = arg;
	struct tdev_guest *g = l->g;
	unsigned int qi = l->qi;

	while (!atomic_load(&l->stop)) {
		uint16_t inflight = g->added[qi] - tdev_guest_used(g, qi);

		if (inflight < QSZ) {
			tdev_guest_add_buf(g, qi, RAM_GPA + BUF_OFF, 32);
			atomic_fetch_add(&l->added, 1);
		} else {
			sched_yield();
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(dev, pause_resume_under_load, 300)
{
	struct load l = { .g = &self->g };
	unsigned int before, round;
	pthread_t th;

	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	ASSERT_EQ(0, pthread_create(&th, NULL, load_thread, &l));

	for (round = 0; round < 20; round++) {
		while (atomic_load(&self->t.processed) < (round + 1) * 50)
			usleep(100);
		ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
		EXPECT_TRUE(vdev_device_is_paused(&self->t.dev));
		before = atomic_load(&self->t.processed);
		usleep(20000);	/* the driver keeps kicking meanwhile */
		EXPECT_EQ(before, atomic_load(&self->t.processed));
		ASSERT_EQ(0, vdev_device_resume(&self->t.dev));
	}
	/* Reset while paused must unpark and join. */
	ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vdev_interrupt_get(self->g.irq);
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

/* Wait 20 ms: true when queue @qi used no buffer meanwhile. */
static bool stays_parked(struct tdev_guest *g, unsigned int qi)
{
	uint16_t used = tdev_guest_used(g, qi);

	tdev_guest_add_buf(g, qi, RAM_GPA + BUF_OFF, 8);
	usleep(20000);
	return tdev_guest_used(g, qi) == used;
}

/*
 * The VMM's pause and a transport's quiesce (lib/core_priv.h) are separate
 * reasons to park: the workers run again only when both are gone.
 */
TEST_F(dev, pause_and_quiesce_independent)
{
	uint16_t used;

	EXPECT_EQ(-EINVAL, __vdev_device_quiesce(&self->t.dev));
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));

	/* Quiesce, VMM pause, unquiesce: still paused. */
	ASSERT_EQ(0, __vdev_device_quiesce(&self->t.dev));
	EXPECT_FALSE(vdev_device_is_paused(&self->t.dev));
	ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
	__vdev_device_unquiesce(&self->t.dev);
	EXPECT_TRUE(vdev_device_is_paused(&self->t.dev));
	EXPECT_TRUE(stays_parked(&self->g, 0));
	ASSERT_EQ(0, vdev_device_resume(&self->t.dev));
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));

	/* Quiesce, a VMM resume (not paused: a no-op), unquiesce. */
	ASSERT_EQ(0, __vdev_device_quiesce(&self->t.dev));
	ASSERT_EQ(0, vdev_device_resume(&self->t.dev));
	EXPECT_TRUE(stays_parked(&self->g, 1));
	__vdev_device_unquiesce(&self->t.dev);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 1, 1));

	/* VMM pause, quiesce, VMM resume: parked until the unquiesce. */
	ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
	ASSERT_EQ(0, __vdev_device_quiesce(&self->t.dev));
	ASSERT_EQ(0, vdev_device_resume(&self->t.dev));
	EXPECT_FALSE(vdev_device_is_paused(&self->t.dev));
	used = tdev_guest_used(&self->g, 0);
	EXPECT_TRUE(stays_parked(&self->g, 0));
	__vdev_device_unquiesce(&self->t.dev);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, used + 1));

	/* Reset clears every reason; a late unquiesce is harmless. */
	ASSERT_EQ(0, vdev_device_pause(&self->t.dev));
	ASSERT_EQ(0, __vdev_device_quiesce(&self->t.dev));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	__vdev_device_unquiesce(&self->t.dev);
	EXPECT_FALSE(vdev_device_is_paused(&self->t.dev));
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
}

/* ---- the lifecycle of one queue ---- */

/* A device without queue_reset/queue_enable: refused, nothing changes. */
TEST_F(dev, queue_lifecycle_refused_without_ops)
{
	struct vdev_queue_state st = { 0 };

	EXPECT_FALSE(vdev_device_queue_reset_supported(&self->t.dev));
	EXPECT_FALSE(vdev_device_features(&self->t.dev) &
		     (1ULL << VIRTIO_F_RING_RESET));
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	EXPECT_EQ(-EOPNOTSUPP,
		  vdev_device_queue_disable(&self->t.dev, &self->g.q[0]));
	EXPECT_EQ(-EOPNOTSUPP,
		  vdev_device_queue_reset(&self->t.dev, &self->g.q[0]));
	EXPECT_EQ(-EOPNOTSUPP,
		  vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));
	EXPECT_EQ(-EOPNOTSUPP,
		  vdev_device_queue_get_state(&self->t.dev, &self->g.q[0], &st));
	EXPECT_EQ(-EOPNOTSUPP,
		  vdev_device_queue_set_state(&self->t.dev, &self->g.q[0], &st));
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
}

FIXTURE(qdev)
{
	struct tdev t;
	struct tdev_guest g;
	int fds0, tasks0;
};

/* As for dev: each ring format. */
FIXTURE_VARIANT(qdev)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(qdev, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(qdev, packed)
{
	.format = VQ_PACKED,
};

FIXTURE_SETUP(qdev)
{
	ASSERT_EQ(0, guest_init(&self->g, variant->format));
	ASSERT_EQ(0, tdev_setup_ops(&self->t, &tdev_qr_ops, 1));
	vdev_test_baseline(&self->fds0, &self->tasks0);
}

FIXTURE_TEARDOWN(qdev)
{
	vdev_device_put(&self->t.dev);
	EXPECT_EQ(1, self->t.released);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	tdev_guest_fini(&self->g);
}

/*
 * Queue @qi is stopped after @avail chains (of one descriptor) were
 * popped and @used pushed: the position in @g's ring format.
 */
static void expect_state(struct __test_metadata *_metadata,
			 struct tdev *t, struct tdev_guest *g, unsigned int qi,
			 unsigned int avail, unsigned int used)
{
	struct vdev_queue_state st;
	uint16_t idx;
	bool wrap;

	memset(&st, 0xff, sizeof(st));
	ASSERT_EQ(0, vdev_device_queue_get_state(&t->dev, &g->q[qi], &st));
	tdev_guest_state_after(g, qi, avail, &idx, &wrap);
	EXPECT_EQ(idx, st.last_avail_idx);
	EXPECT_EQ(wrap, st.avail_wrap_counter);
	tdev_guest_state_after(g, qi, used, &idx, &wrap);
	EXPECT_EQ(idx, st.used_idx);
	EXPECT_EQ(wrap, st.used_wrap_counter);
}

/* Calls that need an active device, one of its queues, the right state. */
TEST_F(qdev, queue_lifecycle_checks)
{
	struct vdev_queue_state st = { 0 };
	struct vdev_queue other;

	EXPECT_TRUE(vdev_device_queue_reset_supported(&self->t.dev));
	EXPECT_TRUE(vdev_device_features(&self->t.dev) &
		    (1ULL << VIRTIO_F_RING_RESET));
	/* Not active. */
	EXPECT_EQ(-EINVAL,
		  vdev_device_queue_disable(&self->t.dev, &self->g.q[0]));
	EXPECT_EQ(-EINVAL,
		  vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));

	/* Queue 1 not given to activate; a queue the device never saw. */
	tdev_guest_setup_queues(&self->g, 0);
	vdev_device_ack_features(&self->t.dev, (1ULL << VIRTIO_F_VERSION_1) |
				 tdev_guest_features(&self->g));
	ASSERT_EQ(0, vdev_device_activate(&self->t.dev, self->g.g.mem,
					  self->g.irq, self->g.qp, 1));
	EXPECT_EQ(-EINVAL,
		  vdev_device_queue_reset(&self->t.dev, &self->g.q[1]));
	vdev_queue_init(&other, 0, QSZ);
	EXPECT_EQ(-EINVAL, vdev_device_queue_disable(&self->t.dev, &other));
	EXPECT_EQ(-EINVAL, vdev_device_queue_disable(&self->t.dev, NULL));

	/* Running: no position to read or set, nothing to enable. */
	EXPECT_EQ(-EBUSY, vdev_device_queue_get_state(&self->t.dev,
						      &self->g.q[0], &st));
	EXPECT_EQ(-EBUSY, vdev_device_queue_set_state(&self->t.dev,
						      &self->g.q[0], &st));
	EXPECT_EQ(-EBUSY,
		  vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));

	/* Disable twice is one disable; the device was told once. */
	EXPECT_EQ(0, vdev_device_queue_disable(&self->t.dev, &self->g.q[0]));
	EXPECT_EQ(0, vdev_device_queue_disable(&self->t.dev, &self->g.q[0]));
	EXPECT_EQ(1, atomic_load(&self->t.queue_resets));
	EXPECT_TRUE(vdev_queue_is_broken(&self->g.q[0]));
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));

	/* A bad ring address at enable: refused, stays stopped. */
	EXPECT_EQ(0, vdev_device_queue_reset(&self->t.dev, &self->g.q[0]));
	tdev_guest_program_queue(&self->g, 0, 0);
	self->g.q[0].device_addr = RAM_GPA + RAM_SIZE;
	EXPECT_EQ(-EINVAL,
		  vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));
	EXPECT_TRUE(vdev_device_needs_reset(&self->t.dev));
	EXPECT_EQ(0, atomic_load(&self->t.queue_enables));
	expect_state(_metadata, &self->t, &self->g, 0, 0, 0);

	/* A reset of the device forgets every queue's lifecycle. */
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	EXPECT_EQ(-EINVAL, vdev_device_queue_get_state(&self->t.dev,
						       &self->g.q[0], &st));
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
}

struct queue_op {
	struct tdev *t;
	struct vdev_queue *vq;
	atomic_bool done;
	int ret;
};

static void *queue_disable_thread(void *arg)
{
	struct queue_op *op = arg;

	op->ret = vdev_device_queue_disable(&op->t->dev, op->vq);
	atomic_store(&op->done, true);
	return NULL;
}

/*
 * Disable returns only once the queue's worker is out of its handler:
 * the worker is held in the kick handler of queue 0 (tdev_hold()), and
 * disable waits for it.
 */
TEST_F_TIMEOUT(qdev, queue_disable_waits_for_handler, 60)
{
	struct queue_op op = { .t = &self->t, .vq = &self->g.q[0] };
	struct timespec deadline;
	pthread_t th;

	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	tdev_hold(&self->t, 0);
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	ASSERT_EQ(0, sem_timedwait(&self->t.held, &deadline));

	ASSERT_EQ(0, pthread_create(&th, NULL, queue_disable_thread, &op));
	usleep(50000);
	EXPECT_FALSE(atomic_load(&op.done));
	EXPECT_EQ(0, atomic_load(&self->t.queue_resets));
	sem_post(&self->t.unhold);
	pthread_join(th, NULL);
	EXPECT_EQ(0, op.ret);
	/* The handler finished its chain before the queue stopped. */
	EXPECT_EQ(1, tdev_guest_used(&self->g, 0));
	EXPECT_EQ(1, atomic_load(&self->t.queue_resets));
	expect_state(_metadata, &self->t, &self->g, 0, 1, 1);
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
}

/*
 * Queue 0 is disabled, resumed, reset and enabled again, 200 times, while
 * a driver thread keeps queue 1 busy: queue 1 makes progress while queue
 * 0 is stopped, queue 0 uses nothing then and works after each enable,
 * no worker is restarted, and no fd or thread is left behind.
 */
TEST_F_TIMEOUT(qdev, queue_reset_others_keep_running, 300)
{
	struct load l = { .g = &self->g, .qi = 1 };
	unsigned int round, resets = 0;
	unsigned int u0;
	pthread_t th;
	int fds;

	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	fds = vdev_test_count_fds();
	ASSERT_EQ(0, pthread_create(&th, NULL, load_thread, &l));
	for (round = 0; round < 200; round++) {
		ASSERT_EQ(0, vdev_device_queue_disable(&self->t.dev,
						       &self->g.q[0]));
		u0 = tdev_guest_used(&self->g, 0);
		tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
		/* Queue 1 goes on meanwhile; queue 0 takes nothing. */
		ASSERT_TRUE(tdev_wait_progress(&self->g.used[1], 4, 10000));
		ASSERT_EQ(u0, tdev_guest_used(&self->g, 0));
		expect_state(_metadata, &self->t, &self->g, 0, u0, u0);
		ASSERT_EQ(NQ, vdev_test_count_threads_named("vdev-tdev-q"));

		if (round % 2) {
			/* Reset: the buffer goes with the ring. */
			ASSERT_EQ(0, vdev_device_queue_reset(&self->t.dev,
							     &self->g.q[0]));
			EXPECT_FALSE(self->g.q[0].ready);
			EXPECT_EQ(0, self->g.q[0].desc_addr);
			expect_state(_metadata, &self->t, &self->g, 0, 0, 0);
			tdev_guest_clear_ring(&self->g, 0);
			tdev_guest_program_queue(&self->g, 0, 0);
			ASSERT_EQ(0, vdev_device_queue_enable(&self->t.dev,
							      &self->g.q[0]));
			tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
			ASSERT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
			resets++;
		} else {
			/* Resume: the buffer added while stopped is used. */
			ASSERT_EQ(0, vdev_device_queue_enable(&self->t.dev,
							      &self->g.q[0]));
			ASSERT_TRUE(tdev_guest_wait_used(&self->g, 0, u0 + 1));
		}
	}
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	EXPECT_EQ(100, resets);
	EXPECT_EQ(200, atomic_load(&self->t.queue_resets));
	EXPECT_EQ(200, atomic_load(&self->t.queue_enables));
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));
	EXPECT_EQ(fds, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0 + NQ, vdev_test_settle_tasks(self->tasks0 + NQ));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

/*
 * The position across a disable and an enable: chains the device held
 * come back (none lost), nothing is used twice, and a position set on a
 * reset queue is where it goes on (vhost-user's SET_VRING_BASE).
 */
TEST_F(qdev, queue_state_across_disable_enable)
{
	struct vdev_queue_state st, bad;
	unsigned int processed;
	int i;

	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	/* The device pops three chains and holds them. */
	tdev_keep(&self->t, 0, true);
	for (i = 0; i < 3; i++)
		tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	for (i = 0; i < 100000 && atomic_load(&self->t.popped) < 3; i++)
		usleep(100);
	ASSERT_EQ(3, atomic_load(&self->t.popped));
	ASSERT_EQ(0, tdev_guest_used(&self->g, 0));

	/* Disabled: they were given back, the position is before them. */
	ASSERT_EQ(0, vdev_device_queue_disable(&self->t.dev, &self->g.q[0]));
	expect_state(_metadata, &self->t, &self->g, 0, 0, 0);
	tdev_keep(&self->t, 0, false);
	ASSERT_EQ(0, vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));
	ASSERT_TRUE(tdev_guest_wait_used(&self->g, 0, 3));
	for (i = 0; i < 3; i++)	/* in order, each once */
		EXPECT_EQ(self->g.added_id[0][i], self->g.used_id[0][i]);
	EXPECT_EQ(3, atomic_load(&self->t.processed));

	/* Two more, then stop at 5/5. */
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	ASSERT_TRUE(tdev_guest_wait_used(&self->g, 0, 5));
	ASSERT_EQ(0, vdev_device_queue_disable(&self->t.dev, &self->g.q[0]));
	expect_state(_metadata, &self->t, &self->g, 0, 5, 5);
	ASSERT_EQ(0, vdev_device_queue_get_state(&self->t.dev, &self->g.q[0],
						 &st));

	/*
	 * Reset forgets the position; the same rings, programmed again,
	 * go on from the saved one: only the new chain is used.
	 */
	ASSERT_EQ(0, vdev_device_queue_reset(&self->t.dev, &self->g.q[0]));
	expect_state(_metadata, &self->t, &self->g, 0, 0, 0);
	tdev_guest_program_queue(&self->g, 0, 0);
	/*
	 * A position the format cannot hold (a split ring has no wrap
	 * counters, a packed ring offset is below the size): enable
	 * refuses, the queue stays stopped.
	 */
	bad = st;
	if (variant->format == VQ_PACKED)
		bad.last_avail_idx = QSZ;
	else
		bad.avail_wrap_counter = true;
	ASSERT_EQ(0, vdev_device_queue_set_state(&self->t.dev, &self->g.q[0],
						 &bad));
	EXPECT_EQ(-EINVAL,
		  vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));
	ASSERT_EQ(0, vdev_device_queue_set_state(&self->t.dev, &self->g.q[0],
						 &st));
	expect_state(_metadata, &self->t, &self->g, 0, 5, 5);
	processed = atomic_load(&self->t.processed);
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 8);
	ASSERT_EQ(0, vdev_device_queue_enable(&self->t.dev, &self->g.q[0]));
	ASSERT_TRUE(tdev_guest_wait_used(&self->g, 0, 6));
	usleep(20000);
	EXPECT_EQ(processed + 1, atomic_load(&self->t.processed));
	EXPECT_EQ(6, tdev_guest_used(&self->g, 0));
	EXPECT_EQ(self->g.added_id[0][5], self->g.used_id[0][5]);
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
}

TEST_F(dev, pause_inactive_is_noop)
{
	EXPECT_EQ(0, vdev_device_pause(&self->t.dev));
	EXPECT_FALSE(vdev_device_is_paused(&self->t.dev));
	EXPECT_EQ(0, vdev_device_resume(&self->t.dev));
}

/* Guest RAM hot-added while the workers run: buffers there get used. */
TEST_F_TIMEOUT(dev, memory_hot_add_under_load, 300)
{
	struct load l = { .g = &self->g };
	void *hot[8];
	unsigned int i;
	uint16_t used;
	pthread_t th;

	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	ASSERT_EQ(0, pthread_create(&th, NULL, load_thread, &l));
	for (i = 0; i < 8; i++) {
		unsigned int busy = atomic_load(&self->t.processed) + 50;
		struct vdev_mem_region r;

		/* Each add lands while queue 0 is being worked on. */
		while (atomic_load(&self->t.processed) < busy)
			usleep(100);

		hot[i] = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, hot[i]);
		ASSERT_EQ(0, vdev_mem_add_region(self->g.g.mem,
						 HOT_GPA + i * 0x10000, 4096,
						 hot[i]));
		ASSERT_EQ(0, vdev_mem_region_at(self->g.g.mem, i + 1, &r));
		EXPECT_EQ(0, vdev_device_add_memory_region(&self->t.dev, &r));

		/* A buffer in the new region, on the other queue. */
		used = tdev_guest_used(&self->g, 1);
		tdev_guest_add_buf(&self->g, 1, HOT_GPA + i * 0x10000, 4096);
		EXPECT_TRUE(tdev_guest_wait_used(&self->g, 1, used + 1));
		EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));
	}
	EXPECT_EQ(9, vdev_mem_nr_regions(self->g.g.mem));
	EXPECT_EQ(-EEXIST, vdev_mem_add_region(self->g.g.mem, HOT_GPA + 100,
					       4096, hot[0]));
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	EXPECT_GT(atomic_load(&l.added), 0);
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vdev_interrupt_get(self->g.irq);
	for (i = 0; i < 8; i++)
		munmap(hot[i], 4096);
}

/* A buffer outside guest RAM: NEEDS_RESET, config interrupt, other queue ok */
TEST_F_TIMEOUT(dev, needs_reset_isolated, 300)
{
	struct pollfd pfd = { .fd = self->g.irqfd, .events = POLLIN };
	uint64_t v = 0;

	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	/* Drain interrupts raised so far. */
	while (read(self->g.irqfd, &v, sizeof(v)) > 0)
		;
	tdev_guest_add_buf(&self->g, 0, 0x1000, 64);	/* below RAM_GPA: a gap */
	EXPECT_TRUE(wait_needs_reset(&self->t));
	EXPECT_EQ(0, tdev_guest_used(&self->g, 0));
	/* The config interrupt follows the flag: wait for it. */
	EXPECT_EQ(1, poll(&pfd, 1, 10000));
	EXPECT_EQ(8, read(self->g.irqfd, &v, sizeof(v)));
	EXPECT_GE(v, 1);

	/* The other queue of the same device keeps working. */
	tdev_guest_add_buf(&self->g, 1, RAM_GPA + BUF_OFF, 16);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 1, 1));

	/* Reset clears DEVICE_NEEDS_RESET; the device can be used again. */
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vdev_interrupt_get(self->g.irq);
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));
	ASSERT_EQ(0, activate(&self->g, &self->t, NQ));
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 16);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vdev_interrupt_get(self->g.irq);
}

/*
 * A VMM thread (a netlink link monitor, say) raises config interrupts and
 * DEVICE_NEEDS_RESET while another thread activates and resets the
 * device. Each activation gets an interrupt object of its own, whose last
 * reference is the one reset hands back: once that is put, nothing may
 * touch it (ASan), and the interrupt pointer is never read unlocked
 * against activate and reset (TSan).
 */
struct hammer {
	struct tdev *t;
	atomic_bool stop;
	atomic_uint calls;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		vdev_device_config_changed(&h->t->dev);
		vdev_device_set_needs_reset(&h->t->dev, "hammer");
		atomic_fetch_add(&h->calls, 1);
	}
	return NULL;
}

TEST_F_TIMEOUT(dev, irq_from_any_thread_races_reset, 300)
{
	struct hammer h = { .t = &self->t };
	struct vdev_interrupt *irq;
	uint64_t v;
	pthread_t th;
	int i;

	ASSERT_EQ(0, pthread_create(&th, NULL, hammer_thread, &h));
	for (i = 0; i < 2000; i++) {
		ASSERT_EQ(0, vdev_interrupt_eventfd_create(self->g.irqfd, &irq));
		tdev_guest_setup_queues(&self->g, 0);
		vdev_device_ack_features(&self->t.dev,
					 (1ULL << VIRTIO_F_VERSION_1) |
					 tdev_guest_features(&self->g));
		ASSERT_EQ(0, vdev_device_activate(&self->t.dev, self->g.g.mem,
						  irq, self->g.qp, NQ));
		vdev_interrupt_put(irq);	/* the device holds the last */
		if (i % 100 == 0)
			usleep(1000);	/* let the hammer hit an active device */
		irq = vdev_device_reset(&self->t.dev);
		ASSERT_NE(NULL, irq);
		vdev_interrupt_put(irq);	/* freed here */
		while (read(self->g.irqfd, &v, sizeof(v)) > 0)
			;
	}
	atomic_store(&h.stop, true);
	pthread_join(th, NULL);
	EXPECT_LT(0, atomic_load(&h.calls));
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

/* ---- access platform: addresses are IOVAs = GPA + IOVA_OFF ---- */

#define IOVA_OFF 0x800000000ULL

struct tap_ap {
	struct vdev_access_platform ap;
	atomic_uint calls;
	atomic_uint released;
};

static int ap_gva(struct vdev_access_platform *ap, uint64_t gva, uint64_t size,
		  uint64_t *gpa)
{
	struct tap_ap *t = container_of(ap, struct tap_ap, ap);

	atomic_fetch_add(&t->calls, 1);
	if (gva < IOVA_OFF)
		return -EFAULT;
	*gpa = gva - IOVA_OFF;
	return 0;
}

static int ap_gpa(struct vdev_access_platform *ap, uint64_t gpa, uint64_t size,
		  uint64_t *gva)
{
	*gva = gpa + IOVA_OFF;
	return 0;
}

static void ap_release(struct vdev_access_platform *ap)
{
	atomic_fetch_add(&container_of(ap, struct tap_ap, ap)->released, 1);
}

static const struct vdev_access_platform_ops ap_ops = {
	.translate_gva = ap_gva,
	.translate_gpa = ap_gpa,
	.release = ap_release,
};

TEST_F_TIMEOUT(dev, access_platform_translates, 300)
{
	/* Static: the device drops its reference at the fixture's teardown. */
	static struct tap_ap ap;

	vdev_access_platform_init(&ap.ap, &ap_ops);
	ASSERT_EQ(0, vdev_device_set_access_platform(&self->t.dev, &ap.ap));
	vdev_access_platform_put(&ap.ap);	/* the device holds one */
	/* Indirect tables are translated too (queue_test): still offered. */
	EXPECT_EQ(TDEV_FEATURES, vdev_device_features(&self->t.dev));

	tdev_guest_setup_queues(&self->g, IOVA_OFF);
	vdev_device_ack_features(&self->t.dev, (1ULL << VIRTIO_F_VERSION_1) |
				 tdev_guest_features(&self->g));
	ASSERT_EQ(0, vdev_device_activate(&self->t.dev, self->g.g.mem,
					  self->g.irq, self->g.qp, NQ));
	EXPECT_EQ(-EBUSY, vdev_device_set_access_platform(&self->t.dev,
							  &ap.ap));
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF + IOVA_OFF, 64);
	EXPECT_TRUE(tdev_guest_wait_used(&self->g, 0, 1));
	EXPECT_FALSE(vdev_device_needs_reset(&self->t.dev));
	EXPECT_GT(atomic_load(&ap.calls), 3);

	/* An untranslatable (raw GPA) buffer address is a driver error. */
	tdev_guest_add_buf(&self->g, 0, RAM_GPA + BUF_OFF, 64);
	EXPECT_TRUE(wait_needs_reset(&self->t));
	vdev_interrupt_put(vdev_device_reset(&self->t.dev));
	vdev_interrupt_get(self->g.irq);
	EXPECT_EQ(0, atomic_load(&ap.released));
}

/* ---- shutdown, a failed activate ---- */

static const struct vdev_device_ops tdev_counted_ops = {
	.name = "tdev",
	.read_config = tdev_read_config,
	.activate = tdev_activate,
	.reset = tdev_reset,
	.shutdown = tdev_shutdown,
	.release = tdev_release,
};

static int tdev_counted_setup(struct tdev *t)
{
	struct vdev_device_info info = {
		.name = "tdev",
		.type = VIRTIO_ID_RNG,
		.features = TDEV_FEATURES,
		.queue_sizes = tdev_sizes,
		.nr_queues = NQ,
		.min_queues = 1,
	};

	return tdev_init(t, &tdev_counted_ops, &info, "VDEVCFG", 8, QSZ);
}

/* device.h: ops->shutdown is called once, explicit shutdown or not. */
TEST(shutdown_called_once)
{
	struct tdev_guest g;
	struct tdev t;

	ASSERT_EQ(0, guest_init(&g, VQ_SPLIT));
	ASSERT_EQ(0, tdev_counted_setup(&t));
	ASSERT_EQ(0, activate(&g, &t, NQ));
	vdev_device_shutdown(&t.dev);
	EXPECT_EQ(1, t.shutdowns);
	EXPECT_EQ(1, t.resets);
	EXPECT_FALSE(vdev_device_is_active(&t.dev));
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	vdev_device_shutdown(&t.dev);
	EXPECT_EQ(1, t.shutdowns);
	EXPECT_EQ(-ESHUTDOWN, activate(&g, &t, NQ));
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	vdev_device_put(&t.dev);
	EXPECT_EQ(1, t.shutdowns);
	EXPECT_EQ(1, t.released);

	/* Only the last put: once too. */
	ASSERT_EQ(0, tdev_counted_setup(&t));
	ASSERT_EQ(0, activate(&g, &t, NQ));
	vdev_device_put(&t.dev);
	EXPECT_EQ(1, t.shutdowns);
	EXPECT_EQ(1, t.released);
	tdev_guest_fini(&g);
}

/*
 * The activate op fails after starting its workers: they are joined, and
 * ops->reset runs after them so that the device type drops what that
 * activation set up; the device can be activated again.
 */
TEST(failed_activate_resets)
{
	enum vq_format format;
	int fds0, tasks0;
	struct tdev_guest g;
	struct tdev t;

	/* Data moves at the end: each ring format. */
	for (format = VQ_SPLIT; format <= VQ_PACKED; format++) {
		TH_LOG("%s ring", format == VQ_PACKED ? "packed" : "split");
		ASSERT_EQ(0, guest_init(&g, format));
		ASSERT_EQ(0, tdev_counted_setup(&t));
		vdev_test_baseline(&fds0, &tasks0);
		t.activate_err = -EIO;
		EXPECT_EQ(-EIO, activate(&g, &t, NQ));
		EXPECT_FALSE(vdev_device_is_active(&t.dev));
		EXPECT_EQ(1, t.resets);
		EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
		EXPECT_EQ(fds0, vdev_test_count_fds());
		EXPECT_EQ(tasks0, vdev_test_settle_tasks(tasks0));
		EXPECT_TRUE(vdev_queue_is_broken(&g.q[0]));	/* disabled */

		t.activate_err = 0;
		ASSERT_EQ(0, activate(&g, &t, NQ));
		tdev_guest_add_buf(&g, 0, RAM_GPA + BUF_OFF, 64);
		EXPECT_TRUE(tdev_guest_wait_used(&g, 0, 1));
		vdev_interrupt_put(vdev_device_reset(&t.dev));
		EXPECT_EQ(2, t.resets);
		vdev_device_put(&t.dev);
		EXPECT_EQ(1, t.released);
		tdev_guest_fini(&g);
	}
}

/* ---- refcounting ---- */

TEST(refcount_last_put_releases)
{
	struct tdev t;

	ASSERT_EQ(0, tdev_setup(&t, 1));
	EXPECT_EQ(&t.dev, vdev_device_get(&t.dev));
	vdev_device_put(&t.dev);
	EXPECT_EQ(0, t.released);
	vdev_device_put(&t.dev);
	EXPECT_EQ(1, t.released);
}

/* ---- the leak-check helpers (selftests/vdev_test.h) ---- */

/*
 * pthread_join() can return while the joined thread is still listed in
 * /proc/self/task. A baseline taken right after vdev_test_warm_up() must
 * not count the warm-up thread: mmio_test's reset_joins_workers once saw
 * "tasks0 (2) == vdev_test_count_tasks() (1)" in a fresh root.
 */
TEST(warm_up_leaves_no_thread)
{
	int i, base, bad = 0;

	vdev_test_warm_up();
	usleep(20000);
	base = vdev_test_count_tasks();
	for (i = 0; i < 10000; i++) {
		vdev_test_warm_up();
		if (vdev_test_count_tasks() != base)
			bad++;
	}
	EXPECT_EQ(0, bad);
}

static atomic_uint log_lines;

static void count_log(enum vdev_log_level level, const char *msg)
{
	atomic_fetch_add(&log_lines, 1);
}

/*
 * refcount.h saturates as the kernel's refcount_t does: an increment past
 * INT_MAX, from UINT_MAX or from zero, and a decrement from zero, set the
 * count to REFCOUNT_SATURATED, where it stays: it never wraps and the
 * object is never freed. Logged, but not once per call. The device's own
 * count is one of these (private, lib/core_priv.h): through the device,
 * balanced gets and puts keep it and the last put releases it once.
 */
TEST(refcount_saturates)
{
	atomic_uint r;
	struct tdev t;
	int i;

	atomic_store(&log_lines, 0);
	vdev_log_set_handler(count_log);

	ASSERT_EQ(0, tdev_setup(&t, 1));
	for (i = 0; i < 1000; i++) {
		EXPECT_EQ(&t.dev, vdev_device_get(&t.dev));
		vdev_device_get(&t.dev);
		vdev_device_put(&t.dev);
		vdev_device_put(&t.dev);
	}
	EXPECT_EQ(0, t.released);
	vdev_device_put(&t.dev);
	EXPECT_EQ(1, t.released);

	/* UINT_MAX would wrap to 0, and the next put would free. */
	refcount_set(&r, UINT_MAX);
	refcount_inc(&r);
	EXPECT_EQ(REFCOUNT_SATURATED, refcount_read(&r));
	EXPECT_FALSE(refcount_dec_and_test(&r));

	/* An increment on a freed (zero) object, a put of a zero count. */
	refcount_set(&r, 0);
	refcount_inc(&r);
	EXPECT_EQ(REFCOUNT_SATURATED, refcount_read(&r));
	EXPECT_FALSE(refcount_dec_and_test(&r));
	refcount_set(&r, 0);
	EXPECT_FALSE(refcount_dec_and_test(&r));
	EXPECT_EQ(REFCOUNT_SATURATED, refcount_read(&r));
	EXPECT_FALSE(refcount_dec_and_test(&r));

	/* The ordinary path is untouched. */
	refcount_set(&r, 1);
	refcount_inc(&r);
	EXPECT_FALSE(refcount_dec_and_test(&r));
	EXPECT_TRUE(refcount_dec_and_test(&r));

	vdev_log_set_handler(NULL);
	EXPECT_LE(1, atomic_load(&log_lines));
	EXPECT_GE(10, atomic_load(&log_lines));
}

TEST(mem_translate_bounds)
{
	static char a[4096], b[4096];
	struct vdev_mem *mem;
	uint64_t avail;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x1000, 4096, a));
	ASSERT_EQ(0, vdev_mem_add_region(mem, 0x2000, 4096, b)); /* adjacent */
	EXPECT_EQ(-EINVAL, vdev_mem_add_region(mem, UINT64_MAX - 10, 4096, a));
	EXPECT_EQ(-EINVAL, vdev_mem_add_region(mem, 0x9000, 0, a));
	EXPECT_EQ(-EEXIST, vdev_mem_add_region(mem, 0x1800, 16, a));

	EXPECT_EQ((void *)a, vdev_mem_translate(mem, 0x1000, 4096));
	EXPECT_EQ((void *)(b + 16), vdev_mem_translate(mem, 0x2010, 16));
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x1ff0, 32)); /* spans two */
	EXPECT_EQ((void *)(a + 0xff0), vdev_mem_translate_partial(mem, 0x1ff0, 32,
							&avail));
	EXPECT_EQ(16, avail);
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x3000, 1));	/* past end */
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0xfff, 2));	/* gap */
	EXPECT_EQ(NULL, vdev_mem_translate(mem, 0x1000, UINT64_MAX)); /* wrap */
	EXPECT_EQ(NULL, vdev_mem_translate_partial(mem, UINT64_MAX, 2,
						   &avail));
	vdev_mem_put(mem);
}

/* Read-only regions: kept in the table, refused to write lookups only. */
TEST(mem_readonly_region)
{
	static char rw[4096], ro[4096];
	struct vdev_mem_region r;
	struct vdev_mem *mem;
	uint64_t avail;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, vdev_mem_add_region_flags(mem, 0x1000, 4096, rw, 0));
	ASSERT_EQ(0, vdev_mem_add_region_flags(mem, 0x2000, 4096, ro,
					       VDEV_MEM_F_READONLY));
	EXPECT_EQ(-EINVAL, vdev_mem_add_region_flags(mem, 0x8000, 4096, rw,
						     1U << 31));
	EXPECT_EQ(2, vdev_mem_nr_regions(mem));

	ASSERT_EQ(0, vdev_mem_region_at(mem, 0, &r));
	EXPECT_EQ(0, r.flags);
	ASSERT_EQ(0, vdev_mem_region_at(mem, 1, &r));
	EXPECT_EQ(VDEV_MEM_F_READONLY, r.flags);

	/* Reading: both. */
	EXPECT_EQ((void *)rw, vdev_mem_translate(mem, 0x1000, 16));
	EXPECT_EQ((void *)ro, vdev_mem_translate(mem, 0x2000, 16));
	EXPECT_EQ((void *)(ro + 8), vdev_mem_translate_partial(mem, 0x2008, 8,
							       &avail));
	/* Writing: the read-write region only, even for one byte. */
	EXPECT_EQ((void *)rw, vdev_mem_translate_write(mem, 0x1000, 4096));
	EXPECT_EQ(NULL, vdev_mem_translate_write(mem, 0x2000, 1));
	EXPECT_EQ(NULL, vdev_mem_translate_write(mem, 0x2fff, 1));
	EXPECT_EQ(NULL, vdev_mem_translate_partial_write(mem, 0x2000, 16,
							 &avail));
	/* A write running from RW into RO gets the RW part, then nothing. */
	avail = 0;
	EXPECT_EQ((void *)(rw + 0xff0),
		  vdev_mem_translate_partial_write(mem, 0x1ff0, 32, &avail));
	EXPECT_EQ(16, avail);
	EXPECT_EQ(NULL, vdev_mem_translate_write(mem, 0x1ff0, 32));
	vdev_mem_put(mem);
}

/*
 * A read-only fd region is mapped PROT_READ: it works on an fd opened
 * O_RDONLY, where a read-write mapping is refused.
 */
TEST(mem_readonly_fd_region)
{
	struct vdev_mem *mem;
	char path[64];
	int fd, rofd;
	char *p;

	fd = memfd_create("rom", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 4096));
	ASSERT_EQ(4, pwrite(fd, "ROM!", 4, 0));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, rofd);

	ASSERT_EQ(0, vdev_mem_create(&mem));
	EXPECT_EQ(-EACCES, vdev_mem_add_region_fd(mem, 0x1000, 4096, rofd, 0));
	EXPECT_EQ(-EINVAL, vdev_mem_add_region_fd_flags(mem, 0x1000, 4096,
							rofd, 0, 2));
	ASSERT_EQ(0, vdev_mem_add_region_fd_flags(mem, 0x1000, 4096, rofd, 0,
						  VDEV_MEM_F_READONLY));
	p = vdev_mem_translate(mem, 0x1000, 4);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, memcmp(p, "ROM!", 4));
	EXPECT_EQ(NULL, vdev_mem_translate_write(mem, 0x1000, 4));
	vdev_mem_put(mem);
	close(rofd);
	close(fd);
}

/* ---- fds owned by a worker ---- */

static int owned_fd = -1;
static int own_results[3];

/* Nobody writes the owned eventfd: never called. */
static int tdev_kick_none(struct vdev_worker *w, uint32_t events, void *data)
{
	return 0;
}

/* tdev's workers, plus one that owns an eventfd it also watches. */
static int own_activate(struct vdev_device *dev, struct vdev_queue **queues,
			unsigned int nr)
{
	struct vdev_worker *w;
	int ret, fd, i;

	ret = tdev_activate(dev, queues, nr);
	if (ret)
		return ret;
	/* Refused: a negative fd, and past VDEV_WORKER_MAX_FDS. */
	ret = vdev_worker_create(dev, "own", 0, &w);
	if (ret)
		return ret;
	own_results[0] = vdev_worker_own_fd(w, -1);
	for (i = 0; i < VDEV_WORKER_MAX_FDS; i++)
		vdev_worker_own_fd(w, eventfd(0, EFD_CLOEXEC));
	fd = eventfd(0, EFD_CLOEXEC);
	own_results[1] = vdev_worker_own_fd(w, fd);
	close(fd);
	vdev_worker_destroy(w);	/* closes the 16 */

	ret = vdev_worker_create(dev, "own", 0, &w);
	if (ret)
		return ret;
	owned_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	own_results[2] = vdev_worker_own_fd(w, owned_fd);
	ret = vdev_worker_add_fd(w, owned_fd, EPOLLIN, tdev_kick_none, NULL);
	if (ret) {
		vdev_worker_destroy(w);
		return ret;
	}
	return vdev_worker_start(w);
}

static const struct vdev_device_ops own_ops = {
	.name = "tdev",
	.activate = own_activate,
	.release = tdev_release,
};

/*
 * An fd handed to a worker is open while the worker runs and closed by
 * the reset that joins it; a never-started worker closes what it owns.
 */
TEST(worker_owned_fd_closed_after_join)
{
	struct vdev_device_info info = {
		.name = "tdev",
		.type = VIRTIO_ID_RNG,
		.features = TDEV_FEATURES,
		.queue_sizes = tdev_sizes,
		.nr_queues = NQ,
		.min_queues = NQ,
	};
	struct tdev_guest g;
	struct tdev t;
	int fds0;

	ASSERT_EQ(0, guest_init(&g, VQ_SPLIT));
	ASSERT_EQ(0, tdev_init(&t, &own_ops, &info, "VDEVCFG", 8, QSZ));
	vdev_test_warm_up();
	fds0 = vdev_test_count_fds();
	ASSERT_EQ(0, activate(&g, &t, NQ));
	EXPECT_EQ(-EINVAL, own_results[0]);
	EXPECT_EQ(-ENOSPC, own_results[1]);
	EXPECT_EQ(0, own_results[2]);
	EXPECT_EQ(NQ + 1, vdev_test_count_threads_named("vdev-tdev-"));
	/* Open while its worker runs: queues' and owner's epoll + owned. */
	EXPECT_EQ(0, fcntl(owned_fd, F_GETFD) < 0);
	EXPECT_EQ(fds0 + NQ + 2 + 2, vdev_test_count_fds());
	vdev_interrupt_put(vdev_device_reset(&t.dev));
	vdev_interrupt_get(g.irq);
	EXPECT_EQ(-1, fcntl(owned_fd, F_GETFD));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(fds0, vdev_test_count_fds());
	vdev_device_put(&t.dev);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	tdev_guest_fini(&g);
}

TEST_HARNESS_MAIN
