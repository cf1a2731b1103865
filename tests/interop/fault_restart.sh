#!/bin/bash
# fault_restart.sh - virtq-net killed (-9) and restarted under a running QEMU
# guest: the guest's traffic resumes over the reconnected socket, without a
# guest reboot.
#
#   guest eth0 10.98.0.2 --vhost-user-- virtq-net --TAP-- 10.98.0.1 (netns)
#
# virtq-net runs in a network namespace this script creates, in server mode
# on SOCK with a TAP port; QEMU is the client with
# -chardev socket,...,reconnect=1 (vectors=0: QEMU 7.2 TCG bug; RAM is a
# shared memfd, from lib/guest.sh).  The guest pings 10.98.0.1 until it
# answers (VIRTQ-RESTART-PING1), then keeps pinging every 0.2 s.  The host
# then kills virtq-net with SIGKILL, waits 2 s, starts a new one (same
# socket, a new TAP that it configures again), and waits for the guest to
# report that pings failed (VIRTQ-RESTART-LOST) and then came back
# (VIRTQ-RESTART-BACK).  Checks: QEMU reconnected (the new daemon logs a
# frontend and starts queues), the guest booted once (one /init), pings work
# again, the new daemon exits 0 on SIGINT, no sanitizer report.
#
# Prints PASS/FAIL/SKIP; exit 0 passed, 77 skipped, 1 failed.  Needs root,
# /dev/net/tun, ip netns, QEMU and a guest kernel (installed on demand).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. "$ROOT/tests/interop/lib/guest.sh"
NAME=fault_restart
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}
NS=virtq-restart-$$
TAP=vqrtap0

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() {
	echo "FAIL $NAME: $*"
	[[ -n ${LOG:-} ]] && guest_dump "$LOG"
	for l in "${WORK:-/nonexistent}"/daemon*.log; do
		[[ -f $l ]] && { echo "---- $l ----" >&2; grep -v pkts "$l" | tail -n 8 >&2; }
	done
	exit 1
}

[[ -x $BIN/virtq-net ]] || skip "$BIN/virtq-net not built"
((EUID == 0)) || skip "needs root (netns, TAP)"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
need_qemu || skip "qemu-system-x86 not installable"
need_guest_kernel || skip "no guest kernel"
need_busybox || skip "busybox-static not installable"
need_cpio || skip "cpio not installable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-restart.XXXXXX")
if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi
SOCK=$WORK/net.sock
LOG=$WORK/guest.log
ip netns add "$NS" 2>"$WORK/netns.err" || skip "ip netns add failed: $(cat "$WORK/netns.err")"
vq_on_exit "ip netns del '$NS' 2>/dev/null"
ip -n "$NS" link set lo up

cat >"$WORK/guest.sh" <<'EOF'
. /etc/virtq.sh
vq_wait_path /sys/class/net/eth0 20 || { echo "no eth0"; exit 1; }
ip link set eth0 up
ip addr add 10.98.0.2/24 dev eth0
n=0
until ping -c 1 -W 1 10.98.0.1 >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -gt 90 ] && { echo "VIRTQ-RESTART-NOPING"; exit 1; }
done
echo "VIRTQ-RESTART-PING1 after $n failed"
lost=0
n=0
while [ $n -lt 600 ]; do
	if ping -c 1 -W 1 10.98.0.1 >/dev/null 2>&1; then
		if [ $lost -gt 0 ]; then echo "VIRTQ-RESTART-BACK after $lost lost"; exit 0; fi
	else
		[ $lost -eq 0 ] && echo "VIRTQ-RESTART-LOST"
		lost=$((lost + 1))
	fi
	n=$((n + 1))
	sleep 0.2
done
echo "VIRTQ-RESTART-NEVER-BACK lost=$lost"
exit 1
EOF
bash "$VIRTQ_MKINITRAMFS" "$WORK/initrd.gz" --init "$WORK/guest.sh" >"$WORK/mkinitramfs.log" 2>&1
rc=$?
((rc == 77)) && skip "initramfs: $(grep SKIP "$WORK/mkinitramfs.log" | head -n 1)"
((rc == 0)) || { cat "$WORK/mkinitramfs.log" >&2; fail "mkinitramfs failed"; }

nsx() { ip netns exec "$NS" "$@"; }
start_daemon() { # N
	DLOG=$WORK/daemon$1.log
	rm -f "$SOCK"
	vq_spawn "$DLOG" 900 ip netns exec "$NS" "$BIN/virtq-net" --socket "$SOCK" --tap "$TAP" \
		--poll kick --stats 5
	DPID=$VQ_PID
	for _ in $(seq 100); do
		[[ -S $SOCK ]] && nsx test -e "/sys/class/net/$TAP" && break
		vq_alive "$DPID" || break
		sleep 0.1
	done
	[[ -S $SOCK ]] || fail "daemon $1 did not create $SOCK"
	ip -n "$NS" addr add 10.98.0.1/24 dev "$TAP" && ip -n "$NS" link set "$TAP" up ||
		fail "cannot configure $TAP"
}

start_daemon 1
guest_start "$LOG" "$WORK/initrd.gz" \
	-chardev socket,id=c0,path="$SOCK",reconnect=1 \
	-netdev vhost-user,id=n0,chardev=c0 \
	-device virtio-net-pci,netdev=n0,vectors=0,romfile=
guest_wait_marker "$LOG" '^VIRTQ-RESTART-PING1' 300 || fail "the guest never pinged the host"
echo "  $(grep -a '^VIRTQ-RESTART-PING1' "$LOG" | tr -d '\r')"

vq_kill "$DPID" KILL 5
t_kill=$SECONDS
vq_sleep 2
start_daemon 2
guest_wait_marker "$LOG" '^VIRTQ-RESTART-BACK' 180 ||
	fail "guest traffic did not resume ($(grep -aE '^VIRTQ-RESTART' "$LOG" | tail -n 1 | tr -d '\r'))"
back=$((SECONDS - t_kill))
grep -aq '^VIRTQ-RESTART-LOST' "$LOG" || fail "the guest never noticed the outage"
guest_wait_done "$LOG" 60
grc=$?
((grc == 0)) || fail "guest script rc $grc"
boots=$(grep -ac 'VIRTQ-RESTART-PING1' "$LOG")
((boots == 1)) || fail "the guest ran its test $boots times (rebooted?)"
grep -aq 'frontend connected' "$WORK/daemon2.log" || fail "QEMU did not reconnect to the new daemon"
guest_stop "$GUEST_PID"
vq_kill "$DPID" INT 15
drc=$?
((drc == 0)) || fail "the new virtq-net exited $drc on SIGINT"
if grep -aqE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$WORK"/daemon*.log; then
	fail "sanitizer report in a daemon log"
fi
echo "PASS $NAME ($(grep -a '^VIRTQ-RESTART-BACK' "$LOG" | tr -d '\r'); pings back ${back} s after the kill, no reboot)"
exit 0
