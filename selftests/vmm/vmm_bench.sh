#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/vmm/vmm_bench.sh - boot and reboot times of Debian's Linux on
# vdev-vmm and on Debian's QEMU, side by side ('make bench', not a test).
#
# Usage: selftests/vmm/vmm_bench.sh    (as root where /dev/kvm runs guests;
#        'make bench-vmm' gets there through scripts/vmtest)
#
# The same kernel (.cache/guest-kernel's vmlinux, PVH entry) and initramfs
# (scripts/mkinitramfs) boot, one after the other, on
#   vdev-vmm       build/tools/vdev-vmm, 1 vCPU, 256 MiB, split ring (as
#                  QEMU's default)
#   qemu           qemu-system-x86_64 -accel kvm -cpu host (the default
#                  machine, SeaBIOS), -netdev tap -device virtio-net-pci
#   qemu-microvm   the same with -M microvm,pcie=on (no firmware but qboot)
# each on a fresh TAP of selftests/vmm/vmm_lib.sh, with VDEV_BENCH_REBOOTS
# (3) reboots started by the guest. The same clock measures all three
# from outside: every serial line is time-stamped as it arrives (a FIFO),
# and the TAP's rx counter (frames the guest sent) is read every 20 ms:
#   start to init         VMM started -> "vdev-init: start" (first boot)
#   kernel start to init  the guest's uptime at init
#   reboot to init        "vdev-guest: reboot" -> the next "vdev-init: start"
#   reboot to first frame "vdev-guest: reboot" -> the TAP's first frame
#                         after the next "vdev-init: start" (the frames
#                         before it are the old guest's last)
# Medians are printed, and the ratios vdev-vmm / QEMU of the reboot to
# first frame (the goal: <= 0.5). vdev-vmm's own table follows (its first
# frame is counted inside the device, from the reset request).
#
# Environment: VDEV_VMM, VDEV_BENCH_REBOOTS (3), VDEV_BENCH_VMMS
# ("vdev-vmm qemu qemu-microvm"), VDEV_BOOT_TIMEOUT (120 s per boot),
# VDEV_BENCH_CMDLINE (more kernel parameters, e.g. loglevel=7),
# VDEV_BENCH_KEEP=DIR (keep the time-stamped consoles there).
# Exit status 0 when every VMM ran all its boots, 1 otherwise.

# The whole script is one compound command, read before it runs.
{
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=selftests/vmm/vmm_lib.sh
. "$ROOT/selftests/vmm/vmm_lib.sh"

die() { echo "vmm-bench: ERROR: $*" >&2; exit 1; }
say() { echo "vmm-bench: $*"; }

VMM=$(realpath -m "${VDEV_VMM:-$ROOT/build/tools/vdev-vmm}")
REBOOTS=${VDEV_BENCH_REBOOTS:-3}
VMMS=${VDEV_BENCH_VMMS:-vdev-vmm qemu qemu-microvm}
DEADLINE=${VDEV_BOOT_TIMEOUT:-120}
KVER=$(cat "$ROOT/.cache/guest-kernel/.vdev-unpacked" 2>/dev/null)
KERNEL=$ROOT/.cache/guest-kernel/boot/vmlinux-$KVER
# vdev-vmm's default command line (tools/vmm), for QEMU too.
BASE_CMDLINE="console=ttyS0 quiet pci=conf1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd reboot=k panic=-1 cryptomgr.notests"

[ "$(id -u)" = 0 ] || die "needs root (TAP, network namespaces)"
[ -f "$KERNEL" ] || die "guest kernel $KERNEL missing: scripts/setup-deps"
IMG=$("$ROOT/scripts/mkinitramfs") || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmm-bench.XXXXXX") || die "mktemp failed"
pids=()
cleanup() {
	local p

	for p in ${pids[@]+"${pids[@]}"}; do
		kill "$p" 2>/dev/null
	done
	vl_net_down
	if [ -n "${VDEV_BENCH_KEEP:-}" ]; then
		mkdir -p "$VDEV_BENCH_KEEP" && cp -r "$tmp"/. "$VDEV_BENCH_KEEP"/
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# median: of the numbers on stdin, one a line ("-" when none).
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) print "-"; else printf "%.2f\n", v[int((NR + 1) / 2)] }'
}

# measure NAME: stamps.log and rx.log of one VMM's run -> results NAME.res
# ("start_init S", "uptime S"..., "reboot_init S"..., "reboot_frame S"...).
measure() {
	local name=$1 dir=$tmp/$1

	awk -v t0="$(cat "$dir/t0")" '
	FILENAME ~ /rx.log$/ { rt[++nr] = $1; next }
	/vdev-init: start/ {
		boots++
		if (boots == 1)
			print "start_init", $1 - t0
		else if (reboot) {
			print "reboot_init", $1 - reboot
			# The new guest sends nothing before its init loads
			# virtio_net: a frame between the reboot line and
			# here is from the old guest.
			for (i = 1; i <= nr; i++)
				if (rt[i] > $1) {
					print "reboot_frame", rt[i] - reboot
					break
				}
		}
		next
	}
	/vdev-guest: up / {
		for (i = 3; i <= NF; i++)
			if ($i ~ /^uptime=/) {
				sub(/^uptime=/, "", $i)
				print "uptime", $i
			}
		next
	}
	/vdev-guest: reboot / { reboot = $1 }
	' "$dir/rx.log" "$dir/stamps.log" > "$tmp/$name.res"
}

# run_vmm NAME: boot REBOOTS + 1 times on VMM NAME.
run_vmm() {
	local name=$1 dir=$tmp/$1 fifo vpid spid ppid last t_last now n want
	local cmdline

	mkdir -p "$dir"
	vl_net_up 1 || return 1
	fifo=$dir/serial
	mkfifo "$fifo" "$dir/never" || return 1
	cmdline="$(vl_cmdline 10)${VDEV_BENCH_CMDLINE:+ $VDEV_BENCH_CMDLINE}"
	# The TAP's rx counter, every 20 ms (a read timeout, not a sleep
	# process: less load beside the guest).
	ip netns exec "$VL_NS" bash -c '
		exec 9<> "$2"
		last=
		while read -r n < "/sys/class/net/$1/statistics/rx_packets"; do
			[ "$n" = "$last" ] || echo "$EPOCHREALTIME $n"
			last=$n
			read -r -t 0.02 -u 9
		done' _ "$VL_TAP" "$dir/never" > "$dir/rx.log" &
	ppid=$!
	pids+=("$ppid")
	: > "$dir/stamps.log"
	vl_stamp 0 < "$fifo" >> "$dir/stamps.log" &
	spid=$!
	echo "$EPOCHREALTIME" > "$dir/t0"
	case $name in
	vdev-vmm)
		ip netns exec "$VL_NS" "$VMM" --kernel "$KERNEL" --initrd "$IMG" \
			--cmdline "$cmdline" --mem 256 --cpus 1 \
			--net "tap=$VL_TAP,packed=off" --reboots $((REBOOTS + 1)) \
			--serial "$fifo" --boot-timeout "$DEADLINE" \
			> "$dir/out" 2>&1 < /dev/null &
		;;
	qemu|qemu-microvm)
		local mach=() append="$BASE_CMDLINE $cmdline"

		# microvm: PCIe (ECAM through ACPI, so no pci=conf1), no
		# i8042: reboot through a triple fault.
		if [ "$name" = qemu-microvm ]; then
			mach=(-M microvm,pcie=on,acpi=on)
			append="${append/pci=conf1 /}"
			append="${append/reboot=k/reboot=t}"
		fi
		ip netns exec "$VL_NS" qemu-system-x86_64 -accel kvm -cpu host \
			${mach[@]+"${mach[@]}"} -m 256 -smp 1 -nodefaults \
			-no-user-config -display none \
			-kernel "$KERNEL" -initrd "$IMG" -append "$append" \
			-serial "file:$fifo" \
			-netdev "tap,id=n0,ifname=$VL_TAP,script=no,downscript=no" \
			-device virtio-net-pci,netdev=n0 \
			> "$dir/out" 2>&1 < /dev/null &
		;;
	esac
	vpid=$!
	pids+=("$vpid")
	# Until REBOOTS + 1 reboot lines (QEMU resets the guest in place and
	# goes on: stopped here), the VMM's exit, or a boot's deadline.
	want=$((REBOOTS + 1))
	last=0
	t_last=${EPOCHREALTIME%.*}
	while kill -0 "$vpid" 2>/dev/null; do
		n=$(grep -c ' vdev-guest: reboot' "$dir/stamps.log")
		now=${EPOCHREALTIME%.*}
		[ "$n" = "$last" ] || { last=$n; t_last=$now; }
		[ "$n" -ge "$want" ] && break
		if [ $((now - t_last)) -gt "$DEADLINE" ]; then
			say "$name: guest hung at boot $((n + 1)) (no reboot within $DEADLINE s)"
			break
		fi
		sleep 0.5
	done
	if [ "$name" != vdev-vmm ] || [ "$n" -lt "$want" ]; then
		kill "$vpid" 2>/dev/null
	fi
	wait "$vpid"
	kill "$ppid" 2>/dev/null
	wait "$ppid" 2>/dev/null
	wait "$spid" 2>/dev/null
	# The last lines may have come after the loop looked.
	n=$(grep -c ' vdev-guest: reboot' "$dir/stamps.log")
	vl_net_down
	measure "$name"
	echo "$n" > "$dir/reboots"
	[ "$n" -ge "$want" ]
}

say "Debian $KVER, initramfs ${IMG#"$ROOT"/}, $REBOOTS reboots each (after a first boot), 1 vCPU, 256 MiB"
rc=0
for v in $VMMS; do
	case $v in
	vdev-vmm) [ -x "$VMM" ] || die "$VMM missing: make VARIANT=plain vmm" ;;
	qemu|qemu-microvm) command -v qemu-system-x86_64 > /dev/null || die "qemu-system-x86_64 missing" ;;
	*) die "VDEV_BENCH_VMMS: unknown VMM '$v'" ;;
	esac
	t0=$EPOCHREALTIME
	say "$v: booting"
	run_vmm "$v" || { rc=1; say "$v: FAILED: $(cat "$tmp/$v/reboots" 2>/dev/null || echo 0) of $((REBOOTS + 1)) boots ended in a reboot"; tail -n 5 "$tmp/$v/out" | sed "s/^/vmm-bench: $v: /"; }
	say "$v: done in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
	[ "$v" = vdev-vmm ] && sed -n '/summary/,$p' "$tmp/$v/out" | sed 's/^/vmm-bench: vdev-vmm| /'
done

printf 'vmm-bench: %-13s %14s %14s %14s %22s\n' VMM "start->init" "kernel->init" "reboot->init" "reboot->first frame"
for v in $VMMS; do
	r=$tmp/$v.res
	[ -f "$r" ] || continue
	printf 'vmm-bench: %-13s %13ss %13ss %13ss %21ss\n' "$v" \
		"$(awk '$1 == "start_init" { print $2 }' "$r" | median)" \
		"$(awk '$1 == "uptime" { print $2 }' "$r" | median)" \
		"$(awk '$1 == "reboot_init" { print $2 }' "$r" | median)" \
		"$(awk '$1 == "reboot_frame" { print $2 }' "$r" | median)"
done
say "(medians; kernel->init is the guest's uptime at init, the rest host time)"
mine=$( [ -f "$tmp/vdev-vmm.res" ] && awk '$1 == "reboot_frame" { print $2 }' "$tmp/vdev-vmm.res" | median)
for q in qemu qemu-microvm; do
	[ -f "$tmp/$q.res" ] || continue
	theirs=$(awk '$1 == "reboot_frame" { print $2 }' "$tmp/$q.res" | median)
	if [ -n "$mine" ] && [ "$mine" != - ] && [ "$theirs" != - ]; then
		say "ratio reboot to first frame, vdev-vmm / $q: $(awk -v a="$mine" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }') (goal <= 0.5)"
	fi
done
exit "$rc"
}
