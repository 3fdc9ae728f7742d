# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# selftests/vhost_user/vu_lib.sh - Debian's QEMU (TCG, no /dev/kvm) booting
# Debian's Linux on a virtio-net whose back-end is vdev's
# vdev-vhost-user-net or QEMU's own -netdev tap; for the tests and the
# benchmark of selftests/vhost_user/ (sourced by bash, after
# selftests/vmm/vmm_lib.sh, whose network and guest lines it uses).
#
# vu_qemu_start NAME NETDEV QUEUES PACKED PINGS [EXTRA]
#   starts qemu-system-x86_64 -accel tcg -cpu max in VL_NS, in the
#   background (VU_QPID), 256 MiB of memfd guest RAM shared with the
#   back-end, one virtio-net-pci with QUEUES queue pairs (mq=on when
#   QUEUES > 1, one vCPU per pair), packed=on|off, its interrupts on
#   INTx (vectors=0, see below), on NETDEV:
#     tap          QEMU's own virtio-net on the TAP VL_TAP
#     vu:SOCK      vhost-user, QEMU the socket's client (the back-end
#                  listens)
#     vu-server:SOCK  vhost-user, QEMU listens on SOCK (the back-end
#                  runs with --client); QEMU waits for it before it
#                  starts the guest
#   The guest (scripts/vmm-init) pings the peer PINGS times per queue pair
#   and reboots itself, for ever; EXTRA are more kernel parameters. The
#   serial console goes to $VU_TMP/NAME.serial, QEMU's own output to
#   $VU_TMP/NAME.qemu.
#   VU_DEVICE_EXTRA: more -device options (experiments).
#
#   Why INTx: Debian's QEMU 7.2 with TCG and a vhost-user netdev dies of
#   SIGSEGV in virtio_pci_one_vector_unmask() as soon as the guest
#   enables MSI-X vectors with the driver's DRIVER_OK (kvm_virtio_pci_
#   irqfd_use() on a NULL proxy->vector_irqfd: there is no irqfd without
#   KVM; QEMU upstream's "virtio-pci: Add a NULL check for
#   proxy->vector_irqfd" is that fix). With vectors=0 the same rings and
#   eventfds carry the same traffic, the interrupt on the INTx line.
#   -netdev tap gets vectors=0 too, so that the benchmark compares the
#   same guest set-up.
# vu_wait FILE ERE N SECS [PID...]
#   bounded wait for the Nth line of FILE matching ERE: 0 when it came,
#   1 after SECS without it, 2 when one of the PIDs exited first.
# vu_nfds PID, vu_ntasks PID
#   entries of /proc/PID/fd and /proc/PID/task (0 once PID is gone).

VU_TMP=${VU_TMP:-}
VU_QPID=
VU_KVER=$(cat "$ROOT/.cache/guest-kernel/.vdev-unpacked" 2>/dev/null)
VU_KERNEL=$ROOT/.cache/guest-kernel/boot/${VU_KERNEL_FILE:-vmlinux}-$VU_KVER
VU_MEM=256
# Options of vdev-vmm's default command line (tools/vmm) that QEMU's pc
# machine can use too.
VU_CMDLINE="console=ttyS0 quiet i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd reboot=k panic=-1 cryptomgr.notests"

vu_qemu_start() {
	local name=$1 netdev=$2 q=$3 packed=$4 pings=$5 extra=${6:-}
	local net=() dev=virtio-net-pci,netdev=n0,packed=$packed,vectors=0 mq='' sock

	if [ "$q" -gt 1 ]; then
		mq=,queues=$q
		dev=$dev,mq=on
	fi
	# The same memory for both netdevs: the benchmark compares them.
	# shellcheck disable=SC2054 # commas inside QEMU's options
	net=(-object "memory-backend-memfd,id=mem,size=${VU_MEM}M,share=on"
	     -numa node,memdev=mem)
	case $netdev in
	tap)
		net+=(-netdev "tap,id=n0,ifname=$VL_TAP,script=no,downscript=no,vhost=off$mq")
		;;
	vu:*|vu-server:*)
		sock=${netdev#*:}
		local srv=
		[ "${netdev%%:*}" = vu-server ] && srv=,server=on,wait=on
		net+=(-chardev "socket,id=c0,path=$sock$srv"
		     -netdev "vhost-user,id=n0,chardev=c0$mq")
		;;
	*)
		echo "vu_lib: unknown netdev '$netdev'" >&2
		return 1
		;;
	esac
	dev=$dev${VU_DEVICE_EXTRA:+,$VU_DEVICE_EXTRA}
	: > "$VU_TMP/$name.serial"
	: > "$VU_TMP/$name.qemu"
	# Not through a function: $! must be QEMU itself (nsenter execs
	# it; vl_ns, a function, would run in a subshell).
	nsenter --net="/run/netns/$VL_NS" qemu-system-x86_64 -accel tcg -cpu max \
		-m "$VU_MEM" -smp "$q" -nodefaults -no-user-config \
		-display none -kernel "$VU_KERNEL" -initrd "$VU_IMG" \
		-append "$VU_CMDLINE $(vl_cmdline "$pings")${extra:+ $extra}" \
		-serial "file:$VU_TMP/$name.serial" "${net[@]}" -device "$dev" \
		> "$VU_TMP/$name.qemu" 2>&1 < /dev/null &
	VU_QPID=$!
}

# vu_qemu_stop [SIGNAL]: QEMU gone (TERM, or SIGNAL), reaped.
vu_qemu_stop() {
	[ -n "$VU_QPID" ] || return 0
	kill "-${1:-TERM}" "$VU_QPID" 2>/dev/null
	wait "$VU_QPID" 2>/dev/null
	VU_QPID=
}

vu_wait() {
	local file=$1 re=$2 n=$3 secs=$4 end p

	shift 4
	end=$(( ${EPOCHREALTIME/./} + secs * 1000000 ))
	while :; do
		[ "$(tr -d '\r' < "$file" | grep -cE -- "$re")" -ge "$n" ] && return 0
		for p in "$@"; do
			kill -0 "$p" 2>/dev/null || {
				# It may have printed the line as it went.
				[ "$(tr -d '\r' < "$file" | grep -cE -- "$re")" -ge "$n" ] && return 0
				return 2
			}
		done
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		sleep 0.1
	done
}

vu_nfds() {
	local f=(/proc/"$1"/fd/*)

	[ -e "${f[0]}" ] && echo "${#f[@]}" || echo 0
}

vu_ntasks() {
	local t=(/proc/"$1"/task/*)

	[ -e "${t[0]}" ] && echo "${#t[@]}" || echo 0
}
