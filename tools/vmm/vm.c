// SPDX-License-Identifier: GPL-2.0
/*
 * One VM, after kvmtool's x86/kvm.c: /dev/kvm, a VM with the in-kernel
 * irqchip (PIC, IOAPIC, LAPICs) and PIT, guest RAM from a memfd in one
 * slot below the 32-bit PCI hole (VMM_MMIO_HOLE) and one at 4 GiB for
 * the rest, the legacy devices, the device table's devices on PCI bus 0,
 * the MP table, the kernel, and the vCPUs, each in its own thread.
 *
 * A VM lives for one boot. vmm_vm_request_stop() (0xFE on the i8042,
 * KVM_EXIT_SHUTDOWN, a vCPU error) records the first reason and wakes
 * the main thread; vmm_vm_stop() kicks and joins every vCPU; and
 * vmm_vm_destroy() takes down the devices (their workers joined, their
 * TAP fds closed), then the vCPUs, the VM, RAM and /dev/kvm, in reverse
 * order of creation. The next boot builds everything again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm.h"

#define KVM_DEV		"/dev/kvm"
#define CPUID_MAX_ENT	256
#define CPUID_1_ECX_TSC_DEADLINE	(1U << 24)

double vmm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/**
 * vmm_gpa() - host address of guest RAM [@gpa, @gpa + @len)
 * @vm: the VM
 * @gpa: guest-physical address
 * @len: bytes
 *
 * Return: the address, or NULL if the range is not all in one RAM slot.
 */
void *vmm_gpa(struct vmm_vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t high = vm->ram_size - vm->low_size;

	if (gpa < vm->low_size && len <= vm->low_size - gpa)
		return vm->ram + gpa;
	if (gpa >= SZ_4G && gpa - SZ_4G < high && len <= high - (gpa - SZ_4G))
		return vm->ram + vm->low_size + (gpa - SZ_4G);
	return NULL;
}

/* Drive an IOAPIC/PIC input (ISA: edge on a rising level). */
void vmm_irq_line(struct vmm_vm *vm, unsigned int irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

/**
 * vmm_kvm_check() - is /dev/kvm there and able to create a VM?
 *
 * Return: 0, or -errno with the reason printed.
 */
int vmm_kvm_check(void)
{
	int fd, vm, ver, ret = 0;

	fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, VMM_NAME ": " KVM_DEV ": %s\n", strerror(errno));
		return ret;
	}
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		fprintf(stderr, VMM_NAME ": " KVM_DEV ": API version %d, not %d\n",
			ver, KVM_API_VERSION);
		ret = -ENOTTY;
		goto out_close;
	}
	if (ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
	    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) <= 0 ||
	    ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) <= 0) {
		fprintf(stderr, VMM_NAME ": " KVM_DEV ": no immediate_exit, irqfd or ioeventfd\n");
		ret = -ENOTTY;
		goto out_close;
	}
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		ret = -errno;
		fprintf(stderr, VMM_NAME ": " KVM_DEV ": KVM_CREATE_VM: %s\n",
			strerror(errno));
		goto out_close;
	}
	close(vm);
out_close:
	close(fd);
	return ret;
}

/*
 * KVM_GET_SUPPORTED_CPUID, plus the TSC-deadline timer when the in-kernel
 * LAPIC emulates it: KVM reports that one as KVM_CAP_TSC_DEADLINE_TIMER,
 * not in the table (QEMU and kvmtool set the bit the same way). Without
 * it Linux calibrates the LAPIC timer against the PIT at every boot.
 */
static struct kvm_cpuid2 *vm_supported_cpuid(struct vmm_vm *vm)
{
	size_t size = sizeof(struct kvm_cpuid2) +
		      CPUID_MAX_ENT * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, size);
	bool deadline;
	unsigned int i;

	if (!c)
		return NULL;
	c->nent = CPUID_MAX_ENT;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return NULL;
	}
	deadline = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
			 KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1 && deadline)
			c->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
	return c;
}

static int vm_set_region(struct vmm_vm *vm, unsigned int slot, uint64_t gpa,
			 uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

/*
 * Map @size bytes of @fd at a 2 MiB-aligned address and ask for huge
 * pages there, as QEMU does for its RAM: where the host backs the memfd
 * with them (shmem's transparent huge pages, "advise" or "always" in
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled), KVM maps guest
 * RAM 2 MiB at a time and the guest's first touches of its memory exit
 * 512 times less often. Elsewhere it is the same mapping as before, at
 * an aligned address.
 */
static void *vm_ram_map(int fd, size_t size)
{
	uint8_t *base, *p;

	base = mmap(NULL, size + SZ_2M, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return MAP_FAILED;
	p = (uint8_t *)(((uintptr_t)base + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));
	if (mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 0) == MAP_FAILED) {
		munmap(base, size + SZ_2M);
		return MAP_FAILED;
	}
	if (p > base)
		munmap(base, p - base);
	if (p + size < base + size + SZ_2M)
		munmap(p + size, base + size + SZ_2M - (p + size));
	/* EINVAL without THP in the kernel: the mapping is fine as it is. */
	madvise(p, size, MADV_HUGEPAGE);
	return p;
}

/*
 * How much of @vm's RAM the host maps in 2 MiB pages now (its
 * ShmemPmdMapped in /proc/self/smaps), in MiB; -1 when smaps does not
 * say.
 */
double vmm_vm_ram_huge_mib(const struct vmm_vm *vm)
{
	char line[256], start[32];
	bool in = false;
	double mib = -1;
	unsigned long kb;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -1;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)(uintptr_t)vm->ram);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, start, strlen(start))) {
			in = true;
			continue;
		}
		if (in && sscanf(line, "ShmemPmdMapped: %lu kB", &kb) == 1) {
			mib = kb / 1024.0;
			break;
		}
	}
	fclose(f);
	return mib;
}

static int vm_ram_create(struct vmm_vm *vm)
{
	int ret;

	vm->ram_size = (uint64_t)vm->opts->mem_mib * SZ_1M;
	vm->low_size = vm->ram_size < VMM_MMIO_HOLE ? vm->ram_size :
						      VMM_MMIO_HOLE;
	vm->mem_fd = memfd_create("vdev-vmm-ram", MFD_CLOEXEC);
	if (vm->mem_fd < 0)
		return -errno;
	if (ftruncate(vm->mem_fd, vm->ram_size)) {
		ret = -errno;
		goto out_close;
	}
	vm->ram = vm_ram_map(vm->mem_fd, vm->ram_size);
	if (vm->ram == MAP_FAILED) {
		ret = -errno;
		vm->ram = NULL;
		goto out_close;
	}
	ret = vm_set_region(vm, 0, 0, vm->low_size, vm->ram);
	if (!ret && vm->ram_size > vm->low_size)
		ret = vm_set_region(vm, 1, SZ_4G, vm->ram_size - vm->low_size,
				    vm->ram + vm->low_size);
	if (ret)
		goto out_unmap;
	return 0;

out_unmap:
	munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
out_close:
	close(vm->mem_fd);
	vm->mem_fd = -1;
	return ret;
}

static int vm_kvm_create(struct vmm_vm *vm)
{
	struct kvm_pit_config pit = { .flags = 0 };
	int ret;

	vm->kvm_fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return -errno;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		goto out_close_kvm;
	}
	/* VMX needs three pages for its real-mode TSS and one for EPT. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VMM_TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR,
		  &(uint64_t){ VMM_IDENTITY_MAP_ADDR }) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		ret = -errno;
		goto out_close_vm;
	}
	return 0;

out_close_vm:
	close(vm->vm_fd);
	vm->vm_fd = -1;
out_close_kvm:
	close(vm->kvm_fd);
	vm->kvm_fd = -1;
	return ret;
}

static void vm_devices_destroy(struct vmm_vm *vm)
{
	while (vm->nr_devs) {
		struct vmm_dev *d = &vm->devs[--vm->nr_devs];

		d->type->destroy(d->priv);
	}
}

static int vm_devices_create(struct vmm_vm *vm, struct vmm_dev_stats *st)
{
	unsigned int i;
	int ret;

	for (i = 0; i < vm->opts->nr_devs; i++) {
		const struct vmm_dev_opts *d = &vm->opts->devs[i];
		void *priv;

		ret = d->type->create(vm, d->priv, i + 1, &priv, &st[i]);
		if (ret) {
			vm_devices_destroy(vm);
			return ret;
		}
		vm->devs[vm->nr_devs].type = d->type;
		vm->devs[vm->nr_devs].priv = priv;
		vm->nr_devs++;
	}
	return 0;
}

static void vm_vcpus_destroy(struct vmm_vm *vm)
{
	while (vm->nr_vcpus)
		vmm_vcpu_destroy(&vm->vcpus[--vm->nr_vcpus]);
}

static int vm_vcpus_create(struct vmm_vm *vm)
{
	struct kvm_cpuid2 *cpuid = vm_supported_cpuid(vm);
	unsigned int i;
	int ret = 0;

	if (!cpuid)
		return -errno ? -errno : -ENOMEM;
	for (i = 0; i < vm->opts->cpus; i++) {
		ret = vmm_vcpu_create(vm, &vm->vcpus[i], i, cpuid);
		if (ret) {
			vm_vcpus_destroy(vm);
			break;
		}
		vm->nr_vcpus++;
	}
	free(cpuid);
	return ret;
}

/*
 * CONFIG_ADDRESS (0xCF8) writes into KVM's coalesced-I/O ring, as QEMU's
 * q35 host does: a conf1 access is a write to 0xCF8 and an
 * access to 0xCFC, two exits to this process, and only the second needs
 * an answer. Linux's early AGP probe on AMD family 0xf-0x15 CPUs reads
 * the class of slot 0..31 on every one of 256 buses (twice per boot, 16
 * thousand accesses), which took 4.2 s of a nested boot in
 * scripts/vmtest. The ring is drained before every access to 0xCF8-0xCFF
 * (vmm_vm_drain_coalesced()), so the latch is current when it matters.
 * Without KVM_CAP_COALESCED_PIO every access exits, as before.
 */
static void vm_coalesced_init(struct vmm_vm *vm)
{
	struct kvm_coalesced_mmio_zone zone = {
		.addr = VMM_PCI_CONF_ADDR, .size = 4, .pio = 1,
	};
	long page = sysconf(_SC_PAGESIZE);
	int off;

	off = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (off <= 0 || page <= 0 || !vm->nr_vcpus ||
	    (size_t)(off + 1) * page > vm->vcpus[0].run_size ||
	    ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0 ||
	    ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
		return;
	vm->coalesced = (void *)((uint8_t *)vm->vcpus[0].run + off * page);
	vm->coalesced_max = (page - sizeof(*vm->coalesced)) /
			    sizeof(vm->coalesced->coalesced_mmio[0]);
}

/**
 * vmm_vm_drain_coalesced() - replay the port writes KVM coalesced
 * @vm: the VM
 *
 * In the order the vCPUs made them, through the same handler as an exit.
 */
void vmm_vm_drain_coalesced(struct vmm_vm *vm)
{
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced;
	uint32_t first;

	if (!ring)
		return;
	pthread_mutex_lock(&vm->coalesced_lock);
	first = ring->first;
	while (first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		struct kvm_coalesced_mmio *m;
		uint8_t data[8];

		if (first >= vm->coalesced_max)
			break;
		m = &ring->coalesced_mmio[first];
		if (m->len <= sizeof(data)) {
			memcpy(data, m->data, m->len);
			vmm_pci_host_io(&vm->pci, m->phys_addr, data, m->len,
					true);
		}
		first = (first + 1) % vm->coalesced_max;
		__atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->coalesced_lock);
}

static int vm_legacy_init(struct vmm_vm *vm, FILE *serial_out)
{
	int ret;

	ret = vmm_serial_init(&vm->serial, vm, serial_out);
	if (ret)
		return ret;
	ret = vmm_i8042_init(&vm->i8042, vm);
	if (ret)
		goto out_serial;
	ret = vmm_rtc_init(&vm->rtc);
	if (ret)
		goto out_i8042;
	ret = vmm_pci_host_init(&vm->pci);
	if (ret)
		goto out_rtc;
	return 0;

out_rtc:
	vmm_rtc_exit(&vm->rtc);
out_i8042:
	vmm_i8042_exit(&vm->i8042);
out_serial:
	vmm_serial_exit(&vm->serial);
	return ret;
}

static void vm_legacy_exit(struct vmm_vm *vm)
{
	vmm_pci_host_exit(&vm->pci);
	vmm_rtc_exit(&vm->rtc);
	vmm_i8042_exit(&vm->i8042);
	vmm_serial_exit(&vm->serial);
}

static void vm_kvm_destroy(struct vmm_vm *vm)
{
	close(vm->vm_fd);
	close(vm->kvm_fd);
}

static void vm_ram_destroy(struct vmm_vm *vm)
{
	munmap(vm->ram, vm->ram_size);
	close(vm->mem_fd);
}

/**
 * vmm_vm_create() - build the VM for one boot, vCPUs not running
 * @o: the options
 * @img: the kernel and initrd
 * @serial_out: where COM1 writes
 * @stop_evt: eventfd written on a stop request
 * @st: per device (in option order), the backend's open time and EBUSY,
 *      filled even when creating the device fails
 * @vmp: on success the VM
 *
 * Return: 0, or -errno with the reason printed.
 */
int vmm_vm_create(const struct vmm_opts *o, const struct vmm_image *img,
		  FILE *serial_out, int stop_evt, struct vmm_dev_stats *st,
		  struct vmm_vm **vmp)
{
	struct vmm_vm *vm = calloc(1, sizeof(*vm));
	const char *what;
	int ret;

	if (!vm)
		return -ENOMEM;
	vm->opts = o;
	vm->img = img;
	vm->stop_evt = stop_evt;
	atomic_init(&vm->stopping, false);
	atomic_init(&vm->stop_reason, VMM_STOP_NONE);
	atomic_init(&vm->extra_requests, 0);
	ret = -pthread_mutex_init(&vm->coalesced_lock, NULL);
	if (ret) {
		free(vm);
		return ret;
	}

	what = "KVM VM, irqchip and PIT";
	ret = vm_kvm_create(vm);
	if (ret)
		goto out_free;
	what = "guest RAM";
	ret = vm_ram_create(vm);
	if (ret)
		goto out_kvm;
	what = "legacy devices";
	ret = vm_legacy_init(vm, serial_out);
	if (ret)
		goto out_ram;
	what = "vCPUs";
	ret = vm_vcpus_create(vm);
	if (ret)
		goto out_legacy;
	vm_coalesced_init(vm);
	/* The devices print their own errors. */
	what = NULL;
	ret = vm_devices_create(vm, st);
	if (ret)
		goto out_vcpus;
	what = "MP table";
	ret = vmm_mptable_write(vm);
	if (ret)
		goto out_devices;
	what = NULL;
	ret = vmm_boot_load(vm);
	if (ret)
		goto out_devices;
	*vmp = vm;
	return 0;

out_devices:
	vm_devices_destroy(vm);
out_vcpus:
	vm_vcpus_destroy(vm);
out_legacy:
	vm_legacy_exit(vm);
out_ram:
	vm_ram_destroy(vm);
out_kvm:
	vm_kvm_destroy(vm);
out_free:
	if (what)
		fprintf(stderr, VMM_NAME ": %s: %s\n", what, strerror(-ret));
	pthread_mutex_destroy(&vm->coalesced_lock);
	free(vm);
	return ret;
}

/**
 * vmm_vm_start() - start every vCPU thread
 * @vm: the VM
 *
 * Return: 0, or -errno (the threads started are stopped again).
 */
int vmm_vm_start(struct vmm_vm *vm)
{
	unsigned int i;
	int ret;

	vm->start_time = vmm_now();
	for (i = 0; i < vm->nr_vcpus; i++) {
		ret = vmm_vcpu_start(&vm->vcpus[i]);
		if (ret) {
			fprintf(stderr, VMM_NAME ": vcpu %u thread: %s\n", i,
				strerror(-ret));
			vmm_vm_stop(vm);
			return ret;
		}
	}
	return 0;
}

/**
 * vmm_vm_request_stop() - ask for the VM to stop (any thread)
 * @vm: the VM
 * @why: the reason
 *
 * The first request is the VM's stop reason; later ones (Linux writes
 * the i8042 reset ten times, another vCPU may triple-fault meanwhile) are
 * counted and dropped. The vCPUs stop entering the guest at once.
 */
void vmm_vm_request_stop(struct vmm_vm *vm, enum vmm_stop why)
{
	int none = VMM_STOP_NONE;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->stop_reason, &none, why)) {
		atomic_fetch_add(&vm->extra_requests, 1);
		return;
	}
	vm->stop_time = vmm_now();
	atomic_store(&vm->stopping, true);
	if (write(vm->stop_evt, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, VMM_NAME ": stop eventfd: %s\n", strerror(errno));
}

/**
 * vmm_vm_stop() - stop every vCPU and join its thread
 * @vm: the VM
 */
void vmm_vm_stop(struct vmm_vm *vm)
{
	unsigned int i;

	atomic_store(&vm->stopping, true);
	for (i = 0; i < vm->nr_vcpus; i++)
		vmm_vcpu_kick(&vm->vcpus[i]);
	for (i = 0; i < vm->nr_vcpus; i++)
		vmm_vcpu_join(&vm->vcpus[i]);
}

/**
 * vmm_vm_destroy() - take the VM down
 * @vm: the VM, stopped (vmm_vm_stop())
 *
 * When it returns, every device worker is joined, every TAP fd, vCPU fd,
 * the VM fd, /dev/kvm and the RAM memfd closed, and RAM unmapped.
 */
void vmm_vm_destroy(struct vmm_vm *vm)
{
	vmm_vm_stop(vm);
	vm_devices_destroy(vm);
	vm_vcpus_destroy(vm);
	vm_legacy_exit(vm);
	vm_ram_destroy(vm);
	vm_kvm_destroy(vm);
	pthread_mutex_destroy(&vm->coalesced_lock);
	free(vm);
}
