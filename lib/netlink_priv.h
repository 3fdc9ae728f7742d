/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private: the libnl plumbing of lib/netlink.c (errno mapping, a
 * NETLINK_ROUTE socket per call, the interface name check, fetching and
 * changing a link), as static inline functions. The selftests' helper
 * library (selftests/lib/nl_helpers.c) includes it too, so that its own
 * netlink helpers are built on the same plumbing without libvdev
 * exporting it: nothing here is a symbol of libvdev.a, libvdev.so.0 or
 * libvdev-test.a. It uses only libnl and libvdev's public <vdev/log.h>.
 */
#ifndef _VDEV_LIB_NETLINK_PRIV_H
#define _VDEV_LIB_NETLINK_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <vdev/log.h>

/* libnl folds kernel errnos into NLE_* codes; give callers an errno back. */
static inline int nlerr_to_errno(int nlerr)
{
	switch (abs(nlerr)) {
	case NLE_SUCCESS:	return 0;
	case NLE_INTR:		return -EINTR;
	case NLE_BAD_SOCK:	return -EBADF;
	case NLE_AGAIN:		return -EAGAIN;
	case NLE_NOMEM:		return -ENOMEM;
	case NLE_EXIST:		return -EEXIST;
	case NLE_INVAL:		return -EINVAL;
	case NLE_RANGE:		return -ERANGE;
	case NLE_MSGSIZE:	return -EMSGSIZE;
	case NLE_OPNOTSUPP:	return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:	return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:	return -ENOENT;
	case NLE_NOATTR:	return -ENODATA;
	case NLE_MISSING_ATTR:	return -EINVAL;
	case NLE_AF_MISMATCH:	return -EAFNOSUPPORT;
	case NLE_PROTO_MISMATCH: return -EPROTONOSUPPORT;
	case NLE_NOACCESS:	return -EACCES;
	case NLE_PERM:		return -EPERM;
	case NLE_NODEV:		return -ENODEV;
	case NLE_BUSY:		return -EBUSY;
	case NLE_NOADDR:	return -EADDRNOTAVAIL;
	case NLE_IMMUTABLE:	return -EPERM;
	default:		return -EIO;
	}
}

/* Log libnl's message for @nlerr and return it as a negative errno. */
static inline int nl_fail(int nlerr, const char *what, const char *ifname)
{
	vdev_log(VDEV_LOG_ERR, "netlink: %s %s: %s", what, ifname ? ifname : "",
		 nl_geterror(nlerr));
	return nlerr_to_errno(nlerr);
}

/*
 * Open a NETLINK_ROUTE socket into *@skp (sock_close() it); *@skp is NULL
 * on failure.
 */
static inline int sock_open(struct nl_sock **skp, const char *what,
			    const char *ifname)
{
	struct nl_sock *sk;
	int err;

	*skp = NULL;
	sk = nl_socket_alloc();
	if (!sk) {
		vdev_log(VDEV_LOG_ERR, "netlink: %s %s: out of memory", what,
			 ifname ? ifname : "");
		return -ENOMEM;
	}
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(sk);
		return nl_fail(err, what, ifname);
	}
	*skp = sk;
	return 0;
}

static inline void sock_close(struct nl_sock *sk)
{
	nl_socket_free(sk);
}

static inline bool ifname_ok(const char *ifname, const char *what)
{
	if (ifname && ifname[0] && strnlen(ifname, IFNAMSIZ) < IFNAMSIZ)
		return true;
	vdev_log(VDEV_LOG_ERR, "netlink: %s: bad interface name \"%.*s\"",
		 what, IFNAMSIZ, ifname ? ifname : "(null)");
	return false;
}

/*
 * Fetch @ifname into *@linkp (rtnl_link_put() it) over @sk; a NULL @what
 * fails quietly.
 */
static inline int link_get(struct nl_sock *sk, const char *ifname,
			   struct rtnl_link **linkp, const char *what)
{
	int err;

	err = rtnl_link_get_kernel(sk, 0, ifname, linkp);
	if (err < 0)
		return what ? nl_fail(err, what, ifname) : nlerr_to_errno(err);
	return 0;
}

/*
 * A new, empty change request for a setter; NULL with *@err set (-EINVAL
 * for a bad name, -ENOMEM). link_change_put() applies it.
 */
static inline struct rtnl_link *link_change_alloc(const char *ifname,
						  const char *what, int *err)
{
	*err = -EINVAL;
	if (!ifname_ok(ifname, what))
		return NULL;
	*err = -ENOMEM;
	return rtnl_link_alloc();
}

/*
 * Apply @change (from link_change_alloc()) to @ifname and put @change:
 * the common body of the setters.
 */
static inline int link_change_put(const char *ifname, struct rtnl_link *change,
				  const char *what)
{
	struct rtnl_link *orig;
	struct nl_sock *sk;
	int err;

	err = sock_open(&sk, what, ifname);
	if (err)
		goto out_put_change;
	err = link_get(sk, ifname, &orig, what);
	if (err)
		goto out_close;
	err = rtnl_link_change(sk, orig, change, 0);
	if (err < 0)
		err = nl_fail(err, what, ifname);
	else
		err = 0;
	rtnl_link_put(orig);
out_close:
	sock_close(sk);
out_put_change:
	rtnl_link_put(change);
	return err;
}

#endif /* _VDEV_LIB_NETLINK_PRIV_H */
