// SPDX-License-Identifier: GPL-2.0
/*
 * Probe and feature negotiation, from a real KVM guest, over virtio-mmio
 * or virtio-pci (vnet_host.h, "transport").
 *
 * The guest driver (virtio_guest.h) finds the device (mmio: magic,
 * version, device id; PCI: the function on bus 0 through 0xCF8/0xCFC,
 * its BAR and capabilities), reads the vendor and the device features, then asks for a feature the device did not
 * offer: FEATURES_OK must read back clear (VIRTIO 1.2, 3.1.1 step 6). After
 * a reset, a valid subset is accepted, the MAC in config space is the one
 * the host configured, queue sizes are those of the device, and DRIVER_OK
 * activates the device on the host; a Status write of 0 deactivates it.
 */
#include "vnet_host.h"

enum {
	STAGE_IDENT = 1,
	STAGE_REJECTED,
	STAGE_ACCEPTED,
	STAGE_DRIVER_OK,
	STAGE_RESET,
};

/**
 * struct probe_result - what the guest read, for the host to check
 * @probe: vg_probe() result (0: the device was found and is virtio-net)
 * @vendor: VendorID (mmio) or the PCI vendor ID
 * @features: DeviceFeatures, both halves
 * @bad_bit: the feature bit the guest asked for without an offer
 * @status_rejected: Status after FEATURES_OK with @bad_bit
 * @status_accepted: Status after FEATURES_OK with a valid subset
 * @mac: config space MAC
 * @qmax: QueueNumMax (mmio) or queue_size (PCI) of queues 0..3
 * @gen: ConfigGeneration / config_generation, read twice
 * @init: vg_net_init() result
 * @status_ok: Status after DRIVER_OK
 * @status_reset: Status after the reset
 */
struct probe_result {
	int probe;
	uint32_t vendor;
	uint64_t features;
	int bad_bit;
	uint32_t status_rejected;
	uint32_t status_accepted;
	uint8_t mac[ETH_ALEN];
	uint32_t qmax[4];
	uint32_t gen[2];
	int init;
	uint32_t status_ok;
	uint32_t status_reset;
};

static struct probe_result res;
static struct vg_net gnet;

static void guest_code(void)
{
	uint64_t want;
	int bit, q;

	res.probe = vg_probe();
	res.vendor = vg_vendor();
	res.features = vg_device_features();
	for (q = 0; q < 4; q++) {
		vg_queue_select(q);
		res.qmax[q] = vg_queue_max();
	}
	res.gen[0] = vg_config_generation();
	vg_read_mac(res.mac);
	res.gen[1] = vg_config_generation();
	GUEST_SYNC(STAGE_IDENT);

	/* The lowest feature bit the device does not offer. */
	res.bad_bit = -1;
	for (bit = 0; bit < 64; bit++)
		if (!(res.features & (1ULL << bit))) {
			res.bad_bit = bit;
			break;
		}
	GUEST_ASSERT(res.bad_bit >= 0);
	want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC);
	vg_negotiate(want | (1ULL << res.bad_bit));
	res.status_rejected = vg_status();
	GUEST_SYNC(STAGE_REJECTED);

	vg_negotiate(want & res.features);
	res.status_accepted = vg_status();
	GUEST_SYNC(STAGE_ACCEPTED);

	res.init = vg_net_init(&gnet, want, VG_F_POLL);
	res.status_ok = vg_status();
	GUEST_SYNC(STAGE_DRIVER_OK);

	vg_reset();
	res.status_reset = vg_status();
	GUEST_SYNC(STAGE_RESET);
	GUEST_DONE();
}

int main(void)
{
	const uint32_t negotiating = VIRTIO_CONFIG_S_ACKNOWLEDGE |
				     VIRTIO_CONFIG_S_DRIVER;
	struct vh_net net;
	struct vh_vm h;
	uint64_t offered;
	double t0 = vh_now();

	setbuf(stdout, NULL);
	ksft_print_header();
	ksft_set_plan(7);
	vh_deadline("set-up", 120);
	vh_net_setup(&net);
	vh_vm_create(&h, guest_code);
	TEST_ASSERT(!vh_dev_attach(&h, NULL), "virtio-net on " VH_TAP);
	/* What the transport shows the driver (virtio-pci adds and hides). */
	offered = vh_transport == VH_PCI ? vdev_pci_features(h.pci) :
					   vdev_device_features(h.dev);

	vh_deadline("identification", 60);
	vh_run_sync(&h, STAGE_IDENT);
	sync_global_from_guest(h.vm, res);
	ksft_test_result(res.probe == 0 && res.vendor == vh_vendor_id() &&
			 res.features == offered &&
			 (offered & (1ULL << VIRTIO_F_VERSION_1)),
			 "probe (%s): net device found (%d), vendor 0x%x, features 0x%lx\n",
			 vh_transport_name(), res.probe, res.vendor,
			 res.features);
	ksft_test_result(res.qmax[0] == 256 && res.qmax[1] == 256 &&
			 res.qmax[3] == 0 &&
			 !memcmp(res.mac, vh_guest_mac, ETH_ALEN) &&
			 res.gen[0] == res.gen[1],
			 "queue sizes %u/%u/%u/%u, config MAC and config generation\n",
			 res.qmax[0], res.qmax[1], res.qmax[2], res.qmax[3]);

	vh_deadline("rejected feature", 60);
	vh_run_sync(&h, STAGE_REJECTED);
	sync_global_from_guest(h.vm, res);
	ksft_test_result(res.status_rejected == negotiating,
			 "feature bit %d (not offered): Status 0x%x, FEATURES_OK clear\n",
			 res.bad_bit, res.status_rejected);

	vh_run_sync(&h, STAGE_ACCEPTED);
	sync_global_from_guest(h.vm, res);
	ksft_test_result(res.status_accepted ==
			 (negotiating | VIRTIO_CONFIG_S_FEATURES_OK),
			 "after reset, offered features: Status 0x%x, FEATURES_OK kept\n",
			 res.status_accepted);

	vh_deadline("DRIVER_OK", 60);
	vh_run_sync(&h, STAGE_DRIVER_OK);
	sync_global_from_guest(h.vm, res);
	ksft_test_result(res.init == 0 &&
			 (res.status_ok & VIRTIO_CONFIG_S_DRIVER_OK) &&
			 vdev_device_is_active(h.dev) &&
			 vdev_device_feature_acked(h.dev, VIRTIO_NET_F_MAC),
			 "queues set up, DRIVER_OK: device active (init %d, Status 0x%x)\n",
			 res.init, res.status_ok);

	vh_deadline("reset", 60);
	vh_run_sync(&h, STAGE_RESET);
	sync_global_from_guest(h.vm, res);
	ksft_test_result(res.status_reset == 0 && !vdev_device_is_active(h.dev),
			 "Status 0 resets: device inactive, Status reads 0\n");
	vh_run_done(&h);
	ksft_print_msg("%lu MMIO exits, %lu config port I/O exits, %u BAR moves, %u MSI-X message changes, %.2f s\n",
		       h.mmio_exits, h.pio_exits, h.bar_moves,
		       h.vector_changes, vh_now() - t0);
	vh_vm_destroy(&h);
	vh_net_teardown(&net);
	ksft_test_result_pass("VM, device and TAP released\n");
	alarm(0);
	ksft_finished();
}
