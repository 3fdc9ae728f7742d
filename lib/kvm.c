// SPDX-License-Identifier: GPL-2.0
/*
 * KVM glue for the virtio-mmio transport: ioeventfds on QueueNotify and an
 * irqfd for the interrupt. See Documentation/mmio.rst for the wiring and
 * the teardown order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/virtio_mmio.h>

#include <vdev/kvm.h>
#include <vdev/log.h>
#include <vdev/mmio.h>

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
