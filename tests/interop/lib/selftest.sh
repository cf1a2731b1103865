#!/bin/bash
# selftest.sh - check that the interop environment works on this machine:
# the packages install, a TCG guest boots and sees virtio-net and
# virtio-blk, DPDK's vhost and virtio-user talk (split and packed), and a
# guest talks to DPDK's vhost over vhost-user.
#
# Usage: selftest.sh [TEST...]     (default: all; -l lists them)
# Each test runs in its own process under a timeout; exit 77 = skip.
# Ends with "N passed, N failed, N skipped"; exits 1 if any failed.
# shellcheck source-path=SCRIPTDIR

LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTS=(deps guest_boot dpdk_split_g2b dpdk_packed_b2g dpdk_9000 guest_dpdk_vhost)

fail() { echo "FAIL: $*" >&2; exit 1; }
skip_unless() { "$@" || exit 77; }

t_deps() {
	. "$LIB/deps.sh"
	need_qemu && need_dpdk && need_guest_kernel && need_busybox && need_cpio || exit 77
	command -v dpdk-testpmd qemu-system-x86_64 modinfo >/dev/null || fail "tools missing after install"
}

# A guest with a plain virtio-net (no backend) and a virtio-blk disk whose
# first sector holds a known string.
t_guest_boot() {
	. "$LIB/guest.sh"
	skip_unless need_qemu
	skip_unless need_guest_kernel
	local d=$WORK t
	printf 'virtq-disk-magic' | dd of="$d/disk.img" conv=notrunc status=none
	truncate -s 16M "$d/disk.img"
	cat >"$d/t.sh" <<-'EOF'
		. /etc/virtq.sh
		vq_wait_path /sys/class/net/eth0 10 || { echo "no eth0"; exit 1; }
		vq_wait_path /dev/vda 10 || { echo "no vda"; exit 2; }
		m=$(dd if=/dev/vda bs=16 count=1 2>/dev/null)
		[ "$m" = virtq-disk-magic ] || { echo "bad magic: $m"; exit 3; }
		echo "eth0 and vda ok"
	EOF
	"$VIRTQ_MKINITRAMFS" "$d/i.gz" --init "$d/t.sh" || exit $?
	t=$SECONDS
	guest_run "$d/g.log" "$d/i.gz" 120 \
		-device virtio-net-pci,vectors=0,romfile= \
		-drive file="$d/disk.img",if=none,id=d0,format=raw \
		-device virtio-blk-pci,drive=d0,vectors=0 || { guest_dump "$d/g.log"; fail "guest rc=$?"; }
	echo "guest ran in $((SECONDS - t)) s"
}

# _pair DIR SIZE VU-OPTS...: one DPDK pair run, asserts packets of SIZE
# bytes arrived at the receiver.
_pair() {
	. "$LIB/dpdk.sh"
	skip_unless need_dpdk
	local dir=$1 size=$2 hf=rxonly uf=txonly a b rx st n=0 bytes=0
	shift 2
	[[ $dir == b2g ]] && { hf=txonly; uf=rxonly; }
	DPDK_LOGDIR=$WORK
	dpdk_vhost_start "$WORK/s.sock" "vqst$$a" "$hf" --size "$size" || fail "vhost start"
	a=$DPDK_PID
	dpdk_virtio_user_start "$WORK/s.sock" "vqst$$b" "$uf" --size "$size" "$@" || fail "virtio-user start"
	b=$DPDK_PID
	vq_sleep 4
	if [[ $dir == g2b ]]; then rx=$WORK/testpmd-vqst$$a.log; else rx=$WORK/testpmd-vqst$$b.log; fi
	dpdk_stop "$b" || fail "virtio-user exit status $?"
	dpdk_stop "$a" || fail "vhost exit status $?"
	st=$(dpdk_parse_stats "$rx" | head -n 1)
	echo "$dir $size $*: $st"
	[[ $st =~ rx_packets=([0-9]+) ]] && n=${BASH_REMATCH[1]}
	[[ $st =~ rx_bytes=([0-9]+) ]] && bytes=${BASH_REMATCH[1]}
	((n > 0)) || fail "no packets received"
	# bytes come from the last periodic sample, so compare the ratio.
	(( bytes % size == 0 )) || fail "rx_bytes $bytes is not a multiple of $size"
}

t_dpdk_split_g2b() { _pair g2b 64; }
t_dpdk_packed_b2g() { _pair b2g 64 --packed; }
t_dpdk_9000() { _pair b2g 9000 --mrg 0; }

# A TCG guest's virtio-net backed by DPDK's vhost PMD in io (echo) mode:
# the guest's pings go out and come back.
t_guest_dpdk_vhost() {
	. "$LIB/guest.sh"
	. "$LIB/dpdk.sh"
	skip_unless need_qemu
	skip_unless need_guest_kernel
	skip_unless need_dpdk
	local d=$WORK st
	cat >"$d/t.sh" <<-'EOF'
		. /etc/virtq.sh
		vq_wait_path /sys/class/net/eth0 10 || exit 1
		ip link set eth0 up && ip addr add 10.99.0.1/24 dev eth0
		ip neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev eth0
		ping -c 5 -i 0.2 -w 3 10.99.0.2 >/dev/null 2>&1
		s=/sys/class/net/eth0/statistics
		echo "eth0 tx=$(cat $s/tx_packets) rx=$(cat $s/rx_packets)"
		[ "$(cat $s/tx_packets)" -ge 5 ] && [ "$(cat $s/rx_packets)" -ge 5 ]
	EOF
	"$VIRTQ_MKINITRAMFS" "$d/i.gz" --init "$d/t.sh" || exit $?
	DPDK_LOGDIR=$d
	dpdk_vhost_start "$d/v.sock" "vqst$$g" io || fail "vhost start"
	guest_run "$d/g.log" "$d/i.gz" 180 \
		-chardev socket,id=c0,path="$d/v.sock" \
		-netdev vhost-user,id=n0,chardev=c0 \
		-device virtio-net-pci,netdev=n0,vectors=0,romfile= ||
		{ guest_dump "$d/g.log"; fail "guest rc=$?"; }
	dpdk_stop "$DPDK_PID"
	st=$(dpdk_parse_stats "$d/testpmd-vqst$$g.log" | head -n 1)
	grep -a 'eth0 tx=' "$d/g.log"
	echo "vhost: $st"
}

run_one() {
	. "$LIB/proc.sh"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-selftest.XXXXXX")
	export WORK
	# shellcheck disable=SC2016 # expanded at exit
	vq_on_exit 'rm -rf "$WORK"'
	"t_$1"
}

main() {
	local t rc pass=0 failn=0 skip=0 list=("$@")
	if [[ ${1:-} == -l ]]; then printf '%s\n' "${TESTS[@]}"; exit 0; fi
	((${#list[@]})) || list=("${TESTS[@]}")
	for t in "${list[@]}"; do
		declare -F "t_$t" >/dev/null || { echo "no test $t" >&2; exit 2; }
		timeout --foreground -k 10 300 bash "${BASH_SOURCE[0]}" --one "$t"
		rc=$?
		case $rc in
		0) echo "PASS $t"; pass=$((pass + 1)) ;;
		77) echo "SKIP $t"; skip=$((skip + 1)) ;;
		124) echo "FAIL $t (timed out)"; failn=$((failn + 1)) ;;
		*) echo "FAIL $t (rc=$rc)"; failn=$((failn + 1)) ;;
		esac
	done
	echo "$pass passed, $failn failed, $skip skipped"
	((failn == 0))
}

if [[ ${1:-} == --one ]]; then
	run_one "$2"
else
	main "$@"
fi
