// SPDX-License-Identifier: GPL-2.0
/*
 * The common device model: feature negotiation, activate, pause/resume,
 * reset, the lifecycle of one queue (disable, reset, enable, its
 * position), refcounting, DEVICE_NEEDS_RESET. See Documentation/core.rst.
 *
 * Locking (the locks are private: dev->p, lib/core_priv.h): p->lock
 * serialises the control path (activate, reset, pause, resume, quiesce,
 * ack_features, set_access_platform). p->park_lock protects the worker
 * list, the parking state and the running-worker count; workers take
 * only park_lock, so a control-path caller may wait for them while
 * holding p->lock. p->irq_lock protects dev->irq against the threads
 * that are not workers (see config_irq()); it is never held while
 * calling out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/queue.h>

#include "compiler.h"
#include "core_priv.h"
#include "eventfd_priv.h"
#include "queue_priv.h"
#include "refcount.h"
#include "worker_priv.h"

/**
 * vdev_device_init() - initialise the common part of a new device
 * @dev: embedded in the device type's structure; zeroed first
 * @ops: the type's operations (@ops->name, @ops->activate and
 *       @ops->release required)
 * @info: name, type, features, queues
 *
 * The device starts with one reference, reset and not activated. Its
 * private state (@dev->p) is allocated here and freed by the last
 * vdev_device_put(), so a device that was initialised is destroyed only
 * through vdev_device_put().
 *
 * Return: 0; -EINVAL for a missing required op, no queues, no
 * @info->queue_sizes or @info->min_queues above @info->nr_queues;
 * -ENOMEM.
 */
int vdev_device_init(struct vdev_device *dev, const struct vdev_device_ops *ops,
		     const struct vdev_device_info *info)
{
	struct vdev_device_private *p;

	if (!ops || !ops->activate || !ops->release || !ops->name ||
	    !info->nr_queues || !info->queue_sizes ||
	    info->min_queues > info->nr_queues)
		return -EINVAL;

	memset(dev, 0, sizeof(*dev));
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->slots = calloc(info->nr_queues, sizeof(*p->slots));
	if (!p->slots)
		goto out_free_p;
	/* Per-queue state that outlives guest resets (rate limits too). */
	dev->queue_private = vq_private_alloc(info->nr_queues);
	if (!dev->queue_private)
		goto out_free_slots;
	dev->p = p;
	dev->ops = ops;
	snprintf(dev->name, sizeof(dev->name), "%s",
		 info->name ? info->name : ops->name);
	dev->type = info->type;
	dev->queue_sizes = info->queue_sizes;
	dev->nr_queues = info->nr_queues;
	dev->min_queues = info->min_queues;
	/* Once, here: a guest's reset must not give it a fresh burst. */
	dev->rl = (struct vdev_ratelimit)VDEV_RATELIMIT_INIT(5000, 10);

	refcount_set(&p->refs, 1);
	p->avail_features = info->features;
	p->kill_fd = -1;
	p->pause_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->park_lock, NULL);
	pthread_cond_init(&p->park_cond, NULL);
	pthread_mutex_init(&p->irq_lock, NULL);
	pthread_cond_init(&p->irq_cond, NULL);
	atomic_init(&p->needs_reset, false);
	return 0;

out_free_slots:
	free(p->slots);
out_free_p:
	free(p);
	return -ENOMEM;
}

/**
 * vdev_device_get() - take a reference
 * @dev: the device
 *
 * Return: @dev.
 */
struct vdev_device *vdev_device_get(struct vdev_device *dev)
{
	refcount_inc(&dev->p->refs);
	return dev;
}

/* Reset, then ops->shutdown unless an earlier call already ran it. */
static void device_shutdown(struct vdev_device *dev)
{
	bool first;

	vdev_interrupt_put(vdev_device_reset(dev));
	pthread_mutex_lock(&dev->p->lock);
	first = !dev->p->shut_down;
	dev->p->shut_down = true;
	pthread_mutex_unlock(&dev->p->lock);
	if (first && dev->ops->shutdown)
		dev->ops->shutdown(dev);
}

/**
 * vdev_device_put() - drop a reference
 * @dev: the device, or NULL
 *
 * The last put resets the device (joining every worker), calls
 * @ops->shutdown unless vdev_device_shutdown() already did, and frees it;
 * when it returns, no thread of the device runs and every fd it opened is
 * closed.
 *
 * Context: not from a worker of @dev: the last put joins them.
 */
void vdev_device_put(struct vdev_device *dev)
{
	struct vdev_device_private *p;

	if (!dev || !refcount_dec_and_test(&dev->p->refs))
		return;

	device_shutdown(dev);
	vdev_access_platform_put(dev->access_platform);
	dev->access_platform = NULL;
	p = dev->p;
	pthread_cond_destroy(&p->irq_cond);
	pthread_mutex_destroy(&p->irq_lock);
	pthread_cond_destroy(&p->park_cond);
	pthread_mutex_destroy(&p->park_lock);
	pthread_mutex_destroy(&p->lock);
	dev->p = NULL;
	free(p->slots);
	free(p);
	vq_private_free(dev->queue_private);
	dev->queue_private = NULL;
	dev->ops->release(dev);
}

/**
 * vdev_device_type() - VIRTIO_ID_* of the device
 * @dev: the device
 *
 * Return: what @ops->device_type returns, else @dev->type.
 */
uint32_t vdev_device_type(const struct vdev_device *dev)
{
	return dev->ops->device_type ? dev->ops->device_type(dev) : dev->type;
}

/**
 * vdev_device_queue_max_sizes() - maximum queue sizes
 * @dev: the device
 * @sizes: set to an array of the returned length
 *
 * Return: number of queues (from @ops->queue_max_sizes, else
 * @dev->nr_queues with @dev->queue_sizes).
 */
unsigned int vdev_device_queue_max_sizes(const struct vdev_device *dev,
					 const uint16_t **sizes)
{
	if (dev->ops->queue_max_sizes)
		return dev->ops->queue_max_sizes(dev, sizes);
	*sizes = dev->queue_sizes;
	return dev->nr_queues;
}

/**
 * vdev_device_features() - feature bits offered to the driver
 * @dev: the device
 *
 * Return: what @ops->features returns, else the features given to
 * vdev_device_init(); with VIRTIO_F_RING_RESET added when the device can
 * reset one queue (vdev_device_queue_reset_supported()).
 */
uint64_t vdev_device_features(const struct vdev_device *dev)
{
	uint64_t f = dev->ops->features ? dev->ops->features(dev) :
					  dev->p->avail_features;

	if (vdev_device_queue_reset_supported(dev))
		f |= 1ULL << VIRTIO_F_RING_RESET;
	return f;
}

/**
 * vdev_device_ack_features() - the driver acks features
 * @dev: the device
 * @value: bits acked; may be called once per 32-bit half
 *
 * Bits never offered are masked out with a warning and remembered, so
 * that vdev_device_features_ok() refuses the negotiation. The rest are
 * added to the acked set and passed to @ops->ack_features.
 *
 * Context: takes the device's lock.
 */
void vdev_device_ack_features(struct vdev_device *dev, uint64_t value)
{
	uint64_t unrequested;

	pthread_mutex_lock(&dev->p->lock);
	unrequested = value & ~vdev_device_features(dev);
	if (unrequested) {
		if (vdev_ratelimit_ok(&dev->rl))
			vdev_log(VDEV_LOG_WARN,
				 "%s: driver acked features %#llx never offered",
				 dev->name, (unsigned long long)unrequested);
		/* Not counted as acked; FEATURES_OK will be refused. */
		value &= ~unrequested;
		dev->p->features_rejected = true;
	}
	dev->p->acked_features |= value;
	if (dev->ops->ack_features)
		dev->ops->ack_features(dev, value);
	pthread_mutex_unlock(&dev->p->lock);
}

/**
 * vdev_device_acked_features() - feature bits negotiated so far
 * @dev: the device
 *
 * Return: the acked bits.
 */
uint64_t vdev_device_acked_features(const struct vdev_device *dev)
{
	return dev->p->acked_features;
}

/**
 * vdev_device_feature_acked() - was feature bit @bit acked?
 * @dev: the device
 * @bit: VIRTIO_F_* / VIRTIO_NET_F_* bit number
 *
 * Return: true when acked.
 */
bool vdev_device_feature_acked(const struct vdev_device *dev, unsigned int bit)
{
	return bit < 64 && (dev->p->acked_features & (1ULL << bit));
}

/**
 * vdev_device_features_ok() - may the transport accept FEATURES_OK?
 * @dev: the device
 *
 * Return: false when the driver acked a feature that was not offered
 * since the last reset (VIRTIO 1.2, 2.2.2).
 */
bool vdev_device_features_ok(const struct vdev_device *dev)
{
	return !dev->p->features_rejected;
}

/**
 * vdev_config_read_from() - helper for @ops->read_config
 * @config: the device's config structure
 * @config_len: its size
 * @offset: requested offset
 * @data: destination
 * @len: requested length
 *
 * Copies what lies inside @config and zero-fills the rest; an access
 * past the end is logged (rate-limited).
 */
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

/**
 * vdev_device_read_config() - read device config space
 * @dev: the device
 * @offset: offset in config space
 * @data: destination
 * @len: bytes
 *
 * Calls @ops->read_config, which reads what lies past its config space
 * as zero (vdev_config_read_from() does); a device without one reads as
 * zeros.
 */
void vdev_device_read_config(struct vdev_device *dev, uint64_t offset,
			     void *data, unsigned int len)
{
	if (dev->ops->read_config)
		dev->ops->read_config(dev, offset, data, len);
	else
		memset(data, 0, len);
}

/**
 * vdev_device_write_config() - write device config space
 * @dev: the device
 * @offset: offset in config space
 * @data: source
 * @len: bytes
 *
 * Calls @ops->write_config; a device without one ignores the write with
 * a rate-limited warning.
 */
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
	if (dev->p->kill_fd >= 0)
		close(dev->p->kill_fd);
	if (dev->p->pause_fd >= 0)
		close(dev->p->pause_fd);
	dev->p->kill_fd = -1;
	dev->p->pause_fd = -1;
}

static void eventfd_signal(int fd)
{
	int ret = eventfd_kick(fd);

	/* The fds are the device's own: this cannot fail. */
	if (ret)
		vdev_log(VDEV_LOG_DEBUG, "eventfd write: %d", ret);
}

/* Kill, unpark and join every worker. Called with p->lock. */
static void stop_workers(struct vdev_device *dev)
{
	eventfd_signal(dev->p->kill_fd);

	/* A parked worker never sees the kill event: unpark it first. */
	pthread_mutex_lock(&dev->p->park_lock);
	dev->p->paused = false;
	dev->p->vmm_paused = false;
	dev->p->nr_quiesced = 0;
	pthread_cond_broadcast(&dev->p->park_cond);
	pthread_mutex_unlock(&dev->p->park_lock);

	__vdev_workers_join_all(dev);
}

/*
 * dev->irq is set by activate before any worker starts and cleared by
 * reset after every worker was joined, so workers read it without a lock
 * (vdev_queue_notify() is the fast path). Any other thread (a VMM's link
 * monitor calling vdev_device_config_changed(), say) races activate and
 * reset: it takes the pointer under irq_lock and counts itself in
 * irq_users, and reset waits for irq_users to drop to zero before handing
 * the interrupt back, so that nobody raises it once the caller owns it.
 */
static void publish_irq(struct vdev_device *dev, struct vdev_interrupt *irq)
{
	pthread_mutex_lock(&dev->p->irq_lock);
	dev->irq = irq;
	pthread_mutex_unlock(&dev->p->irq_lock);
}

static struct vdev_interrupt *unpublish_irq(struct vdev_device *dev)
{
	struct vdev_interrupt *irq;

	pthread_mutex_lock(&dev->p->irq_lock);
	irq = dev->irq;
	dev->irq = NULL;
	while (dev->p->irq_users)
		pthread_cond_wait(&dev->p->irq_cond, &dev->p->irq_lock);
	pthread_mutex_unlock(&dev->p->irq_lock);
	return irq;
}

/* A config interrupt, from any thread; nothing while not active. */
static void config_irq(struct vdev_device *dev)
{
	struct vdev_interrupt *irq;

	pthread_mutex_lock(&dev->p->irq_lock);
	irq = dev->irq;
	if (irq)
		dev->p->irq_users++;
	pthread_mutex_unlock(&dev->p->irq_lock);
	if (!irq)
		return;

	vdev_interrupt_trigger(irq, VDEV_IRQ_CONFIG, 0);

	pthread_mutex_lock(&dev->p->irq_lock);
	if (!--dev->p->irq_users)
		pthread_cond_broadcast(&dev->p->irq_cond);
	pthread_mutex_unlock(&dev->p->irq_lock);
}

static void teardown_queues(struct vdev_device *dev, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		vdev_queue_disable(dev->p->queues[i]);
}

/**
 * vdev_device_activate() - start the device
 * @dev: the device
 * @mem: guest memory (a reference is taken)
 * @irq: interrupt object (a reference is taken)
 * @queues: the queues the driver made ready, in index order; the array is
 *          copied (the caller may reuse it), the queues must stay until
 *          reset
 * @nr_queues: number of entries in @queues
 *
 * Checks @nr_queues against the device's minimum, validates and maps every
 * queue, creates the kill and pause eventfds and calls @ops->activate,
 * which starts the workers. On failure nothing is left running: when
 * @ops->activate fails, the workers it started are joined and @ops->reset
 * is called before the queues are unmapped.
 *
 * Context: takes the device's lock.
 *
 * Return: 0; -EINVAL for too few queues or a bad queue setting; -EBUSY
 * when already active; -ESHUTDOWN after vdev_device_shutdown(); -ENOMEM;
 * -errno from the device.
 */
int vdev_device_activate(struct vdev_device *dev, struct vdev_mem *mem,
			 struct vdev_interrupt *irq, struct vdev_queue **queues,
			 unsigned int nr_queues)
{
	return __vdev_device_activate_at(dev, mem, irq, queues, nr_queues,
					 NULL);
}

/**
 * __vdev_device_activate_at() - start the device, each queue at a position
 * @dev: the device
 * @mem: as vdev_device_activate()
 * @irq: as vdev_device_activate()
 * @queues: as vdev_device_activate()
 * @nr_queues: as vdev_device_activate()
 * @states: NULL, or one position per entry of @queues, applied with
 *          vdev_queue_set_state() after each queue is mapped and before
 *          any worker starts, so no worker ever sees the ring at its start
 *
 * vdev_device_activate() with @states; what a vhost-user back-end needs
 * to resume rings at the base the front-end gave. Private to lib/
 * (lib/core_priv.h), not exported.
 *
 * Context: as vdev_device_activate().
 *
 * Return: as vdev_device_activate(); -EINVAL also for a position the
 * ring format cannot hold.
 */
int __vdev_device_activate_at(struct vdev_device *dev, struct vdev_mem *mem,
			      struct vdev_interrupt *irq,
			      struct vdev_queue **queues,
			      unsigned int nr_queues,
			      const struct vdev_queue_state *states)
{
	unsigned int i;
	int ret;

	pthread_mutex_lock(&dev->p->lock);
	if (dev->p->activated) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (dev->p->shut_down) {
		ret = -ESHUTDOWN;
		goto out_unlock;
	}
	if (nr_queues < dev->min_queues || nr_queues > dev->nr_queues) {
		if (vdev_ratelimit_ok(&dev->rl))
			vdev_log(VDEV_LOG_ERR,
				 "%s: %u queues enabled, need %u to %u",
				 dev->name, nr_queues, dev->min_queues,
				 dev->nr_queues);
		ret = -EINVAL;
		goto out_unlock;
	}

	dev->p->kill_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dev->p->pause_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->p->kill_fd < 0 || dev->p->pause_fd < 0) {
		ret = -errno;
		if (vdev_ratelimit_ok(&dev->rl))
			vdev_log(VDEV_LOG_ERR, "%s: cannot create eventfds: %d",
				 dev->name, ret);
		goto out_close;
	}

	/* The caller's array may be reused once we return: keep a copy. */
	dev->p->queues = calloc(dev->nr_queues, sizeof(*dev->p->queues));
	if (!dev->p->queues) {
		ret = -ENOMEM;
		goto out_close;
	}
	memcpy(dev->p->queues, queues, nr_queues * sizeof(*queues));

	dev->p->mem = vdev_mem_get(mem);
	publish_irq(dev, vdev_interrupt_get(irq));
	for (i = 0; i < nr_queues; i++) {
		ret = vdev_queue_enable(dev->p->queues[i], dev, mem);
		if (ret)
			goto out_teardown;
		if (states) {
			ret = vdev_queue_set_state(dev->p->queues[i],
						   &states[i]);
			if (ret) {
				i++;
				goto out_teardown;
			}
		}
	}
	dev->p->nr_active_queues = nr_queues;
	/* Enable took one queue per index, each below dev->nr_queues. */
	for (i = 0; i < nr_queues; i++)
		dev->p->slots[queues[i]->index].vq = queues[i];
	dev->p->paused = false;
	dev->p->nr_parked = 0;

	ret = dev->ops->activate(dev, dev->p->queues, nr_queues);
	if (ret) {
		if (vdev_ratelimit_ok(&dev->rl))
			vdev_log(VDEV_LOG_ERR, "%s: activate failed: %d",
				 dev->name, ret);
		/* As at reset: join what it started, then let it clean up. */
		stop_workers(dev);
		if (dev->ops->reset)
			dev->ops->reset(dev);
		goto out_teardown;
	}
	dev->p->activated = true;
	pthread_mutex_unlock(&dev->p->lock);
	return 0;

out_teardown:
	teardown_queues(dev, i);
	dev->p->nr_active_queues = 0;
	memset(dev->p->slots, 0, dev->nr_queues * sizeof(*dev->p->slots));
	vdev_interrupt_put(unpublish_irq(dev));
	vdev_mem_put(dev->p->mem);
	dev->p->mem = NULL;
	free(dev->p->queues);
	dev->p->queues = NULL;
out_close:
	close_eventfds(dev);
out_unlock:
	pthread_mutex_unlock(&dev->p->lock);
	return ret;
}

/**
 * vdev_device_is_active() - between activate and reset?
 * @dev: the device
 *
 * Context: takes the device's lock.
 *
 * Return: true when active.
 */
bool vdev_device_is_active(struct vdev_device *dev)
{
	bool active;

	pthread_mutex_lock(&dev->p->lock);
	active = dev->p->activated;
	pthread_mutex_unlock(&dev->p->lock);
	return active;
}

/**
 * vdev_device_reset() - stop the device and return its interrupt
 * @dev: the device
 *
 * Resumes the workers if paused, signals kill, joins every worker, calls
 * @ops->reset, closes the kill and pause eventfds, drops the guest memory
 * and clears the negotiated features and DEVICE_NEEDS_RESET. When it
 * returns no worker thread of the device exists, and no other thread is
 * still raising the interrupt through vdev_device_config_changed() or
 * vdev_device_set_needs_reset().
 *
 * Context: takes the device's lock; not from a worker of @dev (it joins them).
 *
 * Return: the interrupt object given to activate (the caller now owns
 * that reference and must vdev_interrupt_put() it), or NULL when the
 * device was not active.
 */
struct vdev_interrupt *vdev_device_reset(struct vdev_device *dev)
{
	struct vdev_interrupt *irq = NULL;

	pthread_mutex_lock(&dev->p->lock);
	if (dev->p->activated) {
		stop_workers(dev);
		if (dev->ops->reset)
			dev->ops->reset(dev);
		teardown_queues(dev, dev->p->nr_active_queues);
		memset(dev->p->slots, 0,
		       dev->nr_queues * sizeof(*dev->p->slots));
		free(dev->p->queues);
		dev->p->queues = NULL;
		dev->p->nr_active_queues = 0;
		close_eventfds(dev);
		vdev_mem_put(dev->p->mem);
		dev->p->mem = NULL;
		irq = unpublish_irq(dev);
		dev->p->activated = false;
	}
	dev->p->acked_features = 0;
	dev->p->features_rejected = false;
	atomic_store(&dev->p->needs_reset, false);
	pthread_mutex_unlock(&dev->p->lock);
	return irq;
}

/**
 * __vdev_device_park() - park the calling worker while its device is paused
 * @dev: the worker's device
 *
 * Called by a worker thread that saw the pause eventfd: while the device
 * is paused, counts the worker as parked (which vdev_device_pause() waits
 * for) and sleeps until vdev_device_resume() or a reset unparks it. Returns
 * at once when the device is not paused. Private to lib/ (declared in
 * lib/core_priv.h, called by lib/worker.c); not exported.
 *
 * Context: a worker thread of @dev; takes the device's park_lock.
 */
void __vdev_device_park(struct vdev_device *dev)
{
	pthread_mutex_lock(&dev->p->park_lock);
	if (dev->p->paused) {
		dev->p->nr_parked++;
		pthread_cond_broadcast(&dev->p->park_cond);
		while (dev->p->paused)
			pthread_cond_wait(&dev->p->park_cond,
					  &dev->p->park_lock);
		dev->p->nr_parked--;
	}
	pthread_mutex_unlock(&dev->p->park_lock);
}

/*
 * The workers are parked while any reason holds: the VMM's pause
 * (p->vmm_paused) or a transport's quiesce (p->nr_quiesced), so that
 * neither undoes the other. Called with p->lock.
 */
static bool park_wanted(const struct vdev_device *dev)
{
	return dev->p->vmm_paused || dev->p->nr_quiesced;
}

/* Ask every worker to park; return when all have. Called with p->lock. */
static void park_workers(struct vdev_device *dev)
{
	vdev_log(VDEV_LOG_DEBUG, "%s: pausing", dev->name);
	pthread_mutex_lock(&dev->p->park_lock);
	dev->p->paused = true;
	pthread_mutex_unlock(&dev->p->park_lock);
	eventfd_signal(dev->p->pause_fd);

	/* Return only when every running worker has parked. */
	pthread_mutex_lock(&dev->p->park_lock);
	while (dev->p->nr_parked < dev->p->nr_running)
		pthread_cond_wait(&dev->p->park_cond, &dev->p->park_lock);
	pthread_mutex_unlock(&dev->p->park_lock);
}

/* Wake the parked workers. Called with p->lock. */
static void unpark_workers(struct vdev_device *dev)
{
	uint64_t v;

	vdev_log(VDEV_LOG_DEBUG, "%s: resuming", dev->name);
	/* Drain first, so unparked workers do not see a stale pause. */
	if (read(dev->p->pause_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vdev_log(VDEV_LOG_WARN, "%s: pause eventfd read: %d",
			 dev->name, -errno);

	pthread_mutex_lock(&dev->p->park_lock);
	dev->p->paused = false;
	pthread_cond_broadcast(&dev->p->park_cond);
	pthread_mutex_unlock(&dev->p->park_lock);
}

/* Set the VMM's pause; park_lock too, for vdev_device_is_paused(). */
static void set_vmm_paused(struct vdev_device *dev, bool paused)
{
	pthread_mutex_lock(&dev->p->park_lock);
	dev->p->vmm_paused = paused;
	pthread_mutex_unlock(&dev->p->park_lock);
}

/**
 * vdev_device_pause() - park every worker
 * @dev: the device
 *
 * Returns only when every worker has parked: no descriptor is processed
 * until vdev_device_resume(). Pausing an inactive or paused device is a
 * no-op. The VMM's pause is kept apart from the transport's own short
 * pauses (a guest's queue reset): a queue reset neither lifts it nor is
 * cut short by the VMM's resume.
 *
 * Context: takes the device's lock and sleeps until the workers park;
 * not from a worker of @dev (it would wait for itself).
 *
 * Return: 0 or -errno.
 */
int vdev_device_pause(struct vdev_device *dev)
{
	pthread_mutex_lock(&dev->p->lock);
	if (dev->p->activated && !dev->p->vmm_paused) {
		if (!park_wanted(dev))
			park_workers(dev);
		set_vmm_paused(dev, true);
	}
	pthread_mutex_unlock(&dev->p->lock);
	return 0;
}

/**
 * vdev_device_resume() - unpark the workers
 * @dev: the device
 *
 * Drains the pause eventfd, then wakes the parked workers. Resuming an
 * inactive or running device is a no-op.
 *
 * Context: takes the device's lock.
 *
 * Return: 0 (it cannot fail today).
 */
int vdev_device_resume(struct vdev_device *dev)
{
	pthread_mutex_lock(&dev->p->lock);
	if (dev->p->activated && dev->p->vmm_paused) {
		set_vmm_paused(dev, false);
		if (!park_wanted(dev))
			unpark_workers(dev);
	}
	pthread_mutex_unlock(&dev->p->lock);
	return 0;
}

/* One more reason to park; return once every worker has. With p->lock. */
static void quiesce_locked(struct vdev_device *dev)
{
	if (!park_wanted(dev))
		park_workers(dev);
	dev->p->nr_quiesced++;
}

/* Undo quiesce_locked(); the workers run when no reason is left. */
static void unquiesce_locked(struct vdev_device *dev)
{
	dev->p->nr_quiesced--;
	if (!park_wanted(dev))
		unpark_workers(dev);
}

/**
 * __vdev_device_quiesce() - park every worker for the transport's own use
 * @dev: the device
 *
 * For work that must not overlap a worker's handler, such as stopping
 * one queue on a guest's QueueReset. Each successful call is undone by
 * one __vdev_device_unquiesce(). A quiesce is a reason to park separate
 * from the VMM's vdev_device_pause(): the workers stay parked while
 * either holds, neither undoes the other, and vdev_device_is_paused()
 * reports only the VMM's. Reset clears both. Private to lib/ (declared
 * in lib/core_priv.h).
 *
 * Context: takes the device's lock; not from a worker of @dev.
 *
 * Return: 0 once every worker has parked, or -EINVAL when the device is
 * not active.
 */
int __vdev_device_quiesce(struct vdev_device *dev)
{
	int ret = 0;

	pthread_mutex_lock(&dev->p->lock);
	if (!dev->p->activated)
		ret = -EINVAL;
	else
		quiesce_locked(dev);
	pthread_mutex_unlock(&dev->p->lock);
	return ret;
}

/**
 * __vdev_device_unquiesce() - undo one __vdev_device_quiesce()
 * @dev: the device
 *
 * Context: takes the device's lock.
 */
void __vdev_device_unquiesce(struct vdev_device *dev)
{
	pthread_mutex_lock(&dev->p->lock);
	/* A reset in between cleared every reason already. */
	if (dev->p->activated && dev->p->nr_quiesced)
		unquiesce_locked(dev);
	pthread_mutex_unlock(&dev->p->lock);
}

/**
 * vdev_device_is_paused() - has the VMM paused the device?
 * @dev: the device
 *
 * Context: takes the device's park_lock.
 *
 * Return: true between vdev_device_pause() and vdev_device_resume() (or
 * reset); a transport's short pause for a queue reset does not count.
 */
bool vdev_device_is_paused(struct vdev_device *dev)
{
	bool paused;

	pthread_mutex_lock(&dev->p->park_lock);
	paused = dev->p->vmm_paused;
	pthread_mutex_unlock(&dev->p->park_lock);
	return paused;
}

/* ---- the lifecycle of one queue ---- */

/**
 * vdev_device_queue_reset_supported() - can one queue be reset on its own?
 * @dev: the device
 *
 * Return: true when the device type implements @ops->queue_reset and
 * @ops->queue_enable; vdev_device_features() then offers
 * VIRTIO_F_RING_RESET.
 */
bool vdev_device_queue_reset_supported(const struct vdev_device *dev)
{
	return dev->ops->queue_reset && dev->ops->queue_enable;
}

/*
 * Take p->lock and find the core's slot of @vq: -EOPNOTSUPP without the
 * device's per-queue ops, -EINVAL when the device is not active or @vq
 * is not one of the queues given to activate. On success p->lock is
 * held and *@slotp set; on failure it is not held.
 */
static int queue_slot_lock(struct vdev_device *dev, struct vdev_queue *vq,
			   struct vdev_queue_slot **slotp)
{
	if (!vdev_device_queue_reset_supported(dev))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->p->lock);
	if (!dev->p->activated || !vq || vq->index >= dev->nr_queues ||
	    dev->p->slots[vq->index].vq != vq) {
		pthread_mutex_unlock(&dev->p->lock);
		return -EINVAL;
	}
	*slotp = &dev->p->slots[vq->index];
	return 0;
}

/* As queue_slot_lock(), for @vq stopped: -EBUSY (not held) when it runs. */
static int stopped_slot_lock(struct vdev_device *dev, struct vdev_queue *vq,
			     struct vdev_queue_slot **slotp)
{
	int ret;

	ret = queue_slot_lock(dev, vq, slotp);
	if (!ret && !(*slotp)->stopped) {
		pthread_mutex_unlock(&dev->p->lock);
		ret = -EBUSY;
	}
	return ret;
}

/*
 * Stop a running queue, workers parked: the device drops its part, then
 * the position (with what the device gave back) is kept and the rings
 * unmapped. With p->lock.
 */
static void queue_stop_locked(struct vdev_device *dev,
			      struct vdev_queue_slot *slot)
{
	struct vdev_queue *vq = slot->vq;

	dev->ops->queue_reset(dev, vq);
	slot->has_state = !vdev_queue_get_state(vq, &slot->state);
	vdev_queue_disable(vq);
	slot->stopped = true;
}

/*
 * The body of vdev_device_queue_disable() and vdev_device_queue_reset():
 * stop @vq when it runs, with the workers parked only for that; with
 * @forget, then forget its position and give the fields the driver
 * writes their power-on values.
 */
static int queue_disable(struct vdev_device *dev, struct vdev_queue *vq,
			 bool forget)
{
	struct vdev_queue_slot *slot;
	int ret;

	ret = queue_slot_lock(dev, vq, &slot);
	if (ret)
		return ret;
	if (!slot->stopped) {
		quiesce_locked(dev);
		queue_stop_locked(dev, slot);
		unquiesce_locked(dev);
	}
	if (forget) {
		vdev_queue_reset(vq);
		slot->has_state = false;
	}
	pthread_mutex_unlock(&dev->p->lock);
	return 0;
}

/**
 * vdev_device_queue_disable() - stop one queue, keeping its position
 * @dev: an active device whose type supports per-queue reset
 * @vq: one of the queues given to vdev_device_activate()
 *
 * Parks every worker, lets the device drop what it keeps for @vq
 * (@ops->queue_reset: the chains it popped and did not push are given
 * back), keeps the queue's position, unmaps its rings and drops the
 * guest memory reference, then lets the workers go on: the other queues
 * keep running, @vq's worker no longer touches it. When this returns no
 * worker is inside a handler that uses @vq, nor will be until
 * vdev_device_queue_enable(). The position is read with
 * vdev_device_queue_get_state() and the queue resumes from it at the
 * next enable, on the same or new ring addresses (vhost-user's
 * GET_VRING_BASE, a snapshot). Disabling a stopped queue does nothing.
 *
 * Context: takes the device's lock and sleeps until the workers park;
 * not from a worker of @dev.
 *
 * Return: 0; -EOPNOTSUPP when the device has no per-queue reset;
 * -EINVAL when @dev is not active or @vq is not one of its queues.
 */
int vdev_device_queue_disable(struct vdev_device *dev, struct vdev_queue *vq)
{
	return queue_disable(dev, vq, false);
}

/**
 * vdev_device_queue_reset() - reset one queue (VIRTIO_F_RING_RESET)
 * @dev: an active device whose type supports per-queue reset
 * @vq: one of the queues given to vdev_device_activate()
 *
 * Disables @vq as vdev_device_queue_disable() does (when it runs), then
 * forgets its position and gives the fields the driver writes their
 * power-on values (vdev_queue_reset(): size @max_size, addresses 0, not
 * ready). The transport lets the driver program the queue again and
 * calls vdev_device_queue_enable(), which starts it at the beginning of
 * its ring. The other queues keep running throughout.
 *
 * Context: as vdev_device_queue_disable().
 *
 * Return: as vdev_device_queue_disable().
 */
int vdev_device_queue_reset(struct vdev_device *dev, struct vdev_queue *vq)
{
	return queue_disable(dev, vq, true);
}

/**
 * vdev_device_queue_enable() - run a stopped queue again
 * @dev: an active device whose type supports per-queue reset
 * @vq: a queue stopped by vdev_device_queue_disable() or
 *      vdev_device_queue_reset(), its fields set by the transport
 *
 * Parks every worker, validates and maps @vq as activate does
 * (vdev_queue_enable(): a bad setting from the driver also marks the
 * device DEVICE_NEEDS_RESET), moves it to the position it stopped at or
 * was given by vdev_device_queue_set_state() (none after a queue reset:
 * the beginning of the ring), calls @ops->queue_enable, lets the workers
 * go on and kicks @vq once, so that its handler sees buffers the driver
 * added while it was stopped.
 *
 * Context: as vdev_device_queue_disable().
 *
 * Return: 0; -EBUSY when @vq is running; -EINVAL (logged) for a bad
 * queue setting or a position the ring format cannot hold, and as
 * vdev_device_queue_disable(); -EOPNOTSUPP as there; -errno from the
 * device. On failure the queue stays stopped, with its position.
 */
int vdev_device_queue_enable(struct vdev_device *dev, struct vdev_queue *vq)
{
	struct vdev_queue_slot *slot;
	int ret;

	ret = stopped_slot_lock(dev, vq, &slot);
	if (ret)
		return ret;
	quiesce_locked(dev);
	ret = vdev_queue_enable(vq, dev, dev->p->mem);
	if (!ret && slot->has_state)
		ret = vdev_queue_set_state(vq, &slot->state);
	if (!ret)
		ret = dev->ops->queue_enable(dev, vq);
	if (ret) {
		vdev_queue_disable(vq);
	} else {
		slot->stopped = false;
		/* Handled once the workers run: a kick may have been lost. */
		if (vq->kick_fd >= 0)
			eventfd_signal(vq->kick_fd);
	}
	unquiesce_locked(dev);
	pthread_mutex_unlock(&dev->p->lock);
	return ret;
}

/**
 * vdev_device_queue_get_state() - where a stopped queue is in its ring
 * @dev: an active device whose type supports per-queue reset
 * @vq: a queue stopped by vdev_device_queue_disable() or
 *      vdev_device_queue_reset()
 * @state: filled with the position: where @vq stopped (every chain the
 *         device held was given back first, so none is lost or used
 *         twice), what vdev_device_queue_set_state() set, or after a
 *         queue reset the beginning of the ring
 *
 * Context: takes the device's lock.
 *
 * Return: 0; -EBUSY when @vq is running; as vdev_device_queue_disable().
 */
int vdev_device_queue_get_state(struct vdev_device *dev, struct vdev_queue *vq,
				struct vdev_queue_state *state)
{
	struct vdev_queue_slot *slot;
	bool packed;
	int ret;

	ret = stopped_slot_lock(dev, vq, &slot);
	if (ret)
		return ret;
	if (slot->has_state) {
		*state = slot->state;
	} else {
		/* The start of the ring: the packed ring's counters are 1. */
		packed = vdev_device_feature_acked(dev, VIRTIO_F_RING_PACKED);
		memset(state, 0, sizeof(*state));
		state->avail_wrap_counter = packed;
		state->used_wrap_counter = packed;
	}
	pthread_mutex_unlock(&dev->p->lock);
	return ret;
}

/**
 * vdev_device_queue_set_state() - where a stopped queue is to resume
 * @dev: an active device whose type supports per-queue reset
 * @vq: a queue stopped by vdev_device_queue_disable() or
 *      vdev_device_queue_reset()
 * @state: the position (vhost-user's SET_VRING_BASE, a snapshot): the
 *         next pop after vdev_device_queue_enable() takes
 *         @state->last_avail_idx, the next push writes at
 *         @state->used_idx
 *
 * Only kept here; vdev_device_queue_enable() checks it against the ring
 * format (vdev_queue_set_state()) and fails with -EINVAL on a value the
 * format cannot hold.
 *
 * Context: takes the device's lock.
 *
 * Return: 0; -EBUSY when @vq is running; as vdev_device_queue_disable().
 */
int vdev_device_queue_set_state(struct vdev_device *dev, struct vdev_queue *vq,
				const struct vdev_queue_state *state)
{
	struct vdev_queue_slot *slot;
	int ret;

	ret = stopped_slot_lock(dev, vq, &slot);
	if (ret)
		return ret;
	slot->state = *state;
	slot->has_state = true;
	pthread_mutex_unlock(&dev->p->lock);
	return 0;
}

/**
 * vdev_device_shutdown() - explicit shutdown before the VM goes away
 * @dev: the device
 *
 * Resets the device and calls @ops->shutdown, once: a second call, and
 * the last vdev_device_put(), only reset. vdev_device_activate() fails
 * with -ESHUTDOWN from then on.
 *
 * Context: not from a worker of @dev (the reset joins them).
 */
void vdev_device_shutdown(struct vdev_device *dev)
{
	device_shutdown(dev);
}

/**
 * vdev_device_set_needs_reset() - the driver broke the device
 * @dev: the device
 * @fmt: reason, printf format (logged once, rate-limited)
 *
 * Sets DEVICE_NEEDS_RESET and raises a config interrupt (while the device
 * is active). Safe from any thread, concurrently with activate and reset:
 * once vdev_device_reset() has returned, the interrupt it handed back is
 * not raised any more.
 *
 * Context: any worker of @dev (workers run only while @dev holds its
 * interrupt); another thread must not race vdev_device_reset(), since
 * @dev->irq is read without a reference.
 */
void vdev_device_set_needs_reset(struct vdev_device *dev, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	/* Log and interrupt only on the first transition. */
	if (atomic_exchange(&dev->p->needs_reset, true))
		return;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vdev_ratelimit_ok(&dev->rl))
		vdev_log(VDEV_LOG_ERR, "%s: device needs reset: %s", dev->name,
			 msg);

	config_irq(dev);
}

/**
 * vdev_device_needs_reset() - is DEVICE_NEEDS_RESET set?
 * @dev: the device
 *
 * Return: true when set.
 */
bool vdev_device_needs_reset(const struct vdev_device *dev)
{
	return atomic_load(&dev->p->needs_reset);
}

/**
 * vdev_device_config_changed() - raise a configuration change interrupt
 * @dev: the device
 *
 * Does nothing while the device is not active. Safe from any thread (a
 * VMM's link monitor, say), concurrently with activate and reset, as
 * vdev_device_set_needs_reset().
 *
 * Context: as vdev_device_set_needs_reset(): @dev->irq is read without a
 * reference, so a thread other than a worker of @dev must not race
 * vdev_device_reset().
 */
void vdev_device_config_changed(struct vdev_device *dev)
{
	config_irq(dev);
}

/**
 * vdev_device_add_memory_region() - guest RAM was hot-added
 * @dev: the device
 * @region: the region, already added to the device's vdev_mem
 *
 * Return: 0 (also when the device has no @ops->add_memory_region), or
 * -errno from the device.
 */
int vdev_device_add_memory_region(struct vdev_device *dev,
				  const struct vdev_mem_region *region)
{
	if (!dev->ops->add_memory_region)
		return 0;
	return dev->ops->add_memory_region(dev, region);
}

/**
 * vdev_device_set_access_platform() - translate addresses through @ap
 * @dev: the device (not active)
 * @ap: the access platform (a reference is taken)
 *
 * From the next activate on, every ring, buffer and indirect table
 * address is an I/O virtual address translated through @ap; the offered
 * features are left as they are (VIRTIO_RING_F_INDIRECT_DESC included).
 *
 * Context: takes the device's lock.
 *
 * Return: 0, or -EBUSY when the device is active.
 */
int vdev_device_set_access_platform(struct vdev_device *dev,
				    struct vdev_access_platform *ap)
{
	pthread_mutex_lock(&dev->p->lock);
	if (dev->p->activated) {
		pthread_mutex_unlock(&dev->p->lock);
		return -EBUSY;
	}
	vdev_access_platform_put(dev->access_platform);
	/*
	 * Every address the driver gives goes through it: rings at setup,
	 * buffers and indirect tables at pop (lib/queue.c, vq_to_gpa()), so
	 * the offered features stay as they are.
	 */
	dev->access_platform = vdev_access_platform_get(ap);
	if (dev->ops->set_access_platform)
		dev->ops->set_access_platform(dev, ap);
	pthread_mutex_unlock(&dev->p->lock);
	return 0;
}

/**
 * vdev_device_counters() - the device's statistics
 * @dev: the device
 * @counters: array of @max entries
 * @max: capacity
 *
 * Return: number of entries filled, 0 when the device has no
 * @ops->counters.
 */
unsigned int vdev_device_counters(struct vdev_device *dev,
				  struct vdev_counter *counters,
				  unsigned int max)
{
	if (!dev->ops->counters)
		return 0;
	return dev->ops->counters(dev, counters, max);
}

/**
 * vdev_device_get_shm_regions() - the device's shared memory window
 * @dev: the device
 * @list: filled in
 *
 * Return: 0, -ENOENT when the device has none (or no
 * @ops->get_shm_regions), or -errno from the device.
 */
int vdev_device_get_shm_regions(struct vdev_device *dev,
				struct vdev_shm_list *list)
{
	if (!dev->ops->get_shm_regions)
		return -ENOENT;
	return dev->ops->get_shm_regions(dev, list);
}

/**
 * vdev_device_set_shm_regions() - update the shared memory window
 * @dev: the device
 * @list: the new description
 *
 * Return: 0, -EOPNOTSUPP when the device has no @ops->set_shm_regions,
 * or -errno from the device.
 */
int vdev_device_set_shm_regions(struct vdev_device *dev,
				const struct vdev_shm_list *list)
{
	if (!dev->ops->set_shm_regions)
		return -EOPNOTSUPP;
	return dev->ops->set_shm_regions(dev, list);
}

/**
 * vdev_device_userspace_mappings() - mappings the VMM must install
 * @dev: the device
 * @maps: array of @max entries
 * @max: capacity
 *
 * Return: number of entries filled, 0 when the device has no
 * @ops->userspace_mappings.
 */
unsigned int vdev_device_userspace_mappings(struct vdev_device *dev,
					    struct vdev_userspace_mapping *maps,
					    unsigned int max)
{
	if (!dev->ops->userspace_mappings)
		return 0;
	return dev->ops->userspace_mappings(dev, maps, max);
}

/**
 * vdev_access_platform_init() - initialise with one reference
 * @ap: the object
 * @ops: its operations
 */
void vdev_access_platform_init(struct vdev_access_platform *ap,
			       const struct vdev_access_platform_ops *ops)
{
	ap->ops = ops;
	refcount_set(&ap->refs, 1);
}

/**
 * vdev_access_platform_get() - take a reference
 * @ap: the object
 *
 * Return: @ap.
 */
struct vdev_access_platform *
vdev_access_platform_get(struct vdev_access_platform *ap)
{
	refcount_inc(&ap->refs);
	return ap;
}

/**
 * vdev_access_platform_put() - drop a reference
 * @ap: the object, or NULL
 *
 * The last put calls @ap->ops->release.
 */
void vdev_access_platform_put(struct vdev_access_platform *ap)
{
	if (ap && refcount_dec_and_test(&ap->refs))
		ap->ops->release(ap);
}
