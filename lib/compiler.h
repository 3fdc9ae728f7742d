/* SPDX-License-Identifier: GPL-2.0 */
/* Private: kernel-style helpers shared by lib/ (not installed). */
#ifndef _VDEV_LIB_COMPILER_H
#define _VDEV_LIB_COMPILER_H

#include <stdatomic.h>
#include <stddef.h>

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* sparse: a deliberate cast between a __bitwise type and a plain one */
#ifndef __force
#ifdef __CHECKER__
#define __force __attribute__((force))
#else
#define __force
#endif
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/*
 * Keep a slow path out of its caller (and its registers). An error path:
 * laid out apart, its callers' branches to it unlikely. The KVM
 * selftests include the kernel's tools/include first, which has its own
 * (an empty __cold): theirs stands there.
 */
#define __vdev_attr(a)	__attribute__((a))
#ifndef noinline
#define noinline	__vdev_attr(__noinline__)
#endif
#ifndef __cold
#define __cold		__vdev_attr(__cold__)
#endif

/*
 * Single, untorn access to memory shared with the guest or other threads.
 * Relaxed atomics rather than volatile, so that ThreadSanitizer sees them.
 */
#define READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Acquire on one shared field (ring indices); pairs with a release. */
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
/* Release on one shared field (ring indices); pairs with an acquire. */
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

/*
 * Full barrier, between publishing one index and reading the other side's
 * event index (notification suppression). ThreadSanitizer does not model
 * fences (gcc warns with -Wtsan); the tsan build passes -Wno-tsan and
 * relies on the acquire/release pairs above for its happens-before edges.
 */
#define smp_mb()	atomic_thread_fence(memory_order_seq_cst)

#endif /* _VDEV_LIB_COMPILER_H */
