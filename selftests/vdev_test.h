/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by vdev's selftests: resource counting for leak checks.
 */
#ifndef _VDEV_TEST_H
#define _VDEV_TEST_H

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* Entries in a /proc/self directory, without "." and "..". */
static inline int vdev_test_count_dir(const char *path)
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
	return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
}

/* Open file descriptors of this process. */
static inline int vdev_test_count_fds(void)
{
	return vdev_test_count_dir("/proc/self/fd");
}

/* Threads of this process. */
static inline int vdev_test_count_tasks(void)
{
	return vdev_test_count_dir("/proc/self/task");
}

static inline void *vdev_test_nop(void *arg)
{
	return arg;
}

/*
 * Call before taking a baseline of fd and task counts: sanitizer runtimes
 * (TSan) start a helper thread with the process's first pthread_create(),
 * which would otherwise look like a leaked thread.
 */
static inline void vdev_test_warm_up(void)
{
	pthread_t t;

	if (!pthread_create(&t, NULL, vdev_test_nop, NULL))
		pthread_join(t, NULL);
}

/* Threads whose name starts with @prefix (e.g. "vdev-"). */
static inline int vdev_test_count_threads_named(const char *prefix)
{
	char path[300], comm[32];
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, prefix, strlen(prefix)))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * After pthread_join() returns, the joined thread can still be listed in
 * /proc/self/task for a few microseconds: the kernel wakes the joiner
 * (CLONE_CHILD_CLEARTID) before it unhashes the task. Poll for up to
 * 100 ms for the count to come down to @want, and return the last count.
 * A leaked thread stays, so a leak still fails the comparison.
 */
static inline int vdev_test_settle_tasks(int want)
{
	int i, n = vdev_test_count_tasks();

	for (i = 0; i < 1000 && n != want; i++) {
		usleep(100);
		n = vdev_test_count_tasks();
	}
	return n;
}

/* As vdev_test_settle_tasks(), for threads whose name starts @prefix. */
static inline int vdev_test_settle_threads_named(const char *prefix, int want)
{
	int i, n = vdev_test_count_threads_named(prefix);

	for (i = 0; i < 1000 && n != want; i++) {
		usleep(100);
		n = vdev_test_count_threads_named(prefix);
	}
	return n;
}

#endif /* _VDEV_TEST_H */
