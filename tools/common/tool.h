/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the programs in tools/ share and libvdev has no business
 * exporting: a guest MAC from the command line, and the process's own
 * fd and thread counts, which each tool prints across device lifetimes
 * (a leak shows there). Private to tools/: never installed.
 */
#ifndef _VDEV_TOOLS_TOOL_H
#define _VDEV_TOOLS_TOOL_H

#include <stdint.h>

/* A joined thread can stay listed in /proc/self/task a moment. */
#define TOOL_SETTLE_MS	500

int tool_parse_mac(const char *s, uint8_t mac[6]);
int tool_count_fds(void);
int tool_count_threads(int want);

#endif /* _VDEV_TOOLS_TOOL_H */
