/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vhost-user front-end of the vhost_user selftests: the test sends
 * the real messages (struct vhost_user_hdr of lib/vhost_user_priv.h,
 * fds with SCM_RIGHTS) on one end of a socketpair and reads the replies
 * within FE_WAIT_MS; struct srv runs the back-end on the other end, on a
 * thread. Shared by vhost_user_test.c and vhost_user_inflight_test.c.
 *
 *   struct fe    the connection: fe_send(), fe_read(), fe_reply_fds(),
 *                fe_reply(), fe_msg() (REPLY_ACK's ack when negotiated),
 *                fe_u64(), fe_get_u64(), fe_state(), fe_vring_fd(),
 *                fe_get_vring_base()
 *   struct srv   vdev_vhost_user_serve_fd() on a thread: srv_main(),
 *                srv_join()
 *   log_buf      vdev's lines, kept by log_capture() (the vdev_log()
 *                handler): log_reset(), log_has(), log_count(),
 *                log_count_icase()
 */
#ifndef VU_FE_H
#define VU_FE_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vdev/log.h>
#include <vdev/vhost_user.h>

#include "vhost_user_priv.h"	/* lib/: the wire format (messages only) */

#define FE_WAIT_MS	5000

/* ---- the front-end ------------------------------------------------------ */

struct fe {
	int sock;
	bool ack;
};

static inline int fe_send(struct fe *fe, uint32_t req, uint32_t flags,
			  const void *payload, uint32_t size, const int *fds,
			  unsigned int nr_fds)
{
	struct vhost_user_hdr hdr = {
		.request = req,
		.flags = VHOST_USER_VERSION | flags,
		.size = size,
	};
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov[2] = {
		{ &hdr, sizeof(hdr) },
		{ (void *)payload, size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	struct cmsghdr *c;

	if (nr_fds) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nr_fds * sizeof(int));
	}
	if (sendmsg(fe->sock, &mh, MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(hdr) + size))
		return errno ? -errno : -EIO;
	return 0;
}

/*
 * Read exactly @len bytes within FE_WAIT_MS, and the fds that come with
 * them (up to @max_fds into @fds, counted in *@nr_fds; the others
 * closed and counted too). 0, -EPIPE at EOF, -errno.
 */
static inline int fe_read(struct fe *fe, void *buf, size_t len, int *fds,
			  unsigned int max_fds, unsigned int *nr_fds)
{
	struct pollfd pfd = { .fd = fe->sock, .events = POLLIN };
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		struct iovec iov = { (char *)buf + done, len - done };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c;

		if (poll(&pfd, 1, FE_WAIT_MS) != 1)
			return -ETIMEDOUT;
		n = recvmsg(fe->sock, &mh, MSG_CMSG_CLOEXEC);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return -errno;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			unsigned int i, k;
			int fd;

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(fd));
				if (nr_fds && *nr_fds < max_fds)
					fds[*nr_fds] = fd;
				else
					close(fd);
				if (nr_fds)
					++*nr_fds;
			}
		}
		done += n;
	}
	return 0;
}

/* The reply to @req with its fds: its payload size, or -errno. */
static inline int fe_reply_fds(struct fe *fe, uint32_t req, void *payload,
			       size_t cap, int *fds, unsigned int max_fds,
			       unsigned int *nr_fds)
{
	struct vhost_user_hdr hdr;
	char junk[512];
	int ret;

	ret = fe_read(fe, &hdr, sizeof(hdr), fds, max_fds, nr_fds);
	if (ret)
		return ret;
	if (hdr.request != req || hdr.flags !=
	    (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) || hdr.size > cap ||
	    hdr.size > sizeof(junk))
		return -EPROTO;
	ret = fe_read(fe, payload ? payload : junk, hdr.size, fds, max_fds,
		      nr_fds);
	return ret ? ret : (int)hdr.size;
}

/* The reply to @req, which has no fds: its payload size, or -errno. */
static inline int fe_reply(struct fe *fe, uint32_t req, void *payload,
			   size_t cap)
{
	unsigned int nr_fds = 0;
	int fd = -1, ret;

	ret = fe_reply_fds(fe, req, payload, cap, &fd, 1, &nr_fds);
	if (nr_fds) {
		close(fd);
		return -EPROTO;	/* no reply but GET_INFLIGHT_FD's has fds */
	}
	return ret;
}

/*
 * A message without a reply of its own: with REPLY_ACK its ack is waited
 * for. 0, the back-end's non-zero ack as -EIO, -errno.
 */
static inline int fe_msg(struct fe *fe, uint32_t req, const void *payload,
			 uint32_t size, const int *fds, unsigned int nr_fds)
{
	uint64_t ack;
	int ret;

	ret = fe_send(fe, req, fe->ack ? VHOST_USER_NEED_REPLY_MASK : 0,
		      payload, size, fds, nr_fds);
	if (ret || !fe->ack)
		return ret;
	ret = fe_reply(fe, req, &ack, sizeof(ack));
	if (ret < 0)
		return ret;
	return ret == sizeof(ack) && !ack ? 0 : -EIO;
}

static inline int fe_u64(struct fe *fe, uint32_t req, uint64_t v)
{
	return fe_msg(fe, req, &v, sizeof(v), NULL, 0);
}

static inline int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *v)
{
	int ret = fe_send(fe, req, 0, NULL, 0, NULL, 0);

	if (!ret)
		ret = fe_reply(fe, req, v, sizeof(*v));
	return ret == sizeof(*v) ? 0 : ret < 0 ? ret : -EPROTO;
}

static inline int fe_state(struct fe *fe, uint32_t req, unsigned int index,
			   unsigned int num)
{
	struct vhost_vring_state s = { .index = index, .num = num };

	return fe_msg(fe, req, &s, sizeof(s), NULL, 0);
}

static inline int fe_vring_fd(struct fe *fe, uint32_t req,
			      unsigned int index, int fd)
{
	uint64_t v = index;

	return fe_msg(fe, req, &v, sizeof(v), &fd, 1);
}

static inline int fe_get_vring_base(struct fe *fe, unsigned int index,
				    unsigned int *num)
{
	struct vhost_vring_state s = { .index = index };
	int ret;

	ret = fe_send(fe, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s),
		      NULL, 0);
	if (!ret)
		ret = fe_reply(fe, VHOST_USER_GET_VRING_BASE, &s, sizeof(s));
	if (ret < 0)
		return ret;
	if (ret != sizeof(s) || s.index != index)
		return -EPROTO;
	*num = s.num;
	return 0;
}

/* The back-end on a thread of this process. */
struct srv {
	struct vdev_vhost_user *vu;
	int fd;
	int ret;
	bool started;
	pthread_t thread;
};

static inline void *srv_main(void *arg)
{
	struct srv *s = arg;

	s->ret = vdev_vhost_user_serve_fd(s->vu, s->fd);
	/* As run() does: the front-end then sees the connection end. */
	close(s->fd);
	return NULL;
}

/* Join the server within 10 s; its return value, or -ETIMEDOUT. */
static inline int srv_join(struct srv *s)
{
	struct timespec ts;

	if (!s->started)
		return -ESRCH;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	if (pthread_timedjoin_np(s->thread, NULL, &ts))
		return -ETIMEDOUT;
	s->started = false;
	return s->ret;
}

/* ---- the error lines vdev logs ------------------------------------------ */

/*
 * Every line vdev logged since log_reset(), each ended by '\n' (what does
 * not fit is cut); the back-end's threads append to it under log_lock.
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[16384];

/* The vdev_log() handler (vdev_log_set_handler()): stderr and log_buf. */
static inline void log_capture(enum vdev_log_level level, const char *msg)
{
	size_t n;

	fprintf(stderr, "vdev: %s\n", msg);
	pthread_mutex_lock(&log_lock);
	n = strlen(log_buf);
	snprintf(log_buf + n, sizeof(log_buf) - n, "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
}

static inline void log_reset(void)
{
	pthread_mutex_lock(&log_lock);
	log_buf[0] = 0;
	pthread_mutex_unlock(&log_lock);
}

/* How many times @s occurs in log_buf; in any case with @icase. */
static inline unsigned int log_count_case(const char *s, bool icase)
{
	unsigned int n = 0;
	const char *p;

	pthread_mutex_lock(&log_lock);
	for (p = log_buf; (p = icase ? strcasestr(p, s) : strstr(p, s)); p++)
		n++;
	pthread_mutex_unlock(&log_lock);
	return n;
}

static inline unsigned int log_count(const char *s)
{
	return log_count_case(s, false);
}

static inline unsigned int log_count_icase(const char *s)
{
	return log_count_case(s, true);
}

static inline bool log_has(const char *s)
{
	return log_count(s);
}

#endif /* VU_FE_H */
