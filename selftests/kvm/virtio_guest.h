/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest side of vdev's KVM selftests: a small virtio-net driver over
 * virtio-mmio (version 2) or modern virtio-pci, that runs as KVM selftest
 * guest code. vg_transport (VG_MMIO or VG_PCI, set by the host before the
 * guest runs) picks the transport; everything above "transport" below is
 * the same for both.
 *
 * vg_ring (VG_SPLIT or VG_PACKED, set by the host the same way) picks the
 * ring format: the split virtqueue (VIRTIO 1.2, 2.7) or the packed one
 * (2.8, written after Linux's drivers/virtio/virtio_ring.c), for every
 * queue; vg_net_init() then negotiates VIRTIO_F_RING_PACKED or not.
 *
 * Everything here executes inside the VM, at the ELF link addresses of the
 * test binary (built -fno-PIE, linked -no-pie): no libc apart from the KVM
 * library's string_override.c (memcpy, memset, memcmp), a 20 KiB stack,
 * ucalls (GUEST_SYNC, GUEST_ASSERT) to talk to the host.
 *
 * Guest-physical layout (set up by vnet_host.h, identity-mapped):
 *
 *   VG_MMIO_GPA     the device's virtio-mmio window: no memory slot backs
 *                   it, so accesses exit as KVM_EXIT_MMIO, except
 *                   QueueNotify writes, which hit a KVM_IOEVENTFD
 *   VG_PCI_BAR_GPA  virtio-pci: where the host (as firmware would) put the
 *                   function's 64-bit BAR 0 before the guest runs; the
 *                   guest finds the function on bus 0 through ports
 *                   0xCF8/0xCFC, reads the BAR and walks the capabilities.
 *                   Exits as KVM_EXIT_MMIO, except the notify addresses
 *                   (KVM_IOEVENTFD)
 *   VG_DMA_GPA      VG_DMA_PAGES of RAM in their own memory slot, the only
 *                   RAM the device is given (struct vdev_mem): rings and
 *                   buffers live here, so guest pointer == GPA
 *   VG_IOAPIC_GPA   in-kernel IOAPIC; pin VG_IRQ_PIN carries the device's
 *                   irqfd (KVM's default routing: GSI n == IOAPIC pin n)
 *   APIC_DEFAULT_GPA the local APIC (xAPIC mode)
 *
 * Interrupts: over mmio the handler (VG_IRQ_VECTOR, installed with
 * vm_install_exception_handler()) reads InterruptStatus, acknowledges it,
 * counts it in vg_irq and sends the EOI. Over PCI the driver enables MSI-X:
 * vector 0 (msix_config) sends VG_CONFIG_VECTOR, the queue vectors
 * VG_IRQ_VECTOR, to the local APIC (address 0xfee00000, APIC id 0); each
 * arrives through the vector's irqfd on its MSI route. Waits use "sti; hlt" (the STI
 * shadow makes the check-then-sleep race free) unless the driver polls,
 * bounded by a one-shot APIC timer that counts late interrupts.
 */
#ifndef _VDEV_VIRTIO_GUEST_H
#define _VDEV_VIRTIO_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <linux/compiler.h>
#include <linux/if_ether.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "apic.h"
#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

#define VG_MMIO_GPA		0xd0000000ULL
#define VG_MMIO_SIZE		0x1000ULL
#define VG_DMA_GPA		0x40000000ULL
#define VG_DMA_PAGES		256
#define VG_DMA_SIZE		((uint64_t)VG_DMA_PAGES * 4096)
#define VG_DMA_SLOT		10
#define VG_IOAPIC_GPA		0xfec00000ULL
#define VG_IRQ_PIN		20
#define VG_IRQ_VECTOR		0x40
#define VG_TIMER_VECTOR		0x41
#define VG_CONFIG_VECTOR	0x42	/* PCI: the MSI-X config vector */

/* Transports (vg_transport). */
#define VG_MMIO			0
#define VG_PCI			1

/* Ring formats (vg_ring). */
#define VG_SPLIT		0
#define VG_PACKED		1

/*
 * virtio-pci: the function is device VG_PCI_SLOT on bus 0 (nothing else
 * answers there); the host puts its BAR at VG_PCI_BAR_GPA and wires INTA#
 * to IOAPIC pin VG_PCI_INTX_PIN, vector v's MSI route to GSI
 * VG_PCI_MSI_GSI + v.
 */
#define VG_PCI_SLOT		3
#define VG_PCI_BAR_GPA		0xe0000000ULL
#define VG_PCI_BAR_SIZE		0x10000ULL
#define VG_PCI_INTX_PIN		21
#define VG_PCI_MSI_GSI		32
#define VG_PCI_CONF_ADDR	0xcf8
#define VG_PCI_CONF_DATA	0xcfc
#define VG_PCI_VENDOR		0x1af4
#define VG_PCI_DEVICE_NET	(0x1040 + VIRTIO_ID_NET)
#define VG_MSI_ADDR		0xfee00000U	/* destination APIC id 0 */
#define VG_MAX_VECTORS		8

/*
 * Local APIC timer (xAPIC register offsets, Intel SDM 10.5.4): the guest
 * arms it one-shot before every HLT, so that an interrupt that never
 * comes costs VG_WAKE_TICKS instead of a hang, and gets counted.
 */
#define VG_APIC_LVTT		0x320
#define VG_APIC_TMICT		0x380
#define VG_APIC_TDCR		0x3e0
#define VG_APIC_TDCR_DIV1	0xb
#define VG_WAKE_TICKS		20000000	/* 20 ms at KVM's 1 GHz */
#define VG_LOST_TICKS		2000000000U	/* 2 s: the interrupt is lost */

/* A guest-physical address just past the device's RAM: never valid. */
#define VG_BAD_GPA		0x80000000ULL

/* IOAPIC registers (Intel 82093AA): select at +0, data window at +0x10. */
#define VG_IOAPIC_IOREGSEL	0x00
#define VG_IOAPIC_IOWIN		0x10
#define VG_IOAPIC_REDTBL(pin)	(0x10 + 2 * (pin))
#define VG_IOAPIC_MASKED	(1u << 16)
#define VG_IOAPIC_LEVEL		(1u << 15)

/* "virt", as Linux's virtio_mmio.c spells the magic value. */
#define VG_MMIO_MAGIC		('v' | 'i' << 8 | 'r' << 16 | 't' << 24)

#define VG_QMAX			64	/* ring entries the driver uses */
#define VG_BUF_SIZE		2048	/* one frame + virtio_net_hdr_v1 */
#define VG_HDR_LEN		sizeof(struct virtio_net_hdr_v1)
#define VG_RX			0
#define VG_TX			1
#define VG_CTRL			2	/* one queue pair, no VIRTIO_NET_F_MQ */
#define VG_NR_VQS		3

/* Frames the tests exchange: local experimental EtherType, then this. */
#define VG_ETHERTYPE		ETH_P_802_EX1
#define VG_FRAME_MAGIC		0x76646576U	/* "vdev" */
#define VG_FRAME_LEN		64

/*
 * DMA region layout, in pages: three ring pages per queue (split:
 * descriptor table, available ring, used ring; packed: descriptor ring,
 * driver event suppression area, device event suppression area), then
 * data.
 */
#define VG_PG(n)		(VG_DMA_GPA + (uint64_t)(n) * 4096)
#define VG_RING_PG(q, part)	VG_PG(3 * (q) + (part))
#define VG_CTRL_BUF		VG_PG(9)
#define VG_SCRATCH		VG_PG(10)	/* 6 pages for hostile rings */
#define VG_RX_BUFS		VG_PG(16)
#define VG_TX_BUFS		(VG_RX_BUFS + VG_QMAX * VG_BUF_SIZE)
#define VG_DMA_END		(VG_TX_BUFS + VG_QMAX * VG_BUF_SIZE)

_Static_assert(VG_DMA_GPA + VG_DMA_SIZE >= VG_DMA_END, "DMA region");

/* Driver flags. */
#define VG_F_POLL		(1u << 0)	/* wait by polling, no interrupts */
#define VG_F_CTRL		(1u << 1)	/* set up the control queue */

/**
 * struct vg_irq_stats - what the interrupt handler saw
 * @irqs: interrupts taken
 * @vring: of those, with VIRTIO_MMIO_INT_VRING in InterruptStatus
 * @config: of those, with VIRTIO_MMIO_INT_CONFIG
 * @spurious: with InterruptStatus zero
 * @timer: HLTs ended by the APIC timer instead of the device
 * @late: of those, with used buffers waiting: the device's interrupt was
 *        late by VG_WAKE_TICKS, or lost
 * @lost: of those, no device interrupt in VG_LOST_TICKS more: the device
 *        published used buffers and never signalled them
 */
struct vg_irq_stats {
	uint64_t irqs;
	uint64_t vring;
	uint64_t config;
	uint64_t spurious;
	uint64_t timer;
	uint64_t late;
	uint64_t lost;
};

/* Guest copy; the host reads it with sync_global_from_guest(). */
static struct vg_irq_stats vg_irq;

/**
 * struct vg_vq - the driver's half of one virtqueue, split or packed
 * @index: queue index
 * @packed: the packed ring (VIRTIO_F_RING_PACKED was negotiated)
 * @num: entries (at most VG_QMAX; split: a power of two)
 * @avail_idx: split: next avail->idx the driver will publish;
 *             packed: next descriptor ring slot the driver will fill
 * @last_used: split: next used ring entry the driver will consume;
 *             packed: next slot the device will mark used
 * @avail_wrap: packed: Driver Ring Wrap Counter (starts at 1)
 * @used_wrap: packed: the wrap counter the next used slot must show
 * @avail_used_flags: packed: AVAIL/USED bits of the descriptors made
 *                    available on this lap (AVAIL = @avail_wrap,
 *                    USED = !@avail_wrap)
 * @nr_free: buffer ids not in flight (one descriptor each, except
 *           vg_ctrl_cmd()'s chain)
 * @free: those ids (a stack); buffer i is @bufs + i * VG_BUF_SIZE
 * @id_descs: packed: descriptors in the chain of each outstanding buffer
 *            id, 0 when the id is not outstanding (Linux's desc_state)
 * @kicks: notifications sent
 * @kicks_suppressed: packed: notifications not sent because the device
 *                    event suppression area said DISABLE
 * @desc: split descriptor table (guest pointer == GPA)
 * @avail: split driver ring
 * @used: split device ring
 * @pdesc: packed descriptor ring (the same page as @desc)
 * @driver_event: packed driver event suppression area (@avail's page)
 * @device_event: packed device event suppression area (@used's page)
 * @bufs: @num buffers of VG_BUF_SIZE bytes
 * @doorbell: PCI: the queue's notify address in the BAR
 */
struct vg_vq {
	unsigned int index;
	bool packed;
	uint16_t num;
	uint16_t avail_idx;
	uint16_t last_used;
	bool avail_wrap;
	bool used_wrap;
	uint16_t avail_used_flags;
	uint16_t nr_free;
	uint16_t free[VG_QMAX];
	uint16_t id_descs[VG_QMAX];
	uint64_t kicks;
	uint64_t kicks_suppressed;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_event;
	struct vring_packed_desc_event *device_event;
	uint8_t *bufs;
	uint16_t *doorbell;
};

/**
 * struct vg_pci_dev - what the PCI driver found
 * @found: the function was found and MSI-X set up
 * @slot: its device number on bus 0
 * @bar: BAR 0's address (identity-mapped)
 * @common: common configuration structure
 * @isr: ISR status byte
 * @device: device configuration
 * @notify: notify structure (queue n at @notify + off * @notify_mult)
 * @notify_mult: notify_off_multiplier
 * @msix_cap: offset of the MSI-X capability in config space
 * @msix_table: MSI-X table
 * @nr_vectors: MSI-X table size
 * @caps: capabilities seen (bit n: virtio cfg_type n; bit 0: MSI-X)
 */
struct vg_pci_dev {
	bool found;
	unsigned int slot;
	uint8_t *bar;
	struct virtio_pci_common_cfg *common;
	uint8_t *isr;
	uint8_t *device;
	uint8_t *notify;
	uint32_t notify_mult;
	uint8_t msix_cap;
	uint8_t *msix_table;
	unsigned int nr_vectors;
	unsigned int caps;
};

/* The transport, VG_MMIO or VG_PCI; the host sets it before the guest runs. */
static int vg_transport;
/* The ring format, VG_SPLIT or VG_PACKED; set by the host likewise. */
static int vg_ring;
static struct vg_pci_dev vg_pci;

/**
 * struct vg_net - the driver's state for the one virtio-net device
 * @flags: VG_F_*
 * @features: negotiated feature bits
 * @mac: the device's MAC (config space)
 * @vq: RX, TX and (with VG_F_CTRL) control queue
 * @rx_frames: test frames received (VG_ETHERTYPE)
 * @rx_other: other frames received (IPv6 noise, ...)
 * @rx_last_seq: sequence number of the last test frame received
 * @tx_done: TX buffers the device returned
 */
struct vg_net {
	unsigned int flags;
	uint64_t features;
	uint8_t mac[ETH_ALEN];
	struct vg_vq vq[VG_NR_VQS];
	uint64_t rx_frames;
	uint64_t rx_other;
	uint32_t rx_last_seq;
	uint64_t tx_done;
};

/* ---- barriers and register access ---------------------------------- */

/* x86: stores are not reordered with stores, loads not with loads. */
static inline void vg_wmb(void)
{
	barrier();
}

static inline void vg_rmb(void)
{
	barrier();
}

static inline void vg_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline uint32_t vg_readl(unsigned int off)
{
	return READ_ONCE(*(uint32_t *)(VG_MMIO_GPA + off));
}

static inline void vg_writel(unsigned int off, uint32_t val)
{
	WRITE_ONCE(*(uint32_t *)(VG_MMIO_GPA + off), val);
}

static inline uint8_t vg_readb(unsigned int off)
{
	return READ_ONCE(*(uint8_t *)(VG_MMIO_GPA + off));
}

/* ---- PCI configuration space: conf1, ports 0xCF8/0xCFC ------------- */

static inline void vg_outl(uint16_t port, uint32_t v)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline void vg_outw(uint16_t port, uint16_t v)
{
	__asm__ __volatile__("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void vg_outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t vg_inl(uint16_t port)
{
	uint32_t v;

	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t vg_inw(uint16_t port)
{
	uint16_t v;

	__asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint8_t vg_inb(uint16_t port)
{
	uint8_t v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* Select the dword of bus 0, device @slot, function 0 holding @off. */
static inline void vg_cfg_select(unsigned int slot, unsigned int off)
{
	vg_outl(VG_PCI_CONF_ADDR, 0x80000000U | slot << 11 | (off & 0xfc));
}

static inline uint32_t vg_cfg_readl(unsigned int slot, unsigned int off)
{
	vg_cfg_select(slot, off);
	return vg_inl(VG_PCI_CONF_DATA);
}

static inline uint16_t vg_cfg_readw(unsigned int slot, unsigned int off)
{
	vg_cfg_select(slot, off);
	return vg_inw(VG_PCI_CONF_DATA + (off & 2));
}

static inline uint8_t vg_cfg_readb(unsigned int slot, unsigned int off)
{
	vg_cfg_select(slot, off);
	return vg_inb(VG_PCI_CONF_DATA + (off & 3));
}

static inline void vg_cfg_writel(unsigned int slot, unsigned int off,
				 uint32_t v)
{
	vg_cfg_select(slot, off);
	vg_outl(VG_PCI_CONF_DATA, v);
}

static inline void vg_cfg_writew(unsigned int slot, unsigned int off,
				 uint16_t v)
{
	vg_cfg_select(slot, off);
	vg_outw(VG_PCI_CONF_DATA + (off & 2), v);
}

/* Common configuration fields, at their natural widths (4.1.3.1). */
#define VG_COMMON(field)	(vg_pci.common->field)

static inline uint32_t vg_status(void)
{
	if (vg_transport == VG_PCI)
		return READ_ONCE(VG_COMMON(device_status));
	return vg_readl(VIRTIO_MMIO_STATUS);
}

static inline void vg_write_status(uint32_t status)
{
	if (vg_transport == VG_PCI)
		WRITE_ONCE(VG_COMMON(device_status), status);
	else
		vg_writel(VIRTIO_MMIO_STATUS, status);
}

static inline void vg_set_status(uint32_t bits)
{
	vg_write_status(vg_status() | bits);
}

static inline void vg_queue_select(unsigned int q)
{
	if (vg_transport == VG_PCI)
		WRITE_ONCE(VG_COMMON(queue_select), q);
	else
		vg_writel(VIRTIO_MMIO_QUEUE_SEL, q);
}

/* The selected queue's maximum size (0: no such queue). */
static inline uint32_t vg_queue_max(void)
{
	if (vg_transport == VG_PCI)
		return READ_ONCE(VG_COMMON(queue_size));
	return vg_readl(VIRTIO_MMIO_QUEUE_NUM_MAX);
}

static inline uint32_t vg_queue_ready(void)
{
	if (vg_transport == VG_PCI)
		return READ_ONCE(VG_COMMON(queue_enable));
	return vg_readl(VIRTIO_MMIO_QUEUE_READY);
}

static inline uint32_t vg_config_generation(void)
{
	if (vg_transport == VG_PCI)
		return READ_ONCE(VG_COMMON(config_generation));
	return vg_readl(VIRTIO_MMIO_CONFIG_GENERATION);
}

static inline uint8_t vg_config_readb(unsigned int off)
{
	if (vg_transport == VG_PCI)
		return READ_ONCE(vg_pci.device[off]);
	return vg_readb(VIRTIO_MMIO_CONFIG + off);
}

/* mmio: VendorID; PCI: the vendor ID in configuration space. */
static inline uint32_t vg_vendor(void)
{
	if (vg_transport == VG_PCI)
		return vg_cfg_readw(vg_pci.slot, PCI_VENDOR_ID);
	return vg_readl(VIRTIO_MMIO_VENDOR_ID);
}

/* ---- interrupts ------------------------------------------------------- */

static inline void vg_ioapic_write(uint32_t reg, uint32_t val)
{
	WRITE_ONCE(*(uint32_t *)(VG_IOAPIC_GPA + VG_IOAPIC_IOREGSEL), reg);
	WRITE_ONCE(*(uint32_t *)(VG_IOAPIC_GPA + VG_IOAPIC_IOWIN), val);
}

/*
 * The device's interrupt handler (installed by the host side). Over PCI it
 * is the queue vectors' handler: MSI-X needs no ISR read, the vector says
 * what happened.
 */
static inline void vg_isr(struct ex_regs *regs)
{
	uint32_t isr;

	if (vg_transport == VG_PCI) {
		vg_irq.irqs++;
		vg_irq.vring++;
		xapic_write_reg(APIC_EOI, 0);
		return;
	}
	isr = vg_readl(VIRTIO_MMIO_INTERRUPT_STATUS);

	if (isr)
		vg_writel(VIRTIO_MMIO_INTERRUPT_ACK, isr);
	vg_irq.irqs++;
	if (isr & VIRTIO_MMIO_INT_VRING)
		vg_irq.vring++;
	if (isr & VIRTIO_MMIO_INT_CONFIG)
		vg_irq.config++;
	if (!isr)
		vg_irq.spurious++;
	xapic_write_reg(APIC_EOI, 0);
}

/*
 * PCI: the MSI-X config vector's handler. The configuration interrupt
 * also sets VIRTIO_PCI_ISR_CONFIG (4.1.5.3); the read clears it.
 */
static inline void vg_config_isr(struct ex_regs *regs)
{
	uint8_t isr = READ_ONCE(*vg_pci.isr);

	vg_irq.irqs++;
	if (isr & VIRTIO_PCI_ISR_CONFIG)
		vg_irq.config++;
	else
		vg_irq.spurious++;
	xapic_write_reg(APIC_EOI, 0);
}

/* The wake-up timer's handler. */
static inline void vg_timer_isr(struct ex_regs *regs)
{
	vg_irq.timer++;
	xapic_write_reg(APIC_EOI, 0);
}

/*
 * Local APIC on, APIC timer one-shot on VG_TIMER_VECTOR; mmio: IOAPIC pin
 * VG_IRQ_PIN -> VG_IRQ_VECTOR on APIC 0, edge triggered (an irqfd write
 * is one edge). PCI needs no IOAPIC: MSI-X is set up at probe. Interrupts
 * stay masked (IF=0) outside vg_wait_irq().
 */
static inline void vg_irq_setup(void)
{
	__asm__ __volatile__("cli");
	xapic_enable();
	xapic_write_reg(VG_APIC_TDCR, VG_APIC_TDCR_DIV1);
	xapic_write_reg(VG_APIC_LVTT, VG_TIMER_VECTOR);
	if (vg_transport == VG_PCI)
		return;
	vg_ioapic_write(VG_IOAPIC_REDTBL(VG_IRQ_PIN) + 1, 0); /* APIC id 0 */
	vg_ioapic_write(VG_IOAPIC_REDTBL(VG_IRQ_PIN), VG_IRQ_VECTOR);
}

/*
 * Sleep until the next interrupt (the handler has run on return), for at
 * most @ticks of the APIC timer. Returns true when the device interrupted.
 */
static inline bool vg_wait_irq_ticks(uint32_t ticks)
{
	uint64_t irqs = vg_irq.irqs;

	xapic_write_reg(VG_APIC_TMICT, ticks);
	__asm__ __volatile__("sti; hlt; cli" : : : "memory");
	xapic_write_reg(VG_APIC_TMICT, 0);
	return vg_irq.irqs != irqs;
}

static inline bool vg_wait_irq(void)
{
	return vg_wait_irq_ticks(VG_WAKE_TICKS);
}

/* ---- virtqueues ------------------------------------------------------- */

/*
 * A queue at the start of its ring, every buffer free. Packed: both wrap
 * counters 1, no descriptor available (flags 0), and the driver event
 * area ENABLE: an interrupt for every used buffer, as split's used
 * flags 0 ask.
 */
static inline void vg_vq_init(struct vg_vq *vq, unsigned int index,
			      uint16_t num, uint64_t bufs, bool packed)
{
	unsigned int i;

	vq->index = index;
	vq->packed = packed;
	vq->num = num;
	vq->avail_idx = 0;
	vq->last_used = 0;
	vq->avail_wrap = true;
	vq->used_wrap = true;
	vq->avail_used_flags = 1 << VRING_PACKED_DESC_F_AVAIL;
	vq->kicks = 0;
	vq->kicks_suppressed = 0;
	vq->desc = (struct vring_desc *)VG_RING_PG(index, 0);
	vq->avail = (struct vring_avail *)VG_RING_PG(index, 1);
	vq->used = (struct vring_used *)VG_RING_PG(index, 2);
	vq->pdesc = (struct vring_packed_desc *)VG_RING_PG(index, 0);
	vq->driver_event = (struct vring_packed_desc_event *)VG_RING_PG(index, 1);
	vq->device_event = (struct vring_packed_desc_event *)VG_RING_PG(index, 2);
	vq->bufs = (uint8_t *)bufs;
	memset(vq->desc, 0, 4096);
	memset(vq->avail, 0, 4096);
	memset(vq->used, 0, 4096);
	if (packed)
		vq->driver_event->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	vq->nr_free = num;
	for (i = 0; i < num; i++) {
		vq->free[i] = num - 1 - i;
		vq->id_descs[i] = 0;
	}
}

/*
 * PCI queue set-up (VIRTIO 1.2, 4.1.5.1.3), with the queue's MSI-X vector
 * 1 + index. Returns false on a refusal.
 */
static inline bool vg_pci_vq_setup(struct vg_vq *vq)
{
	struct virtio_pci_common_cfg *c = vg_pci.common;
	uint16_t max, vector = 1 + vq->index;

	WRITE_ONCE(c->queue_select, vq->index);
	if (READ_ONCE(c->queue_enable))
		return false;
	max = READ_ONCE(c->queue_size);
	if (!max)
		return false;
	if (vq->num > max)
		vq->num = max;
	WRITE_ONCE(c->queue_size, vq->num);
	/*
	 * queue_avail/queue_used are queue_driver/queue_device (4.1.4.3):
	 * for the packed ring the two event suppression areas.
	 */
	WRITE_ONCE(c->queue_desc_lo, (uint64_t)vq->desc);
	WRITE_ONCE(c->queue_desc_hi, (uint64_t)vq->desc >> 32);
	WRITE_ONCE(c->queue_avail_lo, (uint64_t)vq->avail);
	WRITE_ONCE(c->queue_avail_hi, (uint64_t)vq->avail >> 32);
	WRITE_ONCE(c->queue_used_lo, (uint64_t)vq->used);
	WRITE_ONCE(c->queue_used_hi, (uint64_t)vq->used >> 32);
	if (vector >= vg_pci.nr_vectors)
		return false;
	WRITE_ONCE(c->queue_msix_vector, vector);
	if (READ_ONCE(c->queue_msix_vector) != vector)
		return false;
	vq->doorbell = (uint16_t *)(vg_pci.notify +
				    (uint64_t)READ_ONCE(c->queue_notify_off) *
				    vg_pci.notify_mult);
	WRITE_ONCE(c->queue_enable, 1);
	return READ_ONCE(c->queue_enable) == 1;
}

/* Queue registers of VIRTIO 1.2, 4.2.3.2. Returns false on a refusal. */
static inline bool vg_vq_setup(struct vg_vq *vq)
{
	uint32_t max;

	if (vg_transport == VG_PCI)
		return vg_pci_vq_setup(vq);
	vg_writel(VIRTIO_MMIO_QUEUE_SEL, vq->index);
	if (vg_readl(VIRTIO_MMIO_QUEUE_READY))
		return false;
	max = vg_readl(VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!max)
		return false;
	if (vq->num > max)
		vq->num = max;	/* a power of two, as max must be */
	vg_writel(VIRTIO_MMIO_QUEUE_NUM, vq->num);
	/*
	 * QueueAvail/QueueUsed are QueueDriver/QueueDevice (4.2.2): for the
	 * packed ring the driver and device event suppression areas.
	 */
	vg_writel(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint64_t)vq->desc);
	vg_writel(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint64_t)vq->desc >> 32);
	vg_writel(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint64_t)vq->avail);
	vg_writel(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint64_t)vq->avail >> 32);
	vg_writel(VIRTIO_MMIO_QUEUE_USED_LOW, (uint64_t)vq->used);
	vg_writel(VIRTIO_MMIO_QUEUE_USED_HIGH, (uint64_t)vq->used >> 32);
	vg_writel(VIRTIO_MMIO_QUEUE_READY, 1);
	return vg_readl(VIRTIO_MMIO_QUEUE_READY) == 1;
}

/**
 * struct vg_sg - one buffer of a chain
 * @addr: guest-physical address
 * @len: bytes
 * @write: the device writes it
 */
struct vg_sg {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/*
 * Packed: make the chain @sg[0..@n) available as buffer @id, as
 * virtqueue_add_packed() does without indirect tables: consecutive slots
 * from @vq->avail_idx, @id in every descriptor, NEXT on all but the
 * last; the AVAIL/USED bits flip where the chain crosses the end of the
 * ring; the head's flags are stored last, after a write barrier, so the
 * device sees the whole chain or nothing (2.8.21.1).
 */
static inline void vg_packed_add(struct vg_vq *vq, uint16_t id,
				 const struct vg_sg *sg, unsigned int n)
{
	uint16_t head = vq->avail_idx, i = head, head_flags = 0, flags;
	unsigned int c;

	GUEST_ASSERT_2(id < vq->num && !vq->id_descs[id], id,
		       vq->id_descs[id]);
	for (c = 0; c < n; c++) {
		struct vring_packed_desc *d = &vq->pdesc[i];

		flags = vq->avail_used_flags |
			(c + 1 < n ? VRING_DESC_F_NEXT : 0) |
			(sg[c].write ? VRING_DESC_F_WRITE : 0);
		d->addr = sg[c].addr;
		d->len = sg[c].len;
		d->id = id;
		if (i == head)
			head_flags = flags;
		else
			d->flags = flags;
		if (++i >= vq->num) {
			i = 0;
			vq->avail_used_flags ^= 1 << VRING_PACKED_DESC_F_AVAIL |
						1 << VRING_PACKED_DESC_F_USED;
			vq->avail_wrap = !vq->avail_wrap;
		}
	}
	vq->avail_idx = i;
	vq->id_descs[id] = n;
	vg_wmb();	/* the chain before its head's flags (device: acquire) */
	WRITE_ONCE(vq->pdesc[head].flags, head_flags);
}

/*
 * Packed, for hostile rings: the AVAIL/USED bits of a descriptor made
 * available on the lap of Driver Ring Wrap Counter @wrap (AVAIL = @wrap,
 * USED = !@wrap). The other three combinations are what a malformed ring
 * is made of.
 */
static inline uint16_t vg_packed_lap_flags(bool wrap)
{
	return wrap ? 1 << VRING_PACKED_DESC_F_AVAIL :
		      1 << VRING_PACKED_DESC_F_USED;
}

/*
 * Packed, for hostile rings: write descriptor slot @i as given, @flags
 * (AVAIL/USED bits included) last, after a write barrier. No checks and
 * no bookkeeping: the driver's positions and ids stay as they were.
 */
static inline void vg_packed_put(struct vg_vq *vq, uint16_t i, uint64_t addr,
				 uint32_t len, uint16_t id, uint16_t flags)
{
	struct vring_packed_desc *d = &vq->pdesc[i % vq->num];

	d->addr = addr;
	d->len = len;
	d->id = id;
	vg_wmb();	/* the descriptor before its flags (device: acquire) */
	WRITE_ONCE(d->flags, flags);
}

/* Packed: move the driver's slot on by @n, flipping the lap at the end. */
static inline void vg_packed_advance(struct vg_vq *vq, uint16_t n)
{
	vq->avail_idx += n;
	while (vq->avail_idx >= vq->num) {
		vq->avail_idx -= vq->num;
		vq->avail_used_flags ^= 1 << VRING_PACKED_DESC_F_AVAIL |
					1 << VRING_PACKED_DESC_F_USED;
		vq->avail_wrap = !vq->avail_wrap;
	}
}

/* Make buffer @id (@len bytes) available, in one descriptor. */
static inline void vg_vq_add(struct vg_vq *vq, uint16_t id, uint32_t len,
			     bool device_writes)
{
	struct vring_desc *d;

	if (vq->packed) {
		struct vg_sg sg = {
			(uint64_t)(vq->bufs + (uint64_t)id * VG_BUF_SIZE),
			len, device_writes
		};

		vg_packed_add(vq, id, &sg, 1);
		return;
	}
	d = &vq->desc[id];
	d->addr = (uint64_t)(vq->bufs + (uint64_t)id * VG_BUF_SIZE);
	d->len = len;
	d->flags = device_writes ? VRING_DESC_F_WRITE : 0;
	d->next = 0;
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = id;
	vg_wmb();	/* ring entry before the index (device: rmb) */
	vq->avail_idx++;
	WRITE_ONCE(vq->avail->idx, vq->avail_idx);
}

/*
 * Doorbell, caught by the queue's ioeventfd: a QueueNotify write (mmio),
 * or a 16-bit write of the queue index at its notify address (PCI).
 * Split: always (the device's used->flags are not looked at). Packed, as
 * virtqueue_kick_prepare_packed() without EVENT_IDX: not when the device
 * event suppression area says DISABLE, read after a full barrier (the
 * descriptors' flags before the area; the device does the converse when
 * it enables notifications and looks at the ring again).
 */
static inline void vg_vq_kick(struct vg_vq *vq)
{
	vg_mb();	/* avail->idx, or the flags, before the doorbell */
	if (vq->packed && READ_ONCE(vq->device_event->flags) ==
			  VRING_PACKED_EVENT_FLAG_DISABLE) {
		vq->kicks_suppressed++;
		return;
	}
	vq->kicks++;
	if (vg_transport == VG_PCI)
		WRITE_ONCE(*vq->doorbell, vq->index);
	else
		vg_writel(VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

/*
 * Packed: is the slot at @vq->last_used used for this lap? Both flag bits
 * equal to the Device Ring Wrap Counter (is_used_desc_packed()).
 */
static inline bool vg_packed_more_used(struct vg_vq *vq)
{
	uint16_t flags = READ_ONCE(vq->pdesc[vq->last_used].flags);
	bool avail = flags & (1 << VRING_PACKED_DESC_F_AVAIL);
	bool used = flags & (1 << VRING_PACKED_DESC_F_USED);

	return avail == used && used == vq->used_wrap;
}

/*
 * Packed: the used descriptor at @vq->last_used, as
 * virtqueue_get_buf_ctx_packed() reads it: flags first, a read barrier,
 * then id and length. The id must be one the driver has outstanding; the
 * position moves on by that chain's descriptor count.
 */
static inline bool vg_packed_get_used(struct vg_vq *vq, uint16_t *id,
				      uint32_t *len)
{
	struct vring_packed_desc *d = &vq->pdesc[vq->last_used];
	uint16_t n;

	if (!vg_packed_more_used(vq))
		return false;
	vg_rmb();	/* flags before id and len (device: store-release) */
	*id = READ_ONCE(d->id);
	*len = READ_ONCE(d->len);
	GUEST_ASSERT_2(*id < vq->num && vq->id_descs[*id], *id,
		       vq->last_used);
	n = vq->id_descs[*id];
	vq->id_descs[*id] = 0;
	vq->last_used += n;
	if (vq->last_used >= vq->num) {
		vq->last_used -= vq->num;
		vq->used_wrap = !vq->used_wrap;
	}
	return true;
}

/* Next used element, or false. */
static inline bool vg_vq_get_used(struct vg_vq *vq, uint16_t *id,
				  uint32_t *len)
{
	struct vring_used_elem *e;
	uint16_t used_idx;

	if (vq->packed)
		return vg_packed_get_used(vq, id, len);
	used_idx = READ_ONCE(vq->used->idx);
	if (used_idx == vq->last_used)
		return false;
	vg_rmb();	/* index before the element (device: wmb) */
	e = &vq->used->ring[vq->last_used & (vq->num - 1)];
	*id = e->id;
	*len = e->len;
	vq->last_used++;
	return true;
}

static inline bool vg_vq_has_used(struct vg_vq *vq)
{
	if (vq->packed)
		return vg_packed_more_used(vq);
	return READ_ONCE(vq->used->idx) != vq->last_used;
}

/*
 * Sleep until @vq has used buffers, unless it has some already. A timer
 * wake-up that finds used buffers counts as a late interrupt: the device
 * published them, and its interrupt has not come yet. Late is timing (a
 * loaded host, a device worker in the middle of a batch); it is reported,
 * not judged. The interrupt must still come: the driver asked for one
 * before it looked (flags 0, or ENABLE), so if none arrives in
 * VG_LOST_TICKS more, the device lost it, which is a bug.
 */
static inline void vg_vq_wait(struct vg_vq *vq)
{
	if (vg_vq_has_used(vq))
		return;
	if (vg_wait_irq() || !vg_vq_has_used(vq))
		return;
	vg_irq.late++;
	if (!vg_wait_irq_ticks(VG_LOST_TICKS))
		vg_irq.lost++;
}

/* ---- device initialisation (VIRTIO 1.2, 3.1.1 and 4.2.3.1) ---------- */

/* Status 0, then wait for it to read back 0 (4.2.3.1.1, 4.1.4.3.2). */
static inline void vg_reset(void)
{
	vg_write_status(0);
	while (vg_status())
		;
}

static inline uint64_t vg_device_features(void)
{
	struct virtio_pci_common_cfg *c = vg_pci.common;
	uint64_t f;

	if (vg_transport == VG_PCI) {
		WRITE_ONCE(c->device_feature_select, 1);
		f = (uint64_t)READ_ONCE(c->device_feature) << 32;
		WRITE_ONCE(c->device_feature_select, 0);
		return f | READ_ONCE(c->device_feature);
	}
	vg_writel(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)vg_readl(VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vg_writel(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | vg_readl(VIRTIO_MMIO_DEVICE_FEATURES);
}

static inline void vg_write_features(uint64_t f)
{
	struct virtio_pci_common_cfg *c = vg_pci.common;

	if (vg_transport == VG_PCI) {
		WRITE_ONCE(c->guest_feature_select, 0);
		WRITE_ONCE(c->guest_feature, (uint32_t)f);
		WRITE_ONCE(c->guest_feature_select, 1);
		WRITE_ONCE(c->guest_feature, f >> 32);
		return;
	}
	vg_writel(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vg_writel(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	vg_writel(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vg_writel(VIRTIO_MMIO_DRIVER_FEATURES, f >> 32);
}

/* A BAR 0 address inside the window the host identity-mapped. */
static inline void *vg_pci_bar_ptr(uint32_t bar, uint32_t off, uint32_t len)
{
	if (bar != 0 || off > VG_PCI_BAR_SIZE || len > VG_PCI_BAR_SIZE - off)
		return NULL;
	return vg_pci.bar + off;
}

/*
 * Walk the capability list as Linux's virtio_pci_modern_dev.c does: the
 * first capability of each virtio cfg_type wins; the MSI-X capability.
 * Returns 0, or the number of the check that failed.
 */
static inline int vg_pci_caps(void)
{
	unsigned int slot = vg_pci.slot, pos, n = 0;

	if (!(vg_cfg_readw(slot, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 14;
	for (pos = vg_cfg_readb(slot, PCI_CAPABILITY_LIST) & 0xfc;
	     pos && n < 48; pos = vg_cfg_readb(slot, pos + PCI_CAP_LIST_NEXT) & 0xfc, n++) {
		uint8_t id = vg_cfg_readb(slot, pos + PCI_CAP_LIST_ID);
		uint8_t type, bar;
		uint32_t off, len;
		void *p;

		if (id == PCI_CAP_ID_MSIX) {
			uint32_t t = vg_cfg_readl(slot, pos + PCI_MSIX_TABLE);

			vg_pci.msix_cap = pos;
			vg_pci.nr_vectors = (vg_cfg_readw(slot, pos + PCI_MSIX_FLAGS) &
					     PCI_MSIX_FLAGS_QSIZE) + 1;
			vg_pci.msix_table = vg_pci_bar_ptr(t & PCI_MSIX_TABLE_BIR,
							   t & PCI_MSIX_TABLE_OFFSET,
							   16 * vg_pci.nr_vectors);
			if (vg_pci.msix_table)
				vg_pci.caps |= 1;
			continue;
		}
		if (id != PCI_CAP_ID_VNDR)
			continue;
		type = vg_cfg_readb(slot, pos + offsetof(struct virtio_pci_cap, cfg_type));
		bar = vg_cfg_readb(slot, pos + offsetof(struct virtio_pci_cap, bar));
		off = vg_cfg_readl(slot, pos + offsetof(struct virtio_pci_cap, offset));
		len = vg_cfg_readl(slot, pos + offsetof(struct virtio_pci_cap, length));
		if (type > VIRTIO_PCI_CAP_DEVICE_CFG || (vg_pci.caps & (1u << type)))
			continue;
		p = vg_pci_bar_ptr(bar, off, len);
		if (!p)
			continue;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (len < sizeof(struct virtio_pci_common_cfg))
				continue;
			vg_pci.common = p;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			vg_pci.notify = p;
			vg_pci.notify_mult = vg_cfg_readl(slot, pos +
				offsetof(struct virtio_pci_notify_cap,
					 notify_off_multiplier));
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			vg_pci.isr = p;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			vg_pci.device = p;
			break;
		}
		vg_pci.caps |= 1u << type;
	}
	if (!(vg_pci.caps & 1))
		return 15;
	if (vg_pci.caps != (1 | 1u << VIRTIO_PCI_CAP_COMMON_CFG |
			    1u << VIRTIO_PCI_CAP_NOTIFY_CFG |
			    1u << VIRTIO_PCI_CAP_ISR_CFG |
			    1u << VIRTIO_PCI_CAP_DEVICE_CFG))
		return 16;
	if (vg_pci.nr_vectors > VG_MAX_VECTORS)
		return 17;
	return 0;
}

/*
 * MSI-X, as Linux's pci_enable_msix() and vp_request_msix_vectors() do it:
 * enabled with the function masked, every entry programmed (vector 0:
 * VG_CONFIG_VECTOR, the others VG_IRQ_VECTOR, all to APIC 0) and
 * unmasked, then the function unmasked.
 */
static inline void vg_pci_msix_setup(void)
{
	unsigned int flags = vg_pci.msix_cap + PCI_MSIX_FLAGS, v;
	uint16_t ctrl = vg_cfg_readw(vg_pci.slot, flags);

	vg_cfg_writew(vg_pci.slot, flags, ctrl | PCI_MSIX_FLAGS_ENABLE |
		      PCI_MSIX_FLAGS_MASKALL);
	for (v = 0; v < vg_pci.nr_vectors; v++) {
		uint32_t *e = (uint32_t *)(vg_pci.msix_table + 16 * v);

		WRITE_ONCE(e[PCI_MSIX_ENTRY_LOWER_ADDR / 4], VG_MSI_ADDR);
		WRITE_ONCE(e[PCI_MSIX_ENTRY_UPPER_ADDR / 4], 0);
		WRITE_ONCE(e[PCI_MSIX_ENTRY_DATA / 4],
			   v ? VG_IRQ_VECTOR : VG_CONFIG_VECTOR);
		WRITE_ONCE(e[PCI_MSIX_ENTRY_VECTOR_CTRL / 4], 0);
	}
	vg_cfg_writew(vg_pci.slot, flags, (ctrl | PCI_MSIX_FLAGS_ENABLE) &
		      ~PCI_MSIX_FLAGS_MASKALL);
}

/*
 * PCI probe, the first time: find the virtio-net function on bus 0
 * (devices no function claims read all ones), check it is modern, take
 * the BAR where the host put it, walk the capabilities, turn on memory
 * decode and bus mastering, set up MSI-X. Then, every time, check the
 * function is still there. Returns 0 or the number of the check that
 * failed.
 */
static inline int vg_pci_probe(void)
{
	unsigned int slot;
	uint64_t bar;
	uint32_t lo;
	int ret;

	if (!vg_pci.found) {
		memset(&vg_pci, 0, sizeof(vg_pci));
		for (slot = 0; slot < 32; slot++)
			if (vg_cfg_readl(slot, PCI_VENDOR_ID) ==
			    (VG_PCI_VENDOR | VG_PCI_DEVICE_NET << 16))
				break;
		if (slot == 32)
			return 11;
		vg_pci.slot = slot;
		if (vg_cfg_readb(slot, PCI_REVISION_ID) < 1 ||
		    vg_cfg_readb(slot, PCI_HEADER_TYPE) != PCI_HEADER_TYPE_NORMAL)
			return 12;
		lo = vg_cfg_readl(slot, PCI_BASE_ADDRESS_0);
		if ((lo & (PCI_BASE_ADDRESS_SPACE | PCI_BASE_ADDRESS_MEM_TYPE_MASK)) !=
		    (PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_64))
			return 13;
		bar = (uint64_t)vg_cfg_readl(slot, PCI_BASE_ADDRESS_1) << 32 |
		      (lo & PCI_BASE_ADDRESS_MEM_MASK);
		/* Only this window is identity-mapped. */
		if (bar != VG_PCI_BAR_GPA)
			return 13;
		vg_pci.bar = (uint8_t *)bar;
		ret = vg_pci_caps();
		if (ret)
			return ret;
		vg_cfg_writew(slot, PCI_COMMAND, vg_cfg_readw(slot, PCI_COMMAND) |
			      PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		vg_pci_msix_setup();
		vg_pci.found = true;
	}
	if (vg_cfg_readl(vg_pci.slot, PCI_VENDOR_ID) !=
	    (VG_PCI_VENDOR | VG_PCI_DEVICE_NET << 16))
		return 11;
	return 0;
}

/*
 * PCI: configuration interrupts on MSI-X vector 0. A reset puts
 * msix_config back to NO_VECTOR, so this comes after it, as in Linux's
 * vp_find_vqs_msix(). Returns false when the device refused the vector.
 */
static inline bool vg_pci_config_vector(void)
{
	WRITE_ONCE(VG_COMMON(msix_config), 0);
	return READ_ONCE(VG_COMMON(msix_config)) == 0;
}

/*
 * Probe: magic, version 2, a network device (mmio), or the PCI function
 * (vg_pci_probe()). Returns 0 or the 1-based number of the check that
 * failed.
 */
static inline int vg_probe(void)
{
	if (vg_transport == VG_PCI)
		return vg_pci_probe();
	if (vg_readl(VIRTIO_MMIO_MAGIC_VALUE) != VG_MMIO_MAGIC)
		return 1;
	if (vg_readl(VIRTIO_MMIO_VERSION) != 2)
		return 2;
	if (vg_readl(VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_NET)
		return 3;
	return 0;
}

/*
 * Reset, ACKNOWLEDGE, DRIVER, write @features, set FEATURES_OK and read it
 * back. Returns true when the device kept FEATURES_OK.
 */
static inline bool vg_negotiate(uint64_t features)
{
	vg_reset();
	vg_set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vg_set_status(VIRTIO_CONFIG_S_DRIVER);
	vg_write_features(features);
	vg_set_status(VIRTIO_CONFIG_S_FEATURES_OK);
	return vg_status() & VIRTIO_CONFIG_S_FEATURES_OK;
}

static inline void vg_read_mac(uint8_t mac[ETH_ALEN])
{
	unsigned int i;

	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = vg_config_readb(offsetof(struct virtio_net_config,
						  mac) + i);
}

/* Post every RX buffer. */
static inline void vg_rx_fill(struct vg_net *n)
{
	struct vg_vq *rx = &n->vq[VG_RX];

	while (rx->nr_free)
		vg_vq_add(rx, rx->free[--rx->nr_free], VG_BUF_SIZE, true);
	vg_vq_kick(rx);
}

/*
 * The whole driver init: probe, negotiate @want & offered (plus
 * VIRTIO_F_VERSION_1, required), set the queues up, post RX buffers,
 * DRIVER_OK. Returns 0, or a code naming the step that failed.
 */
static inline int vg_net_init(struct vg_net *n, uint64_t want,
			      unsigned int flags)
{
	unsigned int q, nr_vqs = 2;
	bool packed;
	int ret;

	memset(n, 0, sizeof(*n));
	n->flags = flags;
	ret = vg_probe();
	if (ret)
		return ret;
	n->features = (vg_device_features() & want) |
		      (1ULL << VIRTIO_F_VERSION_1);
	if (vg_ring == VG_PACKED) {
		if (!(vg_device_features() & (1ULL << VIRTIO_F_RING_PACKED)))
			return 9;
		n->features |= 1ULL << VIRTIO_F_RING_PACKED;
	}
	if (flags & VG_F_CTRL) {
		n->features |= 1ULL << VIRTIO_NET_F_CTRL_VQ;
		nr_vqs = 3;
	}
	if (!vg_negotiate(n->features))
		return 10;
	if (vg_transport == VG_PCI && !vg_pci_config_vector())
		return 19;
	if (n->features & (1ULL << VIRTIO_NET_F_MAC))
		vg_read_mac(n->mac);

	packed = n->features & (1ULL << VIRTIO_F_RING_PACKED);
	vg_vq_init(&n->vq[VG_RX], VG_RX, VG_QMAX, VG_RX_BUFS, packed);
	vg_vq_init(&n->vq[VG_TX], VG_TX, VG_QMAX, VG_TX_BUFS, packed);
	vg_vq_init(&n->vq[VG_CTRL], VG_CTRL, 4, VG_CTRL_BUF, packed);
	for (q = 0; q < nr_vqs; q++)
		if (!vg_vq_setup(&n->vq[q]))
			return 20 + q;
	vg_set_status(VIRTIO_CONFIG_S_DRIVER_OK);
	if (vg_status() & (VIRTIO_CONFIG_S_NEEDS_RESET |
			   VIRTIO_CONFIG_S_FAILED))
		return 30;
	vg_rx_fill(n);
	return 0;
}

/* ---- traffic ---------------------------------------------------------- */

/* Take back completed TX buffers. Returns how many. */
static inline unsigned int vg_tx_reclaim(struct vg_net *n)
{
	struct vg_vq *tx = &n->vq[VG_TX];
	unsigned int done = 0;
	uint32_t len;
	uint16_t id;

	while (vg_vq_get_used(tx, &id, &len)) {
		GUEST_ASSERT_1(id < tx->num, id);
		tx->free[tx->nr_free++] = id;
		done++;
	}
	n->tx_done += done;
	return done;
}

/*
 * Write one test frame to @dst carrying @seq, behind its virtio-net
 * header, into TX buffer @id. Returns its length with the header.
 */
static inline uint32_t vg_tx_fill(struct vg_net *n, uint16_t id,
				  const uint8_t *dst, uint32_t seq)
{
	struct vg_vq *tx = &n->vq[VG_TX];
	struct virtio_net_hdr_v1 *hdr;
	struct ethhdr *eth;
	uint32_t *payload;

	hdr = (void *)(tx->bufs + (uint64_t)id * VG_BUF_SIZE);
	memset(hdr, 0, VG_HDR_LEN + VG_FRAME_LEN);
	eth = (void *)(hdr + 1);
	memcpy(eth->h_dest, dst, ETH_ALEN);
	memcpy(eth->h_source, n->mac, ETH_ALEN);
	eth->h_proto = __builtin_bswap16(VG_ETHERTYPE);
	payload = (uint32_t *)(eth + 1);
	payload[0] = VG_FRAME_MAGIC;
	payload[1] = seq;
	return VG_HDR_LEN + VG_FRAME_LEN;
}

/*
 * Queue one test frame to @dst carrying @seq, and kick. Returns false
 * when every TX descriptor is in flight.
 */
static inline bool vg_tx_frame(struct vg_net *n, const uint8_t *dst,
			       uint32_t seq)
{
	struct vg_vq *tx = &n->vq[VG_TX];
	uint16_t id;

	if (!tx->nr_free && !vg_tx_reclaim(n))
		return false;
	id = tx->free[--tx->nr_free];
	vg_vq_add(tx, id, vg_tx_fill(n, id, dst, seq), false);
	vg_vq_kick(tx);
	return true;
}

/* Consume received frames, repost their buffers. Returns test frames. */
static inline unsigned int vg_rx_poll(struct vg_net *n)
{
	struct vg_vq *rx = &n->vq[VG_RX];
	unsigned int got = 0, reposted = 0;
	struct ethhdr *eth;
	uint32_t len, *payload;
	uint16_t id;

	while (vg_vq_get_used(rx, &id, &len)) {
		GUEST_ASSERT_1(id < rx->num, id);
		eth = (void *)(rx->bufs + (uint64_t)id * VG_BUF_SIZE +
			       VG_HDR_LEN);
		payload = (uint32_t *)(eth + 1);
		if (len >= VG_HDR_LEN + sizeof(*eth) + 8 &&
		    eth->h_proto == __builtin_bswap16(VG_ETHERTYPE) &&
		    payload[0] == VG_FRAME_MAGIC) {
			n->rx_last_seq = payload[1];
			got++;
		} else {
			n->rx_other++;
		}
		vg_vq_add(rx, id, VG_BUF_SIZE, true);
		reposted++;
	}
	if (reposted)
		vg_vq_kick(rx);
	n->rx_frames += got;
	return got;
}

/*
 * Wait until @nr test frames have arrived in all (counting from
 * n->rx_frames == 0) and every TX buffer is back: with interrupts
 * (hlt) or, with VG_F_POLL, by polling.
 */
static inline void vg_wait_rx(struct vg_net *n, uint64_t nr)
{
	for (;;) {
		vg_rx_poll(n);
		if (n->rx_frames >= nr)
			return;
		if (n->flags & VG_F_POLL)
			__asm__ __volatile__("pause");
		else
			vg_vq_wait(&n->vq[VG_RX]);
	}
}

static inline void vg_wait_tx_idle(struct vg_net *n)
{
	struct vg_vq *tx = &n->vq[VG_TX];

	for (;;) {
		vg_tx_reclaim(n);
		if (tx->nr_free == tx->num)
			return;
		if (n->flags & VG_F_POLL)
			__asm__ __volatile__("pause");
		else
			vg_vq_wait(tx);
	}
}

/* Send @nr frames to @dst, numbered from @seq, waiting for room. */
static inline void vg_tx_frames(struct vg_net *n, const uint8_t *dst,
				uint32_t seq, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		while (!vg_tx_frame(n, dst, seq + i)) {
			if (n->flags & VG_F_POLL)
				__asm__ __volatile__("pause");
			else
				vg_vq_wait(&n->vq[VG_TX]);
		}
	}
}

/*
 * One control command (VIRTIO 1.2, 5.1.6.5) of @len data bytes, waited
 * for by polling. Returns the device's ack (VIRTIO_NET_OK, ...), or -1
 * when there is no control queue.
 */
static inline int vg_ctrl_cmd(struct vg_net *n, uint8_t class, uint8_t cmd,
			      const void *data, uint32_t len)
{
	struct vg_vq *cq = &n->vq[VG_CTRL];
	struct virtio_net_ctrl_hdr *hdr = (void *)cq->bufs;
	uint8_t *payload = cq->bufs + 64, *ack = cq->bufs + 128;
	uint32_t used_len;
	uint16_t id, head;

	if (!(n->flags & VG_F_CTRL) || len > 64)
		return -1;
	hdr->class = class;
	hdr->cmd = cmd;
	memcpy(payload, data, len);
	*ack = 0xff;
	if (cq->packed) {
		struct vg_sg sg[3] = {
			{ (uint64_t)hdr, sizeof(*hdr), false },
			{ (uint64_t)payload, len, false },
			{ (uint64_t)ack, 1, true },
		};

		vg_packed_add(cq, 0, sg, 3);
		vg_vq_kick(cq);
		while (!vg_vq_get_used(cq, &id, &used_len))
			__asm__ __volatile__("pause");
		GUEST_ASSERT_1(id == 0, id);
		return READ_ONCE(*ack);
	}
	cq->desc[0] = (struct vring_desc){ (uint64_t)hdr, sizeof(*hdr),
					   VRING_DESC_F_NEXT, 1 };
	cq->desc[1] = (struct vring_desc){ (uint64_t)payload, len,
					   VRING_DESC_F_NEXT, 2 };
	cq->desc[2] = (struct vring_desc){ (uint64_t)ack, 1,
					   VRING_DESC_F_WRITE, 0 };
	head = 0;
	cq->avail->ring[cq->avail_idx & (cq->num - 1)] = head;
	vg_wmb();
	cq->avail_idx++;
	WRITE_ONCE(cq->avail->idx, cq->avail_idx);
	vg_vq_kick(cq);
	while (!vg_vq_get_used(cq, &id, &used_len))
		__asm__ __volatile__("pause");
	return READ_ONCE(*ack);
}

#endif /* _VDEV_VIRTIO_GUEST_H */
