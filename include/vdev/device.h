/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The virtio device model: a const ops table per device type and the
 * state common to every device (struct vdev_device), after
 * cloud-hypervisor's VirtioDevice trait and VirtioCommon.
 *
 * Lifecycle (Documentation/core.rst):
 *
 *   create --> [reset] --activate--> [active] <--pause/resume--> [paused]
 *                 ^                      |                          |
 *                 +--------reset---------+----------reset-----------+
 *   last vdev_device_put(): reset, shutdown, release.
 *
 * Reset and the last put return only after every worker thread of the
 * device has been joined.
 */
#ifndef _VDEV_DEVICE_H
#define _VDEV_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdev/access.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

struct vdev_device;
struct vdev_worker;

/**
 * struct vdev_shm_region - one shared memory region of a device
 * @id: shmid (VIRTIO 1.2, 2.10)
 * @offset: offset within the device's shared memory window
 * @len: length
 */
struct vdev_shm_region {
	uint8_t id;
	uint64_t offset;
	uint64_t len;
};

/**
 * struct vdev_shm_list - a device's shared memory window
 * @host_addr: host address of the window
 * @mem_slot: KVM memory slot it is mapped with
 * @addr: guest-physical base
 * @len: length
 * @nr_regions: entries in @regions
 * @regions: the regions inside the window
 */
struct vdev_shm_list {
	uint64_t host_addr;
	uint32_t mem_slot;
	uint64_t addr;
	uint64_t len;
	unsigned int nr_regions;
	const struct vdev_shm_region *regions;
};

/**
 * struct vdev_userspace_mapping - a host mapping the VMM must map for the
 * guest on the device's behalf
 * @host_addr: host address
 * @mem_slot: KVM memory slot
 * @addr: guest-physical address
 * @len: length
 * @mergeable: may be marked MADV_MERGEABLE
 */
struct vdev_userspace_mapping {
	uint64_t host_addr;
	uint32_t mem_slot;
	uint64_t addr;
	uint64_t len;
	bool mergeable;
};

/**
 * struct vdev_counter - one named statistic
 * @name: static string, e.g. "rx_bytes_q0"
 * @value: current value
 */
struct vdev_counter {
	const char *name;
	uint64_t value;
};

/**
 * struct vdev_device_ops - what a device type implements
 *
 * @name: short type name, used in thread and log names (required)
 * @device_type: VIRTIO_ID_*; default: @dev->type
 * @queue_max_sizes: fills *@sizes, returns the number of queues; default:
 *                   @dev->queue_sizes / @dev->nr_queues
 * @features: offered feature bits; default: @dev->avail_features
 * @ack_features: the driver acked @value (already masked to the offered
 *                bits); default: nothing more
 * @read_config: read @len bytes of config space at @offset; default: zeros
 * @write_config: write config space; default: ignored with a warning
 * @activate: start the device on @queues (already validated and mapped);
 *            start workers with vdev_worker_*(); 0 or -errno (required)
 * @reset: device-specific part of reset, called after every worker has
 *         been joined; also after a failed @activate (once the workers it
 *         started are joined), so it must cope with a partial activation;
 *         default: nothing
 * @shutdown: called once, after the device was reset for the last time:
 *            by vdev_device_shutdown(), or by the last put if the VMM
 *            never called it
 * @get_shm_regions: fill @list; 0, or -ENOENT when the device has none
 * @set_shm_regions: replace the device's shared memory description
 * @add_memory_region: guest RAM was hot-added (already in the map)
 * @userspace_mappings: fill up to @max entries; returns how many
 * @counters: fill up to @max entries; returns how many
 * @set_access_platform: an access platform was set (already stored in
 *                       @dev->access_platform)
 * @release: free the device's memory (required); called last
 *
 * Every operation is optional unless marked; a NULL entry gets the
 * default behaviour described. Ops tables are const and shared by all
 * devices of a type; a device reaches its own structure from @dev with
 * container_of().
 */
struct vdev_device_ops {
	const char *name;
	uint32_t (*device_type)(const struct vdev_device *dev);
	unsigned int (*queue_max_sizes)(const struct vdev_device *dev,
					const uint16_t **sizes);
	uint64_t (*features)(const struct vdev_device *dev);
	void (*ack_features)(struct vdev_device *dev, uint64_t value);
	void (*read_config)(struct vdev_device *dev, uint64_t offset,
			    void *data, unsigned int len);
	void (*write_config)(struct vdev_device *dev, uint64_t offset,
			     const void *data, unsigned int len);
	int (*activate)(struct vdev_device *dev, struct vdev_queue **queues,
			unsigned int nr_queues);
	void (*reset)(struct vdev_device *dev);
	void (*shutdown)(struct vdev_device *dev);
	int (*get_shm_regions)(struct vdev_device *dev,
			       struct vdev_shm_list *list);
	int (*set_shm_regions)(struct vdev_device *dev,
			       const struct vdev_shm_list *list);
	int (*add_memory_region)(struct vdev_device *dev,
				 const struct vdev_mem_region *region);
	unsigned int (*userspace_mappings)(struct vdev_device *dev,
					   struct vdev_userspace_mapping *maps,
					   unsigned int max);
	unsigned int (*counters)(struct vdev_device *dev,
				 struct vdev_counter *counters,
				 unsigned int max);
	void (*set_access_platform)(struct vdev_device *dev,
				    struct vdev_access_platform *ap);
	void (*release)(struct vdev_device *dev);
};

#define VDEV_NAME_MAX 7		/* "vdev-<name>-<sfx>" fits in 15 chars */

/**
 * struct vdev_device - state common to every device (VirtioCommon)
 * @ops: the device type's operations
 * @refs: reference count; the last vdev_device_put() destroys
 * @name: instance name, at most VDEV_NAME_MAX - 1 chars ("net0")
 * @type: VIRTIO_ID_*
 * @avail_features: features offered
 * @acked_features: features the driver acked (masked to @avail_features)
 * @features_rejected: the driver acked a feature never offered since the
 *                     last reset; the transport must refuse FEATURES_OK
 * @queue_sizes: maximum size of each queue
 * @nr_queues: entries in @queue_sizes
 * @min_queues: activate fails with -EINVAL below this many queues
 * @lock: serialises the control path (activate, pause, resume, reset)
 * @activated: between a successful activate and the next reset
 * @shut_down: @ops->shutdown has run; activate fails from then on
 * @kill_fd: eventfd written once to stop every worker
 * @pause_fd: eventfd written to ask every worker to park
 * @paused: workers are (asked to be) parked: @vmm_paused or @nr_quiesced
 * @vmm_paused: between the VMM's vdev_device_pause() and resume
 * @nr_quiesced: the transport's quiesces in progress (a queue reset);
 *               separate from @vmm_paused so that neither undoes the other
 * @park_lock: protects @nr_parked and the @paused and @vmm_paused
 *             transitions
 * @park_cond: signalled when a worker parks or must wake up
 * @nr_parked: workers currently parked
 * @workers: list of started workers
 * @nr_workers: entries in @workers
 * @nr_running: workers whose thread has not left its loop
 * @queues: a copy of the queue array given to activate
 * @nr_active_queues: entries in @queues
 * @irq: interrupt object held while active; set before the workers start
 *       and cleared after they are joined, under @irq_lock
 * @irq_lock: protects @irq and @irq_users for threads that are not workers
 * @irq_cond: signalled when @irq_users drops to zero
 * @irq_users: threads raising a config interrupt through @irq right now;
 *             reset waits for none to be left
 * @mem: guest memory held while active
 * @access_platform: DMA remapping, or NULL
 * @needs_reset: DEVICE_NEEDS_RESET (VIRTIO 1.2, 2.1.1)
 * @rl: rate limit for every message the driver can trigger, the device's
 *      and its queues' (10 every 5 s); set once at init, so that a
 *      guest's reset does not renew it
 * @queue_private: vdev's state for each of the @nr_queues queues
 *                 (lib/queue_priv.h), for the device's whole life
 */
struct vdev_device {
	const struct vdev_device_ops *ops;
	atomic_uint refs;
	char name[VDEV_NAME_MAX];
	uint32_t type;
	uint64_t avail_features;
	uint64_t acked_features;
	bool features_rejected;
	const uint16_t *queue_sizes;
	unsigned int nr_queues;
	unsigned int min_queues;

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

	struct vdev_interrupt *irq;
	pthread_mutex_t irq_lock;
	pthread_cond_t irq_cond;
	unsigned int irq_users;
	struct vdev_mem *mem;
	struct vdev_access_platform *access_platform;
	atomic_bool needs_reset;
	struct vdev_ratelimit rl;
	struct vdev_queue_private *queue_private;
};

/**
 * struct vdev_device_info - what vdev_device_init() needs
 * @name: instance name (truncated to VDEV_NAME_MAX - 1 chars)
 * @type: VIRTIO_ID_*
 * @features: offered feature bits
 * @queue_sizes: maximum size of each queue (must outlive the device)
 * @nr_queues: number of entries in @queue_sizes
 * @min_queues: fewest queues activate accepts
 */
struct vdev_device_info {
	const char *name;
	uint32_t type;
	uint64_t features;
	const uint16_t *queue_sizes;
	unsigned int nr_queues;
	unsigned int min_queues;
};

/* Each function is documented at its definition, in lib/core.c. */
int vdev_device_init(struct vdev_device *dev, const struct vdev_device_ops *ops,
		     const struct vdev_device_info *info);

struct vdev_device *vdev_device_get(struct vdev_device *dev);

void vdev_device_put(struct vdev_device *dev);

uint32_t vdev_device_type(const struct vdev_device *dev);

unsigned int vdev_device_queue_max_sizes(const struct vdev_device *dev,
					 const uint16_t **sizes);

uint64_t vdev_device_features(const struct vdev_device *dev);

void vdev_device_ack_features(struct vdev_device *dev, uint64_t value);

uint64_t vdev_device_acked_features(const struct vdev_device *dev);

bool vdev_device_feature_acked(const struct vdev_device *dev, unsigned int bit);

bool vdev_device_features_ok(const struct vdev_device *dev);

void vdev_device_read_config(struct vdev_device *dev, uint64_t offset,
			     void *data, unsigned int len);

void vdev_device_write_config(struct vdev_device *dev, uint64_t offset,
			      const void *data, unsigned int len);

void vdev_config_read_from(const void *config, size_t config_len,
			   uint64_t offset, void *data, unsigned int len);

int vdev_device_activate(struct vdev_device *dev, struct vdev_mem *mem,
			 struct vdev_interrupt *irq, struct vdev_queue **queues,
			 unsigned int nr_queues);

bool vdev_device_is_active(struct vdev_device *dev);

struct vdev_interrupt *vdev_device_reset(struct vdev_device *dev);

int vdev_device_pause(struct vdev_device *dev);

int vdev_device_resume(struct vdev_device *dev);

bool vdev_device_is_paused(struct vdev_device *dev);

void vdev_device_shutdown(struct vdev_device *dev);

__vdev_printf(2, 3)
void vdev_device_set_needs_reset(struct vdev_device *dev, const char *fmt, ...);

bool vdev_device_needs_reset(const struct vdev_device *dev);

void vdev_device_config_changed(struct vdev_device *dev);

int vdev_device_add_memory_region(struct vdev_device *dev,
				  const struct vdev_mem_region *region);

int vdev_device_set_access_platform(struct vdev_device *dev,
				    struct vdev_access_platform *ap);

unsigned int vdev_device_counters(struct vdev_device *dev,
				  struct vdev_counter *counters,
				  unsigned int max);

int vdev_device_get_shm_regions(struct vdev_device *dev,
				struct vdev_shm_list *list);

int vdev_device_set_shm_regions(struct vdev_device *dev,
				const struct vdev_shm_list *list);

unsigned int vdev_device_userspace_mappings(struct vdev_device *dev,
					    struct vdev_userspace_mapping *maps,
					    unsigned int max);

#endif /* _VDEV_DEVICE_H */
