/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every transport does the same way for the driver: the device
 * status, feature negotiation and starting the device (VIRTIO 1.2, 2.1,
 * 2.2 and 3.1.1). virtio-mmio and virtio-pci embed a struct
 * vdev_transport, send the driver's status and driver feature writes
 * here, and keep only their own registers. Not part of the library's ABI.
 */
#ifndef _VDEV_TRANSPORT_PRIV_H
#define _VDEV_TRANSPORT_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <vdev/log.h>
#include <vdev/vdev.h>

struct vdev_transport;

/**
 * struct vdev_transport_ops - what the shared status logic asks of a
 *	transport
 * @reset: the driver wrote status 0: reset the device and the
 *	transport's own registers, and __vdev_transport_clear() the shared
 *	ones
 * @ready_queues: put the queues the driver made ready in @active, in
 *	index order; return how many
 * @config_irq: raise a configuration change interrupt (it carries
 *	DEVICE_NEEDS_RESET to the driver)
 */
struct vdev_transport_ops {
	void (*reset)(struct vdev_transport *t);
	unsigned int (*ready_queues)(struct vdev_transport *t,
				     struct vdev_queue **active);
	void (*config_irq)(struct vdev_transport *t);
};

/**
 * struct vdev_transport - the driver-facing state every transport shares
 * @ops: the transport's callbacks
 * @kind: "mmio", "pci": the second word of every warning
 * @dev: the device (the transport holds one reference)
 * @mem: guest memory (one reference), handed to the device at DRIVER_OK
 * @irq: the transport's interrupt object, handed to the device
 * @active: scratch array, one entry per queue, for vdev_device_activate()
 * @rl: rate limit of the transport's warnings; outlives every reset, so
 *	a driver cannot flood the log by resetting
 * @status: device status as the driver wrote it, without NEEDS_RESET
 * @needs_reset: DEVICE_NEEDS_RESET set by the transport (DRIVER_OK could
 *	not start the device, or a reset queue could not be re-enabled)
 * @drv_features_sel: which 32 bits of @drv_features the driver writes
 * @drv_features: the driver's features, acked at FEATURES_OK
 * @features_invalid: the driver wrote a feature bit past 63
 * @own_features: the transport's own features, which it offers and the
 *	device does not: acked by the transport, not passed to the device
 * @hidden_features: device features the transport cannot carry: not
 *	offered, and FEATURES_OK is refused when the driver sets one
 */
struct vdev_transport {
	const struct vdev_transport_ops *ops;
	const char *kind;
	struct vdev_device *dev;
	struct vdev_mem *mem;
	struct vdev_interrupt *irq;
	struct vdev_queue **active;
	struct vdev_ratelimit rl;
	uint32_t status;
	bool needs_reset;
	uint32_t drv_features_sel;
	uint64_t drv_features;
	bool features_invalid;
	uint64_t own_features;
	uint64_t hidden_features;
};

#define __vdev_transport_warn(t, fmt, ...)				\
	do {								\
		if (vdev_ratelimit_ok(&(t)->rl))			\
			vdev_log(VDEV_LOG_WARN, "%s: %s: " fmt,		\
				 (t)->dev->name, (t)->kind,		\
				 ##__VA_ARGS__);			\
	} while (0)

static inline void set_low(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffULL) | lo;
}

static inline void set_high(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | ((uint64_t)hi << 32);
}

int __vdev_transport_init(struct vdev_transport *t,
			const struct vdev_transport_ops *ops, const char *kind,
			struct vdev_device *dev, struct vdev_interrupt *irq,
			unsigned int nr_queues);
void __vdev_transport_fini(struct vdev_transport *t);
void __vdev_transport_clear(struct vdev_transport *t);
void __vdev_transport_needs_reset(struct vdev_transport *t);
void __vdev_transport_write_status(struct vdev_transport *t, uint32_t val,
				 const char *reg);
void __vdev_transport_write_driver_features(struct vdev_transport *t,
					  uint32_t val, const char *reg);

#endif /* _VDEV_TRANSPORT_PRIV_H */
