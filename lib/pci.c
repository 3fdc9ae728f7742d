// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-pci transport, modern device (VIRTIO 1.2, section 4.1): a type 0
 * configuration header with the virtio vendor capabilities and MSI-X, and
 * one 64-bit memory BAR with the common, ISR, device and notify structures,
 * the MSI-X table and the PBA. See Documentation/pci.rst.
 *
 * Locking: pci->lock serialises every configuration space and BAR access
 * that reads or changes transport state, including activate and reset of
 * the device, which run with it held; the VMM's callbacks run under it
 * too. A write to a notify address takes no lock: it only checks memory
 * decode (an atomic mirror of the command register) and writes an
 * eventfd that lives as long as the transport. pci->irq_lock protects
 * what device workers change when they raise an interrupt: ISR, the INTx
 * level, and the MSI-X state an interrupt depends on (enable, function
 * mask, the vector masks, the pending bits). Lock order: lock, then
 * irq_lock; workers only ever take irq_lock.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/pci.h>
#include <vdev/queue.h>

#include "compiler.h"
#include "eventfd_priv.h"
#include "transport_priv.h"

/* Not in every uapi <linux/virtio_config.h> yet (VIRTIO 1.2, 6). */
#ifndef VIRTIO_F_NOTIFICATION_DATA
#define VIRTIO_F_NOTIFICATION_DATA	38
#endif
#ifndef VIRTIO_F_NOTIF_CONFIG_DATA
#define VIRTIO_F_NOTIF_CONFIG_DATA	39
#endif
/* The VIRTIO 1.2 fields past struct virtio_pci_common_cfg. */
#ifndef VIRTIO_PCI_COMMON_Q_NDATA
#define VIRTIO_PCI_COMMON_Q_NDATA	56
#endif
#ifndef VIRTIO_PCI_COMMON_Q_RESET
#define VIRTIO_PCI_COMMON_Q_RESET	58
#endif

/*
 * Transport features the device may offer but this transport does not
 * implement: they are hidden from device_feature, and a driver that acks
 * one has FEATURES_OK refused. There is no SR-IOV, and no
 * device-chosen notification value (queue_notify_data reads the queue
 * index). VIRTIO_F_RING_RESET joins them for a device that cannot
 * reset one queue on its own (pci_hidden_features()).
 */
#define PCI_UNSUPPORTED_FEATURES	((1ULL << VIRTIO_F_SR_IOV) |	\
					 (1ULL << VIRTIO_F_NOTIF_CONFIG_DATA))

/*
 * Transport features offered whatever the device offers: the transport
 * implements them on its own. With VIRTIO_F_NOTIFICATION_DATA the
 * driver writes 32 bits to the notify address (the queue index, the
 * next available offset and wrap bit); the address still names the
 * queue, and the value is only a hint the device may ignore (VIRTIO 1.2,
 * 4.1.5.2), which vdev does.
 */
#define PCI_TRANSPORT_FEATURES		(1ULL << VIRTIO_F_NOTIFICATION_DATA)

/* Notify structure: the slots of the queues the device has. */
#define NOTIFY_LEN(p)		((p)->nr_queues * VDEV_PCI_NOTIFY_MULTIPLIER)
#define MSIX_TABLE_LEN(p)	((p)->nr_vectors * PCI_MSIX_ENTRY_SIZE)
#define MSIX_PBA_LEN(p)		(((p)->nr_vectors + 63) / 64 * 8)

/* Read-only command bits other than these are hardwired to 0. */
#define PCI_COMMAND_WMASK	(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | \
				 PCI_COMMAND_PARITY | PCI_COMMAND_SERR | \
				 PCI_COMMAND_INTX_DISABLE)

/* Class codes (base, sub, prog-if), as Linux's <linux/pci_ids.h> names. */
#define PCI_CLASS_STORAGE_SCSI		0x010000
#define PCI_CLASS_STORAGE_OTHER		0x018000
#define PCI_CLASS_NETWORK_ETHERNET	0x020000
#define PCI_CLASS_NETWORK_OTHER		0x028000
#define PCI_CLASS_DISPLAY_OTHER		0x038000
#define PCI_CLASS_MULTIMEDIA_OTHER	0x048000
#define PCI_CLASS_MEMORY_OTHER		0x058000
#define PCI_CLASS_COMMUNICATION_OTHER	0x078000
#define PCI_CLASS_SYSTEM_OTHER		0x088000
#define PCI_CLASS_INPUT_OTHER		0x098000
#define PCI_CLASS_OTHERS		0xff0000

static const struct {
	uint32_t type;
	uint32_t class;
} pci_classes[] = {
	{ VIRTIO_ID_NET,	PCI_CLASS_NETWORK_ETHERNET },
	{ VIRTIO_ID_BLOCK,	PCI_CLASS_STORAGE_SCSI },
	{ VIRTIO_ID_CONSOLE,	PCI_CLASS_COMMUNICATION_OTHER },
	{ VIRTIO_ID_SCSI,	PCI_CLASS_STORAGE_SCSI },
	{ VIRTIO_ID_9P,		PCI_CLASS_NETWORK_OTHER },
	{ VIRTIO_ID_GPU,	PCI_CLASS_DISPLAY_OTHER },
	{ VIRTIO_ID_INPUT,	PCI_CLASS_INPUT_OTHER },
	{ VIRTIO_ID_VSOCK,	PCI_CLASS_COMMUNICATION_OTHER },
	{ VIRTIO_ID_IOMMU,	PCI_CLASS_SYSTEM_OTHER },
	{ VIRTIO_ID_MEM,	PCI_CLASS_MEMORY_OTHER },
	{ VIRTIO_ID_SOUND,	PCI_CLASS_MULTIMEDIA_OTHER },
	{ VIRTIO_ID_FS,		PCI_CLASS_STORAGE_OTHER },
	{ VIRTIO_ID_PMEM,	PCI_CLASS_STORAGE_OTHER },
};

_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_used_hi) ==
	       VIRTIO_PCI_COMMON_Q_USEDHI, "common cfg layout");
/* VIRTIO 1.2, 4.1.4.3: queue_notify_data and queue_reset follow it. */
_Static_assert(sizeof(struct virtio_pci_common_cfg) ==
	       VIRTIO_PCI_COMMON_Q_NDATA, "common cfg layout");
_Static_assert(VIRTIO_PCI_COMMON_Q_RESET + 2 == VDEV_PCI_COMMON_SIZE,
	       "common cfg size");
_Static_assert(VDEV_PCI_MSIX_TABLE_OFFSET +
	       VDEV_PCI_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE <=
	       VDEV_PCI_MSIX_PBA_OFFSET, "MSI-X table fits below the PBA");
_Static_assert(VDEV_PCI_NOTIFY_OFFSET +
	       VDEV_PCI_MAX_QUEUES * VDEV_PCI_NOTIFY_MULTIPLIER <=
	       VDEV_PCI_MSIX_TABLE_OFFSET, "notify slots fit");
_Static_assert(VDEV_PCI_CAP_MSIX + PCI_CAP_MSIX_SIZEOF <=
	       VDEV_PCI_CONFIG_SIZE, "capabilities fit in the header");

/*
 * struct pci_queue - transport state of one queue
 * @vq: the queue given to the device at DRIVER_OK
 * @notify_fd: eventfd signalled by a write to the queue's notify address
 * @vector: queue_msix_vector (read by workers raising an interrupt)
 * @reset: reset with queue_reset while the device runs (the core's
 *         vdev_device_queue_reset()): the driver may program it again
 *         and re-enable it with queue_enable
 */
struct pci_queue {
	struct vdev_queue vq;
	int notify_fd;
	atomic_uint vector;
	bool reset;
};

/*
 * struct pci_vector - one MSI-X table entry
 * @addr_lo: Message Address
 * @addr_hi: Message Upper Address
 * @data: Message Data
 * @ctrl: Vector Control (PCI_MSIX_ENTRY_CTRL_MASKBIT); under irq_lock
 * @fd: eventfd written for an unmasked interrupt on this vector
 */
struct pci_vector {
	uint32_t addr_lo;
	uint32_t addr_hi;
	uint32_t data;
	uint32_t ctrl;
	int fd;
};

/*
 * struct vdev_pci - one virtio-pci function
 * @irq: interrupt object handed to the device; its last put frees all
 * @lock: serialises accesses (see the top of the file)
 * @irq_lock: interrupt state (see the top of the file)
 * @t: status, feature negotiation, the device and guest memory (shared
 *     with the other transports: transport_priv.h)
 * @ops: the VMM's callbacks, or NULL
 * @opaque: their argument
 * @cfg: configuration space as the driver reads it
 * @wmask: the bits of @cfg the driver may write
 * @bar_addr: where the BAR is decoded, VDEV_PCI_BAR_UNMAPPED when not
 * @mem_decode: PCI_COMMAND_MEMORY, for the lock-free notify path
 * @dev_features_sel: device_feature_select
 * @queue_sel: queue_select
 * @generation: config_generation
 * @msix_config: msix_config
 * @isr: ISR status (VDEV_PCI_ISR_QUEUE, VIRTIO_PCI_ISR_CONFIG); irq_lock
 * @msix_enabled: PCI_MSIX_FLAGS_ENABLE; irq_lock
 * @msix_masked: PCI_MSIX_FLAGS_MASKALL; irq_lock
 * @intx_disabled: PCI_COMMAND_INTX_DISABLE; irq_lock
 * @pba: pending bits, one per vector; irq_lock
 * @nr_queues: entries in @queues
 * @nr_vectors: entries in @vectors (MSI-X table size)
 * @queues: per-queue state
 * @vectors: the MSI-X table
 * @intx_fd: eventfd written when INTx is asserted
 * @resample_fd: eventfd the VMM's KVM_IRQFD_FLAG_RESAMPLE signals
 */
struct vdev_pci {
	struct vdev_interrupt irq;
	pthread_mutex_t lock;
	pthread_mutex_t irq_lock;
	struct vdev_transport t;
	const struct vdev_pci_ops *ops;
	void *opaque;
	uint8_t cfg[VDEV_PCI_CONFIG_SIZE];
	uint8_t wmask[VDEV_PCI_CONFIG_SIZE];
	atomic_ullong bar_addr;
	atomic_bool mem_decode;

	uint32_t dev_features_sel;
	uint16_t queue_sel;
	atomic_uint generation;
	atomic_uint msix_config;

	uint8_t isr;
	bool msix_enabled;
	bool msix_masked;
	bool intx_disabled;
	uint64_t *pba;

	unsigned int nr_queues;
	unsigned int nr_vectors;
	struct pci_queue *queues;
	struct pci_vector *vectors;
	int intx_fd;
	int resample_fd;
};

#define pci_warn(p, fmt, ...) __vdev_transport_warn(&(p)->t, fmt, ##__VA_ARGS__)

static struct vdev_pci *irq_to_pci(struct vdev_interrupt *irq)
{
	return container_of(irq, struct vdev_pci, irq);
}

/* ---- little-endian helpers ---- */

static uint16_t get16(const uint8_t *b)
{
	uint16_t v;

	memcpy(&v, b, sizeof(v));
	return le16toh(v);
}

static uint32_t get32(const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, sizeof(v));
	return le32toh(v);
}

static void put16(uint8_t *b, uint16_t v)
{
	v = htole16(v);
	memcpy(b, &v, sizeof(v));
}

static void put32(uint8_t *b, uint32_t v)
{
	v = htole32(v);
	memcpy(b, &v, sizeof(v));
}

/* The value of a 1, 2, 4 or 8-byte little-endian access. */
static uint64_t get_le(const void *data, unsigned int len)
{
	const uint8_t *b = data;
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put_le(void *data, unsigned int len, uint64_t v)
{
	uint8_t *b = data;
	unsigned int i;

	for (i = 0; i < len; i++)
		b[i] = v >> (8 * i);
}

/* Does [@off, @off + @len) overlap [@start, @start + @n)? */
static bool overlaps(uint64_t off, unsigned int len, uint64_t start,
		     unsigned int n)
{
	return off < start + n && start < off + len;
}

/* ---- interrupts ---- */

/* MSI-X vector @v fires, or is held pending while masked. irq_lock held. */
static void pci_signal_vector(struct vdev_pci *p, unsigned int v)
{
	if (v >= p->nr_vectors)		/* VIRTIO_MSI_NO_VECTOR included */
		return;
	if (p->msix_masked || (p->vectors[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT)) {
		p->pba[v / 64] |= 1ULL << (v % 64);
		return;
	}
	eventfd_kick(p->vectors[v].fd);
}

/* Deliver every pending vector that is no longer masked. irq_lock held. */
static void pci_deliver_pending(struct vdev_pci *p)
{
	unsigned int v;

	if (!p->msix_enabled || p->msix_masked)
		return;
	for (v = 0; v < p->nr_vectors; v++) {
		uint64_t bit = 1ULL << (v % 64);

		if (!(p->pba[v / 64] & bit) ||
		    (p->vectors[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
			continue;
		p->pba[v / 64] &= ~bit;
		eventfd_kick(p->vectors[v].fd);
	}
}

/* The INTx level: ISR is set and MSI-X is off. irq_lock held. */
static bool pci_intx_level(struct vdev_pci *p)
{
	return !p->msix_enabled && p->isr;
}

/* Assert INTx if the level is high and INTx is not disabled. irq_lock. */
static void pci_intx_assert(struct vdev_pci *p)
{
	if (pci_intx_level(p) && !p->intx_disabled)
		eventfd_kick(p->intx_fd);
}

static int pci_irq_trigger(struct vdev_interrupt *irq,
			   enum vdev_irq_type type, unsigned int queue)
{
	struct vdev_pci *p = irq_to_pci(irq);

	pthread_mutex_lock(&p->irq_lock);
	if (type == VDEV_IRQ_CONFIG) {
		/* The config space (or the status) changed. */
		atomic_fetch_add(&p->generation, 1);
		p->isr |= VIRTIO_PCI_ISR_CONFIG;
		if (p->msix_enabled)
			pci_signal_vector(p, atomic_load(&p->msix_config));
		else
			pci_intx_assert(p);
	} else if (p->msix_enabled) {
		if (queue < p->nr_queues)
			pci_signal_vector(p,
					  atomic_load(&p->queues[queue].vector));
	} else {
		/* VIRTIO 1.2, 4.1.4.5.1: ISR is set before INTx. */
		p->isr |= VDEV_PCI_ISR_QUEUE;
		pci_intx_assert(p);
	}
	pthread_mutex_unlock(&p->irq_lock);
	return 0;
}

static int pci_irq_notifier(struct vdev_interrupt *irq,
			    enum vdev_irq_type type, unsigned int queue)
{
	/* Masking and ISR live in the transport: no direct notifier. */
	return -ENOENT;
}

static void pci_free(struct vdev_pci *p)
{
	unsigned int i;

	if (p->queues)
		for (i = 0; i < p->nr_queues; i++)
			if (p->queues[i].notify_fd >= 0)
				close(p->queues[i].notify_fd);
	if (p->vectors)
		for (i = 0; i < p->nr_vectors; i++)
			if (p->vectors[i].fd >= 0)
				close(p->vectors[i].fd);
	if (p->intx_fd >= 0)
		close(p->intx_fd);
	if (p->resample_fd >= 0)
		close(p->resample_fd);
	pthread_mutex_destroy(&p->irq_lock);
	pthread_mutex_destroy(&p->lock);
	free(p->pba);
	free(p->vectors);
	__vdev_transport_fini(&p->t);
	free(p->queues);
	free(p);
}

static void pci_irq_release(struct vdev_interrupt *irq)
{
	pci_free(irq_to_pci(irq));
}

static const struct vdev_interrupt_ops pci_irq_ops = {
	.trigger = pci_irq_trigger,
	.notifier = pci_irq_notifier,
	.release = pci_irq_release,
};

/* ---- queues ---- */

static void drain_eventfd(int fd)
{
	uint64_t v;

	/* Non-blocking: EAGAIN once empty. */
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* Power-on state of queue @i (device not active). */
static void pci_queue_init(struct vdev_pci *p, unsigned int i)
{
	const uint16_t *sizes;
	struct pci_queue *q = &p->queues[i];

	vdev_device_queue_max_sizes(p->t.dev, &sizes);
	vdev_queue_init(&q->vq, i, sizes[i]);
	q->vq.kick_fd = q->notify_fd;
	atomic_store(&q->vector, VIRTIO_MSI_NO_VECTOR);
	q->reset = false;
}

static struct pci_queue *pci_sel_queue(struct vdev_pci *p)
{
	return p->queue_sel < p->nr_queues ? &p->queues[p->queue_sel] : NULL;
}

/*
 * May the driver change the selected queue's size or rings? Only while
 * queue_enable is 0, and before DRIVER_OK unless the queue was reset
 * with queue_reset since (VIRTIO 1.2, 4.1.4.3.2): once the queue is
 * enabled the device's view of it must not move under it (the lesson of
 * Firecracker's CVE-2026-5747).
 */
static struct pci_queue *pci_queue_writable(struct vdev_pci *p,
					    const char *reg)
{
	struct pci_queue *q = pci_sel_queue(p);

	if (!q) {
		pci_warn(p, "%s write to absent queue %u", reg, p->queue_sel);
		return NULL;
	}
	if ((p->t.status & VIRTIO_CONFIG_S_DRIVER_OK) && !q->reset) {
		pci_warn(p, "%s write after DRIVER_OK ignored", reg);
		return NULL;
	}
	if (q->vq.ready) {
		pci_warn(p, "%s write to enabled queue %u ignored", reg,
			 p->queue_sel);
		return NULL;
	}
	return q;
}

/* A vector number the table does not have reads back as NO_VECTOR. */
static uint16_t pci_vector_value(struct vdev_pci *p, uint32_t val)
{
	if (val < p->nr_vectors)
		return val;
	if (val != VIRTIO_MSI_NO_VECTOR)
		pci_warn(p, "vector %u beyond the table of %u: NO_VECTOR",
			 val, p->nr_vectors);
	return VIRTIO_MSI_NO_VECTOR;
}

/* ---- device status: feature negotiation, activate, reset ---- */

static void pci_needs_reset(struct vdev_pci *p)
{
	__vdev_transport_needs_reset(&p->t);
}

/* device_status 0. Called with p->lock. */
static void pci_virtio_reset(struct vdev_pci *p)
{
	unsigned int i;

	/* Joins every worker; the device gives back its interrupt ref. */
	vdev_interrupt_put(vdev_device_reset(p->t.dev));

	__vdev_transport_clear(&p->t);
	p->dev_features_sel = 0;
	p->queue_sel = 0;
	atomic_store(&p->msix_config, VIRTIO_MSI_NO_VECTOR);
	for (i = 0; i < p->nr_queues; i++) {
		pci_queue_init(p, i);
		drain_eventfd(p->queues[i].notify_fd);
	}
	pthread_mutex_lock(&p->irq_lock);
	p->isr = 0;
	/* Interrupts of the old session are dropped, not delivered later. */
	memset(p->pba, 0, MSIX_PBA_LEN(p));
	pthread_mutex_unlock(&p->irq_lock);
}

/* Features the device may offer that device_feature does not show. */
static uint64_t pci_hidden_features(struct vdev_pci *p)
{
	uint64_t f = PCI_UNSUPPORTED_FEATURES;

	if (!vdev_device_queue_reset_supported(p->t.dev))
		f |= 1ULL << VIRTIO_F_RING_RESET;
	return f;
}

static struct vdev_pci *to_pci(struct vdev_transport *t)
{
	return container_of(t, struct vdev_pci, t);
}

static void pci_t_reset(struct vdev_transport *t)
{
	pci_virtio_reset(to_pci(t));
}

static unsigned int pci_ready_queues(struct vdev_transport *t,
				     struct vdev_queue **active)
{
	struct vdev_pci *p = to_pci(t);
	unsigned int i, n = 0;

	for (i = 0; i < p->nr_queues; i++)
		if (p->queues[i].vq.ready)
			active[n++] = &p->queues[i].vq;
	return n;
}

static void pci_config_irq(struct vdev_transport *t)
{
	pci_irq_trigger(t->irq, VDEV_IRQ_CONFIG, 0);
}

static const struct vdev_transport_ops pci_transport_ops = {
	.reset		= pci_t_reset,
	.ready_queues	= pci_ready_queues,
	.config_irq	= pci_config_irq,
};

static uint64_t pci_device_features(struct vdev_pci *p)
{
	return (vdev_device_features(p->t.dev) & ~p->t.hidden_features) |
	       PCI_TRANSPORT_FEATURES;
}

/* ---- common configuration structure ---- */

/* Width of the common cfg field at @off, 0 when no field starts there. */
static unsigned int common_width(uint64_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT:
	case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
	case VIRTIO_PCI_COMMON_Q_NDATA:
	case VIRTIO_PCI_COMMON_Q_RESET:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	default:
		return 0;
	}
}

/*
 * The ring address of @q that the common cfg field at @off, one of
 * queue_desc_lo .. queue_device_hi, is a half of (the high half when
 * @off & 4): for common_read() and common_write().
 */
static uint64_t *common_queue_addr(struct pci_queue *q, uint64_t off)
{
	if (off < VIRTIO_PCI_COMMON_Q_AVAILLO)
		return &q->vq.desc_addr;
	if (off < VIRTIO_PCI_COMMON_Q_USEDLO)
		return &q->vq.driver_addr;
	return &q->vq.device_addr;
}

static uint32_t common_read(struct vdev_pci *p, uint64_t off)
{
	struct pci_queue *q = pci_sel_queue(p);
	uint64_t v;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return p->dev_features_sel;
	case VIRTIO_PCI_COMMON_DF:
		v = pci_device_features(p);
		if (p->dev_features_sel == 0)
			return (uint32_t)v;
		if (p->dev_features_sel == 1)
			return (uint32_t)(v >> 32);
		return 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return p->t.drv_features_sel;
	case VIRTIO_PCI_COMMON_GF:
		if (p->t.drv_features_sel == 0)
			return (uint32_t)p->t.drv_features;
		if (p->t.drv_features_sel == 1)
			return (uint32_t)(p->t.drv_features >> 32);
		return 0;
	case VIRTIO_PCI_COMMON_MSIX:
		return atomic_load(&p->msix_config);
	case VIRTIO_PCI_COMMON_NUMQ:
		return p->nr_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		v = p->t.status;
		if (p->t.needs_reset || vdev_device_needs_reset(p->t.dev))
			v |= VIRTIO_CONFIG_S_NEEDS_RESET;
		return (uint8_t)v;
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return (uint8_t)atomic_load(&p->generation);
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return p->queue_sel;
	}
	/* The queue fields of an absent queue read 0 (queue_size 0). */
	if (!q)
		return 0;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return q->vq.size;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return atomic_load(&q->vector);
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return q->vq.ready;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return p->queue_sel;
	case VIRTIO_PCI_COMMON_Q_NDATA:
		/*
		 * Without VIRTIO_F_NOTIF_CONFIG_DATA the notification starts
		 * with the queue index (VIRTIO 1.2, 4.1.5.2).
		 */
		return p->queue_sel;
	case VIRTIO_PCI_COMMON_Q_RESET:
		/* The reset completes within the write (pci_queue_reset). */
		return 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		v = *common_queue_addr(q, off);
		return off & 4 ? (uint32_t)(v >> 32) : (uint32_t)v;
	}
	return 0;
}

static void common_write_size(struct vdev_pci *p, uint32_t val)
{
	struct pci_queue *q = pci_queue_writable(p, "queue_size");

	if (!q)
		return;
	/*
	 * 0 and sizes above the maximum are never valid. Whether the size
	 * must be a power of two depends on the ring format, which the
	 * queue layer checks when the device starts.
	 */
	if (!val || val > q->vq.max_size) {
		pci_warn(p, "queue %u: size %u (max %u) ignored",
			 p->queue_sel, val, q->vq.max_size);
		return;
	}
	q->vq.size = val;
}

static void common_write_enable(struct vdev_pci *p, uint32_t val)
{
	struct pci_queue *q;
	int ret;

	if (val != 1) {
		/* VIRTIO 1.2, 4.1.4.3.2: the driver MUST NOT write 0. */
		pci_warn(p, "queue_enable %u ignored", val);
		return;
	}
	q = pci_queue_writable(p, "queue_enable");
	if (!q)
		return;
	if (q->reset) {
		/*
		 * Re-enabling a queue reset with queue_reset: the core maps
		 * it and its worker takes it up again. A bad setting leaves
		 * it stopped, with DEVICE_NEEDS_RESET.
		 */
		ret = vdev_device_queue_enable(p->t.dev, &q->vq);
		if (ret) {
			pci_warn(p, "queue %u not re-enabled: %d", p->queue_sel,
				 ret);
			pci_needs_reset(p);
			return;
		}
		q->reset = false;
	}
	q->vq.ready = true;
}

/*
 * queue_reset=1 (VIRTIO_F_RING_RESET, VIRTIO 1.2, 4.1.4.3.2), offered only
 * for a device that can reset one queue. Before DRIVER_OK the queue goes
 * back to its power-on state. While the device runs, the core resets the
 * one enabled queue (vdev_device_queue_reset(): workers parked, the
 * device drops its state for the queue, the rings are unmapped, size and
 * addresses read their power-on values) while the others keep running;
 * queue_msix_vector goes back to NO_VECTOR. The driver may then program
 * the queue and write queue_enable=1 to run it again. The reset
 * completes within the write, so queue_reset always reads 0, and
 * queue_enable reads 0 once it returns, as the driver waits for.
 */
static void pci_queue_reset(struct vdev_pci *p, uint32_t val)
{
	struct pci_queue *q = pci_sel_queue(p);
	int ret;

	if (!vdev_device_feature_acked(p->t.dev, VIRTIO_F_RING_RESET)) {
		pci_warn(p, "queue_reset without VIRTIO_F_RING_RESET ignored");
		return;
	}
	if (!q) {
		pci_warn(p, "queue_reset of absent queue %u", p->queue_sel);
		return;
	}
	if (val != 1) {
		pci_warn(p, "queue_reset %u ignored", val);
		return;
	}
	if (!(p->t.status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		pci_queue_init(p, p->queue_sel);
		return;
	}
	if (!q->vq.ready) {
		pci_warn(p, "queue_reset of queue %u, not enabled, ignored",
			 p->queue_sel);
		return;
	}
	ret = vdev_device_queue_reset(p->t.dev, &q->vq);
	if (ret) {
		/* -EINVAL: the device is not active, nothing runs the queue. */
		pci_warn(p, "queue %u reset: %d", p->queue_sel, ret);
		pci_needs_reset(p);
		return;
	}
	q->reset = true;
	atomic_store(&q->vector, VIRTIO_MSI_NO_VECTOR);
}

static void common_write(struct vdev_pci *p, uint64_t off, uint32_t val)
{
	struct pci_queue *q;
	uint64_t *addr = NULL;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		p->dev_features_sel = val;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		p->t.drv_features_sel = val;
		return;
	case VIRTIO_PCI_COMMON_GF:
		__vdev_transport_write_driver_features(&p->t, val,
						     "driver_feature");
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		atomic_store(&p->msix_config, pci_vector_value(p, val));
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		__vdev_transport_write_status(&p->t, val, "device_status");
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		p->queue_sel = val;
		return;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		common_write_size(p, val);
		return;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q = pci_sel_queue(p);
		if (q)
			atomic_store(&q->vector, pci_vector_value(p, val));
		else
			pci_warn(p, "queue_msix_vector write to absent queue %u",
				 p->queue_sel);
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		common_write_enable(p, val);
		return;
	case VIRTIO_PCI_COMMON_Q_RESET:
		pci_queue_reset(p, val);
		return;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		q = pci_queue_writable(p, "queue address");
		if (!q)
			return;
		addr = common_queue_addr(q, off);
		if (off & 4)
			set_high(addr, val);
		else
			set_low(addr, val);
		return;
	default:
		/*
		 * device_feature, num_queues, config_generation,
		 * queue_notify_off, queue_notify_data
		 */
		pci_warn(p, "write of %#x to read-only common cfg %#llx ignored",
			 val, (unsigned long long)off);
		return;
	}
}

/* ---- MSI-X table and PBA ---- */

static void msix_table_read(struct vdev_pci *p, uint64_t off, void *data,
			    unsigned int len)
{
	struct pci_vector *e = &p->vectors[off / PCI_MSIX_ENTRY_SIZE];
	uint8_t entry[PCI_MSIX_ENTRY_SIZE];

	put32(entry + PCI_MSIX_ENTRY_LOWER_ADDR, e->addr_lo);
	put32(entry + PCI_MSIX_ENTRY_UPPER_ADDR, e->addr_hi);
	put32(entry + PCI_MSIX_ENTRY_DATA, e->data);
	pthread_mutex_lock(&p->irq_lock);
	put32(entry + PCI_MSIX_ENTRY_VECTOR_CTRL, e->ctrl);
	pthread_mutex_unlock(&p->irq_lock);
	memcpy(data, entry + off % PCI_MSIX_ENTRY_SIZE, len);
}

static void msix_table_write(struct vdev_pci *p, uint64_t off,
			     const void *data, unsigned int len)
{
	unsigned int v = off / PCI_MSIX_ENTRY_SIZE;
	struct pci_vector *e = &p->vectors[v];
	uint8_t entry[PCI_MSIX_ENTRY_SIZE];
	uint32_t lo = e->addr_lo, hi = e->addr_hi, d = e->data;

	put32(entry + PCI_MSIX_ENTRY_LOWER_ADDR, e->addr_lo);
	put32(entry + PCI_MSIX_ENTRY_UPPER_ADDR, e->addr_hi);
	put32(entry + PCI_MSIX_ENTRY_DATA, e->data);
	pthread_mutex_lock(&p->irq_lock);
	put32(entry + PCI_MSIX_ENTRY_VECTOR_CTRL, e->ctrl);
	memcpy(entry + off % PCI_MSIX_ENTRY_SIZE, data, len);
	e->addr_lo = get32(entry + PCI_MSIX_ENTRY_LOWER_ADDR);
	e->addr_hi = get32(entry + PCI_MSIX_ENTRY_UPPER_ADDR);
	e->data = get32(entry + PCI_MSIX_ENTRY_DATA);
	/* Only the mask bit of Vector Control is writable. */
	e->ctrl = get32(entry + PCI_MSIX_ENTRY_VECTOR_CTRL) &
		  PCI_MSIX_ENTRY_CTRL_MASKBIT;
	if (!(e->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT))
		pci_deliver_pending(p);
	pthread_mutex_unlock(&p->irq_lock);

	if ((lo != e->addr_lo || hi != e->addr_hi || d != e->data) &&
	    p->ops && p->ops->vector_changed)
		p->ops->vector_changed(p, p->opaque, v,
				       (uint64_t)e->addr_hi << 32 | e->addr_lo,
				       e->data);
}

static void msix_pba_read(struct vdev_pci *p, uint64_t off, void *data,
			  unsigned int len)
{
	uint8_t q[8];

	pthread_mutex_lock(&p->irq_lock);
	put_le(q, 8, p->pba[off / 8]);
	pthread_mutex_unlock(&p->irq_lock);
	memcpy(data, q + off % 8, len);
}

/* ---- the BAR ---- */

/* Is @off inside [@start, @start + @size)? *@rel: the offset inside. */
static bool in_struct(uint64_t off, uint64_t start, uint64_t size,
		      uint64_t *rel)
{
	if (off < start || off - start >= size)
		return false;
	*rel = off - start;
	return true;
}

/*
 * Is an access of @len bytes at @rel of a structure of @size bytes one of
 * the sizes in @sizes (a mask of byte counts: 1 | 2 | 4 | 8), naturally
 * aligned and inside the structure?
 */
static bool width_ok(uint64_t rel, unsigned int len, uint64_t size,
		     unsigned int sizes)
{
	if (len > 8 || (len & (len - 1)) || !(sizes & len) ||
	    (rel & (len - 1)))
		return false;
	return len <= size - rel;
}

/*
 * A notify write: the slot of an existing queue, 2 bytes (the queue
 * index) or 4 (VIRTIO_F_NOTIFICATION_DATA: the index, then the next
 * available offset and wrap bit). No lock.
 */
static void pci_notify(struct vdev_pci *p, uint64_t rel, unsigned int len)
{
	unsigned int i = rel / VDEV_PCI_NOTIFY_MULTIPLIER;
	int ret;

	/*
	 * The address names the queue; the value is not read, with or
	 * without NOTIFICATION_DATA (the data is a hint, and an ioeventfd
	 * does not read it either).
	 */
	if (rel % VDEV_PCI_NOTIFY_MULTIPLIER || (len != 2 && len != 4) ||
	    i >= p->nr_queues) {
		pci_warn(p, "notify of %u bytes at %#llx ignored", len,
			 (unsigned long long)rel);
		return;
	}
	ret = eventfd_kick(p->queues[i].notify_fd);
	if (ret)
		vdev_log(VDEV_LOG_DEBUG, "%s: pci: queue %u notify: %d",
			 p->t.dev->name, i, ret);
}

/*
 * An access inside the BAR, which the function claims: a bad one is
 * ignored with a warning and reads 0. @data was zeroed for a read. Called
 * with p->lock held, except for the notify structure (see vdev_pci_bar_write).
 */
static void bar_access(struct vdev_pci *p, uint64_t off, void *data,
		       unsigned int len, bool write)
{
	uint64_t rel;
	uint64_t v;

	if (in_struct(off, VDEV_PCI_COMMON_OFFSET, VDEV_PCI_COMMON_SIZE, &rel)) {
		if (common_width(rel) != len)
			goto bad;
		if (write) {
			common_write(p, rel, get_le(data, len));
		} else {
			v = common_read(p, rel);
			put_le(data, len, v);
		}
		return;
	}
	if (in_struct(off, VDEV_PCI_ISR_OFFSET, VDEV_PCI_ISR_SIZE, &rel)) {
		if (len != 1 || write)
			goto bad;
		/* Reading ISR clears it and lowers INTx (VIRTIO 1.2, 4.1.4.5). */
		pthread_mutex_lock(&p->irq_lock);
		*(uint8_t *)data = p->isr;
		p->isr = 0;
		pthread_mutex_unlock(&p->irq_lock);
		return;
	}
	if (in_struct(off, VDEV_PCI_DEVICE_OFFSET, VDEV_PCI_DEVICE_SIZE, &rel)) {
		if (!width_ok(rel, len, VDEV_PCI_DEVICE_SIZE, 1 | 2 | 4 | 8))
			goto bad;
		if (write) {
			vdev_device_write_config(p->t.dev, rel, data, len);
			/* The driver changed the config space. */
			atomic_fetch_add(&p->generation, 1);
		} else {
			vdev_device_read_config(p->t.dev, rel, data, len);
		}
		return;
	}
	if (in_struct(off, VDEV_PCI_NOTIFY_OFFSET, NOTIFY_LEN(p), &rel)) {
		if (write)
			pci_notify(p, rel, len);
		return;		/* reads as 0 */
	}
	if (in_struct(off, VDEV_PCI_MSIX_TABLE_OFFSET, MSIX_TABLE_LEN(p), &rel)) {
		/* DWORD or aligned QWORD accesses (PCI 3.0, 6.8.2). */
		if (!width_ok(rel, len, MSIX_TABLE_LEN(p), 4 | 8))
			goto bad;
		if (len == 8) {
			if (write) {
				msix_table_write(p, rel, data, 4);
				msix_table_write(p, rel + 4,
						 (const uint8_t *)data + 4, 4);
			} else {
				msix_table_read(p, rel, data, 4);
				msix_table_read(p, rel + 4,
						(uint8_t *)data + 4, 4);
			}
		} else if (write) {
			msix_table_write(p, rel, data, len);
		} else {
			msix_table_read(p, rel, data, len);
		}
		return;
	}
	if (in_struct(off, VDEV_PCI_MSIX_PBA_OFFSET, MSIX_PBA_LEN(p), &rel)) {
		if (write || !width_ok(rel, len, MSIX_PBA_LEN(p), 4 | 8))
			goto bad;
		msix_pba_read(p, rel, data, len);
		return;
	}
bad:
	pci_warn(p, "BAR %s of %u bytes at %#llx ignored",
		 write ? "write" : "read", len, (unsigned long long)off);
	if (!write)
		memset(data, 0, len);
}

/* ---- configuration space ---- */

static uint64_t cfg_bar_value(struct vdev_pci *p)
{
	return (uint64_t)get32(p->cfg + PCI_BASE_ADDRESS_1) << 32 |
	       (get32(p->cfg + PCI_BASE_ADDRESS_0) & PCI_BASE_ADDRESS_MEM_MASK);
}

/* Recompute where the BAR is decoded; tell the VMM when it moved. */
static void pci_update_bar(struct vdev_pci *p)
{
	uint16_t cmd = get16(p->cfg + PCI_COMMAND);
	uint64_t old = atomic_load(&p->bar_addr), addr = VDEV_PCI_BAR_UNMAPPED;

	if (cmd & PCI_COMMAND_MEMORY)
		addr = cfg_bar_value(p);
	atomic_store(&p->mem_decode, cmd & PCI_COMMAND_MEMORY);
	if (addr == old)
		return;
	atomic_store(&p->bar_addr, addr);
	if (p->ops && p->ops->bar_moved)
		p->ops->bar_moved(p, p->opaque, VDEV_PCI_BAR, old, addr);
}

static void pci_update_command(struct vdev_pci *p)
{
	uint16_t cmd = get16(p->cfg + PCI_COMMAND);

	pthread_mutex_lock(&p->irq_lock);
	p->intx_disabled = cmd & PCI_COMMAND_INTX_DISABLE;
	pci_intx_assert(p);
	pthread_mutex_unlock(&p->irq_lock);
}

static void pci_update_msix(struct vdev_pci *p)
{
	uint16_t flags = get16(p->cfg + VDEV_PCI_CAP_MSIX + PCI_MSIX_FLAGS);
	bool enabled = flags & PCI_MSIX_FLAGS_ENABLE;
	bool was;

	pthread_mutex_lock(&p->irq_lock);
	was = p->msix_enabled;
	p->msix_enabled = enabled;
	p->msix_masked = flags & PCI_MSIX_FLAGS_MASKALL;
	pci_deliver_pending(p);
	pci_intx_assert(p);	/* MSI-X off with ISR set: INTx */
	pthread_mutex_unlock(&p->irq_lock);
	if (was != enabled && p->ops && p->ops->msix_changed)
		p->ops->msix_changed(p, p->opaque, enabled);
}

/*
 * The PCI configuration access capability (VIRTIO 1.2, 4.1.4.9): an
 * access to pci_cfg_data is an access of cap.length bytes at cap.offset
 * of BAR cap.bar, whether or not memory decode is on.
 */
static void pci_cfg_cap_access(struct vdev_pci *p, bool write)
{
	uint8_t *cap = p->cfg + VDEV_PCI_CAP_PCI_CFG;
	uint8_t *data = cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	uint32_t off = get32(cap + VIRTIO_PCI_CAP_OFFSET);
	uint32_t len = get32(cap + VIRTIO_PCI_CAP_LENGTH);
	uint8_t bar = cap[VIRTIO_PCI_CAP_BAR];

	if (bar != VDEV_PCI_BAR || (len != 1 && len != 2 && len != 4) ||
	    (off & (len - 1)) || off >= VDEV_PCI_BAR_SIZE) {
		pci_warn(p, "pci_cfg_data access to BAR %u, %u bytes at %#x ignored",
			 bar, len, off);
		return;
	}
	if (write) {
		bar_access(p, off, data, len, true);
	} else {
		memset(data, 0, 4);
		bar_access(p, off, data, len, false);
	}
}

/* Reads of the configuration header as stored, plus the live bits. */
static void cfg_read(struct vdev_pci *p, uint32_t off, void *data,
		     unsigned int len)
{
	uint8_t status;

	if (overlaps(off, len, VDEV_PCI_CAP_PCI_CFG +
		     offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 4))
		pci_cfg_cap_access(p, false);
	pthread_mutex_lock(&p->irq_lock);
	status = p->cfg[PCI_STATUS] & ~PCI_STATUS_INTERRUPT;
	if (pci_intx_level(p))
		status |= PCI_STATUS_INTERRUPT;
	p->cfg[PCI_STATUS] = status;
	pthread_mutex_unlock(&p->irq_lock);
	memcpy(data, p->cfg + off, len);
}

static void cfg_write(struct vdev_pci *p, uint32_t off, const void *data,
		      unsigned int len)
{
	const uint8_t *b = data;
	unsigned int i;

	for (i = 0; i < len; i++)
		p->cfg[off + i] = (p->cfg[off + i] & ~p->wmask[off + i]) |
				  (b[i] & p->wmask[off + i]);
	if (overlaps(off, len, PCI_COMMAND, 2))
		pci_update_command(p);
	if (overlaps(off, len, PCI_COMMAND, 2) ||
	    overlaps(off, len, PCI_BASE_ADDRESS_0, 8))
		pci_update_bar(p);
	if (overlaps(off, len, VDEV_PCI_CAP_MSIX + PCI_MSIX_FLAGS, 2))
		pci_update_msix(p);
	if (overlaps(off, len, VDEV_PCI_CAP_PCI_CFG +
		     offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 4))
		pci_cfg_cap_access(p, true);
}

static void cfg_vendor_cap(struct vdev_pci *p, uint8_t pos, uint8_t next,
			   uint8_t len, uint8_t type, uint32_t off,
			   uint32_t size)
{
	uint8_t *c = p->cfg + pos;

	c[VIRTIO_PCI_CAP_VNDR] = PCI_CAP_ID_VNDR;
	c[VIRTIO_PCI_CAP_NEXT] = next;
	c[VIRTIO_PCI_CAP_LEN] = len;
	c[VIRTIO_PCI_CAP_CFG_TYPE] = type;
	c[VIRTIO_PCI_CAP_BAR] = VDEV_PCI_BAR;
	put32(c + VIRTIO_PCI_CAP_OFFSET, off);
	put32(c + VIRTIO_PCI_CAP_LENGTH, size);
}

static uint32_t pci_class(uint32_t type)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pci_classes); i++)
		if (pci_classes[i].type == type)
			return pci_classes[i].class;
	return PCI_CLASS_OTHERS;
}

/* Power-on configuration header and MSI-X state. */
static void pci_cfg_init(struct vdev_pci *p)
{
	uint32_t type = vdev_device_type(p->t.dev);
	uint8_t *c = p->cfg, *w = p->wmask;
	unsigned int i;

	memset(c, 0, sizeof(p->cfg));
	memset(w, 0, sizeof(p->wmask));
	put16(c + PCI_VENDOR_ID, VDEV_PCI_VENDOR_ID);
	put16(c + PCI_DEVICE_ID, VDEV_PCI_DEVICE_ID_BASE + type);
	put16(w + PCI_COMMAND, PCI_COMMAND_WMASK);
	put16(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
	put32(c + PCI_CLASS_REVISION, pci_class(type) << 8 | VDEV_PCI_REVISION);
	w[PCI_CACHE_LINE_SIZE] = 0xff;
	c[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put32(c + PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_SPACE_MEMORY |
				     PCI_BASE_ADDRESS_MEM_TYPE_64);
	put32(w + PCI_BASE_ADDRESS_0, (uint32_t)~(VDEV_PCI_BAR_SIZE - 1) &
				     (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
	put32(w + PCI_BASE_ADDRESS_1, 0xffffffff);
	put16(c + PCI_SUBSYSTEM_VENDOR_ID, VDEV_PCI_VENDOR_ID);
	put16(c + PCI_SUBSYSTEM_ID, VDEV_PCI_DEVICE_ID_BASE + type);
	c[PCI_CAPABILITY_LIST] = VDEV_PCI_CAP_COMMON;
	w[PCI_INTERRUPT_LINE] = 0xff;
	c[PCI_INTERRUPT_PIN] = 1;	/* INTA# */

	cfg_vendor_cap(p, VDEV_PCI_CAP_COMMON, VDEV_PCI_CAP_NOTIFY,
		       sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_COMMON_CFG,
		       VDEV_PCI_COMMON_OFFSET, VDEV_PCI_COMMON_SIZE);
	cfg_vendor_cap(p, VDEV_PCI_CAP_NOTIFY, VDEV_PCI_CAP_ISR,
		       sizeof(struct virtio_pci_notify_cap),
		       VIRTIO_PCI_CAP_NOTIFY_CFG, VDEV_PCI_NOTIFY_OFFSET,
		       NOTIFY_LEN(p));
	put32(c + VDEV_PCI_CAP_NOTIFY + VIRTIO_PCI_NOTIFY_CAP_MULT,
	      VDEV_PCI_NOTIFY_MULTIPLIER);
	cfg_vendor_cap(p, VDEV_PCI_CAP_ISR, VDEV_PCI_CAP_DEVICE,
		       sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_ISR_CFG,
		       VDEV_PCI_ISR_OFFSET, VDEV_PCI_ISR_SIZE);
	cfg_vendor_cap(p, VDEV_PCI_CAP_DEVICE, VDEV_PCI_CAP_PCI_CFG,
		       sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_DEVICE_CFG,
		       VDEV_PCI_DEVICE_OFFSET, VDEV_PCI_DEVICE_SIZE);
	/* The access capability's window fields start at 0, writable. */
	cfg_vendor_cap(p, VDEV_PCI_CAP_PCI_CFG, VDEV_PCI_CAP_MSIX,
		       sizeof(struct virtio_pci_cfg_cap),
		       VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	w[VDEV_PCI_CAP_PCI_CFG + VIRTIO_PCI_CAP_BAR] = 0xff;
	for (i = 0; i < 4; i++) {
		w[VDEV_PCI_CAP_PCI_CFG + VIRTIO_PCI_CAP_OFFSET + i] = 0xff;
		w[VDEV_PCI_CAP_PCI_CFG + VIRTIO_PCI_CAP_LENGTH + i] = 0xff;
		w[VDEV_PCI_CAP_PCI_CFG +
		  offsetof(struct virtio_pci_cfg_cap, pci_cfg_data) + i] = 0xff;
	}

	c[VDEV_PCI_CAP_MSIX + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSIX;
	c[VDEV_PCI_CAP_MSIX + PCI_CAP_LIST_NEXT] = 0;
	put16(c + VDEV_PCI_CAP_MSIX + PCI_MSIX_FLAGS, p->nr_vectors - 1);
	put16(w + VDEV_PCI_CAP_MSIX + PCI_MSIX_FLAGS,
	      PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put32(c + VDEV_PCI_CAP_MSIX + PCI_MSIX_TABLE,
	      VDEV_PCI_MSIX_TABLE_OFFSET | VDEV_PCI_BAR);
	put32(c + VDEV_PCI_CAP_MSIX + PCI_MSIX_PBA,
	      VDEV_PCI_MSIX_PBA_OFFSET | VDEV_PCI_BAR);

	for (i = 0; i < p->nr_vectors; i++) {
		p->vectors[i].addr_lo = 0;
		p->vectors[i].addr_hi = 0;
		p->vectors[i].data = 0;
		p->vectors[i].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
	memset(p->pba, 0, MSIX_PBA_LEN(p));
	p->msix_enabled = false;
	p->msix_masked = false;
	p->intx_disabled = false;
	p->isr = 0;
	atomic_store(&p->bar_addr, VDEV_PCI_BAR_UNMAPPED);
	atomic_store(&p->mem_decode, false);
}

/* Config accesses: 1, 2 or 4 bytes, naturally aligned, in the header. */
static bool cfg_access_ok(struct vdev_pci *p, uint32_t off, unsigned int len)
{
	if ((len != 1 && len != 2 && len != 4) || (off & (len - 1)) ||
	    off >= VDEV_PCI_CONFIG_SIZE) {
		pci_warn(p, "config access of %u bytes at %#x ignored", len,
			 off);
		return false;
	}
	return true;
}

/**
 * vdev_pci_config_read() - the driver reads configuration space
 * @pci: the transport
 * @offset: offset within the function's configuration space
 * @data: destination, @len bytes (little-endian)
 * @len: 1, 2 or 4, naturally aligned
 *
 * The function decodes the 256-byte header (the capabilities included).
 * Never fails: an access of another size, unaligned, or at or beyond
 * offset 256 (the extended space of a PCI Express function, which this
 * conventional function does not have) is ignored with a rate-limited
 * warning and reads all ones, as an access no function claims does.
 * Unimplemented registers inside the header read 0. A read that covers
 * pci_cfg_data of the PCI configuration access capability performs the
 * BAR read it describes.
 *
 * Context: any vCPU thread, several at once; takes the transport's lock.
 */
void vdev_pci_config_read(struct vdev_pci *pci, uint32_t offset, void *data,
			  unsigned int len)
{
	if (!len)
		return;
	memset(data, 0xff, len);
	if (!cfg_access_ok(pci, offset, len))
		return;
	pthread_mutex_lock(&pci->lock);
	cfg_read(pci, offset, data, len);
	pthread_mutex_unlock(&pci->lock);
}

/**
 * vdev_pci_config_write() - the driver writes configuration space
 * @pci: the transport
 * @offset: offset within the function's configuration space
 * @data: source, @len bytes (little-endian)
 * @len: 1, 2 or 4, naturally aligned
 *
 * Only the writable bits change (command, cache line size, the BAR
 * address, interrupt line, MSI-X enable and function mask, the fields of
 * the PCI configuration access capability); read-only bits keep their
 * value, as PCI requires. Accesses vdev_pci_config_read() ignores are
 * ignored here too. A change of where the BAR is decoded, of MSI-X
 * enable, calls the matching &struct vdev_pci_ops callback before the
 * write returns.
 *
 * Context: any vCPU thread, several at once; takes the transport's lock.
 */
void vdev_pci_config_write(struct vdev_pci *pci, uint32_t offset,
			   const void *data, unsigned int len)
{
	if (!len || !cfg_access_ok(pci, offset, len))
		return;
	pthread_mutex_lock(&pci->lock);
	cfg_write(pci, offset, data, len);
	pthread_mutex_unlock(&pci->lock);
}

/* Does the function claim a BAR access? Unclaimed ones read all ones. */
static bool bar_claimed(struct vdev_pci *p, unsigned int bar, uint64_t off,
			unsigned int len)
{
	if (bar != VDEV_PCI_BAR) {
		pci_warn(p, "access to BAR %u, which does not exist", bar);
		return false;
	}
	if (!atomic_load(&p->mem_decode)) {
		pci_warn(p, "BAR access with memory decode off ignored");
		return false;
	}
	if (len > 8 || off >= VDEV_PCI_BAR_SIZE ||
	    len > VDEV_PCI_BAR_SIZE - off) {
		pci_warn(p, "BAR access of %u bytes at %#llx outside the BAR",
			 len, (unsigned long long)off);
		return false;
	}
	return true;
}

/**
 * vdev_pci_bar_read() - the driver reads the BAR
 * @pci: the transport
 * @bar: BAR index; only VDEV_PCI_BAR exists
 * @offset: offset within the BAR
 * @data: destination, @len bytes (little-endian)
 * @len: access size; each structure's allowed sizes are in
 *       Documentation/pci.rst
 *
 * Never fails. An access the function does not claim (another BAR,
 * memory decode off, outside the BAR) reads all ones; one it claims but
 * the layout does not allow (wrong size, unaligned, between structures)
 * reads 0. Both are ignored with a rate-limited warning. Reading ISR
 * clears it and lowers INTx.
 *
 * Context: any vCPU thread, several at once; takes the transport's lock.
 */
void vdev_pci_bar_read(struct vdev_pci *pci, unsigned int bar,
		       uint64_t offset, void *data, unsigned int len)
{
	if (!len)
		return;
	memset(data, 0xff, len);
	if (!bar_claimed(pci, bar, offset, len))
		return;
	memset(data, 0, len);
	pthread_mutex_lock(&pci->lock);
	bar_access(pci, offset, data, len, false);
	pthread_mutex_unlock(&pci->lock);
}

/**
 * vdev_pci_bar_write() - the driver writes the BAR
 * @pci: the transport
 * @bar: BAR index; only VDEV_PCI_BAR exists
 * @offset: offset within the BAR
 * @data: source, @len bytes (little-endian)
 * @len: access size, see vdev_pci_bar_read()
 *
 * A write the layout or the current state does not allow is ignored with
 * a rate-limited warning. Writing DRIVER_OK to device_status activates the
 * device; writing 0 resets it and returns only after every worker thread
 * of the device has been joined. A write to a queue's notify address
 * signals its eventfd (vdev_pci_queue_notify_fd()).
 *
 * Context: any vCPU thread, several at once, never a worker of the
 * device; takes the transport's lock, except for a notify write, which
 * only signals the queue's eventfd.
 */
void vdev_pci_bar_write(struct vdev_pci *pci, unsigned int bar,
			uint64_t offset, const void *data, unsigned int len)
{
	if (!len || !bar_claimed(pci, bar, offset, len))
		return;
	/* The hot path without ioeventfd: the notify fds never change. */
	if (offset >= VDEV_PCI_NOTIFY_OFFSET &&
	    offset - VDEV_PCI_NOTIFY_OFFSET < NOTIFY_LEN(pci)) {
		pci_notify(pci, offset - VDEV_PCI_NOTIFY_OFFSET, len);
		return;
	}
	pthread_mutex_lock(&pci->lock);
	bar_access(pci, offset, (void *)data, len, true);
	pthread_mutex_unlock(&pci->lock);
}

/* ---- lifetime ---- */

static int new_eventfd(struct vdev_pci *p, const char *what, int *fdp)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0) {
		vdev_log(VDEV_LOG_ERR, "%s: pci: cannot create %s eventfd: %d",
			 p->t.dev->name, what, -errno);
		return -errno;
	}
	*fdp = fd;
	return 0;
}

/**
 * vdev_pci_create() - create a virtio-pci function for a device
 * @dev: the device (a reference is taken)
 * @mem: guest memory the device will use (a reference is taken)
 * @ops: the VMM's callbacks, or NULL; must outlive the transport
 * @opaque: passed to each callback
 * @pcip: on success the new transport
 *
 * The function has one MSI-X vector per queue plus one for configuration
 * changes. The transport owns one eventfd per queue
 * (vdev_pci_queue_notify_fd()), one per vector (vdev_pci_vector_fd()),
 * the INTx eventfd and its resample partner, created here and kept until
 * vdev_pci_destroy(): resets do not change them, so KVM registrations
 * stay valid across guest resets. The function starts as after PCI
 * reset: memory decode off, BAR at 0, MSI-X disabled.
 *
 * Return: 0; -EINVAL for a NULL argument, a device without queues or
 * with more than VDEV_PCI_MAX_QUEUES, or a device type above
 * VDEV_PCI_MAX_DEVICE_TYPE (no modern PCI device id); -ENOMEM; -errno
 * from eventfd().
 */
int vdev_pci_create(struct vdev_device *dev, struct vdev_mem *mem,
		    const struct vdev_pci_ops *ops, void *opaque,
		    struct vdev_pci **pcip)
{
	const uint16_t *sizes;
	struct vdev_pci *p;
	unsigned int i, nr;
	uint32_t type;
	int ret;

	if (!dev || !mem || !pcip)
		return -EINVAL;
	nr = vdev_device_queue_max_sizes(dev, &sizes);
	if (!nr || nr > VDEV_PCI_MAX_QUEUES) {
		vdev_log(VDEV_LOG_ERR, "%s: pci: %u queues (1 to %u supported)",
			 dev->name, nr, VDEV_PCI_MAX_QUEUES);
		return -EINVAL;
	}
	type = vdev_device_type(dev);
	if (!type || type > VDEV_PCI_MAX_DEVICE_TYPE) {
		vdev_log(VDEV_LOG_ERR, "%s: pci: device type %u has no PCI id",
			 dev->name, type);
		return -EINVAL;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->opaque = opaque;
	p->nr_queues = nr;
	p->nr_vectors = nr + 1;
	p->intx_fd = -1;
	p->resample_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->irq_lock, NULL);
	atomic_init(&p->generation, 0);
	atomic_init(&p->msix_config, VIRTIO_MSI_NO_VECTOR);
	atomic_init(&p->bar_addr, VDEV_PCI_BAR_UNMAPPED);
	atomic_init(&p->mem_decode, false);
	vdev_interrupt_init(&p->irq, &pci_irq_ops);

	ret = __vdev_transport_init(&p->t, &pci_transport_ops, "pci", dev,
				  &p->irq, nr);
	p->t.own_features = PCI_TRANSPORT_FEATURES;
	p->t.hidden_features = pci_hidden_features(p);
	p->queues = calloc(nr, sizeof(*p->queues));
	p->vectors = calloc(p->nr_vectors, sizeof(*p->vectors));
	p->pba = calloc(1, MSIX_PBA_LEN(p));
	if (ret || !p->queues || !p->vectors || !p->pba) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < nr; i++)
		p->queues[i].notify_fd = -1;
	for (i = 0; i < p->nr_vectors; i++)
		p->vectors[i].fd = -1;

	for (i = 0; i < nr; i++) {
		ret = new_eventfd(p, "notify", &p->queues[i].notify_fd);
		if (ret)
			goto out_free;
		pci_queue_init(p, i);
	}
	for (i = 0; i < p->nr_vectors; i++) {
		ret = new_eventfd(p, "vector", &p->vectors[i].fd);
		if (ret)
			goto out_free;
	}
	ret = new_eventfd(p, "INTx", &p->intx_fd);
	if (ret)
		goto out_free;
	ret = new_eventfd(p, "resample", &p->resample_fd);
	if (ret)
		goto out_free;
	pci_cfg_init(p);

	p->t.dev = vdev_device_get(dev);
	p->t.mem = vdev_mem_get(mem);
	*pcip = p;
	return 0;

out_free:
	pci_free(p);
	return ret;
}

/**
 * vdev_pci_queue_notify_fd() - the eventfd behind a queue's notify address
 * @pci: the transport
 * @queue: queue index
 *
 * A write to the queue's notify address (vdev_pci_notify_offset() inside
 * the BAR) signals this eventfd; register it with KVM_IOEVENTFD on that
 * address with length 0 (any width) and no datamatch so that
 * notifications skip the exit: the driver writes 2 bytes, or 4 with
 * VIRTIO_F_NOTIFICATION_DATA, whose value is not the queue index alone. The fd stays owned by @pci and valid until
 * vdev_pci_destroy().
 *
 * Return: the fd, or -EINVAL for a queue the device does not have.
 */
int vdev_pci_queue_notify_fd(struct vdev_pci *pci, unsigned int queue)
{
	if (queue >= pci->nr_queues)
		return -EINVAL;
	return pci->queues[queue].notify_fd;
}

/**
 * vdev_pci_notify_offset() - where a queue's notify address is in the BAR
 * @pci: the transport
 * @queue: queue index
 *
 * The guest-physical notify address is vdev_pci_bar_addr() plus this
 * offset (cap.offset + queue_notify_off * notify_off_multiplier).
 *
 * Return: the offset, or -EINVAL for a queue the device does not have.
 */
int64_t vdev_pci_notify_offset(struct vdev_pci *pci, unsigned int queue)
{
	if (queue >= pci->nr_queues)
		return -EINVAL;
	return VDEV_PCI_NOTIFY_OFFSET +
	       (int64_t)queue * VDEV_PCI_NOTIFY_MULTIPLIER;
}

/**
 * vdev_pci_vector_fd() - the eventfd vdev writes for an MSI-X vector
 * @pci: the transport
 * @vector: MSI-X table entry
 *
 * Written when an interrupt on @vector is delivered: MSI-X enabled, the
 * function and the vector unmasked. A masked vector is held pending in
 * the PBA and written when unmasked. Bind it with KVM_IRQFD to the MSI
 * route of the entry's message (see &struct vdev_pci_ops.vector_changed).
 * The fd stays owned by @pci and valid until vdev_pci_destroy().
 *
 * Return: the fd, or -EINVAL for a vector beyond the table.
 */
int vdev_pci_vector_fd(struct vdev_pci *pci, unsigned int vector)
{
	if (vector >= pci->nr_vectors)
		return -EINVAL;
	return pci->vectors[vector].fd;
}

/**
 * vdev_pci_intx_fd() - the eventfd vdev writes to assert INTx
 * @pci: the transport
 *
 * With MSI-X disabled, every interrupt sets ISR and writes this eventfd
 * (unless the command register disables INTx). INTx is a level interrupt,
 * high while ISR is not 0; reading ISR lowers it. Bind it with KVM_IRQFD
 * and KVM_IRQFD_FLAG_RESAMPLE, with vdev_pci_intx_resample_fd() as the
 * resample fd. Owned by @pci, valid until vdev_pci_destroy().
 *
 * Return: the fd.
 */
int vdev_pci_intx_fd(struct vdev_pci *pci)
{
	return pci->intx_fd;
}

/**
 * vdev_pci_intx_resample_fd() - the resample partner of the INTx eventfd
 * @pci: the transport
 *
 * KVM lowers a resampled irqfd's line at the guest's EOI and signals this
 * eventfd; when it is readable, call vdev_pci_intx_resample(), which
 * raises the line again if the level is still high. Owned by @pci, valid
 * until vdev_pci_destroy().
 *
 * Return: the fd.
 */
int vdev_pci_intx_resample_fd(struct vdev_pci *pci)
{
	return pci->resample_fd;
}

/**
 * vdev_pci_intx_resample() - the guest ended an INTx interrupt
 * @pci: the transport
 *
 * Drains the resample eventfd and, if ISR is still set (an interrupt came
 * after the guest read it) with MSI-X off, writes the INTx eventfd again,
 * so that the level interrupt is not lost.
 *
 * Context: any thread but a worker of the device; takes no lock but the
 * interrupt lock.
 */
void vdev_pci_intx_resample(struct vdev_pci *pci)
{
	drain_eventfd(pci->resample_fd);
	pthread_mutex_lock(&pci->irq_lock);
	pci_intx_assert(pci);
	pthread_mutex_unlock(&pci->irq_lock);
}

/**
 * vdev_pci_nr_queues() - number of queues the transport exposes
 * @pci: the transport
 *
 * Return: the count (the device's maximum, num_queues).
 */
unsigned int vdev_pci_nr_queues(struct vdev_pci *pci)
{
	return pci->nr_queues;
}

/**
 * vdev_pci_features() - the feature bits the function offers the driver
 * @pci: the transport
 *
 * What device_feature shows: the device's features without those this
 * transport cannot carry for it (VIRTIO_F_RING_RESET for a device without
 * per-queue reset, VIRTIO_F_NOTIF_CONFIG_DATA, VIRTIO_F_SR_IOV), with the
 * transport's own (VIRTIO_F_NOTIFICATION_DATA).
 *
 * Context: any thread.
 *
 * Return: the 64 feature bits.
 */
uint64_t vdev_pci_features(struct vdev_pci *pci)
{
	return pci_device_features(pci);
}

/**
 * vdev_pci_nr_vectors() - size of the MSI-X table
 * @pci: the transport
 *
 * Return: the number of vectors (queues plus one).
 */
unsigned int vdev_pci_nr_vectors(struct vdev_pci *pci)
{
	return pci->nr_vectors;
}

/**
 * vdev_pci_bar_addr() - where a BAR is decoded
 * @pci: the transport
 * @bar: BAR index
 *
 * Context: any thread, the &struct vdev_pci_ops callbacks included.
 *
 * Return: the guest-physical address, or VDEV_PCI_BAR_UNMAPPED while
 * memory decode is off or for a BAR that does not exist.
 */
uint64_t vdev_pci_bar_addr(struct vdev_pci *pci, unsigned int bar)
{
	if (bar != VDEV_PCI_BAR)
		return VDEV_PCI_BAR_UNMAPPED;
	return atomic_load(&pci->bar_addr);
}

/**
 * vdev_pci_reset() - PCI reset of the function (RST#, a VM reset)
 * @pci: the transport
 *
 * Resets the device (joining its workers) and puts the configuration
 * header back to its power-on state: memory decode off, BAR address 0,
 * MSI-X disabled with every vector masked and nothing pending. The
 * callbacks report the BAR leaving and MSI-X going off, if they were on.
 * The eventfds do not change.
 *
 * Context: not from a worker of the device.
 */
void vdev_pci_reset(struct vdev_pci *pci)
{
	uint64_t old;
	bool msix;

	pthread_mutex_lock(&pci->lock);
	pci_virtio_reset(pci);
	old = atomic_load(&pci->bar_addr);
	pthread_mutex_lock(&pci->irq_lock);
	msix = pci->msix_enabled;
	pci_cfg_init(pci);
	pthread_mutex_unlock(&pci->irq_lock);
	drain_eventfd(pci->resample_fd);
	if (pci->ops && pci->ops->bar_moved && old != VDEV_PCI_BAR_UNMAPPED)
		pci->ops->bar_moved(pci, pci->opaque, VDEV_PCI_BAR, old,
				    VDEV_PCI_BAR_UNMAPPED);
	if (pci->ops && pci->ops->msix_changed && msix)
		pci->ops->msix_changed(pci, pci->opaque, false);
	pthread_mutex_unlock(&pci->lock);
}

/**
 * vdev_pci_destroy() - reset the device and free the transport
 * @pci: the transport, or NULL
 *
 * Resets the device (joining its workers), closes every fd the transport
 * opened and drops its references on the device and the memory. No
 * callback is called: take down the KVM registrations of the eventfds
 * (irqfds, ioeventfds, MSI routes) before calling this.
 *
 * Context: not from a worker of the device (the reset joins them).
 */
void vdev_pci_destroy(struct vdev_pci *pci)
{
	if (!pci)
		return;
	pthread_mutex_lock(&pci->lock);
	pci_virtio_reset(pci);
	pthread_mutex_unlock(&pci->lock);
	vdev_device_put(pci->t.dev);
	vdev_mem_put(pci->t.mem);
	/* The last reference: the device gave its own back at reset. */
	vdev_interrupt_put(&pci->irq);
}
