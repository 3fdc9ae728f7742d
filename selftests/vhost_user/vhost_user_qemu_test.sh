#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/vhost_user/vhost_user_qemu_test.sh - Debian's Linux on Debian's
# QEMU (TCG: no /dev/kvm needed), its virtio-net served by vdev's
# vhost-user back-end tools/vhost-user-net (TAP output, kselftest style).
#
# Usage: selftests/vhost_user/vhost_user_qemu_test.sh    (from the
#        repository root, as root)
#
# The back-end (vdev-vhost-user-net) holds a persistent TAP of this test,
# bridged to a peer in a network namespace (selftests/vmm/vmm_lib.sh);
# QEMU (selftests/vhost_user/vu_lib.sh) boots .cache/guest-kernel's
# vmlinuz with the initramfs of scripts/mkinitramfs (init
# scripts/vmm-init), which pings the peer and reboots itself. Cases:
#   split    1 queue pair, split ring, VDEV_REBOOTS (10) guest reboots
#            inside one QEMU: the back-end sees the rings stop and start
#            again on one connection
#   packed   packed=on, 2 reboots: VIRTIO_F_RING_PACKED on every boot
#   mq       queues=2, 2 vCPUs, 1 reboot: both queue pairs carry pings
#   client   the back-end in client mode (--client), QEMU listening
#            (server=on), 1 reboot
#   restart  QEMU killed (SIGKILL) during the guest's pings, then started
#            again against the same back-end process: traffic again, and
#            the back-end's fds and threads (/proc/PID/fd, task) the same
#            with no front-end before, between and after the two QEMUs,
#            and the same at the two guests' first replies
# and checks, for each: every boot bound virtio_net, had every ping
# answered (traffic both ways through the back-end) and rebooted itself;
# one connection per QEMU (the reboots reuse it); the back-end's fds and
# threads at each boot's first reply the same as at boot 1's; the
# back-end still up when QEMU goes, then stopped by SIGTERM with exit
# status 0 and nothing on stderr.
#
# Waits are bounded waits for console and back-end lines (vu_wait), never
# fixed sleeps: VDEV_BOOT_TIMEOUT (60 s) per boot, 10 s for the back-end.
#
# When it sees the TAP reopen regression it prints the lines that the
# fault build's expected failure is judged by (runner-contract):
#   vdev-regression: EBUSY reopening TAP <name> (<case>)
#   vdev-regression: leaked fds <a> -> <b>, threads <c> -> <d> (<case>)
#
# Environment: VDEV_VU_TOOL (build/tools/vdev-vhost-user-net),
# VDEV_REBOOTS (10), VDEV_VU_CASES ("split packed mq client restart"),
# VDEV_VU_NETDEV=tap (QEMU's own virtio-net instead: the guest side on
# its own, no back-end; checks of the back-end skipped), VDEV_PINGS (10),
# VDEV_BOOT_TIMEOUT (60), VDEV_VU_KEEP=DIR (keep the logs there).

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
REBOOTS=${VDEV_REBOOTS:-10}
CASES=${VDEV_VU_CASES:-split packed mq client restart}
NETDEV=${VDEV_VU_NETDEV:-vu}
DEADLINE=${VDEV_BOOT_TIMEOUT:-60}
PINGS=${VDEV_PINGS:-10}
NAME=vdev-vhost-user-net

nr=0
fails=0
BPID=
boot_times=()
reboot_times=()

ok() {
	nr=$((nr + 1))
	echo "ok $nr $*"
}
not_ok() {
	nr=$((nr + 1))
	fails=$((fails + 1))
	echo "not ok $nr $*"
}
# check NAME WHY...: ok when WHY is empty.
check() {
	local name=$1

	shift
	if [ -z "$*" ]; then
		ok "$name"
	else
		not_ok "$name"
		echo "$*" | sed '/^$/d; s/^/# /'
	fi
}
backend_stop() {
	[ -n "$BPID" ] || return 0
	kill "$BPID" 2>/dev/null
	wait "$BPID" 2>/dev/null
	BPID=
}
cleanup() {
	vu_qemu_stop KILL
	backend_stop
	vl_net_down
	if [ -n "$VU_TMP" ]; then
		if [ -n "${VDEV_VU_KEEP:-}" ]; then
			mkdir -p "$VDEV_VU_KEEP" && cp "$VU_TMP"/* "$VDEV_VU_KEEP"/
		fi
		rm -rf "$VU_TMP"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# secs T0: seconds since the $EPOCHREALTIME T0.
secs() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# backend_start NAME QUEUES [--client]: the back-end in VL_NS, on VL_TAP,
# listening (or connecting) on $VU_TMP/NAME.sock; its stdout and stderr in
# NAME.be and NAME.be-err. Waits for its "listening" (server) or
# "connecting" (client) line.
backend_start() {
	local name=$1 q=$2 mode=${3:-} re

	: > "$VU_TMP/$name.be"
	nsenter --net="/run/netns/$VL_NS" "$TOOL" --socket "$VU_TMP/$name.sock" \
		--tap "$VL_TAP" --queues "$q" $mode \
		> "$VU_TMP/$name.be" 2> "$VU_TMP/$name.be-err" < /dev/null &
	BPID=$!
	re="^$NAME: listening on "
	[ -n "$mode" ] && re="^$NAME: connecting to "
	vu_wait "$VU_TMP/$name.be" "$re" 1 10 "$BPID"
}

# backend_report NAME: its output, as comments.
backend_report() {
	sed "s/^/# $1: back-end: /" "$VU_TMP/$1.be"
	sed "s/^/# $1: back-end stderr: /" "$VU_TMP/$1.be-err"
}

# regression NAME: the lines of the TAP reopen regression, when the
# back-end's output shows it.
ebusy_seen() {
	if grep -qiE 'EBUSY|busy' "$VU_TMP/$1.be" "$VU_TMP/$1.be-err"; then
		echo "vdev-regression: EBUSY reopening TAP $VL_TAP ($1)"
		grep -ihE -m 1 'EBUSY|busy' "$VU_TMP/$1.be" "$VU_TMP/$1.be-err" |
			sed "s/^/# $1: /"
	fi
}

# counts NAME ERE: "F T", the fds and threads on the back-end's first line
# matching ERE ("listening on", "connection 1: disconnected"): counted by
# the back-end itself with no device and no connection; "? ?" if none.
counts() {
	local l

	l=$(grep -m 1 -E -- "$2" "$VU_TMP/$1.be")
	if [[ "$l" =~ fds\ ([0-9]+),\ threads\ ([0-9]+) ]]; then
		echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
	else
		echo "? ?"
	fi
}

# judge_boots NAME UPTO: the reasons why boots 1..UPTO of NAME's console
# are not good boots (vl_boot_ok), and the vl_boots lines as comments.
judge_boots() {
	local name=$1 upto=$2 boots line b n

	boots=$(vl_boots "$VU_TMP/$name.serial")
	n=$(echo "$boots" | grep -c '^boot=')
	[ "$n" -ge "$upto" ] || echo "$n boots reached init, want $upto"
	while read -r line; do
		[ -n "$line" ] || continue
		b=$(vl_field "$line" boot)
		[ "$b" -le "$upto" ] || continue
		vl_boot_ok "$line" | sed "s/^/boot $b: /"
	done <<< "$boots"
}

# run_boots NAME QUEUES PACKED REBOOTS [--client]: one QEMU, REBOOTS
# guest reboots, the boot after the last one reaching init.
run_boots() {
	local name=$1 q=$2 packed=$3 reboots=$4 mode=${5:-} conns
	local serial=$VU_TMP/$name.serial b why t0 t1 rc line bits
	local fds=() tasks=() netdev=tap pids=() f0 t0n f1 t1n

	echo "# $name: $q queue pair(s), packed=$packed, $reboots reboots, netdev $NETDEV${mode:+ $mode}"
	vl_net_up "$q" || { not_ok "$name: network set-up"; return; }
	if [ "$NETDEV" = vu ]; then
		netdev=vu:$VU_TMP/$name.sock
		if [ -z "$mode" ]; then
			backend_start "$name" "$q" || {
				not_ok "$name: back-end listening"
				backend_report "$name"
				backend_stop
				vl_net_down
				return
			}
		else
			netdev=vu-server:$VU_TMP/$name.sock
		fi
	fi
	t0=$EPOCHREALTIME
	vu_qemu_start "$name" "$netdev" "$q" "$packed" "$PINGS"
	if [ "$NETDEV" = vu ] && [ -n "$mode" ]; then
		# QEMU listens before it starts the guest.
		vu_wait "$VU_TMP/$name.qemu" 'info: QEMU waiting for connection' 1 10 "$VU_QPID"
		backend_start "$name" "$q" "$mode" ||
			echo "# $name: no 'connecting' line from the back-end"
	fi
	pids=("$VU_QPID")
	[ -n "$BPID" ] && pids+=("$BPID")
	why=
	for ((b = 1; b <= reboots + 1; b++)); do
		vu_wait "$serial" 'vdev-init: start' "$b" "$DEADLINE" "${pids[@]}"
		rc=$?
		if [ $rc != 0 ]; then
			why="boot $b: no 'vdev-init: start' ($( [ $rc = 1 ] && echo "$DEADLINE s" || echo "a process exited"))"
			break
		fi
		t1=$EPOCHREALTIME
		if [ "$b" = 1 ]; then
			boot_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")
		else
			reboot_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")
		fi
		[ "$b" -le "$reboots" ] || break
		echo "# $name: boot $b at $(secs "$t0") s after the $( [ "$b" = 1 ] && echo start || echo reboot)"
		# The rings run from the first reply to the end of the
		# pings (PINGS * 0.1 s): the back-end's fds and threads then.
		if vu_wait "$serial" 'vdev-guest: first-reply' "$b" "$DEADLINE" "${pids[@]}" &&
		   [ -n "$BPID" ]; then
			fds[b]=$(vu_nfds "$BPID")
			tasks[b]=$(vu_ntasks "$BPID")
		fi
		vu_wait "$serial" 'vdev-guest: reboot ' "$b" "$DEADLINE" "${pids[@]}" || {
			why="boot $b: no reboot line in $DEADLINE s"
			break
		}
		t0=$EPOCHREALTIME
	done
	check "$name: QEMU boots $((reboots + 1)) times, the guest rebooting itself" "$why"
	check "$name: every boot binds virtio_net, pings both ways, reboots itself" \
		"$(judge_boots "$name" "$reboots")"
	vl_boots "$serial" | sed "s/^/# $name: /"

	case $name in
	packed|split)
		why=$(vl_boots "$serial" | while read -r line; do
			b=$(vl_field "$line" boot)
			[ "$b" -le "$reboots" ] || continue
			bits=$(vl_field "$line" features)
			want=0
			[ "$packed" = on ] && want=1
			[ "${bits:34:1}" = "$want" ] ||
				echo "boot $b: feature bit 34 (RING_PACKED) is '${bits:34:1}', want $want"
		done)
		check "$name: VIRTIO_F_RING_PACKED $( [ "$packed" = on ] && echo negotiated || echo not negotiated) on every boot" "$why"
		;;
	mq)
		why=$(vl_boots "$serial" | while read -r line; do
			b=$(vl_field "$line" boot)
			[ "$b" -le "$reboots" ] || continue
			[ "$(vl_field "$line" queues)" = "$q" ] ||
				echo "boot $b: $(vl_field "$line" queues) queue pairs in use, want $q"
		done)
		check "$name: the guest uses $q queue pairs" "$why"
		;;
	esac

	# Connections made while QEMU ran: a reboot that reconnected would
	# show here. A client-mode back-end reconnects as soon as QEMU
	# closes, and may reach QEMU's socket before QEMU is gone ("0
	# messages", reset by peer): those come after the stop, not counted.
	conns=0
	[ -z "$BPID" ] ||
		conns=$(grep -c "^$NAME: connection [0-9]*: connected" "$VU_TMP/$name.be")
	vu_qemu_stop TERM
	if [ -z "$BPID" ]; then
		vl_net_down
		return
	fi
	why=
	vu_wait "$VU_TMP/$name.be" "^$NAME: connection 1: disconnected" 1 10 "$BPID" ||
		why="no 'connection 1: disconnected' line after QEMU quit"
	[ "$conns" = 1 ] ||
		why="$why${why:+; }$conns connections while QEMU ran, want 1 (the reboots reuse it)"
	kill -0 "$BPID" 2>/dev/null || why="$why${why:+; }the back-end exited with QEMU"
	check "$name: one connection for the $reboots reboots, the back-end up after QEMU quit" "$why"

	case $name in
	mq)
		# The guest's pings leave from one CPU per pair (XPS): each
		# of its transmit rings must have carried frames to the
		# back-end. (The TAP answers one flow on one queue.)
		line=$(grep -m 1 "^$NAME: connection 1: frames " "$VU_TMP/$name.be")
		why=
		for ((b = 0; b < q; b++)); do
			[[ "$line" =~ tx_frames_q$b=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] ||
				why="$why${why:+; }no frames from the guest on transmit ring $b: '${line#*: frames }'"
		done
		check "$name: the back-end moved frames on all $q transmit rings" "$why"
		;;
	esac

	why=
	for ((b = 2; b <= reboots; b++)); do
		[ -n "${fds[b]:-}" ] || { why="boot $b: not sampled"; break; }
		if [ "${fds[b]}" != "${fds[1]}" ] || [ "${tasks[b]}" != "${tasks[1]}" ]; then
			why="the back-end at the first reply of boots 1 and $b: fds ${fds[1]} -> ${fds[b]}, threads ${tasks[1]} -> ${tasks[b]}"
			echo "vdev-regression: leaked fds ${fds[1]} -> ${fds[b]}, threads ${tasks[1]} -> ${tasks[b]} ($name, boot $b)"
			break
		fi
	done
	echo "# $name: the back-end's fds at each first reply: ${fds[*]}; threads: ${tasks[*]}"
	check "$name: the back-end's fds and threads flat over the reboots" "$why"
	read -r f0 t0n <<< "$(counts "$name" "^$NAME: (listening on|connecting to) ")"
	read -r f1 t1n <<< "$(counts "$name" "^$NAME: connection 1: disconnected")"
	why=
	if [ "$f0/$t0n" != "$f1/$t1n" ]; then
		why="the back-end's own count with no device: fds $f0 -> $f1, threads $t0n -> $t1n"
		echo "vdev-regression: leaked fds $f0 -> $f1, threads $t0n -> $t1n ($name, connection 1)"
	fi
	check "$name: the back-end's fds and threads the same before and after the connection" "$why"
	ebusy_seen "$name"

	kill "$BPID" 2>/dev/null
	wait "$BPID"
	rc=$?
	BPID=
	why=
	[ "$rc" = 0 ] || why="exit status $rc"
	[ -s "$VU_TMP/$name.be-err" ] && why="$why${why:+; }stderr not empty"
	check "$name: the back-end stops on SIGTERM, exit 0, stderr empty" "$why"
	backend_report "$name"
	vl_net_down
}

# run_restart: QEMU killed during traffic, QEMU again, same back-end.
run_restart() {
	local name=restart serial t0 rx0 why rc f0 t0n f1 t1n f2 t2n fa ta fb tb

	echo "# $name: QEMU killed (SIGKILL) during the pings, then started again"
	vl_net_up 1 || { not_ok "$name: network set-up"; return; }
	if [ "$NETDEV" != vu ]; then
		echo "# $name: needs the vhost-user back-end (VDEV_VU_NETDEV=$NETDEV)"
		vl_net_down
		return
	fi
	backend_start "$name" 1 || {
		not_ok "$name: back-end listening"
		backend_report "$name"
		backend_stop
		vl_net_down
		return
	}
	read -r f0 t0n <<< "$(counts "$name" "^$NAME: listening on ")"

	# QEMU 1: 300 pings (30 s): killed once frames flow.
	serial=$VU_TMP/$name.1.serial
	vu_qemu_start "$name.1" "vu:$VU_TMP/$name.sock" 1 off 300
	why=
	if vu_wait "$serial" 'vdev-guest: first-reply' 1 "$DEADLINE" "$VU_QPID" "$BPID"; then
		fa=$(vu_nfds "$BPID")
		ta=$(vu_ntasks "$BPID")
		rx0=$(vl_tap_rx)
		# Bounded: 20 more frames from the guest within 10 s.
		for _ in $(seq 100); do
			[ $(($(vl_tap_rx) - rx0)) -ge 20 ] && break
			sleep 0.1
		done
		[ $(($(vl_tap_rx) - rx0)) -ge 20 ] ||
			why="fewer than 20 frames from the guest in 10 s after its first reply"
	else
		why="guest 1: no first reply in $DEADLINE s"
	fi
	vu_qemu_stop KILL
	check "$name: guest 1 pings through the back-end, QEMU killed meanwhile" "$why"

	why=
	vu_wait "$VU_TMP/$name.be" "^$NAME: connection 1: disconnected" 1 10 "$BPID" ||
		why="no 'connection 1: disconnected' line in 10 s after SIGKILL"
	kill -0 "$BPID" 2>/dev/null || why="$why${why:+; }the back-end exited"
	check "$name: the back-end sees QEMU go and stays up" "$why"
	read -r f1 t1n <<< "$(counts "$name" "^$NAME: connection 1: disconnected")"

	# QEMU 2: a whole boot against the same back-end.
	serial=$VU_TMP/$name.2.serial
	t0=$EPOCHREALTIME
	vu_qemu_start "$name.2" "vu:$VU_TMP/$name.sock" 1 off "$PINGS"
	why=
	if vu_wait "$serial" 'vdev-guest: first-reply' 1 "$DEADLINE" "$VU_QPID" "$BPID"; then
		fb=$(vu_nfds "$BPID")
		tb=$(vu_ntasks "$BPID")
	fi
	vu_wait "$serial" 'vdev-guest: reboot ' 1 "$DEADLINE" "$VU_QPID" "$BPID" ||
		why="guest 2: no reboot line in $DEADLINE s"
	why=$(printf '%s\n%s' "$why" "$(judge_boots "$name.2" 1)")
	vu_qemu_stop TERM
	check "$name: guest 2 on the same back-end binds virtio_net, pings both ways, reboots" "$why"
	vl_boots "$serial" | sed "s/^/# $name.2: /"
	ebusy_seen "$name"

	why=
	vu_wait "$VU_TMP/$name.be" "^$NAME: connection 2: disconnected" 1 10 "$BPID" ||
		why="no 'connection 2: disconnected' line"
	read -r f2 t2n <<< "$(counts "$name" "^$NAME: connection 2: disconnected")"
	echo "# $name: the back-end's fds/threads: no device $f0/$t0n, guest 1 ${fa:-?}/${ta:-?}, no device after SIGKILL $f1/$t1n, guest 2 ${fb:-?}/${tb:-?}, no device after guest 2 $f2/$t2n"
	if [ "$f1/$t1n" != "$f0/$t0n" ]; then
		why="$why${why:+; }with no device fds $f0 -> $f1, threads $t0n -> $t1n after guest 1"
		echo "vdev-regression: leaked fds $f0 -> $f1, threads $t0n -> $t1n ($name, QEMU killed)"
	elif [ "$f2/$t2n" != "$f0/$t0n" ]; then
		why="$why${why:+; }with no device fds $f0 -> $f2, threads $t0n -> $t2n after guest 2"
		echo "vdev-regression: leaked fds $f0 -> $f2, threads $t0n -> $t2n ($name, after guest 2)"
	elif [ "${fa:-x}" != "${fb:-y}" ] || [ "${ta:-x}" != "${tb:-y}" ]; then
		why="$why${why:+; }at the first reply fds ${fa:-?} -> ${fb:-?}, threads ${ta:-?} -> ${tb:-?}"
		echo "vdev-regression: leaked fds ${fa:-?} -> ${fb:-?}, threads ${ta:-?} -> ${tb:-?} ($name)"
	fi
	check "$name: the back-end's fds and threads flat over the restart" "$why"

	kill "$BPID" 2>/dev/null
	wait "$BPID"
	rc=$?
	BPID=
	why=
	[ "$rc" = 0 ] || why="exit status $rc"
	[ -s "$VU_TMP/$name.be-err" ] && why="$why${why:+; }stderr not empty"
	check "$name: the back-end stops on SIGTERM, exit 0, stderr empty" "$why"
	backend_report "$name"
	vl_net_down
}

echo "TAP version 13"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (TAP, namespaces)"; exit 4; }
command -v qemu-system-x86_64 > /dev/null ||
	{ echo "1..1"; echo "not ok 1 qemu-system-x86_64 missing (scripts/setup-deps)"; exit 1; }
[ "$NETDEV" = tap ] || [ -x "$TOOL" ] ||
	{ echo "1..1"; echo "not ok 1 $TOOL missing (make VARIANT=plain tools)"; exit 1; }
[ -f "$VU_KERNEL" ] || { echo "1..1"; echo "not ok 1 guest kernel $VU_KERNEL missing (scripts/setup-deps)"; exit 1; }
VU_IMG=$("$ROOT/scripts/mkinitramfs") || { echo "1..1"; echo "not ok 1 scripts/mkinitramfs failed"; exit 1; }
VU_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vhost_user_qemu.XXXXXX") || exit 1
for c in $CASES; do
	case $c in
	split|packed|mq|client|restart) ;;
	*) echo "1..1"; echo "not ok 1 VDEV_VU_CASES: unknown case '$c'"; exit 1 ;;
	esac
done

echo "# $TOOL, QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version //p'), TCG, kernel $VU_KVER, deadline $DEADLINE s per boot"
for c in $CASES; do
	tc=$EPOCHREALTIME
	case $c in
	split) run_boots split 1 off "$REBOOTS" ;;
	packed) run_boots packed 1 on 2 ;;
	mq) run_boots mq 2 off 1 ;;
	client) run_boots client 1 off 1 --client ;;
	restart) run_restart ;;
	esac
	echo "# $c: $(secs "$tc") s"
done
[ ${#boot_times[@]} = 0 ] || echo "# QEMU start to init: ${boot_times[*]} s"
[ ${#reboot_times[@]} = 0 ] || echo "# guest reboot line to the next init: ${reboot_times[*]} s"

echo "1..$nr"
echo "# $((nr - fails)) passed, $fails failed"
[ "$fails" = 0 ]
exit
}
