/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdev: device-side virtio for VMMs. This umbrella header brings in the
 * whole public API; `pkg-config --cflags --libs vdev` is all a consumer
 * needs.
 */
#ifndef _VDEV_VDEV_H
#define _VDEV_VDEV_H

#include <vdev/log.h>
#include <vdev/access.h>
#include <vdev/mem.h>
#include <vdev/interrupt.h>
#include <vdev/queue.h>
#include <vdev/worker.h>
#include <vdev/device.h>
#include <vdev/netlink.h>
#include <vdev/tap.h>
#include <vdev/net.h>
#include <vdev/mmio.h>
#include <vdev/pci.h>
#include <vdev/kvm.h>
#include <vdev/vhost_user.h>

#endif /* _VDEV_VDEV_H */
