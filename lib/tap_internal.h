/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Variants of vdev_tap_set_queue_enabled() and vdev_tap_set_offload() for
 * the virtio-net device. It steers queues on every reset and activation,
 * also after the TAP was deleted under it (an error it already reports
 * once, from its data path), and logs what else fails in its own words;
 * and its control worker works on the TAP through its own dups of the
 * TAP's fds (@fds: one per queue, fds[i] a dup of queue i's fd; NULL for
 * the handle's own). Not exported: the "__" prefix keeps them out of
 * lib/libvdev.map's vdev_* pattern.
 */
#ifndef _VDEV_TAP_INTERNAL_H
#define _VDEV_TAP_INTERNAL_H

#include <stdbool.h>

#include <vdev/tap.h>

/* As vdev_tap_set_queue_enabled(), on @fds, logging nothing when @quiet. */
int __vdev_tap_set_queue_enabled(struct vdev_tap *tap, const int *fds,
				 unsigned int queue, bool enabled, bool quiet);

/* As vdev_tap_set_offload(), on @fds. */
int __vdev_tap_set_offload(struct vdev_tap *tap, const int *fds,
			   unsigned int tun_f);

#endif /* _VDEV_TAP_INTERNAL_H */
