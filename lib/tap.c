// SPDX-License-Identifier: GPL-2.0
/*
 * TAP backend: open a TAP by name or adopt a caller's fds, one fd per
 * queue pair, and the few ioctls virtio-net needs on them.
 *
 * Opening by name asks netlink nothing before TUNSETIFF: on a reopen a
 * query would make the kernel process the old fd's carrier-off event
 * synchronously (an RCU grace period). The kernel refuses a TUN, a link
 * that is not a TUN/TAP and a queue-mode mismatch with a bare EINVAL;
 * only then are the existing link's type and queue mode read over
 * netlink (the kernel's tun link info, see vdev_nl_tun_flags()), so that
 * a multiqueue request on a single-queue TAP (and the reverse) fails with
 * a message that says so. Link queries go through netlink as well; the
 * rest are tun ioctls: TUNGETFEATURES, TUNSETIFF, TUNGETIFF, TUNSETQUEUE,
 * TUNSETVNETHDRSZ, TUNSETOFFLOAD, TUNSETPERSIST, TUNGETDEVNETNS.
 *
 * Link state: at open, a NETLINK_ROUTE socket subscribed to RTNLGRP_LINK
 * is made in the TAP's network namespace (TUNGETDEVNETNS), and the TAP's
 * ifindex noted; its notifications, and RTM_GETLINK by that ifindex, are
 * what vdev_tap_carrier_ok() and vdev_tap_link_update() read. So the link
 * is followed whatever namespace the caller is in, across renames, and
 * without polling.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

/* after <net/if.h>: libc-compat.h then skips what glibc defined */
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>

#include <vdev/log.h>
#include <vdev/netlink.h>
#include <vdev/tap.h>

#include "compiler.h"
#include "netlink_internal.h"
#include "tap_internal.h"

/* The kernel's limit (MAX_TAP_QUEUES in include/linux/if_tap.h). */
#define TAP_MAX_QUEUES		256

#define TAP_FLAGS		(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

/* Every offload bit <linux/if_tun.h> defines; probed one by one at open. */
static const unsigned int tap_offload_bits[] = {
	TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO,
};

/**
 * struct vdev_tap - an open TAP
 * @name: interface name, as TUNGETIFF reported it at open
 * @offloads: TUN_F_* bits TUNSETOFFLOAD accepted at open
 * @ifindex: the TAP's ifindex in its namespace, noted at open
 * @link_lock: serialises the users of @link_sk and @link_up
 * @link_sk: NETLINK_ROUTE socket in the TAP's namespace, in RTNLGRP_LINK
 * @link_up: the link state its last message about the TAP gave
 * @nr_queues: queue pairs, entries in @fds
 * @fds: one fd per queue pair, all owned by this handle
 */
struct vdev_tap {
	char name[IFNAMSIZ];
	unsigned int offloads;
	int ifindex;
	pthread_mutex_t link_lock;
	struct nl_sock *link_sk;
	bool link_up;
	unsigned int nr_queues;
	int fds[];
};

/* The kernel's dev_valid_name(), with a message. */
static bool tap_name_ok(const char *name)
{
	size_t len = strnlen(name, IFNAMSIZ);
	const char *p;

	if (len == 0 || len >= IFNAMSIZ) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: bad name \"%.*s\": must be 1 to %d characters",
			 IFNAMSIZ, name, IFNAMSIZ - 1);
		return false;
	}
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		goto bad_char;
	for (p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p == ' ' ||
		    (*p >= '\t' && *p <= '\r'))
			goto bad_char;
	return true;

bad_char:
	vdev_log(VDEV_LOG_ERR,
		 "tap: bad name \"%s\": no '/', ':', white space, \".\" or \"..\"",
		 name);
	return false;
}

/* Open /dev/net/tun: the fd is not attached to any TAP yet. */
static int tun_open(void)
{
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		vdev_log(VDEV_LOG_ERR, "tap: cannot open /dev/net/tun: %s%s",
			 strerror(-err),
			 err == -ENOENT ? " (is the tun module loaded?)" :
			 err == -EACCES ? " (needs read-write access to it)" : "");
		return err;
	}
	return fd;
}

static int tun_check_features(int fd, unsigned int want)
{
	unsigned int features;

	if (ioctl(fd, TUNGETFEATURES, &features) < 0) {
		int err = -errno;

		vdev_log(VDEV_LOG_ERR, "tap: TUNGETFEATURES: %s",
			 strerror(-err));
		return err;
	}
	if ((features & want) != want) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: the kernel's tun lacks flags %#x (has %#x, needs %#x)",
			 want & ~features, features, want);
		return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * Explain why TUNSETIFF refused an existing link: not a TUN/TAP, a TUN,
 * or the wrong queue mode. Returns -EINVAL after logging the reason, 0
 * when it finds none (a missing TAP or a name template included).
 */
static int tap_check_existing(const char *name, bool mq)
{
	unsigned int flags;
	int err;

	if (strchr(name, '%'))
		return 0;
	err = __vdev_nl_tun_flags(name, &flags, true);
	if (err == -ENODEV)
		return 0;
	if (err == -EMEDIUMTYPE) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s exists and is not a TUN/TAP device", name);
		return -EINVAL;
	}
	if (err)
		return 0;	/* let TUNSETIFF decide and explain */
	if ((flags & TUN_TYPE_MASK) != IFF_TAP) {
		vdev_log(VDEV_LOG_ERR, "tap: %s is a TUN device, not a TAP",
			 name);
		return -EINVAL;
	}
	if (mq && !(flags & IFF_MULTI_QUEUE)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s is a single-queue TAP: cannot open it with several queue pairs (recreate it with multi_queue)",
			 name);
		return -EINVAL;
	}
	if (!mq && (flags & IFF_MULTI_QUEUE)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s is a multiqueue TAP: open it with more than one queue pair, or recreate it without multi_queue",
			 name);
		return -EINVAL;
	}
	return 0;
}

/* TUNSETIFF @fd to @name, explaining the errors a user can fix. */
static int tun_set_iff(int fd, const char *name, unsigned int flags,
		       char actual[IFNAMSIZ])
{
	struct ifreq ifr;
	int err;

	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
		memcpy(actual, ifr.ifr_name, IFNAMSIZ);
		actual[IFNAMSIZ - 1] = '\0';
		return 0;
	}
	err = -errno;
	switch (err) {
	case -EBUSY:
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s is busy (EBUSY): another fd still holds this TAP -- a process, a leaked dup, or a thread still blocked in read()/write() on a closed fd",
			 name);
		break;
	case -EPERM:
		vdev_log(VDEV_LOG_ERR,
			 "tap: not permitted to %s %s (EPERM): needs CAP_NET_ADMIN, or the TAP belongs to another user or group",
			 flags & IFF_MULTI_QUEUE ? "attach a queue to" : "open",
			 name);
		break;
	case -EINVAL:
		/* Say precisely what is wrong with an existing link. */
		if (!tap_check_existing(name, flags & IFF_MULTI_QUEUE))
			vdev_log(VDEV_LOG_ERR,
				 "tap: TUNSETIFF %s refused (EINVAL): bad name, not a TAP, or queue mode (multi_queue) mismatch",
				 name);
		break;
	default:
		vdev_log(VDEV_LOG_ERR, "tap: TUNSETIFF %s: %s", name,
			 strerror(-err));
	}
	return err;
}

static struct vdev_tap *tap_alloc(unsigned int nr_queues)
{
	struct vdev_tap *tap;
	unsigned int i;

	tap = calloc(1, sizeof(*tap) + nr_queues * sizeof(tap->fds[0]));
	if (!tap)
		return NULL;
	tap->nr_queues = nr_queues;
	for (i = 0; i < nr_queues; i++)
		tap->fds[i] = -1;
	pthread_mutex_init(&tap->link_lock, NULL);
	return tap;
}

static int tap_open_name(struct vdev_tap *tap, const char *name)
{
	bool mq = tap->nr_queues > 1;
	unsigned int flags = TAP_FLAGS | (mq ? IFF_MULTI_QUEUE : 0);
	char actual[IFNAMSIZ];
	unsigned int i;
	int fd, err;

	if (!tap_name_ok(name))
		return -EINVAL;
	fd = tun_open();
	if (fd < 0)
		return fd;
	tap->fds[0] = fd;
	err = tun_check_features(fd, flags);
	if (err)
		return err;
	/*
	 * No netlink query before TUNSETIFF: on a reopen it would make the
	 * kernel process the old fd's carrier-off event synchronously (an
	 * RCU grace period, up to ~2 ms p99). The kernel refuses a TUN, a
	 * non-TUN link or a queue-mode mismatch with EINVAL, and
	 * tun_set_iff() then asks netlink why.
	 */
	err = tun_set_iff(fd, name, flags, tap->name);
	if (err)
		return err;
	/* The other queues attach to the name the kernel chose. */
	for (i = 1; i < tap->nr_queues; i++) {
		fd = tun_open();
		if (fd < 0)
			return fd;
		tap->fds[i] = fd;
		err = tun_set_iff(fd, tap->name, flags, actual);
		if (err)
			return err;
	}
	return 0;
}

/* Check a dup'd caller fd: an attached TAP with the flags vdev needs. */
static int tap_check_fd(struct vdev_tap *tap, unsigned int i, int caller_fd)
{
	int fd = tap->fds[i], fl;
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: fd %d (queue %u) is not a TAP fd attached with TUNSETIFF: %s",
			 caller_fd, i, strerror(errno));
		return -EINVAL;
	}
	ifr.ifr_name[IFNAMSIZ - 1] = '\0';
	if ((ifr.ifr_flags & (TUN_TYPE_MASK | IFF_NO_PI | IFF_VNET_HDR)) !=
	    TAP_FLAGS) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: fd %d (%s) has flags %#x: needs IFF_TAP | IFF_NO_PI | IFF_VNET_HDR",
			 caller_fd, ifr.ifr_name, ifr.ifr_flags & 0xffff);
		return -EINVAL;
	}
	if (tap->nr_queues > 1 && !(ifr.ifr_flags & IFF_MULTI_QUEUE)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: fd %d (%s) is not IFF_MULTI_QUEUE: cannot serve %u queue pairs",
			 caller_fd, ifr.ifr_name, tap->nr_queues);
		return -EINVAL;
	}
	if (i == 0) {
		memcpy(tap->name, ifr.ifr_name, IFNAMSIZ);
	} else if (strcmp(tap->name, ifr.ifr_name)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: fd %d is attached to %s, fd of queue 0 to %s",
			 caller_fd, ifr.ifr_name, tap->name);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int tap_adopt_fds(struct vdev_tap *tap, const int *fds)
{
	unsigned int i;
	int err;

	for (i = 0; i < tap->nr_queues; i++) {
		tap->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (tap->fds[i] < 0) {
			err = -errno;
			vdev_log(VDEV_LOG_ERR, "tap: cannot dup fd %d: %s",
				 fds[i], strerror(-err));
			return err;
		}
		err = tap_check_fd(tap, i, fds[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Find the TUN_F_* bits the TAP accepts, then leave offloads off. */
static void tap_probe_offloads(struct vdev_tap *tap)
{
	unsigned int i, bit, try;
	int fd = tap->fds[0];

	tap->offloads = 0;
	for (i = 0; i < ARRAY_SIZE(tap_offload_bits); i++) {
		bit = tap_offload_bits[i];
		/* The kernel ignores every other bit without CSUM, and ECN
		 * without TSO.
		 */
		try = TUN_F_CSUM | bit;
		if (bit == TUN_F_TSO_ECN)
			try |= TUN_F_TSO4;
		if (ioctl(fd, TUNSETOFFLOAD, try) == 0)
			tap->offloads |= bit;
	}
	ioctl(fd, TUNSETOFFLOAD, 0);
}

/* An RTM_NEWLINK / RTM_DELLINK about the TAP: note its link state. */
static int tap_link_msg(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[IFLA_MAX + 1];
	struct vdev_tap *tap = arg;
	struct ifinfomsg *ifi;
	uint8_t oper;
	bool carrier;

	if ((h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return NL_OK;
	ifi = nlmsg_data(h);
	/* AF_BRIDGE: a bridge's view of its port, not the link itself. */
	if (ifi->ifi_index != tap->ifindex || ifi->ifi_family != AF_UNSPEC)
		return NL_OK;
	if (h->nlmsg_type == RTM_DELLINK ||
	    nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0) {
		tap->link_up = false;
		return NL_OK;
	}
	carrier = tb[IFLA_CARRIER] ? nla_get_u8(tb[IFLA_CARRIER]) :
		  !!(ifi->ifi_flags & IFF_LOWER_UP);
	oper = tb[IFLA_OPERSTATE] ? nla_get_u8(tb[IFLA_OPERSTATE]) :
	       IF_OPER_UNKNOWN;
	/* tun reports IF_OPER_UNKNOWN while it has a carrier */
	tap->link_up = (ifi->ifi_flags & IFF_UP) && carrier &&
		       (oper == IF_OPER_UP || oper == IF_OPER_UNKNOWN);
	return NL_OK;
}

/* The answer to our RTM_GETLINK is an error: the TAP is gone. */
static int tap_link_err(struct sockaddr_nl *nla, struct nlmsgerr *e,
			void *arg)
{
	struct vdev_tap *tap = arg;

	tap->link_up = false;
	return NL_SKIP;
}

/* Read every message waiting on the link socket. Called with link_lock. */
static int tap_link_drain(struct vdev_tap *tap)
{
	struct nl_cb *cb = nl_socket_get_cb(tap->link_sk);
	int err;

	do
		err = nl_recvmsgs_report(tap->link_sk, cb);
	while (err > 0);
	nl_cb_put(cb);
	return err == -NLE_AGAIN ? 0 : err;	/* non-blocking: all read */
}

/* Ask for the TAP's state by ifindex, and read the answer. */
static void tap_link_query(struct vdev_tap *tap)
{
	struct nl_msg *msg;
	int err;

	/* What is queued is older than the answer: read it first. */
	if (tap_link_drain(tap) < 0)
		vdev_log(VDEV_LOG_DEBUG, "tap: %s link events lost, asking",
			 tap->name);
	err = rtnl_link_build_get_request(tap->ifindex, NULL, &msg);
	if (err < 0)
		goto out_fail;
	err = nl_send_auto(tap->link_sk, msg);
	nlmsg_free(msg);
	if (err < 0)
		goto out_fail;
	/* rtnetlink answers within the send: the reply is queued now. */
	err = tap_link_drain(tap);
	if (err >= 0)
		return;
out_fail:
	vdev_log(VDEV_LOG_DEBUG, "tap: %s link query: %s", tap->name,
		 nl_geterror(err));
	tap->link_up = false;
}

/* Same network namespace? */
static bool tap_same_netns(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The link socket and the ifindex, made in the calling thread's netns. */
static int tap_link_open_here(struct vdev_tap *tap)
{
	struct nl_sock *sk;
	struct nl_cb *cb;
	int err;

	tap->ifindex = if_nametoindex(tap->name);
	if (!tap->ifindex) {
		err = -errno;
		vdev_log(VDEV_LOG_ERR, "tap: %s: no ifindex: %s", tap->name,
			 strerror(-err));
		return err;
	}
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	/* Notifications carry no sequence number; GETLINK wants no ACK. */
	nl_socket_disable_seq_check(sk);
	nl_socket_disable_auto_ack(sk);
	err = nl_connect(sk, NETLINK_ROUTE);
	if (!err)
		err = nl_socket_add_membership(sk, RTNLGRP_LINK);
	if (!err)
		err = nl_socket_set_nonblocking(sk);
	cb = nl_socket_get_cb(sk);
	if (!err)
		err = nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tap_link_msg,
				tap);
	if (!err)
		err = nl_cb_err(cb, NL_CB_CUSTOM, tap_link_err, tap);
	nl_cb_put(cb);
	if (err) {
		vdev_log(VDEV_LOG_ERR, "tap: %s: link event socket: %s",
			 tap->name, nl_geterror(err));
		nl_socket_free(sk);
		return -EIO;
	}
	fcntl(nl_socket_get_fd(sk), F_SETFD, FD_CLOEXEC);
	tap->link_sk = sk;
	return 0;
}

/*
 * Make the link socket in the TAP's network namespace: the caller's,
 * for a TAP opened by name; for caller fds, the one TUNGETDEVNETNS
 * names, entered for the time it takes (setns(), CAP_SYS_ADMIN).
 */
static int tap_link_open(struct vdev_tap *tap)
{
	int ns, self = -1, err;

	ns = ioctl(tap->fds[0], TUNGETDEVNETNS);
	if (ns < 0)
		return tap_link_open_here(tap);	/* before Linux 5.2 */
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || tap_same_netns(ns, self)) {
		err = tap_link_open_here(tap);
		goto out_close;
	}
	if (setns(ns, CLONE_NEWNET)) {
		err = -errno;
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s is in another network namespace, which this thread cannot enter to watch its link: %s",
			 tap->name, strerror(-err));
		goto out_close;
	}
	err = tap_link_open_here(tap);
	if (setns(self, CLONE_NEWNET)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s: cannot return to the caller's network namespace: %s",
			 tap->name, strerror(errno));
		err = -errno;
	}
out_close:
	if (self >= 0)
		close(self);
	close(ns);
	return err;
}

/**
 * vdev_tap_open() - open a TAP by name or adopt caller-supplied fds
 * @cfg: what to open
 * @tapp: set to the new handle on success
 *
 * By name: opens /dev/net/tun once per queue pair, checks TUNGETFEATURES
 * for the flags it needs and attaches each fd with TUNSETIFF, which
 * creates the TAP if it does not exist. No netlink query comes first:
 * only when TUNSETIFF refuses with EINVAL is the existing link looked up
 * (vdev_nl_tun_flags()) to say why: not a TUN/TAP, a TUN, or a multiqueue
 * request on a single-queue TAP or the reverse. With @cfg->fds: dups each
 * fd and checks with TUNGETIFF that all are attached to one TAP with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, and IFF_MULTI_QUEUE for more than
 * one pair. Then the offloads the TAP accepts are probed with
 * TUNSETOFFLOAD, which is left at 0. Every fd is O_NONBLOCK and
 * O_CLOEXEC.
 *
 * Return: 0, or -EINVAL (bad config or name, queue mode mismatch, an fd
 * that is not such a TAP), -EBUSY (another fd still holds the
 * single-queue TAP), -EPERM (no CAP_NET_ADMIN, or a TAP owned by another
 * user), -EOPNOTSUPP (the kernel lacks a needed TUN feature), -ENOMEM or
 * another -errno (-ENOENT without /dev/net/tun, -EBADF for a bad fd);
 * each but -ENOMEM with a message through vdev_log().
 */
int vdev_tap_open(const struct vdev_tap_config *cfg, struct vdev_tap **tapp)
{
	unsigned int nr_queues;
	struct vdev_tap *tap;
	int err;

	if (!cfg || !tapp || !cfg->name == !cfg->fds) {
		vdev_log(VDEV_LOG_ERR, "tap: give a TAP name or fds, not %s",
			 cfg && cfg->name ? "both" : "neither");
		return -EINVAL;
	}
	nr_queues = cfg->nr_queues;
	if (!nr_queues)
		nr_queues = cfg->fds ? cfg->nr_fds : 1;
	if (!nr_queues || nr_queues > TAP_MAX_QUEUES ||
	    (cfg->fds && cfg->nr_fds != nr_queues)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: %u queue pairs with %u fds: need 1 to %d pairs, one fd each",
			 nr_queues, cfg->nr_fds, TAP_MAX_QUEUES);
		return -EINVAL;
	}
	tap = tap_alloc(nr_queues);
	if (!tap)
		return -ENOMEM;
	if (cfg->fds)
		err = tap_adopt_fds(tap, cfg->fds);
	else
		err = tap_open_name(tap, cfg->name);
	if (err)
		goto out_close_tap;
	err = tap_link_open(tap);
	if (err)
		goto out_close_tap;
	tap_probe_offloads(tap);
	*tapp = tap;
	return 0;

out_close_tap:
	vdev_tap_close(tap);
	return err;
}

/**
 * vdev_tap_close() - close every fd the handle opened or dup'd, free it
 * @tap: handle, may be NULL
 *
 * No thread may still use the fds (see the fd ownership rule in
 * <vdev/tap.h>).
 */
void vdev_tap_close(struct vdev_tap *tap)
{
	unsigned int i;

	if (!tap)
		return;
	for (i = 0; i < tap->nr_queues; i++)
		if (tap->fds[i] >= 0)
			close(tap->fds[i]);
	nl_socket_free(tap->link_sk);
	pthread_mutex_destroy(&tap->link_lock);
	free(tap);
}

/**
 * vdev_tap_fd() - the fd of one queue pair
 * @tap: handle
 * @queue: queue pair index
 *
 * Return: the fd (owned by @tap), or -EINVAL when @queue is out of range.
 */
int vdev_tap_fd(const struct vdev_tap *tap, unsigned int queue)
{
	if (queue >= tap->nr_queues)
		return -EINVAL;
	return tap->fds[queue];
}

/**
 * vdev_tap_nr_queues() - number of queue pairs (and fds)
 * @tap: handle
 *
 * Return: at least 1.
 */
unsigned int vdev_tap_nr_queues(const struct vdev_tap *tap)
{
	return tap->nr_queues;
}

/**
 * vdev_tap_name() - the TAP's interface name, as the kernel reports it
 * @tap: handle
 *
 * Return: a string owned by @tap.
 */
const char *vdev_tap_name(const struct vdev_tap *tap)
{
	return tap->name;
}

/**
 * vdev_tap_ifindex() - the TAP's interface index (netlink)
 * @tap: handle
 *
 * Return: the index (> 0), or -errno (-ENODEV once the TAP is deleted).
 */
int vdev_tap_ifindex(const struct vdev_tap *tap)
{
	struct vdev_nl_link_state st;
	int err;

	err = __vdev_nl_link_state(tap->name, &st, true);
	return err ? err : st.ifindex;
}

static int tap_ioctl_all(struct vdev_tap *tap, const int *fds,
			 unsigned long req, unsigned long arg, const char *what)
{
	unsigned int i;
	int err;

	for (i = 0; i < tap->nr_queues; i++) {
		if (ioctl(fds[i], req, arg) < 0) {
			err = -errno;
			vdev_log(VDEV_LOG_ERR, "tap: %s %s(%#lx) on queue %u: %s",
				 tap->name, what, arg, i, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* TUNGETIFF flags of @fd, or -errno. */
static int tun_get_flags(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	return ifr.ifr_flags & 0xffff;
}

int __vdev_tap_set_queue_enabled(struct vdev_tap *tap, const int *fds,
				 unsigned int queue, bool enabled, bool quiet)
{
	const char *op = enabled ? "attach" : "detach";
	struct ifreq ifr;
	int fd, flags, err;

	if (queue >= tap->nr_queues) {
		if (!quiet)
			vdev_log(VDEV_LOG_ERR,
				 "tap: %s: cannot %s queue %u: it has %u queues",
				 tap->name, op, queue, tap->nr_queues);
		return -EINVAL;
	}
	fd = fds ? fds[queue] : tap->fds[queue];
	flags = tun_get_flags(fd);
	if (flags < 0) {
		if (!quiet)
			vdev_log(VDEV_LOG_ERR,
				 "tap: %s: cannot %s queue %u: TUNGETIFF: %s%s",
				 tap->name, op, queue, strerror(-flags),
				 flags == -EBADFD ? " (TAP deleted?)" : "");
		return flags;
	}
	if (!(flags & IFF_MULTI_QUEUE)) {
		if (!quiet)
			vdev_log(VDEV_LOG_ERR,
				 "tap: %s: cannot %s queue %u: not a multiqueue TAP",
				 tap->name, op, queue);
		return -EINVAL;
	}
	/* TUNGETIFF reports IFF_DETACH_QUEUE on a detached queue's fd. */
	if (!(flags & IFF_DETACH_QUEUE) == enabled)
		return 0;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(fd, TUNSETQUEUE, &ifr) == 0)
		return 0;
	err = -errno;
	/* EINVAL: already in that state, if someone else just set it. */
	flags = tun_get_flags(fd);
	if (err == -EINVAL && flags >= 0 &&
	    !(flags & IFF_DETACH_QUEUE) == enabled)
		return 0;
	if (!quiet)
		vdev_log(VDEV_LOG_ERR, "tap: %s: TUNSETQUEUE %s queue %u: %s",
			 tap->name, op, queue, strerror(-err));
	return err;
}

/**
 * vdev_tap_set_queue_enabled() - attach or detach one queue of a multiqueue TAP
 * @tap: handle
 * @queue: queue pair index
 * @enabled: true to attach the queue (TUNSETQUEUE with IFF_ATTACH_QUEUE),
 *           false to detach it (IFF_DETACH_QUEUE)
 *
 * The kernel spreads the frames the host sends to the TAP over its
 * attached queues only: a detached queue gets none (what it held is
 * dropped) and reads of its fd find nothing (EAGAIN), so a virtio-net
 * device detaches the queues of the pairs the driver has not enabled
 * (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET). The fd stays open and attached to
 * the TAP for everything else: the other ioctls (vnet header size,
 * offloads) still apply to it. Do not count on writes to a detached
 * queue failing: the kernel's non-NAPI path still takes them. A TAP with
 * every queue detached drops all it is sent.
 *
 * Asking for the state the queue is in already is not an error.
 *
 * Return: 0, -EINVAL when @queue is out of range or the TAP is not
 * multiqueue (IFF_MULTI_QUEUE), -EBADFD once the TAP is deleted, or
 * another -errno; each with a message through vdev_log().
 */
int vdev_tap_set_queue_enabled(struct vdev_tap *tap, unsigned int queue,
			       bool enabled)
{
	return __vdev_tap_set_queue_enabled(tap, NULL, queue, enabled, false);
}

/**
 * vdev_tap_set_vnet_hdr_size() - TUNSETVNETHDRSZ on every fd
 * @tap: handle
 * @size: header size: sizeof(struct virtio_net_hdr) or
 *        sizeof(struct virtio_net_hdr_mrg_rxbuf) (<linux/virtio_net.h>)
 *
 * Return: 0 or -errno (-EINVAL for a size the kernel refuses).
 */
int vdev_tap_set_vnet_hdr_size(struct vdev_tap *tap, int size)
{
	unsigned int i;
	int err;

	for (i = 0; i < tap->nr_queues; i++) {
		if (ioctl(tap->fds[i], TUNSETVNETHDRSZ, &size) < 0) {
			err = -errno;
			vdev_log(VDEV_LOG_ERR,
				 "tap: %s TUNSETVNETHDRSZ(%d) on queue %u: %s",
				 tap->name, size, i, strerror(-err));
			return err;
		}
	}
	return 0;
}

/**
 * vdev_tap_set_offload() - TUNSETOFFLOAD on every fd
 * @tap: handle
 * @tun_f: TUN_F_* bits (<linux/if_tun.h>) the guest accepts
 *
 * Return: 0, -EOPNOTSUPP when @tun_f has a bit the TAP does not support
 * (see vdev_tap_offload_supported()), or -errno.
 */
int vdev_tap_set_offload(struct vdev_tap *tap, unsigned int tun_f)
{
	return __vdev_tap_set_offload(tap, NULL, tun_f);
}

int __vdev_tap_set_offload(struct vdev_tap *tap, const int *fds,
			   unsigned int tun_f)
{
	if (!vdev_tap_offload_supported(tap, tun_f)) {
		vdev_log(VDEV_LOG_ERR,
			 "tap: %s cannot offload %#x (supports %#x)",
			 tap->name, tun_f & ~tap->offloads, tap->offloads);
		return -EOPNOTSUPP;
	}
	return tap_ioctl_all(tap, fds ? fds : tap->fds, TUNSETOFFLOAD, tun_f,
			     "TUNSETOFFLOAD");
}

/**
 * vdev_tap_set_persist() - keep the TAP after its last fd is closed, or not
 * @tap: handle
 * @persist: true to set IFF_PERSIST (TUNSETPERSIST 1), false to clear it
 *
 * A persistent TAP (what "ip tuntap add" makes) stays when its last fd is
 * closed, with its name, ifindex, MTU, MAC and bridge port: a VMM that
 * makes its TAP persistent can vdev_tap_close() it on a guest reboot and
 * vdev_tap_open() the same name again without plumbing it anew. A TAP
 * that is not persistent (what vdev_tap_open() creates by name) is
 * deleted with its last fd. Clearing the flag does not delete the TAP at
 * once: it goes when its last fd is closed, also a caller's.
 *
 * The flag belongs to the link, not to @tap: it is set through queue 0's
 * fd (detached or not) and holds for every fd of the TAP, and
 * vdev_nl_tun_flags() reports it as IFF_PERSIST. Asking for the state the
 * TAP is in already is not an error.
 *
 * Return: 0, -EBADFD once the TAP is deleted, or another -errno; each
 * with a message through vdev_log().
 */
int vdev_tap_set_persist(struct vdev_tap *tap, bool persist)
{
	int err;

	if (ioctl(tap->fds[0], TUNSETPERSIST, persist ? 1UL : 0UL) == 0)
		return 0;
	err = -errno;
	vdev_log(VDEV_LOG_ERR, "tap: %s TUNSETPERSIST(%d): %s%s", tap->name,
		 persist, strerror(-err),
		 err == -EBADFD ? " (TAP deleted?)" : "");
	return err;
}

/**
 * vdev_tap_offload_supported() - can the TAP take these offloads?
 * @tap: handle
 * @tun_f: TUN_F_* bits
 *
 * Probed once at open by trying each bit with TUNSETOFFLOAD.
 *
 * Return: true when every bit of @tun_f is supported.
 */
bool vdev_tap_offload_supported(struct vdev_tap *tap, unsigned int tun_f)
{
	return !(tun_f & ~tap->offloads);
}

/**
 * vdev_tap_get_mtu() - the TAP's MTU (netlink)
 * @tap: handle
 * @mtu: set on success
 *
 * Return: 0 or -errno.
 */
int vdev_tap_get_mtu(struct vdev_tap *tap, unsigned int *mtu)
{
	struct vdev_nl_link_state st;
	int err;

	err = vdev_nl_link_state(tap->name, &st);
	if (!err)
		*mtu = st.mtu;
	return err;
}

/**
 * vdev_tap_get_mac() - the TAP's own (host side) MAC address (netlink)
 * @tap: handle
 * @mac: set on success
 *
 * Return: 0 or -errno.
 */
int vdev_tap_get_mac(struct vdev_tap *tap, uint8_t mac[6])
{
	struct vdev_nl_link_state st;
	int err;

	err = vdev_nl_link_state(tap->name, &st);
	if (!err)
		memcpy(mac, st.mac, sizeof(st.mac));
	return err;
}

/**
 * vdev_tap_carrier_ok() - is the link up? (netlink)
 * @tap: handle
 *
 * Asks by ifindex in the TAP's namespace (see vdev_tap_link_update()).
 *
 * Return: true when the TAP is administratively up, has a carrier and its
 * operstate is UP or UNKNOWN; false otherwise, or when it is gone.
 */
bool vdev_tap_carrier_ok(struct vdev_tap *tap)
{
	bool up;

	pthread_mutex_lock(&tap->link_lock);
	tap_link_query(tap);
	up = tap->link_up;
	pthread_mutex_unlock(&tap->link_lock);
	return up;
}

/**
 * vdev_tap_link_fd() - an fd that is readable when the TAP's link changes
 * @tap: handle
 *
 * A NETLINK_ROUTE socket in RTNLGRP_LINK, made at open in the TAP's
 * network namespace: poll it (EPOLLIN) and call vdev_tap_link_update()
 * when it is readable. The fd is owned by @tap and open until
 * vdev_tap_close(); it holds nothing of the TAP (no TUNSETIFF).
 *
 * Return: the fd.
 */
int vdev_tap_link_fd(const struct vdev_tap *tap)
{
	return nl_socket_get_fd(tap->link_sk);
}

/**
 * vdev_tap_link_update() - read the TAP's link events
 * @tap: handle
 *
 * Reads, without blocking, every link notification waiting on
 * vdev_tap_link_fd(); when some were lost (the socket overflowed), asks
 * for the TAP's state instead. The TAP is known by the ifindex it had at
 * open, in its own namespace, so a rename or the caller's namespace
 * change nothing. Thread-safe.
 *
 * Return: the link state, as vdev_tap_carrier_ok() defines it.
 */
bool vdev_tap_link_update(struct vdev_tap *tap)
{
	bool up;

	pthread_mutex_lock(&tap->link_lock);
	if (tap_link_drain(tap) < 0)
		tap_link_query(tap);
	up = tap->link_up;
	pthread_mutex_unlock(&tap->link_lock);
	return up;
}
