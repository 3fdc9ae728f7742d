// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-mmio transport, modern (version 2) register layout, VIRTIO 1.2
 * section 4.2.2. See Documentation/mmio.rst.
 *
 * Locking: mmio->lock serialises every register access that reads or
 * changes transport state (several vCPU threads may exit on the same
 * device), including activate and reset of the device, which run with it
 * held. QueueNotify does not take it: it only writes an eventfd that
 * lives as long as the transport. Device workers never take it: they only raise interrupts, which
 * touch InterruptStatus and ConfigGeneration (atomics) and write the
 * irq eventfd.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/mmio.h>
#include <vdev/queue.h>

#include "compiler.h"
#include "core_priv.h"
#include "eventfd_priv.h"
#include "queue_priv.h"
#include "refcount.h"
#include "transport_priv.h"

/*
 * struct mmio_queue - transport state of one queue
 * @vq: the queue given to the device at DRIVER_OK
 * @notify_fd: eventfd signalled by QueueNotify, for the queue's lifetime
 * @reset: reset through QueueReset while the device runs, by the core's
 *         per-queue reset (vdev_device_queue_reset()): the driver may
 *         program it again and re-enable it with QueueReady
 * @stopped: reset through QueueReset while the device runs, by a device
 *           without per-queue reset: the device no longer touches the
 *           rings, QueueReady reads 0, and only a device reset brings
 *           the queue back
 */
struct mmio_queue {
	struct vdev_queue vq;
	int notify_fd;
	bool reset;
	bool stopped;
};

/*
 * struct vdev_mmio - one virtio-mmio register window
 * @irq: interrupt object handed to the device; its last put frees all
 * @lock: serialises register accesses (see the top of the file)
 * @t: status, feature negotiation, the device and guest memory (shared
 *     with the other transports: transport_priv.h)
 * @irq_fd: the dup'd interrupt eventfd
 * @isr: InterruptStatus (VIRTIO_MMIO_INT_*)
 * @generation: ConfigGeneration
 * @dev_features_sel: DeviceFeaturesSel
 * @queue_sel: QueueSel
 * @shm_sel: SHMSel
 * @nr_queues: entries in @queues
 * @queues: per-queue state
 */
struct vdev_mmio {
	struct vdev_interrupt irq;
	pthread_mutex_t lock;
	struct vdev_transport t;
	int irq_fd;
	atomic_uint isr;
	atomic_uint generation;
	uint32_t dev_features_sel;
	uint32_t queue_sel;
	uint32_t shm_sel;
	unsigned int nr_queues;
	struct mmio_queue *queues;
};

#define mmio_warn(m, fmt, ...) __vdev_transport_warn(&(m)->t, fmt, ##__VA_ARGS__)

static struct vdev_mmio *irq_to_mmio(struct vdev_interrupt *irq)
{
	return container_of(irq, struct vdev_mmio, irq);
}

/* ---- interrupts (struct vdev_interrupt, called from device workers) ---- */

static int mmio_irq_trigger(struct vdev_interrupt *irq,
			    enum vdev_irq_type type, unsigned int queue)
{
	struct vdev_mmio *m = irq_to_mmio(irq);

	if (type == VDEV_IRQ_CONFIG) {
		/* The config space (or the status) changed. */
		atomic_fetch_add(&m->generation, 1);
		atomic_fetch_or(&m->isr, VIRTIO_MMIO_INT_CONFIG);
	} else {
		atomic_fetch_or(&m->isr, VIRTIO_MMIO_INT_VRING);
	}
	/* InterruptStatus is set before the guest can take the interrupt. */
	return eventfd_kick(m->irq_fd);
}

static int mmio_irq_notifier(struct vdev_interrupt *irq,
			     enum vdev_irq_type type, unsigned int queue)
{
	/* InterruptStatus must be set too: no direct notifier. */
	return -ENOENT;
}

static void mmio_free(struct vdev_mmio *m)
{
	unsigned int i;

	for (i = 0; i < m->nr_queues; i++)
		if (m->queues[i].notify_fd >= 0)
			close(m->queues[i].notify_fd);
	if (m->irq_fd >= 0)
		close(m->irq_fd);
	pthread_mutex_destroy(&m->lock);
	__vdev_transport_fini(&m->t);
	free(m->queues);
	free(m);
}

static void mmio_irq_release(struct vdev_interrupt *irq)
{
	mmio_free(irq_to_mmio(irq));
}

static const struct vdev_interrupt_ops mmio_irq_ops = {
	.trigger = mmio_irq_trigger,
	.notifier = mmio_irq_notifier,
	.release = mmio_irq_release,
};

/* ---- queues ---- */

static void drain_eventfd(int fd)
{
	uint64_t v;

	/* Non-blocking: EAGAIN once empty. */
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* Power-on state of queue @i (device not active). */
static void mmio_queue_init(struct vdev_mmio *m, unsigned int i)
{
	const uint16_t *sizes;
	struct mmio_queue *q = &m->queues[i];

	vdev_device_queue_max_sizes(m->t.dev, &sizes);
	vdev_queue_init(&q->vq, i, sizes[i]);
	q->vq.kick_fd = q->notify_fd;
	q->reset = false;
	q->stopped = false;
}

static struct mmio_queue *mmio_sel_queue(struct vdev_mmio *m)
{
	return m->queue_sel < m->nr_queues ? &m->queues[m->queue_sel] : NULL;
}

/*
 * May the driver change the selected queue's settings? Only while the
 * queue is not ready, and before DRIVER_OK unless the queue was reset on
 * its own since (VIRTIO 1.2, 4.2.3.2 and 2.6.1).
 */
static struct mmio_queue *mmio_queue_writable(struct vdev_mmio *m,
					      const char *reg)
{
	struct mmio_queue *q = mmio_sel_queue(m);

	if (!q) {
		mmio_warn(m, "%s write to absent queue %u", reg, m->queue_sel);
		return NULL;
	}
	if (q->stopped)		/* see mmio_queue_ready() */
		return NULL;
	if ((m->t.status & VIRTIO_CONFIG_S_DRIVER_OK) && !q->reset) {
		mmio_warn(m, "%s write after DRIVER_OK ignored", reg);
		return NULL;
	}
	if (q->vq.ready) {
		mmio_warn(m, "%s write to ready queue %u ignored", reg,
			  m->queue_sel);
		return NULL;
	}
	return q;
}

static void mmio_needs_reset(struct vdev_mmio *m)
{
	__vdev_transport_needs_reset(&m->t);
}

static void mmio_queue_ready(struct vdev_mmio *m, uint32_t val)
{
	struct mmio_queue *q = mmio_sel_queue(m);
	int ret;

	if (!q) {
		mmio_warn(m, "QueueReady write to absent queue %u",
			  m->queue_sel);
		return;
	}
	if (q->reset) {
		/* Re-enabling a queue reset with QueueReset. */
		if (!(val & 1))
			return;
		ret = vdev_device_queue_enable(m->t.dev, &q->vq);
		if (ret) {
			mmio_warn(m, "queue %u not re-enabled: %d", m->queue_sel,
				  ret);
			mmio_needs_reset(m);
			return;
		}
		q->vq.ready = true;
		q->reset = false;
		return;
	}
	if (q->stopped) {
		/*
		 * Re-enabling a queue reset with QueueReset: the device cannot
		 * restart a single queue, so it asks for a full reset.
		 */
		if (val) {
			mmio_warn(m, "queue %u cannot be re-enabled without a device reset",
				  m->queue_sel);
			mmio_needs_reset(m);
		}
		return;
	}
	if (m->t.status & VIRTIO_CONFIG_S_DRIVER_OK) {
		mmio_warn(m, "QueueReady write after DRIVER_OK ignored");
		return;
	}
	q->vq.ready = val & 1;
}

/*
 * QueueReset=1 (VIRTIO_F_RING_RESET). Before DRIVER_OK the queue goes back
 * to its power-on state. While the device runs, the core resets the one
 * queue (vdev_device_queue_reset(): workers parked, the device drops its
 * state for the queue, the rings are unmapped, the registers the driver
 * writes read as at power-on) while the others keep running; the driver
 * may then program the queue and set QueueReady to enable it again. A
 * device without per-queue reset gets the old treatment: its workers are
 * parked (quiesced), the queue is stopped (the device no longer touches
 * its rings; pop returns -EIO without DEVICE_NEEDS_RESET) and the quiesce
 * ends; re-enabling it then sets DEVICE_NEEDS_RESET. Either way the reset
 * completes within the write, so QueueReset always reads 0, and the
 * quiesce is a reason to park of its own in the core, so a pause by the
 * VMM, before or during it, stays in force.
 */
static void mmio_queue_reset(struct vdev_mmio *m, uint32_t val)
{
	struct mmio_queue *q = mmio_sel_queue(m);
	int ret;

	if (!vdev_device_feature_acked(m->t.dev, VIRTIO_F_RING_RESET)) {
		mmio_warn(m, "QueueReset without VIRTIO_F_RING_RESET ignored");
		return;
	}
	if (!q || !(val & 1))
		return;
	if (!(m->t.status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    !vdev_device_is_active(m->t.dev)) {
		mmio_queue_init(m, m->queue_sel);
		return;
	}
	if (q->stopped || !q->vq.ready)
		return;
	ret = vdev_device_queue_reset(m->t.dev, &q->vq);
	if (!ret) {
		q->reset = true;
		return;
	}
	if (ret != -EOPNOTSUPP)
		mmio_warn(m, "queue %u reset: %d", m->queue_sel, ret);
	/* -EINVAL: the VMM reset the device meanwhile, nothing runs. */
	ret = __vdev_device_quiesce(m->t.dev);
	vq_stop(&q->vq);
	if (!ret)
		__vdev_device_unquiesce(m->t.dev);
	q->stopped = true;
}

/* QueueNotify, called without m->lock. */
static void mmio_queue_notify(struct vdev_mmio *m, uint32_t val)
{
	unsigned int i = val;
	int ret;

	/* VIRTIO_F_NOTIFICATION_DATA is not supported: the value is the index. */
	if (i >= m->nr_queues) {
		/* Rare: take the lock only for the rate limiter. */
		pthread_mutex_lock(&m->lock);
		mmio_warn(m, "QueueNotify for absent queue %u", i);
		pthread_mutex_unlock(&m->lock);
		return;
	}
	ret = eventfd_kick(m->queues[i].notify_fd);
	if (ret)
		vdev_log(VDEV_LOG_DEBUG, "%s: mmio: queue %u notify: %d",
			 m->t.dev->name, i, ret);
}

/* ---- status: feature negotiation, activate, reset ---- */

/* Status 0. Called with m->lock. */
static void mmio_reset(struct vdev_mmio *m)
{
	unsigned int i;

	/* Joins every worker; the device gives back its interrupt ref. */
	vdev_interrupt_put(vdev_device_reset(m->t.dev));

	__vdev_transport_clear(&m->t);
	m->dev_features_sel = 0;
	m->queue_sel = 0;
	m->shm_sel = 0;
	for (i = 0; i < m->nr_queues; i++) {
		mmio_queue_init(m, i);
		drain_eventfd(m->queues[i].notify_fd);
	}
	atomic_store(&m->isr, 0);
}

static struct vdev_mmio *to_mmio(struct vdev_transport *t)
{
	return container_of(t, struct vdev_mmio, t);
}

static void mmio_t_reset(struct vdev_transport *t)
{
	mmio_reset(to_mmio(t));
}

static unsigned int mmio_ready_queues(struct vdev_transport *t,
				      struct vdev_queue **active)
{
	struct vdev_mmio *m = to_mmio(t);
	unsigned int i, n = 0;

	for (i = 0; i < m->nr_queues; i++)
		if (m->queues[i].vq.ready)
			active[n++] = &m->queues[i].vq;
	return n;
}

static void mmio_config_irq(struct vdev_transport *t)
{
	mmio_irq_trigger(t->irq, VDEV_IRQ_CONFIG, 0);
}

static const struct vdev_transport_ops mmio_transport_ops = {
	.reset		= mmio_t_reset,
	.ready_queues	= mmio_ready_queues,
	.config_irq	= mmio_config_irq,
};

/* ---- shared memory regions ---- */

static uint64_t mmio_shm(struct vdev_mmio *m, bool base)
{
	struct vdev_shm_list list;
	unsigned int i;

	if (vdev_device_get_shm_regions(m->t.dev, &list))
		return UINT64_MAX;
	for (i = 0; i < list.nr_regions; i++) {
		const struct vdev_shm_region *r = &list.regions[i];

		if (r->id == m->shm_sel)
			return base ? list.addr + r->offset : r->len;
	}
	/* No such region: both read as -1 (VIRTIO 1.2, 4.2.2). */
	return UINT64_MAX;
}

/* ---- register dispatch ---- */

static uint32_t mmio_read_reg(struct vdev_mmio *m, uint64_t offset)
{
	struct mmio_queue *q = mmio_sel_queue(m);
	const uint16_t *sizes;
	uint64_t v;

	switch (offset) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VDEV_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VDEV_MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID:
		return vdev_device_type(m->t.dev);
	case VIRTIO_MMIO_VENDOR_ID:
		return VDEV_MMIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		v = vdev_device_features(m->t.dev);
		if (m->dev_features_sel == 0)
			return (uint32_t)v;
		if (m->dev_features_sel == 1)
			return (uint32_t)(v >> 32);
		return 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		if (!q)
			return 0;
		vdev_device_queue_max_sizes(m->t.dev, &sizes);
		return sizes[m->queue_sel];
	case VIRTIO_MMIO_QUEUE_READY:
		return q && q->vq.ready && !q->stopped;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&m->isr);
	case VIRTIO_MMIO_STATUS:
		v = m->t.status;
		if (m->t.needs_reset || vdev_device_needs_reset(m->t.dev))
			v |= VIRTIO_CONFIG_S_NEEDS_RESET;
		return (uint32_t)v;
	case VIRTIO_MMIO_SHM_LEN_LOW:
		return (uint32_t)mmio_shm(m, false);
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return (uint32_t)(mmio_shm(m, false) >> 32);
	case VIRTIO_MMIO_SHM_BASE_LOW:
		return (uint32_t)mmio_shm(m, true);
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return (uint32_t)(mmio_shm(m, true) >> 32);
	case VDEV_MMIO_QUEUE_RESET:
		/* A queue reset completes within the write. */
		return 0;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return atomic_load(&m->generation);
	default:
		mmio_warn(m, "read of register %#llx ignored",
			  (unsigned long long)offset);
		return 0;
	}
}

static void mmio_write_reg(struct vdev_mmio *m, uint64_t offset, uint32_t val)
{
	struct mmio_queue *q;

	switch (offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->dev_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		__vdev_transport_write_driver_features(&m->t, val,
						     "DriverFeatures");
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->t.drv_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		q = mmio_queue_writable(m, "QueueNum");
		/* Too large for any queue: activate will refuse size 0. */
		if (q)
			q->vq.size = val > UINT16_MAX ? 0 : val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		mmio_queue_ready(m, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&m->isr, ~val);
		break;
	case VIRTIO_MMIO_STATUS:
		__vdev_transport_write_status(&m->t, val, "Status");
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		q = mmio_queue_writable(m, "QueueDescLow");
		if (q)
			set_low(&q->vq.desc_addr, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		q = mmio_queue_writable(m, "QueueDescHigh");
		if (q)
			set_high(&q->vq.desc_addr, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		q = mmio_queue_writable(m, "QueueDriverLow");
		if (q)
			set_low(&q->vq.driver_addr, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		q = mmio_queue_writable(m, "QueueDriverHigh");
		if (q)
			set_high(&q->vq.driver_addr, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		q = mmio_queue_writable(m, "QueueDeviceLow");
		if (q)
			set_low(&q->vq.device_addr, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		q = mmio_queue_writable(m, "QueueDeviceHigh");
		if (q)
			set_high(&q->vq.device_addr, val);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		m->shm_sel = val;
		break;
	case VDEV_MMIO_QUEUE_RESET:
		mmio_queue_reset(m, val);
		break;
	default:
		/* Read-only and legacy (version 1) registers included. */
		mmio_warn(m, "write of %#x to register %#llx ignored", val,
			  (unsigned long long)offset);
		break;
	}
}

/* Config space accesses: 1, 2, 4 or 8 bytes, inside the window. */
static bool mmio_config_access_ok(struct vdev_mmio *m, uint64_t offset,
				  unsigned int len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8) {
		mmio_warn(m, "config access of %u bytes ignored", len);
		return false;
	}
	if (offset > VDEV_MMIO_SIZE - len) {
		mmio_warn(m, "config access at %#llx outside the window",
			  (unsigned long long)offset);
		return false;
	}
	return true;
}

/* Register accesses: 4 bytes, aligned (VIRTIO 1.2, 4.2.2.2). */
static bool mmio_reg_access_ok(struct vdev_mmio *m, uint64_t offset,
			       unsigned int len)
{
	if (len != 4 || (offset & 3)) {
		mmio_warn(m, "register access of %u bytes at %#llx ignored",
			  len, (unsigned long long)offset);
		return false;
	}
	return true;
}

/**
 * vdev_mmio_read() - the driver reads the register window
 * @mmio: the transport
 * @offset: offset within the window
 * @data: destination, @len bytes (little-endian register value)
 * @len: access size; registers take 4, config space 1, 2, 4 or 8
 *
 * Never fails: an access the layout does not allow reads as zero (with a
 * rate-limited warning).
 *
 * Context: any vCPU thread, several at once; takes the transport's lock.
 */
void vdev_mmio_read(struct vdev_mmio *mmio, uint64_t offset, void *data,
		    unsigned int len)
{
	uint32_t v;

	if (!len)
		return;
	memset(data, 0, len);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		if (!mmio_config_access_ok(mmio, offset, len))
			return;
		pthread_mutex_lock(&mmio->lock);
		vdev_device_read_config(mmio->t.dev, offset - VIRTIO_MMIO_CONFIG,
					data, len);
		pthread_mutex_unlock(&mmio->lock);
		return;
	}
	if (!mmio_reg_access_ok(mmio, offset, len))
		return;
	pthread_mutex_lock(&mmio->lock);
	v = htole32(mmio_read_reg(mmio, offset));
	pthread_mutex_unlock(&mmio->lock);
	memcpy(data, &v, sizeof(v));
}

/**
 * vdev_mmio_write() - the driver writes the register window
 * @mmio: the transport
 * @offset: offset within the window
 * @data: source, @len bytes
 * @len: access size; registers take 4, config space 1, 2, 4 or 8
 *
 * A write the layout or the current state does not allow is ignored with
 * a rate-limited warning. Writing DRIVER_OK to Status activates the
 * device; writing 0 resets it and returns only after every worker thread
 * of the device has been joined.
 *
 * Context: any vCPU thread, several at once, never a worker of the
 * device; takes the transport's lock, except for QueueNotify, which only
 * signals the queue's eventfd.
 */
void vdev_mmio_write(struct vdev_mmio *mmio, uint64_t offset, const void *data,
		     unsigned int len)
{
	uint32_t v;

	if (!len)
		return;
	if (offset >= VIRTIO_MMIO_CONFIG) {
		if (!mmio_config_access_ok(mmio, offset, len))
			return;
		pthread_mutex_lock(&mmio->lock);
		vdev_device_write_config(mmio->t.dev, offset - VIRTIO_MMIO_CONFIG,
					 data, len);
		/* The driver changed the config space. */
		atomic_fetch_add(&mmio->generation, 1);
		pthread_mutex_unlock(&mmio->lock);
		return;
	}
	if (!mmio_reg_access_ok(mmio, offset, len))
		return;
	memcpy(&v, data, sizeof(v));
	/* The hot path without ioeventfd: the notify fds never change. */
	if (offset == VIRTIO_MMIO_QUEUE_NOTIFY) {
		mmio_queue_notify(mmio, le32toh(v));
		return;
	}
	pthread_mutex_lock(&mmio->lock);
	mmio_write_reg(mmio, offset, le32toh(v));
	pthread_mutex_unlock(&mmio->lock);
}

/* ---- lifetime ---- */

/**
 * vdev_mmio_create() - create a virtio-mmio transport for a device
 * @dev: the device (a reference is taken)
 * @mem: guest memory the device will use (a reference is taken)
 * @irq_eventfd: eventfd written for every interrupt; vdev dups it
 * @mmiop: on success the new transport
 *
 * The transport owns one eventfd per queue (vdev_mmio_queue_notify_fd()),
 * created here and kept until vdev_mmio_destroy(): a device reset does not
 * change them, so KVM registrations stay valid across guest resets.
 *
 * Return: 0; -EINVAL for a NULL argument or a device without queues;
 * -ENOMEM; -errno from the dup of @irq_eventfd (-EBADF for a bad fd) or
 * from eventfd().
 */
int vdev_mmio_create(struct vdev_device *dev, struct vdev_mem *mem,
		     int irq_eventfd, struct vdev_mmio **mmiop)
{
	const uint16_t *sizes;
	struct vdev_mmio *m;
	unsigned int i, nr;
	int ret;

	if (!dev || !mem || !mmiop)
		return -EINVAL;
	nr = vdev_device_queue_max_sizes(dev, &sizes);
	if (!nr) {
		vdev_log(VDEV_LOG_ERR, "%s: mmio: device has no queues",
			 dev->name);
		return -EINVAL;
	}

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->irq_fd = -1;
	m->nr_queues = nr;
	pthread_mutex_init(&m->lock, NULL);
	atomic_init(&m->isr, 0);
	atomic_init(&m->generation, 0);
	vdev_interrupt_init(&m->irq, &mmio_irq_ops);

	ret = __vdev_transport_init(&m->t, &mmio_transport_ops, "mmio", dev,
				  &m->irq, nr);
	m->queues = calloc(nr, sizeof(*m->queues));
	if (ret || !m->queues) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < nr; i++)
		m->queues[i].notify_fd = -1;

	m->irq_fd = fcntl(irq_eventfd, F_DUPFD_CLOEXEC, 0);
	if (m->irq_fd < 0) {
		ret = -errno;
		vdev_log(VDEV_LOG_ERR, "%s: mmio: cannot dup irq eventfd %d: %d",
			 dev->name, irq_eventfd, ret);
		goto out_free;
	}
	for (i = 0; i < nr; i++) {
		m->queues[i].notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (m->queues[i].notify_fd < 0) {
			ret = -errno;
			vdev_log(VDEV_LOG_ERR,
				 "%s: mmio: cannot create notify eventfd: %d",
				 dev->name, ret);
			goto out_free;
		}
		mmio_queue_init(m, i);
	}

	m->t.dev = vdev_device_get(dev);
	m->t.mem = vdev_mem_get(mem);
	*mmiop = m;
	return 0;

out_free:
	mmio_free(m);
	return ret;
}

/**
 * vdev_mmio_queue_notify_fd() - the eventfd behind QueueNotify for a queue
 * @mmio: the transport
 * @queue: queue index
 *
 * A QueueNotify write of @queue signals this eventfd; register it with
 * KVM_IOEVENTFD (datamatch @queue) so that notifications skip the MMIO
 * exit. The fd stays owned by @mmio and valid until vdev_mmio_destroy().
 *
 * Return: the fd, or -EINVAL for a queue the device does not have.
 */
int vdev_mmio_queue_notify_fd(struct vdev_mmio *mmio, unsigned int queue)
{
	if (queue >= mmio->nr_queues)
		return -EINVAL;
	return mmio->queues[queue].notify_fd;
}

/**
 * vdev_mmio_irq_fd() - the transport's copy of the interrupt eventfd
 * @mmio: the transport
 *
 * Return: the fd (owned by @mmio, valid until vdev_mmio_destroy()).
 */
int vdev_mmio_irq_fd(struct vdev_mmio *mmio)
{
	return mmio->irq_fd;
}

/**
 * vdev_mmio_nr_queues() - number of queues the transport exposes
 * @mmio: the transport
 *
 * Return: the count (the device's maximum).
 */
unsigned int vdev_mmio_nr_queues(struct vdev_mmio *mmio)
{
	return mmio->nr_queues;
}

/**
 * vdev_mmio_destroy() - reset the device and free the transport
 * @mmio: the transport, or NULL
 *
 * Resets the device (joining its workers), closes every fd the transport
 * opened and drops its references on the device and the memory. Detach
 * KVM registrations (vdev_kvm_detach()) before calling this.
 *
 * Context: not from a worker of the device (the reset joins them).
 */
void vdev_mmio_destroy(struct vdev_mmio *mmio)
{
	if (!mmio)
		return;
	pthread_mutex_lock(&mmio->lock);
	mmio_reset(mmio);
	pthread_mutex_unlock(&mmio->lock);
	vdev_device_put(mmio->t.dev);
	vdev_mem_put(mmio->t.mem);
	/* The last reference: the device gave its own back at reset. */
	vdev_interrupt_put(&mmio->irq);
}
