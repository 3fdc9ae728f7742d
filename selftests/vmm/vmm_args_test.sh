#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vmm_args_test.sh - vdev-vmm's answers to bad input: each case must end
# with exit status 1 and exactly one line on stderr, "vdev-vmm: <what>:
# <why>", naming the cause (never an abort, a sanitizer report or a usage
# dump). Runs in its own network and mount namespaces (root); the kernel
# is a minimal bzImage header made here, whose 64-bit entry is HLT, so
# no guest kernel is needed. kselftest TAP output. One script, two
# programs, by the name it is installed under:
#
#   vmm_args_test     the cases that need no VM (arguments, files, a
#                     /dev/kvm that does not work): run on the host in
#                     every variant of make check
#   vmm_vm_args_test  the exits that need a VM but no running guest: a
#                     TAP that another vdev-vmm holds (EBUSY), a guest that
#                     never reboots ("guest hung", exit status 2), two
#                     devices on one TAP. They need a /dev/kvm that runs a
#                     vCPU, so the vmm suite runs them (inside scripts/
#                     vmtest when the host's /dev/kvm cannot run guests),
#                     in the plain, ASan and TSan builds
#
# Installed by selftests/vmm/tests.mk as build[/VARIANT]/selftests/vmm/
# <name>, next to that variant's build[/VARIANT]/tools/vdev-vmm.
set -u

here=$(cd "$(dirname "$0")" && pwd)
VMM=$here/../../tools/vdev-vmm
ntest=0
nfail=0


if [ ! -x "$VMM" ]; then
	echo "Bail out! $VMM not built"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "Bail out! needs root (network and mount namespaces, TAPs)"
	exit 1
fi
# Our own network namespace: the TAPs made here vanish with it. Our own
# mount namespace, private before anything is mounted: not unshare's own
# --propagation private, which fails in a chroot (a new machine's root,
# where / is no mount point: "cannot change root filesystem
# propagation"), but / or, failing that, /dev made private here.
if [ -z "${VMM_ARGS_TEST_NETNS:-}" ]; then
	VMM_ARGS_TEST_NETNS=1 exec unshare -n -m --propagation unchanged \
		"$0" "$@"
fi
if ! mount --make-rprivate / 2>/dev/null &&
   ! mount --make-rprivate /dev 2>/dev/null; then
	echo "Bail out! cannot make / or /dev private in our mount namespace"
	exit 1
fi

case $(basename "$0") in
vmm_vm_args_test)	cases=vm; plan=3 ;;
*)			cases=host; plan=8 ;;
esac
echo "TAP version 13"
echo "1..$plan"
tmp=$(mktemp -d) || { echo "Bail out! mktemp -d failed"; exit 1; }
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT

# A bzImage header (boot protocol 2.15, 64-bit entry) and a kernel whose
# 64-bit entry (load address + 0x200) is "1: hlt; jmp 1b".
kernel=$tmp/bzImage
head -c 8192 /dev/zero > "$kernel"
put() {	# put OFFSET BYTES (printf escapes)
	printf "$2" | dd of="$kernel" bs=1 seek=$(($1)) conv=notrunc status=none
}
put 0x1f1 '\x01'			# setup_sects: setup is 2 sectors
put 0x1fe '\x55\xaa'			# boot_flag
put 0x202 'HdrS'			# header
put 0x206 '\x0f\x02'			# version 2.15
put 0x236 '\x01'			# xloadflags: XLF_KERNEL_64
put $((1024 + 0x200)) '\xf4\xeb\xfd'	# hlt; jmp hlt
notkernel=$tmp/notkernel
echo "just text" > "$notkernel"

# expect NAME STATUS REGEX ARGS...: vdev-vmm ARGS exits STATUS, prints
# exactly one line to stderr, which matches REGEX (grep -E).
expect() {
	local name=$1 want=$2 re=$3 rc lines
	shift 3
	"$VMM" "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
	rc=$?
	lines=$(wc -l < "$tmp/err")
	if [ "$rc" = "$want" ] && [ "$lines" = 1 ] &&
	   grep -Eq "^vdev-vmm: .+: ." "$tmp/err" &&
	   grep -Eq -- "$re" "$tmp/err"; then
		ntest=$((ntest + 1))
		echo "ok $ntest $name"
		return
	fi
	echo "# vdev-vmm $*: exit $rc (want $want), $lines lines on stderr (want 1 matching '$re'):"
	sed 's/^/#   err: /' "$tmp/err"
	tail -n 5 "$tmp/out" | sed 's/^/#   out: /'
	ntest=$((ntest + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntest $name"
}

if [ $cases = host ]; then
	expect "no --kernel" 1 "missing"
	expect "kernel file missing" 1 "No such file" --kernel "$tmp/nonexistent"
	expect "not a kernel" 1 "not a kernel" --kernel "$notkernel"
	expect "too little memory" 1 "too little memory" --kernel "$kernel" --mem 16
	expect "bad MAC" 1 "bad MAC" --kernel "$kernel" --net tap=vt0,mac=01:02:03:04:05:06
	expect "unknown option" 1 "unknown option" --kernel "$kernel" --frobnicate 1
	expect "unknown --net key" 1 "unknown key" --kernel "$kernel" --net tap=vt0,speed=10

	# No usable /dev/kvm: none at all, or /dev/null in its place (this
	# mount namespace only).
	if [ ! -e /dev/kvm ]; then
		expect "no usable /dev/kvm" 1 "^vdev-vmm: /dev/kvm: " --kernel "$kernel"
	elif mount --bind /dev/null /dev/kvm 2>/dev/null; then
		expect "no usable /dev/kvm" 1 "^vdev-vmm: /dev/kvm: " --kernel "$kernel"
		umount /dev/kvm
	else
		ntest=$((ntest + 1))
		nfail=$((nfail + 1))
		echo "not ok $ntest no usable /dev/kvm # cannot bind-mount over /dev/kvm"
	fi
fi

if [ $cases = vm ]; then
	# TAP busy: a first vdev-vmm holds vt1 while its guest halts.
	"$VMM" --kernel "$kernel" --net tap=vt1 --boot-timeout 30 \
		> "$tmp/holder.out" 2>&1 &
	holder=$!
	for _ in $(seq 100); do
		[ -e /sys/class/net/vt1 ] && break
		sleep 0.1
	done
	expect "TAP busy" 1 "^vdev-vmm: --net tap=vt1: .*busy" --kernel "$kernel" --net tap=vt1
	kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
	holder=

	# A guest that never reboots: reported as hung, exit status 2, stdout.
	"$VMM" --kernel "$kernel" --net tap=vt2 --boot-timeout 1 --reboots 1 \
		> "$tmp/out" 2> "$tmp/err" < /dev/null
	rc=$?
	if [ $rc = 2 ] && grep -q '^vdev-vmm: boot 1: guest hung (no reboot after 1 s)$' "$tmp/out" &&
	   grep -Eq '^  fds +before ([0-9]+), after \1$' "$tmp/out" && [ ! -s "$tmp/err" ]; then
		ntest=$((ntest + 1))
		echo "ok $ntest hung guest: exit 2, fds flat"
	else
		echo "# hung guest: exit $rc (want 2)"
		sed 's/^/#   out: /' "$tmp/out"
		sed 's/^/#   err: /' "$tmp/err"
		ntest=$((ntest + 1))
		nfail=$((nfail + 1))
		echo "not ok $ntest hung guest: exit 2, fds flat"
	fi

	# Two devices on one (single-queue) TAP: the second open is refused.
	expect "two --net on one TAP" 1 "^vdev-vmm: --net tap=vt3: .*busy" \
		--kernel "$kernel" --net tap=vt3 --net tap=vt3
fi

echo "# $((ntest - nfail)) passed, $nfail failed"
[ $nfail = 0 ]
