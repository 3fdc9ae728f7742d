# SPDX-License-Identifier: GPL-2.0
#
# selftests/vmm/vmm_lib.sh - the network and the guest's lines, for the
# tests and the benchmark that boot Linux on a VMM (sourced by bash).
#
# The network: a namespace VL_NS holding a persistent TAP VL_TAP (owned by
# the caller: created here, deleted by vl_net_down), a bridge and one end
# of a veth pair, whose other end is in a second namespace VL_PEER_NS with
# the peer's address VL_PEER_IP (10.0.0.1/24). The VMM runs inside VL_NS
# (vl_in_ns), so nothing is added to the caller's own namespace. The guest
# (scripts/vmm-init) gets VL_GUEST_IP and pings the peer.
#
# The guest's lines: see scripts/vmm-init. vl_boots turns a serial log
# into one line per boot (each "vdev-init: start" opens one):
#   boot=N up=S driver=D features=BITS queues=Q tx=P rx=P
#   ping=OK/SENT rxq=N txq=N reboot=0|1 kerr=N fail=WHY
# with "-" for a field the boot did not print, and "fail" last (the rest
# of the line, underscores for blanks). kerr counts the kernel's
# complaints in that boot (a failed TX queue, a TX watchdog, a bad ring
# id, BUG, WARNING, Oops): the init's "vdev-guest: kernel:" lines, and
# console lines from its reboot line to the next kernel's banner; each
# is also printed on stderr.

VL_PEER_IP=10.0.0.1
VL_GUEST_IP=10.0.0.2
VL_NS=
VL_PEER_NS=
VL_TAP=

# vl_net_up QUEUES: the namespaces, the TAP (multi-queue if QUEUES > 1),
# the bridge and the peer. Returns non-zero with a message on stderr.
vl_net_up() {
	local q=$1 mq='' id=$$

	VL_NS=vdevvm$id
	VL_PEER_NS=vdevpeer$id
	VL_TAP=vdevtap$id
	[ "$q" -gt 1 ] && mq=multi_queue
	ip netns add "$VL_NS" &&
	ip netns add "$VL_PEER_NS" &&
	vl_ns "$VL_NS" ip link set lo up &&
	vl_ns "$VL_NS" ip tuntap add dev "$VL_TAP" mode tap vnet_hdr $mq &&
	vl_ns "$VL_NS" ip link add br0 type bridge stp_state 0 forward_delay 0 &&
	vl_ns "$VL_NS" ip link set "$VL_TAP" master br0 &&
	vl_ns "$VL_NS" ip link add veth0 type veth peer name veth1 netns "$VL_PEER_NS" &&
	vl_ns "$VL_NS" ip link set veth0 master br0 &&
	vl_ns "$VL_NS" ip link set br0 up &&
	vl_ns "$VL_NS" ip link set veth0 up &&
	vl_ns "$VL_NS" ip link set "$VL_TAP" up &&
	vl_ns "$VL_PEER_NS" ip link set lo up &&
	vl_ns "$VL_PEER_NS" ip addr add "$VL_PEER_IP/24" dev veth1 &&
	vl_ns "$VL_PEER_NS" ip link set veth1 up || {
		echo "vmm_lib: cannot set up the TAP, bridge and peer (ip(8) failed)" >&2
		return 1
	}
}

vl_net_down() {
	[ -n "$VL_NS" ] && ip netns del "$VL_NS" 2>/dev/null
	[ -n "$VL_PEER_NS" ] && ip netns del "$VL_PEER_NS" 2>/dev/null
	VL_NS=
	VL_PEER_NS=
}

# vl_ns NS CMD...: CMD in network namespace NS, entered with nsenter:
# ip netns exec and ip -n also make / a slave mount and remount /sys,
# which fails where / is no mount point (a new machine's chroot:
# '"mount --make-rslave /" failed'). The command sees the host's /sys;
# per-namespace counters come from /proc/net, which follows the netns.
vl_ns() {
	local ns=$1

	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# vl_in_ns CMD...: CMD in the VMM's namespace.
vl_in_ns() {
	vl_ns "$VL_NS" "$@"
}

# vl_tap_rx: frames the guest sent so far (the TAP's rx counter).
vl_tap_rx() {
	cat "/sys/class/net/$VL_TAP/statistics/rx_packets" 2>/dev/null ||
		vl_ns "$VL_NS" awk -v dev="$VL_TAP:" \
			'$1 == dev { print $3; found = 1 } END { exit !found }' /proc/net/dev
}

# vl_cmdline COUNT: the guest's part of the kernel command line.
vl_cmdline() {
	echo "vdev.ip=$VL_GUEST_IP/24 vdev.peer=$VL_PEER_IP vdev.count=$1"
}

# vl_boots LOG: one line per boot of the serial log LOG (see above).
vl_boots() {
	tr -d '\r' < "$1" | awk '
	function flush() {
		if (!n)
			return
		printf "boot=%d up=%s driver=%s features=%s queues=%s tx=%s rx=%s ping=%s rxq=%s txq=%s reboot=%d kerr=%d fail=%s\n",
			n, f["up"], f["driver"], f["features"], f["queues"],
			f["tx"], f["rx"], f["ping"], f["rxq"], f["txq"],
			reboot, kerr, fail
	}
	function field(line, key,    i, k) {
		for (i = 1; i <= split(line, w, " "); i++) {
			k = w[i]
			sub(/=.*/, "", k)
			if (k == key) {
				sub(/^[^=]*=/, "", w[i])
				return w[i]
			}
		}
		return "-"
	}
	/vdev-init: start/ {
		flush()
		n++
		split("up driver features queues tx rx ping rxq txq", keys, " ")
		for (k in keys)
			f[keys[k]] = "-"
		reboot = 0
		after = 0
		kerr = 0
		fail = "-"
		next
	}
	!n { next }
	# The kernel complaining: what the init found in dmesg, and what
	# the console shows after it looked (from its reboot line to the
	# banner of the next kernel, whose boot counts what follows).
	/vdev-guest: kernel: / {
		kerr++
		print "vl_boots: boot " n ": " $0 > "/dev/stderr"
		next
	}
	/Linux version / { after = 0 }
	# (Not the xstate WARNING of the emulated CPU: scripts/vmm-init.
	# Nor "Unexpected TXQ (0) queue failure: -5" after the reboot line:
	# the Debian 6.1 kernel has virtio_dev_shutdown(), which breaks every
	# virtqueue in device_shutdown(), so a frame sent meanwhile gets
	# -EIO from the ring code of the guest, on any VMM.)
	after && /queue failure|NETDEV WATCHDOG|virtio.*(is not a head|out of range|broken|[Ee]rror)|BUG:|WARNING:|Oops/ && !/fpu__init_system_xstate/ && !/queue failure: -5$/ {
		kerr++
		print "vl_boots: boot " n ": kernel: " $0 > "/dev/stderr"
	}
	/vdev-guest: up / { f["up"] = field($0, "uptime") }
	/vdev-guest: driver=/ {
		f["driver"] = field($0, "driver")
		f["features"] = field($0, "features")
		f["queues"] = field($0, "queues")
		f["tx"] = field($0, "tx")
		f["rx"] = field($0, "rx")
		f["ping"] = field($0, "ping")
	}
	/vdev-guest: queues-used / {
		f["rxq"] = field($0, "rx")
		f["txq"] = field($0, "tx")
	}
	/vdev-guest: FAIL: / {
		fail = $0
		sub(/.*vdev-guest: FAIL: /, "", fail)
		gsub(/[ \t]/, "_", fail)
	}
	/vdev-guest: reboot / { reboot = 1; after = 1 }
	END { flush() }'
}

# vl_boot_ok LINE: the reasons (one line each) why a vl_boots line is not
# a good boot; nothing when it is: virtio_net bound, every ping answered,
# frames counted both ways, the guest rebooted itself, the kernel did not
# complain.
vl_boot_ok() {
	local line=$1 k v ok sent
	declare -A b

	for kv in $line; do
		k=${kv%%=*}
		v=${kv#*=}
		b[$k]=$v
	done
	[ "${b[fail]}" = - ] || echo "guest: ${b[fail]//_/ }"
	[ "${b[driver]}" = virtio_net ] || echo "driver ${b[driver]}, not virtio_net"
	ok=${b[ping]%/*}
	sent=${b[ping]#*/}
	if [ "${b[ping]}" = - ] || [ "$sent" = 0 ] || [ "$ok" != "$sent" ]; then
		echo "ping ${b[ping]} (answered/sent)"
	fi
	{ [ "${b[tx]}" != - ] && [ "${b[tx]}" -gt 0 ]; } || echo "tx ${b[tx]} frames"
	{ [ "${b[rx]}" != - ] && [ "${b[rx]}" -gt 0 ]; } || echo "rx ${b[rx]} frames"
	[ "${b[reboot]}" = 1 ] || echo "no reboot line"
	[ "${b[kerr]}" = 0 ] || echo "${b[kerr]} kernel complaint(s) (vl_boots: lines)"
}

# vl_field LINE KEY: one field of a vl_boots line.
vl_field() {
	local kv

	for kv in $1; do
		[ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }
	done
	echo -
}

# vl_stamp T0: prefix every line of stdin with the seconds since T0
# (an $EPOCHREALTIME), e.g. "12.345678 vdev-init: start".
vl_stamp() {
	local t0=${1/./} l d

	while IFS= read -r l; do
		d=$(( ${EPOCHREALTIME/./} - t0 ))
		printf '%d.%06d %s\n' $((d / 1000000)) $((d % 1000000)) "${l%$'\r'}"
	done
}
