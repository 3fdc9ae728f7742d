/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Quiet variants of vdev's netlink helpers, for callers (the TAP backend)
 * to which "no such link" is an expected answer rather than an error
 * worth a log line. Not exported: the "__" prefix keeps them out of
 * lib/libvdev.map's vdev_* pattern.
 */
#ifndef _VDEV_NETLINK_INTERNAL_H
#define _VDEV_NETLINK_INTERNAL_H

#include <stdbool.h>

#include <vdev/netlink.h>

/* As vdev_nl_link_state(), logging nothing when @quiet. */
int __vdev_nl_link_state(const char *ifname, struct vdev_nl_link_state *st,
			 bool quiet);

/* As vdev_nl_tun_flags(), logging nothing when @quiet. */
int __vdev_nl_tun_flags(const char *ifname, unsigned int *flags, bool quiet);

#endif /* _VDEV_NETLINK_INTERNAL_H */
