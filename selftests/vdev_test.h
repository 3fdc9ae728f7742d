/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by vdev's selftests: resource counting for leak checks.
 */
#ifndef _VDEV_TEST_H
#define _VDEV_TEST_H

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
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
	*(pid_t *)arg = gettid();
	return NULL;
}

/*
 * Wait up to @ms milliseconds for thread @tid to leave /proc/self/task:
 * pthread_join() can return while the joined thread is still listed
 * (see vdev_test_settle_tasks_ms()). Returns true once it has gone.
 */
static inline bool vdev_test_wait_task_gone(pid_t tid, int ms)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	for (i = 0; i < 10 * ms; i++) {
		if (access(path, F_OK))
			return true;
		usleep(100);
	}
	return false;
}

/*
 * Call before taking a baseline of fd and task counts: sanitizer runtimes
 * (TSan) start a helper thread with the process's first pthread_create(),
 * which would otherwise look like a leaked thread. Returns only once the
 * warm-up thread itself has left /proc/self/task, so that it is not
 * counted in the baseline either.
 */
static inline void vdev_test_warm_up(void)
{
	pid_t tid = 0;
	pthread_t t;

	if (!pthread_create(&t, NULL, vdev_test_nop, &tid)) {
		pthread_join(t, NULL);
		vdev_test_wait_task_gone(tid, 1000);
	}
}

/*
 * Call @fn(@tid, @comm, @arg) for each thread of this process whose
 * /proc/self/task/<tid>/comm could be read (@comm ends with its newline).
 * Returns the sum of what @fn returned, or -1 if the task directory
 * cannot be read.
 */
typedef int64_t (*vdev_test_thread_fn)(const char *, const char *, void *);

static inline int64_t vdev_test_walk_threads(vdev_test_thread_fn fn,
					     void *arg)
{
	char path[300], comm[32];
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int64_t sum = 0;

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
		if (fgets(comm, sizeof(comm), f))
			sum += fn(de->d_name, comm, arg);
		fclose(f);
	}
	closedir(d);
	return sum;
}

static inline int64_t vdev_test_is_named(const char *tid, const char *comm,
					 void *prefix)
{
	return !strncmp(comm, prefix, strlen(prefix));
}

/* Threads whose name starts with @prefix (e.g. "vdev-"). */
static inline int vdev_test_count_threads_named(const char *prefix)
{
	return vdev_test_walk_threads(vdev_test_is_named, (void *)prefix);
}

/*
 * After pthread_join() returns, the joined thread can still be listed in
 * /proc/self/task for a few microseconds: the kernel wakes the joiner
 * (CLONE_CHILD_CLEARTID) before it unhashes the task. Poll every 100 us,
 * for up to @ms milliseconds, for the count to come down to @want, and
 * return the last count. A leaked thread stays, so a leak still fails the
 * comparison.
 */
static inline int vdev_test_settle_tasks_ms(int want, int ms)
{
	int i, n = vdev_test_count_tasks();

	for (i = 0; i < 10 * ms && n != want; i++) {
		usleep(100);
		n = vdev_test_count_tasks();
	}
	return n;
}

/* As vdev_test_settle_tasks_ms(), for threads whose name starts @prefix. */
static inline int vdev_test_settle_threads_named_ms(const char *prefix,
						    int want, int ms)
{
	int i, n = vdev_test_count_threads_named(prefix);

	for (i = 0; i < 10 * ms && n != want; i++) {
		usleep(100);
		n = vdev_test_count_threads_named(prefix);
	}
	return n;
}

/* The settle window of the host tests: 100 ms. */
#define VDEV_TEST_SETTLE_MS	100

/* vdev_test_settle_tasks_ms() for VDEV_TEST_SETTLE_MS. */
static inline int vdev_test_settle_tasks(int want)
{
	return vdev_test_settle_tasks_ms(want, VDEV_TEST_SETTLE_MS);
}

/* vdev_test_settle_threads_named_ms() for VDEV_TEST_SETTLE_MS. */
static inline int vdev_test_settle_threads_named(const char *prefix, int want)
{
	return vdev_test_settle_threads_named_ms(prefix, want,
						 VDEV_TEST_SETTLE_MS);
}

/*
 * A baseline of the thread count, taken once the process has settled: a
 * thread joined just before (vdev_test_warm_up()'s, say) can still be
 * listed for a moment. Polls every 100 us, for up to a second, until the
 * count has not moved for 10 ms, and returns it.
 */
static inline int vdev_test_baseline_tasks(void)
{
	int i, same = 0, n = vdev_test_count_tasks();

	for (i = 0; i < 10000 && same < 100; i++) {
		int m;

		usleep(100);
		m = vdev_test_count_tasks();
		same = m == n ? same + 1 : 0;
		n = m;
	}
	return n;
}

/*
 * The signature lines of the TAP reopen regression tests (net_reopen_test,
 * vnet_reboot_test; Documentation/testing.rst, "Expected failures"),
 * printed and flushed at once: a harness test's process ends with
 * _exit(), which would drop what stdio still buffers.
 */
static inline void vdev_test_report_ebusy(const char *tap,
					  unsigned long cycle)
{
	printf("# vdev-regression: EBUSY reopening TAP %s (cycle %lu)\n", tap,
	       cycle);
	fflush(stdout);
}

/*
 * The leak check of a reopen cycle, between the destruction of a device
 * and the reopen of its TAP: the fds now, and the threads once settled
 * (up to @ms, vdev_test_settle_tasks_ms()), against the baselines @fds0
 * and @tasks0. On a difference, prints the signature line for @cycle and
 * returns true.
 */
static inline bool vdev_test_leaked(int fds0, int tasks0, int ms,
				    unsigned long cycle)
{
	int fds = vdev_test_count_fds();
	int tasks = vdev_test_settle_tasks_ms(tasks0, ms);

	if (fds == fds0 && tasks == tasks0)
		return false;
	printf("# vdev-regression: leaked fds %d -> %d, threads %d -> %d (cycle %lu)\n",
	       fds0, fds, tasks0, tasks, cycle);
	fflush(stdout);
	return true;
}

/*
 * Take the baselines of a leak check (*@fds, *@tasks) once the process has
 * settled: after vdev_test_warm_up(), and once the thread count has held
 * still for 10 ms (vdev_test_baseline_tasks()).
 */
static inline void vdev_test_baseline(int *fds, int *tasks)
{
	vdev_test_warm_up();
	*tasks = vdev_test_baseline_tasks();
	*fds = vdev_test_count_fds();
}

#endif /* _VDEV_TEST_H */
