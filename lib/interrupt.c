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

void vdev_interrupt_init(struct vdev_interrupt *irq,
			 const struct vdev_interrupt_ops *ops)
{
	irq->ops = ops;
	refcount_set(&irq->refs, 1);
}

struct vdev_interrupt *vdev_interrupt_get(struct vdev_interrupt *irq)
{
	refcount_inc(&irq->refs);
	return irq;
}

void vdev_interrupt_put(struct vdev_interrupt *irq)
{
	if (irq && refcount_dec_and_test(&irq->refs))
		irq->ops->release(irq);
}

int vdev_interrupt_trigger(struct vdev_interrupt *irq, enum vdev_irq_type type,
			   unsigned int queue)
{
	return irq->ops->trigger(irq, type, queue);
}

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
