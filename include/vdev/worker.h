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

/* Worker flags. */
/*
 * Serves a control queue. (The fault build's VDEV_FAULT=leak-ctrl-worker
 * leaves such a worker unjoined, see Documentation/testing.rst.)
 */
#define VDEV_WORKER_CTRL	(1u << 0)

#define VDEV_WORKER_MAX_FDS	16

/**
 * vdev_worker_create() - allocate a worker for @dev (not started)
 * @dev: the device, being activated
 * @suffix: thread name suffix, e.g. "q0" or "ctl" (at most 3 chars used)
 * @flags: VDEV_WORKER_*
 * @wp: on success the new worker
 *
 * Return: 0 or -errno.
 */
int vdev_worker_create(struct vdev_device *dev, const char *suffix,
		       unsigned int flags, struct vdev_worker **wp);

/* Documented in lib/worker.c. */
int vdev_worker_own_fd(struct vdev_worker *w, int fd);

/**
 * vdev_worker_add_fd() - watch @fd and call @fn on its events
 * @w: the worker
 * @fd: file descriptor (not owned by the worker)
 * @events: EPOLLIN / EPOLLOUT / EPOLLET ...
 * @fn: handler
 * @data: passed to @fn
 *
 * May be called before start, or later from the worker's own thread.
 *
 * Return: 0, -ENOSPC past VDEV_WORKER_MAX_FDS, or -errno from epoll_ctl.
 */
int vdev_worker_add_fd(struct vdev_worker *w, int fd, uint32_t events,
		       vdev_worker_fn fn, void *data);

/**
 * vdev_worker_mod_fd() - change the events watched on @fd
 * @w: the worker
 * @fd: a registered fd
 * @events: the new event mask (0 to stop watching without removing)
 *
 * Return: 0 or -errno.
 */
int vdev_worker_mod_fd(struct vdev_worker *w, int fd, uint32_t events);

/**
 * vdev_worker_del_fd() - stop watching @fd
 * @w: the worker
 * @fd: a registered fd
 *
 * Return: 0 or -errno.
 */
int vdev_worker_del_fd(struct vdev_worker *w, int fd);

/**
 * vdev_worker_start() - start the thread; the device now owns @w
 * @w: the worker
 *
 * On failure @w is freed.
 *
 * Return: 0 or -errno.
 */
int vdev_worker_start(struct vdev_worker *w);

/**
 * vdev_worker_destroy() - free a worker that was never started
 * @w: the worker, or NULL
 *
 * Closes its epoll fd and the fds it owns (vdev_worker_own_fd()).
 */
void vdev_worker_destroy(struct vdev_worker *w);

/**
 * vdev_worker_device() - the device a worker belongs to
 * @w: the worker
 *
 * Return: the device.
 */
struct vdev_device *vdev_worker_device(struct vdev_worker *w);

/**
 * vdev_worker_name() - the worker thread's name
 * @w: the worker
 *
 * Return: "vdev-<device>-<suffix>".
 */
const char *vdev_worker_name(const struct vdev_worker *w);

#endif /* _VDEV_WORKER_H */
