// SPDX-License-Identifier: GPL-2.0
/*
 * The i8042 keyboard controller, after kvmtool's hw/i8042.c, cut down to
 * what a Linux guest booted with "i8042.noaux i8042.nomux i8042.nopnp
 * i8042.dumbkbd reboot=k" uses: the status register (port 0x64), the
 * controller's command byte (commands 0x20 / 0x60, answered at once so
 * that the probe never waits for its 0.5 s timeout), the self tests
 * (0xAA, 0xAB), an ACK for any byte sent to the keyboard, and command
 * 0xFE, which pulses the CPU reset line: the VM stops for a reboot.
 * There is no keyboard behind it; there is no mouse port.
 */
#include <string.h>

#include "vmm.h"

#define I8042_DATA		0x60
#define I8042_CMD		0x64

/* Status register. */
#define I8042_STR_OBF		0x01	/* output buffer full */
#define I8042_STR_SYSFLAG	0x04	/* self test passed */
#define I8042_STR_CMDDAT	0x08	/* last write was to 0x64 */
#define I8042_STR_KEYLOCK	0x10	/* not inhibited */

/* Command byte. */
#define I8042_CTR_KBDINT	0x01
#define I8042_CTR_SYSFLAG	0x04
#define I8042_CTR_XLATE		0x40

/* Controller commands. */
#define I8042_CMD_CTL_RCTR	0x20
#define I8042_CMD_CTL_WCTR	0x60
#define I8042_CMD_AUX_DISABLE	0xa7
#define I8042_CMD_AUX_ENABLE	0xa8
#define I8042_CMD_CTL_TEST	0xaa
#define I8042_CMD_KBD_TEST	0xab
#define I8042_CMD_KBD_DISABLE	0xad
#define I8042_CMD_KBD_ENABLE	0xae
#define I8042_CMD_CTL_WOUTPUT	0xd1
#define I8042_CMD_RESET		0xfe

#define I8042_RET_CTL_TEST	0x55
#define KBD_ACK			0xfa

static void i8042_push(struct vmm_i8042 *k, uint8_t v, bool irq)
{
	if (k->out_len == sizeof(k->outq))
		return;
	k->outq[k->out_len++] = v;
	/* A keyboard byte raises IRQ 1 when the command byte lets it. */
	if (irq && (k->ctr & I8042_CTR_KBDINT)) {
		vmm_irq_line(k->vm, VMM_I8042_IRQ, true);
		vmm_irq_line(k->vm, VMM_I8042_IRQ, false);
	}
}

static uint8_t i8042_pop(struct vmm_i8042 *k)
{
	uint8_t v;

	if (!k->out_len)
		return 0;
	v = k->outq[0];
	memmove(k->outq, k->outq + 1, --k->out_len);
	return v;
}

static void i8042_command(struct vmm_i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case I8042_CMD_CTL_RCTR:
		i8042_push(k, k->ctr, false);
		break;
	case I8042_CMD_CTL_WCTR:
	case I8042_CMD_CTL_WOUTPUT:
		k->pending_cmd = cmd;
		break;
	case I8042_CMD_CTL_TEST:
		i8042_push(k, I8042_RET_CTL_TEST, false);
		break;
	case I8042_CMD_KBD_TEST:
		i8042_push(k, 0, false);
		break;
	case I8042_CMD_RESET:
		vmm_vm_request_stop(k->vm, VMM_STOP_I8042);
		break;
	default:	/* enable / disable ports and the rest: no state */
		break;
	}
}

static void i8042_data(struct vmm_i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd == I8042_CMD_CTL_WCTR) {
		k->ctr = v;
		return;
	}
	/* Output port: bit 0 low is the reset line asserted. */
	if (cmd == I8042_CMD_CTL_WOUTPUT) {
		if (!(v & 1))
			vmm_vm_request_stop(k->vm, VMM_STOP_I8042);
		return;
	}
	/* A byte for the keyboard: acknowledge it. */
	i8042_push(k, KBD_ACK, true);
}

/**
 * vmm_i8042_io() - a port access, if it is the controller's
 * @k: the controller
 * @port: the port
 * @data: the byte
 * @len: access size (the controller's ports are byte wide)
 * @is_write: OUT
 *
 * Return: true for ports 0x60 and 0x64.
 */
bool vmm_i8042_io(struct vmm_i8042 *k, uint16_t port, uint8_t *data,
		  unsigned int len, bool is_write)
{
	if (port != I8042_DATA && port != I8042_CMD)
		return false;
	pthread_mutex_lock(&k->lock);
	if (is_write && port == I8042_CMD)
		i8042_command(k, data[0]);
	else if (is_write)
		i8042_data(k, data[0]);
	else if (port == I8042_CMD)
		data[0] = I8042_STR_SYSFLAG | I8042_STR_KEYLOCK |
			  (k->out_len ? I8042_STR_OBF : 0);
	else
		data[0] = i8042_pop(k);
	if (!is_write && len > 1)
		memset(data + 1, 0xff, len - 1);
	pthread_mutex_unlock(&k->lock);
	return true;
}

int vmm_i8042_init(struct vmm_i8042 *k, struct vmm_vm *vm)
{
	memset(k, 0, sizeof(*k));
	k->vm = vm;
	k->ctr = I8042_CTR_KBDINT | I8042_CTR_SYSFLAG | I8042_CTR_XLATE;
	return -pthread_mutex_init(&k->lock, NULL);
}

void vmm_i8042_exit(struct vmm_i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}
