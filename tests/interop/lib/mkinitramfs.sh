#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# mkinitramfs.sh - a busybox initramfs for virtio-net/virtio-blk interop guests.
#
# Usage: mkinitramfs.sh OUT.cpio.gz [--init FILE] [--add SRC DST]... [--module NAME]...
#   --init FILE      copied into the image as /test.sh and run by /init
#                    (without it /init starts an interactive shell on ttyS0).
#   --add SRC DST    copy host file SRC into the image at DST (e.g. a static
#                    test binary); DST is an absolute path in the guest.
#   --module NAME    load one more module (and its dependencies) at boot.
#
# The base image (busybox-static, modules, /init) is cached under
# ${VIRTQ_CACHE:-/var/tmp/virtq-cache}/initramfs, keyed on the guest kernel
# version, the module list, busybox's version and this script. OUT is that
# base with a second, small cpio archive (test.sh, --add files) appended; the
# kernel unpacks concatenated archives in order.
#
# The guest's /init:
#   mounts proc, sys, devtmpfs, devpts, tmpfs /tmp; loads the modules in
#   dependency order; prints "VIRTQ-GUEST-BOOTED"; runs `sh /test.sh`; prints
#   "VIRTQ-GUEST-DONE rc=N" (N = test.sh's exit status); then `poweroff -f`.
#   A module that fails to load prints "VIRTQ-GUEST-INSMOD-FAIL name".
#   /etc/virtq.sh (sourceable by test.sh) has vq_wait_path PATH [SEC].
#
# Guest kernel: the newest /boot/vmlinuz-* with modules, or $VIRTQ_GUEST_KVER;
# `guest_kernel_version` (deps.sh) names the same one, for booting.
# Exit: 0 built, 77 a dependency is missing (SKIP printed), 1 other error.
set -euo pipefail

LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$LIBDIR/deps.sh"

BASE_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci failover net_failover virtio_net virtio_blk)

# Scratch directories and files, removed on any exit.
TMPS=()
trap 'rm -rf "${TMPS[@]}"' EXIT

die() { echo "mkinitramfs: $*" >&2; exit 1; }

usage() {
	sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# mod_order KVER NAME...: print module names, each after its dependencies.
mod_order() {
	local kver=$1
	shift
	local -A seen=()
	_mod_visit() {
		local m=${1//-/_} d deps
		[[ -n ${seen[$m]:-} ]] && return 0
		seen[$m]=1
		deps=$(modinfo -k "$kver" -F depends "$m") || die "no module $m for $kver"
		for d in ${deps//,/ }; do _mod_visit "$d"; done
		echo "$m"
	}
	local m
	for m in "$@"; do _mod_visit "$m"; done
}

# copy_module KVER NAME DESTDIR: uncompressed NAME.ko into DESTDIR; busybox
# insmod cannot read .ko.xz/.ko.zst/.ko.gz.
copy_module() {
	local f
	f=$(modinfo -k "$1" -F filename "$2") || die "no module $2"
	case $f in
	*.ko) cp "$f" "$3/$2.ko" ;;
	*.ko.xz) xz -dc "$f" >"$3/$2.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$3/$2.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$3/$2.ko" ;;
	*) die "unknown module format: $f" ;;
	esac
}

write_init() {
	cat >"$1/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
exec </dev/console >/dev/console 2>&1
for m in $(cat /etc/virtq-modules); do
	insmod /lib/modules/$m.ko || echo "VIRTQ-GUEST-INSMOD-FAIL $m"
done
ip link set lo up 2>/dev/null
echo; echo "VIRTQ-GUEST-BOOTED $(cut -d' ' -f1 /proc/uptime)s"
if [ -f /test.sh ]; then
	sh /test.sh
	rc=$?
else
	echo "no /test.sh: starting a shell, exit it to power off"
	setsid cttyhack sh
	rc=$?
fi
echo; echo "VIRTQ-GUEST-DONE rc=$rc"
sync
poweroff -f
EOF
	chmod 755 "$1/init"
	cat >"$1/etc/virtq.sh" <<'EOF'
# vq_wait_path PATH [SEC]: wait up to SEC (10) seconds for PATH to exist.
vq_wait_path() {
	n=$(( ${2:-10} * 10 ))
	while [ ! -e "$1" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	[ -e "$1" ]
}
EOF
}

# build_base KVER OUT MODULE...: the cacheable part.
build_base() {
	local kver=$1 out=$2 m a
	shift 2
	local root
	root=$(mktemp -d "${TMPDIR:-/tmp}/virtq-initramfs.XXXXXX")
	TMPS+=("$root" "$out.tmp.$$")
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,lib/modules}
	cp /bin/busybox "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list-full); do
		[[ -e $root/$a ]] || ln -s /bin/busybox "$root/$a"
	done
	mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
	mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true
	mod_order "$kver" "$@" >"$root/etc/virtq-modules"
	while read -r m; do copy_module "$kver" "$m" "$root/lib/modules"; done <"$root/etc/virtq-modules"
	echo "$kver" >"$root/etc/virtq-kernel"
	write_init "$root"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -1 >"$out.tmp.$$"
	mv -f "$out.tmp.$$" "$out"
}

# build_overlay OUT INIT ADD...: test.sh and extra files as a second archive.
build_overlay() {
	local out=$1 init=$2 root i
	shift 2
	root=$(mktemp -d "${TMPDIR:-/tmp}/virtq-overlay.XXXXXX")
	TMPS+=("$root")
	[[ -n $init ]] && install -m 755 "$init" "$root/test.sh"
	for ((i = 0; i + 1 < $#; i += 2)); do
		local src=${*:i+1:1} dst=${*:i+2:1}
		[[ $dst == /* ]] || die "--add DST must be absolute: $dst"
		mkdir -p "$root$(dirname "$dst")"
		cp -L "$src" "$root$dst"
	done
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		gzip -1 >"$out"
}

main() {
	local out='' init='' mods=("${BASE_MODULES[@]}") adds=()
	[[ $# -ge 1 ]] || usage
	out=$1
	shift
	while [[ $# -gt 0 ]]; do
		case $1 in
		--init) init=${2:?}; [[ -r $init ]] || die "cannot read $init"; shift 2 ;;
		--add) [[ -r ${2:?} ]] || die "cannot read $2"; adds+=("$2" "${3:?}"); shift 3 ;;
		--module) mods+=("${2:?}"); shift 2 ;;
		*) usage ;;
		esac
	done
	need_busybox && need_guest_kernel && need_cpio || exit 77
	local kver cache key base lock
	kver=$(guest_kernel_version)
	cache=${VIRTQ_CACHE:-/var/tmp/virtq-cache}/initramfs
	mkdir -p "$cache"
	key=$( { echo "$kver ${mods[*]}"
		dpkg-query -W -f='${Version}' busybox-static
		cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
	base=$cache/base-$kver-$key.cpio.gz
	lock=$cache/.lock
	exec 9>"$lock"
	flock -w 300 9 || die "timed out waiting for $lock"
	[[ -s $base ]] || build_base "$kver" "$base" "${mods[@]}"
	find "$cache" -name 'base-*.cpio.gz' -mtime +14 -delete 2>/dev/null || true
	exec 9>&-
	TMPS+=("$out.overlay.$$" "$out.tmp.$$")
	build_overlay "$out.overlay.$$" "$init" "${adds[@]}"
	cat "$base" "$out.overlay.$$" >"$out.tmp.$$"
	rm -f "$out.overlay.$$"
	mv -f "$out.tmp.$$" "$out"
}

main "$@"
