// SPDX-License-Identifier: GPL-2.0
/*
 * KVM glue for the virtio-mmio transport (ioeventfds on QueueNotify and an
 * irqfd for the interrupt) and for the virtio-pci transport (an ioeventfd
 * per queue on its notify address, MSI routes and irqfds per MSI-X vector,
 * the INTx irqfd with its resample thread). See Documentation/mmio.rst
 * and Documentation/pci.rst for the wiring and the teardown order.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kcmp.h>
#include <linux/kvm.h>
#include <linux/virtio_mmio.h>

#include <vdev/kvm.h>
#include <vdev/log.h>
#include <vdev/mmio.h>
#include <vdev/pci.h>

#include "eventfd_priv.h"

/*
 * struct vdev_kvm - one transport's registrations on one VM
 * @vm_fd: vdev's dup of the VM fd
 * @notify_addr: guest-physical address of QueueNotify
 * @gsi: interrupt line
 * @irq_fd: vdev's dup of the interrupt eventfd
 * @irqfd_assigned: KVM_IRQFD done
 * @nr_queues: entries in @notify_fds
 * @nr_assigned: ioeventfds registered, for queues 0 .. @nr_assigned - 1
 * @notify_fds: vdev's dups of the queue notify eventfds
 */
struct vdev_kvm {
	int vm_fd;
	uint64_t notify_addr;
	unsigned int gsi;
	int irq_fd;
	bool irqfd_assigned;
	unsigned int nr_queues;
	unsigned int nr_assigned;
	int notify_fds[];
};

static int kvm_ioeventfd(struct vdev_kvm *k, unsigned int queue, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = queue,
		.addr = k->notify_addr,
		.len = 4,
		.fd = k->notify_fds[queue],
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}

static int kvm_irqfd(struct vdev_kvm *k, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)k->irq_fd,
		.gsi = k->gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	return 0;
}

static int dup_fd(int fd)
{
	int ret = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	return ret < 0 ? -errno : ret;
}

static void kvm_free(struct vdev_kvm *k)
{
	unsigned int i;

	for (i = 0; i < k->nr_queues; i++)
		if (k->notify_fds[i] >= 0)
			close(k->notify_fds[i]);
	if (k->irq_fd >= 0)
		close(k->irq_fd);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	free(k);
}

/* Deassign in the reverse order of attach. */
static void kvm_deassign(struct vdev_kvm *k)
{
	int ret;

	if (k->irqfd_assigned) {
		ret = kvm_irqfd(k, false);
		if (ret)
			vdev_log(VDEV_LOG_WARN, "kvm: irqfd deassign gsi %u: %d",
				 k->gsi, ret);
		k->irqfd_assigned = false;
	}
	while (k->nr_assigned) {
		ret = kvm_ioeventfd(k, --k->nr_assigned, false);
		if (ret)
			vdev_log(VDEV_LOG_WARN,
				 "kvm: ioeventfd deassign queue %u: %d",
				 k->nr_assigned, ret);
	}
}

/**
 * vdev_kvm_attach() - register a transport's eventfds with a KVM VM
 * @vm_fd: the VM (from KVM_CREATE_VM); vdev keeps its own dup until detach
 * @mmio: the transport
 * @mmio_base: guest-physical base of the transport's register window
 * @gsi: the GSI the device's interrupt is wired to (e.g. an IOAPIC pin
 *       with the in-kernel irqchip)
 * @kp: on success the registration
 *
 * Registers, for every queue of @mmio, a 4-byte KVM_IOEVENTFD at
 * @mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY matching the queue index, and a
 * KVM_IRQFD for the transport's interrupt eventfd on @gsi. vdev dups every
 * fd it registers, so vdev_kvm_detach() works whatever was closed before.
 * On failure nothing stays registered.
 *
 * Return: 0; -EINVAL for bad arguments; -ENOMEM; -errno from the ioctls
 * (-ENOTTY or -EBADF when @vm_fd is not a VM, -EEXIST when the address is
 * taken, -EBUSY when the eventfd already backs an irqfd).
 */
int vdev_kvm_attach(int vm_fd, struct vdev_mmio *mmio, uint64_t mmio_base,
		    unsigned int gsi, struct vdev_kvm **kp)
{
	unsigned int i, nr;
	struct vdev_kvm *k;
	int ret;

	if (!mmio || !kp || vm_fd < 0 ||
	    mmio_base > UINT64_MAX - VDEV_MMIO_SIZE)
		return -EINVAL;
	nr = vdev_mmio_nr_queues(mmio);
	k = calloc(1, sizeof(*k) + nr * sizeof(k->notify_fds[0]));
	if (!k)
		return -ENOMEM;
	k->irq_fd = -1;
	k->nr_queues = nr;
	k->gsi = gsi;
	k->notify_addr = mmio_base + VIRTIO_MMIO_QUEUE_NOTIFY;
	for (i = 0; i < nr; i++)
		k->notify_fds[i] = -1;

	k->vm_fd = dup_fd(vm_fd);
	if (k->vm_fd < 0) {
		ret = k->vm_fd;
		vdev_log(VDEV_LOG_ERR, "kvm: bad VM fd %d: %d", vm_fd, ret);
		goto out_free;
	}
	k->irq_fd = dup_fd(vdev_mmio_irq_fd(mmio));
	if (k->irq_fd < 0) {
		ret = k->irq_fd;
		goto out_free;
	}
	for (i = 0; i < nr; i++) {
		k->notify_fds[i] = dup_fd(vdev_mmio_queue_notify_fd(mmio, i));
		if (k->notify_fds[i] < 0) {
			ret = k->notify_fds[i];
			goto out_free;
		}
	}

	for (i = 0; i < nr; i++) {
		ret = kvm_ioeventfd(k, i, true);
		if (ret) {
			vdev_log(VDEV_LOG_ERR,
				 "kvm: KVM_IOEVENTFD at %#llx queue %u: %d",
				 (unsigned long long)k->notify_addr, i, ret);
			goto out_deassign;
		}
		k->nr_assigned++;
	}
	ret = kvm_irqfd(k, true);
	if (ret) {
		vdev_log(VDEV_LOG_ERR, "kvm: KVM_IRQFD on gsi %u: %d", gsi, ret);
		goto out_deassign;
	}
	k->irqfd_assigned = true;
	*kp = k;
	return 0;

out_deassign:
	kvm_deassign(k);
out_free:
	kvm_free(k);
	return ret;
}

/**
 * vdev_kvm_detach() - deassign what vdev_kvm_attach() registered
 * @k: the registration, or NULL
 *
 * Deassigns the irqfd and every ioeventfd (KVM_IRQFD_FLAG_DEASSIGN,
 * KVM_IOEVENTFD_FLAG_DEASSIGN), closes vdev's dups and frees @k. Call it
 * before vdev_mmio_destroy() so that no guest notification is swallowed
 * by an eventfd nobody reads.
 */
void vdev_kvm_detach(struct vdev_kvm *k)
{
	if (!k)
		return;
	kvm_deassign(k);
	kvm_free(k);
}

/* ---- virtio-pci ---- */

/*
 * KVM's default GSI routing with the in-kernel irqchip
 * (arch/x86/kvm/irq_comm.c, kvm_setup_default_irq_routing()): GSI 0-15 go
 * to the IOAPIC pin and the PIC pin of the same number, GSI 16-23 to the
 * IOAPIC only. KVM_SET_GSI_ROUTING replaces the whole table, so every
 * table this glue sets starts with these.
 */
#define KVM_PCI_IOAPIC_PINS	24
#define KVM_PCI_PIC_PINS	16
#define KVM_PCI_LEGACY_ROUTES	(KVM_PCI_IOAPIC_PINS + KVM_PCI_PIC_PINS)
/* KVM_MAX_IRQ_ROUTES: GSIs are below it. */
#define KVM_PCI_MAX_GSI		4096

/* Name of the INTx resample thread (not "vdev-": no device worker). */
#define KVM_PCI_THREAD_NAME	"vkvm-resample"

/**
 * struct kvm_pci_msg - the last MSI-X message of one vector
 * @addr: message address (0: never written, no route)
 * @data: message data
 */
struct kvm_pci_msg {
	uint64_t addr;
	uint32_t data;
};

/*
 * struct vdev_kvm_pci - one virtio-pci transport's registrations on a VM
 * @vm_fd: vdev's dup of the VM fd
 * @pci: the transport (not referenced: detach comes before its destroy)
 * @intx_gsi: GSI (IOAPIC pin) of INTx
 * @msi_gsi: GSI of MSI-X vector 0; vector v is on @msi_gsi + v
 * @nr_queues: queues of @pci, entries in @notify_fds
 * @nr_vectors: MSI-X vectors of @pci, entries in @vector_fds and @msgs
 * @notify_bar: BAR address the ioeventfds are registered at, or
 *              VDEV_PCI_BAR_UNMAPPED
 * @nr_notify: ioeventfds registered, for queues 0 .. @nr_notify - 1
 * @nr_irqfds: vector irqfds registered, vectors 0 .. @nr_irqfds - 1
 * @next: the next attachment in kvm_pci_list
 * @listed: on kvm_pci_list: the VM's routing table has our MSI routes
 * @intx_assigned: the INTx irqfd (with resample) is registered
 * @thread_started: @thread runs and must be joined
 * @thread: the INTx resample thread
 * @intx_fd: vdev's dup of the INTx eventfd
 * @resample_fd: vdev's dup of its resample eventfd
 * @stop_fd: eventfd that stops @thread
 * @rl: rate limit of the errors the guest can cause (a BAR moved onto
 *      another device's doorbell)
 * @msgs: the MSI-X messages, as vector_changed reported them (under
 *        kvm_pci_lock)
 * @notify_fds: vdev's dups of the queue notify eventfds
 * @vector_fds: vdev's dups of the vector eventfds
 *
 * The callbacks (vdev_kvm_pci_bar_moved(), vdev_kvm_pci_vector_changed())
 * run under the transport's lock, which serialises them; attach and
 * detach run while no vCPU can reach the transport. The routing table is
 * the VM's, shared by every attachment on it: see kvm_pci_list.
 */
struct vdev_kvm_pci {
	int vm_fd;
	struct vdev_pci *pci;
	unsigned int intx_gsi;
	unsigned int msi_gsi;
	unsigned int nr_queues;
	unsigned int nr_vectors;
	uint64_t notify_bar;
	unsigned int nr_notify;
	unsigned int nr_irqfds;
	struct vdev_kvm_pci *next;
	bool listed;
	bool intx_assigned;
	bool thread_started;
	pthread_t thread;
	int intx_fd;
	int resample_fd;
	int stop_fd;
	struct vdev_ratelimit rl;
	struct kvm_pci_msg *msgs;
	int *notify_fds;
	int *vector_fds;
};

static int kvm_pci_ioeventfd(struct vdev_kvm_pci *k, unsigned int queue,
			     uint64_t bar, bool assign)
{
	/*
	 * One address per queue (queue_notify_off = queue), so no
	 * datamatch, and length 0, which matches a write of any width
	 * (KVM_CAP_IOEVENTFD_ANY_LENGTH, Linux 4.4): the driver writes 16
	 * bits, the queue index, or with VIRTIO_F_NOTIFICATION_DATA 32
	 * bits, the index and the next available position, and vdev reads
	 * neither. The feature is negotiated long after the BAR is mapped,
	 * so one registration serves both forms. A zero-length ioeventfd
	 * also takes KVM's fast MMIO path on x86 (no instruction decode).
	 */
	struct kvm_ioeventfd io = {
		.addr = bar + vdev_pci_notify_offset(k->pci, queue),
		.len = 0,
		.fd = k->notify_fds[queue],
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	if (ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}

static void kvm_pci_notify_deassign(struct vdev_kvm_pci *k)
{
	int ret;

	while (k->nr_notify) {
		k->nr_notify--;
		ret = kvm_pci_ioeventfd(k, k->nr_notify, k->notify_bar, false);
		if (ret)
			vdev_log(VDEV_LOG_WARN,
				 "kvm-pci: ioeventfd deassign queue %u at %#llx: %d",
				 k->nr_notify, (unsigned long long)k->notify_bar,
				 ret);
	}
	k->notify_bar = VDEV_PCI_BAR_UNMAPPED;
}

/* Every queue's ioeventfd at @bar, or none (and -errno). */
static int kvm_pci_notify_assign(struct vdev_kvm_pci *k, uint64_t bar)
{
	int ret;

	k->notify_bar = bar;
	while (k->nr_notify < k->nr_queues) {
		ret = kvm_pci_ioeventfd(k, k->nr_notify, bar, true);
		if (ret) {
			kvm_pci_notify_deassign(k);
			return ret;
		}
		k->nr_notify++;
	}
	return 0;
}

static void kvm_pci_route_irqchip(struct kvm_irq_routing_entry *e,
				  unsigned int gsi, unsigned int chip,
				  unsigned int pin)
{
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/*
 * KVM_SET_GSI_ROUTING replaces a VM's whole table, so the attachments on
 * one VM (one per virtio-pci function) share it: every attachment is on
 * this list from attach to detach, and each table set holds KVM's
 * default legacy entries plus the MSI entries of every attachment on the
 * same VM. Two fds are the same VM when kcmp(KCMP_FILE) says they are
 * the same open file (each attachment holds its own dup). The lock
 * covers the list, every attachment's @msgs and the ioctl.
 */
static pthread_mutex_t kvm_pci_lock;
static pthread_once_t kvm_pci_lock_once = PTHREAD_ONCE_INIT;
static struct vdev_kvm_pci *kvm_pci_list;

/*
 * A mutex (it is held across the ioctl), set up once: glibc's
 * PTHREAD_MUTEX_INITIALIZER upsets sparse.
 */
static void kvm_pci_lock_init(void)
{
	pthread_mutex_init(&kvm_pci_lock, NULL);
}

static void kvm_pci_lock_take(void)
{
	pthread_once(&kvm_pci_lock_once, kvm_pci_lock_init);
	pthread_mutex_lock(&kvm_pci_lock);
}

static bool kvm_pci_same_vm(const struct vdev_kvm_pci *a,
			    const struct vdev_kvm_pci *b)
{
	pid_t pid = getpid();

	return a->vm_fd == b->vm_fd ||
	       !syscall(SYS_kcmp, pid, pid, KCMP_FILE, a->vm_fd, b->vm_fd);
}

/*
 * Set the routing table of @k's VM from every listed attachment on it
 * (@k need not be listed: detach drops its routes this way).
 */
static int kvm_pci_set_routing_locked(struct vdev_kvm_pci *k)
{
	struct kvm_irq_routing_entry *e;
	struct kvm_irq_routing *r;
	struct vdev_kvm_pci *m;
	unsigned int gsi, v, n = 0, max = KVM_PCI_LEGACY_ROUTES;
	int ret = 0;

	for (m = kvm_pci_list; m; m = m->next)
		if (kvm_pci_same_vm(k, m))
			max += m->nr_vectors;
	r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
	if (!r)
		return -ENOMEM;
	e = r->entries;
	for (gsi = 0; gsi < KVM_PCI_IOAPIC_PINS; gsi++) {
		kvm_pci_route_irqchip(&e[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi);
		if (gsi < KVM_PCI_PIC_PINS)
			kvm_pci_route_irqchip(&e[n++], gsi, gsi < 8 ?
					      KVM_IRQCHIP_PIC_MASTER :
					      KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
	}
	for (m = kvm_pci_list; m; m = m->next) {
		if (!kvm_pci_same_vm(k, m))
			continue;
		for (v = 0; v < m->nr_vectors && n < max; v++) {
			if (!m->msgs[v].addr)
				continue;
			e[n].gsi = m->msi_gsi + v;
			e[n].type = KVM_IRQ_ROUTING_MSI;
			e[n].u.msi.address_lo = (uint32_t)m->msgs[v].addr;
			e[n].u.msi.address_hi = m->msgs[v].addr >> 32;
			e[n].u.msi.data = m->msgs[v].data;
			n++;
		}
	}
	r->nr = n;
	if (ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
		ret = -errno;
	free(r);
	return ret;
}

/*
 * Put @k on the list, unless another attachment on its VM already routes
 * one of its MSI GSIs: -EBUSY. (INTx lines may be shared, as on a PCI
 * bus: KVM shares a resampler between the irqfds of one GSI.)
 */
static int kvm_pci_list_add(struct vdev_kvm_pci *k)
{
	struct vdev_kvm_pci *m;
	int ret = 0;

	kvm_pci_lock_take();
	for (m = kvm_pci_list; m; m = m->next) {
		if (!kvm_pci_same_vm(k, m))
			continue;
		if (k->msi_gsi < m->msi_gsi + m->nr_vectors &&
		    m->msi_gsi < k->msi_gsi + k->nr_vectors) {
			ret = -EBUSY;
			break;
		}
	}
	if (!ret) {
		k->next = kvm_pci_list;
		kvm_pci_list = k;
		k->listed = true;
	}
	pthread_mutex_unlock(&kvm_pci_lock);
	return ret;
}

/* Take @k off the list and its MSI routes out of its VM's table. */
static int kvm_pci_list_del(struct vdev_kvm_pci *k)
{
	struct vdev_kvm_pci **pp;
	int ret;

	kvm_pci_lock_take();
	for (pp = &kvm_pci_list; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	k->listed = false;
	ret = kvm_pci_set_routing_locked(k);
	pthread_mutex_unlock(&kvm_pci_lock);
	return ret;
}

static int kvm_pci_set_routing(struct vdev_kvm_pci *k)
{
	int ret;

	kvm_pci_lock_take();
	ret = kvm_pci_set_routing_locked(k);
	pthread_mutex_unlock(&kvm_pci_lock);
	return ret;
}

static int kvm_pci_irqfd(struct vdev_kvm_pci *k, int fd, unsigned int gsi,
			 int resample_fd, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
	};

	if (!assign) {
		irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	} else if (resample_fd >= 0) {
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = (uint32_t)resample_fd;
	}
	if (ioctl(k->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	return 0;
}

/*
 * KVM lowered INTx at the guest's EOI and signalled the resample fd: let
 * the transport raise it again if ISR is still set.
 */
static void *kvm_pci_resample_thread(void *arg)
{
	struct vdev_kvm_pci *k = arg;
	struct pollfd pfd[2] = {
		{ .fd = k->resample_fd, .events = POLLIN },
		{ .fd = k->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			vdev_log(VDEV_LOG_ERR, "kvm-pci: resample poll: %d",
				 -errno);
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN)
			vdev_pci_intx_resample(k->pci);
	}
	return NULL;
}

static int kvm_pci_thread_start(struct vdev_kvm_pci *k)
{
	sigset_t all, old;
	int ret;

	/* The thread takes no signal: they stay the VMM's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&k->thread, NULL, kvm_pci_resample_thread, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return ret;
	pthread_setname_np(k->thread, KVM_PCI_THREAD_NAME);
	k->thread_started = true;
	return 0;
}

static void kvm_pci_thread_stop(struct vdev_kvm_pci *k)
{
	int ret;

	if (!k->thread_started)
		return;
	ret = eventfd_kick(k->stop_fd);
	if (ret)
		vdev_log(VDEV_LOG_ERR, "kvm-pci: cannot stop resample thread: %d",
			 ret);
	else
		pthread_join(k->thread, NULL);
	k->thread_started = false;
}

/* Take down everything registered, in the reverse order of attach. */
static void kvm_pci_deassign(struct vdev_kvm_pci *k)
{
	int ret;

	if (k->intx_assigned) {
		ret = kvm_pci_irqfd(k, k->intx_fd, k->intx_gsi, -1, false);
		if (ret)
			vdev_log(VDEV_LOG_WARN,
				 "kvm-pci: INTx irqfd deassign gsi %u: %d",
				 k->intx_gsi, ret);
		k->intx_assigned = false;
	}
	kvm_pci_thread_stop(k);
	if (k->listed) {
		ret = kvm_pci_list_del(k);
		if (ret)
			vdev_log(VDEV_LOG_WARN,
				 "kvm-pci: cannot drop the MSI routes: %d", ret);
	}
	while (k->nr_irqfds) {
		k->nr_irqfds--;
		ret = kvm_pci_irqfd(k, k->vector_fds[k->nr_irqfds],
				    k->msi_gsi + k->nr_irqfds, -1, false);
		if (ret)
			vdev_log(VDEV_LOG_WARN,
				 "kvm-pci: irqfd deassign vector %u: %d",
				 k->nr_irqfds, ret);
	}
	kvm_pci_notify_deassign(k);
}

static void kvm_pci_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void kvm_pci_free(struct vdev_kvm_pci *k)
{
	unsigned int i;

	for (i = 0; k->notify_fds && i < k->nr_queues; i++)
		kvm_pci_close(&k->notify_fds[i]);
	for (i = 0; k->vector_fds && i < k->nr_vectors; i++)
		kvm_pci_close(&k->vector_fds[i]);
	kvm_pci_close(&k->intx_fd);
	kvm_pci_close(&k->resample_fd);
	kvm_pci_close(&k->stop_fd);
	kvm_pci_close(&k->vm_fd);
	free(k->notify_fds);
	free(k->vector_fds);
	free(k->msgs);
	free(k);
}

/* Allocate @k's arrays and dup every fd it registers. */
static int kvm_pci_dup_fds(struct vdev_kvm_pci *k, int vm_fd)
{
	unsigned int i;

	k->notify_fds = malloc(k->nr_queues * sizeof(*k->notify_fds));
	k->vector_fds = malloc(k->nr_vectors * sizeof(*k->vector_fds));
	k->msgs = calloc(k->nr_vectors, sizeof(*k->msgs));
	if (!k->notify_fds || !k->vector_fds || !k->msgs)
		return -ENOMEM;
	for (i = 0; i < k->nr_queues; i++)
		k->notify_fds[i] = -1;
	for (i = 0; i < k->nr_vectors; i++)
		k->vector_fds[i] = -1;

	k->vm_fd = dup_fd(vm_fd);
	if (k->vm_fd < 0) {
		vdev_log(VDEV_LOG_ERR, "kvm-pci: bad VM fd %d: %d", vm_fd,
			 k->vm_fd);
		return k->vm_fd;
	}
	k->intx_fd = dup_fd(vdev_pci_intx_fd(k->pci));
	if (k->intx_fd < 0)
		return k->intx_fd;
	k->resample_fd = dup_fd(vdev_pci_intx_resample_fd(k->pci));
	if (k->resample_fd < 0)
		return k->resample_fd;
	for (i = 0; i < k->nr_queues; i++) {
		k->notify_fds[i] = dup_fd(vdev_pci_queue_notify_fd(k->pci, i));
		if (k->notify_fds[i] < 0)
			return k->notify_fds[i];
	}
	for (i = 0; i < k->nr_vectors; i++) {
		k->vector_fds[i] = dup_fd(vdev_pci_vector_fd(k->pci, i));
		if (k->vector_fds[i] < 0)
			return k->vector_fds[i];
	}
	k->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (k->stop_fd < 0)
		return -errno;
	return 0;
}

/**
 * vdev_kvm_pci_attach() - wire a virtio-pci transport into a KVM VM
 * @vm_fd: the VM, with the in-kernel irqchip (KVM_CREATE_IRQCHIP); vdev
 *         keeps its own dup until detach
 * @pci: the transport
 * @intx_gsi: the IOAPIC pin INTA# is wired to (below 24)
 * @msi_gsi: the first of vdev_pci_nr_vectors() GSIs for the MSI routes,
 *           vector v on @msi_gsi + v (24 or more: above the legacy ones)
 * @kp: on success the attachment
 *
 * Registers a KVM_IRQFD per MSI-X vector on GSI @msi_gsi + vector, with
 * KVM_SET_GSI_ROUTING keeping KVM's default PIC and IOAPIC routes and
 * adding an MSI route per vector once its message is known (see
 * vdev_kvm_pci_vector_changed()); the INTx irqfd on @intx_gsi with
 * KVM_IRQFD_FLAG_RESAMPLE and a thread ("vkvm-resample") that calls
 * vdev_pci_intx_resample() when KVM signals the resample eventfd; and,
 * while the BAR is decoded, a KVM_IOEVENTFD of any length per queue at
 * vdev_pci_bar_addr() + vdev_pci_notify_offset() (moved by
 * vdev_kvm_pci_bar_moved()). All irqfds stay bound for the attachment's
 * life: vdev writes the vector eventfds only with MSI-X on and a vector
 * unmasked, and the INTx eventfd only with MSI-X off, so the glue needs
 * nothing on msix_changed.
 *
 * The transport's &struct vdev_pci_ops callbacks must forward bar_moved
 * and vector_changed to vdev_kvm_pci_bar_moved() and
 * vdev_kvm_pci_vector_changed(). Attach before the guest programs MSI-X
 * (the transport has no getter for the table: its messages are learnt
 * from the callbacks), with no vCPU running. The attachments on one VM
 * (one per function, each with its own MSI GSI range; INTx GSIs may be
 * shared) share its GSI routing table, which each sets with the MSI
 * routes of all of them; no other user of KVM_SET_GSI_ROUTING. vdev dups
 * every fd it registers; on failure nothing stays registered and no
 * thread runs.
 *
 * Return: 0; -EINVAL for bad arguments (a GSI range that overlaps the
 * legacy GSIs or passes KVM's 4096); -EBUSY when the MSI GSI range
 * overlaps another attachment's on the same VM; -ENOMEM; -errno from the
 * ioctls (-ENOTTY or -EBADF when @vm_fd is not a VM, -EEXIST when a
 * notify address is taken, -EBUSY when an eventfd already backs an irqfd,
 * -ENXIO or -EINVAL without the in-kernel irqchip) or pthread_create().
 */
int vdev_kvm_pci_attach(int vm_fd, struct vdev_pci *pci,
			unsigned int intx_gsi, unsigned int msi_gsi,
			struct vdev_kvm_pci **kp)
{
	struct vdev_ratelimit rl = VDEV_RATELIMIT_INIT(5000, 10);
	struct vdev_kvm_pci *k;
	uint64_t bar;
	int ret;

	if (!pci || !kp || vm_fd < 0 || intx_gsi >= KVM_PCI_IOAPIC_PINS ||
	    msi_gsi < KVM_PCI_IOAPIC_PINS ||
	    msi_gsi > KVM_PCI_MAX_GSI - vdev_pci_nr_vectors(pci))
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->pci = pci;
	k->intx_gsi = intx_gsi;
	k->msi_gsi = msi_gsi;
	k->nr_queues = vdev_pci_nr_queues(pci);
	k->nr_vectors = vdev_pci_nr_vectors(pci);
	k->notify_bar = VDEV_PCI_BAR_UNMAPPED;
	k->rl = rl;
	k->vm_fd = -1;
	k->intx_fd = -1;
	k->resample_fd = -1;
	k->stop_fd = -1;
	ret = kvm_pci_dup_fds(k, vm_fd);
	if (ret)
		goto out_free;
	ret = kvm_pci_list_add(k);
	if (ret) {
		vdev_log(VDEV_LOG_ERR,
			 "kvm-pci: MSI gsis %u-%u overlap another attachment's on this VM",
			 msi_gsi, msi_gsi + k->nr_vectors - 1);
		goto out_free;
	}

	bar = vdev_pci_bar_addr(pci, VDEV_PCI_BAR);
	if (bar != VDEV_PCI_BAR_UNMAPPED) {
		ret = kvm_pci_notify_assign(k, bar);
		if (ret) {
			vdev_log(VDEV_LOG_ERR,
				 "kvm-pci: KVM_IOEVENTFD at BAR %#llx: %d",
				 (unsigned long long)bar, ret);
			goto out_deassign;
		}
	}
	/* The irqfds first: a VM that has them fails before its routes. */
	while (k->nr_irqfds < k->nr_vectors) {
		ret = kvm_pci_irqfd(k, k->vector_fds[k->nr_irqfds],
				    msi_gsi + k->nr_irqfds, -1, true);
		if (ret) {
			vdev_log(VDEV_LOG_ERR,
				 "kvm-pci: KVM_IRQFD vector %u on gsi %u: %d",
				 k->nr_irqfds, msi_gsi + k->nr_irqfds, ret);
			goto out_deassign;
		}
		k->nr_irqfds++;
	}
	ret = kvm_pci_set_routing(k);
	if (ret) {
		vdev_log(VDEV_LOG_ERR, "kvm-pci: KVM_SET_GSI_ROUTING: %d", ret);
		goto out_deassign;
	}
	ret = kvm_pci_thread_start(k);
	if (ret) {
		vdev_log(VDEV_LOG_ERR, "kvm-pci: cannot start %s: %d",
			 KVM_PCI_THREAD_NAME, ret);
		goto out_deassign;
	}
	ret = kvm_pci_irqfd(k, k->intx_fd, intx_gsi, k->resample_fd, true);
	if (ret) {
		vdev_log(VDEV_LOG_ERR,
			 "kvm-pci: KVM_IRQFD (resample) INTx on gsi %u: %d",
			 intx_gsi, ret);
		goto out_deassign;
	}
	k->intx_assigned = true;
	*kp = k;
	return 0;

out_deassign:
	kvm_pci_deassign(k);
out_free:
	kvm_pci_free(k);
	return ret;
}

/**
 * vdev_kvm_pci_bar_moved() - the bar_moved callback's KVM half
 * @k: the attachment, or NULL (not attached yet: nothing to do)
 * @bar: the BAR that moved
 * @old_addr: where it was decoded, or VDEV_PCI_BAR_UNMAPPED
 * @new_addr: where it is decoded now, or VDEV_PCI_BAR_UNMAPPED
 *
 * Call it from &struct vdev_pci_ops.bar_moved. Deassigns the notify
 * ioeventfds from their old addresses and, when the BAR is decoded,
 * assigns them at @new_addr. When the new addresses are taken (the guest
 * moved the BAR onto another doorbell), the error is logged, rate
 * limited, and the queues' notifications reach the VMM as MMIO exits,
 * which it forwards to vdev_pci_bar_write() as any other BAR access.
 *
 * Context: the transport's callback, under its lock.
 */
void vdev_kvm_pci_bar_moved(struct vdev_kvm_pci *k, unsigned int bar,
			    uint64_t old_addr, uint64_t new_addr)
{
	int ret;

	if (!k || bar != VDEV_PCI_BAR || k->notify_bar == new_addr)
		return;
	kvm_pci_notify_deassign(k);
	if (new_addr == VDEV_PCI_BAR_UNMAPPED)
		return;
	ret = kvm_pci_notify_assign(k, new_addr);
	if (ret && vdev_ratelimit_ok(&k->rl))
		vdev_log(VDEV_LOG_WARN,
			 "kvm-pci: BAR moved from %#llx to %#llx: notify ioeventfds not registered: %d",
			 (unsigned long long)old_addr,
			 (unsigned long long)new_addr, ret);
}

/**
 * vdev_kvm_pci_vector_changed() - the vector_changed callback's KVM half
 * @k: the attachment, or NULL (not attached yet: nothing to do)
 * @vector: the MSI-X table entry
 * @addr: its message address
 * @data: its message data
 *
 * Call it from &struct vdev_pci_ops.vector_changed. Rewrites the VM's
 * routing table with the new MSI route of @vector (KVM_SET_GSI_ROUTING,
 * the legacy routes kept); the vector's irqfd follows its route. A
 * message address of 0 removes the route. Errors are logged, rate
 * limited.
 *
 * Context: the transport's callback, under its lock.
 */
void vdev_kvm_pci_vector_changed(struct vdev_kvm_pci *k, unsigned int vector,
				 uint64_t addr, uint32_t data)
{
	int ret;

	if (!k || vector >= k->nr_vectors)
		return;
	kvm_pci_lock_take();
	k->msgs[vector].addr = addr;
	k->msgs[vector].data = data;
	ret = kvm_pci_set_routing_locked(k);
	pthread_mutex_unlock(&kvm_pci_lock);
	if (ret && vdev_ratelimit_ok(&k->rl))
		vdev_log(VDEV_LOG_WARN,
			 "kvm-pci: MSI route of vector %u (%#llx, %#x): %d",
			 vector, (unsigned long long)addr, data, ret);
}

/**
 * vdev_kvm_pci_detach() - take down what vdev_kvm_pci_attach() set up
 * @k: the attachment, or NULL
 *
 * Deassigns the INTx irqfd, joins the resample thread, sets the VM's
 * routing without this attachment's MSI routes (KVM's default one when
 * it was the last on the VM), deassigns the vector
 * irqfds, deassigns the notify ioeventfds, closes vdev's dups and frees @k. Call
 * it with no vCPU running, after the last callback that may use @k and
 * before vdev_pci_destroy(); then close the VM.
 */
void vdev_kvm_pci_detach(struct vdev_kvm_pci *k)
{
	if (!k)
		return;
	kvm_pci_deassign(k);
	kvm_pci_free(k);
}
