#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run_selftests_test.sh - scripts/run-selftests against tiny fake test
# programs: what passes, what fails, what a skip is, and when an expected
# failure counts as caught (exit 1, no sanitizer report, every
# --xfail-expect signature printed) and when it failed for the wrong
# reason (a signal, a timeout, a sanitizer report, a missing signature,
# exit 0, another exit status, a skip). Also the usage errors and the
# VDEV_RESULTS file that scripts/check reads. kselftest TAP output.
#
# RUN_SELFTESTS=PATH runs the cases against another copy of the runner
# (an old one, say, to see this test fail).
set -u

cd "$(dirname "$0")/../.." || exit 1
runner=${RUN_SELFTESTS:-$PWD/scripts/run-selftests}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/bin
mkdir -p "$bin" "$tmp/results"
ntest=0
nfail=0

EBUSY='# vdev-regression: EBUSY reopening TAP vdevtap0 (cycle 2)'
LEAK='vdev-regression: leaked fds 18 -> 19, threads 1 -> 2 (cycle 2)'
SIGS=(--xfail-expect 'vdev-regression: EBUSY reopening TAP'
      --xfail-expect 'vdev-regression: leaked fds')

# fake NAME BODY: a test program that runs BODY with sh.
fake() {
	printf '#!/bin/sh\n%s\n' "$2" > "$bin/$1"
	chmod +x "$bin/$1"
}

fake pass	'echo "ok 1 fine"; exit 0'
fake fail	'echo "not ok 1 broken"; exit 1'
fake skip4	'echo "ok 1 # SKIP no device"; exit 4'
fake skipline	'echo "ok 1 # SKIP no device"; exit 0'
# Caught only with the fault switch on, as the real regression tests.
fake caught	"[ \"\${VDEV_FAULT:-}\" = leak ] || exit 0
echo '$EBUSY'; echo '$LEAK'; exit 1"
fake one_sig	"echo '$EBUSY'; exit 1"
fake no_sig	'echo "not ok 1 something else"; exit 1'
fake segv	"echo '$EBUSY'; echo '$LEAK'; kill -SEGV \$\$"
fake hang	"echo '$EBUSY'; echo '$LEAK'; exec sleep 30"
fake asan	"echo '$EBUSY'; echo '$LEAK'
echo '==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x1'; exit 1"
fake ubsan	"echo '$EBUSY'; echo '$LEAK'
echo 'lib/net.c:10:5: runtime error: signed integer overflow'; exit 1"
fake tsan	"echo '$EBUSY'; echo '$LEAK'
echo 'WARNING: ThreadSanitizer: data race (pid=42)'; exit 1"
fake exit2	"echo '$EBUSY'; echo '$LEAK'; exit 2"
fake skip_x	"echo '$EBUSY'; echo '$LEAK'; exit 4"

# expect DESC STATUS REGEX... -- RUNNER_ARGS...: the runner exits with
# STATUS and every REGEX (grep -E) matches a line of its output.
expect() {
	local desc=$1 want=$2 rc re ok=1 res=()

	shift 2
	while [ "$1" != -- ]; do
		res+=("$1")
		shift
	done
	shift
	"$runner" "$@" > "$tmp/out" 2>&1
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "# exit status $rc, want $want"
		ok=0
	fi
	for re in ${res[@]+"${res[@]}"}; do
		if ! grep -Eq -- "$re" "$tmp/out"; then
			echo "# no line matches: $re"
			ok=0
		fi
	done
	ntest=$((ntest + 1))
	if [ $ok = 1 ]; then
		echo "ok $ntest $desc"
	else
		sed 's/^/#   /' "$tmp/out"
		nfail=$((nfail + 1))
		echo "not ok $ntest $desc"
	fi
}

# xfail DESC STATUS REGEX... -- FAKE: FAKE as the only expected failure,
# with the fault switch and both signatures.
xfail() {
	local desc=$1 want=$2 args=()

	shift 2
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	expect "$desc" "$want" "${args[@]}" -- --name x --xfail-build "$bin" \
		--xfail-env VDEV_FAULT=leak "${SIGS[@]}" "$2"
}

WRONG='^not ok 1 x: [a-z_0-9]+ # expected failure for the wrong reason: '

echo "TAP version 13"
echo "1..24"

# Ordinary tests.
expect "a test that exits 0 passes" 0 '^ok 1 t: pass$' '^1 passed, 0 failed$' \
	-- --build "$bin" --name t pass
expect "a test that exits 1 fails" 1 '^not ok 1 t: fail$' '^0 passed, 1 failed$' \
	-- --build "$bin" --name t fail
expect "exit 4 (KSFT_SKIP) is a failure" 1 '^not ok 1 t: skip4 # FAIL: skipped' \
	-- --build "$bin" --name t skip4
expect "a '# SKIP' result with exit 0 is a failure" 1 '^not ok 1 t: skipline # FAIL: skipped' \
	-- --build "$bin" --name t skipline
VDEV_ALLOW_SKIP=1 expect "VDEV_ALLOW_SKIP=1 counts a skip as skipped" 0 \
	'^ok 1 t: skip4 # SKIP$' '^0 passed, 0 failed, 1 skipped$' \
	-- --build "$bin" --name t skip4
expect "a missing program fails" 1 '^not ok 1 t: nothere # missing binary$' \
	-- --build "$bin" --name t nothere

# Expected failures.
xfail "exit 1 with both signatures is caught" 0 \
	'^ok 1 x: caught # XFAIL caught \(exit 1, 2 of 2 signatures\)$' \
	'^1 passed, 0 failed$' -- caught
expect "--xfail-env reaches the program: without it, it passes" 1 \
	"${WRONG}exit 0, it passed;" -- --name x --xfail-build "$bin" \
	"${SIGS[@]}" caught
xfail "a missing signature is the wrong reason" 1 \
	"${WRONG}no line matches 'vdev-regression: leaked fds'$" -- one_sig
xfail "no signature at all: both named" 1 \
	"${WRONG}no line matches 'vdev-regression: EBUSY reopening TAP'; no line matches 'vdev-regression: leaked fds'$" \
	-- no_sig
xfail "a signal is the wrong reason, signatures or not" 1 \
	"${WRONG}killed by signal 11 \(SEGV\), not exit 1$" -- segv
VDEV_TEST_TIMEOUT=1 xfail "a timeout is the wrong reason" 1 \
	"${WRONG}timed out \(limit 1 s, exit 124\), not exit 1$" -- hang
xfail "an AddressSanitizer report is the wrong reason" 1 \
	"${WRONG}sanitizer report: ==42==ERROR: AddressSanitizer: heap-use-after-free" -- asan
xfail "a UBSan 'runtime error:' is the wrong reason" 1 \
	"${WRONG}sanitizer report: lib/net.c:10:5: runtime error:" -- ubsan
xfail "a ThreadSanitizer report is the wrong reason" 1 \
	"${WRONG}sanitizer report: WARNING: ThreadSanitizer: data race" -- tsan
xfail "exit 2 is the wrong reason" 1 "${WRONG}exit 2, not exit 1$" -- exit2
xfail "exit 4 (a skip) is the wrong reason" 1 \
	"${WRONG}exit 4 \(KSFT_SKIP\), not exit 1$" -- skip_x
VDEV_ALLOW_SKIP=1 xfail "... even with VDEV_ALLOW_SKIP=1" 1 \
	"${WRONG}exit 4 \(KSFT_SKIP\), not exit 1$" -- skip_x
expect "signatures are grep -E regexes" 0 '^ok 1 x: caught # XFAIL caught' \
	-- --name x --xfail-build "$bin" --xfail-env VDEV_FAULT=leak \
	--xfail-expect 'leaked fds [0-9]+ -> [0-9]+, threads' caught
VDEV_RESULTS=$tmp/results expect \
	"tests and expected failures in one run, VDEV_RESULTS file" 1 \
	'^ok 1 m: pass$' '^ok 2 m: caught # XFAIL caught' \
	'^not ok 3 m: segv # expected failure for the wrong reason' \
	'^2 passed, 1 failed$' \
	-- --build "$bin" --name m pass --xfail-build "$bin" \
	--xfail-env VDEV_FAULT=leak "${SIGS[@]}" caught segv
ntest=$((ntest + 1))
want=$(printf 'total 3\npassed 2\nfailed 1\nskipped 0\nfailed_tests segv')
if [ "$(cat "$tmp/results/m.result" 2>/dev/null)" = "$want" ]; then
	echo "ok $ntest VDEV_RESULTS=DIR: DIR/NAME.result has the counts"
else
	sed 's/^/#   /' "$tmp/results/m.result" 2>&1
	nfail=$((nfail + 1))
	echo "not ok $ntest VDEV_RESULTS=DIR: DIR/NAME.result has the counts"
fi

# Usage errors.
expect "expected failures without --xfail-expect: usage error" 2 \
	'need --xfail-expect' -- --name x --xfail-build "$bin" caught
expect "--xfail-expect before --xfail-build: usage error" 2 \
	'comes after --xfail-build' -- --name x "${SIGS[@]}" \
	--xfail-build "$bin" caught
expect "an invalid regex: usage error" 2 'not a valid grep -E regex' \
	-- --name x --xfail-build "$bin" --xfail-expect 'a(' caught

[ $nfail -eq 0 ]
