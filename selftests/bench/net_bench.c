// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net throughput and reset latency, each next to a ceiling
 * measured in the same run:
 *
 *   TX  driver -> vdev-net -> writev(TAP)    vs  write() loop on a TAP fd
 *   RX  TAP -> readv -> vdev-net -> driver   vs  read() loop on a TAP fd
 *
 * for 64-byte and 1500-byte frames; then destroy (with traffic running)
 * + create + activate on the same TAP, p50/p99 over 1,000 cycles.
 *
 * RX drains a TAP queue filled beforehand (txqueuelen raised), so that
 * the producer's speed does not enter the figure. Runs in a fresh network
 * namespace; needs CAP_NET_ADMIN.
 *
 *   NET_BENCH_FRAMES=n   frames per TX measurement (default 500000)
 *   NET_BENCH_CYCLES=n   reset cycles (default 1000)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_dev.h"

#define TAP		"vb0"
#define FEAT		(ND_F_BASE | ND_F_MRG | ND_F_CTRL)

static unsigned long nr_frames = 500000;

struct result {
	double pps;
	double gbps;
};

static struct result rate(unsigned long n, size_t len, uint64_t ns)
{
	struct result r;

	r.pps = n * 1e9 / ns;
	r.gbps = r.pps * len * 8 / 1e9;
	return r;
}

static void print(const char *what, size_t len, struct result dev,
		  struct result ceil)
{
	printf("%-3s %5zu B  vdev %9.0f pps %6.2f Gbit/s   ceiling %9.0f pps %6.2f Gbit/s   ratio %.2f\n",
	       what, len, dev.pps, dev.gbps, ceil.pps, ceil.gbps,
	       dev.pps / ceil.pps);
	fflush(stdout);
}

/* Ceiling: write() hdr + frame on a TAP fd from one thread. */
static struct result tx_ceiling(int fd, size_t len)
{
	uint8_t buf[ND_HDR + 1600] = { 0 };
	unsigned long i;
	uint64_t t0;

	nd_frame(buf + ND_HDR, len, (const uint8_t *)"\x02\0\0\0\0\1", 0);
	t0 = nd_now_ns();
	for (i = 0; i < nr_frames; i++)
		if (write(fd, buf, ND_HDR + len) < 0 && errno != EAGAIN)
			break;
	return rate(i, len, nd_now_ns() - t0);
}

/* The device: keep TX queue 1 full, count completions. */
static struct result tx_device(struct nd *nd, size_t len)
{
	struct vq_driver *d = &nd->drv[1];
	unsigned long done = 0, sent = 0;
	unsigned int i;
	uint64_t t0;

	/* Every slot holds the same frame: header + frame in one buffer. */
	for (i = 0; i < ND_QSZ; i++) {
		uint8_t *p = vq_guest_ptr(&nd->g, nd->buf[1] +
					  (uint64_t)i * ND_TXBUF, ND_TXBUF);

		if (!p)
			return rate(0, len, 1);
		memset(p, 0, ND_HDR);
		nd_frame(p + ND_HDR, len, nd->mac, 0);
	}
	t0 = nd_now_ns();
	while (done < nr_frames) {
		while (sent < nr_frames && d->num_free) {
			struct vq_buf b = {
				.gpa = nd->buf[1] +
				       (uint64_t)d->free_head * ND_TXBUF,
				.len = ND_HDR + len,
			};

			vq_driver_add(d, &b, 1, NULL, 0, false);
			sent++;
		}
		nd_kick(nd, 1);
		while (vq_driver_get_used(d, NULL) >= 0)
			done++;
	}
	return rate(done, len, nd_now_ns() - t0);
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

static struct result rx_ceiling(int fd, int ps, size_t len)
{
	uint8_t buf[ND_HDR + 65536];
	unsigned long n, i = 0;
	uint64_t t0;

	n = tap_fill(ps, len, nr_frames / 5);
	/* Non-blocking: frames the TAP dropped must not hang us. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	t0 = nd_now_ns();
	while (i < n && read(fd, buf, sizeof(buf)) > 0)
		i++;
	return rate(i, len, nd_now_ns() - t0);
}

/* RX buffers are posted only once the TAP is full, then refilled. */
static struct result rx_device(struct nd *nd, int ps, size_t len)
{
	struct vq_driver *d = &nd->drv[0];
	unsigned long n, got = 0;
	uint64_t t0, last;

	n = tap_fill(ps, len, nr_frames / 5);
	t0 = last = nd_now_ns();
	nd_rx_fill(nd, 0, ND_QSZ, ND_RXBUF);
	/* Until every frame is in, or none came for 200 ms (TAP drops). */
	while (got < n && nd_now_ns() - last < 200000000ULL) {
		unsigned int k = 0;

		while (vq_driver_get_used(d, NULL) >= 0)
			k++;
		if (!k)
			continue;
		got += k;
		last = nd_now_ns();
		nd_rx_fill(nd, 0, k, ND_RXBUF);
	}
	return rate(got, len, last - t0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
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
	if (i == cycles) {
		qsort(lat, cycles, sizeof(*lat), cmp_u64);
		printf("plain close+TUNSETIFF %u cycles: p50 %.1f us  p99 %.1f us  max %.1f us\n",
		       cycles, lat[cycles / 2] / 1e3,
		       lat[cycles * 99 / 100] / 1e3, lat[cycles - 1] / 1e3);
	}
	free(lat);
}

/* Destroy with TX running, create again on the same TAP, activate. */
static int reopen_latency(struct nd *nd, unsigned int cycles)
{
	uint64_t *lat = calloc(cycles, sizeof(*lat));
	unsigned int i, k;
	int ret = 0;

	if (!lat)
		return -ENOMEM;
	for (i = 0; i < cycles; i++) {
		uint8_t f[64];
		uint64_t t0;

		nd_rx_fill(nd, 0, 64, ND_RXBUF);
		nd_frame(f, sizeof(f), nd->mac, i);
		for (k = 0; k < 64; k++)
			nd_tx_add(nd, 1, NULL, f, sizeof(f));
		nd_kick(nd, 1);
		t0 = nd_now_ns();
		vdev_device_put(nd->dev);
		nd->dev = NULL;
		ret = nd_create(nd, TAP, 1);
		if (!ret)
			ret = nd_activate(nd, 1, FEAT);
		lat[i] = nd_now_ns() - t0;
		if (ret) {
			fprintf(stderr, "cycle %u: %s\n", i, strerror(-ret));
			break;
		}
	}
	if (i == cycles) {
		qsort(lat, cycles, sizeof(*lat), cmp_u64);
		printf("reset+reopen %u cycles: p50 %.1f us  p99 %.1f us  max %.1f us\n",
		       cycles, lat[cycles / 2] / 1e3,
		       lat[cycles * 99 / 100] / 1e3, lat[cycles - 1] / 1e3);
	}
	free(lat);
	return ret;
}

int main(void)
{
	static const size_t sizes[] = { 64, 1500 };
	unsigned int cycles = 1000, i;
	struct result dev, ceil;
	struct nd nd;
	int fd, ps, ret;

	if (getenv("NET_BENCH_FRAMES"))
		nr_frames = strtoul(getenv("NET_BENCH_FRAMES"), NULL, 0);
	if (getenv("NET_BENCH_CYCLES"))
		cycles = atoi(getenv("NET_BENCH_CYCLES"));
	nd_init(&nd);
	ret = nt_enter_netns();
	if (!ret)
		ret = nt_tap_create(TAP, false);
	if (!ret)
		ret = vdev_nl_link_set_up(TAP, true);
	if (!ret)
		ret = vdev_nl_link_set_txqlen(TAP, 200000);
	if (!ret)
		ret = nd_guest(&nd);
	if (ret) {
		fprintf(stderr, "net_bench: setup failed: %d\n", ret);
		return 1;
	}
	/* A packet socket on the TAP itself feeds its queue for RX. */
	{
		struct sockaddr_ll sll = { .sll_family = AF_PACKET };
		int ifindex;

		ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		vdev_nl_ifindex(TAP, &ifindex);
		sll.sll_ifindex = ifindex;
		if (ps < 0 || bind(ps, (struct sockaddr *)&sll, sizeof(sll))) {
			perror("packet socket");
			return 1;
		}
	}
	printf("# net_bench: %lu frames per TX run, RX drains %lu queued frames\n",
	       nr_frames, nr_frames / 5);

	for (i = 0; i < 2; i++) {
		size_t len = sizes[i];

		/* Ceilings on a plain fd; the TAP is free in between. */
		fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
		if (fd < 0) {
			fprintf(stderr, "attach: %s\n", strerror(-fd));
			return 1;
		}
		ioctl(fd, TUNSETVNETHDRSZ, &(int){ ND_HDR });
		ceil = tx_ceiling(fd, len);
		close(fd);
		if (nd_create(&nd, TAP, 1))
			return 1;
		ret = nd_activate(&nd, 1, FEAT);
		if (ret)
			return 1;
		dev = tx_device(&nd, len);
		print("TX", len, dev, ceil);
		nd_destroy(&nd);

		fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
		ioctl(fd, TUNSETVNETHDRSZ, &(int){ ND_HDR });
		ceil = rx_ceiling(fd, ps, len);
		close(fd);
		nd_create(&nd, TAP, 1);
		if (!nd.dev || nd_activate(&nd, 1, FEAT))
			return 1;
		dev = rx_device(&nd, ps, len);
		print("RX", len, dev, ceil);
		nd_destroy(&nd);
	}

	reopen_floor(cycles);
	if (nd_create(&nd, TAP, 1) || nd_activate(&nd, 1, FEAT))
		return 1;
	ret = reopen_latency(&nd, cycles);
	if (nd.dev)
		nd_destroy(&nd);
	nd_guest_fini(&nd);
	close(ps);
	return ret ? 1 : 0;
}
