// SPDX-License-Identifier: GPL-2.0
/*
 * PCI bus 0 behind configuration mechanism #1 (CONFIG_ADDRESS at 0xCF8,
 * CONFIG_DATA at 0xCFC-0xCFF), after kvmtool's pci.c: a host bridge at
 * 00:00.0, which is also what Linux's pci_sanity_check() looks for, and
 * up to 31 functions (device 1..31, function 0), each with its own
 * configuration space behind &struct vmm_pci_dev_ops. Nothing else
 * answers: other buses, devices and functions read all ones. Memory
 * accesses the vCPUs could not resolve go to the function whose BAR
 * claims them.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "vmm.h"

#define PCI_CONF_ADDR		VMM_PCI_CONF_ADDR
#define PCI_CONF_DATA		(VMM_PCI_CONF_ADDR + 4)
#define PCI_CONF_ENABLE		0x80000000U

/* Intel's vendor id, and the id of QEMU's q35 host bridge. */
#define HOST_VENDOR_ID		0x8086
#define HOST_DEVICE_ID		0x29c0
/* Base class 06 (bridge), subclass 00 (host). */
#define HOST_CLASS		0x0600

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void pci_conf_access(struct vmm_pci_host *h, uint32_t a,
			    unsigned int reg, uint8_t *data, unsigned int len,
			    bool is_write)
{
	unsigned int bus = a >> 16 & 0xff, slot = a >> 11 & 0x1f;
	unsigned int fn = a >> 8 & 7;
	struct vmm_pci_dev *pd = h->devs[slot];

	if (!(a & PCI_CONF_ENABLE) || bus || fn || (slot && !pd)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (!slot) {
		if (!is_write)
			memcpy(data, h->cfg + reg, len);
		return;
	}
	if (is_write)
		pd->ops->config_write(pd, reg, data, len);
	else
		pd->ops->config_read(pd, reg, data, len);
}

/**
 * vmm_pci_host_io() - a port access, if it is conf1's
 * @h: the host bridge
 * @port: the port
 * @data: the bytes
 * @len: 1, 2 or 4
 * @is_write: OUT
 *
 * CONFIG_ADDRESS takes 32-bit accesses only (byte accesses to 0xCF8-0xCFB
 * are other chipset registers, ignored); CONFIG_DATA any access that
 * stays inside its dword.
 *
 * Return: true for 0xCF8-0xCFF.
 */
bool vmm_pci_host_io(struct vmm_pci_host *h, uint16_t port, uint8_t *data,
		     unsigned int len, bool is_write)
{
	uint32_t a;

	if (port < PCI_CONF_ADDR || port + len > PCI_CONF_DATA + 4)
		return false;
	pthread_mutex_lock(&h->lock);
	if (port < PCI_CONF_DATA) {
		if (port == PCI_CONF_ADDR && len == 4 && is_write)
			memcpy(&h->conf_addr, data, 4);
		else if (port == PCI_CONF_ADDR && len == 4)
			memcpy(data, &h->conf_addr, 4);
		else if (!is_write)
			memset(data, 0xff, len);
		pthread_mutex_unlock(&h->lock);
		return true;
	}
	a = h->conf_addr;
	/* The function's own lock serialises its accesses; the latch is ours. */
	pthread_mutex_unlock(&h->lock);
	pci_conf_access(h, a, (a & 0xfc) + (port - PCI_CONF_DATA), data, len,
			is_write);
	return true;
}

/**
 * vmm_pci_host_mmio() - a memory access that no memory slot backs
 * @h: the host bridge
 * @addr: guest-physical address
 * @data: the bytes
 * @len: access size
 * @is_write: a store
 *
 * Return: true if a function's BAR claimed it.
 */
bool vmm_pci_host_mmio(struct vmm_pci_host *h, uint64_t addr, uint8_t *data,
		       unsigned int len, bool is_write)
{
	unsigned int slot;

	for (slot = 1; slot < ARRAY_SIZE(h->devs); slot++) {
		struct vmm_pci_dev *pd = h->devs[slot];

		if (pd && pd->ops->mmio(pd, addr, data, len, is_write))
			return true;
	}
	return false;
}

/**
 * vmm_pci_host_add() - put a function on bus 0
 * @h: the host bridge
 * @pd: the function, with @pd->slot set
 *
 * Return: 0; -EINVAL for slot 0 or above 31; -EBUSY if the slot is taken.
 */
int vmm_pci_host_add(struct vmm_pci_host *h, struct vmm_pci_dev *pd)
{
	if (!pd->slot || pd->slot >= ARRAY_SIZE(h->devs))
		return -EINVAL;
	if (h->devs[pd->slot])
		return -EBUSY;
	h->devs[pd->slot] = pd;
	return 0;
}

int vmm_pci_host_init(struct vmm_pci_host *h)
{
	memset(h, 0, sizeof(*h));
	put16(h->cfg + PCI_VENDOR_ID, HOST_VENDOR_ID);
	put16(h->cfg + PCI_DEVICE_ID, HOST_DEVICE_ID);
	put16(h->cfg + PCI_CLASS_DEVICE, HOST_CLASS);
	h->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	return -pthread_mutex_init(&h->lock, NULL);
}

void vmm_pci_host_exit(struct vmm_pci_host *h)
{
	pthread_mutex_destroy(&h->lock);
}
