#!/bin/bash
# hostile_blk.sh - a hostile frontend against virtq-blk over a real socket.
#
# virtq-blk serves a 16 MiB file on k.sock.  The upper 8 MiB are filled from
# the host with random data first (md5 recorded).  Then, one connection per
# case, virtq-hostile fe --dev blk commits each ring violation (on vring 0)
# and protocol violation it knows.  Per case:
#   - virtq-hostile saw the expected reaction (ring: the error eventfd
#     signalled and the bad chain not consumed; protocol: connection closed,
#     or an error ack after which the connection still answers);
#   - the daemon logged a line naming the violation;
#   - once the attacker hung up, the daemon holds as many fds as before the
#     case and its RSS is at most 4 MiB above;
#   - the daemon still runs, and right after the attacker hung up a healthy
#     frontend (virtq-user blk verify: write 1 MiB, flush, read back,
#     compare) is served.  virtq-blk has one socket and serves one frontend
#     at a time, so unlike hostile_net.sh there is no second port to measure
#     during the attack: "the next frontend works" is the claim here.
# At the end: the host's upper 8 MiB are unchanged (no bad chain reached the
# file), the daemon exits 0 on SIGINT, its totals count every broken queue in
# errors, and no sanitizer report appears.
#
# Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
# VIRTQ_KEEP=1 keeps the work directory.  HOSTILE_CASES="a b" runs a subset.
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init hostile_blk
hc_need virtq-blk virtq-user virtq-hostile

truncate -s 16M disk.img
dd if=/dev/urandom of=disk.img bs=1M seek=8 count=8 conv=notrunc status=none
md5_hi() { dd if=disk.img bs=1M skip=8 count=8 status=none | md5sum | cut -d' ' -f1; }
want=$(md5_hi)

vq_spawn blk.log 600 "$BIN/virtq-blk" --socket k.sock --file disk.img
BPID=$VQ_PID
hc_wait_sock k.sock 10 || { hc_fail setup "virtq-blk did not create k.sock"; cat blk.log >&2; hc_end; }

BCHILD=$(hc_child "$BPID")

healthy() { # a full verify pass on the first MiB; true when it says OK
	timeout -k 5 30 "$BIN/virtq-user" blk -s k.sock --size 1M --bs 4k --qd 8 --cpu 0 >healthy.log 2>&1 &&
		grep -q '^verify: OK' healthy.log
}
healthy || { hc_fail setup "a healthy frontend fails before any attack"; cat healthy.log >&2; hc_end; }

attack() {
	local c=$1 text=$2 off out=case-$1.out rc why='' fd0 rss0 base list0
	off=$(hc_size blk.log)
	fd0=$(hc_settle "$BCHILD") rss0=$(hc_rss_kb "$BCHILD") list0=$(hc_fdlist "$BCHILD")
	timeout -k 5 30 "${HOSTILE[@]}" fe --dev blk -s k.sock --case "$c" --hold-ms 200 >"$out" 2>&1
	rc=$?
	if ((rc != 0)); then
		why="virtq-hostile exited $rc: $(grep -v '^HOSTILE' "$out" | tail -n 2 | tr '\n' ' ')"
	elif ! hc_wait_grep blk.log "$text" 3 "$off"; then
		why="no daemon log line containing \"$text\""
	elif ! vq_alive "$BPID"; then
		why="virtq-blk died"
	elif ! base=$(hc_baseline "$BCHILD" "$fd0" "$rss0" "$list0"); then
		why="the daemon did not return to its fds and memory before the case: $base"
	elif ! healthy; then
		why="the next (healthy) frontend failed: $(tail -n 2 healthy.log | tr '\n' ' ')"
	fi
	if [[ -n $why ]]; then
		hc_fail "$c" "$why"
		tail -c +$((off + 1)) blk.log | tail -n 5 >&2
	else
		hc_pass "$c" "$(tail -c +$((off + 1)) blk.log | grep -aF -m1 -- "$text" |
			sed -E 's/^([0-9.]+ [a-z]+ )?virtq[-a-z]*: //' | cut -c1-110); next frontend verified"
	fi
}

t0=$SECONDS
while IFS=$'\t' read -r kc text; do
	kind=${kc%% *} c=${kc#* }
	if [[ -n ${HOSTILE_CASES:-} && " $HOSTILE_CASES " != *" $c "* ]]; then continue; fi
	if [[ $kind == skip ]]; then hc_skip "$c" "$text"; continue; fi
	[[ $kind == tool ]] && continue
	vq_alive "$BPID" || { hc_fail "$c" "virtq-blk is not running"; continue; }
	attack "$c" "$text"
done < <("${HOSTILE[@]}" fe --list)
echo "  attacks took $((SECONDS - t0)) s"

vq_kill "$BPID" INT 15
rc=$?
got=$(md5_hi)
if ((rc == 0)) && [[ $got == "$want" ]] && grep -q '^total ' blk.log; then
	hc_pass clean-exit "daemon exit 0; host data outside the verified MiB unchanged"
else
	hc_fail clean-exit "daemon rc $rc; upper 8 MiB md5 $got, want $want"
fi
# Ring violations break the queue: the totals count each break in errors.
nring=$("${HOSTILE[@]}" fe --list | grep -c '^ring ')
errors=$(sed -n 's/^total .* errors \([0-9]*\).*/\1/p' blk.log | tail -n 1)
# (At most once per case; a case may break the connection instead.)
if [[ -n $errors ]] && ((errors > 0 && errors <= nring)); then
	hc_pass broken-queues-counted "totals: errors $errors after $nring ring violations"
else
	hc_fail broken-queues-counted "totals: errors ${errors:-missing}, want 1..$nring: $(grep '^total ' blk.log)"
fi
if hc_san blk.log healthy.log case-*.out; then
	hc_pass no-sanitizer-report "${SAN:-0}"
else
	hc_fail no-sanitizer-report "see above"
fi
hc_end
