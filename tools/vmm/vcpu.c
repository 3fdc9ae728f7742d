// SPDX-License-Identifier: GPL-2.0
/*
 * One vCPU: its fd and struct kvm_run, its CPUID (KVM's supported set
 * with this vCPU's APIC id in leaf 1 EBX[31:24] and in the x2APIC id of
 * leaves 0xb and 0x1f), its LAPIC's LINT0 as ExtINT and LINT1 as NMI (as
 * firmware leaves them, Firecracker's arch/x86_64/interrupts.rs), and
 * the thread that runs it.
 *
 * The thread loops on KVM_RUN and dispatches port I/O (serial, i8042,
 * RTC, PCI conf1) and MMIO (the PCI BARs); what no device claims reads as
 * all ones and ignores writes, as on an empty bus. KVM_EXIT_SHUTDOWN (a
 * triple fault) asks the VM to stop for a reboot; any other exit it does
 * not expect, or KVM_RUN failing, asks it to stop with an error.
 *
 * Stopping (vmm_vcpu_kick()): the VM's stopping flag is set, the vCPU's
 * kvm_run.immediate_exit is set, then SIGUSR1 is sent to its thread. A
 * thread inside KVM_RUN leaves it with EINTR; one outside it sees the
 * flag, or enters KVM_RUN, which returns EINTR at once because of
 * immediate_exit. No signal can be lost between the check and the ioctl.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm.h"

#define VCPU_KICK_SIGNAL	SIGUSR1

/* LAPIC registers (offsets in struct kvm_lapic_state). */
#define APIC_LVT0		0x350
#define APIC_LVT1		0x360
#define APIC_MODE_MASK		0x700
#define APIC_MODE_NMI		0x400
#define APIC_MODE_EXTINT	0x700

#define CPUID_HYPERVISOR	(1U << 31)

static void vcpu_kick_handler(int sig)
{
}

/**
 * vmm_vcpu_signal_init() - install the kick signal's handler, once
 *
 * Without SA_RESTART, so that KVM_RUN returns EINTR.
 *
 * Return: 0 or -errno.
 */
int vmm_vcpu_signal_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL))
		return -errno;
	return 0;
}

static int vcpu_set_cpuid(struct vmm_vcpu *vcpu,
			  const struct kvm_cpuid2 *supported)
{
	size_t size = sizeof(*supported) +
		      supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	unsigned int i;
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffff) | (vcpu->id << 24);
			e->ecx |= CPUID_HYPERVISOR;
			break;
		case 0xb:
		case 0x1f:
			e->edx = vcpu->id;
			break;
		}
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}

static void lapic_set_mode(struct kvm_lapic_state *l, unsigned int reg,
			   uint32_t mode)
{
	uint32_t v;

	memcpy(&v, l->regs + reg, 4);
	v = (v & ~APIC_MODE_MASK) | mode;
	memcpy(l->regs + reg, &v, 4);
}

static int vcpu_set_lapic(struct vmm_vcpu *vcpu)
{
	struct kvm_lapic_state l;

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	lapic_set_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &l) < 0)
		return -errno;
	return 0;
}

/**
 * vmm_vcpu_create() - create vCPU @id of @vm
 * @vm: the VM (irqchip created)
 * @vcpu: filled in
 * @id: vCPU and APIC id
 * @cpuid: KVM_GET_SUPPORTED_CPUID's table
 *
 * Return: 0 or -errno; on failure nothing is left open.
 */
int vmm_vcpu_create(struct vmm_vm *vm, struct vmm_vcpu *vcpu,
		    unsigned int id, const struct kvm_cpuid2 *cpuid)
{
	int size, ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		return -errno;
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run)) {
		ret = size < 0 ? -errno : -EINVAL;
		goto out_close;
	}
	vcpu->run_size = size;
	vcpu->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	ret = vcpu_set_cpuid(vcpu, cpuid);
	if (!ret)
		ret = vcpu_set_lapic(vcpu);
	if (ret)
		goto out_unmap;
	return 0;

out_unmap:
	munmap(vcpu->run, vcpu->run_size);
out_close:
	close(vcpu->fd);
	vcpu->fd = -1;
	vcpu->run = NULL;
	return ret;
}

static void vcpu_io(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vmm_vm *vm = vcpu->vm;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned int i, len = run->io.size;
	uint16_t port = run->io.port;

	/* CONFIG_ADDRESS writes may be waiting in the coalesced ring. */
	if (port >= VMM_PCI_CONF_ADDR && port < VMM_PCI_CONF_ADDR + 8)
		vmm_vm_drain_coalesced(vm);
	for (i = 0; i < run->io.count; i++, data += len) {
		if (vmm_serial_io(&vm->serial, port, data, len, is_write) ||
		    vmm_i8042_io(&vm->i8042, port, data, len, is_write) ||
		    vmm_rtc_io(&vm->rtc, port, data, len, is_write) ||
		    vmm_pci_host_io(&vm->pci, port, data, len, is_write))
			continue;
		if (!is_write)
			memset(data, 0xff, len);
	}
}

static void vcpu_mmio(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	if (!vmm_pci_host_mmio(&vcpu->vm->pci, run->mmio.phys_addr,
			       run->mmio.data, run->mmio.len,
			       run->mmio.is_write) && !run->mmio.is_write)
		memset(run->mmio.data, 0xff, run->mmio.len);
}

/* Handle one exit; false when the vCPU must stop. */
static bool vcpu_exit(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT:
		return true;
	case KVM_EXIT_SHUTDOWN:
		vmm_vm_request_stop(vcpu->vm, VMM_STOP_SHUTDOWN);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, VMM_NAME ": vcpu %u: KVM_EXIT_FAIL_ENTRY, hardware reason %#llx\n",
			vcpu->id, (unsigned long long)
			run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, VMM_NAME ": vcpu %u: KVM_EXIT_INTERNAL_ERROR, suberror %u\n",
			vcpu->id, run->internal.suberror);
		break;
	default:
		fprintf(stderr, VMM_NAME ": vcpu %u: unexpected exit %u\n",
			vcpu->id, run->exit_reason);
		break;
	}
	vmm_vm_request_stop(vcpu->vm, VMM_STOP_ERROR);
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *vcpu = arg;
	struct vmm_vm *vm = vcpu->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!atomic_load(&vm->stopping)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, VMM_NAME ": vcpu %u: KVM_RUN: %s\n",
				vcpu->id, strerror(errno));
			vmm_vm_request_stop(vm, VMM_STOP_ERROR);
			break;
		}
		vcpu->exits++;
		if (!vcpu_exit(vcpu))
			break;
	}
	return NULL;
}

/**
 * vmm_vcpu_start() - start the vCPU's thread ("vmm-vcpuN")
 * @vcpu: the vCPU, its registers set (or, for an AP, waiting for SIPI)
 *
 * Return: 0 or -errno.
 */
int vmm_vcpu_start(struct vmm_vcpu *vcpu)
{
	char name[16];
	int ret;

	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (ret)
		return -ret;
	vcpu->started = true;
	snprintf(name, sizeof(name), "vmm-vcpu%u", vcpu->id);
	pthread_setname_np(vcpu->thread, name);
	return 0;
}

/* Make the vCPU leave KVM_RUN; the VM's stopping flag is already set. */
void vmm_vcpu_kick(struct vmm_vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vmm_vcpu_join(struct vmm_vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

void vmm_vcpu_destroy(struct vmm_vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
