// SPDX-License-Identifier: GPL-2.0
/*
 * VM reboot stress, the way a VMM reboots a guest: destroy the VM and the
 * virtio-net device, then create both again on the same named TAP, with
 * traffic every time (VDEV_REBOOT_CYCLES, default 200).
 *
 * Each boot the guest driver brings the device up with the control queue,
 * sends a control command, sends frames to the peer and receives frames
 * from it on interrupts. After every teardown, before the TAP is opened
 * again, the process must be back to the fd and thread counts it had
 * before the first boot; and reopening the TAP must never fail with
 * EBUSY (cloud-hypervisor issue 4868: a control-queue worker left
 * running held the TAP fd). Either failure prints its signature line
 * (selftests/vdev_test.h: "vdev-regression: leaked fds ...",
 * "vdev-regression: EBUSY reopening TAP ...").
 *
 * Built from the fault build (VARIANT=fault) and run with
 * VDEV_FAULT=leak-ctrl-worker, the device's join path leaks such a worker
 * and this test must fail (KVM_XFAIL_TESTS).
 *
 * The guest driver uses the split ring, or the packed ring when built
 * with -DVH_RING_PACKED (selftests/kvm/[pci/]packed/vnet_reboot_test)
 * or run with VDEV_KVM_RING=packed; every boot must negotiate that
 * format.
 */
#include "vnet_host.h"

#define DEFAULT_CYCLES	200
#define NR_TX		16
#define NR_RX		16

enum {
	STAGE_UP = 1,
	STAGE_TX_DONE,
	STAGE_RX_DONE,
};

static uint8_t peer_mac[ETH_ALEN];
static struct vg_net gnet;
static int ctrl_ack;

static void guest_code(void)
{
	uint64_t offloads = 0;
	int ret;

	vg_irq_setup();
	ret = vg_net_init(&gnet, (1ULL << VIRTIO_NET_F_MAC) |
			  (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS), VG_F_CTRL);
	GUEST_ASSERT_1(ret == 0, ret);
	ctrl_ack = vg_ctrl_cmd(&gnet, VIRTIO_NET_CTRL_GUEST_OFFLOADS,
			       VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, &offloads,
			       sizeof(offloads));
	GUEST_SYNC(STAGE_UP);
	vg_tx_frames(&gnet, peer_mac, 0, NR_TX);
	vg_wait_tx_idle(&gnet);
	GUEST_SYNC(STAGE_TX_DONE);
	vg_wait_rx(&gnet, NR_RX);
	GUEST_SYNC(STAGE_RX_DONE);
	GUEST_DONE();
}

int main(void)
{
	const char *env = getenv("VDEV_REBOOT_CYCLES");
	unsigned long cycles, i, tx = 0, rx = 0, ebusy = 0, other_err = 0;
	unsigned long irqs = 0, timer = 0, late = 0, lost = 0;
	unsigned long bad_traffic = 0, bad_ctrl = 0, leaks = 0, bad_link = 0;
	unsigned long bad_ring = 0;
	int fds0, tasks0, fds, tasks, workers;
	double *open_s, *link_s, t0 = vh_now(), t;
	struct vh_net net;
	struct vh_vm h;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(4);
	cycles = env ? strtoul(env, NULL, 0) : DEFAULT_CYCLES;
	TEST_ASSERT(cycles > 0, "VDEV_REBOOT_CYCLES=%s", env);
	open_s = calloc(cycles, sizeof(*open_s));
	link_s = calloc(cycles, sizeof(*link_s));
	TEST_ASSERT(open_s && link_s, "calloc");

	vh_deadline("set-up", 120);
	vh_net_setup(&net);
	vdev_test_baseline(&fds0, &tasks0);

	t = vh_now();
	for (i = 0; i < cycles; i++) {
		static char phase[64];
		unsigned int got;
		int ret;

		snprintf(phase, sizeof(phase), "boot %lu", i);
		vh_deadline(phase, 60);
		vh_vm_create_peer(&h, guest_code, &net, peer_mac);
		ret = vh_dev_attach(&h, &open_s[i]);
		if (ret) {
			if (ret == -EBUSY) {
				vdev_test_report_ebusy(VH_TAP, i);
				ebusy++;
			} else {
				other_err++;
			}
			ksft_print_msg("boot %lu: reopening %s: %s\n", i,
				       VH_TAP, strerror(-ret));
			vh_vm_destroy(&h);
			break;
		}

		vh_run_sync(&h, STAGE_UP);
		link_s[i] = vh_wait_tap_up(3000);
		if (link_s[i] < 0)
			bad_link++;
		snprintf(phase, sizeof(phase), "boot %lu: guest TX", i);
		sync_global_from_guest(h.vm, ctrl_ack);
		if (ctrl_ack != VIRTIO_NET_OK)
			bad_ctrl++;
		if (!vh_ring_negotiated(h.dev))
			bad_ring++;
		vh_run_sync(&h, STAGE_TX_DONE);
		got = vh_peer_recv(&net, NR_TX, 2000, NULL);
		tx += got;
		if (vh_peer_send(&net, i * NR_RX, NR_RX) != NR_RX)
			bad_traffic++;
		snprintf(phase, sizeof(phase), "boot %lu: guest RX", i);
		vh_run_sync(&h, STAGE_RX_DONE);
		snprintf(phase, sizeof(phase), "boot %lu: teardown", i);
		sync_global_from_guest(h.vm, gnet);
		sync_global_from_guest(h.vm, vg_irq);
		rx += gnet.rx_frames;
		irqs += vg_irq.irqs;
		timer += vg_irq.timer;
		late += vg_irq.late;
		lost += vg_irq.lost;
		if (got != NR_TX || gnet.rx_frames < NR_RX)
			bad_traffic++;
		vh_run_done(&h);
		vh_vm_destroy(&h);

		/*
		 * VM and device gone, the TAP not yet opened again: nothing
		 * of this boot may be left.
		 */
		if (vdev_test_leaked(fds0, tasks0, 500, i)) {
			if (!leaks) {
				vh_print_fds();
				vh_print_threads();
			}
			leaks++;
		}
	}
	t = vh_now() - t;
	vh_deadline("teardown", 60);

	ksft_print_msg("%lu boots in %.1f s (%.0f ms each): frames guest->peer %lu, peer->guest %lu\n",
		       i, t, i ? t * 1000 / i : 0.0, tx, rx);
	ksft_print_msg("guest interrupts %lu, timer wake-ups %lu, late device interrupts %lu, lost %lu\n",
		       irqs, timer, late, lost);
	if (i) {
		qsort(open_s, i, sizeof(*open_s), vh_cmp_double);
		ksft_print_msg("TAP reopen (vdev_net_create): min %.3f ms, median %.3f ms, max %.3f ms\n",
			       open_s[0] * 1e3, open_s[i / 2] * 1e3,
			       open_s[i - 1] * 1e3);
		qsort(link_s, i, sizeof(*link_s), vh_cmp_double);
		ksft_print_msg("TAP operstate UP after reopen: min %.3f ms, median %.3f ms, max %.3f ms\n",
			       link_s[0] * 1e3, link_s[i / 2] * 1e3,
			       link_s[i - 1] * 1e3);
	}
	ksft_test_result(i == cycles && !ebusy && !other_err,
			 "%lu of %lu reboots reopened %s, EBUSY %lu times\n",
			 i, cycles, VH_TAP, ebusy);
	ksft_test_result(i == cycles && !bad_traffic && !bad_ctrl && !bad_link &&
			 !bad_ring && !lost,
			 "%s ring, link up, traffic both ways and a control command on every boot, %lu interrupts lost\n",
			 vh_ring_name(), lost);
	fds = vdev_test_count_fds();
	workers = vh_settled_workers(tasks0, &tasks, 500);
	ksft_test_result(!leaks && fds == fds0 && tasks == tasks0 && !workers,
			 "fds %d -> %d, threads %d -> %d after the last boot; %lu teardowns left something\n",
			 fds0, fds, tasks0, tasks, leaks);
	vh_net_teardown(&net);
	free(open_s);
	free(link_s);
	ksft_test_result(vdev_test_count_threads_named("vdev-") == 0,
			 "no vdev thread left at exit\n");
	ksft_print_msg("%.1f s in all\n", vh_now() - t0);
	alarm(0);
	ksft_finished();
}
