// SPDX-License-Identifier: GPL-2.0
/*
 * vdev-vhost-user-net - vdev's virtio-net on a TAP, served to a vhost-user
 * front-end (QEMU's -netdev vhost-user) over a Unix socket.
 *
 *   vdev-vhost-user-net --socket PATH --tap NAME [--queues N] [--client]
 *                       [--reconnect MS] [--mac XX:XX:XX:XX:XX:XX]
 *
 * Server mode (the default) listens on PATH, client mode connects to it
 * (every --reconnect MS, 1000, until it can). Each connection is served
 * with vdev_vhost_user_serve_fd() on a virtio-net device of its own
 * (vdev_net_create() on the TAP NAME): when the front-end goes, orderly
 * or killed, the device is put -- every worker joined, every TAP fd
 * closed -- and made again on the same TAP before the next connection,
 * the TAP reopen rule of Documentation/net.rst, as vdev-vmm does on each
 * guest reboot. A TAP that does not exist is created, kept (persistent)
 * while the program runs and deleted when it exits.
 *
 * SIGINT or SIGTERM stops it: vdev_vhost_user_stop() on the connection
 * being served, then exit status 0.
 *
 * Output on stdout, one line each:
 *   vdev-vhost-user-net: listening on PATH (fds F, threads T)
 *   vdev-vhost-user-net: connecting to PATH (fds F, threads T)
 *   vdev-vhost-user-net: connection N: connected
 *   vdev-vhost-user-net: connection N: frames rx_frames_q0=R tx_frames_q0=T ...
 *   vdev-vhost-user-net: connection N: disconnected (REASON), M messages; fds F, threads T
 *   vdev-vhost-user-net: stopped after N connection(s)
 *   vdev-vhost-user-net: vdev: MSG        (libvdev's messages)
 * F and T are the process's open fds and threads with no device and no
 * connection (before the first device is made, after each connection's
 * device is put): the same every time, else something leaked.
 *
 * Exit status: 0 after SIGINT/SIGTERM; 1 on bad input, with exactly one
 * line on stderr, "vdev-vhost-user-net: <what>: <why>", or when the TAP
 * cannot be opened again after a connection (EBUSY: an fd of the device
 * before still holds it).
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libgen.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <vdev/device.h>
#include <vdev/log.h>
#include <vdev/net.h>
#include <vdev/tap.h>
#include <vdev/vhost_user.h>

#include "tool.h"

#define NAME			"vdev-vhost-user-net"
#define DEFAULT_RECONNECT_MS	1000
/* How long a joined thread may stay listed in /proc/self/task. */

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

static const char usage_text[] =
	"usage: " NAME " --socket PATH --tap NAME [--queues N] [--client]\n"
	"       [--reconnect MS] [--mac XX:XX:XX:XX:XX:XX]\n";

/**
 * struct opts - the command line
 * @socket: the Unix socket's path
 * @tap: the TAP's name
 * @queues: queue pairs
 * @client: connect instead of listen
 * @reconnect_ms: client mode: retry period
 * @mac: the guest's MAC (all zero: vdev picks one)
 */
struct opts {
	const char *socket;
	const char *tap;
	unsigned int queues;
	bool client;
	unsigned int reconnect_ms;
	uint8_t mac[6];
};

/**
 * struct backend - the running back-end
 * @o: its options
 * @dev: the device for the next (or current) connection
 * @vu: the vhost-user back-end of the current connection, or NULL
 * @conn: the current connection's socket, or -1
 * @listen_fd: server mode: the listening socket, else -1
 * @stop_evt: eventfd written when a signal asks to stop
 * @stopping: a signal asked to stop
 * @lock: @vu, @conn and @stopping against the signal thread
 * @tap_created: the TAP did not exist: made persistent here, deleted at
 *               exit
 */
struct backend {
	const struct opts *o;
	struct vdev_device *dev;
	struct vdev_vhost_user *vu;
	int conn;
	int listen_fd;
	int stop_evt;
	atomic_bool stopping;
	pthread_mutex_t lock;
	bool tap_created;
};

/* libvdev's messages: printed, or held while a device is made. */
static struct {
	pthread_mutex_t lock;
	bool hold;
	char held[256];
} vlog = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void log_handler(enum vdev_log_level level, const char *msg)
{
	pthread_mutex_lock(&vlog.lock);
	if (vlog.hold) {
		if (level <= VDEV_LOG_WARN || !vlog.held[0])
			snprintf(vlog.held, sizeof(vlog.held), "%s", msg);
	} else {
		printf(NAME ": vdev: %s\n", msg);
		fflush(stdout);
	}
	pthread_mutex_unlock(&vlog.lock);
}

static void log_hold(bool hold)
{
	pthread_mutex_lock(&vlog.lock);
	vlog.hold = hold;
	if (hold)
		vlog.held[0] = '\0';
	pthread_mutex_unlock(&vlog.lock);
}

/* " (vdev: MSG)" for the message held last, "" if none, into @buf. */
static void log_held(char *buf, size_t size)
{
	pthread_mutex_lock(&vlog.lock);
	if (vlog.held[0])
		snprintf(buf, size, " (vdev: %s)", vlog.held);
	else
		buf[0] = '\0';
	pthread_mutex_unlock(&vlog.lock);
}

static int parse_uint(const char *opt, const char *val, unsigned int min,
		      unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!*val || *end || errno || val[0] == '-' || v < min || v > max) {
		fprintf(stderr, NAME ": %s %s: want a number from %u to %u\n",
			opt, val, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->queues = 1;
	o->reconnect_ms = DEFAULT_RECONNECT_MS;
	for (i = 1; i < argc; i++) {
		char *name = argv[i], *val = NULL, *eq;
		int ret = 0;

		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strncmp(name, "--", 2) || !name[2]) {
			fprintf(stderr, NAME ": %s: unexpected argument (options start with --)\n",
				name);
			return -EINVAL;
		}
		eq = strchr(name, '=');
		if (eq) {
			*eq = '\0';
			val = eq + 1;
		}
		if (!strcmp(name, "--client") && !val) {
			o->client = true;
			continue;
		}
		if (strcmp(name, "--socket") && strcmp(name, "--tap") &&
		    strcmp(name, "--queues") && strcmp(name, "--mac") &&
		    strcmp(name, "--reconnect")) {
			fprintf(stderr, NAME ": %s: unknown option\n", name);
			return -EINVAL;
		}
		if (!val && i + 1 < argc)
			val = argv[++i];
		if (!val) {
			fprintf(stderr, NAME ": %s: missing its value\n", name);
			return -EINVAL;
		}
		if (!strcmp(name, "--socket")) {
			o->socket = val;
		} else if (!strcmp(name, "--tap")) {
			if (!*val || strlen(val) >= IFNAMSIZ) {
				fprintf(stderr, NAME ": --tap %s: bad TAP name (1 to %d characters)\n",
					val, IFNAMSIZ - 1);
				return -EINVAL;
			}
			o->tap = val;
		} else if (!strcmp(name, "--queues")) {
			ret = parse_uint(name, val, 1, VDEV_NET_MAX_QUEUE_PAIRS,
					 &o->queues);
		} else if (!strcmp(name, "--reconnect")) {
			ret = parse_uint(name, val, 1, 3600000,
					 &o->reconnect_ms);
		} else if (tool_parse_mac(val, o->mac)) {
			fprintf(stderr, NAME ": --mac %s: bad MAC (want a unicast XX:XX:XX:XX:XX:XX)\n",
				val);
			return -EINVAL;
		}
		if (ret)
			return ret;
	}
	if (!o->socket) {
		fprintf(stderr, NAME ": --socket: missing (the vhost-user socket's path)\n");
		return -EINVAL;
	}
	if (!o->tap) {
		fprintf(stderr, NAME ": --tap: missing (the TAP to serve)\n");
		return -EINVAL;
	}
	return 0;
}

/* The device for the next connection, on the TAP of @be->o. */
static int device_open(struct backend *be, const char *when)
{
	struct vdev_net_config cfg = {
		.tap_name = be->o->tap,
		.queue_pairs = be->o->queues,
	};
	char why[300];
	int ret;

	memcpy(cfg.mac, be->o->mac, sizeof(cfg.mac));
	log_hold(true);
	ret = vdev_net_create(&cfg, &be->dev);
	log_hold(false);
	if (ret) {
		be->dev = NULL;
		log_held(why, sizeof(why));
		fprintf(stderr, NAME ": --tap %s: %s%s: %s%s\n", be->o->tap,
			when ? "reopen after connection " : "cannot open",
			when ? when : "", strerror(-ret), why);
	}
	return ret;
}

/*
 * A TAP that does not exist yet: made here and made persistent, so that
 * it keeps its link (bridge port, addresses) between connections; its
 * persistence is taken back at exit (tap_forget()).
 */
static int tap_prepare(struct backend *be)
{
	struct vdev_tap_config cfg = {
		.name = be->o->tap,
		.nr_queues = be->o->queues,
	};
	struct vdev_tap *tap;
	char why[300];
	int ret;

	if (if_nametoindex(be->o->tap))
		return 0;
	log_hold(true);
	ret = vdev_tap_open(&cfg, &tap);
	if (!ret) {
		ret = vdev_tap_set_persist(tap, true);
		vdev_tap_close(tap);
	}
	log_hold(false);
	if (ret) {
		log_held(why, sizeof(why));
		fprintf(stderr, NAME ": --tap %s: cannot create the TAP: %s%s\n",
			be->o->tap, strerror(-ret), why);
		return ret;
	}
	be->tap_created = true;
	return 0;
}

static void tap_forget(struct backend *be)
{
	struct vdev_tap_config cfg = {
		.name = be->o->tap,
		.nr_queues = be->o->queues,
	};
	struct vdev_tap *tap;

	if (!be->tap_created)
		return;
	if (vdev_tap_open(&cfg, &tap))
		return;
	vdev_tap_set_persist(tap, false);
	vdev_tap_close(tap);
}

static int socket_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, NAME ": --socket %s: %s (at most %zu characters)\n",
			path, strerror(ENAMETOOLONG), sizeof(sa->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* The socket's directory must exist, in both modes. */
static int socket_dir_check(const char *path)
{
	char *copy = strdup(path), *dir;
	struct stat st;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (stat(dir, &st)) {
		ret = -errno;
		fprintf(stderr, NAME ": --socket %s: %s (the directory %s)\n",
			path, strerror(errno), dir);
	} else if (!S_ISDIR(st.st_mode)) {
		ret = -ENOTDIR;
		fprintf(stderr, NAME ": --socket %s: %s (%s)\n", path,
			strerror(ENOTDIR), dir);
	}
	free(copy);
	return ret;
}

/*
 * Server mode: listen on the path. A socket file nobody listens on (left
 * by a back-end that died) is replaced; a live one or another file is not.
 */
static int socket_listen(struct backend *be)
{
	const char *path = be->o->socket;
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret;

	ret = socket_addr(path, &sa);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		fprintf(stderr, NAME ": --socket %s: socket: %s\n", path,
			strerror(errno));
		return ret;
	}
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, NAME ": --socket %s: %s (and not a socket)\n",
				path, strerror(EEXIST));
			ret = -EEXIST;
			goto out_close;
		}
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			fprintf(stderr, NAME ": --socket %s: %s (another back-end listens there)\n",
				path, strerror(EADDRINUSE));
			ret = -EADDRINUSE;
			goto out_close;
		}
		/* A connect attempt leaves the socket unusable: a new one. */
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || unlink(path)) {
			ret = -errno;
			fprintf(stderr, NAME ": --socket %s: cannot replace the stale socket: %s\n",
				path, strerror(errno));
			goto out_close;
		}
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 1)) {
		ret = -errno;
		fprintf(stderr, NAME ": --socket %s: %s\n", path,
			strerror(errno));
		goto out_close;
	}
	be->listen_fd = fd;
	return 0;

out_close:
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * The next connection: accepted (server) or made (client, retried every
 * reconnect_ms while nobody listens). Returns the socket, or -EINTR when
 * a signal asked to stop, or another -errno.
 */
static int next_connection(struct backend *be)
{
	struct pollfd pfd[2] = {
		{ .fd = be->stop_evt, .events = POLLIN },
		{ .fd = be->listen_fd, .events = POLLIN },
	};
	struct sockaddr_un sa;
	int fd, ret;

	for (;;) {
		ret = poll(pfd, be->o->client ? 1 : 2,
			   be->o->client ? 0 : -1);
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents)
			return -EINTR;
		if (!be->o->client) {
			if (ret <= 0 || !pfd[1].revents)
				continue;
			fd = accept4(be->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				return fd;
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EAGAIN)
				continue;
			return -errno;
		}
		socket_addr(be->o->socket, &sa);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		ret = -errno;
		close(fd);
		if (ret != -ENOENT && ret != -ECONNREFUSED)
			return ret;
		/* Nobody listens yet: wait, or stop. */
		ret = poll(pfd, 1, be->o->reconnect_ms);
		if (ret > 0)
			return -EINTR;
	}
}

static const char *reason(struct backend *be, int ret, char *buf,
			  size_t size)
{
	if (be->stopping)
		snprintf(buf, size, "stopped by a signal");
	else if (!ret)
		snprintf(buf, size, "the front-end closed the connection");
	else
		snprintf(buf, size, "%s", strerror(-ret));
	return buf;
}

/*
 * The frames the device moved on each queue pair during connection @n:
 * "rx" went to the guest, "tx" came from it (vdev_device_counters()).
 */
static void print_frames(struct vdev_device *dev, unsigned int n)
{
	struct vdev_counter c[64];
	unsigned int nr, i;

	nr = vdev_device_counters(dev, c, ARRAY_SIZE(c));
	printf(NAME ": connection %u: frames", n);
	for (i = 0; i < nr; i++)
		if (!strncmp(c[i].name, "rx_frames_", 10) ||
		    !strncmp(c[i].name, "tx_frames_", 10))
			printf(" %s=%llu", c[i].name,
			       (unsigned long long)c[i].value);
	printf("\n");
}

/*
 * Serve connection @n on socket @fd, then put its device and make the
 * next one; *@served gets vdev_vhost_user_serve_fd()'s value. Returns 0
 * to go on, 1 to stop, or -errno.
 */
static int serve(struct backend *be, unsigned int n, int fd, int thr0,
		 int *served)
{
	struct vdev_vhost_user_config cfg = { 0 };
	struct vdev_vhost_user_stats st = { 0 };
	struct vdev_vhost_user *vu;
	char why[256], when[16];
	int ret, err, fds, thr;

	*served = 0;
	ret = vdev_vhost_user_create(be->dev, &cfg, &vu);
	if (ret) {
		fprintf(stderr, NAME ": connection %u: vhost-user back-end: %s\n",
			n, strerror(-ret));
		close(fd);
		return ret;
	}
	pthread_mutex_lock(&be->lock);
	be->vu = vu;
	be->conn = fd;
	if (be->stopping)
		vdev_vhost_user_stop(vu);
	pthread_mutex_unlock(&be->lock);
	printf(NAME ": connection %u: connected\n", n);
	fflush(stdout);

	ret = vdev_vhost_user_serve_fd(vu, fd);
	*served = ret;

	pthread_mutex_lock(&be->lock);
	be->vu = NULL;
	be->conn = -1;
	pthread_mutex_unlock(&be->lock);
	vdev_vhost_user_get_stats(vu, &st);
	print_frames(be->dev, n);
	close(fd);
	vdev_vhost_user_destroy(vu);
	/* The last put: every worker joined, every TAP fd closed. */
	vdev_device_put(be->dev);
	be->dev = NULL;
	/* No device, no connection: as when the program started. */
	fds = tool_count_fds();
	thr = tool_count_threads(thr0);
	snprintf(when, sizeof(when), "%u", n);
	err = be->stopping ? 0 : device_open(be, when);
	printf(NAME ": connection %u: disconnected (%s), %llu messages; fds %d, threads %d\n",
	       n, reason(be, ret, why, sizeof(why)),
	       (unsigned long long)st.messages, fds, thr);
	fflush(stdout);
	if (err)
		return err;
	return be->stopping;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGINT and SIGTERM, taken by sigwait() here and nowhere else. */
static void *signal_thread(void *arg)
{
	struct backend *be = arg;
	uint64_t one = 1;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		/* SIGUSR1: main() is done. */
		if (sig == SIGUSR1)
			return NULL;
		pthread_mutex_lock(&be->lock);
		be->stopping = true;
		if (write(be->stop_evt, &one, sizeof(one)) != sizeof(one))
			perror(NAME ": eventfd write");
		if (be->vu)
			vdev_vhost_user_stop(be->vu);
		/* Whatever the back-end waits for, the socket ends now. */
		if (be->conn >= 0)
			shutdown(be->conn, SHUT_RDWR);
		pthread_mutex_unlock(&be->lock);
	}
}

int main(int argc, char **argv)
{
	struct backend be = {
		.conn = -1,
		.listen_fd = -1,
		.lock = PTHREAD_MUTEX_INITIALIZER,
	};
	unsigned int n = 0;
	pthread_t sig_thr;
	int ret, fds, thr, served;
	uint64_t t0;
	struct opts o;
	sigset_t set;

	vdev_log_set_handler(log_handler);
	if (parse_args(argc, argv, &o))
		return 1;
	/*
	 * A write to a socket or pipe the front-end closed is an error
	 * (EPIPE) to handle, never a signal that ends the back-end.
	 */
	signal(SIGPIPE, SIG_IGN);
	be.o = &o;

	/* Every thread made from here on leaves the signals to sig_thr. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	ret = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (ret) {
		fprintf(stderr, NAME ": pthread_sigmask: %s\n", strerror(ret));
		return 1;
	}
	be.stop_evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (be.stop_evt < 0) {
		fprintf(stderr, NAME ": eventfd: %s\n", strerror(errno));
		return 1;
	}
	ret = pthread_create(&sig_thr, NULL, signal_thread, &be);
	if (ret) {
		fprintf(stderr, NAME ": signal thread: %s\n", strerror(ret));
		close(be.stop_evt);
		return 1;
	}

	ret = socket_dir_check(o.socket);
	if (!ret && !o.client)
		ret = socket_listen(&be);
	if (!ret)
		ret = tap_prepare(&be);
	/* What a connection must leave behind when its device is put. */
	fds = tool_count_fds();
	thr = tool_count_threads(INT_MAX);
	if (!ret)
		ret = device_open(&be, NULL);
	if (ret)
		goto out_stop;

	printf(NAME ": %s %s (fds %d, threads %d)\n",
	       o.client ? "connecting to" : "listening on", o.socket, fds,
	       thr);
	fflush(stdout);
	for (;;) {
		int fd = next_connection(&be);

		if (fd == -EINTR) {
			ret = 0;
			break;
		}
		if (fd < 0) {
			ret = fd;
			fprintf(stderr, NAME ": --socket %s: %s: %s\n", o.socket,
				o.client ? "connect" : "accept",
				strerror(-fd));
			break;
		}
		t0 = now_ms();
		ret = serve(&be, ++n, fd, thr, &served);
		if (ret) {
			ret = ret < 0 ? ret : 0;
			break;
		}
		/*
		 * Client mode: a front-end that accepts and closes at once,
		 * or breaks the protocol, is retried after --reconnect MS,
		 * not in a busy loop.
		 */
		if (o.client && (served < 0 || now_ms() - t0 < 1000)) {
			struct pollfd pfd = { .fd = be.stop_evt,
					      .events = POLLIN };

			if (poll(&pfd, 1, o.reconnect_ms) > 0)
				break;
		}
	}
	if (!ret)
		printf(NAME ": stopped after %u connection(s)\n", n);

out_stop:
	if (be.dev)
		vdev_device_put(be.dev);
	tap_forget(&be);
	if (be.listen_fd >= 0) {
		close(be.listen_fd);
		unlink(o.socket);
	}
	pthread_kill(sig_thr, SIGUSR1);
	pthread_join(sig_thr, NULL);
	close(be.stop_evt);
	return ret ? 1 : 0;
}
