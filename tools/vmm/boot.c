// SPDX-License-Identifier: GPL-2.0
/*
 * Loading Linux, two ways, chosen by what --kernel is:
 *
 * PVH, for an uncompressed ELF vmlinux with CONFIG_PVH (the Xen PVH boot
 * ABI, as QEMU and Firecracker use it): the PT_LOAD segments go to their
 * physical addresses (copied from the kernel's memfd copy, see
 * vmm_image_open()), the entry point is the XEN_ELFNOTE_PHYS32_ENTRY
 * note, and the vCPU starts in 32-bit protected mode, paging off, with
 * EBX pointing at a struct hvm_start_info (version 1: command line,
 * initrd as module 0, and the memory map). No decompression, no KASLR.
 *
 * The 64-bit boot protocol, for a bzImage (Documentation/x86/boot.rst,
 * as Firecracker and cloud-hypervisor use it): the protected-mode kernel
 * at 1 MiB, a zero page (struct boot_params from <asm/bootparam.h>) with
 * the setup header, the command line, the initrd and the e820 table, and
 * the vCPU in long mode with the low 4 GiB identity mapped, at the
 * kernel's 64-bit entry (load address + 0x200) with RSI at the zero page.
 *
 * Either way the e820 map is the same: RAM below the EBDA (so that Linux
 * can place its real-mode trampoline), the EBDA KiB with the MP table
 * reserved, RAM from 1 MiB up to the 32-bit hole, the rest of RAM at
 * 4 GiB.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <asm/bootparam.h>
#include <asm/e820.h>

#include "vmm.h"

/* The Xen PVH ABI (xen/include/public/arch-x86/hvm/start_info.h). */
#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define XEN_HVM_START_MAGIC_VALUE	0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define PVH_MODLIST_ADDR	(VMM_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR		(VMM_PVH_INFO_ADDR + 0x80)

/* bzImage: where the setup header is, and what it must say. */
#define BZ_HDR_OFFSET		0x1f1
#define BZ_BOOT_FLAG		0xaa55
#define BZ_HDR_MAGIC		0x53726448	/* "HdrS" */
#define BZ_MIN_VERSION		0x020c		/* xloadflags */
#define BZ_ENTRY64_OFFSET	0x200
#define BZ_LOADER_UNDEFINED	0xff

#define E820_MAX		8
#define PAGE_SIZE_4K		4096

/* Boot GDT: selectors 0x10 code, 0x18 data, 0x20 TSS (boot.rst). */
#define BOOT_CS			0x10
#define BOOT_DS			0x18
#define BOOT_TSS		0x20
#define GDT_CODE32		0x00cf9b000000ffffULL
#define GDT_CODE64		0x00af9b000000ffffULL
#define GDT_DATA		0x00cf93000000ffffULL
#define GDT_TSS			0x00008b0000000067ULL

#define X86_CR0_PE		(1U << 0)
#define X86_CR0_ET		(1U << 4)
#define X86_CR0_PG		(1U << 31)
#define X86_CR4_PAE		(1U << 5)
#define EFER_LME		(1U << 8)
#define EFER_LMA		(1U << 10)
#define PTE_PRESENT_RW		0x3ULL
#define PTE_PS			0x80ULL

const char *vmm_boot_name(enum vmm_boot_method m)
{
	return m == VMM_BOOT_PVH ? "pvh" : m == VMM_BOOT_BZIMAGE ? "bzimage" :
	       "auto";
}

static int map_file(const char *opt, const char *path, const uint8_t **p,
		    size_t *size, bool to_memfd)
{
	struct stat st;
	void *m;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		int err = errno;

		fprintf(stderr, VMM_NAME ": %s %s: %s\n", opt, path,
			strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	if (!S_ISREG(st.st_mode) || !st.st_size) {
		fprintf(stderr, VMM_NAME ": %s %s: not a regular, non-empty file\n",
			opt, path);
		close(fd);
		return -EINVAL;
	}
	m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		int err = errno;

		fprintf(stderr, VMM_NAME ": %s %s: mmap: %s\n", opt, path,
			strerror(err));
		close(fd);
		return -err;
	}
	close(fd);
	*p = m;
	*size = st.st_size;
	if (!to_memfd)
		return 0;
	/*
	 * The kernel, once, into a memfd that every boot copies from:
	 * memory, whatever the file system under the file does (a 9p share
	 * without a page cache, say), and the same kernel at every boot
	 * even if the file is replaced meanwhile.
	 */
	m = MAP_FAILED;
	fd = memfd_create("vdev-vmm-kernel", MFD_CLOEXEC);
	if (fd >= 0 && !ftruncate(fd, st.st_size))
		m = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
	if (m == MAP_FAILED) {
		int err = errno;

		fprintf(stderr, VMM_NAME ": %s %s: memfd copy: %s\n", opt, path,
			strerror(err));
		if (fd >= 0)
			close(fd);
		munmap((void *)*p, st.st_size);
		return -err;
	}
	memcpy(m, *p, st.st_size);
	munmap((void *)*p, st.st_size);
	close(fd);
	*p = m;
	return 0;
}

/* The PVH entry of an ELF vmlinux, from its PT_NOTE segments; 0: none. */
static uint32_t elf_pvh_entry(const uint8_t *f, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
	unsigned int i;

	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)
			(f + eh->e_phoff + (size_t)i * eh->e_phentsize);
		uint64_t off, end;

		if (ph->p_type != PT_NOTE || ph->p_offset > size ||
		    ph->p_filesz > size - ph->p_offset)
			continue;
		off = ph->p_offset;
		end = off + ph->p_filesz;
		while (off + sizeof(Elf64_Nhdr) <= end) {
			const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(f + off);
			uint64_t name = off + sizeof(*nh);
			uint64_t desc = name + ((nh->n_namesz + 3) & ~3U);
			uint64_t next = desc + ((nh->n_descsz + 3) & ~3U);

			if (next > end)
				break;
			if (nh->n_type == XEN_ELFNOTE_PHYS32_ENTRY &&
			    nh->n_namesz == 4 && !memcmp(f + name, "Xen", 4) &&
			    nh->n_descsz >= 4) {
				uint32_t entry;

				memcpy(&entry, f + desc, 4);
				return entry;
			}
			off = next;
		}
	}
	return 0;
}

static bool elf_valid(const uint8_t *f, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;

	return size >= sizeof(*eh) && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 &&
	       eh->e_machine == EM_X86_64 &&
	       eh->e_phentsize == sizeof(Elf64_Phdr) &&
	       eh->e_phoff <= size &&
	       (size - eh->e_phoff) / sizeof(Elf64_Phdr) >= eh->e_phnum;
}

static const struct setup_header *bz_header(const uint8_t *f, size_t size)
{
	const struct setup_header *h = (const void *)(f + BZ_HDR_OFFSET);

	if (size < BZ_HDR_OFFSET + sizeof(*h) || h->boot_flag != BZ_BOOT_FLAG ||
	    h->header != BZ_HDR_MAGIC)
		return NULL;
	return h;
}

/**
 * vmm_image_open() - map the kernel and the initrd, find out how to boot
 * @img: filled in
 * @o: the options (--kernel, --initrd)
 *
 * Return: 0, or -errno with the reason printed: a missing file, or a
 * kernel that is neither a PVH vmlinux nor a 64-bit bzImage.
 */
int vmm_image_open(struct vmm_image *img, const struct vmm_opts *o)
{
	const struct setup_header *h;
	int ret;

	memset(img, 0, sizeof(*img));
	ret = map_file("--kernel", o->kernel, &img->kernel, &img->kernel_size,
		       true);
	if (ret)
		return ret;
	h = bz_header(img->kernel, img->kernel_size);
	if (elf_valid(img->kernel, img->kernel_size)) {
		img->pvh_entry = elf_pvh_entry(img->kernel, img->kernel_size);
		if (!img->pvh_entry) {
			fprintf(stderr, VMM_NAME ": --kernel %s: not a kernel: an x86-64 ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)\n",
				o->kernel);
			ret = -ENOEXEC;
			goto out_close;
		}
		img->method = VMM_BOOT_PVH;
	} else if (h) {
		unsigned int sects = h->setup_sects ? h->setup_sects : 4;

		img->setup_size = (sects + 1) * 512;
		if (h->version < BZ_MIN_VERSION ||
		    !(h->xloadflags & XLF_KERNEL_64) ||
		    img->setup_size >= img->kernel_size) {
			fprintf(stderr, VMM_NAME ": --kernel %s: not a kernel this VMM boots: bzImage protocol %u.%02u without a 64-bit entry\n",
				o->kernel, h->version >> 8, h->version & 0xff);
			ret = -ENOEXEC;
			goto out_close;
		}
		img->method = VMM_BOOT_BZIMAGE;
	} else {
		fprintf(stderr, VMM_NAME ": --kernel %s: not a kernel (neither an ELF vmlinux nor a bzImage)\n",
			o->kernel);
		ret = -ENOEXEC;
		goto out_close;
	}
	if (o->initrd) {
		ret = map_file("--initrd", o->initrd, &img->initrd,
			       &img->initrd_size, false);
		if (ret)
			goto out_close;
	}
	return 0;

out_close:
	munmap((void *)img->kernel, img->kernel_size);
	img->kernel = NULL;
	return ret;
}

void vmm_image_close(struct vmm_image *img)
{
	if (img->initrd)
		munmap((void *)img->initrd, img->initrd_size);
	if (img->kernel)
		munmap((void *)img->kernel, img->kernel_size);
	memset(img, 0, sizeof(*img));
}

/**
 * struct e820_map - the memory map, as both protocols hand it over
 * @nr: entries
 * @addr: start of each
 * @size: length of each
 * @type: E820_RAM or E820_RESERVED
 */
struct e820_map {
	unsigned int nr;
	uint64_t addr[E820_MAX];
	uint64_t size[E820_MAX];
	uint32_t type[E820_MAX];
};

static void e820_add(struct e820_map *m, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	if (m->nr < E820_MAX && size) {
		m->addr[m->nr] = addr;
		m->size[m->nr] = size;
		m->type[m->nr] = type;
		m->nr++;
	}
}

static void e820_build(struct vmm_vm *vm, struct e820_map *m)
{
	memset(m, 0, sizeof(*m));
	e820_add(m, 0, VMM_EBDA_START, E820_RAM);
	e820_add(m, VMM_EBDA_START, SZ_1K, E820_RESERVED);
	e820_add(m, VMM_HIMEM_START, vm->low_size - VMM_HIMEM_START, E820_RAM);
	e820_add(m, SZ_4G, vm->ram_size - vm->low_size, E820_RAM);
}

/*
 * Where the initrd goes: as high in low RAM as @limit allows, above
 * @kernel_end. Returns 0 if it does not fit.
 */
static uint64_t initrd_place(struct vmm_vm *vm, uint64_t kernel_end,
			     uint64_t limit)
{
	uint64_t top = vm->low_size < limit ? vm->low_size : limit;
	uint64_t size = vm->img->initrd_size;
	uint64_t addr;

	if (size > top)
		return 0;
	addr = (top - size) & ~0xfffULL;
	if (addr < kernel_end)
		return 0;
	memcpy(vmm_gpa(vm, addr, size), vm->img->initrd, size);
	return addr;
}

static int cmdline_write(struct vmm_vm *vm)
{
	size_t len = strlen(vm->opts->cmdline) + 1;

	if (len > VMM_CMDLINE_MAX) {
		fprintf(stderr, VMM_NAME ": --cmdline: %zu bytes, more than the kernel's %u\n",
			len - 1, VMM_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	memcpy(vmm_gpa(vm, VMM_CMDLINE_ADDR, len), vm->opts->cmdline, len);
	return 0;
}

static void gdt_write(struct vmm_vm *vm, uint64_t code)
{
	uint64_t gdt[] = { 0, 0, code, GDT_DATA, GDT_TSS };

	memcpy(vmm_gpa(vm, VMM_GDT_ADDR, sizeof(gdt)), gdt, sizeof(gdt));
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type,
		     bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

static int boot_set_regs(struct vmm_vm *vm, uint64_t rip, uint64_t rbx,
			 uint64_t rsi, bool long_mode)
{
	struct vmm_vcpu *bsp = &vm->vcpus[0];
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(bsp->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	seg_flat(&sregs.cs, BOOT_CS, 0xb, long_mode);
	seg_flat(&sregs.ds, BOOT_DS, 0x3, false);
	sregs.es = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;
	sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = BOOT_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;	/* busy TSS */
	sregs.tr.present = 1;
	sregs.gdt.base = VMM_GDT_ADDR;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = VMM_IDT_ADDR;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (long_mode) {
		sregs.cr3 = VMM_PML4_ADDR;
		sregs.cr4 = X86_CR4_PAE;
		sregs.cr0 |= X86_CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	if (ioctl(bsp->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rbx = rbx;
	regs.rsi = rsi;
	regs.rflags = 0x2;
	if (ioctl(bsp->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/*
 * Copy @len bytes to fresh guest RAM, skipping the source's all-zero
 * pages: RAM is a new memfd at every boot, zero where nothing was
 * written. Half of Debian's vmlinux segments are zero pages (.bss and
 * the padding of .init: 6947 of 14571), and the copy was most of
 * building a VM, a page fault and a page zeroed by the host for every
 * page written.
 */
static void copy_nonzero(uint8_t *dst, const uint8_t *src, uint64_t len)
{
	static const uint8_t zero[PAGE_SIZE_4K];
	uint64_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < PAGE_SIZE_4K ? len - off : PAGE_SIZE_4K;
		if (memcmp(src + off, zero, n))
			memcpy(dst + off, src + off, n);
	}
}

static int boot_pvh(struct vmm_vm *vm, const struct e820_map *m)
{
	const uint8_t *f = vm->img->kernel;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
	struct hvm_memmap_table_entry *mm;
	struct hvm_modlist_entry *mod;
	struct hvm_start_info *si;
	uint64_t kernel_end = 0;
	unsigned int i;

	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)
			(f + eh->e_phoff + (size_t)i * eh->e_phentsize);
		uint8_t *dst;

		if (ph->p_type != PT_LOAD)
			continue;
		dst = vmm_gpa(vm, ph->p_paddr, ph->p_memsz);
		if (!dst || ph->p_paddr < VMM_HIMEM_START ||
		    ph->p_paddr + ph->p_memsz > vm->low_size ||
		    ph->p_filesz > ph->p_memsz ||
		    ph->p_offset > vm->img->kernel_size ||
		    ph->p_filesz > vm->img->kernel_size - ph->p_offset) {
			fprintf(stderr, VMM_NAME ": --kernel %s: segment at %#llx (%llu bytes) does not fit in %u MiB of RAM\n",
				vm->opts->kernel,
				(unsigned long long)ph->p_paddr,
				(unsigned long long)ph->p_memsz,
				vm->opts->mem_mib);
			return -ENOMEM;
		}
		/* The rest, to p_memsz, is fresh memfd RAM: zero. */
		copy_nonzero(dst, f + ph->p_offset, ph->p_filesz);
		if (ph->p_paddr + ph->p_memsz > kernel_end)
			kernel_end = ph->p_paddr + ph->p_memsz;
	}

	si = vmm_gpa(vm, VMM_PVH_INFO_ADDR, sizeof(*si));
	memset(si, 0, sizeof(*si));
	si->magic = XEN_HVM_START_MAGIC_VALUE;
	si->version = 1;
	si->cmdline_paddr = VMM_CMDLINE_ADDR;
	si->memmap_paddr = PVH_MEMMAP_ADDR;
	si->memmap_entries = m->nr;
	mm = vmm_gpa(vm, PVH_MEMMAP_ADDR, m->nr * sizeof(*mm));
	for (i = 0; i < m->nr; i++) {
		mm[i].addr = m->addr[i];
		mm[i].size = m->size[i];
		mm[i].type = m->type[i];
		mm[i].reserved = 0;
	}
	if (vm->img->initrd) {
		uint64_t addr = initrd_place(vm, kernel_end, VMM_MMIO_HOLE);

		if (!addr) {
			fprintf(stderr, VMM_NAME ": --initrd %s: does not fit in %u MiB of RAM with the kernel\n",
				vm->opts->initrd, vm->opts->mem_mib);
			return -ENOMEM;
		}
		mod = vmm_gpa(vm, PVH_MODLIST_ADDR, sizeof(*mod));
		memset(mod, 0, sizeof(*mod));
		mod->paddr = addr;
		mod->size = vm->img->initrd_size;
		si->nr_modules = 1;
		si->modlist_paddr = PVH_MODLIST_ADDR;
	}
	gdt_write(vm, GDT_CODE32);
	return boot_set_regs(vm, vm->img->pvh_entry, VMM_PVH_INFO_ADDR, 0,
			     false);
}

/* Identity map of the low 4 GiB with 2 MiB pages: PML4, PDPT, 4 PDs. */
static void boot_page_tables(struct vmm_vm *vm)
{
	uint64_t *pml4 = vmm_gpa(vm, VMM_PML4_ADDR, 6 * 4096);
	uint64_t *pdpt = pml4 + 512;
	uint64_t *pd = pdpt + 512;
	unsigned int i;

	memset(pml4, 0, 6 * 4096);
	pml4[0] = (VMM_PML4_ADDR + 4096) | PTE_PRESENT_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (VMM_PML4_ADDR + (2 + i) * 4096) | PTE_PRESENT_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | PTE_PRESENT_RW | PTE_PS;
}

static int boot_bzimage(struct vmm_vm *vm, const struct e820_map *m)
{
	const uint8_t *f = vm->img->kernel;
	const struct setup_header *fh = (const void *)(f + BZ_HDR_OFFSET);
	size_t kernel_size = vm->img->kernel_size - vm->img->setup_size;
	/* The header runs to the end of the jump at 0x200 (boot.rst). */
	size_t hdr_len = 0x202 + f[0x201] - BZ_HDR_OFFSET;
	uint64_t kernel_end = VMM_BZIMAGE_ADDR +
			      (fh->init_size > kernel_size ? fh->init_size :
							     kernel_size);
	struct boot_params *bp;
	unsigned int i;

	if (kernel_end > vm->low_size) {
		fprintf(stderr, VMM_NAME ": --kernel %s: needs %llu MiB, more than the %u MiB of RAM\n",
			vm->opts->kernel,
			(unsigned long long)(kernel_end >> 20) + 1,
			vm->opts->mem_mib);
		return -ENOMEM;
	}
	memcpy(vmm_gpa(vm, VMM_BZIMAGE_ADDR, kernel_size),
	       f + vm->img->setup_size, kernel_size);

	bp = vmm_gpa(vm, VMM_ZERO_PAGE_ADDR, sizeof(*bp));
	memset(bp, 0, sizeof(*bp));
	if (hdr_len > sizeof(bp->hdr))
		hdr_len = sizeof(bp->hdr);
	memcpy(&bp->hdr, fh, hdr_len);
	bp->hdr.type_of_loader = BZ_LOADER_UNDEFINED;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.cmd_line_ptr = VMM_CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = 0;
	if (vm->img->initrd) {
		uint64_t addr = initrd_place(vm, kernel_end,
					     (uint64_t)fh->initrd_addr_max + 1);

		if (!addr) {
			fprintf(stderr, VMM_NAME ": --initrd %s: does not fit in %u MiB of RAM with the kernel\n",
				vm->opts->initrd, vm->opts->mem_mib);
			return -ENOMEM;
		}
		bp->hdr.ramdisk_image = addr;
		bp->hdr.ramdisk_size = vm->img->initrd_size;
	}
	for (i = 0; i < m->nr; i++) {
		bp->e820_table[i].addr = m->addr[i];
		bp->e820_table[i].size = m->size[i];
		bp->e820_table[i].type = m->type[i];
	}
	bp->e820_entries = m->nr;

	boot_page_tables(vm);
	gdt_write(vm, GDT_CODE64);
	return boot_set_regs(vm, VMM_BZIMAGE_ADDR + BZ_ENTRY64_OFFSET, 0,
			     VMM_ZERO_PAGE_ADDR, true);
}

/**
 * vmm_boot_load() - put the kernel, initrd, command line and boot tables
 * into a fresh VM and point its BSP at the entry
 * @vm: the VM, its vCPUs created, not started
 *
 * Return: 0, or -errno with the reason printed.
 */
int vmm_boot_load(struct vmm_vm *vm)
{
	struct e820_map m;
	int ret;

	ret = cmdline_write(vm);
	if (ret)
		return ret;
	e820_build(vm, &m);
	if (vm->img->method == VMM_BOOT_PVH)
		return boot_pvh(vm, &m);
	return boot_bzimage(vm, &m);
}
