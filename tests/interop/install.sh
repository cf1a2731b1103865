#!/bin/bash
# install.sh - `make install` as a user runs it, then a program built against
# the installed tree through pkg-config only.
#
# 1. make install PREFIX=$tmp/usr LIBDIR=$tmp/usr/lib64 (no DESTDIR): the
#    headers, libvirtq.a, libvirtq.so.X.Y.Z with its soname link
#    libvirtq.so.X and the dev link libvirtq.so, virtq.pc, the tools, and
#    the vhost-user JSON descriptors when the tree has any.
# 2. A small C program (version macros vs the loaded library, a guest-memory
#    map) built with `pkg-config --cflags --libs virtq`, PKG_CONFIG_PATH
#    pointing into the install, run with LD_LIBRARY_PATH as a user sets it;
#    `ldd` must resolve libvirtq.so.X from the install, not from build/.
#    Then the same program linked statically against libvirtq.a
#    (`pkg-config --static`).
# 3. make install DESTDIR=$tmp/stage PREFIX=/usr: every file lands under the
#    stage and virtq.pc says prefix=/usr (a packager's run).
#
# Prints PASS/FAIL/SKIP lines.
set -uo pipefail
ROOT=${VIRTQ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
O=${O:-build}
cd "$ROOT" || exit 1
command -v pkg-config >/dev/null || { . tests/interop/lib/deps.sh && need_pkgs pkg-config; } ||
	{ echo "SKIP install: no pkg-config (apt-get install pkg-config)"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS install: $*"; }
fail() { echo "FAIL install: $*"; fails=$((fails + 1)); }

san=()
[[ ${SAN:-0} == 1 ]] && san=(-fsanitize=address,undefined)
[[ ${TSAN:-0} == 1 ]] && san=(-fsanitize=thread)
ver=$(sed -n 's/^#define VQ_VERSION *"\(.*\)"/\1/p' include/virtq/version.h)
major=${ver%%.*}

# ---- 1. install into a prefix
p=$tmp/usr lib=$tmp/usr/lib64
if make -s install O="$O" SAN="${SAN:-0}" TSAN="${TSAN:-0}" PREFIX="$p" LIBDIR="$lib" \
	>"$tmp/make.log" 2>&1; then
	pass "make install PREFIX LIBDIR"
else
	fail "make install: $(tail -n 3 "$tmp/make.log")"
fi
missing=()
for f in include/virtq/version.h include/virtq/ring.h lib64/libvirtq.a \
	 "lib64/libvirtq.so.$ver" lib64/pkgconfig/virtq.pc bin/virtq-blk bin/virtq-net bin/virtq-user; do
	[[ -e $p/$f ]] || missing+=("$f")
done
for h in include/virtq/*.h; do [[ -e $p/$h ]] || missing+=("$h"); done
# the vhost-user descriptors: installed as .json, naming the installed binary
for j in share/qemu/vhost-user/*.json share/qemu/vhost-user/*.json.in; do
	[[ -e $j ]] || continue
	d=$p/share/qemu/vhost-user/$(basename "$j" .in)
	bin=$(sed -n 's/.*"binary": *"\([^"]*\)".*/\1/p' "$d" 2>/dev/null)
	[[ -x $bin && $bin == "$p/bin/"* ]] || missing+=("$d (binary '$bin')")
	ndesc=$((${ndesc:-0} + 1))
done
[[ $(readlink "$lib/libvirtq.so.$major") == "libvirtq.so.$ver" ]] || missing+=("libvirtq.so.$major -> libvirtq.so.$ver")
[[ $(readlink "$lib/libvirtq.so") == "libvirtq.so.$major" ]] || missing+=("libvirtq.so -> libvirtq.so.$major")
soname=$(readelf -d "$lib/libvirtq.so.$ver" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname == "libvirtq.so.$major" ]] || missing+=("SONAME libvirtq.so.$major (have '$soname')")
if ((${#missing[@]} == 0)); then
	pass "installed: headers, libvirtq.a, libvirtq.so.$ver (soname libvirtq.so.$major) and links, virtq.pc, tools, ${ndesc:-0} vhost-user descriptors"
else
	fail "not installed: ${missing[*]}"
fi

# ---- 2. a program against the installed tree, through pkg-config only
cat >"$tmp/prog.c" <<'PROG'
#include <stdio.h>
#include <string.h>
#include <virtq/version.h>
#include <virtq/mem.h>
#include <virtq/ring.h>

int main(void)
{
	static unsigned char guest[4096];
	struct vq_mem *m;
	void *p;

	if (strcmp(vq_version_string(), VQ_VERSION) != 0 ||
	    !vq_version_is_at_least(VQ_VERSION_MAJOR, VQ_VERSION_MINOR) ||
	    vq_version_is_at_least(VQ_VERSION_MAJOR + 1, 0)) {
		printf("version mismatch: header %s, library %s\n", VQ_VERSION,
		       vq_version_string());
		return 1;
	}
	if (vq_mem_new(&m) < 0 ||
	    vq_mem_add(m, &(struct vq_mem_region){ .gpa = 0x1000, .size = sizeof(guest),
						   .hva = guest, .prot = VQ_MEM_RW }) < 0)
		return 2;
	p = vq_mem_ptr(m, 0x1010, 16, VQ_MEM_READ);
	if (p != guest + 0x10 || vq_mem_ptr(m, 0x1ff8, 16, VQ_MEM_READ) != NULL)
		return 3;
	vq_mem_free(m);
	printf("virtq %s ok\n", vq_version_string());
	return 0;
}
PROG
export PKG_CONFIG_PATH=$lib/pkgconfig
flags=$(pkg-config --cflags --libs virtq) || fail "pkg-config --cflags --libs virtq"
[[ $(pkg-config --modversion virtq) == "$ver" ]] || fail "pkg-config --modversion: $(pkg-config --modversion virtq), want $ver"
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Werror "${san[@]}" -o "$tmp/prog" "$tmp/prog.c" $flags 2>"$tmp/cc.log"; then
	out=$(LD_LIBRARY_PATH=$lib "$tmp/prog" 2>&1); rc=$?
	where=$(LD_LIBRARY_PATH=$lib ldd "$tmp/prog" | sed -n 's/.*libvirtq.so.[0-9]* => \([^ ]*\).*/\1/p')
	if ((rc == 0)) && [[ $out == "virtq $ver ok" && $where == "$lib/libvirtq.so.$major" ]]; then
		pass "shared: cc \$(pkg-config --cflags --libs virtq), LD_LIBRARY_PATH=\$LIBDIR: '$out' from $where"
	else
		fail "shared: exit $rc, '$out', libvirtq from '$where'"
	fi
	LD_LIBRARY_PATH= "$tmp/prog" >/dev/null 2>&1 && [[ $lib != /usr/lib* ]] &&
		fail "shared program started without LD_LIBRARY_PATH: which libvirtq did it load?"
else
	fail "cc with pkg-config flags ($flags): $(head -n 5 "$tmp/cc.log")"
fi
sflags=$(pkg-config --static --libs virtq | sed 's/-lvirtq\b/-l:libvirtq.a/')
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Werror "${san[@]}" -o "$tmp/prog_static" "$tmp/prog.c" \
	$(pkg-config --cflags virtq) $sflags 2>"$tmp/cc.log"; then
	out=$("$tmp/prog_static" 2>&1); rc=$?
	if ((rc == 0)) && [[ $out == "virtq $ver ok" ]] && ! ldd "$tmp/prog_static" | grep -q libvirtq; then
		pass "static: libvirtq.a with pkg-config --static --libs: '$out'"
	else
		fail "static: exit $rc, '$out'"
	fi
else
	fail "static link ($sflags): $(head -n 5 "$tmp/cc.log")"
fi

# ---- 3. a packager's staged install
st=$tmp/stage
if make -s install O="$O" SAN="${SAN:-0}" TSAN="${TSAN:-0}" DESTDIR="$st" PREFIX=/usr \
	>"$tmp/make.log" 2>&1 &&
	[[ -e $st/usr/lib/libvirtq.so.$ver && -e $st/usr/include/virtq/ring.h && -x $st/usr/bin/virtq-blk ]] &&
	grep -qx 'prefix=/usr' "$st/usr/lib/pkgconfig/virtq.pc" &&
	[[ -z $(find "$st" -mindepth 1 -maxdepth 1 ! -name usr) ]]; then
	pass "make install DESTDIR=stage PREFIX=/usr: everything under the stage, virtq.pc says /usr"
else
	fail "staged install: $(tail -n 3 "$tmp/make.log"); $(find "$st" -maxdepth 3 | head -5)"
fi
exit $((fails > 0))
