// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile guest: the driver writes malformed rings on purpose.
 *
 * For each case the guest first proves the device works (a frame reaches
 * the peer), then corrupts its transmit queue and kicks it. With the
 * split ring (selftests/kvm/[pci/]vnet_hostile_test):
 *
 *   loop            two descriptors chained to each other
 *   next-range      a chain whose next index is past the table
 *   avail-jump      avail->idx more than the queue size ahead
 *
 * with the packed ring (selftests/kvm/[pci/]packed/vnet_hostile_test,
 * built with -DVH_RING_PACKED, or VDEV_KVM_RING=packed):
 *
 *   loop            every descriptor of the ring with NEXT, each with the
 *                   AVAIL/USED bits of its lap: a chain longer than the
 *                   queue
 *   used-bit        a head whose USED bit equals the wrap counter, as
 *                   AVAIL does (the device's own used marking)
 *   chain-not-avail a chain whose second descriptor is not available
 *   indirect-chain  an indirect descriptor inside a chain (after NEXT)
 *   next-lap        a head available only on the next lap (AVAIL !=
 *                   the wrap counter): not a malformed ring but "not
 *                   available" (VIRTIO 1.2, 2.8.1), so the device must
 *                   not consume it, and must stay healthy; once the
 *                   guest sets the bits of this lap, the frame goes out
 *
 * and with either:
 *
 *   outside-ram     a buffer at a guest-physical address outside guest RAM
 *   nested-indirect an indirect table whose entry is itself indirect
 *   indirect-next   an indirect descriptor with NEXT
 *   indirect-len    an indirect table of 24 bytes (not a multiple of 16)
 *
 * Except for next-lap, the device must set DEVICE_NEEDS_RESET with the
 * message of the check that the case is about (captured with
 * vdev_log_set_handler()), raise a configuration interrupt, and the guest
 * must see NEEDS_RESET in Status; the host process carries on (it is the
 * one running this test). A reset and a fresh driver init must then give
 * a working device again.
 */
#include <pthread.h>

#include "vnet_host.h"

enum hostile_case {
	CASE_LOOP,
	CASE_NEXT_RANGE,
	CASE_OUTSIDE_RAM,
	CASE_AVAIL_JUMP,
	CASE_NESTED_INDIRECT,
	CASE_INDIRECT_NEXT,
	CASE_INDIRECT_LEN,
	CASE_USED_BIT,
	CASE_CHAIN_NOT_AVAIL,
	CASE_INDIRECT_CHAIN,
	CASE_NEXT_LAP,
	NR_CASES,
};

#define STR(x)		#x
#define XSTR(x)		STR(x)

/**
 * struct hostile - one case, per ring format (VG_SPLIT, VG_PACKED)
 * @name: what the guest writes; NULL: the case does not run on that ring
 * @expect: a part of the NEEDS_RESET message the device must give; NULL:
 *          the device must not set NEEDS_RESET at all
 */
struct hostile {
	const char *name[2];
	const char *expect[2];
};

static const struct hostile cases[NR_CASES] = {
	[CASE_LOOP] = {
		{ "descriptor loop",
		  "chain longer than the queue (NEXT all the way round)" },
		{ "longer than " XSTR(VG_QMAX) " descriptors (loop?)",
		  "longer than " XSTR(VG_QMAX) " descriptors" },
	},
	[CASE_NEXT_RANGE] = {
		{ "next index out of range", NULL },
		{ "out of range " XSTR(VG_QMAX), NULL },
	},
	[CASE_OUTSIDE_RAM] = {
		{ "buffer outside guest RAM", "buffer outside guest RAM" },
		{ "buffer 0x80000000+64 outside guest memory",
		  "buffer 0x80000000+64 outside guest memory" },
	},
	[CASE_AVAIL_JUMP] = {
		{ "avail idx jump", NULL },
		{ "avail idx", NULL },
	},
	[CASE_NESTED_INDIRECT] = {
		{ "nested indirect table", "nested indirect table" },
		{ "nested indirect descriptor", "nested indirect descriptor" },
	},
	[CASE_INDIRECT_NEXT] = {
		{ "indirect descriptor with NEXT",
		  "indirect descriptor with NEXT" },
		{ "indirect descriptor with NEXT",
		  "indirect descriptor with NEXT" },
	},
	[CASE_INDIRECT_LEN] = {
		{ "indirect table of 24 bytes", "indirect table of 24 bytes" },
		{ "indirect table length 24", "indirect table length 24" },
	},
	[CASE_USED_BIT] = {
		{ NULL, "AVAIL and USED both equal to the wrap counter" },
		{ NULL, "disagree with wrap counter" },
	},
	[CASE_CHAIN_NOT_AVAIL] = {
		{ NULL, "second descriptor of a chain not available" },
		{ NULL, "of the chain at" },
	},
	[CASE_INDIRECT_CHAIN] = {
		{ NULL, "indirect descriptor inside a chain" },
		{ NULL, "indirect descriptor inside a chain" },
	},
	[CASE_NEXT_LAP] = {
		{ NULL, "head available only on the next lap" },
		{ NULL, NULL },
	},
};

_Static_assert(VG_BAD_GPA == 0x80000000ULL, "the outside-ram message");

#define NR_TX		4
/* GUEST_SYNC values: per case, broken then recovered. */
#define STAGE_BROKEN(c)		(10 + 2 * (c))
#define STAGE_RECOVERED(c)	(11 + 2 * (c))
/* next-lap: the sequence number of the frame the device must hold back. */
#define SEQ_WITHHELD		0x4c4150	/* "LAP" */
/* next-lap: APIC timer wake-ups (VG_WAKE_TICKS each) the device gets. */
#define WITHHELD_WAITS		25

static uint8_t peer_mac[ETH_ALEN];
static struct vg_net gnet;
static uint32_t status_broken[NR_CASES];
static uint64_t config_irqs[NR_CASES];
/* next-lap: the device marked the withheld descriptor used. */
static bool withheld_used[NR_CASES];

/* Put @head on the driver ring, as vg_vq_add() does, without checks. */
static void publish(struct vg_vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vg_wmb();
	vq->avail_idx++;
	WRITE_ONCE(vq->avail->idx, vq->avail_idx);
}

static void corrupt_split(enum hostile_case c)
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
	case CASE_INDIRECT_NEXT:
		table[0] = (struct vring_desc){ buf, 64, 0, 0 };
		d[0] = (struct vring_desc){ (uint64_t)table, sizeof(*table),
					    VRING_DESC_F_INDIRECT |
					    VRING_DESC_F_NEXT, 1 };
		d[1] = (struct vring_desc){ buf + 64, 64, 0, 0 };
		publish(tx, 0);
		break;
	case CASE_INDIRECT_LEN:
		table[0] = (struct vring_desc){ buf, 64, 0, 0 };
		table[1] = (struct vring_desc){ buf + 64, 64, 0, 0 };
		d[0] = (struct vring_desc){ (uint64_t)table, 24,
					    VRING_DESC_F_INDIRECT, 0 };
		publish(tx, 0);
		break;
	default:
		GUEST_ASSERT_1(0, c);
	}
}

/*
 * Packed: write at the driver's next slot (@p, on the lap whose
 * AVAIL/USED bits are @on), the head's flags last, as vg_packed_add()
 * does. An indirect table holds packed descriptors (2.8.8).
 */
static void corrupt_packed(enum hostile_case c)
{
	struct vg_vq *tx = &gnet.vq[VG_TX];
	struct vring_packed_desc *table = (void *)VG_SCRATCH;
	uint64_t buf = (uint64_t)tx->bufs;
	uint16_t p = tx->avail_idx, on = tx->avail_used_flags;
	const uint16_t both = 1 << VRING_PACKED_DESC_F_AVAIL |
			      1 << VRING_PACKED_DESC_F_USED;
	unsigned int i;

	switch (c) {
	case CASE_LOOP:
		/* Slots p+1 .. p+num-1, past the end on the next lap. */
		for (i = 1; i < tx->num; i++)
			vg_packed_put(tx, p + i, buf + 64 * i, 64, 0,
				      vg_packed_lap_flags(p + i < tx->num ?
							  tx->avail_wrap :
							  !tx->avail_wrap) |
				      VRING_DESC_F_NEXT);
		vg_packed_put(tx, p, buf, 64, 0, on | VRING_DESC_F_NEXT);
		break;
	case CASE_OUTSIDE_RAM:
		vg_packed_put(tx, p, VG_BAD_GPA, 64, 0, on);
		break;
	case CASE_NESTED_INDIRECT:
		table[0] = (struct vring_packed_desc){ VG_SCRATCH + 1024,
						       2 * sizeof(*table), 0,
						       VRING_DESC_F_INDIRECT };
		vg_packed_put(tx, p, (uint64_t)table, sizeof(*table), 0,
			      on | VRING_DESC_F_INDIRECT);
		break;
	case CASE_INDIRECT_NEXT:
		table[0] = (struct vring_packed_desc){ buf, 64, 0, 0 };
		vg_packed_put(tx, p + 1, buf + 64, 64, 0, on);
		vg_packed_put(tx, p, (uint64_t)table, sizeof(*table), 0,
			      on | VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT);
		break;
	case CASE_INDIRECT_LEN:
		table[0] = (struct vring_packed_desc){ buf, 64, 0, 0 };
		table[1] = (struct vring_packed_desc){ buf + 64, 64, 0, 0 };
		vg_packed_put(tx, p, (uint64_t)table, 24, 0,
			      on | VRING_DESC_F_INDIRECT);
		break;
	case CASE_USED_BIT:
		/* AVAIL == USED == wrap: what the device writes when used. */
		vg_packed_put(tx, p, buf, 64, 0, tx->avail_wrap ? both : 0);
		break;
	case CASE_CHAIN_NOT_AVAIL:
		/* The second descriptor keeps the bits of the last lap. */
		vg_packed_put(tx, p + 1, buf + 64, 64, 0,
			      vg_packed_lap_flags(!tx->avail_wrap));
		vg_packed_put(tx, p, buf, 64, 0, on | VRING_DESC_F_NEXT);
		break;
	case CASE_INDIRECT_CHAIN:
		table[0] = (struct vring_packed_desc){ buf + 64, 64, 0, 0 };
		vg_packed_put(tx, p + 1, (uint64_t)table, sizeof(*table), 0,
			      on | VRING_DESC_F_INDIRECT);
		vg_packed_put(tx, p, buf, 64, 0, on | VRING_DESC_F_NEXT);
		break;
	default:
		GUEST_ASSERT_1(0, c);
	}
}

/*
 * next-lap: a good frame in one descriptor at the driver's next slot,
 * but with the AVAIL/USED bits of the next lap: not available yet. After
 * a kick and WITHHELD_WAITS timer wake-ups the slot must not have been
 * used; then the guest gives it this lap's bits, kicks, and the device
 * must send it and hand it back. Records Status and config interrupts
 * as of the withheld period; when the device took the descriptor or set
 * NEEDS_RESET the case has failed, and the guest goes on to the reset.
 */
static void withhold(enum hostile_case c)
{
	struct vg_vq *tx = &gnet.vq[VG_TX];
	uint16_t p = tx->avail_idx, id = tx->free[--tx->nr_free];
	uint16_t on = tx->avail_used_flags;
	uint32_t len = vg_tx_fill(&gnet, id, peer_mac, SEQ_WITHHELD);
	uint64_t buf = (uint64_t)tx->bufs + (uint64_t)id * VG_BUF_SIZE;
	uint64_t cfg0 = vg_irq.config, t0;
	unsigned int w;

	vg_packed_put(tx, p, buf, len, id,
		      vg_packed_lap_flags(!tx->avail_wrap));
	vg_vq_kick(tx);
	t0 = vg_irq.timer;
	for (w = 0; w < 10 * WITHHELD_WAITS &&
	     vg_irq.timer - t0 < WITHHELD_WAITS; w++)
		vg_wait_irq();
	withheld_used[c] = vg_packed_more_used(tx);
	status_broken[c] = vg_status();
	config_irqs[c] = vg_irq.config - cfg0;
	/* Taken, or taken as malformed: the case has failed, go on. */
	if (withheld_used[c] || (status_broken[c] & VIRTIO_CONFIG_S_NEEDS_RESET))
		return;

	tx->id_descs[id] = 1;
	vg_packed_advance(tx, 1);
	vg_packed_put(tx, p, buf, len, id, on);
	vg_vq_kick(tx);
	vg_wait_tx_idle(&gnet);
}

static void guest_code(void)
{
	const uint64_t want = (1ULL << VIRTIO_NET_F_MAC) |
			      (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	uint64_t cfg0, t0;
	int c, w, ret;

	vg_irq_setup();
	for (c = 0; c < NR_CASES; c++) {
		if (!cases[c].name[vg_ring])
			continue;
		ret = vg_net_init(&gnet, want, 0);
		GUEST_ASSERT_2(ret == 0, ret, c);
		GUEST_ASSERT(gnet.features &
			     (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
		vg_tx_frames(&gnet, peer_mac, 0, 1);
		vg_wait_tx_idle(&gnet);

		if (!cases[c].expect[vg_ring]) {
			withhold(c);
			GUEST_SYNC(STAGE_BROKEN(c));
			goto recover;
		}
		cfg0 = vg_irq.config;
		if (vg_ring == VG_PACKED)
			corrupt_packed(c);
		else
			corrupt_split(c);
		vg_vq_kick(&gnet.vq[VG_TX]);
		/*
		 * Up to 250 timer wake-ups (5 s) for NEEDS_RESET: a device
		 * that took the ring as good fails this case, not the run.
		 */
		t0 = vg_irq.timer;
		for (w = 0; w < 2500 && vg_irq.timer - t0 < 250 &&
		     !(vg_status() & VIRTIO_CONFIG_S_NEEDS_RESET); w++)
			vg_wait_irq();
		/*
		 * The device sets NEEDS_RESET before it raises the config
		 * interrupt, so Status can show it first: give the interrupt
		 * up to 250 waits (the 20 ms timer bounds each) to arrive.
		 */
		for (w = 0; w < 250 && vg_irq.config == cfg0 &&
		     (vg_status() & VIRTIO_CONFIG_S_NEEDS_RESET); w++)
			vg_wait_irq();
		status_broken[c] = vg_status();
		config_irqs[c] = vg_irq.config - cfg0;
		GUEST_SYNC(STAGE_BROKEN(c));
recover:
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

/*
 * The first NEEDS_RESET message since the last hostile_log_take(), from
 * whichever device worker set it; every message also goes to stderr. The
 * device's limiter lets 10 messages through in 5 s, more than the cases
 * of one ring produce in a run (one each), so none is suppressed.
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char reset_msg[256];

static void hostile_log(enum vdev_log_level level, const char *msg)
{
	pthread_mutex_lock(&log_lock);
	if (strstr(msg, "device needs reset") && !reset_msg[0])
		snprintf(reset_msg, sizeof(reset_msg), "%s", msg);
	pthread_mutex_unlock(&log_lock);
	fprintf(stderr, "vdev: %s\n", msg);
}

static void hostile_log_take(char *buf, size_t size)
{
	pthread_mutex_lock(&log_lock);
	snprintf(buf, size, "%s", reset_msg[0] ? reset_msg : "(none)");
	reset_msg[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

/* A case that must end in NEEDS_RESET, with its message. */
static bool check_broken(struct vh_vm *h, enum hostile_case c,
			 const char *msg)
{
	return vdev_device_needs_reset(h->dev) &&
	       (status_broken[c] & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       config_irqs[c] > 0 && strstr(msg, cases[c].expect[vh_ring]);
}

/*
 * next-lap: no NEEDS_RESET (device, Status, message), no config
 * interrupt, the slot not used while withheld, and the frame sent once
 * made available (the first frame of the case, then this one).
 */
static bool check_withheld(struct vh_vm *h, struct vh_net *net,
			   enum hostile_case c, const char *msg)
{
	uint32_t seq = 0;
	unsigned int got = vh_peer_recv(net, 2, 2000, &seq);

	ksft_print_msg("%s: used while withheld %d, Status 0x%x, %lu config interrupts, %u frames, last seq 0x%x\n",
		       cases[c].name[vh_ring], withheld_used[c],
		       status_broken[c], config_irqs[c], got, seq);
	return !vdev_device_needs_reset(h->dev) &&
	       !(status_broken[c] & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       !config_irqs[c] && !withheld_used[c] && !strcmp(msg, "(none)") &&
	       got == 2 && seq == SEQ_WITHHELD;
}

int main(void)
{
	struct vh_net net;
	struct vh_vm h;
	double t0 = vh_now();
	int c, nr = 0;

	setbuf(stdout, NULL);
	ksft_print_header();
	vh_ring_init();
	for (c = 0; c < NR_CASES; c++)
		nr += !!cases[c].name[vh_ring];
	ksft_set_plan(nr + 1);
	vdev_log_set_handler(hostile_log);
	vh_deadline("set-up", 120);
	vh_setup(&net, &h, guest_code, peer_mac);
	TEST_ASSERT(vh_wait_tap_up(3000) >= 0, VH_TAP " never came up");

	for (c = 0; c < NR_CASES; c++) {
		const char *name = cases[c].name[vh_ring];
		bool broken, recovered;
		char msg[256];
		unsigned int got;

		if (!name)
			continue;
		vh_deadline(name, 60);
		vh_run_sync(&h, STAGE_BROKEN(c));
		sync_global_from_guest(h.vm, status_broken);
		sync_global_from_guest(h.vm, config_irqs);
		sync_global_from_guest(h.vm, withheld_used);
		hostile_log_take(msg, sizeof(msg));
		if (cases[c].expect[vh_ring])
			broken = check_broken(&h, c, msg);
		else
			broken = check_withheld(&h, &net, c, msg);
		vh_peer_drain(&net);

		vh_run_sync(&h, STAGE_RECOVERED(c));
		got = vh_peer_recv(&net, NR_TX, 2000, NULL);
		recovered = got == NR_TX && !vdev_device_needs_reset(h.dev) &&
			    vdev_device_is_active(h.dev);
		if (cases[c].expect[vh_ring])
			ksft_test_result(broken && recovered,
					 "%s: want NEEDS_RESET with \"%s\": Status 0x%x, %lu config interrupts, \"%s\"; reset recovers (%u of %u frames)\n",
					 name, cases[c].expect[vh_ring],
					 status_broken[c], config_irqs[c], msg,
					 got, NR_TX);
		else
			ksft_test_result(broken && recovered,
					 "%s: want it not consumed, no NEEDS_RESET, sent once available: Status 0x%x, message %s; reset recovers (%u of %u frames)\n",
					 name, status_broken[c], msg, got,
					 NR_TX);
	}
	vh_deadline("done", 60);
	vh_run_done(&h);
	vh_vm_destroy(&h);
	vh_net_teardown(&net);
	vdev_log_set_handler(NULL);
	ksft_test_result(vdev_test_count_threads_named("vdev-") == 0,
			 "%s ring: host process alive, every worker joined, %.2f s\n",
			 vh_ring_name(), vh_now() - t0);
	alarm(0);
	ksft_finished();
}
