/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private: refcount_t in kernel idiom over C11 atomics, with the kernel's
 * saturation semantics (include/linux/refcount.h). The count is read as
 * a signed int: an increment that would go past INT_MAX, any operation on
 * a negative (saturated) count, an increment from zero and a decrement
 * from zero (both a use after free) set the count to REFCOUNT_SATURATED
 * instead. From there it stays saturated: it never wraps and never comes
 * down to zero, so the object is leaked rather than freed under a user.
 * Each saturation is logged, rate-limited.
 */
#ifndef _VDEV_LIB_REFCOUNT_H
#define _VDEV_LIB_REFCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <limits.h>

#include <vdev/log.h>

/* INT_MIN / 2, as in the kernel: far from both zero and wrapping. */
#define REFCOUNT_SATURATED	0xc0000000u

static inline void refcount_set(atomic_uint *r, unsigned int n)
{
	atomic_store_explicit(r, n, memory_order_relaxed);
}

static inline void refcount_saturate(atomic_uint *r, const char *why)
{
	static struct vdev_ratelimit rl = VDEV_RATELIMIT_INIT(5000, 1);

	atomic_store_explicit(r, REFCOUNT_SATURATED, memory_order_relaxed);
	if (vdev_ratelimit_ok(&rl))
		vdev_log(VDEV_LOG_ERR, "refcount: %s; saturated, object leaked",
			 why);
}

static inline void refcount_inc(atomic_uint *r)
{
	unsigned int old = atomic_fetch_add_explicit(r, 1, memory_order_relaxed);

	if (__builtin_expect(!old, 0))
		refcount_saturate(r, "increment on 0 (use after free)");
	else if (__builtin_expect((int)old < 0 || (int)(old + 1) < 0, 0))
		refcount_saturate(r, "increment past INT_MAX");
}

/* True when the count dropped to zero: the caller frees. */
static inline bool refcount_dec_and_test(atomic_uint *r)
{
	/* Release our writes; the final put also acquires everyone's. */
	unsigned int old = atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel);

	if (old == 1)
		return true;
	if (__builtin_expect((int)old <= 0, 0))
		refcount_saturate(r, old ? "decrement of a saturated count" :
				  "decrement of 0 (use after free)");
	return false;
}

static inline unsigned int refcount_read(atomic_uint *r)
{
	return atomic_load_explicit(r, memory_order_relaxed);
}

#endif /* _VDEV_LIB_REFCOUNT_H */
