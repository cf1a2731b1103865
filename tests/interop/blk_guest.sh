#!/bin/bash
# blk_guest.sh - virtq-blk serving a file to QEMU's vhost-user-blk-pci with a
# Linux guest (TCG).
#
# Boot 1 (1 queue): the guest sees /dev/vda with the file's size, the serial
#   (GET_ID), writes 4 MiB of random data with dd, syncs, drops its caches,
#   reads it back (md5 must match), discards 1 MiB (blkdiscard); the host
#   checks the file's bytes have the same md5 and the discarded range reads
#   as zeros.  The daemon is stopped with SIGINT and must print its totals.
# Boot 2 (a new daemon, 2 queues, 2 vCPUs): the guest finds the data still
#   there (same md5) and sees 2 hardware queues.
#
# Prints PASS/FAIL/SKIP lines; exit 0 passed, 77 skipped, 1 failed.
# VIRTQ_KEEP=1 keeps the work directory (console and daemon logs).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LIB=$ROOT/tests/interop/lib
. "$LIB/guest.sh"

NAME=blk_guest
BIN=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-blk
# BLK_GUEST_SVQ=1 (svq_blk_guest.sh): QEMU reaches virtq-blk through
# virtq-svq; boot 1 only (a boot costs ~100 s on a busy 2-CPU machine).
SVQ=
if [[ -n ${BLK_GUEST_SVQ:-} ]]; then
	NAME=svq_blk_guest
	SVQ=${VIRTQ_BIN:-$ROOT/${O:-build}/bin}/virtq-svq
fi
SIZE_MB=64
SERIAL=virtq-interop-0001

skip() { echo "SKIP $NAME: $*"; exit 77; }
fail() { echo "FAIL $NAME: $*"; [[ -n ${LOG:-} ]] && guest_dump "$LOG"; \
	[[ -n ${DLOG:-} ]] && { echo "---- daemon log ----" >&2; tail -n 20 "$DLOG" >&2; }; exit 1; }

[[ -x $BIN ]] || skip "$BIN not built"
[[ -z $SVQ || -x $SVQ ]] || skip "$SVQ not built"
need_qemu || skip "qemu-system-x86 not installable"
need_guest_kernel || skip "no guest kernel"
need_busybox || skip "busybox-static not installable"
need_cpio || skip "cpio not installable"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/virtq-blk-guest.XXXXXX")
if [[ -n ${VIRTQ_KEEP:-} ]]; then echo "  work dir kept: $WORK"; else vq_on_exit "rm -rf '$WORK'"; fi
IMG=$WORK/disk.img
SOCK=$WORK/blk.sock
truncate -s ${SIZE_MB}M "$IMG"

# ---- guest scripts
cat >"$WORK/boot1.sh" <<EOF
. /etc/virtq.sh
vq_wait_path /dev/vda 20 || { echo "no /dev/vda"; exit 1; }
echo "VIRTQ-BLK-SECTORS \$(cat /sys/block/vda/size)"
echo "VIRTQ-BLK-SERIAL \$(cat /sys/block/vda/serial)"
echo "VIRTQ-BLK-RO \$(cat /sys/block/vda/ro)"
dd if=/dev/urandom of=/tmp/pat bs=1M count=4 2>/dev/null || exit 1
echo "VIRTQ-BLK-PATTERN \$(md5sum </tmp/pat | cut -d' ' -f1)"
dd if=/tmp/pat of=/dev/vda bs=1M seek=1 conv=fsync 2>/dev/null || { echo "dd write failed"; exit 1; }
sync
echo 3 >/proc/sys/vm/drop_caches
echo "VIRTQ-BLK-READBACK \$(dd if=/dev/vda bs=1M skip=1 count=4 2>/dev/null | md5sum | cut -d' ' -f1)"
dd if=/tmp/pat of=/dev/vda bs=1M seek=16 conv=fsync 2>/dev/null || exit 1
blkdiscard -o \$((16 << 20)) -l \$((1 << 20)) /dev/vda && echo "VIRTQ-BLK-DISCARD ok"
sync
exit 0
EOF
cat >"$WORK/boot2.sh" <<EOF
. /etc/virtq.sh
vq_wait_path /dev/vda 20 || { echo "no /dev/vda"; exit 1; }
echo "VIRTQ-BLK-SECTORS \$(cat /sys/block/vda/size)"
echo "VIRTQ-BLK-MQ \$(ls /sys/block/vda/mq | wc -l)"
echo "VIRTQ-BLK-READBACK \$(dd if=/dev/vda bs=1M skip=1 count=4 2>/dev/null | md5sum | cut -d' ' -f1)"
exit 0
EOF
for b in 1 2; do
	bash "$VIRTQ_MKINITRAMFS" "$WORK/initrd$b.gz" --init "$WORK/boot$b.sh" >"$WORK/mkinitramfs$b.log" 2>&1
	rc=$?
	((rc == 77)) && skip "initramfs: $(grep SKIP "$WORK/mkinitramfs$b.log" | head -n 1)"
	((rc == 0)) || { cat "$WORK/mkinitramfs$b.log" >&2; fail "mkinitramfs failed"; }
done

# value KEY: the value after "KEY " on the guest console
value() { grep -a "^$1 " "$LOG" | tail -n 1 | cut -d' ' -f2 | tr -d '\r'; }

# boot N QUEUES: start a daemon, boot the guest, stop the daemon
boot() {
	local n=$1 nq=$2 rc
	DLOG=$WORK/daemon$n.log
	LOG=$WORK/guest$n.log
	rm -f "$SOCK"
	vq_spawn "$DLOG" 600 "$BIN" --socket "$SOCK" --file "$IMG" --serial "$SERIAL" \
		--queues "$nq" --iothreads 2
	DPID=$VQ_PID
	for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.1; done
	[[ -S $SOCK ]] || fail "boot $n: daemon did not create $SOCK"
	local qsock=$SOCK plog=$WORK/svq$n.log ppid= bad
	if [[ -n $SVQ ]]; then
		qsock=$WORK/svq.sock
		rm -f "$qsock"
		vq_spawn "$plog" 600 "$SVQ" --socket "$qsock" --backend "$SOCK" --type blk
		ppid=$VQ_PID
		for _ in $(seq 100); do [[ -S $qsock ]] && break; sleep 0.1; done
		[[ -S $qsock ]] || fail "boot $n: virtq-svq did not create $qsock"
	fi
	VIRTQ_GUEST_SMP=$nq guest_run "$LOG" "$WORK/initrd$n.gz" 300 \
		-chardev socket,id=c0,path="$qsock" \
		-device vhost-user-blk-pci,chardev=c0,num-queues="$nq",vectors=0
	rc=$?
	((rc == 0)) || { [[ -n $ppid ]] && tail -n 5 "$plog" >&2; fail "boot $n: guest test failed (rc=$rc)"; }
	if [[ -n $ppid ]]; then
		vq_kill "$ppid" INT 10
		rc=$?
		((rc == 0)) || fail "boot $n: virtq-svq exited with $rc after SIGINT"
		grep -aq 'frontend connected' "$plog" || fail "boot $n: QEMU never reached virtq-svq"
		bad=$(vq_log_fault "$plog")
		[[ -z $bad ]] || fail "boot $n: virtq-svq: $bad"
	fi
	vq_kill "$DPID" INT 10
	rc=$?
	((rc == 0)) || fail "boot $n: daemon exited with $rc after SIGINT"
	grep -q '^total ' "$DLOG" || fail "boot $n: no totals line from the daemon"
}

host_md5() { dd if="$IMG" bs=1M skip="$1" count="$2" 2>/dev/null | md5sum | cut -d' ' -f1; }

boot 1 1
sectors=$(value VIRTQ-BLK-SECTORS)
[[ $sectors == $((SIZE_MB * 2048)) ]] || fail "guest sees $sectors sectors, want $((SIZE_MB * 2048))"
[[ $(value VIRTQ-BLK-SERIAL) == "$SERIAL" ]] || fail "serial '$(value VIRTQ-BLK-SERIAL)'"
[[ $(value VIRTQ-BLK-RO) == 0 ]] || fail "device is read-only"
pat=$(value VIRTQ-BLK-PATTERN)
[[ -n $pat && $(value VIRTQ-BLK-READBACK) == "$pat" ]] || fail "guest read back a different md5"
[[ $(host_md5 1 4) == "$pat" ]] || fail "host file md5 $(host_md5 1 4) != guest $pat"
[[ $(value VIRTQ-BLK-DISCARD) == ok ]] || fail "blkdiscard failed in the guest"
[[ $(host_md5 16 1) == $(head -c 1M /dev/zero | md5sum | cut -d' ' -f1) ]] ||
	fail "discarded range is not zero on the host"
[[ $(host_md5 17 3) == $(dd if="$IMG" bs=1M skip=1 count=4 2>/dev/null | tail -c 3M | md5sum | cut -d' ' -f1) ]] ||
	fail "discard went past its range"
grep '^total ' "$WORK/daemon1.log" | sed 's/^/  boot 1 daemon: /'

if [[ -n $SVQ ]]; then
	echo "PASS $NAME: through virtq-svq: /dev/vda $SIZE_MB MiB, serial, 4 MiB written and read back (md5), on the host too, discard zeroed"
	exit 0
fi
boot 2 2
[[ $(value VIRTQ-BLK-SECTORS) == $((SIZE_MB * 2048)) ]] || fail "boot 2: wrong size"
[[ $(value VIRTQ-BLK-READBACK) == "$pat" ]] || fail "boot 2: data not persistent"
[[ $(value VIRTQ-BLK-MQ) == 2 ]] || fail "boot 2: guest sees $(value VIRTQ-BLK-MQ) queues, want 2"
grep '^total ' "$WORK/daemon2.log" | sed 's/^/  boot 2 daemon: /'

echo "PASS $NAME"
exit 0
