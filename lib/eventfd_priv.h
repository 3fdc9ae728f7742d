/* SPDX-License-Identifier: GPL-2.0 */
/* Private: signalling an eventfd, as every kick and interrupt in lib/ does. */
#ifndef _VDEV_LIB_EVENTFD_PRIV_H
#define _VDEV_LIB_EVENTFD_PRIV_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/*
 * eventfd_kick() - add 1 to the counter of eventfd @fd
 *
 * Returns 0 or -errno. A counter at its maximum (EAGAIN from a
 * non-blocking eventfd) is success: the reader has a wakeup pending.
 */
static inline int eventfd_kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN)
		return 0;
	return -errno;
}

#endif /* _VDEV_LIB_EVENTFD_PRIV_H */
