#!/bin/bash
# fault_blkfull.sh - virtq-blk with its backing storage full.
#
# A 1 MiB tmpfs is mounted in a private mount namespace (unshare -m; a
# holder process keeps it alive, nsenter runs the daemons in it; nothing is
# mounted in the caller's namespace, so nothing is left behind).  It holds a
# 256 KiB filler file and a sparse 4 MiB disk image, served by virtq-blk.
#   1. virtq-hostile blk-fill writes the disk block by block (4 KiB, one in
#      flight, pattern of seed 7) and records which writes the device
#      acknowledged (ACK) and which failed (ERR): the tmpfs fills up, so
#      some writes must fail with an I/O error status (-EIO), some succeed,
#      and the daemon must stay up and answer every request (no hang).
#   2. The daemon is stopped (SIGINT: exit 0, its totals count the I/O
#      errors) and a NEW daemon is started on the same file ("reopen"):
#      virtq-hostile blk-check reads back every acknowledged block; none
#      may be lost or different.
#   3. The filler is deleted (space comes back): a second fill (seed 8)
#      must now get more writes acknowledged than the first, and all of
#      them must read back.
# Needs root for unshare -m / mount (else SKIP).
#
# Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init fault_blkfull
hc_need virtq-blk virtq-hostile
command -v unshare >/dev/null && command -v nsenter >/dev/null ||
	{ echo "SKIP fault_blkfull: unshare/nsenter not installed (util-linux)"; exit 77; }

MNT=$WORK/mnt
mkdir -p "$MNT"
vq_spawn holder.log 600 unshare -m --propagation private \
	sh -c "mount -t tmpfs -o size=1M tmpfs '$MNT' && echo MOUNTED && exec sleep 590"
HOLDER=$VQ_PID
if ! hc_wait_grep holder.log MOUNTED 10; then
	echo "SKIP fault_blkfull: cannot mount a tmpfs in a private mount namespace: $(head -c 200 holder.log)"
	exit 77
fi
NS=$(hc_child "$HOLDER")
inns() { nsenter -t "$NS" -m -- "$@"; }
inns sh -c "head -c 262144 /dev/zero >'$MNT/filler' && truncate -s 4M '$MNT/disk.img'" ||
	{ hc_fail setup "cannot create files on the tmpfs"; hc_end; }

daemon() { # LOG: start virtq-blk on the tmpfs file; sets DPID
	rm -f k.sock
	vq_spawn "$1" 120 nsenter -t "$NS" -m -- "$BIN/virtq-blk" --socket "$WORK/k.sock" \
		--file "$MNT/disk.img"
	DPID=$VQ_PID
	hc_wait_sock k.sock 10
}

# 1. fill until full
daemon blk1.log || { hc_fail setup "virtq-blk did not start"; cat blk1.log >&2; hc_end; }
timeout -k 5 120 "${HOSTILE[@]}" blk-fill -s k.sock --seed 7 >fill1.out 2>fill1.err
frc=$?
acked1=$(grep -c '^ACK ' fill1.out) errs1=$(grep -c '^ERR ' fill1.out)
if ((frc == 0 && acked1 > 0 && errs1 > 0)) && ! grep '^ERR ' fill1.out | grep -vq 'Input/output error' &&
	vq_alive "$DPID"; then
	hc_pass full-gets-eio "$acked1 writes acknowledged, $errs1 failed with EIO ($(grep '^FLUSH' fill1.out))"
else
	hc_fail full-gets-eio "blk-fill rc $frc, $acked1 acked, $errs1 errors: $(grep -v '^ACK' fill1.out | sort | uniq -c | head -n 3 | tr '\n' ' ') $(tail -n 2 fill1.err)"
fi

# 2. reopen, verify every acknowledged write
vq_kill "$DPID" INT 15
rc=$?
if ((rc == 0)) && grep -Eq '^total .*ioerr [1-9]' blk1.log; then
	hc_pass daemon-exit "$(grep '^total ' blk1.log | grep -o 'ioerr [0-9]* ([^)]*)')"
else
	hc_fail daemon-exit "rc $rc; $(grep '^total ' blk1.log)"
fi
daemon blk2.log || { hc_fail reopen "virtq-blk did not start again"; hc_end; }
if timeout -k 5 120 "${HOSTILE[@]}" blk-check -s k.sock --seed 7 --acked fill1.out >check1.out 2>&1; then
	hc_pass acked-writes-kept "$(tail -n 1 check1.out)"
else
	hc_fail acked-writes-kept "$(tr '\n' ' ' <check1.out)"
fi

# 3. space comes back
inns rm -f "$MNT/filler"
timeout -k 5 120 "${HOSTILE[@]}" blk-fill -s k.sock --seed 8 >fill2.out 2>fill2.err
acked2=$(grep -c '^ACK ' fill2.out)
if ((acked2 > acked1)) &&
	timeout -k 5 120 "${HOSTILE[@]}" blk-check -s k.sock --seed 8 --acked fill2.out >check2.out 2>&1; then
	hc_pass space-freed "$acked2 writes acknowledged (was $acked1); $(tail -n 1 check2.out)"
else
	hc_fail space-freed "$acked2 acked (was $acked1): $(tr '\n' ' ' <check2.out 2>/dev/null)"
fi
vq_kill "$DPID" INT 15
rc=$?
((rc == 0)) || hc_fail daemon-exit-2 "rc $rc"
vq_kill "$HOLDER" TERM 5
if hc_san blk1.log blk2.log fill1.err fill2.err check1.out check2.out; then
	hc_pass no-sanitizer-report "${SAN:-0}"
else
	hc_fail no-sanitizer-report "see above"
fi
hc_end
