# shellcheck shell=bash source-path=SCRIPTDIR
# deps.sh - install the real peers that interop tests and benchmarks run.
#
# Source it, then call the need_* you want. Each returns 0 when the tool is
# present (installing it from Debian's archive if needed) and non-zero after
# printing a line starting "SKIP: cannot install <pkg>: <reason>" otherwise.
# A test that gets non-zero should exit 77.
#
#   need_qemu          qemu-system-x86_64           (qemu-system-x86)
#   need_dpdk          dpdk-testpmd + vhost/virtio  (dpdk-dev, librte-net-*)
#   need_guest_kernel  /boot/vmlinuz-* + modules    (linux-image-amd64, kmod)
#   need_busybox       /bin/busybox static          (busybox-static)
#   need_cpio          cpio                         (cpio)
#   need_liburing      liburing, found by pkg-config (liburing-dev, pkg-config);
#                      `make check` and `make bench` call it before building
#   need_diod          diod, a 9P2000.L server      (diod)
#   need_pkgs P...     any Debian packages, by name
#   guest_kernel_version   prints the guest kernel version (newest
#                          /boot/vmlinuz-* with virtio modules, or
#                          $VIRTQ_GUEST_KVER); the host's own kernel is
#                          not used
#
# Environment:
#   VIRTQ_NO_INSTALL=1  never run apt-get; a missing tool is a SKIP.
#
# apt-get update runs at most once per shell (and its children), and only when
# something is missing, so a machine that has everything costs no network.
# Installing linux-image-amd64 sets INITRD=No: the host initramfs that its
# postinst would build is never used. Fresh-install times on this machine:
# busybox-static 6.5 s (incl. apt-get update), qemu-system-x86 6.8 s,
# DPDK 15.8 s, linux-image-amd64 + kmod 8.2 s; ~0.06 s for all when present.

if [[ -n ${_VIRTQ_DEPS_SH:-} ]]; then return 0; fi
_VIRTQ_DEPS_SH=1

_deps_log() { printf '%s\n' "$*" >&2; }

# _deps_skip PKG REASON: the loud line tests and CI grep for.
_deps_skip() {
	_deps_log "################################################################"
	_deps_log "SKIP: cannot install $1: $2"
	_deps_log "################################################################"
	return 1
}

# _deps_apt_update: once per run; exported so child shells do not redo it.
_deps_apt_update() {
	[[ ${VIRTQ_APT_UPDATED:-} == 1 ]] && return 0
	timeout 300 apt-get update -q >/dev/null 2>"${TMPDIR:-/tmp}/virtq-apt-update.$$.err" || {
		_deps_log "apt-get update failed: $(tail -n 2 "${TMPDIR:-/tmp}/virtq-apt-update.$$.err" 2>/dev/null)"
		rm -f "${TMPDIR:-/tmp}/virtq-apt-update.$$.err"
		return 1
	}
	rm -f "${TMPDIR:-/tmp}/virtq-apt-update.$$.err"
	export VIRTQ_APT_UPDATED=1
}

# _deps_installed PKG...: true when dpkg says every package is installed.
_deps_installed() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || return 1
		[[ $st == installed ]] || return 1
	done
}

# need_pkgs PKG...: install the packages that are missing. INITRD=No stops the
# kernel postinst from building a host initramfs we never use (saves ~30 s).
need_pkgs() {
	local missing=() p err
	for p in "$@"; do _deps_installed "$p" || missing+=("$p"); done
	((${#missing[@]} == 0)) && return 0
	if [[ ${VIRTQ_NO_INSTALL:-} == 1 ]]; then
		_deps_skip "${missing[*]}" "not installed and VIRTQ_NO_INSTALL=1"
		return 1
	fi
	if ((EUID != 0)); then
		_deps_skip "${missing[*]}" "not installed and not root"
		return 1
	fi
	command -v apt-get >/dev/null || { _deps_skip "${missing[*]}" "no apt-get"; return 1; }
	_deps_apt_update || { _deps_skip "${missing[*]}" "apt-get update failed"; return 1; }
	err="${TMPDIR:-/tmp}/virtq-apt-install.$$.err"
	_deps_log "deps: installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive INITRD=No timeout 900 \
		apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" >/dev/null 2>"$err"; then
		_deps_skip "${missing[*]}" "apt-get install failed: $(grep -E '^E:' "$err" | head -n 2 | tr '\n' ' ')"
		rm -f "$err"
		return 1
	fi
	rm -f "$err"
}

need_qemu() {
	command -v qemu-system-x86_64 >/dev/null && return 0
	need_pkgs qemu-system-x86 || return 1
	command -v qemu-system-x86_64 >/dev/null ||
		_deps_skip qemu-system-x86 "installed but qemu-system-x86_64 not on PATH"
}

# DPDK's drivers are plugins (dlopen'ed from the PMD dir), which Debian lists
# as Recommends of "dpdk"; with --no-install-recommends name them explicitly.
# dpdk-testpmd itself ships in dpdk-dev, not in dpdk.
VIRTQ_DPDK_PKGS=(dpdk-dev librte-net-vhost23 librte-net-virtio23 librte-mempool-ring23)

need_dpdk() {
	if command -v dpdk-testpmd >/dev/null && _deps_installed "${VIRTQ_DPDK_PKGS[@]:1}"; then
		return 0
	fi
	need_pkgs "${VIRTQ_DPDK_PKGS[@]}" || return 1
	command -v dpdk-testpmd >/dev/null ||
		_deps_skip dpdk-dev "installed but dpdk-testpmd not on PATH"
}

# guest_kernel_version: newest kernel in /boot that has a module tree, or
# $VIRTQ_GUEST_KVER. Prints nothing and returns 1 when there is none.
guest_kernel_version() {
	local v best=
	if [[ -n ${VIRTQ_GUEST_KVER:-} ]]; then
		[[ -r /boot/vmlinuz-$VIRTQ_GUEST_KVER && -d /lib/modules/$VIRTQ_GUEST_KVER/kernel ]] || return 1
		printf '%s\n' "$VIRTQ_GUEST_KVER"
		return 0
	fi
	for v in /boot/vmlinuz-*; do
		v=${v#/boot/vmlinuz-}
		[[ -r /boot/vmlinuz-$v && -d /lib/modules/$v/kernel/drivers/virtio ]] || continue
		best=$(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n 1)
	done
	[[ -n $best ]] && printf '%s\n' "$best"
}

need_guest_kernel() {
	if command -v modinfo >/dev/null && guest_kernel_version >/dev/null; then
		return 0
	fi
	need_pkgs linux-image-amd64 kmod || return 1
	command -v modinfo >/dev/null || { _deps_skip kmod "modinfo not on PATH"; return 1; }
	guest_kernel_version >/dev/null ||
		_deps_skip linux-image-amd64 "installed but no /boot/vmlinuz-* with virtio modules"
}

need_busybox() {
	[[ -x /bin/busybox ]] && _deps_installed busybox-static && return 0
	need_pkgs busybox-static || return 1
	[[ -x /bin/busybox ]] || _deps_skip busybox-static "installed but /bin/busybox missing"
}

need_cpio() {
	command -v cpio >/dev/null && return 0
	need_pkgs cpio
}

# The Makefile links the 9p server's io_uring path when pkg-config finds
# liburing; without it the build falls back to preadv/pwritev (and says so).
need_liburing() {
	pkg-config --exists liburing 2>/dev/null && return 0
	need_pkgs liburing-dev pkg-config || return 1
	pkg-config --exists liburing ||
		_deps_skip liburing-dev "installed but pkg-config does not find liburing"
}

need_diod() {
	command -v diod >/dev/null || [[ -x /usr/sbin/diod ]] && return 0
	need_pkgs diod
}
