// SPDX-License-Identifier: GPL-2.0
/*
 * The common device model: feature negotiation, activate, pause/resume,
 * reset, refcounting, DEVICE_NEEDS_RESET. See Documentation/core.rst.
 *
 * Locking: dev->lock serialises the control path (activate, reset, pause,
 * resume, ack_features, set_access_platform). dev->park_lock protects the
 * worker list, the parking state and the running-worker count; workers
 * take only park_lock, so a control-path caller may wait for them while
 * holding dev->lock.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/queue.h>

#include "compiler.h"
#include "queue_priv.h"
#include "refcount.h"
#include "worker_priv.h"

int vdev_device_init(struct vdev_device *dev, const struct vdev_device_ops *ops,
		     const struct vdev_device_info *info)
{
	if (!ops || !ops->activate || !ops->release || !ops->name ||
	    !info->nr_queues || !info->queue_sizes ||
	    info->min_queues > info->nr_queues)
		return -EINVAL;

	memset(dev, 0, sizeof(*dev));
	/* Per-queue state that outlives guest resets (rate limits too). */
	dev->queue_private = vq_private_alloc(info->nr_queues);
	if (!dev->queue_private)
		return -ENOMEM;
	dev->ops = ops;
	refcount_set(&dev->refs, 1);
	snprintf(dev->name, sizeof(dev->name), "%s",
		 info->name ? info->name : ops->name);
	dev->type = info->type;
	dev->avail_features = info->features;
	dev->queue_sizes = info->queue_sizes;
	dev->nr_queues = info->nr_queues;
	dev->min_queues = info->min_queues;
	dev->kill_fd = -1;
	dev->pause_fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_mutex_init(&dev->park_lock, NULL);
	pthread_cond_init(&dev->park_cond, NULL);
	atomic_init(&dev->needs_reset, false);
	dev->rl = (struct vdev_ratelimit)VDEV_RATELIMIT_INIT(5000, 1);
	return 0;
}

struct vdev_device *vdev_device_get(struct vdev_device *dev)
{
	refcount_inc(&dev->refs);
	return dev;
}

void vdev_device_put(struct vdev_device *dev)
{
	if (!dev || !refcount_dec_and_test(&dev->refs))
		return;

	vdev_interrupt_put(vdev_device_reset(dev));
	if (dev->ops->shutdown)
		dev->ops->shutdown(dev);
	vdev_access_platform_put(dev->access_platform);
	pthread_cond_destroy(&dev->park_cond);
	pthread_mutex_destroy(&dev->park_lock);
	pthread_mutex_destroy(&dev->lock);
	vq_private_free(dev->queue_private);
	dev->queue_private = NULL;
	dev->ops->release(dev);
}

uint32_t vdev_device_type(const struct vdev_device *dev)
{
	return dev->ops->device_type ? dev->ops->device_type(dev) : dev->type;
}

unsigned int vdev_device_queue_max_sizes(const struct vdev_device *dev,
					 const uint16_t **sizes)
{
	if (dev->ops->queue_max_sizes)
		return dev->ops->queue_max_sizes(dev, sizes);
	*sizes = dev->queue_sizes;
	return dev->nr_queues;
}

uint64_t vdev_device_features(const struct vdev_device *dev)
{
	return dev->ops->features ? dev->ops->features(dev) :
				    dev->avail_features;
}

void vdev_device_ack_features(struct vdev_device *dev, uint64_t value)
{
	uint64_t unrequested;

	pthread_mutex_lock(&dev->lock);
	unrequested = value & ~vdev_device_features(dev);
	if (unrequested) {
		vdev_log(VDEV_LOG_WARN,
			 "%s: driver acked features %#llx never offered",
			 dev->name, (unsigned long long)unrequested);
		/* Not counted as acked; FEATURES_OK will be refused. */
		value &= ~unrequested;
		dev->features_rejected = true;
	}
	dev->acked_features |= value;
	if (dev->ops->ack_features)
		dev->ops->ack_features(dev, value);
	pthread_mutex_unlock(&dev->lock);
}

uint64_t vdev_device_acked_features(const struct vdev_device *dev)
{
	return dev->acked_features;
}

bool vdev_device_feature_acked(const struct vdev_device *dev, unsigned int bit)
{
	return bit < 64 && (dev->acked_features & (1ULL << bit));
}

bool vdev_device_features_ok(const struct vdev_device *dev)
{
	return !dev->features_rejected;
}

void vdev_config_read_from(const void *config, size_t config_len,
			   uint64_t offset, void *data, unsigned int len)
{
	static struct vdev_ratelimit rl = VDEV_RATELIMIT_INIT(5000, 1);
	size_t n = 0;

	if (offset < config_len)
		n = config_len - offset < len ? config_len - offset : len;
	if (n < len && vdev_ratelimit_ok(&rl))
		vdev_log(VDEV_LOG_WARN,
			 "config read out of bounds: len %zu offset %#llx size %u",
			 config_len, (unsigned long long)offset, len);
	if (n)
		memcpy(data, (const char *)config + offset, n);
	memset((char *)data + n, 0, len - n);
}

void vdev_device_read_config(struct vdev_device *dev, uint64_t offset,
			     void *data, unsigned int len)
{
	if (dev->ops->read_config)
		dev->ops->read_config(dev, offset, data, len);
	else
		memset(data, 0, len);
}

void vdev_device_write_config(struct vdev_device *dev, uint64_t offset,
			      const void *data, unsigned int len)
{
	if (dev->ops->write_config) {
		dev->ops->write_config(dev, offset, data, len);
		return;
	}
	if (vdev_ratelimit_ok(&dev->rl))
		vdev_log(VDEV_LOG_WARN, "%s: no writable config fields",
			 dev->name);
}

static void close_eventfds(struct vdev_device *dev)
{
	if (dev->kill_fd >= 0)
		close(dev->kill_fd);
	if (dev->pause_fd >= 0)
		close(dev->pause_fd);
	dev->kill_fd = -1;
	dev->pause_fd = -1;
}

static void eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* Cannot fail but for a saturated counter, which is still set. */
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		vdev_log(VDEV_LOG_DEBUG, "eventfd write: %d", -errno);
}

/* Kill, unpark and join every worker. Called with dev->lock. */
static void stop_workers(struct vdev_device *dev)
{
	eventfd_signal(dev->kill_fd);

	/* A parked worker never sees the kill event: unpark it first. */
	pthread_mutex_lock(&dev->park_lock);
	dev->paused = false;
	pthread_cond_broadcast(&dev->park_cond);
	pthread_mutex_unlock(&dev->park_lock);

	vdev_workers_join_all(dev);
}

static void teardown_queues(struct vdev_device *dev, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		vdev_queue_teardown(dev->queues[i]);
}

int vdev_device_activate(struct vdev_device *dev, struct vdev_mem *mem,
			 struct vdev_interrupt *irq, struct vdev_queue **queues,
			 unsigned int nr_queues)
{
	unsigned int i;
	int ret;

	pthread_mutex_lock(&dev->lock);
	if (dev->activated) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (nr_queues < dev->min_queues || nr_queues > dev->nr_queues) {
		vdev_log(VDEV_LOG_ERR,
			 "%s: %u queues enabled, need %u to %u", dev->name,
			 nr_queues, dev->min_queues, dev->nr_queues);
		ret = -EINVAL;
		goto out_unlock;
	}

	dev->kill_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dev->pause_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->kill_fd < 0 || dev->pause_fd < 0) {
		ret = -errno;
		vdev_log(VDEV_LOG_ERR, "%s: cannot create eventfds: %d",
			 dev->name, ret);
		goto out_close;
	}

	dev->mem = vdev_mem_get(mem);
	dev->irq = vdev_interrupt_get(irq);
	dev->queues = queues;
	for (i = 0; i < nr_queues; i++) {
		ret = vdev_queue_setup(queues[i], dev, mem);
		if (ret)
			goto out_teardown;
	}
	dev->nr_active_queues = nr_queues;
	dev->paused = false;
	dev->nr_parked = 0;

	ret = dev->ops->activate(dev, queues, nr_queues);
	if (ret) {
		vdev_log(VDEV_LOG_ERR, "%s: activate failed: %d", dev->name,
			 ret);
		stop_workers(dev);
		goto out_teardown;
	}
	dev->activated = true;
	pthread_mutex_unlock(&dev->lock);
	return 0;

out_teardown:
	teardown_queues(dev, i);
	dev->queues = NULL;
	dev->nr_active_queues = 0;
	vdev_interrupt_put(dev->irq);
	dev->irq = NULL;
	vdev_mem_put(dev->mem);
	dev->mem = NULL;
out_close:
	close_eventfds(dev);
out_unlock:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

bool vdev_device_is_active(struct vdev_device *dev)
{
	bool active;

	pthread_mutex_lock(&dev->lock);
	active = dev->activated;
	pthread_mutex_unlock(&dev->lock);
	return active;
}

struct vdev_interrupt *vdev_device_reset(struct vdev_device *dev)
{
	struct vdev_interrupt *irq = NULL;

	pthread_mutex_lock(&dev->lock);
	if (dev->activated) {
		stop_workers(dev);
		if (dev->ops->reset)
			dev->ops->reset(dev);
		teardown_queues(dev, dev->nr_active_queues);
		dev->queues = NULL;
		dev->nr_active_queues = 0;
		close_eventfds(dev);
		vdev_mem_put(dev->mem);
		dev->mem = NULL;
		irq = dev->irq;
		dev->irq = NULL;
		dev->activated = false;
	}
	dev->acked_features = 0;
	dev->features_rejected = false;
	atomic_store(&dev->needs_reset, false);
	pthread_mutex_unlock(&dev->lock);
	return irq;
}

void vdev_device_park(struct vdev_device *dev)
{
	pthread_mutex_lock(&dev->park_lock);
	if (dev->paused) {
		dev->nr_parked++;
		pthread_cond_broadcast(&dev->park_cond);
		while (dev->paused)
			pthread_cond_wait(&dev->park_cond, &dev->park_lock);
		dev->nr_parked--;
	}
	pthread_mutex_unlock(&dev->park_lock);
}

int vdev_device_pause(struct vdev_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	if (!dev->activated || dev->paused) {
		pthread_mutex_unlock(&dev->lock);
		return 0;
	}
	vdev_log(VDEV_LOG_DEBUG, "%s: pausing", dev->name);

	pthread_mutex_lock(&dev->park_lock);
	dev->paused = true;
	pthread_mutex_unlock(&dev->park_lock);
	eventfd_signal(dev->pause_fd);

	/* Return only when every running worker has parked. */
	pthread_mutex_lock(&dev->park_lock);
	while (dev->nr_parked < dev->nr_running)
		pthread_cond_wait(&dev->park_cond, &dev->park_lock);
	pthread_mutex_unlock(&dev->park_lock);

	pthread_mutex_unlock(&dev->lock);
	return 0;
}

int vdev_device_resume(struct vdev_device *dev)
{
	uint64_t v;

	pthread_mutex_lock(&dev->lock);
	if (!dev->activated || !dev->paused) {
		pthread_mutex_unlock(&dev->lock);
		return 0;
	}
	vdev_log(VDEV_LOG_DEBUG, "%s: resuming", dev->name);

	/* Drain first, so unparked workers do not see a stale pause. */
	if (read(dev->pause_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vdev_log(VDEV_LOG_WARN, "%s: pause eventfd read: %d",
			 dev->name, -errno);

	pthread_mutex_lock(&dev->park_lock);
	dev->paused = false;
	pthread_cond_broadcast(&dev->park_cond);
	pthread_mutex_unlock(&dev->park_lock);

	pthread_mutex_unlock(&dev->lock);
	return 0;
}

bool vdev_device_is_paused(struct vdev_device *dev)
{
	bool paused;

	pthread_mutex_lock(&dev->park_lock);
	paused = dev->paused;
	pthread_mutex_unlock(&dev->park_lock);
	return paused;
}

void vdev_device_shutdown(struct vdev_device *dev)
{
	vdev_interrupt_put(vdev_device_reset(dev));
	if (dev->ops->shutdown)
		dev->ops->shutdown(dev);
}

void vdev_device_set_needs_reset(struct vdev_device *dev, const char *fmt, ...)
{
	struct vdev_interrupt *irq;
	char msg[256];
	va_list ap;

	/* Log and interrupt only on the first transition. */
	if (atomic_exchange(&dev->needs_reset, true))
		return;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vdev_ratelimit_ok(&dev->rl))
		vdev_log(VDEV_LOG_ERR, "%s: device needs reset: %s", dev->name,
			 msg);

	/* Called from workers, which run only while dev->irq is held. */
	irq = READ_ONCE(dev->irq);
	if (irq)
		vdev_interrupt_trigger(irq, VDEV_IRQ_CONFIG, 0);
}

bool vdev_device_needs_reset(const struct vdev_device *dev)
{
	return atomic_load(&dev->needs_reset);
}

void vdev_device_config_changed(struct vdev_device *dev)
{
	struct vdev_interrupt *irq = READ_ONCE(dev->irq);

	if (irq)
		vdev_interrupt_trigger(irq, VDEV_IRQ_CONFIG, 0);
}

int vdev_device_add_memory_region(struct vdev_device *dev,
				  const struct vdev_mem_region *region)
{
	if (!dev->ops->add_memory_region)
		return 0;
	return dev->ops->add_memory_region(dev, region);
}

int vdev_device_set_access_platform(struct vdev_device *dev,
				    struct vdev_access_platform *ap)
{
	pthread_mutex_lock(&dev->lock);
	if (dev->activated) {
		pthread_mutex_unlock(&dev->lock);
		return -EBUSY;
	}
	vdev_access_platform_put(dev->access_platform);
	dev->access_platform = vdev_access_platform_get(ap);
	/* Indirect tables would need translating too: not offered. */
	dev->avail_features &= ~(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	if (dev->ops->set_access_platform)
		dev->ops->set_access_platform(dev, ap);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

unsigned int vdev_device_counters(struct vdev_device *dev,
				  struct vdev_counter *counters,
				  unsigned int max)
{
	if (!dev->ops->counters)
		return 0;
	return dev->ops->counters(dev, counters, max);
}

int vdev_device_get_shm_regions(struct vdev_device *dev,
				struct vdev_shm_list *list)
{
	if (!dev->ops->get_shm_regions)
		return -ENOENT;
	return dev->ops->get_shm_regions(dev, list);
}

int vdev_device_set_shm_regions(struct vdev_device *dev,
				const struct vdev_shm_list *list)
{
	if (!dev->ops->set_shm_regions)
		return -EOPNOTSUPP;
	return dev->ops->set_shm_regions(dev, list);
}

unsigned int vdev_device_userspace_mappings(struct vdev_device *dev,
					    struct vdev_userspace_mapping *maps,
					    unsigned int max)
{
	if (!dev->ops->userspace_mappings)
		return 0;
	return dev->ops->userspace_mappings(dev, maps, max);
}

void vdev_access_platform_init(struct vdev_access_platform *ap,
			       const struct vdev_access_platform_ops *ops)
{
	ap->ops = ops;
	refcount_set(&ap->refs, 1);
}

struct vdev_access_platform *
vdev_access_platform_get(struct vdev_access_platform *ap)
{
	refcount_inc(&ap->refs);
	return ap;
}

void vdev_access_platform_put(struct vdev_access_platform *ap)
{
	if (ap && refcount_dec_and_test(&ap->refs))
		ap->ops->release(ap);
}
