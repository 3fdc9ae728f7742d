/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the net selftests: a fresh network namespace per test, raw
 * TAP ioctls (what a test or another VMM does behind vdev's back), and a
 * vdev_log() handler that keeps the last message for assertions.
 */
#ifndef _VDEV_NET_TEST_H
#define _VDEV_NET_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/if_tun.h>

#include <vdev/log.h>
#include <vdev/netlink.h>

#define NT_TAP_FLAGS	(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

static pthread_mutex_t nt_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char nt_last_log[512];
static unsigned int nt_log_count;

static inline void nt_log_handler(enum vdev_log_level level, const char *msg)
{
	pthread_mutex_lock(&nt_log_lock);
	snprintf(nt_last_log, sizeof(nt_last_log), "%s", msg);
	nt_log_count++;
	pthread_mutex_unlock(&nt_log_lock);
	fprintf(stderr, "# vdev: %s\n", msg);
}

/* Route vdev's messages to nt_last_log (and stderr, as TAP comments). */
static inline void nt_log_capture(void)
{
	nt_last_log[0] = '\0';
	vdev_log_set_handler(nt_log_handler);
}

/* Did the last vdev message contain @s? */
static inline bool nt_log_has(const char *s)
{
	bool ret;

	pthread_mutex_lock(&nt_log_lock);
	ret = strstr(nt_last_log, s) != NULL;
	pthread_mutex_unlock(&nt_log_lock);
	return ret;
}

/*
 * Move the calling thread into a new network namespace with "lo" up.
 * The harness forks each test, so everything created there dies with the
 * test's process even when it fails. Returns 0 or -errno.
 */
static inline int nt_enter_netns(void)
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	return vdev_nl_link_set_up("lo", true);
}

#ifdef __KSELFTEST_HARNESS_H
/*
 * For a FIXTURE_SETUP() (include kselftest_harness.h first): move the test
 * into its own network namespace with nt_enter_netns() and route vdev's
 * messages with nt_log_capture(). Without CAP_SYS_ADMIN the test is
 * skipped and false returned: the caller must then return. Any other
 * error fails the test.
 */
static inline bool nt_fixture_netns(struct __test_metadata *_metadata)
{
	int err = nt_enter_netns();

	if (err == -EPERM)
		SKIP(return false, "no CAP_SYS_ADMIN for a network namespace");
	ASSERT_EQ(0, err);
	nt_log_capture();
	return true;
}
#endif

/*
 * Open /dev/net/tun and TUNSETIFF it to @name with @flags, without vdev.
 * Returns the fd (blocking unless @flags asks otherwise) or -errno.
 */
static inline int nt_tap_attach(const char *name, unsigned int flags)
{
	struct ifreq ifr;
	int fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Create a persistent TAP (as "ip tuntap add") and detach from it. */
static inline int nt_tap_create(const char *name, bool multi_queue)
{
	int fd;

	fd = nt_tap_attach(name, NT_TAP_FLAGS |
			   (multi_queue ? IFF_MULTI_QUEUE : 0));
	if (fd < 0)
		return fd;
	if (ioctl(fd, TUNSETPERSIST, 1)) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	return 0;
}

/* Flags TUNGETIFF reports for @fd, or -errno. */
static inline int nt_tap_fd_flags(int fd, char name[IFNAMSIZ])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr))
		return -errno;
	if (name)
		memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return ifr.ifr_flags & 0xffff;
}

/*
 * ioctl(@req) on @ifname through a throwaway AF_INET socket (SIOCGIFTXQLEN,
 * SIOCETHTOOL...): @ifr is the caller's, zeroed but for what @req needs;
 * this fills in the name. Returns 0 or -errno.
 */
static inline int nt_if_ioctl(const char *ifname, unsigned long req,
			      struct ifreq *ifr)
{
	int sk, ret;

	sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	ret = ioctl(sk, req, ifr) ? -errno : 0;
	close(sk);
	return ret;
}

#endif /* _VDEV_NET_TEST_H */
