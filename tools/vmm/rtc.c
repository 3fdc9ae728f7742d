// SPDX-License-Identifier: GPL-2.0
/*
 * The MC146818 CMOS clock on ports 0x70/0x71, after kvmtool's hw/rtc.c:
 * the host's UTC time in BCD, 24-hour mode, never "update in progress",
 * so that Linux reads the time at boot without waiting. Writes are
 * ignored; the other CMOS bytes read 0.
 */
#include <time.h>

#include "vmm.h"

#define RTC_INDEX	0x70
#define RTC_DATA	0x71

#define RTC_SECONDS	0x00
#define RTC_MINUTES	0x02
#define RTC_HOURS	0x04
#define RTC_WDAY	0x06
#define RTC_MDAY	0x07
#define RTC_MONTH	0x08
#define RTC_YEAR	0x09
#define RTC_REG_A	0x0a
#define RTC_REG_B	0x0b
#define RTC_REG_C	0x0c
#define RTC_REG_D	0x0d
#define RTC_CENTURY	0x32

#define RTC_REG_B_24H	0x02
#define RTC_REG_D_VRT	0x80	/* valid RAM and time */
#define RTC_REG_A_32K	0x26	/* divider and rate as firmware sets them */

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t rtc_read(uint8_t index)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (index) {
	case RTC_SECONDS:
		return bcd(tm.tm_sec);
	case RTC_MINUTES:
		return bcd(tm.tm_min);
	case RTC_HOURS:
		return bcd(tm.tm_hour);
	case RTC_WDAY:
		return bcd(tm.tm_wday + 1);
	case RTC_MDAY:
		return bcd(tm.tm_mday);
	case RTC_MONTH:
		return bcd(tm.tm_mon + 1);
	case RTC_YEAR:
		return bcd(tm.tm_year % 100);
	case RTC_CENTURY:
		return bcd((tm.tm_year + 1900) / 100);
	case RTC_REG_A:
		return RTC_REG_A_32K;
	case RTC_REG_B:
		return RTC_REG_B_24H;
	case RTC_REG_D:
		return RTC_REG_D_VRT;
	default:
		return 0;
	}
}

/**
 * vmm_rtc_io() - a port access, if it is the clock's
 * @r: the clock
 * @port: the port
 * @data: the byte
 * @len: access size
 * @is_write: OUT
 *
 * Return: true for ports 0x70 and 0x71.
 */
bool vmm_rtc_io(struct vmm_rtc *r, uint16_t port, uint8_t *data,
		unsigned int len, bool is_write)
{
	if (port != RTC_INDEX && port != RTC_DATA)
		return false;
	pthread_mutex_lock(&r->lock);
	if (port == RTC_INDEX && is_write)
		r->index = data[0] & 0x7f;	/* bit 7 masks NMIs */
	else if (port == RTC_INDEX)
		data[0] = r->index;
	else if (!is_write)
		data[0] = rtc_read(r->index);
	pthread_mutex_unlock(&r->lock);
	return true;
}

int vmm_rtc_init(struct vmm_rtc *r)
{
	r->index = 0;
	return -pthread_mutex_init(&r->lock, NULL);
}

void vmm_rtc_exit(struct vmm_rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}
