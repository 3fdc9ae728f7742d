// SPDX-License-Identifier: GPL-2.0
/*
 * The Intel MultiProcessor table (MP spec 1.4), after kvmtool's
 * x86/mptable.c and Firecracker's arch/x86_64/mptable.rs: how a guest
 * without ACPI (no RSDP anywhere) learns its CPUs, its IOAPIC and its
 * interrupt wiring. The floating pointer and the table sit in the last
 * KiB of base memory (0x9fc00), where Linux looks first; e820 leaves that
 * KiB out of RAM.
 *
 *   processors  one per vCPU, APIC id = vCPU id, vCPU 0 the BSP
 *   buses       0 "PCI", 1 "ISA"
 *   IOAPIC      id nr_cpus, at 0xfec00000, 24 pins
 *   interrupts  ISA IRQ n -> pin n (KVM's default routing: GSI n is
 *               IOAPIC pin n); INTA# of each PCI slot -> its pin
 *               (VMM_PCI_INTX_PIN), level triggered, active high
 *   local       ExtINT on LINT0, NMI on LINT1 of every CPU
 *
 * The layouts are the MP spec's (Linux: arch/x86/include/asm/mpspec_def.h,
 * which is not uapi).
 */
#include <errno.h>
#include <string.h>

#include "vmm.h"

#define MPF_SIGNATURE		"_MP_"
#define MPC_SIGNATURE		"PCMP"
#define MP_SPEC_REV		4	/* 1.4 */

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_INTSRC = 3,
	MP_LINTSRC = 4,
};

enum mp_irq_type {
	MP_INT = 0,
	MP_NMI = 1,
	MP_EXTINT = 3,
};

#define CPU_ENABLED		1
#define CPU_BOOTPROCESSOR	2
#define MPC_APIC_USABLE		1
#define APIC_VERSION		0x14
#define IOAPIC_VERSION		0x11
#define CPU_SIGNATURE		0x600	/* family 6 */
#define CPU_FEATURE_FPU		(1U << 0)
#define CPU_FEATURE_APIC	(1U << 9)
#define MP_IRQPOL_ACTIVE_HIGH	0x1
#define MP_IRQTRIG_LEVEL	0xc
#define MP_APIC_ALL		0xff

#define MP_BUS_PCI		0
#define MP_BUS_ISA		1
#define MP_ISA_IRQS		16

struct mpf_intel {
	char signature[4];
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __packed;

struct mpc_table {
	char signature[4];
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
} __packed;

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __packed;

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __packed;

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __packed;

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __packed;

/**
 * struct mp_writer - a table being written into guest memory
 * @base: where the table starts (after the floating pointer)
 * @len: bytes written so far
 * @max: bytes available
 */
struct mp_writer {
	uint8_t *base;
	size_t len;
	size_t max;
};

static void *mp_entry(struct mp_writer *w, size_t size)
{
	void *p;

	if (w->len + size > w->max)
		return NULL;
	p = w->base + w->len;
	w->len += size;
	return p;
}

static uint8_t mp_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return -sum;
}

static int mp_intsrc(struct mp_writer *w, uint8_t irqtype, uint16_t flags,
		     uint8_t bus, uint8_t busirq, uint8_t apic, uint8_t pin,
		     uint8_t entry)
{
	struct mpc_intsrc *s = mp_entry(w, sizeof(*s));

	if (!s)
		return -ENOSPC;
	s->type = entry;
	s->irqtype = irqtype;
	s->irqflag = flags;
	s->srcbus = bus;
	s->srcbusirq = busirq;
	s->dstapic = apic;
	s->dstirq = pin;
	return 0;
}

/**
 * vmm_mptable_write() - write the MP floating pointer and table
 * @vm: the VM, its devices created (their slots are in @vm->pci)
 *
 * Return: 0; -ENOSPC if the table does not fit in its KiB.
 */
int vmm_mptable_write(struct vmm_vm *vm)
{
	const size_t area = SZ_1K;
	uint8_t *p = vmm_gpa(vm, VMM_EBDA_START, area);
	struct mpf_intel *mpf = (struct mpf_intel *)p;
	struct mp_writer w = {
		.base = p + sizeof(*mpf),
		.max = area - sizeof(*mpf),
	};
	uint8_t ioapic_id = vm->nr_vcpus;
	struct mpc_table *mpc;
	struct mpc_ioapic *io;
	struct mpc_bus *bus;
	unsigned int i;
	int ret;

	if (!p)
		return -EFAULT;
	memset(p, 0, area);
	mpc = mp_entry(&w, sizeof(*mpc));
	memcpy(mpc->signature, MPC_SIGNATURE, 4);
	mpc->spec = MP_SPEC_REV;
	memcpy(mpc->oem, "VDEV    ", 8);
	memcpy(mpc->productid, "vdev-vmm    ", 12);
	mpc->lapic = VMM_LAPIC_ADDR;

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct mpc_cpu *c = mp_entry(&w, sizeof(*c));

		if (!c)
			return -ENOSPC;
		c->type = MP_PROCESSOR;
		c->apicid = i;
		c->apicver = APIC_VERSION;
		c->cpuflag = CPU_ENABLED | (i ? 0 : CPU_BOOTPROCESSOR);
		c->cpufeature = CPU_SIGNATURE;
		c->featureflag = CPU_FEATURE_FPU | CPU_FEATURE_APIC;
	}
	bus = mp_entry(&w, 2 * sizeof(*bus));
	if (!bus)
		return -ENOSPC;
	bus[0].type = MP_BUS;
	bus[0].busid = MP_BUS_PCI;
	memcpy(bus[0].bustype, "PCI   ", 6);
	bus[1].type = MP_BUS;
	bus[1].busid = MP_BUS_ISA;
	memcpy(bus[1].bustype, "ISA   ", 6);

	io = mp_entry(&w, sizeof(*io));
	if (!io)
		return -ENOSPC;
	io->type = MP_IOAPIC;
	io->apicid = ioapic_id;
	io->apicver = IOAPIC_VERSION;
	io->flags = MPC_APIC_USABLE;
	io->apicaddr = VMM_IOAPIC_ADDR;

	for (i = 0; i < MP_ISA_IRQS; i++) {
		ret = mp_intsrc(&w, MP_INT, 0, MP_BUS_ISA, i, ioapic_id, i,
				MP_INTSRC);
		if (ret)
			return ret;
	}
	for (i = 1; i < ARRAY_SIZE(vm->pci.devs); i++) {
		if (!vm->pci.devs[i])
			continue;
		/* Source IRQ of PCI: device number << 2 | pin (0 = INTA#). */
		ret = mp_intsrc(&w, MP_INT, MP_IRQTRIG_LEVEL |
				MP_IRQPOL_ACTIVE_HIGH, MP_BUS_PCI, i << 2,
				ioapic_id, VMM_PCI_INTX_PIN(i), MP_INTSRC);
		if (ret)
			return ret;
	}
	ret = mp_intsrc(&w, MP_EXTINT, 0, MP_BUS_ISA, 0, MP_APIC_ALL, 0,
			MP_LINTSRC);
	if (!ret)
		ret = mp_intsrc(&w, MP_NMI, 0, MP_BUS_ISA, 0, MP_APIC_ALL, 1,
				MP_LINTSRC);
	if (ret)
		return ret;

	mpc->length = w.len;
	mpc->checksum = mp_checksum(mpc, w.len);

	memcpy(mpf->signature, MPF_SIGNATURE, 4);
	mpf->physptr = VMM_EBDA_START + sizeof(*mpf);
	mpf->length = 1;
	mpf->specification = MP_SPEC_REV;
	mpf->checksum = mp_checksum(mpf, sizeof(*mpf));
	return 0;
}
