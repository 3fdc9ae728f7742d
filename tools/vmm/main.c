// SPDX-License-Identifier: GPL-2.0
/*
 * vdev-vmm - boot Linux on vdev devices, and reboot it through the guest.
 *
 *   vdev-vmm --kernel FILE [--initrd FILE] [--cmdline STR] [--mem MiB]
 *            [--cpus N] [--net tap=NAME[,mac=..,queues=N,packed=on|off]]
 *            [--reboots N] [--boot-timeout SEC] [--serial FILE|-]
 *
 * Each boot builds a VM and its devices (vm.c), runs it until the guest
 * asks for a reset (0xFE on the i8042, or a triple fault), then destroys
 * both -- every device worker joined, every TAP fd closed -- and builds
 * them again in the same process on the same TAP names, as
 * cloud-hypervisor does since "virtio-net: Wait for threads to exit on
 * Drop". A wake-up that reaches the new VM from the old one's vCPUs is
 * discarded and counted (cloud-hypervisor ed1e7817). Each boot has a
 * deadline; a guest that does not reboot in time is a hung guest.
 *
 * Output: the guest's serial console, one "vdev-vmm: boot N: ..." line
 * per boot, and with --reboots N a summary table after the Nth reboot.
 *
 * Exit status: 0 when every boot rebooted and nothing leaked; 1 on bad
 * input or a VMM / vdev failure (EBUSY reopening a TAP, a device that
 * cannot be built, a vCPU error, leaked fds or threads); 2 when a guest
 * hung (no reboot before its deadline).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "tool.h"
#include "vmm.h"

#define DEFAULT_CMDLINE	"console=ttyS0 quiet pci=conf1 i8042.noaux " \
			"i8042.nomux i8042.nopnp i8042.dumbkbd reboot=k " \
			"panic=-1 cryptomgr.notests"
#define DEFAULT_TIMEOUT	60
#define MAX_MEM_MIB	(1U << 20)
/*
 * How often the first frame is looked for, until it is seen: every 5 ms
 * once the guest's init has started (no driver runs before it), every
 * 100 ms before. Each look wakes this thread, which takes the CPU from
 * the vCPU thread on a machine with one (scripts/vmtest's).
 */
#define FRAME_POLL_MS	5
#define EARLY_POLL_MS	100

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_HUNG = 2 };

static const char usage_text[] =
	"usage: " VMM_NAME " --kernel FILE [--initrd FILE] [--cmdline STR] [--mem MiB]\n"
	"       [--cpus N] [--net tap=NAME[,mac=XX:XX:XX:XX:XX:XX,queues=N,packed=on|off]]\n"
	"       [--reboots N] [--boot-timeout SEC] [--serial FILE|-]\n";

/**
 * struct boot_rec - what one boot measured
 * @init_s: kernel start to the first "vdev-init:" line, or -1
 * @frame_s: reset request of the boot before (or, for the first boot,
 *           the start) to the first frame the guest sent, or -1
 * @open_s: the slowest device backend open of this boot
 * @down_s: taking the VM of the boot before down (vCPUs joined, devices
 *          and VM destroyed), or -1 for the first boot
 * @build_s: building this boot's VM (devices, RAM, kernel loaded)
 */
struct boot_rec {
	double init_s;
	double frame_s;
	double open_s;
	double down_s;
	double build_s;
	double huge_mib;	/* guest RAM in 2 MiB pages at the end */
};

/**
 * struct run_stats - the whole run, for the summary
 * @boots: VMs started
 * @reboots: guest reboots (stop requests for a reset)
 * @by_i8042: of those, through the i8042
 * @by_shutdown: of those, through KVM_EXIT_SHUTDOWN
 * @ebusy: EBUSY opening a TAP
 * @stale: stop wake-ups that found the new VM running, discarded
 * @extra: stop requests after a VM's first, dropped
 * @recs: per boot
 * @nr_recs: entries in @recs
 * @cap: allocated entries
 */
struct run_stats {
	unsigned int boots;
	unsigned int reboots;
	unsigned int by_i8042;
	unsigned int by_shutdown;
	unsigned int ebusy;
	unsigned int stale;
	unsigned int extra;
	struct boot_rec *recs;
	unsigned int nr_recs;
	unsigned int cap;
};

static int parse_uint(const char *opt, const char *val, unsigned int min,
		      unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!*val || *end || errno || v < min || v > max) {
		fprintf(stderr, VMM_NAME ": %s %s: want a number from %u to %u\n",
			opt, val, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int add_dev(struct vmm_opts *o, const struct vmm_dev_type *t,
		   const char *arg)
{
	struct vmm_dev_opts *d;
	int ret;

	if (o->nr_devs == VMM_MAX_DEVICES) {
		fprintf(stderr, VMM_NAME ": --%s %s: too many devices (at most %u)\n",
			t->name, arg, VMM_MAX_DEVICES);
		return -EINVAL;
	}
	d = &o->devs[o->nr_devs];
	ret = t->parse(arg, &d->priv);
	if (ret)
		return ret;
	d->type = t;
	d->arg = arg;
	o->nr_devs++;
	return 0;
}

static void opts_free(struct vmm_opts *o)
{
	while (o->nr_devs) {
		struct vmm_dev_opts *d = &o->devs[--o->nr_devs];

		d->type->free(d->priv);
	}
	free(o->cmdline);
}

static int parse_args(int argc, char **argv, struct vmm_opts *o)
{
	const char *extra = NULL;
	int i, ret = 0;

	memset(o, 0, sizeof(*o));
	o->mem_mib = VMM_DEFAULT_MEM_MIB;
	o->cpus = 1;
	o->boot_timeout = DEFAULT_TIMEOUT;
	for (i = 1; i < argc && !ret; i++) {
		const struct vmm_dev_type *t;
		char *name = argv[i], *val, *eq;

		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			fputs(usage_text, stdout);
			opts_free(o);
			exit(EXIT_OK);
		}
		if (strncmp(name, "--", 2) || !name[2]) {
			fprintf(stderr, VMM_NAME ": %s: unexpected argument (options start with --)\n",
				name);
			ret = -EINVAL;
			break;
		}
		eq = strchr(name, '=');
		if (eq) {
			*eq = '\0';
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			val = NULL;
		}
		t = vmm_dev_type_find(name + 2);
		if (!t && strcmp(name, "--kernel") && strcmp(name, "--initrd") &&
		    strcmp(name, "--cmdline") && strcmp(name, "--mem") &&
		    strcmp(name, "--cpus") && strcmp(name, "--reboots") &&
		    strcmp(name, "--boot-timeout") && strcmp(name, "--serial")) {
			fprintf(stderr, VMM_NAME ": %s: unknown option\n", name);
			ret = -EINVAL;
			break;
		}
		if (!val) {
			fprintf(stderr, VMM_NAME ": %s: missing its value\n", name);
			ret = -EINVAL;
			break;
		}
		if (t)
			ret = add_dev(o, t, val);
		else if (!strcmp(name, "--kernel"))
			o->kernel = val;
		else if (!strcmp(name, "--initrd"))
			o->initrd = val;
		else if (!strcmp(name, "--cmdline"))
			extra = val;
		else if (!strcmp(name, "--serial"))
			o->serial = val;
		else if (!strcmp(name, "--cpus"))
			ret = parse_uint(name, val, 1, VMM_MAX_CPUS, &o->cpus);
		else if (!strcmp(name, "--reboots"))
			ret = parse_uint(name, val, 0, 1000000, &o->reboots);
		else if (!strcmp(name, "--boot-timeout"))
			ret = parse_uint(name, val, 1, 86400, &o->boot_timeout);
		else if (!strcmp(name, "--mem"))
			ret = parse_uint(name, val, 1, MAX_MEM_MIB, &o->mem_mib);
	}
	if (!ret && !o->kernel) {
		fprintf(stderr, VMM_NAME ": --kernel: missing (the kernel to boot)\n");
		ret = -EINVAL;
	}
	if (!ret && o->mem_mib < VMM_MIN_MEM_MIB) {
		fprintf(stderr, VMM_NAME ": --mem %u: too little memory (at least %u MiB)\n",
			o->mem_mib, VMM_MIN_MEM_MIB);
		ret = -EINVAL;
	}
	if (!ret && asprintf(&o->cmdline, "%s%s%s", DEFAULT_CMDLINE,
			     extra ? " " : "", extra ? extra : "") < 0) {
		o->cmdline = NULL;
		ret = -ENOMEM;
	}
	if (ret)
		opts_free(o);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* min / median / max of field @off of the records that have one. */
static void print_spread(const char *what, const struct run_stats *rs,
			 size_t off, unsigned int first, double scale,
			 const char *unit)
{
	double *v = calloc(rs->nr_recs + 1, sizeof(*v));
	unsigned int i, n = 0;

	for (i = first; v && i < rs->nr_recs; i++) {
		double x = *(const double *)((const char *)&rs->recs[i] + off);

		if (x >= 0)
			v[n++] = x * scale;
	}
	if (!n) {
		printf("  %-24s -\n", what);
	} else {
		qsort(v, n, sizeof(*v), cmp_double);
		printf("  %-24s min %.3f %s, median %.3f %s, max %.3f %s (%u)\n",
		       what, v[0], unit, v[n / 2], unit, v[n - 1], unit, n);
	}
	free(v);
}

static int rec_add(struct run_stats *rs, const struct boot_rec *r)
{
	if (rs->nr_recs == rs->cap) {
		unsigned int cap = rs->cap ? 2 * rs->cap : 64;
		struct boot_rec *n = realloc(rs->recs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rs->recs = n;
		rs->cap = cap;
	}
	rs->recs[rs->nr_recs++] = *r;
	return 0;
}

/*
 * Frames the guest sent through every device; *@rx gets those it
 * received, *@active (when given) how many devices its drivers run.
 */
static uint64_t vm_tx_frames(struct vmm_vm *vm, uint64_t *rx,
			     unsigned int *active)
{
	uint64_t tx = 0;
	unsigned int i;

	*rx = 0;
	if (active)
		*active = 0;
	for (i = 0; i < vm->nr_devs; i++) {
		struct vmm_dev_stats st = { 0 };

		vm->devs[i].type->stats(vm->devs[i].priv, &st);
		tx += st.tx_frames;
		*rx += st.rx_frames;
		if (active && st.driver_ok)
			(*active)++;
	}
	return tx;
}

/*
 * Run @vm until it asks to stop or its deadline passes; looks for the
 * first frame meanwhile, and *@active gets how many devices the guest's
 * drivers ran then. Returns the stop reason, VMM_STOP_NONE for a hung
 * guest.
 */
static enum vmm_stop vm_wait(struct vmm_vm *vm, unsigned int timeout,
			     double *first_frame, unsigned int *active,
			     struct run_stats *rs)
{
	double deadline = vm->start_time + timeout;
	struct pollfd pfd = { .fd = vm->stop_evt, .events = POLLIN };
	uint64_t rx, v;

	*first_frame = -1;
	*active = 0;
	for (;;) {
		double now = vmm_now();
		int ms, ret;

		if (*first_frame < 0 && vm->nr_devs &&
		    vm_tx_frames(vm, &rx, active) > 0)
			*first_frame = now;
		if (now >= deadline)
			return VMM_STOP_NONE;
		ms = (int)((deadline - now) * 1000) + 1;
		if (*first_frame < 0 && vm->nr_devs) {
			int poll_ms = atomic_load(&vm->serial.init_seen) ?
				      FRAME_POLL_MS : EARLY_POLL_MS;

			if (ms > poll_ms)
				ms = poll_ms;
		}
		ret = poll(&pfd, 1, ms);
		if (ret <= 0)
			continue;
		if (read(vm->stop_evt, &v, sizeof(v)) != sizeof(v))
			continue;
		if (atomic_load(&vm->stop_reason) != VMM_STOP_NONE)
			break;
		/* A wake-up of a VM before this one. */
		rs->stale++;
	}
	if (*first_frame < 0 && vm->nr_devs &&
	    vm_tx_frames(vm, &rx, active) > 0)
		*first_frame = vmm_now();
	return atomic_load(&vm->stop_reason);
}

static const char *stop_name(enum vmm_stop s)
{
	switch (s) {
	case VMM_STOP_I8042:
		return "i8042 reset";
	case VMM_STOP_SHUTDOWN:
		return "triple fault";
	case VMM_STOP_ERROR:
		return "vCPU error";
	default:
		return "none";
	}
}

/* Throw away wake-ups left by a VM already destroyed. */
static void drain_stale(int evt, struct run_stats *rs)
{
	uint64_t v;

	while (read(evt, &v, sizeof(v)) == sizeof(v))
		rs->stale += v;
}

/*
 * One boot: build, run, stop, destroy. Returns EXIT_OK to go on, else
 * the exit status. *@prev_stop is the previous boot's reset request
 * time (0 for the first boot) and gets this boot's; *@down_s is how long
 * taking the previous VM down took (-1 for the first boot) and gets this
 * boot's.
 */
static int one_boot(const struct vmm_opts *o, const struct vmm_image *img,
		    FILE *serial, int evt, struct run_stats *rs,
		    double *prev_stop, double *down_s)
{
	struct vmm_dev_stats st[VMM_MAX_DEVICES] = { 0 };
	struct boot_rec rec = { .init_s = -1, .frame_s = -1, .open_s = -1,
				.down_s = *down_s, .huge_mib = -1 };
	unsigned int n = rs->boots + 1, i, active, active_now;
	double first_frame;
	enum vmm_stop why;
	struct vmm_vm *vm;
	uint64_t tx, rx;
	double t0 = vmm_now();
	int ret;

	ret = vmm_vm_create(o, img, serial, evt, st, &vm);
	rec.build_s = vmm_now() - t0;
	for (i = 0; i < o->nr_devs; i++) {
		if (st[i].ebusy) {
			rs->ebusy++;
			printf(VMM_NAME ": boot %u: EBUSY reopening TAP (--%s %s)\n",
			       n, o->devs[i].type->name, o->devs[i].arg);
		}
		if (st[i].open_s > rec.open_s)
			rec.open_s = st[i].open_s;
	}
	if (ret)
		return EXIT_FAIL;
	drain_stale(evt, rs);
	ret = vmm_vm_start(vm);
	if (ret) {
		vmm_vm_destroy(vm);
		return EXIT_FAIL;
	}
	rs->boots++;
	why = vm_wait(vm, o->boot_timeout, &first_frame, &active, rs);
	vmm_vm_stop(vm);
	rs->extra += atomic_load(&vm->extra_requests);
	tx = vm_tx_frames(vm, &rx, &active_now);
	if (active_now > active)
		active = active_now;
	if (vm->serial.init_seen)
		rec.init_s = vm->serial.init_time - vm->start_time;
	if (first_frame >= 0)
		rec.frame_s = first_frame - (*prev_stop ? *prev_stop :
					     vm->start_time);
	*prev_stop = vm->stop_time;
	fflush(serial);
	if (why == VMM_STOP_NONE)
		printf(VMM_NAME ": boot %u: guest hung (no reboot after %u s)\n",
		       n, o->boot_timeout);
	else
		printf(VMM_NAME ": boot %u: %s after %.3f s; init %.3f s; first frame %.3f s after %s; down %.3f s, build %.3f s, reopen %.3f ms; drivers %u/%u; frames tx %llu rx %llu\n",
		       n, stop_name(why), vm->stop_time - vm->start_time,
		       rec.init_s, rec.frame_s, n == 1 ? "start" : "reset",
		       rec.down_s, rec.build_s, rec.open_s * 1e3, active,
		       vm->nr_devs, (unsigned long long)tx,
		       (unsigned long long)rx);
	fflush(stdout);
	rec.huge_mib = vmm_vm_ram_huge_mib(vm);
	t0 = vmm_now();
	vmm_vm_destroy(vm);
	*down_s = vmm_now() - t0;
	ret = rec_add(rs, &rec);
	if (ret)
		return EXIT_FAIL;
	if (why == VMM_STOP_NONE)
		return EXIT_HUNG;
	if (why == VMM_STOP_ERROR)
		return EXIT_FAIL;
	rs->reboots++;
	if (why == VMM_STOP_I8042)
		rs->by_i8042++;
	else
		rs->by_shutdown++;
	return EXIT_OK;
}

static void print_summary(const struct vmm_opts *o,
			  const struct vmm_image *img,
			  const struct run_stats *rs, int fds0, int fds1,
			  int thr0, int thr1)
{
	printf(VMM_NAME ": summary (%s boot, %u vCPU, %u MiB)\n",
	       vmm_boot_name(img->method), o->cpus, o->mem_mib);
	printf("  %-24s %u\n", "boots", rs->boots);
	printf("  %-24s %u (i8042 %u, triple fault %u)\n", "reboots",
	       rs->reboots, rs->by_i8042, rs->by_shutdown);
	print_spread("kernel start to init", rs,
		     offsetof(struct boot_rec, init_s), 0, 1, "s");
	if (rs->nr_recs)
		printf("  %-24s %.3f s\n", "start to first frame",
		       rs->recs[0].frame_s);
	if (rs->nr_recs > 1) {
		print_spread("reboot to first frame", rs,
			     offsetof(struct boot_rec, frame_s), 1, 1, "s");
		print_spread("VM down", rs, offsetof(struct boot_rec, down_s),
			     1, 1, "s");
	}
	print_spread("VM build", rs, offsetof(struct boot_rec, build_s), 0, 1,
		     "s");
	print_spread("TAP reopen", rs, offsetof(struct boot_rec, open_s), 0,
		     1e3, "ms");
	print_spread("RAM in 2 MiB pages", rs,
		     offsetof(struct boot_rec, huge_mib), 0, 1, "MiB");
	printf("  %-24s %u\n", "EBUSY", rs->ebusy);
	printf("  %-24s %u extra requests dropped, %u stale wake-ups discarded\n",
	       "reset requests", rs->extra, rs->stale);
	printf("  %-24s before %d, after %d\n", "fds", fds0, fds1);
	printf("  %-24s before %d, after %d\n", "threads", thr0, thr1);
}

int main(int argc, char **argv)
{
	struct run_stats rs = { 0 };
	int fds0, thr0, fds1, thr1, evt, status = EXIT_OK;
	struct vmm_image img;
	double prev_stop = 0, down_s = -1;
	struct vmm_opts o;
	FILE *serial;

	vmm_log_init();
	if (parse_args(argc, argv, &o))
		return EXIT_FAIL;
	if (vmm_image_open(&img, &o)) {
		status = EXIT_FAIL;
		goto out_opts;
	}
	if (vmm_kvm_check()) {
		status = EXIT_FAIL;
		goto out_image;
	}
	if (!o.serial || !strcmp(o.serial, "-")) {
		serial = stdout;
	} else {
		serial = fopen(o.serial, "we");
		if (!serial) {
			fprintf(stderr, VMM_NAME ": --serial %s: %s\n", o.serial,
				strerror(errno));
			status = EXIT_FAIL;
			goto out_image;
		}
	}
	evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (evt < 0 || vmm_vcpu_signal_init()) {
		fprintf(stderr, VMM_NAME ": eventfd / signal set-up: %s\n",
			strerror(errno));
		status = EXIT_FAIL;
		goto out_serial;
	}

	fds0 = tool_count_fds();
	thr0 = tool_count_threads(0);
	while (status == EXIT_OK && (!o.reboots || rs.reboots < o.reboots))
		status = one_boot(&o, &img, serial, evt, &rs, &prev_stop,
				  &down_s);
	fds1 = tool_count_fds();
	thr1 = tool_count_threads(thr0);

	if (o.reboots || status != EXIT_OK)
		print_summary(&o, &img, &rs, fds0, fds1, thr0, thr1);
	if (fds1 != fds0 || thr1 != thr0) {
		printf(VMM_NAME ": leaked %d fds and %d threads over %u boots\n",
		       fds1 - fds0, thr1 - thr0, rs.boots);
		if (status == EXIT_OK)
			status = EXIT_FAIL;
	}
	close(evt);
	free(rs.recs);
out_serial:
	if (serial != stdout)
		fclose(serial);
out_image:
	vmm_image_close(&img);
out_opts:
	opts_free(&o);
	return status;
}
