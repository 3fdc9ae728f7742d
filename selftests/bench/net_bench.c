// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net throughput and reset latency, each next to a ceiling
 * measured in the same run:
 *
 *   TX  driver -> vdev-net -> TAP    vs  (a) write() loop on a TAP fd
 *   RX  TAP -> vdev-net -> driver    vs  (a) read() loop on a TAP fd
 *
 * with vdev on (b) its syscall-per-frame TAP I/O and (c) its io_uring
 * TAP I/O, for 64-byte and 1500-byte frames and (TX) 64 KiB TSO frames;
 * and the same three on two queue pairs of a multiqueue TAP, (A) two
 * loops on a queue fd each, (B) and (C) a device with two pairs, a
 * driver thread per pair, pair i's threads on CPU i (a single pair's on
 * CPU 0, as pair 0's). All in interleaved windows, best of
 * NET_BENCH_ROUNDS, the ceilings' fds set up like the device's
 * (ceiling_fd()). (c)/(a) compares the device with the single-thread
 * ceiling, (C)/(A) two pairs with the loops on the same CPUs. Then destroy
 * (with traffic running) + create + activate on the same TAP, p50/p99
 * over 1,000 cycles, on each path.
 *
 * The driver side behaves as a guest's virtio-net driver with EVENT_IDX
 * and NAPI: batched adds, one publish and kick check per batch, used
 * entries taken in batches, and a sleep on the interrupt (used_event)
 * when it has nothing to do, instead of a spin that would take the CPU
 * the device's worker needs. Every frame is produced (TX: numbered in
 * its slot, by the ceiling's loop too) and checked (TX: the device's
 * tx_frames counter; RX: length, num_buffers, type, in the ceiling too);
 * a window that fails a check reports 0 pps.
 *
 * RX drains a TAP queue filled beforehand (txqueuelen raised), so that
 * the producer's speed does not enter the figure. Runs in a fresh network
 * namespace; needs CAP_NET_ADMIN.
 *
 *   NET_BENCH_FRAMES=n   frames per TX measurement (default 500000)
 *   NET_BENCH_CYCLES=n   reset cycles (default 1000)
 *   NET_BENCH_ROUNDS=n   windows per contender, best kept (default 3)
 *   NET_BENCH_SIZES=64,1500,65536  NET_BENCH_DIRS=tx,rx
 *   NET_BENCH_WHO=abcABC NET_BENCH_NO_REOPEN=1: run only part of it
 *   NET_BENCH_CPUS=d,w   (a)-(c): driver (and loop) on CPU d, workers on
 *                        CPU w (default 0,0; "any": the scheduler's choice)
 *   NET_BENCH_PAIRS=1    leave out (A)-(C), the two-pair lines
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/nl_helpers.h"
#include "net_dev.h"

#define TAP		"vb0"
#define TAP_MQ		"vb1"		/* multiqueue, for (A)-(C) */
#define FEAT		(ND_F_BASE | ND_F_MRG | ND_F_CTRL)

static unsigned long nr_frames = 500000;

/* CPU time of each side, per frame: where the time goes. */
struct result {
	double pps;
	double gbps;
	double dev_ns;		/* device threads' CPU per frame */
	double drv_ns;		/* driver (or ceiling) thread's CPU per frame */
	double wakeups;		/* device threads' sleeps per 1000 frames */
	double drv_sleeps;	/* the driver's, per 1000 frames */
};

struct cpu_mark {
	uint64_t t0;
	uint64_t dev;
	uint64_t drv;
	uint64_t sw;
	uint64_t drv_sw;
};

/* Voluntary context switches of the calling thread: its sleeps. */
static uint64_t thread_sleeps(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return ru.ru_nvcsw;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * CPU time (and, in *@sw, voluntary context switches: sleeps) of this
 * process's "vdev-*" threads, the device's workers.
 */
static uint64_t dev_cpu_ns(uint64_t *sw)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t sum = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		unsigned long long run = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, "vdev-", 5))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &run) == 1)
			sum += run;
		fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(path, sizeof(path), f))
			if (sscanf(path, "voluntary_ctxt_switches: %llu",
				   &run) == 1)
				*sw += run;
		fclose(f);
	}
	closedir(d);
	return sum;
}

static void mark(struct cpu_mark *m)
{
	m->sw = 0;
	m->dev = dev_cpu_ns(&m->sw);
	m->drv = thread_cpu_ns();
	m->drv_sw = thread_sleeps();
	m->t0 = nd_now_ns();
}

static struct result rate(unsigned long n, size_t len, uint64_t ns)
{
	struct result r = { 0 };

	r.pps = n * 1e9 / ns;
	r.gbps = r.pps * len * 8 / 1e9;
	return r;
}

/* rate() plus the CPU time each side spent since @m. */
static struct result rate_cpu(unsigned long n, size_t len, uint64_t end,
			      const struct cpu_mark *m)
{
	struct result r = rate(n, len, end - m->t0);
	uint64_t sw = 0;

	if (n) {
		r.drv_ns = (double)(thread_cpu_ns() - m->drv) / n;
		r.dev_ns = (double)(dev_cpu_ns(&sw) - m->dev) / n;
		r.wakeups = (double)(sw - m->sw) * 1000 / n;
		r.drv_sleeps = (double)(thread_sleeps() - m->drv_sw) * 1000 / n;
	}
	return r;
}

/*
 * The TX slots: 256 of them, ND_TXBUF apart in queue 1's buffer for 64
 * and 1500 B, TX_GSO_STRIDE apart in a buffer of their own for the
 * 64 KiB GSO frames. The driver (and the ceiling's loop) writes each
 * frame's sequence number into its slot before it goes, as a guest
 * writes every frame it sends.
 */
#define GSO_LEN		65536			/* the 64 KiB GSO frame */
#define FRAME_SEQ_OFF	42			/* after the UDP header */
#define TX_GSO_STRIDE	(68 * 1024)

/*
 * A lane is one queue pair and what drives it: its RX and TX queue
 * indices, the eventfd its interrupts come on, its 64 KiB TX slots, the
 * CPU its threads run on (multi-pair lines). The single-pair lines use
 * lane 0 on the main thread.
 */
#define NR_LANES	2

struct lane {
	unsigned int rxq, txq;
	int irqfd;
	uint64_t gso;
	unsigned int cpu;
};

static struct lane lanes[NR_LANES];

struct tx_layout {
	uint64_t base;
	size_t stride;
	size_t seq_off;		/* where the sequence number goes */
};

static struct tx_layout tx_layout(struct nd *nd, const struct lane *ln,
				  size_t len)
{
	if (len > ND_TXBUF - ND_HDR)
		return (struct tx_layout){ ln->gso, TX_GSO_STRIDE,
					   ND_HDR + 14 + 20 + 4 };
	return (struct tx_layout){ nd->buf[ln->txq], ND_TXBUF,
				   ND_HDR + FRAME_SEQ_OFF };
}

static uint8_t *tx_slot(struct nd *nd, const struct tx_layout *l,
			unsigned int i)
{
	return vq_guest_ptr(&nd->g, l->base + (uint64_t)i * l->stride,
			    l->stride);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (b[i] << 8) | b[i + 1];
	return sum;
}

/*
 * Every frame is UDP/IPv4 from source port 1024 + a flow number
 * (0-255), TCP for the 64 KiB GSO frames; a multiqueue TAP steers RX
 * frames by flow, to the queue that last sent that flow (flows_learn()).
 * Lane k sends and receives the flows flow_lane() gives it, so that no
 * two lanes' frames share tun's flow table entries. TX frames go to a
 * unicast MAC not the TAP's, which the kernel drops on arrival as
 * cheaply as the frames of an unknown ethertype it used to be sent.
 */
#define NR_FLOWS	256
#define TX_DST		((const uint8_t *)"\x02\0\0\0\0\x99")

static unsigned int flow_lane(unsigned int flow)
{
	return flow % NR_LANES;
}

/* The UDP frame of @flow, to @dst (NULL: broadcast). */
static void flow_frame(uint8_t *f, size_t len, unsigned int flow,
		       const uint8_t *dst)
{
	uint8_t *ip = f + 14;

	nd_frame(f, len, (const uint8_t *)"\x02\0\0\0\0\2", 0);
	if (dst)
		memcpy(f, dst, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[2] = (len - 14) >> 8;
	ip[3] = (len - 14) & 0xff;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
	ip[20] = (1024 + flow) >> 8;
	ip[21] = (1024 + flow) & 0xff;
	ip[22] = 12345 >> 8;
	ip[23] = 12345 & 0xff;
	ip[24] = (len - 34) >> 8;
	ip[25] = (len - 34) & 0xff;
}

/*
 * A 64 KiB TCP/IPv4 frame of @flow as a guest's TSO hands it over: GSO header,
 * CHECKSUM_PARTIAL (the TCP checksum field holds the pseudo-header sum),
 * a valid IP header checksum.
 */
static void gso_frame(uint8_t *p, unsigned int flow)
{
	struct virtio_net_hdr_v1 *h = (void *)p;
	uint8_t *f = p + ND_HDR, *ip = f + 14, *t = ip + 20;
	size_t pay = GSO_LEN - 14 - 20 - 20, i;
	uint32_t ph;

	memset(h, 0, ND_HDR);
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h->hdr_len = htole16(54);
	h->gso_size = htole16(1448);
	h->csum_start = htole16(34);
	h->csum_offset = htole16(16);
	memcpy(f, TX_DST, 6);
	memcpy(f + 6, "\x02\0\0\0\0\1", 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 40);
	ip[0] = 0x45;
	ip[2] = (20 + 20 + pay) >> 8;
	ip[3] = (20 + 20 + pay) & 0xff;
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
	ph = csum_fold(csum_add(0, ip, 20));
	ip[10] = (uint8_t)(~ph >> 8);
	ip[11] = (uint8_t)~ph;
	t[0] = (1024 + flow) >> 8;
	t[1] = (1024 + flow) & 0xff;
	t[3] = 80;
	t[12] = 5 << 4;
	t[13] = 0x10;			/* ACK */
	t[14] = 0xff;
	t[15] = 0xff;
	ph = csum_fold(csum_add(0, ip + 12, 8) + IPPROTO_TCP + 20 + pay);
	t[16] = (uint8_t)(ph >> 8);
	t[17] = (uint8_t)ph;
	for (i = 0; i < pay; i++)
		t[20 + i] = (uint8_t)(i * 7);
}

/* Lay out the frames in the TX slots of lanes 0 .. @nr - 1. */
static int tx_slots_fill(struct nd *nd, unsigned int nr, size_t len)
{
	unsigned int i, k;

	for (k = 0; k < nr; k++) {
		struct tx_layout l = tx_layout(nd, &lanes[k], len);

		for (i = 0; i < ND_QSZ; i++) {
			unsigned int flow = (i * NR_LANES + k) % NR_FLOWS;
			uint8_t *p = tx_slot(nd, &l, i);

			if (!p)
				return -EFAULT;
			if (len > ND_TXBUF - ND_HDR) {
				gso_frame(p, flow);
				continue;
			}
			memset(p, 0, ND_HDR);
			flow_frame(p + ND_HDR, len, flow, TX_DST);
		}
	}
	return 0;
}

/* What a guest writes into every frame it sends: here, its number. */
static inline void tx_produce(struct nd *nd, const struct tx_layout *l,
			      unsigned int slot, uint32_t seq)
{
	memcpy(tx_slot(nd, l, slot) + l->seq_off, &seq, sizeof(seq));
}

/*
 * Ceiling: write() header + frame on a TAP fd from one thread, @n frames
 * from the same 256 guest slots the device sends from (the lane's), in
 * the same order, each numbered first as the driver numbers them.
 * Returns the frames the TAP took.
 */
static unsigned long tx_loop(struct nd *nd, const struct lane *ln, int fd,
			     size_t len, unsigned long n)
{
	struct tx_layout l = tx_layout(nd, ln, len);
	unsigned long i, sent = 0;

	for (i = 0; i < n; i++) {
		tx_produce(nd, &l, i % ND_QSZ, i);
		if (syscall(SYS_write, fd, tx_slot(nd, &l, i % ND_QSZ),
			    ND_HDR + len) == (long)(ND_HDR + len))
			sent++;
		else if (errno != EAGAIN && errno != ENOBUFS)
			break;
	}
	return sent;
}

/*
 * Sleep on the lane's interrupt until the device has used @n more
 * entries (EVENT_IDX used_event, as virtqueue_enable_cb_delayed() sets
 * it), at most 200 ms; false on the time-out. A guest's vCPU halts
 * there too.
 */
static bool wait_used(struct vq_driver *d, int irqfd, uint16_t n)
{
	struct pollfd pfd = { .fd = irqfd, .events = POLLIN };
	uint64_t v;

	vq_driver_set_used_event(d, (uint16_t)(d->last_used + n - 1));
	if (vq_driver_used_pending(d) >= n)
		return true;
	if (poll(&pfd, 1, 200) <= 0)
		return false;
	if (read(irqfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return false;
	return true;
}

/*
 * The device, driven as a guest's TX queue is (virtio-net's start_xmit
 * with NAPI TX): take back what the device used, add every frame there
 * is room for (each numbered), publish and kick once for all of them
 * (the device asks for kicks only when it ran dry), and when the ring is
 * full, sleep on the interrupt until half of what is out came back. The
 * frames go from the 256 slots in turn, as the ceiling's do (taking the
 * slot of the descriptor the driver reuses would keep a few slots hot
 * in cache on one path and not on the other); a slot still in flight is
 * not written. Returns the frames used by the device, its time in *@end.
 */
static unsigned long tx_drive(struct nd *nd, const struct lane *ln,
			      size_t len, unsigned long n, uint64_t *end)
{
	struct tx_layout l = tx_layout(nd, ln, len);
	struct vq_driver *d = &nd->drv[ln->txq];
	unsigned long done = 0, sent = 0;
	uint16_t slot_of[ND_QSZ];
	bool busy[ND_QSZ] = { false };
	int head;

	while (done < n) {
		unsigned int k = 0, added = 0;

		while ((head = vq_driver_get_used(d, NULL)) >= 0) {
			busy[slot_of[head % ND_QSZ]] = false;
			k++;
		}
		done += k;
		while (sent < n && d->num_free && !busy[sent % ND_QSZ]) {
			unsigned int slot = sent % ND_QSZ;
			struct vq_buf b = {
				.gpa = l.base + (uint64_t)slot * l.stride,
				.len = ND_HDR + len,
			};

			tx_produce(nd, &l, slot, sent);
			head = vq_driver_add(d, &b, 1, NULL, 0, false);
			if (head < 0)
				break;
			slot_of[head] = slot;
			busy[slot] = true;
			sent++;
			added++;
		}
		if (added)
			nd_kick(nd, ln->txq);
		if (k || added || done == sent)
			continue;
		if (!wait_used(d, ln->irqfd, (sent - done + 1) / 2))
			break;
	}
	*end = nd_now_ns();
	return done;
}

/* The window counts only if the device says every frame went out. */
static bool tx_counted(struct nd *nd, size_t len, uint64_t frames0,
		       unsigned long done)
{
	uint64_t sent = nd_counter(nd, "tx_frames") - frames0;

	if (sent == done)
		return true;
	fprintf(stderr, "net_bench: TX %zu B: %lu frames used, device sent %llu\n",
		len, done, (unsigned long long)sent);
	return false;
}

/*
 * Fill the TAP's queue(s) with @n frames through a packet socket on it,
 * the NR_FLOWS flows in turn. Returns how many went, each lane's share
 * in @share[] (if not NULL).
 */
static unsigned long tap_fill(int ps, size_t len, unsigned long n,
			      unsigned long *share)
{
	static uint8_t f[NR_FLOWS][1600];
	unsigned long i;

	for (i = 0; i < NR_FLOWS; i++)
		flow_frame(f[i], len, i, NULL);
	for (i = 0; i < n; i++) {
		if (send(ps, f[i % NR_FLOWS], len, 0) < 0)
			break;
		if (share)
			share[flow_lane(i % NR_FLOWS)]++;
	}
	return i;
}

/*
 * Is @p (@got bytes, header first) a frame tap_fill() sent: 1, 0 for
 * another frame (the kernel's own, IPv6 neighbour discovery on the TAP:
 * not counted), -1 for one of ours that came wrong.
 */
static int rx_frame_ok(const uint8_t *p, long got, size_t len)
{
	if (got < (long)ND_HDR + 36 || p[ND_HDR + 12] != 0x08 ||
	    p[ND_HDR + 13] != 0x00 || p[ND_HDR + 14 + 9] != IPPROTO_UDP)
		return 0;
	return got == (long)(ND_HDR + len) ? 1 : -1;
}

/*
 * Ceiling: read() on a TAP fd from one thread until the queue is empty,
 * into the same 256 guest buffers the device fills (the lane's), in the
 * same order, each frame checked as the driver checks it. Returns the
 * frames, or -1 if one came wrong; the last one's time in *@end.
 */
static long rx_loop(struct nd *nd, const struct lane *ln, int fd, size_t len,
		    uint64_t *end)
{
	unsigned long i = 0, k = 0;

	*end = nd_now_ns();
	for (;; k++) {
		uint64_t gpa = nd->buf[ln->rxq] + (uint64_t)(k % ND_QSZ) *
			       ND_RXBUF;
		uint8_t *p = vq_guest_ptr(&nd->g, gpa, ND_RXBUF);
		long got = syscall(SYS_read, fd, p, ND_RXBUF);
		int ok;

		if (got <= 0)
			break;
		ok = rx_frame_ok(p, got, len);
		if (ok < 0)
			return -1;
		i += ok;
		*end = nd_now_ns();
	}
	return i;
}

/*
 * RX buffers are posted only once the TAP is full; then, as a NAPI
 * guest: take every used buffer (length, num_buffers and the frame's
 * type checked), refill as many, kick if the device asks, and with
 * nothing used sleep on the interrupt until half of the posted buffers
 * are used (as NAPI, busy, keeps interrupts off: each one costs the
 * worker an eventfd write and a wakeup). Until @want frames are in, or
 * none came for 200 ms (TAP drops).
 * Returns the frames, -1 if one came wrong; the last one's time in
 * *@end.
 */
static long rx_drive(struct nd *nd, const struct lane *ln, size_t len,
		     unsigned long want, uint64_t *end)
{
	struct vq_driver *d = &nd->drv[ln->rxq];
	unsigned long got = 0, bad = 0;

	*end = nd_now_ns();
	nd_rx_fill(nd, ln->rxq, ND_QSZ, ND_RXBUF);
	while (got < want) {
		unsigned int k = 0, w;
		uint32_t ulen;
		int head;

		while ((head = vq_driver_get_used(d, &ulen)) >= 0) {
			const uint8_t *p = vq_guest_ptr(&nd->g,
							nd->buf[ln->rxq] +
							(uint64_t)head * ND_RXBUF,
							ND_RXBUF);
			struct virtio_net_hdr_v1 h;
			int ok = rx_frame_ok(p, ulen, len);

			memcpy(&h, p, sizeof(h));
			if (ok < 0 || le16toh(h.num_buffers) != 1)
				bad++;
			got += ok > 0;
			k++;
		}
		if (k) {
			*end = nd_now_ns();
			nd_rx_fill(nd, ln->rxq, k, ND_RXBUF);
			continue;
		}
		w = (ND_QSZ - d->num_free) / 2;
		if (w > want - got)
			w = want - got;
		if (!wait_used(d, ln->irqfd, w ? w : 1) &&
		    vq_driver_used_pending(d) == 0)
			break;
	}
	if (bad) {
		fprintf(stderr, "net_bench: RX %zu B: %lu of %lu frames wrong\n",
			len, bad, got);
		return -1;
	}
	return got;
}

/*
 * Before a multi-pair RX window, lane k sends the flows flow_lane()
 * gives it, from its queue: a multiqueue TAP steers a flow to the queue
 * that last sent it (tun's flow table, kept 3 s), so each lane knows
 * its share of the frames to come. The ceiling's loops write them on
 * their queue fds (@fds), the device's drivers on their TX queues.
 */
static int flows_learn(struct nd *nd, const int *fds, size_t len)
{
	uint64_t frames0 = fds ? 0 : nd_counter(nd, "tx_frames");
	uint64_t end = nd_now_ns() + 1000000000ULL;
	uint8_t f[ND_HDR + 1600];
	unsigned int i;

	memset(f, 0, ND_HDR);
	for (i = 0; i < NR_FLOWS; i++) {
		const struct lane *ln = &lanes[flow_lane(i)];

		flow_frame(f + ND_HDR, len, i, NULL);
		if (fds && write(fds[flow_lane(i)], f, ND_HDR + len) < 0)
			return -errno;
		if (!fds && nd_tx_add(nd, ln->txq, NULL, f + ND_HDR, len) < 0)
			return -ENOSPC;
	}
	if (fds)
		return 0;
	for (i = 0; i < NR_LANES; i++)
		nd_kick(nd, lanes[i].txq);
	while (nd_counter(nd, "tx_frames") - frames0 < NR_FLOWS) {
		if (nd_now_ns() > end)
			return -ETIMEDOUT;
		usleep(100);
	}
	for (i = 0; i < NR_LANES; i++)
		nd_tx_reclaim(nd, lanes[i].txq);
	return 0;
}

/* NET_BENCH_SIZES / NET_BENCH_DIRS / NET_BENCH_WHO: run only these. */
static bool want_size(size_t len)
{
	const char *e = getenv("NET_BENCH_SIZES");
	char *end;

	if (!e)
		return true;
	while (*e) {
		if (strtoul(e, &end, 0) == len)
			return true;
		if (end == e)
			return false;
		e = *end ? end + 1 : end;
	}
	return false;
}

static bool want_dir(const char *dir)
{
	const char *e = getenv("NET_BENCH_DIRS");

	return !e || strstr(e, dir);
}

static bool want_who(unsigned int c)
{
	const char *e = getenv("NET_BENCH_WHO");

	return !e || strchr(e, "abcABC"[c]);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void print_lat(const char *what, uint64_t *lat, unsigned int cycles)
{
	qsort(lat, cycles, sizeof(*lat), cmp_u64);
	printf("%s %u cycles: p50 %.1f us  p99 %.1f us  max %.1f us\n",
	       what, cycles, lat[cycles / 2] / 1e3,
	       lat[cycles * 99 / 100] / 1e3, lat[cycles - 1] / 1e3);
}

/* Floor: close() a TAP fd and TUNSETIFF it again, nothing else. */
static void reopen_floor(unsigned int cycles)
{
	uint64_t *lat = calloc(cycles, sizeof(*lat));
	unsigned int i;
	int fd;

	if (!lat)
		return;
	fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	for (i = 0; i < cycles && fd >= 0; i++) {
		uint64_t t0 = nd_now_ns();

		close(fd);
		fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
		lat[i] = nd_now_ns() - t0;
	}
	if (fd >= 0)
		close(fd);
	if (i == cycles)
		print_lat("plain close+TUNSETIFF", lat, cycles);
	free(lat);
}

/*
 * Destroy with TX running, create again on the same TAP, activate; each
 * step timed on its own too.
 */
static int reopen_latency(struct nd *nd, unsigned int cycles)
{
	uint64_t *lat = calloc(4 * (size_t)cycles, sizeof(*lat));
	uint64_t *put = lat + cycles, *cre = put + cycles, *act = cre + cycles;
	unsigned int i, k;
	int ret = 0;

	if (!lat)
		return -ENOMEM;
	for (i = 0; i < cycles; i++) {
		uint64_t t0, t1, t2;
		uint8_t f[64];

		nd_rx_fill(nd, 0, 64, ND_RXBUF);
		nd_frame(f, sizeof(f), nd->mac, i);
		for (k = 0; k < 64; k++)
			nd_tx_add(nd, 1, NULL, f, sizeof(f));
		nd_kick(nd, 1);
		t0 = nd_now_ns();
		vdev_device_put(nd->dev);
		nd->dev = NULL;
		t1 = nd_now_ns();
		ret = nd_create(nd, TAP, 1);
		t2 = nd_now_ns();
		if (!ret)
			ret = nd_activate(nd, 1, FEAT);
		lat[i] = nd_now_ns() - t0;
		put[i] = t1 - t0;
		cre[i] = t2 - t1;
		act[i] = lat[i] - put[i] - cre[i];
		if (ret) {
			fprintf(stderr, "cycle %u: %s\n", i, strerror(-ret));
			break;
		}
	}
	if (i == cycles) {
		print_lat("reset+reopen", lat, cycles);
		print_lat("  of which destroy", put, cycles);
		print_lat("  of which create", cre, cycles);
		print_lat("  of which activate", act, cycles);
	}
	free(lat);
	return ret;
}

/*
 * The contenders of each measurement, run in turn: (a)-(c) on one queue
 * pair, (A)-(C) the same on the NR_LANES pairs of a multiqueue TAP with
 * a driver thread per pair, each pair's driver and worker on a CPU of
 * their own (NET_BENCH_PAIRS=1 leaves (A)-(C) out).
 */
enum contender { C_CEIL, C_SYSCALL, C_URING, C_CEIL_MQ, C_SYSCALL_MQ,
		 C_URING_MQ, NR_CONTENDERS };

_Static_assert(NR_LANES == 2, "contender_names say 2");

static const char *const contender_names[NR_CONTENDERS] = {
	"(a) write/read ceiling", "(b) vdev syscall", "(c) vdev io_uring",
	"(A) 2 loops, 2 queues", "(B) syscall, 2 pairs",
	"(C) io_uring, 2 pairs",
};

static bool contender_mq(enum contender c)
{
	return c >= C_CEIL_MQ;
}

static bool contender_ceil(enum contender c)
{
	return c == C_CEIL || c == C_CEIL_MQ;
}

/* The single-queue TAP, the multiqueue one, a packet socket on each. */
static const char *const taps[2] = { TAP, TAP_MQ };
static int tap_ps[2] = { -1, -1 };

/*
 * The ceiling's fd is set up as the device sets up its own: non-blocking
 * (a blocking tun fd costs 35-45 ns more per write here), the same
 * virtio-net header size, offloads off (TUNSETOFFLOAD 0, what activate
 * does for FEAT); its loop uses syscall(2) as the device's plain build
 * does (glibc's write() toggles async cancellation around the call).
 * On the multiqueue TAP each call attaches one more queue.
 */
static int ceiling_fd(bool mq)
{
	int fd = nt_tap_attach(taps[mq], NT_TAP_FLAGS |
			       (mq ? IFF_MULTI_QUEUE : 0));

	if (fd < 0)
		return fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ioctl(fd, TUNSETVNETHDRSZ, &(int){ ND_HDR });
	ioctl(fd, TUNSETOFFLOAD, 0);
	return fd;
}

/*
 * Wait until @tap, whose first queue was just attached, is running:
 * its qdisc drops what is sent until the carrier-on event is processed,
 * which a link query does at once (the device's activate makes one).
 */
static int tap_running(const char *tap)
{
	uint64_t end = nd_now_ns() + 1000000000ULL;
	struct vdev_nl_link_state st;
	int ret;

	do {
		ret = vdev_nl_link_state(tap, &st);
		if (ret)
			return ret;
		if (st.flags & IFF_RUNNING)
			return 0;
		usleep(1000);
	} while (nd_now_ns() < end);
	fprintf(stderr, "net_bench: %s not running 1 s after its queue came\n",
		tap);
	return -ETIMEDOUT;
}

static void pin(pid_t tid, unsigned int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(tid, sizeof(set), &set);
}

/*
 * Pin the device's workers: with @pair < 0 every "vdev-*" thread to CPU
 * @cpu, else the worker of queue pair @pair ("vdev-netN-q<pair>").
 */
static void pin_workers(int pair, unsigned int cpu)
{
	struct dirent *t;
	char sfx[16];
	DIR *d;

	snprintf(sfx, sizeof(sfx), "-q%d\n", pair);
	d = opendir("/proc/self/task");
	if (!d)
		return;
	while ((t = readdir(d))) {
		char path[300], comm[32] = "";
		size_t n;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 t->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "vdev-", 5)) {
			n = strlen(comm);
			if (pair < 0 || (n > strlen(sfx) &&
					 !strcmp(comm + n - strlen(sfx), sfx)))
				pin(atoi(t->d_name), cpu);
		}
		fclose(f);
	}
	closedir(d);
}

/*
 * (a)-(c) run as one lane of (A)-(C) does: the driver (or the ceiling's
 * loop) and the device's workers on CPU 0. NET_BENCH_CPUS=d,w puts the
 * driver (and the loop) on CPU d, the workers on CPU w instead; =any
 * leaves them to the scheduler (on an idle 2-CPU machine it moves the
 * worker between the CPUs, and the figures with it).
 */
static void place_threads(bool device)
{
	const char *e = getenv("NET_BENCH_CPUS");
	unsigned int dc = lanes[0].cpu, wc = lanes[0].cpu;

	if (e && !strcmp(e, "any"))
		return;
	if (e && sscanf(e, "%u,%u", &dc, &wc) != 2)
		dc = wc = lanes[0].cpu;
	pin(0, dc);
	if (device)
		pin_workers(-1, wc);
}

/* One lane's driver (or loop) thread of a multi-pair window. */
struct lane_run {
	struct nd *nd;
	const struct lane *ln;
	int fd;				/* the ceiling's queue fd, or -1 */
	bool tx;
	size_t len;
	unsigned long n;		/* TX: frames to send */
	unsigned long want;		/* RX: frames steered to the lane */
	pthread_barrier_t *start;
	long done;			/* frames, -1 on a wrong one */
	uint64_t end, cpu, sleeps;
	pthread_t thread;
};

static void *lane_main(void *arg)
{
	struct lane_run *r = arg;
	uint64_t cpu, sleeps;

	pin(0, r->ln->cpu);
	pthread_barrier_wait(r->start);
	cpu = thread_cpu_ns();
	sleeps = thread_sleeps();
	if (r->fd >= 0 && r->tx) {
		r->done = tx_loop(r->nd, r->ln, r->fd, r->len, r->n);
		r->end = nd_now_ns();
	} else if (r->fd >= 0) {
		r->done = rx_loop(r->nd, r->ln, r->fd, r->len, &r->end);
	} else if (r->tx) {
		r->done = tx_drive(r->nd, r->ln, r->len, r->n, &r->end);
	} else {
		r->done = rx_drive(r->nd, r->ln, r->len, r->want, &r->end);
	}
	r->cpu = thread_cpu_ns() - cpu;
	r->sleeps = thread_sleeps() - sleeps;
	return NULL;
}

/*
 * An RX window that got fewer frames than went to the TAP (the TAP or
 * the stack dropped some on the way in) counts what came, and says so.
 */
static void rx_lost(size_t len, const char *who, unsigned long got,
		    unsigned long want)
{
	if (got < want)
		fprintf(stderr, "net_bench: RX %zu B: %s: %lu of %lu frames lost\n",
			len, who, want - got, want);
}

/*
 * A window on the NR_LANES lanes at once, a thread each: the ceiling's
 * (@fds: a queue fd per lane) or the device's (@fds NULL). Frames of all
 * lanes over the time from the start to the last lane's end; CPU of
 * the lane threads and of the workers.
 */
static struct result run_lanes(struct nd *nd, const int *fds, bool tx,
			       size_t len)
{
	struct lane_run runs[NR_LANES];
	unsigned long want[NR_LANES] = { 0 }, frames = 0;
	uint64_t frames0 = 0, end = 0, drv = 0, drv_sw = 0, sw = 0;
	pthread_barrier_t start;
	struct result r = { 0 };
	struct cpu_mark m;
	bool ok = true;
	unsigned int i;
	int ret;

	if (!tx) {
		ret = flows_learn(nd, fds, len);
		if (ret) {
			fprintf(stderr, "net_bench: RX %zu B: the lanes could not send their flows: %s\n",
				len, strerror(-ret));
			return r;
		}
		tap_fill(tap_ps[1], len, nr_frames / 5, want);
	} else if (tx_slots_fill(nd, NR_LANES, len)) {
		return r;
	} else if (!fds) {
		frames0 = nd_counter(nd, "tx_frames");
	}
	if (pthread_barrier_init(&start, NULL, NR_LANES + 1))
		return r;
	for (i = 0; i < NR_LANES; i++) {
		runs[i] = (struct lane_run){
			.nd = nd, .ln = &lanes[i], .fd = fds ? fds[i] : -1,
			.tx = tx, .len = len, .n = nr_frames / NR_LANES,
			.want = want[i], .start = &start,
		};
		ret = pthread_create(&runs[i].thread, NULL, lane_main, &runs[i]);
		if (ret) {
			/* The others wait at the barrier for good. */
			fprintf(stderr, "net_bench: no thread for lane %u: %s\n",
				i, strerror(ret));
			exit(1);
		}
	}
	mark(&m);
	pthread_barrier_wait(&start);
	for (i = 0; i < NR_LANES; i++) {
		pthread_join(runs[i].thread, NULL);
		if (runs[i].done < 0)
			ok = false;
		else
			frames += runs[i].done;
		/* Fewer is the TAP dropping (as on one pair), more is not. */
		if (!tx && runs[i].done > (long)want[i]) {
			fprintf(stderr, "net_bench: RX %zu B: lane %u of the %s took %ld frames, %lu were steered to it\n",
				len, i, fds ? "loops" : "device", runs[i].done,
				want[i]);
			ok = false;
		} else if (!tx && runs[i].done >= 0) {
			rx_lost(len, fds ? "a lane of the loops" :
				"a lane of the device", runs[i].done, want[i]);
		}
		if (runs[i].end > end)
			end = runs[i].end;
		drv += runs[i].cpu;
		drv_sw += runs[i].sleeps;
	}
	pthread_barrier_destroy(&start);
	if (!ok || (tx && !fds && !tx_counted(nd, len, frames0, frames)))
		return rate(0, len, 1);
	r = rate(frames, len, end - m.t0);
	if (frames) {
		r.drv_ns = (double)drv / frames;
		r.dev_ns = (double)(dev_cpu_ns(&sw) - m.dev) / frames;
		r.wakeups = (double)(sw - m.sw) * 1000 / frames;
		r.drv_sleeps = (double)drv_sw * 1000 / frames;
	}
	return r;
}

/*
 * A window of (a), the loop on @fd, or of (b) or (c) (@fd < 0), the
 * device's one pair driven from this thread.
 */
static struct result run_single(struct nd *nd, int fd, bool tx, size_t len)
{
	struct result r0 = { 0 };
	uint64_t frames0 = 0, end;
	unsigned long want;
	struct cpu_mark m;
	long n;

	if (tx) {
		if (tx_slots_fill(nd, 1, len))
			return r0;
		if (fd < 0)
			frames0 = nd_counter(nd, "tx_frames");
		mark(&m);
		if (fd < 0) {
			n = tx_drive(nd, &lanes[0], len, nr_frames, &end);
			if (!tx_counted(nd, len, frames0, n))
				return r0;
		} else {
			n = tx_loop(nd, &lanes[0], fd, len, nr_frames);
			end = nd_now_ns();
		}
		return rate_cpu(n, len, end, &m);
	}
	want = tap_fill(tap_ps[0], len, nr_frames / 5, NULL);
	mark(&m);
	if (fd < 0)
		n = rx_drive(nd, &lanes[0], len, want, &end);
	else
		n = rx_loop(nd, &lanes[0], fd, len, &end);
	if (n < 0)
		return r0;
	rx_lost(len, fd < 0 ? "the device" : "the loop", n, want);
	return rate_cpu(n, len, end, &m);
}

/*
 * Interrupts of a multi-pair device: one eventfd per lane, for both of
 * its queues (its driver waits on one at a time); the control queue's
 * are not waited for (nd_ctrl() polls).
 */
struct lane_irq {
	struct vdev_interrupt irq;
	int fd[ND_MAXQ];
};

static struct lane_irq lane_irq;

static int lane_irq_trigger(struct vdev_interrupt *irq,
			    enum vdev_irq_type type, unsigned int queue)
{
	struct lane_irq *li = container_of(irq, struct lane_irq, irq);
	uint64_t one = 1;

	if (type != VDEV_IRQ_QUEUE || queue >= ND_MAXQ || li->fd[queue] < 0)
		return 0;
	if (write(li->fd[queue], &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int lane_irq_notifier(struct vdev_interrupt *irq,
			     enum vdev_irq_type type, unsigned int queue)
{
	struct lane_irq *li = container_of(irq, struct lane_irq, irq);

	if (type != VDEV_IRQ_QUEUE || queue >= ND_MAXQ || li->fd[queue] < 0)
		return -ENOENT;
	return li->fd[queue];
}

/* Static: nothing to free. */
static void lane_irq_release(struct vdev_interrupt *irq)
{
}

static const struct vdev_interrupt_ops lane_irq_ops = {
	.trigger = lane_irq_trigger,
	.notifier = lane_irq_notifier,
	.release = lane_irq_release,
};

static int lane_irq_init(void)
{
	unsigned int i;

	vdev_interrupt_init(&lane_irq.irq, &lane_irq_ops);
	for (i = 0; i < ND_MAXQ; i++)
		lane_irq.fd[i] = -1;
	for (i = 0; i < NR_LANES; i++) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd < 0)
			return -errno;
		lane_irq.fd[2 * i] = fd;
		lane_irq.fd[2 * i + 1] = fd;
	}
	return 0;
}

static void lane_irq_fini(void)
{
	unsigned int i;

	for (i = 0; i < NR_LANES; i++)
		if (lane_irq.fd[2 * i] >= 0)
			close(lane_irq.fd[2 * i]);
}

/*
 * Lanes for (a)-(c) (lane 0, on @nd's one interrupt) or for (A)-(C)
 * (every lane, its own interrupt, lane i on CPU i).
 */
static void lanes_set(struct nd *nd, bool mq)
{
	unsigned int i;

	for (i = 0; i < NR_LANES; i++) {
		lanes[i].rxq = 2 * i;
		lanes[i].txq = 2 * i + 1;
		lanes[i].irqfd = mq ? lane_irq.fd[2 * i] : nd->irqfd;
		lanes[i].cpu = i % (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	}
}

/* Device on all NR_LANES pairs: MQ acked, and every pair turned on. */
static int activate_mq(struct nd *nd, uint64_t features)
{
	uint16_t pairs = htole16(NR_LANES);
	int ret;

	ret = nd_activate(nd, NR_LANES, features | ND_F_MQ);
	if (ret)
		return ret;
	if (nd_ctrl(nd, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
		    &pairs, sizeof(pairs)) != VIRTIO_NET_OK) {
		fprintf(stderr, "net_bench: MQ_VQ_PAIRS_SET %u refused\n",
			NR_LANES);
		return -EIO;
	}
	return 0;
}

/* One window of @c for TX or RX at @len; pps 0 on failure. */
static struct result run_one(struct nd *nd, enum contender c, bool tx,
			     size_t len)
{
	bool mq = contender_mq(c);
	uint64_t feat = FEAT | (len > ND_TXBUF - ND_HDR ? ND_F_HOST_TSO : 0);
	struct vdev_interrupt *irq = nd->irq;
	struct result r = { 0 };
	int fd[NR_LANES], ret;
	unsigned int i;

	lanes_set(nd, mq);
	if (contender_ceil(c)) {
		for (i = 0; i < (mq ? NR_LANES : 1); i++) {
			fd[i] = ceiling_fd(mq);
			if (fd[i] < 0)
				goto out_close;
		}
		if (tap_running(taps[mq]))
			goto out_close;
		if (mq) {
			r = run_lanes(nd, fd, tx, len);
		} else {
			place_threads(false);
			r = run_single(nd, fd[0], tx, len);
		}
out_close:
		while (i--)
			close(fd[i]);
		return r;
	}
	nd->io = c == C_URING || c == C_URING_MQ ? VDEV_NET_IO_URING :
						   VDEV_NET_IO_SYSCALL;
	if (nd_create(nd, taps[mq], mq ? NR_LANES : 1))
		return r;
	if (mq) {
		nd->irq = &lane_irq.irq;
		ret = activate_mq(nd, feat);
		if (!ret) {
			for (i = 0; i < NR_LANES; i++)
				pin_workers(i, lanes[i].cpu);
			r = run_lanes(nd, NULL, tx, len);
		}
	} else {
		ret = nd_activate(nd, 1, feat);
		if (!ret) {
			place_threads(true);
			r = run_single(nd, -1, tx, len);
		}
	}
	nd_destroy(nd);
	nd->irq = irq;
	return r;
}

static void print_result(bool tx, size_t len, enum contender c,
			 const struct result *r)
{
	bool ceil = contender_ceil(c);

	printf("%s %5zu B  %-22s %9.0f pps %6.2f Gbit/s  CPU ns/frame: %s %5.0f  driver %5.0f  sleeps/1000: worker %.1f driver %.1f\n",
	       tx ? "TX" : "RX", len, contender_names[c], r->pps, r->gbps,
	       ceil ? "loop  " : "worker", ceil ? r->drv_ns : r->dev_ns,
	       ceil ? 0 : r->drv_ns, r->wakeups, ceil ? 0 : r->drv_sleeps);
}

/*
 * Best of @rounds windows for each contender, interleaved: round k runs
 * them in the order k, k+1, ... (mod their number), so that none always
 * goes first (a fresh TAP, a cold cache) or last.
 */
static void measure(struct nd *nd, bool tx, size_t len, unsigned int rounds,
		    bool mq)
{
	struct result best[NR_CONTENDERS] = { 0 };
	unsigned int k, j, nc = mq ? NR_CONTENDERS : C_CEIL_MQ;
	const struct result *b = best;

	for (k = 0; k < rounds; k++)
		for (j = 0; j < nc; j++) {
			enum contender c = (k + j) % nc;
			struct result r;

			if (!want_who(c))
				continue;
			r = run_one(nd, c, tx, len);
			if (r.pps > best[c].pps)
				best[c] = r;
		}
	for (j = 0; j < C_CEIL_MQ; j++)
		print_result(tx, len, j, &best[j]);
	printf("%s %5zu B  ratios (c)/(a) %.2f  (c)/(b) %.2f  (b)/(a) %.2f\n",
	       tx ? "TX" : "RX", len, b[C_URING].pps / b[C_CEIL].pps,
	       b[C_URING].pps / b[C_SYSCALL].pps,
	       b[C_SYSCALL].pps / b[C_CEIL].pps);
	if (mq) {
		for (j = C_CEIL_MQ; j < NR_CONTENDERS; j++)
			print_result(tx, len, j, &best[j]);
		printf("%s %5zu B  ratios, 2 pairs: (C)/(a) %.2f  (C)/(A) %.2f  (C)/(B) %.2f  (C)/(c) %.2f\n",
		       tx ? "TX" : "RX", len, b[C_URING_MQ].pps / b[C_CEIL].pps,
		       b[C_URING_MQ].pps / b[C_CEIL_MQ].pps,
		       b[C_URING_MQ].pps / b[C_SYSCALL_MQ].pps,
		       b[C_URING_MQ].pps / b[C_URING].pps);
	}
	fflush(stdout);
}

/* A packet socket bound to @tap: what feeds its queue(s) for RX. */
static int tap_packet_socket(const char *tap)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	int ps, ifindex;

	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (ps < 0 || nlh_ifindex(tap, &ifindex)) {
		perror("packet socket");
		return -1;
	}
	sll.sll_ifindex = ifindex;
	if (bind(ps, (struct sockaddr *)&sll, sizeof(sll))) {
		perror("packet socket");
		close(ps);
		return -1;
	}
	return ps;
}

/* Both TAPs up with long queues, a packet socket on each. */
static int taps_setup(void)
{
	unsigned int mq;
	int ret = 0;

	for (mq = 0; !ret && mq < 2; mq++) {
		ret = nt_tap_create(taps[mq], mq);
		if (!ret)
			ret = vdev_nl_link_set_up(taps[mq], true);
		if (!ret)
			ret = nlh_link_set_txqlen(taps[mq], 200000);
		if (!ret) {
			tap_ps[mq] = tap_packet_socket(taps[mq]);
			if (tap_ps[mq] < 0)
				ret = -EIO;
		}
	}
	return ret;
}

int main(void)
{
	static const size_t sizes[] = { 64, 1500, GSO_LEN };
	unsigned int cycles = 1000, rounds = 3, pairs = NR_LANES, i;
	struct nd nd;
	int ret;
	bool mq;

	if (getenv("NET_BENCH_FRAMES"))
		nr_frames = strtoul(getenv("NET_BENCH_FRAMES"), NULL, 0);
	if (getenv("NET_BENCH_CYCLES"))
		cycles = atoi(getenv("NET_BENCH_CYCLES"));
	if (getenv("NET_BENCH_ROUNDS"))
		rounds = atoi(getenv("NET_BENCH_ROUNDS"));
	if (getenv("NET_BENCH_PAIRS"))
		pairs = atoi(getenv("NET_BENCH_PAIRS"));
	if (pairs != 1 && pairs != NR_LANES) {
		fprintf(stderr, "net_bench: NET_BENCH_PAIRS must be 1 or %u\n",
			NR_LANES);
		return 1;
	}
	mq = pairs > 1;
	nd_init(&nd);
	ret = nt_enter_netns();
	if (!ret)
		ret = taps_setup();
	if (!ret)
		ret = lane_irq_init();
	if (!ret)
		ret = nd_guest(&nd);
	for (i = 0; !ret && i < NR_LANES; i++) {
		lanes[i].gso = vq_guest_alloc(&nd.g, 0,
					      (uint64_t)ND_QSZ * TX_GSO_STRIDE,
					      4096);
		if (!lanes[i].gso)
			ret = -ENOMEM;
	}
	if (ret) {
		fprintf(stderr, "net_bench: setup failed: %d\n", ret);
		return 1;
	}
	printf("# net_bench: %lu frames per TX window, RX drains %lu queued frames; best of %u interleaved windows\n",
	       nr_frames, nr_frames / 5, rounds);
	if (mq)
		printf("# (A)-(C): %u queue pairs of a multiqueue TAP, a driver thread each, pair i's threads on CPU i %% %ld\n",
		       NR_LANES, sysconf(_SC_NPROCESSORS_ONLN));

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		if (!want_size(sizes[i]))
			continue;
		if (want_dir("tx"))
			measure(&nd, true, sizes[i], rounds, mq);
		if (!want_dir("rx"))
			continue;
		if (sizes[i] == GSO_LEN)
			printf("RX %5zu B  not measured: a packet socket's GSO frames are SKB_GSO_DODGY, which tun segments\n",
			       sizes[i]);
		else
			measure(&nd, false, sizes[i], rounds, mq);
	}
	if (getenv("NET_BENCH_NO_REOPEN"))
		goto out;

	/*
	 * The reopen cycles on a TAP as a VMM has it: every TUNSETIFF
	 * allocates (and zeroes) a queue of txqueuelen entries, which at
	 * 200000 costs about 80 us of its own, in the floor as much as in
	 * the device.
	 */
	if (nlh_link_set_txqlen(TAP, 1000))
		return 1;
	reopen_floor(cycles);
	for (i = 0; i < 2; i++) {
		nd.io = i ? VDEV_NET_IO_URING : VDEV_NET_IO_SYSCALL;
		printf("# reopen, %s TAP I/O\n", nd_io_name(nd.io));
		if (nd_create(&nd, TAP, 1) || nd_activate(&nd, 1, FEAT))
			return 1;
		ret = reopen_latency(&nd, cycles);
		if (nd.dev)
			nd_destroy(&nd);
		if (ret)
			break;
	}
out:
	nd_guest_fini(&nd);
	lane_irq_fini();
	close(tap_ps[0]);
	close(tap_ps[1]);
	return ret ? 1 : 0;
}
