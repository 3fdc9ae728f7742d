// SPDX-License-Identifier: GPL-2.0
/*
 * Frames both ways between a KVM guest's virtio-net driver and a peer in
 * another network namespace, through vdev's virtio-net device, its TAP and
 * a bridge.
 *
 * TX: the guest sends NR_TX frames to the peer's MAC; the peer's AF_PACKET
 * socket must see all of them, in order. RX: the peer sends NR_RX frames
 * to the guest's MAC; the guest sleeps in HLT between interrupts, so every
 * frame it counts was signalled by the device's irqfd through the IOAPIC
 * (mmio) or an MSI route (PCI, MSI-X) to its interrupt handler. Queue
 * notifications must all go through the ioeventfds: no QueueNotify or
 * notify-address write may reach the host as an MMIO exit.
 *
 * The guest driver uses the split ring, or the packed ring when built
 * with -DVH_RING_PACKED (selftests/kvm/[pci/]packed/vnet_traffic_test)
 * or run with VDEV_KVM_RING=packed; the device must have negotiated that
 * format.
 */
#include "vnet_host.h"

#define NR_TX		200
#define NR_RX		200
#define RX_SEQ		1000

enum {
	STAGE_READY = 1,
	STAGE_TX_DONE,
	STAGE_RX_DONE,
};

static uint8_t peer_mac[ETH_ALEN];
static struct vg_net gnet;
static uint64_t waits;

static void guest_code(void)
{
	int ret;

	vg_irq_setup();
	ret = vg_net_init(&gnet, 1ULL << VIRTIO_NET_F_MAC, 0);
	GUEST_ASSERT_1(ret == 0, ret);
	GUEST_SYNC(STAGE_READY);

	vg_tx_frames(&gnet, peer_mac, 0, NR_TX);
	vg_wait_tx_idle(&gnet);
	GUEST_SYNC(STAGE_TX_DONE);

	while (gnet.rx_frames < NR_RX) {
		vg_rx_poll(&gnet);
		if (gnet.rx_frames < NR_RX) {
			vg_vq_wait(&gnet.vq[VG_RX]);
			waits++;
		}
	}
	GUEST_SYNC(STAGE_RX_DONE);
	GUEST_DONE();
}

int main(void)
{
	unsigned int got, sent;
	uint32_t last_seq = 0;
	struct vh_net net;
	struct vh_vm h;
	double t0 = vh_now(), t;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(4);
	vh_deadline("set-up", 120);
	vh_setup(&net, &h, guest_code, peer_mac);

	vh_deadline("driver init", 60);
	vh_run_sync(&h, STAGE_READY);
	ksft_test_result(vdev_device_is_active(h.dev) &&
			 vh_ring_negotiated(h.dev),
			 "guest driver up with interrupts (%s, vector 0x%x), %s ring\n",
			 vh_transport == VH_PCI ? "MSI-X through irqfd" :
			 "IOAPIC pin 20", VG_IRQ_VECTOR, vh_ring_name());

	vh_deadline("guest TX", 120);
	t = vh_now();
	vh_run_sync(&h, STAGE_TX_DONE);
	got = vh_peer_recv(&net, NR_TX, 2000, &last_seq);
	ksft_test_result(got == NR_TX && last_seq == NR_TX - 1,
			 "guest TX: %u of %u frames reached the peer (last seq %u), %.3f s\n",
			 got, NR_TX, last_seq, vh_now() - t);

	vh_deadline("guest RX", 120);
	t = vh_now();
	sent = vh_peer_send(&net, RX_SEQ, NR_RX);
	TEST_ASSERT(sent == NR_RX, "peer sent %u of %u frames", sent, NR_RX);
	vh_run_sync(&h, STAGE_RX_DONE);
	sync_global_from_guest(h.vm, gnet);
	sync_global_from_guest(h.vm, vg_irq);
	sync_global_from_guest(h.vm, waits);
	ksft_print_msg("interrupts %lu (vring %lu, config %lu, spurious %lu), waits %lu, timer wake-ups %lu (late interrupts %lu, lost %lu), other frames %lu\n",
		       vg_irq.irqs, vg_irq.vring, vg_irq.config,
		       vg_irq.spurious, waits, vg_irq.timer, vg_irq.late,
		       vg_irq.lost, gnet.rx_other);
	ksft_print_msg("kicks: RX %lu (%lu suppressed by the device), TX %lu (%lu suppressed)\n",
		       gnet.vq[VG_RX].kicks, gnet.vq[VG_RX].kicks_suppressed,
		       gnet.vq[VG_TX].kicks, gnet.vq[VG_TX].kicks_suppressed);
	ksft_test_result(gnet.rx_frames == NR_RX &&
			 gnet.rx_last_seq == RX_SEQ + NR_RX - 1 &&
			 vg_irq.vring > 0 && waits > 0 && !vg_irq.lost,
			 "peer TX: guest got %lu of %u frames (last seq %u) on %lu interrupts, %lu lost, %.3f s\n",
			 gnet.rx_frames, NR_RX, gnet.rx_last_seq, vg_irq.irqs,
			 vg_irq.lost, vh_now() - t);

	vh_run_done(&h);
	ksft_test_result(h.notify_exits == 0,
			 "queue notifications through KVM_IOEVENTFD: %lu of %lu MMIO exits were notifications\n",
			 h.notify_exits, h.mmio_exits);
	vh_vm_destroy(&h);
	vh_net_teardown(&net);
	ksft_print_msg("%.2f s in all\n", vh_now() - t0);
	alarm(0);
	ksft_finished();
}
