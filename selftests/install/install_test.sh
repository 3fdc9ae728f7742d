#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install_test.sh - what a VMM author gets from `make install`: headers,
# both libraries and vdev.pc; a consumer that includes <vdev/vdev.h> and
# links with `pkg-config --cflags --libs vdev` only (shared, and static with
# --static); and a shared library that exports vdev_* symbols and nothing
# else. kselftest TAP output.
set -u

cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp -d) || { echo "Bail out! mktemp -d failed"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
ntest=0
nfail=0

ok() {
	ntest=$((ntest + 1))
	echo "ok $ntest $1"
}

not_ok() {
	ntest=$((ntest + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntest $1"
}

check() {
	local name=$1
	shift
	if "$@" > "$tmp/out" 2>&1; then
		ok "$name"
	else
		sed 's/^/# /' "$tmp/out"
		not_ok "$name"
	fi
}

echo "TAP version 13"
echo "1..7"

check "make install" make -s install PREFIX="$prefix"

check "headers, libraries and vdev.pc installed" test \
	-f "$prefix/include/vdev/vdev.h" -a -f "$prefix/lib/libvdev.a" -a \
	-f "$prefix/lib/libvdev.so.0" -a -L "$prefix/lib/libvdev.so" -a \
	-f "$prefix/lib/pkgconfig/vdev.pc"

cat > "$tmp/consumer.c" <<'EOC'
#include <stdio.h>
#include <vdev/vdev.h>

int main(void)
{
	struct vdev_mem *mem;
	static char ram[4096];

	if (vdev_mem_create(&mem))
		return 1;
	if (vdev_mem_add_region(mem, 0x1000, sizeof(ram), ram))
		return 1;
	if (vdev_mem_translate(mem, 0x1800, 16) != ram + 0x800)
		return 1;
	vdev_mem_put(mem);
	puts("consumer ok");
	return 0;
}
EOC

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
check "consumer builds with pkg-config only (shared)" \
	sh -c "cc -Wall -Werror -o '$tmp/consumer' '$tmp/consumer.c' \
		\$(pkg-config --cflags --libs vdev)"
check "consumer runs against the installed libvdev.so.0" \
	env LD_LIBRARY_PATH="$prefix/lib" "$tmp/consumer"
check "consumer builds with pkg-config --static" \
	sh -c "cc -Wall -Werror -o '$tmp/consumer-static' '$tmp/consumer.c' \
		-Wl,-Bstatic \$(pkg-config --cflags --libs-only-L vdev) -lvdev \
		-Wl,-Bdynamic \$(pkg-config --static --libs-only-l vdev | \
		sed 's/-lvdev//') && '$tmp/consumer-static'"

# Only vdev_* leaves the shared library.
nm -D --defined-only "$prefix/lib/libvdev.so.0" | awk '{ print $3 }' |
	grep -v '^VDEV_0$' > "$tmp/syms"
if [ -s "$tmp/syms" ] && ! grep -qv '^vdev_' "$tmp/syms"; then
	ok "libvdev.so exports only vdev_* ($(wc -l < "$tmp/syms") symbols)"
else
	grep -v '^vdev_' "$tmp/syms" | head -20 | sed 's/^/# not vdev_: /'
	not_ok "libvdev.so exports only vdev_*"
fi

# The test-only fault switch is never in the installed library.
if ! command -v strings >/dev/null; then
	echo "# strings (binutils) missing: cannot look"
	not_ok "no fault-injection code in the installed library"
elif strings "$prefix/lib/libvdev.a" | grep -q VDEV_FAULT ||
   strings "$prefix/lib/libvdev.so.0" | grep -q VDEV_FAULT; then
	not_ok "no fault-injection code in the installed library"
else
	ok "no fault-injection code in the installed library"
fi

[ $nfail -eq 0 ]
