// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net over a TAP (VIRTIO 1.2, section 5.1).
 *
 * TAP I/O: batched io_uring (lib/net_uring.c, one ring per pair worker)
 * or one syscall per frame (here), chosen at create (net_choose_io());
 * the io_uring path hands what it cannot batch to the syscall path.
 *
 * Syscall data path: one worker per queue pair drives the pair's
 * non-blocking TAP fd with epoll only (never a blocking read or write,
 * see <vdev/tap.h>).
 * TX writes each chain (virtio-net header + frame) with one write() or
 * writev() straight from the guest iovecs. RX reads each frame with one readv()
 * straight into guest buffers; with VIRTIO_NET_F_MRG_RXBUF the iovecs of
 * several chains are handed to one readv() and the chains the frame did
 * not need are given back with vdev_queue_rewind(). A frame larger than
 * the buffers the guest offers lands, past them, in a per-queue scratch
 * buffer and waits there for more buffers: a frame read from the TAP is
 * never dropped for lack of room, unless it can never fit in what the
 * device collects at once (rx_deliver_pending()). While the guest has no
 * RX buffers the TAP is not polled for EPOLLIN until the guest kicks the
 * RX queue. One queue can be reset while the others run
 * (net_queue_reset()).
 *
 * Every batch of chains ends with a vdev_queue_notify(), and so does
 * every NET_FLUSH_EVERY chains of a long one.
 *
 * fd lifetime (Documentation/net.rst): the TAP fds belong to the device
 * from create to release; the pair workers use them, through epoll only.
 * The control worker owns dups of them (vdev_worker_own_fd()), made at
 * activate, for the control commands that act on the TAP, and closed
 * with that worker after its join. Reset joins the workers (core) before
 * the device's reset op runs; release closes the device's fds after the
 * last reset, so when vdev_device_put() returns no thread and no fd of
 * the device holds the TAP.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>

#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/net.h>
#include <vdev/queue.h>
#include <vdev/tap.h>
#include <vdev/worker.h>

#include "compiler.h"
#include "eventfd_priv.h"
#include "tap_internal.h"

#include "net_priv.h"

static const char *const net_stat_names[NET_NR_STATS] = {
	"rx_bytes", "rx_frames", "rx_drops", "rx_errors",
	"tx_bytes", "tx_frames", "tx_drops", "tx_errors",
};



/* ---- link state ---- */

static bool net_link_get(struct vdev_net *n)
{
	bool up;

	pthread_mutex_lock(&n->cfg_lock);
	up = vio16(n->config.status) & VIRTIO_NET_S_LINK_UP;
	pthread_mutex_unlock(&n->cfg_lock);
	return up;
}

/* Set the link bit; a change raises a config interrupt. */
static void net_link_set(struct vdev_net *n, bool up)
{
	uint16_t old, new;

	pthread_mutex_lock(&n->cfg_lock);
	old = vio16(n->config.status);
	new = up ? old | VIRTIO_NET_S_LINK_UP : old & ~VIRTIO_NET_S_LINK_UP;
	n->config.status = to_vio16(new);
	pthread_mutex_unlock(&n->cfg_lock);
	if (old != new) {
		vdev_log(VDEV_LOG_INFO, "%s: link %s", n->dev.name,
			 up ? "up" : "down");
		vdev_device_config_changed(&n->dev);
	}
}

/* ---- TAP fd in the pair's epoll set ---- */

static void pair_tap_events(struct vdev_worker *w, struct net_pair *p,
			    uint32_t events)
{
	if (p->tap_gone || p->tap_events == events)
		return;
	if (vdev_worker_mod_fd(w, p->tap_fd, events) == 0)
		p->tap_events = events;
}

/*
 * The TAP failed under us. EBADFD (and ENODEV, EPIPE): it was deleted,
 * so its fd leaves epoll for good (it would report EPOLLERR forever).
 * EIO: the link is down. Either way the guest sees link down.
 */
bool net_pair_tap_error(struct vdev_worker *w, struct net_pair *p, int err,
			   const char *op)
{
	struct vdev_net *n = p->net;

	if (err != EBADFD && err != ENODEV && err != EPIPE && err != EIO &&
	    err != ENXIO)
		return false;
	if (vdev_ratelimit_ok(&n->dev.rl))
		vdev_log(VDEV_LOG_WARN, "%s: %s on TAP %s queue %u: %s",
			 n->dev.name, op, vdev_tap_name(n->tap), p->index,
			 strerror(err));
	if (err != EIO && !p->tap_gone) {
		vdev_worker_del_fd(w, p->tap_fd);
		p->tap_gone = true;
	}
	net_link_set(n, false);
	return true;
}

/* ---- TX ---- */

/*
 * A TX chain just popped: 1 to send it; 0 when it was dropped (pushed
 * back and counted: a frame too short or too long, or a deleted TAP);
 * -EIO when the driver broke the queue (a write-only descriptor: the
 * device needs a reset). Both datapaths check every chain here.
 */
int net_tx_check(struct net_pair *p, struct vdev_chain *c)
{
	struct vdev_net *n = p->net;
	struct vdev_queue *vq = p->txq;

	if (unlikely(c->nr_write)) {
		vdev_queue_push_chain(vq, c, 0);
		vdev_queue_notify(vq);
		vdev_device_set_needs_reset(&n->dev,
					    "tx queue %u: write-only descriptor",
					    vq->index);
		return -EIO;
	}
	if (unlikely(c->read_len > NET_MAX_GSO_FRAME + n->hdr_len ||
		     c->read_len < n->hdr_len + ETH_HLEN)) {
		stat_add(p, NET_TX_DROPS, 1);
		vdev_queue_push_chain(vq, c, 0);
		return 0;
	}
	if (unlikely(p->tap_gone)) {
		stat_add(p, NET_TX_DROPS, 1);
		stat_add(p, NET_TX_ERRORS, 1);
		vdev_queue_push_chain(vq, c, 0);
		return 0;
	}
	return 1;
}

/* Send chains until the ring is empty or the TAP pushes back. */
static int tx_process(struct vdev_worker *w, struct net_pair *p)
{
	struct vdev_net *n = p->net;
	struct vdev_queue *vq = p->txq;
	struct vdev_chain *c = &p->txc;
	unsigned int budget = 4 * NET_BATCH;
	bool again;
	int ret;

	if (p->tx_stopped)
		return 0;
	do {
		vdev_queue_disable_notify(vq);
		while (budget && (ret = vdev_queue_pop(vq, c)) > 0) {
			ssize_t len;

			/*
			 * Publish and signal as we go, so the driver can
			 * refill: one waiting for half of what is out would
			 * otherwise sleep until the batch ends.
			 */
			if (!(--budget % NET_FLUSH_EVERY))
				vdev_queue_notify(vq);
			ret = net_tx_check(p, c);
			if (unlikely(ret < 0))
				return ret;
			if (unlikely(!ret))
				continue;
			len = net_tx_write(p->tap_fd, c->iov, c->nr_read);
			if (likely(len >= 0)) {
				stat_add(p, NET_TX_FRAMES, 1);
				stat_add(p, NET_TX_BYTES, len - n->hdr_len);
				vdev_queue_push_chain(vq, c, 0);
				continue;
			}
			if (errno == EAGAIN || errno == ENOBUFS) {
				/* Back off: retry this chain on EPOLLOUT. */
				vdev_queue_rewind(vq, c);
				p->tx_wait = true;
				pair_tap_events(w, p, p->tap_events | EPOLLOUT);
				vdev_queue_notify(vq);
				return 0;
			}
			stat_add(p, NET_TX_DROPS, 1);
			stat_add(p, NET_TX_ERRORS, 1);
			net_pair_tap_error(w, p, errno, "write");
			vdev_queue_push_chain(vq, c, 0);
		}
		if (ret < 0) {
			vdev_queue_notify(vq);
			return ret;
		}
		vdev_queue_notify(vq);
		if (!budget) {
			/* Let RX run; come back through our own kick. */
			int err = eventfd_kick(vq->kick_fd);

			if (err)
				vdev_log(VDEV_LOG_DEBUG, "%s: tx self-kick: %d",
					 n->dev.name, err);
			return 0;
		}
		again = vdev_queue_enable_notify(vq);
	} while (again);
	return 0;
}

static int tx_kick(struct vdev_worker *w, uint32_t events, void *data)
{
	struct net_pair *p = data;
	uint64_t v;

	if (read(p->txq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	if (p->tx_stopped)
		return 0;	/* until net_queue_enable() */
	if (p->ur)
		return net_uring_tx_kick(w, p);
	if (p->tx_wait)
		return 0;	/* EPOLLOUT will resume us */
	return tx_process(w, p);
}

/* ---- RX ---- */

/* Write num_buffers (offset 10 of the v1 header) into @c's iovecs. */
void net_rx_set_num_buffers(struct vdev_chain *c, uint16_t num)
{
	uint8_t b[2] = { num & 0xff, num >> 8 };
	size_t off = offsetof(struct virtio_net_hdr_v1, num_buffers);
	unsigned int i, k = 0;

	for (i = c->nr_read; i < c->nr_read + c->nr_write && k < 2; i++) {
		size_t len = c->iov[i].iov_len;

		while (off < len && k < 2)
			((uint8_t *)c->iov[i].iov_base)[off++] = b[k++];
		off -= len > off ? off : len;
	}
}

/* Give back every popped chain not yet used. */
static void rx_rewind_all(struct net_pair *p)
{
	if (p->rx_nr > p->rx_first)
		vdev_queue_rewind(p->rxq, &p->rxc[p->rx_first]);
	p->rx_first = 0;
	p->rx_nr = 0;
	p->rx_pool_used = 0;
}

/* Move the unused chains (and their iovecs) to the front of the pool. */
static void rx_compact(struct net_pair *p)
{
	unsigned int i, base, n = p->rx_nr - p->rx_first;

	if (!p->rx_first)
		return;
	if (!n) {
		p->rx_first = p->rx_nr = p->rx_pool_used = 0;
		return;
	}
	base = p->rxc[p->rx_first].iov - p->rx_pool;
	memmove(p->rx_pool, p->rx_pool + base,
		(p->rx_pool_used - base) * sizeof(*p->rx_pool));
	for (i = 0; i < n; i++) {
		p->rxc[i] = p->rxc[p->rx_first + i];
		p->rxc[i].iov -= base;
	}
	p->rx_first = 0;
	p->rx_nr = n;
	p->rx_pool_used -= base;
}

/*
 * Pop chains until the unused ones hold @want bytes, the ring is empty
 * (*@empty set: only then can more buffers from the driver help), or
 * the pool is full or an unusable chain must wait its turn (*@empty
 * clear). Returns the bytes the unused chains hold, or -errno.
 */
static ssize_t rx_fill(struct net_pair *p, size_t want, bool *empty)
{
	struct vdev_net *n = p->net;
	size_t have = 0;
	unsigned int i;
	int ret;

	*empty = false;
	for (i = p->rx_first; i < p->rx_nr; i++)
		have += p->rxc[i].write_len;
	if (have >= want)
		return have;
	if (p->rx_nr == NET_RX_MAX_CHAINS ||
	    NET_RX_POOL_IOV - p->rx_pool_used < NET_MAX_IOV)
		rx_compact(p);

	while (have < want && p->rx_nr < NET_RX_MAX_CHAINS &&
	       NET_RX_POOL_IOV - p->rx_pool_used >= NET_MAX_IOV) {
		struct vdev_chain *c = &p->rxc[p->rx_nr];

		vdev_chain_init(c, p->rx_pool + p->rx_pool_used, NET_MAX_IOV);
		ret = vdev_queue_pop(p->rxq, c);
		if (ret < 0)
			return ret;
		if (!ret) {
			*empty = true;
			break;
		}
		if (unlikely(c->nr_read || c->write_len < n->hdr_len)) {
			/*
			 * Unusable: return it empty and count it, but only
			 * once no popped chain precedes it, so that rewind
			 * keeps giving back exactly the unused tail.
			 */
			if (p->rx_first != p->rx_nr) {
				vdev_queue_rewind(p->rxq, c);
				break;
			}
			stat_add(p, NET_RX_ERRORS, 1);
			vdev_queue_push_chain(p->rxq, c, 0);
			continue;
		}
		p->rx_pool_used += c->nr_write;
		p->rx_nr++;
		have += c->write_len;
		if (!n->mrg_rxbuf)
			break;
	}
	return have;
}

/* Push chains from rx_first covering @len bytes; returns how many. */
static unsigned int rx_push(struct net_pair *p, size_t len)
{
	struct vdev_chain *first = &p->rxc[p->rx_first];
	unsigned int k = 0;

	while (len && p->rx_first < p->rx_nr) {
		struct vdev_chain *c = &p->rxc[p->rx_first++];
		size_t l = len < c->write_len ? len : c->write_len;

		len -= l;
		k++;
		if (k == 1)
			continue;
		vdev_queue_push_chain(p->rxq, c, l);
	}
	/* Visible to the driver only at the next flush. */
	if (p->net->hdr_len == NET_HDR_LEN)
		net_rx_set_num_buffers(first, k);
	return k;
}

/* Copy @len bytes of @src into the unused chains' iovecs. */
static void rx_copy_in(struct net_pair *p, const uint8_t *src, size_t len)
{
	unsigned int i, j;

	for (i = p->rx_first; i < p->rx_nr && len; i++) {
		struct vdev_chain *c = &p->rxc[i];

		for (j = 0; j < c->nr_write && len; j++) {
			size_t l = c->iov[j].iov_len;

			if (l > len)
				l = len;
			memcpy(c->iov[j].iov_base, src, l);
			src += l;
			len -= l;
		}
	}
}

/*
 * Return the frame of @len bytes in the unused chains: push them with
 * their lengths (the first one last, once num_buffers is written), and
 * count it.
 */
void net_rx_complete(struct net_pair *p, size_t len)
{
	struct vdev_chain *first = &p->rxc[p->rx_first];
	uint32_t flen = len < first->write_len ? len : first->write_len;

	/*
	 * Used ring order: the kernel driver reads num_buffers from the
	 * first buffer's header, and takes the following ones in order, so
	 * the first chain must be published first.
	 */
	vdev_queue_push_chain(p->rxq, first, flen);
	rx_push(p, len);
	stat_add(p, NET_RX_FRAMES, 1);
	stat_add(p, NET_RX_BYTES, len - p->net->hdr_len);
}

/*
 * Deliver the frame waiting in the scratch buffer: 1 when it is gone
 * (delivered, or dropped because it can never fit), 0 when the ring has
 * too little room yet, or -errno.
 */
static int rx_deliver_pending(struct net_pair *p)
{
	bool empty;
	ssize_t have = rx_fill(p, p->pend_len, &empty);

	if (have < 0)
		return have;
	if ((size_t)have < p->pend_len && empty)
		return 0;
	if ((size_t)have < p->pend_len) {
		/*
		 * rx_fill() stopped before the end of the ring: at its pool
		 * limit, or at an unusable chain that may not be returned
		 * before the ones ahead of it. More buffers would not change
		 * that, and vdev_queue_more_avail() (which on the packed ring
		 * knows only as far as pop has reached) must not be asked:
		 * the frame can never be delivered, so drop it.
		 */
		rx_rewind_all(p);
		stat_add(p, NET_RX_DROPS, 1);
		p->pend_len = 0;
		return 1;
	}
	rx_copy_in(p, p->scratch, p->pend_len);
	net_rx_complete(p, p->pend_len);
	p->pend_len = 0;
	return 1;
}

/*
 * The guest gave no room: sleep until it kicks the RX queue. Only after
 * vdev_queue_pop() found the ring empty: vdev_queue_more_avail() is exact
 * from there, in both ring formats.
 */
bool net_rx_wait_for_buffers(struct vdev_worker *w, struct net_pair *p)
{
	struct vdev_queue *vq = p->rxq;

	rx_rewind_all(p);
	vdev_queue_enable_notify(vq);
	/* New buffers since the last look? (mb in enable_notify) */
	if (vdev_queue_more_avail(vq)) {
		vdev_queue_disable_notify(vq);
		return false;
	}
	p->rx_wait = true;
	pair_tap_events(w, p, p->tap_events & ~EPOLLIN);
	return true;
}

/*
 * Read frames from the TAP into guest buffers until the TAP is empty,
 * the guest has no more room, or the batch is done.
 *
 * A frame parked in the scratch buffer does not end a batch: the loop
 * goes on until it is delivered or the worker waits for an RX kick
 * (rx_wait, notifications on). A parked frame can be the last one the
 * TAP had, and then no EPOLLIN would ever come back for it; with
 * EVENT_IDX the driver would not even kick unless asked to. So on
 * return either nothing is parked or the device waits for buffers.
 */
int net_rx_process(struct vdev_worker *w, struct net_pair *p)
{
	struct vdev_net *n = p->net;
	struct iovec *iov;
	unsigned int frames = 0, cnt, i;
	size_t room, off;
	struct iovec saved;
	ssize_t have, len;
	bool empty;
	int ret = 0;

	while (frames < NET_BATCH || p->pend_len) {
		if (p->pend_len) {
			ret = rx_deliver_pending(p);
			if (ret < 0)
				break;
			if (!ret) {
				if (net_rx_wait_for_buffers(w, p))
					break;
				continue;
			}
			frames++;
			continue;
		}
		if (p->tap_gone)
			break;
		have = rx_fill(p, n->rx_cap, &empty);
		if (have < 0) {
			ret = have;
			break;
		}
		/* Nothing usable held: pop found the ring empty. */
		if (!have) {
			if (net_rx_wait_for_buffers(w, p))
				break;
			continue;
		}
		/* One readv over every unused chain, scratch past them. */
		iov = p->rxc[p->rx_first].iov;
		cnt = p->rx_pool + p->rx_pool_used - iov;
		if (cnt > NET_MAX_IOV - 1)
			cnt = NET_MAX_IOV - 1;
		for (room = 0, i = 0; i < cnt; i++)
			room += iov[i].iov_len;
		saved = iov[cnt];
		iov[cnt].iov_base = p->scratch;
		iov[cnt].iov_len = NET_SCRATCH_LEN;
		len = net_rx_readv(p->tap_fd, iov, cnt + 1);
		iov[cnt] = saved;
		if (len < 0) {
			int err = errno;

			if (err == EAGAIN)
				break;
			if (net_pair_tap_error(w, p, err, "read"))
				break;
			/* The kernel dropped the frame (EFAULT, EINVAL). */
			stat_add(p, NET_RX_DROPS, 1);
			stat_add(p, NET_RX_ERRORS, 1);
			continue;
		}
		frames++;
		if (unlikely((size_t)len < n->hdr_len)) {
			/* tun always writes the header: not a frame. */
			stat_add(p, NET_RX_ERRORS, 1);
			continue;
		}
		if (likely((size_t)len <= room)) {
			net_rx_complete(p, len);
			/*
			 * A frame the driver can see must not wait for the
			 * end of the batch, which lasts as long as the TAP
			 * keeps delivering: publish and signal as we go.
			 * With EVENT_IDX (or NAPI's disabled callbacks) the
			 * driver suppresses what it does not need.
			 */
			if (!(frames % NET_RX_SIGNAL_EVERY))
				vdev_queue_notify(p->rxq);
			continue;
		}
		if (!n->mrg_rxbuf || (size_t)len > NET_SCRATCH_LEN) {
			/* A driver's buffer too small for the frame. */
			stat_add(p, NET_RX_DROPS, 1);
			continue;
		}
		/*
		 * Not enough room: keep the whole frame in the scratch
		 * buffer (the guest part copied back) until the guest adds
		 * buffers. Rare: the guest is nearly out of buffers.
		 */
		memmove(p->scratch + room, p->scratch, len - room);
		for (off = 0, i = 0; i < cnt && off < room; i++) {
			memcpy(p->scratch + off, iov[i].iov_base,
			       iov[i].iov_len);
			off += iov[i].iov_len;
		}
		rx_rewind_all(p);
		p->pend_len = len;
	}
	/* Chains popped but not used go back; one interrupt per batch. */
	if (!p->rx_wait)
		rx_rewind_all(p);
	vdev_queue_notify(p->rxq);
	return ret < 0 ? ret : 0;
}

/* The RX queue is broken: stop reading the TAP for good (until reset). */
static int rx_stop(struct vdev_worker *w, struct net_pair *p, int err)
{
	p->rx_wait = true;
	pair_tap_events(w, p, p->tap_events & ~EPOLLIN);
	return err;
}

static int rx_kick(struct vdev_worker *w, uint32_t events, void *data)
{
	struct net_pair *p = data;
	uint64_t v;
	int ret;

	if (read(p->rxq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	/* Stopped reads as broken too, but comes back: keep the kick fd. */
	if (p->rx_stopped)
		return 0;
	if (vdev_queue_is_broken(p->rxq))
		return rx_stop(w, p, -EIO);
	if (!p->rx_wait)
		return 0;
	p->rx_wait = false;
	vdev_queue_disable_notify(p->rxq);
	if (p->ur)
		ret = net_uring_rx_kick(w, p);
	else {
		pair_tap_events(w, p, p->tap_events | EPOLLIN);
		ret = net_rx_process(w, p);
	}
	return ret < 0 ? rx_stop(w, p, ret) : 0;
}

static int tap_event(struct vdev_worker *w, uint32_t events, void *data)
{
	struct net_pair *p = data;
	int ret = 0;

	/*
	 * rx_wait means EPOLLIN off; net_queue_reset() sets it from the
	 * control path, without the worker, so EPOLLIN goes off here.
	 */
	if (p->rx_wait && (p->tap_events & EPOLLIN))
		pair_tap_events(w, p, p->tap_events & ~EPOLLIN);
	if (p->tx_wait && (events & (EPOLLOUT | EPOLLERR))) {
		p->tx_wait = false;
		pair_tap_events(w, p, p->tap_events & ~EPOLLOUT);
		ret = tx_process(w, p);
		if (ret < 0)
			return 0;	/* the TX queue is dead, not the TAP */
	}
	if (p->rxq && !p->rx_wait && (events & (EPOLLIN | EPOLLERR)) &&
	    net_rx_process(w, p) < 0)
		rx_stop(w, p, -EIO);
	if (p->tap_gone)
		return 0;	/* already removed */
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
		net_pair_tap_error(w, p, EBADFD, "poll");
		return 0;
	}
	return 0;
}

/* ---- control queue ---- */

static unsigned int net_guest_to_tun(uint64_t guest)
{
	unsigned int tun_f = 0;

	if (guest & (1ULL << VIRTIO_NET_F_GUEST_CSUM))
		tun_f |= TUN_F_CSUM;
	if (guest & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		tun_f |= TUN_F_TSO4;
	if (guest & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		tun_f |= TUN_F_TSO6;
	if (guest & (1ULL << VIRTIO_NET_F_GUEST_ECN))
		tun_f |= TUN_F_TSO_ECN;
	if (guest & (1ULL << VIRTIO_NET_F_GUEST_UFO))
		tun_f |= TUN_F_UFO;
	/* TSO without checksum offload is meaningless to tun. */
	if (!(tun_f & TUN_F_CSUM))
		tun_f = 0;
	return tun_f;
}

#define NET_GUEST_OFFLOADS ((1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
			    (1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
			    (1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
			    (1ULL << VIRTIO_NET_F_GUEST_ECN) | \
			    (1ULL << VIRTIO_NET_F_GUEST_UFO))

/*
 * Attach the TAP queues of pairs below @pairs, detach the others, through
 * @fds (the control worker's, see tap_internal.h) or, when NULL, the
 * device's own TAP fds. A deleted TAP (EBADFD) is reported by the data
 * path, once.
 */
static void net_steer(struct vdev_net *n, const int *fds, unsigned int pairs)
{
	unsigned int i;
	int err;

	if (vdev_tap_nr_queues(n->tap) < 2)
		return;
	for (i = 1; i < n->nr_pairs; i++) {
		err = __vdev_tap_set_queue_enabled(n->tap, fds, i, i < pairs,
						   true);
		if (err && err != -EBADFD)
			vdev_log(VDEV_LOG_WARN, "%s: %s TAP queue %u: %s",
				 n->dev.name, i < pairs ? "attach" : "detach",
				 i, strerror(-err));
	}
}

static uint8_t ctrl_mq(struct vdev_net *n, uint8_t cmd, const uint8_t *d,
		       size_t len)
{
	uint16_t pairs;

	if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 2 ||
	    !vdev_device_feature_acked(&n->dev, VIRTIO_NET_F_MQ))
		return VIRTIO_NET_ERR;
	pairs = d[0] | (d[1] << 8);
	/*
	 * Only pairs the driver set up have a worker: a TAP queue of any
	 * other would get flows that nobody reads.
	 */
	if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > n->ready_pairs) {
		if (vdev_ratelimit_ok(&n->dev.rl))
			vdev_log(VDEV_LOG_WARN,
				 "%s: MQ_VQ_PAIRS_SET %u outside 1..%u (pairs set up)",
				 n->dev.name, pairs, n->ready_pairs);
		return VIRTIO_NET_ERR;
	}
	net_steer(n, n->ctrl_tap_fds, pairs);
	atomic_store(&n->active_pairs, pairs);
	return VIRTIO_NET_OK;
}

static uint8_t ctrl_offloads(struct vdev_net *n, uint8_t cmd,
			     const uint8_t *d, size_t len)
{
	uint64_t acked = vdev_device_acked_features(&n->dev);
	uint64_t v = 0;
	unsigned int i;

	if (cmd != VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET || len != 8)
		return VIRTIO_NET_ERR;
	for (i = 0; i < 8; i++)
		v |= (uint64_t)d[i] << (8 * i);
	if (v & ~(acked & NET_GUEST_OFFLOADS))
		return VIRTIO_NET_ERR;
	return __vdev_tap_set_offload(n->tap, n->ctrl_tap_fds,
				      net_guest_to_tun(v)) ?
	       VIRTIO_NET_ERR : VIRTIO_NET_OK;
}

/* MAC table: two tables of { le32 entries; u8 macs[entries][6]; }. */
static uint8_t ctrl_mac(struct vdev_net *n, uint8_t cmd, const uint8_t *d,
			size_t len)
{
	size_t off = 0;
	uint32_t e;
	int t;

	if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET)
		return len == ETH_ALEN ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
	if (cmd != VIRTIO_NET_CTRL_MAC_TABLE_SET)
		return VIRTIO_NET_ERR;
	for (t = 0; t < 2; t++) {
		if (len - off < 4)
			return VIRTIO_NET_ERR;
		e = d[off] | d[off + 1] << 8 | d[off + 2] << 16 |
		    (uint32_t)d[off + 3] << 24;
		off += 4;
		if (e > (len - off) / ETH_ALEN)
			return VIRTIO_NET_ERR;
		off += (size_t)e * ETH_ALEN;
	}
	/* Documented no-op: the TAP sees every frame anyway. */
	return off == len ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

static uint8_t ctrl_command(struct vdev_net *n, const uint8_t *buf,
			    size_t len)
{
	uint8_t class = buf[0], cmd = buf[1];

	buf += 2;
	len -= 2;
	switch (class) {
	case VIRTIO_NET_CTRL_MQ:
		return ctrl_mq(n, cmd, buf, len);
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS:
		return ctrl_offloads(n, cmd, buf, len);
	case VIRTIO_NET_CTRL_RX:
		/* Documented no-op: promiscuous and all-multi always. */
		return cmd <= VIRTIO_NET_CTRL_RX_NOBCAST && len == 1 ?
		       VIRTIO_NET_OK : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		return ctrl_mac(n, cmd, buf, len);
	default:
		return VIRTIO_NET_ERR;
	}
}

static int ctrl_kick(struct vdev_worker *w, uint32_t events, void *data)
{
	struct vdev_net *n = data;
	struct vdev_queue *vq = n->ctrlq;
	struct vdev_chain *c = &n->ctrl_chain;
	uint8_t buf[NET_CTRL_MAX_CMD];
	uint64_t v;
	int ret;

	if (read(vq->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	if (n->ctrl_stopped)
		return 0;	/* until net_queue_enable() */
again:
	while ((ret = vdev_queue_pop(vq, c)) > 0) {
		uint8_t ack = VIRTIO_NET_ERR;
		size_t len = 0;
		unsigned int i;

		for (i = 0; i < c->nr_read && len < sizeof(buf); i++) {
			size_t l = c->iov[i].iov_len;

			if (l > sizeof(buf) - len)
				l = sizeof(buf) - len;
			memcpy(buf + len, c->iov[i].iov_base, l);
			len += l;
		}
		if (c->read_len >= 2 && c->read_len <= sizeof(buf))
			ack = ctrl_command(n, buf, len);
		if (!c->nr_write) {
			/* Nowhere to answer: return it anyway, never hang. */
			if (vdev_ratelimit_ok(&n->dev.rl))
				vdev_log(VDEV_LOG_WARN,
					 "%s: control command without ack byte",
					 n->dev.name);
			vdev_queue_push_chain(vq, c, 0);
			continue;
		}
		*(uint8_t *)c->iov[c->nr_read].iov_base = ack;
		vdev_queue_push_chain(vq, c, 1);
	}
	vdev_queue_notify(vq);
	if (!ret && vdev_queue_enable_notify(vq))
		goto again;
	return ret;
}

/*
 * The TAP's link changed: netlink told us, in the TAP's namespace and by
 * its ifindex (vdev_tap_link_fd()), so no polling and no RTNL taken.
 */
static int link_event(struct vdev_worker *w, uint32_t events, void *data)
{
	struct vdev_net *n = data;

	net_link_set(n, vdev_tap_link_update(n->tap));
	return 0;
}

/* ---- device ops ---- */

static void net_read_config(struct vdev_device *dev, uint64_t offset,
			    void *data, unsigned int len)
{
	struct vdev_net *n = to_net(dev);

	pthread_mutex_lock(&n->cfg_lock);
	vdev_config_read_from(&n->config, sizeof(n->config), offset, data,
			      len);
	pthread_mutex_unlock(&n->cfg_lock);
}

static void net_write_config(struct vdev_device *dev, uint64_t offset,
			     const void *data, unsigned int len)
{
	/* Read-only for VIRTIO 1.x drivers (mac is read-only too). */
	if (vdev_ratelimit_ok(&dev->rl))
		vdev_log(VDEV_LOG_WARN, "%s: config write at %llu ignored",
			 dev->name, (unsigned long long)offset);
}

/*
 * The pair keeps no pointer to its worker: each callback gets it as an
 * argument, so nothing points at a worker once the core has freed it.
 */
static int net_start_pair(struct vdev_net *n, struct net_pair *p)
{
	struct vdev_device *dev = &n->dev;
	struct vdev_worker *w;
	char sfx[8];
	int ret;

	snprintf(sfx, sizeof(sfx), "q%u", p->index);
	ret = vdev_worker_create(dev, sfx, 0, &w);
	if (ret)
		return ret;
	p->tap_events = EPOLLIN;
	ret = vdev_worker_add_fd(w, p->rxq->kick_fd, EPOLLIN, rx_kick, p);
	if (!ret)
		ret = vdev_worker_add_fd(w, p->txq->kick_fd, EPOLLIN,
					 tx_kick, p);
	if (!ret && n->io == VDEV_NET_IO_URING)
		ret = net_uring_start(p, w);
	else if (!ret && !p->tap_gone)
		ret = vdev_worker_add_fd(w, p->tap_fd, p->tap_events,
					 tap_event, p);
	if (ret) {
		vdev_worker_destroy(w);
		net_uring_stop(p);
		return ret;
	}
	ret = vdev_worker_start(w);
	if (ret)
		net_uring_stop(p);	/* the worker never ran */
	return ret;
}

/* The control worker's TAP fds are gone with it (or were never made). */
static void net_forget_ctrl_tap_fds(struct vdev_net *n)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(n->ctrl_tap_fds); i++)
		n->ctrl_tap_fds[i] = -1;
}

/*
 * The control worker acts on the TAP (TUNSETOFFLOAD, TUNSETQUEUE) through
 * dups of the TAP fds that it owns, as cloud-hypervisor's control handler
 * owns Tap clones: they are closed when the worker is destroyed, after
 * its join.
 */
static int net_ctrl_own_tap_fds(struct vdev_net *n, struct vdev_worker *w)
{
	unsigned int i;
	int fd, ret;

	for (i = 0; i < n->nr_pairs; i++) {
		fd = fcntl(vdev_tap_fd(n->tap, i), F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		ret = vdev_worker_own_fd(w, fd);
		if (ret) {
			close(fd);
			return ret;
		}
		n->ctrl_tap_fds[i] = fd;
	}
	return 0;
}

static int net_start_ctrl(struct vdev_net *n)
{
	struct vdev_worker *w;
	int ret;

	ret = vdev_worker_create(&n->dev, "ctl", VDEV_WORKER_CTRL, &w);
	if (ret)
		return ret;
	ret = vdev_worker_add_fd(w, vdev_tap_link_fd(n->tap), EPOLLIN,
				 link_event, n);
	if (!ret && n->ctrlq)
		ret = net_ctrl_own_tap_fds(n, w);
	if (!ret && n->ctrlq) {
		vdev_chain_init(&n->ctrl_chain, n->ctrl_iov,
				ARRAY_SIZE(n->ctrl_iov));
		ret = vdev_worker_add_fd(w, n->ctrlq->kick_fd, EPOLLIN,
					 ctrl_kick, n);
	}
	if (ret) {
		vdev_worker_destroy(w);
		net_forget_ctrl_tap_fds(n);
		return ret;
	}
	ret = vdev_worker_start(w);
	if (ret)
		net_forget_ctrl_tap_fds(n);
	return ret;
}

/*
 * Forget pair @p's activation; its worker is not running. Its ring goes
 * first, requests cancelled and reaped, while the queues are still there
 * (the core tears them down after the reset op).
 */
static void net_pair_clear(struct net_pair *p)
{
	net_uring_stop(p);
	p->rxq = p->txq = NULL;
	p->tap_events = 0;
	p->rx_wait = p->tx_wait = false;
	p->rx_stopped = p->tx_stopped = false;
	p->rx_first = p->rx_nr = p->rx_pool_used = 0;
	p->pend_len = 0;
}

/*
 * Undo what an activation set up and no running worker reads: the
 * control queue, the pair count and the TAP queue steering (every queue
 * attached again, as between activations).
 */
static void net_deactivate(struct vdev_net *n)
{
	n->ctrlq = NULL;
	n->ctrl_stopped = false;
	n->ready_pairs = 0;
	/* Closed with the control worker, by the join (or never given). */
	net_forget_ctrl_tap_fds(n);
	net_steer(n, NULL, n->nr_pairs);
	atomic_store(&n->active_pairs, 1);
}

/*
 * A failure leaves the device as reset does, except for the pairs whose
 * workers already run: the core joins those after we return and then
 * calls net_reset(), which clears their pairs.
 */
static int net_activate(struct vdev_device *dev, struct vdev_queue **queues,
			unsigned int nr_queues)
{
	struct vdev_net *n = to_net(dev);
	bool mq = vdev_device_feature_acked(dev, VIRTIO_NET_F_MQ);
	uint64_t acked = vdev_device_acked_features(dev);
	unsigned int ctrl_index = mq ? 2 * n->nr_pairs : 2;
	unsigned int i, pairs, started = 0;
	bool gone = false;
	int ret;

	n->ctrlq = NULL;
	n->ctrl_stopped = false;
	for (i = 0; i < n->nr_pairs; i++)
		net_pair_clear(&n->pairs[i]);
	for (i = 0; i < nr_queues; i++) {
		struct vdev_queue *vq = queues[i];

		if (vdev_device_feature_acked(dev, VIRTIO_NET_F_CTRL_VQ) &&
		    vq->index == ctrl_index) {
			n->ctrlq = vq;
			continue;
		}
		if (vq->index >= 2 * n->nr_pairs) {
			if (vdev_ratelimit_ok(&dev->rl))
				vdev_log(VDEV_LOG_ERR, "%s: no queue %u",
					 dev->name, vq->index);
			ret = -EINVAL;
			goto out_clear;
		}
		if (vq->index & 1)
			n->pairs[vq->index / 2].txq = vq;
		else
			n->pairs[vq->index / 2].rxq = vq;
	}

	n->mrg_rxbuf = acked & (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	n->hdr_len = (n->mrg_rxbuf || (acked & (1ULL << VIRTIO_F_VERSION_1))) ?
		     NET_HDR_LEN : NET_HDR_LEGACY_LEN;
	n->rx_cap = n->hdr_len + ETH_HLEN + NET_VLAN_HLEN +
		    ((acked & (NET_GUEST_OFFLOADS &
			       ~(1ULL << VIRTIO_NET_F_GUEST_CSUM))) ?
		     NET_MAX_GSO_FRAME : vio16(n->config.mtu));
	/* A deleted TAP: activate anyway, link down, frames dropped. */
	ret = vdev_tap_set_vnet_hdr_size(n->tap, n->hdr_len);
	if (!ret)
		ret = vdev_tap_set_offload(n->tap, net_guest_to_tun(acked));
	if (ret == -EBADFD || ret == -ENODEV)
		gone = true;
	else if (ret)
		goto out_clear;

	/* MQ_VQ_PAIRS_SET may enable pairs 0 .. ready_pairs - 1 only. */
	n->ready_pairs = 0;
	for (i = 0; i < n->nr_pairs; i++) {
		struct net_pair *p = &n->pairs[i];

		p->tap_gone = gone;
		if (!p->rxq || !p->txq) {
			p->rxq = p->txq = NULL;
			continue;
		}
		if (n->ready_pairs == i)
			n->ready_pairs++;
		vdev_chain_init(&p->txc, p->tx_iov, NET_MAX_IOV);
	}
	if (!n->ready_pairs) {
		if (vdev_ratelimit_ok(&dev->rl))
			vdev_log(VDEV_LOG_ERR, "%s: queue pair 0 not ready",
				 dev->name);
		ret = -EINVAL;
		goto out_clear;
	}
	/*
	 * MQ_VQ_PAIRS_SET on the control queue chooses the pairs in use.
	 * With MQ but no control queue here (a vhost-user front-end keeps
	 * it, and starts and stops the pairs' rings itself), nobody sends
	 * it: every pair set up is in use.
	 */
	pairs = mq && !n->ctrlq ? n->ready_pairs : 1;
	atomic_store(&n->active_pairs, pairs);
	net_steer(n, NULL, pairs);
	net_link_set(n, !gone && vdev_tap_carrier_ok(n->tap));

	for (started = 0; started < n->nr_pairs; started++) {
		if (!n->pairs[started].rxq)
			continue;
		ret = net_start_pair(n, &n->pairs[started]);
		if (ret)
			goto out_deactivate;
	}
	ret = net_start_ctrl(n);
	if (!ret)
		return 0;
out_deactivate:
	/* The core stops the workers already started. */
	net_deactivate(n);
out_clear:
	/* Pairs from @started on have no worker running. */
	for (i = started; i < n->nr_pairs; i++)
		net_pair_clear(&n->pairs[i]);
	n->ctrlq = NULL;
	n->ready_pairs = 0;
	return ret;
}

/*
 * Every worker has been joined (core): drop per-activation state. Also
 * after a failed activate, so it must not assume one succeeded.
 */
static void net_reset(struct vdev_device *dev)
{
	struct vdev_net *n = to_net(dev);
	unsigned int i;

	for (i = 0; i < n->nr_pairs; i++)
		net_pair_clear(&n->pairs[i]);
	/* Next activation starts with every TAP queue attached. */
	net_deactivate(n);
}

/* The pair serving @vq, or NULL (the control queue, or no worker). */
static struct net_pair *net_queue_pair(struct vdev_net *n,
				       const struct vdev_queue *vq)
{
	struct net_pair *p;

	if (vq->index >= 2 * n->nr_pairs)
		return NULL;
	p = &n->pairs[vq->index / 2];
	return p->rxq == vq || p->txq == vq ? p : NULL;
}

/*
 * One queue is disabled or reset on its own (VIRTIO_F_RING_RESET,
 * vhost-user's GET_VRING_BASE); the core has parked every worker. Drop
 * what the pair keeps for that queue: for RX the chains popped and not
 * used (between handlers there are none: each batch gives them back) and
 * the frame parked in the scratch buffer, which is dropped and counted;
 * rx_wait stays set until the kick net_queue_enable() is followed by, so
 * EPOLLIN goes off at the worker's next TAP event. TX holds no chain
 * between handlers; tx_wait is left as it is, so that a pending EPOLLOUT
 * still clears it. The other queue of the pair, and the other pairs,
 * carry on once the workers are unparked.
 */
static void net_queue_reset(struct vdev_device *dev, struct vdev_queue *vq)
{
	struct vdev_net *n = to_net(dev);
	struct net_pair *p = net_queue_pair(n, vq);

	if (vq == n->ctrlq) {
		n->ctrl_stopped = true;
		return;
	}
	if (!p)
		return;
	if (vq == p->txq) {
		net_uring_queue_reset(p, false);
		p->tx_stopped = true;
		return;
	}
	net_uring_queue_reset(p, true);
	rx_rewind_all(p);
	if (p->pend_len) {
		stat_add(p, NET_RX_DROPS, 1);
		p->pend_len = 0;
	}
	p->rx_wait = true;
	p->rx_stopped = true;
}

/*
 * The queue runs again, on a fresh ring or where it stopped; workers
 * parked. The core kicks the queue next: RX then turns EPOLLIN back on
 * (rx_kick()), TX sends what the ring holds.
 */
static int net_queue_enable(struct vdev_device *dev, struct vdev_queue *vq)
{
	struct vdev_net *n = to_net(dev);
	struct net_pair *p = net_queue_pair(n, vq);

	if (vq == n->ctrlq)
		n->ctrl_stopped = false;
	else if (p && vq == p->txq)
		p->tx_stopped = false;
	else if (p)
		p->rx_stopped = false;
	return 0;
}

static unsigned int net_counters(struct vdev_device *dev,
				 struct vdev_counter *counters,
				 unsigned int max)
{
	struct vdev_net *n = to_net(dev);
	unsigned int i, s, k = 0;

	for (i = 0; i < n->nr_pairs; i++)
		for (s = 0; s < NET_NR_STATS && k < max; s++, k++) {
			counters[k].name = n->pairs[i].names[s];
			counters[k].value = atomic_load_explicit(
				&n->pairs[i].stats[s], memory_order_relaxed);
		}
	return k;
}

/*
 * Instance numbers: the lowest one no live net device has, as the kernel
 * numbers eth0, eth1... So "netN" names one device at a time in log lines
 * and in its worker threads' names ("vdev-netN-q0"), which must fit in
 * VDEV_NAME_MAX - 1 characters.
 */
#define NET_MAX_INSTANCES	1000
_Static_assert(sizeof("net999") <= VDEV_NAME_MAX,
	       "net instance names must fit in VDEV_NAME_MAX");

/* A bit per instance number, taken and given back atomically. */
static _Atomic uint64_t net_instances[(NET_MAX_INSTANCES + 63) / 64];

static int net_instance_get(void)
{
	unsigned int i, bit;
	uint64_t v;

	for (i = 0; i < ARRAY_SIZE(net_instances); i++) {
		v = atomic_load(&net_instances[i]);
		while (~v) {
			bit = __builtin_ctzll(~v);
			if (i * 64 + bit >= NET_MAX_INSTANCES)
				return -ENOSPC;
			if (atomic_compare_exchange_weak(&net_instances[i], &v,
							 v | 1ULL << bit))
				return i * 64 + bit;
		}
	}
	return -ENOSPC;
}

static void net_instance_put(int i)
{
	if (i >= 0)
		atomic_fetch_and(&net_instances[i / 64], ~(1ULL << (i % 64)));
}

static void net_free(struct vdev_net *n)
{
	unsigned int i;

	for (i = 0; i < n->nr_pairs; i++) {
		net_uring_free(&n->pairs[i]);
		free(n->pairs[i].tx_iov);
		free(n->pairs[i].rx_pool);
		free(n->pairs[i].scratch);
	}
	free(n->queue_sizes);
	pthread_mutex_destroy(&n->cfg_lock);
	net_instance_put(n->instance);
	free(n);
}

/* Called last: every worker was joined by the final reset. */
static void net_release(struct vdev_device *dev)
{
	struct vdev_net *n = to_net(dev);

	vdev_tap_close(n->tap);
	net_free(n);
}

static const struct vdev_device_ops net_ops = {
	.name = "net",
	.read_config = net_read_config,
	.write_config = net_write_config,
	.activate = net_activate,
	.reset = net_reset,
	.queue_reset = net_queue_reset,
	.queue_enable = net_queue_enable,
	.counters = net_counters,
	.release = net_release,
};

static uint64_t net_features(struct vdev_net *n)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) |
		     (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
		     (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     /* Either ring format: net uses only the queue API. */
		     (1ULL << VIRTIO_F_RING_PACKED) |
		     (1ULL << VIRTIO_NET_F_MAC) |
		     (1ULL << VIRTIO_NET_F_STATUS) |
		     (1ULL << VIRTIO_NET_F_MTU) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
		     (1ULL << VIRTIO_NET_F_CTRL_VQ) |
		     (1ULL << VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) |
		     /* tun accepts any offload in the header we write. */
		     (1ULL << VIRTIO_NET_F_CSUM) |
		     (1ULL << VIRTIO_NET_F_HOST_TSO4) |
		     (1ULL << VIRTIO_NET_F_HOST_TSO6) |
		     (1ULL << VIRTIO_NET_F_HOST_ECN);

	if (n->nr_pairs > 1)
		f |= 1ULL << VIRTIO_NET_F_MQ;
	/* What the TAP hands us is bounded by what it can be told. */
	if (vdev_tap_offload_supported(n->tap, TUN_F_CSUM)) {
		f |= 1ULL << VIRTIO_NET_F_GUEST_CSUM;
		if (vdev_tap_offload_supported(n->tap, TUN_F_CSUM | TUN_F_TSO4))
			f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4;
		if (vdev_tap_offload_supported(n->tap, TUN_F_CSUM | TUN_F_TSO6))
			f |= 1ULL << VIRTIO_NET_F_GUEST_TSO6;
		if (vdev_tap_offload_supported(n->tap, TUN_F_CSUM |
					       TUN_F_TSO4 | TUN_F_TSO_ECN))
			f |= 1ULL << VIRTIO_NET_F_GUEST_ECN;
	}
	return f;
}

static int net_pair_init(struct vdev_net *n, unsigned int i)
{
	struct net_pair *p = &n->pairs[i];
	unsigned int s;

	p->net = n;
	p->index = i;
	p->tap_fd = vdev_tap_fd(n->tap, i);
	p->tx_iov = calloc(NET_MAX_IOV, sizeof(*p->tx_iov));
	p->rx_pool = calloc(NET_RX_POOL_IOV + 1, sizeof(*p->rx_pool));
	p->scratch = malloc(NET_SCRATCH_LEN);
	if (!p->tx_iov || !p->rx_pool || !p->scratch)
		return -ENOMEM;
	for (s = 0; s < NET_NR_STATS; s++)
		snprintf(p->names[s], sizeof(p->names[s]), "%s_q%u",
			 net_stat_names[s], i);
	return 0;
}

/*
 * Pick the TAP I/O path for a new device. The choice and its reason are
 * logged at INFO when they differ from the last device's (so once in a
 * process that makes many devices), else at DEBUG.
 */
static int net_choose_io(struct vdev_net *n, enum vdev_net_io want,
			 const char *name)
{
	static _Atomic int last_logged = -1;
	int err = 0, key;
	const char *why;

	if (want > VDEV_NET_IO_URING) {
		vdev_log(VDEV_LOG_ERR, "net: unknown TAP I/O path %d", want);
		return -EINVAL;
	}
	n->io_forced = want != VDEV_NET_IO_AUTO;
	if (want == VDEV_NET_IO_SYSCALL) {
		n->io = VDEV_NET_IO_SYSCALL;
		why = "forced by the config";
	} else {
		err = net_uring_probe();
		if (err && want == VDEV_NET_IO_URING) {
			vdev_log(VDEV_LOG_ERR,
				 "net: io_uring forced by the config, but the kernel refuses it: %s",
				 strerror(-err));
			return err;
		}
		n->io = err ? VDEV_NET_IO_SYSCALL : VDEV_NET_IO_URING;
		why = n->io_forced ? "forced by the config" :
		      err ? "auto: io_uring refused" : "auto";
	}
	key = n->io * 1024 + n->io_forced * 512 + (-err & 511);
	vdev_log(atomic_exchange(&last_logged, key) == key ?
		 VDEV_LOG_DEBUG : VDEV_LOG_INFO,
		 "%s: TAP I/O: %s (%s%s%s)", name,
		 n->io == VDEV_NET_IO_URING ?
		 "io_uring, batched, one ring per queue pair" :
		 "one syscall per frame", why, err ? ": " : "",
		 err ? strerror(-err) : "");
	return 0;
}

/**
 * vdev_net_create() - create a virtio-net device on a TAP
 * @cfg: configuration
 * @devp: on success the device, one reference held by the caller
 *
 * Opens (or dups) the TAP fds now, so that a busy TAP is reported here
 * and not at activate. Offloads the TAP cannot do are not offered.
 * Release the device with vdev_device_put(): the last put joins every
 * worker, then closes every TAP fd, before it returns.
 *
 * The TAP I/O path is chosen here (&vdev_net_config.io): with
 * VDEV_NET_IO_AUTO, io_uring when a probe ring can be made and has the
 * opcodes the datapath needs, else one syscall per frame; the choice and
 * why are logged.
 *
 * Return: 0; -ENOSPC when 1000 net devices are alive (instance names run
 * out); -EINVAL for a bad @cfg (neither a TAP name nor fds, more
 * than VDEV_NET_MAX_QUEUE_PAIRS pairs, not one fd per pair, a queue size
 * that is not a power of two up to 32768, an MTU outside 68..65535, an
 * unknown @cfg->io); with VDEV_NET_IO_URING, the -errno io_uring was
 * refused with (-ENOSYS, -EPERM, -EOPNOTSUPP for a kernel without the
 * opcodes); -EBUSY when another fd still holds the TAP; -ENOMEM; or
 * -errno from the TAP backend (vdev_tap_open()).
 */
int vdev_net_create(const struct vdev_net_config *cfg,
		    struct vdev_device **devp)
{
	struct vdev_tap_config tcfg = { 0 };
	struct vdev_device_info info = { 0 };
	static const uint8_t zero_mac[ETH_ALEN];
	unsigned int pairs, qsize, mtu, i;
	struct vdev_net *n;
	char name[VDEV_NAME_MAX];
	int ret;

	if (!cfg || !devp || (!cfg->tap_name && !cfg->num_tap_fds)) {
		vdev_log(VDEV_LOG_ERR, "net: need a TAP name or TAP fds");
		return -EINVAL;
	}
	pairs = cfg->queue_pairs ? cfg->queue_pairs :
		(cfg->num_tap_fds ? cfg->num_tap_fds : 1);
	qsize = cfg->queue_size ? cfg->queue_size : NET_DEFAULT_QSIZE;
	if (pairs > VDEV_NET_MAX_QUEUE_PAIRS ||
	    (!cfg->tap_name && cfg->num_tap_fds != pairs)) {
		vdev_log(VDEV_LOG_ERR, "net: %u queue pairs (%u TAP fds)",
			 pairs, cfg->num_tap_fds);
		return -EINVAL;
	}
	if (qsize > NET_MAX_QSIZE || (qsize & (qsize - 1))) {
		vdev_log(VDEV_LOG_ERR, "net: queue size %u", qsize);
		return -EINVAL;
	}

	n = calloc(1, sizeof(*n) + pairs * sizeof(n->pairs[0]));
	if (!n)
		return -ENOMEM;
	n->nr_pairs = pairs;
	n->instance = -1;
	net_forget_ctrl_tap_fds(n);
	pthread_mutex_init(&n->cfg_lock, NULL);
	n->queue_sizes = calloc(2 * pairs + 1, sizeof(*n->queue_sizes));
	if (!n->queue_sizes) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < 2 * pairs + 1; i++)
		n->queue_sizes[i] = qsize;

	tcfg.name = cfg->tap_name;
	tcfg.fds = cfg->tap_name ? NULL : cfg->tap_fds;
	tcfg.nr_fds = cfg->tap_name ? 0 : cfg->num_tap_fds;
	tcfg.nr_queues = pairs;
	ret = vdev_tap_open(&tcfg, &n->tap);
	if (ret)
		goto out_free;
	n->tun_offloads = 0;
	for (i = 0; i < pairs; i++) {
		ret = net_pair_init(n, i);
		if (ret)
			goto out_close_tap;
	}

	mtu = cfg->mtu;
	if (!mtu && vdev_tap_get_mtu(n->tap, &mtu))
		mtu = ETH_DATA_LEN;
	if (mtu < ETH_MIN_MTU || mtu > 65535) {
		vdev_log(VDEV_LOG_ERR, "net: MTU %u", mtu);
		ret = -EINVAL;
		goto out_close_tap;
	}
	memcpy(n->config.mac, cfg->mac, ETH_ALEN);
	if (!memcmp(cfg->mac, zero_mac, ETH_ALEN)) {
		if (getrandom(n->config.mac, ETH_ALEN, 0) != ETH_ALEN)
			n->config.mac[5] = (uint8_t)getpid();
		n->config.mac[0] &= 0xfe;	/* unicast */
		n->config.mac[0] |= 0x02;	/* locally administered */
	}
	n->config.max_virtqueue_pairs = to_vio16(pairs);
	n->config.mtu = to_vio16(mtu);
	n->config.speed = (__force __le32)htole32(-1); /* unknown */
	n->config.duplex = 0xff;		/* DUPLEX_UNKNOWN */

	n->instance = net_instance_get();
	if (n->instance < 0) {
		vdev_log(VDEV_LOG_ERR, "net: %u devices exist, no name left",
			 NET_MAX_INSTANCES);
		ret = n->instance;
		goto out_close_tap;
	}
	snprintf(name, sizeof(name), "net%d", n->instance);
	ret = net_choose_io(n, cfg->io, name);
	if (ret)
		goto out_close_tap;
	info.name = name;
	info.type = VIRTIO_ID_NET;
	info.features = net_features(n);
	info.queue_sizes = n->queue_sizes;
	info.nr_queues = 2 * pairs + 1;
	info.min_queues = 2;
	ret = vdev_device_init(&n->dev, &net_ops, &info);
	if (ret)
		goto out_close_tap;
	*devp = &n->dev;
	return 0;

out_close_tap:
	vdev_tap_close(n->tap);
out_free:
	net_free(n);
	return ret;
}

/* @dev as a virtio-net device, or NULL (rate-limited error) when not. */
static struct vdev_net *net_from_dev(struct vdev_device *dev,
				     const char *what)
{
	static struct vdev_ratelimit rl = VDEV_RATELIMIT_INIT(5000, 1);

	if (dev && dev->ops == &net_ops &&
	    vdev_device_type(dev) == VIRTIO_ID_NET)
		return to_net(dev);
	if (vdev_ratelimit_ok(&rl))
		vdev_log(VDEV_LOG_ERR, "%s: %s is not a virtio-net device",
			 what, dev ? dev->name : "(null)");
	return NULL;
}

/**
 * vdev_net_active_pairs() - queue pairs in use (MQ_VQ_PAIRS_SET)
 * @dev: a device made by vdev_net_create()
 *
 * Context: any thread.
 *
 * Return: the number of queue pairs the driver enabled, 1 without MQ;
 * 0, with a (rate-limited) error, for any other device.
 */
unsigned int vdev_net_active_pairs(struct vdev_device *dev)
{
	struct vdev_net *n = net_from_dev(dev, "vdev_net_active_pairs");

	return n ? atomic_load(&n->active_pairs) : 0;
}

/**
 * vdev_net_link_up() - the link state shown in the config space
 * @dev: a device made by vdev_net_create()
 *
 * Context: any thread; takes the device's config lock.
 *
 * Return: true when VIRTIO_NET_S_LINK_UP is set; false, with a
 * (rate-limited) error, for any other device.
 */
bool vdev_net_link_up(struct vdev_device *dev)
{
	struct vdev_net *n = net_from_dev(dev, "vdev_net_link_up");

	return n ? net_link_get(n) : false;
}
