// SPDX-License-Identifier: GPL-2.0
/*
 * tools/common: helpers the programs in tools/ share (tool.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "tool.h"

/*
 * tool_parse_mac - "aa:bb:cc:dd:ee:ff" into @mac: six hex pairs and
 * nothing after them, a unicast address, not all zero (a guest's own).
 * Returns 0 or -EINVAL.
 */
int tool_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6], i;
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
		   &b[3], &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = b[i];
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] |
			      mac[5]))
		return -EINVAL;
	return 0;
}

static int count_dir(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* tool_count_fds - fds open, not counting the one that counts them. */
int tool_count_fds(void)
{
	return count_dir("/proc/self/fd") - 1;
}

/*
 * tool_count_threads - this process's threads, given up to
 * TOOL_SETTLE_MS to come down to @want: pthread_join() returns before
 * the kernel unhashes the joined task. A leaked thread stays counted.
 */
int tool_count_threads(int want)
{
	struct timespec ts = { 0, 1000000 };
	int i, n = count_dir("/proc/self/task");

	for (i = 0; i < TOOL_SETTLE_MS && n > want; i++) {
		nanosleep(&ts, NULL);
		n = count_dir("/proc/self/task");
	}
	return n;
}
