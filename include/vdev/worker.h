/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device worker threads: one epoll loop per thread over the queue fds a
 * device registers, plus the device's kill and pause eventfds.
 *
 * A worker is created and filled in by the device's activate op, then
 * started; from then on the device owns it, and vdev_device_reset() joins
 * it. Threads are named "vdev-<device>-<suffix>" (see /proc/self/task/
 * N/comm). Handlers run on the worker thread, never concurrently with
 * each other, and never while the device is paused. A worker can own the
 * fds its handlers work on (vdev_worker_own_fd()): they are closed with
 * it, after its thread has been joined.
 */
#ifndef _VDEV_WORKER_H
#define _VDEV_WORKER_H

#include <stdint.h>
#include <sys/epoll.h>

struct vdev_device;
struct vdev_worker;

/*
 * Called with the epoll events seen on the fd it was registered for.
 * Return 0 to keep watching the fd, or a negative errno to stop watching
 * it (the queue is dead until reset); the worker itself keeps running.
 */
typedef int (*vdev_worker_fn)(struct vdev_worker *w, uint32_t events,
			      void *data);

/* Called on the worker's thread as it stops (vdev_worker_set_exit()). */
typedef void (*vdev_worker_exit_fn)(struct vdev_worker *w, void *data);

/* Worker flags. */
/*
 * Serves a control queue. (The fault build's VDEV_FAULT=leak-ctrl-worker
 * leaves such a worker unjoined, see Documentation/testing.rst.)
 */
#define VDEV_WORKER_CTRL	(1u << 0)

#define VDEV_WORKER_MAX_FDS	16

/* Each function is documented at its definition, in lib/worker.c. */
int vdev_worker_create(struct vdev_device *dev, const char *suffix,
		       unsigned int flags, struct vdev_worker **wp);

int vdev_worker_own_fd(struct vdev_worker *w, int fd);

int vdev_worker_add_fd(struct vdev_worker *w, int fd, uint32_t events,
		       vdev_worker_fn fn, void *data);

int vdev_worker_mod_fd(struct vdev_worker *w, int fd, uint32_t events);

int vdev_worker_del_fd(struct vdev_worker *w, int fd);

void vdev_worker_set_exit(struct vdev_worker *w, vdev_worker_exit_fn fn,
			  void *data);

int vdev_worker_start(struct vdev_worker *w);

void vdev_worker_destroy(struct vdev_worker *w);

struct vdev_device *vdev_worker_device(struct vdev_worker *w);

const char *vdev_worker_name(const struct vdev_worker *w);

#endif /* _VDEV_WORKER_H */
