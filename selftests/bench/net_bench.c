// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net throughput and reset latency, each next to a ceiling
 * measured in the same run:
 *
 *   TX  driver -> vdev-net -> TAP    vs  (a) write() loop on a TAP fd
 *   RX  TAP -> vdev-net -> driver    vs  (a) read() loop on a TAP fd
 *
 * with vdev on (b) its syscall-per-frame TAP I/O and (c) its io_uring
 * TAP I/O, for 64-byte and 1500-byte frames and (TX) 64 KiB TSO frames:
 * the three in interleaved windows, best of NET_BENCH_ROUNDS, the
 * ceiling's fd set up like the device's (ceiling_fd()). Then destroy
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
 *   NET_BENCH_WHO=abc    NET_BENCH_NO_REOPEN=1: run only part of it
 *   NET_BENCH_CPUS=d,w   driver (and loop) on CPU d, workers on CPU w
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
#define TX_GSO_STRIDE	(68 * 1024)

static uint64_t tx_gso_base;

struct tx_layout {
	uint64_t base;
	size_t stride;
	size_t seq_off;		/* where the sequence number goes */
};

static struct tx_layout tx_layout(struct nd *nd, size_t len)
{
	if (len > ND_TXBUF - ND_HDR)
		return (struct tx_layout){ tx_gso_base, TX_GSO_STRIDE,
					   ND_HDR + 14 + 20 + 4 };
	return (struct tx_layout){ nd->buf[1], ND_TXBUF, ND_HDR + 14 };
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
 * A 64 KiB TCP/IPv4 frame as a guest's TSO hands it over: GSO header,
 * CHECKSUM_PARTIAL (the TCP checksum field holds the pseudo-header sum),
 * a valid IP header checksum.
 */
static void gso_frame(uint8_t *p)
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
	memset(f, 0xff, 6);
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
	t[0] = 1234 >> 8;
	t[1] = 1234 & 0xff;
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

static int tx_slots_fill(struct nd *nd, const struct tx_layout *l,
			 size_t len)
{
	unsigned int i;

	for (i = 0; i < ND_QSZ; i++) {
		uint8_t *p = tx_slot(nd, l, i);

		if (!p)
			return -EFAULT;
		if (len > ND_TXBUF - ND_HDR) {
			gso_frame(p);
			continue;
		}
		memset(p, 0, ND_HDR);
		nd_frame(p + ND_HDR, len, (const uint8_t *)"\x02\0\0\0\0\1",
			 0);
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
 * Ceiling: write() header + frame on a TAP fd from one thread, from the
 * same 256 guest slots the device sends from, in the same order, each
 * numbered first as the driver numbers them. Only frames the TAP took
 * count.
 */
static struct result tx_ceiling(struct nd *nd, int fd, size_t len)
{
	struct tx_layout l = tx_layout(nd, len);
	unsigned long i, sent = 0;
	struct cpu_mark m;

	if (tx_slots_fill(nd, &l, len))
		return rate(0, len, 1);
	mark(&m);
	for (i = 0; i < nr_frames; i++) {
		tx_produce(nd, &l, i % ND_QSZ, i);
		if (syscall(SYS_write, fd, tx_slot(nd, &l, i % ND_QSZ),
			    ND_HDR + len) == (long)(ND_HDR + len))
			sent++;
		else if (errno != EAGAIN && errno != ENOBUFS)
			break;
	}
	return rate_cpu(sent, len, nd_now_ns(), &m);
}

/*
 * Sleep on the interrupt until the device has used @n more entries
 * (EVENT_IDX used_event, as virtqueue_enable_cb_delayed() sets it), at
 * most 200 ms; false on the time-out. A guest's vCPU halts there too.
 */
static bool wait_used(struct nd *nd, struct vq_driver *d, uint16_t n)
{
	struct pollfd pfd = { .fd = nd->irqfd, .events = POLLIN };
	uint64_t v;

	vq_driver_set_used_event(d, (uint16_t)(d->last_used + n - 1));
	if (vq_driver_used_pending(d) >= n)
		return true;
	if (poll(&pfd, 1, 200) <= 0)
		return false;
	if (read(nd->irqfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
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
 * not written. The window counts only if the device's tx_frames counter
 * says every frame went to the TAP.
 */
static struct result tx_device(struct nd *nd, size_t len)
{
	struct tx_layout l = tx_layout(nd, len);
	struct vq_driver *d = &nd->drv[1];
	unsigned long done = 0, sent = 0;
	uint64_t frames0 = nd_counter(nd, "tx_frames");
	uint16_t slot_of[ND_QSZ];
	bool busy[ND_QSZ] = { false };
	struct cpu_mark m;
	uint64_t end;
	int head;

	if (tx_slots_fill(nd, &l, len))
		return rate(0, len, 1);
	mark(&m);
	while (done < nr_frames) {
		unsigned int k = 0, added = 0;

		while ((head = vq_driver_get_used(d, NULL)) >= 0) {
			busy[slot_of[head % ND_QSZ]] = false;
			k++;
		}
		done += k;
		while (sent < nr_frames && d->num_free &&
		       !busy[sent % ND_QSZ]) {
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
			nd_kick(nd, 1);
		if (k || added || done == sent)
			continue;
		if (!wait_used(nd, d, (sent - done + 1) / 2))
			break;
	}
	end = nd_now_ns();
	if (nd_counter(nd, "tx_frames") - frames0 != done) {
		fprintf(stderr, "net_bench: TX %zu B: %lu frames used, device sent %llu\n",
			len, done,
			(unsigned long long)(nd_counter(nd, "tx_frames") -
					     frames0));
		return rate(0, len, 1);
	}
	return rate_cpu(done, len, end, &m);
}

/* Fill the TAP's queue with @n frames through a packet socket on it. */
static unsigned long tap_fill(int ps, size_t len, unsigned long n)
{
	uint8_t f[1600];
	unsigned long i;

	nd_frame(f, len, (const uint8_t *)"\x02\0\0\0\0\2", 0);
	for (i = 0; i < n; i++)
		if (send(ps, f, len, 0) < 0)
			break;
	return i;
}

/*
 * Is @p (@got bytes, header first) a frame tap_fill() sent: 1, 0 for
 * another frame (the kernel's own, IPv6 neighbour discovery on the TAP:
 * not counted), -1 for one of ours that came wrong.
 */
static int rx_frame_ok(const uint8_t *p, long got, size_t len)
{
	if (got < (long)ND_HDR + 14 || p[ND_HDR + 12] != (ND_ETHERTYPE >> 8) ||
	    p[ND_HDR + 13] != (ND_ETHERTYPE & 0xff))
		return 0;
	return got == (long)(ND_HDR + len) ? 1 : -1;
}

/*
 * Ceiling: read() on a TAP fd from one thread, into the same 256 guest
 * buffers the device fills, in the same order, each frame checked as
 * the driver checks it.
 */
static struct result rx_ceiling(struct nd *nd, int fd, int ps, size_t len)
{
	unsigned long n, i = 0;
	struct cpu_mark m;

	n = tap_fill(ps, len, nr_frames / 5);
	mark(&m);
	while (i < n) {
		uint64_t gpa = nd->buf[0] + (uint64_t)(i % ND_QSZ) * ND_RXBUF;
		uint8_t *p = vq_guest_ptr(&nd->g, gpa, ND_RXBUF);
		long got = syscall(SYS_read, fd, p, ND_RXBUF);
		int ok;

		if (got <= 0)
			break;
		ok = rx_frame_ok(p, got, len);
		if (ok < 0)
			return rate(0, len, 1);
		i += ok;
	}
	return rate_cpu(i, len, nd_now_ns(), &m);
}

/*
 * RX buffers are posted only once the TAP is full; then, as a NAPI
 * guest: take every used buffer (length, num_buffers and the frame's
 * type checked), refill as many, kick if the device asks, and with
 * nothing used sleep on the interrupt until half of the posted buffers
 * are used (as NAPI, busy, keeps interrupts off: each one costs the
 * worker an eventfd write and a wakeup).
 */
static struct result rx_device(struct nd *nd, int ps, size_t len)
{
	struct vq_driver *d = &nd->drv[0];
	unsigned long n, got = 0, bad = 0;
	struct cpu_mark m;
	uint64_t last;

	n = tap_fill(ps, len, nr_frames / 5);
	mark(&m);
	last = m.t0;
	nd_rx_fill(nd, 0, ND_QSZ, ND_RXBUF);
	/* Until every frame is in, or none came for 200 ms (TAP drops). */
	while (got < n) {
		unsigned int k = 0, want;
		uint32_t ulen;
		int head;

		while ((head = vq_driver_get_used(d, &ulen)) >= 0) {
			const uint8_t *p = vq_guest_ptr(&nd->g, nd->buf[0] +
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
			last = nd_now_ns();
			nd_rx_fill(nd, 0, k, ND_RXBUF);
			continue;
		}
		want = (ND_QSZ - d->num_free) / 2;
		if (want > n - got)
			want = n - got;
		if (!wait_used(nd, d, want ? want : 1) &&
		    vq_driver_used_pending(d) == 0)
			break;
	}
	if (bad) {
		fprintf(stderr, "net_bench: RX %zu B: %lu of %lu frames wrong\n",
			len, bad, got);
		return rate(0, len, 1);
	}
	return rate_cpu(got, len, last, &m);
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

	return !e || strchr(e, "abc"[c]);
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

/* The three contenders of each measurement, run in turn. */
enum contender { C_CEIL, C_SYSCALL, C_URING, NR_CONTENDERS };

static const char *const contender_names[NR_CONTENDERS] = {
	"(a) write/read ceiling", "(b) vdev syscall", "(c) vdev io_uring",
};

/*
 * The ceiling's fd is set up as the device sets up its own: non-blocking
 * (a blocking tun fd costs 35-45 ns more per write here), the same
 * virtio-net header size, offloads off (TUNSETOFFLOAD 0, what activate
 * does for FEAT); its loop uses syscall(2) as the device's plain build
 * does (glibc's write() toggles async cancellation around the call).
 */
static int ceiling_fd(void)
{
	int fd = nt_tap_attach(TAP, NT_TAP_FLAGS);

	if (fd < 0)
		return fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ioctl(fd, TUNSETVNETHDRSZ, &(int){ ND_HDR });
	ioctl(fd, TUNSETOFFLOAD, 0);
	return fd;
}

/*
 * NET_BENCH_CPUS=d,w: the driver (and the ceiling's loop) on CPU d, the
 * device's workers on CPU w; unset, the scheduler places them (on an
 * idle 2-CPU machine it mostly keeps both on one CPU: wake-affine).
 */
static void place_threads(bool device)
{
	const char *e = getenv("NET_BENCH_CPUS");
	unsigned int dc, wc;
	cpu_set_t set;
	DIR *d;
	struct dirent *t;

	if (!e || sscanf(e, "%u,%u", &dc, &wc) != 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(dc, &set);
	sched_setaffinity(0, sizeof(set), &set);
	if (!device)
		return;
	d = opendir("/proc/self/task");
	if (!d)
		return;
	CPU_ZERO(&set);
	CPU_SET(wc, &set);
	while ((t = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 t->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "vdev-", 5))
			sched_setaffinity(atoi(t->d_name), sizeof(set), &set);
		fclose(f);
	}
	closedir(d);
}

/* One window of @c for @dir ("TX"/"RX") at @len; pps 0 on failure. */
static struct result run_one(struct nd *nd, int ps, enum contender c,
			     bool tx, size_t len)
{
	struct result r = { 0 };
	int fd;

	if (c == C_CEIL) {
		fd = ceiling_fd();
		if (fd < 0)
			return r;
		place_threads(false);
		r = tx ? tx_ceiling(nd, fd, len) : rx_ceiling(nd, fd, ps, len);
		close(fd);
		return r;
	}
	nd->io = c == C_URING ? VDEV_NET_IO_URING : VDEV_NET_IO_SYSCALL;
	if (nd_create(nd, TAP, 1))
		return r;
	if (!nd_activate(nd, 1, FEAT | (len > ND_TXBUF - ND_HDR ?
					 ND_F_HOST_TSO : 0))) {
		place_threads(true);
		r = tx ? tx_device(nd, len) : rx_device(nd, ps, len);
	}
	nd_destroy(nd);
	return r;
}

/*
 * Best of @rounds windows for each contender, interleaved: round k runs
 * them in the order k, k+1, k+2 (mod 3), so that none always goes first
 * (a fresh TAP, a cold cache) or last.
 */
static void measure(struct nd *nd, int ps, bool tx, size_t len,
		    unsigned int rounds)
{
	struct result best[NR_CONTENDERS] = { 0 };
	unsigned int k, j;

	for (k = 0; k < rounds; k++)
		for (j = 0; j < NR_CONTENDERS; j++) {
			enum contender c = (k + j) % NR_CONTENDERS;
			struct result r;

			if (!want_who(c))
				continue;
			r = run_one(nd, ps, c, tx, len);

			if (r.pps > best[c].pps)
				best[c] = r;
		}
	for (j = 0; j < NR_CONTENDERS; j++)
		printf("%s %5zu B  %-22s %9.0f pps %6.2f Gbit/s  CPU ns/frame: %s %5.0f  driver %5.0f  sleeps/1000: worker %.1f driver %.1f\n",
		       tx ? "TX" : "RX", len, contender_names[j], best[j].pps,
		       best[j].gbps, j == C_CEIL ? "loop  " : "worker",
		       j == C_CEIL ? best[j].drv_ns : best[j].dev_ns,
		       j == C_CEIL ? 0 : best[j].drv_ns, best[j].wakeups,
		       j == C_CEIL ? 0 : best[j].drv_sleeps);
	printf("%s %5zu B  ratios (c)/(a) %.2f  (c)/(b) %.2f  (b)/(a) %.2f\n",
	       tx ? "TX" : "RX", len,
	       best[C_URING].pps / best[C_CEIL].pps,
	       best[C_URING].pps / best[C_SYSCALL].pps,
	       best[C_SYSCALL].pps / best[C_CEIL].pps);
	fflush(stdout);
}

int main(void)
{
	static const size_t sizes[] = { 64, 1500, GSO_LEN };
	unsigned int cycles = 1000, rounds = 3, i;
	struct nd nd;
	int ps, ret;

	if (getenv("NET_BENCH_FRAMES"))
		nr_frames = strtoul(getenv("NET_BENCH_FRAMES"), NULL, 0);
	if (getenv("NET_BENCH_CYCLES"))
		cycles = atoi(getenv("NET_BENCH_CYCLES"));
	if (getenv("NET_BENCH_ROUNDS"))
		rounds = atoi(getenv("NET_BENCH_ROUNDS"));
	nd_init(&nd);
	ret = nt_enter_netns();
	if (!ret)
		ret = nt_tap_create(TAP, false);
	if (!ret)
		ret = vdev_nl_link_set_up(TAP, true);
	if (!ret)
		ret = nlh_link_set_txqlen(TAP, 200000);
	if (!ret)
		ret = nd_guest(&nd);
	if (!ret) {
		tx_gso_base = vq_guest_alloc(&nd.g, 0,
					     (uint64_t)ND_QSZ * TX_GSO_STRIDE,
					     4096);
		if (!tx_gso_base)
			ret = -ENOMEM;
	}
	if (ret) {
		fprintf(stderr, "net_bench: setup failed: %d\n", ret);
		return 1;
	}
	/* A packet socket on the TAP itself feeds its queue for RX. */
	{
		struct sockaddr_ll sll = { .sll_family = AF_PACKET };
		int ifindex;

		ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		nlh_ifindex(TAP, &ifindex);
		sll.sll_ifindex = ifindex;
		if (ps < 0 || bind(ps, (struct sockaddr *)&sll, sizeof(sll))) {
			perror("packet socket");
			return 1;
		}
	}
	printf("# net_bench: %lu frames per TX window, RX drains %lu queued frames; best of %u interleaved windows\n",
	       nr_frames, nr_frames / 5, rounds);

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		if (!want_size(sizes[i]))
			continue;
		if (want_dir("tx"))
			measure(&nd, ps, true, sizes[i], rounds);
		if (!want_dir("rx"))
			continue;
		if (sizes[i] == GSO_LEN)
			printf("RX %5zu B  not measured: a packet socket's GSO frames are SKB_GSO_DODGY, which tun segments\n",
			       sizes[i]);
		else
			measure(&nd, ps, false, sizes[i], rounds);
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
	close(ps);
	return ret ? 1 : 0;
}
