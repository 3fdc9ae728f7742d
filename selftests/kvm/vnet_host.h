/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of vdev's KVM virtio-net selftests (and of tools/vdev-demo.c):
 *
 *   struct vh_net   the network around the TAP, built with
 *                   <vdev/netlink.h> and the selftests' netlink helpers
 *                   (lib/nl_helpers.h, in libvdev-test.a) in a fresh
 *                   network namespace: a persistent TAP and a veth end
 *                   enslaved to a bridge, the veth peer in
 *                   a second fresh namespace with an AF_PACKET socket that
 *                   sends frames to the guest and receives the guest's
 *   struct vh_vm    one KVM VM (6.1 KVM selftest library) with the guest
 *                   layout of virtio_guest.h, a virtio-net device on the
 *                   TAP behind the transport vh_transport names:
 *                   virtio-mmio (QueueNotify through KVM_IOEVENTFD, the
 *                   interrupt through KVM_IRQFD on IOAPIC pin VG_IRQ_PIN,
 *                   vdev_kvm_attach()), or virtio-pci (the function on bus
 *                   0 behind ports 0xCF8/0xCFC, its BAR placed at
 *                   VG_PCI_BAR_GPA, notify ioeventfds and MSI-X irqfds by
 *                   vdev_kvm_pci_attach()); vh_run() forwards the
 *                   transport's exits (MMIO, configuration port I/O) to
 *                   vdev until the next ucall
 *
 * The transport: virtio-mmio, unless the program was built with
 * -DVH_TRANSPORT_PCI (selftests/kvm/pci/<test>, see tests.mk); the
 * environment variable VDEV_KVM_TRANSPORT=mmio|pci overrides either.
 * The ring format the guest driver negotiates, likewise: split, unless
 * built with -DVH_RING_PACKED (selftests/kvm/[pci/]packed/<test>);
 * VDEV_KVM_RING=split|packed overrides either.
 *
 * Fatal set-up errors end the test through the KVM library's TEST_ASSERT
 * (the program fails); what a test measures is returned to it.
 */
#ifndef _VDEV_VNET_HOST_H
#define _VDEV_VNET_HOST_H

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>

#include <vdev/device.h>
#include <vdev/kvm.h>
#include <vdev/mem.h>
#include <vdev/mmio.h>
#include <vdev/net.h>
#include <vdev/netlink.h>
#include <vdev/pci.h>

#include "kselftest.h"
#include "lib/nl_helpers.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "virtio_guest.h"
#include "vdev_test.h"

#define VH_TAP		"vdevtap0"
#define VH_BRIDGE	"vdevbr0"
#define VH_VETH		"vdevveth0"
#define VH_VETH_PEER	"vdevveth1"

/* The guest's MAC: locally administered, unicast. */
static const uint8_t vh_guest_mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12,
						 0x34, 0x56 };

/**
 * struct vh_net - the TAP's network
 * @host_ns: network namespace of the TAP and the bridge (ours)
 * @peer_ns: namespace of the veth peer
 * @pkt_fd: AF_PACKET socket on the veth peer, in @peer_ns
 * @peer_mac: the veth peer's MAC
 */
struct vh_net {
	int host_ns;
	int peer_ns;
	int pkt_fd;
	uint8_t peer_mac[ETH_ALEN];
};

/**
 * struct vh_vm - a VM with one virtio-net device
 * @vm: the KVM library's VM
 * @vcpu: its only vCPU
 * @mem: guest RAM the device sees (the DMA slot)
 * @dev: the virtio-net device
 * @mmio: its transport (mmio)
 * @irq_fd: the interrupt eventfd (an irqfd on GSI VG_IRQ_PIN) (mmio)
 * @kvm: KVM_IOEVENTFD per queue + KVM_IRQFD (vdev_kvm_attach()) (mmio)
 * @pci: its transport (PCI)
 * @kpci: notify ioeventfds, MSI routes and irqfds, INTx
 *        (vdev_kvm_pci_attach()) (PCI)
 * @bar: where the BAR is decoded, from bar_moved (PCI)
 * @conf_addr: the CONFIG_ADDRESS latch, port 0xCF8 (PCI)
 * @mmio_exits: KVM_EXIT_MMIO exits forwarded to the transport
 * @notify_exits: of those, queue notifications (the ioeventfds missed)
 * @pio_exits: configuration space port I/O exits (PCI)
 * @bar_moves: bar_moved callbacks (PCI)
 * @vector_changes: vector_changed callbacks (PCI)
 */
struct vh_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct vdev_mem *mem;
	struct vdev_device *dev;
	struct vdev_mmio *mmio;
	int irq_fd;
	struct vdev_kvm *kvm;
	struct vdev_pci *pci;
	struct vdev_kvm_pci *kpci;
	uint64_t bar;
	uint32_t conf_addr;
	uint64_t mmio_exits;
	uint64_t notify_exits;
	uint64_t pio_exits;
	unsigned int bar_moves;
	unsigned int vector_changes;
};

/* ---- transport -------------------------------------------------------- */

enum vh_transport { VH_MMIO = VG_MMIO, VH_PCI = VG_PCI };

#ifdef VH_TRANSPORT_PCI
#define VH_DEFAULT_TRANSPORT	VH_PCI
#else
#define VH_DEFAULT_TRANSPORT	VH_MMIO
#endif

static enum vh_transport vh_transport = VH_DEFAULT_TRANSPORT;

static inline const char *vh_transport_name(void)
{
	return vh_transport == VH_PCI ? "virtio-pci" : "virtio-mmio";
}

/*
 * Pick the transport (VDEV_KVM_TRANSPORT, else the build's default) and
 * say which, once. Any other value of the variable fails the test.
 */
static inline void vh_transport_init(void)
{
	static bool done;
	const char *env = getenv("VDEV_KVM_TRANSPORT");

	if (done)
		return;
	done = true;
	if (env && !strcmp(env, "pci"))
		vh_transport = VH_PCI;
	else if (env && !strcmp(env, "mmio"))
		vh_transport = VH_MMIO;
	else
		TEST_ASSERT(!env, "VDEV_KVM_TRANSPORT=%s: mmio or pci", env);
	ksft_print_msg("transport: %s\n", vh_transport_name());
}

/* ---- ring format ------------------------------------------------------ */

enum vh_ring { VH_SPLIT = VG_SPLIT, VH_PACKED = VG_PACKED };

#ifdef VH_RING_PACKED
#define VH_DEFAULT_RING		VH_PACKED
#else
#define VH_DEFAULT_RING		VH_SPLIT
#endif

static enum vh_ring vh_ring = VH_DEFAULT_RING;

static inline const char *vh_ring_name(void)
{
	return vh_ring == VH_PACKED ? "packed" : "split";
}

/*
 * Pick the ring format (VDEV_KVM_RING, else the build's default) and say
 * which, once. Any other value of the variable fails the test.
 */
static inline void vh_ring_init(void)
{
	static bool done;
	const char *env = getenv("VDEV_KVM_RING");

	if (done)
		return;
	done = true;
	if (env && !strcmp(env, "packed"))
		vh_ring = VH_PACKED;
	else if (env && !strcmp(env, "split"))
		vh_ring = VH_SPLIT;
	else
		TEST_ASSERT(!env, "VDEV_KVM_RING=%s: split or packed", env);
	ksft_print_msg("ring: %s\n", vh_ring_name());
}

/*
 * The device runs the ring format the test asked for: VIRTIO_F_RING_PACKED
 * acked exactly when it is packed. Call once the guest driver is up.
 */
static inline bool vh_ring_negotiated(struct vdev_device *dev)
{
	bool packed = vdev_device_acked_features(dev) &
		      (1ULL << VIRTIO_F_RING_PACKED);

	return packed == (vh_ring == VH_PACKED);
}

/* The vendor ID the guest must read (VendorID, or PCI's vendor ID). */
static inline uint32_t vh_vendor_id(void)
{
	return vh_transport == VH_PCI ? VDEV_PCI_VENDOR_ID :
					VDEV_MMIO_VENDOR_ID;
}

/* ---- watchdog --------------------------------------------------------- */

static const char *vh_phase = "start";
static struct vh_vm *vh_current;

/* On a timeout: where the rings and the device stand (best effort). */
static void vh_dump(struct vh_vm *h)
{
	struct vdev_counter c[16];
	unsigned int q, i, n;

	for (q = 0; q < 2; q++) {
		struct vring_avail *avail = addr_gpa2hva(h->vm, VG_RING_PG(q, 1));
		struct vring_used *used = addr_gpa2hva(h->vm, VG_RING_PG(q, 2));
		struct vring_packed_desc_event *drv = (void *)avail;
		struct vring_packed_desc_event *dev = (void *)used;

		if (vh_ring == VH_PACKED)
			dprintf(STDOUT_FILENO, "# queue %u: driver event 0x%x/0x%x, device event 0x%x/0x%x (flags/off_wrap)\n",
				q, drv->flags, drv->off_wrap, dev->flags,
				dev->off_wrap);
		else
			dprintf(STDOUT_FILENO, "# queue %u: avail idx %u, used idx %u\n",
				q, avail->idx, used->idx);
	}
	memcpy(&vg_irq, addr_gva2hva(h->vm, (vm_vaddr_t)&vg_irq),
	       sizeof(vg_irq));
	dprintf(STDOUT_FILENO, "# guest: %lu interrupts, %lu timer wake-ups, %lu late, %lu lost\n",
		vg_irq.irqs, vg_irq.timer, vg_irq.late, vg_irq.lost);
	if (h->dev) {
		dprintf(STDOUT_FILENO, "# device: active %d, needs reset %d\n",
			vdev_device_is_active(h->dev),
			vdev_device_needs_reset(h->dev));
		n = vdev_device_counters(h->dev, c, ARRAY_SIZE(c));
		for (i = 0; i < n; i++)
			dprintf(STDOUT_FILENO, "# %s %lu\n", c[i].name,
				c[i].value);
	}
}

static void vh_alarm(int sig)
{
	dprintf(STDOUT_FILENO, "Bail out! timeout in phase: %s\n", vh_phase);
	if (vh_current && vh_current->vm)
		vh_dump(vh_current);
	_exit(KSFT_FAIL);
}

/*
 * Name what the test does now and give it @seconds: a guest that never
 * gets its interrupt sleeps in HLT forever, so a stuck test ends here,
 * loudly, with the phase it was in.
 */
static inline void vh_deadline(const char *phase, unsigned int seconds)
{
	vh_phase = phase;
	signal(SIGALRM, vh_alarm);
	alarm(seconds);
}

static inline double vh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* qsort() comparison of doubles, for the min / median / max of timings. */
static inline int vh_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline int64_t vh_print_thread(const char *tid, const char *comm,
				      void *arg)
{
	ksft_print_msg("thread %s: %s", tid, comm);
	return 0;
}

/* List this process's threads by name (for a failure report). */
static inline void vh_print_threads(void)
{
	vdev_test_walk_threads(vh_print_thread, NULL);
}

/* List this process's fds (for a failure report). */
static inline void vh_print_fds(void)
{
	char path[300], target[256];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	ssize_t n;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		ksft_print_msg("fd %s: %s\n", de->d_name, target);
	}
	if (d)
		closedir(d);
}

/*
 * Worker threads still listed in /proc/self/task: a joined thread can
 * stay listed for a moment after pthread_join() returns (the kernel
 * wakes the joiner before it unhashes the task), so give the counts up to
 * @ms each to settle before calling it a leak. Returns the "vdev-" threads
 * left; *@tasks gets the final thread count.
 */
static inline int vh_settled_workers(int want_tasks, int *tasks, int ms)
{
	int workers = vdev_test_settle_threads_named_ms("vdev-", 0, ms);

	*tasks = vdev_test_settle_tasks_ms(want_tasks, ms);
	return workers;
}

/* ---- network ---------------------------------------------------------- */

/* Best effort: no IPv6 (router solicitations, MLD) on links made later. */
static inline void vh_no_ipv6(void)
{
	static const char *const knobs[] = {
		"/proc/sys/net/ipv6/conf/default/disable_ipv6",
		"/proc/sys/net/ipv6/conf/all/disable_ipv6",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (write(fd, "1", 1) < 0)
			perror(knobs[i]);
		close(fd);
	}
}

/* A persistent TAP (what "ip tuntap add" does): it outlives every VM. */
static inline int vh_tap_create_persistent(const char *name)
{
	struct ifreq ifr;
	int fd, err = 0;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETPERSIST, 1))
		err = -errno;
	close(fd);
	return err;
}

#define VH_CHECK(expr) do {						\
	int __r = (expr);						\
	TEST_ASSERT(!__r, "%s: %s", #expr, strerror(-__r));		\
} while (0)

/*
 * Move this process into a fresh network namespace and build:
 *   VH_TAP (persistent) + VH_VETH  --enslaved-->  VH_BRIDGE
 *   VH_VETH_PEER in another fresh namespace, with an AF_PACKET socket.
 * Call before any thread exists.
 */
static inline void vh_net_setup(struct vh_net *net)
{
	struct vdev_nl_link_state st;
	struct sockaddr_ll sll;

	TEST_ASSERT(!unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET): %s",
		    strerror(errno));
	vh_no_ipv6();
	net->host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(net->host_ns >= 0, "open host netns");
	TEST_ASSERT(!unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET) peer");
	vh_no_ipv6();
	net->peer_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	TEST_ASSERT(net->peer_ns >= 0, "open peer netns");
	VH_CHECK(vdev_nl_link_set_up("lo", true));
	TEST_ASSERT(!setns(net->host_ns, CLONE_NEWNET), "setns host");

	VH_CHECK(vdev_nl_link_set_up("lo", true));
	VH_CHECK(nlh_bridge_create(VH_BRIDGE));
	VH_CHECK(vh_tap_create_persistent(VH_TAP));
	VH_CHECK(vdev_nl_link_enslave(VH_TAP, VH_BRIDGE));
	VH_CHECK(nlh_veth_create(VH_VETH, VH_VETH_PEER));
	VH_CHECK(vdev_nl_link_enslave(VH_VETH, VH_BRIDGE));
	VH_CHECK(nlh_link_set_netns(VH_VETH_PEER, net->peer_ns));
	VH_CHECK(vdev_nl_link_set_up(VH_TAP, true));
	VH_CHECK(vdev_nl_link_set_up(VH_VETH, true));
	VH_CHECK(vdev_nl_link_set_up(VH_BRIDGE, true));

	/* The peer's side: link up, a packet socket bound to it. */
	TEST_ASSERT(!setns(net->peer_ns, CLONE_NEWNET), "setns peer");
	VH_CHECK(vdev_nl_link_set_up(VH_VETH_PEER, true));
	VH_CHECK(vdev_nl_link_state(VH_VETH_PEER, &st));
	memcpy(net->peer_mac, st.mac, ETH_ALEN);
	net->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			     htons(VG_ETHERTYPE));
	TEST_ASSERT(net->pkt_fd >= 0, "AF_PACKET socket: %s", strerror(errno));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(VG_ETHERTYPE);
	sll.sll_ifindex = st.ifindex;
	TEST_ASSERT(!bind(net->pkt_fd, (struct sockaddr *)&sll, sizeof(sll)),
		    "bind AF_PACKET: %s", strerror(errno));
	TEST_ASSERT(!setns(net->host_ns, CLONE_NEWNET), "setns host");
}

static inline void vh_net_teardown(struct vh_net *net)
{
	int fd;

	close(net->pkt_fd);
	/* Drop the persistent TAP (the namespaces die with their fds). */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		struct ifreq ifr;

		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", VH_TAP);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		if (!ioctl(fd, TUNSETIFF, &ifr))
			ioctl(fd, TUNSETPERSIST, 0);
		close(fd);
	}
	nlh_link_delete(VH_BRIDGE);
	close(net->peer_ns);
	close(net->host_ns);
}

/* The peer sends @nr test frames to the guest, numbered from @seq. */
static inline unsigned int vh_peer_send(struct vh_net *net, uint32_t seq,
					unsigned int nr)
{
	uint8_t frame[VG_FRAME_LEN];
	struct ethhdr *eth = (void *)frame;
	uint32_t *payload = (uint32_t *)(eth + 1);
	unsigned int i, sent = 0;

	memset(frame, 0, sizeof(frame));
	memcpy(eth->h_dest, vh_guest_mac, ETH_ALEN);
	memcpy(eth->h_source, net->peer_mac, ETH_ALEN);
	eth->h_proto = htons(VG_ETHERTYPE);
	payload[0] = VG_FRAME_MAGIC;
	for (i = 0; i < nr; i++) {
		payload[1] = seq + i;
		if (send(net->pkt_fd, frame, sizeof(frame), 0) ==
		    sizeof(frame))
			sent++;
	}
	return sent;
}

/*
 * Receive the guest's test frames at the peer until @want arrived or
 * @timeout_ms passed without one. Returns how many arrived; *@last_seq is
 * the sequence number of the last.
 */
static inline unsigned int vh_peer_recv(struct vh_net *net, unsigned int want,
					int timeout_ms, uint32_t *last_seq)
{
	struct pollfd pfd = { .fd = net->pkt_fd, .events = POLLIN };
	double last = vh_now();
	uint8_t frame[2048];
	unsigned int got = 0;

	while (got < want) {
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		struct ethhdr *eth = (void *)frame;
		uint32_t *payload = (uint32_t *)(eth + 1);
		ssize_t n;

		n = recvfrom(net->pkt_fd, frame, sizeof(frame), 0,
			     (struct sockaddr *)&sll, &sl);
		if (n < 0) {
			if (errno != EAGAIN || poll(&pfd, 1, timeout_ms) <= 0)
				break;
			continue;
		}
		if (sll.sll_pkttype == PACKET_OUTGOING ||
		    n < (ssize_t)(sizeof(*eth) + 8) ||
		    memcmp(eth->h_source, vh_guest_mac, ETH_ALEN) ||
		    payload[0] != VG_FRAME_MAGIC) {
			/* Other traffic does not extend the wait. */
			if ((vh_now() - last) * 1000 > timeout_ms)
				break;
			continue;
		}
		if (last_seq)
			*last_seq = payload[1];
		got++;
		last = vh_now();
	}
	return got;
}

/*
 * Wait up to @ms for the TAP's operstate to be UP. A TAP gets its carrier
 * when vdev attaches a queue, but the bridge enables its port only when
 * the kernel's linkwatch work has processed that carrier change (batched,
 * up to a second later); frames to or from the TAP before that are
 * dropped. Returns the seconds waited, or -1.
 */
static inline double vh_wait_tap_up(int ms)
{
	struct vdev_nl_link_state st;
	struct timespec ts = { 0, 1000000 };
	double t0 = vh_now();
	int i;

	for (i = 0; i <= ms; i++) {
		if (!vdev_nl_link_state(VH_TAP, &st) &&
		    st.operstate == IF_OPER_UP)
			return vh_now() - t0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* Throw away whatever the peer's socket holds. */
static inline void vh_peer_drain(struct vh_net *net)
{
	uint8_t frame[2048];

	while (recv(net->pkt_fd, frame, sizeof(frame), MSG_DONTWAIT) > 0)
		;
}

/* ---- VM + device ------------------------------------------------------ */

/*
 * The 6.1 KVM library's ELF loader (lib/elf.c) opens the test binary
 * twice per VM and never closes it. Close what it left, so that fd counts
 * measure vdev, and long reboot loops do not run out of fds. Returns how
 * many were closed.
 */
static inline int vh_close_elf_fds(void)
{
	char exe[PATH_MAX], path[64], target[PATH_MAX];
	struct dirent *de;
	ssize_t n;
	int closed = 0;
	DIR *d;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	d = opendir("/proc/self/fd");
	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, exe) && !close(fd))
			closed++;
	}
	if (d)
		closedir(d);
	return closed;
}

/*
 * A VM running @guest_code, with the guest layout of virtio_guest.h and
 * the interrupt handler installed. No device yet: see vh_dev_attach().
 */
static inline void vh_vm_create(struct vh_vm *h, void *guest_code)
{
	vh_transport_init();
	vh_ring_init();
	memset(h, 0, sizeof(*h));
	h->irq_fd = -1;
	h->bar = VDEV_PCI_BAR_UNMAPPED;
	h->vm = vm_create_with_one_vcpu(&h->vcpu, guest_code);
	vh_close_elf_fds();
	vh_current = h;
	vm_userspace_mem_region_add(h->vm, VM_MEM_SRC_ANONYMOUS, VG_DMA_GPA,
				    VG_DMA_SLOT, VG_DMA_PAGES, 0);
	virt_map(h->vm, VG_DMA_GPA, VG_DMA_GPA, VG_DMA_PAGES);
	/* Page tables only: no memory slot backs these. */
	virt_map(h->vm, VG_MMIO_GPA, VG_MMIO_GPA, 1);
	virt_map(h->vm, VG_PCI_BAR_GPA, VG_PCI_BAR_GPA,
		 VG_PCI_BAR_SIZE / getpagesize());
	virt_map(h->vm, VG_IOAPIC_GPA, VG_IOAPIC_GPA, 1);
	virt_map(h->vm, APIC_DEFAULT_GPA, APIC_DEFAULT_GPA, 1);
	vm_init_descriptor_tables(h->vm);
	vcpu_init_descriptor_tables(h->vcpu);
	vm_install_exception_handler(h->vm, VG_IRQ_VECTOR, vg_isr);
	vm_install_exception_handler(h->vm, VG_TIMER_VECTOR, vg_timer_isr);
	vm_install_exception_handler(h->vm, VG_CONFIG_VECTOR, vg_config_isr);
	vg_transport = vh_transport;
	sync_global_to_guest(h->vm, vg_transport);
	vg_ring = vh_ring;
	sync_global_to_guest(h->vm, vg_ring);
}

/*
 * vh_vm_create() for a guest that talks to the peer: @peer_mac, a global
 * of the test program that the guest code reads (guest code runs at the
 * program's link addresses), gets @net's peer MAC, in the guest's memory
 * too.
 */
static inline void vh_vm_create_peer(struct vh_vm *h, void *guest_code,
				     const struct vh_net *net,
				     uint8_t peer_mac[ETH_ALEN])
{
	vh_vm_create(h, guest_code);
	memcpy(peer_mac, net->peer_mac, ETH_ALEN);
	memcpy(addr_gva2hva(h->vm, (vm_vaddr_t)peer_mac), peer_mac, ETH_ALEN);
}

/* ---- the test's VMM for virtio-pci ---------------------------------- */

/* The transport's callbacks: track the BAR, forward to the KVM glue. */
static inline void vh_pci_bar_moved(struct vdev_pci *pci, void *opaque,
				    unsigned int bar, uint64_t old_addr,
				    uint64_t new_addr)
{
	struct vh_vm *h = opaque;

	h->bar = new_addr;
	h->bar_moves++;
	vdev_kvm_pci_bar_moved(h->kpci, bar, old_addr, new_addr);
}

static inline void vh_pci_vector_changed(struct vdev_pci *pci, void *opaque,
					 unsigned int vector, uint64_t addr,
					 uint32_t data)
{
	struct vh_vm *h = opaque;

	h->vector_changes++;
	vdev_kvm_pci_vector_changed(h->kpci, vector, addr, data);
}

static const struct vdev_pci_ops vh_pci_ops = {
	.bar_moved = vh_pci_bar_moved,
	.vector_changed = vh_pci_vector_changed,
};

static inline void vh_pci_cfg_write(struct vh_vm *h, uint32_t off,
				    uint32_t val, unsigned int len)
{
	vdev_pci_config_write(h->pci, off, &val, len);
}

/*
 * The transport, wired to KVM, then what firmware does before the guest
 * runs: BAR 0/1 at VG_PCI_BAR_GPA, memory decode on (the glue moves the
 * notify ioeventfds there on bar_moved).
 */
static inline void vh_pci_attach(struct vh_vm *h)
{
	VH_CHECK(vdev_pci_create(h->dev, h->mem, &vh_pci_ops, h, &h->pci));
	VH_CHECK(vdev_kvm_pci_attach(h->vm->fd, h->pci, VG_PCI_INTX_PIN,
				     VG_PCI_MSI_GSI, &h->kpci));
	vh_pci_cfg_write(h, PCI_BASE_ADDRESS_0, (uint32_t)VG_PCI_BAR_GPA, 4);
	vh_pci_cfg_write(h, PCI_BASE_ADDRESS_1, VG_PCI_BAR_GPA >> 32, 4);
	vh_pci_cfg_write(h, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	TEST_ASSERT(h->bar == VG_PCI_BAR_GPA &&
		    vdev_pci_bar_addr(h->pci, 0) == VG_PCI_BAR_GPA,
		    "BAR at 0x%lx, wanted 0x%llx", h->bar, VG_PCI_BAR_GPA);
}

/*
 * Configuration mechanism #1: CONFIG_ADDRESS at 0xCF8 (4 bytes), the
 * selected dword at 0xCFC-0xCFF. Only bus 0, device VG_PCI_SLOT,
 * function 0 exists; any other function reads all ones, as on a bus
 * where nobody claims the cycle. Returns false for a port that is not
 * ours (ucalls use port I/O too).
 */
static inline bool vh_pci_pio(struct vh_vm *h, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint16_t port = run->io.port;
	unsigned int len = run->io.size;
	uint32_t a = h->conf_addr;

	if (port < VG_PCI_CONF_ADDR || port + len > VG_PCI_CONF_DATA + 4)
		return false;
	TEST_ASSERT(run->io.count == 1, "rep port I/O at 0x%x", port);
	h->pio_exits++;
	if (port < VG_PCI_CONF_DATA) {
		if (port != VG_PCI_CONF_ADDR || len != 4)
			return true;	/* not CONFIG_ADDRESS: ignored */
		if (run->io.direction == KVM_EXIT_IO_OUT)
			memcpy(&h->conf_addr, data, 4);
		else
			memcpy(data, &h->conf_addr, 4);
		return true;
	}
	if (!(a & 0x80000000U) || (a >> 16 & 0xff) || (a >> 11 & 0x1f) !=
	    VG_PCI_SLOT || (a >> 8 & 7)) {
		if (run->io.direction == KVM_EXIT_IO_IN)
			memset(data, 0xff, len);
		return true;
	}
	if (run->io.direction == KVM_EXIT_IO_OUT)
		vdev_pci_config_write(h->pci, (a & 0xfc) +
				      (port - VG_PCI_CONF_DATA), data, len);
	else
		vdev_pci_config_read(h->pci, (a & 0xfc) +
				     (port - VG_PCI_CONF_DATA), data, len);
	return true;
}

/*
 * An MMIO exit in the BAR (anything but a notify write that an ioeventfd
 * caught) goes to vdev_pci_bar_read/write(). Returns false outside it.
 */
static inline bool vh_pci_mmio(struct vh_vm *h, struct kvm_run *run)
{
	uint64_t off = run->mmio.phys_addr - h->bar;
	uint64_t notify_end = VDEV_PCI_NOTIFY_OFFSET +
			      (uint64_t)vdev_pci_nr_queues(h->pci) *
			      VDEV_PCI_NOTIFY_MULTIPLIER;

	if (h->bar == VDEV_PCI_BAR_UNMAPPED || run->mmio.phys_addr < h->bar ||
	    off + run->mmio.len > VDEV_PCI_BAR_SIZE)
		return false;
	if (run->mmio.is_write)
		vdev_pci_bar_write(h->pci, 0, off, run->mmio.data,
				   run->mmio.len);
	else
		vdev_pci_bar_read(h->pci, 0, off, run->mmio.data,
				  run->mmio.len);
	h->mmio_exits++;
	if (run->mmio.is_write && off >= VDEV_PCI_NOTIFY_OFFSET &&
	    off < notify_end)
		h->notify_exits++;
	return true;
}

/*
 * Create the virtio-net device on VH_TAP, its transport, and wire both to
 * KVM. Returns 0, or vdev_net_create()'s -errno (-EBUSY: the TAP is still
 * held by someone) with nothing left behind; other failures are fatal.
 * *@open_s, when given, gets vdev_net_create()'s duration (TAP reopen).
 */
static inline int vh_dev_attach(struct vh_vm *h, double *open_s)
{
	struct vdev_net_config cfg = {
		.tap_name = VH_TAP,
		.queue_pairs = 1,
		.queue_size = 256,
	};
	double t0;
	int ret;

	memcpy(cfg.mac, vh_guest_mac, ETH_ALEN);
	VH_CHECK(vdev_mem_create(&h->mem));
	VH_CHECK(vdev_mem_add_region(h->mem, VG_DMA_GPA, VG_DMA_SIZE,
				     addr_gpa2hva(h->vm, VG_DMA_GPA)));
	t0 = vh_now();
	ret = vdev_net_create(&cfg, &h->dev);
	if (open_s)
		*open_s = vh_now() - t0;
	if (ret) {
		vdev_mem_put(h->mem);
		h->mem = NULL;
		h->dev = NULL;
		return ret;
	}
	if (vh_transport == VH_PCI) {
		vh_pci_attach(h);
		return 0;
	}
	h->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(h->irq_fd >= 0, "eventfd: %s", strerror(errno));
	VH_CHECK(vdev_mmio_create(h->dev, h->mem, h->irq_fd, &h->mmio));
	VH_CHECK(vdev_kvm_attach(h->vm->fd, h->mmio, VG_MMIO_GPA, VG_IRQ_PIN,
				 &h->kvm));
	return 0;
}

/*
 * How a test with one boot starts: the network (vh_net_setup()), a VM
 * running @guest_code with the guest's @peer_mac set (vh_vm_create_peer())
 * and the device attached to it. Failure ends the test.
 */
static inline void vh_setup(struct vh_net *net, struct vh_vm *h,
			    void *guest_code, uint8_t peer_mac[ETH_ALEN])
{
	vh_net_setup(net);
	vh_vm_create_peer(h, guest_code, net, peer_mac);
	TEST_ASSERT(!vh_dev_attach(h, NULL), "virtio-net on " VH_TAP);
}

/* Undo vh_dev_attach(): when it returns, the TAP is free again. */
static inline void vh_dev_detach(struct vh_vm *h)
{
	if (h->pci) {
		vdev_kvm_pci_detach(h->kpci);
		h->kpci = NULL;
		vdev_pci_destroy(h->pci);
		vdev_device_put(h->dev);
		vdev_mem_put(h->mem);
		h->pci = NULL;
		h->dev = NULL;
		h->mem = NULL;
		return;
	}
	if (!h->mmio)
		return;
	vdev_kvm_detach(h->kvm);
	vdev_mmio_destroy(h->mmio);
	vdev_device_put(h->dev);
	vdev_mem_put(h->mem);
	close(h->irq_fd);
	h->mmio = NULL;
	h->dev = NULL;
	h->mem = NULL;
	h->irq_fd = -1;
	h->kvm = NULL;
}

static inline void vh_vm_destroy(struct vh_vm *h)
{
	vh_dev_detach(h);
	vh_current = NULL;
	kvm_vm_free(h->vm);
	h->vm = NULL;
}

/*
 * Run the vCPU until its next ucall, forwarding the transport's exits:
 * MMIO in the device's window (mmio) or BAR, configuration port I/O
 * (PCI). A guest assertion, an unexpected exit or an access outside the
 * device fails the test.
 */
static inline uint64_t vh_run(struct vh_vm *h, struct ucall *uc)
{
	for (;;) {
		struct kvm_run *run;
		uint64_t cmd, off;

		vcpu_run(h->vcpu);
		run = h->vcpu->run;
		if (h->pci && run->exit_reason == KVM_EXIT_IO &&
		    vh_pci_pio(h, run))
			continue;
		if (h->pci && run->exit_reason == KVM_EXIT_MMIO) {
			TEST_ASSERT(vh_pci_mmio(h, run),
				    "MMIO %s at 0x%llx outside the BAR (at 0x%lx)",
				    run->mmio.is_write ? "write" : "read",
				    run->mmio.phys_addr, h->bar);
			continue;
		}
		if (run->exit_reason == KVM_EXIT_MMIO) {
			off = run->mmio.phys_addr - VG_MMIO_GPA;
			TEST_ASSERT(run->mmio.phys_addr >= VG_MMIO_GPA &&
				    off + run->mmio.len <= VG_MMIO_SIZE,
				    "MMIO %s at 0x%llx outside the device",
				    run->mmio.is_write ? "write" : "read",
				    run->mmio.phys_addr);
			if (run->mmio.is_write)
				vdev_mmio_write(h->mmio, off, run->mmio.data,
						run->mmio.len);
			else
				vdev_mmio_read(h->mmio, off, run->mmio.data,
					       run->mmio.len);
			h->mmio_exits++;
			if (off == VIRTIO_MMIO_QUEUE_NOTIFY)
				h->notify_exits++;
			continue;
		}
		cmd = get_ucall(h->vcpu, uc);
		if (cmd == UCALL_ABORT)
			REPORT_GUEST_ASSERT_2(*uc, "values: 0x%lx 0x%lx");
		TEST_ASSERT(cmd != UCALL_NONE, "unexpected exit %u (%s)",
			    run->exit_reason, exit_reason_str(run->exit_reason));
		return cmd;
	}
}

/* Run to the next GUEST_SYNC and check its value; returns uc.args[1]. */
static inline uint64_t vh_run_sync(struct vh_vm *h, uint64_t stage)
{
	struct ucall uc;
	uint64_t cmd = vh_run(h, &uc);

	TEST_ASSERT(cmd == UCALL_SYNC, "ucall %lu where GUEST_SYNC(%lu) was due",
		    cmd, stage);
	TEST_ASSERT(uc.args[1] == stage, "GUEST_SYNC(%lu) where %lu was due",
		    uc.args[1], stage);
	return uc.args[1];
}

static inline void vh_run_done(struct vh_vm *h)
{
	struct ucall uc;
	uint64_t cmd = vh_run(h, &uc);

	TEST_ASSERT(cmd == UCALL_DONE, "ucall %lu where GUEST_DONE was due",
		    cmd);
}

#endif /* _VDEV_VNET_HOST_H */
