/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdev-vmm: a small x86-64 VMM on libvdev and the KVM uapi
 * (Documentation/vmm.rst). Private to tools/vmm/.
 *
 * One concept per file:
 *   main.c      options, the boot / reboot loop, the summary table
 *   vm.c        the VM: /dev/kvm, memfd RAM, irqchip + PIT, devices, the
 *               vCPU threads started and stopped
 *   vcpu.c      one vCPU: CPUID, LAPIC, its thread, the exit dispatch
 *   boot.c      the kernel: PVH (ELF vmlinux) or the 64-bit boot protocol
 *               (bzImage), the e820 map, initial registers
 *   mptable.c   the MP table (CPUs, IOAPIC, ISA and PCI buses, interrupts)
 *   serial.c    16550A on 0x3f8, IRQ 4
 *   i8042.c     the keyboard controller, enough for the reset line
 *   rtc.c       the CMOS clock on 0x70/0x71
 *   pci_host.c  host bridge 00:00.0, conf1 on 0xCF8/0xCFC, BAR dispatch
 *   devices.c   the device table (how --net and later types are built)
 *   net.c       virtio-net on a TAP behind virtio-pci
 *   log.c       libvdev's messages
 *
 * Functions returning int return 0 or -errno; user errors are printed
 * once, as "vdev-vmm: <what>: <why>", where they are found.
 */
#ifndef _VDEV_VMM_H
#define _VDEV_VMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/kvm.h>

#include <vdev/device.h>
#include <vdev/kvm.h>
#include <vdev/pci.h>

#define VMM_NAME		"vdev-vmm"

/*
 * The kernel's __packed, under a spelling that checkpatch.pl does not
 * take for a bare attribute (as <vdev/log.h> does for __printf).
 */
#define __vmm_packed_attr	__packed__
#ifndef __packed
#define __packed		__attribute__((__vmm_packed_attr))
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define SZ_1K			0x400ULL
#define SZ_1M			0x100000ULL
#define SZ_2M			0x200000ULL
#define SZ_1G			0x40000000ULL
#define SZ_4G			0x100000000ULL

#define VMM_MAX_CPUS		32
#define VMM_MAX_DEVICES		8
#define VMM_MIN_MEM_MIB		64
#define VMM_DEFAULT_MEM_MIB	256

/* ---- guest physical layout (boot.c, mptable.c, pci_host.c) ---- */

#define VMM_GDT_ADDR		0x500
#define VMM_IDT_ADDR		0x520
#define VMM_PVH_INFO_ADDR	0x6000	/* hvm_start_info, modlist, memmap */
#define VMM_ZERO_PAGE_ADDR	0x7000	/* struct boot_params */
#define VMM_PML4_ADDR		0x9000	/* then the PDPT and four PDs */
#define VMM_CMDLINE_ADDR	0x20000
#define VMM_CMDLINE_MAX		2048	/* x86 COMMAND_LINE_SIZE */
#define VMM_EBDA_START		0x9fc00	/* MP table: last KiB of base RAM */
#define VMM_HIMEM_START		SZ_1M
#define VMM_BZIMAGE_ADDR	SZ_1M	/* protected-mode kernel */
/* The 32-bit hole: RAM stops here and resumes at 4 GiB. */
#define VMM_MMIO_HOLE		0xc0000000ULL
/* Pre-assigned 64-bit BARs, one VDEV_PCI_BAR_SIZE window per slot. */
#define VMM_PCI_BAR_BASE	0xd0000000ULL
#define VMM_IOAPIC_ADDR		0xfec00000ULL
#define VMM_LAPIC_ADDR		0xfee00000ULL
/* TSS and identity map pages that VMX wants (KVM_SET_TSS_ADDR). */
#define VMM_TSS_ADDR		0xfffbd000ULL
#define VMM_IDENTITY_MAP_ADDR	0xfffbc000ULL

/*
 * Interrupts: ISA IRQ n on IOAPIC pin n; PCI INTA# of slot s on pin
 * VMM_PCI_INTX_PIN(s); the MSI-X vectors of slot s on the GSIs from
 * VMM_MSI_GSI(s), room for 32 (virtio-net: at most 2 * 8 + 2).
 */
#define VMM_IOAPIC_PINS		24
#define VMM_SERIAL_IRQ		4
/* conf1's CONFIG_ADDRESS; CONFIG_DATA follows at 0xCFC. */
#define VMM_PCI_CONF_ADDR	0xcf8
#define VMM_I8042_IRQ		1
#define VMM_PCI_INTX_PIN(slot)	(16 + ((slot) - 1) % 8)
#define VMM_MSI_GSI_BASE	24
#define VMM_MSI_GSIS_PER_SLOT	32
#define VMM_MSI_GSI(slot)	(VMM_MSI_GSI_BASE + ((slot) - 1) * VMM_MSI_GSIS_PER_SLOT)

/* ---- options (main.c) ---- */

enum vmm_boot_method {
	VMM_BOOT_AUTO,		/* by what the kernel file is */
	VMM_BOOT_PVH,		/* ELF vmlinux, XEN_ELFNOTE_PHYS32_ENTRY */
	VMM_BOOT_BZIMAGE,	/* bzImage, 64-bit boot protocol */
};

/**
 * struct vmm_dev_opts - one --<type> option, e.g. "--net tap=t0,mac=..."
 * @type: the device table entry that parsed it
 * @arg: the option's argument as given (for messages)
 * @priv: what the entry's parse() made of it, given back to create()
 */
struct vmm_dev_opts {
	const struct vmm_dev_type *type;
	const char *arg;
	void *priv;
};

/**
 * struct vmm_opts - the command line
 * @kernel: --kernel
 * @initrd: --initrd, or NULL
 * @cmdline: the full kernel command line (default + --cmdline)
 * @mem_mib: --mem
 * @cpus: --cpus
 * @reboots: --reboots; 0 means run until the guest stops rebooting
 * @boot_timeout: --boot-timeout, seconds per boot
 * @serial: --serial: NULL or "-" for stdout, else a file
 * @devs: the device options, in order (slot 1, 2, ...)
 * @nr_devs: entries in @devs
 */
struct vmm_opts {
	const char *kernel;
	const char *initrd;
	char *cmdline;
	unsigned int mem_mib;
	unsigned int cpus;
	unsigned int reboots;
	unsigned int boot_timeout;
	const char *serial;
	struct vmm_dev_opts devs[VMM_MAX_DEVICES];
	unsigned int nr_devs;
};

/* ---- boot images (boot.c) ---- */

/**
 * struct vmm_image - the kernel (and initrd) read once, loaded every boot
 * @method: PVH or bzImage
 * @kernel: the file's contents, in a memfd of their own
 * @kernel_size: its size
 * @initrd: the initrd, mapped read-only, or NULL
 * @initrd_size: its size
 * @pvh_entry: PVH: the 32-bit entry point (physical)
 * @setup_size: bzImage: bytes of real-mode setup before the kernel
 */
struct vmm_image {
	enum vmm_boot_method method;
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd;
	size_t initrd_size;
	uint32_t pvh_entry;
	size_t setup_size;
};

int vmm_image_open(struct vmm_image *img, const struct vmm_opts *o);
void vmm_image_close(struct vmm_image *img);
const char *vmm_boot_name(enum vmm_boot_method m);

/* ---- the VM (vm.c) ---- */

struct vmm_vm;
struct vmm_vcpu;

/* Why a VM stopped (the first request wins). */
enum vmm_stop {
	VMM_STOP_NONE,
	VMM_STOP_I8042,		/* 0xFE on port 0x64 */
	VMM_STOP_SHUTDOWN,	/* KVM_EXIT_SHUTDOWN: triple fault */
	VMM_STOP_ERROR,		/* a vCPU failed: a VMM or KVM error */
};

/**
 * struct vmm_serial - a 16550A (serial.c)
 * @lock: the registers (any vCPU may access them)
 * @vm: for the interrupt line
 * @out: where THR bytes go
 * @ier: interrupt enable register
 * @lcr: line control
 * @mcr: modem control
 * @scr: scratch
 * @dll: divisor latch, low byte
 * @dlm: divisor latch, high byte
 * @fcr_fifo: FIFOs enabled (FCR bit 0)
 * @irq_high: the level KVM was last told for IRQ 4
 * @line: the current output line, for the "vdev-init:" marker
 * @line_len: bytes in @line
 * @init_seen: a line starting with "vdev-init:" was seen this boot (set
 *             by the vCPU thread after @init_time, read by the main one)
 * @init_time: when it was (vmm_now())
 */
struct vmm_serial {
	pthread_mutex_t lock;
	struct vmm_vm *vm;
	FILE *out;
	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
	bool fcr_fifo;
	bool irq_high;
	char line[128];
	unsigned int line_len;
	atomic_bool init_seen;
	double init_time;
};

/**
 * struct vmm_i8042 - the keyboard controller (i8042.c)
 * @lock: the registers
 * @vm: for the reset request and IRQ 1
 * @ctr: the controller's command byte
 * @pending_cmd: a command waiting for its data byte on port 0x60, or 0
 * @outq: bytes waiting to be read from port 0x60
 * @out_len: bytes in @outq
 */
struct vmm_i8042 {
	pthread_mutex_t lock;
	struct vmm_vm *vm;
	uint8_t ctr;
	uint8_t pending_cmd;
	uint8_t outq[4];
	unsigned int out_len;
};

/**
 * struct vmm_rtc - the CMOS RTC (rtc.c)
 * @lock: @index
 * @index: the register selected through port 0x70
 */
struct vmm_rtc {
	pthread_mutex_t lock;
	uint8_t index;
};

struct vmm_pci_dev;

/**
 * struct vmm_pci_dev_ops - what a PCI function behind the host bridge does
 * @config_read: configuration space read
 * @config_write: configuration space write
 * @mmio: an access to [@base, @base + @size) of its BAR: true if claimed
 */
struct vmm_pci_dev_ops {
	void (*config_read)(struct vmm_pci_dev *pd, uint32_t off, void *data,
			    unsigned int len);
	void (*config_write)(struct vmm_pci_dev *pd, uint32_t off,
			     const void *data, unsigned int len);
	bool (*mmio)(struct vmm_pci_dev *pd, uint64_t addr, void *data,
		     unsigned int len, bool is_write);
};

/**
 * struct vmm_pci_dev - one function on bus 0 (embedded in its device)
 * @ops: its operations
 * @slot: its device number (1..31); function 0 only
 */
struct vmm_pci_dev {
	const struct vmm_pci_dev_ops *ops;
	unsigned int slot;
};

/**
 * struct vmm_pci_host - the host bridge and bus 0 (pci_host.c)
 * @lock: @conf_addr (CONFIG_ADDRESS is one latch for every vCPU)
 * @conf_addr: the CONFIG_ADDRESS register, port 0xCF8
 * @cfg: the host bridge's own configuration space (read-only)
 * @devs: functions by slot; slot 0 is the host bridge itself
 */
struct vmm_pci_host {
	pthread_mutex_t lock;
	uint32_t conf_addr;
	uint8_t cfg[256];
	struct vmm_pci_dev *devs[32];
};

/**
 * struct vmm_dev - a device instance of the device table (devices.c)
 * @type: its table entry
 * @priv: its state, from the entry's create()
 */
struct vmm_dev {
	const struct vmm_dev_type *type;
	void *priv;
};

/**
 * struct vmm_dev_stats - what a device reports per boot (main.c's table)
 * @open_s: time its backend took to open (the TAP reopen)
 * @ebusy: the backend was busy (-EBUSY) when opened
 * @tx_frames: frames the guest sent
 * @rx_frames: frames the guest received
 * @driver_ok: the guest's driver set DRIVER_OK (the device is active)
 */
struct vmm_dev_stats {
	double open_s;
	bool ebusy;
	uint64_t tx_frames;
	uint64_t rx_frames;
	bool driver_ok;
};

/**
 * struct vmm_dev_type - one kind of device, as the device table lists it
 * @name: the option, "net" for --net
 * @parse: parse the option's argument into *@priv; prints the error
 * @free: free what parse() made
 * @create: build the device on @vm in PCI slot @slot, into *@privp;
 *          fills @st->open_s and @st->ebusy even when it fails
 * @destroy: undo create(): when it returns, every worker is joined and
 *           every backend fd closed
 * @stats: fill the frame counters and @driver_ok of @st
 */
struct vmm_dev_type {
	const char *name;
	int (*parse)(const char *arg, void **priv);
	void (*free)(void *priv);
	int (*create)(struct vmm_vm *vm, const void *opts, unsigned int slot,
		      void **privp, struct vmm_dev_stats *st);
	void (*destroy)(void *priv);
	void (*stats)(void *priv, struct vmm_dev_stats *st);
};

extern const struct vmm_dev_type vmm_net_type;

const struct vmm_dev_type *vmm_dev_type_find(const char *name);

/**
 * struct vmm_vcpu - one vCPU and its thread (vcpu.c)
 * @vm: its VM
 * @id: vCPU id = APIC id
 * @fd: the vCPU fd
 * @run: the mmap'd struct kvm_run
 * @run_size: its size
 * @thread: the thread running it
 * @started: @thread runs and must be joined
 * @exits: KVM_RUN returns, for the boot line
 */
struct vmm_vcpu {
	struct vmm_vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	uint64_t exits;
};

/**
 * struct vmm_vm - one VM, built for each boot and destroyed at its reboot
 * @opts: the command line
 * @img: the kernel and initrd
 * @kvm_fd: /dev/kvm
 * @vm_fd: the VM
 * @mem_fd: the memfd behind guest RAM
 * @ram: guest RAM, mapped
 * @ram_size: its size (@mem_mib MiB)
 * @low_size: RAM below VMM_MMIO_HOLE; the rest is at 4 GiB
 * @nr_vcpus: vCPUs
 * @vcpus: the vCPUs
 * @stopping: the vCPU threads must leave their loops
 * @stop_reason: enum vmm_stop, the first request that stopped the VM
 * @stop_time: when it was made (vmm_now())
 * @extra_requests: stop requests after the first one, discarded
 * @stop_evt: eventfd the main thread waits on (owned by main.c: it lives
 *            across VMs)
 * @serial: COM1
 * @i8042: the keyboard controller
 * @rtc: the CMOS clock
 * @pci: the host bridge
 * @devs: the devices, in slot order
 * @nr_devs: entries in @devs
 * @start_time: when the vCPUs were started
 * @coalesced: KVM's coalesced-I/O ring (in the vCPUs' kvm_run mappings),
 *             where CONFIG_ADDRESS writes wait without an exit; NULL when
 *             KVM cannot coalesce port writes
 * @coalesced_max: entries in @coalesced
 * @coalesced_lock: the ring's consumer side (any vCPU drains it)
 */
struct vmm_vm {
	const struct vmm_opts *opts;
	const struct vmm_image *img;
	int kvm_fd;
	int vm_fd;
	int mem_fd;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t low_size;
	unsigned int nr_vcpus;
	struct vmm_vcpu vcpus[VMM_MAX_CPUS];
	atomic_bool stopping;
	atomic_int stop_reason;
	double stop_time;
	atomic_uint extra_requests;
	int stop_evt;
	struct vmm_serial serial;
	struct vmm_i8042 i8042;
	struct vmm_rtc rtc;
	struct vmm_pci_host pci;
	struct vmm_dev devs[VMM_MAX_DEVICES];
	unsigned int nr_devs;
	double start_time;
	struct kvm_coalesced_mmio_ring *coalesced;
	unsigned int coalesced_max;
	pthread_mutex_t coalesced_lock;
};

int vmm_kvm_check(void);
int vmm_vm_create(const struct vmm_opts *o, const struct vmm_image *img,
		  FILE *serial_out, int stop_evt, struct vmm_dev_stats *st,
		  struct vmm_vm **vmp);
int vmm_vm_start(struct vmm_vm *vm);
void vmm_vm_request_stop(struct vmm_vm *vm, enum vmm_stop why);
void vmm_vm_stop(struct vmm_vm *vm);
void vmm_vm_destroy(struct vmm_vm *vm);
double vmm_vm_ram_huge_mib(const struct vmm_vm *vm);
void *vmm_gpa(struct vmm_vm *vm, uint64_t gpa, uint64_t len);
void vmm_irq_line(struct vmm_vm *vm, unsigned int irq, bool level);
void vmm_vm_drain_coalesced(struct vmm_vm *vm);
double vmm_now(void);

int vmm_vcpu_create(struct vmm_vm *vm, struct vmm_vcpu *vcpu,
		    unsigned int id, const struct kvm_cpuid2 *cpuid);
int vmm_vcpu_start(struct vmm_vcpu *vcpu);
void vmm_vcpu_kick(struct vmm_vcpu *vcpu);
void vmm_vcpu_join(struct vmm_vcpu *vcpu);
void vmm_vcpu_destroy(struct vmm_vcpu *vcpu);
int vmm_vcpu_signal_init(void);

int vmm_boot_load(struct vmm_vm *vm);

int vmm_mptable_write(struct vmm_vm *vm);

int vmm_serial_init(struct vmm_serial *s, struct vmm_vm *vm, FILE *out);
void vmm_serial_exit(struct vmm_serial *s);
bool vmm_serial_io(struct vmm_serial *s, uint16_t port, uint8_t *data,
		   unsigned int len, bool is_write);

int vmm_i8042_init(struct vmm_i8042 *k, struct vmm_vm *vm);
void vmm_i8042_exit(struct vmm_i8042 *k);
bool vmm_i8042_io(struct vmm_i8042 *k, uint16_t port, uint8_t *data,
		  unsigned int len, bool is_write);

int vmm_rtc_init(struct vmm_rtc *r);
void vmm_rtc_exit(struct vmm_rtc *r);
bool vmm_rtc_io(struct vmm_rtc *r, uint16_t port, uint8_t *data,
		unsigned int len, bool is_write);

int vmm_pci_host_init(struct vmm_pci_host *h);
void vmm_pci_host_exit(struct vmm_pci_host *h);
int vmm_pci_host_add(struct vmm_pci_host *h, struct vmm_pci_dev *pd);
bool vmm_pci_host_io(struct vmm_pci_host *h, uint16_t port, uint8_t *data,
		     unsigned int len, bool is_write);
bool vmm_pci_host_mmio(struct vmm_pci_host *h, uint64_t addr, uint8_t *data,
		       unsigned int len, bool is_write);

/* ---- libvdev's messages (log.c) ---- */

void vmm_log_init(void);
void vmm_log_hold(bool hold);
void vmm_log_held(char *buf, size_t size);

#endif /* _VDEV_VMM_H */
