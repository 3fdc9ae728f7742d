// SPDX-License-Identifier: GPL-2.0
/*
 * vdev logging and rate limiting.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <vdev/log.h>

static _Atomic(vdev_log_fn) log_handler;
static atomic_int log_level = VDEV_LOG_WARN;

/**
 * vdev_log_set_handler() - route vdev's messages to the VMM
 * @fn: called with each formatted message; NULL restores the default,
 *      which writes "vdev: <msg>" to stderr.
 *
 * The handler may be called from any thread, including device workers.
 * Messages are formatted into a 512-byte buffer: longer ones are cut.
 */
void vdev_log_set_handler(vdev_log_fn fn)
{
	atomic_store(&log_handler, fn);
}

/**
 * vdev_log_set_level() - drop messages less severe than @level
 * @level: the least severe level still printed (default VDEV_LOG_WARN).
 */
void vdev_log_set_level(enum vdev_log_level level)
{
	atomic_store(&log_level, level);
}

/**
 * vdev_log() - emit one message
 * @level: severity; messages less severe than vdev_log_set_level()'s are
 *         dropped
 * @fmt: printf format
 * @...: arguments for @fmt
 *
 * Context: any thread.
 */
void vdev_log(enum vdev_log_level level, const char *fmt, ...)
{
	vdev_log_fn fn = atomic_load(&log_handler);
	char msg[512];
	va_list ap;

	if ((int)level > atomic_load(&log_level))
		return;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (fn)
		fn(level, msg);
	else
		fprintf(stderr, "vdev: %s\n", msg);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One lock for every limiter: they are consulted only on error paths, and
 * a device's limiter is shared by all of its workers. A spinlock, held for
 * a few instructions (glibc's PTHREAD_MUTEX_INITIALIZER upsets sparse).
 */
static atomic_bool ratelimit_lock;

static void ratelimit_lock_take(void)
{
	while (atomic_exchange_explicit(&ratelimit_lock, true,
					memory_order_acquire))
		;
}

static void ratelimit_lock_drop(void)
{
	atomic_store_explicit(&ratelimit_lock, false, memory_order_release);
}

/**
 * vdev_ratelimit_ok() - may a rate-limited message be printed now?
 * @rs: the limiter
 *
 * When a new window starts, logs how many messages the last one
 * suppressed.
 *
 * Context: any thread; one lock, held for a few instructions, serialises
 * every limiter.
 *
 * Return: true when the message should be printed.
 */
bool vdev_ratelimit_ok(struct vdev_ratelimit *rs)
{
	unsigned long long now = now_ms();
	unsigned int missed = 0;
	bool ok;

	ratelimit_lock_take();
	if (!rs->begin_ms || now - rs->begin_ms >= rs->interval_ms) {
		missed = rs->missed;
		rs->begin_ms = now;
		rs->printed = 0;
		rs->missed = 0;
	}
	ok = rs->printed < rs->burst;
	if (ok)
		rs->printed++;
	else
		rs->missed++;
	ratelimit_lock_drop();

	if (missed)
		vdev_log(VDEV_LOG_WARN, "%u messages suppressed", missed);
	return ok;
}
