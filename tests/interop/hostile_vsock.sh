#!/bin/bash
# hostile_vsock.sh - a rule-breaking guest against virtq-vsock.
#
# virtq-vsock serves on vu.sock with a host echo peer on port 7 and, for the
# credit case, a host peer on port 8 that accepts and never reads.  One
# connection per case, `virtq-vsock hostile` (a raw vhost-user frontend)
# commits one violation: more data than the credit given, a foreign source
# cid, an unknown op, a payload longer than the chain, a chain shorter than
# a header, a connection to a port nobody listens on, a flood of packets for
# unknown connections with no rx buffers to answer on.  Per case:
#   - the attacker saw the expected reaction (RST; nothing for the short
#     chain; for the flood, at most 64 chains taken until rx buffers came);
#   - the daemon logged one line naming the fault (not for nolisten and
#     flood, which are not faults);
#   - the daemon still runs and the next (healthy) driver echoes 1 MiB,
#     verified.
# At the end the daemon exits 0 on SIGINT and its totals count the credit
# violation and the bad headers.
# Prints PASS/FAIL lines and "N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/hostile_common.bash"
hc_init hostile_vsock
hc_need virtq-vsock
command -v gcc >/dev/null || { echo "SKIP hostile_vsock: no gcc for the host peer"; exit 77; }
gcc -O2 -o peer "$ROOT/tests/interop/guest/vsock_peer.c" || { hc_fail setup "gcc vsock_peer.c"; hc_end; }

UDS=$PWD/v
vq_spawn vs.log 600 "$BIN/virtq-vsock" --socket-path vu.sock --guest-cid 11 --uds-path "$UDS" \
	--buf-alloc 256k
VPID=$VQ_PID
hc_wait_sock vu.sock 10 || { hc_fail setup "virtq-vsock did not create vu.sock"; hc_end; }

healthy() {
	rm -f "${UDS}_7"
	vq_spawn echo.log 60 ./peer uds-echo "${UDS}_7" stream
	local p=$VQ_PID
	hc_wait_sock "${UDS}_7" 10
	timeout -k 5 30 "$BIN/virtq-vsock" client -s vu.sock --port 7 --bytes 1m --verify \
		>healthy.log 2>&1 && grep -q verified healthy.log
	local rc=$?
	vq_kill "$p" TERM 5 >/dev/null 2>&1
	return $rc
}
healthy || { hc_fail setup "a healthy driver fails before any attack: $(cat healthy.log)"; hc_end; }

attack() { # CASE PORT LOGTEXT
	local c=$1 port=$2 text=$3 off out=case-$1.out why='' p=''
	off=$(hc_size vs.log)
	if [[ $c == credit ]]; then
		rm -f "${UDS}_8"
		vq_spawn sleeper.log 60 ./peer uds-hold "${UDS}_8" 30 # accepts, never reads
		p=$VQ_PID
		hc_wait_sock "${UDS}_8" 10
	fi
	timeout -k 5 30 "$BIN/virtq-vsock" hostile vu.sock "$c" "$port" >"$out" 2>&1 ||
		why="virtq-vsock hostile exited $?: $(tail -n 2 "$out" | tr '\n' ' ')"
	[[ -n $p ]] && vq_kill "$p" TERM 5 >/dev/null 2>&1
	if [[ -z $why && -n $text ]] && ! hc_wait_grep vs.log "$text" 3 "$off"; then
		why="no daemon log line containing \"$text\""
	elif [[ -z $why ]] && ! vq_alive "$VPID"; then
		why="virtq-vsock died"
	elif [[ -z $why ]] && ! healthy; then
		why="the next (healthy) driver failed: $(tail -n 2 healthy.log | tr '\n' ' ')"
	fi
	if [[ -n $why ]]; then hc_fail "$c" "$why"; else hc_pass "$c" "$(grep -a HOSTILE-OK "$out")"; fi
}

attack credit 8 "beyond the credit"
attack badcid 7 "source cid is not the guest's"
attack badop 7 "unknown op"
attack badlen 7 "payload length beyond the chain"
attack short 7 "shorter than a packet header"
attack nolisten 4999 ""
attack flood 4998 ""

vq_kill "$VPID" INT 10
rc=$?
((rc == 0)) || hc_fail exit "virtq-vsock exited $rc on SIGINT"
grep -q 'credit violations 1$' vs.log || hc_fail totals "$(grep '^virtq-vsock: tx' vs.log)"
hc_san vs.log || hc_fail sanitizer "a sanitizer report in the daemon's log"
hc_end
