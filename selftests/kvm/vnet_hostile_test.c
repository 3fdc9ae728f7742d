// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile guest: the driver writes malformed rings on purpose.
 *
 * For each case the guest first proves the device works (a frame reaches
 * the peer), then corrupts its transmit queue and kicks it:
 *
 *   loop           two descriptors chained to each other
 *   next-range     a chain whose next index is past the table
 *   outside-ram    a buffer at a guest-physical address outside guest RAM
 *   avail-jump     avail->idx more than the queue size ahead
 *   nested-indirect an indirect table whose entry is itself indirect
 *
 * The device must set DEVICE_NEEDS_RESET, raise a configuration
 * interrupt, and the guest must see NEEDS_RESET in Status; the host
 * process carries on (it is the one running this test). A reset and a
 * fresh driver init must then give a working device again.
 */
#include "vnet_host.h"

enum hostile_case {
	CASE_LOOP,
	CASE_NEXT_RANGE,
	CASE_OUTSIDE_RAM,
	CASE_AVAIL_JUMP,
	CASE_NESTED_INDIRECT,
	NR_CASES,
};

static const char *const case_names[NR_CASES] = {
	"descriptor loop",
	"next index out of range",
	"buffer outside guest RAM",
	"avail idx jump",
	"nested indirect table",
};

#define NR_TX		4
/* GUEST_SYNC values: per case, broken then recovered. */
#define STAGE_BROKEN(c)		(10 + 2 * (c))
#define STAGE_RECOVERED(c)	(11 + 2 * (c))

static uint8_t peer_mac[ETH_ALEN];
static struct vg_net gnet;
static uint32_t status_broken[NR_CASES];
static uint64_t config_irqs[NR_CASES];

/* Put @head on the driver ring, as vg_vq_add() does, without checks. */
static void publish(struct vg_vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vg_wmb();
	vq->avail_idx++;
	WRITE_ONCE(vq->avail->idx, vq->avail_idx);
}

static void corrupt(enum hostile_case c)
{
	struct vg_vq *tx = &gnet.vq[VG_TX];
	struct vring_desc *d = tx->desc;
	struct vring_desc *table = (struct vring_desc *)VG_SCRATCH;
	uint64_t buf = (uint64_t)tx->bufs;

	switch (c) {
	case CASE_LOOP:
		d[0] = (struct vring_desc){ buf, 64, VRING_DESC_F_NEXT, 1 };
		d[1] = (struct vring_desc){ buf + 64, 64, VRING_DESC_F_NEXT, 0 };
		publish(tx, 0);
		break;
	case CASE_NEXT_RANGE:
		d[0] = (struct vring_desc){ buf, 64, VRING_DESC_F_NEXT,
					    tx->num + 3 };
		publish(tx, 0);
		break;
	case CASE_OUTSIDE_RAM:
		d[0] = (struct vring_desc){ VG_BAD_GPA, 64, 0, 0 };
		publish(tx, 0);
		break;
	case CASE_AVAIL_JUMP:
		tx->avail_idx += tx->num + 1;
		WRITE_ONCE(tx->avail->idx, tx->avail_idx);
		break;
	case CASE_NESTED_INDIRECT:
		table[0] = (struct vring_desc){ VG_SCRATCH + 1024,
						2 * sizeof(*table),
						VRING_DESC_F_INDIRECT, 0 };
		d[0] = (struct vring_desc){ (uint64_t)table, sizeof(*table),
					    VRING_DESC_F_INDIRECT, 0 };
		publish(tx, 0);
		break;
	default:
		GUEST_ASSERT_1(0, c);
	}
	vg_vq_kick(tx);
}

static void guest_code(void)
{
	const uint64_t want = (1ULL << VIRTIO_NET_F_MAC) |
			      (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	uint64_t cfg0;
	int c, w, ret;

	vg_irq_setup();
	for (c = 0; c < NR_CASES; c++) {
		ret = vg_net_init(&gnet, want, 0);
		GUEST_ASSERT_2(ret == 0, ret, c);
		GUEST_ASSERT(gnet.features &
			     (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
		vg_tx_frames(&gnet, peer_mac, 0, 1);
		vg_wait_tx_idle(&gnet);

		cfg0 = vg_irq.config;
		corrupt(c);
		while (!(vg_status() & VIRTIO_CONFIG_S_NEEDS_RESET))
			vg_wait_irq();
		/*
		 * The device sets NEEDS_RESET before it raises the config
		 * interrupt, so Status can show it first: give the interrupt
		 * up to 250 waits (the 20 ms timer bounds each) to arrive.
		 */
		for (w = 0; w < 250 && vg_irq.config == cfg0; w++)
			vg_wait_irq();
		status_broken[c] = vg_status();
		config_irqs[c] = vg_irq.config - cfg0;
		GUEST_SYNC(STAGE_BROKEN(c));

		vg_reset();
		ret = vg_net_init(&gnet, want, 0);
		GUEST_ASSERT_2(ret == 0, ret, c);
		vg_tx_frames(&gnet, peer_mac, 100 * c, NR_TX);
		vg_wait_tx_idle(&gnet);
		GUEST_SYNC(STAGE_RECOVERED(c));
	}
	vg_reset();
	GUEST_DONE();
}

int main(void)
{
	struct vh_net net;
	struct vh_vm h;
	double t0 = vh_now();
	int c;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(NR_CASES + 1);
	vh_ring_init();
	TEST_ASSERT(vh_ring == VH_SPLIT,
		    "the hostile rings are split rings: no VDEV_KVM_RING=packed");
	vh_deadline("set-up", 120);
	vh_setup(&net, &h, guest_code, peer_mac);
	TEST_ASSERT(vh_wait_tap_up(3000) >= 0, VH_TAP " never came up");

	for (c = 0; c < NR_CASES; c++) {
		bool needs_reset, recovered;
		unsigned int got;

		vh_deadline(case_names[c], 60);
		vh_run_sync(&h, STAGE_BROKEN(c));
		needs_reset = vdev_device_needs_reset(h.dev);
		sync_global_from_guest(h.vm, status_broken);
		sync_global_from_guest(h.vm, config_irqs);
		vh_peer_drain(&net);

		vh_run_sync(&h, STAGE_RECOVERED(c));
		got = vh_peer_recv(&net, NR_TX, 2000, NULL);
		recovered = got == NR_TX && !vdev_device_needs_reset(h.dev) &&
			    vdev_device_is_active(h.dev);
		ksft_test_result(needs_reset &&
				 (status_broken[c] & VIRTIO_CONFIG_S_NEEDS_RESET) &&
				 config_irqs[c] > 0 && recovered,
				 "%s: NEEDS_RESET (Status 0x%x, %lu config interrupts), reset recovers (%u of %u frames)\n",
				 case_names[c], status_broken[c],
				 config_irqs[c], got, NR_TX);
	}
	vh_deadline("done", 60);
	vh_run_done(&h);
	vh_vm_destroy(&h);
	vh_net_teardown(&net);
	ksft_test_result(vdev_test_count_threads_named("vdev-") == 0,
			 "host process alive, every worker joined, %.2f s\n",
			 vh_now() - t0);
	alarm(0);
	ksft_finished();
}
