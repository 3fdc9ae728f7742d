// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net: the batched io_uring TAP datapath (Documentation/net.rst,
 * "TAP I/O paths").
 *
 * One ring per queue pair, made by the pair's activation and used by the
 * pair's worker only, which watches the ring fd in its epoll set (in
 * place of the TAP fd) next to the two kick eventfds. The pair's TAP fd
 * is the ring's only fixed file (index 0): no fget()/fput() per request.
 *
 * TX: every chain the ring holds, up to NET_UR_TX_SLOTS in flight, is
 * turned into one write (one buffer) or writev SQE straight from the
 * guest iovecs, and the whole batch goes in with one io_uring_submit().
 * tun completes writes inline, so the CQEs are there when submit
 * returns; a write the TAP pushes back stays armed in the kernel and
 * completes later through the ring fd, its chain held until then.
 *
 * RX: a round of up to NET_UR_RX_SLOTS read SQEs, each straight into
 * one guest chain, in one submit. tun copies what fits and returns what
 * it copied, so an oversized frame must be seen: a chain of one buffer
 * larger than the largest frame the device takes (rx_cap) gets a plain
 * read (no iovec to import), and a read that fills it is an oversized
 * frame; any other chain gets a readv with a sink buffer past it, and a
 * read that goes into the sink is one. The kernel issues them in
 * order: the first one waits for a frame (its poll armed by the kernel)
 * when the TAP is empty; the others carry RWF_NOWAIT and take the frames
 * that are there, or complete with -EAGAIN at once. So only one request
 * ever waits on the TAP (no thundering herd of armed reads), and CQEs
 * come in frame order. A chain a read did not fill (-EAGAIN) is kept as
 * a spare and goes first in the next round, which starts when the
 * round's last CQE is in, in the same handler (the reads of a full TAP
 * complete inside the submit) for up to NET_BATCH frames. (Hard-linked
 * reads would wait for each other, but a cancel does not stop the rest
 * of a hard link: each one would run after it, from the kernel's
 * fallback work once the worker is gone.) Frames that need more than
 * one guest chain (mergeable buffers smaller than the largest
 * frame), a frame parked in the scratch buffer, and chains with IOV_MAX
 * iovecs go through the syscall path (net_rx_process()), woken by a
 * one-shot IORING_OP_POLL_ADD, only while no read is in flight: frames
 * never overtake each other.
 *
 * The trap: an in-flight request holds a reference to the TAP file, and
 * so does the fixed file table. Closing the TAP fd, or the ring fd (whose
 * teardown is asynchronous), drops neither at once: the next TUNSETIFF
 * on a single-queue TAP fails with EBUSY. So the worker, as it stops
 * (vdev_worker_set_exit()), cancels every request (IORING_ASYNC_CANCEL_ALL
 * on the fixed file) and reaps every completion on its own thread, where
 * a cancelled read completes at once; then net_uring_stop(), called by
 * the device's reset after the join, does the same for anything left
 * (a worker that never ran), unregisters the fixed file, and only then
 * closes the ring. An RX queue reset cancels and reaps its reads before
 * the rings are unmapped.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <sys/uio.h>

/*
 * glibc's RWF_NOWAIT, a plain int, taken before <linux/fs.h> (through
 * liburing) redefines it with a cast to its __bitwise __kernel_rwf_t
 * that sparse rejects.
 */
enum { NET_UR_RWF_NOWAIT = RWF_NOWAIT };

#include <liburing.h>

#include <vdev/log.h>
#include <vdev/worker.h>

#include "eventfd_priv.h"
#include "net_priv.h"

#define NET_UR_RX_SLOTS		32	/* readv SQEs in one RX round */
#define NET_UR_TX_SLOTS		64	/* writes in flight, at most */
#define NET_UR_ENTRIES		128	/* SQ entries: both, poll, cancel */
#define NET_UR_STOP_MS		2000	/* for every CQE to come back */

/* user_data: kind in the top byte, slot below. */
enum net_ur_kind {
	NET_UR_RX = 1,
	NET_UR_TX,
	NET_UR_POLL,
	NET_UR_CANCEL,
};

#define NET_UR_DATA(kind, slot)	((uint64_t)(kind) << 56 | (slot))
#define NET_UR_KIND(data)	((unsigned int)((data) >> 56))
#define NET_UR_SLOT(data)	((unsigned int)((data) & 0xffffffu))

enum net_ur_rx_state {
	NET_UR_RX_FREE,		/* no chain */
	NET_UR_RX_SPARE,	/* a popped chain, not in flight */
	NET_UR_RX_POSTED,	/* its readv is in flight */
};

/**
 * struct net_ur_slot - one chain the ring works on
 * @c: the chain
 * @seq: RX: pop order, for the give-back at a queue reset
 * @state: RX: enum net_ur_rx_state
 * @plain: RX: read without the sink (a full read is an oversized frame)
 */
struct net_ur_slot {
	struct vdev_chain c;
	uint64_t seq;
	unsigned int state;
	bool plain;
};

/**
 * struct net_uring - a queue pair's ring
 * @ring: the ring; the pair's TAP fd is its fixed file 0
 * @inflight: requests submitted and not yet reaped, of every kind
 * @rx: RX slots
 * @rx_iov: their iovecs, NET_MAX_IOV + 1 each (room for the sink)
 * @rx_posted: RX reads in flight (the current round)
 * @poll_armed: a POLL_ADD for the syscall path is in flight
 * @pop_seq: RX chains popped so far
 * @pushed_seq: one past the highest @seq pushed
 * @rx_frames: frames delivered since the last RX notify
 * @sink: where the bytes of a frame larger than its chain go
 * @tx: TX slots
 * @tx_iov: their iovecs, NET_MAX_IOV each
 * @tx_free: free TX slot numbers, a stack
 * @tx_nr_free: entries in @tx_free
 * @tx_blocked: every TX slot was in flight with chains left in the ring
 * @stopping: reaping for a stop or a queue reset: no worker, no TAP
 *            error handling, and (for a stop) no queue to push to
 */
struct net_uring {
	struct io_uring ring;
	unsigned int inflight;

	struct net_ur_slot rx[NET_UR_RX_SLOTS];
	struct iovec *rx_iov;
	unsigned int rx_posted;
	bool poll_armed;
	uint64_t pop_seq;
	uint64_t pushed_seq;
	unsigned int rx_frames;
	uint8_t *sink;

	struct net_ur_slot tx[NET_UR_TX_SLOTS];
	struct iovec *tx_iov;
	unsigned int tx_free[NET_UR_TX_SLOTS];
	unsigned int tx_nr_free;
	bool tx_blocked;

	bool stopping;
};

/*
 * net_uring_probe() - whether this process may use io_uring for a TAP.
 *
 * Makes a small ring and checks the opcodes the datapath uses. Private
 * to lib/ (lib/net_priv.h).
 *
 * Return: 0, or why not: the -errno of io_uring_queue_init() (-ENOSYS
 * without io_uring, -EPERM when kernel.io_uring_disabled or seccomp
 * refuses it, -ENOMEM), or -EOPNOTSUPP when an opcode is missing (an
 * old kernel).
 */
int net_uring_probe(void)
{
	static const int ops[] = {
		IORING_OP_READ, IORING_OP_READV, IORING_OP_WRITEV,
		IORING_OP_WRITE,
		IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL,
	};
	struct io_uring_probe *probe;
	struct io_uring ring;
	unsigned int i;
	int ret;

	ret = io_uring_queue_init(4, &ring, 0);
	if (ret < 0)
		return ret;
	probe = io_uring_get_probe_ring(&ring);
	if (!probe) {
		ret = -EOPNOTSUPP;
		goto out_exit;
	}
	for (i = 0; i < ARRAY_SIZE(ops); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			ret = -EOPNOTSUPP;
	io_uring_free_probe(probe);
out_exit:
	io_uring_queue_exit(&ring);
	return ret;
}

static struct io_uring_sqe *ur_sqe(struct net_uring *ur)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ur->ring);

	if (!sqe) {
		/* Full (cannot happen with NET_UR_ENTRIES): flush it. */
		io_uring_submit(&ur->ring);
		sqe = io_uring_get_sqe(&ur->ring);
	}
	return sqe;
}

static void ur_submit(struct net_pair *p)
{
	int ret = io_uring_submit(&p->ur->ring);

	if (ret < 0 && vdev_ratelimit_ok(&p->net->dev.rl))
		vdev_log(VDEV_LOG_ERR, "%s: queue pair %u: io_uring_submit: %s",
			 p->net->dev.name, p->index, strerror(-ret));
}

/* ---- RX ---- */

/* The chain of RX slot @s is not used: it waits for the next round. */
static void ur_rx_spare(struct net_ur_slot *s)
{
	s->state = NET_UR_RX_SPARE;
}

static void ur_rx_cqe(struct vdev_worker *w, struct net_pair *p,
		      unsigned int slot, int res)
{
	struct net_uring *ur = p->ur;
	struct net_ur_slot *s;
	struct vdev_net *n = p->net;

	if (slot >= NET_UR_RX_SLOTS || ur->rx[slot].state != NET_UR_RX_POSTED)
		return;
	s = &ur->rx[slot];
	ur->rx_posted--;
	if (res == -EAGAIN || res == -ECANCELED) {
		ur_rx_spare(s);
		return;
	}
	if (res < 0) {
		if (ur->stopping ||
		    !net_pair_tap_error(w, p, -res, "read")) {
			stat_add(p, NET_RX_DROPS, 1);
			stat_add(p, NET_RX_ERRORS, 1);
		}
		ur_rx_spare(s);
		return;
	}
	if (unlikely((size_t)res < n->hdr_len)) {
		/* tun always writes the header: not a frame. */
		stat_add(p, NET_RX_ERRORS, 1);
		ur_rx_spare(s);
		return;
	}
	if (unlikely((uint32_t)res > s->c.write_len ||
		     (s->plain && (uint32_t)res == s->c.write_len))) {
		/* Into the sink, or a plain read cut to the chain. */
		stat_add(p, NET_RX_DROPS, 1);
		ur_rx_spare(s);
		return;
	}
	if (n->hdr_len == NET_HDR_LEN)
		net_rx_set_num_buffers(&s->c, 1);
	vdev_queue_push_chain(p->rxq, &s->c, res);
	if (s->seq + 1 > ur->pushed_seq)
		ur->pushed_seq = s->seq + 1;
	s->state = NET_UR_RX_FREE;
	stat_add(p, NET_RX_FRAMES, 1);
	stat_add(p, NET_RX_BYTES, res - n->hdr_len);
	if (++ur->rx_frames >= NET_RX_SIGNAL_EVERY) {
		vdev_queue_notify(p->rxq);
		ur->rx_frames = 0;
	}
}

/* The syscall path will read: wake us when the TAP has a frame. */
static void ur_arm_poll(struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	struct io_uring_sqe *sqe;

	if (ur->poll_armed)
		return;
	sqe = ur_sqe(ur);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, 0, POLLIN);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, NET_UR_DATA(NET_UR_POLL, 0));
	ur->poll_armed = true;
	ur->inflight++;
	ur_submit(p);
}

/*
 * A chain popped after every chain the ring holds was pushed (outside
 * the rounds): none of those may be rewound any more (ur_rx_give_back()).
 */
static void ur_rx_pushed_after_all(struct net_uring *ur)
{
	ur->pushed_seq = ++ur->pop_seq;
}

/*
 * Pop a chain for RX slot @s: 1 when it can take any frame whole, 0 when
 * the ring is empty (*@sync clear) or the chain is for the syscall path
 * (given back, *@sync set), -errno when the queue broke.
 */
static int ur_rx_pop(struct net_pair *p, struct net_ur_slot *s,
		     struct iovec *iov, bool *sync)
{
	struct vdev_net *n = p->net;
	int ret;

	for (;;) {
		vdev_chain_init(&s->c, iov, NET_MAX_IOV);
		ret = vdev_queue_pop(p->rxq, &s->c);
		if (ret <= 0)
			return ret;
		if (unlikely(s->c.nr_read || s->c.write_len < n->hdr_len)) {
			/* Unusable: return it empty and count it. */
			stat_add(p, NET_RX_ERRORS, 1);
			vdev_queue_push_chain(p->rxq, &s->c, 0);
			ur_rx_pushed_after_all(p->ur);
			continue;
		}
		if (s->c.write_len < n->rx_cap ||
		    s->c.nr_write >= NET_MAX_IOV) {
			vdev_queue_rewind(p->rxq, &s->c);
			*sync = true;
			return 0;
		}
		s->seq = p->ur->pop_seq++;
		return 1;
	}
}

/*
 * Start the next RX round: spares first, then chains popped now, each
 * one readv, hard-linked. Nothing may be in flight for RX. When no chain
 * fits, the syscall path reads, or the worker waits for buffers.
 */
static int ur_rx_post(struct vdev_worker *w, struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	struct vdev_net *n = p->net;
	unsigned int round[NET_UR_RX_SLOTS];
	unsigned int i, k;
	bool sync;
	int ret;

again:
	if (p->rx_wait || p->rx_stopped || p->tap_gone || ur->rx_posted ||
	    ur->poll_armed)
		return 0;
	k = 0;
	sync = false;
	if (!p->pend_len) {
		for (i = 0; i < NET_UR_RX_SLOTS; i++)
			if (ur->rx[i].state == NET_UR_RX_SPARE)
				round[k++] = i;
		for (i = 0; i < NET_UR_RX_SLOTS && !sync; i++) {
			if (ur->rx[i].state != NET_UR_RX_FREE)
				continue;
			ret = ur_rx_pop(p, &ur->rx[i],
					ur->rx_iov + i * (NET_MAX_IOV + 1),
					&sync);
			if (ret < 0)
				return ret;
			if (!ret)
				break;
			ur->rx[i].state = NET_UR_RX_SPARE;
			round[k++] = i;
		}
	}
	if (!k) {
		if (!sync && !p->pend_len) {
			/* The ring is empty: sleep until an RX kick. */
			if (net_rx_wait_for_buffers(w, p))
				return 0;
			goto again;
		}
		/* It pops and pushes past the spares a frame parked. */
		ur_rx_pushed_after_all(ur);
		ret = net_rx_process(w, p);
		if (ret < 0)
			return ret;
		if (!p->rx_wait && !p->tap_gone)
			ur_arm_poll(p);
		return 0;
	}
	for (i = 0; i < k; i++) {
		struct net_ur_slot *s = &ur->rx[round[i]];
		struct iovec *iov = s->c.iov;
		struct io_uring_sqe *sqe = ur_sqe(ur);

		if (!sqe)
			break;
		/*
		 * A plain read imports no iovec: the usual chain, one
		 * buffer larger than any frame the device takes.
		 */
		s->plain = s->c.nr_write == 1 && s->c.write_len > n->rx_cap;
		if (s->plain) {
			io_uring_prep_read(sqe, 0, iov[0].iov_base,
					   iov[0].iov_len, 0);
		} else {
			iov[s->c.nr_write].iov_base = ur->sink;
			iov[s->c.nr_write].iov_len = NET_SCRATCH_LEN;
			io_uring_prep_readv(sqe, 0, iov, s->c.nr_write + 1,
					    0);
		}
		sqe->flags |= IOSQE_FIXED_FILE;
		/* The first waits for a frame, the others take what is there. */
		if (i)
			sqe->rw_flags = (__force __kernel_rwf_t)
					NET_UR_RWF_NOWAIT;
		io_uring_sqe_set_data64(sqe, NET_UR_DATA(NET_UR_RX, round[i]));
		s->state = NET_UR_RX_POSTED;
		ur->rx_posted++;
		ur->inflight++;
	}
	ur_submit(p);
	return 0;
}

/* ---- TX ---- */

static void ur_tx_cqe(struct vdev_worker *w, struct net_pair *p,
		      unsigned int slot, int res)
{
	struct net_uring *ur = p->ur;
	struct vdev_net *n = p->net;

	if (slot >= NET_UR_TX_SLOTS)
		return;
	ur->tx_free[ur->tx_nr_free++] = slot;
	if (res >= 0) {
		stat_add(p, NET_TX_FRAMES, 1);
		stat_add(p, NET_TX_BYTES, res - n->hdr_len);
	} else {
		stat_add(p, NET_TX_DROPS, 1);
		stat_add(p, NET_TX_ERRORS, 1);
		if (!ur->stopping && res != -ECANCELED)
			net_pair_tap_error(w, p, -res, "write");
	}
	vdev_queue_push_chain(p->txq, &ur->tx[slot].c, 0);
}

/* Process every CQE there is; returns how many. */
static unsigned int ur_reap(struct vdev_worker *w, struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	struct io_uring_cqe *cqe;
	unsigned int head, nr = 0;

	io_uring_for_each_cqe(&ur->ring, head, cqe) {
		uint64_t data = io_uring_cqe_get_data64(cqe);

		nr++;
		switch (NET_UR_KIND(data)) {
		case NET_UR_RX:
			ur_rx_cqe(w, p, NET_UR_SLOT(data), cqe->res);
			break;
		case NET_UR_TX:
			ur_tx_cqe(w, p, NET_UR_SLOT(data), cqe->res);
			break;
		case NET_UR_POLL:
			ur->poll_armed = false;
			break;
		default:
			break;
		}
	}
	io_uring_cq_advance(&ur->ring, nr);
	ur->inflight -= nr < ur->inflight ? nr : ur->inflight;
	return nr;
}

/*
 * Send chains until the ring is empty, every slot is in flight, or the
 * budget is spent; one submit per batch of pops.
 */
static int ur_tx_process(struct vdev_worker *w, struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	struct vdev_queue *vq = p->txq;
	unsigned int budget = 4 * NET_BATCH;
	int ret = 0;

	if (p->tx_stopped)
		return 0;
	ur->tx_blocked = false;
	for (;;) {
		unsigned int queued = 0;
		bool empty = false;

		vdev_queue_disable_notify(vq);
		while (budget && ur->tx_nr_free) {
			unsigned int slot = ur->tx_free[ur->tx_nr_free - 1];
			struct vdev_chain *c = &ur->tx[slot].c;
			struct io_uring_sqe *sqe;

			vdev_chain_init(c, ur->tx_iov + slot * NET_MAX_IOV,
					NET_MAX_IOV);
			ret = vdev_queue_pop(vq, c);
			if (ret <= 0) {
				empty = !ret;
				break;
			}
			budget--;
			ret = net_tx_check(p, c);
			if (unlikely(ret < 0))
				break;
			if (unlikely(!ret))
				continue;
			sqe = ur_sqe(ur);
			if (!sqe) {
				/* The ring refuses SQEs: retry on our kick. */
				vdev_queue_rewind(vq, c);
				budget = 0;
				break;
			}
			if (c->nr_read == 1)
				io_uring_prep_write(sqe, 0, c->iov[0].iov_base,
						    c->iov[0].iov_len, 0);
			else
				io_uring_prep_writev(sqe, 0, c->iov,
						     c->nr_read, 0);
			sqe->flags |= IOSQE_FIXED_FILE;
			io_uring_sqe_set_data64(sqe,
						NET_UR_DATA(NET_UR_TX, slot));
			ur->tx_nr_free--;
			ur->inflight++;
			queued++;
		}
		if (queued) {
			ur_submit(p);
			ur_reap(w, p);
		}
		vdev_queue_notify(vq);
		if (ret < 0)
			return ret;
		if (empty) {
			if (!vdev_queue_enable_notify(vq))
				return 0;
			continue;
		}
		if (!ur->tx_nr_free) {
			/* The TAP pushed back: go on from the ring fd. */
			ur->tx_blocked = true;
			return 0;
		}
		if (!budget) {
			/* Let RX run; come back through our own kick. */
			int err = eventfd_kick(vq->kick_fd);

			if (err)
				vdev_log(VDEV_LOG_DEBUG, "%s: tx self-kick: %d",
					 p->net->dev.name, err);
			return 0;
		}
	}
}

/* ---- the worker's handlers ---- */

/*
 * After a reap, wherever it ran (the TX handler reaps RX completions
 * too): signal the frames delivered, and start the next RX round once
 * the last one is done.
 */
static void ur_rx_resume(struct vdev_worker *w, struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	int ret;

	if (!p->rxq)
		return;
	if (!ur->rx_posted && !ur->poll_armed) {
		ret = ur_rx_post(w, p);
		if (ret < 0) {
			/* The RX queue is broken: no more reads until reset. */
			p->rx_wait = true;
			vdev_log(VDEV_LOG_DEBUG, "%s: rx queue %u stopped: %d",
				 p->net->dev.name, p->rxq->index, ret);
		}
	}
	if (ur->rx_frames) {
		vdev_queue_notify(p->rxq);
		ur->rx_frames = 0;
	}
}

/*
 * The ring has CQEs: finish them, start what they made room for. An RX
 * round's reads complete inside its submit when the TAP holds frames,
 * so go on with the next round here, without a trip through epoll, for
 * up to NET_BATCH frames.
 */
static int ur_event(struct vdev_worker *w, uint32_t events, void *data)
{
	struct net_pair *p = data;
	struct net_uring *ur = p->ur;
	unsigned int rounds = NET_BATCH / NET_UR_RX_SLOTS;
	int ret;

	do {
		ur_reap(w, p);
		ur_rx_resume(w, p);
		if (ur->tx_blocked && ur->tx_nr_free) {
			ret = ur_tx_process(w, p);
			if (ret < 0)
				ur->tx_blocked = false;	/* the TX queue is dead */
			ur_rx_resume(w, p);
		}
	} while (--rounds && io_uring_cq_ready(&ur->ring));
	return 0;
}

/**
 * net_uring_rx_kick() - the guest added RX buffers while the pair waited
 * @w: the pair's worker
 * @p: the pair, rx_wait just cleared
 *
 * Return: 0, or -errno when the RX queue broke.
 */
int net_uring_rx_kick(struct vdev_worker *w, struct net_pair *p)
{
	int ret = ur_rx_post(w, p);

	if (!ret)
		ur_rx_resume(w, p);
	return ret;
}

/**
 * net_uring_tx_kick() - the guest added TX chains
 * @w: the pair's worker
 * @p: the pair
 *
 * Return: 0, or -errno when the TX queue broke.
 */
int net_uring_tx_kick(struct vdev_worker *w, struct net_pair *p)
{
	int ret = ur_tx_process(w, p);

	ur_rx_resume(w, p);
	return ret;
}

/* ---- set-up, cancel and reap ---- */

/*
 * The ring's memory (1.5 MiB of iovec arrays, mostly never touched, and
 * the sink) is made at the pair's first io_uring activation and kept
 * until the device goes (net_uring_free()): an activation after a reset
 * makes only the ring. Returns the pair's struct, its state zeroed.
 */
static struct net_uring *ur_get(struct net_pair *p)
{
	struct net_uring *ur = p->ur_cache;
	struct iovec *rx_iov, *tx_iov;
	uint8_t *sink;

	if (!ur) {
		ur = calloc(1, sizeof(*ur));
		if (!ur)
			return NULL;
		ur->rx_iov = calloc(NET_UR_RX_SLOTS * (NET_MAX_IOV + 1),
				    sizeof(*ur->rx_iov));
		ur->tx_iov = calloc(NET_UR_TX_SLOTS * NET_MAX_IOV,
				    sizeof(*ur->tx_iov));
		ur->sink = malloc(NET_SCRATCH_LEN);
		p->ur_cache = ur;
		if (!ur->rx_iov || !ur->tx_iov || !ur->sink) {
			net_uring_free(p);
			return NULL;
		}
	}
	rx_iov = ur->rx_iov;
	tx_iov = ur->tx_iov;
	sink = ur->sink;
	memset(ur, 0, sizeof(*ur));
	ur->rx_iov = rx_iov;
	ur->tx_iov = tx_iov;
	ur->sink = sink;
	return ur;
}

/**
 * net_uring_free() - free what the pair's io_uring activations kept
 * @p: the pair, its ring stopped (net_uring_stop())
 */
void net_uring_free(struct net_pair *p)
{
	struct net_uring *ur = p->ur_cache;

	if (!ur)
		return;
	free(ur->rx_iov);
	free(ur->tx_iov);
	free(ur->sink);
	free(ur);
	p->ur_cache = NULL;
}

static void ur_worker_exit(struct vdev_worker *w, void *data);

/**
 * net_uring_start() - give pair @p a ring, watched by its worker @w
 * @p: the pair, being activated; its TAP fd is valid
 * @w: its worker, not started
 *
 * Return: 0, -ENOMEM, or -errno from io_uring (setup, file registration)
 * or the worker.
 */
int net_uring_start(struct net_pair *p, struct vdev_worker *w)
{
	struct net_uring *ur;
	unsigned int i;
	int ret;

	ur = ur_get(p);
	if (!ur) {
		ret = -ENOMEM;
		goto out_log;
	}
	for (i = 0; i < NET_UR_TX_SLOTS; i++)
		ur->tx_free[i] = NET_UR_TX_SLOTS - 1 - i;
	ur->tx_nr_free = NET_UR_TX_SLOTS;

	ret = io_uring_queue_init(NET_UR_ENTRIES, &ur->ring, 0);
	if (ret < 0)
		goto out_log;
	ret = io_uring_register_files(&ur->ring, &p->tap_fd, 1);
	if (ret < 0)
		goto out_exit;
	ret = vdev_worker_add_fd(w, ur->ring.ring_fd, EPOLLIN, ur_event, p);
	if (ret)
		goto out_unregister;
	vdev_worker_set_exit(w, ur_worker_exit, p);
	p->ur = ur;
	/* Nothing is posted until the worker runs: it starts with a kick. */
	p->rx_wait = true;
	eventfd_kick(p->rxq->kick_fd);
	return 0;

out_unregister:
	io_uring_unregister_files(&ur->ring);
out_exit:
	io_uring_queue_exit(&ur->ring);
out_log:
	vdev_log(VDEV_LOG_ERR, "%s: queue pair %u: io_uring set-up: %s",
		 p->net->dev.name, p->index, strerror(-ret));
	return ret;
}

static uint64_t ur_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * Reap until @busy says nothing we wait for is in flight, or for
 * NET_UR_STOP_MS; false on the time-out. With ur->stopping set.
 */
static bool ur_reap_all(struct net_pair *p, bool (*busy)(struct net_uring *))
{
	struct net_uring *ur = p->ur;
	uint64_t end = ur_now_ms() + NET_UR_STOP_MS;
	struct __kernel_timespec ts = { .tv_nsec = 10 * 1000000 };
	struct io_uring_cqe *cqe;

	while (busy(ur)) {
		ur_reap(NULL, p);
		if (!busy(ur))
			break;
		if (ur_now_ms() > end)
			return false;
		io_uring_wait_cqe_timeout(&ur->ring, &cqe, &ts);
	}
	return true;
}

static bool ur_busy_all(struct net_uring *ur)
{
	return ur->inflight;
}

static bool ur_busy_rx(struct net_uring *ur)
{
	return ur->rx_posted || ur->poll_armed;
}

static bool ur_busy_tx(struct net_uring *ur)
{
	return ur->tx_nr_free < NET_UR_TX_SLOTS;
}

/* Queue a cancel of the requests @data names (every one of them). */
static void ur_cancel(struct net_uring *ur, uint64_t data)
{
	struct io_uring_sqe *sqe = ur_sqe(ur);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, data, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, NET_UR_DATA(NET_UR_CANCEL, 0));
	ur->inflight++;
}

#ifdef VDEV_FAULT_INJECTION
/*
 * Test-only (VARIANT=fault): VDEV_FAULT=skip-uring-cancel closes the ring
 * with its requests in flight and the TAP fd still registered, as a
 * datapath that trusts close() would: the TAP stays attached until the
 * kernel's asynchronous ring teardown ends.
 */
static bool ur_fault_skip_cancel(void)
{
	const char *f = getenv("VDEV_FAULT");

	return f && !strcmp(f, "skip-uring-cancel");
}
#else
static inline bool ur_fault_skip_cancel(void)
{
	return false;
}
#endif

/*
 * Cancel every request on the TAP (IORING_ASYNC_CANCEL_ALL on the fixed
 * file: reads, writes, the POLL_ADD) and reap every completion; the
 * chains are dropped, the device is being reset. Nothing to do when
 * nothing is in flight.
 */
static void ur_cancel_all(struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	struct io_uring_sqe *sqe;

	ur->stopping = true;
	if (!ur->inflight)
		return;
	sqe = ur_sqe(ur);
	if (sqe) {
		io_uring_prep_cancel_fd(sqe, 0, IORING_ASYNC_CANCEL_ALL |
					IORING_ASYNC_CANCEL_FD_FIXED);
		io_uring_sqe_set_data64(sqe, NET_UR_DATA(NET_UR_CANCEL, 0));
		ur->inflight++;
	}
	io_uring_submit(&ur->ring);
	if (!ur_reap_all(p, ur_busy_all))
		vdev_log(VDEV_LOG_ERR,
			 "%s: queue pair %u: %u io_uring requests not back after %d ms",
			 p->net->dev.name, p->index, ur->inflight,
			 NET_UR_STOP_MS);
}

/* The pair's worker stops: cancel and reap on its own thread. */
static void ur_worker_exit(struct vdev_worker *w, void *data)
{
	struct net_pair *p = data;

	if (!ur_fault_skip_cancel())
		ur_cancel_all(p);
}

/**
 * net_uring_stop() - cancel, reap, close: pair @p no longer holds the TAP
 * @p: the pair; its worker was joined (or never started)
 *
 * Cancels every request still on the TAP and reaps every completion
 * (the worker did that as it stopped: this is for one that never ran),
 * unregisters the fixed file and only then closes the ring. When it
 * returns nothing of the ring holds the TAP file. Does nothing without a
 * ring.
 */
void net_uring_stop(struct net_pair *p)
{
	struct net_uring *ur = p->ur;

	if (!ur)
		return;
	if (ur_fault_skip_cancel()) {
		vdev_log(VDEV_LOG_WARN,
			 "%s: FAULT skip-uring-cancel: ring %u closed with %u requests in flight",
			 p->net->dev.name, p->index, ur->inflight);
		goto out_exit;
	}
	ur_cancel_all(p);
	io_uring_unregister_files(&ur->ring);
out_exit:
	io_uring_queue_exit(&ur->ring);
	p->ur = NULL;	/* its memory stays in p->ur_cache */
}

/*
 * Give back the RX chains the ring holds, at a queue reset: rewound when
 * they are the tail of what was popped (then the next pop takes them
 * again), else returned empty, as unusable (the driver counts a short
 * frame and recycles the buffer): the position must not lose them.
 */
static void ur_rx_give_back(struct net_pair *p)
{
	struct net_uring *ur = p->ur;
	struct net_ur_slot *first = NULL;
	unsigned int i;

	for (i = 0; i < NET_UR_RX_SLOTS; i++) {
		struct net_ur_slot *s = &ur->rx[i];

		if (s->state == NET_UR_RX_SPARE && (!first || s->seq < first->seq))
			first = s;
	}
	if (!first)
		return;
	if (first->seq >= ur->pushed_seq) {
		vdev_queue_rewind(p->rxq, &first->c);
	} else {
		for (i = 0; i < NET_UR_RX_SLOTS; i++) {
			if (ur->rx[i].state != NET_UR_RX_SPARE)
				continue;
			stat_add(p, NET_RX_ERRORS, 1);
			vdev_queue_push_chain(p->rxq, &ur->rx[i].c, 0);
		}
	}
	for (i = 0; i < NET_UR_RX_SLOTS; i++)
		ur->rx[i].state = NET_UR_RX_FREE;
}

/**
 * net_uring_queue_reset() - one queue of pair @p stops on its own
 * @p: the pair; every worker is parked
 * @rx: the RX queue (else the TX queue)
 *
 * RX: cancels the round and the poll and reaps them, so that no read
 * writes into the guest's buffers once the rings are unmapped, then gives
 * the chains back. TX: cancels the writes in flight (the TAP pushed
 * back) and returns their chains, counted as dropped.
 */
void net_uring_queue_reset(struct net_pair *p, bool rx)
{
	struct net_uring *ur = p->ur;
	unsigned int i;
	bool free_slot[NET_UR_TX_SLOTS] = { false };

	if (!ur)
		return;
	if (rx) {
		ur_cancel(ur, NET_UR_DATA(NET_UR_POLL, 0));
		for (i = 0; i < NET_UR_RX_SLOTS; i++)
			if (ur->rx[i].state == NET_UR_RX_POSTED)
				ur_cancel(ur, NET_UR_DATA(NET_UR_RX, i));
	} else {
		for (i = 0; i < ur->tx_nr_free; i++)
			free_slot[ur->tx_free[i]] = true;
		for (i = 0; i < NET_UR_TX_SLOTS; i++)
			if (!free_slot[i])
				ur_cancel(ur, NET_UR_DATA(NET_UR_TX, i));
	}
	io_uring_submit(&ur->ring);
	ur->stopping = true;
	if (!ur_reap_all(p, rx ? ur_busy_rx : ur_busy_tx))
		vdev_log(VDEV_LOG_ERR,
			 "%s: queue pair %u: io_uring requests not back after %d ms",
			 p->net->dev.name, p->index, NET_UR_STOP_MS);
	ur->stopping = false;
	if (rx) {
		ur_rx_give_back(p);
		ur->rx_frames = 0;
	} else {
		ur->tx_blocked = false;
	}
}
