// SPDX-License-Identifier: GPL-2.0
/*
 * --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,queues=N][,packed=on|off]:
 * vdev's virtio-net on the TAP NAME (vdev_net_create()), behind vdev's
 * virtio-pci transport in its own slot, wired to KVM by
 * vdev_kvm_pci_attach(): queue notifications through ioeventfds, MSI-X
 * vectors through irqfds on MSI routes from GSI VMM_MSI_GSI(slot) (the
 * glue shares the VM's routing table between the functions), INTx on
 * IOAPIC pin VMM_PCI_INTX_PIN(slot). The BAR is pre-assigned as firmware would,
 * at VMM_PCI_BAR_BASE + (slot - 1) * VDEV_PCI_BAR_SIZE, memory decode
 * on, so that Linux keeps it.
 *
 * packed=off hides VIRTIO_F_RING_PACKED from the driver: the VMM masks
 * the bit in the device feature word it reads through the common
 * configuration (and in what it writes back), the way a VMM filters a
 * device's features; libvdev's virtio-net offers both ring formats.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include <vdev/mem.h>
#include <vdev/net.h>

#include "tool.h"
#include "vmm.h"

/* The bit of VIRTIO_F_RING_PACKED in feature word 1. */
#define PACKED_BIT_HI	(1U << (VIRTIO_F_RING_PACKED - 32))

/**
 * struct net_opts - a parsed --net
 * @tap: the TAP's name
 * @mac: the guest's MAC (all zero: vdev picks one)
 * @queues: queue pairs
 * @packed: offer the packed ring
 */
struct net_opts {
	char tap[16];
	uint8_t mac[6];
	unsigned int queues;
	bool packed;
};

/**
 * struct net_dev - one virtio-net function
 * @pd: its place on bus 0
 * @vm: its VM
 * @opts: its options
 * @mem: guest RAM as the device sees it
 * @dev: the virtio-net device
 * @pci: its transport
 * @kpci: the KVM glue
 * @bar: where the BAR is decoded (VDEV_PCI_BAR_UNMAPPED: not)
 * @dfselect: the driver's last device_feature_select
 * @gfselect: the driver's last driver_feature_select
 */
struct net_dev {
	struct vmm_pci_dev pd;
	struct vmm_vm *vm;
	const struct net_opts *opts;
	struct vdev_mem *mem;
	struct vdev_device *dev;
	struct vdev_pci *pci;
	struct vdev_kvm_pci *kpci;
	atomic_uint_fast64_t bar;
	uint32_t dfselect;
	uint32_t gfselect;
};

static int net_parse(const char *arg, void **priv)
{
	struct net_opts *o = calloc(1, sizeof(*o));
	char *copy, *tok, *save = NULL;
	int ret = -EINVAL;

	if (!o)
		return -ENOMEM;
	o->queues = 1;
	o->packed = true;
	copy = strdup(arg);
	if (!copy) {
		free(o);
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		char *end;

		if (!val) {
			fprintf(stderr, VMM_NAME ": --net %s: '%s' is not key=value\n",
				arg, tok);
			goto out_free;
		}
		*val++ = '\0';
		if (!strcmp(tok, "tap")) {
			if (!*val || strlen(val) >= sizeof(o->tap)) {
				fprintf(stderr, VMM_NAME ": --net %s: bad TAP name '%s' (1 to %zu characters)\n",
					arg, val, sizeof(o->tap) - 1);
				goto out_free;
			}
			strcpy(o->tap, val);
		} else if (!strcmp(tok, "mac")) {
			if (tool_parse_mac(val, o->mac)) {
				fprintf(stderr, VMM_NAME ": --net %s: bad MAC '%s' (want a unicast XX:XX:XX:XX:XX:XX)\n",
					arg, val);
				goto out_free;
			}
		} else if (!strcmp(tok, "queues")) {
			unsigned long q = strtoul(val, &end, 10);

			if (*end || !*val || !q || q > VDEV_NET_MAX_QUEUE_PAIRS) {
				fprintf(stderr, VMM_NAME ": --net %s: bad queues '%s' (1 to %u)\n",
					arg, val, VDEV_NET_MAX_QUEUE_PAIRS);
				goto out_free;
			}
			o->queues = q;
		} else if (!strcmp(tok, "packed")) {
			if (strcmp(val, "on") && strcmp(val, "off")) {
				fprintf(stderr, VMM_NAME ": --net %s: bad packed '%s' (on or off)\n",
					arg, val);
				goto out_free;
			}
			o->packed = !strcmp(val, "on");
		} else {
			fprintf(stderr, VMM_NAME ": --net %s: unknown key '%s' (tap, mac, queues, packed)\n",
				arg, tok);
			goto out_free;
		}
	}
	if (!o->tap[0]) {
		fprintf(stderr, VMM_NAME ": --net %s: tap=NAME is required\n", arg);
		goto out_free;
	}
	free(copy);
	*priv = o;
	return 0;

out_free:
	free(copy);
	free(o);
	return ret;
}

static void net_free(void *priv)
{
	free(priv);
}

static void net_bar_moved(struct vdev_pci *pci, void *opaque,
			  unsigned int bar, uint64_t old_addr,
			  uint64_t new_addr)
{
	struct net_dev *n = opaque;

	if (bar == VDEV_PCI_BAR)
		atomic_store(&n->bar, new_addr);
	vdev_kvm_pci_bar_moved(n->kpci, bar, old_addr, new_addr);
}

static void net_vector_changed(struct vdev_pci *pci, void *opaque,
			       unsigned int vector, uint64_t addr,
			       uint32_t data)
{
	struct net_dev *n = opaque;

	vdev_kvm_pci_vector_changed(n->kpci, vector, addr, data);
}

static const struct vdev_pci_ops net_pci_ops = {
	.bar_moved = net_bar_moved,
	.vector_changed = net_vector_changed,
};

static void net_config_read(struct vmm_pci_dev *pd, uint32_t off, void *data,
			    unsigned int len)
{
	struct net_dev *n = container_of(pd, struct net_dev, pd);

	vdev_pci_config_read(n->pci, off, data, len);
}

static void net_config_write(struct vmm_pci_dev *pd, uint32_t off,
			     const void *data, unsigned int len)
{
	struct net_dev *n = container_of(pd, struct net_dev, pd);

	vdev_pci_config_write(n->pci, off, data, len);
}

/* packed=off: the feature words of the common configuration, filtered. */
static void net_filter_features(struct net_dev *n, uint64_t off, void *data,
				unsigned int len, bool is_write)
{
	uint32_t v;

	if (n->opts->packed || len != 4)
		return;
	memcpy(&v, data, 4);
	switch (off) {
	case VDEV_PCI_COMMON_OFFSET + VIRTIO_PCI_COMMON_DFSELECT:
		if (is_write)
			n->dfselect = v;
		return;
	case VDEV_PCI_COMMON_OFFSET + VIRTIO_PCI_COMMON_GFSELECT:
		if (is_write)
			n->gfselect = v;
		return;
	case VDEV_PCI_COMMON_OFFSET + VIRTIO_PCI_COMMON_DF:
		if (!is_write && n->dfselect == 1)
			v &= ~PACKED_BIT_HI;
		break;
	case VDEV_PCI_COMMON_OFFSET + VIRTIO_PCI_COMMON_GF:
		if (is_write && n->gfselect == 1)
			v &= ~PACKED_BIT_HI;
		break;
	default:
		return;
	}
	memcpy(data, &v, 4);
}

static bool net_mmio(struct vmm_pci_dev *pd, uint64_t addr, void *data,
		     unsigned int len, bool is_write)
{
	struct net_dev *n = container_of(pd, struct net_dev, pd);
	uint64_t bar = atomic_load(&n->bar);
	uint64_t off = addr - bar;

	if (bar == VDEV_PCI_BAR_UNMAPPED || addr < bar ||
	    off + len > VDEV_PCI_BAR_SIZE)
		return false;
	if (is_write) {
		net_filter_features(n, off, data, len, true);
		vdev_pci_bar_write(n->pci, VDEV_PCI_BAR, off, data, len);
	} else {
		vdev_pci_bar_read(n->pci, VDEV_PCI_BAR, off, data, len);
		net_filter_features(n, off, data, len, false);
	}
	return true;
}

static const struct vmm_pci_dev_ops net_pci_dev_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.mmio = net_mmio,
};

static void net_cfg_write(struct net_dev *n, uint32_t off, uint32_t val,
			  unsigned int len)
{
	vdev_pci_config_write(n->pci, off, &val, len);
}

/* What firmware leaves behind: the BAR placed, decode on, the IRQ line. */
static void net_preassign(struct net_dev *n, unsigned int slot)
{
	uint64_t bar = VMM_PCI_BAR_BASE + (uint64_t)(slot - 1) *
		       VDEV_PCI_BAR_SIZE;

	net_cfg_write(n, PCI_BASE_ADDRESS_0, (uint32_t)bar, 4);
	net_cfg_write(n, PCI_BASE_ADDRESS_1, bar >> 32, 4);
	net_cfg_write(n, PCI_INTERRUPT_LINE, VMM_PCI_INTX_PIN(slot), 1);
	net_cfg_write(n, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
}

static int net_mem_create(struct vmm_vm *vm, struct vdev_mem **memp)
{
	struct vdev_mem *mem;
	int ret;

	ret = vdev_mem_create(&mem);
	if (ret)
		return ret;
	ret = vdev_mem_add_region(mem, 0, vm->low_size, vm->ram);
	if (!ret && vm->ram_size > vm->low_size)
		ret = vdev_mem_add_region(mem, SZ_4G,
					  vm->ram_size - vm->low_size,
					  vm->ram + vm->low_size);
	if (ret) {
		vdev_mem_put(mem);
		return ret;
	}
	*memp = mem;
	return 0;
}

static int net_create(struct vmm_vm *vm, const void *opts, unsigned int slot,
		      void **privp, struct vmm_dev_stats *st)
{
	const struct net_opts *o = opts;
	struct vdev_net_config cfg = {
		.tap_name = o->tap,
		.queue_pairs = o->queues,
	};
	struct net_dev *n;
	double t0;
	int ret;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->vm = vm;
	n->opts = o;
	n->pd.ops = &net_pci_dev_ops;
	n->pd.slot = slot;
	atomic_init(&n->bar, VDEV_PCI_BAR_UNMAPPED);
	memcpy(cfg.mac, o->mac, sizeof(cfg.mac));

	ret = net_mem_create(vm, &n->mem);
	if (ret)
		goto out_free;
	vmm_log_hold(true);
	t0 = vmm_now();
	ret = vdev_net_create(&cfg, &n->dev);
	st->open_s = vmm_now() - t0;
	st->ebusy = ret == -EBUSY;
	vmm_log_hold(false);
	if (ret) {
		char why[256];

		vmm_log_held(why, sizeof(why));
		fprintf(stderr, VMM_NAME ": --net tap=%s: cannot open the TAP: %s%s%s%s\n",
			o->tap, strerror(-ret), why[0] ? " (vdev: " : "", why,
			why[0] ? ")" : "");
		goto out_put_mem;
	}
	ret = vdev_pci_create(n->dev, n->mem, &net_pci_ops, n, &n->pci);
	if (ret) {
		fprintf(stderr, VMM_NAME ": --net tap=%s: virtio-pci: %s\n",
			o->tap, strerror(-ret));
		goto out_put_dev;
	}
	ret = vdev_kvm_pci_attach(vm->vm_fd, n->pci, VMM_PCI_INTX_PIN(slot),
				  VMM_MSI_GSI(slot), &n->kpci);
	if (ret) {
		fprintf(stderr, VMM_NAME ": --net tap=%s: KVM irqfds and ioeventfds: %s\n",
			o->tap, strerror(-ret));
		goto out_destroy_pci;
	}
	net_preassign(n, slot);
	ret = vmm_pci_host_add(&vm->pci, &n->pd);
	if (ret) {
		fprintf(stderr, VMM_NAME ": --net tap=%s: PCI slot %u: %s\n",
			o->tap, slot, strerror(-ret));
		goto out_detach;
	}
	*privp = n;
	return 0;

out_detach:
	vdev_kvm_pci_detach(n->kpci);
out_destroy_pci:
	vdev_pci_destroy(n->pci);
out_put_dev:
	vdev_device_put(n->dev);
out_put_mem:
	vdev_mem_put(n->mem);
out_free:
	free(n);
	return ret;
}

/* The teardown order of <vdev/kvm.h>; the last put joins every worker. */
static void net_destroy(void *priv)
{
	struct net_dev *n = priv;

	vdev_kvm_pci_detach(n->kpci);
	vdev_pci_destroy(n->pci);
	vdev_device_put(n->dev);
	vdev_mem_put(n->mem);
	free(n);
}

static void net_stats(void *priv, struct vmm_dev_stats *st)
{
	struct net_dev *n = priv;
	struct vdev_counter c[4 * 2 * VDEV_NET_MAX_QUEUE_PAIRS + 8];
	unsigned int i, nr;

	st->driver_ok = vdev_device_is_active(n->dev);
	nr = vdev_device_counters(n->dev, c, ARRAY_SIZE(c));
	st->tx_frames = 0;
	st->rx_frames = 0;
	for (i = 0; i < nr && i < ARRAY_SIZE(c); i++) {
		if (!strncmp(c[i].name, "tx_frames", 9))
			st->tx_frames += c[i].value;
		else if (!strncmp(c[i].name, "rx_frames", 9))
			st->rx_frames += c[i].value;
	}
}

const struct vmm_dev_type vmm_net_type = {
	.name = "net",
	.parse = net_parse,
	.free = net_free,
	.create = net_create,
	.destroy = net_destroy,
	.stats = net_stats,
};
