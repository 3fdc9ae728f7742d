# SPDX-License-Identifier: GPL-2.0
#
# libFuzzer targets, built with clang into build/fuzz/ from their own copy
# of the library objects:
#   queue_fuzz        virtqueue setup (split and packed rings) and guest
#                     memory contents (selftests/fuzz/queue_fuzz.c)
#   vhost_user_fuzz   the vhost-user back-end's messages over a socketpair
#                     (selftests/fuzz/vhost_user_fuzz.c)
#
#   make fuzz-check   60 s each, bounded (part of 'make check'); fails on
#                     a crash
#   make fuzz         FUZZ_SECONDS each (default 600)
#
# New corpus entries go to build/fuzz/corpus (build/fuzz/vu-corpus); the
# seeds in selftests/fuzz/corpus (selftests/fuzz/vu-corpus, written by
# gen_vu_seeds.py) are only read. A crash leaves its input in
# build/fuzz/crash-* (build/fuzz/vu-crash-*); replay it with
# build/fuzz/queue_fuzz FILE (build/fuzz/vhost_user_fuzz FILE).

FUZZ_CC		?= $(shell command -v clang-14 || command -v clang)
FUZZ_OUT	:= build/fuzz
FUZZ_SECONDS	?= 600
FUZZ_CHECK_SECONDS ?= 60
FUZZ_CFLAGS	:= -std=gnu11 -g -O1 -Wall -Wno-unused-parameter \
		   -fno-omit-frame-pointer -D_GNU_SOURCE -pthread \
		   -Iinclude -Ilib -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=all
FUZZ_LIB_OBJS	:= $(addprefix $(FUZZ_OUT)/lib/,$(vdev-y))
FUZZ_LIB_A	:= $(FUZZ_OUT)/libvdev-fuzz.a
FUZZ_BIN	:= $(FUZZ_OUT)/queue_fuzz
FUZZ_RUN	= mkdir -p $(FUZZ_OUT)/corpus && \
		  $(FUZZ_BIN) -timeout=10 -rss_limit_mb=2048 -max_len=32768 \
		  -artifact_prefix=$(FUZZ_OUT)/ -print_final_stats=1 \
		  $(FUZZ_OUT)/corpus selftests/fuzz/corpus
VU_FUZZ_BIN	:= $(FUZZ_OUT)/vhost_user_fuzz
VU_FUZZ_RUN	= mkdir -p $(FUZZ_OUT)/vu-corpus && \
		  $(VU_FUZZ_BIN) -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		  -artifact_prefix=$(FUZZ_OUT)/vu- -print_final_stats=1 \
		  $(FUZZ_OUT)/vu-corpus selftests/fuzz/vu-corpus

.PHONY: fuzz-check fuzz fuzz-bin vu-fuzz-check

# The library objects only: no -fsanitize=fuzzer main() in them.
$(FUZZ_OUT)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -fsanitize=fuzzer%,$(FUZZ_CFLAGS)) $(NL_CFLAGS) \
		-fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<

# An archive, so that only the objects the target needs are linked.
$(FUZZ_LIB_A): $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BIN): selftests/fuzz/queue_fuzz.c $(FUZZ_LIB_A)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_A) $(NL_LIBS)

$(VU_FUZZ_BIN): selftests/fuzz/vhost_user_fuzz.c $(FUZZ_LIB_A)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LIB_A) $(NL_LIBS)

fuzz-bin: $(FUZZ_BIN) $(VU_FUZZ_BIN)

fuzz-check: $(FUZZ_BIN) $(VU_FUZZ_BIN)
	$(FUZZ_RUN) -max_total_time=$(FUZZ_CHECK_SECONDS)
	$(VU_FUZZ_RUN) -max_total_time=$(FUZZ_CHECK_SECONDS)

# Only the vhost-user target (not part of 'make check').
vu-fuzz-check: $(VU_FUZZ_BIN)
	$(VU_FUZZ_RUN) -max_total_time=$(FUZZ_CHECK_SECONDS)

fuzz: $(FUZZ_BIN) $(VU_FUZZ_BIN)
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)
	$(VU_FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)

-include $(FUZZ_LIB_OBJS:.o=.d)
