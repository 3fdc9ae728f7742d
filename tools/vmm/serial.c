// SPDX-License-Identifier: GPL-2.0
/*
 * A 16550A UART on 0x3f8 (COM1), IRQ 4, transmit only, after kvmtool's
 * hw/serial.c: what Linux's 8250 driver needs to find a 16550A
 * (scratch, IER and loopback tests, FIFO bits in IIR), and a transmitter
 * that is always empty (LSR THRE|TEMT), so that the console never waits.
 * The THR-empty interrupt is a level: raised while IER enables it (the
 * transmitter is always empty), lowered when the driver disables it.
 *
 * The output goes to the --serial file line by line; the first line of a
 * boot that starts with "vdev-init:" (the guest's init) is timed.
 */
#include <string.h>

#include <linux/serial_reg.h>

#include "vmm.h"

#define SERIAL_BASE	0x3f8
#define SERIAL_PORTS	8
#define INIT_MARKER	"vdev-init:"

static void serial_update_irq(struct vmm_serial *s)
{
	bool high = s->ier & UART_IER_THRI;

	if (high == s->irq_high)
		return;
	s->irq_high = high;
	vmm_irq_line(s->vm, VMM_SERIAL_IRQ, high);
}

static void serial_flush_line(struct vmm_serial *s)
{
	if (!s->line_len)
		return;
	fwrite(s->line, 1, s->line_len, s->out);
	fflush(s->out);
	s->line_len = 0;
}

static void serial_putc(struct vmm_serial *s, uint8_t c)
{
	/* The marker is looked for at the start of a line only. */
	if (s->line_len == sizeof(s->line)) {
		fwrite(s->line, 1, s->line_len, s->out);
		s->line_len = 0;
		s->line[0] = '\0';
	}
	s->line[s->line_len++] = c;
	if (!atomic_load(&s->init_seen) &&
	    s->line_len == strlen(INIT_MARKER) &&
	    !memcmp(s->line, INIT_MARKER, s->line_len)) {
		s->init_time = vmm_now();
		atomic_store(&s->init_seen, true);
	}
	if (c == '\n')
		serial_flush_line(s);
}

static uint8_t serial_iir(struct vmm_serial *s)
{
	uint8_t iir = (s->ier & UART_IER_THRI) ? UART_IIR_THRI :
						  UART_IIR_NO_INT;

	/* 16550A with FIFOs on: both FIFO bits set. */
	return s->fcr_fifo ? iir | 0xc0 : iir;
}

/* MSR: in loopback, the outputs of MCR come back as the modem inputs. */
static uint8_t serial_msr(struct vmm_serial *s)
{
	uint8_t msr = 0;

	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (s->mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	return msr;
}

static void serial_write(struct vmm_serial *s, unsigned int reg, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_TX:
		if (dlab)
			s->dll = v;
		else if (!(s->mcr & UART_MCR_LOOP))
			serial_putc(s, v);
		break;
	case UART_IER:
		if (dlab)
			s->dlm = v;
		else
			s->ier = v & 0x0f;
		break;
	case UART_FCR:
		s->fcr_fifo = v & UART_FCR_ENABLE_FIFO;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:	/* LSR, MSR: read-only */
		break;
	}
	serial_update_irq(s);
}

static uint8_t serial_read(struct vmm_serial *s, unsigned int reg)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_RX:
		return dlab ? s->dll : 0;	/* nothing is ever received */
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		return serial_iir(s);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return UART_LSR_THRE | UART_LSR_TEMT;
	case UART_MSR:
		return serial_msr(s);
	default:
		return s->scr;
	}
}

/**
 * vmm_serial_io() - a port access, if it is COM1's
 * @s: the UART
 * @port: the port
 * @data: the bytes (written, or to fill)
 * @len: access size; each byte is a register access of its own
 * @is_write: OUT
 *
 * Return: true if @port is one of COM1's.
 */
bool vmm_serial_io(struct vmm_serial *s, uint16_t port, uint8_t *data,
		   unsigned int len, bool is_write)
{
	unsigned int i;

	if (port < SERIAL_BASE || port >= SERIAL_BASE + SERIAL_PORTS)
		return false;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len && port + i < SERIAL_BASE + SERIAL_PORTS; i++) {
		if (is_write)
			serial_write(s, port + i - SERIAL_BASE, data[i]);
		else
			data[i] = serial_read(s, port + i - SERIAL_BASE);
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

int vmm_serial_init(struct vmm_serial *s, struct vmm_vm *vm, FILE *out)
{
	memset(s, 0, sizeof(*s));
	atomic_init(&s->init_seen, false);
	s->vm = vm;
	s->out = out;
	s->mcr = UART_MCR_OUT2;
	return -pthread_mutex_init(&s->lock, NULL);
}

void vmm_serial_exit(struct vmm_serial *s)
{
	serial_flush_line(s);
	pthread_mutex_destroy(&s->lock);
}
