// SPDX-License-Identifier: GPL-2.0
/*
 * KVM smoke test: proves that the KVM selftest library, the build and the
 * runner (directly or through scripts/vmtest) give vdev's KVM tests a
 * working KVM.
 *
 * The guest does MMIO writes and reads at a guest-physical address that no
 * memory slot covers; each access must reach the host as KVM_EXIT_MMIO with
 * the right address, length and data, and the host's answer to a read must
 * reach the guest. Ucalls (GUEST_SYNC, GUEST_DONE) mark the stages.
 */
#include <stdint.h>
#include <string.h>

#include <linux/compiler.h>
#include <linux/kvm.h>

#include "kselftest.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

/* 3 GiB: below 4 GiB, far above the test VM's memory slot. */
#define MMIO_GPA		0xc0000000ULL
#define MMIO_PAGES		1
#define NR_WRITES		100
#define WRITE_PATTERN		0x5eed0000U
#define READ32_VALUE		0xfeedf00dU
#define READ64_VALUE		0x0123456789abcdefULL
#define WRITE8_VALUE		0x5a

/* Register offsets in the fake MMIO page. */
#define REG_WRITE32		0x00
#define REG_READ32		0x04
#define REG_READ64		0x08
#define REG_WRITE8		0x10

enum stage {
	STAGE_START = 1,
	STAGE_WRITES,
	STAGE_READS,
};

static void guest_code(void)
{
	uint32_t *w32 = (uint32_t *)(MMIO_GPA + REG_WRITE32);
	uint32_t *r32 = (uint32_t *)(MMIO_GPA + REG_READ32);
	uint64_t *r64 = (uint64_t *)(MMIO_GPA + REG_READ64);
	uint8_t *w8 = (uint8_t *)(MMIO_GPA + REG_WRITE8);
	uint32_t v32;
	uint64_t v64;
	int i;

	GUEST_SYNC(STAGE_START);

	for (i = 0; i < NR_WRITES; i++)
		WRITE_ONCE(*w32, WRITE_PATTERN + i);
	GUEST_SYNC(STAGE_WRITES);

	v32 = READ_ONCE(*r32);
	GUEST_ASSERT_EQ(v32, READ32_VALUE);
	v64 = READ_ONCE(*r64);
	GUEST_ASSERT_EQ(v64, READ64_VALUE);
	WRITE_ONCE(*w8, WRITE8_VALUE);
	GUEST_SYNC(STAGE_READS);

	GUEST_DONE();
}

struct mmio_log {
	unsigned int writes32;		/* 4-byte writes at REG_WRITE32 */
	unsigned int bad_writes;	/* wrong value, length or address */
	unsigned int reads;		/* reads answered */
	unsigned int bad_reads;		/* reads at an unknown place */
	unsigned int writes8;		/* 1-byte writes at REG_WRITE8 */
};

static void handle_mmio(struct kvm_run *run, struct mmio_log *log)
{
	uint64_t off = run->mmio.phys_addr - MMIO_GPA;
	uint32_t len = run->mmio.len;
	uint64_t val = 0;

	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len > 8 ? 8 : len);
		if (off == REG_WRITE32 && len == 4 &&
		    val == WRITE_PATTERN + log->writes32)
			log->writes32++;
		else if (off == REG_WRITE8 && len == 1 && val == WRITE8_VALUE)
			log->writes8++;
		else
			log->bad_writes++;
		return;
	}

	if (off == REG_READ32 && len == 4)
		val = READ32_VALUE;
	else if (off == REG_READ64 && len == 8)
		val = READ64_VALUE;
	else
		log->bad_reads++;
	memcpy(run->mmio.data, &val, len > 8 ? 8 : len);
	log->reads++;
}

int main(void)
{
	struct mmio_log log = { 0 };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	unsigned int exits = 0, stage = 0;
	bool done = false;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(4);

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	/* Guest page tables only: no memory slot backs this page. */
	virt_map(vm, MMIO_GPA, MMIO_GPA, MMIO_PAGES);
	ksft_test_result_pass("vm_create_with_one_vcpu + MMIO page mapped\n");

	while (!done) {
		vcpu_run(vcpu);
		exits++;

		if (vcpu->run->exit_reason == KVM_EXIT_MMIO) {
			handle_mmio(vcpu->run, &log);
			continue;
		}

		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TEST_ASSERT(uc.args[1] == stage + 1,
				    "stage %lu after stage %u", uc.args[1],
				    stage);
			stage = uc.args[1];
			if (stage == STAGE_START)
				TEST_ASSERT(!log.writes32 && !log.reads,
					    "MMIO exit before the first access");
			break;
		case UCALL_DONE:
			done = true;
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT_2(uc, "got 0x%lx, want 0x%lx");
			break;
		default:
			TEST_FAIL("unexpected exit %u (%s), ucall %lu",
				  vcpu->run->exit_reason,
				  exit_reason_str(vcpu->run->exit_reason),
				  uc.cmd);
		}
	}

	ksft_print_msg("%u vCPU exits, %u MMIO writes, %u MMIO reads\n",
		       exits, log.writes32 + log.writes8 + log.bad_writes,
		       log.reads);
	ksft_test_result(log.writes32 == NR_WRITES && log.writes8 == 1 &&
			 !log.bad_writes,
			 "guest MMIO writes exit with the right address, length and data\n");
	ksft_test_result(log.reads == 2 && !log.bad_reads,
			 "guest MMIO reads get the host's data\n");
	ksft_test_result(stage == STAGE_READS,
			 "GUEST_SYNC stages in order, then GUEST_DONE\n");

	kvm_vm_free(vm);
	ksft_finished();
}
