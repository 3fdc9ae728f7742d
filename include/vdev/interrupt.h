/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interrupts from a device to its driver. The transport implements the
 * ops (MMIO sets InterruptStatus and writes an irqfd); devices call
 * vdev_interrupt_trigger().
 */
#ifndef _VDEV_INTERRUPT_H
#define _VDEV_INTERRUPT_H

#include <stdatomic.h>

enum vdev_irq_type {
	VDEV_IRQ_CONFIG,	/* configuration change */
	VDEV_IRQ_QUEUE,		/* used buffers on a queue */
};

struct vdev_interrupt;

/**
 * struct vdev_interrupt_ops - what an interrupt provider implements
 * @trigger: raise @type (for VDEV_IRQ_QUEUE, for queue @queue);
 *           returns 0 or -errno; called from worker threads
 * @notifier: optional; the eventfd that raises @type / @queue directly
 *            (for KVM irqfd), or -ENOENT when there is none
 * @release: frees the provider; called by the last vdev_interrupt_put()
 */
struct vdev_interrupt_ops {
	int (*trigger)(struct vdev_interrupt *irq, enum vdev_irq_type type,
		       unsigned int queue);
	int (*notifier)(struct vdev_interrupt *irq, enum vdev_irq_type type,
			unsigned int queue);
	void (*release)(struct vdev_interrupt *irq);
};

/**
 * struct vdev_interrupt - refcounted interrupt object
 * @ops: provider operations
 * @refs: reference count
 *
 * Embed it in the provider's own structure and reach that with
 * container_of() in the ops.
 */
struct vdev_interrupt {
	const struct vdev_interrupt_ops *ops;
	atomic_uint refs;
};

/**
 * vdev_interrupt_init() - initialise with one reference
 * @irq: the object
 * @ops: its operations; @ops->trigger and @ops->release are required
 */
void vdev_interrupt_init(struct vdev_interrupt *irq,
			 const struct vdev_interrupt_ops *ops);

/**
 * vdev_interrupt_get() - take a reference
 * @irq: the object
 *
 * Return: @irq.
 */
struct vdev_interrupt *vdev_interrupt_get(struct vdev_interrupt *irq);

/**
 * vdev_interrupt_put() - drop a reference; the last one releases
 * @irq: the object, or NULL
 */
void vdev_interrupt_put(struct vdev_interrupt *irq);

/**
 * vdev_interrupt_trigger() - raise an interrupt
 * @irq: the object
 * @type: config or queue
 * @queue: queue index for VDEV_IRQ_QUEUE
 *
 * Return: 0 or -errno from the provider.
 */
int vdev_interrupt_trigger(struct vdev_interrupt *irq, enum vdev_irq_type type,
			   unsigned int queue);

/**
 * vdev_interrupt_notifier() - eventfd that raises this interrupt
 * @irq: the object
 * @type: config or queue
 * @queue: queue index for VDEV_IRQ_QUEUE
 *
 * Return: the fd (owned by @irq), or -ENOENT.
 */
int vdev_interrupt_notifier(struct vdev_interrupt *irq, enum vdev_irq_type type,
			    unsigned int queue);

/**
 * vdev_interrupt_eventfd_create() - interrupt that writes one eventfd
 * @efd: eventfd to signal for every interrupt; vdev dups it
 * @irqp: on success the new object, one reference held by the caller
 *
 * The simplest provider, for tests and for VMMs with one irqfd per
 * device. vdev_interrupt_notifier() returns the dup'd fd.
 *
 * Return: 0 or -errno.
 */
int vdev_interrupt_eventfd_create(int efd, struct vdev_interrupt **irqp);

#endif /* _VDEV_INTERRUPT_H */
