// SPDX-License-Identifier: GPL-2.0
/*
 * The device status state machine every transport shares (see
 * transport_priv.h): what FEATURES_OK and DRIVER_OK do, and what the
 * driver may not do. The caller holds the transport's register lock.
 */
#include <errno.h>
#include <stdlib.h>

#include <linux/virtio_config.h>

#include "transport_priv.h"

/*
 * Set up @t for @dev, with room for @nr_queues queues; the caller takes
 * the device and memory references (t->dev and t->mem) when it is ready.
 * Returns 0 or -ENOMEM.
 */
int __vdev_transport_init(struct vdev_transport *t,
			const struct vdev_transport_ops *ops, const char *kind,
			struct vdev_device *dev, struct vdev_interrupt *irq,
			unsigned int nr_queues)
{
	t->ops = ops;
	t->kind = kind;
	t->dev = dev;
	t->irq = irq;
	t->rl = (struct vdev_ratelimit)VDEV_RATELIMIT_INIT(5000, 10);
	t->active = calloc(nr_queues, sizeof(*t->active));
	return t->active ? 0 : -ENOMEM;
}

void __vdev_transport_fini(struct vdev_transport *t)
{
	free(t->active);
	t->active = NULL;
}

/* Status 0: the driver's side of negotiation starts again. */
void __vdev_transport_clear(struct vdev_transport *t)
{
	t->status = 0;
	t->needs_reset = false;
	t->drv_features_sel = 0;
	t->drv_features = 0;
	t->features_invalid = false;
}

/* Something the driver cannot undo without a reset: DEVICE_NEEDS_RESET. */
void __vdev_transport_needs_reset(struct vdev_transport *t)
{
	if (t->needs_reset)
		return;
	t->needs_reset = true;
	t->ops->config_irq(t);
}

/*
 * FEATURES_OK: ack what the driver wrote; may the bit be set? The
 * transport's own features are not the device's to ack, unless it
 * offers them itself.
 */
static bool transport_features_ok(struct vdev_transport *t)
{
	struct vdev_device *dev = t->dev;
	uint64_t own = t->own_features & ~vdev_device_features(dev);
	uint64_t f = t->drv_features & ~own;

	vdev_device_ack_features(dev, f & 0xffffffffULL);
	vdev_device_ack_features(dev, f & ~0xffffffffULL);
	if (t->features_invalid || !vdev_device_features_ok(dev) ||
	    (t->drv_features & t->hidden_features)) {
		__vdev_transport_warn(t, "FEATURES_OK refused: features %#llx not offered",
				    (unsigned long long)t->drv_features);
		return false;
	}
	if (!vdev_device_feature_acked(dev, VIRTIO_F_VERSION_1)) {
		__vdev_transport_warn(t, "FEATURES_OK refused: VIRTIO_F_VERSION_1 not acked");
		return false;
	}
	return true;
}

/* DRIVER_OK: start the device on the ready queues, in index order. */
static int transport_activate(struct vdev_transport *t)
{
	unsigned int n = t->ops->ready_queues(t, t->active);
	int ret;

	ret = vdev_device_activate(t->dev, t->mem, t->irq, t->active, n);
	if (ret) {
		__vdev_transport_warn(t, "DRIVER_OK: device not started: %d", ret);
		__vdev_transport_needs_reset(t);
	}
	return ret;
}

/*
 * The driver writes @val to the device status (register @reg, for the
 * log). 0 resets; bits are only ever added; FEATURES_OK stays clear when
 * the features cannot be accepted, and DRIVER_OK when the device cannot
 * start, which the driver sees by reading the status back.
 */
void __vdev_transport_write_status(struct vdev_transport *t, uint32_t val,
				 const char *reg)
{
	uint32_t set;

	if (!val) {
		t->ops->reset(t);
		return;
	}
	val &= ~VIRTIO_CONFIG_S_NEEDS_RESET;	/* the device's bit */
	if (t->status & ~val) {
		__vdev_transport_warn(t, "%s %#x clears bits of %#x: ignored", reg,
				    val, t->status);
		return;
	}
	set = val & ~t->status;

	if ((set & VIRTIO_CONFIG_S_FEATURES_OK) && !transport_features_ok(t))
		val &= ~VIRTIO_CONFIG_S_FEATURES_OK;

	if (set & VIRTIO_CONFIG_S_DRIVER_OK) {
		if (!(val & VIRTIO_CONFIG_S_FEATURES_OK)) {
			__vdev_transport_warn(t, "DRIVER_OK without FEATURES_OK ignored");
			val &= ~VIRTIO_CONFIG_S_DRIVER_OK;
		} else if (t->needs_reset || transport_activate(t)) {
			val &= ~VIRTIO_CONFIG_S_DRIVER_OK;
		}
	}
	t->status = val;
}

/* The driver writes 32 feature bits (register @reg, for the log). */
void __vdev_transport_write_driver_features(struct vdev_transport *t,
					  uint32_t val, const char *reg)
{
	if (t->status & VIRTIO_CONFIG_S_FEATURES_OK) {
		__vdev_transport_warn(t, "%s write after FEATURES_OK ignored", reg);
		return;
	}
	switch (t->drv_features_sel) {
	case 0:
		set_low(&t->drv_features, val);
		break;
	case 1:
		set_high(&t->drv_features, val);
		break;
	default:
		/* Bits past 63 were never offered. */
		if (val)
			t->features_invalid = true;
		break;
	}
}
