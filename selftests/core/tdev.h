/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal device type for the core selftests: it echoes every chain it
 * is given, one worker per queue ("vdev-<name>-q<index>") popping chains
 * and returning them used. The test supplies its own ops (the name,
 * whether config space is writable: tdev_write_config(), whether reset
 * and shutdown are counted: tdev_reset(), tdev_shutdown(), whether one
 * queue can be reset on its own: tdev_queue_reset(), tdev_queue_enable()),
 * its vdev_device_info (features, queue sizes) and the config bytes.
 *
 * The guest side that drives it without a transport is struct tdev_guest:
 * guest RAM, a vq_driver (selftests/vq_driver.h) per queue in the ring
 * format of the test's FIXTURE_VARIANT, and the struct vdev_queue a
 * transport would fill in for each. A test of a transport (mmio_test,
 * pci_test) has its own driver and uses only the device.
 */
#ifndef _VDEV_TDEV_H
#define _VDEV_TDEV_H

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <linux/virtio_config.h>

#include <vdev/vdev.h>

#include "vdev_test.h"
#include "vq_driver.h"

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

/* ---- the guest side, for tests without a transport ---- */

#define TDEV_GUEST_LOG	64	/* used entries remembered per queue */

/**
 * struct tdev_guest - a driver for the test device, without a transport
 * @format: ring format of every queue
 * @g: guest memory (one region)
 * @d: the driver's half of each queue
 * @q: each queue as a transport fills it (tdev_guest_setup_queues())
 * @qp: pointers to @q, for vdev_device_activate()
 * @kick: each queue's kick eventfd
 * @irqfd: the interrupt eventfd
 * @irq: an eventfd interrupt on @irqfd (one reference held here)
 * @added: per queue: chains added since the ring was cleared
 * @used: per queue: used entries the driver took since then (written by
 *        the thread driving that queue, read from any)
 * @added_id: per queue: head (packed: buffer id) of added chain n, at
 *            n % TDEV_GUEST_LOG
 * @used_id: per queue: head (buffer id) of used entry n, likewise
 * @used_len: per queue: length of used entry n, likewise
 *
 * One thread drives a queue at a time (adds and takes used entries);
 * others may only read @used.
 */
struct tdev_guest {
	enum vq_format format;
	struct vq_guest g;
	struct vq_driver d[TDEV_NQ];
	struct vdev_queue q[TDEV_NQ];
	struct vdev_queue *qp[TDEV_NQ];
	int kick[TDEV_NQ];
	int irqfd;
	struct vdev_interrupt *irq;
	uint16_t added[TDEV_NQ];
	atomic_uint used[TDEV_NQ];
	uint16_t added_id[TDEV_NQ][TDEV_GUEST_LOG];
	uint16_t used_id[TDEV_NQ][TDEV_GUEST_LOG];
	uint32_t used_len[TDEV_NQ][TDEV_GUEST_LOG];
};

static inline void tdev_guest_fini(struct tdev_guest *tg)
{
	unsigned int i;

	vdev_interrupt_put(tg->irq);
	tg->irq = NULL;
	if (tg->irqfd >= 0)
		close(tg->irqfd);
	tg->irqfd = -1;
	for (i = 0; i < TDEV_NQ; i++) {
		if (tg->kick[i] >= 0)
			close(tg->kick[i]);
		tg->kick[i] = -1;
		vq_driver_destroy(&tg->d[i]);
	}
	vq_guest_destroy(&tg->g);
}

/*
 * Guest RAM of @size bytes at @gpa, TDEV_NQ queues of @qsz entries in
 * @format laid out at its start, their kick eventfds and an interrupt.
 * Returns 0 or -errno (then tdev_guest_fini() undoes what was done).
 */
static inline int tdev_guest_init(struct tdev_guest *tg,
				  enum vq_format format, uint64_t gpa,
				  uint64_t size, uint16_t qsz)
{
	unsigned int i;
	int ret;

	memset(tg, 0, sizeof(*tg));
	tg->format = format;
	tg->irqfd = -1;
	for (i = 0; i < TDEV_NQ; i++)
		tg->kick[i] = -1;
	ret = vq_guest_init(&tg->g);
	if (ret)
		return ret;
	ret = vq_guest_add(&tg->g, gpa, size, false);
	if (ret)
		return ret;
	for (i = 0; i < TDEV_NQ; i++) {
		ret = vq_driver_init_format(&tg->d[i], &tg->g, format, 0, qsz,
					    false, 0);
		if (ret)
			return ret;
		tg->kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (tg->kick[i] < 0)
			return -errno;
		tg->qp[i] = &tg->q[i];
	}
	tg->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (tg->irqfd < 0)
		return -errno;
	return vdev_interrupt_eventfd_create(tg->irqfd, &tg->irq);
}

/* The feature bits the ring format needs acked (VIRTIO_F_RING_PACKED). */
static inline uint64_t tdev_guest_features(const struct tdev_guest *tg)
{
	return tg->format == VQ_PACKED ? 1ULL << VIRTIO_F_RING_PACKED : 0;
}

/*
 * What the driver writes for queue @i, as a transport would store it
 * (after vdev_queue_init(), or after a reset of that one queue); @delta
 * shifts the addresses (an IOVA offset).
 */
static inline void tdev_guest_program_queue(struct tdev_guest *tg,
					    unsigned int i, uint64_t delta)
{
	struct vq_driver *d = &tg->d[i];

	tg->q[i].size = d->size;
	tg->q[i].desc_addr = d->desc_gpa + delta;
	tg->q[i].driver_addr = d->avail_gpa + delta;
	tg->q[i].device_addr = d->used_gpa + delta;
	tg->q[i].ready = true;
}

/* Fresh, empty rings for queue @i; the counts start again. */
static inline void tdev_guest_clear_ring(struct tdev_guest *tg,
					 unsigned int i)
{
	vq_driver_rewind(&tg->d[i]);
	tg->added[i] = 0;
	atomic_store(&tg->used[i], 0);
}

/* Program every queue as a transport would; @delta as above. */
static inline void tdev_guest_setup_queues(struct tdev_guest *tg,
					   uint64_t delta)
{
	unsigned int i;

	for (i = 0; i < TDEV_NQ; i++) {
		tdev_guest_clear_ring(tg, i);
		vdev_queue_init(&tg->q[i], i, tg->d[i].size);
		tg->q[i].kick_fd = tg->kick[i];
		tdev_guest_program_queue(tg, i, delta);
	}
}

/*
 * Take every used entry of queue @qi (the thread driving it only): its
 * head and length go to the log. Return: used entries taken in all.
 */
static inline unsigned int tdev_guest_used(struct tdev_guest *tg,
					   unsigned int qi)
{
	unsigned int n = atomic_load(&tg->used[qi]);
	uint32_t len;
	int id;

	while ((id = vq_driver_get_used(&tg->d[qi], &len)) >= 0) {
		tg->used_id[qi][n % TDEV_GUEST_LOG] = (uint16_t)id;
		tg->used_len[qi][n % TDEV_GUEST_LOG] = len;
		atomic_store(&tg->used[qi], ++n);
	}
	return n;
}

/* Add one writable buffer at @gpa to queue @qi, publish and kick. */
static inline void tdev_guest_add_buf(struct tdev_guest *tg, unsigned int qi,
				      uint64_t gpa, uint32_t len)
{
	struct vq_buf in = { .gpa = gpa, .len = len };
	uint64_t one = 1;
	int id;

	tdev_guest_used(tg, qi);	/* frees what the device used */
	id = vq_driver_add(&tg->d[qi], NULL, 0, &in, 1, false);
	if (id < 0)
		abort();	/* a test bug: more in flight than the queue */
	tg->added_id[qi][tg->added[qi] % TDEV_GUEST_LOG] = (uint16_t)id;
	tg->added[qi]++;
	vq_driver_kick_prepare(&tg->d[qi]);
	if (write(tg->kick[qi], &one, sizeof(one)) < 0)
		abort();
}

/* Wait until queue @qi has @n used entries (its driver only); false after 10 s. */
static inline bool tdev_guest_wait_used(struct tdev_guest *tg,
					unsigned int qi, unsigned int n)
{
	int i;

	for (i = 0; i < 100000; i++) {
		if (tdev_guest_used(tg, qi) == n)
			return true;
		usleep(100);
	}
	return false;
}

/*
 * The position a queue of @tg's format is at after @n one-descriptor
 * chains, popped and pushed: the split ring's free-running index, or the
 * packed ring's offset and wrap counter (1 on even laps).
 */
static inline void tdev_guest_state_after(const struct tdev_guest *tg,
					  unsigned int qi, unsigned int n,
					  uint16_t *idx, bool *wrap)
{
	uint16_t size = tg->d[qi].size;

	if (tg->format == VQ_PACKED) {
		*idx = n % size;
		*wrap = !((n / size) & 1);
	} else {
		*idx = (uint16_t)n;
		*wrap = false;
	}
}

#endif /* _VDEV_TDEV_H */
