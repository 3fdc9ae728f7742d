// SPDX-License-Identifier: GPL-2.0
/*
 * vdev-demo - what vdev is for, in one run ('make run').
 *
 * A KVM VM (the kernel's KVM selftest library) runs a small virtio-net
 * driver (selftests/kvm/virtio_guest.h) against vdev's virtio-net device
 * behind its virtio-mmio transport: register accesses exit to
 * vdev_mmio_read/write(), queue notifications go through KVM_IOEVENTFD,
 * interrupts through KVM_IRQFD and the in-kernel IOAPIC. The device's
 * backend is a persistent TAP on a bridge, with a veth to a peer in its
 * own network namespace, set up with <vdev/netlink.h> and, for what is
 * no part of libvdev (the bridge and the veth made, the peer moved to
 * its namespace), the selftests' netlink helpers: this program links the
 * selftests' helper library, libvdev-test.a (selftests/lib/nl_helpers.h),
 * as well as libvdev.
 *
 * The demo boots the VM, exchanges frames with the peer, then reboots it
 * VDEV_DEMO_REBOOTS times (default 20) the way a VMM does -- VM and device
 * destroyed, then created again on the same TAP -- with traffic every
 * boot, and prints a table: frames each way, how long reopening the TAP
 * took, whether it was ever busy (EBUSY, cloud-hypervisor issue 4868), and
 * the process's fds and threads before and after.
 *
 * Needs root and a usable /dev/kvm; 'make run' gets one through
 * scripts/vmtest when the host has none. Exit status 0 when every frame
 * arrived, EBUSY never happened and nothing leaked.
 */
#include <pthread.h>

#include "vnet_host.h"

#define DEFAULT_REBOOTS	20
#define NR_FRAMES	50
#define EBUSY_RETRY_MS	2000

enum {
	STAGE_UP = 1,
	STAGE_TX_DONE,
	STAGE_RX_DONE,
};

static uint8_t peer_mac[ETH_ALEN];
static struct vg_net gnet;

static void guest_code(void)
{
	int ret;

	vg_irq_setup();
	ret = vg_net_init(&gnet, 1ULL << VIRTIO_NET_F_MAC, VG_F_CTRL);
	GUEST_ASSERT_1(ret == 0, ret);
	GUEST_SYNC(STAGE_UP);
	vg_tx_frames(&gnet, peer_mac, 0, NR_FRAMES);
	vg_wait_tx_idle(&gnet);
	GUEST_SYNC(STAGE_TX_DONE);
	vg_wait_rx(&gnet, NR_FRAMES);
	GUEST_SYNC(STAGE_RX_DONE);
	GUEST_DONE();
}

/**
 * struct demo_stats - what the table shows
 * @boots: boots completed
 * @tx_sent: frames the guest sent
 * @tx_got: of those, frames the peer received
 * @rx_sent: frames the peer sent
 * @rx_got: of those, frames the guest received
 * @irqs: interrupts the guest took
 * @ebusy: TAP reopens that failed with EBUSY (retried)
 * @reopen_ms: vdev_net_create() time of each reboot
 */
struct demo_stats {
	unsigned int boots;
	unsigned long tx_sent, tx_got, rx_sent, rx_got, irqs;
	unsigned int ebusy;
	double reopen_ms[1024];
};

/* Reopen the TAP for a new boot; EBUSY is counted and retried. */
static void demo_attach(struct vh_vm *h, struct demo_stats *st, double *ms)
{
	double t0 = vh_now(), open_s;
	int ret;

	for (;;) {
		ret = vh_dev_attach(h, &open_s);
		if (ret != -EBUSY)
			break;
		st->ebusy++;
		TEST_ASSERT((vh_now() - t0) * 1000 < EBUSY_RETRY_MS,
			    "%s still busy after %d ms", VH_TAP,
			    EBUSY_RETRY_MS);
		usleep(1000);
	}
	TEST_ASSERT(!ret, "vdev_net_create(%s): %s", VH_TAP, strerror(-ret));
	if (ms)
		*ms = (vh_now() - t0) * 1000;
}

static void demo_boot(struct vh_net *net, struct demo_stats *st, double *ms)
{
	unsigned int seq = st->boots * NR_FRAMES;
	struct vh_vm h;

	vh_vm_create_peer(&h, guest_code, net, peer_mac);
	demo_attach(&h, st, ms);

	vh_run_sync(&h, STAGE_UP);
	TEST_ASSERT(vh_wait_tap_up(3000) >= 0, "%s did not come up", VH_TAP);
	vh_run_sync(&h, STAGE_TX_DONE);
	st->tx_sent += NR_FRAMES;
	st->tx_got += vh_peer_recv(net, NR_FRAMES, 2000, NULL);
	st->rx_sent += vh_peer_send(net, seq, NR_FRAMES);
	vh_run_sync(&h, STAGE_RX_DONE);
	sync_global_from_guest(h.vm, gnet);
	sync_global_from_guest(h.vm, vg_irq);
	st->rx_got += gnet.rx_frames;
	st->irqs += vg_irq.irqs;
	vh_run_done(&h);
	vh_vm_destroy(&h);
	st->boots++;
}

static void row(const char *what, const char *fmt, ...)
{
	char val[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	printf("| %-30s | %-32s |\n", what, val);
}

int main(void)
{
	const char *env = getenv("VDEV_DEMO_REBOOTS");
	int fds0, tasks0, fds1, tasks1, workers;
	static struct demo_stats st;
	unsigned int reboots, i;
	struct vh_net net;
	double t0 = vh_now(), t;
	bool ok;

	setbuf(stdout, NULL);
	/* Our comm would be "vdev-demo": keep "vdev-" for device threads. */
	pthread_setname_np(pthread_self(), "demo");
	reboots = env ? strtoul(env, NULL, 0) : DEFAULT_REBOOTS;
	if (reboots > ARRAY_SIZE(st.reopen_ms)) {
		fprintf(stderr, "VDEV_DEMO_REBOOTS: at most %zu\n",
			ARRAY_SIZE(st.reopen_ms));
		return 2;
	}
	vh_deadline("set-up", 120);
	vh_net_setup(&net);
	printf("vdev-demo: TAP %s + veth %s on bridge %s; peer %s in its own netns\n",
	       VH_TAP, VH_VETH, VH_BRIDGE, VH_VETH_PEER);
	fds0 = vdev_test_count_fds();
	tasks0 = vdev_test_count_tasks();

	vh_deadline("first boot", 120);
	t = vh_now();
	demo_boot(&net, &st, NULL);
	printf("vdev-demo: boot 0: %lu frames out, %lu in, %.0f ms\n",
	       st.tx_got, st.rx_got, (vh_now() - t) * 1000);

	for (i = 0; i < reboots; i++) {
		static char phase[32];

		snprintf(phase, sizeof(phase), "reboot %u", i + 1);
		vh_deadline(phase, 120);
		t = vh_now();
		demo_boot(&net, &st, &st.reopen_ms[i]);
		printf("vdev-demo: reboot %u: TAP reopened in %.2f ms, boot %.0f ms\n",
		       i + 1, st.reopen_ms[i], (vh_now() - t) * 1000);
	}
	vh_deadline("teardown", 60);
	fds1 = vdev_test_count_fds();
	workers = vh_settled_workers(tasks0, &tasks1, 500);
	vh_net_teardown(&net);

	qsort(st.reopen_ms, reboots, sizeof(double), vh_cmp_double);
	printf("\n+--------------------------------+----------------------------------+\n");
	row("VM reboots", "%u (%u boots)", reboots, st.boots);
	row("frames guest -> peer", "%lu of %lu", st.tx_got, st.tx_sent);
	row("frames peer -> guest", "%lu of %lu", st.rx_got, st.rx_sent);
	row("guest interrupts", "%lu", st.irqs);
	if (reboots)
		row("TAP reopen min / median / max", "%.2f / %.2f / %.2f ms",
		    st.reopen_ms[0], st.reopen_ms[reboots / 2],
		    st.reopen_ms[reboots - 1]);
	row("EBUSY seen", "%u", st.ebusy);
	row("fds before / after", "%d / %d", fds0, fds1);
	row("threads before / after", "%d / %d (vdev: %d)", tasks0, tasks1,
	    workers);
	row("time", "%.1f s", vh_now() - t0);
	printf("+--------------------------------+----------------------------------+\n");

	ok = st.tx_got == st.tx_sent && st.rx_got >= st.rx_sent &&
	     !st.ebusy && fds0 == fds1 && tasks0 == tasks1 && !workers;
	printf("vdev-demo: %s\n", ok ? "PASS" : "FAIL");
	alarm(0);
	return ok ? 0 : 1;
}
