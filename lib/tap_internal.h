/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A quiet variant of vdev_tap_set_queue_enabled(), for the virtio-net
 * device: it steers queues on every reset and activation, also after the
 * TAP was deleted under it (an error it already reports once, from its
 * data path), and logs what else fails in its own words. Not exported:
 * the "__" prefix keeps it out of lib/libvdev.map's vdev_* pattern.
 */
#ifndef _VDEV_TAP_INTERNAL_H
#define _VDEV_TAP_INTERNAL_H

#include <stdbool.h>

#include <vdev/tap.h>

/* As vdev_tap_set_queue_enabled(), logging nothing when @quiet. */
int __vdev_tap_set_queue_enabled(struct vdev_tap *tap, unsigned int queue,
				 bool enabled, bool quiet);

#endif /* _VDEV_TAP_INTERNAL_H */
