# SPDX-License-Identifier: GPL-2.0
#
# Split virtqueue benchmark (selftests/bench/queue_bench.c) against the
# kernel's device-side ring, vringh: 'make bench' builds
# tools/virtio/vringh_test from linux-source-6.1 into build/bench/vringh/
# (a copy: the cache is never modified), patches the copy so that it
# builds (the 6.1 tree lacks data_race() in tools/virtio/linux/compiler.h)
# and pins its two processes to different CPUs (the stock test pins both
# to one), runs both and prints the per-transfer ratio. Informational:
# nothing here fails on time.
#
# Both benchmarks run under SCHED_FIFO (chrt -f 10) when allowed, so that
# other load on the machine does not delay their wake-ups; the policy is
# printed. QBENCH_RT=0 runs them as ordinary tasks.
#
# Knobs: QUEUE_BENCH_XFERS (per 1..4-descriptor run, default 2000000),
# QBENCH_RT (1).

QBENCH_OUT	:= build/bench
QBENCH_BIN	:= $(QBENCH_OUT)/queue_bench
QBENCH_XFERS	?= $(or $(QUEUE_BENCH_XFERS),2000000)
QBENCH_RT	?= 1
QBENCH_CHRT	= $(if $(filter 1,$(QBENCH_RT)),$(shell chrt -f 10 true \
		  2>/dev/null && echo chrt -f 10))
VRINGH_DIR	:= $(QBENCH_OUT)/vringh
VRINGH_BIN	:= $(VRINGH_DIR)/tools/virtio/vringh_test
KSRC_TAR	?= /usr/src/linux-source-6.1.tar.xz
# What vringh_test needs from the kernel tree (its -MMD output).
VRINGH_MEMBERS	:= tools/virtio tools/include drivers/virtio/virtio_ring.c \
		   drivers/vhost/vringh.c include/linux/vringh.h \
		   include/linux/kconfig.h include/linux/kern_levels.h \
		   include/linux/uio.h include/linux/virtio_ring.h \
		   include/linux/irqreturn.h include/linux/virtio_byteorder.h \
		   include/linux/byteorder/generic.h \
		   include/uapi/linux/virtio_types.h \
		   include/uapi/linux/virtio_config.h \
		   include/uapi/linux/virtio_ring.h

BENCH_TARGETS	+= bench-queue
.PHONY: bench-queue

# Against the library of the current VARIANT (plain for 'make bench').
$(QBENCH_BIN): selftests/bench/queue_bench.c selftests/vq_driver.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iselftests -o $@ $< $(LIB_A) $(LDFLAGS_V) \
		$(NL_LIBS) -lm

# Members come from the set-up cache when it has them, else straight from
# Debian's linux-source-6.1 tarball.
$(VRINGH_DIR)/.src: selftests/bench/extra.mk
	rm -rf $(VRINGH_DIR)
	mkdir -p $(VRINGH_DIR)
	@missing=; for m in $(VRINGH_MEMBERS); do \
		if [ -e $(KSRC)/$$m ]; then \
			mkdir -p $(VRINGH_DIR)/$$(dirname $$m) && \
			cp -r $(KSRC)/$$m $(VRINGH_DIR)/$$m || exit 1; \
		else missing="$$missing linux-source-6.1/$$m"; fi; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "bench: extracting from $(KSRC_TAR):$$missing"; \
		tar -xJf $(KSRC_TAR) -C $(VRINGH_DIR) --strip-components=1 \
			$$missing || exit 1; \
	fi
	sed -i 's|^#endif|#ifndef data_race\n#define data_race(expr) ({ __typeof__(expr) __v = (expr); __v; })\n#endif\n#endif|' \
		$(VRINGH_DIR)/tools/virtio/linux/compiler.h
	perl -0pi -e 's/CPU_SET\(first_cpu, &cpu_set\);(\s*if \(sched_setaffinity\(getpid\(\), sizeof\(cpu_set\), &cpu_set\)\)\s*err\(1, "Could not set affinity to cpu %u", )first_cpu\);/CPU_SET(last_cpu, &cpu_set);$${1}last_cpu);/' \
		$(VRINGH_DIR)/tools/virtio/vringh_test.c
	@grep -q 'CPU_SET(last_cpu' $(VRINGH_DIR)/tools/virtio/vringh_test.c || \
		{ echo "bench: could not pin vringh_test's guest apart" >&2; exit 1; }
	touch $@

$(VRINGH_BIN): $(VRINGH_DIR)/.src
	$(MAKE) -C $(VRINGH_DIR)/tools/virtio MAKEFLAGS= vringh_test

bench-queue: $(QBENCH_BIN) $(VRINGH_BIN)
	$(QBENCH_CHRT) $(QBENCH_BIN) -n $(QBENCH_XFERS) --vringh $(VRINGH_BIN)
