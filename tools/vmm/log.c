// SPDX-License-Identifier: GPL-2.0
/*
 * libvdev's messages (vdev_log_set_handler()): printed to stderr as
 * "vdev-vmm: vdev: <msg>", except while a device is being built
 * (vmm_log_hold()): then the last one is held, so that the device's own
 * one-line error can carry it as its cause, and a user error stays one
 * line. The handler may run on any thread (device workers).
 */
#include <string.h>

#include <vdev/log.h>

#include "vmm.h"

/**
 * struct vmm_log - the handler's state (vdev_log_fn has no argument)
 * @lock: the fields below
 * @hold: keep messages instead of printing them
 * @held: the last message kept
 */
static struct vmm_log {
	pthread_mutex_t lock;
	bool hold;
	char held[256];
} vmm_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void vmm_log_handler(enum vdev_log_level level, const char *msg)
{
	pthread_mutex_lock(&vmm_log.lock);
	if (vmm_log.hold)
		snprintf(vmm_log.held, sizeof(vmm_log.held), "%s", msg);
	else
		fprintf(stderr, VMM_NAME ": vdev: %s\n", msg);
	pthread_mutex_unlock(&vmm_log.lock);
}

void vmm_log_init(void)
{
	vdev_log_set_handler(vmm_log_handler);
}

/* Start (@hold) or stop holding messages; starting forgets the last. */
void vmm_log_hold(bool hold)
{
	pthread_mutex_lock(&vmm_log.lock);
	vmm_log.hold = hold;
	if (hold)
		vmm_log.held[0] = '\0';
	pthread_mutex_unlock(&vmm_log.lock);
}

/* Copy the last message held into @buf ("" if none). */
void vmm_log_held(char *buf, size_t size)
{
	pthread_mutex_lock(&vmm_log.lock);
	snprintf(buf, size, "%s", vmm_log.held);
	pthread_mutex_unlock(&vmm_log.lock);
}
