// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueues, device side: valid paths and hostile drivers.
 *
 * A minimal device type (no workers) is activated over memfd-backed guest
 * memory; the test plays the driver with selftests/vq_driver.h and calls
 * vdev_queue_pop()/push()/notify() itself.
 *
 * Three fixtures share one data structure and set-up:
 *
 *   vq     every test that moves data through the format-neutral driver
 *          calls; a FIXTURE_VARIANT per ring format (split, packed) runs
 *          each of them on every format;
 *   split  tests that write the split ring's layout directly (malformed
 *          rings, ring settings the split format refuses);
 *   packed the same for the packed ring's layout (VIRTIO_F_RING_PACKED
 *          negotiated): chains across the end of the ring, wrap counters,
 *          event suppression areas, buffer ids.
 *
 * Guest memory:
 *
 *   R0  0x010000 .. 0x110000  rings, indirect tables, buffers
 *   R1  0x110000 .. 0x120000  adjacent to R0 (buffers may span both)
 *       0x120000 .. 0x200000  gap
 *   R2  0x200000 .. 0x210000  given to vdev as an fd
 *   R3  0x300000 .. 0x310000  read-only (ROM): vdev's view is PROT_READ
 *
 * Every region of the test's own mapping sits between PROT_NONE guard
 * pages, so an access outside guest RAM faults in the plain build too;
 * the asan build runs the same tests with -fno-sanitize-recover. A store
 * by vdev (or by a device through an iovec vdev handed out) into R3
 * faults the same way.
 *
 * Zero-length descriptors are treated as malformed (as the issue asks):
 * no driver in Linux produces them and they only serve to make chains
 * long without moving data.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

#include "compiler.h"
#include "kselftest_harness.h"
#include "vq_driver.h"

#define R0_GPA		0x010000ULL
#define R0_SIZE		0x100000ULL
#define R1_GPA		(R0_GPA + R0_SIZE)
#define R1_SIZE		0x10000ULL
#define GAP_GPA		(R1_GPA + R1_SIZE)
#define R2_GPA		0x200000ULL
#define R2_SIZE		0x10000ULL
#define R3_GPA		0x300000ULL
#define R3_SIZE		0x10000ULL
#define R3		3	/* region index in self->g */
#define QSIZE		16
#define QMAX		256
#define MAX_IOV		64

#define F(bit)		(1ULL << (bit))
#define ALL_FEATURES	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | \
			 F(VIRTIO_RING_F_INDIRECT_DESC))

/* Last message vdev logged, to check why a queue was stopped. */
static char last_log[512];
/* Every message since the test started (truncated when full). */
static char all_log[4096];
/* Messages about a ring address refused at enable ("... ring 0x..."). */
static unsigned int nr_ring_msgs;

static void capture_log(enum vdev_log_level level, const char *msg)
{
	size_t n = strlen(all_log);

	if (strstr(msg, " ring 0x"))
		nr_ring_msgs++;
	snprintf(last_log, sizeof(last_log), "%s", msg);
	snprintf(all_log + n, sizeof(all_log) - n, "%s\n", msg);
}

struct test_irq {
	struct vdev_interrupt irq;
	unsigned int config;
	unsigned int queue;
	int efd;		/* queue interrupts also signal this, or -1 */
};

static int test_irq_trigger(struct vdev_interrupt *irq,
			    enum vdev_irq_type type, unsigned int queue)
{
	struct test_irq *t = container_of(irq, struct test_irq, irq);

	uint64_t one = 1;

	if (type == VDEV_IRQ_CONFIG) {
		t->config++;
	} else {
		t->queue++;
		if (t->efd >= 0 && write(t->efd, &one, sizeof(one)) < 0)
			return -errno;
	}
	return 0;
}

static void test_irq_release(struct vdev_interrupt *irq)
{
}

static const struct vdev_interrupt_ops test_irq_ops = {
	.trigger = test_irq_trigger,
	.release = test_irq_release,
};

static const uint16_t qt_sizes[] = { QMAX };

static int qt_activate(struct vdev_device *dev, struct vdev_queue **queues,
		       unsigned int nr_queues)
{
	return 0;
}

static void qt_release(struct vdev_device *dev)
{
}

static const struct vdev_device_ops qt_ops = {
	.name = "qt",
	.activate = qt_activate,
	.release = qt_release,
};

FIXTURE(vq) {
	enum vq_format format;
	uint64_t ring_features;
	struct vq_guest g;
	struct vq_driver d;
	struct vdev_device dev;
	struct test_irq irq;
	struct vdev_queue q;
	struct vdev_queue *qp;
	struct iovec iov[MAX_IOV];
	struct vdev_chain chain;
	uint64_t buf;		/* 64 KiB of buffers in R0 */
	bool active;
};

/**
 * struct _fixture_variant_vq - a ring format
 * @format: what the test driver lays out
 * @features: feature bits the format needs offered and acked
 */
FIXTURE_VARIANT(vq) {
	enum vq_format format;
	uint64_t features;
};

FIXTURE_VARIANT_ADD(vq, split) {
	.format = VQ_SPLIT,
	.features = 0,
};

FIXTURE_VARIANT_ADD(vq, packed) {
	.format = VQ_PACKED,
	.features = F(VIRTIO_F_RING_PACKED),
};

/* The split and packed fixtures have the vq fixture's data and set-up. */
#define _test_data_split _test_data_vq
FIXTURE(split);
#define _test_data_packed _test_data_vq
FIXTURE(packed);

static void vqt_setup(struct __test_metadata *_metadata,
		      FIXTURE_DATA(vq) *self, enum vq_format format,
		      uint64_t ring_features)
{
	const struct vdev_device_info info = {
		.name = "qt0",
		.type = 4,
		.features = ALL_FEATURES | ring_features,
		.queue_sizes = qt_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};

	vdev_log_set_handler(capture_log);
	last_log[0] = 0;
	all_log[0] = 0;
	nr_ring_msgs = 0;
	self->format = format;
	self->ring_features = ring_features;
	ASSERT_EQ(0, vq_guest_init(&self->g));
	ASSERT_EQ(0, vq_guest_add(&self->g, R0_GPA, R0_SIZE, false));
	ASSERT_EQ(0, vq_guest_add(&self->g, R1_GPA, R1_SIZE, false));
	ASSERT_EQ(0, vq_guest_add(&self->g, R2_GPA, R2_SIZE, true));
	ASSERT_EQ(0, vq_guest_add_flags(&self->g, R3_GPA, R3_SIZE, false,
					VDEV_MEM_F_READONLY));
	ASSERT_EQ(0, vq_driver_init_format(&self->d, &self->g, format, 0, QSIZE,
					   false, 8));
	self->buf = vq_guest_alloc(&self->g, 0, 0x10000, 4096);
	ASSERT_NE(0, self->buf);
	ASSERT_EQ(0, vdev_device_init(&self->dev, &qt_ops, &info));
	vdev_interrupt_init(&self->irq.irq, &test_irq_ops);
	self->irq.efd = -1;
	vq_driver_bind(&self->d, &self->q, 0, QMAX);
	self->qp = &self->q;
	vdev_chain_init(&self->chain, self->iov, MAX_IOV);
}

static void vqt_teardown(FIXTURE_DATA(vq) *self)
{
	vdev_interrupt_put(vdev_device_reset(&self->dev));
	vdev_device_put(&self->dev);
	vq_driver_destroy(&self->d);
	vq_guest_destroy(&self->g);
	vdev_interrupt_put(&self->irq.irq);
	if (self->irq.efd >= 0)
		close(self->irq.efd);
}

FIXTURE_SETUP(vq)
{
	vqt_setup(_metadata, self, variant->format, variant->features);
}

FIXTURE_TEARDOWN(vq)
{
	vqt_teardown(self);
}

FIXTURE_SETUP(split)
{
	vqt_setup(_metadata, self, VQ_SPLIT, 0);
}

FIXTURE_TEARDOWN(split)
{
	vqt_teardown(self);
}

FIXTURE_SETUP(packed)
{
	vqt_setup(_metadata, self, VQ_PACKED, F(VIRTIO_F_RING_PACKED));
}

FIXTURE_TEARDOWN(packed)
{
	vqt_teardown(self);
}

/* Ack @features and activate the device with its one queue. */
static int vq_start(struct __test_metadata *_metadata,
		    FIXTURE_DATA(vq) *self, uint64_t features)
{
	self->d.event_idx = features & F(VIRTIO_RING_F_EVENT_IDX);
	vdev_device_ack_features(&self->dev, features | self->ring_features);
	return vdev_device_activate(&self->dev, self->g.mem, &self->irq.irq,
				    &self->qp, 1);
}

#define START(features) ASSERT_EQ(0, vq_start(_metadata, self, (features)))

/* Buffer @i of the 64 KiB buffer area, 256 bytes each. */
static struct vq_buf vbuf(FIXTURE_DATA(vq) *self, unsigned int i, uint32_t len)
{
	return (struct vq_buf){ .gpa = self->buf + 256ULL * i, .len = len };
}

/* One readable descriptor at @gpa/@len/@flags/@next in slot @i. */
static void raw(FIXTURE_DATA(vq) *self, uint16_t i, uint64_t gpa,
		uint32_t len, uint16_t flags, uint16_t next)
{
	vq_driver_desc_raw(&self->d, i, gpa, len, flags, next);
}

/* Publish head @head. */
static void post(FIXTURE_DATA(vq) *self, uint16_t head)
{
	vq_driver_avail_raw(&self->d, head);
	vq_driver_publish(&self->d);
}

/*
 * The queue must be stopped: pop fails, the device needs reset, a config
 * interrupt was raised once, the log says @why, and later pops fail too.
 */
#define EXPECT_BROKEN(why) do {						\
	int __r = vdev_queue_pop(&self->q, &self->chain);		\
	ASSERT_TRUE(__r == -EIO || __r == -ENOSPC);			\
	ASSERT_TRUE(vdev_queue_is_broken(&self->q));			\
	ASSERT_TRUE(vdev_device_needs_reset(&self->dev));		\
	ASSERT_EQ(1, self->irq.config);					\
	ASSERT_NE(NULL, strstr(last_log, (why))) TH_LOG("log: %s", last_log); \
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));	\
	ASSERT_TRUE(vdev_queue_has_avail(&self->q));			\
	ASSERT_FALSE(vdev_queue_notify(&self->q));			\
} while (0)

/* ----------------------------------------------------------------------
 * Valid paths
 */

TEST_F(vq, empty_ring)
{
	START(0);
	ASSERT_FALSE(vdev_queue_has_avail(&self->q));
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

TEST_F(vq, direct_chains_1_to_n)
{
	struct vq_buf out[QSIZE];
	unsigned int n, i;
	uint32_t len;

	START(0);
	for (n = 1; n <= QSIZE; n++) {
		int head;

		for (i = 0; i < n; i++)
			out[i] = vbuf(self, i, 1 + i);
		head = vq_driver_add(&self->d, out, n, NULL, 0, false);
		ASSERT_GE(head, 0);
		vq_driver_publish(&self->d);
		ASSERT_TRUE(vdev_queue_has_avail(&self->q));
		ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
		ASSERT_EQ(head, self->chain.id);
		ASSERT_EQ(n, self->chain.nr_descs);
		ASSERT_EQ(n, self->chain.nr_read);
		ASSERT_EQ(0, self->chain.nr_write);
		ASSERT_EQ(n * (n + 1) / 2, self->chain.read_len);
		for (i = 0; i < n; i++) {
			ASSERT_EQ(vq_guest_ptr(&self->g, out[i].gpa, 1),
				  self->iov[i].iov_base);
			ASSERT_EQ(out[i].len, self->iov[i].iov_len);
		}
		ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
		vdev_queue_push_chain(&self->q, &self->chain, 0);
		ASSERT_TRUE(vdev_queue_notify(&self->q));
		ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
		ASSERT_EQ(0, len);
	}
	ASSERT_EQ(QSIZE, self->irq.queue);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

TEST_F(vq, read_then_write)
{
	struct vq_buf out[2] = { vbuf(self, 0, 10), vbuf(self, 1, 20) };
	struct vq_buf in[2] = { vbuf(self, 2, 30), vbuf(self, 3, 40) };
	uint8_t *dst;
	uint32_t len;
	int head;

	START(0);
	memset(vq_guest_ptr(&self->g, out[0].gpa, 10), 0xab, 10);
	head = vq_driver_add(&self->d, out, 2, in, 2, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(2, self->chain.nr_read);
	ASSERT_EQ(2, self->chain.nr_write);
	ASSERT_EQ(30, self->chain.read_len);
	ASSERT_EQ(70, self->chain.write_len);
	ASSERT_EQ(0xab, ((uint8_t *)self->iov[0].iov_base)[9]);
	memset(self->iov[2].iov_base, 0x5a, 30);
	vdev_queue_push_chain(&self->q, &self->chain, 30);
	vdev_queue_notify(&self->q);
	ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(30, len);
	dst = vq_guest_ptr(&self->g, in[0].gpa, 30);
	ASSERT_EQ(0x5a, dst[29]);
}

TEST_F(vq, write_only_chain)
{
	struct vq_buf in[3] = { vbuf(self, 0, 8), vbuf(self, 1, 8),
				vbuf(self, 2, 8) };

	START(0);
	vq_driver_add(&self->d, NULL, 0, in, 3, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(0, self->chain.nr_read);
	ASSERT_EQ(3, self->chain.nr_write);
	ASSERT_EQ(24, self->chain.write_len);
}

TEST_F(vq, indirect)
{
	struct vq_buf out[3] = { vbuf(self, 0, 1), vbuf(self, 1, 2),
				 vbuf(self, 2, 3) };
	struct vq_buf in[2] = { vbuf(self, 3, 4), vbuf(self, 4, 5) };
	unsigned int i;
	uint32_t len;
	int head;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	head = vq_driver_add(&self->d, out, 3, in, 2, true);
	ASSERT_GE(head, 0);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(head, self->chain.id);
	/* The indirect table takes one slot of the ring. */
	ASSERT_EQ(1, self->chain.nr_descs);
	ASSERT_EQ(3, self->chain.nr_read);
	ASSERT_EQ(2, self->chain.nr_write);
	ASSERT_EQ(6, self->chain.read_len);
	ASSERT_EQ(9, self->chain.write_len);
	for (i = 0; i < 5; i++)
		ASSERT_EQ(vq_guest_ptr(&self->g, self->buf + 256 * i, 1),
			  self->iov[i].iov_base);
	vdev_queue_push_chain(&self->q, &self->chain, 9);
	vdev_queue_notify(&self->q);
	ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(9, len);
}

/*
 * A direct descriptor, then an indirect table: allowed on the split ring
 * (as vringh); the packed ring forbids it (packed.indirect_inside_chain).
 */
TEST_F(split, direct_then_indirect)
{
	struct vring_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ self->buf + 256, 4, VRING_DESC_F_WRITE, 0 };
	raw(self, 0, self->buf, 4, VRING_DESC_F_NEXT, 1);
	raw(self, 1, tgpa, 16, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(1, self->chain.nr_read);
	ASSERT_EQ(1, self->chain.nr_write);
}

/* Device to driver: used_event with EVENT_IDX. */
TEST_F(vq, event_idx_used_event)
{
	struct vq_buf b = vbuf(self, 0, 4);
	unsigned int i;

	START(F(VIRTIO_RING_F_EVENT_IDX));
	for (i = 0; i < 4; i++)
		vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);

	/* The first interrupt is always sent (nothing signalled yet). */
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));

	/* Interrupt when used->idx passes 2: not at 2, yes at 3. */
	vq_driver_set_used_event(&self->d, 2);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_EQ(2, vq_driver_used_pending(&self->d));
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));

	/* used_event behind: no interrupt. */
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_EQ(2, self->irq.queue);
	/* avail->flags is ignored with EVENT_IDX. */
	ASSERT_EQ(4, vq_driver_used_pending(&self->d));
}

/* Driver to device: avail_event with EVENT_IDX. */
TEST_F(vq, event_idx_avail_event)
{
	struct vq_buf b = vbuf(self, 0, 4);

	START(F(VIRTIO_RING_F_EVENT_IDX));
	/* Nothing pending: the device may sleep; avail_event = 0. */
	ASSERT_FALSE(vdev_queue_enable_notify(&self->q));
	if (self->format == VQ_SPLIT)
		ASSERT_EQ(0, vq_driver_avail_event(&self->d));
	if (self->format == VQ_PACKED) {
		/* Slot 0 in the first lap (wrap counter 1). */
		ASSERT_EQ(VRING_PACKED_EVENT_FLAG_DESC, self->d.pdevice->flags);
		ASSERT_EQ(VQ_PACKED_WRAP | 0, self->d.pdevice->off_wrap);
	}

	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_TRUE(vq_driver_kick_prepare(&self->d));
	/* The device has not moved avail_event: no further kicks. */
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_FALSE(vq_driver_kick_prepare(&self->d));
	vdev_queue_disable_notify(&self->q);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_FALSE(vdev_queue_enable_notify(&self->q));
	if (self->format == VQ_SPLIT)
		ASSERT_EQ(2, vq_driver_avail_event(&self->d));
	if (self->format == VQ_PACKED)
		ASSERT_EQ(VQ_PACKED_WRAP | 2, self->d.pdevice->off_wrap);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_TRUE(vq_driver_kick_prepare(&self->d));

	/* Buffers that arrive before enable_notify are reported. */
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	ASSERT_TRUE(vdev_queue_enable_notify(&self->q));
}

TEST_F(vq, no_interrupt_flag)
{
	struct vq_buf b = vbuf(self, 0, 4);

	START(0);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	vq_driver_disable_cb(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_EQ(1, vq_driver_used_pending(&self->d));
	/* Nothing new since the last notify: no interrupt either way. */
	vq_driver_enable_cb(&self->d);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_EQ(1, self->irq.queue);
}

TEST_F(vq, no_notify_flag)
{
	struct vq_buf b = vbuf(self, 0, 4);

	START(0);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_TRUE(vq_driver_kick_prepare(&self->d));
	vdev_queue_disable_notify(&self->q);
	if (self->format == VQ_SPLIT)
		ASSERT_EQ(VRING_USED_F_NO_NOTIFY, self->d.used->flags);
	if (self->format == VQ_PACKED)
		ASSERT_EQ(VRING_PACKED_EVENT_FLAG_DISABLE,
			  self->d.pdevice->flags);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_FALSE(vq_driver_kick_prepare(&self->d));
	/* Two chains arrived while notifications were off. */
	ASSERT_TRUE(vdev_queue_enable_notify(&self->q));
	if (self->format == VQ_SPLIT)
		ASSERT_EQ(0, self->d.used->flags);
	if (self->format == VQ_PACKED)
		ASSERT_EQ(VRING_PACKED_EVENT_FLAG_ENABLE,
			  self->d.pdevice->flags);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_TRUE(vq_driver_kick_prepare(&self->d));
}

/* 16-bit indices wrap: 70,000 transfers through a 4-entry queue. */
TEST_F(vq, index_wrap)
{
	struct vq_buf b = vbuf(self, 0, 4);
	unsigned int i;
	uint32_t len;
	int head;

	vq_driver_resize(&self->d, 4);
	self->q.size = 4;
	START(F(VIRTIO_RING_F_EVENT_IDX));
	for (i = 0; i < 70000; i++) {
		head = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
		ASSERT_GE(head, 0);
		vq_driver_publish(&self->d);
		ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
		ASSERT_EQ(head, self->chain.id);
		vdev_queue_push_chain(&self->q, &self->chain, i & 0xffff);
		vdev_queue_flush(&self->q);
		ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
		ASSERT_EQ(i & 0xffff, len);
	}
	if (self->format == VQ_SPLIT) {
		ASSERT_EQ((uint16_t)70000, self->d.avail->idx);
		ASSERT_EQ((uint16_t)70000, self->d.used->idx);
	}
	if (self->format == VQ_PACKED) {
		struct vdev_queue_state st;

		/* 17500 laps: both wrap counters back at 1, at slot 0. */
		ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
		ASSERT_EQ(0, st.last_avail_idx);
		ASSERT_EQ(0, st.used_idx);
		ASSERT_TRUE(st.avail_wrap_counter && st.used_wrap_counter);
		ASSERT_EQ(0, self->d.next_avail);
		ASSERT_TRUE(self->d.avail_wrap && self->d.used_wrap);
	}
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* Pop one chain and check it is buffer @want. */
#define EXPECT_POP(want) do {						\
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));		\
	ASSERT_EQ((want), self->chain.id);				\
} while (0)

/* Chains are given back by chain: it and every later one. */
TEST_F(vq, rewind)
{
	struct vq_buf b = vbuf(self, 0, 4);
	struct vdev_chain a, c;
	struct iovec iova[4], iovc[4];
	int h[3], i, head;
	uint32_t len;

	START(0);
	for (i = 0; i < 3; i++)
		h[i] = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	vdev_chain_init(&a, iova, 4);
	vdev_chain_init(&c, iovc, 4);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &a));
	ASSERT_EQ(h[0], a.id);
	EXPECT_POP(h[1]);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &c));
	ASSERT_EQ(h[2], c.id);

	/* Give back the second and the third. */
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &self->chain));
	EXPECT_POP(h[1]);
	EXPECT_POP(h[2]);
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	/* All three. */
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &a));
	ASSERT_TRUE(vdev_queue_has_avail(&self->q));
	for (i = 0; i < 3; i++) {
		EXPECT_POP(h[i]);
		vdev_queue_push_chain(&self->q, &self->chain, 10 + i);
	}
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	for (i = 0; i < 3; i++) {
		head = vq_driver_get_used(&self->d, &len);
		ASSERT_EQ(h[i], head);
		ASSERT_EQ(10 + i, len);
	}
	ASSERT_EQ(-1, vq_driver_get_used(&self->d, &len));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/*
 * With EVENT_IDX, a device that gave chains back and waits for more
 * (virtio-net RX with a frame too large for what it popped) asks for a
 * kick at the first chain it has not seen, not at the rewound one: the
 * driver made that one available long ago and would never kick for it.
 * The packed ring asked for the rewound position, and the frame waited
 * for ever.
 */
TEST_F(vq, event_idx_after_rewind)
{
	struct vq_buf b = vbuf(self, 0, 4);
	struct vdev_chain first;
	struct iovec iov[4];
	int h0, h1, h2;

	START(F(VIRTIO_RING_F_EVENT_IDX));
	h0 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	h1 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_TRUE(vq_driver_kick_prepare(&self->d));
	vdev_queue_disable_notify(&self->q);
	vdev_chain_init(&first, iov, 4);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &first));
	ASSERT_EQ(h0, first.id);
	EXPECT_POP(h1);
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	/* Not enough: give both back, then wait for more. */
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &first));
	vdev_queue_enable_notify(&self->q);
	ASSERT_FALSE(vdev_queue_more_avail(&self->q));
	h2 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_TRUE(vq_driver_kick_prepare(&self->d));
	ASSERT_TRUE(vdev_queue_more_avail(&self->q));
	vdev_queue_disable_notify(&self->q);
	EXPECT_POP(h0);
	EXPECT_POP(h1);
	EXPECT_POP(h2);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* A chain popped before the rewound one may be pushed before or after. */
TEST_F(vq, rewind_after_push)
{
	struct vq_buf b = vbuf(self, 0, 4);
	struct vdev_chain first;
	struct iovec iov[4];
	uint32_t len;
	int h0, h1, h2;

	START(F(VIRTIO_RING_F_EVENT_IDX));
	h0 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	h1 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	h2 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	vdev_chain_init(&first, iov, 4);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &first));
	EXPECT_POP(h1);
	vdev_queue_push_chain(&self->q, &first, 1);
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &self->chain));
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	EXPECT_POP(h1);
	vdev_queue_push_chain(&self->q, &self->chain, 2);
	EXPECT_POP(h2);
	vdev_queue_push_chain(&self->q, &self->chain, 3);
	vdev_queue_flush(&self->q);
	ASSERT_EQ(h0, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(1, len);
	ASSERT_EQ(h1, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(2, len);
	ASSERT_EQ(h2, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(3, len);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* Rewinding to a chain that is not outstanding is refused, nothing else. */
TEST_F(vq, rewind_not_outstanding)
{
	struct vq_buf b = vbuf(self, 0, 4);
	int h0;

	START(0);
	h0 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	EXPECT_POP(h0);
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &self->chain));
	/* Given back already: the ring is where the chain starts. */
	ASSERT_EQ(-EINVAL, vdev_queue_rewind(&self->q, &self->chain));
	ASSERT_NE(NULL, strstr(last_log, "rewind")) TH_LOG("log: %s", last_log);
	ASSERT_FALSE(vdev_queue_is_broken(&self->q));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	EXPECT_POP(h0);
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
}

/* What lib/net.c asks after giving back too little room. */
TEST_F(vq, more_avail)
{
	struct vq_buf b = vbuf(self, 0, 4);
	int h0, h1;

	START(F(VIRTIO_RING_F_EVENT_IDX));
	ASSERT_FALSE(vdev_queue_more_avail(&self->q));
	h0 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	ASSERT_TRUE(vdev_queue_more_avail(&self->q));
	EXPECT_POP(h0);
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &self->chain));
	/* The chain given back is there, but it is not new. */
	ASSERT_TRUE(vdev_queue_enable_notify(&self->q));
	ASSERT_TRUE(vdev_queue_has_avail(&self->q));
	ASSERT_FALSE(vdev_queue_more_avail(&self->q));
	h1 = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	ASSERT_TRUE(vdev_queue_more_avail(&self->q));
	EXPECT_POP(h0);
	EXPECT_POP(h1);
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_FALSE(vdev_queue_more_avail(&self->q));
}

/* A device that keeps only the id and descriptor count. */
TEST_F(vq, push_id)
{
	struct vq_buf out[3] = { vbuf(self, 0, 4), vbuf(self, 1, 4),
				 vbuf(self, 2, 4) };
	uint16_t id, nr;
	uint32_t len;
	int head;

	START(0);
	head = vq_driver_add(&self->d, out, 3, NULL, 0, false);
	vq_driver_publish(&self->d);
	EXPECT_POP(head);
	ASSERT_EQ(3, self->chain.nr_descs);
	id = self->chain.id;
	nr = self->chain.nr_descs;
	vdev_chain_init(&self->chain, self->iov, MAX_IOV);
	vdev_queue_push_id(&self->q, id, nr, 77);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(77, len);
	ASSERT_EQ(QSIZE, self->d.num_free);
}

/*
 * Stop the queue where it is, reset it, program it again as the driver
 * would, and continue from the saved position (GET/SET_VRING_BASE).
 */
static void stop_reset_resume(struct __test_metadata *_metadata,
			      FIXTURE_DATA(vq) *self)
{
	struct vdev_queue_state st;
	int kick_fd = self->q.kick_fd;

	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	vdev_queue_reset(&self->q);
	ASSERT_TRUE(vdev_queue_is_broken(&self->q));
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(-EINVAL, vdev_queue_get_state(&self->q, &st));
	/* Power-on values for what the driver writes; the rest stays. */
	ASSERT_EQ(QMAX, self->q.size);
	ASSERT_FALSE(self->q.ready);
	ASSERT_EQ(0, self->q.desc_addr);
	ASSERT_EQ(0, self->q.driver_addr);
	ASSERT_EQ(0, self->q.device_addr);
	ASSERT_EQ(kick_fd, self->q.kick_fd);
	ASSERT_EQ(0, self->q.index);

	self->q.size = self->d.size;
	self->q.desc_addr = self->d.desc_gpa;
	self->q.driver_addr = self->d.avail_gpa;
	self->q.device_addr = self->d.used_gpa;
	self->q.ready = true;
	ASSERT_EQ(0, vdev_queue_enable(&self->q, &self->dev, self->g.mem));
	ASSERT_EQ(0, vdev_queue_set_state(&self->q, &st));
	ASSERT_FALSE(vdev_queue_is_broken(&self->q));
}

/* Stopped mid-stream with a chain held: nothing lost, nothing repeated. */
TEST_F(vq, stop_reset_resume_mid_stream)
{
	struct vq_buf b = vbuf(self, 0, 4);
	struct vdev_chain held;
	struct iovec iov[4];
	int h[6], i;
	uint32_t len;

	START(F(VIRTIO_RING_F_EVENT_IDX));
	for (i = 0; i < 6; i++)
		h[i] = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	EXPECT_POP(h[0]);
	vdev_queue_push_chain(&self->q, &self->chain, 100);
	EXPECT_POP(h[1]);
	vdev_queue_push_chain(&self->q, &self->chain, 101);
	vdev_chain_init(&held, iov, 4);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &held));
	ASSERT_EQ(h[2], held.id);
	/* Stopping: the device gives back what it holds. */
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &held));
	ASSERT_EQ(0, vq_driver_used_pending(&self->d));

	stop_reset_resume(_metadata, self);
	/* get_state published the two pushed elements. */
	ASSERT_EQ(2, vq_driver_used_pending(&self->d));

	for (i = 2; i < 6; i++) {
		EXPECT_POP(h[i]);
		vdev_queue_push_chain(&self->q, &self->chain, 100 + i);
	}
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	/* Suppression starts afresh: the first notify interrupts. */
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	for (i = 0; i < 6; i++) {
		ASSERT_EQ(h[i], vq_driver_get_used(&self->d, &len));
		ASSERT_EQ(100 + i, len);
	}
	ASSERT_EQ(-1, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(QSIZE, self->d.num_free);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/*
 * 70,000 transfers through a 4-entry queue, stopped and resumed every
 * 997: the saved positions cross every index wrap of the ring format.
 */
TEST_F(vq, stop_reset_resume_across_wraps)
{
	struct vq_buf b = vbuf(self, 0, 4);
	unsigned int i, resumes = 0;
	uint32_t len;
	int head;

	vq_driver_resize(&self->d, 4);
	self->q.size = 4;
	START(0);
	for (i = 0; i < 70000; i++) {
		head = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
		ASSERT_GE(head, 0);
		vq_driver_publish(&self->d);
		if (i % 997 == 996) {
			stop_reset_resume(_metadata, self);
			resumes++;
		}
		EXPECT_POP(head);
		vdev_queue_push_chain(&self->q, &self->chain, i & 0xffff);
		vdev_queue_flush(&self->q);
		ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
		ASSERT_EQ(i & 0xffff, len);
		ASSERT_EQ(0, vq_driver_used_pending(&self->d));
	}
	ASSERT_EQ(70, resumes);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* A buffer across the R0/R1 boundary takes two iovecs. */
TEST_F(vq, buffer_spans_two_regions)
{
	struct vq_buf in = { .gpa = R1_GPA - 100, .len = 300 };
	uint8_t *r0_end = vq_guest_ptr(&self->g, R1_GPA - 100, 100);
	uint8_t *r1 = vq_guest_ptr(&self->g, R1_GPA, 200);

	START(0);
	vq_driver_add(&self->d, NULL, 0, &in, 1, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(2, self->chain.nr_write);
	ASSERT_EQ(300, self->chain.write_len);
	ASSERT_EQ(r0_end, self->iov[0].iov_base);
	ASSERT_EQ(100, self->iov[0].iov_len);
	ASSERT_EQ(r1, self->iov[1].iov_base);
	ASSERT_EQ(200, self->iov[1].iov_len);
	memset(self->iov[0].iov_base, 1, 100);
	memset(self->iov[1].iov_base, 2, 200);
	ASSERT_EQ(1, r0_end[99]);
	ASSERT_EQ(2, r1[199]);
}

/* The last bytes of R1, right before a guard page, are usable. */
TEST_F(vq, buffer_at_end_of_region)
{
	struct vq_buf in = { vq_guest_alloc_tail(&self->g, 1, 16), 16 };

	ASSERT_EQ(GAP_GPA - 16, in.gpa);
	START(0);
	vq_driver_add(&self->d, NULL, 0, &in, 1, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(1, self->chain.nr_write);
	ASSERT_EQ(16, self->iov[0].iov_len);
	memset(self->iov[0].iov_base, 0x33, 16);
	ASSERT_EQ(0x33, *(uint8_t *)vq_guest_ptr(&self->g, GAP_GPA - 1, 1));
}

/* A buffer in the fd-backed region R2, mapped by vdev itself. */
TEST_F(vq, buffer_in_fd_region)
{
	struct vq_buf in = { .gpa = R2_GPA + 0x100, .len = 64 };
	uint8_t *p = vq_guest_ptr(&self->g, R2_GPA + 0x100, 64);

	START(0);
	vq_driver_add(&self->d, NULL, 0, &in, 1, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(1, self->chain.nr_write);
	/* A different mapping of the same memfd: same bytes. */
	memset(self->iov[0].iov_base, 0x77, 64);
	ASSERT_EQ(0x77, p[63]);
}

/* Rings in the fd-backed region, with a full-size queue. */
TEST_F(vq, rings_in_fd_region)
{
	struct vq_driver d2;
	struct vq_buf b = vbuf(self, 0, 4);

	ASSERT_EQ(0, vq_driver_init_format(&d2, &self->g, self->format, 2, QMAX,
					   false, 0));
	vq_driver_bind(&d2, &self->q, 0, QMAX);
	START(0);
	ASSERT_GE(vq_driver_add(&d2, &b, 1, NULL, 0, false), 0);
	vq_driver_publish(&d2);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vq_driver_destroy(&d2);
}

/* Ring and buffer addresses are IOVAs when an access platform is set. */
#define IOVA_OFFSET 0x40000000ULL

struct test_ap {
	struct vdev_access_platform ap;
	unsigned int calls;
	unsigned int released;
};

static int test_ap_gva(struct vdev_access_platform *ap, uint64_t gva,
		       uint64_t size, uint64_t *gpa)
{
	container_of(ap, struct test_ap, ap)->calls++;
	if (gva < IOVA_OFFSET)
		return -EFAULT;
	*gpa = gva - IOVA_OFFSET;
	return 0;
}

static int test_ap_gpa(struct vdev_access_platform *ap, uint64_t gpa,
		       uint64_t size, uint64_t *gva)
{
	*gva = gpa + IOVA_OFFSET;
	return 0;
}

static void test_ap_release(struct vdev_access_platform *ap)
{
	container_of(ap, struct test_ap, ap)->released++;
}

static const struct vdev_access_platform_ops test_ap_ops = {
	.translate_gva = test_ap_gva,
	.translate_gpa = test_ap_gpa,
	.release = test_ap_release,
};

TEST_F(vq, access_platform)
{
	struct vq_buf b = { .gpa = self->buf + IOVA_OFFSET, .len = 4 };
	/* Outlives the test body: the device drops it at teardown. */
	static struct test_ap ap;

	vdev_access_platform_init(&ap.ap, &test_ap_ops);
	ASSERT_EQ(0, vdev_device_set_access_platform(&self->dev, &ap.ap));
	self->q.desc_addr += IOVA_OFFSET;
	self->q.driver_addr += IOVA_OFFSET;
	self->q.device_addr += IOVA_OFFSET;
	START(0);
	ASSERT_EQ(3, ap.calls);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(4, ap.calls);
	ASSERT_EQ(vq_guest_ptr(&self->g, self->buf, 4), self->iov[0].iov_base);

	/* A guest-physical address is not an IOVA. */
	b.gpa = self->buf;
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	EXPECT_BROKEN("IOMMU");
	vdev_access_platform_put(&ap.ap);
}

static uint64_t qt_features(const struct vdev_device *dev)
{
	return ALL_FEATURES;
}

/* qt_ops with the features op: vdev_device_features() asks the device. */
static const struct vdev_device_ops qt_features_ops = {
	.name = "qt",
	.features = qt_features,
	.activate = qt_activate,
	.release = qt_release,
};

/*
 * Indirect tables are translated through the access platform like every
 * other address (vq_map_indirect()), so setting one leaves
 * VIRTIO_RING_F_INDIRECT_DESC offered, whether the device offers its
 * features with ops->features or with vdev_device_info: a chain through
 * an indirect table at an IOVA, with buffers at IOVAs, is used. Split
 * layout (raw(), post()), so fixture split.
 */
static void ap_indirect(struct __test_metadata *_metadata,
			FIXTURE_DATA(vq) *self, bool features_op)
{
	const struct vdev_device_info info = {
		.name = "qt0",
		.type = 4,
		.queue_sizes = qt_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};
	/* Outlives the test body: the device drops it at teardown. */
	static struct test_ap ap;
	struct vring_desc *t;
	uint64_t tgpa;

	if (features_op) {
		/* The same device, offering its features through the op. */
		vdev_device_put(&self->dev);
		ASSERT_EQ(0, vdev_device_init(&self->dev, &qt_features_ops,
					      &info));
	}
	vdev_access_platform_init(&ap.ap, &test_ap_ops);
	ASSERT_EQ(0, vdev_device_set_access_platform(&self->dev, &ap.ap));
	vdev_access_platform_put(&ap.ap);	/* the device holds one */
	ASSERT_EQ(ALL_FEATURES, vdev_device_features(&self->dev));

	self->q.desc_addr += IOVA_OFFSET;
	self->q.driver_addr += IOVA_OFFSET;
	self->q.device_addr += IOVA_OFFSET;
	START(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC));
	ASSERT_TRUE(vdev_device_features_ok(&self->dev));
	ASSERT_TRUE(vdev_device_feature_acked(&self->dev,
					      VIRTIO_RING_F_INDIRECT_DESC));
	ASSERT_EQ(3, ap.calls);

	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ self->buf + IOVA_OFFSET, 4,
				    VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ self->buf + 256 + IOVA_OFFSET, 8,
				    VRING_DESC_F_WRITE, 0 };
	raw(self, 0, tgpa + IOVA_OFFSET, 32, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_EQ(6, ap.calls);		/* the table and both buffers */
	ASSERT_EQ(1, self->chain.nr_read);
	ASSERT_EQ(1, self->chain.nr_write);
	ASSERT_EQ(vq_guest_ptr(&self->g, self->buf, 4), self->iov[0].iov_base);
	ASSERT_EQ(vq_guest_ptr(&self->g, self->buf + 256, 8),
		  self->iov[1].iov_base);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));

	/* A table at its guest-physical address is not an IOVA. */
	t = vq_driver_indirect(&self->d, 1, &tgpa);
	t[0] = (struct vring_desc){ self->buf + IOVA_OFFSET, 4, 0, 0 };
	raw(self, 1, tgpa, 16, VRING_DESC_F_INDIRECT, 0);
	post(self, 1);
	EXPECT_BROKEN("indirect table");
	EXPECT_EQ(0, ap.released);
}

TEST_F(split, access_platform_indirect)
{
	ap_indirect(_metadata, self, false);
}

TEST_F(split, access_platform_indirect_features_op)
{
	ap_indirect(_metadata, self, true);
}

/*
 * Driver and device on two threads, as in a VMM: the driver posts chains
 * of one readable and one writable 4-byte buffer holding a sequence
 * number, the device returns its complement, with kicks and interrupts
 * through eventfds and suppressed by EVENT_IDX or the ring flags. Also
 * run under ThreadSanitizer, which checks the acquire/release pairing.
 */
#define STREAM_XFERS	50000

struct stream {
	FIXTURE_DATA(vq) *self;
	int kick_fd;
	unsigned long done;
	int err;
};

static void efd_wait(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		abort();
}

static void *stream_device(void *arg)
{
	struct stream *st = arg;
	struct vdev_queue *q = &st->self->q;
	struct iovec iov[4];
	struct vdev_chain c;
	unsigned int batch = 0;
	uint32_t v;
	int ret = 0;

	vdev_chain_init(&c, iov, 4);
	while (st->done < STREAM_XFERS) {
		vdev_queue_disable_notify(q);
		while ((ret = vdev_queue_pop(q, &c)) == 1) {
			if (c.nr_read != 1 || c.nr_write != 1 ||
			    iov[0].iov_len != 4 || iov[1].iov_len != 4) {
				st->err = -EPROTO;
				return NULL;
			}
			memcpy(&v, iov[0].iov_base, 4);
			v = ~v;
			memcpy(iov[1].iov_base, &v, 4);
			vdev_queue_push_chain(q, &c, 4);
			st->done++;
			if (++batch == 16) {
				vdev_queue_notify(q);
				batch = 0;
			}
		}
		if (ret < 0) {
			st->err = ret;
			return NULL;
		}
		vdev_queue_notify(q);
		if (st->done >= STREAM_XFERS)
			break;
		if (!vdev_queue_enable_notify(q))
			efd_wait(st->kick_fd);
	}
	return NULL;
}

static void stream_run(struct __test_metadata *_metadata,
		       FIXTURE_DATA(vq) *self, uint64_t features)
{
	struct stream st = { .self = self };
	uint32_t seq_of[QSIZE], v, len;
	unsigned long sent = 0, got = 0;
	struct vq_driver *d = &self->d;
	pthread_t thread;
	uint64_t one = 1;

	st.kick_fd = eventfd(0, EFD_CLOEXEC);
	self->irq.efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, st.kick_fd);
	ASSERT_LE(0, self->irq.efd);
	START(features);
	vq_driver_disable_cb(d);
	ASSERT_EQ(0, pthread_create(&thread, NULL, stream_device, &st));

	while (got < STREAM_XFERS) {
		int head;

		while ((head = vq_driver_get_used(d, &len)) >= 0) {
			memcpy(&v, vq_guest_ptr(&self->g, self->buf + 16 * head
						+ 8, 4), 4);
			ASSERT_EQ(~seq_of[head], v);
			ASSERT_EQ(4, len);
			got++;
		}
		ASSERT_NE(-2, head);
		if (sent < STREAM_XFERS && d->num_free >= 2) {
			uint16_t h = d->free_head;
			struct vq_buf out = { self->buf + 16 * h, 4 };
			struct vq_buf in = { self->buf + 16 * h + 8, 4 };

			seq_of[h] = (uint32_t)sent;
			memcpy(vq_guest_ptr(&self->g, out.gpa, 4), &seq_of[h],
			       4);
			ASSERT_EQ(h, vq_driver_add(d, &out, 1, &in, 1, false));
			sent++;
			if (vq_driver_kick_prepare(d))
				ASSERT_EQ(8, write(st.kick_fd, &one, 8));
			continue;
		}
		if (got == STREAM_XFERS)
			break;
		/* Ring full or all sent: sleep until the device returns some. */
		if (!vq_driver_enable_cb(d))
			efd_wait(self->irq.efd);
		vq_driver_disable_cb(d);
	}
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(0, st.err);
	ASSERT_EQ(STREAM_XFERS, st.done);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	close(st.kick_fd);
}

TEST_F(vq, two_threads_event_idx)
{
	stream_run(_metadata, self, F(VIRTIO_RING_F_EVENT_IDX));
}

TEST_F(vq, two_threads_flags)
{
	stream_run(_metadata, self, 0);
}

/* ----------------------------------------------------------------------
 * Hostile drivers: each must stop the queue, set DEVICE_NEEDS_RESET and
 * touch nothing outside guest memory.
 */

TEST_F(split, descriptor_loop)
{
	START(0);
	raw(self, 0, self->buf, 4, VRING_DESC_F_NEXT, 1);
	raw(self, 1, self->buf, 4, VRING_DESC_F_NEXT, 0);
	post(self, 0);
	EXPECT_BROKEN("loop");
}

TEST_F(split, descriptor_self_loop)
{
	START(0);
	raw(self, 3, self->buf, 4, VRING_DESC_F_NEXT, 3);
	post(self, 3);
	EXPECT_BROKEN("loop");
}

TEST_F(split, next_out_of_range)
{
	START(0);
	raw(self, 0, self->buf, 4, VRING_DESC_F_NEXT, QSIZE);
	post(self, 0);
	EXPECT_BROKEN("next 16 out of range");
}

TEST_F(split, head_out_of_range)
{
	START(0);
	post(self, QSIZE);
	EXPECT_BROKEN("head 16 out of range");
}

TEST_F(split, head_out_of_range_max)
{
	START(0);
	post(self, 0xffff);
	EXPECT_BROKEN("head 65535 out of range");
}

TEST_F(split, addr_past_end_of_memory)
{
	START(0);
	raw(self, 0, R2_GPA + R2_SIZE - 16, 32, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("outside guest memory");
}

TEST_F(split, addr_far_past_end_of_memory)
{
	START(0);
	raw(self, 0, 0x123456789000ULL, 4, VRING_DESC_F_WRITE, 0);
	post(self, 0);
	EXPECT_BROKEN("outside guest memory");
}

TEST_F(split, addr_len_overflow)
{
	START(0);
	raw(self, 0, UINT64_MAX - 15, 32, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("wraps");
}

TEST_F(split, addr_in_gap)
{
	START(0);
	raw(self, 0, GAP_GPA + 0x1000, 4, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("outside guest memory");
}

/* Starts in R1, runs into the gap after it. */
TEST_F(split, buffer_runs_into_gap)
{
	START(0);
	raw(self, 0, GAP_GPA - 8, 16, VRING_DESC_F_WRITE, 0);
	post(self, 0);
	EXPECT_BROKEN("outside guest memory");
}

TEST_F(split, addr_below_memory)
{
	START(0);
	raw(self, 0, 0, 4, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("outside guest memory");
}

/* ----------------------------------------------------------------------
 * Read-only guest memory (ROM, or a KVM_MEM_READONLY slot): R3 is mapped
 * PROT_READ where vdev sees it. The device may read there; a write the
 * driver asks for is a guest error, never a store that faults the VMM.
 */

/*
 * Pop as a device does and, when a chain comes back, fill its writable
 * part and push it: devices trust the iovecs vdev hands out, so one in
 * read-only memory faults here.
 */
static int pop_and_fill(FIXTURE_DATA(vq) *self)
{
	struct vdev_chain *c = &self->chain;
	unsigned int i;
	int ret;

	ret = vdev_queue_pop(&self->q, c);
	if (ret != 1)
		return ret;
	for (i = c->nr_read; i < c->nr_read + c->nr_write; i++)
		memset(c->iov[i].iov_base, 0xa5, c->iov[i].iov_len);
	vdev_queue_push_chain(&self->q, c, c->write_len);
	vdev_queue_notify(&self->q);
	return ret;
}

/*
 * True when no byte of [@gpa, @gpa + @len), which lies in one region,
 * was changed from 0.
 */
static bool untouched(FIXTURE_DATA(vq) *self, uint64_t gpa, size_t len)
{
	const uint8_t *p = vq_guest_ptr(&self->g, gpa, len);
	size_t i;

	if (!p)
		return false;
	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

TEST_F(split, readonly_write_desc)
{
	START(0);
	raw(self, 0, R3_GPA + 0x100, 64, VRING_DESC_F_WRITE, 0);
	post(self, 0);
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("buffer 0x300100+64 in read-only memory");
	ASSERT_TRUE(untouched(self, R3_GPA + 0x100, 64));
}

/* Readable in RAM, then writable in ROM: the chain is refused whole. */
TEST_F(split, readonly_write_desc_after_read)
{
	START(0);
	raw(self, 0, self->buf, 16, VRING_DESC_F_NEXT, 1);
	raw(self, 1, R3_GPA + 0x800, 16, VRING_DESC_F_WRITE, 0);
	post(self, 0);
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("in read-only memory");
	ASSERT_TRUE(untouched(self, R3_GPA + 0x800, 16));
}

/* Starts in RAM just below R3 and runs into it. */
TEST_F(split, readonly_write_desc_spans_into_rom)
{
	ASSERT_EQ(0, vq_guest_add(&self->g, R3_GPA - 0x1000, 0x1000, false));
	START(0);
	raw(self, 0, R3_GPA - 16, 32, VRING_DESC_F_WRITE, 0);
	post(self, 0);
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("buffer 0x300000+16 in read-only memory");
	/* Neither the RAM part nor the ROM part was written. */
	ASSERT_TRUE(untouched(self, R3_GPA - 16, 16));
	ASSERT_TRUE(untouched(self, R3_GPA, 16));
}

/* The indirect table is in RAM, its writable entry points into ROM. */
TEST_F(split, readonly_write_desc_in_indirect)
{
	struct vring_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ .addr = self->buf, .len = 8,
				    .flags = VRING_DESC_F_NEXT, .next = 1 };
	t[1] = (struct vring_desc){ .addr = R3_GPA, .len = 8,
				    .flags = VRING_DESC_F_WRITE };
	raw(self, 0, tgpa, 32, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("in read-only memory");
	ASSERT_TRUE(untouched(self, R3_GPA, 8));
}

/*
 * The used ring is written by the device: in ROM, activate refuses the
 * queue. Were it accepted, the device's first push would store there.
 */
TEST_F(split, readonly_used_ring)
{
	uint64_t used = vq_guest_alloc(&self->g, R3, 6 + 8ULL * QSIZE, 4);
	struct vq_buf b = vbuf(self, 0, 4);
	int ret;

	ASSERT_NE(0, used);
	self->q.device_addr = used;
	ret = vq_start(_metadata, self, F(VIRTIO_RING_F_EVENT_IDX));
	if (!ret) {
		vq_driver_add(&self->d, &b, 1, NULL, 0, false);
		vq_driver_publish(&self->d);
		pop_and_fill(self);
		vdev_queue_enable_notify(&self->q);
	}
	ASSERT_EQ(-EINVAL, ret);
	ASSERT_TRUE(vdev_device_needs_reset(&self->dev));
	ASSERT_FALSE(vdev_device_is_active(&self->dev));
	ASSERT_EQ(1, self->irq.config);
	ASSERT_NE(NULL, strstr(all_log, "used ring 0x300000+"))
		TH_LOG("log: %s", all_log);
	ASSERT_NE(NULL, strstr(all_log, "in read-only memory"))
		TH_LOG("log: %s", all_log);
	ASSERT_NE(NULL, strstr(last_log, "bad ring address"));
	ASSERT_TRUE(untouched(self, used, 6 + 8ULL * QSIZE));
}

/* TX-like: the device only reads a buffer in ROM. That works. */
TEST_F(vq, readonly_read_desc)
{
	struct vq_buf out = { .gpa = R3_GPA + 0x200, .len = 32 };
	uint8_t *rom = vq_guest_ptr(&self->g, out.gpa, out.len);
	uint32_t len;
	int head;

	memcpy(rom, "a frame the guest keeps in ROM.", 32);
	START(0);
	head = vq_driver_add(&self->d, &out, 1, NULL, 0, false);
	ASSERT_GE(head, 0);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, pop_and_fill(self));
	ASSERT_EQ(1, self->chain.nr_read);
	ASSERT_EQ(0, self->chain.nr_write);
	/* vdev's own read-only view, not the test's alias. */
	ASSERT_EQ(self->g.r[R3].hva + 0x200, self->iov[0].iov_base);
	ASSERT_EQ(0, memcmp(self->iov[0].iov_base, rom, 32));
	ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(0, len);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, self->irq.config);
	ASSERT_EQ(1, self->irq.queue);
}

/*
 * The device only reads the descriptor table, the available ring and
 * indirect tables: all three in ROM work, with the used ring in RAM.
 */
TEST_F(split, readonly_driver_rings)
{
	struct vq_buf out = { .gpa = R3_GPA + 0x8000, .len = 8 };
	struct vq_buf in = vbuf(self, 0, 16);
	struct vq_driver d2;
	uint32_t len;
	int head;

	ASSERT_EQ(0, vq_driver_init(&d2, &self->g, R3, QSIZE, false, 4));
	/* Move the used ring to RAM. */
	d2.used_gpa = vq_guest_alloc(&self->g, 0, 6 + 8ULL * QSIZE, 4);
	ASSERT_NE(0, d2.used_gpa);
	d2.used = vq_guest_ptr(&self->g, d2.used_gpa, 6 + 8ULL * QSIZE);
	vq_driver_bind(&d2, &self->q, 0, QMAX);
	START(F(VIRTIO_RING_F_INDIRECT_DESC) | F(VIRTIO_RING_F_EVENT_IDX));
	d2.event_idx = true;

	head = vq_driver_add(&d2, &out, 1, &in, 1, false);
	ASSERT_GE(head, 0);
	head = vq_driver_add(&d2, &out, 1, &in, 1, true);
	ASSERT_GE(head, 0);
	vq_driver_publish(&d2);
	ASSERT_EQ(1, pop_and_fill(self));
	ASSERT_EQ(1, pop_and_fill(self));
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_FALSE(vdev_queue_enable_notify(&self->q));
	ASSERT_GE(vq_driver_get_used(&d2, &len), 0);
	ASSERT_EQ(16, len);
	ASSERT_EQ(head, vq_driver_get_used(&d2, &len));
	ASSERT_EQ(0xa5, *(uint8_t *)vq_guest_ptr(&self->g, in.gpa, 1));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, self->irq.config);
	vq_driver_destroy(&d2);
}

/* Two 2 GiB descriptors inside a (sparse) 2 GiB region: 4 GiB total. */
TEST_F(split, chain_total_length_overflow)
{
	const uint64_t big = 0x100000000ULL, big_size = 0x80000000ULL;

	ASSERT_EQ(0, vq_guest_add(&self->g, big, big_size, false));
	START(0);
	raw(self, 0, big, 0x80000000U, VRING_DESC_F_NEXT, 1);
	raw(self, 1, big, 0x80000000U, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("longer than 4 GiB");
}

TEST_F(split, indirect_bad_size)
{
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	vq_driver_indirect(&self->d, 0, &tgpa);
	raw(self, 0, tgpa, 17, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("indirect table length 17");
}

TEST_F(split, indirect_zero_size)
{
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	vq_driver_indirect(&self->d, 0, &tgpa);
	raw(self, 0, tgpa, 0, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("indirect table length 0");
}

TEST_F(split, indirect_table_outside_memory)
{
	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	raw(self, 0, GAP_GPA - 16, 32, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("not in guest memory");
}

TEST_F(split, indirect_nested)
{
	struct vring_desc *t;
	uint64_t tgpa, t2gpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	vq_driver_indirect(&self->d, 1, &t2gpa);
	t[0] = (struct vring_desc){ t2gpa, 16, VRING_DESC_F_INDIRECT, 0 };
	raw(self, 0, tgpa, 16, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("nested indirect");
}

TEST_F(split, indirect_with_next)
{
	uint64_t tgpa;
	struct vring_desc *t;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ self->buf, 4, 0, 0 };
	raw(self, 0, tgpa, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	raw(self, 1, self->buf, 4, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("indirect descriptor with NEXT");
}

TEST_F(split, indirect_not_negotiated)
{
	uint64_t tgpa;
	struct vring_desc *t;

	START(0);
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ self->buf, 4, 0, 0 };
	raw(self, 0, tgpa, 16, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("not negotiated");
}

/* An indirect table whose entries loop: bounded by the queue size. */
TEST_F(split, indirect_loop)
{
	struct vring_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ self->buf, 4, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ self->buf, 4, VRING_DESC_F_NEXT, 0 };
	raw(self, 0, tgpa, 32, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("loop");
}

/* An indirect table next past its own end (but inside the queue size). */
TEST_F(split, indirect_next_out_of_range)
{
	struct vring_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_indirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_desc){ self->buf, 4, VRING_DESC_F_NEXT, 2 };
	raw(self, 0, tgpa, 32, VRING_DESC_F_INDIRECT, 0);
	post(self, 0);
	EXPECT_BROKEN("next 2 out of range 2");
}

TEST_F(split, zero_length_descriptor)
{
	START(0);
	raw(self, 0, self->buf, 4, VRING_DESC_F_NEXT, 1);
	raw(self, 1, self->buf, 0, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("zero-length");
}

TEST_F(split, readable_after_writable)
{
	START(0);
	raw(self, 0, self->buf, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	raw(self, 1, self->buf + 64, 4, 0, 0);
	post(self, 0);
	EXPECT_BROKEN("readable descriptor after a writable one");
}

TEST_F(split, avail_idx_jump)
{
	START(0);
	raw(self, 0, self->buf, 4, 0, 0);
	vq_driver_set_avail_idx(&self->d, QSIZE + 1);
	EXPECT_BROKEN("avail idx 17 moved 17");
}

TEST_F(split, avail_idx_backwards)
{
	struct vq_buf b = vbuf(self, 0, 4);

	START(0);
	vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &self->chain));
	vq_driver_set_avail_idx(&self->d, 0);
	EXPECT_BROKEN("moved 65535");
}

TEST_F(vq, chain_needs_too_many_iovecs)
{
	struct vq_buf out[3] = { vbuf(self, 0, 4), vbuf(self, 1, 4),
				 vbuf(self, 2, 4) };

	START(0);
	vdev_chain_init(&self->chain, self->iov, 2);
	vq_driver_add(&self->d, out, 3, NULL, 0, false);
	vq_driver_publish(&self->d);
	ASSERT_EQ(-ENOSPC, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_TRUE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));
}

/* Once broken, the queue reads nothing: all guest RAM made inaccessible. */
TEST_F(split, broken_queue_touches_nothing)
{
	unsigned int i;

	START(0);
	post(self, QSIZE);
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));
	for (i = 0; i < self->g.nr; i++)
		ASSERT_EQ(0, mprotect(self->g.r[i].hva, self->g.r[i].size,
				      PROT_NONE));
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_TRUE(vdev_queue_has_avail(&self->q));
	vdev_queue_push_id(&self->q, 0, 1, 0);
	vdev_queue_flush(&self->q);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_FALSE(vdev_queue_enable_notify(&self->q));
	vdev_queue_disable_notify(&self->q);
	for (i = 0; i < self->g.nr; i++)
		ASSERT_EQ(0, mprotect(self->g.r[i].hva, self->g.r[i].size,
				      self->g.r[i].flags & VDEV_MEM_F_READONLY ?
				      PROT_READ : PROT_READ | PROT_WRITE));
}

/* Queue settings: activate refuses them and the device needs reset. */
#define EXPECT_BAD_SETUP(why) do {					\
	ASSERT_EQ(-EINVAL, vq_start(_metadata, self, 0));		\
	ASSERT_TRUE(vdev_device_needs_reset(&self->dev));		\
	ASSERT_FALSE(vdev_device_is_active(&self->dev));		\
	ASSERT_NE(NULL, strstr(last_log, (why))) TH_LOG("log: %s", last_log); \
} while (0)

TEST_F(split, size_not_power_of_two)
{
	self->q.size = 12;
	EXPECT_BAD_SETUP("bad size 12");
}

TEST_F(split, size_zero)
{
	self->q.size = 0;
	EXPECT_BAD_SETUP("bad size 0");
}

TEST_F(split, size_above_max)
{
	self->q.size = QMAX * 2;
	EXPECT_BAD_SETUP("bad size 512");
}

TEST_F(split, misaligned_desc)
{
	self->q.desc_addr += 8;
	EXPECT_BAD_SETUP("bad ring address");
}

TEST_F(split, misaligned_avail)
{
	self->q.driver_addr += 1;
	EXPECT_BAD_SETUP("bad ring address");
}

TEST_F(split, misaligned_used)
{
	self->q.device_addr += 2;
	EXPECT_BAD_SETUP("bad ring address");
}

TEST_F(split, desc_ring_in_gap)
{
	self->q.desc_addr = GAP_GPA;
	EXPECT_BAD_SETUP("bad ring address");
}

/* The used ring starts in R1 and ends in the gap. */
TEST_F(split, used_ring_crosses_end_of_region)
{
	self->q.device_addr = GAP_GPA - 64;
	EXPECT_BAD_SETUP("bad ring address");
}

/* Rings must be one host mapping: R0/R1 are adjacent but separate. */
TEST_F(split, avail_ring_across_regions)
{
	self->q.driver_addr = R1_GPA - 16;
	EXPECT_BAD_SETUP("bad ring address");
}

TEST_F(split, ring_address_wraps)
{
	self->q.device_addr = UINT64_MAX - 63;
	EXPECT_BAD_SETUP("bad ring address");
}

/* A wrap counter is packed-only; the state calls need an enabled queue. */
TEST_F(split, set_state_refuses_what_split_cannot_hold)
{
	struct vdev_queue_state st = { .last_avail_idx = 5, .used_idx = 5 };

	START(0);
	st.avail_wrap_counter = true;
	ASSERT_EQ(-EINVAL, vdev_queue_set_state(&self->q, &st));
	st.avail_wrap_counter = false;
	st.used_wrap_counter = true;
	ASSERT_EQ(-EINVAL, vdev_queue_set_state(&self->q, &st));
	ASSERT_FALSE(vdev_queue_is_broken(&self->q));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(0, st.last_avail_idx);
	ASSERT_EQ(0, st.used_idx);
	ASSERT_FALSE(st.avail_wrap_counter || st.used_wrap_counter);
	vdev_queue_disable(&self->q);
	ASSERT_EQ(-EINVAL, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(-EINVAL, vdev_queue_set_state(&self->q, &st));
}

/* A position far from 0: the device goes on from there, across 65535. */
TEST_F(split, set_state_free_running_indices)
{
	struct vdev_queue_state st = { .last_avail_idx = 65533,
				       .used_idx = 65533 };
	struct vq_buf b = vbuf(self, 0, 4);
	uint32_t len;
	int i, head;

	/* The driver's side of the same position. */
	self->d.avail_idx = 65533;
	self->d.published = 65533;
	self->d.last_used = 65533;
	self->d.avail->idx = 65533;
	self->d.used->idx = 65533;
	START(0);
	ASSERT_EQ(0, vdev_queue_set_state(&self->q, &st));
	for (i = 0; i < 8; i++) {
		head = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
		vq_driver_publish(&self->d);
		EXPECT_POP(head);
		vdev_queue_push_chain(&self->q, &self->chain, i);
		vdev_queue_flush(&self->q);
		ASSERT_EQ(head, vq_driver_get_used(&self->d, &len));
		ASSERT_EQ(i, len);
	}
	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(5, st.last_avail_idx);
	ASSERT_EQ(5, st.used_idx);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/*
 * A driver that resets and offers a bad ring again and again: the
 * queue's messages stay within one burst of its rate limit, although
 * the transport re-initialises the queue at every reset (as mmio does).
 */
TEST_F(split, ring_messages_rate_limited_across_resets)
{
	unsigned int i;

	for (i = 0; i < 50; i++) {
		vq_driver_bind(&self->d, &self->q, 0, QMAX);
		self->q.desc_addr += 8;
		ASSERT_EQ(-EINVAL, vq_start(_metadata, self, 0));
		ASSERT_TRUE(vdev_device_needs_reset(&self->dev));
		vdev_interrupt_put(vdev_device_reset(&self->dev));
	}
	ASSERT_LE(1, nr_ring_msgs);
	ASSERT_GE(10, nr_ring_msgs) TH_LOG("%u ring messages", nr_ring_msgs);
}

/* ----------------------------------------------------------------------
 * The packed ring (VIRTIO_F_RING_PACKED): valid paths its layout allows
 * (chains across the end of the ring, any queue size, a position in the
 * second lap) and hostile drivers, each of which must stop the queue,
 * set DEVICE_NEEDS_RESET (one config interrupt, the reason logged) and
 * touch nothing outside guest memory.
 */

/* Available in the first lap: AVAIL = wrap counter 1, USED = 0. */
#define AV	VQ_PACKED_AVAIL
#define USED	VQ_PACKED_USED

/* Write packed ring slot @i; the flags are stored last. */
static void pdesc(FIXTURE_DATA(vq) *self, uint16_t i, uint64_t gpa,
		  uint32_t len, uint16_t id, uint16_t flags)
{
	vq_driver_pdesc_raw(&self->d, i, gpa, len, id, flags);
}

/* One single-buffer transfer through the format-neutral calls. */
static void xfer(struct __test_metadata *_metadata, FIXTURE_DATA(vq) *self,
		 uint32_t len)
{
	struct vq_buf b = vbuf(self, 0, 4);
	uint32_t got;
	int id;

	id = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	ASSERT_GE(id, 0);
	EXPECT_POP(id);
	vdev_queue_push_chain(&self->q, &self->chain, len);
	vdev_queue_flush(&self->q);
	ASSERT_EQ(id, vq_driver_get_used(&self->d, &got));
	ASSERT_EQ(len, got);
}

/* A chain of four from slot 14 runs through 15, 0 and 1 of the next lap. */
TEST_F(packed, chain_across_ring_end)
{
	struct vq_buf out[2] = { vbuf(self, 1, 1), vbuf(self, 2, 2) };
	struct vq_buf in[2] = { vbuf(self, 3, 3), vbuf(self, 4, 4) };
	unsigned int i;
	uint32_t len;
	int id;

	START(0);
	for (i = 0; i < QSIZE - 2; i++)
		xfer(_metadata, self, i);
	id = vq_driver_add(&self->d, out, 2, in, 2, false);
	ASSERT_GE(id, 0);
	ASSERT_FALSE(self->d.avail_wrap);
	EXPECT_POP(id);
	ASSERT_EQ(4, self->chain.nr_descs);
	ASSERT_EQ(2, self->chain.nr_read);
	ASSERT_EQ(2, self->chain.nr_write);
	ASSERT_EQ(3, self->chain.read_len);
	ASSERT_EQ(7, self->chain.write_len);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(vq_guest_ptr(&self->g, self->buf + 256 * (i + 1), 1),
			  self->iov[i].iov_base);
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	vdev_queue_push_id(&self->q, id, 4, 7);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_EQ(id, vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(7, len);
	/* The used descriptor went to slot 14 in lap 1. */
	ASSERT_EQ(AV | USED | VRING_DESC_F_WRITE, self->d.pdesc[14].flags);
	/* The next transfer is at slot 2 of lap 0 on both sides. */
	xfer(_metadata, self, 99);
	ASSERT_EQ(VRING_DESC_F_WRITE, self->d.pdesc[2].flags);
	ASSERT_EQ(QSIZE, self->d.num_free);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* Any size up to 32768: 12 is fine, and its ring wraps. */
TEST_F(packed, size_not_power_of_two)
{
	unsigned int i;

	vq_driver_resize(&self->d, 12);
	self->q.size = 12;
	START(F(VIRTIO_RING_F_EVENT_IDX));
	for (i = 0; i < 100; i++)
		xfer(_metadata, self, i);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* Chains completed out of order: the used slot skips what each took. */
TEST_F(packed, out_of_order_completion)
{
	struct vq_buf b[3] = { vbuf(self, 0, 4), vbuf(self, 1, 4),
			       vbuf(self, 2, 4) };
	struct vdev_chain c[3];
	struct iovec iov[3][4];
	int id[3], i;
	uint32_t len;

	START(0);
	id[0] = vq_driver_add(&self->d, b, 3, NULL, 0, false);
	id[1] = vq_driver_add(&self->d, b, 1, NULL, 0, false);
	id[2] = vq_driver_add(&self->d, b, 2, NULL, 0, false);
	for (i = 0; i < 3; i++) {
		vdev_chain_init(&c[i], iov[i], 4);
		ASSERT_EQ(1, vdev_queue_pop(&self->q, &c[i]));
		ASSERT_EQ(id[i], c[i].id);
	}
	vdev_queue_push_chain(&self->q, &c[2], 20);
	vdev_queue_push_chain(&self->q, &c[0], 0);
	vdev_queue_push_chain(&self->q, &c[1], 10);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	/* Slot 0 (2 skipped), slot 2 (3 skipped), slot 5. */
	ASSERT_EQ(id[2], self->d.pdesc[0].id);
	ASSERT_EQ(id[0], self->d.pdesc[2].id);
	ASSERT_EQ(id[1], self->d.pdesc[5].id);
	ASSERT_EQ(AV | USED, self->d.pdesc[2].flags);
	ASSERT_EQ(id[2], vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(20, len);
	ASSERT_EQ(id[0], vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(id[1], vq_driver_get_used(&self->d, &len));
	ASSERT_EQ(10, len);
	ASSERT_EQ(-1, vq_driver_get_used(&self->d, &len));
	for (i = 0; i < 40; i++)
		xfer(_metadata, self, i);
	ASSERT_EQ(QSIZE, self->d.num_free);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/*
 * A position in the second lap (wrap counters 0), as vhost-user's
 * SET_VRING_BASE gives it, the ring as a finished first lap leaves it.
 */
TEST_F(packed, set_state_second_lap)
{
	struct vdev_queue_state st = { .last_avail_idx = 5, .used_idx = 5 };
	unsigned int i;

	for (i = 0; i < QSIZE; i++)
		self->d.pdesc[i].flags = AV | USED;
	self->d.next_avail = 5;
	self->d.avail_wrap = false;
	self->d.last_used = 5;
	self->d.used_wrap = false;
	START(0);
	ASSERT_EQ(0, vdev_queue_set_state(&self->q, &st));
	ASSERT_FALSE(vdev_queue_has_avail(&self->q));
	for (i = 0; i < 20; i++)
		xfer(_metadata, self, i);
	/* 5 + 20 = 25: slot 9 of the third lap (wrap counter 1). */
	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(9, st.last_avail_idx);
	ASSERT_EQ(9, st.used_idx);
	ASSERT_TRUE(st.avail_wrap_counter);
	ASSERT_TRUE(st.used_wrap_counter);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

TEST_F(packed, set_state_refuses_offsets_past_the_ring)
{
	struct vdev_queue_state st = { .last_avail_idx = QSIZE };

	START(0);
	ASSERT_EQ(-EINVAL, vdev_queue_set_state(&self->q, &st));
	st.last_avail_idx = 0;
	st.used_idx = QSIZE;
	ASSERT_EQ(-EINVAL, vdev_queue_set_state(&self->q, &st));
	ASSERT_NE(NULL, strstr(last_log, "packed ring cannot be at"));
	ASSERT_FALSE(vdev_queue_is_broken(&self->q));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(0, st.last_avail_idx);
	ASSERT_TRUE(st.avail_wrap_counter && st.used_wrap_counter);
}

/* The driver's event area: DISABLE suppresses, ENABLE interrupts. */
TEST_F(packed, driver_event_disable_enable)
{
	START(0);
	vq_driver_disable_cb(&self->d);
	xfer(_metadata, self, 0);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_FALSE(vq_driver_enable_cb(&self->d));
	ASSERT_EQ(VRING_PACKED_EVENT_FLAG_ENABLE, self->d.pdriver->flags);
	xfer(_metadata, self, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_EQ(1, self->irq.queue);
}

/*
 * Modes the device does not act on interrupt, which is always safe: the
 * reserved mode 3, and DESC without EVENT_IDX (off_wrap then means
 * nothing).
 */
TEST_F(packed, driver_event_mode_not_understood)
{
	START(0);
	self->d.pdriver->off_wrap = VQ_PACKED_WRAP | 7;
	self->d.pdriver->flags = VRING_PACKED_EVENT_FLAG_DESC;
	xfer(_metadata, self, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	self->d.pdriver->flags = 3;
	xfer(_metadata, self, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_EQ(2, self->irq.queue);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/*
 * One transfer that ends with the device's notify; the driver then takes
 * the used buffer and puts its event back to @event (get_used moves it
 * to the next slot, as Linux does).
 */
static bool xfer_notify(struct __test_metadata *_metadata,
			FIXTURE_DATA(vq) *self, uint16_t off_wrap)
{
	struct vq_buf b = vbuf(self, 0, 4);
	bool irq;
	int id;

	id = vq_driver_add(&self->d, &b, 1, NULL, 0, false);
	EXPECT_POP(id);
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	irq = vdev_queue_notify(&self->q);
	EXPECT_EQ(id, vq_driver_get_used(&self->d, NULL));
	vq_driver_write_event(&self->d, off_wrap, VRING_PACKED_EVENT_FLAG_DESC);
	return irq;
}

/*
 * EVENT_IDX, an event in the next lap: in a 4-entry ring, used_event 5
 * is slot 1 with wrap counter 0, made used by the sixth transfer.
 */
TEST_F(packed, driver_event_desc_next_lap)
{
	uint16_t ev;
	unsigned int i;

	vq_driver_resize(&self->d, 4);
	self->q.size = 4;
	START(F(VIRTIO_RING_F_EVENT_IDX));
	vq_driver_set_used_event(&self->d, 5);
	ev = self->d.pdriver->off_wrap;
	ASSERT_EQ(1, ev);
	/* Nothing signalled yet: the first notify interrupts. */
	ASSERT_TRUE(xfer_notify(_metadata, self, ev));
	for (i = 2; i <= 5; i++)
		ASSERT_FALSE(xfer_notify(_metadata, self, ev))
			TH_LOG("transfer %u", i);
	ASSERT_TRUE(xfer_notify(_metadata, self, ev));
	/* The event is behind now. */
	ASSERT_FALSE(xfer_notify(_metadata, self, ev));
	/* An offset past the ring is no position: interrupt. */
	self->d.pdriver->off_wrap = VQ_PACKED_WRAP | 4;
	ASSERT_TRUE(xfer_notify(_metadata, self, VQ_PACKED_WRAP | 4));
	ASSERT_EQ(3, self->irq.queue);
}

/* A driver area in ROM is fine: the device only reads it. */
TEST_F(packed, readonly_driver_area)
{
	uint64_t area = vq_guest_alloc(&self->g, R3, 4, 4);

	ASSERT_NE(0, area);
	self->q.driver_addr = area;
	START(0);
	xfer(_metadata, self, 1);
	/* Zeroed ROM reads as ENABLE. */
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, self->irq.config);
}

/* A driver that writes the flags of the other lap: not available yet. */
TEST_F(packed, head_flags_of_the_other_lap)
{
	START(0);
	/* What a driver in lap 0 writes: AVAIL 0, USED 1. */
	pdesc(self, 0, self->buf, 4, 0, USED);
	ASSERT_FALSE(vdev_queue_has_avail(&self->q));
	ASSERT_EQ(0, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
}

/* Hostile: every descriptor with NEXT. */
TEST_F(packed, chain_longer_than_queue)
{
	unsigned int i;

	START(0);
	for (i = QSIZE; i-- > 0;)
		pdesc(self, i, self->buf + 16 * i, 4, 0,
		      AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("chain at 0 longer than 16 descriptors");
}

/*
 * Five transfers to put the pop position at slot 5 of lap 1, then a
 * chain of QSIZE descriptors from there with buffer id @id: slots 5 to
 * 15 in lap 1 (AVAIL), 0 to 4 in lap 0 (USED, as a driver in lap 0 sets
 * them). Descriptor i of the chain reads 4 bytes at buf + 16 * i and has
 * @flags, the last one @last_flags.
 */
static void chain_from_mid_ring(struct __test_metadata *_metadata,
				FIXTURE_DATA(vq) *self, uint16_t id,
				uint16_t flags, uint16_t last_flags)
{
	unsigned int i, slot;

	for (i = 0; i < 5; i++)
		xfer(_metadata, self, 0);
	for (i = QSIZE; i-- > 0;) {
		slot = (5 + i) % QSIZE;
		pdesc(self, slot, self->buf + 16 * i, 4, id,
		      (slot < 5 ? USED : AV) |
		      (i < QSIZE - 1 ? flags : last_flags));
	}
}

/*
 * The walk's bound away from slot 0: a chain from slot 5 may take all 16
 * slots, 5 to 15 of lap 1 and 0 to 4 of lap 0; the pop position is back
 * at slot 5, in lap 0.
 */
TEST_F(packed, chain_of_queue_size_from_mid_ring)
{
	struct vdev_queue_state st;
	unsigned int i;

	START(0);
	chain_from_mid_ring(_metadata, self, 7, VRING_DESC_F_NEXT, 0);
	EXPECT_POP(7);
	ASSERT_EQ(QSIZE, self->chain.nr_descs);
	ASSERT_EQ(QSIZE, self->chain.nr_read);
	ASSERT_EQ(4 * QSIZE, self->chain.read_len);
	for (i = 0; i < QSIZE; i++)
		ASSERT_EQ(vq_guest_ptr(&self->g, self->buf + 16 * i, 4),
			  self->iov[i].iov_base);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	vdev_queue_push_chain(&self->q, &self->chain, 0);
	vdev_queue_flush(&self->q);
	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(5, st.last_avail_idx);
	ASSERT_FALSE(st.avail_wrap_counter);
	ASSERT_EQ(5, st.used_idx);
	ASSERT_FALSE(st.used_wrap_counter);
}

/* Hostile: every descriptor with NEXT, from slot 5: round to slot 5. */
TEST_F(packed, chain_longer_than_queue_from_mid_ring)
{
	START(0);
	chain_from_mid_ring(_metadata, self, 0, VRING_DESC_F_NEXT,
			    VRING_DESC_F_NEXT);
	EXPECT_BROKEN("chain at 5 longer than 16 descriptors");
}

/* A chain of two from the ring's last slot: 15 in lap 1, 0 in lap 0. */
TEST_F(packed, chain_from_last_slot)
{
	struct vdev_queue_state st;
	unsigned int i;

	START(0);
	for (i = 0; i < QSIZE - 1; i++)
		xfer(_metadata, self, 0);
	pdesc(self, 0, self->buf + 16, 4, 9, USED);
	pdesc(self, QSIZE - 1, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_POP(9);
	ASSERT_EQ(2, self->chain.nr_descs);
	ASSERT_EQ(2, self->chain.nr_read);
	ASSERT_EQ(vq_guest_ptr(&self->g, self->buf + 16, 4),
		  self->iov[1].iov_base);
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, vdev_queue_get_state(&self->q, &st));
	ASSERT_EQ(1, st.last_avail_idx);
	ASSERT_FALSE(st.avail_wrap_counter);
}

/* Hostile: AVAIL and USED both 1 at the head: used, in a lap not reached. */
TEST_F(packed, head_avail_used_disagree)
{
	START(0);
	pdesc(self, 0, self->buf, 4, 0, AV | USED);
	EXPECT_BROKEN("descriptor 0: AVAIL/USED flags 0x8080 disagree with wrap counter 1");
}

TEST_F(packed, chain_avail_used_disagree)
{
	START(0);
	pdesc(self, 1, self->buf, 4, 0, AV | USED);
	pdesc(self, 0, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("descriptor 1: AVAIL/USED flags 0x8080 disagree");
}

/* The head made available before the rest of its chain. */
TEST_F(packed, chain_descriptor_not_available)
{
	START(0);
	pdesc(self, 1, self->buf, 4, 0, 0);
	pdesc(self, 0, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("descriptor 1 of the chain at 0 not available");
}

/* A chain from slot 14 whose third descriptor is still of the old lap. */
TEST_F(packed, chain_runs_into_the_old_lap)
{
	unsigned int i;

	START(0);
	for (i = 0; i < QSIZE - 2; i++)
		xfer(_metadata, self, 0);
	/* Slot 0 holds the used descriptor of lap 1 (AVAIL = USED = 1). */
	pdesc(self, 15, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	pdesc(self, 14, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("descriptor 0 of the chain at 14 not available (flags 0x8080, wrap 0)");
}

TEST_F(packed, indirect_bad_size)
{
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	vq_driver_pindirect(&self->d, 0, &tgpa);
	pdesc(self, 0, tgpa, 17, 0, AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("indirect table length 17");
}

TEST_F(packed, indirect_zero_size)
{
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	vq_driver_pindirect(&self->d, 0, &tgpa);
	pdesc(self, 0, tgpa, 0, 0, AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("indirect table length 0");
}

/* More entries than the queue size: as long a list as the ring allows. */
TEST_F(packed, indirect_longer_than_queue)
{
	struct vring_packed_desc *t = vq_guest_ptr(&self->g, self->buf,
						   16 * (QSIZE + 1));
	unsigned int i;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	for (i = 0; i <= QSIZE; i++)
		t[i] = (struct vring_packed_desc){ self->buf + 4096, 4, 0, 0 };
	pdesc(self, 0, self->buf, 16 * (QSIZE + 1), 0,
	      AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("indirect table of 17 descriptors, queue size 16");
}

TEST_F(packed, indirect_table_outside_memory)
{
	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	pdesc(self, 0, GAP_GPA - 16, 32, 0, AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("not in guest memory");
}

TEST_F(packed, indirect_nested)
{
	struct vring_packed_desc *t;
	uint64_t tgpa, t2gpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_pindirect(&self->d, 0, &tgpa);
	vq_driver_pindirect(&self->d, 1, &t2gpa);
	t[0] = (struct vring_packed_desc){ self->buf, 4, 0, 0 };
	t[1] = (struct vring_packed_desc){ t2gpa, 16, 0,
					   VRING_DESC_F_INDIRECT };
	pdesc(self, 0, tgpa, 32, 0, AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("nested indirect");
}

TEST_F(packed, indirect_with_next)
{
	struct vring_packed_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_pindirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_packed_desc){ self->buf, 4, 0, 0 };
	pdesc(self, 1, self->buf, 4, 0, AV);
	pdesc(self, 0, tgpa, 16, 0,
	      AV | VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("indirect descriptor with NEXT");
}

/* An indirect descriptor after a direct one with NEXT (2.8.8 forbids it). */
TEST_F(packed, indirect_inside_chain)
{
	struct vring_packed_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_pindirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_packed_desc){ self->buf, 4, 0,
					   VRING_DESC_F_WRITE };
	pdesc(self, 1, tgpa, 16, 0, AV | VRING_DESC_F_INDIRECT);
	pdesc(self, 0, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("indirect descriptor inside a chain");
}

TEST_F(packed, indirect_not_negotiated)
{
	struct vring_packed_desc *t;
	uint64_t tgpa;

	START(0);
	t = vq_driver_pindirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_packed_desc){ self->buf, 4, 0, 0 };
	pdesc(self, 0, tgpa, 16, 0, AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("not negotiated");
}

/* In a table only WRITE counts: NEXT and the ids are ignored (2.8.8). */
TEST_F(packed, indirect_ignores_next_and_ids)
{
	struct vring_packed_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_pindirect(&self->d, 3, &tgpa);
	t[0] = (struct vring_packed_desc){ self->buf, 4, 77,
					   VRING_DESC_F_NEXT };
	t[1] = (struct vring_packed_desc){ self->buf + 256, 8, 78,
					   VRING_DESC_F_WRITE };
	t[2] = (struct vring_packed_desc){ self->buf + 512, 16, 79,
					   VRING_DESC_F_WRITE |
					   VRING_DESC_F_NEXT };
	pdesc(self, 0, tgpa, 48, 3, AV | VRING_DESC_F_INDIRECT);
	EXPECT_POP(3);
	ASSERT_EQ(1, self->chain.nr_descs);
	ASSERT_EQ(1, self->chain.nr_read);
	ASSERT_EQ(2, self->chain.nr_write);
	ASSERT_EQ(24, self->chain.write_len);
}

/* A writable entry before a readable one inside the table. */
TEST_F(packed, indirect_readable_after_writable)
{
	struct vring_packed_desc *t;
	uint64_t tgpa;

	START(F(VIRTIO_RING_F_INDIRECT_DESC));
	t = vq_driver_pindirect(&self->d, 0, &tgpa);
	t[0] = (struct vring_packed_desc){ self->buf, 4, 0,
					   VRING_DESC_F_WRITE };
	t[1] = (struct vring_packed_desc){ self->buf + 256, 4, 0, 0 };
	pdesc(self, 0, tgpa, 32, 0, AV | VRING_DESC_F_INDIRECT);
	EXPECT_BROKEN("readable descriptor after a writable one");
}

TEST_F(packed, addr_past_end_of_memory)
{
	START(0);
	pdesc(self, 0, R2_GPA + R2_SIZE - 16, 32, 0, AV);
	EXPECT_BROKEN("outside guest memory");
}

TEST_F(packed, addr_in_gap)
{
	START(0);
	pdesc(self, 0, GAP_GPA + 0x1000, 4, 0, AV | VRING_DESC_F_WRITE);
	EXPECT_BROKEN("outside guest memory");
}

TEST_F(packed, addr_len_overflow)
{
	START(0);
	pdesc(self, 0, UINT64_MAX - 15, 32, 0, AV);
	EXPECT_BROKEN("wraps");
}

/* The second descriptor of a chain starts in R1 and runs into the gap. */
TEST_F(packed, buffer_runs_into_gap)
{
	START(0);
	pdesc(self, 1, GAP_GPA - 8, 16, 0, AV | VRING_DESC_F_WRITE);
	pdesc(self, 0, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("outside guest memory");
}

TEST_F(packed, readonly_write_desc)
{
	START(0);
	pdesc(self, 0, R3_GPA + 0x100, 64, 0, AV | VRING_DESC_F_WRITE);
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("buffer 0x300100+64 in read-only memory");
	ASSERT_TRUE(untouched(self, R3_GPA + 0x100, 64));
}

/* Starts in RAM just below R3 and runs into it: refused whole. */
TEST_F(packed, readonly_write_desc_spans_into_rom)
{
	ASSERT_EQ(0, vq_guest_add(&self->g, R3_GPA - 0x1000, 0x1000, false));
	START(0);
	pdesc(self, 0, R3_GPA - 16, 32, 0, AV | VRING_DESC_F_WRITE);
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("buffer 0x300000+16 in read-only memory");
	ASSERT_TRUE(untouched(self, R3_GPA - 16, 16));
	ASSERT_TRUE(untouched(self, R3_GPA, 16));
}

TEST_F(packed, zero_length_descriptor)
{
	START(0);
	pdesc(self, 1, self->buf, 0, 0, AV);
	pdesc(self, 0, self->buf, 4, 0, AV | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("zero-length");
}

TEST_F(packed, readable_after_writable)
{
	START(0);
	pdesc(self, 1, self->buf + 64, 4, 0, AV);
	pdesc(self, 0, self->buf, 4, 0,
	      AV | VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	EXPECT_BROKEN("readable descriptor after a writable one");
}

/*
 * Buffer ids are opaque to the device (documented): an id reused while
 * outstanding is accepted and returned as given, once per chain. Only
 * the driver that did it can be confused; nothing in vdev depends on ids.
 */
TEST_F(packed, buffer_id_reused_while_outstanding)
{
	struct vdev_chain a;
	struct iovec iova[2];

	START(0);
	pdesc(self, 1, self->buf + 256, 8, 5, AV | VRING_DESC_F_WRITE);
	pdesc(self, 0, self->buf, 4, 5, AV);
	vdev_chain_init(&a, iova, 2);
	ASSERT_EQ(1, vdev_queue_pop(&self->q, &a));
	EXPECT_POP(5);
	ASSERT_EQ(5, a.id);
	ASSERT_EQ(self->iov[0].iov_base,
		  vq_guest_ptr(&self->g, self->buf + 256, 8));
	vdev_queue_push_chain(&self->q, &self->chain, 8);
	vdev_queue_push_chain(&self->q, &a, 0);
	ASSERT_TRUE(vdev_queue_notify(&self->q));
	ASSERT_EQ(5, self->d.pdesc[0].id);
	ASSERT_EQ(8, self->d.pdesc[0].len);
	ASSERT_EQ(AV | USED | VRING_DESC_F_WRITE, self->d.pdesc[0].flags);
	ASSERT_EQ(5, self->d.pdesc[1].id);
	ASSERT_EQ(AV | USED, self->d.pdesc[1].flags);
	ASSERT_FALSE(vdev_queue_is_broken(&self->q));
	ASSERT_FALSE(vdev_device_needs_reset(&self->dev));
	ASSERT_EQ(0, self->irq.config);
}

/*
 * Each descriptor is read once: the driver rewriting it after pop (while
 * it is outstanding) changes nothing the device holds, and the used
 * descriptor carries the id that was read. A rewind reads it again.
 */
TEST_F(packed, descriptor_rewritten_after_pop)
{
	uint8_t *p = vq_guest_ptr(&self->g, self->buf, 4);

	START(0);
	pdesc(self, 0, self->buf, 4, 7, AV);
	EXPECT_POP(7);
	pdesc(self, 0, R3_GPA, 64, 9, AV | VRING_DESC_F_WRITE);
	ASSERT_EQ(1, self->chain.nr_descs);
	ASSERT_EQ(1, self->chain.nr_read);
	ASSERT_EQ(0, self->chain.nr_write);
	ASSERT_EQ(p, self->iov[0].iov_base);
	ASSERT_EQ(4, self->iov[0].iov_len);
	ASSERT_EQ(0, vdev_queue_rewind(&self->q, &self->chain));
	ASSERT_EQ(-EIO, pop_and_fill(self));
	EXPECT_BROKEN("in read-only memory");
	ASSERT_TRUE(untouched(self, R3_GPA, 64));
}

/*
 * Each descriptor is read once, with a driver thread rewriting the length
 * of the only descriptor all the time: 16 bytes that end exactly at the
 * end of R1, or 4096 that run into the gap. Every pop either takes the 16
 * bytes or finds the buffer outside guest memory; a device that checked
 * one length and used another would hand out an iovec over the guard
 * page, which the fill below would fault on.
 */
struct flipper {
	struct vring_packed_desc *desc;
	atomic_bool stop;
	atomic_uint flips;
};

static void *flip_len(void *arg)
{
	struct flipper *f = arg;
	uint32_t len = 16;

	atomic_store(&f->flips, 1);
	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		len = len == 16 ? 4096 : 16;
		WRITE_ONCE(f->desc->len, len);
	}
	return NULL;
}

/* Both outcomes seen (or 5 s): two CPUs shared with other work. */
#define FLIP_SECONDS	5

TEST_F(packed, descriptor_rewritten_while_popped)
{
	struct flipper f = { .desc = &self->d.pdesc[0] };
	unsigned int good = 0, bad = 0;
	pthread_t thread;
	time_t end;
	int ret;

	atomic_init(&f.stop, false);
	atomic_init(&f.flips, 0);
	pdesc(self, 0, GAP_GPA - 16, 16, 1, AV | VRING_DESC_F_WRITE);
	START(0);
	ASSERT_EQ(0, pthread_create(&thread, NULL, flip_len, &f));
	while (!atomic_load(&f.flips))
		sched_yield();
	end = time(NULL) + FLIP_SECONDS;
	while ((good < 1000 || bad < 100) && time(NULL) < end) {
		ret = vdev_queue_pop(&self->q, &self->chain);
		if (ret == 1) {
			ASSERT_EQ(1, self->chain.nr_write);
			ASSERT_EQ(16, self->iov[0].iov_len);
			ASSERT_EQ(16, self->chain.write_len);
			memset(self->iov[0].iov_base, 0x5a, 16);
			ASSERT_EQ(0, vdev_queue_rewind(&self->q, &self->chain));
			good++;
			continue;
		}
		ASSERT_EQ(-EIO, ret);
		ASSERT_TRUE(vdev_device_needs_reset(&self->dev));
		/* Logged once: the device's messages are rate-limited. */
		if (!bad++)
			ASSERT_NE(NULL, strstr(last_log,
					       "buffer 0x120000+4080 outside guest memory"))
				TH_LOG("log: %s", last_log);
		/* Enable the queue again, as a queue reset would. */
		vdev_queue_reset(&self->q);
		self->q.size = self->d.size;
		self->q.desc_addr = self->d.desc_gpa;
		self->q.driver_addr = self->d.avail_gpa;
		self->q.device_addr = self->d.used_gpa;
		self->q.ready = true;
		ASSERT_EQ(0, vdev_queue_enable(&self->q, &self->dev,
					       self->g.mem));
	}
	atomic_store(&f.stop, true);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	TH_LOG("%u pops took 16 bytes, %u found 4096", good, bad);
	ASSERT_LT(0, good);
	ASSERT_LT(0, bad);
	ASSERT_EQ(1, self->irq.config);
}

/* A device bug, not the driver's: a push without a descriptor count. */
TEST_F(packed, push_id_without_descriptors)
{
	START(0);
	vdev_queue_push_id(&self->q, 0, 0, 0);
	ASSERT_TRUE(vdev_queue_is_broken(&self->q));
	ASSERT_TRUE(vdev_device_needs_reset(&self->dev));
	ASSERT_NE(NULL, strstr(last_log, "push of buffer 0 with 0 descriptors"));
}

/* Once broken, the queue reads nothing: all guest RAM made inaccessible. */
TEST_F(packed, broken_queue_touches_nothing)
{
	unsigned int i;

	START(0);
	pdesc(self, 0, self->buf, 4, 0, AV | USED);
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));
	for (i = 0; i < self->g.nr; i++)
		ASSERT_EQ(0, mprotect(self->g.r[i].hva, self->g.r[i].size,
				      PROT_NONE));
	ASSERT_EQ(-EIO, vdev_queue_pop(&self->q, &self->chain));
	ASSERT_TRUE(vdev_queue_has_avail(&self->q));
	ASSERT_TRUE(vdev_queue_more_avail(&self->q));
	vdev_queue_push_id(&self->q, 0, 1, 0);
	vdev_queue_flush(&self->q);
	ASSERT_FALSE(vdev_queue_notify(&self->q));
	ASSERT_FALSE(vdev_queue_enable_notify(&self->q));
	vdev_queue_disable_notify(&self->q);
	for (i = 0; i < self->g.nr; i++)
		ASSERT_EQ(0, mprotect(self->g.r[i].hva, self->g.r[i].size,
				      self->g.r[i].flags & VDEV_MEM_F_READONLY ?
				      PROT_READ : PROT_READ | PROT_WRITE));
}

/* Ring settings: refused at activate, DEVICE_NEEDS_RESET. */
TEST_F(packed, misaligned_desc)
{
	self->q.desc_addr += 8;
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "descriptor ring"));
	ASSERT_NE(NULL, strstr(all_log, "misaligned"));
}

TEST_F(packed, misaligned_driver_area)
{
	self->q.driver_addr += 2;
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "driver event ring"));
	ASSERT_NE(NULL, strstr(all_log, "misaligned"));
}

TEST_F(packed, misaligned_device_area)
{
	self->q.device_addr += 2;
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "device event ring"));
}

TEST_F(packed, driver_area_outside_memory)
{
	self->q.driver_addr = GAP_GPA;
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "not inside one guest memory region"));
}

TEST_F(packed, device_area_outside_memory)
{
	self->q.device_addr = R2_GPA + R2_SIZE;
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "device event ring"));
}

TEST_F(packed, desc_ring_crosses_end_of_region)
{
	self->q.desc_addr = GAP_GPA - 64;
	EXPECT_BAD_SETUP("bad ring address");
}

/* The device writes used descriptors and its event area: not in ROM. */
TEST_F(packed, readonly_desc_ring)
{
	self->q.desc_addr = vq_guest_alloc(&self->g, R3, 16 * QSIZE, 16);
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "descriptor ring 0x300000+256"));
	ASSERT_NE(NULL, strstr(all_log, "in read-only memory"));
	ASSERT_EQ(1, self->irq.config);
}

TEST_F(packed, readonly_device_area)
{
	self->q.device_addr = vq_guest_alloc(&self->g, R3, 4, 4);
	EXPECT_BAD_SETUP("bad ring address");
	ASSERT_NE(NULL, strstr(all_log, "device event ring 0x300000+4"));
	ASSERT_NE(NULL, strstr(all_log, "in read-only memory"));
}

TEST_HARNESS_MAIN
