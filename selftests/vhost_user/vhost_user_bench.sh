#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/vhost_user/vhost_user_bench.sh - frames per second between
# Debian's Linux on Debian's QEMU (TCG) and a peer, through vdev's
# vhost-user back-end and through QEMU's own virtio-net on a TAP, in the
# same QEMU set-up and the same run ('make bench', not a test).
#
# Usage: selftests/vhost_user/vhost_user_bench.sh    (as root)
#
# For each back-end in turn, on a fresh TAP bridged to a peer
# (selftests/vmm/vmm_lib.sh) and one QEMU (selftests/vhost_user/vu_lib.sh:
# 1 vCPU, 256 MiB of memfd RAM, virtio-net-pci with one queue pair, split
# ring, INTx):
#   vdev   -netdev vhost-user, build/tools/vdev-vhost-user-net on the TAP
#   qemu   -netdev tap,vhost=off: QEMU's own virtio-net device
# the guest (scripts/vmm-init with vdev.hold) pings the peer, then stays
# up; the peer floods it with ICMP echo requests (ping -f, VDEV_BENCH_
# PRELOAD in flight, VDEV_BENCH_SECS seconds). Frames per second are the
# echo requests answered, times two (the request to the guest, its reply
# from it), over the flood's own duration. Meanwhile the CPU time of
# QEMU (the guest's vCPU and QEMU's own device emulation) and of the
# back-end process is read from /proc/PID/stat: with TCG the emulated
# guest is expected to be the bottleneck, and these numbers say whether
# it was. Prints one line per back-end and the ratio vdev / qemu.
#
# Environment: VDEV_VU_TOOL, VDEV_BENCH_SECS (10), VDEV_BENCH_PRELOAD (64),
# VDEV_BENCH_RUNS (2: each back-end that many times, alternating),
# VDEV_BOOT_TIMEOUT (60). Exit status 0 when every run measured, 1
# otherwise.

# The whole script is one compound command, read before it runs.
{
set -uo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=selftests/vmm/vmm_lib.sh
. "$ROOT/selftests/vmm/vmm_lib.sh"
# shellcheck source=selftests/vhost_user/vu_lib.sh
. "$ROOT/selftests/vhost_user/vu_lib.sh"

TOOL=$(realpath -m "${VDEV_VU_TOOL:-$ROOT/build/tools/vdev-vhost-user-net}")
SECS=${VDEV_BENCH_SECS:-10}
PRELOAD=${VDEV_BENCH_PRELOAD:-64}
RUNS=${VDEV_BENCH_RUNS:-2}
DEADLINE=${VDEV_BOOT_TIMEOUT:-60}
BPID=

die() { echo "vhost-user-bench: ERROR: $*" >&2; exit 1; }
say() { echo "vhost-user-bench: $*"; }

cleanup() {
	vu_qemu_stop KILL
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	vl_net_down
	[ -n "$VU_TMP" ] && rm -rf "$VU_TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (TAP, network namespaces)"
[ -x "$TOOL" ] || die "$TOOL missing: make VARIANT=plain vhost-user-net"
command -v qemu-system-x86_64 > /dev/null || die "qemu-system-x86_64 missing (scripts/setup-deps)"
command -v ping > /dev/null || die "ping missing (iputils-ping, scripts/setup-deps)"
[ -f "$VU_KERNEL" ] || die "guest kernel $VU_KERNEL missing: scripts/setup-deps"
VU_IMG=$("$ROOT/scripts/mkinitramfs") || exit 1
VU_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vhost-user-bench.XXXXXX") || die "mktemp failed"

# cpu PID: its user + system time so far, in clock ticks (0 if gone).
cpu() {
	local s

	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# Fields 14 and 15 of stat(5), 12 and 13 after "pid (comm) ".
	set -- $s
	echo $(( ${12} + ${13} ))
}

# run NAME BACKEND: one measurement; appends "NAME FPS QEMU% BE%" to
# $VU_TMP/results.
run() {
	local name=$1 be=$2 netdev=tap t0 t1 q0 q1 b0 b1 out sent got hz
	local fps qp bp

	vl_net_up 1 || return 1
	if [ "$be" = vdev ]; then
		netdev=vu:$VU_TMP/$name.sock
		nsenter --net="/run/netns/$VL_NS" "$TOOL" --socket "$VU_TMP/$name.sock" \
			--tap "$VL_TAP" > "$VU_TMP/$name.be" 2>&1 < /dev/null &
		BPID=$!
		vu_wait "$VU_TMP/$name.be" "listening on " 1 10 "$BPID" ||
			{ say "$name: back-end not listening"; cat "$VU_TMP/$name.be"; return 1; }
	fi
	vu_qemu_start "$name" "$netdev" 1 off 10 "vdev.hold=$((SECS + 30))"
	if ! vu_wait "$VU_TMP/$name.serial" 'vdev-guest: hold ' 1 "$DEADLINE" "$VU_QPID" ${BPID:+"$BPID"}; then
		say "$name: the guest did not come up (no 'hold' line in $DEADLINE s)"
		tail -n 5 "$VU_TMP/$name.serial" | sed "s/^/vhost-user-bench: $name: serial: /"
		return 1
	fi
	q0=$(cpu "$VU_QPID")
	b0=$( [ -n "$BPID" ] && cpu "$BPID" || echo 0)
	t0=$EPOCHREALTIME
	out=$(vl_ns "$VL_PEER_NS" ping -f -q -l "$PRELOAD" -w "$SECS" \
		"$VL_GUEST_IP" 2>&1)
	t1=$EPOCHREALTIME
	q1=$(cpu "$VU_QPID")
	b1=$( [ -n "$BPID" ] && cpu "$BPID" || echo 0)
	vu_qemu_stop TERM
	if [ -n "$BPID" ]; then
		kill "$BPID" 2>/dev/null
		wait "$BPID" 2>/dev/null
		BPID=
	fi
	vl_net_down
	sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1/p')
	got=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\2/p')
	[ -n "$got" ] && [ "$got" -gt 0 ] ||
		{ say "$name: no echo replies: $out"; return 1; }
	hz=$(getconf CLK_TCK)
	read -r fps qp bp <<< "$(awk -v g="$got" -v a="$t0" -v b="$t1" \
		-v q="$((q1 - q0))" -v be="$((b1 - b0))" -v hz="$hz" 'BEGIN {
		d = b - a
		printf "%.0f %.0f %.0f\n", 2 * g / d, 100 * q / hz / d, 100 * be / hz / d }')"
	say "$(printf '%-5s %8s frames/s (%s of %s echo requests answered in %.1f s); CPU: QEMU %s%%, back-end %s%%' \
		"$be" "$fps" "$got" "$sent" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$qp" \
		"$( [ "$be" = vdev ] && echo "$bp" || echo "-")")"
	echo "$be $fps $qp $bp" >> "$VU_TMP/results"
}

say "Debian $VU_KVER on QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') (TCG, 1 vCPU, 256 MiB), virtio-net-pci split ring, INTx; ping -f -l $PRELOAD for $SECS s from the peer, $RUNS run(s) each"
rc=0
: > "$VU_TMP/results"
for ((i = 1; i <= RUNS; i++)); do
	run "vdev$i" vdev || rc=1
	run "qemu$i" qemu || rc=1
done
mine=$(awk '$1 == "vdev" { s += $2; n++ } END { if (n) printf "%.0f", s / n }' "$VU_TMP/results")
theirs=$(awk '$1 == "qemu" { s += $2; n++ } END { if (n) printf "%.0f", s / n }' "$VU_TMP/results")
if [ -n "$mine" ] && [ -n "$theirs" ] && [ "$theirs" -gt 0 ]; then
	say "ratio frames/s, vdev-vhost-user-net / QEMU's -netdev tap: $(awk -v a="$mine" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }') ($mine / $theirs)"
	awk '$1 == "vdev" { q += $3; b += $4; n++ } END {
		if (n) printf "vhost-user-bench: with vdev, QEMU (the TCG guest) used %.0f%% of a CPU and the back-end %.0f%%: ", q / n, b / n
		if (n && q / n >= 80) print "the emulated guest is the bottleneck"
		else if (n) print "the guest is not saturated (the host is loaded, or the back-end waits)"
	}' "$VU_TMP/results"
fi
exit "$rc"
}
