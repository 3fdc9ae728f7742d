// SPDX-License-Identifier: GPL-2.0
/*
 * vdev_kvm_attach() and vdev_kvm_detach() on a real KVM VM fd (with an
 * in-kernel irqchip): each queue's QueueNotify doorbell is registered
 * with KVM_IOEVENTFD and the interrupt eventfd with KVM_IRQFD, a second
 * transport on the same window is refused, detach deassigns everything
 * and closes vdev's dups, registrations survive a guest reset, and detach
 * still works after the VMM closed the VM fd. No vCPU runs: the test
 * needs a /dev/kvm that can create a VM, so it lives with the KVM tests
 * (scripts/vmtest runs it inside QEMU where the host cannot), not with
 * the host's selftests/core/mmio_test.
 *
 * The device is the echo device of the core selftests
 * (selftests/core/tdev.h), driven through vdev_mmio_read()/write() as a
 * guest driver would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>

#include <vdev/vdev.h>

#include "vq_driver.h"	/* before kselftest.h: its ARRAY_SIZE is conditional */
#include "kselftest.h"
#include "vdev_test.h"
#include "core/tdev.h"

#define NQ		TDEV_NQ
#define QSZ		16
#define QMAX		64
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	0x100000ULL
#define MMIO_BASE	0xd0000000ULL
#define GSI		5
#define NOTIFY_GPA	(MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY)
#define S_RUNNING	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)

static const uint16_t kdev_sizes[NQ] = { QMAX, QMAX };

static const struct vdev_device_ops kdev_ops = {
	.name = "kdev",
	.read_config = tdev_read_config,
	.activate = tdev_activate,
	.release = tdev_release,
};

static uint32_t rd(struct vdev_mmio *m, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	vdev_mmio_read(m, off, &v, 4);
	return v;
}

static void wr(struct vdev_mmio *m, uint64_t off, uint32_t v)
{
	vdev_mmio_write(m, off, &v, 4);
}

/* A driver's probe up to DRIVER_OK with VERSION_1 only: Status read back. */
static uint32_t probe(struct vdev_mmio *m, struct vq_driver *q)
{
	unsigned int i;

	wr(m, VIRTIO_MMIO_STATUS, 0);
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	   VIRTIO_CONFIG_S_DRIVER);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, 1U << (VIRTIO_F_VERSION_1 - 32));
	wr(m, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	   VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (i = 0; i < NQ; i++) {
		wr(m, VIRTIO_MMIO_QUEUE_SEL, i);
		wr(m, VIRTIO_MMIO_QUEUE_NUM, q[i].size);
		wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q[i].desc_gpa);
		wr(m, VIRTIO_MMIO_QUEUE_DESC_HIGH, q[i].desc_gpa >> 32);
		wr(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q[i].avail_gpa);
		wr(m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, q[i].avail_gpa >> 32);
		wr(m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q[i].used_gpa);
		wr(m, VIRTIO_MMIO_QUEUE_USED_HIGH, q[i].used_gpa >> 32);
		wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(m, VIRTIO_MMIO_STATUS, S_RUNNING);
	return rd(m, VIRTIO_MMIO_STATUS);
}

/* KVM_IOEVENTFD for a 4-byte QueueNotify write of @match: 0 or -errno. */
static int ioeventfd(int vm, int fd, uint64_t match, bool deassign)
{
	struct kvm_ioeventfd io = {
		.datamatch = match, .addr = NOTIFY_GPA, .len = 4, .fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};

	return ioctl(vm, KVM_IOEVENTFD, &io) ? -errno : 0;
}

static int irqfd(int vm, int fd, bool deassign)
{
	struct kvm_irqfd i = {
		.fd = fd, .gsi = GSI,
		.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0,
	};

	return ioctl(vm, KVM_IRQFD, &i) ? -errno : 0;
}

int main(void)
{
	struct vq_driver q[NQ];
	struct vdev_kvm *k, *k2 = NULL;
	struct vdev_mmio *m;
	struct vq_guest g;
	struct tdev d;
	struct vdev_device_info info = {
		.name = "kdev",
		.type = VIRTIO_ID_RNG,
		.features = 1ULL << VIRTIO_F_VERSION_1,
		.queue_sizes = kdev_sizes,
		.nr_queues = NQ,
		.min_queues = 1,
	};
	int kvm, vm, efd, irq, fds0, i, ret;
	bool ok;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(7);
	vdev_test_warm_up();

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		ksft_exit_skip("cannot open /dev/kvm: %s\n", strerror(errno));
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		ksft_exit_skip("KVM_CREATE_VM: %s\n", strerror(errno));
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		ksft_exit_fail_msg("KVM_CREATE_IRQCHIP: %s\n", strerror(errno));

	if (vq_guest_init(&g) || vq_guest_add(&g, RAM_GPA, RAM_SIZE, false))
		ksft_exit_fail_msg("guest RAM\n");
	for (i = 0; i < NQ; i++)
		if (vq_driver_init(&q[i], &g, 0, QSZ, false, 0))
			ksft_exit_fail_msg("queue %d\n", i);
	if (tdev_init(&d, &kdev_ops, &info, "", 0, QMAX))
		ksft_exit_fail_msg("vdev_device_init\n");
	irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	efd = eventfd(0, EFD_CLOEXEC);
	if (irq < 0 || efd < 0)
		ksft_exit_fail_msg("eventfd: %s\n", strerror(errno));
	ret = vdev_mmio_create(&d.dev, g.mem, irq, &m);
	if (ret)
		ksft_exit_fail_msg("vdev_mmio_create: %s\n", strerror(-ret));
	fds0 = vdev_test_count_fds();

	ret = vdev_kvm_attach(vm, m, MMIO_BASE, GSI, &k);
	ksft_test_result(ret == 0, "attach: %d\n", ret);
	if (ret)
		ksft_exit_fail_msg("nothing to test without an attach\n");

	/* Each queue's doorbell is taken; another datamatch is free. */
	ksft_test_result(ioeventfd(vm, efd, 0, false) == -EEXIST &&
			 ioeventfd(vm, efd, NQ - 1, false) == -EEXIST &&
			 ioeventfd(vm, efd, NQ, false) == 0 &&
			 ioeventfd(vm, efd, NQ, true) == 0 &&
			 irqfd(vm, vdev_mmio_irq_fd(m), false) == -EBUSY,
			 "every QueueNotify doorbell and the irqfd registered\n");

	/* A second transport on the same window: refused, nothing left. */
	ret = vdev_kvm_attach(vm, m, MMIO_BASE, GSI, &k2);
	ksft_test_result(ret == -EEXIST && !k2 &&
			 vdev_test_count_fds() == fds0 + NQ + 2,
			 "second attach on the same window: %d, no fd kept\n",
			 ret);

	/* Everything deassigned: the same registrations succeed now. */
	vdev_kvm_detach(k);
	ok = vdev_test_count_fds() == fds0;
	for (i = 0; i < NQ; i++)
		ok &= ioeventfd(vm, efd, i, false) == 0 &&
		      ioeventfd(vm, efd, i, true) == 0;
	ok &= irqfd(vm, vdev_mmio_irq_fd(m), false) == 0 &&
	      irqfd(vm, vdev_mmio_irq_fd(m), true) == 0;
	ksft_test_result(ok, "detach: every registration and dup released\n");

	/* Registrations survive a guest reset (the eventfds stay). */
	ret = vdev_kvm_attach(vm, m, MMIO_BASE, GSI, &k);
	ksft_test_result(ret == 0 && probe(m, q) == S_RUNNING,
			 "attach again, device running: %d\n", ret);
	wr(m, VIRTIO_MMIO_STATUS, 0);
	ksft_test_result(!rd(m, VIRTIO_MMIO_STATUS) &&
			 ioeventfd(vm, efd, 0, false) == -EEXIST &&
			 irqfd(vm, vdev_mmio_irq_fd(m), false) == -EBUSY,
			 "registrations survive a guest reset\n");

	/* Detach works after the VM fd was closed by the VMM. */
	close(vm);
	if (!ret)
		vdev_kvm_detach(k);
	ksft_test_result(vdev_test_count_fds() == fds0 - 1,
			 "detach after the VM fd was closed: %d fds, want %d\n",
			 vdev_test_count_fds(), fds0 - 1);

	vdev_mmio_destroy(m);
	vdev_device_put(&d.dev);
	close(efd);
	close(irq);
	close(kvm);
	for (i = 0; i < NQ; i++)
		vq_driver_destroy(&q[i]);
	vq_guest_destroy(&g);
	ksft_finished();
}
