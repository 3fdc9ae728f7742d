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

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

/* Single, untorn access to memory shared with the guest or other threads. */
#define READ_ONCE(x)	(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* SMP barriers for memory shared with the guest (x86: compiler + mfence). */
#define smp_mb()	atomic_thread_fence(memory_order_seq_cst)
#define smp_rmb()	atomic_thread_fence(memory_order_acquire)
#define smp_wmb()	atomic_thread_fence(memory_order_release)

#endif /* _VDEV_LIB_COMPILER_H */
