#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install_test.sh - what a VMM author gets from `make install`: headers,
# both libraries and vdev.pc, and nothing private; a consumer that
# includes <vdev/vdev.h> and links with `pkg-config --cflags --libs vdev`
# only (shared, and static with --static), and a VMM-style one
# (vmm_consumer.c: a device type of its own over virtio-mmio) built the
# same way outside the tree, which cannot reach the device's private
# state; and a shared library whose exports are exactly the documented
# API: every function the installed headers declare is listed by name in
# lib/libvdev.map and exported by libvdev.so.0, and nothing else is.
# kselftest TAP output.
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
echo "1..15"

check "make install" make -s install PREFIX="$prefix"

check "headers, libraries and vdev.pc installed" test \
	-f "$prefix/include/vdev/vdev.h" -a -f "$prefix/lib/libvdev.a" -a \
	-f "$prefix/lib/libvdev.so.0" -a -L "$prefix/lib/libvdev.so" -a \
	-f "$prefix/lib/pkgconfig/vdev.pc"

# lib/'s private headers stay in lib/; every public header stands alone.
if ls "$prefix/include/vdev" | grep -q '_priv\.h$\|_internal\.h$'; then
	not_ok "no private header installed"
else
	ok "no private header installed"
fi
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
hdr_bad=
for h in "$prefix"/include/vdev/*.h; do
	printf '#include <vdev/%s>\n' "${h##*/}" > "$tmp/h.c"
	cc -Wall -Werror -fsyntax-only $(pkg-config --cflags vdev) "$tmp/h.c" \
		> "$tmp/out" 2>&1 || { sed 's/^/# /' "$tmp/out"; hdr_bad+=" ${h##*/}"; }
done
if [ -z "$hdr_bad" ]; then
	ok "each installed header compiles on its own"
else
	not_ok "each installed header compiles on its own:$hdr_bad"
fi

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

# The documented API: every function the installed headers declare (GCC's
# -aux-info lists each declaration with its file), header by header.
: > "$tmp/decl.raw"
for h in "$prefix"/include/vdev/*.h; do
	printf '#include <vdev/%s>\n' "${h##*/}" > "$tmp/h.c"
	cc $(pkg-config --cflags vdev) -fsyntax-only -aux-info "$tmp/aux" \
		"$tmp/h.c" 2>/dev/null
	grep -F "$prefix/include/vdev/" "$tmp/aux" >> "$tmp/decl.raw"
done
sed -E 's/.*[ *]([A-Za-z_][A-Za-z_0-9]*) \(.*/\1/' "$tmp/decl.raw" |
	sort -u > "$tmp/decl"

# The names lib/libvdev.map lists in its global: section.
perl -0777 -ne 's{/\*.*?\*/}{}gs; /global:(.*?)local:/s or exit 1;
	print "$_\n" for grep { length } map { s/^\s+|\s+$//gr }
		split /;/, $1' lib/libvdev.map | sort > "$tmp/map"
sort -u "$tmp/map" | cmp -s - "$tmp/map" ||
	echo "# lib/libvdev.map lists a name twice"

# What the installed shared library exports (functions and data).
nm -D --defined-only "$prefix/lib/libvdev.so.0" | awk '{ print $NF }' |
	sed 's/@.*//' | grep -vx 'VDEV_0' | sort -u > "$tmp/syms"

if [ -s "$tmp/map" ] && ! grep -q '[*?[]' "$tmp/map"; then
	ok "lib/libvdev.map lists $(wc -l < "$tmp/map") symbols by name, no pattern"
else
	grep '[*?[]' "$tmp/map" | sed 's/^/# pattern: /'
	not_ok "lib/libvdev.map lists every symbol by name"
fi

# diff_sets NAME A B WHAT_A WHAT_B: ok when A and B hold the same names.
diff_sets() {
	if [ -s "$2" ] && cmp -s "$2" "$3"; then
		ok "$1 ($(wc -l < "$2") functions)"
	else
		comm -23 "$2" "$3" | head -20 | sed "s/^/# $4, not $5: /"
		comm -13 "$2" "$3" | head -20 | sed "s/^/# $5, not $4: /"
		not_ok "$1"
	fi
}
diff_sets "every function the headers declare is in lib/libvdev.map, and only those" \
	"$tmp/decl" "$tmp/map" "declared" "in the map"
diff_sets "libvdev.so.0 exports exactly lib/libvdev.map" \
	"$tmp/map" "$tmp/syms" "in the map" "exported"

# A VMM-style consumer, compiled from a copy outside the tree.
cp selftests/install/vmm_consumer.c "$tmp/vmm.c"
check "VMM-style consumer builds against the installed vdev alone" \
	sh -c "cd '$tmp' && cc -Wall -Werror -o vmm vmm.c \
		\$(pkg-config --cflags --libs vdev)"
check "VMM-style consumer runs: echo device over virtio-mmio" \
	env LD_LIBRARY_PATH="$prefix/lib" "$tmp/vmm"
# Not vacuous: the same file reaching into the private state must fail,
# and for that reason (the private structure is not defined).
if (cd "$tmp" && cc -Wall -Werror -DVDEV_CONSUMER_PROBE_PRIVATE -o vmm-p \
	vmm.c $(pkg-config --cflags --libs vdev)) > "$tmp/out" 2>&1; then
	not_ok "the device's private state is out of a consumer's reach"
elif grep -q 'vdev_device_private' "$tmp/out"; then
	ok "the device's private state is out of a consumer's reach"
else
	sed 's/^/# /' "$tmp/out"
	not_ok "the device's private state is out of a consumer's reach (failed otherwise)"
fi

# Nothing outside lib/ uses a private field (vmm_consumer.c only in its
# probe above, which must fail to build).
if grep -rnE '\bvdev_device_private\b|(\.|->)p->' tools selftests \
	--include='*.c' --include='*.h' --exclude=vmm_consumer.c > "$tmp/out"; then
	sed 's/^/# /' "$tmp/out"
	not_ok "no program outside lib/ uses the device's private state"
else
	ok "no program outside lib/ uses the device's private state"
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
