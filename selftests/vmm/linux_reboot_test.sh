#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/vmm/linux_reboot_test.sh - Debian's Linux on vdev-vmm,
# rebooted through the guest (TAP output, kselftest style).
#
# Usage: selftests/vmm/linux_reboot_test.sh    (from the repository root,
#        as root, where /dev/kvm runs guests: scripts/vmtest --cmd)
#
# Boots .cache/guest-kernel's vmlinux with the initramfs of
# scripts/mkinitramfs (init scripts/vmm-init) on vdev-vmm, whose virtio-net
# holds a persistent TAP of this test, bridged to a peer in a network
# namespace (selftests/vmm/vmm_lib.sh), three times:
#   split   1 vCPU, 1 queue pair, split ring, VDEV_REBOOTS reboots (10)
#   packed  packed=on, 2 reboots: feature bit 34 negotiated on every boot
#   mq      2 vCPUs, queues=2, 1 reboot: 2 queue pairs, and interrupts on
#           both rx and both tx vectors during the pings
# and checks, for each: vdev-vmm exits 0 after its reboots; every boot
# reached init, bound virtio_net, had every ping answered (traffic both
# ways) and rebooted itself; the reboot count; EBUSY 0 in vdev-vmm's table;
# fds and threads flat (the table's before/after, and this test's own
# count of the VMM's /proc/PID/fd and task: the peak of every boot);
# guest RAM on 2 MiB pages at the end of every boot where the host has
# shmem huge pages on (scripts/vmtest does; elsewhere a SKIP that says so).
#
# Every boot has a deadline (VDEV_BOOT_TIMEOUT, 120 s: vdev-vmm's
# --boot-timeout, and this test's own watchdog 30 s later). A guest that
# misses it is "# guest hung at boot N", not a vdev failure: the test exits
# 2 then (1 for a vdev failure, which wins if both happen), and nothing is
# retried.
#
# When it sees the TAP reopen regression it prints the lines that the
# fault build's expected failure is judged by (runner-contract):
#   vdev-regression: EBUSY reopening TAP <name> (cycle <n>)
#   vdev-regression: leaked fds <a> -> <b>, threads <c> -> <d> (cycle <n>)
#
# Environment: VDEV_VMM (build/tools/vdev-vmm), VDEV_REBOOTS (10; 200 on
# demand), VDEV_VMM_CASES ("split packed mq"), VDEV_BOOT_TIMEOUT (120),
# VDEV_PINGS (pings per queue pair and boot, 10), VDEV_VMM_KEEP=DIR (keep
# the serial logs and vdev-vmm's output there).

# The whole script is one compound command, read before it runs.
{
set -uo pipefail
# An exiting VMM's empty /proc/PID/fd counts 0, not 1.
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=selftests/vmm/vmm_lib.sh
. "$ROOT/selftests/vmm/vmm_lib.sh"

VMM=$(realpath -m "${VDEV_VMM:-$ROOT/build/tools/vdev-vmm}")
REBOOTS=${VDEV_REBOOTS:-10}
CASES=${VDEV_VMM_CASES:-split packed mq}
DEADLINE=${VDEV_BOOT_TIMEOUT:-120}
PINGS=${VDEV_PINGS:-10}
THP_KNOB=/sys/kernel/mm/transparent_hugepage/shmem_enabled
# A booted guest has touched well over this much of its 256 MiB.
HUGE_MIN_MIB=32
KVER=$(cat "$ROOT/.cache/guest-kernel/.vdev-unpacked" 2>/dev/null)
KERNEL=$ROOT/.cache/guest-kernel/boot/vmlinux-$KVER

nr=0
fails=0
hangs=0
tmp=

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
		echo "$*" | sed 's/^/# /'
	fi
}
cleanup() {
	vl_net_down
	if [ -n "$tmp" ]; then
		if [ -n "${VDEV_VMM_KEEP:-}" ]; then
			mkdir -p "$VDEV_VMM_KEEP" && cp "$tmp"/* "$VDEV_VMM_KEEP"/
		fi
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# table FILE KEY: the number(s) after KEY on the line of vdev-vmm's
# summary table that starts with KEY ("ebusy 0", "fds 12 -> 12").
table() {
	tr -d '\r' < "$1" | awk -v key="$2" '
	{ line = tolower($0); sub(/^(vdev-vmm:)?[ \t|]*/, "", line) }
	index(line, key) == 1 {
		out = ""
		rest = substr(line, length(key) + 1)
		while (match(rest, /[0-9]+(\.[0-9]+)?/)) {
			out = out (out == "" ? "" : " ") substr(rest, RSTART, RLENGTH)
			rest = substr(rest, RSTART + RLENGTH)
		}
		print out
		exit
	}'
}

# run_case NAME QUEUES CPUS PACKED REBOOTS
run_case() {
	local name=$1 q=$2 cpus=$3 packed=$4 reboots=$5
	local serial=$tmp/$name.serial out=$tmp/$name.out
	local pid rc t_last now seen=0 hung=0 why line boots n fdl thl
	local fds=() tasks=() eb fd th rb bits b k i

	echo "# $name: $q queue pair(s), $cpus vCPU(s), packed=$packed, $reboots reboots"
	vl_net_up "$q" || { not_ok "$name: network set-up"; return; }
	: > "$serial"
	# Not through a function: $! must be the VMM itself (ip netns exec
	# execs it), whose /proc/PID this test counts.
	ip netns exec "$VL_NS" "$VMM" --kernel "$KERNEL" --initrd "$IMG" \
		--cmdline "$(vl_cmdline "$PINGS")" --mem 256 --cpus "$cpus" \
		--net "tap=$VL_TAP,queues=$q,packed=$packed" \
		--reboots "$reboots" --serial "$serial" \
		--boot-timeout "$DEADLINE" > "$out" 2>&1 < /dev/null &
	pid=$!
	t_last=${EPOCHREALTIME%.*}
	# Watch the boots: a deadline from each reboot to the next, and the
	# VMM's fds and threads at their peak during each boot (the serial
	# file is written in blocks, vdev-vmm's boot lines as they happen:
	# boot k runs while k - 1 of them are out).
	while kill -0 "$pid" 2>/dev/null; do
		now=${EPOCHREALTIME%.*}
		n=$(grep -c 'vdev-guest: reboot' "$serial")
		if [ "$n" != "$seen" ]; then
			seen=$n
			t_last=$now
			# Progress on the console: scripts/vmtest takes a
			# silent emulated machine for a frozen one.
			echo "# $name: guest reboot $n of $reboots"
		fi
		k=$(grep -c '^vdev-vmm: boot [0-9]*:' "$out")
		fdl=(/proc/"$pid"/fd/*)
		thl=(/proc/"$pid"/task/*)
		[ "${#fdl[@]}" -le "${fds[k]:-0}" ] || fds[k]=${#fdl[@]}
		[ "${#thl[@]}" -le "${tasks[k]:-0}" ] || tasks[k]=${#thl[@]}
		if [ $((now - t_last)) -gt $((DEADLINE + 30)) ]; then
			hung=$((seen + 1))
			kill "$pid"
			sleep 1
			kill -9 "$pid" 2>/dev/null
			break
		fi
		sleep 0.5
	done
	wait "$pid"
	rc=$?
	sed "s/^/# $name: /" "$out"
	boots=$(vl_boots "$serial")

	# vdev-vmm's own hang report (exit 2) or this test's watchdog.
	if [ "$hung" = 0 ] && [ "$rc" = 2 ]; then
		hung=$(sed -n 's/.*boot \([0-9]*\): guest hung.*/\1/p' "$out" | head -n 1)
		hung=${hung:-$((seen + 1))}
	fi
	if [ "$hung" != 0 ]; then
		hangs=$((hangs + 1))
		echo "# guest hung at boot $hung (no reboot within $DEADLINE s): not counted as a vdev failure"
		tail -n 15 "$serial" | tr -d '\r' | sed "s/^/# $name: serial: /"
		nr=$((nr + 1))
		echo "not ok $nr $name: guest hung at boot $hung # the rest of $name not run"
		vl_net_down
		return
	fi

	why=
	[ "$rc" = 0 ] || why="vdev-vmm exit status $rc"
	check "$name: vdev-vmm runs $reboots reboots and exits 0" "$why"

	why=
	n=$(echo "$boots" | grep -c '^boot=')
	[ "$n" -ge "$reboots" ] || why="$n boots reached init, want $reboots"
	while read -r line; do
		[ -n "$line" ] || continue
		b=$(vl_field "$line" boot)
		# The VMM may stop right after its last reboot, or while the
		# boot after it runs: that one is not judged.
		[ "$b" -le "$reboots" ] || continue
		vl_boot_ok "$line" | sed "s/^/boot $b: /"
	done <<< "$boots" > "$tmp/why"
	why=$(printf '%s\n%s' "$why" "$(cat "$tmp/why")" | sed '/^$/d')
	check "$name: every boot binds virtio_net, pings both ways, reboots itself" "$why"
	echo "$boots" | sed "s/^/# $name: /"

	why=
	read -r rb _ <<< "$(table "$out" reboots)"
	[ "${rb:-0}" -ge "$reboots" ] 2>/dev/null ||
		why="vdev-vmm's table: reboots '${rb}', want $reboots"
	[ "$(echo "$boots" | grep -c 'reboot=1')" -ge "$reboots" ] ||
		why="$why${why:+; }$(echo "$boots" | grep -c 'reboot=1') reboots started by the guest"
	check "$name: $reboots reboots started by the guest" "$why"

	why=
	eb=$(table "$out" ebusy)
	if [ -z "$eb" ]; then
		why="no EBUSY row in vdev-vmm's table"
	elif [ "$eb" != 0 ]; then
		why="EBUSY $eb"
		n=$(grep -i -m 1 -o 'boot [0-9]*:.*ebusy' "$out" | sed -n 's/^boot \([0-9]*\):.*/\1/p')
		echo "vdev-regression: EBUSY reopening TAP $VL_TAP (cycle ${n:-?})"
	fi
	check "$name: EBUSY 0" "$why"

	why=
	read -r fd fd2 _ <<< "$(table "$out" fds)"
	read -r th th2 _ <<< "$(table "$out" threads)"
	if [ -z "${fd2:-}" ] || [ -z "${th2:-}" ]; then
		why="no fds/threads before and after in vdev-vmm's table"
	elif [ "$fd" != "$fd2" ] || [ "$th" != "$th2" ]; then
		why="vdev-vmm's table: fds $fd -> $fd2, threads $th -> $th2"
		echo "vdev-regression: leaked fds $fd -> $fd2, threads $th -> $th2 (cycle $(echo "$boots" | grep -c '^boot='))"
	fi
	# The peak of boots 2 to reboots against boot 1's (index k: boot
	# k + 1).
	if [ "$reboots" -ge 2 ] && [ -n "${fds[0]:-}" ]; then
		for ((i = 1; i < reboots; i++)); do
			[ -n "${fds[i]:-}" ] || break
			[ "${fds[i]}" = "${fds[0]}" ] && [ "${tasks[i]:-x}" = "${tasks[0]}" ] && continue
			why="$why${why:+; }this test's count of the VMM's peak during boots 1 and $((i + 1)): fds ${fds[0]} -> ${fds[i]}, threads ${tasks[0]} -> ${tasks[i]}"
			echo "vdev-regression: leaked fds ${fds[0]} -> ${fds[i]}, threads ${tasks[0]} -> ${tasks[i]} (cycle $i)"
			break
		done
		echo "# $name: the VMM's peak fds per boot: ${fds[*]}; threads: ${tasks[*]}"
	fi
	check "$name: fds and threads flat" "$why"

	# Guest RAM on huge pages where the host has them for shmem
	# (scripts/vmtest turns them on): KVM then maps it 2 MiB at a time.
	why=
	thp=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$THP_KNOB" 2>/dev/null)
	case $thp in
	advise|always|within_size)
		read -r hmin _ <<< "$(table "$out" "ram in 2 mib pages")"
		if [ -z "$hmin" ]; then
			why="no 'RAM in 2 MiB pages' row in vdev-vmm's table"
		elif awk -v v="$hmin" -v w="$HUGE_MIN_MIB" 'BEGIN { exit !(v < w) }'; then
			why="guest RAM in 2 MiB pages at the end of a boot: min $hmin MiB, want at least $HUGE_MIN_MIB"
		fi
		check "$name: guest RAM mapped 2 MiB at a time (shmem_enabled $thp)" "$why"
		;;
	*)
		nr=$((nr + 1))
		echo "ok $nr $name: guest RAM mapped 2 MiB at a time # SKIP shmem_enabled is '${thp:-unknown}' here"
		;;
	esac

	case $name in
	split|packed)
		why=
		while read -r line; do
			[ -n "$line" ] || continue
			b=$(vl_field "$line" boot)
			[ "$b" -le "$reboots" ] || continue
			bits=$(vl_field "$line" features)
			want=0
			[ "$packed" = on ] && want=1
			[ "${bits:34:1}" = "$want" ] ||
				echo "boot $b: feature bit 34 (RING_PACKED) is '${bits:34:1}', want $want"
		done <<< "$boots" > "$tmp/why"
		check "$name: VIRTIO_F_RING_PACKED $( [ "$packed" = on ] && echo negotiated || echo not negotiated) on every boot" "$(cat "$tmp/why")"
		;;
	mq)
		why=
		while read -r line; do
			[ -n "$line" ] || continue
			b=$(vl_field "$line" boot)
			[ "$b" -le "$reboots" ] || continue
			[ "$(vl_field "$line" queues)" = "$q" ] ||
				echo "boot $b: $(vl_field "$line" queues) queue pairs in use, want $q"
			[ "$(vl_field "$line" rxq)" = "$q" ] && [ "$(vl_field "$line" txq)" = "$q" ] ||
				echo "boot $b: interrupts on $(vl_field "$line" rxq) rx and $(vl_field "$line" txq) tx queues, want $q each"
		done <<< "$boots" > "$tmp/why"
		check "$name: the guest uses $q queue pairs" "$(cat "$tmp/why")"
		;;
	esac
	vl_net_down
}

echo "TAP version 13"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (TAP, namespaces)"; exit 4; }
[ -x "$VMM" ] || { echo "1..1"; echo "not ok 1 $VMM missing (make VARIANT=plain tools)"; exit 1; }
[ -f "$KERNEL" ] || { echo "1..1"; echo "not ok 1 guest kernel $KERNEL missing (scripts/setup-deps)"; exit 1; }
IMG=$("$ROOT/scripts/mkinitramfs") || { echo "1..1"; echo "not ok 1 scripts/mkinitramfs failed"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/linux_reboot.XXXXXX") || exit 1

for c in $CASES; do
	case $c in
	split|packed|mq) ;;
	*) echo "1..1"; echo "not ok 1 VDEV_VMM_CASES: unknown case '$c'"; exit 1 ;;
	esac
done
echo "# $VMM, kernel $KVER, initramfs ${IMG#"$ROOT"/}, deadline $DEADLINE s per boot"
for c in $CASES; do
	t0=$EPOCHREALTIME
	case $c in
	split) run_case split 1 1 off "$REBOOTS" ;;
	packed) run_case packed 1 1 on 2 ;;
	mq) run_case mq 2 2 off 1 ;;
	esac
	echo "# $c: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
done

# The plan comes last: a hung case stops after one result.
echo "1..$nr"
echo "# $((nr - fails - hangs)) passed, $fails failed, $hangs guest hang(s)"
[ "$fails" = 0 ] || exit 1
[ "$hangs" = 0 ] || exit 2
exit 0
}
