// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM-style consumer of the installed vdev: it is compiled by
 * install_test.sh, outside the source tree, with nothing but
 * `pkg-config --cflags --libs vdev` (the installed headers and library)
 * and the system's Linux uapi headers. It uses only the public API:
 *
 *   - a device type of its own ("echo"), embedding struct vdev_device and
 *     reaching its structure with container_of(), whose activate op starts
 *     one worker that returns every chain used;
 *   - the virtio-mmio transport, driven as a guest driver would: feature
 *     negotiation, one split queue laid out in a static "guest RAM",
 *     DRIVER_OK, one buffer, QueueNotify, the used entry and the
 *     interrupt, then a device reset.
 *
 * Built with -DVDEV_CONSUMER_PROBE_PRIVATE it reaches into the device's
 * private state instead, which must not compile against the installed
 * headers. Exit status 0 when every step worked, else the failing step.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include <vdev/vdev.h>

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define QSZ		8
#define RAM_GPA		0x100000ULL
#define DESC_OFF	0x0000
#define AVAIL_OFF	0x1000
#define USED_OFF	0x2000
#define BUF_OFF		0x3000
#define BUF_LEN		64

struct echo {
	struct vdev_device dev;
	struct vdev_chain chain;
	struct iovec iov[4];
	unsigned int echoed;
};

static struct echo *to_echo(struct vdev_device *dev)
{
	return container_of(dev, struct echo, dev);
}

static int echo_kick(struct vdev_worker *w, uint32_t events, void *data)
{
	struct vdev_queue *vq = data;
	struct echo *e = to_echo(vdev_worker_device(w));
	uint64_t v;
	int ret;

	if (read(vq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	while ((ret = vdev_queue_pop(vq, &e->chain)) > 0) {
		vdev_queue_push_chain(vq, &e->chain, e->chain.write_len);
		e->echoed++;
	}
	vdev_queue_notify(vq);
	return ret;
}

static int echo_activate(struct vdev_device *dev, struct vdev_queue **queues,
			 unsigned int nr)
{
	struct echo *e = to_echo(dev);
	struct vdev_worker *w;
	int ret;

	vdev_chain_init(&e->chain, e->iov, 4);
	ret = vdev_worker_create(dev, "q0", 0, &w);
	if (ret)
		return ret;
	ret = vdev_worker_add_fd(w, queues[0]->kick_fd, EPOLLIN, echo_kick,
				 queues[0]);
	if (ret) {
		vdev_worker_destroy(w);
		return ret;
	}
	return vdev_worker_start(w);
}

static unsigned int released;

static void echo_release(struct vdev_device *dev)
{
	released++;
}

static const struct vdev_device_ops echo_ops = {
	.name = "echo",
	.activate = echo_activate,
	.release = echo_release,
};

static const uint16_t echo_sizes[1] = { QSZ };

/* Guest RAM: the ring and one buffer, at RAM_GPA. */
static _Alignas(4096) uint8_t ram[0x4000];

static uint32_t rd(struct vdev_mmio *m, uint64_t off)
{
	uint32_t v = 0;

	vdev_mmio_read(m, off, &v, 4);
	return v;
}

static void wr(struct vdev_mmio *m, uint64_t off, uint32_t v)
{
	vdev_mmio_write(m, off, &v, 4);
}

static void wr64(struct vdev_mmio *m, uint64_t lo, uint64_t v)
{
	wr(m, lo, (uint32_t)v);
	wr(m, lo + 4, (uint32_t)(v >> 32));
}

static int fail(const char *step)
{
	fprintf(stderr, "consumer: %s failed\n", step);
	return 1;
}

int main(void)
{
	struct vdev_device_info info = {
		.name = "echo0",
		.type = VIRTIO_ID_RNG,
		.features = 1ULL << VIRTIO_F_VERSION_1,
		.queue_sizes = echo_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};
	struct vring_desc *desc = (void *)(ram + DESC_OFF);
	struct vring_avail *avail = (void *)(ram + AVAIL_OFF);
	struct vring_used *used = (void *)(ram + USED_OFF);
	struct pollfd pfd;
	struct vdev_mmio *m;
	struct vdev_mem *mem;
	static struct echo e;
	uint32_t s;
	int irq_fd;

	if (vdev_mem_create(&mem) ||
	    vdev_mem_add_region(mem, RAM_GPA, sizeof(ram), ram))
		return fail("guest memory");
	if (vdev_device_init(&e.dev, &echo_ops, &info))
		return fail("vdev_device_init");
#ifdef VDEV_CONSUMER_PROBE_PRIVATE
	/* Private state: must not compile against the installed headers. */
	if (e.dev.p->activated)
		return fail("private state");
#endif
	irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (irq_fd < 0 || vdev_mmio_create(&e.dev, mem, irq_fd, &m))
		return fail("vdev_mmio_create");
	/* The transport holds its own references from here on. */
	vdev_device_put(&e.dev);
	vdev_mem_put(mem);

	if (rd(m, VIRTIO_MMIO_MAGIC_VALUE) != VDEV_MMIO_MAGIC ||
	    rd(m, VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_RNG)
		return fail("identification");
	s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	wr(m, VIRTIO_MMIO_STATUS, s);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	wr(m, VIRTIO_MMIO_STATUS, s);
	if (rd(m, VIRTIO_MMIO_STATUS) != s)
		return fail("FEATURES_OK");

	wr(m, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(m, VIRTIO_MMIO_QUEUE_NUM, QSZ);
	wr64(m, VIRTIO_MMIO_QUEUE_DESC_LOW, RAM_GPA + DESC_OFF);
	wr64(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, RAM_GPA + AVAIL_OFF);
	wr64(m, VIRTIO_MMIO_QUEUE_USED_LOW, RAM_GPA + USED_OFF);
	wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
	s |= VIRTIO_CONFIG_S_DRIVER_OK;
	wr(m, VIRTIO_MMIO_STATUS, s);
	if (rd(m, VIRTIO_MMIO_STATUS) != s || !vdev_device_is_active(&e.dev))
		return fail("DRIVER_OK");

	/* One device-writable buffer, made available, then QueueNotify. */
	desc[0].addr = RAM_GPA + BUF_OFF;
	desc[0].len = BUF_LEN;
	desc[0].flags = VRING_DESC_F_WRITE;
	avail->ring[0] = 0;
	__atomic_store_n(&avail->idx, 1, __ATOMIC_RELEASE);
	wr(m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);

	pfd.fd = irq_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1)
		return fail("no interrupt within 5 s");
	if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != 1 ||
	    used->ring[0].id != 0 || used->ring[0].len != BUF_LEN ||
	    !(rd(m, VIRTIO_MMIO_INTERRUPT_STATUS) & 1))
		return fail("used entry");
	if (vdev_device_needs_reset(&e.dev))
		return fail("DEVICE_NEEDS_RESET");

	wr(m, VIRTIO_MMIO_STATUS, 0);
	if (vdev_device_is_active(&e.dev) || e.echoed != 1)
		return fail("reset");
	vdev_mmio_destroy(m);
	close(irq_fd);
	if (released != 1)
		return fail("release");
	puts("consumer ok: echo device over virtio-mmio, 1 chain used");
	return 0;
}
