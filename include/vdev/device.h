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
 * Every operation is optional unless marked; a NULL entry gets the
 * default behaviour described. Ops tables are const and shared by all
 * devices of a type; a device reaches its own structure from @dev with
 * container_of().
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
 *         been joined; default: nothing
 * @shutdown: called once before release by the last put
 * @get_shm_regions: fill @list; 0, or -ENOENT when the device has none
 * @set_shm_regions: replace the device's shared memory description
 * @add_memory_region: guest RAM was hot-added (already in the map)
 * @userspace_mappings: fill up to @max entries; returns how many
 * @counters: fill up to @max entries; returns how many
 * @set_access_platform: an access platform was set (already stored in
 *                       @dev->access_platform)
 * @release: free the device's memory (required); called last
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
 * @kill_fd: eventfd written once to stop every worker
 * @pause_fd: eventfd written to ask every worker to park
 * @paused: workers are (asked to be) parked
 * @park_lock: protects @nr_parked and @paused transitions
 * @park_cond: signalled when a worker parks or must wake up
 * @nr_parked: workers currently parked
 * @workers: list of started workers
 * @nr_workers: entries in @workers
 * @nr_running: workers whose thread has not left its loop
 * @queues: the queues given to activate
 * @nr_active_queues: entries in @queues
 * @irq: interrupt object held while active
 * @mem: guest memory held while active
 * @access_platform: DMA remapping, or NULL
 * @needs_reset: DEVICE_NEEDS_RESET (VIRTIO 1.2, 2.1.1)
 * @rl: rate limit for the device's error messages
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
	int kill_fd;
	int pause_fd;
	bool paused;
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	unsigned int nr_parked;
	struct vdev_worker *workers;
	unsigned int nr_workers;
	unsigned int nr_running;
	struct vdev_queue **queues;
	unsigned int nr_active_queues;

	struct vdev_interrupt *irq;
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

/**
 * vdev_device_init() - initialise the common part of a new device
 * @dev: embedded in the device type's structure
 * @ops: the type's operations (@ops->activate and @ops->release required)
 * @info: name, type, features, queues
 *
 * The device starts with one reference, reset and not activated.
 *
 * Return: 0 or -errno (-EINVAL for missing ops or no queues).
 */
int vdev_device_init(struct vdev_device *dev, const struct vdev_device_ops *ops,
		     const struct vdev_device_info *info);

/**
 * vdev_device_get() - take a reference
 * @dev: the device
 *
 * Return: @dev.
 */
struct vdev_device *vdev_device_get(struct vdev_device *dev);

/**
 * vdev_device_put() - drop a reference
 * @dev: the device, or NULL
 *
 * The last put resets the device (joining every worker), calls
 * @ops->shutdown and frees it; when it returns, no thread of the device
 * runs and every fd it opened is closed.
 */
void vdev_device_put(struct vdev_device *dev);

/**
 * vdev_device_type() - VIRTIO_ID_* of the device
 * @dev: the device
 *
 * Return: the type.
 */
uint32_t vdev_device_type(const struct vdev_device *dev);

/**
 * vdev_device_queue_max_sizes() - maximum queue sizes
 * @dev: the device
 * @sizes: set to an array of the returned length
 *
 * Return: number of queues.
 */
unsigned int vdev_device_queue_max_sizes(const struct vdev_device *dev,
					 const uint16_t **sizes);

/**
 * vdev_device_features() - feature bits offered to the driver
 * @dev: the device
 *
 * Return: the bits.
 */
uint64_t vdev_device_features(const struct vdev_device *dev);

/**
 * vdev_device_ack_features() - the driver acks features
 * @dev: the device
 * @value: bits acked; may be called once per 32-bit half
 *
 * Bits never offered are masked out with a warning and remembered, so
 * that vdev_device_features_ok() refuses the negotiation.
 */
void vdev_device_ack_features(struct vdev_device *dev, uint64_t value);

/**
 * vdev_device_acked_features() - feature bits negotiated so far
 * @dev: the device
 *
 * Return: the acked bits.
 */
uint64_t vdev_device_acked_features(const struct vdev_device *dev);

/**
 * vdev_device_feature_acked() - was feature bit @bit acked?
 * @dev: the device
 * @bit: VIRTIO_F_* / VIRTIO_NET_F_* bit number
 *
 * Return: true when acked.
 */
bool vdev_device_feature_acked(const struct vdev_device *dev, unsigned int bit);

/**
 * vdev_device_features_ok() - may the transport accept FEATURES_OK?
 * @dev: the device
 *
 * Return: false when the driver acked a feature that was not offered
 * since the last reset (VIRTIO 1.2, 2.2.2).
 */
bool vdev_device_features_ok(const struct vdev_device *dev);

/**
 * vdev_device_read_config() - read device config space
 * @dev: the device
 * @offset: offset in config space
 * @data: destination
 * @len: bytes; what lies past the config space reads as zero
 */
void vdev_device_read_config(struct vdev_device *dev, uint64_t offset,
			     void *data, unsigned int len);

/**
 * vdev_device_write_config() - write device config space
 * @dev: the device
 * @offset: offset in config space
 * @data: source
 * @len: bytes
 */
void vdev_device_write_config(struct vdev_device *dev, uint64_t offset,
			      const void *data, unsigned int len);

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
			   uint64_t offset, void *data, unsigned int len);

/**
 * vdev_device_activate() - start the device
 * @dev: the device
 * @mem: guest memory (a reference is taken)
 * @irq: interrupt object (a reference is taken)
 * @queues: the queues the driver made ready, in index order
 * @nr_queues: number of entries in @queues
 *
 * Checks @nr_queues against the device's minimum, validates and maps every
 * queue, creates the kill and pause eventfds and calls @ops->activate,
 * which starts the workers. On failure nothing is left running.
 *
 * Return: 0; -EINVAL for too few queues or a bad queue setting; -EBUSY
 * when already active; -errno from the device.
 */
int vdev_device_activate(struct vdev_device *dev, struct vdev_mem *mem,
			 struct vdev_interrupt *irq, struct vdev_queue **queues,
			 unsigned int nr_queues);

/**
 * vdev_device_is_active() - between activate and reset?
 * @dev: the device
 *
 * Return: true when active.
 */
bool vdev_device_is_active(struct vdev_device *dev);

/**
 * vdev_device_reset() - stop the device and return its interrupt
 * @dev: the device
 *
 * Resumes the workers if paused, signals kill, joins every worker, calls
 * @ops->reset, closes the kill and pause eventfds, drops the guest memory
 * and clears the negotiated features and DEVICE_NEEDS_RESET. When it
 * returns no worker thread of the device exists.
 *
 * Return: the interrupt object given to activate (the caller now owns
 * that reference and must vdev_interrupt_put() it), or NULL when the
 * device was not active.
 */
struct vdev_interrupt *vdev_device_reset(struct vdev_device *dev);

/**
 * vdev_device_pause() - park every worker
 * @dev: the device
 *
 * Returns only when every worker has parked: no descriptor is processed
 * until vdev_device_resume(). Pausing an inactive or paused device is a
 * no-op.
 *
 * Return: 0 or -errno.
 */
int vdev_device_pause(struct vdev_device *dev);

/**
 * vdev_device_resume() - unpark the workers
 * @dev: the device
 *
 * Return: 0 or -errno.
 */
int vdev_device_resume(struct vdev_device *dev);

/**
 * vdev_device_is_paused() - are the workers parked?
 * @dev: the device
 *
 * Return: true between pause and resume.
 */
bool vdev_device_is_paused(struct vdev_device *dev);

/**
 * vdev_device_shutdown() - explicit shutdown before the VM goes away
 * @dev: the device
 *
 * Resets the device and calls @ops->shutdown; the device must not be
 * activated again.
 */
void vdev_device_shutdown(struct vdev_device *dev);

/**
 * vdev_device_set_needs_reset() - the driver broke the device
 * @dev: the device
 * @fmt: reason, printf format (logged once, rate-limited)
 *
 * Sets DEVICE_NEEDS_RESET and raises a config interrupt. Safe from any
 * worker.
 */
__vdev_printf(2, 3)
void vdev_device_set_needs_reset(struct vdev_device *dev, const char *fmt, ...);

/**
 * vdev_device_needs_reset() - is DEVICE_NEEDS_RESET set?
 * @dev: the device
 *
 * Return: true when set.
 */
bool vdev_device_needs_reset(const struct vdev_device *dev);

/**
 * vdev_device_config_changed() - raise a configuration change interrupt
 * @dev: the device
 */
void vdev_device_config_changed(struct vdev_device *dev);

/**
 * vdev_device_add_memory_region() - guest RAM was hot-added
 * @dev: the device
 * @region: the region, already added to the device's vdev_mem
 *
 * Return: 0 or -errno from the device.
 */
int vdev_device_add_memory_region(struct vdev_device *dev,
				  const struct vdev_mem_region *region);

/**
 * vdev_device_set_access_platform() - translate addresses through @ap
 * @dev: the device (not active)
 * @ap: the access platform (a reference is taken)
 *
 * Clears VIRTIO_RING_F_INDIRECT_DESC from the offered features.
 *
 * Return: 0, or -EBUSY when the device is active.
 */
int vdev_device_set_access_platform(struct vdev_device *dev,
				    struct vdev_access_platform *ap);

/**
 * vdev_device_counters() - the device's statistics
 * @dev: the device
 * @counters: array of @max entries
 * @max: capacity
 *
 * Return: number of entries filled.
 */
unsigned int vdev_device_counters(struct vdev_device *dev,
				  struct vdev_counter *counters,
				  unsigned int max);

/**
 * vdev_device_get_shm_regions() - the device's shared memory window
 * @dev: the device
 * @list: filled in
 *
 * Return: 0, or -ENOENT when the device has none.
 */
int vdev_device_get_shm_regions(struct vdev_device *dev,
				struct vdev_shm_list *list);

/**
 * vdev_device_set_shm_regions() - update the shared memory window
 * @dev: the device
 * @list: the new description
 *
 * Return: 0, -EOPNOTSUPP, or -errno from the device.
 */
int vdev_device_set_shm_regions(struct vdev_device *dev,
				const struct vdev_shm_list *list);

/**
 * vdev_device_userspace_mappings() - mappings the VMM must install
 * @dev: the device
 * @maps: array of @max entries
 * @max: capacity
 *
 * Return: number of entries filled.
 */
unsigned int vdev_device_userspace_mappings(struct vdev_device *dev,
					    struct vdev_userspace_mapping *maps,
					    unsigned int max);

#endif /* _VDEV_DEVICE_H */
