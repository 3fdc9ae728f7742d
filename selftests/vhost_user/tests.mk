# SPDX-License-Identifier: GPL-2.0
#
# tools/vhost-user-net (vdev-vhost-user-net) on the host, no front-end:
# its answers to bad input (selftests/vhost_user/vhost_user_net_args_test.sh).
# The script is installed next to the variant's build of the tool, which
# it runs: $(B)/tools/vdev-vhost-user-net.
HOST_TESTS += selftests/vhost_user/vhost_user_net_args_test
# The tool takes its signals on a thread of its own.
THREADED_TESTS += selftests/vhost_user/vhost_user_net_args_test

$(B)/selftests/vhost_user/vhost_user_net_args_test: selftests/vhost_user/vhost_user_net_args_test.sh $(B)/tools/vdev-vhost-user-net
	@mkdir -p $(dir $@)
	install -m 0755 $< $@
