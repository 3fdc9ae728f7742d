// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: virtqueue setup and guest memory contents, for both
 * ring formats.
 *
 * The input chooses the ring format (split or packed), the queue size,
 * the negotiated ring features, the three ring addresses and a short
 * program of device operations; the rest is copied into guest memory, so
 * descriptors, the avail ring or the packed descriptor ring, event areas
 * and indirect tables are all fuzzer-controlled. Guest memory is three heap buffers
 * (ASan redzones around each) and one read-only memfd page, registered as
 * regions:
 *
 *   R0 0x01000..0x05000, R1 0x05000..0x06000 (adjacent), gap,
 *   R2 0x10000..0x12000, R3 0x12000..0x13000 (adjacent, read-only)
 *
 * Every iovec vdev returns is read or written in full, so an iovec that
 * strays outside a region is an ASan report. R3 is given to vdev as a
 * PROT_READ mapping between PROT_NONE pages (the input is copied in
 * through a second, writable mapping), so any store vdev makes there, to
 * a used ring or through a writable iovec, is a SEGV; a writable iovec
 * into R3 also aborts before it is written. A malformed ring must stop
 * the queue: pop then returns -EIO forever and DEVICE_NEEDS_RESET is set.
 *
 * Input layout (little-endian):
 *   0  u16 queue size          2  u8 features (bit 0 EVENT_IDX,
 *   3  u8 iovec capacity - 1         bit 1 INDIRECT_DESC, bit 2: an
 *                                    access platform, IOVA = GPA + 64K,
 *                                    bit 3 RING_PACKED: the packed ring)
 *   4  u16 desc address / 2    6  u16 avail address / 2
 *   8  u16 used address / 2    10 u8 ops[16]
 *   26 guest memory image (R0, R1, R2, R3 in order)
 *
 * Each op byte: bits 0-1 choose pop-and-push (bits 2-7: how many), notify
 * (bit 2: first save the position, reset the queue, enable it again and
 * restore the position, as a vhost-user GET/SET_VRING_BASE does),
 * notification control, or pop, hold and rewind.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>

#include "compiler.h"

#define NR_OPS		16
#define HDR_LEN		(10 + NR_OPS)
#define MAX_IOV		256

/*
 * @buf is where the input is copied to; @hva what vdev is given (@buf,
 * or for a read-only region a PROT_READ mapping of the same memory).
 */
struct fuzz_region {
	uint64_t gpa;
	size_t size;
	uint32_t flags;
	uint8_t *buf;
	uint8_t *hva;
};

static struct fuzz_region regions[] = {
	{ 0x01000, 0x4000, 0, NULL, NULL },
	{ 0x05000, 0x1000, 0, NULL, NULL },
	{ 0x10000, 0x2000, 0, NULL, NULL },
	{ 0x12000, 0x1000, VDEV_MEM_F_READONLY, NULL, NULL },
};

static struct vdev_mem *mem;

static const uint16_t fuzz_sizes[] = { 32768 };

static int fuzz_activate(struct vdev_device *dev, struct vdev_queue **queues,
			 unsigned int nr_queues)
{
	return 0;
}

static void fuzz_release(struct vdev_device *dev)
{
}

static const struct vdev_device_ops fuzz_ops = {
	.name = "fz",
	.activate = fuzz_activate,
	.release = fuzz_release,
};

/* IOVA = GPA + AP_OFFSET; anything below AP_OFFSET is unmapped. */
#define AP_OFFSET	0x10000ULL

static int fuzz_gva(struct vdev_access_platform *ap, uint64_t gva,
		    uint64_t size, uint64_t *gpa)
{
	if (gva < AP_OFFSET)
		return -EFAULT;
	*gpa = gva - AP_OFFSET;
	return 0;
}

static int fuzz_gpa(struct vdev_access_platform *ap, uint64_t gpa,
		    uint64_t size, uint64_t *gva)
{
	*gva = gpa + AP_OFFSET;
	return 0;
}

static void fuzz_ap_release(struct vdev_access_platform *ap)
{
}

static const struct vdev_access_platform_ops fuzz_ap_ops = {
	.translate_gva = fuzz_gva,
	.translate_gpa = fuzz_gpa,
	.release = fuzz_ap_release,
};

static struct vdev_access_platform fuzz_ap;

static void quiet_log(enum vdev_log_level level, const char *msg)
{
}

/*
 * A read-only region: a memfd mapped PROT_READ between two PROT_NONE
 * pages for vdev, and read-write elsewhere for the input.
 */
static void map_readonly(struct fuzz_region *r)
{
	uint8_t *res;
	int fd;

	fd = memfd_create("fuzz-rom", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, r->size))
		abort();
	res = mmap(NULL, r->size + 8192, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		abort();
	r->hva = mmap(res + 4096, r->size, PROT_READ, MAP_SHARED | MAP_FIXED,
		      fd, 0);
	r->buf = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      0);
	if (r->hva == MAP_FAILED || r->buf == MAP_FAILED)
		abort();
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned int i;

	if (!getenv("QUEUE_FUZZ_VERBOSE"))
		vdev_log_set_handler(quiet_log);
	if (vdev_mem_create(&mem))
		abort();
	vdev_access_platform_init(&fuzz_ap, &fuzz_ap_ops);
	for (i = 0; i < ARRAY_SIZE(regions); i++) {
		struct fuzz_region *r = &regions[i];

		if (r->flags & VDEV_MEM_F_READONLY) {
			map_readonly(r);
		} else {
			r->buf = aligned_alloc(4096, r->size);
			r->hva = r->buf;
		}
		if (!r->buf ||
		    vdev_mem_add_region_flags(mem, r->gpa, r->size, r->hva,
					      r->flags))
			abort();
	}
	return 0;
}

/* Does [@p, @p + @len) touch a read-only region? */
static bool in_readonly(const void *p, size_t len)
{
	const uint8_t *b = p;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(regions); i++)
		if ((regions[i].flags & VDEV_MEM_F_READONLY) &&
		    b < regions[i].hva + regions[i].size &&
		    regions[i].hva < b + len)
			return true;
	return false;
}

static uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

/*
 * Use every byte of a chain the way a device would: the sum of what was
 * read is what gets written, so no access can be optimised away.
 */
static uint32_t touch_chain(const struct vdev_chain *c)
{
	uint8_t sum = 0;
	unsigned int i;
	size_t j;

	for (i = 0; i < c->nr_read; i++)
		for (j = 0; j < c->iov[i].iov_len; j++)
			sum += ((const uint8_t *)c->iov[i].iov_base)[j];
	for (; i < c->nr_read + c->nr_write; i++) {
		/* vdev must never hand out read-only memory to write. */
		if (in_readonly(c->iov[i].iov_base, c->iov[i].iov_len))
			abort();
		memset(c->iov[i].iov_base, sum, c->iov[i].iov_len);
	}
	return c->write_len;
}

/*
 * Save the position, reset the queue, program and enable it again, and
 * restore the position: the next pop must go on where the last one
 * stopped. A broken queue stays broken (enable would clear that, so it
 * is not re-enabled).
 */
static void stop_resume(struct vdev_queue *q, struct vdev_device *dev,
			struct vdev_mem *mem)
{
	struct vdev_queue_state st;
	struct vdev_queue saved = *q;

	if (vdev_queue_is_broken(q))
		return;
	if (vdev_queue_get_state(q, &st))
		abort();
	vdev_queue_reset(q);
	q->size = saved.size;
	q->desc_addr = saved.desc_addr;
	q->driver_addr = saved.driver_addr;
	q->device_addr = saved.device_addr;
	q->ready = true;
	/* Same settings as before: they were valid then. */
	if (vdev_queue_enable(q, dev, mem) || vdev_queue_set_state(q, &st))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vdev_device_info info = {
		.name = "fz0",
		.type = 1,
		.features = (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			    (1ULL << VIRTIO_F_RING_PACKED),
		.queue_sizes = fuzz_sizes,
		.nr_queues = 1,
		.min_queues = 1,
	};
	static struct iovec iov[MAX_IOV];
	struct vdev_device dev;
	struct vdev_chain chain;
	struct vdev_queue q;
	const uint8_t *img;
	unsigned int i, k;
	size_t left;
	uint64_t features = 0;

	if (size < HDR_LEN)
		return -1;

	img = data + HDR_LEN;
	left = size - HDR_LEN;
	for (i = 0; i < ARRAY_SIZE(regions); i++) {
		size_t n = left < regions[i].size ? left : regions[i].size;

		memcpy(regions[i].buf, img, n);
		memset(regions[i].buf + n, 0, regions[i].size - n);
		img += n;
		left -= n;
	}

	if (vdev_device_init(&dev, &fuzz_ops, &info))
		abort();
	if ((data[2] & 4) && vdev_device_set_access_platform(&dev, &fuzz_ap))
		abort();
	if (data[2] & 1)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (data[2] & 2)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (data[2] & 8)
		features |= 1ULL << VIRTIO_F_RING_PACKED;
	vdev_device_ack_features(&dev, features);

	vdev_queue_init(&q, 0, fuzz_sizes[0]);
	q.size = get16(data);
	q.desc_addr = 2ULL * get16(data + 4);
	q.driver_addr = 2ULL * get16(data + 6);
	q.device_addr = 2ULL * get16(data + 8);
	q.ready = true;
	vdev_chain_init(&chain, iov, 1 + data[3]);

	if (vdev_queue_enable(&q, &dev, mem)) {
		if (!vdev_device_needs_reset(&dev))
			abort();
		goto out;
	}

	for (k = 0; k < NR_OPS; k++) {
		uint8_t op = data[10 + k];
		int ret;

		switch (op & 3) {
		case 0:
			for (i = 0; i <= op >> 2; i++) {
				ret = vdev_queue_pop(&q, &chain);
				if (ret < 0) {
					if (!vdev_queue_is_broken(&q) ||
					    !vdev_device_needs_reset(&dev) ||
					    vdev_queue_pop(&q, &chain) != -EIO)
						abort();
					break;
				}
				if (ret == 0)
					break;
				vdev_queue_push_chain(&q, &chain,
						      touch_chain(&chain));
			}
			break;
		case 1:
			if (op & 4)
				stop_resume(&q, &dev, mem);
			vdev_queue_notify(&q);
			break;
		case 2:
			if (op & 4)
				vdev_queue_disable_notify(&q);
			else
				vdev_queue_enable_notify(&q);
			vdev_queue_has_avail(&q);
			break;
		case 3:
			/* Take one chain, hold it, and give it back. */
			ret = vdev_queue_pop(&q, &chain);
			if (ret == 1) {
				touch_chain(&chain);
				if (vdev_queue_rewind(&q, &chain))
					abort();
			}
			break;
		}
	}
	vdev_queue_notify(&q);
	vdev_queue_disable(&q);
out:
	vdev_device_put(&dev);
	return 0;
}
