#!/usr/bin/env bash
# Build every libFuzzer target fuzz/NAME.c (files listed in fuzz/targets)
# into build-fuzz/NAME, compiling the library sources (src/**/*.c) directly
# with clang -fsanitize=fuzzer,address,undefined.  Also builds the seed
# generator build-fuzz/gen_corpus.
#   bash fuzz/build.sh            all targets
#   bash fuzz/build.sh ring_dev   one target
# Exit status 77 (and a line "SKIP: ...") when clang or its fuzzer runtime
# is missing and cannot be installed.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-build-fuzz}
CC=${FUZZ_CC:-clang}

have_fuzzer() {
	command -v "$CC" >/dev/null 2>&1 || return 1
	local t; t=$(mktemp -d)
	echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$t/t.c"
	"$CC" -fsanitize=fuzzer,address,undefined "$t/t.c" -o "$t/t" >/dev/null 2>&1
	local rc=$?; rm -rf "$t"; return $rc
}

if ! have_fuzzer; then
	echo "fuzz: $CC with the libFuzzer runtime not found; trying apt-get install clang" >&2
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null 2>&1 || true
		have_fuzzer || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			"libclang-rt-$(clang --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -1)-dev" \
			>/dev/null 2>&1 || true
	fi
	if ! have_fuzzer; then
		echo "SKIP: fuzz: cannot build libFuzzer targets: '$CC -fsanitize=fuzzer' does not work and clang could not be installed"
		exit 77
	fi
fi

WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
 -Wpointer-arith -Wformat=2 -Wno-unused-parameter
 -Wno-gnu-variable-sized-type-not-at-end"  # clang-only: a GNU extension gcc accepts
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-O1 -g -std=gnu11 $WARN -pthread -Iinclude -Isrc -D_GNU_SOURCE $SAN"
V=${V:-0}
run() { [ "$V" = 1 ] && echo "$*"; "$@"; }

mkdir -p "$OUT/obj"
objs=()
for src in $(find src -name '*.c' | sort); do
	obj="$OUT/obj/$(echo "${src%.c}" | tr / _).o"
	if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src include -name '*.h' -newer "$obj" 2>/dev/null | head -1)" ]; then
		[ "$V" = 1 ] || echo "  CC      $src"
		run "$CC" $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
	fi
	objs+=("$obj")
done
rm -f "$OUT/libvirtq-fuzz.a"
ar rcs "$OUT/libvirtq-fuzz.a" "${objs[@]}"

targets=${*:-$(cat fuzz/targets)}
for t in $targets; do
	[ "$V" = 1 ] || echo "  FUZZ    $OUT/$t"
	run "$CC" $CFLAGS -fsanitize=fuzzer "fuzz/$t.c" "$OUT/libvirtq-fuzz.a" -o "$OUT/$t"
done
if [ -f fuzz/gen_corpus.c ]; then
	[ "$V" = 1 ] || echo "  CC      $OUT/gen_corpus"
	run "$CC" $CFLAGS "fuzz/gen_corpus.c" "$OUT/libvirtq-fuzz.a" -o "$OUT/gen_corpus"
fi
