#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhost_user_net_args_test.sh - vdev-vhost-user-net's answers to bad input,
# on the host, with no front-end: each case must end with exit status 1
# and exactly one line on stderr, "vdev-vhost-user-net: <what>: <why>",
# naming the cause (never an abort, a sanitizer report or a usage dump).
# Then what a running back-end with no front-end does: it holds its TAP
# (a second one on it: busy) and its socket (a second one there: in use),
# a socket left by a killed back-end is taken over, and SIGTERM stops it
# with exit status 0, nothing on stderr, its socket removed and the TAP
# it created deleted. Runs in its own network namespace (root); the
# permission cases as nobody (setpriv). kselftest TAP output.
#
# Installed by selftests/vhost_user/tests.mk as build[/VARIANT]/selftests/
# vhost_user/vhost_user_net_args_test, next to that variant's
# build[/VARIANT]/tools/vdev-vhost-user-net.
set -u

here=$(cd "$(dirname "$0")" && pwd)
TOOL=$here/../../tools/vdev-vhost-user-net
NAME=vdev-vhost-user-net
tmp=$(mktemp -d) || { echo "Bail out! mktemp -d failed"; exit 1; }
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT
ntest=0
nfail=0

# Our own network namespace: the TAPs made here vanish with it.
if [ -z "${VU_ARGS_TEST_NETNS:-}" ] && [ "$(id -u)" = 0 ]; then
	rm -rf "$tmp"
	VU_ARGS_TEST_NETNS=1 exec unshare -n "$0" "$@"
fi

echo "TAP version 13"
echo "1..24"

if [ ! -x "$TOOL" ]; then
	echo "Bail out! $TOOL not built"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "Bail out! needs root (network namespace, TAPs)"
	exit 1
fi
# nobody must reach the program and a directory of its own.
chmod 0755 "$tmp"
mkdir -m 1777 "$tmp/pub"

pass() {
	ntest=$((ntest + 1))
	echo "ok $ntest $1"
}
fail() {
	ntest=$((ntest + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntest $1"
}

# expect NAME REGEX ARGS...: the program exits 1 and prints exactly one
# line to stderr, which matches REGEX (grep -E). With AS=nobody, as the
# user nobody without capabilities.
AS=
expect() {
	local name=$1 re=$2 rc lines
	shift 2
	if [ -n "$AS" ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			--inh-caps=-all --bounding-set=-all "$TOOL" "$@" \
			> "$tmp/out" 2> "$tmp/err" < /dev/null
	else
		timeout 20 "$TOOL" "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
	fi
	rc=$?
	lines=$(wc -l < "$tmp/err")
	if [ "$rc" = 1 ] && [ "$lines" = 1 ] &&
	   grep -Eq "^$NAME: .+: ." "$tmp/err" &&
	   grep -Eq -- "$re" "$tmp/err"; then
		pass "$name"
		return
	fi
	echo "# $NAME $*: exit $rc (want 1), $lines lines on stderr (want 1 matching '$re'):"
	sed 's/^/#   err: /' "$tmp/err"
	tail -n 5 "$tmp/out" | sed 's/^/#   out: /'
	fail "$name"
}

# wait_line FILE ERE: up to 10 s for a line of FILE matching ERE.
wait_line() {
	for _ in $(seq 100); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$holder" 2>/dev/null || break
		sleep 0.1
	done
	grep -Eq -- "$2" "$1" 2>/dev/null
}

S=$tmp/vu.sock
long=$tmp/$(printf 'x%.0s' $(seq 120)).sock

expect "no arguments" "^$NAME: --socket: missing"
expect "no --tap" "^$NAME: --tap: missing" --socket "$S"
expect "no --socket" "^$NAME: --socket: missing" --tap vt0
expect "unknown option" "^$NAME: --frobnicate: unknown option" --socket "$S" --tap vt0 --frobnicate 1
expect "not an option" "unexpected argument" --socket "$S" --tap vt0 extra
expect "option without its value" "^$NAME: --tap: missing its value" --socket "$S" --tap
expect "bad MAC (multicast)" "^$NAME: --mac 01:02:03:04:05:06: bad MAC" --socket "$S" --tap vt0 --mac 01:02:03:04:05:06
expect "bad MAC (not one)" "^$NAME: --mac 52:54:00:zz:00:01: bad MAC" --socket "$S" --tap vt0 --mac 52:54:00:zz:00:01
expect "--queues 0" "^$NAME: --queues 0: want a number from 1 to 8" --socket "$S" --tap vt0 --queues 0
expect "--queues 9: too many" "^$NAME: --queues 9: want a number from 1 to 8" --socket "$S" --tap vt0 --queues=9
expect "--queues not a number" "^$NAME: --queues two: want a number" --socket "$S" --tap vt0 --queues two
expect "TAP name too long" "^$NAME: --tap vt0123456789abcdef: bad TAP name" --socket "$S" --tap vt0123456789abcdef
expect "socket in a missing directory" "^$NAME: --socket $tmp/nodir/vu.sock: No such file or directory" --socket "$tmp/nodir/vu.sock" --tap vt0
expect "--client, socket in a missing directory" "^$NAME: --socket $tmp/nodir/vu.sock: No such file or directory" --socket "$tmp/nodir/vu.sock" --tap vt0 --client
expect "socket path too long" "^$NAME: --socket .*: File name too long" --socket "$long" --tap vt0
: > "$tmp/file"
expect "socket path is a file" "^$NAME: --socket $tmp/file: File exists" --socket "$tmp/file" --tap vt0

AS=nobody
mkdir -m 0755 "$tmp/rootonly"
expect "no permission for the socket's directory" "^$NAME: --socket $tmp/rootonly/vu.sock: Permission denied" --socket "$tmp/rootonly/vu.sock" --tap vt0
expect "no permission for the TAP" "^$NAME: --tap vt0: .*(Operation not permitted|Permission denied)" --socket "$tmp/pub/vu.sock" --tap vt0
AS=
if [ ! -e "$tmp/pub/vu.sock" ]; then
	pass "no socket left behind after an error"
else
	fail "no socket left behind after an error"
fi

# A running back-end, no front-end: it holds vt1 and $S.
"$TOOL" --socket "$S" --tap vt1 > "$tmp/holder.out" 2> "$tmp/holder.err" < /dev/null &
holder=$!
if wait_line "$tmp/holder.out" "^$NAME: listening on $S \(fds [0-9]+, threads [0-9]+\)$"; then
	expect "TAP busy" "^$NAME: --tap vt1: .*busy" --socket "$tmp/vu2.sock" --tap vt1
	expect "socket in use" "^$NAME: --socket $S: Address already in use" --socket "$S" --tap vt2
	ip link show vt1 > /dev/null 2>&1 && created=1 || created=0
	kill "$holder"
	wait "$holder"
	rc=$?
	holder=
	if [ "$rc" = 0 ] && [ ! -s "$tmp/holder.err" ] && [ "$created" = 1 ] &&
	   grep -q "^$NAME: stopped after [0-9]* connection(s)$" "$tmp/holder.out" &&
	   [ ! -e "$S" ] && ! ip link show vt1 > /dev/null 2>&1; then
		pass "SIGTERM: exit 0, stderr empty, socket removed, its TAP deleted"
	else
		echo "# exit $rc, TAP created $created, socket $( [ -e "$S" ] && echo left || echo removed), vt1 $(ip link show vt1 > /dev/null 2>&1 && echo left || echo deleted)"
		sed 's/^/#   out: /' "$tmp/holder.out"
		sed 's/^/#   err: /' "$tmp/holder.err"
		fail "SIGTERM: exit 0, stderr empty, socket removed, its TAP deleted"
	fi
else
	sed 's/^/#   out: /' "$tmp/holder.out"
	sed 's/^/#   err: /' "$tmp/holder.err"
	kill "$holder" 2>/dev/null
	holder=
	fail "TAP busy # no back-end listening"
	fail "socket in use # no back-end listening"
	fail "SIGTERM # no back-end listening"
fi

# A socket left by a back-end killed with SIGKILL: the next one takes it.
"$TOOL" --socket "$S" --tap vt3 > "$tmp/holder.out" 2> "$tmp/holder.err" < /dev/null &
holder=$!
wait_line "$tmp/holder.out" "^$NAME: listening on $S "
kill -KILL "$holder"
wait "$holder" 2>/dev/null
"$TOOL" --socket "$S" --tap vt3 > "$tmp/holder.out" 2> "$tmp/holder.err" < /dev/null &
holder=$!
if [ -S "$S" ] && wait_line "$tmp/holder.out" "^$NAME: listening on $S "; then
	pass "a stale socket is taken over"
else
	sed 's/^/#   err: /' "$tmp/holder.err"
	fail "a stale socket is taken over"
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=

"$TOOL" --help > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ "$rc" = 0 ] && grep -q "^usage: $NAME --socket PATH --tap NAME" "$tmp/out" && [ ! -s "$tmp/err" ]; then
	pass "--help: usage on stdout, exit 0"
else
	fail "--help: usage on stdout, exit 0"
fi

echo "# $((ntest - nfail)) passed, $nfail failed"
[ $nfail = 0 ]
