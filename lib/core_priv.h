/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to lib/: the device model's own state (struct
 * vdev_device_private, the kernel's struct device_private) and the core
 * operations only lib/'s transports and workers call. Nothing outside
 * lib/ includes this header; the functions it declares are not exported
 * by libvdev.so (lib/libvdev.map). See Documentation/core.rst, "Public
 * and private".
 */
#ifndef _VDEV_LIB_CORE_PRIV_H
#define _VDEV_LIB_CORE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <vdev/queue.h>

struct vdev_device;
struct vdev_interrupt;
struct vdev_mem;
struct vdev_worker;

/**
 * struct vdev_queue_slot - the core's view of one queue index
 * @vq: the queue given to activate with this index, NULL for none (or
 *      while the device is not active)
 * @stopped: disabled or reset on its own (vdev_device_queue_disable(),
 *           vdev_device_queue_reset()): its rings are unmapped and the
 *           device's @queue_reset told it to leave @vq alone, until
 *           vdev_device_queue_enable()
 * @has_state: @state is where @vq stopped (or was set), applied at the
 *             next enable; clear after a queue reset: the ring starts
 *             from the beginning
 * @state: the position kept while stopped
 */
struct vdev_queue_slot {
	struct vdev_queue *vq;
	bool stopped;
	bool has_state;
	struct vdev_queue_state state;
};

/**
 * struct vdev_device_private - what vdev keeps of a device for itself
 * @refs: reference count; the last vdev_device_put() destroys
 * @avail_features: features offered (vdev_device_info.features)
 * @acked_features: features the driver acked (masked to those offered)
 * @features_rejected: the driver acked a feature never offered since the
 *                     last reset; the transport must refuse FEATURES_OK
 * @lock: serialises the control path (activate, pause, resume, quiesce,
 *        reset, ack_features, set_access_platform)
 * @activated: between a successful activate and the next reset
 * @shut_down: @ops->shutdown has run; activate fails from then on
 * @kill_fd: eventfd written once to stop every worker
 * @pause_fd: eventfd written to ask every worker to park
 * @paused: workers are (asked to be) parked: @vmm_paused or @nr_quiesced
 * @vmm_paused: between the VMM's vdev_device_pause() and resume
 * @nr_quiesced: the transport's quiesces in progress (a queue reset);
 *               separate from @vmm_paused so that neither undoes the other
 * @park_lock: protects the worker list, @nr_parked, @nr_running and the
 *             @paused and @vmm_paused transitions
 * @park_cond: signalled when a worker parks or must wake up
 * @nr_parked: workers currently parked
 * @workers: list of started workers
 * @nr_workers: entries in @workers
 * @nr_running: workers whose thread has not left its loop
 * @queues: a copy of the queue array given to activate
 * @nr_active_queues: entries in @queues
 * @slots: per queue index (@dev->nr_queues entries, for the device's
 *         life): what the per-queue lifecycle needs, set at activate,
 *         cleared at reset; under @lock
 * @irq_lock: protects the device's irq pointer and @irq_users for the
 *            threads that are not workers
 * @irq_cond: signalled when @irq_users drops to zero
 * @irq_users: threads raising a config interrupt right now; reset waits
 *             for none to be left
 * @mem: guest memory held while active
 * @needs_reset: DEVICE_NEEDS_RESET (VIRTIO 1.2, 2.1.1)
 *
 * Allocated by vdev_device_init(), freed by the last vdev_device_put()
 * before @ops->release.
 */
struct vdev_device_private {
	atomic_uint refs;
	uint64_t avail_features;
	uint64_t acked_features;
	bool features_rejected;

	pthread_mutex_t lock;
	bool activated;
	bool shut_down;
	int kill_fd;
	int pause_fd;
	bool paused;
	bool vmm_paused;
	unsigned int nr_quiesced;
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	unsigned int nr_parked;
	struct vdev_worker *workers;
	unsigned int nr_workers;
	unsigned int nr_running;
	struct vdev_queue **queues;
	unsigned int nr_active_queues;
	struct vdev_queue_slot *slots;

	pthread_mutex_t irq_lock;
	pthread_cond_t irq_cond;
	unsigned int irq_users;
	struct vdev_mem *mem;
	atomic_bool needs_reset;
};

/* Activate with a starting position per queue; see lib/core.c. */
int __vdev_device_activate_at(struct vdev_device *dev, struct vdev_mem *mem,
			      struct vdev_interrupt *irq,
			      struct vdev_queue **queues,
			      unsigned int nr_queues,
			      const struct vdev_queue_state *states);

/* Transport quiesce, apart from the VMM's pause; see lib/core.c. */
int __vdev_device_quiesce(struct vdev_device *dev);

void __vdev_device_unquiesce(struct vdev_device *dev);

/* A worker parks itself while its device is paused; see lib/core.c. */
void __vdev_device_park(struct vdev_device *dev);

#endif /* _VDEV_LIB_CORE_PRIV_H */
