// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the vhost-user back-end's message parser and state
 * machine (lib/vhost_user.c), without QEMU.
 *
 * Each input is a list of records, each sent over a socketpair to
 * vdev_vhost_user_serve_fd() as one sendmsg():
 *
 *   u8 code, u16 len (little-endian), len bytes
 *
 * code 0xff copies the bytes into guest memory instead (a 64 KiB memfd,
 * offset 0), so rings and descriptors are fuzzer-controlled too; any
 * other code sends the bytes (vhost-user headers and payloads, well
 * formed or not) with (code & 3) fds in SCM_RIGHTS, of the kind (code >>
 * 2) & 3: the guest memfd, an eventfd (kick, call), a memfd of one page,
 * or a directory (which cannot be mapped). A thread sends
 * the records, shuts its end for writing and drains the replies; the
 * back-end serves until the end of the stream or a protocol error.
 *
 * The device behind it is this file's own: two queues, one worker each,
 * popping every chain, reading every readable byte and writing every
 * writable one, so an iovec outside guest memory is an ASan report or a
 * SEGV. After each input the back-end must have reset the device and
 * closed every fd it was given: the process has the fds it had before
 * (checked), and libFuzzer's leak check covers memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/queue.h>
#include <vdev/vhost_user.h>
#include <vdev/worker.h>

#include "compiler.h"

#define NQ		2
#define QSIZE		64
#define MAX_IOV		64
#define GUEST_SIZE	(64 << 10)

struct fdev {
	struct vdev_device dev;
	atomic_bool stopped[NQ];
	unsigned int sum[NQ];
	struct vdev_chain chain[NQ];
	struct iovec iov[NQ][MAX_IOV];
};

static struct fdev fdev;
static struct vdev_vhost_user *vu;
static int guest_fd;
static int fd_base;

/* Open fds of the process, pipes left out. */
static int count_fds(void)
{
	char path[300], link[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if (readlink(path, link, sizeof(link)) > 5 &&
		    !strncmp(link, "pipe:", 5))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static struct fdev *to_fdev(struct vdev_device *dev)
{
	return container_of(dev, struct fdev, dev);
}

static int fdev_kick(struct vdev_worker *w, uint32_t events, void *data)
{
	struct vdev_queue *vq = data;
	struct fdev *f = to_fdev(vq->dev);
	struct vdev_chain *c = &f->chain[vq->index];
	unsigned int i;
	uint64_t v;
	size_t k;
	int ret;

	if (read(vq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	if (atomic_load(&f->stopped[vq->index]))
		return 0;
	while ((ret = vdev_queue_pop(vq, c)) > 0) {
		for (i = 0; i < c->nr_read; i++)
			for (k = 0; k < c->iov[i].iov_len; k++)
				f->sum[vq->index] +=
					((uint8_t *)c->iov[i].iov_base)[k];
		for (; i < c->nr_read + c->nr_write; i++)
			memset(c->iov[i].iov_base, 0xa5, c->iov[i].iov_len);
		vdev_queue_push_chain(vq, c, c->write_len);
	}
	vdev_queue_notify(vq);
	return 0;
}

static int fdev_activate(struct vdev_device *dev, struct vdev_queue **queues,
			 unsigned int nr)
{
	struct fdev *f = to_fdev(dev);
	struct vdev_worker *w;
	char sfx[8];
	unsigned int i;
	int ret;

	for (i = 0; i < nr; i++) {
		unsigned int qi = queues[i]->index;

		vdev_chain_init(&f->chain[qi], f->iov[qi], MAX_IOV);
		atomic_store(&f->stopped[qi], false);
		snprintf(sfx, sizeof(sfx), "q%u", qi);
		ret = vdev_worker_create(dev, sfx, 0, &w);
		if (ret)
			return ret;
		ret = vdev_worker_add_fd(w, queues[i]->kick_fd, EPOLLIN,
					 fdev_kick, queues[i]);
		if (ret) {
			vdev_worker_destroy(w);
			return ret;
		}
		ret = vdev_worker_start(w);
		if (ret)
			return ret;
	}
	return 0;
}

static void fdev_queue_reset(struct vdev_device *dev, struct vdev_queue *vq)
{
	atomic_store(&to_fdev(dev)->stopped[vq->index], true);
}

static int fdev_queue_enable(struct vdev_device *dev, struct vdev_queue *vq)
{
	atomic_store(&to_fdev(dev)->stopped[vq->index], false);
	return 0;
}

static void fdev_release(struct vdev_device *dev)
{
}

static const struct vdev_device_ops fdev_ops = {
	.name = "fz",
	.activate = fdev_activate,
	.queue_reset = fdev_queue_reset,
	.queue_enable = fdev_queue_enable,
	.release = fdev_release,
};

static const uint16_t fdev_sizes[NQ] = { QSIZE, QSIZE };

static void quiet(enum vdev_log_level level, const char *msg)
{
}

static void setup(void)
{
	struct vdev_device_info info = {
		.name = "fz0",
		.type = 0x2a,
		.features = (1ULL << VIRTIO_F_VERSION_1) |
			    (1ULL << VIRTIO_F_RING_PACKED) |
			    (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_RING_F_INDIRECT_DESC),
		.queue_sizes = fdev_sizes,
		.nr_queues = NQ,
		.min_queues = 1,
	};
	struct vdev_vhost_user_config cfg = { 0 };

	if (!getenv("VU_FUZZ_LOG"))
		vdev_log_set_handler(quiet);
	if (vdev_device_init(&fdev.dev, &fdev_ops, &info) ||
	    vdev_vhost_user_create(&fdev.dev, &cfg, &vu))
		abort();
	/* Sealed as QEMU's memory-backend-memfd: the back-end asks. */
	guest_fd = memfd_create("vu-fuzz-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (guest_fd < 0 || ftruncate(guest_fd, GUEST_SIZE) ||
	    fcntl(guest_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		abort();
	fd_base = count_fds();
}

struct feeder {
	int sock;
	const uint8_t *data;
	size_t size;
};

/* An fd of kind @kind, or -1. */
static int make_fd(unsigned int kind)
{
	int fd;

	switch (kind) {
	case 0:
		return dup(guest_fd);
	case 1:
		return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	case 2:
		/* Sealed, or not (refused) on odd inputs' fds. */
		fd = memfd_create("vu-fuzz-page", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd >= 0 && ftruncate(fd, 4096)) {
			close(fd);
			fd = -1;
		}
		return fd;
	case 3:
		fd = make_fd(2);
		if (fd >= 0 &&
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
			close(fd);
			fd = -1;
		}
		return fd;
	default:
		return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

/* Read whatever replies are there, without waiting. */
static void drain(int sock)
{
	char junk[4096];

	while (recv(sock, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
}

static void send_record(int sock, unsigned int code, const uint8_t *b,
			size_t len)
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { (void *)b, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int i, n = code & 3;
	struct cmsghdr *c;
	int fds[3];

	for (i = 0; i < n; i++)
		fds[i] = make_fd((code >> 2) & 3);
	if (n) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	/*
	 * fds only travel with at least one byte. The back-end's replies
	 * are drained while the socket is full, so neither side blocks
	 * the other for good.
	 */
	while (len || n) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN | POLLOUT };

		if (sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0 ||
		    errno != EAGAIN)
			break;
		poll(&pfd, 1, -1);
		drain(sock);
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void *feed(void *arg)
{
	struct feeder *f = arg;
	const uint8_t *p = f->data, *end = f->data + f->size;
	char junk[4096];

	while (end - p >= 3) {
		unsigned int code = p[0];
		size_t len = p[1] | (p[2] << 8);

		p += 3;
		if (len > (size_t)(end - p))
			len = end - p;
		if (code == 0xff) {
			if (pwrite(guest_fd, p, len < GUEST_SIZE ? len :
				   GUEST_SIZE, 0) < 0)
				break;
		} else {
			send_record(f->sock, code, p, len);
		}
		p += len;
	}
	shutdown(f->sock, SHUT_WR);
	/* The replies, until the back-end is done. */
	while (read(f->sock, junk, sizeof(junk)) > 0)
		;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[GUEST_SIZE];
	struct feeder f = { .data = data, .size = size };
	int sv[2], nfds;
	pthread_t t;

	if (!vu)
		setup();
	if (pwrite(guest_fd, zero, sizeof(zero), 0) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	f.sock = sv[0];
	if (pthread_create(&t, NULL, feed, &f))
		abort();
	vdev_vhost_user_serve_fd(vu, sv[1]);
	close(sv[1]);
	pthread_join(t, NULL);
	close(sv[0]);
	if (vdev_device_is_active(&fdev.dev))
		abort();
	/*
	 * Every fd the back-end was given is closed again. Pipes are left
	 * out of the count: the sanitizers' own (LeakSanitizer's tracer)
	 * come and go between inputs, and the fuzzer never sends one.
	 */
	nfds = count_fds();
	if (nfds != fd_base) {
		fprintf(stderr, "vhost_user_fuzz: fd leak (%d fds, was %d)\n",
			nfds, fd_base);
		system("ls -l /proc/$PPID/fd >&2");
		abort();
	}
	return 0;
}
