// SPDX-License-Identifier: GPL-2.0
/*
 * vhost-user back-end (QEMU docs/interop/vhost-user.rst): one vdev device
 * served to a vhost-user front-end over a Unix socket.
 *
 * The front-end's guest memory arrives as fds and goes into a vdev_mem
 * (mapped MAP_SHARED by lib/mem.c); ring addresses, front-end virtual
 * addresses, are translated into guest-physical ones through the same
 * table. The device is activated once the rings it needs are started
 * (kick received) and enabled, each at the position SET_VRING_BASE gave
 * (the split ring's used index re-read from guest memory); a ring stops
 * on its own with GET_VRING_BASE or SET_VRING_ENABLE 0 through the
 * device's per-queue lifecycle, and a ring that joins later, or comes
 * back with a new kick eventfd, restarts the device with every running
 * ring at its exact position. When no ring runs any more, and when the
 * connection ends, the device is reset: every worker joined.
 *
 * Everything the front-end sends is checked; a message that breaks the
 * protocol logs one line through the device's rate limiter and ends the
 * connection with -errno. Documentation/vhost-user.rst.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include <vdev/device.h>
#include <vdev/interrupt.h>
#include <vdev/log.h>
#include <vdev/mem.h>
#include <vdev/queue.h>
#include <vdev/vhost_user.h>

#include "compiler.h"
#include "core_priv.h"
#include "eventfd_priv.h"
#include "inflight_priv.h"
#include "vhost_user_priv.h"

/* Most queues one back-end serves. */
#define VU_MAX_RINGS	64

/* The protocol features the back-end implements. */
#define VU_PROTOCOL_FEATURES					\
	((1ULL << VHOST_USER_PROTOCOL_F_MQ) |			\
	 (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |		\
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |		\
	 (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |		\
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |	\
	 (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |	\
	 (1ULL << VHOST_USER_PROTOCOL_F_STATUS))

/* Largest queue an inflight region may be for (VIRTIO 1.2, 2.7, 2.8). */
#define VU_INFLIGHT_MAX_QUEUE	32768

/**
 * struct vu_ring - the back-end's view of one vring
 * @vq: the queue handed to the device (guest-physical addresses)
 * @kick_fd: the front-end's latest kick eventfd, or -1
 * @dev_kick_fd: the dup of it the device polls, while @in_dev
 * @call_fd: call eventfd (the queue's interrupt), or -1; read by workers
 * @err_fd: error eventfd, or -1: signalled when the device needs a reset;
 *          read by workers
 * @num: SET_VRING_NUM, 0 until then
 * @addr: SET_VRING_ADDR (front-end virtual addresses)
 * @addr_set: @addr was given
 * @state: where the ring is to start
 * @state_exact: @state came from the device (both indices); otherwise
 *               from SET_VRING_BASE, and the split ring's used index is
 *               read from guest memory at start
 * @started: a kick fd arrived since the last GET_VRING_BASE
 * @enabled: SET_VRING_ENABLE 1 (or no protocol features)
 * @in_dev: given to the device's current activation
 * @running: @in_dev and not stopped on its own
 * @kick_changed: @kick_fd is not the one @dev_kick_fd dups
 */
struct vu_ring {
	struct vdev_queue vq;
	int kick_fd;
	int dev_kick_fd;
	atomic_int call_fd;
	atomic_int err_fd;
	uint32_t num;
	struct vhost_vring_addr addr;
	bool addr_set;
	struct vdev_queue_state state;
	bool state_exact;
	bool started;
	bool enabled;
	bool in_dev;
	bool running;
	bool kick_changed;
};

/**
 * struct vu_region - one region of the front-end's memory table
 * @gpa: guest-physical base
 * @size: length
 * @uva: the front-end's virtual address of @gpa
 * @offset: offset of @gpa in the region's file
 * @st_dev: the file's device
 * @st_ino: the file's inode
 * @refs: ADD_MEM_REG of this very region, less REM_MEM_REG (1 from
 *        SET_MEM_TABLE): QEMU adds the guest's regions once per vhost
 *        device, that is once per queue pair, on the same connection
 */
struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t offset;
	dev_t st_dev;
	ino_t st_ino;
	unsigned int refs;
};

/**
 * struct vdev_vhost_user - a back-end
 * @dev: the device served (a reference held)
 * @socket_path: copy of the configured path, or NULL
 * @client: connect instead of listen
 * @reconnect_ms: client retry period
 * @stop_fd: eventfd written by vdev_vhost_user_stop()
 * @irq: the interrupt provider handed to the device: per-ring call fds
 * @serving: a connection is being served
 * @fd: the connection being served
 * @owner: SET_OWNER was received
 * @features: SET_FEATURES
 * @protocol_features: SET_PROTOCOL_FEATURES
 * @status: SET_STATUS
 * @mem: guest memory of the connection
 * @regions: the memory table, as the front-end gave it
 * @nr_regions: entries in @regions
 * @rings: one per device queue
 * @nr_rings: entries in @rings
 * @active: the device is activated
 * @inflight: the inflight region (GET/SET_INFLIGHT_FD), or NULL
 * @inflight_len: its length
 * @nr_connections: connections served
 * @nr_messages: messages handled
 * @nr_errors: connections ended by a protocol error
 */
struct vdev_vhost_user {
	struct vdev_device *dev;
	char *socket_path;
	bool client;
	unsigned int reconnect_ms;
	int stop_fd;
	struct vdev_interrupt irq;
	atomic_bool serving;

	int fd;
	bool owner;
	uint64_t features;
	uint64_t protocol_features;
	uint64_t status;
	struct vdev_mem *mem;
	struct vu_region regions[VDEV_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	struct vu_ring *rings;
	unsigned int nr_rings;
	bool active;
	void *inflight;
	size_t inflight_len;

	atomic_ullong nr_connections;
	atomic_ullong nr_messages;
	atomic_ullong nr_errors;
};

static const char *const vu_req_names[] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_SEND_RARP] = "SEND_RARP",
	[VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
	[VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
	[VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	[VHOST_USER_VRING_KICK] = "VRING_KICK",
	[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
	[VHOST_USER_SET_STATUS] = "SET_STATUS",
	[VHOST_USER_GET_STATUS] = "GET_STATUS",
};

static const char *vu_req_name(uint32_t req)
{
	if (req < ARRAY_SIZE(vu_req_names) && vu_req_names[req])
		return vu_req_names[req];
	return "unknown";
}

/* One error line, rate-limited by the device's limiter; returns @ret. */
__vdev_printf(3, 4)
static int vu_err(struct vdev_vhost_user *vu, int ret, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!vdev_ratelimit_ok(&vu->dev->rl))
		return ret;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vdev_log(VDEV_LOG_ERR, "vhost-user: %s: %s (%s)", vu->dev->name, msg,
		 strerror(-ret));
	return ret;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		close_fd(&fds[i]);
}

/* ---- interrupts: each ring's call eventfd ------------------------------ */

static int vu_irq_trigger(struct vdev_interrupt *irq, enum vdev_irq_type type,
			  unsigned int queue)
{
	struct vdev_vhost_user *vu = container_of(irq, struct vdev_vhost_user,
						  irq);
	unsigned int i;
	int fd;

	/*
	 * No back-end channel: a config change is not signalled. The one
	 * the device raises when the driver broke it (DEVICE_NEEDS_RESET)
	 * goes to every ring's error eventfd (QEMU logs "vhost vring
	 * error"); the config interrupt does not say which ring.
	 */
	if (type == VDEV_IRQ_CONFIG) {
		if (!vdev_device_needs_reset(vu->dev))
			return 0;
		for (i = 0; i < vu->nr_rings; i++) {
			fd = atomic_load_explicit(&vu->rings[i].err_fd,
						  memory_order_acquire);
			if (fd >= 0)
				eventfd_kick(fd);
		}
		return 0;
	}
	if (type != VDEV_IRQ_QUEUE || queue >= vu->nr_rings)
		return 0;
	fd = atomic_load_explicit(&vu->rings[queue].call_fd,
				  memory_order_acquire);
	return fd >= 0 ? eventfd_kick(fd) : 0;
}

static void vu_irq_release(struct vdev_interrupt *irq)
{
	/* Embedded in the back-end, freed with it. */
}

static const struct vdev_interrupt_ops vu_irq_ops = {
	.trigger = vu_irq_trigger,
	.release = vu_irq_release,
};

/* ---- the wire ------------------------------------------------------------ */

/*
 * Wait for @fd to be readable or the back-end to be stopped: 1 readable,
 * 0 stopped, -errno.
 */
static int vu_wait(struct vdev_vhost_user *vu, int fd)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = vu->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents)
			return 0;
		if (pfd[0].revents)
			return 1;
	}
}

/*
 * Read exactly @len bytes; fds that arrive are added to @fds (at most
 * VHOST_USER_MAX_FDS, counted in *@nr_fds). Returns 1, 0 on end of file
 * before the first byte, -ECANCELED on a stop, -EPROTO on a short
 * message, -EMSGSIZE for too many fds, -errno.
 */
static int vu_recv(struct vdev_vhost_user *vu, void *buf, size_t len,
		   int *fds, unsigned int *nr_fds)
{
	char cbuf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
	size_t done = 0;
	bool trunc = false;

	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c;
		ssize_t n;
		int ret;

		/* Stopped, even in the middle of a message: -ECANCELED. */
		ret = vu_wait(vu, vu->fd);
		if (ret <= 0)
			return ret ? ret : -ECANCELED;
		n = recvmsg(vu->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			unsigned int i, k;

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(fd));
				if (*nr_fds < VHOST_USER_MAX_FDS)
					fds[(*nr_fds)++] = fd;
				else {
					close(fd);
					trunc = true;
				}
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			trunc = true;
		if (trunc)
			return -EMSGSIZE;
		if (n == 0)
			return done ? -EPROTO : 0;
		done += n;
	}
	return 1;
}

/* The reply to @req, with @fd (or -1) attached to its first byte. */
static int vu_send_fd(struct vdev_vhost_user *vu,
		      const struct vhost_user_msg *req, const void *payload,
		      uint32_t size, int fd)
{
	struct vhost_user_hdr hdr = {
		.request = req->hdr.request,
		.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
		.size = size,
	};
	uint8_t out[sizeof(hdr) + sizeof(union vhost_user_payload)];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd pfd[2] = {
		{ .fd = vu->fd, .events = POLLOUT },
		{ .fd = vu->stop_fd, .events = POLLIN },
	};
	size_t len = sizeof(hdr) + size, done = 0;
	ssize_t n;

	memcpy(out, &hdr, sizeof(hdr));
	memcpy(out + sizeof(hdr), payload, size);
	/*
	 * A front-end that does not read its replies fills the socket:
	 * wait for room, or for a stop, never in send() itself.
	 */
	while (done < len) {
		iov.iov_base = out + done;
		iov.iov_len = len - done;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (!done && fd >= 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		n = sendmsg(vu->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			done += n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return vu_err(vu, -errno, "%s: cannot send the reply",
				      vu_req_name(req->hdr.request));
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			return -ECANCELED;
	}
	return 0;
}

static int vu_send(struct vdev_vhost_user *vu, const struct vhost_user_msg *req,
		   const void *payload, uint32_t size)
{
	return vu_send_fd(vu, req, payload, size, -1);
}

static int vu_reply_u64(struct vdev_vhost_user *vu,
			const struct vhost_user_msg *req, uint64_t v)
{
	return vu_send(vu, req, &v, sizeof(v));
}

/* ---- memory ---------------------------------------------------------------- */

/* Front-end virtual address @uva as guest-physical, or false. */
static bool vu_uva_to_gpa(struct vdev_vhost_user *vu, uint64_t uva,
			  uint64_t *gpa)
{
	unsigned int i;

	for (i = 0; i < vu->nr_regions; i++) {
		const struct vu_region *r = &vu->regions[i];

		if (uva >= r->uva && uva - r->uva < r->size) {
			*gpa = r->gpa + (uva - r->uva);
			return true;
		}
	}
	return false;
}

static bool vu_uva_in(const struct vu_region *r, uint64_t uva)
{
	return uva >= r->uva && uva - r->uva < r->size;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Region @r's fd @fd (number @i of the message @what), of status @st:
 * what lib/mem.c would refuse is refused here, with the back-end's one
 * line, and what it cannot see either.
 *
 * Can the front-end shrink the file under the mapping? A worker touching
 * a page past the new end would get SIGBUS. A memfd (any shmem file)
 * must carry F_SEAL_SHRINK, as QEMU's memory-backend-memfd sets by
 * default (seal=on). Files that cannot take seals (EINVAL: hugetlbfs, a
 * regular file) are accepted: one truncated under the back-end is not
 * caught (Documentation/vhost-user.rst).
 */
static int vu_check_fd(struct vdev_vhost_user *vu, const char *what,
		       unsigned int i, int fd, const struct vhost_user_region *r,
		       const struct stat *st)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int seals;

	if (r->mmap_offset % page)
		return vu_err(vu, -EINVAL,
			      "%s: fd %u: offset %#llx is not a multiple of the page size",
			      what, i, (unsigned long long)r->mmap_offset);
	if (S_ISREG(st->st_mode) &&
	    (r->mmap_offset > (uint64_t)st->st_size ||
	     r->memory_size > (uint64_t)st->st_size - r->mmap_offset))
		return vu_err(vu, -EINVAL,
			      "%s: fd %u: region %#llx size %#llx at offset %#llx is past the end of its file (%lld bytes)",
			      what, i, (unsigned long long)r->guest_phys_addr,
			      (unsigned long long)r->memory_size,
			      (unsigned long long)r->mmap_offset,
			      (long long)st->st_size);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 && errno == EINVAL)
		return 0;
	if (seals < 0)
		return vu_err(vu, -errno, "%s: fd %u: F_GET_SEALS", what, i);
	if (!(seals & F_SEAL_SHRINK))
		return vu_err(vu, -EINVAL,
			      "%s: fd %u: not sealed against shrinking (F_SEAL_SHRINK)",
			      what, i);
	return 0;
}

/* A region the front-end sent: sizes, wrapping and overlap with @others. */
static int vu_check_region(struct vdev_vhost_user *vu,
			   const struct vhost_user_region *r,
			   const struct vu_region *others, unsigned int n)
{
	unsigned int i;

	if (!r->memory_size)
		return vu_err(vu, -EINVAL, "memory region at %#llx: zero size",
			      (unsigned long long)r->guest_phys_addr);
	if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
	    r->userspace_addr + r->memory_size < r->userspace_addr ||
	    r->mmap_offset + r->memory_size < r->mmap_offset)
		return vu_err(vu, -EINVAL,
			      "memory region at %#llx size %#llx wraps",
			      (unsigned long long)r->guest_phys_addr,
			      (unsigned long long)r->memory_size);
	for (i = 0; i < n; i++) {
		if (ranges_overlap(r->guest_phys_addr, r->memory_size,
				   others[i].gpa, others[i].size) ||
		    ranges_overlap(r->userspace_addr, r->memory_size,
				   others[i].uva, others[i].size))
			return vu_err(vu, -EINVAL,
				      "memory region at %#llx size %#llx overlaps the one at %#llx",
				      (unsigned long long)r->guest_phys_addr,
				      (unsigned long long)r->memory_size,
				      (unsigned long long)others[i].gpa);
	}
	return 0;
}

/* Park the workers of a running device (SET_VRING_CALL). */
static int vu_quiesce(struct vdev_vhost_user *vu)
{
	return vu->active ? __vdev_device_quiesce(vu->dev) : 0;
}

static void vu_unquiesce(struct vdev_vhost_user *vu)
{
	if (vu->active)
		__vdev_device_unquiesce(vu->dev);
}

static int vu_ring_stop(struct vdev_vhost_user *vu, struct vu_ring *r);
static int vu_sync(struct vdev_vhost_user *vu);

/*
 * Drop or replace guest memory under the device (SET_MEM_TABLE,
 * REM_MEM_REG). Parking the workers is not enough: with io_uring a read
 * into an RX buffer, or a write the TAP pushed back, stays armed in the
 * kernel with a host pointer into guest memory, and would land in what
 * is mapped there next. So every running ring is stopped first, as
 * GET_VRING_BASE does (the device's queue reset cancels and reaps those
 * requests, gives the chains back and keeps the position), the workers
 * parked on top (lib/mem.c's rule), and vu_mem_change_end() starts the
 * rings again at their positions, translated through the new table.
 */
static int vu_mem_change_begin(struct vdev_vhost_user *vu)
{
	unsigned int i;
	int ret;

	if (!vu->active)
		return 0;
	for (i = 0; i < vu->nr_rings; i++) {
		if (!vu->rings[i].running)
			continue;
		ret = vu_ring_stop(vu, &vu->rings[i]);
		if (ret)
			return ret;
	}
	ret = __vdev_device_quiesce(vu->dev);
	if (ret)
		return vu_err(vu, ret, "cannot park the workers");
	return 0;
}

/*
 * Does the table @tab of @n regions keep every region mapped now (same
 * range of the same file: lib/mem.c keeps its mapping)? Then nothing
 * the device holds points into memory that goes away.
 */
static bool vu_table_keeps(const struct vdev_vhost_user *vu,
			   const struct vu_region *tab, unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < vu->nr_regions; i++) {
		const struct vu_region *o = &vu->regions[i];

		for (j = 0; j < n; j++)
			if (tab[j].gpa == o->gpa && tab[j].size == o->size &&
			    tab[j].offset == o->offset &&
			    tab[j].st_dev == o->st_dev &&
			    tab[j].st_ino == o->st_ino)
				break;
		if (j == n)
			return false;
	}
	return true;
}

/* After vu_mem_change_begin(): the rings run again (@ret 0). */
static int vu_mem_change_end(struct vdev_vhost_user *vu, int ret)
{
	if (!vu->active)
		return ret;
	__vdev_device_unquiesce(vu->dev);
	return ret ? ret : vu_sync(vu);
}

static int vu_set_mem_table(struct vdev_vhost_user *vu,
			    const struct vhost_user_msg *msg, int *fds,
			    unsigned int nr_fds)
{
	const struct vhost_user_memory *m = &msg->payload.memory;
	struct vdev_mem_region regs[VHOST_MEMORY_BASELINE_NREGIONS];
	struct vu_region tab[VHOST_MEMORY_BASELINE_NREGIONS];
	unsigned int i, n;
	struct stat st;
	bool keeps;
	int ret;

	if (msg->hdr.size < 8)
		return vu_err(vu, -EPROTO, "SET_MEM_TABLE: %u bytes",
			      msg->hdr.size);
	n = m->nregions;
	if (!n || n > VHOST_MEMORY_BASELINE_NREGIONS)
		return vu_err(vu, -EINVAL, "SET_MEM_TABLE: %u regions (1 to %u)",
			      n, VHOST_MEMORY_BASELINE_NREGIONS);
	if (msg->hdr.size != 8 + n * sizeof(m->regions[0]))
		return vu_err(vu, -EPROTO,
			      "SET_MEM_TABLE: %u bytes for %u regions, expected %zu",
			      msg->hdr.size, n, 8 + n * sizeof(m->regions[0]));
	if (nr_fds != n)
		return vu_err(vu, -EPROTO,
			      "SET_MEM_TABLE: %u fds for %u regions",
			      nr_fds, n);
	for (i = 0; i < n; i++) {
		const struct vhost_user_region *r = &m->regions[i];

		ret = vu_check_region(vu, r, tab, i);
		if (ret)
			return ret;
		if (fstat(fds[i], &st))
			return vu_err(vu, -errno, "SET_MEM_TABLE: fd %u", i);
		ret = vu_check_fd(vu, "SET_MEM_TABLE", i, fds[i], r, &st);
		if (ret)
			return ret;
		tab[i] = (struct vu_region){
			.gpa = r->guest_phys_addr,
			.size = r->memory_size,
			.uva = r->userspace_addr,
			.offset = r->mmap_offset,
			.st_dev = st.st_dev,
			.st_ino = st.st_ino,
			.refs = 1,
		};
		regs[i] = (struct vdev_mem_region){
			.gpa = r->guest_phys_addr,
			.size = r->memory_size,
			.fd = fds[i],
			.fd_offset = r->mmap_offset,
		};
	}
	/* Only regions added: the workers parked is enough. */
	keeps = vu_table_keeps(vu, tab, n);
	if (keeps) {
		ret = vu_quiesce(vu);
		if (ret)
			return vu_err(vu, ret, "SET_MEM_TABLE: cannot park the workers");
	} else {
		ret = vu_mem_change_begin(vu);
		if (ret)
			return ret;
	}
	ret = vdev_mem_set_regions(vu->mem, regs, n);
	if (ret) {
		if (keeps)
			vu_unquiesce(vu);
		else
			vu_mem_change_end(vu, ret);
		return vu_err(vu, ret, "SET_MEM_TABLE: cannot map the %u regions",
			      n);
	}
	memcpy(vu->regions, tab, n * sizeof(tab[0]));
	vu->nr_regions = n;
	if (keeps) {
		vu_unquiesce(vu);
		return 0;
	}
	/* The rings again, through the new table (an error for one left out). */
	return vu_mem_change_end(vu, 0);
}

static int vu_add_mem_reg(struct vdev_vhost_user *vu,
			  const struct vhost_user_msg *msg, int *fds,
			  unsigned int nr_fds)
{
	const struct vhost_user_region *r = &msg->payload.mem_reg.region;
	int ret;

	struct vu_region *o;
	struct stat st;
	unsigned int i;

	if (nr_fds != 1)
		return vu_err(vu, -EPROTO, "ADD_MEM_REG: %u fds, expected 1",
			      nr_fds);
	if (fstat(fds[0], &st))
		return vu_err(vu, -errno, "ADD_MEM_REG: fd");
	ret = vu_check_fd(vu, "ADD_MEM_REG", 0, fds[0], r, &st);
	if (ret)
		return ret;
	/* The very same region again (another vhost device): counted. */
	for (i = 0; i < vu->nr_regions; i++) {
		o = &vu->regions[i];
		if (o->gpa == r->guest_phys_addr &&
		    o->size == r->memory_size &&
		    o->uva == r->userspace_addr &&
		    o->offset == r->mmap_offset &&
		    o->st_dev == st.st_dev && o->st_ino == st.st_ino) {
			o->refs++;
			return 0;
		}
	}
	if (vu->nr_regions >= VDEV_MEM_MAX_REGIONS)
		return vu_err(vu, -ENOSPC, "ADD_MEM_REG: %u regions already",
			      vu->nr_regions);
	ret = vu_check_region(vu, r, vu->regions, vu->nr_regions);
	if (ret)
		return ret;
	ret = vdev_mem_add_region_fd(vu->mem, r->guest_phys_addr,
				     r->memory_size, fds[0], r->mmap_offset);
	if (ret)
		return vu_err(vu, ret, "ADD_MEM_REG: cannot map %#llx size %#llx",
			      (unsigned long long)r->guest_phys_addr,
			      (unsigned long long)r->memory_size);
	vu->regions[vu->nr_regions++] = (struct vu_region){
		.gpa = r->guest_phys_addr,
		.size = r->memory_size,
		.uva = r->userspace_addr,
		.offset = r->mmap_offset,
		.st_dev = st.st_dev,
		.st_ino = st.st_ino,
		.refs = 1,
	};
	return 0;
}

static int vu_rem_mem_reg(struct vdev_vhost_user *vu,
			  const struct vhost_user_msg *msg)
{
	const struct vhost_user_region *r = &msg->payload.mem_reg.region;
	unsigned int i, j;
	int ret;

	for (i = 0; i < vu->nr_regions; i++)
		if (vu->regions[i].gpa == r->guest_phys_addr &&
		    vu->regions[i].uva == r->userspace_addr &&
		    vu->regions[i].size == r->memory_size)
			break;
	if (i == vu->nr_regions)
		return vu_err(vu, -ENOENT, "REM_MEM_REG: no region at %#llx size %#llx",
			      (unsigned long long)r->guest_phys_addr,
			      (unsigned long long)r->memory_size);
	if (vu->regions[i].refs > 1) {
		vu->regions[i].refs--;
		return 0;
	}
	/* A running ring in it stays pinned (lib/mem.c): refused. */
	for (j = 0; j < vu->nr_rings; j++) {
		const struct vu_ring *q = &vu->rings[j];

		if (q->running &&
		    (vu_uva_in(&vu->regions[i], q->addr.desc_user_addr) ||
		     vu_uva_in(&vu->regions[i], q->addr.avail_user_addr) ||
		     vu_uva_in(&vu->regions[i], q->addr.used_user_addr)))
			return vu_err(vu, -EBUSY,
				      "REM_MEM_REG: cannot remove %#llx: ring %u is in it",
				      (unsigned long long)r->guest_phys_addr,
				      j);
	}
	ret = vu_mem_change_begin(vu);
	if (ret)
		return ret;
	ret = vdev_mem_remove_region(vu->mem, r->guest_phys_addr,
				     r->memory_size);
	if (ret) {
		vu_mem_change_end(vu, ret);
		return vu_err(vu, ret, "REM_MEM_REG: cannot remove %#llx",
			      (unsigned long long)r->guest_phys_addr);
	}
	vu->regions[i] = vu->regions[--vu->nr_regions];
	return vu_mem_change_end(vu, 0);
}

/* ---- rings and the device -------------------------------------------------- */

static bool vu_packed(const struct vdev_vhost_user *vu)
{
	return vu->features & (1ULL << VIRTIO_F_RING_PACKED);
}

static void vu_ring_init(struct vdev_vhost_user *vu, struct vu_ring *r,
			 unsigned int i, uint16_t max)
{
	vdev_queue_init(&r->vq, i, max);
	r->kick_fd = -1;
	r->dev_kick_fd = -1;
	atomic_store(&r->call_fd, -1);
	atomic_store(&r->err_fd, -1);
	r->num = 0;
	r->addr_set = false;
	memset(&r->state, 0, sizeof(r->state));
	r->state_exact = false;
	r->started = false;
	r->enabled = false;
	r->in_dev = false;
	r->running = false;
	r->kick_changed = false;
}

/* Only when the device is not active (no worker raises interrupts). */
static void vu_ring_close(struct vu_ring *r)
{
	int fd = atomic_exchange(&r->call_fd, -1);

	close_fd(&fd);
	fd = atomic_exchange(&r->err_fd, -1);
	close_fd(&fd);
	close_fd(&r->kick_fd);
	close_fd(&r->dev_kick_fd);
}

static bool vu_ring_wanted(const struct vdev_vhost_user *vu,
			   const struct vu_ring *r)
{
	return r->started && r->enabled && r->addr_set && r->num &&
	       vu->nr_regions;
}

/* Reset the device: every worker joined, the kick dups closed. */
static void vu_device_stop(struct vdev_vhost_user *vu)
{
	unsigned int i;

	if (!vu->active)
		return;
	vdev_interrupt_put(vdev_device_reset(vu->dev));
	for (i = 0; i < vu->nr_rings; i++) {
		struct vu_ring *r = &vu->rings[i];

		close_fd(&r->dev_kick_fd);
		r->in_dev = false;
		r->running = false;
		r->kick_changed = r->kick_fd >= 0;
	}
	vu->active = false;
}

/* Stop one running ring; its exact position is kept in @r->state. */
static int vu_ring_stop(struct vdev_vhost_user *vu, struct vu_ring *r)
{
	int ret;

	ret = vdev_device_queue_disable(vu->dev, &r->vq);
	if (!ret)
		ret = vdev_device_queue_get_state(vu->dev, &r->vq, &r->state);
	if (ret)
		return vu_err(vu, ret, "ring %u: cannot stop", r->vq.index);
	r->state_exact = true;
	r->running = false;
	return 0;
}

static const char *const vu_ring_parts[3] = {
	"descriptor table", "avail ring", "used ring",
};

/*
 * Which of @addr (descriptor table, driver area, device area) is off the
 * alignment its ring format needs (split: 16, 2, 4; packed: 16, 4, 4;
 * VIRTIO 1.2, 2.7.2 and 2.8.2): its index, or -1.
 */
static int vu_ring_misaligned(const struct vdev_vhost_user *vu,
			      const uint64_t addr[3])
{
	const uint64_t align[3] = { 16, vu_packed(vu) ? 4 : 2, 4 };
	int i;

	for (i = 0; i < 3; i++)
		if (addr[i] & (align[i] - 1))
			return i;
	return -1;
}

/*
 * Fill @r->vq from what the front-end sent, and the position to start
 * at: SET_VRING_BASE's, with the split ring's used index read from the
 * used ring itself (a front-end that restarts, or a guest that boots
 * again, may have used->idx anywhere; rust-vmm/vhost #180).
 */
static int vu_ring_prepare(struct vdev_vhost_user *vu, struct vu_ring *r)
{
	struct vdev_queue *vq = &r->vq;
	const uint16_t *used_idx;
	uint64_t gpa[3];
	int bad;

	if (!vu_uva_to_gpa(vu, r->addr.desc_user_addr, &gpa[0]) ||
	    !vu_uva_to_gpa(vu, r->addr.avail_user_addr, &gpa[1]) ||
	    !vu_uva_to_gpa(vu, r->addr.used_user_addr, &gpa[2]))
		return vu_err(vu, -EINVAL,
			      "ring %u: addresses outside every memory region",
			      vq->index);
	/*
	 * The memory table may have changed since SET_VRING_ADDR: the
	 * guest-physical addresses are checked too. The used ring aligned
	 * to 4, gpa[2] + 2 below cannot wrap.
	 */
	bad = vu_ring_misaligned(vu, gpa);
	if (bad >= 0)
		return vu_err(vu, -EINVAL,
			      "ring %u: %s at guest-physical %#llx misaligned",
			      vq->index, vu_ring_parts[bad],
			      (unsigned long long)gpa[bad]);
	vq->size = r->num;
	vq->desc_addr = gpa[0];
	vq->driver_addr = gpa[1];
	vq->device_addr = gpa[2];
	vq->ready = true;
	if (r->state_exact || vu_packed(vu))
		return 0;
	used_idx = vdev_mem_translate(vu->mem, gpa[2] + 2, sizeof(*used_idx));
	if (!used_idx)
		return vu_err(vu, -EINVAL, "ring %u: used ring not in guest memory",
			      vq->index);
	r->state.used_idx = le16toh(atomic_load_explicit(
		(_Atomic uint16_t *)used_idx, memory_order_acquire));
	return 0;
}

/* Activate the device on every wanted ring, each at its position. */
static int vu_device_start(struct vdev_vhost_user *vu)
{
	struct vdev_queue *queues[VU_MAX_RINGS];
	struct vdev_queue_state states[VU_MAX_RINGS];
	unsigned int i, n = 0;
	int ret;

	for (i = 0; i < vu->nr_rings; i++) {
		struct vu_ring *r = &vu->rings[i];

		if (!vu_ring_wanted(vu, r))
			continue;
		ret = vu_ring_prepare(vu, r);
		if (ret)
			goto out_close;
		r->dev_kick_fd = fcntl(r->kick_fd, F_DUPFD_CLOEXEC, 0);
		if (r->dev_kick_fd < 0) {
			ret = vu_err(vu, -errno, "ring %u: cannot dup the kick fd",
				     i);
			goto out_close;
		}
		r->vq.kick_fd = r->dev_kick_fd;
		queues[n] = &r->vq;
		states[n] = r->state;
		n++;
	}
	vdev_device_ack_features(vu->dev, vu->features &
				 ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
	if (!vdev_device_features_ok(vu->dev)) {
		ret = vu_err(vu, -EINVAL, "features %#llx refused by the device",
			     (unsigned long long)vu->features);
		goto out_close;
	}
	ret = __vdev_device_activate_at(vu->dev, vu->mem, &vu->irq, queues, n,
					states);
	if (ret) {
		ret = vu_err(vu, ret, "cannot start the device on %u rings", n);
		goto out_close;
	}
	vu->active = true;
	for (i = 0; i < vu->nr_rings; i++) {
		struct vu_ring *r = &vu->rings[i];

		if (r->dev_kick_fd < 0)
			continue;
		r->in_dev = true;
		r->running = true;
		r->kick_changed = false;
		/*
		 * Started: look at the ring once. A kick the front-end sent
		 * while the ring was stopped was drained by then.
		 */
		eventfd_kick(r->dev_kick_fd);
	}
	return 0;

out_close:
	/* Activation failed: it reset the features; nothing runs. */
	vdev_device_reset(vu->dev);
	for (i = 0; i < vu->nr_rings; i++)
		close_fd(&vu->rings[i].dev_kick_fd);
	return ret;
}

/* Run a ring of the active device again, stopped by SET_VRING_ENABLE 0. */
static int vu_ring_resume(struct vdev_vhost_user *vu, struct vu_ring *r)
{
	int ret;

	ret = vu_ring_prepare(vu, r);
	if (ret)
		return ret;
	ret = vdev_device_queue_set_state(vu->dev, &r->vq, &r->state);
	if (!ret)
		ret = vdev_device_queue_enable(vu->dev, &r->vq);
	if (ret)
		return vu_err(vu, ret, "ring %u: cannot start", r->vq.index);
	r->running = true;
	return 0;
}

/*
 * Bring the device in line with the rings: stop those no longer wanted,
 * resume those that can, restart the device when a ring joins or its
 * kick fd changed, reset it when nothing runs.
 */
static int vu_sync(struct vdev_vhost_user *vu)
{
	bool restart = false, running = false;
	unsigned int i, min;
	int ret;

	for (i = 0; vu->active && i < vu->nr_rings; i++) {
		struct vu_ring *r = &vu->rings[i];
		bool want = vu_ring_wanted(vu, r);

		if (r->running && !want) {
			ret = vu_ring_stop(vu, r);
			if (ret)
				return ret;
		} else if (want && (!r->in_dev || r->kick_changed)) {
			restart = true;
		} else if (want && !r->running) {
			ret = vu_ring_resume(vu, r);
			if (ret)
				return ret;
		}
		running |= r->running;
	}
	if (vu->active && restart) {
		for (i = 0; i < vu->nr_rings; i++) {
			if (!vu->rings[i].running)
				continue;
			ret = vu_ring_stop(vu, &vu->rings[i]);
			if (ret)
				return ret;
		}
		vu_device_stop(vu);
	} else if (vu->active && !running) {
		vu_device_stop(vu);
		return 0;
	}
	if (vu->active)
		return 0;
	/* The device starts once its first min_queues rings can. */
	min = vu->dev->min_queues ? vu->dev->min_queues : 1;
	for (i = 0; i < min && i < vu->nr_rings; i++)
		if (!vu_ring_wanted(vu, &vu->rings[i]))
			return 0;
	return vu_device_start(vu);
}

static int vu_ring_of(struct vdev_vhost_user *vu, const char *what,
		      uint64_t index, struct vu_ring **rp)
{
	if (index >= vu->nr_rings)
		return vu_err(vu, -EINVAL, "%s: ring %llu, the device has %u",
			      what, (unsigned long long)index, vu->nr_rings);
	*rp = &vu->rings[index];
	return 0;
}

static int vu_set_vring_num(struct vdev_vhost_user *vu,
			    const struct vhost_vring_state *s)
{
	struct vu_ring *r = NULL;
	int ret;

	ret = vu_ring_of(vu, "SET_VRING_NUM", s->index, &r);
	if (ret)
		return ret;
	if (r->running)
		return vu_err(vu, -EBUSY, "SET_VRING_NUM: ring %u is running",
			      s->index);
	if (!s->num || s->num > r->vq.max_size)
		return vu_err(vu, -EINVAL, "SET_VRING_NUM: ring %u: size %u (1 to %u)",
			      s->index, s->num, r->vq.max_size);
	if (!vu_packed(vu) && (s->num & (s->num - 1)))
		return vu_err(vu, -EINVAL,
			      "SET_VRING_NUM: ring %u: size %u not a power of two",
			      s->index, s->num);
	r->num = s->num;
	return 0;
}

static int vu_set_vring_addr(struct vdev_vhost_user *vu,
			     const struct vhost_vring_addr *a)
{
	struct vu_ring *r = NULL;
	uint64_t gpa, uva[3];
	int ret, bad;

	ret = vu_ring_of(vu, "SET_VRING_ADDR", a->index, &r);
	if (ret)
		return ret;
	uva[0] = a->desc_user_addr;
	uva[1] = a->avail_user_addr;
	uva[2] = a->used_user_addr;
	bad = vu_ring_misaligned(vu, uva);
	if (bad >= 0)
		return vu_err(vu, -EINVAL,
			      "SET_VRING_ADDR: ring %u: %s address %#llx misaligned (descriptors 16, avail %u, used 4)",
			      a->index, vu_ring_parts[bad],
			      (unsigned long long)uva[bad],
			      vu_packed(vu) ? 4 : 2);
	if (!vu_uva_to_gpa(vu, a->desc_user_addr, &gpa) ||
	    !vu_uva_to_gpa(vu, a->avail_user_addr, &gpa) ||
	    !vu_uva_to_gpa(vu, a->used_user_addr, &gpa))
		return vu_err(vu, -EINVAL,
			      "SET_VRING_ADDR: ring %u: addresses %#llx/%#llx/%#llx outside every memory region",
			      a->index, (unsigned long long)a->desc_user_addr,
			      (unsigned long long)a->avail_user_addr,
			      (unsigned long long)a->used_user_addr);
	if (r->running) {
		/* Only the logging flag may change on a running ring. */
		if (a->desc_user_addr != r->addr.desc_user_addr ||
		    a->avail_user_addr != r->addr.avail_user_addr ||
		    a->used_user_addr != r->addr.used_user_addr)
			return vu_err(vu, -EBUSY,
				      "SET_VRING_ADDR: ring %u is running",
				      a->index);
		return 0;
	}
	r->addr = *a;
	r->addr_set = true;
	/* A new ring: its used index is read again at start. */
	r->state_exact = false;
	return 0;
}

static int vu_set_vring_base(struct vdev_vhost_user *vu,
			     const struct vhost_vring_state *s)
{
	struct vu_ring *r = NULL;
	unsigned int off, used;
	int ret;

	ret = vu_ring_of(vu, "SET_VRING_BASE", s->index, &r);
	if (ret)
		return ret;
	if (r->running)
		return vu_err(vu, -EBUSY, "SET_VRING_BASE: ring %u is running",
			      s->index);
	memset(&r->state, 0, sizeof(r->state));
	r->state_exact = false;
	if (vu_packed(vu)) {
		off = s->num & VHOST_USER_PACKED_OFF_MASK;
		used = s->num >> VHOST_USER_PACKED_USED_SHIFT;
		if (!used)
			used = s->num & 0xffff;
		if (!r->num || off >= r->num ||
		    (used & VHOST_USER_PACKED_OFF_MASK) >= r->num)
			return vu_err(vu, -EINVAL,
				      "SET_VRING_BASE: ring %u: base %#x above size %u",
				      s->index, s->num, r->num);
		r->state.last_avail_idx = off;
		r->state.avail_wrap_counter = s->num & VHOST_USER_PACKED_WRAP;
		r->state.used_idx = used & VHOST_USER_PACKED_OFF_MASK;
		r->state.used_wrap_counter = used & VHOST_USER_PACKED_WRAP;
		/* Both positions given: nothing to read from the ring. */
		r->state_exact = true;
		return 0;
	}
	if (s->num > 0xffff)
		return vu_err(vu, -EINVAL,
			      "SET_VRING_BASE: ring %u: base %#x above 16 bits",
			      s->index, s->num);
	r->state.last_avail_idx = s->num;
	return 0;
}

static int vu_get_vring_base(struct vdev_vhost_user *vu,
			     const struct vhost_user_msg *msg)
{
	struct vhost_vring_state s = msg->payload.state;
	struct vu_ring *r = NULL;
	unsigned int used;
	int ret;

	ret = vu_ring_of(vu, "GET_VRING_BASE", s.index, &r);
	if (ret)
		return ret;
	if (r->running) {
		/* When this returns no worker touches the ring. */
		ret = vu_ring_stop(vu, r);
		if (ret)
			return ret;
	}
	s.num = r->state.last_avail_idx;
	if (vu_packed(vu)) {
		if (r->state.avail_wrap_counter)
			s.num |= VHOST_USER_PACKED_WRAP;
		used = r->state.used_idx;
		if (r->state.used_wrap_counter)
			used |= VHOST_USER_PACKED_WRAP;
		s.num |= used << VHOST_USER_PACKED_USED_SHIFT;
	}
	/* Stopped: a kick fd starts it again. */
	r->started = false;
	close_fd(&r->kick_fd);
	r->kick_changed = true;
	ret = vu_sync(vu);
	if (ret)
		return ret;
	return vu_send(vu, msg, &s, sizeof(s));
}

/*
 * 0 when @fd is an eventfd, -EINVAL otherwise: anything else (a pipe
 * whose read end is closed, a socket, a file) written by a worker
 * could raise SIGPIPE, block or fill a disk.
 */
static int vu_check_eventfd(int fd)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[32], link[sizeof(want) + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n != sizeof(want) - 1 || memcmp(link, want, n))
		return -EINVAL;
	return 0;
}

/*
 * SET_VRING_KICK / CALL / ERR: the ring index and its fd, checked to be
 * an eventfd and made non-blocking.
 */
static int vu_vring_fd(struct vdev_vhost_user *vu,
		       const struct vhost_user_msg *msg, int *fds,
		       unsigned int nr_fds, struct vu_ring **rp, int *fdp)
{
	const char *what = vu_req_name(msg->hdr.request);
	uint64_t v = msg->payload.u64;
	int ret, flags;

	ret = vu_ring_of(vu, what, v & VHOST_USER_VRING_IDX_MASK, rp);
	if (ret)
		return ret;
	if (v & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
		return vu_err(vu, -EINVAL, "%s: payload %#llx", what,
			      (unsigned long long)v);
	if (v & VHOST_USER_VRING_NOFD_MASK) {
		if (nr_fds)
			return vu_err(vu, -EPROTO, "%s: %u fds with the no-fd flag",
				      what, nr_fds);
		*fdp = -1;
		return 0;
	}
	if (nr_fds != 1)
		return vu_err(vu, -EPROTO, "%s: %u fds, expected 1", what,
			      nr_fds);
	ret = vu_check_eventfd(fds[0]);
	if (ret)
		return vu_err(vu, ret, "%s: ring %u: fd is not an eventfd",
			      what, (*rp)->vq.index);
	/*
	 * Workers read the kick fd and write the call fd: never block in
	 * either (a front-end that drains its own kick eventfd would
	 * leave a worker in read() for ever, unparkable). O_NONBLOCK is
	 * set on the open file description, which the front-end shares;
	 * QEMU's are EFD_NONBLOCK already.
	 */
	flags = fcntl(fds[0], F_GETFL);
	if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK))
		return vu_err(vu, -errno, "%s: ring %u: cannot make the fd non-blocking",
			      what, (*rp)->vq.index);
	*fdp = fds[0];
	fds[0] = -1;
	return 0;
}

static int vu_set_vring_kick(struct vdev_vhost_user *vu,
			     const struct vhost_user_msg *msg, int *fds,
			     unsigned int nr_fds)
{
	struct vu_ring *r = NULL;
	int fd, ret;

	ret = vu_vring_fd(vu, msg, fds, nr_fds, &r, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return vu_err(vu, -EOPNOTSUPP,
			      "SET_VRING_KICK: ring %u: polling without a kick fd is not supported",
			      r->vq.index);
	close_fd(&r->kick_fd);
	r->kick_fd = fd;
	r->kick_changed = true;
	r->started = true;
	if (!(vu->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)))
		r->enabled = true;
	return vu_sync(vu);
}

/* SET_VRING_CALL, SET_VRING_ERR: both are signalled by workers. */
static int vu_set_vring_signal(struct vdev_vhost_user *vu,
			       const struct vhost_user_msg *msg, int *fds,
			       unsigned int nr_fds)
{
	struct vu_ring *r = NULL;
	int fd, old, ret;

	ret = vu_vring_fd(vu, msg, fds, nr_fds, &r, &fd);
	if (ret)
		return ret;
	/* No worker may be raising the old one while it closes. */
	ret = vu_quiesce(vu);
	if (ret) {
		close_fd(&fd);
		return vu_err(vu, ret, "%s: cannot park the workers",
			      vu_req_name(msg->hdr.request));
	}
	if (msg->hdr.request == VHOST_USER_SET_VRING_CALL)
		old = atomic_exchange(&r->call_fd, fd);
	else
		old = atomic_exchange(&r->err_fd, fd);
	vu_unquiesce(vu);
	close_fd(&old);
	return 0;
}

static int vu_set_vring_enable(struct vdev_vhost_user *vu,
			       const struct vhost_vring_state *s)
{
	struct vu_ring *r = NULL;
	int ret;

	ret = vu_ring_of(vu, "SET_VRING_ENABLE", s->index, &r);
	if (ret)
		return ret;
	/*
	 * Not checked against the acked features: QEMU enables and
	 * disables rings from virtio-net's reset, before SET_FEATURES,
	 * having seen VHOST_USER_F_PROTOCOL_FEATURES offered.
	 */
	if (s->num > 1)
		return vu_err(vu, -EINVAL, "SET_VRING_ENABLE: ring %u: %u",
			      s->index, s->num);
	r->enabled = s->num;
	return vu_sync(vu);
}

/* Every ring stopped, the device reset, features forgotten. */
static void vu_reset_rings(struct vdev_vhost_user *vu)
{
	const uint16_t *sizes;
	unsigned int i;

	vu_device_stop(vu);
	vdev_device_queue_max_sizes(vu->dev, &sizes);
	for (i = 0; i < vu->nr_rings; i++) {
		vu_ring_close(&vu->rings[i]);
		vu_ring_init(vu, &vu->rings[i], i, sizes[i]);
	}
	vu->features = 0;
	vu->status = 0;
}

/*
 * The features GET_FEATURES offers: the device's and bit 30, less
 * VIRTIO_F_RING_RESET. vhost-user has no message for one ring's reset
 * (QEMU passes the bit through to the guest), so a guest that resets a
 * queue (ethtool -G) would reallocate a ring the back-end still uses.
 */
static uint64_t vu_offered_features(const struct vdev_vhost_user *vu)
{
	return (vdev_device_features(vu->dev) &
		~(1ULL << VIRTIO_F_RING_RESET)) |
	       (1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
}

static int vu_set_features(struct vdev_vhost_user *vu, uint64_t f)
{
	uint64_t offered = vu_offered_features(vu);
	unsigned int i;

	if (f & ~offered)
		return vu_err(vu, -EINVAL,
			      "SET_FEATURES: %#llx not offered (offered %#llx)",
			      (unsigned long long)f,
			      (unsigned long long)offered);
	if (f == vu->features)
		return 0;
	for (i = 0; i < vu->nr_rings; i++)
		if (vu->rings[i].running)
			return vu_err(vu, -EBUSY,
				      "SET_FEATURES %#llx: ring %u is running",
				      (unsigned long long)f, i);
	/* Negotiated afresh: the next start acks the new set. */
	vu_device_stop(vu);
	vu->features = f;
	return 0;
}

static int vu_get_config(struct vdev_vhost_user *vu,
			 const struct vhost_user_msg *msg)
{
	struct vhost_user_config c = msg->payload.config;

	if (c.size > VHOST_USER_MAX_CONFIG_SIZE ||
	    msg->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + c.size)
		return vu_err(vu, -EPROTO, "GET_CONFIG: %u bytes for size %u",
			      msg->hdr.size, c.size);
	vdev_device_read_config(vu->dev, c.offset, c.region, c.size);
	return vu_send(vu, msg, &c, VHOST_USER_CONFIG_HDR_SIZE + c.size);
}

static int vu_set_config(struct vdev_vhost_user *vu,
			 const struct vhost_user_msg *msg)
{
	const struct vhost_user_config *c = &msg->payload.config;

	if (c->size > VHOST_USER_MAX_CONFIG_SIZE ||
	    msg->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + c->size)
		return vu_err(vu, -EPROTO, "SET_CONFIG: %u bytes for size %u",
			      msg->hdr.size, c->size);
	vdev_device_write_config(vu->dev, c->offset, c->region, c->size);
	return 0;
}

/* ---- inflight tracking ----------------------------------------------------- */

/* Stop tracking every ring and unmap the region (no ring running). */
static void vu_inflight_clear(struct vdev_vhost_user *vu)
{
	unsigned int i;

	if (!vu->inflight)
		return;
	for (i = 0; i < vu->nr_rings; i++)
		vq_inflight_attach(vu->dev, i, NULL, 0);
	munmap(vu->inflight, vu->inflight_len);
	vu->inflight = NULL;
	vu->inflight_len = 0;
}

/* Track rings 0 .. num_queues - 1 in @map from their next start. */
static void vu_inflight_set(struct vdev_vhost_user *vu, void *map, size_t len,
			    const struct vhost_user_inflight *in)
{
	size_t q = vq_inflight_queue_bytes(in->queue_size);
	unsigned int i;

	vu_inflight_clear(vu);
	vu->inflight = map;
	vu->inflight_len = len;
	for (i = 0; i < in->num_queues; i++)
		vq_inflight_attach(vu->dev, i, (char *)map + i * q,
				   in->queue_size);
}

static int vu_inflight_check(struct vdev_vhost_user *vu, const char *what,
			     const struct vhost_user_inflight *in)
{
	if (!in->num_queues || in->num_queues > vu->nr_rings)
		return vu_err(vu, -EINVAL, "%s: %u queues (1 to %u)", what,
			      in->num_queues, vu->nr_rings);
	if (!in->queue_size || in->queue_size > VU_INFLIGHT_MAX_QUEUE)
		return vu_err(vu, -EINVAL, "%s: queue size %u (1 to %u)", what,
			      in->queue_size, VU_INFLIGHT_MAX_QUEUE);
	/* Rings stopped or not started: they pick the region up at start. */
	if (vu->active)
		return vu_err(vu, -EBUSY, "%s: rings are running", what);
	return 0;
}

/*
 * GET_INFLIGHT_FD: a new region, zero-filled, for the front-end to keep
 * and give back (SET_INFLIGHT_FD) to a back-end started after this one.
 * Sealed, so that neither side can shrink it under the other.
 */
static int vu_get_inflight_fd(struct vdev_vhost_user *vu,
			      const struct vhost_user_msg *msg)
{
	struct vhost_user_inflight in = msg->payload.inflight;
	const unsigned int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	void *map;
	size_t len;
	int fd, ret;

	ret = vu_inflight_check(vu, "GET_INFLIGHT_FD", &in);
	if (ret)
		return ret;
	len = in.num_queues * vq_inflight_queue_bytes(in.queue_size);
	fd = memfd_create("vdev-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return vu_err(vu, -errno, "GET_INFLIGHT_FD: memfd_create");
	if (ftruncate(fd, len) || fcntl(fd, F_ADD_SEALS, seals)) {
		ret = vu_err(vu, -errno, "GET_INFLIGHT_FD: %zu bytes", len);
		goto out_close;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = vu_err(vu, -errno, "GET_INFLIGHT_FD: cannot map %zu bytes",
			     len);
		goto out_close;
	}
	vu_inflight_set(vu, map, len, &in);
	in.mmap_size = len;
	in.mmap_offset = 0;
	ret = vu_send_fd(vu, msg, &in, sizeof(in), fd);
out_close:
	close(fd);
	return ret;
}

/*
 * SET_INFLIGHT_FD's mmap_size is a u64 that mmap() takes as a size_t and
 * that vu_inflight_set() indexes as one object: at most PTRDIFF_MAX bytes
 * (far more than any process can map), which is a size_t on 32-bit too.
 */
_Static_assert(PTRDIFF_MAX <= SIZE_MAX, "PTRDIFF_MAX bytes fit a size_t");

/* SET_INFLIGHT_FD: the region a back-end before this one filled. */
static int vu_set_inflight_fd(struct vdev_vhost_user *vu,
			      const struct vhost_user_msg *msg, int *fds,
			      unsigned int nr_fds)
{
	const struct vhost_user_inflight *in = &msg->payload.inflight;
	struct vhost_user_region r = {
		.memory_size = in->mmap_size,
		.mmap_offset = in->mmap_offset,
	};
	struct stat st;
	size_t need;
	void *map;
	int ret;

	if (nr_fds != 1)
		return vu_err(vu, -EPROTO, "SET_INFLIGHT_FD: %u fds, expected 1",
			      nr_fds);
	ret = vu_inflight_check(vu, "SET_INFLIGHT_FD", in);
	if (ret)
		return ret;
	need = in->num_queues * vq_inflight_queue_bytes(in->queue_size);
	if (in->mmap_size < need || in->mmap_size > PTRDIFF_MAX ||
	    in->mmap_offset + in->mmap_size < in->mmap_offset)
		return vu_err(vu, -EINVAL,
			      "SET_INFLIGHT_FD: %llu bytes for %u queues of %u (need %zu)",
			      (unsigned long long)in->mmap_size,
			      in->num_queues, in->queue_size, need);
	if (fstat(fds[0], &st))
		return vu_err(vu, -errno, "SET_INFLIGHT_FD: fd");
	ret = vu_check_fd(vu, "SET_INFLIGHT_FD", 0, fds[0], &r, &st);
	if (ret)
		return ret;
	map = mmap(NULL, in->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fds[0], in->mmap_offset);
	if (map == MAP_FAILED)
		return vu_err(vu, -errno, "SET_INFLIGHT_FD: cannot map %llu bytes",
			      (unsigned long long)in->mmap_size);
	vu_inflight_set(vu, map, in->mmap_size, in);
	return 0;
}

/* ---- dispatch -------------------------------------------------------------- */

/* Payload size each request must have; -1: checked by its handler. */
static int vu_payload_size(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_STATUS:
		return 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
	case VHOST_USER_SET_STATUS:
		return sizeof(uint64_t);
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return sizeof(struct vhost_vring_state);
	case VHOST_USER_SET_VRING_ADDR:
		return sizeof(struct vhost_vring_addr);
	case VHOST_USER_ADD_MEM_REG:
	case VHOST_USER_REM_MEM_REG:
		return sizeof(struct vhost_user_mem_reg);
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		return sizeof(struct vhost_user_inflight);
	default:
		return -1;
	}
}

/* Requests that may carry fds; all others must carry none. */
static bool vu_takes_fds(uint32_t req)
{
	return req == VHOST_USER_SET_MEM_TABLE ||
	       req == VHOST_USER_ADD_MEM_REG ||
	       req == VHOST_USER_REM_MEM_REG ||
	       req == VHOST_USER_SET_VRING_KICK ||
	       req == VHOST_USER_SET_VRING_CALL ||
	       req == VHOST_USER_SET_VRING_ERR ||
	       req == VHOST_USER_SET_INFLIGHT_FD;
}

static bool vu_has_proto(const struct vdev_vhost_user *vu, unsigned int bit)
{
	return vu->protocol_features & (1ULL << bit);
}

/*
 * Handle one message; *@replied is set when it sent its own reply. The
 * fds left in @fds are closed by the caller.
 */
static int vu_handle(struct vdev_vhost_user *vu, const struct vhost_user_msg *msg,
		     int *fds, unsigned int nr_fds, bool *replied)
{
	uint32_t req = msg->hdr.request;
	const char *name = vu_req_name(req);
	int size = vu_payload_size(req);

	/* The ack is this message's: not the previous one's reply. */
	*replied = false;
	if (size >= 0 && msg->hdr.size != (uint32_t)size)
		return vu_err(vu, -EPROTO, "%s: payload of %u bytes, expected %d",
			      name, msg->hdr.size, size);
	if (nr_fds && !vu_takes_fds(req))
		return vu_err(vu, -EPROTO, "%s: %u fds, expected none", name,
			      nr_fds);

	*replied = true;
	switch (req) {
	case VHOST_USER_GET_FEATURES:
		return vu_reply_u64(vu, msg, vu_offered_features(vu));
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return vu_reply_u64(vu, msg, VU_PROTOCOL_FEATURES);
	case VHOST_USER_GET_QUEUE_NUM:
		return vu_reply_u64(vu, msg, vu->nr_rings);
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		return vu_reply_u64(vu, msg, VDEV_MEM_MAX_REGIONS);
	case VHOST_USER_GET_STATUS:
		return vu_reply_u64(vu, msg, vu->status);
	case VHOST_USER_GET_VRING_BASE:
		return vu_get_vring_base(vu, msg);
	case VHOST_USER_GET_CONFIG:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_CONFIG))
			break;
		return vu_get_config(vu, msg);
	case VHOST_USER_GET_INFLIGHT_FD:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
			break;
		return vu_get_inflight_fd(vu, msg);
	}

	*replied = false;
	switch (req) {
	case VHOST_USER_SET_FEATURES:
		return vu_set_features(vu, msg->payload.u64);
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (msg->payload.u64 & ~VU_PROTOCOL_FEATURES)
			return vu_err(vu, -EINVAL,
				      "SET_PROTOCOL_FEATURES: %#llx not offered",
				      (unsigned long long)msg->payload.u64);
		vu->protocol_features = msg->payload.u64;
		return 0;
	case VHOST_USER_SET_OWNER:
		vu->owner = true;
		return 0;
	case VHOST_USER_RESET_OWNER:
		vu_reset_rings(vu);
		return 0;
	case VHOST_USER_RESET_DEVICE:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_RESET_DEVICE))
			break;
		vu_reset_rings(vu);
		return 0;
	case VHOST_USER_SET_MEM_TABLE:
		return vu_set_mem_table(vu, msg, fds, nr_fds);
	case VHOST_USER_ADD_MEM_REG:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			break;
		return vu_add_mem_reg(vu, msg, fds, nr_fds);
	case VHOST_USER_REM_MEM_REG:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))
			break;
		if (nr_fds > 1)
			return vu_err(vu, -EPROTO, "REM_MEM_REG: %u fds",
				      nr_fds);
		return vu_rem_mem_reg(vu, msg);
	case VHOST_USER_SET_VRING_NUM:
		return vu_set_vring_num(vu, &msg->payload.state);
	case VHOST_USER_SET_VRING_ADDR:
		return vu_set_vring_addr(vu, &msg->payload.addr);
	case VHOST_USER_SET_VRING_BASE:
		return vu_set_vring_base(vu, &msg->payload.state);
	case VHOST_USER_SET_VRING_KICK:
		return vu_set_vring_kick(vu, msg, fds, nr_fds);
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return vu_set_vring_signal(vu, msg, fds, nr_fds);
	case VHOST_USER_SET_VRING_ENABLE:
		return vu_set_vring_enable(vu, &msg->payload.state);
	case VHOST_USER_SET_CONFIG:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_CONFIG))
			break;
		return vu_set_config(vu, msg);
	case VHOST_USER_SET_INFLIGHT_FD:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
			break;
		return vu_set_inflight_fd(vu, msg, fds, nr_fds);
	case VHOST_USER_SET_STATUS:
		if (!vu_has_proto(vu, VHOST_USER_PROTOCOL_F_STATUS))
			break;
		vu->status = msg->payload.u64 & 0xff;
		return 0;
	default:
		if (req >= ARRAY_SIZE(vu_req_names) || !vu_req_names[req])
			return vu_err(vu, -EPROTO, "unknown request %u", req);
		return vu_err(vu, -EPROTO, "%s (%u) not supported", name, req);
	}
	return vu_err(vu, -EPROTO, "%s without its protocol feature", name);
}

/* Read one message: 1, 0 at an orderly end, -ECANCELED on a stop, -errno. */
static int vu_read_msg(struct vdev_vhost_user *vu, struct vhost_user_msg *msg,
		       int *fds, unsigned int *nr_fds)
{
	int ret;

	*nr_fds = 0;
	ret = vu_recv(vu, &msg->hdr, sizeof(msg->hdr), fds, nr_fds);
	if (ret == -EPROTO)
		return vu_err(vu, ret, "message header cut short");
	if (ret == -EMSGSIZE)
		return vu_err(vu, -EPROTO, "more than %u fds in one message",
			      VHOST_USER_MAX_FDS);
	if (ret <= 0)
		return ret;
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (msg->hdr.flags & VHOST_USER_REPLY_MASK))
		return vu_err(vu, -EPROTO, "%s: flags %#x (version 1, no reply bit)",
			      vu_req_name(msg->hdr.request), msg->hdr.flags);
	if (msg->hdr.size > sizeof(msg->payload))
		return vu_err(vu, -EPROTO, "%s: payload of %u bytes (at most %zu)",
			      vu_req_name(msg->hdr.request), msg->hdr.size,
			      sizeof(msg->payload));
	memset(&msg->payload, 0, sizeof(msg->payload));
	if (!msg->hdr.size)
		return 1;
	ret = vu_recv(vu, &msg->payload, msg->hdr.size, fds, nr_fds);
	if (ret == -EMSGSIZE)
		return vu_err(vu, -EPROTO, "more than %u fds in one message",
			      VHOST_USER_MAX_FDS);
	if (ret == 0 || ret == -EPROTO)
		return vu_err(vu, -EPROTO, "%s: payload cut short",
			      vu_req_name(msg->hdr.request));
	return ret;
}

static int vu_conn_init(struct vdev_vhost_user *vu, int fd)
{
	const uint16_t *sizes;
	unsigned int i;
	int ret;

	ret = vdev_mem_create(&vu->mem);
	if (ret)
		return ret;
	vu->fd = fd;
	vu->owner = false;
	vu->features = 0;
	vu->protocol_features = 0;
	vu->status = 0;
	vu->nr_regions = 0;
	vu->active = false;
	vu->inflight = NULL;
	vu->inflight_len = 0;
	vdev_device_queue_max_sizes(vu->dev, &sizes);
	for (i = 0; i < vu->nr_rings; i++)
		vu_ring_init(vu, &vu->rings[i], i, sizes[i]);
	return 0;
}

/* The connection is over: workers joined, fds closed, memory unmapped. */
static void vu_conn_teardown(struct vdev_vhost_user *vu)
{
	unsigned int i;

	vu_device_stop(vu);
	/* A device never activated may still hold acked features. */
	vdev_device_reset(vu->dev);
	for (i = 0; i < vu->nr_rings; i++)
		vu_ring_close(&vu->rings[i]);
	vu_inflight_clear(vu);
	vdev_mem_put(vu->mem);
	vu->mem = NULL;
	vu->nr_regions = 0;
	vu->fd = -1;
}

/**
 * vdev_vhost_user_serve_fd() - serve one connected socket
 * @vu: the back-end
 * @fd: a connected SOCK_STREAM Unix socket; stays the caller's, who
 *      closes it after the return
 *
 * Reads and handles the front-end's messages until it closes the
 * connection, breaks the protocol, or vdev_vhost_user_stop() is called.
 * Then the device is reset (every worker joined; a TAP device stays
 * open, ready for the next connection), every fd the front-end passed is
 * closed and its guest memory unmapped.
 *
 * Context: one connection at a time; not from a worker of the device.
 *
 * Return: 0 when the front-end closed the connection or the back-end was
 * stopped; -EBUSY when another connection is being served; -errno when
 * the front-end broke the protocol (logged, one line, through the
 * device's rate limiter): -EPROTO for a malformed message (size, fd
 * count, unknown or unnegotiated request), -EINVAL for a bad value
 * (memory region, ring size, base or address), -EBUSY for a change to a
 * running ring, the mmap error of an fd that cannot be mapped.
 */
int vdev_vhost_user_serve_fd(struct vdev_vhost_user *vu, int fd)
{
	struct vhost_user_msg msg;
	int fds[VHOST_USER_MAX_FDS];
	unsigned int nr_fds = 0;
	bool replied = false;
	int ret, ack;

	if (atomic_exchange(&vu->serving, true))
		return -EBUSY;
	ret = vu_conn_init(vu, fd);
	if (ret)
		goto out;
	atomic_fetch_add(&vu->nr_connections, 1);
	for (;;) {
		ret = vu_read_msg(vu, &msg, fds, &nr_fds);
		if (ret <= 0)
			break;
		atomic_fetch_add(&vu->nr_messages, 1);
		ret = vu_handle(vu, &msg, fds, nr_fds, &replied);
		close_fds(fds, nr_fds);
		nr_fds = 0;
		if (!replied && (msg.hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
		    vu_has_proto(vu, VHOST_USER_PROTOCOL_F_REPLY_ACK)) {
			ack = vu_reply_u64(vu, &msg, ret ? 1 : 0);
			if (!ret)
				ret = ack;
		}
		if (ret)
			break;
	}
	close_fds(fds, nr_fds);
	/* Stopped, in a message or while a reply waited: an orderly end. */
	if (ret == -ECANCELED)
		ret = 0;
	if (ret < 0)
		atomic_fetch_add(&vu->nr_errors, 1);
	vu_conn_teardown(vu);
out:
	atomic_store(&vu->serving, false);
	return ret;
}

static bool vu_stopped(struct vdev_vhost_user *vu)
{
	struct pollfd pfd = { .fd = vu->stop_fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/* Sleep @ms or until stopped; true when stopped. */
static bool vu_sleep(struct vdev_vhost_user *vu, unsigned int ms)
{
	struct pollfd pfd = { .fd = vu->stop_fd, .events = POLLIN };
	int n;

	do {
		n = poll(&pfd, 1, ms);
	} while (n < 0 && errno == EINTR);
	return n > 0;
}

static int vu_sockaddr(struct vdev_vhost_user *vu, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!vu->socket_path || !*vu->socket_path ||
	    strlen(vu->socket_path) >= sizeof(sa->sun_path)) {
		vdev_log(VDEV_LOG_ERR,
			 "vhost-user: socket path '%s' is empty or longer than %zu bytes",
			 vu->socket_path ? vu->socket_path : "",
			 sizeof(sa->sun_path) - 1);
		return -EINVAL;
	}
	strcpy(sa->sun_path, vu->socket_path);
	return 0;
}

/*
 * Serve @fd; the line of a broken connection goes through the device's
 * rate limiter (a front-end may break one connection after another).
 * Returns serve_fd()'s value.
 */
static int vu_serve_logged(struct vdev_vhost_user *vu, int fd)
{
	int ret = vdev_vhost_user_serve_fd(vu, fd);

	if (ret < 0 && vdev_ratelimit_ok(&vu->dev->rl))
		vdev_log(VDEV_LOG_WARN,
			 "vhost-user: %s: connection closed: %s; waiting for the next one",
			 vu->dev->name, strerror(-ret));
	return ret;
}

static uint64_t vu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int vu_run_server(struct vdev_vhost_user *vu)
{
	struct sockaddr_un sa;
	struct stat st;
	int lfd, fd, ret;

	ret = vu_sockaddr(vu, &sa);
	if (ret)
		return ret;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	/* A stale socket of an earlier run is replaced; any other file not. */
	if (!lstat(sa.sun_path, &st) && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 1)) {
		ret = -errno;
		vdev_log(VDEV_LOG_ERR, "vhost-user: cannot listen on %s: %s",
			 sa.sun_path, strerror(-ret));
		close(lfd);
		return ret;
	}
	while (!vu_stopped(vu)) {
		ret = vu_wait(vu, lfd);
		if (ret <= 0)
			break;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == ECONNABORTED)
				continue;
			ret = -errno;
			vdev_log(VDEV_LOG_ERR, "vhost-user: accept on %s: %s",
				 sa.sun_path, strerror(-ret));
			break;
		}
		vu_serve_logged(vu, fd);
		close(fd);
	}
	close(lfd);
	unlink(sa.sun_path);
	return ret < 0 ? ret : 0;
}

static int vu_run_client(struct vdev_vhost_user *vu)
{
	struct sockaddr_un sa;
	uint64_t t0;
	int fd, ret;

	ret = vu_sockaddr(vu, &sa);
	if (ret)
		return ret;
	while (!vu_stopped(vu)) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			/* Not there yet, or gone: try again later. */
			if (vu_sleep(vu, vu->reconnect_ms))
				break;
			continue;
		}
		t0 = vu_now_ms();
		ret = vu_serve_logged(vu, fd);
		close(fd);
		/*
		 * A front-end that accepts and closes at once, or breaks
		 * the protocol: wait before the next attempt, no busy loop.
		 */
		if ((ret < 0 || vu_now_ms() - t0 < 1000) &&
		    vu_sleep(vu, vu->reconnect_ms))
			break;
	}
	return 0;
}

/**
 * vdev_vhost_user_run() - accept or connect, serve, repeat until stopped
 * @vu: the back-end
 *
 * Server mode: listens on the socket path (a stale socket there is
 * replaced), serves one connection at a time and listens again. Client
 * mode: connects, retrying every reconnect_ms until the front-end
 * listens, serves, and connects again when the connection ends: at once
 * after a connection of 1 s or more that ended in order, after
 * reconnect_ms otherwise (a front-end that accepts and closes at once
 * gets no busy loop). A connection that the front-end breaks is logged
 * (through the device's rate limiter) and the next one served.
 *
 * Context: sleeps; vdev_vhost_user_stop() from any thread or a signal
 * handler makes it return.
 *
 * Return: 0 after vdev_vhost_user_stop(); -errno when the socket cannot
 * be set up (an error line says which path and why).
 */
int vdev_vhost_user_run(struct vdev_vhost_user *vu)
{
	return vu->client ? vu_run_client(vu) : vu_run_server(vu);
}

/**
 * vdev_vhost_user_stop() - make vdev_vhost_user_run() return
 * @vu: the back-end
 *
 * Wakes vdev_vhost_user_run() and a vdev_vhost_user_serve_fd() waiting
 * for a message; each returns 0 after tearing down its connection. Stays
 * in effect: later calls of either return at once.
 *
 * Context: any thread; async-signal-safe (one eventfd write).
 */
void vdev_vhost_user_stop(struct vdev_vhost_user *vu)
{
	int saved = errno;

	eventfd_kick(vu->stop_fd);
	errno = saved;
}

/**
 * vdev_vhost_user_create() - a vhost-user back-end for one device
 * @dev: the device to serve; a reference is taken. Its type must
 *       support per-queue reset (&vdev_device_ops.queue_reset and
 *       .queue_enable), which GET_VRING_BASE needs
 * @cfg: socket path and mode
 * @out: the back-end, on success
 *
 * Return: 0; -EINVAL for a NULL argument; -EOPNOTSUPP (logged) for a
 * device without per-queue reset; -ENOMEM; -errno from eventfd().
 */
int vdev_vhost_user_create(struct vdev_device *dev,
			   const struct vdev_vhost_user_config *cfg,
			   struct vdev_vhost_user **out)
{
	struct vdev_vhost_user *vu;
	const uint16_t *sizes;
	unsigned int n;
	int ret;

	if (!dev || !cfg || !out)
		return -EINVAL;
	if (!vdev_device_queue_reset_supported(dev)) {
		vdev_log(VDEV_LOG_ERR,
			 "vhost-user: %s: the device cannot stop one queue on its own",
			 dev->name);
		return -EOPNOTSUPP;
	}
	n = vdev_device_queue_max_sizes(dev, &sizes);
	if (!n || n > VU_MAX_RINGS) {
		vdev_log(VDEV_LOG_ERR, "vhost-user: %s: %u queues (1 to %u)",
			 dev->name, n, VU_MAX_RINGS);
		return -EINVAL;
	}
	vu = calloc(1, sizeof(*vu));
	if (!vu)
		return -ENOMEM;
	vu->rings = calloc(n, sizeof(*vu->rings));
	if (!vu->rings) {
		ret = -ENOMEM;
		goto out_free;
	}
	vu->nr_rings = n;
	if (cfg->socket_path) {
		vu->socket_path = strdup(cfg->socket_path);
		if (!vu->socket_path) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	vu->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vu->stop_fd < 0) {
		ret = -errno;
		goto out_free;
	}
	vu->client = cfg->client;
	/* poll() takes an int: a longer period is INT_MAX ms (24 days). */
	vu->reconnect_ms = cfg->reconnect_ms ? cfg->reconnect_ms : 1000;
	if (vu->reconnect_ms > INT_MAX)
		vu->reconnect_ms = INT_MAX;
	vu->fd = -1;
	vdev_interrupt_init(&vu->irq, &vu_irq_ops);
	vu->dev = vdev_device_get(dev);
	*out = vu;
	return 0;

out_free:
	free(vu->socket_path);
	free(vu->rings);
	free(vu);
	return ret;
}

/**
 * vdev_vhost_user_destroy() - free the back-end
 * @vu: the back-end, or NULL; no connection may be being served
 *
 * Drops the device reference taken by vdev_vhost_user_create().
 */
void vdev_vhost_user_destroy(struct vdev_vhost_user *vu)
{
	if (!vu)
		return;
	vdev_device_put(vu->dev);
	close(vu->stop_fd);
	free(vu->socket_path);
	free(vu->rings);
	free(vu);
}

/**
 * vdev_vhost_user_get_stats() - what the back-end counted
 * @vu: the back-end
 * @stats: filled in
 *
 * Context: any thread.
 */
void vdev_vhost_user_get_stats(struct vdev_vhost_user *vu,
			       struct vdev_vhost_user_stats *stats)
{
	stats->connections = atomic_load(&vu->nr_connections);
	stats->messages = atomic_load(&vu->nr_messages);
	stats->errors = atomic_load(&vu->nr_errors);
}
