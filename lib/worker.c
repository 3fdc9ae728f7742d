// SPDX-License-Identifier: GPL-2.0
/*
 * Device worker threads.
 *
 * Each worker is one thread around one epoll instance. Besides the fds its
 * device registers, it watches the device's kill eventfd (never drained:
 * once written, every worker sees it until it exits) and pause eventfd
 * (drained by vdev_device_resume()). Workers are stopped only by the kill
 * eventfd and joined, never cancelled.
 *
 * A worker may own fds besides its epoll fd (vdev_worker_own_fd()): the
 * fds its handlers work on, closed with the worker once its thread has
 * been joined. Once killed, a thread touches nothing of its device: it
 * leaves its loop, and its joiner takes it off the device's count of
 * running workers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/worker.h>

#include "compiler.h"
#include "core_priv.h"
#include "worker_priv.h"

#define TAG_KILL	((uint64_t)-1)
#define TAG_PAUSE	((uint64_t)-2)
#define MAX_EVENTS	(VDEV_WORKER_MAX_FDS + 2)

struct worker_fd {
	int fd;
	vdev_worker_fn fn;
	void *data;
	bool active;
};

/**
 * struct vdev_worker - one worker thread
 * @next: next in the device's list
 * @dev: the device
 * @thread: the thread, once started
 * @epfd: its epoll instance
 * @flags: VDEV_WORKER_*
 * @name: thread name, "vdev-<device>-<suffix>" (TASK_COMM_LEN)
 * @nr_fds: entries used in @fds
 * @fds: the fds watched
 * @nr_owned: entries in @owned
 * @owned: fds closed with the worker (vdev_worker_own_fd())
 * @exit_fn: called on the thread as it leaves its loop, or NULL
 * @exit_data: its argument
 * @lock: protects @left and @uncounted while the thread runs
 * @left_cond: signalled when @left is set
 * @left: the thread has left its loop and touches the device no more
 * @uncounted: the thread took itself off its device's count of running
 *             workers (it left on an error, not killed)
 */
struct vdev_worker {
	struct vdev_worker *next;
	struct vdev_device *dev;
	pthread_t thread;
	int epfd;
	unsigned int flags;
	char name[16];
	unsigned int nr_fds;
	struct worker_fd fds[VDEV_WORKER_MAX_FDS];
	unsigned int nr_owned;
	int owned[VDEV_WORKER_MAX_FDS];
	vdev_worker_exit_fn exit_fn;
	void *exit_data;
	pthread_mutex_t lock;
	pthread_cond_t left_cond;
	bool left;
	bool uncounted;
};

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

/**
 * vdev_worker_create() - allocate a worker for @dev (not started)
 * @dev: the device, being activated
 * @suffix: thread name suffix, e.g. "q0" or "ctl" (at most 3 chars used)
 * @flags: VDEV_WORKER_*
 * @wp: on success the new worker
 *
 * The worker watches @dev's kill and pause eventfds from the start.
 *
 * Context: @ops->activate of @dev (only then do those eventfds exist).
 *
 * Return: 0, -EINVAL outside activate, -ENOMEM, or -errno from
 * epoll_create1() / epoll_ctl().
 */
int vdev_worker_create(struct vdev_device *dev, const char *suffix,
		       unsigned int flags, struct vdev_worker **wp)
{
	struct vdev_worker *w;
	int ret;

	if (dev->p->kill_fd < 0 || dev->p->pause_fd < 0)
		return -EINVAL;	/* only from the activate op */

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dev = dev;
	w->flags = flags;
	/* Unique: device names are (VDEV_NAME_MAX), suffixes per device. */
	snprintf(w->name, sizeof(w->name), "vdev-%.*s-%.3s",
		 VDEV_NAME_MAX - 1, dev->name, suffix);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->left_cond, NULL);

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		ret = -errno;
		goto out_free;
	}
	ret = epoll_add(w->epfd, dev->p->kill_fd, EPOLLIN, TAG_KILL);
	if (ret)
		goto out_close_epoll;
	ret = epoll_add(w->epfd, dev->p->pause_fd, EPOLLIN, TAG_PAUSE);
	if (ret)
		goto out_close_epoll;

	*wp = w;
	return 0;

out_close_epoll:
	close(w->epfd);
out_free:
	pthread_cond_destroy(&w->left_cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
	vdev_log(VDEV_LOG_ERR, "%s: cannot create worker: %d", dev->name, ret);
	return ret;
}

/**
 * vdev_worker_destroy() - free a worker that was never started
 * @w: the worker, or NULL
 *
 * Closes its epoll fd and the fds it owns (vdev_worker_own_fd()).
 */
void vdev_worker_destroy(struct vdev_worker *w)
{
	unsigned int i;

	if (!w)
		return;
	for (i = 0; i < w->nr_owned; i++)
		close(w->owned[i]);
	close(w->epfd);
	pthread_cond_destroy(&w->left_cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/**
 * vdev_worker_own_fd() - hand an fd over to the worker
 * @w: the worker
 * @fd: an fd the worker's handlers work on (a dup of a TAP fd, say)
 *
 * From now on the worker owns @fd: it is closed when the worker is
 * destroyed, that is after its thread has been joined (by the reset that
 * stops the device), or by vdev_worker_destroy() or a failed
 * vdev_worker_start() for a worker that never ran. @fd may also be
 * watched with vdev_worker_add_fd(), which does not take ownership.
 *
 * May be called before start, or later from the worker's own thread.
 *
 * Return: 0, -EINVAL for a negative @fd, or -ENOSPC past
 * VDEV_WORKER_MAX_FDS owned fds; on error the caller still owns @fd.
 */
int vdev_worker_own_fd(struct vdev_worker *w, int fd)
{
	if (fd < 0)
		return -EINVAL;
	if (w->nr_owned >= VDEV_WORKER_MAX_FDS)
		return -ENOSPC;
	w->owned[w->nr_owned++] = fd;
	return 0;
}

/**
 * vdev_worker_set_exit() - run @fn on the worker's thread when it stops
 * @w: the worker, not started
 * @fn: called once, on the worker's own thread, when it leaves its loop
 *      (killed by a reset, or on an error), before its joiner returns;
 *      NULL for none
 * @data: passed to @fn
 *
 * For what only the thread itself can finish quickly: io_uring requests
 * it submitted, say, whose cancellation completes on the submitting
 * thread (from any other thread it waits for the kernel's fallback
 * work). @fn may use the device and the fds the worker watches; no
 * handler runs after it.
 */
void vdev_worker_set_exit(struct vdev_worker *w, vdev_worker_exit_fn fn,
			  void *data)
{
	w->exit_fn = fn;
	w->exit_data = data;
}

static struct worker_fd *worker_find(struct vdev_worker *w, int fd)
{
	unsigned int i;

	for (i = 0; i < w->nr_fds; i++)
		if (w->fds[i].active && w->fds[i].fd == fd)
			return &w->fds[i];
	return NULL;
}

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
		       vdev_worker_fn fn, void *data)
{
	struct worker_fd *wf;
	int ret;

	if (w->nr_fds >= VDEV_WORKER_MAX_FDS)
		return -ENOSPC;
	wf = &w->fds[w->nr_fds];
	ret = epoll_add(w->epfd, fd, events, w->nr_fds);
	if (ret)
		return ret;
	wf->fd = fd;
	wf->fn = fn;
	wf->data = data;
	wf->active = true;
	w->nr_fds++;
	return 0;
}

/**
 * vdev_worker_mod_fd() - change the events watched on @fd
 * @w: the worker
 * @fd: a registered fd
 * @events: the new event mask (0 to stop watching without removing)
 *
 * Return: 0, -ENOENT when @fd is not registered, or -errno from
 * epoll_ctl().
 */
int vdev_worker_mod_fd(struct vdev_worker *w, int fd, uint32_t events)
{
	struct worker_fd *wf = worker_find(w, fd);
	struct epoll_event ev = { .events = events };

	if (!wf)
		return -ENOENT;
	ev.data.u64 = wf - w->fds;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

/**
 * vdev_worker_del_fd() - stop watching @fd
 * @w: the worker
 * @fd: a registered fd
 *
 * Its slot is not reused: at most VDEV_WORKER_MAX_FDS fds are ever added
 * to one worker.
 *
 * Return: 0, -ENOENT when @fd is not registered, or -errno from
 * epoll_ctl().
 */
int vdev_worker_del_fd(struct vdev_worker *w, int fd)
{
	struct worker_fd *wf = worker_find(w, fd);

	if (!wf)
		return -ENOENT;
	wf->active = false;
	if (epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		return -errno;
	return 0;
}

/**
 * vdev_worker_device() - the device a worker belongs to
 * @w: the worker
 *
 * Return: the device.
 */
struct vdev_device *vdev_worker_device(struct vdev_worker *w)
{
	return w->dev;
}

/**
 * vdev_worker_name() - the worker thread's name
 * @w: the worker
 *
 * Return: "vdev-<device>-<suffix>".
 */
const char *vdev_worker_name(const struct vdev_worker *w)
{
	return w->name;
}

static void worker_dispatch(struct vdev_worker *w, const struct epoll_event *ev)
{
	struct worker_fd *wf;
	int ret;

	if (ev->data.u64 >= w->nr_fds)
		return;
	wf = &w->fds[ev->data.u64];
	if (!wf->active)
		return;
	ret = wf->fn(w, ev->events, wf->data);
	if (ret < 0 && wf->active) {
		vdev_log(VDEV_LOG_DEBUG, "%s: fd %d stopped: %d", w->name,
			 wf->fd, ret);
		vdev_worker_del_fd(w, wf->fd);
	}
}

/*
 * The thread leaves its loop. Killed, it touches nothing of the device
 * from here on: its joiner does the device's bookkeeping. Leaving on an
 * error, it takes itself off p->nr_running first, or a pause would wait
 * forever for it to park; the device is still alive then, as its joiner
 * waits for the thread (pthread_join(), or worker_wait_left() under
 * @w->lock) before it lets the device go.
 */
static void worker_leave(struct vdev_worker *w, bool killed)
{
	if (w->exit_fn)
		w->exit_fn(w, w->exit_data);
	pthread_mutex_lock(&w->lock);
	if (!killed) {
		struct vdev_device *dev = w->dev;

		pthread_mutex_lock(&dev->p->park_lock);
		dev->p->nr_running--;
		pthread_cond_broadcast(&dev->p->park_cond);
		pthread_mutex_unlock(&dev->p->park_lock);
		w->uncounted = true;
	}
	w->left = true;
	pthread_cond_broadcast(&w->left_cond);
	pthread_mutex_unlock(&w->lock);
}

static void *worker_thread(void *arg)
{
	struct vdev_worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	int i, n;

	for (;;) {
		n = epoll_wait(w->epfd, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			vdev_log(VDEV_LOG_ERR, "%s: epoll_wait: %d", w->name,
				 -errno);
			worker_leave(w, false);
			return NULL;
		}
		/* Kill first: nothing runs once the device is being reset. */
		for (i = 0; i < n; i++) {
			if (evs[i].data.u64 == TAG_KILL) {
				worker_leave(w, true);
				return NULL;
			}
		}
		for (i = 0; i < n; i++)
			if (evs[i].data.u64 == TAG_PAUSE)
				__vdev_device_park(w->dev);
		for (i = 0; i < n; i++)
			if (evs[i].data.u64 < TAG_PAUSE)
				worker_dispatch(w, &evs[i]);
	}
}

/**
 * vdev_worker_start() - start the thread; the device now owns @w
 * @w: the worker
 *
 * The thread is named vdev_worker_name() and runs until @dev's kill
 * eventfd is written; vdev_device_reset() joins it. On failure @w is
 * freed.
 *
 * Return: 0 or -errno from pthread_create().
 */
int vdev_worker_start(struct vdev_worker *w)
{
	struct vdev_device *dev = w->dev;
	int ret;

	pthread_mutex_lock(&dev->p->park_lock);
	dev->p->nr_running++;
	pthread_mutex_unlock(&dev->p->park_lock);

	ret = -pthread_create(&w->thread, NULL, worker_thread, w);
	if (ret) {
		pthread_mutex_lock(&dev->p->park_lock);
		dev->p->nr_running--;
		pthread_mutex_unlock(&dev->p->park_lock);
		vdev_log(VDEV_LOG_ERR, "%s: cannot start thread: %d", w->name,
			 ret);
		vdev_worker_destroy(w);
		return ret;
	}
	pthread_setname_np(w->thread, w->name);

	pthread_mutex_lock(&dev->p->park_lock);
	w->next = dev->p->workers;
	dev->p->workers = w;
	dev->p->nr_workers++;
	pthread_mutex_unlock(&dev->p->park_lock);
	return 0;
}

/* The joiner's part of a thread's exit: it no longer runs. */
static void worker_uncount(struct vdev_worker *w)
{
	struct vdev_device *dev = w->dev;

	if (w->uncounted)
		return;
	pthread_mutex_lock(&dev->p->park_lock);
	dev->p->nr_running--;
	pthread_cond_broadcast(&dev->p->park_cond);
	pthread_mutex_unlock(&dev->p->park_lock);
}

#ifdef VDEV_FAULT_INJECTION
/*
 * Test-only (VARIANT=fault): the bug of cloud-hypervisor issue 4868, in
 * the join path. With VDEV_FAULT=leak-ctrl-worker, a VDEV_WORKER_CTRL
 * worker is signalled like every other (the kill eventfd is written) but
 * never joined: its thread is detached, and the worker is never
 * destroyed, so its epoll fd and every fd it owns (for virtio-net, its
 * dups of the TAP fds) stay open and the TAP stays attached. Only so much
 * is kept safe: the joiner waits until the thread has left its loop, after
 * which the thread touches nothing of the device, which is then freed.
 */
static bool worker_fault_leak(const struct vdev_worker *w)
{
	const char *f;

	if (!(w->flags & VDEV_WORKER_CTRL))
		return false;
	f = getenv("VDEV_FAULT");
	return f && !strcmp(f, "leak-ctrl-worker");
}

static void worker_wait_left(struct vdev_worker *w)
{
	pthread_mutex_lock(&w->lock);
	while (!w->left)
		pthread_cond_wait(&w->left_cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void worker_fault_abandon(struct vdev_worker *w)
{
	worker_wait_left(w);
	pthread_detach(w->thread);
	worker_uncount(w);
	vdev_log(VDEV_LOG_WARN,
		 "%s: FAULT leak-ctrl-worker: not joined, %u fds left open",
		 w->name, w->nr_owned + 1);
}
#else
static inline bool worker_fault_leak(const struct vdev_worker *w)
{
	return false;
}

static inline void worker_fault_abandon(struct vdev_worker *w)
{
}
#endif

/**
 * __vdev_workers_join_all() - join and free every started worker of @dev
 * @dev: the device
 *
 * The caller has written the kill eventfd and unparked the workers. Takes
 * the list off @dev, joins each thread and frees it. Private to lib/
 * (declared in lib/worker_priv.h, called by lib/core.c); not exported.
 *
 * Context: with @dev->p->lock held, never from a worker of @dev; takes
 * @dev->p->park_lock, which workers take, only to unlink the list.
 */
void __vdev_workers_join_all(struct vdev_device *dev)
{
	struct vdev_worker *w, *next;
	int ret;

	pthread_mutex_lock(&dev->p->park_lock);
	w = dev->p->workers;
	dev->p->workers = NULL;
	dev->p->nr_workers = 0;
	pthread_mutex_unlock(&dev->p->park_lock);

	for (; w; w = next) {
		next = w->next;
		if (worker_fault_leak(w)) {
			worker_fault_abandon(w);
			continue;
		}
		ret = pthread_join(w->thread, NULL);
		if (ret)
			vdev_log(VDEV_LOG_ERR, "%s: join failed: %d", w->name,
				 -ret);
		worker_uncount(w);
		vdev_worker_destroy(w);
	}
}
