/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vdev logging: one hook a VMM can replace, and rate limiting so that a
 * hostile guest cannot flood the VMM's log.
 */
#ifndef _VDEV_LOG_H
#define _VDEV_LOG_H

#include <stdarg.h>
#include <stdbool.h>

/*
 * printf-style format checking for vdev's variadic functions (the
 * kernel's __printf, under a name that cannot clash with a VMM's own).
 */
#define __vdev_format __format__
#define __vdev_printf(a, b) __attribute__((__vdev_format(printf, a, b)))

enum vdev_log_level {
	VDEV_LOG_ERR = 3,
	VDEV_LOG_WARN = 4,
	VDEV_LOG_INFO = 6,
	VDEV_LOG_DEBUG = 7,
};

typedef void (*vdev_log_fn)(enum vdev_log_level level, const char *msg);

/* Each function is documented at its definition, in lib/log.c. */
void vdev_log_set_handler(vdev_log_fn fn);

void vdev_log_set_level(enum vdev_log_level level);

void vdev_log(enum vdev_log_level level, const char *fmt, ...) __vdev_printf(2, 3);

/**
 * struct vdev_ratelimit - at most @burst messages every @interval_ms
 * @interval_ms: window length
 * @burst: messages allowed per window
 * @begin_ms: start of the current window (monotonic clock)
 * @printed: messages printed in the current window
 * @missed: messages suppressed since the last report
 *
 * Initialise with VDEV_RATELIMIT_INIT. vdev_ratelimit_ok() may be called
 * on one limiter from several threads at once (a device's workers share
 * one).
 */
struct vdev_ratelimit {
	unsigned int interval_ms;
	unsigned int burst;
	unsigned long long begin_ms;
	unsigned int printed;
	unsigned int missed;
};

#define VDEV_RATELIMIT_INIT(interval, n) \
	{ .interval_ms = (interval), .burst = (n) }

bool vdev_ratelimit_ok(struct vdev_ratelimit *rs);

#endif /* _VDEV_LOG_H */
