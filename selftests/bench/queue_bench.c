// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueue throughput: vdev's device side against the test driver
 * (selftests/vq_driver.h), on two threads pinned to different CPUs.
 *
 * The work per transfer is that of the kernel's tools/virtio/vringh_test
 * --parallel: the driver posts a 4-byte buffer as a chain of 1 to 4
 * descriptors, alternately device-readable and device-writable; the
 * device copies the 4 bytes out of (or into) the chain and returns it.
 * Kicks and interrupts are eventfds (ioeventfd/irqfd in a VMM; vringh_test
 * uses pipes), suppressed by EVENT_IDX or by the ring flags. The ring has
 * 256 entries, as in vringh_test.
 *
 *   queue_bench [-n TRANSFERS] [-b BATCH] [--vringh PATH [-m VRINGH_TRANSFERS]]
 *   queue_bench --cost-only ROUNDS [--desc N]
 *
 * prints ns per transfer for 1..4 descriptors per chain with and without
 * EVENT_IDX on the split and on the packed ring (the packed driver side
 * is vq_driver.h's, after Linux's *_packed() functions), the device's
 * CPU cost alone (one thread, warm caches) on both rings, then the mixed
 * vringh_test pattern with EVENT_IDX on both; with --vringh it also runs
 * "PATH --parallel --eventidx" (10M transfers, a copy patched to pin its
 * two processes to different CPUs; vringh is split only) and prints the
 * ratios vringh ns / vdev ns for each ring (above 1.0: vdev is faster)
 * and packed / split. --cost-only prints only the device cost table,
 * ROUNDS full rings per cell (20000 otherwise), for N descriptors per
 * chain only with --desc (0: the mix): small enough to run under
 * valgrind --tool=callgrind, whose instruction counts do not depend on
 * the load of the machine. vringh_test
 * inherits this process's scheduling policy (make bench runs both under
 * SCHED_FIFO when allowed). Nothing here passes or fails on time.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

#include "vq_driver.h"

#define RING		256
#define GUEST_GPA	0x100000ULL
#define GUEST_SIZE	(4UL << 20)
#define VRINGH_XFERS	10000000UL

struct bench {
	struct vq_guest g;
	struct vq_driver d;
	struct vdev_device dev;
	struct vdev_queue q;
	struct vdev_queue *qp;
	struct vdev_interrupt *irq;
	int kick_fd;
	int irq_fd;
	uint64_t data;			/* RING + 1 4-byte buffers */
	unsigned long xfers;
	unsigned int batch;		/* publish used->idx every @batch */
	int ndesc;			/* 1..4, or 0: vringh_test's mix */
	bool event_idx;
	enum vq_format format;
	int cpu_dev, cpu_drv;
	unsigned long kicks, irqs, dev_sleeps;
};

static const uint16_t bench_sizes[] = { RING };

static int bench_activate(struct vdev_device *dev, struct vdev_queue **queues,
			  unsigned int nr_queues)
{
	return 0;
}

static void bench_release(struct vdev_device *dev)
{
}

static const struct vdev_device_ops bench_ops = {
	.name = "bench",
	.activate = bench_activate,
	.release = bench_release,
};

static void die(const char *what, int err)
{
	fprintf(stderr, "queue_bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", errno);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void efd_wait(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		die("eventfd read", errno);
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		die("eventfd write", errno);
}

/* Copy 4 bytes out of / into a chain, as vringh_iov_pull/push. */
static uint32_t device_copy(struct vdev_chain *c, uint8_t buf[4])
{
	bool out = c->nr_read;	/* driver-to-device buffer */
	unsigned int i = out ? 0 : c->nr_read;
	unsigned int end = out ? c->nr_read : c->nr_read + c->nr_write;
	uint32_t done = 0;

	for (; i < end && done < 4; i++) {
		size_t n = c->iov[i].iov_len;

		if (n > 4 - done)
			n = 4 - done;
		if (out)
			memcpy(buf + done, c->iov[i].iov_base, n);
		else
			memcpy(c->iov[i].iov_base, buf + done, n);
		done += n;
	}
	return out ? 0 : done;
}

static void *device_thread(void *arg)
{
	struct bench *b = arg;
	struct iovec iov[8];
	struct vdev_chain chain;
	unsigned long done = 0;
	unsigned int pending = 0;
	uint8_t buf[4] = { 0 };
	int ret;

	pin(b->cpu_dev);
	vdev_chain_init(&chain, iov, 8);
	while (done < b->xfers) {
		vdev_queue_disable_notify(&b->q);
		while ((ret = vdev_queue_pop(&b->q, &chain)) == 1) {
			vdev_queue_push_chain(&b->q, &chain,
					      device_copy(&chain, buf));
			done++;
			/*
			 * Publish in bounded batches: one used->idx store
			 * and one event check per batch, yet the driver
			 * sees completions while it is still adding.
			 */
			if (++pending == b->batch) {
				vdev_queue_notify(&b->q);
				pending = 0;
			}
		}
		pending = 0;
		if (ret < 0)
			die("vdev_queue_pop", -ret);
		vdev_queue_notify(&b->q);
		if (done >= b->xfers)
			break;
		if (vdev_queue_enable_notify(&b->q))
			continue;
		efd_wait(b->kick_fd);
		b->dev_sleeps++;
	}
	vdev_queue_notify(&b->q);
	return NULL;
}

/* The chain for transfer @x: vringh_test's sg patterns, or @ndesc pieces. */
static unsigned int make_chain(struct bench *b, unsigned long x,
			       struct vq_buf *v)
{
	uint64_t gpa = b->data + 4 * (x % (RING + 1));
	static const uint8_t split[4][4] = {
		{ 1, 2, 1, 0 }, { 1, 3, 0, 0 }, { 4, 0, 0, 0 }, { 1, 1, 1, 1 },
	};
	static const uint8_t even[5][4] = {
		{ 0 }, { 4 }, { 2, 2 }, { 1, 1, 2 }, { 1, 1, 1, 1 },
	};
	const uint8_t *lens;
	unsigned int n = 0, off = 0;

	/* vringh_test: (xfers / sizeof(int)) % 4 picks 3, 2, 1, 4 pieces. */
	lens = b->ndesc ? even[b->ndesc] : split[(x / 4) % 4];
	while (n < 4 && lens[n]) {
		v[n].gpa = gpa + off;
		v[n].len = lens[n];
		off += lens[n];
		n++;
	}
	return n;
}

/*
 * virtqueue_enable_cb_delayed_packed(): with EVENT_IDX, an interrupt once
 * the used slot passes 3/4 of the descriptors out; true when the driver
 * may sleep (the device has not passed that slot yet).
 */
static bool driver_enable_cb_delayed_packed(struct vq_driver *d)
{
	uint16_t used = d->last_used + (d->size - d->num_free) * 3 / 4;
	bool wrap = d->used_wrap;

	if (!d->event_idx)
		return !vq_driver_enable_cb(d);
	if (used >= d->size) {
		used -= d->size;
		wrap = !wrap;
	}
	vq_driver_write_event(d, used | (wrap ? VQ_PACKED_WRAP : 0),
			      VRING_PACKED_EVENT_FLAG_DESC);
	return !vq_driver_is_used_packed(d, used, wrap);
}

/* virtqueue_enable_cb_delayed(): interrupt after 3/4 of what is out. */
static bool driver_enable_cb_delayed(struct vq_driver *d)
{
	uint16_t out = d->avail_idx - d->last_used;

	if (d->format == VQ_PACKED)
		return driver_enable_cb_delayed_packed(d);

	if (d->event_idx) {
		vq_driver_set_used_event(d, d->last_used + out * 3 / 4);
		return vq_driver_used_pending(d) <= out * 3 / 4;
	}
	return !vq_driver_enable_cb(d);
}

static void driver_run(struct bench *b)
{
	unsigned long x = 0, finished = 0;
	struct vq_buf v[4];

	pin(b->cpu_drv);
	while (x < b->xfers) {
		unsigned int n;
		int head;

		while (vq_driver_get_used(&b->d, NULL) >= 0)
			finished++;
		n = make_chain(b, x, v);
		if (x % 2 == 0)
			head = vq_driver_add(&b->d, v, n, NULL, 0, false);
		else
			head = vq_driver_add(&b->d, NULL, 0, v, n, false);
		if (head == -ENOSPC) {
			if (!driver_enable_cb_delayed(&b->d))
				continue;
			efd_wait(b->irq_fd);
			b->irqs++;
			vq_driver_disable_cb(&b->d);
			continue;
		}
		x++;
		if (vq_driver_kick_prepare(&b->d)) {
			efd_signal(b->kick_fd);
			b->kicks++;
		}
	}
	while (finished < x) {
		if (vq_driver_get_used(&b->d, NULL) >= 0) {
			finished++;
			continue;
		}
		if (!vq_driver_enable_cb(&b->d))
			efd_wait(b->irq_fd);
		vq_driver_disable_cb(&b->d);
	}
}

static double run_one(int cpu_dev, int cpu_drv, unsigned long xfers,
		      unsigned int batch, int ndesc, bool event_idx,
		      enum vq_format format, struct bench *out)
{
	const struct vdev_device_info info = {
		.name = "bench0",
		.type = 1,
		.features = (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_F_RING_PACKED),
		.queue_sizes = bench_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};
	struct bench *b = calloc(1, sizeof(*b));
	pthread_t dev_thread;
	double t0, t1;
	int ret;

	if (!b)
		die("calloc", ENOMEM);
	b->xfers = xfers;
	b->batch = batch;
	b->ndesc = ndesc;
	b->event_idx = event_idx;
	b->format = format;
	b->cpu_dev = cpu_dev;
	b->cpu_drv = cpu_drv;
	b->kick_fd = eventfd(0, EFD_CLOEXEC);
	b->irq_fd = eventfd(0, EFD_CLOEXEC);
	if (b->kick_fd < 0 || b->irq_fd < 0)
		die("eventfd", errno);
	ret = vq_guest_init(&b->g);
	if (!ret)
		ret = vq_guest_add(&b->g, GUEST_GPA, GUEST_SIZE, true);
	if (!ret)
		ret = vq_driver_init_format(&b->d, &b->g, format, 0, RING,
					    event_idx, 0);
	if (ret)
		die("guest memory", -ret);
	b->data = vq_guest_alloc(&b->g, 0, 4 * (RING + 1), 64);
	ret = vdev_device_init(&b->dev, &bench_ops, &info);
	if (!ret)
		ret = vdev_interrupt_eventfd_create(b->irq_fd, &b->irq);
	if (ret)
		die("device", -ret);
	vq_driver_bind(&b->d, &b->q, 0, RING);
	b->q.kick_fd = b->kick_fd;
	b->qp = &b->q;
	if (event_idx)
		vdev_device_ack_features(&b->dev,
					 1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (format == VQ_PACKED)
		vdev_device_ack_features(&b->dev, 1ULL << VIRTIO_F_RING_PACKED);
	ret = vdev_device_activate(&b->dev, b->g.mem, b->irq, &b->qp, 1);
	if (ret)
		die("activate", -ret);
	vq_driver_disable_cb(&b->d);

	t0 = now_ns();
	ret = pthread_create(&dev_thread, NULL, device_thread, b);
	if (ret)
		die("pthread_create", ret);
	driver_run(b);
	pthread_join(dev_thread, NULL);
	t1 = now_ns();

	vdev_interrupt_put(vdev_device_reset(&b->dev));
	vdev_interrupt_put(b->irq);
	vdev_device_put(&b->dev);
	vq_driver_destroy(&b->d);
	vq_guest_destroy(&b->g);
	close(b->kick_fd);
	close(b->irq_fd);
	*out = *b;
	free(b);
	return (t1 - t0) / xfers;
}

/* Wall-clock ns per transfer of "vringh_test --parallel --eventidx". */
static double run_vringh(const char *path, unsigned long xfers)
{
	char *const argv[] = { (char *)path, "--parallel", "--eventidx", NULL };
	double t0, t1;
	int status;
	pid_t pid;

	t0 = now_ns();
	if (posix_spawn(&pid, path, NULL, NULL, argv, environ))
		die("posix_spawn vringh_test", errno);
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid", errno);
	t1 = now_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "queue_bench: vringh_test failed (status %d)\n",
			status);
		return 0;
	}
	return (t1 - t0) / xfers;
}

/*
 * The device's own cost: driver and device take turns on one thread, a
 * full ring at a time, so nothing waits and the caches stay warm. Returns
 * ns per chain of pop + copy + push, flush included, on a ring of
 * @format (the packed ring with VIRTIO_F_RING_PACKED negotiated).
 */
static double device_cost(int cpu, int ndesc, enum vq_format format,
			  unsigned long rounds)
{
	const struct vdev_device_info info = {
		.name = "bench1",
		.type = 1,
		.features = 1ULL << VIRTIO_F_RING_PACKED,
		.queue_sizes = bench_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};
	struct bench *b = calloc(1, sizeof(*b));
	struct iovec iov[8];
	struct vdev_chain chain;
	uint8_t buf[4] = { 0 };
	unsigned long r, x = 0;
	double dev_ns = 0, t0;
	struct vq_buf v[4];
	int ret;

	if (!b)
		die("calloc", ENOMEM);
	pin(cpu);
	b->ndesc = ndesc;
	ret = vq_guest_init(&b->g);
	if (!ret)
		ret = vq_guest_add(&b->g, GUEST_GPA, GUEST_SIZE, true);
	if (!ret)
		ret = vq_driver_init_format(&b->d, &b->g, format, 0, RING,
					    false, 0);
	if (!ret)
		ret = vdev_device_init(&b->dev, &bench_ops, &info);
	if (ret)
		die("device", -ret);
	if (format == VQ_PACKED)
		vdev_device_ack_features(&b->dev, 1ULL << VIRTIO_F_RING_PACKED);
	b->data = vq_guest_alloc(&b->g, 0, 4 * (RING + 1), 64);
	vq_driver_bind(&b->d, &b->q, 0, RING);
	ret = vdev_queue_enable(&b->q, &b->dev, b->g.mem);
	if (ret)
		die("setup", -ret);
	vdev_chain_init(&chain, iov, 8);

	for (r = 0; r < rounds; r++) {
		unsigned int n, k = 0;

		for (;;) {
			n = make_chain(b, x, v);
			if (vq_driver_add(&b->d, x % 2 ? NULL : v, x % 2 ? 0 : n,
					  x % 2 ? v : NULL, x % 2 ? n : 0,
					  false) < 0)
				break;
			x++;
			k++;
		}
		vq_driver_publish(&b->d);
		t0 = now_ns();
		while (vdev_queue_pop(&b->q, &chain) == 1)
			vdev_queue_push_chain(&b->q, &chain,
					      device_copy(&chain, buf));
		vdev_queue_flush(&b->q);
		dev_ns += now_ns() - t0;
		while (vq_driver_get_used(&b->d, NULL) >= 0)
			;
		if (!k)
			die("ring", ENOSPC);
	}
	vdev_queue_disable(&b->q);
	vdev_device_put(&b->dev);
	vq_driver_destroy(&b->d);
	vq_guest_destroy(&b->g);
	free(b);
	return dev_ns / x;
}

static void find_cpus(int *first, int *last)
{
	cpu_set_t set;
	int i;

	*first = -1;
	*last = -1;
	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity", errno);
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (*first < 0)
			*first = i;
		*last = i;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vringh", required_argument, NULL, 'v' },
		{ "transfers", required_argument, NULL, 'n' },
		{ "vringh-transfers", required_argument, NULL, 'm' },
		{ "batch", required_argument, NULL, 'b' },
		{ "cost-only", required_argument, NULL, 'c' },
		{ "desc", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long xfers = 2000000, vxfers = VRINGH_XFERS;
	unsigned long rounds = 20000;
	unsigned int batch = 32;
	int only_desc = -1;
	bool cost_only = false;
	const char *vringh = NULL;
	static const char *const fmt_name[] = { "split", "packed" };
	double ns, mixed[2], cost[2][5], vns;
	int cpu_a, cpu_b, c, ndesc, ev, f;
	struct bench r;

	while ((c = getopt_long(argc, argv, "v:n:m:b:c:d:", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			vringh = optarg;
			break;
		case 'n':
			xfers = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			vxfers = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 0);
			break;
		case 'c':
			cost_only = true;
			rounds = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			only_desc = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n N] [-b BATCH] [--vringh PATH [-m N]]\n"
				"       %s --cost-only ROUNDS [--desc N]\n",
				argv[0], argv[0]);
			return 2;
		}
	}
	vdev_log_set_level(VDEV_LOG_ERR);
	find_cpus(&cpu_a, &cpu_b);
	printf("# queue_bench: device on CPU %d, driver on CPU %d, ring %d, ",
	       cpu_a, cpu_b, RING);
	printf("used->idx published every %u chains, %s%s\n", batch,
	       sched_getscheduler(0) == SCHED_FIFO ? "SCHED_FIFO" :
						      "SCHED_OTHER",
	       cpu_a == cpu_b ? " (one CPU only: not a fair comparison)" : "");

	if (!cost_only)
		printf("# %-6s %-9s %-9s %12s %10s %10s %10s\n", "ring",
		       "desc/chain", "event_idx", "transfers", "ns/xfer",
		       "kicks", "irqs");
	for (f = VQ_SPLIT; f <= VQ_PACKED && !cost_only; f++) {
		for (ev = 1; ev >= 0; ev--) {
			for (ndesc = 1; ndesc <= 4; ndesc++) {
				ns = run_one(cpu_a, cpu_b, xfers, batch, ndesc,
					     ev, f, &r);
				printf("  %-6s %-10d %-9s %12lu %10.1f %10lu %10lu\n",
				       fmt_name[f], ndesc, ev ? "yes" : "no",
				       xfers, ns, r.kicks, r.irqs);
				fflush(stdout);
			}
		}
	}

	printf("# device cost alone (one thread, warm caches): ns per chain\n");
	printf("# %-9s %10s %10s %13s\n", "desc/chain", "split", "packed",
	       "packed/split");
	for (ndesc = 0; ndesc <= 4; ndesc++) {
		if (only_desc >= 0 && ndesc != only_desc)
			continue;
		for (f = VQ_SPLIT; f <= VQ_PACKED; f++)
			cost[f][ndesc] = device_cost(cpu_a, ndesc, f, rounds);
		if (ndesc)
			printf("  %-10d", ndesc);
		else
			printf("  %-10s", "1-4 mix");
		printf(" %10.1f %10.1f %13.2f\n", cost[VQ_SPLIT][ndesc],
		       cost[VQ_PACKED][ndesc],
		       cost[VQ_PACKED][ndesc] / cost[VQ_SPLIT][ndesc]);
	}
	fflush(stdout);
	if (cost_only)
		return 0;

	for (f = VQ_SPLIT; f <= VQ_PACKED; f++) {
		mixed[f] = run_one(cpu_a, cpu_b, vxfers, batch, 0, true, f, &r);
		printf("  %-6s %-10s %-9s %12lu %10.1f %10lu %10lu\n",
		       fmt_name[f], "1-4 mix", "yes", vxfers, mixed[f], r.kicks,
		       r.irqs);
		fflush(stdout);
	}
	printf("# two threads, 1-4 mix: packed/split = %.2f (<= 1.0: packed at least as fast)\n",
	       mixed[VQ_PACKED] / mixed[VQ_SPLIT]);
	if (!vringh)
		return 0;

	printf("# vringh: %s --parallel --eventidx (%lu transfers, split ring)\n",
	       vringh, vxfers);
	fflush(stdout);
	vns = run_vringh(vringh, vxfers);
	if (vns <= 0)
		return 1;
	printf("# vringh %.1f ns/transfer, vdev split %.1f, vdev packed %.1f\n",
	       vns, mixed[VQ_SPLIT], mixed[VQ_PACKED]);
	for (f = VQ_SPLIT; f <= VQ_PACKED; f++)
		printf("# ratio vringh/vdev %s = %.2f (>= 1.0: vdev at least as fast; goal >= 1.0)\n",
		       fmt_name[f], vns / mixed[f]);
	return 0;
}
