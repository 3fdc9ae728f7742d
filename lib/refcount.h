/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private: refcount_t in kernel idiom over C11 atomics. Saturates instead
 * of wrapping, and warns on a put of a zero count (use after free).
 */
#ifndef _VDEV_LIB_REFCOUNT_H
#define _VDEV_LIB_REFCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <limits.h>

#include <vdev/log.h>

static inline void refcount_set(atomic_uint *r, unsigned int n)
{
	atomic_store_explicit(r, n, memory_order_relaxed);
}

static inline void refcount_inc(atomic_uint *r)
{
	unsigned int old = atomic_fetch_add_explicit(r, 1, memory_order_relaxed);

	if (old == 0 || old == UINT_MAX)
		vdev_log(VDEV_LOG_ERR, "%s on %s object", __func__,
			 old ? "saturated" : "freed");
}

/* True when the count dropped to zero: the caller frees. */
static inline bool refcount_dec_and_test(atomic_uint *r)
{
	/* Release our writes; the final put also acquires everyone's. */
	unsigned int old = atomic_fetch_sub_explicit(r, 1, memory_order_acq_rel);

	if (old == 1)
		return true;
	if (old == 0)
		vdev_log(VDEV_LOG_ERR, "refcount underflow");
	return false;
}

static inline unsigned int refcount_read(atomic_uint *r)
{
	return atomic_load_explicit(r, memory_order_relaxed);
}

#endif /* _VDEV_LIB_REFCOUNT_H */
