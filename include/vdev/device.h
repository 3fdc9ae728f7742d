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
 * device has been joined. While active, one queue can be disabled, reset
 * and enabled again on its own (vdev_device_queue_*()) when the device
 * type implements @queue_reset and @queue_enable; the others keep
 * running.
 */
#ifndef _VDEV_DEVICE_H
#define _VDEV_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdev/access.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

struct vdev_device;
struct vdev_device_private;
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
 * @features: offered feature bits; default: vdev_device_info.features
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
 * @queue_reset: one queue of the active device is being disabled or reset
 *               on its own (vdev_device_queue_disable(),
 *               vdev_device_queue_reset()); every worker is parked. Give
 *               back (vdev_queue_rewind()) the chains of @vq popped and
 *               not pushed, drop what the device keeps for @vq, and make
 *               the handlers leave @vq alone until @queue_enable: its
 *               ring is unmapped when this returns (kicks still arrive;
 *               drain and ignore them). The other queues go on as before.
 *               Optional, with @queue_enable: without both, per-queue
 *               reset is refused (-EOPNOTSUPP) and VIRTIO_F_RING_RESET
 *               not offered
 * @queue_enable: @vq, stopped by @queue_reset, runs again, on its ring
 *                as the transport now describes it (where it stopped, or
 *                from the start after a reset); workers parked. The core
 *                kicks @vq right after, so that its handler looks at the
 *                ring. 0, or -errno to leave the queue stopped
 * @shutdown: called once, after the device was reset for the last time:
 *            by vdev_device_shutdown(), or by the last put if the VMM
 *            never called it
 * @get_shm_regions: fill @list; 0, or -ENOENT when the device has none
 * @set_shm_regions: replace the device's shared memory description
 * @add_memory_region: guest RAM was hot-added (already in the map)
 * @userspace_mappings: fill up to @max entries; returns how many
 * @counters: fill up to @max entries; returns how many
 * @set_access_platform: an access platform was set (@ap; vdev holds a
 *                       reference until the device is destroyed)
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
	void (*queue_reset)(struct vdev_device *dev, struct vdev_queue *vq);
	int (*queue_enable)(struct vdev_device *dev, struct vdev_queue *vq);
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
 * struct vdev_device - what every device type embeds (the kernel's struct
 * virtio_device)
 * @ops: the device type's operations
 * @name: instance name, at most VDEV_NAME_MAX - 1 chars ("net0")
 * @type: VIRTIO_ID_*
 * @queue_sizes: maximum size of each queue
 * @nr_queues: entries in @queue_sizes
 * @min_queues: activate fails with -EINVAL below this many queues
 * @rl: rate limit for every message the driver can trigger, the device's
 *      and its queues' (10 every 5 s); set once at init, so that a
 *      guest's reset does not renew it. A device type logs what a guest
 *      can cause through it: if (vdev_ratelimit_ok(&dev->rl)) vdev_log()
 * @irq: not for device types: the interrupt held while active, read by
 *       lib/queue.c's notify fast path (Documentation/core.rst, Locking)
 * @access_platform: not for device types: DMA remapping or NULL, read by
 *                   lib/queue.c; use vdev_device_set_access_platform()
 * @queue_private: not for device types: vdev's state for each of the
 *                 @nr_queues queues (lib/queue_priv.h), for the
 *                 device's whole life
 * @p: vdev's private state (lib/core_priv.h): features, locks, eventfds,
 *     workers, pause state, the reference count. Allocated by
 *     vdev_device_init(), freed by the last vdev_device_put().
 *
 * vdev_device_init() sets every field; from then on a device type only
 * reads @name, @type and the queue limits, and reaches its own structure
 * with container_of(). Features go through vdev_device_features(),
 * vdev_device_acked_features() and vdev_device_feature_acked(), the
 * lifecycle through vdev_device_*().
 */
struct vdev_device {
	const struct vdev_device_ops *ops;
	char name[VDEV_NAME_MAX];
	uint32_t type;
	const uint16_t *queue_sizes;
	unsigned int nr_queues;
	unsigned int min_queues;
	struct vdev_ratelimit rl;

	struct vdev_interrupt *irq;
	struct vdev_access_platform *access_platform;
	struct vdev_queue_private *queue_private;
	struct vdev_device_private *p;
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

bool vdev_device_queue_reset_supported(const struct vdev_device *dev);

int vdev_device_queue_disable(struct vdev_device *dev, struct vdev_queue *vq);

int vdev_device_queue_reset(struct vdev_device *dev, struct vdev_queue *vq);

int vdev_device_queue_enable(struct vdev_device *dev, struct vdev_queue *vq);

int vdev_device_queue_get_state(struct vdev_device *dev, struct vdev_queue *vq,
				struct vdev_queue_state *state);

int vdev_device_queue_set_state(struct vdev_device *dev, struct vdev_queue *vq,
				const struct vdev_queue_state *state);

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
