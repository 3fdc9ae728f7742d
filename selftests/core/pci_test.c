// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-pci transport, driven through vdev_pci_config_*() and
 * vdev_pci_bar_*() exactly as a guest would (no KVM). The driver side
 * walks the header and the capability list as Linux's
 * drivers/virtio/virtio_pci_modern_dev.c does, sizes and places the BAR,
 * enables decode and MSI-X, negotiates, sets up the queues and moves data
 * through the echo device of selftests/core/tdev.h. Then each hostile
 * case on its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include <vdev/vdev.h>
#include <vdev/pci.h>

#include "vq_driver.h"	/* before the harness: its ARRAY_SIZE is conditional */
#include "kselftest_harness.h"
#include "vdev_test.h"
#include "tdev.h"

#define NQ		2
#define NV		(NQ + 1)
#define QSZ		16
#define QMAX		64
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	0x100000ULL
#define BAR_GPA		0x1fe000000ULL	/* above 4 GiB: both halves */
#define F(bit)		(1ULL << (bit))
#define MDEV_FEATURES	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX) | \
			 F(VIRTIO_F_RING_RESET) | F(VIRTIO_F_RING_PACKED))
/* VERSION_1 and the ring format of the fixture's variant. */
#define V1(self)	(F(VIRTIO_F_VERSION_1) | (self)->ring_f)
#define S_ACK		VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV		VIRTIO_CONFIG_S_DRIVER
#define S_FOK		VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK		VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR		VIRTIO_CONFIG_S_NEEDS_RESET
#define S_RUN		(S_ACK | S_DRV | S_FOK | S_DOK)
#define NOVEC		VIRTIO_MSI_NO_VECTOR

#define C(f)		VIRTIO_PCI_COMMON_##f

/* Not in every uapi <linux/virtio_config.h> yet (VIRTIO 1.2, 6). */
#ifndef VIRTIO_F_NOTIFICATION_DATA
#define VIRTIO_F_NOTIFICATION_DATA	38
#endif
#ifndef VIRTIO_F_NOTIF_CONFIG_DATA
#define VIRTIO_F_NOTIF_CONFIG_DATA	39
#endif

_Static_assert(NQ == TDEV_NQ, "tdev.h's queue count");

static const uint16_t mdev_sizes[NQ] = { QMAX, QMAX };

static const struct vdev_device_ops mdev_ops = {
	.name = "pdev",
	.read_config = tdev_read_config,
	.write_config = tdev_write_config,
	.activate = tdev_activate,
	.reset = tdev_reset,
	.release = tdev_release,
};

/* The same device, able to reset one queue on its own. */
static const struct vdev_device_ops mdev_qr_ops = {
	.name = "pdev",
	.read_config = tdev_read_config,
	.write_config = tdev_write_config,
	.activate = tdev_activate,
	.reset = tdev_reset,
	.queue_reset = tdev_queue_reset,
	.queue_enable = tdev_queue_enable,
	.release = tdev_release,
};

static int mdev_init_ops(struct tdev *d, const struct vdev_device_ops *ops,
			 uint32_t type)
{
	struct vdev_device_info info = {
		.name = "pdev",
		.type = type,
		.features = MDEV_FEATURES,
		.queue_sizes = mdev_sizes,
		.nr_queues = NQ,
		.min_queues = 1,
	};

	return tdev_init(d, ops, &info, "0123456789abcdef", 16, QMAX);
}

static int mdev_init(struct tdev *d, uint32_t type)
{
	return mdev_init_ops(d, &mdev_ops, type);
}

/* ---- what the VMM is told (struct vdev_pci_ops) ---- */

struct vmm {
	unsigned int bar_moves;
	uint64_t bar_old, bar_new;
	unsigned int msix_changes;
	bool msix_on;
	unsigned int vector_changes;
	unsigned int vector;
	uint64_t msg_addr;
	uint32_t msg_data;
};

static void vmm_bar_moved(struct vdev_pci *pci, void *opaque, unsigned int bar,
			  uint64_t old_addr, uint64_t new_addr)
{
	struct vmm *v = opaque;

	v->bar_moves++;
	v->bar_old = old_addr;
	v->bar_new = new_addr;
}

static void vmm_msix_changed(struct vdev_pci *pci, void *opaque, bool enabled)
{
	struct vmm *v = opaque;

	v->msix_changes++;
	v->msix_on = enabled;
}

static void vmm_vector_changed(struct vdev_pci *pci, void *opaque,
			       unsigned int vector, uint64_t addr,
			       uint32_t data)
{
	struct vmm *v = opaque;

	v->vector_changes++;
	v->vector = vector;
	v->msg_addr = addr;
	v->msg_data = data;
}

static const struct vdev_pci_ops vmm_ops = {
	.bar_moved = vmm_bar_moved,
	.msix_changed = vmm_msix_changed,
	.vector_changed = vmm_vector_changed,
};

/* ---- the driver side: configuration space ---- */

static uint32_t cfg_rd(struct vdev_pci *p, uint32_t off, unsigned int len)
{
	uint32_t v = 0;

	vdev_pci_config_read(p, off, &v, len);
	return v;
}

static void cfg_wr(struct vdev_pci *p, uint32_t off, uint32_t v,
		   unsigned int len)
{
	vdev_pci_config_write(p, off, &v, len);
}

/*
 * struct pdrv - what the driver found, as virtio_pci_modern_dev.c keeps
 * it in struct virtio_pci_modern_device
 */
struct pdrv {
	struct vdev_pci *pci;
	uint64_t bar_size;
	uint32_t common, isr, device, notify, notify_len, mult;
	uint32_t common_len, device_len;
	uint8_t cfg_cap, msix_cap;
	uint16_t msix_size;
	uint32_t table, pba;
};

/* virtio_pci_find_capability(): the first vendor cap of @type. */
static uint8_t find_vcap(struct vdev_pci *p, uint8_t type)
{
	uint8_t pos = cfg_rd(p, PCI_CAPABILITY_LIST, 1) & ~3;
	int ttl = 48;	/* PCI_FIND_CAP_TTL: a looping list ends */

	while (pos >= 0x40 && ttl--) {
		if (cfg_rd(p, pos + PCI_CAP_LIST_ID, 1) == PCI_CAP_ID_VNDR &&
		    cfg_rd(p, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1) == type &&
		    cfg_rd(p, pos + VIRTIO_PCI_CAP_BAR, 1) < PCI_STD_NUM_BARS)
			return pos;
		pos = cfg_rd(p, pos + PCI_CAP_LIST_NEXT, 1) & ~3;
	}
	return 0;
}

static uint8_t find_cap(struct vdev_pci *p, uint8_t id)
{
	uint8_t pos = cfg_rd(p, PCI_CAPABILITY_LIST, 1) & ~3;
	int ttl = 48;

	while (pos >= 0x40 && ttl--) {
		if (cfg_rd(p, pos + PCI_CAP_LIST_ID, 1) == id)
			return pos;
		pos = cfg_rd(p, pos + PCI_CAP_LIST_NEXT, 1) & ~3;
	}
	return 0;
}

/* __pci_read_base(): decode off, all ones to both halves, mask back. */
static uint64_t size_bar(struct vdev_pci *p, unsigned int bar)
{
	uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t lo0 = cfg_rd(p, reg, 4), hi0 = 0, lo, hi = 0;
	uint16_t cmd = cfg_rd(p, PCI_COMMAND, 2);
	bool is64 = (lo0 & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
		    PCI_BASE_ADDRESS_MEM_TYPE_64;
	uint64_t mask;

	cfg_wr(p, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2);
	cfg_wr(p, reg, 0xffffffff, 4);
	lo = cfg_rd(p, reg, 4);
	cfg_wr(p, reg, lo0, 4);
	if (is64) {
		hi0 = cfg_rd(p, reg + 4, 4);
		cfg_wr(p, reg + 4, 0xffffffff, 4);
		hi = cfg_rd(p, reg + 4, 4);
		cfg_wr(p, reg + 4, hi0, 4);
	}
	cfg_wr(p, PCI_COMMAND, cmd, 2);
	mask = (uint64_t)hi << 32 | (lo & PCI_BASE_ADDRESS_MEM_MASK);
	if (!mask)
		return 0;	/* not implemented */
	if (!is64)
		mask |= 0xffffffff00000000ULL;
	return ~mask + 1;
}

/* Place the BAR at @gpa and turn memory decode on. */
static void map_bar(struct vdev_pci *p, uint64_t gpa)
{
	cfg_wr(p, PCI_BASE_ADDRESS_0, (uint32_t)gpa, 4);
	cfg_wr(p, PCI_BASE_ADDRESS_1, gpa >> 32, 4);
	cfg_wr(p, PCI_COMMAND, cfg_rd(p, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY |
	       PCI_COMMAND_MASTER, 2);
}

/* vp_modern_probe(): ids, capabilities, BAR. 0 or the step that failed. */
static int pdrv_probe(struct pdrv *d, struct vdev_pci *p)
{
	uint8_t common, isr, device, notify;

	memset(d, 0, sizeof(*d));
	d->pci = p;
	if (cfg_rd(p, PCI_VENDOR_ID, 2) != 0x1af4)
		return 1;
	if (cfg_rd(p, PCI_DEVICE_ID, 2) < 0x1040 ||
	    cfg_rd(p, PCI_DEVICE_ID, 2) > 0x107f)
		return 2;
	if (!(cfg_rd(p, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 3;
	common = find_vcap(p, VIRTIO_PCI_CAP_COMMON_CFG);
	isr = find_vcap(p, VIRTIO_PCI_CAP_ISR_CFG);
	device = find_vcap(p, VIRTIO_PCI_CAP_DEVICE_CFG);
	notify = find_vcap(p, VIRTIO_PCI_CAP_NOTIFY_CFG);
	d->cfg_cap = find_vcap(p, VIRTIO_PCI_CAP_PCI_CFG);
	d->msix_cap = find_cap(p, PCI_CAP_ID_MSIX);
	if (!common || !isr || !device || !notify || !d->cfg_cap ||
	    !d->msix_cap)
		return 4;
	/* Every structure in the one BAR. */
	if (cfg_rd(p, common + VIRTIO_PCI_CAP_BAR, 1) ||
	    cfg_rd(p, notify + VIRTIO_PCI_CAP_BAR, 1) ||
	    cfg_rd(p, isr + VIRTIO_PCI_CAP_BAR, 1) ||
	    cfg_rd(p, device + VIRTIO_PCI_CAP_BAR, 1))
		return 5;
	d->common = cfg_rd(p, common + VIRTIO_PCI_CAP_OFFSET, 4);
	d->common_len = cfg_rd(p, common + VIRTIO_PCI_CAP_LENGTH, 4);
	d->isr = cfg_rd(p, isr + VIRTIO_PCI_CAP_OFFSET, 4);
	d->device = cfg_rd(p, device + VIRTIO_PCI_CAP_OFFSET, 4);
	d->device_len = cfg_rd(p, device + VIRTIO_PCI_CAP_LENGTH, 4);
	d->notify = cfg_rd(p, notify + VIRTIO_PCI_CAP_OFFSET, 4);
	d->notify_len = cfg_rd(p, notify + VIRTIO_PCI_CAP_LENGTH, 4);
	d->mult = cfg_rd(p, notify + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
	if (d->common_len < sizeof(struct virtio_pci_common_cfg))
		return 6;
	d->msix_size = (cfg_rd(p, d->msix_cap + PCI_MSIX_FLAGS, 2) &
			PCI_MSIX_FLAGS_QSIZE) + 1;
	d->table = cfg_rd(p, d->msix_cap + PCI_MSIX_TABLE, 4);
	d->pba = cfg_rd(p, d->msix_cap + PCI_MSIX_PBA, 4);
	if ((d->table & PCI_MSIX_TABLE_BIR) || (d->pba & PCI_MSIX_PBA_BIR))
		return 7;
	d->table &= PCI_MSIX_TABLE_OFFSET;
	d->pba &= PCI_MSIX_PBA_OFFSET;
	d->bar_size = size_bar(p, 0);
	if (d->common + d->common_len > d->bar_size ||
	    d->notify + d->notify_len > d->bar_size)
		return 8;
	map_bar(p, BAR_GPA);
	return 0;
}

/* ---- the driver side: the BAR ---- */

static uint64_t bar_rd(struct pdrv *d, uint64_t off, unsigned int len)
{
	uint64_t v = 0;

	vdev_pci_bar_read(d->pci, 0, off, &v, len);
	return v;
}

static void bar_wr(struct pdrv *d, uint64_t off, uint64_t v, unsigned int len)
{
	vdev_pci_bar_write(d->pci, 0, off, &v, len);
}

#define crd(d, f)	bar_rd(d, (d)->common + C(f), cw_##f)
#define cwr(d, f, v)	bar_wr(d, (d)->common + C(f), v, cw_##f)
enum {
	cw_DFSELECT = 4, cw_DF = 4, cw_GFSELECT = 4, cw_GF = 4, cw_MSIX = 2,
	cw_NUMQ = 2, cw_STATUS = 1, cw_CFGGENERATION = 1, cw_Q_SELECT = 2,
	cw_Q_SIZE = 2, cw_Q_MSIX = 2, cw_Q_ENABLE = 2, cw_Q_NOFF = 2,
	cw_Q_DESCLO = 4, cw_Q_DESCHI = 4, cw_Q_AVAILLO = 4, cw_Q_AVAILHI = 4,
	cw_Q_USEDLO = 4, cw_Q_USEDHI = 4, cw_Q_NDATA = 2, cw_Q_RESET = 2,
};

static uint64_t dev_features(struct pdrv *d)
{
	uint64_t f;

	cwr(d, DFSELECT, 1);
	f = crd(d, DF) << 32;
	cwr(d, DFSELECT, 0);
	return f | crd(d, DF);
}

static void drv_features(struct pdrv *d, uint64_t f)
{
	cwr(d, GFSELECT, 0);
	cwr(d, GF, (uint32_t)f);
	cwr(d, GFSELECT, 1);
	cwr(d, GF, f >> 32);
}

static uint8_t negotiate(struct pdrv *d, uint64_t f)
{
	cwr(d, STATUS, 0);
	cwr(d, STATUS, S_ACK);
	cwr(d, STATUS, S_ACK | S_DRV);
	drv_features(d, f);
	cwr(d, STATUS, S_ACK | S_DRV | S_FOK);
	return crd(d, STATUS);
}

static void program_queue(struct pdrv *d, unsigned int i,
			  struct vq_driver *q, uint16_t vector)
{
	cwr(d, Q_SELECT, i);
	cwr(d, Q_SIZE, q->size);
	cwr(d, Q_MSIX, vector);
	cwr(d, Q_DESCLO, (uint32_t)q->desc_gpa);
	cwr(d, Q_DESCHI, q->desc_gpa >> 32);
	cwr(d, Q_AVAILLO, (uint32_t)q->avail_gpa);
	cwr(d, Q_AVAILHI, q->avail_gpa >> 32);
	cwr(d, Q_USEDLO, (uint32_t)q->used_gpa);
	cwr(d, Q_USEDHI, q->used_gpa >> 32);
	cwr(d, Q_ENABLE, 1);
}

/* The notify address of queue @i, as vp_modern_map_vq_notify() finds it. */
static uint64_t notify_addr(struct pdrv *d, unsigned int i)
{
	uint16_t off;

	cwr(d, Q_SELECT, i);
	off = crd(d, Q_NOFF);
	return d->notify + (uint64_t)off * d->mult;
}

/* vp_pci_msix: enable with the function masked, program, unmask. */
static void msix_setup(struct pdrv *d, bool unmask_vectors)
{
	unsigned int v;

	cfg_wr(d->pci, d->msix_cap + PCI_MSIX_FLAGS,
	       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	for (v = 0; v < d->msix_size; v++) {
		uint64_t e = d->table + v * PCI_MSIX_ENTRY_SIZE;

		bar_wr(d, e + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000, 4);
		bar_wr(d, e + PCI_MSIX_ENTRY_UPPER_ADDR, 0, 4);
		bar_wr(d, e + PCI_MSIX_ENTRY_DATA, 0x40 + v, 4);
		if (unmask_vectors)
			bar_wr(d, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 0, 4);
	}
	cfg_wr(d->pci, d->msix_cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
}

static void vector_mask(struct pdrv *d, unsigned int v, bool mask)
{
	bar_wr(d, d->table + v * PCI_MSIX_ENTRY_SIZE +
	       PCI_MSIX_ENTRY_VECTOR_CTRL, mask, 4);
}

static uint64_t fd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static uint64_t wait_fd(int fd)
{
	uint64_t n;
	int i;

	for (i = 0; i < 50000; i++) {
		n = fd_count(fd);
		if (n)
			return n;
		usleep(100);
	}
	return 0;
}

FIXTURE(pci)
{
	struct tdev d;
	struct vq_guest g;
	struct vq_driver q[NQ];
	uint64_t ring_f;
	uint64_t buf;
	struct vdev_pci *p;
	struct pdrv drv;
	struct vmm vmm;
	int fds0, tasks0;
};

/*
 * Every test runs on each ring format: the driver lays its rings out in
 * @format, and the probes that move data ack VIRTIO_F_RING_PACKED for
 * the packed one (V1()). Tests of feature negotiation and of refused
 * settings negotiate their own features.
 */
FIXTURE_VARIANT(pci)
{
	enum vq_format format;
};

FIXTURE_VARIANT_ADD(pci, split)
{
	.format = VQ_SPLIT,
};

FIXTURE_VARIANT_ADD(pci, packed)
{
	.format = VQ_PACKED,
};

FIXTURE_SETUP(pci)
{
	unsigned int i;

	vdev_test_warm_up();
	ASSERT_EQ(0, vq_guest_init(&self->g));
	ASSERT_EQ(0, vq_guest_add(&self->g, RAM_GPA, RAM_SIZE, false));
	for (i = 0; i < NQ; i++)
		ASSERT_EQ(0, vq_driver_init_format(&self->q[i], &self->g,
						   variant->format, 0, QSZ,
						   false, 0));
	self->ring_f = variant->format == VQ_PACKED ?
		       F(VIRTIO_F_RING_PACKED) : 0;
	self->buf = vq_guest_alloc(&self->g, 0, 4096, 64);
	ASSERT_NE(0, self->buf);
	ASSERT_EQ(0, mdev_init(&self->d, VIRTIO_ID_RNG));
	memset(&self->vmm, 0, sizeof(self->vmm));
	ASSERT_EQ(0, vdev_pci_create(&self->d.dev, self->g.mem, &vmm_ops,
				     &self->vmm, &self->p));
	ASSERT_EQ(0, pdrv_probe(&self->drv, self->p));
	vdev_test_baseline(&self->fds0, &self->tasks0);
}

FIXTURE_TEARDOWN(pci)
{
	unsigned int i;

	vdev_pci_destroy(self->p);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(0, self->d.released);
	vdev_device_put(&self->d.dev);
	EXPECT_EQ(1, self->d.released);
	for (i = 0; i < NQ; i++)
		vq_driver_destroy(&self->q[i]);
	vq_guest_destroy(&self->g);
}

/* Full probe of @nq queues, queue i on vector i + 1; the status read. */
static uint8_t probe(FIXTURE_DATA(pci) *self, unsigned int nq)
{
	unsigned int i;
	uint8_t s;

	s = negotiate(&self->drv, V1(self));
	if (!(s & S_FOK))
		return s;
	cwr(&self->drv, MSIX, 0);
	for (i = 0; i < nq; i++) {
		vq_driver_rewind(&self->q[i]);
		program_queue(&self->drv, i, &self->q[i], i + 1);
	}
	cwr(&self->drv, STATUS, S_RUN);
	return crd(&self->drv, STATUS);
}

/* One writable buffer on queue @qi, kicked at its notify address. */
static void send(FIXTURE_DATA(pci) *self, unsigned int qi)
{
	struct vq_buf in = { .gpa = self->buf, .len = 128 };

	vq_driver_add(&self->q[qi], NULL, 0, &in, 1, false);
	vq_driver_kick_prepare(&self->q[qi]);
	/* vp_notify(): a 16-bit write of the queue index. */
	bar_wr(&self->drv, notify_addr(&self->drv, qi), qi, 2);
}

static int wait_used(FIXTURE_DATA(pci) *self, unsigned int qi)
{
	uint32_t len;
	int i;

	for (i = 0; i < 50000; i++) {
		if (vq_driver_get_used(&self->q[qi], &len) >= 0)
			return len;
		usleep(100);
	}
	return -1;
}

#define VFD(self, v)	vdev_pci_vector_fd((self)->p, v)

/* ---- the header and the capabilities ---- */

TEST_F(pci, header_and_caps)
{
	struct pdrv *d = &self->drv;
	uint8_t notify = find_vcap(self->p, VIRTIO_PCI_CAP_NOTIFY_CFG);

	EXPECT_EQ(0x1af4, cfg_rd(self->p, PCI_VENDOR_ID, 2));
	EXPECT_EQ(0x1040 + VIRTIO_ID_RNG, cfg_rd(self->p, PCI_DEVICE_ID, 2));
	EXPECT_EQ(1, cfg_rd(self->p, PCI_REVISION_ID, 1));
	EXPECT_EQ(0xff0000, cfg_rd(self->p, PCI_CLASS_REVISION, 4) >> 8);
	EXPECT_EQ(PCI_HEADER_TYPE_NORMAL, cfg_rd(self->p, PCI_HEADER_TYPE, 1));
	EXPECT_EQ(0x1af4, cfg_rd(self->p, PCI_SUBSYSTEM_VENDOR_ID, 2));
	EXPECT_LE(0x40, cfg_rd(self->p, PCI_SUBSYSTEM_ID, 2));
	EXPECT_EQ(1, cfg_rd(self->p, PCI_INTERRUPT_PIN, 1));
	/* Unimplemented registers inside the header read 0. */
	EXPECT_EQ(0, cfg_rd(self->p, PCI_ROM_ADDRESS, 4));
	EXPECT_EQ(0, cfg_rd(self->p, 0xfc, 4));
	/* Read-only: the ids do not change. */
	cfg_wr(self->p, PCI_VENDOR_ID, 0x1234, 2);
	EXPECT_EQ(0x1af4, cfg_rd(self->p, PCI_VENDOR_ID, 2));

	EXPECT_EQ(VIRTIO_PCI_CAP_COMMON_CFG,
		  cfg_rd(self->p, find_vcap(self->p, VIRTIO_PCI_CAP_COMMON_CFG) +
				  VIRTIO_PCI_CAP_CFG_TYPE, 1));
	EXPECT_EQ(sizeof(struct virtio_pci_notify_cap),
		  cfg_rd(self->p, notify + VIRTIO_PCI_CAP_LEN, 1));
	EXPECT_EQ(sizeof(struct virtio_pci_cfg_cap),
		  cfg_rd(self->p, d->cfg_cap + VIRTIO_PCI_CAP_LEN, 1));
	EXPECT_EQ(4, d->mult);
	EXPECT_EQ(NQ * d->mult, d->notify_len);
	/* Up to queue_reset, the last field of VIRTIO 1.2 (4.1.4.3). */
	EXPECT_EQ(VIRTIO_PCI_COMMON_Q_RESET + 2, d->common_len);
	EXPECT_EQ(NV, d->msix_size);
	EXPECT_EQ(NV, vdev_pci_nr_vectors(self->p));
	EXPECT_EQ(NQ, vdev_pci_nr_queues(self->p));
	EXPECT_EQ(NQ, crd(d, NUMQ));
	/* MSI-X off and function unmasked at power-on. */
	EXPECT_EQ(NV - 1, cfg_rd(self->p, d->msix_cap + PCI_MSIX_FLAGS, 2));
	/* No structure overlaps another. */
	EXPECT_LE(d->common + d->common_len, d->isr);
	EXPECT_LE(d->isr + 1, d->device);
	EXPECT_LE(d->device + d->device_len, d->notify);
	EXPECT_LE(d->notify + d->notify_len, d->table);
	EXPECT_LE(d->table + NV * 16, d->pba);
	EXPECT_LT(d->pba, d->bar_size);

	/* The notify addresses the VMM registers ioeventfds on. */
	EXPECT_EQ(notify_addr(d, 1), vdev_pci_notify_offset(self->p, 1));
	EXPECT_EQ(-EINVAL, vdev_pci_notify_offset(self->p, NQ));
	EXPECT_EQ(-EINVAL, vdev_pci_queue_notify_fd(self->p, NQ));
	EXPECT_EQ(-EINVAL, vdev_pci_vector_fd(self->p, NV));
	EXPECT_LE(0, VFD(self, NV - 1));
	EXPECT_LE(0, vdev_pci_intx_fd(self->p));
	EXPECT_LE(0, vdev_pci_intx_resample_fd(self->p));

}

/* The device id and class code follow the device type. */
TEST(class_per_type)
{
	struct vdev_pci *p;
	struct vdev_mem *mem;
	struct tdev t;

	ASSERT_EQ(0, vdev_mem_create(&mem));
	ASSERT_EQ(0, mdev_init(&t, VIRTIO_ID_NET));
	ASSERT_EQ(0, vdev_pci_create(&t.dev, mem, NULL, NULL, &p));
	EXPECT_EQ(0x1041, cfg_rd(p, PCI_DEVICE_ID, 2));
	EXPECT_EQ(0x020000, cfg_rd(p, PCI_CLASS_REVISION, 4) >> 8);
	vdev_pci_destroy(p);
	vdev_device_put(&t.dev);
	ASSERT_EQ(0, mdev_init(&t, VIRTIO_ID_BLOCK));
	ASSERT_EQ(0, vdev_pci_create(&t.dev, mem, NULL, NULL, &p));
	EXPECT_EQ(0x1042, cfg_rd(p, PCI_DEVICE_ID, 2));
	EXPECT_EQ(0x010000, cfg_rd(p, PCI_CLASS_REVISION, 4) >> 8);
	vdev_pci_destroy(p);
	vdev_device_put(&t.dev);
	vdev_mem_put(mem);
}

TEST(create_rejects_bad_args)
{
	struct vdev_pci *p = NULL;
	struct vdev_mem *mem;
	struct tdev d;
	int fds0;

	vdev_test_warm_up();
	ASSERT_EQ(0, vdev_mem_create(&mem));
	fds0 = vdev_test_count_fds();
	ASSERT_EQ(0, mdev_init(&d, VIRTIO_ID_RNG));
	EXPECT_EQ(-EINVAL, vdev_pci_create(&d.dev, NULL, NULL, NULL, &p));
	EXPECT_EQ(-EINVAL, vdev_pci_create(NULL, mem, NULL, NULL, &p));
	EXPECT_EQ(-EINVAL, vdev_pci_create(&d.dev, mem, NULL, NULL, NULL));
	vdev_device_put(&d.dev);
	EXPECT_EQ(1, d.released);	/* no reference leaked */
	/* A type with no id in 0x1040..0x107f. */
	ASSERT_EQ(0, mdev_init(&d, 0x40));
	EXPECT_EQ(-EINVAL, vdev_pci_create(&d.dev, mem, NULL, NULL, &p));
	EXPECT_EQ(NULL, p);
	vdev_device_put(&d.dev);
	EXPECT_EQ(1, d.released);
	EXPECT_EQ(fds0, vdev_test_count_fds());
	vdev_pci_destroy(NULL);
	vdev_mem_put(mem);
}

/* ---- BAR sizing and decode ---- */

TEST_F(pci, bar_sizing)
{
	uint32_t lo, v = 0;
	unsigned int i;

	EXPECT_EQ(VDEV_PCI_BAR_SIZE, self->drv.bar_size);
	/* 64-bit, non-prefetchable memory BAR. */
	lo = cfg_rd(self->p, PCI_BASE_ADDRESS_0, 4);
	EXPECT_EQ(PCI_BASE_ADDRESS_MEM_TYPE_64, lo & 0xf);
	EXPECT_EQ((uint32_t)BAR_GPA, lo & ~0xfU);
	EXPECT_EQ(BAR_GPA >> 32, cfg_rd(self->p, PCI_BASE_ADDRESS_1, 4));
	EXPECT_EQ(BAR_GPA, vdev_pci_bar_addr(self->p, 0));
	EXPECT_EQ(VDEV_PCI_BAR_UNMAPPED, vdev_pci_bar_addr(self->p, 2));

	/* The halves sized with decode on: the VMM sees every move. */
	cfg_wr(self->p, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	EXPECT_EQ(0xffffffff, cfg_rd(self->p, PCI_BASE_ADDRESS_1, 4));
	EXPECT_EQ(0xffffffff00000000ULL | (uint32_t)BAR_GPA,
		  self->vmm.bar_new);
	cfg_wr(self->p, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	EXPECT_EQ(0xffff0000 | PCI_BASE_ADDRESS_MEM_TYPE_64,
		  cfg_rd(self->p, PCI_BASE_ADDRESS_0, 4));
	/* An unaligned address keeps only the bits above the size. */
	cfg_wr(self->p, PCI_BASE_ADDRESS_0, 0xc0001234, 4);
	cfg_wr(self->p, PCI_BASE_ADDRESS_1, 0, 4);
	EXPECT_EQ(0xc0000000 | PCI_BASE_ADDRESS_MEM_TYPE_64,
		  cfg_rd(self->p, PCI_BASE_ADDRESS_0, 4));
	EXPECT_EQ(0xc0000000, self->vmm.bar_new);
	EXPECT_EQ(0xc0000000, vdev_pci_bar_addr(self->p, 0));

	/* Decode off: unmapped. On: back where it is. */
	self->vmm.bar_moves = 0;
	cfg_wr(self->p, PCI_COMMAND, 0, 2);
	EXPECT_EQ(1, self->vmm.bar_moves);
	EXPECT_EQ(0xc0000000, self->vmm.bar_old);
	EXPECT_EQ(VDEV_PCI_BAR_UNMAPPED, self->vmm.bar_new);
	/* Sizing with decode off tells the VMM nothing. */
	EXPECT_EQ(VDEV_PCI_BAR_SIZE, size_bar(self->p, 0));
	EXPECT_EQ(1, self->vmm.bar_moves);
	map_bar(self->p, BAR_GPA);
	EXPECT_EQ(2, self->vmm.bar_moves);
	EXPECT_EQ(VDEV_PCI_BAR_UNMAPPED, self->vmm.bar_old);
	EXPECT_EQ(BAR_GPA, self->vmm.bar_new);

	/* BARs 2 to 5 and the ROM are not implemented: hardwired 0. */
	for (i = 2; i < PCI_STD_NUM_BARS; i++)
		EXPECT_EQ(0, size_bar(self->p, i));
	cfg_wr(self->p, PCI_ROM_ADDRESS, 0xffffffff, 4);
	EXPECT_EQ(0, cfg_rd(self->p, PCI_ROM_ADDRESS, 4));
	/* And accesses to them are not claimed. */
	vdev_pci_bar_read(self->p, 2, 0, &v, 4);
	EXPECT_EQ(0xffffffff, v);
}

/* Hostile: a BAR access with memory decode off. */
TEST_F(pci, bar_access_decode_off)
{
	struct pdrv *d = &self->drv;
	int nfd = vdev_pci_queue_notify_fd(self->p, 0);

	cwr(d, STATUS, S_ACK);
	cfg_wr(self->p, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	/* Reads as no function claims it: all ones. */
	EXPECT_EQ(0xffffffff, bar_rd(d, d->common + C(DFSELECT), 4));
	EXPECT_EQ(0xff, bar_rd(d, d->common + C(STATUS), 1));
	/* Writes do nothing: status, a notify, an MSI-X entry. */
	cwr(d, STATUS, 0);
	bar_wr(d, notify_addr(d, 0), 0, 2);
	bar_wr(d, d->table + PCI_MSIX_ENTRY_DATA, 0x55, 4);
	EXPECT_EQ(0, fd_count(nfd));
	cfg_wr(self->p, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	EXPECT_EQ(S_ACK, crd(d, STATUS));
	EXPECT_EQ(0, bar_rd(d, d->table + PCI_MSIX_ENTRY_DATA, 4));
	EXPECT_EQ(0, self->vmm.vector_changes);
	/* The access capability works without decode (firmware's path). */
	cfg_wr(self->p, PCI_COMMAND, 0, 2);
	cfg_wr(self->p, d->cfg_cap + VIRTIO_PCI_CAP_BAR, 0, 1);
	cfg_wr(self->p, d->cfg_cap + VIRTIO_PCI_CAP_OFFSET,
	       d->common + C(STATUS), 4);
	cfg_wr(self->p, d->cfg_cap + VIRTIO_PCI_CAP_LENGTH, 1, 4);
	EXPECT_EQ(S_ACK, cfg_rd(self->p, d->cfg_cap + 16, 1));
}

/* ---- feature negotiation ---- */

TEST_F(pci, negotiation)
{
	struct pdrv *d = &self->drv;

	/*
	 * RING_RESET is the device's, but it cannot reset one queue: hidden.
	 * NOTIFICATION_DATA is the transport's.
	 */
	EXPECT_EQ((MDEV_FEATURES & ~F(VIRTIO_F_RING_RESET)) |
		  F(VIRTIO_F_NOTIFICATION_DATA), dev_features(d));
	cwr(d, DFSELECT, 2);
	EXPECT_EQ(0, crd(d, DF));

	EXPECT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(d, F(VIRTIO_F_VERSION_1) |
			       F(VIRTIO_RING_F_EVENT_IDX)));
	EXPECT_EQ(F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_EVENT_IDX),
		  vdev_device_acked_features(&self->d.dev));
	/* driver_feature reads back what was written. */
	cwr(d, GFSELECT, 1);
	EXPECT_EQ(1, crd(d, GF));

	/* FEATURES_OK refused: never offered, hidden, no VERSION_1. */
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(d, F(VIRTIO_F_VERSION_1) |
			       F(VIRTIO_F_ACCESS_PLATFORM)));
	cwr(d, STATUS, S_ACK | S_DRV | S_DOK);
	EXPECT_EQ(0, crd(d, STATUS) & (S_DOK | S_FOK));
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_RESET)));
	EXPECT_EQ(S_ACK | S_DRV, negotiate(d, F(VIRTIO_RING_F_EVENT_IDX)));
	/* A bit past 63. */
	cwr(d, STATUS, 0);
	cwr(d, STATUS, S_ACK | S_DRV);
	drv_features(d, F(VIRTIO_F_VERSION_1));
	cwr(d, GFSELECT, 2);
	cwr(d, GF, 1);
	cwr(d, STATUS, S_ACK | S_DRV | S_FOK);
	EXPECT_EQ(S_ACK | S_DRV, crd(d, STATUS));

	/* Reset forgets it. */
	EXPECT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, F(VIRTIO_F_VERSION_1)));
}

/* ---- traffic, INTx and ISR ---- */

TEST_F(pci, intx_and_isr)
{
	struct pdrv *d = &self->drv;
	int ifd = vdev_pci_intx_fd(self->p);
	uint8_t gen;

	ASSERT_EQ(S_RUN, probe(self, NQ));
	EXPECT_EQ(NQ, vdev_test_count_threads_named("vdev-pdev-q"));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_GE(wait_fd(ifd), 1);
	/* MSI-X off: the vectors stay silent. */
	EXPECT_EQ(0, fd_count(VFD(self, 1)));
	/* The level shows in the status register until ISR is read. */
	EXPECT_TRUE(cfg_rd(self->p, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	EXPECT_EQ(VDEV_PCI_ISR_QUEUE, bar_rd(d, d->isr, 1));
	EXPECT_FALSE(cfg_rd(self->p, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	EXPECT_EQ(0, bar_rd(d, d->isr, 1));

	/* A config change: its bit and a new generation. */
	gen = crd(d, CFGGENERATION);
	vdev_device_config_changed(&self->d.dev);
	EXPECT_EQ(1, fd_count(ifd));
	EXPECT_NE(gen, crd(d, CFGGENERATION));
	EXPECT_EQ(VIRTIO_PCI_ISR_CONFIG, bar_rd(d, d->isr, 1));

	/* Resample: nothing while the level is low, re-raised while high. */
	vdev_pci_intx_resample(self->p);
	EXPECT_EQ(0, fd_count(ifd));
	vdev_device_config_changed(&self->d.dev);
	EXPECT_EQ(1, fd_count(ifd));
	vdev_pci_intx_resample(self->p);
	EXPECT_EQ(1, fd_count(ifd));
	bar_rd(d, d->isr, 1);

	/* INTx disabled in the command register: no assertion. */
	cfg_wr(self->p, PCI_COMMAND, cfg_rd(self->p, PCI_COMMAND, 2) |
	       PCI_COMMAND_INTX_DISABLE, 2);
	send(self, 1);
	EXPECT_EQ(128, wait_used(self, 1));
	usleep(10000);
	EXPECT_EQ(0, fd_count(ifd));
	EXPECT_TRUE(cfg_rd(self->p, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Enabled again with ISR set: asserted at once. */
	cfg_wr(self->p, PCI_COMMAND, cfg_rd(self->p, PCI_COMMAND, 2) &
	       ~PCI_COMMAND_INTX_DISABLE, 2);
	EXPECT_EQ(1, fd_count(ifd));
	EXPECT_EQ(VDEV_PCI_ISR_QUEUE, bar_rd(d, d->isr, 1));

	/* ISR is read-only, 1 byte. */
	vdev_device_config_changed(&self->d.dev);
	bar_wr(d, d->isr, 0, 1);
	EXPECT_EQ(0, bar_rd(d, d->isr, 4));
	EXPECT_EQ(VIRTIO_PCI_ISR_CONFIG, bar_rd(d, d->isr, 1));
}

/* ---- MSI-X ---- */

TEST_F(pci, msix_traffic)
{
	struct pdrv *d = &self->drv;
	unsigned int i;

	msix_setup(d, true);
	EXPECT_EQ(1, self->vmm.msix_changes);
	EXPECT_TRUE(self->vmm.msix_on);
	/* Low address and data changed: two calls per entry. */
	EXPECT_EQ(2 * NV, self->vmm.vector_changes);
	EXPECT_EQ(NV - 1, self->vmm.vector);
	EXPECT_EQ(0xfee00000, self->vmm.msg_addr);
	EXPECT_EQ(0x40 + NV - 1, self->vmm.msg_data);
	ASSERT_EQ(S_RUN, probe(self, NQ));
	EXPECT_EQ(0, crd(d, MSIX));
	cwr(d, Q_SELECT, 1);
	EXPECT_EQ(2, crd(d, Q_MSIX));

	for (i = 0; i < 20; i++) {
		send(self, i % NQ);
		ASSERT_EQ(128, wait_used(self, i % NQ));
		EXPECT_GE(wait_fd(VFD(self, i % NQ + 1)), 1);
	}
	EXPECT_EQ(20, atomic_load(&self->d.processed));
	/* Queue interrupts leave ISR and INTx alone with MSI-X on. */
	EXPECT_EQ(0, fd_count(vdev_pci_intx_fd(self->p)));
	EXPECT_EQ(0, bar_rd(d, d->isr, 1));
	/* Config: vector 0, and the ISR bit (VIRTIO 1.2, 4.1.5.3). */
	vdev_device_config_changed(&self->d.dev);
	EXPECT_EQ(1, fd_count(VFD(self, 0)));
	EXPECT_EQ(VIRTIO_PCI_ISR_CONFIG, bar_rd(d, d->isr, 1));

	/* MSI-X off: back to INTx. */
	cfg_wr(self->p, d->msix_cap + PCI_MSIX_FLAGS, 0, 2);
	EXPECT_FALSE(self->vmm.msix_on);
	send(self, 0);
	ASSERT_EQ(128, wait_used(self, 0));
	EXPECT_GE(wait_fd(vdev_pci_intx_fd(self->p)), 1);
	EXPECT_EQ(0, fd_count(VFD(self, 1)));
}

TEST_F(pci, msix_mask_and_pending)
{
	struct pdrv *d = &self->drv;
	uint64_t pba;

	msix_setup(d, true);
	ASSERT_EQ(S_RUN, probe(self, NQ));

	/* Vector 1 masked: held pending, delivered on unmask. */
	vector_mask(d, 1, true);
	EXPECT_EQ(1, bar_rd(d, d->table + 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4));
	send(self, 0);
	ASSERT_EQ(128, wait_used(self, 0));
	usleep(10000);
	EXPECT_EQ(0, fd_count(VFD(self, 1)));
	pba = bar_rd(d, d->pba, 8);
	EXPECT_EQ(1 << 1, pba);
	EXPECT_EQ(1 << 1, bar_rd(d, d->pba, 4));
	vector_mask(d, 1, false);
	EXPECT_EQ(1, fd_count(VFD(self, 1)));
	EXPECT_EQ(0, bar_rd(d, d->pba, 8));
	/* An unmask with nothing pending delivers nothing. */
	vector_mask(d, 1, true);
	vector_mask(d, 1, false);
	EXPECT_EQ(0, fd_count(VFD(self, 1)));

	/* The function mask holds every vector. */
	cfg_wr(self->p, d->msix_cap + PCI_MSIX_FLAGS,
	       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	send(self, 1);
	ASSERT_EQ(128, wait_used(self, 1));
	vdev_device_config_changed(&self->d.dev);
	usleep(10000);
	EXPECT_EQ(0, fd_count(VFD(self, 2)));
	EXPECT_EQ(0, fd_count(VFD(self, 0)));
	EXPECT_EQ((1 << 2) | (1 << 0), bar_rd(d, d->pba, 8));
	/* Unmasking the function: vector 0 and 2 fire once each. */
	cfg_wr(self->p, d->msix_cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	EXPECT_EQ(1, fd_count(VFD(self, 2)));
	EXPECT_EQ(1, fd_count(VFD(self, 0)));
	EXPECT_EQ(0, bar_rd(d, d->pba, 8));
	/* A 1-byte write of the flags' high byte works too (PCI allows it). */
	cfg_wr(self->p, d->msix_cap + PCI_MSIX_FLAGS + 1, 0xc0, 1);
	EXPECT_EQ(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NV - 1),
		  cfg_rd(self->p, d->msix_cap + PCI_MSIX_FLAGS, 2));

	/* A guest reset drops what is pending. */
	vdev_device_config_changed(&self->d.dev);
	EXPECT_EQ(1, bar_rd(d, d->pba, 8));
	cwr(d, STATUS, 0);
	EXPECT_EQ(0, bar_rd(d, d->pba, 8));
	/* The table size is read-only. */
	cfg_wr(self->p, d->msix_cap + PCI_MSIX_FLAGS, 0x7ff, 2);
	EXPECT_EQ(NV - 1, cfg_rd(self->p, d->msix_cap + PCI_MSIX_FLAGS, 2));
}

/* Hostile: vectors beyond the table read back NO_VECTOR, fire nothing. */
TEST_F(pci, vectors_beyond_table)
{
	struct pdrv *d = &self->drv;
	unsigned int v;

	msix_setup(d, true);
	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, V1(self)));
	cwr(d, MSIX, NV);
	EXPECT_EQ(NOVEC, crd(d, MSIX));
	cwr(d, MSIX, 0x7fff);
	EXPECT_EQ(NOVEC, crd(d, MSIX));
	cwr(d, MSIX, NV - 1);
	EXPECT_EQ(NV - 1, crd(d, MSIX));
	cwr(d, Q_SELECT, 0);
	cwr(d, Q_MSIX, NV + 5);
	EXPECT_EQ(NOVEC, crd(d, Q_MSIX));
	cwr(d, Q_MSIX, 0xfffe);
	EXPECT_EQ(NOVEC, crd(d, Q_MSIX));

	vq_driver_rewind(&self->q[0]);
	program_queue(d, 0, &self->q[0], 0xffff);
	cwr(d, MSIX, 0xffff);
	cwr(d, STATUS, S_RUN);
	ASSERT_EQ(S_RUN, crd(d, STATUS));
	send(self, 0);
	ASSERT_EQ(128, wait_used(self, 0));
	vdev_device_config_changed(&self->d.dev);
	usleep(10000);
	for (v = 0; v < NV; v++)
		EXPECT_EQ(0, fd_count(VFD(self, v)));
	EXPECT_EQ(0, fd_count(vdev_pci_intx_fd(self->p)));
	EXPECT_EQ(0, bar_rd(d, d->pba, 8));
}

/* Hostile: MSI-X table and PBA accesses out of range or misaligned. */
TEST_F(pci, msix_table_bad_access)
{
	struct pdrv *d = &self->drv;
	uint64_t e1 = d->table + 16;
	unsigned int n = self->vmm.vector_changes;

	bar_wr(d, e1 + PCI_MSIX_ENTRY_DATA, 0x1234, 4);
	EXPECT_EQ(n + 1, self->vmm.vector_changes);
	/* 1 and 2 bytes, misaligned 4 and 8: ignored, read 0. */
	bar_wr(d, e1 + PCI_MSIX_ENTRY_DATA, 0xff, 1);
	bar_wr(d, e1 + PCI_MSIX_ENTRY_DATA, 0xffff, 2);
	bar_wr(d, e1 + PCI_MSIX_ENTRY_DATA + 1, 0xffffffff, 4);
	bar_wr(d, e1 + 4, 0xffffffffffffffffULL, 8);
	EXPECT_EQ(0, bar_rd(d, e1 + PCI_MSIX_ENTRY_DATA, 1));
	EXPECT_EQ(0, bar_rd(d, e1 + PCI_MSIX_ENTRY_DATA, 2));
	EXPECT_EQ(0, bar_rd(d, e1 + 2, 4));
	EXPECT_EQ(0x1234, bar_rd(d, e1 + PCI_MSIX_ENTRY_DATA, 4));
	EXPECT_EQ(0, bar_rd(d, e1 + PCI_MSIX_ENTRY_UPPER_ADDR, 4));
	EXPECT_EQ(n + 1, self->vmm.vector_changes);
	/* An aligned 8-byte access is a QWORD: allowed. */
	bar_wr(d, e1, 0x00000001fee01000ULL, 8);
	EXPECT_EQ(0x00000001fee01000ULL, bar_rd(d, e1, 8));
	EXPECT_EQ(0x1fee01000ULL, self->vmm.msg_addr);
	/* Reserved bits of Vector Control stay 0. */
	bar_wr(d, e1 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0xfffffffe, 4);
	EXPECT_EQ(0, bar_rd(d, e1 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4));

	/* Entry NV does not exist. */
	bar_wr(d, d->table + NV * 16 + PCI_MSIX_ENTRY_DATA, 0x77, 4);
	EXPECT_EQ(0, bar_rd(d, d->table + NV * 16 + PCI_MSIX_ENTRY_DATA, 4));
	EXPECT_EQ(0, bar_rd(d, d->table + 0x3ff0, 4));
	/* PBA: read-only; beyond its qword; misaligned. */
	msix_setup(d, false);
	ASSERT_EQ(S_RUN, probe(self, NQ));
	vdev_device_config_changed(&self->d.dev);	/* vector 0, masked */
	EXPECT_EQ(1, bar_rd(d, d->pba, 8));
	bar_wr(d, d->pba, 0, 4);
	bar_wr(d, d->pba, 0, 8);
	EXPECT_EQ(1, bar_rd(d, d->pba, 8));
	EXPECT_EQ(0, bar_rd(d, d->pba + 2, 4));
	EXPECT_EQ(0, bar_rd(d, d->pba + 8, 4));
	EXPECT_EQ(0, bar_rd(d, d->pba, 1));
	/* Outside the BAR: not claimed. */
	EXPECT_EQ(0xffffffff, bar_rd(d, VDEV_PCI_BAR_SIZE, 4));
	EXPECT_EQ(0xffffffff, bar_rd(d, VDEV_PCI_BAR_SIZE - 2, 4));
	EXPECT_EQ(0xffffffff, bar_rd(d, UINT64_MAX - 1, 4));
}

/* ---- reset ---- */

TEST_F(pci, reset_joins_workers)
{
	struct pdrv *d = &self->drv;
	unsigned int resets;

	msix_setup(d, true);
	ASSERT_EQ(S_RUN, probe(self, NQ));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_EQ(NQ, vdev_test_count_threads_named("vdev-"));

	resets = atomic_load(&self->d.resets);
	cwr(d, STATUS, 0);
	/* Joined before the write returned: the reset op runs after. */
	EXPECT_EQ(resets + 1, atomic_load(&self->d.resets));
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));
	EXPECT_EQ(0, crd(d, STATUS));
	EXPECT_EQ(0, bar_rd(d, d->isr, 1));
	EXPECT_EQ(NOVEC, crd(d, MSIX));
	cwr(d, Q_SELECT, 1);
	EXPECT_EQ(0, crd(d, Q_ENABLE));
	EXPECT_EQ(NOVEC, crd(d, Q_MSIX));
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	EXPECT_EQ(0, crd(d, Q_DESCLO));
	EXPECT_EQ(0, vdev_device_acked_features(&self->d.dev));
	/* MSI-X and the BAR are PCI state: a virtio reset keeps them. */
	EXPECT_TRUE(cfg_rd(self->p, d->msix_cap + PCI_MSIX_FLAGS, 2) &
		    PCI_MSIX_FLAGS_ENABLE);
	EXPECT_EQ(BAR_GPA, vdev_pci_bar_addr(self->p, 0));
}

TEST_F_TIMEOUT(pci, reset_cycles_flat, 120)
{
	struct pdrv *d = &self->drv;
	int i;

	msix_setup(d, true);
	for (i = 0; i < 500; i++) {
		ASSERT_EQ(S_RUN, probe(self, NQ));
		if (i % 10 == 0) {
			send(self, (i / 10) % NQ);
			ASSERT_EQ(128, wait_used(self, (i / 10) % NQ));
			ASSERT_GE(wait_fd(VFD(self, (i / 10) % NQ + 1)), 1);
		}
		cwr(d, STATUS, 0);
		ASSERT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	}
	EXPECT_EQ(50, atomic_load(&self->d.processed));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
	EXPECT_EQ(self->tasks0, vdev_test_settle_tasks(self->tasks0));
}

/* vdev_pci_reset(): the whole function back to power-on. */
TEST_F(pci, function_reset)
{
	struct pdrv *d = &self->drv;

	msix_setup(d, true);
	ASSERT_EQ(S_RUN, probe(self, NQ));
	self->vmm.bar_moves = 0;
	self->vmm.msix_changes = 0;
	vdev_pci_reset(self->p);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(1, self->vmm.bar_moves);
	EXPECT_EQ(BAR_GPA, self->vmm.bar_old);
	EXPECT_EQ(VDEV_PCI_BAR_UNMAPPED, self->vmm.bar_new);
	EXPECT_EQ(1, self->vmm.msix_changes);
	EXPECT_FALSE(self->vmm.msix_on);
	EXPECT_EQ(0, cfg_rd(self->p, PCI_COMMAND, 2));
	EXPECT_EQ(PCI_BASE_ADDRESS_MEM_TYPE_64,
		  cfg_rd(self->p, PCI_BASE_ADDRESS_0, 4));
	EXPECT_EQ(NV - 1, cfg_rd(self->p, d->msix_cap + PCI_MSIX_FLAGS, 2));
	/* A new boot probes it again. */
	ASSERT_EQ(0, pdrv_probe(&self->drv, self->p));
	msix_setup(&self->drv, true);
	ASSERT_EQ(S_RUN, probe(self, NQ));
	send(self, 1);
	EXPECT_EQ(128, wait_used(self, 1));
	EXPECT_GE(wait_fd(VFD(self, 2)), 1);
	cwr(&self->drv, STATUS, 0);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
}

/* ---- hostile: state rules ---- */

/* Every register written in a state that does not allow it. */
TEST_F(pci, wrong_state_writes)
{
	struct pdrv *d = &self->drv;
	uint16_t noff;

	/* Read-only fields. */
	cwr(d, DF, 0);
	cwr(d, NUMQ, 7);
	cwr(d, CFGGENERATION, 9);
	cwr(d, Q_SELECT, 1);
	noff = crd(d, Q_NOFF);
	cwr(d, Q_NOFF, 9);
	EXPECT_EQ(NQ, crd(d, NUMQ));
	EXPECT_EQ(noff, crd(d, Q_NOFF));
	EXPECT_EQ(dev_features(d), (MDEV_FEATURES & ~F(VIRTIO_F_RING_RESET)) |
				   F(VIRTIO_F_NOTIFICATION_DATA));

	/* DRIVER_OK before FEATURES_OK. */
	cwr(d, STATUS, S_ACK | S_DRV);
	cwr(d, STATUS, S_ACK | S_DRV | S_DOK);
	EXPECT_EQ(S_ACK | S_DRV, crd(d, STATUS));
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));

	/* driver_feature after FEATURES_OK. */
	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, V1(self)));
	cwr(d, GFSELECT, 0);
	cwr(d, GF, F(VIRTIO_RING_F_EVENT_IDX));
	EXPECT_EQ(0, crd(d, GF));
	cwr(d, GFSELECT, 1);
	cwr(d, GF, 0);
	EXPECT_EQ(V1(self) >> 32, crd(d, GF));
	/* Clearing a status bit. */
	cwr(d, STATUS, S_ACK | S_FOK);
	EXPECT_EQ(S_ACK | S_DRV | S_FOK, crd(d, STATUS));
	/* queue_enable 0 is never the driver's to write. */
	vq_driver_rewind(&self->q[0]);
	program_queue(d, 0, &self->q[0], 1);
	cwr(d, Q_ENABLE, 0);
	EXPECT_EQ(1, crd(d, Q_ENABLE));

	/* Queue registers after DRIVER_OK. */
	cwr(d, STATUS, S_RUN);
	ASSERT_EQ(S_RUN, crd(d, STATUS));
	cwr(d, Q_SELECT, 1);
	cwr(d, Q_SIZE, 8);
	cwr(d, Q_DESCLO, 0x2000);
	cwr(d, Q_ENABLE, 1);
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	EXPECT_EQ(0, crd(d, Q_DESCLO));
	EXPECT_EQ(0, crd(d, Q_ENABLE));
	/* The device goes on, on queue 0 only. */
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_EQ(1, vdev_test_count_threads_named("vdev-pdev-q"));
	EXPECT_EQ(S_RUN, crd(d, STATUS));
}

/*
 * Each of the six ring address registers reads back the half it wrote,
 * of its own address, as long as the queue is not enabled.
 */
TEST_F(pci, queue_addresses_read_back)
{
	struct pdrv *d = &self->drv;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, F(VIRTIO_F_VERSION_1)));
	cwr(d, Q_SELECT, 1);
	cwr(d, Q_DESCLO, 0x11111000);
	cwr(d, Q_DESCHI, 0x22222222);
	cwr(d, Q_AVAILLO, 0x33333000);
	cwr(d, Q_AVAILHI, 0x44444444);
	cwr(d, Q_USEDLO, 0x55555000);
	cwr(d, Q_USEDHI, 0x66666666);
	EXPECT_EQ(0x11111000, crd(d, Q_DESCLO));
	EXPECT_EQ(0x22222222, crd(d, Q_DESCHI));
	EXPECT_EQ(0x33333000, crd(d, Q_AVAILLO));
	EXPECT_EQ(0x44444444, crd(d, Q_AVAILHI));
	EXPECT_EQ(0x55555000, crd(d, Q_USEDLO));
	EXPECT_EQ(0x66666666, crd(d, Q_USEDHI));
	/* Queue 0's stay as they were. */
	cwr(d, Q_SELECT, 0);
	EXPECT_EQ(0, crd(d, Q_DESCLO));
	EXPECT_EQ(0, crd(d, Q_USEDHI));
}

/*
 * queue_size and the ring addresses once queue_enable is 1 (Firecracker
 * CVE-2026-5747: a size raised after activation let the device write
 * past the ring). The device must keep the values it was enabled with.
 */
TEST_F(pci, queue_writes_after_enable_ignored)
{
	struct pdrv *d = &self->drv;
	struct vq_driver *q = &self->q[0];
	int i;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, V1(self)));
	vq_driver_rewind(q);
	program_queue(d, 0, q, 1);
	cwr(d, Q_SIZE, QMAX);
	cwr(d, Q_DESCLO, 0x1000);
	cwr(d, Q_DESCHI, 0x10);
	cwr(d, Q_AVAILLO, 0);
	cwr(d, Q_USEDHI, 0xffffffff);
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	EXPECT_EQ((uint32_t)q->desc_gpa, crd(d, Q_DESCLO));
	EXPECT_EQ(0, crd(d, Q_DESCHI));
	EXPECT_EQ((uint32_t)q->avail_gpa, crd(d, Q_AVAILLO));
	EXPECT_EQ(0, crd(d, Q_USEDHI));
	cwr(d, STATUS, S_RUN);
	ASSERT_EQ(S_RUN, crd(d, STATUS));
	/* And after DRIVER_OK, with the device running. */
	cwr(d, Q_SIZE, QMAX);
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	/* More than QSZ chains: the ring wraps at 16, as enabled. */
	for (i = 0; i < 3 * QSZ; i++) {
		send(self, 0);
		ASSERT_EQ(128, wait_used(self, 0));
	}
	EXPECT_EQ(S_RUN, crd(d, STATUS));
}

/* Hostile: queue_select names a queue the device does not have. */
TEST_F(pci, queue_select_out_of_range)
{
	struct pdrv *d = &self->drv;
	uint16_t sel[] = { NQ, NQ + 1, 0x7fff, 0xffff };
	unsigned int i;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, F(VIRTIO_F_VERSION_1)));
	for (i = 0; i < ARRAY_SIZE(sel); i++) {
		cwr(d, Q_SELECT, sel[i]);
		EXPECT_EQ(sel[i], crd(d, Q_SELECT));
		EXPECT_EQ(0, crd(d, Q_SIZE));	/* "not available" */
		cwr(d, Q_SIZE, 8);
		cwr(d, Q_MSIX, 1);
		cwr(d, Q_DESCLO, 0x1000);
		cwr(d, Q_ENABLE, 1);
		EXPECT_EQ(0, crd(d, Q_SIZE));
		EXPECT_EQ(0, crd(d, Q_MSIX));
		EXPECT_EQ(0, crd(d, Q_ENABLE));
		EXPECT_EQ(0, crd(d, Q_DESCLO));
	}
	/* The real queues were not touched. */
	cwr(d, Q_SELECT, NQ - 1);
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	EXPECT_EQ(NOVEC, crd(d, Q_MSIX));
	EXPECT_EQ(0, crd(d, Q_ENABLE));
	ASSERT_EQ(S_RUN, probe(self, NQ));
}

/* Hostile: queue_size 0, above the maximum, not a power of two. */
TEST_F(pci, queue_size_bad)
{
	struct pdrv *d = &self->drv;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, F(VIRTIO_F_VERSION_1)));
	cwr(d, Q_SELECT, 0);
	cwr(d, Q_SIZE, 0);
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	cwr(d, Q_SIZE, QMAX + 1);
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	cwr(d, Q_SIZE, 0xffff);
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));

	/* Not a power of two: the split ring refuses it at DRIVER_OK. */
	vq_driver_rewind(&self->q[0]);
	program_queue(d, 0, &self->q[0], 1);
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	cwr(d, STATUS, 0);
	negotiate(d, F(VIRTIO_F_VERSION_1));
	self->q[0].size = 12;
	program_queue(d, 0, &self->q[0], 1);
	self->q[0].size = QSZ;
	EXPECT_EQ(12, crd(d, Q_SIZE));
	cwr(d, STATUS, S_RUN);
	EXPECT_EQ(S_ACK | S_DRV | S_FOK | S_NR, crd(d, STATUS));
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));

	/* A reset clears it, and the device works. */
	ASSERT_EQ(S_RUN, probe(self, NQ));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
}

/* Hostile: ring addresses outside guest RAM. */
TEST_F(pci, rings_outside_ram)
{
	struct pdrv *d = &self->drv;
	uint8_t gen;

	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, F(VIRTIO_F_VERSION_1)));
	gen = crd(d, CFGGENERATION);
	cwr(d, Q_SELECT, 0);
	cwr(d, Q_SIZE, QSZ);
	cwr(d, Q_DESCLO, 0xfffff000);
	cwr(d, Q_DESCHI, 0xffffffff);
	cwr(d, Q_AVAILLO, (uint32_t)(RAM_GPA + RAM_SIZE - 2));
	cwr(d, Q_USEDLO, 0x1000);
	cwr(d, Q_ENABLE, 1);
	cwr(d, STATUS, S_RUN);
	EXPECT_TRUE(crd(d, STATUS) & S_NR);
	EXPECT_FALSE(crd(d, STATUS) & S_DOK);
	EXPECT_FALSE(vdev_device_is_active(&self->d.dev));
	EXPECT_NE(gen, crd(d, CFGGENERATION));
	EXPECT_GE(fd_count(vdev_pci_intx_fd(self->p)), 1);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));

	ASSERT_EQ(S_RUN, probe(self, NQ));
	send(self, 1);
	EXPECT_EQ(128, wait_used(self, 1));
}

/* Hostile: notify of a queue that does not exist, or of a bad width. */
TEST_F(pci, notify_absent_queue)
{
	struct pdrv *d = &self->drv;
	int n0 = vdev_pci_queue_notify_fd(self->p, 0);
	int n1 = vdev_pci_queue_notify_fd(self->p, 1);
	struct vq_buf in = { .gpa = self->buf, .len = 64 };

	/* Before DRIVER_OK: no worker reads the fds, the test does. */
	ASSERT_EQ(S_ACK | S_DRV | S_FOK, negotiate(d, V1(self)));
	bar_wr(d, d->notify + NQ * d->mult, NQ, 2);	/* past the slots */
	bar_wr(d, d->notify + 0xffc, 0, 2);
	bar_wr(d, d->notify + 1, 0, 2);			/* misaligned */
	bar_wr(d, d->notify + d->mult + 2, 1, 2);	/* inside slot 1 */
	bar_wr(d, d->notify, 0, 1);			/* 1 byte */
	bar_wr(d, d->notify, 0, 8);			/* 8 bytes */
	EXPECT_EQ(0, fd_count(n0));
	EXPECT_EQ(0, fd_count(n1));
	/* Notify reads 0. */
	EXPECT_EQ(0, bar_rd(d, d->notify, 2));
	/* Good ones, 2 or 4 bytes, each on its own queue's fd. */
	bar_wr(d, notify_addr(d, 1), 1, 2);
	bar_wr(d, notify_addr(d, 1), 1, 4);
	EXPECT_EQ(0, fd_count(n0));
	EXPECT_EQ(2, fd_count(n1));
	/* And the device runs on them. */
	ASSERT_EQ(S_RUN, probe(self, NQ));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
	vq_driver_add(&self->q[1], NULL, 0, &in, 1, false);
	vq_driver_kick_prepare(&self->q[1]);
	bar_wr(d, notify_addr(d, 1), 1, 4);
	EXPECT_EQ(64, wait_used(self, 1));
}

/* Hostile: configuration space beyond the header, or of a bad width. */
TEST_F(pci, config_beyond_header)
{
	static const uint32_t offs[] = {
		VDEV_PCI_CONFIG_SIZE, VDEV_PCI_CONFIG_SIZE + 4, 0x1000,
		0xfff, 0x7ffffffc, 0xfffffffc, 0xffffffff,
	};
	uint8_t before[VDEV_PCI_CONFIG_SIZE], after[VDEV_PCI_CONFIG_SIZE];
	uint8_t buf[8];
	unsigned int i;

	for (i = 0; i < sizeof(before); i += 4)
		vdev_pci_config_read(self->p, i, before + i, 4);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		EXPECT_EQ(0xffffffff, cfg_rd(self->p, offs[i], 4));
		cfg_wr(self->p, offs[i], 0, 4);
		cfg_wr(self->p, offs[i], 0, 1);
	}
	/* Unaligned, 3 and 8 bytes: ignored, all ones. */
	EXPECT_EQ(0xffffffff, cfg_rd(self->p, PCI_COMMAND + 1, 4));
	EXPECT_EQ(0xffff, cfg_rd(self->p, PCI_COMMAND + 1, 2));
	memset(buf, 0, sizeof(buf));
	vdev_pci_config_read(self->p, 0, buf, 8);
	EXPECT_EQ(0xff, buf[0] & buf[7]);
	vdev_pci_config_read(self->p, 0, buf, 3);
	EXPECT_EQ(0xff, buf[0]);
	memset(buf, 0, sizeof(buf));
	vdev_pci_config_write(self->p, PCI_COMMAND, buf, 8);
	vdev_pci_config_write(self->p, PCI_COMMAND, buf, 3);
	cfg_wr(self->p, PCI_COMMAND + 1, 0, 2);
	cfg_wr(self->p, PCI_BASE_ADDRESS_0 + 2, 0, 4);
	for (i = 0; i < sizeof(after); i += 4)
		vdev_pci_config_read(self->p, i, after + i, 4);
	EXPECT_EQ(0, memcmp(before, after, sizeof(before)));
	EXPECT_EQ(BAR_GPA, vdev_pci_bar_addr(self->p, 0));
}

/* Hostile: 1-, 2- or 8-byte accesses where 4 are required, and others. */
TEST_F(pci, common_wrong_width)
{
	struct pdrv *d = &self->drv;
	uint64_t base = d->common;

	cwr(d, STATUS, S_ACK);
	/* 4-byte fields. */
	bar_wr(d, base + C(DFSELECT), 1, 1);
	bar_wr(d, base + C(DFSELECT), 1, 2);
	bar_wr(d, base + C(DFSELECT), 1, 8);
	EXPECT_EQ(0, crd(d, DFSELECT));
	EXPECT_EQ(0, bar_rd(d, base + C(DF), 2));
	EXPECT_EQ(0, bar_rd(d, base + C(DF), 8));
	EXPECT_EQ(0, bar_rd(d, base + C(DF) + 2, 2));
	bar_wr(d, base + C(Q_DESCLO), 0x1000, 8);
	bar_wr(d, base + C(Q_DESCLO), 0x1000, 2);
	EXPECT_EQ(0, crd(d, Q_DESCLO));
	/* 2-byte fields at 4 bytes (which would also hit the next). */
	bar_wr(d, base + C(Q_SELECT), 1, 4);
	EXPECT_EQ(0, crd(d, Q_SELECT));
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	bar_wr(d, base + C(Q_SELECT), 1, 1);
	EXPECT_EQ(0, crd(d, Q_SELECT));
	/* 1-byte status at 2 or 4 bytes. */
	bar_wr(d, base + C(STATUS), 0, 2);
	bar_wr(d, base + C(STATUS), 0, 4);
	EXPECT_EQ(S_ACK, crd(d, STATUS));
	EXPECT_EQ(0, bar_rd(d, base + C(STATUS), 2));
	/* The 2-byte queue_notify_data and queue_reset at 4 or 1 bytes. */
	cwr(d, Q_SELECT, 1);
	EXPECT_EQ(1, crd(d, Q_NDATA));
	EXPECT_EQ(0, bar_rd(d, base + C(Q_NDATA), 4));
	EXPECT_EQ(0, bar_rd(d, base + C(Q_RESET), 1));
	EXPECT_EQ(0, bar_rd(d, base + C(Q_RESET), 4));
	cwr(d, Q_SELECT, 0);
	/* Past the structure, and between structures. */
	EXPECT_EQ(0, bar_rd(d, base + C(Q_RESET) + 2, 2));
	EXPECT_EQ(0, bar_rd(d, base + C(Q_RESET) + 2, 4));
	EXPECT_EQ(0, bar_rd(d, 0x800, 4));
	bar_wr(d, base + C(Q_RESET) + 2, 1, 2);
	/* Device config: 1, 2, 4, 8 bytes; 3 or unaligned ignored. */
	EXPECT_EQ('0', bar_rd(d, d->device, 1));
	EXPECT_EQ(0x3736353433323130ULL, bar_rd(d, d->device, 8));
	EXPECT_EQ(0, bar_rd(d, d->device + 1, 2));
	EXPECT_EQ(0, bar_rd(d, d->device, 3));
	bar_wr(d, d->device + 1, 0x5859, 2);
	EXPECT_EQ('1', self->d.config[1]);
	EXPECT_EQ(S_ACK, crd(d, STATUS));
}

/* The PCI configuration access capability: a BAR access through config. */
TEST_F(pci, cfg_access_capability)
{
	struct pdrv *d = &self->drv;
	uint32_t c = d->cfg_cap;
	uint32_t data = c + 16;

	cfg_wr(self->p, c + VIRTIO_PCI_CAP_BAR, 0, 1);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_LENGTH, 4, 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_OFFSET, d->common + C(DF), 4);
	EXPECT_EQ((uint32_t)dev_features(d), cfg_rd(self->p, data, 4));
	/* A write: device_status. */
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_LENGTH, 1, 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_OFFSET, d->common + C(STATUS), 4);
	cfg_wr(self->p, data, S_ACK, 1);
	EXPECT_EQ(S_ACK, crd(d, STATUS));
	/* Device config, 2 bytes. */
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_LENGTH, 2, 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_OFFSET, d->device + 2, 4);
	EXPECT_EQ(0x3332, cfg_rd(self->p, data, 2));
	/* Bad window: BAR 1, length 3, misaligned, outside: ignored. */
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_OFFSET, d->common + C(STATUS), 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_LENGTH, 1, 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_BAR, 1, 1);
	cfg_wr(self->p, data, 0, 1);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_BAR, 0, 1);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_LENGTH, 3, 4);
	cfg_wr(self->p, data, 0, 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_LENGTH, 2, 4);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_OFFSET, d->common + 1, 4);
	cfg_wr(self->p, data, 0, 2);
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_OFFSET, 0xfffffffe, 4);
	cfg_wr(self->p, data, 0, 2);
	EXPECT_EQ(S_ACK, crd(d, STATUS));
	/* The capability's own header is read-only. */
	cfg_wr(self->p, c + VIRTIO_PCI_CAP_CFG_TYPE, 0, 1);
	EXPECT_EQ(VIRTIO_PCI_CAP_PCI_CFG,
		  cfg_rd(self->p, c + VIRTIO_PCI_CAP_CFG_TYPE, 1));
}

/* ---- rate limiting ---- */

static atomic_uint log_lines;

static void count_log(enum vdev_log_level level, const char *msg)
{
	atomic_fetch_add(&log_lines, 1);
}

TEST_F(pci, warnings_rate_limited)
{
	struct pdrv *d = &self->drv;
	struct timespec t0, t1;
	unsigned int windows;
	long ms;
	int i;

	atomic_store(&log_lines, 0);
	vdev_log_set_handler(count_log);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 1000; i++) {
		bar_wr(d, d->common + C(DFSELECT), 0, 2);
		cfg_rd(self->p, 0x1000, 4);
		bar_wr(d, d->notify + 0xffc, 0, 2);
		cwr(d, STATUS, 0);	/* the count survives a reset */
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	vdev_log_set_handler(NULL);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	windows = ms / 5000 + 2;
	/* 10 every 5 s, plus a "suppressed" line per window. */
	TH_LOG("%u lines in %ld ms", atomic_load(&log_lines), ms);
	EXPECT_LE(atomic_load(&log_lines), windows * (10 + 1));
	EXPECT_GE(atomic_load(&log_lines), 10);
}

/* ---- several vCPUs ---- */

struct vcpu_load {
	struct pdrv *d;
	atomic_bool stop;
	atomic_uint loops;
};

static void *vcpu_thread(void *arg)
{
	struct vcpu_load *l = arg;
	struct pdrv *d = l->d;

	while (!atomic_load(&l->stop)) {
		crd(d, STATUS);
		crd(d, CFGGENERATION);
		bar_rd(d, d->isr, 1);
		bar_rd(d, d->pba, 8);
		cfg_rd(d->pci, PCI_STATUS, 2);
		bar_rd(d, d->device, 8);
		bar_wr(d, d->notify + d->mult, 1, 2);
		vector_mask(d, 0, false);
		atomic_fetch_add(&l->loops, 1);
	}
	return NULL;
}

TEST_F(pci, concurrent_vcpus)
{
	struct vcpu_load l = { .d = &self->drv };
	pthread_t th[2];
	int i;

	msix_setup(&self->drv, true);
	ASSERT_EQ(0, pthread_create(&th[0], NULL, vcpu_thread, &l));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, vcpu_thread, &l));
	for (i = 0; i < 50; i++) {
		ASSERT_EQ(S_RUN, probe(self, NQ));
		send(self, 0);
		ASSERT_EQ(128, wait_used(self, 0));
		vector_mask(&self->drv, 1, true);
		send(self, 1);
		ASSERT_EQ(128, wait_used(self, 1));
		vdev_device_config_changed(&self->d.dev);
		vector_mask(&self->drv, 1, false);
	}
	atomic_store(&l.stop, true);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	EXPECT_GT(atomic_load(&l.loops), 0);
	cwr(&self->drv, STATUS, 0);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	EXPECT_EQ(self->fds0, vdev_test_count_fds());
}

/* Destroy while running: joins the workers and closes every fd. */
/* ---- per-queue reset (VIRTIO_F_RING_RESET) ---- */

/* Replace the fixture's device and transport by ones on @ops; probe. */
static void pci_use_ops(struct __test_metadata *_metadata,
			FIXTURE_DATA(pci) *self,
			const struct vdev_device_ops *ops)
{
	vdev_pci_destroy(self->p);
	self->p = NULL;
	vdev_device_put(&self->d.dev);
	ASSERT_EQ(1, self->d.released);
	ASSERT_EQ(0, mdev_init_ops(&self->d, ops, VIRTIO_ID_RNG));
	ASSERT_EQ(0, vdev_pci_create(&self->d.dev, self->g.mem, &vmm_ops,
				     &self->vmm, &self->p));
	ASSERT_EQ(0, pdrv_probe(&self->drv, self->p));
}

/* probe() with VIRTIO_F_RING_RESET acked; the status read. */
static uint8_t probe_ring_reset(FIXTURE_DATA(pci) *self, unsigned int nq)
{
	unsigned int i;
	uint8_t s;

	s = negotiate(&self->drv, V1(self) |
				  F(VIRTIO_F_RING_RESET));
	if (!(s & S_FOK))
		return s;
	for (i = 0; i < nq; i++) {
		vq_driver_rewind(&self->q[i]);
		program_queue(&self->drv, i, &self->q[i], i + 1);
	}
	cwr(&self->drv, STATUS, S_RUN);
	return crd(&self->drv, STATUS);
}

/* vp_modern_set_queue_reset(): queue_reset 1, wait for 0 in both. */
static bool reset_queue(struct pdrv *d, unsigned int i)
{
	cwr(d, Q_SELECT, i);
	cwr(d, Q_RESET, 1);
	return !crd(d, Q_RESET) && !crd(d, Q_ENABLE);
}

struct q1_load {
	FIXTURE_DATA(pci) *self;
	uint64_t notify;	/* queue 1's notify address, found once */
	atomic_bool stop;
	atomic_uint done;
	atomic_uint lost;
};

/*
 * The driver keeps queue 1 busy: one buffer at a time. It only writes
 * the notify address (never queue_select, which the main thread uses).
 */
static void *q1_load_thread(void *arg)
{
	struct q1_load *l = arg;
	struct vq_buf in = { .gpa = l->self->buf + 2048, .len = 128 };

	while (!atomic_load(&l->stop)) {
		vq_driver_add(&l->self->q[1], NULL, 0, &in, 1, false);
		vq_driver_kick_prepare(&l->self->q[1]);
		bar_wr(&l->self->drv, l->notify, 1, 2);
		if (wait_used(l->self, 1) != 128) {
			atomic_fetch_add(&l->lost, 1);
			break;
		}
		atomic_fetch_add(&l->done, 1);
	}
	return NULL;
}

/*
 * The guest's VIRTIO_F_RING_RESET flow over PCI, as Linux's
 * vp_modern_reset_vq() and vp_modern_enable_vq_after_reset() run it:
 * queue 0 carries traffic, is reset (queue_reset 1, then queue_reset and
 * queue_enable read 0), programmed again on fresh rings after DRIVER_OK
 * and re-enabled (queue_enable 1), and carries traffic again, 50 times,
 * while the driver keeps queue 1 busy the whole time. Queue 1 never
 * stops, the device never needs a reset, the workers are the same
 * throughout and no fd is left behind.
 */
TEST_F_TIMEOUT(pci, ring_reset_guest_flow, 120)
{
	struct pdrv *d = &self->drv;
	struct q1_load l = { .self = self };
	unsigned int round, i;
	pthread_t th;
	int fds;

	pci_use_ops(_metadata, self, &mdev_qr_ops);
	EXPECT_TRUE(dev_features(d) & F(VIRTIO_F_RING_RESET));
	ASSERT_EQ(S_RUN, probe_ring_reset(self, NQ));
	l.notify = notify_addr(d, 1);
	fds = vdev_test_count_fds();
	ASSERT_EQ(0, pthread_create(&th, NULL, q1_load_thread, &l));

	for (round = 0; round < 50; round++) {
		for (i = 0; i < 4; i++) {
			send(self, 0);
			ASSERT_EQ(128, wait_used(self, 0));
		}
		ASSERT_TRUE(reset_queue(d, 0));
		ASSERT_EQ(S_RUN, crd(d, STATUS));
		/* Power-on values, for the driver to program again. */
		ASSERT_EQ(QMAX, crd(d, Q_SIZE));
		ASSERT_EQ(0, crd(d, Q_DESCLO));
		ASSERT_EQ(NOVEC, crd(d, Q_MSIX));
		/* Queue 1 goes on while queue 0 is reset. */
		ASSERT_TRUE(tdev_wait_progress(&l.done, 3, 5000));

		vq_driver_rewind(&self->q[0]);
		program_queue(d, 0, &self->q[0], 1);
		ASSERT_EQ(1, crd(d, Q_ENABLE));
		ASSERT_EQ(0, crd(d, Q_RESET));
		ASSERT_EQ(S_RUN, crd(d, STATUS));
		ASSERT_EQ(NQ, vdev_test_count_threads_named("vdev-pdev-q"));
	}
	/* Traffic after the last re-enable, on the fresh ring. */
	for (i = 0; i < QSZ + 4; i++) {
		send(self, 0);
		ASSERT_EQ(128, wait_used(self, 0));
	}
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	EXPECT_EQ(0, atomic_load(&l.lost));
	EXPECT_LE(150, atomic_load(&l.done));
	EXPECT_EQ(50, atomic_load(&self->d.queue_resets));
	EXPECT_EQ(50, atomic_load(&self->d.queue_enables));
	EXPECT_EQ(S_RUN, crd(d, STATUS));
	EXPECT_EQ(fds, vdev_test_count_fds());

	/* Rings outside guest RAM at the re-enable: DEVICE_NEEDS_RESET. */
	ASSERT_TRUE(reset_queue(d, 0));
	cwr(d, Q_SIZE, QSZ);
	cwr(d, Q_DESCHI, 0x10);
	cwr(d, Q_ENABLE, 1);
	EXPECT_EQ(0, crd(d, Q_ENABLE));
	EXPECT_EQ(S_RUN | S_NR, crd(d, STATUS));
	/* Queue 1 still works; a device reset brings queue 0 back. */
	send(self, 1);
	EXPECT_EQ(128, wait_used(self, 1));
	cwr(d, STATUS, 0);
	ASSERT_EQ(S_RUN, probe_ring_reset(self, NQ));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
}

/*
 * Hostile: queue_reset written in the wrong state. Each is ignored (with
 * a warning) and the queues go on: the feature not negotiated, a queue
 * that is not enabled, queue_select out of range, a value other than 1.
 * Before DRIVER_OK it puts the queue back to its power-on state.
 */
TEST_F(pci, queue_reset_wrong_state)
{
	struct pdrv *d = &self->drv;
	uint16_t sel[] = { NQ, 0x7fff, 0xffff };
	unsigned int i;

	pci_use_ops(_metadata, self, &mdev_qr_ops);

	/* VIRTIO_F_RING_RESET offered but not acked. */
	ASSERT_EQ(S_RUN, probe(self, NQ));
	EXPECT_FALSE(reset_queue(d, 0));
	EXPECT_EQ(1, crd(d, Q_ENABLE));
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	EXPECT_EQ(0, atomic_load(&self->d.queue_resets));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_EQ(S_RUN, crd(d, STATUS));

	/* Acked; queue 1 was never enabled. */
	cwr(d, STATUS, 0);
	ASSERT_EQ(S_RUN, probe_ring_reset(self, 1));
	cwr(d, Q_SELECT, 1);
	cwr(d, Q_RESET, 1);
	EXPECT_EQ(0, crd(d, Q_RESET));
	EXPECT_EQ(0, crd(d, Q_ENABLE));
	/* It stays out of reach: its registers stay read-only. */
	cwr(d, Q_SIZE, 8);
	cwr(d, Q_ENABLE, 1);
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	EXPECT_EQ(0, crd(d, Q_ENABLE));
	EXPECT_EQ(0, atomic_load(&self->d.queue_resets));
	EXPECT_EQ(S_RUN, crd(d, STATUS));

	/* queue_select names no queue. */
	for (i = 0; i < ARRAY_SIZE(sel); i++) {
		cwr(d, Q_SELECT, sel[i]);
		cwr(d, Q_RESET, 1);
		EXPECT_EQ(0, crd(d, Q_RESET));
	}
	/* Values other than 1. */
	cwr(d, Q_SELECT, 0);
	cwr(d, Q_RESET, 0);
	cwr(d, Q_RESET, 2);
	cwr(d, Q_RESET, 0xffff);
	EXPECT_EQ(1, crd(d, Q_ENABLE));
	EXPECT_EQ(0, atomic_load(&self->d.queue_resets));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
	EXPECT_EQ(S_RUN, crd(d, STATUS));

	/* Before DRIVER_OK: the queue goes back to power-on. */
	ASSERT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_RESET)));
	vq_driver_rewind(&self->q[0]);
	program_queue(d, 0, &self->q[0], 1);
	EXPECT_TRUE(reset_queue(d, 0));
	EXPECT_EQ(QMAX, crd(d, Q_SIZE));
	EXPECT_EQ(0, crd(d, Q_DESCLO));
	EXPECT_EQ(NOVEC, crd(d, Q_MSIX));
	EXPECT_EQ(0, atomic_load(&self->d.queue_resets));

	/* A device that cannot reset one queue: not offered, refused. */
	pci_use_ops(_metadata, self, &mdev_ops);
	EXPECT_FALSE(dev_features(d) & F(VIRTIO_F_RING_RESET));
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_RING_RESET)));
	ASSERT_EQ(S_RUN, probe(self, NQ));
	EXPECT_FALSE(reset_queue(d, 0));
	send(self, 0);
	EXPECT_EQ(128, wait_used(self, 0));
}

/*
 * After DRIVER_OK, queue_size and the ring addresses are writable only
 * for a queue reset with queue_reset, and only until it is re-enabled
 * (the lesson of CVE-2026-5747 still holds for a running queue).
 */
TEST_F(pci, queue_writes_only_while_reset)
{
	struct pdrv *d = &self->drv;
	struct vq_driver *q = &self->q[0];
	int i;

	pci_use_ops(_metadata, self, &mdev_qr_ops);
	ASSERT_EQ(S_RUN, probe_ring_reset(self, NQ));
	/* Running: ignored. */
	cwr(d, Q_SELECT, 0);
	cwr(d, Q_SIZE, QMAX);
	cwr(d, Q_DESCHI, 0x10);
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	EXPECT_EQ(0, crd(d, Q_DESCHI));

	/* Reset: each register reads back what was written. */
	ASSERT_TRUE(reset_queue(d, 0));
	cwr(d, Q_SIZE, 8);
	cwr(d, Q_DESCLO, 0x11111000);
	cwr(d, Q_DESCHI, 0x22222222);
	cwr(d, Q_AVAILLO, 0x33333000);
	cwr(d, Q_AVAILHI, 0x44444444);
	cwr(d, Q_USEDLO, 0x55555000);
	cwr(d, Q_USEDHI, 0x66666666);
	EXPECT_EQ(8, crd(d, Q_SIZE));
	EXPECT_EQ(0x11111000, crd(d, Q_DESCLO));
	EXPECT_EQ(0x22222222, crd(d, Q_DESCHI));
	EXPECT_EQ(0x33333000, crd(d, Q_AVAILLO));
	EXPECT_EQ(0x44444444, crd(d, Q_AVAILHI));
	EXPECT_EQ(0x55555000, crd(d, Q_USEDLO));
	EXPECT_EQ(0x66666666, crd(d, Q_USEDHI));
	/* Queue 1, which runs, still refuses them. */
	cwr(d, Q_SELECT, 1);
	cwr(d, Q_SIZE, 8);
	cwr(d, Q_DESCLO, 0x1000);
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	EXPECT_EQ((uint32_t)self->q[1].desc_gpa, crd(d, Q_DESCLO));

	/* Re-enabled on good rings: read-only again, with the enabled size. */
	vq_driver_rewind(q);
	program_queue(d, 0, q, 1);
	ASSERT_EQ(1, crd(d, Q_ENABLE));
	cwr(d, Q_SIZE, QMAX);
	cwr(d, Q_DESCLO, 0x1000);
	cwr(d, Q_USEDHI, 0xffffffff);
	EXPECT_EQ(QSZ, crd(d, Q_SIZE));
	EXPECT_EQ((uint32_t)q->desc_gpa, crd(d, Q_DESCLO));
	EXPECT_EQ(0, crd(d, Q_USEDHI));
	/* More than QSZ chains: the ring wraps at 16, as enabled. */
	for (i = 0; i < 3 * QSZ; i++) {
		send(self, 0);
		ASSERT_EQ(128, wait_used(self, 0));
	}
	send(self, 1);
	EXPECT_EQ(128, wait_used(self, 1));
	EXPECT_EQ(S_RUN, crd(d, STATUS));
}

/* ---- VIRTIO_F_NOTIFICATION_DATA ---- */

/*
 * With VIRTIO_F_NOTIFICATION_DATA the driver writes 32 bits to the
 * notify address: the queue index, then the next available offset (15
 * bits) and wrap bit, or for the split ring the avail index (VIRTIO 1.2,
 * 4.1.5.2). Each reaches its queue's eventfd and the device runs on it,
 * on both queues, past the wrap of the rings. VIRTIO_F_NOTIF_CONFIG_DATA
 * is not offered: queue_notify_data reads the queue index, the value the
 * notification starts with, and is read-only.
 */
/* The next available index; packed: the next offset and its wrap bit. */
static uint32_t notify_data(const struct vq_driver *q)
{
	if (q->format == VQ_PACKED)
		return q->next_avail | (uint32_t)q->avail_wrap << 15;
	return q->avail_idx;
}

TEST_F(pci, notification_data)
{
	struct pdrv *d = &self->drv;
	struct vq_buf in = { .gpa = self->buf, .len = 64 };
	int n1 = vdev_pci_queue_notify_fd(self->p, 1);
	unsigned int qi, i;

	EXPECT_TRUE(dev_features(d) & F(VIRTIO_F_NOTIFICATION_DATA));
	EXPECT_FALSE(dev_features(d) & F(VIRTIO_F_NOTIF_CONFIG_DATA));
	ASSERT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(d, F(VIRTIO_F_VERSION_1) |
			       F(VIRTIO_F_NOTIFICATION_DATA)));
	/* The transport's own: the device is not asked to ack it. */
	EXPECT_EQ(F(VIRTIO_F_VERSION_1),
		  vdev_device_acked_features(&self->d.dev));
	cwr(d, GFSELECT, 1);
	EXPECT_EQ((F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_NOTIFICATION_DATA)) >> 32,
		  crd(d, GF));
	/* NOTIF_CONFIG_DATA is refused. */
	EXPECT_EQ(S_ACK | S_DRV,
		  negotiate(d, F(VIRTIO_F_VERSION_1) |
			       F(VIRTIO_F_NOTIF_CONFIG_DATA)));

	for (qi = 0; qi < NQ; qi++) {
		cwr(d, Q_SELECT, qi);
		EXPECT_EQ(qi, crd(d, Q_NDATA));
		cwr(d, Q_NDATA, 0x1234);
		EXPECT_EQ(qi, crd(d, Q_NDATA));
	}
	/* Before DRIVER_OK the test reads the fd itself. */
	ASSERT_EQ(S_ACK | S_DRV | S_FOK,
		  negotiate(d, V1(self) |
			       F(VIRTIO_F_NOTIFICATION_DATA)));
	bar_wr(d, notify_addr(d, 1), 1 | 0x80050000u, 4);
	EXPECT_EQ(1, fd_count(n1));

	for (qi = 0; qi < NQ; qi++) {
		vq_driver_rewind(&self->q[qi]);
		program_queue(d, qi, &self->q[qi], qi + 1);
	}
	cwr(d, STATUS, S_RUN);
	ASSERT_EQ(S_RUN, crd(d, STATUS));
	for (i = 0; i < 3 * QSZ; i++) {
		for (qi = 0; qi < NQ; qi++) {
			struct vq_driver *q = &self->q[qi];

			vq_driver_add(q, NULL, 0, &in, 1, false);
			vq_driver_kick_prepare(q);
			bar_wr(d, notify_addr(d, qi),
			       qi | notify_data(q) << 16, 4);
			ASSERT_EQ(64, wait_used(self, qi));
		}
	}
	EXPECT_EQ(S_RUN, crd(d, STATUS));
}

TEST(destroy_while_active)
{
	struct vdev_pci *p;
	struct vq_driver q;
	struct vq_guest g;
	struct pdrv drv;
	struct tdev d;
	int fds0;

	vdev_test_warm_up();
	fds0 = vdev_test_count_fds();
	ASSERT_EQ(0, vq_guest_init(&g));
	ASSERT_EQ(0, vq_guest_add(&g, RAM_GPA, RAM_SIZE, true));
	ASSERT_EQ(0, vq_driver_init(&q, &g, 0, QSZ, false, 0));
	ASSERT_EQ(0, mdev_init(&d, VIRTIO_ID_RNG));
	ASSERT_EQ(0, vdev_pci_create(&d.dev, g.mem, NULL, NULL, &p));
	ASSERT_EQ(0, pdrv_probe(&drv, p));
	negotiate(&drv, F(VIRTIO_F_VERSION_1));
	program_queue(&drv, 0, &q, 1);
	cwr(&drv, STATUS, S_RUN);
	ASSERT_TRUE(vdev_device_is_active(&d.dev));
	EXPECT_EQ(1, vdev_test_count_threads_named("vdev-"));
	vdev_device_put(&d.dev);	/* the transport holds the last ref */
	EXPECT_EQ(0, d.released);
	vdev_pci_destroy(p);
	EXPECT_EQ(1, d.released);
	EXPECT_EQ(0, vdev_test_settle_threads_named("vdev-", 0));
	vq_driver_destroy(&q);
	vq_guest_destroy(&g);
	EXPECT_EQ(fds0, vdev_test_count_fds());
}

TEST_HARNESS_MAIN
