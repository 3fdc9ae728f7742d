// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-initiated device reset in the middle of traffic, then a full
 * re-probe, over and over (VDEV_RESET_CYCLES, default 1000).
 *
 * A host thread floods the guest with frames from the peer namespace for
 * the whole run. Each cycle the guest driver probes and initialises the
 * device, queues TX frames without waiting for them, waits (on interrupts)
 * until a frame arrives -- so the device works again after every reset --
 * and writes Status 0 while TX and RX are in flight. Status must read back
 * 0 at once and the queues must be gone (QueueReady, or PCI's
 * queue_enable, 0). Every SYNC_EVERY
 * cycles the host checks that no device worker thread is left (reset
 * joins them before the Status write returns) and that the process's fd
 * and thread counts have not moved.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "vnet_host.h"

#define DEFAULT_CYCLES	1000
#define SYNC_EVERY	50
#define TX_PER_CYCLE	8

enum {
	STAGE_READY = 1,
	STAGE_CYCLES,	/* GUEST_SYNC(STAGE_CYCLES + cycles done) */
};

static uint8_t peer_mac[ETH_ALEN];
static uint64_t nr_cycles;
static struct vg_net gnet;
static uint64_t rx_total, tx_total, bad_reset;

static void guest_code(void)
{
	uint64_t i;
	int ret;

	vg_irq_setup();
	GUEST_SYNC(STAGE_READY);
	for (i = 0; i < nr_cycles; i++) {
		ret = vg_net_init(&gnet, 1ULL << VIRTIO_NET_F_MAC, 0);
		GUEST_ASSERT_2(ret == 0, ret, i);
		vg_tx_frames(&gnet, peer_mac, i * TX_PER_CYCLE, TX_PER_CYCLE);
		vg_wait_rx(&gnet, 1);
		rx_total += gnet.rx_frames;
		tx_total += TX_PER_CYCLE;

		vg_write_status(0);
		if (vg_status())
			bad_reset++;
		vg_queue_select(VG_RX);
		if (vg_queue_ready())
			bad_reset++;
		vg_queue_select(VG_TX);
		if (vg_queue_ready())
			bad_reset++;
		if ((i + 1) % SYNC_EVERY == 0 || i + 1 == nr_cycles)
			GUEST_SYNC(STAGE_CYCLES + i + 1);
	}
	GUEST_DONE();
}

struct flood {
	struct vh_net *net;
	atomic_bool stop;
	uint64_t sent;
	uint64_t received;
};

/* The peer: a frame to the guest every 200 us, and count what comes back. */
static void *flood_fn(void *arg)
{
	struct flood *f = arg;
	struct timespec ts = { 0, 200000 };
	uint32_t seq = 0;

	while (!atomic_load(&f->stop)) {
		f->sent += vh_peer_send(f->net, seq++, 1);
		f->received += vh_peer_recv(f->net, 64, 0, NULL);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(void)
{
	const char *env = getenv("VDEV_RESET_CYCLES");
	int fds0 = 0, tasks0 = 0, fds, tasks, workers;
	unsigned int bad_checks = 0;
	uint64_t stage, done = 0;
	struct flood flood = { 0 };
	struct vh_net net;
	struct vh_vm h;
	pthread_t thr;
	double t0 = vh_now(), t;

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(4);
	nr_cycles = env ? strtoull(env, NULL, 0) : DEFAULT_CYCLES;
	TEST_ASSERT(nr_cycles > 0, "VDEV_RESET_CYCLES=%s", env);

	vh_deadline("set-up", 120);
	vh_setup(&net, &h, guest_code, peer_mac);
	sync_global_to_guest(h.vm, nr_cycles);
	vh_run_sync(&h, STAGE_READY);

	flood.net = &net;
	TEST_ASSERT(!pthread_create(&thr, NULL, flood_fn, &flood),
		    "flood thread");
	vdev_test_baseline(&fds0, &tasks0);

	/* Generous: about 10 ms a cycle was measured under nested TCG. */
	vh_deadline("reset cycles", 300 + nr_cycles / 2);
	t = vh_now();
	while (done < nr_cycles) {
		stage = STAGE_CYCLES + (done + SYNC_EVERY < nr_cycles ?
					done + SYNC_EVERY : nr_cycles);
		vh_run_sync(&h, stage);
		done = stage - STAGE_CYCLES;
		fds = vdev_test_count_fds();
		workers = vh_settled_workers(tasks0, &tasks, 500);
		if (fds != fds0 || tasks != tasks0 || workers ||
		    vdev_device_is_active(h.dev)) {
			ksft_print_msg("after %lu resets: fds %d (was %d), threads %d (was %d), vdev workers %d, active %d\n",
				       done, fds, fds0, tasks, tasks0, workers,
				       vdev_device_is_active(h.dev));
			bad_checks++;
			vh_print_threads();
		}
	}
	vh_run_done(&h);
	t = vh_now() - t;
	atomic_store(&flood.stop, true);
	pthread_join(thr, NULL);
	sync_global_from_guest(h.vm, rx_total);
	sync_global_from_guest(h.vm, tx_total);
	sync_global_from_guest(h.vm, bad_reset);
	sync_global_from_guest(h.vm, vg_irq);

	ksft_print_msg("%lu cycles in %.1f s (%.1f ms each); guest RX %lu, TX %lu frames; peer sent %lu, got %lu; %lu MMIO exits\n",
		       nr_cycles, t, t * 1000 / nr_cycles, rx_total, tx_total,
		       flood.sent, flood.received, h.mmio_exits);
	ksft_print_msg("guest interrupts %lu, timer wake-ups %lu, late device interrupts %lu, lost %lu\n",
		       vg_irq.irqs, vg_irq.timer, vg_irq.late, vg_irq.lost);
	ksft_test_result(done == nr_cycles && rx_total >= nr_cycles,
			 "%lu resets during traffic, each followed by a re-probe that received frames\n",
			 nr_cycles);
	ksft_test_result(!bad_reset,
			 "status and queue enable read 0 right after every reset (%lu bad)\n",
			 bad_reset);
	ksft_test_result(!bad_checks,
			 "no worker left after reset, fds %d and threads %d flat\n",
			 fds0, tasks0);
	ksft_test_result(flood.received > 0,
			 "guest TX reached the peer across resets (%lu frames)\n",
			 flood.received);
	vh_vm_destroy(&h);
	vh_net_teardown(&net);
	ksft_print_msg("%.1f s in all\n", vh_now() - t0);
	alarm(0);
	ksft_finished();
}
