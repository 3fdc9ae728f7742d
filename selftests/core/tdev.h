/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal device type for the core selftests: it echoes every chain it
 * is given, one worker per queue ("vdev-<name>-q<index>") popping chains
 * and returning them used. The test supplies its own ops (the name,
 * whether config space is writable: tdev_write_config(), whether reset
 * and shutdown are counted: tdev_reset(), tdev_shutdown(), whether one
 * queue can be reset on its own: tdev_queue_reset(), tdev_queue_enable()),
 * its vdev_device_info (features, queue sizes) and the config bytes.
 */
#ifndef _VDEV_TDEV_H
#define _VDEV_TDEV_H

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include <vdev/vdev.h>

#include "vdev_test.h"

#define TDEV_NQ		2	/* queues */
#define TDEV_MAX_IOV	64	/* iovecs per chain, at most */
#define TDEV_MAX_CONFIG	16	/* config space bytes, at most */
#define TDEV_MAX_KEPT	8	/* chains a queue keeps (tdev_keep()) */

/**
 * struct tdev - the test device
 * @dev: the vdev device
 * @config: config space
 * @config_len: bytes of @config the device has
 * @nr_iov: iovecs per chain (vdev_chain_init())
 * @processed: chains returned used, all queues
 * @activate_err: when not 0, the activate op fails with it after starting
 *                every worker
 * @resets: calls of the reset op (tdev_reset())
 * @shutdowns: calls of the shutdown op (tdev_shutdown())
 * @released: calls of the release op
 * @hold_mask: queues whose next kick handler stops before it pops: it
 *             posts @held and waits on @unhold (tdev_hold()); one-shot
 * @held: posted by a held handler
 * @unhold: posted by the test to let a held handler go on
 * @keep_mask: queues whose kick handler keeps the chains it pops (up to
 *             TDEV_MAX_KEPT), neither pushed nor given back: chains a
 *             device holds when its queue is reset (tdev_keep())
 * @popped: chains popped, all queues (kept ones included)
 * @stopped: per queue: disabled or reset on its own (tdev_queue_reset());
 *           its handler drains the kick and leaves the ring alone
 * @queue_resets: calls of tdev_queue_reset()
 * @queue_enables: calls of tdev_queue_enable()
 * @nr_kept: per queue: chains kept in @kept
 * @chain: each queue's chain
 * @iov: the iovecs of @chain
 * @kept: the chains each queue keeps
 * @kept_iov: their iovecs
 */
struct tdev {
	struct vdev_device dev;
	uint8_t config[TDEV_MAX_CONFIG];
	unsigned int config_len;
	unsigned int nr_iov;
	atomic_uint processed;
	int activate_err;
	atomic_uint resets;
	atomic_uint shutdowns;
	atomic_uint released;
	atomic_uint hold_mask;
	sem_t held;
	sem_t unhold;
	atomic_uint keep_mask;
	atomic_uint popped;
	atomic_bool stopped[TDEV_NQ];
	atomic_uint queue_resets;
	atomic_uint queue_enables;
	unsigned int nr_kept[TDEV_NQ];
	struct vdev_chain chain[TDEV_NQ];
	struct iovec iov[TDEV_NQ][TDEV_MAX_IOV];
	struct vdev_chain kept[TDEV_NQ][TDEV_MAX_KEPT];
	struct iovec kept_iov[TDEV_NQ][TDEV_MAX_KEPT][TDEV_MAX_IOV];
};

static inline struct tdev *to_tdev(struct vdev_device *dev)
{
	return container_of(dev, struct tdev, dev);
}

static inline void tdev_read_config(struct vdev_device *dev, uint64_t off,
				    void *data, unsigned int len)
{
	struct tdev *t = to_tdev(dev);

	vdev_config_read_from(t->config, t->config_len, off, data, len);
}

/* Writes within the config space land there; others are dropped. */
static inline void tdev_write_config(struct vdev_device *dev, uint64_t off,
				     const void *data, unsigned int len)
{
	struct tdev *t = to_tdev(dev);

	if (off < t->config_len && len <= t->config_len - off)
		memcpy(t->config + off, data, len);
}

static inline int tdev_kick(struct vdev_worker *w, uint32_t events,
			    void *data)
{
	struct vdev_queue *vq = data;
	struct tdev *t = to_tdev(vq->dev);
	unsigned int qi = vq->index;
	struct vdev_chain *c;
	bool keep;
	uint64_t v;
	int ret = 0;

	if (read(vq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	/* Stopped reads as broken: keep the kick fd for the re-enable. */
	if (atomic_load(&t->stopped[qi]))
		return 0;
	if (atomic_fetch_and(&t->hold_mask, ~(1u << qi)) & (1u << qi)) {
		sem_post(&t->held);
		while (sem_wait(&t->unhold) && errno == EINTR)
			;
	}
	for (;;) {
		keep = atomic_load(&t->keep_mask) & (1u << qi);
		if (keep && t->nr_kept[qi] == TDEV_MAX_KEPT)
			break;
		c = keep ? &t->kept[qi][t->nr_kept[qi]] : &t->chain[qi];
		ret = vdev_queue_pop(vq, c);
		if (ret <= 0)
			break;
		atomic_fetch_add(&t->popped, 1);
		if (keep) {
			t->nr_kept[qi]++;
			continue;
		}
		vdev_queue_push_chain(vq, c, c->write_len);
		atomic_fetch_add(&t->processed, 1);
	}
	vdev_queue_notify(vq);
	return ret;
}

static inline int tdev_activate(struct vdev_device *dev,
				struct vdev_queue **queues, unsigned int nr)
{
	struct tdev *t = to_tdev(dev);
	struct vdev_worker *w;
	char sfx[12];
	unsigned int i;
	int ret;

	for (i = 0; i < nr; i++) {
		unsigned int qi = queues[i]->index, k;

		vdev_chain_init(&t->chain[qi], t->iov[qi], t->nr_iov);
		for (k = 0; k < TDEV_MAX_KEPT; k++)
			vdev_chain_init(&t->kept[qi][k], t->kept_iov[qi][k],
					t->nr_iov);
		t->nr_kept[qi] = 0;
		atomic_store(&t->stopped[qi], false);
		snprintf(sfx, sizeof(sfx), "q%u", queues[i]->index);
		ret = vdev_worker_create(dev, sfx, 0, &w);
		if (ret)
			return ret;
		ret = vdev_worker_add_fd(w, queues[i]->kick_fd, EPOLLIN,
					 tdev_kick, queues[i]);
		if (ret) {
			vdev_worker_destroy(w);
			return ret;
		}
		ret = vdev_worker_start(w);
		if (ret)
			return ret;
	}
	return t->activate_err;
}

static inline void tdev_reset(struct vdev_device *dev)
{
	atomic_fetch_add(&to_tdev(dev)->resets, 1);
}

/*
 * One queue is disabled or reset on its own (workers parked): give back
 * the chains it kept, and leave it alone until tdev_queue_enable().
 */
static inline void tdev_queue_reset(struct vdev_device *dev,
				    struct vdev_queue *vq)
{
	struct tdev *t = to_tdev(dev);
	unsigned int qi = vq->index;

	if (t->nr_kept[qi])
		vdev_queue_rewind(vq, &t->kept[qi][0]);
	t->nr_kept[qi] = 0;
	atomic_store(&t->stopped[qi], true);
	atomic_fetch_add(&t->queue_resets, 1);
}

static inline int tdev_queue_enable(struct vdev_device *dev,
				    struct vdev_queue *vq)
{
	struct tdev *t = to_tdev(dev);

	atomic_store(&t->stopped[vq->index], false);
	atomic_fetch_add(&t->queue_enables, 1);
	return 0;
}

static inline void tdev_shutdown(struct vdev_device *dev)
{
	atomic_fetch_add(&to_tdev(dev)->shutdowns, 1);
}

static inline void tdev_release(struct vdev_device *dev)
{
	atomic_fetch_add(&to_tdev(dev)->released, 1);
}

/*
 * Make the next kick handler of queue @qi stop in the worker, before it
 * pops, until the test posts @t->unhold: a worker busy in a handler, as
 * the control path must wait for. @t->held is posted once it is there.
 */
static inline void tdev_hold(struct tdev *t, unsigned int qi)
{
	sem_init(&t->held, 0, 0);
	sem_init(&t->unhold, 0, 0);
	atomic_fetch_or(&t->hold_mask, 1u << qi);
}

/*
 * From now on the kick handler of queue @qi keeps the chains it pops
 * (@on), or pushes them as it did (!@on; kept ones stay kept).
 */
static inline void tdev_keep(struct tdev *t, unsigned int qi, bool on)
{
	if (on)
		atomic_fetch_or(&t->keep_mask, 1u << qi);
	else
		atomic_fetch_and(&t->keep_mask, ~(1u << qi));
}

/*
 * Zero @t, give it @config_len bytes of @config and chains of up to
 * @nr_iov iovecs, and vdev_device_init() it. Returns 0 or -errno.
 */
static inline int tdev_init(struct tdev *t, const struct vdev_device_ops *ops,
			    const struct vdev_device_info *info,
			    const void *config, unsigned int config_len,
			    unsigned int nr_iov)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->config, config, config_len);
	t->config_len = config_len;
	t->nr_iov = nr_iov;
	return vdev_device_init(&t->dev, ops, info);
}

/*
 * Wait until @done, a count another thread advances, has moved on by @n
 * from its value now; false after @ms.
 */
static inline bool tdev_wait_progress(atomic_uint *done, unsigned int n,
				      int ms)
{
	unsigned int from = atomic_load(done);
	int i;

	for (i = 0; i < ms * 10; i++) {
		if (atomic_load(done) - from >= n)
			return true;
		usleep(100);
	}
	return false;
}

#endif /* _VDEV_TDEV_H */
