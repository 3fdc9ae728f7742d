// SPDX-License-Identifier: GPL-2.0
/*
 * Refcounted interrupt objects, and the simplest provider: one eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <vdev/interrupt.h>
#include <vdev/log.h>

#include "compiler.h"
#include "eventfd_priv.h"
#include "refcount.h"

/**
 * vdev_interrupt_init() - initialise with one reference
 * @irq: the object
 * @ops: its operations; @ops->trigger and @ops->release are required
 */
void vdev_interrupt_init(struct vdev_interrupt *irq,
			 const struct vdev_interrupt_ops *ops)
{
	irq->ops = ops;
	refcount_set(&irq->refs, 1);
}

/**
 * vdev_interrupt_get() - take a reference
 * @irq: the object
 *
 * Return: @irq.
 */
struct vdev_interrupt *vdev_interrupt_get(struct vdev_interrupt *irq)
{
	refcount_inc(&irq->refs);
	return irq;
}

/**
 * vdev_interrupt_put() - drop a reference; the last one releases
 * @irq: the object, or NULL
 *
 * The last put calls @irq->ops->release.
 */
void vdev_interrupt_put(struct vdev_interrupt *irq)
{
	if (irq && refcount_dec_and_test(&irq->refs))
		irq->ops->release(irq);
}

/**
 * vdev_interrupt_trigger() - raise an interrupt
 * @irq: the object
 * @type: config or queue
 * @queue: queue index for VDEV_IRQ_QUEUE
 *
 * Context: any thread; device workers call it for their queues.
 *
 * Return: 0 or -errno from the provider.
 */
int vdev_interrupt_trigger(struct vdev_interrupt *irq, enum vdev_irq_type type,
			   unsigned int queue)
{
	return irq->ops->trigger(irq, type, queue);
}

/**
 * vdev_interrupt_notifier() - eventfd that raises this interrupt
 * @irq: the object
 * @type: config or queue
 * @queue: queue index for VDEV_IRQ_QUEUE
 *
 * Return: the fd (owned by @irq), or -ENOENT when the provider has no
 * @ops->notifier (or no eventfd for @type and @queue).
 */
int vdev_interrupt_notifier(struct vdev_interrupt *irq, enum vdev_irq_type type,
			    unsigned int queue)
{
	if (!irq->ops->notifier)
		return -ENOENT;
	return irq->ops->notifier(irq, type, queue);
}

struct eventfd_irq {
	struct vdev_interrupt irq;
	int fd;
};

static int eventfd_irq_trigger(struct vdev_interrupt *irq,
			       enum vdev_irq_type type, unsigned int queue)
{
	struct eventfd_irq *e = container_of(irq, struct eventfd_irq, irq);

	return eventfd_kick(e->fd);
}

static int eventfd_irq_notifier(struct vdev_interrupt *irq,
				enum vdev_irq_type type, unsigned int queue)
{
	return container_of(irq, struct eventfd_irq, irq)->fd;
}

static void eventfd_irq_release(struct vdev_interrupt *irq)
{
	struct eventfd_irq *e = container_of(irq, struct eventfd_irq, irq);

	close(e->fd);
	free(e);
}

static const struct vdev_interrupt_ops eventfd_irq_ops = {
	.trigger = eventfd_irq_trigger,
	.notifier = eventfd_irq_notifier,
	.release = eventfd_irq_release,
};

/**
 * vdev_interrupt_eventfd_create() - interrupt that writes one eventfd
 * @efd: eventfd to signal for every interrupt; vdev dups it
 * @irqp: on success the new object, one reference held by the caller
 *
 * The simplest provider, for tests and for VMMs with one irqfd per
 * device: config and queue interrupts alike write 1 to the eventfd (a
 * saturated counter counts as raised). vdev_interrupt_notifier() returns
 * the dup'd fd, which the last vdev_interrupt_put() closes.
 *
 * Return: 0, -ENOMEM, or -errno from the dup (-EBADF for a bad @efd).
 */
int vdev_interrupt_eventfd_create(int efd, struct vdev_interrupt **irqp)
{
	struct eventfd_irq *e;
	int ret;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fcntl(efd, F_DUPFD_CLOEXEC, 0);
	if (e->fd < 0) {
		ret = -errno;
		vdev_log(VDEV_LOG_ERR, "interrupt: cannot dup eventfd %d: %d",
			 efd, ret);
		goto out_free;
	}
	vdev_interrupt_init(&e->irq, &eventfd_irq_ops);
	*irqp = &e->irq;
	return 0;

out_free:
	free(e);
	return ret;
}
