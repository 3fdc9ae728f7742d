// SPDX-License-Identifier: GPL-2.0
/*
 * Measures the claim the TAP reopen rule rests on (issue 3, "TAP backend"):
 *
 *   a thread blocked in read() on a TAP fd keeps the TAP attached after
 *   another thread close()s that fd -- a new TUNSETIFF gets EBUSY until
 *   the read returns -- while a thread blocked in epoll_wait() on it does
 *   not.
 *
 * (read() holds a reference to the open file for as long as it runs, so
 * close() only drops the fd table's reference; epoll holds none.) This is
 * why vdev's workers never block in read()/write() on a TAP: non-blocking
 * fds driven by epoll only, joined before the fds are closed.
 *
 * Each test uses a persistent single-queue TAP in its own namespace and
 * prints what it measured as TAP comments.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <vdev/tap.h>

#include "kselftest_harness.h"
#include "net_test.h"

#define TAP		"vhold0"
#define HOLD_MS		200	/* how long the blocked read is kept */
#define PROBE_EVERY_MS	10

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void on_sigusr1(int sig)
{
}

/**
 * struct blocker - a thread blocked in one syscall on the TAP fd
 * @fd: TAP fd (read) or epoll fd (epoll_wait)
 * @tid: the thread's id, for /proc/self/task/<tid>/syscall
 * @ret: what the syscall returned
 * @err: errno after it
 * @done: set when the syscall returned
 * @t_done: when it returned (now_us())
 */
struct blocker {
	int fd;
	atomic_int tid;
	long ret;
	int err;
	atomic_bool done;
	double t_done;
};

static void *read_blocker(void *p)
{
	struct blocker *b = p;
	char buf[2048];

	atomic_store(&b->tid, gettid());
	b->ret = read(b->fd, buf, sizeof(buf));
	b->err = errno;
	b->t_done = now_us();
	atomic_store(&b->done, true);
	return NULL;
}

static void *epoll_blocker(void *p)
{
	struct blocker *b = p;
	struct epoll_event ev[4];

	atomic_store(&b->tid, gettid());
	b->ret = epoll_wait(b->fd, ev, 4, 10000);
	b->err = errno;
	b->t_done = now_us();
	atomic_store(&b->done, true);
	return NULL;
}

/* The syscall number @tid is blocked in, or -1 while it runs. */
static long blocked_in(int tid)
{
	char path[64], buf[64];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		nr = strtol(buf, NULL, 10);
	fclose(f);
	return nr;
}

/* Wait (up to 2 s) until @b's thread sleeps in one of @nrs. */
static bool wait_blocked(struct blocker *b, const long *nrs, int n)
{
	int i, j, tid;
	long nr;

	for (i = 0; i < 2000; i++) {
		tid = atomic_load(&b->tid);
		if (tid) {
			nr = blocked_in(tid);
			for (j = 0; j < n; j++)
				if (nr == nrs[j])
					return true;
		}
		usleep(1000);
	}
	return false;
}

FIXTURE(hold) {
	int fd;
	int epfd;
	int evfd;
	pthread_t thread;
	bool started;
};

FIXTURE_SETUP(hold)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	self->fd = -1;
	self->epfd = -1;
	self->evfd = -1;
	if (!nt_fixture_netns(_metadata))
		return;
	ASSERT_EQ(0, nt_tap_create(TAP, false));
	/* No SA_RESTART: the signal ends a blocked read with EINTR. */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
}

FIXTURE_TEARDOWN(hold)
{
	if (self->started) {
		pthread_kill(self->thread, SIGUSR1);
		if (self->evfd >= 0)
			eventfd_write(self->evfd, 1);
		pthread_join(self->thread, NULL);
	}
	if (self->fd >= 0)
		close(self->fd);
	if (self->epfd >= 0)
		close(self->epfd);
	if (self->evfd >= 0)
		close(self->evfd);
	/* The persistent TAP goes with the namespace. */
}

TEST_F(hold, blocked_read_keeps_tap_attached)
{
	static const long nrs[] = { __NR_read };
	struct vdev_tap_config cfg = { .name = TAP };
	struct vdev_tap *tap = NULL;
	struct blocker b = { 0 };
	int probes = 0, ebusy = 0, fd;
	double t_close, t_end, t_ok;

	/* A blocking fd, as a worker that read()s would have. */
	b.fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, b.fd);
	ASSERT_EQ(0, pthread_create(&self->thread, NULL, read_blocker, &b));
	self->started = true;
	ASSERT_TRUE(wait_blocked(&b, nrs, 1));

	/* Another thread closes the fd under the blocked read. */
	t_close = now_us();
	ASSERT_EQ(0, close(b.fd));
	t_end = t_close + HOLD_MS * 1000;
	while (now_us() < t_end) {
		fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
		probes++;
		if (fd == -EBUSY)
			ebusy++;
		else if (fd >= 0)
			close(fd);
		usleep(PROBE_EVERY_MS * 1000);
	}
	EXPECT_FALSE(atomic_load(&b.done));
	EXPECT_EQ(-EBUSY, vdev_tap_open(&cfg, &tap));
	EXPECT_TRUE(nt_log_has("another fd still holds"));
	TH_LOG("read() blocked, fd closed: %d/%d TUNSETIFF over %d ms got EBUSY",
	       ebusy, probes, HOLD_MS);
	EXPECT_EQ(probes, ebusy);

	/* End the read: the TAP is released when it returns. */
	ASSERT_EQ(0, pthread_kill(self->thread, SIGUSR1));
	ASSERT_EQ(0, pthread_join(self->thread, NULL));
	self->started = false;
	fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	t_ok = now_us();
	TH_LOG("read() returned %ld (%s) %.0f us after close()",
	       b.ret, strerror(b.err), b.t_done - t_close);
	TH_LOG("first TUNSETIFF after it: %s, %.0f us after the read returned",
	       fd >= 0 ? "ok" : strerror(-fd), t_ok - b.t_done);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
	EXPECT_EQ(0, vdev_tap_open(&cfg, &tap));
	vdev_tap_close(tap);
}

TEST_F(hold, blocked_epoll_wait_does_not)
{
	static const long nrs[] = { __NR_epoll_wait, __NR_epoll_pwait,
				    __NR_epoll_pwait2 };
	struct epoll_event ev = { .events = EPOLLIN };
	struct blocker b = { 0 };
	double t_close, t_ok;
	int fd;

	self->fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	self->epfd = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, self->epfd);
	self->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->evfd);
	ASSERT_EQ(0, epoll_ctl(self->epfd, EPOLL_CTL_ADD, self->fd, &ev));
	ASSERT_EQ(0, epoll_ctl(self->epfd, EPOLL_CTL_ADD, self->evfd, &ev));

	b.fd = self->epfd;
	ASSERT_EQ(0, pthread_create(&self->thread, NULL, epoll_blocker, &b));
	self->started = true;
	ASSERT_TRUE(wait_blocked(&b, nrs, 3));

	t_close = now_us();
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	/* At once, no retry: the TAP is free. */
	fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	t_ok = now_us();
	EXPECT_FALSE(atomic_load(&b.done));
	TH_LOG("epoll_wait() blocked, fd closed: first TUNSETIFF %s, %.0f us after close()",
	       fd >= 0 ? "ok" : strerror(-fd), t_ok - t_close);
	ASSERT_LE(0, fd);
	close(fd);

	ASSERT_EQ(0, eventfd_write(self->evfd, 1));
	ASSERT_EQ(0, pthread_join(self->thread, NULL));
	self->started = false;
	EXPECT_EQ(1, b.ret);
}

/* The seed's bug without any thread: a leaked dup holds the TAP. */
TEST_F(hold, leaked_dup_keeps_tap_attached)
{
	int fd;

	self->fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	ASSERT_LE(0, self->fd);
	fd = fcntl(self->fd, F_DUPFD_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(self->fd));
	self->fd = fd;
	EXPECT_EQ(-EBUSY, nt_tap_attach(TAP, NT_TAP_FLAGS));
	close(self->fd);
	self->fd = nt_tap_attach(TAP, NT_TAP_FLAGS);
	EXPECT_LE(0, self->fd);
}

TEST_HARNESS_MAIN
