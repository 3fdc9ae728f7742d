/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to lib/: the virtio-net device's state, shared by lib/net.c
 * (device, control queue, syscall-per-frame datapath) and
 * lib/net_uring.c (the batched io_uring datapath). Not exported by
 * libvdev.so (lib/libvdev.map).
 */
#ifndef _VDEV_LIB_NET_PRIV_H
#define _VDEV_LIB_NET_PRIV_H

#include <endian.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/virtio_net.h>

#include <vdev/device.h>
#include <vdev/net.h>
#include <vdev/queue.h>

#include "compiler.h"

struct vdev_worker;
struct net_uring;

#define NET_DEFAULT_QSIZE	256
#define NET_MAX_QSIZE		32768
#define NET_MAX_GSO_FRAME	65536	/* frame limit for TX and GSO RX */
#define NET_VLAN_HLEN		4
#define NET_MAX_IOV		IOV_MAX	/* per TX chain, and per readv() */
#define NET_RX_POOL_IOV		(2 * IOV_MAX)
#define NET_RX_MAX_CHAINS	256
#define NET_BATCH		256	/* frames per wakeup before epoll */
#define NET_FLUSH_EVERY		32	/* used entries published mid-batch */
#define NET_RX_SIGNAL_EVERY	32	/* RX frames per interrupt, at most */
#define NET_CTRL_MAX_CMD	4096

/* struct virtio_net_hdr_v1 / _mrg_rxbuf, and the legacy header. */
#define NET_HDR_LEN		sizeof(struct virtio_net_hdr_v1)
#define NET_HDR_LEGACY_LEN	sizeof(struct virtio_net_hdr)
#define NET_SCRATCH_LEN		(NET_MAX_GSO_FRAME + NET_VLAN_HLEN + \
				 ETH_HLEN + NET_HDR_LEN)

enum net_stat {
	NET_RX_BYTES,
	NET_RX_FRAMES,
	NET_RX_DROPS,
	NET_RX_ERRORS,
	NET_TX_BYTES,
	NET_TX_FRAMES,
	NET_TX_DROPS,
	NET_TX_ERRORS,
	NET_NR_STATS,
};


struct vdev_net;

/**
 * struct net_pair - one queue pair and its TAP fd
 * @net: the device
 * @index: pair index
 * @tap_fd: the pair's TAP fd (owned by @net->tap)
 * @rxq: receive queue, NULL when not set up
 * @txq: transmit queue, NULL when not set up
 * @tap_events: events currently watched on @tap_fd
 * @rx_wait: no RX buffers: EPOLLIN is off until an RX kick
 * @tx_wait: the TAP pushed back (EAGAIN): waiting for EPOLLOUT
 * @rx_stopped: the RX queue was disabled or reset on its own
 *              (net_queue_reset()); its handlers leave it alone until
 *              net_queue_enable()
 * @tx_stopped: the same for the TX queue
 * @tap_gone: the TAP was deleted; the fd is out of epoll
 * @txc: chain for TX
 * @tx_iov: its iovecs
 * @rxc: RX chains popped and not yet used, FIFO from @rx_first
 * @rx_first: first unused chain in @rxc
 * @rx_nr: chains in @rxc (used ones included)
 * @rx_pool: iovec storage for @rxc, in pop order
 * @rx_pool_used: entries of @rx_pool taken
 * @scratch: frame bytes the guest had no room for
 * @pend_len: length of the frame waiting in @scratch, 0 for none
 * @ur: the pair's io_uring datapath (lib/net_uring.c), from activate
 *      to reset; NULL on the syscall path
 * @ur_cache: its memory, kept across activations until the device goes
 * @stats: counters, written only by the pair's worker
 * @names: counter names ("rx_bytes_q0"...)
 */
struct net_pair {
	struct vdev_net *net;
	unsigned int index;
	int tap_fd;
	struct vdev_queue *rxq;
	struct vdev_queue *txq;
	uint32_t tap_events;
	bool rx_wait;
	bool tx_wait;
	bool rx_stopped;
	bool tx_stopped;
	bool tap_gone;

	struct vdev_chain txc;
	struct iovec *tx_iov;

	struct vdev_chain rxc[NET_RX_MAX_CHAINS];
	unsigned int rx_first;
	unsigned int rx_nr;
	struct iovec *rx_pool;
	unsigned int rx_pool_used;
	uint8_t *scratch;
	size_t pend_len;

	struct net_uring *ur;
	struct net_uring *ur_cache;

	atomic_uint_least64_t stats[NET_NR_STATS];
	char names[NET_NR_STATS][24];
};

/**
 * struct vdev_net - a virtio-net device
 * @dev: common device state
 * @tap: the TAP backend; its fds live as long as the device
 * @nr_pairs: queue pairs (max_virtqueue_pairs)
 * @queue_sizes: maximum size of each queue
 * @cfg_lock: protects @config against workers and the transport
 * @config: config space
 * @tun_offloads: TUN_F_* the TAP can do
 * @hdr_len: negotiated virtio-net header size
 * @mrg_rxbuf: VIRTIO_NET_F_MRG_RXBUF acked
 * @rx_cap: largest frame (with header) a driver's buffers must take
 * @ready_pairs: pairs 0 .. @ready_pairs - 1 have both queues and a worker
 * @active_pairs: pairs enabled by the driver (MQ_VQ_PAIRS_SET)
 * @ctrlq: control queue, or NULL
 * @ctrl_stopped: @ctrlq was disabled or reset on its own
 * @ctrl_chain: chain for @ctrlq
 * @ctrl_iov: its iovecs
 * @ctrl_tap_fds: the control worker's dups of the TAP fds, one per pair,
 *                owned (and closed) by that worker; -1 without one
 * @io: the TAP I/O path chosen at create (VDEV_NET_IO_SYSCALL or
 *      VDEV_NET_IO_URING, never AUTO)
 * @io_forced: @io was asked for by the config, not chosen by AUTO
 * @instance: instance number, N of the name "netN"
 * @pairs: the queue pairs
 */
struct vdev_net {
	struct vdev_device dev;
	struct vdev_tap *tap;
	unsigned int nr_pairs;
	uint16_t *queue_sizes;

	pthread_mutex_t cfg_lock;
	struct virtio_net_config config;

	unsigned int tun_offloads;
	unsigned int hdr_len;
	bool mrg_rxbuf;
	size_t rx_cap;
	unsigned int ready_pairs;
	atomic_uint active_pairs;

	struct vdev_queue *ctrlq;
	bool ctrl_stopped;
	struct vdev_chain ctrl_chain;
	struct iovec ctrl_iov[64];
	int ctrl_tap_fds[VDEV_NET_MAX_QUEUE_PAIRS];
	enum vdev_net_io io;
	bool io_forced;
	int instance;

	struct net_pair pairs[];
};

/* Config space and ring fields are little endian (VIRTIO 1.x only). */
static inline uint16_t vio16(__virtio16 v)
{
	return le16toh((__force uint16_t)v);
}

static inline __virtio16 to_vio16(uint16_t v)
{
	return (__force __virtio16)htole16(v);
}

static inline struct vdev_net *to_net(struct vdev_device *dev)
{
	return container_of(dev, struct vdev_net, dev);
}

static inline void stat_add(struct net_pair *p, enum net_stat s, uint64_t v)
{
	/* Single writer (the pair's worker): no locked instruction needed. */
	atomic_store_explicit(&p->stats[s],
			      atomic_load_explicit(&p->stats[s],
						   memory_order_relaxed) + v,
			      memory_order_relaxed);
}

/*
 * The per-frame syscalls. The workers are stopped through an eventfd and
 * joined, never cancelled, so they need not be cancellation points; yet
 * glibc's write(), writev() and readv() in a multi-threaded process turn
 * asynchronous cancellation on and off around every call (two atomic
 * read-modify-writes, about 50 ns a frame here), and syscall(2) does not.
 * A chain of one buffer (header and frame together, what Linux sends
 * when it can) goes out with write(), which spares the kernel the iovec
 * import of writev(). Sanitizer builds keep the libc calls: ASan and TSan
 * intercept them to check the buffers.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NET_LIBC_IO	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NET_LIBC_IO	1
#endif
#endif

static inline ssize_t net_tx_write(int fd, const struct iovec *iov,
				   unsigned int cnt)
{
#ifdef NET_LIBC_IO
	if (cnt == 1)
		return write(fd, iov[0].iov_base, iov[0].iov_len);
	return writev(fd, iov, cnt);
#else
	if (cnt == 1)
		return syscall(SYS_write, fd, iov[0].iov_base, iov[0].iov_len);
	return syscall(SYS_writev, fd, iov, cnt);
#endif
}

static inline ssize_t net_rx_readv(int fd, const struct iovec *iov,
				   unsigned int cnt)
{
#ifdef NET_LIBC_IO
	return readv(fd, iov, cnt);
#else
	return syscall(SYS_readv, fd, iov, cnt);
#endif
}

/* lib/net.c, for the io_uring datapath. */
bool net_pair_tap_error(struct vdev_worker *w, struct net_pair *p, int err,
			const char *op);
bool net_rx_wait_for_buffers(struct vdev_worker *w, struct net_pair *p);
int net_rx_process(struct vdev_worker *w, struct net_pair *p);
void net_rx_complete(struct net_pair *p, size_t len);
void net_rx_set_num_buffers(struct vdev_chain *c, uint16_t num);
int net_tx_check(struct net_pair *p, struct vdev_chain *c);

/* lib/net_uring.c */
int net_uring_probe(void);
int net_uring_start(struct net_pair *p, struct vdev_worker *w);
void net_uring_stop(struct net_pair *p);
void net_uring_free(struct net_pair *p);
void net_uring_queue_reset(struct net_pair *p, bool rx);
int net_uring_rx_kick(struct vdev_worker *w, struct net_pair *p);
int net_uring_tx_kick(struct vdev_worker *w, struct net_pair *p);

#endif /* _VDEV_LIB_NET_PRIV_H */
