// SPDX-License-Identifier: GPL-2.0
/*
 * vdev_kvm_pci_attach() / vdev_kvm_pci_detach() on a real KVM VM fd with
 * an in-kernel irqchip and one vCPU that never runs: the registrations
 * are checked by making the same ones by hand (KVM answers EEXIST for a
 * taken doorbell, EBUSY for an eventfd already behind an irqfd), and the
 * routing table by KVM_IRQ_LINE_STATUS, which is -1 for a GSI without a
 * route and 0 for one that reaches the vCPU's (disabled) local APIC: an
 * MSI route, or an IOAPIC pin the test unmasked with KVM_SET_IRQCHIP.
 *
 * Covered: bad arguments refused with nothing kept; every vector's irqfd
 * and the INTx irqfd bound at attach, the legacy GSIs still routed after
 * MSI routes were added; the notify ioeventfds appear when the VMM maps
 * the BAR (bar_moved), follow it when it moves, go while decode is off
 * and on vdev_pci_reset(), and are registered at once when attach finds
 * the BAR already mapped; a vector gets its MSI route when its message is
 * written and loses it at detach; the resample thread serves the resample
 * eventfd; a second attach on the same VM fails with nothing left; a
 * second function on the same VM, with its own MSI GSIs, gets its routes
 * without taking the first one's (the attachments share the VM's
 * routing table), and an overlapping range is refused; and detach
 * releases every registration, fd and thread, also after the VMM
 * closed its VM fd. The device is the echo device of
 * selftests/core/tdev.h; the guest's MSI-X table writes go through
 * vdev_pci_bar_write() as a vCPU's would. The vnet_* tests deliver real
 * interrupts through these registrations.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include <vdev/vdev.h>
#include <vdev/kvm.h>
#include <vdev/pci.h>

#include "vq_driver.h"	/* before kselftest.h: its ARRAY_SIZE is conditional */
#include "kselftest.h"
#include "vdev_test.h"
#include "core/tdev.h"

#define NQ		TDEV_NQ
#define NV		(NQ + 1)
#define QMAX		64
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	0x100000ULL
#define BAR_A		0xe0000000ULL
#define BAR_B		0x1e0010000ULL	/* above 4 GiB: BAR 1 matters */
#define BAR_C		0xe0100000ULL	/* the second function's */
#define INTX_GSI	11
#define MSI_GSI		32
#define MSI_GSI2	64	/* the second function's, past MSI_GSI + NV */
#define THREAD		"vkvm-resample"

static const uint16_t kdev_sizes[NQ] = { QMAX, QMAX };

static const struct vdev_device_ops kdev_ops = {
	.name = "kdev",
	.read_config = tdev_read_config,
	.activate = tdev_activate,
	.release = tdev_release,
};

/* The VMM's callbacks forward to the glue; NULL before attach. */
static struct vdev_kvm_pci *att;
static unsigned int nr_moves, nr_vector_changes;

static void vmm_bar_moved(struct vdev_pci *pci, void *opaque, unsigned int bar,
			  uint64_t old_addr, uint64_t new_addr)
{
	nr_moves++;
	vdev_kvm_pci_bar_moved(att, bar, old_addr, new_addr);
}

static void vmm_vector_changed(struct vdev_pci *pci, void *opaque,
			       unsigned int vector, uint64_t addr,
			       uint32_t data)
{
	nr_vector_changes++;
	vdev_kvm_pci_vector_changed(att, vector, addr, data);
}

static const struct vdev_pci_ops vmm_ops = {
	.bar_moved = vmm_bar_moved,
	.vector_changed = vmm_vector_changed,
};

/* The second function's callbacks (second_function()). */
static struct vdev_kvm_pci *att2;

static void vmm2_vector_changed(struct vdev_pci *pci, void *opaque,
				unsigned int vector, uint64_t addr,
				uint32_t data)
{
	vdev_kvm_pci_vector_changed(att2, vector, addr, data);
}

static const struct vdev_pci_ops vmm2_ops = {
	.vector_changed = vmm2_vector_changed,
};

static void cfg_wr(struct vdev_pci *p, uint32_t off, uint32_t v,
		   unsigned int len)
{
	vdev_pci_config_write(p, off, &v, len);
}

/* What firmware does: BAR 0/1 at @gpa with decode off, then decode on. */
static void map_bar(struct vdev_pci *p, uint64_t gpa)
{
	cfg_wr(p, PCI_COMMAND, 0, 2);
	cfg_wr(p, PCI_BASE_ADDRESS_0, (uint32_t)gpa, 4);
	cfg_wr(p, PCI_BASE_ADDRESS_1, gpa >> 32, 4);
	cfg_wr(p, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/* A 2-byte ioeventfd at @addr by hand: 0, or -EEXIST when it is taken. */
static int ioeventfd(int vm, int fd, uint64_t addr, bool deassign)
{
	struct kvm_ioeventfd io = {
		.addr = addr, .len = 2, .fd = fd,
		.flags = deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0,
	};

	return ioctl(vm, KVM_IOEVENTFD, &io) ? -errno : 0;
}

/* Every queue's notify address at BAR @bar: all taken (@taken) or free. */
static bool doorbells(int vm, int efd, uint64_t bar, bool taken)
{
	unsigned int q;
	bool ok = true;

	for (q = 0; q < NQ; q++) {
		uint64_t a = bar + VDEV_PCI_NOTIFY_OFFSET +
			     q * VDEV_PCI_NOTIFY_MULTIPLIER;
		int ret = ioeventfd(vm, efd, a, false);

		if (taken) {
			ok &= ret == -EEXIST;
		} else {
			ok &= ret == 0;
			ok &= ioeventfd(vm, efd, a, true) == 0;
		}
	}
	return ok;
}

static int irqfd(int vm, int fd, unsigned int gsi, bool deassign)
{
	struct kvm_irqfd i = {
		.fd = fd, .gsi = gsi,
		.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0,
	};

	return ioctl(vm, KVM_IRQFD, &i) ? -errno : 0;
}

/* Every vector's eventfd and the INTx eventfd behind an irqfd, or none. */
static bool irqfds(int vm, struct vdev_pci *p, bool bound)
{
	unsigned int v;
	bool ok = true;

	for (v = 0; v <= NV; v++) {
		int fd = v < NV ? vdev_pci_vector_fd(p, v) : vdev_pci_intx_fd(p);
		unsigned int gsi = v < NV ? MSI_GSI + v : INTX_GSI;
		int ret = irqfd(vm, fd, gsi, false);

		if (bound) {
			ok &= ret == -EBUSY;
		} else {
			ok &= ret == 0;
			ok &= irqfd(vm, fd, gsi, true) == 0;
		}
	}
	return ok;
}

/* KVM_IRQ_LINE_STATUS: -1 when @gsi has no route, else >= 0. */
static int line_status(int vm, unsigned int gsi)
{
	struct kvm_irq_level l = { .irq = gsi, .level = 1 };
	int status;

	if (ioctl(vm, KVM_IRQ_LINE_STATUS, &l))
		return -1000 - errno;
	status = l.status;
	l.level = 0;
	ioctl(vm, KVM_IRQ_LINE_STATUS, &l);
	return status;
}

/* IOAPIC pins routed to vector 0x40 of APIC 0 (unmasked, edge). */
static const unsigned int legacy_gsis[] = { 0, 4, 9, 15, 16, 20, 23 };

static void ioapic_unmask(int vm)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	unsigned int i;

	if (ioctl(vm, KVM_GET_IRQCHIP, &chip))
		ksft_exit_fail_msg("KVM_GET_IRQCHIP: %s\n", strerror(errno));
	for (i = 0; i < ARRAY_SIZE(legacy_gsis); i++)
		chip.chip.ioapic.redirtbl[legacy_gsis[i]].bits = 0x40;
	if (ioctl(vm, KVM_SET_IRQCHIP, &chip))
		ksft_exit_fail_msg("KVM_SET_IRQCHIP: %s\n", strerror(errno));
}

/* KVM's default routes of the legacy GSIs are all there. */
static bool legacy_routed(int vm)
{
	unsigned int i;
	bool ok = true;

	for (i = 0; i < ARRAY_SIZE(legacy_gsis); i++)
		ok &= line_status(vm, legacy_gsis[i]) >= 0;
	return ok;
}

/* MSI-X table entry @v through the BAR, as a vCPU writes it. */
static void write_vector(struct vdev_pci *p, unsigned int v, uint64_t addr,
			 uint32_t data)
{
	uint64_t off = VDEV_PCI_MSIX_TABLE_OFFSET + 16 * v;
	uint32_t lo = addr, hi = addr >> 32;

	vdev_pci_bar_write(p, 0, off, &lo, 4);
	vdev_pci_bar_write(p, 0, off + 4, &hi, 4);
	vdev_pci_bar_write(p, 0, off + 8, &data, 4);
}

/* Up to 1 s for the resample eventfd to be drained (by the thread). */
static bool resample_served(struct vdev_pci *p)
{
	struct pollfd pfd = { .fd = vdev_pci_intx_resample_fd(p),
			      .events = POLLIN };
	uint64_t one = 1;
	int i;

	if (write(pfd.fd, &one, sizeof(one)) != sizeof(one))
		return false;
	for (i = 0; i < 1000; i++) {
		if (poll(&pfd, 1, 0) == 0)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * A second function on @vm while the first one's vectors 0 and NV - 1
 * are routed: attached on MSI GSIs that overlap the first one's, it is
 * refused; on its own (MSI_GSI2, INTx shared) its vector 0 gets a route
 * and the first one's keep theirs; its detach takes its route only.
 */
static bool second_function(int vm, struct vq_guest *g,
			    const struct vdev_device_info *info)
{
	int overlap, ret, first = -1, second = -1, first_after = -1;
	int second_after = 0;
	struct vdev_kvm_pci *k = NULL;
	struct vdev_pci *p2;
	struct tdev d2;

	if (tdev_init(&d2, &kdev_ops, info, "", 0, QMAX))
		return false;
	ret = vdev_pci_create(&d2.dev, g->mem, &vmm2_ops, NULL, &p2);
	if (ret) {
		vdev_device_put(&d2.dev);
		return false;
	}
	overlap = vdev_kvm_pci_attach(vm, p2, INTX_GSI, MSI_GSI + NV - 1, &k);
	if (!overlap)
		vdev_kvm_pci_detach(k);
	ret = vdev_kvm_pci_attach(vm, p2, INTX_GSI, MSI_GSI2, &att2);
	if (!ret) {
		map_bar(p2, BAR_C);	/* the MSI-X table is in the BAR */
		write_vector(p2, 0, 0xfee00000, 0x43);
		second = line_status(vm, MSI_GSI2);
		first = line_status(vm, MSI_GSI) >= 0 &&
			line_status(vm, MSI_GSI + NV - 1) >= 0;
		vdev_kvm_pci_detach(att2);
		att2 = NULL;
		second_after = line_status(vm, MSI_GSI2);
		first_after = line_status(vm, MSI_GSI) >= 0 &&
			      line_status(vm, MSI_GSI + NV - 1) >= 0;
	}
	vdev_pci_destroy(p2);
	vdev_device_put(&d2.dev);
	ksft_print_msg("second function: overlapping attach %d, attach %d; its vector %d, the first's %s; after its detach: its vector %d, the first's %s\n",
		       overlap, ret, second, first == 1 ? "routed" : "NOT routed",
		       second_after, first_after == 1 ? "routed" : "NOT routed");
	return overlap == -EBUSY && !ret && second >= 0 && first == 1 &&
	       second_after == -1 && first_after == 1;
}

int main(void)
{
	struct vdev_kvm_pci *k2 = (void *)1;
	struct vdev_pci *p;
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
	int kvm, vm, vcpu, efd, fds0, tasks0, ret, r1, r2, r3;
	uint64_t drain;
	bool ok;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(12);
	vdev_test_warm_up();

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		ksft_exit_skip("cannot open /dev/kvm: %s\n", strerror(errno));
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		ksft_exit_skip("KVM_CREATE_VM: %s\n", strerror(errno));
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		ksft_exit_fail_msg("KVM_CREATE_IRQCHIP: %s\n", strerror(errno));
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		ksft_exit_fail_msg("KVM_CREATE_VCPU: %s\n", strerror(errno));
	ioapic_unmask(vm);
	if (!legacy_routed(vm) || line_status(vm, MSI_GSI) != -1)
		ksft_exit_fail_msg("KVM_IRQ_LINE_STATUS cannot tell routes apart\n");

	if (vq_guest_init(&g) || vq_guest_add(&g, RAM_GPA, RAM_SIZE, false))
		ksft_exit_fail_msg("guest RAM\n");
	if (tdev_init(&d, &kdev_ops, &info, "", 0, QMAX))
		ksft_exit_fail_msg("vdev_device_init\n");
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		ksft_exit_fail_msg("eventfd: %s\n", strerror(errno));
	ret = vdev_pci_create(&d.dev, g.mem, &vmm_ops, NULL, &p);
	if (ret)
		ksft_exit_fail_msg("vdev_pci_create: %s\n", strerror(-ret));
	fds0 = vdev_test_count_fds();
	tasks0 = vdev_test_count_tasks();

	r1 = vdev_kvm_pci_attach(vm, p, 24, MSI_GSI, &k2);
	r2 = vdev_kvm_pci_attach(vm, p, INTX_GSI, 23, &k2);
	r3 = vdev_kvm_pci_attach(efd, p, INTX_GSI, MSI_GSI, &k2);
	ksft_test_result(r1 == -EINVAL && r2 == -EINVAL && r3 < 0 &&
			 k2 == (void *)1 && vdev_test_count_fds() == fds0 &&
			 vdev_test_count_tasks() == tasks0,
			 "bad arguments: INTx GSI 24 %d, MSI GSI 23 %d, not a VM %d; nothing kept\n",
			 r1, r2, r3);

	ret = vdev_kvm_pci_attach(vm, p, INTX_GSI, MSI_GSI, &att);
	ksft_test_result(ret == 0 && irqfds(vm, p, true) &&
			 doorbells(vm, efd, BAR_A, false) &&
			 vdev_test_count_threads_named(THREAD) == 1,
			 "attach: %d; %d vector irqfds and INTx bound, no doorbell while the BAR is unmapped, one %s thread\n",
			 ret, NV, THREAD);
	if (ret)
		ksft_exit_fail_msg("nothing to test without an attach\n");

	map_bar(p, BAR_A);
	ksft_test_result(vdev_pci_bar_addr(p, 0) == BAR_A &&
			 doorbells(vm, efd, BAR_A, true),
			 "BAR mapped at 0x%llx (%u moves): every queue's doorbell registered\n",
			 BAR_A, nr_moves);

	map_bar(p, BAR_B);
	ok = doorbells(vm, efd, BAR_B, true) &&
	     doorbells(vm, efd, BAR_A, false);
	cfg_wr(p, PCI_COMMAND, 0, 2);
	ok &= doorbells(vm, efd, BAR_B, false);
	cfg_wr(p, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	ok &= doorbells(vm, efd, BAR_B, true);
	ksft_test_result(ok, "doorbells follow the BAR to 0x%llx, leave with decode off, come back with it\n",
			 BAR_B);

	ok = line_status(vm, MSI_GSI) == -1 && line_status(vm, MSI_GSI + 1) == -1;
	write_vector(p, 0, 0xfee00000, 0x42);
	write_vector(p, NV - 1, 0xfee00000, 0x41);
	ksft_test_result(ok && nr_vector_changes >= 2 && legacy_routed(vm) &&
			 line_status(vm, MSI_GSI) >= 0 &&
			 line_status(vm, MSI_GSI + NV - 1) >= 0 &&
			 line_status(vm, MSI_GSI + 1) == -1,
			 "%u MSI route updates: written vectors routed, vector 1 not yet, legacy GSIs still routed\n",
			 nr_vector_changes);

	ksft_test_result(resample_served(p),
			 "the resample thread serves the resample eventfd\n");

	/*
	 * A second attach on the same VM, BAR unmapped so that it gets to
	 * the irqfds: they are taken, and it fails before it could replace
	 * the routing table.
	 */
	k2 = NULL;
	cfg_wr(p, PCI_COMMAND, 0, 2);
	ret = vdev_kvm_pci_attach(vm, p, INTX_GSI, MSI_GSI, &k2);
	cfg_wr(p, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	ksft_test_result(ret == -EBUSY && !k2 &&
			 vdev_test_count_threads_named(THREAD) == 1 &&
			 legacy_routed(vm) && doorbells(vm, efd, BAR_B, true) &&
			 irqfds(vm, p, true),
			 "second attach: %d, the first one's registrations intact\n",
			 ret);

	ksft_test_result(second_function(vm, &g, &info) && legacy_routed(vm),
			 "a second function on the VM: its own MSI routes, the first one's kept\n");

	vdev_pci_reset(p);
	ksft_test_result(vdev_pci_bar_addr(p, 0) == VDEV_PCI_BAR_UNMAPPED &&
			 doorbells(vm, efd, BAR_B, false) && irqfds(vm, p, true),
			 "vdev_pci_reset(): doorbells gone with the BAR, irqfds stay\n");

	vdev_kvm_pci_detach(att);
	att = NULL;
	ok = vdev_test_count_fds() == fds0 &&
	     vdev_test_settle_tasks_ms(tasks0, 1000) == tasks0 &&
	     !vdev_test_count_threads_named(THREAD) && irqfds(vm, p, false) &&
	     legacy_routed(vm) && line_status(vm, MSI_GSI) == -1 &&
	     !resample_served(p);
	while (read(vdev_pci_intx_resample_fd(p), &drain, sizeof(drain)) > 0)
		;
	ksft_test_result(ok, "detach: irqfds, MSI routes, thread and dups released (fds %d, threads %d)\n",
			 vdev_test_count_fds(), vdev_test_count_tasks());

	/* Attach to a function whose BAR is mapped: doorbells at once. */
	map_bar(p, BAR_A);
	ret = vdev_kvm_pci_attach(vm, p, INTX_GSI, MSI_GSI, &att);
	ksft_test_result(ret == 0 && doorbells(vm, efd, BAR_A, true) &&
			 irqfds(vm, p, true),
			 "attach with the BAR mapped: %d, doorbells registered\n",
			 ret);

	/* Detach after the VMM closed its VM fd: the dup keeps it alive. */
	close(vcpu);
	close(vm);
	if (!ret)
		vdev_kvm_pci_detach(att);
	att = NULL;
	ksft_test_result(vdev_test_count_fds() == fds0 - 2 &&
			 vdev_test_settle_tasks_ms(tasks0, 1000) == tasks0,
			 "detach after the VM fd was closed: %d fds, want %d\n",
			 vdev_test_count_fds(), fds0 - 2);

	vdev_pci_destroy(p);
	vdev_device_put(&d.dev);
	close(efd);
	close(kvm);
	vq_guest_destroy(&g);
	ksft_finished();
}
