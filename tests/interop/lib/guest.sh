# shellcheck shell=bash source-path=SCRIPTDIR
# guest.sh - boot a Linux guest under QEMU (TCG) with caller-supplied devices.
#
#   guest_start LOG INITRD [QEMU-ARG...]
#       Boot the guest kernel with INITRD in the background. The serial
#       console goes to LOG, QEMU's own stdout/stderr to LOG.qemu. Sets
#       GUEST_PID. Guest RAM is a shared memfd (vhost-user needs it):
#         -object memory-backend-memfd,id=mem,size=$MEM,share=on
#         -numa node,memdev=mem
#       Devices come from the caller, e.g. for a vhost-user NIC:
#         -chardev socket,id=c0,path=SOCK
#         -netdev vhost-user,id=n0,chardev=c0
#         -device virtio-net-pci,netdev=n0,vectors=0
#       Always give virtio devices vectors=0: QEMU 7.2 under TCG crashes
#       (SIGSEGV) when the guest enables MSI-X on a vhost-user device; the
#       guest then uses INTx. romfile= skips loading the iPXE option ROM.
#   guest_wait_marker LOG REGEX SEC [PID]
#       Wait up to SEC seconds for a console line matching the extended
#       REGEX. 0 = seen, 1 = timed out, 2 = QEMU (PID, default GUEST_PID)
#       exited first.
#   guest_wait_done LOG SEC [PID]
#       Wait for /init's "VIRTQ-GUEST-DONE rc=N" line and for QEMU to exit.
#       Returns N (the guest test's status), 124 on timeout, 125 when QEMU
#       died without the marker.
#   guest_stop [PID]
#       Stop QEMU (TERM, then KILL after 10 s). Safe on a dead PID.
#   guest_run LOG INITRD SEC [QEMU-ARG...]
#       guest_start + guest_wait_done + guest_stop; returns the guest's rc.
#   guest_dump LOG
#       Print the tail of LOG and LOG.qemu to stderr, for failure reports.
#
# Environment: VIRTQ_GUEST_MEM (512M), VIRTQ_GUEST_SMP (1),
# VIRTQ_GUEST_MAXSEC (600, absolute bound on the QEMU process),
# VIRTQ_GUEST_APPEND (more kernel parameters), VIRTQ_ACCEL (tcg). /dev/kvm
# exists on these machines but is unusable: QEMU aborts ("failed to set MSR
# 0x10a") with -cpu max and -cpu host alike.
#
# Timing (2 vCPUs, TCG, SeaBIOS): /init runs ~2.5 s after QEMU starts and
# the whole boot-test-poweroff cycle takes ~6 s on an idle machine; 20-30 s
# when other processes keep both CPUs busy, so budget 120 s or more.
#
# Requires: need_qemu and need_guest_kernel (deps.sh), an initramfs from
# mkinitramfs.sh. Sourcing this also sources deps.sh and proc.sh (which owns
# the EXIT trap: QEMU never outlives the script).

if [[ -n ${_VIRTQ_GUEST_SH:-} ]]; then return 0; fi
_VIRTQ_GUEST_SH=1

_guest_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$_guest_lib/deps.sh"
. "$_guest_lib/proc.sh"

# The initramfs builder, for callers: "$VIRTQ_MKINITRAMFS" OUT --init FILE
export VIRTQ_MKINITRAMFS=$_guest_lib/mkinitramfs.sh
GUEST_CMDLINE_BASE="console=ttyS0 quiet loglevel=4 panic=-1 oops=panic \
i8042.noaux=1 i8042.nokbd=1 i8042.nopnp=1 tsc=reliable no_timer_check \
printk.devkmsg=on"

guest_start() {
	local log=$1 initrd=$2 kver mem=${VIRTQ_GUEST_MEM:-512M}
	shift 2
	kver=$(guest_kernel_version) || { echo "guest_start: no guest kernel" >&2; return 1; }
	: >"$log"
	vq_spawn "$log.qemu" "${VIRTQ_GUEST_MAXSEC:-600}" \
		qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot \
		-machine pc,accel="${VIRTQ_ACCEL:-tcg}" -cpu max \
		-smp "${VIRTQ_GUEST_SMP:-1}" -m "$mem" \
		-object memory-backend-memfd,id=mem,size="$mem",share=on \
		-numa node,memdev=mem \
		-kernel "/boot/vmlinuz-$kver" -initrd "$initrd" \
		-append "$GUEST_CMDLINE_BASE ${VIRTQ_GUEST_APPEND:-}" \
		-serial file:"$log" -monitor none \
		"$@"
	GUEST_PID=$VQ_PID
}

guest_wait_marker() {
	local log=$1 re=$2 end=$((SECONDS + $3)) pid=${4:-${GUEST_PID:-}}
	while ((SECONDS < end)); do
		grep -Eqa -- "$re" "$log" 2>/dev/null && return 0
		if [[ -n $pid ]] && ! vq_alive "$pid"; then
			grep -Eqa -- "$re" "$log" 2>/dev/null && return 0
			return 2
		fi
		sleep 0.1
	done
	return 1
}

guest_wait_done() {
	local log=$1 sec=$2 pid=${3:-${GUEST_PID:-}} rc line
	guest_wait_marker "$log" '^VIRTQ-GUEST-DONE rc=[0-9]+' "$sec" "$pid"
	rc=$?
	case $rc in
	1) echo "guest: no VIRTQ-GUEST-DONE within ${sec}s" >&2; return 124 ;;
	2) echo "guest: QEMU exited without VIRTQ-GUEST-DONE" >&2; return 125 ;;
	esac
	line=$(grep -Eao '^VIRTQ-GUEST-DONE rc=[0-9]+' "$log" | tail -n 1)
	# poweroff -f follows the marker at once; give QEMU a moment to exit.
	[[ -n $pid ]] && _vq_wait_exit "$pid" 20
	return "${line##*=}"
}

guest_stop() {
	local pid=${1:-${GUEST_PID:-}}
	[[ -n $pid ]] || return 0
	vq_kill "$pid" TERM 10 || true
}

guest_run() {
	local log=$1 initrd=$2 sec=$3 rc
	shift 3
	guest_start "$log" "$initrd" "$@" || return 1
	guest_wait_done "$log" "$sec"
	rc=$?
	guest_stop "$GUEST_PID"
	return "$rc"
}

guest_dump() {
	echo "---- tail of $1 (guest console) ----" >&2
	tail -n 40 "$1" >&2 2>/dev/null
	echo "---- tail of $1.qemu ----" >&2
	tail -n 20 "$1.qemu" >&2 2>/dev/null
}
