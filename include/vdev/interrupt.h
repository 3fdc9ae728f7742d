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

/* Each function is documented at its definition, in lib/interrupt.c. */
void vdev_interrupt_init(struct vdev_interrupt *irq,
			 const struct vdev_interrupt_ops *ops);

struct vdev_interrupt *vdev_interrupt_get(struct vdev_interrupt *irq);

void vdev_interrupt_put(struct vdev_interrupt *irq);

int vdev_interrupt_trigger(struct vdev_interrupt *irq, enum vdev_irq_type type,
			   unsigned int queue);

int vdev_interrupt_notifier(struct vdev_interrupt *irq, enum vdev_irq_type type,
			    unsigned int queue);

int vdev_interrupt_eventfd_create(int efd, struct vdev_interrupt **irqp);

#endif /* _VDEV_INTERRUPT_H */
