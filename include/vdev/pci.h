/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-pci transport, modern (non-transitional) device only (VIRTIO 1.2,
 * section 4.1): a type 0 PCI function with the virtio vendor capabilities,
 * MSI-X and INTx, and one 64-bit memory BAR holding the virtio structures,
 * the MSI-X table and the PBA. The VMM forwards the guest's configuration
 * space accesses (port 0xCF8/0xCFC or ECAM) to vdev_pci_config_read() /
 * vdev_pci_config_write() and its accesses to the BAR to vdev_pci_bar_read()
 * / vdev_pci_bar_write(). Queue notifications may bypass exits through the
 * per-queue eventfds (KVM_IOEVENTFD on the address of
 * vdev_pci_notify_offset()); interrupts leave through one eventfd per
 * MSI-X vector (KVM_IRQFD on an MSI route) or, with MSI-X off, the INTx
 * eventfd and its resample partner (KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE).
 * Register layouts are those of <linux/virtio_pci.h> and
 * <linux/pci_regs.h>. Documentation/pci.rst describes the layout, the
 * register and state rules.
 */
#ifndef _VDEV_PCI_H
#define _VDEV_PCI_H

#include <stdbool.h>
#include <stdint.h>

struct vdev_device;
struct vdev_mem;
struct vdev_pci;

/* Red Hat / Qumranet, the virtio vendor (VIRTIO 1.2, 4.1.2). */
#define VDEV_PCI_VENDOR_ID		0x1af4
/* Modern device ids: 0x1040 + the virtio device type (up to 0x107f). */
#define VDEV_PCI_DEVICE_ID_BASE		0x1040
#define VDEV_PCI_MAX_DEVICE_TYPE	0x3f
/* Revision ID of a non-transitional device. */
#define VDEV_PCI_REVISION		1

/* The BAR that holds everything; 64-bit, so it also takes BAR 1. */
#define VDEV_PCI_BAR			0
#define VDEV_PCI_BAR_SIZE		0x10000
/* The BAR is not decoded (memory decode off), see struct vdev_pci_ops. */
#define VDEV_PCI_BAR_UNMAPPED		UINT64_MAX

/* Offsets inside the BAR (Documentation/pci.rst, "Layout"). */
#define VDEV_PCI_COMMON_OFFSET		0x0000
#define VDEV_PCI_COMMON_SIZE		0x3c	/* to queue_reset (VIRTIO 1.2) */
#define VDEV_PCI_ISR_OFFSET		0x1000
#define VDEV_PCI_ISR_SIZE		1
#define VDEV_PCI_DEVICE_OFFSET		0x2000
#define VDEV_PCI_DEVICE_SIZE		0x1000
#define VDEV_PCI_NOTIFY_OFFSET		0x3000
#define VDEV_PCI_NOTIFY_MULTIPLIER	4
#define VDEV_PCI_MSIX_TABLE_OFFSET	0x4000
#define VDEV_PCI_MSIX_PBA_OFFSET	0x8000

/* Queues and MSI-X vectors (one per queue plus the config vector). */
#define VDEV_PCI_MAX_VECTORS		1024
#define VDEV_PCI_MAX_QUEUES		(VDEV_PCI_MAX_VECTORS - 1)

/*
 * ISR bit of a queue interrupt (VIRTIO 1.2, 4.1.4.5); the uapi header
 * names only the configuration bit, VIRTIO_PCI_ISR_CONFIG.
 */
#define VDEV_PCI_ISR_QUEUE		0x1

/* Offsets of the capabilities in configuration space. */
#define VDEV_PCI_CAP_COMMON		0x40
#define VDEV_PCI_CAP_NOTIFY		0x50
#define VDEV_PCI_CAP_ISR		0x64
#define VDEV_PCI_CAP_DEVICE		0x74
#define VDEV_PCI_CAP_PCI_CFG		0x84
#define VDEV_PCI_CAP_MSIX		0x98
/* Size of the configuration space the function decodes. */
#define VDEV_PCI_CONFIG_SIZE		256

/**
 * struct vdev_pci_ops - what the transport tells the VMM
 * @bar_moved: the guest-physical address at which the BAR is decoded
 *             changed, from @old_addr to @new_addr; either is
 *             VDEV_PCI_BAR_UNMAPPED while memory decode is off. Move the
 *             MMIO exit routing and the notify ioeventfds.
 * @msix_changed: the guest enabled (@enabled true) or disabled MSI-X;
 *                interrupts go to the vector eventfds while it is on and
 *                to the INTx eventfd while it is off.
 * @vector_changed: the guest rewrote the message (@addr, @data) of MSI-X
 *                  table entry @vector; update its MSI route.
 *
 * Each callback is optional. They are called from inside
 * vdev_pci_config_write() / vdev_pci_bar_write() (and vdev_pci_reset()),
 * with the transport's lock held: a callback may call the vdev_pci_*()
 * getters but not the access functions.
 */
struct vdev_pci_ops {
	void (*bar_moved)(struct vdev_pci *pci, void *opaque, unsigned int bar,
			  uint64_t old_addr, uint64_t new_addr);
	void (*msix_changed)(struct vdev_pci *pci, void *opaque, bool enabled);
	void (*vector_changed)(struct vdev_pci *pci, void *opaque,
			       unsigned int vector, uint64_t addr,
			       uint32_t data);
};

/* Each function is documented at its definition, in lib/pci.c. */
int vdev_pci_create(struct vdev_device *dev, struct vdev_mem *mem,
		    const struct vdev_pci_ops *ops, void *opaque,
		    struct vdev_pci **pcip);

void vdev_pci_config_read(struct vdev_pci *pci, uint32_t offset, void *data,
			  unsigned int len);

void vdev_pci_config_write(struct vdev_pci *pci, uint32_t offset,
			   const void *data, unsigned int len);

void vdev_pci_bar_read(struct vdev_pci *pci, unsigned int bar,
		       uint64_t offset, void *data, unsigned int len);

void vdev_pci_bar_write(struct vdev_pci *pci, unsigned int bar,
			uint64_t offset, const void *data, unsigned int len);

int vdev_pci_queue_notify_fd(struct vdev_pci *pci, unsigned int queue);

int64_t vdev_pci_notify_offset(struct vdev_pci *pci, unsigned int queue);

int vdev_pci_vector_fd(struct vdev_pci *pci, unsigned int vector);

int vdev_pci_intx_fd(struct vdev_pci *pci);

int vdev_pci_intx_resample_fd(struct vdev_pci *pci);

void vdev_pci_intx_resample(struct vdev_pci *pci);

unsigned int vdev_pci_nr_queues(struct vdev_pci *pci);

uint64_t vdev_pci_features(struct vdev_pci *pci);
unsigned int vdev_pci_nr_vectors(struct vdev_pci *pci);

uint64_t vdev_pci_bar_addr(struct vdev_pci *pci, unsigned int bar);

void vdev_pci_reset(struct vdev_pci *pci);

void vdev_pci_destroy(struct vdev_pci *pci);

#endif /* _VDEV_PCI_H */
