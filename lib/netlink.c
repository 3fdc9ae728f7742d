// SPDX-License-Identifier: GPL-2.0
/*
 * Link configuration of a VMM's TAP with libnl-3 / libnl-route-3: up and
 * down, MTU, MAC, bridge membership, link state and the TUN/TAP flags.
 * Creating and deleting links (bridges, veth), addresses, neighbours,
 * routes and moves to other namespaces are a test's business, not a
 * virtio library's: they live in the selftests' helper library
 * (selftests/lib/nl_helpers.c).
 *
 * One NETLINK_ROUTE socket per call: no shared state, so every function
 * is thread-safe, and each acts in the network namespace of the thread
 * that calls it. The cost (a socket, a bind, a close: tens of
 * microseconds) only matters on control paths, which is where these run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <vdev/log.h>
#include <vdev/netlink.h>

#include "netlink_internal.h"
#include "netlink_priv.h"

/**
 * vdev_nl_link_set_up() - set a link administratively up or down
 * @ifname: interface name
 * @up: true for up (IFF_UP), false for down
 *
 * Return: 0 or -errno.
 */
int vdev_nl_link_set_up(const char *ifname, bool up)
{
	const char *what = up ? "set up" : "set down";
	struct rtnl_link *change;
	int err;

	change = link_change_alloc(ifname, what, &err);
	if (!change)
		return err;
	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	else
		rtnl_link_unset_flags(change, IFF_UP);
	return link_change_put(ifname, change, what);
}

/**
 * vdev_nl_link_set_mtu() - set a link's MTU
 * @ifname: interface name
 * @mtu: new MTU in bytes
 *
 * Return: 0, -EINVAL when the driver refuses @mtu, or another -errno.
 */
int vdev_nl_link_set_mtu(const char *ifname, unsigned int mtu)
{
	struct rtnl_link *change;
	int err;

	change = link_change_alloc(ifname, "set mtu", &err);
	if (!change)
		return err;
	rtnl_link_set_mtu(change, mtu);
	return link_change_put(ifname, change, "set mtu");
}

/**
 * vdev_nl_link_set_mac() - set a link's Ethernet address
 * @ifname: interface name
 * @mac: the new address
 *
 * Return: 0 or -errno (-EADDRNOTAVAIL for a multicast address).
 */
int vdev_nl_link_set_mac(const char *ifname, const uint8_t mac[6])
{
	struct rtnl_link *change;
	struct nl_addr *lladdr;
	int err;

	change = link_change_alloc(ifname, "set mac", &err);
	if (!change)
		return err;
	lladdr = nl_addr_build(AF_LLC, mac, 6);
	if (!lladdr) {
		rtnl_link_put(change);
		return -ENOMEM;
	}
	/* The link takes its own reference to the address. */
	rtnl_link_set_addr(change, lladdr);
	nl_addr_put(lladdr);
	return link_change_put(ifname, change, "set mac");
}

/**
 * vdev_nl_link_enslave() - attach a link to a master, or release it
 * @ifname: the port (a VMM's TAP, say)
 * @master: an existing bridge (or bond), NULL to release @ifname from
 *          its master
 *
 * The bridge itself is the host's set-up, not the VMM's: libvdev does not
 * create or delete links other than its TAPs (<vdev/tap.h>).
 *
 * Return: 0, -ENODEV when @ifname or @master does not exist, or -errno.
 */
int vdev_nl_link_enslave(const char *ifname, const char *master)
{
	const char *what = master ? "enslave" : "release";
	struct rtnl_link *port, *br = NULL;
	struct nl_sock *sk;
	int err;

	if (!ifname_ok(ifname, what) || (master && !ifname_ok(master, what)))
		return -EINVAL;
	err = sock_open(&sk, what, ifname);
	if (err)
		return err;
	err = link_get(sk, ifname, &port, what);
	if (err)
		goto out_close;
	if (master) {
		err = link_get(sk, master, &br, "enslave: master");
		if (err)
			goto out_put_port;
		err = rtnl_link_enslave(sk, br, port);
	} else {
		err = rtnl_link_release(sk, port);
	}
	if (err < 0)
		err = nl_fail(err, what, ifname);
	else
		err = 0;
	if (br)
		rtnl_link_put(br);
out_put_port:
	rtnl_link_put(port);
out_close:
	sock_close(sk);
	return err;
}

int __vdev_nl_link_state(const char *ifname, struct vdev_nl_link_state *st,
			 bool quiet)
{
	const char *what = quiet ? NULL : "link state";
	struct rtnl_link *link;
	struct nl_addr *lladdr;
	struct nl_sock *sk;
	int err;

	if (!ifname_ok(ifname, "link state"))
		return -EINVAL;
	err = sock_open(&sk, "link state", ifname);
	if (err)
		return err;
	err = link_get(sk, ifname, &link, what);
	if (err)
		goto out_close;
	memset(st, 0, sizeof(*st));
	st->ifindex = rtnl_link_get_ifindex(link);
	st->mtu = rtnl_link_get_mtu(link);
	st->flags = rtnl_link_get_flags(link);
	st->operstate = rtnl_link_get_operstate(link);
	st->carrier = rtnl_link_get_carrier(link);
	st->master = rtnl_link_get_master(link);
	st->txqlen = rtnl_link_get_txqlen(link);
	lladdr = rtnl_link_get_addr(link);
	if (lladdr && nl_addr_get_len(lladdr) == sizeof(st->mac))
		memcpy(st->mac, nl_addr_get_binary_addr(lladdr),
		       sizeof(st->mac));
	rtnl_link_put(link);
out_close:
	sock_close(sk);
	return err;
}

/**
 * vdev_nl_link_state() - read the state of a link
 * @ifname: interface name
 * @st: filled on success
 *
 * Return: 0, -ENODEV when there is no such link, or -errno.
 */
int vdev_nl_link_state(const char *ifname, struct vdev_nl_link_state *st)
{
	return __vdev_nl_link_state(ifname, st, false);
}

/**
 * struct tun_info - what tun_info_parse() found in an RTM_NEWLINK reply
 * @flags: IFF_* bits rebuilt from the IFLA_TUN_* attributes
 * @kind_tun: IFLA_INFO_KIND was "tun"
 * @have_data: IFLA_INFO_DATA was present
 */
struct tun_info {
	unsigned int flags;
	bool kind_tun;
	bool have_data;
};

static int tun_info_parse(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	struct nlattr *td[IFLA_TUN_MAX + 1];
	struct tun_info *info = arg;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb,
			IFLA_MAX, NULL) < 0 || !tb[IFLA_LINKINFO])
		return NL_OK;
	if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) < 0 ||
	    !li[IFLA_INFO_KIND] ||
	    strcmp(nla_get_string(li[IFLA_INFO_KIND]), "tun"))
		return NL_OK;
	info->kind_tun = true;
	if (!li[IFLA_INFO_DATA] ||
	    nla_parse_nested(td, IFLA_TUN_MAX, li[IFLA_INFO_DATA], NULL) < 0)
		return NL_OK;
	info->have_data = true;
	if (td[IFLA_TUN_TYPE])
		info->flags |= nla_get_u8(td[IFLA_TUN_TYPE]) & TUN_TYPE_MASK;
	if (td[IFLA_TUN_PI] && !nla_get_u8(td[IFLA_TUN_PI]))
		info->flags |= IFF_NO_PI;
	if (td[IFLA_TUN_VNET_HDR] && nla_get_u8(td[IFLA_TUN_VNET_HDR]))
		info->flags |= IFF_VNET_HDR;
	if (td[IFLA_TUN_PERSIST] && nla_get_u8(td[IFLA_TUN_PERSIST]))
		info->flags |= IFF_PERSIST;
	if (td[IFLA_TUN_MULTI_QUEUE] && nla_get_u8(td[IFLA_TUN_MULTI_QUEUE]))
		info->flags |= IFF_MULTI_QUEUE;
	return NL_OK;
}

static int tun_flags_sysfs(const char *ifname, unsigned int *flags)
{
	char path[64], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		vdev_log(VDEV_LOG_ERR, "netlink: tun flags %s: %s: %s", ifname,
			 path, strerror(errno));
		return errno == ENOENT ? -EMEDIUMTYPE : -errno;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*flags = strtoul(buf, NULL, 0);
	return 0;
}

int __vdev_nl_tun_flags(const char *ifname, unsigned int *flags, bool quiet)
{
	struct tun_info info = { 0 };
	struct nl_msg *msg;
	struct nl_sock *sk;
	int err;

	if (!ifname_ok(ifname, "tun flags"))
		return -EINVAL;
	err = sock_open(&sk, "tun flags", ifname);
	if (err)
		return err;
	/* A plain request/reply: the kernel's error comes back in place of
	 * the reply, so no ACK to wait for afterwards.
	 */
	nl_socket_disable_auto_ack(sk);
	err = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM,
				  tun_info_parse, &info);
	if (err < 0)
		goto out_fail;
	err = rtnl_link_build_get_request(0, ifname, &msg);
	if (err < 0)
		goto out_fail;
	err = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (err < 0)
		goto out_fail;
	err = nl_recvmsgs_default(sk);
	if (err < 0)
		goto out_fail;
	sock_close(sk);

	if (!info.kind_tun) {
		if (!quiet)
			vdev_log(VDEV_LOG_ERR, "netlink: tun flags %s: not a TUN/TAP device",
				 ifname);
		return -EMEDIUMTYPE;
	}
	if (!info.have_data)
		return tun_flags_sysfs(ifname, flags);
	*flags = info.flags;
	return 0;

out_fail:
	sock_close(sk);
	return quiet ? nlerr_to_errno(err) : nl_fail(err, "tun flags", ifname);
}

/**
 * vdev_nl_tun_flags() - read the flags of a TUN/TAP device
 * @ifname: interface name
 * @flags: set to the IFF_* flags of <linux/if_tun.h> (IFF_TUN or IFF_TAP,
 *         IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_PERSIST), the
 *         same bits as /sys/class/net/<if>/tun_flags
 *
 * libnl-route-3 has no "tun" link type, so the kernel's tun link info
 * (IFLA_LINKINFO / IFLA_INFO_DATA, IFLA_TUN_*) is parsed here with libnl's
 * message and attribute helpers. That works in any network namespace,
 * where sysfs would show the namespace it was mounted in; sysfs
 * (/sys/class/net/<if>/tun_flags) is read only when the kernel does not
 * send the tun link info.
 *
 * Return: 0, -ENODEV when there is no such link, -EMEDIUMTYPE when the
 * link is not a TUN/TAP device, or -errno.
 */
int vdev_nl_tun_flags(const char *ifname, unsigned int *flags)
{
	return __vdev_nl_tun_flags(ifname, flags, false);
}
